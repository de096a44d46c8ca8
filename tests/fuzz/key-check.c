/* key-check FILE...: for each file whose bytes key_parse accepts (whole file,
 * as the fuzzer sees it), print "<fingerprint> <path>", or with -l
 * "<fingerprint> <bits> <path>"; -v also reports refusals on stderr.
 * Exit 0 when every file could be read, 1 otherwise, 2 on usage errors. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "key.h"
#include "log.h"

/* The same loose policy as the fuzz target: every family, any RSA size
 * OpenSSH itself takes. */
static const struct key_policy check_policy = {
	.allowed_families = KEY_FAMILIES_DEFAULT,
	.min_rsa_bits = 0,
};

/* The whole file, up to one byte over the line limit (enough to refuse). */
static int read_file(const char *path, char *buf, size_t size, size_t *len)
{
	FILE *f = fopen(path, "rb");
	int r = 0;

	if (!f)
		return -errno;
	*len = fread(buf, 1, size, f);
	if (ferror(f))
		r = -EIO;
	fclose(f);
	return r;
}

int main(int argc, char **argv)
{
	static char buf[KEY_LINE_MAX + 1];
	bool show_bits = false, verbose = false;
	int opt, status = 0;

	while ((opt = getopt(argc, argv, "lv")) != -1) {
		switch (opt) {
		case 'l':
			show_bits = true;
			break;
		case 'v':
			verbose = true;
			break;
		default:
			fprintf(stderr, "usage: key-check [-l] [-v] FILE...\n");
			return 2;
		}
	}
	for (int i = optind; i < argc; i++) {
		struct sshlease_key *key = NULL;
		const char *why = NULL;
		char safe_path[PATH_MAX];
		size_t len = 0;
		int r;

		log_safe(safe_path, sizeof(safe_path), argv[i]);
		r = read_file(argv[i], buf, sizeof(buf), &len);
		if (r < 0) {
			fprintf(stderr, "key-check: %.200s: %s\n", safe_path,
				strerror(-r));
			status = 1;
			continue;
		}
		r = key_parse(buf, len, &check_policy, &key, &why);
		if (r == 0 && show_bits)
			printf("%s %u %s\n", key->fingerprint, key->bits,
			       safe_path);
		else if (r == 0)
			printf("%s %s\n", key->fingerprint, safe_path);
		else if (r == SL_REFUSED && verbose)
			fprintf(stderr, "refused: %s: %.200s\n", why, safe_path);
		else if (r < 0) {
			fprintf(stderr, "key-check: %.200s: %s\n", safe_path,
				strerror(-r));
			status = 1;
		}
		key_free(key);
	}
	if (fflush(stdout) != 0)
		status = 1;
	return status;
}

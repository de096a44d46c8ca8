/* A signer's key files: token_keygen makes the pair, token_signer_load reads the secret (token.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "fsutil.h"
#include "token.h"
#include "validate.h"

#define SIGNER_HEADER "sshlease-signer-secret-key-v1"
#define SIGNER_FILE_MAX 1024
#define SECRET_B64_LEN 88 /* standard base64 with padding of 64 bytes */
#define PUBLIC_B64_LEN 44 /* of 32 bytes */

/* Reasons: the user reads them, the tests pin them. */
static const char why_signer_name[] =
	"a signer name is 1 to 64 of A-Z a-z 0-9 . _ @ -";
static const char why_key_exists[] =
	"the signer key file already exists; refusing to overwrite it";
static const char why_pub_exists[] =
	"the signer's .pub file already exists; refusing to overwrite it";
static const char why_file_symlink[] = "signer key file is a symlink";
static const char why_file_type[] = "signer key file is not a regular file";
static const char why_file_owner[] =
	"signer key file belongs to another user; it must be yours (or root's)";
static const char why_file_mode[] =
	"signer key file is readable or writable by group or others; chmod 600 it";
static const char why_file_size[] =
	"signer key file is larger than 1 KiB; this is not a signer key";
static const char why_file_format[] =
	"signer key file is not in the sshlease-signer-secret-key-v1 format";
static const char why_file_mismatch[] =
	"signer key file is damaged: its public half does not match its seed";

bool token_signer_name_valid(const char *name)
{
	return name && signer_name_valid(name, strnlen(name, TOKEN_SIGNER_NAME_MAX + 1));
}

void token_signer_public_line(const struct token_signer *signer, char *buf,
			      size_t size)
{
	char b64[PUBLIC_B64_LEN + 1];

	sodium_bin2base64(b64, sizeof(b64), signer->public_key,
			  sizeof(signer->public_key), sodium_base64_VARIANT_ORIGINAL);
	if (size > 0)
		snprintf(buf, size, "%s %s", signer->name, b64);
}

int token_keygen(const char *path, const char *name, const char **why)
{
	struct token_signer signer;
	char pub_name[NAME_MAX + 1], secret_b64[SECRET_B64_LEN + 1];
	char secret_text[sizeof(SIGNER_HEADER) + TOKEN_SIGNER_NAME_MAX + SECRET_B64_LEN + 4];
	char pub_text[TOKEN_SIGNER_PUBLIC_LINE_SIZE + 1];
	struct fsutil_new_file files[2] = {
		/* Exactly 0600 whatever the umask: the file holds the secret. */
		{ .how = { .data = secret_text, .mode = 0600, .flags = FSUTIL_CHMOD } },
		{ .name = pub_name, .how = { .data = pub_text, .mode = 0644 } },
	};
	size_t failed = 0;
	int dir_fd = -1, r;

	if (!token_signer_name_valid(name)) {
		*why = why_signer_name;
		return SL_REFUSED;
	}
	if (sodium_init() < 0)
		return -EIO;
	r = fsutil_open_parent(path, &dir_fd, &files[0].name);
	if (r < 0)
		return r;
	if ((size_t)snprintf(pub_name, sizeof(pub_name), "%s.pub", files[0].name) >=
	    sizeof(pub_name)) {
		close(dir_fd);
		return -ENAMETOOLONG;
	}

	snprintf(signer.name, sizeof(signer.name), "%s", name);
	crypto_sign_keypair(signer.public_key, signer.secret_key);
	sodium_bin2base64(secret_b64, sizeof(secret_b64), signer.secret_key,
			  sizeof(signer.secret_key), sodium_base64_VARIANT_ORIGINAL);
	snprintf(secret_text, sizeof(secret_text), "%s\n%s\n%s\n", SIGNER_HEADER,
		 name, secret_b64);
	token_signer_public_line(&signer, pub_text, sizeof(pub_text) - 1);
	strcat(pub_text, "\n");
	files[0].how.len = strlen(secret_text);
	files[1].how.len = strlen(pub_text);

	r = fsutil_create_all(dir_fd, files, SL_ARRAY_SIZE(files), &failed);
	if (r == SL_EXISTS)
		*why = failed == 0 ? why_key_exists : why_pub_exists;
	close(dir_fd);
	sodium_memzero(&signer, sizeof(signer));
	sodium_memzero(secret_b64, sizeof(secret_b64));
	sodium_memzero(secret_text, sizeof(secret_text));
	return r;
}

void token_signer_free(struct token_signer *signer)
{
	if (!signer)
		return;
	sodium_memzero(signer, sizeof(*signer));
	free(signer);
}

/* Parse the three lines of a secret key file into signer. */
static bool signer_parse(const char *data, size_t len, struct token_signer *signer)
{
	unsigned char secret_key[crypto_sign_SECRETKEYBYTES];
	const char *line = data, *end = data + len, *nl, *b64_end = NULL;
	size_t n, secret_len = 0;
	bool ok = false;

	/* Line 1: the header. */
	n = sizeof(SIGNER_HEADER) - 1;
	if (len < n + 1 || memcmp(line, SIGNER_HEADER, n) != 0 || line[n] != '\n')
		return false;
	line += n + 1;
	/* Line 2: the name. */
	nl = memchr(line, '\n', (size_t)(end - line));
	if (!nl || !signer_name_valid(line, (size_t)(nl - line)))
		return false;
	memcpy(signer->name, line, (size_t)(nl - line));
	signer->name[nl - line] = '\0';
	line = nl + 1;
	/* Line 3: the secret key, and nothing after it. */
	nl = memchr(line, '\n', (size_t)(end - line));
	if (!nl || nl + 1 != end || nl - line != SECRET_B64_LEN)
		return false;
	if (sodium_base642bin(secret_key, sizeof(secret_key), line, SECRET_B64_LEN,
			      NULL, &secret_len, &b64_end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    b64_end != nl || secret_len != sizeof(secret_key))
		goto out;
	memcpy(signer->secret_key, secret_key, sizeof(secret_key));
	ok = true;
out:
	sodium_memzero(secret_key, sizeof(secret_key));
	return ok;
}

int token_signer_load(const char *path, struct token_signer **out, const char **why)
{
	struct token_signer *signer = NULL;
	unsigned char derived_secret[crypto_sign_SECRETKEYBYTES];
	enum fsutil_distrust broken;
	char *data = NULL;
	size_t len = 0;
	int fd, r;

	*out = NULL;
	if (sodium_init() < 0)
		return -EIO;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return SL_NOT_FOUND;
		if (errno == ELOOP) {
			*why = why_file_symlink;
			return SL_REFUSED;
		}
		return -errno;
	}
	/* Rule: a regular file, yours or root's, private: it holds the secret. */
	r = fsutil_trust_fd(fd, geteuid(), FSUTIL_TRUST_REGULAR | FSUTIL_TRUST_OR_ROOT |
			    FSUTIL_TRUST_PRIVATE, NULL, &broken);
	if (r == SL_REFUSED)
		*why = broken == FSUTIL_DISTRUST_TYPE ? why_file_type :
		       broken == FSUTIL_DISTRUST_OWNER ? why_file_owner : why_file_mode;
	if (r != 0)
		goto out;
	r = fsutil_read_fd(fd, SIGNER_FILE_MAX, &data, &len);
	if (r == -EFBIG) {
		*why = why_file_size;
		r = SL_REFUSED;
	}
	if (r != 0)
		goto out;
	r = SL_REFUSED;
	signer = calloc(1, sizeof(*signer));
	if (!signer) {
		r = -ENOMEM;
		goto out;
	}
	if (!signer_parse(data, len, signer)) {
		*why = why_file_format;
		goto out;
	}
	crypto_sign_seed_keypair(signer->public_key, derived_secret, signer->secret_key);
	sodium_memzero(derived_secret, sizeof(derived_secret));
	if (sodium_memcmp(signer->public_key, signer->secret_key + crypto_sign_SEEDBYTES,
			  sizeof(signer->public_key)) != 0) {
		*why = why_file_mismatch;
		goto out;
	}
	*out = signer;
	signer = NULL;
	r = 0;
out:
	if (data) {
		sodium_memzero(data, len);
		free(data);
	}
	token_signer_free(signer);
	close(fd);
	return r;
}

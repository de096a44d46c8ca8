/* The KEY argument of grant: the text itself, @FILE, or "-" for stdin. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fsutil.h"

/* Strip exactly one trailing "\n" or "\r\n"; anything else is the key's. */
static void strip_one_newline(char *text, size_t *len)
{
	if (*len > 0 && text[*len - 1] == '\n')
		text[--*len] = '\0';
	else
		return;
	if (*len > 0 && text[*len - 1] == '\r')
		text[--*len] = '\0';
}

static int read_key_source(const struct cli *cli, const char *arg,
			   char **out, size_t *len)
{
	char name[CLI_TEXT_CAP + 1];
	int fd = STDIN_FILENO, r;

	cli_safe(name, sizeof(name), arg[0] == '@' ? arg + 1 : "standard input",
		 "");
	if (arg[0] == '@') {
		fd = open(arg + 1, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			cli_error(cli, "cannot read %s: %s", name, strerror(errno));
			return SL_EXIT_FAILURE;
		}
	}
	r = fsutil_read_fd(fd, CLI_KEY_INPUT_MAX, out, len);
	if (fd != STDIN_FILENO)
		close(fd);
	if (r == -EFBIG)
		return cli_refused(cli, "%s holds more than %d bytes; a public "
				   "key is one line of at most 8192",
				   name, CLI_KEY_INPUT_MAX);
	if (r < 0) {
		cli_error(cli, "cannot read %s: %s", name, strerror(-r));
		return SL_EXIT_FAILURE;
	}
	strip_one_newline(*out, len);
	return 0;
}

/* The key travels as a JSON string: no NUL inside, and UTF-8. */
static int check_key_text(const struct cli *cli, const char *text, size_t len)
{
	json_t *probe;

	if (memchr(text, '\0', len))
		return cli_refused(cli, "the key contains a NUL byte");
	probe = json_stringn(text, len);
	if (!probe)
		return cli_refused(cli, "the key is not text (not valid UTF-8)");
	json_decref(probe);
	return 0;
}

int cli_key_input(const struct cli *cli, const char *arg, char **out,
		  size_t *len)
{
	char *text = NULL;
	int r;

	if (strcmp(arg, "@") == 0)
		return cli_usage_error(cli, "'@' needs a file name: @FILE");
	if (arg[0] == '@' || strcmp(arg, "-") == 0) {
		r = read_key_source(cli, arg, &text, len);
		if (r != 0)
			return r;
	} else {
		text = strdup(arg);
		*len = strlen(arg);
		if (!text) {
			cli_error(cli, "out of memory");
			return SL_EXIT_FAILURE;
		}
	}
	r = check_key_text(cli, text, *len);
	if (r != 0) {
		free(text);
		return r;
	}
	*out = text;
	return 0;
}

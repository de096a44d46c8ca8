/* Asking the person at the terminal before anything changes. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"

int cli_tty_open(void)
{
	return open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
}

/* One line from fd into buf (the rest of a long line is read and dropped).
 * False at end of file or on an error before any newline. */
static bool read_answer(int fd, char *buf, size_t size)
{
	size_t used = 0;
	ssize_t n;
	char c;

	for (;;) {
		n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		if (c == '\n')
			break;
		if (used + 1 < size)
			buf[used++] = c;
	}
	buf[used] = '\0';
	return true;
}

static const char *trim(char *text)
{
	char *end;

	while (isspace((unsigned char)*text))
		text++;
	end = text + strlen(text);
	while (end > text && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return text;
}

bool cli_confirm(int tty_fd, const char *question)
{
	char answer[64];
	const char *word;

	fprintf(stderr, "%s [y/N] ", question);
	fflush(stderr);
	if (!read_answer(tty_fd, answer, sizeof(answer))) {
		fputc('\n', stderr);
		return false;
	}
	word = trim(answer);
	return strcasecmp(word, "y") == 0 || strcasecmp(word, "yes") == 0;
}

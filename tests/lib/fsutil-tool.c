/*
 * fsutil-tool: one fsutil_replace from the command line, so that
 * tests/integration/test-fsutil-faults.sh can run it under strace.
 *
 *   fsutil-tool [--noreplace] [--chunks N] DIR NAME TEXT
 *
 * Replaces DIR/NAME with TEXT (FSUTIL_NOREPLACE with --noreplace), written
 * in N separate writes through the fill callback (default 1, data as one
 * buffer). On failure stderr says "failed at STEP: REASON", STEP one of
 * temp write owner fsync close check rename dirsync.
 * Exit codes: 0 done, 1 failure, 2 usage, 3 exists (--noreplace).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"

#define TOOL "fsutil-tool"

static const char *const step_names[] = {
	[FSUTIL_STEP_NONE] = "none",
	[FSUTIL_STEP_TEMP] = "temp",
	[FSUTIL_STEP_WRITE] = "write",
	[FSUTIL_STEP_OWNER] = "owner",
	[FSUTIL_STEP_FSYNC] = "fsync",
	[FSUTIL_STEP_CLOSE] = "close",
	[FSUTIL_STEP_CHECK] = "check",
	[FSUTIL_STEP_RENAME] = "rename",
	[FSUTIL_STEP_DIRSYNC] = "dirsync",
};

struct chunks {
	const char *text;
	size_t len;
	unsigned n;
};

/* The content in n writes of about equal size. */
static int fill_chunks(int fd, void *arg)
{
	const struct chunks *c = arg;
	size_t done = 0;

	for (unsigned i = 1; i <= c->n; i++) {
		size_t end = c->len * i / c->n;
		int r = fsutil_write_all(fd, c->text + done, end - done);

		if (r < 0)
			return r;
		done = end;
	}
	return 0;
}

static int usage(void)
{
	fputs("usage: " TOOL " [--noreplace] [--chunks N] DIR NAME TEXT\n", stderr);
	return 2;
}

int main(int argc, char **argv)
{
	struct fsutil_replace how = { .mode = 0600 };
	enum fsutil_step step = FSUTIL_STEP_NONE;
	struct chunks chunks = { .n = 1 };
	int i = 1, dir_fd, r;

	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--noreplace") == 0) {
			how.flags |= FSUTIL_NOREPLACE;
		} else if (strcmp(argv[i], "--chunks") == 0 && i + 1 < argc) {
			chunks.n = (unsigned)strtoul(argv[++i], NULL, 10);
			if (chunks.n < 1 || chunks.n > 64)
				return usage();
		} else {
			return usage();
		}
	}
	if (argc - i != 3)
		return usage();
	dir_fd = open(argv[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0) {
		fprintf(stderr, TOOL ": cannot open %s: %s\n", argv[i], strerror(errno));
		return 1;
	}
	chunks.text = argv[i + 2];
	chunks.len = strlen(argv[i + 2]);
	if (chunks.n > 1) {
		how.fill = fill_chunks;
		how.fill_arg = &chunks;
	} else {
		how.data = chunks.text;
		how.len = chunks.len;
	}
	r = fsutil_replace(dir_fd, argv[i + 1], &how, &step);
	close(dir_fd);
	if (r == 0)
		return 0;
	fprintf(stderr, TOOL ": failed at %s: %s\n", step_names[step],
		r == SL_EXISTS ? "exists" : r > 0 ? "refused" : strerror(-r));
	return r == SL_EXISTS ? 3 : 1;
}

/*
 * The log follower on a temporary file: it starts at the end, gives
 * complete lines only and in order, wakes its fd on every append (and stays
 * quiet when idle), skips lines that are too long, follows rotation
 * (rename + new file) and truncation, waits for a file that is not there
 * yet, and refuses files that others may write.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log-follow.h"
#include "test.h"

static char dir[256];
static char path[300];

static void append(const char *file, const char *text)
{
	int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

/* The fd polls readable within a second. */
static bool woken(struct log_follow *f)
{
	struct pollfd p = { .fd = log_follow_fd(f), .events = POLLIN };

	return poll(&p, 1, 1000) == 1 && (p.revents & POLLIN);
}

/* Nothing to read and the fd quiet. */
static bool idle(struct log_follow *f)
{
	struct pollfd p = { .fd = log_follow_fd(f), .events = POLLIN };
	struct log_line line;
	const char *why = NULL;

	return log_follow_next(f, &line, &why) == -EAGAIN && poll(&p, 1, 0) == 0;
}

/* The next line is text. */
#define CHECK_LINE(f, expected)                                                \
	do {                                                                   \
		struct log_line line_ = { 0 };                                 \
		const char *why_ = NULL;                                       \
		int r_ = log_follow_next((f), &line_, &why_);                  \
		CHECK_MSG(r_ == 0, "next = %d (%s), expected line \"%s\"", r_, \
			  why_ ? why_ : "", (expected));                       \
		if (r_ == 0) {                                                 \
			CHECK_STR(line_.text, (expected));                     \
			CHECK_INT(line_.len, strlen(expected));                \
			CHECK_INT(line_.pid, 0);                               \
		}                                                              \
	} while (0)

#define CHECK_NEXT(f, expected_r)                                              \
	do {                                                                   \
		struct log_line line_ = { 0 };                                 \
		const char *why_ = NULL;                                       \
		int r_ = log_follow_next((f), &line_, &why_);                  \
		CHECK_MSG(r_ == (expected_r), "next = %d (%s), expected %d",   \
			  r_, why_ ? why_ : "", (expected_r));                 \
		if (r_ > 0)                                                    \
			CHECK(why_ && *why_);                                  \
	} while (0)

static struct log_follow *follow(size_t line_max)
{
	struct log_follow *f = NULL;
	const char *why = NULL;
	int r = log_follow_open(path, line_max, &f, &why);

	CHECK_MSG(r == 0, "open = %d (%s)", r, why ? why : "");
	return f;
}

static void reset(void)
{
	unlink(path);
	append(path, "");
}

static void test_starts_at_end(void)
{
	struct log_follow *f;

	reset();
	append(path, "old line\npartial");
	f = follow(64);
	if (!f)
		return;
	CHECK(idle(f));
	append(path, " rest of it\nnew 1\n");
	CHECK(woken(f));
	CHECK_LINE(f, "new 1");
	CHECK(idle(f));
	log_follow_free(f);
}

static void test_partial_lines(void)
{
	struct log_follow *f;

	reset();
	f = follow(64);
	if (!f)
		return;
	append(path, "Accepted pub");
	CHECK(woken(f));
	CHECK_NEXT(f, -EAGAIN);
	append(path, "lickey\r\n\nnext");
	CHECK(woken(f));
	CHECK_LINE(f, "Accepted publickey\r");
	CHECK_LINE(f, "");
	CHECK(idle(f));
	append(path, "\n");
	CHECK(woken(f));
	CHECK_LINE(f, "next");
	CHECK(idle(f));
	log_follow_free(f);
}

static void test_order(void)
{
	struct log_follow *f;
	char *text = malloc(1000 * 16);
	size_t len = 0;

	reset();
	f = follow(64);
	if (!f || !text)
		goto out;
	for (int i = 0; i < 1000; i++)
		len += (size_t)sprintf(text + len, "line %d\n", i);
	append(path, text);
	CHECK(woken(f));
	for (int i = 0; i < 1000; i++) {
		char expected[32];

		snprintf(expected, sizeof(expected), "line %d", i);
		CHECK_LINE(f, expected);
	}
	CHECK(idle(f));
out:
	free(text);
	log_follow_free(f);
}

static void test_long_lines(void)
{
	struct log_follow *f;

	reset();
	f = follow(16);
	if (!f)
		return;
	append(path, "0123456789abcdef\n"); /* exactly line_max */
	CHECK_LINE(f, "0123456789abcdef");
	append(path, "0123456789abcdefg\nok\n");
	CHECK_NEXT(f, SL_REFUSED);
	CHECK_LINE(f, "ok");
	/* Too long, written in pieces: refused once, when it ends. */
	append(path, "0123456789");
	CHECK_NEXT(f, -EAGAIN);
	append(path, "0123456789");
	CHECK_NEXT(f, -EAGAIN);
	append(path, "0123456789");
	CHECK_NEXT(f, -EAGAIN);
	append(path, "xyz\nafter\n");
	CHECK_NEXT(f, SL_REFUSED);
	CHECK_LINE(f, "after");
	CHECK(idle(f));
	log_follow_free(f);
}

static void test_rotation(void)
{
	char old[320], older[320], fresh[320];
	struct log_follow *f;

	snprintf(old, sizeof(old), "%s.1", path);
	snprintf(older, sizeof(older), "%s.2", path);
	snprintf(fresh, sizeof(fresh), "%s.tmp", path);
	reset();
	f = follow(64);
	if (!f)
		return;
	append(path, "a1\n");
	CHECK(woken(f));
	/* Rotated before the follower read: the old file's rest comes first,
	 * also what was written to it after the rename, then the new file. */
	CHECK(rename(path, old) == 0);
	append(old, "a2\nunfinished");
	append(path, "b1\n");
	CHECK(woken(f));
	CHECK_LINE(f, "a1");
	CHECK_LINE(f, "a2");
	CHECK_LINE(f, "b1");
	CHECK(idle(f));
	/* Given up: the old file's later lines are not seen. */
	append(old, " done\na3\n");
	append(path, "b2\n");
	CHECK(woken(f));
	CHECK_LINE(f, "b2");
	CHECK(idle(f));
	/* Moved away and nothing there yet: the file created later counts. */
	CHECK(rename(path, older) == 0);
	CHECK(woken(f));
	CHECK(idle(f));
	append(path, "c1\n");
	CHECK(woken(f));
	CHECK_LINE(f, "c1");
	/* A new file moved into place (rsyslog, logrotate create). */
	append(fresh, "d1\n");
	CHECK(rename(fresh, path) == 0);
	CHECK(woken(f));
	CHECK_LINE(f, "d1");
	CHECK(idle(f));
	unlink(old);
	unlink(older);
	log_follow_free(f);
}

static void test_truncation(void)
{
	struct log_follow *f;

	reset();
	f = follow(64);
	if (!f)
		return;
	append(path, "before truncation, a long line\n");
	CHECK(woken(f));
	CHECK_LINE(f, "before truncation, a long line");
	/* copytruncate: the file shrinks and is written again. */
	CHECK(truncate(path, 0) == 0);
	append(path, "t1\n");
	CHECK(woken(f));
	CHECK_LINE(f, "t1");
	CHECK(idle(f));
	CHECK(truncate(path, 0) == 0);
	CHECK(woken(f));
	CHECK(idle(f));
	append(path, "t2\n");
	CHECK(woken(f));
	CHECK_LINE(f, "t2");
	CHECK(idle(f));
	log_follow_free(f);
}

static void test_missing_file(void)
{
	struct log_follow *f;

	unlink(path);
	f = follow(64);
	if (!f)
		return;
	CHECK(idle(f));
	append(path, "first\nsecond\n");
	CHECK(woken(f));
	CHECK_LINE(f, "first");
	CHECK_LINE(f, "second");
	CHECK(idle(f));
	log_follow_free(f);
}

static void test_untrusted(void)
{
	struct log_follow *f = NULL;
	const char *why = NULL;
	char other[320];

	reset();
	CHECK(chmod(path, 0620) == 0);
	CHECK_INT(log_follow_open(path, 64, &f, &why), SL_REFUSED);
	CHECK(why && strstr(why, "only its owner"));
	CHECK(chmod(path, 0602) == 0);
	CHECK_INT(log_follow_open(path, 64, &f, &why), SL_REFUSED);
	CHECK(chmod(path, 0644) == 0);
	f = follow(64);
	if (!f)
		return;
	/* A replacement others may write is refused once, and not read. */
	snprintf(other, sizeof(other), "%s.new", path);
	append(other, "forged\n");
	CHECK(chmod(other, 0666) == 0);
	CHECK(rename(other, path) == 0);
	CHECK(woken(f));
	CHECK_NEXT(f, SL_REFUSED);
	CHECK(idle(f));
	append(path, "forged 2\n");
	CHECK(idle(f));
	/* A trusted one after it is followed. */
	append(other, "real\n");
	CHECK(rename(other, path) == 0);
	CHECK(woken(f));
	CHECK_LINE(f, "real");
	CHECK(idle(f));
	log_follow_free(f);

	/* A FIFO is refused, and opening it does not block. */
	unlink(path);
	CHECK(mkfifo(path, 0600) == 0);
	f = NULL;
	CHECK_INT(log_follow_open(path, 64, &f, &why), SL_REFUSED);
	unlink(path);
}

static void test_arguments(void)
{
	struct log_follow *f = NULL;
	const char *why = NULL;
	char missing[320];

	CHECK_INT(log_follow_open("relative.log", 64, &f, &why), SL_REFUSED);
	CHECK_INT(log_follow_open(path, 0, &f, &why), SL_REFUSED);
	CHECK_INT(log_follow_open(path, LOG_FOLLOW_LINE_MAX_LIMIT + 1, &f, &why), SL_REFUSED);
	snprintf(missing, sizeof(missing), "%s/no-such-dir/log", dir);
	CHECK_INT(log_follow_open(missing, 64, &f, &why), -ENOENT);
	CHECK(f == NULL);
	log_follow_free(NULL);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	umask(022);
	snprintf(dir, sizeof(dir), "%s/test-log-follow.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/sshd.log", dir);
	TEST(test_starts_at_end());
	TEST(test_partial_lines());
	TEST(test_order());
	TEST(test_long_lines());
	TEST(test_rotation());
	TEST(test_truncation());
	TEST(test_missing_file());
	TEST(test_untrusted());
	TEST(test_arguments());
	unlink(path);
	rmdir(dir);
	return test_done();
}

/* fsutil: atomic replace (steps, check callback, create-only-if-absent,
 * short writes), bounded reads, trust rules and stale-temp cleanup. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "test.h"

#define TARGET "target"
#define NEW_TEXT "new content\n"
#define OLD_TEXT "old content, not ours to lose\n"
/* A temp name as fsutil makes them for TARGET. */
#define TEMP_OF_TARGET ".target.sshlease-0123456789abcdef"

static char root[] = "/tmp/sshlease-test-fsutil-XXXXXX";
static int root_fd = -1;

/* A fresh empty directory under root; its fd. */
static int fresh_dir(const char *name)
{
	int fd;

	CHECK_INT(mkdirat(root_fd, name, 0700), 0);
	fd = openat(root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(fd >= 0);
	return fd;
}

static void put(int dir_fd, const char *name, const char *text, mode_t mode)
{
	int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_INT(write(fd, text, strlen(text)), (long long)strlen(text));
	close(fd);
}

/* The content of name, or NULL; free() it. */
static char *slurp(int dir_fd, const char *name)
{
	char *text = NULL;
	size_t len;

	if (fsutil_read_at(dir_fd, name, 1 << 20, &text, &len) != 0)
		return NULL;
	return text;
}

/* The names in a directory, sorted, joined by spaces ("" when empty). */
static char *entries(int dir_fd)
{
	static char list[1024];
	struct dirent **names = NULL;
	char path[64];
	int n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", dir_fd);
	list[0] = '\0';
	n = scandir(path, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") != 0 && strcmp(names[i]->d_name, "..") != 0) {
			if (list[0])
				strcat(list, " ");
			strncat(list, names[i]->d_name, sizeof(list) - strlen(list) - 2);
		}
		free(names[i]);
	}
	free(names);
	return list;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* ---- atomic replace ---- */

#define NO_CHECK 1 /* check_result: no check callback */
#define NO_FILL 1  /* fill_result: the content is data, not a callback */

struct replace_case {
	const char *name;
	const char *before;  /* TARGET's content; NULL absent, "@link" a
				dangling symlink, "@dir" a non-empty directory */
	const char *target;  /* the name replaced (TARGET unless testing names) */
	unsigned flags;
	int check_result;    /* what the check callback says, or NO_CHECK */
	int fill_result;     /* the fill callback writes NEW_TEXT then says this */
	int expect;
	enum fsutil_step step;
	const char *after;   /* TARGET's content after; "@link"/"@dir" kept */
	const char *listing; /* the directory after: no temp file in any case */
};

static const struct replace_case replace_cases[] = {
	{ "replace an existing file", OLD_TEXT, TARGET, 0, NO_CHECK, NO_FILL,
	  0, FSUTIL_STEP_NONE, NEW_TEXT, TARGET },
	{ "create a missing file", NULL, TARGET, 0, NO_CHECK, NO_FILL,
	  0, FSUTIL_STEP_NONE, NEW_TEXT, TARGET },
	{ "create only if absent: absent", NULL, TARGET, FSUTIL_NOREPLACE, NO_CHECK, NO_FILL,
	  0, FSUTIL_STEP_NONE, NEW_TEXT, TARGET },
	{ "create only if absent: a file exists", OLD_TEXT, TARGET, FSUTIL_NOREPLACE, NO_CHECK,
	  NO_FILL, SL_EXISTS, FSUTIL_STEP_RENAME, OLD_TEXT, TARGET },
	{ "create only if absent: a dangling symlink", "@link", TARGET, FSUTIL_NOREPLACE,
	  NO_CHECK, NO_FILL, SL_EXISTS, FSUTIL_STEP_RENAME, "@link", TARGET },
	{ "check passes", OLD_TEXT, TARGET, 0, 0, NO_FILL,
	  0, FSUTIL_STEP_NONE, NEW_TEXT, TARGET },
	{ "check refuses (compare-and-swap lost)", OLD_TEXT, TARGET, 0, SL_CHANGED, NO_FILL,
	  SL_CHANGED, FSUTIL_STEP_CHECK, OLD_TEXT, TARGET },
	{ "check refuses a missing file", NULL, TARGET, FSUTIL_NOREPLACE, SL_CHANGED, NO_FILL,
	  SL_CHANGED, FSUTIL_STEP_CHECK, NULL, "" },
	{ "check fails", OLD_TEXT, TARGET, 0, -EIO, NO_FILL,
	  -EIO, FSUTIL_STEP_CHECK, OLD_TEXT, TARGET },
	{ "fill writes the content", OLD_TEXT, TARGET, 0, NO_CHECK, 0,
	  0, FSUTIL_STEP_NONE, NEW_TEXT, TARGET },
	{ "fill fails", OLD_TEXT, TARGET, 0, NO_CHECK, -ENOSPC,
	  -ENOSPC, FSUTIL_STEP_WRITE, OLD_TEXT, TARGET },
	{ "rename onto a directory", "@dir", TARGET, 0, NO_CHECK, NO_FILL,
	  -EISDIR, FSUTIL_STEP_RENAME, "@dir", TARGET },
	{ "a name with a slash", OLD_TEXT, "sub/" TARGET, 0, NO_CHECK, NO_FILL,
	  -EINVAL, FSUTIL_STEP_TEMP, OLD_TEXT, TARGET },
	{ "an empty name", OLD_TEXT, "", 0, NO_CHECK, NO_FILL,
	  -EINVAL, FSUTIL_STEP_TEMP, OLD_TEXT, TARGET },
};

struct check_seen {
	const struct replace_case *c;
	bool ran;
	char listing[1024];
	char *target; /* TARGET's content when the check ran */
};

/* The check callback: notes what the directory holds just before the
 * rename, and answers as the case says. */
static int case_check(int dir_fd, void *arg)
{
	struct check_seen *seen = arg;

	seen->ran = true;
	snprintf(seen->listing, sizeof(seen->listing), "%s", entries(dir_fd));
	seen->target = slurp(dir_fd, TARGET);
	return seen->c->check_result;
}

static int case_fill(int fd, void *arg)
{
	const struct replace_case *c = arg;
	int r = fsutil_write_all(fd, "new ", 4);

	if (r == 0)
		r = fsutil_write_all(fd, "content\n", 8);
	return r == 0 ? c->fill_result : r;
}

static void check_after(int dir_fd, const char *expected)
{
	struct stat st;
	char *text;

	if (!expected) {
		CHECK(fstatat(dir_fd, TARGET, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
	} else if (strcmp(expected, "@link") == 0) {
		CHECK(fstatat(dir_fd, TARGET, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode));
	} else if (strcmp(expected, "@dir") == 0) {
		CHECK(fstatat(dir_fd, TARGET, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode));
	} else {
		text = slurp(dir_fd, TARGET);
		CHECK_STR(text, expected);
		free(text);
	}
}

static void replace_case_run(const struct replace_case *c, int n)
{
	struct check_seen seen = { .c = c };
	struct fsutil_replace how = {
		.data = NEW_TEXT,
		.len = strlen(NEW_TEXT),
		.mode = 0600,
		.flags = c->flags,
	};
	enum fsutil_step step = (enum fsutil_step)-1;
	char dir[32];
	int dir_fd, r;

	snprintf(dir, sizeof(dir), "replace-%d", n);
	dir_fd = fresh_dir(dir);
	if (c->before && strcmp(c->before, "@link") == 0) {
		CHECK_INT(symlinkat("nowhere", dir_fd, TARGET), 0);
	} else if (c->before && strcmp(c->before, "@dir") == 0) {
		CHECK_INT(mkdirat(dir_fd, TARGET, 0700), 0);
		put(dir_fd, TARGET "/keep", "x", 0600);
	} else if (c->before) {
		put(dir_fd, TARGET, c->before, 0600);
	}
	if (c->check_result != NO_CHECK) {
		how.check = case_check;
		how.check_arg = &seen;
	}
	if (c->fill_result != NO_FILL) {
		how.fill = case_fill;
		how.fill_arg = (void *)c;
	}
	r = fsutil_replace(dir_fd, c->target, &how, &step);
	CHECK_MSG(r == c->expect, "%s: returned %d, expected %d", c->name, r, c->expect);
	CHECK_MSG(step == c->step, "%s: step %d, expected %d", c->name, (int)step, (int)c->step);
	check_after(dir_fd, c->after);
	CHECK_MSG(strcmp(entries(dir_fd), c->listing) == 0, "%s: the directory holds \"%s\"",
		  c->name, entries(dir_fd));
	if (c->check_result != NO_CHECK) {
		/* The check ran once, with the new file complete beside the
		 * untouched original: just before the rename. */
		CHECK_MSG(seen.ran, "%s: the check did not run", c->name);
		CHECK_MSG(strncmp(seen.listing, ".target.sshlease-", 17) == 0 &&
			  strlen(seen.listing) == strlen(TEMP_OF_TARGET) + (c->before ? 7 : 0),
			  "%s: at the check the directory held \"%s\"", c->name, seen.listing);
		if (c->before)
			CHECK_STR(seen.target, c->before);
		else
			CHECK(seen.target == NULL);
		free(seen.target);
	}
	close(dir_fd);
}

static void test_replace(void)
{
	for (size_t i = 0; i < SL_ARRAY_SIZE(replace_cases); i++)
		replace_case_run(&replace_cases[i], (int)i);
}

/* A set of new files: all or none, never over an existing one. */
static void test_create_all(void)
{
	struct fsutil_new_file files[3] = {
		{ "key", { .data = "secret\n", .len = 7, .mode = 0600 } },
		{ "key.pub", { .data = "public\n", .len = 7, .mode = 0644 } },
		{ "key.note", { .data = "note\n", .len = 5, .mode = 0644 } },
	};
	int dir_fd = fresh_dir("create-all");
	size_t failed = 99;
	char *text;

	/* The second one exists: the first is removed again, the second kept. */
	put(dir_fd, "key.pub", "keep me\n", 0644);
	CHECK_INT(fsutil_create_all(dir_fd, files, 3, &failed), SL_EXISTS);
	CHECK_INT(failed, 1);
	CHECK_STR(entries(dir_fd), "key.pub");
	text = slurp(dir_fd, "key.pub");
	CHECK_STR(text, "keep me\n");
	free(text);

	/* The first one exists: nothing is made. */
	CHECK_INT(unlinkat(dir_fd, "key.pub", 0), 0);
	put(dir_fd, "key", "old key\n", 0600);
	CHECK_INT(fsutil_create_all(dir_fd, files, 3, &failed), SL_EXISTS);
	CHECK_INT(failed, 0);
	CHECK_STR(entries(dir_fd), "key");

	/* The last one cannot be made (a bad name): both others go. */
	CHECK_INT(unlinkat(dir_fd, "key", 0), 0);
	files[2].name = "no/such";
	CHECK_INT(fsutil_create_all(dir_fd, files, 3, &failed), -EINVAL);
	CHECK_INT(failed, 2);
	CHECK_STR(entries(dir_fd), "");

	/* None exists: all are made, with their content. */
	files[2].name = "key.note";
	CHECK_INT(fsutil_create_all(dir_fd, files, 3, NULL), 0);
	CHECK_STR(entries(dir_fd), "key key.note key.pub");
	text = slurp(dir_fd, "key.note");
	CHECK_STR(text, "note\n");
	free(text);
	close(dir_fd);
}

struct parent_case {
	const char *path;
	int expect;
	const char *name;
};

static void test_open_parent(void)
{
	static char nested[128], missing[128];
	const struct parent_case cases[] = {
		{ "file", 0, "file" },
		{ nested, 0, "file" },
		{ "/etc", 0, "etc" },
		{ "", -EINVAL, NULL },
		{ "dir/", -EINVAL, NULL },
		{ missing, -ENOENT, NULL },
	};
	struct stat want, got;
	int dir_fd;

	snprintf(nested, sizeof(nested), "%s/parent/file", root);
	snprintf(missing, sizeof(missing), "%s/no-such-dir/file", root);
	close(fresh_dir("parent"));
	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		const char *name = NULL;
		int r = fsutil_open_parent(cases[i].path, &dir_fd, &name);

		CHECK_MSG(r == cases[i].expect, "\"%s\": returned %d", cases[i].path, r);
		if (r != 0) {
			CHECK(dir_fd == -1);
			continue;
		}
		CHECK_STR(name, cases[i].name);
		/* The fd is the directory the path names. */
		CHECK(fstat(dir_fd, &got) == 0);
		if (cases[i].path == nested)
			CHECK(fstatat(root_fd, "parent", &want, 0) == 0);
		else
			CHECK(stat(cases[i].path[0] == '/' ? "/" : ".", &want) == 0);
		CHECK(got.st_dev == want.st_dev && got.st_ino == want.st_ino);
		close(dir_fd);
	}
}

/* Modes: the creation mode less the umask, or exactly mode with
 * FSUTIL_CHMOD; fchown as asked. */
static void test_replace_mode_owner(void)
{
	struct fsutil_replace how = { .data = "x", .len = 1, .mode = 0640 };
	int dir_fd = fresh_dir("modes");
	mode_t old_umask = umask(077);
	enum fsutil_step step;
	struct stat st;

	CHECK_INT(fsutil_replace(dir_fd, "umasked", &how, &step), 0);
	CHECK(fstatat(dir_fd, "umasked", &st, 0) == 0 && (st.st_mode & 07777) == 0600);
	how.flags = FSUTIL_CHMOD;
	CHECK_INT(fsutil_replace(dir_fd, "exact", &how, &step), 0);
	CHECK(fstatat(dir_fd, "exact", &st, 0) == 0 && (st.st_mode & 07777) == 0640);
	how.flags = FSUTIL_CHOWN;
	how.uid = (uid_t)-1;
	how.gid = getegid();
	CHECK_INT(fsutil_replace(dir_fd, "chowned", &how, &step), 0);
	CHECK(fstatat(dir_fd, "chowned", &st, 0) == 0 && st.st_gid == getegid());
	if (geteuid() != 0) {
		/* Not root: giving the file away fails, unless allowed to. */
		how.uid = 0;
		how.gid = (gid_t)-1;
		CHECK_INT(fsutil_replace(dir_fd, "given", &how, &step), -EPERM);
		CHECK_INT(step, FSUTIL_STEP_OWNER);
		how.flags |= FSUTIL_CHOWN_MAY_FAIL;
		CHECK_INT(fsutil_replace(dir_fd, "given", &how, &step), 0);
	}
	CHECK_STR(entries(dir_fd), geteuid() != 0 ? "chowned exact given umasked"
						  : "chowned exact umasked");
	umask(old_umask);
	close(dir_fd);
}

/* Writes cut short: a file size limit makes write(2) return less than
 * asked, then fail (EFBIG); the loop must go on after the short count and
 * report the failure, leaving the original and no temp file. */
struct short_case {
	const char *name;
	rlim_t limit;  /* RLIMIT_FSIZE, bytes */
	size_t len;    /* bytes written */
	int expect;
};

static const struct short_case short_cases[] = {
	{ "fits under the limit", 1 << 20, 4096, 0 },
	{ "exactly at the limit", 4096, 4096, 0 },
	{ "one byte short", 4095, 4096, -EFBIG },
	{ "cut after ten bytes", 10, 4096, -EFBIG },
	{ "no room at all", 0, 4096, -EFBIG },
};

static void test_short_writes(void)
{
	struct rlimit saved, limit;
	char *data = malloc(4096);
	int dir_fd = fresh_dir("short");
	enum fsutil_step step;

	memset(data, 'a', 4096);
	CHECK_INT(getrlimit(RLIMIT_FSIZE, &saved), 0);
	signal(SIGXFSZ, SIG_IGN);
	for (size_t i = 0; i < SL_ARRAY_SIZE(short_cases); i++) {
		const struct short_case *c = &short_cases[i];
		struct fsutil_replace how = { .data = data, .len = c->len, .mode = 0600 };
		int r;
		char *text;

		put(dir_fd, TARGET, OLD_TEXT, 0600);
		limit = saved;
		limit.rlim_cur = c->limit;
		CHECK_INT(setrlimit(RLIMIT_FSIZE, &limit), 0);
		r = fsutil_replace(dir_fd, TARGET, &how, &step);
		CHECK_INT(setrlimit(RLIMIT_FSIZE, &saved), 0);
		CHECK_MSG(r == c->expect, "%s: returned %d, expected %d", c->name, r, c->expect);
		text = slurp(dir_fd, TARGET);
		if (c->expect == 0) {
			CHECK_MSG(text && strlen(text) == c->len, "%s: not the new content", c->name);
		} else {
			CHECK_INT(step, FSUTIL_STEP_WRITE);
			CHECK_MSG(text && strcmp(text, OLD_TEXT) == 0, "%s: the original changed", c->name);
		}
		free(text);
		CHECK_MSG(strcmp(entries(dir_fd), TARGET) == 0, "%s: the directory holds \"%s\"",
			  c->name, entries(dir_fd));
	}
	signal(SIGXFSZ, SIG_DFL);
	free(data);
	close(dir_fd);
}

static volatile sig_atomic_t interruptions;

static void on_alarm(int sig)
{
	interruptions++;
}

/* Writes interrupted by signals (no SA_RESTART): into a pipe a slow reader
 * drains, each write returns short or fails with EINTR; every byte must
 * still arrive, once and in order. */
static void test_interrupted_writes(void)
{
	enum { TOTAL = 4 << 20 };
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	struct itimerval tick = { { 0, 500 }, { 0, 500 } }, off = { { 0, 0 }, { 0, 0 } };
	unsigned char *data = malloc(TOTAL);
	int pipe_fd[2], status = -1;
	pid_t pid;

	for (size_t i = 0; i < TOTAL; i++)
		data[i] = (unsigned char)(i * 7 + i / 251);
	CHECK_INT(pipe(pipe_fd), 0);
	pid = fork();
	if (pid == 0) {
		unsigned char buf[4096];
		size_t got = 0;
		ssize_t n;

		close(pipe_fd[1]);
		while ((n = read(pipe_fd[0], buf, sizeof(buf))) > 0) {
			for (ssize_t i = 0; i < n; i++)
				if (got + (size_t)i >= TOTAL || buf[i] != data[got + (size_t)i])
					_exit(2);
			got += (size_t)n;
			if (got % (64 * 4096) == 0)
				usleep(1000);
		}
		_exit(got == TOTAL ? 0 : 3);
	}
	close(pipe_fd[0]);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	interruptions = 0;
	setitimer(ITIMER_REAL, &tick, NULL);
	CHECK_INT(fsutil_write_all(pipe_fd[1], data, TOTAL), 0);
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	close(pipe_fd[1]);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the reader saw other bytes (status %d)", status);
	CHECK_MSG(interruptions > 0, "no signal interrupted the writes");
	free(data);
}

/* ---- bounded read ---- */

struct read_case {
	const char *name;
	size_t size; /* bytes in the file or pipe */
	size_t max;
	int expect;
};

static const struct read_case read_cases[] = {
	{ "empty", 0, 16, 0 },
	{ "empty, max 0", 0, 0, 0 },
	{ "one byte over max 0", 1, 0, -EFBIG },
	{ "under max", 100, 4096, 0 },
	{ "exactly max", 4096, 4096, 0 },
	{ "one byte too many", 4097, 4096, -EFBIG },
	{ "far too large", 300000, 4096, -EFBIG },
	{ "large, grows the buffer", 300000, 1 << 20, 0 },
};

static void fill_pattern(char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)('a' + i % 26);
	/* NUL bytes are returned as read. */
	if (n > 2)
		buf[1] = '\0';
}

static void read_check(const struct read_case *c, const char *how, int r, char *out,
		       size_t len, const char *pattern)
{
	CHECK_MSG(r == c->expect, "%s (%s): returned %d, expected %d", c->name, how, r, c->expect);
	if (c->expect == 0) {
		CHECK_MSG(out && len == c->size && memcmp(out, pattern, len) == 0 && out[len] == '\0',
			  "%s (%s): wrong bytes", c->name, how);
	} else {
		CHECK_MSG(out == NULL, "%s (%s): a buffer came with a failure", c->name, how);
	}
	free(out);
}

static void test_read(void)
{
	int dir_fd = fresh_dir("read");

	for (size_t i = 0; i < SL_ARRAY_SIZE(read_cases); i++) {
		const struct read_case *c = &read_cases[i];
		char *pattern = malloc(c->size + 1), *out = NULL;
		size_t len = 0;
		int fd, pipe_fd[2], r, status;
		pid_t pid;

		fill_pattern(pattern, c->size);
		fd = openat(dir_fd, "file", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		CHECK(fd >= 0 && fsutil_write_all(fd, pattern, c->size) == 0);
		close(fd);

		/* A regular file, by name and by fd. */
		r = fsutil_read_at(dir_fd, "file", c->max, &out, &len);
		read_check(c, "file by name", r, out, len, pattern);
		fd = openat(dir_fd, "file", O_RDONLY | O_CLOEXEC);
		r = fsutil_read_fd(fd, c->max, &out, &len);
		read_check(c, "file by fd", r, out, len, pattern);
		close(fd);

		/* A pipe: no size to go by. */
		CHECK_INT(pipe(pipe_fd), 0);
		pid = fork();
		if (pid == 0) {
			close(pipe_fd[0]);
			_exit(fsutil_write_all(pipe_fd[1], pattern, c->size) == 0 ||
			      errno == EPIPE ? 0 : 1);
		}
		close(pipe_fd[1]);
		r = fsutil_read_fd(pipe_fd[0], c->max, &out, &len);
		close(pipe_fd[0]);
		waitpid(pid, &status, 0);
		read_check(c, "pipe", r, out, len, pattern);
		free(pattern);
	}

	/* By name: a symlink is not followed, a FIFO does not hang. */
	{
		char *out = (char *)1;
		size_t len = 99;

		CHECK_INT(symlinkat("file", dir_fd, "link"), 0);
		CHECK_INT(fsutil_read_at(dir_fd, "link", 1 << 20, &out, &len), -ELOOP);
		CHECK(out == NULL);
		CHECK_INT(fsutil_read_at(dir_fd, "missing", 1 << 20, &out, &len), -ENOENT);
		CHECK_INT(mkfifoat(dir_fd, "fifo", 0600), 0);
		CHECK_INT(fsutil_read_at(dir_fd, "fifo", 1 << 20, &out, &len), 0);
		CHECK(out && len == 0);
		free(out);
	}
	close(dir_fd);
}

/* ---- trust rules ---- */

struct trust_case {
	const char *name;
	mode_t mode; /* type and permission bits */
	uid_t uid;
	nlink_t nlink;
	unsigned rule;
	enum fsutil_distrust expect;
};

#define OWNER 1000
#define OTHER 1001

static const struct trust_case trust_cases[] = {
	{ "a private regular file of the owner", S_IFREG | 0600, OWNER, 1,
	  FSUTIL_TRUST_REGULAR | FSUTIL_TRUST_PRIVATE, FSUTIL_TRUSTED },
	{ "a directory where a file is asked", S_IFDIR | 0700, OWNER, 2,
	  FSUTIL_TRUST_REGULAR, FSUTIL_DISTRUST_TYPE },
	{ "a file where a directory is asked", S_IFREG | 0700, OWNER, 1,
	  FSUTIL_TRUST_DIRECTORY, FSUTIL_DISTRUST_TYPE },
	{ "a FIFO where a file is asked", S_IFIFO | 0600, OWNER, 1,
	  FSUTIL_TRUST_REGULAR, FSUTIL_DISTRUST_TYPE },
	{ "no type asked: a FIFO passes", S_IFIFO | 0600, OWNER, 1,
	  FSUTIL_TRUST_NO_SHARED_WRITE, FSUTIL_TRUSTED },
	{ "the type is judged before the owner", S_IFDIR | 0777, OTHER, 1,
	  FSUTIL_TRUST_REGULAR | FSUTIL_TRUST_NO_SHARED_WRITE, FSUTIL_DISTRUST_TYPE },
	{ "another owner", S_IFREG | 0600, OTHER, 1,
	  FSUTIL_TRUST_REGULAR, FSUTIL_DISTRUST_OWNER },
	{ "root, not allowed", S_IFREG | 0600, 0, 1,
	  FSUTIL_TRUST_REGULAR, FSUTIL_DISTRUST_OWNER },
	{ "root, allowed", S_IFREG | 0600, 0, 1,
	  FSUTIL_TRUST_REGULAR | FSUTIL_TRUST_OR_ROOT, FSUTIL_TRUSTED },
	{ "the owner is judged before the mode", S_IFREG | 0666, OTHER, 1,
	  FSUTIL_TRUST_NO_SHARED_WRITE, FSUTIL_DISTRUST_OWNER },
	{ "group write refused", S_IFDIR | 0770, OWNER, 2,
	  FSUTIL_TRUST_DIRECTORY | FSUTIL_TRUST_NO_SHARED_WRITE, FSUTIL_DISTRUST_MODE },
	{ "group write allowed when only others are barred", S_IFDIR | 0775, OWNER, 2,
	  FSUTIL_TRUST_DIRECTORY | FSUTIL_TRUST_NO_OTHER_WRITE, FSUTIL_TRUSTED },
	{ "other write refused", S_IFDIR | 0757, OWNER, 2,
	  FSUTIL_TRUST_DIRECTORY | FSUTIL_TRUST_NO_OTHER_WRITE, FSUTIL_DISTRUST_MODE },
	{ "others may write when only group write is barred", S_IFREG | 0606, OWNER, 1,
	  FSUTIL_TRUST_NO_GROUP_WRITE, FSUTIL_TRUSTED },
	{ "group read allowed without write", S_IFREG | 0640, OWNER, 1,
	  FSUTIL_TRUST_NO_SHARED_WRITE, FSUTIL_TRUSTED },
	{ "group read refused when private", S_IFREG | 0640, OWNER, 1,
	  FSUTIL_TRUST_PRIVATE, FSUTIL_DISTRUST_MODE },
	{ "other execute refused when private", S_IFREG | 0601, OWNER, 1,
	  FSUTIL_TRUST_PRIVATE, FSUTIL_DISTRUST_MODE },
	{ "two links refused", S_IFREG | 0600, OWNER, 2,
	  FSUTIL_TRUST_REGULAR | FSUTIL_TRUST_ONE_LINK, FSUTIL_DISTRUST_LINKS },
	{ "two links allowed when not asked", S_IFREG | 0600, OWNER, 2,
	  FSUTIL_TRUST_REGULAR, FSUTIL_TRUSTED },
	{ "the mode is judged before the links", S_IFREG | 0660, OWNER, 2,
	  FSUTIL_TRUST_NO_SHARED_WRITE | FSUTIL_TRUST_ONE_LINK, FSUTIL_DISTRUST_MODE },
};

static void test_trust(void)
{
	int dir_fd = fresh_dir("trust"), fd;
	enum fsutil_distrust broken;
	struct stat st;

	for (size_t i = 0; i < SL_ARRAY_SIZE(trust_cases); i++) {
		const struct trust_case *c = &trust_cases[i];
		enum fsutil_distrust got;

		memset(&st, 0, sizeof(st));
		st.st_mode = c->mode;
		st.st_uid = c->uid;
		st.st_nlink = c->nlink;
		got = fsutil_trust_stat(&st, OWNER, c->rule);
		CHECK_MSG(got == c->expect, "%s: judged %d, expected %d", c->name, (int)got,
			  (int)c->expect);
	}

	/* On a real fd: the stat comes back with the verdict. */
	put(dir_fd, "mine", "x", 0600);
	CHECK_INT(fchmodat(dir_fd, "mine", 0600, 0), 0);
	fd = openat(dir_fd, "mine", O_RDONLY | O_CLOEXEC);
	memset(&st, 0, sizeof(st));
	CHECK_INT(fsutil_trust_fd(fd, geteuid(), FSUTIL_TRUST_REGULAR | FSUTIL_TRUST_PRIVATE,
				  &st, &broken), 0);
	CHECK(S_ISREG(st.st_mode) && st.st_size == 1);
	CHECK_INT(fchmod(fd, 0666), 0);
	CHECK_INT(fsutil_trust_fd(fd, geteuid(), FSUTIL_TRUST_NO_SHARED_WRITE, NULL, &broken),
		  SL_REFUSED);
	CHECK_INT(broken, FSUTIL_DISTRUST_MODE);
	CHECK_INT(fsutil_trust_fd(fd, geteuid() + 1, FSUTIL_TRUST_REGULAR, NULL, &broken),
		  SL_REFUSED);
	CHECK_INT(broken, FSUTIL_DISTRUST_OWNER);
	close(fd);
	CHECK_INT(fsutil_trust_fd(-1, 0, 0, NULL, &broken), -EBADF);
	close(dir_fd);
}

/* ---- stale-temp cleanup ---- */

struct temp_case {
	const char *entry;
	char kind;    /* 'f' file, 'd' directory, 'l' symlink, 'o' file of another uid */
	bool removed;
};

static const struct temp_case temp_cases[] = {
	{ TEMP_OF_TARGET, 'f', true },
	{ ".target.sshlease-fedcba9876543210", 'f', true },
	{ TARGET, 'f', false },
	{ ".target.sshlease-0123456789abcde", 'f', false },   /* 15 digits */
	{ ".target.sshlease-0123456789abcdef0", 'f', false }, /* 17 digits */
	{ ".target.sshlease-0123456789ABCDEF", 'f', false },  /* upper case */
	{ ".target.sshlease-0123456789abcdeg", 'f', false },
	{ "target.sshlease-0123456789abcdef", 'f', false },   /* not hidden */
	{ ".other.sshlease-0123456789abcdef", 'f', false },   /* another file's */
	{ ".targetx.sshlease-0123456789abcdef", 'f', false },
	{ ".target.tmp-0123456789abcdef", 'f', false },
	{ ".target.sshlease-1111111111111111", 'd', false },  /* not a file */
	{ ".target.sshlease-2222222222222222", 'l', false },  /* a symlink */
	{ ".target.sshlease-3333333333333333", 'o', false },  /* not ours */
};

static void test_clean_temps(void)
{
	int dir_fd = fresh_dir("temps"), expect_removed = 0, r;
	struct stat st;

	for (size_t i = 0; i < SL_ARRAY_SIZE(temp_cases); i++) {
		const struct temp_case *c = &temp_cases[i];

		switch (c->kind) {
		case 'd':
			CHECK_INT(mkdirat(dir_fd, c->entry, 0700), 0);
			break;
		case 'l':
			CHECK_INT(symlinkat(TARGET, dir_fd, c->entry), 0);
			break;
		case 'o':
			put(dir_fd, c->entry, "x", 0600);
			/* Only root can make a file of someone else's. */
			if (geteuid() != 0 || fchownat(dir_fd, c->entry, 65534, 65534, 0) != 0)
				unlinkat(dir_fd, c->entry, 0);
			break;
		default:
			put(dir_fd, c->entry, "x", 0600);
		}
		expect_removed += c->removed;
	}
	r = fsutil_clean_temps(dir_fd, TARGET);
	CHECK_INT(r, expect_removed);
	for (size_t i = 0; i < SL_ARRAY_SIZE(temp_cases); i++) {
		const struct temp_case *c = &temp_cases[i];
		bool gone = fstatat(dir_fd, c->entry, &st, AT_SYMLINK_NOFOLLOW) < 0;

		if (c->kind == 'o' && geteuid() != 0)
			continue;
		CHECK_MSG(gone == c->removed, "%s: %s", c->entry, gone ? "removed" : "kept");
	}
	/* What fsutil_replace leaves behind is what the cleanup takes. */
	CHECK_INT(fsutil_clean_temps(dir_fd, TARGET), 0);
	CHECK_INT(fsutil_clean_temps(-1, TARGET), -EBADF);
	close(dir_fd);
}

/* Dies in the check: after the temp file is complete, before the rename. */
static int die_in_check(int dir_fd, void *arg)
{
	raise(SIGKILL);
	return 0;
}

/* A temp file left by a replace killed before its rename is one the
 * cleanup recognises: the pattern is one fact. */
static void test_killed_replace_leaves_cleanable_temp(void)
{
	int dir_fd = fresh_dir("killed"), status = -1;
	pid_t pid;

	put(dir_fd, TARGET, OLD_TEXT, 0600);
	pid = fork();
	if (pid == 0) {
		struct fsutil_replace how = { .data = NEW_TEXT, .len = strlen(NEW_TEXT), .mode = 0600 };

		how.check = die_in_check;
		fsutil_replace(dir_fd, TARGET, &how, NULL);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status));
	CHECK_MSG(strlen(entries(dir_fd)) == strlen(TEMP_OF_TARGET " " TARGET),
		  "after the kill the directory holds \"%s\"", entries(dir_fd));
	CHECK_INT(fsutil_clean_temps(dir_fd, TARGET), 1);
	CHECK_STR(entries(dir_fd), TARGET);
	close(dir_fd);
}

int main(void)
{
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	TEST(test_replace());
	TEST(test_replace_mode_owner());
	TEST(test_create_all());
	TEST(test_open_parent());
	TEST(test_short_writes());
	TEST(test_interrupted_writes());
	TEST(test_read());
	TEST(test_trust());
	TEST(test_clean_temps());
	TEST(test_killed_replace_leaves_cleanable_temp());
	close(root_fd);
	nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return test_done();
}

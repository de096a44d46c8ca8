/* Durable small files: atomic replace, bounded read, stale-temp cleanup, trust check. */
#define _GNU_SOURCE /* renameat2 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <unistd.h>

#include <sodium.h>

#include "fsutil.h"

/* Temp files are ".NAME" TEMP_MARK and TEMP_HEX lower-case hex digits:
 * hidden, and saying whose they are and for which file. */
#define TEMP_MARK ".sshlease-"
#define TEMP_HEX 16
#define TEMP_TRIES 8
/* First buffer of a read whose size fstat cannot tell (pipes, terminals). */
#define READ_CHUNK 4096

int fsutil_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- atomic replace ---- */

static int temp_name(const char *name, char out[NAME_MAX + 1])
{
	unsigned char random[TEMP_HEX / 2];
	char hex[TEMP_HEX + 1];
	size_t len = strlen(name);

	if (len == 0 || strchr(name, '/'))
		return -EINVAL;
	if (1 + len + sizeof(TEMP_MARK) - 1 + TEMP_HEX > NAME_MAX)
		return -ENAMETOOLONG;
	randombytes_buf(random, sizeof(random));
	sodium_bin2hex(hex, sizeof(hex), random, sizeof(random));
	snprintf(out, NAME_MAX + 1, ".%s%s%s", name, TEMP_MARK, hex);
	return 0;
}

static bool temp_name_of(const char *entry, const char *name)
{
	size_t len = strlen(name), mark = sizeof(TEMP_MARK) - 1;

	if (entry[0] != '.' || strncmp(entry + 1, name, len) != 0 ||
	    strncmp(entry + 1 + len, TEMP_MARK, mark) != 0)
		return false;
	entry += 1 + len + mark;
	return strlen(entry) == TEMP_HEX && strspn(entry, "0123456789abcdef") == TEMP_HEX;
}

/* A new temp file for name in dir_fd: its fd in *fd, its name in temp. */
static int temp_create(int dir_fd, const char *name, mode_t mode,
		       char temp[NAME_MAX + 1], int *fd)
{
	int r = 0;

	if (sodium_init() < 0)
		return -EIO;
	for (int i = 0; i < TEMP_TRIES; i++) {
		r = temp_name(name, temp);
		if (r < 0)
			return r;
		*fd = openat(dir_fd, temp,
			     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC,
			     mode);
		if (*fd >= 0)
			return 0;
		r = -errno;
		if (r != -EEXIST)
			break;
	}
	return r;
}

/* Create name from temp only if name is absent. */
static int rename_noreplace(int dir_fd, const char *temp, const char *name)
{
	if (renameat2(dir_fd, temp, dir_fd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* No RENAME_NOREPLACE on this file system: link refuses an existing
	 * name the same way; the temp name then goes. */
	if (linkat(dir_fd, temp, dir_fd, name, 0) < 0)
		return -errno;
	unlinkat(dir_fd, temp, 0);
	return 0;
}

int fsutil_replace(int dir_fd, const char *name, const struct fsutil_replace *how,
		   enum fsutil_step *failed)
{
	enum fsutil_step step = FSUTIL_STEP_TEMP;
	char temp[NAME_MAX + 1];
	bool temp_exists = false;
	int fd = -1, r;

	r = temp_create(dir_fd, name, how->mode, temp, &fd);
	if (r < 0)
		goto out;
	temp_exists = true;

	step = FSUTIL_STEP_WRITE;
	r = how->fill ? how->fill(fd, how->fill_arg) : fsutil_write_all(fd, how->data, how->len);
	if (r != 0)
		goto out;
	step = FSUTIL_STEP_OWNER;
	if ((how->flags & FSUTIL_CHMOD) && fchmod(fd, how->mode) < 0) {
		r = -errno;
		goto out;
	}
	if ((how->flags & FSUTIL_CHOWN) && fchown(fd, how->uid, how->gid) < 0 &&
	    !(how->flags & FSUTIL_CHOWN_MAY_FAIL)) {
		r = -errno;
		goto out;
	}
	step = FSUTIL_STEP_FSYNC;
	if (fsync(fd) < 0) {
		r = -errno;
		goto out;
	}
	step = FSUTIL_STEP_CLOSE;
	r = close(fd);
	fd = -1;
	if (r < 0) {
		r = -errno;
		goto out;
	}
	step = FSUTIL_STEP_CHECK;
	if (how->check) {
		r = how->check(dir_fd, how->check_arg);
		if (r != 0)
			goto out;
	}
	/*
	 * XXX a writer that does not take the caller's lock can still slip in
	 * between the check and the rename; no system call compares and
	 * renames in one step. The window is a few system calls wide.
	 */
	step = FSUTIL_STEP_RENAME;
	if (how->flags & FSUTIL_NOREPLACE) {
		r = rename_noreplace(dir_fd, temp, name);
		if (r == -EEXIST)
			r = SL_EXISTS;
	} else {
		r = renameat(dir_fd, temp, dir_fd, name) < 0 ? -errno : 0;
	}
	if (r != 0)
		goto out;
	temp_exists = false;
	/* The rename is done: a failed directory fsync leaves it perhaps not
	 * durable, with nothing left to undo. */
	step = FSUTIL_STEP_DIRSYNC;
	if (fsync(dir_fd) < 0) {
		r = -errno;
		goto out;
	}
	step = FSUTIL_STEP_NONE;
out:
	if (fd >= 0)
		close(fd);
	if (temp_exists)
		unlinkat(dir_fd, temp, 0);
	if (failed)
		*failed = step;
	return r;
}

int fsutil_create_all(int dir_fd, const struct fsutil_new_file *files, size_t n,
		      size_t *failed)
{
	enum fsutil_step step = FSUTIL_STEP_NONE;
	size_t i, made;
	int r = 0;

	for (i = 0; i < n && r == 0; i++) {
		struct fsutil_replace how = files[i].how;

		how.flags |= FSUTIL_NOREPLACE;
		r = fsutil_replace(dir_fd, files[i].name, &how, &step);
	}
	if (r == 0)
		return 0;
	i--;
	if (failed)
		*failed = i;
	/* The rename of the failed one happened when only the fsync after it
	 * failed: it goes too. */
	made = step == FSUTIL_STEP_DIRSYNC ? i + 1 : i;
	while (made > 0)
		unlinkat(dir_fd, files[--made].name, 0);
	return r;
}

int fsutil_open_parent(const char *path, int *dir_fd, const char **name)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];

	*dir_fd = -1;
	if (path[0] == '\0' || (slash && slash[1] == '\0'))
		return -EINVAL;
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if ((size_t)(slash - path) >= sizeof(dir))
		return -ENAMETOOLONG;
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	*dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*dir_fd < 0)
		return -errno;
	*name = slash ? slash + 1 : path;
	return 0;
}

int fsutil_clean_temps(int dir_fd, const char *name)
{
	int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	/* The filesystem uid: the one files are created with, which an
	 * engine child acting as an account has apart from its euid. */
	uid_t self = (uid_t)setfsuid((uid_t)-1);
	struct dirent *entry;
	int removed = 0;
	struct stat st;
	DIR *dir;

	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -ENOMEM;
	}
	while ((entry = readdir(dir))) {
		if (!temp_name_of(entry->d_name, name))
			continue;
		if (fstatat(dir_fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && st.st_uid == self &&
		    unlinkat(dir_fd, entry->d_name, 0) == 0)
			removed++;
	}
	closedir(dir);
	return removed;
}

/* ---- bounded read ---- */

/* A copy of buf (used bytes) in a new buffer of size bytes; the old one is
 * wiped and freed. NULL when out of memory (buf is kept then). */
static char *buffer_move(char *buf, size_t used, size_t size)
{
	char *bigger = malloc(size);

	if (!bigger)
		return NULL;
	if (buf) {
		memcpy(bigger, buf, used);
		sodium_memzero(buf, used);
		free(buf);
	}
	return bigger;
}

int fsutil_read_fd(int fd, size_t max, char **out, size_t *len)
{
	size_t used = 0, room, want;
	char *buf = NULL, *bigger;
	struct stat st;
	int r = 0;

	*out = NULL;
	if (max > SIZE_MAX - 2)
		return -EINVAL;
	/* Room for one byte more than the file has (or max allows), so the
	 * end or an excess is seen without growing. */
	want = READ_CHUNK;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0) {
		if ((uintmax_t)st.st_size > max)
			return -EFBIG; /* no need to read it to know */
		want = (size_t)st.st_size + 1;
	}
	if (want > max + 1)
		want = max + 1;
	room = want;
	buf = buffer_move(NULL, 0, room + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (used == room) {
			if (room > max) {
				r = -EFBIG;
				goto out;
			}
			want = room < (max + 1) / 2 ? room * 2 : max + 1;
			bigger = buffer_move(buf, used, want + 1);
			if (!bigger) {
				r = -ENOMEM;
				goto out;
			}
			buf = bigger;
			room = want;
		}
		n = read(fd, buf + used, room - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	*len = used;
	*out = buf;
	buf = NULL;
out:
	if (buf) {
		sodium_memzero(buf, used);
		free(buf);
	}
	return r;
}

int fsutil_read_at(int dir_fd, const char *name, size_t max, char **out,
		   size_t *len)
{
	int fd, r;

	*out = NULL;
	fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = fsutil_read_fd(fd, max, out, len);
	close(fd);
	return r;
}

/* ---- trusted files and directories ---- */

enum fsutil_distrust fsutil_trust_stat(const struct stat *st, uid_t owner,
				       unsigned rule)
{
	mode_t forbidden = 0;

	if (((rule & FSUTIL_TRUST_REGULAR) && !S_ISREG(st->st_mode)) ||
	    ((rule & FSUTIL_TRUST_DIRECTORY) && !S_ISDIR(st->st_mode)))
		return FSUTIL_DISTRUST_TYPE;
	if (st->st_uid != owner && !((rule & FSUTIL_TRUST_OR_ROOT) && st->st_uid == 0))
		return FSUTIL_DISTRUST_OWNER;
	if (rule & FSUTIL_TRUST_NO_GROUP_WRITE)
		forbidden |= S_IWGRP;
	if (rule & FSUTIL_TRUST_NO_OTHER_WRITE)
		forbidden |= S_IWOTH;
	if (rule & FSUTIL_TRUST_PRIVATE)
		forbidden |= S_IRWXG | S_IRWXO;
	if (st->st_mode & forbidden)
		return FSUTIL_DISTRUST_MODE;
	if ((rule & FSUTIL_TRUST_ONE_LINK) && st->st_nlink > 1)
		return FSUTIL_DISTRUST_LINKS;
	return FSUTIL_TRUSTED;
}

int fsutil_trust_fd(int fd, uid_t owner, unsigned rule, struct stat *st,
		    enum fsutil_distrust *broken)
{
	struct stat own;

	if (!st)
		st = &own;
	if (fstat(fd, st) < 0)
		return -errno;
	*broken = fsutil_trust_stat(st, owner, rule);
	return *broken == FSUTIL_TRUSTED ? 0 : SL_REFUSED;
}

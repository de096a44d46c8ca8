/* Following a growing log file with inotify: complete lines, in order. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log-follow.h"

/* What wakes the follower: the file grew, shrank or moved away (watched
 * by inode), or a file took its name (watched in the directory). */
#define FILE_EVENTS (IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF)
#define DIR_EVENTS (IN_CREATE | IN_MOVED_TO)

struct log_follow {
	char *path;
	size_t line_max;
	int inotify;
	int file_wd;  /* -1: none */
	int fd;       /* the file followed; -1 while there is none */
	dev_t dev;    /* of fd */
	ino_t ino;
	off_t offset; /* bytes read from fd */
	/* A file at path refused as untrusted: not refused again. */
	bool refused;
	dev_t refused_dev;
	ino_t refused_ino;
	char *buf;      /* line_max + 1 bytes: a longest line and its "\n" */
	size_t start;   /* unconsumed bytes are buf[start, end) */
	size_t end;
	bool skipping;  /* inside a line too long: dropped up to its "\n" */
	bool quietly;   /* ... and not reported (begun before following) */
};

static bool stat_trusted(const struct stat *st)
{
	return S_ISREG(st->st_mode) &&
	       (st->st_uid == 0 || st->st_uid == geteuid()) &&
	       !(st->st_mode & (S_IWGRP | S_IWOTH));
}

/* Drop the file followed (the buffered rest of it too). */
static void follow_close(struct log_follow *f)
{
	if (f->file_wd >= 0)
		inotify_rm_watch(f->inotify, f->file_wd);
	f->file_wd = -1;
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	f->start = f->end = 0;
	f->offset = 0;
	f->skipping = f->quietly = false;
}

/*
 * Follow the file now at path instead of the one followed (if any), from
 * its end (at_end) or its beginning. Returns 0; SL_NOT_FOUND when there is
 * no file at path or it is one refused before; SL_REFUSED with *why when
 * it is not trusted (remembered); -errno. On every outcome but 0 the file
 * followed so far stays.
 */
static int follow_attach(struct log_follow *f, bool at_end, const char **why)
{
	char proc[64];
	struct stat st;
	off_t offset = 0;
	bool partial = false;
	int fd = -1, wd, r;

	if (stat(f->path, &st) < 0) {
		if (errno == ENOENT)
			return SL_NOT_FOUND;
		*why = "cannot stat the log file";
		return -errno;
	}
	if (f->refused && st.st_dev == f->refused_dev && st.st_ino == f->refused_ino)
		return SL_NOT_FOUND;
	/* Checked before the open too, so that no device or FIFO is opened. */
	if (!stat_trusted(&st))
		goto refuse;
	fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			return SL_NOT_FOUND;
		*why = "cannot open the log file";
		return -errno;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		*why = "cannot stat the log file";
		goto fail;
	}
	if (!stat_trusted(&st))
		goto refuse;
	if (at_end && st.st_size > 0) {
		char last;

		if (pread(fd, &last, 1, st.st_size - 1) != 1) {
			r = -EIO;
			*why = "cannot read the log file";
			goto fail;
		}
		/* A line begun before following began is not a line to give. */
		partial = last != '\n';
		offset = st.st_size;
	}
	if (lseek(fd, offset, SEEK_SET) < 0) {
		r = -errno;
		*why = "cannot seek in the log file";
		goto fail;
	}
	/* The open file's own inode, whatever takes the name meanwhile. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	wd = inotify_add_watch(f->inotify, proc, FILE_EVENTS);
	if (wd < 0) {
		r = -errno;
		*why = "cannot watch the log file (inotify)";
		goto fail;
	}
	follow_close(f);
	f->fd = fd;
	f->file_wd = wd;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->offset = offset;
	f->skipping = f->quietly = partial;
	return 0;
refuse:
	f->refused = true;
	f->refused_dev = st.st_dev;
	f->refused_ino = st.st_ino;
	if (fd >= 0)
		close(fd);
	*why = "the log file is not a regular file of root's that only its owner may write";
	return SL_REFUSED;
fail:
	close(fd);
	return r;
}

int log_follow_open(const char *path, size_t line_max, struct log_follow **out,
		    const char **why)
{
	struct log_follow *f = NULL;
	char *dir = NULL, *slash;
	int r;

	if (!path || path[0] != '/' || strlen(path) >= PATH_MAX) {
		*why = "the log file's path is not absolute";
		return SL_REFUSED;
	}
	if (line_max == 0 || line_max > LOG_FOLLOW_LINE_MAX_LIMIT) {
		*why = "line_max is out of range";
		return SL_REFUSED;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->inotify = f->file_wd = f->fd = -1;
	f->line_max = line_max;
	f->path = strdup(path);
	f->buf = malloc(line_max + 1);
	dir = strdup(path);
	if (!f->path || !f->buf || !dir) {
		r = -ENOMEM;
		goto out;
	}
	f->inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (f->inotify < 0) {
		r = -errno;
		*why = "cannot start inotify";
		goto out;
	}
	slash = strrchr(dir, '/');
	slash[slash == dir ? 1 : 0] = '\0';
	/* Watched first: a file created after this is seen. */
	if (inotify_add_watch(f->inotify, dir, DIR_EVENTS | IN_ONLYDIR) < 0) {
		r = -errno;
		*why = "cannot watch the log file's directory (inotify)";
		goto out;
	}
	r = follow_attach(f, true, why);
	if (r == SL_NOT_FOUND)
		r = 0;
	if (r != 0)
		goto out;
	*out = f;
	f = NULL;
out:
	free(dir);
	log_follow_free(f);
	return r;
}

int log_follow_fd(const struct log_follow *follow)
{
	return follow->inotify;
}

/* Empty inotify's queue: its events only say "look again". */
static int drain_events(struct log_follow *f, const char **why)
{
	char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		ssize_t n = read(f->inotify, events, sizeof(events));

		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		*why = "cannot read inotify events";
		return n < 0 ? -errno : -EIO;
	}
}

/*
 * At the end of the file followed: start again when it was truncated,
 * move to the file now at path when it is another (only now, so the old
 * one was read to its end). Returns 0 when there may be more to read,
 * -EAGAIN when not, SL_REFUSED, -errno.
 */
static int follow_check(struct log_follow *f, const char **why)
{
	struct stat st;
	int r;

	if (f->fd >= 0) {
		if (fstat(f->fd, &st) < 0) {
			*why = "cannot stat the log file";
			return -errno;
		}
		if (st.st_size < f->offset) {
			if (lseek(f->fd, 0, SEEK_SET) < 0) {
				*why = "cannot seek in the log file";
				return -errno;
			}
			f->offset = 0;
			f->start = f->end = 0;
			f->skipping = f->quietly = false;
			return 0;
		}
		if (stat(f->path, &st) < 0 || (st.st_dev == f->dev && st.st_ino == f->ino))
			return -EAGAIN; /* no file at path, or still ours */
	}
	r = follow_attach(f, false, why);
	return r == SL_NOT_FOUND ? -EAGAIN : r;
}

int log_follow_next(struct log_follow *f, struct log_line *line,
		    const char **why)
{
	int r = drain_events(f, why);

	if (r < 0)
		return r;
	for (;;) {
		char *nl = memchr(f->buf + f->start, '\n', f->end - f->start);
		ssize_t n;

		if (nl && f->skipping) {
			bool report = !f->quietly;

			f->start = (size_t)(nl + 1 - f->buf);
			f->skipping = f->quietly = false;
			if (report) {
				*why = "a line longer than line_max was skipped";
				return SL_REFUSED;
			}
			continue;
		}
		if (nl) {
			*nl = '\0';
			line->text = f->buf + f->start;
			line->len = (size_t)(nl - line->text);
			line->pid = 0;
			line->time = 0;
			f->start = (size_t)(nl + 1 - f->buf);
			return 0;
		}
		if (f->skipping || f->end - f->start > f->line_max) {
			f->skipping = true;
			f->start = f->end = 0;
		}
		if (f->start > 0) {
			memmove(f->buf, f->buf + f->start, f->end - f->start);
			f->end -= f->start;
			f->start = 0;
		}
		n = 0;
		if (f->fd >= 0) {
			n = read(f->fd, f->buf + f->end, f->line_max + 1 - f->end);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				*why = "cannot read the log file";
				return -errno;
			}
			f->end += (size_t)n;
			f->offset += n;
		}
		if (n > 0)
			continue;
		r = follow_check(f, why);
		if (r != 0)
			return r;
	}
}

void log_follow_free(struct log_follow *follow)
{
	if (!follow)
		return;
	if (follow->fd >= 0)
		close(follow->fd);
	if (follow->inotify >= 0)
		close(follow->inotify);
	free(follow->buf);
	free(follow->path);
	free(follow);
}

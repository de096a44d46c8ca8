/* One line on the terminals of a login, as wall(1) writes one. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "scope.h"
#include "tty-notice.h"

/* UNIX98 pseudo-terminal slaves: majors 136 to 143, 256 minors each. */
#define PTS_MAJOR_FIRST 136
#define PTS_MAJOR_LAST 143

/* The controlling terminal of pid (tty_nr, the 7th field of stat); 0 for
 * none or when it cannot be read. */
static dev_t controlling_tty(pid_t pid)
{
	char path[64], buf[1024], *p;
	long long tty = 0;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %lld", &tty) != 1 || tty <= 0)
		return 0;
	return (dev_t)tty;
}

size_t tty_notice_find(pid_t pid, dev_t *ttys, size_t max)
{
	uint32_t pids[256];
	size_t n = scope_descendants(pid, pids, SL_ARRAY_SIZE(pids)), found = 0;

	for (size_t i = 0; i < n && found < max; i++) {
		dev_t tty = controlling_tty((pid_t)pids[i]);
		bool seen = false;

		if (!tty || major(tty) < PTS_MAJOR_FIRST || major(tty) > PTS_MAJOR_LAST)
			continue;
		for (size_t k = 0; k < found; k++)
			seen |= ttys[k] == tty;
		if (!seen)
			ttys[found++] = tty;
	}
	return found;
}

/* Whether st is the pseudo-terminal tty, uid's, the tty group's and
 * writable by that group (mesg y). */
static bool pts_writable(const struct stat *st, dev_t tty, uid_t uid, gid_t tty_gid)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == tty && st->st_uid == uid &&
	       st->st_gid == tty_gid && (st->st_mode & S_IWGRP);
}

int tty_notice_write(dev_t tty, uid_t uid, const char *line)
{
	char path[64], text[512];
	struct group *grp;
	struct stat st;
	gid_t tty_gid, old;
	ssize_t w;
	int fd, n, saved;

	if (major(tty) < PTS_MAJOR_FIRST || major(tty) > PTS_MAJOR_LAST)
		return SL_REFUSED;
	snprintf(path, sizeof(path), "/dev/pts/%u",
		 (major(tty) - PTS_MAJOR_FIRST) * 256 + minor(tty));
	grp = getgrnam("tty");
	if (!grp)
		return SL_REFUSED;
	tty_gid = grp->gr_gid;
	if (lstat(path, &st) < 0)
		return -errno;
	if (!pts_writable(&st, tty, uid, tty_gid))
		return SL_REFUSED;
	/* The tty group for this one open, as wall's setgid bit gives it. */
	old = (gid_t)setfsgid(tty_gid);
	fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
	saved = errno;
	setfsgid(old);
	if (fd < 0)
		return -saved;
	if (fstat(fd, &st) < 0 || !pts_writable(&st, tty, uid, tty_gid)) {
		close(fd);
		return SL_REFUSED;
	}
	n = snprintf(text, sizeof(text), "\r\n%s\r\n", line);
	if (n < 0 || (size_t)n >= sizeof(text))
		n = (int)strlen(text);
	w = write(fd, text, (size_t)n);
	saved = errno;
	close(fd);
	return w < 0 ? -saved : 0;
}

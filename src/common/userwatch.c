/*
 * The watcher of an account's key files (userwatch.h): a child with the
 * account's filesystem ids only, holding inotify watches set up from fds
 * that the engine's walk opened, so no path is followed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "become.h"
#include "userfs.h"
#include "userwatch.h"

#define HOME_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | \
		   IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define SSH_MASK (HOME_MASK | IN_CLOSE_WRITE | IN_MODIFY)
#define FILE_MASK (IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

struct watch_set {
	int fd;       /* inotify */
	int home_wd, ssh_wd;
	int file_wd[16];
	size_t n_file_wd;
};

/* A watch on what fd is open on: through /proc/self/fd, which names the
 * open file itself, never a path that could have been swapped since. */
static int watch_fd(int ino, int fd, uint32_t mask)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return inotify_add_watch(ino, path, mask);
}

/* Set up every watch afresh; false when the walk did not get to ~/.ssh's
 * parent (nothing but that failure to tell). */
static bool watch_arm(struct watch_set *ws, const struct account *acct,
		      const char *const *names, size_t n)
{
	int home_fd = -1, ssh_fd = -1;

	if (ws->fd >= 0)
		close(ws->fd);
	*ws = (struct watch_set){ .fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK),
				  .home_wd = -1, .ssh_wd = -1 };
	if (ws->fd < 0)
		return false;
	/* A refused ~/.ssh (a symlink, say) still leaves the home watched:
	 * what becomes of ~/.ssh is seen there. */
	(void)userfs_walk(acct, &home_fd, &ssh_fd);
	if (home_fd >= 0)
		ws->home_wd = watch_fd(ws->fd, home_fd, HOME_MASK);
	if (ssh_fd >= 0) {
		ws->ssh_wd = watch_fd(ws->fd, ssh_fd, SSH_MASK);
		for (size_t i = 0; i < n && ws->n_file_wd < SL_ARRAY_SIZE(ws->file_wd); i++) {
			struct stat st;
			int file_fd;

			if (fstatat(ssh_fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(st.st_mode))
				continue;
			file_fd = openat(ssh_fd, names[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
			if (file_fd < 0)
				continue;
			ws->file_wd[ws->n_file_wd] = watch_fd(ws->fd, file_fd, FILE_MASK);
			if (ws->file_wd[ws->n_file_wd] >= 0)
				ws->n_file_wd++;
			close(file_fd);
		}
	}
	if (home_fd >= 0)
		close(home_fd);
	if (ssh_fd >= 0)
		close(ssh_fd);
	return ws->home_wd >= 0;
}

static bool name_watched(const char *name, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/* Whether one event may concern the key files. */
static bool event_matters(const struct watch_set *ws, const struct inotify_event *ev,
			  const char *const *names, size_t n)
{
	if (ev->mask & (IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))
		return true;
	if (ev->wd == ws->home_wd)
		return ev->len > 0 && strcmp(ev->name, ".ssh") == 0;
	if (ev->wd == ws->ssh_wd)
		return ev->len > 0 && name_watched(ev->name, names, n);
	return true; /* a file's own watch */
}

static void tell(int wfd, char c)
{
	/* Non-blocking: a byte already waiting says the same. */
	if (write(wfd, &c, 1) < 0 && errno != EAGAIN)
		_exit(1);
}

static _Noreturn void watcher_main(int wfd, const struct account *acct,
				   const gid_t *groups, size_t ngroups,
				   const char *const *names, size_t n)
{
	struct watch_set ws = { .fd = -1 };
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	become_reset_signals();
	wfd = become_isolate(wfd);
	if (wfd < 0 || become_fs_account(acct, groups, ngroups) < 0)
		_exit(1);
	tell(wfd, watch_arm(&ws, acct, names, n) ? 'W' : 'E');
	for (;;) {
		struct pollfd pfd = { .fd = ws.fd, .events = POLLIN };
		bool matters = false;
		ssize_t len;

		if (poll(&pfd, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		while ((len = read(ws.fd, buf, sizeof(buf))) > 0) {
			for (char *p = buf; p < buf + len;) {
				const struct inotify_event *ev = (const void *)p;

				matters = matters || event_matters(&ws, ev, names, n);
				p += sizeof(*ev) + ev->len;
			}
		}
		if (len < 0 && errno != EAGAIN && errno != EINTR)
			_exit(1);
		if (!matters)
			continue;
		/* Watches first, then the word: a change after this is seen
		 * again, one before it is in what the daemon reads next. */
		watch_arm(&ws, acct, names, n);
		tell(wfd, 'W');
	}
}

int userwatch_start(const struct account *acct, const char *const *names,
		    size_t n, pid_t *pid, int *fd, const char **why)
{
	gid_t *groups = NULL;
	size_t ngroups = 0;
	int p[2] = { -1, -1 }, r;
	pid_t child;

	*pid = -1;
	*fd = -1;
	r = account_groups(acct, &groups, &ngroups);
	if (r < 0) {
		*why = "looking up the account's groups failed";
		return r;
	}
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		r = -errno;
		*why = "could not start the process that watches the account's keys";
		free(groups);
		return r;
	}
	child = fork();
	if (child < 0) {
		r = -errno;
		*why = "could not start the process that watches the account's keys";
		close(p[0]);
		close(p[1]);
		free(groups);
		return r;
	}
	if (child == 0) {
		close(p[0]);
		watcher_main(p[1], acct, groups, ngroups, names, n);
	}
	close(p[1]);
	free(groups);
	*pid = child;
	*fd = p[0];
	return 0;
}

void userwatch_stop(pid_t pid, int fd)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (fd >= 0)
		close(fd);
}

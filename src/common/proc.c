/* Running a program without a shell and collecting its output, with a deadline. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "timeutil.h"

struct capture {
	int fd;
	char *buf;
	size_t len, cap;
	bool truncated;
};

/* Read what is there; returns 1 at end of stream, 0 for more, -errno. */
static int capture_read(struct capture *c)
{
	char chunk[4096];
	ssize_t n = read(c->fd, chunk, sizeof(chunk));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (n == 0)
		return 1;
	if (c->len + (size_t)n > PROC_OUTPUT_MAX) {
		c->truncated = true;
		n = (ssize_t)(PROC_OUTPUT_MAX - c->len);
	}
	if (c->len + (size_t)n + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 8192;
		char *grown;

		while (cap < c->len + (size_t)n + 1)
			cap *= 2;
		grown = realloc(c->buf, cap);
		if (!grown)
			return -ENOMEM;
		c->buf = grown;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, chunk, (size_t)n);
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	return 0;
}

static int capture_finish(struct capture *c, char **out, size_t *len)
{
	if (!c->buf) {
		c->buf = strdup("");
		if (!c->buf)
			return -ENOMEM;
	}
	*out = c->buf;
	*len = c->len;
	c->buf = NULL;
	return 0;
}

/* Read both streams until both end or the deadline passes. */
static int capture_both(struct capture *out, struct capture *err,
			int64_t deadline)
{
	struct capture *c[2] = { out, err };
	bool open[2] = { true, true };
	int r;

	while (open[0] || open[1]) {
		struct pollfd pfd[2];
		nfds_t n = 0;
		size_t which[2];
		int64_t left = deadline - time_monotonic_ms();

		if (left <= 0)
			return -ETIMEDOUT;
		for (size_t i = 0; i < 2; i++) {
			if (!open[i])
				continue;
			pfd[n] = (struct pollfd){ .fd = c[i]->fd, .events = POLLIN };
			which[n++] = i;
		}
		r = poll(pfd, n, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		for (nfds_t k = 0; k < n; k++) {
			if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = capture_read(c[which[k]]);
			if (r < 0)
				return r;
			if (r == 1)
				open[which[k]] = false;
		}
	}
	return 0;
}

/*
 * Reap pid once it exits, or give up at the deadline (-ETIMEDOUT, not
 * reaped). A program that closed its output may still linger; it gets
 * the rest of its time, looked at every 10 ms.
 */
static int wait_until(pid_t pid, int64_t deadline, int *status)
{
	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);
		struct timespec pause = { 0, 10 * 1000 * 1000 };

		if (w == pid)
			return 0;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (time_monotonic_ms() >= deadline)
			return -ETIMEDOUT;
		if (w == 0)
			nanosleep(&pause, NULL);
	}
}

int proc_run(const char *const argv[], unsigned timeout,
	     struct proc_output *res, const char **why)
{
	static char *const env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
				     "LC_ALL=C", NULL };
	int out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 };
	struct capture out = { .fd = -1 }, err = { .fd = -1 };
	posix_spawn_file_actions_t actions;
	posix_spawnattr_t attr;
	bool actions_made = false, attr_made = false;
	sigset_t none, all;
	int64_t deadline;
	pid_t pid = -1;
	int r, status = 0;

	memset(res, 0, sizeof(*res));
	if (!timeout)
		timeout = PROC_TIMEOUT_DEFAULT;
	if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
		r = -errno;
		*why = "creating a pipe failed";
		goto out;
	}
	r = posix_spawn_file_actions_init(&actions);
	if (r != 0) {
		r = -r;
		*why = "preparing to start a program failed";
		goto out;
	}
	actions_made = true;
	r = posix_spawnattr_init(&attr);
	if (r != 0) {
		r = -r;
		*why = "preparing to start a program failed";
		goto out;
	}
	attr_made = true;
	sigemptyset(&none);
	sigfillset(&all);
	r = posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
					     O_RDONLY, 0);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(&actions, out_pipe[1],
						     STDOUT_FILENO);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(&actions, err_pipe[1],
						     STDERR_FILENO);
	/* The daemon blocks signals for its signalfd and may ignore SIGPIPE;
	 * neither must leak into the program. */
	if (r == 0)
		r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
							    POSIX_SPAWN_SETSIGDEF);
	if (r == 0)
		r = posix_spawnattr_setsigmask(&attr, &none);
	if (r == 0)
		r = posix_spawnattr_setsigdefault(&attr, &all);
	if (r != 0) {
		r = -r;
		*why = "preparing to start a program failed";
		goto out;
	}
	r = posix_spawn(&pid, argv[0], &actions, &attr, (char *const *)argv, env);
	if (r != 0) {
		pid = -1;
		r = -r;
		*why = "starting the program failed";
		goto out;
	}
	close(out_pipe[1]);
	close(err_pipe[1]);
	out_pipe[1] = err_pipe[1] = -1;
	out.fd = out_pipe[0];
	err.fd = err_pipe[0];
	deadline = time_monotonic_ms() + (int64_t)timeout * 1000;
	r = capture_both(&out, &err, deadline);
	if (r == 0)
		r = wait_until(pid, deadline, &status);
	if (r == -ECHILD) {
		/* Reaped behind our back (SIGCHLD ignored): the pid may be
		 * someone else's by now, so it is not signalled. */
		*why = "the program was reaped by someone else";
	} else if (r < 0) {
		/* Our own child, not yet reaped: its pid cannot be reused. */
		kill(pid, SIGKILL);
		*why = r == -ETIMEDOUT ?
			       "the program did not finish in time and was killed" :
			       "reading the program's output failed";
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	pid = -1;
	res->status = status;
	res->truncated = out.truncated || err.truncated;
	{
		int r2 = capture_finish(&out, &res->out, &res->out_len);

		if (r2 == 0)
			r2 = capture_finish(&err, &res->err, &res->err_len);
		if (r2 < 0 && r == 0) {
			r = r2;
			*why = "reading the program's output failed";
		}
	}
out:
	if (actions_made)
		posix_spawn_file_actions_destroy(&actions);
	if (attr_made)
		posix_spawnattr_destroy(&attr);
	for (size_t i = 0; i < 2; i++) {
		if (out_pipe[i] >= 0)
			close(out_pipe[i]);
		if (err_pipe[i] >= 0)
			close(err_pipe[i]);
	}
	free(out.buf);
	free(err.buf);
	return r;
}

void proc_output_finish(struct proc_output *res)
{
	if (!res)
		return;
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
	res->out_len = res->err_len = 0;
}

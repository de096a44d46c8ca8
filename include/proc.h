/*
 * Running a program and collecting what it prints: without a shell, with a
 * clean environment and a bounded time. Used for sshd -T and -V (sshd) and
 * for timedatectl (doctor).
 *
 * proc_run waits for its own child by pid: callers must not reap children
 * they did not start (no SIGCHLD = SIG_IGN).
 */
#ifndef SSHLEASE_PROC_H
#define SSHLEASE_PROC_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

/* Seconds a program may run when the caller gives 0. */
#define PROC_TIMEOUT_DEFAULT 5
/* Most bytes kept of a program's stdout and of its stderr. */
#define PROC_OUTPUT_MAX (256 * 1024)

/* What a program run by proc_run left behind. */
struct proc_output {
	char *out;      /* stdout, NUL-terminated (never NULL after a run) */
	size_t out_len;
	char *err;      /* stderr, NUL-terminated (never NULL after a run) */
	size_t err_len;
	int status;     /* as waitpid(2) reports it */
	bool truncated; /* a stream passed PROC_OUTPUT_MAX; the rest was dropped */
};

/*
 * Run argv[0] (an absolute path) with argv, without a shell: stdin is
 * /dev/null, the environment is only PATH=/usr/sbin:/usr/bin:/sbin:/bin and
 * LC_ALL=C, the signal mask is empty and dispositions are the defaults.
 * stdout and stderr are collected into *res. After timeout seconds (0 =
 * PROC_TIMEOUT_DEFAULT) the child is killed (SIGKILL) and reaped.
 * Returns 0 when the program ran and exited (any exit status: see
 * res->status), -ETIMEDOUT when it was killed, -errno when it could not be
 * started (*why names the step; a missing program is -ENOENT). On every
 * return *res must be released with proc_output_finish.
 */
int proc_run(const char *const argv[], unsigned timeout,
	     struct proc_output *res, const char **why);

/* Free what proc_run collected; res may be NULL. */
void proc_output_finish(struct proc_output *res);

#endif

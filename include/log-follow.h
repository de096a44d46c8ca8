/*
 * Following a log as it grows: a file such as /var/log/auth.log or a test
 * sshd's `-E` file, read line by line from where it ended when following
 * began, through rotation and truncation, without polling.
 *
 * The contract of a source of log lines. This file's follower keeps it; a
 * journal source (sd-journal: sd_journal_get_fd, sd_journal_process, the
 * MESSAGE and trusted _PID fields) is to keep the same one, so the daemon's
 * loop does not care which it has:
 *   - *_fd() is one file descriptor, the same for the source's life, to
 *     poll for POLLIN. The source arms no timer and wakes nobody while the
 *     log is idle.
 *   - Right after opening, and whenever the fd polls readable, the caller
 *     calls *_next() until it returns -EAGAIN, and only then polls again.
 *     *_next() never blocks.
 *   - *_next() gives complete lines (a line is complete at its "\n"; a
 *     last line without one waits), each once, in the order written,
 *     without the "\n". The text is NUL-terminated, at most the source's
 *     line_max bytes, and valid until the next call or the free.
 *   - Positive returns are outcomes to handle, never passed up: a line
 *     that could not be delivered is skipped and said so (SL_REFUSED with
 *     *why, once per line), and the next call goes on.
 */
#ifndef SSHLEASE_LOG_FOLLOW_H
#define SSHLEASE_LOG_FOLLOW_H

#include <stddef.h>
#include <sys/types.h>

#include "common.h"

/* The largest line_max a follower takes. */
#define LOG_FOLLOW_LINE_MAX_LIMIT (1024 * 1024)

/* One line from a source. */
struct log_line {
	const char *text; /* NUL-terminated, no "\n"; owned by the source */
	size_t len;
	pid_t pid;        /* the writer's pid as the kernel told the source
			     (the journal's _PID); 0 when the source cannot
			     know it (a file) */
	time_t time;      /* when it was written, as the source knows it
			     (the journal's); 0 when it cannot (a file) */
};

struct log_follow;

/*
 * Follow the regular file at path (absolute). Lines already in it are not
 * given: following starts at its end (a last line without "\n" there is
 * skipped whole, since its start was before). When there is no file at
 * path yet, following waits for one and reads it from its beginning.
 *
 * A file is followed only when it is a regular file owned by root or by
 * this process's effective uid and not writable by group or others: a
 * line in it is believed (whoever may write the file may write "Accepted
 * publickey ..."). The directory must exist.
 *
 * Rotation: when path comes to name another file (rename and create, as
 * logrotate and rsyslog do), the rest of the old file is read to its end,
 * then the new one from its beginning; what a writer adds to the old file
 * after that is not seen (sshd -E never reopens its file: rotate it with
 * copytruncate). A partial last line of the old file is dropped. A new
 * file that is not trusted (as above) is refused once (SL_REFUSED from
 * log_follow_next) and not read; following stays on the old one until
 * another file takes the name. Truncation (copytruncate): when the file is
 * shorter than what was read, it is read again from its beginning. A file
 * truncated and written past the old length between two calls is not
 * noticed as truncated.
 *
 * line_max: 1..LOG_FOLLOW_LINE_MAX_LIMIT. Returns 0 with a new *out
 * (log_follow_free), SL_REFUSED with *why (a relative path, line_max out
 * of range, a file that is not trusted), -ENOMEM, or -errno (-ENOENT: no
 * such directory) with *why naming the step.
 */
int log_follow_open(const char *path, size_t line_max, struct log_follow **out,
		    const char **why);

/* The fd to poll (inotify's); owned by the follower. */
int log_follow_fd(const struct log_follow *follow);

/*
 * The next complete line (see the contract above). Returns 0 with *line;
 * -EAGAIN when there is none now; SL_REFUSED with *why when a line longer
 * than line_max was skipped, or a new file at path was refused; -errno
 * when reading failed (*why names the step; the follower stays usable).
 */
int log_follow_next(struct log_follow *follow, struct log_line *line,
		    const char **why);

void log_follow_free(struct log_follow *follow);

#endif

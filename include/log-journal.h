/*
 * sshd's messages in the systemd journal as a source of log lines, with
 * the contract of log-follow.h: one fd to poll, complete lines in order,
 * no timer. The journal records who sent each message, so a line carries
 * the sender's pid (_PID), which no other process can claim.
 */
#ifndef SSHLEASE_LOG_JOURNAL_H
#define SSHLEASE_LOG_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"
#include "log-follow.h"

struct log_journal;

/* Whether this build can read the journal (libsystemd). */
bool log_journal_available(void);

/*
 * Follow the local system journal's messages from sshd (_COMM "sshd" or
 * "sshd-session", OpenSSH >= 9.8) running as root, from its end (since 0:
 * entries already there are not given) or from the first entry at or
 * after since (so a restarted daemon reads the logins made while it was
 * down). line_max: 1..LOG_FOLLOW_LINE_MAX_LIMIT. Returns 0 with a new
 * *out (log_journal_free); SL_REFUSED with *why (line_max out of range);
 * -EOPNOTSUPP with *why in a build without the journal; -errno with *why
 * naming the step.
 */
int log_journal_open(size_t line_max, time_t since, struct log_journal **out,
		     const char **why);

/* The fd to poll (sd_journal_get_fd's); owned by the source. */
int log_journal_fd(const struct log_journal *journal);

/*
 * The next entry's MESSAGE as a line (log-follow.h's contract; line->pid is
 * the entry's _PID, 0 when it has none; line->time its time). -EAGAIN when there is none now;
 * SL_REFUSED with *why when an entry had no MESSAGE or one longer than
 * line_max, or one with a NUL or a newline in it (skipped); -errno.
 */
int log_journal_next(struct log_journal *journal, struct log_line *line,
		     const char **why);

void log_journal_free(struct log_journal *journal);

#endif

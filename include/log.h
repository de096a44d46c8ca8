/* Logging for both programs: stderr for the CLI and tests, the journal (or
 * syslog) for the daemon. Every macro keeps errno intact. */
#ifndef SSHLEASE_LOG_H
#define SSHLEASE_LOG_H

#include <stdbool.h>
#include <syslog.h>

#include "common.h"

enum log_target {
	LOG_TARGET_STDERR, /* "ident: message" on stderr */
	LOG_TARGET_SYSLOG, /* the journal (sd_journal_send) when built with
			      libsystemd, else syslog(3) */
};

/* ident is kept by pointer and must outlive logging. */
void log_init(const char *ident, enum log_target target, int max_priority);

/* Text that came from outside must be length-capped in the format (%.200s)
 * and passed through log_safe() or key comment sanitising first. */
void log_msg(int priority, const char *file, int line, const char *fmt, ...)
	SL_PRINTF(4, 5);

/* What a journal reader can match an event by (journalctl
 * SSHLEASE_GRANT=ID); any may be NULL. Outside text must be made safe as
 * for a message. */
struct log_fields {
	const char *event; /* SSHLEASE_EVENT: the audit event's name */
	const char *grant; /* SSHLEASE_GRANT: the grant id */
	const char *user;  /* SSHLEASE_USER: the account */
};

/* A message longer than this is cut (more than any sentence
 * of the daemon's, with every outside string capped). */
#define LOG_MESSAGE_MAX 4096

/* log_msg with the event's fields: in the journal (built with libsystemd,
 * target LOG_TARGET_SYSLOG) as SSHLEASE_EVENT=, SSHLEASE_GRANT= and
 * SSHLEASE_USER= (empty when NULL); elsewhere the message alone. */
void log_event(int priority, const struct log_fields *fields, const char *file,
	       int line, const char *fmt, ...) SL_PRINTF(5, 6);

#define log_err(...) log_msg(LOG_ERR, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __FILE__, __LINE__, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)

/* Ends a cut text, so that nobody reads it as whole. */
#define LOG_CUT_MARK "..."

/* Copy src into dst (size > 0), replacing every byte that is not printable
 * ASCII with '?', so text from outside cannot carry terminal escapes. When
 * src does not fit, the copy ends at a word's end close to the limit (the
 * space dropped) followed by LOG_CUT_MARK, never mid-word unless a word is
 * longer than 40 bytes (a size under 5 cuts without the mark). Returns
 * dst. */
char *log_safe(char *dst, size_t size, const char *src);

#endif

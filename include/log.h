/* Logging for both programs: stderr for the CLI and tests, syslog/journald
 * for the daemon. Every macro keeps errno intact. */
#ifndef SSHLEASE_LOG_H
#define SSHLEASE_LOG_H

#include <stdbool.h>
#include <syslog.h>

#include "common.h"

enum log_target {
	LOG_TARGET_STDERR, /* "ident: message" on stderr */
	LOG_TARGET_SYSLOG, /* syslog(3); journald picks it up */
};

/* ident is kept by pointer and must outlive logging. */
void log_init(const char *ident, enum log_target target, int max_priority);

/* Text that came from outside must be length-capped in the format (%.200s)
 * and passed through log_safe() or key comment sanitising first. */
void log_msg(int priority, const char *file, int line, const char *fmt, ...)
	SL_PRINTF(4, 5);

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

/* Logging to stderr, the journal or syslog, keeping errno for the caller. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "build-config.h"
#include "log.h"

#if SSHLEASE_JOURNAL
#include <systemd/sd-journal.h>
#endif

/* How far back a cut looks for a space to end at. */
#define LOG_CUT_BACKTRACK 40

static const char *log_ident = "sshlease";
static enum log_target log_to = LOG_TARGET_STDERR;
static int log_max = LOG_INFO;

void log_init(const char *ident, enum log_target target, int max_priority)
{
	log_ident = ident;
	log_to = target;
	log_max = max_priority;
	if (target == LOG_TARGET_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
}

#if SSHLEASE_JOURNAL
static const char *or_empty(const char *s)
{
	return s ? s : "";
}
#endif

/* Send one formatted message with the event's fields (NULL for a message
 * that is no event), keeping errno. */
static void SL_PRINTF(5, 0) log_send(int priority, const struct log_fields *fields,
				      const char *file, int line, const char *fmt,
				      va_list ap)
{
	int saved_errno = errno;
	char buf[LOG_MESSAGE_MAX];

	if (priority > log_max)
		goto out;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (log_to == LOG_TARGET_SYSLOG) {
#if SSHLEASE_JOURNAL
		static const struct log_fields none;
		const struct log_fields *f = fields ? fields : &none;

		/* LOG_AUTHPRIV, as openlog below: the facility of sshd's own
		 * lines. An event carries all three fields, empty when it has
		 * no grant or account, so that every event can be matched; a
		 * message that is no event ends the list before them. */
		if (sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%d", priority,
				    "SYSLOG_FACILITY=%d", LOG_AUTHPRIV >> 3,
				    "SYSLOG_IDENTIFIER=%s", log_ident,
				    "CODE_FILE=%s", file, "CODE_LINE=%d", line,
				    fields ? "SSHLEASE_EVENT=%s" : NULL, or_empty(f->event),
				    "SSHLEASE_GRANT=%s", or_empty(f->grant),
				    "SSHLEASE_USER=%s", or_empty(f->user),
				    NULL) >= 0)
			goto out;
		/* No journal to reach: syslog still may be. */
#endif
		syslog(priority, "%s", buf);
	} else if (log_max >= LOG_DEBUG) {
		fprintf(stderr, "%s: %s (%s:%d)\n", log_ident, buf, file, line);
	} else {
		fprintf(stderr, "%s: %s\n", log_ident, buf);
	}
out:
	errno = saved_errno;
}

void log_msg(int priority, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_send(priority, NULL, file, line, fmt, ap);
	va_end(ap);
}

void log_event(int priority, const struct log_fields *fields, const char *file,
	       int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_send(priority, fields, file, line, fmt, ap);
	va_end(ap);
}

char *log_safe(char *dst, size_t size, const char *src)
{
	size_t i, keep;

	for (i = 0; i + 1 < size && src[i] != '\0'; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	dst[i] = '\0';
	if (src[i] == '\0' || size < sizeof(LOG_CUT_MARK) + 1)
		return dst;
	/* Cut: end at a word's end when one is near, and say so. */
	keep = size - sizeof(LOG_CUT_MARK);
	for (size_t j = keep; j > 0 && keep - j < LOG_CUT_BACKTRACK; j--) {
		if (dst[j] == ' ') {
			keep = j;
			break;
		}
	}
	memcpy(dst + keep, LOG_CUT_MARK, sizeof(LOG_CUT_MARK));
	return dst;
}

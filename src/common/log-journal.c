/* sshd's messages in the systemd journal, followed through sd-journal. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "build-config.h"
#include "log-journal.h"

#if SSHLEASE_JOURNAL
#include <systemd/sd-journal.h>

struct log_journal {
	sd_journal *j;
	int fd;
	size_t line_max;
	char *buf; /* line_max + 1 */
};

bool log_journal_available(void)
{
	return true;
}

int log_journal_open(size_t line_max, time_t since, struct log_journal **out,
		     const char **why)
{
	struct log_journal *lj = NULL;
	int r;

	if (line_max < 1 || line_max > LOG_FOLLOW_LINE_MAX_LIMIT) {
		*why = "line_max out of range";
		return SL_REFUSED;
	}
	lj = calloc(1, sizeof(*lj));
	if (!lj || !(lj->buf = malloc(line_max + 1))) {
		r = -ENOMEM;
		*why = "out of memory";
		goto out;
	}
	lj->line_max = line_max;
	lj->fd = -1;
	r = sd_journal_open(&lj->j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
	if (r < 0) {
		*why = "opening the journal";
		goto out;
	}
	/* Two matches on one field are alternatives; matches on different
	 * fields must all hold. _COMM and _UID are journald's, from the
	 * kernel: a user's program named sshd writes entries too, as that
	 * user. */
	r = sd_journal_add_match(lj->j, "_COMM=sshd", 0);
	if (r >= 0)
		r = sd_journal_add_match(lj->j, "_COMM=sshd-session", 0);
	if (r >= 0)
		r = sd_journal_add_match(lj->j, "_UID=0", 0);
	if (r < 0) {
		*why = "matching sshd's entries";
		goto out;
	}
	if (since > 0) {
		r = sd_journal_seek_realtime_usec(lj->j, (uint64_t)since * 1000000u);
	} else {
		/* At the end, one back: the next entry is the first new one. */
		r = sd_journal_seek_tail(lj->j);
		if (r >= 0)
			r = sd_journal_previous(lj->j);
	}
	if (r < 0) {
		*why = "seeking to the journal's end";
		goto out;
	}
	r = sd_journal_get_fd(lj->j);
	if (r < 0) {
		*why = "the journal's fd";
		goto out;
	}
	lj->fd = r;
	*out = lj;
	lj = NULL;
	r = 0;
out:
	log_journal_free(lj);
	return r;
}

int log_journal_fd(const struct log_journal *lj)
{
	return lj->fd;
}

/* The value of field in the current entry, without "FIELD=": 0, -ENOENT. */
static int entry_field(sd_journal *j, const char *field, const char **value,
		       size_t *len)
{
	size_t prefix = strlen(field) + 1;
	const void *data;
	size_t size;
	int r;

	r = sd_journal_get_data(j, field, &data, &size);
	if (r < 0)
		return r;
	if (size < prefix)
		return -EBADMSG;
	*value = (const char *)data + prefix;
	*len = size - prefix;
	return 0;
}

int log_journal_next(struct log_journal *lj, struct log_line *line,
		     const char **why)
{
	const char *message = NULL, *pid_text = NULL;
	size_t len = 0, pid_len = 0;
	long long pid = 0;
	uint64_t usec = 0;
	int r;

	r = sd_journal_next(lj->j);
	if (r == 0) {
		/* Caught up: take in what woke us (new files, rotation), so
		 * the fd is quiet until more is written, and look once more. */
		r = sd_journal_process(lj->j);
		if (r < 0) {
			*why = "sd_journal_process";
			return r;
		}
		r = sd_journal_next(lj->j);
		if (r == 0)
			return -EAGAIN;
	}
	if (r < 0) {
		*why = "reading the journal";
		return r;
	}
	r = entry_field(lj->j, "MESSAGE", &message, &len);
	if (r < 0) {
		*why = "an sshd entry without a MESSAGE";
		return SL_REFUSED;
	}
	if (len > lj->line_max || memchr(message, '\0', len) || memchr(message, '\n', len)) {
		*why = "an sshd entry whose MESSAGE is too long or holds a NUL or a newline";
		return SL_REFUSED;
	}
	if (entry_field(lj->j, "_PID", &pid_text, &pid_len) == 0) {
		for (size_t i = 0; i < pid_len && pid_len < 11; i++) {
			if (pid_text[i] < '0' || pid_text[i] > '9') {
				pid = 0;
				break;
			}
			pid = pid * 10 + (pid_text[i] - '0');
		}
	}
	if (sd_journal_get_realtime_usec(lj->j, &usec) < 0)
		usec = 0;
	memcpy(lj->buf, message, len);
	lj->buf[len] = '\0';
	*line = (struct log_line){
		.text = lj->buf,
		.len = len,
		.pid = pid > 0 && pid <= 0x3fffffff ? (pid_t)pid : 0,
		.time = (time_t)(usec / 1000000u),
	};
	return 0;
}

void log_journal_free(struct log_journal *lj)
{
	if (!lj)
		return;
	if (lj->j)
		sd_journal_close(lj->j);
	free(lj->buf);
	free(lj);
}

#else /* !SSHLEASE_JOURNAL */

struct log_journal {
	int unused;
};

bool log_journal_available(void)
{
	return false;
}

int log_journal_open(size_t line_max, time_t since, struct log_journal **out,
		     const char **why)
{
	(void)line_max;
	(void)out;
	*why = "sshlease was built without the journal (libsystemd)";
	return -EOPNOTSUPP;
}

int log_journal_fd(const struct log_journal *lj)
{
	(void)lj;
	return -1;
}

int log_journal_next(struct log_journal *lj, struct log_line *line,
		     const char **why)
{
	(void)lj;
	(void)line;
	(void)why;
	return -EAGAIN;
}

void log_journal_free(struct log_journal *lj)
{
	free(lj);
}

#endif

/*
 * The audit trail: one JSON object per line, each carrying `prev`, the
 * BLAKE2b-256 (hex) of the previous line's bytes, so an edit, deletion,
 * reorder or truncation breaks the chain (DESIGN.md §8). A head file beside
 * the log (<audit_log>.head: "seq hash") records the last line written, so
 * that losing whole lines at the end is detected too.
 */
#ifndef SSHLEASE_AUDIT_H
#define SSHLEASE_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "common.h"

/* Fields of one event; NULL strings / 0 times / by_uid < 0 are omitted. */
struct audit_event {
	const char *event; /* grant, extend, revoke, expire, refuse, start, stop,
			      remove-orphan, line-missing */
	const char *id;
	const char *user;
	const char *key_type;
	const char *fingerprint;
	const char *ticket;
	time_t expires;
	const char *from;
	const char *mode;
	long long by_uid;  /* < 0: none */
	const char *by_user;
	const char *reason;
	const char *signer;
};

struct audit_log;

/*
 * Open (creating 0640 if missing) the log at path for appending, reading its
 * last line to continue seq and the chain. Refuses (SL_REFUSED, *why) a log
 * whose last line is damaged rather than continuing a broken chain.
 */
int audit_open(const char *path, struct audit_log **out, const char **why);

/* Append one event, stamped with now, and fsync it. 0 or -errno. */
int audit_append(struct audit_log *log, const struct audit_event *event,
		 time_t now);

void audit_close(struct audit_log *log);

/*
 * Check the whole chain of the log at path (and its head file when present).
 * Returns 0 when intact (*lines = number of lines); SL_REFUSED when broken,
 * with *bad_line = the first line (1-based) where it breaks and *why;
 * -errno when it cannot be read.
 */
int audit_verify(const char *path, unsigned long *lines,
		 unsigned long *bad_line, const char **why);

/*
 * Read the log's records into a new JSON array in *out, keeping only those
 * for grant id (NULL = all) at or after since (0 = all). 0 or -errno.
 */
int audit_read(const char *path, const char *id, time_t since, json_t **out);

/* The one-sentence syslog form of an event (for the journal). */
void audit_sentence(const struct audit_event *event, char *buf, size_t size);

#endif

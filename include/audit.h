/*
 * The audit trail: one JSON object per line, each carrying `prev`, the
 * BLAKE2b-256 (hex) of the previous line's bytes, so an edit, deletion,
 * reorder or truncation breaks the chain (DESIGN.md §8). A head file beside
 * the log (<audit_log>.head: "seq hash") records the last line written, so
 * that losing whole lines at the end is detected too.
 *
 * A line, compact JSON in pure ASCII (other text is \u-escaped), keys in
 * this order, absent fields left out:
 *   {"seq":1,"time":"2026-12-01T17:00:00Z","event":"grant","id":...,
 *    "user","key_type","fingerprint","ticket","expires" (RFC 3339 UTC),
 *    "from","mode","by_uid","by_user","reason","signer",
 *    "address","port","pid","since" (RFC 3339 UTC),"duration" (seconds),
 *    "prev":"<64 hex>"}
 * seq starts at 1 and grows by one; the first line's prev is 64 zeros.
 *
 * Rotation (audit_set_rotate): a log that has reached its size moves to
 * <log>.<seq of its last line> and the chain goes on in a new file at
 * <log>, whose first line, an "audit_rotated" record, has the next seq and
 * the hash of the moved file's last line as its prev. Readers and
 * audit_verify follow the chain through every file, oldest first.
 */
#ifndef SSHLEASE_AUDIT_H
#define SSHLEASE_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "common.h"

/* Longest line audit_open accepts as the last one (ours stay far below:
 * every string field is cut to 1 KiB). */
#define AUDIT_LINE_MAX (128 * 1024)

/* A login with a grant's key, for session_start and session_end. */
struct audit_session {
	const char *who;     /* the key's comment, for the sentence only; may
				be NULL */
	const char *address; /* the client's */
	unsigned port;
	long long pid;       /* the connection's monitor; 0: none found */
	time_t since;        /* the login */
	long long duration;  /* seconds, at session_end; < 0: omitted */
	const char *kind;    /* "shell", "command", "sftp"..., comma-separated,
				when sshd logged it; NULL: omitted */
};

/* Fields of one event; NULL strings / 0 times / by_uid < 0 are omitted. */
struct audit_event {
	const char *event; /* grant, extend, revoke, expire, refuse, start, stop,
			      remove-orphan, line-missing, session_start,
			      session_end */
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
	const char *report; /* a grant's end: what happened during it */
	const struct audit_session *session; /* NULL: not about a login */
};

struct audit_log;

/*
 * Open (creating 0640 if missing) the log at path for appending, reading its
 * last line to continue seq and the chain. The log's directory is created
 * (0750) when missing, but not its parents. Takes an exclusive flock on the
 * log: one writer at a time. Refuses (SL_REFUSED, *why) rather than
 * continuing a broken chain or overwriting the evidence of one:
 *   - a last line that is incomplete (no final newline) or not a record;
 *   - a .head file that is malformed, ahead of the log, or names another
 *     last line (whole lines lost or the last line changed);
 *   - a symlink, a non-regular or hard-linked file, a file or directory
 *     others may write, a log already open by another process.
 * A head one or more lines behind the log (a crash or failed update between
 * appending and updating the head) or missing (a log from before head
 * files) is rewritten. Only the last line is read: the whole chain is
 * checked by audit_verify. 0 with a new log in *out, or -errno.
 */
int audit_open(const char *path, struct audit_log **out, const char **why);

/*
 * Rotate the log once it holds size bytes or more (0: never): checked
 * before each append. The rename and the new file are made durable before
 * the new file's first record; a crash between the two leaves a missing or
 * empty log whose head names the last line of <log>.<seq>, and audit_open
 * continues the chain from there. A rotation that fails is logged once and
 * tried again at the next append; the records go on in the full file.
 */
void audit_set_rotate(struct audit_log *log, off_t size);

/* Smallest rotation size accepted by the configuration. */
#define AUDIT_ROTATE_MIN (4 * 1024)

/*
 * The files of the log at path, oldest first: those rotated away
 * (<path>.<seq of their last line>, in seq order), then path itself
 * (listed even when it does not exist). A new array of new strings in
 * *files, *n entries (free with audit_files_free). 0 or -errno.
 */
int audit_files(const char *path, char ***files, size_t *n);
void audit_files_free(char **files, size_t n);

/* Records held in memory at most while the log cannot be written. */
#define AUDIT_HELD_MAX 10000

/*
 * Append one event (event->event must be set; -EINVAL otherwise), stamped
 * with now, in one write(2), then fsync it and update the .head file
 * atomically. Returns 0 once the line is durable, even when the head could
 * not be updated (that is logged; the head then lags, which audit_open and
 * audit_verify accept). A short write is cut back off the file (-ENOSPC).
 * A record that cannot be written (a full disk, a failed fsync: -errno) is
 * held in memory (at most AUDIT_HELD_MAX; past that only counted), and the
 * next append that can write first writes an "audit_gap" record (how many,
 * from when to when, why, and whether more were lost), then the held
 * records with their own times, then its own. After a failed fsync the
 * log is opened again first (what reached the disk is unknown until then).
 */
int audit_append(struct audit_log *log, const struct audit_event *event,
		 time_t now);

/* Records held back (audit_append), not yet written. */
size_t audit_held(const struct audit_log *log);

/* The seq of the last line (0 for an empty log). */
unsigned long long audit_last_seq(const struct audit_log *log);

/* The hash of the last line (64 zeros for an empty log). */
const char *audit_last_hash(const struct audit_log *log);

/* The event of the line that was last when the log was opened ("stop"
 * after a clean stop of the daemon; "" for an empty log). */
const char *audit_opened_after(const struct audit_log *log);

void audit_close(struct audit_log *log);

/*
 * Check the whole chain of the log at path (and its head file when present).
 * Returns 0 when intact (*lines = number of lines); SL_REFUSED when broken,
 * with *bad_line = the first line (1-based) where it breaks and *why;
 * -errno when it cannot be read. Any of lines, bad_line, why may be NULL.
 * Where a break is reported:
 *   - a line that is not a JSON record, or lacks seq/time/event/prev: that
 *     line;
 *   - an edit that keeps the line a valid record: the NEXT line, whose prev
 *     no longer matches ("the previous line was changed"); an edit of the
 *     last line is caught by the head instead (bad_line = that line);
 *   - a deleted, inserted or swapped line: the first position whose seq and
 *     prev are both wrong;
 *   - a last line without its newline: that line;
 *   - whole lines missing at the end (the head names a later seq): the
 *     first missing line, lines + 1; a malformed head likewise.
 * An empty log is intact (0 lines) unless its head names a line. Without a
 * head file (a log from before them) only the chain is checked, and lines
 * cut off the end go unnoticed. A head behind the log is fine as long as
 * the line it names matches.
 */
int audit_verify(const char *path, unsigned long *lines,
		 unsigned long *bad_line, const char **why);

/* Where audit_verify_chain found the chain broken, or what it checked. */
struct audit_check {
	unsigned long lines;    /* records checked, in every file */
	size_t files;           /* files checked */
	unsigned long bad_line; /* 1-based, in bad_file */
	char bad_file[256];     /* the file's name, without its directory */
	const char *why;
};

/*
 * audit_verify over the whole chain: every rotated file (audit_files),
 * oldest first, then the log itself, each continuing the one before it
 * (seq and prev across the boundary). The oldest file must begin the chain
 * (seq 1): a file missing at the start, or between two others, breaks it
 * where it is missing. Same returns as audit_verify; bad_line counts lines
 * of bad_file.
 */
int audit_verify_chain(const char *path, struct audit_check *check);

/*
 * Read the log's records into a new JSON array in *out, keeping only those
 * for grant id (NULL = all) stamped at or after since (0 = all). A final
 * line without newline is skipped; any other line that is not a JSON object
 * gives -EBADMSG (audit_verify says where). 0 or -errno.
 */
int audit_read(const char *path, const char *id, time_t since, json_t **out);

/* What audit_read_page reads: records before seq before (0: up to the
 * newest), for grant id (NULL: all), stamped at or after since (0: any),
 * as many of the newest as fit in budget by size (at least one). */
struct audit_page {
	const char *id;
	time_t since;
	unsigned long long before;
	size_t budget;
	size_t (*size)(const json_t *record);
};

/*
 * One page of the log, read backwards from its end so that it costs what
 * the page holds (and the records skipped to reach it), not the whole log:
 * the newest records page selects, oldest first, in a new array in *out;
 * *more when an older one that page selects was left out. The read stops
 * at the first record older than since (records are appended in time
 * order). A final line without newline is skipped; a damaged line on the
 * way gives -EBADMSG. 0 or -errno.
 */
int audit_read_page(const char *path, const struct audit_page *page, json_t **out, bool *more);

/*
 * The one-sentence syslog form of an event (for the journal), e.g.
 *   granted alice access for key SHA256:... until 2026-12-01T17:00:00Z
 *   (ticket 123456, grant k7f3a9c2e4d1, by root)
 * Every string is sanitised with log_safe and capped (200 bytes, a reason
 * 512), a cut one marked as log_safe marks it; the result is cut to size
 * (always NUL-terminated when size > 0).
 */
void audit_sentence(const struct audit_event *event, char *buf, size_t size);

/* The syslog priority of an event's sentence: LOG_WARNING for a refusal
 * and for a line someone else removed (journalctl -p warning shows
 * them), LOG_NOTICE for every other event. */
int audit_event_priority(const char *event);

#endif

/*
 * The control protocol between sshlease and sshleased.
 *
 * Transport: an AF_UNIX SOCK_SEQPACKET socket, so every message arrives
 * whole or not at all. The client connects, sends one request, reads one
 * response; the daemon closes the connection after answering. A message is
 * one JSON object (UTF-8), at most PROTO_MAX_MESSAGE bytes.
 *
 * Requests: {"op": NAME, ...}. Responses: {"ok": true, ...} or
 *   {"ok": false, "error": CODE, "message": "human sentence"}
 * with CODE one of "usage" (exit 2), "refused" (3), "not_found" (3),
 * "denied" (4), "failed" (1).
 *
 * A grant object (state.h grant_to_json) has: id, user, key_type,
 * fingerprint, comment, ticket, from, mode ("shell"|"sftp"), signer,
 * created, expires (RFC 3339 UTC), expires_unix, by_uid, by_user,
 * last_login (RFC 3339 UTC: the latest login seen with its key); absent
 * optional values are JSON null. In list and show answers a grant also has
 * open_sessions (how many logins with its key are still connected), and in
 * show sessions: [{address, port, since (RFC 3339 UTC), since_unix, pid
 * (the connection's sshd monitor)}] and added_keys: the key lines found
 * added to the account's files since the grant was made, newest first
 * [{file, fingerprint, key_type (both "" for a line no key reads from),
 * line (its text, only the start when truncated; null when not UTF-8),
 * truncated, at (RFC 3339 UTC), at_unix, removed}], as many as fit in
 * half a message, and added_keys_omitted: how many more there are; and
 * footholds: the names ("crontab", "at", "linger", "user_units") of those
 * of the account found changed since its key watch began.
 *
 * op          request fields                         success fields
 * grant       key (line) | token; user, for          grant, dry_run,
 *             (duration text), until (unix seconds), sshd, forced
 *             ticket, from, mode, dry_run (bool),
 *             force (bool)
 * revoke      ids [..] | all: true [, user]          revoked [grant..],
 *                                                    omitted
 * extend      id, for | until                        grant
 * list        [user], [after]                        grants [grant..], next
 * show        id                                     grant
 * status      -                                      version, pid, started,
 *                                                    grants, next_deadline,
 *                                                    config, socket, sshd,
 *                                                    expiry_form
 * audit       [id], [since], [before],               records [..], omitted |
 *             [verify: true]                         intact, lines
 * restore_key user, fingerprint                      user, fingerprint,
 *                                                    file, already
 * check       user                                   user, found ("file" |
 *                                                    "ssh_dir" | "home"),
 *                                                    problem, fix
 * A broken audit chain answers {"ok": false, "error": "refused",
 * "bad_line": N, "message": ...}.
 *
 * Details of sshleased's side:
 * - check: authkeys_check for the account, run by the daemon in its own
 *   view of the file system; problem is the reason a grant would be
 *   refused (null when none), fix the drop-in that allows a home on a
 *   file system read-only for the daemon (null otherwise). doctor asks it.
 * - A request field not listed for its op, or of the wrong JSON type, is a
 *   "usage" error; null counts as absent. Ids are 12 lower-case hex digits.
 * - grant: exactly one of key and token. With a key, user is required
 *   (there is no default account); with neither for nor until the
 *   config's default_duration applies. A refusal (validation or policy)
 *   is recorded in the audit log as "refuse", also for dry_run. dry_run
 *   validates everything, changes nothing (a token's nonce is not
 *   recorded either), and answers the would-be grant with "id": null.
 * - grant with a token (token.h): the daemon decodes it, checks its
 *   signature against the trusted_signer keys (the one that verifies is
 *   the grant's "signer", also in the audit records), its redeem window
 *   with TOKEN_SKEW_DEFAULT seconds of skew, its host binding against
 *   gethostname(2), and that its nonce was never redeemed; the nonce is
 *   saved in the state with the grant, before the line is written. The
 *   token's account, duration, source list, mode and ticket are the
 *   grant's; the request may name the account when the token does not,
 *   narrow the duration (for/until), the source list (from: within the
 *   token's, and within the config's from when that is set) and the mode
 *   (sftp), and add a ticket when the token has
 *   none; anything else is refused. The config still wins: users,
 *   allow_root, key_types, min_rsa_bits, max_duration, and a token's from
 *   must lie within the config's from. A token without from gets the
 *   config's. With a key, require_signed = yes refuses the grant.
 * - grant: before anything is written (and in a dry run) the daemon runs
 *   doctor_grant_blockers for the account and mode (sshd -T -f [sshd]
 *   config) and refuses when a check fails, quoting its finding and fix,
 *   unless force is true: then the grant is made, its audit record's
 *   reason says which check was overridden, and "forced" in the answer is
 *   {"check", "message", "fix"} (null when nothing was overridden). A
 *   grant is refused, too, when no expiry-time form fits the local sshd
 *   (sshd_expiry_for; the message says what to set).
 * - "sshd" (grant, status) is sshd_info_to_json of the daemon's last probe
 *   of the local sshd: port, address, version, software, source,
 *   probe_error, warning, host_keys [{key_type, fingerprint}]. A network
 *   answer is believed only from a listener owned by root, and host keys
 *   it shows that the HostKey .pub files lack are replaced by the files'
 *   (warning says so); otherwise sshd -V and the files answer. The daemon probes
 *   at start and on reload, and again before a grant or extension when
 *   the last probe reached no server, at most once a minute.
 *   "expiry_form" (status) is "utc", "local", "none", or null when
 *   grants are refused for want of one.
 * - grant: when writing the line fails with a system error (-errno from
 *   the engine: the step may have got past the rename), the daemon removes
 *   the grant's line again, best effort, before it answers "failed". When
 *   that removal fails too, the outcome is unsure: the grant (and a
 *   token's nonce) is kept, so expiry, revoke and recovery still reach it,
 *   and the answer names the grant id to revoke.
 * - extend: for or until is required; the new deadline counts from now and
 *   is capped by max_duration; refused when no expiry-time form fits the
 *   local sshd. The line is swapped for one with the new
 *   expiry-time in one atomic edit that keeps its place and the grant id
 *   (authkeys_replace). A line no longer in the file (removed outside
 *   sshlease) is not written back: the grant ends ("line-missing" in the
 *   audit log) and the answer is "not_found".
 * - restore_key: root only ("denied" for anyone else). The latest removed
 *   added key of that account and fingerprint goes back at the end of its
 *   file (keyguard_restore; "already" when the same line is there), counts
 *   as the account's own from then on (added to the live key watch's
 *   snapshot), and its records leave the state; audit "key_restored".
 *   "not_found" when no removed key of that fingerprint is on record,
 *   "refused" for a line kept only in part.
 * - revoke: every id is checked before anything changes (unknown id:
 *   "not_found"). All the grants asked for are revoked in this one request;
 *   "revoked" lists the first of them (in the order they were revoked) that
 *   fit in one message and "omitted": N counts the rest, which were revoked
 *   all the same (the audit log has each one). If removing a line fails
 *   half-way, the error answer also carries "revoked": [grant..] and
 *   "omitted" for the grants that were revoked.
 * - list pages: grants are sorted by deadline, then id. An answer holds
 *   as many as fit in one message (at least one) and "next": null when it
 *   ends the list; otherwise "next" is a cursor (text) to send back as
 *   "after" for the grants that follow. The cursor names a place in that
 *   order, not an index, so grants that end or are added between two pages
 *   do not shift the pages; a grant whose deadline moved (extend) between
 *   pages can be listed twice (keep the first) or missed. A malformed
 *   cursor is a "usage" error.
 * - audit pages: "before": SEQ keeps only records with a smaller seq. To
 *   read everything, ask again with before = the seq of the first record
 *   received while omitted > 0. A page is read backwards from the log's
 *   end, so it costs the records it holds and those skipped to reach it,
 *   not the whole log.
 * - status also has started_unix and next_deadline_unix (unix seconds;
 *   next_deadline and next_deadline_unix are null with no grants).
 * - audit (records) also has "omitted": N. Records are oldest first; when
 *   they do not all fit in one message the newest that fit are sent and N
 *   is 1 or more when older ones were left out (how many is not counted;
 *   page back with before, or narrow with id or since).
 * - The daemon closes a connection that sends nothing within 5 seconds,
 *   and accepts at most 64 at once (more are closed unanswered).
 */
#ifndef SSHLEASE_PROTOCOL_H
#define SSHLEASE_PROTOCOL_H

#include <jansson.h>

#include "common.h"

#define PROTO_MAX_MESSAGE (64 * 1024)

/* Send one JSON object on fd. 0, -EMSGSIZE when too long, or -errno. */
int proto_send(int fd, const json_t *message);

/*
 * Receive one JSON object from fd, waiting at most timeout_ms (-1: no
 * limit). Returns 0 and a new reference in *out; -ETIMEDOUT; -EMSGSIZE for
 * an over-long message; -EBADMSG for one that is not a JSON object;
 * -ECONNRESET when the peer closed without sending; or -errno.
 */
int proto_recv(int fd, int timeout_ms, json_t **out);

/* The error codes of a response, as the wire spells them (proto_error_name). */
enum proto_error_code {
	PROTO_ERR_FAILED,    /* "failed": exit 1 */
	PROTO_ERR_USAGE,     /* "usage": exit 2 */
	PROTO_ERR_REFUSED,   /* "refused": exit 3 */
	PROTO_ERR_NOT_FOUND, /* "not_found": exit 3 */
	PROTO_ERR_DENIED,    /* "denied": exit 4 */
};

/* The wire name of code ("failed" for a value out of range). */
const char *proto_error_name(enum proto_error_code code);

/* The code a wire name stands for; an unknown or NULL name is
 * PROTO_ERR_FAILED. */
enum proto_error_code proto_error_parse(const char *name);

/* Build {"ok": false, "error": NAME, "message": message}. */
json_t *proto_error(enum proto_error_code code, const char *message);

/* The exit code (enum sl_exit) that an error code maps to. */
int proto_error_exit_code(enum proto_error_code code);

#endif

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
 * created, expires (RFC 3339 UTC), expires_unix, by_uid, by_user; absent
 * optional values are JSON null.
 *
 * op          request fields                         success fields
 * grant       key (line) | token; user, for          grant, dry_run,
 *             (duration text), until (unix seconds), sshd {port}
 *             ticket, from, mode, dry_run (bool)
 * revoke      ids [..] | all: true [, user]          revoked [grant..]
 * extend      id, for | until                        grant
 * list        [user]                                 grants [grant..]
 * show        id                                     grant
 * status      -                                      version, pid, started,
 *                                                    grants, next_deadline,
 *                                                    config, socket
 * audit       [id], [since], [verify: true]          records [..] |
 *                                                    intact, lines
 * A broken audit chain answers {"ok": false, "error": "refused",
 * "bad_line": N, "message": ...}.
 *
 * Details of sshleased's side (added; nothing above changed):
 * - A request field not listed for its op, or of the wrong JSON type, is a
 *   "usage" error; null counts as absent. Ids are 12 lower-case hex digits.
 * - grant: key and user are required (there is no default account); with
 *   neither for nor until the config's default_duration applies. A refusal
 *   (validation or policy) is recorded in the audit log as "refuse", also
 *   for dry_run. dry_run validates everything, changes nothing, and answers
 *   the would-be grant with "id": null. "token" is refused for now.
 * - extend: for or until is required; the new deadline counts from now and
 *   is capped by max_duration. The line is rewritten (the old one removed,
 *   a new one with the new expiry-time appended) keeping the grant id.
 * - revoke: every id is checked before anything changes (unknown id:
 *   "not_found"). If removing a line fails half-way, the error answer also
 *   carries "revoked": [grant..] with the grants that were revoked.
 * - status also has started_unix and next_deadline_unix (unix seconds;
 *   next_deadline and next_deadline_unix are null with no grants).
 * - audit (records) also has "omitted": N. Records are oldest first; when
 *   they do not all fit in one message the newest that fit are sent and N
 *   says how many older ones were left out (narrow with id or since).
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

/* Build {"ok": false, "error": code, "message": message}. */
json_t *proto_error(const char *code, const char *message);

/* The exit code that an error CODE maps to (unknown: SL_EXIT_FAILURE). */
int proto_error_exit_code(const char *code);

#endif

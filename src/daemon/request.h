/* Inside sshleased's request handling: what request.c offers the ops (the
 * fields of a request, the wording of replies) and the ops' handlers,
 * which daemon_handle dispatches to. */
#ifndef SSHLEASE_REQUEST_H
#define SSHLEASE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "daemon.h"
#include "protocol.h"

/* Longest piece of request text quoted back in a message. */
#define REPLY_QUOTE_MAX 64
/* What the items of a list may take in one answer: the rest of
 * PROTO_MAX_MESSAGE is room for the other members (a message, a cursor). */
#define REPLY_ANSWER_BUDGET (PROTO_MAX_MESSAGE - 1024)

/* An error reply with a formatted message (capped at 512 bytes); NULL when
 * out of memory. */
json_t *reply_error(enum proto_error_code code, const char *fmt, ...)
	SL_PRINTF(2, 3);

/* Request text made safe to quote: capped at REPLY_QUOTE_MAX, non-printable
 * bytes as '?', NULL as "". Returns buf. */
const char *reply_quote(char buf[REPLY_QUOTE_MAX + 1], const char *text);

/* The bytes value takes as one more item of an array in a compact answer
 * (proto_send's encoding), comma included; SIZE_MAX when out of memory. */
size_t reply_item_size(const json_t *value);

/* The usage reply for text that should have been a grant id (NULL too). */
json_t *reply_not_an_id(const char *text);

/* The not_found reply for a well-formed id that names no active grant. */
json_t *reply_no_grant(const char *id);

/* A field of a request whose fields daemon_handle checked: the string (NULL
 * when absent or null), whether it is true, whether it is there and not
 * null. */
const char *request_string(const json_t *request, const char *name);
bool request_bool(const json_t *request, const char *name);
bool request_has(const json_t *request, const char *name);

/* Whether text (may be NULL) is a grant id (validate.h grant_id_valid). */
bool request_id_valid(const char *text);

/*
 * The deadline of a grant or extension from "for" (duration text) or
 * "until" (unix seconds); neither: default_duration (0 = none allowed),
 * within max_duration from now. 0 with *deadline, or SL_REFUSED with the
 * reason in message (size bytes).
 */
int request_deadline(const struct daemon *d, const json_t *request,
		     int64_t default_duration, time_t now, time_t *deadline,
		     char *message, size_t size);

/*
 * The ops (include/protocol.h), each called by daemon_handle with a request
 * whose fields have been checked against its entry in the op table. One
 * response each; NULL only when out of memory. A refused request changes
 * nothing.
 */
json_t *op_grant(struct daemon *d, const struct connection *conn,
		 const json_t *request);                      /* op-grant.c */
json_t *op_revoke(struct daemon *d, const struct connection *conn,
		  const json_t *request);                     /* op-revoke.c */
json_t *op_extend(struct daemon *d, const struct connection *conn,
		  const json_t *request);                     /* op-extend.c */
json_t *op_list(struct daemon *d, const struct connection *conn,
		const json_t *request);                       /* op-query.c */
json_t *op_show(struct daemon *d, const struct connection *conn,
		const json_t *request);
json_t *op_status(struct daemon *d, const struct connection *conn,
		  const json_t *request);
json_t *op_audit(struct daemon *d, const struct connection *conn,
		 const json_t *request);
json_t *op_check(struct daemon *d, const struct connection *conn,
		 const json_t *request);
json_t *op_restore_key(struct daemon *d, const struct connection *conn,
		       const json_t *request);                /* op-restore.c */

#endif

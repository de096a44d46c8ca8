/* Requests in, replies out: the table of ops with the fields each takes,
 * the field check it drives, and what the ops share (fields, deadlines,
 * the wording of common replies). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "request.h"
#include "timeutil.h"
#include "validate.h"

json_t *reply_error(enum proto_error_code code, const char *fmt, ...)
{
	char message[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	return proto_error(code, message);
}

const char *reply_quote(char buf[REPLY_QUOTE_MAX + 1], const char *text)
{
	return log_safe(buf, REPLY_QUOTE_MAX + 1, text ? text : "");
}

size_t reply_item_size(const json_t *value)
{
	char *text = json_dumps(value, JSON_COMPACT);
	size_t size = text ? strlen(text) + 1 : SIZE_MAX;

	free(text);
	return size;
}

json_t *reply_not_an_id(const char *text)
{
	char safe[REPLY_QUOTE_MAX + 1];

	return reply_error(PROTO_ERR_USAGE, "\"%s\" is not a grant id (12 hex digits)",
			   reply_quote(safe, text));
}

json_t *reply_no_grant(const char *id)
{
	return reply_error(PROTO_ERR_NOT_FOUND, "there is no active grant %s", id);
}

const char *request_string(const json_t *request, const char *name)
{
	return json_string_value(json_object_get(request, name));
}

bool request_bool(const json_t *request, const char *name)
{
	return json_is_true(json_object_get(request, name));
}

bool request_has(const json_t *request, const char *name)
{
	const json_t *value = json_object_get(request, name);

	return value && !json_is_null(value);
}

bool request_id_valid(const char *text)
{
	return text && grant_id_valid(text, strnlen(text, GRANT_ID_LEN + 1));
}

int request_deadline(const struct daemon *d, const json_t *request,
		     int64_t default_duration, time_t now, time_t *deadline,
		     char *message, size_t size)
{
	const char *for_text = request_string(request, "for");
	const json_t *until_value = json_object_get(request, "until");
	int64_t duration = 0;
	time_t until = 0;
	const char *why = NULL;
	char safe[REPLY_QUOTE_MAX + 1], max_text[32];
	int r;

	if (for_text && json_is_integer(until_value)) {
		snprintf(message, size, "give a duration or an end time, not both");
		return SL_REFUSED;
	}
	if (for_text) {
		r = duration_parse(for_text, &duration, &why);
		if (r != 0) {
			snprintf(message, size, "duration \"%s\": %s",
				 reply_quote(safe, for_text), why);
			return SL_REFUSED;
		}
	} else if (json_is_integer(until_value)) {
		json_int_t value = json_integer_value(until_value);

		if (value <= 0 || (json_int_t)(time_t)value != value) {
			snprintf(message, size, "the end time is out of range");
			return SL_REFUSED;
		}
		until = (time_t)value;
	} else if (default_duration > 0) {
		duration = default_duration;
	} else {
		snprintf(message, size, "give a duration (for) or an end time (until)");
		return SL_REFUSED;
	}
	r = schedule_deadline(now, duration, until, d->config->max_duration,
			      deadline, &why);
	if (r != 0) {
		duration_format(d->config->max_duration, max_text, sizeof(max_text));
		if (strstr(why, "max_duration"))
			snprintf(message, size, "%s (max_duration is %s)", why, max_text);
		else
			snprintf(message, size, "%s", why);
		return SL_REFUSED;
	}
	return 0;
}

/* ---- the op table ---- */

enum field_type { FIELD_STRING, FIELD_INTEGER, FIELD_BOOL, FIELD_ARRAY };

struct field {
	const char *name;
	enum field_type type;
};

/*
 * Check that request has only the fields listed (plus "op") and each of the
 * listed type (null counts as absent). NULL when fine, else a usage reply.
 */
static json_t *fields_check(const json_t *request, const char *op,
			    const struct field *fields, size_t n)
{
	const char *name;
	json_t *value;
	char safe[REPLY_QUOTE_MAX + 1];

	json_object_foreach((json_t *)request, name, value) {
		const struct field *field = NULL;
		bool ok;

		if (strcmp(name, "op") == 0)
			continue;
		for (size_t i = 0; i < n; i++)
			if (strcmp(fields[i].name, name) == 0)
				field = &fields[i];
		if (!field)
			return reply_error(PROTO_ERR_USAGE, "unknown field \"%s\" for %s",
					   reply_quote(safe, name), op);
		if (json_is_null(value))
			continue;
		switch (field->type) {
		case FIELD_STRING:
			ok = json_is_string(value);
			break;
		case FIELD_INTEGER:
			ok = json_is_integer(value);
			break;
		case FIELD_BOOL:
			ok = json_is_boolean(value);
			break;
		case FIELD_ARRAY:
			ok = json_is_array(value);
			break;
		default:
			ok = false;
			break;
		}
		if (!ok)
			return reply_error(PROTO_ERR_USAGE, "field \"%s\" of %s has the wrong type",
					   name, op);
	}
	return NULL;
}

/* What each op takes besides "op" (null counts as absent). */
static const struct field grant_fields[] = {
	{ "key", FIELD_STRING },   { "token", FIELD_STRING },
	{ "user", FIELD_STRING },  { "for", FIELD_STRING },
	{ "until", FIELD_INTEGER }, { "ticket", FIELD_STRING },
	{ "from", FIELD_STRING },  { "mode", FIELD_STRING },
	{ "dry_run", FIELD_BOOL }, { "force", FIELD_BOOL },
};
static const struct field revoke_fields[] = {
	{ "ids", FIELD_ARRAY }, { "all", FIELD_BOOL }, { "user", FIELD_STRING },
};
static const struct field extend_fields[] = {
	{ "id", FIELD_STRING }, { "for", FIELD_STRING }, { "until", FIELD_INTEGER },
};
static const struct field list_fields[] = {
	{ "user", FIELD_STRING }, { "after", FIELD_STRING },
};
static const struct field show_fields[] = { { "id", FIELD_STRING } };
static const struct field check_fields[] = { { "user", FIELD_STRING } };
static const struct field restore_key_fields[] = {
	{ "user", FIELD_STRING }, { "fingerprint", FIELD_STRING },
};
static const struct field audit_fields[] = {
	{ "id", FIELD_STRING }, { "since", FIELD_INTEGER }, { "verify", FIELD_BOOL },
	{ "before", FIELD_INTEGER },
};

/* The operations of the protocol: a request is checked against its op's
 * fields before its handler sees it. */
static const struct op {
	const char *name;
	json_t *(*handle)(struct daemon *d, const struct connection *conn,
			  const json_t *request);
	const struct field *fields;
	size_t n_fields;
} ops[] = {
	{ "grant", op_grant, grant_fields, SL_ARRAY_SIZE(grant_fields) },
	{ "revoke", op_revoke, revoke_fields, SL_ARRAY_SIZE(revoke_fields) },
	{ "extend", op_extend, extend_fields, SL_ARRAY_SIZE(extend_fields) },
	{ "list", op_list, list_fields, SL_ARRAY_SIZE(list_fields) },
	{ "show", op_show, show_fields, SL_ARRAY_SIZE(show_fields) },
	{ "status", op_status, NULL, 0 },
	{ "audit", op_audit, audit_fields, SL_ARRAY_SIZE(audit_fields) },
	{ "check", op_check, check_fields, SL_ARRAY_SIZE(check_fields) },
	{ "restore_key", op_restore_key, restore_key_fields, SL_ARRAY_SIZE(restore_key_fields) },
};

json_t *daemon_handle(struct daemon *d, const struct connection *conn,
		      json_t *request)
{
	const char *name = request_string(request, "op");
	char safe[REPLY_QUOTE_MAX + 1];

	if (!name)
		return reply_error(PROTO_ERR_USAGE, "the request has no op");
	for (size_t i = 0; i < SL_ARRAY_SIZE(ops); i++) {
		json_t *reply;

		if (strcmp(ops[i].name, name) != 0)
			continue;
		reply = fields_check(request, ops[i].name, ops[i].fields,
				     ops[i].n_fields);
		return reply ? reply : ops[i].handle(d, conn, request);
	}
	return reply_error(PROTO_ERR_USAGE, "unknown op \"%s\"", reply_quote(safe, name));
}

/* The ops that change nothing: list (in pages, by cursor), show, status,
 * audit (the newest records that fit, paging back by seq; verify). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build-config.h"
#include "request.h"
#include "timeutil.h"

static int grant_compare(const void *a, const void *b)
{
	const struct grant *x = *(const struct grant *const *)a;
	const struct grant *y = *(const struct grant *const *)b;

	if (x->expires != y->expires)
		return x->expires < y->expires ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* A list cursor, "<expires_unix>.<id>": the last grant of a page, in the
 * order of grant_compare. The next page starts after it. */
struct list_cursor {
	long long expires;
	char id[AUTHKEYS_ID_LEN + 1];
};

static bool cursor_parse(const char *text, struct list_cursor *cursor)
{
	const char *dot = strchr(text, '.');
	size_t digits = dot ? (size_t)(dot - text) : 0;
	char *end = NULL;

	if (digits == 0 || digits > 19 || !request_id_valid(dot + 1))
		return false;
	for (size_t i = 0; i < digits; i++)
		if (text[i] < '0' || text[i] > '9')
			return false;
	errno = 0;
	cursor->expires = strtoll(text, &end, 10);
	if (errno != 0 || end != dot)
		return false;
	memcpy(cursor->id, dot + 1, sizeof(cursor->id));
	return true;
}

static bool after_cursor(const struct grant *grant,
			 const struct list_cursor *cursor)
{
	if ((long long)grant->expires != cursor->expires)
		return (long long)grant->expires > cursor->expires;
	return strcmp(grant->id, cursor->id) > 0;
}

static json_t *cursor_json(const struct grant *grant)
{
	char text[64];

	snprintf(text, sizeof(text), "%lld.%s", (long long)grant->expires,
		 grant->id);
	return json_string(text);
}

/* How many sessions of grant are open. */
static size_t open_sessions(const struct daemon *d, const struct grant *grant)
{
	size_t n = 0;

	for (size_t i = 0; i < d->state->n_sessions; i++)
		n += strcmp(d->state->sessions[i].grant_id, grant->id) == 0;
	return n;
}

/* A grant as list and show give it: grant_to_json and "open_sessions";
 * with sessions, also "sessions" [{address, port, since, since_unix,
 * pid, kind (when known)}]. NULL when out of memory. */
/* The line as JSON text; null when it is not UTF-8 (or holds a NUL). */
static json_t *line_or_null(const struct added_key *ak)
{
	json_t *line = json_stringn(ak->line, ak->len);

	return line ? line : json_null();
}

/* One key line found added to the account's files, for show. */
static json_t *added_key_reply(const struct added_key *ak)
{
	return json_pack("{s:s, s:s, s:s, s:o, s:b, s:o, s:I, s:b}",
			 "file", ak->file,
			 "fingerprint", ak->fingerprint,
			 "key_type", ak->key_type,
			 "line", line_or_null(ak),
			 "truncated", ak->truncated,
			 "at", time_to_json(ak->at),
			 "at_unix", (json_int_t)ak->at,
			 "removed", ak->removed);
}

/* show's added_keys: the lines found added to the account's files since
 * the grant was made, newest first, as many as fit in half an answer
 * (a line may be 4 KiB, and an account may have 256 on record); the rest
 * are counted in added_keys_omitted. */
static int added_keys_put(const struct daemon *d, const struct grant *grant, json_t *object)
{
	json_t *list = json_array();
	size_t used = 0, omitted = 0;

	if (!list)
		return -ENOMEM;
	for (size_t i = d->state->n_added_keys; i-- > 0;) {
		const struct added_key *ak = &d->state->added_keys[i];
		json_t *item;
		size_t size;

		if (ak->uid != grant->uid || ak->at < grant->created)
			continue;
		item = added_key_reply(ak);
		size = item ? reply_item_size(item) : SIZE_MAX;
		if (size == SIZE_MAX) {
			json_decref(item);
			json_decref(list);
			return -ENOMEM;
		}
		if (used + size > REPLY_ANSWER_BUDGET / 2) {
			json_decref(item);
			omitted++;
			continue;
		}
		used += size;
		if (json_array_append_new(list, item) < 0) {
			json_decref(list);
			return -ENOMEM;
		}
	}
	if (json_object_set_new(object, "added_keys", list) < 0 ||
	    json_object_set_new(object, "added_keys_omitted", json_integer((json_int_t)omitted)) < 0)
		return -ENOMEM;
	return 0;
}

/* show's footholds: those of the account found changed since its watch
 * began, as last taken (footholds.h). */
static int footholds_put(const struct daemon *d, const struct grant *grant, json_t *object)
{
	const struct key_watch *kw = state_find_key_watch(d->state, grant->uid);
	json_t *list = json_array();

	if (!list)
		return -ENOMEM;
	for (int i = 0; kw && kw->has_footholds && i < FOOTHOLD_COUNT; i++) {
		if (!kw->footholds[i][0] || strcmp(kw->footholds[i], kw->footholds_seen[i]) == 0)
			continue;
		if (json_array_append_new(list, json_string(foothold_name((enum foothold_item)i))) < 0) {
			json_decref(list);
			return -ENOMEM;
		}
	}
	return json_object_set_new(object, "footholds", list) < 0 ? -ENOMEM : 0;
}

/* A grant whose ending failed (its hold): since when, how often, why, and
 * the next try; nothing for any other grant. */
static int removal_put(const struct daemon *d, const struct grant *grant, json_t *object)
{
	const struct schedule_hold *hold = schedule_hold_find(d->holds, d->n_holds, grant->id);

	if (!hold)
		return 0;
	return json_object_set_new(object, "removal_failing",
				   json_pack("{s:o, s:I, s:I, s:s, s:o, s:I}",
					     "since", time_to_json(hold->since),
					     "since_unix", (json_int_t)hold->since,
					     "attempts", (json_int_t)hold->attempts,
					     "reason", hold->why,
					     "next_try", time_to_json(hold->until),
					     "next_try_unix", (json_int_t)hold->until)) < 0
		       ? -ENOMEM : 0;
}

static json_t *grant_reply_json(const struct daemon *d, const struct grant *grant,
				bool sessions)
{
	json_t *object = grant_to_json(grant), *list = NULL;

	if (!object ||
	    json_object_set_new(object, "open_sessions",
				json_integer((json_int_t)open_sessions(d, grant))) < 0 ||
	    removal_put(d, grant, object) < 0)
		goto fail;
	if (!sessions)
		return object;
	list = json_array();
	if (!list)
		goto fail;
	for (size_t i = 0; i < d->state->n_sessions; i++) {
		const struct session *s = &d->state->sessions[i];

		if (strcmp(s->grant_id, grant->id) != 0)
			continue;
		if (json_array_append_new(list, json_pack("{s:s, s:i, s:o, s:I, s:I, s:s?}",
							  "address", s->address,
							  "port", (int)s->port,
							  "since", time_to_json(s->since),
							  "since_unix", (json_int_t)s->since,
							  "pid", (json_int_t)s->pid,
							  "kind", s->kind[0] ? s->kind : NULL)) < 0)
			goto fail;
	}
	if (json_object_set_new(object, "sessions", list) < 0) {
		list = NULL;
		goto fail;
	}
	list = NULL;
	if (added_keys_put(d, grant, object) < 0 || footholds_put(d, grant, object) < 0)
		goto fail;
	return object;
fail:
	json_decref(list);
	json_decref(object);
	return NULL;
}

json_t *op_list(struct daemon *d, const struct connection *conn,
		const json_t *request)
{
	const char *user = request_string(request, "user");
	const char *after = request_string(request, "after");
	struct list_cursor cursor = { 0 };
	const struct grant **sorted = NULL;
	json_t *reply = NULL, *grants = NULL, *next = NULL;
	char safe[REPLY_QUOTE_MAX + 1];
	size_t n = 0, used = 0;

	if (after && !cursor_parse(after, &cursor))
		return reply_error(PROTO_ERR_USAGE, "\"%s\" is not a list cursor (pass back the next of the previous answer)",
				   reply_quote(safe, after));
	sorted = calloc(d->state->n_grants + 1, sizeof(*sorted));
	grants = json_array();
	if (!sorted || !grants)
		goto out;
	for (size_t i = 0; i < d->state->n_grants; i++)
		if ((!user || strcmp(d->state->grants[i].user, user) == 0) &&
		    (!after || after_cursor(&d->state->grants[i], &cursor)))
			sorted[n++] = &d->state->grants[i];
	qsort(sorted, n, sizeof(*sorted), grant_compare);
	for (size_t i = 0; i < n; i++) {
		json_t *object = grant_reply_json(d, sorted[i], false);
		size_t size = object ? reply_item_size(object) : SIZE_MAX;

		if (size == SIZE_MAX) {
			json_decref(object);
			goto out;
		}
		/* A page holds at least one grant, so every page moves on. */
		if (i > 0 && used + size > REPLY_ANSWER_BUDGET) {
			json_decref(object);
			next = cursor_json(sorted[i - 1]);
			if (!next)
				goto out;
			break;
		}
		used += size;
		if (json_array_append_new(grants, object) < 0)
			goto out;
	}
	reply = json_pack("{s:b, s:O, s:o}", "ok", 1, "grants", grants, "next",
			  next ? next : json_null());
	next = NULL;
out:
	json_decref(next);
	json_decref(grants);
	free(sorted);
	return reply;
}

json_t *op_show(struct daemon *d, const struct connection *conn,
		const json_t *request)
{
	const char *id = request_string(request, "id");
	const struct grant *grant;

	if (!request_id_valid(id))
		return reply_not_an_id(id);
	grant = state_find_grant(d->state, id);
	if (!grant)
		return reply_no_grant(id);
	return json_pack("{s:b, s:o}", "ok", 1, "grant", grant_reply_json(d, grant, true));
}

json_t *op_status(struct daemon *d, const struct connection *conn,
		  const json_t *request)
{
	time_t next = schedule_earliest_deadline(d->state);
	enum authkeys_expiry form = AUTHKEYS_EXPIRY_NONE;
	const char *why = NULL;
	size_t failing = 0;
	bool form_known;

	form_known = daemon_expiry_form(d, &form, &why) == 0;
	for (size_t i = 0; i < d->n_holds; i++)
		failing += state_find_grant(d->state, d->holds[i].id) != NULL;
	return json_pack("{s:b, s:s, s:I, s:o, s:I, s:I, s:I, s:o, s:o, s:s, s:s, s:o, s:o}",
			 "ok", 1,
			 "version", SSHLEASE_VERSION,
			 "pid", (json_int_t)getpid(),
			 "started", time_to_json(d->started),
			 "started_unix", (json_int_t)d->started,
			 "grants", (json_int_t)d->state->n_grants,
			 "removals_failing", (json_int_t)failing,
			 "next_deadline", time_to_json(next),
			 "next_deadline_unix",
			 next ? json_integer((json_int_t)next) : json_null(),
			 "config", d->config_path,
			 "socket", d->socket_path ? d->socket_path : d->config->socket,
			 "sshd", daemon_sshd_json(d),
			 "expiry_form", form_known ? json_string(sshd_expiry_name(form))
						   : json_null());
}

/* --- audit --- */

/* Whether record comes before seq `before` (0: no bound). A record
 * without a seq is kept only without a bound. */
static size_t audit_record_size(const json_t *record)
{
	return reply_item_size(record);
}

json_t *op_audit(struct daemon *d, const struct connection *conn,
		 const json_t *request)
{
	const char *id = request_string(request, "id");
	const json_t *since = json_object_get(request, "since");
	const json_t *before = json_object_get(request, "before");
	const char *path = d->config->audit_log;
	json_t *reply = NULL, *kept = NULL;
	size_t omitted = 0;
	bool more = false;
	int r;

	if (request_bool(request, "verify")) {
		struct audit_check check;

		if (id || json_is_integer(since))
			return reply_error(PROTO_ERR_USAGE, "verify checks the whole log; it takes no id or since");
		if (json_is_integer(before))
			return reply_error(PROTO_ERR_USAGE, "verify checks the whole log; it takes no before");
		r = audit_verify_chain(path, &check);
		if (r < 0)
			return reply_error(PROTO_ERR_FAILED, "cannot read the audit log: %s", strerror(-r));
		if (r != 0) {
			reply = reply_error(PROTO_ERR_REFUSED, "the audit log is broken in %s at line %lu: %s",
					    check.bad_file, check.bad_line,
					    check.why ? check.why : "chain broken");
			if (reply) {
				json_object_set_new(reply, "bad_line",
						    json_integer((json_int_t)check.bad_line));
				json_object_set_new(reply, "file", json_string(check.bad_file));
			}
			return reply;
		}
		return json_pack("{s:b, s:b, s:I, s:I}", "ok", 1, "intact", 1, "lines",
				 (json_int_t)check.lines, "files", (json_int_t)check.files);
	}
	if (id && !request_id_valid(id))
		return reply_not_an_id(id);
	if (json_is_integer(since) && json_integer_value(since) < 0)
		return reply_error(PROTO_ERR_USAGE, "since must not be negative");
	if (json_is_integer(before) && json_integer_value(before) < 1)
		return reply_error(PROTO_ERR_USAGE, "before must be a record's seq (1 or more)");
	{
		const struct audit_page page = {
			.id = id,
			.since = json_is_integer(since) ? (time_t)json_integer_value(since) : 0,
			.before = json_is_integer(before) ? (unsigned long long)json_integer_value(before) : 0,
			.budget = REPLY_ANSWER_BUDGET,
			.size = audit_record_size,
		};

		r = audit_read_page(path, &page, &kept, &more);
	}
	if (r == -ENOENT)
		kept = json_array();
	else if (r == -EBADMSG)
		return reply_error(PROTO_ERR_FAILED, "the audit log has a damaged line; run 'sshlease audit --verify' to find it");
	else if (r < 0)
		return reply_error(PROTO_ERR_FAILED, "cannot read the audit log: %s", strerror(-r));
	if (!kept)
		return NULL;
	/* How many older ones there are is not counted (that would read
	 * the whole log): 1 says there are more, to be paged back to. */
	omitted = more ? 1 : 0;
	return json_pack("{s:b, s:o, s:I}", "ok", 1, "records", kept, "omitted",
			 (json_int_t)omitted);
}

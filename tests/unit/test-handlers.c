/* sshleased's request handler called in-process (tests/lib/daemon-harness.h):
 * the usage errors of every op, driven from the fields each takes (unknown
 * op, unknown field, wrong type, null as absent), refusals that need no
 * account (a token, ids, deadlines) and their audit records, status; then,
 * as root on a throwaway account, a grant's life (a dry run, the line's
 * bytes, the same key twice, list, show, extend, revoke and their records),
 * the grant refusals of policy, and a line removed by hand that extend does
* not write back. test-daemon.c has what needs the real process. */
#define _GNU_SOURCE /* asprintf */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "authkeys.h"
#include "build-config.h"
#include "daemon-harness.h"
#include "fixture.h"
#include "test.h"

static const char *error_of(const json_t *reply)
{
	return json_string_value(json_object_get(reply, "error"));
}

static const char *message_of(const json_t *reply)
{
	return json_string_value(json_object_get(reply, "message"));
}

/* Refused requests of every kind: each an error with a message. */
static void test_bad_requests(struct daemon_harness *h)
{
	static const struct {
		const char *name;
		const char *request;
		const char *error;
	} cases[] = {
		{ "no op", "{}", "usage" },
		{ "op not a string", "{\"op\":7}", "usage" },
		{ "op null", "{\"op\":null}", "usage" },
		{ "unknown op", "{\"op\":\"format-disk\"}", "usage" },
		{ "unknown field", "{\"op\":\"list\",\"bogus\":1}", "usage" },
		{ "wrong type", "{\"op\":\"revoke\",\"ids\":\"abc\"}", "usage" },
		{ "bad id", "{\"op\":\"show\",\"id\":\"../../etc/passwd\"}", "usage" },
		{ "upper-case id", "{\"op\":\"show\",\"id\":\"0123456789AB\"}", "usage" },
		{ "unknown id", "{\"op\":\"show\",\"id\":\"0123456789ab\"}", "not_found" },
		{ "revoke unknown", "{\"op\":\"revoke\",\"ids\":[\"0123456789ab\"]}", "not_found" },
		{ "revoke nothing", "{\"op\":\"revoke\"}", "usage" },
		{ "revoke ids and all", "{\"op\":\"revoke\",\"ids\":[\"0123456789ab\"],\"all\":true}", "usage" },
		{ "revoke user without all", "{\"op\":\"revoke\",\"ids\":[\"0123456789ab\"],\"user\":\"shop\"}", "usage" },
		{ "revoke id not a string", "{\"op\":\"revoke\",\"ids\":[7]}", "usage" },
		{ "extend unknown", "{\"op\":\"extend\",\"id\":\"0123456789ab\",\"for\":\"1h\"}", "not_found" },
		{ "extend without a deadline", "{\"op\":\"extend\",\"id\":\"0123456789ab\"}", "usage" },
		{ "list cursor", "{\"op\":\"list\",\"after\":\"../x\"}", "usage" },
		{ "audit bad id", "{\"op\":\"audit\",\"id\":\"xyz\"}", "usage" },
		{ "audit since negative", "{\"op\":\"audit\",\"since\":-1}", "usage" },
		{ "audit before 0", "{\"op\":\"audit\",\"before\":0}", "usage" },
		{ "audit verify with id", "{\"op\":\"audit\",\"verify\":true,\"id\":\"0123456789ab\"}", "usage" },
		{ "audit verify with before", "{\"op\":\"audit\",\"verify\":true,\"before\":5}", "usage" },
		{ "grant without key", "{\"op\":\"grant\",\"user\":\"root\"}", "usage" },
		{ "grant key without user", "{\"op\":\"grant\",\"key\":\"ssh-ed25519 AAAA\"}", "usage" },
		{ "token", "{\"op\":\"grant\",\"token\":\"sl1.x\",\"user\":\"root\"}", "refused" },
		{ "key and token", "{\"op\":\"grant\",\"key\":\"ssh-ed25519 AAAA\",\"token\":\"sl1.x\",\"user\":\"root\"}", "usage" },
		{ "neither key nor token", "{\"op\":\"grant\",\"user\":\"root\",\"force\":true}", "usage" },
		{ "null key and token", "{\"op\":\"grant\",\"key\":null,\"token\":null,\"user\":\"root\"}", "usage" },
		{ "force not a boolean", "{\"op\":\"grant\",\"token\":\"sl1.x\",\"force\":1}", "usage" },
		{ "escape in op", "{\"op\":\"\\u001b[2J\"}", "usage" },
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		json_t *reply = daemon_harness_call(h, cases[i].request);

		CHECK_MSG(reply != NULL, "%s: no reply", cases[i].name);
		CHECK_MSG(json_is_false(json_object_get(reply, "ok")), "%s",
			  cases[i].name);
		CHECK_MSG(error_of(reply) && strcmp(error_of(reply), cases[i].error) == 0,
			  "%s: error %s, expected %s", cases[i].name,
			  error_of(reply) ? error_of(reply) : "(none)", cases[i].error);
		CHECK_MSG(json_is_string(json_object_get(reply, "message")), "%s",
			  cases[i].name);
		/* Text from the request is quoted, never raw. */
		CHECK_MSG(!message_of(reply) || !strchr(message_of(reply), '\x1b'),
			  "%s: %s", cases[i].name, message_of(reply));
		json_decref(reply);
	}
}

/* The fields each op takes: the protocol (include/protocol.h), as the
 * client sees it. Types: s string, i integer, b boolean, a array. */
static const struct {
	const char *op;
	const char *fields[11];
	const char *types;
} op_fields[] = {
	{ "grant", { "key", "token", "user", "for", "until", "ticket", "from",
		     "mode", "dry_run", "force" }, "ssssisssbb" },
	{ "revoke", { "ids", "all", "user" }, "abs" },
	{ "extend", { "id", "for", "until" }, "ssi" },
	{ "list", { "user", "after" }, "ss" },
	{ "show", { "id" }, "s" },
	{ "status", { NULL }, "" },
	{ "audit", { "id", "since", "verify", "before" }, "sibi" },
};

/* A JSON value of another type than t. */
static json_t *wrong_value(char t)
{
	switch (t) {
	case 's':
		return json_integer(1);
	case 'i':
		return json_string("1");
	case 'b':
		return json_string("yes");
	default:
		return json_object();
	}
}

/* Every op refuses a field it does not take, and each of its fields of the
 * wrong type, by name; null counts as absent. */
static void test_field_table(struct daemon_harness *h)
{
	char expected[128];

	for (size_t o = 0; o < SL_ARRAY_SIZE(op_fields); o++) {
		const char *op = op_fields[o].op;
		json_t *reply;

		reply = daemon_harness_call_json(h, json_pack("{s:s, s:i}", "op", op,
							      "bogus", 1));
		snprintf(expected, sizeof(expected), "unknown field \"bogus\" for %s", op);
		CHECK_STR(error_of(reply), "usage");
		CHECK_STR(message_of(reply), expected);
		json_decref(reply);
		/* Unknown even when null. */
		reply = daemon_harness_call_json(h, json_pack("{s:s, s:n}", "op", op,
							      "bogus"));
		CHECK_STR(message_of(reply), expected);
		json_decref(reply);

		for (size_t f = 0; op_fields[o].fields[f]; f++) {
			const char *field = op_fields[o].fields[f];
			const char *message;

			reply = daemon_harness_call_json(
				h, json_pack("{s:s, s:o}", "op", op, field,
					     wrong_value(op_fields[o].types[f])));
			snprintf(expected, sizeof(expected),
				 "field \"%s\" of %s has the wrong type", field, op);
			CHECK_MSG(error_of(reply) && strcmp(error_of(reply), "usage") == 0 &&
				  message_of(reply) && strcmp(message_of(reply), expected) == 0,
				  "%s %s: %s", op, field, fixture_str(message_of(reply)));
			json_decref(reply);

			/* null: as if the field were not there. */
			reply = daemon_harness_call_json(h, json_pack("{s:s, s:n}", "op", op,
								      field));
			message = fixture_str(message_of(reply));
			CHECK_MSG(!strstr(message, "wrong type") && !strstr(message, "unknown field"),
				  "%s %s null: %s", op, field, message);
			json_decref(reply);
		}
	}
	/* All of list's fields null is a plain list. */
	{
		json_t *reply = daemon_harness_call(h, "{\"op\":\"list\",\"user\":null,\"after\":null}");

		CHECK(json_is_true(json_object_get(reply, "ok")));
		CHECK(json_is_array(json_object_get(reply, "grants")));
		json_decref(reply);
	}
}

/* How many "refuse" records the audit log holds. */
static size_t refusals(struct daemon_harness *h)
{
	json_t *reply = daemon_harness_call(h, "{\"op\":\"audit\"}");
	json_t *record;
	size_t i, n = 0;

	json_array_foreach(json_object_get(reply, "records"), i, record)
		if (strcmp(fixture_str(json_string_value(json_object_get(record, "event"))),
			   "refuse") == 0)
			n++;
	json_decref(reply);
	return n;
}

/* A token refusal says what was wrong and what to do, and is recorded
 * (this one and the bad requests' one); usage errors are not. */
static void test_token_refusal(struct daemon_harness *h)
{
	json_t *reply = daemon_harness_call(h, "{\"op\":\"grant\",\"token\":\"sl1.x\",\"user\":\"root\"}");
	const char *message = message_of(reply);

	CHECK_MSG(message && strstr(message, "token is truncated; copy the whole sl1. line"),
		  "%s", message ? message : "(no message)");
	json_decref(reply);
	CHECK_INT(refusals(h), 2);
}

static void test_status(struct daemon_harness *h)
{
	json_t *reply = daemon_harness_call(h, "{\"op\":\"status\"}");
	json_t *sshd = json_object_get(reply, "sshd");

	CHECK(json_is_true(json_object_get(reply, "ok")));
	CHECK_STR(json_string_value(json_object_get(reply, "version")), SSHLEASE_VERSION);
	CHECK_INT(json_integer_value(json_object_get(reply, "pid")), getpid());
	CHECK_INT(json_integer_value(json_object_get(reply, "started_unix")), h->d.started);
	CHECK_INT(json_integer_value(json_object_get(reply, "grants")), 0);
	CHECK(json_is_null(json_object_get(reply, "next_deadline")));
	CHECK(json_is_null(json_object_get(reply, "next_deadline_unix")));
	CHECK_STR(json_string_value(json_object_get(reply, "socket")), h->d.config->socket);
	/* The probe's findings, and the form they call for. */
	CHECK_INT(json_integer_value(json_object_get(sshd, "port")), 22);
	CHECK_STR(json_string_value(json_object_get(sshd, "version")), "9.2");
	CHECK(json_is_array(json_object_get(sshd, "host_keys")));
	CHECK_STR(json_string_value(json_object_get(reply, "expiry_form")), "utc");
	json_decref(reply);

	reply = daemon_harness_call(h, "{\"op\":\"audit\",\"verify\":true}");
	CHECK(json_is_true(json_object_get(reply, "intact")));
	json_decref(reply);
}

/* ---- grants to a throwaway account ---- */

struct grant_case {
	struct daemon_harness *h;
	struct fixture_account *account;
};

/* Grant key to the account (duration "for"); the reply, and the id in id
 * ("" when there is none). */
static json_t *grant(struct grant_case *t, const char *key, const char *duration,
		     bool dry_run, char id[AUTHKEYS_ID_LEN + 1])
{
	json_t *reply = daemon_harness_call_json(
		t->h, json_pack("{s:s, s:s, s:s, s:s, s:b}", "op", "grant", "key", key,
				"user", t->account->acct->name, "for", duration,
				"dry_run", dry_run));
	const char *got = json_string_value(
		json_object_get(json_object_get(reply, "grant"), "id"));

	snprintf(id, AUTHKEYS_ID_LEN + 1, "%s", got ? got : "");
	return reply;
}

static time_t deadline_of(const json_t *reply)
{
	return (time_t)json_integer_value(
		json_object_get(json_object_get(reply, "grant"), "expires_unix"));
}

/* The account's authorized_keys is "# mine\n" and then line (NULL: none). */
static void check_keys(struct grant_case *t, const char *line)
{
	char *text = fixture_read_text(t->account->ak), *expected = NULL;

	if (asprintf(&expected, "# mine\n%s%s", line ? line : "", line ? "\n" : "") < 0)
		exit(1);
	CHECK_MSG(strcmp(text, expected) == 0, "authorized_keys:\n%s\nexpected:\n%s",
		  text, expected);
	free(expected);
	free(text);
}

static long long grants_now(struct grant_case *t)
{
	json_t *reply = daemon_harness_call(t->h, "{\"op\":\"status\"}");
	long long n = json_integer_value(json_object_get(reply, "grants"));

	json_decref(reply);
	return n;
}

/* A grant's life: previewed, made (its line, byte for byte), refused a
 * second time, listed, shown, extended in place, revoked, and audited. */
static void test_grant_life(struct grant_case *t)
{
	char key[256], id[AUTHKEYS_ID_LEN + 1], preview[AUTHKEYS_ID_LEN + 1];
	const char *events[] = { "grant", "extend", "revoke" };
	json_t *reply, *grants, *records;
	time_t deadline, extended;
	char *line;

	fixture_write_keys(t->account, "# mine\n");
	fixture_key_new(key, sizeof(key), "support@vendor");

	/* A dry run: the would-be grant, nothing written or recorded. */
	reply = grant(t, key, "1h", true, preview);
	CHECK_MSG(json_is_true(json_object_get(reply, "ok")), "dry run: %s",
		  fixture_str(message_of(reply)));
	CHECK(json_is_true(json_object_get(reply, "dry_run")));
	CHECK(json_is_null(json_object_get(json_object_get(reply, "grant"), "id")));
	CHECK(json_is_null(json_object_get(reply, "forced")));
	CHECK_INT(json_integer_value(json_object_get(json_object_get(reply, "sshd"), "port")), 22);
	json_decref(reply);
	check_keys(t, NULL);
	CHECK_INT(grants_now(t), 0);

	reply = grant(t, key, "1h", false, id);
	CHECK_MSG(json_is_true(json_object_get(reply, "ok")), "grant: %s",
		  fixture_str(message_of(reply)));
	CHECK_INT(strlen(id), AUTHKEYS_ID_LEN);
	deadline = deadline_of(reply);
	json_decref(reply);
	line = fixture_managed_line(id, key, deadline);
	check_keys(t, line);
	free(line);
	CHECK_INT(grants_now(t), 1);

	/* The same key again: refused, naming the grant it has. */
	reply = grant(t, key, "2h", false, preview);
	CHECK_STR(error_of(reply), "refused");
	CHECK(strstr(fixture_str(message_of(reply)), "already has access") &&
	      strstr(fixture_str(message_of(reply)), id));
	json_decref(reply);

	reply = daemon_harness_call(t->h, "{\"op\":\"list\"}");
	grants = json_object_get(reply, "grants");
	CHECK_INT(json_array_size(grants), 1);
	CHECK_STR(json_string_value(json_object_get(json_array_get(grants, 0), "id")), id);
	CHECK(json_is_null(json_object_get(reply, "next")));
	json_decref(reply);
	reply = daemon_harness_call(t->h, "{\"op\":\"list\",\"user\":\"nobody\"}");
	CHECK_INT(json_array_size(json_object_get(reply, "grants")), 0);
	json_decref(reply);
	reply = daemon_harness_call_json(t->h, json_pack("{s:s, s:s}", "op", "show", "id", id));
	CHECK_STR(json_string_value(json_object_get(json_object_get(reply, "grant"), "user")),
		  t->account->acct->name);
	json_decref(reply);

	/* extend: a later deadline in the same line's place. */
	reply = daemon_harness_call_json(t->h, json_pack("{s:s, s:s, s:s}", "op", "extend",
							 "id", id, "for", "3h"));
	CHECK_MSG(json_is_true(json_object_get(reply, "ok")), "extend: %s",
		  fixture_str(message_of(reply)));
	extended = deadline_of(reply);
	CHECK(extended >= deadline + 2 * 3600);
	json_decref(reply);
	line = fixture_managed_line(id, key, extended);
	check_keys(t, line);
	free(line);

	reply = daemon_harness_call_json(t->h, json_pack("{s:s, s:[s]}", "op", "revoke",
							 "ids", id));
	CHECK(json_is_true(json_object_get(reply, "ok")));
	CHECK_INT(json_array_size(json_object_get(reply, "revoked")), 1);
	CHECK_INT(json_integer_value(json_object_get(reply, "omitted")), 0);
	json_decref(reply);
	check_keys(t, NULL);
	CHECK_INT(grants_now(t), 0);

	/* The grant's trail: grant, extend (from when), revoke (by root). */
	reply = daemon_harness_call_json(t->h, json_pack("{s:s, s:s}", "op", "audit", "id", id));
	records = json_object_get(reply, "records");
	CHECK_INT(json_array_size(records), SL_ARRAY_SIZE(events));
	for (size_t i = 0; i < SL_ARRAY_SIZE(events); i++)
		CHECK_STR(json_string_value(json_object_get(json_array_get(records, i), "event")),
			  events[i]);
	CHECK(strncmp(fixture_str(json_string_value(json_object_get(json_array_get(records, 1),
								     "reason"))),
		      "deadline moved from ", 20) == 0);
	CHECK_STR(json_string_value(json_object_get(json_array_get(records, 2), "by_user")),
		  "root");
	json_decref(reply);
}

/* The policy's refusals: each says why, is recorded with that reason, and
 * changes nothing. */
static void test_grant_refusals(struct grant_case *t)
{
	static const struct {
		const char *name;
		const char *user; /* NULL: the throwaway account */
		const char *extra_field, *extra_value;
		const char *message;
	} cases[] = {
		{ "no such account", "slnosuchaccount", NULL, NULL, "there is no account named slnosuchaccount" },
		{ "root", "root", NULL, NULL, "(uid 0) is not allowed" },
		{ "not an account name", "Bad Name", NULL, NULL, "is not a valid account name" },
		{ "not in users", "nobody", NULL, NULL, "is not in the configuration's users list" },
		{ "too long", NULL, "for", "9999d", "max_duration" },
		{ "bad duration", NULL, "for", "soon", "duration \"soon\"" },
		{ "bad mode", NULL, "mode", "root", "mode \"root\" is neither shell nor sftp" },
		{ "bad ticket", NULL, "ticket", "a b", "ticket \"a b\"" },
		{ "bad from", NULL, "from", "example.com", "from \"example.com\"" },
	};
	char key[256];

	fixture_write_keys(t->account, "# mine\n");
	fixture_key_new(key, sizeof(key), "refused@vendor");
	for (size_t c = 0; c < SL_ARRAY_SIZE(cases); c++) {
		json_t *request = json_pack("{s:s, s:s, s:s}", "op", "grant", "key", key,
					    "user", cases[c].user ? cases[c].user
								  : t->account->acct->name);
		json_t *reply, *records;
		const char *message, *reason;

		if (cases[c].extra_field)
			json_object_set_new(request, cases[c].extra_field,
					    json_string(cases[c].extra_value));
		reply = daemon_harness_call_json(t->h, request);
		message = fixture_str(message_of(reply));
		CHECK_MSG(error_of(reply) && strcmp(error_of(reply), "refused") == 0 &&
			  strstr(message, cases[c].message),
			  "%s: %s", cases[c].name, message);
		/* The newest record is this refusal, with its reason. */
		records = daemon_harness_call(t->h, "{\"op\":\"audit\"}");
		reason = json_string_value(json_object_get(
			json_array_get(json_object_get(records, "records"),
				       json_array_size(json_object_get(records, "records")) - 1),
			"reason"));
		CHECK_MSG(reason && strcmp(reason, message) == 0, "%s: recorded %s",
			  cases[c].name, fixture_str(reason));
		json_decref(records);
		json_decref(reply);
	}
	/* A bare key where only tokens are accepted. */
	t->h->d.config->require_signed = true;
	{
		char id[AUTHKEYS_ID_LEN + 1];
		json_t *reply = grant(t, key, "1h", false, id);

		CHECK_STR(error_of(reply), "refused");
		CHECK(strstr(fixture_str(message_of(reply)), "accepts only signed tokens") != NULL);
		json_decref(reply);
	}
	t->h->d.config->require_signed = false;
	check_keys(t, NULL);
	CHECK_INT(grants_now(t), 0);
}

/* Item: a line removed by hand is not written back by extend: the grant
 * ends (line-missing) and the answer says so. */
static void test_extend_line_gone(struct grant_case *t)
{
	char key[256], id[AUTHKEYS_ID_LEN + 1];
	char *text;
	json_t *reply, *records, *record;
	const char *message;
	size_t i, missing = 0;

	fixture_write_keys(t->account, "# mine\n");
	fixture_key_new(key, sizeof(key), "gone@vendor");
	reply = grant(t, key, "1h", false, id);
	CHECK(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);
	text = fixture_read_text(t->account->ak);
	CHECK_INT(fixture_count(text, id), 1);
	free(text);

	fixture_write_keys(t->account, "# mine\n");
	reply = daemon_harness_call_json(t->h,
					 json_pack("{s:s, s:s, s:s}", "op", "extend", "id", id,
						   "for", "2h"));
	CHECK_STR(error_of(reply), "not_found");
	message = json_string_value(json_object_get(reply, "message"));
	CHECK(message && strstr(message, "no longer in"));
	json_decref(reply);
	text = fixture_read_text(t->account->ak);
	CHECK_STR(text, "# mine\n");
	free(text);

	reply = daemon_harness_call_json(t->h,
					 json_pack("{s:s, s:s}", "op", "show", "id", id));
	CHECK_STR(error_of(reply), "not_found");
	json_decref(reply);
	reply = daemon_harness_call_json(t->h,
					 json_pack("{s:s, s:s}", "op", "audit", "id", id));
	records = json_object_get(reply, "records");
	json_array_foreach(records, i, record)
		if (strcmp(fixture_str(json_string_value(json_object_get(record, "event"))),
			   "line-missing") == 0)
			missing++;
	CHECK_INT(missing, 1);
	json_decref(reply);
}

/* The open sessions of a grant in list and show, and their end with it:
 * recorded, out of the state, another grant's left as it was. The sessions
 * are put in the state by hand with this process's pid and no watched
 * monitor: a revoke must never signal a pid it did not find holding the
 * connection (if it did, this test would die). */
static void test_sessions_end_with_grant(struct grant_case *t)
{
	char key[256], other_key[256], id[AUTHKEYS_ID_LEN + 1], other[AUTHKEYS_ID_LEN + 1];
	struct state *state = t->h->d.state;
	json_t *reply, *grant_json, *records, *record;
	size_t i, ends = 0;

	fixture_write_keys(t->account, "# mine\n");
	fixture_key_new(key, sizeof(key), "support@vendor");
	fixture_key_new(other_key, sizeof(other_key), "other@vendor");
	json_decref(grant(t, key, "1h", false, id));
	json_decref(grant(t, other_key, "1h", false, other));
	{
		struct session s = { .address = "203.0.113.7", .port = 50000,
				     .since = time(NULL), .pid = getpid(),
				     .pid_start = 1 };

		snprintf(s.grant_id, sizeof(s.grant_id), "%s", id);
		snprintf(s.user, sizeof(s.user), "%s", t->account->acct->name);
		CHECK_INT(state_add_session(state, &s), 0);
		s.port = 50001;
		CHECK_INT(state_add_session(state, &s), 0);
		snprintf(s.grant_id, sizeof(s.grant_id), "%s", other);
		s.port = 50002;
		CHECK_INT(state_add_session(state, &s), 0);
	}

	reply = daemon_harness_call(t->h, "{\"op\":\"list\"}");
	json_array_foreach(json_object_get(reply, "grants"), i, grant_json)
		CHECK_INT(json_integer_value(json_object_get(grant_json, "open_sessions")),
			  strcmp(fixture_str(json_string_value(json_object_get(grant_json, "id"))),
				 id) == 0 ? 2 : 1);
	json_decref(reply);
	reply = daemon_harness_call_json(t->h, json_pack("{s:s, s:s}", "op", "show", "id", id));
	grant_json = json_object_get(reply, "grant");
	CHECK_INT(json_array_size(json_object_get(grant_json, "sessions")), 2);
	record = json_array_get(json_object_get(grant_json, "sessions"), 1);
	CHECK_STR(json_string_value(json_object_get(record, "address")), "203.0.113.7");
	CHECK_INT(json_integer_value(json_object_get(record, "port")), 50001);
	CHECK_INT(json_integer_value(json_object_get(record, "pid")), getpid());
	json_decref(reply);

	reply = daemon_harness_call_json(t->h, json_pack("{s:s, s:[s]}", "op", "revoke", "ids", id));
	CHECK(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);
	CHECK_INT(state->n_sessions, 1);
	CHECK_STR(state->sessions[0].grant_id, other);
	reply = daemon_harness_call_json(t->h, json_pack("{s:s, s:s}", "op", "audit", "id", id));
	records = json_object_get(reply, "records");
	json_array_foreach(records, i, record) {
		if (strcmp(fixture_str(json_string_value(json_object_get(record, "event"))),
			   "session_end") != 0)
			continue;
		ends++;
		CHECK_STR(json_string_value(json_object_get(record, "reason")), "grant ended");
		CHECK_STR(json_string_value(json_object_get(record, "address")), "203.0.113.7");
		CHECK(json_is_integer(json_object_get(record, "duration")));
	}
	CHECK_INT(ends, 2);
	json_decref(reply);
	reply = daemon_harness_call_json(t->h, json_pack("{s:s, s:[s]}", "op", "revoke", "ids", other));
	CHECK(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);
	CHECK_INT(state->n_sessions, 0);
}

/* In the child that owns the account. */
static int grant_tests(struct fixture_account *account, void *arg)
{
	struct daemon_harness h;
	struct grant_case t = { .h = &h, .account = account };

	daemon_harness_init(&h, "sl-test-handlers");
	daemon_harness_allow_user(&h, account->acct->name);
	TEST(test_grant_life(&t));
	TEST(test_grant_refusals(&t));
	TEST(test_extend_line_gone(&t));
	TEST(test_sessions_end_with_grant(&t));
	daemon_harness_finish(&h, test_failures != 0);
	return test_done() != 0;
}

int main(void)
{
	struct daemon_harness h;

	daemon_harness_init(&h, "sl-test-handlers");
	TEST(test_bad_requests(&h));
	TEST(test_field_table(&h));
	TEST(test_token_refusal(&h));
	TEST(test_status(&h));
	daemon_harness_finish(&h, test_failures != 0);
	/* Grants need root: the engine acts as the account. */
	if (geteuid() != 0) {
		if (test_done() != 0)
			return 1;
		fprintf(stderr, "skipped: the grant part needs root\n");
		return 77;
	}
	if (fixture_account_run("slh", grant_tests, NULL) != 0) {
		fprintf(stderr, "the grant tests failed\n");
		test_failures++;
	}
	return test_done();
}

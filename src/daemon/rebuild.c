/*
 * The state and the audit log agree at start (issue: every grant ends on
 * record, and no managed line is ever unmanaged). The audit log is read
 * only when they may not: state.json was missing, or the log does not end
 * with a clean stop (a crash or a kill -9).
 *
 *  - state.json missing: the grants live by the log (a "grant" record, no
 *    end record) whose line is still in the account's file are put back
 *    in the state, the key's blob read from that line and its fingerprint
 *    checked against the record; the others end as "line-missing". One
 *    "state_rebuilt" record says what was done.
 *  - after a crash: a grant live by the log but not in the state ended
 *    before the daemon stopped and its end record was lost: it is written
 *    now ("expire" when its deadline had passed, "line-missing" else, the
 *    reason saying so). A grant in the state with no "grant" record in the
 *    log (made after the log's first record) gets one.
 * Before both, a log that ends before the record the state was saved after
 * (or at it with another hash) gets an "audit_gap" record.
 * Recovery (recovery.c) then makes the files agree with the state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "account.h"
#include "daemon.h"
#include "grant.h"
#include "key.h"
#include "log.h"
#include "timeutil.h"

/* Ends, by the events that end a grant. */
static bool ends_grant(const char *event)
{
	return strcmp(event, "revoke") == 0 || strcmp(event, "expire") == 0 ||
	       strcmp(event, "line-missing") == 0;
}

/* The grants live by records: id -> a copy of its "grant" record, with
 * the deadline of its last "extend" and the name of its last
 * "account_renamed". *first gets the first record's time. NULL when out
 * of memory. */
static json_t *live_by_records(const json_t *records, time_t *first)
{
	json_t *live = json_object(), *record;
	size_t i;

	*first = 0;
	json_array_foreach(records, i, record) {
		const char *event = json_string_value(json_object_get(record, "event"));
		const char *id = json_string_value(json_object_get(record, "id"));
		json_t *known;

		if (i == 0) {
			const char *why = NULL;
			const char *when = json_string_value(json_object_get(record, "time"));

			if (when)
				time_parse(when, first, &why);
		}
		if (!live || !event || !id)
			continue;
		known = json_object_get(live, id);
		if (strcmp(event, "grant") == 0) {
			if (json_object_set_new(live, id, json_deep_copy(record)) < 0)
				goto fail;
		} else if (known && ends_grant(event)) {
			json_object_del(live, id);
		} else if (known && (strcmp(event, "extend") == 0 || strcmp(event, "account_renamed") == 0)) {
			const char *field = event[0] == 'e' ? "expires" : "user";
			json_t *value = json_object_get(record, field);

			if (value && json_object_set(known, field, value) < 0)
				goto fail;
		}
	}
	return live;
fail:
	json_decref(live);
	return NULL;
}

static char *dup_field(const json_t *record, const char *field)
{
	const char *text = json_string_value(json_object_get(record, field));

	return text ? strdup(text) : NULL;
}

static time_t time_field(const json_t *record, const char *field)
{
	const char *text = json_string_value(json_object_get(record, field));
	const char *why = NULL;
	time_t t = 0;

	if (text)
		time_parse(text, &t, &why);
	return t;
}

/* A grant from its record (no blob yet). 0 or -ENOMEM. */
static int grant_from_record(const char *id, const json_t *record, struct grant *g)
{
	const json_t *by_uid = json_object_get(record, "by_uid");

	*g = (struct grant){ 0 };
	snprintf(g->id, sizeof(g->id), "%s", id);
	g->user = dup_field(record, "user");
	g->key_type = dup_field(record, "key_type");
	g->fingerprint = dup_field(record, "fingerprint");
	g->comment = strdup("");
	g->ticket = dup_field(record, "ticket");
	g->from = dup_field(record, "from");
	g->signer = dup_field(record, "signer");
	g->by_user = dup_field(record, "by_user");
	g->by_uid = json_is_integer(by_uid) ? (long long)json_integer_value(by_uid) : -1;
	g->created = time_field(record, "time");
	g->expires = time_field(record, "expires");
	if (!authkeys_mode_parse(json_string_value(json_object_get(record, "mode")), &g->mode))
		g->mode = AUTHKEYS_MODE_SHELL;
	if (!g->user || !g->key_type || !g->fingerprint || !g->comment)
		return -ENOMEM;
	return 0;
}

/* The blob of grant g's line in acct's file, when the line is there and its
 * key has g's fingerprint. */
static char *blob_of(const struct grant *g, const struct authkeys_entry *entries, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct sshlease_key *key = NULL;
		const char *why = NULL;
		char line[AUTHKEYS_LINE_MAX + 1];
		char *blob = NULL;
		int len;

		if (strcmp(entries[i].id, g->id) != 0)
			continue;
		len = snprintf(line, sizeof(line), "%s %s", entries[i].key_type, entries[i].blob_base64);
		if (len > 0 && (size_t)len < sizeof(line) &&
		    key_parse(line, (size_t)len, &(struct key_policy){ .allowed_families = ~0U }, &key,
			      &why) == 0 &&
		    strcmp(key->fingerprint, g->fingerprint) == 0)
			blob = strdup(entries[i].blob_base64);
		key_free(key);
		return blob;
	}
	return NULL;
}

/* state.json was missing: put the live grants whose line is there back. */
static void rebuild(struct daemon *d, json_t *live)
{
	size_t n_back = 0, n_gone = 0;
	char reason[256];
	const char *id;
	json_t *record;

	json_object_foreach(live, id, record) {
		struct authkeys_entry *entries = NULL;
		struct account *acct = NULL;
		const char *why = NULL;
		struct grant g;
		size_t n = 0;
		char *blob = NULL;

		if (grant_from_record(id, record, &g) < 0) {
			log_err("rebuilding the state: out of memory at grant %s", id);
			grant_finish(&g);
			continue;
		}
		if (account_lookup(g.user, &acct, &why) == 0 &&
		    daemon_keys_list(d, acct, &entries, &n, &why) == 0)
			blob = blob_of(&g, entries, n);
		if (acct)
			g.uid = acct->uid;
		authkeys_entries_free(entries, n);
		account_free(acct);
		if (!blob) {
			daemon_grant_audit(d, &g, "line-missing", NULL,
					   "the state was rebuilt from the audit log, and this grant's line is no longer in its account's file",
					   NULL);
			n_gone++;
			grant_finish(&g);
			continue;
		}
		g.blob_base64 = blob;
		if (state_account_note(d->state, g.user) < 0 || state_add_grant(d->state, &g) < 0) {
			log_err("rebuilding the state: out of memory at grant %s", id);
			grant_finish(&g);
			continue;
		}
		n_back++;
	}
	snprintf(reason, sizeof(reason),
		 "state.json was missing: %zu live grant%s rebuilt from the audit log, %zu ended (their lines were gone)",
		 n_back, n_back == 1 ? "" : "s", n_gone);
	if (state_save(d->config->state_dir, d->state) < 0)
		snprintf(reason + strlen(reason), sizeof(reason) - strlen(reason),
			 "; the state could not be saved");
	log_warn("%s", reason);
	daemon_audit(d, &(struct audit_event){ .event = "state_rebuilt", .by_uid = -1, .reason = reason });
}

/* After a crash: the records the state says are owed. */
static void reconcile(struct daemon *d, json_t *live, time_t first)
{
	time_t now = daemon_now();
	size_t n_ends = 0, n_grants = 0;
	const char *id;
	json_t *record;

	json_object_foreach(live, id, record) {
		struct grant g;

		if (state_find_grant(d->state, id))
			continue;
		if (grant_from_record(id, record, &g) == 0) {
			bool expired = g.expires != 0 && g.expires <= now;

			daemon_grant_audit(d, &g, expired ? "expire" : "line-missing", NULL,
					   expired ? "it ended at its deadline before the daemon stopped; this record was written at the next start"
						   : "it ended before the daemon stopped, and its end record was lost; written at the next start",
					   NULL);
			n_ends++;
		}
		grant_finish(&g);
	}
	for (size_t i = 0; i < d->state->n_grants; i++) {
		const struct grant *g = &d->state->grants[i];

		if (json_object_get(live, g->id) || g->created < first)
			continue;
		daemon_grant_audit(d, g, "grant", &(struct peer){ .uid = g->by_uid, .user = g->by_user },
				   "the daemon stopped before recording this grant; recorded at the next start", NULL);
		n_grants++;
	}
	if (n_ends + n_grants > 0)
		log_warn("after an unclean stop: %zu end record%s and %zu grant record%s written that were owed",
			 n_ends, n_ends == 1 ? "" : "s", n_grants, n_grants == 1 ? "" : "s");
}

/* The state remembers where the log ended when it was saved: a log that
 * ends before that, or elsewhere, lost records (deleted with its head,
 * replaced, cut). Say so in the log itself, where audit --verify finds it. */
static void check_position(struct daemon *d)
{
	unsigned long long seq = audit_last_seq(d->audit);
	char reason[400];

	if (d->state->audit_seq == 0 ||
	    (seq > d->state->audit_seq) ||
	    (seq == d->state->audit_seq && strcmp(audit_last_hash(d->audit), d->state->audit_hash) == 0))
		return;
	snprintf(reason, sizeof(reason),
		 "the audit log lost records: the state was saved after record %llu (hash %s), "
		 "and the log now ends at record %llu%s; the log was deleted, replaced or cut",
		 d->state->audit_seq, d->state->audit_hash, seq,
		 seq == d->state->audit_seq ? " with another hash" : "");
	log_err("%s", reason);
	daemon_audit(d, &(struct audit_event){ .event = "audit_gap", .by_uid = -1, .reason = reason });
}

void daemon_state_from_audit(struct daemon *d, bool state_missing)
{
	json_t *records = NULL, *live = NULL;
	time_t first = 0;
	int r;

	check_position(d);

	if (audit_last_seq(d->audit) == 0 ||
	    (!state_missing && strcmp(audit_opened_after(d->audit), "stop") == 0))
		return;
	r = audit_read(d->config->audit_log, NULL, 0, &records);
	if (r < 0) {
		log_err("cannot read the audit log to check the state against it: %s", strerror(-r));
		return;
	}
	live = live_by_records(records, &first);
	if (!live)
		log_err("out of memory checking the state against the audit log");
	else if (state_missing)
		rebuild(d, live);
	else
		reconcile(d, live, first);
	json_decref(live);
	json_decref(records);
}

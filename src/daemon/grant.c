/* A grant's life (grant.h): the refusal record of an attempt, the grant
 * built and its line, made real step by step, audited, ended. */
#define _GNU_SOURCE /* qsort_r */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "grant.h"
#include "key.h"
#include "log.h"
#include "request.h"
#include "timeutil.h"

int daemon_grant_audit(struct daemon *d, const struct grant *grant,
		       const char *event, const struct peer *peer,
		       const char *reason, const char *report)
{
	struct audit_event ev = {
		.event = event,
		.id = grant->id,
		.user = grant->user,
		.key_type = grant->key_type,
		.fingerprint = grant->fingerprint,
		.ticket = grant->ticket,
		.expires = grant->expires,
		.from = grant->from,
		.mode = authkeys_mode_name(grant->mode),
		.by_uid = peer ? peer->uid : -1,
		.by_user = peer ? peer->user : NULL,
		.reason = reason,
		.signer = grant->signer,
		.report = report,
	};

	return daemon_audit(d, &ev);
}

bool daemon_refusal_note(struct daemon *d, uid_t uid, const char *message,
			 char *reason, size_t size)
{
	unsigned long suppressed = 0;

	snprintf(reason, size, "%s", message);
	if (uid == 0)
		return true;
	if (!admission_refusal_record(&d->member_refusals, uid, time_monotonic_ms(), &suppressed)) {
		log_debug("refused a request of uid %lu: %.512s; recorded at most once a minute",
			  (unsigned long)uid, message);
		return false;
	}
	if (suppressed > 0)
		snprintf(reason, size, "%.512s (%lu more refusal%s from uid %lu in the last minute, not recorded)",
			 message, suppressed, suppressed == 1 ? "" : "s", (unsigned long)uid);
	return true;
}

json_t *daemon_grant_refuse(const struct grant_attempt *a,
			    enum proto_error_code code, const char *message)
{
	char user[REPLY_QUOTE_MAX + 1], ticket[REPLY_QUOTE_MAX + 1], reason[640];
	struct audit_event ev = {
		.event = "refuse",
		.user = a->user ? reply_quote(user, a->user) : NULL,
		.ticket = a->ticket ? reply_quote(ticket, a->ticket) : NULL,
		.key_type = a->key ? a->key->type : NULL,
		.fingerprint = a->key ? a->key->fingerprint : NULL,
		.expires = a->expires,
		.by_uid = (long long)a->conn->uid,
		.by_user = a->conn->by_user,
		.reason = reason,
		.signer = a->signer,
	};

	if (daemon_refusal_note(a->d, a->conn->uid, message, reason, sizeof(reason)))
		daemon_audit(a->d, &ev);
	return proto_error(code, message);
}

json_t *daemon_grant_refusef(const struct grant_attempt *a, const char *fmt, ...)
{
	char message[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	return daemon_grant_refuse(a, PROTO_ERR_REFUSED, message);
}

static void new_unique_id(const struct state *state, char id[AUTHKEYS_ID_LEN + 1])
{
	do
		authkeys_new_id(id);
	while (state_find_grant((struct state *)state, id));
}

static int strdup_or_null(char **out, const char *text)
{
	*out = NULL;
	if (!text)
		return 0;
	*out = strdup(text);
	return *out ? 0 : -ENOMEM;
}

int daemon_grant_init(struct grant *grant, const struct state *state,
		      const struct account *acct, const struct sshlease_key *key,
		      const struct redeem_terms *terms, const char *signer,
		      time_t now, const struct connection *conn)
{
	*grant = (struct grant){
		.uid = acct->uid,
		.mode = terms->mode,
		.created = now,
		.expires = terms->deadline,
		.by_uid = (long long)conn->uid,
	};
	if (strdup_or_null(&grant->user, acct->name) < 0 ||
	    strdup_or_null(&grant->key_type, key->type) < 0 ||
	    strdup_or_null(&grant->blob_base64, key->blob_base64) < 0 ||
	    strdup_or_null(&grant->fingerprint, key->fingerprint) < 0 ||
	    strdup_or_null(&grant->comment, key->comment) < 0 ||
	    strdup_or_null(&grant->ticket, terms->ticket) < 0 ||
	    strdup_or_null(&grant->from, terms->from) < 0 ||
	    strdup_or_null(&grant->signer, signer) < 0 ||
	    strdup_or_null(&grant->by_user, conn->by_user) < 0)
		return -ENOMEM;
	new_unique_id(state, grant->id);
	return 0;
}

int daemon_grant_line(const struct grant *grant, enum authkeys_expiry form,
		      char **line, const char **why)
{
	const struct authkeys_line_spec spec = {
		.id = grant->id,
		.key_type = grant->key_type,
		.blob_base64 = grant->blob_base64,
		.deadline = grant->expires,
		.expiry = form,
		.mode = grant->mode,
		.from = grant->from,
	};

	return authkeys_format_line(&spec, line, why);
}

int daemon_grant_rewrite(struct daemon *d, const struct account *acct,
			 const struct grant *grant, enum authkeys_expiry form,
			 size_t *replaced, const char **why)
{
	char *line = NULL;
	int r;

	*replaced = 0;
	r = daemon_grant_line(grant, form, &line, why);
	if (r == 0)
		r = daemon_keys_replace(d, acct, line, replaced, why);
	free(line);
	return r;
}

json_t *daemon_grant_reply(const struct daemon *d, const struct grant *grant,
			   bool dry_run, const struct doctor_result *blocker)
{
	json_t *object = grant_to_json(grant), *forced;

	if (!object)
		return NULL;
	/* A preview has no id yet: the real grant gets its own. */
	if (dry_run && json_object_set_new(object, "id", json_null()) < 0) {
		json_decref(object);
		return NULL;
	}
	forced = blocker ? json_pack("{s:s, s:s, s:s?}", "check", blocker->name,
				     "message", blocker->message, "fix",
				     blocker->fix)
			 : json_null();
	return json_pack("{s:b, s:o, s:b, s:o, s:o}", "ok", 1, "grant", object,
			 "dry_run", dry_run, "sshd", daemon_sshd_json(d),
			 "forced", forced);
}

/* Undo a grant recorded in the state whose line surely is not in the
 * file (nothing was written, or it was taken out again); a token's nonce
 * goes too, so the token may be tried again. */
static void withdraw(struct daemon *d, const char *id, const char *nonce)
{
	int r;

	state_remove_grant(d->state, id);
	if (nonce)
		state_nonce_remove(d->state, nonce);
	daemon_keywatch_take_ended(d, NULL);
	r = state_save(d->config->state_dir, d->state);
	if (r < 0)
		/* The next start finds no line for it and ends it; the nonce
		 * stays redeemed (fail closed). */
		log_err("grant %s: withdrawn, but the state could not be saved: %s",
			id, strerror(-r));
}

/*
 * authkeys_add failed with -errno: the child may have got past the rename
 * before it failed or died (the directory fsync failed, it was killed, its
 * answer was lost), so the file may hold the new line although the grant
 * failed. Take it out again now rather than leave it. The id is new, so a
 * line with its marker and this key can only be the one just written.
 * Returns 0 when the file is now known not to hold the line, else the
 * removal's error (logged).
 */
static int remove_stray_line(struct daemon *d, const struct account *acct,
			     const char *id, const char *blob, int add_error,
			     const char *add_why)
{
	const char *why = NULL;
	size_t removed = 0;
	int r;

	r = daemon_keys_remove(d, acct, id, blob, &removed, &why);
	if (r != 0)
		log_err("grant %s: writing its line failed (%.512s: %s) and removing what may have been written failed too (%.512s%s%s); the grant is kept so that its deadline or a revoke removes the line",
			id, add_why ? add_why : "unknown step", strerror(-add_error),
			why ? why : "unknown error", r < 0 ? ": " : "",
			r < 0 ? strerror(-r) : "");
	else if (removed > 0)
		log_warn("grant %s: writing its line failed (%.512s: %s) after the line reached %.64s's authorized_keys; removed it again",
			 id, add_why ? add_why : "unknown step", strerror(-add_error),
			 acct->name);
	else
		log_warn("grant %s: writing its line failed (%.512s: %s); %.64s's authorized_keys does not hold it",
			 id, add_why ? add_why : "unknown step", strerror(-add_error),
			 acct->name);
	return r;
}

/*
 * The line of a grant already in the state may or may not be in the file
 * (writing it failed, and so did taking it out again). Dropping the grant
 * would leave a line that list, revoke and expiry no longer reach, and
 * forgetting a token's nonce would let the token be redeemed again; so
 * both stay (the state holds them already), the timer is armed for its
 * deadline, and an audit "grant" record says what is known. A restart
 * ends it as "line-missing" when the line is not there.
 */
static json_t *keep_unsure(struct grant_attempt *a, const char *id,
			   const char *failure)
{
	struct daemon *d = a->d;
	const struct grant *stored = state_find_grant(d->state, id);
	char reason[512];

	snprintf(reason, sizeof(reason),
		 "%.300s; the line may be in authorized_keys all the same, so the grant is kept until its deadline or a revoke",
		 failure);
	if (stored) {
		const struct peer by = { stored->by_uid, stored->by_user };

		if (daemon_grant_audit(d, stored, "grant", &by, reason, NULL) < 0)
			log_err("grant %s: kept although its line may be missing, and the audit log cannot say so",
				id);
	}
	daemon_expire_due(d);
	return reply_error(PROTO_ERR_FAILED,
			   "%.250s; the line may have been written all the same, so grant %s is kept: it ends at its deadline, or now with 'sshlease revoke %s'",
			   failure, id, id);
}

/* Step 4 of the lifecycle: state, line, audit, timer (DESIGN.md §3). */
json_t *daemon_grant_create(struct grant_attempt *a, struct grant *grant,
			    const struct account *acct, const char *line,
			    time_t nonce_until, const struct doctor_result *blocker)
{
	struct daemon *d = a->d;
	char id[AUTHKEYS_ID_LEN + 1];
	struct peer by;
	const struct grant *stored;
	const char *why = NULL;
	char refusal[512] = "";
	json_t *reply;
	int r;

	memcpy(id, grant->id, sizeof(id));
	r = state_account_note(d->state, acct->name);
	/* The account's first live grant: what its key files hold now is
	 * its own (sshlease(1) PLANTED KEYS), saved with the grant. */
	if (r == 0)
		r = daemon_keywatch_begin(d, acct, refusal, sizeof(refusal));
	if (r == SL_REFUSED)
		return daemon_grant_refuse(a, PROTO_ERR_REFUSED, refusal);
	if (r < 0 && refusal[0])
		return reply_error(PROTO_ERR_FAILED, "%s", refusal);
	if (r == 0)
		r = state_add_grant(d->state, grant);
	if (r == 0 && a->nonce) {
		state_nonce_prune(d->state, daemon_now());
		r = state_nonce_add(d->state, a->nonce, nonce_until);
		if (r != 0)
			state_remove_grant(d->state, id);
	}
	if (r != 0) {
		daemon_keywatch_take_ended(d, NULL);
		return reply_error(PROTO_ERR_FAILED, "cannot record the grant: %s",
				   r < 0 ? strerror(-r) : "the token's nonce is recorded already");
	}
	r = state_save(d->config->state_dir, d->state);
	if (r < 0) {
		state_remove_grant(d->state, id);
		if (a->nonce)
			state_nonce_remove(d->state, a->nonce);
		daemon_keywatch_take_ended(d, NULL);
		log_err("cannot save the state: %s", strerror(-r));
		return reply_error(PROTO_ERR_FAILED, "cannot save the daemon's state: %s; nothing was granted",
				   strerror(-r));
	}

	r = daemon_keys_add(d, acct, line, &why);
	if (r != 0) {
		char message[512];

		if (r < 0)
			snprintf(message, sizeof(message),
				 "cannot write %s's authorized_keys: %s", acct->name,
				 daemon_keys_why(r, why));
		/* Positive answers leave the file untouched; -errno may not,
		 * unless taking the line out again worked. */
		if (r < 0 && remove_stray_line(d, acct, id,
					       state_find_grant(d->state, id)->blob_base64,
					       r, why) != 0)
			return keep_unsure(a, id, message);
		withdraw(d, id, a->nonce);
		if (r == SL_EXISTS)
			snprintf(message, sizeof(message),
				 "this key is already in %s's authorized_keys, outside sshlease; remove it there first or use another key",
				 acct->name);
		else if (r == SL_REFUSED)
			snprintf(message, sizeof(message), "%s's authorized_keys: %s",
				 acct->name, why);
		else if (r == SL_CHANGED)
			snprintf(message, sizeof(message),
				 "%s's authorized_keys kept changing while it was being written; try again",
				 acct->name);
		else if (r > 0)
			snprintf(message, sizeof(message),
				 "cannot write %s's authorized_keys: unexpected result",
				 acct->name);
		return daemon_grant_refuse(a, r == SL_EXISTS || r == SL_REFUSED ? PROTO_ERR_REFUSED : PROTO_ERR_FAILED,
					   message);
	}

	stored = state_find_grant(d->state, id);
	by = (struct peer){ stored->by_uid, stored->by_user };
	if (daemon_grant_audit(d, stored, "grant", &by, a->override, NULL) < 0) {
		/* No access without its record: take it back. */
		r = daemon_keys_remove(d, acct, id, stored->blob_base64, NULL,
				       &why);
		if (r != 0) {
			/* The line stays reachable: keep the grant (and a
			 * token's nonce) for expiry and revoke. */
			log_err("grant %s: cannot remove its line after the audit failure: %.512s; the grant is kept until its deadline or a revoke",
				id, daemon_keys_why(r, why));
			daemon_expire_due(d);
			return reply_error(PROTO_ERR_FAILED,
					   "the audit log cannot be written, and the line could not be taken out again; grant %s is kept: it ends at its deadline, or now with 'sshlease revoke %s'",
					   id, id);
		}
		/* The grant record is held and written once the log can be
		 * (audit.h): so is this end, right after it, so that the log
		 * never shows a grant that did not end. */
		daemon_grant_audit(d, stored, "revoke", NULL,
				   "withdrawn at once by sshleased: its grant record could not be written, and its line was taken out again; nothing was granted",
				   NULL);
		withdraw(d, id, a->nonce);
		return reply_error(PROTO_ERR_FAILED, "the audit log cannot be written; nothing was granted");
	}
	reply = daemon_grant_reply(d, stored, false, blocker);
	daemon_expire_due(d);
	return reply;
}

/* Move the grant with that id out of the state into *out (the caller owns
 * its strings then). 0 or SL_NOT_FOUND. */
/* Whether the state still has a grant of uid. */
static bool account_has_grant(const struct state *state, uid_t uid)
{
	for (size_t i = 0; i < state->n_grants; i++)
		if (state->grants[i].uid == uid)
			return true;
	return false;
}

static int take_grant(struct state *state, const char *id, struct grant *out)
{
	for (size_t i = 0; i < state->n_grants; i++) {
		if (strcmp(state->grants[i].id, id) != 0)
			continue;
		*out = state->grants[i];
		memmove(&state->grants[i], &state->grants[i + 1],
			(state->n_grants - i - 1) * sizeof(state->grants[0]));
		state->n_grants--;
		return 0;
	}
	return SL_NOT_FOUND;
}

/* Where each grant of a round stands. */
enum ending_step {
	ENDING_PENDING, /* in the state, line not handled yet */
	ENDING_READY,   /* line removed (or no account): take it out */
	ENDING_DONE,    /* result final */
};

struct ending {
	enum ending_step step;
	const char *user;   /* the grant's account (strings of the state) */
	uid_t uid;          /* and its uid */
	const char *blob;
	const char *reason; /* for its audit record */
};

/* By account, then in the caller's order: each account is one run. */
static int ending_compare(const void *a, const void *b, void *arg)
{
	const struct ending *endings = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(endings[x].user, endings[y].user);

	if (c != 0)
		return c;
	return x < y ? -1 : x > y;
}

/* Remove the lines of the grants order[0..count), all of one account, in
 * one edit; mark each ready or failed. entries and removed are scratch
 * arrays of at least count elements. */
static void end_account_lines(struct daemon *d, struct ending *endings,
			      const char (*ids)[AUTHKEYS_ID_LEN + 1],
			      const size_t *order, size_t count,
			      struct authkeys_entry *entries, size_t *removed,
			      const char *reason, int *results, const char **whys)
{
	const char *user = endings[order[0]].user;
	struct account *acct = NULL, *by_uid = NULL;
	const char *why = NULL;
	int r;

	r = account_lookup(user, &acct, &why);
	if ((r == SL_NOT_FOUND || (r == 0 && acct->uid != endings[order[0]].uid)) &&
	    account_lookup_uid(endings[order[0]].uid, &by_uid, &why) == 0) {
		/* Renamed since (usermod -l), the name gone or someone else's
		 * now: the line is in the account of the grant's uid. The next
		 * start moves its other grants over. */
		log_warn("account %.64s (uid %u) is now named %.64s: ending %zu grant%s there",
			 user, (unsigned)endings[order[0]].uid, by_uid->name, count, count == 1 ? "" : "s");
		account_free(acct);
		acct = by_uid;
		r = 0;
	}
	/* Else the name's account, whatever its uid now (usermod -u keeps
	 * the name and the home): the edit only ever takes out the line with
	 * this grant's marker and key, so another account's file keeps every
	 * byte. */
	if (r == SL_NOT_FOUND) {
		/* Nobody can log in to an account that does not exist; its
		 * file cannot be found by name any more either. */
		log_warn("account %.64s no longer exists; ending %zu grant%s without editing a file",
			 user, count, count == 1 ? "" : "s");
		for (size_t k = 0; k < count; k++) {
			endings[order[k]].step = ENDING_READY;
			endings[order[k]].reason = reason ? reason : "the account no longer exists";
		}
		goto out;
	}
	if (r == 0) {
		for (size_t k = 0; k < count; k++) {
			entries[k] = (struct authkeys_entry){
				.blob_base64 = (char *)endings[order[k]].blob,
			};
			memcpy(entries[k].id, ids[order[k]], sizeof(entries[k].id));
		}
		r = daemon_keys_remove_many(d, acct, entries, count, NULL, removed, &why);
	}
	for (size_t k = 0; k < count; k++) {
		struct ending *e = &endings[order[k]];

		if (r != 0) {
			e->step = ENDING_DONE;
			results[order[k]] = r;
			whys[order[k]] = daemon_keys_why(r, why);
			continue;
		}
		e->step = ENDING_READY;
		e->reason = reason ? reason :
			    removed[k] == 0 ? "the line was already gone" : NULL;
	}
out:
	account_free(acct);
}

/*
 * A grant that could not end now: the failure counted in its hold (the
 * expiry timer tries again after the backoff), recorded (audit
 * removal_failed: the reason, the attempt, the next try) and logged. A
 * grant that was to end before its deadline (a revoke) has its deadline
 * moved to now and saved, so that the tries go on as an expiry, also after
 * a restart.
 */
static void end_failed(struct daemon *d, const char *id, const char *event,
		       const struct peer *peer, const char *why)
{
	struct grant *grant = state_find_grant(d->state, id);
	const struct schedule_hold *hold;
	time_t now = daemon_now();
	char reason[SCHEDULE_WHY_MAX + 200];
	bool moved = false;

	if (!grant)
		return;
	hold = schedule_hold_fail(&d->holds, &d->n_holds, id, now, why);
	if (!hold) {
		log_err("grant %s could not be ended (%s): %.512s; out of memory planning a retry",
			id, event, why ? why : "unknown error");
		return;
	}
	/* Its logins end now all the same: the grant is over, whether or not
	 * its line could be taken out yet (the same save keeps that). */
	daemon_sessions_end_grant(d, grant, "grant ended (its line could not be removed yet)");
	if (strcmp(event, "expire") != 0 && grant->expires > now) {
		time_t old = grant->expires;

		grant->expires = now;
		moved = state_save(d->config->state_dir, d->state) == 0;
		if (!moved)
			grant->expires = old;
	} else if (state_save(d->config->state_dir, d->state) < 0) {
		log_warn("grant %s: the state could not be saved after ending its sessions", id);
	}
	snprintf(reason, sizeof(reason), "%s failed: %s; attempt %u, next try in %lld s%s",
		 event, hold->why, hold->attempts, (long long)(hold->until - now),
		 moved ? "; its deadline is now, so the tries go on until the line is gone" : "");
	/* Recorded at attempts 1, 2, 4, 8... and then about hourly (every
	 * 12th at the longest backoff), so that a removal failing for days
	 * does not fill the log; a revoke's failure always. */
	if (strcmp(event, "expire") != 0 || (hold->attempts & (hold->attempts - 1)) == 0 ||
	    hold->attempts % 12 == 0) {
		log_err("grant %s for %.64s could not be ended: %s", id, grant->user, reason);
		daemon_grant_audit(d, grant, "removal_failed", peer, reason, NULL);
	} else {
		log_debug("grant %s for %.64s could not be ended: %s", id, grant->user, reason);
	}
}

int daemon_grants_end(struct daemon *d, size_t n,
		      const char (*ids)[AUTHKEYS_ID_LEN + 1], const char *event,
		      const struct peer *peer, const char *reason, int *results,
		      const char **whys)
{
	struct ending *endings = calloc(n + 1, sizeof(*endings));
	size_t *order = calloc(n + 1, sizeof(*order));
	size_t *removed = calloc(n + 1, sizeof(*removed));
	size_t *taken_from = calloc(n + 1, sizeof(*taken_from));
	struct authkeys_entry *entries = calloc(n + 1, sizeof(*entries));
	struct grant *ended = calloc(n + 1, sizeof(*ended));
	size_t n_order = 0, n_ended = 0, n_watches = 0;
	struct key_watch *watches = NULL;
	int r = 0;

	if (!endings || !order || !removed || !taken_from || !entries || !ended) {
		for (size_t i = 0; i < n; i++) {
			results[i] = -ENOMEM;
			whys[i] = strerror(ENOMEM);
		}
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct grant *grant = state_find_grant(d->state, ids[i]);

		whys[i] = NULL;
		results[i] = grant ? 0 : SL_NOT_FOUND;
		if (!grant) {
			endings[i].step = ENDING_DONE;
			continue;
		}
		endings[i] = (struct ending){
			.step = ENDING_PENDING,
			.user = grant->user,
			.uid = grant->uid,
			.blob = grant->blob_base64,
		};
		order[n_order++] = i;
	}

	/* The files first: one edit per account. The state is not touched
	 * yet, so the strings the endings point to stay put. */
	qsort_r(order, n_order, sizeof(*order), ending_compare, endings);
	for (size_t first = 0, end; first < n_order; first = end) {
		for (end = first + 1; end < n_order &&
		     strcmp(endings[order[end]].user, endings[order[first]].user) == 0;
		     end++)
			;
		end_account_lines(d, endings, ids, order + first, end - first,
				  entries, removed, reason, results, whys);
	}

	/* Then the state, saved once for the whole round. */
	for (size_t i = 0; i < n; i++) {
		if (endings[i].step != ENDING_READY)
			continue;
		if (take_grant(d->state, ids[i], &ended[n_ended]) != 0) {
			results[i] = SL_NOT_FOUND; /* the same id twice */
			continue;
		}
		taken_from[n_ended++] = i;
	}
	if (n_ended == 0)
		goto failures;
	/* Their lines are gone: so are the connections made with them. Their
	 * sessions leave the state with them, in the same save. */
	for (size_t k = 0; k < n_ended; k++)
		daemon_sessions_end_grant(d, &ended[k], "grant ended");
	/* Footholds, once per watched account, while its watch still holds
	 * the start: for a grant that had logins (each session's end looked
	 * already; this catches what its processes did since), or the
	 * account's last (its watch ends now). Grants without a login that
	 * end one by one (revoke --all) so cost nothing more. Accounts with a
	 * watch are few: the list stays short. */
	{
		size_t n_checked = 0;
		uid_t *checked = calloc(d->state->n_key_watches + 1, sizeof(*checked));

		for (size_t k = 0; checked && k < n_ended; k++) {
			bool seen = !state_find_key_watch(d->state, ended[k].uid);
			bool logins = ended[k].tally && ended[k].tally->sessions > 0;

			for (size_t j = 0; j < n_checked && !seen; j++)
				seen = checked[j] == ended[k].uid;
			if (seen || n_checked >= d->state->n_key_watches ||
			    (!logins && account_has_grant(d->state, ended[k].uid)))
				continue;
			checked[n_checked++] = ended[k].uid;
			daemon_footholds_check(d, ended[k].uid, &ended[k]);
		}
		free(checked);
	}
	/* An account's key watch ends with its last grant, in the same save. */
	n_watches = daemon_keywatch_take_ended(d, &watches);
	r = state_save(d->config->state_dir, d->state);
	if (r < 0) {
		log_err("%zu grant%s: lines removed but the state could not be saved: %s",
			n_ended, n_ended == 1 ? "" : "s", strerror(-r));
		/* Put them back: the state on disk still has them, and a retry
		 * (or the next start) will find their lines gone. */
		for (size_t k = 0; k < n_ended; k++) {
			results[taken_from[k]] = r;
			whys[taken_from[k]] = "the state could not be saved";
			if (state_add_grant(d->state, &ended[k]) < 0)
				log_err("grant %s: out of memory restoring it",
					ended[k].id);
		}
		daemon_keywatch_put_back(d, watches, n_watches);
		r = 0;
		goto failures;
	}
	for (size_t k = 0; k < n_watches; k++)
		free(watches[k].known);
	free(watches);

	/* Last, one audit record per grant. The grants have ended whether or
	 * not a record could be written; daemon_audit logs that loudly. */
	for (size_t k = 0; k < n_ended; k++) {
		schedule_hold_clear(d->holds, &d->n_holds, ended[k].id);
		static char report[DAEMON_REPORT_MAX];

		daemon_grant_report(d, &ended[k], report, sizeof(report));
		daemon_grant_audit(d, &ended[k], event, peer,
				   endings[taken_from[k]].reason, report);
	}
failures:
	for (size_t i = 0; i < n; i++)
		if (results[i] != 0 && results[i] != SL_NOT_FOUND)
			end_failed(d, ids[i], event, peer, whys[i]);
out:
	for (size_t k = 0; ended && k < n_ended; k++)
		grant_finish(&ended[k]);
	free(ended);
	free(entries);
	free(taken_from);
	free(removed);
	free(order);
	free(endings);
	return r;
}

int daemon_grant_end(struct daemon *d, const char *id, const char *event,
		     const struct peer *peer, const char *reason,
		     const char **why)
{
	char ids[1][AUTHKEYS_ID_LEN + 1];
	const char *whys[1] = { NULL };
	int results[1] = { 0 };

	snprintf(ids[0], sizeof(ids[0]), "%s", id);
	daemon_grants_end(d, 1, (const char (*)[AUTHKEYS_ID_LEN + 1])ids, event,
			  peer, reason, results, whys);
	if (results[0] != 0 && results[0] != SL_NOT_FOUND)
		*why = whys[0];
	return results[0];
}

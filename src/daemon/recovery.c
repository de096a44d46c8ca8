/*
 * Start-up recovery, before the socket accepts anything: make the files
 * agree with the state after a crash, a power cut, a stopped daemon or a
 * hand edit (DESIGN.md §7).
 *
 *  1. Every grant whose deadline has passed is ended ("expire"), all in
 *     one round (one edit per account, one save of the state).
 *  2. In every account the daemon has written to (state->accounts) or may
 *     write to (config `users`), the managed lines whose marker names no
 *     live grant of that account with that key are removed, all in one
 *     edit, and recorded in one "remove-orphan" record for the account
 *     (without a grant id: the markers are the account's words). An
 *     account cannot make a start cost more than one list and one edit
 *     of its file (at most AUTHKEYS_FILE_MAX) however many lines it plants.
 *  3. A live grant whose line is no longer in the file is ended and
 *     recorded as "line-missing". Someone removed it on purpose (the
 *     account owner or an administrator), or the daemon stopped between
 *     recording the grant and writing the line; either way the access does
 *     not exist, and writing it back would override a person's decision.
 *     The grant ending is the fail-closed reading; the merchant can grant
 *     again. The same holds for a grant whose account no longer exists;
 *     an account renamed since (same uid, usermod -l) keeps its grants,
 *     which follow the new name, and the rename is recorded
 *     ("account_renamed").
 *  4. A live line whose expiry-time disagrees with the grant's deadline
 *     (the daemon stopped in the middle of an extension) is rewritten in
 *     place, in one atomic edit (authkeys_replace).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "daemon.h"
#include "grant.h"
#include "log.h"

struct name_list {
	const char **names;
	size_t n;
};

static int name_list_add(struct name_list *list, const char *name)
{
	const char **grown;

	if (!name || name[0] == '\0')
		return 0;
	for (size_t i = 0; i < list->n; i++)
		if (strcmp(list->names[i], name) == 0)
			return 0;
	grown = realloc(list->names, (list->n + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	list->names = grown;
	list->names[list->n++] = name;
	return 0;
}

/* End the grants ids[0..n) as one round (daemon_grants_end, which holds
 * back and records those that could not end, as the timer does). */
static void end_round(struct daemon *d, size_t n,
		      const char (*ids)[AUTHKEYS_ID_LEN + 1], const char *event,
		      const char *reason, const char *what)
{
	int *results = calloc(n + 1, sizeof(*results));
	const char **whys = calloc(n + 1, sizeof(*whys));

	if (!results || !whys ||
	    daemon_grants_end(d, n, ids, event, NULL, reason, results, whys) < 0) {
		log_err("out of memory in recovery");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (results[i] != 0 && results[i] != SL_NOT_FOUND)
			log_err("grant %s: %s, but it could not be ended yet", ids[i], what);
out:
	free(results);
	free(whys);
}

static void recover_expired(struct daemon *d)
{
	struct schedule_plan plan;

	if (schedule_plan(d->state, NULL, 0, daemon_now(), &plan) < 0) {
		log_err("out of memory planning recovery");
		return;
	}
	if (plan.n_due > 0)
		end_round(d, plan.n_due, (const char (*)[AUTHKEYS_ID_LEN + 1])plan.due,
			  "expire", NULL, "it has expired");
	schedule_plan_finish(&plan);
}

static int grant_id_compare(const void *a, const void *b)
{
	const struct grant *x = *(const struct grant *const *)a;
	const struct grant *y = *(const struct grant *const *)b;

	return strcmp(x->id, y->id);
}

static int entry_compare(const void *a, const void *b)
{
	const struct authkeys_entry *x = *(const struct authkeys_entry *const *)a;
	const struct authkeys_entry *y = *(const struct authkeys_entry *const *)b;
	int c = strcmp(x->id, y->id);

	return c != 0 ? c : strcmp(x->blob_base64, y->blob_base64);
}

/* The account's live grant with that id (sorted by id), or NULL. */
static const struct grant *live_find(const struct grant **live, size_t n,
				     const char *id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(live[mid]->id, id);

		if (c == 0)
			return live[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The listed line of grant (entries sorted by id, then blob), or NULL. */
static const struct authkeys_entry *
entry_for(const struct authkeys_entry **sorted, size_t n, const struct grant *grant)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(sorted[mid]->id, grant->id);

		if (c == 0)
			c = strcmp(sorted[mid]->blob_base64, grant->blob_base64);
		if (c == 0)
			return sorted[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* How many markers of removed lines one orphan record names. */
#define ORPHAN_MARKERS_NAMED 3

/*
 * Remove, in one edit, every listed line whose marker names no live grant
 * of this account with that key, and write ONE record for the account.
 * The markers come from the file, that is from the account: a marker that
 * names another account's grant must not file this record under that
 * grant, so the record carries no id; a few markers go in its reason.
 */
static void remove_orphans(struct daemon *d, const struct account *acct,
			   const struct authkeys_entry *entries, size_t n_entries,
			   const struct grant **live, size_t n_live)
{
	struct authkeys_entry *orphans = NULL;
	size_t n_orphans = 0, removed = 0, named = 0;
	char reason[512];
	const char *why = NULL;
	size_t used;
	int r;

	orphans = calloc(n_entries + 1, sizeof(*orphans));
	if (!orphans) {
		log_err("out of memory in recovery");
		return;
	}
	for (size_t i = 0; i < n_entries; i++) {
		const struct grant *grant = live_find(live, n_live, entries[i].id);

		if (grant && strcmp(grant->blob_base64, entries[i].blob_base64) == 0)
			continue;
		orphans[n_orphans++] = entries[i]; /* borrowed strings */
	}
	if (n_orphans == 0)
		goto out;
	r = daemon_keys_remove_many(d, acct, orphans, n_orphans, &removed, NULL, &why);
	if (r != 0) {
		log_err("cannot remove %zu orphaned line%s from %.64s's authorized_keys: %.512s",
			n_orphans, n_orphans == 1 ? "" : "s", acct->name,
			daemon_keys_why(r, why));
		goto out;
	}
	if (removed == 0)
		goto out;
	used = (size_t)snprintf(reason, sizeof(reason),
				"removed %zu managed line%s with no live grant of this account:",
				removed, removed == 1 ? "" : "s");
	/* The ids were checked as 12 hex digits when the file was read. */
	for (size_t i = 0; i < n_orphans && named < ORPHAN_MARKERS_NAMED &&
			   used < sizeof(reason); i++, named++)
		used += (size_t)snprintf(reason + used, sizeof(reason) - used, "%s %s%s",
					 named ? "," : "", AUTHKEYS_MARKER, orphans[i].id);
	if (n_orphans > named && used < sizeof(reason))
		snprintf(reason + used, sizeof(reason) - used, " and %zu more marker%s",
			 n_orphans - named, n_orphans - named == 1 ? "" : "s");
	{
		struct audit_event ev = {
			.event = "remove-orphan",
			.user = acct->name,
			.by_uid = -1,
			.reason = reason,
		};

		daemon_audit(d, &ev);
	}
out:
	free(orphans);
}

/*
 * Rewrite the line of grant so its expiry-time says the grant's deadline
 * (daemon_grant_rewrite). Returns true when the line turned out to be gone
 * (removed since it was listed): the caller ends the grant like any other
 * whose line is missing.
 */
static bool rewrite_line(struct daemon *d, const struct account *acct,
			 const struct grant *grant, enum authkeys_expiry form)
{
	const char *why = NULL;
	size_t replaced = 0;
	int r;

	r = daemon_grant_rewrite(d, acct, grant, form, &replaced, &why);
	if (r == 0 && replaced == 0)
		return true;
	if (r == 0)
		log_notice("grant %s: rewrote its line in %.64s's authorized_keys to carry the recorded deadline",
			   grant->id, acct->name);
	else
		/* The old line stays (or, after a failure past the rename,
		 * the new one); the timer still ends the grant at the
		 * recorded deadline, and the next start tries again. */
		log_err("grant %s: cannot rewrite its line: %.512s", grant->id,
			daemon_keys_why(r, why));
	return false;
}

static void recover_account(struct daemon *d, const char *name)
{
	struct account *acct = NULL;
	struct authkeys_entry *entries = NULL;
	const struct authkeys_entry **sorted = NULL;
	const struct grant **live = NULL;
	size_t n_entries = 0, n_live = 0;
	const char *why = NULL, *form_why = NULL;
	char (*missing)[AUTHKEYS_ID_LEN + 1] = NULL;
	size_t n_missing = 0;
	enum authkeys_expiry form = AUTHKEYS_EXPIRY_NONE;
	bool form_known;
	int r;

	/* Without a form sshd reads, a line is left as it is: the timer
	 * still ends its grant at the recorded deadline. */
	form_known = daemon_expiry_form(d, &form, &form_why) == 0;
	r = account_lookup(name, &acct, &why);
	if (r == SL_NOT_FOUND) {
		log_debug("recovery: no account %.64s", name);
		goto out;
	}
	if (r != 0) {
		log_warn("recovery: cannot look up account %.64s: %.512s", name,
			 r < 0 ? strerror(-r) : why);
		goto out;
	}
	r = daemon_keys_list(d, acct, &entries, &n_entries, &why);
	if (r != 0) {
		log_warn("recovery: cannot read %.64s's authorized_keys: %.512s; its lines are left as they are",
			 name, daemon_keys_why(r, why));
		goto out;
	}
	/* Sorted copies, so that the work grows as n log n with the lines a
	 * file can hold (up to AUTHKEYS_FILE_MAX of them), not as n * m. */
	live = calloc(d->state->n_grants + 1, sizeof(*live));
	sorted = calloc(n_entries + 1, sizeof(*sorted));
	missing = calloc(d->state->n_grants + 1, sizeof(*missing));
	if (!live || !sorted || !missing) {
		log_err("out of memory in recovery");
		goto out;
	}
	for (size_t g = 0; g < d->state->n_grants; g++)
		if (strcmp(d->state->grants[g].user, acct->name) == 0)
			live[n_live++] = &d->state->grants[g];
	qsort(live, n_live, sizeof(*live), grant_id_compare);
	for (size_t i = 0; i < n_entries; i++)
		sorted[i] = &entries[i];
	qsort(sorted, n_entries, sizeof(*sorted), entry_compare);

	remove_orphans(d, acct, entries, n_entries, live, n_live);

	/* Collect ids first: ending a grant moves the state's grants. */
	for (size_t k = 0; k < n_live; k++) {
		const struct grant *grant = live[k];
		const struct authkeys_entry *entry = entry_for(sorted, n_entries, grant);

		if (!entry)
			memcpy(missing[n_missing++], grant->id, sizeof(missing[0]));
		else if (entry->expiry == 0 || entry->expiry == grant->expires)
			continue;
		else if (!form_known)
			log_warn("grant %s: its line's expiry-time is not the recorded deadline, and it cannot be rewritten now: %.300s",
				 grant->id, form_why);
		else if (form != AUTHKEYS_EXPIRY_NONE &&
			 rewrite_line(d, acct, grant, form))
			memcpy(missing[n_missing++], grant->id, sizeof(missing[0]));
	}
	if (n_missing > 0)
		end_round(d, n_missing, (const char (*)[AUTHKEYS_ID_LEN + 1])missing,
			  "line-missing",
			  "the grant ends; sshlease does not write a removed line back",
			  "its line is missing");
out:
	free(missing);
	free(sorted);
	free(live);
	authkeys_entries_free(entries, n_entries);
	account_free(acct);
}

/* Move grant (and its account's watch and sessions) from its old account
 * name to name, the account's name now: the grant's record says so. */
static int follow_rename(struct daemon *d, struct grant *grant, const char *name)
{
	char reason[256], *old = grant->user, *copy = strdup(name);
	struct key_watch *kw = state_find_key_watch(d->state, grant->uid);

	if (!copy || state_account_note(d->state, name) < 0) {
		free(copy);
		return -ENOMEM;
	}
	snprintf(reason, sizeof(reason), "the account %.64s (uid %u) is now named %.64s; the grant follows it",
		 old, (unsigned)grant->uid, name);
	grant->user = copy;
	if (kw && strcmp(kw->user, old) == 0)
		snprintf(kw->user, sizeof(kw->user), "%s", name);
	for (size_t i = 0; i < d->state->n_sessions; i++)
		if (strcmp(d->state->sessions[i].grant_id, grant->id) == 0)
			snprintf(d->state->sessions[i].user, sizeof(d->state->sessions[i].user), "%s", name);
	for (size_t i = 0; i < d->state->n_scopes; i++)
		if (strcmp(d->state->scopes[i].grant_id, grant->id) == 0)
			snprintf(d->state->scopes[i].user, sizeof(d->state->scopes[i].user), "%s", name);
	log_warn("grant %s: %s", grant->id, reason);
	daemon_grant_audit(d, grant, "account_renamed", NULL, reason, NULL);
	free(old);
	return 0;
}

/* Grants whose account name is gone but whose uid has an account: the
 * account was renamed (usermod -l); the grants follow the uid. */
static void recover_renamed_accounts(struct daemon *d)
{
	size_t renamed = 0;

	for (size_t g = 0; g < d->state->n_grants; g++) {
		struct grant *grant = &d->state->grants[g];
		struct account *acct = NULL;
		const char *why = NULL;
		int r = account_lookup(grant->user, &acct, &why);

		/* The name gone, or someone else's now: the uid counts. */
		if (r == 0 && acct->uid != grant->uid)
			r = SL_NOT_FOUND;
		account_free(acct);
		acct = NULL;
		if (r != SL_NOT_FOUND || account_lookup_uid(grant->uid, &acct, &why) != 0) {
			account_free(acct);
			continue;
		}
		if (strcmp(acct->name, grant->user) != 0) {
			if (follow_rename(d, grant, acct->name) < 0)
				log_err("grant %s: out of memory following the rename of %.64s",
					grant->id, grant->user);
			else
				renamed++;
		}
		account_free(acct);
	}
	if (renamed > 0 && state_save(d->config->state_dir, d->state) < 0)
		log_err("the state could not be saved after following %zu renamed account%s; the next start follows them again",
			renamed, renamed == 1 ? "" : "s");
}

/* Grants whose account is gone: nobody can use them; end them. */
static void recover_vanished_accounts(struct daemon *d)
{
	char (*gone)[AUTHKEYS_ID_LEN + 1] = calloc(d->state->n_grants + 1, sizeof(*gone));
	size_t n_gone = 0;

	if (!gone) {
		log_err("out of memory in recovery");
		return;
	}
	for (size_t g = 0; g < d->state->n_grants; g++) {
		const struct grant *grant = &d->state->grants[g];
		struct account *acct = NULL;
		const char *why = NULL;
		int r = account_lookup(grant->user, &acct, &why);

		/* A name that is someone else's now is gone too (a rename was
		 * followed above, by uid). */
		if (r == SL_NOT_FOUND || (r == 0 && acct->uid != grant->uid))
			memcpy(gone[n_gone++], grant->id, sizeof(gone[0]));
		account_free(acct);
	}
	if (n_gone > 0)
		end_round(d, n_gone, (const char (*)[AUTHKEYS_ID_LEN + 1])gone,
			  "line-missing", "the account no longer exists",
			  "its account no longer exists");
	free(gone);
}

int daemon_recover(struct daemon *d)
{
	struct name_list accounts = { 0 };
	char **copy = NULL;
	int r = 0;

	recover_renamed_accounts(d);
	recover_expired(d);
	recover_vanished_accounts(d);

	for (size_t i = 0; i < d->state->n_accounts && r == 0; i++)
		r = name_list_add(&accounts, d->state->accounts[i]);
	for (size_t i = 0; d->config->users && d->config->users[i] && r == 0; i++)
		r = name_list_add(&accounts, d->config->users[i]);
	for (size_t i = 0; i < d->state->n_grants && r == 0; i++)
		r = name_list_add(&accounts, d->state->grants[i].user);
	if (r < 0)
		goto out;
	/* The names point into the state, which recovery edits: copy. */
	copy = calloc(accounts.n + 1, sizeof(*copy));
	if (!copy) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < accounts.n; i++) {
		copy[i] = strdup(accounts.names[i]);
		if (!copy[i]) {
			r = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < accounts.n; i++)
		recover_account(d, copy[i]);
	r = 0;
out:
	if (r < 0)
		log_err("recovery: %s", strerror(-r));
	for (size_t i = 0; copy && i < accounts.n; i++)
		free(copy[i]);
	free(copy);
	free(accounts.names);
	return r;
}

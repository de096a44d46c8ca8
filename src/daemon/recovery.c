/*
 * Start-up recovery, before the socket accepts anything: make the files
 * agree with the state after a crash, a power cut, a stopped daemon or a
 * hand edit (DESIGN.md §7).
 *
 *  1. Every grant whose deadline has passed is ended ("expire").
 *  2. In every account the daemon has written to (state->accounts) or may
 *     write to (config `users`), a managed line whose marker names no live
 *     grant of that account with that key is removed ("remove-orphan").
 *  3. A live grant whose line is no longer in the file is ended and
 *     recorded as "line-missing". Someone removed it on purpose (the
 *     account owner or an administrator), or the daemon stopped between
 *     recording the grant and writing the line; either way the access does
 *     not exist, and writing it back would override a person's decision.
 *     The grant ending is the fail-closed reading; the merchant can grant
 *     again. The same holds for a grant whose account no longer exists.
 *  4. A live line whose expiry-time disagrees with the grant's deadline
 *     (the daemon stopped in the middle of an extension) is rewritten in
 *     place, in one atomic edit (authkeys_replace).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "daemon.h"
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

static void recover_expired(struct daemon *d)
{
	struct schedule_plan plan;
	time_t now = daemon_now();

	if (schedule_plan(d->state, NULL, 0, now, &plan) < 0) {
		log_err("out of memory planning recovery");
		return;
	}
	for (size_t i = 0; i < plan.n_due; i++) {
		const char *why = NULL;
		int r = daemon_grant_end(d, plan.due[i], "expire", NULL, NULL, &why);

		if (r != 0 && r != SL_NOT_FOUND) {
			log_err("grant %s has expired but its line could not be removed: %.200s; retrying in %d s",
				plan.due[i], why ? why : "unknown error",
				SCHEDULE_RETRY_SECONDS);
			schedule_hold_set(&d->holds, &d->n_holds, plan.due[i],
					  now + SCHEDULE_RETRY_SECONDS);
		}
	}
	schedule_plan_finish(&plan);
}

static const struct authkeys_entry *
entry_for(const struct authkeys_entry *entries, size_t n,
	  const struct grant *grant)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(entries[i].id, grant->id) == 0 &&
		    strcmp(entries[i].blob_base64, grant->blob_base64) == 0)
			return &entries[i];
	return NULL;
}

static bool entry_is_live(struct daemon *d, const struct authkeys_entry *entry,
			  const char *user)
{
	struct grant *grant = state_find_grant(d->state, entry->id);

	return grant && strcmp(grant->user, user) == 0 &&
	       strcmp(grant->blob_base64, entry->blob_base64) == 0;
}

static void remove_orphan(struct daemon *d, const struct account *acct,
			  const struct authkeys_entry *entry)
{
	struct audit_event ev = {
		.event = "remove-orphan",
		.id = entry->id,
		.user = acct->name,
		.key_type = entry->key_type,
		.expires = entry->expiry,
		.by_uid = -1,
	};
	const char *why = NULL;
	size_t removed = 0;
	int r;

	r = authkeys_remove(&d->authkeys, acct, entry->id, entry->blob_base64,
			    &removed, &why);
	if (r != 0) {
		log_err("cannot remove orphaned line sshlease:%s from %.64s's authorized_keys: %.200s",
			entry->id, acct->name, r < 0 ? strerror(-r) : why);
		return;
	}
	if (removed == 0)
		return;
	ev.reason = "managed line with no live grant";
	daemon_audit(d, &ev);
}

/*
 * Rewrite the line of grant so its expiry-time says the grant's deadline,
 * in one atomic edit that keeps the line's place (authkeys_replace). Returns
 * true when the line turned out to be gone (removed since it was listed):
 * the caller ends the grant like any other whose line is missing.
 */
static bool rewrite_line(struct daemon *d, const struct account *acct,
			 const struct grant *grant)
{
	struct authkeys_line_spec spec = {
		.id = grant->id,
		.key_type = grant->key_type,
		.blob_base64 = grant->blob_base64,
		.deadline = grant->expires,
		.expiry = daemon_expiry_format(d),
		.mode = grant->mode,
		.from = grant->from,
	};
	const char *why = NULL;
	char *line = NULL;
	size_t replaced = 0;
	int r;

	r = authkeys_format_line(&spec, &line, &why);
	if (r == 0)
		r = authkeys_replace(&d->authkeys, acct, line, &replaced, &why);
	free(line);
	if (r == 0 && replaced == 0)
		return true;
	if (r == 0)
		log_notice("grant %s: rewrote its line in %.64s's authorized_keys to carry the recorded deadline",
			   grant->id, acct->name);
	else
		/* The old line stays (or, after a failure past the rename,
		 * the new one); the timer still ends the grant at the
		 * recorded deadline, and the next start tries again. */
		log_err("grant %s: cannot rewrite its line: %.200s%s%s", grant->id,
			why ? why : "unknown error", r < 0 ? ": " : "",
			r < 0 ? strerror(-r) : "");
	return false;
}

static void recover_account(struct daemon *d, const char *name)
{
	struct account *acct = NULL;
	struct authkeys_entry *entries = NULL;
	size_t n_entries = 0;
	const char *why = NULL;
	char (*missing)[AUTHKEYS_ID_LEN + 1] = NULL;
	size_t n_missing = 0;
	int r;

	r = account_lookup(name, &acct, &why);
	if (r == SL_NOT_FOUND) {
		log_debug("recovery: no account %.64s", name);
		goto out;
	}
	if (r != 0) {
		log_warn("recovery: cannot look up account %.64s: %.200s", name,
			 r < 0 ? strerror(-r) : why);
		goto out;
	}
	r = authkeys_list_managed(&d->authkeys, acct, &entries, &n_entries, &why);
	if (r != 0) {
		log_warn("recovery: cannot read %.64s's authorized_keys: %.200s; its lines are left as they are",
			 name, r < 0 ? strerror(-r) : why);
		goto out;
	}
	for (size_t i = 0; i < n_entries; i++)
		if (!entry_is_live(d, &entries[i], acct->name))
			remove_orphan(d, acct, &entries[i]);

	/* Collect copies first: ending a grant moves the state's grants. */
	missing = calloc(d->state->n_grants + 1, sizeof(*missing));
	if (!missing) {
		log_err("out of memory in recovery");
		goto out;
	}
	for (size_t g = 0; g < d->state->n_grants; g++) {
		const struct grant *grant = &d->state->grants[g];
		const struct authkeys_entry *entry;

		if (strcmp(grant->user, acct->name) != 0)
			continue;
		entry = entry_for(entries, n_entries, grant);
		if (!entry)
			memcpy(missing[n_missing++], grant->id, sizeof(missing[0]));
		else if (entry->expiry != 0 && entry->expiry != grant->expires &&
			 daemon_expiry_format(d) != AUTHKEYS_EXPIRY_NONE &&
			 rewrite_line(d, acct, grant))
			memcpy(missing[n_missing++], grant->id, sizeof(missing[0]));
	}
	for (size_t i = 0; i < n_missing; i++) {
		const char *id = missing[i];

		r = daemon_grant_end(d, id, "line-missing", NULL,
				     "the grant ends; sshlease does not write a removed line back",
				     &why);
		if (r != 0 && r != SL_NOT_FOUND)
			log_err("grant %s: line missing, but the grant could not be ended: %.200s",
				id, why ? why : "unknown error");
	}
out:
	free(missing);
	authkeys_entries_free(entries, n_entries);
	account_free(acct);
}

/* Grants whose account is gone: nobody can use them; end them. */
static void recover_vanished_accounts(struct daemon *d)
{
	size_t g = 0;

	while (g < d->state->n_grants) {
		struct grant *grant = &d->state->grants[g];
		struct account *acct = NULL;
		const char *why = NULL;
		char id[AUTHKEYS_ID_LEN + 1];
		int r;

		r = account_lookup(grant->user, &acct, &why);
		account_free(acct);
		if (r != SL_NOT_FOUND) {
			g++;
			continue;
		}
		memcpy(id, grant->id, sizeof(id));
		r = daemon_grant_end(d, id, "line-missing", NULL,
				     "the account no longer exists", &why);
		if (r != 0) {
			log_err("grant %s: cannot end it: %.200s", id,
				why ? why : "unknown error");
			g++;
		}
	}
}

int daemon_recover(struct daemon *d)
{
	struct name_list accounts = { 0 };
	char **copy = NULL;
	int r = 0;

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

/* op restore_key: put back a key line that was removed as added during a
 * grant (DESIGN.md §13). Root only: the line carries no expiry, so it
 * gives lasting access. From then on it is the account's own line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "keyguard.h"
#include "log.h"
#include "request.h"

/* The latest removed record of user's key fingerprint, or NULL. */
static const struct added_key *removed_find(const struct daemon *d, const char *user,
					    const char *fingerprint)
{
	const struct added_key *found = NULL;

	for (size_t i = 0; i < d->state->n_added_keys; i++) {
		const struct added_key *ak = &d->state->added_keys[i];

		if (ak->removed && strcmp(ak->user, user) == 0 &&
		    strcmp(ak->fingerprint, fingerprint) == 0 && (!found || ak->at >= found->at))
			found = ak;
	}
	return found;
}

/* While the account's keys are watched, the line counts as one it had
 * at the start, so the next sweep leaves it. */
static int watch_adopt(struct daemon *d, uid_t uid, const char *line, size_t len)
{
	struct key_watch *kw = state_find_key_watch(d->state, uid);
	keyguard_hash hashes[2], *grown;
	size_t n;

	if (!kw)
		return 0;
	n = keyguard_line_hashes(line, len, hashes);
	grown = realloc(kw->known, (kw->n_known + n + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	memcpy(grown + kw->n_known, hashes, n * sizeof(*hashes));
	kw->known = grown;
	kw->n_known = keyguard_hashes_sort(kw->known, kw->n_known + n);
	return 0;
}

json_t *op_restore_key(struct daemon *d, const struct connection *conn,
		       const json_t *request)
{
	const char *user = request_string(request, "user");
	const char *fingerprint = request_string(request, "fingerprint");
	char safe_user[REPLY_QUOTE_MAX + 1], safe_fp[REPLY_QUOTE_MAX + 1], reason[256];
	char file[sizeof(((struct added_key *)0)->file)], key_type[65];
	const struct added_key *ak;
	struct account *acct = NULL;
	const char *why = NULL;
	json_t *reply = NULL;
	bool already;
	int r;

	if (!user || !fingerprint)
		return reply_error(PROTO_ERR_USAGE, "restore_key needs user and fingerprint");
	if (conn->uid != 0)
		return reply_error(PROTO_ERR_DENIED,
				   "only root may put a key back: the line has no expiry and gives lasting access");
	ak = removed_find(d, user, fingerprint);
	if (!ak)
		return reply_error(PROTO_ERR_NOT_FOUND,
				   "no removed key %s of %s is on record (sshlease show lists the keys added during a grant)",
				   reply_quote(safe_fp, fingerprint), reply_quote(safe_user, user));
	if (ak->truncated)
		return reply_error(PROTO_ERR_REFUSED,
				   "only the start of that line was kept (it was longer than %d bytes), so it cannot be put back",
				   KEYGUARD_LINE_MAX);
	r = account_lookup(user, &acct, &why);
	if (r != 0)
		return reply_error(r == SL_NOT_FOUND ? PROTO_ERR_NOT_FOUND : PROTO_ERR_FAILED,
				   "account %s: %s", reply_quote(safe_user, user),
				   why ? why : "cannot be looked up");
	if (acct->uid != ak->uid) {
		reply = reply_error(PROTO_ERR_REFUSED,
				    "account %s is not the one the key was removed from (uid %lu then, %lu now)",
				    reply_quote(safe_user, user), (unsigned long)ak->uid,
				    (unsigned long)acct->uid);
		goto out;
	}
	memcpy(file, ak->file, sizeof(file));
	memcpy(key_type, ak->key_type, sizeof(key_type));
	r = daemon_account_paused(d, acct->uid, &why);
	if (r == 0)
		r = daemon_account_answered(d, acct,
					    keyguard_restore(&d->authkeys, acct, file, ak->line,
							     ak->len, &why));
	if (r != 0 && r != SL_EXISTS) {
		reply = reply_error(r == SL_REFUSED ? PROTO_ERR_REFUSED : PROTO_ERR_FAILED,
				    "cannot put the line back into ~/.ssh/%s of %s: %s", file,
				    acct->name, daemon_keys_why(r, why));
		goto out;
	}
	already = r == SL_EXISTS;
	if (watch_adopt(d, acct->uid, ak->line, ak->len) < 0)
		log_err("%s: out of memory noting a line put back as the account's own; the next sweep may take it out again",
			acct->name);
	/* Every record of that key goes: it is the account's own now. */
	for (size_t i = 0; i < d->state->n_added_keys;) {
		const struct added_key *k = &d->state->added_keys[i];

		if (k->removed && k->uid == acct->uid && strcmp(k->fingerprint, fingerprint) == 0)
			state_remove_added_key(d->state, i);
		else
			i++;
	}
	snprintf(reason, sizeof(reason), "%s ~/.ssh/%s; from now on it is the account's own line",
		 already ? "the same line was already back in" : "put back into", file);
	struct audit_event ev = {
		.event = "key_restored",
		.user = acct->name,
		.key_type = key_type[0] ? key_type : NULL,
		.fingerprint = fingerprint,
		.by_uid = (long long)conn->uid,
		.by_user = conn->by_user,
		.reason = reason,
	};
	daemon_audit(d, &ev);
	r = state_save(d->config->state_dir, d->state);
	if (r < 0) {
		log_err("%s: the key %s is back, but the state was not saved", acct->name, fingerprint);
		reply = reply_error(PROTO_ERR_FAILED,
				    "the line is back in ~/.ssh/%s, but the state could not be saved: after a restart of sshleased it may be taken out again",
				    file);
		goto out;
	}
	reply = json_pack("{s:b, s:s, s:s, s:s, s:b}", "ok", 1, "user", acct->name,
			  "fingerprint", fingerprint, "file", file, "already", already);
out:
	account_free(acct);
	return reply;
}

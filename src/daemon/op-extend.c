/* op extend: a grant's new deadline, in the state first and then in its
 * line, swapped in place; a line removed by hand ends the grant instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "grant.h"
#include "log.h"
#include "request.h"
#include "timeutil.h"

/* The deadline could not be moved: put the old one back in the state. */
static void extend_undo(struct daemon *d, struct grant *grant, time_t old_expires)
{
	grant->expires = old_expires;
	if (state_save(d->config->state_dir, d->state) < 0)
		log_err("grant %s: cannot save the state after a failed extension",
			grant->id);
}

json_t *op_extend(struct daemon *d, const struct connection *conn,
		  const json_t *request)
{
	const char *id = request_string(request, "id");
	const struct peer peer = { (long long)conn->uid, conn->by_user };
	struct account *acct = NULL;
	struct grant *grant;
	char message[512], old_text[32];
	const char *why = NULL;
	time_t now = daemon_now(), deadline = 0, old_expires;
	enum authkeys_expiry form = AUTHKEYS_EXPIRY_NONE;
	size_t replaced = 0;
	json_t *reply = NULL;
	int r;

	if (!request_id_valid(id)) {
		reply = reply_not_an_id(id);
		goto out;
	}
	if (!request_has(request, "for") && !request_has(request, "until")) {
		reply = reply_error(PROTO_ERR_USAGE, "extend needs the new deadline: for or until");
		goto out;
	}
	grant = state_find_grant(d->state, id);
	if (!grant) {
		reply = reply_no_grant(id);
		goto out;
	}
	r = request_deadline(d, request, 0, now, &deadline, message, sizeof(message));
	if (r == 0) {
		/* The new line must be one the local sshd reads. */
		daemon_sshd_refresh(d);
		r = daemon_expiry_form(d, &form, &why);
		if (r != 0)
			snprintf(message, sizeof(message), "%s", why);
	}
	if (r != 0) {
		char reason[sizeof(message) + 128];

		if (daemon_refusal_note(d, conn->uid, message, reason, sizeof(reason)))
			daemon_grant_audit(d, grant, "refuse", &peer, reason, NULL);
		reply = proto_error(PROTO_ERR_REFUSED, message);
		goto out;
	}
	r = account_lookup(grant->user, &acct, &why);
	if (r != 0) {
		reply = reply_error(PROTO_ERR_FAILED, "cannot look up account %s: %s", grant->user,
				    r == SL_NOT_FOUND ? "it no longer exists"
				    : r < 0 ? strerror(-r) : why);
		goto out;
	}
	old_expires = grant->expires;
	time_format_utc(old_expires, old_text, sizeof(old_text));
	/* State first, like a grant: a crash before the line is rewritten
	 * leaves a line with the earlier expiry-time (sshd refuses it then,
	 * fail closed) that the next start rewrites. */
	grant->expires = deadline;
	r = state_save(d->config->state_dir, d->state);
	if (r < 0) {
		grant->expires = old_expires;
		reply = reply_error(PROTO_ERR_FAILED, "cannot save the daemon's state: %s; the deadline is unchanged",
				    strerror(-r));
		goto out;
	}
	r = daemon_grant_rewrite(d, acct, grant, form, &replaced, &why);
	if (r != 0) {
		char reason[512];

		/* The file holds the old line, or (after a failure past the
		 * rename) the new one; the old deadline in the state ends
		 * either in time, and the next start makes them agree. */
		snprintf(reason, sizeof(reason), "%s's authorized_keys: %s",
			 grant->user, daemon_keys_why(r, why));
		extend_undo(d, grant, old_expires);
		reply = reply_error(r == SL_REFUSED ? PROTO_ERR_REFUSED : PROTO_ERR_FAILED,
				    "cannot extend grant %s: %s", id, reason);
		goto out;
	}
	if (replaced == 0) {
		/* Someone removed the line: the access is gone, and writing
		 * it back would override that decision (as at start-up). */
		const char *end_why = NULL;

		extend_undo(d, grant, old_expires);
		snprintf(message, sizeof(message),
			 "cannot extend grant %s: its line is no longer in %s's authorized_keys (removed outside sshlease), so the grant has ended; grant the key again if access is still needed",
			 id, grant->user);
		r = daemon_grant_end(d, id, "line-missing", &peer,
				     "the line was removed outside sshlease; found by extend",
				     &end_why);
		if (r != 0 && r != SL_NOT_FOUND)
			log_err("grant %s: its line is gone, but the grant could not be ended: %.512s; the next start ends it",
				id, end_why ? end_why : "unknown error");
		reply = proto_error(PROTO_ERR_NOT_FOUND, message);
		goto out;
	}
	snprintf(message, sizeof(message), "deadline moved from %s", old_text);
	daemon_grant_audit(d, grant, "extend", &peer, message, NULL);
	reply = json_pack("{s:b, s:o}", "ok", 1, "grant", grant_to_json(grant));
out:
	daemon_expire_due(d);
	account_free(acct);
	return reply;
}

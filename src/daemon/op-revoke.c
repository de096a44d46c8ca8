/* op revoke: end grants by id, or all of them (of one account), now; the
 * answer lists those that fit in it and counts the rest. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grant.h"
#include "request.h"

json_t *op_revoke(struct daemon *d, const struct connection *conn,
		  const json_t *request)
{
	const struct peer peer = { .uid = (long long)conn->uid, .user = conn->by_user };
	const json_t *ids = json_object_get(request, "ids");
	const char *user = request_string(request, "user");
	bool all = request_bool(request, "all");
	char (*targets)[AUTHKEYS_ID_LEN + 1] = NULL;
	size_t n_targets = 0, used = 0, omitted = 0, n_failed = 0;
	char failed_id[AUTHKEYS_ID_LEN + 1] = "", failed_why[SCHEDULE_WHY_MAX + 64] = "";
	int failed_r = 0;
	json_t *reply = NULL, *revoked = NULL;
	size_t i;
	json_t *item;

	if (all == (json_array_size(ids) > 0)) {
		reply = reply_error(PROTO_ERR_USAGE, "revoke needs grant ids or all, not both");
		goto out;
	}
	if (user && !all) {
		reply = reply_error(PROTO_ERR_USAGE, "user goes with all: revoke all grants of that account");
		goto out;
	}
	targets = calloc((all ? d->state->n_grants : json_array_size(ids)) + 1,
			 sizeof(*targets));
	revoked = json_array();
	if (!targets || !revoked)
		goto out;
	/* Check every id before changing anything. */
	json_array_foreach(ids, i, item) {
		const char *id = json_string_value(item);
		bool seen = false;

		if (!request_id_valid(id)) {
			reply = reply_not_an_id(id ? id : "(not a string)");
			goto out;
		}
		if (!state_find_grant(d->state, id)) {
			reply = reply_no_grant(id);
			goto out;
		}
		for (size_t t = 0; t < n_targets; t++)
			if (strcmp(targets[t], id) == 0)
				seen = true;
		if (!seen)
			memcpy(targets[n_targets++], id, sizeof(targets[0]));
	}
	for (size_t g = 0; all && g < d->state->n_grants; g++)
		if (!user || strcmp(d->state->grants[g].user, user) == 0)
			memcpy(targets[n_targets++], d->state->grants[g].id,
			       sizeof(targets[0]));

	for (size_t t = 0; t < n_targets; t++) {
		const struct grant *grant = state_find_grant(d->state, targets[t]);
		const struct schedule_hold *hold;
		json_t *object;
		const char *why = NULL;
		size_t size;
		int r;

		if (!grant)
			continue;
		object = grant_to_json(grant);
		size = object ? reply_item_size(object) : SIZE_MAX;
		if (size == SIZE_MAX) {
			json_decref(object);
			goto out;
		}
		hold = schedule_hold_find(d->holds, d->n_holds, targets[t]);
		if (hold && hold->until > daemon_now() && grant->expires <= daemon_now()) {
			/* Already ending, and waiting for its next try: asking
			 * again does not run the edit again (a loop of revokes
			 * would otherwise cost the daemon an edit each). */
			json_decref(object);
			if (n_failed++ == 0) {
				snprintf(failed_id, sizeof(failed_id), "%s", targets[t]);
				snprintf(failed_why, sizeof(failed_why), "%.240s (already failing, %u attempt%s)",
					 hold->why, hold->attempts, hold->attempts == 1 ? "" : "s");
				failed_r = -EAGAIN;
			}
			continue;
		}
		r = daemon_grant_end(d, targets[t], "revoke", &peer, NULL, &why);
		if (r == SL_NOT_FOUND) {
			json_decref(object);
			continue;
		}
		if (r != 0) {
			/* The others are revoked all the same: one account's
			 * file must not keep every other grant alive. */
			json_decref(object);
			if (n_failed++ == 0) {
				snprintf(failed_id, sizeof(failed_id), "%s", targets[t]);
				snprintf(failed_why, sizeof(failed_why), "%s", why ? why : "unknown error");
				failed_r = r;
			}
			continue;
		}
		/* All of them are revoked; the answer lists the first that
		 * fit and counts the rest (the audit log has every one). */
		if (omitted == 0 && used + size <= REPLY_ANSWER_BUDGET) {
			used += size;
			if (json_array_append_new(revoked, object) < 0)
				goto out;
		} else {
			json_decref(object);
			omitted++;
		}
	}
	if (n_failed > 0) {
		const struct schedule_hold *hold = schedule_hold_find(d->holds, d->n_holds, failed_id);
		char more[96] = "";

		if (n_failed > 1)
			snprintf(more, sizeof(more), "; %zu more could not be revoked either", n_failed - 1);
		reply = reply_error(failed_r == SL_REFUSED ? PROTO_ERR_REFUSED : PROTO_ERR_FAILED,
				    "cannot remove the line of grant %s now: %s%s; its deadline is now, "
				    "and sshleased tries again %s%lld s until the line is gone "
				    "(sshlease list shows it)%s",
				    failed_id, failed_why, more, hold ? "in " : "every ",
				    (long long)(hold ? hold->until - daemon_now() : SCHEDULE_BACKOFF_MAX),
				    json_array_size(revoked) + omitted ? " (the grants listed in revoked were revoked)" : "");
		if (reply &&
		    (json_object_set(reply, "revoked", revoked) < 0 ||
		     json_object_set_new(reply, "omitted", json_integer((json_int_t)omitted)) < 0)) {
			json_decref(reply);
			reply = NULL;
		}
		goto out;
	}
	reply = json_pack("{s:b, s:O, s:I}", "ok", 1, "revoked", revoked,
			  "omitted", (json_int_t)omitted);
out:
	daemon_expire_due(d);
	json_decref(revoked);
	free(targets);
	return reply;
}

/* Lifecycle steps shared by requests, expiry and recovery: ending grants,
 * auditing an event, and the engine with a pause for accounts that stall
 * it. */
#define _GNU_SOURCE /* qsort_r */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "account.h"
#include "daemon.h"
#include "log.h"
#include "timeutil.h"

time_t daemon_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

void daemon_grant_event(const struct grant *grant, const char *event,
			struct audit_event *ev)
{
	*ev = (struct audit_event){
		.event = event,
		.id = grant->id,
		.user = grant->user,
		.key_type = grant->key_type,
		.fingerprint = grant->fingerprint,
		.ticket = grant->ticket,
		.expires = grant->expires,
		.from = grant->from,
		.mode = authkeys_mode_name(grant->mode),
		.by_uid = -1,
		.signer = grant->signer,
	};
}

int daemon_audit(struct daemon *d, const struct audit_event *ev)
{
	char sentence[1024], safe[1024];
	int r = 0;

	audit_sentence(ev, sentence, sizeof(sentence));
	log_notice("%s", log_safe(safe, sizeof(safe), sentence));
	if (d->audit) {
		r = audit_append(d->audit, ev, daemon_now());
		if (r < 0)
			log_err("cannot append the %s event to the audit log: %s",
				ev->event, strerror(-r));
	}
	return r;
}

/* ---- the engine, with a pause for accounts that stall it ---- */

static const char backoff_why[] =
	"the process acting as this account did not answer in time a moment ago (the account may have stopped it); sshlease leaves the account alone for a minute and then tries again";

/* -EAGAIN with *why while uid is being left alone, else 0. Pauses that
 * have ended are dropped here. */
static int backoff_check(struct daemon *d, uid_t uid, const char **why)
{
	long long now = time_monotonic_ms();
	size_t i = 0;
	int r = 0;

	while (i < d->n_backoffs) {
		if (d->backoffs[i].until_ms <= now) {
			d->backoffs[i] = d->backoffs[--d->n_backoffs];
			continue;
		}
		if (d->backoffs[i].uid == uid) {
			*why = backoff_why;
			r = -EAGAIN;
		}
		i++;
	}
	return r;
}

/* After an engine call: a timeout starts the account's pause. */
static int backoff_note(struct daemon *d, const struct account *acct, int r)
{
	struct account_backoff *grown;

	if (r != -ETIMEDOUT)
		return r;
	log_warn("the process acting as %.64s did not answer within %d ms and was killed; leaving the account alone for %d s",
		 acct->name, AUTHKEYS_CHILD_TIMEOUT_MS, DAEMON_ACCOUNT_BACKOFF_SECONDS);
	for (size_t i = 0; i < d->n_backoffs; i++) {
		if (d->backoffs[i].uid == acct->uid) {
			d->backoffs[i].until_ms = time_monotonic_ms() +
				DAEMON_ACCOUNT_BACKOFF_SECONDS * 1000LL;
			return r;
		}
	}
	grown = realloc(d->backoffs, (d->n_backoffs + 1) * sizeof(*grown));
	if (!grown) {
		log_err("out of memory noting the pause of %.64s", acct->name);
		return r;
	}
	d->backoffs = grown;
	d->backoffs[d->n_backoffs++] = (struct account_backoff){
		.uid = acct->uid,
		.until_ms = time_monotonic_ms() + DAEMON_ACCOUNT_BACKOFF_SECONDS * 1000LL,
	};
	return r;
}

int daemon_keys_add(struct daemon *d, const struct account *acct,
		    const char *line, const char **why)
{
	int r = backoff_check(d, acct->uid, why);

	if (r == 0)
		r = backoff_note(d, acct, authkeys_add(&d->authkeys, acct, line, why));
	return r;
}

int daemon_keys_remove(struct daemon *d, const struct account *acct,
		       const char *id, const char *blob_base64, size_t *removed,
		       const char **why)
{
	int r;

	if (removed)
		*removed = 0;
	r = backoff_check(d, acct->uid, why);
	if (r == 0)
		r = backoff_note(d, acct,
				 authkeys_remove(&d->authkeys, acct, id, blob_base64,
						 removed, why));
	return r;
}

int daemon_keys_remove_many(struct daemon *d, const struct account *acct,
			    const struct authkeys_entry *entries, size_t n,
			    size_t *removed, size_t *removed_each,
			    const char **why)
{
	int r;

	if (removed)
		*removed = 0;
	for (size_t i = 0; removed_each && i < n; i++)
		removed_each[i] = 0;
	r = backoff_check(d, acct->uid, why);
	if (r == 0)
		r = backoff_note(d, acct,
				 authkeys_remove_many(&d->authkeys, acct, entries, n,
						      removed, removed_each, why));
	return r;
}

int daemon_keys_replace(struct daemon *d, const struct account *acct,
			const char *line, size_t *replaced, const char **why)
{
	int r;

	if (replaced)
		*replaced = 0;
	r = backoff_check(d, acct->uid, why);
	if (r == 0)
		r = backoff_note(d, acct,
				 authkeys_replace(&d->authkeys, acct, line, replaced, why));
	return r;
}

int daemon_keys_list(struct daemon *d, const struct account *acct,
		     struct authkeys_entry **out, size_t *n, const char **why)
{
	int r;

	*out = NULL;
	*n = 0;
	r = backoff_check(d, acct->uid, why);
	if (r == 0)
		r = backoff_note(d, acct,
				 authkeys_list_managed(&d->authkeys, acct, out, n, why));
	return r;
}

const char *daemon_keys_why(int r, const char *why)
{
	/* These two carry the whole story in their reason; for the others
	 * the system's word says more than the step. */
	if ((r == -ETIMEDOUT || r == -EAGAIN) && why)
		return why;
	if (r < 0)
		return strerror(-r);
	return why ? why : "unknown error";
}

/* ---- ending grants ---- */

/* Move the grant with that id out of the state into *out (the caller owns
 * its strings then). 0 or SL_NOT_FOUND. */
static int state_take_grant(struct state *state, const char *id,
			    struct grant *out)
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
	struct account *acct = NULL;
	const char *why = NULL;
	int r;

	r = account_lookup(user, &acct, &why);
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
	size_t n_order = 0, n_ended = 0;
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
		if (state_take_grant(d->state, ids[i], &ended[n_ended]) != 0) {
			results[i] = SL_NOT_FOUND; /* the same id twice */
			continue;
		}
		taken_from[n_ended++] = i;
	}
	if (n_ended == 0)
		goto out;
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
		r = 0;
		goto out;
	}

	/* Last, one audit record per grant. The grants have ended whether or
	 * not a record could be written; daemon_audit logs that loudly. */
	for (size_t k = 0; k < n_ended; k++) {
		struct audit_event ev;

		schedule_hold_clear(d->holds, &d->n_holds, ended[k].id);
		daemon_grant_event(&ended[k], event, &ev);
		if (peer) {
			ev.by_uid = peer->uid;
			ev.by_user = peer->user;
		}
		ev.reason = endings[taken_from[k]].reason;
		daemon_audit(d, &ev);
	}
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

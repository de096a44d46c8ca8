/* The authorized_keys engine as sshleased uses it: the authkeys_* calls,
 * with a pause for accounts whose engine process stalls (daemon.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "timeutil.h"

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

int daemon_account_paused(struct daemon *d, uid_t uid, const char **why)
{
	return backoff_check(d, uid, why);
}

int daemon_account_answered(struct daemon *d, const struct account *acct, int r)
{
	return backoff_note(d, acct, r);
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

int daemon_keys_check(struct daemon *d, const struct account *acct,
		      enum authkeys_found *found, const char **why)
{
	int r = backoff_check(d, acct->uid, why);

	if (r == 0)
		r = backoff_note(d, acct, authkeys_check(acct, found, why));
	return r;
}

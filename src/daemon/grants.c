/* Lifecycle steps shared by requests, expiry and recovery: ending a grant,
 * auditing an event. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "account.h"
#include "daemon.h"
#include "log.h"

time_t daemon_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

static const char *mode_name(enum authkeys_mode mode)
{
	return mode == AUTHKEYS_MODE_SFTP ? "sftp" : "shell";
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
		.mode = mode_name(grant->mode),
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

enum authkeys_expiry daemon_expiry_format(const struct daemon *d)
{
	switch (d->config->expiry_format) {
	case CONFIG_EXPIRY_LOCAL:
		return AUTHKEYS_EXPIRY_LOCAL;
	case CONFIG_EXPIRY_NONE:
		return AUTHKEYS_EXPIRY_NONE;
	case CONFIG_EXPIRY_UTC:
	case CONFIG_EXPIRY_AUTO:
		break;
	}
	/* XXX auto: detecting the installed OpenSSH version comes later;
	 * until then the UTC form of OpenSSH >= 9.1 is written. */
	return AUTHKEYS_EXPIRY_UTC;
}

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

int daemon_grant_end(struct daemon *d, const char *id, const char *event,
		     const struct peer *peer, const char *reason,
		     const char **why)
{
	struct account *acct = NULL;
	struct grant *grant;
	struct grant ended = { 0 };
	struct audit_event ev;
	const char *lookup_why = NULL;
	size_t removed = 0;
	bool taken = false;
	int r;

	grant = state_find_grant(d->state, id);
	if (!grant) {
		r = SL_NOT_FOUND;
		goto out;
	}
	r = account_lookup(grant->user, &acct, &lookup_why);
	if (r == SL_NOT_FOUND) {
		/* Nobody can log in to an account that does not exist; its
		 * file cannot be found by name any more either. */
		log_warn("grant %s: account %.64s no longer exists; ending the grant without editing a file",
			 grant->id, grant->user);
		if (!reason)
			reason = "the account no longer exists";
	} else if (r != 0) {
		*why = r > 0 ? lookup_why : strerror(-r);
		r = r > 0 ? SL_REFUSED : r;
		goto out;
	} else {
		r = authkeys_remove(&d->authkeys, acct, grant->id,
				    grant->blob_base64, &removed, why);
		if (r != 0) {
			if (r < 0)
				*why = strerror(-r);
			goto out;
		}
		if (removed == 0 && !reason)
			reason = "the line was already gone";
	}

	r = state_take_grant(d->state, id, &ended);
	if (r != 0)
		goto out;
	taken = true;
	r = state_save(d->config->state_dir, d->state);
	if (r < 0) {
		*why = "the state could not be saved";
		log_err("grant %s: line removed but the state could not be saved: %s",
			ended.id, strerror(-r));
		/* Put it back: the state on disk still has it, and a retry
		 * (or the next start) will find its line gone. */
		if (state_add_grant(d->state, &ended) < 0)
			log_err("grant %s: out of memory restoring it", id);
		else
			taken = false;
		goto out;
	}
	schedule_hold_clear(d->holds, &d->n_holds, ended.id);
	daemon_grant_event(&ended, event, &ev);
	if (peer) {
		ev.by_uid = peer->uid;
		ev.by_user = peer->user;
	}
	ev.reason = reason;
	/* The grant has ended whether or not the audit line could be
	 * written; daemon_audit logs that failure loudly. */
	daemon_audit(d, &ev);
	r = 0;
out:
	if (taken)
		grant_finish(&ended);
	account_free(acct);
	return r;
}

/* Footholds (footholds.h): noted when an account's key watch begins,
 * taken again at each session end and when a grant ends; a difference is
 * reported (audit "foothold", journal warning, show), never undone. */
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

/* Where to look, for the one who reads the report. */
static void foothold_hint(enum foothold_item item, const char *user, char *out, size_t size)
{
	switch (item) {
	case FOOTHOLD_CRONTAB:
		snprintf(out, size, "crontab -l -u %s", user);
		break;
	case FOOTHOLD_AT:
		snprintf(out, size, "atq, as root");
		break;
	case FOOTHOLD_LINGER:
		snprintf(out, size, "loginctl show-user %s; loginctl disable-linger %s", user, user);
		break;
	default:
		snprintf(out, size, "ls -laR ~%s/.config/systemd/user", user);
		break;
	}
}

static const char *presence(const char *sig)
{
	return strcmp(sig, "-") == 0 ? "none" : "present";
}

void daemon_footholds_begin(struct daemon *d, const struct account *acct, struct key_watch *kw)
{
	const char *why = NULL;
	bool paused = daemon_account_paused(d, acct->uid, &why) != 0;

	daemon_account_answered(d, acct, footholds_take(&d->authkeys, acct, paused, kw->footholds));
	memcpy(kw->footholds_seen, kw->footholds, sizeof(kw->footholds_seen));
	kw->has_footholds = true;
}

bool daemon_footholds_check(struct daemon *d, uid_t uid, struct grant *g)
{
	const char *grant_id = g->id;
	struct grant_tally *t;
	struct key_watch *kw = state_find_key_watch(d->state, uid);
	foothold_sig now[FOOTHOLD_COUNT];
	struct account *acct = NULL;
	const char *why = NULL;
	bool changed = false;

	if (!kw || !kw->has_footholds || account_lookup_uid(uid, &acct, &why) != 0)
		return false;
	daemon_account_answered(d, acct,
				footholds_take(&d->authkeys, acct,
					       daemon_account_paused(d, uid, &why) != 0, now));
	for (int i = 0; i < FOOTHOLD_COUNT; i++) {
		char hint[160], reason[512];

		/* Not readable now: nothing to say. */
		if (!now[i][0] || strcmp(now[i], kw->footholds_seen[i]) == 0)
			continue;
		changed = true;
		/* Not readable at the start: this is the first look. */
		if (!kw->footholds[i][0]) {
			memcpy(kw->footholds[i], now[i], sizeof(now[i]));
			memcpy(kw->footholds_seen[i], now[i], sizeof(now[i]));
			continue;
		}
		memcpy(kw->footholds_seen[i], now[i], sizeof(now[i]));
		if (strcmp(now[i], kw->footholds[i]) == 0)
			continue; /* back as it was at the start */
		foothold_hint((enum foothold_item)i, acct->name, hint, sizeof(hint));
		snprintf(reason, sizeof(reason),
			 "%s of %s changed during grant %s (at its start: %s; now: %s); sshlease reports it and changes nothing: look at it with %s",
			 foothold_label((enum foothold_item)i), acct->name, grant_id,
			 presence(kw->footholds[i]), presence(now[i]), hint);
		log_warn("%s", reason);
		t = grant_tally(g);
		if (t)
			t->footholds |= 1u << i;
		struct audit_event ev = {
			.event = "foothold",
			.id = grant_id,
			.user = acct->name,
			.by_uid = -1,
			.reason = reason,
		};
		daemon_audit(d, &ev);
	}
	account_free(acct);
	return changed;
}

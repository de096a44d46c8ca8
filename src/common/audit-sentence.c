/* The one-sentence journal form of an audit event, and its priority. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "audit.h"
#include "authkeys.h"
#include "log.h"
#include "timeutil.h"

/* Outside strings are capped at this in the sentence; a reason (the
 * daemon's own words, some over 200 bytes) at more, so it is whole. */
#define SENTENCE_FIELD_MAX 200
#define SENTENCE_REASON_MAX 512

int audit_event_priority(const char *event)
{
	/* What went wrong or was refused: journalctl -p warning shows it. */
	static const char *const warnings[] = { "refuse", "line-missing", "leftovers" };

	for (size_t i = 0; event && i < SL_ARRAY_SIZE(warnings); i++)
		if (strcmp(event, warnings[i]) == 0)
			return LOG_WARNING;
	return LOG_NOTICE;
}

struct sentence {
	char *buf;
	size_t size;
	size_t len;
	bool details; /* a "(" has been opened */
};

static void SL_PRINTF(2, 3) say(struct sentence *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->len + 1 >= s->size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(s->buf + s->len, s->size - s->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	s->len += (size_t)n;
	if (s->len >= s->size)
		s->len = s->size - 1;
}

static void detail(struct sentence *s, const char *what, const char *value)
{
	say(s, "%s%s%s", s->details ? ", " : " (", what, value);
	s->details = true;
}

/* Each outside string, sanitised and capped for the sentence. */
struct safe_event {
	char id[SENTENCE_FIELD_MAX + 1];
	char user[SENTENCE_FIELD_MAX + 1];
	char fingerprint[SENTENCE_FIELD_MAX + 1];
	char ticket[SENTENCE_FIELD_MAX + 1];
	char from[SENTENCE_FIELD_MAX + 1];
	char mode[SENTENCE_FIELD_MAX + 1];
	char by_user[SENTENCE_FIELD_MAX + 1];
	char reason[SENTENCE_REASON_MAX + 1];
	char signer[SENTENCE_FIELD_MAX + 1];
	char event[SENTENCE_FIELD_MAX + 1];
	char who[SENTENCE_FIELD_MAX + 8]; /* "key " and a fingerprint */
	char address[SENTENCE_FIELD_MAX + 1];
	char expires[32];
	char duration[32];
	char kind[SENTENCE_FIELD_MAX + 1];
};

static const char *safe(char *dst, const char *src, const char *fallback)
{
	if (!src)
		return fallback;
	return log_safe(dst, SENTENCE_FIELD_MAX + 1, src);
}

/* Who logged in: the key's comment, else its fingerprint. */
static const char *session_who(struct safe_event *e, const struct audit_event *event,
				const char *fp)
{
	if (event->session->who && *event->session->who)
		return safe(e->who, event->session->who, "");
	snprintf(e->who, sizeof(e->who), "key %s", fp);
	return e->who;
}

void audit_sentence(const struct audit_event *event, char *buf, size_t size)
{
	struct sentence s = { .buf = buf, .size = size };
	bool used_id = false, used_user = false, used_fp = false;
	bool used_expires = false, used_reason = false;
	const char *ev, *id, *user, *fp, *until, *reason;
	struct safe_event e;
	char uid_text[32];

	if (size == 0)
		return;
	buf[0] = '\0';
	ev = safe(e.event, event->event, "(none)");
	id = safe(e.id, event->id, "(unknown)");
	user = safe(e.user, event->user, "(unknown)");
	fp = safe(e.fingerprint, event->fingerprint, "(unknown)");
	reason = event->reason ? log_safe(e.reason, sizeof(e.reason), event->reason) :
				 "no reason given";
	until = "(unknown)";
	if (event->expires != 0) {
		time_format_utc(event->expires, e.expires, sizeof(e.expires));
		until = e.expires;
	}

	if (strcmp(ev, "grant") == 0) {
		say(&s, "granted %s access for key %s until %s", user, fp, until);
		used_user = used_fp = used_expires = true;
	} else if (strcmp(ev, "extend") == 0) {
		say(&s, "extended grant %s for %s until %s", id, user, until);
		used_id = used_user = used_expires = true;
	} else if (strcmp(ev, "revoke") == 0) {
		say(&s, "revoked grant %s for %s", id, user);
		used_id = used_user = true;
	} else if (strcmp(ev, "expire") == 0) {
		say(&s, "grant %s for %s expired at %s", id, user, until);
		used_id = used_user = used_expires = true;
	} else if (strcmp(ev, "refuse") == 0) {
		if (event->user)
			say(&s, "refused access for %s: %s", user, reason);
		else
			say(&s, "refused a request: %s", reason);
		used_user = used_reason = true;
	} else if (strcmp(ev, "start") == 0) {
		say(&s, "sshleased started");
	} else if (strcmp(ev, "stop") == 0) {
		say(&s, "sshleased stopped");
	} else if (strcmp(ev, "remove-orphan") == 0) {
		say(&s, "removed the orphaned line of grant %s from the authorized_keys of %s",
		    id, user);
		used_id = used_user = true;
	} else if (strcmp(ev, "session_start") == 0 && event->session) {
		const struct audit_session *ss = event->session;

		say(&s, "%s logged in to %s from %s port %u", session_who(&e, event, fp),
		    user, safe(e.address, ss->address, "(unknown)"), ss->port);
		used_user = used_fp = true;
	} else if (strcmp(ev, "session_end") == 0 && event->session) {
		const struct audit_session *ss = event->session;

		duration_format(ss->duration > 0 ? ss->duration : 0, e.duration,
				sizeof(e.duration));
		say(&s, "the login of %s to %s from %s port %u ended after %s",
		    session_who(&e, event, fp), user,
		    safe(e.address, ss->address, "(unknown)"), ss->port, e.duration);
		if (ss->kind)
			say(&s, " (%s)", safe(e.kind, ss->kind, "?"));
		used_user = used_fp = true;
	} else if (strcmp(ev, "leftovers") == 0) {
		say(&s, "grant %s for %s has ended, but %s", id, user, reason);
		used_id = used_user = used_reason = true;
	} else if (strcmp(ev, "line-missing") == 0) {
		say(&s, "the line of grant %s for %s was removed from authorized_keys "
			"by someone else", id, user);
		used_id = used_user = true;
	} else {
		say(&s, "audit event %s", ev);
	}

	/* Whatever the phrase above did not say, in a fixed order. */
	if (!used_user && event->user)
		detail(&s, "account ", user);
	if (!used_fp && event->fingerprint)
		detail(&s, "key ", fp);
	if (!used_expires && event->expires != 0)
		detail(&s, "until ", until);
	if (event->ticket)
		detail(&s, "ticket ", safe(e.ticket, event->ticket, ""));
	if (event->from)
		detail(&s, "from ", safe(e.from, event->from, ""));
	if (event->mode) {
		enum authkeys_mode mode;

		if (!authkeys_mode_parse(event->mode, &mode))
			detail(&s, "mode ", safe(e.mode, event->mode, ""));
		else if (mode == AUTHKEYS_MODE_SFTP)
			detail(&s, "sftp only", "");
	}
	if (event->signer)
		detail(&s, "signed by ", safe(e.signer, event->signer, ""));
	if (!used_id && event->id)
		detail(&s, "grant ", id);
	if (!used_reason && event->reason)
		detail(&s, "reason: ", reason);
	if (event->by_user) {
		detail(&s, "by ", safe(e.by_user, event->by_user, ""));
	} else if (event->by_uid >= 0) {
		snprintf(uid_text, sizeof(uid_text), "%lld", event->by_uid);
		detail(&s, "by uid ", uid_text);
	}
	if (s.details)
		say(&s, ")");
	/* A grant's end: what happened during it. */
	if (event->report) {
		char report[SENTENCE_REASON_MAX + 1];

		say(&s, ": %s", log_safe(report, sizeof(report), event->report));
	}
}

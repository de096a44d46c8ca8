/* Logins with a grant's key, from sshd's log to their end (DESIGN.md §13):
 * seen, recorded, watched through the monitor's pidfd, ended with the grant. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "scope.h"
#include "scopes.h"
#include "sshd-conn.h"
#include "sshd-log.h"
#include "tty-notice.h"
#include "timeutil.h"

/* ---- watches: pidfds of monitors ---- */

static struct session_watch *watch_find(struct daemon *d, pid_t pid)
{
	for (size_t i = 0; i < d->n_watches; i++)
		if (d->watches[i].pid == pid)
			return &d->watches[i];
	return NULL;
}

/* Hold pidfd (ownership moves in, even on failure) of monitor pid. */
static int watch_add(struct daemon *d, pid_t pid, int pidfd)
{
	struct epoll_event ev = {
		.events = EPOLLIN,
		.data.u32 = DAEMON_TAG_SESSION | (uint32_t)pid,
	};
	struct session_watch *grown;

	grown = realloc(d->watches, (d->n_watches + 1) * sizeof(*grown));
	if (!grown) {
		close(pidfd);
		return -ENOMEM;
	}
	d->watches = grown;
	if (d->epoll_fd >= 0 && epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, pidfd, &ev) < 0) {
		int r = -errno;

		close(pidfd);
		return r;
	}
	d->watches[d->n_watches++] = (struct session_watch){ .pid = pid, .pidfd = pidfd };
	return 0;
}

static void watch_remove(struct daemon *d, struct session_watch *w)
{
	if (d->epoll_fd >= 0)
		epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, w->pidfd, NULL);
	close(w->pidfd);
	*w = d->watches[--d->n_watches];
}

/* ---- records ---- */

/* g: the session's grant, or NULL to look it up in the state. */
static void session_audit(struct daemon *d, const struct session *s,
			  const struct grant *g, const char *event,
			  long long duration, const char *reason)
{
	if (!g)
		g = state_find_grant(d->state, s->grant_id);
	struct audit_session as = {
		.who = g ? g->comment : NULL,
		.address = s->address,
		.port = s->port,
		.pid = s->pid,
		.since = s->since,
		.duration = duration,
		.kind = s->kind[0] ? s->kind : NULL,
	};
	struct audit_event ev = {
		.event = event,
		.id = s->grant_id,
		.user = s->user,
		.key_type = g ? g->key_type : NULL,
		.fingerprint = g ? g->fingerprint : NULL,
		.ticket = g ? g->ticket : NULL,
		.by_uid = -1,
		.reason = reason,
		.session = &as,
	};

	daemon_audit(d, &ev);
}

/* Record the end of the session at index i and take it out of the state
 * (the caller saves). */
static void session_close(struct daemon *d, size_t i, struct grant *g,
			  const char *reason)
{
	struct session s = d->state->sessions[i];
	time_t now = daemon_now();

	long long seconds = now > s.since ? (long long)(now - s.since) : 0;
	struct grant_tally *t;

	session_audit(d, &s, g, "session_end", seconds, reason);
	state_remove_session(d->state, i);
	if (!g)
		g = state_find_grant(d->state, s.grant_id);
	if (!g)
		return;
	/* For the report at the grant's end. */
	t = grant_tally(g);
	if (t) {
		t->sessions++;
		t->seconds += seconds;
		grant_tally_address(t, s.address);
	}
	/* What the session may have left behind besides keys. */
	daemon_footholds_check(d, g->uid, g);
}

static void save_state(struct daemon *d)
{
	int r = state_save(d->config->state_dir, d->state);

	if (r < 0)
		log_err("cannot save the sessions in the state: %s", strerror(-r));
}

/* ---- notices on the sessions' terminals ---- */

/* Write line to every terminal of the login watched by w; how many it
 * has. */
static size_t notice_terminals(const struct session_watch *w, const struct grant *g,
			       const char *line)
{
	dev_t ttys[TTY_NOTICE_MAX];
	size_t n = tty_notice_find(w->pid, ttys, TTY_NOTICE_MAX);

	for (size_t i = 0; i < n; i++) {
		int r = tty_notice_write(ttys[i], g->uid, line);

		if (r < 0 && r != -EAGAIN)
			log_debug("grant %s: no notice on a terminal of sshd pid %ld: %s", g->id,
				  (long)w->pid, strerror(-r));
	}
	return n;
}

/* When the sessions of g are told that its end is near. */
static time_t notice_time(const struct grant *g)
{
	time_t lead = g->expires > g->created ? (g->expires - g->created) / 2 : 0;

	if (lead > DAEMON_NOTICE_SECONDS)
		lead = DAEMON_NOTICE_SECONDS;
	return g->expires - lead;
}

/* The notice that g's deadline is near, for its account's terminals. */
static void notice_line(const struct grant *g, time_t now, char *line, size_t size)
{
	char until[32], left[32];
	time_t secs = g->expires - now;

	time_format_utc(g->expires, until, sizeof(until));
	if (secs >= 90)
		snprintf(left, sizeof(left), "%lld minutes", (long long)((secs + 30) / 60));
	else
		snprintf(left, sizeof(left), "%lld seconds", (long long)secs);
	/* From "2026-12-01T17:00:00Z": the date and the time of day. */
	snprintf(line, size, "sshlease: this access to %s ends at %.10s %.5s UTC (in %s); grant %s",
		 g->user, until, until + 11, left, g->id);
}

time_t daemon_sessions_notice(struct daemon *d, time_t now)
{
	time_t next = 0;

	for (size_t i = 0; i < d->state->n_sessions; i++) {
		const struct session *s = &d->state->sessions[i];
		const struct grant *g = state_find_grant(d->state, s->grant_id);
		struct session_watch *w = watch_find(d, s->pid);
		time_t at;
		char line[200];

		if (!g || !w || w->kill_at_ms || w->noticed_for == g->expires || g->expires <= now)
			continue;
		at = notice_time(g);
		if (at <= now) {
			notice_line(g, now, line, sizeof(line));
			if (notice_terminals(w, g, line) > 0 || now - s->since > 5) {
				w->noticed_for = g->expires;
				continue;
			}
			/* Just logged in, its terminal not there yet. */
			at = now + 1;
		}
		if (next == 0 || at < next)
			next = at;
	}
	return next;
}

/* Take the scope of the login watched by w once its monitor forked (or
 * DAEMON_SCOPE_WAIT_MS passed, or now: the grant ends); until then, try
 * again shortly. gone: the monitor exited, so only a record without a unit
 * is left to make. */
static void scope_try(struct daemon *d, struct session_watch *w, bool now_or_never,
		      bool gone)
{
	long long now = time_monotonic_ms();
	const struct session *s = NULL;
	struct grant *g;

	if (!w->scope_at_ms)
		return;
	if (!now_or_never && !scope_login_forked(w->pid) && now < w->scope_until_ms) {
		w->scope_at_ms = now + DAEMON_SCOPE_RETRY_MS;
		return;
	}
	w->scope_at_ms = w->scope_until_ms = 0;
	for (size_t i = 0; i < d->state->n_sessions && !s; i++)
		if (d->state->sessions[i].pid == w->pid)
			s = &d->state->sessions[i];
	g = s ? state_find_grant(d->state, s->grant_id) : NULL;
	if (!g)
		return;
	login_scope_begin(d, s, g, !gone);
	save_state(d);
}

/* ---- the log ---- */

/*
 * The monitor of a login just seen: by the pid the journal names, which
 * journald takes from the kernel and so needs no further proof than the
 * process's identity (and no CAP_SYS_PTRACE, which the unit does not
 * grant); from a log file, whose "sshd[PID]" anyone can write through
 * syslog, by the TCP connection the line names (sshd-conn.h). Either way
 * *pidfd, *pid and the monitor's start time in *start.
 */
static int session_monitor(struct daemon *d, const struct sshd_conn_peer *peer,
			   const struct log_line *line, int *pidfd, pid_t *pid,
			   unsigned long long *start, const char **why)
{
	int r, found_fd;

	*start = 0;
	if (d->sshd_journal) {
		if (line->pid <= 0) {
			*why = "the journal entry names no process";
			return SL_REFUSED;
		}
		*pid = line->pid;
		r = sshd_conn_open_pid(line->pid, peer->user, start, pidfd, why);
		/* A process that started after the entry was written has the
		 * pid again: the monitor that wrote it is gone (this matters
		 * for old entries read at start-up). */
		if (r == 0 && line->time > 0 && sshd_conn_started_at(*start) > line->time + 1) {
			close(*pidfd);
			*why = "the pid now names another process";
			return SL_NOT_FOUND;
		}
		return r;
	}
	r = sshd_conn_open(peer, &found_fd, pid, why);
	if (r != 0)
		return r;
	/* The same process again by its pid, for its start time; found_fd
	 * kept it from being replaced meanwhile. */
	r = sshd_conn_open_pid(*pid, peer->user, start, pidfd, why);
	close(found_fd);
	return r;
}

static void monitor_term(struct session_watch *w);

/* ---- keys of grants that have just ended ---- */

static long long realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const struct ended_key *ended_key_find(struct daemon *d, const char *user,
					      const char *fingerprint)
{
	time_t now = daemon_now();

	for (size_t i = 0; i < d->n_ended_keys; i++) {
		const struct ended_key *k = &d->ended_keys[i];

		if (k->until >= now && strcmp(k->fingerprint, fingerprint) == 0 &&
		    strcmp(k->user, user) == 0)
			return k;
	}
	return NULL;
}

static void ended_key_add(struct daemon *d, const struct grant *g)
{
	time_t now = daemon_now();
	size_t kept = 0;
	struct ended_key *grown;

	for (size_t i = 0; i < d->n_ended_keys; i++)
		if (d->ended_keys[i].until >= now)
			d->ended_keys[kept++] = d->ended_keys[i];
	d->n_ended_keys = kept;
	if (d->n_ended_keys >= DAEMON_ENDED_KEYS_MAX) {
		memmove(d->ended_keys, d->ended_keys + 1,
			(d->n_ended_keys - 1) * sizeof(*d->ended_keys));
		d->n_ended_keys--;
	}
	grown = realloc(d->ended_keys, (d->n_ended_keys + 1) * sizeof(*grown));
	if (!grown) {
		log_err("grant %s: out of memory keeping its key to end late logins", g->id);
		return;
	}
	d->ended_keys = grown;
	struct ended_key *k = &d->ended_keys[d->n_ended_keys++];

	*k = (struct ended_key){ .uid = g->uid, .until = now + DAEMON_ENDED_KEY_SECONDS,
				 .ended_ms = realtime_ms() };
	snprintf(k->grant_id, sizeof(k->grant_id), "%s", g->id);
	snprintf(k->user, sizeof(k->user), "%s", g->user);
	snprintf(k->fingerprint, sizeof(k->fingerprint), "%s", g->fingerprint);
}

/* A login that is ended as soon as it is seen, and whom its records name. */
struct at_once {
	char id[AUTHKEYS_ID_LEN + 1]; /* the grant */
	char user[33];
	uid_t uid;
	const char *fingerprint;
	const char *came;  /* how it came: "came as the grant ended" */
	bool grant_live;   /* the grant goes on: only this login's scope ends */
};

/*
 * A login that must not go on: with the key of a grant that ended, whose
 * log line came in after the end (sshd accepted it just before the line
 * went), or with a key added during a grant. Its connection is closed at
 * once and whatever it started goes with a scope of its own; records
 * name the grant a.
 */
static void session_at_once(struct daemon *d, const struct sshd_log_event *ev,
			    const struct log_line *line, const struct at_once *a)
{
	struct sshd_conn_peer peer = { .family = ev->family, .port = ev->port,
				       .user = ev->user };
	struct grant g = { .uid = a->uid };
	struct session s = { 0 };
	const char *why = NULL;
	char id[AUTHKEYS_ID_LEN + 1], user[33], reason[256];
	int pidfd = -1, r;
	pid_t pid = 0;

	memcpy(peer.address, ev->address, sizeof(peer.address));
	memcpy(id, a->id, sizeof(id));
	memcpy(user, a->user, sizeof(user));
	g.user = user;
	memcpy(g.id, id, sizeof(g.id));
	memcpy(s.grant_id, id, sizeof(s.grant_id));
	memcpy(s.user, user, sizeof(s.user));
	snprintf(s.address, sizeof(s.address), "%.*s",
		 (int)strcspn(ev->address_text, "%"), ev->address_text);
	s.port = ev->port;
	s.since = line->time > 0 ? line->time : daemon_now();
	r = session_monitor(d, &peer, line, &pidfd, &pid, &s.pid_start, &why);
	if (r == 0) {
		snprintf(reason, sizeof(reason), "the login %s; its connection was closed at once",
			 a->came);
		s.pid = pid;
		if (watch_add(d, pid, pidfd) == 0) {
			struct session_watch *w = watch_find(d, pid);
			struct login_scope *sc = login_scope_begin(d, &s, &g, true);

			if (sc && a->grant_live)
				login_scope_end_alone(d, sc);
			monitor_term(w);
		}
	} else {
		snprintf(reason, sizeof(reason), r != SL_NOT_FOUND
			 ? "the login %s, and its connection's sshd process was not found, so sshleased cannot end it"
			 : "the login %s; its connection had closed before sshleased saw it",
			 a->came);
		login_scope_begin(d, &s, &g, false);
	}
	log_warn("grant %s: a login from %s port %u: %s", id, s.address, s.port, reason);
	if (!a->grant_live)
		login_scopes_end(d, id, 0);
	save_state(d);
	struct audit_session as = { .address = s.address, .port = s.port, .pid = s.pid,
				    .since = s.since, .duration = 0 };
	struct audit_event ev_start = { .event = "session_start", .id = id, .user = user,
					.fingerprint = a->fingerprint, .by_uid = -1,
					.session = &as };
	struct audit_event ev_end = ev_start;

	ev_end.event = "session_end";
	ev_end.reason = reason;
	as.duration = -1;
	daemon_audit(d, &ev_start);
	as.duration = 0;
	daemon_audit(d, &ev_end);
}

static void session_too_late(struct daemon *d, const struct sshd_log_event *ev,
			     const struct log_line *line, const struct ended_key *k)
{
	struct at_once a = { .uid = k->uid, .fingerprint = k->fingerprint,
			     .came = "came as the grant ended" };

	memcpy(a.id, k->grant_id, sizeof(a.id));
	memcpy(a.user, k->user, sizeof(a.user));
	session_at_once(d, ev, line, &a);
}

/* ---- logins with a key added during a grant ---- */

static const struct key_watch *key_watch_of(const struct daemon *d, const char *user)
{
	for (size_t i = 0; i < d->state->n_key_watches; i++)
		if (strcmp(d->state->key_watches[i].user, user) == 0)
			return &d->state->key_watches[i];
	return NULL;
}

/* Whether fingerprint is that of a key added to user's files during a
 * grant and removed, for the login of line: found since the account's key
 * watch began, or (the watch ended with the grant) a login made before a
 * grant of the account ended a moment ago. A key the owner puts back
 * after the end is the owner's. */
static bool planted_key(const struct daemon *d, const char *user, const char *fingerprint,
			const struct log_line *line)
{
	const struct key_watch *kw = key_watch_of(d, user);
	/* The journal's second of the login, at its start; a log file's line
	 * carries no time: read a moment after it was written. */
	long long at_ms = line->time > 0 ? (long long)line->time * 1000 : realtime_ms() - 1000;
	time_t now = daemon_now();
	bool before_end = false;

	for (size_t i = 0; i < d->n_ended_keys && !before_end; i++) {
		const struct ended_key *k = &d->ended_keys[i];

		before_end = k->until >= now && strcmp(k->user, user) == 0 && at_ms <= k->ended_ms;
	}
	for (size_t i = 0; i < d->state->n_added_keys; i++) {
		const struct added_key *ak = &d->state->added_keys[i];

		if (!ak->removed || !ak->fingerprint[0] || strcmp(ak->user, user) != 0 ||
		    strcmp(ak->fingerprint, fingerprint) != 0)
			continue;
		if ((kw && ak->at >= kw->since) || before_end)
			return true;
	}
	return false;
}

/* End the login ev (of a key added during a grant of its account) at
 * once: the records name the account's live grant, else the one that
 * ended last. */
static void planted_login(struct daemon *d, const struct sshd_log_event *ev,
			  const struct log_line *line)
{
	struct at_once a = { .fingerprint = ev->fingerprint,
			     .came = "used a key added during the grant, which was removed" };
	const struct ended_key *latest = NULL;
	time_t now = daemon_now();

	for (size_t i = 0; i < d->state->n_grants && !a.id[0]; i++) {
		const struct grant *g = &d->state->grants[i];

		if (strcmp(g->user, ev->user) == 0) {
			memcpy(a.id, g->id, sizeof(a.id));
			a.uid = g->uid;
			a.grant_live = true;
		}
	}
	for (size_t i = 0; i < d->n_ended_keys && !a.id[0]; i++) {
		const struct ended_key *k = &d->ended_keys[i];

		if (k->until >= now && strcmp(k->user, ev->user) == 0)
			latest = k; /* kept in the order they ended */
	}
	if (!a.id[0] && latest) {
		memcpy(a.id, latest->grant_id, sizeof(a.id));
		a.uid = latest->uid;
	}
	if (!a.id[0]) {
		log_warn("%s: a login from %s port %u used a key added during a grant, and no grant of the account is live or ended a moment ago; left alone",
			 ev->user, ev->address_text, ev->port);
		return;
	}
	snprintf(a.user, sizeof(a.user), "%s", ev->user);
	session_at_once(d, ev, line, &a);
}

/* Keep a login of an account whose keys are watched, not with a grant's
 * key: daemon_sessions_planted ends it should its key be found added. */
static void recent_login_keep(struct daemon *d, const struct sshd_log_event *ev,
			      const struct log_line *line)
{
	struct recent_login *grown;

	if (!key_watch_of(d, ev->user))
		return;
	if (d->n_recent_logins >= DAEMON_RECENT_LOGINS_MAX) {
		memmove(d->recent_logins, d->recent_logins + 1,
			(d->n_recent_logins - 1) * sizeof(*d->recent_logins));
		d->n_recent_logins--;
	}
	grown = realloc(d->recent_logins, (d->n_recent_logins + 1) * sizeof(*grown));
	if (!grown) {
		log_err("%s: out of memory keeping a login to end should its key turn out added",
			ev->user);
		return;
	}
	d->recent_logins = grown;
	d->recent_logins[d->n_recent_logins++] = (struct recent_login){
		.ev = *ev, .pid = line->pid, .time = line->time > 0 ? line->time : daemon_now(),
	};
}

void daemon_sessions_planted(struct daemon *d, const char *user, const char *fingerprint)
{
	const struct key_watch *kw = key_watch_of(d, user);

	for (size_t i = 0; i < d->n_recent_logins;) {
		struct recent_login r = d->recent_logins[i];

		if (strcmp(r.ev.user, user) != 0 || strcmp(r.ev.fingerprint, fingerprint) != 0 ||
		    (kw && r.time < kw->since)) {
			i++;
			continue;
		}
		memmove(d->recent_logins + i, d->recent_logins + i + 1,
			(d->n_recent_logins - i - 1) * sizeof(*d->recent_logins));
		d->n_recent_logins--;
		planted_login(d, &r.ev, &(struct log_line){ .pid = r.pid, .time = r.time });
	}
}

static void session_begin(struct daemon *d, const struct sshd_log_event *ev,
			  const struct log_line *line)
{
	struct sshd_conn_peer peer = {
		.family = ev->family,
		.port = ev->port,
		.user = ev->user,
	};
	struct grant *grant = NULL;
	struct session_watch *w;
	struct session s = { 0 };
	const char *why = NULL;
	int pidfd = -1, r;
	pid_t pid = 0;

	for (size_t i = 0; i < d->state->n_grants && !grant; i++) {
		struct grant *g = &d->state->grants[i];

		if (strcmp(g->fingerprint, ev->fingerprint) == 0 &&
		    strcmp(g->user, ev->user) == 0)
			grant = g;
	}
	if (!grant) {
		const struct ended_key *k = ended_key_find(d, ev->user, ev->fingerprint);

		if (k)
			session_too_late(d, ev, line, k);
		else if (planted_key(d, ev->user, ev->fingerprint, line))
			planted_login(d, ev, line);
		else /* not a grant's key: the account's own login, or a key
			the sweep is yet to find added */
			recent_login_keep(d, ev, line);
		return;
	}
	for (size_t i = 0; i < d->state->n_sessions; i++) {
		if (d->state->sessions[i].port == ev->port &&
		    strcmp(d->state->sessions[i].address, ev->address_text) == 0)
			return; /* the same line seen twice */
	}
	memcpy(peer.address, ev->address, sizeof(peer.address));
	snprintf(s.grant_id, sizeof(s.grant_id), "%s", grant->id);
	snprintf(s.user, sizeof(s.user), "%s", ev->user);
	/* A zone ("%eth0") is not part of what the state keeps. */
	snprintf(s.address, sizeof(s.address), "%.*s",
		 (int)strcspn(ev->address_text, "%"), ev->address_text);
	s.port = ev->port;
	s.since = line->time > 0 ? line->time : daemon_now();

	r = session_monitor(d, &peer, line, &pidfd, &pid, &s.pid_start, &why);
	/* At start-up the journal is read again from the oldest grant on:
	 * a login that is over and no later than the last one recorded was
	 * seen before the restart. */
	if (r == SL_NOT_FOUND && d->sessions_catching_up && s.since <= grant->last_login)
		return;
	if (s.since > grant->last_login)
		grant->last_login = s.since;
	if (r == SL_NOT_FOUND) {
		/* `ssh host true` can be over before its line is read. */
		struct grant_tally *t = grant_tally(grant);

		if (t) {
			t->sessions++;
			grant_tally_address(t, s.address);
		}
		login_scope_begin(d, &s, grant, false);
		save_state(d);
		session_audit(d, &s, grant, "session_start", -1, NULL);
		session_audit(d, &s, grant, "session_end", 0,
			      "the connection had closed before sshleased saw the login");
		return;
	}
	if (r != 0) {
		char reason[256];

		snprintf(reason, sizeof(reason),
			 "its connection's sshd process was not found (%s), so sshleased cannot end it",
			 why ? why : r < 0 ? strerror(-r) : "refused");
		log_err("grant %s: a login from %s port %u: %s", s.grant_id, s.address,
			s.port, reason);
		login_scope_begin(d, &s, grant, false);
		save_state(d);
		session_audit(d, &s, grant, "session_start", -1, reason);
		return;
	}
	if (!d->sshd_journal && line->pid > 0 && line->pid != pid)
		log_warn("grant %s: the login from %s port %u was logged by pid %ld, but pid %ld holds its connection",
			 s.grant_id, s.address, s.port, (long)line->pid, (long)pid);
	s.pid = pid;
	r = watch_add(d, pid, pidfd);
	if (r < 0)
		log_err("grant %s: cannot watch sshd pid %ld: %s", s.grant_id, (long)pid,
			strerror(-r));
	r = state_add_session(d->state, &s);
	if (r < 0) {
		log_err("grant %s: out of memory recording a session", s.grant_id);
		return;
	}
	w = watch_find(d, pid);
	if (w) {
		/* With PAM, pam_systemd may be about to put the login into a
		 * logind session scope: wait for that. Without, there is none
		 * to wait for, and the sooner the login is in a scope, the
		 * less it can have started outside. */
		w->scope_at_ms = time_monotonic_ms();
		w->scope_until_ms = w->scope_at_ms +
				    (d->sshd.use_pam == SSHD_NO ? 0 : DAEMON_SCOPE_WAIT_MS);
		scope_try(d, w, false, false);
	} else {
		login_scope_begin(d, &s, grant, false);
	}
	save_state(d);
	session_audit(d, &s, grant, "session_start", -1, NULL);
	/* The timer wakes for this session's notice too (or gives it now,
	 * for a login close to the deadline). */
	if (w && !d->sessions_catching_up)
		daemon_expire_due(d);
}

/* What a channel of an open session runs (sshd logs it at VERBOSE), added
 * to the session's kinds. */
static void session_kind(struct daemon *d, const struct sshd_log_event *ev)
{
	const char *kind = sshd_log_session_name(ev->session);
	struct session *s = NULL;
	size_t used;

	for (size_t i = 0; i < d->state->n_sessions && !s; i++) {
		struct session *o = &d->state->sessions[i];

		if (o->port == ev->port && strcmp(o->user, ev->user) == 0 &&
		    strncmp(o->address, ev->address_text, strcspn(ev->address_text, "%")) == 0 &&
		    o->address[strcspn(ev->address_text, "%")] == '\0')
			s = o;
	}
	if (!s)
		return; /* not a grant's login */
	/* sftp, as a subsystem or the forced internal-sftp of an SFTP-only
	 * grant, is what a person calls it. */
	if ((ev->session == SSHD_SESSION_SUBSYSTEM && strcmp(ev->detail, "sftp") == 0) ||
	    (ev->session == SSHD_SESSION_FORCED && strstr(ev->detail, "sftp")))
		kind = "sftp";
	for (const char *p = s->kind; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
		if (strncmp(p, kind, strlen(kind)) == 0 &&
		    (p[strlen(kind)] == ',' || p[strlen(kind)] == '\0'))
			return; /* already noted */
	}
	used = strlen(s->kind);
	if (used + (used > 0) + strlen(kind) >= sizeof(s->kind))
		return;
	snprintf(s->kind + used, sizeof(s->kind) - used, "%s%s", used ? "," : "", kind);
	save_state(d);
}

/* The next line of whichever source is open. */
static int log_next(struct daemon *d, struct log_line *line, const char **why)
{
	if (d->sshd_follow)
		return log_follow_next(d->sshd_follow, line, why);
	if (d->sshd_journal)
		return log_journal_next(d->sshd_journal, line, why);
	return -EAGAIN;
}

/* Handle up to limit lines of sshd's log, fewer when there are no more. */
static void log_read(struct daemon *d, long limit)
{
	struct sshd_log_event ev;
	struct log_line line;
	const char *why = NULL;
	char safe[256];
	int r;

	for (long n = 0; n < limit; n++) {
		r = log_next(d, &line, &why);
		if (r == -EAGAIN)
			return;
		if (r != 0) {
			log_warn("sshd's log: %s%s%s", why ? why : "",
				 r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
			if (r < 0)
				return;
			continue;
		}
		r = sshd_log_parse(line.text, line.len, &ev, &why);
		if (r == SL_REFUSED) {
			log_warn("sshd's log: a line not understood (%s): %s", why,
				 log_safe(safe, sizeof(safe), line.text));
			continue;
		}
		if (r != 0)
			continue;
		/* The end of a connection is known from its monitor's exit
		 * (the pidfd): a "Disconnected" line is only a hint of it,
		 * and at INFO a killed or dropped connection logs none. */
		if (ev.kind == SSHD_LOG_ACCEPTED)
			session_begin(d, &ev, &line);
		else if (ev.kind == SSHD_LOG_SESSION)
			session_kind(d, &ev);
	}
}

void daemon_sshd_log_event(struct daemon *d)
{
	/* Bounded, so a flood of lines cannot starve the socket: what is
	 * left keeps the fd readable for the next round. */
	log_read(d, 256);
}

void daemon_session_exited(struct daemon *d, pid_t pid)
{
	struct session_watch *w = watch_find(d, pid);
	bool changed = false;

	/* Over before its scope was taken: what it left is reported. */
	if (w)
		scope_try(d, w, true, true);
	if (w)
		watch_remove(d, w);
	for (size_t i = 0; i < d->state->n_sessions;) {
		if (d->state->sessions[i].pid == pid) {
			char id[sizeof(d->state->sessions[i].grant_id)];

			memcpy(id, d->state->sessions[i].grant_id, sizeof(id));
			session_close(d, i, NULL, "connection closed");
			login_scopes_prune(d, id);
			changed = true;
		} else {
			i++;
		}
	}
	if (changed)
		save_state(d);
}

/* SIGTERM to the monitor of w now, SIGKILL DAEMON_SESSION_KILL_MS later. */
static void monitor_term(struct session_watch *w)
{
	int r = sshd_conn_signal(w->pidfd, SIGTERM);

	w->term_at_ms = 0;
	if (r == 0)
		w->kill_at_ms = time_monotonic_ms() + DAEMON_SESSION_KILL_MS;
	else if (r != -ESRCH)
		log_err("cannot end the connection of sshd pid %ld: %s", (long)w->pid,
			strerror(-r));
}

void daemon_sessions_end_grant(struct daemon *d, struct grant *grant,
			       const char *reason)
{
	const char *id = grant->id;
	long long delay = 0;

	ended_key_add(d, grant);
	for (size_t i = 0; i < d->state->n_sessions;) {
		const struct session *s = &d->state->sessions[i];
		struct session_watch *w;

		if (strcmp(s->grant_id, id) != 0) {
			i++;
			continue;
		}
		/* Only through the pidfd of a monitor found holding this
		 * connection: a pid alone may name another process by now. */
		w = watch_find(d, s->pid);
		if (w && !w->kill_at_ms && !w->term_at_ms) {
			char line[160];

			/* Its scope now, as it is, before the monitor goes. */
			scope_try(d, w, true, false);
			snprintf(line, sizeof(line),
				 "sshlease: this access to %s has ended (grant %s); the connection closes now",
				 grant->user, id);
			/* A terminal told gets a moment to carry the line to
			 * the client; the rest end at once. */
			if (notice_terminals(w, grant, line) > 0) {
				delay = DAEMON_NOTICE_GRACE_MS;
				w->term_at_ms = time_monotonic_ms() + delay;
			} else {
				monitor_term(w);
			}
		}
		session_close(d, i, grant, reason);
	}
	login_scopes_end(d, id, delay);
}

int daemon_sessions_timeout_ms(const struct daemon *d)
{
	long long earliest = -1, now;

	for (size_t i = 0; i < d->state->n_scopes; i++) {
		const struct login_scope *sc = &d->state->scopes[i];
		long long at[] = { sc->kill_at_ms, sc->term_at_ms };

		for (size_t k = 0; k < SL_ARRAY_SIZE(at); k++)
			if (at[k] > 0 && (earliest < 0 || at[k] < earliest))
				earliest = at[k];
	}
	for (size_t i = 0; i < d->n_watches; i++) {
		const struct session_watch *w = &d->watches[i];
		long long at[] = { w->kill_at_ms, w->scope_at_ms, w->term_at_ms };

		for (size_t k = 0; k < SL_ARRAY_SIZE(at); k++)
			if (at[k] > 0 && (earliest < 0 || at[k] < earliest))
				earliest = at[k];
	}
	if (earliest < 0)
		return -1;
	now = time_monotonic_ms();
	return earliest <= now ? 0 : (int)(earliest - now);
}

void daemon_sessions_tick(struct daemon *d)
{
	long long now = time_monotonic_ms();

	for (size_t i = 0; i < d->n_watches; i++) {
		struct session_watch *w = &d->watches[i];

		if (w->scope_at_ms && w->scope_at_ms <= now)
			scope_try(d, w, false, false);
		if (w->term_at_ms && w->term_at_ms <= now)
			monitor_term(w);
		if (w->kill_at_ms == 0 || w->kill_at_ms > now)
			continue;
		w->kill_at_ms = 0;
		if (sshd_conn_signal(w->pidfd, SIGKILL) == 0)
			log_warn("sshd pid %ld did not end on SIGTERM within %d ms; sent SIGKILL",
				 (long)w->pid, DAEMON_SESSION_KILL_MS);
	}
	login_scopes_tick(d, now);
}

/* ---- start and stop ---- */

static void log_open(struct daemon *d)
{
	const char *path = d->config->sshd_log, *why = NULL;
	int r, fd;

	time_t since = 0;

	/* From the journal, what was logged since the oldest grant began, so
	 * logins made while the daemon was down are found (a file is followed
	 * from its end: its lines carry no time to start from). */
	for (size_t i = 0; i < d->state->n_grants; i++) {
		time_t created = d->state->grants[i].created;

		if (created > 0 && (since == 0 || created < since))
			since = created;
	}
	if (path)
		r = log_follow_open(path, SSHD_LOG_LINE_MAX, &d->sshd_follow, &why);
	else
		r = log_journal_open(SSHD_LOG_LINE_MAX, since, &d->sshd_journal, &why);
	if (r != 0) {
		log_err("cannot follow sshd's log (%.200s): %s%s%s; logins are not recorded and open sessions do not end with their grant",
			path ? path : "the journal", why ? why : "",
			r < 0 && why ? ": " : "", r < 0 ? strerror(-r) : "");
		return;
	}
	fd = d->sshd_follow ? log_follow_fd(d->sshd_follow) : log_journal_fd(d->sshd_journal);
	if (epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, fd,
		      &(struct epoll_event){ .events = EPOLLIN,
					     .data.u32 = DAEMON_TAG_SSHD_LOG }) < 0)
		log_err("epoll: %s; logins are not recorded", strerror(errno));
	log_info("following sshd's log in %.200s", path ? path : "the journal");
}

/* Watch a session the state holds from before the start again, or record
 * its end: 0 when it was watched, 1 when it ended. */
static int session_resume(struct daemon *d, const struct session *s)
{
	unsigned long long start = s->pid_start;
	const char *why = NULL;
	int pidfd = -1, r;

	/* The pid with the start time recorded is that monitor and no other. */
	r = sshd_conn_open_pid(s->pid, s->user, &start, &pidfd, &why);
	if (r == 0)
		return watch_add(d, s->pid, pidfd) == 0 ? 0 : 1;
	if (r != SL_NOT_FOUND)
		log_err("grant %s: cannot look for the connection from %s port %u: %s",
			s->grant_id, s->address, s->port, why ? why : strerror(-r));
	return 1;
}

int daemon_sessions_open(struct daemon *d)
{
	const char *why = NULL;
	bool changed = false;
	int r;

	r = scope_bus_open(&d->scope_bus, &why);
	if (r != 0)
		log_info("%s (%s%s%s): processes that leave a grant's session cannot be told apart; those left at the grant's end are reported",
			 r == SL_NOT_FOUND ? "no systemd to hold logins' processes" : "cannot reach systemd",
			 why ? why : "", r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
	log_open(d);
	/* Scopes of grants that ended while the daemon was down (or whose end
	 * it did not finish) end now. */
	for (size_t i = 0; i < d->state->n_scopes; i++)
		if (!state_find_grant(d->state, d->state->scopes[i].grant_id))
			login_scopes_end(d, d->state->scopes[i].grant_id, 0);
	for (size_t i = 0; i < d->state->n_sessions;) {
		if (session_resume(d, &d->state->sessions[i]) == 0) {
			i++;
			continue;
		}
		session_close(d, i, NULL, "the connection ended while sshleased was not running");
		changed = true;
	}
	if (changed)
		save_state(d);
	if (d->sshd_journal) {
		d->sessions_catching_up = true;
		log_read(d, LONG_MAX);
		d->sessions_catching_up = false;
	}
	if (d->state->n_sessions)
		log_info("%zu open session%s of grants watched again", d->state->n_sessions,
			 d->state->n_sessions == 1 ? "" : "s");
	return 0;
}

void daemon_sessions_close(struct daemon *d)
{
	while (d->n_watches)
		watch_remove(d, &d->watches[0]);
	free(d->watches);
	d->watches = NULL;
	free(d->ended_keys);
	d->ended_keys = NULL;
	d->n_ended_keys = 0;
	free(d->recent_logins);
	d->recent_logins = NULL;
	d->n_recent_logins = 0;
	log_follow_free(d->sshd_follow);
	d->sshd_follow = NULL;
	log_journal_free(d->sshd_journal);
	d->sshd_journal = NULL;
	scope_bus_free(d->scope_bus);
	d->scope_bus = NULL;
}

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
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "sshd-conn.h"
#include "sshd-log.h"
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
static void session_close(struct daemon *d, size_t i, const struct grant *g,
			  const char *reason)
{
	struct session s = d->state->sessions[i];
	time_t now = daemon_now();

	session_audit(d, &s, g, "session_end", now > s.since ? (long long)(now - s.since) : 0,
		      reason);
	state_remove_session(d->state, i);
}

static void save_state(struct daemon *d)
{
	int r = state_save(d->config->state_dir, d->state);

	if (r < 0)
		log_err("cannot save the sessions in the state: %s", strerror(-r));
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

static void session_begin(struct daemon *d, const struct sshd_log_event *ev,
			  const struct log_line *line)
{
	struct sshd_conn_peer peer = {
		.family = ev->family,
		.port = ev->port,
		.user = ev->user,
	};
	struct grant *grant = NULL;
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
	if (!grant)
		return; /* not a grant's key: the account's own login */
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
	save_state(d);
	session_audit(d, &s, grant, "session_start", -1, NULL);
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

	if (w)
		watch_remove(d, w);
	for (size_t i = 0; i < d->state->n_sessions;) {
		if (d->state->sessions[i].pid == pid) {
			session_close(d, i, NULL, "connection closed");
			changed = true;
		} else {
			i++;
		}
	}
	if (changed)
		save_state(d);
}

void daemon_sessions_end_grant(struct daemon *d, const struct grant *grant,
			       const char *reason)
{
	const char *id = grant->id;

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
		if (w) {
			int r = sshd_conn_signal(w->pidfd, SIGTERM);

			if (r == 0)
				w->kill_at_ms = time_monotonic_ms() + DAEMON_SESSION_KILL_MS;
			else if (r != -ESRCH)
				log_err("grant %s: cannot end the connection from %s port %u (sshd pid %ld): %s",
					id, s->address, s->port, (long)s->pid, strerror(-r));
		}
		session_close(d, i, grant, reason);
	}
}

int daemon_sessions_timeout_ms(const struct daemon *d)
{
	long long earliest = -1, now;

	for (size_t i = 0; i < d->n_watches; i++) {
		long long at = d->watches[i].kill_at_ms;

		if (at > 0 && (earliest < 0 || at < earliest))
			earliest = at;
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

		if (w->kill_at_ms == 0 || w->kill_at_ms > now)
			continue;
		w->kill_at_ms = 0;
		if (sshd_conn_signal(w->pidfd, SIGKILL) == 0)
			log_warn("sshd pid %ld did not end on SIGTERM within %d ms; sent SIGKILL",
				 (long)w->pid, DAEMON_SESSION_KILL_MS);
	}
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
	bool changed = false;

	log_open(d);
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
	log_follow_free(d->sshd_follow);
	d->sshd_follow = NULL;
	log_journal_free(d->sshd_journal);
	d->sshd_journal = NULL;
}

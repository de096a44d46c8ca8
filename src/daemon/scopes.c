/* Logins' scopes (DESIGN.md §13): what a login of a grant started, held
 * in a transient scope and ended with its grant; what the host could not
 * hold is reported at the end. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "scope.h"
#include "scopes.h"
#include "sshd-conn.h"
#include "timeutil.h"

static void scopes_save(struct daemon *d)
{
	int r = state_save(d->config->state_dir, d->state);

	if (r < 0)
		log_err("cannot save the logins' scopes in the state: %s", strerror(-r));
}

/* Most processes named in a leftovers record. */
#define LEFTOVERS_LISTED 16

/* Hold what the login of session s (its monitor watched) starts in a
 * scope (scope.h), recorded until the grant ends. With no scope, a record
 * without a unit: the account's processes started since are reported at
 * the grant's end. connected: the monitor was found (else the login was
 * over before it was seen, and only the report can cover what it left). */
struct login_scope *login_scope_begin(struct daemon *d, const struct session *s,
				      const struct grant *g, bool connected)
{
	struct login_scope sc = {
		.uid = g->uid,
		.since = s->since,
		.pid_start = connected ? s->pid_start : 0,
	};
	const char *why = NULL;
	char description[160];
	int r;

	snprintf(sc.grant_id, sizeof(sc.grant_id), "%s", g->id);
	snprintf(sc.user, sizeof(sc.user), "%s", g->user);
	if (connected && d->scope_bus) {
		snprintf(description, sizeof(description),
			 "sshlease grant %s: login of %s from %s port %u", g->id, g->user,
			 s->address, s->port);
		r = scope_attach(d->scope_bus, s->pid, g->uid, g->id, description, &sc.ref, &why);
		if (r != 0) {
			log_warn("grant %s: the processes of the login from %s port %u are not held in a scope (%s%s%s); those left when the grant ends are reported, not ended",
				 g->id, s->address, s->port, why ? why : "",
				 r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
			memset(&sc.ref, 0, sizeof(sc.ref));
		}
	}
	/* One record without a unit per grant is enough: the earliest. */
	if (!sc.ref.unit[0]) {
		for (size_t i = 0; i < d->state->n_scopes; i++) {
			struct login_scope *o = &d->state->scopes[i];

			if (!o->ref.unit[0] && strcmp(o->grant_id, g->id) == 0) {
				if (sc.since < o->since)
					o->since = sc.since;
				/* 0: one login's monitor unknown, the time counts */
				if (sc.pid_start < o->pid_start)
					o->pid_start = sc.pid_start;
				return NULL;
			}
		}
	}
	if (state_add_scope(d->state, &sc) < 0) {
		log_err("grant %s: out of memory recording a login's scope", g->id);
		return NULL;
	}
	return sc.ref.unit[0] ? &d->state->scopes[d->state->n_scopes - 1] : NULL;
}

/* SIGTERM to the unit of sc, if it has one. */
static void scope_term(struct daemon *d, const struct login_scope *sc)
{
	const char *why = NULL;
	int r;

	if (!sc->ref.unit[0] || !d->scope_bus)
		return;
	r = scope_kill(d->scope_bus, &sc->ref, SIGTERM, &why);
	if (r != 0 && r != SL_NOT_FOUND)
		log_err("grant %s: cannot end %s: %s%s%s", sc->grant_id, sc->ref.unit,
			why ? why : "", r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
}

/* Start ending the scopes of grant id: SIGTERM to each unit in delay_ms
 * (now when 0), and DAEMON_SESSION_KILL_MS later SIGKILL and the
 * leftovers report (scopes_tick). */
void login_scopes_end(struct daemon *d, const char *id, long long delay_ms)
{
	long long now = time_monotonic_ms();

	for (size_t i = 0; i < d->state->n_scopes; i++) {
		struct login_scope *sc = &d->state->scopes[i];

		if (strcmp(sc->grant_id, id) != 0 || sc->kill_at_ms)
			continue;
		sc->kill_at_ms = now + delay_ms + DAEMON_SESSION_KILL_MS;
		if (delay_ms > 0)
			sc->term_at_ms = now + delay_ms;
		else
			scope_term(d, sc);
	}
}

void login_scope_end_alone(struct daemon *d, struct login_scope *sc)
{
	sc->alone = true;
	sc->kill_at_ms = time_monotonic_ms() + DAEMON_SESSION_KILL_MS;
	scope_term(d, sc);
}

/* The account's processes that outlived the ends of grant id's scopes, in
 * a "leftovers" record and a journal warning: those the host could not
 * tell apart are reported instead of being claimed ended. */
static void leftovers_report(struct daemon *d, const char *id, const char *user, uid_t uid,
			     unsigned long long start, time_t since, bool unscoped)
{
	struct sshd_conn_leftover found[LEFTOVERS_LISTED];
	char reason[1024];
	size_t n = 0, used;
	int r = sshd_conn_leftovers(uid, start, since, found, LEFTOVERS_LISTED, &n);

	if (r < 0) {
		log_err("grant %s: cannot look for processes of %s left running: %s", id, user,
			strerror(-r));
		return;
	}
	if (n == 0)
		return;
	used = (size_t)snprintf(reason, sizeof(reason),
				"%zu process%s of %s started since the grant's first login still run%s (%s): ",
				n, n == 1 ? "" : "es", user, n == 1 ? "s" : "",
				unscoped ? "this host could not tell them from the owner's, so they were left alone"
					 : "outside the grant's scopes, so they may be the owner's");
	for (size_t i = 0; i < n && i < LEFTOVERS_LISTED && used < sizeof(reason); i++)
		used += (size_t)snprintf(reason + used, sizeof(reason) - used, "%s%ld %s",
					 i ? ", " : "", (long)found[i].pid, found[i].command);
	if (n > LEFTOVERS_LISTED && used < sizeof(reason))
		snprintf(reason + used, sizeof(reason) - used, ", ...");
	struct audit_event ev = {
		.event = "leftovers",
		.id = id,
		.user = user,
		.by_uid = -1,
		.reason = reason,
	};
	daemon_audit(d, &ev);
}

/* SIGKILL for the scopes whose SIGTERM was DAEMON_SESSION_KILL_MS ago,
 * then the leftovers report of their grant, and their records out. */
void login_scopes_tick(struct daemon *d, long long now)
{
	bool changed = false;

	for (size_t i = 0; i < d->state->n_scopes; i++) {
		struct login_scope *sc = &d->state->scopes[i];

		if (sc->term_at_ms && sc->term_at_ms <= now) {
			sc->term_at_ms = 0;
			scope_term(d, sc);
		}
	}
	for (size_t i = 0; i < d->state->n_scopes;) {
		struct login_scope first = d->state->scopes[i];
		bool unscoped = false, report = false;
		time_t since = first.since;
		unsigned long long start = first.pid_start;

		if (first.kill_at_ms == 0 || first.kill_at_ms > now) {
			i++;
			continue;
		}
		/* Every due record of this grant, then one report. */
		for (size_t k = i; k < d->state->n_scopes;) {
			struct login_scope *sc = &d->state->scopes[k];
			const char *why = NULL;

			if (sc->kill_at_ms == 0 || sc->kill_at_ms > now ||
			    strcmp(sc->grant_id, first.grant_id) != 0) {
				k++;
				continue;
			}
			/* One login's scope ended alone while its grant goes
			 * on: the grant's end reports for all. */
			report |= !sc->alone;
			if (sc->since < since)
				since = sc->since;
			if (sc->pid_start < start)
				start = sc->pid_start;
			if (!sc->ref.unit[0] || !d->scope_bus)
				unscoped = true;
			else if (scope_kill(d->scope_bus, &sc->ref, SIGKILL, &why) == 0)
				log_warn("grant %s: processes in %s were still running %d ms after SIGTERM; sent SIGKILL",
					 sc->grant_id, sc->ref.unit, DAEMON_SESSION_KILL_MS);
			state_remove_scope(d->state, k);
			changed = true;
		}
		if (report)
			leftovers_report(d, first.grant_id, first.user, first.uid, start, since,
					 unscoped);
	}
	if (changed)
		scopes_save(d);
}

/* Drop the records of grant id's scopes that are gone (nothing of them is
 * left to end), so that many short logins do not pile up in the state. */
void login_scopes_prune(struct daemon *d, const char *id)
{
	struct login_scope *keeper = NULL;

	for (size_t i = 0; d->scope_bus && i < d->state->n_scopes;) {
		struct login_scope *sc = &d->state->scopes[i];
		const char *why = NULL;

		if (strcmp(sc->grant_id, id) != 0 || sc->kill_at_ms) {
			i++;
			continue;
		}
		/* The grant's first record stays whatever it is: the end's
		 * report of what runs outside the scopes counts from the
		 * earliest login, also one whose scope is gone (a process
		 * that left it before it was made, say). */
		if (!keeper) {
			keeper = sc;
			i++;
			continue;
		}
		if (sc->ref.unit[0] && scope_alive(d->scope_bus, &sc->ref, &why) == SL_NOT_FOUND) {
			if (sc->since < keeper->since)
				keeper->since = sc->since;
			if (sc->pid_start < keeper->pid_start)
				keeper->pid_start = sc->pid_start;
			state_remove_scope(d->state, i);
		} else {
			i++;
		}
	}
}

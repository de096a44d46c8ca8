/*
 * Inside sshleased: the scopes of grants' logins (scopes.c, DESIGN.md §13).
 * A login's processes are held in a transient scope of systemd's, recorded
 * in the state under its grant until the grant ends: SIGTERM to each unit,
 * SIGKILL a moment later, and a report of the account's processes that
 * outlived them. Without systemd, a record without a unit stands for the
 * grant's logins, and the report is all there is.
 */
#ifndef SSHLEASE_SCOPES_H
#define SSHLEASE_SCOPES_H

#include <stdbool.h>

#include "daemon.h"

/* Hold what the login of session s (of grant g) starts in a scope, or
 * record it without a unit; connected: its monitor was found (else the
 * login was over before it was seen, and only the report covers it). The
 * caller saves. The new record when it has a unit (valid until the next
 * change of the state's scopes), else NULL. */
struct login_scope *login_scope_begin(struct daemon *d, const struct session *s,
				      const struct grant *g, bool connected);

/* End the scope sc now, on its own (its grant goes on): SIGTERM,
 * SIGKILL DAEMON_SESSION_KILL_MS later, no leftovers report. */
void login_scope_end_alone(struct daemon *d, struct login_scope *sc);

/* Start ending the scopes of grant id: SIGTERM to each unit in delay_ms
 * (now when 0), SIGKILL DAEMON_SESSION_KILL_MS later, then the leftovers
 * report (login_scopes_tick). */
void login_scopes_end(struct daemon *d, const char *id, long long delay_ms);

/* What is due at CLOCK_MONOTONIC now: SIGTERMs put off, SIGKILLs, the
 * reports; records ended go (saved). */
void login_scopes_tick(struct daemon *d, long long now);

/* Drop the records of grant id's scopes whose units are gone (the first
 * stays, for the report's start); the caller saves. */
void login_scopes_prune(struct daemon *d, const char *id);

#endif

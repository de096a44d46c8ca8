/*
 * Inside sshleased: a grant's life from the attempt to its end (DESIGN.md
 * §3). An attempt is refused with a record of all that is known about it,
 * or becomes a grant: state first, then its line, then its record. Its
 * line is built from it in one place, for the grant, an extension and
 * recovery alike. It ends by revoke, expiry or recovery: line out, state
 * saved, record written.
 */
#ifndef SSHLEASE_GRANT_H
#define SSHLEASE_GRANT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "daemon.h"
#include "protocol.h"
#include "redeem.h"

/* What is known about a grant request so far, for the refusal record. */
struct grant_attempt {
	struct daemon *d;
	const struct connection *conn;
	const char *user;     /* as asked: quoted when recorded */
	const char *ticket;   /* as asked: quoted when recorded */
	const struct sshlease_key *key;
	time_t expires;
	const char *signer;   /* a token's signer, once its signature verified */
	const char *nonce;    /* a token's nonce, recorded in the state with
				 the grant (NULL: a raw key) */
	const char *override; /* the grant's audit reason when force
				 overrode a failed doctor check */
};

/*
 * Whether a refusal of uid is to be recorded now: root's always; a
 * socket_group member's at most once a minute per uid, as an outsider's
 * (admission.h), so that a member refused in a loop cannot fill the log.
 * reason (size bytes) gets message, with the count of the refusals left
 * out since the last record when there were any.
 */
bool daemon_refusal_note(struct daemon *d, uid_t uid, const char *message,
			 char *reason, size_t size);

/* Audit a refused attempt ("refuse", with everything known about it) and
 * return the reply: code is PROTO_ERR_REFUSED in all but odd cases. NULL
 * when out of memory. */
json_t *daemon_grant_refuse(const struct grant_attempt *a,
			    enum proto_error_code code, const char *message);
/* The same with PROTO_ERR_REFUSED and a formatted message (512 bytes). */
json_t *daemon_grant_refusef(const struct grant_attempt *a, const char *fmt, ...)
	SL_PRINTF(2, 3);

/*
 * Fill grant from the checked pieces of an attempt by conn: the account,
 * the key, the terms (ticket, from, mode, deadline), a token's signer (or
 * NULL), created now, and a new id no grant in state has. Returns 0 or
 * -ENOMEM; grant_finish it either way.
 */
int daemon_grant_init(struct grant *grant, const struct state *state,
		      const struct account *acct, const struct sshlease_key *key,
		      const struct redeem_terms *terms, const char *signer,
		      time_t now, const struct connection *conn);

/*
 * The managed line of grant (authkeys_format_line), its expiry-time in
 * form (daemon_expiry_form): the one place a grant's line is made from it,
 * for a grant, an extension and recovery. Returns 0 with a new *line,
 * SL_REFUSED with *why (a field the engine would not write), or -ENOMEM.
 */
int daemon_grant_line(const struct grant *grant, enum authkeys_expiry form,
		      char **line, const char **why);

/*
 * Swap grant's line in acct's authorized_keys for daemon_grant_line's
 * (its deadline now in the state), in one atomic edit that keeps the
 * line's place (authkeys_replace): there is no moment without a line for
 * the key. *replaced says how many lines carried the grant's marker and
 * key; 0 means the line is gone and nothing was written. Returns 0, or the
 * error of daemon_grant_line or daemon_keys_replace with *why.
 */
int daemon_grant_rewrite(struct daemon *d, const struct account *acct,
			 const struct grant *grant, enum authkeys_expiry form,
			 size_t *replaced, const char **why);

/*
 * The answer to a grant or its preview (dry_run: no id yet): the grant,
 * the local sshd's port and host keys, and the doctor check a force
 * overrode (blocker, or NULL). NULL when out of memory.
 */
json_t *daemon_grant_reply(const struct daemon *d, const struct grant *grant,
			   bool dry_run, const struct doctor_result *blocker);

/*
 * Make grant real (DESIGN.md §3): the state records it, with a token's
 * nonce (a->nonce, valid until nonce_until) so that the token cannot be
 * redeemed again, not even after a restart, and is saved; then line (from
 * daemon_grant_line) is written to acct's authorized_keys; then the audit
 * log records it (reason a->override); the timer is re-armed. grant's
 * strings move into the state. Returns the reply (daemon_grant_reply with
 * blocker), or the failure's:
 *   - nothing recorded or written: failed;
 *   - the engine refused the line: the grant (and nonce) withdrawn, the
 *     refusal audited (daemon_grant_refuse);
 *   - the engine failed and the file may hold the line after all (taking
 *     it out again failed too), or the audit record cannot be written and
 *     the line cannot be taken out: the grant and its nonce are kept, so
 *     that revoke, expiry and recovery still reach the line, and the reply
 *     names the grant.
 * NULL when out of memory.
 */
json_t *daemon_grant_create(struct grant_attempt *a, struct grant *grant,
			    const struct account *acct, const char *line,
			    time_t nonce_until, const struct doctor_result *blocker);

/*
 * Append grant's `event` record to the audit log (its id, account, key,
 * ticket, deadline, source list, mode, signer), by peer (NULL: by the
 * daemon) with reason (may be NULL) and, for its end, the report of what
 * happened during it (NULL otherwise); daemon_audit's result.
 */
int daemon_grant_audit(struct daemon *d, const struct grant *grant,
		       const char *event, const struct peer *peer,
		       const char *reason, const char *report);

/*
 * End the grant with that id: remove its line (marker and blob), drop it
 * from the state and save, then audit `event` ("revoke", "expire") with
 * peer (may be NULL) and reason (may be NULL). An account that no longer
 * exists has no line to remove; the grant ends all the same.
 * Returns 0; SL_NOT_FOUND; or, when the line could not be removed or the
 * state not saved, SL_REFUSED / SL_CHANGED / -errno with *why, and the grant
 * is still in the state (retry later). -EAGAIN: the account is left alone
 * for a while (daemon_keys_*).
 */
int daemon_grant_end(struct daemon *d, const char *id, const char *event,
		     const struct peer *peer, const char *reason,
		     const char **why);

/*
 * The same for n grants as one round: one edit per account removes the
 * lines of all its grants (authkeys_remove_many), the state is saved once
 * after all removals, then each grant ended gets its own audit record.
 * results[i] and whys[i] (arrays of n) get each grant's outcome as
 * daemon_grant_end returns it. A crash after the edits and before the save
 * leaves grants whose lines are gone: the next start ends them again, and
 * removing a line that is not there removes nothing. Returns 0, or -ENOMEM
 * (then every result is -ENOMEM and nothing changed).
 */
int daemon_grants_end(struct daemon *d, size_t n,
		      const char (*ids)[AUTHKEYS_ID_LEN + 1], const char *event,
		      const struct peer *peer, const char *reason, int *results,
		      const char **whys);

#endif

/*
 * The daemon's durable state (DESIGN.md §7): active grants and redeemed
 * token nonces, one JSON file in state_dir written atomically (temp file,
 * fsync, rename, fsync of the directory).
 *
 * state_dir/state.json (0600; the directory 0700, created when missing):
 *   {"version":1,
 *    "grants":[{"id","user","uid","key_type","blob_base64","fingerprint",
 *               "comment","ticket","from","mode","signer","created",
 *               "expires","by_uid","by_user","last_login"[,"tally":{
 *               "sessions","seconds","addresses","keys_added",
 *               "keys_removed","links_moved","footholds"}]}, ...],
 *    "nonces":[{"value","valid_until"}, ...],
 *    "accounts":["alice", ...],
 *    ... and last, when known, "audit":{"seq":N,"hash":"<64 hex>"},
 *    "sessions":[{"grant","user","address","port","since","pid",
 *                 "pid_start"[,"kind"]}, ...],
 *    "scopes":[{"grant","user","uid","since","pid_start","unit",
 *               "invocation"}, ...],
 *    "key_watches":[{"uid","user","since","known":[hash, ...]
 *                    [,"footholds":{"crontab","at","linger","user_units"},
 *                     "footholds_seen":{...}]}, ...],
 *    "added_keys":[{"uid","user","file","line_hex","truncated",
 *                   "fingerprint","key_type","at","removed"}, ...]}
 * ("scopes", "key_watches" and "added_keys" only when there are any, so that a file without pends is what
 * the sshleased before them wrote; version 2; a version 1 file, written before sessions were kept, has no
 * "sessions" and no grant "last_login", and loads with none). Every grant
 * field is present; comment, ticket, from, signer, by_uid,
 * by_user and last_login may be null; times are Unix seconds; mode is "shell" or "sftp".
 * Grants keep the order they were added in.
 */
#ifndef SSHLEASE_STATE_H
#define SSHLEASE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "authkeys.h"
#include "footholds.h"
#include "keyguard.h"
#include "scope.h"
#include "common.h"

/* What happened during a grant, for the report at its end (sshlease(1)
 * END OF A GRANT). */
struct grant_tally {
	unsigned sessions;     /* logins with its key that ended */
	long long seconds;     /* their time, summed */
	char addresses[160];   /* their distinct client addresses, ", "
				  between; " ..." at the end when more */
	unsigned keys_added;   /* key lines added to the account's files */
	unsigned keys_removed; /* of those, taken out */
	unsigned links_moved;  /* links in place of key files moved aside */
	unsigned footholds;    /* a bit per enum foothold_item reported */
};

struct grant {
	char id[AUTHKEYS_ID_LEN + 1];
	char *user;
	uid_t uid;
	char *key_type;
	char *blob_base64;
	char *fingerprint;
	char *comment;  /* display-safe */
	char *ticket;   /* or NULL */
	char *from;     /* or NULL */
	enum authkeys_mode mode;
	char *signer;   /* token signer's name, or NULL for a raw key */
	time_t created;
	time_t expires;
	long long by_uid;
	char *by_user;
	time_t last_login; /* the latest login with its key; 0: none yet */
	struct grant_tally *tally; /* NULL until something is counted */
};

/* g's tally, made (zeroed) when missing; NULL when out of memory. */
struct grant_tally *grant_tally(struct grant *g);

/* Add address to the tally's list unless it is there already. */
void grant_tally_address(struct grant_tally *t, const char *address);

/* A login with a grant's key whose connection is open (DESIGN.md §13):
 * sshd's connection monitor pid holds the TCP connection with the client
 * at address, port. */
struct session {
	char grant_id[AUTHKEYS_ID_LEN + 1]; /* a grant in the same state */
	char user[33];                      /* the grant's account */
	char address[64];                   /* the client's, numeric */
	unsigned port;                      /* the client's, 1..65535 */
	time_t since;                       /* the login */
	pid_t pid;                          /* the monitor's */
	unsigned long long pid_start;       /* its start, in clock ticks since
					       boot (a pid used again differs) */
	char kind[40];                      /* what its channels ran, as sshd
					       logs it at VERBOSE: "shell",
					       "command", "sftp", "subsystem",
					       "forced-command", comma-separated;
					       "" when not known */
};

/* The systemd unit (scope.h) holding what a login with a grant's key
 * started, kept from the login until the grant has ended, also after the
 * connection closed: what it left running (nohup, setsid) ends with the
 * grant. unit "" when the host gave none (no systemd): then the account's
 * processes started since are reported when the grant ends. grant_id may
 * name a grant already gone while its end is under way (sessions.c). */
struct login_scope {
	char grant_id[AUTHKEYS_ID_LEN + 1];
	char user[33];
	uid_t uid;
	time_t since;                       /* the login */
	unsigned long long pid_start;       /* its monitor's start, clock ticks
					       since boot (sshd-conn.h); 0:
					       unknown, since then counts */
	struct scope_ref ref;
	long long kill_at_ms;               /* not saved: CLOCK_MONOTONIC of
					       the SIGKILL once ending; 0 */
	long long term_at_ms;               /* not saved: of a SIGTERM put
					       off (a notice); 0 */
	bool alone;                         /* not saved: ended on its own,
					       its grant goes on (no report) */
};

/* An account with a live grant (DESIGN.md §13): what its key files held
 * when its first live grant began, kept until its last one ends; lines
 * found since that are neither in it nor a grant's are added keys. */
struct key_watch {
	uid_t uid;
	char user[33];
	time_t since;         /* when the snapshot was taken */
	keyguard_hash *known; /* sorted, no duplicates */
	size_t n_known;
	/* The account's footholds when the watch began, and as last
	 * reported (a watch from before they were kept has none). */
	bool has_footholds;
	foothold_sig footholds[FOOTHOLD_COUNT];
	foothold_sig footholds_seen[FOOTHOLD_COUNT];
};

/* A key line found added while a grant of the account was live. */
struct added_key {
	uid_t uid;
	char user[33];
	char file[64];        /* its file in ~/.ssh */
	char *line;           /* its bytes (a NUL ends them early: truncated) */
	size_t len;
	bool truncated;       /* only the start is kept: it cannot be put back */
	char fingerprint[64]; /* "" when the line reads as no key */
	char key_type[65];
	time_t at;            /* when it was found */
	bool removed;         /* taken out ([grant] added_keys = remove) */
};

struct nonce {
	char *value;
	time_t valid_until;
};

struct state {
	struct grant *grants;
	size_t n_grants;
	struct nonce *nonces;
	size_t n_nonces;
	/* Accounts the daemon has ever written a line for, so that orphaned
	 * managed lines can be found at start without scanning every home. */
	char **accounts;
	size_t n_accounts;
	struct session *sessions;
	size_t n_sessions;
	struct login_scope *scopes;
	size_t n_scopes;
	struct key_watch *key_watches;
	size_t n_key_watches;
	struct added_key *added_keys;
	size_t n_added_keys;
	/* The audit log's last record when the state was saved (seq 0: not
	 * known), so that a log lost or replaced since is noticed at start. */
	unsigned long long audit_seq;
	char audit_hash[65];
	/* Allocated slots of the arrays above; kept by state.c (0 is fine for
	 * a state built by hand). */
	size_t grants_alloc;
	size_t nonces_alloc;
	size_t accounts_alloc;
	size_t sessions_alloc;
	size_t scopes_alloc;
	size_t key_watches_alloc;
	size_t added_keys_alloc;
};

/*
 * Load state_dir/state.json into a new state in *out.
 * Returns:
 *   0           with the state in *out; a missing state_dir or state.json
 *               is an empty state;
 *   SL_REFUSED  with *why and *out NULL, rather than guessing, when:
 *     - state_dir is not owned by the effective uid or is writable by
 *       group/others (state_dir itself is opened as configured, through a
 *       symlink if it is one);
 *     - state.json is a symlink, not a regular file, not owned by the
 *       effective uid, writable by group/others, or larger than 256 MiB;
 *     - it is not JSON, does not begin with "version", has an unknown
 *       version, an unknown, missing or doubled field, or data after its
 *       end, or any value that is not valid (grant id not 12 lower-case
 *       hex, user not an account name, uid or time out of range, key
 *       fields malformed, ticket or from invalid or not canonical,
 *       duplicate grant ids, nonces or accounts; a session of no grant
 *       in the file or of another account than its grant's, an address
 *       that is not numeric IPv4 or IPv6, a port, time or pid out of
 *       range, two sessions with the same address and port). A JSON
 *       syntax error is
 *       also logged with its line in state.json;
 *   -errno      (*out NULL), -EIO when state.json changed while read.
 * Before reading, temp files left by a save that crashed before its rename
 * are removed. Cost O(n log n) in the number of grants.
 */
int state_load(const char *state_dir, struct state **out, const char **why);

/*
 * Write the whole state atomically and durably with fsutil_replace: a new
 * temp file with a random name in state_dir (O_EXCL, 0600), every write
 * checked, fsync, rename over state.json, fsync of the directory.
 * state_dir is created (0700) when missing. On failure the temp file is removed and state.json
 * is the previous one — except when only the final directory fsync fails:
 * the new file is then in place but perhaps not durable. A state that
 * state_load would refuse is not written (-EINVAL, reason logged).
 * 0 or -errno.
 */
int state_save(const char *state_dir, const struct state *state);

/* A new empty state, or NULL when out of memory. */
struct state *state_new(void);

void state_free(struct state *state);

/* Take ownership of *grant's strings (grant is zeroed); the grant goes
 * last. No check for a duplicate id (ids are random): state_save refuses
 * a state holding one. 0 or -ENOMEM. */
int state_add_grant(struct state *state, struct grant *grant);

/* The grant with that id, or NULL. The pointer is valid until the next
 * add or remove. O(n). */
struct grant *state_find_grant(struct state *state, const char *id);

/* Remove (and free) the grant with that id, keeping the others in order:
 * 0 or SL_NOT_FOUND. */
int state_remove_grant(struct state *state, const char *id);

/* Free a grant's strings and zero it (NULL is fine). */
void grant_finish(struct grant *grant);

/* JSON form of a grant, as in `--json` output and the protocol (fields as
 * in protocol.h; created/expires RFC 3339 UTC; absent values null). NULL
 * when out of memory. */
json_t *grant_to_json(const struct grant *grant);

/* A time as grant_to_json and the protocol show it: RFC 3339 UTC text, or
 * null for 0 (never set). NULL when out of memory. */
json_t *time_to_json(time_t t);

/* Add a copy of *session (last): 0 or -ENOMEM. No checks: state_save
 * refuses a state that state_load would. */
int state_add_session(struct state *state, const struct session *session);

/* Remove the session at index i (< n_sessions), keeping the others in
 * order. */
void state_remove_session(struct state *state, size_t i);

/* Add a copy of *scope (last): 0 or -ENOMEM; remove the one at index i. */
int state_add_scope(struct state *state, const struct login_scope *scope);
void state_remove_scope(struct state *state, size_t i);

/* Remember that a line was written for this account (no duplicates).
 * 0, -EINVAL for a name that is not an account name, or -ENOMEM. */
int state_account_note(struct state *state, const char *user);

/*
 * How long a nonce is kept beyond its valid_until. A prune runs on the
 * clock of the moment: had it run under a clock far ahead, a step back
 * would make the token's window open again with its nonce gone. A day
 * covers a wrong clock put right; the cost is one short record per token
 * redeemed in that day.
 */
#define STATE_NONCE_MARGIN (24 * 3600)

/*
 * Nonces: seen? record one; drop those past valid_until. A nonce stays
 * while now <= valid_until + STATE_NONCE_MARGIN. state_nonce_add returns
 * 0, SL_EXISTS when the nonce is already recorded, -EINVAL for a malformed
 * nonce (not 1..256 printable non-space ASCII) or valid_until out of
 * range, or -ENOMEM.
 */
bool state_nonce_seen(const struct state *state, const char *value);
int state_nonce_add(struct state *state, const char *value, time_t valid_until);
void state_nonce_prune(struct state *state, time_t now);

/*
 * Forget a recorded nonce (in memory; the caller saves): for a grant that
 * surely did not happen, so that its token may be tried again. 0, or
 * SL_NOT_FOUND when value (may be NULL) is not recorded. The other nonces
 * keep their order.
 */
int state_nonce_remove(struct state *state, const char *value);

/* The key watch of uid, or NULL. */
struct key_watch *state_find_key_watch(struct state *state, uid_t uid);
/* Add *watch (its known array moves in; *watch is zeroed): 0 or -ENOMEM. */
int state_add_key_watch(struct state *state, struct key_watch *watch);
/* Remove (and free) the key watch at index i. */
void state_remove_key_watch(struct state *state, size_t i);
/* Add *key (its line moves in; *key is zeroed): 0 or -ENOMEM. */
int state_add_added_key(struct state *state, struct added_key *key);
/* Remove (and free) the added key at index i. */
void state_remove_added_key(struct state *state, size_t i);

#endif

/*
 * The daemon's durable state (DESIGN.md §7): active grants and redeemed
 * token nonces, one JSON file in state_dir written atomically (temp file,
 * fsync, rename, fsync of the directory).
 */
#ifndef SSHLEASE_STATE_H
#define SSHLEASE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "authkeys.h"
#include "common.h"

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
};

/* Load state_dir/state.json; a missing file is an empty state. Refuses
 * (SL_REFUSED, *why) a file that is not valid state rather than guessing.
 * Returns 0 with a new state in *out, or -errno. */
int state_load(const char *state_dir, struct state **out, const char **why);

/* Write the whole state atomically and durably. 0 or -errno; on failure the
 * file on disk is the previous one. */
int state_save(const char *state_dir, const struct state *state);

void state_free(struct state *state);

/* Take ownership of *grant's strings (grant is zeroed). 0 or -ENOMEM. */
int state_add_grant(struct state *state, struct grant *grant);

/* The grant with that id, or NULL. */
struct grant *state_find_grant(struct state *state, const char *id);

/* Remove (and free) the grant with that id: 0 or SL_NOT_FOUND. */
int state_remove_grant(struct state *state, const char *id);

void grant_finish(struct grant *grant);

/* JSON form of a grant, as in `--json` output and the protocol. */
json_t *grant_to_json(const struct grant *grant);

/* Remember that a line was written for this account (no duplicates). */
int state_account_note(struct state *state, const char *user);

/* Nonces: seen? record one; drop those past valid_until. */
bool state_nonce_seen(const struct state *state, const char *value);
int state_nonce_add(struct state *state, const char *value, time_t valid_until);
void state_nonce_prune(struct state *state, time_t now);

#endif

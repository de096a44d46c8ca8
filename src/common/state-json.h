/*
 * Private to state.c and state-json.c: the elements of state.json (a
 * grant, a nonce) as JSON, and the checks of what each may hold, so that
 * state_load refuses what is not a grant and state_save never writes a
 * state that state_load would refuse. Return convention as in common.h.
 */
#ifndef SSHLEASE_STATE_JSON_H
#define SSHLEASE_STATE_JSON_H

#include <stdbool.h>

#include <jansson.h>

#include "state.h"

/* Check everything a grant carries (see the comment in state-json.c):
 * 0, SL_REFUSED with *why, or -ENOMEM. */
int state_grant_check(const struct grant *grant, const char **why);

/* A nonce: 1..256 printable non-space ASCII, valid_until in range.
 * 0 or SL_REFUSED with *why. */
int state_nonce_check(const struct nonce *nonce, const char **why);

/* A grant as state.json holds it (state.h: every field, in order); NULL
 * when out of memory. */
json_t *state_grant_to_json(const struct grant *grant);

/* Read a grant from its state.json object into *grant (zeroed first;
 * grant_finish it on 0) and check it: exactly the expected fields (those
 * of version 1, without last_login, unless with_last_login), of the right
 * types, valid. 0, SL_REFUSED with *why, or -ENOMEM. */
int state_grant_from_json(json_t *object, bool with_last_login,
			  struct grant *grant, const char **why);

/* A nonce as state.json holds it: {"value","valid_until"}; NULL when out
 * of memory. */
json_t *state_nonce_to_json(const struct nonce *nonce);

/* Read a nonce from its state.json object into *nonce (value is a new
 * string, free() it) and check it. 0, SL_REFUSED with *why, or -ENOMEM. */
int state_nonce_from_json(json_t *value, struct nonce *nonce, const char **why);

/* A session's own fields (state.h; that its grant exists is checked with
 * the whole state): 0 or SL_REFUSED with *why. */
int state_session_check(const struct session *session, const char **why);

/* A session as state.json holds it; NULL when out of memory. */
json_t *state_session_to_json(const struct session *session);

/* Read a session from its state.json object and check it (exactly its
 * fields). 0 or SL_REFUSED with *why. */
int state_session_from_json(json_t *object, struct session *session,
			    const char **why);

/* The same three for a login's scope (state.h; its grant may be gone). */
int state_scope_check(const struct login_scope *scope, const char **why);
json_t *state_scope_to_json(const struct login_scope *scope);
int state_scope_from_json(json_t *object, struct login_scope *scope,
			  const char **why);

/* The same three for an account's key watch and an added key. */
int state_key_watch_check(const struct key_watch *watch, const char **why);
json_t *state_key_watch_to_json(const struct key_watch *watch);
int state_key_watch_from_json(json_t *object, struct key_watch *watch,
			      const char **why);
int state_added_key_check(const struct added_key *key, const char **why);
json_t *state_added_key_to_json(const struct added_key *key);
int state_added_key_from_json(json_t *object, struct added_key *key,
			      const char **why);

#endif

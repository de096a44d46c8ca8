/*
 * How a verified token and the merchant's request become a grant's terms:
 * the token says what support asks for, the request may narrow it, and the
 * local configuration always wins. Pure functions of their inputs (no
 * clock, no files), so that tests can drive them.
 */
#ifndef SSHLEASE_REDEEM_H
#define SSHLEASE_REDEEM_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "authkeys.h"
#include "config.h"
#include "token.h"

/*
 * Whether every entry of inner lies within some entry of outer: both are
 * canonical source lists (validate.h from_validate); an address without a
 * prefix is a /32 (IPv4) or /128 (IPv6) range. IPv4 and IPv6 never
 * contain each other (sshd compares them apart). False when either list
 * does not parse.
 */
bool redeem_from_within(const char *inner, const char *outer);

/* What the grant request adds to a token. Strings are borrowed. */
struct redeem_asked {
	const char *user;   /* the account asked for, or NULL */
	const char *ticket; /* checked (ticket_validate), or NULL */
	const char *from;   /* canonical (from_validate), or NULL */
	bool mode_given;
	enum authkeys_mode mode;
	time_t deadline;    /* from for/until, already within max_duration;
			       0: not given */
};

/* A grant's terms. Strings point into the token, the request or the
 * config, whichever decided them. */
struct redeem_terms {
	const char *user;
	const char *ticket;
	const char *from;   /* or NULL: from anywhere */
	enum authkeys_mode mode;
	time_t deadline;
};

/*
 * The terms of redeeming token at now for asked under config:
 *   - account: the token's binding, or the one asked for; refused when
 *     neither names one or when they differ;
 *   - deadline: now + the token's duration, refused when that is longer
 *     than max_duration allows; a deadline asked for may be earlier, not
 *     later;
 *   - source: the token's list must lie within the config's from (when
 *     set); a list asked for must lie within the token's (when set) and
 *     within the config's (when set), and then applies; without either,
 *     the token's, else the config's. So the effective list always lies
 *     within the config's from when that is set;
 *   - mode: the token's; the request may narrow shell to sftp, not widen
 *     sftp to shell;
 *   - ticket: the token's; one asked for must be the same, or is used
 *     when the token has none.
 * The account itself, the key policy and the replay check are the
 * caller's. Returns 0 with *out, or SL_REFUSED with a sentence in message
 * (size bytes) that says what was wrong and what to do.
 */
int redeem_terms(const struct token *token, const struct redeem_asked *asked,
		 const struct sshlease_config *config, time_t now,
		 struct redeem_terms *out, char *message, size_t size);

#endif

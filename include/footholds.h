/*
 * Footholds (DESIGN.md §13): what an account has that runs or lets it in
 * later without a key, besides its key files. When the first live grant of
 * an account begins, each is noted as a signature; at each session end and
 * when a grant ends the signatures are taken again, and a difference is
 * reported (never undone):
 *   crontab     /var/spool/cron/crontabs/USER (stat by root: the
 *               directory is root's, the file is not read)
 *   at          the account's jobs in /var/spool/cron/atjobs (names,
 *               sizes, times)
 *   linger      /var/lib/systemd/linger/USER (its user manager runs with
 *               no login)
 *   user_units  ~/.config/systemd/user, two levels deep (names, types,
 *               sizes, times, symlink targets), read by a child that is
 *               the account, following no link
 * A signature is "" when it could not be taken (not readable here: then
 * nothing is said of it), "-" when there is none, else a hash in hex.
 */
#ifndef SSHLEASE_FOOTHOLDS_H
#define SSHLEASE_FOOTHOLDS_H

#include <stdbool.h>

#include "account.h"
#include "authkeys.h"

enum foothold_item {
	FOOTHOLD_CRONTAB,
	FOOTHOLD_AT,
	FOOTHOLD_LINGER,
	FOOTHOLD_USER_UNITS,
	FOOTHOLD_COUNT,
};

/* 16 bytes of BLAKE2b in hex, "-" or "". */
#define FOOTHOLD_SIG_SIZE 33
typedef char foothold_sig[FOOTHOLD_SIG_SIZE];

/* The item's name in state.json and in show answers ("crontab"...). */
const char *foothold_name(enum foothold_item item);

/* The item of that name; false when there is none. */
bool foothold_from_name(const char *name, enum foothold_item *out);

/* What the item is, for people ("the crontab"...). */
const char *foothold_label(enum foothold_item item);

/* Whether text is a signature as described above. */
bool foothold_sig_valid(const char *text);

/* Take every signature of acct now (as root, except user_units, which a
 * child that is the account reads through the engine). Never fails: what
 * cannot be read is "". */
void footholds_take(const struct authkeys_ctx *ctx, const struct account *acct,
		    foothold_sig out[FOOTHOLD_COUNT]);

#endif

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
#include <stddef.h>
#include <time.h>

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
 * child that is the account reads through the engine; not with
 * skip_account). What cannot be read is "". Returns what the engine
 * returned for user_units (0 when skipped), so that a caller can tell a
 * child that did not answer in time (-ETIMEDOUT). */
int footholds_take(const struct authkeys_ctx *ctx, const struct account *acct,
		   bool skip_account, foothold_sig out[FOOTHOLD_COUNT]);

/* The files of a home changed during a grant ([grant] report_changes). */
#define HOME_CHANGES_LISTED 50
#define HOME_CHANGES_PATH_MAX 160
struct home_changes {
	size_t count;        /* files (not directories) whose ctime is in range */
	size_t listed;       /* the first of them, in paths */
	char paths[HOME_CHANGES_LISTED][HOME_CHANGES_PATH_MAX]; /* from the home,
								   control bytes as '?' */
	unsigned char cut_short; /* not every entry was looked at (time, entries,
				    depth, a very long path): "at least" */
};

/*
 * Walk acct's home as the account (the engine's child, following no link
 * and staying on the home's file system) and count the files whose ctime
 * lies in [since, until], leaving out the key files named in skip (in
 * ~/.ssh: sshlease writes them itself). Bounded: 200,000 entries and two
 * seconds; a directory's entries past the first 1024 are not looked at
 * (then cut_short). 0, or what userfs_run returns with *why.
 */
int home_changes_find(const struct authkeys_ctx *ctx, const struct account *acct,
		      time_t since, time_t until, const char *const *skip, size_t n_skip,
		      struct home_changes *out, const char **why);

#endif

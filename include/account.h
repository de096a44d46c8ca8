/* Local accounts that may receive access: looked up once, passed around. */
#ifndef SSHLEASE_ACCOUNT_H
#define SSHLEASE_ACCOUNT_H

#include <sys/types.h>

#include "common.h"

struct account {
	char *name;
	uid_t uid;
	gid_t gid;   /* primary group */
	char *home;  /* absolute path of the home directory */
	char *shell;
};

/*
 * Look up a local account by name with getpwnam_r. Returns 0 and a new
 * account in *out (free with account_free), SL_NOT_FOUND when there is no
 * such account, SL_REFUSED with *why when the name is not a valid account
 * name or the account has no absolute home directory, or -errno.
 */
int account_lookup(const char *name, struct account **out, const char **why);

/* The same by uid (used to name the peer of a socket connection). */
int account_lookup_uid(uid_t uid, struct account **out, const char **why);

void account_free(struct account *account);

/*
 * The account's groups as getgrouplist(3) gives them (its primary group
 * included): 0 with a new array in *out (free) of *n gids; -ENOMEM; -E2BIG
 * past ACCOUNT_GROUPS_MAX. Call it before fork: NSS is no place for a
 * forked child.
 */
#define ACCOUNT_GROUPS_MAX 65536
int account_groups(const struct account *acct, gid_t **out, size_t *n);

#endif

/* Local accounts: looked up with getpwnam_r/getpwuid_r and checked once. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "account.h"
#include "validate.h"

/* /etc/passwd lines are short; this only stops a broken NSS module from
 * making us allocate without end. */
#define PASSWD_BUF_MAX (1024 * 1024)

void account_free(struct account *account)
{
	if (!account)
		return;
	free(account->name);
	free(account->home);
	free(account->shell);
	free(account);
}

/* Copy what we need out of pw; SL_REFUSED when it is not an account we
 * can work with. */
static int account_from_passwd(const struct passwd *pw, struct account **out,
			       const char **why)
{
	struct account *account = NULL;
	int r;

	if (!username_valid(pw->pw_name)) {
		*why = "the account name is not a valid user name";
		r = SL_REFUSED;
		goto out;
	}
	if (!pw->pw_dir || pw->pw_dir[0] != '/') {
		*why = "the account has no absolute home directory";
		r = SL_REFUSED;
		goto out;
	}
	account = calloc(1, sizeof(*account));
	if (!account) {
		r = -ENOMEM;
		goto out;
	}
	account->uid = pw->pw_uid;
	account->gid = pw->pw_gid;
	account->name = strdup(pw->pw_name);
	account->home = strdup(pw->pw_dir);
	account->shell = strdup(pw->pw_shell ? pw->pw_shell : "");
	if (!account->name || !account->home || !account->shell) {
		r = -ENOMEM;
		goto out;
	}
	*out = account;
	account = NULL;
	r = 0;
out:
	account_free(account);
	return r;
}

/* One lookup, by name when name is set, else by uid, growing the buffer on
 * ERANGE as getpw*_r(3) asks. */
static int account_get(const char *name, uid_t uid, struct account **out,
		       const char **why)
{
	struct passwd pw, *result = NULL;
	char *buf = NULL;
	long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t size = hint > 0 && hint <= PASSWD_BUF_MAX ? (size_t)hint : 1024;
	int r;

	for (;;) {
		char *bigger = realloc(buf, size);

		if (!bigger) {
			r = -ENOMEM;
			goto out;
		}
		buf = bigger;
		if (name)
			r = getpwnam_r(name, &pw, buf, size, &result);
		else
			r = getpwuid_r(uid, &pw, buf, size, &result);
		if (r != ERANGE)
			break;
		if (size >= PASSWD_BUF_MAX) {
			r = -ERANGE;
			goto out;
		}
		size *= 2;
	}
	/* getpwnam_r(3) lists these as ways of saying "no such account". */
	if (r == 0 && !result)
		r = ENOENT;
	if (r == ENOENT || r == ESRCH || r == EBADF || r == EPERM) {
		r = SL_NOT_FOUND;
		goto out;
	}
	if (r != 0) {
		r = -r;
		goto out;
	}
	r = account_from_passwd(result, out, why);
out:
	free(buf);
	return r;
}

int account_lookup(const char *name, struct account **out, const char **why)
{
	if (!name || !username_valid(name)) {
		*why = "not a valid account name";
		return SL_REFUSED;
	}
	return account_get(name, 0, out, why);
}

int account_lookup_uid(uid_t uid, struct account **out, const char **why)
{
	return account_get(NULL, uid, out, why);
}

int account_groups(const struct account *acct, gid_t **out, size_t *n)
{
	gid_t *groups = NULL;
	int count = 32;

	for (;;) {
		gid_t *bigger = reallocarray(groups, (size_t)count, sizeof(*groups));
		int want = count;

		if (!bigger) {
			free(groups);
			return -ENOMEM;
		}
		groups = bigger;
		if (getgrouplist(acct->name, acct->gid, groups, &want) >= 0) {
			*out = groups;
			*n = (size_t)want;
			return 0;
		}
		if (want <= count)
			want = count * 2;
		if (want > ACCOUNT_GROUPS_MAX) {
			free(groups);
			return -E2BIG;
		}
		count = want;
	}
}

/* The "check" op: would a grant for this account get past its files, as
 * sshleased itself sees them? doctor asks it, because the daemon's view of
 * the file system is not the caller's (ProtectSystem=strict makes every
 * path outside the unit's ReadWritePaths= read-only for it). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "log.h"
#include "request.h"
#include "validate.h"

static const char *found_name(enum authkeys_found found)
{
	switch (found) {
	case AUTHKEYS_FOUND_FILE: return "file";
	case AUTHKEYS_FOUND_SSH_DIR: return "ssh_dir";
	case AUTHKEYS_FOUND_HOME: return "home";
	}
	return "?";
}

/* The answer to a refusal: the engine's reason, and when the home is on a
 * file system read-only for the daemon, the drop-in that allows it. */
static json_t *check_refused(const struct account *acct, const char *why)
{
	char home[201], fix[512];
	struct statvfs vfs;

	if (statvfs(acct->home, &vfs) != 0 || !(vfs.f_flag & ST_RDONLY))
		return json_pack("{s:b, s:s, s:n, s:s, s:n}", "ok", 1, "user",
				 acct->name, "found", "problem", why, "fix");
	log_safe(home, sizeof(home), acct->home);
	snprintf(fix, sizeof(fix),
		 "Allow it in a drop-in: run systemctl edit sshleased, add the lines [Service] and ReadWritePaths=-%s, then run systemctl restart sshleased.",
		 home);
	return json_pack("{s:b, s:s, s:n, s:s, s:s}", "ok", 1, "user", acct->name,
			 "found", "problem", why, "fix", fix);
}

json_t *op_check(struct daemon *d, const struct connection *conn,
		 const json_t *request)
{
	const char *name = request_string(request, "user"), *why = NULL;
	char safe[REPLY_QUOTE_MAX + 1];
	enum authkeys_found found = AUTHKEYS_FOUND_FILE;
	struct account *acct = NULL;
	json_t *reply;
	int r;

	if (!name)
		return reply_error(PROTO_ERR_USAGE, "check needs a user");
	if (!username_valid(name))
		return reply_error(PROTO_ERR_USAGE, "\"%s\" is not a valid account name",
				   reply_quote(safe, name));
	r = account_lookup(name, &acct, &why);
	if (r == SL_NOT_FOUND)
		return reply_error(PROTO_ERR_NOT_FOUND,
				   "there is no account named %s on this server",
				   reply_quote(safe, name));
	if (r > 0)
		return reply_error(PROTO_ERR_REFUSED, "account %s: %s",
				   reply_quote(safe, name), why);
	if (r < 0)
		return reply_error(PROTO_ERR_FAILED, "cannot look up account %s: %s",
				   reply_quote(safe, name), strerror(-r));
	r = daemon_keys_check(d, acct, &found, &why);
	if (r == 0)
		reply = json_pack("{s:b, s:s, s:s, s:n, s:n}", "ok", 1, "user",
				  acct->name, "found", found_name(found), "problem",
				  "fix");
	else if (r == SL_REFUSED)
		reply = check_refused(acct, why);
	else
		reply = reply_error(PROTO_ERR_FAILED, "checking the files of %s failed: %s",
				    acct->name, daemon_keys_why(r, why));
	account_free(acct);
	return reply;
}

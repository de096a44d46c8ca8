/* doctor: read-only checks that a grant on this host will really let a key in. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <shadow.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "doctor.h"
#include "log.h"
#include "proc.h"

#define RELOAD " and reload sshd."

/* ---- reports ---- */

struct doctor_report *doctor_report_new(void)
{
	return calloc(1, sizeof(struct doctor_report));
}

static void result_finish(struct doctor_result *result)
{
	free(result->name);
	free(result->message);
	free(result->fix);
}

void doctor_result_free(struct doctor_result *result)
{
	if (!result)
		return;
	result_finish(result);
	free(result);
}

void doctor_report_free(struct doctor_report *report)
{
	if (!report)
		return;
	for (size_t i = 0; i < report->n; i++)
		result_finish(&report->results[i]);
	free(report->results);
	free(report);
}

static int report_append(struct doctor_report *report, const char *name,
			 enum doctor_status status, bool blocks_grant,
			 const char *fix, char *message)
{
	struct doctor_result *grown, *result;

	grown = reallocarray(report->results, report->n + 1, sizeof(*grown));
	if (!grown) {
		free(message);
		return -ENOMEM;
	}
	report->results = grown;
	result = &report->results[report->n];
	*result = (struct doctor_result){
		.name = strdup(name),
		.status = status,
		.message = message,
		.fix = fix ? strdup(fix) : NULL,
		.blocks_grant = blocks_grant,
	};
	report->n++;
	if (!result->name || !result->message || (fix && !result->fix))
		return -ENOMEM;
	return 0;
}

int doctor_report_add(struct doctor_report *report, const char *name,
		      enum doctor_status status, bool blocks_grant,
		      const char *fix, const char *fmt, ...)
{
	char *message = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&message, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	return report_append(report, name, status, blocks_grant, fix, message);
}

const struct doctor_result *doctor_report_find(const struct doctor_report *report,
					       const char *name)
{
	for (size_t i = 0; i < report->n; i++)
		if (strcmp(report->results[i].name, name) == 0)
			return &report->results[i];
	return NULL;
}

bool doctor_report_failed(const struct doctor_report *report)
{
	for (size_t i = 0; i < report->n; i++)
		if (report->results[i].status == DOCTOR_FAIL)
			return true;
	return false;
}

const char *doctor_status_name(enum doctor_status status)
{
	switch (status) {
	case DOCTOR_OK:
		return "ok";
	case DOCTOR_WARN:
		return "warn";
	case DOCTOR_FAIL:
		return "fail";
	}
	return "?";
}

json_t *doctor_report_to_json(const struct doctor_report *report)
{
	json_t *checks = json_array();

	if (!checks)
		return NULL;
	for (size_t i = 0; i < report->n; i++) {
		const struct doctor_result *r = &report->results[i];
		json_t *item = json_pack("{s:s, s:s, s:s, s:s?, s:b}", "name",
					 r->name, "status",
					 doctor_status_name(r->status), "message",
					 r->message, "fix", r->fix, "blocks_grant",
					 r->blocks_grant);

		if (!item || json_array_append_new(checks, item) != 0) {
			json_decref(checks);
			return NULL;
		}
	}
	return json_pack("{s:b, s:o}", "ok", !doctor_report_failed(report),
			 "checks", checks);
}

int doctor_report_from_json(const json_t *json, struct doctor_report **out,
			    const char **why)
{
	struct doctor_report *report = NULL;
	const json_t *checks = json_object_get(json, "checks");
	json_t *item;
	size_t i;
	int r;

	if (!json_is_array(checks)) {
		*why = "the doctor report has no checks array";
		return SL_REFUSED;
	}
	report = doctor_report_new();
	if (!report)
		return -ENOMEM;
	json_array_foreach(checks, i, item) {
		const json_t *name = json_object_get(item, "name");
		const json_t *status = json_object_get(item, "status");
		const json_t *message = json_object_get(item, "message");
		const json_t *fix = json_object_get(item, "fix");
		const json_t *blocks = json_object_get(item, "blocks_grant");
		enum doctor_status s;
		char *text;

		if (!json_is_string(name) || !json_is_string(status) ||
		    !json_is_string(message) ||
		    (fix && !json_is_null(fix) && !json_is_string(fix)) ||
		    (blocks && !json_is_boolean(blocks))) {
			*why = "a doctor check lacks a name, status or message, "
			       "or has a member of the wrong type";
			r = SL_REFUSED;
			goto fail;
		}
		if (strcmp(json_string_value(status), "ok") == 0)
			s = DOCTOR_OK;
		else if (strcmp(json_string_value(status), "warn") == 0)
			s = DOCTOR_WARN;
		else if (strcmp(json_string_value(status), "fail") == 0)
			s = DOCTOR_FAIL;
		else {
			*why = "a doctor check has an unknown status";
			r = SL_REFUSED;
			goto fail;
		}
		text = strdup(json_string_value(message));
		if (!text) {
			r = -ENOMEM;
			goto fail;
		}
		r = report_append(report, json_string_value(name), s,
				  blocks && json_is_true(blocks),
				  json_is_string(fix) ? json_string_value(fix) : NULL,
				  text);
		if (r < 0)
			goto fail;
	}
	*out = report;
	return 0;
fail:
	doctor_report_free(report);
	return r;
}

/* ---- sshd: reachable, expiry form ---- */

static int check_reachable(struct doctor_report *report,
			   const struct sshd_info *info)
{
	if (info->source == SSHD_SOURCE_PROBE && sshd_version_known(&info->version))
		return doctor_report_add(report, DOCTOR_SSHD_REACHABLE, DOCTOR_OK,
					 false, NULL,
					 "OpenSSH %u.%u answers on %.46s port %u (%.128s)",
					 info->version.major, info->version.minor,
					 info->address, info->port, info->software);
	if (info->source == SSHD_SOURCE_PROBE)
		return doctor_report_add(
			report, DOCTOR_SSHD_REACHABLE, DOCTOR_WARN, false,
			"Make sure OpenSSH's sshd serves this port, or set [sshd] "
			"port to the port it listens on.",
			"the SSH server on %.46s port %u is not OpenSSH (%.128s); "
			"sshlease writes lines for OpenSSH",
			info->address, info->port, info->software);
	if (info->source == SSHD_SOURCE_BINARY)
		return doctor_report_add(
			report, DOCTOR_SSHD_REACHABLE, DOCTOR_FAIL, false,
			"Start sshd (systemctl start ssh), or set [sshd] port to "
			"the port it listens on.",
			"%.256s; the installed sshd is OpenSSH %u.%u",
			info->probe_error, info->version.major,
			info->version.minor);
	return doctor_report_add(report, DOCTOR_SSHD_REACHABLE, DOCTOR_FAIL, false,
				 "Install and start openssh-server.",
				 "%.256s; no sshd found to ask its version",
				 info->probe_error[0] ? info->probe_error :
							"sshd was not probed");
}

static int check_expiry(struct doctor_report *report,
			const struct sshd_info *info,
			enum config_expiry_format format)
{
	const struct sshd_version *v = &info->version;
	enum authkeys_expiry expiry;
	const char *why = NULL, *fix;
	char version[32];

	if (sshd_version_known(v))
		snprintf(version, sizeof(version), "OpenSSH %u.%u", v->major,
			 v->minor);
	else
		snprintf(version, sizeof(version), "an unknown OpenSSH");
	if (sshd_expiry_for(v, format, &expiry, &why) != 0) {
		if (!sshd_version_known(v))
			fix = "Set [sshd] expiry_format to utc (OpenSSH 9.1 or "
			      "later), local (7.7 or later) or none.";
		else if (!sshd_version_at_least(v, 7, 7))
			fix = "Set [sshd] expiry_format = none to let the daemon "
			      "alone enforce deadlines, or upgrade OpenSSH.";
		else
			fix = "Set [sshd] expiry_format = auto.";
		return doctor_report_add(report, DOCTOR_EXPIRY_FORMAT, DOCTOR_FAIL,
					 false, fix, "%s: %s", version, why);
	}
	switch (expiry) {
	case AUTHKEYS_EXPIRY_UTC:
		return doctor_report_add(report, DOCTOR_EXPIRY_FORMAT, DOCTOR_OK,
					 false, NULL,
					 "expiry-time is written in UTC (\"...Z\") "
					 "for %s",
					 version);
	case AUTHKEYS_EXPIRY_LOCAL:
		return doctor_report_add(report, DOCTOR_EXPIRY_FORMAT, DOCTOR_OK,
					 false, NULL,
					 "expiry-time is written in local time for "
					 "%s, which reads no \"Z\"; sshd and "
					 "sshleased must share a time zone",
					 version);
	case AUTHKEYS_EXPIRY_NONE:
		break;
	}
	return doctor_report_add(
		report, DOCTOR_EXPIRY_FORMAT, DOCTOR_WARN, false,
		sshd_version_at_least(v, 7, 7) ?
			"Set [sshd] expiry_format = auto so sshd refuses expired "
			"keys even while sshleased is down." :
			"Upgrade OpenSSH to 7.7 or later so sshd refuses expired "
			"keys even while sshleased is down.",
		"no expiry-time is written (expiry_format = none): only "
		"sshleased removes keys at the deadline");
}

/* ---- sshd -T ---- */

static int check_pubkey(struct doctor_report *report,
			const struct sshd_settings *s, const char *for_user)
{
	const char *pubkey = sshd_settings_get(s, "pubkeyauthentication");
	const char *methods = sshd_settings_get(s, "authenticationmethods");
	bool key_alone = false, key_some = false;

	if (!pubkey)
		return doctor_report_add(report, DOCTOR_PUBKEY_AUTH, DOCTOR_WARN,
					 false,
					 "Check PubkeyAuthentication in sshd_config.",
					 "sshd -T printed no pubkeyauthentication");
	if (strcmp(pubkey, "yes") != 0)
		return doctor_report_add(report, DOCTOR_PUBKEY_AUTH, DOCTOR_FAIL,
					 true,
					 "Set PubkeyAuthentication yes in "
					 "sshd_config (also in Match blocks)" RELOAD,
					 "PubkeyAuthentication is %.32s%s: sshd "
					 "accepts no key",
					 pubkey, for_user);
	if (!methods || strcmp(methods, "any") == 0)
		return doctor_report_add(report, DOCTOR_PUBKEY_AUTH, DOCTOR_OK,
					 false, NULL,
					 "PubkeyAuthentication is yes%s", for_user);
	/* AuthenticationMethods: blank-separated lists, each of
	 * comma-separated methods that must all succeed. */
	for (const char *p = methods; *p;) {
		size_t n = strcspn(p, " ");

		if (n == strlen("publickey") && memcmp(p, "publickey", n) == 0)
			key_alone = true;
		for (const char *m = p; m < p + n;) {
			size_t k = strcspn(m, ", ");

			if (k == strlen("publickey") && memcmp(m, "publickey", k) == 0)
				key_some = true;
			m += k;
			if (*m == ',')
				m++;
		}
		p += n;
		p += strspn(p, " ");
	}
	if (key_alone)
		return doctor_report_add(report, DOCTOR_PUBKEY_AUTH, DOCTOR_OK,
					 false, NULL,
					 "PubkeyAuthentication is yes and "
					 "AuthenticationMethods lets a key alone in%s",
					 for_user);
	if (key_some)
		return doctor_report_add(report, DOCTOR_PUBKEY_AUTH, DOCTOR_WARN,
					 false,
					 "Give support the other factor too, or add "
					 "a plain publickey list to "
					 "AuthenticationMethods" RELOAD,
					 "AuthenticationMethods %.200s asks more "
					 "than a key%s",
					 methods, for_user);
	return doctor_report_add(report, DOCTOR_PUBKEY_AUTH, DOCTOR_FAIL, true,
				 "Add publickey to AuthenticationMethods" RELOAD,
				 "AuthenticationMethods %.200s has no publickey%s: "
				 "sshd accepts no key",
				 methods, for_user);
}

static int check_keys_file(struct doctor_report *report,
			   const struct sshd_settings *s,
			   const struct doctor_account *account)
{
	const char *value = sshd_settings_get(s, "authorizedkeysfile");
	bool covers;

	if (!value)
		return doctor_report_add(report, DOCTOR_KEYS_FILE, DOCTOR_WARN,
					 false,
					 "Check AuthorizedKeysFile in sshd_config.",
					 "sshd -T printed no authorizedkeysfile");
	covers = account ? sshd_authorized_keys_file_covers(value, account->name,
							    account->uid,
							    account->home) :
			   sshd_authorized_keys_file_covers(value, NULL, 0, NULL);
	if (covers)
		return doctor_report_add(report, DOCTOR_KEYS_FILE, DOCTOR_OK, false,
					 NULL,
					 "sshd reads ~/.ssh/authorized_keys "
					 "(AuthorizedKeysFile %.200s)",
					 value);
	/* "/home/%u/..." may well name it; only an account can tell. */
	if (!account && strcmp(value, "none") != 0)
		return doctor_report_add(report, DOCTOR_KEYS_FILE, DOCTOR_WARN,
					 false,
					 "Run doctor with --user to check the "
					 "account's own path.",
					 "AuthorizedKeysFile is %.200s: whether it "
					 "names ~/.ssh/authorized_keys depends on "
					 "the account",
					 value);
	return doctor_report_add(report, DOCTOR_KEYS_FILE, DOCTOR_FAIL, true,
				 "Add .ssh/authorized_keys to AuthorizedKeysFile "
				 "in sshd_config" RELOAD,
				 "AuthorizedKeysFile is %.200s: sshd does not read "
				 "~/.ssh/authorized_keys, where sshlease writes",
				 value);
}

static int check_keys_command(struct doctor_report *report,
			      const struct sshd_settings *s)
{
	const char *value = sshd_settings_get(s, "authorizedkeyscommand");

	if (!value || strcmp(value, "none") == 0)
		return doctor_report_add(report, DOCTOR_KEYS_COMMAND, DOCTOR_OK,
					 false, NULL, "no AuthorizedKeysCommand");
	return doctor_report_add(report, DOCTOR_KEYS_COMMAND, DOCTOR_WARN, false,
				 "Make sure the command does not also return "
				 "support's key, since sshlease cannot revoke "
				 "what it returns.",
				 "AuthorizedKeysCommand %.200s is set: sshd also "
				 "takes keys from it, outside sshlease's control",
				 value);
}

static int check_strict_modes(struct doctor_report *report,
			      const struct sshd_settings *s)
{
	const char *value = sshd_settings_get(s, "strictmodes");

	if (value && strcmp(value, "yes") == 0)
		return doctor_report_add(report, DOCTOR_STRICT_MODES, DOCTOR_OK,
					 false, NULL, "StrictModes is yes");
	return doctor_report_add(report, DOCTOR_STRICT_MODES, DOCTOR_WARN, false,
				 "Set StrictModes yes in sshd_config" RELOAD,
				 "StrictModes is %.32s: sshd takes keys from "
				 "files others could write",
				 value ? value : "not printed by sshd -T");
}

static int check_sftp(struct doctor_report *report,
		      const struct sshd_settings *s, enum authkeys_mode mode)
{
	const char *value;
	size_t pos = 0;

	while ((value = sshd_settings_next(s, "subsystem", &pos)))
		if (strncmp(value, "sftp ", 5) == 0)
			return doctor_report_add(report, DOCTOR_SFTP, DOCTOR_OK,
						 false, NULL, "Subsystem %.200s",
						 value);
	if (mode == AUTHKEYS_MODE_SFTP)
		return doctor_report_add(report, DOCTOR_SFTP, DOCTOR_FAIL, true,
					 "Add \"Subsystem sftp internal-sftp\" to "
					 "sshd_config" RELOAD,
					 "sshd has no Subsystem sftp: an SFTP-only "
					 "grant could not transfer anything");
	return doctor_report_add(report, DOCTOR_SFTP, DOCTOR_WARN, false,
				 "Add \"Subsystem sftp internal-sftp\" to "
				 "sshd_config" RELOAD,
				 "sshd has no Subsystem sftp: SFTP-only grants "
				 "cannot work and support cannot use sftp or scp");
}

static const char *directive_name(const char *keyword)
{
	if (strcmp(keyword, "denyusers") == 0)
		return "DenyUsers";
	if (strcmp(keyword, "allowusers") == 0)
		return "AllowUsers";
	if (strcmp(keyword, "denygroups") == 0)
		return "DenyGroups";
	return "AllowGroups";
}

static int check_user_allowed(struct doctor_report *report,
			      const struct sshd_settings *s,
			      const struct doctor_account *account,
			      enum authkeys_mode mode)
{
	struct sshd_access_verdict v;
	const char *root_login;
	const char *name = account->name;

	switch (sshd_access_check(s, name, account->groups, &v)) {
	case SSHD_ACCESS_DENIED:
		if (v.pattern)
			return doctor_report_add(
				report, DOCTOR_USER_ALLOWED, DOCTOR_FAIL, true,
				"Remove the entry or exempt the account in "
				"sshd_config" RELOAD,
				"%s %.200s refuses %.64s", directive_name(v.keyword),
				v.pattern, name);
		return doctor_report_add(
			report, DOCTOR_USER_ALLOWED, DOCTOR_FAIL, true,
			strcmp(v.keyword, "allowusers") == 0 ?
				"Add the account to AllowUsers in sshd_config" RELOAD :
				"Add one of the account's groups to AllowGroups "
				"in sshd_config" RELOAD,
			"%s is set and admits neither %.64s nor %s",
			directive_name(v.keyword), name,
			strcmp(v.keyword, "allowusers") == 0 ?
				"a pattern matching it" : "any of its groups");
	case SSHD_ACCESS_DEPENDS:
		return doctor_report_add(
			report, DOCTOR_USER_ALLOWED, DOCTOR_WARN, false,
			"Make sure support connects from a host the pattern "
			"admits, or admit the account from everywhere.",
			"%s %.200s decides for %.64s by the client's host, which "
			"doctor cannot know (USER@HOST patterns are only "
			"approximated)",
			directive_name(v.keyword), v.pattern ? v.pattern : "",
			name);
	case SSHD_ACCESS_ALLOWED:
		break;
	}
	root_login = sshd_settings_get(s, "permitrootlogin");
	if (account->uid == 0 && root_login) {
		if (strcmp(root_login, "no") == 0)
			return doctor_report_add(
				report, DOCTOR_USER_ALLOWED, DOCTOR_FAIL, true,
				"Set PermitRootLogin prohibit-password in "
				"sshd_config" RELOAD,
				"PermitRootLogin is no: sshd refuses root");
		if (strcmp(root_login, "forced-commands-only") == 0 &&
		    mode == AUTHKEYS_MODE_SHELL)
			return doctor_report_add(
				report, DOCTOR_USER_ALLOWED, DOCTOR_FAIL, true,
				"Set PermitRootLogin prohibit-password in "
				"sshd_config" RELOAD ", or grant SFTP-only access.",
				"PermitRootLogin is forced-commands-only: a shell "
				"grant for root would be refused");
	}
	return doctor_report_add(report, DOCTOR_USER_ALLOWED, DOCTOR_OK, false,
				 NULL,
				 "sshd admits %.64s (AllowUsers, DenyUsers, "
				 "AllowGroups, DenyGroups%s)",
				 name, account->uid == 0 ? ", PermitRootLogin" : "");
}

int doctor_check_sshd_settings(struct doctor_report *report,
			       const struct sshd_settings *settings,
			       const struct doctor_account *account,
			       enum authkeys_mode mode)
{
	char for_user[96] = "";
	int r;

	if (account)
		snprintf(for_user, sizeof(for_user), " for %.64s", account->name);
	r = check_pubkey(report, settings, for_user);
	if (r == 0)
		r = check_keys_file(report, settings, account);
	if (r == 0)
		r = check_keys_command(report, settings);
	if (r == 0)
		r = check_strict_modes(report, settings);
	if (r == 0)
		r = check_sftp(report, settings, mode);
	if (r == 0 && account)
		r = check_user_allowed(report, settings, account, mode);
	return r;
}

/* ---- the account ---- */

int doctor_check_account(struct doctor_report *report, const char *user,
			 const char *password, long expire_day, long today,
			 bool use_pam, bool use_pam_known)
{
	if (expire_day >= 0 && today >= expire_day) {
		char date[32];
		time_t t = (time_t)expire_day * 86400;
		struct tm tm;

		strftime(date, sizeof(date), "%Y-%m-%d", gmtime_r(&t, &tm));
		return doctor_report_add(report, DOCTOR_ACCOUNT, DOCTOR_FAIL, true,
					 "Extend the account with chage -E (-1 "
					 "for never).",
					 "%.64s expired on %s: every login is "
					 "refused",
					 user, date);
	}
	if (!password)
		return doctor_report_add(report, DOCTOR_ACCOUNT, DOCTOR_WARN, false,
					 "Run doctor as root to read /etc/shadow.",
					 "the shadow entry of %.64s could not be "
					 "read; whether it is locked is unknown",
					 user);
	if (password[0] == '!') {
		if (use_pam_known && use_pam)
			return doctor_report_add(
				report, DOCTOR_ACCOUNT, DOCTOR_OK, false, NULL,
				"the password of %.64s is locked (\"!\"), which "
				"keeps keys working with UsePAM yes",
				user);
		if (!use_pam_known)
			return doctor_report_add(
				report, DOCTOR_ACCOUNT, DOCTOR_WARN, false,
				"Unlock key logins with usermod -p '*' (still no "
				"password login).",
				"%.64s is locked (\"!\" in /etc/shadow); with "
				"UsePAM no sshd refuses its key logins",
				user);
		return doctor_report_add(report, DOCTOR_ACCOUNT, DOCTOR_FAIL, true,
					 "Unlock key logins with usermod -p '*' "
					 "(still no password login).",
					 "%.64s is locked (\"!\" in /etc/shadow) "
					 "and UsePAM is no: sshd refuses its key "
					 "logins",
					 user);
	}
	return doctor_report_add(report, DOCTOR_ACCOUNT, DOCTOR_OK, false, NULL,
				 "%.64s exists and is neither locked nor expired",
				 user);
}

/* shell is a line of shells_file. */
static bool shell_listed(const char *shell, const char *shells_file)
{
	FILE *f = fopen(shells_file, "re");
	char line[PATH_MAX];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		found = line[0] == '/' && strcmp(line, shell) == 0;
	}
	fclose(f);
	return found;
}

int doctor_check_shell(struct doctor_report *report, const char *shell,
		       enum authkeys_mode mode, const char *shells_file)
{
	const char *path = shell && *shell ? shell : "/bin/sh";
	const char *base = strrchr(path, '/');
	char safe[128];
	struct stat st;

	log_safe(safe, sizeof(safe), path);
	base = base ? base + 1 : path;
	/* sshd's own test (auth.c allowed_user): stat, regular, any x bit. */
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
	    !(st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
		return doctor_report_add(report, DOCTOR_SHELL, DOCTOR_FAIL, true,
					 "Set an existing shell with usermod -s.",
					 "the login shell %s does not exist or is "
					 "not executable: sshd refuses every login",
					 safe);
	if (mode == AUTHKEYS_MODE_SHELL &&
	    (strcmp(base, "nologin") == 0 || strcmp(base, "false") == 0))
		return doctor_report_add(report, DOCTOR_SHELL, DOCTOR_FAIL, true,
					 "Set a login shell with usermod -s "
					 "/bin/bash, or grant SFTP-only access.",
					 "the login shell is %s: a shell grant "
					 "lets support in to nothing",
					 safe);
	if (mode == AUTHKEYS_MODE_SHELL &&
	    !shell_listed(path, shells_file ? shells_file : "/etc/shells"))
		return doctor_report_add(report, DOCTOR_SHELL, DOCTOR_WARN, false,
					 "Add the shell to /etc/shells or choose "
					 "one listed there.",
					 "the login shell %s is not in /etc/shells",
					 safe);
	return doctor_report_add(report, DOCTOR_SHELL, DOCTOR_OK, false, NULL,
				 "the login shell is %s", safe);
}

/* ---- the home directory ---- */

int doctor_check_home(struct doctor_report *report, const struct account *acct)
{
	static const char *const found_text[] = {
		[AUTHKEYS_FOUND_FILE] = "the home directory, ~/.ssh and "
					"authorized_keys pass StrictModes and "
					"sshlease can write there",
		[AUTHKEYS_FOUND_SSH_DIR] = "the home directory and ~/.ssh pass "
					   "StrictModes; authorized_keys will be "
					   "created at the first grant",
		[AUTHKEYS_FOUND_HOME] = "the home directory passes StrictModes; "
					"~/.ssh and authorized_keys will be "
					"created at the first grant",
	};
	enum authkeys_found found;
	const char *why = NULL;
	int r = authkeys_check(acct, &found, &why);

	if (r == 0)
		return doctor_report_add(report, DOCTOR_HOME, DOCTOR_OK, false, NULL,
					 "%s", found_text[found]);
	if (r == -ENOMEM)
		return r;
	/* The engine's own reason, word for word: a grant gets the same. */
	if (r == SL_REFUSED)
		return doctor_report_add(report, DOCTOR_HOME, DOCTOR_FAIL, false,
					 "Make the home directory and ~/.ssh real "
					 "directories and authorized_keys a plain "
					 "file, owned by the account and not group "
					 "or world writable.",
					 "%s", why);
	if (geteuid() != 0)
		return doctor_report_add(report, DOCTOR_HOME, DOCTOR_WARN, false,
					 "Run doctor as root.",
					 "the home directory can only be checked "
					 "as root");
	return doctor_report_add(report, DOCTOR_HOME, DOCTOR_WARN, false,
				 "Check the account's home directory by hand.",
				 "%s: %s", why, strerror(-r));
}

/* ---- the clock ---- */

#define CLOCK_FIX                                                              \
	"Enable time synchronisation (systemd-timesyncd, chrony or ntpsec): "  \
	"deadlines are only as right as the clock."

/* `timedatectl show -p NTPSynchronized --value`: 1 yes, 0 no, -1 unknown. */
static int timedatectl_synchronised(void)
{
	static const char *const paths[] = { "/usr/bin/timedatectl",
					      "/bin/timedatectl" };
	struct proc_output res = { 0 };
	const char *why;
	int answer = -1;

	for (size_t i = 0; i < SL_ARRAY_SIZE(paths); i++) {
		const char *argv[] = { paths[i], "show", "-p", "NTPSynchronized",
				       "--value", NULL };

		if (access(paths[i], X_OK) != 0)
			continue;
		if (proc_run(argv, 0, &res, &why) == 0 &&
		    WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0) {
			if (strcmp(res.out, "yes\n") == 0)
				answer = 1;
			else if (strcmp(res.out, "no\n") == 0)
				answer = 0;
		}
		proc_output_finish(&res);
		break;
	}
	return answer;
}

int doctor_check_clock(struct doctor_report *report)
{
	struct timex tx = { .modes = 0 };
	int state = adjtimex(&tx);

	/* adjtimex with modes 0 only reads; under a seccomp filter that
	 * forbids it (systemd's ProtectClock=) ask timedated instead. */
	if (state < 0) {
		int answer = timedatectl_synchronised();

		if (answer == 1)
			return doctor_report_add(report, DOCTOR_CLOCK, DOCTOR_OK,
						 false, NULL,
						 "the clock is synchronised "
						 "(timedatectl)");
		return doctor_report_add(report, DOCTOR_CLOCK, DOCTOR_WARN, false,
					 CLOCK_FIX,
					 answer == 0 ?
						 "the clock is not synchronised "
						 "(timedatectl)" :
						 "whether the clock is synchronised "
						 "is unknown");
	}
	if (state == TIME_ERROR || (tx.status & STA_UNSYNC))
		return doctor_report_add(report, DOCTOR_CLOCK, DOCTOR_WARN, false,
					 CLOCK_FIX,
					 "the kernel says the clock is not "
					 "synchronised (adjtimex)");
	return doctor_report_add(report, DOCTOR_CLOCK, DOCTOR_OK, false, NULL,
				 "the clock is synchronised (estimated error "
				 "%ld us)",
				 (long)tx.esterror);
}

/* ---- putting it together ---- */

/* The account's group names, primary first, NULL-terminated. */
static int account_group_names(const struct account *acct, char ***out)
{
	gid_t *gids = NULL;
	char **names = NULL;
	size_t ngroups = 0, n = 0;
	int r;

	r = account_groups(acct, &gids, &ngroups);
	if (r < 0)
		goto out;
	names = calloc(ngroups + 2, sizeof(*names));
	if (!names) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i <= ngroups; i++) {
		gid_t gid = i == 0 ? acct->gid : gids[i - 1];
		struct group gr, *found = NULL;
		char buf[16384];

		if (i > 0 && gid == acct->gid)
			continue;
		if (getgrgid_r(gid, &gr, buf, sizeof(buf), &found) != 0 || !found)
			continue; /* a gid without a name matches no pattern */
		names[n] = strdup(found->gr_name);
		if (!names[n]) {
			r = -ENOMEM;
			goto out;
		}
		n++;
	}
	*out = names;
	names = NULL;
out:
	if (names) {
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
	free(gids);
	return r;
}

static void groups_free(char **groups)
{
	for (size_t i = 0; groups && groups[i]; i++)
		free(groups[i]);
	free(groups);
}

/* The account check from /etc/shadow (getspnam_r needs root). */
static int check_account_shadow(struct doctor_report *report,
				const struct account *acct,
				const struct sshd_settings *settings)
{
	const char *use_pam = settings ? sshd_settings_get(settings, "usepam") : NULL;
	struct spwd sp, *found = NULL;
	char buf[4096];
	long today = (long)(time(NULL) / 86400);

	/* Without root /etc/shadow is unreadable, and NSS modules may answer
	 * with made-up entries (nss-systemd says "!*"): unknown, not locked. */
	if (geteuid() != 0 ||
	    getspnam_r(acct->name, &sp, buf, sizeof(buf), &found) != 0)
		found = NULL;
	return doctor_check_account(report, acct->name,
				    found ? found->sp_pwdp : NULL,
				    found ? found->sp_expire : -1, today,
				    use_pam && strcmp(use_pam, "yes") == 0,
				    use_pam != NULL);
}

/* Everything about sshd -T: runs it, reports sshd-config and the checks on
 * its output. *settings_out gets the settings (NULL when sshd -T failed). */
static int check_settings(struct doctor_report *report,
			  const struct doctor_options *o,
			  const struct account *acct,
			  const struct doctor_account *dacct, bool report_config,
			  struct sshd_settings **settings_out)
{
	const char *addr = o->client_addr ? o->client_addr : "127.0.0.1";
	struct sshd_match_spec spec = {
		.user = acct ? acct->name : NULL,
		.host = o->client_host ? o->client_host : addr,
		.addr = addr,
	};
	struct sshd_settings *settings = NULL;
	const char *why = NULL;
	char diag[256];
	int r;

	*settings_out = NULL;
	r = sshd_settings_load(&o->sshd, acct ? &spec : NULL, &settings, diag,
			       sizeof(diag), &why);
	if (r == -ENOMEM)
		return r;
	if (r != 0) {
		if (!report_config)
			return 0;
		if (r == SL_NOT_FOUND)
			return doctor_report_add(report, DOCTOR_SSHD_CONFIG,
						 DOCTOR_FAIL, false,
						 "Install openssh-server.",
						 "%s; sshd's settings were not checked",
						 why);
		if (r == -ETIMEDOUT)
			return doctor_report_add(report, DOCTOR_SSHD_CONFIG,
						 DOCTOR_FAIL, false,
						 "Find out why sshd -T hangs (a slow "
						 "name service?).",
						 "sshd -T did not finish in time; "
						 "sshd's settings were not checked");
		if (r < 0)
			return doctor_report_add(report, DOCTOR_SSHD_CONFIG,
						 DOCTOR_FAIL, false,
						 "Check that sshd can be run.",
						 "%s: %s; sshd's settings were not "
						 "checked",
						 why, strerror(-r));
		if (geteuid() != 0)
			return doctor_report_add(report, DOCTOR_SSHD_CONFIG,
						 DOCTOR_WARN, false,
						 "Run doctor as root.",
						 "sshd -T needs root (it loads the "
						 "host keys); sshd's settings were "
						 "not checked");
		return doctor_report_add(report, DOCTOR_SSHD_CONFIG, DOCTOR_FAIL,
					 false,
					 "Fix the sshd configuration; sshd -t "
					 "shows the problem.",
					 "%s%s%.200s; sshd's settings were not "
					 "checked",
					 why, diag[0] ? ": " : "", diag);
	}
	if (report_config) {
		r = doctor_report_add(report, DOCTOR_SSHD_CONFIG, DOCTOR_OK, false,
				      NULL, "sshd -T gave the effective settings%s%.64s",
				      acct ? " for " : "", acct ? acct->name : "");
		if (r < 0)
			goto out;
	}
	r = doctor_check_sshd_settings(report, settings, dacct, o->mode);
	if (r < 0)
		goto out;
	*settings_out = settings;
	settings = NULL;
out:
	sshd_settings_free(settings);
	return r;
}

/* Look up options->user: 0 with *acct, or a failed account check. */
static int lookup_account(struct doctor_report *report, const char *user,
			  struct account **acct)
{
	const char *why = NULL;
	char safe[80];
	int r = account_lookup(user, acct, &why);

	if (r == 0 || r == -ENOMEM)
		return r;
	*acct = NULL;
	log_safe(safe, sizeof(safe), user);
	if (r == SL_NOT_FOUND)
		return doctor_report_add(report, DOCTOR_ACCOUNT, DOCTOR_FAIL, true,
					 "Name an existing account.",
					 "there is no account named %.64s", safe);
	if (r == SL_REFUSED)
		return doctor_report_add(report, DOCTOR_ACCOUNT, DOCTOR_FAIL, true,
					 "Name an existing account with a home "
					 "directory.",
					 "%.64s: %s", safe, why);
	return doctor_report_add(report, DOCTOR_ACCOUNT, DOCTOR_FAIL, true,
				 "Check the account database (getent passwd).",
				 "looking up %.64s failed: %s", safe, strerror(-r));
}

static struct doctor_account doctor_account_of(const struct account *acct,
					       char **groups)
{
	return (struct doctor_account){
		.name = acct->name,
		.uid = (unsigned long)acct->uid,
		.home = acct->home,
		.shell = acct->shell,
		.groups = (const char *const *)groups,
	};
}

int doctor_run(const struct doctor_options *options, struct doctor_report **out)
{
	struct doctor_report *report = doctor_report_new();
	struct sshd_settings *settings = NULL;
	struct account *acct = NULL;
	struct doctor_account dacct;
	char **groups = NULL;
	struct sshd_info info;
	const char *why = NULL;
	int r;

	if (!report)
		return -ENOMEM;
	if (options->info) {
		info = *options->info;
	} else {
		struct sshd_probe_options probe = {
			.exec = options->sshd,
			.port = options->port,
		};

		r = sshd_probe(&probe, &info, &why);
		if (r < 0)
			goto out;
	}
	r = check_reachable(report, &info);
	if (r == 0)
		r = check_expiry(report, &info, options->expiry_format);
	if (r == 0 && options->user)
		r = lookup_account(report, options->user, &acct);
	if (r == 0 && acct)
		r = account_group_names(acct, &groups);
	if (r < 0)
		goto out;
	if (acct)
		dacct = doctor_account_of(acct, groups);
	r = check_settings(report, options, acct, acct ? &dacct : NULL, true,
			   &settings);
	if (r < 0)
		goto out;
	if (acct) {
		r = check_account_shadow(report, acct, settings);
		if (r == 0)
			r = doctor_check_shell(report, acct->shell, options->mode,
					       NULL);
		if (r == 0)
			r = doctor_check_home(report, acct);
		if (r < 0)
			goto out;
	}
	r = doctor_check_clock(report);
	if (r < 0)
		goto out;
	*out = report;
	report = NULL;
out:
	doctor_report_free(report);
	sshd_settings_free(settings);
	groups_free(groups);
	account_free(acct);
	return r;
}

int doctor_grant_blockers(const struct doctor_options *options,
			  struct doctor_result **blocker)
{
	struct doctor_report *report = doctor_report_new();
	struct sshd_settings *settings = NULL;
	struct account *acct = NULL;
	struct doctor_account dacct;
	char **groups = NULL;
	int r;

	*blocker = NULL;
	if (!report)
		return -ENOMEM;
	r = lookup_account(report, options->user ? options->user : "", &acct);
	if (r == 0 && acct)
		r = account_group_names(acct, &groups);
	if (r < 0)
		goto out;
	if (acct) {
		dacct = doctor_account_of(acct, groups);
		r = check_settings(report, options, acct, &dacct, false, &settings);
		if (r == 0)
			r = check_account_shadow(report, acct, settings);
		if (r == 0)
			r = doctor_check_shell(report, acct->shell, options->mode,
					       NULL);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < report->n; i++) {
		struct doctor_result *found = &report->results[i];

		if (found->status != DOCTOR_FAIL || !found->blocks_grant)
			continue;
		*blocker = malloc(sizeof(**blocker));
		if (!*blocker) {
			r = -ENOMEM;
			goto out;
		}
		/* Move it out; the report forgets it. */
		**blocker = *found;
		*found = (struct doctor_result){ 0 };
		r = SL_REFUSED;
		goto out;
	}
	r = 0;
out:
	doctor_report_free(report);
	sshd_settings_free(settings);
	groups_free(groups);
	account_free(acct);
	return r;
}

/* doctor's checks of sshd: it answers, its expiry form, and what sshd -T says. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "doctor.h"

#define RELOAD " and reload sshd."

int doctor_check_reachable(struct doctor_report *report,
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

int doctor_check_expiry(struct doctor_report *report,
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

int doctor_check_sshd_config(struct doctor_report *report,
			     const struct doctor_options *o,
			     const struct doctor_account *account,
			     bool report_config,
			     struct sshd_settings **settings_out)
{
	const char *addr = o->client_addr ? o->client_addr : "127.0.0.1";
	struct sshd_match_spec spec = {
		.user = account ? account->name : NULL,
		.host = o->client_host ? o->client_host : addr,
		.addr = addr,
	};
	struct sshd_settings *settings = NULL;
	const char *why = NULL;
	char diag[256];
	int r;

	*settings_out = NULL;
	r = sshd_settings_load(&o->sshd, account ? &spec : NULL, &settings, diag,
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
				      account ? " for " : "",
				      account ? account->name : "");
		if (r < 0)
			goto out;
	}
	r = doctor_check_sshd_settings(report, settings, account, o->mode);
	if (r < 0)
		goto out;
	*settings_out = settings;
	settings = NULL;
out:
	sshd_settings_free(settings);
	return r;
}

/* doctor: the account, shell, home and clock checks, and running every check. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <shadow.h>
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
	r = doctor_check_reachable(report, &info);
	if (r == 0)
		r = doctor_check_expiry(report, &info, options->expiry_format);
	if (r == 0 && options->user)
		r = lookup_account(report, options->user, &acct);
	if (r == 0 && acct)
		r = account_group_names(acct, &groups);
	if (r < 0)
		goto out;
	if (acct)
		dacct = doctor_account_of(acct, groups);
	r = doctor_check_sshd_config(report, options, acct ? &dacct : NULL, true,
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
		r = doctor_check_sshd_config(report, options, &dacct, false,
					     &settings);
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

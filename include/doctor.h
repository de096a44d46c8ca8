/*
 * doctor: will a grant actually work on this host? A list of checks, each
 * ok, warn or fail with a message and a one-sentence fix, for
 * `sshlease doctor` (text and --json), and the subset a grant must pass
 * (doctor_grant_blockers) so the daemon can refuse it unless --force.
 *
 * Everything is read-only: sshd is probed and run with -T, /etc/shadow is
 * read with getspnam, the home directory is checked by the authorized_keys
 * engine (authkeys_check). Run as root for the full picture: without root,
 * sshd -T, the shadow entry and the home directory cannot be read and
 * those checks warn.
 */
#ifndef SSHLEASE_DOCTOR_H
#define SSHLEASE_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "account.h"
#include "authkeys.h"
#include "common.h"
#include "config.h"
#include "sshd.h"

/*
 * Check names: stable, for --json, scripts and tests. In the order
 * doctor_run reports them.
 */
#define DOCTOR_SSHD_REACHABLE "sshd-reachable"   /* the probe; its version */
#define DOCTOR_EXPIRY_FORMAT "expiry-format"     /* sshd_expiry_for */
#define DOCTOR_SSHD_CONFIG "sshd-config"         /* sshd -T runs */
#define DOCTOR_PUBKEY_AUTH "pubkey-authentication" /* + AuthenticationMethods */
#define DOCTOR_KEYS_FILE "authorized-keys-file"  /* names ~/.ssh/authorized_keys */
#define DOCTOR_KEYS_COMMAND "authorized-keys-command" /* may shadow the file */
#define DOCTOR_STRICT_MODES "strict-modes"
#define DOCTOR_SFTP "sftp-subsystem"
#define DOCTOR_USER_ALLOWED "user-allowed" /* Allow/Deny*, PermitRootLogin */
#define DOCTOR_ACCOUNT "account"           /* exists, not locked, not expired */
#define DOCTOR_SHELL "login-shell"
#define DOCTOR_HOME "home-permissions"     /* the engine's walk (authkeys_check) */
#define DOCTOR_CLOCK "clock"               /* synchronised */

enum doctor_status {
	DOCTOR_OK,
	DOCTOR_WARN,
	DOCTOR_FAIL,
};

struct doctor_result {
	char *name;    /* one of the DOCTOR_* names (or a caller's own) */
	enum doctor_status status;
	char *message; /* one line, sanitised: what was found */
	char *fix;     /* one sentence: what to do; NULL when status is ok */
	bool blocks_grant; /* a fail here means a grant would not work: set on
			      the checks doctor_grant_blockers runs */
};

struct doctor_report {
	struct doctor_result *results;
	size_t n;
};

/* What to check. Zero/NULL members take the defaults noted. */
struct doctor_options {
	const char *user;          /* account to check; NULL: host-wide checks
				      only (no user-allowed, account,
				      login-shell, home-permissions) */
	enum authkeys_mode mode;   /* the grant's mode: sftp makes a missing
				      Subsystem sftp a failure, shell makes a
				      nologin shell one */
	struct sshd_exec_options sshd; /* sshd binary, -f config, timeout */
	unsigned port;             /* [sshd] port; 0: auto */
	enum config_expiry_format expiry_format; /* [sshd] expiry_format */
	const char *client_addr;   /* for sshd -T -C addr=; NULL: 127.0.0.1 */
	const char *client_host;   /* for -C host=; NULL: client_addr, which
				      is what sshd matches with UseDNS no
				      (its default) */
	const struct sshd_info *info; /* a probe already made (the daemon's);
					 NULL: doctor_run probes */
};

/* ---- reports ---- */

/* An empty report, or NULL on out-of-memory. */
struct doctor_report *doctor_report_new(void);

/*
 * Append a result. name and fix are copied; the message is formatted from
 * fmt (callers cap and sanitise text from outside: %.200s and log_safe).
 * fix may be NULL. Returns 0 or -ENOMEM. The CLI uses this to add its own
 * checks (e.g. "daemon answers") to a report.
 */
int doctor_report_add(struct doctor_report *report, const char *name,
		      enum doctor_status status, bool blocks_grant,
		      const char *fix, const char *fmt, ...) SL_PRINTF(6, 7);

/* The result named name, or NULL. */
const struct doctor_result *doctor_report_find(const struct doctor_report *report,
					       const char *name);

/* Whether any check failed: the doctor command exits 1 then, else 0. */
bool doctor_report_failed(const struct doctor_report *report);

/* "ok", "warn", "fail". */
const char *doctor_status_name(enum doctor_status status);

/*
 * The report as JSON for --json and the control protocol:
 *   {"ok": false, "checks": [{"name": "...", "status": "ok|warn|fail",
 *     "message": "...", "fix": "..." | null, "blocks_grant": bool}, ...]}
 * "ok" is !doctor_report_failed. NULL on out-of-memory.
 */
json_t *doctor_report_to_json(const struct doctor_report *report);

/*
 * The inverse, for a CLI that got the report from the daemon. Refused
 * (SL_REFUSED with *why) when a member is missing or of the wrong type or a
 * status is unknown. Returns 0 with a new *out, or -ENOMEM.
 */
int doctor_report_from_json(const json_t *json, struct doctor_report **out,
			    const char **why);

void doctor_report_free(struct doctor_report *report);

/* ---- running the checks ---- */

/*
 * Run every check for options and return the report in *out (always, also
 * when checks fail: a failing check is a result, not an error). Checks
 * that cannot be done (not root, no sshd binary) warn or fail with a
 * message saying so. Blocks while it probes sshd and runs sshd -T (bounded
 * by options->sshd.timeout per step). Returns 0, or -ENOMEM.
 */
int doctor_run(const struct doctor_options *options, struct doctor_report **out);

/*
 * For the grant path: run the checks that decide whether a key line
 * written for options->user (required) in options->mode would let the key
 * in, and return the first failure among them: pubkey-authentication
 * (PubkeyAuthentication no, or AuthenticationMethods without a
 * publickey-only method), authorized-keys-file (sshd does not read
 * ~/.ssh/authorized_keys), user-allowed (DenyUsers/AllowUsers/DenyGroups/
 * AllowGroups refuse the account whatever the client's host, or root with
 * PermitRootLogin no), sftp-subsystem (SFTP mode without a Subsystem sftp),
 * account (no such account, locked with UsePAM no, expired), login-shell
 * (missing or not executable; nologin/false in shell mode).
 * Not probed here: sshd reachability, the expiry form (the daemon calls
 * sshd_expiry_for itself), home permissions (the engine refuses unsafe
 * paths with its own reason), the clock. Checks that cannot be made (sshd
 * -T fails, no shadow access) do not block.
 *
 * Returns 0 with *blocker NULL when nothing blocks; SL_REFUSED with a new
 * *blocker (free with doctor_result_free) whose name, message and fix the
 * daemon quotes in its refusal; -ENOMEM.
 */
int doctor_grant_blockers(const struct doctor_options *options,
			  struct doctor_result **blocker);

void doctor_result_free(struct doctor_result *result);

/* ---- the checks one by one (doctor_run's parts; also for tests) ---- */

/* What the account checks need to know about the account. */
struct doctor_account {
	const char *name;
	unsigned long uid;
	const char *home;
	const char *shell;         /* "" means sshd's default, /bin/sh */
	const char *const *groups; /* names, primary first, NULL-terminated */
};

/*
 * The sshd-reachable check from a probe's result: ok when OpenSSH answered,
 * a warning when another SSH server did, a failure when nothing answered
 * (saying what sshd -V gave, when it did). Returns 0 or -ENOMEM.
 */
int doctor_check_reachable(struct doctor_report *report,
			   const struct sshd_info *info);

/*
 * The expiry-format check: what sshd_expiry_for makes of the probed
 * version and [sshd] expiry_format; a refusal fails with its reason and
 * the setting to change. Returns 0 or -ENOMEM.
 */
int doctor_check_expiry(struct doctor_report *report,
			const struct sshd_info *info,
			enum config_expiry_format format);

/*
 * Run `sshd -T` for options (with -C for account, when not NULL, from
 * options->client_addr/client_host), then the checks on its output
 * (doctor_check_sshd_settings). With report_config the sshd-config result
 * is reported too: ok, or why sshd -T gave nothing (no sshd, a timeout, a
 * broken config, no root). *settings gets the settings for the caller to
 * free, NULL when sshd -T failed (not an error). Returns 0 or -ENOMEM.
 */
int doctor_check_sshd_config(struct doctor_report *report,
			     const struct doctor_options *options,
			     const struct doctor_account *account,
			     bool report_config, struct sshd_settings **settings);

/*
 * The checks on `sshd -T` output: pubkey-authentication,
 * authorized-keys-file, authorized-keys-command, strict-modes,
 * sftp-subsystem and, when account is not NULL, user-allowed. Appends one
 * result per check. Returns 0 or -ENOMEM.
 */
int doctor_check_sshd_settings(struct doctor_report *report,
			       const struct sshd_settings *settings,
			       const struct doctor_account *account,
			       enum authkeys_mode mode);

/*
 * The account check from its shadow entry: password is the shadow password
 * field (NULL: no shadow entry readable, which warns), expire_day its
 * sp_expire (-1: never), today the current day since the epoch. A password
 * starting with '!' fails when use_pam is false (sshd then refuses every
 * login, keys included), is fine when it is true (sshd leaves the account
 * to PAM, which does not lock key logins on it) and warns when it is
 * unknown (use_pam_known false); an expired account (today >= expire_day,
 * as sshd counts) fails. '*' and hashes are fine.
 */
int doctor_check_account(struct doctor_report *report, const char *user,
			 const char *password, long expire_day, long today,
			 bool use_pam, bool use_pam_known);

/*
 * The login-shell check: shell must be an executable regular file (sshd
 * refuses the login otherwise, in every mode); in shell mode it must not be
 * a nologin or false (fail) and should be listed in shells_file (warn; NULL:
 * /etc/shells).
 */
int doctor_check_shell(struct doctor_report *report, const char *shell,
		       enum authkeys_mode mode, const char *shells_file);

/*
 * The home-permissions check, asked of the authorized_keys engine
 * (authkeys_check, which needs root): ok when a grant would get past the
 * path (saying what it would create), a failure whose message is the
 * engine's own reason, word for word, when authkeys_add would refuse it,
 * a warning when it cannot be asked (not root, a system error). Never a
 * grant blocker: the grant gets the same refusal from the engine.
 */
int doctor_check_home(struct doctor_report *report, const struct account *acct);

/* The clock check: adjtimex(2) status, else `timedatectl show -p
 * NTPSynchronized`; unsynchronised or unknown warns. */
int doctor_check_clock(struct doctor_report *report);

#endif

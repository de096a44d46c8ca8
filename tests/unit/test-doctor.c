/*
 * doctor without a running sshd: reports and their JSON, each check on
 * sshd -T output, the account, shell and clock checks, and
 * doctor_run/doctor_grant_blockers where no sshd is found. The home
 * directory check, which asks the engine, is test-doctor-home.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "doctor.h"
#include "test.h"

static const char *const shop_groups[] = { "shop", "www-data", NULL };
static const struct doctor_account shop = {
	.name = "shop",
	.uid = 1001,
	.home = "/home/shop",
	.shell = "/bin/bash",
	.groups = shop_groups,
};
static const char *const root_groups[] = { "root", NULL };
static const struct doctor_account root = {
	.name = "root",
	.uid = 0,
	.home = "/root",
	.shell = "/bin/bash",
	.groups = root_groups,
};

static const char healthy[] =
	"port 22\n"
	"usepam no\n"
	"pubkeyauthentication yes\n"
	"authenticationmethods any\n"
	"strictmodes yes\n"
	"authorizedkeyscommand none\n"
	"authorizedkeysfile .ssh/authorized_keys .ssh/authorized_keys2\n"
	"permitrootlogin without-password\n"
	"subsystem sftp /usr/lib/openssh/sftp-server\n";

/* ---- reports ---- */

static void test_report(void)
{
	struct doctor_report *report = doctor_report_new(), *back = NULL;
	const struct doctor_result *found;
	json_t *j, *parsed;
	char *text;
	const char *why = NULL;

	CHECK(report != NULL);
	if (!report)
		return;
	CHECK(!doctor_report_failed(report));
	CHECK_INT(doctor_report_add(report, "one", DOCTOR_OK, false, NULL,
				    "all %s", "good"),
		  0);
	CHECK_INT(doctor_report_add(report, "two", DOCTOR_WARN, false,
				    "Do this.", "hmm"),
		  0);
	CHECK(!doctor_report_failed(report));
	CHECK_INT(doctor_report_add(report, "three", DOCTOR_FAIL, true,
				    "Do that.", "broken \"%d\"", 3),
		  0);
	CHECK(doctor_report_failed(report));
	found = doctor_report_find(report, "three");
	CHECK(found && found->status == DOCTOR_FAIL && found->blocks_grant);
	CHECK(found && strcmp(found->message, "broken \"3\"") == 0);
	CHECK(doctor_report_find(report, "four") == NULL);
	CHECK_STR(doctor_status_name(DOCTOR_OK), "ok");
	CHECK_STR(doctor_status_name(DOCTOR_WARN), "warn");
	CHECK_STR(doctor_status_name(DOCTOR_FAIL), "fail");

	j = doctor_report_to_json(report);
	text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	CHECK_STR(text,
		  "{\"checks\":["
		  "{\"blocks_grant\":false,\"fix\":null,\"message\":\"all good\","
		  "\"name\":\"one\",\"status\":\"ok\"},"
		  "{\"blocks_grant\":false,\"fix\":\"Do this.\",\"message\":\"hmm\","
		  "\"name\":\"two\",\"status\":\"warn\"},"
		  "{\"blocks_grant\":true,\"fix\":\"Do that.\",\"message\":"
		  "\"broken \\\"3\\\"\",\"name\":\"three\",\"status\":\"fail\"}],"
		  "\"ok\":false}");
	/* and back */
	CHECK_INT(doctor_report_from_json(j, &back, &why), 0);
	if (back) {
		json_t *again = doctor_report_to_json(back);
		char *text2 = again ? json_dumps(again, JSON_COMPACT | JSON_SORT_KEYS) :
				      NULL;

		CHECK_STR(text2, text);
		free(text2);
		json_decref(again);
	}
	doctor_report_free(back);
	free(text);
	json_decref(j);
	doctor_report_free(report);

	static const char *const bad[] = {
		"{}",
		"{\"checks\":{}}",
		"{\"checks\":[{\"status\":\"ok\",\"message\":\"m\"}]}",
		"{\"checks\":[{\"name\":\"n\",\"status\":\"maybe\",\"message\":\"m\"}]}",
		"{\"checks\":[{\"name\":\"n\",\"status\":\"ok\"}]}",
		"{\"checks\":[{\"name\":\"n\",\"status\":\"ok\",\"message\":\"m\",\"fix\":3}]}",
		"{\"checks\":[{\"name\":\"n\",\"status\":\"ok\",\"message\":\"m\",\"blocks_grant\":1}]}",
		"{\"checks\":[7]}",
	};
	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
		parsed = json_loads(bad[i], 0, NULL);
		back = NULL;
		CHECK_MSG(parsed && doctor_report_from_json(parsed, &back, &why) ==
						    SL_REFUSED && !back,
			  "%s: not refused", bad[i]);
		doctor_report_free(back);
		json_decref(parsed);
	}
	doctor_result_free(NULL);
	doctor_report_free(NULL);
}

/* ---- checks on sshd -T output ---- */

static struct doctor_report *settings_report(const char *text,
					     const struct doctor_account *account,
					     enum authkeys_mode mode)
{
	struct doctor_report *report = doctor_report_new();
	struct sshd_settings *s = NULL;
	const char *why = NULL;

	if (!report || sshd_settings_parse(text, strlen(text), &s, &why) != 0) {
		CHECK_MSG(false, "cannot parse: %s", text);
		doctor_report_free(report);
		return NULL;
	}
	CHECK_INT(doctor_check_sshd_settings(report, s, account, mode), 0);
	sshd_settings_free(s);
	return report;
}

static void test_healthy_settings(void)
{
	static const char *const names[] = {
		DOCTOR_PUBKEY_AUTH, DOCTOR_KEYS_FILE, DOCTOR_KEYS_COMMAND,
		DOCTOR_STRICT_MODES, DOCTOR_SFTP, DOCTOR_USER_ALLOWED,
	};
	struct doctor_report *report = settings_report(healthy, &shop,
						       AUTHKEYS_MODE_SFTP);

	if (!report)
		return;
	CHECK_INT(report->n, SL_ARRAY_SIZE(names));
	for (size_t i = 0; i < report->n && i < SL_ARRAY_SIZE(names); i++) {
		CHECK_STR(report->results[i].name, names[i]);
		CHECK_MSG(report->results[i].status == DOCTOR_OK, "%s: %s",
			  names[i], report->results[i].message);
		CHECK(report->results[i].fix == NULL);
	}
	doctor_report_free(report);

	/* Without an account: no user-allowed check. */
	report = settings_report(healthy, NULL, AUTHKEYS_MODE_SHELL);
	if (!report)
		return;
	CHECK_INT(report->n, SL_ARRAY_SIZE(names) - 1);
	CHECK(doctor_report_find(report, DOCTOR_USER_ALLOWED) == NULL);
	CHECK(!doctor_report_failed(report));
	doctor_report_free(report);
}

/* healthy with the first line starting with key replaced, or extra added. */
static char *variant(const char *key, const char *line)
{
	char *out = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);
	const char *p = healthy;

	while (*p) {
		size_t n = strcspn(p, "\n");

		if (!(key && strncmp(p, key, strlen(key)) == 0 && p[strlen(key)] == ' '))
			fprintf(f, "%.*s\n", (int)n, p);
		p += n + (p[n] == '\n');
	}
	if (line)
		fprintf(f, "%s\n", line);
	fclose(f);
	return out;
}

static void test_settings_table(void)
{
	static const struct {
		const char *name;
		const char *remove;  /* keyword whose line is dropped */
		const char *add;     /* line added */
		const struct doctor_account *account;
		enum authkeys_mode mode;
		const char *check;
		enum doctor_status status;
		const char *message_has;
	} cases[] = {
		{ "pubkey off", "pubkeyauthentication", "pubkeyauthentication no",
		  &shop, AUTHKEYS_MODE_SHELL, DOCTOR_PUBKEY_AUTH, DOCTOR_FAIL,
		  "PubkeyAuthentication is no for shop" },
		{ "methods key alone", "authenticationmethods",
		  "authenticationmethods publickey,password publickey", &shop,
		  AUTHKEYS_MODE_SHELL, DOCTOR_PUBKEY_AUTH, DOCTOR_OK, "a key alone" },
		{ "methods key and password", "authenticationmethods",
		  "authenticationmethods publickey,password", &shop,
		  AUTHKEYS_MODE_SHELL, DOCTOR_PUBKEY_AUTH, DOCTOR_WARN,
		  "asks more than a key" },
		{ "methods password only", "authenticationmethods",
		  "authenticationmethods password keyboard-interactive", &shop,
		  AUTHKEYS_MODE_SHELL, DOCTOR_PUBKEY_AUTH, DOCTOR_FAIL,
		  "has no publickey" },
		{ "keys file elsewhere", "authorizedkeysfile",
		  "authorizedkeysfile /etc/ssh/keys/%u", &shop, AUTHKEYS_MODE_SHELL,
		  DOCTOR_KEYS_FILE, DOCTOR_FAIL, "/etc/ssh/keys/%u" },
		{ "keys file by home path", "authorizedkeysfile",
		  "authorizedkeysfile /home/%u/.ssh/authorized_keys", &shop,
		  AUTHKEYS_MODE_SHELL, DOCTOR_KEYS_FILE, DOCTOR_OK, "sshd reads" },
		{ "keys file by home path, no account", "authorizedkeysfile",
		  "authorizedkeysfile /home/%u/.ssh/authorized_keys", NULL,
		  AUTHKEYS_MODE_SHELL, DOCTOR_KEYS_FILE, DOCTOR_WARN, "depends" },
		{ "keys file none", "authorizedkeysfile", "authorizedkeysfile none",
		  NULL, AUTHKEYS_MODE_SHELL, DOCTOR_KEYS_FILE, DOCTOR_FAIL, "none" },
		{ "keys command", "authorizedkeyscommand",
		  "authorizedkeyscommand /usr/local/bin/keys %u", &shop,
		  AUTHKEYS_MODE_SHELL, DOCTOR_KEYS_COMMAND, DOCTOR_WARN,
		  "/usr/local/bin/keys %u" },
		{ "strict modes off", "strictmodes", "strictmodes no", &shop,
		  AUTHKEYS_MODE_SHELL, DOCTOR_STRICT_MODES, DOCTOR_WARN,
		  "StrictModes is no" },
		{ "no sftp, sftp mode", "subsystem", NULL, &shop, AUTHKEYS_MODE_SFTP,
		  DOCTOR_SFTP, DOCTOR_FAIL, "no Subsystem sftp" },
		{ "no sftp, shell mode", "subsystem", NULL, &shop,
		  AUTHKEYS_MODE_SHELL, DOCTOR_SFTP, DOCTOR_WARN, "no Subsystem sftp" },
		{ "internal-sftp", "subsystem", "subsystem sftp internal-sftp",
		  &shop, AUTHKEYS_MODE_SFTP, DOCTOR_SFTP, DOCTOR_OK, "internal-sftp" },
		{ "other subsystem only", "subsystem", "subsystem sftpx /bin/true",
		  &shop, AUTHKEYS_MODE_SFTP, DOCTOR_SFTP, DOCTOR_FAIL,
		  "no Subsystem sftp" },
		{ "allowusers without it", NULL, "allowusers bob", &shop,
		  AUTHKEYS_MODE_SHELL, DOCTOR_USER_ALLOWED, DOCTOR_FAIL,
		  "AllowUsers is set and admits neither shop" },
		{ "denyusers", NULL, "denyusers sh*", &shop, AUTHKEYS_MODE_SHELL,
		  DOCTOR_USER_ALLOWED, DOCTOR_FAIL, "DenyUsers sh* refuses shop" },
		{ "denygroups", NULL, "denygroups www-data", &shop,
		  AUTHKEYS_MODE_SHELL, DOCTOR_USER_ALLOWED, DOCTOR_FAIL,
		  "DenyGroups www-data refuses shop" },
		{ "allowgroups without it", NULL, "allowgroups sudo", &shop,
		  AUTHKEYS_MODE_SHELL, DOCTOR_USER_ALLOWED, DOCTOR_FAIL,
		  "AllowGroups is set" },
		{ "allowusers user@host", NULL, "allowusers shop@192.0.2.0/24",
		  &shop, AUTHKEYS_MODE_SHELL, DOCTOR_USER_ALLOWED, DOCTOR_WARN,
		  "approximated" },
		{ "allowusers lists it", NULL, "allowusers shop", &shop,
		  AUTHKEYS_MODE_SHELL, DOCTOR_USER_ALLOWED, DOCTOR_OK, "admits shop" },
		{ "root, permitrootlogin no", "permitrootlogin", "permitrootlogin no",
		  &root, AUTHKEYS_MODE_SHELL, DOCTOR_USER_ALLOWED, DOCTOR_FAIL,
		  "PermitRootLogin is no" },
		{ "root, forced commands, shell", "permitrootlogin",
		  "permitrootlogin forced-commands-only", &root, AUTHKEYS_MODE_SHELL,
		  DOCTOR_USER_ALLOWED, DOCTOR_FAIL, "forced-commands-only" },
		{ "root, forced commands, sftp", "permitrootlogin",
		  "permitrootlogin forced-commands-only", &root, AUTHKEYS_MODE_SFTP,
		  DOCTOR_USER_ALLOWED, DOCTOR_OK, "admits root" },
		{ "not root, permitrootlogin no", "permitrootlogin",
		  "permitrootlogin no", &shop, AUTHKEYS_MODE_SHELL,
		  DOCTOR_USER_ALLOWED, DOCTOR_OK, "admits shop" },
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		char *text = variant(cases[i].remove, cases[i].add);
		struct doctor_report *report =
			text ? settings_report(text, cases[i].account, cases[i].mode) :
			       NULL;
		const struct doctor_result *r;

		free(text);
		if (!report)
			continue;
		r = doctor_report_find(report, cases[i].check);
		CHECK_MSG(r != NULL, "%s: no %s result", cases[i].name,
			  cases[i].check);
		if (r) {
			CHECK_MSG(r->status == cases[i].status,
				  "%s: status %s, expected %s (%s)", cases[i].name,
				  doctor_status_name(r->status),
				  doctor_status_name(cases[i].status), r->message);
			CHECK_MSG(strstr(r->message, cases[i].message_has) != NULL,
				  "%s: message \"%s\" lacks \"%s\"", cases[i].name,
				  r->message, cases[i].message_has);
			CHECK_MSG((r->fix != NULL) == (r->status != DOCTOR_OK),
				  "%s: fix %s", cases[i].name,
				  r->fix ? r->fix : "(none)");
			/* Every failure here is one a grant cannot survive. */
			CHECK_MSG(r->blocks_grant == (r->status == DOCTOR_FAIL),
				  "%s: blocks_grant %d", cases[i].name,
				  r->blocks_grant);
		}
		/* Only the check under test moves away from ok. */
		for (size_t k = 0; k < report->n; k++)
			CHECK_MSG(strcmp(report->results[k].name, cases[i].check) == 0 ||
					  report->results[k].status == DOCTOR_OK,
				  "%s: %s is %s too", cases[i].name,
				  report->results[k].name,
				  doctor_status_name(report->results[k].status));
		doctor_report_free(report);
	}
}

/* ---- account, shell ---- */

static void test_account(void)
{
	static const struct {
		const char *name, *password;
		long expire, today;
		bool use_pam, use_pam_known;
		enum doctor_status status;
		bool blocks;
		const char *message_has;
	} cases[] = {
		{ "star", "*", -1, 20000, false, true, DOCTOR_OK, false, "neither" },
		{ "hash", "$y$j9T$abc$def", -1, 20000, false, true, DOCTOR_OK, false,
		  "neither" },
		{ "locked, no PAM", "!", -1, 20000, false, true, DOCTOR_FAIL, true,
		  "UsePAM is no" },
		{ "locked hash, no PAM", "!$y$j9T$abc", -1, 20000, false, true,
		  DOCTOR_FAIL, true, "locked" },
		{ "locked, PAM", "!", -1, 20000, true, true, DOCTOR_OK, false,
		  "UsePAM yes" },
		{ "locked, PAM unknown", "!*", -1, 20000, false, false, DOCTOR_WARN,
		  false, "locked" },
		{ "no shadow entry", NULL, -1, 20000, false, true, DOCTOR_WARN, false,
		  "could not be read" },
		{ "expired", "*", 19999, 20000, true, true, DOCTOR_FAIL, true,
		  "expired on 2024-10-03" },
		{ "expires today", "*", 20000, 20000, false, true, DOCTOR_FAIL, true,
		  "expired" },
		{ "expires tomorrow", "*", 20001, 20000, false, true, DOCTOR_OK, false,
		  "neither" },
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		struct doctor_report *report = doctor_report_new();
		const struct doctor_result *r;

		if (!report)
			return;
		CHECK_INT(doctor_check_account(report, "shop", cases[i].password,
					       cases[i].expire, cases[i].today,
					       cases[i].use_pam,
					       cases[i].use_pam_known),
			  0);
		r = doctor_report_find(report, DOCTOR_ACCOUNT);
		CHECK_MSG(r && r->status == cases[i].status &&
				  r->blocks_grant == cases[i].blocks &&
				  strstr(r->message, cases[i].message_has),
			  "%s: %s %s", cases[i].name,
			  r ? doctor_status_name(r->status) : "none",
			  r ? r->message : "");
		doctor_report_free(report);
	}
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	CHECK_MSG(fd >= 0, "create %s: %s", path, strerror(errno));
	if (fd < 0)
		return;
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	CHECK(fchmod(fd, mode) == 0);
	close(fd);
}

static void test_shell(const char *dir)
{
	char shells[512], good[512], nologin[512], noexec[512], missing[512],
		unlisted[512], list[2048];

	snprintf(shells, sizeof(shells), "%s/shells", dir);
	snprintf(good, sizeof(good), "%s/goodsh", dir);
	snprintf(nologin, sizeof(nologin), "%s/nologin", dir);
	snprintf(noexec, sizeof(noexec), "%s/noexec", dir);
	snprintf(missing, sizeof(missing), "%s/missing", dir);
	snprintf(unlisted, sizeof(unlisted), "%s/unlisted", dir);
	write_file(good, "#!/bin/sh\n", 0755);
	write_file(nologin, "#!/bin/sh\nexit 1\n", 0755);
	write_file(noexec, "#!/bin/sh\n", 0644);
	write_file(unlisted, "#!/bin/sh\n", 0755);
	snprintf(list, sizeof(list), "# /etc/shells\n%s\n%s\n", good, nologin);
	write_file(shells, list, 0644);

	static const struct {
		const char *which; /* g n x m u */
		enum authkeys_mode mode;
		enum doctor_status status;
		bool blocks;
	} cases[] = {
		{ "g", AUTHKEYS_MODE_SHELL, DOCTOR_OK, false },
		{ "g", AUTHKEYS_MODE_SFTP, DOCTOR_OK, false },
		{ "n", AUTHKEYS_MODE_SHELL, DOCTOR_FAIL, true },
		{ "n", AUTHKEYS_MODE_SFTP, DOCTOR_OK, false },
		{ "x", AUTHKEYS_MODE_SHELL, DOCTOR_FAIL, true },
		{ "x", AUTHKEYS_MODE_SFTP, DOCTOR_FAIL, true },
		{ "m", AUTHKEYS_MODE_SFTP, DOCTOR_FAIL, true },
		{ "u", AUTHKEYS_MODE_SHELL, DOCTOR_WARN, false },
		{ "u", AUTHKEYS_MODE_SFTP, DOCTOR_OK, false },
	};
	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		const char *shell = cases[i].which[0] == 'g' ? good :
				    cases[i].which[0] == 'n' ? nologin :
				    cases[i].which[0] == 'x' ? noexec :
				    cases[i].which[0] == 'm' ? missing :
							       unlisted;
		struct doctor_report *report = doctor_report_new();
		const struct doctor_result *r;

		if (!report)
			return;
		CHECK_INT(doctor_check_shell(report, shell, cases[i].mode, shells), 0);
		r = doctor_report_find(report, DOCTOR_SHELL);
		CHECK_MSG(r && r->status == cases[i].status &&
				  r->blocks_grant == cases[i].blocks,
			  "shell %s mode %d: %s %s", cases[i].which, cases[i].mode,
			  r ? doctor_status_name(r->status) : "none",
			  r ? r->message : "");
		doctor_report_free(report);
	}
	/* An empty shell field is /bin/sh, as for sshd. */
	{
		struct doctor_report *report = doctor_report_new();
		const struct doctor_result *r;

		CHECK_INT(doctor_check_shell(report, "", AUTHKEYS_MODE_SFTP, shells), 0);
		r = doctor_report_find(report, DOCTOR_SHELL);
		CHECK(r && r->status == DOCTOR_OK && strstr(r->message, "/bin/sh"));
		doctor_report_free(report);
	}
}

/* ---- clock, doctor_run, blockers ---- */

static void test_clock(void)
{
	struct doctor_report *report = doctor_report_new();
	const struct doctor_result *r;

	CHECK_INT(doctor_check_clock(report), 0);
	r = doctor_report_find(report, DOCTOR_CLOCK);
	/* This host's clock may or may not be synchronised; never a failure. */
	CHECK(r && r->status != DOCTOR_FAIL && !r->blocks_grant);
	CHECK(r && (r->status == DOCTOR_OK) == (r->fix == NULL));
	doctor_report_free(report);
}

static void test_run_without_sshd(void)
{
	struct doctor_options o = {
		.sshd = { .sshd_path = "/nonexistent/sshd" },
	};
	struct sshd_info info = {
		.source = SSHD_SOURCE_PROBE,
		.version = { 9, 0 },
		.software = "SSH-2.0-OpenSSH_9.0p1",
		.port = 2222,
		.address = "127.0.0.1",
	};
	struct doctor_report *report = NULL;
	struct doctor_result *blocker = NULL;
	const struct doctor_result *r;
	int fd;
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);

	/* A port bound but not listening: nothing answers there. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	      getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
	o.port = ntohs(sin.sin_port);
	CHECK_INT(doctor_run(&o, &report), 0);
	if (report) {
		r = doctor_report_find(report, DOCTOR_SSHD_REACHABLE);
		CHECK(r && r->status == DOCTOR_FAIL &&
		      strstr(r->message, "no SSH server answered on 127.0.0.1 or "
					 "::1 port ") &&
		      strstr(r->message, "Connection refused"));
		r = doctor_report_find(report, DOCTOR_EXPIRY_FORMAT);
		CHECK(r && r->status == DOCTOR_FAIL && strstr(r->message, "unknown"));
		r = doctor_report_find(report, DOCTOR_SSHD_CONFIG);
		CHECK(r && r->status == DOCTOR_FAIL &&
		      strstr(r->message, "sshd path is not an executable file"));
		CHECK(doctor_report_find(report, DOCTOR_CLOCK) != NULL);
		CHECK(doctor_report_find(report, DOCTOR_ACCOUNT) == NULL);
		CHECK(doctor_report_failed(report));
		doctor_report_free(report);
		report = NULL;
	}
	if (fd >= 0)
		close(fd);

	/* A probe handed in is used as it is: 9.0 means local time. */
	o.info = &info;
	CHECK_INT(doctor_run(&o, &report), 0);
	if (report) {
		r = doctor_report_find(report, DOCTOR_SSHD_REACHABLE);
		CHECK(r && r->status == DOCTOR_OK &&
		      strstr(r->message, "OpenSSH 9.0 answers on 127.0.0.1 port 2222"));
		r = doctor_report_find(report, DOCTOR_EXPIRY_FORMAT);
		CHECK(r && r->status == DOCTOR_OK && strstr(r->message, "local time"));
		doctor_report_free(report);
		report = NULL;
	}
	o.expiry_format = CONFIG_EXPIRY_UTC;
	CHECK_INT(doctor_run(&o, &report), 0);
	if (report) {
		r = doctor_report_find(report, DOCTOR_EXPIRY_FORMAT);
		CHECK(r && r->status == DOCTOR_FAIL &&
		      strstr(r->message, "OpenSSH 9.0: ") &&
		      strcmp(r->fix, "Set [sshd] expiry_format = auto.") == 0);
		doctor_report_free(report);
		report = NULL;
	}

	/* An account that does not exist fails, and blocks a grant. */
	o.user = "sshlease-no-such-account";
	o.expiry_format = CONFIG_EXPIRY_AUTO;
	CHECK_INT(doctor_run(&o, &report), 0);
	if (report) {
		r = doctor_report_find(report, DOCTOR_ACCOUNT);
		CHECK(r && r->status == DOCTOR_FAIL && r->blocks_grant &&
		      strstr(r->message, "no account named"));
		doctor_report_free(report);
	}
	CHECK_INT(doctor_grant_blockers(&o, &blocker), SL_REFUSED);
	CHECK(blocker && strcmp(blocker->name, DOCTOR_ACCOUNT) == 0 &&
	      strstr(blocker->message, "sshlease-no-such-account") && blocker->fix);
	doctor_result_free(blocker);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char dir[256];

	snprintf(dir, sizeof(dir), "%s/sshlease-test-doctor.XXXXXX", tmp);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	TEST(test_report());
	TEST(test_healthy_settings());
	TEST(test_settings_table());
	TEST(test_account());
	TEST(test_shell(dir));
	TEST(test_clock());
	TEST(test_run_without_sshd());
	{
		char cmd[512];

		/* Only our own temporary files are left to remove. */
		snprintf(cmd, sizeof(cmd), "%s/shells", dir);
		unlink(cmd);
		static const char *const files[] = { "goodsh", "nologin", "noexec",
						     "unlisted" };
		for (size_t i = 0; i < SL_ARRAY_SIZE(files); i++) {
			snprintf(cmd, sizeof(cmd), "%s/%s", dir, files[i]);
			unlink(cmd);
		}
		CHECK(rmdir(dir) == 0);
	}
	return test_done();
}

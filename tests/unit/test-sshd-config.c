/*
 * sshd-config: sshd -T output parsing, the listen port, AllowUsers/DenyUsers
 * matching, AuthorizedKeysFile forms, finding sshd, and running sshd -T
 * (where it fails) and sshd -V.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sshd-config.h"
#include "test.h"

/* ---- sshd -T ---- */

static const char sample_settings[] =
	"port 2222\n"
	"addressfamily any\n"
	"listenaddress [::]:2222\n"
	"listenaddress 0.0.0.0:2222\n"
	"usepam yes\n"
	"pubkeyauthentication yes\n"
	"authorizedkeysfile .ssh/authorized_keys .ssh/authorized_keys2\n"
	"allowusers alice\n"
	"allowusers bob@10.0.0.0/8\n"
	"subsystem sftp /usr/lib/openssh/sftp-server\n"
	"banner none\n"
	"x11displayoffset 10\n"
	"emptyvalue";

static struct sshd_settings *parse_ok(const char *text)
{
	struct sshd_settings *s = NULL;
	const char *why = NULL;
	int r = sshd_settings_parse(text, strlen(text), &s, &why);

	CHECK_MSG(r == 0, "parse failed: %d %s", r, why ? why : "");
	return s;
}

static void test_settings_parse(void)
{
	struct sshd_settings *s = parse_ok(sample_settings);
	size_t pos = 0;

	if (!s)
		return;
	CHECK_INT(s->n, 13);
	CHECK_STR(sshd_settings_get(s, "port"), "2222");
	CHECK_STR(sshd_settings_get(s, "authorizedkeysfile"),
		  ".ssh/authorized_keys .ssh/authorized_keys2");
	CHECK_STR(sshd_settings_get(s, "x11displayoffset"), "10");
	CHECK_STR(sshd_settings_get(s, "emptyvalue"), "");
	CHECK(sshd_settings_get(s, "denyusers") == NULL);
	CHECK_STR(sshd_settings_next(s, "allowusers", &pos), "alice");
	CHECK_STR(sshd_settings_next(s, "allowusers", &pos), "bob@10.0.0.0/8");
	CHECK(sshd_settings_next(s, "allowusers", &pos) == NULL);
	CHECK(sshd_settings_next(s, "allowusers", &pos) == NULL);
	sshd_settings_free(s);

	static const struct {
		const char *name, *text;
		size_t len; /* 0: strlen */
	} bad[] = {
		{ "empty", "", 0 },
		{ "blank line", "port 22\n\nusepam yes\n", 0 },
		{ "leading blank", " port 22\n", 0 },
		{ "upper-case keyword", "Port 22\n", 0 },
		{ "dash in keyword", "x-y 1\n", 0 },
		{ "tab separator", "port\t22\n", 0 },
		{ "CR line end", "port 22\r\n", 0 },
		{ "escape in value", "banner \x1b[2J\n", 0 },
		{ "high byte in value", "banner caf\xc3\xa9\n", 0 },
		{ "NUL inside", "port 22\0usepam yes\n", 20 },
	};
	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
		const char *why = NULL;

		s = NULL;
		CHECK_MSG(sshd_settings_parse(bad[i].text,
					      bad[i].len ? bad[i].len :
							   strlen(bad[i].text),
					      &s, &why) == SL_REFUSED &&
				  why && !s,
			  "%s: not refused", bad[i].name);
		sshd_settings_free(s);
	}
}

static void test_settings_port(void)
{
	static const struct {
		const char *text;
		int r;
		unsigned port;
	} cases[] = {
		{ "port 22\nlistenaddress [::]:22\nlistenaddress 0.0.0.0:22\n", 0, 22 },
		{ "port 2222\nlistenaddress 127.0.0.1:2222\n", 0, 2222 },
		/* a listen address with its own port wins over Port */
		{ "port 22\nlistenaddress 0.0.0.0:2200\n", 0, 2200 },
		/* a public address only: the probe connects to loopback */
		{ "port 22\nlistenaddress 192.0.2.5:2201\n", 0, 22 },
		{ "port 22\nlistenaddress 192.0.2.5:2201\nlistenaddress [::1]:2202\n",
		  0, 2202 },
		{ "listenaddress 127.0.0.1:2203 rdomain vrf0\n", 0, 2203 },
		{ "usepam yes\n", SL_NOT_FOUND, 0 },
		{ "port 0\n", SL_REFUSED, 0 },
		{ "port 65536\n", SL_REFUSED, 0 },
		{ "port -1\n", SL_REFUSED, 0 },
		{ "port 22x\n", SL_REFUSED, 0 },
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		struct sshd_settings *s = parse_ok(cases[i].text);
		const char *why = NULL;
		unsigned port = 0;
		int r;

		if (!s)
			continue;
		r = sshd_settings_port(s, &port, &why);
		CHECK_MSG(r == cases[i].r && (r != 0 || port == cases[i].port),
			  "case %zu: r=%d port=%u, expected r=%d port=%u", i, r,
			  port, cases[i].r, cases[i].port);
		sshd_settings_free(s);
	}
}

/* ---- AllowUsers and friends ---- */

static void test_pattern(void)
{
	static const struct {
		const char *text, *pattern;
		bool match;
	} cases[] = {
		{ "alice", "alice", true },
		{ "alice", "Alice", false },
		{ "alice", "ali*", true },
		{ "alice", "*", true },
		{ "", "*", true },
		{ "alice", "a*e", true },
		{ "alice", "a*c", false },
		{ "alice", "?lice", true },
		{ "alice", "??ice", true },
		{ "alice", "?ice", false },
		{ "alice", "alice?", false },
		{ "alice", "*ice*", true },
		{ "aaab", "*a*b", true },
		{ "abcabd", "*abd", true },
		{ "alice", "", false },
		{ "", "", true },
		{ "alice", "!alice", false },
		{ "!alice", "!alice", true },
		{ "shop", "sh*p*", true },
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++)
		CHECK_MSG(sshd_pattern_match(cases[i].text, cases[i].pattern) ==
				  cases[i].match,
			  "\"%s\" ~ \"%s\" should be %s", cases[i].text,
			  cases[i].pattern, cases[i].match ? "true" : "false");
}

static void test_access(void)
{
	static const char *const shop_groups[] = { "shop", "www-data", NULL };
	static const struct {
		const char *name, *settings;
		enum sshd_access access;
		const char *keyword, *pattern;
	} cases[] = {
		{ "nothing set", "usepam yes\n", SSHD_ACCESS_ALLOWED, NULL, NULL },
		{ "allowusers lists it", "allowusers bob\nallowusers shop\n",
		  SSHD_ACCESS_ALLOWED, NULL, NULL },
		{ "allowusers wildcard", "allowusers sh?p*\n", SSHD_ACCESS_ALLOWED,
		  NULL, NULL },
		{ "allowusers without it", "allowusers bob\n", SSHD_ACCESS_DENIED,
		  "allowusers", NULL },
		{ "allowusers case", "allowusers SHOP\n", SSHD_ACCESS_DENIED,
		  "allowusers", NULL },
		{ "denyusers names it", "denyusers shop\n", SSHD_ACCESS_DENIED,
		  "denyusers", "shop" },
		{ "denyusers wildcard", "denyusers s*\n", SSHD_ACCESS_DENIED,
		  "denyusers", "s*" },
		{ "deny beats allow", "denyusers shop\nallowusers shop\n",
		  SSHD_ACCESS_DENIED, "denyusers", "shop" },
		{ "denyusers another", "denyusers bob\n", SSHD_ACCESS_ALLOWED, NULL,
		  NULL },
		{ "allowusers user@host only", "allowusers shop@192.0.2.0/24\n",
		  SSHD_ACCESS_DEPENDS, "allowusers", "shop@192.0.2.0/24" },
		{ "allowusers user@* is plain", "allowusers shop@*\n",
		  SSHD_ACCESS_ALLOWED, NULL, NULL },
		{ "plain allow beats user@host allow",
		  "allowusers shop@192.0.2.1\nallowusers shop\n",
		  SSHD_ACCESS_ALLOWED, NULL, NULL },
		{ "allowusers other@host", "allowusers bob@192.0.2.1\n",
		  SSHD_ACCESS_DENIED, "allowusers", NULL },
		{ "denyusers user@host", "denyusers shop@203.0.113.*\n",
		  SSHD_ACCESS_DEPENDS, "denyusers", "shop@203.0.113.*" },
		{ "user part split at the last @", "denyusers sh@p@host\n",
		  SSHD_ACCESS_ALLOWED, NULL, NULL },
		{ "denygroups matches a supplementary group",
		  "denygroups www-*\n", SSHD_ACCESS_DENIED, "denygroups", "www-*" },
		{ "denygroups other", "denygroups wheel\n", SSHD_ACCESS_ALLOWED,
		  NULL, NULL },
		{ "allowgroups matches primary", "allowgroups shop\n",
		  SSHD_ACCESS_ALLOWED, NULL, NULL },
		{ "allowgroups without its groups", "allowgroups sudo\nallowgroups adm\n",
		  SSHD_ACCESS_DENIED, "allowgroups", NULL },
		{ "allowusers ok but allowgroups not",
		  "allowusers shop\nallowgroups sudo\n", SSHD_ACCESS_DENIED,
		  "allowgroups", NULL },
		{ "a plain deny beats a user@host allow",
		  "allowusers shop@10.0.0.1\ndenygroups shop\n",
		  SSHD_ACCESS_DENIED, "denygroups", "shop" },
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		struct sshd_settings *s = parse_ok(cases[i].settings);
		struct sshd_access_verdict v;
		enum sshd_access a;

		if (!s)
			continue;
		a = sshd_access_check(s, "shop", shop_groups, &v);
		CHECK_MSG(a == cases[i].access && v.access == a, "%s: access %d, expected %d",
			  cases[i].name, (int)a, (int)cases[i].access);
		if (cases[i].keyword)
			CHECK_MSG(v.keyword && strcmp(v.keyword, cases[i].keyword) == 0,
				  "%s: keyword %s", cases[i].name,
				  v.keyword ? v.keyword : "(null)");
		CHECK_MSG((cases[i].pattern == NULL) == (v.pattern == NULL) &&
				  (!v.pattern || strcmp(v.pattern, cases[i].pattern) == 0),
			  "%s: pattern %s", cases[i].name,
			  v.pattern ? v.pattern : "(null)");
		sshd_settings_free(s);
	}
}

static void test_keys_file(void)
{
	static const struct {
		const char *value;
		bool with_account, covers;
	} cases[] = {
		{ ".ssh/authorized_keys .ssh/authorized_keys2", true, true },
		{ ".ssh/authorized_keys .ssh/authorized_keys2", false, true },
		{ "%h/.ssh/authorized_keys", true, true },
		{ "%h/.ssh/authorized_keys", false, true },
		{ "~/.ssh/authorized_keys", true, true },
		{ "/home/%u/.ssh/authorized_keys", true, true },
		{ "/home/%u/.ssh/authorized_keys", false, false },
		{ "/home/shop//.ssh/authorized_keys", true, true },
		{ ".ssh//authorized_keys", true, true },
		{ "/etc/ssh/keys/%u", true, false },
		{ "/etc/ssh/keys/%U", true, false },
		{ ".ssh/authorized_keys2", true, false },
		{ "none", true, false },
		{ "none", false, false },
		{ "%%h/.ssh/authorized_keys", true, false },
		{ ".ssh/authorized_keys_%x", true, false },
		{ "%h/.ssh/authorized_keys%", true, false },
		{ "/home/shop/.ssh/authorized_keys", true, true },
		{ "/srv/shop/.ssh/authorized_keys", true, false },
		{ "", true, false },
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		bool covers = cases[i].with_account ?
				      sshd_authorized_keys_file_covers(
					      cases[i].value, "shop", 1001,
					      "/home/shop") :
				      sshd_authorized_keys_file_covers(
					      cases[i].value, NULL, 0, NULL);

		CHECK_MSG(covers == cases[i].covers, "\"%s\" (%s account): %s",
			  cases[i].value,
			  cases[i].with_account ? "with" : "without",
			  covers ? "covers" : "does not cover");
	}
}

/* ---- finding and running sshd ---- */

static void test_find_and_load(void)
{
	char path[256], diag[256];
	struct sshd_exec_options exec = { .config_path = "/nonexistent/sshd_config" };
	struct sshd_match_spec spec = { .user = "a,b" };
	struct sshd_settings *s = NULL;
	const char *why = NULL;

	CHECK_INT(sshd_find_binary("sshd", path, sizeof(path), &why), SL_REFUSED);
	CHECK_INT(sshd_find_binary("/nonexistent/sshd", path, sizeof(path), &why),
		  SL_NOT_FOUND);
	CHECK_INT(sshd_find_binary("/bin/sh", path, sizeof(path), &why), 0);
	CHECK_STR(path, "/bin/sh");
	CHECK_INT(sshd_find_binary("/bin/sh", path, 4, &why), SL_REFUSED);
	CHECK_INT(sshd_find_binary(NULL, path, sizeof(path), &why), 0);
	CHECK_STR(path, SSHD_PATH_DEFAULT);

	/* sshd's own complaint comes back in diag. */
	CHECK_INT(sshd_settings_load(&exec, NULL, &s, diag, sizeof(diag), &why),
		  SL_REFUSED);
	CHECK_STR(why, "sshd -T failed");
	CHECK_MSG(strstr(diag, "/nonexistent/sshd_config") != NULL, "diag: %s", diag);
	CHECK(s == NULL);
	/* A value that would smuggle another -C keyword is refused. */
	exec.config_path = NULL;
	CHECK_INT(sshd_settings_load(&exec, &spec, &s, diag, sizeof(diag), &why),
		  SL_REFUSED);
	spec.user = "shop";
	spec.addr = "127.0.0.1 ";
	CHECK_INT(sshd_settings_load(&exec, &spec, &s, diag, sizeof(diag), &why),
		  SL_REFUSED);
	exec.sshd_path = "/nonexistent/sshd";
	CHECK_INT(sshd_settings_load(&exec, NULL, &s, diag, sizeof(diag), &why),
		  SL_NOT_FOUND);
}

/* sshd -V: the version and its line; nothing written when there is none. */
static void test_version_load(void)
{
	struct sshd_exec_options exec = { .sshd_path = "/nonexistent/sshd" };
	struct sshd_version v = { 1, 2 };
	char software[128] = "untouched";
	const char *why = NULL;

	CHECK_INT(sshd_version_load(&exec, &v, software, sizeof(software), &why),
		  SL_NOT_FOUND);
	CHECK(v.major == 1 && v.minor == 2);
	CHECK_STR(software, "untouched");
	/* A program that prints no version. */
	exec.sshd_path = "/bin/true";
	CHECK_INT(sshd_version_load(&exec, &v, software, sizeof(software), &why),
		  SL_NOT_FOUND);
	CHECK_STR(software, "untouched");
	exec.sshd_path = NULL;
	if (access(SSHD_PATH_DEFAULT, X_OK) != 0) {
		fprintf(stderr, "no sshd installed: sshd -V is not checked\n");
		return;
	}
	CHECK_INT(sshd_version_load(&exec, &v, software, sizeof(software), &why), 0);
	CHECK(sshd_version_known(&v));
	CHECK_MSG(strncmp(software, "OpenSSH_", 8) == 0 && !strchr(software, '\n'),
		  "software: %s", software);
}

int main(void)
{
	TEST(test_settings_parse());
	TEST(test_settings_port());
	TEST(test_pattern());
	TEST(test_access());
	TEST(test_keys_file());
	TEST(test_find_and_load());
	TEST(test_version_load());
	return test_done();
}

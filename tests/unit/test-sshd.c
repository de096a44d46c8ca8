/*
 * The sshd module without a running sshd: banner and sshd -V parsing, the
 * expiry-time choice (and the local form read back as sshd 7.7-9.0 reads
 * it), sshd -T output parsing, AllowUsers/DenyUsers matching,
 * AuthorizedKeysFile forms, the KEXINIT reader; the
 * /proc/net/tcp reader that tells whose socket listens, and (as root) a
 * probe that does not believe a listener of another user: its banner and
 * keys are dropped and sshd -V is asked instead.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "authkeys.h"
#include "sshd.h"
#include "test.h"

/* ---- banners and sshd -V ---- */

static void test_banner(void)
{
	static const struct {
		const char *banner;
		unsigned major, minor; /* 0.0: refused */
	} cases[] = {
		{ "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", 9, 2 },
		{ "SSH-2.0-OpenSSH_9.2p1", 9, 2 },
		{ "SSH-2.0-OpenSSH_9.0", 9, 0 },
		{ "SSH-2.0-OpenSSH_7.7p1 Ubuntu-4ubuntu0.5", 7, 7 },
		{ "SSH-2.0-OpenSSH_7.4", 7, 4 },
		{ "SSH-2.0-OpenSSH_10.0p2 Debian-5", 10, 0 },
		{ "SSH-2.0-OpenSSH_8.9p1-hpn14v15", 8, 9 },
		{ "SSH-1.99-OpenSSH_3.9p1", 3, 9 },
		{ "SSH-2.0-OpenSSH_9.10", 9, 10 },
		/* refused */
		{ "SSH-2.0-dropbear_2022.83", 0, 0 },
		{ "SSH-2.0-OpenSSH_for_Windows_8.1", 0, 0 },
		{ "SSH-2.0-OpenSSH_", 0, 0 },
		{ "SSH-2.0-OpenSSH_9", 0, 0 },
		{ "SSH-2.0-OpenSSH_9.", 0, 0 },
		{ "SSH-2.0-OpenSSH_9.2.1", 0, 0 },
		{ "SSH-2.0-OpenSSH_.2", 0, 0 },
		{ "SSH-2.0-OpenSSH_0.9", 0, 0 },
		{ "SSH-2.0-OpenSSH_1234.1", 0, 0 },
		{ "SSH-2.0-OpenSSH_9.1234", 0, 0 },
		{ "SSH-2.0-OpenSSH_+9.2", 0, 0 },
		{ "SSH-1.5-OpenSSH_9.2", 0, 0 },
		{ "OpenSSH_9.2p1", 0, 0 },
		{ "", 0, 0 },
		{ "SSH-2.0-OpenSSH_9.2p1\r", 0, 0 },
		{ "SSH-2.0-OpenSSH_9.2p1 \x1b[31mred", 0, 0 },
		{ "ssh-2.0-OpenSSH_9.2", 0, 0 },
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		struct sshd_version v = { 99, 99 };
		const char *why = NULL;
		int r = sshd_banner_parse(cases[i].banner, &v, &why);

		if (cases[i].major) {
			CHECK_MSG(r == 0, "\"%s\": r=%d (%s)", cases[i].banner, r,
				  why ? why : "");
			CHECK_MSG(v.major == cases[i].major &&
					  v.minor == cases[i].minor,
				  "\"%s\" gave %u.%u", cases[i].banner, v.major,
				  v.minor);
		} else {
			CHECK_MSG(r == SL_REFUSED && why,
				  "\"%s\" should be refused, r=%d", cases[i].banner,
				  r);
			CHECK_MSG(v.major == 0 && v.minor == 0,
				  "\"%s\" left %u.%u", cases[i].banner, v.major,
				  v.minor);
		}
	}
}

static void test_version_output(void)
{
	struct sshd_version v;
	const char *why = NULL;

	/* Debian 12's sshd -V (exit 0) */
	CHECK_INT(sshd_version_output_parse(
			  "OpenSSH_9.2, OpenSSL 3.0.11 19 Sep 2023\n", &v, &why),
		  0);
	CHECK(v.major == 9 && v.minor == 2);
	/* An sshd without -V: complaint, version, usage (exit 1). */
	CHECK_INT(sshd_version_output_parse(
			  "unknown option -- V\n"
			  "OpenSSH_8.4p1 Debian-5+deb11u3, OpenSSL 1.1.1w  11 Sep 2023\n"
			  "usage: sshd [-46DdeiqTt] [-C connection_spec] [-c host_cert_file]\n",
			  &v, &why),
		  0);
	CHECK(v.major == 8 && v.minor == 4);
	CHECK_INT(sshd_version_output_parse("", &v, &why), SL_REFUSED);
	CHECK(v.major == 0);
	CHECK_INT(sshd_version_output_parse("sshd: command not found\n", &v, &why),
		  SL_REFUSED);
	/* Only at the start of a line. */
	CHECK_INT(sshd_version_output_parse("built from OpenSSH_9.2\n", &v, &why),
		  SL_REFUSED);
	CHECK_INT(sshd_version_output_parse("OpenSSH_9.x\n", &v, &why), SL_REFUSED);
}

/* ---- the expiry-time form ---- */

static void test_expiry_for(void)
{
	enum { REFUSE = -1 };
	static const struct {
		unsigned major, minor;
		enum config_expiry_format format;
		int expect; /* enum authkeys_expiry or REFUSE */
	} cases[] = {
		/* auto */
		{ 9, 2, CONFIG_EXPIRY_AUTO, AUTHKEYS_EXPIRY_UTC },
		{ 9, 1, CONFIG_EXPIRY_AUTO, AUTHKEYS_EXPIRY_UTC },
		{ 10, 0, CONFIG_EXPIRY_AUTO, AUTHKEYS_EXPIRY_UTC },
		{ 9, 0, CONFIG_EXPIRY_AUTO, AUTHKEYS_EXPIRY_LOCAL },
		{ 8, 9, CONFIG_EXPIRY_AUTO, AUTHKEYS_EXPIRY_LOCAL },
		{ 7, 7, CONFIG_EXPIRY_AUTO, AUTHKEYS_EXPIRY_LOCAL },
		{ 7, 6, CONFIG_EXPIRY_AUTO, REFUSE },
		{ 6, 9, CONFIG_EXPIRY_AUTO, REFUSE },
		{ 0, 0, CONFIG_EXPIRY_AUTO, REFUSE },
		/* utc */
		{ 9, 2, CONFIG_EXPIRY_UTC, AUTHKEYS_EXPIRY_UTC },
		{ 9, 1, CONFIG_EXPIRY_UTC, AUTHKEYS_EXPIRY_UTC },
		{ 9, 0, CONFIG_EXPIRY_UTC, REFUSE },
		{ 7, 7, CONFIG_EXPIRY_UTC, REFUSE },
		{ 7, 4, CONFIG_EXPIRY_UTC, REFUSE },
		{ 0, 0, CONFIG_EXPIRY_UTC, AUTHKEYS_EXPIRY_UTC },
		/* local */
		{ 9, 2, CONFIG_EXPIRY_LOCAL, AUTHKEYS_EXPIRY_LOCAL },
		{ 8, 4, CONFIG_EXPIRY_LOCAL, AUTHKEYS_EXPIRY_LOCAL },
		{ 7, 7, CONFIG_EXPIRY_LOCAL, AUTHKEYS_EXPIRY_LOCAL },
		{ 7, 6, CONFIG_EXPIRY_LOCAL, REFUSE },
		{ 0, 0, CONFIG_EXPIRY_LOCAL, AUTHKEYS_EXPIRY_LOCAL },
		/* none */
		{ 9, 2, CONFIG_EXPIRY_NONE, AUTHKEYS_EXPIRY_NONE },
		{ 7, 4, CONFIG_EXPIRY_NONE, AUTHKEYS_EXPIRY_NONE },
		{ 0, 0, CONFIG_EXPIRY_NONE, AUTHKEYS_EXPIRY_NONE },
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		struct sshd_version v = { cases[i].major, cases[i].minor };
		enum authkeys_expiry out = (enum authkeys_expiry)99;
		const char *why = NULL;
		int r = sshd_expiry_for(&v, cases[i].format, &out, &why);

		if (cases[i].expect == REFUSE) {
			CHECK_MSG(r == SL_REFUSED && why && *why,
				  "%u.%u format %d: r=%d, expected refusal",
				  v.major, v.minor, cases[i].format, r);
		} else {
			CHECK_MSG(r == 0 && (int)out == cases[i].expect,
				  "%u.%u format %d: r=%d out=%d, expected %d",
				  v.major, v.minor, cases[i].format, r, (int)out,
				  cases[i].expect);
		}
	}

	/* The reasons name what to set. */
	{
		struct sshd_version old = { 7, 4 }, mid = { 9, 0 }, unknown = { 0, 0 };
		enum authkeys_expiry out;
		const char *why = NULL;

		sshd_expiry_for(&old, CONFIG_EXPIRY_AUTO, &out, &why);
		CHECK_STR(why, "OpenSSH before 7.7 has no expiry-time; set [sshd] "
			       "expiry_format = none to let the daemon alone "
			       "enforce deadlines");
		sshd_expiry_for(&mid, CONFIG_EXPIRY_UTC, &out, &why);
		CHECK(why && strstr(why, "expiry_format = auto or local"));
		sshd_expiry_for(&unknown, CONFIG_EXPIRY_AUTO, &out, &why);
		CHECK(why && strstr(why, "unknown") &&
		      strstr(why, "expiry_format"));
	}
	CHECK_STR(sshd_expiry_name(AUTHKEYS_EXPIRY_UTC), "utc");
	CHECK_STR(sshd_expiry_name(AUTHKEYS_EXPIRY_LOCAL), "local");
	CHECK_STR(sshd_expiry_name(AUTHKEYS_EXPIRY_NONE), "none");
}

/*
 * The LOCAL form read back as OpenSSH 7.7-9.0 reads it (misc.c
 * parse_absolute_time: a zeroed struct tm, so tm_isdst = 0, strptime,
 * mktime) must land on the deadline, also in summer time.
 */
static void check_local_readback(const char *what, time_t deadline,
				 const char *want_digits)
{
	struct authkeys_line_spec spec = {
		.id = "0123456789ab",
		.key_type = "ssh-ed25519",
		.blob_base64 = "AAAAC3NzaC1lZDI1NTE5AAAAIB5aRqHb2Wj1E2XGuoFO4aa9nq6Sm6fa5u6qs8Lza6J1",
		.deadline = deadline,
		.expiry = AUTHKEYS_EXPIRY_LOCAL,
		.mode = AUTHKEYS_MODE_SHELL,
	};
	char *line = NULL, digits[15];
	const char *why = NULL, *p, *end;
	struct tm tm;
	time_t read_back;

	CHECK_INT(authkeys_format_line(&spec, &line, &why), 0);
	if (!line)
		return;
	p = strstr(line, "expiry-time=\"");
	CHECK_MSG(p != NULL, "%s: no expiry-time in %s", what, line);
	if (!p)
		goto out;
	p += strlen("expiry-time=\"");
	end = strchr(p, '"');
	CHECK_MSG(end && end - p == 14, "%s: expiry-time is not 14 digits: %s",
		  what, line);
	if (!end || end - p != 14)
		goto out;
	memcpy(digits, p, 14);
	digits[14] = '\0';
	CHECK_STR(digits, want_digits);
	memset(&tm, 0, sizeof(tm));
	end = strptime(digits, "%Y%m%d%H%M%S", &tm);
	CHECK(end && *end == '\0');
	tm.tm_isdst = 0;
	read_back = mktime(&tm);
	CHECK_MSG(read_back == deadline, "%s: sshd reads %lld, deadline %lld",
		  what, (long long)read_back, (long long)deadline);
out:
	free(line);
}

static void test_local_expiry_paris(void)
{
	struct tm summer = { .tm_year = 2026 - 1900, .tm_mon = 6, .tm_mday = 15,
			     .tm_hour = 12 };
	struct tm winter = { .tm_year = 2026 - 1900, .tm_mon = 0, .tm_mday = 15,
			     .tm_hour = 12 };
	char *old_tz = getenv("TZ") ? strdup(getenv("TZ")) : NULL;

	if (access("/usr/share/zoneinfo/Europe/Paris", R_OK) != 0) {
		/* A missing zone would silently be UTC: fail, naming the fix. */
		CHECK_MSG(false, "Europe/Paris zone missing: apt-get install tzdata");
		free(old_tz);
		return;
	}
	setenv("TZ", "Europe/Paris", 1);
	tzset();
	/* 12:00 UTC is 14:00 CEST; sshd's mktime(tm_isdst = 0) takes the
	 * digits as CET (UTC+1), so the line must say 13:00. */
	check_local_readback("Paris summer", timegm(&summer), "20260715130000");
	check_local_readback("Paris winter", timegm(&winter), "20260115130000");
	if (old_tz)
		setenv("TZ", old_tz, 1);
	else
		unsetenv("TZ");
	tzset();
	free(old_tz);
}

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

/* ---- KEXINIT ---- */

static size_t put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
	return 4;
}

static size_t put_list(unsigned char *p, const char *list)
{
	size_t n = put_u32(p, (uint32_t)strlen(list));

	memcpy(p + n, list, strlen(list));
	return n + strlen(list);
}

/* A KEXINIT packet as sshd sends it, with hostkeys as its host key list. */
static size_t make_kexinit(unsigned char *buf, const char *hostkeys)
{
	static const char *const rest[] = {
		"chacha20-poly1305@openssh.com", "chacha20-poly1305@openssh.com",
		"hmac-sha2-256", "hmac-sha2-256", "none,zlib@openssh.com",
		"none,zlib@openssh.com", "", "",
	};
	size_t pos = 5, padding = 8;

	buf[pos++] = 20;
	memset(buf + pos, 0xa5, 16);
	pos += 16;
	pos += put_list(buf + pos, "curve25519-sha256,diffie-hellman-group14-sha256");
	pos += put_list(buf + pos, hostkeys);
	for (size_t i = 0; i < SL_ARRAY_SIZE(rest); i++)
		pos += put_list(buf + pos, rest[i]);
	buf[pos++] = 0;
	pos += put_u32(buf + pos, 0);
	memset(buf + pos, 0, padding);
	pos += padding;
	put_u32(buf, (uint32_t)(pos - 4));
	buf[4] = (unsigned char)padding;
	return pos;
}

static void test_kexinit(void)
{
	unsigned char buf[1024], copy[1024];
	char out[256];
	const char *why = NULL;
	size_t len = make_kexinit(buf, "rsa-sha2-512,rsa-sha2-256,ssh-ed25519");

	CHECK_INT(sshd_kexinit_host_key_algorithms(buf, len, out, sizeof(out), &why), 0);
	CHECK_STR(out, "rsa-sha2-512,rsa-sha2-256,ssh-ed25519");
	/* Trailing bytes (the next packet) are not its business. */
	memset(buf + len, 0x42, 16);
	CHECK_INT(sshd_kexinit_host_key_algorithms(buf, len + 16, out, sizeof(out),
						   &why),
		  0);

	/* Every truncation is refused. */
	for (size_t cut = 0; cut < len; cut++)
		CHECK_MSG(sshd_kexinit_host_key_algorithms(buf, cut, out, sizeof(out),
							   &why) == SL_REFUSED,
			  "truncated to %zu bytes: not refused", cut);
	/* Too small an output buffer. */
	CHECK_INT(sshd_kexinit_host_key_algorithms(buf, len, out, 10, &why),
		  SL_REFUSED);

	memcpy(copy, buf, len);
	copy[5] = 21; /* not KEXINIT */
	CHECK_INT(sshd_kexinit_host_key_algorithms(copy, len, out, sizeof(out), &why),
		  SL_REFUSED);
	memcpy(copy, buf, len);
	put_u32(copy, 40000); /* over the limit */
	CHECK_INT(sshd_kexinit_host_key_algorithms(copy, len, out, sizeof(out), &why),
		  SL_REFUSED);
	memcpy(copy, buf, len);
	copy[4] = 250; /* padding eats the payload */
	CHECK_INT(sshd_kexinit_host_key_algorithms(copy, len, out, sizeof(out), &why),
		  SL_REFUSED);
	memcpy(copy, buf, len);
	put_u32(copy + 5 + 17, 5000); /* kex list longer than the payload */
	CHECK_INT(sshd_kexinit_host_key_algorithms(copy, len, out, sizeof(out), &why),
		  SL_REFUSED);

	len = make_kexinit(buf, "");
	CHECK_INT(sshd_kexinit_host_key_algorithms(buf, len, out, sizeof(out), &why),
		  SL_REFUSED);
	len = make_kexinit(buf, "ssh-ed25519,\x1b[2J");
	CHECK_INT(sshd_kexinit_host_key_algorithms(buf, len, out, sizeof(out), &why),
		  SL_REFUSED);
	len = make_kexinit(buf, "ssh-ed25519 ssh-rsa");
	CHECK_INT(sshd_kexinit_host_key_algorithms(buf, len, out, sizeof(out), &why),
		  SL_REFUSED);
}

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

static void test_info_json(void)
{
	struct sshd_info info = {
		.source = SSHD_SOURCE_PROBE,
		.version = { 9, 2 },
		.software = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
		.port = 22,
		.address = "127.0.0.1",
		.n_host_keys = 2,
		.host_keys = {
			{ "ssh-ed25519", "SHA256:5AqmqjYjtpHUQoWPnQXkKaDKaENuchwqmN1p6q8RZ4s" },
			{ "ecdsa-sha2-nistp256", "SHA256:tcoHGTfiNXryJQySye/ufIQeYEelDTeKmALJdScVZ4U" },
		},
	};
	json_t *j = sshd_info_to_json(&info);
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	CHECK_STR(text,
		  "{\"address\":\"127.0.0.1\",\"host_keys\":[{\"fingerprint\":"
		  "\"SHA256:5AqmqjYjtpHUQoWPnQXkKaDKaENuchwqmN1p6q8RZ4s\","
		  "\"key_type\":\"ssh-ed25519\"},{\"fingerprint\":"
		  "\"SHA256:tcoHGTfiNXryJQySye/ufIQeYEelDTeKmALJdScVZ4U\","
		  "\"key_type\":\"ecdsa-sha2-nistp256\"}],\"port\":22,"
		  "\"probe_error\":null,\"software\":\"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\","
		  "\"source\":\"probe\",\"version\":\"9.2\",\"warning\":null}");
	free(text);
	json_decref(j);

	memset(&info, 0, sizeof(info));
	info.port = 2222;
	snprintf(info.probe_error, sizeof(info.probe_error), "refused");
	snprintf(info.warning, sizeof(info.warning), "not root's");
	j = sshd_info_to_json(&info);
	text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	CHECK_STR(text, "{\"address\":null,\"host_keys\":[],\"port\":2222,"
			"\"probe_error\":\"refused\",\"software\":null,"
			"\"source\":null,\"version\":null,\"warning\":\"not root's\"}");
	free(text);
	json_decref(j);
}

/* ---- whose socket listens: /proc/net/tcp ---- */

/*
 * Lines as Linux prints them in /proc/net/tcp and /proc/net/tcp6 on a
 * little-endian machine (each 32-bit word of an address is printed as the
 * number it is in memory, so the bytes of 127.0.0.1 read 0100007F), and
 * whether each listener would take a connection to 127.0.0.1:22 or
 * [::1]:22.
 */
static void test_tcp_socket_parse(void)
{
#define TAIL4 " 00000000:00000000 00:00000000 00000000"
#define REST " 0 21335 1 0000000000000000 100 0 0 10 0\n"
#define ANY6 "00000000000000000000000000000000"
	static const struct {
		const char *name, *line;
		bool ok;
		int family;
		const char *address; /* as inet_ntop would write it */
		unsigned port, state;
		unsigned long uid;
		bool serves4, serves6; /* 127.0.0.1:22, [::1]:22 */
	} cases[] = {
		{ "loopback, root", "   0: 0100007F:0016 00000000:0000 0A" TAIL4 "     0" REST,
		  true, AF_INET, "127.0.0.1", 22, 0x0A, 0, true, false },
		{ "IPv4 wildcard, nobody", "   1: 00000000:0016 00000000:0000 0A" TAIL4 " 65534" REST,
		  true, AF_INET, "0.0.0.0", 22, 0x0A, 65534, true, false },
		{ "wrong port", "   2: 00000000:08AE 00000000:0000 0A" TAIL4 "  1000" REST,
		  true, AF_INET, "0.0.0.0", 2222, 0x0A, 1000, false, false },
		{ "wrong state (established)", "   3: 0100007F:0016 0100007F:C350 01" TAIL4 "  1000" REST,
		  true, AF_INET, "127.0.0.1", 22, 0x01, 1000, false, false },
		{ "another address", "   4: 0500000A:0016 00000000:0000 0A" TAIL4 "  1000" REST,
		  true, AF_INET, "10.0.0.5", 22, 0x0A, 1000, false, false },
		{ "127.0.0.2", "   5: 0200007F:0016 00000000:0000 0A" TAIL4 "  1000" REST,
		  true, AF_INET, "127.0.0.2", 22, 0x0A, 1000, false, false },
		{ "no newline, lower-case hex", "   6: 0100007f:0016 00000000:0000 0a" TAIL4 " 7",
		  true, AF_INET, "127.0.0.1", 22, 0x0A, 7, true, false },
		{ "IPv6 wildcard (takes IPv4 too)", "   0: " ANY6 ":0016 " ANY6 ":0000 0A" TAIL4 "  1000" REST,
		  true, AF_INET6, "::", 22, 0x0A, 1000, true, true },
		{ "IPv6 loopback", "   1: 00000000000000000000000001000000:0016 " ANY6 ":0000 0A" TAIL4 "     0" REST,
		  true, AF_INET6, "::1", 22, 0x0A, 0, false, true },
		{ "IPv6 loopback, wrong port", "   2: 00000000000000000000000001000000:0017 " ANY6 ":0000 0A" TAIL4 "     0" REST,
		  true, AF_INET6, "::1", 23, 0x0A, 0, false, false },
		{ "IPv4-mapped loopback", "   3: 0000000000000000FFFF00000100007F:0016 " ANY6 ":0000 0A" TAIL4 "  1000" REST,
		  true, AF_INET6, "::ffff:127.0.0.1", 22, 0x0A, 1000, true, false },
		{ "IPv4-mapped wildcard", "   4: 0000000000000000FFFF000000000000:0016 " ANY6 ":0000 0A" TAIL4 "  1000" REST,
		  true, AF_INET6, "::ffff:0.0.0.0", 22, 0x0A, 1000, true, false },
		{ "IPv4-mapped other", "   5: 0000000000000000FFFF00000500000A:0016 " ANY6 ":0000 0A" TAIL4 "  1000" REST,
		  true, AF_INET6, "::ffff:10.0.0.5", 22, 0x0A, 1000, false, false },
		{ "IPv6 other address", "   6: B80D0120000000000000000001000000:0016 " ANY6 ":0000 0A" TAIL4 "  1000" REST,
		  true, AF_INET6, "2001:db8::1", 22, 0x0A, 1000, false, false },
		{ "IPv6 time-wait", "   7: 00000000000000000000000001000000:0016 00000000000000000000000001000000:C350 06" TAIL4 "     0" REST,
		  true, AF_INET6, "::1", 22, 0x06, 0, false, false },
		/* refused */
		{ .name = "heading", .line = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" },
		{ .name = "empty", .line = "" },
		{ .name = "no uid", .line = "   0: 0100007F:0016 00000000:0000 0A" TAIL4 "\n" },
		{ .name = "slot without colon", .line = "   0 0100007F:0016 00000000:0000 0A" TAIL4 " 0" REST },
		{ .name = "slot not a number", .line = "   x: 0100007F:0016 00000000:0000 0A" TAIL4 " 0" REST },
		{ .name = "short address", .line = "   0: 100007F:0016 00000000:0000 0A" TAIL4 " 0" REST },
		{ .name = "not hex", .line = "   0: 0100007G:0016 00000000:0000 0A" TAIL4 " 0" REST },
		{ .name = "no port colon", .line = "   0: 0100007F-0016 00000000:0000 0A" TAIL4 " 0" REST },
		{ .name = "five-digit port", .line = "   0: 0100007F:00016 00000000:0000 0A" TAIL4 " 0" REST },
		{ .name = "families differ", .line = "   0: 0100007F:0016 " ANY6 ":0000 0A" TAIL4 " 0" REST },
		{ .name = "state of three digits", .line = "   0: 0100007F:0016 00000000:0000 00A" TAIL4 " 0" REST },
		{ .name = "uid not decimal", .line = "   0: 0100007F:0016 00000000:0000 0A" TAIL4 " 0x1" REST },
		{ .name = "negative uid", .line = "   0: 0100007F:0016 00000000:0000 0A" TAIL4 " -1" REST },
		{ .name = "uid too big", .line = "   0: 0100007F:0016 00000000:0000 0A" TAIL4 " 4294967296" REST },
		{ .name = "uid of eleven digits", .line = "   0: 0100007F:0016 00000000:0000 0A" TAIL4 " 00000000000" REST },
		{ .name = "tab separated", .line = "   0:\t0100007F:0016 00000000:0000 0A" TAIL4 " 0" REST },
	};
	unsigned char loopback4[4], loopback6[16];

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	fprintf(stderr, "skipped: the /proc/net/tcp lines are those of a little-endian machine\n");
	return;
#endif
	inet_pton(AF_INET, "127.0.0.1", loopback4);
	inet_pton(AF_INET6, "::1", loopback6);
	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		struct sshd_tcp_socket sock;
		char text[INET6_ADDRSTRLEN];
		const char *why = NULL;
		int r = sshd_tcp_socket_parse(cases[i].line, &sock, &why);

		if (!cases[i].ok) {
			CHECK_MSG(r == SL_REFUSED && why, "%s: not refused", cases[i].name);
			continue;
		}
		CHECK_MSG(r == 0, "%s: refused (%s)", cases[i].name, why ? why : "?");
		if (r != 0)
			continue;
		CHECK_MSG(sock.family == cases[i].family, "%s: family", cases[i].name);
		inet_ntop(sock.family, sock.address, text, sizeof(text));
		CHECK_MSG(strcmp(text, cases[i].address) == 0, "%s: address %s",
			  cases[i].name, text);
		CHECK_MSG(sock.port == cases[i].port, "%s: port %u", cases[i].name, sock.port);
		CHECK_MSG(sock.state == cases[i].state, "%s: state %x", cases[i].name,
			  sock.state);
		CHECK_MSG(sock.uid == cases[i].uid, "%s: uid %lu", cases[i].name, sock.uid);
		CHECK_MSG(sshd_tcp_socket_serves(&sock, AF_INET, loopback4, 22) ==
				  cases[i].serves4,
			  "%s: serves 127.0.0.1:22 should be %d", cases[i].name,
			  cases[i].serves4);
		CHECK_MSG(sshd_tcp_socket_serves(&sock, AF_INET6, loopback6, 22) ==
				  cases[i].serves6,
			  "%s: serves [::1]:22 should be %d", cases[i].name,
			  cases[i].serves6);
	}
#undef TAIL4
#undef REST
#undef ANY6
}

/* ---- the probe against servers that are not sshd ---- */

/*
 * A listener on 127.0.0.1 that answers every connection with text and hangs
 * up: what the probe meets when the port is not an OpenSSH server. (Real
 * sshd is probed by the integration tests.) Returns the child's pid.
 */
static pid_t fake_server(const char *text, unsigned *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
		CHECK_MSG(false, "fake server: %s", strerror(errno));
		return -1;
	}
	*port = ntohs(sin.sin_port);
	pid = fork();
	if (pid == 0) {
		alarm(60); /* never outlive a hung test */
		for (;;) {
			int c = accept(fd, NULL, NULL);

			if (c < 0)
				continue;
			if (write(c, text, strlen(text)) < 0)
				_exit(1);
			close(c);
		}
	}
	close(fd);
	return pid;
}

static void fake_server_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

static void test_probe_not_sshd(void)
{
	static const char *const loopback[] = { "127.0.0.1", NULL };
	struct sshd_probe_options o = {
		.exec = { .sshd_path = "/nonexistent/sshd", .timeout = 5 },
		.addresses = loopback,
	};
	struct sshd_info info;
	const char *why = NULL;
	unsigned port = 0;
	pid_t pid;

	/* Another SSH server: it answers, but has no OpenSSH version. */
	pid = fake_server("SSH-2.0-dropbear_2022.83\r\n", &port);
	o.port = port;
	CHECK_INT(sshd_probe(&o, &info, &why), 0);
	CHECK_INT(info.source, SSHD_SOURCE_PROBE);
	CHECK(!sshd_version_known(&info.version));
	CHECK_STR(info.software, "SSH-2.0-dropbear_2022.83");
	CHECK_STR(info.address, "127.0.0.1");
	CHECK_INT(info.port, port);
	CHECK_INT(info.n_host_keys, 0);
	CHECK_STR(info.probe_error, "");
	fake_server_stop(pid);

	/* Lines before the banner are allowed (RFC 4253 4.2); escapes in the
	 * banner are not passed on. */
	pid = fake_server("hello\r\nSSH-2.0-OpenSSH_8.4p1 \x1b[2J\r\n", &port);
	o.port = port;
	CHECK_INT(sshd_probe(&o, &info, &why), 0);
	CHECK_INT(info.source, SSHD_SOURCE_PROBE);
	CHECK_STR(info.software, "SSH-2.0-OpenSSH_8.4p1 ?[2J");
	CHECK(info.version.major == 8 && info.version.minor == 4);
	fake_server_stop(pid);

	/* Not SSH at all, and no sshd binary to ask. */
	pid = fake_server("HTTP/1.1 400 Bad Request\r\n\r\n", &port);
	o.port = port;
	CHECK_INT(sshd_probe(&o, &info, &why), SL_NOT_FOUND);
	CHECK(why != NULL);
	CHECK_INT(info.source, SSHD_SOURCE_NONE);
	CHECK_INT(info.port, port);
	CHECK_MSG(strstr(info.probe_error, "no SSH server answered on 127.0.0.1 port ") &&
			  strstr(info.probe_error, "no SSH banner"),
		  "probe_error: %s", info.probe_error);
	fake_server_stop(pid);
}

/*
 * A listener that answers every connection with text, as uid (set before
 * the socket is made, so the socket is that uid's), on the wildcard of
 * family (AF_INET: 0.0.0.0, AF_INET6: ::, which takes IPv4 too) or on
 * 127.0.0.1 (loopback true). Returns the child's pid, the port in *port.
 */
static pid_t fake_server_as(uid_t uid, int family, bool loopback,
			    const char *text, unsigned *port)
{
	int fds[2];
	pid_t pid;
	unsigned got = 0;

	if (pipe(fds) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct sockaddr_storage ss = { 0 };
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		socklen_t len = family == AF_INET ? sizeof(*sin) : sizeof(*sin6);
		int fd, off = 0;

		alarm(60); /* never outlive a hung test */
		close(fds[0]);
		if (setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0)
			_exit(1);
		ss.ss_family = (sa_family_t)family;
		if (family == AF_INET && loopback)
			sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
		if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) != 0 ||
		    listen(fd, 16) != 0 ||
		    getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
			_exit(1);
		got = ntohs(family == AF_INET ? sin->sin_port : sin6->sin6_port);
		if (write(fds[1], &got, sizeof(got)) != sizeof(got))
			_exit(1);
		close(fds[1]);
		for (;;) {
			int c = accept(fd, NULL, NULL);

			if (c < 0)
				continue;
			if (write(c, text, strlen(text)) < 0)
				_exit(1);
			close(c);
		}
	}
	close(fds[1]);
	if (pid < 0 || read(fds[0], &got, sizeof(got)) != sizeof(got)) {
		CHECK_MSG(false, "fake server as uid %u did not start", (unsigned)uid);
		close(fds[0]);
		if (pid > 0)
			fake_server_stop(pid);
		return -1;
	}
	close(fds[0]);
	*port = got;
	return pid;
}

/*
 * Item: a local user listens on the port the daemon probes and answers with
 * a banner and keys of its choice. sshd_listener_check names its uid; the
 * probe does not believe it (nothing of its banner is kept; sshd -V gives
 * the version) and warning says which uid listens. A listener of root's
 * own (and this process's, when not root) is believed.
 */
static void test_probe_not_root(void)
{
	static const char *const loopback[] = { "127.0.0.1", NULL };
	struct sshd_probe_options o = {
		.exec = { .sshd_path = "/nonexistent/sshd", .timeout = 5 },
		.addresses = loopback,
	};
	const uid_t nobody = 65534;
	const char *prefix = "no trusted SSH server answered on 127.0.0.1 port ";
	struct sshd_info info;
	unsigned long owner = 0;
	const char *why = NULL;
	unsigned port = 0;
	pid_t pid;

	if (geteuid() != 0) {
		fprintf(stderr, "skipped: the listener of another user needs root\n");
		return;
	}

	/* root's: believed */
	pid = fake_server_as(0, AF_INET, true, "SSH-2.0-OpenSSH_7.4\r\n", &port);
	CHECK_INT(sshd_listener_check("127.0.0.1", port, &owner, &why), 0);
	o.port = port;
	CHECK_INT(sshd_probe(&o, &info, &why), 0);
	CHECK_INT(info.source, SSHD_SOURCE_PROBE);
	CHECK(info.version.major == 7 && info.version.minor == 4);
	CHECK_STR(info.warning, "");
	fake_server_stop(pid);
	/* ... and once it is gone, nothing listens there. */
	CHECK_INT(sshd_listener_check("127.0.0.1", port, &owner, &why), SL_NOT_FOUND);

	/* nobody's on 127.0.0.1, on 0.0.0.0, and on :: (which takes IPv4) */
	for (int i = 0; i < 3; i++) {
		int family = i == 2 ? AF_INET6 : AF_INET;

		pid = fake_server_as(nobody, family, i == 0,
				     "SSH-2.0-OpenSSH_7.4 fake\r\n", &port);
		if (pid < 0)
			continue;
		owner = 0;
		CHECK_INT(sshd_listener_check("127.0.0.1", port, &owner, &why),
			  SL_REFUSED);
		CHECK_INT(owner, nobody);
		o.port = port;
		o.exec.sshd_path = "/nonexistent/sshd";
		memset(&info, 0xa5, sizeof(info));
		CHECK_INT(sshd_probe(&o, &info, &why), SL_NOT_FOUND);
		CHECK_INT(info.source, SSHD_SOURCE_NONE);
		CHECK(!sshd_version_known(&info.version));
		CHECK_STR(info.software, "");
		CHECK_STR(info.address, "");
		CHECK_MSG(strstr(info.warning, "a process of uid 65534") &&
				  strstr(info.warning, "not root, listens on 127.0.0.1 port") &&
				  strstr(info.warning, "its answer is ignored"),
			  "warning: %s", info.warning);
		CHECK_MSG(strncmp(info.probe_error, prefix, strlen(prefix)) == 0 &&
				  strstr(info.probe_error, "uid 65534"),
			  "probe_error: %s", info.probe_error);

		/* With an sshd binary: its -V gives the version, not the
		 * listener's banner. */
		o.exec.sshd_path = NULL;
		if (sshd_probe(&o, &info, &why) == 0) {
			CHECK_INT(info.source, SSHD_SOURCE_BINARY);
			CHECK_MSG(strncmp(info.software, "OpenSSH_", 8) == 0,
				  "software: %s", info.software);
			CHECK(!(info.version.major == 7 && info.version.minor == 4));
			CHECK(strstr(info.warning, "uid 65534") != NULL);
		} else {
			fprintf(stderr, "no sshd installed: the fallback is not checked\n");
		}
		fake_server_stop(pid);
	}
}

int main(void)
{
	TEST(test_banner());
	TEST(test_version_output());
	TEST(test_expiry_for());
	TEST(test_local_expiry_paris());
	TEST(test_settings_parse());
	TEST(test_settings_port());
	TEST(test_pattern());
	TEST(test_access());
	TEST(test_keys_file());
	TEST(test_kexinit());
	TEST(test_find_and_load());
	TEST(test_info_json());
	TEST(test_tcp_socket_parse());
	TEST(test_probe_not_sshd());
	TEST(test_probe_not_root());
	return test_done();
}

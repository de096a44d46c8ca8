/*
 * sshd-version: banner and sshd -V parsing, the expiry-time choice, and the
 * local form read back as sshd 7.7-9.0 reads it.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "authkeys.h"
#include "sshd-version.h"
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

int main(void)
{
	TEST(test_banner());
	TEST(test_version_output());
	TEST(test_expiry_for());
	TEST(test_local_expiry_paris());
	return test_done();
}

/* Unit tests for durations and absolute times (include/timeutil.h). */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "test.h"
#include "timeutil.h"

static const char r_empty[] = "empty duration";
static const char r_sign[] = "a duration has no sign; write e.g. 48h";
static const char r_space[] = "spaces are not allowed in a duration; write e.g. 1d12h";
static const char r_fraction[] = "fractions are not allowed in a duration; write e.g. 1h30m";
static const char r_no_number[] = "missing number before unit";
static const char r_no_unit[] = "missing unit after number (use s, m, h, d or w)";
static const char r_unknown_unit[] = "unknown unit (use s, m, h, d or w)";
static const char r_junk[] = "unexpected character in duration (use digits and s, m, h, d, w)";
static const char r_order[] = "units must be largest first, each at most once (e.g. 1d12h)";
static const char r_zero[] = "a duration must be longer than zero";
static const char r_long[] = "duration too long (at most 100 years)";

static void test_duration_accepts(void)
{
	static const struct {
		const char *text;
		int64_t seconds;
	} cases[] = {
		{ "90s", 90 },
		{ "30m", 1800 },
		{ "48h", 172800 },
		{ "7d", 604800 },
		{ "2w", 1209600 },
		{ "1d12h", 129600 },
		{ "1w2d3h4m5s", 788645 },
		{ "1h30m", 5400 },
		{ "0d12h", 43200 },
		{ "007d", 604800 },
		{ "1s", 1 },
		{ "36500d", 3153600000 },
		{ "5214w2d", 3153600000 },
		{ "3153600000s", 3153600000 },
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		const char *why = NULL;
		int64_t seconds = -1;
		int r = duration_parse(cases[i].text, &seconds, &why);

		CHECK_MSG(r == 0, "\"%s\": %d (%s)", cases[i].text, r, why ? why : "");
		CHECK_MSG(seconds == cases[i].seconds, "\"%s\" = %lld, expected %lld",
			  cases[i].text, (long long)seconds,
			  (long long)cases[i].seconds);
	}
	CHECK_INT(DURATION_MAX, 3153600000);
}

static void test_duration_refuses(void)
{
	static const struct {
		const char *name;
		const char *text;
		const char *why;
	} cases[] = {
		{ "NULL", NULL, r_empty },
		{ "empty", "", r_empty },
		{ "zero", "0s", r_zero },
		{ "zero in parts", "0d0h", r_zero },
		{ "negative", "-1h", r_sign },
		{ "plus sign", "+1h", r_sign },
		{ "sign inside", "1d-2h", r_sign },
		{ "space inside", "1 h", r_space },
		{ "leading space", " 1h", r_space },
		{ "trailing space", "1h ", r_space },
		{ "tab", "1d\t2h", r_space },
		{ "newline", "1h\n", r_space },
		{ "no unit", "90", r_no_unit },
		{ "no unit at end", "1d12", r_no_unit },
		{ "no number", "h", r_no_number },
		{ "unit twice in a row", "1dh", r_no_number },
		{ "unknown unit", "5y", r_unknown_unit },
		{ "upper-case unit", "48H", r_unknown_unit },
		{ "word unit", "2days", r_unknown_unit },
		{ "unit with letters after", "48hrs", r_unknown_unit },
		{ "trailing letter", "48hx", r_unknown_unit },
		{ "trailing punctuation", "48h!", r_junk },
		{ "leading junk", "x48h", r_junk },
		{ "fraction", "1.5h", r_fraction },
		{ "comma", "1,5h", r_fraction },
		{ "ascending units", "1h1d", r_order },
		{ "repeated unit", "1h1h", r_order },
		{ "ascending after valid", "1w1d1w", r_order },
		{ "over 100 years", "36501d", r_long },
		{ "over 100 years summed", "5214w3d", r_long },
		{ "over 100 years in seconds", "3153600001s", r_long },
		{ "int64 max", "9223372036854775807s", r_long },
		{ "beyond uint64", "99999999999999999999999999w", r_long },
		{ "sum overflows", "5000w5000d", r_long },
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		const char *why = NULL;
		int64_t seconds = 12345;
		int r = duration_parse(cases[i].text, &seconds, &why);

		CHECK_MSG(r == SL_REFUSED, "%s: returned %d", cases[i].name, r);
		CHECK_MSG(why && strcmp(why, cases[i].why) == 0,
			  "%s: why = \"%s\", expected \"%s\"", cases[i].name,
			  why ? why : "(null)", cases[i].why);
		CHECK_MSG(seconds == 12345, "%s: *out was written", cases[i].name);
	}
}

static void test_duration_format(void)
{
	static const struct {
		int64_t seconds;
		const char *text;
	} cases[] = {
		{ 0, "0s" },
		{ 1, "1s" },
		{ 90, "1m 30s" },
		{ 2700, "45m" },
		{ 3600, "1h" },
		{ 183600, "2d 3h" },
		{ 86401, "1d 1s" },
		{ 604800, "7d" },
		{ 788645, "9d 3h 4m 5s" },
		{ -3600, "-1h" },
		{ -90, "-1m 30s" },
		{ INT64_MIN, "-106751991167300d 15h 30m 8s" },
		{ INT64_MAX, "106751991167300d 15h 30m 7s" },
	};
	char buf[64];

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		memset(buf, 'X', sizeof(buf));
		duration_format(cases[i].seconds, buf, sizeof(buf));
		CHECK_STR(buf, cases[i].text);
	}

	/* Truncated, but always terminated. */
	memset(buf, 'X', sizeof(buf));
	duration_format(183600, buf, 4);
	CHECK_STR(buf, "2d ");
	CHECK(buf[4] == 'X');
	memset(buf, 'X', sizeof(buf));
	duration_format(90, buf, 1);
	CHECK_STR(buf, "");
	/* size 0 writes nothing */
	memset(buf, 'X', sizeof(buf));
	duration_format(90, buf, 0);
	CHECK(buf[0] == 'X');

	/* Each parsed form formats back to the same length of time. */
	{
		const char *why = NULL;
		int64_t seconds = 0;

		CHECK_INT(duration_parse("1d12h", &seconds, &why), 0);
		duration_format(seconds, buf, sizeof(buf));
		CHECK_STR(buf, "1d 12h");
	}
}

static void set_tz(const char *tz)
{
	CHECK_INT(setenv("TZ", tz, 1), 0);
	tzset();
}

static void test_time_accepts(void)
{
	static const struct {
		const char *text;
		time_t t;
	} cases[] = {
		/* Paris in winter is UTC+1 (CET) */
		{ "2026-12-01 18:00", 1796144400 },
		{ "2026-12-01 18:00:00", 1796144400 },
		{ "2026-12-01T18:00", 1796144400 },
		{ "2026-12-01T18:00:00", 1796144400 },
		/* and in summer UTC+2 (CEST) */
		{ "2026-07-01 12:00", 1782900000 },
		/* explicit UTC and offsets ignore the local zone */
		{ "2026-12-01T17:00:00Z", 1796144400 },
		{ "2026-12-01 17:00Z", 1796144400 },
		{ "2026-12-01 18:00+01:00", 1796144400 },
		{ "2026-12-01 12:00-05:00", 1796144400 },
		{ "2026-12-01T22:30:00+05:30", 1796144400 },
		{ "2026-12-01 17:00+00:00", 1796144400 },
		{ "2026-07-01T10:00:00Z", 1782900000 },
		{ "2026-07-01 10:00-00:00", 1782900000 },
		{ "2024-02-29 00:00Z", 1709164800 },
		{ "1970-01-01 00:00:00Z", 0 },
		{ "9999-12-31 23:59:59Z", 253402300799 },
		/* around the spring-forward gap (2026-03-29 02:00 -> 03:00) */
		{ "2026-03-29 01:59", 1774745940 },
		{ "2026-03-29 03:00", 1774746000 },
		/* around the autumn overlap (2026-10-25 03:00 -> 02:00) */
		{ "2026-10-25 01:59:59", 1792886399 },
		{ "2026-10-25 03:00", 1792893600 },
		/* a time inside the gap is fine with an explicit offset */
		{ "2026-03-29 02:30Z", 1774751400 },
	};

	set_tz("Europe/Paris");
	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		const char *why = NULL;
		time_t t = -1;
		int r = time_parse(cases[i].text, &t, &why);

		CHECK_MSG(r == 0, "\"%s\": %d (%s)", cases[i].text, r, why ? why : "");
		CHECK_MSG(t == cases[i].t, "\"%s\" = %lld, expected %lld",
			  cases[i].text, (long long)t, (long long)cases[i].t);
	}

	/* In UTC the Paris gap is an ordinary time. */
	{
		const char *why = NULL;
		time_t t = -1;

		set_tz("UTC");
		CHECK_INT(time_parse("2026-03-29 02:30", &t, &why), 0);
		CHECK_INT(t, 1774751400);
		CHECK_INT(time_parse("2026-10-25 02:30", &t, &why), 0);
		CHECK_INT(t, 1792895400);
	}
}

static void test_time_refuses(void)
{
	static const char malformed[] =
		"expected YYYY-MM-DD HH:MM[:SS], optionally followed by Z or +HH:MM";
	static const char gap[] =
		"that local time does not exist (the clocks skip it); "
		"choose another time, or add Z or an offset";
	static const char overlap[] =
		"that local time happens twice (the clocks go back); "
		"add an offset such as +01:00 to say which";
	static const struct {
		const char *text;
		const char *why;
	} cases[] = {
		{ "", "empty time" },
		{ "2026-13-01 10:00", "month out of range (01-12)" },
		{ "2026-00-10 10:00", "month out of range (01-12)" },
		{ "2026-02-30 10:00", "day out of range for that month" },
		{ "2025-02-29 10:00", "day out of range for that month" },
		{ "2100-02-29 10:00", "day out of range for that month" },
		{ "2026-04-31 10:00", "day out of range for that month" },
		{ "2026-12-00 10:00", "day out of range for that month" },
		{ "2026-12-32 10:00", "day out of range for that month" },
		{ "2026-12-01 24:00", "hour out of range (00-23)" },
		{ "2026-12-01 10:60", "minute out of range (00-59)" },
		{ "2026-12-01 10:00:60", "second out of range (00-59)" },
		{ "1969-12-31 23:00Z", "year out of range (1970-9999)" },
		{ "0000-01-01 00:00Z", "year out of range (1970-9999)" },
		{ "2026-12-01", malformed },
		{ "2026-12-01 10", malformed },
		{ "2026-12-01 10:0", malformed },
		{ "2026-12-01 10:00:", malformed },
		{ "26-12-01 10:00", malformed },
		{ "2026/12/01 10:00", malformed },
		{ "2026-12-1 10:00", malformed },
		{ "2026-12-01  10:00", malformed },
		{ "2026-12-01t10:00", malformed },
		{ " 2026-12-01 10:00", malformed },
		{ "tomorrow", malformed },
		{ "+2026-12-01 10:00", malformed },
		{ "2026-12-01 10:00z", "unexpected characters after the time" },
		{ "2026-12-01 10:00 Z", "unexpected characters after the time" },
		{ "2026-12-01 10:00:00.5", "unexpected characters after the time" },
		{ "2026-12-01 10:00Z ", "unexpected characters after the time" },
		{ "2026-12-01 10:00+01:00x", "unexpected characters after the time" },
		{ "2026-12-01 10:00+0100", "malformed offset; write +HH:MM or -HH:MM" },
		{ "2026-12-01 10:00+1", "malformed offset; write +HH:MM or -HH:MM" },
		{ "2026-12-01 10:00+", "malformed offset; write +HH:MM or -HH:MM" },
		{ "2026-12-01 10:00+24:00", "offset out of range (-23:59 to +23:59)" },
		{ "2026-12-01 10:00-01:60", "offset out of range (-23:59 to +23:59)" },
		/* Europe/Paris: the clocks skip 02:00-02:59 on 2026-03-29 ... */
		{ "2026-03-29 02:00", gap },
		{ "2026-03-29 02:30", gap },
		{ "2026-03-29T02:59:59", gap },
		/* ... and pass 02:00-02:59 twice on 2026-10-25 */
		{ "2026-10-25 02:00", overlap },
		{ "2026-10-25 02:30", overlap },
	};

	set_tz("Europe/Paris");
	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		const char *why = NULL;
		time_t t = 777;
		int r = time_parse(cases[i].text, &t, &why);

		CHECK_MSG(r == SL_REFUSED, "\"%s\": returned %d", cases[i].text, r);
		CHECK_MSG(why && strcmp(why, cases[i].why) == 0,
			  "\"%s\": why = \"%s\", expected \"%s\"", cases[i].text,
			  why ? why : "(null)", cases[i].why);
		CHECK_MSG(t == 777, "\"%s\": *out was written", cases[i].text);
	}
	{
		const char *why = NULL;
		time_t t = 777;

		CHECK_INT(time_parse(NULL, &t, &why), SL_REFUSED);
		CHECK_STR(why, "empty time");
	}
}

static void test_time_format(void)
{
	char buf[64];

	time_format_utc(1796144400, buf, sizeof(buf));
	CHECK_STR(buf, "2026-12-01T17:00:00Z");
	time_format_utc(0, buf, sizeof(buf));
	CHECK_STR(buf, "1970-01-01T00:00:00Z");
	/* 21 bytes are enough, 20 are not: nothing half-written then */
	time_format_utc(1796144400, buf, 21);
	CHECK_STR(buf, "2026-12-01T17:00:00Z");
	time_format_utc(1796144400, buf, 20);
	CHECK_STR(buf, "");

	set_tz("Europe/Paris");
	time_format_local(1796144400, buf, sizeof(buf));
	CHECK_STR(buf, "2026-12-01 18:00:00 CET");
	time_format_local(1782900000, buf, sizeof(buf));
	CHECK_STR(buf, "2026-07-01 12:00:00 CEST");
	time_format_local(1782900000, buf, 10);
	CHECK_STR(buf, "");
	set_tz("UTC");
	time_format_local(1796144400, buf, sizeof(buf));
	CHECK_STR(buf, "2026-12-01 17:00:00 UTC");

	/* What time_format_local shows, time_parse reads back to the instant
	 * (without the zone name), on both sides of the DST change. */
	set_tz("Europe/Paris");
	for (time_t t = 1774740000; t < 1774760000; t += 1200) {
		const char *why = NULL;
		time_t back = 0;

		time_format_local(t, buf, sizeof(buf));
		buf[19] = '\0';
		CHECK_INT(time_parse(buf, &back, &why), 0);
		CHECK_INT(back, t);
	}
}

int main(void)
{
	TEST(test_duration_accepts());
	TEST(test_duration_refuses());
	TEST(test_duration_format());
	TEST(test_time_accepts());
	TEST(test_time_refuses());
	TEST(test_time_format());
	return test_done();
}

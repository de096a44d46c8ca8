/* Durations ("1d12h"), absolute times ("--until") and their display. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "timeutil.h"

static bool is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Seconds per unit, largest first: the order a duration must follow. */
static const struct {
	char unit;
	int64_t seconds;
} duration_units[] = {
	{ 'w', 7 * 86400 },
	{ 'd', 86400 },
	{ 'h', 3600 },
	{ 'm', 60 },
	{ 's', 1 },
};

static int unit_index(char c)
{
	for (size_t i = 0; i < SL_ARRAY_SIZE(duration_units); i++)
		if (duration_units[i].unit == c)
			return (int)i;
	return -1;
}

int duration_parse(const char *text, int64_t *out, const char **why)
{
	const char *p = text;
	int64_t total = 0;
	int next_unit = 0; /* index of the largest unit still allowed */

	if (!text || !*text) {
		*why = "empty duration";
		return SL_REFUSED;
	}
	/* Whole-string checks first, so "-1h" or "1 h" get the reason that
	 * says what is really wrong rather than "unexpected character". */
	for (const char *q = text; *q; q++) {
		if (*q == '-' || *q == '+') {
			*why = "a duration has no sign; write e.g. 48h";
			return SL_REFUSED;
		}
		if (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r' ||
		    *q == '\v' || *q == '\f') {
			*why = "spaces are not allowed in a duration; write e.g. 1d12h";
			return SL_REFUSED;
		}
		if (*q == '.' || *q == ',') {
			*why = "fractions are not allowed in a duration; write e.g. 1h30m";
			return SL_REFUSED;
		}
	}

	while (*p) {
		int64_t number = 0;
		int unit;

		if (!sl_is_digit(*p)) {
			if (unit_index(*p) >= 0)
				*why = "missing number before unit";
			else if (p > text && is_letter(*p)) /* "2days", "48hrs" */
				*why = "unknown unit (use s, m, h, d or w)";
			else
				*why = "unexpected character in duration (use digits and s, m, h, d, w)";
			return SL_REFUSED;
		}
		for (; sl_is_digit(*p); p++) {
			number = number * 10 + (*p - '0');
			/* Anything beyond the cap is refused anyway, so
			 * stopping here also keeps the arithmetic in range. */
			if (number > DURATION_MAX) {
				*why = "duration too long (at most 100 years)";
				return SL_REFUSED;
			}
		}
		if (!*p) {
			*why = "missing unit after number (use s, m, h, d or w)";
			return SL_REFUSED;
		}
		unit = unit_index(*p);
		if (unit < 0) {
			*why = is_letter(*p) ?
				       "unknown unit (use s, m, h, d or w)" :
				       "unexpected character in duration (use digits and s, m, h, d, w)";
			return SL_REFUSED;
		}
		if (unit < next_unit) {
			*why = "units must be largest first, each at most once (e.g. 1d12h)";
			return SL_REFUSED;
		}
		next_unit = unit + 1;
		p++;
		if (number > (DURATION_MAX - total) / duration_units[unit].seconds) {
			*why = "duration too long (at most 100 years)";
			return SL_REFUSED;
		}
		total += number * duration_units[unit].seconds;
	}
	if (total <= 0) {
		*why = "a duration must be longer than zero";
		return SL_REFUSED;
	}
	*out = total;
	return 0;
}

void duration_format(int64_t seconds, char *buf, size_t size)
{
	static const struct {
		const char *suffix;
		uint64_t seconds;
	} parts[] = {
		{ "d", 86400 },
		{ "h", 3600 },
		{ "m", 60 },
		{ "s", 1 },
	};
	uint64_t rest;
	size_t used = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	if (seconds == 0) {
		snprintf(buf, size, "0s");
		return;
	}
	if (seconds < 0) {
		/* Negate in unsigned arithmetic: INT64_MIN has no positive twin. */
		rest = (uint64_t)0 - (uint64_t)seconds;
		used = (size_t)snprintf(buf, size, "-");
	} else {
		rest = (uint64_t)seconds;
	}
	for (size_t i = 0; i < SL_ARRAY_SIZE(parts) && used < size; i++) {
		uint64_t count = rest / parts[i].seconds;
		int n;

		if (count == 0)
			continue;
		rest -= count * parts[i].seconds;
		n = snprintf(buf + used, size - used, "%s%llu%s",
			     used > 0 && buf[used - 1] != '-' ? " " : "",
			     (unsigned long long)count, parts[i].suffix);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* Read exactly n digits at *p into *value; advance *p. */
static bool read_digits(const char **p, int n, int *value)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!sl_is_digit((*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*value = v;
	return true;
}

static bool is_leap(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil): exact, and independent of the process's time zone. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era;
	int64_t yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool same_wall_time(const struct tm *a, const struct tm *b)
{
	return a->tm_year == b->tm_year && a->tm_mon == b->tm_mon &&
	       a->tm_mday == b->tm_mday && a->tm_hour == b->tm_hour &&
	       a->tm_min == b->tm_min && a->tm_sec == b->tm_sec;
}

/*
 * The instant a local wall time names. mktime alone would quietly move a time
 * in the spring-forward gap and pick one side of the autumn overlap, so try
 * both DST states and keep those that read back as the same wall time.
 */
static int local_to_time(const struct tm *wall, time_t *out, const char **why)
{
	time_t found[2];
	int n_found = 0;

	for (int isdst = 0; isdst <= 1; isdst++) {
		struct tm attempt = *wall, back;
		time_t t;

		attempt.tm_isdst = isdst;
		errno = 0;
		t = mktime(&attempt);
		if (t == (time_t)-1 && errno == EOVERFLOW)
			continue;
		if (!localtime_r(&t, &back))
			continue;
		if (!same_wall_time(wall, &back) || back.tm_isdst != isdst)
			continue;
		if (n_found == 0 || found[0] != t)
			found[n_found++] = t;
	}
	if (n_found == 0) {
		*why = "that local time does not exist (the clocks skip it); "
		       "choose another time, or add Z or an offset";
		return SL_REFUSED;
	}
	if (n_found > 1) {
		*why = "that local time happens twice (the clocks go back); "
		       "add an offset such as +01:00 to say which";
		return SL_REFUSED;
	}
	*out = found[0];
	return 0;
}

int time_parse(const char *text, time_t *out, const char **why)
{
	static const char malformed[] =
		"expected YYYY-MM-DD HH:MM[:SS], optionally followed by Z or +HH:MM";
	const char *p = text;
	int year, month, day, hour, minute, second = 0;
	int offset_sign = 0, offset_hour = 0, offset_minute = 0;
	bool utc = false;

	if (!text || !*text) {
		*why = "empty time";
		return SL_REFUSED;
	}
	if (!read_digits(&p, 4, &year) || *p++ != '-' ||
	    !read_digits(&p, 2, &month) || *p++ != '-' ||
	    !read_digits(&p, 2, &day) || (*p != ' ' && *p != 'T')) {
		*why = malformed;
		return SL_REFUSED;
	}
	p++;
	if (!read_digits(&p, 2, &hour) || *p++ != ':' ||
	    !read_digits(&p, 2, &minute)) {
		*why = malformed;
		return SL_REFUSED;
	}
	if (*p == ':') {
		p++;
		if (!read_digits(&p, 2, &second)) {
			*why = malformed;
			return SL_REFUSED;
		}
	}
	if (*p == 'Z') {
		utc = true;
		p++;
	} else if (*p == '+' || *p == '-') {
		offset_sign = *p == '+' ? 1 : -1;
		p++;
		if (!read_digits(&p, 2, &offset_hour) || *p++ != ':' ||
		    !read_digits(&p, 2, &offset_minute)) {
			*why = "malformed offset; write +HH:MM or -HH:MM";
			return SL_REFUSED;
		}
	}
	if (*p) {
		*why = "unexpected characters after the time";
		return SL_REFUSED;
	}

	if (year < 1970 || year > 9999) {
		*why = "year out of range (1970-9999)";
		return SL_REFUSED;
	}
	if (month < 1 || month > 12) {
		*why = "month out of range (01-12)";
		return SL_REFUSED;
	}
	if (day < 1 || day > days_in_month(year, month)) {
		*why = "day out of range for that month";
		return SL_REFUSED;
	}
	if (hour > 23) {
		*why = "hour out of range (00-23)";
		return SL_REFUSED;
	}
	if (minute > 59) {
		*why = "minute out of range (00-59)";
		return SL_REFUSED;
	}
	if (second > 59) {
		*why = "second out of range (00-59)";
		return SL_REFUSED;
	}
	if (offset_hour > 23 || offset_minute > 59) {
		*why = "offset out of range (-23:59 to +23:59)";
		return SL_REFUSED;
	}

	if (utc || offset_sign != 0) {
		int64_t t = days_from_civil(year, month, day) * 86400 +
			    hour * 3600 + minute * 60 + second;

		t -= offset_sign * (offset_hour * 3600 + offset_minute * 60);
		*out = (time_t)t;
		return 0;
	}

	struct tm wall = {
		.tm_year = year - 1900,
		.tm_mon = month - 1,
		.tm_mday = day,
		.tm_hour = hour,
		.tm_min = minute,
		.tm_sec = second,
	};
	return local_to_time(&wall, out, why);
}

void time_format_utc(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (size == 0)
		return;
	if (!gmtime_r(&t, &tm) ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		buf[0] = '\0';
}

void time_format_local(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (size == 0)
		return;
	if (!localtime_r(&t, &tm) ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
		buf[0] = '\0';
}

long long time_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

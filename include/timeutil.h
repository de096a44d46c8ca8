/* Durations ("1d12h"), absolute times ("--until") and their display. */
#ifndef SSHLEASE_TIMEUTIL_H
#define SSHLEASE_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common.h"

/* The longest duration duration_parse accepts: 100 years of 365 days. */
#define DURATION_MAX (INT64_C(36500) * 86400)

/*
 * Parse a duration: one or more <number><unit> groups, units s m h d w, each
 * unit at most once and in descending order ("90s", "30m", "48h", "7d",
 * "2w", "1d12h"). A zero total, signs, spaces, fractions, a missing or
 * unknown unit, anything over DURATION_MAX and trailing junk are refused.
 * Returns 0 with seconds in *out, or SL_REFUSED with *why.
 */
int duration_parse(const char *text, int64_t *out, const char **why);

/*
 * Human form of a duration for messages, largest unit first, zero parts left
 * out: "2d 3h", "45m", "1m 30s", "0s"; a negative one gets a leading "-".
 * Truncated to size (always NUL-terminated when size > 0); 32 bytes is enough.
 */
void duration_format(int64_t seconds, char *buf, size_t size);

/*
 * Parse an absolute time for --until: "YYYY-MM-DD HH:MM[:SS]" or
 * "YYYY-MM-DDTHH:MM[:SS]" in local time, or the same followed by "Z" or a
 * "+HH:MM"/"-HH:MM" offset. Returns 0 with the instant in *out, or
 * SL_REFUSED with *why: malformed, a field out of range (month 13, Feb 30,
 * hour 24, second 60), a local time the clocks skip (spring forward) or one
 * they pass twice (fall back: ambiguous without an offset).
 * Whether it lies in the future is the caller's policy.
 */
int time_parse(const char *text, time_t *out, const char **why);

/* RFC 3339 UTC, "2026-12-01T17:00:00Z"; buf needs 21 bytes. */
void time_format_utc(time_t t, char *buf, size_t size);

/* Local time with zone for people, "2026-12-01 18:00:00 CET". */
void time_format_local(time_t t, char *buf, size_t size);

/* CLOCK_MONOTONIC in milliseconds: for timeouts and pauses, never for
 * deadlines (those are CLOCK_REALTIME, time(2)). */
long long time_monotonic_ms(void);

#endif

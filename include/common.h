/* Conventions shared by every module: return codes, exit codes, helpers. */
#ifndef SSHLEASE_COMMON_H
#define SSHLEASE_COMMON_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Return convention for every function in src/common unless its header says
 * otherwise:
 *   0          success
 *   negative   a system failure, as -errno (e.g. -ENOMEM, -EIO)
 *   positive   an outcome the caller must handle, one of enum sl_result.
 *              Such a code is never passed up unhandled: a caller either
 *              acts on it or translates it for its own caller.
 * A function that can refuse takes `const char **why` and sets it to a static
 * reason string (never allocated, so the error path cannot fail).
 */
enum sl_result {
	SL_OK = 0,
	/* From 100 on, so that no outcome reads as an exit code (enum
	 * sl_exit, 0..5) or as a negative errno: a caller must translate it. */
	SL_REFUSED = 100,   /* input or policy says no; *why tells why */
	SL_NOT_FOUND = 101, /* the thing asked for does not exist */
	SL_CHANGED = 102,   /* changed under us (compare-and-swap lost) */
	SL_EXISTS = 103,    /* already there; refused rather than duplicated */
	SL_DENIED = 104,    /* the caller lacks the right to do this */
};

/* Exit codes of both programs (documented in sshlease(1)). */
enum sl_exit {
	SL_EXIT_OK = 0,
	SL_EXIT_FAILURE = 1,
	SL_EXIT_USAGE = 2,
	SL_EXIT_REFUSED = 3,
	SL_EXIT_DENIED = 4,
	SL_EXIT_UNREACHABLE = 5,
};

#define SL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SL_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define SL_UNUSED __attribute__((unused))

/* An ASCII decimal digit, whatever the locale (isdigit takes an int and is
 * undefined for a negative char). */
static inline bool sl_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

#endif

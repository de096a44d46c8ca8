/* Minimal check macros shared by the unit tests: every failed check prints
 * the test it belongs to, where and what; the test goes on, and test_done()
 * turns failures into the exit code meson reads (0 pass, 1 fail, 77 skip).
 *
 *     TEST(test_refusals());      runs one test under its name
 *     CHECK(cond); CHECK_INT(a, b); CHECK_STR(a, b); CHECK_MSG(cond, ...)
 *
 * A check outside TEST() is reported under "main". */
#ifndef SSHLEASE_TEST_H
#define SSHLEASE_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int test_failures;
static int test_checks;
static const char *test_name = "main";

/* Run one test (a call expression) under its name; say when it failed. */
#define TEST(call)                                                             \
	do {                                                                   \
		int test_before_ = test_failures;                              \
		const char *test_outer_ = test_name;                           \
		test_name = #call;                                             \
		call;                                                          \
		if (test_failures != test_before_)                             \
			fprintf(stderr, "FAIL: %s (%d checks failed)\n",       \
				test_name, test_failures - test_before_);      \
		test_name = test_outer_;                                       \
	} while (0)

#define CHECK(cond)                                                            \
	do {                                                                   \
		test_checks++;                                                 \
		if (!(cond)) {                                                 \
			test_failures++;                                       \
			fprintf(stderr, "%s: %s:%d: check failed: %s\n",       \
				test_name, __FILE__, __LINE__, #cond);         \
		}                                                              \
	} while (0)

#define CHECK_MSG(cond, ...)                                                   \
	do {                                                                   \
		test_checks++;                                                 \
		if (!(cond)) {                                                 \
			test_failures++;                                       \
			fprintf(stderr, "%s: %s:%d: check failed: %s: ",       \
				test_name, __FILE__, __LINE__, #cond);         \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
		}                                                              \
	} while (0)

#define CHECK_INT(a, b)                                                        \
	do {                                                                   \
		long long test_a_ = (long long)(a), test_b_ = (long long)(b);  \
		CHECK_MSG(test_a_ == test_b_, "%s = %lld, expected %lld", #a,  \
			  test_a_, test_b_);                                   \
	} while (0)

#define CHECK_STR(a, b)                                                        \
	do {                                                                   \
		const char *test_a_ = (a), *test_b_ = (b);                     \
		CHECK_MSG(test_a_ && test_b_ && strcmp(test_a_, test_b_) == 0, \
			  "%s = \"%s\", expected \"%s\"", #a,                  \
			  test_a_ ? test_a_ : "(null)",                        \
			  test_b_ ? test_b_ : "(null)");                       \
	} while (0)

/* Exit 77 (skipped) unless running as root. */
static inline void test_require_root(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "skipped: this test needs root\n");
		exit(77);
	}
}

static inline int test_done(void)
{
	fprintf(stderr, "%d checks, %d failed\n", test_checks, test_failures);
	return test_failures ? 1 : 0;
}

#endif

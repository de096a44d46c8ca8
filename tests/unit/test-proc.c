/*
 * The program runner: output of both streams, exit status, a clean
 * environment and signal state, stdin from /dev/null, the output cap, the
 * timeout (also for a program that closed its output), a missing program.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "proc.h"
#include "test.h"

static void test_run(void)
{
	struct proc_output res;
	const char *why = NULL;
	sigset_t block, old;

	{
		const char *argv[] = { "/bin/sh", "-c",
				       "printf out; printf err >&2; exit 3", NULL };

		CHECK_INT(proc_run(argv, 0, &res, &why), 0);
		CHECK_STR(res.out, "out");
		CHECK_STR(res.err, "err");
		CHECK_INT(res.out_len, 3);
		CHECK(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 3);
		CHECK(!res.truncated);
		proc_output_finish(&res);
	}
	{
		/* A clean environment, whatever ours holds. */
		const char *argv[] = { "/usr/bin/env", NULL };

		setenv("SSHLEASE_TEST_LEAK", "1", 1);
		CHECK_INT(proc_run(argv, 0, &res, &why), 0);
		CHECK_STR(res.out, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nLC_ALL=C\n");
		proc_output_finish(&res);
		unsetenv("SSHLEASE_TEST_LEAK");
	}
	{
		/* Blocked and ignored signals of the caller do not leak. */
		const char *argv[] = { "/bin/sh", "-c",
				       "exec grep -E '^(SigBlk|SigIgn)' /proc/self/status",
				       NULL };

		sigemptyset(&block);
		sigaddset(&block, SIGTERM);
		sigaddset(&block, SIGCHLD);
		sigprocmask(SIG_BLOCK, &block, &old);
		signal(SIGPIPE, SIG_IGN);
		CHECK_INT(proc_run(argv, 0, &res, &why), 0);
		{
			const char *blk = strstr(res.out, "SigBlk:\t");
			const char *ign = strstr(res.out, "SigIgn:\t");
			unsigned long long blocked = blk ? strtoull(blk + 8, NULL, 16) : ~0ULL;
			unsigned long long ignored = ign ? strtoull(ign + 8, NULL, 16) : ~0ULL;

			CHECK_MSG(blocked == 0, "blocked: %llx", blocked);
			/* Signals 1-31; glibc's own (32, 33) cannot be reset
			 * and may be ignored by whoever started the test. */
			CHECK_MSG((ignored & 0x7fffffffULL) == 0, "ignored: %llx",
				  ignored);
		}
		proc_output_finish(&res);
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	{
		/* stdin is /dev/null: cat ends at once. */
		const char *argv[] = { "/bin/cat", NULL };

		CHECK_INT(proc_run(argv, 0, &res, &why), 0);
		CHECK_INT(res.out_len, 0);
		CHECK_STR(res.out, "");
		proc_output_finish(&res);
	}
	{
		/* Output past the cap is dropped and said so. */
		const char *argv[] = { "/bin/sh", "-c",
				       "head -c 300000 /dev/zero | tr '\\0' x", NULL };

		CHECK_INT(proc_run(argv, 0, &res, &why), 0);
		CHECK(res.truncated);
		CHECK_INT(res.out_len, PROC_OUTPUT_MAX);
		CHECK_INT(strlen(res.out), PROC_OUTPUT_MAX);
		proc_output_finish(&res);
	}
	{
		/* A program that hangs is killed after the timeout. */
		const char *argv[] = { "/bin/sleep", "60", NULL };

		CHECK_INT(proc_run(argv, 1, &res, &why), -ETIMEDOUT);
		CHECK(WIFSIGNALED(res.status) && WTERMSIG(res.status) == SIGKILL);
		CHECK(why != NULL);
		proc_output_finish(&res);
	}
	{
		/* ... also when it closed its output and lingers. */
		const char *argv[] = { "/bin/sh", "-c",
				       "exec >&- 2>&-; exec sleep 60", NULL };

		CHECK_INT(proc_run(argv, 1, &res, &why), -ETIMEDOUT);
		CHECK(WIFSIGNALED(res.status) && WTERMSIG(res.status) == SIGKILL);
		proc_output_finish(&res);
	}
	{
		const char *argv[] = { "/nonexistent/program", NULL };

		CHECK_INT(proc_run(argv, 0, &res, &why), -ENOENT);
		proc_output_finish(&res);
	}
}

int main(void)
{
	TEST(test_run());
	return test_done();
}

/* A throwaway account for unit tests that need root: useradd -m before the
 * tests, userdel -r after them, also when they crash (they run in a child).
 *
 *     static int run_tests(const char *name) { ...; return test_done(); }
 *     int main(void) { return test_with_account(run_tests); }
 */
#ifndef SSHLEASE_TEST_ACCOUNT_H
#define SSHLEASE_TEST_ACCOUNT_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* Run argv (found in PATH) and wait: its exit code, or -1. */
static inline int test_run_command(char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Make an account named "slt" + 8 random hex digits (skipped unless root),
 * run body(name) in a child, remove the account; body's exit code. */
static inline int test_with_account(int (*body)(const char *name))
{
	unsigned char random[4] = { 0 };
	char name[32];
	int fd, status = 0;
	pid_t pid;

	test_require_root();
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, random, sizeof(random)) != (ssize_t)sizeof(random)) {
		perror("/dev/urandom");
		return 1;
	}
	close(fd);
	snprintf(name, sizeof(name), "slt%02x%02x%02x%02x", random[0], random[1],
		 random[2], random[3]);
	if (test_run_command((char *[]){ "useradd", "-m", "-s", "/bin/sh", "-c",
					 "sshlease test", name, NULL }) != 0) {
		fprintf(stderr, "useradd %s failed\n", name);
		return 1;
	}
	pid = fork();
	if (pid == 0)
		exit(body(name));
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		status = 1 << 8;
	if (WIFSIGNALED(status))
		fprintf(stderr, "tests killed by signal %d\n", WTERMSIG(status));
	if (test_run_command((char *[]){ "userdel", "-r", name, NULL }) != 0)
		fprintf(stderr, "userdel -r %s failed\n", name);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

#endif

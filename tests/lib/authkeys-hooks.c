/* The engine's test hook points (userfs.h), defined here and only here: they run what a test set. */
#include <stddef.h>

#include "authkeys-hooks.h"
#include "src/common/userfs.h"

static authkeys_test_hook_fn *test_hook;
static void *test_hook_arg;
static authkeys_test_answered_fn *test_answered;
static void *test_answered_arg;

void authkeys_set_test_hook(authkeys_test_hook_fn *fn, void *arg)
{
	test_hook = fn;
	test_hook_arg = arg;
}

void authkeys_set_test_answered_hook(authkeys_test_answered_fn *fn, void *arg)
{
	test_answered = fn;
	test_answered_arg = arg;
}

void userfs_test_hook_before_rename(int ssh_dir_fd, unsigned attempt)
{
	if (test_hook)
		test_hook(ssh_dir_fd, attempt, test_hook_arg);
}

void userfs_test_hook_answered(void)
{
	if (test_answered)
		test_answered(test_answered_arg);
}

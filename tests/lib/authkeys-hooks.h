/*
 * The tests' hooks into the authorized_keys engine's child (userfs.h):
 * linked only into the tests that set them, so the programs carry none.
 */
#ifndef SSHLEASE_TEST_AUTHKEYS_HOOKS_H
#define SSHLEASE_TEST_AUTHKEYS_HOOKS_H

/*
 * fn runs in the child, as the account, after the new content is in its
 * temporary file and before the compare-and-swap check, with the fd of
 * ~/.ssh and the attempt number (0 first): a test can play a concurrent
 * writer there. NULL removes it.
 */
typedef void authkeys_test_hook_fn(int ssh_dir_fd, unsigned attempt, void *arg);
void authkeys_set_test_hook(authkeys_test_hook_fn *fn, void *arg);

/*
 * fn runs in the child, as the account, after it has sent its whole answer
 * and before it exits: a test can stop or stall it there, as the account
 * could, to prove the caller never waits for it. NULL removes it.
 */
typedef void authkeys_test_answered_fn(void *arg);
void authkeys_set_test_answered_hook(authkeys_test_answered_fn *fn, void *arg);

#endif

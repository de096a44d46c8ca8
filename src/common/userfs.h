/*
 * Private to the authorized_keys engine: reading and replacing
 * ~/.ssh/authorized_keys in a child process that acts as the account
 * (DESIGN.md §5). authkeys.c says what to change; this says how to touch
 * the file safely.
 */
#ifndef SSHLEASE_USERFS_H
#define SSHLEASE_USERFS_H

#include <stdbool.h>
#include <stddef.h>

#include "account.h"
#include "authkeys.h"

/*
 * Why an operation did not happen. The child sends the index, never a
 * pointer, and the parent checks it against the table in userfs.c.
 */
enum userfs_reason {
	USERFS_R_NONE,
	USERFS_R_HOME_MISSING,
	USERFS_R_HOME_SYMLINK,
	USERFS_R_HOME_NOTDIR,
	USERFS_R_HOME_ACCESS,
	USERFS_R_HOME_OWNER,
	USERFS_R_HOME_MODE,
	USERFS_R_SSH_SYMLINK,
	USERFS_R_SSH_NOTDIR,
	USERFS_R_SSH_ACCESS,
	USERFS_R_SSH_CREATE,
	USERFS_R_SSH_OWNER,
	USERFS_R_SSH_MODE,
	USERFS_R_SSH_WRITE,
	USERFS_R_FILE_SYMLINK,
	USERFS_R_FILE_DIR,
	USERFS_R_FILE_NOTREG,
	USERFS_R_FILE_LINKS,
	USERFS_R_FILE_ACCESS,
	USERFS_R_FILE_OWNER,
	USERFS_R_FILE_MODE,
	USERFS_R_FILE_ROOT,
	USERFS_R_FILE_SIZE,
	USERFS_R_EXISTS_KEY,
	USERFS_R_EXISTS_ID,
	USERFS_R_CHANGED,
	USERFS_R_READONLY,
	/* Steps named when a system call fails (negative returns). */
	USERFS_R_STEP_SETUP,
	USERFS_R_STEP_DROP,
	USERFS_R_STEP_HOME,
	USERFS_R_STEP_SSH,
	USERFS_R_STEP_READ,
	USERFS_R_STEP_TEMP,
	USERFS_R_STEP_WRITE,
	USERFS_R_STEP_FSYNC,
	USERFS_R_STEP_RENAME,
	USERFS_R_STEP_DIRSYNC,
	USERFS_R_COUNT,
};

/* What the edit function (run in the child) hands back. */
struct userfs_change {
	char *content;       /* new file content to write, or NULL for none */
	size_t len;
	char *payload;       /* bytes for the parent (list), or NULL */
	size_t payload_len;
	size_t count;        /* e.g. lines removed; passed to the parent */
	enum userfs_reason reason; /* set with a positive return */
};

/*
 * Runs in the child, as the account, with the current bytes of
 * authorized_keys (len 0 when the file or ~/.ssh is missing). Fills change
 * (allocations are the child's; it exits soon) and returns 0, a positive
 * sl_result with change->reason, or -errno.
 */
typedef int userfs_edit_fn(const void *arg, const char *content, size_t len,
			   struct userfs_change *change);

/*
 * Runs in the child, as the account, with the home directory's fd (the
 * walk's first step, checked as every op checks it): a look at files of
 * the home outside ~/.ssh, which must follow no link either. Same returns
 * as userfs_edit_fn; change->content is ignored.
 */
typedef int userfs_home_fn(const void *arg, int home_fd, struct userfs_change *change);

struct userfs_op {
	const char *name; /* the file in ~/.ssh (a plain name, no '/');
			     NULL: authorized_keys. The reasons still say
			     authorized_keys */
	userfs_edit_fn *edit;
	const void *arg;
	bool write;  /* change->content may be written */
	bool create; /* create ~/.ssh when missing */
	bool shrinks; /* the edit only takes lines out (a removal): the file
			 is read and written up to AUTHKEYS_SHRINK_MAX, not
			 AUTHKEYS_FILE_MAX */
	bool move_aside; /* instead of an edit: when ~/.ssh or ~/.ssh/<name>
			    is a symlink, rename that entry (only the entry:
			    no byte of what it leads to is touched) to
			    <entry>.sshlease-moved-<unix time>[-N] in its
			    directory, so that sshd no longer reads keys
			    through it; when ~/.ssh/<name> is one of several
			    hard links, replace it by a copy of its own. count
			    gets enum userfs_moved, payload "<new name>\n<symlink
			    target, or empty>" */
	userfs_home_fn *home; /* instead of an edit: run this on the home
				 (arg is passed); nothing is written */
	bool check;  /* instead of an edit: the walk and the refusals of a
			write with create, changing nothing (authkeys_check);
			count gets the enum authkeys_found; no lock */
};

/* What a move_aside op moved. */
enum userfs_moved {
	USERFS_MOVED_NONE,
	USERFS_MOVED_SSH_SYMLINK,  /* ~/.ssh, a symlink */
	USERFS_MOVED_FILE_SYMLINK, /* ~/.ssh/<name>, a symlink */
	USERFS_MOVED_FILE_LINK,    /* ~/.ssh/<name>, one of several hard links:
				      now a copy of its own, same name */
};

struct userfs_result {
	size_t count;
	char *payload; /* NUL-terminated; free() it */
	size_t payload_len;
};

/*
 * Hook points for the tests, in the child, as the account. Only
 * tests/lib/authkeys-hooks.c defines them; in the programs nothing does,
 * so these weak symbols are NULL, never called, and no code to set them
 * exists there (a test checks the built programs with nm).
 *   before_rename: the new content is durable in its temp file, just
 *     before the compare-and-swap check and the rename; ssh_dir_fd is
 *     ~/.ssh, attempt counts from 0: a test plays a concurrent writer.
 *   answered: the whole answer has been sent, the child is about to exit:
 *     a test stops it there, as the account could, to prove the caller
 *     never waits for it.
 */
void userfs_test_hook_before_rename(int ssh_dir_fd, unsigned attempt) __attribute__((weak));
void userfs_test_hook_answered(void) __attribute__((weak));

/*
 * In a child acting as the account only (userwatch.c): the walk every op
 * makes, from the home directory to ~/.ssh, with its checks. 0 with both
 * fds (*ssh_fd -1 when there is no ~/.ssh), SL_REFUSED or -errno: then no
 * ~/.ssh fd, and the home's fd only when the walk got past it (a symlink
 * in place of ~/.ssh, say: the home is still there to watch).
 */
int userfs_walk(const struct account *acct, int *home_fd, int *ssh_fd);

/*
 * Take the account's lock in ctx->lock_dir (not for a check, which changes
 * nothing; ctx may be NULL then), run op in a child that acts as the
 * account, and wait for its answer. Returns what the child
 * returned (0, a positive sl_result with *why, or -errno with *why naming
 * the failed step) and fills res on 0.
 */
int userfs_run(const struct authkeys_ctx *ctx, const struct account *acct,
	       const struct userfs_op *op, struct userfs_result *res,
	       const char **why);

#endif

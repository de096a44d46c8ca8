/*
 * Watching an account's key files for changes (DESIGN.md §13): a child
 * that acts as the account for file access only (become_fs_account: the
 * account can neither signal nor trace it) walks from the home directory
 * as every engine op does, and holds inotify watches on the home
 * directory (for its entry .ssh), on ~/.ssh (for the named files in it)
 * and on each of those files itself (for writes through another name).
 * Root never opens a path inside the home. The child reads nothing: it
 * tells the daemon that something may have changed, and the daemon
 * sweeps through the engine (keyguard.h).
 */
#ifndef SSHLEASE_USERWATCH_H
#define SSHLEASE_USERWATCH_H

#include <stddef.h>
#include <sys/types.h>

#include "account.h"

/*
 * Start the watcher of acct's ~/.ssh/<names[i]> (n plain names). Returns
 * 0 with its pid in *pid and in *fd the read end of a pipe (non-blocking,
 * close-on-exec) that gets a byte once the watches are in place and again
 * after every change that may concern the files (the watches are then
 * set up afresh, ~/.ssh may be a new directory), or -errno with *why. The
 * fd reads end-of-file when the watcher has died (userwatch_stop it and
 * start another). A home directory that cannot be walked is watched no
 * further than the walk got, and said once by the first byte 'E' instead
 * of 'W'.
 */
int userwatch_start(const struct account *acct, const char *const *names,
		    size_t n, pid_t *pid, int *fd, const char **why);

/* Kill and reap the watcher, close fd (either may be -1). */
void userwatch_stop(pid_t pid, int fd);

#endif

/*
 * Private to src/common: what a child forked by the root daemon does
 * before it touches anything of an account's (userfs.c). Each is called in
 * the child only, between fork and _exit. Return convention as in
 * common.h.
 */
#ifndef SSHLEASE_BECOME_H
#define SSHLEASE_BECOME_H

#include <stddef.h>
#include <sys/types.h>

#include "account.h"

/* Keep only keep_fd (moved to fd >= 3) and /dev/null as stdio, so nothing
 * the daemon had open is reachable and a stray write to stdout cannot land
 * in a file the child opened; SIGPIPE back to its default. Returns the new
 * fd of keep_fd, or -1. */
int become_isolate(int keep_fd);

/* The daemon blocks HUP/TERM/INT for its signalfd and ignores SIGPIPE; a
 * fork inherits both. Start from the defaults, so that no signal the
 * account sends the child is held back or dropped. */
void become_reset_signals(void);

/* Become the account for good: the ngroups groups, its gid and uid (real,
 * effective and saved), no capability in any set (an account with uid 0,
 * allowed by allow_root, keeps uid 0 but no capability), not dumpable, no
 * core, umask 077; then prove it: every set read back empty, every id read
 * back, setuid(0)/setgid(0) failing. 0, -EPERM when a proof fails, or
 * -errno. */
int become_account(const struct account *acct, const gid_t *groups,
		   size_t ngroups);

/* Act as the account for file access only, for a child that lives long
 * (userwatch.c): the ngroups groups and the account's filesystem uid and
 * gid, while the real, effective and saved ids stay root's, so that the
 * account can neither signal nor trace it (the kernel checks signals and
 * ptrace against those ids, and a process with more capabilities than
 * the tracer cannot be traced); then no capability in any set, the
 * bounding set emptied, no privilege from exec (securebits locked,
 * no_new_privs), not dumpable, no core, umask 077. Proven as
 * become_account proves its drop. 0, -EPERM when a proof fails, or
 * -errno. */
int become_fs_account(const struct account *acct, const gid_t *groups,
		      size_t ngroups);

#endif

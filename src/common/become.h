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

/* Act as the account for file access only, in every child that touches
 * an account's files (the engine, userfs.c; the key watcher, userwatch.c):
 * the ngroups groups and the account's filesystem uid and gid, while the
 * real, effective and saved ids stay root's; then no capability in the
 * permitted, effective, inheritable or ambient set, the bounding set
 * emptied where the daemon may (CAP_SETPCAP; under sshleased.service it
 * stays the unit's, from which nothing can be raised again: no_new_privs,
 * and no file capabilities after it), securebits locked where it may, not
 * dumpable, no core, umask 077; last a seccomp filter (below). Each step is
 * read back: 0, -EPERM when a proof fails, -ENOSYS on an architecture
 * without the filter, or -errno.
 *
 * Why this is safe, and why not the account's full ids:
 * - File access. Every permission check of a path (open, create, rename,
 *   unlink, chmod, the sticky bit, protected_hardlinks, AT_EACCESS) uses
 *   the filesystem ids and the groups, so the child reaches exactly what
 *   the account reaches, and what it creates is the account's. Without
 *   capabilities, euid 0 grants nothing: no CAP_DAC_OVERRIDE, CAP_FOWNER
 *   or CAP_CHOWN is left, and the empty bounding set with no_new_privs and
 *   the locked securebits means no exec can give one back.
 * - Signals. The kernel lets a process signal another only when its real
 *   or effective uid is the target's real or saved uid (or with
 *   CAP_KILL). The account's processes have the account's uid and the
 *   child's real and saved uid are 0, so kill(), kill(-1) and killpg()
 *   from the account cannot stop, continue or kill it. With the account's
 *   full ids (setresuid) they could, and did: a loop of kill(-1, SIGSTOP)
 *   as the account stalled every edit of its files.
 * - Tracing and /proc. ptrace and /proc/PID need the target's real,
 *   effective and saved uid to all be the tracer's, and a non-dumpable
 *   target needs CAP_SYS_PTRACE besides: none of it holds for the
 *   account. The child's memory and descriptors stay out of its reach.
 * - Resource limits count per real uid: the account's RLIMIT_NPROC or its
 *   processes cannot keep the child from being forked.
 * - What root's real and effective ids would still allow without any
 *   capability is taken away by a seccomp filter: setfsuid(0) and the
 *   other set*id calls (a process may always return to its real uid, so
 *   code run in the child could otherwise reach root's files again),
 *   signals to and tracing of other processes (root's, the daemon's),
 *   their limits and scheduling, root's keyrings, new namespaces, io_uring.
 *   The filter is a deny list: the calls the work needs stay allowed.
 * - System V IPC, which the effective ids still decide, the child never
 *   uses.
 * An account with uid 0 (allow_root) is root; there the point is moot.
 * What remains: a file system the account controls could still make a
 * call block (a FUSE mount of its own, a hung network home); the daemon
 * bounds every child's answer in time (userfs.c) for that. */
int become_fs_account(const struct account *acct, const gid_t *groups,
		      size_t ngroups);

#endif

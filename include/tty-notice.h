/*
 * One line on the terminals of a login, as wall(1) writes one: to the
 * pseudo-terminal of each of the login's processes that has one, only when
 * its owner lets the tty group write to it (mesg y, sshd's default), and
 * never blocking. The daemon stays root without CAP_DAC_OVERRIDE: for the
 * open it takes the tty group as its filesystem gid (setfsgid, CAP_SETGID)
 * and puts it back at once, so it writes where wall may and nowhere else,
 * and no process of the account's is involved.
 */
#ifndef SSHLEASE_TTY_NOTICE_H
#define SSHLEASE_TTY_NOTICE_H

#include <stddef.h>
#include <sys/types.h>

#include "common.h"

/* Most terminals of one login (a ControlMaster master may hold several). */
#define TTY_NOTICE_MAX 8

/* The distinct pseudo-terminals (device numbers, from each process's
 * tty_nr in /proc/PID/stat, which the kernel sets) that the descendants of
 * monitor pid have as their controlling terminal. Returns how many. */
size_t tty_notice_find(pid_t pid, dev_t *ttys, size_t max);

/*
 * Write "\r\n" line "\r\n" to /dev/pts/N of device tty, if it is a
 * pseudo-terminal owned by uid, of the tty group and group-writable.
 * One non-blocking write: a terminal whose output is stopped misses it.
 * Returns 0; SL_REFUSED when the owner does not take messages (mesg n) or
 * the terminal is not such a one; -errno.
 */
int tty_notice_write(dev_t tty, uid_t uid, const char *line);

#endif

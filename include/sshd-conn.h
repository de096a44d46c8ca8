/*
 * One SSH connection as the system shows it: the root-owned monitor
 * process ("sshd: USER [priv]") that holds the TCP socket with a given
 * client address and port, found through /proc/net/tcp{,6} (the socket's
 * inode) and /proc/PID/fd. Ending that process ends the connection: every
 * channel of it, a ControlMaster's included (DESIGN.md §13).
 *
 * Nothing but such a monitor is ever returned or signalled: a process
 * counts only when its real, effective, saved and filesystem uids are all
 * 0 (a set-uid program run by a user keeps its real uid), its comm is
 * "sshd" (or "sshd-session", OpenSSH >= 9.8), its title is exactly that
 * name, ": ", a valid account name and " [priv]", and it holds the socket.
 * The connection's other processes (the user's "sshd: USER@pts/0", its
 * shell) are never touched.
 *
 * Privileges: sshd makes its processes non-dumpable, so reading a
 * monitor's /proc/PID/fd takes CAP_SYS_PTRACE even for root; without it
 * the finder fails with -EACCES rather than report "no connection".
 * Signalling a root process as root needs no CAP_KILL.
 */
#ifndef SSHLEASE_SSHD_CONN_H
#define SSHLEASE_SSHD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common.h"

/* The connection asked for: the client's end, as sshd's log names it
 * (sshd-log.h), and what else is known of it. */
struct sshd_conn_peer {
	int family;                /* AF_INET or AF_INET6 */
	unsigned char address[16]; /* the client's address, network byte
				      order; AF_INET uses 4 bytes. An IPv4
				      client also matches a socket that shows
				      it as ::ffff:a.b.c.d */
	unsigned port;             /* the client's port */
	unsigned local_port;       /* sshd's port; 0: any */
	const char *user;          /* the account of the monitor's title;
				      NULL: any */
};

/* What the identity check reads of a process (/proc/PID/status, comm,
 * cmdline up to its first NUL). */
struct sshd_conn_process {
	uid_t uids[4];   /* real, effective, saved, filesystem */
	char comm[16];
	char title[128];
};

/*
 * Whether p is an sshd connection monitor (see above) of user (NULL: of
 * any account). Pure.
 */
bool sshd_conn_is_monitor(const struct sshd_conn_process *p, const char *user);

/*
 * The pid of the monitor holding the TCP connection with peer: a socket
 * in /proc/net/tcp or tcp6 in any state but LISTEN whose remote end is
 * peer's address and port (and local port, when given), held open by a
 * process that sshd_conn_is_monitor of peer->user. Right after a login
 * the monitor's newly forked session process is still such a copy of it
 * for a moment: of a parent and its child both holding the socket, the
 * parent is the monitor. Returns 0 with *pid;
 * SL_NOT_FOUND when there is no such socket or no monitor holds it (the
 * connection ended, or it is not sshd's); SL_REFUSED with *why when two
 * unrelated monitors hold it (it is not guessed which); -EACCES with
 * *why when a monitor's fds cannot be read (CAP_SYS_PTRACE, above);
 * -EPROTO when a line of /proc/net/tcp does not parse; -errno.
 * A snapshot: by the time it returns the process may have gone (use
 * sshd_conn_open to act on it).
 */
int sshd_conn_find(const struct sshd_conn_peer *peer, pid_t *pid,
		   const char **why);

/*
 * sshd_conn_find, then a pidfd for that process, then the same question
 * again, which must give the same pid: so the pidfd names the monitor
 * that holds the connection now, and a pid used again by another process
 * can never be signalled. The pidfd (O_CLOEXEC; the caller closes it)
 * polls readable when the monitor exits, that is when the connection is
 * over, however it ended. Returns 0 with *pidfd and *pid; the returns of
 * sshd_conn_find; SL_NOT_FOUND when the monitor went meanwhile.
 */
int sshd_conn_open(const struct sshd_conn_peer *peer, int *pidfd, pid_t *pid,
		   const char **why);

/*
 * A monitor known by its pid, from a source the kernel vouches for (the
 * journal's _PID, which journald takes from the sender's credentials), or
 * one found before (*start non-zero: its start time then, in clock ticks
 * since boot, which must match, so a pid used again is never taken for it).
 * Opens a pidfd, then checks that the process is sshd_conn_is_monitor of
 * user and alive after the check. Reads only comm, status, cmdline and
 * stat, so it needs no CAP_SYS_PTRACE. Returns 0 with *pidfd and *start;
 * SL_NOT_FOUND with *why when the process has gone or is not such a
 * monitor; -errno.
 */
int sshd_conn_open_pid(pid_t pid, const char *user, unsigned long long *start,
		       int *pidfd, const char **why);

/* A start time from sshd_conn_open_pid as seconds since the epoch (boot
 * time from /proc/stat plus the ticks; good to a second or so); 0 when it
 * cannot be told. */
time_t sshd_conn_started_at(unsigned long long start);

/* A process of an account still running (sshd_conn_leftovers). */
struct sshd_conn_leftover {
	pid_t pid;
	char command[64]; /* its command line, cut; "[comm]" when empty */
};

/*
 * What is left of what an account ran since a time, where the host cannot
 * tell which login started what (no systemd scope held it): the processes
 * whose real or effective uid is uid, started at or after start (clock
 * ticks since boot, as sshd_conn_open_pid gives a monitor's; when 0, at or
 * after since, seconds since the epoch, good to a second or so), and not in a logind session scope (a login of its own
 * then, the owner's or another grant's) nor the account's systemd --user
 * manager itself (user@UID.service/init.scope; what it runs is listed). The first max into out, how many
 * in all in *count. Reads status, stat, cgroup and cmdline, which need no
 * CAP_SYS_PTRACE. 0 or -errno.
 */
int sshd_conn_leftovers(uid_t uid, unsigned long long start, time_t since,
			struct sshd_conn_leftover *out, size_t max, size_t *count);

/* Send sig to the process of a pidfd from sshd_conn_open. 0, -ESRCH when
 * it has exited, -errno. */
int sshd_conn_signal(int pidfd, int sig);

/*
 * End the connection with peer: sshd_conn_open and SIGTERM (the monitor
 * takes its session processes with it and closes the socket). Returns 0
 * with *pid of the monitor signalled, or what sshd_conn_open returns.
 * Does not wait for the end: poll a pidfd from sshd_conn_open for that.
 */
int sshd_conn_end(const struct sshd_conn_peer *peer, pid_t *pid,
		  const char **why);

/* Whether /proc/PID/cgroup (its text) puts the process in a logind session
 * scope of uid's or in uid's systemd --user itself (init.scope), by the
 * whole path as systemd names them, so that a unit the account names
 * "session-1.scope" under its own user manager is not taken for one. The
 * unified line (0::) when there is one, else the name=systemd line. */
bool sshd_conn_cgroup_is_login(const char *cgroup, uid_t uid);

#endif

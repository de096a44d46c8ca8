/*
 * Acting as the account in a forked child of the root daemon: the
 * inherited descriptors and signal state cleared, then the account's groups
 * and filesystem ids, no capability left, and a check of each step.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <string.h>
#include <linux/securebits.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "become.h"

/* Highest capability number probed for ambient capabilities; the kernel
 * answers EINVAL past its last one. */
#define CAP_PROBE_MAX 63

int become_isolate(int wfd)
{
	int fd = fcntl(wfd, F_DUPFD_CLOEXEC, 3);
	int null_fd;

	if (fd < 0)
		return -1;
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd >= 0) {
		dup2(null_fd, STDIN_FILENO);
		dup2(null_fd, STDOUT_FILENO);
		dup2(null_fd, STDERR_FILENO);
	}
	if ((fd > 3 && close_range(3, (unsigned)fd - 1, 0) < 0) ||
	    close_range((unsigned)fd + 1, ~0U, 0) < 0) {
		long max = sysconf(_SC_OPEN_MAX);

		if (max < 0 || max > 65536)
			max = 65536;
		for (int i = 3; i < max; i++)
			if (i != fd)
				close(i);
	}
	signal(SIGPIPE, SIG_DFL);
	return fd;
}

void become_reset_signals(void)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	sigemptyset(&dfl.sa_mask);
	/* EINVAL for SIGKILL, SIGSTOP and the C library's own signals. */
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Drop every capability the process still has: the permitted, effective
 * and inheritable sets and the ambient set. Dropping is always allowed;
 * whatever the kernel did on setresuid (a keep-caps flag inherited from
 * whoever started the daemon keeps the permitted set), nothing is left. */
static int caps_drop_all(void)
{
	struct __user_cap_header_struct header = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		return -errno;
	if (syscall(SYS_capset, &header, data) < 0)
		return -errno;
	return 0;
}

/* Whether every capability set of this process is empty, as the kernel
 * reports it (capget, and the ambient set cap by cap). */
static bool caps_all_empty(void)
{
	struct __user_cap_header_struct header = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &header, data) < 0)
		return false;
	for (size_t i = 0; i < SL_ARRAY_SIZE(data); i++)
		if (data[i].effective || data[i].permitted || data[i].inheritable)
			return false;
	for (int cap = 0; cap <= CAP_PROBE_MAX; cap++) {
		int set = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0);

		if (set < 0)
			break; /* past the last capability, or no ambient set */
		if (set > 0)
			return false;
	}
	return true;
}

int become_fs_account(const struct account *acct, const gid_t *groups,
		      size_t ngroups)
{
	const struct rlimit no_core = { 0, 0 };
	const unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
				   SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
				   SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
				   SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
	/* Locked bits cannot change: keep what is set (a keep-caps flag
	 * locked by whoever started the daemon only matters when the uid
	 * changes, which it never does here; the capabilities go below). */
	int had = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	int r;

	if (setgroups(ngroups, groups) < 0)
		return -errno;
	setfsgid(acct->gid);
	if ((gid_t)setfsgid((gid_t)-1) != acct->gid)
		return -EPERM;
	setfsuid(acct->uid);
	if ((uid_t)setfsuid((uid_t)-1) != acct->uid)
		return -EPERM;
	/* Needs CAP_SETPCAP, so before the drop. Under a unit whose bounding
	 * set lacks it (sshleased's), there is none to take: the bits are a
	 * second lock on what no_new_privs and empty sets below already
	 * hold (an exec cannot give this euid-0 process a capability). */
	if (prctl(PR_SET_SECUREBITS, bits | (had > 0 ? (unsigned long)had : 0), 0, 0, 0) < 0 &&
	    (errno != EPERM || prctl(PR_CAPBSET_READ, CAP_SETPCAP, 0, 0, 0) != 0))
		return -errno;
	for (int cap = 0; cap <= CAP_PROBE_MAX; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno == EINVAL)
			break; /* past the last capability */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	r = caps_drop_all();
	if (r < 0)
		return r;
	if (!caps_all_empty() || prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0)
		return -EPERM;
	/* The account's own files, as the account; nothing else. */
	if ((uid_t)setfsuid((uid_t)-1) != acct->uid || (gid_t)setfsgid((gid_t)-1) != acct->gid)
		return -EPERM;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || setrlimit(RLIMIT_CORE, &no_core) < 0)
		return -errno;
	umask(077);
	return 0;
}

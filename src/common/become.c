/*
 * Acting as the account in a forked child of the root daemon: the
 * inherited descriptors and signal state cleared, then the account's groups
 * and filesystem ids, no capability left, and a check of each step.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/sched.h>
#include <signal.h>
#include <stddef.h>
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

#if defined(__x86_64__)
#define SL_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SL_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#define SL_LOAD(field) \
	((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, field)))
#define SL_RET(value) ((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (value)))
#define SL_EPERM (SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))

/* Calls a process with root's ids and no capability could still use to
 * leave the account's rights behind or to reach root's processes: the
 * ids (setfsuid(0) needs no capability while the real uid is 0), signals
 * and tracing of others, other processes' limits and scheduling, root's
 * keyrings, new namespaces, io_uring. */
static const int denied_calls[] = {
	__NR_setuid, __NR_setgid, __NR_setreuid, __NR_setregid, __NR_setresuid,
	__NR_setresgid, __NR_setgroups,
	__NR_tkill, __NR_rt_sigqueueinfo, __NR_rt_tgsigqueueinfo,
	__NR_ptrace, __NR_process_vm_readv, __NR_process_vm_writev, __NR_kcmp,
	__NR_setpriority, __NR_sched_setscheduler, __NR_sched_setparam,
	__NR_sched_setaffinity, __NR_ioprio_set, __NR_keyctl, __NR_add_key,
	__NR_request_key, __NR_unshare, __NR_setns,
#ifdef __NR_pidfd_send_signal
	__NR_pidfd_send_signal,
#endif
#ifdef __NR_pidfd_open
	__NR_pidfd_open,
#endif
#ifdef __NR_pidfd_getfd
	__NR_pidfd_getfd,
#endif
#ifdef __NR_process_madvise
	__NR_process_madvise,
#endif
#ifdef __NR_io_uring_setup
	__NR_io_uring_setup, __NR_io_uring_enter, __NR_io_uring_register,
#endif
};

/*
 * A seccomp filter (no_new_privs is set already) that refuses, with
 * EPERM, every call of denied_calls; setfsuid and setfsgid but to ask
 * (-1); kill and tgkill but towards this
 * process itself (raise, abort); prlimit64 but on itself; clone with a
 * namespace flag; and clone3 (ENOSYS: the C library falls back to clone,
 * whose flags can be read). Everything else is allowed: the filter takes
 * away the ways out, it does not list the way in. A call from another
 * architecture's table (x32, i386) is refused whole.
 */
static int deny_escapes(void)
{
#ifdef SL_AUDIT_ARCH
	struct sock_filter prog[3 * SL_ARRAY_SIZE(denied_calls) + 40];
	const __u32 self = (__u32)getpid();
	const __u32 new_ns = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
			     CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
	const int self_only[] = { __NR_kill, __NR_tgkill, __NR_prlimit64 };
	const int ask_only[] = { __NR_setfsuid, __NR_setfsgid };
	struct sock_fprog fprog;
	size_t n = 0;

	prog[n++] = SL_LOAD(arch);
	prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SL_AUDIT_ARCH, 1, 0);
	prog[n++] = SL_RET(SL_EPERM);
	prog[n++] = SL_LOAD(nr);
#ifdef __X32_SYSCALL_BIT
	prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, __X32_SYSCALL_BIT, 0, 1);
	prog[n++] = SL_RET(SL_EPERM);
#endif
	for (size_t i = 0; i < SL_ARRAY_SIZE(denied_calls); i++) {
		prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
							 (__u32)denied_calls[i], 0, 1);
		prog[n++] = SL_RET(SL_EPERM);
	}
#ifdef __NR_clone3
	prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1);
	prog[n++] = SL_RET(SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
#endif
	/* clone: no namespace flag (flags are its first argument on both). */
	prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 4);
	prog[n++] = SL_LOAD(args[0]);
	prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, new_ns, 0, 1);
	prog[n++] = SL_RET(SL_EPERM);
	prog[n++] = SL_RET(SECCOMP_RET_ALLOW);
	/* setfsuid, setfsgid: only -1, which asks and changes nothing. */
	for (size_t i = 0; i < SL_ARRAY_SIZE(ask_only); i++) {
		prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
							 (__u32)ask_only[i], 0, 4);
		prog[n++] = SL_LOAD(args[0]);
		prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xffffffffU, 1, 0);
		prog[n++] = SL_RET(SL_EPERM);
		prog[n++] = SL_RET(SECCOMP_RET_ALLOW);
	}
	/* kill, tgkill, prlimit64: towards itself only (0 means itself for
	 * prlimit64; the low 32 bits of the first argument are the pid). */
	for (size_t i = 0; i < SL_ARRAY_SIZE(self_only); i++) {
		prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
							 (__u32)self_only[i], 0, 5);
		prog[n++] = SL_LOAD(args[0]);
		prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, self, 2, 0);
		prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
							 self_only[i] == __NR_prlimit64 ? 0 : self, 1, 0);
		prog[n++] = SL_RET(SL_EPERM);
		prog[n++] = SL_RET(SECCOMP_RET_ALLOW);
	}
	prog[n++] = SL_RET(SECCOMP_RET_ALLOW);
	fprog = (struct sock_fprog){ .len = (unsigned short)n, .filter = prog };
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) < 0)
		return -errno;
	/* Proof: the way back to root's files is closed. */
	setfsuid(0);
	if ((uid_t)setfsuid((uid_t)-1) == 0 || setuid(0) == 0)
		return -EPERM;
	return 0;
#else
	return -ENOSYS; /* no filter for this architecture: refuse to act */
#endif
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
	return deny_escapes();
}

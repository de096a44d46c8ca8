/* The sshd monitor process that holds a TCP connection, found and ended. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sshd-conn.h"
#include "sshd-listen.h"
#include "validate.h"

/* Sockets of one connection: one, or a few while a listener forks. */
#define CONN_SOCKETS_MAX 16

struct socket_set {
	unsigned long long inodes[CONN_SOCKETS_MAX];
	size_t n;
};

bool sshd_conn_is_monitor(const struct sshd_conn_process *p, const char *user)
{
	static const char *const names[] = { "sshd", "sshd-session" };
	static const char suffix[] = " [priv]";
	const size_t slen = sizeof(suffix) - 1;
	char name[sizeof(p->title)];
	const char *rest = NULL;
	size_t n;

	for (size_t i = 0; i < SL_ARRAY_SIZE(p->uids); i++)
		if (p->uids[i] != 0)
			return false;
	for (size_t i = 0; i < SL_ARRAY_SIZE(names) && !rest; i++) {
		size_t len = strlen(names[i]);

		if (strcmp(p->comm, names[i]) == 0 &&
		    strncmp(p->title, names[i], len) == 0 &&
		    strncmp(p->title + len, ": ", 2) == 0)
			rest = p->title + len + 2;
	}
	if (!rest)
		return false;
	n = strnlen(rest, sizeof(p->title) - (size_t)(rest - p->title));
	if (n <= slen || memcmp(rest + n - slen, suffix, slen) != 0)
		return false;
	memcpy(name, rest, n - slen);
	name[n - slen] = '\0';
	return username_valid(name) && (!user || strcmp(name, user) == 0);
}

/* ---- /proc/net/tcp{,6}: the sockets with the peer ---- */

/* A decimal field of len bytes, digits only. */
static bool parse_ull(const char *p, size_t len, unsigned long long *out)
{
	unsigned long long value = 0;

	if (len == 0 || len > 19)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		value = value * 10 + (unsigned long long)(p[i] - '0');
	}
	*out = value;
	return true;
}

/*
 * The remote end and the inode of a /proc/net/tcp line.
 * sshd_tcp_socket_parse (sshd-listen.h) reads the local end, the state and
 * the uid, and checks the remote end without keeping it, so the remote end
 * is read by handing it the line with the remote end in the local end's
 * place; the inode (the tenth field, after timeout) is read here. XXX: once
 * struct sshd_tcp_socket keeps the remote end and the inode, this goes.
 */
static int tcp_line_remote(const char *line, struct sshd_tcp_socket *remote,
			   unsigned long long *inode)
{
	enum { SLOT, LOCAL, REMOTE, UID = 7, TIMEOUT, INODE, FIELDS };
	const char *field[FIELDS], *p = line, *ignored;
	size_t len[FIELDS];
	char swapped[512];
	int n;

	for (size_t i = 0; i < FIELDS; i++) {
		while (*p == ' ')
			p++;
		if (*p == '\0' || *p == '\n')
			return SL_REFUSED;
		field[i] = p;
		len[i] = strcspn(p, " \n");
		p += len[i];
	}
	n = snprintf(swapped, sizeof(swapped), "%.*s %.*s %s", (int)len[SLOT],
		     field[SLOT], (int)len[REMOTE], field[REMOTE], field[REMOTE]);
	if (n < 0 || (size_t)n >= sizeof(swapped) ||
	    sshd_tcp_socket_parse(swapped, remote, &ignored) != 0 ||
	    !parse_ull(field[INODE], len[INODE], inode))
		return SL_REFUSED;
	return 0;
}

static bool remote_is_peer(const struct sshd_tcp_socket *remote,
			   const struct sshd_conn_peer *peer)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0,
						  0, 0, 0, 0, 0xff, 0xff };

	if (remote->port != peer->port)
		return false;
	if (remote->family == peer->family)
		return memcmp(remote->address, peer->address,
			      peer->family == AF_INET ? 4 : 16) == 0;
	/* An IPv4 client of a socket bound to ::. */
	return peer->family == AF_INET && remote->family == AF_INET6 &&
	       memcmp(remote->address, mapped, sizeof(mapped)) == 0 &&
	       memcmp(remote->address + 12, peer->address, 4) == 0;
}

static int sockets_scan(const char *path, const struct sshd_conn_peer *peer,
			struct socket_set *set)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0, n = 0;
	int r = 0;

	if (!f)
		return errno == ENOENT ? 0 : -errno;
	errno = 0;
	while (getline(&line, &cap, f) >= 0) {
		struct sshd_tcp_socket local, remote;
		unsigned long long inode;
		const char *ignored;

		if (n++ == 0)
			continue; /* the heading */
		if (sshd_tcp_socket_parse(line, &local, &ignored) != 0 ||
		    tcp_line_remote(line, &remote, &inode) != 0) {
			r = -EPROTO;
			goto out;
		}
		/* TIME_WAIT and the like have no inode: nobody holds them. */
		if (local.state == SSHD_TCP_LISTEN || inode == 0 ||
		    !remote_is_peer(&remote, peer) ||
		    (peer->local_port && local.port != peer->local_port))
			continue;
		if (set->n == CONN_SOCKETS_MAX) {
			r = -E2BIG;
			goto out;
		}
		set->inodes[set->n++] = inode;
	}
	if (ferror(f))
		r = errno ? -errno : -EIO;
out:
	free(line);
	fclose(f);
	return r;
}

/* ---- /proc/PID: who holds them ---- */

/* Read a small /proc file whole into buf (NUL-terminated); bytes read or
 * -errno. */
static ssize_t proc_read(int dirfd, const char *name, char *buf, size_t size)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n, total = 0;

	if (fd < 0)
		return -errno;
	while ((size_t)total + 1 < size) {
		n = read(fd, buf + total, size - 1 - (size_t)total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			total = -errno;
			break;
		}
		if (n == 0)
			break;
		total += n;
	}
	close(fd);
	if (total >= 0)
		buf[total] = '\0';
	return total;
}

/* The identity of the process whose /proc directory is dirfd, and its
 * parent's pid; false when it cannot be read (gone, or not a process). */
static bool process_read(int dirfd, struct sshd_conn_process *p, pid_t *ppid)
{
	char status[4096], *uid, *parent, *end;
	long parent_pid;
	ssize_t n;

	memset(p, 0, sizeof(*p));
	n = proc_read(dirfd, "comm", p->comm, sizeof(p->comm));
	if (n <= 0)
		return false;
	p->comm[strcspn(p->comm, "\n")] = '\0';
	/* The cheap test first: most processes are not sshd. */
	if (strcmp(p->comm, "sshd") != 0 && strcmp(p->comm, "sshd-session") != 0)
		return false;
	if (proc_read(dirfd, "status", status, sizeof(status)) <= 0)
		return false;
	parent = strstr(status, "\nPPid:");
	if (!parent)
		return false;
	errno = 0;
	parent_pid = strtol(parent + 6, &end, 10);
	if (errno || end == parent + 6 || parent_pid < 0 || parent_pid > INT32_MAX)
		return false;
	*ppid = (pid_t)parent_pid;
	uid = strstr(status, "\nUid:");
	if (!uid)
		return false;
	for (size_t i = 0; i < SL_ARRAY_SIZE(p->uids); i++) {
		char *end;
		unsigned long value;

		errno = 0;
		value = strtoul(uid + (i == 0 ? 5 : 0), &end, 10);
		if (errno || end == uid || value > UINT32_MAX ||
		    (*end != '\t' && *end != '\n'))
			return false;
		p->uids[i] = (uid_t)value;
		uid = end;
	}
	/* The title is the first string of cmdline, however sshd padded it. */
	return proc_read(dirfd, "cmdline", p->title, sizeof(p->title)) > 0;
}

/* Whether the process holds one of set's sockets: 1, 0, or -errno. */
static int process_holds(int dirfd, const struct socket_set *set)
{
	int fdfd = openat(dirfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir;
	struct dirent *entry;
	int r = 0;

	if (fdfd < 0)
		return -errno;
	dir = fdopendir(fdfd);
	if (!dir) {
		r = -errno;
		close(fdfd);
		return r;
	}
	while ((entry = readdir(dir))) {
		char target[64];
		unsigned long long inode;
		ssize_t n;
		size_t len;

		if (entry->d_name[0] == '.')
			continue;
		n = readlinkat(fdfd, entry->d_name, target, sizeof(target) - 1);
		if (n < 0) {
			if (errno == ENOENT)
				continue; /* closed meanwhile */
			r = -errno;
			break;
		}
		target[n] = '\0';
		len = (size_t)n;
		if (len < 10 || strncmp(target, "socket:[", 8) != 0 ||
		    target[len - 1] != ']' || !parse_ull(target + 8, len - 9, &inode))
			continue;
		for (size_t i = 0; i < set->n; i++)
			if (set->inodes[i] == inode) {
				r = 1;
				goto out;
			}
	}
out:
	closedir(dir);
	return r;
}

static int monitors_scan(const struct sshd_conn_peer *peer,
			 const struct socket_set *set, pid_t *found,
			 const char **why)
{
	DIR *proc = opendir("/proc");
	struct dirent *entry;
	bool denied = false;
	pid_t pid = 0, pid_parent = 0;
	int r = 0;

	if (!proc) {
		*why = "cannot read /proc";
		return -errno;
	}
	while ((entry = readdir(proc))) {
		struct sshd_conn_process p;
		pid_t ppid = 0;
		char *end;
		long value;
		int pdir, holds;

		errno = 0;
		value = strtol(entry->d_name, &end, 10);
		if (errno || *end != '\0' || value <= 0 || value > INT32_MAX)
			continue;
		pdir = openat(dirfd(proc), entry->d_name,
			      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pdir < 0)
			continue; /* gone */
		holds = 0;
		if (process_read(pdir, &p, &ppid) && sshd_conn_is_monitor(&p, peer->user))
			holds = process_holds(pdir, set);
		close(pdir);
		if (holds == -EACCES || holds == -EPERM)
			denied = true;
		if (holds != 1)
			continue;
		/* Right after a login the monitor forks the session's process,
		 * which is a copy of it (root, the same title, the socket)
		 * until it drops privileges and retitles itself: the monitor
		 * is the parent of the two. */
		if (pid != 0 && ppid == pid)
			continue;
		if (pid != 0 && pid_parent == (pid_t)value) {
			pid = (pid_t)value;
			pid_parent = ppid;
			continue;
		}
		if (pid != 0 && pid != (pid_t)value) {
			*why = "two sshd monitors hold the connection";
			r = SL_REFUSED;
			goto out;
		}
		pid = (pid_t)value;
		pid_parent = ppid;
	}
	if (pid != 0)
		*found = pid;
	else if (denied) {
		*why = "cannot read an sshd monitor's /proc/PID/fd (it takes CAP_SYS_PTRACE)";
		r = -EACCES;
	} else {
		*why = "no sshd monitor holds a connection with that client";
		r = SL_NOT_FOUND;
	}
out:
	closedir(proc);
	return r;
}

int sshd_conn_find(const struct sshd_conn_peer *peer, pid_t *pid,
		   const char **why)
{
	static const char *const tables[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	struct socket_set set = { .n = 0 };
	int r;

	if ((peer->family != AF_INET && peer->family != AF_INET6) ||
	    peer->port == 0 || peer->port > 65535 || peer->local_port > 65535) {
		*why = "the connection asked for has no address family or port";
		return SL_REFUSED;
	}
	for (size_t i = 0; i < SL_ARRAY_SIZE(tables); i++) {
		r = sockets_scan(tables[i], peer, &set);
		if (r == -EPROTO)
			*why = "a line of /proc/net/tcp does not parse";
		else if (r == -E2BIG)
			*why = "too many sockets with that client";
		else if (r < 0)
			*why = "cannot read /proc/net/tcp";
		if (r != 0)
			return r;
	}
	if (set.n == 0) {
		*why = "no TCP connection with that client";
		return SL_NOT_FOUND;
	}
	return monitors_scan(peer, &set, pid, why);
}

int sshd_conn_open(const struct sshd_conn_peer *peer, int *pidfd, pid_t *pid,
		   const char **why)
{
	pid_t first, again;
	int fd, r;

	r = sshd_conn_find(peer, &first, why);
	if (r != 0)
		return r;
	fd = (int)syscall(SYS_pidfd_open, first, 0);
	if (fd < 0) {
		if (errno == ESRCH) {
			*why = "the sshd monitor exited meanwhile";
			return SL_NOT_FOUND;
		}
		*why = "cannot open a pidfd for the sshd monitor";
		return -errno;
	}
	/* The pid may have been used again before pidfd_open: only when the
	 * monitor is still the same pid does fd name it. */
	r = sshd_conn_find(peer, &again, why);
	if (r == 0 && again != first) {
		*why = "the sshd monitor exited meanwhile";
		r = SL_NOT_FOUND;
	}
	if (r != 0) {
		close(fd);
		return r;
	}
	*pidfd = fd;
	*pid = first;
	return 0;
}

/* The start time of the process whose /proc directory is dirfd: field 22
 * of stat, in clock ticks since boot; 0 when it cannot be read. */
static unsigned long long process_start(int dirfd)
{
	char stat[1024], *p;
	unsigned long long start;

	if (proc_read(dirfd, "stat", stat, sizeof(stat)) <= 0)
		return 0;
	/* comm, in parentheses, may hold anything: fields follow the last ")". */
	p = strrchr(stat, ')');
	if (!p)
		return 0;
	for (int field = 2; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return 0;
	}
	if (!parse_ull(p + 1, strcspn(p + 1, " "), &start))
		return 0;
	return start;
}

int sshd_conn_open_pid(pid_t pid, const char *user, unsigned long long *start,
		       int *pidfd, const char **why)
{
	struct sshd_conn_process p;
	unsigned long long started;
	char path[32];
	int dirfd, fd, r = 0;
	pid_t ppid;

	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0) {
		*why = errno == ESRCH ? "the process has exited" : "cannot open a pidfd for it";
		return errno == ESRCH ? SL_NOT_FOUND : -errno;
	}
	snprintf(path, sizeof(path), "/proc/%ld", (long)pid);
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0 || !process_read(dirfd, &p, &ppid) ||
	    !sshd_conn_is_monitor(&p, user)) {
		*why = "the process is not an sshd connection monitor of the account";
		r = SL_NOT_FOUND;
	} else {
		started = process_start(dirfd);
		if (started == 0) {
			*why = "the process's start time cannot be read";
			r = SL_NOT_FOUND;
		} else if (*start != 0 && started != *start) {
			*why = "the pid now names another process";
			r = SL_NOT_FOUND;
		}
	}
	if (dirfd >= 0)
		close(dirfd);
	/* Alive now, so alive while /proc/PID was read: what was read is the
	 * pidfd's process, not one that took its pid afterwards. */
	if (r == 0 && sshd_conn_signal(fd, 0) < 0) {
		*why = "the process has exited";
		r = SL_NOT_FOUND;
	}
	if (r != 0) {
		close(fd);
		return r;
	}
	*start = started;
	*pidfd = fd;
	return 0;
}

time_t sshd_conn_started_at(unsigned long long start)
{
	char stat[8192], *btime, *end;
	long ticks = sysconf(_SC_CLK_TCK);
	unsigned long long boot;
	int dirfd;
	ssize_t n;

	dirfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return 0;
	n = proc_read(dirfd, "stat", stat, sizeof(stat));
	close(dirfd);
	if (n <= 0 || ticks <= 0 || !(btime = strstr(stat, "\nbtime ")))
		return 0;
	btime += 7;
	end = btime + strcspn(btime, "\n");
	if (!parse_ull(btime, (size_t)(end - btime), &boot))
		return 0;
	return (time_t)(boot + start / (unsigned long long)ticks);
}

/* Whether the process at dirfd has exited and waits to be reaped. */
static bool process_zombie(int dirfd)
{
	char stat[1024], *p;

	if (proc_read(dirfd, "stat", stat, sizeof(stat)) <= 0 || !(p = strrchr(stat, ')')))
		return false;
	return p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* Real and effective uid from a /proc/PID/status text; false when absent. */
static bool status_uids(const char *status, unsigned long *real, unsigned long *effective)
{
	const char *uid = strstr(status, "\nUid:");

	return uid && sscanf(uid + 5, "%lu %lu", real, effective) == 2;
}

/* The command line of the process at dirfd, NULs as spaces, cut to size;
 * its comm in brackets when it has none. */
static void process_command(int dirfd, char *buf, size_t size)
{
	ssize_t n = proc_read(dirfd, "cmdline", buf, size);

	if (n <= 0) {
		char comm[32];

		if (proc_read(dirfd, "comm", comm, sizeof(comm)) <= 0)
			comm[0] = '\0';
		comm[strcspn(comm, "\n")] = '\0';
		snprintf(buf, size, "[%s]", comm);
		return;
	}
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0' || (unsigned char)buf[i] < 0x20)
			buf[i] = ' ';
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = '\0';
}

bool sshd_conn_cgroup_is_login(const char *cgroup, uid_t uid)
{
	char slice[64], manager[128];
	const char *line = NULL, *path, *end;
	size_t len, slice_len;

	for (const char *p = cgroup; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, "0::", 3) == 0) {
			line = p + 3;
			break;
		}
		if (!line && (path = strstr(p, ":name=systemd:")) &&
		    (!strchr(p, '\n') || path < strchr(p, '\n')))
			line = path + strlen(":name=systemd:");
	}
	if (!line)
		return false;
	end = strchr(line, '\n');
	len = end ? (size_t)(end - line) : strlen(line);
	slice_len = (size_t)snprintf(slice, sizeof(slice), "/user.slice/user-%lu.slice/",
				     (unsigned long)uid);
	snprintf(manager, sizeof(manager), "%suser@%lu.service/init.scope", slice,
		 (unsigned long)uid);
	if (len == strlen(manager) && strncmp(line, manager, len) == 0)
		return true;
	if (len <= slice_len + strlen("session-.scope") || strncmp(line, slice, slice_len) != 0)
		return false;
	path = line + slice_len;
	len -= slice_len;
	if (strncmp(path, "session-", 8) != 0 || strncmp(path + len - 6, ".scope", 6) != 0)
		return false;
	/* logind's session ids: letters and digits, no further level. */
	for (size_t i = 8; i < len - 6; i++)
		if (!((path[i] >= '0' && path[i] <= '9') || (path[i] >= 'a' && path[i] <= 'z') ||
		      (path[i] >= 'A' && path[i] <= 'Z')))
			return false;
	return true;
}

int sshd_conn_leftovers(uid_t uid, unsigned long long since_start, time_t since,
			struct sshd_conn_leftover *out, size_t max, size_t *count)
{
	char status[4096], cgroup[1024];
	unsigned long real, effective;
	time_t boot = sshd_conn_started_at(0);
	long ticks = sysconf(_SC_CLK_TCK);
	struct dirent *e;
	int procfd, dirfd;
	DIR *dir;

	*count = 0;
	if (boot == 0 || ticks <= 0)
		return -EIO;
	procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0)
		return -errno;
	dir = fdopendir(procfd);
	if (!dir) {
		close(procfd);
		return -errno;
	}
	while ((e = readdir(dir))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		unsigned long long start;

		if (*end || pid <= 0 || pid > INT32_MAX)
			continue;
		dirfd = openat(procfd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0)
			continue;
		if (proc_read(dirfd, "status", status, sizeof(status)) <= 0 ||
		    !status_uids(status, &real, &effective) ||
		    (real != uid && effective != uid))
			goto next;
		/* A zombie runs nothing; its parent has yet to reap it. */
		if (process_zombie(dirfd))
			goto next;
		start = process_start(dirfd);
		if (start == 0 || (since_start ? start < since_start
				   : boot + (time_t)(start / (unsigned long long)ticks) + 1 < since))
			goto next;
		/* In a logind session scope: a login of its own, not one of
		 * the grant's (their scopes were ended before this is asked);
		 * or the account's systemd --user itself, which logind started
		 * for the login and stops after the last one (what it runs for
		 * the account is reported). */
		if (proc_read(dirfd, "cgroup", cgroup, sizeof(cgroup)) > 0 &&
		    sshd_conn_cgroup_is_login(cgroup, uid))
			goto next;
		if (*count < max) {
			out[*count].pid = (pid_t)pid;
			process_command(dirfd, out[*count].command, sizeof(out[*count].command));
		}
		(*count)++;
next:
		close(dirfd);
	}
	closedir(dir);
	return 0;
}

int sshd_conn_signal(int pidfd, int sig)
{
	if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
		return -errno;
	return 0;
}

int sshd_conn_end(const struct sshd_conn_peer *peer, pid_t *pid,
		  const char **why)
{
	pid_t found;
	int pidfd, r;

	r = sshd_conn_open(peer, &pidfd, &found, why);
	if (r != 0)
		return r;
	r = sshd_conn_signal(pidfd, SIGTERM);
	close(pidfd);
	if (r == -ESRCH) {
		*why = "the sshd monitor exited meanwhile";
		return SL_NOT_FOUND;
	}
	if (r < 0) {
		*why = "cannot signal the sshd monitor";
		return r;
	}
	*pid = found;
	return 0;
}

/* The control socket and the event loop: accept, check the peer, read one
 * request within a deadline, answer, close. */
#define _GNU_SOURCE /* struct ucred, accept4 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "fsutil.h"
#include "log.h"
#include "protocol.h"
#include "timeutil.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

/*
 * Decide what to do with whatever holds the socket's name in its directory
 * (dir_fd): nothing (0), a stale socket of a dead daemon (removed, 0), or
 * something that must not be touched (SL_REFUSED with *why).
 */
static int clear_socket_path(int dir_fd, const char *name, const char *path,
			     const char **why)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int fd = -1, r;

	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		*why = strerror(errno);
		return SL_REFUSED;
	}
	if (!S_ISSOCK(st.st_mode)) {
		*why = "the path exists and is not a socket; refusing to replace it";
		return SL_REFUSED;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*why = strerror(errno);
		return SL_REFUSED;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
		*why = "another sshleased is answering on it";
		r = SL_REFUSED;
	} else if (errno == ECONNREFUSED) {
		/* Nobody listens: left behind by a daemon that died. */
		if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT) {
			*why = strerror(errno);
			r = SL_REFUSED;
		} else {
			log_info("removed the stale socket %.200s", path);
			r = 0;
		}
	} else if (errno == EPROTOTYPE) {
		*why = "another program's socket is at that path";
		r = SL_REFUSED;
	} else {
		*why = strerror(errno);
		r = SL_REFUSED;
	}
	close(fd);
	return r;
}

/*
 * Open the directory that holds the socket and check it: not a symlink
 * (its last component; O_NOFOLLOW), owned by root, not writable by group
 * or others. Only root can then create, rename or remove names in it, so
 * nobody can swap the socket for a symlink between bind and chown and
 * have root chown or chmod something else. 0 with the fd in *out, or an
 * error logged with what to do.
 */
static int socket_dir_open(const char *path, const char *dir, int *out)
{
	enum fsutil_distrust broken = FSUTIL_TRUSTED;
	struct stat st;
	int fd, r;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		if (e == ELOOP || (e == ENOTDIR && lstat(dir, &st) == 0 && S_ISLNK(st.st_mode)))
			log_err("refusing the socket %.200s: its directory %.200s is a symlink; give the real directory in socket=",
				path, dir);
		else
			log_err("cannot open the directory of the socket %.200s: %s",
				path, strerror(e));
		return -e;
	}
	/* Rule: root's own directory that neither group nor others can
	 * write, so nobody else can swap the socket for a link. */
	r = fsutil_trust_fd(fd, 0, FSUTIL_TRUST_NO_SHARED_WRITE, &st, &broken);
	if (r < 0) {
		log_err("cannot check the directory of the socket %.200s: %s", path,
			strerror(-r));
		close(fd);
		return r;
	}
	if (broken == FSUTIL_DISTRUST_OWNER) {
		log_err("refusing the socket %.200s: its directory %.200s belongs to uid %lu, not root; whoever owns it could swap the socket for a link to another file. Put the socket in a directory of root's (the default is /run/sshlease)",
			path, dir, (unsigned long)st.st_uid);
		close(fd);
		return -EPERM;
	}
	if (broken == FSUTIL_DISTRUST_MODE) {
		log_err("refusing the socket %.200s: its directory %.200s is writable by %s (mode %04o); others could swap the socket for a link to another file. chmod go-w it, or put the socket in a directory of root's (the default is /run/sshlease)",
			path, dir, (st.st_mode & S_IWOTH) ? "everyone" : "its group",
			(unsigned)(st.st_mode & 07777));
		close(fd);
		return -EPERM;
	}
	*out = fd;
	return 0;
}

static int group_lookup(const char *name, gid_t *out)
{
	struct group grp, *result = NULL;
	char buf[4096];
	int r;

	if (!name || name[0] == '\0')
		return SL_NOT_FOUND;
	r = getgrnam_r(name, &grp, buf, sizeof(buf), &result);
	if (r != 0)
		return -r;
	if (!result)
		return SL_NOT_FOUND;
	*out = grp.gr_gid;
	return 0;
}

static int epoll_watch(struct daemon *d, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	if (epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

/* The socket group resolved when the socket was made; -1 when none. */
static long long socket_gid = -1;

int daemon_socket_open(struct daemon *d)
{
	const char *path = d->config->socket;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char dir[sizeof(addr.sun_path)];
	const char *why = NULL, *name;
	struct stat st, by_path;
	mode_t old_umask;
	gid_t gid = 0;
	int fd = -1, dir_fd = -1, r;
	bool bound = false;

	if (!path || path[0] != '/' || strlen(path) >= sizeof(addr.sun_path) ||
	    path[strlen(path) - 1] == '/') {
		log_err("socket path %.200s must be absolute, name a file and be shorter than %zu bytes",
			path ? path : "(none)", sizeof(addr.sun_path));
		r = -EINVAL;
		goto out;
	}
	/* dir is path up to its last '/'; name what follows. */
	memcpy(dir, path, strlen(path) + 1);
	name = strrchr(path, '/') + 1;
	if (strrchr(dir, '/') == dir)
		dir[1] = '\0';
	else
		*strrchr(dir, '/') = '\0';
	r = daemon_make_dirs(dir, 0755);
	if (r < 0) {
		log_err("cannot create the directory of %.200s: %s", path, strerror(-r));
		goto out;
	}
	r = socket_dir_open(path, dir, &dir_fd);
	if (r < 0)
		goto out;
	r = clear_socket_path(dir_fd, name, path, &why);
	if (r != 0) {
		log_err("cannot use the socket %.200s: %s", path, why);
		r = -EADDRINUSE;
		goto out;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		log_err("cannot create the socket: %s", strerror(errno));
		goto out;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	/* Born 0600, so nobody can connect before the mode is final. */
	old_umask = umask(0177);
	r = bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ? -errno : 0;
	umask(old_umask);
	if (r < 0) {
		log_err("cannot bind %.200s: %s", path, strerror(-r));
		goto out;
	}
	bound = true;
	/* bind went by the path: it must have landed in the directory that
	 * was checked (nobody moved a directory above it meanwhile). */
	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISSOCK(st.st_mode) ||
	    lstat(path, &by_path) < 0 || by_path.st_dev != st.st_dev ||
	    by_path.st_ino != st.st_ino) {
		log_err("refusing the socket %.200s: the path no longer leads to the directory that was checked",
			path);
		r = -EPERM;
		goto out;
	}
	r = group_lookup(d->config->socket_group, &gid);
	if (r == 0) {
		/* By name in a directory only root can change, never
		 * following a link. */
		if (fchownat(dir_fd, name, 0, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
		    fchmodat(dir_fd, name, 0660, 0) < 0) {
			r = -errno;
			log_err("cannot set owner and mode of %.200s: %s", path, strerror(errno));
			goto out;
		}
		socket_gid = gid;
	} else {
		char safe[64];

		log_warn("group %s does not exist%s; the socket is for root only (0600)",
			 log_safe(safe, sizeof(safe),
				  d->config->socket_group ? d->config->socket_group : ""),
			 r < 0 ? " or cannot be looked up" : "");
		socket_gid = -1;
	}
	if (listen(fd, 32) < 0) {
		r = -errno;
		log_err("cannot listen on %.200s: %s", path, strerror(errno));
		goto out;
	}
	d->socket_path = strdup(path);
	d->socket_name = strdup(name);
	if (!d->socket_path || !d->socket_name) {
		r = -ENOMEM;
		goto out;
	}
	d->socket_dev = st.st_dev;
	d->socket_ino = st.st_ino;
	r = epoll_watch(d, fd, DAEMON_TAG_LISTEN);
	if (r < 0)
		goto out;
	d->listen_fd = fd;
	fd = -1;
	d->socket_dir_fd = dir_fd;
	dir_fd = -1;
	log_info("listening on %.200s", path);
	r = 0;
out:
	if (r < 0 && bound && dir_fd >= 0) {
		/* Ours only if it is still the socket just made. */
		struct stat now;

		if (fstatat(dir_fd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISSOCK(now.st_mode))
			unlinkat(dir_fd, name, 0);
	}
	if (r < 0) {
		free(d->socket_path);
		free(d->socket_name);
		d->socket_path = NULL;
		d->socket_name = NULL;
	}
	if (fd >= 0)
		close(fd);
	if (dir_fd >= 0)
		close(dir_fd);
	return r;
}

void daemon_socket_close(struct daemon *d)
{
	struct stat st;

	if (d->listen_fd >= 0)
		close(d->listen_fd);
	d->listen_fd = -1;
	/* Remove the name only while it is still the socket we made. */
	if (d->socket_dir_fd >= 0 && d->socket_name &&
	    fstatat(d->socket_dir_fd, d->socket_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_dev == d->socket_dev && st.st_ino == d->socket_ino)
		unlinkat(d->socket_dir_fd, d->socket_name, 0);
	if (d->socket_dir_fd >= 0)
		close(d->socket_dir_fd);
	d->socket_dir_fd = -1;
	free(d->socket_path);
	free(d->socket_name);
	d->socket_path = NULL;
	d->socket_name = NULL;
}

/* Root, or a member of the socket group as primary or supplementary group
 * at the time the peer connected. */
static bool peer_allowed(int fd, const struct ucred *cred)
{
	gid_t stack_groups[64];
	gid_t *groups = stack_groups;
	socklen_t len = sizeof(stack_groups);
	bool allowed = false;

	if (cred->uid == 0)
		return true;
	if (socket_gid < 0)
		return false;
	if ((long long)cred->gid == socket_gid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
		if (errno != ERANGE || len == 0 || len > NGROUPS_MAX * sizeof(gid_t))
			return false;
		groups = malloc(len);
		if (!groups)
			return false;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
			goto out;
	}
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if ((long long)groups[i] == socket_gid)
			allowed = true;
out:
	if (groups != stack_groups)
		free(groups);
	return allowed;
}

static void peer_name(uid_t uid, char *out, size_t size)
{
	struct passwd pw, *result = NULL;
	char buf[4096];

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &result) == 0 && result)
		log_safe(out, size, pw.pw_name);
	else
		snprintf(out, size, "%lu", (unsigned long)uid);
}

static void connection_close(struct daemon *d, struct connection *conn)
{
	if (conn->fd < 0)
		return;
	epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, conn->fd, NULL);
	close(conn->fd);
	conn->fd = -1;
	d->n_connections--;
}

/* Connections open now, in all and from uid. */
static void connections_count(const struct daemon *d, uid_t uid, size_t *total,
			      size_t *of_uid)
{
	*total = 0;
	*of_uid = 0;
	for (size_t i = 0; i < DAEMON_MAX_CONNECTIONS; i++) {
		if (d->connections[i].fd < 0)
			continue;
		(*total)++;
		if (d->connections[i].uid == uid)
			(*of_uid)++;
	}
}

static void accept_connections(struct daemon *d)
{
	static long long last_busy_warning_ms;

	for (;;) {
		struct connection *conn = NULL;
		struct ucred cred;
		socklen_t len = sizeof(cred);
		size_t total, of_uid;
		int fd;

		fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				log_warn("accept: %s", strerror(errno));
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			log_warn("cannot read the peer's credentials: %s", strerror(errno));
			close(fd);
			continue;
		}
		/* No uid but root may take the last slots, nor more than its
		 * share: a member of the socket group holding connections
		 * open cannot lock root (or the others) out. */
		connections_count(d, cred.uid, &total, &of_uid);
		if (!admission_connection_allowed(cred.uid, total, of_uid)) {
			long long now = time_monotonic_ms();

			if (now - last_busy_warning_ms > 10000) {
				if (total >= DAEMON_MAX_CONNECTIONS - ADMISSION_ROOT_RESERVED)
					log_warn("%zu connections open; refusing more from anyone but root",
						 total);
				else
					log_warn("uid %lu holds %zu connections; refusing more from it",
						 (unsigned long)cred.uid, of_uid);
				last_busy_warning_ms = now;
			}
			close(fd);
			continue;
		}
		for (size_t i = 0; i < DAEMON_MAX_CONNECTIONS; i++) {
			if (d->connections[i].fd < 0) {
				conn = &d->connections[i];
				break;
			}
		}
		if (!conn) {
			close(fd);
			continue;
		}
		*conn = (struct connection){
			.fd = fd,
			.deadline_ms = time_monotonic_ms() + DAEMON_CONNECTION_TIMEOUT_MS,
			.pid = cred.pid,
			.uid = cred.uid,
			.gid = cred.gid,
			.allowed = peer_allowed(fd, &cred),
		};
		peer_name(cred.uid, conn->by_user, sizeof(conn->by_user));
		if (epoll_watch(d, fd, DAEMON_TAG_CONNECTION + (uint32_t)(conn - d->connections)) < 0) {
			log_warn("epoll: %s", strerror(errno));
			close(fd);
			conn->fd = -1;
			continue;
		}
		d->n_connections++;
	}
}

/*
 * Record that an outsider (neither root nor in socket_group) was refused
 * (DESIGN.md §8: every refusal is recorded), at most once per uid per
 * minute: the next record says how many went unrecorded in between, so a
 * local user cannot flood the log (or the disk) by knocking.
 */
static void refuse_outsider(struct daemon *d, const struct connection *conn)
{
	unsigned long suppressed = 0;
	char reason[128];
	struct audit_event ev = {
		.event = "refuse",
		.by_uid = (long long)conn->uid,
		.by_user = conn->by_user,
		.reason = reason,
	};

	if (!admission_refusal_record(&d->refusals, conn->uid, time_monotonic_ms(),
				      &suppressed)) {
		log_debug("denied a request from uid %lu (%s), pid %ld; recorded at most once a minute",
			  (unsigned long)conn->uid, conn->by_user, (long)conn->pid);
		return;
	}
	if (suppressed > 0)
		snprintf(reason, sizeof(reason), "permission denied (%lu more suppressed)",
			 suppressed);
	else
		snprintf(reason, sizeof(reason), "permission denied");
	daemon_audit(d, &ev);
}

static json_t *denied_reply(const struct daemon *d)
{
	char message[256];
	char group[64];

	if (socket_gid >= 0)
		snprintf(message, sizeof(message),
			 "permission denied: only root and members of group %s may talk to sshleased",
			 log_safe(group, sizeof(group), d->config->socket_group));
	else
		snprintf(message, sizeof(message),
			 "permission denied: only root may talk to sshleased");
	return proto_error(PROTO_ERR_DENIED, message);
}

static void connection_event(struct daemon *d, struct connection *conn)
{
	json_t *request = NULL, *response = NULL;
	int r;

	r = proto_recv(conn->fd, 0, &request);
	if (r == -ETIMEDOUT)
		return; /* nothing there yet (a stale wake-up) */
	if (!conn->allowed && (r == 0 || r == -EMSGSIZE || r == -EBADMSG)) {
		/* An outsider hears "denied" whatever it sent. */
		refuse_outsider(d, conn);
		response = denied_reply(d);
		goto send;
	}
	switch (r) {
	case 0:
		break;
	case -EMSGSIZE:
		response = proto_error(PROTO_ERR_USAGE, "request larger than 64 KiB");
		break;
	case -EBADMSG:
		response = proto_error(PROTO_ERR_USAGE, "malformed request: not a JSON object");
		break;
	case -ECONNRESET:
		goto out;
	default:
		log_warn("reading a request from pid %ld: %s", (long)conn->pid,
			 strerror(-r));
		goto out;
	}
	if (!response)
		response = daemon_handle(d, conn, request);
send:
	if (!response) {
		log_err("out of memory answering pid %ld", (long)conn->pid);
		goto out;
	}
	r = proto_send(conn->fd, response);
	if (r == -EMSGSIZE) {
		json_decref(response);
		response = proto_error(PROTO_ERR_FAILED,
				       "the answer is larger than the protocol allows (64 KiB); narrow the request");
		r = response ? proto_send(conn->fd, response) : -ENOMEM;
	}
	if (r < 0 && r != -EPIPE && r != -ECONNRESET)
		log_warn("answering pid %ld: %s", (long)conn->pid, strerror(-r));
out:
	json_decref(request);
	json_decref(response);
	/* One request per connection. */
	connection_close(d, conn);
}

static void expire_connections(struct daemon *d)
{
	long long now = time_monotonic_ms();

	for (size_t i = 0; i < DAEMON_MAX_CONNECTIONS; i++) {
		struct connection *conn = &d->connections[i];

		if (conn->fd >= 0 && conn->deadline_ms <= now) {
			log_debug("closing an idle connection from pid %ld", (long)conn->pid);
			connection_close(d, conn);
		}
	}
}

static int next_timeout_ms(const struct daemon *d)
{
	int sessions = daemon_sessions_timeout_ms(d);
	int owed = daemon_keywatch_timeout_ms(d);
	long long earliest = -1, now;
	int timeout;

	/* The sooner of the sessions' and an owed sweep's. */
	if (owed >= 0 && (sessions < 0 || owed < sessions))
		sessions = owed;
	/* No connection and no monitor to kill: sleep until an event,
	 * however long that is. */
	if (d->n_connections == 0)
		return sessions;
	for (size_t i = 0; i < DAEMON_MAX_CONNECTIONS; i++) {
		const struct connection *conn = &d->connections[i];

		if (conn->fd >= 0 && (earliest < 0 || conn->deadline_ms < earliest))
			earliest = conn->deadline_ms;
	}
	if (earliest < 0)
		return sessions;
	now = time_monotonic_ms();
	if (earliest <= now)
		return 0;
	timeout = earliest - now > INT_MAX ? INT_MAX : (int)(earliest - now);
	return sessions >= 0 && sessions < timeout ? sessions : timeout;
}

static void signal_event(struct daemon *d)
{
	struct signalfd_siginfo info;

	while (read(d->signal_fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
		switch (info.ssi_signo) {
		case SIGHUP:
			log_info("SIGHUP: reloading the configuration");
			daemon_reload(d);
			break;
		case SIGTERM:
		case SIGINT:
			log_info("%s: stopping", info.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			d->quit = true;
			break;
		default:
			break;
		}
	}
}

int daemon_loop(struct daemon *d)
{
	struct epoll_event events[32];
	int r;

	for (size_t i = 0; i < DAEMON_MAX_CONNECTIONS; i++)
		d->connections[i].fd = -1;
	r = epoll_watch(d, d->timer_fd, DAEMON_TAG_TIMER);
	if (r == 0)
		r = epoll_watch(d, d->signal_fd, DAEMON_TAG_SIGNAL);
	if (r < 0) {
		log_err("epoll: %s", strerror(-r));
		return r;
	}
	/* The live grants' accounts are watched before the first request. */
	daemon_keywatch_sync(d);
	while (!d->quit) {
		int n = epoll_wait(d->epoll_fd, events, (int)SL_ARRAY_SIZE(events),
				   next_timeout_ms(d));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait: %s", strerror(errno));
			return -errno;
		}
		for (int i = 0; i < n && !d->quit; i++) {
			uint32_t tag = events[i].data.u32;

			if (tag & DAEMON_TAG_SESSION) {
				daemon_session_exited(d, (pid_t)(tag & ~DAEMON_TAG_SESSION));
			} else if (tag & DAEMON_TAG_KEYWATCH) {
				daemon_keywatch_event(d, (pid_t)(tag & ~DAEMON_TAG_KEYWATCH));
			} else if (tag == DAEMON_TAG_SSHD_LOG) {
				daemon_sshd_log_event(d);
			} else if (tag == DAEMON_TAG_LISTEN) {
				accept_connections(d);
			} else if (tag == DAEMON_TAG_TIMER) {
				daemon_timer_event(d);
			} else if (tag == DAEMON_TAG_SIGNAL) {
				signal_event(d);
			} else if (tag >= DAEMON_TAG_CONNECTION &&
				   tag - DAEMON_TAG_CONNECTION < DAEMON_MAX_CONNECTIONS) {
				struct connection *conn =
					&d->connections[tag - DAEMON_TAG_CONNECTION];

				if (conn->fd >= 0)
					connection_event(d, conn);
			}
		}
		expire_connections(d);
		daemon_sessions_tick(d);
		daemon_keywatch_sync(d);
	}
	for (size_t i = 0; i < DAEMON_MAX_CONNECTIONS; i++)
		connection_close(d, &d->connections[i]);
	return 0;
}

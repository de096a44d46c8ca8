/*
 * The connection finder without sshd: the identity a monitor must have,
 * then (as root) real TCP connections on loopback held by stand-in
 * processes: a copy of sleep(1) named "sshd" whose title is
 * "sshd: USER [priv]" is found and ended; the same held by a non-root
 * process, by a root process of another name, or with another title is
 * not, and is never signalled. IPv4, IPv6, and IPv4 on a socket bound to
 * ::.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sshd-conn.h"
#include "test.h"

static void test_is_monitor(void)
{
	static const struct {
		uid_t uids[4];
		const char *comm, *title, *user;
		bool monitor;
	} cases[] = {
		{ { 0, 0, 0, 0 }, "sshd", "sshd: shop [priv]", NULL, true },
		{ { 0, 0, 0, 0 }, "sshd", "sshd: shop [priv]", "shop", true },
		{ { 0, 0, 0, 0 }, "sshd-session", "sshd-session: www-data [priv]", "www-data", true },
		{ { 0, 0, 0, 0 }, "sshd", "sshd: shop [priv]", "other", false },
		{ { 0, 0, 0, 0 }, "sshd", "sshd: shop [priv]", "sho", false },
		/* not root, or not all of its uids */
		{ { 1000, 1000, 1000, 1000 }, "sshd", "sshd: shop [priv]", NULL, false },
		{ { 1000, 0, 0, 0 }, "sshd", "sshd: shop [priv]", NULL, false },
		{ { 0, 0, 1000, 0 }, "sshd", "sshd: shop [priv]", NULL, false },
		{ { 0, 0, 0, 1000 }, "sshd", "sshd: shop [priv]", NULL, false },
		/* another program with sshd's title */
		{ { 0, 0, 0, 0 }, "sleep", "sshd: shop [priv]", NULL, false },
		{ { 0, 0, 0, 0 }, "sshd-session", "sshd: shop [priv]", NULL, false },
		{ { 0, 0, 0, 0 }, "sshd", "sshd-session: shop [priv]", NULL, false },
		/* sshd's other processes */
		{ { 0, 0, 0, 0 }, "sshd", "sshd: shop@pts/0", NULL, false },
		{ { 0, 0, 0, 0 }, "sshd", "sshd: shop@notty", NULL, false },
		{ { 0, 0, 0, 0 }, "sshd", "sshd: shop [net]", NULL, false },
		{ { 0, 0, 0, 0 }, "sshd", "sshd: [accepted]", NULL, false },
		{ { 0, 0, 0, 0 }, "sshd", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", NULL, false },
		{ { 0, 0, 0, 0 }, "sshd", "/usr/sbin/sshd -D", NULL, false },
		/* a title that is not exactly "NAME: USER [priv]" */
		{ { 0, 0, 0, 0 }, "sshd", "sshd: shop [priv] ", NULL, false },
		{ { 0, 0, 0, 0 }, "sshd", "sshd:  shop [priv]", NULL, false },
		{ { 0, 0, 0, 0 }, "sshd", "sshd: x y [priv]", NULL, false },
		{ { 0, 0, 0, 0 }, "sshd", "sshd: [priv]", NULL, false },
		{ { 0, 0, 0, 0 }, "sshd", "sshd:  [priv]", NULL, false },
		{ { 0, 0, 0, 0 }, "sshd", "sshd: Shop [priv]", NULL, false },
		{ { 0, 0, 0, 0 }, "sshd", "sshdx: shop [priv]", NULL, false },
		{ { 0, 0, 0, 0 }, "sshd", "", NULL, false },
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		struct sshd_conn_process p = { 0 };

		memcpy(p.uids, cases[i].uids, sizeof(p.uids));
		snprintf(p.comm, sizeof(p.comm), "%s", cases[i].comm);
		snprintf(p.title, sizeof(p.title), "%s", cases[i].title);
		CHECK_MSG(sshd_conn_is_monitor(&p, cases[i].user) == cases[i].monitor,
			  "comm %s title \"%s\" user %s", cases[i].comm,
			  cases[i].title, cases[i].user ? cases[i].user : "(any)");
	}
}

/* ---- as root: stand-ins on real connections ---- */

static char dir[256];
static char fake_sshd[300]; /* a copy of sleep named sshd */

/* A loopback connection: the server's accepted end and the client's
 * address as the server sees it. */
struct conn {
	int listener, client, accepted;
	struct sshd_conn_peer peer;
};

static bool conn_open(struct conn *c, int family, const char *bind_to,
		      const char *connect_to)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int connect_family = strchr(connect_to, ':') ? AF_INET6 : AF_INET;

	memset(c, 0, sizeof(*c));
	c->listener = c->client = c->accepted = -1;
	c->listener = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->listener < 0)
		return false;
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		int off = 0;

		setsockopt(c->listener, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
		a->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, bind_to, &a->sin6_addr) != 1)
			return false;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		if (inet_pton(AF_INET, bind_to, &a->sin_addr) != 1)
			return false;
		len = sizeof(*a);
	}
	if (bind(c->listener, (struct sockaddr *)&ss, len) < 0 ||
	    listen(c->listener, 4) < 0 ||
	    getsockname(c->listener, (struct sockaddr *)&ss, &len) < 0)
		return false;
	c->peer.local_port = ntohs(family == AF_INET6 ?
				   ((struct sockaddr_in6 *)&ss)->sin6_port :
				   ((struct sockaddr_in *)&ss)->sin_port);
	/* Connect to the port bound, at connect_to. */
	memset(&ss, 0, sizeof(ss));
	if (connect_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)c->peer.local_port);
		inet_pton(AF_INET6, connect_to, &a->sin6_addr);
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)c->peer.local_port);
		inet_pton(AF_INET, connect_to, &a->sin_addr);
		len = sizeof(*a);
	}
	c->client = socket(connect_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->client < 0 || connect(c->client, (struct sockaddr *)&ss, len) < 0)
		return false;
	/* Not CLOEXEC: the stand-ins inherit it. */
	c->accepted = accept(c->listener, NULL, NULL);
	if (c->accepted < 0)
		return false;
	len = sizeof(ss);
	if (getsockname(c->client, (struct sockaddr *)&ss, &len) < 0)
		return false;
	c->peer.family = connect_family;
	if (connect_family == AF_INET6) {
		memcpy(c->peer.address, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
		c->peer.port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	} else {
		memcpy(c->peer.address, &((struct sockaddr_in *)&ss)->sin_addr, 4);
		c->peer.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	return true;
}

static void conn_close(struct conn *c)
{
	if (c->listener >= 0)
		close(c->listener);
	if (c->client >= 0)
		close(c->client);
	if (c->accepted >= 0)
		close(c->accepted);
}

/* A process that holds every fd this one has without CLOEXEC: program
 * with argv[0] title, as uid (0: root). Waits until it runs program. */
static pid_t stand_in(const char *program, const char *title, uid_t uid)
{
	char comm_path[64], comm[32] = "", *want = strrchr(program, '/') + 1;
	pid_t pid = fork();

	if (pid == 0) {
		char *argv[] = { (char *)title, (char *)"60", NULL };

		if (uid != 0 && (setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0))
			_exit(126);
		execv(program, argv);
		_exit(127);
	}
	if (pid < 0)
		return -1;
	snprintf(comm_path, sizeof(comm_path), "/proc/%d/comm", (int)pid);
	for (int i = 0; i < 500; i++) {
		FILE *f = fopen(comm_path, "re");

		if (f) {
			if (fgets(comm, sizeof(comm), f))
				comm[strcspn(comm, "\n")] = '\0';
			fclose(f);
		}
		if (strcmp(comm, want) == 0)
			return pid;
		usleep(10000);
	}
	CHECK_MSG(false, "%s did not start", program);
	return pid;
}

/* The stand-in is still alive (never signalled); then it is killed. */
static void reap_alive(pid_t pid)
{
	int status = 0;

	if (pid <= 0)
		return;
	CHECK(waitpid(pid, &status, WNOHANG) == 0);
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void check_found(const struct conn *c, pid_t expected)
{
	pid_t pid = 0;
	const char *why = NULL;
	int r = sshd_conn_find(&c->peer, &pid, &why);

	CHECK_MSG(r == 0, "find = %d (%s)", r, why ? why : "");
	CHECK_INT(pid, expected);
}

static void check_not_found(const struct sshd_conn_peer *peer)
{
	pid_t pid = 0;
	const char *why = NULL;
	int r = sshd_conn_find(peer, &pid, &why);

	CHECK_MSG(r == SL_NOT_FOUND, "find = %d (%s), pid %d", r, why ? why : "",
		  (int)pid);
	CHECK(why && *why);
}

static void test_found_and_ended(int family, const char *bind_to,
				 const char *connect_to)
{
	struct conn c;
	struct sshd_conn_peer peer;
	pid_t monitor, pid = 0;
	const char *why = NULL;
	int pidfd = -1, status = 0, r;

	if (!conn_open(&c, family, bind_to, connect_to)) {
		if (family == AF_INET6 && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)) {
			fprintf(stderr, "no IPv6 here: %s to %s not tried\n", bind_to, connect_to);
			conn_close(&c);
			return;
		}
		CHECK_MSG(false, "loopback connection %s to %s: %s", bind_to,
			  connect_to, strerror(errno));
		conn_close(&c);
		return;
	}
	/* Nobody but this test holds it: not sshd's. */
	check_not_found(&c.peer);
	monitor = stand_in(fake_sshd, "sshd: slfxconn [priv]", 0);
	close(c.accepted);
	c.accepted = -1;
	check_found(&c, monitor);
	c.peer.user = "slfxconn";
	check_found(&c, monitor);
	peer = c.peer;
	peer.user = "owner";
	check_not_found(&peer);
	peer = c.peer;
	peer.local_port = c.peer.local_port == 1 ? 2 : 1;
	check_not_found(&peer);
	peer = c.peer;
	peer.port = c.peer.port == 1 ? 2 : c.peer.port - 1;
	check_not_found(&peer);
	peer = c.peer;
	peer.local_port = 0;
	check_found(&c, monitor);

	r = sshd_conn_open(&c.peer, &pidfd, &pid, &why);
	CHECK_MSG(r == 0, "open = %d (%s)", r, why ? why : "");
	CHECK_INT(pid, monitor);
	if (r == 0) {
		struct pollfd p = { .fd = pidfd, .events = POLLIN };

		CHECK_INT(poll(&p, 1, 0), 0);
		CHECK_INT(sshd_conn_end(&c.peer, &pid, &why), 0);
		CHECK_INT(pid, monitor);
		CHECK_INT(poll(&p, 1, 5000), 1);
	}
	CHECK(waitpid(monitor, &status, 0) == monitor);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
	/* Gone and reaped: the pidfd signals nobody, whoever has the pid now. */
	if (pidfd >= 0) {
		CHECK_INT(sshd_conn_signal(pidfd, SIGTERM), -ESRCH);
		close(pidfd);
	}
	/* The connection is closed: the client reads its end. */
	{
		char byte;

		CHECK_INT(read(c.client, &byte, 1), 0);
	}
	check_not_found(&c.peer);
	CHECK_INT(sshd_conn_end(&c.peer, &pid, &why), SL_NOT_FOUND);
	conn_close(&c);
}

/* Processes that hold the socket but are not a monitor: never found, never
 * signalled. */
static void test_impostors(void)
{
	static const struct {
		const char *program; /* NULL: the fake sshd */
		const char *title;
		uid_t uid;
	} impostors[] = {
		{ NULL, "sshd: slfxconn [priv]", 65534 },  /* not root */
		{ "/bin/sleep", "sshd: slfxconn [priv]", 0 }, /* another program */
		{ NULL, "sshd: slfxconn@notty", 0 },       /* the user's process */
		{ NULL, "sshd: slfxconn [net]", 0 },
	};
	pid_t pids[SL_ARRAY_SIZE(impostors)];
	struct conn c;
	pid_t pid = 0;
	const char *why = NULL;

	if (!conn_open(&c, AF_INET, "127.0.0.1", "127.0.0.1")) {
		CHECK_MSG(false, "loopback connection: %s", strerror(errno));
		conn_close(&c);
		return;
	}
	for (size_t i = 0; i < SL_ARRAY_SIZE(impostors); i++)
		pids[i] = stand_in(impostors[i].program ? impostors[i].program : fake_sshd,
				   impostors[i].title, impostors[i].uid);
	check_not_found(&c.peer);
	CHECK_INT(sshd_conn_end(&c.peer, &pid, &why), SL_NOT_FOUND);
	/* With a real one among them, it alone is found. */
	{
		pid_t monitor = stand_in(fake_sshd, "sshd: slfxconn [priv]", 0);
		int status = 0;

		check_found(&c, monitor);
		CHECK_INT(sshd_conn_end(&c.peer, &pid, &why), 0);
		CHECK_INT(pid, monitor);
		CHECK(waitpid(monitor, &status, 0) == monitor);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
	}
	for (size_t i = 0; i < SL_ARRAY_SIZE(impostors); i++)
		reap_alive(pids[i]);
	conn_close(&c);
}

/* A process in a logind session scope or the account's systemd --user is
 * the account's own login; a unit the account named like one under its
 * user manager is not. */
static void test_cgroup_is_login(void)
{
	static const struct {
		const char *cgroup;
		bool login;
	} cases[] = {
		{ "0::/user.slice/user-1000.slice/session-4.scope\n", true },
		{ "0::/user.slice/user-1000.slice/session-c12.scope\n", true },
		{ "0::/user.slice/user-1000.slice/user@1000.service/init.scope\n", true },
		{ "1:name=systemd:/user.slice/user-1000.slice/session-4.scope\n", true },
		{ "9:name=systemd:/user.slice/user-1000.slice/session-4.scope\n8:pids:/\n"
		  "0::/user.slice/user-1000.slice/session-4.scope\n", true },
		/* hybrid: the unified line counts */
		{ "9:name=systemd:/user.slice/user-1000.slice/session-4.scope\n"
		  "0::/sshlease-escape\n", false },
		{ "0::/user.slice/user-1000.slice/user@1000.service/app.slice/session-1.scope\n", false },
		{ "0::/user.slice/user-1000.slice/user@1000.service/session-1.scope\n", false },
		{ "0::/user.slice/user-1000.slice/user@1000.service/app.slice/x.service/init.scope\n", false },
		{ "0::/user.slice/user-1001.slice/session-4.scope\n", false },
		{ "0::/user.slice/user-1000.slice/session-4.scope/sub\n", false },
		{ "0::/user.slice/user-1000.slice/session-.scope\n", false },
		{ "0::/user.slice/user-1000.slice/session-a/b.scope\n", false },
		{ "0::/system.slice/ssh.service\n", false },
		{ "0::/sshlease-escape\n", false },
		{ "", false },
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++)
		CHECK(sshd_conn_cgroup_is_login(cases[i].cgroup, 1000) == cases[i].login);
}

static void test_arguments(void)
{
	struct sshd_conn_peer peer = { .family = AF_UNIX, .port = 22 };
	pid_t pid;
	const char *why = NULL;

	CHECK_INT(sshd_conn_find(&peer, &pid, &why), SL_REFUSED);
	peer.family = AF_INET;
	peer.port = 0;
	CHECK_INT(sshd_conn_find(&peer, &pid, &why), SL_REFUSED);
	peer.port = 70000;
	CHECK_INT(sshd_conn_find(&peer, &pid, &why), SL_REFUSED);
}

/* Copy /bin/sleep to DIR/sshd, where every user may run it. */
static bool make_fake_sshd(void)
{
	char buf[65536];
	int in, out;
	ssize_t n;
	bool ok = true;

	snprintf(dir, sizeof(dir), "%s/test-sshd-conn.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir) || chmod(dir, 0755) < 0)
		return false;
	snprintf(fake_sshd, sizeof(fake_sshd), "%s/sshd", dir);
	in = open("/bin/sleep", O_RDONLY | O_CLOEXEC);
	out = open(fake_sshd, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (in < 0 || out < 0)
		ok = false;
	while (ok && (n = read(in, buf, sizeof(buf))) > 0)
		ok = write(out, buf, (size_t)n) == n;
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) < 0)
		ok = false;
	return ok;
}

int main(void)
{
	TEST(test_is_monitor());
	TEST(test_arguments());
	TEST(test_cgroup_is_login());
	if (geteuid() != 0) {
		fprintf(stderr, "skipped: the /proc part needs root\n");
		return test_failures ? 1 : 77;
	}
	if (!make_fake_sshd()) {
		perror("copy of /bin/sleep");
		return 1;
	}
	TEST(test_found_and_ended(AF_INET, "127.0.0.1", "127.0.0.1"));
	TEST(test_found_and_ended(AF_INET6, "::1", "::1"));
	TEST(test_found_and_ended(AF_INET6, "::", "127.0.0.1"));
	TEST(test_impostors());
	unlink(fake_sshd);
	rmdir(dir);
	return test_done();
}

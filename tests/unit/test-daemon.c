/* As root, the control protocol against a real sshleased: bad requests get
 * an error and cost only their own connection, idle and surplus
 * connections are closed, connection slots are shared out so that root is
 * never locked out, peers outside the socket group are denied (and
 * recorded once a minute), the socket is made only in a directory of
 * root's, a second daemon on the same socket refuses to start, and the
 * socket file is guarded at start and removed at stop. */
#define _GNU_SOURCE /* setresuid, setresgid */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-proc.h"
#include "fixture.h"
#include "protocol.h"
#include "test.h"

/* More than the daemon serves at once (64). */
#define DAEMON_TEST_CONNECTIONS 70

/* Item: what the server itself refuses (the handler's refusals are
 * test-handlers.c's): bytes that are not a JSON object, over-long or not,
 * and a client that connects and goes away, each costing only its own
 * connection. */
static void test_daemon_bad_requests(struct daemon_run *run)
{
	static const char *const not_objects[] = { "hello", "[{\"op\":\"status\"}]" };
	json_t *reply;
	const char *message;

	for (size_t i = 0; i < SL_ARRAY_SIZE(not_objects); i++) {
		reply = client_call(run->socket, not_objects[i]);
		CHECK_MSG(json_is_false(json_object_get(reply, "ok")), "%s", not_objects[i]);
		CHECK_MSG(client_error(reply) && strcmp(client_error(reply), "usage") == 0,
			  "%s: error %s", not_objects[i], fixture_str(client_error(reply)));
		message = json_string_value(json_object_get(reply, "message"));
		CHECK_MSG(message && strstr(message, "not a JSON object"), "%s: %s",
			  not_objects[i], fixture_str(message));
		json_decref(reply);
	}

	/* status says what the probe of the local sshd found. */
	reply = client_call(run->socket, "{\"op\":\"status\"}");
	CHECK(json_is_integer(json_object_get(json_object_get(reply, "sshd"), "port")));
	CHECK(json_is_array(json_object_get(json_object_get(reply, "sshd"), "host_keys")));
	CHECK(json_is_string(json_object_get(reply, "expiry_form")) ||
	      json_is_null(json_object_get(reply, "expiry_form")));
	json_decref(reply);

	/* Over-long: refused on its own connection. */
	char *big = fixture_json_of_size(PROTO_MAX_MESSAGE + 100);

	reply = client_call_raw(run->socket, big, PROTO_MAX_MESSAGE + 100);
	CHECK_STR(client_error(reply), "usage");
	message = json_string_value(json_object_get(reply, "message"));
	CHECK(message && strstr(message, "64 KiB"));
	json_decref(reply);
	free(big);

	/* A client that connects and goes away. */
	close(client_connect(run->socket));
	CHECK(daemon_run_alive(run));
}

static void test_daemon_connections(struct daemon_run *run)
{
	int fds[DAEMON_TEST_CONNECTIONS];
	json_t *reply = NULL;
	int closed = 0;

	/* A connection an earlier check closed holds its slot until the
	 * daemon reads its end; a round trip first makes sure it has (the
	 * end was readable before this request's connection was made). */
	reply = client_call(run->socket, "{\"op\":\"status\"}");
	CHECK(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);
	reply = NULL;

	/* More idle connections than the daemon serves: the surplus is
	 * closed at once, and the daemon still answers afterwards. */
	for (int i = 0; i < DAEMON_TEST_CONNECTIONS; i++)
		fds[i] = client_connect(run->socket);
	for (int i = 0; i < DAEMON_TEST_CONNECTIONS; i++) {
		if (fds[i] < 0)
			continue;
		if (proto_recv(fds[i], i < 64 ? 0 : 10000, &reply) == -ECONNRESET)
			closed++;
		json_decref(reply);
		reply = NULL;
	}
	CHECK_INT(closed, DAEMON_TEST_CONNECTIONS - 64);
	/* An idle connection is closed after the daemon's deadline. */
	CHECK_INT(proto_recv(fds[0], 30000, &reply), -ECONNRESET);
	for (int i = 0; i < DAEMON_TEST_CONNECTIONS; i++)
		if (fds[i] >= 0)
			close(fds[i]);

	reply = client_call(run->socket, "{\"op\":\"status\"}");
	CHECK(json_is_true(json_object_get(reply, "ok")));
	CHECK_INT(json_integer_value(json_object_get(reply, "pid")), run->pid);
	CHECK_INT(json_integer_value(json_object_get(reply, "grants")), 0);
	CHECK(json_is_null(json_object_get(reply, "next_deadline")));
	CHECK_STR(json_string_value(json_object_get(reply, "socket")), run->socket);
	json_decref(reply);
}

/* As uid 65534 with the given groups, send request: the reply's error
 * code ("" for ok), or NULL when the connection failed. */
static char *call_as_nobody_raw(const char *path, gid_t gid, const gid_t *groups,
				size_t n_groups, const char *request)
{
	int pipefd[2];
	char result[64] = "";
	ssize_t n;
	pid_t pid;

	if (pipe(pipefd) < 0)
		return NULL;
	pid = fork();
	if (pid == 0) {
		json_t *reply;
		const char *code = "";

		close(pipefd[0]);
		if (setgroups(n_groups, groups) < 0 || setresgid(gid, gid, gid) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(2);
		reply = client_call(path, request);
		if (!reply)
			_exit(3);
		if (!json_is_true(json_object_get(reply, "ok")))
			code = client_error(reply) ? client_error(reply) : "?";
		if (write(pipefd[1], code, strlen(code) + 1) < 0)
			_exit(4);
		_exit(0);
	}
	close(pipefd[1]);
	n = read(pipefd[0], result, sizeof(result) - 1);
	close(pipefd[0]);
	waitpid(pid, NULL, 0);
	if (n <= 0)
		return NULL;
	result[n] = '\0';
	return strdup(result);
}

/* The audit records of refused outsiders of uid (event "refuse", reason
 * "permission denied..."): their number. */
static size_t outsider_refusals(const struct daemon_run *run, long long uid)
{
	json_t *reply = client_call(run->socket, "{\"op\":\"audit\"}");
	json_t *record;
	size_t i, n = 0;

	json_array_foreach(json_object_get(reply, "records"), i, record) {
		const char *event = json_string_value(json_object_get(record, "event"));
		const char *reason = json_string_value(json_object_get(record, "reason"));

		if (event && strcmp(event, "refuse") == 0 && reason &&
		    strncmp(reason, "permission denied", 17) == 0 &&
		    json_integer_value(json_object_get(record, "by_uid")) == uid &&
		    !json_object_get(record, "id"))
			n++;
	}
	json_decref(reply);
	return n;
}

static char *call_as_nobody(const char *path, gid_t gid, const gid_t *groups,
			    size_t n_groups)
{
	return call_as_nobody_raw(path, gid, groups, n_groups, "{\"op\":\"status\"}");
}

static void test_daemon_peers(struct daemon_run *run, gid_t group)
{
	struct stat st;
	char *code;

	CHECK_INT(stat(run->socket, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0660);
	CHECK_INT(st.st_uid, 0);
	CHECK_INT(st.st_gid, group);

	/* Member by primary group, and by supplementary group. */
	code = call_as_nobody(run->socket, group, NULL, 0);
	CHECK_STR(code, "");
	free(code);
	code = call_as_nobody(run->socket, 65534, &group, 1);
	CHECK_STR(code, "");
	free(code);
	/* Not a member: the file mode keeps it out... */
	code = call_as_nobody(run->socket, 65534, NULL, 0);
	CHECK(code == NULL);
	free(code);
	/* ...and if someone opens the mode, the daemon still says no, and
	 * records the refusal (DESIGN.md §8) once: more refusals of the same
	 * uid within a minute are counted, not written, so that knocking
	 * cannot flood the log. Garbage is refused the same way. */
	CHECK_INT(chmod(run->socket, 0666), 0);
	for (int i = 0; i < 4; i++) {
		code = call_as_nobody(run->socket, 65534, NULL, 0);
		CHECK_STR(code, "denied");
		free(code);
	}
	code = call_as_nobody_raw(run->socket, 65534, NULL, 0, "hello");
	CHECK_STR(code, "denied");
	free(code);
	CHECK_INT(chmod(run->socket, 0660), 0);
	CHECK_INT(outsider_refusals(run, 65534), 1);
}

/* Item: the socket is made only in a directory nobody but root can
 * change, so that nobody can swap it for a symlink between bind and chown
 * and have root chown what the link names. */
static void test_daemon_socket_dir(const struct daemon_run *run)
{
	static const struct {
		const char *name;
		mode_t mode;
		uid_t owner;
		bool symlink;
		const char *message;
	} cases[] = {
		{ "world-writable", 0777, 0, false, "is writable by everyone" },
		{ "sticky and world-writable", 01777, 0, false, "is writable by everyone" },
		{ "group-writable", 0775, 0, false, "is writable by its group" },
		{ "another owner", 0755, 65534, false, "belongs to uid 65534, not root" },
		{ "a symlink", 0755, 0, true, "is a symlink" },
	};

	for (size_t c = 0; c < SL_ARRAY_SIZE(cases); c++) {
		struct daemon_run bad = DAEMON_RUN_INIT;
		char dir[96], real[104], text[1024], *log;
		struct stat st;

		snprintf(dir, sizeof(dir), "%s/sockdir%zu", run->dir, c);
		snprintf(real, sizeof(real), "%s.real", dir);
		if (mkdir(cases[c].symlink ? real : dir, 0700) < 0 ||
		    chown(cases[c].symlink ? real : dir, cases[c].owner, cases[c].owner) < 0 ||
		    chmod(cases[c].symlink ? real : dir, cases[c].mode) < 0 ||
		    (cases[c].symlink && symlink(real, dir) < 0)) {
			perror(dir);
			exit(1);
		}
		snprintf(bad.dir, sizeof(bad.dir), "%s", run->dir);
		snprintf(bad.socket, sizeof(bad.socket), "%s/sshlease.sock", dir);
		snprintf(bad.config, sizeof(bad.config), "%s/bad%zu.conf", run->dir, c);
		snprintf(bad.log, sizeof(bad.log), "%s/bad%zu.log", run->dir, c);
		snprintf(text, sizeof(text),
			 "[daemon]\nsocket = %s\nstate_dir = %s/state-bad\n"
			 "audit_log = %s/log/bad.jsonl\n",
			 bad.socket, run->dir, run->dir);
		fixture_write_file(bad.config, text, 0600);
		CHECK_MSG(daemon_run_refuses(&bad) == 1, "%s: the daemon did not refuse",
			  cases[c].name);
		log = fixture_read_text(bad.log);
		CHECK_MSG(strstr(log, cases[c].message) != NULL, "%s: log: %s",
			  cases[c].name, log);
		free(log);
		CHECK_MSG(lstat(bad.socket, &st) < 0 && errno == ENOENT,
			  "%s: a socket was made", cases[c].name);
	}
}

/* Item: connection slots are shared out: no uid but root holds more than
 * 8 at once, and the last 8 of the 64 are root's alone, so members of the
 * socket group holding silent connections cannot lock root out. Uids
 * connect through seteuid (SO_PEERCRED reports the effective uid). */
static void test_daemon_connection_caps(const struct daemon_run *run)
{
	enum { PER_UID = 8, UIDS = 8, EXTRA = 2 };
	int fds[UIDS][PER_UID + EXTRA];
	json_t *reply = NULL;

	CHECK_INT(chmod(run->socket, 0666), 0);
	/* The first uid tries 10; seven more try 8 each: 66 in all. */
	for (int u = 0; u < UIDS; u++) {
		int count = u == 0 ? PER_UID + EXTRA : PER_UID;

		if (seteuid((uid_t)(60001 + u)) < 0) {
			perror("seteuid");
			exit(1);
		}
		for (int k = 0; k < PER_UID + EXTRA; k++)
			fds[u][k] = k < count ? client_connect(run->socket) : -1;
		if (seteuid(0) < 0) {
			perror("seteuid");
			exit(1);
		}
	}
	/* Root still gets an answer... */
	reply = client_call(run->socket, "{\"op\":\"status\"}");
	CHECK_MSG(json_is_true(json_object_get(reply, "ok")), "root was locked out");
	json_decref(reply);
	reply = NULL;
	/* ...and by the time it did, the daemon had taken every earlier
	 * connection in turn: the first uid's 9th and 10th were closed (its
	 * share), the last uid's 8 too (the rest is root's), the others are
	 * open and waiting. */
	for (int u = 0; u < UIDS; u++) {
		for (int k = 0; k < PER_UID + EXTRA; k++) {
			bool surplus = (u == 0 && k >= PER_UID) || (u == UIDS - 1 && k < PER_UID);
			int r;

			if (fds[u][k] < 0)
				continue;
			r = proto_recv(fds[u][k], 0, &reply);
			json_decref(reply);
			reply = NULL;
			CHECK_MSG(r == (surplus ? -ECONNRESET : -ETIMEDOUT),
				  "uid %d, connection %d: %d", 60001 + u, k, r);
		}
	}
	for (int u = 0; u < UIDS; u++)
		for (int k = 0; k < PER_UID + EXTRA; k++)
			if (fds[u][k] >= 0)
				close(fds[u][k]);
	CHECK_INT(chmod(run->socket, 0660), 0);
}

static void test_daemon(void)
{
	struct daemon_run run = DAEMON_RUN_INIT, second = DAEMON_RUN_INIT;
	struct group *grp = getgrgid(1);
	gid_t group = grp ? grp->gr_gid : 0;
	char text[1024];
	json_t *reply;
	struct stat st;

	if (!daemon_run_init(&run, "sl-test-daemon")) {
		test_failures++;
		return;
	}
	snprintf(text, sizeof(text),
		 "[daemon]\nsocket = %s\nsocket_group = %s\nstate_dir = %s/state\n"
		 "audit_log = %s\n",
		 run.socket, grp ? grp->gr_name : "root", run.dir, run.audit);
	fixture_write_file(run.config, text, 0600);

	CHECK_INT(daemon_run_start(&run), 0);
	test_daemon_bad_requests(&run);
	test_daemon_connections(&run);
	test_daemon_connection_caps(&run);
	if (grp)
		test_daemon_peers(&run, group);
	CHECK(daemon_run_alive(&run));
	test_daemon_socket_dir(&run);

	/* A second daemon (its own state and log) on the same socket refuses
	 * to start, and the first one keeps its socket. */
	second = run;
	second.pid = -1;
	snprintf(second.config, sizeof(second.config), "%s/second.conf", run.dir);
	snprintf(text, sizeof(text),
		 "[daemon]\nsocket = %s\nstate_dir = %s/state2\naudit_log = %s/log/second.jsonl\n",
		 run.socket, run.dir, run.dir);
	fixture_write_file(second.config, text, 0600);
	CHECK_INT(daemon_run_refuses(&second), 1);
	CHECK(daemon_run_alive(&run));
	reply = client_call(run.socket, "{\"op\":\"status\"}");
	CHECK_INT(json_integer_value(json_object_get(reply, "pid")), run.pid);
	json_decref(reply);

	/* The refusals went to the audit log, and the chain is intact. */
	reply = client_call(run.socket, "{\"op\":\"audit\",\"verify\":true}");
	CHECK(json_is_true(json_object_get(reply, "intact")));
	json_decref(reply);
	reply = client_call(run.socket, "{\"op\":\"audit\"}");
	CHECK(json_is_array(json_object_get(reply, "records")));
	{
		size_t i, refusals = 0;
		json_t *record;

		json_array_foreach(json_object_get(reply, "records"), i, record) {
			const char *event = json_string_value(json_object_get(record, "event"));

			if (event && strcmp(event, "refuse") == 0)
				refusals++;
		}
		/* one for the outsider's four (the handler's refusals are
		 * test-handlers.c's) */
		CHECK_INT(refusals, 1);
	}
	json_decref(reply);

	/* SIGTERM: clean exit, socket gone. */
	CHECK_INT(daemon_run_stop(&run, SIGTERM), 0);
	CHECK(stat(run.socket, &st) < 0 && errno == ENOENT);

	/* A stale socket left by a killed daemon is replaced. */
	CHECK_INT(daemon_run_start(&run), 0);
	CHECK_INT(daemon_run_stop(&run, SIGKILL), 128 + SIGKILL);
	CHECK_INT(lstat(run.socket, &st), 0);
	CHECK_INT(daemon_run_start(&run), 0);
	CHECK_INT(daemon_run_stop(&run, SIGTERM), 0);

	/* Something that is not a socket at the path is left alone. */
	fixture_write_file(run.socket, "precious\n", 0644);
	CHECK_INT(daemon_run_refuses(&run), 1);
	CHECK_INT(lstat(run.socket, &st), 0);
	CHECK(S_ISREG(st.st_mode));
	unlink(run.socket);

	daemon_run_done(&run, test_failures != 0);
}

int main(void)
{
	test_require_root();
	TEST(test_daemon());
	CHECK_INT(client_failures, 0);
	return test_done();
}

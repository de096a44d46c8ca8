/* Control protocol framing over a real SOCK_SEQPACKET socketpair: round
 * trip, size limit, garbage, timeout, closed peer, error replies. Then, as
 * root, the same protocol against a real sshleased: bad requests get an
 * error and cost only their own connection, idle and surplus connections
 * are closed, peers outside the socket group are denied, the socket file is
 * guarded at start and removed at stop. */
#define _GNU_SOURCE /* setresuid, setresgid */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"
#include "test.h"

/* More than the daemon serves at once (64). */
#define DAEMON_TEST_CONNECTIONS 70

static void pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("socketpair");
		exit(1);
	}
}

static void send_raw(int fd, const char *bytes, size_t len)
{
	if (send(fd, bytes, len, MSG_NOSIGNAL) != (ssize_t)len) {
		perror("send");
		exit(1);
	}
}

static void test_round_trip(void)
{
	int sv[2];
	json_t *request, *got = NULL;
	char wire[256];
	ssize_t n;

	pair(sv);
	request = json_pack("{s:s, s:s, s:b, s:[s,s], s:I}", "op", "grant",
			    "user", "shop", "dry_run", 1, "ids", "a", "b",
			    "until", (json_int_t)1800000000);
	CHECK(request != NULL);

	/* The bytes on the wire are one compact JSON object. */
	CHECK_INT(proto_send(sv[0], request), 0);
	n = recv(sv[1], wire, sizeof(wire) - 1, 0);
	CHECK(n > 0);
	wire[n > 0 ? n : 0] = '\0';
	CHECK_STR(wire, "{\"op\":\"grant\",\"user\":\"shop\",\"dry_run\":true,"
			"\"ids\":[\"a\",\"b\"],\"until\":1800000000}");

	/* And proto_recv gives back an equal object. */
	CHECK_INT(proto_send(sv[0], request), 0);
	CHECK_INT(proto_recv(sv[1], 1000, &got), 0);
	CHECK(got && json_equal(got, request));
	json_decref(got);

	/* Two messages stay two messages. */
	json_t *empty = json_object();

	CHECK_INT(proto_send(sv[1], request), 0);
	CHECK_INT(proto_send(sv[1], empty), 0);
	json_decref(empty);
	CHECK_INT(proto_recv(sv[0], 1000, &got), 0);
	CHECK(got && json_equal(got, request));
	json_decref(got);
	CHECK_INT(proto_recv(sv[0], 1000, &got), 0);
	CHECK(got && json_is_object(got) && json_object_size(got) == 0);
	json_decref(got);

	json_decref(request);
	close(sv[0]);
	close(sv[1]);
}

/* A JSON object of exactly len bytes: {"a":"xxx...x"}. */
static char *object_of_size(size_t len)
{
	char *text = malloc(len + 1);

	if (!text || len < 8)
		abort();
	memcpy(text, "{\"a\":\"", 6);
	memset(text + 6, 'x', len - 8);
	memcpy(text + len - 2, "\"}", 3);
	return text;
}

static void test_size_limit(void)
{
	int sv[2];
	json_t *got = NULL, *big;
	char *text;

	pair(sv);
	/* Exactly the limit is accepted. */
	text = object_of_size(PROTO_MAX_MESSAGE);
	send_raw(sv[0], text, PROTO_MAX_MESSAGE);
	CHECK_INT(proto_recv(sv[1], 1000, &got), 0);
	CHECK(got && strlen(json_string_value(json_object_get(got, "a"))) ==
			     PROTO_MAX_MESSAGE - 8);
	json_decref(got);
	free(text);

	/* One byte more is refused, and the next message still arrives. */
	text = object_of_size(PROTO_MAX_MESSAGE + 1);
	send_raw(sv[0], text, PROTO_MAX_MESSAGE + 1);
	got = NULL;
	CHECK_INT(proto_recv(sv[1], 1000, &got), -EMSGSIZE);
	CHECK(got == NULL);
	free(text);

	/* Far more: the tail is discarded with the message (MSG_TRUNC). */
	text = object_of_size(3 * PROTO_MAX_MESSAGE);
	send_raw(sv[0], text, 3 * PROTO_MAX_MESSAGE);
	CHECK_INT(proto_recv(sv[1], 1000, &got), -EMSGSIZE);
	free(text);
	send_raw(sv[0], "{\"op\":\"status\"}", 15);
	CHECK_INT(proto_recv(sv[1], 1000, &got), 0);
	CHECK_STR(json_string_value(json_object_get(got, "op")), "status");
	json_decref(got);

	/* proto_send refuses to build an over-long message and sends
	 * nothing. */
	text = object_of_size(PROTO_MAX_MESSAGE + 1);
	big = json_loads(text, 0, NULL);
	CHECK(big != NULL);
	CHECK_INT(proto_send(sv[0], big), -EMSGSIZE);
	CHECK_INT(proto_recv(sv[1], 0, &got), -ETIMEDOUT);
	json_decref(big);
	free(text);

	close(sv[0]);
	close(sv[1]);
}

static void test_garbage(void)
{
	static const struct {
		const char *name;
		const char *bytes;
		size_t len; /* 0: strlen */
	} cases[] = {
		{ "not json", "hello", 0 },
		{ "array", "[1,2,3]", 0 },
		{ "string", "\"op\"", 0 },
		{ "number", "42", 0 },
		{ "null", "null", 0 },
		{ "truncated object", "{\"op\":\"list\"", 0 },
		{ "trailing junk", "{\"op\":\"list\"} x", 0 },
		{ "two objects", "{\"op\":\"list\"}{\"op\":\"list\"}", 0 },
		{ "duplicate key", "{\"op\":\"list\",\"op\":\"revoke\"}", 0 },
		{ "invalid utf-8", "{\"op\":\"\xff\xfe\"}", 0 },
		{ "escaped NUL", "{\"op\":\"li\\u0000st\"}", 0 },
		{ "raw NUL", "{\"op\":\"list\"}\0", 14 },
		{ "terminal escape bytes", "\x1b[2J\x1b[H", 0 },
	};
	int sv[2];

	pair(sv);
	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].bytes);
		json_t *got = NULL;
		int r;

		send_raw(sv[0], cases[i].bytes, len);
		r = proto_recv(sv[1], 1000, &got);
		CHECK_MSG(r == -EBADMSG, "%s: got %d", cases[i].name, r);
		CHECK(got == NULL);
	}
	close(sv[0]);
	close(sv[1]);
}

static void test_timeout_and_close(void)
{
	int sv[2];
	json_t *got = NULL, *message;

	pair(sv);
	CHECK_INT(proto_recv(sv[1], 0, &got), -ETIMEDOUT);
	CHECK_INT(proto_recv(sv[1], 50, &got), -ETIMEDOUT);
	CHECK(got == NULL);

	/* The peer goes away without a word. */
	close(sv[0]);
	CHECK_INT(proto_recv(sv[1], 1000, &got), -ECONNRESET);
	CHECK_INT(proto_recv(sv[1], -1, &got), -ECONNRESET);

	/* Sending to a closed peer is an error, not a SIGPIPE. */
	message = json_pack("{s:s}", "op", "status");
	CHECK_INT(proto_send(sv[1], message), -EPIPE);
	close(sv[1]);

	/* A message queued before the close is still delivered. */
	pair(sv);
	CHECK_INT(proto_send(sv[0], message), 0);
	close(sv[0]);
	CHECK_INT(proto_recv(sv[1], 1000, &got), 0);
	CHECK(got && json_equal(got, message));
	json_decref(got);
	CHECK_INT(proto_recv(sv[1], 1000, &got), -ECONNRESET);
	close(sv[1]);

	/* Only objects are sent. */
	pair(sv);
	json_t *array = json_array();
	CHECK_INT(proto_send(sv[0], array), -EINVAL);
	CHECK_INT(proto_send(sv[0], NULL), -EINVAL);
	json_decref(array);
	CHECK_INT(proto_send(-1, message), -EBADF);
	close(sv[0]);
	close(sv[1]);
	json_decref(message);
}

static void test_errors(void)
{
	json_t *error = proto_error("refused", "refused: RSA key has 2048 bits");
	char *text = json_dumps(error, JSON_COMPACT);

	CHECK_STR(text, "{\"ok\":false,\"error\":\"refused\","
			"\"message\":\"refused: RSA key has 2048 bits\"}");
	free(text);
	json_decref(error);

	CHECK_INT(proto_error_exit_code("usage"), SL_EXIT_USAGE);
	CHECK_INT(proto_error_exit_code("refused"), SL_EXIT_REFUSED);
	CHECK_INT(proto_error_exit_code("not_found"), SL_EXIT_REFUSED);
	CHECK_INT(proto_error_exit_code("denied"), SL_EXIT_DENIED);
	CHECK_INT(proto_error_exit_code("failed"), SL_EXIT_FAILURE);
	CHECK_INT(proto_error_exit_code("no-such-code"), SL_EXIT_FAILURE);
	CHECK_INT(proto_error_exit_code(NULL), SL_EXIT_FAILURE);
}


/* --- a real sshleased --- */

struct daemon_run {
	char dir[64];
	char config[128];
	char socket[128];
	char log[128];
	char audit[128];
	pid_t pid;
};

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
	    fchmod(fd, mode) < 0) {
		perror(path);
		exit(1);
	}
	close(fd);
}

static int connect_to(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Start sshleased on run's config; 0 once its socket answers, else its
 * exit status (the daemon refused to start) or -1. */
static int daemon_start(struct daemon_run *run)
{
	char binary[512];
	const char *build = getenv("SSHLEASE_BUILD_ROOT");
	int status;

	snprintf(binary, sizeof(binary), "%s/src/daemon/sshleased", build);
	run->pid = fork();
	if (run->pid < 0)
		return -1;
	if (run->pid == 0) {
		int fd = open(run->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		unsetenv("NOTIFY_SOCKET");
		unsetenv("JOURNAL_STREAM");
		execl(binary, "sshleased", "--config", run->config, (char *)NULL);
		_exit(127);
	}
	/* Wait for the socket (a start-up bound, not a timing check). */
	for (int i = 0; i < 300; i++) {
		int fd;

		if (waitpid(run->pid, &status, WNOHANG) == run->pid) {
			run->pid = -1;
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		fd = connect_to(run->socket);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		usleep(50 * 1000);
	}
	return -1;
}

/* Run sshleased on run's config expecting it to refuse to start: its exit
 * status, or -1 when it is still running after a generous bound (then it
 * is killed). */
static int daemon_refuses(struct daemon_run *run)
{
	char binary[512];
	int status;
	pid_t pid;

	snprintf(binary, sizeof(binary), "%s/src/daemon/sshleased",
		 getenv("SSHLEASE_BUILD_ROOT"));
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(run->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		unsetenv("NOTIFY_SOCKET");
		unsetenv("JOURNAL_STREAM");
		execl(binary, "sshleased", "--config", run->config, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 300; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		usleep(50 * 1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* Send sig and reap; the exit status (128 + signal when killed), or -1. */
static int daemon_stop(struct daemon_run *run, int sig)
{
	int status;

	if (run->pid <= 0)
		return -1;
	kill(run->pid, sig);
	if (waitpid(run->pid, &status, 0) != run->pid)
		return -1;
	run->pid = -1;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool daemon_alive(const struct daemon_run *run)
{
	int status;

	return run->pid > 0 && waitpid(run->pid, &status, WNOHANG) == 0;
}

/* Send raw bytes on a new connection; the reply (NULL if none). The
 * daemon must close the connection after answering. */
static json_t *call_raw(const char *path, const char *bytes, size_t len)
{
	json_t *reply = NULL, *extra = NULL;
	int fd = connect_to(path);

	if (fd < 0)
		return NULL;
	if (send(fd, bytes, len, MSG_NOSIGNAL) == (ssize_t)len &&
	    proto_recv(fd, 10000, &reply) == 0)
		CHECK_INT(proto_recv(fd, 10000, &extra), -ECONNRESET);
	close(fd);
	return reply;
}

static json_t *call(const char *path, const char *json_text)
{
	return call_raw(path, json_text, strlen(json_text));
}

static const char *reply_error_code(const json_t *reply)
{
	return json_string_value(json_object_get(reply, "error"));
}

static void test_daemon_bad_requests(struct daemon_run *run)
{
	static const struct {
		const char *name;
		const char *request;
		const char *error;
	} cases[] = {
		{ "not json", "hello", "usage" },
		{ "array", "[{\"op\":\"status\"}]", "usage" },
		{ "no op", "{}", "usage" },
		{ "op not a string", "{\"op\":7}", "usage" },
		{ "unknown op", "{\"op\":\"format-disk\"}", "usage" },
		{ "unknown field", "{\"op\":\"list\",\"bogus\":1}", "usage" },
		{ "wrong type", "{\"op\":\"revoke\",\"ids\":\"abc\"}", "usage" },
		{ "bad id", "{\"op\":\"show\",\"id\":\"../../etc/passwd\"}", "usage" },
		{ "unknown id", "{\"op\":\"show\",\"id\":\"0123456789ab\"}", "not_found" },
		{ "revoke unknown", "{\"op\":\"revoke\",\"ids\":[\"0123456789ab\"]}", "not_found" },
		{ "revoke nothing", "{\"op\":\"revoke\"}", "usage" },
		{ "extend unknown", "{\"op\":\"extend\",\"id\":\"0123456789ab\",\"for\":\"1h\"}", "not_found" },
		{ "grant without key", "{\"op\":\"grant\",\"user\":\"root\"}", "usage" },
		{ "token", "{\"op\":\"grant\",\"token\":\"sl1.x\",\"user\":\"root\"}", "refused" },
		{ "escape in op", "{\"op\":\"\\u001b[2J\"}", "usage" },
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		json_t *reply = call(run->socket, cases[i].request);

		CHECK_MSG(reply != NULL, "%s: no reply", cases[i].name);
		CHECK_MSG(json_is_false(json_object_get(reply, "ok")), "%s",
			  cases[i].name);
		CHECK_MSG(reply_error_code(reply) &&
				  strcmp(reply_error_code(reply), cases[i].error) == 0,
			  "%s: error %s, expected %s", cases[i].name,
			  reply_error_code(reply) ? reply_error_code(reply) : "(none)",
			  cases[i].error);
		CHECK_MSG(json_is_string(json_object_get(reply, "message")), "%s",
			  cases[i].name);
		json_decref(reply);
	}

	/* The token refusal tells what to do. */
	json_t *reply = call(run->socket, "{\"op\":\"grant\",\"token\":\"sl1.x\",\"user\":\"root\"}");
	const char *message = json_string_value(json_object_get(reply, "message"));

	CHECK(message && strstr(message, "signed tokens are not supported yet"));
	json_decref(reply);

	/* Over-long: refused on its own connection. */
	char *big = object_of_size(PROTO_MAX_MESSAGE + 100);

	reply = call_raw(run->socket, big, PROTO_MAX_MESSAGE + 100);
	CHECK_STR(reply_error_code(reply), "usage");
	message = json_string_value(json_object_get(reply, "message"));
	CHECK(message && strstr(message, "64 KiB"));
	json_decref(reply);
	free(big);

	/* A client that connects and goes away. */
	close(connect_to(run->socket));
	CHECK(daemon_alive(run));
}

static void test_daemon_connections(struct daemon_run *run)
{
	int fds[DAEMON_TEST_CONNECTIONS];
	json_t *reply = NULL;
	int closed = 0;

	/* More idle connections than the daemon serves: the surplus is
	 * closed at once, and the daemon still answers afterwards. */
	for (int i = 0; i < DAEMON_TEST_CONNECTIONS; i++)
		fds[i] = connect_to(run->socket);
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

	reply = call(run->socket, "{\"op\":\"status\"}");
	CHECK(json_is_true(json_object_get(reply, "ok")));
	CHECK_INT(json_integer_value(json_object_get(reply, "pid")), run->pid);
	CHECK_INT(json_integer_value(json_object_get(reply, "grants")), 0);
	CHECK(json_is_null(json_object_get(reply, "next_deadline")));
	CHECK_STR(json_string_value(json_object_get(reply, "socket")), run->socket);
	json_decref(reply);
}

/* As uid 65534 with the given groups: the reply's error code ("" for ok),
 * or NULL when the connection failed. */
static char *call_as_nobody(const char *path, gid_t gid, const gid_t *groups,
			    size_t n_groups)
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
		reply = call(path, "{\"op\":\"status\"}");
		if (!reply)
			_exit(3);
		if (!json_is_true(json_object_get(reply, "ok")))
			code = reply_error_code(reply) ? reply_error_code(reply) : "?";
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
	/* ...and if someone opens the mode, the daemon still says no. */
	CHECK_INT(chmod(run->socket, 0666), 0);
	code = call_as_nobody(run->socket, 65534, NULL, 0);
	CHECK_STR(code, "denied");
	free(code);
	CHECK_INT(chmod(run->socket, 0660), 0);
}

static void test_daemon(void)
{
	struct daemon_run run = { .pid = -1 }, second = { .pid = -1 };
	struct group *grp = getgrgid(1);
	gid_t group = grp ? grp->gr_gid : 0;
	char text[1024], path[192];
	json_t *reply;
	struct stat st;

	if (!getenv("SSHLEASE_BUILD_ROOT")) {
		fprintf(stderr, "SSHLEASE_BUILD_ROOT not set; run under meson test\n");
		test_failures++;
		return;
	}
	snprintf(run.dir, sizeof(run.dir), "/tmp/sl-test-protocol-XXXXXX");
	if (!mkdtemp(run.dir)) {
		perror("mkdtemp");
		exit(1);
	}
	/* Others may pass through to the socket, not read. */
	chmod(run.dir, 0711);
	snprintf(run.config, sizeof(run.config), "%s/sshlease.conf", run.dir);
	snprintf(run.socket, sizeof(run.socket), "%s/run/sshlease.sock", run.dir);
	snprintf(run.log, sizeof(run.log), "%s/daemon.log", run.dir);
	snprintf(run.audit, sizeof(run.audit), "%s/log/audit.jsonl", run.dir);
	snprintf(text, sizeof(text),
		 "[daemon]\nsocket = %s\nsocket_group = %s\nstate_dir = %s/state\n"
		 "audit_log = %s\n",
		 run.socket, grp ? grp->gr_name : "root", run.dir, run.audit);
	write_file(run.config, text, 0600);
	mkdir(strcat(strcpy(path, run.dir), "/log"), 0700);

	CHECK_INT(daemon_start(&run), 0);
	test_daemon_bad_requests(&run);
	test_daemon_connections(&run);
	if (grp)
		test_daemon_peers(&run, group);
	CHECK(daemon_alive(&run));

	/* A second daemon (its own state and log) on the same socket refuses
	 * to start, and the first one keeps its socket. */
	second = run;
	second.pid = -1;
	snprintf(second.config, sizeof(second.config), "%s/second.conf", run.dir);
	snprintf(text, sizeof(text),
		 "[daemon]\nsocket = %s\nstate_dir = %s/state2\naudit_log = %s/log/second.jsonl\n",
		 run.socket, run.dir, run.dir);
	write_file(second.config, text, 0600);
	CHECK_INT(daemon_refuses(&second), 1);
	CHECK(daemon_alive(&run));
	reply = call(run.socket, "{\"op\":\"status\"}");
	CHECK_INT(json_integer_value(json_object_get(reply, "pid")), run.pid);
	json_decref(reply);

	/* The refusals went to the audit log, and the chain is intact. */
	reply = call(run.socket, "{\"op\":\"audit\",\"verify\":true}");
	CHECK(json_is_true(json_object_get(reply, "intact")));
	json_decref(reply);
	reply = call(run.socket, "{\"op\":\"audit\"}");
	CHECK(json_is_array(json_object_get(reply, "records")));
	{
		size_t i, refusals = 0;
		json_t *record;

		json_array_foreach(json_object_get(reply, "records"), i, record) {
			const char *event = json_string_value(json_object_get(record, "event"));

			if (event && strcmp(event, "refuse") == 0)
				refusals++;
		}
		CHECK_INT(refusals, 2); /* the two token grants */
	}
	json_decref(reply);

	/* SIGTERM: clean exit, socket gone. */
	CHECK_INT(daemon_stop(&run, SIGTERM), 0);
	CHECK(stat(run.socket, &st) < 0 && errno == ENOENT);

	/* A stale socket left by a killed daemon is replaced. */
	CHECK_INT(daemon_start(&run), 0);
	CHECK_INT(daemon_stop(&run, SIGKILL), 128 + SIGKILL);
	CHECK_INT(lstat(run.socket, &st), 0);
	CHECK_INT(daemon_start(&run), 0);
	CHECK_INT(daemon_stop(&run, SIGTERM), 0);

	/* Something that is not a socket at the path is left alone. */
	write_file(run.socket, "precious\n", 0644);
	CHECK_INT(daemon_refuses(&run), 1);
	CHECK_INT(lstat(run.socket, &st), 0);
	CHECK(S_ISREG(st.st_mode));
	unlink(run.socket);

	/* Never leave a daemon behind, whatever failed above. */
	if (run.pid > 0)
		daemon_stop(&run, SIGKILL);

	if (test_failures) {
		FILE *log = fopen(run.log, "r");

		fprintf(stderr, "--- daemon log (%s) ---\n", run.log);
		while (log && fgets(text, sizeof(text), log))
			fputs(text, stderr);
		if (log)
			fclose(log);
	} else {
		snprintf(text, sizeof(text), "rm -rf -- '%s'", run.dir);
		if (system(text) != 0)
			fprintf(stderr, "could not remove %s\n", run.dir);
	}
}

int main(void)
{
	test_round_trip();
	test_size_limit();
	test_garbage();
	test_timeout_and_close();
	test_errors();
	/* The daemon must run as root: without root only the framing is
	 * tested, and the run counts as skipped so that nobody mistakes it
	 * for the whole test. */
	if (geteuid() != 0) {
		if (test_done() != 0)
			return 1;
		fprintf(stderr, "skipped: the sshleased part needs root\n");
		return 77;
	}
	test_daemon();
	return test_done();
}

/* Control protocol framing over a real SOCK_SEQPACKET socketpair: round
 * trip, size limit, garbage, timeout, closed peer, error replies; and the
 * CLI's grant against a scripted peer (the real grant asks for the deadline
 * its dry run showed). Then, as root, the same protocol against a real
 * sshleased: bad requests get an error and cost only their own connection,
 * idle and surplus connections are closed, peers outside the socket group
 * are denied, the socket file is guarded at start and removed at stop.
 * Finally grants to a throwaway account: signals inherited ignored or
 * blocked are reset, extend and recovery rewrite a line in place, a line
 * removed by hand is not written back, list/revoke/audit work beyond one
 * message (300 grants). When an add fails (strace kills the engine's
 * child): killed before its rename, the grant is withdrawn and a token's
 * nonce forgotten; killed after it, with the removal killed too, the grant
 * and the nonce are kept, so revoke, expiry and recovery still reach a
 * line that may be there and the token cannot be redeemed again. */
#define _GNU_SOURCE /* setresuid, setresgid, asprintf */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "account.h"
#include "authkeys.h"
#include "protocol.h"
#include "test.h"
#include "token.h"

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
	json_t *error = proto_error(PROTO_ERR_REFUSED, "refused: RSA key has 2048 bits");
	char *text = json_dumps(error, JSON_COMPACT);

	CHECK_STR(text, "{\"ok\":false,\"error\":\"refused\","
			"\"message\":\"refused: RSA key has 2048 bits\"}");
	free(text);
	json_decref(error);

	CHECK_INT(proto_error_exit_code(proto_error_parse("usage")), SL_EXIT_USAGE);
	CHECK_INT(proto_error_exit_code(proto_error_parse("refused")), SL_EXIT_REFUSED);
	CHECK_INT(proto_error_exit_code(proto_error_parse("not_found")), SL_EXIT_REFUSED);
	CHECK_INT(proto_error_exit_code(proto_error_parse("denied")), SL_EXIT_DENIED);
	CHECK_INT(proto_error_exit_code(proto_error_parse("failed")), SL_EXIT_FAILURE);
	CHECK_INT(proto_error_exit_code(proto_error_parse("no-such-code")), SL_EXIT_FAILURE);
	CHECK_INT(proto_error_exit_code(proto_error_parse(NULL)), SL_EXIT_FAILURE);
	CHECK_INT(proto_error_exit_code((enum proto_error_code)99), SL_EXIT_FAILURE);
	for (int c = PROTO_ERR_FAILED; c <= PROTO_ERR_DENIED; c++)
		CHECK_INT(proto_error_parse(proto_error_name((enum proto_error_code)c)), c);
}


/* --- a real sshleased --- */

struct daemon_run {
	char dir[64];
	char config[128];
	char socket[128];
	char log[128];
	char audit[128];
	pid_t pid;        /* the child started: sshleased, or its wrapper */
	pid_t daemon_pid; /* sshleased itself (from status under a wrapper) */
	/* Options for daemon_start. */
	const char *const *wrapper; /* argv put in front, e.g. strace ... */
	bool hostile_signals;       /* start with signals ignored and blocked */
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

static json_t *call(const char *path, const char *json_text);
static char *read_text(const char *path);

/* What a careless parent might hand down across exec: SIGCHLD, SIGHUP and
 * SIGTERM ignored, SIGCHLD and SIGUSR1 blocked. */
static void inherit_hostile_signals(void)
{
	sigset_t mask;

	signal(SIGCHLD, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
}

/* Start sshleased on run's config (under run->wrapper when set); 0 once
 * its socket answers, else its exit status (the daemon refused to start)
 * or -1. */
static int daemon_start(struct daemon_run *run)
{
	char binary[512];
	const char *build = getenv("SSHLEASE_BUILD_ROOT");
	int status;

	snprintf(binary, sizeof(binary), "%s/src/daemon/sshleased", build);
	run->daemon_pid = -1;
	run->pid = fork();
	if (run->pid < 0)
		return -1;
	if (run->pid == 0) {
		int fd = open(run->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		const char *argv[32];
		size_t n = 0;

		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		unsetenv("NOTIFY_SOCKET");
		unsetenv("JOURNAL_STREAM");
		if (run->hostile_signals)
			inherit_hostile_signals();
		for (size_t i = 0; run->wrapper && run->wrapper[i] && n < 24; i++)
			argv[n++] = run->wrapper[i];
		argv[n++] = binary;
		argv[n++] = "--config";
		argv[n++] = run->config;
		argv[n] = NULL;
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	/* Wait for the socket (a start-up bound, not a timing check). */
	for (int i = 0; i < 600; i++) {
		json_t *reply;

		if (waitpid(run->pid, &status, WNOHANG) == run->pid) {
			run->pid = -1;
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		reply = call(run->socket, "{\"op\":\"status\"}");
		if (reply) {
			run->daemon_pid = (pid_t)json_integer_value(json_object_get(reply, "pid"));
			json_decref(reply);
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
	/* To sshleased itself: a wrapper passes on its exit status. */
	kill(run->daemon_pid > 0 ? run->daemon_pid : run->pid, sig);
	if (waitpid(run->pid, &status, 0) != run->pid)
		return -1;
	run->pid = -1;
	run->daemon_pid = -1;
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
		{ "key and token", "{\"op\":\"grant\",\"key\":\"ssh-ed25519 AAAA\",\"token\":\"sl1.x\",\"user\":\"root\"}", "usage" },
		{ "neither key nor token", "{\"op\":\"grant\",\"user\":\"root\",\"force\":true}", "usage" },
		{ "force not a boolean", "{\"op\":\"grant\",\"token\":\"sl1.x\",\"force\":1}", "usage" },
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

	/* The token refusal tells what was wrong and what to do. */
	json_t *reply = call(run->socket, "{\"op\":\"grant\",\"token\":\"sl1.x\",\"user\":\"root\"}");
	const char *message = json_string_value(json_object_get(reply, "message"));

	CHECK_MSG(message && strstr(message, "token is truncated; copy the whole sl1. line"),
		  "%s", message ? message : "(no message)");
	json_decref(reply);

	/* status says what the probe of the local sshd found. */
	reply = call(run->socket, "{\"op\":\"status\"}");
	CHECK(json_is_integer(json_object_get(json_object_get(reply, "sshd"), "port")));
	CHECK(json_is_array(json_object_get(json_object_get(reply, "sshd"), "host_keys")));
	CHECK(json_is_string(json_object_get(reply, "expiry_form")) ||
	      json_is_null(json_object_get(reply, "expiry_form")));
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
		reply = call(path, request);
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

/* The audit records of refused outsiders of uid (event "refuse", reason
 * "permission denied..."): their number. */
static size_t outsider_refusals(const struct daemon_run *run, long long uid)
{
	json_t *reply = call(run->socket, "{\"op\":\"audit\"}");
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
		struct daemon_run bad = { .pid = -1 };
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
		write_file(bad.config, text, 0600);
		CHECK_MSG(daemon_refuses(&bad) == 1, "%s: the daemon did not refuse",
			  cases[c].name);
		log = read_text(bad.log);
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
			fds[u][k] = k < count ? connect_to(run->socket) : -1;
		if (seteuid(0) < 0) {
			perror("seteuid");
			exit(1);
		}
	}
	/* Root still gets an answer... */
	reply = call(run->socket, "{\"op\":\"status\"}");
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
	test_daemon_connection_caps(&run);
	if (grp)
		test_daemon_peers(&run, group);
	CHECK(daemon_alive(&run));
	test_daemon_socket_dir(&run);

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
		/* the two token grants, and one for the outsider's four */
		CHECK_INT(refusals, 3);
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

/* --- a real sshleased granting to a real account --- */

/* Enough grants that neither a list nor a revoke --all nor the audit
 * trail fits in one message (PROTO_MAX_MESSAGE): about 170 of the grants
 * made here do. */
#define PAGING_GRANTS 300

static int run_cli(const struct daemon_run *run, const char *const *args,
		   char **out, char **err);
static int run_command(char *const argv[]);

static const char *str_or_empty(const char *text)
{
	return text ? text : "";
}

struct grants_run {
	struct daemon_run daemon;
	struct account *acct;
	char ak[600];  /* the account's authorized_keys */
	char ssh[512]; /* its ~/.ssh */
	struct token_signer signer; /* in the config's trusted_signer */
};

/* A new ssh-ed25519 public key line: a libsodium key pair's public half in
 * the SSH wire format (string "ssh-ed25519", string key), base64. */
static void make_key(char *line, size_t size, const char *comment)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	unsigned char blob[4 + 11 + 4 + crypto_sign_PUBLICKEYBYTES];
	char b64[sodium_base64_ENCODED_LEN(sizeof(blob), sodium_base64_VARIANT_ORIGINAL)];

	crypto_sign_keypair(pk, sk);
	memcpy(blob, "\0\0\0\x0bssh-ed25519\0\0\0\x20", 4 + 11 + 4);
	memcpy(blob + 19, pk, sizeof(pk));
	sodium_bin2base64(b64, sizeof(b64), blob, sizeof(blob),
			  sodium_base64_VARIANT_ORIGINAL);
	snprintf(line, size, "ssh-ed25519 %s %s", b64, comment);
}

/* The base64 blob of a key line, in a static buffer. */
static const char *key_blob(const char *line)
{
	static char blob[256];
	const char *start = strchr(line, ' ') + 1;
	size_t len = strcspn(start, " ");

	snprintf(blob, sizeof(blob), "%.*s", (int)len, start);
	return blob;
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t size = 0;

	if (!f)
		return strdup("");
	if (getdelim(&text, &size, '\0', f) < 0) {
		free(text);
		text = strdup("");
	}
	fclose(f);
	return text;
}

/* Write authorized_keys as its account would own it. */
static void write_keys(const struct grants_run *g, const char *text)
{
	write_file(g->ak, text, 0600);
	if (chown(g->ak, g->acct->uid, g->acct->gid) < 0) {
		perror(g->ak);
		exit(1);
	}
}

static size_t count_of(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static json_t *call_json(const char *path, json_t *request)
{
	char *text = json_dumps(request, JSON_COMPACT);
	json_t *reply = text ? call(path, text) : NULL;

	free(text);
	json_decref(request);
	return reply;
}

/* Grant key to the account for `duration` (ticket and from may be NULL);
 * the new grant's id in id ("" when refused), and the reply. */
static json_t *grant_with(struct grants_run *g, const char *key,
			  const char *duration, const char *ticket,
			  const char *from, char id[AUTHKEYS_ID_LEN + 1])
{
	json_t *reply = call_json(g->daemon.socket,
				  json_pack("{s:s, s:s, s:s, s:s, s:s*, s:s*}", "op",
					    "grant", "key", key, "user", g->acct->name,
					    "for", duration, "ticket", ticket,
					    "from", from));
	const char *got = json_string_value(
		json_object_get(json_object_get(reply, "grant"), "id"));

	snprintf(id, AUTHKEYS_ID_LEN + 1, "%s", got ? got : "");
	return reply;
}

/* The managed line the daemon writes for this grant (UTC expiry, shell). */
static char *managed_line(const char *id, const char *key, time_t deadline)
{
	struct authkeys_line_spec spec = {
		.id = id,
		.key_type = "ssh-ed25519",
		.blob_base64 = key_blob(key),
		.deadline = deadline,
		.expiry = AUTHKEYS_EXPIRY_UTC,
		.mode = AUTHKEYS_MODE_SHELL,
	};
	const char *why = NULL;
	char *line = NULL;

	if (authkeys_format_line(&spec, &line, &why) != 0) {
		fprintf(stderr, "authkeys_format_line: %s\n", why ? why : "?");
		exit(1);
	}
	return line;
}

static json_t *grant(struct grants_run *g, const char *key, const char *duration,
		     char id[AUTHKEYS_ID_LEN + 1])
{
	return grant_with(g, key, duration, NULL, NULL, id);
}

static time_t grant_deadline(const json_t *reply)
{
	return (time_t)json_integer_value(
		json_object_get(json_object_get(reply, "grant"), "expires_unix"));
}

/* One signal's bit in a /proc/PID/status mask line ("SigIgn:", ...). */
static bool proc_mask_has(pid_t pid, const char *field, int sig)
{
	char path[64], line[256];
	unsigned long long mask = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0)
			mask = strtoull(line + strlen(field), NULL, 16);
	if (f)
		fclose(f);
	return mask & (1ULL << (sig - 1));
}

/* Item: the daemon was started with SIGCHLD ignored and blocked, SIGHUP and
 * SIGTERM ignored; it must reset all of that (the engine waits for its
 * children; the signalfd needs its signals delivered). */
static void test_grants_signals(struct grants_run *g)
{
	pid_t pid = g->daemon.daemon_pid;

	CHECK(pid > 0);
	CHECK(!proc_mask_has(pid, "SigIgn:", SIGCHLD));
	CHECK(!proc_mask_has(pid, "SigBlk:", SIGCHLD));
	CHECK(!proc_mask_has(pid, "SigIgn:", SIGHUP));
	CHECK(!proc_mask_has(pid, "SigIgn:", SIGTERM));
	CHECK(!proc_mask_has(pid, "SigBlk:", SIGUSR1));
	CHECK(proc_mask_has(pid, "SigBlk:", SIGHUP));
	CHECK(proc_mask_has(pid, "SigBlk:", SIGTERM));
	CHECK(proc_mask_has(pid, "SigBlk:", SIGINT));
	CHECK(proc_mask_has(pid, "SigIgn:", SIGPIPE));
}

/* Item: extend swaps the line in place (authkeys_replace), keeping its
 * place among the account's own lines, its id, and every other byte. */
static void test_grants_extend_in_place(struct grants_run *g)
{
	char owner[256], later[256], key[256], id[AUTHKEYS_ID_LEN + 1];
	char *before = NULL, *line = NULL, *expected = NULL, *text = NULL;
	json_t *reply;
	time_t deadline;

	make_key(owner, sizeof(owner), "owner@laptop");
	make_key(later, sizeof(later), "later@laptop");
	make_key(key, sizeof(key), "support@vendor");
	if (asprintf(&before, "# keys of the shop owner\r\n%s\r\n", owner) < 0)
		exit(1);
	write_keys(g, before);

	reply = grant(g, key, "1h", id);
	CHECK_MSG(json_is_true(json_object_get(reply, "ok")), "grant: %s",
		  json_string_value(json_object_get(reply, "message")));
	json_decref(reply);
	/* The account adds a line of its own after ours. */
	text = read_text(g->ak);
	free(before);
	if (asprintf(&before, "%s%s\n", text, later) < 0)
		exit(1);
	free(text);
	write_keys(g, before);

	reply = call_json(g->daemon.socket,
			  json_pack("{s:s, s:s, s:s}", "op", "extend", "id", id,
				    "for", "3h"));
	CHECK_MSG(json_is_true(json_object_get(reply, "ok")), "extend: %s",
		  json_string_value(json_object_get(reply, "message")));
	CHECK_STR(json_string_value(json_object_get(json_object_get(reply, "grant"), "id")), id);
	deadline = grant_deadline(reply);
	json_decref(reply);

	line = managed_line(id, key, deadline);
	if (asprintf(&expected, "# keys of the shop owner\r\n%s\r\n%s\n%s\n", owner,
		     line, later) < 0)
		exit(1);
	text = read_text(g->ak);
	CHECK_STR(text, expected);
	free(text);

	/* Recovery: the daemon stops; the line's expiry-time disagrees with
	 * the state (as after a crash inside an extension); the next start
	 * rewrites it where it stands. */
	CHECK_INT(daemon_stop(&g->daemon, SIGTERM), 0);
	{
		char *stale = managed_line(id, key, deadline + 7200);
		char *edited = NULL;

		if (asprintf(&edited, "# keys of the shop owner\r\n%s\r\n%s\n%s\n",
			     owner, stale, later) < 0)
			exit(1);
		write_keys(g, edited);
		free(edited);
		free(stale);
	}
	CHECK_INT(daemon_start(&g->daemon), 0);
	text = read_text(g->ak);
	CHECK_STR(text, expected);
	free(text);

	reply = call_json(g->daemon.socket,
			  json_pack("{s:s, s:[s]}", "op", "revoke", "ids", id));
	CHECK(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);
	free(before);
	free(line);
	free(expected);
}

/* Item: a line removed by hand is not written back by extend: the grant
 * ends (line-missing) and the answer says so. */
static void test_grants_extend_line_gone(struct grants_run *g)
{
	char key[256], id[AUTHKEYS_ID_LEN + 1];
	char *text;
	json_t *reply, *records, *record;
	const char *message;
	size_t i, missing = 0;

	write_keys(g, "# mine\n");
	make_key(key, sizeof(key), "gone@vendor");
	reply = grant(g, key, "1h", id);
	CHECK(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);
	text = read_text(g->ak);
	CHECK_INT(count_of(text, id), 1);
	free(text);

	write_keys(g, "# mine\n");
	reply = call_json(g->daemon.socket,
			  json_pack("{s:s, s:s, s:s}", "op", "extend", "id", id,
				    "for", "2h"));
	CHECK_STR(reply_error_code(reply), "not_found");
	message = json_string_value(json_object_get(reply, "message"));
	CHECK(message && strstr(message, "no longer in"));
	json_decref(reply);
	text = read_text(g->ak);
	CHECK_STR(text, "# mine\n");
	free(text);

	reply = call_json(g->daemon.socket,
			  json_pack("{s:s, s:s}", "op", "show", "id", id));
	CHECK_STR(reply_error_code(reply), "not_found");
	json_decref(reply);
	reply = call_json(g->daemon.socket,
			  json_pack("{s:s, s:s}", "op", "audit", "id", id));
	records = json_object_get(reply, "records");
	json_array_foreach(records, i, record)
		if (strcmp(str_or_empty(json_string_value(json_object_get(record, "event"))),
			   "line-missing") == 0)
			missing++;
	CHECK_INT(missing, 1);
	json_decref(reply);
}

/* Item: list, revoke --all and audit with more than fits in one answer. */
static void test_grants_paging(struct grants_run *g)
{
	char (*ids)[AUTHKEYS_ID_LEN + 1] = calloc(PAGING_GRANTS, sizeof(*ids));
	json_t *all = json_array(), *reply, *cursor = NULL;
	char *out = NULL, *err = NULL, *text;
	long long last_expires = -1;
	char last_id[AUTHKEYS_ID_LEN + 1] = "";
	size_t pages = 0, granted = 0;
	int rc;

	write_keys(g, "# mine\n");
	for (size_t i = 0; i < PAGING_GRANTS; i++) {
		char key[256], comment[64], duration[16], ticket[32], from[64];

		snprintf(comment, sizeof(comment), "support-%03zu@vendor.example", i);
		/* Deadlines spread over 50 minutes, many shared. */
		snprintf(duration, sizeof(duration), "%zum", 10 + (i * 7) % 50);
		snprintf(ticket, sizeof(ticket), "SUP-%06zu", 100000 + i);
		snprintf(from, sizeof(from), "203.0.113.%zu,2001:db8::/48", i % 256);
		make_key(key, sizeof(key), comment);
		reply = grant_with(g, key, duration, ticket, from, ids[i]);
		if (json_is_true(json_object_get(reply, "ok")))
			granted++;
		json_decref(reply);
	}
	CHECK_INT(granted, PAGING_GRANTS);

	/* The raw pages: each non-empty, in (deadline, id) order across
	 * pages, every grant exactly once. */
	for (;;) {
		json_t *request = json_pack("{s:s}", "op", "list");
		json_t *grants, *next, *item;
		size_t i;

		if (cursor)
			json_object_set(request, "after", cursor);
		reply = call_json(g->daemon.socket, request);
		grants = json_object_get(reply, "grants");
		next = json_object_get(reply, "next");
		CHECK_MSG(json_is_true(json_object_get(reply, "ok")), "list page %zu", pages);
		CHECK(json_array_size(grants) > 0);
		pages++;
		json_array_foreach(grants, i, item) {
			long long expires = json_integer_value(json_object_get(item, "expires_unix"));
			const char *id = json_string_value(json_object_get(item, "id"));

			CHECK(id && (expires > last_expires ||
				     (expires == last_expires && strcmp(id, last_id) > 0)));
			last_expires = expires;
			snprintf(last_id, sizeof(last_id), "%s", id ? id : "");
			json_array_append(all, item);
		}
		json_decref(cursor);
		cursor = NULL;
		if (!json_is_string(next) || pages > PAGING_GRANTS) {
			CHECK(json_is_null(next));
			json_decref(reply);
			break;
		}
		cursor = json_incref(next);
		json_decref(reply);
	}
	/* A grant object here takes about 380 bytes: two pages. */
	CHECK_MSG(pages >= 2, "%zu pages", pages);
	CHECK_INT(json_array_size(all), PAGING_GRANTS);
	for (size_t i = 0; i < PAGING_GRANTS; i++) {
		size_t j, seen = 0;
		json_t *item;

		json_array_foreach(all, j, item)
			if (strcmp(str_or_empty(json_string_value(json_object_get(item, "id"))), ids[i]) == 0)
				seen++;
		CHECK_MSG(seen == 1, "grant %s listed %zu times", ids[i], seen);
	}
	/* A cursor that is not one is a usage error. */
	reply = call(g->daemon.socket, "{\"op\":\"list\",\"after\":\"../x\"}");
	CHECK_STR(reply_error_code(reply), "usage");
	json_decref(reply);
	/* A cursor past the end: an empty last page. */
	reply = call(g->daemon.socket,
		     "{\"op\":\"list\",\"after\":\"9999999999.ffffffffffff\"}");
	CHECK_INT(json_array_size(json_object_get(reply, "grants")), 0);
	CHECK(json_is_null(json_object_get(reply, "next")));
	json_decref(reply);

	/* The CLI fetches every page: one JSON array in the same order... */
	rc = run_cli(&g->daemon, (const char *[]){ "list", "--json", NULL }, &out, &err);
	CHECK_INT(rc, 0);
	{
		json_t *printed = json_loads(out, 0, NULL);
		size_t i;
		json_t *item;

		CHECK(json_is_array(printed));
		CHECK_INT(json_array_size(printed), PAGING_GRANTS);
		json_array_foreach(printed, i, item)
			CHECK(json_equal(json_object_get(item, "id"),
					 json_object_get(json_array_get(all, i), "id")));
		json_decref(printed);
	}
	free(out);
	free(err);
	/* ...and one table: a title line and a line per grant. */
	rc = run_cli(&g->daemon, (const char *[]){ "list", NULL }, &out, &err);
	CHECK_INT(rc, 0);
	CHECK_INT(count_of(out, "\n"), PAGING_GRANTS + 1);
	CHECK_INT(count_of(out, "ID  "), 1);
	free(out);
	free(err);

	/* The audit trail no longer fits one answer either... */
	reply = call(g->daemon.socket, "{\"op\":\"audit\"}");
	CHECK(json_integer_value(json_object_get(reply, "omitted")) > 0);
	json_decref(reply);
	reply = call(g->daemon.socket, "{\"op\":\"audit\",\"before\":0}");
	CHECK_STR(reply_error_code(reply), "usage");
	json_decref(reply);

	/* revoke --all: every grant goes in one request; the answer lists
	 * those that fit and counts the others. */
	rc = run_cli(&g->daemon, (const char *[]){ "revoke", "--all", "--json", NULL },
		     &out, &err);
	CHECK_INT(rc, 0);
	{
		json_t *printed = json_loads(out, 0, NULL);
		size_t listed = json_array_size(printed);
		char note[64];

		CHECK(listed > 0 && listed < PAGING_GRANTS);
		snprintf(note, sizeof(note), "%zu more grants revoked but not listed",
			 (size_t)PAGING_GRANTS - listed);
		CHECK_MSG(strstr(err, note) != NULL, "stderr: %s", err);
		json_decref(printed);
	}
	free(out);
	free(err);
	text = read_text(g->ak);
	CHECK_STR(text, "# mine\n");
	free(text);
	reply = call(g->daemon.socket, "{\"op\":\"status\"}");
	CHECK_INT(json_integer_value(json_object_get(reply, "grants")), 0);
	json_decref(reply);

	/* ...but the CLI pages back through it: every record, oldest first,
	 * as many as the chain has lines. */
	rc = run_cli(&g->daemon, (const char *[]){ "audit", "--json", NULL }, &out, &err);
	CHECK_INT(rc, 0);
	{
		json_t *printed = json_loads(out, 0, NULL);
		json_t *verify = call(g->daemon.socket, "{\"op\":\"audit\",\"verify\":true}");
		long long lines = json_integer_value(json_object_get(verify, "lines"));
		size_t i, revokes = 0;
		json_t *item;

		CHECK(lines > 2 * PAGING_GRANTS);
		CHECK_INT(json_array_size(printed), lines);
		json_array_foreach(printed, i, item) {
			CHECK_INT(json_integer_value(json_object_get(item, "seq")), i + 1);
			if (strcmp(str_or_empty(json_string_value(json_object_get(item, "event"))),
				   "revoke") == 0)
				revokes++;
		}
		CHECK(revokes >= PAGING_GRANTS);
		json_decref(verify);
		json_decref(printed);
	}
	free(out);
	free(err);
	json_decref(all);
	free(ids);
}

/* A token from g's signer for key, bound to the account, for an hour. */
static char *make_token(const struct grants_run *g, const char *key)
{
	struct token_claims claims = {
		.key = key,
		.duration = 3600,
		.mode = AUTHKEYS_MODE_SHELL,
		.user = g->acct->name,
		.issued_at = time(NULL),
	};
	const char *why = NULL;
	char *token = NULL;

	if (token_sign(&claims, g->signer.secret_key, &token, &why) != 0) {
		fprintf(stderr, "token_sign: %s\n", why ? why : "?");
		exit(1);
	}
	return token;
}

static json_t *grant_token(const struct grants_run *g, const char *token)
{
	return call_json(g->daemon.socket,
			 json_pack("{s:s, s:s}", "op", "grant", "token", token));
}

/* Restart the daemon under strace, which sends SIGKILL to every process
 * acting as the account (they touch its ~/.ssh) at the first call of the
 * system calls in inject ("fsync,fdatasync", "renameat"). */
static bool daemon_restart_injected(struct grants_run *g, const char *inject,
				    char *asan_saved, size_t size)
{
	static char ssh_filter[600], trace[64], injection[96];
	static const char *wrapper[] = {
		"strace", "-f", "-qq", "-o", "/dev/null", "-P", ssh_filter,
		"-e", trace, "-e", injection, NULL,
	};
	const char *asan = getenv("ASAN_OPTIONS");
	char asan_options[512];

	if (run_command((char *[]){ "strace", "-V", NULL }) != 0) {
		fprintf(stderr, "strace is needed (apt-get install strace)\n");
		test_failures++;
		return false;
	}
	CHECK_INT(daemon_stop(&g->daemon, SIGTERM), 0);
	snprintf(ssh_filter, sizeof(ssh_filter), "%s", g->ssh);
	snprintf(trace, sizeof(trace), "trace=%s", inject);
	snprintf(injection, sizeof(injection), "inject=%s:signal=KILL:when=1", inject);
	snprintf(asan_saved, size, "%s", asan ? asan : "");
	/* LeakSanitizer cannot run under ptrace. */
	snprintf(asan_options, sizeof(asan_options), "%s%sdetect_leaks=0",
		 asan ? asan : "", asan ? ":" : "");
	setenv("ASAN_OPTIONS", asan_options, 1);
	g->daemon.wrapper = wrapper;
	CHECK_INT(daemon_start(&g->daemon), 0);
	return g->daemon.pid > 0;
}

static void daemon_restart_plain(struct grants_run *g, const char *asan_saved)
{
	CHECK_INT(daemon_stop(&g->daemon, SIGTERM), 0);
	g->daemon.wrapper = NULL;
	if (asan_saved[0])
		setenv("ASAN_OPTIONS", asan_saved, 1);
	else
		unsetenv("ASAN_OPTIONS");
	CHECK_INT(daemon_start(&g->daemon), 0);
}

static long long status_grants(const struct grants_run *g)
{
	json_t *reply = call(g->daemon.socket, "{\"op\":\"status\"}");
	long long n = json_integer_value(json_object_get(reply, "grants"));

	json_decref(reply);
	return n;
}

/* The id named in a "grant ID is kept" message, or "". */
static void kept_id(const json_t *reply, char id[AUTHKEYS_ID_LEN + 1])
{
	const char *message = json_string_value(json_object_get(reply, "message"));
	const char *p = message ? strstr(message, "so grant ") : NULL;

	snprintf(id, AUTHKEYS_ID_LEN + 1, "%s", p ? p + strlen("so grant ") : "");
}

/*
 * Item: authkeys_add fails after its child renamed the new file into place
 * (the child is killed at the fsync of ~/.ssh that follows the rename, by
 * strace), and taking the line out again fails the same way (strace kills
 * every such child there), so the daemon cannot know whether the file
 * holds the line. It must not forget the grant (list, revoke and expiry
 * would no longer reach a line that may be there) nor a token's nonce (the
 * token could be redeemed again): the grant is kept, with an audit
 * "grant" record saying so, and the reply names it and how to revoke it.
 * (The file is right all the same: the removal died after its rename.)
 */
static void test_grants_stray_line(struct grants_run *g)
{
	char key[256], token_key[256], id[AUTHKEYS_ID_LEN + 1];
	char token_id[AUTHKEYS_ID_LEN + 1], asan_saved[512], revoke[128];
	char *text, *log, *token;
	const char *message;
	json_t *reply, *records, *record;
	size_t i, kept_records = 0;

	write_keys(g, "# mine\n");
	if (!daemon_restart_injected(g, "fsync,fdatasync", asan_saved, sizeof(asan_saved)))
		return;

	make_key(key, sizeof(key), "stray@vendor");
	reply = grant(g, key, "1h", id);
	CHECK_STR(reply_error_code(reply), "failed");
	CHECK_STR(id, "");
	kept_id(reply, id);
	CHECK_INT(strlen(id), AUTHKEYS_ID_LEN);
	message = str_or_empty(json_string_value(json_object_get(reply, "message")));
	snprintf(revoke, sizeof(revoke), "'sshlease revoke %s'", id);
	CHECK_MSG(strstr(message, "may have been written") && strstr(message, revoke),
		  "message: %s", message);
	json_decref(reply);
	text = read_text(g->ak);
	CHECK_STR(text, "# mine\n");
	free(text);
	CHECK_INT(status_grants(g), 1);
	log = read_text(g->daemon.log);
	CHECK(strstr(log, "writing its line failed") != NULL);
	CHECK(strstr(log, "the grant is kept") != NULL);
	free(log);

	/* A token's grant the same way: kept, and so is its nonce. */
	make_key(token_key, sizeof(token_key), "stray-token@vendor");
	token = make_token(g, token_key);
	reply = grant_token(g, token);
	CHECK_STR(reply_error_code(reply), "failed");
	kept_id(reply, token_id);
	CHECK_INT(strlen(token_id), AUTHKEYS_ID_LEN);
	json_decref(reply);
	CHECK_INT(status_grants(g), 2);

	/* The audit trail says what is known of both. */
	reply = call(g->daemon.socket, "{\"op\":\"audit\"}");
	records = json_object_get(reply, "records");
	json_array_foreach(records, i, record) {
		const char *event = json_string_value(json_object_get(record, "event"));
		const char *rid = json_string_value(json_object_get(record, "id"));
		const char *reason = json_string_value(json_object_get(record, "reason"));

		if (event && rid && reason && strcmp(event, "grant") == 0 &&
		    (strcmp(rid, id) == 0 || strcmp(rid, token_id) == 0) &&
		    strstr(reason, "may be in authorized_keys all the same"))
			kept_records++;
	}
	CHECK_INT(kept_records, 2);
	json_decref(reply);

	/* revoke reaches the kept grant (nothing to remove: no write). */
	reply = call_json(g->daemon.socket,
			  json_pack("{s:s, s:[s]}", "op", "revoke", "ids", id));
	CHECK_MSG(json_is_true(json_object_get(reply, "ok")), "revoke of the kept grant failed");
	json_decref(reply);
	CHECK_INT(status_grants(g), 1);

	daemon_restart_plain(g, asan_saved);
	/* The start finds no line for the token's grant and ends it ... */
	CHECK_INT(status_grants(g), 0);
	/* ... but the token stays redeemed. */
	reply = grant_token(g, token);
	CHECK_STR(reply_error_code(reply), "refused");
	CHECK_MSG(strstr(str_or_empty(json_string_value(json_object_get(reply, "message"))),
			 "redeemed already") != NULL,
		  "re-redeemed: %s", str_or_empty(json_string_value(json_object_get(reply, "message"))));
	json_decref(reply);
	text = read_text(g->ak);
	CHECK_STR(text, "# mine\n");
	free(text);
	free(token);
}

/* Leftovers of an engine child killed before its rename: temp files. */
static void remove_temp_files(const struct grants_run *g)
{
	char command[700];

	snprintf(command, sizeof(command),
		 "find '%s' -mindepth 1 -maxdepth 1 ! -name authorized_keys -delete", g->ssh);
	CHECK_INT(system(command), 0);
}

/*
 * Item: authkeys_add's child is killed before its rename (strace, at
 * renameat), so the add fails with a system error, and taking the line out
 * again works (there is none: nothing to write). The file is known
 * untouched, so the grant is withdrawn and a token's nonce forgotten: the
 * same token is granted once the engine works again.
 */
static void test_grants_add_killed_before_rename(struct grants_run *g)
{
	char key[256], token_key[256], id[AUTHKEYS_ID_LEN + 1], asan_saved[512];
	char *text, *token;
	json_t *reply;

	write_keys(g, "# mine\n");
	if (!daemon_restart_injected(g, "renameat", asan_saved, sizeof(asan_saved)))
		return;

	make_key(key, sizeof(key), "early@vendor");
	reply = grant(g, key, "1h", id);
	CHECK_STR(reply_error_code(reply), "failed");
	CHECK_STR(id, "");
	CHECK(strstr(str_or_empty(json_string_value(json_object_get(reply, "message"))),
		     "is kept") == NULL);
	json_decref(reply);
	make_key(token_key, sizeof(token_key), "early-token@vendor");
	token = make_token(g, token_key);
	reply = grant_token(g, token);
	CHECK_STR(reply_error_code(reply), "failed");
	json_decref(reply);
	CHECK_INT(status_grants(g), 0);
	text = read_text(g->ak);
	CHECK_STR(text, "# mine\n");
	free(text);

	daemon_restart_plain(g, asan_saved);
	remove_temp_files(g);
	reply = grant_token(g, token);
	CHECK_MSG(json_is_true(json_object_get(reply, "ok")),
		  "the token of a grant that surely failed was not granted again: %s",
		  str_or_empty(json_string_value(json_object_get(reply, "message"))));
	snprintf(id, sizeof(id), "%s",
		 str_or_empty(json_string_value(
			 json_object_get(json_object_get(reply, "grant"), "id"))));
	json_decref(reply);
	reply = call_json(g->daemon.socket,
			  json_pack("{s:s, s:[s]}", "op", "revoke", "ids", id));
	CHECK(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);
	text = read_text(g->ak);
	CHECK_STR(text, "# mine\n");
	free(text);
	free(token);
}

/* The audit records written since the daemon's last start (oldest
 * first), as one new array; the answer's window is enough here. */
static json_t *records_since_start(const struct grants_run *g)
{
	json_t *reply = call(g->daemon.socket, "{\"op\":\"audit\"}");
	json_t *records = json_object_get(reply, "records"), *record;
	json_t *since = json_array();
	size_t i, start = 0;

	json_array_foreach(records, i, record)
		if (strcmp(str_or_empty(json_string_value(json_object_get(record, "event"))),
			   "start") == 0)
			start = i;
	json_array_foreach(records, i, record)
		if (i > start)
			json_array_append(since, record);
	json_decref(reply);
	return since;
}

static size_t count_events(const json_t *records, const char *event)
{
	const json_t *record;
	size_t i, n = 0;

	json_array_foreach(records, i, record)
		if (strcmp(str_or_empty(json_string_value(json_object_get(record, "event"))),
			   event) == 0)
			n++;
	return n;
}

/*
 * Item: an account plants thousands of lines carrying our marker (one of
 * them with the id of a live grant and another key). The next start
 * removes them all in one edit, writes one record for the account (with
 * no grant id: the markers are the account's words, and a planted id must
 * not file the record under someone's grant), keeps every other byte, and
 * serves requests.
 */
static void test_grants_orphan_flood(struct grants_run *g)
{
	enum { PLANTED = 3000 };
	char own[256], key[256], id[AUTHKEYS_ID_LEN + 1], *line, *planted, *expected, *text;
	size_t cap, used = 0;
	json_t *reply, *records, *record;
	const char *reason;

	make_key(own, sizeof(own), "owner@laptop");
	make_key(key, sizeof(key), "live@vendor");
	write_keys(g, "# mine\r\n");
	reply = grant(g, key, "1h", id);
	CHECK_MSG(json_is_true(json_object_get(reply, "ok")), "grant: %s",
		  json_string_value(json_object_get(reply, "message")));
	line = managed_line(id, key, grant_deadline(reply));
	json_decref(reply);
	CHECK_INT(daemon_stop(&g->daemon, SIGTERM), 0);

	cap = 2 * 1024 * 1024;
	planted = malloc(cap);
	if (!planted || asprintf(&expected, "# mine\r\n%s\n%s\n", own, line) < 0)
		exit(1);
	used += (size_t)snprintf(planted + used, cap - used, "# mine\r\n");
	for (unsigned i = 0; i < PLANTED / 2; i++)
		used += (size_t)snprintf(planted + used, cap - used, "a A sshlease:%012x\n", i);
	used += (size_t)snprintf(planted + used, cap - used, "%s\n", own);
	for (unsigned i = PLANTED / 2; i < PLANTED; i++)
		used += (size_t)snprintf(planted + used, cap - used,
					 "restrict ssh-ed25519 AAAA%08x sshlease:%012x\r\n", i, i);
	used += (size_t)snprintf(planted + used, cap - used, "%s\n", line);
	used += (size_t)snprintf(planted + used, cap - used, "a A sshlease:%s\n", id);
	write_keys(g, planted);

	CHECK_INT(daemon_start(&g->daemon), 0);
	text = read_text(g->ak);
	CHECK_MSG(strcmp(text, expected) == 0, "authorized_keys holds %zu bytes, expected %zu",
		  strlen(text), strlen(expected));
	free(text);
	reply = call(g->daemon.socket, "{\"op\":\"status\"}");
	CHECK_INT(json_integer_value(json_object_get(reply, "grants")), 1);
	json_decref(reply);

	records = records_since_start(g);
	CHECK_INT(count_events(records, "remove-orphan"), 1);
	{
		size_t i;

		json_array_foreach(records, i, record) {
			if (strcmp(str_or_empty(json_string_value(json_object_get(record, "event"))),
				   "remove-orphan") != 0)
				continue;
			CHECK(json_object_get(record, "id") == NULL);
			CHECK_STR(json_string_value(json_object_get(record, "user")), g->acct->name);
			reason = json_string_value(json_object_get(record, "reason"));
			CHECK_MSG(reason && strstr(reason, "removed 3001 managed lines"), "reason: %s",
				  str_or_empty(reason));
		}
	}
	json_decref(records);
	/* The live grant's own trail has no stranger's record in it. */
	reply = call_json(g->daemon.socket, json_pack("{s:s, s:s}", "op", "audit", "id", id));
	records = json_object_get(reply, "records");
	CHECK_INT(json_array_size(records), 1);
	CHECK_INT(count_events(records, "grant"), 1);
	json_decref(reply);

	reply = call_json(g->daemon.socket, json_pack("{s:s, s:[s]}", "op", "revoke", "ids", id));
	CHECK(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);
	free(planted);
	free(expected);
	free(line);
}

/* Renames into a directory (IN_MOVED_TO) of name, read from an inotify fd
 * until it has nothing more. */
static size_t renames_to(int inotify_fd, int wd, const char *name, size_t *other_wd,
			 int wd2, const char *name2)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	size_t n = 0;
	ssize_t len;

	*other_wd = 0;
	while ((len = read(inotify_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->len && (ev->mask & IN_MOVED_TO)) {
				if (ev->wd == wd && strcmp(ev->name, name) == 0)
					n++;
				if (ev->wd == wd2 && strcmp(ev->name, name2) == 0)
					(*other_wd)++;
			}
			p += sizeof(*ev) + ev->len;
		}
	}
	return n;
}

/*
 * Item: grants that share one deadline end in one round: authorized_keys
 * is rewritten once and the state saved once for all of them, and each
 * grant still gets its own "expire" record. Counted with inotify (renames
 * into ~/.ssh and the state directory), not timed.
 */
static void test_grants_shared_deadline(struct grants_run *g)
{
	enum { SHARED = 20 };
	char ids[SHARED][AUTHKEYS_ID_LEN + 1], state_dir[160], *text;
	time_t deadline = time(NULL) + 6;
	size_t file_renames, state_renames, expired = 0;
	int inotify_fd, wd_ssh, wd_state, grants = -1;
	json_t *reply, *records, *record;
	size_t i;

	write_keys(g, "# mine\n");
	for (int k = 0; k < SHARED; k++) {
		char key[256];

		make_key(key, sizeof(key), "shared@vendor");
		reply = call_json(g->daemon.socket,
				  json_pack("{s:s, s:s, s:s, s:I}", "op", "grant", "key", key,
					    "user", g->acct->name, "until", (json_int_t)deadline));
		CHECK_MSG(json_is_true(json_object_get(reply, "ok")), "grant %d: %s", k,
			  json_string_value(json_object_get(reply, "message")));
		snprintf(ids[k], sizeof(ids[k]), "%s",
			 str_or_empty(json_string_value(json_object_get(
				 json_object_get(reply, "grant"), "id"))));
		json_decref(reply);
	}
	snprintf(state_dir, sizeof(state_dir), "%s/state", g->daemon.dir);
	inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	wd_ssh = inotify_add_watch(inotify_fd, g->ssh, IN_MOVED_TO);
	wd_state = inotify_add_watch(inotify_fd, state_dir, IN_MOVED_TO);
	CHECK(inotify_fd >= 0 && wd_ssh >= 0 && wd_state >= 0);
	/* Not a timing check: the grants must merely be made before their
	 * deadline for the round to hold them all. */
	CHECK_MSG(time(NULL) < deadline, "making %d grants took past their deadline", SHARED);

	/* Wait (bounded) for the round: status answers once it is over. */
	for (int tries = 0; tries < 600 && grants != 0; tries++) {
		usleep(100 * 1000);
		reply = call(g->daemon.socket, "{\"op\":\"status\"}");
		grants = (int)json_integer_value(json_object_get(reply, "grants"));
		json_decref(reply);
	}
	CHECK_INT(grants, 0);
	text = read_text(g->ak);
	CHECK_STR(text, "# mine\n");
	free(text);
	file_renames = renames_to(inotify_fd, wd_ssh, "authorized_keys", &state_renames,
				  wd_state, "state.json");
	CHECK_INT(file_renames, 1);
	CHECK_INT(state_renames, 1);
	close(inotify_fd);

	reply = call(g->daemon.socket, "{\"op\":\"audit\"}");
	records = json_object_get(reply, "records");
	for (int k = 0; k < SHARED; k++) {
		size_t seen = 0;

		json_array_foreach(records, i, record)
			if (strcmp(str_or_empty(json_string_value(json_object_get(record, "event"))),
				   "expire") == 0 &&
			    strcmp(str_or_empty(json_string_value(json_object_get(record, "id"))),
				   ids[k]) == 0)
				seen++;
		CHECK_MSG(seen == 1, "grant %s: %zu expire records", ids[k], seen);
		expired += seen;
	}
	CHECK_INT(expired, SHARED);
	json_decref(reply);
}

/* As the account: stop every process of the account (kill -1) each time
 * the daemon's engine process creates its temporary file in ~/.ssh, as
 * the account itself could. Returns once it is watching. */
static pid_t stopper_start(const struct grants_run *g)
{
	int ready[2];
	char c;
	pid_t pid;

	if (pipe2(ready, O_CLOEXEC) < 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
		int fd;

		close(ready[0]);
		if (setgroups(0, NULL) < 0 || setresgid(g->acct->gid, g->acct->gid, g->acct->gid) < 0 ||
		    setresuid(g->acct->uid, g->acct->uid, g->acct->uid) < 0)
			_exit(2);
		fd = inotify_init1(IN_CLOEXEC);
		if (fd < 0 || inotify_add_watch(fd, g->ssh, IN_CREATE) < 0 ||
		    write(ready[1], "r", 1) != 1)
			_exit(3);
		alarm(120); /* never outlives the test */
		for (;;) {
			ssize_t len = read(fd, buf, sizeof(buf));

			if (len <= 0)
				_exit(4);
			for (char *p = buf; p < buf + len;) {
				const struct inotify_event *ev = (const struct inotify_event *)p;

				if (ev->len && strncmp(ev->name, ".authorized_keys.sshlease-", 26) == 0)
					kill(-1, SIGSTOP);
				p += sizeof(*ev) + ev->len;
			}
		}
	}
	close(ready[1]);
	if (pid < 0 || read(ready[0], &c, 1) != 1) {
		close(ready[0]);
		return -1;
	}
	close(ready[0]);
	return pid;
}

/*
 * Item: the account stops the daemon's engine process before it answers.
 * The request fails with the reason (not a hang), the file is whole, and
 * the daemon leaves that account alone for a while: the next operation on
 * it fails at once, saying why, and changes nothing, so the account cannot
 * stall the daemon again and again. A restart forgets the pause.
 */
static void test_grants_backoff(struct grants_run *g)
{
	char key[256], id[AUTHKEYS_ID_LEN + 1], *before, *after;
	const char *message;
	bool timed_out = false;
	json_t *reply;
	pid_t stopper;

	write_keys(g, "# mine\n");
	make_key(key, sizeof(key), "stalled@vendor");
	reply = grant(g, key, "1h", id);
	CHECK(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);
	before = read_text(g->ak);

	stopper = stopper_start(g);
	CHECK(stopper > 0);
	/* The stop races with a child that needs a millisecond: a few tries. */
	for (int attempt = 0; attempt < 5 && stopper > 0 && !timed_out; attempt++) {
		reply = call_json(g->daemon.socket,
				  json_pack("{s:s, s:s, s:s}", "op", "extend", "id", id,
					    "for", attempt % 2 ? "2h" : "3h"));
		message = json_string_value(json_object_get(reply, "message"));
		if (reply_error_code(reply)) {
			CHECK_STR(reply_error_code(reply), "failed");
			CHECK_MSG(message && strstr(message, "did not answer in time"),
				  "extend: %s", str_or_empty(message));
			timed_out = true;
		}
		json_decref(reply);
	}
	if (stopper > 0) {
		kill(stopper, SIGKILL);
		waitpid(stopper, NULL, 0);
	}
	CHECK(timed_out);
	/* One whole line: the old one, or (stopped after its rename) the new. */
	after = read_text(g->ak);
	CHECK_INT(count_of(after, id), 1);
	CHECK(strncmp(after, "# mine\n", 7) == 0 && after[strlen(after) - 1] == '\n');

	/* Left alone: refused at once, with the reason, nothing changed. */
	reply = call_json(g->daemon.socket, json_pack("{s:s, s:[s]}", "op", "revoke", "ids", id));
	CHECK_STR(reply_error_code(reply), "failed");
	message = json_string_value(json_object_get(reply, "message"));
	CHECK_MSG(message && strstr(message, "leaves the account alone"), "revoke: %s",
		  str_or_empty(message));
	json_decref(reply);
	reply = call(g->daemon.socket, "{\"op\":\"status\"}");
	CHECK_INT(json_integer_value(json_object_get(reply, "grants")), 1);
	json_decref(reply);
	free(before);
	before = read_text(g->ak);
	CHECK_STR(before, after);

	CHECK_INT(daemon_stop(&g->daemon, SIGTERM), 0);
	CHECK_INT(daemon_start(&g->daemon), 0);
	reply = call_json(g->daemon.socket, json_pack("{s:s, s:[s]}", "op", "revoke", "ids", id));
	CHECK(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);
	free(before);
	before = read_text(g->ak);
	CHECK_STR(before, "# mine\n");
	free(before);
	free(after);
}

static int run_grant_tests(struct grants_run *g)
{
	char text[1024], path[192], signer_line[TOKEN_SIGNER_PUBLIC_LINE_SIZE];
	struct group *grp = getgrgid(1);

	snprintf(g->daemon.dir, sizeof(g->daemon.dir), "/tmp/sl-test-grants-XXXXXX");
	if (!mkdtemp(g->daemon.dir)) {
		perror("mkdtemp");
		return 1;
	}
	chmod(g->daemon.dir, 0711);
	snprintf(g->daemon.config, sizeof(g->daemon.config), "%s/sshlease.conf", g->daemon.dir);
	snprintf(g->daemon.socket, sizeof(g->daemon.socket), "%s/run/sshlease.sock", g->daemon.dir);
	snprintf(g->daemon.log, sizeof(g->daemon.log), "%s/daemon.log", g->daemon.dir);
	snprintf(g->daemon.audit, sizeof(g->daemon.audit), "%s/log/audit.jsonl", g->daemon.dir);
	/* A trusted signer for the token cases. */
	snprintf(g->signer.name, sizeof(g->signer.name), "test-signer");
	crypto_sign_keypair(g->signer.public_key, g->signer.secret_key);
	token_signer_public_line(&g->signer, signer_line, sizeof(signer_line));
	snprintf(text, sizeof(text),
		 "[daemon]\nsocket = %s\nsocket_group = %s\nstate_dir = %s/state\n"
		 "audit_log = %s\n[grant]\nusers = %s\n[tokens]\ntrusted_signer = %s\n",
		 g->daemon.socket, grp ? grp->gr_name : "root", g->daemon.dir,
		 g->daemon.audit, g->acct->name, signer_line);
	write_file(g->daemon.config, text, 0600);
	mkdir(strcat(strcpy(path, g->daemon.dir), "/log"), 0700);
	snprintf(g->ssh, sizeof(g->ssh), "%s/.ssh", g->acct->home);
	snprintf(g->ak, sizeof(g->ak), "%s/authorized_keys", g->ssh);
	if ((mkdir(g->ssh, 0700) < 0 && errno != EEXIST) ||
	    chown(g->ssh, g->acct->uid, g->acct->gid) < 0 || chmod(g->ssh, 0700) < 0) {
		perror(g->ssh);
		return 1;
	}

	g->daemon.hostile_signals = true;
	CHECK_INT(daemon_start(&g->daemon), 0);
	if (g->daemon.pid > 0) {
		test_grants_signals(g);
		test_grants_extend_in_place(g);
		test_grants_extend_line_gone(g);
		test_grants_orphan_flood(g);
		test_grants_shared_deadline(g);
		test_grants_backoff(g);
		test_grants_paging(g);
		test_grants_stray_line(g);
		test_grants_add_killed_before_rename(g);
	}
	if (g->daemon.pid > 0)
		CHECK_INT(daemon_stop(&g->daemon, SIGTERM), 0);
	if (test_failures) {
		char *log = read_text(g->daemon.log);

		fprintf(stderr, "--- daemon log (%s) ---\n%s", g->daemon.log, log);
		free(log);
	} else {
		snprintf(text, sizeof(text), "rm -rf -- '%s'", g->daemon.dir);
		if (system(text) != 0)
			fprintf(stderr, "could not remove %s\n", g->daemon.dir);
	}
	return test_failures ? 1 : 0;
}

static int run_command(char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (null_fd >= 0)
			dup2(null_fd, STDOUT_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The grant tests on a throwaway account, removed whatever happens. */
static void test_grants(void)
{
	struct grants_run g = { .daemon = { .pid = -1, .daemon_pid = -1 } };
	unsigned char random[4];
	char name[32];
	const char *why = NULL;
	int status = 0;
	pid_t pid;

	randombytes_buf(random, sizeof(random));
	snprintf(name, sizeof(name), "slp%02x%02x%02x%02x", random[0], random[1],
		 random[2], random[3]);
	if (run_command((char *[]){ "useradd", "-m", "-s", "/bin/sh", "-c",
				    "sshlease test", name, NULL }) != 0) {
		fprintf(stderr, "useradd %s failed\n", name);
		test_failures++;
		return;
	}
	if (account_lookup(name, &g.acct, &why) != 0) {
		fprintf(stderr, "account %s: %s\n", name, why ? why : "lookup failed");
		test_failures++;
	} else {
		/* In a child, so that the account goes whatever happens. */
		fflush(NULL);
		pid = fork();
		if (pid == 0) {
			int r = run_grant_tests(&g);

			_exit(test_done() != 0 || r != 0);
		}
		if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			fprintf(stderr, "the grant tests failed\n");
			test_failures++;
		}
	}
	account_free(g.acct);
	if (run_command((char *[]){ "userdel", "-r", name, NULL }) != 0)
		fprintf(stderr, "userdel -r %s failed\n", name);
}

/* --- the CLI against a scripted peer --- */

/* Start the CLI on run's socket; stdout and stderr go to files in the
 * run's directory. Its pid, or -1. */
static pid_t cli_spawn(const struct daemon_run *run, const char *const *args)
{
	char binary[512], out_path[192], err_path[192];
	const char *argv[32] = { "sshlease", "--socket", run->socket };
	size_t n = 3;
	pid_t pid;

	snprintf(binary, sizeof(binary), "%s/src/cli/sshlease",
		 getenv("SSHLEASE_BUILD_ROOT"));
	snprintf(out_path, sizeof(out_path), "%s/cli.out", run->dir);
	snprintf(err_path, sizeof(err_path), "%s/cli.err", run->dir);
	for (size_t i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid = fork();
	if (pid == 0) {
		int fd_out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int fd_err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int fd_in = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd_out < 0 || fd_err < 0 || fd_in < 0 ||
		    dup2(fd_in, STDIN_FILENO) < 0 || dup2(fd_out, STDOUT_FILENO) < 0 ||
		    dup2(fd_err, STDERR_FILENO) < 0)
			_exit(126);
		setenv("NO_COLOR", "1", 1);
		execv(binary, (char **)argv);
		_exit(127);
	}
	return pid;
}

/* Wait for the CLI; its exit status (or -1) and its output. */
static int cli_finish(const struct daemon_run *run, pid_t pid, char **out,
		      char **err)
{
	char path[192];
	int status;

	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		status = -1;
	snprintf(path, sizeof(path), "%s/cli.out", run->dir);
	*out = read_text(path);
	snprintf(path, sizeof(path), "%s/cli.err", run->dir);
	*err = read_text(path);
	return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int run_cli(const struct daemon_run *run, const char *const *args,
		   char **out, char **err)
{
	return cli_finish(run, cli_spawn(run, args), out, err);
}

/* Accept one connection (bounded wait) and read its request. */
static json_t *peer_accept(int listen_fd, int *conn)
{
	struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };
	json_t *request = NULL;

	*conn = -1;
	if (poll(&pfd, 1, 20000) != 1)
		return NULL;
	*conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (*conn >= 0 && proto_recv(*conn, 20000, &request) != 0)
		request = NULL;
	return request;
}

static void peer_answer(int *conn, json_t *reply)
{
	CHECK_INT(proto_send(*conn, reply), 0);
	json_decref(reply);
	close(*conn);
	*conn = -1;
}

/* Item: the real grant asks for the deadline the dry run showed ("until"),
 * not the duration again, so a slow confirmation cannot move it later. A
 * scripted peer stands in for sshleased, so that the preview's deadline
 * can be one no clock would give. */
static void test_cli_pins_deadline(void)
{
	static const struct {
		const char *name;
		const char *option, *value; /* NULL: neither --for nor --until */
		const char *sent_field;     /* in the dry run */
	} cases[] = {
		{ "--for", "--for", "1h", "for" },
		{ "--until", "--until", "2030-01-01 00:00Z", "until" },
		{ "default duration", NULL, NULL, NULL },
	};
	/* No clock gives this from --for 1h. */
	const json_int_t preview = 1900000123;
	struct daemon_run run = { .pid = -1 };
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int listen_fd;

	if (!getenv("SSHLEASE_BUILD_ROOT")) {
		fprintf(stderr, "SSHLEASE_BUILD_ROOT not set; run under meson test\n");
		test_failures++;
		return;
	}
	snprintf(run.dir, sizeof(run.dir), "/tmp/sl-test-cli-XXXXXX");
	if (!mkdtemp(run.dir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(run.socket, sizeof(run.socket), "%s/peer.sock", run.dir);
	if (strlen(run.socket) >= sizeof(addr.sun_path))
		exit(1);
	memcpy(addr.sun_path, run.socket, strlen(run.socket) + 1);
	listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(listen_fd, 4) < 0) {
		perror(run.socket);
		exit(1);
	}
	for (size_t c = 0; c < SL_ARRAY_SIZE(cases); c++) {
		const char *args[12] = { "grant", "--yes", "--user", "shop",
					 "--ticket", "T-1" };
		size_t n = 6;
		json_t *first, *second, *grant;
		char *out = NULL, *err = NULL;
		int conn = -1, rc;
		pid_t pid;

		if (cases[c].option) {
			args[n++] = cases[c].option;
			args[n++] = cases[c].value;
		}
		args[n++] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJvZ3VzIGtleSBmb3IgYSBzY3JpcHRlZCBwZWVy peer@test";
		args[n] = NULL;
		pid = cli_spawn(&run, args);

		first = peer_accept(listen_fd, &conn);
		CHECK_MSG(first != NULL, "%s: no dry run", cases[c].name);
		CHECK_MSG(json_is_true(json_object_get(first, "dry_run")), "%s", cases[c].name);
		CHECK_MSG(cases[c].sent_field ? json_object_get(first, cases[c].sent_field) != NULL
					      : !json_object_get(first, "for") &&
						!json_object_get(first, "until"),
			  "%s: the dry run's deadline fields", cases[c].name);
		grant = json_pack("{s:n, s:s, s:s, s:s, s:I, s:s, s:s}", "id",
				  "user", "shop", "key_type", "ssh-ed25519",
				  "fingerprint", "SHA256:scripted",
				  "expires_unix", preview,
				  "expires", "2030-03-17T17:48:43Z", "mode", "shell");
		if (conn >= 0)
			peer_answer(&conn, json_pack("{s:b, s:b, s:O, s:{s:i}}", "ok", 1,
						     "dry_run", 1, "grant", grant,
						     "sshd", "port", 22));

		second = peer_accept(listen_fd, &conn);
		CHECK_MSG(second != NULL, "%s: no grant after the dry run", cases[c].name);
		CHECK_MSG(json_is_false(json_object_get(second, "dry_run")), "%s", cases[c].name);
		CHECK_MSG(json_integer_value(json_object_get(second, "until")) == preview,
			  "%s: until is not the previewed deadline", cases[c].name);
		CHECK_MSG(!json_object_get(second, "for"), "%s: for sent again", cases[c].name);
		/* Everything else is asked for as in the dry run. */
		if (first && second) {
			json_object_del(first, "dry_run");
			json_object_del(first, "for");
			json_object_del(first, "until");
			json_object_del(second, "dry_run");
			json_object_del(second, "until");
			CHECK_MSG(json_equal(first, second), "%s: the requests differ",
				  cases[c].name);
		}
		json_object_set_new(grant, "id", json_string("0123456789ab"));
		if (conn >= 0)
			peer_answer(&conn, json_pack("{s:b, s:b, s:O, s:{s:i}}", "ok", 1,
						     "dry_run", 0, "grant", grant,
						     "sshd", "port", 22));
		if (conn >= 0)
			close(conn);
		rc = cli_finish(&run, pid, &out, &err);
		CHECK_MSG(rc == 0, "%s: exit %d: %s", cases[c].name, rc, err);
		CHECK_MSG(strstr(out, "0123456789ab") != NULL, "%s", cases[c].name);
		free(out);
		free(err);
		json_decref(grant);
		json_decref(first);
		json_decref(second);
	}
	close(listen_fd);
	{
		char command[128];

		snprintf(command, sizeof(command), "rm -rf -- '%s'", run.dir);
		if (system(command) != 0)
			fprintf(stderr, "could not remove %s\n", run.dir);
	}
}

int main(void)
{
	TEST(test_round_trip());
	TEST(test_size_limit());
	TEST(test_garbage());
	TEST(test_timeout_and_close());
	TEST(test_errors());
	TEST(test_cli_pins_deadline());
	/* The daemon must run as root: without root only the framing is
	 * tested, and the run counts as skipped so that nobody mistakes it
	 * for the whole test. */
	if (geteuid() != 0) {
		if (test_done() != 0)
			return 1;
		fprintf(stderr, "skipped: the sshleased part needs root\n");
		return 77;
	}
	if (sodium_init() < 0)
		return 1;
	TEST(test_daemon());
	TEST(test_grants());
	return test_done();
}

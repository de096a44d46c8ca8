/* Control protocol framing over a real SOCK_SEQPACKET socketpair: round
 * trip, size limit, garbage, timeout, closed peer, error replies; and the
 * CLI's grant against a scripted peer (the real grant asks for the deadline
 * its dry run showed). The daemon's side: test-daemon.c (a real sshleased),
 * test-daemon-grants.c (its grants), test-handlers.c (in-process). */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon-proc.h"
#include "fixture.h"
#include "protocol.h"
#include "test.h"

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

static void test_size_limit(void)
{
	int sv[2];
	json_t *got = NULL, *big;
	char *text;

	pair(sv);
	/* Exactly the limit is accepted. */
	text = fixture_json_of_size(PROTO_MAX_MESSAGE);
	send_raw(sv[0], text, PROTO_MAX_MESSAGE);
	CHECK_INT(proto_recv(sv[1], 1000, &got), 0);
	CHECK(got && strlen(json_string_value(json_object_get(got, "a"))) ==
			     PROTO_MAX_MESSAGE - 8);
	json_decref(got);
	free(text);

	/* One byte more is refused, and the next message still arrives. */
	text = fixture_json_of_size(PROTO_MAX_MESSAGE + 1);
	send_raw(sv[0], text, PROTO_MAX_MESSAGE + 1);
	got = NULL;
	CHECK_INT(proto_recv(sv[1], 1000, &got), -EMSGSIZE);
	CHECK(got == NULL);
	free(text);

	/* Far more: the tail is discarded with the message (MSG_TRUNC). */
	text = fixture_json_of_size(3 * PROTO_MAX_MESSAGE);
	send_raw(sv[0], text, 3 * PROTO_MAX_MESSAGE);
	CHECK_INT(proto_recv(sv[1], 1000, &got), -EMSGSIZE);
	free(text);
	send_raw(sv[0], "{\"op\":\"status\"}", 15);
	CHECK_INT(proto_recv(sv[1], 1000, &got), 0);
	CHECK_STR(json_string_value(json_object_get(got, "op")), "status");
	json_decref(got);

	/* proto_send refuses to build an over-long message and sends
	 * nothing. */
	text = fixture_json_of_size(PROTO_MAX_MESSAGE + 1);
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


/* --- the CLI against a scripted peer --- */

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
	struct daemon_run run = DAEMON_RUN_INIT;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int listen_fd;

	if (!daemon_run_init(&run, "sl-test-cli")) {
		test_failures++;
		return;
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
		pid = cli_run_spawn(&run, args);

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
		rc = cli_run_finish(&run, pid, &out, &err);
		CHECK_MSG(rc == 0, "%s: exit %d: %s", cases[c].name, rc, err);
		CHECK_MSG(strstr(out, "0123456789ab") != NULL, "%s", cases[c].name);
		free(out);
		free(err);
		json_decref(grant);
		json_decref(first);
		json_decref(second);
	}
	close(listen_fd);
	fixture_remove_tree(run.dir);
}

int main(void)
{
	TEST(test_round_trip());
	TEST(test_size_limit());
	TEST(test_garbage());
	TEST(test_timeout_and_close());
	TEST(test_errors());
	TEST(test_cli_pins_deadline());
	return test_done();
}

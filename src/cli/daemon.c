/* Talking to sshleased: one connection per request over the control socket. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "protocol.h"

/* Why the socket could not be reached, and what to do about it. */
static int cli_unreachable(const struct cli *cli, int err)
{
	char path[CLI_TEXT_CAP + 1];

	cli_safe(path, sizeof(path), cli->socket_path, "");
	if (err == EACCES || err == EPERM) {
		cli_error(cli, "cannot reach sshleased at %s: %s. Only root and "
			  "members of the daemon's socket_group (default "
			  "'sshlease') may use it: run it with sudo, or ask "
			  "to be added to that group", path, strerror(err));
		return SL_EXIT_DENIED;
	}
	if (err == EAGAIN || err == EINPROGRESS) {
		cli_error(cli, "sshleased at %s did not accept the connection "
			  "within %d seconds", path, CLI_REPLY_TIMEOUT_MS / 1000);
		return SL_EXIT_FAILURE;
	}
	cli_error(cli, "cannot reach sshleased at %s: %s. Is it running? Start "
		  "it with: sudo systemctl start sshleased (or run sudo "
		  "sshleased in a terminal where systemd is not available)",
		  path, strerror(err));
	return SL_EXIT_UNREACHABLE;
}

/* Connect to the daemon's socket: 0 with the fd in *out, or -errno
 * (-ENAMETOOLONG for a path that does not fit sockaddr_un). */
static int cli_socket_open(const char *path, int *out)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	/* Bounds a connect to a daemon whose backlog is full, and the send. */
	struct timeval limit = { .tv_sec = CLI_REPLY_TIMEOUT_MS / 1000 };
	int fd, err;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		err = errno;
		close(fd);
		return -err;
	}
	*out = fd;
	return 0;
}

static int cli_connect(const struct cli *cli, int *out)
{
	struct sockaddr_un addr;
	int r = cli_socket_open(cli->socket_path, out);

	if (r == 0)
		return 0;
	if (r == -ENAMETOOLONG) {
		cli_error(cli, "the socket path is too long (at most %zu bytes)",
			  sizeof(addr.sun_path) - 1);
		return SL_EXIT_USAGE;
	}
	if (r == -EAFNOSUPPORT || r == -EMFILE || r == -ENFILE ||
	    r == -ENOBUFS || r == -ENOMEM) {
		cli_error(cli, "cannot create a socket: %s", strerror(-r));
		return SL_EXIT_FAILURE;
	}
	return cli_unreachable(cli, -r);
}

int cli_call_quiet(const struct cli *cli, const json_t *request, json_t **reply)
{
	int fd = -1, r;

	r = cli_socket_open(cli->socket_path, &fd);
	if (r != 0)
		return r;
	r = proto_send(fd, request);
	if (r == 0)
		r = proto_recv(fd, CLI_REPLY_TIMEOUT_MS, reply);
	close(fd);
	return r;
}

static int cli_transport_error(const struct cli *cli, int r, bool sending)
{
	switch (r) {
	case -ETIMEDOUT:
		cli_error(cli, "no answer from sshleased within %d seconds",
			  CLI_REPLY_TIMEOUT_MS / 1000);
		break;
	case -ECONNRESET:
	case -EPIPE:
		cli_error(cli, "sshleased closed the connection without "
			  "answering");
		break;
	case -EBADMSG:
		cli_error(cli, "sshleased sent an answer that is not a JSON "
			  "object");
		break;
	case -EMSGSIZE:
		cli_error(cli, "%s is longer than the protocol allows",
			  sending ? "the request" : "the answer");
		break;
	default:
		cli_error(cli, "cannot %s sshleased: %s",
			  sending ? "send to" : "read from", strerror(-r));
		break;
	}
	return SL_EXIT_FAILURE;
}

int cli_call(const struct cli *cli, const json_t *request, json_t **reply)
{
	int fd = -1, r;

	r = cli_connect(cli, &fd);
	if (r != 0)
		return r;
	r = proto_send(fd, request);
	if (r < 0) {
		r = cli_transport_error(cli, r, true);
		goto out;
	}
	r = proto_recv(fd, CLI_REPLY_TIMEOUT_MS, reply);
	if (r < 0)
		r = cli_transport_error(cli, r, false);
out:
	close(fd);
	return r;
}

/* The word put before a daemon message of this error code, if any. */
static const char *cli_error_label(enum proto_error_code code)
{
	if (code == PROTO_ERR_REFUSED)
		return "refused";
	if (code == PROTO_ERR_DENIED)
		return "permission denied";
	return NULL;
}

int cli_reply_status(const struct cli *cli, const json_t *reply)
{
	char message[CLI_TEXT_CAP + 1];
	const json_t *ok = json_object_get(reply, "ok");
	enum proto_error_code code;
	const char *label;

	if (json_is_true(ok))
		return 0;
	if (!json_is_false(ok)) {
		cli_error(cli, "sshleased sent an answer without \"ok\"");
		return SL_EXIT_FAILURE;
	}
	code = proto_error_parse(cli_json_string(reply, "error"));
	cli_safe(message, sizeof(message), cli_json_string(reply, "message"),
		 "(no reason given)");
	label = cli_error_label(code);
	/* Do not say "refused: refused: ..." when the daemon said it already. */
	if (label && strncasecmp(message, label, strlen(label)) != 0)
		cli_error_as(cli, label, "%s", message);
	else
		cli_error(cli, "%s", message);
	return proto_error_exit_code(code);
}

int cli_request(const struct cli *cli, const json_t *request, json_t **reply)
{
	json_t *answer = NULL;
	int r;

	r = cli_call(cli, request, &answer);
	if (r == 0)
		r = cli_reply_status(cli, answer);
	if (r == 0) {
		*reply = answer;
		answer = NULL;
	}
	json_decref(answer);
	return r;
}

json_t *cli_reply_get(const struct cli *cli, const json_t *reply,
		      const char *key, json_type type)
{
	json_t *member = json_object_get(reply, key);

	if (member && json_typeof(member) == type)
		return member;
	cli_error(cli, "sshleased answered without the %s", key);
	return NULL;
}

json_t *cli_request_new(const char *op)
{
	json_t *request = json_object();

	if (!request)
		cli_out_of_memory();
	cli_json_set_string(request, "op", op);
	return request;
}

void cli_json_set_string(json_t *obj, const char *key, const char *value)
{
	json_t *string = json_string(value);

	/* json_string also refuses text that is not UTF-8: main() checks every
	 * argument and cli_key_input the key, so only memory is left. */
	if (!string || json_object_set_new(obj, key, string) != 0)
		cli_out_of_memory();
}

void cli_json_set_integer(json_t *obj, const char *key, long long value)
{
	if (json_object_set_new(obj, key, json_integer(value)) != 0)
		cli_out_of_memory();
}

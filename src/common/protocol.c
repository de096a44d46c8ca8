/* The control protocol's framing: one JSON object per SOCK_SEQPACKET message. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "protocol.h"
#include "timeutil.h"

int proto_send(int fd, const json_t *message)
{
	char *text = NULL;
	size_t len;
	ssize_t sent;
	int r;

	if (!json_is_object(message)) {
		r = -EINVAL;
		goto out;
	}
	text = json_dumps(message, JSON_COMPACT);
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	len = strlen(text);
	if (len > PROTO_MAX_MESSAGE) {
		r = -EMSGSIZE;
		goto out;
	}
	do {
		sent = send(fd, text, len, MSG_NOSIGNAL);
	} while (sent < 0 && errno == EINTR);
	if (sent < 0) {
		r = -errno;
		goto out;
	}
	/* A seqpacket send is all or nothing; anything else is a bug. */
	r = (size_t)sent == len ? 0 : -EIO;
out:
	free(text);
	return r;
}

/* Wait until fd is readable: 0, -ETIMEDOUT or -errno. */
static int wait_readable(int fd, int timeout_ms)
{
	long long deadline = timeout_ms >= 0 ? time_monotonic_ms() + timeout_ms : 0;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int wait_ms = timeout_ms;
	int n;

	for (;;) {
		n = poll(&pfd, 1, wait_ms);
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
		if (timeout_ms >= 0) {
			long long left = deadline - time_monotonic_ms();

			wait_ms = left > 0 ? (int)left : 0;
		}
	}
}

int proto_recv(int fd, int timeout_ms, json_t **out)
{
	/* One byte more than allowed, so that MSG_TRUNC is not the only
	 * signal of an over-long message. */
	const size_t bufsize = PROTO_MAX_MESSAGE + 1;
	char *buf = NULL;
	json_t *message = NULL;
	json_error_t error;
	struct iovec iov;
	struct msghdr msg;
	ssize_t n;
	int r;

	*out = NULL;
	r = wait_readable(fd, timeout_ms);
	if (r < 0)
		goto out;
	buf = malloc(bufsize);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	iov = (struct iovec){ .iov_base = buf, .iov_len = bufsize };
	msg = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1 };
	do {
		n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		/* Readable but nothing there: another reader took it. */
		r = errno == EAGAIN ? -ETIMEDOUT : -errno;
		goto out;
	}
	if (n == 0) {
		/* End of stream; an empty message is not a request either. */
		r = -ECONNRESET;
		goto out;
	}
	if ((msg.msg_flags & MSG_TRUNC) || (size_t)n > PROTO_MAX_MESSAGE) {
		r = -EMSGSIZE;
		goto out;
	}
	/* No NUL, no duplicate keys, nothing after the value. */
	message = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, &error);
	if (!message || !json_is_object(message)) {
		r = -EBADMSG;
		goto out;
	}
	*out = message;
	message = NULL;
	r = 0;
out:
	json_decref(message);
	free(buf);
	return r;
}

static const struct {
	const char *name;
	int exit_code;
} proto_errors[] = {
	[PROTO_ERR_FAILED] = { "failed", SL_EXIT_FAILURE },
	[PROTO_ERR_USAGE] = { "usage", SL_EXIT_USAGE },
	[PROTO_ERR_REFUSED] = { "refused", SL_EXIT_REFUSED },
	[PROTO_ERR_NOT_FOUND] = { "not_found", SL_EXIT_REFUSED },
	[PROTO_ERR_DENIED] = { "denied", SL_EXIT_DENIED },
};

const char *proto_error_name(enum proto_error_code code)
{
	if ((size_t)code >= SL_ARRAY_SIZE(proto_errors))
		code = PROTO_ERR_FAILED;
	return proto_errors[code].name;
}

enum proto_error_code proto_error_parse(const char *name)
{
	if (name)
		for (size_t i = 0; i < SL_ARRAY_SIZE(proto_errors); i++)
			if (strcmp(name, proto_errors[i].name) == 0)
				return (enum proto_error_code)i;
	return PROTO_ERR_FAILED;
}

json_t *proto_error(enum proto_error_code code, const char *message)
{
	return json_pack("{s:b, s:s, s:s}", "ok", 0, "error",
			 proto_error_name(code), "message", message ? message : "");
}

int proto_error_exit_code(enum proto_error_code code)
{
	if ((size_t)code >= SL_ARRAY_SIZE(proto_errors))
		code = PROTO_ERR_FAILED;
	return proto_errors[code].exit_code;
}

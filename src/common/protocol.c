/* The control protocol's framing: one JSON object per SOCK_SEQPACKET message. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "protocol.h"

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

static long long monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is readable: 0, -ETIMEDOUT or -errno. */
static int wait_readable(int fd, int timeout_ms)
{
	long long deadline = timeout_ms >= 0 ? monotonic_ms() + timeout_ms : 0;
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
			long long left = deadline - monotonic_ms();

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

json_t *proto_error(const char *code, const char *message)
{
	return json_pack("{s:b, s:s, s:s}", "ok", 0, "error",
			 code ? code : "failed", "message", message ? message : "");
}

int proto_error_exit_code(const char *code)
{
	static const struct {
		const char *code;
		int exit_code;
	} table[] = {
		{ "usage", SL_EXIT_USAGE },
		{ "refused", SL_EXIT_REFUSED },
		{ "not_found", SL_EXIT_REFUSED },
		{ "denied", SL_EXIT_DENIED },
		{ "failed", SL_EXIT_FAILURE },
	};

	if (!code)
		return SL_EXIT_FAILURE;
	for (size_t i = 0; i < SL_ARRAY_SIZE(table); i++)
		if (strcmp(code, table[i].code) == 0)
			return table[i].exit_code;
	return SL_EXIT_FAILURE;
}

/* sd_notify(3) by hand: one datagram to $NOTIFY_SOCKET, no libsystemd. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

void notify_send(const char *text)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	socklen_t addr_len;
	size_t path_len;
	int fd = -1;

	if (!path || path[0] == '\0')
		goto out;
	path_len = strlen(path);
	/* Absolute path, or '@' for the abstract namespace; nothing else
	 * (systemd also allows vsock, which this daemon does not need). */
	if ((path[0] != '/' && path[0] != '@') || path_len >= sizeof(addr.sun_path)) {
		log_warn("NOTIFY_SOCKET is not a usable socket address; not notifying");
		goto out;
	}
	memcpy(addr.sun_path, path, path_len);
	if (path[0] == '@')
		addr.sun_path[0] = '\0';
	addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("cannot notify the service manager: socket: %s", strerror(errno));
		goto out;
	}
	if (sendto(fd, text, strlen(text), MSG_NOSIGNAL, (struct sockaddr *)&addr,
		   addr_len) < 0)
		log_warn("cannot notify the service manager: %s", strerror(errno));
out:
	if (fd >= 0)
		close(fd);
}

void notify_ready(void)
{
	notify_send("READY=1\nSTATUS=serving");
}

void notify_reloading(void)
{
	struct timespec ts;
	char text[96];

	/* MONOTONIC_USEC lets Type=notify-reload managers match the reload;
	 * in microseconds, finer than time_monotonic_ms(). */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(text, sizeof(text), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL +
			 (unsigned long long)ts.tv_nsec / 1000ULL);
	notify_send(text);
}

void notify_stopping(void)
{
	notify_send("STOPPING=1");
}

void notify_status(const char *fmt, ...)
{
	char text[256];
	va_list ap;
	int n;

	n = snprintf(text, sizeof(text), "STATUS=");
	va_start(ap, fmt);
	vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
	va_end(ap);
	notify_send(text);
}

/*
 * Who listens on a local TCP port, from /proc/net/tcp and /proc/net/tcp6:
 * the probe speaks only to a listener that root owns, since any local user
 * may listen on a port nobody else holds.
 */
#ifndef SSHLEASE_SSHD_LISTEN_H
#define SSHLEASE_SSHD_LISTEN_H

#include <stdbool.h>

#include "common.h"

/* The kernel's TCP state of a listening socket ("0A" in /proc/net/tcp). */
#define SSHD_TCP_LISTEN 0x0A

/* One socket as a line of /proc/net/tcp or /proc/net/tcp6 shows it. */
struct sshd_tcp_socket {
	int family;                /* AF_INET (8 hex digits) or AF_INET6 (32) */
	unsigned char address[16]; /* local address, network byte order;
				      AF_INET uses the first 4 bytes */
	unsigned port;             /* local port */
	unsigned state;            /* SSHD_TCP_LISTEN, or another state */
	unsigned long uid;         /* the socket's owner */
};

/*
 * Parse one line of /proc/net/tcp or /proc/net/tcp6 (the newline may be
 * there or not): "SL: LOCAL REMOTE ST TX:RX TR:WHEN RETRNSMT UID ...",
 * blank-separated, where LOCAL and REMOTE are 8 (IPv4) or 32 (IPv6) hex
 * digits, ':' and 4 hex digits of port, ST is 2 hex digits and UID is
 * decimal. The kernel prints each 32-bit word of an address as the number
 * it is in memory, so the words are read back in this machine's byte
 * order. Refused (SL_REFUSED with *why): the heading line, a missing
 * field, a field of the wrong length or with a wrong character, a uid out
 * of range.
 */
int sshd_tcp_socket_parse(const char *line, struct sshd_tcp_socket *out,
			  const char **why);

/*
 * Whether s may take a connection to address:port (family AF_INET with 4
 * bytes of address, or AF_INET6 with 16): s listens on port and is bound
 * to address or to its family's wildcard; for an IPv4 address also an
 * IPv6 socket bound to :: (it takes IPv4 too unless IPV6_V6ONLY, which
 * /proc does not show), to ::ffff:ADDRESS or to ::ffff:0.0.0.0.
 */
bool sshd_tcp_socket_serves(const struct sshd_tcp_socket *s, int family,
			    const unsigned char *address, unsigned port);

/*
 * Whose listening sockets would take a connection to address (numeric)
 * and port: every line of /proc/net/tcp and /proc/net/tcp6 that
 * sshd_tcp_socket_serves. Returns 0 when there is at least one and each is
 * owned by root or by this process's effective uid (a process cannot be
 * fooled by its own sockets; for sshleased the two are the same);
 * SL_REFUSED with *owner set to the first other owner and *why;
 * SL_NOT_FOUND with *why when nothing listens there; SL_REFUSED for an
 * address that is not numeric; -errno when the tables cannot be read
 * (-EPROTO: a line that does not parse). A missing tcp6 table (no IPv6)
 * counts as empty.
 */
int sshd_listener_check(const char *address, unsigned port,
			unsigned long *owner, const char **why);

#endif

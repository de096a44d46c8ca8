/* Who listens on a local TCP port, from /proc/net/tcp and /proc/net/tcp6. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sshd-listen.h"

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Exactly n (1..8) hex digits at p. */
static bool parse_hex(const char *p, size_t n, uint32_t *out)
{
	uint32_t value = 0;

	for (size_t i = 0; i < n; i++) {
		int d = hex_digit(p[i]);

		if (d < 0)
			return false;
		value = value << 4 | (uint32_t)d;
	}
	*out = value;
	return true;
}

/* "ADDRESS:PORT" of len bytes, as /proc/net/tcp{,6} prints it. */
static bool parse_tcp_endpoint(const char *p, size_t len, int *family,
			       unsigned char address[16], unsigned *port)
{
	size_t words;
	uint32_t value;

	if (len == 8 + 1 + 4)
		*family = AF_INET;
	else if (len == 32 + 1 + 4)
		*family = AF_INET6;
	else
		return false;
	words = (len - 5) / 8;
	memset(address, 0, 16);
	for (size_t i = 0; i < words; i++) {
		if (!parse_hex(p + 8 * i, 8, &value))
			return false;
		/* The word as it lay in the kernel's memory. */
		memcpy(address + 4 * i, &value, 4);
	}
	if (p[len - 5] != ':' || !parse_hex(p + len - 4, 4, &value))
		return false;
	*port = value;
	return true;
}

int sshd_tcp_socket_parse(const char *line, struct sshd_tcp_socket *out,
			  const char **why)
{
	enum { SLOT, LOCAL, REMOTE, STATE, QUEUES, TIMER, RETRANSMITS, UID, FIELDS };
	const char *field[FIELDS], *p = line;
	size_t len[FIELDS];
	struct sshd_tcp_socket s = { 0 };
	int remote_family;
	unsigned char remote[16];
	unsigned remote_port;
	uint32_t state;
	unsigned long uid = 0;

	for (size_t i = 0; i < FIELDS; i++) {
		while (*p == ' ')
			p++;
		if (*p == '\0' || *p == '\n') {
			*why = "the line has fewer than 8 fields";
			return SL_REFUSED;
		}
		field[i] = p;
		len[i] = strcspn(p, " \n");
		p += len[i];
	}
	if (len[SLOT] < 2 || field[SLOT][len[SLOT] - 1] != ':') {
		*why = "the line does not start with a slot number";
		return SL_REFUSED;
	}
	for (size_t i = 0; i + 1 < len[SLOT]; i++)
		if (!sl_is_digit(field[SLOT][i])) {
			*why = "the line does not start with a slot number";
			return SL_REFUSED;
		}
	if (!parse_tcp_endpoint(field[LOCAL], len[LOCAL], &s.family, s.address,
				&s.port) ||
	    !parse_tcp_endpoint(field[REMOTE], len[REMOTE], &remote_family,
				remote, &remote_port) ||
	    remote_family != s.family) {
		*why = "a local or remote address is malformed";
		return SL_REFUSED;
	}
	if (len[STATE] != 2 || !parse_hex(field[STATE], 2, &state)) {
		*why = "the state is not two hex digits";
		return SL_REFUSED;
	}
	s.state = state;
	if (len[UID] > 10) {
		*why = "the uid is out of range";
		return SL_REFUSED;
	}
	for (size_t i = 0; i < len[UID]; i++) {
		if (!sl_is_digit(field[UID][i])) {
			*why = "the uid is not a decimal number";
			return SL_REFUSED;
		}
		uid = uid * 10 + (unsigned long)(field[UID][i] - '0');
	}
	if (uid > UINT32_MAX) {
		*why = "the uid is out of range";
		return SL_REFUSED;
	}
	s.uid = uid;
	*out = s;
	return 0;
}

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

bool sshd_tcp_socket_serves(const struct sshd_tcp_socket *s, int family,
			    const unsigned char *address, unsigned port)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0,
						  0, 0, 0, 0, 0xff, 0xff };
	size_t size = family == AF_INET ? 4 : 16;

	if (s->state != SSHD_TCP_LISTEN || s->port != port)
		return false;
	if (s->family == family)
		return all_zero(s->address, size) ||
		       memcmp(s->address, address, size) == 0;
	if (family != AF_INET || s->family != AF_INET6)
		return false;
	/* An IPv6 socket that takes IPv4 connections too. */
	if (all_zero(s->address, 16))
		return true;
	return memcmp(s->address, mapped, sizeof(mapped)) == 0 &&
	       (all_zero(s->address + 12, 4) ||
		memcmp(s->address + 12, address, 4) == 0);
}

/* Scan one table; 0 when it has no other owner's listener (found counts
 * the trusted ones), SL_REFUSED with *owner, or -errno. */
static int listener_scan(const char *path, int family,
			 const unsigned char *address, unsigned port,
			 size_t *found, unsigned long *owner)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0, n = 0;
	uid_t self = geteuid();
	int r = 0;

	if (!f)
		return errno == ENOENT ? 0 : -errno;
	errno = 0;
	while (getline(&line, &cap, f) >= 0) {
		struct sshd_tcp_socket s;
		const char *ignored;

		if (n++ == 0)
			continue; /* the heading */
		if (sshd_tcp_socket_parse(line, &s, &ignored) != 0) {
			r = -EPROTO;
			goto out;
		}
		if (!sshd_tcp_socket_serves(&s, family, address, port))
			continue;
		if (s.uid != 0 && s.uid != (unsigned long)self) {
			*owner = s.uid;
			r = SL_REFUSED;
			goto out;
		}
		(*found)++;
	}
	if (ferror(f))
		r = errno ? -errno : -EIO;
out:
	free(line);
	fclose(f);
	return r;
}

int sshd_listener_check(const char *address, unsigned port,
			unsigned long *owner, const char **why)
{
	static const char *const tables[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	unsigned char addr[16] = { 0 };
	size_t found = 0;
	int family, r;

	if (inet_pton(AF_INET, address, addr) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, address, addr) == 1)
		family = AF_INET6;
	else {
		*why = "the address is not a numeric IPv4 or IPv6 address";
		return SL_REFUSED;
	}
	for (size_t i = 0; i < SL_ARRAY_SIZE(tables); i++) {
		r = listener_scan(tables[i], family, addr, port, &found, owner);
		if (r == SL_REFUSED)
			*why = "a listening socket there is neither root's nor ours";
		else if (r == -EPROTO)
			*why = "a line of /proc/net/tcp does not parse";
		else if (r < 0)
			*why = "cannot read /proc/net/tcp";
		if (r != 0)
			return r;
	}
	if (found == 0) {
		*why = "no socket listens there";
		return SL_NOT_FOUND;
	}
	return 0;
}

/*
 * sshd-probe without a running sshd: the KEXINIT reader, the info as JSON,
 * the probe against servers that are not sshd, and (as root) a probe that
 * does not believe a listener of another user: its banner and keys are
 * dropped and sshd -V is asked instead.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sshd-listen.h"
#include "sshd-probe.h"
#include "test.h"

/* ---- KEXINIT ---- */

static size_t put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
	return 4;
}

static size_t put_list(unsigned char *p, const char *list)
{
	size_t n = put_u32(p, (uint32_t)strlen(list));

	memcpy(p + n, list, strlen(list));
	return n + strlen(list);
}

/* A KEXINIT packet as sshd sends it, with hostkeys as its host key list. */
static size_t make_kexinit(unsigned char *buf, const char *hostkeys)
{
	static const char *const rest[] = {
		"chacha20-poly1305@openssh.com", "chacha20-poly1305@openssh.com",
		"hmac-sha2-256", "hmac-sha2-256", "none,zlib@openssh.com",
		"none,zlib@openssh.com", "", "",
	};
	size_t pos = 5, padding = 8;

	buf[pos++] = 20;
	memset(buf + pos, 0xa5, 16);
	pos += 16;
	pos += put_list(buf + pos, "curve25519-sha256,diffie-hellman-group14-sha256");
	pos += put_list(buf + pos, hostkeys);
	for (size_t i = 0; i < SL_ARRAY_SIZE(rest); i++)
		pos += put_list(buf + pos, rest[i]);
	buf[pos++] = 0;
	pos += put_u32(buf + pos, 0);
	memset(buf + pos, 0, padding);
	pos += padding;
	put_u32(buf, (uint32_t)(pos - 4));
	buf[4] = (unsigned char)padding;
	return pos;
}

static void test_kexinit(void)
{
	unsigned char buf[1024], copy[1024];
	char out[256];
	const char *why = NULL;
	size_t len = make_kexinit(buf, "rsa-sha2-512,rsa-sha2-256,ssh-ed25519");

	CHECK_INT(sshd_kexinit_host_key_algorithms(buf, len, out, sizeof(out), &why), 0);
	CHECK_STR(out, "rsa-sha2-512,rsa-sha2-256,ssh-ed25519");
	/* Trailing bytes (the next packet) are not its business. */
	memset(buf + len, 0x42, 16);
	CHECK_INT(sshd_kexinit_host_key_algorithms(buf, len + 16, out, sizeof(out),
						   &why),
		  0);

	/* Every truncation is refused. */
	for (size_t cut = 0; cut < len; cut++)
		CHECK_MSG(sshd_kexinit_host_key_algorithms(buf, cut, out, sizeof(out),
							   &why) == SL_REFUSED,
			  "truncated to %zu bytes: not refused", cut);
	/* Too small an output buffer. */
	CHECK_INT(sshd_kexinit_host_key_algorithms(buf, len, out, 10, &why),
		  SL_REFUSED);

	memcpy(copy, buf, len);
	copy[5] = 21; /* not KEXINIT */
	CHECK_INT(sshd_kexinit_host_key_algorithms(copy, len, out, sizeof(out), &why),
		  SL_REFUSED);
	memcpy(copy, buf, len);
	put_u32(copy, 40000); /* over the limit */
	CHECK_INT(sshd_kexinit_host_key_algorithms(copy, len, out, sizeof(out), &why),
		  SL_REFUSED);
	memcpy(copy, buf, len);
	copy[4] = 250; /* padding eats the payload */
	CHECK_INT(sshd_kexinit_host_key_algorithms(copy, len, out, sizeof(out), &why),
		  SL_REFUSED);
	memcpy(copy, buf, len);
	put_u32(copy + 5 + 17, 5000); /* kex list longer than the payload */
	CHECK_INT(sshd_kexinit_host_key_algorithms(copy, len, out, sizeof(out), &why),
		  SL_REFUSED);

	len = make_kexinit(buf, "");
	CHECK_INT(sshd_kexinit_host_key_algorithms(buf, len, out, sizeof(out), &why),
		  SL_REFUSED);
	len = make_kexinit(buf, "ssh-ed25519,\x1b[2J");
	CHECK_INT(sshd_kexinit_host_key_algorithms(buf, len, out, sizeof(out), &why),
		  SL_REFUSED);
	len = make_kexinit(buf, "ssh-ed25519 ssh-rsa");
	CHECK_INT(sshd_kexinit_host_key_algorithms(buf, len, out, sizeof(out), &why),
		  SL_REFUSED);
}

/* ---- JSON ---- */

static void test_info_json(void)
{
	struct sshd_info info = {
		.source = SSHD_SOURCE_PROBE,
		.version = { 9, 2 },
		.software = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
		.port = 22,
		.address = "127.0.0.1",
		.n_host_keys = 2,
		.host_keys = {
			{ "ssh-ed25519", "SHA256:5AqmqjYjtpHUQoWPnQXkKaDKaENuchwqmN1p6q8RZ4s" },
			{ "ecdsa-sha2-nistp256", "SHA256:tcoHGTfiNXryJQySye/ufIQeYEelDTeKmALJdScVZ4U" },
		},
	};
	json_t *j = sshd_info_to_json(&info);
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	CHECK_STR(text,
		  "{\"address\":\"127.0.0.1\",\"host_keys\":[{\"fingerprint\":"
		  "\"SHA256:5AqmqjYjtpHUQoWPnQXkKaDKaENuchwqmN1p6q8RZ4s\","
		  "\"key_type\":\"ssh-ed25519\"},{\"fingerprint\":"
		  "\"SHA256:tcoHGTfiNXryJQySye/ufIQeYEelDTeKmALJdScVZ4U\","
		  "\"key_type\":\"ecdsa-sha2-nistp256\"}],\"port\":22,"
		  "\"probe_error\":null,\"software\":\"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\","
		  "\"source\":\"probe\",\"version\":\"9.2\",\"warning\":null}");
	free(text);
	json_decref(j);

	memset(&info, 0, sizeof(info));
	info.port = 2222;
	snprintf(info.probe_error, sizeof(info.probe_error), "refused");
	snprintf(info.warning, sizeof(info.warning), "not root's");
	j = sshd_info_to_json(&info);
	text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	CHECK_STR(text, "{\"address\":null,\"host_keys\":[],\"port\":2222,"
			"\"probe_error\":\"refused\",\"software\":null,"
			"\"source\":null,\"version\":null,\"warning\":\"not root's\"}");
	free(text);
	json_decref(j);
}

/* ---- the probe against servers that are not sshd ---- */

/*
 * A listener on 127.0.0.1 that answers every connection with text and hangs
 * up: what the probe meets when the port is not an OpenSSH server. (Real
 * sshd is probed by the integration tests.) Returns the child's pid.
 */
static pid_t fake_server(const char *text, unsigned *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
		CHECK_MSG(false, "fake server: %s", strerror(errno));
		return -1;
	}
	*port = ntohs(sin.sin_port);
	pid = fork();
	if (pid == 0) {
		alarm(60); /* never outlive a hung test */
		for (;;) {
			int c = accept(fd, NULL, NULL);

			if (c < 0)
				continue;
			if (write(c, text, strlen(text)) < 0)
				_exit(1);
			close(c);
		}
	}
	close(fd);
	return pid;
}

static void fake_server_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

static void test_probe_not_sshd(void)
{
	static const char *const loopback[] = { "127.0.0.1", NULL };
	struct sshd_probe_options o = {
		.exec = { .sshd_path = "/nonexistent/sshd", .timeout = 5 },
		.addresses = loopback,
	};
	struct sshd_info info;
	const char *why = NULL;
	unsigned port = 0;
	pid_t pid;

	/* Another SSH server: it answers, but has no OpenSSH version. */
	pid = fake_server("SSH-2.0-dropbear_2022.83\r\n", &port);
	o.port = port;
	CHECK_INT(sshd_probe(&o, &info, &why), 0);
	CHECK_INT(info.source, SSHD_SOURCE_PROBE);
	CHECK(!sshd_version_known(&info.version));
	CHECK_STR(info.software, "SSH-2.0-dropbear_2022.83");
	CHECK_STR(info.address, "127.0.0.1");
	CHECK_INT(info.port, port);
	CHECK_INT(info.n_host_keys, 0);
	CHECK_STR(info.probe_error, "");
	fake_server_stop(pid);

	/* Lines before the banner are allowed (RFC 4253 4.2); escapes in the
	 * banner are not passed on. */
	pid = fake_server("hello\r\nSSH-2.0-OpenSSH_8.4p1 \x1b[2J\r\n", &port);
	o.port = port;
	CHECK_INT(sshd_probe(&o, &info, &why), 0);
	CHECK_INT(info.source, SSHD_SOURCE_PROBE);
	CHECK_STR(info.software, "SSH-2.0-OpenSSH_8.4p1 ?[2J");
	CHECK(info.version.major == 8 && info.version.minor == 4);
	fake_server_stop(pid);

	/* Not SSH at all, and no sshd binary to ask. */
	pid = fake_server("HTTP/1.1 400 Bad Request\r\n\r\n", &port);
	o.port = port;
	CHECK_INT(sshd_probe(&o, &info, &why), SL_NOT_FOUND);
	CHECK(why != NULL);
	CHECK_INT(info.source, SSHD_SOURCE_NONE);
	CHECK_INT(info.port, port);
	CHECK_MSG(strstr(info.probe_error, "no SSH server answered on 127.0.0.1 port ") &&
			  strstr(info.probe_error, "no SSH banner"),
		  "probe_error: %s", info.probe_error);
	fake_server_stop(pid);
}

/*
 * A listener that answers every connection with text, as uid (set before
 * the socket is made, so the socket is that uid's), on the wildcard of
 * family (AF_INET: 0.0.0.0, AF_INET6: ::, which takes IPv4 too) or on
 * 127.0.0.1 (loopback true). Returns the child's pid, the port in *port.
 */
static pid_t fake_server_as(uid_t uid, int family, bool loopback,
			    const char *text, unsigned *port)
{
	int fds[2];
	pid_t pid;
	unsigned got = 0;

	if (pipe(fds) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct sockaddr_storage ss = { 0 };
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		socklen_t len = family == AF_INET ? sizeof(*sin) : sizeof(*sin6);
		int fd, off = 0;

		alarm(60); /* never outlive a hung test */
		close(fds[0]);
		if (setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0)
			_exit(1);
		ss.ss_family = (sa_family_t)family;
		if (family == AF_INET && loopback)
			sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
		if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) != 0 ||
		    listen(fd, 16) != 0 ||
		    getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
			_exit(1);
		got = ntohs(family == AF_INET ? sin->sin_port : sin6->sin6_port);
		if (write(fds[1], &got, sizeof(got)) != sizeof(got))
			_exit(1);
		close(fds[1]);
		for (;;) {
			int c = accept(fd, NULL, NULL);

			if (c < 0)
				continue;
			if (write(c, text, strlen(text)) < 0)
				_exit(1);
			close(c);
		}
	}
	close(fds[1]);
	if (pid < 0 || read(fds[0], &got, sizeof(got)) != sizeof(got)) {
		CHECK_MSG(false, "fake server as uid %u did not start", (unsigned)uid);
		close(fds[0]);
		if (pid > 0)
			fake_server_stop(pid);
		return -1;
	}
	close(fds[0]);
	*port = got;
	return pid;
}

/*
 * Item: a local user listens on the port the daemon probes and answers with
 * a banner and keys of its choice. sshd_listener_check names its uid; the
 * probe does not believe it (nothing of its banner is kept; sshd -V gives
 * the version) and warning says which uid listens. A listener of root's
 * own (and this process's, when not root) is believed.
 */
static void test_probe_not_root(void)
{
	static const char *const loopback[] = { "127.0.0.1", NULL };
	struct sshd_probe_options o = {
		.exec = { .sshd_path = "/nonexistent/sshd", .timeout = 5 },
		.addresses = loopback,
	};
	const uid_t nobody = 65534;
	const char *prefix = "no trusted SSH server answered on 127.0.0.1 port ";
	struct sshd_info info;
	unsigned long owner = 0;
	const char *why = NULL;
	unsigned port = 0;
	pid_t pid;

	if (geteuid() != 0) {
		fprintf(stderr, "skipped: the listener of another user needs root\n");
		return;
	}

	/* root's: believed */
	pid = fake_server_as(0, AF_INET, true, "SSH-2.0-OpenSSH_7.4\r\n", &port);
	CHECK_INT(sshd_listener_check("127.0.0.1", port, &owner, &why), 0);
	o.port = port;
	CHECK_INT(sshd_probe(&o, &info, &why), 0);
	CHECK_INT(info.source, SSHD_SOURCE_PROBE);
	CHECK(info.version.major == 7 && info.version.minor == 4);
	CHECK_STR(info.warning, "");
	fake_server_stop(pid);
	/* ... and once it is gone, nothing listens there. */
	CHECK_INT(sshd_listener_check("127.0.0.1", port, &owner, &why), SL_NOT_FOUND);

	/* nobody's on 127.0.0.1, on 0.0.0.0, and on :: (which takes IPv4) */
	for (int i = 0; i < 3; i++) {
		int family = i == 2 ? AF_INET6 : AF_INET;

		pid = fake_server_as(nobody, family, i == 0,
				     "SSH-2.0-OpenSSH_7.4 fake\r\n", &port);
		if (pid < 0)
			continue;
		owner = 0;
		CHECK_INT(sshd_listener_check("127.0.0.1", port, &owner, &why),
			  SL_REFUSED);
		CHECK_INT(owner, nobody);
		o.port = port;
		o.exec.sshd_path = "/nonexistent/sshd";
		memset(&info, 0xa5, sizeof(info));
		CHECK_INT(sshd_probe(&o, &info, &why), SL_NOT_FOUND);
		CHECK_INT(info.source, SSHD_SOURCE_NONE);
		CHECK(!sshd_version_known(&info.version));
		CHECK_STR(info.software, "");
		CHECK_STR(info.address, "");
		CHECK_MSG(strstr(info.warning, "a process of uid 65534") &&
				  strstr(info.warning, "not root, listens on 127.0.0.1 port") &&
				  strstr(info.warning, "its answer is ignored"),
			  "warning: %s", info.warning);
		CHECK_MSG(strncmp(info.probe_error, prefix, strlen(prefix)) == 0 &&
				  strstr(info.probe_error, "uid 65534"),
			  "probe_error: %s", info.probe_error);

		/* With an sshd binary: its -V gives the version, not the
		 * listener's banner. */
		o.exec.sshd_path = NULL;
		if (sshd_probe(&o, &info, &why) == 0) {
			CHECK_INT(info.source, SSHD_SOURCE_BINARY);
			CHECK_MSG(strncmp(info.software, "OpenSSH_", 8) == 0,
				  "software: %s", info.software);
			CHECK(!(info.version.major == 7 && info.version.minor == 4));
			CHECK(strstr(info.warning, "uid 65534") != NULL);
		} else {
			fprintf(stderr, "no sshd installed: the fallback is not checked\n");
		}
		fake_server_stop(pid);
	}
}

int main(void)
{
	TEST(test_kexinit());
	TEST(test_info_json());
	TEST(test_probe_not_sshd());
	TEST(test_probe_not_root());
	return test_done();
}

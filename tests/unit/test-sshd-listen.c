/*
 * sshd-listen: the /proc/net/tcp reader that tells whose socket listens,
 * and which listeners take a connection to an address and port.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "sshd-listen.h"
#include "test.h"

/*
 * Lines as Linux prints them in /proc/net/tcp and /proc/net/tcp6 on a
 * little-endian machine (each 32-bit word of an address is printed as the
 * number it is in memory, so the bytes of 127.0.0.1 read 0100007F), and
 * whether each listener would take a connection to 127.0.0.1:22 or
 * [::1]:22.
 */
static void test_tcp_socket_parse(void)
{
#define TAIL4 " 00000000:00000000 00:00000000 00000000"
#define REST " 0 21335 1 0000000000000000 100 0 0 10 0\n"
#define ANY6 "00000000000000000000000000000000"
	static const struct {
		const char *name, *line;
		bool ok;
		int family;
		const char *address; /* as inet_ntop would write it */
		unsigned port, state;
		unsigned long uid;
		bool serves4, serves6; /* 127.0.0.1:22, [::1]:22 */
	} cases[] = {
		{ "loopback, root", "   0: 0100007F:0016 00000000:0000 0A" TAIL4 "     0" REST,
		  true, AF_INET, "127.0.0.1", 22, 0x0A, 0, true, false },
		{ "IPv4 wildcard, nobody", "   1: 00000000:0016 00000000:0000 0A" TAIL4 " 65534" REST,
		  true, AF_INET, "0.0.0.0", 22, 0x0A, 65534, true, false },
		{ "wrong port", "   2: 00000000:08AE 00000000:0000 0A" TAIL4 "  1000" REST,
		  true, AF_INET, "0.0.0.0", 2222, 0x0A, 1000, false, false },
		{ "wrong state (established)", "   3: 0100007F:0016 0100007F:C350 01" TAIL4 "  1000" REST,
		  true, AF_INET, "127.0.0.1", 22, 0x01, 1000, false, false },
		{ "another address", "   4: 0500000A:0016 00000000:0000 0A" TAIL4 "  1000" REST,
		  true, AF_INET, "10.0.0.5", 22, 0x0A, 1000, false, false },
		{ "127.0.0.2", "   5: 0200007F:0016 00000000:0000 0A" TAIL4 "  1000" REST,
		  true, AF_INET, "127.0.0.2", 22, 0x0A, 1000, false, false },
		{ "no newline, lower-case hex", "   6: 0100007f:0016 00000000:0000 0a" TAIL4 " 7",
		  true, AF_INET, "127.0.0.1", 22, 0x0A, 7, true, false },
		{ "IPv6 wildcard (takes IPv4 too)", "   0: " ANY6 ":0016 " ANY6 ":0000 0A" TAIL4 "  1000" REST,
		  true, AF_INET6, "::", 22, 0x0A, 1000, true, true },
		{ "IPv6 loopback", "   1: 00000000000000000000000001000000:0016 " ANY6 ":0000 0A" TAIL4 "     0" REST,
		  true, AF_INET6, "::1", 22, 0x0A, 0, false, true },
		{ "IPv6 loopback, wrong port", "   2: 00000000000000000000000001000000:0017 " ANY6 ":0000 0A" TAIL4 "     0" REST,
		  true, AF_INET6, "::1", 23, 0x0A, 0, false, false },
		{ "IPv4-mapped loopback", "   3: 0000000000000000FFFF00000100007F:0016 " ANY6 ":0000 0A" TAIL4 "  1000" REST,
		  true, AF_INET6, "::ffff:127.0.0.1", 22, 0x0A, 1000, true, false },
		{ "IPv4-mapped wildcard", "   4: 0000000000000000FFFF000000000000:0016 " ANY6 ":0000 0A" TAIL4 "  1000" REST,
		  true, AF_INET6, "::ffff:0.0.0.0", 22, 0x0A, 1000, true, false },
		{ "IPv4-mapped other", "   5: 0000000000000000FFFF00000500000A:0016 " ANY6 ":0000 0A" TAIL4 "  1000" REST,
		  true, AF_INET6, "::ffff:10.0.0.5", 22, 0x0A, 1000, false, false },
		{ "IPv6 other address", "   6: B80D0120000000000000000001000000:0016 " ANY6 ":0000 0A" TAIL4 "  1000" REST,
		  true, AF_INET6, "2001:db8::1", 22, 0x0A, 1000, false, false },
		{ "IPv6 time-wait", "   7: 00000000000000000000000001000000:0016 00000000000000000000000001000000:C350 06" TAIL4 "     0" REST,
		  true, AF_INET6, "::1", 22, 0x06, 0, false, false },
		/* refused */
		{ .name = "heading", .line = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" },
		{ .name = "empty", .line = "" },
		{ .name = "no uid", .line = "   0: 0100007F:0016 00000000:0000 0A" TAIL4 "\n" },
		{ .name = "slot without colon", .line = "   0 0100007F:0016 00000000:0000 0A" TAIL4 " 0" REST },
		{ .name = "slot not a number", .line = "   x: 0100007F:0016 00000000:0000 0A" TAIL4 " 0" REST },
		{ .name = "short address", .line = "   0: 100007F:0016 00000000:0000 0A" TAIL4 " 0" REST },
		{ .name = "not hex", .line = "   0: 0100007G:0016 00000000:0000 0A" TAIL4 " 0" REST },
		{ .name = "no port colon", .line = "   0: 0100007F-0016 00000000:0000 0A" TAIL4 " 0" REST },
		{ .name = "five-digit port", .line = "   0: 0100007F:00016 00000000:0000 0A" TAIL4 " 0" REST },
		{ .name = "families differ", .line = "   0: 0100007F:0016 " ANY6 ":0000 0A" TAIL4 " 0" REST },
		{ .name = "state of three digits", .line = "   0: 0100007F:0016 00000000:0000 00A" TAIL4 " 0" REST },
		{ .name = "uid not decimal", .line = "   0: 0100007F:0016 00000000:0000 0A" TAIL4 " 0x1" REST },
		{ .name = "negative uid", .line = "   0: 0100007F:0016 00000000:0000 0A" TAIL4 " -1" REST },
		{ .name = "uid too big", .line = "   0: 0100007F:0016 00000000:0000 0A" TAIL4 " 4294967296" REST },
		{ .name = "uid of eleven digits", .line = "   0: 0100007F:0016 00000000:0000 0A" TAIL4 " 00000000000" REST },
		{ .name = "tab separated", .line = "   0:\t0100007F:0016 00000000:0000 0A" TAIL4 " 0" REST },
	};
	unsigned char loopback4[4], loopback6[16];

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	fprintf(stderr, "skipped: the /proc/net/tcp lines are those of a little-endian machine\n");
	return;
#endif
	inet_pton(AF_INET, "127.0.0.1", loopback4);
	inet_pton(AF_INET6, "::1", loopback6);
	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		struct sshd_tcp_socket sock;
		char text[INET6_ADDRSTRLEN];
		const char *why = NULL;
		int r = sshd_tcp_socket_parse(cases[i].line, &sock, &why);

		if (!cases[i].ok) {
			CHECK_MSG(r == SL_REFUSED && why, "%s: not refused", cases[i].name);
			continue;
		}
		CHECK_MSG(r == 0, "%s: refused (%s)", cases[i].name, why ? why : "?");
		if (r != 0)
			continue;
		CHECK_MSG(sock.family == cases[i].family, "%s: family", cases[i].name);
		inet_ntop(sock.family, sock.address, text, sizeof(text));
		CHECK_MSG(strcmp(text, cases[i].address) == 0, "%s: address %s",
			  cases[i].name, text);
		CHECK_MSG(sock.port == cases[i].port, "%s: port %u", cases[i].name, sock.port);
		CHECK_MSG(sock.state == cases[i].state, "%s: state %x", cases[i].name,
			  sock.state);
		CHECK_MSG(sock.uid == cases[i].uid, "%s: uid %lu", cases[i].name, sock.uid);
		CHECK_MSG(sshd_tcp_socket_serves(&sock, AF_INET, loopback4, 22) ==
				  cases[i].serves4,
			  "%s: serves 127.0.0.1:22 should be %d", cases[i].name,
			  cases[i].serves4);
		CHECK_MSG(sshd_tcp_socket_serves(&sock, AF_INET6, loopback6, 22) ==
				  cases[i].serves6,
			  "%s: serves [::1]:22 should be %d", cases[i].name,
			  cases[i].serves6);
	}
#undef TAIL4
#undef REST
#undef ANY6
}

int main(void)
{
	TEST(test_tcp_socket_parse());
	return test_done();
}

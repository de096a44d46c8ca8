/*
 * sshd's log lines read into events: lines OpenSSH 9.2 printed (in an -E
 * file, CR LF and all; in syslog files; as journal messages), the lines
 * that are no event, and lines crafted to look like another one.
 */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "common.h"
#include "sshd-log.h"
#include "test.h"

#define FP1 "SHA256:AjZNcAuAtxSwbLVyMZoIrorlsQp7rk6Hy6xghjF1/mc"
#define FP2 "SHA256:XF+5fKhkf5tRO2mfYxRj7dM3mVl079u9165e7KDBYv4"

struct expect {
	const char *name;
	const char *line;
	int r; /* 0, SL_NOT_FOUND or SL_REFUSED */
	enum sshd_log_kind kind;
	const char *user;
	const char *address; /* as printed */
	unsigned port;
	int pid;
	const char *key_type;    /* ACCEPTED */
	const char *fingerprint; /* ACCEPTED */
	enum sshd_log_session session; /* SESSION */
	unsigned session_id;
	int tty;
	const char *detail;
	const char *end; /* DISCONNECTED */
};

/* One row of a table: designated, so that a row names only what it
 * checks. */
#define ACCEPTED(n, l, u, a, p, pi, t, f)                                      \
	{ .name = (n), .line = (l), .kind = SSHD_LOG_ACCEPTED, .user = (u),    \
	  .address = (a), .port = (p), .pid = (pi), .key_type = (t),           \
	  .fingerprint = (f) }
#define ENDED(n, l, u, a, p, pi, e)                                            \
	{ .name = (n), .line = (l), .kind = SSHD_LOG_DISCONNECTED, .user = (u),\
	  .address = (a), .port = (p), .pid = (pi), .end = (e) }
#define SESSION(n, l, u, a, p, s, id, t, d)                                    \
	{ .name = (n), .line = (l), .kind = SSHD_LOG_SESSION, .user = (u),     \
	  .address = (a), .port = (p), .session = (s), .session_id = (id),     \
	  .tty = (t), .detail = (d) }
#define NOT_EVENT(n, l) { .name = (n), .line = (l), .r = SL_NOT_FOUND }
#define REFUSED(n, l) { .name = (n), .line = (l), .r = SL_REFUSED }

static void check_one(const struct expect *c)
{
	struct sshd_log_event ev;
	const char *why = NULL;
	unsigned char bytes[16] = { 0 };
	int r;

	memset(&ev, 0x5a, sizeof(ev));
	r = sshd_log_parse(c->line, strlen(c->line), &ev, &why);
	CHECK_MSG(r == c->r, "%s: r = %d, expected %d (%s)", c->name, r, c->r,
		  why ? why : "");
	if (r == SL_REFUSED)
		CHECK_MSG(why && *why, "%s: refused without a reason", c->name);
	if (r != 0 || c->r != 0)
		return;
	CHECK_MSG(ev.kind == c->kind, "%s: kind %s", c->name,
		  sshd_log_kind_name(ev.kind));
	CHECK_STR(ev.user, c->user);
	CHECK_STR(ev.address_text, c->address);
	CHECK_INT(ev.port, c->port);
	CHECK_INT(ev.pid, c->pid);
	if (strchr(c->address, ':')) {
		char text[64];

		strcpy(text, c->address);
		if (strchr(text, '%'))
			*strchr(text, '%') = '\0';
		CHECK_INT(ev.family, AF_INET6);
		CHECK(inet_pton(AF_INET6, text, bytes) == 1);
	} else {
		CHECK_INT(ev.family, AF_INET);
		CHECK(inet_pton(AF_INET, c->address, bytes) == 1);
	}
	CHECK_MSG(memcmp(ev.address, bytes, 16) == 0, "%s: address bytes", c->name);
	switch (c->kind) {
	case SSHD_LOG_ACCEPTED:
		CHECK_STR(ev.key_type, c->key_type);
		CHECK_STR(ev.fingerprint, c->fingerprint);
		break;
	case SSHD_LOG_SESSION:
		CHECK_MSG(ev.session == c->session, "%s: session %s", c->name,
			  sshd_log_session_name(ev.session));
		CHECK_INT(ev.session_id, c->session_id);
		CHECK_INT(ev.tty, c->tty);
		CHECK_STR(ev.detail, c->detail ? c->detail : "");
		break;
	case SSHD_LOG_DISCONNECTED:
		CHECK_STR(ev.end, c->end);
		break;
	}
}

static void test_real_lines(void)
{
	static const struct expect cases[] = {
		/* sshd -E FILE, OpenSSH 9.2p1 Debian, UsePAM yes and no alike */
		ACCEPTED("accepted ipv4 (-E, CR LF)",
		  "Accepted publickey for slexp24625 from 127.0.0.1 port 37282 ssh2: ED25519 " FP1 "\r\n",
		  "slexp24625", "127.0.0.1", 37282, 0, "ED25519", FP1),
		ACCEPTED("accepted ipv6 rsa",
		  "Accepted publickey for slexp24625 from ::1 port 33348 ssh2: RSA " FP2 "\r",
		  "slexp24625", "::1", 33348, 0, "RSA", FP2),
		ACCEPTED("accepted, journal message",
		  "Accepted publickey for www-data from 2001:db8::7 port 1 ssh2: ECDSA " FP1,
		  "www-data", "2001:db8::7", 1, 0, "ECDSA", FP1),
		ACCEPTED("accepted, link-local with zone",
		  "Accepted publickey for shop from fe80::1%eth0 port 65535 ssh2: ED25519-SK " FP1,
		  "shop", "fe80::1%eth0", 65535, 0, "ED25519-SK", FP1),
		ACCEPTED("accepted, traditional syslog",
		  "Dec  3 08:39:00 shop sshd[1234]: Accepted publickey for support from 203.0.113.7 port 50022 ssh2: ED25519 " FP1,
		  "support", "203.0.113.7", 50022, 1234, "ED25519", FP1),
		ACCEPTED("accepted, rsyslog RFC 3339",
		  "2024-12-03T08:39:00.123456+01:00 shop.example sshd[77]: Accepted publickey for support from 203.0.113.7 port 50022 ssh2: ED25519 " FP1 "\n",
		  "support", "203.0.113.7", 50022, 77, "ED25519", FP1),
		ACCEPTED("accepted, short-iso, sshd-session",
		  "2024-12-03T08:39:00+0000 h sshd-session[9]: Accepted publickey for u from 192.0.2.1 port 2 ssh2: RSA " FP2,
		  "u", "192.0.2.1", 2, 9, "RSA", FP2),
		ACCEPTED("accepted, UTC Z",
		  "2024-12-13T23:59:59Z h sshd[9]: Accepted publickey for u from 192.0.2.1 port 2 ssh2: RSA " FP2,
		  "u", "192.0.2.1", 2, 9, "RSA", FP2),
		ENDED("disconnected",
		  "Disconnected from user slexp24625 127.0.0.1 port 37282\r\n",
		  "slexp24625", "127.0.0.1", 37282, 0, "disconnected"),
		ENDED("disconnected ipv6",
		  "Disconnected from user slexp24625 ::1 port 33348\r",
		  "slexp24625", "::1", 33348, 0, "disconnected"),
		ENDED("connection closed by user",
		  "Dec 13 08:39:00 h sshd[5]: Connection closed by user shop 192.0.2.1 port 4",
		  "shop", "192.0.2.1", 4, 5, "closed"),
		ENDED("connection reset by user",
		  "Connection reset by user shop 192.0.2.1 port 4",
		  "shop", "192.0.2.1", 4, 0, "reset"),
		ENDED("timeout",
		  "Timeout, client not responding from user shop 192.0.2.1 port 4",
		  "shop", "192.0.2.1", 4, 0, "timeout"),
		/* LogLevel VERBOSE */
		SESSION("session command",
		  "Starting session: command for slexp2372 from 127.0.0.1 port 50624 id 0\r\n",
		  "slexp2372", "127.0.0.1", 50624, SSHD_SESSION_COMMAND, 0, 0, ""),
		SESSION("session shell on a tty",
		  "Starting session: shell on pts/0 for slexp2372 from 127.0.0.1 port 50640 id 0\r\n",
		  "slexp2372", "127.0.0.1", 50640, SSHD_SESSION_SHELL, 0, 1, ""),
		SESSION("session sftp",
		  "Starting session: subsystem 'sftp' for slexp2372 from 127.0.0.1 port 50644 id 0\r\n",
		  "slexp2372", "127.0.0.1", 50644, SSHD_SESSION_SUBSYSTEM, 0, 0, "sftp"),
		SESSION("session multiplexed, id 3",
		  "Starting session: command on pts/12 for u from ::1 port 9 id 3",
		  "u", "::1", 9, SSHD_SESSION_COMMAND, 3, 1, ""),
		SESSION("session forced internal-sftp",
		  "Starting session: forced-command (config) 'internal-sftp' for www-data from 192.0.2.1 port 7 id 0",
		  "www-data", "192.0.2.1", 7, SSHD_SESSION_FORCED, 0, 0, "internal-sftp"),
		SESSION("session forced command quoting a quote, on a tty",
		  "Starting session: forced-command (key-option) 'echo 'on pts/1' for x' on pts/1 for u from 192.0.2.1 port 7 id 1",
		  "u", "192.0.2.1", 7, SSHD_SESSION_FORCED, 1, 1, "echo 'on pts/1' for x"),
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++)
		check_one(&cases[i]);
}

/* Lines that are no event, and lines that look like one but are refused. */
static void test_not_events(void)
{
	static const struct expect cases[] = {
		/* real lines of sshd 9.2 that are no event */
		NOT_EVENT("listening", "Server listening on 127.0.0.1 port 39097.\r\n"),
		NOT_EVENT("received disconnect",
		  "Received disconnect from 127.0.0.1 port 37282:11: disconnected by user\r\n"),
		NOT_EVENT("invalid user", "Invalid user nosuchuser from 127.0.0.1 port 34224\r\n"),
		NOT_EVENT("closed by invalid user, preauth",
		  "Connection closed by invalid user nosuchuser 127.0.0.1 port 34224 [preauth]\r\n"),
		NOT_EVENT("closed by authenticating user, preauth",
		  "Connection closed by authenticating user slexp24625 127.0.0.1 port 34248 [preauth]\r\n"),
		NOT_EVENT("verbose closed by address",
		  "Connection closed by 127.0.0.1 port 50660\r\n"),
		NOT_EVENT("signal", "Received signal 15; terminating.\r\n"),
		NOT_EVENT("logout error", "syslogin_perform_logout: logout() returned an error\r\n"),
		NOT_EVENT("accepted key (verbose)",
		  "Accepted key ED25519 " FP1 " found at /home/u/.ssh/authorized_keys:1"),
		NOT_EVENT("postponed", "Postponed publickey for u from 127.0.0.1 port 50624 ssh2 [preauth]"),
		NOT_EVENT("failed publickey",
		  "Failed publickey for u from 192.0.2.1 port 1 ssh2: ED25519 " FP1),
		NOT_EVENT("failed publickey, invalid user",
		  "Failed publickey for invalid user x from 192.0.2.1 port 1 ssh2: ED25519 " FP1),
		NOT_EVENT("accepted password", "Accepted password for u from 192.0.2.1 port 1 ssh2"),
		NOT_EVENT("partial publickey",
		  "Partial publickey for u from 192.0.2.1 port 1 ssh2: ED25519 " FP1),
		NOT_EVENT("accepted certificate",
		  "Accepted publickey for u from 192.0.2.1 port 1 ssh2: ED25519-CERT " FP1
		  " ID x (serial 1) CA ED25519 " FP2),
		NOT_EVENT("pam session", "pam_unix(sshd:session): session closed for user u"),
		NOT_EVENT("another program in auth.log",
		  "Dec  3 08:39:00 shop sudo[5]: Accepted publickey for u from 192.0.2.1 port 1 ssh2: ED25519 " FP1),
		NOT_EVENT("a tag that only starts with sshd",
		  "Dec  3 08:39:00 shop sshdx[5]: Accepted publickey for u from 192.0.2.1 port 1 ssh2: ED25519 " FP1),
		NOT_EVENT("leading blank",
		  " Accepted publickey for u from 192.0.2.1 port 1 ssh2: ED25519 " FP1),
		NOT_EVENT("pid 0", "Dec  3 08:39:00 h sshd[0]: Disconnected from user u 192.0.2.1 port 1"),
		NOT_EVENT("no host", "Dec  3 08:39:00 sshd[4]: Disconnected from user u 192.0.2.1 port 1"),
		NOT_EVENT("bad month", "Dez  3 08:39:00 h sshd[4]: Disconnected from user u 192.0.2.1 port 1"),
		NOT_EVENT("empty", ""),
		NOT_EVENT("lower case", "accepted publickey for u from 192.0.2.1 port 1 ssh2: ED25519 " FP1),
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++)
		check_one(&cases[i]);
}

/* sshd quotes nothing: names and text from the client must not move the
 * fields, and what does not parse strictly is refused, never guessed. */
static void test_refused(void)
{
	static const struct expect cases[] = {
		REFUSED("user crafted as another address",
		  "Accepted publickey for x from 1.2.3.4 port 1 from 127.0.0.1 port 5000 ssh2: ED25519 " FP1),
		REFUSED("user crafted with a whole tail",
		  "Accepted publickey for a from 1.2.3.4 port 1 ssh2: ED25519 " FP1
		  " from 127.0.0.1 port 5 ssh2: ED25519 " FP2),
		REFUSED("invalid user accepted",
		  "Accepted publickey for invalid user x from 192.0.2.1 port 1 ssh2: ED25519 " FP1),
		REFUSED("upper-case user (not an account name)",
		  "Accepted publickey for Root from 192.0.2.1 port 1 ssh2: ED25519 " FP1),
		REFUSED("user of 33 characters",
		  "Accepted publickey for abcdefghijabcdefghijabcdefghijabc from 192.0.2.1 port 1 ssh2: ED25519 " FP1),
		REFUSED("empty user", "Accepted publickey for  from 192.0.2.1 port 1 ssh2: ED25519 " FP1),
		REFUSED("host name for address",
		  "Accepted publickey for u from shop.example port 1 ssh2: ED25519 " FP1),
		REFUSED("ipv4 with zone", "Accepted publickey for u from 192.0.2.1%eth0 port 1 ssh2: ED25519 " FP1),
		REFUSED("bad zone", "Accepted publickey for u from fe80::1%e/0 port 1 ssh2: ED25519 " FP1),
		REFUSED("port 0", "Accepted publickey for u from 192.0.2.1 port 0 ssh2: ED25519 " FP1),
		REFUSED("port 65536", "Accepted publickey for u from 192.0.2.1 port 65536 ssh2: ED25519 " FP1),
		REFUSED("port with leading zero", "Accepted publickey for u from 192.0.2.1 port 022 ssh2: ED25519 " FP1),
		REFUSED("negative port", "Accepted publickey for u from 192.0.2.1 port -1 ssh2: ED25519 " FP1),
		REFUSED("no ssh2", "Accepted publickey for u from 192.0.2.1 port 1: ED25519 " FP1),
		REFUSED("unknown key type", "Accepted publickey for u from 192.0.2.1 port 1 ssh2: XMSS " FP1),
		REFUSED("md5 fingerprint",
		  "Accepted publickey for u from 192.0.2.1 port 1 ssh2: ED25519 MD5:3b:0c:5e:aa:1f:00:11:22:33:44:55:66:77:88:99:aa"),
		REFUSED("fingerprint too short",
		  "Accepted publickey for u from 192.0.2.1 port 1 ssh2: ED25519 SHA256:AjZNcAuAtxSwbLVyMZoIrorlsQp7rk6Hy6xghjF1/m"),
		REFUSED("fingerprint with padding bits",
		  "Accepted publickey for u from 192.0.2.1 port 1 ssh2: ED25519 SHA256:AjZNcAuAtxSwbLVyMZoIrorlsQp7rk6Hy6xghjF1/md"),
		REFUSED("trailing junk", "Accepted publickey for u from 192.0.2.1 port 1 ssh2: ED25519 " FP1 " x"),
		REFUSED("trailing blank", "Accepted publickey for u from 192.0.2.1 port 1 ssh2: ED25519 " FP1 " "),
		REFUSED("two CRs", "Accepted publickey for u from 192.0.2.1 port 1 ssh2: ED25519 " FP1 "\r\r"),
		REFUSED("escape in line", "Accepted publickey for u\x1b from 192.0.2.1 port 1 ssh2: ED25519 " FP1),
		REFUSED("truncated", "Accepted publickey for u from 192.0.2.1 port 1 ssh2: ED25519"),
		REFUSED("end: user crafted as another address",
		  "Disconnected from user x 1.2.3.4 port 1 127.0.0.1 port 5"),
		REFUSED("end: no user", "Disconnected from user 127.0.0.1 port 5"),
		REFUSED("end: preauth suffix", "Disconnected from user u 127.0.0.1 port 5 [preauth]"),
		REFUSED("session: user crafted",
		  "Starting session: command for x from 1.2.3.4 port 1 for u from 127.0.0.1 port 5 id 0"),
		REFUSED("session: unknown kind", "Starting session: tunnel for u from 127.0.0.1 port 5 id 0"),
		REFUSED("session: no id", "Starting session: shell for u from 127.0.0.1 port 5"),
		REFUSED("session: unquoted subsystem", "Starting session: subsystem sftp for u from 127.0.0.1 port 5 id 0"),
		REFUSED("session: subsystem with a quote",
		  "Starting session: subsystem 'sf'tp' for u from 127.0.0.1 port 5 id 0"),
		REFUSED("syslog line refused like the message",
		  "Dec  3 08:39:00 h sshd[4]: Accepted publickey for x y from 192.0.2.1 port 1 ssh2: ED25519 " FP1),
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++)
		check_one(&cases[i]);
}

/* len counts, not the NUL: a line cut by its length is parsed as cut. */
static void test_length(void)
{
	static const char line[] =
		"Disconnected from user u 192.0.2.1 port 1234 and more";
	struct sshd_log_event ev;
	const char *why = NULL;
	static const char nul[] = "Disconnected from user u 192.0.2.1 port 12\0" "34";

	CHECK_INT(sshd_log_parse(line, strlen("Disconnected from user u 192.0.2.1 port 1234"),
				 &ev, &why), 0);
	CHECK_INT(ev.port, 1234);
	CHECK_INT(sshd_log_parse(line, strlen(line), &ev, &why), SL_REFUSED);
	CHECK_INT(sshd_log_parse(nul, sizeof(nul) - 1, &ev, &why), SL_REFUSED);
}

int main(void)
{
	TEST(test_real_lines());
	TEST(test_not_events());
	TEST(test_refused());
	TEST(test_length());
	return test_done();
}

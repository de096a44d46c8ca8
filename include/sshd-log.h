/*
 * sshd's log lines that say who logged in with which key and when a
 * connection ended (DESIGN.md §13): one line of text in, one event out.
 * Pure: no I/O, no allocation.
 *
 * What OpenSSH 9.2 prints, and at which LogLevel:
 *   INFO     Accepted publickey for U from ADDR port N ssh2: TYPE SHA256:FP
 *            Disconnected from user U ADDR port N    (the client said bye)
 *   VERBOSE  Starting session: KIND for U from ADDR port N id C
 * At INFO nothing is logged when the client's TCP connection just drops
 * or when the connection's monitor is killed (SIGTERM): a log line is a
 * hint that a connection ended, never the only sign (the monitor's exit
 * is; see sshd-conn.h).
 *
 * sshd quotes nothing it prints: a user name is the one the client sent
 * (for "Accepted") or the account's (for the end lines), an address is
 * numeric. So every line is read from its fixed end backwards, and what is
 * left for the user name must be a valid account name (username_valid):
 * a user "x from 192.0.2.1 port 1" is refused, never read as that address.
 *
 * Forms of a line, all accepted:
 *   the message alone          journal MESSAGE, `sshd -E FILE` (which ends
 *                              lines with CR LF: one CR before the end is
 *                              dropped), `sshd -e`
 *   a syslog file line         "Mmm dd hh:mm:ss HOST TAG[PID]: MESSAGE" or
 *                              "YYYY-MM-DDThh:mm:ss[.f](Z|+hh:mm) HOST
 *                              TAG[PID]: MESSAGE" (rsyslog's two formats,
 *                              journalctl -o short/short-iso), where TAG is
 *                              "sshd" or "sshd-session" (OpenSSH >= 9.8)
 * A syslog line's TAG and PID are what the sender claimed: any local user
 * can write "sshd[1]: Accepted ..." with logger(1). Only the journal's
 * _PID (and an -E file that only root writes) can be trusted.
 */
#ifndef SSHLEASE_SSHD_LOG_H
#define SSHLEASE_SSHD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common.h"

/* A bound for a follower of sshd's log (log-follow.h): sshd's messages are
 * at most 1024 bytes, a syslog prefix adds a host name. */
#define SSHD_LOG_LINE_MAX 4096
/* An address as sshd prints it: IPv6 text, '%', an interface name, NUL. */
#define SSHD_LOG_ADDRESS_SIZE 64
/* "SHA256:" + 43 unpadded base64 characters + NUL. */
#define SSHD_LOG_FINGERPRINT_SIZE 51

enum sshd_log_kind {
	SSHD_LOG_ACCEPTED,     /* a login with a key (INFO) */
	SSHD_LOG_SESSION,      /* a session channel started (VERBOSE) */
	SSHD_LOG_DISCONNECTED, /* the connection ended (INFO; not always) */
};

/* What a SSHD_LOG_SESSION runs. */
enum sshd_log_session {
	SSHD_SESSION_SHELL,     /* "shell" */
	SSHD_SESSION_COMMAND,   /* "command" */
	SSHD_SESSION_SUBSYSTEM, /* "subsystem 'sftp'": detail is the name */
	SSHD_SESSION_FORCED,    /* "forced-command (config|key-option) 'CMD'":
				   detail is CMD */
};

struct sshd_log_event {
	enum sshd_log_kind kind;
	char user[33];           /* username_valid */
	int family;              /* AF_INET or AF_INET6 */
	unsigned char address[16]; /* network byte order; AF_INET: 4 bytes */
	char address_text[SSHD_LOG_ADDRESS_SIZE]; /* as printed, "%zone"
						    included */
	unsigned port;           /* the client's port, 1..65535 */
	pid_t pid;               /* a syslog line's "sshd[PID]" (claimed, see
				    above); 0 when the line has none */
	/* SSHD_LOG_ACCEPTED */
	char key_type[16];       /* "ED25519", "RSA", "ECDSA", "ED25519-SK",
				    "ECDSA-SK", "DSA" */
	char fingerprint[SSHD_LOG_FINGERPRINT_SIZE]; /* as key.h's */
	/* SSHD_LOG_SESSION */
	enum sshd_log_session session;
	unsigned session_id;     /* sshd's "id C": one per channel, so a
				    ControlMaster's sessions differ */
	bool tty;                /* "... on pts/N" */
	char detail[128];        /* subsystem name or forced command, "" for
				    the others; cut to fit (printable ASCII,
				    may contain anything sshd printed) */
	/* SSHD_LOG_DISCONNECTED */
	const char *end;         /* static: "disconnected" (the client said
				    bye), "closed", "reset", "timeout" */
};

/*
 * Parse one line of len bytes (need not be NUL-terminated; a final "\n"
 * and then one "\r" are dropped). Returns:
 *   0             *out holds the event;
 *   SL_NOT_FOUND  the line is none of these events: another message
 *                 ("Received disconnect ...", "Failed publickey ...",
 *                 the "[preauth]" lines, another login method, a login with
 *                 a certificate), another program's syslog line, a line in
 *                 no form above;
 *   SL_REFUSED    it starts as one of these events but does not parse
 *                 strictly; *why says what was wrong. The caller should
 *                 say so: sshd's wording changed, or a line was forged.
 *                 Refused: a user name that is not username_valid, an
 *                 address inet_pton does not read, a port outside
 *                 1..65535 or with leading zeros, a key type not listed
 *                 above, a fingerprint that is not SHA256 (sshd's
 *                 FingerprintHash must be sha256), bytes outside printable
 *                 ASCII, anything after the last field.
 * *out is written only on success.
 */
int sshd_log_parse(const char *line, size_t len, struct sshd_log_event *out,
		   const char **why);

/* "accepted", "session", "disconnected". */
const char *sshd_log_kind_name(enum sshd_log_kind kind);

/* "shell", "command", "subsystem", "forced-command". */
const char *sshd_log_session_name(enum sshd_log_session session);

#endif

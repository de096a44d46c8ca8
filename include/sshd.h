/*
 * The local OpenSSH server as sshlease needs to know it: the version that
 * answers (so expiry-time is written in a form it reads, DESIGN.md §4), its
 * host key fingerprints (for the block the merchant pastes into the ticket),
 * and its effective settings from `sshd -T` (for doctor).
 *
 * Nothing here changes the system: sshd is only connected to (no login is
 * tried) and only run with -T or -V. Every external program is run without a
 * shell, with a clean environment and a bounded time (proc_run), so
 * callers must not reap children they did not start (no SIGCHLD = SIG_IGN).
 */
#ifndef SSHLEASE_SSHD_H
#define SSHLEASE_SSHD_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "authkeys.h"
#include "common.h"
#include "config.h"
#include "proc.h"

/* Where sshd lives on Debian; otherwise the first sshd found in PATH. */
#define SSHD_PATH_DEFAULT "/usr/sbin/sshd"
/* Seconds allowed per probe connection and per run of sshd. */
#define SSHD_TIMEOUT_DEFAULT 5
/* Most host keys reported (one per type OpenSSH serves, with room). */
#define SSHD_HOST_KEYS_MAX 8

/* ---- versions and the expiry-time form ---- */

/* An OpenSSH release; 0.0 means unknown. */
struct sshd_version {
	unsigned major;
	unsigned minor;
};

static inline bool sshd_version_known(const struct sshd_version *v)
{
	return v->major != 0;
}

/* v is known and at least major.minor. */
static inline bool sshd_version_at_least(const struct sshd_version *v,
					 unsigned major, unsigned minor)
{
	return sshd_version_known(v) &&
	       (v->major > major || (v->major == major && v->minor >= minor));
}

/*
 * Parse a server banner as libssh hands it over (no CR LF):
 * "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3" gives 9.2. The protocol part is
 * "SSH-2.0-" or "SSH-1.99-"; the software is "OpenSSH_" MAJOR "." MINOR
 * (1-3 digits each) followed by the end, a blank, or any character that is
 * not a digit or '.' ("p1", "-hpn", ","). Refused (SL_REFUSED with *why):
 * bytes outside printable ASCII, another protocol, another server
 * ("dropbear_2022.83"), a malformed or out-of-range number, "9.2.1".
 * *out is set to 0.0 on refusal.
 */
int sshd_banner_parse(const char *banner, struct sshd_version *out,
		      const char **why);

/*
 * The same for what `sshd -V` prints: the first line of text that starts
 * with "OpenSSH_", e.g. "OpenSSH_9.2, OpenSSL 3.0.11 19 Sep 2023" (9.2), or,
 * from an sshd that has no -V, its usage text ("unknown option -- V" first;
 * the version line follows). SL_REFUSED when no line gives a version.
 */
int sshd_version_output_parse(const char *text, struct sshd_version *out,
			      const char **why);

/*
 * Choose the expiry-time form for sshd at version and the config's
 * [sshd] expiry_format (DESIGN.md §4):
 *   none            always AUTHKEYS_EXPIRY_NONE (the daemon alone enforces);
 *   auto            UTC on >= 9.1, LOCAL on 7.7-9.0; refused below 7.7 and
 *                   when the version is unknown;
 *   utc             UTC; refused on a known version below 9.1 (7.7-9.0 read
 *                   the "Z" as a syntax error and drop the whole line);
 *   local           LOCAL; refused on a known version below 7.7. Accepted on
 *                   >= 9.1, which still reads the form without "Z" as local
 *                   time. Correct only while sshd and the daemon share a
 *                   time zone.
 * An explicit utc or local with an unknown version is the admin's word and
 * is accepted. Returns 0 with *out, or SL_REFUSED with *why (a sentence that
 * names the setting to change; the caller adds the version it knows).
 */
int sshd_expiry_for(const struct sshd_version *version,
		    enum config_expiry_format format, enum authkeys_expiry *out,
		    const char **why);

/* "utc", "local" or "none": how doctor and the grant block name the form. */
const char *sshd_expiry_name(enum authkeys_expiry expiry);

/* ---- sshd -T ---- */

/* How to run sshd for -T and -V. All members may be 0/NULL. */
struct sshd_exec_options {
	const char *sshd_path;   /* absolute; NULL: SSHD_PATH_DEFAULT when it
				    is executable, else "sshd" in PATH */
	const char *config_path; /* NULL: sshd's own default; else -f PATH */
	unsigned timeout;        /* seconds; 0: SSHD_TIMEOUT_DEFAULT */
};

/*
 * The sshd binary to run: given (must be absolute, a regular executable
 * file), else SSHD_PATH_DEFAULT, else the first "sshd" in the absolute
 * directories of $PATH. Returns 0 with the path in buf, SL_NOT_FOUND with
 * *why, or SL_REFUSED when given is not absolute or the path is too long.
 */
int sshd_find_binary(const char *given, char *buf, size_t size,
		     const char **why);

/* One "keyword value" line of `sshd -T`; keywords are lower case. */
struct sshd_setting {
	char *key;
	char *value; /* the rest of the line after one space; "" when none */
};

/* The effective settings, in sshd's order; a keyword may repeat
 * (allowusers, subsystem, hostkey, listenaddress, port ...). */
struct sshd_settings {
	struct sshd_setting *items;
	size_t n;
};

/*
 * Parse len bytes of `sshd -T` output. Each line is KEYWORD [SP VALUE] "\n"
 * (the last newline may be missing); KEYWORD is [a-z0-9]+; VALUE is
 * printable ASCII. Refused (SL_REFUSED with *why), never guessed: an empty
 * or blank line, an upper-case or other keyword character, a byte outside
 * printable ASCII (NUL, CR, tab, escapes), more than PROC_OUTPUT_MAX bytes,
 * empty input. Returns 0 with a new *out (sshd_settings_free), or -ENOMEM.
 */
int sshd_settings_parse(const char *text, size_t len,
			struct sshd_settings **out, const char **why);

void sshd_settings_free(struct sshd_settings *settings);

/* The first value of key, or NULL when sshd printed no such line. */
const char *sshd_settings_get(const struct sshd_settings *settings,
			      const char *key);

/*
 * Iterate over every value of key: start with *pos = 0; each call returns
 * the next value and advances *pos, NULL at the end.
 */
const char *sshd_settings_next(const struct sshd_settings *settings,
			       const char *key, size_t *pos);

/* The connection `sshd -T -C` evaluates Match blocks for. NULL members are
 * left out of the spec; lport 0 is left out. */
struct sshd_match_spec {
	const char *user;
	const char *host;  /* the client's host name as sshd would see it */
	const char *addr;  /* the client's address */
	const char *laddr; /* the local address connected to */
	unsigned lport;    /* the local port connected to */
};

/*
 * Run `sshd -T [-f config] [-C spec]` (as root: sshd -T loads the host keys)
 * and parse its output. Returns 0 with *out; SL_REFUSED with *why when a
 * spec value contains ',', '=', a blank or a control character, when sshd
 * exits non-zero or is killed by a signal (sshd's first line of stderr,
 * sanitised, goes to diag when diag is not NULL: "line 12: Bad configuration
 * option: Foo"), or when its output does not parse; SL_NOT_FOUND when there
 * is no sshd binary; -ETIMEDOUT; -errno.
 */
int sshd_settings_load(const struct sshd_exec_options *exec,
		       const struct sshd_match_spec *spec,
		       struct sshd_settings **out, char *diag, size_t diag_size,
		       const char **why);

/*
 * The port the probe should use, from `sshd -T`: the port of the first
 * "listenaddress" on a wildcard or loopback address (0.0.0.0, ::, 127.x,
 * ::1), else the first "port" line. Returns 0 with *port, SL_NOT_FOUND when
 * neither is there, or SL_REFUSED with *why when the value is not a port.
 */
int sshd_settings_port(const struct sshd_settings *settings, unsigned *port,
		       const char **why);

/* ---- AllowUsers, DenyUsers, AllowGroups, DenyGroups ---- */

/*
 * sshd's match_pattern(): '*' matches any run of characters (also none),
 * '?' exactly one; everything else itself, case-sensitively. No negation
 * and no lists: AllowUsers and friends take one pattern per word.
 */
bool sshd_pattern_match(const char *text, const char *pattern);

enum sshd_access {
	SSHD_ACCESS_ALLOWED, /* admitted whatever the client's host */
	SSHD_ACCESS_DENIED,  /* refused whatever the client's host */
	SSHD_ACCESS_DEPENDS, /* a USER@HOST pattern decides: allowed from some
				hosts only, or denied from some */
};

struct sshd_access_verdict {
	enum sshd_access access;
	/* For DENIED and DEPENDS: the keyword ("denyusers", "allowusers",
	 * "denygroups", "allowgroups") and the pattern that decided, or NULL
	 * pattern when it was the absence of a match in an Allow list. Both
	 * point into the settings (pattern) or static text (keyword). */
	const char *keyword;
	const char *pattern;
};

/*
 * Would sshd admit user, whose groups (primary first, NULL-terminated; may
 * be NULL) are given, under these settings? sshd's order and rules
 * (auth.c allowed_user): a DenyUsers match denies; with AllowUsers, no match
 * denies; a DenyGroups match of any group denies; with AllowGroups, no group
 * matching denies. Patterns are matched with sshd_pattern_match.
 *
 * USER@HOST patterns are approximated: the client's host is not known before
 * it connects, so such a pattern whose USER part matches makes the answer
 * SSHD_ACCESS_DEPENDS (unless a plain pattern already decides), never
 * ALLOWED or DENIED. Returns the verdict; v (may be NULL) gets the details.
 */
enum sshd_access sshd_access_check(const struct sshd_settings *settings,
				   const char *user,
				   const char *const *groups,
				   struct sshd_access_verdict *v);

/*
 * Does one of the AuthorizedKeysFile entries (the value of sshd -T's
 * "authorizedkeysfile", blank-separated) name ~/.ssh/authorized_keys, the
 * file the engine edits? Entries are expanded as sshd does: "%%" to "%",
 * "%h" to home, "%u" to user, "%U" to the uid in decimal, a leading "~/" to
 * home; a relative result is taken from home. With home NULL (no account
 * known) only the account-independent forms count: ".ssh/authorized_keys",
 * "%h/.ssh/authorized_keys", "~/.ssh/authorized_keys". "none" names no file.
 */
bool sshd_authorized_keys_file_covers(const char *value, const char *user,
				      unsigned long uid, const char *home);

/* ---- the probe ---- */

struct sshd_host_key {
	char type[40];        /* "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa" */
	char fingerprint[64]; /* "SHA256:" + 43 base64 characters, as
				 ssh-keygen -l prints it */
};

enum sshd_info_source {
	SSHD_SOURCE_NONE,   /* nothing learnt */
	SSHD_SOURCE_PROBE,  /* a server answered on address:port */
	SSHD_SOURCE_BINARY, /* no answer: the version is from `sshd -V` and
			       the host keys from the .pub files beside the
			       HostKey files `sshd -T` names */
};

/* What the probe learnt. Plain buffers: copying the struct copies it all. */
struct sshd_info {
	enum sshd_info_source source;
	struct sshd_version version; /* 0.0 when the server is not OpenSSH */
	char software[128];    /* the banner, or sshd -V's line; sanitised */
	unsigned port;         /* the port probed */
	char address[46];      /* the address that answered; "" when none */
	char probe_error[256]; /* why no (trusted) server answered,
				  sanitised; "" when one did */
	char warning[256];     /* an answer the probe did not believe: a
				  listener that is not root's, or host keys
				  that are not the HostKey files'; "" when
				  none */
	size_t n_host_keys;
	struct sshd_host_key host_keys[SSHD_HOST_KEYS_MAX];
};

/* ---- who listens: /proc/net/tcp ---- */

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

/*
 * The server_host_key_algorithms name-list of an SSH_MSG_KEXINIT, read from
 * len bytes that start with the binary packet (uint32 packet_length, byte
 * padding_length, payload; RFC 4253 6 and 7.1): what the probe asks a
 * server before it connects once per host key type. Refused (SL_REFUSED
 * with *why): truncated data, a length over 35000 or beyond len, padding
 * that leaves no payload, a first message that is not KEXINIT (20), an
 * empty list, a list with bytes outside printable ASCII or a blank, a list
 * that does not fit size. Returns 0 with the list, NUL-terminated, in out.
 */
int sshd_kexinit_host_key_algorithms(const unsigned char *packet, size_t len,
				     char *out, size_t size, const char **why);

struct sshd_probe_options {
	struct sshd_exec_options exec; /* for port 0 and the fallback */
	unsigned port;                 /* 0: sshd_settings_port of sshd -T,
					  else 22 */
	const char *const *addresses;  /* NULL-terminated; NULL: 127.0.0.1
					  then ::1 */
};

/*
 * Learn the local sshd's version and host keys. For each address in turn
 * until one answers:
 *   1. a plain TCP hello: send a banner, read the server's banner (its
 *      version, sshd_banner_parse) and its KEXINIT (the host key types it
 *      has, sshd_kexinit_host_key_algorithms), then hang up;
 *   2. one libssh connection per host key family the server offers
 *      (ssh-ed25519, ecdsa-sha2-nistp256/384/521, RSA as rsa-sha2-512/256
 *      or ssh-rsa), with SSH_OPTIONS_HOSTKEYS set to it: the key exchange
 *      shows that key, whose SHA256 fingerprint is kept. No config files
 *      or known_hosts are read, no authentication is attempted, each
 *      connection ends after the key exchange, and every step is bounded
 *      by exec.timeout (SSH_OPTIONS_TIMEOUT for libssh).
 * Asking only for offered types means sshd logs no "Unable to negotiate"
 * errors, which log watchers such as fail2ban count against the source.
 * When the KEXINIT cannot be read, every family is tried. A server whose
 * banner is not OpenSSH gives version 0.0, and then sshd -V is not asked:
 * it may describe another binary than the one answering.
 *
 * When no address answers, falls back to `sshd -V` for the version and to
 * the .pub files beside `sshd -T`'s hostkey lines for the host keys
 * (source SSHD_SOURCE_BINARY; probe_error says why the probe failed).
 *
 * Any local user may listen on a port nobody else holds (any port >= 1024,
 * or 22 while sshd is down or bound elsewhere) and answer with a banner
 * and host keys of its choice. So an address counts as answered only when
 * sshd_listener_check says root's (or this process's) socket listens
 * there, asked before the first connection (a listener of another user is
 * not even spoken to) and again after the last (it must still be so);
 * otherwise the answer is dropped, warning says which uid listens, and
 * the next address or the fallback is used. A trusted answer's host keys
 * are checked against the .pub files of sshd -T's hostkey lines when there
 * are any: a key the files lack means the server is not the sshd that
 * config describes, so the files' keys are reported instead and warning
 * says so (the version stays the server's).
 *
 * Returns 0 with *out filled; SL_NOT_FOUND with *why when neither the probe
 * nor sshd -V gave anything (*out still says the port and probe_error);
 * -errno. Blocks for at most a few timeouts per address.
 */
int sshd_probe(const struct sshd_probe_options *options, struct sshd_info *out,
	       const char **why);

/*
 * The info as JSON for the control protocol and --json:
 *   {"port": 22, "address": "127.0.0.1" | null, "version": "9.2" | null,
 *    "software": "SSH-2.0-OpenSSH_9.2p1 ..." | null,
 *    "source": "probe" | "sshd -V" | null, "probe_error": "..." | null,
 *    "warning": "..." | null,
 *    "host_keys": [{"key_type": "ssh-ed25519", "fingerprint": "SHA256:..."}]}
 * (host_keys as the CLI's grant block reads them). NULL on out-of-memory.
 */
json_t *sshd_info_to_json(const struct sshd_info *info);

#endif

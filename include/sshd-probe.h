/*
 * The SSH wire probe: connect to the local sshd (no login is tried) to learn
 * the version that answers and its host key fingerprints (for the block the
 * merchant pastes into the ticket), falling back to `sshd -V` and the
 * HostKey files when no trusted server answers; and the result as JSON.
 */
#ifndef SSHLEASE_SSHD_PROBE_H
#define SSHLEASE_SSHD_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common.h"
#include "sshd-config.h"
#include "sshd-version.h"

/* Most host keys reported (one per type OpenSSH serves, with room). */
#define SSHD_HOST_KEYS_MAX 8

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
enum sshd_answer { SSHD_UNKNOWN, SSHD_NO, SSHD_YES };

struct sshd_info {
	enum sshd_info_source source;
	enum sshd_answer use_pam; /* sshd -T's usepam; unknown when it did not
				     answer */
	char key_files[512];      /* sshd -T's authorizedkeysfile; "" when it
				     did not answer or it was longer */
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

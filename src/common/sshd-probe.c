/* The SSH wire probe: the local sshd's version and host keys, by connecting. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "log.h"
#include "sshd-listen.h"
#include "sshd-probe.h"
#include "timeutil.h"

/* Host key algorithm families, one connection each; an RSA key is the
 * same key under all three names. */
static const char *const probe_hostkey_algorithms[] = {
	"ssh-ed25519",
	"ecdsa-sha2-nistp256",
	"ecdsa-sha2-nistp384",
	"ecdsa-sha2-nistp521",
	"rsa-sha2-512,rsa-sha2-256,ssh-rsa",
};

static const char *const probe_default_addresses[] = { "127.0.0.1", "::1",
						       NULL };

#define PROBE_CLIENT_BANNER "SSH-2.0-sshlease_probe\r\n"
/* RFC 4253 6.1: implementations must take packets of 35000 bytes. */
#define PROBE_PACKET_MAX 35000
/* Lines a server may send before its banner (RFC 4253 4.2), in bytes. */
#define PROBE_PREAMBLE_MAX 8192

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int sshd_kexinit_host_key_algorithms(const unsigned char *packet, size_t len,
				     char *out, size_t size, const char **why)
{
	uint32_t packet_len, list_len;
	size_t padding, payload_len, pos;
	const unsigned char *payload;

	if (len < 5) {
		*why = "the packet is truncated";
		return SL_REFUSED;
	}
	packet_len = get_u32(packet);
	if (packet_len > PROBE_PACKET_MAX || packet_len < 2 ||
	    (size_t)packet_len + 4 > len) {
		*why = "the packet length is out of range or beyond the data";
		return SL_REFUSED;
	}
	padding = packet[4];
	if (padding + 1 >= packet_len) {
		*why = "the packet padding leaves no payload";
		return SL_REFUSED;
	}
	payload = packet + 5;
	payload_len = packet_len - padding - 1;
	if (payload[0] != 20) { /* SSH_MSG_KEXINIT */
		*why = "the first packet is not a KEXINIT";
		return SL_REFUSED;
	}
	pos = 1 + 16; /* message number, cookie */
	/* kex_algorithms, then server_host_key_algorithms */
	for (int list = 0; list < 2; list++) {
		if (pos + 4 > payload_len) {
			*why = "the KEXINIT is truncated";
			return SL_REFUSED;
		}
		list_len = get_u32(payload + pos);
		pos += 4;
		if (list_len > payload_len - pos) {
			*why = "the KEXINIT is truncated";
			return SL_REFUSED;
		}
		if (list == 1) {
			if (list_len == 0 || list_len >= size) {
				*why = "the host key algorithm list is empty or too long";
				return SL_REFUSED;
			}
			for (size_t i = 0; i < list_len; i++) {
				unsigned char c = payload[pos + i];

				if (c <= 0x20 || c >= 0x7f) {
					*why = "the host key algorithm list has a "
					       "byte that is not printable ASCII";
					return SL_REFUSED;
				}
			}
			memcpy(out, payload + pos, list_len);
			out[list_len] = '\0';
		}
		pos += list_len;
	}
	return 0;
}

/* name is one of the comma-separated names in list. */
static bool list_has(const char *list, const char *name, size_t name_len)
{
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");

		if (n == name_len && memcmp(p, name, n) == 0)
			return true;
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

/* The names of family that offered also has, in family's order, into
 * buf; false when there are none. */
static bool list_intersect(const char *family, const char *offered, char *buf,
			   size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (const char *p = family; *p;) {
		size_t n = strcspn(p, ",");

		if (list_has(offered, p, n) && used + n + 2 <= size) {
			if (used)
				buf[used++] = ',';
			memcpy(buf + used, p, n);
			used += n;
			buf[used] = '\0';
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return used > 0;
}

/* Wait until fd is ready for events or the deadline passes. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int64_t left = deadline - time_monotonic_ms();
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static int connect_tcp(const char *address, unsigned port, int64_t deadline,
		       int *out)
{
	struct addrinfo hints = {
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
		.ai_socktype = SOCK_STREAM,
	};
	struct addrinfo *ai = NULL;
	char service[8];
	socklen_t len = sizeof(int);
	int fd = -1, r, so_error = 0;

	snprintf(service, sizeof(service), "%u", port);
	if (getaddrinfo(address, service, &hints, &ai) != 0 || !ai)
		return -EINVAL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			r = -errno;
			goto out;
		}
		r = wait_fd(fd, POLLOUT, deadline);
		if (r < 0)
			goto out;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0) {
			r = -errno;
			goto out;
		}
		if (so_error) {
			r = -so_error;
			goto out;
		}
	}
	*out = fd;
	fd = -1;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return r;
}

/*
 * Say hello without libssh: send a banner, read the server's banner and its
 * KEXINIT, which lists the host key algorithms it has keys for. Learning
 * them first means the per-type connections below all succeed, so sshd logs
 * no "Unable to negotiate" errors (which log watchers count as attacks).
 * Returns 0 with both, 1 with only the banner (algorithms ""), or -errno
 * with err set to the reason when no SSH server answered.
 */
static int probe_hello(const char *address, unsigned port, unsigned timeout,
		       char *banner, size_t banner_size, char *algorithms,
		       size_t algorithms_size, char *err, size_t err_size)
{
	int64_t deadline = time_monotonic_ms() + (int64_t)timeout * 1000;
	unsigned char *buf = NULL;
	size_t len = 0, cap = PROBE_PREAMBLE_MAX + PROBE_PACKET_MAX + 4;
	size_t line_start = 0, packet_start = 0;
	bool have_banner = false;
	const char *why = NULL;
	int fd = -1, r;

	banner[0] = algorithms[0] = '\0';
	r = connect_tcp(address, port, deadline, &fd);
	if (r < 0) {
		snprintf(err, err_size, "%s", strerror(-r));
		return r;
	}
	buf = malloc(cap);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	if (write(fd, PROBE_CLIENT_BANNER, sizeof(PROBE_CLIENT_BANNER) - 1) < 0) {
		r = -errno;
		goto no_answer;
	}
	for (;;) {
		ssize_t n;

		if (have_banner && len - packet_start >= 4 &&
		    len - packet_start >= (size_t)get_u32(buf + packet_start) + 4)
			break;
		if (have_banner && len - packet_start >= 4 &&
		    get_u32(buf + packet_start) > PROBE_PACKET_MAX)
			break; /* the parser refuses it below */
		if (len == cap) {
			r = -EMSGSIZE;
			goto no_answer;
		}
		r = wait_fd(fd, POLLIN, deadline);
		if (r < 0)
			goto no_answer;
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			r = -errno;
			goto no_answer;
		}
		if (n == 0) {
			r = -ECONNRESET;
			goto no_answer;
		}
		len += (size_t)n;
		/* Lines before the banner; the banner ends them. */
		while (!have_banner) {
			unsigned char *nl = memchr(buf + line_start, '\n',
						   len - line_start);
			size_t line_len;

			if (!nl) {
				if (len - line_start > 255 ||
				    len > PROBE_PREAMBLE_MAX) {
					r = -EPROTO;
					goto no_answer;
				}
				break;
			}
			line_len = (size_t)(nl - (buf + line_start));
			if (line_len >= 4 && memcmp(buf + line_start, "SSH-", 4) == 0) {
				char text[256];

				if (line_len > 0 && buf[line_start + line_len - 1] == '\r')
					line_len--;
				if (line_len >= sizeof(text))
					line_len = sizeof(text) - 1;
				memcpy(text, buf + line_start, line_len);
				text[line_len] = '\0';
				log_safe(banner, banner_size, text);
				have_banner = true;
				packet_start = (size_t)(nl - buf) + 1;
			}
			line_start = (size_t)(nl - buf) + 1;
			if (!have_banner && line_start > PROBE_PREAMBLE_MAX) {
				r = -EPROTO;
				goto no_answer;
			}
		}
	}
	r = sshd_kexinit_host_key_algorithms(buf + packet_start, len - packet_start,
					     algorithms, algorithms_size, &why) == 0 ?
		    0 :
		    1;
	goto out;
no_answer:
	if (have_banner) {
		r = 1; /* a server, but no KEXINIT to read */
		goto out;
	}
	/* Whatever ended it, text that was no banner says the most. */
	snprintf(err, err_size, "%s",
		 r == -EPROTO || len > 0 ? "it sent no SSH banner" : strerror(-r));
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return r;
}

static void add_host_key(struct sshd_info *info, const char *type,
			 const char *fingerprint)
{
	struct sshd_host_key *k;

	for (size_t i = 0; i < info->n_host_keys; i++)
		if (strcmp(info->host_keys[i].fingerprint, fingerprint) == 0)
			return;
	if (info->n_host_keys == SSHD_HOST_KEYS_MAX)
		return;
	k = &info->host_keys[info->n_host_keys++];
	log_safe(k->type, sizeof(k->type), type);
	log_safe(k->fingerprint, sizeof(k->fingerprint), fingerprint);
}

/* "SHA256:..." of key into buf; false when libssh cannot hash it. */
static bool key_fingerprint(ssh_key key, char *buf, size_t size)
{
	unsigned char *hash = NULL;
	size_t hash_len = 0;
	char *text = NULL;
	bool ok = false;

	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash,
				   &hash_len) != 0)
		return false;
	text = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hash_len);
	if (text && strlen(text) < size) {
		snprintf(buf, size, "%s", text);
		ok = true;
	}
	ssh_string_free_char(text);
	ssh_clean_pubkey_hash(&hash);
	return ok;
}

/* One libssh connection restricted to algorithms; keeps the host key it
 * shows. False when the key exchange failed. */
static bool probe_host_key(const char *address, unsigned port, unsigned timeout,
			   const char *algorithms, struct sshd_info *info)
{
	ssh_session session = ssh_new();
	ssh_key key = NULL;
	int port_value = (int)port, verbosity = SSH_LOG_NOLOG;
	long timeout_value = (long)timeout;
	bool process_config = false, ok = false;
	char fingerprint[64];

	if (!session)
		return false;
	/* No ssh_config, no known_hosts: the probe must not depend on root's
	 * client files, and it checks nothing against them. */
	if (ssh_options_set(session, SSH_OPTIONS_PROCESS_CONFIG, &process_config) < 0 ||
	    ssh_options_set(session, SSH_OPTIONS_HOST, address) < 0 ||
	    ssh_options_set(session, SSH_OPTIONS_PORT, &port_value) < 0 ||
	    ssh_options_set(session, SSH_OPTIONS_TIMEOUT, &timeout_value) < 0 ||
	    ssh_options_set(session, SSH_OPTIONS_LOG_VERBOSITY, &verbosity) < 0 ||
	    ssh_options_set(session, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") < 0 ||
	    ssh_options_set(session, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") < 0 ||
	    ssh_options_set(session, SSH_OPTIONS_HOSTKEYS, algorithms) < 0)
		goto out;
	if (ssh_connect(session) != SSH_OK)
		goto out;
	if (ssh_get_server_publickey(session, &key) == SSH_OK &&
	    key_fingerprint(key, fingerprint, sizeof(fingerprint))) {
		add_host_key(info, ssh_key_type_to_char(ssh_key_type(key)),
			     fingerprint);
		ok = true;
	}
	ssh_disconnect(session);
out:
	ssh_key_free(key);
	ssh_free(session);
	return ok;
}

/* Talk to one address; true when an SSH server answered there (its
 * banner, version, address and host keys are in info), else reason says
 * why not. */
static bool probe_answer(const char *address, unsigned port, unsigned timeout,
			 struct sshd_info *info, char *reason, size_t size)
{
	char offered[2048], algorithms[256];
	const char *ignored;
	int r;

	r = probe_hello(address, port, timeout, info->software,
			sizeof(info->software), offered, sizeof(offered), reason,
			size);
	if (r < 0)
		return false;
	sshd_banner_parse(info->software, &info->version, &ignored);
	log_safe(info->address, sizeof(info->address), address);
	for (size_t i = 0; i < SL_ARRAY_SIZE(probe_hostkey_algorithms); i++) {
		const char *family = probe_hostkey_algorithms[i];

		/* Without the server's list (r == 1), try every family. */
		if (r == 0 && !list_intersect(family, offered, algorithms,
					      sizeof(algorithms)))
			continue;
		probe_host_key(address, port, timeout, r == 0 ? algorithms : family,
			       info);
	}
	return true;
}

/* Say in info->warning (the first such sentence is kept) why what listens
 * on address:port is not believed: sshd_listener_check answered r. */
static void distrust(struct sshd_info *info, const char *address, unsigned port,
		     int r, unsigned long owner, const char *why)
{
	char text[sizeof(info->warning)];

	if (info->warning[0])
		return;
	if (r == SL_REFUSED) {
		struct passwd pw, *found = NULL;
		char buf[1024], name[40] = "";

		if (getpwuid_r((uid_t)owner, &pw, buf, sizeof(buf), &found) == 0 &&
		    found)
			log_safe(name, sizeof(name), found->pw_name);
		snprintf(text, sizeof(text),
			 "a process of uid %lu%s%.40s%s, not root, listens on %.46s port %u; its answer is ignored",
			 owner, name[0] ? " (" : "", name, name[0] ? ")" : "",
			 address, port);
	} else if (r == SL_NOT_FOUND) {
		snprintf(text, sizeof(text),
			 "a server answered on %.46s port %u, but /proc/net/tcp shows no socket listening there; its answer is ignored",
			 address, port);
	} else {
		snprintf(text, sizeof(text),
			 "cannot tell who listens on %.46s port %u (%.80s: %s); its answer is ignored",
			 address, port, why, strerror(-r));
	}
	log_safe(info->warning, sizeof(info->warning), text);
}

/*
 * Probe one address; true when a server that root runs answered there
 * (info then holds its answer). A listener of another user is not spoken
 * to, and an answer counts only when the listener is still root's after
 * the last connection: a local user must not choose what the daemon
 * believes of sshd.
 */
static bool probe_address(const char *address, unsigned port, unsigned timeout,
			  struct sshd_info *info)
{
	struct sshd_info trial;
	unsigned long owner = 0;
	const char *why = NULL;
	char reason[128];
	int r;

	r = sshd_listener_check(address, port, &owner, &why);
	if (r != 0 && r != SL_NOT_FOUND) {
		distrust(info, address, port, r, owner, why);
		return false;
	}
	memset(&trial, 0, sizeof(trial));
	if (!probe_answer(address, port, timeout, &trial, reason, sizeof(reason))) {
		/* The first address's reason is kept: it is the likeliest. */
		if (!info->probe_error[0])
			snprintf(info->probe_error, sizeof(info->probe_error),
				 "%s", reason);
		return false;
	}
	r = sshd_listener_check(address, port, &owner, &why);
	if (r != 0) {
		distrust(info, address, port, r, owner, why);
		return false;
	}
	info->version = trial.version;
	memcpy(info->software, trial.software, sizeof(info->software));
	memcpy(info->address, trial.address, sizeof(info->address));
	info->n_host_keys = trial.n_host_keys;
	memcpy(info->host_keys, trial.host_keys, sizeof(info->host_keys));
	info->probe_error[0] = '\0';
	return true;
}

/* Host keys from the .pub files beside sshd -T's hostkey lines. */
static void host_keys_from_files(const struct sshd_settings *settings,
				 struct sshd_info *info)
{
	const char *value;
	size_t pos = 0;

	while ((value = sshd_settings_next(settings, "hostkey", &pos))) {
		char path[PATH_MAX], fingerprint[64];
		ssh_key key = NULL;
		struct stat st;
		int n = snprintf(path, sizeof(path), "%s.pub", value);

		if (n < 0 || (size_t)n >= sizeof(path) || value[0] != '/')
			continue;
		/* A public file of root's; still, read only a plain file. */
		if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
		    st.st_size > 64 * 1024)
			continue;
		if (ssh_pki_import_pubkey_file(path, &key) == SSH_OK &&
		    key_fingerprint(key, fingerprint, sizeof(fingerprint)))
			add_host_key(info, ssh_key_type_to_char(ssh_key_type(key)),
				     fingerprint);
		ssh_key_free(key);
	}
}

/*
 * A trusted answer's host keys against the HostKey files: when the files
 * give keys and the server showed one they lack, it is not the sshd that
 * config describes (another root sshd on the port, or [sshd] config names
 * another file); what support will pin must be the configured keys, so
 * the files' keys replace the shown ones, and warning says so.
 */
static void host_keys_cross_check(const struct sshd_settings *settings,
				  struct sshd_info *info)
{
	struct sshd_info files;
	const char *stray = NULL;
	char text[sizeof(info->warning)];

	memset(&files, 0, sizeof(files));
	host_keys_from_files(settings, &files);
	if (files.n_host_keys == 0)
		return;
	for (size_t i = 0; i < info->n_host_keys && !stray; i++) {
		bool known = false;

		for (size_t j = 0; j < files.n_host_keys && !known; j++)
			known = strcmp(info->host_keys[i].fingerprint,
				       files.host_keys[j].fingerprint) == 0;
		if (!known)
			stray = info->host_keys[i].fingerprint;
	}
	if (!stray)
		return;
	snprintf(text, sizeof(text),
		 "the server on %.46s port %u shows host key %.64s, which no HostKey file of sshd -T has; the files' keys are reported instead",
		 info->address, info->port, stray);
	if (!info->warning[0])
		log_safe(info->warning, sizeof(info->warning), text);
	info->n_host_keys = files.n_host_keys;
	memcpy(info->host_keys, files.host_keys, sizeof(info->host_keys));
}

int sshd_probe(const struct sshd_probe_options *options, struct sshd_info *out,
	       const char **why)
{
	struct sshd_exec_options exec = options->exec;
	const char *const *addresses =
		options->addresses ? options->addresses : probe_default_addresses;
	struct sshd_settings *settings = NULL;
	struct sshd_info info;
	unsigned port = options->port;
	const char *ignored;
	int r;

	memset(&info, 0, sizeof(info));
	if (!exec.timeout)
		exec.timeout = SSHD_TIMEOUT_DEFAULT;
	/* Port auto: sshd -T says where it listens. When that fails (no
	 * sshd binary, a broken config) the default port is still worth a
	 * try: a server may answer there all the same. */
	if (port == 0) {
		r = sshd_settings_load(&exec, NULL, &settings, NULL, 0, &ignored);
		if (r == -ENOMEM)
			goto out;
		if (r != 0 || sshd_settings_port(settings, &port, &ignored) != 0)
			port = 22;
	}
	info.port = port;
	for (size_t i = 0; addresses[i]; i++) {
		if (probe_address(addresses[i], port, exec.timeout, &info)) {
			info.source = SSHD_SOURCE_PROBE;
			if (!settings) {
				r = sshd_settings_load(&exec, NULL, &settings,
						       NULL, 0, &ignored);
				if (r == -ENOMEM)
					goto out;
			}
			if (settings)
				host_keys_cross_check(settings, &info);
			r = 0;
			goto done;
		}
	}
	{
		char tried[128] = "", reason[sizeof(info.warning)], text[512];
		size_t used = 0;

		/* A listener not believed says more than a refused
		 * connection elsewhere. */
		snprintf(reason, sizeof(reason), "%s",
			 info.warning[0]	   ? info.warning :
			 info.probe_error[0] ? info.probe_error :
					       "no address to probe");
		for (size_t i = 0; addresses[i] && used < sizeof(tried); i++) {
			int n = snprintf(tried + used, sizeof(tried) - used, "%s%.46s",
					 i ? " or " : "", addresses[i]);

			if (n < 0)
				break;
			used += (size_t)n;
		}
		snprintf(text, sizeof(text),
			 "no %sSSH server answered on %.100s port %u: %.200s",
			 info.warning[0] ? "trusted " : "", tried, port, reason);
		/* Cut to size: the start says what matters. */
		log_safe(info.probe_error, sizeof(info.probe_error), text);
	}
	r = sshd_version_load(&exec, &info.version, info.software,
			      sizeof(info.software), why);
	if (r < 0)
		goto out;
	if (r != 0) {
		*why = "the local sshd does not answer and sshd -V gives no version";
		goto done;
	}
	info.source = SSHD_SOURCE_BINARY;
	if (!settings) {
		r = sshd_settings_load(&exec, NULL, &settings, NULL, 0, &ignored);
		if (r == -ENOMEM)
			goto out;
	}
	r = 0;
	if (settings)
		host_keys_from_files(settings, &info);
done:
	if (settings) {
		const char *use_pam = sshd_settings_get(settings, "usepam");

		const char *key_files = sshd_settings_get(settings, "authorizedkeysfile");

		info.use_pam = use_pam ? strcmp(use_pam, "yes") == 0 ? SSHD_YES : SSHD_NO
				       : SSHD_UNKNOWN;
		if (key_files && strlen(key_files) < sizeof(info.key_files))
			memcpy(info.key_files, key_files, strlen(key_files) + 1);
	}
	*out = info;
out:
	sshd_settings_free(settings);
	return r;
}

json_t *sshd_info_to_json(const struct sshd_info *info)
{
	json_t *obj = NULL, *keys = NULL;
	char version[16];
	const char *source = NULL;

	switch (info->source) {
	case SSHD_SOURCE_PROBE:
		source = "probe";
		break;
	case SSHD_SOURCE_BINARY:
		source = "sshd -V";
		break;
	case SSHD_SOURCE_NONE:
		break;
	}
	snprintf(version, sizeof(version), "%u.%u", info->version.major,
		 info->version.minor);
	keys = json_array();
	if (!keys)
		return NULL;
	for (size_t i = 0; i < info->n_host_keys; i++) {
		json_t *k = json_pack("{s:s, s:s}", "key_type",
				      info->host_keys[i].type, "fingerprint",
				      info->host_keys[i].fingerprint);

		if (!k || json_array_append_new(keys, k) != 0) {
			json_decref(keys);
			return NULL;
		}
	}
	obj = json_pack("{s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:o}", "port",
			(json_int_t)info->port, "address",
			info->address[0] ? info->address : NULL, "version",
			sshd_version_known(&info->version) ? version : NULL,
			"software", info->software[0] ? info->software : NULL,
			"source", source, "probe_error",
			info->probe_error[0] ? info->probe_error : NULL,
			"warning", info->warning[0] ? info->warning : NULL,
			"host_keys", keys);
	return obj;
}

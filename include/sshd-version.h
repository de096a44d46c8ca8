/*
 * Which OpenSSH the local sshd is, from its banner or from `sshd -V`, and
 * the expiry-time form that version reads (DESIGN.md §4). Pure parsing:
 * nothing here connects to or runs anything.
 */
#ifndef SSHLEASE_SSHD_VERSION_H
#define SSHLEASE_SSHD_VERSION_H

#include <stdbool.h>

#include "authkeys.h"
#include "common.h"
#include "config.h"

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

/* The line sshd_version_output_parse reads: the first line of text that
 * starts with "OpenSSH_" (up to its newline, which is not cut off), or NULL
 * when there is none. Points into text. */
const char *sshd_version_output_line(const char *text);

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

#endif

/* The OpenSSH version from a banner or sshd -V, and the expiry-time form it reads. */
#include <stdbool.h>
#include <string.h>

#include "sshd-version.h"

/* 1-3 decimal digits at *p; advances *p. */
static bool parse_small_number(const char **p, unsigned *out)
{
	unsigned value = 0, digits = 0;

	while (sl_is_digit(**p)) {
		if (++digits > 3)
			return false;
		value = value * 10 + (unsigned)(**p - '0');
		(*p)++;
	}
	*out = value;
	return digits > 0;
}

/* "OpenSSH_" MAJOR "." MINOR, then the end or a character that cannot
 * continue the number. */
static int parse_openssh_software(const char *p, struct sshd_version *out,
				  const char **why)
{
	static const char prefix[] = "OpenSSH_";
	struct sshd_version v;

	if (strncmp(p, prefix, sizeof(prefix) - 1) != 0) {
		*why = "the server is not OpenSSH";
		return SL_REFUSED;
	}
	p += sizeof(prefix) - 1;
	if (!parse_small_number(&p, &v.major) || *p != '.') {
		*why = "the OpenSSH version has no MAJOR.MINOR number";
		return SL_REFUSED;
	}
	p++;
	if (!parse_small_number(&p, &v.minor) || *p == '.' || sl_is_digit(*p)) {
		*why = "the OpenSSH version has no MAJOR.MINOR number";
		return SL_REFUSED;
	}
	if (v.major == 0) {
		*why = "the OpenSSH version is out of range";
		return SL_REFUSED;
	}
	*out = v;
	return 0;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

int sshd_banner_parse(const char *banner, struct sshd_version *out,
		      const char **why)
{
	static const char *const protocols[] = { "SSH-2.0-", "SSH-1.99-" };
	const char *software = NULL;

	*out = (struct sshd_version){ 0, 0 };
	if (!printable(banner)) {
		*why = "the server banner has a byte that is not printable ASCII";
		return SL_REFUSED;
	}
	for (size_t i = 0; i < SL_ARRAY_SIZE(protocols); i++)
		if (strncmp(banner, protocols[i], strlen(protocols[i])) == 0)
			software = banner + strlen(protocols[i]);
	if (!software) {
		*why = "the server banner does not start with SSH-2.0-";
		return SL_REFUSED;
	}
	return parse_openssh_software(software, out, why);
}

const char *sshd_version_output_line(const char *text)
{
	const char *line = text;

	while (line && *line) {
		if (strncmp(line, "OpenSSH_", 8) == 0)
			return line;
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return NULL;
}

int sshd_version_output_parse(const char *text, struct sshd_version *out,
			      const char **why)
{
	const char *line = sshd_version_output_line(text);
	char buf[256];
	size_t len;

	*out = (struct sshd_version){ 0, 0 };
	if (!line) {
		*why = "sshd -V printed no OpenSSH version";
		return SL_REFUSED;
	}
	len = strcspn(line, "\n");
	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	memcpy(buf, line, len);
	buf[len] = '\0';
	if (!printable(buf)) {
		*why = "the sshd -V version line has a byte that is not printable ASCII";
		return SL_REFUSED;
	}
	return parse_openssh_software(buf, out, why);
}

int sshd_expiry_for(const struct sshd_version *version,
		    enum config_expiry_format format, enum authkeys_expiry *out,
		    const char **why)
{
	bool known = sshd_version_known(version);
	bool has_expiry = sshd_version_at_least(version, 7, 7);
	bool has_utc = sshd_version_at_least(version, 9, 1);

	switch (format) {
	case CONFIG_EXPIRY_NONE:
		*out = AUTHKEYS_EXPIRY_NONE;
		return 0;
	case CONFIG_EXPIRY_AUTO:
		if (!known) {
			*why = "the OpenSSH version of the local sshd is unknown; "
			       "set [sshd] expiry_format to utc (OpenSSH 9.1 or "
			       "later), local (7.7 or later) or none";
			return SL_REFUSED;
		}
		if (!has_expiry)
			goto no_expiry;
		*out = has_utc ? AUTHKEYS_EXPIRY_UTC : AUTHKEYS_EXPIRY_LOCAL;
		return 0;
	case CONFIG_EXPIRY_UTC:
		if (known && !has_expiry)
			goto no_expiry;
		if (known && !has_utc) {
			*why = "OpenSSH before 9.1 reads expiry-time with a Z as a "
			       "syntax error and ignores the whole line; set "
			       "[sshd] expiry_format = auto or local";
			return SL_REFUSED;
		}
		*out = AUTHKEYS_EXPIRY_UTC;
		return 0;
	case CONFIG_EXPIRY_LOCAL:
		if (known && !has_expiry)
			goto no_expiry;
		*out = AUTHKEYS_EXPIRY_LOCAL;
		return 0;
	}
	*why = "unknown [sshd] expiry_format";
	return SL_REFUSED;
no_expiry:
	*why = "OpenSSH before 7.7 has no expiry-time; set [sshd] expiry_format "
	       "= none to let the daemon alone enforce deadlines";
	return SL_REFUSED;
}

const char *sshd_expiry_name(enum authkeys_expiry expiry)
{
	switch (expiry) {
	case AUTHKEYS_EXPIRY_UTC:
		return "utc";
	case AUTHKEYS_EXPIRY_LOCAL:
		return "local";
	case AUTHKEYS_EXPIRY_NONE:
		return "none";
	}
	return "?";
}

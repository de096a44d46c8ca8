/* The local sshd: version and host keys by probing it, settings by sshd -T. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "log.h"
#include "proc.h"
#include "sshd.h"
#include "timeutil.h"

/* ---- versions ---- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* 1-3 decimal digits at *p; advances *p. */
static bool parse_small_number(const char **p, unsigned *out)
{
	unsigned value = 0, digits = 0;

	while (is_digit(**p)) {
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
	if (!parse_small_number(&p, &v.minor) || *p == '.' || is_digit(*p)) {
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

/* The first line of text that starts with "OpenSSH_", or NULL. */
static const char *version_line(const char *text)
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
	const char *line = version_line(text);
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

/* ---- finding and running sshd ---- */

static bool is_executable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(path, X_OK) == 0;
}

int sshd_find_binary(const char *given, char *buf, size_t size,
		     const char **why)
{
	const char *path_env;
	char *dirs = NULL, *dir, *save = NULL;
	int r = SL_NOT_FOUND;

	if (given) {
		if (given[0] != '/') {
			*why = "the sshd path must be absolute";
			return SL_REFUSED;
		}
		if (strlen(given) >= size) {
			*why = "the sshd path is too long";
			return SL_REFUSED;
		}
		if (!is_executable_file(given)) {
			*why = "the sshd path is not an executable file";
			return SL_NOT_FOUND;
		}
		snprintf(buf, size, "%s", given);
		return 0;
	}
	if (is_executable_file(SSHD_PATH_DEFAULT)) {
		snprintf(buf, size, "%s", SSHD_PATH_DEFAULT);
		return 0;
	}
	path_env = getenv("PATH");
	if (path_env) {
		dirs = strdup(path_env);
		if (!dirs)
			return -ENOMEM;
	}
	for (dir = dirs ? strtok_r(dirs, ":", &save) : NULL; dir;
	     dir = strtok_r(NULL, ":", &save)) {
		int n;

		/* A relative PATH entry would depend on the working directory. */
		if (dir[0] != '/')
			continue;
		n = snprintf(buf, size, "%s/sshd", dir);
		if (n > 0 && (size_t)n < size && is_executable_file(buf)) {
			r = 0;
			goto out;
		}
	}
	*why = "no sshd found (" SSHD_PATH_DEFAULT " nor in PATH); install "
	       "openssh-server";
out:
	free(dirs);
	return r;
}

/* The first non-empty line of text, sanitised, into diag. */
static void first_line(const char *text, char *diag, size_t size)
{
	char line[512];
	size_t len;

	if (!diag || size == 0)
		return;
	diag[0] = '\0';
	while (*text == '\n')
		text++;
	len = strcspn(text, "\n");
	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	memcpy(line, text, len);
	line[len] = '\0';
	log_safe(diag, size, line);
}

/* ---- sshd -T ---- */

static bool keyword_char(char c)
{
	return (c >= 'a' && c <= 'z') || is_digit(c);
}

void sshd_settings_free(struct sshd_settings *settings)
{
	if (!settings)
		return;
	for (size_t i = 0; i < settings->n; i++) {
		free(settings->items[i].key);
		free(settings->items[i].value);
	}
	free(settings->items);
	free(settings);
}

int sshd_settings_parse(const char *text, size_t len,
			struct sshd_settings **out, const char **why)
{
	struct sshd_settings *s = NULL;
	size_t pos = 0, cap = 0;
	int r;

	if (len == 0) {
		*why = "sshd -T printed nothing";
		return SL_REFUSED;
	}
	if (len > PROC_OUTPUT_MAX) {
		*why = "sshd -T printed too much";
		return SL_REFUSED;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		size_t k = 0;
		struct sshd_setting *item;

		pos += n + (nl ? 1 : 0);
		while (k < n && keyword_char(line[k]))
			k++;
		if (k == 0) {
			*why = n == 0 ? "sshd -T printed an empty line" :
			       "sshd -T printed a line that does not start with "
			       "a lower-case keyword";
			r = SL_REFUSED;
			goto fail;
		}
		if (k < n && line[k] != ' ') {
			*why = "sshd -T printed a keyword with a character "
			       "other than a-z and 0-9";
			r = SL_REFUSED;
			goto fail;
		}
		for (size_t i = k; i < n; i++) {
			unsigned char c = (unsigned char)line[i];

			if (c < 0x20 || c >= 0x7f) {
				*why = "sshd -T printed a byte that is not "
				       "printable ASCII";
				r = SL_REFUSED;
				goto fail;
			}
		}
		if (s->n == cap) {
			size_t grown_cap = cap ? cap * 2 : 128;
			struct sshd_setting *grown =
				reallocarray(s->items, grown_cap, sizeof(*grown));

			if (!grown) {
				r = -ENOMEM;
				goto fail;
			}
			s->items = grown;
			cap = grown_cap;
		}
		item = &s->items[s->n];
		item->key = strndup(line, k);
		item->value = strndup(line + (k < n ? k + 1 : n),
				      k < n ? n - k - 1 : 0);
		s->n++;
		if (!item->key || !item->value) {
			r = -ENOMEM;
			goto fail;
		}
	}
	*out = s;
	return 0;
fail:
	sshd_settings_free(s);
	return r;
}

const char *sshd_settings_next(const struct sshd_settings *settings,
			       const char *key, size_t *pos)
{
	for (; *pos < settings->n; (*pos)++)
		if (strcmp(settings->items[*pos].key, key) == 0)
			return settings->items[(*pos)++].value;
	return NULL;
}

const char *sshd_settings_get(const struct sshd_settings *settings,
			      const char *key)
{
	size_t pos = 0;

	return sshd_settings_next(settings, key, &pos);
}

static bool spec_value_ok(const char *value)
{
	for (const char *p = value; *p; p++)
		if (*p == ',' || *p == '=' || *p == ' ' ||
		    (unsigned char)*p < 0x21 || (unsigned char)*p >= 0x7f)
			return false;
	return *value != '\0';
}

/* "user=U,host=H,addr=A,laddr=L,lport=P" of the members that are set. */
static int spec_format(const struct sshd_match_spec *spec, char *buf,
		       size_t size, const char **why)
{
	const char *names[] = { "user", "host", "addr", "laddr" };
	const char *values[] = { spec->user, spec->host, spec->addr, spec->laddr };
	size_t used = 0;
	int n;

	buf[0] = '\0';
	for (size_t i = 0; i < SL_ARRAY_SIZE(names); i++) {
		if (!values[i])
			continue;
		if (!spec_value_ok(values[i])) {
			*why = "a value for sshd -T -C is empty or has a comma, "
			       "'=', blank or control character";
			return SL_REFUSED;
		}
		n = snprintf(buf + used, size - used, "%s%s=%s", used ? "," : "",
			     names[i], values[i]);
		if (n < 0 || (size_t)n >= size - used)
			goto too_long;
		used += (size_t)n;
	}
	if (spec->lport) {
		n = snprintf(buf + used, size - used, "%slport=%u",
			     used ? "," : "", spec->lport);
		if (n < 0 || (size_t)n >= size - used)
			goto too_long;
	}
	return 0;
too_long:
	*why = "the sshd -T -C values are too long";
	return SL_REFUSED;
}

int sshd_settings_load(const struct sshd_exec_options *exec,
		       const struct sshd_match_spec *spec,
		       struct sshd_settings **out, char *diag, size_t diag_size,
		       const char **why)
{
	char sshd[PATH_MAX], spec_text[1024];
	const char *argv[8];
	size_t argc = 0;
	struct proc_output res = { 0 };
	int r;

	if (diag && diag_size)
		diag[0] = '\0';
	r = sshd_find_binary(exec ? exec->sshd_path : NULL, sshd, sizeof(sshd),
			     why);
	if (r != 0)
		return r;
	argv[argc++] = sshd;
	argv[argc++] = "-T";
	if (exec && exec->config_path) {
		argv[argc++] = "-f";
		argv[argc++] = exec->config_path;
	}
	if (spec) {
		r = spec_format(spec, spec_text, sizeof(spec_text), why);
		if (r != 0)
			return r;
		if (spec_text[0]) {
			argv[argc++] = "-C";
			argv[argc++] = spec_text;
		}
	}
	argv[argc] = NULL;
	r = proc_run(argv, exec && exec->timeout ? exec->timeout : SSHD_TIMEOUT_DEFAULT,
		     &res, why);
	if (r < 0)
		goto out;
	if (!WIFEXITED(res.status) || WEXITSTATUS(res.status) != 0) {
		first_line(res.err_len ? res.err : res.out, diag, diag_size);
		*why = "sshd -T failed";
		r = SL_REFUSED;
		goto out;
	}
	if (res.truncated) {
		*why = "sshd -T printed too much";
		r = SL_REFUSED;
		goto out;
	}
	r = sshd_settings_parse(res.out, res.out_len, out, why);
out:
	proc_output_finish(&res);
	return r;
}

/* "HOST:PORT" or "[HOST]:PORT", maybe followed by " rdomain NAME". */
static bool listen_split(const char *value, char *host, size_t size,
			 unsigned *port)
{
	const char *colon, *end, *p;
	size_t len;
	unsigned long n;
	char *num_end;

	end = value + strcspn(value, " ");
	if (value[0] == '[') {
		const char *close = memchr(value, ']', (size_t)(end - value));

		if (!close || close[1] != ':')
			return false;
		len = (size_t)(close - value - 1);
		p = value + 1;
		colon = close + 1;
	} else {
		colon = NULL;
		for (const char *q = value; q < end; q++)
			if (*q == ':')
				colon = q;
		if (!colon)
			return false;
		len = (size_t)(colon - value);
		p = value;
	}
	if (len == 0 || len >= size || !is_digit(colon[1]))
		return false;
	memcpy(host, p, len);
	host[len] = '\0';
	errno = 0;
	n = strtoul(colon + 1, &num_end, 10);
	if (errno || num_end != end || n == 0 || n > 65535)
		return false;
	*port = (unsigned)n;
	return true;
}

static bool host_is_local(const char *host)
{
	return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ||
	       strcmp(host, "::1") == 0 || strncmp(host, "127.", 4) == 0;
}

int sshd_settings_port(const struct sshd_settings *settings, unsigned *port,
		       const char **why)
{
	const char *value;
	size_t pos = 0;
	char host[64];
	unsigned found;
	unsigned long n;
	char *end;

	while ((value = sshd_settings_next(settings, "listenaddress", &pos)))
		if (listen_split(value, host, sizeof(host), &found) &&
		    host_is_local(host)) {
			*port = found;
			return 0;
		}
	value = sshd_settings_get(settings, "port");
	if (!value)
		return SL_NOT_FOUND;
	errno = 0;
	n = strtoul(value, &end, 10);
	if (errno || !is_digit(value[0]) || *end != '\0' || n == 0 || n > 65535) {
		*why = "sshd -T printed a port that is not a number from 1 to 65535";
		return SL_REFUSED;
	}
	*port = (unsigned)n;
	return 0;
}

/* ---- AllowUsers, DenyUsers, AllowGroups, DenyGroups ---- */

bool sshd_pattern_match(const char *text, const char *pattern)
{
	/* Iterative wildcard match with one backtrack point, as '*' needs. */
	const char *star = NULL, *resume = NULL;

	while (*text) {
		if (*pattern == '*') {
			star = pattern++;
			resume = text;
		} else if (*pattern == '?' || *pattern == *text) {
			pattern++;
			text++;
		} else if (star) {
			pattern = star + 1;
			text = ++resume;
		} else {
			return false;
		}
	}
	while (*pattern == '*')
		pattern++;
	return *pattern == '\0';
}

enum user_match {
	USER_MATCH_NO,
	USER_MATCH_YES,
	USER_MATCH_SOME_HOSTS, /* USER@HOST whose USER part matches */
};

/* sshd's match_user() without the client's host: split at the last '@'. */
static enum user_match user_pattern_match(const char *user, const char *pattern)
{
	const char *at = strrchr(pattern, '@');
	char user_part[256];
	size_t len;

	if (!at)
		return sshd_pattern_match(user, pattern) ? USER_MATCH_YES :
							   USER_MATCH_NO;
	len = (size_t)(at - pattern);
	if (len >= sizeof(user_part))
		return USER_MATCH_NO;
	memcpy(user_part, pattern, len);
	user_part[len] = '\0';
	if (!sshd_pattern_match(user, user_part))
		return USER_MATCH_NO;
	/* "user@*" admits every host, so it is as good as a plain match. */
	return strcmp(at + 1, "*") == 0 ? USER_MATCH_YES : USER_MATCH_SOME_HOSTS;
}

static bool any_group_matches(const char *const *groups, const char *pattern)
{
	for (size_t i = 0; groups && groups[i]; i++)
		if (sshd_pattern_match(groups[i], pattern))
			return true;
	return false;
}

static enum sshd_access verdict(struct sshd_access_verdict *v,
				enum sshd_access access, const char *keyword,
				const char *pattern)
{
	if (v)
		*v = (struct sshd_access_verdict){ access, keyword, pattern };
	return access;
}

enum sshd_access sshd_access_check(const struct sshd_settings *settings,
				   const char *user,
				   const char *const *groups,
				   struct sshd_access_verdict *v)
{
	const char *pattern, *depends = NULL, *depends_keyword = NULL;
	const char *allow_some = NULL;
	bool allow_list = false, allow_certain = false;
	size_t pos;

	pos = 0;
	while ((pattern = sshd_settings_next(settings, "denyusers", &pos))) {
		enum user_match m = user_pattern_match(user, pattern);

		if (m == USER_MATCH_YES)
			return verdict(v, SSHD_ACCESS_DENIED, "denyusers", pattern);
		if (m == USER_MATCH_SOME_HOSTS && !depends) {
			depends = pattern;
			depends_keyword = "denyusers";
		}
	}
	pos = 0;
	while ((pattern = sshd_settings_next(settings, "allowusers", &pos))) {
		enum user_match m = user_pattern_match(user, pattern);

		allow_list = true;
		if (m == USER_MATCH_YES)
			allow_certain = true;
		else if (m == USER_MATCH_SOME_HOSTS && !allow_some)
			allow_some = pattern;
	}
	if (allow_list && !allow_certain && !allow_some)
		return verdict(v, SSHD_ACCESS_DENIED, "allowusers", NULL);
	pos = 0;
	while ((pattern = sshd_settings_next(settings, "denygroups", &pos)))
		if (any_group_matches(groups, pattern))
			return verdict(v, SSHD_ACCESS_DENIED, "denygroups", pattern);
	pos = 0;
	if (sshd_settings_get(settings, "allowgroups")) {
		bool admitted = false;

		while ((pattern = sshd_settings_next(settings, "allowgroups", &pos)))
			if (any_group_matches(groups, pattern))
				admitted = true;
		if (!admitted)
			return verdict(v, SSHD_ACCESS_DENIED, "allowgroups", NULL);
	}
	if (depends)
		return verdict(v, SSHD_ACCESS_DEPENDS, depends_keyword, depends);
	if (allow_list && !allow_certain)
		return verdict(v, SSHD_ACCESS_DEPENDS, "allowusers", allow_some);
	return verdict(v, SSHD_ACCESS_ALLOWED, NULL, NULL);
}

/* ---- AuthorizedKeysFile ---- */

/* Expand one entry as sshd does; false when it does not fit or has an
 * unknown %-escape (sshd refuses those). */
static bool expand_keys_file(const char *entry, size_t len, const char *user,
			     unsigned long uid, const char *home, char *buf,
			     size_t size)
{
	size_t used = 0, i = 0;
	char uid_text[24];

#define PUT(s, n)                                                              \
	do {                                                                   \
		if (used + (n) >= size)                                        \
			return false;                                          \
		memcpy(buf + used, (s), (n));                                  \
		used += (n);                                                   \
	} while (0)

	snprintf(uid_text, sizeof(uid_text), "%lu", uid);
	if (len >= 2 && entry[0] == '~' && entry[1] == '/') {
		PUT(home, strlen(home));
		i = 1;
	}
	for (; i < len; i++) {
		if (entry[i] != '%') {
			PUT(entry + i, 1);
			continue;
		}
		if (++i == len)
			return false;
		switch (entry[i]) {
		case '%':
			PUT("%", 1);
			break;
		case 'h':
			PUT(home, strlen(home));
			break;
		case 'u':
			PUT(user, strlen(user));
			break;
		case 'U':
			PUT(uid_text, strlen(uid_text));
			break;
		default:
			return false;
		}
	}
#undef PUT
	buf[used] = '\0';
	return true;
}

/* a and b name the same path, ignoring repeated and trailing slashes. */
static bool same_path(const char *a, const char *b)
{
	while (*a && *b) {
		if (*a == '/' && *b == '/') {
			while (*a == '/')
				a++;
			while (*b == '/')
				b++;
			continue;
		}
		if (*a++ != *b++)
			return false;
	}
	while (*a == '/')
		a++;
	while (*b == '/')
		b++;
	return *a == '\0' && *b == '\0';
}

bool sshd_authorized_keys_file_covers(const char *value, const char *user,
				      unsigned long uid, const char *home)
{
	static const char *const generic[] = {
		".ssh/authorized_keys", "%h/.ssh/authorized_keys",
		"~/.ssh/authorized_keys",
	};
	const char *p = value;

	while (*p) {
		size_t len;
		char expanded[PATH_MAX], path[PATH_MAX], want[PATH_MAX];

		p += strspn(p, " ");
		len = strcspn(p, " ");
		if (len == 0)
			break;
		if (!home) {
			for (size_t i = 0; i < SL_ARRAY_SIZE(generic); i++)
				if (strlen(generic[i]) == len &&
				    memcmp(p, generic[i], len) == 0)
					return true;
		} else if (expand_keys_file(p, len, user ? user : "", uid, home,
					    expanded, sizeof(expanded))) {
			int n = expanded[0] == '/' ?
					snprintf(path, sizeof(path), "%s", expanded) :
					snprintf(path, sizeof(path), "%s/%s", home,
						 expanded);
			int m = snprintf(want, sizeof(want),
					 "%s/.ssh/authorized_keys", home);

			if (n > 0 && (size_t)n < sizeof(path) && m > 0 &&
			    (size_t)m < sizeof(want) && same_path(path, want))
				return true;
		}
		p += len;
	}
	return false;
}

/* ---- who listens: /proc/net/tcp ---- */

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
		if (!is_digit(field[SLOT][i])) {
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
		if (!is_digit(field[UID][i])) {
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

/* ---- the probe ---- */

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

/* The version from sshd -V (its stderr; stdout too, to be safe). */
static int version_from_binary(const struct sshd_exec_options *exec,
			       struct sshd_info *info, const char **why)
{
	char sshd[PATH_MAX];
	const char *argv[3];
	struct proc_output res = { 0 };
	struct sshd_version v;
	const char *text;
	int r;

	r = sshd_find_binary(exec->sshd_path, sshd, sizeof(sshd), why);
	if (r != 0)
		return r < 0 ? r : SL_NOT_FOUND;
	argv[0] = sshd;
	argv[1] = "-V";
	argv[2] = NULL;
	/* sshd -V exits 0 on newer releases and 1 on older ones (usage);
	 * either way the version line is on stderr. */
	r = proc_run(argv, exec->timeout, &res, why);
	if (r < 0)
		goto out;
	text = res.err;
	r = sshd_version_output_parse(text, &v, why);
	if (r != 0) {
		text = res.out;
		r = sshd_version_output_parse(text, &v, why);
	}
	if (r != 0) {
		r = SL_NOT_FOUND;
		goto out;
	}
	info->version = v;
	first_line(version_line(text), info->software, sizeof(info->software));
out:
	proc_output_finish(&res);
	return r;
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
	r = version_from_binary(&exec, &info, why);
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

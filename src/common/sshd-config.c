/* The local sshd binary: found, run with -V and -T, and what its settings admit. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"
#include "sshd-config.h"

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

int sshd_version_load(const struct sshd_exec_options *exec,
		      struct sshd_version *out, char *software, size_t size,
		      const char **why)
{
	char sshd[PATH_MAX];
	const char *argv[3];
	struct proc_output res = { 0 };
	struct sshd_version v;
	const char *text;
	int r;

	r = sshd_find_binary(exec ? exec->sshd_path : NULL, sshd, sizeof(sshd),
			     why);
	if (r != 0)
		return r < 0 ? r : SL_NOT_FOUND;
	argv[0] = sshd;
	argv[1] = "-V";
	argv[2] = NULL;
	/* sshd -V exits 0 on newer releases and 1 on older ones (usage);
	 * either way the version line is on stderr. */
	r = proc_run(argv, exec && exec->timeout ? exec->timeout : SSHD_TIMEOUT_DEFAULT,
		     &res, why);
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
	*out = v;
	first_line(sshd_version_output_line(text), software, size);
out:
	proc_output_finish(&res);
	return r;
}

static bool keyword_char(char c)
{
	return (c >= 'a' && c <= 'z') || sl_is_digit(c);
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
	if (len == 0 || len >= size || !sl_is_digit(colon[1]))
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
	if (errno || !sl_is_digit(value[0]) || *end != '\0' || n == 0 || n > 65535) {
		*why = "sshd -T printed a port that is not a number from 1 to 65535";
		return SL_REFUSED;
	}
	*port = (unsigned)n;
	return 0;
}

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

/* The daemon's configuration: one key table, compiled-in defaults drawn from
 * it, and a strict loader that reports every problem as file:line: reason. */
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "key.h"
#include "timeutil.h"
#include "validate.h"

enum config_key_id {
	K_SOCKET,
	K_SOCKET_GROUP,
	K_STATE_DIR,
	K_AUDIT_LOG,
	K_USERS,
	K_ALLOW_ROOT,
	K_DEFAULT_DURATION,
	K_MAX_DURATION,
	K_KEY_TYPES,
	K_MIN_RSA_BITS,
	K_MODE,
	K_FROM,
	K_REQUIRE_SIGNED,
	K_TRUSTED_SIGNER,
	K_PORT,
	K_EXPIRY_FORMAT,
	K_SSHD_CONFIG,
	K_COUNT,
};

const struct config_key_info config_keys[] = {
	[K_SOCKET] = { "daemon", "socket", "/run/sshlease/sshlease.sock",
		       "the control socket the sshlease command talks to" },
	[K_SOCKET_GROUP] = { "daemon", "socket_group", "sshlease",
			     "members of this group may use sshlease; root always may" },
	[K_STATE_DIR] = { "daemon", "state_dir", "/var/lib/sshlease",
			  "where active grants and redeemed token nonces are kept (root only)" },
	[K_AUDIT_LOG] = { "daemon", "audit_log", "/var/log/sshlease/audit.jsonl",
			  "the hash-chained record of every grant, extension, revocation and expiry" },
	[K_USERS] = { "grant", "users", "",
		      "accounts that may receive access, comma-separated; empty means any account but root" },
	[K_ALLOW_ROOT] = { "grant", "allow_root", "no",
			   "whether root may receive access at all (yes or no)" },
	[K_DEFAULT_DURATION] = { "grant", "default_duration", "48h",
				 "how long a grant lasts when neither --for nor --until is given" },
	[K_MAX_DURATION] = { "grant", "max_duration", "7d",
			     "the longest a grant may last, also after extend" },
	[K_KEY_TYPES] = { "grant", "key_types", "ed25519, ecdsa, sk-ed25519, sk-ecdsa, rsa",
			  "key families accepted, comma-separated; DSA is never accepted" },
	[K_MIN_RSA_BITS] = { "grant", "min_rsa_bits", "3072",
			     "the smallest RSA modulus accepted, in bits (2048 to 16384)" },
	[K_MODE] = { "grant", "mode", "shell",
		     "shell for a login with a terminal, sftp for file transfer only" },
	[K_FROM] = { "grant", "from", "",
		     "addresses or CIDRs a granted key may log in from, comma-separated; empty means anywhere" },
	[K_REQUIRE_SIGNED] = { "tokens", "require_signed", "no",
			       "refuse raw keys: accept only tokens signed by a trusted_signer" },
	[K_TRUSTED_SIGNER] = { "tokens", "trusted_signer", "",
			       "NAME BASE64-ED25519-PUBLIC-KEY whose signed tokens are accepted; repeat for more" },
	[K_PORT] = { "sshd", "port", "auto",
		     "where the local sshd listens, for the probe; auto lets sshlease find it" },
	[K_EXPIRY_FORMAT] = { "sshd", "expiry_format", "auto",
			      "how expiry-time is written for sshd: auto (by its version), utc, local or none" },
	[K_SSHD_CONFIG] = { "sshd", "config", "/etc/ssh/sshd_config",
			    "sshd's configuration file, read with sshd -T to check that a grant would let the key in" },
};

const size_t config_keys_count = SL_ARRAY_SIZE(config_keys);

_Static_assert(SL_ARRAY_SIZE(config_keys) == K_COUNT,
	       "config_keys[] has one entry per enum config_key_id");

/* A file this big is not a config file; refuse rather than read it all. */
#define CONFIG_FILE_MAX (1024 * 1024)
/* sockaddr_un.sun_path holds 108 bytes with the terminating NUL. */
#define SOCKET_PATH_MAX 107
#define MIN_RSA_BITS_LOWEST 2048
#define MIN_RSA_BITS_HIGHEST 16384
/* What the line reader hands inih in place of a malformed section header,
 * so the keys under it are skipped instead of landing in the section
 * before. No real section can be called this (check_line refuses it). */
#define SKIPPED_SECTION "*"

struct load_ctx {
	struct sshlease_config *config;
	char display_path[201]; /* sanitised, capped */

	/* the file, and the reader's place in it */
	const char *data;
	size_t len, pos;
	int lineno;

	/* problems found so far, and the line of each */
	char **problems;
	int *problem_lines;
	size_t n_problems;
	int error; /* -ENOMEM once an allocation failed */

	int seen_line[K_COUNT];  /* line where each key was first set */
	bool bad_value[K_COUNT]; /* a value of that key was refused */
	int *signer_lines;       /* line of each config->signers[i] */
};

/* Copy text for a message: printable ASCII only, at most 64 bytes shown. */
static const char *shown(char *buf, size_t size, const char *text)
{
	size_t i, len = strlen(text), cap = size - 4;

	for (i = 0; i < len && i < cap; i++)
		buf[i] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
	if (len > cap) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

#define SHOWN_SIZE 68

SL_PRINTF(3, 4)
static void problem(struct load_ctx *ctx, int line, const char *fmt, ...)
{
	char reason[512];
	char *text = NULL, **problems;
	int *lines;
	va_list ap;

	if (ctx->error)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	/* room for "path:line: reason" with any int as line */
	text = malloc(strlen(ctx->display_path) + strlen(reason) + 16);
	if (!text) {
		ctx->error = -ENOMEM;
		return;
	}
	if (line > 0)
		sprintf(text, "%s:%d: %s", ctx->display_path, line, reason);
	else
		sprintf(text, "%s: %s", ctx->display_path, reason);
	problems = realloc(ctx->problems, (ctx->n_problems + 1) * sizeof(*problems));
	if (!problems) {
		free(text);
		ctx->error = -ENOMEM;
		return;
	}
	ctx->problems = problems;
	lines = realloc(ctx->problem_lines, (ctx->n_problems + 1) * sizeof(*lines));
	if (!lines) {
		free(text);
		ctx->error = -ENOMEM;
		return;
	}
	ctx->problem_lines = lines;
	ctx->problems[ctx->n_problems] = text;
	ctx->problem_lines[ctx->n_problems] = line;
	ctx->n_problems++;
}

/* "KEY = VALUE: reason", or "KEY: missing value; reason" for an empty one. */
static void bad_value(struct load_ctx *ctx, enum config_key_id id,
		      const char *value, const char *reason)
{
	char buf[SHOWN_SIZE];

	ctx->bad_value[id] = true;
	if (!*value)
		problem(ctx, ctx->lineno, "%s: missing value; %s",
			config_keys[id].key, reason);
	else
		problem(ctx, ctx->lineno, "%s = %s: %s", config_keys[id].key,
			shown(buf, sizeof(buf), value), reason);
}

static int replace_string(char **field, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

static void free_string_list(char **list)
{
	if (!list)
		return;
	for (char **p = list; *p; p++)
		free(*p);
	free(list);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Split a comma-separated value into trimmed entries (a new NULL-terminated
 * list in *out). SL_REFUSED with *why for an empty entry; -ENOMEM.
 */
static int split_list(const char *value, char ***out, const char **why)
{
	char **list = NULL;
	size_t n = 0;
	const char *p = value;
	int r = 0;

	for (;;) {
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);
		const char *start = p;
		char **grown;

		while (start < end && is_space(*start))
			start++;
		while (end > start && is_space(end[-1]))
			end--;
		if (start == end) {
			*why = "empty entry in the list (two commas, or a comma at an end)";
			r = SL_REFUSED;
			goto out;
		}
		grown = realloc(list, (n + 2) * sizeof(*list));
		if (!grown) {
			r = -ENOMEM;
			goto out;
		}
		list = grown;
		list[n] = strndup(start, (size_t)(end - start));
		list[n + 1] = NULL;
		if (!list[n]) {
			r = -ENOMEM;
			goto out;
		}
		n++;
		if (!comma)
			break;
		p = comma + 1;
	}
	*out = list;
	list = NULL;
out:
	free_string_list(list);
	return r;
}

static int list_find(char **list, size_t n, const char *entry)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], entry) == 0)
			return (int)i;
	return -1;
}

static int set_path(struct load_ctx *ctx, enum config_key_id id, char **field,
		    const char *value)
{
	char reason[96];

	if (value[0] != '/') {
		bad_value(ctx, id, value, "must be an absolute path (starting with /)");
		return 0;
	}
	if (id == K_SOCKET && strlen(value) > SOCKET_PATH_MAX) {
		snprintf(reason, sizeof(reason),
			 "path too long for a Unix socket (%zu bytes; at most %d)",
			 strlen(value), SOCKET_PATH_MAX);
		bad_value(ctx, id, value, reason);
		return 0;
	}
	return replace_string(field, value);
}

static void set_bool(struct load_ctx *ctx, enum config_key_id id, bool *field,
		     const char *value)
{
	if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0)
		*field = true;
	else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0)
		*field = false;
	else
		bad_value(ctx, id, value, "expected yes or no (or true or false)");
}

static void set_duration(struct load_ctx *ctx, enum config_key_id id,
			 int64_t *field, const char *value)
{
	const char *why = NULL;
	int64_t seconds;

	if (duration_parse(value, &seconds, &why) != 0) {
		bad_value(ctx, id, value, why);
		return;
	}
	*field = seconds;
}

/* A decimal number in [low, high]: digits only, no sign, no spaces. */
static bool parse_number(const char *value, unsigned long long low,
			 unsigned long long high, unsigned *out)
{
	unsigned long long n;
	char *end = NULL;

	if (value[0] < '0' || value[0] > '9')
		return false;
	errno = 0;
	n = strtoull(value, &end, 10);
	if (errno != 0 || *end != '\0' || n < low || n > high)
		return false;
	*out = (unsigned)n;
	return true;
}

static int set_users(struct load_ctx *ctx, const char *value)
{
	char **list = NULL, buf[SHOWN_SIZE], reason[128];
	const char *why = NULL;
	size_t n;
	int r;

	if (!*value) {
		free_string_list(ctx->config->users);
		ctx->config->users = NULL;
		return 0;
	}
	r = split_list(value, &list, &why);
	if (r < 0)
		return r;
	if (r) {
		bad_value(ctx, K_USERS, value, why);
		return 0;
	}
	for (n = 0; list[n]; n++) {
		if (!username_valid(list[n])) {
			snprintf(reason, sizeof(reason),
				 "'%s' is not a valid account name",
				 shown(buf, sizeof(buf), list[n]));
			bad_value(ctx, K_USERS, value, reason);
			goto out;
		}
		if (list_find(list, n, list[n]) >= 0) {
			snprintf(reason, sizeof(reason), "'%s' is listed twice",
				 list[n]);
			bad_value(ctx, K_USERS, value, reason);
			goto out;
		}
	}
	free_string_list(ctx->config->users);
	ctx->config->users = list;
	list = NULL;
out:
	free_string_list(list);
	return 0;
}

static int set_key_types(struct load_ctx *ctx, const char *value)
{
	static const char known[] = "known: ed25519, ecdsa, sk-ed25519, sk-ecdsa, rsa";
	char **list = NULL, buf[SHOWN_SIZE], reason[160];
	const char *why = NULL;
	unsigned families = 0;
	int r;

	if (!*value) {
		bad_value(ctx, K_KEY_TYPES, value,
			  "list at least one of ed25519, ecdsa, sk-ed25519, sk-ecdsa, rsa");
		return 0;
	}
	r = split_list(value, &list, &why);
	if (r < 0)
		return r;
	if (r) {
		bad_value(ctx, K_KEY_TYPES, value, why);
		return 0;
	}
	for (size_t i = 0; list[i]; i++) {
		enum key_family family;

		if (key_family_from_name(list[i], &family) != 0) {
			snprintf(reason, sizeof(reason), "unknown key type '%s' (%s)",
				 shown(buf, sizeof(buf), list[i]), known);
			bad_value(ctx, K_KEY_TYPES, value, reason);
			goto out;
		}
		if (families & (unsigned)family) {
			snprintf(reason, sizeof(reason), "'%s' is listed twice",
				 list[i]);
			bad_value(ctx, K_KEY_TYPES, value, reason);
			goto out;
		}
		families |= (unsigned)family;
	}
	ctx->config->key_types = families;
out:
	free_string_list(list);
	return 0;
}

static int set_from(struct load_ctx *ctx, const char *value)
{
	const char *why = NULL;
	char *canonical = NULL;
	int r;

	if (!*value) {
		free(ctx->config->from);
		ctx->config->from = NULL;
		return 0;
	}
	r = from_validate(value, &canonical, &why);
	if (r < 0)
		return r;
	if (r) {
		bad_value(ctx, K_FROM, value, why);
		return 0;
	}
	free(ctx->config->from);
	ctx->config->from = canonical;
	return 0;
}

static int set_trusted_signer(struct load_ctx *ctx, const char *value)
{
	static const char form[] = "expected NAME BASE64-ED25519-PUBLIC-KEY";
	struct sshlease_config *c = ctx->config;
	const char *name = value, *name_end, *b64, *b64_end, *end = NULL;
	unsigned char public_key[64];
	size_t name_len, key_len = 0;
	struct config_signer *signers;
	char reason[160], buf[SHOWN_SIZE];
	int *lines;

	name_end = name;
	while (*name_end && !is_space(*name_end))
		name_end++;
	name_len = (size_t)(name_end - name);
	b64 = name_end;
	while (is_space(*b64))
		b64++;
	b64_end = b64;
	while (*b64_end && !is_space(*b64_end))
		b64_end++;
	if (!*value || b64 == b64_end) {
		bad_value(ctx, K_TRUSTED_SIGNER, value, form);
		return 0;
	}
	if (*b64_end) {
		bad_value(ctx, K_TRUSTED_SIGNER, value,
			  strncmp(b64, "ssh-ed25519", 11) == 0 ?
				  "give the bare base64 Ed25519 public key, not an OpenSSH key line" :
				  "expected two fields, NAME and BASE64-ED25519-PUBLIC-KEY");
		return 0;
	}
	if (!signer_name_valid(name, name_len)) {
		bad_value(ctx, K_TRUSTED_SIGNER, value,
			  "a signer name is 1 to 64 of A-Z a-z 0-9 . _ @ -");
		return 0;
	}
	if (sodium_base642bin(public_key, sizeof(public_key), b64,
			      (size_t)(b64_end - b64), NULL, &key_len, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != b64_end) {
		bad_value(ctx, K_TRUSTED_SIGNER, value,
			  "the public key is not valid base64 (with = padding)");
		return 0;
	}
	if (key_len != crypto_sign_PUBLICKEYBYTES) {
		snprintf(reason, sizeof(reason),
			 "the public key is %zu bytes; an Ed25519 public key is %d",
			 key_len, crypto_sign_PUBLICKEYBYTES);
		bad_value(ctx, K_TRUSTED_SIGNER, value, reason);
		return 0;
	}
	if (crypto_core_ed25519_is_valid_point(public_key) != 1) {
		bad_value(ctx, K_TRUSTED_SIGNER, value,
			  "not a valid Ed25519 public key");
		return 0;
	}
	for (size_t i = 0; i < c->n_signers; i++) {
		if (strlen(c->signers[i].name) == name_len &&
		    memcmp(c->signers[i].name, name, name_len) == 0) {
			snprintf(reason, sizeof(reason),
				 "signer name '%s' is already used on line %d",
				 c->signers[i].name, ctx->signer_lines[i]);
			bad_value(ctx, K_TRUSTED_SIGNER, value, reason);
			return 0;
		}
		if (memcmp(c->signers[i].public_key, public_key,
			   crypto_sign_PUBLICKEYBYTES) == 0) {
			snprintf(reason, sizeof(reason),
				 "this key is already trusted as '%s' on line %d",
				 shown(buf, sizeof(buf), c->signers[i].name),
				 ctx->signer_lines[i]);
			bad_value(ctx, K_TRUSTED_SIGNER, value, reason);
			return 0;
		}
	}

	signers = realloc(c->signers, (c->n_signers + 1) * sizeof(*signers));
	if (!signers)
		return -ENOMEM;
	c->signers = signers;
	lines = realloc(ctx->signer_lines, (c->n_signers + 1) * sizeof(*lines));
	if (!lines)
		return -ENOMEM;
	ctx->signer_lines = lines;
	signers[c->n_signers].name = strndup(name, name_len);
	if (!signers[c->n_signers].name)
		return -ENOMEM;
	memcpy(signers[c->n_signers].public_key, public_key,
	       crypto_sign_PUBLICKEYBYTES);
	lines[c->n_signers] = ctx->lineno;
	c->n_signers++;
	return 0;
}

/* Check value for key id and store it in ctx->config. A refused value is
 * reported through bad_value and leaves the field as it was. 0 or -ENOMEM. */
static int set_value(struct load_ctx *ctx, enum config_key_id id, const char *value)
{
	struct sshlease_config *c = ctx->config;
	unsigned number;

	switch (id) {
	case K_SOCKET:
		return set_path(ctx, id, &c->socket, value);
	case K_STATE_DIR:
		return set_path(ctx, id, &c->state_dir, value);
	case K_AUDIT_LOG:
		return set_path(ctx, id, &c->audit_log, value);
	case K_SOCKET_GROUP:
		if (!username_valid(value)) {
			bad_value(ctx, id, value,
				  "not a valid group name (lower-case letters, digits, _ . -)");
			return 0;
		}
		return replace_string(&c->socket_group, value);
	case K_USERS:
		return set_users(ctx, value);
	case K_ALLOW_ROOT:
		set_bool(ctx, id, &c->allow_root, value);
		return 0;
	case K_DEFAULT_DURATION:
		set_duration(ctx, id, &c->default_duration, value);
		return 0;
	case K_MAX_DURATION:
		set_duration(ctx, id, &c->max_duration, value);
		return 0;
	case K_KEY_TYPES:
		return set_key_types(ctx, value);
	case K_MIN_RSA_BITS:
		if (!parse_number(value, MIN_RSA_BITS_LOWEST,
				  MIN_RSA_BITS_HIGHEST, &number)) {
			bad_value(ctx, id, value, "expected a number of bits from 2048 to 16384");
			return 0;
		}
		c->min_rsa_bits = number;
		return 0;
	case K_MODE:
		if (!authkeys_mode_parse(value, &c->mode))
			bad_value(ctx, id, value, "expected shell or sftp");
		return 0;
	case K_FROM:
		return set_from(ctx, value);
	case K_REQUIRE_SIGNED:
		set_bool(ctx, id, &c->require_signed, value);
		return 0;
	case K_TRUSTED_SIGNER:
		return set_trusted_signer(ctx, value);
	case K_PORT:
		if (strcmp(value, "auto") == 0)
			c->sshd_port = 0;
		else if (parse_number(value, 1, 65535, &number))
			c->sshd_port = number;
		else
			bad_value(ctx, id, value, "expected auto or a port number from 1 to 65535");
		return 0;
	case K_EXPIRY_FORMAT:
		if (strcmp(value, "auto") == 0)
			c->expiry_format = CONFIG_EXPIRY_AUTO;
		else if (strcmp(value, "utc") == 0)
			c->expiry_format = CONFIG_EXPIRY_UTC;
		else if (strcmp(value, "local") == 0)
			c->expiry_format = CONFIG_EXPIRY_LOCAL;
		else if (strcmp(value, "none") == 0)
			c->expiry_format = CONFIG_EXPIRY_NONE;
		else
			bad_value(ctx, id, value, "expected auto, utc, local or none");
		return 0;
	case K_SSHD_CONFIG:
		return set_path(ctx, id, &c->sshd_config, value);
	case K_COUNT:
		break;
	}
	return 0;
}

static bool section_known(const char *section)
{
	for (size_t i = 0; i < K_COUNT; i++)
		if (strcmp(config_keys[i].section, section) == 0)
			return true;
	return false;
}

/* The key named name in section, or -1; with section NULL, in any section. */
static int key_find(const char *section, const char *name)
{
	for (size_t i = 0; i < K_COUNT; i++)
		if ((!section || strcmp(config_keys[i].section, section) == 0) &&
		    strcmp(config_keys[i].key, name) == 0)
			return (int)i;
	return -1;
}

const struct config_key_info *config_key_find(const char *section, const char *key)
{
	int id = key_find(section, key);

	return id < 0 ? NULL : &config_keys[id];
}

/* inih's handler. Always returns 1: every problem is recorded here, so
 * inih's own return value speaks only of lines it could not parse. */
static int on_value(void *user, const char *section, const char *name,
		    const char *value)
{
	struct load_ctx *ctx = user;
	char buf[SHOWN_SIZE], section_buf[SHOWN_SIZE];
	int id, elsewhere;

	if (ctx->error || strcmp(section, SKIPPED_SECTION) == 0)
		return 1;
	if (!*section) {
		elsewhere = key_find(NULL, name);
		if (elsewhere >= 0)
			problem(ctx, ctx->lineno, "%s is outside any section; put it under [%s]",
				name, config_keys[elsewhere].section);
		else
			problem(ctx, ctx->lineno,
				"unknown key '%s' outside any section",
				shown(buf, sizeof(buf), name));
		return 1;
	}
	/* Unknown sections were reported at their header line. */
	if (!section_known(section))
		return 1;
	id = key_find(section, name);
	if (id < 0) {
		elsewhere = key_find(NULL, name);
		if (elsewhere >= 0)
			problem(ctx, ctx->lineno, "%s belongs in [%s], not [%s]",
				name, config_keys[elsewhere].section, section);
		else
			problem(ctx, ctx->lineno, "unknown key '%s' in [%s]",
				shown(buf, sizeof(buf), name),
				shown(section_buf, sizeof(section_buf), section));
		return 1;
	}
	if (ctx->seen_line[id] && id != K_TRUSTED_SIGNER) {
		problem(ctx, ctx->lineno, "duplicate key %s (first set on line %d)",
			name, ctx->seen_line[id]);
		return 1;
	}
	if (!ctx->seen_line[id])
		ctx->seen_line[id] = ctx->lineno;
	if (set_value(ctx, (enum config_key_id)id, value) < 0)
		ctx->error = -ENOMEM;
	return 1;
}

/*
 * Check one line (len bytes, line end removed) before inih sees it. Returns
 * the text to hand inih: line itself, "" to skip a refused line (so it is
 * neither reported twice nor half-read), or a replacement section header.
 */
static const char *check_line(struct load_ctx *ctx, const char *line, size_t len)
{
	char buf[SHOWN_SIZE], name[SHOWN_SIZE];
	const char *start = line, *end = line + len, *close, *eq, *colon;

	if (len > CONFIG_LINE_MAX) {
		/* inih r55 reads lines in 200-byte pieces and silently
		 * treats the rest as a line of its own. */
		problem(ctx, ctx->lineno, "line too long (%zu bytes; at most %d)",
			len, CONFIG_LINE_MAX);
		return "";
	}
	if (memchr(line, '\0', len)) {
		problem(ctx, ctx->lineno, "NUL byte in line");
		return "";
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			problem(ctx, ctx->lineno, "control character 0x%02x in line", c);
			return "";
		}
	}
	while (start < end && is_space(*start))
		start++;
	if (start == end || *start == '#' || *start == ';')
		return line;
	if (start != line) {
		/* inih would glue an indented line to the value before it. */
		problem(ctx, ctx->lineno, "line starts with whitespace; remove the indentation");
		return "";
	}
	if (*start == '[') {
		const char *after;

		close = memchr(start, ']', len);
		if (!close) {
			problem(ctx, ctx->lineno, "section header without closing ]");
			return "[" SKIPPED_SECTION "]";
		}
		for (after = close + 1; after < end && is_space(*after); after++)
			;
		if (after < end && !(*after == ';' && is_space(after[-1]))) {
			problem(ctx, ctx->lineno, "unexpected characters after section header");
			return "[" SKIPPED_SECTION "]";
		}
		snprintf(name, sizeof(name), "%.*s", (int)(close - start - 1), start + 1);
		if ((size_t)(close - start - 1) >= sizeof(name) || !section_known(name)) {
			char raw[CONFIG_LINE_MAX + 1];

			snprintf(raw, sizeof(raw), "%.*s", (int)(close - start - 1), start + 1);
			problem(ctx, ctx->lineno,
				"unknown section [%s] (sections: [daemon], [grant], [tokens], [sshd])",
				shown(buf, sizeof(buf), raw));
			/* The keys under it are skipped, not reported one by one. */
			return "[" SKIPPED_SECTION "]";
		}
		return line;
	}
	if (len >= 10 && memcmp(start, "-----BEGIN", 10) == 0) {
		problem(ctx, ctx->lineno,
			"key material does not belong in the config file (only trusted_signer public keys)");
		return "";
	}
	eq = memchr(start, '=', len);
	colon = memchr(start, ':', len);
	/* inih also splits at ':', which would read "from ::1" as a key. */
	if (colon && (!eq || colon < eq)) {
		problem(ctx, ctx->lineno, "expected key = value (':' is not a separator here)");
		return "";
	}
	if (!eq) {
		problem(ctx, ctx->lineno, "expected key = value");
		return "";
	}
	if (eq == start) {
		problem(ctx, ctx->lineno, "missing key name before =");
		return "";
	}
	return line;
}

/* inih's reader: one line of the file per call, checked first, so inih
 * never sees a line it would split and the handler knows its line number. */
static char *read_line(char *buf, int size, void *stream)
{
	struct load_ctx *ctx = stream;
	const char *line, *newline, *text;
	size_t len, text_len;

	if (ctx->pos >= ctx->len || ctx->error)
		return NULL;
	line = ctx->data + ctx->pos;
	newline = memchr(line, '\n', ctx->len - ctx->pos);
	len = newline ? (size_t)(newline - line) : ctx->len - ctx->pos;
	ctx->pos += len + (newline ? 1 : 0);
	ctx->lineno++;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (ctx->lineno == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
		line += 3;
		len -= 3;
	}

	text = check_line(ctx, line, len);
	text_len = text == line ? len : strlen(text);
	if (size <= 0 || text_len > (size_t)size - 1) {
		/* Only if this inih reads shorter lines than CONFIG_LINE_MAX. */
		problem(ctx, ctx->lineno, "line too long for the installed inih (%zu bytes; at most %d)",
			text_len, size > 0 ? size - 1 : 0);
		text = "";
		text_len = 0;
		if (size <= 0)
			return NULL;
	}
	memcpy(buf, text, text_len);
	buf[text_len] = '\0';
	return buf;
}

static bool problem_at(const struct load_ctx *ctx, int line)
{
	for (size_t i = 0; i < ctx->n_problems; i++)
		if (ctx->problem_lines[i] == line)
			return true;
	return false;
}

/* Checks that involve more than one key, made once the file is read. */
static void check_whole(struct load_ctx *ctx)
{
	const struct sshlease_config *c = ctx->config;

	if (!ctx->bad_value[K_DEFAULT_DURATION] && !ctx->bad_value[K_MAX_DURATION] &&
	    c->default_duration > c->max_duration) {
		char def[32], max[32];
		int line = ctx->seen_line[K_DEFAULT_DURATION] > ctx->seen_line[K_MAX_DURATION] ?
				   ctx->seen_line[K_DEFAULT_DURATION] :
				   ctx->seen_line[K_MAX_DURATION];

		duration_format(c->default_duration, def, sizeof(def));
		duration_format(c->max_duration, max, sizeof(max));
		problem(ctx, line, "default_duration (%s) is longer than max_duration (%s)",
			def, max);
	}
	if (!ctx->bad_value[K_USERS] && !ctx->bad_value[K_ALLOW_ROOT] &&
	    !c->allow_root && c->users) {
		for (char **u = c->users; *u; u++) {
			if (strcmp(*u, "root") == 0) {
				problem(ctx, ctx->seen_line[K_USERS],
					"users lists root, but allow_root = no; set allow_root = yes or take root out");
				break;
			}
		}
	}
	if (c->require_signed && c->n_signers == 0 &&
	    !ctx->bad_value[K_TRUSTED_SIGNER])
		problem(ctx, ctx->seen_line[K_REQUIRE_SIGNED],
			"require_signed = yes, but no trusted_signer is set, so no grant could be made");
}

/* Read the whole file at fd into a new buffer; SL_REFUSED if too large. */
static int read_all(int fd, char **out, size_t *out_len)
{
	size_t cap = 8192, len = 0;
	char *data = malloc(cap), *grown;
	ssize_t n;

	if (!data)
		return -ENOMEM;
	for (;;) {
		if (len == cap) {
			if (cap > CONFIG_FILE_MAX) {
				free(data);
				return SL_REFUSED;
			}
			cap *= 2;
			grown = realloc(data, cap);
			if (!grown) {
				free(data);
				return -ENOMEM;
			}
			data = grown;
		}
		n = read(fd, data + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;

			free(data);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CONFIG_FILE_MAX) {
		free(data);
		return SL_REFUSED;
	}
	*out = data;
	*out_len = len;
	return 0;
}

/* Move ctx's problems onto the end of *problems (NULL-terminated). */
static int hand_over_problems(struct load_ctx *ctx, char ***problems)
{
	size_t old = 0;
	char **merged;

	if (!problems || ctx->n_problems == 0)
		return 0;
	if (*problems)
		while ((*problems)[old])
			old++;
	merged = realloc(*problems, (old + ctx->n_problems + 1) * sizeof(*merged));
	if (!merged)
		return -ENOMEM;
	memcpy(merged + old, ctx->problems, ctx->n_problems * sizeof(*merged));
	merged[old + ctx->n_problems] = NULL;
	*problems = merged;
	ctx->n_problems = 0;
	return 0;
}

static void load_ctx_finish(struct load_ctx *ctx)
{
	for (size_t i = 0; i < ctx->n_problems; i++)
		free(ctx->problems[i]);
	free(ctx->problems);
	free(ctx->problem_lines);
	free(ctx->signer_lines);
}

struct sshlease_config *config_new_defaults(void)
{
	struct load_ctx ctx = { 0 };
	struct sshlease_config *config = calloc(1, sizeof(*config));

	if (!config)
		return NULL;
	ctx.config = config;
	snprintf(ctx.display_path, sizeof(ctx.display_path), "(defaults)");
	for (size_t i = 0; i < K_COUNT; i++) {
		/* An empty default is the zero state calloc gave. */
		if (!*config_keys[i].default_text)
			continue;
		if (set_value(&ctx, (enum config_key_id)i, config_keys[i].default_text) < 0)
			ctx.error = -ENOMEM;
	}
	/* A default that does not parse is a bug, caught by test-config. */
	if (ctx.error || ctx.n_problems) {
		config_free(config);
		config = NULL;
	}
	load_ctx_finish(&ctx);
	return config;
}

int config_load(const char *path, bool missing_ok, struct sshlease_config **out,
		char ***problems)
{
	struct load_ctx ctx = { 0 };
	struct sshlease_config *config = NULL;
	char *data = NULL;
	struct stat st;
	int fd = -1, r;

	*out = NULL;
	shown(ctx.display_path, sizeof(ctx.display_path), path);
	config = config_new_defaults();
	if (!config) {
		r = -ENOMEM;
		goto out;
	}
	ctx.config = config;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT) {
			if (!missing_ok) {
				r = SL_NOT_FOUND;
				goto out;
			}
			*out = config;
			config = NULL;
			r = 0;
		}
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		problem(&ctx, 0, "not a regular file");
		goto done;
	}
	/* The file names who may sign tokens: anyone who can write it can
	 * grant themselves access. */
	if (st.st_uid != 0 && st.st_uid != geteuid())
		problem(&ctx, 0, "owned by uid %u; it must belong to root",
			(unsigned)st.st_uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		problem(&ctx, 0, "writable by group or others; run chmod go-w on it");
	r = read_all(fd, &data, &ctx.len);
	if (r < 0)
		goto out;
	if (r) {
		problem(&ctx, 0, "larger than %d bytes; this is not a config file",
			CONFIG_FILE_MAX);
		goto done;
	}
	ctx.data = data;

	if (sodium_init() < 0) {
		r = -EIO;
		goto out;
	}
	r = ini_parse_stream(read_line, &ctx, on_value, &ctx);
	if (r == -2) {
		r = -ENOMEM;
		goto out;
	}
	if (r > 0 && !problem_at(&ctx, r))
		problem(&ctx, r, "syntax error");
	if (!ctx.error)
		check_whole(&ctx);

done:
	if (ctx.error) {
		r = ctx.error;
		goto out;
	}
	if (ctx.n_problems) {
		r = hand_over_problems(&ctx, problems);
		if (r == 0)
			r = SL_REFUSED;
		goto out;
	}
	*out = config;
	config = NULL;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(data);
	config_free(config);
	load_ctx_finish(&ctx);
	return r;
}

void config_problems_free(char **problems)
{
	free_string_list(problems);
}

void config_free(struct sshlease_config *config)
{
	if (!config)
		return;
	free(config->socket);
	free(config->socket_group);
	free(config->state_dir);
	free(config->audit_log);
	free_string_list(config->users);
	free(config->from);
	free(config->sshd_config);
	for (size_t i = 0; i < config->n_signers; i++)
		free(config->signers[i].name);
	free(config->signers);
	free(config);
}

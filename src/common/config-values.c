/* The config module's key table and what each value means: one setter per
 * key, each refusing a bad value with a reason (config-internal.h). */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "build-config.h"
#include "config-internal.h"
#include "key.h"
#include "timeutil.h"
#include "validate.h"

const struct config_key_info config_keys[] = {
	[K_SOCKET] = { "daemon", "socket", "/run/sshlease/sshlease.sock",
		       "the control socket the sshlease command talks to" },
	[K_SOCKET_GROUP] = { "daemon", "socket_group", "sshlease",
			     "members of this group may use sshlease; root always may" },
	[K_STATE_DIR] = { "daemon", "state_dir", "/var/lib/sshlease",
			  "where active grants and redeemed token nonces are kept (root only)" },
	[K_AUDIT_LOG] = { "daemon", "audit_log", "/var/log/sshlease/audit.jsonl",
			  "the hash-chained record of every grant, extension, revocation and expiry" },
	[K_AUDIT_ROTATE_SIZE] = { "daemon", "audit_rotate_size", "64M",
				  "the audit log's size at which it moves to audit_log.SEQ and a new file continues its chain; 0 never rotates" },
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
	[K_ADDED_KEYS] = { "grant", "added_keys", "remove",
			   "what happens to a key line added to an account's key files while a grant of it is live: remove or report" },
	[K_REPORT_CHANGES] = { "grant", "report_changes", "no",
			       "at the end of a grant with logins, count the files of the home changed during it and name the first of them (yes or no)" },
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
	[K_SSHD_LOG] = { "sshd", "log", "journal",
			 "where sshd logs its logins, followed to record and end the sessions of grants: journal or a file's path" },
};

const size_t config_keys_count = SL_ARRAY_SIZE(config_keys);

_Static_assert(SL_ARRAY_SIZE(config_keys) == K_COUNT,
	       "config_keys[] has one entry per enum config_key_id");

/* "KEY = VALUE: reason", or "KEY: missing value; reason" for an empty one. */
static const char *const expiry_format_names[] = {
	[CONFIG_EXPIRY_AUTO] = "auto",
	[CONFIG_EXPIRY_UTC] = "utc",
	[CONFIG_EXPIRY_LOCAL] = "local",
	[CONFIG_EXPIRY_NONE] = "none",
};

const char *config_expiry_format_name(enum config_expiry_format format)
{
	if ((size_t)format >= SL_ARRAY_SIZE(expiry_format_names))
		return "?";
	return expiry_format_names[format];
}

int config_expiry_format_parse(const char *text, enum config_expiry_format *out)
{
	for (size_t i = 0; i < SL_ARRAY_SIZE(expiry_format_names); i++) {
		if (strcmp(text, expiry_format_names[i]) == 0) {
			*out = (enum config_expiry_format)i;
			return 0;
		}
	}
	return -EINVAL;
}

static void bad_value(struct load_ctx *ctx, enum config_key_id id,
		      const char *value, const char *reason)
{
	char buf[SHOWN_SIZE];

	ctx->bad_value[id] = true;
	if (!*value)
		config_problem(ctx, ctx->lineno, "%s: missing value; %s",
			config_keys[id].key, reason);
	else
		config_problem(ctx, ctx->lineno, "%s = %s: %s", config_keys[id].key,
			config_shown(buf, sizeof(buf), value), reason);
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

void config_strings_free(char **list)
{
	if (!list)
		return;
	for (char **p = list; *p; p++)
		free(*p);
	free(list);
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

		while (start < end && config_is_blank(*start))
			start++;
		while (end > start && config_is_blank(end[-1]))
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
	config_strings_free(list);
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

/* [sshd] log: the journal (NULL) or a file. The compiled-in default is
 * taken even without the journal (the daemon then says that logins are not
 * followed); a file that asks for it is refused. */
static int set_sshd_log(struct load_ctx *ctx, enum config_key_id id,
			const char *value)
{
	if (strcmp(value, "journal") == 0) {
		if (!SSHLEASE_JOURNAL && ctx->lineno > 0) {
			bad_value(ctx, id, value,
				  "sshlease was built without the journal (libsystemd); name the file sshd logs to instead, such as /var/log/auth.log");
			return 0;
		}
		free(ctx->config->sshd_log);
		ctx->config->sshd_log = NULL;
		return 0;
	}
	if (value[0] != '/') {
		bad_value(ctx, id, value, "expected journal or an absolute path (starting with /)");
		return 0;
	}
	return set_path(ctx, id, &ctx->config->sshd_log, value);
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

/* A size: bytes, or a number followed by K, M or G (powers of 1024);
 * 0, or AUDIT_ROTATE_MIN to 1 TiB. */
static void set_rotate_size(struct load_ctx *ctx, enum config_key_id id, int64_t *field,
			    const char *value)
{
	unsigned long long n, unit = 1;
	char *end = NULL;

	if (value[0] < '0' || value[0] > '9')
		goto bad;
	errno = 0;
	n = strtoull(value, &end, 10);
	if (errno != 0)
		goto bad;
	switch (*end) {
	case 'K': unit = 1ULL << 10; end++; break;
	case 'M': unit = 1ULL << 20; end++; break;
	case 'G': unit = 1ULL << 30; end++; break;
	}
	if (*end != '\0' || n > (1ULL << 40) / unit || (n != 0 && n * unit < AUDIT_ROTATE_MIN))
		goto bad;
	*field = (int64_t)(n * unit);
	return;
bad:
	bad_value(ctx, id, value,
		  "expected 0 (never) or a size from 4K to 1024G, as bytes or with K, M or G");
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
		config_strings_free(ctx->config->users);
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
				 config_shown(buf, sizeof(buf), list[n]));
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
	config_strings_free(ctx->config->users);
	ctx->config->users = list;
	list = NULL;
out:
	config_strings_free(list);
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
				 config_shown(buf, sizeof(buf), list[i]), known);
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
	config_strings_free(list);
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
	while (*name_end && !config_is_blank(*name_end))
		name_end++;
	name_len = (size_t)(name_end - name);
	b64 = name_end;
	while (config_is_blank(*b64))
		b64++;
	b64_end = b64;
	while (*b64_end && !config_is_blank(*b64_end))
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
				 config_shown(buf, sizeof(buf), c->signers[i].name),
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
int config_set_value(struct load_ctx *ctx, enum config_key_id id, const char *value)
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
	case K_AUDIT_ROTATE_SIZE:
		set_rotate_size(ctx, id, &c->audit_rotate_size, value);
		return 0;
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
	case K_ADDED_KEYS:
		if (strcmp(value, "remove") == 0 || strcmp(value, "report") == 0)
			c->added_keys_report = strcmp(value, "report") == 0;
		else
			bad_value(ctx, id, value, "expected remove or report");
		return 0;
	case K_REPORT_CHANGES:
		set_bool(ctx, id, &c->report_changes, value);
		return 0;
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
		if (config_expiry_format_parse(value, &c->expiry_format) < 0)
			bad_value(ctx, id, value, "expected auto, utc, local or none");
		return 0;
	case K_SSHD_CONFIG:
		return set_path(ctx, id, &c->sshd_config, value);
	case K_SSHD_LOG:
		return set_sshd_log(ctx, id, value);
	case K_COUNT:
		break;
	}
	return 0;
}

bool config_section_known(const char *section)
{
	for (size_t i = 0; i < K_COUNT; i++)
		if (strcmp(config_keys[i].section, section) == 0)
			return true;
	return false;
}

/* The key named name in section, or -1; with section NULL, in any section. */
int config_key_index(const char *section, const char *name)
{
	for (size_t i = 0; i < K_COUNT; i++)
		if ((!section || strcmp(config_keys[i].section, section) == 0) &&
		    strcmp(config_keys[i].key, name) == 0)
			return (int)i;
	return -1;
}

const struct config_key_info *config_key_find(const char *section, const char *key)
{
	int id = config_key_index(section, key);

	return id < 0 ? NULL : &config_keys[id];
}


/* The daemon's configuration: compiled-in defaults overlaid by an INI file. */
#ifndef SSHLEASE_CONFIG_H
#define SSHLEASE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "authkeys.h"
#include "common.h"

enum config_expiry_format {
	CONFIG_EXPIRY_AUTO,
	CONFIG_EXPIRY_UTC,
	CONFIG_EXPIRY_LOCAL,
	CONFIG_EXPIRY_NONE,
};

/* The expiry_format value as written in sshlease.conf ("auto", "utc",
 * "local", "none"), and back: 0 or -EINVAL for any other text. */
const char *config_expiry_format_name(enum config_expiry_format format);
int config_expiry_format_parse(const char *text, enum config_expiry_format *out);

struct config_signer {
	char *name;
	unsigned char public_key[32]; /* Ed25519 */
};

struct sshlease_config {
	/* [daemon] */
	char *socket;
	char *socket_group;
	char *state_dir;
	char *audit_log;
	int64_t audit_rotate_size; /* bytes; 0: never */
	/* [grant] */
	char **users; /* NULL-terminated; NULL or empty = any account but root */
	bool allow_root;
	int64_t default_duration; /* seconds */
	int64_t max_duration;     /* seconds */
	unsigned key_types;       /* enum key_family bits */
	unsigned min_rsa_bits;
	enum authkeys_mode mode;
	char *from; /* canonical list, or NULL */
	bool added_keys_report; /* added_keys = report: found, not removed */
	bool report_changes;    /* count the home's changed files at a grant's end */
	/* [tokens] */
	bool require_signed;
	struct config_signer *signers;
	size_t n_signers;
	/* [sshd] */
	unsigned sshd_port; /* 0 = auto */
	enum config_expiry_format expiry_format;
	char *sshd_config; /* sshd's config file, for sshd -T -f */
	char *sshd_log;    /* the file sshd logs to; NULL: the journal */
};

/* One entry per key: the single table that check-config, conf/sshlease.conf
 * and the man page are checked against. */
struct config_key_info {
	const char *section;
	const char *key;
	const char *default_text; /* as written in conf/sshlease.conf */
	const char *help;         /* one line: why it exists */
};

extern const struct config_key_info config_keys[];
extern const size_t config_keys_count;

/* The entry for key in section, or NULL. */
const struct config_key_info *config_key_find(const char *section, const char *key);

/*
 * Longest line config_load accepts, in bytes without the line end. inih r55
 * (Debian 12) reads at most 199 bytes at a time and silently parses the rest
 * of a longer line as a line of its own, so such a line is refused instead.
 */
#define CONFIG_LINE_MAX 199

/* A config with every compiled-in default; NULL on out-of-memory. */
struct sshlease_config *config_new_defaults(void);

/*
 * Load path over the defaults. Every problem found is appended to *problems
 * (a NULL-terminated array of "file:line: reason" strings, or "file: reason"
 * for the file as a whole, freed with config_problems_free), so a caller can
 * report them all at once. *problems may start NULL or hold earlier
 * problems; problems itself may be NULL when the caller does not want them.
 * Problems are appended only with SL_REFUSED.
 *
 * Refused: unknown section or key, a key outside any section, a duplicate key
 * (trusted_signer may repeat), a bad value, a line longer than
 * CONFIG_LINE_MAX, an indented line, default_duration > max_duration, root in
 * users without allow_root, require_signed without any trusted_signer, a file
 * that is not regular, not owned by root (or the caller), or writable by
 * group or others.
 *
 * Returns 0 and the config in *out; SL_REFUSED when there were problems (no
 * config is returned then); SL_NOT_FOUND when the file does not exist and
 * missing_ok is false (with missing_ok, the defaults are returned); -errno.
 */
int config_load(const char *path, bool missing_ok, struct sshlease_config **out,
		char ***problems);

void config_problems_free(char **problems);
void config_free(struct sshlease_config *config);

#endif

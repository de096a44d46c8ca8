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
	/* [grant] */
	char **users; /* NULL-terminated; NULL or empty = any account but root */
	bool allow_root;
	int64_t default_duration; /* seconds */
	int64_t max_duration;     /* seconds */
	unsigned key_types;       /* enum key_family bits */
	unsigned min_rsa_bits;
	enum authkeys_mode mode;
	char *from; /* canonical list, or NULL */
	/* [tokens] */
	bool require_signed;
	struct config_signer *signers;
	size_t n_signers;
	/* [sshd] */
	unsigned sshd_port; /* 0 = auto */
	enum config_expiry_format expiry_format;
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

/* A config with every compiled-in default; NULL on out-of-memory. */
struct sshlease_config *config_new_defaults(void);

/*
 * Load path over the defaults. Every problem found is appended to *problems
 * (a NULL-terminated array of "file:line: reason" strings, freed with
 * config_problems_free), so a caller can report them all at once.
 * Returns 0 and the config in *out; SL_REFUSED when there were problems (no
 * config is returned then); SL_NOT_FOUND when the file does not exist and
 * missing_ok is false (with missing_ok, the defaults are returned); -errno.
 */
int config_load(const char *path, bool missing_ok, struct sshlease_config **out,
		char ***problems);

void config_problems_free(char **problems);
void config_free(struct sshlease_config *config);

#endif

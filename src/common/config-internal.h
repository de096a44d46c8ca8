/* Shared by the two halves of the config module: config.c reads and checks
 * the file, config-values.c owns the key table and what each value means.
 * Not installed; include/config.h is the module's contract. */
#ifndef SSHLEASE_CONFIG_INTERNAL_H
#define SSHLEASE_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

enum config_key_id {
	K_SOCKET,
	K_SOCKET_GROUP,
	K_STATE_DIR,
	K_AUDIT_LOG,
	K_AUDIT_ROTATE_SIZE,
	K_USERS,
	K_ALLOW_ROOT,
	K_DEFAULT_DURATION,
	K_MAX_DURATION,
	K_KEY_TYPES,
	K_MIN_RSA_BITS,
	K_MODE,
	K_FROM,
	K_ADDED_KEYS,
	K_REPORT_CHANGES,
	K_REQUIRE_SIGNED,
	K_TRUSTED_SIGNER,
	K_PORT,
	K_EXPIRY_FORMAT,
	K_SSHD_CONFIG,
	K_SSHD_LOG,
	K_COUNT,
};

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

/* Room for a value as config_shown shows it. */
#define SHOWN_SIZE 68

/* Copy text for a message into buf: printable ASCII only, capped with "...". */
const char *config_shown(char *buf, size_t size, const char *text);

/* Record a problem "path:line: reason" (line 0: "path: reason"); an
 * allocation failure sets ctx->error to -ENOMEM. */
void config_problem(struct load_ctx *ctx, int line, const char *fmt, ...)
	SL_PRINTF(3, 4);

/* Parse value for key id into ctx->config, recording a problem when it is
 * refused. 0, or -ENOMEM. */
int config_set_value(struct load_ctx *ctx, enum config_key_id id, const char *value);

/* Whether any key lives in section. */
bool config_section_known(const char *section);

/* The id of the key named name in section, or -1; with section NULL, in
 * any section. */
int config_key_index(const char *section, const char *name);

/* A blank as the config file knows it: space or tab. */
static inline bool config_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Free a NULL-terminated list of strings (NULL is fine). */
void config_strings_free(char **list);

#endif

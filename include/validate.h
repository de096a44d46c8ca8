/* Checks for the small strings a grant carries (DESIGN.md §6). */
#ifndef SSHLEASE_VALIDATE_H
#define SSHLEASE_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

#define TICKET_MAX 64
#define FROM_MAX_ENTRIES 32

/* A ticket: 1..64 chars of [A-Za-z0-9._:#/-]. 0 or SL_REFUSED with *why. */
int ticket_validate(const char *ticket, const char **why);

/*
 * A source list: 1..32 comma-separated IPv4/IPv6 addresses or CIDRs, each
 * checked with inet_pton and prefix bounds (0-32, 0-128; host bits set past
 * the prefix are refused). Refused too: spaces anywhere, empty entries, host
 * names, wildcards, zone ids, leading zeros in a prefix, and an entry listed
 * twice (compared in canonical form). Returns 0 with a new canonical list in
 * *out (inet_ntop forms joined by commas, a prefix kept as given:
 * "2001:DB8::/32" -> "2001:db8::/32"), SL_REFUSED with *why, or -ENOMEM.
 */
int from_validate(const char *list, char **out, const char **why);

/* Signer names (config trusted_signer, token signer key files):
 * 1..SIGNER_NAME_MAX of [A-Za-z0-9._@-]; len bytes at name, which need not
 * be NUL-terminated. */
#define SIGNER_NAME_MAX 64
bool signer_name_valid(const char *name, size_t len);

/* A grant id: GRANT_ID_LEN lower-case hex digits; len bytes at id, which
 * need not be NUL-terminated. The marker in a managed line is
 * "sshlease:" and a grant id. */
#define GRANT_ID_LEN 12
bool grant_id_valid(const char *id, size_t len);

/* A key blob as key_parse leaves it and the state and managed lines keep
 * it: standard base64 (A-Za-z0-9+/), a length that is a multiple of 4, '='
 * only as one or two bytes of final padding, 1..KEY_BLOB_MAX bytes; len
 * bytes at blob, which need not be NUL-terminated. */
#define KEY_BLOB_MAX 8192
bool key_blob_valid(const char *blob, size_t len);

/* An account name as useradd allows it: [a-z_][a-z0-9_.-]*[$]?, <= 32. */
bool username_valid(const char *name);

#endif

/* Public SSH key validation: one submitted key line in, a checked key out. */
#ifndef SSHLEASE_KEY_H
#define SSHLEASE_KEY_H

#include <stddef.h>

#include "common.h"

/* Longest key line accepted (DESIGN.md §6), in bytes, without a newline. */
#define KEY_LINE_MAX 8192

/* Key families as named in the config's key_types. */
enum key_family {
	KEY_FAMILY_ED25519 = 1u << 0,    /* ssh-ed25519 */
	KEY_FAMILY_ECDSA = 1u << 1,      /* ecdsa-sha2-nistp256/384/521 */
	KEY_FAMILY_SK_ED25519 = 1u << 2, /* sk-ssh-ed25519@openssh.com */
	KEY_FAMILY_SK_ECDSA = 1u << 3,   /* sk-ecdsa-sha2-nistp256@openssh.com */
	KEY_FAMILY_RSA = 1u << 4,        /* ssh-rsa */
};

#define KEY_FAMILIES_DEFAULT                                                   \
	(KEY_FAMILY_ED25519 | KEY_FAMILY_ECDSA | KEY_FAMILY_SK_ED25519 |       \
	 KEY_FAMILY_SK_ECDSA | KEY_FAMILY_RSA)
#define KEY_MIN_RSA_BITS_DEFAULT 3072

struct key_policy {
	unsigned allowed_families; /* bitwise OR of enum key_family */
	unsigned min_rsa_bits;
};

struct sshlease_key {
	enum key_family family;
	char *type;        /* the type field, e.g. "ssh-ed25519" */
	char *blob_base64; /* the base64 field exactly as given (canonical) */
	char *comment;     /* display-safe comment, "" when there was none */
	char fingerprint[64]; /* "SHA256:<43 chars>", as ssh-keygen -l prints */
	unsigned bits;     /* key size: RSA modulus bits, 256 for ed25519 ... */
};

/*
 * Parse and check one public key line of exactly `type base64 [comment]`
 * (len bytes at text, which need not be NUL-terminated). Everything listed in
 * DESIGN.md §6 is refused: options, certificates, DSA, CR/LF/NUL, non-ASCII,
 * bad or non-canonical base64, a blob whose type differs from the type field,
 * families not in policy->allowed_families, RSA below policy->min_rsa_bits.
 * A NULL policy means the defaults above.
 *
 * The line grammar, strictly (reject, never guess):
 *   - bytes are printable ASCII (0x20-0x7e) or tab; no NUL, CR or LF
 *     anywhere, so a caller reading a file strips its one final newline
 *     itself; at most KEY_LINE_MAX bytes;
 *   - a blank is one space or one tab; the fields are separated by exactly
 *     one blank; runs of blanks between the fields are refused;
 *   - leading and trailing blanks are refused, not trimmed;
 *   - the comment is the rest of the line after the blank that ends the
 *     base64 field; inside it, blanks of any number are kept.
 * The blob is parsed strictly by its type (canonical RSA numbers, 1024 to
 * 16384 bits as OpenSSH demands; uncompressed ECDSA points; nothing after the
 * key) and loaded by libssh as well; only then are the family and RSA size
 * held against the policy. For a detailed message on a policy refusal, a
 * caller may parse again with every family allowed and min_rsa_bits 0 to
 * learn the family and size.
 *
 * On success key->fingerprint is "SHA256:" and the unpadded base64 of the
 * SHA-256 of the blob, exactly as `ssh-keygen -l -E sha256` prints it, and
 * key->comment has every tab replaced by a space.
 *
 * Returns 0 and a new key in *out (free with key_free), SL_REFUSED with a
 * static reason in *why, -ENOMEM, or -EIO when libsodium cannot start.
 */
int key_parse(const char *text, size_t len, const struct key_policy *policy,
	      struct sshlease_key **out, const char **why);

void key_free(struct sshlease_key *key);

/* "ed25519", "ecdsa", "sk-ed25519", "sk-ecdsa", "rsa". */
const char *key_family_name(enum key_family family);

/* The inverse of key_family_name; returns 0 or SL_NOT_FOUND. */
int key_family_from_name(const char *name, enum key_family *out);

#endif

/* Signed grant tokens ("sl1." lines): sign, decode, verify, signer key files. */
#ifndef SSHLEASE_TOKEN_H
#define SSHLEASE_TOKEN_H

/*
 * A token is what a support vendor sends a merchant instead of a bare key:
 * one line of text that says which key may log in, for how long, from where
 * and in which mode, signed with the vendor's Ed25519 signer key. The daemon
 * trusts a token only when its signature verifies against a trusted_signer
 * of its config. sshlease-token(5) (doc/sshlease-token.5.scd) is the full format description.
 *
 * The text form:
 *
 *     sl1.<base64url(payload)>.<base64url(signature)>
 *
 *   - base64url is RFC 4648 §5 without padding, canonical (the unused low
 *     bits of the last character are zero), as libsodium's
 *     sodium_bin2base64(..., sodium_base64_VARIANT_URLSAFE_NO_PADDING)
 *     writes it; nothing else (no blanks, no line end) is part of a token.
 *   - payload is one JSON object (UTF-8) with these keys:
 *       "v"      integer, required: 1
 *       "key"    string, required: an SSH public key "type base64", exactly
 *                two fields separated by one space, no comment, no options
 *       "ticket" string, optional: ticket reference (validate.h)
 *       "dur"    integer, required: grant duration in seconds,
 *                1..DURATION_MAX, counted from when the grant is made
 *       "from"   string, optional: source list (validate.h from_validate)
 *       "mode"   string, required: "shell" or "sftp"
 *       "user"   string, optional: the only account the token may be
 *                redeemed for (username_valid)
 *       "host"   string, optional: the only host it may be redeemed on
 *                (a host name, 1..253 characters, see token_host_matches)
 *       "iat"    integer, required: issued-at, Unix seconds
 *       "exp"    integer, required: valid-until (end of the redeem window),
 *                Unix seconds, iat < exp <= iat + TOKEN_VALID_MAX
 *       "nonce"  string, required: base64url of TOKEN_NONCE_MIN_BYTES to
 *                TOKEN_NONCE_MAX_BYTES random bytes (token_sign draws
 *                TOKEN_NONCE_BYTES with randombytes_buf)
 *     Keys may come in any order and with any JSON white space; an unknown
 *     key, a doubled key, a missing required key, a null or wrongly typed
 *     value, or a number out of range is refused. Absent optional fields
 *     are left out (null is refused). token_sign writes the keys in the
 *     order above, compact.
 *   - signature is the 64-byte Ed25519 signature (crypto_sign_detached) of
 *         TOKEN_DOMAIN, one NUL byte, then the payload bytes exactly as
 *         they appear base64url-decoded in the token
 *     so verification never re-encodes JSON, and a signature made for
 *     another purpose (or another token version) cannot be replayed here.
 *
 * Size: a token made by token_sign for an ed25519 key, with every field
 * but "from" and "host" at its longest, is at most 520 bytes; a host
 * binding adds at most 360, a source list at most 70 for its first entry
 * and 60 for each further one. The longest token accepted or made is
 * TOKEN_TEXT_MAX bytes (an 8192-bit RSA key still fits, with room to spare
 * for either a long source list or a host binding).
 *
 * How the daemon redeems a token (none of this is done here):
 *   1. token_decode: syntax and field values; refusals carry *why.
 *   2. token_verify_signature against config->signers; the matched
 *      signer's name goes into the grant (state.h grant.signer).
 *   3. token_check_time(token, now, TOKEN_SKEW_DEFAULT).
 *   4. bindings: token->user, when set, must equal the account asked for
 *      (or supply it); token->host, when set, must satisfy
 *      token_host_matches with this host's name.
 *   5. replay: refuse when state_nonce_seen(token->nonce); otherwise
 *      state_nonce_add(token->nonce, token_nonce_keep_until(token, skew))
 *      and save the state before the key line is written. The state keeps
 *      the nonce a day beyond that (state.h STATE_NONCE_MARGIN), so that a
 *      clock stepped back after a prune under a clock far ahead does not
 *      open the window again for a nonce already forgotten. The nonce
 *      store is per host: a token without a host binding can be redeemed
 *      once on every host that trusts its signer (bind it with host).
 *   6. policy as for a raw key: key family and RSA size (token->public_key
 *      was parsed with every family allowed and no RSA minimum; call
 *      key_parse on token->key with the config's policy), duration <=
 *      max_duration, account allowed, mode, from.
 *
 * Return convention as in common.h: 0, SL_REFUSED/SL_EXISTS with a static
 * reason in *why, or -errno (-ENOMEM; -EIO when libsodium cannot start).
 * Every function here runs in-process and starts no other process.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "authkeys.h"
#include "common.h"
#include "config.h"
#include "key.h"
#include "timeutil.h"
#include "validate.h"

#define TOKEN_PREFIX "sl1."
#define TOKEN_VERSION 1
/* Signed message = TOKEN_DOMAIN, a NUL byte, the payload bytes. */
#define TOKEN_DOMAIN "sshlease-token-v1"
/* Longest token text accepted or made, in bytes (no line end). */
#define TOKEN_TEXT_MAX 4096
/* Redeem window (exp - iat): default for `token sign`, and the maximum. */
#define TOKEN_VALID_DEFAULT (24 * 3600)
#define TOKEN_VALID_MAX (7 * 24 * 3600)
/* Clock difference tolerated between signer and host, seconds. */
#define TOKEN_SKEW_DEFAULT 300
#define TOKEN_SKEW_MAX 3600
/* Nonce size: what token_sign draws, and the range accepted. */
#define TOKEN_NONCE_BYTES 16
#define TOKEN_NONCE_MIN_BYTES 16
#define TOKEN_NONCE_MAX_BYTES 64
#define TOKEN_HOST_MAX 253
/* Latest iat/exp accepted: 9999-12-31T23:59:59Z. */
#define TOKEN_TIME_MAX INT64_C(253402300799)
#define TOKEN_SIGNATURE_BYTES 64
#define TOKEN_PUBLIC_KEY_BYTES 32
#define TOKEN_SECRET_KEY_BYTES 64
/* A signer name, as trusted_signer accepts it: 1..64 of [A-Za-z0-9._@-]. */
#define TOKEN_SIGNER_NAME_MAX SIGNER_NAME_MAX
/* "NAME BASE64" with its NUL: the .pub line and trusted_signer's value. */
#define TOKEN_SIGNER_PUBLIC_LINE_SIZE (TOKEN_SIGNER_NAME_MAX + 1 + 44 + 1)

/* What token_sign puts into a token. Strings are borrowed, not kept. */
struct token_claims {
	/* An SSH public key line "type base64 [comment]"; it is checked with
	 * key_parse (every family allowed, no RSA minimum) and written into
	 * the token as "type base64": the comment is dropped. */
	const char *key;
	const char *ticket;     /* or NULL */
	int64_t duration;       /* seconds, 1..DURATION_MAX */
	const char *from;       /* or NULL; written in canonical form */
	enum authkeys_mode mode;
	const char *user;       /* account binding, or NULL */
	const char *host;       /* host binding, or NULL */
	time_t issued_at;       /* Unix seconds, 1..TOKEN_TIME_MAX */
	time_t valid_until;     /* 0 = issued_at + TOKEN_VALID_DEFAULT */
	/* NULL (the normal case): TOKEN_NONCE_BYTES fresh random bytes. A
	 * given nonce (base64url, 16..64 bytes) makes the token reproducible,
	 * for test vectors only: a nonce used twice is refused as a replay. */
	const char *nonce;
};

/* A decoded token. Every field is owned by the token; read-only. */
struct token {
	int version;                 /* TOKEN_VERSION */
	char *key;                   /* "type base64", as in the payload */
	/* token->key parsed by key_parse with every family allowed and
	 * min_rsa_bits 0: fingerprint, family and size for display; the
	 * config's key policy is the caller's to apply. */
	struct sshlease_key *public_key;
	char *ticket;                /* or NULL */
	int64_t duration;            /* seconds, 1..DURATION_MAX */
	char *from;                  /* canonical form (from_validate), or NULL */
	enum authkeys_mode mode;
	char *user;                  /* account binding, or NULL */
	char *host;                  /* host binding, or NULL */
	time_t issued_at;
	time_t valid_until;
	char *nonce;                 /* base64url text, as in the payload */
	/* The exact payload bytes that were signed (JSON, not NUL-terminated)
	 * and the signature over TOKEN_DOMAIN NUL payload. */
	const unsigned char *payload;
	size_t payload_len;
	unsigned char signature[TOKEN_SIGNATURE_BYTES];
	/* private to token.c */
	unsigned char *signed_message;
	size_t signed_message_len;
};

/* A signer's secret key, as token_signer_load reads it. */
struct token_signer {
	char name[TOKEN_SIGNER_NAME_MAX + 1];
	unsigned char public_key[TOKEN_PUBLIC_KEY_BYTES];
	/* libsodium's form: 32-byte seed, then the public key */
	unsigned char secret_key[TOKEN_SECRET_KEY_BYTES];
};

/*
 * Make a token for claims, signed with secret_key (libsodium's 64-byte
 * Ed25519 secret key, e.g. token_signer.secret_key). Every claim is checked
 * as token_decode would check it, with the same reasons; a secret key whose
 * public half does not belong to its seed is refused too. The result is
 * decoded and verified once more before it is returned, so a token made here
 * is always one token_decode accepts.
 * Returns 0 and a new NUL-terminated string (free()) in *out; SL_REFUSED
 * with *why (a bad claim, or a token longer than TOKEN_TEXT_MAX); -ENOMEM;
 * -EIO when libsodium cannot start.
 */
int token_sign(const struct token_claims *claims,
	       const unsigned char secret_key[TOKEN_SECRET_KEY_BYTES],
	       char **out, const char **why);

/*
 * Whether text looks like a token of any version ("sl" and a digit), so a
 * caller can send "sl2...." to token_decode for a clear refusal rather than
 * to key_parse. No key type starts that way.
 */
bool token_looks_like(const char *text);

/*
 * Parse text (NUL-terminated; no blanks, no line end: a caller reading a
 * file or standard input strips the one final newline itself) and check
 * its syntax and every field as listed above. The signature is NOT checked
 * here and the times are not compared with the clock: a decoded token is
 * not yet trusted. Strict: a wrong prefix or version, bad or non-canonical
 * base64url, a truncated or over-long token, bad JSON, unknown, doubled or
 * missing keys, wrong types and out-of-range values are refused.
 * Returns 0 and a new token in *out (free with token_free); SL_REFUSED with
 * *why; -ENOMEM; -EIO when libsodium cannot start.
 */
int token_decode(const char *text, struct token **out, const char **why);

void token_free(struct token *token);

/*
 * Check token's signature against each of the n trusted signers (config.h;
 * normally config->signers, config->n_signers). Returns 0 with *matched
 * set to the signer that signed it (matched may be NULL); SL_REFUSED with
 * *why when no signer is configured or none verifies; -EIO when libsodium
 * cannot start.
 */
int token_verify_signature(const struct token *token,
			   const struct config_signer *signers, size_t n,
			   const struct config_signer **matched, const char **why);

/*
 * Check the redeem window against now, allowing skew_seconds (normally
 * TOKEN_SKEW_DEFAULT) of clock difference either way: refused when
 * issued_at > now + skew ("not valid yet") or now > valid_until + skew
 * ("expired"). Returns 0, SL_REFUSED with *why, or -EINVAL for a skew
 * outside 0..TOKEN_SKEW_MAX.
 */
int token_check_time(const struct token *token, time_t now, int skew_seconds,
		     const char **why);

/*
 * Until when the daemon must remember token->nonce so that the token cannot
 * be redeemed twice: valid_until + skew_seconds, the last instant
 * token_check_time accepts it with that skew. (The state keeps it
 * STATE_NONCE_MARGIN longer still, against clock steps.)
 */
time_t token_nonce_keep_until(const struct token *token, int skew_seconds);

/*
 * Whether the token may be redeemed on a host called hostname (as
 * gethostname(2) reports it): true when the token has no host binding, or
 * when the binding equals hostname ignoring ASCII case. A NULL hostname
 * matches only a token without a binding.
 */
bool token_host_matches(const struct token *token, const char *hostname);

/*
 * Whether name is a valid signer name: 1..TOKEN_SIGNER_NAME_MAX of
 * [A-Za-z0-9._@-], the rule of trusted_signer in the config.
 */
bool token_signer_name_valid(const char *name);

/*
 * Make a new Ed25519 signer key named name and write two new files:
 *
 *   path      mode 0600, the secret key, exactly three lines (each ending
 *             in LF, nothing else in the file):
 *                 sshlease-signer-secret-key-v1
 *                 NAME
 *                 BASE64
 *             BASE64 is standard base64 with padding (88 characters) of
 *             libsodium's 64-byte secret key: the 32-byte seed, then the
 *             32-byte public key.
 *   path.pub  mode 0644 (less the umask), one line "NAME BASE64" + LF,
 *             BASE64 being standard base64 with padding (44 characters) of
 *             the 32-byte public key: exactly the value trusted_signer
 *             takes in the config.
 *
 * Each is written to a temp file beside it, every step checked, and moved
 * into place only if absent (fsutil_replace, FSUTIL_NOREPLACE), so an
 * existing file (or symlink) at either path is never overwritten
 * (SL_EXISTS) and no file is ever seen half-written; the directory is
 * fsync'ed after each. On any failure the files made here are removed.
 * Returns 0; SL_REFUSED with *why (bad name); SL_EXISTS with *why; -errno.
 */
int token_keygen(const char *path, const char *name, const char **why);

/*
 * Read the secret key file at path (the form token_keygen writes). Refused
 * (SL_REFUSED, *why): a file that is not regular or is a symlink, owned by
 * someone other than the caller (euid) or root, readable or writable by
 * group or others (chmod 600 it), larger than 1 KiB, or not exactly the
 * three lines above with a valid name and a secret key whose public half
 * belongs to its seed. Returns 0 and a new signer in *out (free with
 * token_signer_free, which wipes it); SL_NOT_FOUND when path does not
 * exist; SL_REFUSED; -errno.
 */
int token_signer_load(const char *path, struct token_signer **out, const char **why);

/* Wipe and free a signer (NULL is fine). */
void token_signer_free(struct token_signer *signer);

/*
 * The signer's public line "NAME BASE64" (no line end), as in path.pub and
 * trusted_signer; buf needs TOKEN_SIGNER_PUBLIC_LINE_SIZE bytes. Truncated
 * (always NUL-terminated) when size is smaller.
 */
void token_signer_public_line(const struct token_signer *signer, char *buf,
			      size_t size);

#endif

/* Signed grant tokens: the sl1. text form, its strict decoder, Ed25519
 * signing and verification (see token.h; the signer's key files are in
 * token-signer.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <sodium.h>

#include "timeutil.h"
#include "token.h"
#include "validate.h"

_Static_assert(TOKEN_SIGNATURE_BYTES == crypto_sign_BYTES, "signature size");
_Static_assert(TOKEN_PUBLIC_KEY_BYTES == crypto_sign_PUBLICKEYBYTES, "public key size");
_Static_assert(TOKEN_SECRET_KEY_BYTES == crypto_sign_SECRETKEYBYTES, "secret key size");

#define PREFIX_LEN (sizeof(TOKEN_PREFIX) - 1)
/* TOKEN_DOMAIN and its NUL byte. */
#define DOMAIN_LEN sizeof(TOKEN_DOMAIN)
/* base64url without padding of a 64-byte signature. */
#define SIGNATURE_B64_LEN 86
#define NONCE_B64_MAX 86 /* of TOKEN_NONCE_MAX_BYTES */


/* ---- reasons: the user reads them, the tests pin them ---- */

static const char why_empty[] = "token is empty";
static const char why_too_long[] = "token is longer than 4096 bytes";
static const char why_truncated[] = "token is truncated; copy the whole sl1. line";
static const char why_prefix[] = "not a token: a token starts with sl1.";
static const char why_version_other[] =
	"token version is not supported; this sshlease reads version 1 (sl1.)";
static const char *const why_version[10] = {
	"token version 0 is not supported; this sshlease reads version 1 (sl1.)",
	why_version_other, /* "sl1" never gets here */
	"token version 2 is not supported; this sshlease reads version 1 (sl1.)",
	"token version 3 is not supported; this sshlease reads version 1 (sl1.)",
	"token version 4 is not supported; this sshlease reads version 1 (sl1.)",
	"token version 5 is not supported; this sshlease reads version 1 (sl1.)",
	"token version 6 is not supported; this sshlease reads version 1 (sl1.)",
	"token version 7 is not supported; this sshlease reads version 1 (sl1.)",
	"token version 8 is not supported; this sshlease reads version 1 (sl1.)",
	"token version 9 is not supported; this sshlease reads version 1 (sl1.)",
};
static const char why_b64[] =
	"token contains a character outside base64url (A-Z a-z 0-9 - _); "
	"no padding, blanks or line breaks";
static const char why_b64_canonical[] =
	"token is not canonical base64url (impossible length or stray trailing bits)";
static const char why_empty_payload[] = "token has an empty payload";
static const char why_extra_part[] = "token has more than two parts after sl1.";
static const char why_signature_long[] = "token signature is longer than 64 bytes";
static const char why_json[] = "token payload is not valid JSON";
static const char why_not_object[] = "token payload is not a JSON object";
static const char why_duplicate[] = "token payload has a duplicate key";
static const char why_unknown_key[] =
	"token payload has an unknown key (known: v, key, ticket, dur, from, "
	"mode, user, host, iat, exp, nonce)";
static const char why_version_field[] =
	"token \"v\" is not 1, though the token starts with sl1.";
static const char why_key_form[] =
	"token \"key\" must be exactly 'type base64' (one space, no comment)";
static const char why_duration[] =
	"token \"dur\" (duration) is out of range (1 second to 100 years)";
static const char why_mode[] = "token \"mode\" is neither shell nor sftp";
static const char why_user[] = "token \"user\" is not a valid account name";
static const char why_host[] = "token \"host\" is not a valid host name";
static const char why_issued[] = "token \"iat\" (issued-at) is out of range";
static const char why_window_order[] =
	"token \"exp\" (valid-until) is not after its \"iat\" (issued-at)";
static const char why_window_long[] =
	"token redeem window (exp - iat) is longer than 7 days";
static const char why_nonce[] =
	"token \"nonce\" is not 16 to 64 bytes of base64url";
static const char why_no_signers[] =
	"no trusted_signer is configured, so no token can be accepted";
static const char why_signature[] =
	"token signature does not verify against any trusted_signer";
static const char why_not_yet[] =
	"token is not valid yet: it was issued in the future "
	"(check the clocks of this host and of the signer)";
static const char why_expired[] = "token has expired; ask for a new one";
static const char why_secret_key[] =
	"the signer's secret key does not match its public half (damaged key file?)";
static const char why_sign_too_long[] =
	"the token would be longer than 4096 bytes (fewer from entries or a smaller key)";

/* ---- payload fields ---- */

enum field_id {
	F_V,
	F_KEY,
	F_TICKET,
	F_DUR,
	F_FROM,
	F_MODE,
	F_USER,
	F_HOST,
	F_IAT,
	F_EXP,
	F_NONCE,
	F_COUNT,
};

struct field_info {
	const char *name;
	bool integer;
	bool required;
	const char *missing;    /* reason when a required key is absent */
	const char *wrong_type; /* reason when the value has the wrong type */
};

/* In the order token_sign writes them. */
static const struct field_info fields[F_COUNT] = {
	[F_V] = { "v", true, true, "token has no \"v\" (version)",
		  "token \"v\" is not an integer" },
	[F_KEY] = { "key", false, true, "token has no \"key\" (public key)",
		    "token \"key\" is not a string" },
	[F_TICKET] = { "ticket", false, false, NULL,
		       "token \"ticket\" is not a string (leave the key out when there is none)" },
	[F_DUR] = { "dur", true, true, "token has no \"dur\" (duration)",
		    "token \"dur\" is not an integer (seconds)" },
	[F_FROM] = { "from", false, false, NULL,
		     "token \"from\" is not a string (leave the key out when there is none)" },
	[F_MODE] = { "mode", false, true, "token has no \"mode\"",
		     "token \"mode\" is not a string" },
	[F_USER] = { "user", false, false, NULL,
		     "token \"user\" is not a string (leave the key out when there is none)" },
	[F_HOST] = { "host", false, false, NULL,
		     "token \"host\" is not a string (leave the key out when there is none)" },
	[F_IAT] = { "iat", true, true, "token has no \"iat\" (issued-at)",
		    "token \"iat\" is not an integer (Unix seconds)" },
	[F_EXP] = { "exp", true, true, "token has no \"exp\" (valid-until)",
		    "token \"exp\" is not an integer (Unix seconds)" },
	[F_NONCE] = { "nonce", false, true, "token has no \"nonce\"",
		      "token \"nonce\" is not a string" },
};

static const struct key_policy any_key = {
	.allowed_families = KEY_FAMILIES_DEFAULT,
	.min_rsa_bits = 0,
};

/* ---- small helpers ---- */

static bool b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static bool b64url_alphabet(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (!b64url_char(s[i]))
			return false;
	}
	return true;
}

/* Canonical unpadded base64url of len chars into at most bin_max bytes:
 * true with *bin_len set, or false. libsodium refuses stray trailing bits
 * and impossible lengths; the end pointer catches anything left over. */
static bool b64url_decode(const char *s, size_t len, unsigned char *bin,
			  size_t bin_max, size_t *bin_len)
{
	const char *end = NULL;

	if (sodium_base642bin(bin, bin_max, s, len, NULL, bin_len, &end,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return false;
	return end == s + len;
}

static bool nonce_valid(const char *nonce)
{
	unsigned char bin[TOKEN_NONCE_MAX_BYTES];
	size_t len = strnlen(nonce, NONCE_B64_MAX + 1), bin_len = 0;

	if (len == 0 || len > NONCE_B64_MAX || !b64url_alphabet(nonce, len))
		return false;
	if (!b64url_decode(nonce, len, bin, sizeof(bin), &bin_len))
		return false;
	return bin_len >= TOKEN_NONCE_MIN_BYTES && bin_len <= TOKEN_NONCE_MAX_BYTES;
}

/* A DNS host name: labels of 1..63 letters, digits and inner hyphens,
 * joined by single dots, 253 characters at most, no final dot. */
static bool host_valid(const char *host)
{
	size_t len = strnlen(host, TOKEN_HOST_MAX + 1), label = 0;

	if (len == 0 || len > TOKEN_HOST_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = host[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || host[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (c == '-' && label == 0)
			return false;
		label++;
	}
	return true;
}

static int dup_optional(const char *s, char **out)
{
	*out = NULL;
	if (!s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

/* The part of the reason for a version that is not ours, for text that
 * does not start with TOKEN_PREFIX. */
static const char *version_reason(const char *text, size_t len)
{
	size_t i = 2;

	if (len < 3 || text[0] != 's' || text[1] != 'l' || text[2] < '0' || text[2] > '9')
		return why_prefix;
	while (i < len && text[i] >= '0' && text[i] <= '9')
		i++;
	if (i < len && text[i] != '.')
		return why_prefix;
	if (i == 3)
		return why_version[text[2] - '0'];
	return why_version_other;
}

bool token_looks_like(const char *text)
{
	return text && text[0] == 's' && text[1] == 'l' && text[2] >= '0' && text[2] <= '9';
}

/* ---- the fields, checked the same way for decoding and signing ---- */

void token_free(struct token *token)
{
	if (!token)
		return;
	free(token->key);
	key_free(token->public_key);
	free(token->ticket);
	free(token->from);
	free(token->user);
	free(token->host);
	free(token->nonce);
	free(token->signed_message);
	free(token);
}

/* Check every field of t (strings already set, signature not involved),
 * parse its key into t->public_key and canonicalise t->from.
 * 0, SL_REFUSED with *why, or -errno. */
static int check_fields(struct token *t, const char **why)
{
	struct sshlease_key *key = NULL;
	char *canonical = NULL;
	size_t key_len;
	int r;

	if (t->version != TOKEN_VERSION) {
		*why = why_version_field;
		return SL_REFUSED;
	}
	key_len = strnlen(t->key, KEY_LINE_MAX + 1);
	r = key_parse(t->key, key_len, &any_key, &key, why);
	if (r != 0)
		return r;
	if (key->comment[0] != '\0' ||
	    strlen(key->type) + 1 + strlen(key->blob_base64) != key_len ||
	    t->key[strlen(key->type)] != ' ') {
		key_free(key);
		*why = why_key_form;
		return SL_REFUSED;
	}
	key_free(t->public_key);
	t->public_key = key;

	if (t->ticket) {
		r = ticket_validate(t->ticket, why);
		if (r != 0)
			return r;
	}
	if (t->duration < 1 || t->duration > DURATION_MAX) {
		*why = why_duration;
		return SL_REFUSED;
	}
	if (t->from) {
		r = from_validate(t->from, &canonical, why);
		if (r != 0)
			return r;
		free(t->from);
		t->from = canonical;
	}
	if (t->mode != AUTHKEYS_MODE_SHELL && t->mode != AUTHKEYS_MODE_SFTP) {
		*why = why_mode;
		return SL_REFUSED;
	}
	if (t->user && !username_valid(t->user)) {
		*why = why_user;
		return SL_REFUSED;
	}
	if (t->host && !host_valid(t->host)) {
		*why = why_host;
		return SL_REFUSED;
	}
	if (t->issued_at < 1 || t->issued_at > TOKEN_TIME_MAX) {
		*why = why_issued;
		return SL_REFUSED;
	}
	if (t->valid_until <= t->issued_at) {
		*why = why_window_order;
		return SL_REFUSED;
	}
	if (t->valid_until - t->issued_at > TOKEN_VALID_MAX) {
		*why = why_window_long;
		return SL_REFUSED;
	}
	if (!nonce_valid(t->nonce)) {
		*why = why_nonce;
		return SL_REFUSED;
	}
	return 0;
}

/* ---- decoding ---- */

static int take_string(json_t *value, char **out)
{
	*out = strdup(json_string_value(value));
	return *out ? 0 : -ENOMEM;
}

/* Fill t from the payload object. 0, SL_REFUSED with *why, or -ENOMEM. */
static int read_payload(json_t *root, struct token *t, const char **why)
{
	json_t *values[F_COUNT] = { 0 };
	json_t *value;
	const char *name;
	int r;

	/* The version first, so a payload of another version is named as such
	 * rather than by whatever key it has that we do not know. */
	value = json_object_get(root, "v");
	if (value && json_is_integer(value) && json_integer_value(value) != TOKEN_VERSION) {
		*why = why_version_field;
		return SL_REFUSED;
	}
	json_object_foreach(root, name, value) {
		size_t i;

		for (i = 0; i < F_COUNT; i++) {
			if (strcmp(name, fields[i].name) == 0)
				break;
		}
		if (i == F_COUNT) {
			*why = why_unknown_key;
			return SL_REFUSED;
		}
		values[i] = value;
	}
	for (size_t i = 0; i < F_COUNT; i++) {
		if (!values[i]) {
			if (fields[i].required) {
				*why = fields[i].missing;
				return SL_REFUSED;
			}
			continue;
		}
		if (fields[i].integer ? !json_is_integer(values[i]) :
					!json_is_string(values[i])) {
			*why = fields[i].wrong_type;
			return SL_REFUSED;
		}
	}

	t->version = (int)json_integer_value(values[F_V]);
	t->duration = json_integer_value(values[F_DUR]);
	/* Range-check before narrowing to time_t. */
	if (json_integer_value(values[F_IAT]) < 1 ||
	    json_integer_value(values[F_IAT]) > TOKEN_TIME_MAX) {
		*why = why_issued;
		return SL_REFUSED;
	}
	t->issued_at = (time_t)json_integer_value(values[F_IAT]);
	if (json_integer_value(values[F_EXP]) <= t->issued_at) {
		*why = why_window_order;
		return SL_REFUSED;
	}
	if (json_integer_value(values[F_EXP]) - t->issued_at > TOKEN_VALID_MAX) {
		*why = why_window_long;
		return SL_REFUSED;
	}
	t->valid_until = (time_t)json_integer_value(values[F_EXP]);
	if (!authkeys_mode_parse(json_string_value(values[F_MODE]), &t->mode)) {
		*why = why_mode;
		return SL_REFUSED;
	}
	if ((r = take_string(values[F_KEY], &t->key)) < 0 ||
	    (r = take_string(values[F_NONCE], &t->nonce)) < 0)
		return r;
	if ((values[F_TICKET] && (r = take_string(values[F_TICKET], &t->ticket)) < 0) ||
	    (values[F_FROM] && (r = take_string(values[F_FROM], &t->from)) < 0) ||
	    (values[F_USER] && (r = take_string(values[F_USER], &t->user)) < 0) ||
	    (values[F_HOST] && (r = take_string(values[F_HOST], &t->host)) < 0))
		return r;
	return check_fields(t, why);
}

int token_decode(const char *text, struct token **out, const char **why)
{
	struct token *t = NULL;
	const char *body, *dot, *sig_b64;
	size_t len, body_len, payload_b64_len, sig_b64_len, payload_len = 0, sig_len = 0;
	json_t *root = NULL;
	json_error_t error;
	int r;

	*out = NULL;
	if (sodium_init() < 0)
		return -EIO;
	len = strnlen(text, TOKEN_TEXT_MAX + 1);
	if (len == 0) {
		*why = why_empty;
		return SL_REFUSED;
	}
	if (len > TOKEN_TEXT_MAX) {
		*why = why_too_long;
		return SL_REFUSED;
	}
	if (len < PREFIX_LEN && memcmp(text, TOKEN_PREFIX, len) == 0) {
		*why = why_truncated;
		return SL_REFUSED;
	}
	if (len < PREFIX_LEN || memcmp(text, TOKEN_PREFIX, PREFIX_LEN) != 0) {
		*why = version_reason(text, len);
		return SL_REFUSED;
	}

	body = text + PREFIX_LEN;
	body_len = len - PREFIX_LEN;
	dot = memchr(body, '.', body_len);
	if (!dot) {
		*why = b64url_alphabet(body, body_len) ? why_truncated : why_b64;
		return SL_REFUSED;
	}
	payload_b64_len = (size_t)(dot - body);
	sig_b64 = dot + 1;
	sig_b64_len = body_len - payload_b64_len - 1;
	if (payload_b64_len == 0) {
		*why = why_empty_payload;
		return SL_REFUSED;
	}
	if (!b64url_alphabet(body, payload_b64_len)) {
		*why = why_b64;
		return SL_REFUSED;
	}
	if (memchr(sig_b64, '.', sig_b64_len)) {
		*why = why_extra_part;
		return SL_REFUSED;
	}
	if (!b64url_alphabet(sig_b64, sig_b64_len)) {
		*why = why_b64;
		return SL_REFUSED;
	}
	if (sig_b64_len < SIGNATURE_B64_LEN) {
		*why = why_truncated;
		return SL_REFUSED;
	}
	if (sig_b64_len > SIGNATURE_B64_LEN) {
		*why = why_signature_long;
		return SL_REFUSED;
	}

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->signed_message_len = DOMAIN_LEN + payload_b64_len / 4 * 3 + 3;
	t->signed_message = malloc(t->signed_message_len);
	if (!t->signed_message) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(t->signed_message, TOKEN_DOMAIN, DOMAIN_LEN);
	if (!b64url_decode(body, payload_b64_len, t->signed_message + DOMAIN_LEN,
			   t->signed_message_len - DOMAIN_LEN, &payload_len) ||
	    !b64url_decode(sig_b64, sig_b64_len, t->signature,
			   sizeof(t->signature), &sig_len) ||
	    sig_len != sizeof(t->signature)) {
		*why = why_b64_canonical;
		r = SL_REFUSED;
		goto out;
	}
	t->signed_message_len = DOMAIN_LEN + payload_len;
	t->payload = t->signed_message + DOMAIN_LEN;
	t->payload_len = payload_len;

	/* No JSON_DECODE_ANY: the top level must be an object or array;
	 * jansson refuses \u0000, invalid UTF-8, trailing data and integers
	 * beyond long long on its own. */
	root = json_loadb((const char *)t->payload, t->payload_len,
			  JSON_REJECT_DUPLICATES, &error);
	if (!root) {
		if (json_error_code(&error) == json_error_out_of_memory) {
			r = -ENOMEM;
			goto out;
		}
		*why = json_error_code(&error) == json_error_duplicate_key ?
			       why_duplicate : why_json;
		r = SL_REFUSED;
		goto out;
	}
	if (!json_is_object(root)) {
		*why = why_not_object;
		r = SL_REFUSED;
		goto out;
	}
	r = read_payload(root, t, why);
	if (r != 0)
		goto out;
	*out = t;
	t = NULL;
out:
	json_decref(root);
	token_free(t);
	return r;
}

/* ---- verification ---- */

int token_verify_signature(const struct token *token,
			   const struct config_signer *signers, size_t n,
			   const struct config_signer **matched, const char **why)
{
	if (matched)
		*matched = NULL;
	if (sodium_init() < 0)
		return -EIO;
	if (n == 0) {
		*why = why_no_signers;
		return SL_REFUSED;
	}
	for (size_t i = 0; i < n; i++) {
		if (crypto_sign_verify_detached(token->signature, token->signed_message,
						token->signed_message_len,
						signers[i].public_key) == 0) {
			if (matched)
				*matched = &signers[i];
			return 0;
		}
	}
	*why = why_signature;
	return SL_REFUSED;
}

int token_check_time(const struct token *token, time_t now, int skew_seconds,
		     const char **why)
{
	if (skew_seconds < 0 || skew_seconds > TOKEN_SKEW_MAX)
		return -EINVAL;
	/* Both times are bounded by TOKEN_TIME_MAX + TOKEN_VALID_MAX, so
	 * moving them by the skew cannot overflow, whatever now is. */
	if (now < token->issued_at - skew_seconds) {
		*why = why_not_yet;
		return SL_REFUSED;
	}
	if (now > token->valid_until + skew_seconds) {
		*why = why_expired;
		return SL_REFUSED;
	}
	return 0;
}

time_t token_nonce_keep_until(const struct token *token, int skew_seconds)
{
	if (skew_seconds < 0)
		skew_seconds = 0;
	return token->valid_until + skew_seconds;
}

bool token_host_matches(const struct token *token, const char *hostname)
{
	if (!token->host)
		return true;
	return hostname && strcasecmp(token->host, hostname) == 0;
}

/* ---- signing ---- */

/* Set key name in object to a new value; -ENOMEM when either is NULL. */
static int set_new(json_t *object, const char *name, json_t *value)
{
	if (!value || json_object_set_new(object, name, value) != 0)
		return -ENOMEM;
	return 0;
}

static int payload_json(const struct token *t, char **out)
{
	json_t *o = json_object();
	int r = -ENOMEM;

	*out = NULL;
	if (!o)
		return -ENOMEM;
	if (set_new(o, "v", json_integer(t->version)) < 0 ||
	    set_new(o, "key", json_string(t->key)) < 0 ||
	    (t->ticket && set_new(o, "ticket", json_string(t->ticket)) < 0) ||
	    set_new(o, "dur", json_integer(t->duration)) < 0 ||
	    (t->from && set_new(o, "from", json_string(t->from)) < 0) ||
	    set_new(o, "mode", json_string(authkeys_mode_name(t->mode))) < 0 ||
	    (t->user && set_new(o, "user", json_string(t->user)) < 0) ||
	    (t->host && set_new(o, "host", json_string(t->host)) < 0) ||
	    set_new(o, "iat", json_integer(t->issued_at)) < 0 ||
	    set_new(o, "exp", json_integer(t->valid_until)) < 0 ||
	    set_new(o, "nonce", json_string(t->nonce)) < 0)
		goto out;
	*out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (*out)
		r = 0;
out:
	json_decref(o);
	return r;
}

/* The claims as an unsigned token: strings copied, key reduced to
 * "type base64", nonce drawn when not given, every field checked. */
static int claims_token(const struct token_claims *claims, struct token *t,
			const char **why)
{
	struct sshlease_key *key = NULL;
	unsigned char nonce[TOKEN_NONCE_BYTES];
	size_t key_size;
	int r;

	if (!claims->key) {
		*why = fields[F_KEY].missing;
		return SL_REFUSED;
	}
	r = key_parse(claims->key, strnlen(claims->key, KEY_LINE_MAX + 1), &any_key,
		      &key, why);
	if (r != 0)
		return r;
	r = -ENOMEM;
	key_size = strlen(key->type) + 1 + strlen(key->blob_base64) + 1;
	t->key = malloc(key_size);
	if (!t->key)
		goto out;
	snprintf(t->key, key_size, "%s %s", key->type, key->blob_base64);
	if (dup_optional(claims->ticket, &t->ticket) < 0 ||
	    dup_optional(claims->from, &t->from) < 0 ||
	    dup_optional(claims->user, &t->user) < 0 ||
	    dup_optional(claims->host, &t->host) < 0 ||
	    dup_optional(claims->nonce, &t->nonce) < 0)
		goto out;
	if (!t->nonce) {
		t->nonce = malloc(sodium_base64_ENCODED_LEN(
			sizeof(nonce), sodium_base64_VARIANT_URLSAFE_NO_PADDING));
		if (!t->nonce)
			goto out;
		randombytes_buf(nonce, sizeof(nonce));
		sodium_bin2base64(t->nonce,
				  sodium_base64_ENCODED_LEN(sizeof(nonce),
							    sodium_base64_VARIANT_URLSAFE_NO_PADDING),
				  nonce, sizeof(nonce),
				  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	}
	t->version = TOKEN_VERSION;
	t->duration = claims->duration;
	t->mode = claims->mode;
	t->issued_at = claims->issued_at;
	t->valid_until = claims->valid_until;
	if (t->valid_until == 0 && t->issued_at >= 1 && t->issued_at <= TOKEN_TIME_MAX)
		t->valid_until = t->issued_at + TOKEN_VALID_DEFAULT;
	r = check_fields(t, why);
out:
	key_free(key);
	return r;
}

int token_sign(const struct token_claims *claims,
	       const unsigned char secret_key[TOKEN_SECRET_KEY_BYTES],
	       char **out, const char **why)
{
	unsigned char public_key[crypto_sign_PUBLICKEYBYTES];
	unsigned char derived_secret[crypto_sign_SECRETKEYBYTES];
	unsigned char signature[crypto_sign_BYTES];
	struct token unsigned_token = { 0 }, *check = NULL;
	struct config_signer self;
	char *payload = NULL, *message = NULL, *text = NULL;
	size_t payload_len, message_len, payload_b64_size, text_size;
	int r;

	*out = NULL;
	if (sodium_init() < 0)
		return -EIO;
	/* The public half of a secret key must be the one its seed makes, or
	 * the token would carry a signature no trusted_signer can check. */
	crypto_sign_seed_keypair(public_key, derived_secret, secret_key);
	sodium_memzero(derived_secret, sizeof(derived_secret));
	if (sodium_memcmp(public_key, secret_key + crypto_sign_SEEDBYTES,
			  sizeof(public_key)) != 0) {
		*why = why_secret_key;
		return SL_REFUSED;
	}

	r = claims_token(claims, &unsigned_token, why);
	if (r != 0)
		goto out;
	r = payload_json(&unsigned_token, &payload);
	if (r < 0)
		goto out;
	payload_len = strlen(payload);
	message_len = DOMAIN_LEN + payload_len;
	r = -ENOMEM;
	message = malloc(message_len);
	if (!message)
		goto out;
	memcpy(message, TOKEN_DOMAIN, DOMAIN_LEN);
	memcpy(message + DOMAIN_LEN, payload, payload_len);
	crypto_sign_detached(signature, NULL, (unsigned char *)message, message_len,
			     secret_key);

	payload_b64_size = sodium_base64_ENCODED_LEN(
		payload_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	text_size = PREFIX_LEN + payload_b64_size + SIGNATURE_B64_LEN + 2;
	text = malloc(text_size);
	if (!text)
		goto out;
	memcpy(text, TOKEN_PREFIX, PREFIX_LEN);
	sodium_bin2base64(text + PREFIX_LEN, payload_b64_size,
			  (unsigned char *)payload, payload_len,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	strcat(text, ".");
	sodium_bin2base64(text + strlen(text), SIGNATURE_B64_LEN + 1, signature,
			  sizeof(signature), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	if (strlen(text) > TOKEN_TEXT_MAX) {
		*why = why_sign_too_long;
		r = SL_REFUSED;
		goto out;
	}

	/* What we hand out must be what we accept. */
	r = token_decode(text, &check, why);
	if (r != 0)
		goto out;
	self.name = (char *)"self";
	memcpy(self.public_key, public_key, sizeof(self.public_key));
	r = token_verify_signature(check, &self, 1, NULL, why);
	if (r != 0)
		goto out;
	*out = text;
	text = NULL;
out:
	token_free(check);
	free(text);
	free(message);
	free(payload);
	free(unsigned_token.key);
	key_free(unsigned_token.public_key);
	free(unsigned_token.ticket);
	free(unsigned_token.from);
	free(unsigned_token.user);
	free(unsigned_token.host);
	free(unsigned_token.nonce);
	return r;
}

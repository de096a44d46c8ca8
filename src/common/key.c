/* Public SSH key validation: one submitted `type base64 [comment]` line is
 * checked byte by byte, its blob parsed strictly here and again by libssh,
 * and measured against the policy. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libssh/libssh.h>
#include <sodium.h>

#include "key.h"

/* OpenSSH's own bounds on RSA moduli (SSH_RSA_MINIMUM_MODULUS_SIZE and
 * OPENSSL_RSA_MAX_MODULUS_BITS): a key outside them is one sshd would
 * never use, whatever our policy says. */
#define KEY_RSA_FLOOR_BITS 1024
#define KEY_RSA_CEILING_BITS 16384

/* Longest security-key application string we accept ("ssh:" in practice). */
#define KEY_SK_APPLICATION_MAX 255

struct key_type_info {
	const char *name;
	enum key_family family;
	enum ssh_keytypes_e ssh_type;
	const char *curve;  /* ECDSA curve name inside the blob, else NULL */
	size_t field_bytes; /* ECDSA coordinate size */
	unsigned bits;      /* fixed key size; 0 for RSA (measured) */
};

static const struct key_type_info key_types[] = {
	{ "ssh-ed25519", KEY_FAMILY_ED25519, SSH_KEYTYPE_ED25519, NULL, 0, 256 },
	{ "ecdsa-sha2-nistp256", KEY_FAMILY_ECDSA, SSH_KEYTYPE_ECDSA_P256,
	  "nistp256", 32, 256 },
	{ "ecdsa-sha2-nistp384", KEY_FAMILY_ECDSA, SSH_KEYTYPE_ECDSA_P384,
	  "nistp384", 48, 384 },
	{ "ecdsa-sha2-nistp521", KEY_FAMILY_ECDSA, SSH_KEYTYPE_ECDSA_P521,
	  "nistp521", 66, 521 },
	{ "sk-ssh-ed25519@openssh.com", KEY_FAMILY_SK_ED25519,
	  SSH_KEYTYPE_SK_ED25519, NULL, 0, 256 },
	{ "sk-ecdsa-sha2-nistp256@openssh.com", KEY_FAMILY_SK_ECDSA,
	  SSH_KEYTYPE_SK_ECDSA, "nistp256", 32, 256 },
	{ "ssh-rsa", KEY_FAMILY_RSA, SSH_KEYTYPE_RSA, NULL, 0, 0 },
};

static const struct {
	enum key_family family;
	const char *name;
	const char *refused; /* reason when the policy does not allow it */
} key_families[] = {
	{ KEY_FAMILY_ED25519, "ed25519",
	  "ed25519 keys are not allowed by policy (key_types)" },
	{ KEY_FAMILY_ECDSA, "ecdsa",
	  "ecdsa keys are not allowed by policy (key_types)" },
	{ KEY_FAMILY_SK_ED25519, "sk-ed25519",
	  "sk-ed25519 keys are not allowed by policy (key_types)" },
	{ KEY_FAMILY_SK_ECDSA, "sk-ecdsa",
	  "sk-ecdsa keys are not allowed by policy (key_types)" },
	{ KEY_FAMILY_RSA, "rsa",
	  "rsa keys are not allowed by policy (key_types)" },
};

/* sshd's authorized_keys options (sshd(8), AUTHORIZED_KEYS FILE FORMAT),
 * matched case-insensitively like sshd does. */
static const char *const key_option_names[] = {
	"agent-forwarding", "cert-authority", "command", "environment",
	"expiry-time", "from", "no-agent-forwarding", "no-port-forwarding",
	"no-pty", "no-touch-required", "no-user-rc", "no-x11-forwarding",
	"permitlisten", "permitopen", "port-forwarding", "principals", "pty",
	"restrict", "tunnel", "user-rc", "verify-required", "x11-forwarding",
};

#define CERT_SUFFIX "-cert-v01@openssh.com"

static const char *const why_empty = "key line is empty";
static const char *const why_too_long = "key line is longer than 8192 bytes";
static const char *const why_line_break =
	"key line contains a line break (CR or LF); submit exactly one key";
static const char *const why_nul = "key line contains a NUL byte";
static const char *const why_control =
	"key line contains a control character";
static const char *const why_non_ascii =
	"key line contains non-ASCII bytes; only printable ASCII is accepted";
static const char *const why_leading_blank =
	"key line starts with a blank; remove the leading spaces or tabs";
static const char *const why_trailing_blank =
	"key line ends with a blank; remove the trailing spaces or tabs";
static const char *const why_one_field =
	"key line has only one field; expected 'type base64 [comment]'";
static const char *const why_blank_run =
	"key fields must be separated by a single space or tab";
static const char *const why_options =
	"key options are not accepted (sshlease writes its own); submit only "
	"'type base64 [comment]'";
static const char *const why_dsa =
	"DSA (ssh-dss) keys are never accepted; use an ed25519 key";
static const char *const why_certificate =
	"certificates are not accepted; submit the plain public key";
static const char *const why_unknown_type =
	"unknown key type; expected ssh-ed25519, ecdsa-sha2-nistp256/384/521, "
	"sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com or "
	"ssh-rsa";
static const char *const why_b64_alphabet =
	"key data contains a character outside the base64 alphabet";
static const char *const why_b64_padding_inside =
	"key data has '=' padding before its end";
static const char *const why_b64_length =
	"key data length is not a multiple of 4 (truncated, or '=' padding "
	"missing)";
static const char *const why_b64_not_canonical =
	"key data is not canonical base64 (wrong padding or stray trailing "
	"bits)";
static const char *const why_truncated =
	"key data is truncated (a blank or line break inside the base64 text?)";
static const char *const why_type_mismatch =
	"key type field does not match the type inside the key data";
static const char *const why_trailing_data =
	"key data has trailing bytes after the key";
static const char *const why_ed25519_size =
	"ed25519 public key is not 32 bytes";
static const char *const why_ec_curve =
	"ECDSA curve inside the key data does not match the key type";
static const char *const why_ec_point =
	"ECDSA public point is not a valid uncompressed point for its curve";
static const char *const why_sk_application =
	"security key application string is empty, too long or not printable";
static const char *const why_rsa_number =
	"RSA key contains a malformed number (zero, negative or not minimally "
	"encoded)";
static const char *const why_rsa_exponent = "RSA public exponent is invalid";
static const char *const why_rsa_floor =
	"RSA key is shorter than 1024 bits, which OpenSSH refuses";
static const char *const why_rsa_ceiling =
	"RSA key is longer than 16384 bits, which OpenSSH refuses";
static const char *const why_rsa_min =
	"RSA key is shorter than the policy allows (min_rsa_bits); use an "
	"ed25519 key or a larger RSA key";
static const char *const why_libssh =
	"key data is not a valid public key (libssh could not load it)";

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

static size_t field_end(const char *text, size_t len, size_t start)
{
	while (start < len && !is_blank(text[start]))
		start++;
	return start;
}

static bool field_is(const char *field, size_t len, const char *name)
{
	return strlen(name) == len && memcmp(field, name, len) == 0;
}

static const struct key_type_info *type_lookup(const char *field, size_t len)
{
	for (size_t i = 0; i < SL_ARRAY_SIZE(key_types); i++)
		if (field_is(field, len, key_types[i].name))
			return &key_types[i];
	return NULL;
}

/* A type we know to name a key, accepted or not: what follows an options
 * prefix. */
static bool type_is_key_like(const char *field, size_t len)
{
	size_t suffix = strlen(CERT_SUFFIX);

	if (type_lookup(field, len) || field_is(field, len, "ssh-dss"))
		return true;
	return len > suffix && memcmp(field + len - suffix, CERT_SUFFIX, suffix) == 0;
}

static bool is_option_name(const char *field, size_t len)
{
	for (size_t i = 0; i < SL_ARRAY_SIZE(key_option_names); i++) {
		const char *name = key_option_names[i];

		if (strlen(name) == len && strncasecmp(field, name, len) == 0)
			return true;
	}
	return false;
}

/*
 * The first field is no key type we know. It is an options prefix when it
 * has option syntax or names an option, or when a key type follows later on
 * the line (`restrict ssh-ed25519 ...`); otherwise it is an unknown type.
 */
static const char *classify_unknown_first(const char *text, size_t len,
					  size_t first_end)
{
	size_t pos;

	for (pos = 0; pos < first_end; pos++)
		if (text[pos] == '=' || text[pos] == '"' || text[pos] == ',')
			return why_options;
	if (is_option_name(text, first_end))
		return why_options;
	pos = first_end;
	while (pos < len) {
		size_t start, end;

		while (pos < len && is_blank(text[pos]))
			pos++;
		start = pos;
		end = field_end(text, len, start);
		if (end > start && type_is_key_like(text + start, end - start))
			return why_options;
		pos = end;
	}
	return why_unknown_type;
}

/* Byte-level checks on the whole line; the most telling problem wins. */
static const char *check_bytes(const char *text, size_t len)
{
	bool line_break = false, nul = false, control = false, high = false;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '\r' || c == '\n')
			line_break = true;
		else if (c == '\0')
			nul = true;
		else if (c >= 0x80)
			high = true;
		else if ((c < 0x20 && c != '\t') || c == 0x7f)
			control = true;
	}
	if (line_break)
		return why_line_break;
	if (nul)
		return why_nul;
	if (control)
		return why_control;
	if (high)
		return why_non_ascii;
	return NULL;
}

/* Strict base64: standard alphabet, '=' only as final padding, length a
 * multiple of 4, and the text must be exactly what re-encoding the decoded
 * bytes gives. On success *blob is allocated (free it). */
static int decode_base64(const char *b64, size_t b64_len, unsigned char **blob,
			 size_t *blob_len, const char **why)
{
	unsigned char *bin = NULL;
	char *again = NULL;
	size_t data_len = b64_len, bin_len = 0, again_size;
	int r;

	while (data_len > 0 && b64[data_len - 1] == '=')
		data_len--;
	for (size_t i = 0; i < b64_len; i++) {
		if (b64[i] == '=') {
			if (i < data_len) {
				*why = why_b64_padding_inside;
				r = SL_REFUSED;
				goto out;
			}
		} else if (!is_b64_char(b64[i])) {
			*why = why_b64_alphabet;
			r = SL_REFUSED;
			goto out;
		}
	}
	if (data_len == 0) {
		*why = why_b64_padding_inside;
		r = SL_REFUSED;
		goto out;
	}
	if (b64_len % 4 != 0) {
		*why = why_b64_length;
		r = SL_REFUSED;
		goto out;
	}
	bin = malloc(b64_len / 4 * 3);
	if (!bin) {
		r = -ENOMEM;
		goto out;
	}
	if (sodium_base642bin(bin, b64_len / 4 * 3, b64, b64_len, NULL, &bin_len,
			      NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
		*why = why_b64_not_canonical;
		r = SL_REFUSED;
		goto out;
	}
	again_size = sodium_base64_ENCODED_LEN(bin_len,
					       sodium_base64_VARIANT_ORIGINAL);
	again = malloc(again_size);
	if (!again) {
		r = -ENOMEM;
		goto out;
	}
	sodium_bin2base64(again, again_size, bin, bin_len,
			  sodium_base64_VARIANT_ORIGINAL);
	if (strlen(again) != b64_len || memcmp(again, b64, b64_len) != 0) {
		*why = why_b64_not_canonical;
		r = SL_REFUSED;
		goto out;
	}
	*blob = bin;
	*blob_len = bin_len;
	bin = NULL;
	r = 0;
out:
	free(bin);
	free(again);
	return r;
}

/* Reader for the SSH wire format (RFC 4251 §5). */
struct wire {
	const unsigned char *p;
	size_t left;
};

static bool wire_string(struct wire *w, const unsigned char **s, size_t *len)
{
	uint32_t n;

	if (w->left < 4)
		return false;
	n = (uint32_t)w->p[0] << 24 | (uint32_t)w->p[1] << 16 |
	    (uint32_t)w->p[2] << 8 | (uint32_t)w->p[3];
	if (n > w->left - 4)
		return false;
	*s = w->p + 4;
	*len = n;
	w->p += 4 + (size_t)n;
	w->left -= 4 + (size_t)n;
	return true;
}

static unsigned bit_length(const unsigned char *num, size_t len)
{
	unsigned bits;

	while (len > 0 && *num == 0) {
		num++;
		len--;
	}
	if (len == 0)
		return 0;
	bits = (unsigned)(len - 1) * 8;
	for (unsigned char top = *num; top; top >>= 1)
		bits++;
	return bits;
}

/* A positive mpint in its one canonical encoding: OpenSSH re-encodes keys
 * before it fingerprints them, so any other encoding would make our
 * fingerprint differ from ssh-keygen's. */
static bool mpint_positive_canonical(const unsigned char *num, size_t len)
{
	if (len == 0 || (num[0] & 0x80))
		return false;
	if (num[0] == 0 && (len == 1 || !(num[1] & 0x80)))
		return false;
	return true;
}

static const char *parse_rsa(struct wire *w, unsigned *bits)
{
	const unsigned char *e, *n;
	size_t e_len, n_len;

	if (!wire_string(w, &e, &e_len) || !wire_string(w, &n, &n_len))
		return why_truncated;
	if (!mpint_positive_canonical(e, e_len) ||
	    !mpint_positive_canonical(n, n_len))
		return why_rsa_number;
	*bits = bit_length(n, n_len);
	/* An even or tiny exponent, or one as long as the modulus, is no RSA
	 * public key anyone generates. */
	if (!(e[e_len - 1] & 1) || bit_length(e, e_len) < 2 ||
	    bit_length(e, e_len) >= *bits)
		return why_rsa_exponent;
	if (*bits < KEY_RSA_FLOOR_BITS)
		return why_rsa_floor;
	if (*bits > KEY_RSA_CEILING_BITS)
		return why_rsa_ceiling;
	return NULL;
}

/* Uncompressed point 04||X||Y of the curve's size, with the extra check
 * OpenSSH makes (sshkey_ec_validate_public): each coordinate longer than
 * half the group order. That the point is on the curve is libssh's part. */
static const char *parse_ecdsa_point(struct wire *w,
				     const struct key_type_info *info)
{
	const unsigned char *curve, *q;
	size_t curve_len, q_len;
	unsigned half = info->bits / 2;

	if (!wire_string(w, &curve, &curve_len) || !wire_string(w, &q, &q_len))
		return why_truncated;
	if (!field_is((const char *)curve, curve_len, info->curve))
		return why_ec_curve;
	if (q_len != 1 + 2 * info->field_bytes || q[0] != 0x04)
		return why_ec_point;
	if (bit_length(q + 1, info->field_bytes) <= half ||
	    bit_length(q + 1 + info->field_bytes, info->field_bytes) <= half)
		return why_ec_point;
	return NULL;
}

static const char *parse_sk_application(struct wire *w)
{
	const unsigned char *app;
	size_t app_len;

	if (!wire_string(w, &app, &app_len))
		return why_truncated;
	if (app_len == 0 || app_len > KEY_SK_APPLICATION_MAX)
		return why_sk_application;
	for (size_t i = 0; i < app_len; i++)
		if (app[i] < 0x20 || app[i] >= 0x7f)
			return why_sk_application;
	return NULL;
}

/* Parse the blob by the rules of its type; it must be consumed exactly. */
static const char *parse_blob(const unsigned char *blob, size_t blob_len,
			      const struct key_type_info *info, unsigned *bits)
{
	struct wire w = { blob, blob_len };
	const unsigned char *type, *pk;
	size_t type_len, pk_len;
	const char *why = NULL;

	if (!wire_string(&w, &type, &type_len))
		return why_truncated;
	if (!field_is((const char *)type, type_len, info->name))
		return why_type_mismatch;
	*bits = info->bits;
	switch (info->family) {
	case KEY_FAMILY_ED25519:
	case KEY_FAMILY_SK_ED25519:
		if (!wire_string(&w, &pk, &pk_len))
			return why_truncated;
		if (pk_len != crypto_sign_ed25519_PUBLICKEYBYTES)
			return why_ed25519_size;
		if (info->family == KEY_FAMILY_SK_ED25519)
			why = parse_sk_application(&w);
		break;
	case KEY_FAMILY_ECDSA:
	case KEY_FAMILY_SK_ECDSA:
		why = parse_ecdsa_point(&w, info);
		if (!why && info->family == KEY_FAMILY_SK_ECDSA)
			why = parse_sk_application(&w);
		break;
	case KEY_FAMILY_RSA:
		why = parse_rsa(&w, bits);
		break;
	}
	if (!why && w.left != 0)
		why = why_trailing_data;
	return why;
}

/* libssh must load the key too, as the type we expect: a second, independent
 * parser (it checks, for one, that an ECDSA point is on its curve). */
static bool libssh_accepts(const char *b64, const struct key_type_info *info)
{
	ssh_key sshkey = NULL;
	int saved_level = ssh_get_log_level();
	bool ok;

	/* The level is per thread in libssh; keep its parse errors off our
	 * stderr and put the caller's level back. */
	ssh_set_log_level(SSH_LOG_NOLOG);
	ok = ssh_pki_import_pubkey_base64(b64, info->ssh_type, &sshkey) ==
		     SSH_OK &&
	     sshkey && ssh_key_is_public(sshkey) &&
	     ssh_key_type(sshkey) == info->ssh_type;
	ssh_key_free(sshkey);
	ssh_set_log_level(saved_level);
	return ok;
}

static const char *family_refusal(enum key_family family)
{
	for (size_t i = 0; i < SL_ARRAY_SIZE(key_families); i++)
		if (key_families[i].family == family)
			return key_families[i].refused;
	return why_unknown_type;
}

static void fingerprint(const unsigned char *blob, size_t blob_len,
			char out[64])
{
	unsigned char digest[crypto_hash_sha256_BYTES];
	static const char prefix[] = "SHA256:";

	crypto_hash_sha256(digest, blob, blob_len);
	memcpy(out, prefix, sizeof(prefix) - 1);
	sodium_bin2base64(out + sizeof(prefix) - 1, 64 - (sizeof(prefix) - 1),
			  digest, sizeof(digest),
			  sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}

/* The comment is printable ASCII by now, except that it may hold tabs. */
static char *comment_display_safe(const char *comment, size_t len)
{
	char *safe = malloc(len + 1);

	if (!safe)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)comment[i];

		safe[i] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
	}
	safe[len] = '\0';
	return safe;
}

int key_parse(const char *text, size_t len, const struct key_policy *policy,
	      struct sshlease_key **out, const char **why)
{
	static const struct key_policy default_policy = {
		.allowed_families = KEY_FAMILIES_DEFAULT,
		.min_rsa_bits = KEY_MIN_RSA_BITS_DEFAULT,
	};
	const struct key_type_info *info;
	struct sshlease_key *key = NULL;
	unsigned char *blob = NULL;
	size_t blob_len = 0, type_end, b64_start, b64_end;
	unsigned bits = 0;
	const char *refusal;
	int r;

	*out = NULL;
	*why = NULL;
	if (!policy)
		policy = &default_policy;
	if (sodium_init() < 0) {
		r = -EIO;
		goto out;
	}

	if (len == 0) {
		refusal = why_empty;
		goto refuse;
	}
	if (len > KEY_LINE_MAX) {
		refusal = why_too_long;
		goto refuse;
	}
	refusal = check_bytes(text, len);
	if (refusal)
		goto refuse;
	if (is_blank(text[0])) {
		refusal = why_leading_blank;
		goto refuse;
	}
	if (is_blank(text[len - 1])) {
		refusal = why_trailing_blank;
		goto refuse;
	}

	type_end = field_end(text, len, 0);
	info = type_lookup(text, type_end);
	if (!info) {
		if (field_is(text, type_end, "ssh-dss"))
			refusal = why_dsa;
		else if (type_is_key_like(text, type_end))
			refusal = why_certificate;
		else
			refusal = classify_unknown_first(text, len, type_end);
		goto refuse;
	}
	if (type_end == len) {
		refusal = why_one_field;
		goto refuse;
	}
	b64_start = type_end + 1;
	if (is_blank(text[b64_start])) {
		refusal = why_blank_run;
		goto refuse;
	}
	b64_end = field_end(text, len, b64_start);
	if (b64_end < len && is_blank(text[b64_end + 1])) {
		refusal = why_blank_run;
		goto refuse;
	}

	r = decode_base64(text + b64_start, b64_end - b64_start, &blob,
			  &blob_len, &refusal);
	if (r == SL_REFUSED)
		goto refuse;
	if (r < 0)
		goto out;
	refusal = parse_blob(blob, blob_len, info, &bits);
	if (refusal)
		goto refuse;

	key = calloc(1, sizeof(*key));
	if (!key) {
		r = -ENOMEM;
		goto out;
	}
	key->family = info->family;
	key->bits = bits;
	key->type = strndup(text, type_end);
	key->blob_base64 = strndup(text + b64_start, b64_end - b64_start);
	key->comment = b64_end < len
			       ? comment_display_safe(text + b64_end + 1,
						      len - b64_end - 1)
			       : strdup("");
	if (!key->type || !key->blob_base64 || !key->comment) {
		r = -ENOMEM;
		goto out;
	}
	if (!libssh_accepts(key->blob_base64, info)) {
		refusal = why_libssh;
		goto refuse;
	}
	if (!(policy->allowed_families & info->family)) {
		refusal = family_refusal(info->family);
		goto refuse;
	}
	if (info->family == KEY_FAMILY_RSA && bits < policy->min_rsa_bits) {
		refusal = why_rsa_min;
		goto refuse;
	}
	fingerprint(blob, blob_len, key->fingerprint);

	*out = key;
	key = NULL;
	r = 0;
	goto out;
refuse:
	*why = refusal;
	r = SL_REFUSED;
out:
	free(blob);
	key_free(key);
	return r;
}

void key_free(struct sshlease_key *key)
{
	if (!key)
		return;
	free(key->type);
	free(key->blob_base64);
	free(key->comment);
	free(key);
}

const char *key_family_name(enum key_family family)
{
	for (size_t i = 0; i < SL_ARRAY_SIZE(key_families); i++)
		if (key_families[i].family == family)
			return key_families[i].name;
	return NULL;
}

int key_family_from_name(const char *name, enum key_family *out)
{
	for (size_t i = 0; i < SL_ARRAY_SIZE(key_families); i++) {
		if (strcmp(key_families[i].name, name) == 0) {
			*out = key_families[i].family;
			return 0;
		}
	}
	return SL_NOT_FOUND;
}

/* Signed grant tokens: sign/decode/verify round trips, a pinned test vector
 * (the one in the format description in doc/), every bit flip and every truncation
 * refused, each malformed payload refused with its own reason, the redeem
 * window, and the signer key files (keygen, load, trusted_signer). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "../fuzz/token-fuzz-key.h"
#include "config.h"
#include "test.h"
#include "timeutil.h"
#include "token.h"

/* The reasons token.c gives; the user reads them, so the test pins them. */
#define R_EMPTY "token is empty"
#define R_TOO_LONG "token is longer than 4096 bytes"
#define R_TRUNCATED "token is truncated; copy the whole sl1. line"
#define R_PREFIX "not a token: a token starts with sl1."
#define R_VERSION_2 "token version 2 is not supported; this sshlease reads version 1 (sl1.)"
#define R_VERSION_0 "token version 0 is not supported; this sshlease reads version 1 (sl1.)"
#define R_VERSION_OTHER "token version is not supported; this sshlease reads version 1 (sl1.)"
#define R_B64                                                                  \
	"token contains a character outside base64url (A-Z a-z 0-9 - _); "    \
	"no padding, blanks or line breaks"
#define R_B64_CANONICAL                                                        \
	"token is not canonical base64url (impossible length or stray trailing bits)"
#define R_EMPTY_PAYLOAD "token has an empty payload"
#define R_EXTRA_PART "token has more than two parts after sl1."
#define R_SIGNATURE_LONG "token signature is longer than 64 bytes"
#define R_JSON "token payload is not valid JSON"
#define R_NOT_OBJECT "token payload is not a JSON object"
#define R_DUPLICATE "token payload has a duplicate key"
#define R_UNKNOWN_KEY                                                          \
	"token payload has an unknown key (known: v, key, ticket, dur, from, " \
	"mode, user, host, iat, exp, nonce)"
#define R_VERSION_FIELD "token \"v\" is not 1, though the token starts with sl1."
#define R_KEY_FORM "token \"key\" must be exactly 'type base64' (one space, no comment)"
#define R_DURATION "token \"dur\" (duration) is out of range (1 second to 100 years)"
#define R_MODE "token \"mode\" is neither shell nor sftp"
#define R_USER "token \"user\" is not a valid account name"
#define R_HOST "token \"host\" is not a valid host name"
#define R_ISSUED "token \"iat\" (issued-at) is out of range"
#define R_WINDOW_ORDER "token \"exp\" (valid-until) is not after its \"iat\" (issued-at)"
#define R_WINDOW_LONG "token redeem window (exp - iat) is longer than 7 days"
#define R_NONCE "token \"nonce\" is not 16 to 64 bytes of base64url"
#define R_NO_SIGNERS "no trusted_signer is configured, so no token can be accepted"
#define R_SIGNATURE "token signature does not verify against any trusted_signer"
#define R_NOT_YET                                                              \
	"token is not valid yet: it was issued in the future (check the "      \
	"clocks of this host and of the signer)"
#define R_EXPIRED "token has expired; ask for a new one"
#define R_SECRET_KEY                                                           \
	"the signer's secret key does not match its public half (damaged key file?)"
#define R_SIGN_TOO_LONG                                                        \
	"the token would be longer than 4096 bytes (fewer from entries or a smaller key)"
#define R_SIGNER_NAME "a signer name is 1 to 64 of A-Z a-z 0-9 . _ @ -"
#define R_KEY_EXISTS "the signer key file already exists; refusing to overwrite it"
#define R_PUB_EXISTS "the signer's .pub file already exists; refusing to overwrite it"
#define R_FILE_SYMLINK "signer key file is a symlink"
#define R_FILE_TYPE "signer key file is not a regular file"
#define R_FILE_OWNER "signer key file belongs to another user; it must be yours (or root's)"
#define R_FILE_MODE "signer key file is readable or writable by group or others; chmod 600 it"
#define R_FILE_SIZE "signer key file is larger than 1 KiB; this is not a signer key"
#define R_FILE_FORMAT "signer key file is not in the sshlease-signer-secret-key-v1 format"
#define R_FILE_MISMATCH "signer key file is damaged: its public half does not match its seed"
/* From key.c and validate.c, passed through unchanged. */
#define R_KEY_DSA "DSA (ssh-dss) keys are never accepted; use an ed25519 key"
#define R_KEY_CERT "certificates are not accepted; submit the plain public key"
#define R_KEY_ONE_FIELD "key line has only one field; expected 'type base64 [comment]'"
#define R_TICKET_CHARS "a ticket may contain only letters, digits and . _ : # / -"
#define R_TICKET_EMPTY "empty ticket"
#define R_TICKET_LONG "ticket longer than 64 characters"
#define R_FROM_SPACES                                                          \
	"spaces are not allowed in a source list; separate entries with commas only"

/* Keys made once with ssh-keygen. */
#define ED_TYPE_B64                                                            \
	"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILIHDmf7vIzl+F3wCArqPEi0jDhq+vtueJl1Z2cYjEAo"
#define ED_LINE ED_TYPE_B64 " support@vendor.example"
#define ECDSA_TYPE_B64                                                         \
	"ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBL6TR6wj9vA2ttXwfynv2ysMIbHVY8hgcooJjb5dBk/mDUbMOl63mvc98u911pi32XsiApt3XDZxXl31AUByq5TIAhBwfPA/c7qQmTo8iS8ZhWP1WDxrJ3+kM5Qd4DXXcw=="
#define DSA_LINE                                                               \
	"ssh-dss "  \
	"AAAAB3NzaC1kc3MAAACBAOX3/+Z+TrotbAXmXu2OQ91Ftw3pFHs1Xn/LkoIoQbH9HlOTZE7r/NbVaGLL2zp4Vj2zuC8TeI/VfVbn3xks/MUOjlMzUF5mmYMONMN/XgZZatut6mAjgouek4QeW7kdNQlHmDWMxWybuWDkd2rFNeFh3u4Zp5ivUELkiQnVm3CTAAAAFQDIHEJI2ZHh1mXpD0E38/n8VBh5dQAAAIEAy+n5+sYcJiHLUtShXIRpA+ZyEG7CAeYTMYJ/MhDpcQmw9qr3vqiFYIFB/+vlU/i9blOyGhekhIBs0oHTQ3cnpscKPFxdUl+AuxH4WIoHM/KSV9Agaepp5oQkDaOmmE/pOISBWJuzeqso7kqVQM2+WOvPhEEzTB9czBGZt8MJeMQAAACBALiRLY+/+FCnEazVV93qbryfFOn5TTL1jhGj8dD+pBCiq0psS4NlVkWKEnABd9s30soAYwk5aYgyT9yL6NLNoOyNhXUuNQZgvC8aKrLmssemlYkkgXQfE/wrZG+hEVNH8ZtybWEek1NvMWRCBADNbdFr6ZmnN0nFOrbN47pYUZbt"
#define RSA8192_LINE "ssh-rsa " \
	"AAAAB3NzaC1yc2EAAAADAQABAAAEAQChZUAiMpTGEU0JfRyhp3W7e8QqtqQAhxQ6j472OwIr" \
	"kl7FANOhEf12owK4pv3BreS7dcIrFi83p6tOeE4zJbonGTGYB/o5WN7d4K4VaQlbSAoAG6P8" \
	"ZHRoh1/WL/TNF2RBMTCi8F0A1QPa4ed7DK3D1ngYaDcvKT0+D97VvBZCn0wrptsK/yZXzMqq" \
	"PCl6z9SXGcmI+z77e+2fpWn5iWqnwp+NcHiwEIAvQmQefB6EWhujsBvLSkGdbMpcWob8aicX" \
	"ZoWsd64xrh9+e981nVogGr83J4jgduKS9x7o+SZYfopVLzdCikWOmCpM+TRnQzslrGXeoFFW" \
	"FSdCZoqk+JL4ve/BDmqfHGlnFGFYJ94xpqA/E4bFQK51wev+ahJBjMRndTPwi06/n5IJJ994" \
	"XalEf9CoUHYiqXYBEtv6PPzytwvjIXIu6IKzJ224NY1lfxr5DfioNGfn2hcKaFpUivQ5KGc7" \
	"Aeu6Cr/Oe71iSjk8RHWm0XOl/kcLKlCGTzdhNN3pJ2XVa1CHb7I1IY/sHqr24H/Niqx3PZBO" \
	"2MBpFB0OP3nddDYeMba7QY6IKsiOeV5JuF4OFo9CG2aAzt1+LbrJrTIWdtnCxatQZlD3oeq8" \
	"pi/IVXSGepD6KklaqXgyXEnCSIQ3YUEGfePFpfJfm3KiZipZNR9I5g5kb/DQaaJtY/QFYWqI" \
	"CTxOQVxlOzJa5xTup9t4auR5ftWDRxENt+zh+1EbFAX/biuVLu1oPx3J//lyXYnb+3quUvBd" \
	"XRJaOOHtq6g0WvXdrnrNavPBuH42VJ1A79l9GL8LA7QqJESo4e2UuY3+tXfeBBSu3Xqj0lmE" \
	"aVvud+N/JAPl0T++lfAoYeFUv+PQebbfQtKuT7EynkHjtYPS1/aQU8u689+T1IkRexns8x/r" \
	"xyRdKMOUGyZxHQcQhCPSbLc9fzh32U870A3to5OIUWCaKYaXNNb+QfTI5oTUg2EoYcku2vOl" \
	"HA0dtlIJLODDNJBxV5ncbKlzv21tONJPXvkxXkJ6dbtOYs8flBNCZYymgIYZon6w9BDhlM1X" \
	"7f0PbL2cpoR2dTKs3MRwFCUU3wVwB8+lqzXtt/dpc767SRqy+v5LHMpOP1VI3ySYQVNorTIY" \
	"CJeeCYRH/s2/Lp+r9Ol1kx1DGUYjoAA5xZVRpU+Mnq9YTN8ysQ8wwSut0JeAxvTRtb1RXwMt" \
	"eWyO33ap356nlwDFxzcubzv30X9ioiEvI7RDtslztcA0nBVjdcglC2wjyVTGfj+m4tXPJh+S" \
	"hNmXk9iQeuoh6zDlLYq9SoGfKQm0kaU2GVYjN8P+i6wu+1P/QOy/lCmDNnYLGUACJOzC2cXX" \
	"Lw68iCUZzMKu6E0nb4os+Fke7Xif"

/* The test vector of the format description: signer seed 00 01 .. 1f. */
#define VECTOR_SIGNER_LINE "vector A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
#define VECTOR_PAYLOAD                                                         \
	"{\"v\":1,\"key\":\"" ED_TYPE_B64 "\",\"ticket\":\"T-1234\","            \
	"\"dur\":172800,\"from\":\"203.0.113.0/24\",\"mode\":\"shell\","       \
	"\"user\":\"shop\",\"iat\":1767225600,\"exp\":1767312000,"             \
	"\"nonce\":\"AAECAwQFBgcICQoLDA0ODw\"}"
#define VECTOR_TOKEN                                                           \
	"sl1.eyJ2IjoxLCJrZXkiOiJzc2gtZWQyNTUxOSBBQUFBQzNOemFDMWxaREkxTlRFNUFB" \
	"QUFJTElIRG1mN3ZJemwrRjN3Q0FycVBFaTBqRGhxK3Z0dWVKbDFaMmNZakVBbyIsInRp" \
	"Y2tldCI6IlQtMTIzNCIsImR1ciI6MTcyODAwLCJmcm9tIjoiMjAzLjAuMTEzLjAvMjQi" \
	"LCJtb2RlIjoic2hlbGwiLCJ1c2VyIjoic2hvcCIsImlhdCI6MTc2NzIyNTYwMCwiZXhw" \
	"IjoxNzY3MzEyMDAwLCJub25jZSI6IkFBRUNBd1FGQmdjSUNRb0xEQTBPRHcifQ."      \
	"sBufrsdmOGiwKwrWbFUKSHpwwVYVwgvTTai7Om0dgdAAopKdt161m9I_vG30Eaf--2FI_" \
	"K4WcxExkjgiUU_UAg"

#define IAT 1767225600 /* 2026-01-01T00:00:00Z */
/* The longest host name: four labels, 253 characters. */
#define HOST253                                                                \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."     \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."     \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."     \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define NONCE16 "AAECAwQFBgcICQoLDA0ODw"

struct test_signer {
	unsigned char public_key[crypto_sign_PUBLICKEYBYTES];
	unsigned char secret_key[crypto_sign_SECRETKEYBYTES];
	struct config_signer trusted;
};

static struct test_signer vendor, other, vector_signer;

static void signer_from_seed(struct test_signer *s, unsigned char fill, const char *name)
{
	unsigned char seed[crypto_sign_SEEDBYTES];

	for (size_t i = 0; i < sizeof(seed); i++)
		seed[i] = (unsigned char)(fill + i);
	crypto_sign_seed_keypair(s->public_key, s->secret_key, seed);
	s->trusted.name = (char *)name;
	memcpy(s->trusted.public_key, s->public_key, sizeof(s->public_key));
}

static char *b64url(const void *data, size_t len)
{
	size_t size = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *out = malloc(size);

	if (!out)
		abort();
	sodium_bin2base64(out, size, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return out;
}

/* A token around payload bytes of our choosing, signed the way the format
 * says (TOKEN_DOMAIN, NUL, payload) with signer's key: the decoder must
 * judge the payload, not the envelope. */
static char *raw_token_len(const char *payload, size_t len, const struct test_signer *signer)
{
	unsigned char signature[crypto_sign_BYTES];
	size_t domain_len = sizeof(TOKEN_DOMAIN);
	unsigned char *message = malloc(domain_len + len + 1);
	char *p64, *s64, *text;
	size_t size;

	if (!message)
		abort();
	memcpy(message, TOKEN_DOMAIN, domain_len);
	memcpy(message + domain_len, payload, len);
	crypto_sign_detached(signature, NULL, message, domain_len + len, signer->secret_key);
	p64 = b64url(payload, len);
	s64 = b64url(signature, sizeof(signature));
	size = strlen(p64) + strlen(s64) + 8;
	text = malloc(size);
	if (!text)
		abort();
	snprintf(text, size, "sl1.%s.%s", p64, s64);
	free(message);
	free(p64);
	free(s64);
	return text;
}

static char *raw_token(const char *payload)
{
	return raw_token_len(payload, strlen(payload), &vendor);
}

static struct token_claims full_claims(void)
{
	struct token_claims c = {
		.key = ED_LINE,
		.ticket = "SUP-4711",
		.duration = 48 * 3600,
		.from = "203.0.113.0/24,2001:DB8::/32",
		.mode = AUTHKEYS_MODE_SFTP,
		.user = "shop",
		.host = "Shop.Example.com",
		.issued_at = IAT,
		.valid_until = IAT + 2 * 86400,
		.nonce = NULL,
	};
	return c;
}

static char *sign_or_die(const struct token_claims *c, const struct test_signer *s)
{
	const char *why = NULL;
	char *text = NULL;
	int r = token_sign(c, s->secret_key, &text, &why);

	CHECK_MSG(r == 0, "token_sign: %d %s", r, why ? why : "");
	if (r != 0)
		exit(1);
	return text;
}

/* Decode must refuse text with exactly this reason. */
static void expect_refused(const char *name, const char *text, const char *reason)
{
	struct token *t = NULL;
	const char *why = NULL;
	int r = token_decode(text, &t, &why);

	CHECK_MSG(r == SL_REFUSED && t == NULL, "%s: decode returned %d", name, r);
	CHECK_MSG(why && strcmp(why, reason) == 0, "%s: why = \"%s\", expected \"%s\"",
		  name, why ? why : "(null)", reason);
	token_free(t);
}

static void test_round_trip(void)
{
	struct token_claims c = full_claims();
	const struct config_signer *matched = NULL;
	struct config_signer both[2];
	struct sshlease_key *key = NULL;
	struct token *t = NULL, *t2 = NULL;
	const char *why = NULL;
	char *text = sign_or_die(&c, &vendor), *again;

	CHECK(strncmp(text, "sl1.", 4) == 0);
	CHECK(strlen(text) <= 1024);
	CHECK_INT(token_decode(text, &t, &why), 0);
	CHECK(why == NULL);
	if (!t)
		exit(1);
	both[0] = other.trusted;
	both[1] = vendor.trusted;
	CHECK_INT(token_verify_signature(t, both, 2, &matched, &why), 0);
	CHECK(matched == &both[1]);
	CHECK_INT(token_check_time(t, IAT, TOKEN_SKEW_DEFAULT, &why), 0);
	CHECK(why == NULL);

	CHECK_INT(t->version, 1);
	CHECK_STR(t->key, ED_TYPE_B64); /* the comment is not carried */
	CHECK_INT(key_parse(ED_LINE, strlen(ED_LINE), NULL, &key, &why), 0);
	CHECK(t->public_key && key &&
	      strcmp(t->public_key->fingerprint, key->fingerprint) == 0);
	CHECK(t->public_key && t->public_key->family == KEY_FAMILY_ED25519);
	key_free(key);
	CHECK_STR(t->ticket, "SUP-4711");
	CHECK_INT(t->duration, 48 * 3600);
	CHECK_STR(t->from, "203.0.113.0/24,2001:db8::/32"); /* canonical */
	CHECK_INT(t->mode, AUTHKEYS_MODE_SFTP);
	CHECK_STR(t->user, "shop");
	CHECK_STR(t->host, "Shop.Example.com");
	CHECK_INT(t->issued_at, IAT);
	CHECK_INT(t->valid_until, IAT + 2 * 86400);
	CHECK(t->nonce && strlen(t->nonce) == 22); /* 16 random bytes */
	CHECK(t->payload_len > 0 && t->payload[0] == '{' &&
	      t->payload[t->payload_len - 1] == '}');

	/* A second token from the same claims differs only by its nonce. */
	again = sign_or_die(&c, &vendor);
	CHECK(strcmp(again, text) != 0);
	CHECK_INT(token_decode(again, &t2, &why), 0);
	CHECK(t2 && strcmp(t2->nonce, t->nonce) != 0);
	token_free(t2);
	free(again);

	/* Optional fields left out: absent in the payload, NULL when decoded;
	 * valid_until 0 means the default window. */
	c.ticket = c.from = c.user = c.host = NULL;
	c.mode = AUTHKEYS_MODE_SHELL;
	c.valid_until = 0;
	c.key = ECDSA_TYPE_B64;
	free(text);
	text = sign_or_die(&c, &vendor);
	token_free(t);
	t = NULL;
	CHECK_INT(token_decode(text, &t, &why), 0);
	if (t) {
		CHECK(!t->ticket && !t->from && !t->user && !t->host);
		CHECK_INT(t->mode, AUTHKEYS_MODE_SHELL);
		CHECK_INT(t->valid_until, IAT + TOKEN_VALID_DEFAULT);
		CHECK_STR(t->key, ECDSA_TYPE_B64);
		CHECK(t->public_key && t->public_key->family == KEY_FAMILY_ECDSA);
		CHECK(memmem(t->payload, t->payload_len, "ticket", 6) == NULL);
		CHECK(memmem(t->payload, t->payload_len, "null", 4) == NULL);
		CHECK_INT(token_verify_signature(t, &vendor.trusted, 1, NULL, &why), 0);
	}
	token_free(t);
	free(text);
}

/* The pinned vector: token_sign is deterministic given the nonce, the
 * bytes are what the format description says, and the description in
 * format description in doc/ carries this very vector. */
static void test_vector(void)
{
	struct token_claims c = {
		.key = ED_LINE,
		.ticket = "T-1234",
		.duration = 172800,
		.from = "203.0.113.0/24",
		.mode = AUTHKEYS_MODE_SHELL,
		.user = "shop",
		.issued_at = 1767225600,
		.valid_until = 1767312000,
		.nonce = NONCE16,
	};
	struct token_signer signer = { .name = "vector" };
	static const char *const doc_files[] = {
		"token-format.txt", "sshlease-token.5.scd", "sshlease.1.scd",
		"sshlease.conf.5.scd", "sshleased.8.scd",
	};
	char line[TOKEN_SIGNER_PUBLIC_LINE_SIZE], *doc_path, *doc, *text;
	const char *found = NULL;
	const char *root = getenv("SSHLEASE_SOURCE_ROOT");
	struct token *t = NULL;
	const char *why = NULL;
	FILE *f;
	long size;

	text = sign_or_die(&c, &vector_signer);
	CHECK_STR(text, VECTOR_TOKEN);
	CHECK_INT(token_decode(VECTOR_TOKEN, &t, &why), 0);
	if (t) {
		CHECK_INT(t->payload_len, strlen(VECTOR_PAYLOAD));
		CHECK(memcmp(t->payload, VECTOR_PAYLOAD, t->payload_len) == 0);
		CHECK_INT(token_verify_signature(t, &vector_signer.trusted, 1, NULL, &why), 0);
	}
	token_free(t);
	free(text);
	memcpy(signer.public_key, vector_signer.public_key, sizeof(signer.public_key));
	token_signer_public_line(&signer, line, sizeof(line));
	CHECK_STR(line, VECTOR_SIGNER_LINE);

	CHECK_MSG(root != NULL, "SSHLEASE_SOURCE_ROOT is not set");
	if (!root)
		return;
	/* The format description may live in its own file or be merged
	 * into a man page: one of them must carry the vector. */
	for (size_t i = 0; i < SL_ARRAY_SIZE(doc_files); i++) {
		if (asprintf(&doc_path, "%s/doc/%s", root, doc_files[i]) < 0)
			abort();
		f = fopen(doc_path, "r");
		free(doc_path);
		if (!f)
			continue;
		fseek(f, 0, SEEK_END);
		size = ftell(f);
		rewind(f);
		doc = calloc(1, (size_t)size + 1);
		if (!doc || fread(doc, 1, (size_t)size, f) != (size_t)size)
			abort();
		fclose(f);
		if (strstr(doc, VECTOR_PAYLOAD) && strstr(doc, VECTOR_SIGNER_LINE)) {
			/* The token is wrapped; compare without line breaks. */
			char *joined = calloc(1, (size_t)size + 1), *o = joined;

			for (const char *p = doc; *p; p++) {
				if (*p != '\n' && *p != '\t' && *p != ' ')
					*o++ = *p;
			}
			if (strstr(joined, VECTOR_TOKEN))
				found = doc_files[i];
			free(joined);
		}
		free(doc);
		if (found)
			break;
	}
	CHECK_MSG(found != NULL, "no page in doc/ carries the token test vector "
				 "(signer line, payload and token)");
}

/* Any change to any byte must be caught: by the decoder, or else by the
 * signature. */
static void test_bit_flips(void)
{
	struct token_claims c = full_claims();
	char *text = sign_or_die(&c, &vendor);
	size_t len = strlen(text), decoded = 0, refused = 0;

	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			char *copy = strdup(text);
			struct token *t = NULL;
			const char *why = NULL;
			int r;

			copy[i] = (char)(copy[i] ^ (1 << bit));
			r = token_decode(copy, &t, &why);
			if (r == 0) {
				decoded++;
				r = token_verify_signature(t, &vendor.trusted, 1, NULL, &why);
				CHECK_MSG(r == SL_REFUSED && strcmp(why, R_SIGNATURE) == 0,
					  "byte %zu bit %d: verify %d", i, bit, r);
			} else {
				CHECK_MSG(r == SL_REFUSED && why && *why,
					  "byte %zu bit %d: decode %d", i, bit, r);
				refused++;
			}
			token_free(t);
			free(copy);
		}
	}
	CHECK_INT(decoded + refused, len * 8);
	/* Both layers were exercised. */
	CHECK(decoded > 0 && refused > 0);
	free(text);
}

static void test_truncation(void)
{
	struct token_claims c = full_claims();
	char *text = sign_or_die(&c, &vendor);
	size_t len = strlen(text);

	for (size_t n = 0; n < len; n++) {
		char name[64], *cut = strndup(text, n);

		snprintf(name, sizeof(name), "truncated to %zu", n);
		expect_refused(name, cut, n == 0 ? R_EMPTY : R_TRUNCATED);
		free(cut);
	}
	free(text);
}

static void test_signers_and_time(void)
{
	struct token_claims c = full_claims();
	const struct config_signer *matched = (const void *)&c;
	char *text = sign_or_die(&c, &vendor);
	struct token *t = NULL;
	const char *why = NULL;

	CHECK_INT(token_decode(text, &t, &why), 0);
	if (!t)
		exit(1);
	CHECK_INT(token_verify_signature(t, &other.trusted, 1, &matched, &why), SL_REFUSED);
	CHECK_STR(why, R_SIGNATURE);
	CHECK(matched == NULL);
	CHECK_INT(token_verify_signature(t, NULL, 0, NULL, &why), SL_REFUSED);
	CHECK_STR(why, R_NO_SIGNERS);

	/* The window [iat - skew, exp + skew], edges included. */
	why = NULL;
	CHECK_INT(token_check_time(t, IAT - 300, 300, &why), 0);
	CHECK_INT(token_check_time(t, IAT - 301, 300, &why), SL_REFUSED);
	CHECK_STR(why, R_NOT_YET);
	CHECK_INT(token_check_time(t, IAT - 1, 0, &why), SL_REFUSED);
	CHECK_STR(why, R_NOT_YET);
	why = NULL;
	CHECK_INT(token_check_time(t, t->valid_until + 300, 300, &why), 0);
	CHECK_INT(token_check_time(t, t->valid_until, 0, &why), 0);
	CHECK(why == NULL);
	CHECK_INT(token_check_time(t, t->valid_until + 301, 300, &why), SL_REFUSED);
	CHECK_STR(why, R_EXPIRED);
	CHECK_INT(token_check_time(t, (time_t)INT64_MAX, 300, &why), SL_REFUSED);
	CHECK_STR(why, R_EXPIRED);
	CHECK_INT(token_check_time(t, (time_t)INT64_MIN, 300, &why), SL_REFUSED);
	CHECK_STR(why, R_NOT_YET);
	CHECK_INT(token_check_time(t, IAT, -1, &why), -EINVAL);
	CHECK_INT(token_check_time(t, IAT, TOKEN_SKEW_MAX + 1, &why), -EINVAL);
	CHECK_INT(token_nonce_keep_until(t, 300), t->valid_until + 300);

	/* Host binding: exact, ASCII case ignored. */
	CHECK(token_host_matches(t, "shop.example.com"));
	CHECK(token_host_matches(t, "SHOP.EXAMPLE.COM"));
	CHECK(!token_host_matches(t, "shop"));
	CHECK(!token_host_matches(t, "shop.example.com.evil"));
	CHECK(!token_host_matches(t, NULL));
	free(t->host);
	t->host = NULL;
	CHECK(token_host_matches(t, "anything"));
	CHECK(token_host_matches(t, NULL));
	token_free(t);
	free(text);

	CHECK(token_looks_like("sl1.abc"));
	CHECK(token_looks_like("sl2.abc"));
	CHECK(!token_looks_like("ssh-ed25519 AAAA"));
	CHECK(!token_looks_like("sl"));
	CHECK(!token_looks_like(""));
}

/* The envelope: prefix, version, base64url, parts, sizes. */
static void test_envelope(void)
{
	struct token_claims c = full_claims();
	char *good = sign_or_die(&c, &vendor), *p, *buf;
	size_t len = strlen(good);
	static const char *const sig86 =
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

	expect_refused("empty", "", R_EMPTY);
	expect_refused("s", "s", R_TRUNCATED);
	expect_refused("sl", "sl", R_TRUNCATED);
	expect_refused("sl1", "sl1", R_TRUNCATED);
	expect_refused("sl1.", "sl1.", R_TRUNCATED);
	expect_refused("key line", ED_LINE, R_PREFIX);
	expect_refused("upper-case prefix", "SL1.eyJ9.AAAA", R_PREFIX);
	expect_refused("blank before", " sl1.eyJ9.AAAA", R_PREFIX);
	expect_refused("sl1 without dot", "sl1x.eyJ9", R_PREFIX);
	expect_refused("version 2", "sl2.eyJ9.AAAA", R_VERSION_2);
	expect_refused("version 0", "sl0.eyJ9.AAAA", R_VERSION_0);
	expect_refused("version 12", "sl12.eyJ9.AAAA", R_VERSION_OTHER);
	expect_refused("version 2 alone", "sl2", R_VERSION_2);
	expect_refused("empty payload", "sl1..AAAA", R_EMPTY_PAYLOAD);
	expect_refused("no signature part", "sl1.eyJ9", R_TRUNCATED);
	expect_refused("short signature", "sl1.eyJ9.AAAA", R_TRUNCATED);
	expect_refused("plus", "sl1.ey+9.AAAA", R_B64);
	expect_refused("slash", "sl1.ey/9.AAAA", R_B64);
	expect_refused("padding", "sl1.eyJ9fQ==.AAAA", R_B64);
	expect_refused("blank inside", "sl1.ey J9.AAAA", R_B64);
	expect_refused("non-ASCII", "sl1.ey\xc3\xa9.AAAA", R_B64);
	expect_refused("third part", "sl1.eyJ9.AAAA.AAAA", R_EXTRA_PART);

	/* Line end, blank or junk after a good token. */
	buf = calloc(1, len + 2);
	memcpy(buf, good, len);
	buf[len] = '\n';
	expect_refused("final newline", buf, R_B64);
	buf[len] = ' ';
	expect_refused("final blank", buf, R_B64);
	buf[len] = 'A';
	expect_refused("one character more", buf, R_SIGNATURE_LONG);
	buf[len] = '.';
	expect_refused("final dot", buf, R_EXTRA_PART);
	free(buf);

	/* Non-canonical: stray low bits in the last character of the
	 * signature ('A' + 1 keeps the top bits), and a payload length of
	 * 4n+1 characters, which no byte string has. */
	p = strdup(good);
	CHECK(strchr("AQgw", good[len - 1]) != NULL); /* low 4 bits clear */
	p[len - 1] = p[len - 1] == 'B' ? 'C' : 'B';
	expect_refused("signature trailing bits", p, R_B64_CANONICAL);
	free(p);
	expect_refused("stray bits in signature",
		       "sl1.eyJ9.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB",
		       R_B64_CANONICAL);
	if (asprintf(&buf, "sl1.eyJ9f.%s", sig86) < 0)
		abort();
	expect_refused("payload of 4n+1 characters", buf, R_B64_CANONICAL);
	free(buf);
	if (asprintf(&buf, "sl1.eyK.%s", sig86) < 0) /* "{" + stray bits */
		abort();
	expect_refused("stray bits in payload", buf, R_B64_CANONICAL);
	free(buf);
	if (asprintf(&buf, "sl1.ey.%s", sig86) < 0) /* "{" canonical: "ew" */
		abort();
	expect_refused("stray bits in payload 2", buf, R_B64_CANONICAL);
	free(buf);
	if (asprintf(&buf, "sl1.ew.%s", sig86) < 0) /* "{" alone */
		abort();
	expect_refused("payload '{'", buf, R_JSON);
	free(buf);

	/* Over-long: by length alone, before anything else is looked at. */
	buf = malloc(TOKEN_TEXT_MAX + 2);
	memset(buf, 'A', TOKEN_TEXT_MAX + 1);
	memcpy(buf, "sl1.", 4);
	buf[TOKEN_TEXT_MAX + 1] = '\0';
	expect_refused("4097 bytes", buf, R_TOO_LONG);
	buf[TOKEN_TEXT_MAX] = '\0';
	expect_refused("4096 bytes without a dot", buf, R_TRUNCATED);
	buf[TOKEN_TEXT_MAX - 87] = '.';
	expect_refused("4096 bytes of nonsense", buf, R_B64_CANONICAL);
	free(buf);
	free(good);
}

/* A payload with one thing wrong. Each is signed correctly, so only the
 * payload check can refuse it. */
struct payload_case {
	const char *name;
	const char *payload;
	const char *reason; /* NULL: accepted */
};

#define P_KEY "\"key\":\"" ED_TYPE_B64 "\""
#define P_TAIL "\"iat\":1767225600,\"exp\":1767312000,\"nonce\":\"" NONCE16 "\""
#define P_TAIL_NONCE(n) "\"iat\":1767225600,\"exp\":1767312000,\"nonce\":\"" n "\""
#define P_OK(middle) "{\"v\":1," P_KEY ",\"dur\":3600,\"mode\":\"shell\"," middle P_TAIL "}"
#define P_WITH(field) "{\"v\":1," P_KEY ",\"dur\":3600,\"mode\":\"shell\"," field "," P_TAIL "}"

static const struct payload_case payload_cases[] = {
	/* accepted */
	{ "minimal", P_OK(""), NULL },
	{ "every field", "{\"v\":1," P_KEY ",\"ticket\":\"T-1\",\"dur\":3600,\"from\":\"::1\","
			 "\"mode\":\"sftp\",\"user\":\"shop\",\"host\":\"h\"," P_TAIL "}", NULL },
	{ "other order and white space",
	  " { \"nonce\" : \"" NONCE16 "\" ,\n\t\"exp\":1767312000, \"iat\":1767225600,"
	  "\"mode\":\"shell\",\"dur\":3600," P_KEY ", \"v\" : 1 }\n", NULL },
	{ "escaped characters", "{\"v\":1,\"key\":\"ssh-ed25519\\u0020AAAAC3NzaC1lZDI1NTE5AAAAILIHDmf7vIzl+F3wCArqPEi0jDhq+vtueJl1Z2cYjEAo\","
				"\"dur\":3600,\"mode\":\"shell\",\"ticket\":\"a\\/b\"," P_TAIL "}", NULL },
	{ "window of exactly 7 days", "{\"v\":1," P_KEY ",\"dur\":3600,\"mode\":\"shell\","
				      "\"iat\":1767225600,\"exp\":1767830400,\"nonce\":\"" NONCE16 "\"}", NULL },
	{ "largest duration", "{\"v\":1," P_KEY ",\"dur\":3153600000,\"mode\":\"shell\"," P_TAIL "}", NULL },
	{ "64-byte nonce", "{\"v\":1," P_KEY ",\"dur\":1,\"mode\":\"shell\",\"iat\":1,\"exp\":2,\"nonce\":"
			   "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}", NULL },
	{ "63-character host label", P_WITH("\"host\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b\""), NULL },
	{ "latest issued-at", "{\"v\":1," P_KEY ",\"dur\":1,\"mode\":\"shell\",\"iat\":253402300799,"
			      "\"exp\":253402300800,\"nonce\":\"" NONCE16 "\"}", NULL },

	/* JSON */
	{ "not JSON", "hello", R_JSON },
	{ "trailing data", P_OK("") "x", R_JSON },
	{ "two objects", P_OK("") P_OK(""), R_JSON },
	{ "trailing comma", "{\"v\":1,}", R_JSON },
	{ "single quotes", "{'v':1}", R_JSON },
	{ "NUL escape", P_WITH("\"ticket\":\"a\\u0000b\""), R_JSON },
	{ "invalid UTF-8", P_WITH("\"ticket\":\"\xff\""), R_JSON },
	{ "array", "[1,2]", R_NOT_OBJECT },
	{ "empty array", "[]", R_NOT_OBJECT },
	{ "duplicate key", P_WITH("\"dur\":3600"), R_DUPLICATE },
	{ "duplicate optional key", P_WITH("\"user\":\"a\",\"user\":\"a\""), R_DUPLICATE },
	{ "unknown key", P_WITH("\"comment\":\"x\""), R_UNKNOWN_KEY },
	{ "key of another case", P_WITH("\"Ticket\":\"x\""), R_UNKNOWN_KEY },
	{ "empty key name", P_WITH("\"\":1"), R_UNKNOWN_KEY },

	/* missing */
	{ "empty object", "{}", "token has no \"v\" (version)" },
	{ "no key", "{\"v\":1,\"dur\":3600,\"mode\":\"shell\"," P_TAIL "}",
	  "token has no \"key\" (public key)" },
	{ "no dur", "{\"v\":1," P_KEY ",\"mode\":\"shell\"," P_TAIL "}",
	  "token has no \"dur\" (duration)" },
	{ "no mode", "{\"v\":1," P_KEY ",\"dur\":3600," P_TAIL "}", "token has no \"mode\"" },
	{ "no iat", "{\"v\":1," P_KEY ",\"dur\":3600,\"mode\":\"shell\",\"exp\":1767312000,"
		    "\"nonce\":\"" NONCE16 "\"}", "token has no \"iat\" (issued-at)" },
	{ "no exp", "{\"v\":1," P_KEY ",\"dur\":3600,\"mode\":\"shell\",\"iat\":1767225600,"
		    "\"nonce\":\"" NONCE16 "\"}", "token has no \"exp\" (valid-until)" },
	{ "no nonce", "{\"v\":1," P_KEY ",\"dur\":3600,\"mode\":\"shell\",\"iat\":1767225600,"
		      "\"exp\":1767312000}", "token has no \"nonce\"" },

	/* types */
	{ "v as string", "{\"v\":\"1\"}", "token \"v\" is not an integer" },
	{ "v as real", "{\"v\":1.0}", "token \"v\" is not an integer" },
	{ "v as true", "{\"v\":true}", "token \"v\" is not an integer" },
	{ "key as array", "{\"v\":1,\"key\":[\"ssh-ed25519\"],\"dur\":3600,\"mode\":\"shell\"," P_TAIL "}",
	  "token \"key\" is not a string" },
	{ "null ticket", P_WITH("\"ticket\":null"),
	  "token \"ticket\" is not a string (leave the key out when there is none)" },
	{ "dur as text", "{\"v\":1," P_KEY ",\"dur\":\"48h\",\"mode\":\"shell\"," P_TAIL "}",
	  "token \"dur\" is not an integer (seconds)" },
	{ "dur with exponent", "{\"v\":1," P_KEY ",\"dur\":3.6e3,\"mode\":\"shell\"," P_TAIL "}",
	  "token \"dur\" is not an integer (seconds)" },
	{ "from as array", P_WITH("\"from\":[\"::1\"]"),
	  "token \"from\" is not a string (leave the key out when there is none)" },
	{ "mode as number", "{\"v\":1," P_KEY ",\"dur\":3600,\"mode\":1," P_TAIL "}",
	  "token \"mode\" is not a string" },
	{ "user as object", P_WITH("\"user\":{}"),
	  "token \"user\" is not a string (leave the key out when there is none)" },
	{ "host as false", P_WITH("\"host\":false"),
	  "token \"host\" is not a string (leave the key out when there is none)" },
	{ "iat as text", "{\"v\":1," P_KEY ",\"dur\":3600,\"mode\":\"shell\",\"iat\":\"1767225600\","
			 "\"exp\":1767312000,\"nonce\":\"" NONCE16 "\"}",
	  "token \"iat\" is not an integer (Unix seconds)" },
	{ "exp as real", "{\"v\":1," P_KEY ",\"dur\":3600,\"mode\":\"shell\",\"iat\":1767225600,"
			 "\"exp\":1767312000.5,\"nonce\":\"" NONCE16 "\"}",
	  "token \"exp\" is not an integer (Unix seconds)" },
	{ "nonce as number", "{\"v\":1," P_KEY ",\"dur\":3600,\"mode\":\"shell\",\"iat\":1767225600,"
			     "\"exp\":1767312000,\"nonce\":12345678901234567}", "token \"nonce\" is not a string" },

	/* values */
	{ "v 2", "{\"v\":2," P_KEY "}", R_VERSION_FIELD },
	{ "v 0 with unknown keys", "{\"v\":0,\"whatever\":1}", R_VERSION_FIELD },
	{ "v 1 negative", "{\"v\":-1}", R_VERSION_FIELD },
	{ "key with comment", "{\"v\":1,\"key\":\"" ED_LINE "\",\"dur\":3600,\"mode\":\"shell\"," P_TAIL "}",
	  R_KEY_FORM },
	{ "key with tab", "{\"v\":1,\"key\":\"ssh-ed25519\\tAAAAC3NzaC1lZDI1NTE5AAAAILIHDmf7vIzl+F3wCArqPEi0jDhq+vtueJl1Z2cYjEAo\","
			  "\"dur\":3600,\"mode\":\"shell\"," P_TAIL "}", R_KEY_FORM },
	{ "key one field", "{\"v\":1,\"key\":\"ssh-ed25519\",\"dur\":3600,\"mode\":\"shell\"," P_TAIL "}",
	  R_KEY_ONE_FIELD },
	{ "DSA key", "{\"v\":1,\"key\":\"" DSA_LINE "\",\"dur\":3600,\"mode\":\"shell\"," P_TAIL "}", R_KEY_DSA },
	{ "certificate type", "{\"v\":1,\"key\":\"ssh-ed25519-cert-v01@openssh.com AAAAC3NzaC1lZDI1NTE5AAAAILIHDmf7vIzl+F3wCArqPEi0jDhq+vtueJl1Z2cYjEAo\","
			      "\"dur\":3600,\"mode\":\"shell\"," P_TAIL "}", R_KEY_CERT },
	{ "empty ticket", P_WITH("\"ticket\":\"\""), R_TICKET_EMPTY },
	{ "ticket with blank", P_WITH("\"ticket\":\"a b\""), R_TICKET_CHARS },
	{ "ticket of 65", P_WITH("\"ticket\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""),
	  R_TICKET_LONG },
	{ "ticket non-ASCII", P_WITH("\"ticket\":\"\\u00e9\""), R_TICKET_CHARS },
	{ "dur 0", "{\"v\":1," P_KEY ",\"dur\":0,\"mode\":\"shell\"," P_TAIL "}", R_DURATION },
	{ "dur -1", "{\"v\":1," P_KEY ",\"dur\":-1,\"mode\":\"shell\"," P_TAIL "}", R_DURATION },
	{ "dur over 100 years", "{\"v\":1," P_KEY ",\"dur\":3153600001,\"mode\":\"shell\"," P_TAIL "}",
	  R_DURATION },
	{ "dur beyond 64 bits", "{\"v\":1," P_KEY ",\"dur\":99999999999999999999,\"mode\":\"shell\"," P_TAIL "}",
	  R_JSON },
	{ "from with blank", P_WITH("\"from\":\"10.0.0.1, 10.0.0.2\""), R_FROM_SPACES },
	{ "mode upper case", "{\"v\":1," P_KEY ",\"dur\":3600,\"mode\":\"SHELL\"," P_TAIL "}", R_MODE },
	{ "mode empty", "{\"v\":1," P_KEY ",\"dur\":3600,\"mode\":\"\"," P_TAIL "}", R_MODE },
	{ "mode scp", "{\"v\":1," P_KEY ",\"dur\":3600,\"mode\":\"scp\"," P_TAIL "}", R_MODE },
	{ "user upper case", P_WITH("\"user\":\"Shop\""), R_USER },
	{ "user empty", P_WITH("\"user\":\"\""), R_USER },
	{ "user with slash", P_WITH("\"user\":\"../root\""), R_USER },
	{ "host empty", P_WITH("\"host\":\"\""), R_HOST },
	{ "host final dot", P_WITH("\"host\":\"shop.example.\""), R_HOST },
	{ "host double dot", P_WITH("\"host\":\"shop..example\""), R_HOST },
	{ "host leading hyphen", P_WITH("\"host\":\"-shop\""), R_HOST },
	{ "host label trailing hyphen", P_WITH("\"host\":\"shop-.example\""), R_HOST },
	{ "host underscore", P_WITH("\"host\":\"shop_1\""), R_HOST },
	{ "host label of 64", P_WITH("\"host\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""), R_HOST },
	{ "iat 0", "{\"v\":1," P_KEY ",\"dur\":1,\"mode\":\"shell\",\"iat\":0,\"exp\":1,\"nonce\":\"" NONCE16 "\"}",
	  R_ISSUED },
	{ "iat negative", "{\"v\":1," P_KEY ",\"dur\":1,\"mode\":\"shell\",\"iat\":-5,\"exp\":1,\"nonce\":\"" NONCE16 "\"}",
	  R_ISSUED },
	{ "iat after 9999", "{\"v\":1," P_KEY ",\"dur\":1,\"mode\":\"shell\",\"iat\":253402300800,"
			    "\"exp\":253402300801,\"nonce\":\"" NONCE16 "\"}", R_ISSUED },
	{ "iat most negative", "{\"v\":1," P_KEY ",\"dur\":1,\"mode\":\"shell\",\"iat\":-9223372036854775808,"
			       "\"exp\":1,\"nonce\":\"" NONCE16 "\"}", R_ISSUED },
	{ "exp equal to iat", "{\"v\":1," P_KEY ",\"dur\":1,\"mode\":\"shell\",\"iat\":1767225600,"
			      "\"exp\":1767225600,\"nonce\":\"" NONCE16 "\"}", R_WINDOW_ORDER },
	{ "exp before iat", "{\"v\":1," P_KEY ",\"dur\":1,\"mode\":\"shell\",\"iat\":1767225600,"
			    "\"exp\":-9223372036854775808,\"nonce\":\"" NONCE16 "\"}", R_WINDOW_ORDER },
	{ "window 7 days + 1 s", "{\"v\":1," P_KEY ",\"dur\":1,\"mode\":\"shell\",\"iat\":1767225600,"
				 "\"exp\":1767830401,\"nonce\":\"" NONCE16 "\"}", R_WINDOW_LONG },
	{ "exp largest integer", "{\"v\":1," P_KEY ",\"dur\":1,\"mode\":\"shell\",\"iat\":1767225600,"
				 "\"exp\":9223372036854775807,\"nonce\":\"" NONCE16 "\"}", R_WINDOW_LONG },
	{ "nonce of 15 bytes", "{\"v\":1," P_KEY ",\"dur\":1,\"mode\":\"shell\"," P_TAIL_NONCE("AAECAwQFBgcICQoLDA0O") "}",
	  R_NONCE },
	{ "nonce of 65 bytes", "{\"v\":1," P_KEY ",\"dur\":1,\"mode\":\"shell\"," P_TAIL_NONCE(
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") "}",
	  R_NONCE },
	{ "nonce padded", "{\"v\":1," P_KEY ",\"dur\":1,\"mode\":\"shell\"," P_TAIL_NONCE("AAECAwQFBgcICQoLDA0ODw==") "}",
	  R_NONCE },
	{ "nonce standard base64", "{\"v\":1," P_KEY ",\"dur\":1,\"mode\":\"shell\"," P_TAIL_NONCE("AAECAwQFBgcICQoLDA0O+/") "}",
	  R_NONCE },
	{ "nonce stray bits", "{\"v\":1," P_KEY ",\"dur\":1,\"mode\":\"shell\"," P_TAIL_NONCE("AAECAwQFBgcICQoLDA0ODx") "}",
	  R_NONCE },
	{ "nonce empty", "{\"v\":1," P_KEY ",\"dur\":1,\"mode\":\"shell\"," P_TAIL_NONCE("") "}", R_NONCE },
};

static void test_payloads(void)
{
	for (size_t i = 0; i < SL_ARRAY_SIZE(payload_cases); i++) {
		const struct payload_case *pc = &payload_cases[i];
		char *text = raw_token(pc->payload);
		struct token *t = NULL;
		const char *why = NULL;
		int r = token_decode(text, &t, &why);

		if (pc->reason) {
			CHECK_MSG(r == SL_REFUSED && !t, "%s: decode returned %d", pc->name, r);
			CHECK_MSG(why && strcmp(why, pc->reason) == 0,
				  "%s: why = \"%s\", expected \"%s\"", pc->name,
				  why ? why : "(null)", pc->reason);
		} else {
			CHECK_MSG(r == 0 && t, "%s: refused: %s", pc->name, why ? why : "?");
			/* Verified over the bytes as sent, white space and all. */
			if (t) {
				CHECK_INT(t->payload_len, strlen(pc->payload));
				CHECK_MSG(token_verify_signature(t, &vendor.trusted, 1, NULL, &why) == 0,
					  "%s: signature", pc->name);
			}
		}
		token_free(t);
		free(text);
	}
}

/* token_sign checks the claims as token_decode would, with the same
 * reasons, and checks its secret key. */
static void test_sign_refusals(void)
{
	static const char *const ipv6_32 =
		"2001:db8:1111:2222:3333:4444:5555:6600/128,2001:db8:1111:2222:3333:4444:5555:6601/128,"
		"2001:db8:1111:2222:3333:4444:5555:6602/128,2001:db8:1111:2222:3333:4444:5555:6603/128,"
		"2001:db8:1111:2222:3333:4444:5555:6604/128,2001:db8:1111:2222:3333:4444:5555:6605/128,"
		"2001:db8:1111:2222:3333:4444:5555:6606/128,2001:db8:1111:2222:3333:4444:5555:6607/128,"
		"2001:db8:1111:2222:3333:4444:5555:6608/128,2001:db8:1111:2222:3333:4444:5555:6609/128,"
		"2001:db8:1111:2222:3333:4444:5555:6610/128,2001:db8:1111:2222:3333:4444:5555:6611/128,"
		"2001:db8:1111:2222:3333:4444:5555:6612/128,2001:db8:1111:2222:3333:4444:5555:6613/128,"
		"2001:db8:1111:2222:3333:4444:5555:6614/128,2001:db8:1111:2222:3333:4444:5555:6615/128,"
		"2001:db8:1111:2222:3333:4444:5555:6616/128,2001:db8:1111:2222:3333:4444:5555:6617/128,"
		"2001:db8:1111:2222:3333:4444:5555:6618/128,2001:db8:1111:2222:3333:4444:5555:6619/128,"
		"2001:db8:1111:2222:3333:4444:5555:6620/128,2001:db8:1111:2222:3333:4444:5555:6621/128,"
		"2001:db8:1111:2222:3333:4444:5555:6622/128,2001:db8:1111:2222:3333:4444:5555:6623/128,"
		"2001:db8:1111:2222:3333:4444:5555:6624/128,2001:db8:1111:2222:3333:4444:5555:6625/128,"
		"2001:db8:1111:2222:3333:4444:5555:6626/128,2001:db8:1111:2222:3333:4444:5555:6627/128,"
		"2001:db8:1111:2222:3333:4444:5555:6628/128,2001:db8:1111:2222:3333:4444:5555:6629/128,"
		"2001:db8:1111:2222:3333:4444:5555:6630/128,2001:db8:1111:2222:3333:4444:5555:6631/128";
	static const char host253[] = HOST253;
	struct {
		const char *name;
		struct token_claims claims;
		const char *reason;
	} cases[] = {
		{ "no key", { .key = NULL }, "token has no \"key\" (public key)" },
		{ "DSA key", { .key = DSA_LINE }, R_KEY_DSA },
		{ "ticket", { .ticket = "a b" }, R_TICKET_CHARS },
		{ "from", { .from = "10.0.0.1, 10.0.0.2" }, R_FROM_SPACES },
		{ "user", { .user = "Root" }, R_USER },
		{ "host", { .host = "shop..example" }, R_HOST },
		{ "host of 254", { .host = "a" HOST253 }, R_HOST },
		{ "duration 0", { .duration = 0 }, R_DURATION },
		{ "duration over", { .duration = DURATION_MAX + 1 }, R_DURATION },
		{ "mode", { .mode = (enum authkeys_mode)7 }, R_MODE },
		{ "issued 0", { .issued_at = 0 }, R_ISSUED },
		{ "window empty", { .valid_until = IAT }, R_WINDOW_ORDER },
		{ "window 7 days + 1 s", { .valid_until = IAT + TOKEN_VALID_MAX + 1 }, R_WINDOW_LONG },
		{ "nonce", { .nonce = "short" }, R_NONCE },
		{ "too long", { .key = RSA8192_LINE, .from = ipv6_32, .host = host253 }, R_SIGN_TOO_LONG },
	};
	unsigned char bad_secret[crypto_sign_SECRETKEYBYTES];
	struct token_claims c;
	const char *why;
	char *text;

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		struct token_claims *k = &cases[i].claims;
		const char *reason = cases[i].reason;

		CHECK(reason != NULL);

		/* Each case changes one field of a good set of claims. */
		c = full_claims();
		if (k->key || strcmp(cases[i].name, "no key") == 0)
			c.key = k->key;
		if (k->ticket)
			c.ticket = k->ticket;
		if (k->from)
			c.from = k->from;
		if (k->user)
			c.user = k->user;
		if (k->host)
			c.host = k->host;
		if (strncmp(cases[i].name, "duration", 8) == 0)
			c.duration = k->duration;
		if (k->mode)
			c.mode = k->mode;
		if (strcmp(cases[i].name, "issued 0") == 0)
			c.issued_at = 0;
		if (k->valid_until)
			c.valid_until = k->valid_until;
		if (k->nonce)
			c.nonce = k->nonce;
		why = NULL;
		text = NULL;
		CHECK_MSG(token_sign(&c, vendor.secret_key, &text, &why) == SL_REFUSED,
			  "%s: not refused", cases[i].name);
		CHECK_MSG(why && strcmp(why, reason) == 0, "%s: why = \"%s\", expected \"%s\"",
			  cases[i].name, why ? why : "(null)", reason);
		CHECK(text == NULL);
		free(text);
	}

	/* The host of 253 characters, the 8192-bit RSA key and the 32-entry
	 * source list each fit on their own. */
	c = full_claims();
	c.host = host253;
	text = sign_or_die(&c, &vendor);
	free(text);
	c = full_claims();
	c.key = RSA8192_LINE;
	text = sign_or_die(&c, &vendor);
	CHECK(strlen(text) <= TOKEN_TEXT_MAX);
	free(text);
	c = full_claims();
	c.from = ipv6_32;
	text = sign_or_die(&c, &vendor);
	free(text);

	/* A secret key whose public half is not its seed's. */
	memcpy(bad_secret, vendor.secret_key, sizeof(bad_secret));
	bad_secret[40] ^= 1;
	c = full_claims();
	text = NULL;
	CHECK_INT(token_sign(&c, bad_secret, &text, &why), SL_REFUSED);
	CHECK_STR(why, R_SECRET_KEY);
	CHECK(text == NULL);
}

/* How long tokens get, for the numbers token.h promises. */
static void test_sizes(void)
{
	struct token_claims c = {
		.key = ED_LINE,
		.ticket = "TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT",
		.duration = DURATION_MAX,
		.mode = AUTHKEYS_MODE_SHELL,
		.user = "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu$",
		.issued_at = TOKEN_TIME_MAX - 1,
		.valid_until = TOKEN_TIME_MAX,
	};
	char *text = sign_or_die(&c, &vendor);
	size_t bare = strlen(text);

	CHECK_MSG(bare <= 520, "longest ed25519 token without from and host: %zu", bare);
	free(text);
	c.host = HOST253;
	text = sign_or_die(&c, &vendor);
	CHECK_MSG(strlen(text) <= bare + 360, "with a 253-character host: %zu", strlen(text));
	free(text);
	c.host = NULL;
	c.from = "2001:db8:1111:2222:3333:4444:5555:6600/128";
	text = sign_or_die(&c, &vendor);
	CHECK_MSG(strlen(text) <= bare + 70, "with one long from entry: %zu", strlen(text));
	free(text);
	c.from = "2001:db8:1111:2222:3333:4444:5555:6600/128,2001:db8:1111:2222:3333:4444:5555:6601/128";
	text = sign_or_die(&c, &vendor);
	CHECK_MSG(strlen(text) <= bare + 130, "with two long from entries: %zu", strlen(text));
	free(text);
	/* A realistic full one: a host name and four networks. */
	c.host = "shop-server-01.customer-domain.example.com";
	c.from = "203.0.113.0/24,198.51.100.0/24,192.0.2.0/24,2001:db8::/32";
	text = sign_or_die(&c, &vendor);
	CHECK_MSG(strlen(text) <= 1024, "ed25519 token with host and from: %zu", strlen(text));
	free(text);
}

static char *read_text(const char *path, size_t *len)
{
	char *buf = calloc(1, 8192);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (!buf)
		abort();
	*len = 0;
	if (fd < 0)
		return buf;
	n = read(fd, buf, 8191);
	if (n > 0)
		*len = (size_t)n;
	close(fd);
	return buf;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
	    fchmod(fd, mode) < 0 || close(fd) < 0) {
		perror(path);
		abort();
	}
}

static void expect_load_refused(const char *name, const char *path, const char *reason)
{
	struct token_signer *s = NULL;
	const char *why = NULL;
	int r = token_signer_load(path, &s, &why);

	CHECK_MSG(r == SL_REFUSED && !s, "%s: load returned %d", name, r);
	CHECK_MSG(why && strcmp(why, reason) == 0, "%s: why = \"%s\", expected \"%s\"",
		  name, why ? why : "(null)", reason);
	token_signer_free(s);
}

static void test_signer_files(const char *dir)
{
	char path[512], pub[520], other_path[512], conf[512], text[1200], line[TOKEN_SIGNER_PUBLIC_LINE_SIZE];
	struct sshlease_config *config = NULL;
	const struct config_signer *matched = NULL;
	struct token_signer *signer = NULL;
	struct token_claims c = full_claims();
	struct token *t = NULL;
	char **problems = NULL, *secret, *pub_text, *before, *token_text;
	const char *why = NULL;
	size_t secret_len, pub_len, before_len;
	struct stat st;
	mode_t old_umask = umask(022);

	snprintf(path, sizeof(path), "%s/signer", dir);
	snprintf(pub, sizeof(pub), "%s/signer.pub", dir);
	CHECK_INT(token_keygen(path, "vendor-support", &why), 0);
	CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600);
	CHECK(lstat(pub, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0644);

	/* The files say exactly what token.h says. */
	secret = read_text(path, &secret_len);
	CHECK_INT(secret_len, 30 + 15 + 89);
	CHECK(strncmp(secret, "sshlease-signer-secret-key-v1\nvendor-support\n", 45) == 0);
	CHECK(secret_len == 134 && secret[133] == '\n' && secret[131] == '=' &&
	      strchr(secret + 45, '\n') == secret + 133);
	pub_text = read_text(pub, &pub_len);
	CHECK_INT(pub_len, 15 + 44 + 1);
	CHECK(strncmp(pub_text, "vendor-support ", 15) == 0 && pub_text[58] == '=' &&
	      pub_text[59] == '\n');

	CHECK_INT(token_signer_load(path, &signer, &why), 0);
	if (!signer)
		exit(1);
	CHECK_STR(signer->name, "vendor-support");
	token_signer_public_line(signer, line, sizeof(line));
	CHECK(strlen(line) + 1 == pub_len && strncmp(line, pub_text, pub_len - 1) == 0);

	/* The .pub line is the config's trusted_signer value, verbatim. */
	snprintf(conf, sizeof(conf), "%s/sshlease.conf", dir);
	snprintf(text, sizeof(text), "[tokens]\nrequire_signed = yes\ntrusted_signer = %s", pub_text);
	write_text(conf, text, 0600);
	CHECK_INT(config_load(conf, false, &config, &problems), 0);
	for (size_t i = 0; problems && problems[i]; i++)
		fprintf(stderr, "config problem: %s\n", problems[i]);
	config_problems_free(problems);
	if (!config)
		exit(1);
	CHECK_INT(config->n_signers, 1);
	CHECK_STR(config->signers[0].name, "vendor-support");
	CHECK(memcmp(config->signers[0].public_key, signer->public_key, 32) == 0);
	CHECK_INT(token_sign(&c, signer->secret_key, &token_text, &why), 0);
	CHECK_INT(token_decode(token_text, &t, &why), 0);
	if (t) {
		CHECK_INT(token_verify_signature(t, config->signers, config->n_signers, &matched, &why), 0);
		CHECK(matched == &config->signers[0]);
	}
	token_free(t);
	free(token_text);
	config_free(config);
	token_signer_free(signer);

	/* Never overwritten: not the key, not the .pub, not through a link. */
	before = read_text(path, &before_len);
	CHECK_INT(token_keygen(path, "again", &why), SL_EXISTS);
	CHECK_STR(why, R_KEY_EXISTS);
	free(secret);
	secret = read_text(path, &secret_len);
	CHECK(secret_len == before_len && memcmp(secret, before, before_len) == 0);
	free(before);
	snprintf(other_path, sizeof(other_path), "%s/second", dir);
	snprintf(text, sizeof(text), "%s.pub", other_path);
	write_text(text, "keep me\n", 0644);
	CHECK_INT(token_keygen(other_path, "second", &why), SL_EXISTS);
	CHECK_STR(why, R_PUB_EXISTS);
	CHECK(lstat(other_path, &st) < 0 && errno == ENOENT);
	before = read_text(text, &before_len);
	CHECK(before_len == 8 && memcmp(before, "keep me\n", 8) == 0);
	free(before);
	snprintf(other_path, sizeof(other_path), "%s/link", dir);
	snprintf(text, sizeof(text), "%s/link-target", dir);
	CHECK(symlink(text, other_path) == 0);
	CHECK_INT(token_keygen(other_path, "link", &why), SL_EXISTS);
	CHECK_STR(why, R_KEY_EXISTS);
	CHECK(lstat(text, &st) < 0 && errno == ENOENT);
	expect_load_refused("symlink", other_path, R_FILE_SYMLINK);

	/* Names as trusted_signer takes them. */
	snprintf(other_path, sizeof(other_path), "%s/named", dir);
	CHECK_INT(token_keygen(other_path, "a b", &why), SL_REFUSED);
	CHECK_STR(why, R_SIGNER_NAME);
	CHECK_INT(token_keygen(other_path, "", &why), SL_REFUSED);
	CHECK_INT(token_keygen(other_path,
			       "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn", &why),
		  SL_REFUSED);
	CHECK(lstat(other_path, &st) < 0 && errno == ENOENT);
	CHECK(token_signer_name_valid("support@vendor.example_1-2"));
	CHECK(!token_signer_name_valid("vendor/support"));
	CHECK(!token_signer_name_valid(NULL));

	/* Exactly 0600 whatever the umask. */
	umask(0);
	snprintf(other_path, sizeof(other_path), "%s/umask0", dir);
	CHECK_INT(token_keygen(other_path, "umask0", &why), 0);
	CHECK(lstat(other_path, &st) == 0 && (st.st_mode & 07777) == 0600);
	umask(old_umask);

	/* Loading refuses what it cannot trust. */
	{
		struct token_signer *s = NULL;

		snprintf(other_path, sizeof(other_path), "%s/missing", dir);
		CHECK_INT(token_signer_load(other_path, &s, &why), SL_NOT_FOUND);
		CHECK(s == NULL);
	}
	expect_load_refused("directory", dir, R_FILE_TYPE);
	CHECK(chmod(path, 0640) == 0);
	expect_load_refused("group-readable", path, R_FILE_MODE);
	CHECK(chmod(path, 0604) == 0);
	expect_load_refused("world-readable", path, R_FILE_MODE);
	CHECK(chmod(path, 0620) == 0);
	expect_load_refused("group-writable", path, R_FILE_MODE);
	CHECK(chmod(path, 0600) == 0);
	if (geteuid() == 0) {
		CHECK(chown(path, 65534, 65534) == 0);
		expect_load_refused("someone else's", path, R_FILE_OWNER);
		CHECK(chown(path, 0, 0) == 0);
	}

	{
		const char *b64 = secret + 45; /* the 88 characters and LF */
		char *variant;
		/* head, that many characters of the key's base64, tail */
		struct {
			const char *name, *head;
			int key_chars;
			const char *tail, *reason;
		} forms[] = {
			{ "CRLF", "sshlease-signer-secret-key-v1\r\nvendor\r\n", 88, "\r\n", R_FILE_FORMAT },
			{ "no final LF", "sshlease-signer-secret-key-v1\nvendor\n", 88, "", R_FILE_FORMAT },
			{ "extra line", "sshlease-signer-secret-key-v1\nvendor\n", 88, "\n\n", R_FILE_FORMAT },
			{ "other header", "sshlease-signer-secret-key-v2\nvendor\n", 88, "\n", R_FILE_FORMAT },
			{ "bad name", "sshlease-signer-secret-key-v1\nven dor\n", 88, "\n", R_FILE_FORMAT },
			{ "empty name", "sshlease-signer-secret-key-v1\n\n", 88, "\n", R_FILE_FORMAT },
			{ "short key", "sshlease-signer-secret-key-v1\nvendor\n", 84, "\n", R_FILE_FORMAT },
			{ "unpadded key", "sshlease-signer-secret-key-v1\nvendor\n", 86, "\n", R_FILE_FORMAT },
			{ "blank after key", "sshlease-signer-secret-key-v1\nvendor\n", 88, " \n", R_FILE_FORMAT },
			{ "ok", "sshlease-signer-secret-key-v1\nvendor\n", 88, "\n", NULL },
		};

		snprintf(other_path, sizeof(other_path), "%s/variant", dir);
		for (size_t i = 0; i < SL_ARRAY_SIZE(forms); i++) {
			if (asprintf(&variant, "%s%.*s%s", forms[i].head, forms[i].key_chars,
				     b64, forms[i].tail) < 0)
				abort();
			write_text(other_path, variant, 0600);
			free(variant);
			if (forms[i].reason) {
				expect_load_refused(forms[i].name, other_path, forms[i].reason);
			} else {
				struct token_signer *s = NULL;

				CHECK_INT(token_signer_load(other_path, &s, &why), 0);
				CHECK(s && strcmp(s->name, "vendor") == 0);
				token_signer_free(s);
			}
		}

		/* A damaged public half: flip bits in the last key bytes
		 * (the characters before "=" carry them). */
		variant = strdup(secret);
		variant[45 + 80] = variant[45 + 80] == 'A' ? 'B' : 'A';
		write_text(other_path, variant, 0600);
		expect_load_refused("public half damaged", other_path, R_FILE_MISMATCH);
		free(variant);

		variant = calloc(1, 1100);
		memset(variant, 'x', 1025);
		write_text(other_path, variant, 0600);
		expect_load_refused("1025 bytes", other_path, R_FILE_SIZE);
		free(variant);
	}
	free(secret);
	free(pub_text);
}

/* The fuzzer's valid-* seeds must stay valid, or it would never reach
 * the code behind the signature check. */
static void test_fuzz_corpus(void)
{
	const char *root = getenv("SSHLEASE_SOURCE_ROOT");
	struct test_signer fuzz_signer;
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	char dir_path[512], path[800];
	struct dirent *e;
	int valid = 0;
	DIR *dir;

	CHECK_MSG(root != NULL, "SSHLEASE_SOURCE_ROOT is not set");
	if (!root)
		return;
	crypto_sign_seed_keypair(pk, fuzz_signer.secret_key, token_fuzz_seed);
	fuzz_signer.trusted.name = (char *)"fuzz";
	memcpy(fuzz_signer.trusted.public_key, pk, sizeof(pk));
	snprintf(dir_path, sizeof(dir_path), "%s/tests/fuzz/corpus/token", root);
	dir = opendir(dir_path);
	CHECK_MSG(dir != NULL, "cannot open %s", dir_path);
	if (!dir)
		return;
	while ((e = readdir(dir))) {
		struct token *t = NULL;
		const char *why = NULL;
		size_t len;
		char *text;

		if (strncmp(e->d_name, "valid-", 6) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir_path, e->d_name);
		text = read_text(path, &len);
		CHECK_MSG(token_decode(text, &t, &why) == 0, "%s: %s", e->d_name, why ? why : "?");
		if (t) {
			CHECK_MSG(token_verify_signature(t, &fuzz_signer.trusted, 1, NULL, &why) == 0,
				  "%s: signature", e->d_name);
			CHECK_MSG(token_check_time(t, TOKEN_FUZZ_NOW, TOKEN_SKEW_DEFAULT, &why) == 0,
				  "%s: time", e->d_name);
			valid++;
		}
		token_free(t);
		free(text);
	}
	closedir(dir);
	CHECK_MSG(valid >= 4, "only %d valid seeds", valid);
}

static int remove_entry(const char *path, const struct stat *st SL_UNUSED,
			int type SL_UNUSED, struct FTW *ftw SL_UNUSED)
{
	return remove(path);
}

int main(void)
{
	char dir[] = "/tmp/test-token.XXXXXX";

	if (sodium_init() < 0)
		return 1;
	signer_from_seed(&vendor, 0x40, "vendor");
	signer_from_seed(&other, 0x80, "other");
	signer_from_seed(&vector_signer, 0x00, "vector");

	TEST(test_round_trip());
	TEST(test_vector());
	TEST(test_bit_flips());
	TEST(test_truncation());
	TEST(test_signers_and_time());
	TEST(test_envelope());
	TEST(test_payloads());
	TEST(test_sign_refusals());
	TEST(test_sizes());
	TEST(test_fuzz_corpus());

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	TEST(test_signer_files(dir));
	if (nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return test_done();
}

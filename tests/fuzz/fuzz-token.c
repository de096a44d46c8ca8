/* libFuzzer target for token_decode and token_verify_signature: no input
 * may crash them, leak, or yield a token that breaks the contract in
 * token.h.
 *
 * An input starting with "sl" is token text. Any other input is taken as
 * a payload and wrapped into a token signed by the fixed fuzz signer
 * (token-fuzz-key.h), so the mutations reach the JSON and field checks
 * and the code behind a good signature, not only base64url. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "token-fuzz-key.h"
#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz-token: broken: %s\n", #cond);    \
			abort();                                               \
		}                                                              \
	} while (0)

static unsigned char fuzz_secret[crypto_sign_SECRETKEYBYTES];
static struct config_signer fuzz_signers[2];
static unsigned char other_public[crypto_sign_PUBLICKEYBYTES];

static void setup(void)
{
	static int done;
	unsigned char seed[crypto_sign_SEEDBYTES], sk[crypto_sign_SECRETKEYBYTES];

	if (done)
		return;
	done = 1;
	FUZZ_ASSERT(sodium_init() >= 0);
	/* The first trusted signer is a stranger: the match must be found
	 * past it. */
	memset(seed, 0x5a, sizeof(seed));
	crypto_sign_seed_keypair(other_public, sk, seed);
	fuzz_signers[0].name = (char *)"stranger";
	memcpy(fuzz_signers[0].public_key, other_public, sizeof(other_public));
	crypto_sign_seed_keypair(fuzz_signers[1].public_key, fuzz_secret, token_fuzz_seed);
	fuzz_signers[1].name = (char *)"fuzz";
}

/* The payload wrapped as the format says, signed by the fuzz signer. */
static char *wrap_payload(const uint8_t *payload, size_t size)
{
	unsigned char signature[crypto_sign_BYTES];
	size_t domain_len = sizeof(TOKEN_DOMAIN);
	size_t p64 = sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	unsigned char *message = malloc(domain_len + size);
	char *text = malloc(4 + p64 + 1 + 87);

	FUZZ_ASSERT(message && text);
	memcpy(message, TOKEN_DOMAIN, domain_len);
	if (size)
		memcpy(message + domain_len, payload, size);
	crypto_sign_detached(signature, NULL, message, domain_len + size, fuzz_secret);
	memcpy(text, "sl1.", 4);
	sodium_bin2base64(text + 4, p64, payload, size,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	strcat(text, ".");
	sodium_bin2base64(text + strlen(text), 87, signature, sizeof(signature),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	free(message);
	return text;
}

static void check_token(const struct token *t, const char *text)
{
	FUZZ_ASSERT(t->version == TOKEN_VERSION);
	FUZZ_ASSERT(t->key && t->public_key && t->nonce);
	FUZZ_ASSERT(strlen(t->key) == strlen(t->public_key->type) + 1 +
					   strlen(t->public_key->blob_base64));
	FUZZ_ASSERT(t->duration >= 1 && t->duration <= DURATION_MAX);
	FUZZ_ASSERT(t->mode == AUTHKEYS_MODE_SHELL || t->mode == AUTHKEYS_MODE_SFTP);
	FUZZ_ASSERT(t->issued_at >= 1 && t->issued_at <= TOKEN_TIME_MAX);
	FUZZ_ASSERT(t->valid_until > t->issued_at &&
		    t->valid_until - t->issued_at <= TOKEN_VALID_MAX);
	FUZZ_ASSERT(t->payload_len > 0 && t->payload_len < strlen(text));
	FUZZ_ASSERT(!t->host || token_host_matches(t, t->host));
	FUZZ_ASSERT(token_nonce_keep_until(t, TOKEN_SKEW_DEFAULT) ==
		    t->valid_until + TOKEN_SKEW_DEFAULT);
}

/* Re-sign what was decoded: the same claims make a token that decodes to
 * the same fields and verifies. */
static void check_resign(const struct token *t)
{
	struct token_claims claims = {
		.key = t->key,
		.ticket = t->ticket,
		.duration = t->duration,
		.from = t->from,
		.mode = t->mode,
		.user = t->user,
		.host = t->host,
		.issued_at = t->issued_at,
		.valid_until = t->valid_until,
		.nonce = t->nonce,
	};
	struct token *again = NULL;
	const char *why = NULL;
	char *text = NULL;
	int r;

	r = token_sign(&claims, fuzz_secret, &text, &why);
	/* Only the length can stop a re-sign: the payload we write may be
	 * longer than one written by hand (escapes), never otherwise bad. */
	if (r == SL_REFUSED) {
		FUZZ_ASSERT(text == NULL && why != NULL);
		FUZZ_ASSERT(strncmp(why, "the token would be longer", 25) == 0);
		return;
	}
	FUZZ_ASSERT(r == 0 && text);
	FUZZ_ASSERT(token_decode(text, &again, &why) == 0);
	FUZZ_ASSERT(token_verify_signature(again, fuzz_signers, 2, NULL, &why) == 0);
	FUZZ_ASSERT(strcmp(again->key, t->key) == 0);
	FUZZ_ASSERT(strcmp(again->nonce, t->nonce) == 0);
	FUZZ_ASSERT(!again->ticket == !t->ticket && (!t->ticket || strcmp(again->ticket, t->ticket) == 0));
	FUZZ_ASSERT(!again->from == !t->from && (!t->from || strcmp(again->from, t->from) == 0));
	FUZZ_ASSERT(!again->user == !t->user && (!t->user || strcmp(again->user, t->user) == 0));
	FUZZ_ASSERT(!again->host == !t->host && (!t->host || strcmp(again->host, t->host) == 0));
	FUZZ_ASSERT(again->duration == t->duration && again->mode == t->mode);
	FUZZ_ASSERT(again->issued_at == t->issued_at && again->valid_until == t->valid_until);
	token_free(again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct config_signer *matched = NULL;
	struct token *t = NULL;
	const char *why = NULL;
	char *text;
	int r;

	setup();
	if (size >= 2 && data[0] == 's' && data[1] == 'l') {
		text = malloc(size + 1);
		FUZZ_ASSERT(text);
		memcpy(text, data, size);
		text[size] = '\0';
	} else {
		text = wrap_payload(data, size);
	}

	r = token_decode(text, &t, &why);
	if (r != 0) {
		FUZZ_ASSERT(r == SL_REFUSED && t == NULL);
		FUZZ_ASSERT(why != NULL && why[0] != '\0');
		free(text);
		return 0;
	}
	FUZZ_ASSERT(t != NULL && why == NULL);
	check_token(t, text);

	r = token_verify_signature(t, fuzz_signers, 2, &matched, &why);
	if (r == 0) {
		FUZZ_ASSERT(matched == &fuzz_signers[1]);
		r = token_check_time(t, TOKEN_FUZZ_NOW, TOKEN_SKEW_DEFAULT, &why);
		FUZZ_ASSERT(r == 0 || (r == SL_REFUSED && why));
		check_resign(t);
	} else {
		FUZZ_ASSERT(r == SL_REFUSED && matched == NULL);
		FUZZ_ASSERT(strcmp(why, "token signature does not verify against any trusted_signer") == 0);
	}
	token_free(t);
	free(text);
	return 0;
}

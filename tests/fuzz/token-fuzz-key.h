/* The fixed signer of the token fuzzer and of its seed corpus: the fuzzer
 * verifies every token against it and re-signs what it decodes, and the
 * unit test checks that the corpus's valid-* seeds still verify. A test
 * key: its secret is in this file on purpose; never trust it anywhere. */
#ifndef SSHLEASE_TOKEN_FUZZ_KEY_H
#define SSHLEASE_TOKEN_FUZZ_KEY_H

/* crypto_sign_seed_keypair seed of the fuzz signer. */
static const unsigned char token_fuzz_seed[32] = {
	0x66, 0x75, 0x7a, 0x7a, 0x2d, 0x74, 0x6f, 0x6b, /* "fuzz-tok" */
	0x65, 0x6e, 0x2d, 0x73, 0x69, 0x67, 0x6e, 0x65, /* "en-signe" */
	0x72, 0x2d, 0x6e, 0x6f, 0x74, 0x2d, 0x73, 0x65, /* "r-not-se" */
	0x63, 0x72, 0x65, 0x74, 0x21, 0x21, 0x21, 0x21, /* "cret!!!!" */
};

/* The corpus tokens are issued at 2026-01-01T00:00:00Z for one day; the
 * fuzzer checks times one hour into that window. */
#define TOKEN_FUZZ_ISSUED_AT 1767225600
#define TOKEN_FUZZ_NOW (TOKEN_FUZZ_ISSUED_AT + 3600)

#endif

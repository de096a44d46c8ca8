/* libFuzzer target for key_parse: no input may crash it, leak, or yield a
 * key that breaks the contract in key.h. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The loosest policy, so every key the parser can accept is reached; the
 * checker (key-check) uses the same one. */
static const struct key_policy fuzz_policy = {
	.allowed_families = KEY_FAMILIES_DEFAULT,
	.min_rsa_bits = 0,
};

#define FUZZ_ASSERT(cond)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz-key: broken: %s\n", #cond);      \
			abort();                                               \
		}                                                              \
	} while (0)

static void check_key(const struct sshlease_key *key, size_t size)
{
	struct sshlease_key *again = NULL;
	const char *why = NULL;
	char line[KEY_LINE_MAX + 1];
	int n;

	FUZZ_ASSERT(key_family_name(key->family) != NULL);
	FUZZ_ASSERT(strncmp(key->fingerprint, "SHA256:", 7) == 0);
	FUZZ_ASSERT(strlen(key->fingerprint) == 7 + 43);
	FUZZ_ASSERT(key->bits >= 256);
	FUZZ_ASSERT(strlen(key->type) + strlen(key->blob_base64) + 1 <= size);
	for (const char *c = key->comment; *c; c++)
		FUZZ_ASSERT(*c >= 0x20 && *c < 0x7f);

	/* The canonical fields alone make the same key. */
	n = snprintf(line, sizeof(line), "%s %s", key->type, key->blob_base64);
	FUZZ_ASSERT(n > 0 && (size_t)n <= size);
	FUZZ_ASSERT(key_parse(line, (size_t)n, &fuzz_policy, &again, &why) == 0);
	FUZZ_ASSERT(strcmp(again->fingerprint, key->fingerprint) == 0);
	FUZZ_ASSERT(again->bits == key->bits && again->family == key->family);
	key_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sshlease_key *key = NULL;
	const char *why = NULL;
	int r;

	r = key_parse((const char *)data, size, &fuzz_policy, &key, &why);
	if (r == 0) {
		FUZZ_ASSERT(key != NULL && why == NULL);
		check_key(key, size);
	} else {
		FUZZ_ASSERT(r == SL_REFUSED && key == NULL);
		FUZZ_ASSERT(why != NULL && why[0] != '\0');
	}
	key_free(key);
	return 0;
}

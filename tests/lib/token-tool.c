/*
 * token-tool: makes the tokens `sshlease token sign` will not make, so the
 * integration tests can show the daemon refusing them: tokens issued at a
 * chosen time (expired, not valid yet) and validly signed payloads of any
 * content (another version, a doubled key).
 *
 *   token-tool sign SIGNER KEY --iat UNIX --exp UNIX --dur SECONDS
 *              [--user U] [--host H] [--from LIST] [--mode shell|sftp]
 *              [--ticket T]
 *       token_sign with these claims; KEY is a key line or @FILE.
 *   token-tool raw SIGNER PAYLOAD
 *       "sl1." base64url(PAYLOAD) "." base64url(signature), the signature
 *       made over TOKEN_DOMAIN NUL PAYLOAD exactly as token.h describes.
 *
 * SIGNER is a secret key file of `sshlease token keygen`. The token goes to
 * stdout. Exit 0; 1 on failure; 2 on a usage error; 3 when token_sign
 * refuses a claim.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authkeys.h"
#include "common.h"
#include "token.h"

#define TOOL "token-tool"

static void usage(void)
{
	fputs("usage: " TOOL " sign SIGNER KEY --iat UNIX --exp UNIX --dur SECONDS\n"
	      "           [--user U] [--host H] [--from LIST] [--mode shell|sftp] [--ticket T]\n"
	      "       " TOOL " raw SIGNER PAYLOAD\n",
	      stderr);
}

static bool parse_int(const char *text, int64_t *out)
{
	char *end;
	long long value;

	errno = 0;
	value = strtoll(text, &end, 10);
	if (errno || end == text || *end)
		return false;
	*out = value;
	return true;
}

/* A key line from text or @FILE (its first line), in a new string. */
static char *key_text(const char *arg)
{
	char *line = NULL;
	size_t size = 0;
	FILE *f;

	if (arg[0] != '@')
		return strdup(arg);
	f = fopen(arg + 1, "re");
	if (!f || getline(&line, &size, f) < 0) {
		perror(arg + 1);
		free(line);
		line = NULL;
	} else {
		line[strcspn(line, "\r\n")] = '\0';
	}
	if (f)
		fclose(f);
	return line;
}

static struct token_signer *load_signer(const char *path)
{
	struct token_signer *signer = NULL;
	const char *why = NULL;
	int r = token_signer_load(path, &signer, &why);

	if (r != 0) {
		fprintf(stderr, TOOL ": %s: %s\n", path,
			r < 0 ? strerror(-r) : why ? why : "cannot load");
		return NULL;
	}
	return signer;
}

static int cmd_sign(int argc, char **argv)
{
	enum { OPT_IAT = 0x100, OPT_EXP, OPT_DUR, OPT_USER, OPT_HOST, OPT_FROM,
	       OPT_MODE, OPT_TICKET };
	static const struct option options[] = {
		{ "iat", required_argument, NULL, OPT_IAT },
		{ "exp", required_argument, NULL, OPT_EXP },
		{ "dur", required_argument, NULL, OPT_DUR },
		{ "user", required_argument, NULL, OPT_USER },
		{ "host", required_argument, NULL, OPT_HOST },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "ticket", required_argument, NULL, OPT_TICKET },
		{ 0 },
	};
	struct token_claims claims = { .mode = AUTHKEYS_MODE_SHELL };
	struct token_signer *signer = NULL;
	int64_t iat = 0, exp = 0, dur = 0;
	const char *why = NULL;
	char *key = NULL, *token = NULL;
	int opt, r, rc = 1;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_IAT:
			if (!parse_int(optarg, &iat))
				goto usage;
			break;
		case OPT_EXP:
			if (!parse_int(optarg, &exp))
				goto usage;
			break;
		case OPT_DUR:
			if (!parse_int(optarg, &dur))
				goto usage;
			break;
		case OPT_USER: claims.user = optarg; break;
		case OPT_HOST: claims.host = optarg; break;
		case OPT_FROM: claims.from = optarg; break;
		case OPT_TICKET: claims.ticket = optarg; break;
		case OPT_MODE:
			if (strcmp(optarg, "sftp") == 0)
				claims.mode = AUTHKEYS_MODE_SFTP;
			else if (strcmp(optarg, "shell") != 0)
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 2 || iat == 0 || exp == 0 || dur == 0)
		goto usage;
	signer = load_signer(argv[optind]);
	key = key_text(argv[optind + 1]);
	if (!signer || !key)
		goto out;
	claims.key = key;
	claims.duration = dur;
	claims.issued_at = (time_t)iat;
	claims.valid_until = (time_t)exp;
	r = token_sign(&claims, signer->secret_key, &token, &why);
	if (r != 0) {
		fprintf(stderr, TOOL ": %s\n", r < 0 ? strerror(-r) : why);
		rc = r < 0 ? 1 : 3;
		goto out;
	}
	printf("%s\n", token);
	rc = 0;
out:
	free(token);
	free(key);
	token_signer_free(signer);
	return rc;
usage:
	usage();
	return 2;
}

static int cmd_raw(const char *signer_path, const char *payload)
{
	struct token_signer *signer = load_signer(signer_path);
	size_t len = strlen(payload), domain_len = strlen(TOKEN_DOMAIN) + 1;
	unsigned char *message = NULL, signature[crypto_sign_BYTES];
	char *payload64 = NULL, signature64[128];
	size_t payload64_size = sodium_base64_ENCODED_LEN(
		len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	int rc = 1;

	if (!signer)
		return 1;
	message = malloc(domain_len + len);
	payload64 = malloc(payload64_size);
	if (!message || !payload64)
		goto out;
	memcpy(message, TOKEN_DOMAIN, domain_len); /* its NUL included */
	memcpy(message + domain_len, payload, len);
	crypto_sign_detached(signature, NULL, message, domain_len + len,
			     signer->secret_key);
	sodium_bin2base64(payload64, payload64_size, (const unsigned char *)payload,
			  len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_bin2base64(signature64, sizeof(signature64), signature,
			  sizeof(signature), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	printf("%s%s.%s\n", TOKEN_PREFIX, payload64, signature64);
	rc = 0;
out:
	free(message);
	free(payload64);
	token_signer_free(signer);
	return rc;
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0) {
		fputs(TOOL ": libsodium cannot start\n", stderr);
		return 1;
	}
	if (argc >= 2 && strcmp(argv[1], "sign") == 0)
		return cmd_sign(argc - 1, argv + 1);
	if (argc == 4 && strcmp(argv[1], "raw") == 0)
		return cmd_raw(argv[2], argv[3]);
	usage();
	return 2;
}

/* sshlease token show: what a token says, and whether it verifies here. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build-config.h"
#include "cli.h"
#include "config.h"
#include "timeutil.h"
#include "token.h"

static const char show_help[] =
	"Usage: sshlease token show [--config FILE] [--json] TOKEN | @FILE | -\n\n"
	"Print in plain words what a signed token asks for (key type and\n"
	"fingerprint, ticket, duration, source restriction, mode, account and\n"
	"host binding, when it was made and until when it can be redeemed)\n"
	"and whether its signature verifies against the trusted_signer lines\n"
	"of the config. Nothing is granted and the daemon is not asked.\n"
	"TOKEN is the sl1. line itself, @FILE reads it from FILE, - from\n"
	"standard input.\n\n"
	"Options:\n"
	"  --config FILE  the config whose trusted_signer lines are tried\n"
	"                 (default: " SSHLEASE_CONFIG_PATH ")\n"
	"  --json         print one JSON object\n"
	"  -h, --help     show this help\n\n"
	"Exit codes: 0 the token decodes and its signature verifies, or no\n"
	"trusted_signer is configured to check it against; 3 the token is\n"
	"malformed, its signature does not verify against any trusted_signer,\n"
	"or the config has problems; 1 the config cannot be read; 2 usage.\n";

/* What became of the signature check. */
struct show_signature {
	bool checked;        /* some trusted_signer was tried */
	bool verified;
	char signer[TOKEN_SIGNER_NAME_MAX + 1]; /* when verified */
	const char *reason;  /* static; when not verified */
};

static int show_parse(struct cli *cli, int argc, char **argv,
		      const char **config, bool *json)
{
	enum { OPT_CONFIG = 0x100, OPT_JSON };
	static const struct option options[] = {
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ 0 },
	};
	int opt;

	while ((opt = cli_getopt(cli, argc, argv, ":h", options)) != -1) {
		switch (opt) {
		case OPT_CONFIG:
			if (cli_set_once(cli, config, optarg, "--config"))
				return SL_EXIT_USAGE;
			break;
		case OPT_JSON:
			*json = true;
			break;
		case CLI_OPT_HELP:
			return cli_help(show_help);
		default:
			return SL_EXIT_USAGE;
		}
	}
	if (cli_operands(cli, argc, argv, 1, "the token") != 0)
		return SL_EXIT_USAGE;
	return CLI_CONTINUE;
}

/* Load the config: 0, or the exit code after reporting. */
static int show_load_config(const struct cli *cli, const char *path,
			    bool explicit_file, struct sshlease_config **out)
{
	char shown[CLI_TEXT_CAP + 1], line[CLI_TEXT_CAP + 1];
	char **problems = NULL;
	int r = config_load(path, !explicit_file, out, &problems);

	cli_safe(shown, sizeof(shown), path, "");
	if (r == 0)
		return 0;
	if (r == -ENOMEM)
		cli_out_of_memory();
	if (r == SL_REFUSED) {
		cli_refused(cli, "%s has problems, so its trusted_signer lines "
			    "cannot be used (see sshlease check-config): %s",
			    shown, cli_safe(line, sizeof(line),
					    problems ? problems[0] : NULL, "?"));
		config_problems_free(problems);
		return SL_EXIT_REFUSED;
	}
	cli_error(cli, "cannot read %s: %s%s", shown,
		  strerror(r == SL_NOT_FOUND ? ENOENT : -r),
		  r == -EACCES ? " (run it with sudo)" : "");
	return SL_EXIT_FAILURE;
}

static int show_verify(const struct token *t,
		       const struct sshlease_config *config,
		       struct show_signature *sig)
{
	const struct config_signer *matched = NULL;
	int r;

	*sig = (struct show_signature){ .checked = config->n_signers > 0 };
	r = token_verify_signature(t, config->signers, config->n_signers,
				   &matched, &sig->reason);
	if (r < 0)
		return r;
	if (r == 0) {
		sig->verified = true;
		sig->reason = NULL;
		cli_safe(sig->signer, sizeof(sig->signer),
			 matched ? matched->name : NULL, "?");
	}
	return 0;
}

/* "open", "expired" or "not valid yet", with the clock skew the daemon
 * allows. */
static const char *show_window(const struct token *t, time_t now)
{
	const char *why = NULL;

	if (token_check_time(t, now, TOKEN_SKEW_DEFAULT, &why) == 0)
		return "open";
	return now < t->issued_at ? "not valid yet" : "expired";
}

static void show_text_host(const struct token *t)
{
	char host[TOKEN_HOST_MAX + 2], text[CLI_TEXT_CAP + 1];

	if (!t->host) {
		cli_field(stdout, "host:", "any host");
		return;
	}
	if (gethostname(host, sizeof(host)) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	snprintf(text, sizeof(text), "%s only (this host, %.64s, %s)", t->host,
		 host[0] ? host : "?",
		 token_host_matches(t, host[0] ? host : NULL) ? "matches" :
								"does not match");
	cli_field(stdout, "host:", text);
}

static void show_text_signature(const struct show_signature *sig,
				const char *config_path)
{
	char text[512];

	if (sig->verified)
		snprintf(text, sizeof(text), "verifies: signed by trusted_signer "
			 "'%.64s' of %.200s", sig->signer, config_path);
	else if (sig->checked)
		snprintf(text, sizeof(text), "does not verify against any "
			 "trusted_signer of %.200s", config_path);
	else
		snprintf(text, sizeof(text), "not checked: no trusted_signer "
			 "configured in %.200s", config_path);
	cli_field(stdout, "signature:", text);
}

static void show_text(const struct token *t, const struct show_signature *sig,
		      const char *config_path, time_t now)
{
	const struct sshlease_key *key = t->public_key;
	char text[CLI_TEXT_CAP + 1], when[160], left[64];
	const char *window = show_window(t, now);

	printf("Signed token, version %d:\n", t->version);
	snprintf(text, sizeof(text), "%s %s (%s, %u bits)", key->type,
		 key->fingerprint, key_family_name(key->family), key->bits);
	cli_field(stdout, "key:", text);
	cli_field(stdout, "ticket:", t->ticket ? t->ticket : "none");
	duration_format(t->duration, left, sizeof(left));
	snprintf(text, sizeof(text), "%s, counted from when it is granted", left);
	cli_field(stdout, "duration:", text);
	cli_field(stdout, "from:", t->from ? t->from : "any address");
	cli_field(stdout, "mode:", t->mode == AUTHKEYS_MODE_SFTP ?
					   "SFTP only, no shell" :
					   "shell (no port, agent or X11 "
					   "forwarding)");
	if (t->user)
		snprintf(text, sizeof(text), "%s only", t->user);
	cli_field(stdout, "account:", t->user ? text :
				      "any (the merchant names it with "
				      "grant --user)");
	show_text_host(t);
	cli_format_deadline(t->issued_at, when, sizeof(when));
	cli_field(stdout, "issued:", when);
	cli_format_deadline(t->valid_until, when, sizeof(when));
	cli_field(stdout, "valid until:", when);
	if (strcmp(window, "open") == 0) {
		cli_format_remaining(t->valid_until, now, left, sizeof(left));
		snprintf(text, sizeof(text), "open: can be redeemed for %s more",
			 left);
	} else {
		snprintf(text, sizeof(text), "%s: cannot be redeemed now", window);
	}
	cli_field(stdout, "redeem:", text);
	cli_field(stdout, "nonce:", t->nonce);
	show_text_signature(sig, config_path);
}

static json_t *show_time_json(time_t t)
{
	char text[32];

	time_format_utc(t, text, sizeof(text));
	return json_string(text);
}

static json_t *show_string_or_null(const char *text)
{
	return text ? json_string(text) : json_null();
}

static json_t *show_json(const struct token *t, const struct show_signature *sig,
			 const char *config_path, time_t now)
{
	const struct sshlease_key *key = t->public_key;
	json_t *signature, *out;

	signature = json_pack("{s:b, s:b, s:o, s:o}", "checked", sig->checked,
			      "verified", sig->verified, "signer",
			      show_string_or_null(sig->verified ? sig->signer : NULL),
			      "reason", show_string_or_null(sig->reason));
	out = json_pack("{s:i, s:s, s:s, s:s, s:i, s:o, s:I, s:o, s:s, s:o, s:o,"
			" s:o, s:I, s:o, s:I, s:s, s:s, s:o, s:s}",
			"version", t->version, "key", t->key, "key_type", key->type,
			"fingerprint", key->fingerprint, "bits", (int)key->bits,
			"ticket", show_string_or_null(t->ticket),
			"duration", (json_int_t)t->duration,
			"from", show_string_or_null(t->from),
			"mode", authkeys_mode_name(t->mode),
			"user", show_string_or_null(t->user),
			"host", show_string_or_null(t->host),
			"issued_at", show_time_json(t->issued_at),
			"issued_at_unix", (json_int_t)t->issued_at,
			"valid_until", show_time_json(t->valid_until),
			"valid_until_unix", (json_int_t)t->valid_until,
			"nonce", t->nonce, "window", show_window(t, now),
			"signature", signature, "config", config_path);
	if (!out)
		cli_out_of_memory();
	return out;
}

/* Decode the token text: 0, or the exit code after reporting. */
static int show_decode(const struct cli *cli, const char *arg,
		       struct token **out)
{
	const char *why = NULL;
	char *text = NULL;
	size_t len = 0;
	int r;

	r = cli_key_input(cli, arg, &text, &len);
	if (r != 0)
		return r;
	r = token_decode(text, out, &why);
	free(text);
	if (r == -ENOMEM)
		cli_out_of_memory();
	if (r == SL_REFUSED)
		return cli_refused(cli, "%s", why);
	if (r != 0) {
		cli_error(cli, "cannot decode the token: %s", strerror(-r));
		return SL_EXIT_FAILURE;
	}
	return 0;
}

int cmd_token_show(struct cli *cli, int argc, char **argv)
{
	struct sshlease_config *config = NULL;
	struct show_signature sig = { 0 };
	struct token *t = NULL;
	const char *config_path = NULL;
	char shown_config[CLI_TEXT_CAP + 1];
	bool json = false;
	time_t now = time(NULL);
	int r;

	r = show_parse(cli, argc, argv, &config_path, &json);
	if (r != CLI_CONTINUE)
		return r;
	r = show_decode(cli, argv[optind], &t);
	if (r == 0)
		r = show_load_config(cli, config_path ? config_path :
						       SSHLEASE_CONFIG_PATH,
				     config_path != NULL, &config);
	if (r != 0)
		goto out;
	cli_safe(shown_config, sizeof(shown_config),
		 config_path ? config_path : SSHLEASE_CONFIG_PATH, "");
	r = show_verify(t, config, &sig);
	if (r < 0) {
		cli_error(cli, "cannot check the signature: %s", strerror(-r));
		r = SL_EXIT_FAILURE;
		goto out;
	}
	if (json) {
		json_t *object = show_json(t, &sig, shown_config, now);

		r = cli_print_json(object);
		json_decref(object);
	} else {
		show_text(t, &sig, shown_config, now);
	}
	if (r == 0 && sig.checked && !sig.verified)
		r = cli_refused(cli, "the token's signature does not verify "
				"against any trusted_signer of %s",
				shown_config);
out:
	config_free(config);
	token_free(t);
	return r;
}

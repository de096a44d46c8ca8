/* sshlease token: the support side of signed tokens; token keygen. */
#include <errno.h>
#include <string.h>

#include "build-config.h"
#include "cli.h"
#include "token.h"

static const char token_help[] =
	"Usage: sshlease token keygen --output FILE [--name NAME]\n"
	"       sshlease token sign --signer FILE (--key KEY | --new-key OUT) "
	"[OPTIONS]\n"
	"       sshlease token show [--config FILE] [--json] TOKEN\n\n"
	"Signed tokens are how support staff ask a merchant for access: one\n"
	"line (sl1....) that says which key may log in, for how long, from\n"
	"where and in which mode, signed with the vendor's signer key. The\n"
	"merchant runs 'sudo sshlease grant TOKEN'; sshleased accepts it only\n"
	"when the signature verifies against a trusted_signer of its config.\n\n"
	"Commands:\n"
	"  keygen  make a signer key pair (once per vendor or team)\n"
	"  sign    make a token for a key (once per ticket)\n"
	"  show    print what a token says and whether its signature verifies\n\n"
	"These commands do not talk to sshleased. 'sshlease token COMMAND\n"
	"--help' shows a command's options; 'man sshlease-token' the format.\n";

static const char keygen_help[] =
	"Usage: sshlease token keygen --output FILE [--name NAME]\n\n"
	"Make a new Ed25519 signer key for signing tokens. Writes FILE, the\n"
	"secret key (mode 0600; keep it secret: whoever holds it can sign\n"
	"tokens), and FILE.pub, the line a merchant's server needs in its\n"
	"config as trusted_signer. Existing files are never overwritten.\n\n"
	"Options:\n"
	"  -o, --output FILE  where to write the secret key (required)\n"
	"  --name NAME        the signer's name, shown to the merchant with\n"
	"                     every grant it signs: 1 to 64 of A-Z a-z 0-9\n"
	"                     . _ @ - (default: FILE's base name up to its\n"
	"                     first dot, e.g. 'acme' for acme.key)\n"
	"  -h, --help         show this help\n\n"
	"Exit codes: 0 written, 1 failure, 2 usage error, 3 refused (a file\n"
	"exists, a bad name).\n";

int cmd_token(struct cli *cli, int argc, char **argv)
{
	static const struct {
		const char *name;
		const char *command; /* for "Try 'sshlease token sign --help'" */
		int (*run)(struct cli *cli, int argc, char **argv);
	} subcommands[] = {
		{ "keygen", "token keygen", cmd_token_keygen },
		{ "sign", "token sign", cmd_token_sign },
		{ "show", "token show", cmd_token_show },
	};
	char name[64];

	if (argc < 2)
		return cli_usage_error(cli, "token needs a command: keygen, "
				       "sign or show");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cli_help(token_help);
	for (size_t i = 0; i < SL_ARRAY_SIZE(subcommands); i++) {
		if (strcmp(argv[1], subcommands[i].name) != 0)
			continue;
		cli->command = subcommands[i].command;
		optind = 0;
		return subcommands[i].run(cli, argc - 1, argv + 1);
	}
	return cli_usage_error(cli, "unknown token command '%s' (keygen, sign "
			       "or show)",
			       cli_safe(name, sizeof(name), argv[1], ""));
}

/* The default signer name: FILE's base name up to its first dot. */
static void keygen_default_name(const char *path, char *buf, size_t size)
{
	const char *base = strrchr(path, '/');
	size_t len;

	base = base ? base + 1 : path;
	len = strcspn(base, ".");
	if (len >= size)
		len = size - 1;
	memcpy(buf, base, len);
	buf[len] = '\0';
}

static int keygen_parse(struct cli *cli, int argc, char **argv,
			const char **output, const char **name)
{
	enum { OPT_NAME = 0x100 };
	static const struct option options[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ 0 },
	};
	int opt;

	while ((opt = cli_getopt(cli, argc, argv, ":o:h", options)) != -1) {
		switch (opt) {
		case 'o':
			if (cli_set_once(cli, output, optarg, "--output"))
				return SL_EXIT_USAGE;
			break;
		case OPT_NAME:
			if (cli_set_once(cli, name, optarg, "--name"))
				return SL_EXIT_USAGE;
			break;
		case CLI_OPT_HELP:
			return cli_help(keygen_help);
		default:
			return SL_EXIT_USAGE;
		}
	}
	if (cli_operands(cli, argc, argv, 0, "") != 0)
		return SL_EXIT_USAGE;
	if (!*output || (*output)[0] == '\0')
		return cli_usage_error(cli, "keygen needs --output FILE: where "
				       "to write the secret key");
	return CLI_CONTINUE;
}

/* What to do with the key just made: the trusted_signer line to add. */
static int keygen_report(const struct cli *cli, const char *path,
			 const char *shown_path)
{
	struct token_signer *signer = NULL;
	char line[TOKEN_SIGNER_PUBLIC_LINE_SIZE], name[TOKEN_SIGNER_NAME_MAX + 1];
	const char *why = NULL;
	int r = token_signer_load(path, &signer, &why);

	if (r != 0) {
		cli_error(cli, "%s was written but cannot be read back: %s",
			  shown_path, r < 0 ? strerror(-r) : why);
		return SL_EXIT_FAILURE;
	}
	token_signer_public_line(signer, line, sizeof(line));
	cli_safe(name, sizeof(name), signer->name, "?");
	token_signer_free(signer);
	printf("Signer key '%s' made:\n", name);
	cli_field(stdout, "secret key:", shown_path);
	printf("  %-12s %s.pub\n", "public key:", shown_path);
	printf("\nKeep %s secret (mode 0600): whoever holds it can sign tokens.\n"
	       "Next, on every server that should accept tokens signed with it,\n"
	       "add this line to the [tokens] section of %s\n"
	       "and reload sshleased:\n\n"
	       "  [tokens]\n"
	       "  trusted_signer = %s\n\n"
	       "  sudo sshlease check-config && sudo systemctl reload sshleased\n\n"
	       "Then make a token per ticket with: sshlease token sign --signer "
	       "%s ...\n",
	       shown_path, SSHLEASE_CONFIG_PATH, line, shown_path);
	return SL_EXIT_OK;
}

int cmd_token_keygen(struct cli *cli, int argc, char **argv)
{
	const char *output = NULL, *name = NULL, *why = NULL;
	char default_name[TOKEN_SIGNER_NAME_MAX + 2], shown[CLI_TEXT_CAP + 1];
	char shown_name[80];
	int r;

	r = keygen_parse(cli, argc, argv, &output, &name);
	if (r != CLI_CONTINUE)
		return r;
	cli_safe(shown, sizeof(shown), output, "");
	if (!name) {
		keygen_default_name(output, default_name, sizeof(default_name));
		if (!token_signer_name_valid(default_name))
			return cli_usage_error(cli, "cannot take a signer name "
					       "from '%s': give one with --name "
					       "NAME (1 to 64 of A-Z a-z 0-9 "
					       ". _ @ -)", shown);
		name = default_name;
	}
	cli_safe(shown_name, sizeof(shown_name), name, "");
	r = token_keygen(output, name, &why);
	if (r == SL_REFUSED)
		return cli_refused(cli, "--name '%s': %s", shown_name, why);
	if (r == SL_EXISTS)
		return cli_refused(cli, "%s: %s; choose another --output or "
				   "remove the old files first", shown, why);
	if (r < 0) {
		cli_error(cli, "cannot write %s: %s", shown, strerror(-r));
		return SL_EXIT_FAILURE;
	}
	return keygen_report(cli, output, shown);
}

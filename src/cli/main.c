/* sshlease: the command-line client of sshleased; global options, dispatch. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "build-config.h"
#include "cli.h"

struct command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "grant", cmd_grant, "give a key SSH access to an account until a deadline" },
	{ "revoke", cmd_revoke, "end grants now" },
	{ "extend", cmd_extend, "move the deadline of a grant" },
	{ "list", cmd_list, "list the active grants" },
	{ "show", cmd_show, "show one grant in full" },
	{ "restore-key", cmd_restore_key, "put back a key removed as added during a grant" },
	{ "status", cmd_status, "show what the daemon is doing" },
	{ "audit", cmd_audit, "show the audit trail or verify its hash chain" },
	{ "check-config", cmd_check_config, "check a config file without the daemon" },
	{ "doctor", cmd_doctor, "check that a grant would work on this host" },
	{ "token", cmd_token, "make and read signed tokens (keygen, sign, show)" },
};

static void usage(FILE *f)
{
	fputs("Usage: sshlease [--socket PATH] COMMAND [OPTIONS]\n\n"
	      "Give an SSH key access to a local account until a deadline;\n"
	      "the daemon sshleased removes it again on time.\n\nCommands:\n",
	      f);
	for (size_t i = 0; i < SL_ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
	fputs("\nOptions:\n"
	      "  --socket PATH  control socket of sshleased (default: "
	      "$SSHLEASE_SOCKET,\n"
	      "                 else " CLI_DEFAULT_SOCKET ")\n"
	      "  -h, --help     show this help; 'sshlease COMMAND --help' for "
	      "a command\n"
	      "  --version      show the version\n\n"
	      "Exit codes: 0 done, 1 failure, 2 usage error, 3 refused,\n"
	      "4 permission denied, 5 daemon not reachable.\n",
	      f);
}

static bool colour_wanted(int fd)
{
	const char *no_colour = getenv("NO_COLOR");
	const char *term = getenv("TERM");

	if (no_colour && no_colour[0] != '\0')
		return false;
	if (!term || strcmp(term, "dumb") == 0)
		return false;
	return isatty(fd) == 1;
}

/* Every argument goes into JSON as a string, which must be UTF-8. */
static int check_arguments(struct cli *cli, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		json_t *probe = json_string(argv[i]);

		if (!probe)
			return cli_refused(cli, "argument %d is not valid "
					   "UTF-8 text", i);
		json_decref(probe);
	}
	return 0;
}

static int run_command(struct cli *cli, int argc, char **argv)
{
	char name[64];

	for (size_t i = 0; i < SL_ARRAY_SIZE(commands); i++) {
		if (strcmp(argv[0], commands[i].name) != 0)
			continue;
		cli->command = commands[i].name;
		optind = 0; /* glibc: start afresh on the command's words */
		return commands[i].run(cli, argc, argv);
	}
	return cli_usage_error(cli, "unknown command '%s'",
			       cli_safe(name, sizeof(name), argv[0], ""));
}

static int parse_global(struct cli *cli, int argc, char **argv)
{
	enum { OPT_SOCKET = 0x100, OPT_VERSION };
	static const struct option options[] = {
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 },
	};
	const char *socket_path = NULL;
	int opt;

	while ((opt = cli_getopt(cli, argc, argv, "+:h", options)) != -1) {
		switch (opt) {
		case OPT_SOCKET:
			if (cli_set_once(cli, &socket_path, optarg, "--socket"))
				return SL_EXIT_USAGE;
			break;
		case CLI_OPT_HELP:
			usage(stdout);
			return SL_EXIT_OK;
		case OPT_VERSION:
			printf("sshlease %s\n", SSHLEASE_VERSION);
			return SL_EXIT_OK;
		default:
			return SL_EXIT_USAGE;
		}
	}
	if (socket_path && socket_path[0] == '\0')
		return cli_usage_error(cli, "--socket needs a path");
	if (socket_path) {
		cli->socket_path = socket_path;
		cli->socket_given = true;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct cli cli = { .socket_path = CLI_DEFAULT_SOCKET };
	const char *env_socket = getenv("SSHLEASE_SOCKET");
	int r;

	/* A daemon that goes away mid-request is an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	cli.colour_out = colour_wanted(STDOUT_FILENO);
	cli.colour_err = colour_wanted(STDERR_FILENO);
	if (env_socket && env_socket[0] != '\0') {
		cli.socket_path = env_socket;
		cli.socket_given = true;
	}
	r = check_arguments(&cli, argc, argv);
	if (r == 0)
		r = parse_global(&cli, argc, argv);
	if (r >= 0)
		return cli_finish_output(&cli, r);
	if (optind >= argc) {
		usage(stderr);
		return SL_EXIT_USAGE;
	}
	r = run_command(&cli, argc - optind, argv + optind);
	return cli_finish_output(&cli, r);
}

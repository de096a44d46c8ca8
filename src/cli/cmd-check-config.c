/* sshlease check-config: check a config file here, without the daemon. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "build-config.h"
#include "cli.h"
#include "config.h"

static const char check_config_help[] =
	"Usage: sshlease check-config [FILE]\n\n"
	"Check a config file the way sshleased reads it, without asking the\n"
	"daemon. FILE defaults to " SSHLEASE_CONFIG_PATH ".\n"
	"Every problem is printed on stderr as 'file:line: reason'.\n\n"
	"Exit codes: 0 the config is valid, 3 it has problems (sshleased\n"
	"would refuse it), 1 it cannot be read.\n\n"
	"Options:\n"
	"  -h, --help  show this help\n";

static int check_config_parse(const struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ 0 },
	};
	int opt;

	while ((opt = cli_getopt(cli, argc, argv, ":h", options)) != -1) {
		if (opt == CLI_OPT_HELP)
			return cli_help(check_config_help);
		return SL_EXIT_USAGE;
	}
	if (argc - optind > 1)
		return cli_operands(cli, argc, argv, 1, "");
	return CLI_CONTINUE;
}

static int check_config_problems(const struct cli *cli, const char *path,
				 char **problems)
{
	char line[CLI_TEXT_CAP + 1];
	size_t n = 0;

	for (; problems && problems[n]; n++)
		fprintf(stderr, "%s\n", cli_safe(line, sizeof(line),
						 problems[n], ""));
	cli_error(cli, "%s: %zu problem%s; sshleased would refuse this config",
		  path, n, n == 1 ? "" : "s");
	return SL_EXIT_REFUSED;
}

int cmd_check_config(struct cli *cli, int argc, char **argv)
{
	struct sshlease_config *config = NULL;
	char **problems = NULL, path[CLI_TEXT_CAP + 1];
	const char *file = SSHLEASE_CONFIG_PATH;
	bool explicit_file = false;
	struct stat st;
	int r;

	r = check_config_parse(cli, argc, argv);
	if (r != CLI_CONTINUE)
		return r;
	if (optind < argc) {
		file = argv[optind];
		explicit_file = true;
	}
	cli_safe(path, sizeof(path), file, "");
	r = config_load(file, !explicit_file, &config, &problems);
	if (r == 0 && stat(file, &st) != 0 && errno == ENOENT)
		printf("%s does not exist: the built-in defaults apply\n", path);
	else if (r == 0)
		printf("%s: config is valid\n", path);
	else if (r == SL_REFUSED)
		r = check_config_problems(cli, path, problems);
	else
		cli_error(cli, "cannot read %s: %s", path,
			  strerror(r == SL_NOT_FOUND ? ENOENT : -r));
	if (r != 0 && r != SL_EXIT_REFUSED)
		r = SL_EXIT_FAILURE;
	config_problems_free(problems);
	config_free(config);
	return r;
}

/* sshleased: the command line; daemon.c does the rest. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "build-config.h"
#include "daemon.h"
#include "log.h"

static const char usage_text[] =
	"Usage: sshleased [--config FILE] [--check] [--version] [--help]\n\n"
	"The sshlease daemon: grants time-limited SSH access by managing lines\n"
	"in authorized_keys, and removes them at their deadline. Runs in the\n"
	"foreground (as a systemd service); logs to the journal under systemd,\n"
	"to standard error otherwise.\n\n"
	"  -c, --config FILE  configuration file (default " SSHLEASE_CONFIG_PATH ";\n"
	"                     built-in defaults when that file does not exist)\n"
	"  --check            check the configuration, print every problem as\n"
	"                     file:line: reason, and exit (0 ok, 3 problems,\n"
	"                     1 unreadable)\n"
	"  --version          print the version and exit\n"
	"  -h, --help         show this help\n\n"
	"Signals: SIGHUP reloads the configuration; SIGTERM and SIGINT stop.\n";

struct options {
	const char *config_path;
	bool config_explicit;
	bool check;
};

/* SL_EXIT_OK to go on (or after --help/--version with *done), else the
 * exit code. */
static int parse_options(int argc, char **argv, struct options *o, bool *done)
{
	enum { OPT_CHECK = 0x100, OPT_VERSION };
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt;

	*o = (struct options){ .config_path = SSHLEASE_CONFIG_PATH };
	*done = false;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (o->config_explicit) {
				fprintf(stderr, "sshleased: --config given twice\n");
				return SL_EXIT_USAGE;
			}
			o->config_path = optarg;
			o->config_explicit = true;
			break;
		case OPT_CHECK:
			o->check = true;
			break;
		case OPT_VERSION:
			printf("sshleased %s\n", SSHLEASE_VERSION);
			*done = true;
			return SL_EXIT_OK;
		case 'h':
			fputs(usage_text, stdout);
			*done = true;
			return SL_EXIT_OK;
		case ':':
		default: {
			char safe[64];

			fprintf(stderr, "sshleased: %s: %s\nTry 'sshleased --help'.\n",
				log_safe(safe, sizeof(safe), argv[optind - 1]),
				opt == ':' ? "needs a value" : "unknown option");
			return SL_EXIT_USAGE;
		}
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sshleased: takes no arguments\nTry 'sshleased --help'.\n");
		return SL_EXIT_USAGE;
	}
	if (o->config_path[0] == '\0') {
		fprintf(stderr, "sshleased: --config needs a file name\n");
		return SL_EXIT_USAGE;
	}
	return SL_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct options o;
	bool done;
	int r;

	r = parse_options(argc, argv, &o, &done);
	if (r != SL_EXIT_OK || done)
		return r;
	if (o.check) {
		log_init("sshleased", LOG_TARGET_STDERR, LOG_INFO);
		return daemon_check(o.config_path, o.config_explicit);
	}
	return daemon_run(o.config_path, o.config_explicit);
}

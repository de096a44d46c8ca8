/* sshlease extend: move the deadline of a grant. */
#include "cli.h"

static const char extend_help[] =
	"Usage: sshlease extend ID (--for DURATION | --until TIME) [--json]\n\n"
	"Move the deadline of grant ID; the daemon's max_duration still\n"
	"applies.\n\n"
	"Options:\n"
	"  --for DURATION  the new deadline is DURATION from now (90m, 48h,\n"
	"                  7d, 1d12h)\n"
	"  --until TIME    the new deadline: 'YYYY-MM-DD HH:MM[:SS]' local\n"
	"                  time, or with Z or +HH:MM\n"
	"  --json          print the grant as one JSON object\n"
	"  -h, --help      show this help\n";

enum { OPT_FOR = 0x100, OPT_UNTIL, OPT_JSON };

struct extend_options {
	const char *for_text, *until_text;
	time_t until;
	bool json;
};

static int extend_option(const struct cli *cli, int opt,
			 struct extend_options *o)
{
	if (opt == OPT_FOR)
		return cli_set_once(cli, &o->for_text, optarg, "--for");
	if (opt == OPT_UNTIL)
		return cli_set_once(cli, &o->until_text, optarg, "--until");
	if (opt == OPT_JSON) {
		o->json = true;
		return 0;
	}
	return SL_EXIT_USAGE;
}

static int extend_parse(const struct cli *cli, int argc, char **argv,
			struct extend_options *o)
{
	static const struct option options[] = {
		{ "for", required_argument, NULL, OPT_FOR },
		{ "until", required_argument, NULL, OPT_UNTIL },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ 0 },
	};
	int opt;

	while ((opt = cli_getopt(cli, argc, argv, ":h", options)) != -1) {
		if (opt == CLI_OPT_HELP)
			return cli_help(extend_help);
		if (extend_option(cli, opt, o) != 0)
			return SL_EXIT_USAGE;
	}
	if (cli_operands(cli, argc, argv, 1, "the grant ID") != 0)
		return SL_EXIT_USAGE;
	if (o->for_text && o->until_text)
		return cli_usage_error(cli, "give --for or --until, not both");
	if (!o->for_text && !o->until_text)
		return cli_usage_error(cli, "give the new deadline with --for "
				       "or --until");
	if (o->until_text && cli_parse_until(cli, o->until_text, &o->until))
		return SL_EXIT_REFUSED;
	return CLI_CONTINUE;
}

static void extend_print(const json_t *grant)
{
	char id[64], when[160], left[64];
	time_t expires;

	cli_safe(id, sizeof(id), cli_json_string(grant, "id"), "?");
	if (!cli_grant_expires(grant, &expires)) {
		printf("Extended %s.\n", id);
		return;
	}
	cli_format_deadline(expires, when, sizeof(when));
	cli_format_remaining(expires, time(NULL), left, sizeof(left));
	printf("Extended %s: it now ends %s, in %s.\n", id, when, left);
}

int cmd_extend(struct cli *cli, int argc, char **argv)
{
	struct extend_options o = { 0 };
	json_t *request, *reply = NULL, *grant;
	int r;

	r = extend_parse(cli, argc, argv, &o);
	if (r != CLI_CONTINUE)
		return r;
	request = cli_request_new("extend");
	cli_json_set_string(request, "id", argv[optind]);
	cli_request_deadline(request, o.for_text, o.until_text ? &o.until : NULL);
	r = cli_request(cli, request, &reply);
	json_decref(request);
	if (r != 0)
		return r;
	grant = cli_reply_get(cli, reply, "grant", JSON_OBJECT);
	if (!grant) {
		r = SL_EXIT_FAILURE;
	} else if (o.json) {
		r = cli_print_json(grant);
	} else {
		extend_print(grant);
	}
	json_decref(reply);
	return r;
}

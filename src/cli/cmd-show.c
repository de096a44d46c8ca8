/* sshlease show: one grant in full. */
#include "cli.h"

static const char show_help[] =
	"Usage: sshlease show [--json] ID\n\n"
	"Show every detail of the active grant ID.\n\n"
	"Options:\n"
	"  --json      print the grant as one JSON object\n"
	"  -h, --help  show this help\n";

int cmd_show(struct cli *cli, int argc, char **argv)
{
	json_t *request, *reply = NULL, *grant;
	bool json = false;
	int r;

	r = cli_parse_json_only(cli, argc, argv, show_help, &json);
	if (r != CLI_CONTINUE)
		return r;
	r = cli_operands(cli, argc, argv, 1, "the grant ID");
	if (r != 0)
		return r;
	request = cli_request_new("show");
	cli_json_set_string(request, "id", argv[optind]);
	r = cli_request(cli, request, &reply);
	json_decref(request);
	if (r != 0)
		return r;
	grant = cli_reply_get(cli, reply, "grant", JSON_OBJECT);
	if (!grant) {
		r = SL_EXIT_FAILURE;
	} else if (json) {
		r = cli_print_json(grant);
	} else {
		cli_grant_print(stdout, grant, time(NULL));
	}
	json_decref(reply);
	return r;
}

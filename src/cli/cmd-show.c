/* sshlease show: one grant in full. */
#include "cli.h"
#include "timeutil.h"

static const char show_help[] =
	"Usage: sshlease show [--json] ID\n\n"
	"Show every detail of the active grant ID, its last login and its open\n"
	"sessions (logins with its key whose connection is open: they are\n"
	"closed when the grant ends).\n\n"
	"Options:\n"
	"  --json      print the grant as one JSON object\n"
	"  -h, --help  show this help\n";

/* The last login and one line per open session: ADDRESS port PORT since
 * TIME, sshd pid PID. */
static void show_sessions(FILE *f, const json_t *grant)
{
	const json_t *sessions = json_object_get(grant, "sessions");
	char when[128], line[512], address[80];
	const json_t *s;
	time_t t;
	size_t i;

	if (cli_json_time(grant, "last_login", &t))
		cli_format_deadline(t, when, sizeof(when));
	else
		snprintf(when, sizeof(when), "never");
	cli_field(f, "last login:", when);
	if (json_array_size(sessions) == 0) {
		cli_field(f, "sessions:", "none open");
		return;
	}
	json_array_foreach(sessions, i, s) {
		const json_t *port = json_object_get(s, "port");
		const json_t *pid = json_object_get(s, "pid");
		char kind[64];

		if (cli_json_time(s, "since", &t))
			cli_format_deadline(t, when, sizeof(when));
		else
			snprintf(when, sizeof(when), "?");
		cli_safe(kind, sizeof(kind), cli_json_string(s, "kind"), "");
		snprintf(line, sizeof(line), "%s port %lld since %s, sshd pid %lld%s%s",
			 cli_safe(address, sizeof(address), cli_json_string(s, "address"), "?"),
			 json_is_integer(port) ? (long long)json_integer_value(port) : 0,
			 when, json_is_integer(pid) ? (long long)json_integer_value(pid) : 0,
			 kind[0] ? ", " : "", kind);
		cli_field(f, i == 0 ? "sessions:" : "", line);
	}
}

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
		show_sessions(stdout, grant);
	}
	json_decref(reply);
	return r;
}

/* sshlease status: what the daemon is doing. */
#include <string.h>

#include "build-config.h"
#include "cli.h"

static const char status_help[] =
	"Usage: sshlease status [--json]\n\n"
	"Show whether sshleased runs, since when, how many grants are\n"
	"active, how many of them ended but could not have their line removed\n"
	"yet, and when the next one ends. Exit code 5 when the daemon\n"
	"cannot be reached.\n\n"
	"Options:\n"
	"  --json      print the daemon's answer as one JSON object\n"
	"  -h, --help  show this help\n";

/* A number the daemon sends as an integer (or as an array to count). */
static long long status_count(const json_t *value)
{
	if (json_is_array(value))
		return (long long)json_array_size(value);
	return json_is_integer(value) ? (long long)json_integer_value(value) : -1;
}

static void status_print(const json_t *reply, time_t now)
{
	char version[64], text[200], left[64];
	long long pid = status_count(json_object_get(reply, "pid"));
	long long grants = status_count(json_object_get(reply, "grants"));
	long long failing = status_count(json_object_get(reply, "removals_failing"));
	time_t t;

	printf("sshleased %s is running", cli_safe(version, sizeof(version),
		cli_json_string(reply, "version"), "(version unknown)"));
	if (pid > 0)
		printf(" as pid %lld", pid);
	fputs("\n", stdout);
	if (cli_json_time(reply, "started", &t)) {
		cli_format_deadline(t, text, sizeof(text));
		cli_field(stdout, "started:", text);
	}
	snprintf(text, sizeof(text), "%lld", grants);
	cli_field(stdout, "grants:", grants >= 0 ? text : "unknown");
	if (failing > 0) {
		snprintf(text, sizeof(text), "%lld grant%s ended but %s line could not be removed yet (sshlease list says why)",
			 failing, failing == 1 ? "" : "s", failing == 1 ? "its" : "their");
		cli_field(stdout, "failing:", text);
	}
	if (cli_json_time(reply, "next_deadline", &t)) {
		cli_format_deadline(t, text, sizeof(text));
		cli_format_remaining(t, now, left, sizeof(left));
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
			 ", in %s", left);
	} else {
		snprintf(text, sizeof(text), "none");
	}
	cli_field(stdout, "next end:", text);
	cli_field(stdout, "config:", cli_json_string(reply, "config"));
	cli_field(stdout, "socket:", cli_json_string(reply, "socket"));
	cli_field(stdout, "client:", "sshlease " SSHLEASE_VERSION);
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
	json_t *request, *reply = NULL;
	bool json = false;
	int r;

	r = cli_parse_json_only(cli, argc, argv, status_help, &json);
	if (r != CLI_CONTINUE)
		return r;
	r = cli_operands(cli, argc, argv, 0, "");
	if (r != 0)
		return r;
	request = cli_request_new("status");
	r = cli_request(cli, request, &reply);
	json_decref(request);
	if (r != 0)
		return r;
	json_object_del(reply, "ok");
	if (json)
		r = cli_print_json(reply);
	else
		status_print(reply, time(NULL));
	json_decref(reply);
	return r;
}

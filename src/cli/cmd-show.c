/* sshlease show: one grant in full. */
#include <string.h>

#include "cli.h"
#include "footholds.h"
#include "protocol.h"
#include "timeutil.h"

static const char show_help[] =
	"Usage: sshlease show [--json] ID\n\n"
	"Show every detail of the active grant ID, its last login, its open\n"
	"sessions (logins with its key whose connection is open: they are\n"
	"closed when the grant ends) and the key lines found added to the\n"
	"account's files since it was made, with the command that puts a\n"
	"removed one back, and the footholds found changed. For a grant that\n"
	"has ended, its end report from the audit log (what its sessions\n"
	"were, keys added, footholds).\n\n"
	"Options:\n"
	"  --json      print the grant (or the end report's audit record) as\n"
	"              one JSON object\n"
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

/* One line per key line found added since the grant was made: TIME
 * ~/.ssh/FILE TYPE FINGERPRINT, removed or kept, and for a removed one
 * the command that puts it back. */
static void show_added_keys(FILE *f, const json_t *grant)
{
	const json_t *keys = json_object_get(grant, "added_keys");
	const json_t *omitted = json_object_get(grant, "added_keys_omitted");
	char when[128], line[768], file[80], type[80], fp[80], user[80];
	const json_t *k;
	time_t t;
	size_t i;

	if (json_array_size(keys) == 0) {
		cli_field(f, "added keys:", "none");
		return;
	}
	cli_safe(user, sizeof(user), cli_json_string(grant, "user"), "?");
	json_array_foreach(keys, i, k) {
		bool removed = json_is_true(json_object_get(k, "removed"));

		if (cli_json_time(k, "at_unix", &t))
			cli_format_deadline(t, when, sizeof(when));
		else
			snprintf(when, sizeof(when), "?");
		cli_safe(fp, sizeof(fp), cli_json_string(k, "fingerprint"), "");
		snprintf(line, sizeof(line), "%s ~/.ssh/%s %s %s, %s", when,
			 cli_safe(file, sizeof(file), cli_json_string(k, "file"), "?"),
			 cli_safe(type, sizeof(type), cli_json_string(k, "key_type"), ""),
			 fp[0] ? fp : "(no key)", removed ? "removed" : "kept (report only)");
		cli_field(f, i == 0 ? "added keys:" : "", line);
		if (removed && fp[0] && !json_is_true(json_object_get(k, "truncated"))) {
			snprintf(line, sizeof(line), "  put back with: sshlease restore-key %s %s", user, fp);
			cli_field(f, "", line);
		}
	}
	if (json_is_integer(omitted) && json_integer_value(omitted) > 0) {
		snprintf(line, sizeof(line), "%lld more, in the audit log (sshlease audit --grant ID)",
			 (long long)json_integer_value(omitted));
		cli_field(f, "", line);
	}
}

/* The footholds found changed (named as the daemon names them). */
static void show_footholds(FILE *f, const json_t *grant)
{
	const json_t *list = json_object_get(grant, "footholds");
	char line[256], name[64];
	const json_t *item;
	size_t i, n = 0;

	json_array_foreach(list, i, item) {
		enum foothold_item which;

		cli_safe(name, sizeof(name), json_string_value(item), "?");
		snprintf(line, sizeof(line), "%s changed since the grant began (reported, not undone)",
			 foothold_from_name(name, &which) ? foothold_label(which) : name);
		cli_field(f, n++ == 0 ? "footholds:" : "", line);
	}
	if (n == 0)
		cli_field(f, "footholds:", "none changed (crontab, at jobs, linger, user units)");
}

/* The newest record of event (or, with event NULL, the newest that has a
 * "report": a grant's end) in an audit answer, or NULL. */
static const json_t *newest_record(const json_t *reply, const char *event)
{
	const json_t *records = json_object_get(reply, "records"), *rec, *found = NULL;
	size_t i;

	json_array_foreach(records, i, rec) {
		const char *e = cli_json_string(rec, "event");

		if (event ? e && strcmp(e, event) == 0 : cli_json_string(rec, "report") != NULL)
			found = rec;
	}
	return found;
}

/* A grant that is no longer active: its end report, from the audit log.
 * Returns an exit code, or -1 when the log has none (the caller then says
 * what the daemon said). */
static int show_ended(struct cli *cli, const char *id, bool json)
{
	json_t *request = cli_request_new("audit"), *reply = NULL;
	const json_t *report, *made;
	char when[128], text[1024];
	time_t t;
	int r;

	cli_json_set_string(request, "id", id);
	r = cli_call(cli, request, &reply);
	json_decref(request);
	if (r != 0)
		return r;
	report = json_is_true(json_object_get(reply, "ok")) ? newest_record(reply, NULL) : NULL;
	if (!report) {
		json_decref(reply);
		return -1;
	}
	if (json) {
		r = cli_print_json(report);
		json_decref(reply);
		return r;
	}
	made = newest_record(reply, "grant");
	printf("Grant %s has ended; from the audit log:\n",
	       cli_safe(text, sizeof(text), cli_json_string(report, "id"), "?"));
	cli_field(stdout, "account:", cli_json_string(report, "user"));
	cli_field(stdout, "key:", cli_json_string(report, "fingerprint"));
	cli_field(stdout, "how:", cli_json_string(report, "event"));
	if (made && cli_json_time(made, "time", &t)) {
		cli_format_deadline(t, when, sizeof(when));
		cli_field(stdout, "made:", when);
	}
	if (cli_json_time(report, "time", &t)) {
		cli_format_deadline(t, when, sizeof(when));
		cli_field(stdout, "ended:", when);
	}
	if (cli_json_string(report, "reason"))
		cli_field(stdout, "reason:", cli_json_string(report, "reason"));
	cli_field(stdout, "report:", cli_json_string(report, "report"));
	json_decref(reply);
	return SL_EXIT_OK;
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
	r = cli_call(cli, request, &reply);
	json_decref(request);
	if (r != 0)
		return r;
	/* No active grant of that id: an ended one has its report. */
	if (json_is_false(json_object_get(reply, "ok")) &&
	    proto_error_parse(cli_json_string(reply, "error")) == PROTO_ERR_NOT_FOUND) {
		r = show_ended(cli, argv[optind], json);
		if (r >= 0) {
			json_decref(reply);
			return r;
		}
	}
	r = cli_reply_status(cli, reply);
	if (r != 0) {
		json_decref(reply);
		return r;
	}
	grant = cli_reply_get(cli, reply, "grant", JSON_OBJECT);
	if (!grant) {
		r = SL_EXIT_FAILURE;
	} else if (json) {
		r = cli_print_json(grant);
	} else {
		cli_grant_print(stdout, grant, time(NULL));
		show_sessions(stdout, grant);
		show_added_keys(stdout, grant);
		show_footholds(stdout, grant);
	}
	json_decref(reply);
	return r;
}

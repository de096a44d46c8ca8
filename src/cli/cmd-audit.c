/* sshlease audit: the audit trail, or a check of its hash chain. */
#include <errno.h>
#include <string.h>

#include "audit.h"
#include "cli.h"
#include "timeutil.h"

static const char audit_help[] =
	"Usage: sshlease audit [--grant ID] [--since TIME] [--file PATH] [--json]\n"
	"       sshlease audit --verify [--file PATH] [--json]\n\n"
	"Show the audit trail the daemon keeps: every grant, extension,\n"
	"revocation, expiry and refusal.\n\n"
	"Options:\n"
	"  --grant ID      only the records of this grant\n"
	"  --since TIME    only records from TIME on: 'YYYY-MM-DD HH:MM[:SS]'\n"
	"                  (local, or with Z or +HH:MM), or a duration back\n"
	"                  from now such as 24h or 7d\n"
	"  --verify        check the hash chain of the whole log: exit 0 when\n"
	"                  intact, 3 when broken\n"
	"  --file PATH     read the log at PATH (and its rotated files) here,\n"
	"                  without the daemon: for a daemon that does not run\n"
	"                  or a copy of the log\n"
	"  --json          print the records as one JSON array (with\n"
	"                  --verify: one JSON object)\n"
	"  -h, --help      show this help\n";

enum { OPT_GRANT = 0x100, OPT_SINCE, OPT_VERIFY, OPT_JSON, OPT_FILE };

struct audit_options {
	const char *id, *since_text, *file;
	time_t since;
	bool verify, json;
};

static int audit_option(const struct cli *cli, int opt, struct audit_options *o)
{
	switch (opt) {
	case OPT_GRANT: return cli_set_once(cli, &o->id, optarg, "--grant");
	case OPT_SINCE:
		return cli_set_once(cli, &o->since_text, optarg, "--since");
	case OPT_VERIFY: o->verify = true; return 0;
	case OPT_FILE: return cli_set_once(cli, &o->file, optarg, "--file");
	case OPT_JSON: o->json = true; return 0;
	default: return SL_EXIT_USAGE;
	}
}

/* --since takes an absolute time or a duration back from now. */
static int audit_parse_since(const struct cli *cli, struct audit_options *o)
{
	char shown[80];
	const char *why = NULL;
	int64_t back;

	if (time_parse(o->since_text, &o->since, &why) == 0)
		return 0;
	if (duration_parse(o->since_text, &back, &why) == 0) {
		o->since = time(NULL) - (time_t)back;
		return 0;
	}
	return cli_refused(cli, "--since '%s': neither a time such as "
			   "'2026-11-01 09:00' nor a duration such as 24h",
			   cli_safe(shown, sizeof(shown), o->since_text, ""));
}

static int audit_parse(const struct cli *cli, int argc, char **argv,
		       struct audit_options *o)
{
	static const struct option options[] = {
		{ "grant", required_argument, NULL, OPT_GRANT },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "verify", no_argument, NULL, OPT_VERIFY },
		{ "file", required_argument, NULL, OPT_FILE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ 0 },
	};
	int opt;

	while ((opt = cli_getopt(cli, argc, argv, ":h", options)) != -1) {
		if (opt == CLI_OPT_HELP)
			return cli_help(audit_help);
		if (audit_option(cli, opt, o) != 0)
			return SL_EXIT_USAGE;
	}
	if (cli_operands(cli, argc, argv, 0, "") != 0)
		return SL_EXIT_USAGE;
	if (o->verify && (o->id || o->since_text))
		return cli_usage_error(cli, "--verify checks the whole log; it "
				       "takes no --grant or --since");
	if (o->since_text && audit_parse_since(cli, o) != 0)
		return SL_EXIT_REFUSED;
	return CLI_CONTINUE;
}

/* The daemon's reason without its own "... at line N: " lead-in. */
static const char *audit_reason(const char *message, long long line)
{
	char lead[48];
	const char *at;

	snprintf(lead, sizeof(lead), "line %lld: ", line);
	at = strstr(message, lead);
	return at ? at + strlen(lead) : message;
}

/* The chain is broken: report where, as text and for --json. */
static int audit_broken(const struct cli *cli, const struct audit_options *o,
			const json_t *reply)
{
	long long line = json_integer_value(json_object_get(reply, "bad_line"));
	const char *message = cli_json_string(reply, "message");
	const char *file_given = cli_json_string(reply, "file");
	char reason[CLI_TEXT_CAP + 1], file[CLI_TEXT_CAP + 1];
	json_t *out;

	cli_safe(reason, sizeof(reason), audit_reason(message ? message : "", line),
		 "");
	cli_safe(file, sizeof(file), file_given ? file_given : "", "");
	if (file[0])
		cli_error(cli, "audit log broken in %s at line %lld: %s", file, line,
			  reason[0] ? reason : "no reason given");
	else
		cli_error(cli, "audit log broken at line %lld: %s", line,
			  reason[0] ? reason : "no reason given");
	if (!o->json)
		return SL_EXIT_REFUSED;
	out = json_pack("{s:b, s:I, s:s, s:s}", "intact", 0, "bad_line",
			(json_int_t)line, "file", file, "reason", reason);
	if (!out)
		cli_out_of_memory();
	cli_print_json(out);
	json_decref(out);
	return SL_EXIT_REFUSED;
}

static int audit_verified(const struct audit_options *o, const json_t *reply)
{
	long long lines = json_integer_value(json_object_get(reply, "lines"));
	long long files = json_integer_value(json_object_get(reply, "files"));
	json_t *out;
	int r = SL_EXIT_OK;

	if (!o->json) {
		if (files > 1)
			printf("audit log intact (%lld records in %lld files)\n", lines, files);
		else
			printf("audit log intact (%lld record%s)\n", lines, lines == 1 ? "" : "s");
		return r;
	}
	out = json_pack("{s:b, s:I, s:I}", "intact", 1, "lines", (json_int_t)lines, "files",
			(json_int_t)(files > 0 ? files : 1));
	if (!out)
		cli_out_of_memory();
	r = cli_print_json(out);
	json_decref(out);
	return r;
}

static int ask_verify(const struct cli *cli, const struct audit_options *o,
		      const json_t *request)
{
	json_t *reply = NULL;
	int r;

	r = cli_call(cli, request, &reply);
	if (r != 0)
		return r;
	if (json_is_false(json_object_get(reply, "ok")) &&
	    json_is_integer(json_object_get(reply, "bad_line")))
		r = audit_broken(cli, o, reply);
	else
		r = cli_reply_status(cli, reply);
	if (r == 0)
		r = audit_verified(o, reply);
	json_decref(reply);
	return r;
}

static void audit_detail(const json_t *record, const char *key)
{
	char value[CLI_TEXT_CAP + 1];
	const char *text = cli_json_string(record, key);

	if (!text)
		return;
	cli_safe(value, sizeof(value), text, "");
	/* Quoted when it has spaces (a reason, a refused ticket), so that each
	 * key=value can still be told apart. */
	if (strchr(value, ' ') || value[0] == '\0')
		printf(" %s=\"%s\"", key, value);
	else
		printf(" %s=%s", key, value);
}

static void audit_print_record(const json_t *record)
{
	static const char *const details[] = {
		"user", "key_type", "fingerprint", "ticket", "expires", "from",
		"mode", "signer", "by_user", "reason", "report",
	};
	char when[64], event[32], id[32];
	time_t t;

	if (cli_json_time(record, "time", &t))
		time_format_local(t, when, sizeof(when));
	else
		cli_safe(when, sizeof(when), cli_json_string(record, "time"), "?");
	printf("%s  %-13s %-12s", when,
	       cli_safe(event, sizeof(event), cli_json_string(record, "event"), "?"),
	       cli_safe(id, sizeof(id), cli_json_string(record, "id"), "-"));
	for (size_t i = 0; i < SL_ARRAY_SIZE(details); i++)
		audit_detail(record, details[i]);
	putchar('\n');
}

/* The seq of the first record of a page, or 0 when it has none. */
static long long audit_first_seq(const json_t *records)
{
	const json_t *seq = json_object_get(json_array_get(records, 0), "seq");

	return json_is_integer(seq) ? (long long)json_integer_value(seq) : 0;
}

/*
 * Every record the request selects, oldest first, in *out. The daemon
 * sends the newest that fit in one answer and says how many older ones it
 * "omitted"; those are asked for again with "before" (protocol.h) until
 * none is left. 0, or an exit code (reported).
 */
static int audit_fetch(const struct cli *cli, json_t *request, json_t **out)
{
	json_t *pages = json_array(), *all = NULL, *reply = NULL;
	long long before = 0;
	int r = 0;

	if (!pages)
		cli_out_of_memory();
	for (;;) {
		json_t *records;
		long long omitted, first;

		if (before > 0)
			cli_json_set_integer(request, "before", before);
		r = cli_request(cli, request, &reply);
		if (r != 0)
			break;
		records = cli_reply_get(cli, reply, "records", JSON_ARRAY);
		if (!records) {
			r = SL_EXIT_FAILURE;
			break;
		}
		if (json_array_append(pages, records) != 0)
			cli_out_of_memory();
		omitted = json_integer_value(json_object_get(reply, "omitted"));
		if (omitted <= 0)
			break;
		/* Each page must reach further back, or this would never end. */
		first = audit_first_seq(records);
		if (first <= 1 || (before > 0 && first >= before)) {
			cli_error(cli, "sshleased left out %lld older record%s and "
				  "sent no way to ask for them", omitted,
				  omitted == 1 ? "" : "s");
			r = SL_EXIT_FAILURE;
			break;
		}
		before = first;
		json_decref(reply);
		reply = NULL;
	}
	json_decref(reply);
	if (r == 0) {
		/* The pages came newest first. */
		all = json_array();
		if (!all)
			cli_out_of_memory();
		for (size_t i = json_array_size(pages); i > 0; i--)
			if (json_array_extend(all, json_array_get(pages, i - 1)) != 0)
				cli_out_of_memory();
		*out = all;
	}
	json_decref(pages);
	return r;
}

/* --file without --verify: the records, read here. */
static int read_file(const struct cli *cli, const struct audit_options *o, json_t **records)
{
	char shown[256];
	int r = audit_read(o->file, o->id, o->since_text ? o->since : 0, records);

	if (r == -EBADMSG) {
		cli_error(cli, "the audit log %s has a damaged line; run 'sshlease audit --verify --file %s' to find it",
			  cli_safe(shown, sizeof(shown), o->file, ""), shown);
		return SL_EXIT_FAILURE;
	}
	if (r < 0) {
		cli_error(cli, "cannot read the audit log %s: %s",
			  cli_safe(shown, sizeof(shown), o->file, ""), strerror(-r));
		return SL_EXIT_FAILURE;
	}
	return 0;
}

static int audit_show(const struct cli *cli, const struct audit_options *o,
		      json_t *request)
{
	json_t *records = NULL;
	size_t i;
	json_t *record;
	int r;

	r = o->file ? read_file(cli, o, &records) : audit_fetch(cli, request, &records);
	if (r != 0)
		return r;
	if (o->json)
		r = cli_print_json(records);
	else if (json_array_size(records) == 0)
		puts("No audit records.");
	else
		json_array_foreach(records, i, record)
			audit_print_record(record);
	json_decref(records);
	return r;
}

/* --verify --file: the same check as the daemon's, here. */
static int verify_file(const struct cli *cli, const struct audit_options *o)
{
	struct audit_check check;
	char shown[256];
	json_t *reply;
	int r = audit_verify_chain(o->file, &check);

	if (r < 0) {
		cli_error(cli, "cannot read the audit log %s: %s",
			  cli_safe(shown, sizeof(shown), o->file, ""), strerror(-r));
		return SL_EXIT_FAILURE;
	}
	if (r == 0)
		reply = json_pack("{s:I, s:I}", "lines", (json_int_t)check.lines, "files",
				  (json_int_t)check.files);
	else
		reply = json_pack("{s:I, s:s}", "bad_line", (json_int_t)check.bad_line,
				  "file", check.bad_file);
	if (!reply)
		cli_out_of_memory();
	if (r != 0) {
		char message[640];

		snprintf(message, sizeof(message), "line %lu: %s", check.bad_line,
			 check.why ? check.why : "chain broken");
		json_object_set_new(reply, "message", json_string(message));
		r = audit_broken(cli, o, reply);
	} else {
		r = audit_verified(o, reply);
	}
	json_decref(reply);
	return r;
}

int cmd_audit(struct cli *cli, int argc, char **argv)
{
	struct audit_options o = { 0 };
	json_t *request;
	int r;

	r = audit_parse(cli, argc, argv, &o);
	if (r != CLI_CONTINUE)
		return r;
	if (o.file && o.verify)
		return verify_file(cli, &o);
	request = cli_request_new("audit");
	if (o.id)
		cli_json_set_string(request, "id", o.id);
	if (o.since_text)
		cli_json_set_integer(request, "since", (long long)o.since);
	if (o.verify && json_object_set_new(request, "verify", json_true()))
		cli_out_of_memory();
	r = o.verify ? ask_verify(cli, &o, request)
		     : audit_show(cli, &o, request);
	json_decref(request);
	return r;
}

/* sshlease revoke: end grants now. */
#include "cli.h"

static const char revoke_help[] =
	"Usage: sshlease revoke ID...\n"
	"       sshlease revoke --all [--user USER]\n\n"
	"End grants now: the daemon removes their keys at once, closes the\n"
	"connections made with them and ends what those logins left running.\n\n"
	"Options:\n"
	"  --all            every active grant (of USER with --user)\n"
	"  -u, --user USER  with --all: only this account's grants\n"
	"  --json           print the revoked grants as one JSON array\n"
	"  -h, --help       show this help\n";

struct revoke_options {
	const char *user;
	bool all, json;
};

static int revoke_parse(const struct cli *cli, int argc, char **argv,
			struct revoke_options *o)
{
	enum { OPT_ALL = 0x100, OPT_JSON };
	static const struct option options[] = {
		{ "all", no_argument, NULL, OPT_ALL },
		{ "user", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ 0 },
	};
	int opt;

	while ((opt = cli_getopt(cli, argc, argv, ":u:h", options)) != -1) {
		if (opt == CLI_OPT_HELP)
			return cli_help(revoke_help);
		if (opt == OPT_ALL)
			o->all = true;
		else if (opt == OPT_JSON)
			o->json = true;
		else if (opt != 'u' || cli_set_once(cli, &o->user, optarg,
						    "--user"))
			return SL_EXIT_USAGE;
	}
	if (o->all && optind < argc)
		return cli_usage_error(cli, "give grant IDs or --all, not both");
	if (o->user && !o->all)
		return cli_usage_error(cli, "--user goes with --all: revoke "
				       "--all --user USER");
	if (!o->all && optind == argc)
		return cli_usage_error(cli, "which grants? Give their IDs, or "
				       "--all");
	return CLI_CONTINUE;
}

static json_t *revoke_request(const struct revoke_options *o, int argc,
			      char **argv)
{
	json_t *request = cli_request_new("revoke");
	json_t *ids;

	if (o->all) {
		if (json_object_set_new(request, "all", json_true()) != 0)
			cli_out_of_memory();
		if (o->user)
			cli_json_set_string(request, "user", o->user);
		return request;
	}
	ids = json_array();
	if (!ids || json_object_set_new(request, "ids", ids) != 0)
		cli_out_of_memory();
	for (int i = optind; i < argc; i++)
		if (json_array_append_new(ids, json_string(argv[i])) != 0)
			cli_out_of_memory();
	return request;
}

static void revoke_print(const json_t *revoked)
{
	char id[64], user[64], key[160];
	size_t i;
	json_t *grant;

	if (json_array_size(revoked) == 0)
		puts("No active grants; nothing was revoked.");
	json_array_foreach(revoked, i, grant) {
		printf("Revoked %s: account %s, key %s\n",
		       cli_safe(id, sizeof(id), cli_json_string(grant, "id"), "?"),
		       cli_safe(user, sizeof(user), cli_json_string(grant, "user"),
				"?"),
		       cli_grant_key(grant, key, sizeof(key)));
	}
}

/* The daemon lists the revoked grants that fit in one answer and counts
 * the others (protocol.h); say so, on stdout with the table, on stderr
 * with --json so that stdout stays one JSON array. */
static void revoke_note_omitted(const struct cli *cli,
				const struct revoke_options *o,
				const json_t *reply)
{
	long long omitted = json_integer_value(json_object_get(reply, "omitted"));
	const char *s = omitted == 1 ? "" : "s";

	if (omitted <= 0)
		return;
	if (o->json)
		cli_error(cli, "%lld more grant%s revoked but not listed: the "
			  "answer has a size limit; 'sshlease audit' records "
			  "each revocation", omitted, s);
	else
		printf("And %lld more grant%s revoked, too many to list here; "
		       "'sshlease audit' records each revocation.\n", omitted, s);
}

/* The grants revoked, also when the daemon stopped part way: those listed
 * are gone even if a later one failed. */
static int revoke_output(const struct cli *cli, const struct revoke_options *o,
			 const json_t *reply)
{
	const json_t *revoked = json_object_get(reply, "revoked");
	bool ok = json_is_true(json_object_get(reply, "ok"));
	int r = 0;

	if (ok && !json_is_array(revoked)) {
		cli_error(cli, "sshleased answered without the revoked grants");
		return SL_EXIT_FAILURE;
	}
	if (o->json && json_is_array(revoked))
		r = cli_print_json(revoked);
	else if (ok || json_array_size(revoked) > 0)
		revoke_print(revoked);
	revoke_note_omitted(cli, o, reply);
	if (!ok)
		r = cli_reply_status(cli, reply);
	return r;
}

int cmd_revoke(struct cli *cli, int argc, char **argv)
{
	struct revoke_options o = { 0 };
	json_t *request, *reply = NULL;
	int r;

	r = revoke_parse(cli, argc, argv, &o);
	if (r != CLI_CONTINUE)
		return r;
	request = revoke_request(&o, argc, argv);
	r = cli_call(cli, request, &reply);
	json_decref(request);
	if (r == 0)
		r = revoke_output(cli, &o, reply);
	json_decref(reply);
	return r;
}

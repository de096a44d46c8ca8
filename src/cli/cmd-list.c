/* sshlease list: the active grants as a table. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "timeutil.h"

static const char list_help[] =
	"Usage: sshlease list [--user USER] [--json]\n\n"
	"List the active grants: ID, USER, EXPIRES (local time), REMAINING,\n"
	"TICKET, FINGERPRINT.\n\n"
	"Options:\n"
	"  -u, --user USER  only the grants of this account\n"
	"  --json           print the grants as one JSON array\n"
	"  -h, --help       show this help\n";

enum { COL_ID, COL_USER, COL_EXPIRES, COL_REMAINING, COL_TICKET,
       COL_FINGERPRINT, N_COLUMNS };

static const char *const column_titles[N_COLUMNS] = {
	"ID", "USER", "EXPIRES", "REMAINING", "TICKET", "FINGERPRINT",
};

struct list_row {
	char cell[N_COLUMNS][80];
};

static void list_row_fill(struct list_row *row, const json_t *grant,
			  time_t now)
{
	static const char *const fields[N_COLUMNS] = {
		[COL_ID] = "id", [COL_USER] = "user", [COL_TICKET] = "ticket",
		[COL_FINGERPRINT] = "fingerprint",
	};
	time_t expires;

	for (int c = 0; c < N_COLUMNS; c++)
		if (fields[c])
			cli_safe(row->cell[c], sizeof(row->cell[c]),
				 cli_json_string(grant, fields[c]), "-");
	snprintf(row->cell[COL_EXPIRES], sizeof(row->cell[COL_EXPIRES]), "?");
	snprintf(row->cell[COL_REMAINING], sizeof(row->cell[COL_REMAINING]), "?");
	if (!cli_grant_expires(grant, &expires))
		return;
	time_format_local(expires, row->cell[COL_EXPIRES],
			  sizeof(row->cell[COL_EXPIRES]));
	cli_format_remaining(expires, now, row->cell[COL_REMAINING],
			     sizeof(row->cell[COL_REMAINING]));
}

static void list_row_print(const struct list_row *row, const int width[],
			   const char *on, const char *off)
{
	fputs(on, stdout);
	for (int c = 0; c < N_COLUMNS - 1; c++)
		printf("%-*s  ", width[c], row->cell[c]);
	printf("%s%s\n", row->cell[N_COLUMNS - 1], off);
}

static void list_table(const struct cli *cli, const json_t *grants)
{
	size_t n = json_array_size(grants);
	struct list_row *rows = calloc(n + 1, sizeof(*rows));
	int width[N_COLUMNS] = { 0 };
	time_t now = time(NULL);

	if (!rows)
		cli_out_of_memory();
	for (int c = 0; c < N_COLUMNS; c++)
		snprintf(rows[0].cell[c], sizeof(rows[0].cell[c]), "%s",
			 column_titles[c]);
	for (size_t i = 0; i < n; i++)
		list_row_fill(&rows[i + 1], json_array_get(grants, i), now);
	for (size_t i = 0; i <= n; i++)
		for (int c = 0; c < N_COLUMNS; c++)
			if ((int)strlen(rows[i].cell[c]) > width[c])
				width[c] = (int)strlen(rows[i].cell[c]);
	list_row_print(&rows[0], width, cli_colour(cli->colour_out, CLI_BOLD),
		       cli_colour(cli->colour_out, CLI_RESET));
	for (size_t i = 1; i <= n; i++)
		list_row_print(&rows[i], width, "", "");
	free(rows);
}

static int list_parse(const struct cli *cli, int argc, char **argv,
		      const char **user, bool *json)
{
	static const struct option options[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ 0 },
	};
	int opt;

	while ((opt = cli_getopt(cli, argc, argv, ":u:h", options)) != -1) {
		if (opt == CLI_OPT_HELP)
			return cli_help(list_help);
		if (opt == 'j')
			*json = true;
		else if (opt != 'u' || cli_set_once(cli, user, optarg, "--user"))
			return SL_EXIT_USAGE;
	}
	return cli_operands(cli, argc, argv, 0, "") ? SL_EXIT_USAGE
						     : CLI_CONTINUE;
}

int cmd_list(struct cli *cli, int argc, char **argv)
{
	json_t *request, *reply = NULL, *grants;
	const char *user = NULL;
	bool json = false;
	int r;

	r = list_parse(cli, argc, argv, &user, &json);
	if (r != CLI_CONTINUE)
		return r;
	request = cli_request_new("list");
	if (user)
		cli_json_set_string(request, "user", user);
	r = cli_request(cli, request, &reply);
	json_decref(request);
	if (r != 0)
		return r;
	grants = cli_reply_get(cli, reply, "grants", JSON_ARRAY);
	if (!grants) {
		r = SL_EXIT_FAILURE;
	} else if (json) {
		r = cli_print_json(grants);
	} else if (json_array_size(grants) == 0) {
		puts("No active grants.");
	} else {
		list_table(cli, grants);
	}
	json_decref(reply);
	return r;
}

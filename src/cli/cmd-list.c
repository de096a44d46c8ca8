/* sshlease list: the active grants as a table, every page of them. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "timeutil.h"

static const char list_help[] =
	"Usage: sshlease list [--user USER] [--json]\n\n"
	"List the active grants: ID, USER, EXPIRES (local time), REMAINING,\n"
	"SESSIONS (logins with the grant's key still connected; they are closed\n"
	"when it ends), LAST LOGIN (local time), TICKET, FINGERPRINT. A grant\n"
	"whose line could not be removed at its end is named below the table\n"
	"with the reason and the next try.\n\n"
	"Options:\n"
	"  -u, --user USER  only the grants of this account\n"
	"  --json           print the grants as one JSON array\n"
	"  -h, --help       show this help\n";

enum { COL_ID, COL_USER, COL_EXPIRES, COL_REMAINING, COL_SESSIONS,
       COL_LAST_LOGIN, COL_TICKET, COL_FINGERPRINT, N_COLUMNS };

static const char *const column_titles[N_COLUMNS] = {
	"ID", "USER", "EXPIRES", "REMAINING", "SESSIONS", "LAST LOGIN", "TICKET",
	"FINGERPRINT",
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
	const json_t *sessions = json_object_get(grant, "open_sessions");
	time_t expires, last_login;

	for (int c = 0; c < N_COLUMNS; c++)
		if (fields[c])
			cli_safe(row->cell[c], sizeof(row->cell[c]),
				 cli_json_string(grant, fields[c]), "-");
	if (json_is_integer(sessions))
		snprintf(row->cell[COL_SESSIONS], sizeof(row->cell[COL_SESSIONS]), "%lld",
			 (long long)json_integer_value(sessions));
	else
		snprintf(row->cell[COL_SESSIONS], sizeof(row->cell[COL_SESSIONS]), "-");
	if (cli_json_time(grant, "last_login", &last_login))
		time_format_local(last_login, row->cell[COL_LAST_LOGIN],
				  sizeof(row->cell[COL_LAST_LOGIN]));
	else
		snprintf(row->cell[COL_LAST_LOGIN], sizeof(row->cell[COL_LAST_LOGIN]), "never");
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

/* Under the table, a grant whose line could not be removed: since when,
 * how often, why, and when the daemon tries again. */
static void list_failing(const json_t *grant)
{
	const json_t *failing = json_object_get(grant, "removal_failing");
	char id[32], reason[320], since[64], next[64];
	time_t t;
	json_int_t attempts = json_integer_value(json_object_get(failing, "attempts"));

	if (!json_is_object(failing))
		return;
	cli_safe(id, sizeof(id), cli_json_string(grant, "id"), "?");
	cli_safe(reason, sizeof(reason), cli_json_string(failing, "reason"), "unknown error");
	snprintf(since, sizeof(since), "?");
	snprintf(next, sizeof(next), "?");
	if (cli_json_time(failing, "since", &t))
		time_format_local(t, since, sizeof(since));
	if (cli_json_time(failing, "next_try", &t))
		time_format_local(t, next, sizeof(next));
	printf("\ngrant %s has ended, but its line could not be removed yet (since %s, %lld attempt%s): %s.\n"
	       "sshleased tries again at %s, and until it is gone; fix the cause to speed it up.\n",
	       id, since, (long long)attempts, attempts == 1 ? "" : "s", reason, next);
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
	for (size_t i = 0; i < n; i++)
		list_failing(json_array_get(grants, i));
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

/* Add the grants of one page to all, leaving out an id already there (a
 * grant whose deadline moved between pages can come twice). */
static void list_merge(json_t *all, json_t *seen, const json_t *page)
{
	size_t i;
	json_t *grant;

	json_array_foreach(page, i, grant) {
		const char *id = cli_json_string(grant, "id");

		if (id && json_object_get(seen, id))
			continue;
		if ((id && json_object_set_new(seen, id, json_true()) != 0) ||
		    json_array_append(all, grant) != 0)
			cli_out_of_memory();
	}
}

/*
 * Every page of the list (protocol.h: "after" and "next") as one array in
 * *out. 0, or an exit code (reported).
 */
static int list_fetch(const struct cli *cli, const char *user, json_t **out)
{
	json_t *all = json_array(), *seen = json_object();
	json_t *reply = NULL, *cursor = NULL;
	int r = 0;

	if (!all || !seen)
		cli_out_of_memory();
	for (;;) {
		json_t *request = cli_request_new("list");
		json_t *grants, *next;

		if (user)
			cli_json_set_string(request, "user", user);
		if (cursor && json_object_set(request, "after", cursor) != 0)
			cli_out_of_memory();
		r = cli_request(cli, request, &reply);
		json_decref(request);
		if (r != 0)
			break;
		grants = cli_reply_get(cli, reply, "grants", JSON_ARRAY);
		if (!grants) {
			r = SL_EXIT_FAILURE;
			break;
		}
		list_merge(all, seen, grants);
		next = json_object_get(reply, "next");
		if (!next || json_is_null(next))
			break;
		/* Each page must move on, or this would never end. */
		if (!json_is_string(next) || json_array_size(grants) == 0 ||
		    (cursor && json_equal(cursor, next))) {
			cli_error(cli, "sshleased sent a page of the list that does not move on");
			r = SL_EXIT_FAILURE;
			break;
		}
		json_decref(cursor);
		cursor = json_incref(next);
		json_decref(reply);
		reply = NULL;
	}
	json_decref(reply);
	json_decref(cursor);
	json_decref(seen);
	if (r == 0)
		*out = all;
	else
		json_decref(all);
	return r;
}

int cmd_list(struct cli *cli, int argc, char **argv)
{
	json_t *grants = NULL;
	const char *user = NULL;
	bool json = false;
	int r;

	r = list_parse(cli, argc, argv, &user, &json);
	if (r != CLI_CONTINUE)
		return r;
	r = list_fetch(cli, user, &grants);
	if (r != 0)
		return r;
	if (json)
		r = cli_print_json(grants);
	else if (json_array_size(grants) == 0)
		puts("No active grants.");
	else
		list_table(cli, grants);
	json_decref(grants);
	return r;
}

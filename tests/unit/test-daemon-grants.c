/* As root, a real sshleased granting to a throwaway account: signals
 * inherited ignored or blocked are reset, extend and recovery rewrite a
 * line in place, an account's planted orphans go in one edit, grants
 * sharing a deadline end in one round, list/revoke/audit work beyond one
 * message (300 grants, through the CLI too). test-daemon-faults.c has the
 * engine failing under it; test-handlers.c what needs no real process (a
 * line removed by hand is not written back by extend). */
#define _GNU_SOURCE /* asprintf */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "daemon-grants.h"
#include "protocol.h"
#include "test.h"

/* Enough grants that neither a list nor a revoke --all nor the audit
 * trail fits in one message (PROTO_MAX_MESSAGE): about 170 of the grants
 * made here do. */
#define PAGING_GRANTS 300

/* One signal's bit in a /proc/PID/status mask line ("SigIgn:", ...). */
static bool proc_mask_has(pid_t pid, const char *field, int sig)
{
	char path[64], line[256];
	unsigned long long mask = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0)
			mask = strtoull(line + strlen(field), NULL, 16);
	if (f)
		fclose(f);
	return mask & (1ULL << (sig - 1));
}

/* Item: the daemon was started with SIGCHLD ignored and blocked, SIGHUP and
 * SIGTERM ignored; it must reset all of that (the engine waits for its
 * children; the signalfd needs its signals delivered). */
static void test_grants_signals(struct grants_run *g)
{
	pid_t pid = g->daemon.daemon_pid;

	CHECK(pid > 0);
	CHECK(!proc_mask_has(pid, "SigIgn:", SIGCHLD));
	CHECK(!proc_mask_has(pid, "SigBlk:", SIGCHLD));
	CHECK(!proc_mask_has(pid, "SigIgn:", SIGHUP));
	CHECK(!proc_mask_has(pid, "SigIgn:", SIGTERM));
	CHECK(!proc_mask_has(pid, "SigBlk:", SIGUSR1));
	CHECK(proc_mask_has(pid, "SigBlk:", SIGHUP));
	CHECK(proc_mask_has(pid, "SigBlk:", SIGTERM));
	CHECK(proc_mask_has(pid, "SigBlk:", SIGINT));
	CHECK(proc_mask_has(pid, "SigIgn:", SIGPIPE));
}

/* Restart the daemon with `[grant] added_keys = mode`: the config the
 * harness wrote has one [grant] section, the line goes right after it. */
static void grants_restart_added_keys(struct grants_run *g, const char *mode)
{
	char *config = fixture_read_text(g->daemon.config), *at, *edited = NULL;
	const char *rest;

	CHECK_INT(daemon_run_stop(&g->daemon, SIGTERM), 0);
	at = strstr(config, "[grant]\n");
	if (!at)
		exit(1);
	rest = at + strlen("[grant]\n");
	if (strncmp(rest, "added_keys = ", 13) == 0)
		rest = strchr(rest, '\n') + 1;
	if (asprintf(&edited, "%.*s[grant]\nadded_keys = %s\n%s", (int)(at - config), config,
		     mode, rest) < 0)
		exit(1);
	fixture_write_file(g->daemon.config, edited, 0600);
	free(edited);
	free(config);
	CHECK_INT(daemon_run_start(&g->daemon), 0);
}

/* Item: extend swaps the line in place (authkeys_replace), keeping its
 * place among the account's own lines, its id, and every other byte. The
 * account's line after ours is written while the grant is live, which
 * the default added_keys = remove would take out: this runs in report
 * mode (the planted-keys test covers removal). */
static void test_grants_extend_in_place(struct grants_run *g)
{
	char owner[256], later[256], key[256], id[AUTHKEYS_ID_LEN + 1];
	char *before = NULL, *line = NULL, *expected = NULL, *text = NULL;
	json_t *reply;
	time_t deadline;

	fixture_key_new(owner, sizeof(owner), "owner@laptop");
	fixture_key_new(later, sizeof(later), "later@laptop");
	fixture_key_new(key, sizeof(key), "support@vendor");
	if (asprintf(&before, "# keys of the shop owner\r\n%s\r\n", owner) < 0)
		exit(1);
	fixture_write_keys(g->account, before);
	grants_restart_added_keys(g, "report");

	reply = grants_run_grant(g, key, "1h", id);
	CHECK_MSG(json_is_true(json_object_get(reply, "ok")), "grant: %s",
		  json_string_value(json_object_get(reply, "message")));
	json_decref(reply);
	/* The account adds a line of its own after ours. */
	text = fixture_read_text(g->account->ak);
	free(before);
	if (asprintf(&before, "%s%s\n", text, later) < 0)
		exit(1);
	free(text);
	fixture_write_keys(g->account, before);

	reply = client_call_json(g->daemon.socket,
				 json_pack("{s:s, s:s, s:s}", "op", "extend", "id", id,
					   "for", "3h"));
	CHECK_MSG(json_is_true(json_object_get(reply, "ok")), "extend: %s",
		  json_string_value(json_object_get(reply, "message")));
	CHECK_STR(json_string_value(json_object_get(json_object_get(reply, "grant"), "id")), id);
	deadline = grants_run_deadline(reply);
	json_decref(reply);

	line = fixture_managed_line(id, key, deadline);
	if (asprintf(&expected, "# keys of the shop owner\r\n%s\r\n%s\n%s\n", owner,
		     line, later) < 0)
		exit(1);
	text = fixture_read_text(g->account->ak);
	CHECK_STR(text, expected);
	free(text);

	/* Recovery: the daemon stops; the line's expiry-time disagrees with
	 * the state (as after a crash inside an extension); the next start
	 * rewrites it where it stands. */
	CHECK_INT(daemon_run_stop(&g->daemon, SIGTERM), 0);
	{
		char *stale = fixture_managed_line(id, key, deadline + 7200);
		char *edited = NULL;

		if (asprintf(&edited, "# keys of the shop owner\r\n%s\r\n%s\n%s\n",
			     owner, stale, later) < 0)
			exit(1);
		fixture_write_keys(g->account, edited);
		free(edited);
		free(stale);
	}
	CHECK_INT(daemon_run_start(&g->daemon), 0);
	text = fixture_read_text(g->account->ak);
	CHECK_STR(text, expected);
	free(text);

	reply = client_call_json(g->daemon.socket,
				 json_pack("{s:s, s:[s]}", "op", "revoke", "ids", id));
	CHECK(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);
	grants_restart_added_keys(g, "remove");
	free(before);
	free(line);
	free(expected);
}

/* Item: list, revoke --all and audit with more than fits in one answer. */
static void test_grants_paging(struct grants_run *g)
{
	char (*ids)[AUTHKEYS_ID_LEN + 1] = calloc(PAGING_GRANTS, sizeof(*ids));
	json_t *all = json_array(), *reply, *cursor = NULL;
	char *out = NULL, *err = NULL, *text;
	long long last_expires = -1;
	char last_id[AUTHKEYS_ID_LEN + 1] = "";
	size_t pages = 0, granted = 0;
	int rc;

	fixture_write_keys(g->account, "# mine\n");
	for (size_t i = 0; i < PAGING_GRANTS; i++) {
		char key[256], comment[64], duration[16], ticket[32], from[64];

		snprintf(comment, sizeof(comment), "support-%03zu@vendor.example", i);
		/* Deadlines spread over 50 minutes, many shared. */
		snprintf(duration, sizeof(duration), "%zum", 10 + (i * 7) % 50);
		snprintf(ticket, sizeof(ticket), "SUP-%06zu", 100000 + i);
		snprintf(from, sizeof(from), "203.0.113.%zu,2001:db8::/48", i % 256);
		fixture_key_new(key, sizeof(key), comment);
		reply = grants_run_grant_with(g, key, duration, ticket, from, ids[i]);
		if (json_is_true(json_object_get(reply, "ok")))
			granted++;
		json_decref(reply);
	}
	CHECK_INT(granted, PAGING_GRANTS);

	/* The raw pages: each non-empty, in (deadline, id) order across
	 * pages, every grant exactly once. */
	for (;;) {
		json_t *request = json_pack("{s:s}", "op", "list");
		json_t *grants, *next, *item;
		size_t i;

		if (cursor)
			json_object_set(request, "after", cursor);
		reply = client_call_json(g->daemon.socket, request);
		grants = json_object_get(reply, "grants");
		next = json_object_get(reply, "next");
		CHECK_MSG(json_is_true(json_object_get(reply, "ok")), "list page %zu", pages);
		CHECK(json_array_size(grants) > 0);
		pages++;
		json_array_foreach(grants, i, item) {
			long long expires = json_integer_value(json_object_get(item, "expires_unix"));
			const char *id = json_string_value(json_object_get(item, "id"));

			CHECK(id && (expires > last_expires ||
				     (expires == last_expires && strcmp(id, last_id) > 0)));
			last_expires = expires;
			snprintf(last_id, sizeof(last_id), "%s", id ? id : "");
			json_array_append(all, item);
		}
		json_decref(cursor);
		cursor = NULL;
		if (!json_is_string(next) || pages > PAGING_GRANTS) {
			CHECK(json_is_null(next));
			json_decref(reply);
			break;
		}
		cursor = json_incref(next);
		json_decref(reply);
	}
	/* A grant object here takes about 380 bytes: two pages. */
	CHECK_MSG(pages >= 2, "%zu pages", pages);
	CHECK_INT(json_array_size(all), PAGING_GRANTS);
	for (size_t i = 0; i < PAGING_GRANTS; i++) {
		size_t j, seen = 0;
		json_t *item;

		json_array_foreach(all, j, item)
			if (strcmp(fixture_str(json_string_value(json_object_get(item, "id"))), ids[i]) == 0)
				seen++;
		CHECK_MSG(seen == 1, "grant %s listed %zu times", ids[i], seen);
	}
	/* A cursor that is not one is a usage error. */
	reply = client_call(g->daemon.socket, "{\"op\":\"list\",\"after\":\"../x\"}");
	CHECK_STR(client_error(reply), "usage");
	json_decref(reply);
	/* A cursor past the end: an empty last page. */
	reply = client_call(g->daemon.socket,
			    "{\"op\":\"list\",\"after\":\"9999999999.ffffffffffff\"}");
	CHECK_INT(json_array_size(json_object_get(reply, "grants")), 0);
	CHECK(json_is_null(json_object_get(reply, "next")));
	json_decref(reply);

	/* The CLI fetches every page: one JSON array in the same order... */
	rc = cli_run(&g->daemon, (const char *[]){ "list", "--json", NULL }, &out, &err);
	CHECK_INT(rc, 0);
	{
		json_t *printed = json_loads(out, 0, NULL);
		size_t i;
		json_t *item;

		CHECK(json_is_array(printed));
		CHECK_INT(json_array_size(printed), PAGING_GRANTS);
		json_array_foreach(printed, i, item)
			CHECK(json_equal(json_object_get(item, "id"),
					 json_object_get(json_array_get(all, i), "id")));
		json_decref(printed);
	}
	free(out);
	free(err);
	/* ...and one table: a title line and a line per grant. */
	rc = cli_run(&g->daemon, (const char *[]){ "list", NULL }, &out, &err);
	CHECK_INT(rc, 0);
	CHECK_INT(fixture_count(out, "\n"), PAGING_GRANTS + 1);
	CHECK_INT(fixture_count(out, "ID  "), 1);
	free(out);
	free(err);

	/* The audit trail no longer fits one answer either... */
	reply = client_call(g->daemon.socket, "{\"op\":\"audit\"}");
	CHECK(json_integer_value(json_object_get(reply, "omitted")) > 0);
	json_decref(reply);
	reply = client_call(g->daemon.socket, "{\"op\":\"audit\",\"before\":0}");
	CHECK_STR(client_error(reply), "usage");
	json_decref(reply);

	/* revoke --all: every grant goes in one request; the answer lists
	 * those that fit and counts the others. */
	rc = cli_run(&g->daemon, (const char *[]){ "revoke", "--all", "--json", NULL },
		     &out, &err);
	CHECK_INT(rc, 0);
	{
		json_t *printed = json_loads(out, 0, NULL);
		size_t listed = json_array_size(printed);
		char note[64];

		CHECK(listed > 0 && listed < PAGING_GRANTS);
		snprintf(note, sizeof(note), "%zu more grants revoked but not listed",
			 (size_t)PAGING_GRANTS - listed);
		CHECK_MSG(strstr(err, note) != NULL, "stderr: %s", err);
		json_decref(printed);
	}
	free(out);
	free(err);
	text = fixture_read_text(g->account->ak);
	CHECK_STR(text, "# mine\n");
	free(text);
	reply = client_call(g->daemon.socket, "{\"op\":\"status\"}");
	CHECK_INT(json_integer_value(json_object_get(reply, "grants")), 0);
	json_decref(reply);

	/* ...but the CLI pages back through it: every record, oldest first,
	 * as many as the chain has lines. */
	rc = cli_run(&g->daemon, (const char *[]){ "audit", "--json", NULL }, &out, &err);
	CHECK_INT(rc, 0);
	{
		json_t *printed = json_loads(out, 0, NULL);
		json_t *verify = client_call(g->daemon.socket, "{\"op\":\"audit\",\"verify\":true}");
		long long lines = json_integer_value(json_object_get(verify, "lines"));
		size_t i, revokes = 0;
		json_t *item;

		CHECK(lines > 2 * PAGING_GRANTS);
		CHECK_INT(json_array_size(printed), lines);
		json_array_foreach(printed, i, item) {
			CHECK_INT(json_integer_value(json_object_get(item, "seq")), i + 1);
			if (strcmp(fixture_str(json_string_value(json_object_get(item, "event"))),
				   "revoke") == 0)
				revokes++;
		}
		CHECK(revokes >= PAGING_GRANTS);
		json_decref(verify);
		json_decref(printed);
	}
	free(out);
	free(err);
	json_decref(all);
	free(ids);
}

/* The audit records written since the daemon's last start (oldest
 * first), as one new array; the answer's window is enough here. */
static json_t *records_since_start(const struct grants_run *g)
{
	json_t *reply = client_call(g->daemon.socket, "{\"op\":\"audit\"}");
	json_t *records = json_object_get(reply, "records"), *record;
	json_t *since = json_array();
	size_t i, start = 0;

	json_array_foreach(records, i, record)
		if (strcmp(fixture_str(json_string_value(json_object_get(record, "event"))),
			   "start") == 0)
			start = i;
	json_array_foreach(records, i, record)
		if (i > start)
			json_array_append(since, record);
	json_decref(reply);
	return since;
}

static size_t count_events(const json_t *records, const char *event)
{
	const json_t *record;
	size_t i, n = 0;

	json_array_foreach(records, i, record)
		if (strcmp(fixture_str(json_string_value(json_object_get(record, "event"))),
			   event) == 0)
			n++;
	return n;
}

/*
 * Item: an account plants thousands of lines carrying our marker (one of
 * them with the id of a live grant and another key). The next start
 * removes them all in one edit, writes one record for the account (with
 * no grant id: the markers are the account's words, and a planted id must
 * not file the record under someone's grant), keeps every other byte, and
 * serves requests.
 */
static void test_grants_orphan_flood(struct grants_run *g)
{
	enum { PLANTED = 3000 };
	char own[256], key[256], id[AUTHKEYS_ID_LEN + 1], *line, *planted, *expected, *text;
	size_t cap, used = 0;
	json_t *reply, *records, *record;
	const char *reason;

	fixture_key_new(key, sizeof(key), "live@vendor");
	/* The owner's line is there before the grant (a line that appears
	 * while a grant is live is an added key, not the owner's). */
	fixture_key_new(own, sizeof(own), "owner@laptop");
	{
		char *mine = NULL;

		if (asprintf(&mine, "# mine\r\n%s\n", own) < 0)
			exit(1);
		fixture_write_keys(g->account, mine);
		free(mine);
	}
	reply = grants_run_grant(g, key, "1h", id);
	CHECK_MSG(json_is_true(json_object_get(reply, "ok")), "grant: %s",
		  json_string_value(json_object_get(reply, "message")));
	line = fixture_managed_line(id, key, grants_run_deadline(reply));
	json_decref(reply);
	CHECK_INT(daemon_run_stop(&g->daemon, SIGTERM), 0);

	cap = 2 * 1024 * 1024;
	planted = malloc(cap);
	if (!planted || asprintf(&expected, "# mine\r\n%s\n%s\n", own, line) < 0)
		exit(1);
	used += (size_t)snprintf(planted + used, cap - used, "# mine\r\n");
	for (unsigned i = 0; i < PLANTED / 2; i++)
		used += (size_t)snprintf(planted + used, cap - used, "a A sshlease:%012x\n", i);
	used += (size_t)snprintf(planted + used, cap - used, "%s\n", own);
	for (unsigned i = PLANTED / 2; i < PLANTED; i++)
		used += (size_t)snprintf(planted + used, cap - used,
					 "restrict ssh-ed25519 AAAA%08x sshlease:%012x\r\n", i, i);
	used += (size_t)snprintf(planted + used, cap - used, "%s\n", line);
	used += (size_t)snprintf(planted + used, cap - used, "a A sshlease:%s\n", id);
	fixture_write_keys(g->account, planted);

	CHECK_INT(daemon_run_start(&g->daemon), 0);
	text = fixture_read_text(g->account->ak);
	CHECK_MSG(strcmp(text, expected) == 0, "authorized_keys holds %zu bytes, expected %zu",
		  strlen(text), strlen(expected));
	free(text);
	reply = client_call(g->daemon.socket, "{\"op\":\"status\"}");
	CHECK_INT(json_integer_value(json_object_get(reply, "grants")), 1);
	json_decref(reply);

	records = records_since_start(g);
	CHECK_INT(count_events(records, "remove-orphan"), 1);
	{
		size_t i;

		json_array_foreach(records, i, record) {
			if (strcmp(fixture_str(json_string_value(json_object_get(record, "event"))),
				   "remove-orphan") != 0)
				continue;
			CHECK(json_object_get(record, "id") == NULL);
			CHECK_STR(json_string_value(json_object_get(record, "user")), g->account->acct->name);
			reason = json_string_value(json_object_get(record, "reason"));
			CHECK_MSG(reason && strstr(reason, "removed 3001 managed lines"), "reason: %s",
				  fixture_str(reason));
		}
	}
	json_decref(records);
	/* The live grant's own trail has no stranger's record in it. */
	reply = client_call_json(g->daemon.socket, json_pack("{s:s, s:s}", "op", "audit", "id", id));
	records = json_object_get(reply, "records");
	CHECK_INT(json_array_size(records), 1);
	CHECK_INT(count_events(records, "grant"), 1);
	json_decref(reply);

	reply = client_call_json(g->daemon.socket, json_pack("{s:s, s:[s]}", "op", "revoke", "ids", id));
	CHECK(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);
	free(planted);
	free(expected);
	free(line);
}

/* Renames into a directory (IN_MOVED_TO) of name, read from an inotify fd
 * until it has nothing more. */
static size_t renames_to(int inotify_fd, int wd, const char *name, size_t *other_wd,
			 int wd2, const char *name2)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	size_t n = 0;
	ssize_t len;

	*other_wd = 0;
	while ((len = read(inotify_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->len && (ev->mask & IN_MOVED_TO)) {
				if (ev->wd == wd && strcmp(ev->name, name) == 0)
					n++;
				if (ev->wd == wd2 && strcmp(ev->name, name2) == 0)
					(*other_wd)++;
			}
			p += sizeof(*ev) + ev->len;
		}
	}
	return n;
}

/*
 * Item: grants that share one deadline end in one round: authorized_keys
 * is rewritten once and the state saved once for all of them, and each
 * grant still gets its own "expire" record. Counted with inotify (renames
 * into ~/.ssh and the state directory), not timed.
 */
static void test_grants_shared_deadline(struct grants_run *g)
{
	enum { SHARED = 20 };
	char ids[SHARED][AUTHKEYS_ID_LEN + 1], state_dir[160], *text;
	time_t deadline = time(NULL) + 6;
	size_t file_renames, state_renames, expired = 0;
	int inotify_fd, wd_ssh, wd_state, grants = -1;
	json_t *reply, *records, *record;
	size_t i;

	fixture_write_keys(g->account, "# mine\n");
	for (int k = 0; k < SHARED; k++) {
		char key[256];

		fixture_key_new(key, sizeof(key), "shared@vendor");
		reply = client_call_json(g->daemon.socket,
					 json_pack("{s:s, s:s, s:s, s:I}", "op", "grant", "key", key,
						   "user", g->account->acct->name, "until", (json_int_t)deadline));
		CHECK_MSG(json_is_true(json_object_get(reply, "ok")), "grant %d: %s", k,
			  json_string_value(json_object_get(reply, "message")));
		snprintf(ids[k], sizeof(ids[k]), "%s",
			 fixture_str(json_string_value(json_object_get(
				 json_object_get(reply, "grant"), "id"))));
		json_decref(reply);
	}
	snprintf(state_dir, sizeof(state_dir), "%s/state", g->daemon.dir);
	inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	wd_ssh = inotify_add_watch(inotify_fd, g->account->ssh, IN_MOVED_TO);
	wd_state = inotify_add_watch(inotify_fd, state_dir, IN_MOVED_TO);
	CHECK(inotify_fd >= 0 && wd_ssh >= 0 && wd_state >= 0);
	/* Not a timing check: the grants must merely be made before their
	 * deadline for the round to hold them all. */
	CHECK_MSG(time(NULL) < deadline, "making %d grants took past their deadline", SHARED);

	/* Wait (bounded) for the round: status answers once it is over. */
	for (int tries = 0; tries < 600 && grants != 0; tries++) {
		usleep(100 * 1000);
		reply = client_call(g->daemon.socket, "{\"op\":\"status\"}");
		grants = (int)json_integer_value(json_object_get(reply, "grants"));
		json_decref(reply);
	}
	CHECK_INT(grants, 0);
	text = fixture_read_text(g->account->ak);
	CHECK_STR(text, "# mine\n");
	free(text);
	file_renames = renames_to(inotify_fd, wd_ssh, "authorized_keys", &state_renames,
				  wd_state, "state.json");
	CHECK_INT(file_renames, 1);
	CHECK_INT(state_renames, 1);
	close(inotify_fd);

	reply = client_call(g->daemon.socket, "{\"op\":\"audit\"}");
	records = json_object_get(reply, "records");
	for (int k = 0; k < SHARED; k++) {
		size_t seen = 0;

		json_array_foreach(records, i, record)
			if (strcmp(fixture_str(json_string_value(json_object_get(record, "event"))),
				   "expire") == 0 &&
			    strcmp(fixture_str(json_string_value(json_object_get(record, "id"))),
				   ids[k]) == 0)
				seen++;
		CHECK_MSG(seen == 1, "grant %s: %zu expire records", ids[k], seen);
		expired += seen;
	}
	CHECK_INT(expired, SHARED);
	json_decref(reply);
}

static int grant_tests(struct grants_run *g)
{
	CHECK_INT(daemon_run_start(&g->daemon), 0);
	if (g->daemon.pid > 0) {
		TEST(test_grants_signals(g));
		TEST(test_grants_extend_in_place(g));
		TEST(test_grants_orphan_flood(g));
		TEST(test_grants_shared_deadline(g));
		TEST(test_grants_paging(g));
	}
	if (g->daemon.pid > 0)
		CHECK_INT(daemon_run_stop(&g->daemon, SIGTERM), 0);
	CHECK_INT(client_failures, 0);
	return test_done() != 0;
}

int main(void)
{
	test_require_root();
	if (grants_run_main("sl-test-grants", grant_tests) != 0)
		test_failures++;
	return test_done();
}

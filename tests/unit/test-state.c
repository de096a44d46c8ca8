/* The daemon's state: round trip, refusal of malformed files, crash safety,
 * grants, nonces and accounts, and 10,000 grants. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "state.h"
#include "test.h"

#define CREATED 1796000000 /* 2026-11-30T00:53:20Z */
#define DEADLINE 1796144400 /* 2026-12-01T17:00:00Z */
#define BLOB "AAAAC3NzaC1lZDI1NTE5AAAAIKfL7b2lq1pV6ZJvN0mXm2X8gU1Jm0dKq7rWc1cEjJ4E"
#define FPR "SHA256:ZkB6yQxE2n0cY6n0wm0yH8mJm6m4JY5oZbbV8vZ3K3A"

static char root[] = "/tmp/sshlease-test-state-XXXXXX";

static char *sub(const char *name)
{
	static char buf[8][512];
	static int next;
	char *p = buf[next++ % 8];

	snprintf(p, 512, "%s/%s", root, name);
	return p;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data;
	long size;

	*len = 0;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc((size_t)size + 1);
	*len = fread(data, 1, (size_t)size, f);
	data[*len] = '\0';
	fclose(f);
	return data;
}

static void spill(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data)) {
		perror(path);
		exit(1);
	}
	close(fd);
}

/* Names in dir other than "." and ".."; a temp file left behind shows up. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Grant number i: every field set, or (odd i) every optional field absent. */
static void make_grant(struct grant *g, unsigned i)
{
	bool full = i % 2 == 0;

	memset(g, 0, sizeof(*g));
	snprintf(g->id, sizeof(g->id), "000abc%06x", i);
	g->user = strdup(i % 3 ? "alice" : "shop_2");
	g->uid = 1000 + i % 3;
	g->key_type = strdup("ssh-ed25519");
	g->blob_base64 = strdup(BLOB);
	g->fingerprint = strdup(FPR);
	g->comment = dup_or_null(full ? "support@vendor \"team\" #1" : NULL);
	g->ticket = dup_or_null(full ? "INC-123456/7" : NULL);
	g->from = dup_or_null(full ? "203.0.113.0/24,2001:db8::/32" : NULL);
	g->mode = full ? AUTHKEYS_MODE_SFTP : AUTHKEYS_MODE_SHELL;
	g->signer = dup_or_null(full ? "vendor-support" : NULL);
	g->created = CREATED + (time_t)i;
	g->expires = DEADLINE + (time_t)i;
	g->by_uid = full ? 0 : -1;
	g->by_user = dup_or_null(full ? "root" : NULL);
	g->last_login = full ? CREATED + 60 : 0;
}

static bool same_string(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_same_grant(const struct grant *a, const struct grant *b)
{
	CHECK_STR(a->id, b->id);
	CHECK(same_string(a->user, b->user));
	CHECK_INT(a->uid, b->uid);
	CHECK(same_string(a->key_type, b->key_type));
	CHECK(same_string(a->blob_base64, b->blob_base64));
	CHECK(same_string(a->fingerprint, b->fingerprint));
	CHECK(same_string(a->comment, b->comment));
	CHECK(same_string(a->ticket, b->ticket));
	CHECK(same_string(a->from, b->from));
	CHECK_INT(a->mode, b->mode);
	CHECK(same_string(a->signer, b->signer));
	CHECK_INT(a->created, b->created);
	CHECK_INT(a->expires, b->expires);
	CHECK_INT(a->by_uid, b->by_uid);
	CHECK(same_string(a->by_user, b->by_user));
	CHECK_INT(a->last_login, b->last_login);
}

static struct state *sample_state(unsigned n_grants)
{
	struct state *state = state_new();
	struct grant g;
	unsigned i;

	for (i = 0; i < n_grants; i++) {
		make_grant(&g, i);
		if (state_add_grant(state, &g) != 0) {
			fprintf(stderr, "state_add_grant failed\n");
			exit(1);
		}
	}
	CHECK_INT(state_nonce_add(state, "n0nce-AAAA", DEADLINE), 0);
	CHECK_INT(state_nonce_add(state, "n0nce-BBBB", DEADLINE + 60), 0);
	CHECK_INT(state_account_note(state, "alice"), 0);
	CHECK_INT(state_account_note(state, "shop_2"), 0);
	if (n_grants >= 2) {
		struct session a = { .grant_id = "000abc000001", .user = "alice",
				     .address = "203.0.113.7", .port = 50000,
				     .since = CREATED + 10, .pid = 4242, .pid_start = 1000,
				     .kind = "shell,sftp" };
		struct session b = { .grant_id = "000abc000000", .user = "shop_2",
				     .address = "2001:db8::7", .port = 50001,
				     .since = CREATED + 20, .pid = 4343, .pid_start = 2000 };

		CHECK_INT(state_add_session(state, &a), 0);
		CHECK_INT(state_add_session(state, &b), 0);
	}
	return state;
}

static void test_round_trip(void)
{
	const char *dir = sub("rt");
	struct state *state = sample_state(5), *loaded = NULL;
	const char *why = NULL;
	struct stat st;
	char file[600];
	size_t i, len;
	char *text;

	umask(022);
	CHECK_INT(state_save(dir, state), 0);
	CHECK_INT(stat(dir, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0700);
	snprintf(file, sizeof(file), "%s/state.json", dir);
	CHECK_INT(stat(file, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0600);
	CHECK_INT(count_entries(dir), 1);
	text = slurp(file, &len);
	CHECK(text && strncmp(text, "{\"version\":2,", 13) == 0);
	CHECK(text && len > 0 && text[len - 1] == '\n');
	free(text);

	CHECK_INT(state_load(dir, &loaded, &why), 0);
	CHECK(loaded != NULL);
	if (!loaded)
		goto out;
	CHECK_INT(loaded->n_grants, 5);
	for (i = 0; i < loaded->n_grants && i < state->n_grants; i++)
		check_same_grant(&loaded->grants[i], &state->grants[i]);
	CHECK_INT(loaded->n_nonces, 2);
	CHECK_STR(loaded->nonces[0].value, "n0nce-AAAA");
	CHECK_INT(loaded->nonces[0].valid_until, DEADLINE);
	CHECK_STR(loaded->nonces[1].value, "n0nce-BBBB");
	CHECK_INT(loaded->nonces[1].valid_until, DEADLINE + 60);
	CHECK_INT(loaded->n_accounts, 2);
	CHECK_STR(loaded->accounts[0], "alice");
	CHECK_STR(loaded->accounts[1], "shop_2");
	CHECK_INT(loaded->n_sessions, 2);
	if (loaded->n_sessions == 2) {
		CHECK_STR(loaded->sessions[0].grant_id, "000abc000001");
		CHECK_STR(loaded->sessions[0].user, "alice");
		CHECK_STR(loaded->sessions[0].address, "203.0.113.7");
		CHECK_INT(loaded->sessions[0].port, 50000);
		CHECK_INT(loaded->sessions[0].since, CREATED + 10);
		CHECK_INT(loaded->sessions[0].pid, 4242);
		CHECK_STR(loaded->sessions[1].address, "2001:db8::7");
		CHECK_STR(loaded->sessions[0].kind, "shell,sftp");
		CHECK_STR(loaded->sessions[1].kind, "");
		state_remove_session(loaded, 0);
		CHECK_INT(loaded->n_sessions, 1);
		CHECK_STR(loaded->sessions[0].address, "2001:db8::7");
		CHECK_INT(state_add_session(loaded, &(struct session){
			.grant_id = "000abc000001", .user = "alice",
			.address = "203.0.113.7", .port = 50000,
			.since = CREATED + 10, .pid = 4242, .pid_start = 1000,
			.kind = "shell,sftp" }), 0);
		/* Back to the order saved. */
		state_remove_session(loaded, 0);
		CHECK_INT(state_add_session(loaded, &(struct session){
			.grant_id = "000abc000000", .user = "shop_2",
			.address = "2001:db8::7", .port = 50001,
			.since = CREATED + 20, .pid = 4343, .pid_start = 2000 }), 0);
	}

	/* Saved again, the bytes are the same. */
	{
		char *first, *second;
		size_t l1, l2;

		first = slurp(file, &l1);
		CHECK_INT(state_save(dir, loaded), 0);
		second = slurp(file, &l2);
		CHECK(l1 == l2 && memcmp(first, second, l1) == 0);
		free(first);
		free(second);
	}
out:
	state_free(loaded);
	state_free(state);

	/* Nothing there yet: an empty state. */
	loaded = NULL;
	CHECK_INT(state_load(sub("never-made"), &loaded, &why), 0);
	CHECK(loaded && loaded->n_grants == 0 && loaded->n_nonces == 0 &&
	      loaded->n_accounts == 0);
	state_free(loaded);
	CHECK_INT(mkdir(sub("empty-dir"), 0700), 0);
	loaded = NULL;
	CHECK_INT(state_load(sub("empty-dir"), &loaded, &why), 0);
	CHECK(loaded && loaded->n_grants == 0);
	state_free(loaded);
}

#define INV "0123456789abcdef0123456789abcdef"

/* Scopes: kept across a save, "scopes" written only when there are any,
 * and one whose grant has gone is kept (its end may be under way). */
static void test_scopes(void)
{
	const char *dir = sub("scopes");
	struct state *state = state_new(), *loaded = NULL;
	struct login_scope a = { .grant_id = "0123456789ab", .user = "alice", .uid = 1000,
				 .since = CREATED + 5, .pid_start = 4711,
				 .ref = { .unit = "session-12.scope", .invocation = INV } };
	struct login_scope b = { .grant_id = "0123456789ac", .user = "shop_2", .uid = 1001,
				 .since = CREATED + 6,
				 .ref = { .unit = "sshlease-0123456789ac-999.scope" } };
	struct login_scope c = { .grant_id = "0123456789ac", .user = "shop_2", .uid = 1001,
				 .since = CREATED + 7 };
	const char *why = NULL;
	char file[600], *text;
	size_t len;

	snprintf(file, sizeof(file), "%s/state.json", dir);
	CHECK_INT(state_save(dir, state), 0);
	text = slurp(file, &len);
	CHECK(text && !strstr(text, "scopes"));
	free(text);
	CHECK_INT(state_add_scope(state, &a), 0);
	CHECK_INT(state_add_scope(state, &b), 0);
	CHECK_INT(state_add_scope(state, &c), 0);
	CHECK_INT(state_save(dir, state), 0);
	CHECK_INT(state_load(dir, &loaded, &why), 0);
	CHECK(loaded && loaded->n_scopes == 3);
	if (loaded && loaded->n_scopes == 3) {
		CHECK_STR(loaded->scopes[0].ref.unit, "session-12.scope");
		CHECK_STR(loaded->scopes[0].ref.invocation, INV);
		CHECK_INT(loaded->scopes[0].uid, 1000);
		CHECK_INT(loaded->scopes[0].since, CREATED + 5);
		CHECK_INT(loaded->scopes[0].pid_start, 4711);
		CHECK_STR(loaded->scopes[1].ref.unit, "sshlease-0123456789ac-999.scope");
		CHECK_STR(loaded->scopes[1].ref.invocation, "");
		CHECK_STR(loaded->scopes[2].ref.unit, "");
		CHECK_STR(loaded->scopes[2].user, "shop_2");
		state_remove_scope(loaded, 1);
		CHECK_INT(loaded->n_scopes, 2);
		CHECK_STR(loaded->scopes[1].ref.unit, "");
	}
	state_free(loaded);
	/* A unit sshleased would not record is not saved. */
	struct login_scope bad = a;
	snprintf(bad.ref.unit, sizeof(bad.ref.unit), "ssh.service");
	CHECK_INT(state_add_scope(state, &bad), 0);
	CHECK_INT(state_save(dir, state), -EINVAL);
	state_free(state);
}

/* A grant's tally is saved once there is one, and a grant without one is
 * saved as before; the address list keeps each address once. */
static void test_grant_tally(void)
{
	const char *dir = sub("tally");
	struct state *state = sample_state(2), *loaded = NULL;
	struct grant_tally *t = grant_tally(&state->grants[1]);
	const char *why = NULL;
	char file[600], *text;
	size_t len;

	CHECK(t != NULL);
	if (!t) {
		state_free(state);
		return;
	}
	t->sessions = 3;
	t->seconds = 4000;
	grant_tally_address(t, "203.0.113.7");
	grant_tally_address(t, "203.0.113.70");
	grant_tally_address(t, "203.0.113.7");
	CHECK_STR(t->addresses, "203.0.113.7, 203.0.113.70");
	t->keys_added = 2;
	t->keys_removed = 1;
	t->footholds = 1u << FOOTHOLD_LINGER;
	CHECK_INT(state_save(dir, state), 0);
	snprintf(file, sizeof(file), "%s/state.json", dir);
	text = slurp(file, &len);
	CHECK(text && strstr(text, "\"tally\":{\"sessions\":3,\"seconds\":4000,") &&
	      strstr(text, "\"footholds\":[\"linger\"]"));
	/* Only the grant with one has it. */
	CHECK(text && strstr(text, "\"tally\"") &&
	      !strstr(strstr(text, "\"tally\"") + 1, "\"tally\""));
	free(text);
	CHECK_INT(state_load(dir, &loaded, &why), 0);
	CHECK(loaded && loaded->n_grants == 2);
	if (loaded && loaded->n_grants == 2) {
		CHECK(loaded->grants[0].tally == NULL);
		CHECK(loaded->grants[1].tally != NULL);
		if (loaded->grants[1].tally) {
			CHECK_INT(loaded->grants[1].tally->sessions, 3);
			CHECK_INT(loaded->grants[1].tally->seconds, 4000);
			CHECK_STR(loaded->grants[1].tally->addresses, "203.0.113.7, 203.0.113.70");
			CHECK_INT(loaded->grants[1].tally->keys_removed, 1);
			CHECK_INT(loaded->grants[1].tally->footholds, 1u << FOOTHOLD_LINGER);
		}
	}
	state_free(loaded);
	/* Many addresses end in " ...". */
	for (int i = 0; i < 40; i++) {
		char a[32];

		snprintf(a, sizeof(a), "198.51.100.%d", i);
		grant_tally_address(t, a);
	}
	len = strlen(t->addresses);
	CHECK(len >= 4 && strcmp(t->addresses + len - 4, " ...") == 0);
	state_free(state);
}

/* Key watches keep their footholds (footholds.h) when they have them; a
 * watch from before them loads without; a bad signature is refused. */
static void test_key_watch_footholds(void)
{
	const char *dir = sub("footholds");
	struct state *state = state_new(), *loaded = NULL;
	struct key_watch old = { .uid = 1000, .user = "alice", .since = CREATED };
	struct key_watch now = { .uid = 1001, .user = "shop_2", .since = CREATED + 1,
				 .has_footholds = true,
				 .footholds = { "0123456789abcdef0123456789abcdef", "-", "", "-" },
				 .footholds_seen = { "fedcba9876543210fedcba9876543210", "-", "", "-" } };
	const char *why = NULL;
	char file[600], *text, *at;
	size_t len;
	FILE *f;

	snprintf(file, sizeof(file), "%s/state.json", dir);
	CHECK_INT(state_add_key_watch(state, &old), 0);
	CHECK_INT(state_add_key_watch(state, &now), 0);
	CHECK_INT(state_save(dir, state), 0);
	CHECK_INT(state_load(dir, &loaded, &why), 0);
	CHECK(loaded && loaded->n_key_watches == 2);
	if (loaded && loaded->n_key_watches == 2) {
		CHECK(!loaded->key_watches[0].has_footholds);
		CHECK(loaded->key_watches[1].has_footholds);
		CHECK_STR(loaded->key_watches[1].footholds[FOOTHOLD_CRONTAB],
			  "0123456789abcdef0123456789abcdef");
		CHECK_STR(loaded->key_watches[1].footholds_seen[FOOTHOLD_CRONTAB],
			  "fedcba9876543210fedcba9876543210");
		CHECK_STR(loaded->key_watches[1].footholds[FOOTHOLD_AT], "-");
		CHECK_STR(loaded->key_watches[1].footholds[FOOTHOLD_LINGER], "");
	}
	state_free(loaded);
	loaded = NULL;
	/* A signature sshleased does not write. */
	text = slurp(file, &len);
	at = text ? strstr(text, "\"at\":\"-\"") : NULL;
	CHECK(at != NULL);
	if (at) {
		memcpy(at, "\"at\":\"x\"", 8);
		f = fopen(file, "w");
		CHECK(f && fwrite(text, 1, len, f) == len);
		if (f)
			fclose(f);
		CHECK_INT(state_load(dir, &loaded, &why), SL_REFUSED);
		CHECK(why && strstr(why, "footholds"));
		state_free(loaded);
	}
	free(text);
	state_free(state);
}

static void test_grant_json(void)
{
	struct grant g;
	json_t *j;
	char *text;

	make_grant(&g, 0);
	j = grant_to_json(&g);
	text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	CHECK_STR(text,
		  "{\"id\":\"000abc000000\",\"user\":\"shop_2\",\"key_type\":\"ssh-ed25519\","
		  "\"fingerprint\":\"" FPR "\",\"comment\":\"support@vendor \\\"team\\\" #1\","
		  "\"ticket\":\"INC-123456/7\",\"from\":\"203.0.113.0/24,2001:db8::/32\","
		  "\"mode\":\"sftp\",\"signer\":\"vendor-support\","
		  "\"created\":\"2026-11-30T00:53:20Z\",\"expires\":\"2026-12-01T17:00:00Z\","
		  "\"expires_unix\":1796144400,\"by_uid\":0,\"by_user\":\"root\",\"last_login\":\"2026-11-30T00:54:20Z\"}");
	free(text);
	json_decref(j);
	grant_finish(&g);
	CHECK(g.user == NULL && g.id[0] == '\0');

	make_grant(&g, 1);
	j = grant_to_json(&g);
	text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	CHECK_STR(text,
		  "{\"id\":\"000abc000001\",\"user\":\"alice\",\"key_type\":\"ssh-ed25519\","
		  "\"fingerprint\":\"" FPR "\",\"comment\":null,\"ticket\":null,\"from\":null,"
		  "\"mode\":\"shell\",\"signer\":null,"
		  "\"created\":\"2026-11-30T00:53:21Z\",\"expires\":\"2026-12-01T17:00:01Z\","
		  "\"expires_unix\":1796144401,\"by_uid\":null,\"by_user\":null,\"last_login\":null}");
	free(text);
	json_decref(j);
	grant_finish(&g);
	grant_finish(NULL);
}

static void test_add_find_remove(void)
{
	struct state *state = state_new();
	struct grant g;
	unsigned i;

	for (i = 0; i < 4; i++) {
		make_grant(&g, i);
		CHECK_INT(state_add_grant(state, &g), 0);
		/* Ownership moved: the source is zeroed. */
		CHECK(g.user == NULL && g.blob_base64 == NULL && g.id[0] == '\0');
	}
	CHECK_INT(state->n_grants, 4);
	CHECK(state_find_grant(state, "000abc000002") == &state->grants[2]);
	CHECK(state_find_grant(state, "000abc000009") == NULL);
	CHECK(state_find_grant(state, "000abc00000") == NULL);
	CHECK(state_find_grant(state, "000abc0000020") == NULL);
	CHECK(state_find_grant(state, NULL) == NULL);

	CHECK_INT(state_remove_grant(state, "000abc000001"), 0);
	CHECK_INT(state->n_grants, 3);
	CHECK(state_find_grant(state, "000abc000001") == NULL);
	CHECK_STR(state->grants[0].id, "000abc000000");
	CHECK_STR(state->grants[1].id, "000abc000002");
	CHECK_STR(state->grants[2].id, "000abc000003");
	CHECK_STR(state->grants[1].user, "alice");
	CHECK_STR(state->grants[2].user, "shop_2");
	CHECK_INT(state_remove_grant(state, "000abc000001"), SL_NOT_FOUND);
	CHECK_INT(state_remove_grant(state, "000abc000003"), 0);
	CHECK_INT(state_remove_grant(state, "000abc000000"), 0);
	CHECK_INT(state->n_grants, 1);
	make_grant(&g, 7);
	CHECK_INT(state_add_grant(state, &g), 0);
	CHECK_STR(state->grants[1].id, "000abc000007");

	/* Accounts: no duplicates, only account names. */
	CHECK_INT(state_account_note(state, "alice"), 0);
	CHECK_INT(state_account_note(state, "alice"), 0);
	CHECK_INT(state_account_note(state, "bob"), 0);
	CHECK_INT(state->n_accounts, 2);
	CHECK_INT(state_account_note(state, "../etc"), -EINVAL);
	CHECK_INT(state_account_note(state, ""), -EINVAL);
	CHECK_INT(state->n_accounts, 2);
	state_free(state);
	state_free(NULL);

	/* A state built by hand (no allocation counts) still grows. */
	{
		struct state hand = { 0 };

		for (i = 0; i < 40; i++) {
			make_grant(&g, i);
			CHECK_INT(state_add_grant(&hand, &g), 0);
		}
		CHECK_INT(hand.n_grants, 40);
		CHECK(state_find_grant(&hand, "000abc000027") == &hand.grants[39]);
		for (i = 0; i < hand.n_grants; i++)
			grant_finish(&hand.grants[i]);
		free(hand.grants);
	}
}

static void test_nonces(void)
{
	struct state *state = state_new();

	CHECK(!state_nonce_seen(state, "abc"));
	CHECK_INT(state_nonce_add(state, "old", CREATED - 1), 0);
	CHECK_INT(state_nonce_add(state, "edge", CREATED), 0);
	CHECK_INT(state_nonce_add(state, "young", CREATED + 3600), 0);
	CHECK_INT(state_nonce_add(state, "young", CREATED + 7200), SL_EXISTS);
	CHECK_INT(state_nonce_add(state, "has space", CREATED), -EINVAL);
	CHECK_INT(state_nonce_add(state, "", CREATED), -EINVAL);
	CHECK_INT(state_nonce_add(state, "neg", -5), -EINVAL);
	CHECK_INT(state->n_nonces, 3);
	CHECK(state_nonce_seen(state, "old"));
	CHECK(state_nonce_seen(state, "young"));
	CHECK(!state_nonce_seen(state, "youn"));

	/* Item: kept while now <= valid_until + STATE_NONCE_MARGIN (a day),
	 * so a prune under a clock that is ahead, then a step back, does not
	 * let a token be redeemed again. Past valid_until, within the margin:
	 * all kept. */
	CHECK_INT(STATE_NONCE_MARGIN, 86400);
	state_nonce_prune(state, CREATED + 3600);
	CHECK_INT(state->n_nonces, 3);
	state_nonce_prune(state, CREATED - 1 + STATE_NONCE_MARGIN);
	CHECK_INT(state->n_nonces, 3);
	CHECK(state_nonce_seen(state, "old"));
	/* The boundary: one second beyond the margin goes, the margin stays. */
	state_nonce_prune(state, CREATED + STATE_NONCE_MARGIN);
	CHECK_INT(state->n_nonces, 2);
	CHECK(!state_nonce_seen(state, "old"));
	CHECK(state_nonce_seen(state, "edge"));
	CHECK(state_nonce_seen(state, "young"));
	CHECK_STR(state->nonces[0].value, "edge");
	CHECK_STR(state->nonces[1].value, "young");
	state_nonce_prune(state, CREATED + 3600 + STATE_NONCE_MARGIN);
	CHECK_INT(state->n_nonces, 1);
	CHECK(state_nonce_seen(state, "young"));
	state_nonce_prune(state, CREATED + 3601 + STATE_NONCE_MARGIN);
	CHECK_INT(state->n_nonces, 0);
	CHECK_INT(state_nonce_add(state, "old", CREATED + 10), 0);
	CHECK_INT(state->n_nonces, 1);
	state_free(state);
}

/* Item: a nonce taken back for a grant that surely did not happen; the
 * others stay, in order. */
static void test_nonce_remove(void)
{
	struct state *state = state_new();

	CHECK(state != NULL);
	if (!state)
		return;
	CHECK_INT(state_nonce_add(state, "n-1", CREATED), 0);
	CHECK_INT(state_nonce_add(state, "n-2", CREATED), 0);
	CHECK_INT(state_nonce_add(state, "n-3", CREATED), 0);
	CHECK_INT(state_nonce_remove(state, "n-2"), 0);
	CHECK_INT(state->n_nonces, 2);
	CHECK(!state_nonce_seen(state, "n-2"));
	CHECK_STR(state->nonces[0].value, "n-1");
	CHECK_STR(state->nonces[1].value, "n-3");
	CHECK_INT(state_nonce_remove(state, "n-2"), SL_NOT_FOUND);
	CHECK_INT(state_nonce_remove(state, "n-"), SL_NOT_FOUND);
	CHECK_INT(state_nonce_remove(state, NULL), SL_NOT_FOUND);
	CHECK_INT(state->n_nonces, 2);
	CHECK_INT(state_nonce_remove(state, "n-3"), 0);
	CHECK_INT(state_nonce_remove(state, "n-1"), 0);
	CHECK_INT(state->n_nonces, 0);
	/* ... and it may be recorded again. */
	CHECK_INT(state_nonce_add(state, "n-2", CREATED), 0);
	CHECK(state_nonce_seen(state, "n-2"));
	state_free(state);
}

/* One valid grant object, with a hole for edits. */
#define G_ID "\"id\":\"0123456789ab\""
#define G_REST                                                                 \
	"\"uid\":1000,\"key_type\":\"ssh-ed25519\",\"blob_base64\":\"" BLOB "\"," \
	"\"fingerprint\":\"" FPR "\",\"comment\":null,\"ticket\":null,\"from\":null," \
	"\"mode\":\"shell\",\"signer\":null,\"created\":1796000000,"           \
	"\"expires\":1796144400,\"by_uid\":null,\"by_user\":null"
#define GRANT "{" G_ID ",\"user\":\"alice\"," G_REST "}"
#define GRANT2 "{" G_ID ",\"user\":\"alice\"," G_REST ",\"last_login\":null}"
#define TAIL ",\"nonces\":[],\"accounts\":[]}"
#define TAIL_V2 ",\"nonces\":[],\"accounts\":[],\"sessions\":[]}"
#define TAIL_S(sessions) ",\"nonces\":[],\"accounts\":[],\"sessions\":[" sessions "]}"
#define S_HEAD "\"grant\":\"0123456789ab\",\"user\":\"alice\""
#define S_ADDR_REST "\"address\":\"203.0.113.7\",\"port\":50000,\"since\":1796000100,\"pid\":4242,\"pid_start\":77"
#define S_REST S_ADDR_REST
#define SESSION "{" S_HEAD "," S_REST "}"
#define TAIL_SC(scopes) ",\"nonces\":[],\"accounts\":[],\"sessions\":[],\"scopes\":[" scopes "]}"
#define SC_HEAD "{\"grant\":\"0123456789ab\",\"user\":\"alice\",\"uid\":1000,\"since\":1796000100,\"pid_start\":7"

static void test_malformed(void)
{
	static const struct {
		const char *name;
		const char *text;
		const char *why; /* a part of the reason */
	} cases[] = {
		{ "empty file", "", "not a JSON object" },
		{ "not JSON", "hello\n", "not a JSON object" },
		{ "array", "[1,2]", "not a JSON object" },
		{ "cut short", "{\"version\":1,\"grants\":[" GRANT, "not valid JSON" },
		{ "cut in a grant", "{\"version\":1,\"grants\":[{\"id\":\"01", "not valid JSON" },
		{ "version 3", "{\"version\":3,\"grants\":[]" TAIL, "unknown version" },
		{ "version 2 without sessions", "{\"version\":2,\"grants\":[]" TAIL, "lacks" },
		{ "sessions in version 1", "{\"version\":1,\"grants\":[]" TAIL_V2, "unknown field" },
		{ "session of no grant", "{\"version\":2,\"grants\":[]" TAIL_S(SESSION), "of no grant" },
		{ "session of another account", "{\"version\":2,\"grants\":[" GRANT2 "]"
			TAIL_S("{\"grant\":\"0123456789ab\",\"user\":\"bob\"," S_REST "}"), "another account" },
		{ "session twice", "{\"version\":2,\"grants\":[" GRANT2 "]" TAIL_S(SESSION "," SESSION),
		  "same connection" },
		{ "session address a name", "{\"version\":2,\"grants\":[" GRANT2 "]"
			TAIL_S("{" S_HEAD ",\"address\":\"shop.example\",\"port\":50000,\"since\":1796000100,\"pid\":4242,\"pid_start\":77}"),
		  "not a numeric" },
		{ "session port 0", "{\"version\":2,\"grants\":[" GRANT2 "]"
			TAIL_S("{" S_HEAD ",\"address\":\"203.0.113.7\",\"port\":0,\"since\":1796000100,\"pid\":4242,\"pid_start\":77}"),
		  "out of range" },
		{ "session pid 0", "{\"version\":2,\"grants\":[" GRANT2 "]"
			TAIL_S("{" S_HEAD ",\"address\":\"203.0.113.7\",\"port\":1,\"since\":1796000100,\"pid\":0,\"pid_start\":77}"),
		  "out of range" },
		{ "session start 0", "{\"version\":2,\"grants\":[" GRANT2 "]"
			TAIL_S("{" S_HEAD ",\"address\":\"203.0.113.7\",\"port\":1,\"since\":1796000100,\"pid\":9,\"pid_start\":0}"),
		  "out of range" },
		{ "session field extra", "{\"version\":2,\"grants\":[" GRANT2 "]"
			TAIL_S("{" S_HEAD ",\"x\":1," S_ADDR_REST "}"), "exactly the expected fields" },
		{ "session kind with a blank", "{\"version\":2,\"grants\":[" GRANT2 "]"
			TAIL_S("{" S_HEAD "," S_REST ",\"kind\":\"shell sftp\"}"), "kind" },
		{ "session kind a number", "{\"version\":2,\"grants\":[" GRANT2 "]"
			TAIL_S("{" S_HEAD "," S_REST ",\"kind\":1}"), "wrong type" },
		{ "session field missing", "{\"version\":2,\"grants\":[" GRANT2 "]"
			TAIL_S("{" S_HEAD ",\"address\":\"203.0.113.7\",\"port\":1,\"since\":1796000100}"),
		  "exactly the expected fields" },
		{ "version 2 grant without last_login", "{\"version\":2,\"grants\":[" GRANT "]" TAIL_V2,
		  "exactly the expected fields" },
		{ "version 1 grant with last_login", "{\"version\":1,\"grants\":[" GRANT2 "]" TAIL,
		  "exactly the expected fields" },
		{ "last_login as text", "{\"version\":2,\"grants\":[{" G_ID ",\"user\":\"alice\"," G_REST
			",\"last_login\":\"yesterday\"}]" TAIL_V2, "not an integer" },
		{ "session grant id short", "{\"version\":2,\"grants\":[" GRANT2 "]"
			TAIL_S("{\"grant\":\"0123\",\"user\":\"alice\"," S_REST "}"), "not a grant id" },
		{ "version as text", "{\"version\":\"1\",\"grants\":[]" TAIL, "unknown version" },
		{ "version not first", "{\"grants\":[],\"version\":1,\"nonces\":[],\"accounts\":[]}",
		  "begin with its version" },
		{ "no version", "{}", "begin with its version" },
		{ "trailing junk", "{\"version\":1,\"grants\":[]" TAIL "x", "data after its end" },
		{ "unknown key", "{\"version\":1,\"grants\":[],\"nonces\":[],\"accounts\":[],\"x\":1}",
		  "unknown field" },
		{ "grants twice", "{\"version\":1,\"grants\":[],\"grants\":[]" TAIL, "twice" },
		{ "accounts missing", "{\"version\":1,\"grants\":[],\"nonces\":[]}", "lacks" },
		{ "grants not array", "{\"version\":1,\"grants\":{}" TAIL, "must be arrays" },
		{ "trailing comma", "{\"version\":1,\"grants\":[" GRANT ",]" TAIL, "not valid JSON" },
		{ "id upper case", "{\"version\":1,\"grants\":[{\"id\":\"0123456789AB\","
				   "\"user\":\"alice\"," G_REST "}]" TAIL, "id" },
		{ "id short", "{\"version\":1,\"grants\":[{\"id\":\"0123456789a\","
			      "\"user\":\"alice\"," G_REST "}]" TAIL, "id" },
		{ "bad user", "{\"version\":1,\"grants\":[{" G_ID ",\"user\":\"Root!\"," G_REST "}]" TAIL,
		  "not a valid account name" },
		{ "user null", "{\"version\":1,\"grants\":[{" G_ID ",\"user\":null," G_REST "}]" TAIL,
		  "wrong type" },
		{ "NUL in user", "{\"version\":1,\"grants\":[{" G_ID ",\"user\":\"al\\u0000x\"," G_REST
				 "}]" TAIL, "not valid JSON" },
		{ "grant field missing", "{\"version\":1,\"grants\":[{" G_ID "," G_REST "}]" TAIL,
		  "exactly the expected fields" },
		{ "grant field extra", "{\"version\":1,\"grants\":[{" G_ID ",\"user\":\"alice\",\"x\":1,"
				       G_REST "}]" TAIL, "exactly the expected fields" },
		{ "grant key twice", "{\"version\":1,\"grants\":[{" G_ID ",\"user\":\"alice\","
				     "\"user\":\"bob\"," G_REST "}]" TAIL, "not valid JSON" },
		{ "duplicate ids", "{\"version\":1,\"grants\":[" GRANT "," GRANT "]" TAIL, "same id" },
		{ "scopes in version 1", "{\"version\":1,\"grants\":[],\"nonces\":[],\"accounts\":[],"
			"\"scopes\":[]}", "unknown field" },
		{ "scope unit not a scope", "{\"version\":2,\"grants\":[]" TAIL_SC(SC_HEAD
			",\"unit\":\"ssh.service\",\"invocation\":\"" INV "\"}"), "not one sshleased" },
		{ "scope unit with a slash", "{\"version\":2,\"grants\":[]" TAIL_SC(SC_HEAD
			",\"unit\":\"../session-1.scope\",\"invocation\":\"" INV "\"}"), "not one sshleased" },
		{ "logind scope without invocation", "{\"version\":2,\"grants\":[]" TAIL_SC(SC_HEAD
			",\"unit\":\"session-4.scope\",\"invocation\":\"\"}"), "not one sshleased" },
		{ "scope invocation short", "{\"version\":2,\"grants\":[]" TAIL_SC(SC_HEAD
			",\"unit\":\"session-4.scope\",\"invocation\":\"0123\"}"), "not one sshleased" },
		{ "scope field missing", "{\"version\":2,\"grants\":[]" TAIL_SC(SC_HEAD
			",\"unit\":\"\"}"), "exactly the expected fields" },
		{ "scope uid negative", "{\"version\":2,\"grants\":[]" TAIL_SC("{\"grant\":\"0123456789ab\","
			"\"user\":\"alice\",\"uid\":-1,\"since\":1796000100,\"pid_start\":7,"
			"\"unit\":\"\",\"invocation\":\"\"}"), "out of range" },
	};
	char dir[600], file[700];
	size_t i;

	for (i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		struct state *state = (struct state *)1;
		const char *why = NULL;
		int r;

		snprintf(dir, sizeof(dir), "%s/bad-%zu", root, i);
		snprintf(file, sizeof(file), "%s/state.json", dir);
		mkdir(dir, 0700);
		spill(file, cases[i].text);
		r = state_load(dir, &state, &why);
		CHECK_MSG(r == SL_REFUSED, "%s: r = %d", cases[i].name, r);
		CHECK_MSG(state == NULL, "%s: state set", cases[i].name);
		CHECK_MSG(why && strstr(why, cases[i].why), "%s: why = \"%s\"", cases[i].name,
			  why ? why : "(null)");
	}
}

/* Field edits of one grant, each refused: (field text as written, reason). */
static void test_malformed_fields(void)
{
	static const struct {
		const char *from, *to, *why;
	} edits[] = {
		{ "\"expires\":1796144400", "\"expires\":\"2026-12-01\"", "not an integer" },
		{ "\"expires\":1796144400", "\"expires\":0", "out of range" },
		{ "\"created\":1796000000", "\"created\":253402300800", "out of range" },
		{ "\"created\":1796000000", "\"created\":1.5", "not an integer" },
		{ "\"mode\":\"shell\"", "\"mode\":\"root\"", "neither shell nor sftp" },
		{ "\"blob_base64\":\"AAAA", "\"blob_base64\":\"A*AA", "not base64" },
		{ "\"fingerprint\":\"SHA256:", "\"fingerprint\":\"MD5:", "fingerprint" },
		{ "\"ticket\":null", "\"ticket\":\"a b\"", "ticket" },
		{ "\"from\":null", "\"from\":\"203.0.113.1/24\"", "from" },
		{ "\"from\":null", "\"from\":\"203.0.113.0/24, 10.0.0.1\"", "from" },
		{ "\"comment\":null", "\"comment\":\"a\\u001bb\"", "comment" },
		{ "\"by_uid\":null", "\"by_uid\":-2", "out of range" },
		{ "\"by_uid\":null", "\"by_uid\":4294967295", "out of range" },
		{ "\"uid\":1000", "\"uid\":true", "not an integer" },
		{ "\"uid\":1000", "\"uid\":-5", "out of range" },
		{ "\"key_type\":\"ssh-ed25519\"", "\"key_type\":\"ssh ed25519\"", "key_type" },
		{ "\"signer\":null", "\"signer\":\"\"", "signer" },
		{ "\"by_user\":null", "\"by_user\":7", "wrong type" },
	};
	static const char base[] = "{\"version\":1,\"grants\":[" GRANT "]" TAIL;
	char dir[600], file[700], text[4096];
	struct state *state = NULL;
	const char *why = NULL;
	size_t i;

	/* The base itself is fine. */
	snprintf(dir, sizeof(dir), "%s/field-ok", root);
	snprintf(file, sizeof(file), "%s/state.json", dir);
	mkdir(dir, 0700);
	spill(file, base);
	CHECK_INT(state_load(dir, &state, &why), 0);
	CHECK(state && state->n_grants == 1 && state->grants[0].by_uid == -1 &&
	      state->grants[0].comment == NULL);
	state_free(state);

	for (i = 0; i < SL_ARRAY_SIZE(edits); i++) {
		const char *at = strstr(base, edits[i].from);
		int r;

		CHECK_MSG(at != NULL, "edit %zu does not apply", i);
		if (!at)
			continue;
		snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - base), base, edits[i].to,
			 at + strlen(edits[i].from));
		snprintf(dir, sizeof(dir), "%s/field-%zu", root, i);
		snprintf(file, sizeof(file), "%s/state.json", dir);
		mkdir(dir, 0700);
		spill(file, text);
		state = NULL;
		why = NULL;
		r = state_load(dir, &state, &why);
		CHECK_MSG(r == SL_REFUSED, "%s: r = %d", edits[i].to, r);
		CHECK_MSG(why && strstr(why, edits[i].why), "%s: why = \"%s\"", edits[i].to,
			  why ? why : "(null)");
		state_free(state);
	}

	/* Nonces and accounts. */
	{
		static const char *const bad[] = {
			"{\"version\":1,\"grants\":[],\"nonces\":[{\"value\":\"x\"}],\"accounts\":[]}",
			"{\"version\":1,\"grants\":[],\"nonces\":[{\"value\":\"x\",\"valid_until\":-1}],"
			"\"accounts\":[]}",
			"{\"version\":1,\"grants\":[],\"nonces\":[{\"value\":\"x\",\"valid_until\":5},"
			"{\"value\":\"x\",\"valid_until\":6}],\"accounts\":[]}",
			"{\"version\":1,\"grants\":[],\"nonces\":[],\"accounts\":[\"Bad Name\"]}",
			"{\"version\":1,\"grants\":[],\"nonces\":[],\"accounts\":[\"a\",\"a\"]}",
		};
		static const char *const reasons[] = {
			"nonce", "nonce", "same nonce twice", "account", "same account twice",
		};

		for (i = 0; i < SL_ARRAY_SIZE(bad); i++) {
			snprintf(dir, sizeof(dir), "%s/list-%zu", root, i);
			snprintf(file, sizeof(file), "%s/state.json", dir);
			mkdir(dir, 0700);
			spill(file, bad[i]);
			state = NULL;
			why = NULL;
			CHECK_INT(state_load(dir, &state, &why), SL_REFUSED);
			CHECK_MSG(why && strstr(why, reasons[i]), "list %zu: why = \"%s\"", i,
				  why ? why : "(null)");
			state_free(state);
		}
	}
}

static void test_unsafe_places(void)
{
	struct state *state = NULL;
	const char *why = NULL;
	char file[700];

	/* A directory others may write into. */
	CHECK_INT(mkdir(sub("open"), 0700), 0);
	CHECK_INT(chmod(sub("open"), 0777), 0);
	CHECK_INT(state_load(sub("open"), &state, &why), SL_REFUSED);
	CHECK(why && strstr(why, "directory"));

	/* state.json as a symlink. */
	CHECK_INT(mkdir(sub("link"), 0700), 0);
	snprintf(file, sizeof(file), "%s/state.json", sub("link"));
	CHECK_INT(symlink("/etc/passwd", file), 0);
	why = NULL;
	CHECK_INT(state_load(sub("link"), &state, &why), SL_REFUSED);
	CHECK(why && strstr(why, "symbolic link"));

	/* A group-writable file. */
	CHECK_INT(mkdir(sub("gw"), 0700), 0);
	snprintf(file, sizeof(file), "%s/state.json", sub("gw"));
	spill(file, "{\"version\":1,\"grants\":[]" TAIL);
	CHECK_INT(chmod(file, 0660), 0);
	why = NULL;
	CHECK_INT(state_load(sub("gw"), &state, &why), SL_REFUSED);
	CHECK(why && strstr(why, "ours alone"));
}

/* In a child: save with a file size limit below the new state's size. */
static int save_limited(const char *dir, const struct state *state, rlim_t limit)
{
	int status = -1;
	pid_t pid = fork();

	if (pid == 0) {
		struct rlimit lim = { limit, RLIM_INFINITY };
		int r;

		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &lim);
		r = state_save(dir, state);
		_exit(r == -EFBIG ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_crash_safety(void)
{
	const char *dir = sub("crash");
	struct state *small = sample_state(1), *big = sample_state(200), *loaded = NULL;
	char file[600], *before, *after;
	size_t before_len, after_len;
	const char *why = NULL;

	snprintf(file, sizeof(file), "%s/state.json", dir);
	CHECK_INT(state_save(dir, small), 0);
	before = slurp(file, &before_len);

	/* The write fails part-way (file size limit): old file kept, no temp. */
	CHECK_INT(save_limited(dir, big, (rlim_t)before_len + 4096), 0);
	after = slurp(file, &after_len);
	CHECK(after && after_len == before_len && memcmp(before, after, before_len) == 0);
	free(after);
	CHECK_INT(count_entries(dir), 1);
	CHECK_INT(state_load(dir, &loaded, &why), 0);
	CHECK(loaded && loaded->n_grants == 1);
	state_free(loaded);

	/* The rename fails (state.json is a directory): temp removed. */
	CHECK_INT(mkdir(sub("crash-rename"), 0700), 0);
	snprintf(file, sizeof(file), "%s/state.json", sub("crash-rename"));
	CHECK_INT(mkdir(file, 0700), 0);
	snprintf(file, sizeof(file), "%s/state.json/keep", sub("crash-rename"));
	spill(file, "x");
	CHECK(state_save(sub("crash-rename"), small) < 0);
	CHECK_INT(count_entries(sub("crash-rename")), 1);

	/* A state that could not be loaded back is not written. */
	free(small->grants[0].comment);
	small->grants[0].comment = strdup("line\nbreak");
	CHECK_INT(state_save(dir, small), -EINVAL);
	snprintf(file, sizeof(file), "%s/state.json", dir);
	after = slurp(file, &after_len);
	CHECK(after && after_len == before_len && memcmp(before, after, before_len) == 0);
	free(after);
	CHECK_INT(count_entries(dir), 1);

	/* A temp file left by a crash is removed at load, nothing else is. */
	snprintf(file, sizeof(file), "%s/.state.json.sshlease-0123456789abcdef", dir);
	spill(file, "{\"version\":1,\"gra");
	snprintf(file, sizeof(file), "%s/.state.json.sshlease-other", dir);
	spill(file, "not ours");
	CHECK_INT(count_entries(dir), 3);
	loaded = NULL;
	CHECK_INT(state_load(dir, &loaded, &why), 0);
	state_free(loaded);
	CHECK_INT(count_entries(dir), 2);
	CHECK_INT(access(file, F_OK), 0);

	free(before);
	state_free(small);
	state_free(big);
}

/* As an unprivileged user: a read-only state directory makes the save fail
 * before anything is written, and the old file stays. Root ignores the mode,
 * so root runs this part as nobody in a directory of nobody's. */
static void test_read_only_dir(void)
{
	char dir[] = "/tmp/sshlease-test-state-ro-XXXXXX";
	int status = -1;
	pid_t pid;

	if (!mkdtemp(dir)) {
		CHECK(false);
		return;
	}
	if (geteuid() == 0 && chown(dir, 65534, 65534) != 0) {
		CHECK(false);
		return;
	}
	pid = fork();
	if (pid == 0) {
		struct state *a = sample_state(1), *b = sample_state(3), *loaded = NULL;
		const char *why = NULL;
		char sd[600];
		int r;

		if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 ||
				       setuid(65534) != 0))
			_exit(10);
		snprintf(sd, sizeof(sd), "%s/state", dir);
		if (state_save(sd, a) != 0)
			_exit(11);
		if (chmod(sd, 0500) != 0)
			_exit(12);
		r = state_save(sd, b);
		if (r != -EACCES)
			_exit(13);
		if (chmod(sd, 0700) != 0 || state_load(sd, &loaded, &why) != 0 ||
		    loaded->n_grants != 1 || count_entries(sd) != 1)
			_exit(14);
		state_free(loaded);
		state_free(a);
		state_free(b);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exit %d",
		  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	{
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "%s/state/state.json", dir);
		unlink(cmd);
		snprintf(cmd, sizeof(cmd), "%s/state", dir);
		rmdir(cmd);
		rmdir(dir);
	}
}

static void test_ten_thousand(void)
{
	const char *dir = sub("big");
	struct state *state = state_new(), *loaded = NULL;
	const char *why = NULL;
	struct grant g;
	unsigned i;
	bool same = true;

	for (i = 0; i < 10000; i++) {
		make_grant(&g, i);
		CHECK_INT(state_add_grant(state, &g), 0);
	}
	CHECK_INT(state_save(dir, state), 0);
	CHECK_INT(state_load(dir, &loaded, &why), 0);
	CHECK(loaded != NULL);
	if (!loaded)
		goto out;
	CHECK_INT(loaded->n_grants, 10000);
	for (i = 0; i < 10000 && i < loaded->n_grants; i++) {
		const struct grant *a = &state->grants[i], *b = &loaded->grants[i];

		if (strcmp(a->id, b->id) != 0 || !same_string(a->user, b->user) ||
		    a->expires != b->expires || !same_string(a->from, b->from) ||
		    a->by_uid != b->by_uid)
			same = false;
	}
	CHECK(same);
	check_same_grant(&loaded->grants[9998], &state->grants[9998]);
	check_same_grant(&loaded->grants[9999], &state->grants[9999]);
	CHECK(state_find_grant(loaded, "000abc00270f") == &loaded->grants[9999]);

	/* A duplicate id at the far end of 10,000 is still found. */
	snprintf(loaded->grants[9999].id, sizeof(loaded->grants[9999].id), "000abc000000");
	CHECK_INT(state_save(dir, loaded), -EINVAL);
out:
	state_free(loaded);
	state_free(state);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	chmod(path, 0700);
	return remove(path);
}

int main(void)
{
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	TEST(test_round_trip());
	TEST(test_scopes());
	TEST(test_key_watch_footholds());
	TEST(test_grant_tally());
	TEST(test_grant_json());
	TEST(test_add_find_remove());
	TEST(test_nonces());
	TEST(test_nonce_remove());
	TEST(test_malformed());
	TEST(test_malformed_fields());
	TEST(test_unsafe_places());
	TEST(test_crash_safety());
	TEST(test_read_only_dir());
	TEST(test_ten_thousand());

	if (test_failures == 0)
		nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	else
		fprintf(stderr, "left %s for inspection\n", root);
	return test_done();
}

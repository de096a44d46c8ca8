/* The daemon's durable state: grants, redeemed nonces, accounts and open sessions in state.json. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "state-json.h"
#include "state.h"
#include "validate.h"

#define STATE_FILE "state.json"
#define STATE_VERSION 2
/* Before sessions were kept: read, never written. */
#define STATE_VERSION_NO_SESSIONS 1
#define STATE_FILE_MAX (256 * 1024 * 1024)

/* ---- arrays ---- */

/* Make room for one more element: amortised doubling, so loading or adding
 * n items costs O(n). Works from *n alone when *alloc is 0. */
static int grow(void **array, size_t n, size_t *alloc, size_t size)
{
	size_t want;
	void *p;

	if (n < *alloc)
		return 0;
	want = n < 8 ? 16 : n * 2;
	if (want > SIZE_MAX / size)
		return -ENOMEM;
	p = realloc(*array, want * size);
	if (!p)
		return -ENOMEM;
	*array = p;
	*alloc = want;
	return 0;
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether n strings, reached as base + i * stride, hold a duplicate:
 * sorted copy of the pointers, O(n log n). */
static int find_duplicate(const void *base, size_t n, size_t stride,
			  size_t offset, bool inline_text, bool *found)
{
	const char **keys;
	size_t i;

	*found = false;
	if (n < 2)
		return 0;
	keys = malloc(n * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const char *item = (const char *)base + i * stride + offset;

		keys[i] = inline_text ? item : *(char *const *)item;
	}
	qsort(keys, n, sizeof(*keys), compare_strings);
	for (i = 1; i < n && !*found; i++)
		*found = strcmp(keys[i - 1], keys[i]) == 0;
	free(keys);
	return 0;
}

/* ---- the state in memory ---- */

struct state *state_new(void)
{
	return calloc(1, sizeof(struct state));
}

void grant_finish(struct grant *grant)
{
	if (!grant)
		return;
	free(grant->user);
	free(grant->key_type);
	free(grant->blob_base64);
	free(grant->fingerprint);
	free(grant->comment);
	free(grant->ticket);
	free(grant->from);
	free(grant->signer);
	free(grant->by_user);
	free(grant->tally);
	memset(grant, 0, sizeof(*grant));
}

struct grant_tally *grant_tally(struct grant *g)
{
	if (!g->tally)
		g->tally = calloc(1, sizeof(*g->tally));
	return g->tally;
}

void grant_tally_address(struct grant_tally *t, const char *address)
{
	size_t used = strlen(t->addresses), len = strlen(address);
	const char *p = t->addresses;

	/* Already listed (as a whole item)? */
	while ((p = strstr(p, address))) {
		bool starts = p == t->addresses || p[-1] == ' ';
		bool ends = p[len] == '\0' || p[len] == ',';

		if (starts && ends)
			return;
		p += len;
	}
	if (used >= 4 && strcmp(t->addresses + used - 4, " ...") == 0)
		return;
	if (used + len + 2 + 4 >= sizeof(t->addresses)) {
		snprintf(t->addresses + used, sizeof(t->addresses) - used, " ...");
		return;
	}
	snprintf(t->addresses + used, sizeof(t->addresses) - used, "%s%s", used ? ", " : "",
		 address);
}

void state_free(struct state *state)
{
	size_t i;

	if (!state)
		return;
	for (i = 0; i < state->n_grants; i++)
		grant_finish(&state->grants[i]);
	for (i = 0; i < state->n_nonces; i++)
		free(state->nonces[i].value);
	for (i = 0; i < state->n_accounts; i++)
		free(state->accounts[i]);
	free(state->grants);
	free(state->nonces);
	free(state->accounts);
	free(state->sessions);
	free(state->scopes);
	for (i = 0; i < state->n_key_watches; i++)
		free(state->key_watches[i].known);
	free(state->key_watches);
	for (i = 0; i < state->n_added_keys; i++)
		free(state->added_keys[i].line);
	free(state->added_keys);
	free(state);
}

struct key_watch *state_find_key_watch(struct state *state, uid_t uid)
{
	for (size_t i = 0; i < state->n_key_watches; i++)
		if (state->key_watches[i].uid == uid)
			return &state->key_watches[i];
	return NULL;
}

int state_add_key_watch(struct state *state, struct key_watch *watch)
{
	int r = grow((void **)&state->key_watches, state->n_key_watches,
		     &state->key_watches_alloc, sizeof(*state->key_watches));

	if (r < 0)
		return r;
	state->key_watches[state->n_key_watches++] = *watch;
	memset(watch, 0, sizeof(*watch));
	return 0;
}

void state_remove_key_watch(struct state *state, size_t i)
{
	if (i >= state->n_key_watches)
		return;
	free(state->key_watches[i].known);
	memmove(&state->key_watches[i], &state->key_watches[i + 1],
		(state->n_key_watches - i - 1) * sizeof(*state->key_watches));
	state->n_key_watches--;
}

int state_add_added_key(struct state *state, struct added_key *key)
{
	int r = grow((void **)&state->added_keys, state->n_added_keys,
		     &state->added_keys_alloc, sizeof(*state->added_keys));

	if (r < 0)
		return r;
	state->added_keys[state->n_added_keys++] = *key;
	memset(key, 0, sizeof(*key));
	return 0;
}

void state_remove_added_key(struct state *state, size_t i)
{
	if (i >= state->n_added_keys)
		return;
	free(state->added_keys[i].line);
	memmove(&state->added_keys[i], &state->added_keys[i + 1],
		(state->n_added_keys - i - 1) * sizeof(*state->added_keys));
	state->n_added_keys--;
}

int state_add_session(struct state *state, const struct session *session)
{
	int r = grow((void **)&state->sessions, state->n_sessions,
		     &state->sessions_alloc, sizeof(*state->sessions));

	if (r < 0)
		return r;
	state->sessions[state->n_sessions++] = *session;
	return 0;
}

void state_remove_session(struct state *state, size_t i)
{
	if (i >= state->n_sessions)
		return;
	memmove(&state->sessions[i], &state->sessions[i + 1],
		(state->n_sessions - i - 1) * sizeof(*state->sessions));
	state->n_sessions--;
}

int state_add_scope(struct state *state, const struct login_scope *scope)
{
	int r = grow((void **)&state->scopes, state->n_scopes, &state->scopes_alloc,
		     sizeof(*state->scopes));

	if (r < 0)
		return r;
	state->scopes[state->n_scopes++] = *scope;
	return 0;
}

void state_remove_scope(struct state *state, size_t i)
{
	if (i >= state->n_scopes)
		return;
	memmove(&state->scopes[i], &state->scopes[i + 1],
		(state->n_scopes - i - 1) * sizeof(*state->scopes));
	state->n_scopes--;
}

int state_add_grant(struct state *state, struct grant *grant)
{
	int r = grow((void **)&state->grants, state->n_grants,
		     &state->grants_alloc, sizeof(*state->grants));

	if (r < 0)
		return r;
	state->grants[state->n_grants++] = *grant;
	memset(grant, 0, sizeof(*grant));
	return 0;
}

struct grant *state_find_grant(struct state *state, const char *id)
{
	size_t i;

	if (!id || strlen(id) != AUTHKEYS_ID_LEN)
		return NULL;
	for (i = 0; i < state->n_grants; i++) {
		if (memcmp(state->grants[i].id, id, AUTHKEYS_ID_LEN) == 0)
			return &state->grants[i];
	}
	return NULL;
}

int state_remove_grant(struct state *state, const char *id)
{
	struct grant *g = state_find_grant(state, id);
	size_t i;

	if (!g)
		return SL_NOT_FOUND;
	i = (size_t)(g - state->grants);
	grant_finish(g);
	/* Keep the order grants were made in: list shows it. */
	memmove(&state->grants[i], &state->grants[i + 1],
		(state->n_grants - i - 1) * sizeof(*state->grants));
	state->n_grants--;
	return 0;
}

int state_account_note(struct state *state, const char *user)
{
	char *copy;
	size_t i;
	int r;

	if (!user || !username_valid(user))
		return -EINVAL;
	for (i = 0; i < state->n_accounts; i++) {
		if (strcmp(state->accounts[i], user) == 0)
			return 0;
	}
	r = grow((void **)&state->accounts, state->n_accounts,
		 &state->accounts_alloc, sizeof(*state->accounts));
	if (r < 0)
		return r;
	copy = strdup(user);
	if (!copy)
		return -ENOMEM;
	state->accounts[state->n_accounts++] = copy;
	return 0;
}

bool state_nonce_seen(const struct state *state, const char *value)
{
	size_t i;

	for (i = 0; i < state->n_nonces; i++) {
		if (strcmp(state->nonces[i].value, value) == 0)
			return true;
	}
	return false;
}

int state_nonce_add(struct state *state, const char *value, time_t valid_until)
{
	struct nonce n = { .value = (char *)value, .valid_until = valid_until };
	const char *why;
	int r;

	if (!value || state_nonce_check(&n, &why) != 0)
		return -EINVAL;
	if (state_nonce_seen(state, value))
		return SL_EXISTS;
	r = grow((void **)&state->nonces, state->n_nonces, &state->nonces_alloc,
		 sizeof(*state->nonces));
	if (r < 0)
		return r;
	n.value = strdup(value);
	if (!n.value)
		return -ENOMEM;
	state->nonces[state->n_nonces++] = n;
	return 0;
}

void state_nonce_prune(struct state *state, time_t now)
{
	size_t i, kept = 0;

	for (i = 0; i < state->n_nonces; i++) {
		time_t valid_until = state->nonces[i].valid_until;

		/* valid_until is sane (state_nonce_check), so no overflow. */
		if (now > valid_until && now - valid_until > STATE_NONCE_MARGIN)
			free(state->nonces[i].value);
		else
			state->nonces[kept++] = state->nonces[i];
	}
	state->n_nonces = kept;
}

int state_nonce_remove(struct state *state, const char *value)
{
	for (size_t i = 0; value && i < state->n_nonces; i++) {
		if (strcmp(state->nonces[i].value, value) != 0)
			continue;
		free(state->nonces[i].value);
		memmove(&state->nonces[i], &state->nonces[i + 1],
			(state->n_nonces - i - 1) * sizeof(*state->nonces));
		state->n_nonces--;
		return 0;
	}
	return SL_NOT_FOUND;
}

/* ---- load ---- */

/*
 * state.json is read one element at a time: the outer object and arrays by
 * hand, each grant, nonce and account by jansson. Memory stays at one
 * element's tree on top of the result, whatever the number of grants.
 */
struct reader {
	const char *text;
	size_t len;
	size_t pos;
};

static void skip_space(struct reader *rd)
{
	while (rd->pos < rd->len && (rd->text[rd->pos] == ' ' || rd->text[rd->pos] == '\t' ||
				     rd->text[rd->pos] == '\n' || rd->text[rd->pos] == '\r'))
		rd->pos++;
}

static bool take_char(struct reader *rd, char c)
{
	skip_space(rd);
	if (rd->pos < rd->len && rd->text[rd->pos] == c) {
		rd->pos++;
		return true;
	}
	return false;
}

/* One JSON value at the reader's position, or NULL (logged with its line). */
static json_t *take_value(struct reader *rd)
{
	json_error_t error;
	json_t *value;

	skip_space(rd);
	value = json_loadb(rd->text + rd->pos, rd->len - rd->pos,
			   JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES,
			   &error);
	if (value) {
		rd->pos += (size_t)error.position;
	} else {
		char safe[201];
		size_t line = 1, i;

		for (i = 0; i < rd->pos; i++)
			line += rd->text[i] == '\n';
		log_err("state.json:%zu: %s", line + (size_t)error.line - 1,
			log_safe(safe, sizeof(safe), error.text));
	}
	return value;
}

enum section { SECTION_GRANTS, SECTION_NONCES, SECTION_ACCOUNTS, SECTION_SESSIONS,
	       SECTION_SCOPES, SECTION_KEY_WATCHES, SECTION_ADDED_KEYS };

static int load_element(struct state *state, enum section section, json_t *value,
			long long version, const char **why)
{
	struct grant g;
	struct nonce n;
	struct session session;
	struct login_scope scope;
	char *copy;
	int r;

	struct key_watch kw;
	struct added_key ak;

	switch (section) {
	case SECTION_KEY_WATCHES:
		r = state_key_watch_from_json(value, &kw, why);
		if (r == 0 && state_find_key_watch(state, kw.uid)) {
			*why = "two key watches of one account";
			r = SL_REFUSED;
		}
		if (r == 0)
			r = state_add_key_watch(state, &kw);
		free(kw.known);
		return r;
	case SECTION_ADDED_KEYS:
		r = state_added_key_from_json(value, &ak, why);
		if (r == 0)
			r = state_add_added_key(state, &ak);
		free(ak.line);
		return r;
	case SECTION_SCOPES:
		r = state_scope_from_json(value, &scope, why);
		if (r == 0)
			r = state_add_scope(state, &scope);
		return r;
	case SECTION_SESSIONS:
		r = state_session_from_json(value, &session, why);
		if (r == 0)
			r = state_add_session(state, &session);
		return r;
	case SECTION_GRANTS:
		r = state_grant_from_json(value, version != STATE_VERSION_NO_SESSIONS, &g, why);
		if (r == 0) {
			r = state_add_grant(state, &g);
			grant_finish(&g);
		}
		return r;
	case SECTION_NONCES:
		r = state_nonce_from_json(value, &n, why);
		if (r == 0)
			r = grow((void **)&state->nonces, state->n_nonces, &state->nonces_alloc,
				 sizeof(*state->nonces));
		if (r != 0) {
			free(n.value);
			return r;
		}
		state->nonces[state->n_nonces++] = n;
		return 0;
	case SECTION_ACCOUNTS:
		if (!json_is_string(value) || !username_valid(json_string_value(value))) {
			*why = "an account is not a valid account name";
			return SL_REFUSED;
		}
		r = grow((void **)&state->accounts, state->n_accounts,
			 &state->accounts_alloc, sizeof(*state->accounts));
		if (r < 0)
			return r;
		copy = strdup(json_string_value(value));
		if (!copy)
			return -ENOMEM;
		state->accounts[state->n_accounts++] = copy;
		return 0;
	}
	return -EINVAL;
}

static int load_array(struct reader *rd, struct state *state, enum section section,
		      long long version, const char **why)
{
	json_t *value;
	int r;

	if (!take_char(rd, '[')) {
		*why = "grants, nonces, accounts and sessions must be arrays";
		return SL_REFUSED;
	}
	if (take_char(rd, ']'))
		return 0;
	for (;;) {
		value = take_value(rd);
		if (!value) {
			*why = "state.json is not valid JSON";
			return SL_REFUSED;
		}
		r = load_element(state, section, value, version, why);
		json_decref(value);
		if (r != 0)
			return r;
		if (take_char(rd, ']'))
			return 0;
		if (!take_char(rd, ',')) {
			*why = "state.json is not valid JSON";
			return SL_REFUSED;
		}
	}
}

/* The member name at the reader's position and its colon. */
static int take_key(struct reader *rd, char *key, size_t size, const char **why)
{
	json_t *value = take_value(rd);
	int r = 0;

	if (!json_is_string(value) || json_string_length(value) >= size || !take_char(rd, ':')) {
		*why = "state.json is not valid JSON, or has an unknown field";
		r = SL_REFUSED;
	} else {
		memcpy(key, json_string_value(value), json_string_length(value) + 1);
	}
	json_decref(value);
	return r;
}

/* "audit":{"seq":N,"hash":"<64 lowercase hex>"}, once. */
static int load_audit(struct reader *rd, struct state *state, const char **why)
{
	json_t *value = take_value(rd);
	json_int_t seq = 0;
	const char *hash = NULL;
	int r = SL_REFUSED;

	*why = "state.json has a malformed audit position";
	if (state->audit_seq == 0 && value &&
	    json_unpack(value, "{s:I, s:s !}", "seq", &seq, "hash", &hash) == 0 && seq > 0 &&
	    strlen(hash) == 64 && strspn(hash, "0123456789abcdef") == 64) {
		state->audit_seq = (unsigned long long)seq;
		memcpy(state->audit_hash, hash, 65);
		r = 0;
	}
	json_decref(value);
	return r;
}

static int parse_state(const char *text, size_t len, struct state *state,
		       const char **why)
{
	struct reader rd = { .text = text, .len = len };
	static const char *const names[] = { "grants", "nonces", "accounts", "sessions",
					      "scopes", "key_watches", "added_keys" };
	bool seen[SL_ARRAY_SIZE(names)] = { false };
	size_t n_names = SL_ARRAY_SIZE(names);
	long long version_number;
	char key[16];
	json_t *version;
	size_t i;
	int r;

	if (!take_char(&rd, '{')) {
		*why = "state.json is not a JSON object";
		return SL_REFUSED;
	}
	/* The version comes first so that a newer format is named as such
	 * instead of being judged by this version's rules. */
	r = take_key(&rd, key, sizeof(key), why);
	if (r != 0 || strcmp(key, "version") != 0) {
		*why = "state.json does not begin with its version";
		return SL_REFUSED;
	}
	version = take_value(&rd);
	if (!json_is_integer(version) || (json_integer_value(version) != STATE_VERSION &&
					  json_integer_value(version) != STATE_VERSION_NO_SESSIONS)) {
		json_decref(version);
		*why = "state.json has an unknown version (written by another sshleased?)";
		return SL_REFUSED;
	}
	/* Version 1 has no sessions, scopes or key watches: the last four
	 * names are not among its fields. */
	version_number = json_integer_value(version);
	if (version_number == STATE_VERSION_NO_SESSIONS)
		n_names -= 4;
	json_decref(version);
	while (!take_char(&rd, '}')) {
		if (!take_char(&rd, ',')) {
			*why = "state.json is not valid JSON";
			return SL_REFUSED;
		}
		r = take_key(&rd, key, sizeof(key), why);
		if (r != 0)
			return r;
		if (strcmp(key, "audit") == 0) {
			r = load_audit(&rd, state, why);
			if (r != 0)
				return r;
			continue;
		}
		for (i = 0; i < n_names; i++) {
			if (strcmp(key, names[i]) == 0)
				break;
		}
		if (i == n_names) {
			*why = "state.json has an unknown field";
			return SL_REFUSED;
		}
		if (seen[i]) {
			*why = "state.json has a field twice";
			return SL_REFUSED;
		}
		seen[i] = true;
		r = load_array(&rd, state, (enum section)i, version_number, why);
		if (r != 0)
			return r;
	}
	skip_space(&rd);
	if (rd.pos != rd.len) {
		*why = "state.json has data after its end";
		return SL_REFUSED;
	}
	/* "scopes" is written only when there are any. */
	for (i = 0; i < n_names && i < SECTION_SCOPES; i++) {
		if (!seen[i]) {
			*why = "state.json lacks grants, nonces, accounts or sessions";
			return SL_REFUSED;
		}
	}
	return 0;
}

/* Each session belongs to a grant of the state, of the same account, and
 * no two name the same connection. O(sessions * (grants + sessions)):
 * sessions are few. */
static int check_sessions(const struct state *state, const char **why)
{
	for (size_t i = 0; i < state->n_sessions; i++) {
		const struct session *s = &state->sessions[i];
		const struct grant *g = NULL;

		for (size_t k = 0; k < state->n_grants && !g; k++)
			if (strcmp(state->grants[k].id, s->grant_id) == 0)
				g = &state->grants[k];
		if (!g || strcmp(g->user, s->user) != 0) {
			*why = "state.json has a session of no grant, or of another account than its grant's";
			return SL_REFUSED;
		}
		for (size_t k = 0; k < i; k++) {
			if (state->sessions[k].port == s->port &&
			    strcmp(state->sessions[k].address, s->address) == 0) {
				*why = "state.json has two sessions of the same connection";
				return SL_REFUSED;
			}
		}
	}
	return 0;
}

static int check_unique(const struct state *state, const char **why)
{
	bool dup;
	int r;

	r = find_duplicate(state->grants, state->n_grants, sizeof(struct grant),
			   offsetof(struct grant, id), true, &dup);
	if (r == 0 && dup) {
		*why = "state.json has two grants with the same id";
		return SL_REFUSED;
	}
	if (r == 0)
		r = find_duplicate(state->nonces, state->n_nonces, sizeof(struct nonce),
				   offsetof(struct nonce, value), false, &dup);
	if (r == 0 && dup) {
		*why = "state.json has the same nonce twice";
		return SL_REFUSED;
	}
	if (r == 0)
		r = find_duplicate(state->accounts, state->n_accounts, sizeof(char *), 0,
				   false, &dup);
	if (r == 0 && dup) {
		*why = "state.json has the same account twice";
		return SL_REFUSED;
	}
	return r == 0 ? check_sessions(state, why) : r;
}

int state_load(const char *state_dir, struct state **out, const char **why)
{
	struct state *state = NULL;
	enum fsutil_distrust broken;
	int dir_fd = -1, fd = -1, r;
	char *text = NULL;
	struct stat st;
	size_t len;

	*out = NULL;
	state = state_new();
	if (!state)
		return -ENOMEM;
	dir_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0 && errno == ENOENT)
		goto done;
	if (dir_fd < 0) {
		r = -errno;
		goto out;
	}
	/* Rule: ours (euid), no group/other write: its grants decide who may log in. */
	r = fsutil_trust_fd(dir_fd, geteuid(), FSUTIL_TRUST_NO_SHARED_WRITE, NULL, &broken);
	if (r == SL_REFUSED)
		*why = "the state directory is not ours alone (owner or group/other write)";
	if (r != 0)
		goto out;
	fsutil_clean_temps(dir_fd, STATE_FILE);
	fd = openat(dir_fd, STATE_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		goto done;
	if (fd < 0 && errno == ELOOP) {
		*why = "state.json is a symbolic link";
		r = SL_REFUSED;
		goto out;
	}
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	/* Rule: as for the directory, and a regular file. */
	r = fsutil_trust_fd(fd, geteuid(), FSUTIL_TRUST_REGULAR | FSUTIL_TRUST_NO_SHARED_WRITE,
			    &st, &broken);
	if (r == SL_REFUSED)
		*why = "state.json is not a regular file of ours alone";
	if (r != 0)
		goto out;
	r = fsutil_read_fd(fd, STATE_FILE_MAX, &text, &len);
	if (r == -EFBIG) {
		*why = "state.json is too large";
		r = SL_REFUSED;
	}
	if (r == 0 && len != (size_t)st.st_size)
		r = -EIO; /* changed while we read it */
	if (r != 0)
		goto out;
	r = parse_state(text, len, state, why);
	if (r == 0)
		r = check_unique(state, why);
	if (r != 0)
		goto out;
done:
	*out = state;
	state = NULL;
	r = 0;
out:
	free(text);
	if (fd >= 0)
		close(fd);
	if (dir_fd >= 0)
		close(dir_fd);
	state_free(state);
	return r;
}

/* ---- save ---- */

struct writer {
	int fd;
	int error; /* -errno of the first failure */
	size_t used;
	char buf[64 * 1024];
};

static void writer_flush(struct writer *w)
{
	if (w->error == 0 && w->used > 0)
		w->error = fsutil_write_all(w->fd, w->buf, w->used);
	w->used = 0;
}

/* Also jansson's dump callback: 0 or -1. */
static int writer_put(const char *data, size_t size, void *opaque)
{
	struct writer *w = opaque;

	while (w->error == 0 && size > 0) {
		size_t room = sizeof(w->buf) - w->used, n = size < room ? size : room;

		memcpy(w->buf + w->used, data, n);
		w->used += n;
		data += n;
		size -= n;
		if (w->used == sizeof(w->buf))
			writer_flush(w);
	}
	return w->error ? -1 : 0;
}

static int writer_text(struct writer *w, const char *text)
{
	writer_put(text, strlen(text), w);
	return w->error;
}

/* Stream one value; the tree is freed at once, so saving 10,000 grants
 * never holds more than one grant's tree. */
static int writer_value(struct writer *w, json_t *value)
{
	int r;

	if (!value)
		return -ENOMEM;
	r = json_dump_callback(value, writer_put, w,
			       JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	json_decref(value);
	if (r < 0)
		return w->error ? w->error : -ENOMEM;
	return 0;
}

static int write_state(struct writer *w, const struct state *state)
{
	size_t i;
	int r;

	r = writer_text(w, "{\"version\":2,\n\"grants\":[");
	for (i = 0; r == 0 && i < state->n_grants; i++) {
		r = writer_text(w, i ? ",\n" : "\n");
		if (r == 0)
			r = writer_value(w, state_grant_to_json(&state->grants[i]));
	}
	if (r == 0)
		r = writer_text(w, "],\n\"nonces\":[");
	for (i = 0; r == 0 && i < state->n_nonces; i++) {
		r = writer_text(w, i ? ",\n" : "\n");
		if (r == 0)
			r = writer_value(w, state_nonce_to_json(&state->nonces[i]));
	}
	if (r == 0)
		r = writer_text(w, "],\n\"accounts\":[");
	for (i = 0; r == 0 && i < state->n_accounts; i++) {
		r = writer_text(w, i ? ",\n" : "\n");
		if (r == 0)
			r = writer_value(w, json_string(state->accounts[i]));
	}
	if (r == 0)
		r = writer_text(w, "],\n\"sessions\":[");
	for (i = 0; r == 0 && i < state->n_sessions; i++) {
		r = writer_text(w, i ? ",\n" : "\n");
		if (r == 0)
			r = writer_value(w, state_session_to_json(&state->sessions[i]));
	}
	if (r == 0 && state->n_scopes)
		r = writer_text(w, "],\n\"scopes\":[");
	for (i = 0; r == 0 && i < state->n_scopes; i++) {
		r = writer_text(w, i ? ",\n" : "\n");
		if (r == 0)
			r = writer_value(w, state_scope_to_json(&state->scopes[i]));
	}
	if (r == 0 && state->n_key_watches)
		r = writer_text(w, "],\n\"key_watches\":[");
	for (i = 0; r == 0 && i < state->n_key_watches; i++) {
		r = writer_text(w, i ? ",\n" : "\n");
		if (r == 0)
			r = writer_value(w, state_key_watch_to_json(&state->key_watches[i]));
	}
	if (r == 0 && state->n_added_keys)
		r = writer_text(w, "],\n\"added_keys\":[");
	for (i = 0; r == 0 && i < state->n_added_keys; i++) {
		r = writer_text(w, i ? ",\n" : "\n");
		if (r == 0)
			r = writer_value(w, state_added_key_to_json(&state->added_keys[i]));
	}
	if (r == 0)
		r = writer_text(w, "]");
	if (r == 0 && state->audit_seq > 0) {
		r = writer_text(w, ",\n\"audit\":");
		if (r == 0)
			r = writer_value(w, json_pack("{s:I, s:s}", "seq", (json_int_t)state->audit_seq,
						      "hash", state->audit_hash));
	}
	if (r == 0)
		r = writer_text(w, "}\n");
	if (r == 0) {
		writer_flush(w);
		r = w->error;
	}
	return r;
}

/* Refuse to write what state_load would refuse to read back. */
static int state_check(const struct state *state)
{
	const char *why = NULL;
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < state->n_grants; i++)
		r = state_grant_check(&state->grants[i], &why);
	for (i = 0; r == 0 && i < state->n_nonces; i++)
		r = state_nonce_check(&state->nonces[i], &why);
	for (i = 0; r == 0 && i < state->n_accounts; i++) {
		if (!state->accounts[i] || !username_valid(state->accounts[i])) {
			why = "an account is not a valid account name";
			r = SL_REFUSED;
		}
	}
	for (i = 0; r == 0 && i < state->n_sessions; i++)
		r = state_session_check(&state->sessions[i], &why);
	for (i = 0; r == 0 && i < state->n_scopes; i++)
		r = state_scope_check(&state->scopes[i], &why);
	for (i = 0; r == 0 && i < state->n_key_watches; i++)
		r = state_key_watch_check(&state->key_watches[i], &why);
	for (i = 0; r == 0 && i < state->n_added_keys; i++)
		r = state_added_key_check(&state->added_keys[i], &why);
	if (r == 0)
		r = check_unique(state, &why);
	if (r == SL_REFUSED) {
		log_err("state not saved: %s", why);
		r = -EINVAL;
	}
	return r;
}

/* What fsutil_replace runs to write the temp file. */
struct save {
	const struct state *state;
	struct writer w;
};

static int save_fill(int fd, void *arg)
{
	struct save *save = arg;

	save->w.fd = fd;
	return write_state(&save->w, save->state);
}

int state_save(const char *state_dir, const struct state *state)
{
	struct fsutil_replace how = { .fill = save_fill, .mode = 0600 };
	struct save *save = NULL;
	int dir_fd = -1, r;

	r = state_check(state);
	if (r < 0)
		return r;
	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	dir_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return -errno;
	save = calloc(1, sizeof(*save));
	if (!save) {
		r = -ENOMEM;
		goto out;
	}
	save->state = state;
	how.fill_arg = save;
	r = fsutil_replace(dir_fd, STATE_FILE, &how, NULL);
out:
	free(save);
	close(dir_fd);
	return r;
}

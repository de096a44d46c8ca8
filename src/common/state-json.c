/* A grant's, a nonce's and a session's JSON forms (state.json, --json, protocol) and what each may hold. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"
#include <sodium.h>

#include "state-json.h"
#include "timeutil.h"
#include "validate.h"

#define TIME_MAX_SANE 253402300799LL /* 9999-12-31T23:59:59Z */
#define NAME_MAX_LEN 256
#define NONCE_MAX_LEN 256
#define SIGNER_MAX_LEN 128
#define KEY_TYPE_MAX_LEN 64

static bool printable(const char *s, bool allow_space)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c > 0x7e || (!allow_space && c == ' '))
			return false;
	}
	return true;
}

/* A printable ASCII word of 1..max bytes without spaces. */
static bool word_valid(const char *s, size_t max)
{
	size_t len = strnlen(s, max + 1);

	return len >= 1 && len <= max && printable(s, false);
}

static bool base64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* "SHA256:" and unpadded base64, as ssh-keygen -l prints it. */
static bool fingerprint_valid(const char *s)
{
	static const char prefix[] = "SHA256:";
	size_t len = strnlen(s, 64);

	if (len >= 64 || strncmp(s, prefix, sizeof(prefix) - 1) != 0 ||
	    len == sizeof(prefix) - 1)
		return false;
	for (s += sizeof(prefix) - 1; *s; s++) {
		if (!base64_char(*s))
			return false;
	}
	return true;
}

static bool time_sane(long long t)
{
	return t >= 1 && t <= TIME_MAX_SANE;
}

static bool uid_sane(long long uid)
{
	return uid >= 0 && uid < (long long)(uid_t)-1;
}

/*
 * Check everything a grant carries, in memory, so that load refuses what is
 * not a grant and save never writes a state that load would refuse. Times
 * are only range-checked: a clock set back between creation and an extend
 * can leave expires before created, and such a state must still load.
 */
int state_grant_check(const struct grant *g, const char **why)
{
	const char *reason = NULL;
	char *canonical = NULL;
	const char *from_why;

	if (!grant_id_valid(g->id, strnlen(g->id, GRANT_ID_LEN + 1)))
		reason = "a grant id is not 12 lower-case hex digits";
	else if (!g->user || !username_valid(g->user))
		reason = "a grant's user is not a valid account name";
	else if (!uid_sane(g->uid))
		reason = "a grant's uid is out of range";
	else if (!g->key_type || !word_valid(g->key_type, KEY_TYPE_MAX_LEN))
		reason = "a grant's key_type is malformed";
	else if (!g->blob_base64 || !key_blob_valid(g->blob_base64, strnlen(g->blob_base64, KEY_BLOB_MAX + 1)))
		reason = "a grant's key blob is not base64";
	else if (!g->fingerprint || !fingerprint_valid(g->fingerprint))
		reason = "a grant's fingerprint is not SHA256:<base64>";
	else if (g->comment && (strnlen(g->comment, KEY_LINE_MAX + 1) > KEY_LINE_MAX ||
				!printable(g->comment, true)))
		reason = "a grant's comment is not printable ASCII";
	else if (g->ticket && ticket_validate(g->ticket, &from_why) != 0)
		reason = "a grant's ticket is malformed";
	else if (g->mode != AUTHKEYS_MODE_SHELL && g->mode != AUTHKEYS_MODE_SFTP)
		reason = "a grant's mode is neither shell nor sftp";
	else if (g->signer && !word_valid(g->signer, SIGNER_MAX_LEN))
		reason = "a grant's signer is malformed";
	else if (!time_sane(g->created) || !time_sane(g->expires))
		reason = "a grant's created or expires time is out of range";
	else if (g->by_uid != -1 && !uid_sane(g->by_uid))
		reason = "a grant's by_uid is out of range";
	else if (g->by_user && !word_valid(g->by_user, NAME_MAX_LEN))
		reason = "a grant's by_user is malformed";
	if (!reason && g->from) {
		int r = from_validate(g->from, &canonical, &from_why);

		if (r < 0)
			return r;
		/* We only ever store the canonical form. */
		if (r != 0 || strcmp(canonical, g->from) != 0)
			reason = "a grant's from list is malformed";
		free(canonical);
	}
	if (reason) {
		*why = reason;
		return SL_REFUSED;
	}
	return 0;
}

int state_nonce_check(const struct nonce *n, const char **why)
{
	if (!n->value || !word_valid(n->value, NONCE_MAX_LEN)) {
		*why = "a nonce is malformed";
		return SL_REFUSED;
	}
	if (!time_sane(n->valid_until)) {
		*why = "a nonce's valid_until is out of range";
		return SL_REFUSED;
	}
	return 0;
}

static json_t *string_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *time_to_json(time_t t)
{
	char text[32];

	if (t == 0)
		return json_null();
	time_format_utc(t, text, sizeof(text));
	return json_string(text);
}

/* Build an object from (key, new value) pairs; NULL if any value is NULL. */
static json_t *object_of(const char *const *keys, json_t **values, size_t n)
{
	json_t *object = json_object();
	bool failed = !object;
	size_t i;

	for (i = 0; i < n; i++) {
		if (failed || !values[i] || json_object_set_new(object, keys[i], values[i]) < 0) {
			failed = true;
			json_decref(values[i]);
		}
	}
	if (failed) {
		json_decref(object);
		return NULL;
	}
	return object;
}

json_t *grant_to_json(const struct grant *g)
{
	static const char *const keys[] = {
		"id", "user", "key_type", "fingerprint", "comment", "ticket",
		"from", "mode", "signer", "created", "expires", "expires_unix",
		"by_uid", "by_user", "last_login",
	};
	json_t *values[SL_ARRAY_SIZE(keys)] = {
		json_string(g->id),
		string_or_null(g->user),
		string_or_null(g->key_type),
		string_or_null(g->fingerprint),
		string_or_null(g->comment),
		string_or_null(g->ticket),
		string_or_null(g->from),
		json_string(authkeys_mode_name(g->mode)),
		string_or_null(g->signer),
		time_to_json(g->created),
		time_to_json(g->expires),
		g->expires ? json_integer(g->expires) : json_null(),
		g->by_uid >= 0 ? json_integer(g->by_uid) : json_null(),
		string_or_null(g->by_user),
		time_to_json(g->last_login),
	};

	return object_of(keys, values, SL_ARRAY_SIZE(keys));
}

/* The keys of a grant in state.json, in the order written. Load requires
 * exactly these, optional ones as null. */
static const char *const grant_state_keys[] = {
	"id", "user", "uid", "key_type", "blob_base64", "fingerprint", "comment",
	"ticket", "from", "mode", "signer", "created", "expires", "by_uid",
	"by_user", "last_login",
};

static json_t *tally_to_json(const struct grant_tally *t)
{
	json_t *footholds = json_array();

	for (int i = 0; footholds && i < FOOTHOLD_COUNT; i++) {
		if ((t->footholds & (1u << i)) &&
		    json_array_append_new(footholds,
					  json_string(foothold_name((enum foothold_item)i))) < 0) {
			json_decref(footholds);
			footholds = NULL;
		}
	}
	if (!footholds)
		return NULL;
	return json_pack("{s:I, s:I, s:s, s:I, s:I, s:I, s:o}", "sessions", (json_int_t)t->sessions,
			 "seconds", (json_int_t)t->seconds, "addresses", t->addresses,
			 "keys_added", (json_int_t)t->keys_added, "keys_removed",
			 (json_int_t)t->keys_removed, "links_moved", (json_int_t)t->links_moved,
			 "footholds", footholds);
}

static int tally_from_json(json_t *object, struct grant_tally **out)
{
	json_int_t sessions, seconds, added, removed, moved;
	const char *addresses;
	json_t *footholds, *item;
	struct grant_tally *t;
	size_t i;

	if (json_unpack(object, "{s:I, s:I, s:s, s:I, s:I, s:I, s:o !}", "sessions", &sessions,
			"seconds", &seconds, "addresses", &addresses, "keys_added", &added,
			"keys_removed", &removed, "links_moved", &moved, "footholds",
			&footholds) != 0 ||
	    !json_is_array(footholds) || sessions < 0 || sessions > UINT32_MAX || seconds < 0 ||
	    added < 0 || added > UINT32_MAX || removed < 0 || removed > added || moved < 0 ||
	    moved > UINT32_MAX || strlen(addresses) >= sizeof(t->addresses))
		return SL_REFUSED;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->sessions = (unsigned)sessions;
	t->seconds = (long long)seconds;
	snprintf(t->addresses, sizeof(t->addresses), "%s", addresses);
	t->keys_added = (unsigned)added;
	t->keys_removed = (unsigned)removed;
	t->links_moved = (unsigned)moved;
	json_array_foreach(footholds, i, item) {
		enum foothold_item which;

		if (!json_is_string(item) || !foothold_from_name(json_string_value(item), &which)) {
			free(t);
			return SL_REFUSED;
		}
		t->footholds |= 1u << which;
	}
	*out = t;
	return 0;
}

json_t *state_grant_to_json(const struct grant *g)
{
	json_t *object;
	json_t *values[SL_ARRAY_SIZE(grant_state_keys)] = {
		json_string(g->id),
		json_string(g->user),
		json_integer(g->uid),
		json_string(g->key_type),
		json_string(g->blob_base64),
		json_string(g->fingerprint),
		string_or_null(g->comment),
		string_or_null(g->ticket),
		string_or_null(g->from),
		json_string(authkeys_mode_name(g->mode)),
		string_or_null(g->signer),
		json_integer(g->created),
		json_integer(g->expires),
		g->by_uid >= 0 ? json_integer(g->by_uid) : json_null(),
		string_or_null(g->by_user),
		g->last_login ? json_integer(g->last_login) : json_null(),
	};

	object = object_of(grant_state_keys, values, SL_ARRAY_SIZE(grant_state_keys));
	/* The tally only once there is one: a grant without is as before. */
	if (object && g->tally && json_object_set_new(object, "tally", tally_to_json(g->tally)) < 0) {
		json_decref(object);
		return NULL;
	}
	return object;
}

/* Copy a string member: required ones must be strings, optional ones may
 * be null (NULL). 0, SL_REFUSED or -ENOMEM. */
static int take_string(json_t *object, const char *key, bool optional, char **out)
{
	json_t *value = json_object_get(object, key);

	*out = NULL;
	if (optional && json_is_null(value))
		return 0;
	if (!json_is_string(value) || strlen(json_string_value(value)) != json_string_length(value))
		return SL_REFUSED; /* not a string, or one with a NUL inside */
	*out = strdup(json_string_value(value));
	return *out ? 0 : -ENOMEM;
}

static int take_integer(json_t *object, const char *key, bool optional,
			long long *out)
{
	json_t *value = json_object_get(object, key);

	if (optional && json_is_null(value)) {
		*out = -1;
		return 0;
	}
	if (!json_is_integer(value))
		return SL_REFUSED;
	*out = json_integer_value(value);
	return 0;
}

int state_grant_from_json(json_t *object, bool with_last_login, struct grant *g,
			  const char **why)
{
	/* Version 1 grants end before last_login. */
	size_t n_base = SL_ARRAY_SIZE(grant_state_keys) - !with_last_login, n_keys = n_base;
	const char *mode = NULL, *id = NULL;
	long long uid = -1, created = 0, expires = 0, by_uid = -1, last_login = -1;
	json_t *value;
	size_t i;
	int r = 0;

	memset(g, 0, sizeof(*g));
	if (json_object_get(object, "tally")) {
		r = tally_from_json(json_object_get(object, "tally"), &g->tally);
		if (r != 0) {
			if (r == SL_REFUSED)
				*why = "a grant's tally is not what sshleased writes";
			return r;
		}
		n_keys++;
	}
	if (!json_is_object(object) || json_object_size(object) != n_keys) {
		*why = "a grant is not an object with exactly the expected fields";
		grant_finish(g);
		return SL_REFUSED;
	}
	for (i = 0; i < n_base; i++) {
		if (!json_object_get(object, grant_state_keys[i])) {
			*why = "a grant is not an object with exactly the expected fields";
			grant_finish(g);
			return SL_REFUSED;
		}
	}
	value = json_object_get(object, "id");
	id = json_is_string(value) ? json_string_value(value) : NULL;
	value = json_object_get(object, "mode");
	mode = json_is_string(value) ? json_string_value(value) : NULL;
	if (!id || strlen(id) != AUTHKEYS_ID_LEN || !mode) {
		*why = "a grant's id or mode is not a string of the right form";
		grant_finish(g);
		return SL_REFUSED;
	}
	memcpy(g->id, id, AUTHKEYS_ID_LEN + 1);
	if (!authkeys_mode_parse(mode, &g->mode)) {
		*why = "a grant's mode is neither shell nor sftp";
		grant_finish(g);
		return SL_REFUSED;
	}
	r = take_string(object, "user", false, &g->user);
	if (r == 0)
		r = take_string(object, "key_type", false, &g->key_type);
	if (r == 0)
		r = take_string(object, "blob_base64", false, &g->blob_base64);
	if (r == 0)
		r = take_string(object, "fingerprint", false, &g->fingerprint);
	if (r == 0)
		r = take_string(object, "comment", true, &g->comment);
	if (r == 0)
		r = take_string(object, "ticket", true, &g->ticket);
	if (r == 0)
		r = take_string(object, "from", true, &g->from);
	if (r == 0)
		r = take_string(object, "signer", true, &g->signer);
	if (r == 0)
		r = take_string(object, "by_user", true, &g->by_user);
	if (r == SL_REFUSED)
		*why = "a grant has a field of the wrong type";
	if (r != 0)
		goto fail;
	r = take_integer(object, "uid", false, &uid);
	if (r == 0)
		r = take_integer(object, "created", false, &created);
	if (r == 0)
		r = take_integer(object, "expires", false, &expires);
	if (r == 0)
		r = take_integer(object, "by_uid", true, &by_uid);
	if (r == 0 && with_last_login)
		r = take_integer(object, "last_login", true, &last_login);
	if (r != 0) {
		*why = "a grant has a time or uid that is not an integer";
		goto fail;
	}
	if (!uid_sane(uid) || !time_sane(created) || !time_sane(expires) ||
	    (by_uid != -1 && !uid_sane(by_uid)) ||
	    (last_login != -1 && !time_sane(last_login))) {
		*why = "a grant has a time or uid out of range";
		r = SL_REFUSED;
		goto fail;
	}
	g->uid = (uid_t)uid;
	g->created = (time_t)created;
	g->expires = (time_t)expires;
	g->by_uid = by_uid;
	g->last_login = last_login == -1 ? 0 : (time_t)last_login;
	r = state_grant_check(g, why);
	if (r != 0)
		goto fail;
	return 0;
fail:
	grant_finish(g);
	return r;
}

json_t *state_nonce_to_json(const struct nonce *n)
{
	return json_pack("{s:s,s:I}", "value", n->value, "valid_until",
			 (json_int_t)n->valid_until);
}

int state_nonce_from_json(json_t *value, struct nonce *n, const char **why)
{
	json_t *item = json_object_get(value, "valid_until");

	n->value = NULL;
	if (!json_is_object(value) || json_object_size(value) != 2 ||
	    !json_is_string(json_object_get(value, "value")) || !json_is_integer(item)) {
		*why = "a nonce is not {\"value\": string, \"valid_until\": integer}";
		return SL_REFUSED;
	}
	if (!time_sane(json_integer_value(item)) ||
	    !word_valid(json_string_value(json_object_get(value, "value")), NONCE_MAX_LEN)) {
		*why = "a nonce is malformed or its valid_until out of range";
		return SL_REFUSED;
	}
	n->value = strdup(json_string_value(json_object_get(value, "value")));
	if (!n->value)
		return -ENOMEM;
	n->valid_until = (time_t)json_integer_value(item);
	return 0;
}

/* The keys of a session in state.json, in the order written. */
static const char *const session_state_keys[] = {
	"grant", "user", "address", "port", "since", "pid", "pid_start",
};

int state_session_check(const struct session *s, const char **why)
{
	unsigned char bytes[16];
	size_t id_len = strnlen(s->grant_id, sizeof(s->grant_id));

	if (id_len != AUTHKEYS_ID_LEN ||
	    strspn(s->grant_id, "0123456789abcdef") != AUTHKEYS_ID_LEN) {
		*why = "a session's grant is not a grant id";
		return SL_REFUSED;
	}
	if (strnlen(s->user, sizeof(s->user)) == sizeof(s->user) ||
	    !username_valid(s->user)) {
		*why = "a session's user is not an account name";
		return SL_REFUSED;
	}
	if (strnlen(s->address, sizeof(s->address)) == sizeof(s->address) ||
	    (inet_pton(AF_INET, s->address, bytes) != 1 &&
	     inet_pton(AF_INET6, s->address, bytes) != 1)) {
		*why = "a session's address is not a numeric IPv4 or IPv6 address";
		return SL_REFUSED;
	}
	if (s->port < 1 || s->port > 65535 || !time_sane(s->since) || s->pid < 1 ||
	    s->pid_start < 1 || s->pid_start > INT64_MAX) {
		*why = "a session's port, time or pid is out of range";
		return SL_REFUSED;
	}
	if (strnlen(s->kind, sizeof(s->kind)) == sizeof(s->kind) ||
	    strspn(s->kind, "abcdefghijklmnopqrstuvwxyz,-") != strlen(s->kind)) {
		*why = "a session's kind is not one sshleased records";
		return SL_REFUSED;
	}
	return 0;
}

json_t *state_session_to_json(const struct session *s)
{
	json_t *values[SL_ARRAY_SIZE(session_state_keys)] = {
		json_string(s->grant_id),
		json_string(s->user),
		json_string(s->address),
		json_integer(s->port),
		json_integer(s->since),
		json_integer(s->pid),
		json_integer((json_int_t)s->pid_start),
	};

	json_t *object = object_of(session_state_keys, values, SL_ARRAY_SIZE(session_state_keys));

	/* Only when known, so that a file of sessions without is what the
	 * sshleased before kinds wrote. */
	if (object && s->kind[0] &&
	    json_object_set_new(object, "kind", json_string(s->kind)) < 0) {
		json_decref(object);
		return NULL;
	}
	return object;
}

/* Copy a string member into a fixed buffer: false when it is not a string
 * or does not fit. */
static bool take_text(json_t *object, const char *key, char *buf, size_t size)
{
	json_t *value = json_object_get(object, key);

	if (!json_is_string(value) || json_string_length(value) >= size ||
	    strlen(json_string_value(value)) != json_string_length(value))
		return false;
	memcpy(buf, json_string_value(value), json_string_length(value) + 1);
	return true;
}

int state_session_from_json(json_t *object, struct session *s, const char **why)
{
	long long port = 0, since = 0, pid = 0, pid_start = 0;

	memset(s, 0, sizeof(*s));
	bool has_kind = json_object_get(object, "kind") != NULL;

	if (!json_is_object(object) ||
	    json_object_size(object) != SL_ARRAY_SIZE(session_state_keys) + has_kind) {
		*why = "a session is not an object with exactly the expected fields";
		return SL_REFUSED;
	}
	if ((has_kind && !take_text(object, "kind", s->kind, sizeof(s->kind))) ||
	    !take_text(object, "grant", s->grant_id, sizeof(s->grant_id)) ||
	    !take_text(object, "user", s->user, sizeof(s->user)) ||
	    !take_text(object, "address", s->address, sizeof(s->address)) ||
	    take_integer(object, "port", false, &port) != 0 ||
	    take_integer(object, "since", false, &since) != 0 ||
	    take_integer(object, "pid", false, &pid) != 0 ||
	    take_integer(object, "pid_start", false, &pid_start) != 0) {
		*why = "a session lacks a field or has one of the wrong type";
		return SL_REFUSED;
	}
	if (port < 1 || port > 65535 || pid < 1 || pid > 0x3fffffff || pid_start < 1 ||
	    !time_sane(since)) {
		*why = "a session's port, time or pid is out of range";
		return SL_REFUSED;
	}
	s->port = (unsigned)port;
	s->since = (time_t)since;
	s->pid = (pid_t)pid;
	s->pid_start = (unsigned long long)pid_start;
	return state_session_check(s, why);
}

/* The keys of a login's scope in state.json, in the order written. */
static const char *const scope_state_keys[] = {
	"grant", "user", "uid", "since", "pid_start", "unit", "invocation",
};

int state_scope_check(const struct login_scope *sc, const char **why)
{
	size_t id_len = strnlen(sc->grant_id, sizeof(sc->grant_id));

	if (id_len != AUTHKEYS_ID_LEN ||
	    strspn(sc->grant_id, "0123456789abcdef") != AUTHKEYS_ID_LEN) {
		*why = "a scope's grant is not a grant id";
		return SL_REFUSED;
	}
	if (strnlen(sc->user, sizeof(sc->user)) == sizeof(sc->user) ||
	    !username_valid(sc->user)) {
		*why = "a scope's user is not an account name";
		return SL_REFUSED;
	}
	if (sc->uid == (uid_t)-1 || !time_sane(sc->since) || sc->pid_start > INT64_MAX) {
		*why = "a scope's uid or time is out of range";
		return SL_REFUSED;
	}
	/* No unit: the host gave none, and the survivors are reported. */
	if ((sc->ref.unit[0] || sc->ref.invocation[0]) && !scope_ref_valid(&sc->ref)) {
		*why = "a scope's unit is not one sshleased records";
		return SL_REFUSED;
	}
	return 0;
}

json_t *state_scope_to_json(const struct login_scope *sc)
{
	json_t *values[SL_ARRAY_SIZE(scope_state_keys)] = {
		json_string(sc->grant_id),
		json_string(sc->user),
		json_integer((json_int_t)sc->uid),
		json_integer(sc->since),
		json_integer((json_int_t)sc->pid_start),
		json_string(sc->ref.unit),
		json_string(sc->ref.invocation),
	};

	return object_of(scope_state_keys, values, SL_ARRAY_SIZE(scope_state_keys));
}

int state_scope_from_json(json_t *object, struct login_scope *sc, const char **why)
{
	long long uid = 0, since = 0, pid_start = 0;

	memset(sc, 0, sizeof(*sc));
	if (!json_is_object(object) ||
	    json_object_size(object) != SL_ARRAY_SIZE(scope_state_keys)) {
		*why = "a scope is not an object with exactly the expected fields";
		return SL_REFUSED;
	}
	if (!take_text(object, "grant", sc->grant_id, sizeof(sc->grant_id)) ||
	    !take_text(object, "user", sc->user, sizeof(sc->user)) ||
	    !take_text(object, "unit", sc->ref.unit, sizeof(sc->ref.unit)) ||
	    !take_text(object, "invocation", sc->ref.invocation, sizeof(sc->ref.invocation)) ||
	    take_integer(object, "uid", false, &uid) != 0 ||
	    take_integer(object, "since", false, &since) != 0 ||
	    take_integer(object, "pid_start", false, &pid_start) != 0) {
		*why = "a scope lacks a field or has one of the wrong type";
		return SL_REFUSED;
	}
	if (!uid_sane(uid) || !time_sane(since) || pid_start < 0) {
		*why = "a scope's uid or time is out of range";
		return SL_REFUSED;
	}
	sc->uid = (uid_t)uid;
	sc->since = (time_t)since;
	sc->pid_start = (unsigned long long)pid_start;
	return state_scope_check(sc, why);
}

/* ---- key watches and added keys ---- */

int state_key_watch_check(const struct key_watch *kw, const char **why)
{
	if (kw->uid == (uid_t)-1 || !time_sane(kw->since)) {
		*why = "a key watch's uid or time is out of range";
		return SL_REFUSED;
	}
	if (strnlen(kw->user, sizeof(kw->user)) == sizeof(kw->user) || !username_valid(kw->user)) {
		*why = "a key watch's user is not an account name";
		return SL_REFUSED;
	}
	for (size_t i = 0; i < kw->n_known; i++) {
		if (!keyguard_hash_valid(kw->known[i]) ||
		    (i > 0 && strcmp(kw->known[i - 1], kw->known[i]) >= 0)) {
			*why = "a key watch's snapshot is not sorted hashes";
			return SL_REFUSED;
		}
	}
	return 0;
}

/* {"crontab": sig, ...} */
static json_t *footholds_to_json(const foothold_sig sigs[FOOTHOLD_COUNT])
{
	const char *keys[FOOTHOLD_COUNT];
	json_t *values[FOOTHOLD_COUNT];

	for (int i = 0; i < FOOTHOLD_COUNT; i++) {
		keys[i] = foothold_name((enum foothold_item)i);
		values[i] = json_string(sigs[i]);
	}
	return object_of(keys, values, FOOTHOLD_COUNT);
}

static bool footholds_from_json(json_t *object, foothold_sig sigs[FOOTHOLD_COUNT])
{
	if (!json_is_object(object) || json_object_size(object) != FOOTHOLD_COUNT)
		return false;
	for (int i = 0; i < FOOTHOLD_COUNT; i++)
		if (!take_text(object, foothold_name((enum foothold_item)i), sigs[i],
			       sizeof(sigs[i])) ||
		    !foothold_sig_valid(sigs[i]))
			return false;
	return true;
}

json_t *state_key_watch_to_json(const struct key_watch *kw)
{
	static const char *const keys[] = { "uid", "user", "since", "known", "footholds",
					    "footholds_seen" };
	json_t *known = json_array();

	for (size_t i = 0; known && i < kw->n_known; i++) {
		if (json_array_append_new(known, json_string(kw->known[i])) < 0) {
			json_decref(known);
			known = NULL;
		}
	}
	json_t *values[] = {
		json_integer((json_int_t)kw->uid),
		json_string(kw->user),
		json_integer(kw->since),
		known,
		kw->has_footholds ? footholds_to_json(kw->footholds) : NULL,
		kw->has_footholds ? footholds_to_json(kw->footholds_seen) : NULL,
	};
	/* Without footholds (a watch read from an older state) the first
	 * four alone. */
	return object_of(keys, values, kw->has_footholds ? SL_ARRAY_SIZE(keys) : 4);
}

int state_key_watch_from_json(json_t *object, struct key_watch *kw, const char **why)
{
	long long uid = 0, since = 0;
	json_t *known;
	size_t n;

	memset(kw, 0, sizeof(*kw));
	known = json_object_get(object, "known");
	kw->has_footholds = json_object_get(object, "footholds") != NULL;
	if (kw->has_footholds &&
	    (!footholds_from_json(json_object_get(object, "footholds"), kw->footholds) ||
	     !footholds_from_json(json_object_get(object, "footholds_seen"), kw->footholds_seen))) {
		*why = "a key watch's footholds are not the signatures sshleased writes";
		return SL_REFUSED;
	}
	if (!json_is_object(object) ||
	    json_object_size(object) != (kw->has_footholds ? 6u : 4u) || !json_is_array(known) ||
	    !take_text(object, "user", kw->user, sizeof(kw->user)) ||
	    take_integer(object, "uid", false, &uid) != 0 ||
	    take_integer(object, "since", false, &since) != 0) {
		*why = "a key watch is not an object with exactly the expected fields";
		return SL_REFUSED;
	}
	if (!uid_sane(uid) || !time_sane(since)) {
		*why = "a key watch's uid or time is out of range";
		return SL_REFUSED;
	}
	kw->uid = (uid_t)uid;
	kw->since = (time_t)since;
	n = json_array_size(known);
	kw->known = n ? calloc(n, sizeof(*kw->known)) : NULL;
	if (n && !kw->known)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *h = json_array_get(known, i);

		if (!json_is_string(h) || json_string_length(h) != KEYGUARD_HASH_HEX) {
			free(kw->known);
			kw->known = NULL;
			*why = "a key watch's snapshot is not sorted hashes";
			return SL_REFUSED;
		}
		memcpy(kw->known[i], json_string_value(h), KEYGUARD_HASH_HEX + 1);
	}
	kw->n_known = n;
	if (state_key_watch_check(kw, why) != 0) {
		free(kw->known);
		kw->known = NULL;
		return SL_REFUSED;
	}
	return 0;
}

static const char *const added_key_keys[] = {
	"uid", "user", "file", "line_hex", "truncated", "fingerprint", "key_type", "at", "removed",
};

int state_added_key_check(const struct added_key *ak, const char **why)
{
	if (ak->uid == (uid_t)-1 || !time_sane(ak->at) || !ak->line ||
	    ak->len > KEYGUARD_LINE_MAX) {
		*why = "an added key's uid, time or line is out of range";
		return SL_REFUSED;
	}
	if (strnlen(ak->user, sizeof(ak->user)) == sizeof(ak->user) || !username_valid(ak->user)) {
		*why = "an added key's user is not an account name";
		return SL_REFUSED;
	}
	if (!ak->file[0] || strchr(ak->file, '/') || strspn(ak->file, ".") == strlen(ak->file)) {
		*why = "an added key's file is not a name in ~/.ssh";
		return SL_REFUSED;
	}
	if (strspn(ak->fingerprint, "SHA256:+/ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") !=
		    strlen(ak->fingerprint) ||
	    strspn(ak->key_type, "-@._ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") !=
		    strlen(ak->key_type)) {
		*why = "an added key's fingerprint or type is malformed";
		return SL_REFUSED;
	}
	return 0;
}

json_t *state_added_key_to_json(const struct added_key *ak)
{
	char *hex = malloc(2 * ak->len + 1);

	if (!hex)
		return NULL;
	sodium_bin2hex(hex, 2 * ak->len + 1, (const unsigned char *)ak->line, ak->len);
	json_t *values[] = {
		json_integer((json_int_t)ak->uid),
		json_string(ak->user),
		json_string(ak->file),
		json_string(hex),
		json_boolean(ak->truncated),
		json_string(ak->fingerprint),
		json_string(ak->key_type),
		json_integer(ak->at),
		json_boolean(ak->removed),
	};
	free(hex);
	return object_of(added_key_keys, values, SL_ARRAY_SIZE(added_key_keys));
}

int state_added_key_from_json(json_t *object, struct added_key *ak, const char **why)
{
	long long uid = 0, at = 0;
	json_t *hex = json_object_get(object, "line_hex");
	json_t *truncated = json_object_get(object, "truncated");
	json_t *removed = json_object_get(object, "removed");
	size_t hex_len, len = 0;

	memset(ak, 0, sizeof(*ak));
	if (!json_is_object(object) || json_object_size(object) != SL_ARRAY_SIZE(added_key_keys) ||
	    !json_is_string(hex) || !json_is_boolean(truncated) || !json_is_boolean(removed) ||
	    !take_text(object, "user", ak->user, sizeof(ak->user)) ||
	    !take_text(object, "file", ak->file, sizeof(ak->file)) ||
	    !take_text(object, "fingerprint", ak->fingerprint, sizeof(ak->fingerprint)) ||
	    !take_text(object, "key_type", ak->key_type, sizeof(ak->key_type)) ||
	    take_integer(object, "uid", false, &uid) != 0 ||
	    take_integer(object, "at", false, &at) != 0) {
		*why = "an added key is not an object with exactly the expected fields";
		return SL_REFUSED;
	}
	if (!uid_sane(uid) || !time_sane(at)) {
		*why = "an added key's uid, time or line is out of range";
		return SL_REFUSED;
	}
	hex_len = json_string_length(hex);
	if (hex_len % 2 != 0 || hex_len / 2 > KEYGUARD_LINE_MAX) {
		*why = "an added key's uid, time or line is out of range";
		return SL_REFUSED;
	}
	ak->line = malloc(hex_len / 2 + 1);
	if (!ak->line)
		return -ENOMEM;
	if (sodium_hex2bin((unsigned char *)ak->line, hex_len / 2, json_string_value(hex), hex_len,
			   NULL, &len, NULL) != 0 || len != hex_len / 2) {
		free(ak->line);
		ak->line = NULL;
		*why = "an added key's line is not hex";
		return SL_REFUSED;
	}
	ak->line[len] = '\0';
	ak->len = len;
	ak->uid = (uid_t)uid;
	ak->at = (time_t)at;
	ak->truncated = json_is_true(truncated);
	ak->removed = json_is_true(removed);
	if (state_added_key_check(ak, why) != 0) {
		free(ak->line);
		ak->line = NULL;
		return SL_REFUSED;
	}
	return 0;
}

/* The operations of the control protocol (include/protocol.h): one request
 * in, one response out. Every refusal names what was wrong; a refused
 * request changes nothing. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "account.h"
#include "build-config.h"
#include "daemon.h"
#include "key.h"
#include "log.h"
#include "protocol.h"
#include "redeem.h"
#include "timeutil.h"
#include "token.h"
#include "validate.h"

/* Longest piece of request text quoted back in a message. */
#define QUOTE_MAX 64
/* What the items of a list may take in one answer: the rest of
 * PROTO_MAX_MESSAGE is room for the other members (a message, a cursor). */
#define ANSWER_BUDGET (PROTO_MAX_MESSAGE - 1024)

static json_t *reply_error(enum proto_error_code code, const char *fmt, ...)
	SL_PRINTF(2, 3);

static json_t *reply_error(enum proto_error_code code, const char *fmt, ...)
{
	char message[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	return proto_error(code, message);
}

/* Request text made safe to quote: capped, non-printable bytes as '?'. */
static const char *quote(char buf[QUOTE_MAX + 1], const char *text)
{
	return log_safe(buf, QUOTE_MAX + 1, text ? text : "");
}

/* The bytes value takes as one more item of an array in a compact answer
 * (proto_send's encoding), comma included; SIZE_MAX when out of memory. */
static size_t item_size(const json_t *value)
{
	char *text = json_dumps(value, JSON_COMPACT);
	size_t size = text ? strlen(text) + 1 : SIZE_MAX;

	free(text);
	return size;
}

/* --- request fields --- */

enum field_type { FIELD_STRING, FIELD_INTEGER, FIELD_BOOL, FIELD_ARRAY };

struct field {
	const char *name;
	enum field_type type;
};

/*
 * Check that request has only the fields listed (plus "op") and each of the
 * listed type (null counts as absent). NULL when fine, else a usage reply.
 */
static json_t *check_fields(const json_t *request, const char *op,
			    const struct field *fields, size_t n)
{
	const char *name;
	json_t *value;
	char safe[QUOTE_MAX + 1];

	json_object_foreach((json_t *)request, name, value) {
		const struct field *field = NULL;
		bool ok;

		if (strcmp(name, "op") == 0)
			continue;
		for (size_t i = 0; i < n; i++)
			if (strcmp(fields[i].name, name) == 0)
				field = &fields[i];
		if (!field)
			return reply_error(PROTO_ERR_USAGE, "unknown field \"%s\" for %s",
					   quote(safe, name), op);
		if (json_is_null(value))
			continue;
		switch (field->type) {
		case FIELD_STRING:
			ok = json_is_string(value);
			break;
		case FIELD_INTEGER:
			ok = json_is_integer(value);
			break;
		case FIELD_BOOL:
			ok = json_is_boolean(value);
			break;
		case FIELD_ARRAY:
			ok = json_is_array(value);
			break;
		default:
			ok = false;
			break;
		}
		if (!ok)
			return reply_error(PROTO_ERR_USAGE, "field \"%s\" of %s has the wrong type",
					   name, op);
	}
	return NULL;
}

static const char *get_string(const json_t *request, const char *name)
{
	return json_string_value(json_object_get(request, name));
}

static bool get_bool(const json_t *request, const char *name)
{
	return json_is_true(json_object_get(request, name));
}

static bool has_field(const json_t *request, const char *name)
{
	const json_t *value = json_object_get(request, name);

	return value && !json_is_null(value);
}

static bool id_valid(const char *id)
{
	return id && grant_id_valid(id, strnlen(id, GRANT_ID_LEN + 1));
}

/* Re-arm the timer after the deadlines changed. */
static void rearm(struct daemon *d)
{
	daemon_expire_due(d);
}

/*
 * The deadline of a grant or extension from "for" (duration text) or
 * "until" (unix seconds); neither: default (0 = none allowed). On refusal
 * message gets the reason and SL_REFUSED is returned.
 */
static int request_deadline(const struct daemon *d, const json_t *request,
			    int64_t default_duration, time_t now,
			    time_t *deadline, char *message, size_t size)
{
	const char *for_text = get_string(request, "for");
	const json_t *until_value = json_object_get(request, "until");
	int64_t duration = 0;
	time_t until = 0;
	const char *why = NULL;
	char safe[QUOTE_MAX + 1], max_text[32];
	int r;

	if (for_text && json_is_integer(until_value)) {
		snprintf(message, size, "give a duration or an end time, not both");
		return SL_REFUSED;
	}
	if (for_text) {
		r = duration_parse(for_text, &duration, &why);
		if (r != 0) {
			snprintf(message, size, "duration \"%s\": %s",
				 quote(safe, for_text), why);
			return SL_REFUSED;
		}
	} else if (json_is_integer(until_value)) {
		json_int_t value = json_integer_value(until_value);

		if (value <= 0 || (json_int_t)(time_t)value != value) {
			snprintf(message, size, "the end time is out of range");
			return SL_REFUSED;
		}
		until = (time_t)value;
	} else if (default_duration > 0) {
		duration = default_duration;
	} else {
		snprintf(message, size, "give a duration (for) or an end time (until)");
		return SL_REFUSED;
	}
	r = schedule_deadline(now, duration, until, d->config->max_duration,
			      deadline, &why);
	if (r != 0) {
		duration_format(d->config->max_duration, max_text, sizeof(max_text));
		if (strstr(why, "max_duration"))
			snprintf(message, size, "%s (max_duration is %s)", why, max_text);
		else
			snprintf(message, size, "%s", why);
		return SL_REFUSED;
	}
	return 0;
}

/* --- grant --- */

/* What is known about a grant request so far, for the refusal record. */
struct grant_attempt {
	struct daemon *d;
	const struct connection *conn;
	const char *user;
	const char *ticket;
	const struct sshlease_key *key;
	time_t expires;
	const char *signer;   /* a token's signer, once its signature verified */
	const char *nonce;    /* a token's nonce, recorded in the state with
				 the grant (NULL: a raw key) */
	const char *override; /* the grant's audit reason when force
				 overrode a failed doctor check */
};

/* Audit a refused grant (with everything known about it) and build the
 * reply. code is "refused" in all but odd cases. */
static json_t *grant_refuse(const struct grant_attempt *a,
			    enum proto_error_code code,
			    const char *message)
{
	char user[QUOTE_MAX + 1], ticket[QUOTE_MAX + 1];
	struct audit_event ev = {
		.event = "refuse",
		.user = a->user ? quote(user, a->user) : NULL,
		.ticket = a->ticket ? quote(ticket, a->ticket) : NULL,
		.key_type = a->key ? a->key->type : NULL,
		.fingerprint = a->key ? a->key->fingerprint : NULL,
		.expires = a->expires,
		.by_uid = (long long)a->conn->uid,
		.by_user = a->conn->by_user,
		.reason = message,
		.signer = a->signer,
	};

	daemon_audit(a->d, &ev);
	return proto_error(code, message);
}

static json_t *grant_refusef(const struct grant_attempt *a, const char *fmt, ...)
	SL_PRINTF(2, 3);

static json_t *grant_refusef(const struct grant_attempt *a, const char *fmt, ...)
{
	char message[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	return grant_refuse(a, PROTO_ERR_REFUSED, message);
}

static bool user_listed(char **users, const char *name)
{
	for (size_t i = 0; users && users[i]; i++)
		if (strcmp(users[i], name) == 0)
			return true;
	return false;
}

/* Account checks: exists, may receive access. NULL when fine. */
static json_t *grant_check_account(struct grant_attempt *a, const char *name,
				   struct account **acct)
{
	const struct sshlease_config *config = a->d->config;
	const char *why = NULL;
	char safe[QUOTE_MAX + 1];
	int r;

	if (!username_valid(name))
		return grant_refusef(a, "\"%s\" is not a valid account name",
				     quote(safe, name));
	r = account_lookup(name, acct, &why);
	if (r == SL_NOT_FOUND)
		return grant_refusef(a, "there is no account named %s on this server",
				     quote(safe, name));
	if (r > 0)
		return grant_refusef(a, "account %s: %s", quote(safe, name), why);
	if (r < 0)
		return reply_error(PROTO_ERR_FAILED, "cannot look up account %s: %s",
				   quote(safe, name), strerror(-r));
	if ((*acct)->uid == 0 && !config->allow_root)
		return grant_refusef(a, "access to %s (uid 0) is not allowed; set allow_root = yes in the configuration to allow it",
				     quote(safe, name));
	if (config->users && config->users[0] && !user_listed(config->users, name))
		return grant_refusef(a, "account %s is not in the configuration's users list",
				     quote(safe, name));
	return NULL;
}

/* Key checks: well-formed, allowed by policy, not granted already. */
static json_t *grant_check_key(struct grant_attempt *a, const char *text,
			       struct sshlease_key **key)
{
	const struct sshlease_config *config = a->d->config;
	struct key_policy policy = {
		.allowed_families = config->key_types,
		.min_rsa_bits = config->min_rsa_bits,
	};
	struct sshlease_key *loose = NULL;
	struct key_policy any = { .allowed_families = KEY_FAMILIES_DEFAULT };
	const char *why = NULL;
	int r;

	r = key_parse(text, strlen(text), &policy, key, &why);
	if (r < 0)
		return reply_error(PROTO_ERR_FAILED, "cannot check the key: %s", strerror(-r));
	if (r == 0)
		return NULL;
	/* Parse again without policy for a message with the numbers. */
	if (key_parse(text, strlen(text), &any, &loose, &why) == 0) {
		json_t *reply;

		a->key = loose;
		if (!(config->key_types & loose->family))
			reply = grant_refusef(a, "%s keys are not allowed here (key_types)",
					      key_family_name(loose->family));
		else if (loose->family == KEY_FAMILY_RSA &&
			 loose->bits < config->min_rsa_bits)
			reply = grant_refusef(a, "RSA key has %u bits; policy requires at least %u (min_rsa_bits)",
					      loose->bits, config->min_rsa_bits);
		else
			reply = grant_refusef(a, "the key: %s", why);
		a->key = NULL;
		key_free(loose);
		return reply;
	}
	return grant_refusef(a, "the key: %s", why);
}

static const struct grant *grant_same_key(const struct state *state,
					  const char *user, const char *blob)
{
	for (size_t i = 0; i < state->n_grants; i++)
		if (strcmp(state->grants[i].user, user) == 0 &&
		    strcmp(state->grants[i].blob_base64, blob) == 0)
			return &state->grants[i];
	return NULL;
}

static void new_unique_id(const struct state *state, char id[AUTHKEYS_ID_LEN + 1])
{
	do
		authkeys_new_id(id);
	while (state_find_grant((struct state *)state, id));
}

static int strdup_or_null(char **out, const char *text)
{
	*out = NULL;
	if (!text)
		return 0;
	*out = strdup(text);
	return *out ? 0 : -ENOMEM;
}

/* Fill grant from the checked pieces. 0 or -ENOMEM (grant_finish it). */
static int grant_build(struct grant *grant, const struct account *acct,
		       const struct sshlease_key *key, const char *ticket,
		       const char *from, enum authkeys_mode mode, time_t now,
		       time_t expires, const char *signer,
		       const struct connection *conn)
{
	*grant = (struct grant){
		.uid = acct->uid,
		.mode = mode,
		.created = now,
		.expires = expires,
		.by_uid = (long long)conn->uid,
	};
	if (strdup_or_null(&grant->user, acct->name) < 0 ||
	    strdup_or_null(&grant->key_type, key->type) < 0 ||
	    strdup_or_null(&grant->blob_base64, key->blob_base64) < 0 ||
	    strdup_or_null(&grant->fingerprint, key->fingerprint) < 0 ||
	    strdup_or_null(&grant->comment, key->comment) < 0 ||
	    strdup_or_null(&grant->ticket, ticket) < 0 ||
	    strdup_or_null(&grant->from, from) < 0 ||
	    strdup_or_null(&grant->signer, signer) < 0 ||
	    strdup_or_null(&grant->by_user, conn->by_user) < 0)
		return -ENOMEM;
	return 0;
}

/*
 * The answer to a grant or its preview: the grant, the local sshd's port
 * and host keys, and the doctor check a force overrode (blocker, or NULL).
 */
static json_t *grant_reply(const struct daemon *d, const struct grant *grant,
			   bool dry_run, const struct doctor_result *blocker)
{
	json_t *object = grant_to_json(grant), *forced;

	if (!object)
		return NULL;
	/* A preview has no id yet: the real grant gets its own. */
	if (dry_run && json_object_set_new(object, "id", json_null()) < 0) {
		json_decref(object);
		return NULL;
	}
	forced = blocker ? json_pack("{s:s, s:s, s:s?}", "check", blocker->name,
				     "message", blocker->message, "fix",
				     blocker->fix)
			 : json_null();
	return json_pack("{s:b, s:o, s:b, s:o, s:o}", "ok", 1, "grant", object,
			 "dry_run", dry_run, "sshd", daemon_sshd_json(d),
			 "forced", forced);
}

/* Undo a grant recorded in the state whose line surely is not in the
 * file (nothing was written, or it was taken out again); a token's nonce
 * goes too, so the token may be tried again. */
static void grant_withdraw(struct daemon *d, const char *id, const char *nonce)
{
	int r;

	state_remove_grant(d->state, id);
	if (nonce)
		state_nonce_remove(d->state, nonce);
	r = state_save(d->config->state_dir, d->state);
	if (r < 0)
		/* The next start finds no line for it and ends it; the nonce
		 * stays redeemed (fail closed). */
		log_err("grant %s: withdrawn, but the state could not be saved: %s",
			id, strerror(-r));
}

/*
 * authkeys_add failed with -errno: the child may have got past the rename
 * before it failed or died (the directory fsync failed, it was killed, its
 * answer was lost), so the file may hold the new line although the grant
 * failed. Take it out again now rather than leave it. The id is new, so a
 * line with its marker and this key can only be the one just written.
 * Returns 0 when the file is now known not to hold the line, else the
 * removal's error (logged).
 */
static int grant_remove_stray_line(struct daemon *d, const struct account *acct,
				   const char *id, const char *blob,
				   int add_error, const char *add_why)
{
	const char *why = NULL;
	size_t removed = 0;
	int r;

	r = daemon_keys_remove(d, acct, id, blob, &removed, &why);
	if (r != 0)
		log_err("grant %s: writing its line failed (%.200s: %s) and removing what may have been written failed too (%.200s%s%s); the grant is kept so that its deadline or a revoke removes the line",
			id, add_why ? add_why : "unknown step", strerror(-add_error),
			why ? why : "unknown error", r < 0 ? ": " : "",
			r < 0 ? strerror(-r) : "");
	else if (removed > 0)
		log_warn("grant %s: writing its line failed (%.200s: %s) after the line reached %.64s's authorized_keys; removed it again",
			 id, add_why ? add_why : "unknown step", strerror(-add_error),
			 acct->name);
	else
		log_info("grant %s: writing its line failed (%.200s: %s); %.64s's authorized_keys does not hold it",
			 id, add_why ? add_why : "unknown step", strerror(-add_error),
			 acct->name);
	return r;
}

/*
 * The line of a grant already in the state may or may not be in the file
 * (writing it failed, and so did taking it out again). Dropping the grant
 * would leave a line that list, revoke and expiry no longer reach, and
 * forgetting a token's nonce would let the token be redeemed again; so
 * both stay (the state holds them already), the timer is armed for its
 * deadline, and an audit "grant" record says what is known. A restart
 * ends it as "line-missing" when the line is not there.
 */
static json_t *grant_keep_unsure(struct grant_attempt *a, const char *id,
				 const char *failure)
{
	struct daemon *d = a->d;
	const struct grant *stored = state_find_grant(d->state, id);
	char reason[512];
	struct audit_event ev;

	snprintf(reason, sizeof(reason),
		 "%.300s; the line may be in authorized_keys all the same, so the grant is kept until its deadline or a revoke",
		 failure);
	if (stored) {
		daemon_grant_event(stored, "grant", &ev);
		ev.by_uid = stored->by_uid;
		ev.by_user = stored->by_user;
		ev.reason = reason;
		if (daemon_audit(d, &ev) < 0)
			log_err("grant %s: kept although its line may be missing, and the audit log cannot say so",
				id);
	}
	rearm(d);
	return reply_error(PROTO_ERR_FAILED,
			   "%.250s; the line may have been written all the same, so grant %s is kept: it ends at its deadline, or now with 'sshlease revoke %s'",
			   failure, id, id);
}

/*
 * Steps 4 of the lifecycle: state, line, audit, timer (DESIGN.md §3). A
 * token's nonce (a->nonce, valid until nonce_until) is saved with the
 * grant, before the line is written, so the token cannot be redeemed again,
 * not even after a restart.
 */
static json_t *grant_commit(struct grant_attempt *a, struct grant *grant,
			    const struct account *acct, const char *line,
			    time_t nonce_until, const struct doctor_result *blocker)
{
	struct daemon *d = a->d;
	char id[AUTHKEYS_ID_LEN + 1];
	struct audit_event ev;
	const struct grant *stored;
	const char *why = NULL;
	json_t *reply;
	int r;

	memcpy(id, grant->id, sizeof(id));
	r = state_account_note(d->state, acct->name);
	if (r == 0)
		r = state_add_grant(d->state, grant);
	if (r == 0 && a->nonce) {
		state_nonce_prune(d->state, daemon_now());
		r = state_nonce_add(d->state, a->nonce, nonce_until);
		if (r != 0)
			state_remove_grant(d->state, id);
	}
	if (r != 0)
		return reply_error(PROTO_ERR_FAILED, "cannot record the grant: %s",
				   r < 0 ? strerror(-r) : "the token's nonce is recorded already");
	r = state_save(d->config->state_dir, d->state);
	if (r < 0) {
		state_remove_grant(d->state, id);
		if (a->nonce)
			state_nonce_remove(d->state, a->nonce);
		log_err("cannot save the state: %s", strerror(-r));
		return reply_error(PROTO_ERR_FAILED, "cannot save the daemon's state: %s; nothing was granted",
				   strerror(-r));
	}

	r = daemon_keys_add(d, acct, line, &why);
	if (r != 0) {
		char message[512];

		if (r < 0)
			snprintf(message, sizeof(message),
				 "cannot write %s's authorized_keys: %s", acct->name,
				 daemon_keys_why(r, why));
		/* Positive answers leave the file untouched; -errno may not,
		 * unless taking the line out again worked. */
		if (r < 0 && grant_remove_stray_line(d, acct, id,
						     state_find_grant(d->state, id)->blob_base64,
						     r, why) != 0)
			return grant_keep_unsure(a, id, message);
		grant_withdraw(d, id, a->nonce);
		if (r == SL_EXISTS)
			snprintf(message, sizeof(message),
				 "this key is already in %s's authorized_keys, outside sshlease; remove it there first or use another key",
				 acct->name);
		else if (r == SL_REFUSED)
			snprintf(message, sizeof(message), "%s's authorized_keys: %s",
				 acct->name, why);
		else if (r == SL_CHANGED)
			snprintf(message, sizeof(message),
				 "%s's authorized_keys kept changing while it was being written; try again",
				 acct->name);
		else if (r > 0)
			snprintf(message, sizeof(message),
				 "cannot write %s's authorized_keys: unexpected result",
				 acct->name);
		return grant_refuse(a, r == SL_EXISTS || r == SL_REFUSED ? PROTO_ERR_REFUSED : PROTO_ERR_FAILED,
				    message);
	}

	stored = state_find_grant(d->state, id);
	daemon_grant_event(stored, "grant", &ev);
	ev.by_uid = stored->by_uid;
	ev.by_user = stored->by_user;
	ev.reason = a->override;
	if (daemon_audit(d, &ev) < 0) {
		/* No access without its record: take it back. */
		r = daemon_keys_remove(d, acct, id, stored->blob_base64, NULL,
				       &why);
		if (r != 0) {
			/* The line stays reachable: keep the grant (and a
			 * token's nonce) for expiry and revoke. */
			log_err("grant %s: cannot remove its line after the audit failure: %.200s; the grant is kept until its deadline or a revoke",
				id, daemon_keys_why(r, why));
			rearm(d);
			return reply_error(PROTO_ERR_FAILED,
					   "the audit log cannot be written, and the line could not be taken out again; grant %s is kept: it ends at its deadline, or now with 'sshlease revoke %s'",
					   id, id);
		}
		grant_withdraw(d, id, a->nonce);
		return reply_error(PROTO_ERR_FAILED, "the audit log cannot be written; nothing was granted");
	}
	reply = grant_reply(d, stored, false, blocker);
	rearm(d);
	return reply;
}

/* What the request itself asks for, checked: ticket, source list, mode. */
struct grant_asked {
	const char *ticket;
	char *from;           /* canonical, or NULL */
	bool mode_given;
	enum authkeys_mode mode;
};

static json_t *grant_parse_asked(struct grant_attempt *a, const json_t *request,
				 struct grant_asked *asked)
{
	const char *from_text = get_string(request, "from");
	const char *mode_text = get_string(request, "mode");
	const char *why = NULL;
	char safe[QUOTE_MAX + 1];
	int r;

	asked->ticket = get_string(request, "ticket");
	if (asked->ticket && ticket_validate(asked->ticket, &why) != 0)
		return grant_refusef(a, "ticket \"%s\": %s", quote(safe, asked->ticket),
				     why);
	if (from_text) {
		r = from_validate(from_text, &asked->from, &why);
		if (r < 0)
			return reply_error(PROTO_ERR_FAILED, "cannot check the source list: %s",
					   strerror(-r));
		if (r != 0)
			return grant_refusef(a, "from \"%s\": %s",
					     quote(safe, from_text), why);
	}
	if (!mode_text)
		return NULL;
	asked->mode_given = true;
	if (!authkeys_mode_parse(mode_text, &asked->mode))
		return grant_refusef(a, "mode \"%s\" is neither shell nor sftp",
				     quote(safe, mode_text));
	return NULL;
}

/*
 * Redeeming a token, steps 1 to 5 of token.h: decode, signature, redeem
 * window, host binding, replay. NULL when the token may be redeemed (with
 * the token in *out, and a's signer, key and account filled in for the
 * record), else the refusal, audited.
 */
static json_t *grant_open_token(struct grant_attempt *a, const char *text,
				time_t now, struct token **out)
{
	const struct sshlease_config *config = a->d->config;
	const struct config_signer *signer = NULL;
	struct token *token = NULL;
	const char *why = NULL;
	char host[256], safe_host[QUOTE_MAX + 1];
	int r;

	r = token_decode(text, &token, &why);
	if (r < 0)
		return reply_error(PROTO_ERR_FAILED, "cannot read the token: %s", strerror(-r));
	if (r != 0)
		return grant_refusef(a, "%s", why);
	*out = token;
	/* Not trusted yet, but already checked for form: worth recording. */
	a->key = token->public_key;
	if (token->ticket)
		a->ticket = token->ticket;
	if (token->user && !a->user)
		a->user = token->user;

	r = token_verify_signature(token, config->signers, config->n_signers,
				   &signer, &why);
	if (r < 0)
		return reply_error(PROTO_ERR_FAILED, "cannot check the token's signature: %s",
				   strerror(-r));
	if (r != 0)
		return grant_refusef(a, "%s", why);
	a->signer = signer->name;

	r = token_check_time(token, now, TOKEN_SKEW_DEFAULT, &why);
	if (r < 0)
		return reply_error(PROTO_ERR_FAILED, "cannot check the token's time: %s",
				   strerror(-r));
	if (r != 0)
		return grant_refusef(a, "%s", why);

	if (gethostname(host, sizeof(host)) < 0)
		return reply_error(PROTO_ERR_FAILED, "cannot learn this host's name: %s",
				   strerror(errno));
	host[sizeof(host) - 1] = '\0';
	if (!token_host_matches(token, host))
		return grant_refusef(a, "this token may be redeemed only on the host %s; this host is %s",
				     token->host, quote(safe_host, host));

	if (state_nonce_seen(a->d->state, token->nonce))
		return grant_refusef(a, "this token was redeemed already (its nonce is recorded); a token grants access once: ask %s for a new one",
				     signer->name);
	return NULL;
}

/*
 * The checks a grant must pass that concern sshd rather than the request:
 * an expiry-time form sshd reads, and the doctor checks that decide
 * whether sshd would let the key in. NULL when it may go ahead (*blocker
 * set when force overrode a failed check), else the refusal.
 */
static json_t *grant_check_sshd(struct grant_attempt *a, const char *user,
				enum authkeys_mode mode, bool force,
				enum authkeys_expiry *form,
				struct doctor_result **blocker, char *override,
				size_t override_size)
{
	const char *why = NULL;
	char message[1024];
	int r;

	r = daemon_expiry_form(a->d, form, &why);
	if (r != 0)
		return grant_refusef(a, "%s", why);
	r = daemon_grant_blocker(a->d, user, mode, blocker);
	if (r < 0)
		return reply_error(PROTO_ERR_FAILED, "cannot check sshd's settings: %s",
				   strerror(-r));
	if (r == 0)
		return NULL;
	if (!force) {
		snprintf(message, sizeof(message),
			 "sshd would not let the key in: %s (doctor check %s). %s Or grant anyway with --force.",
			 (*blocker)->message, (*blocker)->name,
			 (*blocker)->fix ? (*blocker)->fix : "");
		return grant_refuse(a, PROTO_ERR_REFUSED, message);
	}
	snprintf(override, override_size,
		 "granted with --force although sshd would not let the key in: %s (doctor check %s)",
		 (*blocker)->message, (*blocker)->name);
	a->override = override;
	log_warn("%.64s: %s", user, override);
	return NULL;
}

static json_t *op_grant(struct daemon *d, const struct connection *conn,
			const json_t *request)
{
	struct grant_attempt a = { .d = d, .conn = conn };
	struct grant_asked asked = { 0 };
	struct redeem_terms terms = { 0 };
	struct account *acct = NULL;
	struct sshlease_key *key = NULL;
	struct token *token = NULL;
	struct doctor_result *blocker = NULL;
	struct grant grant = { 0 };
	const char *key_text, *token_text, *why = NULL;
	enum authkeys_expiry form = AUTHKEYS_EXPIRY_NONE;
	char *line = NULL;
	char message[512], override[1024];
	bool dry_run, force;
	time_t now = daemon_now(), deadline = 0;
	json_t *reply = NULL;
	int r;

	a.user = get_string(request, "user");
	a.ticket = get_string(request, "ticket");
	key_text = get_string(request, "key");
	token_text = get_string(request, "token");
	dry_run = get_bool(request, "dry_run");
	force = get_bool(request, "force");
	if (key_text && token_text) {
		reply = reply_error(PROTO_ERR_USAGE, "grant takes a key or a token, not both");
		goto out;
	}
	if (!key_text && !token_text) {
		reply = reply_error(PROTO_ERR_USAGE, "grant needs a key or a token");
		goto out;
	}
	if (key_text && !a.user) {
		reply = reply_error(PROTO_ERR_USAGE, "grant needs the account (user)");
		goto out;
	}
	if (key_text && d->config->require_signed) {
		reply = grant_refusef(&a, "this server accepts only signed tokens (require_signed = yes), not a bare key; ask support for a token made with 'sshlease token sign'");
		goto out;
	}
	/* The local sshd may have come up since the last probe. */
	daemon_sshd_refresh(d);
	if (token_text) {
		reply = grant_open_token(&a, token_text, now, &token);
		if (reply)
			goto out;
	}

	reply = grant_parse_asked(&a, request, &asked);
	if (reply)
		goto out;
	if (token) {
		struct redeem_asked redeem = {
			.user = get_string(request, "user"),
			.ticket = asked.ticket,
			.from = asked.from,
			.mode_given = asked.mode_given,
			.mode = asked.mode,
		};

		if (has_field(request, "for") || has_field(request, "until")) {
			r = request_deadline(d, request, 0, now, &redeem.deadline,
					     message, sizeof(message));
			if (r != 0) {
				reply = grant_refuse(&a, PROTO_ERR_REFUSED, message);
				goto out;
			}
		}
		r = redeem_terms(token, &redeem, d->config, now, &terms, message,
				 sizeof(message));
		if (r != 0) {
			reply = grant_refuse(&a, PROTO_ERR_REFUSED, message);
			goto out;
		}
	} else {
		r = request_deadline(d, request, d->config->default_duration, now,
				     &deadline, message, sizeof(message));
		if (r != 0) {
			reply = grant_refuse(&a, PROTO_ERR_REFUSED, message);
			goto out;
		}
		terms = (struct redeem_terms){
			.user = a.user,
			.ticket = asked.ticket,
			.from = asked.from ? asked.from : d->config->from,
			.mode = asked.mode_given ? asked.mode : d->config->mode,
			.deadline = deadline,
		};
	}
	a.user = terms.user;
	a.ticket = terms.ticket;
	a.expires = terms.deadline;

	reply = grant_check_account(&a, terms.user, &acct);
	if (reply)
		goto out;
	/* A token's key was parsed with every family allowed: the policy
	 * here is applied now. */
	reply = grant_check_key(&a, token ? token->key : key_text, &key);
	if (reply)
		goto out;
	a.key = key;
	{
		const struct grant *existing =
			grant_same_key(d->state, acct->name, key->blob_base64);

		if (existing) {
			char until[32];

			time_format_utc(existing->expires, until, sizeof(until));
			reply = grant_refusef(&a, "this key already has access to %s as grant %s until %s; use 'sshlease extend %s' to change its deadline",
					      acct->name, existing->id, until,
					      existing->id);
			goto out;
		}
	}
	reply = grant_check_sshd(&a, acct->name, terms.mode, force, &form,
				 &blocker, override, sizeof(override));
	if (reply)
		goto out;

	if (grant_build(&grant, acct, key, terms.ticket, terms.from, terms.mode,
			now, terms.deadline, a.signer, conn) < 0) {
		reply = NULL;
		goto out;
	}
	new_unique_id(d->state, grant.id);
	{
		struct authkeys_line_spec spec = {
			.id = grant.id,
			.key_type = grant.key_type,
			.blob_base64 = grant.blob_base64,
			.deadline = grant.expires,
			.expiry = form,
			.mode = grant.mode,
			.from = grant.from,
		};

		r = authkeys_format_line(&spec, &line, &why);
		if (r < 0) {
			reply = NULL;
			goto out;
		}
		if (r != 0) {
			reply = grant_refusef(&a, "%s", why);
			goto out;
		}
	}
	if (dry_run) {
		/* A preview records nothing, the token's nonce included. */
		reply = grant_reply(d, &grant, true, blocker);
	} else {
		a.nonce = token ? token->nonce : NULL;
		reply = grant_commit(&a, &grant, acct, line,
				     token ? token_nonce_keep_until(token, TOKEN_SKEW_DEFAULT) : 0,
				     blocker);
	}
out:
	grant_finish(&grant);
	free(line);
	free(asked.from);
	doctor_result_free(blocker);
	key_free(key);
	token_free(token);
	account_free(acct);
	return reply;
}

/* --- revoke --- */

static json_t *op_revoke(struct daemon *d, const struct connection *conn,
			 const json_t *request)
{
	const struct peer peer = { .uid = (long long)conn->uid, .user = conn->by_user };
	const json_t *ids = json_object_get(request, "ids");
	const char *user = get_string(request, "user");
	bool all = get_bool(request, "all");
	char (*targets)[AUTHKEYS_ID_LEN + 1] = NULL;
	size_t n_targets = 0, used = 0, omitted = 0;
	json_t *reply = NULL, *revoked = NULL;
	char safe[QUOTE_MAX + 1];
	size_t i;
	json_t *item;

	if (all == (json_array_size(ids) > 0)) {
		reply = reply_error(PROTO_ERR_USAGE, "revoke needs grant ids or all, not both");
		goto out;
	}
	if (user && !all) {
		reply = reply_error(PROTO_ERR_USAGE, "user goes with all: revoke all grants of that account");
		goto out;
	}
	targets = calloc((all ? d->state->n_grants : json_array_size(ids)) + 1,
			 sizeof(*targets));
	revoked = json_array();
	if (!targets || !revoked)
		goto out;
	/* Check every id before changing anything. */
	json_array_foreach(ids, i, item) {
		const char *id = json_string_value(item);
		bool seen = false;

		if (!id || !id_valid(id)) {
			reply = reply_error(PROTO_ERR_USAGE, "\"%s\" is not a grant id (12 hex digits)",
					    quote(safe, id ? id : "(not a string)"));
			goto out;
		}
		if (!state_find_grant(d->state, id)) {
			reply = reply_error(PROTO_ERR_NOT_FOUND, "there is no active grant %s", id);
			goto out;
		}
		for (size_t t = 0; t < n_targets; t++)
			if (strcmp(targets[t], id) == 0)
				seen = true;
		if (!seen)
			memcpy(targets[n_targets++], id, sizeof(targets[0]));
	}
	for (size_t g = 0; all && g < d->state->n_grants; g++)
		if (!user || strcmp(d->state->grants[g].user, user) == 0)
			memcpy(targets[n_targets++], d->state->grants[g].id,
			       sizeof(targets[0]));

	for (size_t t = 0; t < n_targets; t++) {
		const struct grant *grant = state_find_grant(d->state, targets[t]);
		json_t *object;
		const char *why = NULL;
		size_t size;
		int r;

		if (!grant)
			continue;
		object = grant_to_json(grant);
		size = object ? item_size(object) : SIZE_MAX;
		if (size == SIZE_MAX) {
			json_decref(object);
			goto out;
		}
		r = daemon_grant_end(d, targets[t], "revoke", &peer, NULL, &why);
		if (r == SL_NOT_FOUND) {
			json_decref(object);
			continue;
		}
		if (r != 0) {
			json_decref(object);
			reply = reply_error(r == SL_REFUSED ? PROTO_ERR_REFUSED : PROTO_ERR_FAILED,
					    "cannot revoke grant %s: %s%s", targets[t],
					    why ? why : "unknown error",
					    json_array_size(revoked) + omitted ? " (the grants listed in revoked were revoked)" : "");
			if (reply &&
			    (json_object_set(reply, "revoked", revoked) < 0 ||
			     json_object_set_new(reply, "omitted",
						 json_integer((json_int_t)omitted)) < 0)) {
				json_decref(reply);
				reply = NULL;
			}
			goto out;
		}
		/* All of them are revoked; the answer lists the first that
		 * fit and counts the rest (the audit log has every one). */
		if (omitted == 0 && used + size <= ANSWER_BUDGET) {
			used += size;
			if (json_array_append_new(revoked, object) < 0)
				goto out;
		} else {
			json_decref(object);
			omitted++;
		}
	}
	reply = json_pack("{s:b, s:O, s:I}", "ok", 1, "revoked", revoked,
			  "omitted", (json_int_t)omitted);
out:
	rearm(d);
	json_decref(revoked);
	free(targets);
	return reply;
}

/* --- extend --- */

/*
 * Swap the grant's line for one that carries its (new) deadline, in one
 * atomic edit that keeps the line's place (authkeys_replace): there is no
 * moment without a line for the key. *replaced says how many lines carried
 * the grant's marker and key; 0 means the line is gone and nothing was
 * written.
 */
static int extend_rewrite(struct daemon *d, const struct account *acct,
			  const struct grant *grant, enum authkeys_expiry form,
			  size_t *replaced, const char **why)
{
	struct authkeys_line_spec spec = {
		.id = grant->id,
		.key_type = grant->key_type,
		.blob_base64 = grant->blob_base64,
		.deadline = grant->expires,
		.expiry = form,
		.mode = grant->mode,
		.from = grant->from,
	};
	char *line = NULL;
	int r;

	*replaced = 0;
	r = authkeys_format_line(&spec, &line, why);
	if (r == 0)
		r = daemon_keys_replace(d, acct, line, replaced, why);
	free(line);
	return r;
}

/* The deadline could not be moved: put the old one back in the state. */
static void extend_undo(struct daemon *d, struct grant *grant, time_t old_expires)
{
	grant->expires = old_expires;
	if (state_save(d->config->state_dir, d->state) < 0)
		log_err("grant %s: cannot save the state after a failed extension",
			grant->id);
}

static json_t *op_extend(struct daemon *d, const struct connection *conn,
			 const json_t *request)
{
	const char *id = get_string(request, "id");
	const struct peer peer = { (long long)conn->uid, conn->by_user };
	struct account *acct = NULL;
	struct grant *grant;
	struct audit_event ev;
	char message[512], old_text[32], safe[QUOTE_MAX + 1];
	const char *why = NULL;
	time_t now = daemon_now(), deadline = 0, old_expires;
	enum authkeys_expiry form = AUTHKEYS_EXPIRY_NONE;
	size_t replaced = 0;
	json_t *reply = NULL;
	int r;

	if (!id || !id_valid(id)) {
		reply = reply_error(PROTO_ERR_USAGE, "\"%s\" is not a grant id (12 hex digits)",
				    quote(safe, id));
		goto out;
	}
	if (!has_field(request, "for") && !has_field(request, "until")) {
		reply = reply_error(PROTO_ERR_USAGE, "extend needs the new deadline: for or until");
		goto out;
	}
	grant = state_find_grant(d->state, id);
	if (!grant) {
		reply = reply_error(PROTO_ERR_NOT_FOUND, "there is no active grant %s", id);
		goto out;
	}
	r = request_deadline(d, request, 0, now, &deadline, message, sizeof(message));
	if (r == 0) {
		/* The new line must be one the local sshd reads. */
		daemon_sshd_refresh(d);
		r = daemon_expiry_form(d, &form, &why);
		if (r != 0)
			snprintf(message, sizeof(message), "%s", why);
	}
	if (r != 0) {
		daemon_grant_event(grant, "refuse", &ev);
		ev.by_uid = (long long)conn->uid;
		ev.by_user = conn->by_user;
		ev.reason = message;
		daemon_audit(d, &ev);
		reply = proto_error(PROTO_ERR_REFUSED, message);
		goto out;
	}
	r = account_lookup(grant->user, &acct, &why);
	if (r != 0) {
		reply = reply_error(PROTO_ERR_FAILED, "cannot look up account %s: %s", grant->user,
				    r == SL_NOT_FOUND ? "it no longer exists"
				    : r < 0 ? strerror(-r) : why);
		goto out;
	}
	old_expires = grant->expires;
	time_format_utc(old_expires, old_text, sizeof(old_text));
	/* State first, like a grant: a crash before the line is rewritten
	 * leaves a line with the earlier expiry-time (sshd refuses it then,
	 * fail closed) that the next start rewrites. */
	grant->expires = deadline;
	r = state_save(d->config->state_dir, d->state);
	if (r < 0) {
		grant->expires = old_expires;
		reply = reply_error(PROTO_ERR_FAILED, "cannot save the daemon's state: %s; the deadline is unchanged",
				    strerror(-r));
		goto out;
	}
	r = extend_rewrite(d, acct, grant, form, &replaced, &why);
	if (r != 0) {
		char reason[512];

		/* The file holds the old line, or (after a failure past the
		 * rename) the new one; the old deadline in the state ends
		 * either in time, and the next start makes them agree. */
		snprintf(reason, sizeof(reason), "%s's authorized_keys: %s",
			 grant->user, daemon_keys_why(r, why));
		extend_undo(d, grant, old_expires);
		reply = reply_error(r == SL_REFUSED ? PROTO_ERR_REFUSED : PROTO_ERR_FAILED,
				    "cannot extend grant %s: %s", id, reason);
		goto out;
	}
	if (replaced == 0) {
		/* Someone removed the line: the access is gone, and writing
		 * it back would override that decision (as at start-up). */
		const char *end_why = NULL;

		extend_undo(d, grant, old_expires);
		snprintf(message, sizeof(message),
			 "cannot extend grant %s: its line is no longer in %s's authorized_keys (removed outside sshlease), so the grant has ended; grant the key again if access is still needed",
			 id, grant->user);
		r = daemon_grant_end(d, id, "line-missing", &peer,
				     "the line was removed outside sshlease; found by extend",
				     &end_why);
		if (r != 0 && r != SL_NOT_FOUND)
			log_err("grant %s: its line is gone, but the grant could not be ended: %.200s; the next start ends it",
				id, end_why ? end_why : "unknown error");
		reply = proto_error(PROTO_ERR_NOT_FOUND, message);
		goto out;
	}
	daemon_grant_event(grant, "extend", &ev);
	ev.by_uid = (long long)conn->uid;
	ev.by_user = conn->by_user;
	snprintf(message, sizeof(message), "deadline moved from %s", old_text);
	ev.reason = message;
	daemon_audit(d, &ev);
	reply = json_pack("{s:b, s:o}", "ok", 1, "grant", grant_to_json(grant));
out:
	rearm(d);
	account_free(acct);
	return reply;
}

/* --- list, show, status --- */

static int grant_compare(const void *a, const void *b)
{
	const struct grant *x = *(const struct grant *const *)a;
	const struct grant *y = *(const struct grant *const *)b;

	if (x->expires != y->expires)
		return x->expires < y->expires ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* A list cursor, "<expires_unix>.<id>": the last grant of a page, in the
 * order of grant_compare. The next page starts after it. */
struct list_cursor {
	long long expires;
	char id[AUTHKEYS_ID_LEN + 1];
};

static bool cursor_parse(const char *text, struct list_cursor *cursor)
{
	const char *dot = strchr(text, '.');
	size_t digits = dot ? (size_t)(dot - text) : 0;
	char *end = NULL;

	if (digits == 0 || digits > 19 || !id_valid(dot + 1))
		return false;
	for (size_t i = 0; i < digits; i++)
		if (text[i] < '0' || text[i] > '9')
			return false;
	errno = 0;
	cursor->expires = strtoll(text, &end, 10);
	if (errno != 0 || end != dot)
		return false;
	memcpy(cursor->id, dot + 1, sizeof(cursor->id));
	return true;
}

static bool after_cursor(const struct grant *grant,
			 const struct list_cursor *cursor)
{
	if ((long long)grant->expires != cursor->expires)
		return (long long)grant->expires > cursor->expires;
	return strcmp(grant->id, cursor->id) > 0;
}

static json_t *cursor_json(const struct grant *grant)
{
	char text[64];

	snprintf(text, sizeof(text), "%lld.%s", (long long)grant->expires,
		 grant->id);
	return json_string(text);
}

static json_t *op_list(struct daemon *d, const struct connection *conn,
		       const json_t *request)
{
	const char *user = get_string(request, "user");
	const char *after = get_string(request, "after");
	struct list_cursor cursor = { 0 };
	const struct grant **sorted = NULL;
	json_t *reply = NULL, *grants = NULL, *next = NULL;
	char safe[QUOTE_MAX + 1];
	size_t n = 0, used = 0;

	if (after && !cursor_parse(after, &cursor))
		return reply_error(PROTO_ERR_USAGE, "\"%s\" is not a list cursor (pass back the next of the previous answer)",
				   quote(safe, after));
	sorted = calloc(d->state->n_grants + 1, sizeof(*sorted));
	grants = json_array();
	if (!sorted || !grants)
		goto out;
	for (size_t i = 0; i < d->state->n_grants; i++)
		if ((!user || strcmp(d->state->grants[i].user, user) == 0) &&
		    (!after || after_cursor(&d->state->grants[i], &cursor)))
			sorted[n++] = &d->state->grants[i];
	qsort(sorted, n, sizeof(*sorted), grant_compare);
	for (size_t i = 0; i < n; i++) {
		json_t *object = grant_to_json(sorted[i]);
		size_t size = object ? item_size(object) : SIZE_MAX;

		if (size == SIZE_MAX) {
			json_decref(object);
			goto out;
		}
		/* A page holds at least one grant, so every page moves on. */
		if (i > 0 && used + size > ANSWER_BUDGET) {
			json_decref(object);
			next = cursor_json(sorted[i - 1]);
			if (!next)
				goto out;
			break;
		}
		used += size;
		if (json_array_append_new(grants, object) < 0)
			goto out;
	}
	reply = json_pack("{s:b, s:O, s:o}", "ok", 1, "grants", grants, "next",
			  next ? next : json_null());
	next = NULL;
out:
	json_decref(next);
	json_decref(grants);
	free(sorted);
	return reply;
}

static json_t *op_show(struct daemon *d, const struct connection *conn,
		       const json_t *request)
{
	const char *id = get_string(request, "id");
	char safe[QUOTE_MAX + 1];
	const struct grant *grant;

	if (!id || !id_valid(id))
		return reply_error(PROTO_ERR_USAGE, "\"%s\" is not a grant id (12 hex digits)",
				   quote(safe, id));
	grant = state_find_grant(d->state, id);
	if (!grant)
		return reply_error(PROTO_ERR_NOT_FOUND, "there is no active grant %s", id);
	return json_pack("{s:b, s:o}", "ok", 1, "grant", grant_to_json(grant));
}

static json_t *time_or_null(time_t t)
{
	char text[32];

	if (t == 0)
		return json_null();
	time_format_utc(t, text, sizeof(text));
	return json_string(text);
}

static json_t *op_status(struct daemon *d, const struct connection *conn,
			 const json_t *request)
{
	time_t next = schedule_earliest_deadline(d->state);
	enum authkeys_expiry form = AUTHKEYS_EXPIRY_NONE;
	const char *why = NULL;
	bool form_known;

	form_known = daemon_expiry_form(d, &form, &why) == 0;
	return json_pack("{s:b, s:s, s:I, s:o, s:I, s:I, s:o, s:o, s:s, s:s, s:o, s:o}",
			 "ok", 1,
			 "version", SSHLEASE_VERSION,
			 "pid", (json_int_t)getpid(),
			 "started", time_or_null(d->started),
			 "started_unix", (json_int_t)d->started,
			 "grants", (json_int_t)d->state->n_grants,
			 "next_deadline", time_or_null(next),
			 "next_deadline_unix",
			 next ? json_integer((json_int_t)next) : json_null(),
			 "config", d->config_path,
			 "socket", d->socket_path ? d->socket_path : d->config->socket,
			 "sshd", daemon_sshd_json(d),
			 "expiry_form", form_known ? json_string(sshd_expiry_name(form))
						   : json_null());
}

/* --- audit --- */

/* Whether record comes before seq `before` (0: no bound). A record
 * without a seq is kept only without a bound. */
static bool audit_before(const json_t *record, json_int_t before)
{
	const json_t *seq = json_object_get(record, "seq");

	return before == 0 || (json_is_integer(seq) && json_integer_value(seq) < before);
}

/*
 * Keep the newest records (of those before seq `before`, 0: all) whose
 * total size fits in one answer, at least one so that paging back always
 * moves; *omitted gets the number of older ones left out.
 */
static json_t *audit_fit(json_t *records, json_int_t before, size_t *omitted)
{
	size_t end = json_array_size(records), start, used = 0;
	json_t *kept;

	while (end > 0 && !audit_before(json_array_get(records, end - 1), before))
		end--;
	for (start = end; start > 0; start--) {
		size_t size = item_size(json_array_get(records, start - 1));

		if (size == SIZE_MAX)
			return NULL;
		if (start < end && used + size > ANSWER_BUDGET)
			break;
		used += size;
	}
	*omitted = start;
	kept = json_array();
	for (size_t i = start; kept && i < end; i++)
		if (json_array_append(kept, json_array_get(records, i)) < 0) {
			json_decref(kept);
			kept = NULL;
		}
	return kept;
}

static json_t *op_audit(struct daemon *d, const struct connection *conn,
			const json_t *request)
{
	const char *id = get_string(request, "id");
	const json_t *since = json_object_get(request, "since");
	const json_t *before = json_object_get(request, "before");
	const char *path = d->config->audit_log;
	json_t *reply = NULL, *records = NULL, *kept = NULL;
	char safe[QUOTE_MAX + 1];
	size_t omitted = 0;
	int r;

	if (get_bool(request, "verify")) {
		unsigned long lines = 0, bad_line = 0;
		const char *why = NULL;

		if (id || json_is_integer(since))
			return reply_error(PROTO_ERR_USAGE, "verify checks the whole log; it takes no id or since");
		if (json_is_integer(before))
			return reply_error(PROTO_ERR_USAGE, "verify checks the whole log; it takes no before");
		r = audit_verify(path, &lines, &bad_line, &why);
		if (r < 0)
			return reply_error(PROTO_ERR_FAILED, "cannot read the audit log: %s", strerror(-r));
		if (r != 0) {
			reply = reply_error(PROTO_ERR_REFUSED, "the audit log is broken at line %lu: %s",
					    bad_line, why ? why : "chain broken");
			if (reply)
				json_object_set_new(reply, "bad_line",
						    json_integer((json_int_t)bad_line));
			return reply;
		}
		return json_pack("{s:b, s:b, s:I}", "ok", 1, "intact", 1, "lines",
				 (json_int_t)lines);
	}
	if (id && !id_valid(id))
		return reply_error(PROTO_ERR_USAGE, "\"%s\" is not a grant id (12 hex digits)",
				   quote(safe, id));
	if (json_is_integer(since) && json_integer_value(since) < 0)
		return reply_error(PROTO_ERR_USAGE, "since must not be negative");
	if (json_is_integer(before) && json_integer_value(before) < 1)
		return reply_error(PROTO_ERR_USAGE, "before must be a record's seq (1 or more)");
	r = audit_read(path, id, json_is_integer(since) ? (time_t)json_integer_value(since) : 0,
		       &records);
	if (r == -ENOENT)
		records = json_array();
	else if (r == -EBADMSG)
		return reply_error(PROTO_ERR_FAILED, "the audit log has a damaged line; run 'sshlease audit --verify' to find it");
	else if (r < 0)
		return reply_error(PROTO_ERR_FAILED, "cannot read the audit log: %s", strerror(-r));
	kept = audit_fit(records,
			 json_is_integer(before) ? json_integer_value(before) : 0,
			 &omitted);
	json_decref(records);
	if (!kept)
		return NULL;
	return json_pack("{s:b, s:o, s:I}", "ok", 1, "records", kept, "omitted",
			 (json_int_t)omitted);
}

/* What each op takes besides "op" (null counts as absent). */
static const struct field grant_fields[] = {
	{ "key", FIELD_STRING },   { "token", FIELD_STRING },
	{ "user", FIELD_STRING },  { "for", FIELD_STRING },
	{ "until", FIELD_INTEGER }, { "ticket", FIELD_STRING },
	{ "from", FIELD_STRING },  { "mode", FIELD_STRING },
	{ "dry_run", FIELD_BOOL }, { "force", FIELD_BOOL },
};
static const struct field revoke_fields[] = {
	{ "ids", FIELD_ARRAY }, { "all", FIELD_BOOL }, { "user", FIELD_STRING },
};
static const struct field extend_fields[] = {
	{ "id", FIELD_STRING }, { "for", FIELD_STRING }, { "until", FIELD_INTEGER },
};
static const struct field list_fields[] = {
	{ "user", FIELD_STRING }, { "after", FIELD_STRING },
};
static const struct field show_fields[] = { { "id", FIELD_STRING } };
static const struct field audit_fields[] = {
	{ "id", FIELD_STRING }, { "since", FIELD_INTEGER }, { "verify", FIELD_BOOL },
	{ "before", FIELD_INTEGER },
};

/* The operations of the protocol: a request is checked against its op's
 * fields before its handler sees it. */
static const struct op {
	const char *name;
	json_t *(*handle)(struct daemon *d, const struct connection *conn,
			  const json_t *request);
	const struct field *fields;
	size_t n_fields;
} ops[] = {
	{ "grant", op_grant, grant_fields, SL_ARRAY_SIZE(grant_fields) },
	{ "revoke", op_revoke, revoke_fields, SL_ARRAY_SIZE(revoke_fields) },
	{ "extend", op_extend, extend_fields, SL_ARRAY_SIZE(extend_fields) },
	{ "list", op_list, list_fields, SL_ARRAY_SIZE(list_fields) },
	{ "show", op_show, show_fields, SL_ARRAY_SIZE(show_fields) },
	{ "status", op_status, NULL, 0 },
	{ "audit", op_audit, audit_fields, SL_ARRAY_SIZE(audit_fields) },
};

json_t *daemon_handle(struct daemon *d, const struct connection *conn,
		      json_t *request)
{
	const char *name = get_string(request, "op");
	char safe[QUOTE_MAX + 1];

	if (!name)
		return reply_error(PROTO_ERR_USAGE, "the request has no op");
	for (size_t i = 0; i < SL_ARRAY_SIZE(ops); i++) {
		json_t *reply;

		if (strcmp(ops[i].name, name) != 0)
			continue;
		reply = check_fields(request, ops[i].name, ops[i].fields,
				     ops[i].n_fields);
		return reply ? reply : ops[i].handle(d, conn, request);
	}
	return reply_error(PROTO_ERR_USAGE, "unknown op \"%s\"", quote(safe, name));
}

/* op grant: the request, a token's redemption, the policy checks (account,
 * key, sshd), then the grant made real in the order of DESIGN.md §3; a
 * refused grant is audited with everything known about it. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "account.h"
#include "key.h"
#include "log.h"
#include "redeem.h"
#include "request.h"
#include "timeutil.h"
#include "token.h"
#include "validate.h"


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
	char user[REPLY_QUOTE_MAX + 1], ticket[REPLY_QUOTE_MAX + 1];
	struct audit_event ev = {
		.event = "refuse",
		.user = a->user ? reply_quote(user, a->user) : NULL,
		.ticket = a->ticket ? reply_quote(ticket, a->ticket) : NULL,
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
	char safe[REPLY_QUOTE_MAX + 1];
	int r;

	if (!username_valid(name))
		return grant_refusef(a, "\"%s\" is not a valid account name",
				     reply_quote(safe, name));
	r = account_lookup(name, acct, &why);
	if (r == SL_NOT_FOUND)
		return grant_refusef(a, "there is no account named %s on this server",
				     reply_quote(safe, name));
	if (r > 0)
		return grant_refusef(a, "account %s: %s", reply_quote(safe, name), why);
	if (r < 0)
		return reply_error(PROTO_ERR_FAILED, "cannot look up account %s: %s",
				   reply_quote(safe, name), strerror(-r));
	if ((*acct)->uid == 0 && !config->allow_root)
		return grant_refusef(a, "access to %s (uid 0) is not allowed; set allow_root = yes in the configuration to allow it",
				     reply_quote(safe, name));
	if (config->users && config->users[0] && !user_listed(config->users, name))
		return grant_refusef(a, "account %s is not in the configuration's users list",
				     reply_quote(safe, name));
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
	daemon_expire_due(d);
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
			daemon_expire_due(d);
			return reply_error(PROTO_ERR_FAILED,
					   "the audit log cannot be written, and the line could not be taken out again; grant %s is kept: it ends at its deadline, or now with 'sshlease revoke %s'",
					   id, id);
		}
		grant_withdraw(d, id, a->nonce);
		return reply_error(PROTO_ERR_FAILED, "the audit log cannot be written; nothing was granted");
	}
	reply = grant_reply(d, stored, false, blocker);
	daemon_expire_due(d);
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
	const char *from_text = request_string(request, "from");
	const char *mode_text = request_string(request, "mode");
	const char *why = NULL;
	char safe[REPLY_QUOTE_MAX + 1];
	int r;

	asked->ticket = request_string(request, "ticket");
	if (asked->ticket && ticket_validate(asked->ticket, &why) != 0)
		return grant_refusef(a, "ticket \"%s\": %s", reply_quote(safe, asked->ticket),
				     why);
	if (from_text) {
		r = from_validate(from_text, &asked->from, &why);
		if (r < 0)
			return reply_error(PROTO_ERR_FAILED, "cannot check the source list: %s",
					   strerror(-r));
		if (r != 0)
			return grant_refusef(a, "from \"%s\": %s",
					     reply_quote(safe, from_text), why);
	}
	if (!mode_text)
		return NULL;
	asked->mode_given = true;
	if (!authkeys_mode_parse(mode_text, &asked->mode))
		return grant_refusef(a, "mode \"%s\" is neither shell nor sftp",
				     reply_quote(safe, mode_text));
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
	char host[256], safe_host[REPLY_QUOTE_MAX + 1];
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
				     token->host, reply_quote(safe_host, host));

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

json_t *op_grant(struct daemon *d, const struct connection *conn,
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

	a.user = request_string(request, "user");
	a.ticket = request_string(request, "ticket");
	key_text = request_string(request, "key");
	token_text = request_string(request, "token");
	dry_run = request_bool(request, "dry_run");
	force = request_bool(request, "force");
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
			.user = request_string(request, "user"),
			.ticket = asked.ticket,
			.from = asked.from,
			.mode_given = asked.mode_given,
			.mode = asked.mode,
		};

		if (request_has(request, "for") || request_has(request, "until")) {
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

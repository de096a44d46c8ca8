/* op grant: the request, a token's redemption, the policy checks (account,
 * key, sshd), then the grant made real (grant.h); a refused grant is
 * audited with everything known about it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "account.h"
#include "grant.h"
#include "key.h"
#include "log.h"
#include "redeem.h"
#include "request.h"
#include "timeutil.h"
#include "token.h"
#include "validate.h"

static bool user_listed(char **users, const char *name)
{
	for (size_t i = 0; users && users[i]; i++)
		if (strcmp(users[i], name) == 0)
			return true;
	return false;
}

/* Account checks: exists, may receive access. NULL when fine. */
static json_t *check_account(struct grant_attempt *a, const char *name,
			     struct account **acct)
{
	const struct sshlease_config *config = a->d->config;
	const char *why = NULL;
	char safe[REPLY_QUOTE_MAX + 1];
	int r;

	if (!username_valid(name))
		return daemon_grant_refusef(a, "\"%s\" is not a valid account name",
					    reply_quote(safe, name));
	r = account_lookup(name, acct, &why);
	if (r == SL_NOT_FOUND)
		return daemon_grant_refusef(a, "there is no account named %s on this server",
					    reply_quote(safe, name));
	if (r > 0)
		return daemon_grant_refusef(a, "account %s: %s", reply_quote(safe, name), why);
	if (r < 0)
		return reply_error(PROTO_ERR_FAILED, "cannot look up account %s: %s",
				   reply_quote(safe, name), strerror(-r));
	if ((*acct)->uid == 0 && !config->allow_root)
		return daemon_grant_refusef(a, "access to %s (uid 0) is not allowed; set allow_root = yes in the configuration to allow it",
					    reply_quote(safe, name));
	if (config->users && config->users[0] && !user_listed(config->users, name))
		return daemon_grant_refusef(a, "account %s is not in the configuration's users list",
					    reply_quote(safe, name));
	return NULL;
}

/* Key checks: well-formed, allowed by policy, not granted already. */
static json_t *check_key(struct grant_attempt *a, const char *text,
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
			reply = daemon_grant_refusef(a, "%s keys are not allowed here (key_types)",
						     key_family_name(loose->family));
		else if (loose->family == KEY_FAMILY_RSA &&
			 loose->bits < config->min_rsa_bits)
			reply = daemon_grant_refusef(a, "RSA key has %u bits; policy requires at least %u (min_rsa_bits)",
						     loose->bits, config->min_rsa_bits);
		else
			reply = daemon_grant_refusef(a, "the key: %s", why);
		a->key = NULL;
		key_free(loose);
		return reply;
	}
	return daemon_grant_refusef(a, "the key: %s", why);
}

static const struct grant *find_same_key(const struct state *state,
					 const char *user, const char *blob)
{
	for (size_t i = 0; i < state->n_grants; i++)
		if (strcmp(state->grants[i].user, user) == 0 &&
		    strcmp(state->grants[i].blob_base64, blob) == 0)
			return &state->grants[i];
	return NULL;
}

/* What the request itself asks for, checked: ticket, source list, mode. */
struct grant_asked {
	const char *ticket;
	char *from;           /* canonical, or NULL */
	bool mode_given;
	enum authkeys_mode mode;
};

static json_t *parse_asked(struct grant_attempt *a, const json_t *request,
			   struct grant_asked *asked)
{
	const char *from_text = request_string(request, "from");
	const char *mode_text = request_string(request, "mode");
	const char *why = NULL;
	char safe[REPLY_QUOTE_MAX + 1];
	int r;

	asked->ticket = request_string(request, "ticket");
	if (asked->ticket && ticket_validate(asked->ticket, &why) != 0)
		return daemon_grant_refusef(a, "ticket \"%s\": %s", reply_quote(safe, asked->ticket),
					    why);
	if (from_text) {
		r = from_validate(from_text, &asked->from, &why);
		if (r < 0)
			return reply_error(PROTO_ERR_FAILED, "cannot check the source list: %s",
					   strerror(-r));
		if (r != 0)
			return daemon_grant_refusef(a, "from \"%s\": %s",
						    reply_quote(safe, from_text), why);
	}
	if (!mode_text)
		return NULL;
	asked->mode_given = true;
	if (!authkeys_mode_parse(mode_text, &asked->mode))
		return daemon_grant_refusef(a, "mode \"%s\" is neither shell nor sftp",
					    reply_quote(safe, mode_text));
	return NULL;
}

/*
 * Redeeming a token, steps 1 to 5 of token.h: decode, signature, redeem
 * window, host binding, replay. NULL when the token may be redeemed (with
 * the token in *out, and a's signer, key and account filled in for the
 * record), else the refusal, audited.
 */
static json_t *open_token(struct grant_attempt *a, const char *text,
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
		return daemon_grant_refusef(a, "%s", why);
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
		return daemon_grant_refusef(a, "%s", why);
	a->signer = signer->name;

	r = token_check_time(token, now, TOKEN_SKEW_DEFAULT, &why);
	if (r < 0)
		return reply_error(PROTO_ERR_FAILED, "cannot check the token's time: %s",
				   strerror(-r));
	if (r != 0)
		return daemon_grant_refusef(a, "%s", why);

	if (gethostname(host, sizeof(host)) < 0)
		return reply_error(PROTO_ERR_FAILED, "cannot learn this host's name: %s",
				   strerror(errno));
	host[sizeof(host) - 1] = '\0';
	if (!token_host_matches(token, host))
		return daemon_grant_refusef(a, "this token may be redeemed only on the host %s; this host is %s",
					    token->host, reply_quote(safe_host, host));

	if (state_nonce_seen(a->d->state, token->nonce))
		return daemon_grant_refusef(a, "this token was redeemed already (its nonce is recorded); a token grants access once: ask %s for a new one",
					    signer->name);
	return NULL;
}

/*
 * The checks a grant must pass that concern sshd rather than the request:
 * an expiry-time form sshd reads, and the doctor checks that decide
 * whether sshd would let the key in. NULL when it may go ahead (*blocker
 * set when force overrode a failed check), else the refusal.
 */
static json_t *check_sshd(struct grant_attempt *a, const char *user,
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
		return daemon_grant_refusef(a, "%s", why);
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
		return daemon_grant_refuse(a, PROTO_ERR_REFUSED, message);
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
		reply = daemon_grant_refusef(&a, "this server accepts only signed tokens (require_signed = yes), not a bare key; ask support for a token made with 'sshlease token sign'");
		goto out;
	}
	/* The local sshd may have come up since the last probe. */
	daemon_sshd_refresh(d);
	if (token_text) {
		reply = open_token(&a, token_text, now, &token);
		if (reply)
			goto out;
	}

	reply = parse_asked(&a, request, &asked);
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
				reply = daemon_grant_refuse(&a, PROTO_ERR_REFUSED, message);
				goto out;
			}
		}
		r = redeem_terms(token, &redeem, d->config, now, &terms, message,
				 sizeof(message));
		if (r != 0) {
			reply = daemon_grant_refuse(&a, PROTO_ERR_REFUSED, message);
			goto out;
		}
	} else {
		r = request_deadline(d, request, d->config->default_duration, now,
				     &deadline, message, sizeof(message));
		if (r != 0) {
			reply = daemon_grant_refuse(&a, PROTO_ERR_REFUSED, message);
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

	reply = check_account(&a, terms.user, &acct);
	if (reply)
		goto out;
	/* A token's key was parsed with every family allowed: the policy
	 * here is applied now. */
	reply = check_key(&a, token ? token->key : key_text, &key);
	if (reply)
		goto out;
	a.key = key;
	{
		const struct grant *existing =
			find_same_key(d->state, acct->name, key->blob_base64);

		if (existing) {
			char until[32];

			time_format_utc(existing->expires, until, sizeof(until));
			reply = daemon_grant_refusef(&a, "this key already has access to %s as grant %s until %s; use 'sshlease extend %s' to change its deadline",
						     acct->name, existing->id, until,
						     existing->id);
			goto out;
		}
	}
	reply = check_sshd(&a, acct->name, terms.mode, force, &form,
			   &blocker, override, sizeof(override));
	if (reply)
		goto out;

	if (daemon_grant_init(&grant, d->state, acct, key, &terms, a.signer, now,
			      conn) < 0) {
		reply = NULL;
		goto out;
	}
	r = daemon_grant_line(&grant, form, &line, &why);
	if (r < 0) {
		reply = NULL;
		goto out;
	}
	if (r != 0) {
		reply = daemon_grant_refusef(&a, "%s", why);
		goto out;
	}
	if (dry_run) {
		/* A preview records nothing, the token's nonce included. */
		reply = daemon_grant_reply(d, &grant, true, blocker);
	} else {
		a.nonce = token ? token->nonce : NULL;
		reply = daemon_grant_create(&a, &grant, acct, line,
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

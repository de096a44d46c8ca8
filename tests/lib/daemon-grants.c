/* A real sshleased granting to a throwaway account (daemon-grants.h). */
#include <grp.h>
#include <stdio.h>

#include <sodium.h>

#include "daemon-grants.h"

struct grants_main {
	const char *prefix;
	int (*tests)(struct grants_run *g);
};

/* In the account's child: the run, its config, the tests. */
static int grants_child(struct fixture_account *account, void *arg)
{
	const struct grants_main *m = arg;
	struct grants_run g = { .daemon = DAEMON_RUN_INIT, .account = account };
	char text[1024], signer_line[TOKEN_SIGNER_PUBLIC_LINE_SIZE];
	struct group *grp = getgrgid(1);
	int r;

	if (!daemon_run_init(&g.daemon, m->prefix))
		return 1;
	/* A trusted signer for the token cases. */
	snprintf(g.signer.name, sizeof(g.signer.name), "test-signer");
	crypto_sign_keypair(g.signer.public_key, g.signer.secret_key);
	token_signer_public_line(&g.signer, signer_line, sizeof(signer_line));
	snprintf(text, sizeof(text),
		 "[daemon]\nsocket = %s\nsocket_group = %s\nstate_dir = %s/state\n"
		 "audit_log = %s\n[grant]\nusers = %s\n[tokens]\ntrusted_signer = %s\n",
		 g.daemon.socket, grp ? grp->gr_name : "root", g.daemon.dir,
		 g.daemon.audit, account->acct->name, signer_line);
	fixture_write_file(g.daemon.config, text, 0600);
	g.daemon.hostile_signals = true;
	r = m->tests(&g);
	daemon_run_done(&g.daemon, r != 0);
	return r;
}

int grants_run_main(const char *prefix, int (*tests)(struct grants_run *g))
{
	struct grants_main m = { .prefix = prefix, .tests = tests };

	if (sodium_init() < 0 || fixture_account_run("slp", grants_child, &m) != 0) {
		fprintf(stderr, "the grant tests failed\n");
		return 1;
	}
	return 0;
}

json_t *grants_run_grant_with(struct grants_run *g, const char *key,
			      const char *duration, const char *ticket,
			      const char *from, char id[AUTHKEYS_ID_LEN + 1])
{
	json_t *reply = client_call_json(g->daemon.socket,
					 json_pack("{s:s, s:s, s:s, s:s, s:s*, s:s*}", "op",
						   "grant", "key", key, "user",
						   g->account->acct->name, "for", duration,
						   "ticket", ticket, "from", from));
	const char *got = json_string_value(
		json_object_get(json_object_get(reply, "grant"), "id"));

	snprintf(id, AUTHKEYS_ID_LEN + 1, "%s", got ? got : "");
	return reply;
}

json_t *grants_run_grant(struct grants_run *g, const char *key,
			 const char *duration, char id[AUTHKEYS_ID_LEN + 1])
{
	return grants_run_grant_with(g, key, duration, NULL, NULL, id);
}

time_t grants_run_deadline(const json_t *reply)
{
	return (time_t)json_integer_value(
		json_object_get(json_object_get(reply, "grant"), "expires_unix"));
}

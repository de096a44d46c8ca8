/*
 * A real sshleased granting to a throwaway account, for the C tests of
 * grant scenarios: the account (fixture.h), a daemon run (daemon-proc.h)
 * whose config lets it grant to that account and trusts a new token
 * signer, started with hostile signals inherited (ignored and blocked:
 * the daemon must reset them), and grant requests for it.
 *
 *     static int tests(struct grants_run *g)
 *     {
 *             CHECK_INT(daemon_run_start(&g->daemon), 0);
 *             ...
 *             return test_done() != 0;
 *     }
 *     ... if (grants_run_main("sl-test-grants", tests) != 0) test_failures++;
 */
#ifndef SSHLEASE_TEST_DAEMON_GRANTS_H
#define SSHLEASE_TEST_DAEMON_GRANTS_H

#include <time.h>

#include <jansson.h>

#include "authkeys.h"
#include "daemon-proc.h"
#include "fixture.h"
#include "token.h"

struct grants_run {
	struct daemon_run daemon;        /* not started yet */
	struct fixture_account *account; /* the throwaway account */
	struct token_signer signer;      /* in the config's trusted_signer */
};

/*
 * Make the account and the run (directory /tmp/<prefix>-XXXXXX, config),
 * call tests(g) in the child process that owns the account (fixture_account_run),
 * then daemon_run_done (the daemon's log when tests returned non-zero).
 * Returns 0 when tests returned 0, else 1 (saying so on stderr).
 */
int grants_run_main(const char *prefix, int (*tests)(struct grants_run *g));

/* Grant key to the account for `duration` (ticket and from may be NULL);
 * the new grant's id in id ("" when refused), and the reply. */
json_t *grants_run_grant_with(struct grants_run *g, const char *key,
			      const char *duration, const char *ticket,
			      const char *from, char id[AUTHKEYS_ID_LEN + 1]);

/* The same without ticket and from. */
json_t *grants_run_grant(struct grants_run *g, const char *key,
			 const char *duration, char id[AUTHKEYS_ID_LEN + 1]);

/* The deadline (expires_unix) of the grant in a reply. */
time_t grants_run_deadline(const json_t *reply);

#endif

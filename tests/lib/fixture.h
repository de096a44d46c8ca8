/*
 * What the C tests of the daemon share with tests/lib/fixture.sh's shell
 * tests: files and commands, a throwaway account with its ~/.ssh, new
 * ssh-ed25519 keys and the managed line the daemon writes for one. Every
 * helper here that cannot do its job prints why and exits 1: a broken
 * fixture is not a result.
 */
#ifndef SSHLEASE_TEST_FIXTURE_H
#define SSHLEASE_TEST_FIXTURE_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "account.h"

/* The whole file at path in a new string; "" when it cannot be read. */
char *fixture_read_text(const char *path);

/* Write text to path (created or truncated), then chmod mode. */
void fixture_write_file(const char *path, const char *text, mode_t mode);

/* Run argv (PATH searched) with stdout to /dev/null: its exit status, or
 * -1 when it could not run or was killed. */
int fixture_run_command(char *const argv[]);

/* text, or "" for NULL. */
const char *fixture_str(const char *text);

/* How many times needle occurs in text, without overlaps. */
size_t fixture_count(const char *text, const char *needle);

/* A JSON object of exactly len (>= 8) bytes, {"a":"xxx...x"}, in a new
 * string. */
char *fixture_json_of_size(size_t len);

/* "rm -rf -- dir"; says so on stderr when that failed. */
void fixture_remove_tree(const char *dir);

/* A throwaway account for one test. */
struct fixture_account {
	struct account *acct;
	char ssh[512]; /* its ~/.ssh: 0700, the account's */
	char ak[600];  /* its authorized_keys (not created) */
};

/*
 * Create an account named prefix and 8 random hex digits (useradd -m),
 * make its ~/.ssh, and run fn(account, arg) in a child process, so that
 * the account is removed (userdel -r) whatever happens in it. Returns 0
 * when fn returned 0, else 1 (with a message on stderr).
 */
int fixture_account_run(const char *prefix,
			int (*fn)(struct fixture_account *account, void *arg),
			void *arg);

/* Write the account's authorized_keys as the account would own it. */
void fixture_write_keys(const struct fixture_account *account, const char *text);

/* A new ssh-ed25519 public key line ("ssh-ed25519 BLOB comment"): a
 * libsodium key pair's public half in the SSH wire format. */
void fixture_key_new(char *line, size_t size, const char *comment);

/* The base64 blob of a key line, in a static buffer. */
const char *fixture_key_blob(const char *line);

/* The managed line the daemon writes for grant id of key until deadline:
 * expiry-time in UTC, shell mode, from anywhere. A new string. */
char *fixture_managed_line(const char *id, const char *key, time_t deadline);

#endif

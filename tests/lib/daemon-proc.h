/*
 * A real sshleased for the C tests (tests/lib/daemon.sh is the shell
 * tests' counterpart): a temporary directory for its config, socket, log
 * and audit log, the daemon started from the build tree
 * ($SSHLEASE_BUILD_ROOT, set by meson test) and stopped by signal, one
 * request per connection as the protocol has it, and the real sshlease
 * pointed at its socket.
 *
 *     struct daemon_run run = DAEMON_RUN_INIT;
 *     daemon_run_init(&run, "sl-test-daemon");     // the paths below
 *     fixture_write_file(run.config, "[daemon]\n...", 0600);
 *     daemon_run_start(&run);                      // 0: socket answers
 *     reply = client_call(run.socket, "{\"op\":\"status\"}");
 *     daemon_run_stop(&run, SIGTERM);              // its exit status
 *     daemon_run_done(&run, failed);               // log, or rm -rf
 */
#ifndef SSHLEASE_TEST_DAEMON_PROC_H
#define SSHLEASE_TEST_DAEMON_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

struct daemon_run {
	char dir[64];     /* the temporary directory, 0711 */
	char config[128]; /* dir/sshlease.conf (the test writes it) */
	char socket[128]; /* dir/run/sshlease.sock */
	char log[128];    /* dir/daemon.log: the daemon's stderr */
	char audit[128];  /* dir/log/audit.jsonl (dir/log exists) */
	pid_t pid;        /* the child started: sshleased, or its wrapper */
	pid_t daemon_pid; /* sshleased itself (from status under a wrapper) */
	/* Options for daemon_run_start. */
	const char *const *wrapper; /* argv put in front, e.g. strace ... */
	bool hostile_signals;       /* start with signals ignored and blocked */
};

#define DAEMON_RUN_INIT { .pid = -1, .daemon_pid = -1 }

/* Make the temporary directory /tmp/<prefix>-XXXXXX (others may pass
 * through to the socket, not read) and fill in the paths; exits when it
 * cannot. False (with a message) when $SSHLEASE_BUILD_ROOT is not set. */
bool daemon_run_init(struct daemon_run *run, const char *prefix);

/* Start sshleased on run's config (under run->wrapper when set); 0 once
 * its socket answers, else its exit status (the daemon refused to start)
 * or -1. */
int daemon_run_start(struct daemon_run *run);

/* Run sshleased on run's config expecting it to refuse to start: its exit
 * status, or -1 when it is still running after a generous bound (then it
 * is killed). */
int daemon_run_refuses(struct daemon_run *run);

/* Send sig and reap; the exit status (128 + signal when killed), or -1. */
int daemon_run_stop(struct daemon_run *run, int sig);

bool daemon_run_alive(const struct daemon_run *run);

/* After the test: a daemon still running is killed; then the daemon's log
 * goes to stderr when the test failed, else the directory is removed. */
void daemon_run_done(struct daemon_run *run, bool failed);

/* A new connection to the socket at path, or -1. */
int client_connect(const char *path);

/*
 * Send raw bytes on a new connection; the reply, or NULL when none came.
 * The daemon must then close the connection: when it sends anything more
 * instead, client_failures counts it (with a message on stderr), and a
 * test checks that it stayed 0.
 */
json_t *client_call_raw(const char *path, const char *bytes, size_t len);
extern int client_failures;

/* The same for a JSON text, and for a request object (consumed). */
json_t *client_call(const char *path, const char *json_text);
json_t *client_call_json(const char *path, json_t *request);

/* A reply's error code ("usage", "refused", ...), or NULL when it has
 * none (an ok reply, or no reply). */
const char *client_error(const json_t *reply);

/* Start sshlease --socket run->socket with args (NULL-terminated), stdin
 * from /dev/null, stdout and stderr to files in run->dir, NO_COLOR set.
 * Its pid, or -1. */
pid_t cli_run_spawn(const struct daemon_run *run, const char *const *args);

/* Wait for it: its exit status (or -1), and its output in new strings. */
int cli_run_finish(const struct daemon_run *run, pid_t pid, char **out,
		   char **err);

/* Both: run sshlease to the end. */
int cli_run(const struct daemon_run *run, const char *const *args, char **out,
	    char **err);

#endif

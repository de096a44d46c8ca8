/* As root, a real sshleased whose engine fails under it. When an add
 * fails (strace kills the engine's child): killed before its rename, the
 * grant is withdrawn and a token's nonce forgotten; killed after it, with
 * the removal killed too, the grant and the nonce are kept, so revoke,
 * expiry and recovery still reach a line that may be there and the token
 * cannot be redeemed again. An account that stops the engine's process is
 * left alone for a while, at once and saying why. */
#define _GNU_SOURCE /* setresuid, setresgid, pipe2 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon-grants.h"
#include "protocol.h"
#include "test.h"

/* A token from g's signer for key, bound to the account, for an hour. */
static char *make_token(const struct grants_run *g, const char *key)
{
	struct token_claims claims = {
		.key = key,
		.duration = 3600,
		.mode = AUTHKEYS_MODE_SHELL,
		.user = g->account->acct->name,
		.issued_at = time(NULL),
	};
	const char *why = NULL;
	char *token = NULL;

	if (token_sign(&claims, g->signer.secret_key, &token, &why) != 0) {
		fprintf(stderr, "token_sign: %s\n", why ? why : "?");
		exit(1);
	}
	return token;
}

static json_t *grant_token(const struct grants_run *g, const char *token)
{
	return client_call_json(g->daemon.socket,
				json_pack("{s:s, s:s}", "op", "grant", "token", token));
}

/* Restart the daemon under strace, which sends SIGKILL to every process
 * acting as the account (they touch its ~/.ssh) at the first call of the
 * system calls in inject ("fsync,fdatasync", "renameat"). */
static bool daemon_restart_injected(struct grants_run *g, const char *inject,
				    char *asan_saved, size_t size)
{
	static char ssh_filter[600], trace[64], injection[96];
	static const char *wrapper[] = {
		"strace", "-f", "-qq", "-o", "/dev/null", "-P", ssh_filter,
		"-e", trace, "-e", injection, NULL,
	};
	const char *asan = getenv("ASAN_OPTIONS");
	char asan_options[512];

	if (fixture_run_command((char *[]){ "strace", "-V", NULL }) != 0) {
		fprintf(stderr, "strace is needed (apt-get install strace)\n");
		test_failures++;
		return false;
	}
	CHECK_INT(daemon_run_stop(&g->daemon, SIGTERM), 0);
	snprintf(ssh_filter, sizeof(ssh_filter), "%s", g->account->ssh);
	snprintf(trace, sizeof(trace), "trace=%s", inject);
	snprintf(injection, sizeof(injection), "inject=%s:signal=KILL:when=1", inject);
	snprintf(asan_saved, size, "%s", asan ? asan : "");
	/* LeakSanitizer cannot run under ptrace. */
	snprintf(asan_options, sizeof(asan_options), "%s%sdetect_leaks=0",
		 asan ? asan : "", asan ? ":" : "");
	setenv("ASAN_OPTIONS", asan_options, 1);
	g->daemon.wrapper = wrapper;
	CHECK_INT(daemon_run_start(&g->daemon), 0);
	return g->daemon.pid > 0;
}

static void daemon_restart_plain(struct grants_run *g, const char *asan_saved)
{
	CHECK_INT(daemon_run_stop(&g->daemon, SIGTERM), 0);
	g->daemon.wrapper = NULL;
	if (asan_saved[0])
		setenv("ASAN_OPTIONS", asan_saved, 1);
	else
		unsetenv("ASAN_OPTIONS");
	CHECK_INT(daemon_run_start(&g->daemon), 0);
}

static long long status_grants(const struct grants_run *g)
{
	json_t *reply = client_call(g->daemon.socket, "{\"op\":\"status\"}");
	long long n = json_integer_value(json_object_get(reply, "grants"));

	json_decref(reply);
	return n;
}

/* The id named in a "grant ID is kept" message, or "". */
static void kept_id(const json_t *reply, char id[AUTHKEYS_ID_LEN + 1])
{
	const char *message = json_string_value(json_object_get(reply, "message"));
	const char *p = message ? strstr(message, "so grant ") : NULL;

	snprintf(id, AUTHKEYS_ID_LEN + 1, "%s", p ? p + strlen("so grant ") : "");
}

/*
 * Item: authkeys_add fails after its child renamed the new file into place
 * (the child is killed at the fsync of ~/.ssh that follows the rename, by
 * strace), and taking the line out again fails the same way (strace kills
 * every such child there), so the daemon cannot know whether the file
 * holds the line. It must not forget the grant (list, revoke and expiry
 * would no longer reach a line that may be there) nor a token's nonce (the
 * token could be redeemed again): the grant is kept, with an audit
 * "grant" record saying so, and the reply names it and how to revoke it.
 * (The file is right all the same: the removal died after its rename.)
 */
static void test_grants_stray_line(struct grants_run *g)
{
	char key[256], token_key[256], id[AUTHKEYS_ID_LEN + 1];
	char token_id[AUTHKEYS_ID_LEN + 1], asan_saved[512], revoke[128];
	char *text, *log, *token;
	const char *message;
	json_t *reply, *records, *record;
	size_t i, kept_records = 0;

	fixture_write_keys(g->account, "# mine\n");
	if (!daemon_restart_injected(g, "fsync,fdatasync", asan_saved, sizeof(asan_saved)))
		return;

	fixture_key_new(key, sizeof(key), "stray@vendor");
	reply = grants_run_grant(g, key, "1h", id);
	CHECK_STR(client_error(reply), "failed");
	CHECK_STR(id, "");
	kept_id(reply, id);
	CHECK_INT(strlen(id), AUTHKEYS_ID_LEN);
	message = fixture_str(json_string_value(json_object_get(reply, "message")));
	snprintf(revoke, sizeof(revoke), "'sshlease revoke %s'", id);
	CHECK_MSG(strstr(message, "may have been written") && strstr(message, revoke),
		  "message: %s", message);
	json_decref(reply);
	text = fixture_read_text(g->account->ak);
	CHECK_STR(text, "# mine\n");
	free(text);
	CHECK_INT(status_grants(g), 1);
	log = fixture_read_text(g->daemon.log);
	CHECK(strstr(log, "writing its line failed") != NULL);
	CHECK(strstr(log, "the grant is kept") != NULL);
	free(log);

	/* A token's grant the same way: kept, and so is its nonce. */
	fixture_key_new(token_key, sizeof(token_key), "stray-token@vendor");
	token = make_token(g, token_key);
	reply = grant_token(g, token);
	CHECK_STR(client_error(reply), "failed");
	kept_id(reply, token_id);
	CHECK_INT(strlen(token_id), AUTHKEYS_ID_LEN);
	json_decref(reply);
	CHECK_INT(status_grants(g), 2);

	/* The audit trail says what is known of both. */
	reply = client_call(g->daemon.socket, "{\"op\":\"audit\"}");
	records = json_object_get(reply, "records");
	json_array_foreach(records, i, record) {
		const char *event = json_string_value(json_object_get(record, "event"));
		const char *rid = json_string_value(json_object_get(record, "id"));
		const char *reason = json_string_value(json_object_get(record, "reason"));

		if (event && rid && reason && strcmp(event, "grant") == 0 &&
		    (strcmp(rid, id) == 0 || strcmp(rid, token_id) == 0) &&
		    strstr(reason, "may be in authorized_keys all the same"))
			kept_records++;
	}
	CHECK_INT(kept_records, 2);
	json_decref(reply);

	/* revoke reaches the kept grant (nothing to remove: no write). */
	reply = client_call_json(g->daemon.socket,
				 json_pack("{s:s, s:[s]}", "op", "revoke", "ids", id));
	CHECK_MSG(json_is_true(json_object_get(reply, "ok")), "revoke of the kept grant failed");
	json_decref(reply);
	CHECK_INT(status_grants(g), 1);

	daemon_restart_plain(g, asan_saved);
	/* The start finds no line for the token's grant and ends it ... */
	CHECK_INT(status_grants(g), 0);
	/* ... but the token stays redeemed. */
	reply = grant_token(g, token);
	CHECK_STR(client_error(reply), "refused");
	CHECK_MSG(strstr(fixture_str(json_string_value(json_object_get(reply, "message"))),
			 "redeemed already") != NULL,
		  "re-redeemed: %s", fixture_str(json_string_value(json_object_get(reply, "message"))));
	json_decref(reply);
	text = fixture_read_text(g->account->ak);
	CHECK_STR(text, "# mine\n");
	free(text);
	free(token);
}

/* Leftovers of an engine child killed before its rename: temp files. */
static void remove_temp_files(const struct grants_run *g)
{
	char command[700];

	snprintf(command, sizeof(command),
		 "find '%s' -mindepth 1 -maxdepth 1 ! -name authorized_keys -delete", g->account->ssh);
	CHECK_INT(system(command), 0);
}

/*
 * Item: authkeys_add's child is killed before its rename (strace, at
 * renameat), so the add fails with a system error, and taking the line out
 * again works (there is none: nothing to write). The file is known
 * untouched, so the grant is withdrawn and a token's nonce forgotten: the
 * same token is granted once the engine works again.
 */
static void test_grants_add_killed_before_rename(struct grants_run *g)
{
	char key[256], token_key[256], id[AUTHKEYS_ID_LEN + 1], asan_saved[512];
	char *text, *token;
	json_t *reply;

	fixture_write_keys(g->account, "# mine\n");
	if (!daemon_restart_injected(g, "renameat", asan_saved, sizeof(asan_saved)))
		return;

	fixture_key_new(key, sizeof(key), "early@vendor");
	reply = grants_run_grant(g, key, "1h", id);
	CHECK_STR(client_error(reply), "failed");
	CHECK_STR(id, "");
	CHECK(strstr(fixture_str(json_string_value(json_object_get(reply, "message"))),
		     "is kept") == NULL);
	json_decref(reply);
	fixture_key_new(token_key, sizeof(token_key), "early-token@vendor");
	token = make_token(g, token_key);
	reply = grant_token(g, token);
	CHECK_STR(client_error(reply), "failed");
	json_decref(reply);
	CHECK_INT(status_grants(g), 0);
	text = fixture_read_text(g->account->ak);
	CHECK_STR(text, "# mine\n");
	free(text);

	daemon_restart_plain(g, asan_saved);
	remove_temp_files(g);
	reply = grant_token(g, token);
	CHECK_MSG(json_is_true(json_object_get(reply, "ok")),
		  "the token of a grant that surely failed was not granted again: %s",
		  fixture_str(json_string_value(json_object_get(reply, "message"))));
	snprintf(id, sizeof(id), "%s",
		 fixture_str(json_string_value(
			 json_object_get(json_object_get(reply, "grant"), "id"))));
	json_decref(reply);
	reply = client_call_json(g->daemon.socket,
				 json_pack("{s:s, s:[s]}", "op", "revoke", "ids", id));
	CHECK(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);
	text = fixture_read_text(g->account->ak);
	CHECK_STR(text, "# mine\n");
	free(text);
	free(token);
}

/* The pids of parent's children, at most max of them. */
static size_t children_of(pid_t parent, pid_t *out, size_t max)
{
	DIR *proc = opendir("/proc");
	struct dirent *entry;
	size_t n = 0;

	while (proc && n < max && (entry = readdir(proc))) {
		char path[300], text[512], *close_paren;
		int ppid = 0;
		FILE *in;

		if (atoi(entry->d_name) <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", entry->d_name);
		in = fopen(path, "re");
		if (!in)
			continue;
		if (fgets(text, sizeof(text), in) && (close_paren = strrchr(text, ')')))
			sscanf(close_paren + 1, " %*c %d", &ppid);
		fclose(in);
		if (ppid == parent)
			out[n++] = (pid_t)atoi(entry->d_name);
	}
	if (proc)
		closedir(proc);
	return n;
}

/* The filesystem uid of pid, or (uid_t)-1. */
static uid_t fsuid_of(pid_t pid)
{
	char path[64], text[256];
	unsigned long r, e, s, fs;
	uid_t uid = (uid_t)-1;
	FILE *in;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	in = fopen(path, "re");
	while (in && fgets(text, sizeof(text), in))
		if (sscanf(text, "Uid: %lu %lu %lu %lu", &r, &e, &s, &fs) == 4)
			uid = (uid_t)fs;
	if (in)
		fclose(in);
	return uid;
}

/* As root: each time a new child of the daemon acting as the account
 * opens a file in ~/.ssh, stop it before the open returns (fanotify's
 * permission event holds the opener until answered), as a file system
 * that hangs would hold it. Runs until killed. */
static _Noreturn void stop_engine_opens(const struct grants_run *g, pid_t daemon,
					const pid_t *old, size_t n_old, int ready)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
	int fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_LARGEFILE);

	if (fd < 0 || fanotify_mark(fd, FAN_MARK_ADD, FAN_OPEN_PERM | FAN_EVENT_ON_CHILD,
				    AT_FDCWD, g->account->ssh) < 0 ||
	    write(ready, "r", 1) != 1)
		_exit(3);
	alarm(120); /* never outlives the test */
	for (;;) {
		ssize_t len = read(fd, buf, sizeof(buf));
		const struct fanotify_event_metadata *ev = (const void *)buf;

		if (len <= 0)
			_exit(4);
		for (; FAN_EVENT_OK(ev, len); ev = FAN_EVENT_NEXT(ev, len)) {
			struct fanotify_response answer = { .fd = ev->fd, .response = FAN_ALLOW };
			pid_t now[64];
			size_t n = children_of(daemon, now, SL_ARRAY_SIZE(now));
			bool engine = false;

			for (size_t i = 0; i < n; i++)
				engine |= now[i] == ev->pid;
			for (size_t k = 0; k < n_old; k++)
				engine &= old[k] != ev->pid;
			if (engine && fsuid_of(ev->pid) == g->account->acct->uid)
				kill(ev->pid, SIGSTOP);
			if (write(fd, &answer, sizeof(answer)) != sizeof(answer))
				_exit(5);
			close(ev->fd);
		}
	}
}

/* As the account: each time the daemon's engine process creates its
 * temporary file in ~/.ssh, stop every process it may (kill -1), as the
 * account itself could. As root (as_root): stop the engine's process as it
 * opens a file there (stop_engine_opens). Returns once it is watching. */
static pid_t stopper_start(const struct grants_run *g, bool as_root)
{
	pid_t daemon = g->daemon.pid, old[16];
	size_t n_old = 0;
	int ready[2];
	char c;
	pid_t pid;

	if (as_root)
		n_old = children_of(daemon, old, SL_ARRAY_SIZE(old));
	if (pipe2(ready, O_CLOEXEC) < 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid == 0 && as_root) {
		close(ready[0]);
		stop_engine_opens(g, daemon, old, n_old, ready[1]);
	}
	if (pid == 0) {
		char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
		int fd;

		close(ready[0]);
		if (setgroups(0, NULL) < 0 || setresgid(g->account->acct->gid, g->account->acct->gid, g->account->acct->gid) < 0 ||
		    setresuid(g->account->acct->uid, g->account->acct->uid, g->account->acct->uid) < 0)
			_exit(2);
		fd = inotify_init1(IN_CLOEXEC);
		if (fd < 0 || inotify_add_watch(fd, g->account->ssh, IN_CREATE) < 0 ||
		    write(ready[1], "r", 1) != 1)
			_exit(3);
		alarm(120); /* never outlives the test */
		for (;;) {
			ssize_t len = read(fd, buf, sizeof(buf));

			if (len <= 0)
				_exit(4);
			for (char *p = buf; p < buf + len;) {
				const struct inotify_event *ev = (const struct inotify_event *)p;

				if (ev->len && strncmp(ev->name, ".authorized_keys.sshlease-", 26) == 0)
					kill(-1, SIGSTOP);
				p += sizeof(*ev) + ev->len;
			}
		}
	}
	close(ready[1]);
	if (pid < 0 || read(ready[0], &c, 1) != 1) {
		close(ready[0]);
		return -1;
	}
	close(ready[0]);
	return pid;
}

static void stopper_end(pid_t stopper)
{
	if (stopper > 0) {
		kill(stopper, SIGKILL);
		waitpid(stopper, NULL, 0);
	}
}

/* Whether the audit log's newest records hold one of event for grant id,
 * whose reason starts with reason_start (any reason when NULL). */
static bool audit_has(struct grants_run *g, const char *event, const char *id,
		      const char *reason_start)
{
	json_t *reply = client_call(g->daemon.socket, "{\"op\":\"audit\"}"), *record;
	bool found = false;
	size_t i;

	json_array_foreach(json_object_get(reply, "records"), i, record) {
		const char *e = json_string_value(json_object_get(record, "event"));
		const char *rid = json_string_value(json_object_get(record, "id"));
		const char *reason = json_string_value(json_object_get(record, "reason"));

		if (e && rid && strcmp(e, event) == 0 && strcmp(rid, id) == 0 &&
		    (!reason_start || (reason && strncmp(reason, reason_start, strlen(reason_start)) == 0)))
			found = true;
	}
	json_decref(reply);
	return found;
}

/*
 * Item: the account stops every process it may, each time the daemon's
 * engine process starts its write: the engine's process is not among them
 * (become.h), so every extend succeeds.
 */
static void test_grants_account_stopper(struct grants_run *g)
{
	char key[256], id[AUTHKEYS_ID_LEN + 1], *after;
	json_t *reply;
	pid_t stopper;

	fixture_write_keys(g->account, "# mine\n");
	fixture_key_new(key, sizeof(key), "stopper@vendor");
	reply = grants_run_grant(g, key, "1h", id);
	CHECK(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);

	stopper = stopper_start(g, false);
	CHECK(stopper > 0);
	for (int attempt = 0; attempt < 5 && stopper > 0; attempt++) {
		reply = client_call_json(g->daemon.socket,
					 json_pack("{s:s, s:s, s:s}", "op", "extend", "id", id,
						   "for", attempt % 2 ? "2h" : "3h"));
		CHECK_MSG(json_is_true(json_object_get(reply, "ok")), "extend under the account's stopper: %s",
			  fixture_str(json_string_value(json_object_get(reply, "message"))));
		json_decref(reply);
	}
	reply = client_call_json(g->daemon.socket, json_pack("{s:s, s:[s]}", "op", "revoke", "ids", id));
	CHECK(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);
	stopper_end(stopper);
	after = fixture_read_text(g->account->ak);
	CHECK_STR(after, "# mine\n");
	free(after);
}

/*
 * Item: the engine's process hangs before it answers (stopped by root, as
 * a file system that hangs would hold it). The request fails with the
 * reason (not a hang), the file is whole, and the daemon leaves that
 * account alone for a while: the next operation on it fails at once,
 * saying why, and changes nothing, so the account's files cannot stall
 * the daemon again and again. A restart forgets the pause.
 */
static void test_grants_backoff(struct grants_run *g)
{
	char key[256], id[AUTHKEYS_ID_LEN + 1], *before, *after;
	const char *message;
	bool timed_out = false;
	json_t *reply;
	pid_t stopper;

	fixture_write_keys(g->account, "# mine\n");
	fixture_key_new(key, sizeof(key), "stalled@vendor");
	reply = grants_run_grant(g, key, "1h", id);
	CHECK(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);
	before = fixture_read_text(g->account->ak);

	stopper = stopper_start(g, true);
	CHECK(stopper > 0);
	/* The stop races with a child that needs a millisecond: a few tries. */
	for (int attempt = 0; attempt < 5 && stopper > 0 && !timed_out; attempt++) {
		reply = client_call_json(g->daemon.socket,
					 json_pack("{s:s, s:s, s:s}", "op", "extend", "id", id,
						   "for", attempt % 2 ? "2h" : "3h"));
		message = json_string_value(json_object_get(reply, "message"));
		if (client_error(reply)) {
			CHECK_STR(client_error(reply), "failed");
			CHECK_MSG(message && strstr(message, "did not answer in time"),
				  "extend: %s", fixture_str(message));
			timed_out = true;
		}
		json_decref(reply);
	}
	stopper_end(stopper);
	CHECK(timed_out);
	/* One whole line: the old one, or (stopped after its rename) the new. */
	after = fixture_read_text(g->account->ak);
	CHECK_INT(fixture_count(after, id), 1);
	CHECK(strncmp(after, "# mine\n", 7) == 0 && after[strlen(after) - 1] == '\n');

	/* Left alone: the revoke fails at once, with the reason, nothing
	 * changed in the file; the failure is on record and in status and
	 * list, and the grant's deadline is now, so the daemon keeps trying. */
	reply = client_call_json(g->daemon.socket, json_pack("{s:s, s:[s]}", "op", "revoke", "ids", id));
	CHECK_STR(client_error(reply), "failed");
	message = json_string_value(json_object_get(reply, "message"));
	CHECK_MSG(message && strstr(message, "leaves the account alone") &&
		  strstr(message, "tries again in"), "revoke: %s", fixture_str(message));
	json_decref(reply);
	reply = client_call(g->daemon.socket, "{\"op\":\"status\"}");
	CHECK_INT(json_integer_value(json_object_get(reply, "grants")), 1);
	CHECK_INT(json_integer_value(json_object_get(reply, "removals_failing")), 1);
	json_decref(reply);
	reply = client_call(g->daemon.socket, "{\"op\":\"list\"}");
	{
		const json_t *failing = json_object_get(json_array_get(json_object_get(reply, "grants"), 0),
							"removal_failing");

		CHECK_INT(json_integer_value(json_object_get(failing, "attempts")), 1);
		CHECK(strstr(fixture_str(json_string_value(json_object_get(failing, "reason"))),
			     "leaves the account alone") != NULL);
	}
	json_decref(reply);
	CHECK(audit_has(g, "removal_failed", id, "revoke failed: "));
	free(before);
	before = fixture_read_text(g->account->ak);
	CHECK_STR(before, after);

	/* A restart forgets the pause, and the grant, whose deadline is now
	 * past, is ended before the daemon serves anyone. */
	CHECK_INT(daemon_run_stop(&g->daemon, SIGTERM), 0);
	CHECK_INT(daemon_run_start(&g->daemon), 0);
	CHECK_INT(status_grants(g), 0);
	CHECK(audit_has(g, "expire", id, NULL));
	free(before);
	before = fixture_read_text(g->account->ak);
	CHECK_STR(before, "# mine\n");
	free(before);
	free(after);
}


static int fault_tests(struct grants_run *g)
{
	CHECK_INT(daemon_run_start(&g->daemon), 0);
	if (g->daemon.pid > 0) {
		TEST(test_grants_account_stopper(g));
		TEST(test_grants_backoff(g));
		TEST(test_grants_stray_line(g));
		TEST(test_grants_add_killed_before_rename(g));
	}
	if (g->daemon.pid > 0)
		CHECK_INT(daemon_run_stop(&g->daemon, SIGTERM), 0);
	CHECK_INT(client_failures, 0);
	return test_done() != 0;
}

int main(void)
{
	test_require_root();
	if (grants_run_main("sl-test-faults", fault_tests) != 0)
		test_failures++;
	return test_done();
}

/* sshleased's core in-process for the tests (daemon-harness.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon-harness.h"
#include "fixture.h"
#include "log.h"
#include "timeutil.h"

/* Replace a string of the config with a new copy of text. */
static void config_set(char **field, const char *text)
{
	free(*field);
	*field = strdup(text);
	if (!*field) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
}

void daemon_harness_init(struct daemon_harness *h, const char *prefix)
{
	char path[128];

	memset(h, 0, sizeof(*h));
	snprintf(h->dir, sizeof(h->dir), "/tmp/%s-XXXXXX", prefix);
	if (!mkdtemp(h->dir)) {
		perror("mkdtemp");
		exit(1);
	}
	log_init("sshleased", LOG_TARGET_STDERR, LOG_INFO);
	daemon_init(&h->d, "(built-in defaults)", false);
	h->d.config = config_new_defaults();
	if (!h->d.config) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/state", h->dir);
	config_set(&h->d.config->state_dir, path);
	snprintf(h->audit, sizeof(h->audit), "%s/log/audit.jsonl", h->dir);
	config_set(&h->d.config->audit_log, h->audit);
	snprintf(path, sizeof(path), "%s/run/sshlease.sock", h->dir);
	config_set(&h->d.config->socket, path);
	snprintf(path, sizeof(path), "%s/log", h->dir);
	if (mkdir(path, 0700) < 0 || daemon_open_files(&h->d) != 0 ||
	    daemon_timer_open(&h->d) != 0) {
		fprintf(stderr, "cannot set up sshleased's core in %s\n", h->dir);
		exit(1);
	}
	/* What a probe of OpenSSH 9.2 on port 22 finds; a fresh answer, so
	 * daemon_sshd_refresh does not ask again. */
	h->d.sshd = (struct sshd_info){
		.source = SSHD_SOURCE_PROBE,
		.version = { 9, 2 },
		.software = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
		.port = 22,
		.address = "127.0.0.1",
	};
	h->d.sshd_answered = true;
	h->d.sshd_probed_ms = time_monotonic_ms();
	h->conn = (struct connection){
		.fd = -1,
		.uid = 0,
		.gid = 0,
		.allowed = true,
		.by_user = "root",
	};
}

void daemon_harness_finish(struct daemon_harness *h, bool failed)
{
	daemon_finish(&h->d);
	if (failed)
		fprintf(stderr, "the state and audit log are kept in %s\n", h->dir);
	else
		fixture_remove_tree(h->dir);
}

void daemon_harness_allow_user(struct daemon_harness *h, const char *name)
{
	char **users = calloc(2, sizeof(*users));

	if (!users || !(users[0] = strdup(name))) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	for (size_t i = 0; h->d.config->users && h->d.config->users[i]; i++)
		free(h->d.config->users[i]);
	free(h->d.config->users);
	h->d.config->users = users;
}

json_t *daemon_harness_call(struct daemon_harness *h, const char *json_text)
{
	json_error_t error;
	json_t *request = json_loads(json_text, JSON_REJECT_DUPLICATES, &error);

	if (!request) {
		fprintf(stderr, "not a request: %s: %s\n", json_text, error.text);
		exit(1);
	}
	return daemon_harness_call_json(h, request);
}

json_t *daemon_harness_call_json(struct daemon_harness *h, json_t *request)
{
	json_t *reply = daemon_handle(&h->d, &h->conn, request);

	json_decref(request);
	return reply;
}

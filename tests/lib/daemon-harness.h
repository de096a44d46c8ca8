/*
 * sshleased's core in-process, for tests that call the request handler
 * (daemon_handle) directly: a struct daemon on the built-in defaults
 * (config_new_defaults) with its state directory, lock directory and
 * audit log in a temporary directory, an expiry timer, no socket, no
 * signals, and the local sshd as a probe would have found OpenSSH 9.2 on
 * port 22 (so that nothing probes, and expiry-time is written in UTC).
 * Requests come from root.
 *
 *     struct daemon_harness h;
 *     daemon_harness_init(&h, "sl-test-handlers");
 *     reply = daemon_harness_call(&h, "{\"op\":\"status\"}");
 *     daemon_harness_finish(&h, failed);
 */
#ifndef SSHLEASE_TEST_DAEMON_HARNESS_H
#define SSHLEASE_TEST_DAEMON_HARNESS_H

#include <stdbool.h>

#include <jansson.h>

#include "daemon.h"

struct daemon_harness {
	struct daemon d;
	struct connection conn; /* the peer of every request: root */
	char dir[64];           /* /tmp/<prefix>-XXXXXX */
	char audit[128];        /* dir/log/audit.jsonl, d.config->audit_log */
};

/* Set h up in a new temporary directory; exits when it cannot. */
void daemon_harness_init(struct daemon_harness *h, const char *prefix);

/* Close what h holds (daemon_finish), then remove the directory, or keep
 * it and say where when the test failed. */
void daemon_harness_finish(struct daemon_harness *h, bool failed);

/* Let grants go to this account only (config users = name). */
void daemon_harness_allow_user(struct daemon_harness *h, const char *name);

/* One request as JSON text (it must parse: exits otherwise), answered by
 * daemon_handle; the reply (NULL only when out of memory). */
json_t *daemon_harness_call(struct daemon_harness *h, const char *json_text);

/* The same for a request object (consumed). */
json_t *daemon_harness_call_json(struct daemon_harness *h, json_t *request);

#endif

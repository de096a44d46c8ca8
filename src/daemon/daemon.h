/* sshleased's shared state and the functions its files offer each other. */
#ifndef SSHLEASE_DAEMON_H
#define SSHLEASE_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "audit.h"
#include "authkeys.h"
#include "config.h"
#include "schedule.h"
#include "state.h"

/* Connections served at once; more are accepted and closed at once. */
#define DAEMON_MAX_CONNECTIONS 64
/* A client has this long from connect to sending its request. */
#define DAEMON_CONNECTION_TIMEOUT_MS 5000

struct connection {
	int fd;           /* -1: slot free */
	long long deadline_ms; /* CLOCK_MONOTONIC */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool allowed;     /* root or a member of socket_group */
	char by_user[64]; /* the peer's account name, or its uid in digits */
};

/* Who asked for an operation, as the audit log records it. */
struct peer {
	long long uid;
	const char *user;
};

struct daemon {
	/* Configuration */
	const char *config_path;
	bool config_explicit;      /* --config given: the file must exist */
	struct sshlease_config *config;

	/* Durable things */
	struct state *state;
	struct audit_log *audit;
	char *lock_dir;            /* <state_dir>/locks */
	struct authkeys_ctx authkeys;
	int state_lock_fd;         /* flock on <state_dir>/sshleased.lock */

	/* Event sources */
	int epoll_fd;
	int listen_fd;
	int timer_fd;
	int signal_fd;
	char *socket_path;         /* as bound, for removal at exit */
	dev_t socket_dev;
	ino_t socket_ino;
	struct connection connections[DAEMON_MAX_CONNECTIONS];
	size_t n_connections;

	/* Expiry */
	struct schedule_hold *holds;
	size_t n_holds;
	time_t armed_for;          /* 0: timer disarmed */

	time_t started;
	bool quit;
	int exit_code;
};

/* The realtime clock, in whole seconds (precise, not the coarse clock, so
 * that it agrees with the timerfd that woke us). */
time_t daemon_now(void);

/* grants.c: the lifecycle steps shared by handlers, expiry and recovery. */

/* Fill ev from grant (strings borrowed). */
void daemon_grant_event(const struct grant *grant, const char *event,
			struct audit_event *ev);

/* Append ev to the audit log and log its sentence. 0 or -errno (logged). */
int daemon_audit(struct daemon *d, const struct audit_event *ev);

/* The expiry format to write, from the config. */
enum authkeys_expiry daemon_expiry_format(const struct daemon *d);

/*
 * End the grant with that id: remove its line (marker and blob), drop it
 * from the state and save, then audit `event` ("revoke", "expire") with
 * peer (may be NULL) and reason (may be NULL). An account that no longer
 * exists has no line to remove; the grant ends all the same.
 * Returns 0; SL_NOT_FOUND; or, when the line could not be removed or the
 * state not saved, SL_REFUSED / SL_CHANGED / -errno with *why, and the grant
 * is still in the state (retry later).
 */
int daemon_grant_end(struct daemon *d, const char *id, const char *event,
		     const struct peer *peer, const char *reason,
		     const char **why);

/* expiry.c */
int daemon_timer_open(struct daemon *d);
/* End due grants, then arm the timer for the next one (or disarm). */
void daemon_expire_due(struct daemon *d);
/* The timerfd became readable: expired or cancelled by a clock change. */
void daemon_timer_event(struct daemon *d);

/* recovery.c: make files and state agree before serving anything. */
int daemon_recover(struct daemon *d);

/* server.c */
int daemon_socket_open(struct daemon *d);
void daemon_socket_close(struct daemon *d);
int daemon_loop(struct daemon *d);

/* handlers.c: one request in, one response out (never NULL unless out of
 * memory). */
json_t *daemon_handle(struct daemon *d, const struct connection *conn,
		      json_t *request);

/* main.c */
void daemon_reload(struct daemon *d);

/* notify.c: sd_notify(3) without libsystemd; a no-op outside systemd. */
void notify_send(const char *text);
void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
void notify_status(const char *fmt, ...) SL_PRINTF(1, 2);

#endif

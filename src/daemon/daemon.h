/* sshleased's shared state and the functions its files offer each other. */
#ifndef SSHLEASE_DAEMON_H
#define SSHLEASE_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "admission.h"
#include "audit.h"
#include "log-follow.h"
#include "log-journal.h"
#include "authkeys.h"
#include "config.h"
#include "doctor.h"
#include "schedule.h"
#include "sshd.h"
#include "sshd-log.h"
#include "state.h"

/* Connections served at once (admission.h says who may take one). */
#define DAEMON_MAX_CONNECTIONS ADMISSION_MAX_CONNECTIONS
/* A client has this long from connect to sending its request. */
#define DAEMON_CONNECTION_TIMEOUT_MS 5000
/* How long an account is left alone after the process acting as it did
 * not answer in time (the account can stop it): each such stall costs the
 * whole daemon AUTHKEYS_CHILD_TIMEOUT_MS, so it may cost that at most
 * once in this many seconds per account. */
#define DAEMON_ACCOUNT_BACKOFF_SECONDS 60
/* A probe of the local sshd that reached no server is tried again when a
 * grant needs it, at most once in this many seconds. */
#define DAEMON_SSHD_REPROBE_SECONDS 60

/* What an epoll event is about (its data.u32). */
enum daemon_tag {
	DAEMON_TAG_LISTEN = 1,
	DAEMON_TAG_TIMER,
	DAEMON_TAG_SIGNAL,
	DAEMON_TAG_SSHD_LOG,
	DAEMON_TAG_CONNECTION, /* + slot */
};
/* A session's monitor exited: this bit and its pid (pids are < 2^22). */
#define DAEMON_TAG_SESSION 0x80000000u
/* An account's key watcher spoke or died: this bit and its pid. */
#define DAEMON_TAG_KEYWATCH 0x40000000u

/* The most added keys kept in the state per account (all are handled and
 * audited; the state keeps the first). */
#define DAEMON_ADDED_KEYS_MAX 256

/* How long before a deadline the terminals of a grant's sessions are told
 * (half the grant's length for a grant shorter than twice this). */
#define DAEMON_NOTICE_SECONDS 300

/* How long a connection told on its terminal that its access has ended
 * has to carry that line to the client before it is closed. */
#define DAEMON_NOTICE_GRACE_MS 250

/* How often, and how long at most, the daemon looks whether a new login's
 * monitor has forked its session yet (so that its scope is final). */
#define DAEMON_SCOPE_RETRY_MS 10
#define DAEMON_SCOPE_WAIT_MS 2000

/* How long a monitor sent SIGTERM has before SIGKILL. */
#define DAEMON_SESSION_KILL_MS 1000

/* A connection monitor the daemon holds a pidfd of (sessions.c): for an
 * open session, or for one ended and not yet gone. */
struct session_watch {
	pid_t pid;
	int pidfd;
	long long kill_at_ms; /* CLOCK_MONOTONIC: SIGKILL then; 0: not ending */
	long long term_at_ms; /* SIGTERM then (after a notice); 0: none due */
	/* The login's scope is taken once the monitor forked its session
	 * (after PAM, and so logind, opened it): next try, last try; 0: done */
	long long scope_at_ms, scope_until_ms;
	time_t noticed_for; /* the deadline its terminals were told of; 0 */
};

/* The key of a grant that ended a moment ago (sessions.c): sshd may have
 * accepted a login with it just before its line went, and its log line
 * may be read only after the end. Such a login is ended at once. */
struct ended_key {
	char grant_id[AUTHKEYS_ID_LEN + 1];
	char user[33];
	uid_t uid;
	char fingerprint[64];
	time_t until;
	long long ended_ms; /* CLOCK_REALTIME of the end */
};
/* How long an ended grant's key is looked out for, and for how many
 * grants at most (the oldest give way). */
#define DAEMON_ENDED_KEY_SECONDS 600
#define DAEMON_ENDED_KEYS_MAX 4096

/* A login not with a grant's key, of an account whose key files are
 * watched (sessions.c): its key may be one added during the grant that the
 * sweep has not found yet (a watcher held up, a login just after the
 * write). When the sweep removes that key, the login is ended. */
struct recent_login {
	struct sshd_log_event ev;
	pid_t pid;   /* the log line's, as the source knows it */
	time_t time; /* when it was logged (or read) */
};
/* The most such logins kept (the oldest give way). */
#define DAEMON_RECENT_LOGINS_MAX 256

/* The process watching an account's key files (keywatch.c, userwatch.h). */
struct key_watcher {
	uid_t uid;
	pid_t pid;        /* -1: none running */
	int fd;
	long long started_ms; /* CLOCK_MONOTONIC of its start */
	bool refused_said;    /* a refused sweep was logged once */
	bool pending;         /* a sweep is owed: the account was left alone
				 (its engine process stalled); done when the
				 pause ends */
};

struct connection {
	int fd;           /* -1: slot free */
	long long deadline_ms; /* CLOCK_MONOTONIC */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool allowed;     /* root or a member of socket_group */
	char by_user[64]; /* the peer's account name, or its uid in digits */
};

/* An account whose engine process did not answer in time, and until when
 * (CLOCK_MONOTONIC, ms) the daemon leaves its files alone. */
struct account_backoff {
	uid_t uid;
	long long until_ms;
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
	int socket_dir_fd;         /* its directory (root's, checked), or -1 */
	char *socket_name;         /* its name in that directory */
	dev_t socket_dev;
	ino_t socket_ino;
	struct connection connections[DAEMON_MAX_CONNECTIONS];
	size_t n_connections;
	struct admission_refusals refusals; /* outsiders' refusal records */
	struct admission_refusals member_refusals; /* socket_group members' */

	/* Accounts left alone for a while (DAEMON_ACCOUNT_BACKOFF_SECONDS) */
	struct account_backoff *backoffs;
	size_t n_backoffs;

	/* The local sshd, as the last probe found it (sshd-fit.c) */
	struct sshd_info sshd;
	bool sshd_answered;        /* a server answered that probe */
	long long sshd_probed_ms;  /* CLOCK_MONOTONIC of that probe; 0: none */
	char expiry_why[512];      /* why no expiry-time form fits, last asked */

	/* Logins with a grant's key (sessions.c); the sessions themselves are
	 * in the state */
	struct log_follow *sshd_follow;   /* [sshd] log = PATH */
	struct log_journal *sshd_journal; /* [sshd] log = journal */
	struct session_watch *watches;
	size_t n_watches;
	struct ended_key *ended_keys;
	size_t n_ended_keys;
	struct recent_login *recent_logins;
	size_t n_recent_logins;

	/* Key watchers of accounts with live grants (keywatch.c); their
	 * snapshots and what they found are in the state */
	struct key_watcher *key_watchers;
	size_t n_key_watchers;
	bool sessions_catching_up; /* reading, at start-up, what was logged
				      while the daemon was down */
	struct scope_bus *scope_bus; /* systemd's, for logins' scopes; NULL:
					no systemd (scope.h) */

	/* Expiry */
	struct schedule_hold *holds;
	size_t n_holds;
	bool state_missing; /* no state.json at start (daemon_open_files) */
	time_t armed_for;          /* 0: timer disarmed */

	time_t started;
	bool quit;
	int exit_code;
};

/* daemon.c: the realtime clock, in whole seconds (precise, not the coarse
 * clock, so that it agrees with the timerfd that woke us). */
time_t daemon_now(void);

/* daemon.c: mkdir -p, the parents 0755 and path itself with mode (root's:
 * the socket's directory, the state directory). 0 or -errno. */
int daemon_make_dirs(const char *path, mode_t mode);

/* daemon.c: append ev to the audit log and log its sentence. 0 or -errno
 * (logged). grant.h has the records of grants. */
int daemon_audit(struct daemon *d, const struct audit_event *ev);

/* sshd-fit.c: the local sshd as grants need it. */

/*
 * Probe the local sshd now ([sshd] port and config): its version, host
 * keys and port are kept in d->sshd for the expiry-time form and the grant
 * reply, and the outcome is logged. At start and on reload.
 */
void daemon_sshd_probe(struct daemon *d);

/* Probe again when the last probe reached no server and
 * DAEMON_SSHD_REPROBE_SECONDS have passed since it. */
void daemon_sshd_refresh(struct daemon *d);

/*
 * The expiry-time form to write for the probed sshd and [sshd]
 * expiry_format (sshd_expiry_for). Returns 0 with *out, or SL_REFUSED with
 * *why, a sentence that names the version found and how to fix it (valid
 * until the next call): grants and extensions are refused then.
 */
int daemon_expiry_form(struct daemon *d, enum authkeys_expiry *out,
		       const char **why);

/* The probe's findings for a reply: {"port", "host_keys", ...}
 * (sshd_info_to_json). NULL on out-of-memory. */
json_t *daemon_sshd_json(const struct daemon *d);

/*
 * The doctor checks a grant for user in mode must pass
 * (doctor_grant_blockers, with [sshd] config). Returns 0 when none fails;
 * SL_REFUSED with a new *blocker (doctor_result_free) naming the first
 * that does; -ENOMEM.
 */
int daemon_grant_blocker(struct daemon *d, const char *user,
			 enum authkeys_mode mode, struct doctor_result **blocker);

/* keys.c */

/* For engine calls made outside daemon_keys_*: -EAGAIN with *why while
 * uid is left alone after its engine process stalled, else 0; and, after
 * the call, r as it was, a timeout starting the pause. */
int daemon_account_paused(struct daemon *d, uid_t uid, const char **why);
int daemon_account_answered(struct daemon *d, const struct account *acct, int r);

/*
 * The authorized_keys engine as the daemon uses it: the authkeys_* call of
 * the same name, unless the account is being left alone after one of its
 * engine processes did not answer in time (-ETIMEDOUT): then -EAGAIN with
 * *why saying so, at once, until DAEMON_ACCOUNT_BACKOFF_SECONDS have
 * passed. A timeout starts that pause.
 */
int daemon_keys_add(struct daemon *d, const struct account *acct,
		    const char *line, const char **why);
int daemon_keys_remove(struct daemon *d, const struct account *acct,
		       const char *id, const char *blob_base64, size_t *removed,
		       const char **why);
int daemon_keys_remove_many(struct daemon *d, const struct account *acct,
			    const struct authkeys_entry *entries, size_t n,
			    size_t *removed, size_t *removed_each,
			    const char **why);
int daemon_keys_replace(struct daemon *d, const struct account *acct,
			const char *line, size_t *replaced, const char **why);
int daemon_keys_list(struct daemon *d, const struct account *acct,
		     struct authkeys_entry **out, size_t *n, const char **why);
int daemon_keys_check(struct daemon *d, const struct account *acct,
		      enum authkeys_found *found, const char **why);

/* The text of a failed engine call for a message: its reason, or the
 * system error when it gave none. */
const char *daemon_keys_why(int r, const char *why);

/* expiry.c */
int daemon_timer_open(struct daemon *d);
/* End due grants, then arm the timer for the next one (or disarm). */
void daemon_expire_due(struct daemon *d);
/* The timerfd became readable: expired or cancelled by a clock change. */
void daemon_timer_event(struct daemon *d);

/* sessions.c: logins with a grant's key, from sshd's log to their end. */

/*
 * Follow sshd's log ([sshd] log) from its end, its fd in the epoll set
 * (DAEMON_TAG_SSHD_LOG); a log that cannot be followed is logged and
 * logins go unrecorded. Then the sessions the state holds from before: a
 * session whose connection is still held by the same monitor (sshd-conn.h
 * checks the process is a root sshd monitor holding that peer, so a pid
 * used again by another process is never taken) is watched again; the
 * others are recorded as ended (session_end). Before recovery, so that the
 * grants it ends take their sessions with them. 0 or -errno (epoll).
 */
int daemon_sessions_open(struct daemon *d);

/* The log polled readable: every new line read; each login with a
 * grant's key (its fingerprint and account) becomes a session, saved and
 * recorded (session_start). */
void daemon_sshd_log_event(struct daemon *d);

/* A watched monitor exited (DAEMON_TAG_SESSION): its session, if still
 * open, is over (session_end, "connection closed"). */
void daemon_session_exited(struct daemon *d, pid_t pid);

/*
 * End every open session of grant (its line is gone; it may be out of the
 * state already): SIGTERM to its
 * monitor (the whole connection closes, ControlMaster channels included;
 * SIGKILL after DAEMON_SESSION_KILL_MS if it is still there, from the
 * loop), a session_end record with reason, and the session out of the
 * state. The caller saves the state. Sessions of the account that did not
 * log in with the grant's key are not sessions of the grant: untouched.
 */
void daemon_sessions_end_grant(struct daemon *d, struct grant *grant,
			       const char *reason);

/*
 * Tell the terminals of the grants' sessions whose deadline is near
 * (DAEMON_NOTICE_SECONDS) that their access ends then (tty-notice.h), each
 * once per deadline. Returns the next instant after now at which one is
 * due, or 0 for none: the expiry timer wakes then too.
 */
time_t daemon_sessions_notice(struct daemon *d, time_t now);

/*
 * The key with fingerprint of account user, added during a grant, was
 * just removed: the logins made with it that are still open (those seen
 * since the account's key watch began) are ended at once, each with a
 * session_start and a session_end record naming the account's grant.
 */
void daemon_sessions_planted(struct daemon *d, const char *user, const char *fingerprint);

/* Milliseconds until a SIGKILL is due (0: now), or -1: none. */
int daemon_sessions_timeout_ms(const struct daemon *d);

/* Send the SIGKILLs that are due. */
void daemon_sessions_tick(struct daemon *d);

/* Close the log and the pidfds. */
void daemon_sessions_close(struct daemon *d);

/* keywatch.c: keys added while a grant is live (DESIGN.md §13). */

/*
 * Make the watches fit the grants: an account with a live grant and no
 * snapshot gets one (keyguard_snapshot of each key file; the grant's own
 * lines are managed lines, never in it) and a watcher (userwatch.h) that
 * is swept once at its start; an account without a live grant loses both.
 * Saves the state when it changed. Cheap when nothing changed: run after
 * every round of the loop.
 */
void daemon_keywatch_sync(struct daemon *d);

/* Milliseconds until a sweep owed to an account that was left alone can
 * be made (its pause ends), 0 for now, -1 for none owed. */
int daemon_keywatch_timeout_ms(const struct daemon *d);

/* Note acct's footholds (footholds.h) in kw, the new watch: as they are
 * now, and as reported. */
void daemon_footholds_begin(struct daemon *d, const struct account *acct, struct key_watch *kw);

/* Take uid's footholds again and report each that differs from the start
 * and from what was last reported (audit "foothold" naming grant g, in
 * whose tally it is counted; journal warning). True when the watch changed
 * (the caller saves). */
bool daemon_footholds_check(struct daemon *d, uid_t uid, struct grant *g);

/* The report of what happened during grant g, which has just ended, from
 * its tally, into out: the "report" of its end record in the audit log
 * (and of that record's journal sentence); with [grant] report_changes and
 * logins, also the home's files changed during it (a walk as the
 * account). */
#define DAEMON_REPORT_MAX 10240
/* What of it an audit field keeps whole (audit.c cuts fields at 1 KiB). */
#define DAEMON_REPORT_KEPT 1000
void daemon_grant_report(struct daemon *d, const struct grant *g, char *out, size_t size);

/* The snapshot of acct's key files, added to the state (not saved) unless
 * it has a watch already: taken before a grant's line is written, so that
 * it is saved with the grant. 0, or no watch and: with refusal set,
 * SL_REFUSED (a key file the engine cannot read, a link: the grant is
 * refused) or -errno (a file not read: the grant fails), why in refusal;
 * without, -errno (logged; a refused file is logged and skipped). */
int daemon_keywatch_begin(struct daemon *d, const struct account *acct, char *refusal,
			  size_t size);

/* Take out of the state (not saved) the watches of accounts that no
 * longer have a live grant; into *out (the caller frees each known and
 * the array, or puts them back) unless out is NULL (freed). Their count. */
size_t daemon_keywatch_take_ended(struct daemon *d, struct key_watch **out);

/* Put back what take_ended took (the save that would drop them failed);
 * frees taken. */
void daemon_keywatch_put_back(struct daemon *d, struct key_watch *taken, size_t n);

/* The watcher with that pid spoke (sweep the account's files) or died
 * (reap it; the next sync starts another). */
void daemon_keywatch_event(struct daemon *d, pid_t pid);

/* Stop every watcher. */
void daemon_keywatch_close(struct daemon *d);

/* recovery.c: make files and state agree before serving anything. */
int daemon_recover(struct daemon *d);

/* server.c */
int daemon_socket_open(struct daemon *d);
void daemon_socket_close(struct daemon *d);
int daemon_loop(struct daemon *d);

/*
 * request.c: one request in, one response out (never NULL unless out of
 * memory). The op is looked up in the op table, the request's fields are
 * checked against the op's (unknown field, wrong type: usage; null counts
 * as absent), then the op's handler (request.h) answers. conn says who
 * asks (uid, by_user); its fd is not used.
 */
json_t *daemon_handle(struct daemon *d, const struct connection *conn,
		      json_t *request);

/* daemon.c: the daemon's life, in the order main.c calls it. */

/*
 * Check the configuration at config_path (explicit: --config given, so the
 * file must exist) as --check does: every problem on stderr, then the exit
 * code (SL_EXIT_OK, SL_EXIT_REFUSED for problems, SL_EXIT_FAILURE when it
 * cannot be read).
 */
int daemon_check(const char *config_path, bool config_explicit);

/*
 * Run sshleased on that configuration until SIGTERM or SIGINT: logging,
 * the root check, the configuration, start-up in a fixed order (signals,
 * state directory and its lock, state, audit log, timer, sshd probe,
 * recovery, socket), the event loop, shutdown. Returns the exit code.
 */
int daemon_run(const char *config_path, bool config_explicit);

/* Zero d: no fds (-1), no config, no state; started now. */
void daemon_init(struct daemon *d, const char *config_path, bool config_explicit);

/*
 * With d->config set: create the state directory and lock it (one daemon
 * per state; locks/ for the engine), load the state, open the audit log.
 * 0 or -errno, logged.
 */
int daemon_open_files(struct daemon *d);

/* Apply the configuration file again (SIGHUP); on problems the running
 * one stays. Socket, socket group, state directory, audit log and [sshd]
 * log need a restart. */
void daemon_reload(struct daemon *d);

/* At start, before recovery: when state.json was missing, rebuild the
 * live grants from the audit log; after an unclean stop, write the grant
 * and end records the state says are owed (rebuild.c). */
void daemon_state_from_audit(struct daemon *d, bool state_missing);

/* Close whatever d holds (any of it may be missing) and free its config:
 * the audit log gets a "stop" record first. */
void daemon_finish(struct daemon *d);

/* notify.c: sd_notify(3) without libsystemd; a no-op outside systemd. */
void notify_send(const char *text);
void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
void notify_status(const char *fmt, ...) SL_PRINTF(1, 2);

#endif

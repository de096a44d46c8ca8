/* sshleased's life: the configuration check, start-up in a fixed order,
 * serving, reload, shutdown. main.c parses the command line and calls in. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build-config.h"
#include "daemon.h"
#include "log.h"

time_t daemon_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

int daemon_audit(struct daemon *d, const struct audit_event *ev)
{
	char sentence[LOG_MESSAGE_MAX], safe[LOG_MESSAGE_MAX];
	struct {
		char event[32], grant[32], user[72];
	} fields;
	int r = 0;

	audit_sentence(ev, sentence, sizeof(sentence));
	log_safe(fields.event, sizeof(fields.event), ev->event ? ev->event : "");
	log_safe(fields.grant, sizeof(fields.grant), ev->id ? ev->id : "");
	log_safe(fields.user, sizeof(fields.user), ev->user ? ev->user : "");
	log_event(audit_event_priority(ev->event),
		  &(struct log_fields){ fields.event, fields.grant, fields.user },
		  __FILE__, __LINE__, "%s", log_safe(safe, sizeof(safe), sentence));
	if (d->audit) {
		r = audit_append(d->audit, ev, daemon_now());
		if (r < 0)
			log_err("cannot append the %s event to the audit log: %s; %zu record%s held until it can be written",
				ev->event, strerror(-r), audit_held(d->audit),
				audit_held(d->audit) == 1 ? "" : "s");

	}
	return r;
}

/* Load the config; report every problem through report(). 0 or an error. */
static int load_config(const char *path, bool explicit_path,
		       struct sshlease_config **out, bool to_stderr)
{
	char **problems = NULL;
	char safe[256];
	int r;

	r = config_load(path, !explicit_path, out, &problems);
	if (r == SL_REFUSED) {
		for (size_t i = 0; problems && problems[i]; i++) {
			log_safe(safe, sizeof(safe), problems[i]);
			if (to_stderr)
				fprintf(stderr, "%s\n", safe);
			else
				log_err("%s", safe);
		}
	} else if (r == SL_NOT_FOUND) {
		log_safe(safe, sizeof(safe), path);
		if (to_stderr)
			fprintf(stderr, "%s: no such file\n", safe);
		else
			log_err("%s: no such file", safe);
	} else if (r < 0) {
		log_safe(safe, sizeof(safe), path);
		if (to_stderr)
			fprintf(stderr, "%s: %s\n", safe, strerror(-r));
		else
			log_err("%s: %s", safe, strerror(-r));
	}
	config_problems_free(problems);
	return r;
}

int daemon_check(const char *config_path, bool config_explicit)
{
	struct sshlease_config *config = NULL;
	char safe[256];
	int r;

	r = load_config(config_path, config_explicit, &config, true);
	config_free(config);
	/* The same codes as sshlease check-config: 3 for a config with
	 * problems, 1 for one that cannot be read. */
	if (r == SL_REFUSED)
		return SL_EXIT_REFUSED;
	if (r != 0)
		return SL_EXIT_FAILURE;
	if (access(config_path, F_OK) == 0)
		printf("%s: ok\n", log_safe(safe, sizeof(safe), config_path));
	else
		printf("%s: not present; the built-in defaults apply\n",
		       log_safe(safe, sizeof(safe), config_path));
	return SL_EXIT_OK;
}

void daemon_reload(struct daemon *d)
{
	struct sshlease_config *config = NULL;
	struct sshlease_config *old = d->config;
	int r;

	notify_reloading();
	r = load_config(d->config_path, d->config_explicit, &config, false);
	if (r != 0) {
		log_err("the configuration was not reloaded; the previous one stays in force");
		notify_ready();
		return;
	}
	/* Where the socket, state, audit log and sshd's log live is fixed
	 * while running (the log is followed from where it was):
	 * keep the running values, and say that a restart applies them. */
#define KEEP(field)                                                            \
	do {                                                                   \
		if ((config->field == NULL) != (old->field == NULL) ||         \
		    (config->field && strcmp(config->field, old->field) != 0))  \
			log_warn(#field " changed; restart sshleased to apply it"); \
		char *tmp_ = config->field;                                    \
		config->field = old->field;                                    \
		old->field = tmp_;                                             \
	} while (0)
	KEEP(socket);
	KEEP(socket_group);
	KEEP(state_dir);
	KEEP(audit_log);
	KEEP(sshd_log);
#undef KEEP
	d->config = config;
	config_free(old);
	audit_set_rotate(d->audit, (off_t)d->config->audit_rotate_size);
	log_info("configuration reloaded");
	/* [sshd] port, config or expiry_format may have changed, and so may
	 * sshd itself (an upgrade is a common reason to reload). */
	daemon_sshd_probe(d);
	/* Deadlines do not depend on the config, but a re-plan is cheap. */
	daemon_expire_due(d);
	notify_ready();
}

int daemon_make_dirs(const char *path, mode_t mode)
{
	char *copy = strdup(path);
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (char *p = copy + 1; *p && r == 0; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0755) < 0 && errno != EEXIST)
			r = -errno;
		*p = '/';
	}
	if (r == 0 && mkdir(copy, mode) < 0 && errno != EEXIST)
		r = -errno;
	free(copy);
	return r;
}

/* "dir/name" in a new string, or NULL. */
static char *path_join(const char *dir, const char *name)
{
	size_t size = strlen(dir) + 1 + strlen(name) + 1;
	char *path = malloc(size);

	if (path)
		snprintf(path, size, "%s/%s", dir, name);
	return path;
}

/* The state directory, its lock (one daemon per state), its lock dir. */
static int open_state_dir(struct daemon *d)
{
	const char *dir = d->config->state_dir;
	char *lock_path = NULL;
	int r;

	if (!dir || dir[0] != '/') {
		log_err("state_dir must be an absolute path");
		return -EINVAL;
	}
	r = daemon_make_dirs(dir, 0700);
	if (r < 0) {
		log_err("cannot create the state directory %.200s: %s", dir, strerror(-r));
		return r;
	}
	lock_path = path_join(dir, "sshleased.lock");
	d->lock_dir = path_join(dir, "locks");
	if (!lock_path || !d->lock_dir) {
		free(lock_path);
		return -ENOMEM;
	}
	d->authkeys.lock_dir = d->lock_dir;
	d->state_lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (d->state_lock_fd < 0) {
		r = -errno;
		log_err("cannot open %.200s: %s", lock_path, strerror(errno));
	} else if (flock(d->state_lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		if (errno == EWOULDBLOCK)
			log_err("another sshleased is running with the state directory %.200s",
				dir);
		else
			log_err("cannot lock %.200s: %s", lock_path, strerror(errno));
	}
	free(lock_path);
	return r;
}

/*
 * Signals: SIGHUP, SIGTERM and SIGINT arrive through a signalfd, so they
 * are blocked and nothing else is. The mask and ignored dispositions are
 * inherited across exec, so both are set here rather than trusted: the
 * authorized_keys engine waits for each child it forks (waitpid), which a
 * SIGCHLD ignored by whoever started us would turn into reaping behind its
 * back. SIGCHLD therefore gets its default action and stays unblocked,
 * and is never routed to the signalfd: the engine reaps its own children.
 */
static int open_signals(struct daemon *d)
{
	static const int handled[] = { SIGHUP, SIGTERM, SIGINT };
	sigset_t mask;

	signal(SIGPIPE, SIG_IGN);
	if (signal(SIGCHLD, SIG_DFL) == SIG_ERR) {
		log_err("cannot reset SIGCHLD: %s", strerror(errno));
		return -errno;
	}
	sigemptyset(&mask);
	for (size_t i = 0; i < SL_ARRAY_SIZE(handled); i++)
		sigaddset(&mask, handled[i]);
	if (sigprocmask(SIG_SETMASK, &mask, NULL) < 0)
		return -errno;
	/* An ignored signal is dropped before a signalfd sees it (nohup
	 * ignores SIGHUP): blocked first, then the default action. */
	for (size_t i = 0; i < SL_ARRAY_SIZE(handled); i++)
		signal(handled[i], SIG_DFL);
	d->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->signal_fd < 0) {
		log_err("signalfd: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static void audit_simple(struct daemon *d, const char *event, const char *reason)
{
	struct audit_event ev = {
		.event = event,
		.by_uid = -1,
		.reason = reason,
	};

	daemon_audit(d, &ev);
}

/* The state remembers where the log ends, as of the start and the stop
 * records (not at every record: a refused request must leave state.json
 * as it was), so that a log deleted or cut short since is noticed at the
 * next start (rebuild.c). */
static void remember_audit_position(struct daemon *d)
{
	int r;

	if (!d->state || !d->audit || audit_last_seq(d->audit) == 0)
		return;
	d->state->audit_seq = audit_last_seq(d->audit);
	snprintf(d->state->audit_hash, sizeof(d->state->audit_hash), "%s", audit_last_hash(d->audit));
	r = state_save(d->config->state_dir, d->state);
	if (r < 0)
		log_warn("the state could not be saved with the audit log's position: %s", strerror(-r));
}

void daemon_init(struct daemon *d, const char *config_path, bool config_explicit)
{
	*d = (struct daemon){
		.config_path = config_path,
		.config_explicit = config_explicit,
		.epoll_fd = -1,
		.listen_fd = -1,
		.timer_fd = -1,
		.signal_fd = -1,
		.socket_dir_fd = -1,
		.state_lock_fd = -1,
		.started = daemon_now(),
	};
	for (size_t i = 0; i < DAEMON_MAX_CONNECTIONS; i++)
		d->connections[i].fd = -1;
}

int daemon_open_files(struct daemon *d)
{
	const char *why = NULL;
	int r;

	r = open_state_dir(d);
	if (r < 0)
		return r;
	{
		char *path = path_join(d->config->state_dir, "state.json");
		struct stat st;

		d->state_missing = path && lstat(path, &st) < 0 && errno == ENOENT;
		free(path);
	}
	r = state_load(d->config->state_dir, &d->state, &why);
	if (r != 0) {
		log_err("cannot load the state from %.200s: %s", d->config->state_dir,
			r < 0 ? strerror(-r) : why);
		return r < 0 ? r : -EINVAL;
	}
	r = audit_open(d->config->audit_log, &d->audit, &why);
	if (r != 0) {
		log_err("cannot open the audit log %.200s: %s", d->config->audit_log,
			r < 0 ? strerror(-r) : why);
		return r < 0 ? r : -EINVAL;
	}
	audit_set_rotate(d->audit, (off_t)d->config->audit_rotate_size);
	return 0;
}

static int start(struct daemon *d)
{
	char reason[128];
	int r;

	r = open_signals(d);
	if (r < 0)
		return r;
	r = daemon_open_files(d);
	if (r < 0)
		return r;
	/* The state and the log agree before anything else is recorded. */
	daemon_state_from_audit(d, d->state_missing);
	snprintf(reason, sizeof(reason), "sshleased %s, pid %ld, %zu active grants",
		 SSHLEASE_VERSION, (long)getpid(), d->state->n_grants);
	audit_simple(d, "start", reason);
	remember_audit_position(d);

	d->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epoll_fd < 0) {
		log_err("epoll_create1: %s", strerror(errno));
		return -errno;
	}
	r = daemon_timer_open(d);
	if (r < 0)
		return r;
	/* Sessions from before are watched again before recovery ends
	 * grants, so that those grants' connections end too. */
	r = daemon_sessions_open(d);
	if (r < 0)
		return r;
	/* The expiry-time form recovery may rewrite lines in, and the first
	 * grant's reply, come from the local sshd. */
	daemon_sshd_probe(d);
	/* Before anyone can ask anything, the files match the state. */
	r = daemon_recover(d);
	if (r < 0)
		return r;
	r = daemon_socket_open(d);
	if (r < 0)
		return r;
	daemon_expire_due(d);
	return 0;
}

void daemon_finish(struct daemon *d)
{
	daemon_socket_close(d);
	/* One line says it stopped: the stop event's sentence, or this one
	 * when there was no audit log to record it in. */
	if (d->audit) {
		audit_simple(d, "stop", d->exit_code == 0 ? NULL : "failure");
		remember_audit_position(d);
		audit_close(d->audit);
	} else {
		log_info("sshleased stopped");
	}
	daemon_keywatch_close(d);
	daemon_sessions_close(d);
	state_free(d->state);
	config_free(d->config);
	free(d->holds);
	free(d->backoffs);
	free(d->lock_dir);
	if (d->timer_fd >= 0)
		close(d->timer_fd);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	if (d->epoll_fd >= 0)
		close(d->epoll_fd);
	if (d->state_lock_fd >= 0)
		close(d->state_lock_fd);
}

int daemon_run(const char *config_path, bool config_explicit)
{
	struct daemon d;
	int r;

	log_init("sshleased",
		 getenv("JOURNAL_STREAM") || getenv("NOTIFY_SOCKET")
			 ? LOG_TARGET_SYSLOG
			 : LOG_TARGET_STDERR,
		 LOG_INFO);
	if (geteuid() != 0) {
		log_err("sshleased must run as root: it edits other accounts' authorized_keys through processes that become those accounts");
		return SL_EXIT_FAILURE;
	}
	umask(0022);
	daemon_init(&d, config_path, config_explicit);
	if (load_config(d.config_path, d.config_explicit, &d.config, false) != 0) {
		log_err("not starting: the configuration has problems (sshleased --check lists them)");
		return SL_EXIT_FAILURE;
	}
	r = start(&d);
	if (r == 0) {
		notify_ready();
		log_info("sshleased %s ready: %zu active grants", SSHLEASE_VERSION,
			 d.state->n_grants);
		r = daemon_loop(&d);
		notify_stopping();
	}
	d.exit_code = r == 0 ? SL_EXIT_OK : SL_EXIT_FAILURE;
	daemon_finish(&d);
	return d.exit_code;
}

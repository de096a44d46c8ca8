/* The systemd unit that holds what a login started, through sd-bus. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "build-config.h"
#include "scope.h"

bool scope_ref_valid(const struct scope_ref *ref)
{
	size_t len = strnlen(ref->unit, sizeof(ref->unit));
	size_t inv = strnlen(ref->invocation, sizeof(ref->invocation));

	if (len < 7 || len == sizeof(ref->unit) ||
	    strspn(ref->unit, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			      "0123456789:_.@-") != len ||
	    strcmp(ref->unit + len - 6, ".scope") != 0)
		return false;
	/* Only a unit of sshleased's own naming may go without its
	 * InvocationID (scope_attach). */
	if (inv == 0)
		return strncmp(ref->unit, "sshlease-", 9) == 0;
	return inv == SCOPE_INVOCATION_LEN &&
	       strspn(ref->invocation, "0123456789abcdef") == SCOPE_INVOCATION_LEN;
}

bool scope_login_forked(pid_t pid)
{
	char path[64], buf[32];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", (long)pid, (long)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return n > 0;
}

/* Parent pid of pid from /proc/PID/stat (after the command's closing
 * parenthesis: state, then ppid); -1 when it cannot be read. */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512], *close_paren;
	long ppid = -1;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	close_paren = strrchr(buf, ')');
	if (!close_paren || sscanf(close_paren + 1, " %*c %ld", &ppid) != 1)
		return -1;
	return (pid_t)ppid;
}

size_t scope_descendants(pid_t pid, uint32_t *pids, size_t max)
{
	size_t n = 0, before;
	pid_t *all = NULL, *parents = NULL;
	size_t n_all = 0, alloc = 0;
	struct dirent *e;
	DIR *dir;

	pids[n++] = (uint32_t)pid;
	dir = opendir("/proc");
	if (!dir)
		return n;
	while ((e = readdir(dir))) {
		char *end;
		long p = strtol(e->d_name, &end, 10);

		if (*end || p <= 0 || p == pid)
			continue;
		if (n_all == alloc) {
			size_t grown = alloc ? 2 * alloc : 512;
			pid_t *a = realloc(all, grown * sizeof(*a));
			pid_t *b = a ? realloc(parents, grown * sizeof(*b)) : NULL;

			if (a)
				all = a;
			if (!b)
				break;
			parents = b;
			alloc = grown;
		}
		all[n_all] = (pid_t)p;
		parents[n_all++] = parent_of((pid_t)p);
	}
	closedir(dir);
	/* Until a round adds nothing: a child may come before its parent. */
	do {
		before = n;
		for (size_t i = 0; i < n_all && n < max; i++) {
			bool in = false, parent_in = false;

			for (size_t k = 0; k < n; k++) {
				in |= pids[k] == (uint32_t)all[i];
				parent_in |= pids[k] == (uint32_t)parents[i];
			}
			if (!in && parent_in)
				pids[n++] = (uint32_t)all[i];
		}
	} while (n != before && n < max);
	free(all);
	free(parents);
	return n;
}

#if SSHLEASE_JOURNAL
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-login.h>

#define SYSTEMD_DEST "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"
#define SYSTEMD_UNIT "org.freedesktop.systemd1.Unit"
/* Most processes moved into a new scope: a login's own are a handful. */
#define SCOPE_PIDS_MAX 256

struct scope_bus {
	sd_bus *bus;
};

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

/* systemd's own socket, root's alone, as systemctl uses it: no
 * dbus-daemon needed. The system bus when that is not there. */
static int bus_connect(sd_bus **out, const char **why)
{
	sd_bus *bus = NULL;
	int r = sd_bus_new(&bus);

	if (r >= 0)
		r = sd_bus_set_address(bus, "unix:path=/run/systemd/private");
	if (r >= 0)
		r = sd_bus_start(bus);
	if (r < 0) {
		bus = sd_bus_unref(bus);
		r = sd_bus_open_system(&bus);
	}
	if (r < 0) {
		*why = "cannot connect to systemd (/run/systemd/private) or the system bus";
		return r == -ENOENT || r == -ECONNREFUSED ? SL_NOT_FOUND : r;
	}
	r = sd_bus_set_method_call_timeout(bus, SCOPE_CALL_TIMEOUT_MS * 1000ULL);
	if (r < 0) {
		sd_bus_flush_close_unref(bus);
		*why = "cannot set the bus call timeout";
		return r;
	}
	*out = bus;
	return 0;
}

int scope_bus_open(struct scope_bus **out, const char **why)
{
	struct scope_bus *b;
	int r;

	*out = NULL;
	if (sd_booted() <= 0) {
		*why = "this host does not run systemd";
		return SL_NOT_FOUND;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	r = bus_connect(&b->bus, why);
	if (r != 0) {
		free(b);
		return r;
	}
	*out = b;
	return 0;
}

/* Drop what the bus sent unasked (NameAcquired and the like): nothing here
 * subscribes to signals, so nothing else can queue up. */
static void drain(struct scope_bus *bus)
{
	while (sd_bus_process(bus->bus, NULL) > 0)
		;
}

/* Before each use: what queued up since the last is read, and a
 * connection systemd closed (systemctl daemon-reexec, as package upgrades
 * run it) is made again. */
static int bus_ready(struct scope_bus *bus, const char **why)
{
	drain(bus);
	if (sd_bus_is_open(bus->bus) > 0)
		return 0;
	sd_bus_flush_close_unref(bus->bus);
	bus->bus = NULL;
	return bus_connect(&bus->bus, why);
}

void scope_bus_free(struct scope_bus *bus)
{
	if (!bus)
		return;
	sd_bus_flush_close_unref(bus->bus);
	free(bus);
}

/* An sd-bus error as *why (in static storage, as *why always is: the
 * messages are systemd's fixed ones for the errors that matter here). */
static int bus_failed(sd_bus_error *error, int r, const char *what, const char **why)
{
	static char text[256];

	snprintf(text, sizeof(text), "%s: %s", what,
		 error->message ? error->message : strerror(-r));
	*why = text;
	if (sd_bus_error_has_names(error, "org.freedesktop.systemd1.NoSuchUnit",
				   "org.freedesktop.systemd1.NoSuchProcess",
				   "org.freedesktop.systemd1.NoUnitForPID"))
		r = SL_NOT_FOUND;
	sd_bus_error_free(error);
	return r;
}

/* A unit's Id and InvocationID (as hex) by its object path. */
static int unit_identity(struct scope_bus *bus, const char *path, struct scope_ref *ref,
			 const char **why)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	const uint8_t *bytes = NULL;
	char *id = NULL;
	size_t size = 0;
	int r;

	r = sd_bus_get_property_string(bus->bus, SYSTEMD_DEST, path, SYSTEMD_UNIT, "Id",
				       &error, &id);
	if (r < 0)
		return bus_failed(&error, r, "reading a unit's name", why);
	if (strlen(id) >= sizeof(ref->unit)) {
		free(id);
		*why = "the unit's name is too long";
		return SL_REFUSED;
	}
	snprintf(ref->unit, sizeof(ref->unit), "%s", id);
	free(id);
	r = sd_bus_get_property(bus->bus, SYSTEMD_DEST, path, SYSTEMD_UNIT, "InvocationID",
				&error, &reply, "ay");
	if (r < 0)
		return bus_failed(&error, r, "reading a unit's invocation", why);
	r = sd_bus_message_read_array(reply, 'y', (const void **)&bytes, &size);
	if (r >= 0 && size == SCOPE_INVOCATION_LEN / 2) {
		for (size_t i = 0; i < size; i++)
			snprintf(ref->invocation + 2 * i, 3, "%02x", bytes[i]);
	} else {
		ref->invocation[0] = '\0';
	}
	sd_bus_message_unref(reply);
	if (strspn(ref->invocation, "0") == strlen(ref->invocation)) {
		*why = "the unit has no invocation (it is not running)";
		return SL_NOT_FOUND;
	}
	return 0;
}

/* The unit pid is in, by the manager's own answer. */
static int unit_of_pid(struct scope_bus *bus, pid_t pid, struct scope_ref *ref,
		       const char **why)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	const char *path = NULL;
	int r;

	r = sd_bus_call_method(bus->bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER,
			       "GetUnitByPID", &error, &reply, "u", (uint32_t)pid);
	if (r < 0)
		return bus_failed(&error, r, "asking systemd for the login's unit", why);
	r = sd_bus_message_read(reply, "o", &path);
	if (r >= 0)
		r = unit_identity(bus, path, ref, why);
	else
		*why = "systemd's answer does not parse";
	sd_bus_message_unref(reply);
	return r;
}

/* The start job of a new scope, waited for (job_removed). */
struct job_wait {
	char *job;
	bool done;
};

static int job_removed(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct job_wait *wait = userdata;
	const char *path = NULL, *unit = NULL, *result = NULL;
	uint32_t id = 0;

	(void)error;
	if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) >= 0 && wait->job &&
	    strcmp(path, wait->job) == 0)
		wait->done = true;
	return 0;
}

/* Until the job is done, SCOPE_CALL_TIMEOUT_MS at most. */
static void job_wait(struct scope_bus *bus, struct job_wait *wait)
{
	uint64_t until = now_usec() + SCOPE_CALL_TIMEOUT_MS * 1000ULL;

	while (!wait->done) {
		uint64_t now = now_usec();
		int r = sd_bus_process(bus->bus, NULL);

		if (r < 0)
			return;
		if (r > 0)
			continue;
		if (now >= until || sd_bus_wait(bus->bus, until - now) < 0)
			return;
	}
}

/* Whether pid's cgroup (v2) is the unit's. */
static bool in_unit(pid_t pid, const char *unit)
{
	char path[64], buf[1024], want[SCOPE_UNIT_MAX + 2];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/cgroup", (long)pid);
	f = fopen(path, "re");
	if (!f)
		return true; /* gone: nothing to move */
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	snprintf(want, sizeof(want), "/%s\n", unit);
	return strstr(buf, want) != NULL;
}

/* Move what monitor pid forked after its scope was asked for (while
 * systemd moved the first ones) into the unit: a few rounds, until none
 * is left out. */
static void attach_stragglers(struct scope_bus *bus, pid_t pid, const char *unit)
{
	uint32_t pids[SCOPE_PIDS_MAX], out[SCOPE_PIDS_MAX];

	for (int round = 0; round < 3; round++) {
		sd_bus_error error = SD_BUS_ERROR_NULL;
		sd_bus_message *m = NULL;
		size_t n = scope_descendants(pid, pids, SCOPE_PIDS_MAX), k = 0;
		int r;

		for (size_t i = 0; i < n; i++)
			if (!in_unit((pid_t)pids[i], unit))
				out[k++] = pids[i];
		if (k == 0)
			return;
		r = sd_bus_message_new_method_call(bus->bus, &m, SYSTEMD_DEST, SYSTEMD_PATH,
						   SYSTEMD_MANAGER, "AttachProcessesToUnit");
		if (r >= 0)
			r = sd_bus_message_append(m, "ss", unit, "");
		if (r >= 0)
			r = sd_bus_message_append_array(m, 'u', out, k * sizeof(out[0]));
		if (r >= 0)
			r = sd_bus_call(bus->bus, m, 0, &error, NULL);
		sd_bus_message_unref(m);
		sd_bus_error_free(&error);
		if (r < 0)
			return;
	}
}

static int start_scope(struct scope_bus *bus, pid_t pid, const char *grant_id,
		       const char *description, struct scope_ref *ref, const char **why)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL, *reply = NULL;
	uint32_t pids[SCOPE_PIDS_MAX];
	size_t n = scope_descendants(pid, pids, SCOPE_PIDS_MAX);
	struct job_wait wait = { 0 };
	sd_bus_slot *slot = NULL;
	const char *job = NULL;
	int r;

	snprintf(ref->unit, sizeof(ref->unit), "sshlease-%s-%ld.scope", grant_id, (long)pid);
	/* Made now, it has no InvocationID until its start job ran; its name
	 * is this grant's and this monitor's, which is proof enough. */
	ref->invocation[0] = '\0';
	r = sd_bus_message_new_method_call(bus->bus, &m, SYSTEMD_DEST, SYSTEMD_PATH,
					   SYSTEMD_MANAGER, "StartTransientUnit");
	if (r >= 0)
		r = sd_bus_message_append(m, "ss", ref->unit, "fail");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'a', "(sv)");
	if (r >= 0)
		r = sd_bus_message_append(m, "(sv)(sv)", "Description", "s", description,
					  "CollectMode", "s", "inactive-or-failed");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'r', "sv");
	if (r >= 0)
		r = sd_bus_message_append(m, "s", "PIDs");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'v', "au");
	if (r >= 0)
		r = sd_bus_message_append_array(m, 'u', pids, n * sizeof(pids[0]));
	for (int i = 0; r >= 0 && i < 3; i++)
		r = sd_bus_message_close_container(m);
	if (r >= 0)
		r = sd_bus_message_append(m, "a(sa(sv))", 0);
	if (r < 0) {
		sd_bus_message_unref(m);
		*why = "cannot build the call to systemd";
		return r;
	}
	r = sd_bus_match_signal(bus->bus, &slot, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER,
				"JobRemoved", job_removed, &wait);
	if (r >= 0)
		r = sd_bus_call(bus->bus, m, 0, &error, &reply);
	sd_bus_message_unref(m);
	if (r < 0) {
		sd_bus_slot_unref(slot);
		return bus_failed(&error, r, "systemd did not make a scope for the login", why);
	}
	r = sd_bus_message_read(reply, "o", &job);
	if (r >= 0 && (wait.job = strdup(job)))
		job_wait(bus, &wait);
	free(wait.job);
	sd_bus_message_unref(reply);
	sd_bus_slot_unref(slot);
	/* systemd moved the processes named; what the login forked since
	 * is moved after them. */
	attach_stragglers(bus, pid, ref->unit);
	return 0;
}

int scope_attach(struct scope_bus *bus, pid_t pid, uid_t uid, const char *grant_id,
		 const char *description, struct scope_ref *ref, const char **why)
{
	char *session = NULL, expected[SCOPE_UNIT_MAX];
	uid_t owner = (uid_t)-1;
	int r;

	memset(ref, 0, sizeof(*ref));
	r = bus_ready(bus, why);
	if (r != 0)
		return r;
	/* logind's session of this login, if it has one and it is the
	 * account's (never, say, a session sshd itself was started from). */
	if (sd_pid_get_session(pid, &session) >= 0 && sd_session_get_uid(session, &owner) >= 0 &&
	    owner == uid) {
		snprintf(expected, sizeof(expected), "session-%s.scope", session);
		free(session);
		r = unit_of_pid(bus, pid, ref, why);
		drain(bus);
		if (r != 0)
			return r;
		if (strcmp(ref->unit, expected) != 0) {
			*why = "the login's logind session is not in its scope";
			return SL_REFUSED;
		}
		return 0;
	}
	free(session);
	r = start_scope(bus, pid, grant_id, description, ref, why);
	drain(bus);
	return r;
}

/* 0 when the unit of ref runs (the same invocation, when it has one),
 * SL_NOT_FOUND when it is gone; -errno or SL_REFUSED with *why. */
static int unit_current(struct scope_bus *bus, const struct scope_ref *ref, const char **why)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	struct scope_ref now = { 0 };
	const char *path = NULL;
	int r;

	if (!scope_ref_valid(ref)) {
		*why = "not a scope sshleased would have recorded";
		return SL_REFUSED;
	}
	r = sd_bus_call_method(bus->bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER,
			       "GetUnit", &error, &reply, "s", ref->unit);
	if (r < 0)
		return bus_failed(&error, r, "asking systemd for the unit", why);
	r = sd_bus_message_read(reply, "o", &path);
	if (r >= 0)
		r = unit_identity(bus, path, &now, why);
	else
		*why = "systemd's answer does not parse";
	sd_bus_message_unref(reply);
	if (r == 0 && ref->invocation[0] && strcmp(now.invocation, ref->invocation) != 0) {
		*why = "a unit of that name runs again, not the one recorded";
		r = SL_NOT_FOUND;
	}
	return r;
}

int scope_alive(struct scope_bus *bus, const struct scope_ref *ref, const char **why)
{
	int r = bus_ready(bus, why);

	if (r == 0)
		r = unit_current(bus, ref, why);

	drain(bus);
	return r;
}

int scope_kill(struct scope_bus *bus, const struct scope_ref *ref, int sig,
	       const char **why)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	int r;

	r = bus_ready(bus, why);
	if (r != 0)
		return r;
	/* A unit made anew has no InvocationID yet: its name is enough,
	 * and KillUnit says so when it is gone. */
	r = ref->invocation[0] ? unit_current(bus, ref, why)
			       : scope_ref_valid(ref) ? 0 : SL_REFUSED;
	if (r == SL_REFUSED && !ref->invocation[0])
		*why = "not a scope sshleased would have recorded";
	if (r == 0) {
		r = sd_bus_call_method(bus->bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER,
				       "KillUnit", &error, NULL, "ssi", ref->unit, "all", sig);
		r = r < 0 ? bus_failed(&error, r, "systemd did not signal the unit", why) : 0;
	}
	drain(bus);
	return r;
}

#else /* without libsystemd */

int scope_bus_open(struct scope_bus **out, const char **why)
{
	*out = NULL;
	*why = "sshleased was built without libsystemd";
	return SL_NOT_FOUND;
}

void scope_bus_free(struct scope_bus *bus)
{
	(void)bus;
}

int scope_attach(struct scope_bus *bus, pid_t pid, uid_t uid, const char *grant_id,
		 const char *description, struct scope_ref *ref, const char **why)
{
	(void)bus, (void)pid, (void)uid, (void)grant_id, (void)description;
	memset(ref, 0, sizeof(*ref));
	*why = "sshleased was built without libsystemd";
	return SL_NOT_FOUND;
}

int scope_alive(struct scope_bus *bus, const struct scope_ref *ref, const char **why)
{
	(void)bus, (void)ref;
	*why = "sshleased was built without libsystemd";
	return SL_NOT_FOUND;
}

int scope_kill(struct scope_bus *bus, const struct scope_ref *ref, int sig,
	       const char **why)
{
	(void)bus, (void)ref, (void)sig;
	*why = "sshleased was built without libsystemd";
	return SL_NOT_FOUND;
}

#endif

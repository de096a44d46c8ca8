/*
 * The systemd unit that holds what a login started (DESIGN.md §13):
 * processes that leave a session (setsid, nohup, a double fork) stay in its
 * cgroup, so ending the unit's processes ends them too.
 *
 * - With UsePAM yes and pam_systemd, logind put the login's sshd monitor
 *   into a session scope, session-N.scope, which is the account's session
 *   alone: that one is taken.
 * - Otherwise the monitor and what it started so far are moved into a new
 *   transient scope, sshlease-GRANT-PID.scope, through systemd's D-Bus API
 *   (org.freedesktop.systemd1.Manager.StartTransientUnit).
 * A unit is named together with its InvocationID, which systemd makes anew
 * each time a unit starts: a name used again (after a reboot, say) is never
 * taken for the unit recorded.
 *
 * Talks to the system bus with sd-bus, synchronously, each call bounded by
 * SCOPE_CALL_TIMEOUT_MS. Root (uid 0) is allowed these calls without
 * polkit. Built without libsystemd, every call says there is no systemd.
 */
#ifndef SSHLEASE_SCOPE_H
#define SSHLEASE_SCOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"

#define SCOPE_UNIT_MAX 64
#define SCOPE_INVOCATION_LEN 32 /* hex digits */
#define SCOPE_CALL_TIMEOUT_MS 1000

struct scope_ref {
	char unit[SCOPE_UNIT_MAX];                  /* "" when none */
	char invocation[SCOPE_INVOCATION_LEN + 1];  /* lowercase hex */
};

struct scope_bus;

/* Connect to the system bus: 0 with *out; SL_NOT_FOUND with *why when
 * this host does not run systemd (or no bus answers); -errno. */
int scope_bus_open(struct scope_bus **out, const char **why);
void scope_bus_free(struct scope_bus *bus);

/*
 * The unit that is to hold what monitor pid (an sshd monitor the caller
 * holds a pidfd of, so pid names it) starts for the account uid: its logind
 * session scope when that session is uid's, else a new transient scope
 * named after grant_id and pid, with pid and its descendants in it.
 * Returns 0 with *ref; SL_REFUSED or -errno with *why.
 */
int scope_attach(struct scope_bus *bus, pid_t pid, uid_t uid, const char *grant_id,
		 const char *description, struct scope_ref *ref, const char **why);

/*
 * Send sig to every process of the unit of ref, if it is still that unit
 * (same InvocationID). Returns 0; SL_NOT_FOUND when the unit is gone (or
 * another of that name runs): nothing of it is left; -errno with *why.
 */
int scope_kill(struct scope_bus *bus, const struct scope_ref *ref, int sig,
	       const char **why);

/* 0 when the unit of ref still runs (the same invocation), SL_NOT_FOUND
 * when it is gone, -errno or SL_REFUSED with *why. */
int scope_alive(struct scope_bus *bus, const struct scope_ref *ref, const char **why);

/* Whether monitor pid has forked a child yet: sshd opens the PAM session
 * (and pam_systemd the logind session, which moves the monitor into its
 * scope) before it forks the session's process, so from then on the
 * monitor's unit is final. */
bool scope_login_forked(pid_t pid);

/* pid and every process descending from it now (by the parent pids in
 * /proc), at most max, into pids (pid first). Returns how many. */
size_t scope_descendants(pid_t pid, uint32_t *pids, size_t max);

/* Whether ref is well formed: a unit name of [A-Za-z0-9:_.@-] ending in
 * ".scope" and 32 hex digits. */
bool scope_ref_valid(const struct scope_ref *ref);

#endif

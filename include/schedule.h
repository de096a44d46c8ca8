/* Expiry scheduling: which grants are due and when to wake next, as pure
 * functions of the state and an injected "now" so they can be unit-tested. */
#ifndef SSHLEASE_SCHEDULE_H
#define SSHLEASE_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "state.h"

/* How long the daemon waits before planning again after a failure of its
 * own (out of memory, the timer). */
#define SCHEDULE_RETRY_SECONDS 60

/* A grant whose ending failed (its file could not be edited...) is tried
 * again after SCHEDULE_BACKOFF_FIRST seconds, then twice as long after
 * each failure, at most SCHEDULE_BACKOFF_MAX. */
#define SCHEDULE_BACKOFF_FIRST 5
#define SCHEDULE_BACKOFF_MAX 300

/* Room for the last failure's reason. */
#define SCHEDULE_WHY_MAX 240

/*
 * A grant held back until `until` after a failed attempt to end it, so that
 * the daemon retries later instead of spinning on it. A hold never delays a
 * retry by more than SCHEDULE_BACKOFF_MAX from now, so a clock stepped
 * backwards cannot postpone a due revocation by the size of the step.
 */
struct schedule_hold {
	char id[AUTHKEYS_ID_LEN + 1];
	time_t until;
	time_t since;       /* the first failure */
	unsigned attempts;  /* failures so far */
	char why[SCHEDULE_WHY_MAX]; /* the last one's reason */
};

/* A grant is due when its deadline has come: expires <= now. */
bool schedule_grant_due(const struct grant *grant, time_t now);

/* The earliest deadline of all grants, ignoring holds; 0 when none. */
time_t schedule_earliest_deadline(const struct state *state);

struct schedule_plan {
	/* Ids of the grants to end now (due and not held), earliest deadline
	 * first; a copy, so the state may change while they are processed. */
	char (*due)[AUTHKEYS_ID_LEN + 1];
	size_t n_due;
	/* The earliest instant after now at which a grant falls due or a hold
	 * ends; 0 when nothing is pending (the timer is disarmed then). */
	time_t next_wake;
};

/*
 * Work out, at the instant now, which grants of state are due and when to
 * wake next. holds (n_holds entries, may be NULL) are held-back grants.
 * Returns 0 and fills *plan (release with schedule_plan_finish), or -ENOMEM.
 */
int schedule_plan(const struct state *state, const struct schedule_hold *holds,
		  size_t n_holds, time_t now, struct schedule_plan *plan);

void schedule_plan_finish(struct schedule_plan *plan);

/*
 * Count a failure to end grant id at now, for why: its hold's attempts
 * grow by one and it is held back by the backoff (SCHEDULE_BACKOFF_FIRST,
 * doubled per earlier failure, at most SCHEDULE_BACKOFF_MAX). Returns the
 * hold, or NULL when out of memory. *holds is a heap array of *n entries
 * (free() it).
 */
const struct schedule_hold *schedule_hold_fail(struct schedule_hold **holds, size_t *n,
					       const char *id, time_t now, const char *why);

/* The hold of id, or NULL. */
const struct schedule_hold *schedule_hold_find(const struct schedule_hold *holds, size_t n,
					       const char *id);

/* Drop the hold of id, if any. */
void schedule_hold_clear(struct schedule_hold *holds, size_t *n, const char *id);

/* Drop every hold whose grant is no longer in state. */
void schedule_holds_prune(struct schedule_hold *holds, size_t *n,
			  const struct state *state);

/*
 * The deadline of a grant or extension requested at now: either a duration
 * (seconds > 0; until must be 0) or an absolute until (duration must be 0).
 * The deadline must lie after now and at most max_duration seconds from
 * now. Returns 0 with *out; SL_REFUSED with *why ("the deadline is not in
 * the future", "the duration is longer than max_duration allows", ...).
 */
int schedule_deadline(time_t now, int64_t duration, time_t until,
		      int64_t max_duration, time_t *out, const char **why);

/*
 * The timerfd setting (absolute, CLOCK_REALTIME) that wakes at wake, or
 * disarms the timer when wake is 0.
 */
void schedule_timer_spec(time_t wake, struct itimerspec *out);

#endif

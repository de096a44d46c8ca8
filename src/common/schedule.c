/* Expiry scheduling over a state and an injected clock (no system calls). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedule.h"

bool schedule_grant_due(const struct grant *grant, time_t now)
{
	return grant->expires <= now;
}

time_t schedule_earliest_deadline(const struct state *state)
{
	time_t earliest = 0;

	for (size_t i = 0; state && i < state->n_grants; i++) {
		time_t expires = state->grants[i].expires;

		if (earliest == 0 || expires < earliest)
			earliest = expires;
	}
	return earliest;
}

const struct schedule_hold *
schedule_hold_find(const struct schedule_hold *holds, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(holds[i].id, id) == 0)
			return &holds[i];
	return NULL;
}

/* When the grant may next be acted on: its deadline, or a hold's end, never
 * more than SCHEDULE_BACKOFF_MAX after now for a hold (the clock may have
 * been stepped back since the hold was set). */
static time_t grant_wake(const struct grant *grant,
			 const struct schedule_hold *hold, time_t now)
{
	time_t wake = grant->expires;

	if (hold) {
		time_t until = hold->until;

		if (until > now + SCHEDULE_BACKOFF_MAX)
			until = now + SCHEDULE_BACKOFF_MAX;
		if (until > wake)
			wake = until;
	}
	return wake;
}

struct due_entry {
	time_t expires;
	const char *id;
};

static int due_compare(const void *a, const void *b)
{
	const struct due_entry *x = a, *y = b;

	if (x->expires != y->expires)
		return x->expires < y->expires ? -1 : 1;
	return strcmp(x->id, y->id);
}

int schedule_plan(const struct state *state, const struct schedule_hold *holds,
		  size_t n_holds, time_t now, struct schedule_plan *plan)
{
	struct due_entry *entries = NULL;
	size_t n_grants = state ? state->n_grants : 0;
	size_t n_due = 0;
	time_t next_wake = 0;
	int r;

	*plan = (struct schedule_plan){ 0 };
	if (n_grants == 0) {
		r = 0;
		goto out;
	}
	entries = calloc(n_grants, sizeof(*entries));
	if (!entries) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_grants; i++) {
		const struct grant *grant = &state->grants[i];
		time_t wake = grant_wake(grant, schedule_hold_find(holds, n_holds, grant->id),
					 now);

		if (wake <= now) {
			entries[n_due].expires = grant->expires;
			entries[n_due].id = grant->id;
			n_due++;
		} else if (next_wake == 0 || wake < next_wake) {
			next_wake = wake;
		}
	}
	if (n_due > 0) {
		qsort(entries, n_due, sizeof(*entries), due_compare);
		plan->due = calloc(n_due, sizeof(*plan->due));
		if (!plan->due) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < n_due; i++)
			memcpy(plan->due[i], entries[i].id, sizeof(plan->due[i]));
	}
	plan->n_due = n_due;
	plan->next_wake = next_wake;
	r = 0;
out:
	free(entries);
	return r;
}

void schedule_plan_finish(struct schedule_plan *plan)
{
	if (!plan)
		return;
	free(plan->due);
	*plan = (struct schedule_plan){ 0 };
}

const struct schedule_hold *schedule_hold_fail(struct schedule_hold **holds, size_t *n,
					       const char *id, time_t now, const char *why)
{
	struct schedule_hold *hold = NULL, *grown;
	time_t delay = SCHEDULE_BACKOFF_FIRST;

	for (size_t i = 0; i < *n && !hold; i++)
		if (strcmp((*holds)[i].id, id) == 0)
			hold = &(*holds)[i];
	if (!hold) {
		grown = realloc(*holds, (*n + 1) * sizeof(**holds));
		if (!grown)
			return NULL;
		*holds = grown;
		hold = &grown[(*n)++];
		memset(hold, 0, sizeof(*hold));
		/* Ids are AUTHKEYS_ID_LEN characters; a longer one is cut,
		 * never overrun, and then simply matches no grant. */
		memcpy(hold->id, id, strnlen(id, AUTHKEYS_ID_LEN));
		hold->since = now;
	}
	for (unsigned k = 0; k < hold->attempts && delay < SCHEDULE_BACKOFF_MAX; k++)
		delay *= 2;
	if (delay > SCHEDULE_BACKOFF_MAX)
		delay = SCHEDULE_BACKOFF_MAX;
	hold->attempts++;
	hold->until = now + delay;
	snprintf(hold->why, sizeof(hold->why), "%s", why ? why : "unknown error");
	return hold;
}

void schedule_hold_clear(struct schedule_hold *holds, size_t *n, const char *id)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcmp(holds[i].id, id) == 0) {
			holds[i] = holds[*n - 1];
			(*n)--;
			return;
		}
	}
}

void schedule_holds_prune(struct schedule_hold *holds, size_t *n,
			  const struct state *state)
{
	size_t i = 0;

	while (i < *n) {
		bool live = false;

		for (size_t g = 0; state && g < state->n_grants; g++)
			if (strcmp(state->grants[g].id, holds[i].id) == 0)
				live = true;
		if (live) {
			i++;
		} else {
			holds[i] = holds[*n - 1];
			(*n)--;
		}
	}
}

int schedule_deadline(time_t now, int64_t duration, time_t until,
		      int64_t max_duration, time_t *out, const char **why)
{
	int64_t deadline, span;

	if ((duration != 0) == (until != 0)) {
		*why = "give either a duration or an end time, not both";
		return SL_REFUSED;
	}
	if (duration < 0) {
		*why = "the duration is negative";
		return SL_REFUSED;
	}
	if (duration > 0) {
		if (duration > max_duration) {
			*why = "the duration is longer than max_duration allows";
			return SL_REFUSED;
		}
		if (__builtin_add_overflow((int64_t)now, duration, &deadline)) {
			*why = "the duration is too long";
			return SL_REFUSED;
		}
	} else {
		deadline = (int64_t)until;
		if (deadline <= (int64_t)now) {
			*why = "the end time is not in the future";
			return SL_REFUSED;
		}
		if (__builtin_sub_overflow(deadline, (int64_t)now, &span) ||
		    span > max_duration) {
			*why = "the end time is further away than max_duration allows";
			return SL_REFUSED;
		}
	}
	if ((int64_t)(time_t)deadline != deadline) {
		*why = "the deadline is out of range";
		return SL_REFUSED;
	}
	*out = (time_t)deadline;
	return 0;
}

void schedule_timer_spec(time_t wake, struct itimerspec *out)
{
	*out = (struct itimerspec){ 0 };
	out->it_value.tv_sec = wake;
}

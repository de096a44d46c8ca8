/* Expiry scheduling with an injected clock: due grants, next wake-up, clock
 * jumps in both directions, retry holds, deadline policy. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schedule.h"
#include "test.h"

/* A state of grants built by hand: schedule only reads id and expires. */
static struct state *state_with(size_t n, const char *const ids[],
				const time_t expires[])
{
	struct state *state = calloc(1, sizeof(*state));

	if (!state)
		abort();
	state->grants = calloc(n ? n : 1, sizeof(*state->grants));
	if (!state->grants)
		abort();
	for (size_t i = 0; i < n; i++) {
		snprintf(state->grants[i].id, sizeof(state->grants[i].id), "%s",
			 ids[i]);
		state->grants[i].expires = expires[i];
	}
	state->n_grants = n;
	return state;
}

static void state_drop(struct state *state)
{
	free(state->grants);
	free(state);
}

/* Remove grant idx the way the daemon does after ending it. */
static void state_end(struct state *state, const char *id)
{
	for (size_t i = 0; i < state->n_grants; i++) {
		if (strcmp(state->grants[i].id, id) == 0) {
			state->grants[i] = state->grants[state->n_grants - 1];
			state->n_grants--;
			return;
		}
	}
	abort();
}

static const time_t T = 1800000000; /* 2027-01-15 */

static void test_empty(void)
{
	struct state *state = state_with(0, NULL, NULL);
	struct schedule_plan plan;
	struct itimerspec spec;

	CHECK_INT(schedule_plan(state, NULL, 0, T, &plan), 0);
	CHECK_INT(plan.n_due, 0);
	/* Nothing pending: the timer is disarmed, the daemon sleeps. */
	CHECK_INT(plan.next_wake, 0);
	CHECK_INT(schedule_earliest_deadline(state), 0);
	schedule_timer_spec(plan.next_wake, &spec);
	CHECK_INT(spec.it_value.tv_sec, 0);
	CHECK_INT(spec.it_value.tv_nsec, 0);
	CHECK_INT(spec.it_interval.tv_sec, 0);
	schedule_plan_finish(&plan);
	CHECK_INT(schedule_plan(NULL, NULL, 0, T, &plan), 0);
	CHECK_INT(plan.n_due, 0);
	CHECK_INT(plan.next_wake, 0);
	state_drop(state);
}

static void test_due_and_next(void)
{
	const char *ids[] = { "aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc",
			      "dddddddddddd" };
	const time_t expires[] = { T + 100, T - 5, T, T + 50 };
	struct state *state = state_with(4, ids, expires);
	struct schedule_plan plan;
	struct itimerspec spec;

	CHECK_INT(schedule_earliest_deadline(state), T - 5);
	CHECK(schedule_grant_due(&state->grants[2], T));
	CHECK(!schedule_grant_due(&state->grants[2], T - 1));

	CHECK_INT(schedule_plan(state, NULL, 0, T, &plan), 0);
	/* Due at exactly the deadline, earliest first. */
	CHECK_INT(plan.n_due, 2);
	if (plan.n_due == 2) {
		CHECK_STR(plan.due[0], "bbbbbbbbbbbb");
		CHECK_STR(plan.due[1], "cccccccccccc");
	}
	CHECK_INT(plan.next_wake, T + 50);
	schedule_timer_spec(plan.next_wake, &spec);
	CHECK_INT(spec.it_value.tv_sec, T + 50);
	CHECK_INT(spec.it_interval.tv_sec, 0);
	schedule_plan_finish(&plan);
	CHECK(plan.due == NULL);

	/* One second earlier, nothing is due yet and the timer aims at the
	 * first deadline, which lies in the past for nobody. */
	CHECK_INT(schedule_plan(state, NULL, 0, T - 6, &plan), 0);
	CHECK_INT(plan.n_due, 0);
	CHECK_INT(plan.next_wake, T - 5);
	schedule_plan_finish(&plan);
	state_drop(state);
}

/* Equal deadlines are all due together, ordered by id for determinism. */
static void test_same_deadline(void)
{
	const char *ids[] = { "ffffffffffff", "111111111111", "888888888888" };
	const time_t expires[] = { T, T, T };
	struct state *state = state_with(3, ids, expires);
	struct schedule_plan plan;

	CHECK_INT(schedule_plan(state, NULL, 0, T + 1, &plan), 0);
	CHECK_INT(plan.n_due, 3);
	if (plan.n_due == 3) {
		CHECK_STR(plan.due[0], "111111111111");
		CHECK_STR(plan.due[1], "888888888888");
		CHECK_STR(plan.due[2], "ffffffffffff");
	}
	CHECK_INT(plan.next_wake, 0);
	schedule_plan_finish(&plan);
	state_drop(state);
}

/* Simulate the daemon's loop over a clock that jumps: the timer fires or is
 * cancelled (clock set), the daemon re-reads the clock, ends what is due and
 * re-arms. */
static void test_clock_jumps(void)
{
	const char *ids[] = { "aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc" };
	const time_t expires[] = { T + 3600, T + 7200, T + 86400 };
	struct state *state = state_with(3, ids, expires);
	struct schedule_plan plan;
	time_t now = T;

	CHECK_INT(schedule_plan(state, NULL, 0, now, &plan), 0);
	CHECK_INT(plan.n_due, 0);
	CHECK_INT(plan.next_wake, T + 3600);
	schedule_plan_finish(&plan);

	/* The clock is stepped forward by two hours and a bit: both grants
	 * whose deadline was skipped over are due at once. */
	now = T + 7300;
	CHECK_INT(schedule_plan(state, NULL, 0, now, &plan), 0);
	CHECK_INT(plan.n_due, 2);
	if (plan.n_due == 2) {
		CHECK_STR(plan.due[0], "aaaaaaaaaaaa");
		CHECK_STR(plan.due[1], "bbbbbbbbbbbb");
		state_end(state, plan.due[0]);
		state_end(state, plan.due[1]);
	}
	CHECK_INT(plan.next_wake, T + 86400);
	schedule_plan_finish(&plan);

	/* Stepped back by a day: nothing is due; the remaining deadline is
	 * an absolute instant and stays where it was (no early revocation,
	 * no deadline drift by the size of the step). */
	now = T + 7300 - 86400;
	CHECK_INT(schedule_plan(state, NULL, 0, now, &plan), 0);
	CHECK_INT(plan.n_due, 0);
	CHECK_INT(plan.next_wake, T + 86400);
	schedule_plan_finish(&plan);

	/* And when the clock reaches it, it is due. */
	now = T + 86400;
	CHECK_INT(schedule_plan(state, NULL, 0, now, &plan), 0);
	CHECK_INT(plan.n_due, 1);
	CHECK_INT(plan.next_wake, 0);
	schedule_plan_finish(&plan);
	state_drop(state);
}

static void test_holds(void)
{
	const char *ids[] = { "aaaaaaaaaaaa", "bbbbbbbbbbbb" };
	const time_t expires[] = { T - 10, T + 500 };
	struct state *state = state_with(2, ids, expires);
	struct schedule_hold *holds = NULL;
	size_t n_holds = 0;
	struct schedule_plan plan;

	const struct schedule_hold *hold;

	/* Ending a failed at T: hold it for the first backoff. */
	hold = schedule_hold_fail(&holds, &n_holds, "aaaaaaaaaaaa", T, "the disk is full");
	CHECK(hold != NULL);
	CHECK_INT(n_holds, 1);
	CHECK_INT(hold->attempts, 1);
	CHECK_INT(hold->since, T);
	CHECK_STR(hold->why, "the disk is full");
	CHECK_INT(schedule_plan(state, holds, n_holds, T, &plan), 0);
	CHECK_INT(plan.n_due, 0);
	CHECK_INT(plan.next_wake, T + SCHEDULE_BACKOFF_FIRST);
	schedule_plan_finish(&plan);

	/* Failing again doubles the wait, replaces the reason and keeps the
	 * first failure's time; it stays one hold. */
	hold = schedule_hold_fail(&holds, &n_holds, "aaaaaaaaaaaa", T + 5, "permission denied");
	CHECK_INT(n_holds, 1);
	CHECK_INT(hold->attempts, 2);
	CHECK_INT(hold->since, T);
	CHECK_INT(hold->until, T + 5 + 2 * SCHEDULE_BACKOFF_FIRST);
	CHECK_STR(hold->why, "permission denied");
	CHECK_INT(schedule_plan(state, holds, n_holds, T + 15, &plan), 0);
	CHECK_INT(plan.n_due, 1);
	CHECK_INT(plan.next_wake, T + 500);
	schedule_plan_finish(&plan);
	/* ... up to SCHEDULE_BACKOFF_MAX, never more. */
	for (int k = 0; k < 20; k++)
		hold = schedule_hold_fail(&holds, &n_holds, "aaaaaaaaaaaa", T + 20, "again");
	CHECK_INT(hold->until, T + 20 + SCHEDULE_BACKOFF_MAX);
	CHECK_INT(hold->attempts, 22);
	CHECK(schedule_hold_find(holds, n_holds, "aaaaaaaaaaaa") == hold);
	CHECK(schedule_hold_find(holds, n_holds, "bbbbbbbbbbbb") == NULL);
	schedule_hold_clear(holds, &n_holds, "aaaaaaaaaaaa");
	hold = schedule_hold_fail(&holds, &n_holds, "aaaaaaaaaaaa", T + 30, "once more");
	CHECK_INT(hold->until, T + 30 + SCHEDULE_BACKOFF_FIRST);

	/* A hold that lies far ahead (the clock was stepped back a week
	 * after it was set) delays a due grant by at most
	 * SCHEDULE_BACKOFF_MAX from now, not by a week. */
	hold = schedule_hold_fail(&holds, &n_holds, "bbbbbbbbbbbb", T + 500 + 7 * 86400, "stuck");
	CHECK(hold != NULL);
	CHECK_INT(schedule_plan(state, holds, n_holds, T + 600, &plan), 0);
	CHECK_INT(plan.n_due, 1); /* aaaa; bbbb is held */
	CHECK_INT(plan.next_wake, T + 600 + SCHEDULE_BACKOFF_MAX);
	schedule_plan_finish(&plan);

	schedule_hold_clear(holds, &n_holds, "bbbbbbbbbbbb");
	CHECK_INT(n_holds, 1);
	schedule_hold_clear(holds, &n_holds, "no-such-id");
	CHECK_INT(n_holds, 1);

	/* A hold whose grant is gone is pruned. */
	state_end(state, "aaaaaaaaaaaa");
	schedule_holds_prune(holds, &n_holds, state);
	CHECK_INT(n_holds, 0);
	free(holds);
	state_drop(state);
}

static void test_deadline(void)
{
	const int64_t max = 7 * 86400;
	time_t deadline = 0;
	const char *why = NULL;

	CHECK_INT(schedule_deadline(T, 3600, 0, max, &deadline, &why), 0);
	CHECK_INT(deadline, T + 3600);
	CHECK_INT(schedule_deadline(T, max, 0, max, &deadline, &why), 0);
	CHECK_INT(deadline, T + max);
	CHECK_INT(schedule_deadline(T, 0, T + 1, max, &deadline, &why), 0);
	CHECK_INT(deadline, T + 1);
	CHECK_INT(schedule_deadline(T, 0, T + max, max, &deadline, &why), 0);
	CHECK_INT(deadline, T + max);

	static const struct {
		const char *name;
		int64_t duration;
		time_t until;
		const char *why;
	} refused[] = {
		{ "neither", 0, 0, "give either a duration or an end time, not both" },
		{ "both", 60, T + 60, "give either a duration or an end time, not both" },
		{ "negative", -60, 0, "the duration is negative" },
		{ "over max", 7 * 86400 + 1, 0,
		  "the duration is longer than max_duration allows" },
		{ "until now", 0, T, "the end time is not in the future" },
		{ "until past", 0, T - 1, "the end time is not in the future" },
		{ "until over max", 0, T + 7 * 86400 + 1,
		  "the end time is further away than max_duration allows" },
	};
	for (size_t i = 0; i < SL_ARRAY_SIZE(refused); i++) {
		deadline = 42;
		why = NULL;
		CHECK_MSG(schedule_deadline(T, refused[i].duration,
					    refused[i].until, max, &deadline,
					    &why) == SL_REFUSED,
			  "%s", refused[i].name);
		CHECK_STR(why, refused[i].why);
		CHECK_INT(deadline, 42); /* untouched on refusal */
	}
	/* Overflow of now + duration is refused, not wrapped. */
	CHECK_INT(schedule_deadline(T, INT64_MAX, 0, INT64_MAX, &deadline, &why),
		  SL_REFUSED);
	CHECK_STR(why, "the duration is too long");
	/* A clock before 1970 must not make a huge until look near. */
	CHECK_INT(schedule_deadline(-1000, 0, (time_t)INT64_MAX, max, &deadline,
				    &why), SL_REFUSED);
}

int main(void)
{
	TEST(test_empty());
	TEST(test_due_and_next());
	TEST(test_same_deadline());
	TEST(test_clock_jumps());
	TEST(test_holds());
	TEST(test_deadline());
	return test_done();
}

/* The one expiry timer: a timerfd on CLOCK_REALTIME armed for the next
 * deadline, cancelled (and so re-read) when the clock is set. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "daemon.h"
#include "grant.h"
#include "log.h"
#include "timeutil.h"

int daemon_timer_open(struct daemon *d)
{
	d->timer_fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->timer_fd < 0) {
		log_err("cannot create the expiry timer: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static void timer_arm(struct daemon *d, time_t wake)
{
	struct itimerspec spec;

	schedule_timer_spec(wake, &spec);
	/* CANCEL_ON_SET: a clock step cancels the wait with ECANCELED, so the
	 * deadline is compared with the new time at once. */
	if (timerfd_settime(d->timer_fd,
			    TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &spec,
			    NULL) < 0) {
		log_err("cannot arm the expiry timer: %s", strerror(errno));
		return;
	}
	if (wake != 0 && wake != d->armed_for) {
		char when[32];

		time_format_utc(wake, when, sizeof(when));
		log_debug("next expiry check at %s", when);
	}
	d->armed_for = wake;
}

void daemon_expire_due(struct daemon *d)
{
	struct schedule_plan plan;
	time_t now;
	int r;

	/* Ending grants takes time (child processes, fsync); loop until a
	 * plan finds nothing more due at the time it was made. */
	for (int round = 0; round < 8; round++) {
		int *results;
		const char **whys;

		now = daemon_now();
		schedule_holds_prune(d->holds, &d->n_holds, d->state);
		r = schedule_plan(d->state, d->holds, d->n_holds, now, &plan);
		if (r < 0) {
			log_err("cannot plan expiry: %s; retrying in %d s",
				strerror(-r), SCHEDULE_RETRY_SECONDS);
			timer_arm(d, now + SCHEDULE_RETRY_SECONDS);
			return;
		}
		if (plan.n_due == 0) {
			time_t notice = daemon_sessions_notice(d, now);

			timer_arm(d, notice && (plan.next_wake == 0 || notice < plan.next_wake)
					     ? notice
					     : plan.next_wake);
			schedule_plan_finish(&plan);
			return;
		}
		/* All that are due end as one round: one edit per account,
		 * one save of the state, a record each. */
		results = calloc(plan.n_due, sizeof(*results));
		whys = calloc(plan.n_due, sizeof(*whys));
		if (!results || !whys ||
		    daemon_grants_end(d, plan.n_due,
				      (const char (*)[AUTHKEYS_ID_LEN + 1])plan.due,
				      "expire", NULL, NULL, results, whys) < 0) {
			log_err("out of memory ending expired grants; retrying in %d s",
				SCHEDULE_RETRY_SECONDS);
			free(results);
			free(whys);
			schedule_plan_finish(&plan);
			timer_arm(d, daemon_now() + SCHEDULE_RETRY_SECONDS);
			return;
		}
		/* Those that could not end are held back and recorded by
		 * daemon_grants_end, and tried again after their backoff. */
		free(results);
		free(whys);
		schedule_plan_finish(&plan);
	}
	/* Still more due after several rounds: come back at once through the
	 * event loop instead of starving the socket. */
	timer_arm(d, daemon_now());
}

void daemon_timer_event(struct daemon *d)
{
	uint64_t expirations;
	ssize_t n;

	n = read(d->timer_fd, &expirations, sizeof(expirations));
	if (n < 0 && errno == ECANCELED)
		log_info("the system clock was set; checking deadlines against the new time");
	else if (n < 0 && errno != EAGAIN)
		log_warn("reading the expiry timer: %s", strerror(errno));
	daemon_expire_due(d);
}

/*
 * Who gets the daemon's attention when many knock: connection slots per
 * uid (root always finds one), and how often a refusal of an outsider is
 * written to the audit log. Pure functions of their inputs and an injected
 * clock, so that tests can drive them.
 */
#ifndef SSHLEASE_ADMISSION_H
#define SSHLEASE_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Connections served at once; more are accepted and closed at once. */
#define ADMISSION_MAX_CONNECTIONS 64
/* Slots only root may take, so that no other uid can lock root out. */
#define ADMISSION_ROOT_RESERVED 8
/* Connections one uid other than root may hold at once. */
#define ADMISSION_MAX_PER_UID 8

/*
 * Whether a new connection from uid may take a slot, when open_total
 * connections are open, open_of_uid of them from that uid. Root may take
 * any free slot; another uid at most ADMISSION_MAX_PER_UID, and never one
 * of the last ADMISSION_ROOT_RESERVED.
 */
bool admission_connection_allowed(uid_t uid, size_t open_total,
				  size_t open_of_uid);

/* At most one audit record per uid in this window for refused outsiders. */
#define ADMISSION_REFUSAL_WINDOW_MS (60 * 1000)
/* Uids remembered at once; the one recorded longest ago makes room. */
#define ADMISSION_REFUSAL_UIDS 64

struct admission_refusal {
	bool used;
	uid_t uid;
	long long recorded_ms;    /* when its last record was written */
	unsigned long suppressed; /* refusals since then, not recorded */
};

struct admission_refusals {
	struct admission_refusal uids[ADMISSION_REFUSAL_UIDS];
};

/*
 * A refusal of uid happened at now_ms (a monotonic clock). Returns true
 * when it is to be recorded: the first of uid, or the first once
 * ADMISSION_REFUSAL_WINDOW_MS has passed since uid's last record; then
 * *suppressed gets how many refusals of uid went unrecorded in between.
 * Returns false (counting it) otherwise. A uid pushed out of a full table
 * loses its count: its next refusal is recorded as a first one.
 */
bool admission_refusal_record(struct admission_refusals *refusals, uid_t uid,
			      long long now_ms, unsigned long *suppressed);

#endif

/* Connection slots per uid and the pace of refusal records. */
#include "admission.h"

bool admission_connection_allowed(uid_t uid, size_t open_total,
				  size_t open_of_uid)
{
	if (uid == 0)
		return open_total < ADMISSION_MAX_CONNECTIONS;
	return open_total < ADMISSION_MAX_CONNECTIONS - ADMISSION_ROOT_RESERVED &&
	       open_of_uid < ADMISSION_MAX_PER_UID;
}

bool admission_refusal_record(struct admission_refusals *refusals, uid_t uid,
			      long long now_ms, unsigned long *suppressed)
{
	struct admission_refusal *slot = NULL, *free_slot = NULL, *oldest = NULL;

	*suppressed = 0;
	for (size_t i = 0; i < ADMISSION_REFUSAL_UIDS; i++) {
		struct admission_refusal *r = &refusals->uids[i];

		if (r->used && r->uid == uid) {
			slot = r;
			break;
		}
		if (!r->used) {
			if (!free_slot)
				free_slot = r;
		} else if (!oldest || r->recorded_ms < oldest->recorded_ms) {
			oldest = r;
		}
	}
	if (!slot) {
		slot = free_slot ? free_slot : oldest;
		*slot = (struct admission_refusal){
			.used = true, .uid = uid, .recorded_ms = now_ms,
		};
		return true;
	}
	if (now_ms - slot->recorded_ms < ADMISSION_REFUSAL_WINDOW_MS) {
		slot->suppressed++;
		return false;
	}
	*suppressed = slot->suppressed;
	slot->suppressed = 0;
	slot->recorded_ms = now_ms;
	return true;
}

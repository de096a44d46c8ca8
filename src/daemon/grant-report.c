/* The report at a grant's end (sshlease(1) END OF A GRANT), from the
 * grant's tally: the "report" of its end record (and so of its journal
 * sentence). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "keyguard.h"
#include "timeutil.h"

/* [grant] report_changes: "; N files of the home changed during the
 * grant: a, b, ..." (the key files sshlease writes left out). */
static void changes_append(struct daemon *d, const struct grant *g, char *out, size_t size)
{
	char names[KEYGUARD_FILES_MAX][64];
	const char *skip[KEYGUARD_FILES_MAX];
	size_t n = keyguard_file_names(d->sshd.key_files[0] ? d->sshd.key_files : NULL, names,
				       KEYGUARD_FILES_MAX, NULL);
	struct home_changes *hc = calloc(1, sizeof(*hc));
	size_t used = strlen(out);
	struct account *acct = NULL;
	const char *why = NULL;
	int r;

	for (size_t i = 0; i < n; i++)
		skip[i] = names[i];
	r = hc ? account_lookup_uid(g->uid, &acct, &why) : -ENOMEM;
	if (r == 0)
		r = daemon_account_paused(d, g->uid, &why);
	if (r == 0)
		r = daemon_account_answered(d, acct,
					    home_changes_find(&d->authkeys, acct, g->created,
							      daemon_now(), skip, n, hc, &why));
	if (r != 0) {
		snprintf(out + used, size - used, "; files changed in the home: not counted (%s)",
			 why ? why : "out of memory");
		goto done;
	}
	used += (size_t)snprintf(out + used, size - used,
				 "; %s%zu file%s of the home changed during the grant%s",
				 hc->cut_short ? "at least " : "", hc->count, hc->count == 1 ? "" : "s",
				 hc->listed ? (hc->listed < hc->count ? ", the first: " : ": ") : "");
	/* An audit field keeps 1 KiB: the names that fit, then how many more. */
	for (size_t i = 0; i < hc->listed && used < size; i++) {
		if (used + strlen(hc->paths[i]) + 40 > DAEMON_REPORT_KEPT) {
			used += (size_t)snprintf(out + used, size - used, " and %zu more",
						 hc->count - i);
			break;
		}
		used += (size_t)snprintf(out + used, size - used, "%s%s", i ? ", " : "", hc->paths[i]);
	}
done:
	account_free(acct);
	free(hc);
}

/* "the crontab, systemd linger" of the bits set, or "none". */
static void footholds_text(unsigned bits, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; i < FOOTHOLD_COUNT && used < size; i++)
		if (bits & (1u << i))
			used += (size_t)snprintf(out + used, size - used, "%s%s", used ? ", " : "",
						 foothold_label((enum foothold_item)i));
	if (!out[0])
		snprintf(out, size, "none");
}

void daemon_grant_report(struct daemon *d, const struct grant *g, char *out, size_t size)
{
	const struct grant_tally zero = { 0 }, *t = g->tally ? g->tally : &zero;
	char time_text[64], sessions[320], keys[160], footholds[160];

	if (t->sessions == 0) {
		snprintf(sessions, sizeof(sessions), "no session");
	} else {
		if (t->seconds > 0)
			duration_format((int64_t)t->seconds, time_text, sizeof(time_text));
		else
			snprintf(time_text, sizeof(time_text), "under a second");
		snprintf(sessions, sizeof(sessions), "%u session%s, %s in all, from %s", t->sessions,
			 t->sessions == 1 ? "" : "s", time_text, t->addresses[0] ? t->addresses : "?");
	}
	if (t->keys_added == 0)
		snprintf(keys, sizeof(keys), "no key added");
	else
		snprintf(keys, sizeof(keys), "%u key line%s added (%u removed, %u kept)",
			 t->keys_added, t->keys_added == 1 ? "" : "s", t->keys_removed,
			 t->keys_added - t->keys_removed);
	if (t->links_moved) {
		size_t used = strlen(keys);

		snprintf(keys + used, sizeof(keys) - used, ", %u link%s in place of key files moved aside",
			 t->links_moved, t->links_moved == 1 ? "" : "s");
	}
	footholds_text(t->footholds, footholds, sizeof(footholds));
	snprintf(out, size, "%s; %s; footholds: %s", sessions, keys, footholds);
	if (d->config->report_changes && t->sessions > 0)
		changes_append(d, g, out, size);
}

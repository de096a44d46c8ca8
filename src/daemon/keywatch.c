/* Keys added while a grant is live (DESIGN.md §13): a snapshot of an
 * account's key files when its first live grant begins, a watcher per such
 * account, and a sweep through the engine whenever the watcher speaks:
 * every line that is neither the account's own nor a live grant's is
 * recorded and, by default, removed. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "daemon.h"
#include "grant.h"
#include "keyguard.h"
#include "log.h"
#include "timeutil.h"
#include "userwatch.h"

/* A watcher that died this soon after its start is not started again
 * before the next round after that long. */
#define WATCHER_RESTART_MS 1000

static bool has_live_grant(const struct daemon *d, uid_t uid)
{
	for (size_t i = 0; i < d->state->n_grants; i++)
		if (d->state->grants[i].uid == uid)
			return true;
	return false;
}

static size_t key_files(const struct daemon *d, char names[][64])
{
	return keyguard_file_names(d->sshd.key_files[0] ? d->sshd.key_files : NULL, names,
				   KEYGUARD_FILES_MAX, NULL);
}

static struct key_watcher *watcher_find(struct daemon *d, uid_t uid)
{
	for (size_t i = 0; i < d->n_key_watchers; i++)
		if (d->key_watchers[i].uid == uid)
			return &d->key_watchers[i];
	return NULL;
}

static void watcher_stop(struct daemon *d, struct key_watcher *w)
{
	if (w->fd >= 0 && d->epoll_fd >= 0)
		epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, w->fd, NULL);
	userwatch_stop(w->pid, w->fd);
	w->pid = -1;
	w->fd = -1;
}

static void watcher_start(struct daemon *d, struct key_watcher *w, const struct account *acct)
{
	char names[KEYGUARD_FILES_MAX][64];
	const char *list[KEYGUARD_FILES_MAX];
	size_t n = key_files(d, names);
	const char *why = NULL;
	int r;

	for (size_t i = 0; i < n; i++)
		list[i] = names[i];
	r = userwatch_start(acct, list, n, &w->pid, &w->fd, &why);
	if (r < 0) {
		log_err("cannot watch the key files of %s: %s: %s", acct->name, why,
			strerror(-r));
		return;
	}
	w->started_ms = time_monotonic_ms();
	struct epoll_event ev = { .events = EPOLLIN,
				  .data.u32 = DAEMON_TAG_KEYWATCH | (uint32_t)w->pid };

	if (d->epoll_fd >= 0 && epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, w->fd, &ev) < 0) {
		log_err("cannot watch the key files of %s: epoll: %s", acct->name,
			strerror(errno));
		watcher_stop(d, w);
	}
}

/* The live grants' own lines of uid, in every expiry-time form (an
 * extension made under another sshd version wrote another). */
static size_t ours_of(const struct daemon *d, uid_t uid, char ***out)
{
	static const enum authkeys_expiry forms[] = { AUTHKEYS_EXPIRY_UTC, AUTHKEYS_EXPIRY_LOCAL,
						      AUTHKEYS_EXPIRY_NONE };
	char **lines = NULL;
	size_t n = 0;

	for (size_t i = 0; i < d->state->n_grants; i++) {
		const struct grant *g = &d->state->grants[i];

		if (g->uid != uid)
			continue;
		for (size_t f = 0; f < SL_ARRAY_SIZE(forms); f++) {
			const char *why = NULL;
			char *line = NULL, **grown;

			if (daemon_grant_line(g, forms[f], &line, &why) != 0)
				continue;
			grown = realloc(lines, (n + 1) * sizeof(*lines));
			if (!grown) {
				free(line);
				break;
			}
			lines = grown;
			lines[n++] = line;
		}
	}
	*out = lines;
	return n;
}

static size_t added_of(const struct daemon *d, uid_t uid)
{
	size_t n = 0;

	for (size_t i = 0; i < d->state->n_added_keys; i++)
		n += d->state->added_keys[i].uid == uid;
	return n;
}

/* The live grants of uid, for the record: "id, id". */
static void grants_of(const struct daemon *d, uid_t uid, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < d->state->n_grants && used + AUTHKEYS_ID_LEN + 3 < size; i++)
		if (d->state->grants[i].uid == uid)
			used += (size_t)snprintf(out + used, size - used, "%s%s", used ? ", " : "",
						 d->state->grants[i].id);
}

/* Count one more found thing in the tally of each live grant of uid. */
static void tally_live(struct daemon *d, uid_t uid, bool key, bool removed)
{
	for (size_t i = 0; i < d->state->n_grants; i++) {
		struct grant_tally *t;

		if (d->state->grants[i].uid != uid || !(t = grant_tally(&d->state->grants[i])))
			continue;
		if (!key) {
			t->links_moved++;
			continue;
		}
		t->keys_added++;
		t->keys_removed += removed;
	}
}

static void found_record(struct daemon *d, const struct account *acct, const char *file,
			 const struct keyguard_found *f, bool removed, bool *changed)
{
	struct added_key ak = { .uid = acct->uid, .at = daemon_now(), .removed = removed,
				.truncated = f->truncated };
	char grants[128], safe[200], reason[512];

	snprintf(ak.user, sizeof(ak.user), "%s", acct->name);
	snprintf(ak.file, sizeof(ak.file), "%s", file);
	if (!keyguard_line_key(f->line, f->len, ak.fingerprint, ak.key_type))
		ak.fingerprint[0] = ak.key_type[0] = '\0';
	grants_of(d, acct->uid, grants, sizeof(grants));
	log_safe(safe, sizeof(safe), f->line);
	snprintf(reason, sizeof(reason), "a line was added to ~/.ssh/%s while grant %s was live; %s: %s",
		 file, grants, removed ? "removed" : "kept (added_keys = report)", safe);
	log_warn("%s: %s", acct->name, reason);
	struct audit_event ev = {
		.event = "key_added",
		.user = acct->name,
		.key_type = ak.key_type[0] ? ak.key_type : NULL,
		.fingerprint = ak.fingerprint[0] ? ak.fingerprint : NULL,
		.by_uid = -1,
		.reason = reason,
	};
	daemon_audit(d, &ev);
	tally_live(d, acct->uid, true, removed);
	*changed = true;
	/* Logins made with it before it went end now. */
	if (removed && ak.fingerprint[0])
		daemon_sessions_planted(d, acct->name, ak.fingerprint);
	/* Kept in the state for show and for putting it back: bounded. */
	if (added_of(d, acct->uid) >= DAEMON_ADDED_KEYS_MAX)
		return;
	ak.line = strndup(f->line, f->len);
	ak.len = f->len;
	if (!ak.line || state_add_added_key(d->state, &ak) < 0) {
		free(ak.line);
		log_err("%s: out of memory recording an added key", acct->name);
		return;
	}
	*changed = true;
}

/* A key file the sweep cannot read: when it is a link made since the
 * snapshot (which refuses them), sshd reads keys through it that no sweep
 * sees, so it is moved out of sshd's way (added_keys = remove; with
 * report it stays, and the caller logs the refusal). True when one was
 * moved. Logins already made through it are not known by key, so they
 * are not ended here. */
static bool link_handle(struct daemon *d, const struct account *acct, const char *file,
			bool remove)
{
	static const char *const what[] = {
		[KEYGUARD_MOVED_SSH_SYMLINK] = "~/.ssh was replaced by a symlink",
		[KEYGUARD_MOVED_FILE_SYMLINK] = "a symlink was put in place of ~/.ssh/",
		[KEYGUARD_MOVED_FILE_LINK] = "a hard link was put in place of ~/.ssh/",
	};
	static const char *const done[] = {
		[KEYGUARD_MOVED_SSH_SYMLINK] = "renamed to ~/",
		[KEYGUARD_MOVED_FILE_SYMLINK] = "renamed to ~/.ssh/",
		[KEYGUARD_MOVED_FILE_LINK] = "replaced by a copy of its own, which is swept as any key file, at ~/.ssh/",
	};
	struct keyguard_moved moved;
	char grants[128], target[300], reason[768];
	char safe_to[sizeof(moved.to)], safe_target[sizeof(moved.target)];
	const char *why = NULL;
	int r;

	/* With report, nothing is moved: the caller logs the refusal. */
	if (!remove)
		return false;
	r = daemon_account_paused(d, acct->uid, &why);
	if (r == 0)
		r = daemon_account_answered(d, acct,
					    keyguard_move_aside(&d->authkeys, acct, file, &moved, &why));
	if (r != 0) {
		log_err("%s: cannot move a link in place of ~/.ssh/%s out of sshd's way: %s",
			acct->name, file, daemon_keys_why(r, why));
		return false;
	}
	if (moved.what == KEYGUARD_MOVED_NONE)
		return false;
	grants_of(d, acct->uid, grants, sizeof(grants));
	/* Names the account chose: only printable text goes on record. */
	log_safe(safe_to, sizeof(safe_to), moved.to);
	log_safe(safe_target, sizeof(safe_target), moved.target);
	if (moved.target[0])
		snprintf(target, sizeof(target), "; it pointed to %.250s", safe_target);
	else
		target[0] = '\0';
	snprintf(reason, sizeof(reason),
		 "%s%s while grant %s was live; sshlease follows no link, so keys read through it could not be checked: %s%s (%s)%s",
		 what[moved.what], moved.what == KEYGUARD_MOVED_SSH_SYMLINK ? "" : file, grants,
		 done[moved.what], safe_to,
		 moved.what == KEYGUARD_MOVED_FILE_LINK ?
			 "the file it shared keeps its other names and every byte" :
			 "no byte it leads to was touched; renaming it back undoes this",
		 target);
	log_warn("%s: %s", acct->name, reason);
	struct audit_event ev = {
		.event = "key_file_moved",
		.user = acct->name,
		.by_uid = -1,
		.reason = reason,
	};
	daemon_audit(d, &ev);
	tally_live(d, acct->uid, false, false);
	return true;
}

/* Sweep every key file of the watched account kw. */
static void sweep(struct daemon *d, const struct key_watch *kw, struct key_watcher *w)
{
	char names[KEYGUARD_FILES_MAX][64];
	size_t n_names = key_files(d, names);
	struct account *acct = NULL;
	const char *why = NULL;
	char **ours = NULL;
	size_t n_ours;
	bool changed = false;
	int r;

	r = account_lookup_uid(kw->uid, &acct, &why);
	if (r != 0)
		return; /* the account is gone: so are its files */
	/* An account whose engine process stalled is left alone for a while,
	 * as for every edit: the sweep is owed and made when that ends
	 * (daemon_keywatch_sync), not lost. */
	if (w)
		w->pending = false;
	if (daemon_account_paused(d, kw->uid, &why) != 0) {
		if (w)
			w->pending = true;
		account_free(acct);
		return;
	}
	n_ours = ours_of(d, kw->uid, &ours);
	for (size_t i = 0; i < n_names; i++) {
		struct keyguard_sweep sw = {
			.name = names[i],
			.known = (const keyguard_hash *)kw->known,
			.n_known = kw->n_known,
			.ours = (const char *const *)ours,
			.n_ours = n_ours,
			.remove = !d->config->added_keys_report,
		};
		struct keyguard_found *found = NULL;
		size_t n_found = 0, total = 0;

		r = daemon_account_answered(d, acct,
					    keyguard_sweep(&d->authkeys, acct, &sw, &found, &n_found,
							   &total, &why));
		if (r == -ETIMEDOUT) {
			/* Left alone from now: the rest when the pause ends. */
			if (w)
				w->pending = true;
			log_err("%s: the look for keys added to ~/.ssh/%s did not finish; again once the account's pause ends",
				acct->name, names[i]);
			break;
		}
		/* A link in the way, moved: the name is free, nothing more to
		 * read (a new file there wakes the watcher again). */
		if (r == SL_REFUSED && link_handle(d, acct, names[i], sw.remove)) {
			changed = true;
			continue;
		}
		if (r != 0) {
			if (w && !w->refused_said)
				log_err("%s: cannot look for keys added to ~/.ssh/%s: %s", acct->name,
					names[i], daemon_keys_why(r, why));
			if (w)
				w->refused_said = true;
			continue;
		}
		for (size_t k = 0; k < n_found; k++)
			found_record(d, acct, names[i], &found[k], sw.remove, &changed);
		if (total > n_found)
			log_warn("%s: %zu more lines were added to ~/.ssh/%s (%s)", acct->name,
				 total - n_found, names[i], sw.remove ? "removed" : "kept");
		keyguard_found_free(found, n_found);
	}
	for (size_t i = 0; i < n_ours; i++)
		free(ours[i]);
	free(ours);
	account_free(acct);
	if (changed && state_save(d->config->state_dir, d->state) < 0)
		log_err("state not saved after recording added keys");
}

/* The snapshot of acct's key files, for a new watch. A file the engine
 * refuses to read (a symlink, a hard link, a symlink in place of ~/.ssh:
 * sshd reads keys through them that no sweep could check) gives SL_REFUSED
 * with the reason in refusal, when refusal is set (a new grant: it is
 * refused); else (a grant found at the start) it is logged and the watch
 * is made all the same, with the files that were read. */
static int snapshot(struct daemon *d, const struct account *acct, struct key_watch *kw,
		    char *refusal, size_t size)
{
	char names[KEYGUARD_FILES_MAX][64];
	size_t n_names = key_files(d, names);

	*kw = (struct key_watch){ .uid = acct->uid, .since = daemon_now() };
	snprintf(kw->user, sizeof(kw->user), "%s", acct->name);
	for (size_t i = 0; i < n_names; i++) {
		keyguard_hash *hashes = NULL, *grown;
		const char *why = NULL;
		size_t n = 0;
		int r = daemon_account_paused(d, acct->uid, &why);

		if (r == 0)
			r = daemon_account_answered(d, acct,
						    keyguard_snapshot(&d->authkeys, acct, names[i],
								      &hashes, &n, &why));
		/* A file not read is not in the snapshot, and the sweeps would
		 * take its lines for added ones: no watch without every file
		 * (a refused one aside for a grant found at the start, as
		 * before). */
		if (r != 0 && (refusal || r != SL_REFUSED)) {
			if (refusal && r == SL_REFUSED)
				snprintf(refusal, size,
					 "~/.ssh/%s of %s cannot be read to watch it for keys added during the grant (%s); sshd reads keys from it, so make it a plain file of the account's, or remove it",
					 names[i], acct->name, daemon_keys_why(r, why));
			else if (refusal)
				snprintf(refusal, size,
					 "cannot read ~/.ssh/%s of %s for the note of its own keys (%s); nothing was granted",
					 names[i], acct->name, daemon_keys_why(r, why));
			else
				log_err("%s: cannot read ~/.ssh/%s for the snapshot of its keys (%s); its watch waits for the next try",
					acct->name, names[i], daemon_keys_why(r, why));
			free(kw->known);
			kw->known = NULL;
			return r;
		}
		if (r != 0) {
			log_err("%s: cannot read ~/.ssh/%s for the snapshot of its keys: %s",
				acct->name, names[i], daemon_keys_why(r, why));
			continue;
		}
		grown = n ? realloc(kw->known, (kw->n_known + n) * sizeof(*grown)) : kw->known;
		if (n && !grown) {
			free(hashes);
			free(kw->known);
			return -ENOMEM;
		}
		kw->known = grown;
		if (n)
			memcpy(kw->known + kw->n_known, hashes, n * sizeof(*hashes));
		kw->n_known += n;
		free(hashes);
	}
	kw->n_known = keyguard_hashes_sort(kw->known, kw->n_known);
	daemon_footholds_begin(d, acct, kw);
	return 0;
}

int daemon_keywatch_begin(struct daemon *d, const struct account *acct, char *refusal,
			  size_t size)
{
	struct key_watch fresh;
	int r;

	if (state_find_key_watch(d->state, acct->uid))
		return 0;
	r = snapshot(d, acct, &fresh, refusal, size);
	if (r != 0)
		return r;
	if (r == 0)
		r = state_add_key_watch(d->state, &fresh);
	if (r < 0)
		free(fresh.known);
	return r;
}

size_t daemon_keywatch_take_ended(struct daemon *d, struct key_watch **out)
{
	struct key_watch *taken = NULL;
	size_t n = 0;

	for (size_t i = 0; i < d->state->n_key_watches;) {
		struct key_watch *kw = &d->state->key_watches[i], *grown;

		if (has_live_grant(d, kw->uid)) {
			i++;
			continue;
		}
		grown = out ? realloc(taken, (n + 1) * sizeof(*taken)) : NULL;
		if (out && !grown) {
			i++; /* kept: the next sync drops it */
			continue;
		}
		if (grown) {
			taken = grown;
			taken[n++] = *kw;
			kw->known = NULL; /* moved */
		}
		state_remove_key_watch(d->state, i);
	}
	if (out)
		*out = taken;
	return n;
}

void daemon_keywatch_put_back(struct daemon *d, struct key_watch *taken, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (state_find_key_watch(d->state, taken[i].uid) ||
		    state_add_key_watch(d->state, &taken[i]) < 0)
			free(taken[i].known);
	free(taken);
}

void daemon_keywatch_sync(struct daemon *d)
{
	long long now = time_monotonic_ms();
	bool changed = false;

	/* Watches of accounts whose last grant ended go (the paths that end
	 * grants drop them in the same save; this catches the rest). */
	{
		size_t before = d->state->n_key_watches;

		daemon_keywatch_take_ended(d, NULL);
		changed = d->state->n_key_watches != before;
	}
	for (size_t i = 0; i < d->n_key_watchers;) {
		struct key_watcher *w = &d->key_watchers[i];

		if (state_find_key_watch(d->state, w->uid) && has_live_grant(d, w->uid)) {
			i++;
			continue;
		}
		watcher_stop(d, w);
		d->key_watchers[i] = d->key_watchers[--d->n_key_watchers];
	}
	/* Accounts with a live grant get a snapshot and a watcher. */
	for (size_t i = 0; i < d->state->n_grants; i++) {
		const struct grant *g = &d->state->grants[i];
		struct key_watch *kw = state_find_key_watch(d->state, g->uid);
		struct key_watcher *w = watcher_find(d, g->uid);
		struct account *acct = NULL;
		const char *why = NULL;

		if (kw && w && w->pid > 0) {
			const char *why = NULL;

			if (w->pending && daemon_account_paused(d, w->uid, &why) == 0)
				sweep(d, kw, w);
			continue;
		}
		if (w && w->pid <= 0 && now - w->started_ms < WATCHER_RESTART_MS)
			continue;
		if (account_lookup_uid(g->uid, &acct, &why) != 0)
			continue;
		if (!kw) {
			/* A grant found at the start (a state from before the
			 * watches); grants made here have theirs already. */
			if (daemon_keywatch_begin(d, acct, NULL, 0) != 0) {
				/* Logged; tried again at the next round. */
				account_free(acct);
				continue;
			}
			changed = true;
		}
		if (!w) {
			struct key_watcher *grown = realloc(d->key_watchers,
							    (d->n_key_watchers + 1) * sizeof(*grown));

			if (!grown) {
				account_free(acct);
				continue;
			}
			d->key_watchers = grown;
			w = &d->key_watchers[d->n_key_watchers++];
			*w = (struct key_watcher){ .uid = g->uid, .pid = -1, .fd = -1 };
		}
		watcher_start(d, w, acct);
		account_free(acct);
	}
	if (changed && state_save(d->config->state_dir, d->state) < 0)
		log_err("state not saved after changing the key watches");
}

void daemon_keywatch_event(struct daemon *d, pid_t pid)
{
	struct key_watcher *w = NULL;
	struct key_watch *kw;
	char buf[64];
	ssize_t n;
	bool died = false;

	for (size_t i = 0; i < d->n_key_watchers && !w; i++)
		if (d->key_watchers[i].pid == pid)
			w = &d->key_watchers[i];
	if (!w)
		return;
	while ((n = read(w->fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == 'E')
				log_err("the key files of uid %lu cannot be watched: the walk from the home directory failed",
					(unsigned long)w->uid);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		died = true;
	kw = state_find_key_watch(d->state, w->uid);
	if (kw)
		sweep(d, kw, w);
	if (died) {
		log_warn("the watcher of uid %lu's key files exited; starting another",
			 (unsigned long)w->uid);
		watcher_stop(d, w);
	}
}

int daemon_keywatch_timeout_ms(const struct daemon *d)
{
	long long now = time_monotonic_ms(), earliest = -1;

	for (size_t i = 0; i < d->n_key_watchers; i++) {
		/* Owed with no pause on record (it ended): at once. */
		long long at = now;

		if (!d->key_watchers[i].pending)
			continue;
		for (size_t k = 0; k < d->n_backoffs; k++)
			if (d->backoffs[k].uid == d->key_watchers[i].uid)
				at = d->backoffs[k].until_ms;
		if (earliest < 0 || at < earliest)
			earliest = at;
	}
	if (earliest < 0)
		return -1;
	return earliest <= now ? 0 : earliest - now > INT_MAX ? INT_MAX : (int)(earliest - now);
}

void daemon_keywatch_close(struct daemon *d)
{
	for (size_t i = 0; i < d->n_key_watchers; i++)
		watcher_stop(d, &d->key_watchers[i]);
	free(d->key_watchers);
	d->key_watchers = NULL;
	d->n_key_watchers = 0;
}

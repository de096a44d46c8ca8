/*
 * The signatures of an account's footholds (footholds.h): stat and
 * directory listings, hashed. Root looks only at system directories;
 * ~/.config/systemd/user is read by the engine's child, as the account.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "footholds.h"
#include "userfs.h"

#define CRONTABS_DIR "/var/spool/cron/crontabs"
#define ATJOBS_DIR "/var/spool/cron/atjobs"
#define LINGER_DIR "/var/lib/systemd/linger"
/* The most entries one signature looks at (the rest are counted). */
#define ENTRIES_MAX 1024
#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
#define SIG_BYTES ((FOOTHOLD_SIG_SIZE - 1) / 2)

static const char *const names[FOOTHOLD_COUNT] = {
	[FOOTHOLD_CRONTAB] = "crontab",
	[FOOTHOLD_AT] = "at",
	[FOOTHOLD_LINGER] = "linger",
	[FOOTHOLD_USER_UNITS] = "user_units",
};

static const char *const labels[FOOTHOLD_COUNT] = {
	[FOOTHOLD_CRONTAB] = "the crontab",
	[FOOTHOLD_AT] = "the at jobs",
	[FOOTHOLD_LINGER] = "systemd linger",
	[FOOTHOLD_USER_UNITS] = "~/.config/systemd/user",
};

const char *foothold_name(enum foothold_item item)
{
	return (unsigned)item < FOOTHOLD_COUNT ? names[item] : "?";
}

bool foothold_from_name(const char *name, enum foothold_item *out)
{
	for (int i = 0; i < FOOTHOLD_COUNT; i++) {
		if (strcmp(names[i], name) == 0) {
			*out = (enum foothold_item)i;
			return true;
		}
	}
	return false;
}

const char *foothold_label(enum foothold_item item)
{
	return (unsigned)item < FOOTHOLD_COUNT ? labels[item] : "?";
}

bool foothold_sig_valid(const char *text)
{
	size_t len = strlen(text);

	if (len == 0 || strcmp(text, "-") == 0)
		return true;
	return len == FOOTHOLD_SIG_SIZE - 1 && strspn(text, "0123456789abcdef") == len;
}

/* ---- hashing what was seen ---- */

struct sig {
	crypto_generichash_state st;
	size_t entries;
};

static void sig_begin(struct sig *s, const char *domain)
{
	s->entries = 0;
	crypto_generichash_init(&s->st, NULL, 0, SIG_BYTES);
	crypto_generichash_update(&s->st, (const unsigned char *)domain, strlen(domain) + 1);
}

static void sig_text(struct sig *s, const char *text)
{
	crypto_generichash_update(&s->st, (const unsigned char *)text, strlen(text) + 1);
}

/* One entry: its name, type, size and times (and inode: a file written
 * anew is another one). */
static void sig_stat(struct sig *s, const char *name, const struct stat *st)
{
	char text[160];

	snprintf(text, sizeof(text), "%o %llu %lld %lld.%09ld %lld.%09ld",
		 (unsigned)(st->st_mode & (S_IFMT | 07777)), (unsigned long long)st->st_ino,
		 (long long)st->st_size, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
		 (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
	sig_text(s, name);
	sig_text(s, text);
	s->entries++;
}

static void sig_end(struct sig *s, foothold_sig out)
{
	unsigned char digest[SIG_BYTES];
	char count[32];

	snprintf(count, sizeof(count), "%zu", s->entries);
	sig_text(s, count);
	crypto_generichash_final(&s->st, digest, sizeof(digest));
	sodium_bin2hex(out, FOOTHOLD_SIG_SIZE, digest, sizeof(digest));
}

static int name_compare(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir_fd (not . and ..), sorted, at most ENTRIES_MAX; NULL
 * with *n 0 when it cannot be listed. dir_fd stays open. */
static char **list_names(int dir_fd, size_t *n, size_t *more)
{
	int fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	char **list = NULL;
	struct dirent *e;

	*n = *more = 0;
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	list = calloc(ENTRIES_MAX, sizeof(*list));
	while (list && (e = readdir(dir))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (*n >= ENTRIES_MAX) {
			(*more)++;
			continue;
		}
		list[*n] = strdup(e->d_name);
		if (list[*n])
			(*n)++;
	}
	closedir(dir);
	if (list)
		qsort(list, *n, sizeof(*list), name_compare);
	return list;
}

static void names_free(char **list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		free(list[i]);
	free(list);
}

/* ---- as root: system directories ---- */

/* A file named after the account in dir: its stat, or "-". */
static void file_sig(const char *dir, const char *domain, const char *user, foothold_sig out)
{
	char path[320];
	struct stat st;
	struct sig s;

	out[0] = '\0';
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, user) >= sizeof(path))
		return;
	if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			snprintf(out, FOOTHOLD_SIG_SIZE, "-");
		return;
	}
	sig_begin(&s, domain);
	sig_stat(&s, user, &st);
	sig_end(&s, out);
}

/* The at jobs: the regular files of ATJOBS_DIR owned by uid (only
 * those: other accounts' jobs neither count nor crowd them out). */
static void at_sig(uid_t uid, foothold_sig out)
{
	int dir_fd = open(ATJOBS_DIR, DIR_FLAGS);
	DIR *dir = dir_fd >= 0 ? fdopendir(dir_fd) : NULL;
	char **list = NULL;
	size_t n = 0, more = 0;
	struct dirent *e;
	struct sig s;

	out[0] = '\0';
	if (!dir) {
		if (errno == ENOENT)
			snprintf(out, FOOTHOLD_SIG_SIZE, "-");
		if (dir_fd >= 0)
			close(dir_fd);
		return;
	}
	list = calloc(ENTRIES_MAX, sizeof(*list));
	while (list && (e = readdir(dir))) {
		struct stat st;

		if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || st.st_uid != uid)
			continue;
		if (n >= ENTRIES_MAX || !(list[n] = strdup(e->d_name))) {
			more++;
			continue;
		}
		n++;
	}
	if (list) {
		char count[32];

		qsort(list, n, sizeof(*list), name_compare);
		sig_begin(&s, "sshlease at jobs");
		for (size_t i = 0; i < n; i++) {
			struct stat st;

			if (fstatat(dirfd(dir), list[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
				sig_stat(&s, list[i], &st);
		}
		snprintf(count, sizeof(count), "%zu more", more);
		sig_text(&s, count);
		if (n == 0 && more == 0)
			snprintf(out, FOOTHOLD_SIG_SIZE, "-");
		else
			sig_end(&s, out);
	}
	names_free(list, n);
	closedir(dir);
}

/* ---- as the account: ~/.config/systemd/user ---- */

/* Every entry of dir_fd and, depth allowing, of its directories. */
static void units_feed(struct sig *s, int dir_fd, int depth)
{
	size_t n = 0, more = 0;
	char **list = list_names(dir_fd, &n, &more);
	char count[32];

	for (size_t i = 0; i < n; i++) {
		char target[512];
		struct stat st;
		ssize_t len;
		int sub;

		if (fstatat(dir_fd, list[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		sig_stat(s, list[i], &st);
		if (S_ISLNK(st.st_mode)) {
			len = readlinkat(dir_fd, list[i], target, sizeof(target) - 1);
			target[len > 0 ? len : 0] = '\0';
			sig_text(s, target);
		} else if (S_ISDIR(st.st_mode) && depth > 0) {
			sub = openat(dir_fd, list[i], DIR_FLAGS);
			if (sub >= 0) {
				units_feed(s, sub, depth - 1);
				close(sub);
			}
		}
	}
	snprintf(count, sizeof(count), "%zu more", more);
	sig_text(s, count);
	names_free(list, n);
}

/* Runs in the engine's child: the signature into the payload ("" when a
 * step cannot be opened, a link say: then nothing is known). */
static int units_scan(const void *arg, int home_fd, struct userfs_change *change)
{
	static const char *const path[] = { ".config", "systemd", "user" };
	foothold_sig out = "";
	int fd = home_fd, next;
	struct sig s;

	(void)arg;
	for (size_t i = 0; i < SL_ARRAY_SIZE(path); i++) {
		struct stat st;

		next = openat(fd, path[i], DIR_FLAGS);
		if (next < 0) {
			int e = errno;

			/* A link in the path (systemd follows it): its name
			 * and target are the signature, so that it shows. */
			if ((e == ELOOP || e == ENOTDIR) &&
			    fstatat(fd, path[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
				char target[512];
				ssize_t len = readlinkat(fd, path[i], target, sizeof(target) - 1);

				target[len > 0 ? len : 0] = '\0';
				sig_begin(&s, "sshlease user units link");
				sig_stat(&s, path[i], &st);
				sig_text(&s, target);
				sig_end(&s, out);
			} else if (e == ENOENT) {
				snprintf(out, sizeof(out), "-");
			}
			if (fd != home_fd)
				close(fd);
			fd = -1;
			break;
		}
		if (fd != home_fd)
			close(fd);
		fd = next;
	}
	if (fd >= 0) {
		sig_begin(&s, "sshlease user units");
		units_feed(&s, fd, 1);
		sig_end(&s, out);
		close(fd);
	}
	change->payload = strdup(out);
	if (!change->payload)
		return -ENOMEM;
	change->payload_len = strlen(out);
	return 0;
}

static int units_sig(const struct authkeys_ctx *ctx, const struct account *acct,
		     foothold_sig out)
{
	struct userfs_result res;
	const char *why = NULL;
	int r;

	out[0] = '\0';
	r = userfs_run(ctx, acct, &(struct userfs_op){ .home = units_scan }, &res, &why);
	if (r != 0)
		return r;
	if (res.payload && res.payload_len < FOOTHOLD_SIG_SIZE) {
		memcpy(out, res.payload, res.payload_len);
		out[res.payload_len] = '\0';
		if (!foothold_sig_valid(out))
			out[0] = '\0';
	}
	free(res.payload);
	return 0;
}

int footholds_take(const struct authkeys_ctx *ctx, const struct account *acct,
		   bool skip_account, foothold_sig out[FOOTHOLD_COUNT])
{
	file_sig(CRONTABS_DIR, "sshlease crontab", acct->name, out[FOOTHOLD_CRONTAB]);
	at_sig(acct->uid, out[FOOTHOLD_AT]);
	file_sig(LINGER_DIR, "sshlease linger", acct->name, out[FOOTHOLD_LINGER]);
	out[FOOTHOLD_USER_UNITS][0] = '\0';
	return skip_account ? 0 : units_sig(ctx, acct, out[FOOTHOLD_USER_UNITS]);
}

/* ---- as the account: the home's files changed during a grant ---- */

#define WALK_ENTRIES_MAX 200000
#define WALK_SECONDS 2
#define WALK_DEPTH_MAX 64

struct walk {
	time_t since, until;
	const char *const *skip;
	size_t n_skip;
	dev_t dev;
	size_t entries;
	bool stop;      /* the budget (time, entries) is spent */
	struct timespec deadline;
	struct home_changes *out;
};

static bool walk_over(struct walk *w)
{
	struct timespec now;

	if (w->entries >= WALK_ENTRIES_MAX)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > w->deadline.tv_sec ||
	       (now.tv_sec == w->deadline.tv_sec && now.tv_nsec >= w->deadline.tv_nsec);
}

static bool skipped(const struct walk *w, const char *path)
{
	for (size_t i = 0; i < w->n_skip; i++)
		if (strncmp(path, ".ssh/", 5) == 0 && strcmp(path + 5, w->skip[i]) == 0)
			return true;
	return false;
}

static void walk_note(struct walk *w, const char *path)
{
	struct home_changes *o = w->out;

	o->count++;
	if (o->listed >= HOME_CHANGES_LISTED)
		return;
	size_t len = strnlen(path, HOME_CHANGES_PATH_MAX - 1);

	memcpy(o->paths[o->listed], path, len);
	o->paths[o->listed][len] = '\0';
	for (char *c = o->paths[o->listed]; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	o->listed++;
}

/* The entries of dir_fd (at path, "" for the home), depth first. */
static void walk_dir(struct walk *w, int dir_fd, const char *path, int depth)
{
	size_t n = 0, more = 0;
	char **list = list_names(dir_fd, &n, &more);
	char sub[4096];

	/* A directory with more entries than are listed: the rest are not
	 * looked at, and the count says "at least"; the walk goes on. */
	if (more)
		w->out->cut_short = 1;
	for (size_t i = 0; i < n && !w->stop; i++) {
		struct stat st;

		if (walk_over(w)) {
			w->out->cut_short = 1;
			w->stop = true;
			break;
		}
		w->entries++;
		if (fstatat(dir_fd, list[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "/" : "", list[i]) >=
		    sizeof(sub)) {
			w->out->cut_short = 1;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			int fd;

			if (st.st_dev != w->dev)
				continue; /* another file system, not the home's */
			if (depth >= WALK_DEPTH_MAX) {
				w->out->cut_short = 1;
				continue;
			}
			fd = openat(dir_fd, list[i], DIR_FLAGS);
			if (fd >= 0) {
				walk_dir(w, fd, sub, depth + 1);
				close(fd);
			}
			continue;
		}
		if (st.st_ctim.tv_sec >= w->since && st.st_ctim.tv_sec <= w->until && !skipped(w, sub))
			walk_note(w, sub);
	}
	names_free(list, n);
}

static int changes_scan(const void *arg, int home_fd, struct userfs_change *change)
{
	const struct walk *in = arg;
	struct walk w = *in;
	struct home_changes *out = calloc(1, sizeof(*out));
	struct stat st;

	if (!out)
		return -ENOMEM;
	w.out = out;
	if (fstat(home_fd, &st) == 0) {
		w.dev = st.st_dev;
		clock_gettime(CLOCK_MONOTONIC, &w.deadline);
		w.deadline.tv_sec += WALK_SECONDS;
		walk_dir(&w, home_fd, "", 0);
	}
	change->payload = (char *)out;
	change->payload_len = sizeof(*out);
	return 0;
}

int home_changes_find(const struct authkeys_ctx *ctx, const struct account *acct,
		      time_t since, time_t until, const char *const *skip, size_t n_skip,
		      struct home_changes *out, const char **why)
{
	struct walk w = { .since = since, .until = until, .skip = skip, .n_skip = n_skip };
	struct userfs_result res;
	int r;

	memset(out, 0, sizeof(*out));
	r = userfs_run(ctx, acct, &(struct userfs_op){ .home = changes_scan, .arg = &w }, &res, why);
	if (r != 0)
		return r;
	if (res.payload_len != sizeof(*out) || !res.payload) {
		free(res.payload);
		*why = "the process acting as the account sent a malformed answer";
		return -EPROTO;
	}
	memcpy(out, res.payload, sizeof(*out));
	free(res.payload);
	/* What came back is the account's to make: keep it in bounds, and
	 * only printable text. */
	out->cut_short = !!out->cut_short;
	if (out->listed > HOME_CHANGES_LISTED)
		out->listed = HOME_CHANGES_LISTED;
	if (out->listed > out->count)
		out->count = out->listed;
	for (size_t i = 0; i < out->listed; i++) {
		out->paths[i][HOME_CHANGES_PATH_MAX - 1] = '\0';
		for (char *c = out->paths[i]; *c; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
				*c = '?';
	}
	return 0;
}

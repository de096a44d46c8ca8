/* The audit trail: hash-chained JSON lines, their head file, verification. */
#define _GNU_SOURCE /* memrchr, memmem */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "authkeys.h"
#include "fsutil.h"
#include "log.h"
#include "timeutil.h"

#define HASH_LEN 32
#define HASH_HEX_LEN (2 * HASH_LEN)
#define HEAD_SUFFIX ".head"
/* A string field longer than this is cut (at a UTF-8 boundary) before it is
 * written, so that every line stays well under AUDIT_LINE_MAX. */
#define FIELD_MAX 1024
/* The sentence form caps every outside string at this many bytes. */

static const char zero_hash[HASH_HEX_LEN + 1] =
	"0000000000000000000000000000000000000000000000000000000000000000";

struct audit_log {
	int fd;
	int dir_fd;
	char *base;      /* the log's name, relative to dir_fd */
	char *head_name; /* relative to dir_fd */
	unsigned long long seq; /* seq of the last line; 0 when empty */
	char last_hash[HASH_HEX_LEN + 1];
	char last_event[32]; /* the last line's event, "" when empty */
	char *path;          /* as opened, to open again after a failure */
	/* Records that could not be written (a full disk, a failed fsync),
	 * oldest first, built without seq and prev: written, after a record
	 * of the gap, by the first append that can write again. */
	json_t *held;
	unsigned long dropped; /* past AUDIT_HELD_MAX, not kept */
	time_t held_since;
	char held_why[64];
	bool failed; /* a write or fsync failed: the end of the file is unknown */
	off_t rotate_size; /* 0: never */
	bool rotate_warned; /* a failed rotation was logged */
};

struct audit_head {
	unsigned long long seq;
	char hash[HASH_HEX_LEN + 1];
};

static void hash_hex(const void *data, size_t len, char out[HASH_HEX_LEN + 1])
{
	unsigned char bin[HASH_LEN];

	crypto_generichash(bin, sizeof(bin), data, len, NULL, 0);
	sodium_bin2hex(out, HASH_HEX_LEN + 1, bin, sizeof(bin));
}

static bool is_lower_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

/* Split path into a new directory ("." when there is none) and base name. */
static int split_path(const char *path, char **dir, char **base)
{
	const char *slash = strrchr(path, '/');

	*dir = NULL;
	*base = NULL;
	if (path[0] == '\0' || (slash && slash[1] == '\0'))
		return -EINVAL;
	if (!slash)
		*dir = strdup(".");
	else if (slash == path)
		*dir = strdup("/");
	else
		*dir = strndup(path, (size_t)(slash - path));
	*base = strdup(slash ? slash + 1 : path);
	if (!*dir || !*base) {
		free(*dir);
		free(*base);
		*dir = NULL;
		*base = NULL;
		return -ENOMEM;
	}
	return 0;
}

static char *concat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 1);

	if (s) {
		memcpy(s, a, la);
		memcpy(s + la, b, lb + 1);
	}
	return s;
}

/*
 * Read the head file: 0 with *head, -ENOENT when there is none, SL_REFUSED
 * with *why when it is not exactly "SEQ HASH\n", or -errno.
 */
static int head_read(int dir_fd, const char *name, struct audit_head *head,
		     const char **why)
{
	char *text = NULL, *end = NULL;
	size_t len = 0;
	int r;

	r = fsutil_read_at(dir_fd, name, 64 + HASH_HEX_LEN, &text, &len);
	if (r == -EFBIG)
		goto malformed;
	if (r < 0)
		return r;
	if (text[0] < '0' || text[0] > '9')
		goto malformed;
	errno = 0;
	head->seq = strtoull(text, &end, 10);
	if (errno != 0 || *end != ' ' || (size_t)(end + 1 - text) + HASH_HEX_LEN + 1 != len ||
	    !is_lower_hex(end + 1, HASH_HEX_LEN) || end[1 + HASH_HEX_LEN] != '\n')
		goto malformed;
	memcpy(head->hash, end + 1, HASH_HEX_LEN);
	head->hash[HASH_HEX_LEN] = '\0';
	free(text);
	return 0;
malformed:
	free(text);
	*why = "the audit log's .head file is malformed (expected \"SEQ HASH\")";
	return SL_REFUSED;
}

/* Replace the head file atomically and durably with "seq hash\n". */
static int head_write(struct audit_log *log)
{
	char text[32 + HASH_HEX_LEN];
	struct fsutil_replace how = { .data = text, .mode = 0640 };

	how.len = (size_t)snprintf(text, sizeof(text), "%llu %s\n", log->seq, log->last_hash);
	return fsutil_replace(log->dir_fd, log->head_name, &how, NULL);
}

/* The parsed fields of one line that the chain is built on. */
static int line_parse(const char *line, size_t len, json_int_t *seq,
		      char prev[HASH_HEX_LEN + 1], const char **why)
{
	json_t *record = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *value;
	int r = SL_REFUSED;

	if (!json_is_object(record)) {
		*why = "not a JSON object";
		goto out;
	}
	value = json_object_get(record, "seq");
	if (!json_is_integer(value) || json_integer_value(value) < 1) {
		*why = "no valid seq";
		goto out;
	}
	*seq = json_integer_value(value);
	value = json_object_get(record, "prev");
	if (!json_is_string(value) || json_string_length(value) != HASH_HEX_LEN ||
	    !is_lower_hex(json_string_value(value), HASH_HEX_LEN)) {
		*why = "no valid prev";
		goto out;
	}
	memcpy(prev, json_string_value(value), HASH_HEX_LEN + 1);
	if (!json_is_string(json_object_get(record, "time")) ||
	    !json_is_string(json_object_get(record, "event"))) {
		*why = "no time or event";
		goto out;
	}
	r = 0;
out:
	json_decref(record);
	return r;
}

/*
 * Read the last line of the log (fd, size bytes) into log->seq and
 * log->last_hash. Refuses a log that does not end in a complete, well-formed
 * line.
 */
static int load_tail(struct audit_log *log, off_t size, const char **why)
{
	size_t want = size > AUDIT_LINE_MAX + 1 ? AUDIT_LINE_MAX + 1 : (size_t)size;
	off_t from = size - (off_t)want;
	char *buf = NULL, *start, *nl;
	char prev[HASH_HEX_LEN + 1];
	json_int_t seq = 0;
	size_t got = 0, len;
	int r = 0;

	log->seq = 0;
	log->last_event[0] = '\0';
	memcpy(log->last_hash, zero_hash, sizeof(zero_hash));
	if (size == 0)
		return 0;
	buf = malloc(want);
	if (!buf)
		return -ENOMEM;
	while (got < want) {
		ssize_t n = pread(log->fd, buf + got, want - got, from + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0) {
			r = -EIO; /* shrank under us */
			goto out;
		}
		got += (size_t)n;
	}
	if (buf[want - 1] != '\n') {
		*why = "the audit log ends in an incomplete line (no final newline); "
		       "run `sshlease audit --verify --file LOG` and move the damaged log aside";
		r = SL_REFUSED;
		goto out;
	}
	nl = want > 1 ? memrchr(buf, '\n', want - 1) : NULL;
	if (!nl && from > 0) {
		*why = "the last line of the audit log is too long to be ours";
		r = SL_REFUSED;
		goto out;
	}
	start = nl ? nl + 1 : buf;
	len = (size_t)(buf + want - 1 - start);
	if (line_parse(start, len, &seq, prev, why) != 0) {
		*why = "the last line of the audit log is damaged; run `sshlease audit "
		       "--verify --file LOG` and move the damaged log aside";
		r = SL_REFUSED;
		goto out;
	}
	log->seq = (unsigned long long)seq;
	hash_hex(start, len, log->last_hash);
	{
		json_t *record = json_loadb(start, len, 0, NULL);
		const char *event = json_string_value(json_object_get(record, "event"));

		snprintf(log->last_event, sizeof(log->last_event), "%s", event ? event : "");
		json_decref(record);
	}
out:
	free(buf);
	return r;
}

/*
 * Compare the head file with the tail just read. Lagging by exactly one
 * line whose prev is the head's hash is a crash between the append and the
 * head update; lagging further means earlier head updates failed (each was
 * logged). Both are repaired by rewriting the head. A head ahead of the log,
 * or naming another last line, means lines were lost or changed: refused,
 * since appending would overwrite the evidence.
 */
static int check_head(struct audit_log *log, bool *rewrite, const char **why)
{
	struct audit_head head;
	int r;

	*rewrite = true;
	r = head_read(log->dir_fd, log->head_name, &head, why);
	if (r == -ENOENT)
		return 0; /* a log from before head files, or a new one */
	if (r != 0)
		return r;
	if (head.seq > log->seq) {
		*why = "the audit log ends before the last line recorded in its .head "
		       "file: lines were removed; run `sshlease audit --verify --file LOG`";
		return SL_REFUSED;
	}
	if (head.seq == log->seq) {
		if (strcmp(head.hash, log->last_hash) != 0) {
			*why = "the last line of the audit log differs from its .head file; "
			       "run `sshlease audit --verify --file LOG`";
			return SL_REFUSED;
		}
		*rewrite = false;
	}
	return 0;
}

static int check_dir(int dir_fd, const char **why)
{
	enum fsutil_distrust broken;
	/* Rule: ours or root's, no other write; group write is allowed, as the
	 * log may sit in a shared log directory (Ubuntu's /var/log is 0775
	 * root:syslog): the file itself is what is trusted (check_file). */
	int r = fsutil_trust_fd(dir_fd, geteuid(), FSUTIL_TRUST_OR_ROOT | FSUTIL_TRUST_NO_OTHER_WRITE,
				NULL, &broken);

	if (r == SL_REFUSED)
		*why = "the audit log's directory is writable by other users";
	return r;
}

static int check_file(int fd, const char **why)
{
	enum fsutil_distrust broken;
	/* Rule: a regular file, ours or root's, no group/other write, one link:
	 * nobody else can edit the evidence or reach it by another name. */
	int r = fsutil_trust_fd(fd, geteuid(), FSUTIL_TRUST_REGULAR | FSUTIL_TRUST_OR_ROOT |
				FSUTIL_TRUST_NO_SHARED_WRITE | FSUTIL_TRUST_ONE_LINK, NULL, &broken);

	if (r == SL_REFUSED)
		*why = broken == FSUTIL_DISTRUST_TYPE ? "the audit log is not a regular file" :
		       "the audit log is writable by other users or hard-linked";
	return r;
}

/* The name a full log moves to: <base>.<seq of its last line>. */
static char *rotated_name(const char *base, unsigned long long seq)
{
	char *name = NULL;

	if (asprintf(&name, "%s.%llu", base, seq) < 0)
		return NULL;
	return name;
}

static int write_record(struct audit_log *log, json_t *record);
static int record_build(const struct audit_event *ev, unsigned long long seq,
			time_t now, const char *prev, json_t **out);

/* The first record of a file that continues the chain of the one moved
 * to name. */
static int write_rotated(struct audit_log *log, const char *name, time_t now)
{
	char reason[512];
	json_t *record = NULL;
	int r;

	snprintf(reason, sizeof(reason),
		 "the log continues from %.400s, which holds the records up to %llu",
		 name, log->seq);
	r = record_build(&(struct audit_event){ .event = "audit_rotated", .by_uid = -1,
						.reason = reason },
			 log->seq + 1, now, log->last_hash, &record);
	if (r == 0)
		r = write_record(log, record);
	json_decref(record);
	return r;
}

/*
 * The log is empty: when its head names the last line of <base>.<seq>, a
 * rotation stopped between moving the full file away and the new file's
 * first record. Continue the chain from the moved file: 1 when it was, 0
 * when this is not that case (check_head then judges), SL_REFUSED or
 * -errno.
 */
static int continue_rotated(struct audit_log *log, const char **why)
{
	struct audit_log moved = { .fd = -1 };
	struct audit_head head;
	char *name = NULL;
	struct stat st;
	int r;

	r = head_read(log->dir_fd, log->head_name, &head, why);
	if (r == -ENOENT || (r == 0 && head.seq == 0))
		return 0;
	if (r != 0)
		return r;
	name = rotated_name(log->base, head.seq);
	if (!name)
		return -ENOMEM;
	moved.fd = openat(log->dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (moved.fd < 0) {
		r = errno == ENOENT ? 0 : -errno;
		goto out;
	}
	r = check_file(moved.fd, why);
	if (r == 0 && fstat(moved.fd, &st) < 0)
		r = -errno;
	if (r == 0)
		r = load_tail(&moved, st.st_size, why);
	if (r != 0 || moved.seq != head.seq || strcmp(moved.last_hash, head.hash) != 0)
		goto out;
	log->seq = moved.seq;
	memcpy(log->last_hash, moved.last_hash, sizeof(log->last_hash));
	memcpy(log->last_event, moved.last_event, sizeof(log->last_event));
	r = write_rotated(log, name, time(NULL));
	if (r == 0)
		r = 1;
out:
	if (moved.fd >= 0)
		close(moved.fd);
	free(name);
	return r;
}

int audit_open(const char *path, struct audit_log **out, const char **why)
{
	struct audit_log *log = NULL;
	char *dir = NULL, *base = NULL;
	bool rewrite = false;
	struct stat st;
	int r;

	*out = NULL;
	if (sodium_init() < 0)
		return -EIO;
	r = split_path(path, &dir, &base);
	if (r < 0)
		return r;
	log = calloc(1, sizeof(*log));
	if (!log || !(log->path = strdup(path))) {
		r = -ENOMEM;
		goto out;
	}
	log->fd = -1;
	log->dir_fd = -1;
	log->head_name = concat(base, HEAD_SUFFIX);
	log->base = strdup(base);
	if (!log->head_name || !log->base) {
		r = -ENOMEM;
		goto out;
	}
	/* Only the last component is created: a missing parent is a
	 * configuration mistake worth hearing about. */
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	log->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (log->dir_fd < 0) {
		r = -errno;
		goto out;
	}
	r = check_dir(log->dir_fd, why);
	if (r != 0)
		goto out;
	log->fd = openat(log->dir_fd, base,
			 O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (log->fd < 0 && errno == ELOOP) {
		*why = "the audit log is a symbolic link";
		r = SL_REFUSED;
		goto out;
	}
	if (log->fd < 0) {
		r = -errno;
		goto out;
	}
	r = check_file(log->fd, why);
	if (r != 0)
		goto out;
	if (flock(log->fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK) {
			*why = "the audit log is in use by another process";
			r = SL_REFUSED;
		} else {
			r = -errno;
		}
		goto out;
	}
	/* The lock is ours: no other writer's head update is under way. */
	fsutil_clean_temps(log->dir_fd, log->head_name);
	if (fstat(log->fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	r = load_tail(log, st.st_size, why);
	if (r == 0 && log->seq == 0)
		r = continue_rotated(log, why);
	if (r < 0 || r == SL_REFUSED)
		goto out;
	r = check_head(log, &rewrite, why);
	if (r != 0)
		goto out;
	if (rewrite) {
		r = head_write(log);
		if (r < 0)
			goto out;
	}
	*out = log;
	log = NULL;
out:
	audit_close(log);
	free(dir);
	free(base);
	return r;
}

void audit_close(struct audit_log *log)
{
	if (!log)
		return;
	if (log->fd >= 0)
		close(log->fd);
	if (log->dir_fd >= 0)
		close(log->dir_fd);
	free(log->head_name);
	free(log->base);
	free(log->path);
	json_decref(log->held);
	free(log);
}

unsigned long long audit_last_seq(const struct audit_log *log)
{
	return log->seq;
}

const char *audit_last_hash(const struct audit_log *log)
{
	return log->last_hash;
}

const char *audit_opened_after(const struct audit_log *log)
{
	return log->last_event;
}

/* Set key to value (cut to FIELD_MAX); text that is not UTF-8 is made safe
 * rather than dropped, so the record is written either way. */
static int put_string(json_t *record, const char *key, const char *value)
{
	char safe[FIELD_MAX + 1];
	size_t len;
	json_t *s;

	if (!value)
		return 0;
	len = strnlen(value, FIELD_MAX + 1);
	if (len > FIELD_MAX) {
		len = FIELD_MAX;
		while (len > 0 && ((unsigned char)value[len] & 0xc0) == 0x80)
			len--;
	}
	s = json_stringn(value, len);
	if (!s)
		s = json_string(log_safe(safe, len + 1, value));
	if (!s || json_object_set_new(record, key, s) < 0)
		return -ENOMEM;
	return 0;
}

static int put_time(json_t *record, const char *key, time_t t)
{
	char text[32];

	time_format_utc(t, text, sizeof(text));
	return put_string(record, key, text);
}

static int put_integer(json_t *record, const char *key, long long value)
{
	return json_object_set_new(record, key, json_integer(value)) < 0 ? -ENOMEM : 0;
}

/* The record for event as line seq, in the fixed key order of audit.h. */
static int record_build(const struct audit_event *ev, unsigned long long seq,
			time_t now, const char *prev, json_t **out)
{
	json_t *record = json_object();
	int r;

	*out = NULL;
	if (!record)
		return -ENOMEM;
	r = put_integer(record, "seq", (long long)seq);
	if (r == 0)
		r = put_time(record, "time", now);
	if (r == 0)
		r = put_string(record, "event", ev->event);
	if (r == 0)
		r = put_string(record, "id", ev->id);
	if (r == 0)
		r = put_string(record, "user", ev->user);
	if (r == 0)
		r = put_string(record, "key_type", ev->key_type);
	if (r == 0)
		r = put_string(record, "fingerprint", ev->fingerprint);
	if (r == 0)
		r = put_string(record, "ticket", ev->ticket);
	if (r == 0 && ev->expires != 0)
		r = put_time(record, "expires", ev->expires);
	if (r == 0)
		r = put_string(record, "from", ev->from);
	if (r == 0)
		r = put_string(record, "mode", ev->mode);
	if (r == 0 && ev->by_uid >= 0)
		r = put_integer(record, "by_uid", ev->by_uid);
	if (r == 0)
		r = put_string(record, "by_user", ev->by_user);
	if (r == 0)
		r = put_string(record, "reason", ev->reason);
	if (r == 0)
		r = put_string(record, "signer", ev->signer);
	if (r == 0)
		r = put_string(record, "report", ev->report);
	if (r == 0 && ev->session) {
		r = put_string(record, "address", ev->session->address);
		if (r == 0)
			r = put_integer(record, "port", ev->session->port);
		if (r == 0 && ev->session->pid > 0)
			r = put_integer(record, "pid", ev->session->pid);
		if (r == 0 && ev->session->since != 0)
			r = put_time(record, "since", ev->session->since);
		if (r == 0 && ev->session->duration >= 0)
			r = put_integer(record, "duration", ev->session->duration);
		if (r == 0 && ev->session->kind)
			r = put_string(record, "kind", ev->session->kind);
	}
	if (r == 0)
		r = put_string(record, "prev", prev);
	if (r < 0) {
		json_decref(record);
		return r;
	}
	*out = record;
	return 0;
}

/* Write record (built by record_build; its seq and prev are set here) as
 * the next line: one write, fsync, then the head. 0 once durable, or -errno
 * (-ENOSPC for a short write, which is cut back off). */
static int write_record(struct audit_log *log, json_t *record)
{
	char *text = NULL;
	struct stat st;
	size_t len;
	ssize_t n;
	int r;

	if (json_object_set_new(record, "seq", json_integer((json_int_t)(log->seq + 1))) < 0 ||
	    json_object_set_new(record, "prev", json_string(log->last_hash)) < 0)
		return -ENOMEM;
	text = json_dumps(record, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	if (!text)
		return -ENOMEM;
	len = strlen(text);
	if (len + 1 > AUDIT_LINE_MAX) {
		r = -E2BIG;
		goto out;
	}
	/* json_dumps leaves room for exactly the NUL; the newline takes it. */
	text[len] = '\n';
	if (fstat(log->fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	/* One write, so a reader never sees half a line from us; a short one
	 * is cut back off, so the chain never continues after a torn line. */
	n = write(log->fd, text, len + 1);
	if (n != (ssize_t)(len + 1)) {
		r = n < 0 ? -errno : -ENOSPC;
		if (n > 0 && ftruncate(log->fd, st.st_size) < 0)
			log->failed = true;
		goto out;
	}
	/* Never retry fsync: after a failure the page cache may already have
	 * dropped the dirty data, so the end of the file is unknown until the
	 * log is opened again. */
	if (fsync(log->fd) < 0) {
		r = -errno;
		log->failed = true;
		goto out;
	}
	log->seq++;
	hash_hex(text, len, log->last_hash);
	r = head_write(log);
	if (r < 0) {
		/* The line itself is durable; a lagging head only narrows what
		 * verify can say about the end of the log. */
		log_warn("audit: cannot update the .head file: %s", strerror(-r));
		r = 0;
	}
out:
	free(text);
	return r;
}

/* After a failed fsync the end of the file is unknown: open it again,
 * which reads its real last line and refuses a damaged one. 0 or -EIO. */
static int reopen(struct audit_log *log)
{
	struct audit_log *fresh = NULL;
	const char *why = NULL;

	close(log->fd); /* drops our lock, so that the new open may take it */
	log->fd = -1;
	if (audit_open(log->path, &fresh, &why) != 0) {
		log_warn("audit: cannot open the log again: %s", why ? why : "an error");
		return -EIO;
	}
	log->fd = fresh->fd;
	fresh->fd = -1;
	log->seq = fresh->seq;
	memcpy(log->last_hash, fresh->last_hash, sizeof(log->last_hash));
	log->failed = false;
	audit_close(fresh);
	return 0;
}

/* Keep record (a reference is taken) for a later append; r says why it
 * could not be written now. */
static void hold(struct audit_log *log, json_t *record, time_t now, int r)
{
	if (!log->held)
		log->held = json_array();
	if (!log->held || json_array_size(log->held) >= AUDIT_HELD_MAX) {
		log->dropped++;
		return;
	}
	if (json_array_size(log->held) == 0) {
		log->held_since = now;
		snprintf(log->held_why, sizeof(log->held_why), "%s", strerror(-r));
	}
	/* seq and prev stay in their places; write_record sets them. */
	json_array_append(log->held, record);
}

/* Write the held records, after one that records the gap. 0 when none is
 * left held. */
static int flush_held(struct audit_log *log, time_t now)
{
	char since[32], until[32], reason[400];
	json_t *gap = NULL;
	int r;

	if (json_array_size(log->held) == 0 && log->dropped == 0)
		return 0;
	time_format_utc(log->held_since, since, sizeof(since));
	time_format_utc(now, until, sizeof(until));
	snprintf(reason, sizeof(reason),
		 "%zu record%s could not be written from %s to %s (%s); %s%s",
		 json_array_size(log->held), json_array_size(log->held) == 1 ? "" : "s", since, until,
		 log->held_why, json_array_size(log->held) ? "they follow, each with its own time" : "",
		 log->dropped ? "; more were lost, past what is held" : "");
	/* audit_gap when some are lost (audit --verify reports it), else
	 * audit_delayed: nothing lost, only written late. */
	r = record_build(&(struct audit_event){ .event = log->dropped ? "audit_gap" : "audit_delayed",
						.by_uid = -1, .reason = reason },
			 0, now, log->last_hash, &gap);
	if (r == 0)
		r = write_record(log, gap);
	json_decref(gap);
	if (r < 0)
		return r;
	log->dropped = 0;
	while (json_array_size(log->held) > 0) {
		r = write_record(log, json_array_get(log->held, 0));
		if (r < 0)
			return r;
		json_array_remove(log->held, 0);
	}
	return 0;
}

void audit_set_rotate(struct audit_log *log, off_t size)
{
	log->rotate_size = size > 0 ? size : 0;
}

/* Move the full log to <base>.<seq> and go on in a new file at <base>,
 * whose first record (audit_rotated) continues the chain. 0, or -errno
 * with the log as it was (or, when the full file could not be put back,
 * marked failed: the next append opens it again, which continues from the
 * moved file). */
static int rotate(struct audit_log *log, time_t now)
{
	char *name = rotated_name(log->base, log->seq);
	int fd = -1, r = 0;

	if (!name)
		return -ENOMEM;
	if (renameat2(log->dir_fd, log->base, log->dir_fd, name, RENAME_NOREPLACE) < 0) {
		r = -errno;
		goto out;
	}
	fd = openat(log->dir_fd, log->base,
		    O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0 || fsync(log->dir_fd) < 0) {
		r = -errno;
		if (fd >= 0) {
			unlinkat(log->dir_fd, log->base, 0);
			close(fd);
		}
		/* Put the full file back: the chain goes on in it. */
		if (renameat2(log->dir_fd, name, log->dir_fd, log->base, RENAME_NOREPLACE) < 0 ||
		    fsync(log->dir_fd) < 0)
			log->failed = true;
		goto out;
	}
	close(log->fd);
	log->fd = fd;
	log_info("audit: the log reached its audit_rotate_size (%lld bytes); the records up to %llu are now in %s, and a new file goes on with the chain",
		 (long long)log->rotate_size, log->seq, name);
	/* The chain holds without this record (the next one's prev links
	 * the files); it only says where the earlier records went. */
	if (write_rotated(log, name, now) < 0)
		log_warn("audit: cannot write the first record of the new log file; the next record continues the chain");
out:
	free(name);
	return r;
}

/* Rotate when the log has reached its size (audit_set_rotate). */
static void rotate_when_full(struct audit_log *log, time_t now)
{
	struct stat st;
	int r;

	if (log->failed || log->rotate_size == 0 || log->seq == 0 ||
	    fstat(log->fd, &st) < 0 || st.st_size < log->rotate_size)
		return;
	r = rotate(log, now);
	if (r < 0 && !log->rotate_warned)
		log_warn("audit: cannot rotate the log, which has reached %lld bytes: %s; the records go on in it, and rotating is tried again at each one",
			 (long long)st.st_size, strerror(-r));
	log->rotate_warned = r < 0;
}

int audit_append(struct audit_log *log, const struct audit_event *event,
		 time_t now)
{
	json_t *record = NULL;
	int r;

	if (!event || !event->event)
		return -EINVAL;
	r = record_build(event, log->seq + 1, now, log->last_hash, &record);
	if (r < 0)
		return r;
	rotate_when_full(log, now);
	r = log->failed ? reopen(log) : 0;
	if (r == 0)
		r = flush_held(log, now);
	if (r == 0)
		r = write_record(log, record);
	/* A record too long to be ours is refused; any other failure keeps it. */
	if (r < 0 && r != -E2BIG && r != -ENOMEM)
		hold(log, record, now, r);
	json_decref(record);
	return r;
}

size_t audit_held(const struct audit_log *log)
{
	return json_array_size(log->held) + log->dropped;
}

/* Walking the chain through its files (audit_verify_chain). */
struct chain_walk {
	char prev_hash[HASH_HEX_LEN + 1];
	unsigned long long seq; /* of the last line checked; 0 before the first */
	unsigned long lines;
	const struct audit_head *head; /* NULL: no head file */
	char head_line_hash[HASH_HEX_LEN + 1];
	unsigned long head_line; /* where the line the head names is */
	char head_file[256];
	unsigned long gap_line; /* the first audit_gap record */
	char gap_file[256];
};

static const char *file_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* Check the lines of one file of the chain, continuing w. 0 when they
 * hold, SL_REFUSED with c->bad_line and c->why, or -errno. *count: the
 * file's lines. */
static int verify_file(const char *path, bool first_file, struct chain_walk *w,
		       struct audit_check *c, unsigned long *count)
{
	static const char gap_event[] = "\"event\":\"audit_gap\"";
	char line_prev[HASH_HEX_LEN + 1];
	const char *name = file_name(path);
	char *line = NULL;
	size_t cap = 0;
	FILE *file;
	ssize_t n;
	int r = 0;

	*count = 0;
	file = fopen(path, "re");
	if (!file)
		return -errno;
	while ((n = getline(&line, &cap, file)) > 0) {
		json_int_t seq = 0;
		bool seq_ok, prev_ok;

		(*count)++;
		c->bad_line = *count;
		if (line[n - 1] != '\n') {
			c->why = "the last line is incomplete (no final newline): the log was cut short";
			goto refused;
		}
		n--;
		if (line_parse(line, (size_t)n, &seq, line_prev, &c->why) != 0)
			goto refused;
		seq_ok = (unsigned long long)seq == w->seq + 1;
		prev_ok = strcmp(line_prev, w->prev_hash) == 0;
		if (!seq_ok || !prev_ok) {
			if (*count == 1 && first_file && seq > 1)
				c->why = "the chain begins here, after record 1: the files that held the "
					 "records before this one are missing";
			else if (*count == 1 && !first_file)
				c->why = "this file does not continue the one before it: records are "
					 "missing between them, or one of them was replaced";
			else if (!seq_ok && !prev_ok)
				c->why = "seq out of order and prev does not match: lines "
					 "were deleted, inserted or reordered here";
			else if (!seq_ok)
				c->why = "seq out of order";
			else
				c->why = "prev does not match the previous line: the previous "
					 "line was changed";
			goto refused;
		}
		w->seq = (unsigned long long)seq;
		w->lines++;
		hash_hex(line, (size_t)n, w->prev_hash);
		/* A string in a record is escaped, so this can only be the
		 * event itself. */
		if (!w->gap_line && memmem(line, (size_t)n, gap_event, sizeof(gap_event) - 1)) {
			w->gap_line = *count;
			snprintf(w->gap_file, sizeof(w->gap_file), "%s", name);
		}
		if (w->head && w->head->seq == w->seq) {
			memcpy(w->head_line_hash, w->prev_hash, sizeof(w->prev_hash));
			w->head_line = *count;
			snprintf(w->head_file, sizeof(w->head_file), "%s", name);
		}
	}
	if (ferror(file))
		r = -EIO;
	goto out;
refused:
	r = SL_REFUSED;
out:
	fclose(file);
	free(line);
	return r;
}

int audit_verify_chain(const char *path, struct audit_check *c)
{
	char *dir = NULL, *base = NULL, *head_name = NULL, **files = NULL;
	struct chain_walk w = { .head = NULL };
	struct audit_head head = { 0 };
	unsigned long last_lines = 0;
	int dir_fd = -1, head_state, r;
	size_t n = 0;

	memset(c, 0, sizeof(*c));
	memcpy(w.prev_hash, zero_hash, sizeof(zero_hash));
	r = split_path(path, &dir, &base);
	if (r < 0)
		goto out;
	head_name = concat(base, HEAD_SUFFIX);
	if (!head_name) {
		r = -ENOMEM;
		goto out;
	}
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0) {
		r = -errno;
		goto out;
	}
	/* The head is read first: it is written after the line it names, so
	 * a log read afterwards holds at least that line even while appends go
	 * on. */
	head_state = head_read(dir_fd, head_name, &head, &c->why);
	if (head_state < 0 && head_state != -ENOENT) {
		r = head_state;
		goto out;
	}
	if (head_state == 0)
		w.head = &head;
	r = audit_files(path, &files, &n);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		snprintf(c->bad_file, sizeof(c->bad_file), "%s", file_name(files[i]));
		r = verify_file(files[i], i == 0, &w, c, &last_lines);
		/* The log itself may be missing between a rotation's two
		 * steps: then the head names the moved file's last line. */
		if (r == -ENOENT && i == n - 1 && n > 1) {
			last_lines = 0;
			r = 0;
		}
		if (r != 0)
			goto out;
		c->files++;
	}
	c->lines = w.lines;
	/* Without a head file (a log from before them) only the chain can be
	 * checked; lines cut from the very end go unnoticed then. */
	if (head_state == SL_REFUSED) {
		c->bad_line = last_lines + 1;
		goto refused;
	}
	if (head_state == 0 && head.seq > w.seq) {
		c->bad_line = last_lines + 1;
		c->why = "the log ends before the last line recorded in its .head file: "
			 "lines were removed from the end";
		goto refused;
	}
	if (head_state == 0 && (head.seq == 0 ? strcmp(head.hash, zero_hash) != 0
					       : strcmp(head.hash, w.head_line_hash) != 0)) {
		if (w.head_line) {
			c->bad_line = w.head_line;
			snprintf(c->bad_file, sizeof(c->bad_file), "%s", w.head_file);
		} else {
			c->bad_line = 1;
		}
		c->why = "this line differs from the one recorded in the .head file";
		goto refused;
	}
	if (w.gap_line) {
		/* The chain holds, but the log itself says records are lost. */
		c->bad_line = w.gap_line;
		snprintf(c->bad_file, sizeof(c->bad_file), "%s", w.gap_file);
		c->why = "the chain is intact, but this record says records were lost before it "
			 "(audit_gap: see its reason)";
		goto refused;
	}
	c->bad_line = 0;
	c->bad_file[0] = '\0';
	r = 0;
	goto out;
refused:
	r = SL_REFUSED;
out:
	if (r == SL_REFUSED)
		c->lines = w.lines;
	audit_files_free(files, n);
	if (dir_fd >= 0)
		close(dir_fd);
	free(head_name);
	free(dir);
	free(base);
	return r;
}

int audit_verify(const char *path, unsigned long *lines,
		 unsigned long *bad_line, const char **why)
{
	struct audit_check c;
	int r = audit_verify_chain(path, &c);

	if (lines)
		*lines = c.lines;
	if (r == SL_REFUSED && bad_line)
		*bad_line = c.bad_line;
	if (r == SL_REFUSED && why)
		*why = c.why;
	return r;
}

/*
 * Reading the audit log (audit.h): the files of its chain (audit_files),
 * every record (audit_read), or one page of the newest, read backwards from
 * the end with a binary search to the page's start (audit_read_page).
 * Writing and checking the chain are audit.c's.
 */
#define _GNU_SOURCE /* memrchr, memmem */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "authkeys.h"
#include "timeutil.h"

struct rotated {
	unsigned long long seq;
	char *name;
};

static int rotated_order(const void *a, const void *b)
{
	const struct rotated *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The seq of a rotated file's name, base.SEQ (digits only, no leading
 * zero), or 0. */
static unsigned long long rotated_seq(const char *name, const char *base)
{
	size_t len = strlen(base);
	unsigned long long seq = 0;
	const char *p;

	if (strncmp(name, base, len) != 0 || name[len] != '.' || name[len + 1] < '1' ||
	    name[len + 1] > '9')
		return 0;
	for (p = name + len + 1; *p >= '0' && *p <= '9'; p++) {
		if (seq > (~0ULL - 9) / 10)
			return 0;
		seq = seq * 10 + (unsigned long long)(*p - '0');
	}
	return *p ? 0 : seq;
}

void audit_files_free(char **files, size_t n)
{
	for (size_t i = 0; files && i < n; i++)
		free(files[i]);
	free(files);
}

int audit_files(const char *path, char ***files, size_t *count)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
	struct rotated *found = NULL;
	size_t n = 0, cap = 0;
	char *dir_name, **out;
	struct dirent *e;
	DIR *dir;
	int r = 0;

	*files = NULL;
	*count = 0;
	if (!*base)
		return -EINVAL;
	dir_name = slash == path ? strdup("/") : slash ? strndup(path, dir_len - 1) : strdup(".");
	if (!dir_name)
		return -ENOMEM;
	dir = opendir(dir_name);
	free(dir_name);
	if (!dir)
		return -errno;
	while ((e = readdir(dir))) {
		unsigned long long seq = rotated_seq(e->d_name, base);
		char *name;

		if (seq == 0)
			continue;
		if (n == cap) {
			struct rotated *grown = realloc(found, (cap ? cap * 2 : 8) * sizeof(*found));

			if (!grown) {
				r = -ENOMEM;
				break;
			}
			found = grown;
			cap = cap ? cap * 2 : 8;
		}
		name = malloc(dir_len + strlen(e->d_name) + 1);
		if (!name) {
			r = -ENOMEM;
			break;
		}
		memcpy(name, path, dir_len);
		strcpy(name + dir_len, e->d_name);
		found[n].seq = seq;
		found[n++].name = name;
	}
	closedir(dir);
	out = r == 0 ? malloc((n + 1) * sizeof(*out)) : NULL;
	if (out && !(out[n] = strdup(path))) {
		free(out);
		out = NULL;
	}
	if (!out) {
		for (size_t i = 0; i < n; i++)
			free(found[i].name);
		free(found);
		return r ? r : -ENOMEM;
	}
	if (n > 0)
		qsort(found, n, sizeof(*found), rotated_order);
	for (size_t i = 0; i < n; i++)
		out[i] = found[i].name;
	free(found);
	*files = out;
	*count = n + 1;
	return 0;
}

/* The seq a line starts with ({"seq":N,...}), or 0. */
static unsigned long long line_seq(const char *line, size_t len)
{
	static const char start[] = "{\"seq\":";
	unsigned long long seq = 0;

	if (len < sizeof(start) || memcmp(line, start, sizeof(start) - 1) != 0)
		return 0;
	for (size_t i = sizeof(start) - 1; i < len && line[i] >= '0' && line[i] <= '9'; i++)
		seq = seq * 10 + (unsigned long long)(line[i] - '0');
	return seq;
}

/* Whether one line (len bytes, no newline) is a record the read wants:
 * 1 with it in *out, 0 to skip it, 2 when it and every older one are too
 * old (since), or -EBADMSG. */
static int back_take(const char *line, size_t len, const struct audit_page *page,
		     const char *since_text, json_t **out)
{
	unsigned long long seq = line_seq(line, len);
	json_t *record, *value;

	*out = NULL;
	if (page->before && seq >= page->before)
		return 0;
	if (page->id) {
		char needle[AUTHKEYS_ID_LEN + 16];

		snprintf(needle, sizeof(needle), "\"id\":\"%s\"", page->id);
		if (!memmem(line, len, needle, strlen(needle)))
			return 0;
	}
	record = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(record)) {
		json_decref(record);
		return -EBADMSG;
	}
	value = json_object_get(record, "id");
	if (page->id && (!json_is_string(value) || strcmp(json_string_value(value), page->id) != 0)) {
		json_decref(record);
		return 0;
	}
	if (since_text[0]) {
		value = json_object_get(record, "time");
		if (!json_is_string(value) || json_string_length(value) != strlen(since_text) ||
		    strcmp(json_string_value(value), since_text) < 0) {
			json_decref(record);
			return 2;
		}
	}
	*out = record;
	return 1;
}

/* The start of the first line that begins at or after off (size when
 * none), and its seq (0 when unreadable). */
static off_t line_at_or_after(int fd, off_t off, off_t size, unsigned long long *seq)
{
	char buf[4096];
	off_t at = off;

	*seq = 0;
	if (off > 0) {
		/* A line begins at off when the byte before it is a newline. */
		for (at = off - 1; at < size;) {
			ssize_t n = pread(fd, buf, sizeof(buf), at);
			char *nl;

			if (n <= 0)
				return size;
			nl = memchr(buf, '\n', (size_t)n);
			if (nl) {
				at += (off_t)(nl - buf) + 1;
				break;
			}
			at += n;
			if (at - off > AUDIT_LINE_MAX)
				return size;
		}
	}
	if (at < size) {
		ssize_t n = pread(fd, buf, 40, at);

		if (n > 0)
			*seq = line_seq(buf, (size_t)n);
	}
	return at < size ? at : size;
}

/* Where the lines with a seq of before or more begin (seq grows by one a
 * line): a binary search over the file's bytes, a few small reads. */
static off_t seek_before(int fd, off_t size, unsigned long long before)
{
	off_t lo = 0, hi = size;

	while (lo < hi) {
		off_t mid = lo + (hi - lo) / 2;
		unsigned long long seq;
		off_t line = line_at_or_after(fd, mid, size, &seq);

		if (line >= size || seq >= before)
			hi = mid;
		else
			lo = mid + 1;
	}
	{
		unsigned long long seq;

		return line_at_or_after(fd, lo, size, &seq);
	}
}

/* What one page read has taken so far, across the files of the chain. */
struct page_read {
	const struct audit_page *page;
	char since_text[32];
	json_t *newest; /* newest first */
	size_t used;
	bool more, done;
};

/* Take the records of the file at path, newest first, into pr->newest
 * until the page is full or too old (pr->done). */
static int page_of_file(const char *path, struct page_read *pr)
{
	enum { CHUNK = 64 * 1024 };
	const struct audit_page *page = pr->page;
	char *buf = NULL;
	size_t held = 0, cap = 0;
	struct stat st;
	off_t pos;
	int fd, r = 0;
	bool at_end = true;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	pos = st.st_size;
	/* Paging back: start where the lines before `before` end. */
	if (page->before > 0) {
		pos = seek_before(fd, st.st_size, page->before);
		at_end = pos == st.st_size;
	}
	/* buf holds [pos, pos + held): the start of the file that is not yet
	 * split into lines, read a chunk at a time from the end. */
	while (!pr->done && (pos > 0 || held > 0)) {
		size_t want = pos > CHUNK ? CHUNK : (size_t)pos;
		char *nl;

		if (held + want + 1 > cap) {
			char *grown;

			cap = held + want + 1;
			grown = realloc(buf, cap);
			if (!grown) {
				r = -ENOMEM;
				goto out;
			}
			buf = grown;
		}
		memmove(buf + want, buf, held);
		pos -= (off_t)want;
		if (pread(fd, buf, want, pos) != (ssize_t)want) {
			r = -EIO;
			goto out;
		}
		held += want;
		if (at_end) {
			/* A final line without newline is one being cut or
			 * torn: not a record (verify reports it). */
			char *last = buf[held - 1] == '\n' ? buf + held - 1 : memrchr(buf, '\n', held);

			if (!last && pos > 0)
				continue;
			held = last ? (size_t)(last - buf) + 1 : 0;
			at_end = false;
		}
		/* Every line that starts after a newline in buf is whole. */
		while (held > 0 && !pr->done) {
			size_t end = held - 1; /* the newline ending the last line */
			size_t start;
			json_t *record;
			int took;

			nl = end > 0 ? memrchr(buf, '\n', end) : NULL;
			if (!nl && pos > 0)
				break; /* its start is in the part not read yet */
			start = nl ? (size_t)(nl - buf) + 1 : 0;
			took = back_take(buf + start, end - start, page, pr->since_text, &record);
			held = start;
			if (took < 0) {
				r = took;
				goto out;
			}
			if (took == 2) {
				pr->done = true;
				break;
			}
			if (took == 0)
				continue;
			if (json_array_size(pr->newest) > 0 &&
			    pr->used + page->size(record) > page->budget) {
				pr->more = true;
				json_decref(record);
				pr->done = true;
				break;
			}
			pr->used += page->size(record);
			if (json_array_append_new(pr->newest, record) < 0) {
				r = -ENOMEM;
				goto out;
			}
		}
	}
out:
	free(buf);
	close(fd);
	return r;
}

int audit_read_page(const char *path, const struct audit_page *page, json_t **out, bool *more)
{
	struct page_read pr = { .page = page };
	char **files = NULL;
	size_t n = 0, found = 0;
	int r;

	*out = NULL;
	*more = false;
	if (page->since != 0)
		time_format_utc(page->since, pr.since_text, sizeof(pr.since_text));
	r = audit_files(path, &files, &n);
	if (r < 0)
		return r;
	pr.newest = json_array();
	if (!pr.newest)
		r = -ENOMEM;
	/* The current file first, then back through the rotated ones. */
	for (size_t i = n; r == 0 && i > 0 && !pr.done; i--) {
		r = page_of_file(files[i - 1], &pr);
		if (r == -ENOENT && i == n) {
			r = 0; /* between a rotation's two steps */
			continue;
		}
		found += r == 0;
	}
	if (r == 0 && found == 0)
		r = -ENOENT;
	/* Oldest first. */
	if (r == 0 && !(*out = json_array()))
		r = -ENOMEM;
	for (size_t i = json_array_size(pr.newest); r == 0 && i > 0; i--)
		if (json_array_append(*out, json_array_get(pr.newest, i - 1)) < 0) {
			json_decref(*out);
			*out = NULL;
			r = -ENOMEM;
		}
	*more = pr.more;
	json_decref(pr.newest);
	audit_files_free(files, n);
	return r;
}

/* Append the records of the file at path that the read wants to records. */
static int read_file(const char *path, const char *id, const char *since_text, json_t *records)
{
	FILE *file = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int r = 0;

	file = fopen(path, "re");
	if (!file)
		return -errno;
	while ((n = getline(&line, &cap, file)) > 0) {
		json_t *record, *value;

		/* A final line without newline is one being cut or torn: not a
		 * record (verify reports it). */
		if (line[n - 1] != '\n')
			break;
		record = json_loadb(line, (size_t)n - 1, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(record)) {
			json_decref(record);
			r = -EBADMSG;
			goto out;
		}
		if (id) {
			value = json_object_get(record, "id");
			if (!json_is_string(value) || strcmp(json_string_value(value), id) != 0)
				goto skip;
		}
		if (since_text[0]) {
			/* RFC 3339 UTC with a four-digit year sorts as text. */
			value = json_object_get(record, "time");
			if (!json_is_string(value) ||
			    json_string_length(value) != strlen(since_text) ||
			    strcmp(json_string_value(value), since_text) < 0)
				goto skip;
		}
		if (json_array_append(records, record) < 0) {
			json_decref(record);
			r = -ENOMEM;
			goto out;
		}
skip:
		json_decref(record);
	}
	if (ferror(file))
		r = -EIO;
out:
	fclose(file);
	free(line);
	return r;
}

int audit_read(const char *path, const char *id, time_t since, json_t **out)
{
	char since_text[32] = "", **files = NULL;
	json_t *records = NULL;
	size_t n = 0, found = 0;
	int r;

	*out = NULL;
	if (since != 0)
		time_format_utc(since, since_text, sizeof(since_text));
	r = audit_files(path, &files, &n);
	if (r < 0)
		return r;
	records = json_array();
	if (!records)
		r = -ENOMEM;
	/* Oldest first: the rotated files, then the current one. */
	for (size_t i = 0; r == 0 && i < n; i++) {
		r = read_file(files[i], id, since_text, records);
		if (r == -ENOENT && i == n - 1) {
			r = 0; /* between a rotation's two steps */
			continue;
		}
		found += r == 0;
	}
	if (r == 0 && found == 0)
		r = -ENOENT;
	if (r == 0) {
		*out = records;
		records = NULL;
	}
	json_decref(records);
	audit_files_free(files, n);
	return r;
}

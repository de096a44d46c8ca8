/*
 * The authorized_keys engine: the edits (add, remove, replace, list) of
 * managed lines, whose text authkeys-line.c reads and writes. The file
 * itself is touched only through userfs.c, as the account.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "authkeys-line.h"
#include "authkeys.h"
#include "userfs.h"
#include "validate.h"

/* ---- the edits; they run in the child, as the account ---- */

/* The line to write and what identifies the lines it stands for. */
struct line_arg {
	struct span line;
	struct span blob;
	struct span marker;
};

static bool line_matches(struct span text, struct span marker, struct span blob)
{
	struct span last;

	return authkeys_line_last_field(text, &last) && span_eq(last, marker) &&
	       authkeys_line_has_field(text, blob);
}

static int edit_add(const void *varg, const char *content, size_t len,
		    struct userfs_change *change)
{
	const struct line_arg *arg = varg;
	struct line line;
	size_t pos = 0, n;
	char *out;

	while (authkeys_line_next(content, len, &pos, &line)) {
		struct span last;

		if (authkeys_line_has_field(line.text, arg->blob)) {
			change->reason = USERFS_R_EXISTS_KEY;
			return SL_EXISTS;
		}
		if (authkeys_line_last_field(line.text, &last) && span_eq(last, arg->marker)) {
			change->reason = USERFS_R_EXISTS_ID;
			return SL_EXISTS;
		}
	}
	out = malloc(len + arg->line.len + 1);
	if (!out)
		return -ENOMEM;
	memcpy(out, content, len);
	n = len;
	/* A file that does not end in a newline keeps not ending in one, so
	 * removing our line later gives back its exact bytes. */
	if (len > 0 && content[len - 1] != '\n') {
		out[n++] = '\n';
		memcpy(out + n, arg->line.p, arg->line.len);
		n += arg->line.len;
	} else {
		memcpy(out + n, arg->line.p, arg->line.len);
		n += arg->line.len;
		out[n++] = '\n';
	}
	change->content = out;
	change->len = n;
	change->count = 1;
	return 0;
}

/*
 * The lines of the grant arg names (its marker and its blob) go; with
 * replace, the first is rewritten in place as arg->line instead, keeping
 * whatever ended it ("\r\n", "\n" or nothing). No match writes nothing.
 */
static int edit_matching(const struct line_arg *arg, bool replace,
			 const char *content, size_t len,
			 struct userfs_change *change)
{
	struct line line;
	size_t pos = 0, n = 0, matched = 0;
	bool removed_last = false;
	char *out = malloc(len + arg->line.len + 1);

	if (!out)
		return -ENOMEM;
	while (authkeys_line_next(content, len, &pos, &line)) {
		if (!line_matches(line.text, arg->marker, arg->blob)) {
			memcpy(out + n, line.bytes.p, line.bytes.len);
			n += line.bytes.len;
			continue;
		}
		if (replace && matched == 0) {
			memcpy(out + n, arg->line.p, arg->line.len);
			n += arg->line.len;
			memcpy(out + n, line.text.p + line.text.len,
			       line.bytes.len - line.text.len);
			n += line.bytes.len - line.text.len;
		} else {
			/* only the last line can lack its newline */
			removed_last = !line.terminated;
		}
		matched++;
	}
	if (matched == 0) {
		free(out);
		return 0;
	}
	/* The removed last line had no newline: the line before it now ends
	 * the file and gives up its newline (the mirror of edit_add). */
	if (removed_last && n > 0 && out[n - 1] == '\n')
		n--;
	change->content = out;
	change->len = n;
	change->count = matched;
	return 0;
}

static int edit_remove(const void *arg, const char *content, size_t len,
		       struct userfs_change *change)
{
	return edit_matching(arg, false, content, len, change);
}

static int edit_replace(const void *arg, const char *content, size_t len,
			struct userfs_change *change)
{
	return edit_matching(arg, true, content, len, change);
}

/* The pairs of authkeys_remove_many, sorted by marker so that each line
 * costs one binary search. */
struct many_item {
	char marker[MARKER_LEN + 1];
	struct span blob;
	size_t index; /* in the caller's array */
};

struct many_arg {
	const struct many_item *items;
	size_t n;
};

static int many_item_compare(const void *a, const void *b)
{
	const struct many_item *x = a, *y = b;
	int c = memcmp(x->marker, y->marker, MARKER_LEN);

	if (c != 0)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* The pair a line stands for: the first (in the caller's order) whose
 * marker is the line's last field and whose blob is one of its fields. */
static const struct many_item *many_match(const struct many_arg *arg,
					  struct span text)
{
	struct span last = { "", 0 };
	size_t lo = 0, hi = arg->n;

	if (!authkeys_line_last_field(text, &last) || !authkeys_marker_valid(last))
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(arg->items[mid].marker, last.p, MARKER_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < arg->n && memcmp(arg->items[lo].marker, last.p, MARKER_LEN) == 0; lo++)
		if (authkeys_line_has_field(text, arg->items[lo].blob))
			return &arg->items[lo];
	return NULL;
}

/* Every line of any pair goes, in one pass; the payload is one uint32_t
 * count per pair, in the caller's order. */
static int edit_remove_many(const void *varg, const char *content, size_t len,
			    struct userfs_change *change)
{
	const struct many_arg *arg = varg;
	struct line line;
	size_t pos = 0, n = 0, matched = 0;
	bool removed_last = false;
	uint32_t *counts = calloc(arg->n, sizeof(*counts));
	char *out = malloc(len + 1);

	if (!counts || !out) {
		free(counts);
		free(out);
		return -ENOMEM;
	}
	while (authkeys_line_next(content, len, &pos, &line)) {
		const struct many_item *item = many_match(arg, line.text);

		if (!item) {
			memcpy(out + n, line.bytes.p, line.bytes.len);
			n += line.bytes.len;
			continue;
		}
		counts[item->index]++;
		/* only the last line can lack its newline */
		removed_last = !line.terminated;
		matched++;
	}
	if (matched == 0) {
		free(out);
	} else {
		/* As in edit_matching: the line before a removed last line
		 * without newline gives up its own. */
		if (removed_last && n > 0 && out[n - 1] == '\n')
			n--;
		change->content = out;
		change->len = n;
	}
	change->payload = (char *)counts;
	change->payload_len = arg->n * sizeof(*counts);
	change->count = matched;
	return 0;
}

/* The managed lines, as text joined by "\n", for the parent to parse. */
static int edit_list(const void *varg, const char *content, size_t len,
		     struct userfs_change *change)
{
	struct line line;
	size_t pos = 0, n = 0, count = 0;
	char *out = malloc(len + 1);

	if (!out)
		return -ENOMEM;
	while (authkeys_line_next(content, len, &pos, &line)) {
		struct span last;

		if (!authkeys_line_last_field(line.text, &last) || !authkeys_marker_valid(last))
			continue;
		if (count++ > 0)
			out[n++] = '\n';
		memcpy(out + n, line.text.p, line.text.len);
		n += line.text.len;
	}
	change->payload = out;
	change->payload_len = n;
	change->count = count;
	return 0;
}

/* ---- the API; runs as root ---- */

/* A managed line has the fields [options] type blob sshlease:<id>. */
static bool managed_split(struct span text, struct span *type, struct span *blob,
			  struct span *marker, struct span *options)
{
	struct span f[4];
	size_t n = authkeys_fields_split(text, f, 4);

	if (n != 3 && n != 4)
		return false;
	*options = n == 4 ? f[0] : (struct span){ "", 0 };
	*type = f[n - 3];
	*blob = f[n - 2];
	*marker = f[n - 1];
	return authkeys_key_type_valid(*type) && authkeys_blob_like(*blob) && authkeys_marker_valid(*marker);
}

/* A line the caller wants written: one managed line, nothing more. */
static bool line_arg_parse(const char *line, struct line_arg *arg)
{
	struct span type, options;

	arg->line = span_str(line);
	return arg->line.len <= AUTHKEYS_LINE_MAX &&
	       !memchr(line, '\n', arg->line.len) && !memchr(line, '\r', arg->line.len) &&
	       managed_split(arg->line, &type, &arg->blob, &arg->marker, &options);
}

int authkeys_add(const struct authkeys_ctx *ctx, const struct account *acct,
		 const char *line, const char **why)
{
	struct userfs_result res;
	struct line_arg arg;
	const char *dummy;
	int r;

	if (!why)
		why = &dummy;
	if (!acct || !line)
		return -EINVAL;
	if (!line_arg_parse(line, &arg)) {
		*why = "not a managed key line";
		return SL_REFUSED;
	}
	r = userfs_run(ctx, acct,
		       &(struct userfs_op){ .edit = edit_add, .arg = &arg,
					    .write = true, .create = true },
		       &res, why);
	free(res.payload);
	return r;
}

int authkeys_replace(const struct authkeys_ctx *ctx, const struct account *acct,
		     const char *line, size_t *replaced, const char **why)
{
	struct userfs_result res;
	struct line_arg arg;
	const char *dummy;
	int r;

	if (!why)
		why = &dummy;
	if (replaced)
		*replaced = 0;
	if (!acct || !line)
		return -EINVAL;
	if (!line_arg_parse(line, &arg)) {
		*why = "not a managed key line";
		return SL_REFUSED;
	}
	r = userfs_run(ctx, acct,
		       &(struct userfs_op){ .edit = edit_replace, .arg = &arg,
					    .write = true, .create = false },
		       &res, why);
	if (r == 0 && replaced)
		*replaced = res.count;
	free(res.payload);
	return r;
}

int authkeys_remove(const struct authkeys_ctx *ctx, const struct account *acct,
		    const char *id, const char *blob_base64, size_t *removed,
		    const char **why)
{
	char marker[MARKER_LEN + 1];
	struct userfs_result res;
	struct line_arg arg = { 0 };
	const char *dummy;
	int r;

	if (!why)
		why = &dummy;
	if (removed)
		*removed = 0;
	if (!acct || !id || !blob_base64)
		return -EINVAL;
	if (!grant_id_valid(id, strlen(id))) {
		*why = "the grant id is not 12 lower-case hex digits";
		return SL_REFUSED;
	}
	if (!authkeys_blob_like(span_str(blob_base64))) {
		*why = "the key is not plain base64";
		return SL_REFUSED;
	}
	snprintf(marker, sizeof(marker), "%s%s", AUTHKEYS_MARKER, id);
	arg.marker = span_str(marker);
	arg.blob = span_str(blob_base64);
	r = userfs_run(ctx, acct,
		       &(struct userfs_op){ .edit = edit_remove, .arg = &arg,
					    .write = true, .create = false, .shrinks = true },
		       &res, why);
	if (r == 0 && removed)
		*removed = res.count;
	free(res.payload);
	return r;
}

int authkeys_remove_many(const struct authkeys_ctx *ctx,
			 const struct account *acct,
			 const struct authkeys_entry *entries, size_t n,
			 size_t *removed, size_t *removed_each,
			 const char **why)
{
	struct userfs_result res = { 0 };
	struct many_item *items = NULL;
	const char *dummy;
	size_t total = 0;
	int r;

	if (!why)
		why = &dummy;
	if (removed)
		*removed = 0;
	for (size_t i = 0; removed_each && i < n; i++)
		removed_each[i] = 0;
	if (!acct || (n > 0 && !entries))
		return -EINVAL;
	if (n == 0)
		return 0;
	if (n > AUTHKEYS_REMOVE_MANY_MAX) {
		*why = "too many lines to remove in one edit";
		return SL_REFUSED;
	}
	items = calloc(n, sizeof(*items));
	if (!items)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!grant_id_valid(entries[i].id, strnlen(entries[i].id, sizeof(entries[i].id)))) {
			*why = "the grant id is not 12 lower-case hex digits";
			r = SL_REFUSED;
			goto out;
		}
		if (!entries[i].blob_base64 || !authkeys_blob_like(span_str(entries[i].blob_base64))) {
			*why = "the key is not plain base64";
			r = SL_REFUSED;
			goto out;
		}
		snprintf(items[i].marker, sizeof(items[i].marker), "%s%s",
			 AUTHKEYS_MARKER, entries[i].id);
		items[i].blob = span_str(entries[i].blob_base64);
		items[i].index = i;
	}
	qsort(items, n, sizeof(*items), many_item_compare);
	r = userfs_run(ctx, acct,
		       &(struct userfs_op){
			       .edit = edit_remove_many,
			       .arg = &(struct many_arg){ items, n },
			       .write = true, .create = false, .shrinks = true },
		       &res, why);
	if (r != 0)
		goto out;
	/* The counts come from the process acting as the account: checked
	 * like any input before they are believed. */
	if (res.payload_len != n * sizeof(uint32_t)) {
		*why = "the process acting as the account sent a malformed answer";
		r = -EPROTO;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t count;

		memcpy(&count, res.payload + i * sizeof(count), sizeof(count));
		total += count;
		if (removed_each)
			removed_each[i] = count;
	}
	if (total != res.count) {
		for (size_t i = 0; removed_each && i < n; i++)
			removed_each[i] = 0;
		*why = "the process acting as the account sent a malformed answer";
		r = -EPROTO;
		goto out;
	}
	if (removed)
		*removed = total;
out:
	free(res.payload);
	free(items);
	return r;
}

void authkeys_entries_free(struct authkeys_entry *entries, size_t n)
{
	if (!entries)
		return;
	for (size_t i = 0; i < n; i++) {
		free(entries[i].key_type);
		free(entries[i].blob_base64);
	}
	free(entries);
}

/* The child's payload is input like any other: every line is parsed again
 * and only well-formed managed lines become entries. */
static int entries_parse(const char *buf, size_t len,
			 struct authkeys_entry **out, size_t *count)
{
	struct authkeys_entry *entries = NULL;
	struct line line;
	size_t pos = 0, n = 0, cap = 0;
	int r;

	while (authkeys_line_next(buf, len, &pos, &line)) {
		struct span type, blob, marker, options;
		struct authkeys_entry *e;

		if (!managed_split(line.text, &type, &blob, &marker, &options))
			continue;
		if (n == cap) {
			size_t bigger_cap = cap ? cap * 2 : 8;
			struct authkeys_entry *bigger =
				reallocarray(entries, bigger_cap, sizeof(*entries));

			if (!bigger) {
				r = -ENOMEM;
				goto fail;
			}
			entries = bigger;
			cap = bigger_cap;
		}
		e = &entries[n];
		*e = (struct authkeys_entry){ 0 };
		memcpy(e->id, marker.p + MARKER_PREFIX_LEN, AUTHKEYS_ID_LEN);
		e->id[AUTHKEYS_ID_LEN] = '\0';
		e->expiry = authkeys_options_expiry(options);
		e->key_type = strndup(type.p, type.len);
		e->blob_base64 = strndup(blob.p, blob.len);
		n++;
		if (!e->key_type || !e->blob_base64) {
			r = -ENOMEM;
			goto fail;
		}
	}
	*out = entries;
	*count = n;
	return 0;
fail:
	authkeys_entries_free(entries, n);
	return r;
}

int authkeys_list_managed(const struct authkeys_ctx *ctx,
			  const struct account *acct,
			  struct authkeys_entry **out, size_t *n,
			  const char **why)
{
	struct userfs_result res;
	const char *dummy;
	int r;

	if (!why)
		why = &dummy;
	if (!acct || !out || !n)
		return -EINVAL;
	*out = NULL;
	*n = 0;
	r = userfs_run(ctx, acct,
		       &(struct userfs_op){ .edit = edit_list, .write = false,
					    .create = false },
		       &res, why);
	if (r == 0)
		r = entries_parse(res.payload, res.payload_len, out, n);
	free(res.payload);
	return r;
}

int authkeys_check(const struct account *acct, enum authkeys_found *found,
		   const char **why)
{
	struct userfs_result res;
	const char *dummy;
	int r;

	if (!why)
		why = &dummy;
	if (!acct || !found)
		return -EINVAL;
	r = userfs_run(NULL, acct, &(struct userfs_op){ .check = true }, &res, why);
	free(res.payload);
	if (r != 0)
		return r;
	if (res.count > AUTHKEYS_FOUND_HOME) {
		*why = "the process acting as the account sent a malformed answer";
		return -EPROTO;
	}
	*found = (enum authkeys_found)res.count;
	return 0;
}

void authkeys_new_id(char out[AUTHKEYS_ID_LEN + 1])
{
	unsigned char random[AUTHKEYS_ID_LEN / 2];

	if (sodium_init() < 0)
		abort(); /* no randomness: nothing safe to hand out */
	randombytes_buf(random, sizeof(random));
	sodium_bin2hex(out, AUTHKEYS_ID_LEN + 1, random, sizeof(random));
}

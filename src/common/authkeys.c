/*
 * The authorized_keys engine: what a managed line looks like, how lines are
 * found, and the edits (add, remove, replace, list). The file itself is
 * touched only through userfs.c, as the account.
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

#include "authkeys.h"
#include "userfs.h"
#include "validate.h"

#define MARKER_PREFIX_LEN (sizeof(AUTHKEYS_MARKER) - 1)
#define MARKER_LEN (MARKER_PREFIX_LEN + AUTHKEYS_ID_LEN)
#define KEY_TYPE_MAX 64
#define EXPIRY_OPTION "expiry-time"

/* A run of bytes inside a buffer that is not NUL-terminated. */
struct span {
	const char *p;
	size_t len;
};

static bool span_eq(struct span a, struct span b)
{
	return a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
}

static struct span span_str(const char *s)
{
	return (struct span){ s, strlen(s) };
}

/* ---- lines and fields ---- */

/*
 * One line of the file. Its bytes include the "\n" that ends it, when it
 * has one (the last line may not); text is the line without that "\n" and
 * without trailing "\r" (CRLF files), which is what fields are read from.
 */
struct line {
	struct span bytes;
	struct span text;
	bool terminated;
};

static bool line_next(const char *buf, size_t size, size_t *pos,
		      struct line *line)
{
	const char *start = buf + *pos;
	const char *nl;
	size_t n;

	if (*pos >= size)
		return false;
	nl = memchr(start, '\n', size - *pos);
	n = nl ? (size_t)(nl - start) : size - *pos;
	line->terminated = nl != NULL;
	line->bytes = (struct span){ start, n + (nl ? 1 : 0) };
	while (n > 0 && start[n - 1] == '\r')
		n--;
	line->text = (struct span){ start, n };
	*pos += line->bytes.len;
	return true;
}

/*
 * Fields as sshd splits a key line: blanks separate them, except inside the
 * double quotes of the first field, where options such as
 * command="a b" live (auth2-pubkeyfile.c skips options the same way).
 */
struct fields {
	const char *p, *end;
	bool first;
};

static struct fields fields_of(struct span text)
{
	return (struct fields){ text.p, text.p + text.len, true };
}

static bool field_next(struct fields *f, struct span *out)
{
	const char *start;
	bool quoted = false;

	while (f->p < f->end && (*f->p == ' ' || *f->p == '\t'))
		f->p++;
	if (f->p == f->end)
		return false;
	start = f->p;
	for (; f->p < f->end; f->p++) {
		char c = *f->p;

		if (!quoted && (c == ' ' || c == '\t'))
			break;
		if (!f->first)
			continue;
		if (c == '\\' && f->p + 1 < f->end && f->p[1] == '"')
			f->p++;
		else if (c == '"')
			quoted = !quoted;
	}
	f->first = false;
	*out = (struct span){ start, (size_t)(f->p - start) };
	return true;
}

/* Split text into at most max fields; returns how many it has in all. */
static size_t fields_split(struct span text, struct span *out, size_t max)
{
	struct fields f = fields_of(text);
	struct span field;
	size_t n = 0;

	while (field_next(&f, &field)) {
		if (n < max)
			out[n] = field;
		else
			out[max - 1] = field; /* keep the last one last */
		n++;
	}
	return n;
}

static bool line_has_field(struct span text, struct span want)
{
	struct fields f = fields_of(text);
	struct span field;

	while (field_next(&f, &field))
		if (span_eq(field, want))
			return true;
	return false;
}

static bool line_last_field(struct span text, struct span *last)
{
	struct fields f = fields_of(text);
	struct span field;
	bool any = false;

	while (field_next(&f, &field)) {
		*last = field;
		any = true;
	}
	return any;
}

/* ---- the pieces of a managed line ---- */

static bool marker_valid(struct span s)
{
	return s.len == MARKER_LEN &&
	       memcmp(s.p, AUTHKEYS_MARKER, MARKER_PREFIX_LEN) == 0 &&
	       grant_id_valid(s.p + MARKER_PREFIX_LEN, AUTHKEYS_ID_LEN);
}

static bool all_in(struct span s, const char *allowed)
{
	for (size_t i = 0; i < s.len; i++)
		if (s.p[i] == '\0' || !strchr(allowed, s.p[i]))
			return false;
	return true;
}

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/* "ssh-ed25519", "sk-ssh-ed25519@openssh.com", "ecdsa-sha2-nistp256"... */
static bool key_type_valid(struct span s)
{
	return s.len > 0 && s.len <= KEY_TYPE_MAX && all_in(s, ALNUM "-@._");
}

/*
 * Whether a field of a line in the file looks like a blob: base64 bytes,
 * '=' only as padding, any length. Deliberately looser than the blob of a
 * line we write (key_blob_valid): recognising and removing managed lines
 * must also reach lines planted with our marker and a broken blob, so that
 * they go as orphans.
 */
static bool blob_like(struct span s)
{
	size_t pad = 0;

	while (pad < s.len && pad < 2 && s.p[s.len - 1 - pad] == '=')
		pad++;
	return s.len > pad && s.len <= AUTHKEYS_LINE_MAX &&
	       all_in((struct span){ s.p, s.len - pad }, ALNUM "+/");
}

/* What the validator hands us: addresses, prefixes and commas. */
static bool from_valid(struct span s)
{
	return s.len > 0 && all_in(s, "0123456789abcdefABCDEF.:/,");
}

/* ---- expiry-time ---- */

static bool digits(const char *p, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return true;
}

/*
 * Read an expiry-time value as sshd does (misc.c parse_absolute_time):
 * YYYYMMDD[HHMM[SS]], UTC with a trailing 'Z', otherwise local time through
 * mktime with tm_isdst = 0. Returns 0 when it cannot be read.
 */
static time_t expiry_parse(struct span v)
{
	struct tm tm = { 0 };
	bool utc = v.len > 0 && (v.p[v.len - 1] == 'Z' || v.p[v.len - 1] == 'z');
	size_t n = utc ? v.len - 1 : v.len;
	time_t t;

	if ((n != 8 && n != 12 && n != 14) ||
	    !digits(v.p, 4, &tm.tm_year) || !digits(v.p + 4, 2, &tm.tm_mon) ||
	    !digits(v.p + 6, 2, &tm.tm_mday) ||
	    (n >= 12 && (!digits(v.p + 8, 2, &tm.tm_hour) ||
			 !digits(v.p + 10, 2, &tm.tm_min))) ||
	    (n == 14 && !digits(v.p + 12, 2, &tm.tm_sec)))
		return 0;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 61)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = utc ? timegm(&tm) : mktime(&tm);
	return t < 0 ? 0 : t;
}

/* The expiry-time value inside an options field, or 0. */
static time_t options_expiry(struct span options)
{
	const char *p = options.p, *end = options.p + options.len;
	size_t name_len = sizeof(EXPIRY_OPTION) - 1;

	while (p < end) {
		const char *opt = p;
		bool quoted = false;

		for (; p < end && (quoted || *p != ','); p++) {
			if (*p == '\\' && p + 1 < end && p[1] == '"')
				p++;
			else if (*p == '"')
				quoted = !quoted;
		}
		/* opt .. p is one option: expiry-time="VALUE" */
		if ((size_t)(p - opt) >= name_len + 3 &&
		    strncasecmp(opt, EXPIRY_OPTION "=\"", name_len + 2) == 0 &&
		    p[-1] == '"')
			return expiry_parse((struct span){
				opt + name_len + 2, (size_t)(p - opt) - name_len - 3 });
		if (p < end)
			p++;
	}
	return 0;
}

/*
 * The local wall-clock time that sshd 7.7-9.0 turns back into deadline: it
 * reads the digits with strptime into a zeroed struct tm (so tm_isdst = 0,
 * "standard time") and calls mktime. In summer that is an hour off the
 * clock on the wall, so solve for it: move the wall clock by the error
 * until mktime lands on the deadline.
 */
static bool local_for_sshd(time_t deadline, struct tm *out)
{
	struct tm tm;
	time_t wall;

	if (!localtime_r(&deadline, &tm))
		return false;
	/* The wall clock as a count of seconds, free of any zone rule. */
	wall = timegm(&tm);
	for (int i = 0; i < 4; i++) {
		struct tm probe;
		time_t got;

		if (!gmtime_r(&wall, &tm))
			return false;
		probe = tm;
		probe.tm_isdst = 0;
		got = mktime(&probe);
		if (got == deadline) {
			*out = tm;
			return true;
		}
		if (got == (time_t)-1)
			return false;
		wall += deadline - got;
	}
	return false;
}

static int expiry_format(const struct authkeys_line_spec *spec, char *buf,
			 size_t size, const char **why)
{
	struct tm tm;
	bool ok;

	if (spec->expiry == AUTHKEYS_EXPIRY_NONE) {
		buf[0] = '\0';
		return 0;
	}
	if (spec->expiry != AUTHKEYS_EXPIRY_UTC && spec->expiry != AUTHKEYS_EXPIRY_LOCAL) {
		*why = "unknown expiry-time format";
		return SL_REFUSED;
	}
	if (spec->deadline <= 0) {
		*why = "the deadline is out of range";
		return SL_REFUSED;
	}
	if (spec->expiry == AUTHKEYS_EXPIRY_UTC)
		ok = gmtime_r(&spec->deadline, &tm) != NULL;
	else
		ok = local_for_sshd(spec->deadline, &tm);
	if (!ok) {
		*why = "the deadline cannot be written as local time that sshd reads back exactly";
		return SL_REFUSED;
	}
	/* sshd wants exactly four digits of year. */
	if (tm.tm_year + 1900 < 1970 || tm.tm_year + 1900 > 9999) {
		*why = "the deadline is out of range";
		return SL_REFUSED;
	}
	snprintf(buf, size, ",%s=\"%04d%02d%02d%02d%02d%02d%s\"", EXPIRY_OPTION,
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec,
		 spec->expiry == AUTHKEYS_EXPIRY_UTC ? "Z" : "");
	return 0;
}

int authkeys_format_line(const struct authkeys_line_spec *spec, char **out,
			 const char **why)
{
	const char *dummy, *options;
	char expiry[64];
	char *line = NULL;
	int len, r;

	if (!why)
		why = &dummy;
	if (!spec || !out)
		return -EINVAL;
	if (!spec->id || !grant_id_valid(spec->id, strlen(spec->id))) {
		*why = "the grant id is not 12 lower-case hex digits";
		return SL_REFUSED;
	}
	if (!spec->key_type || !key_type_valid(span_str(spec->key_type))) {
		*why = "the key type is not a plain key type name";
		return SL_REFUSED;
	}
	if (!spec->blob_base64 ||
	    !key_blob_valid(spec->blob_base64, strlen(spec->blob_base64))) {
		*why = "the key is not plain base64";
		return SL_REFUSED;
	}
	if (spec->from && !from_valid(span_str(spec->from))) {
		*why = "the source list may hold only addresses, prefixes and commas";
		return SL_REFUSED;
	}
	switch (spec->mode) {
	case AUTHKEYS_MODE_SHELL: options = "restrict,pty"; break;
	case AUTHKEYS_MODE_SFTP: options = "restrict,command=\"internal-sftp\""; break;
	default:
		*why = "unknown access mode";
		return SL_REFUSED;
	}
	r = expiry_format(spec, expiry, sizeof(expiry), why);
	if (r != 0)
		return r;

	len = snprintf(NULL, 0, "%s%s%s%s%s %s %s %s%s", options, expiry,
		       spec->from ? ",from=\"" : "", spec->from ? spec->from : "",
		       spec->from ? "\"" : "", spec->key_type, spec->blob_base64,
		       AUTHKEYS_MARKER, spec->id);
	if (len < 0)
		return -EINVAL;
	if ((size_t)len > AUTHKEYS_LINE_MAX) {
		*why = "the key line would be longer than 6144 bytes";
		return SL_REFUSED;
	}
	line = malloc((size_t)len + 1);
	if (!line)
		return -ENOMEM;
	snprintf(line, (size_t)len + 1, "%s%s%s%s%s %s %s %s%s", options, expiry,
		 spec->from ? ",from=\"" : "", spec->from ? spec->from : "",
		 spec->from ? "\"" : "", spec->key_type, spec->blob_base64,
		 AUTHKEYS_MARKER, spec->id);
	*out = line;
	return 0;
}

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

	return line_last_field(text, &last) && span_eq(last, marker) &&
	       line_has_field(text, blob);
}

static int edit_add(const void *varg, const char *content, size_t len,
		    struct userfs_change *change)
{
	const struct line_arg *arg = varg;
	struct line line;
	size_t pos = 0, n;
	char *out;

	while (line_next(content, len, &pos, &line)) {
		struct span last;

		if (line_has_field(line.text, arg->blob)) {
			change->reason = USERFS_R_EXISTS_KEY;
			return SL_EXISTS;
		}
		if (line_last_field(line.text, &last) && span_eq(last, arg->marker)) {
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
	while (line_next(content, len, &pos, &line)) {
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

	if (!line_last_field(text, &last) || !marker_valid(last))
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(arg->items[mid].marker, last.p, MARKER_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < arg->n && memcmp(arg->items[lo].marker, last.p, MARKER_LEN) == 0; lo++)
		if (line_has_field(text, arg->items[lo].blob))
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
	while (line_next(content, len, &pos, &line)) {
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
	while (line_next(content, len, &pos, &line)) {
		struct span last;

		if (!line_last_field(line.text, &last) || !marker_valid(last))
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
	size_t n = fields_split(text, f, 4);

	if (n != 3 && n != 4)
		return false;
	*options = n == 4 ? f[0] : (struct span){ "", 0 };
	*type = f[n - 3];
	*blob = f[n - 2];
	*marker = f[n - 1];
	return key_type_valid(*type) && blob_like(*blob) && marker_valid(*marker);
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
	if (!blob_like(span_str(blob_base64))) {
		*why = "the key is not plain base64";
		return SL_REFUSED;
	}
	snprintf(marker, sizeof(marker), "%s%s", AUTHKEYS_MARKER, id);
	arg.marker = span_str(marker);
	arg.blob = span_str(blob_base64);
	r = userfs_run(ctx, acct,
		       &(struct userfs_op){ .edit = edit_remove, .arg = &arg,
					    .write = true, .create = false },
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
		if (!entries[i].blob_base64 || !blob_like(span_str(entries[i].blob_base64))) {
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
			       .write = true, .create = false },
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

	while (line_next(buf, len, &pos, &line)) {
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
		e->expiry = options_expiry(options);
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

/*
 * The text of authorized_keys and the pieces of a managed line: how sshd
 * splits a line into fields, what a marker, key type and blob look like,
 * and expiry-time in each form sshd reads (authkeys-line.h).
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

#include "authkeys-line.h"
#include "validate.h"

#define KEY_TYPE_MAX 64
#define EXPIRY_OPTION "expiry-time"

/* ---- lines and fields ---- */

bool authkeys_line_next(const char *buf, size_t size, size_t *pos,
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
size_t authkeys_fields_split(struct span text, struct span *out, size_t max)
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

bool authkeys_line_has_field(struct span text, struct span want)
{
	struct fields f = fields_of(text);
	struct span field;

	while (field_next(&f, &field))
		if (span_eq(field, want))
			return true;
	return false;
}

bool authkeys_line_last_field(struct span text, struct span *last)
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

bool authkeys_marker_valid(struct span s)
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
bool authkeys_key_type_valid(struct span s)
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
bool authkeys_blob_like(struct span s)
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
time_t authkeys_options_expiry(struct span options)
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
	if (!spec->key_type || !authkeys_key_type_valid(span_str(spec->key_type))) {
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

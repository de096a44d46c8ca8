/*
 * Private to the authorized_keys engine (authkeys.c, authkeys-line.c): the
 * text of authorized_keys as sshd reads it (lines, fields) and the pieces
 * of a managed line (marker, key type, blob, expiry-time), read and
 * written by one owner. Nothing here touches a file.
 */
#ifndef SSHLEASE_AUTHKEYS_LINE_H
#define SSHLEASE_AUTHKEYS_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "authkeys.h"

#define MARKER_PREFIX_LEN (sizeof(AUTHKEYS_MARKER) - 1)
#define MARKER_LEN (MARKER_PREFIX_LEN + AUTHKEYS_ID_LEN)

/* A run of bytes inside a buffer that is not NUL-terminated. */
struct span {
	const char *p;
	size_t len;
};

static inline bool span_eq(struct span a, struct span b)
{
	return a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
}

static inline struct span span_str(const char *s)
{
	return (struct span){ s, strlen(s) };
}


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

/* The next line of buf[0..size) from *pos into *line, *pos moved past it;
 * false at the end. */
bool authkeys_line_next(const char *buf, size_t size, size_t *pos,
			struct line *line);

/* Split text into fields as sshd does (blanks, quotes in the options
 * field), at most max of them in out (the last one always last); returns
 * how many it has in all. */
size_t authkeys_fields_split(struct span text, struct span *out, size_t max);

/* Whether one field of text is want. */
bool authkeys_line_has_field(struct span text, struct span want);

/* The last field of text into *last; false when it has none. */
bool authkeys_line_last_field(struct span text, struct span *last);

/* "sshlease:" and a valid grant id, nothing more. */
bool authkeys_marker_valid(struct span s);

/* A key type name: 1..64 of [A-Za-z0-9-@._]. */
bool authkeys_key_type_valid(struct span s);

/* Looks like a blob (base64, '=' only as padding, any length up to
 * AUTHKEYS_LINE_MAX): looser than key_blob_valid, so that planted lines
 * with a broken blob are still recognised and removed. */
bool authkeys_blob_like(struct span s);

/* The expiry-time inside an options field as a time, or 0 when it has
 * none that reads as one. */
time_t authkeys_options_expiry(struct span options);

#endif

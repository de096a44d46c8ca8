/*
 * Keys added while a grant is live (keyguard.h): which lines are the
 * account's own, which are a live grant's, and which were added; the
 * edits run in the engine's child, as the account (userfs.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "authkeys-line.h"
#include "keyguard.h"
#include "userfs.h"

#define HASH_BYTES (KEYGUARD_HASH_HEX / 2)

/* ---- reading a line as sshd reads it ---- */

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

static struct span trimmed(struct span text)
{
	while (text.len > 0 && blank(text.p[0])) {
		text.p++;
		text.len--;
	}
	while (text.len > 0 && blank(text.p[text.len - 1]))
		text.len--;
	return text;
}

/* Every key type OpenSSH knows has a '-' in its name, and base64 has none:
 * so a first field that is a type name followed by a base64 field is the
 * key (sshd reads a key at the start of a line first), and otherwise the
 * first field is the options and the key follows. */
static bool type_like(struct span s)
{
	return authkeys_key_type_valid(s) && memchr(s.p, '-', s.len) != NULL;
}

static bool line_key(struct span text, struct span *type, struct span *blob)
{
	struct span f[3];
	size_t n = authkeys_fields_split(text, f, 3);

	if (n >= 2 && type_like(f[0]) && authkeys_blob_like(f[1])) {
		*type = f[0];
		*blob = f[1];
		return true;
	}
	/* f holds the first three fields only when there are no more than
	 * three; split again for the second and third of a longer line. */
	if (n > 3) {
		struct span g[4];

		authkeys_fields_split(text, g, 4);
		f[1] = g[1];
		f[2] = g[2];
	}
	if (n >= 3 && type_like(f[1]) && authkeys_blob_like(f[2])) {
		*type = f[1];
		*blob = f[2];
		return true;
	}
	return false;
}

/* A line sshd skips: blank, or a comment. */
static bool nobodys(struct span t)
{
	return t.len == 0 || t.p[0] == '#';
}

static void hash_of(const char *domain, struct span s, keyguard_hash out)
{
	unsigned char digest[HASH_BYTES];
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, sizeof(digest));
	crypto_generichash_update(&st, (const unsigned char *)domain, strlen(domain) + 1);
	crypto_generichash_update(&st, (const unsigned char *)s.p, s.len);
	crypto_generichash_final(&st, digest, sizeof(digest));
	sodium_bin2hex(out, KEYGUARD_HASH_HEX + 1, digest, sizeof(digest));
}

/* The identities of a line: its text, and the key it carries. */
static size_t text_hashes(struct span t, keyguard_hash out[2])
{
	struct span type, blob;
	size_t n = 0;

	hash_of("line", t, out[n++]);
	if (line_key(t, &type, &blob))
		hash_of("key", blob, out[n++]);
	return n;
}

/* A line that ends in a marker is ours to judge, not the account's. */
static bool marked(struct span t)
{
	struct span last;

	return authkeys_line_last_field(t, &last) && last.len >= MARKER_PREFIX_LEN &&
	       memcmp(last.p, AUTHKEYS_MARKER, MARKER_PREFIX_LEN) == 0;
}

size_t keyguard_line_hashes(const char *line, size_t len, keyguard_hash out[2])
{
	struct span t = trimmed((struct span){ line, len });

	while (t.len > 0 && t.p[t.len - 1] == '\r')
		t = trimmed((struct span){ t.p, t.len - 1 });
	if (nobodys(t))
		return 0;
	return text_hashes(t, out);
}

bool keyguard_line_key(const char *line, size_t len, char fingerprint[64],
		       char type_out[65])
{
	struct span type, blob;
	unsigned char *bin = NULL;
	unsigned char digest[crypto_hash_sha256_BYTES];
	size_t bin_len = 0;
	bool ok = false;

	if (!line_key(trimmed((struct span){ line, len }), &type, &blob) ||
	    type.len > 64 || sodium_init() < 0)
		return false;
	bin = malloc(blob.len);
	if (!bin)
		return false;
	if (sodium_base642bin(bin, blob.len, blob.p, blob.len, NULL, &bin_len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) == 0 && bin_len > 0) {
		static const char prefix[] = "SHA256:";

		crypto_hash_sha256(digest, bin, bin_len);
		memcpy(fingerprint, prefix, sizeof(prefix) - 1);
		sodium_bin2base64(fingerprint + sizeof(prefix) - 1,
				  64 - (sizeof(prefix) - 1), digest, sizeof(digest),
				  sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
		memcpy(type_out, type.p, type.len);
		type_out[type.len] = '\0';
		ok = true;
	}
	free(bin);
	return ok;
}

static int hash_compare(const void *a, const void *b)
{
	return memcmp(a, b, KEYGUARD_HASH_HEX);
}

size_t keyguard_hashes_sort(keyguard_hash *hashes, size_t n)
{
	size_t kept = 0;

	if (n == 0)
		return 0;
	qsort(hashes, n, sizeof(*hashes), hash_compare);
	for (size_t i = 0; i < n; i++)
		if (kept == 0 || memcmp(hashes[kept - 1], hashes[i], KEYGUARD_HASH_HEX) != 0)
			memmove(hashes[kept++], hashes[i], sizeof(*hashes));
	return kept;
}

bool keyguard_hash_valid(const char *hash)
{
	size_t i;

	for (i = 0; hash[i]; i++)
		if (!((hash[i] >= '0' && hash[i] <= '9') || (hash[i] >= 'a' && hash[i] <= 'f')))
			return false;
	return i == KEYGUARD_HASH_HEX;
}

/* ---- the edits; they run in the child, as the account ---- */

static int edit_snapshot(const void *arg, const char *content, size_t len,
			 struct userfs_change *change)
{
	struct line line;
	size_t pos = 0, n = 0, cap = 0;
	char *out = NULL;

	(void)arg;
	while (authkeys_line_next(content, len, &pos, &line)) {
		struct span t = trimmed(line.text);
		keyguard_hash h[2];
		size_t k;

		if (nobodys(t) || marked(t))
			continue;
		k = text_hashes(t, h);
		if (n + k * (KEYGUARD_HASH_HEX + 1) + 1 > cap) {
			char *grown;

			cap = cap ? cap * 2 : 4096;
			grown = realloc(out, cap);
			if (!grown) {
				free(out);
				return -ENOMEM;
			}
			out = grown;
		}
		for (size_t i = 0; i < k; i++) {
			memcpy(out + n, h[i], KEYGUARD_HASH_HEX);
			n += KEYGUARD_HASH_HEX;
			out[n++] = '\n';
		}
	}
	change->payload = out;
	change->payload_len = n;
	return 0;
}

static bool known(const struct keyguard_sweep *sw, const keyguard_hash h)
{
	return sw->n_known > 0 &&
	       bsearch(h, sw->known, sw->n_known, sizeof(*sw->known), hash_compare) != NULL;
}

/* Whether the line t belongs: the account's own, or a live grant's. */
static bool belongs(const struct keyguard_sweep *sw, struct span t)
{
	keyguard_hash h[2];
	size_t k;

	if (nobodys(t))
		return true;
	if (marked(t)) {
		for (size_t i = 0; i < sw->n_ours; i++)
			if (span_eq(t, span_str(sw->ours[i])))
				return true;
		return false;
	}
	k = text_hashes(t, h);
	for (size_t i = 0; i < k; i++)
		if (known(sw, h[i]))
			return true;
	return false;
}

/* Payload: per added line (the first KEYGUARD_FOUND_MAX), 'T' or 'F'
 * (truncated), its bytes in hex, '\n'. */
static int edit_sweep(const void *varg, const char *content, size_t len,
		      struct userfs_change *change)
{
	const struct keyguard_sweep *sw = varg;
	struct line line;
	size_t pos = 0, n = 0, p = 0, total = 0;
	bool removed_last = false;
	char *out = malloc(len + 1);
	char *payload = malloc(KEYGUARD_FOUND_MAX * (2 * KEYGUARD_LINE_MAX + 2) + 1);

	if (!out || !payload) {
		free(out);
		free(payload);
		return -ENOMEM;
	}
	while (authkeys_line_next(content, len, &pos, &line)) {
		struct span t = trimmed(line.text);

		if (belongs(sw, t)) {
			memcpy(out + n, line.bytes.p, line.bytes.len);
			n += line.bytes.len;
			continue;
		}
		if (total++ < KEYGUARD_FOUND_MAX) {
			size_t keep = line.text.len;
			const char *nul = memchr(line.text.p, '\0', keep);
			bool cut = false;

			if (nul) {
				keep = (size_t)(nul - line.text.p);
				cut = true;
			}
			if (keep > KEYGUARD_LINE_MAX) {
				keep = KEYGUARD_LINE_MAX;
				cut = true;
			}
			payload[p++] = cut ? 'T' : 'F';
			sodium_bin2hex(payload + p, 2 * keep + 1,
				       (const unsigned char *)line.text.p, keep);
			p += 2 * keep;
			payload[p++] = '\n';
		}
		removed_last = !line.terminated;
	}
	change->payload = payload;
	change->payload_len = p;
	change->count = total;
	if (total == 0 || !sw->remove) {
		free(out);
		return 0;
	}
	/* As authkeys_remove: a removed last line without a newline takes
	 * the newline before it along. */
	if (removed_last && n > 0 && out[n - 1] == '\n')
		n--;
	change->content = out;
	change->len = n;
	return 0;
}

struct restore_arg {
	struct span line;
};

static int edit_restore(const void *varg, const char *content, size_t len,
			struct userfs_change *change)
{
	const struct restore_arg *arg = varg;
	struct line line;
	size_t pos = 0, n;
	char *out;

	while (authkeys_line_next(content, len, &pos, &line)) {
		if (span_eq(line.text, arg->line)) {
			change->reason = USERFS_R_EXISTS_KEY;
			return SL_EXISTS;
		}
	}
	out = malloc(len + arg->line.len + 2);
	if (!out)
		return -ENOMEM;
	memcpy(out, content, len);
	n = len;
	if (n > 0 && out[n - 1] != '\n')
		out[n++] = '\n';
	memcpy(out + n, arg->line.p, arg->line.len);
	n += arg->line.len;
	out[n++] = '\n';
	change->content = out;
	change->len = n;
	return 0;
}

/* ---- the API; runs as root ---- */

static bool name_valid(const char *name)
{
	size_t len = name ? strlen(name) : 0;

	return len > 0 && len < 64 && !strchr(name, '/') && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0;
}

int keyguard_snapshot(const struct authkeys_ctx *ctx, const struct account *acct,
		      const char *name, keyguard_hash **out, size_t *n,
		      const char **why)
{
	struct userfs_result res;
	keyguard_hash *hashes = NULL;
	size_t count = 0;
	int r;

	*out = NULL;
	*n = 0;
	if (!name_valid(name)) {
		*why = "not a file name in ~/.ssh";
		return -EINVAL;
	}
	r = userfs_run(ctx, acct,
		       &(struct userfs_op){ .name = name, .edit = edit_snapshot },
		       &res, why);
	if (r != 0)
		goto out;
	if (res.payload_len % (KEYGUARD_HASH_HEX + 1) != 0) {
		*why = "the process acting as the account sent a malformed answer";
		r = -EPROTO;
		goto out;
	}
	count = res.payload_len / (KEYGUARD_HASH_HEX + 1);
	hashes = count ? calloc(count, sizeof(*hashes)) : NULL;
	if (count && !hashes) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		const char *h = res.payload + i * (KEYGUARD_HASH_HEX + 1);

		memcpy(hashes[i], h, KEYGUARD_HASH_HEX);
		hashes[i][KEYGUARD_HASH_HEX] = '\0';
		if (h[KEYGUARD_HASH_HEX] != '\n' || !keyguard_hash_valid(hashes[i])) {
			*why = "the process acting as the account sent a malformed answer";
			r = -EPROTO;
			goto out;
		}
	}
	*n = keyguard_hashes_sort(hashes, count);
	*out = hashes;
	hashes = NULL;
out:
	free(hashes);
	free(res.payload);
	return r;
}

void keyguard_found_free(struct keyguard_found *found, size_t n)
{
	for (size_t i = 0; found && i < n; i++)
		free(found[i].line);
	free(found);
}

/* The sweep's payload back into lines; -EPROTO when malformed. */
static int found_parse(const char *p, size_t len, struct keyguard_found **out,
		       size_t *n_out)
{
	struct keyguard_found *found = NULL;
	size_t n = 0;
	const char *end = p + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t hex_len, bin_len = 0;
		struct keyguard_found *grown;
		char *line;

		if (!nl || (*p != 'T' && *p != 'F') || n >= KEYGUARD_FOUND_MAX)
			goto malformed;
		hex_len = (size_t)(nl - p - 1);
		if (hex_len % 2 != 0 || hex_len / 2 > KEYGUARD_LINE_MAX)
			goto malformed;
		line = malloc(hex_len / 2 + 1);
		grown = line ? realloc(found, (n + 1) * sizeof(*found)) : NULL;
		if (!grown) {
			free(line);
			keyguard_found_free(found, n);
			return -ENOMEM;
		}
		found = grown;
		if (sodium_hex2bin((unsigned char *)line, hex_len / 2, p + 1, hex_len,
				   NULL, &bin_len, NULL) != 0 || bin_len != hex_len / 2) {
			free(line);
			goto malformed;
		}
		line[bin_len] = '\0';
		found[n++] = (struct keyguard_found){ .line = line, .len = bin_len,
						      .truncated = *p == 'T' };
		p = nl + 1;
	}
	*out = found;
	*n_out = n;
	return 0;
malformed:
	keyguard_found_free(found, n);
	return -EPROTO;
}

int keyguard_sweep(const struct authkeys_ctx *ctx, const struct account *acct,
		   const struct keyguard_sweep *sweep,
		   struct keyguard_found **found, size_t *n_found,
		   size_t *total, const char **why)
{
	struct userfs_result res;
	int r;

	*found = NULL;
	*n_found = 0;
	if (total)
		*total = 0;
	if (!name_valid(sweep->name)) {
		*why = "not a file name in ~/.ssh";
		return -EINVAL;
	}
	r = userfs_run(ctx, acct,
		       &(struct userfs_op){ .name = sweep->name, .edit = edit_sweep,
					    .arg = sweep, .write = sweep->remove },
		       &res, why);
	if (r == 0) {
		r = found_parse(res.payload, res.payload_len, found, n_found);
		if (r == -EPROTO)
			*why = "the process acting as the account sent a malformed answer";
		else if (r == 0 && total)
			*total = res.count;
	}
	free(res.payload);
	return r;
}

int keyguard_move_aside(const struct authkeys_ctx *ctx, const struct account *acct,
			const char *name, struct keyguard_moved *moved, const char **why)
{
	struct userfs_result res;
	const char *nl;
	int r;

	*moved = (struct keyguard_moved){ .what = KEYGUARD_MOVED_NONE };
	if (!name_valid(name)) {
		*why = "not a file name in ~/.ssh";
		return -EINVAL;
	}
	r = userfs_run(ctx, acct, &(struct userfs_op){ .name = name, .move_aside = true }, &res,
		       why);
	if (r != 0)
		return r;
	if (res.count != USERFS_MOVED_NONE) {
		nl = res.payload ? memchr(res.payload, '\n', res.payload_len) : NULL;
		if (!nl || res.count > USERFS_MOVED_FILE_LINK ||
		    (size_t)(nl - res.payload) >= sizeof(moved->to)) {
			free(res.payload);
			*why = "the process acting as the account sent a malformed answer";
			return -EPROTO;
		}
		moved->what = res.count == USERFS_MOVED_SSH_SYMLINK ? KEYGUARD_MOVED_SSH_SYMLINK :
			      res.count == USERFS_MOVED_FILE_SYMLINK ? KEYGUARD_MOVED_FILE_SYMLINK :
								       KEYGUARD_MOVED_FILE_LINK;
		memcpy(moved->to, res.payload, (size_t)(nl - res.payload));
		moved->to[nl - res.payload] = '\0';
		snprintf(moved->target, sizeof(moved->target), "%.*s",
			 (int)(res.payload_len - (size_t)(nl + 1 - res.payload)), nl + 1);
	}
	free(res.payload);
	return 0;
}

int keyguard_restore(const struct authkeys_ctx *ctx, const struct account *acct,
		     const char *name, const char *line, size_t len,
		     const char **why)
{
	struct restore_arg arg = { .line = { line, len } };
	struct userfs_result res;
	int r;

	if (!name_valid(name) || len == 0 || len > KEYGUARD_LINE_MAX ||
	    memchr(line, '\n', len) || memchr(line, '\r', len) || memchr(line, '\0', len)) {
		*why = "not a line that can be put back";
		return SL_REFUSED;
	}
	r = userfs_run(ctx, acct,
		       &(struct userfs_op){ .name = name, .edit = edit_restore,
					    .arg = &arg, .write = true, .create = true },
		       &res, why);
	free(res.payload);
	return r;
}

size_t keyguard_file_names(const char *value, char names[][64], size_t max,
			   size_t *skipped)
{
	const char *p = value ? value : ".ssh/authorized_keys .ssh/authorized_keys2";
	size_t n = 0, other = 0;

	if (max == 0)
		return 0;
	snprintf(names[n++], 64, "%s", "authorized_keys");
	while (*p) {
		size_t len;
		const char *entry;
		char name[64];

		p += strspn(p, " \t");
		len = strcspn(p, " \t");
		if (len == 0)
			break;
		entry = p;
		p += len;
		if (len > 3 && strncmp(entry, "%h/", 3) == 0) {
			entry += 3;
			len -= 3;
		}
		if (len <= 5 || strncmp(entry, ".ssh/", 5) != 0 || len - 5 >= sizeof(name)) {
			other++;
			continue;
		}
		memcpy(name, entry + 5, len - 5);
		name[len - 5] = '\0';
		if (!name_valid(name) || strchr(name, '%')) {
			other++;
			continue;
		}
		bool dup = false;

		for (size_t i = 0; i < n; i++)
			dup = dup || strcmp(names[i], name) == 0;
		if (!dup && n < max)
			snprintf(names[n++], 64, "%s", name);
	}
	if (skipped)
		*skipped = other;
	return n;
}

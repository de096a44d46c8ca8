/*
 * Keys added while a grant is live (DESIGN.md §13): what the account's key
 * files held when the first live grant of the account began (the
 * snapshot), and the lines found since that are neither in it nor a live
 * grant's own line (the sweep). Files are read and edited only through the
 * authorized_keys engine (userfs.c), as the account: the same walk,
 * StrictModes checks and compare-and-swap as every other edit.
 *
 * A line is the account's own when its text (without surrounding blanks
 * and its line end) is in the snapshot, or when the key it carries, read
 * as sshd reads it (options, type, blob), is a key of the snapshot: a
 * changed option on the owner's key gives nobody a new way in. Blank lines
 * and comments are nobody's. Every other line that sshd could read as a key
 * was added, and so is a line carrying a marker whose text is not exactly
 * one of the lines of the live grants (a grant line someone edited, to
 * drop its restrictions, say).
 */
#ifndef SSHLEASE_KEYGUARD_H
#define SSHLEASE_KEYGUARD_H

#include <stdbool.h>
#include <stddef.h>

#include "account.h"
#include "authkeys.h"

/* One identity of the snapshot: 16 bytes of BLAKE2b, in hex. */
#define KEYGUARD_HASH_HEX 32
/* The most bytes of one added line that are kept (sshd reads longer). */
#define KEYGUARD_LINE_MAX 4096
/* The most added lines one sweep hands back (all are handled). */
#define KEYGUARD_FOUND_MAX 64
/* The most key files of an account that are watched. */
#define KEYGUARD_FILES_MAX 8

typedef char keyguard_hash[KEYGUARD_HASH_HEX + 1];

/*
 * The identities (line texts and keys) of every key line of the account's
 * ~/.ssh/<name> that is not a managed line, sorted, no duplicates, in a
 * new array *out of *n (free()). A missing file or ~/.ssh has none.
 * Returns 0, SL_REFUSED with *why (the engine's refusals of the path), or
 * -errno with *why.
 */
int keyguard_snapshot(const struct authkeys_ctx *ctx, const struct account *acct,
		      const char *name, keyguard_hash **out, size_t *n,
		      const char **why);

/* Sort and deduplicate n hashes in place; returns how many remain. */
size_t keyguard_hashes_sort(keyguard_hash *hashes, size_t n);

/* Whether hash (KEYGUARD_HASH_HEX lower-case hex digits) is well-formed. */
bool keyguard_hash_valid(const char *hash);

/* One added line, as found. */
struct keyguard_found {
	char *line;       /* its text, without line end, NUL-terminated (a
			     NUL inside it ends it early: then truncated) */
	size_t len;
	bool truncated;   /* longer than KEYGUARD_LINE_MAX, or held a NUL */
};

struct keyguard_sweep {
	const char *name;            /* the file in ~/.ssh */
	const keyguard_hash *known;  /* the snapshot, sorted */
	size_t n_known;
	const char *const *ours;     /* the live grants' own lines, exactly */
	size_t n_ours;
	bool remove;                 /* take the added lines out (one atomic
					edit that keeps every other byte) */
};

/*
 * Find the lines of ~/.ssh/<sweep->name> added since the snapshot and,
 * with sweep->remove, remove them. The first KEYGUARD_FOUND_MAX of them
 * are handed back in a new array *found of *n_found (keyguard_found_free);
 * *total (may be NULL) gets how many there were. Returns what
 * authkeys_remove returns (0, SL_REFUSED, SL_CHANGED, -errno with *why).
 */
int keyguard_sweep(const struct authkeys_ctx *ctx, const struct account *acct,
		   const struct keyguard_sweep *sweep,
		   struct keyguard_found **found, size_t *n_found,
		   size_t *total, const char **why);

void keyguard_found_free(struct keyguard_found *found, size_t n);

/* What keyguard_move_aside moved out of sshd's way. */
struct keyguard_moved {
	enum {
		KEYGUARD_MOVED_NONE,
		KEYGUARD_MOVED_SSH_SYMLINK,  /* ~/.ssh was a symlink */
		KEYGUARD_MOVED_FILE_SYMLINK, /* ~/.ssh/<name> was a symlink */
		KEYGUARD_MOVED_FILE_LINK,    /* ~/.ssh/<name>, one of several hard links */
	} what;
	char to[128];     /* its new name, in the same directory */
	char target[256]; /* what the symlink pointed to (for people only) */
};

/*
 * Key files sshd reads but the engine, which follows no link, cannot: a
 * symlink in place of ~/.ssh, or a symlink or one of several hard links
 * in place of ~/.ssh/<name>. While a grant is live (the snapshot found
 * none: keyguard_snapshot refuses them) such an entry was made since, and
 * sshd would read keys through it that no sweep sees; so, as the account
 * and under its lock, a symlink is renamed to <entry>.sshlease-moved-<unix
 * time> in its directory (no byte of what it leads to is touched; moving
 * it back undoes it), and a hard link is replaced by a copy of its own
 * under the same name, to be swept (the file it shared keeps its other
 * names and every byte). moved->what is NONE when there
 * was nothing such. Returns 0, SL_REFUSED or -errno with *why.
 */
int keyguard_move_aside(const struct authkeys_ctx *ctx, const struct account *acct,
			const char *name, struct keyguard_moved *moved, const char **why);

/* The identities of one line (for a line put back: the snapshot takes
 * them, so that it is the account's own from then on): up to two into
 * out; returns how many. */
size_t keyguard_line_hashes(const char *line, size_t len, keyguard_hash out[2]);

/*
 * Append line (len bytes, no line break in it) to ~/.ssh/<name>, as
 * authkeys_add appends (creating ~/.ssh and the file when missing, a
 * newline before it when the file lacks a final one): how a removed line
 * is put back. SL_EXISTS when the same text is already a line there;
 * otherwise the returns of authkeys_add.
 */
int keyguard_restore(const struct authkeys_ctx *ctx, const struct account *acct,
		     const char *name, const char *line, size_t len,
		     const char **why);

/*
 * The SHA256 fingerprint and the type of the key a line carries, read as
 * sshd reads it, as ssh-keygen -l prints the fingerprint; false when the
 * line carries none that reads as one.
 */
bool keyguard_line_key(const char *line, size_t len, char fingerprint[64],
		       char type[65]);

/*
 * The names in ~/.ssh that sshd reads keys from, from sshd -T's
 * authorizedkeysfile value (NULL: sshd's default, .ssh/authorized_keys
 * .ssh/authorized_keys2): the entries of the form .ssh/NAME or
 * %h/.ssh/NAME with a plain NAME. authorized_keys is always among them,
 * first. Returns how many (at most max); *skipped (may be NULL) gets how
 * many entries were elsewhere (not watched).
 */
size_t keyguard_file_names(const char *value, char names[][64], size_t max,
			   size_t *skipped);

#endif

/*
 * The authorized_keys engine: adds, removes and lists the lines sshlease
 * manages in ~/.ssh/authorized_keys, safely (DESIGN.md §4-5).
 *
 * Every file access happens in a child process that has fully become the
 * account (setgroups/setresgid/setresuid); the path is walked from the home
 * directory with openat(O_NOFOLLOW); sshd's StrictModes rules are checked on
 * every fd; the file is replaced atomically with a compare-and-swap against
 * concurrent edits; every byte that is not ours is kept. Callers in the same
 * or other processes are serialised by a per-account lock file that the
 * engine keeps in ctx->lock_dir (root's, never the user's).
 */
#ifndef SSHLEASE_AUTHKEYS_H
#define SSHLEASE_AUTHKEYS_H

#include <stddef.h>
#include <time.h>

#include "account.h"
#include "common.h"

/* Every managed line ends with this marker followed by the grant id. */
#define AUTHKEYS_MARKER "sshlease:"
/* Grant ids: 12 lower-case hex digits. */
#define AUTHKEYS_ID_LEN 12

struct authkeys_ctx {
	const char *lock_dir; /* directory for lock files; created 0700 if missing */
};

enum authkeys_mode {
	AUTHKEYS_MODE_SHELL, /* restrict,pty */
	AUTHKEYS_MODE_SFTP,  /* restrict,command="internal-sftp" */
};

enum authkeys_expiry {
	AUTHKEYS_EXPIRY_UTC,   /* expiry-time="YYYYMMDDHHMMSSZ" (OpenSSH >= 9.1) */
	AUTHKEYS_EXPIRY_LOCAL, /* local time as sshd 7.7-9.0 reads it */
	AUTHKEYS_EXPIRY_NONE,  /* no expiry-time; the daemon alone enforces */
};

/* What a managed line says. All strings already validated by the caller. */
struct authkeys_line_spec {
	const char *id;          /* AUTHKEYS_ID_LEN hex digits */
	const char *key_type;    /* e.g. "ssh-ed25519" */
	const char *blob_base64;
	time_t deadline;
	enum authkeys_expiry expiry;
	enum authkeys_mode mode;
	const char *from;        /* validated address/CIDR list, or NULL */
};

/*
 * Build the managed line (without newline) for spec, e.g.
 *   restrict,pty,expiry-time="20261201170000Z" ssh-ed25519 AAAA... sshlease:k7f3a9c2e4d1
 * Returns 0 and a new string in *out, SL_REFUSED with *why, or -ENOMEM.
 */
int authkeys_format_line(const struct authkeys_line_spec *spec, char **out,
			 const char **why);

/*
 * Append line (a managed line from authkeys_format_line) to the account's
 * authorized_keys, creating ~/.ssh (0700) and the file (0600) when missing.
 * Returns 0; SL_EXISTS when the same key blob is already in the file (ours
 * or the account's own); SL_REFUSED with *why when the path is unsafe
 * (symlink, hard link, FIFO, directory, bad owner or mode); SL_CHANGED when
 * the file kept changing under us after a bounded number of retries; -errno
 * on system failure. On any failure the file is untouched.
 */
int authkeys_add(const struct authkeys_ctx *ctx, const struct account *acct,
		 const char *line, const char **why);

/*
 * Remove every line that carries both the marker sshlease:<id> and the key
 * blob. *removed (may be NULL) gets the number of lines removed; 0 lines is
 * not an error. A missing file or ~/.ssh counts as 0 lines removed. Same
 * returns as authkeys_add (never SL_EXISTS).
 */
int authkeys_remove(const struct authkeys_ctx *ctx, const struct account *acct,
		    const char *id, const char *blob_base64, size_t *removed,
		    const char **why);

struct authkeys_entry {
	char id[AUTHKEYS_ID_LEN + 1];
	char *key_type;
	char *blob_base64;
	time_t expiry; /* from expiry-time, 0 when none or unreadable */
};

/*
 * List the managed lines (those whose comment is a well-formed marker) in
 * the account's authorized_keys. Returns 0 with a new array in *out of *n
 * entries (free with authkeys_entries_free; NULL and 0 for none or a missing
 * file), SL_REFUSED with *why, or -errno.
 */
int authkeys_list_managed(const struct authkeys_ctx *ctx,
			  const struct account *acct,
			  struct authkeys_entry **out, size_t *n,
			  const char **why);

void authkeys_entries_free(struct authkeys_entry *entries, size_t n);

/* A new random grant id (AUTHKEYS_ID_LEN hex digits + NUL) from libsodium. */
void authkeys_new_id(char out[AUTHKEYS_ID_LEN + 1]);

#endif

/*
 * The authorized_keys engine: adds, removes and lists the lines sshlease
 * manages in ~/.ssh/authorized_keys, safely (DESIGN.md §4-5).
 *
 * Every file access happens in a child process that acts as the account
 * for file access only (its groups and filesystem ids, no capability; its
 * real, effective and saved uid stay root's so the account cannot signal
 * or trace it: become.h says why that is safe); the path is walked from the home
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
#include "validate.h"
#include "common.h"

/* Every managed line ends with this marker followed by the grant id. */
#define AUTHKEYS_MARKER "sshlease:"
/* Grant ids: 12 lower-case hex digits. */
#define AUTHKEYS_ID_LEN GRANT_ID_LEN
/* The longest managed line we write (sshd refuses lines over 8 KiB). */
#define AUTHKEYS_LINE_MAX 6144
/* The largest authorized_keys the engine reads or writes, but for a
 * removal. */
#define AUTHKEYS_FILE_MAX (1024 * 1024)
/* The largest one a removal (of a grant's line, of a planted line) reads
 * and writes back: an account that grows its own file past
 * AUTHKEYS_FILE_MAX cannot keep a grant's line in it that way. Far more
 * than sshd itself reads in a login's time. */
#define AUTHKEYS_SHRINK_MAX (64 * 1024 * 1024)
/* How long the engine waits for the process acting as the account to
 * answer (a healthy one needs milliseconds). The account can stop that
 * process; past this bound it is killed and the call fails with
 * -ETIMEDOUT, having done nothing or one complete atomic replace. */
#define AUTHKEYS_CHILD_TIMEOUT_MS 5000
/* The most (id, blob) pairs one authkeys_remove_many call takes: more than
 * a file of AUTHKEYS_FILE_MAX bytes can hold managed lines. */
#define AUTHKEYS_REMOVE_MANY_MAX 65536

struct authkeys_ctx {
	const char *lock_dir; /* directory for lock files; created 0700 if missing */
};

enum authkeys_mode {
	AUTHKEYS_MODE_SHELL, /* restrict,pty */
	AUTHKEYS_MODE_SFTP,  /* restrict,command="internal-sftp" */
};

/* "shell" or "sftp": the name of a mode in the config, the state, tokens,
 * the protocol and the audit log. */
const char *authkeys_mode_name(enum authkeys_mode mode);
/* The mode that name names; false (and *out untouched) for any other text. */
bool authkeys_mode_parse(const char *name, enum authkeys_mode *out);

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
 *   restrict,pty,expiry-time="20261201170000Z" ssh-ed25519 AAAA... sshlease:0123456789ab
 * Options come in this order: restrict,pty or restrict,command="internal-sftp";
 * expiry-time (UTC with Z; for AUTHKEYS_EXPIRY_LOCAL the local digits that
 * sshd's strptime + mktime(tm_isdst = 0) turns back into the deadline, in
 * this process's time zone; none for AUTHKEYS_EXPIRY_NONE); from="LIST".
 * Refused (SL_REFUSED with *why): an id that is not 12 lower-case hex
 * digits, a key type or blob or from list with anything but the characters
 * such names, base64 and address lists use (so no quote, blank or control
 * can reach the file), a deadline outside years 1970-9999, a line longer
 * than AUTHKEYS_LINE_MAX. Returns 0 and a new string in *out, or -ENOMEM.
 */
int authkeys_format_line(const struct authkeys_line_spec *spec, char **out,
			 const char **why);

/*
 * Append line (a managed line from authkeys_format_line) to the account's
 * authorized_keys, creating ~/.ssh (0700) and the file (0600) when missing.
 * Returns 0; SL_EXISTS when the same key blob is already in the file (ours
 * or the account's own) or a line already carries this grant's marker;
 * SL_REFUSED with *why when the path is unsafe (symlink, hard link, FIFO,
 * directory, bad owner or mode) or line is not a managed line; SL_CHANGED
 * when the file kept changing under us after a bounded number of retries;
 * -errno on system failure. On any failure the file is untouched, with one
 * exception: -EIO with *why "authorized_keys was replaced but fsync of
 * ~/.ssh failed" means the new file is in place but may not survive a
 * crash. *why is also set on -errno returns, naming the step that failed.
 * -ETIMEDOUT (*why "the process acting as the account did not answer in
 * time"): the account stopped or stalled that process past
 * AUTHKEYS_CHILD_TIMEOUT_MS; it was killed, and the file holds either the
 * old bytes or the complete new ones (like any -errno after the rename).
 * -EIO with *why "... died before answering": likewise, killed early.
 *
 * The file's bytes are kept: a file that does not end in a newline gets
 * "\n" + line (and still has no final newline); otherwise line + "\n".
 * Needs root: the file is touched only by a child that acts as acct (become.h).
 * Callers must not reap children they did not start (no SIGCHLD = SIG_IGN).
 */
int authkeys_add(const struct authkeys_ctx *ctx, const struct account *acct,
		 const char *line, const char **why);

/*
 * Remove every line that carries both the marker sshlease:<id> as its last
 * field and the key blob as one of its fields. *removed (may be NULL) gets
 * the number of lines removed; 0 lines is not an error and writes nothing.
 * A missing file or ~/.ssh counts as 0 lines removed. Removing a last line
 * that has no newline also removes the newline before it, so add then
 * remove gives back the same bytes. Same returns as authkeys_add (never
 * SL_EXISTS).
 */
int authkeys_remove(const struct authkeys_ctx *ctx, const struct account *acct,
		    const char *id, const char *blob_base64, size_t *removed,
		    const char **why);

struct authkeys_entry;

/*
 * Remove, in ONE atomic edit, every line that matches any of the n pairs
 * (entries[i].id, entries[i].blob_base64) as authkeys_remove matches one
 * pair; the other fields of entries are ignored. The cost is one process
 * and one rewrite whatever n is, and O((lines + n) log n) comparisons, so
 * a file full of lines to remove is cleaned in one step rather than one
 * rewrite per line. *removed (may be NULL) gets the total number of lines
 * removed; removed_each (may be NULL) is an array of n counts, the lines
 * that matched entries[i] (a line matching two equal pairs counts once,
 * for the first). n == 0 does nothing and returns 0. Refused (SL_REFUSED
 * with *why) when n > AUTHKEYS_REMOVE_MANY_MAX or any id or blob is
 * malformed, before anything is read. Otherwise the returns and the
 * byte-keeping rules of authkeys_remove.
 */
int authkeys_remove_many(const struct authkeys_ctx *ctx,
			 const struct account *acct,
			 const struct authkeys_entry *entries, size_t n,
			 size_t *removed, size_t *removed_each,
			 const char **why);

/*
 * Swap, in one atomic edit, the line(s) of a grant for line: the lines that
 * carry line's own marker and key blob (as authkeys_remove matches them).
 * The first keeps its place and its line ending; any others are removed.
 * Made for extending a grant without a moment when its key has no line.
 * *replaced (may be NULL) gets the number of lines matched; with 0 nothing
 * is written and line is not added. Same returns as authkeys_add (never
 * SL_EXISTS); SL_REFUSED when line is not a managed line.
 */
int authkeys_replace(const struct authkeys_ctx *ctx, const struct account *acct,
		     const char *line, size_t *replaced, const char **why);

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

/* What authkeys_check found on the path a grant writes. */
enum authkeys_found {
	AUTHKEYS_FOUND_FILE,    /* ~/.ssh/authorized_keys is there */
	AUTHKEYS_FOUND_SSH_DIR, /* ~/.ssh is there; a grant creates the file */
	AUTHKEYS_FOUND_HOME,    /* no ~/.ssh; a grant creates it and the file */
};

/*
 * Would authkeys_add get past the account's path? The engine's own walk and
 * checks, read-only, in a child that acts as acct (become.h), as a write makes them:
 * from the home directory with no symlink followed, StrictModes on the home
 * directory, ~/.ssh and authorized_keys, a regular file with one link of at
 * most AUTHKEYS_FILE_MAX bytes that the account (not root) owns; and, for
 * what a grant would create (~/.ssh, or the file in it), whether the account
 * may create it there. Nothing is created, written or removed, and no lock
 * is taken, so it needs no authkeys_ctx.
 * Returns 0 with *found; SL_REFUSED with *why, the same reason authkeys_add
 * gives for that path; -errno with *why naming the step (-EPERM when not
 * run as root). Not judged: the key line itself (SL_EXISTS), the size the
 * file would reach with it, and changes made after the check.
 * Callers must not reap children they did not start (no SIGCHLD = SIG_IGN).
 */
int authkeys_check(const struct account *acct, enum authkeys_found *found,
		   const char **why);

/* A new random grant id (AUTHKEYS_ID_LEN hex digits + NUL) from libsodium. */
void authkeys_new_id(char out[AUTHKEYS_ID_LEN + 1]);

/* The tests' hooks into the engine's child are not part of this API: see
 * tests/lib/authkeys-hooks.h. */

#endif

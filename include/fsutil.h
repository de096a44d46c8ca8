/* Durable small files: one atomic replace, one bounded read, one stale-temp cleanup, one trust check. */
#ifndef SSHLEASE_FSUTIL_H
#define SSHLEASE_FSUTIL_H

/*
 * Every function works relative to a directory fd and a plain name (no
 * '/'), so that a caller that has walked to a directory without following
 * links (DESIGN.md §5) never names a path again. Nothing here changes
 * credentials or logs: the account's child (userfs.c) calls the same code
 * as the root daemon. Return convention as in common.h.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common.h"

/* Write all len bytes of data to fd, looping over short writes and EINTR.
 * 0, or -errno of the failed write (-EIO for a write that returns 0). */
int fsutil_write_all(int fd, const void *data, size_t len);

/* ---- atomic replace ---- */

/* The step of fsutil_replace that failed, so that a caller can name it
 * (userfs.c turns each into its own reason). */
enum fsutil_step {
	FSUTIL_STEP_NONE,    /* nothing failed */
	FSUTIL_STEP_TEMP,    /* creating the temp file (or a bad name) */
	FSUTIL_STEP_WRITE,   /* writing it: the data, or the fill callback */
	FSUTIL_STEP_OWNER,   /* fchmod or fchown of the temp file */
	FSUTIL_STEP_FSYNC,   /* fsync of the temp file */
	FSUTIL_STEP_CLOSE,   /* close of the temp file */
	FSUTIL_STEP_CHECK,   /* the check callback refused or failed */
	FSUTIL_STEP_RENAME,  /* moving the temp file to its name */
	FSUTIL_STEP_DIRSYNC, /* fsync of the directory, after the rename */
};

/* Flags of struct fsutil_replace. */
enum {
	/* Create only if absent: rename with RENAME_NOREPLACE (link and
	 * unlink where the file system has no such rename). Anything at the
	 * name, a dangling symlink too, gives SL_EXISTS. */
	FSUTIL_NOREPLACE = 1 << 0,
	/* fchmod the temp file to exactly mode; without it the file has
	 * mode less the umask, as open(2) makes it. */
	FSUTIL_CHMOD = 1 << 1,
	/* fchown the temp file to uid, gid ((uid_t)-1 / (gid_t)-1 keep). */
	FSUTIL_CHOWN = 1 << 2,
	/* With FSUTIL_CHOWN: a failed fchown is not an error. */
	FSUTIL_CHOWN_MAY_FAIL = 1 << 3,
};

/* Writes the new content to fd (the temp file), with fsutil_write_all.
 * 0, or -errno. */
typedef int fsutil_fill_fn(int fd, void *arg);

/* Runs after the temp file is durable and closed, just before the
 * rename: a compare-and-swap check that the file being replaced is still
 * the one the content was made from. 0 goes on; SL_CHANGED refuses (the
 * caller reads again and retries); -errno fails. */
typedef int fsutil_check_fn(int dir_fd, void *arg);

struct fsutil_replace {
	/* The content: len bytes at data, or, when fill is set, what fill
	 * writes (for content too large to hold in memory at once). */
	const void *data;
	size_t len;
	fsutil_fill_fn *fill;
	void *fill_arg;
	mode_t mode;             /* creation mode; see FSUTIL_CHMOD */
	uid_t uid;               /* with FSUTIL_CHOWN */
	gid_t gid;               /* with FSUTIL_CHOWN */
	fsutil_check_fn *check;  /* or NULL */
	void *check_arg;
	unsigned flags;          /* FSUTIL_NOREPLACE, FSUTIL_CHMOD, ... */
};

/*
 * Replace name in dir_fd atomically and durably with the content of how
 * (DESIGN.md §5): a temp file with a random name in the same directory
 * (O_EXCL|O_NOFOLLOW; the pattern is fsutil's, see fsutil_clean_temps),
 * every write checked, fchmod/fchown as asked, fsync, close, the check
 * callback, rename (or create only if absent), fsync of dir_fd. A failed
 * fsync is never retried: after EIO the page cache may already call the
 * data clean.
 *
 * Returns 0 when the new file is in place and durable; SL_CHANGED when the
 * check callback refused; SL_EXISTS with FSUTIL_NOREPLACE when name exists;
 * -EINVAL for a name that is empty or holds a '/', -ENAMETOOLONG for one
 * too long for a temp name; otherwise -errno (-EIO when libsodium cannot
 * start). On every failure the temp file is removed and name is untouched,
 * except a failed directory fsync (FSUTIL_STEP_DIRSYNC): the new file is
 * then in place but perhaps not durable. *failed (may be NULL) names the
 * step that failed, FSUTIL_STEP_NONE on success.
 */
int fsutil_replace(int dir_fd, const char *name, const struct fsutil_replace *how,
		   enum fsutil_step *failed);

/* One file for fsutil_create_all. */
struct fsutil_new_file {
	const char *name;
	struct fsutil_replace how; /* FSUTIL_NOREPLACE is implied */
};

/*
 * Create the n files in dir_fd, in order, each with fsutil_replace only if
 * absent: all of them or none. 0; or what the replace of the first one
 * that failed returned (SL_EXISTS when something is at its name), with
 * *failed (may be NULL) its index; the files made before it, and it when
 * only its directory fsync failed, are removed again.
 */
int fsutil_create_all(int dir_fd, const struct fsutil_new_file *files, size_t n,
		      size_t *failed);

/*
 * For a caller that was given a path: open the directory holding it
 * (following links, as open(2) does with a path the caller chose) into
 * *dir_fd, and point *name at its last component, inside path. 0;
 * -EINVAL for a path that is empty or ends in '/'; -ENAMETOOLONG; -errno.
 */
int fsutil_open_parent(const char *path, int *dir_fd, const char **name);

/*
 * Remove the temp files that fsutil_replace of name left in dir_fd when
 * its process died before the rename: entries named as fsutil_replace
 * names them (".NAME.sshlease-" and 16 lower-case hex digits), and only
 * regular files owned by the effective uid. Nothing else is touched. Run
 * it where no replace of name can be under way (the caller holds the lock
 * of its writers). Best effort: returns the number removed, or -errno
 * when the directory cannot be read.
 */
int fsutil_clean_temps(int dir_fd, const char *name);

/* ---- bounded read ---- */

/*
 * Read fd from its current offset to its end into a new buffer (*out,
 * free()), at most max bytes: 0 with *len; -EFBIG when there are more than
 * max bytes (nothing returned); -errno. The buffer holds a NUL after the
 * *len bytes, so text can be used as a string once the caller has checked
 * it holds no NUL of its own (memchr): the bytes are returned as read.
 * A regular file already larger than max is refused without being read;
 * pipes and terminals are read until their end (or past max). A buffer
 * that has to grow is copied and the old one wiped, and nothing is left
 * unwiped on failure, so a secret read this way leaves no copy but *out
 * (wipe it before free).
 */
int fsutil_read_fd(int fd, size_t max, char **out, size_t *len);

/* Open name in dir_fd (O_NOFOLLOW: a symlink gives -ELOOP; O_NONBLOCK:
 * a FIFO cannot hang the open) and read it as fsutil_read_fd does. */
int fsutil_read_at(int dir_fd, const char *name, size_t max, char **out,
		   size_t *len);

/* ---- trusted files and directories ---- */

/* The rule a file must keep, as flags; the caller spells out at the call
 * which rule it chose and why. */
enum {
	FSUTIL_TRUST_OR_ROOT = 1 << 0,        /* owned by owner or by root */
	FSUTIL_TRUST_NO_GROUP_WRITE = 1 << 1, /* no S_IWGRP */
	FSUTIL_TRUST_NO_OTHER_WRITE = 1 << 2, /* no S_IWOTH */
	FSUTIL_TRUST_PRIVATE = 1 << 3,        /* no group or other bit at all */
	FSUTIL_TRUST_REGULAR = 1 << 4,        /* a regular file */
	FSUTIL_TRUST_DIRECTORY = 1 << 5,      /* a directory */
	FSUTIL_TRUST_ONE_LINK = 1 << 6,       /* st_nlink <= 1 */
};

/* Neither group nor others may write: sshd's StrictModes rule. */
#define FSUTIL_TRUST_NO_SHARED_WRITE (FSUTIL_TRUST_NO_GROUP_WRITE | FSUTIL_TRUST_NO_OTHER_WRITE)

/* The first part of a rule a file breaks, checked in this order. */
enum fsutil_distrust {
	FSUTIL_TRUSTED,        /* keeps the whole rule */
	FSUTIL_DISTRUST_TYPE,  /* not a regular file / directory as asked */
	FSUTIL_DISTRUST_OWNER, /* owned by someone else */
	FSUTIL_DISTRUST_MODE,  /* a forbidden mode bit is set */
	FSUTIL_DISTRUST_LINKS, /* more than one hard link */
};

/* Judge st: it must be owned by owner (or root, with FSUTIL_TRUST_OR_ROOT)
 * and keep every other flag of rule. */
enum fsutil_distrust fsutil_trust_stat(const struct stat *st, uid_t owner,
				       unsigned rule);

/* fstat fd into *st (may be NULL) and judge it as fsutil_trust_stat does:
 * 0 when trusted, SL_REFUSED with *broken set, or -errno. */
int fsutil_trust_fd(int fd, uid_t owner, unsigned rule, struct stat *st,
		    enum fsutil_distrust *broken);

#endif

/*
 * Reading and replacing ~/.ssh/authorized_keys as the account: the parent
 * (root) takes the account's lock and forks; the child becomes the account,
 * walks from the home directory without following anything, edits, and
 * sends a small fixed answer back over a pipe. Root never opens a path
 * inside a home directory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "become.h"
#include "fsutil.h"
#include "userfs.h"
#include "timeutil.h"

#define AUTHKEYS_NAME "authorized_keys"
/* Re-reads when someone else changed the file between our read and rename. */
#define CAS_ATTEMPTS 5

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)

static const char *const reasons[USERFS_R_COUNT] = {
	[USERFS_R_NONE] = NULL,
	[USERFS_R_HOME_MISSING] = "the home directory does not exist",
	[USERFS_R_HOME_SYMLINK] = "the home directory is a symlink; sshlease follows none",
	[USERFS_R_HOME_NOTDIR] = "the home directory is not a directory",
	[USERFS_R_HOME_ACCESS] = "the account cannot open its home directory",
	[USERFS_R_HOME_OWNER] = "the home directory is owned by another account; sshd would ignore the keys (StrictModes)",
	[USERFS_R_HOME_MODE] = "the home directory is group or world writable; sshd would ignore the keys (StrictModes): chmod go-w it",
	[USERFS_R_SSH_SYMLINK] = "~/.ssh is a symlink; sshlease follows none",
	[USERFS_R_SSH_NOTDIR] = "~/.ssh is not a directory",
	[USERFS_R_SSH_ACCESS] = "the account cannot open its ~/.ssh",
	[USERFS_R_SSH_CREATE] = "the account cannot create ~/.ssh in its home directory",
	[USERFS_R_SSH_OWNER] = "~/.ssh is owned by another account; sshd would ignore the keys (StrictModes)",
	[USERFS_R_SSH_MODE] = "~/.ssh is group or world writable; sshd would ignore the keys (StrictModes): chmod go-w it",
	[USERFS_R_SSH_WRITE] = "the account cannot create files in its ~/.ssh",
	[USERFS_R_FILE_SYMLINK] = "authorized_keys is a symlink; sshlease follows none",
	[USERFS_R_FILE_DIR] = "authorized_keys is a directory",
	[USERFS_R_FILE_NOTREG] = "authorized_keys is not a regular file (FIFO, socket or device)",
	[USERFS_R_FILE_LINKS] = "authorized_keys has more than one hard link",
	[USERFS_R_FILE_ACCESS] = "the account cannot read its authorized_keys",
	[USERFS_R_FILE_OWNER] = "authorized_keys is owned by another account; sshd would ignore the keys (StrictModes)",
	[USERFS_R_FILE_MODE] = "authorized_keys is group or world writable; sshd would ignore the keys (StrictModes): chmod go-w it",
	[USERFS_R_FILE_ROOT] = "authorized_keys is owned by root, not by the account; replacing it would change its owner (chown it to the account)",
	[USERFS_R_FILE_SIZE] = "authorized_keys is or would become larger than the engine reads (1 MiB; 64 MiB to remove a line)",
	[USERFS_R_EXISTS_KEY] = "the key is already in authorized_keys",
	[USERFS_R_EXISTS_ID] = "a line with this grant id is already in authorized_keys",
	[USERFS_R_CHANGED] = "authorized_keys kept changing while being edited; try again",
	[USERFS_R_READONLY] = "the home directory is on a file system that is read-only for sshleased; if it runs as sshleased.service, add the home directory to ReadWritePaths= with a drop-in (systemctl edit sshleased) and restart it",
	[USERFS_R_STEP_SETUP] = "could not start the process that acts as the account",
	[USERFS_R_STEP_DROP] = "could not become the account",
	[USERFS_R_STEP_HOME] = "opening the home directory failed",
	[USERFS_R_STEP_SSH] = "opening or creating ~/.ssh failed",
	[USERFS_R_STEP_READ] = "reading authorized_keys failed",
	[USERFS_R_STEP_TEMP] = "creating the temporary file in ~/.ssh failed",
	[USERFS_R_STEP_WRITE] = "writing the temporary file failed",
	[USERFS_R_STEP_FSYNC] = "fsync of the temporary file failed",
	[USERFS_R_STEP_RENAME] = "renaming the temporary file over authorized_keys failed",
	[USERFS_R_STEP_DIRSYNC] = "authorized_keys was replaced but fsync of ~/.ssh failed",
};

/* The child's answer: this header, then payload_len bytes. */
struct reply {
	int32_t rc;
	uint32_t reason;
	uint64_t count;
	uint64_t payload_len;
};

/* authorized_keys as read: the fd stays open for the compare-and-swap. */
struct current {
	int fd;
	bool exists;
	struct stat st;
	char *buf;
	size_t len;
};

/* sshd's StrictModes rule for one fd: owned by the account or root, and
 * not writable by group or others. */
static enum userfs_reason strict_modes(const struct stat *st, uid_t uid,
				       enum userfs_reason owner,
				       enum userfs_reason mode)
{
	/* Rule: StrictModes exactly, or sshd would ignore the keys we write. */
	switch (fsutil_trust_stat(st, uid, FSUTIL_TRUST_OR_ROOT | FSUTIL_TRUST_NO_SHARED_WRITE)) {
	case FSUTIL_DISTRUST_OWNER:
		return owner;
	case FSUTIL_DISTRUST_MODE:
		return mode;
	default:
		return USERFS_R_NONE;
	}
}

/* ---- the child: runs as the account ---- */

/* Only to name the reason: open(O_DIRECTORY|O_NOFOLLOW) says ENOTDIR, not
 * ELOOP, when the last component is a symlink. */
static bool is_symlink(int dir_fd, const char *name)
{
	struct stat st;

	return fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISLNK(st.st_mode);
}

/* The reasons one directory of the walk can give; missing is
 * USERFS_R_NONE where a missing directory is not an error. */
struct walk_step {
	enum userfs_reason missing, symlink, notdir, access, failed, owner, mode;
};

static const struct walk_step step_home = {
	USERFS_R_HOME_MISSING, USERFS_R_HOME_SYMLINK, USERFS_R_HOME_NOTDIR,
	USERFS_R_HOME_ACCESS, USERFS_R_STEP_HOME, USERFS_R_HOME_OWNER,
	USERFS_R_HOME_MODE,
};

static const struct walk_step step_ssh = {
	USERFS_R_NONE, USERFS_R_SSH_SYMLINK, USERFS_R_SSH_NOTDIR,
	USERFS_R_SSH_ACCESS, USERFS_R_STEP_SSH, USERFS_R_SSH_OWNER,
	USERFS_R_SSH_MODE,
};

/* Judge fd, what openat(dir_fd, name, DIR_FLAGS) gave (-1 with errno
 * set), as the walk's directory step: into *out when it is there and
 * keeps StrictModes for uid; 0 with *out still -1 when it is missing and
 * may be; else SL_REFUSED or -errno with *reason. */
static int walk_judge(int fd, int dir_fd, const char *name, uid_t uid,
		      const struct walk_step *step, int *out,
		      enum userfs_reason *reason)
{
	struct stat st;
	int r;

	if (fd < 0) {
		switch (errno) {
		case ENOENT:
			*reason = step->missing;
			return step->missing == USERFS_R_NONE ? 0 : SL_REFUSED;
		case ELOOP: *reason = step->symlink; return SL_REFUSED;
		case ENOTDIR:
			*reason = is_symlink(dir_fd, name) ? step->symlink : step->notdir;
			return SL_REFUSED;
		case EACCES: *reason = step->access; return SL_REFUSED;
		default: *reason = step->failed; return -errno;
		}
	}
	if (fstat(fd, &st) < 0) {
		*reason = step->failed;
		r = -errno;
		goto out;
	}
	*reason = strict_modes(&st, uid, step->owner, step->mode);
	if (*reason != USERFS_R_NONE) {
		r = SL_REFUSED;
		goto out;
	}
	*out = fd;
	fd = -1;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	return r;
}

static int child_open_home(const struct account *acct, int *out,
			   enum userfs_reason *reason)
{
	int fd = open(acct->home, DIR_FLAGS);

	return walk_judge(fd, AT_FDCWD, acct->home, acct->uid, &step_home, out,
			  reason);
}

/* Open ~/.ssh, creating it (0700) when create is set; *out stays -1 when it
 * is missing and create is not set. */
static int child_open_ssh(int home_fd, uid_t uid, bool create, int *out,
			  enum userfs_reason *reason)
{
	int fd = openat(home_fd, ".ssh", DIR_FLAGS);

	if (fd < 0 && errno == ENOENT && create) {
		if (mkdirat(home_fd, ".ssh", 0700) == 0) {
			/* The new entry must survive a crash with the file. */
			if (fsync(home_fd) < 0) {
				*reason = USERFS_R_STEP_SSH;
				return -errno;
			}
		} else if (errno == EACCES || errno == EPERM) {
			*reason = USERFS_R_SSH_CREATE;
			return SL_REFUSED;
		} else if (errno == EROFS) {
			*reason = USERFS_R_READONLY;
			return SL_REFUSED;
		} else if (errno != EEXIST) {
			*reason = USERFS_R_STEP_SSH;
			return -errno;
		}
		fd = openat(home_fd, ".ssh", DIR_FLAGS);
	}
	return walk_judge(fd, home_fd, ".ssh", uid, &step_ssh, out, reason);
}

int userfs_walk(const struct account *acct, int *home_fd, int *ssh_fd)
{
	enum userfs_reason reason = USERFS_R_NONE;
	int r;

	*home_fd = *ssh_fd = -1;
	r = child_open_home(acct, home_fd, &reason);
	if (r == 0)
		r = child_open_ssh(*home_fd, acct->uid, false, ssh_fd, &reason);
	return r;
}

static void current_finish(struct current *cur)
{
	if (cur->fd >= 0)
		close(cur->fd);
	free(cur->buf);
	*cur = (struct current){ .fd = -1 };
}

/* Open and read authorized_keys, at most max bytes; a missing file is
 * empty and !exists. */
static int child_read(int ssh_fd, const char *name, uid_t uid, size_t max,
		      struct current *cur, enum userfs_reason *reason)
{
	struct stat st;
	int r;

	/* Look before opening so a device or FIFO is never opened at all;
	 * the fstat below, on what was really opened, is what counts. */
	if (fstatat(ssh_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISREG(st.st_mode)) {
		*reason = S_ISLNK(st.st_mode) ? USERFS_R_FILE_SYMLINK :
			  S_ISDIR(st.st_mode) ? USERFS_R_FILE_DIR :
			  USERFS_R_FILE_NOTREG;
		return SL_REFUSED;
	}
	/* O_NONBLOCK so a FIFO cannot hang the open; O_NOCTTY for devices. */
	cur->fd = openat(ssh_fd, name,
			 O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (cur->fd < 0) {
		switch (errno) {
		case ENOENT: cur->exists = false; return 0;
		case ELOOP: *reason = USERFS_R_FILE_SYMLINK; return SL_REFUSED;
		case ENXIO: *reason = USERFS_R_FILE_NOTREG; return SL_REFUSED;
		case EISDIR: *reason = USERFS_R_FILE_DIR; return SL_REFUSED;
		case EACCES: *reason = USERFS_R_FILE_ACCESS; return SL_REFUSED;
		default: *reason = USERFS_R_STEP_READ; return -errno;
		}
	}
	cur->exists = true;
	if (fstat(cur->fd, &cur->st) < 0) {
		*reason = USERFS_R_STEP_READ;
		return -errno;
	}
	if (S_ISDIR(cur->st.st_mode))
		*reason = USERFS_R_FILE_DIR;
	else if (!S_ISREG(cur->st.st_mode))
		*reason = USERFS_R_FILE_NOTREG;
	else if (cur->st.st_nlink > 1)
		*reason = USERFS_R_FILE_LINKS;
	else if ((uintmax_t)cur->st.st_size > max)
		*reason = USERFS_R_FILE_SIZE;
	else
		*reason = strict_modes(&cur->st, uid, USERFS_R_FILE_OWNER,
				       USERFS_R_FILE_MODE);
	if (*reason != USERFS_R_NONE)
		return SL_REFUSED;

	r = fsutil_read_fd(cur->fd, max, &cur->buf, &cur->len);
	if (r == -EFBIG) {
		/* It grew past the bound since the fstat. */
		*reason = USERFS_R_FILE_SIZE;
		return SL_REFUSED;
	}
	if (r < 0) {
		*reason = USERFS_R_STEP_READ;
		return r;
	}
	return 0;
}

/* Compare-and-swap check: is authorized_keys still the file we read, with
 * the same bytes? Returns 0 when it is, SL_CHANGED, or -errno. The bytes
 * are what counts (mtime only moves with the kernel's coarse clock, and
 * the account may set it at will). */
static int child_unchanged(int ssh_fd, const char *name,
			   const struct current *cur)
{
	struct stat now;
	char *again = NULL;
	size_t len;
	int r;

	if (fstatat(ssh_fd, name, &now, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return -errno;
		return cur->exists ? SL_CHANGED : 0;
	}
	if (!cur->exists)
		return SL_CHANGED;
	/* The same file (inode), owner and size, and below the same bytes:
	 * then the edit made from them is still right. Its times, mode and
	 * group are not compared: the account could otherwise keep every
	 * edit from ever landing by touching, chmod-ing or chgrp-ing the file
	 * in a loop. The new file gets the mode and group read before the
	 * edit (without group or world write), which sshd accepts as well. */
	if (now.st_dev != cur->st.st_dev || now.st_ino != cur->st.st_ino ||
	    now.st_size != cur->st.st_size || now.st_uid != cur->st.st_uid)
		return SL_CHANGED;
	if (lseek(cur->fd, 0, SEEK_SET) < 0)
		return -errno;
	r = fsutil_read_fd(cur->fd, cur->len, &again, &len);
	if (r == -EFBIG || (r == 0 && (len != cur->len || memcmp(again, cur->buf, len) != 0)))
		r = SL_CHANGED;
	free(again);
	return r;
}

/* The compare-and-swap check fsutil_replace runs just before the rename. */
struct cas {
	const char *name;
	const struct current *cur;
	unsigned attempt;
};

static int child_cas(int ssh_fd, void *arg)
{
	const struct cas *cas = arg;

	if (userfs_test_hook_before_rename)
		userfs_test_hook_before_rename(ssh_fd, cas->attempt);
	return child_unchanged(ssh_fd, cas->name, cas->cur);
}

/* Put the new bytes in place of authorized_keys with fsutil_replace: temp
 * file, fsync, compare-and-swap check, rename, fsync of ~/.ssh. Returns 0,
 * SL_CHANGED (nothing changed; read again), SL_REFUSED or -errno with
 * *reason naming the step. On every return but 0 the original is
 * untouched and the temp file gone, except after the rename
 * (USERFS_R_STEP_DIRSYNC: the new file is in place). */
static int child_replace(int ssh_fd, const char *name,
			 const struct current *cur, const char *content,
			 size_t len, unsigned attempt, enum userfs_reason *reason)
{
	struct cas cas = { .name = name, .cur = cur, .attempt = attempt };
	struct fsutil_replace how = {
		.data = content,
		.len = len,
		/* Keep the mode the file had, minus group/world write (StrictModes). */
		.mode = cur->exists ? (cur->st.st_mode & 0755) : 0600,
		.flags = FSUTIL_CHMOD,
		.check = child_cas,
		.check_arg = &cas,
	};
	enum fsutil_step step;
	int r;

	/* The file was missing: do not replace one created since. */
	if (!cur->exists)
		how.flags |= FSUTIL_NOREPLACE;
	if (cur->exists && cur->st.st_gid != (gid_t)setfsgid((gid_t)-1)) {
		/* Best effort: the account may have left that group; with no
		 * group write the group only decides who may read. */
		how.flags |= FSUTIL_CHOWN | FSUTIL_CHOWN_MAY_FAIL;
		how.uid = (uid_t)-1;
		how.gid = cur->st.st_gid;
	}
	r = fsutil_replace(ssh_fd, name, &how, &step);
	switch (step) {
	case FSUTIL_STEP_NONE:
		*reason = USERFS_R_NONE;
		break;
	case FSUTIL_STEP_TEMP:
		*reason = USERFS_R_STEP_TEMP;
		if (r == -EACCES || r == -EPERM) {
			*reason = USERFS_R_SSH_WRITE;
			r = SL_REFUSED;
		}
		break;
	case FSUTIL_STEP_WRITE:
	case FSUTIL_STEP_OWNER:
	case FSUTIL_STEP_CLOSE:
		*reason = USERFS_R_STEP_WRITE;
		break;
	case FSUTIL_STEP_FSYNC:
		*reason = USERFS_R_STEP_FSYNC;
		break;
	case FSUTIL_STEP_CHECK:
		*reason = USERFS_R_STEP_READ;
		break;
	case FSUTIL_STEP_RENAME:
		*reason = USERFS_R_STEP_RENAME;
		/* Something took the name since the check: read again. */
		if (r == SL_EXISTS || r == -EEXIST)
			r = SL_CHANGED;
		break;
	case FSUTIL_STEP_DIRSYNC:
		*reason = USERFS_R_STEP_DIRSYNC;
		break;
	}
	return r;
}

static void change_reset(struct userfs_change *change)
{
	free(change->content);
	free(change->payload);
	*change = (struct userfs_change){ 0 };
}

/* A replace leaves the new file owned by the account: refused when that
 * would take it from root (who may own it under StrictModes). */
static enum userfs_reason child_owner_kept(const struct current *cur, uid_t uid)
{
	return cur->exists && cur->st.st_uid != uid ? USERFS_R_FILE_ROOT :
						      USERFS_R_NONE;
}

/* Whether the account may create an entry in dir_fd, as a write does
 * (mkdirat of ~/.ssh, the temporary file in ~/.ssh), asked of the kernel
 * without creating anything: SL_REFUSED with refusal where the write would
 * be refused (USERFS_R_READONLY on a read-only file system, which is what
 * ProtectSystem=strict makes of a path outside ReadWritePaths=), -errno
 * with step where it would fail. */
static int child_may_create(int dir_fd, enum userfs_reason refusal,
			    enum userfs_reason step, enum userfs_reason *reason)
{
	uid_t fsuid = (uid_t)setfsuid((uid_t)-1);
	gid_t fsgid = (gid_t)setfsgid((gid_t)-1), *groups;
	int ngroups = getgroups(0, NULL), r = 0;
	struct statvfs vfs;
	struct stat st;
	mode_t want;

	/* Worked out from the directory's mode, as the kernel would for the
	 * filesystem ids (faccessat would ask with the real ids, root's, on a
	 * C library or kernel without faccessat2). ACLs are not read: a write
	 * they forbid fails later, as an error. */
	groups = calloc((size_t)(ngroups > 0 ? ngroups : 0) + 1, sizeof(*groups));
	if (!groups || fstat(dir_fd, &st) < 0 || fstatvfs(dir_fd, &vfs) < 0 || ngroups < 0 ||
	    (ngroups = getgroups(ngroups, groups)) < 0) {
		*reason = step;
		r = groups ? -errno : -ENOMEM;
		goto out;
	}
	if (vfs.f_flag & ST_RDONLY) {
		*reason = USERFS_R_READONLY;
		r = SL_REFUSED;
		goto out;
	}
	want = S_IWOTH | S_IXOTH;
	if (st.st_uid == fsuid) {
		want = S_IWUSR | S_IXUSR;
	} else {
		bool member = st.st_gid == fsgid;

		for (int i = 0; i < ngroups && !member; i++)
			member = groups[i] == st.st_gid;
		if (member)
			want = S_IWGRP | S_IXGRP;
	}
	if ((st.st_mode & want) != want) {
		*reason = refusal;
		r = SL_REFUSED;
	}
out:
	free(groups);
	return r;
}

static int child_work(const struct account *acct, const struct userfs_op *op,
		      struct userfs_change *change)
{
	const char *name = op->name ? op->name : AUTHKEYS_NAME;
	const size_t max = op->shrinks ? AUTHKEYS_SHRINK_MAX : AUTHKEYS_FILE_MAX;
	struct current cur = { .fd = -1 };
	enum userfs_reason reason = USERFS_R_NONE;
	int home_fd = -1, ssh_fd = -1, r;

	r = child_open_home(acct, &home_fd, &reason);
	if (r != 0)
		goto out;
	r = child_open_ssh(home_fd, acct->uid, op->create, &ssh_fd, &reason);
	if (r != 0)
		goto out;
	if (ssh_fd < 0) {
		/* No ~/.ssh and not asked to create it: an empty file. */
		r = op->edit(op->arg, "", 0, change);
		reason = change->reason;
		free(change->content);
		change->content = NULL;
		goto out;
	}
	/* Temp files of ours left by a run that was killed. The account's
	 * lock is held, so no live run of ours owns one. */
	if (op->write)
		fsutil_clean_temps(ssh_fd, name);

	for (unsigned attempt = 0;; attempt++) {
		reason = USERFS_R_NONE;
		r = child_read(ssh_fd, name, acct->uid, max, &cur, &reason);
		if (r != 0)
			goto out;
		change_reset(change);
		r = op->edit(op->arg, cur.buf ? cur.buf : "", cur.len, change);
		reason = change->reason;
		if (r != 0 || !change->content || !op->write)
			goto out;
		reason = child_owner_kept(&cur, acct->uid);
		if (reason != USERFS_R_NONE) {
			r = SL_REFUSED;
			goto out;
		}
		if (change->len > max) {
			reason = USERFS_R_FILE_SIZE;
			r = SL_REFUSED;
			goto out;
		}
		/* Refused before anything is written, as authkeys_check
		 * refuses it (a read-only ~/.ssh would otherwise fail at the
		 * temp file, as an error). */
		r = child_may_create(ssh_fd, USERFS_R_SSH_WRITE, USERFS_R_STEP_TEMP,
				     &reason);
		if (r != 0)
			goto out;
		r = child_replace(ssh_fd, name, &cur, change->content,
				  change->len, attempt, &reason);
		if (r != SL_CHANGED)
			goto out;
		current_finish(&cur);
		if (attempt + 1 >= CAS_ATTEMPTS) {
			reason = USERFS_R_CHANGED;
			goto out;
		}
	}
out:
	change->reason = reason;
	current_finish(&cur);
	if (ssh_fd >= 0)
		close(ssh_fd);
	if (home_fd >= 0)
		close(home_fd);
	return r;
}

/*
 * child_work's walk and refusals for a write that creates what is missing
 * (authkeys_add), in the same order, changing nothing: ~/.ssh is not
 * created, no temporary file is made or cleaned. change->count gets the
 * enum authkeys_found.
 */
static int child_check(const struct account *acct, struct userfs_change *change)
{
	struct current cur = { .fd = -1 };
	enum userfs_reason reason = USERFS_R_NONE;
	int home_fd = -1, ssh_fd = -1, r;

	r = child_open_home(acct, &home_fd, &reason);
	if (r != 0)
		goto out;
	r = child_open_ssh(home_fd, acct->uid, false, &ssh_fd, &reason);
	if (r != 0)
		goto out;
	if (ssh_fd < 0) {
		change->count = AUTHKEYS_FOUND_HOME;
		r = child_may_create(home_fd, USERFS_R_SSH_CREATE, USERFS_R_STEP_SSH,
				     &reason);
		goto out;
	}
	r = child_read(ssh_fd, AUTHKEYS_NAME, acct->uid, AUTHKEYS_FILE_MAX, &cur, &reason);
	if (r != 0)
		goto out;
	reason = child_owner_kept(&cur, acct->uid);
	if (reason != USERFS_R_NONE) {
		r = SL_REFUSED;
		goto out;
	}
	change->count = cur.exists ? AUTHKEYS_FOUND_FILE : AUTHKEYS_FOUND_SSH_DIR;
	r = child_may_create(ssh_fd, USERFS_R_SSH_WRITE, USERFS_R_STEP_TEMP, &reason);
out:
	change->reason = reason;
	current_finish(&cur);
	if (ssh_fd >= 0)
		close(ssh_fd);
	if (home_fd >= 0)
		close(home_fd);
	return r;
}

/* Rename dir_fd's entry name to "<name>.sshlease-moved-<now>[-N]",
 * replacing nothing, and make the rename durable; the new name and what a
 * symlink pointed to go in the payload. */
static int move_entry(int dir_fd, const char *name, bool symlink,
		      struct userfs_change *change, enum userfs_reason *reason)
{
	char to[128], target[256] = "";
	long long now = (long long)time(NULL);
	ssize_t n;
	int r = -EEXIST;

	if (symlink) {
		n = readlinkat(dir_fd, name, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		/* Only for people to read: a line end would split the answer. */
		for (char *c = target; *c; c++)
			if (*c == '\n')
				*c = '?';
	}
	for (int i = 1; i <= 20 && r == -EEXIST; i++) {
		if (i == 1)
			snprintf(to, sizeof(to), "%s.sshlease-moved-%lld", name, now);
		else
			snprintf(to, sizeof(to), "%s.sshlease-moved-%lld-%d", name, now, i);
		r = renameat2(dir_fd, name, dir_fd, to, RENAME_NOREPLACE) == 0 ? 0 : -errno;
	}
	/* Moved: that is what counts (a failed fsync of the directory only
	 * means a crash could bring the name back, and the next sweep would
	 * move it again). */
	if (r == 0)
		(void)fsync(dir_fd);
	if (r < 0) {
		*reason = r == -EACCES || r == -EPERM ? USERFS_R_SSH_WRITE : USERFS_R_STEP_RENAME;
		return r == -EACCES || r == -EPERM ? SL_REFUSED : r;
	}
	if (asprintf(&change->payload, "%s\n%s", to, target) < 0) {
		change->payload = NULL;
		*reason = USERFS_R_STEP_SETUP;
		return -ENOMEM;
	}
	change->payload_len = strlen(change->payload);
	return 0;
}

/* One of several hard links at ssh_fd's name: replaced by a copy of its
 * own through the same replace as every edit (temp file, fsync,
 * compare-and-swap, rename), so that the name stands alone and can be
 * swept; the file it shared keeps its other names and every byte. The
 * payload names it (no target). */
static int break_link(int ssh_fd, const char *name, uid_t uid, struct userfs_change *change,
		      enum userfs_reason *reason)
{
	struct current cur = { .fd = -1, .exists = true };
	int r;

	cur.fd = openat(ssh_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (cur.fd < 0 || fstat(cur.fd, &cur.st) < 0 || !S_ISREG(cur.st.st_mode) ||
	    cur.st.st_nlink < 2) {
		current_finish(&cur);
		return 0; /* gone or changed since: nothing to break */
	}
	*reason = child_owner_kept(&cur, uid);
	if (*reason != USERFS_R_NONE) {
		current_finish(&cur);
		return SL_REFUSED;
	}
	r = fsutil_read_fd(cur.fd, AUTHKEYS_FILE_MAX, &cur.buf, &cur.len);
	if (r < 0) {
		*reason = r == -EFBIG ? USERFS_R_FILE_SIZE : USERFS_R_STEP_READ;
		current_finish(&cur);
		return r == -EFBIG ? SL_REFUSED : r;
	}
	r = child_replace(ssh_fd, name, &cur, cur.buf, cur.len, 0, reason);
	current_finish(&cur);
	if (r != 0 && !(r < 0 && *reason == USERFS_R_STEP_DIRSYNC))
		return r;
	/* Only the directory's fsync failed: the copy is in place. */
	*reason = USERFS_R_NONE;
	if (asprintf(&change->payload, "%s\n", name) < 0) {
		change->payload = NULL;
		return -ENOMEM;
	}
	change->payload_len = strlen(change->payload);
	change->count = USERFS_MOVED_FILE_LINK;
	return 0;
}

/* A move_aside op: a symlink in place of ~/.ssh, else a symlink in place
 * of ~/.ssh/<name>, is renamed in its directory; one of several hard links
 * there is replaced by a copy of its own (break_link); anything else is
 * left as it is (count USERFS_MOVED_NONE). */
static int child_move_aside(const struct account *acct, const struct userfs_op *op,
			    struct userfs_change *change)
{
	const char *name = op->name ? op->name : AUTHKEYS_NAME;
	enum userfs_reason reason = USERFS_R_NONE;
	int home_fd = -1, ssh_fd = -1, r;
	struct stat st;

	r = child_open_home(acct, &home_fd, &reason);
	if (r != 0)
		goto out;
	if (fstatat(home_fd, ".ssh", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
		r = move_entry(home_fd, ".ssh", true, change, &reason);
		if (r == 0)
			change->count = USERFS_MOVED_SSH_SYMLINK;
		goto out;
	}
	ssh_fd = openat(home_fd, ".ssh", DIR_FLAGS);
	if (ssh_fd < 0 || fstatat(ssh_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		goto out; /* nothing there to move */
	if (S_ISLNK(st.st_mode)) {
		r = move_entry(ssh_fd, name, true, change, &reason);
		if (r == 0)
			change->count = USERFS_MOVED_FILE_SYMLINK;
	} else if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
		r = break_link(ssh_fd, name, acct->uid, change, &reason);
	}
out:
	change->reason = reason;
	if (ssh_fd >= 0)
		close(ssh_fd);
	if (home_fd >= 0)
		close(home_fd);
	return r;
}

/* A home op: the walk's first step, then op->home on the home's fd. */
static int child_home(const struct account *acct, const struct userfs_op *op,
		      struct userfs_change *change)
{
	enum userfs_reason reason = USERFS_R_NONE;
	int home_fd = -1, r;

	r = child_open_home(acct, &home_fd, &reason);
	if (r == 0) {
		r = op->home(op->arg, home_fd, change);
		reason = change->reason;
		free(change->content);
		change->content = NULL;
		close(home_fd);
	}
	change->reason = reason;
	return r;
}

static _Noreturn void child_main(int wfd, const struct account *acct,
				 const gid_t *groups, size_t ngroups,
				 const struct userfs_op *op)
{
	struct userfs_change change = { 0 };
	struct reply reply = { 0 };
	int r;

	become_reset_signals();
	wfd = become_isolate(wfd);
	if (wfd < 0)
		_exit(1);
	r = become_fs_account(acct, groups, ngroups);
	if (r < 0)
		change.reason = USERFS_R_STEP_DROP;
	else if (op->check)
		r = child_check(acct, &change);
	else if (op->move_aside)
		r = child_move_aside(acct, op, &change);
	else if (op->home)
		r = child_home(acct, op, &change);
	else
		r = child_work(acct, op, &change);

	reply.rc = r;
	reply.reason = change.reason;
	reply.count = change.count;
	reply.payload_len = r == 0 && change.payload ? change.payload_len : 0;
	if (fsutil_write_all(wfd, &reply, sizeof(reply)) < 0 ||
	    fsutil_write_all(wfd, change.payload, (size_t)reply.payload_len) < 0)
		_exit(1);
	/* Nothing is left to do: the parent kills us once it has the answer
	 * (a test may stop us here to prove it never waits for us). */
	if (userfs_test_hook_answered)
		userfs_test_hook_answered();
	/* _exit: no atexit handlers and no stdio flush of the daemon's buffers. */
	_exit(0);
}

/* ---- the parent: root ---- */

/* Take the per-account lock: <lock_dir>/<uid>.lock, flock'd exclusively. */
static int lock_account(const struct authkeys_ctx *ctx, uid_t uid, int *out,
			const char **why)
{
	char name[32];
	struct stat st;
	int dir_fd = -1, fd = -1, r;

	if (!ctx || !ctx->lock_dir || ctx->lock_dir[0] != '/') {
		*why = "the lock directory must be an absolute path";
		return -EINVAL;
	}
	if (mkdir(ctx->lock_dir, 0700) < 0 && errno != EEXIST) {
		*why = "creating the lock directory failed";
		return -errno;
	}
	dir_fd = open(ctx->lock_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir_fd < 0) {
		if (errno == ELOOP || errno == ENOTDIR) {
			*why = "the lock directory is a symlink or not a directory";
			return SL_REFUSED;
		}
		*why = "opening the lock directory failed";
		return -errno;
	}
	if (fstat(dir_fd, &st) < 0) {
		*why = "opening the lock directory failed";
		r = -errno;
		goto out;
	}
	/* Rule: ours (root), no group/other write: others could swap the locks. */
	if (fsutil_trust_stat(&st, geteuid(), FSUTIL_TRUST_NO_SHARED_WRITE) != FSUTIL_TRUSTED) {
		*why = "the lock directory must belong to root and not be group or world writable";
		r = SL_REFUSED;
		goto out;
	}
	snprintf(name, sizeof(name), "%lu.lock", (unsigned long)uid);
	fd = openat(dir_fd, name,
		    O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
	if (fd < 0 || fstat(fd, &st) < 0) {
		*why = "opening the account's lock file failed";
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		*why = "the account's lock file is not a regular file";
		r = SL_REFUSED;
		goto out;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			*why = "locking the account's lock file failed";
			r = -errno;
			goto out;
		}
	}
	*out = fd;
	fd = -1;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	close(dir_fd);
	return r;
}

/* Read exactly len bytes before deadline: 0, -EPIPE at an early end,
 * -ETIMEDOUT, or -errno. */
static int read_full(int fd, void *buf, size_t len, int64_t deadline)
{
	char *p = buf;

	while (len > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - time_monotonic_ms();
		ssize_t n;
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		n = read(fd, p, len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The child's answer is checked like any input: a known code, a reason
 * from the table, a bounded payload. */
static int read_reply(int fd, struct reply *reply, char **payload,
		      const char **why)
{
	int64_t deadline = time_monotonic_ms() + AUTHKEYS_CHILD_TIMEOUT_MS;
	char *buf = NULL;
	int r;

	r = read_full(fd, reply, sizeof(*reply), deadline);
	if (r < 0)
		goto fail;
	if (reply->reason >= USERFS_R_COUNT || reply->payload_len > AUTHKEYS_FILE_MAX ||
	    reply->rc < -4095 || reply->rc > SL_DENIED ||
	    (reply->rc > 0 && reply->reason == USERFS_R_NONE)) {
		*why = "the process acting as the account sent a malformed answer";
		return -EPROTO;
	}
	buf = malloc((size_t)reply->payload_len + 1);
	if (!buf)
		return -ENOMEM;
	r = read_full(fd, buf, (size_t)reply->payload_len, deadline);
	if (r < 0) {
		free(buf);
		goto fail;
	}
	buf[reply->payload_len] = '\0';
	*payload = buf;
	return 0;
fail:
	if (r == -ETIMEDOUT)
		*why = "the process acting as the account did not answer in time";
	else if (r == -EPIPE)
		*why = "the process acting as the account died before answering";
	else
		*why = "reading the answer of the process acting as the account failed";
	return r == -EPIPE ? -EIO : r;
}

int userfs_run(const struct authkeys_ctx *ctx, const struct account *acct,
	       const struct userfs_op *op, struct userfs_result *res,
	       const char **why)
{
	struct reply reply = { 0 };
	char *payload = NULL;
	gid_t *groups = NULL;
	size_t ngroups = 0;
	int lock_fd = -1, pipe_fd[2] = { -1, -1 };
	pid_t pid = -1;
	int r;

	*res = (struct userfs_result){ 0 };
	if (geteuid() != 0) {
		*why = "the authorized_keys engine must run as root";
		return -EPERM;
	}
	if (sodium_init() < 0) {
		*why = "libsodium failed to initialise";
		return -EIO;
	}
	/* A check changes nothing: no lock to take, nor a lock directory. */
	r = op->check ? 0 : lock_account(ctx, acct->uid, &lock_fd, why);
	if (r != 0)
		goto out;
	r = account_groups(acct, &groups, &ngroups);
	if (r < 0) {
		*why = "looking up the account's groups failed";
		goto out;
	}
	if (pipe2(pipe_fd, O_CLOEXEC) < 0) {
		r = -errno;
		*why = reasons[USERFS_R_STEP_SETUP];
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		*why = reasons[USERFS_R_STEP_SETUP];
		goto out;
	}
	if (pid == 0) {
		close(pipe_fd[0]);
		child_main(pipe_fd[1], acct, groups, ngroups, op);
	}
	close(pipe_fd[1]);
	pipe_fd[1] = -1;

	r = read_reply(pipe_fd[0], &reply, &payload, why);
	if (r < 0)
		goto out;
	r = reply.rc;
	if (r != 0) {
		if (reply.reason != USERFS_R_NONE)
			*why = reasons[reply.reason];
		goto out;
	}
	res->count = (size_t)reply.count;
	res->payload = payload;
	res->payload_len = (size_t)reply.payload_len;
	payload = NULL;
out:
	/*
	 * The child runs as the account, which can stop it (SIGSTOP) at any
	 * moment, so it is never waited for while alive: it is killed first,
	 * on every path. Once it has answered it has nothing left to do (the
	 * rename and the fsyncs come before the answer); a child that did not
	 * answer in time has done nothing or a complete rename, never half.
	 * A killed process cannot be held back by the account, so the reap
	 * below returns.
	 */
	if (pid > 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (pipe_fd[0] >= 0)
		close(pipe_fd[0]);
	if (pipe_fd[1] >= 0)
		close(pipe_fd[1]);
	if (lock_fd >= 0)
		close(lock_fd);
	free(groups);
	free(payload);
	return r;
}

/*
 * doctor's home-permissions check asks the authorized_keys engine, so it
 * cannot disagree with a grant: on a real throwaway account (root), for
 * each state of the home directory, ~/.ssh and authorized_keys, doctor
 * fails exactly when authkeys_add refuses, with the engine's reason word
 * for word, and neither changes a byte; where doctor passes, the grant is
 * written. A root-owned authorized_keys once passed doctor and was then
 * refused by the grant.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "account.h"
#include "authkeys.h"
#include "doctor.h"
#include "test-account.h"
#include "test.h"

/* The engine's reasons (userfs.c), as a grant reports them. */
#define WHY_HOME_MISSING "the home directory does not exist"
#define WHY_HOME_SYMLINK "the home directory is a symlink; sshlease follows none"
#define WHY_HOME_OWNER "the home directory is owned by another account; sshd would ignore the keys (StrictModes)"
#define WHY_HOME_MODE "the home directory is group or world writable; sshd would ignore the keys (StrictModes): chmod go-w it"
#define WHY_SSH_SYMLINK "~/.ssh is a symlink; sshlease follows none"
#define WHY_SSH_NOTDIR "~/.ssh is not a directory"
#define WHY_SSH_CREATE "the account cannot create ~/.ssh in its home directory"
#define WHY_SSH_MODE "~/.ssh is group or world writable; sshd would ignore the keys (StrictModes): chmod go-w it"
#define WHY_SSH_WRITE "the account cannot create files in its ~/.ssh"
#define WHY_FILE_SYMLINK "authorized_keys is a symlink; sshlease follows none"
#define WHY_FILE_DIR "authorized_keys is a directory"
#define WHY_FILE_NOTREG "authorized_keys is not a regular file (FIFO, socket or device)"
#define WHY_FILE_LINKS "authorized_keys has more than one hard link"
#define WHY_FILE_MODE "authorized_keys is group or world writable; sshd would ignore the keys (StrictModes): chmod go-w it"
#define WHY_FILE_ROOT "authorized_keys is owned by root, not by the account; replacing it would change its owner (chown it to the account)"

#define LINE "restrict,pty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB5aRqHb2Wj1E2XGuoFO4aa9nq6Sm6fa5u6qs8Lza6J1 sshlease:0123456789ab"
#define OWN_KEYS "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOwnKeyxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx own@laptop\n"
#define STRANGER 4242

static struct account *user;
static struct authkeys_ctx ctx;
static char lock_dir[64] = "/tmp/sshlease-test-locks.XXXXXX";
static char home[512], ssh_dir[600], ak[700], other[600], link_path[600];
static mode_t home_mode;
/* The account the case checks: user, or a copy with another home. */
static struct account moved;

static void die(const char *what)
{
	fprintf(stderr, "setup failed: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void make_dir(const char *path, mode_t mode, uid_t uid)
{
	if (mkdir(path, mode) < 0 || chown(path, uid, uid == 0 ? 0 : user->gid) < 0 ||
	    chmod(path, mode) < 0)
		die(path);
}

static void make_file(const char *path, mode_t mode, uid_t uid)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
	size_t len = strlen(OWN_KEYS);

	if (fd < 0 || write(fd, OWN_KEYS, len) != (ssize_t)len ||
	    fchown(fd, uid, uid == 0 ? 0 : user->gid) < 0 || fchmod(fd, mode) < 0 ||
	    close(fd) < 0)
		die(path);
}

/* An empty home of the account's, as useradd left it but for the skeleton. */
static void reset_home(void)
{
	if (chown(home, user->uid, user->gid) < 0 || chmod(home, home_mode) < 0)
		die("home");
	test_run_command((char *[]){ "rm", "-rf", "--", ssh_dir, other, link_path,
				     NULL });
}

/* ---- the states; each returns the account to check ---- */

static const struct account *no_ssh(void)
{
	return user;
}

static const struct account *ssh_only(void)
{
	make_dir(ssh_dir, 0700, user->uid);
	return user;
}

static const struct account *file_ok(void)
{
	make_dir(ssh_dir, 0700, user->uid);
	make_file(ak, 0600, user->uid);
	return user;
}

static const struct account *file_root(void)
{
	make_dir(ssh_dir, 0700, user->uid);
	make_file(ak, 0644, 0);
	return user;
}

static const struct account *home_group_writable(void)
{
	file_ok();
	if (chmod(home, 0775) < 0)
		die("chmod home");
	return user;
}

static const struct account *home_stranger(void)
{
	file_ok();
	if (chown(home, STRANGER, STRANGER) < 0)
		die("chown home");
	return user;
}

/* sshd accepts directories of root's; a grant can use them when the
 * account owns what it must write. */
static const struct account *home_root_ssh_own(void)
{
	file_ok();
	if (chown(home, 0, 0) < 0 || chmod(home, 0755) < 0)
		die("chown home");
	return user;
}

static const struct account *home_root_no_ssh(void)
{
	if (chown(home, 0, 0) < 0 || chmod(home, 0755) < 0)
		die("chown home");
	return user;
}

static const struct account *ssh_root_no_file(void)
{
	make_dir(ssh_dir, 0755, 0);
	return user;
}

static const struct account *ssh_group_writable(void)
{
	file_ok();
	if (chmod(ssh_dir, 0770) < 0)
		die("chmod .ssh");
	return user;
}

static const struct account *ssh_world_writable(void)
{
	file_ok();
	if (chmod(ssh_dir, 0707) < 0)
		die("chmod .ssh");
	return user;
}

static const struct account *ssh_symlink(void)
{
	make_dir(other, 0700, user->uid);
	if (symlink(other, ssh_dir) < 0)
		die("symlink .ssh");
	return user;
}

static const struct account *ssh_not_dir(void)
{
	make_file(ssh_dir, 0600, user->uid);
	return user;
}

static const struct account *file_group_writable(void)
{
	file_ok();
	if (chmod(ak, 0620) < 0)
		die("chmod authorized_keys");
	return user;
}

static const struct account *file_symlink(void)
{
	make_dir(ssh_dir, 0700, user->uid);
	if (symlink("/etc/shadow", ak) < 0)
		die("symlink authorized_keys");
	return user;
}

static const struct account *file_dangling(void)
{
	make_dir(ssh_dir, 0700, user->uid);
	if (symlink("nowhere", ak) < 0)
		die("symlink authorized_keys");
	return user;
}

static const struct account *file_hard_link(void)
{
	file_ok();
	if (link(ak, other) < 0)
		die("link authorized_keys");
	return user;
}

static const struct account *file_dir(void)
{
	make_dir(ssh_dir, 0700, user->uid);
	make_dir(ak, 0700, user->uid);
	return user;
}

static const struct account *file_fifo(void)
{
	make_dir(ssh_dir, 0700, user->uid);
	if (mkfifo(ak, 0600) < 0 || chown(ak, user->uid, user->gid) < 0)
		die("mkfifo authorized_keys");
	return user;
}

static const struct account *home_symlink(void)
{
	file_ok();
	if (symlink(home, link_path) < 0)
		die("symlink home");
	moved = *user;
	moved.home = link_path;
	return &moved;
}

static const struct account *home_missing(void)
{
	moved = *user;
	moved.home = link_path;
	return &moved;
}

/* ---- what a path looks like, to prove nothing changed ---- */

struct path_state {
	bool exists;
	struct stat st;
	char bytes[256]; /* a regular file's first bytes */
};

static void path_look(const char *path, struct path_state *out)
{
	int fd;

	memset(out, 0, sizeof(*out));
	out->exists = lstat(path, &out->st) == 0;
	if (!out->exists || !S_ISREG(out->st.st_mode))
		return;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || read(fd, out->bytes, sizeof(out->bytes) - 1) < 0)
		die(path);
	close(fd);
}

static bool path_same(const struct path_state *a, const struct path_state *b)
{
	if (a->exists != b->exists)
		return false;
	if (!a->exists)
		return true;
	return a->st.st_ino == b->st.st_ino && a->st.st_mode == b->st.st_mode &&
	       a->st.st_uid == b->st.st_uid && a->st.st_gid == b->st.st_gid &&
	       a->st.st_nlink == b->st.st_nlink && a->st.st_size == b->st.st_size &&
	       a->st.st_mtim.tv_sec == b->st.st_mtim.tv_sec &&
	       a->st.st_mtim.tv_nsec == b->st.st_mtim.tv_nsec &&
	       strcmp(a->bytes, b->bytes) == 0;
}

struct tree_state {
	struct path_state home, ssh, file;
};

static void tree_look(struct tree_state *out)
{
	path_look(home, &out->home);
	path_look(ssh_dir, &out->ssh);
	path_look(ak, &out->file);
}

static bool tree_same(const struct tree_state *a, const struct tree_state *b)
{
	return path_same(&a->home, &b->home) && path_same(&a->ssh, &b->ssh) &&
	       path_same(&a->file, &b->file);
}

/* ---- the table ---- */

static const struct home_case {
	const char *name;
	const struct account *(*setup)(void);
	const char *why;   /* the engine's refusal; NULL: doctor ok, grant written */
	const char *found; /* for ok: what doctor says of the path */
} cases[] = {
	{ "no ~/.ssh", no_ssh, NULL, "~/.ssh and authorized_keys will be created" },
	{ "~/.ssh, no file", ssh_only, NULL, "authorized_keys will be created" },
	{ "the account's file", file_ok, NULL, "pass StrictModes" },
	{ "root's home, the account's ~/.ssh", home_root_ssh_own, NULL,
	  "pass StrictModes" },
	{ "root-owned authorized_keys", file_root, WHY_FILE_ROOT, NULL },
	{ "group-writable home", home_group_writable, WHY_HOME_MODE, NULL },
	{ "home of another account", home_stranger, WHY_HOME_OWNER, NULL },
	{ "root's home, no ~/.ssh", home_root_no_ssh, WHY_SSH_CREATE, NULL },
	{ "root's ~/.ssh, no file", ssh_root_no_file, WHY_SSH_WRITE, NULL },
	{ "group-writable ~/.ssh", ssh_group_writable, WHY_SSH_MODE, NULL },
	{ "world-writable ~/.ssh", ssh_world_writable, WHY_SSH_MODE, NULL },
	{ "~/.ssh a symlink", ssh_symlink, WHY_SSH_SYMLINK, NULL },
	{ "~/.ssh a file", ssh_not_dir, WHY_SSH_NOTDIR, NULL },
	{ "group-writable file", file_group_writable, WHY_FILE_MODE, NULL },
	{ "authorized_keys a symlink", file_symlink, WHY_FILE_SYMLINK, NULL },
	{ "authorized_keys a dangling symlink", file_dangling, WHY_FILE_SYMLINK, NULL },
	{ "authorized_keys hard-linked", file_hard_link, WHY_FILE_LINKS, NULL },
	{ "authorized_keys a directory", file_dir, WHY_FILE_DIR, NULL },
	{ "authorized_keys a FIFO", file_fifo, WHY_FILE_NOTREG, NULL },
	{ "home a symlink", home_symlink, WHY_HOME_SYMLINK, NULL },
	{ "home missing", home_missing, WHY_HOME_MISSING, NULL },
};

static void check_case(const struct home_case *c)
{
	const struct account *acct = c->setup();
	struct doctor_report *report = doctor_report_new();
	const struct doctor_result *result;
	struct tree_state before, after_doctor, after_grant;
	const char *why = NULL;
	int r;

	if (!report)
		die("doctor_report_new");
	tree_look(&before);
	CHECK_INT(doctor_check_home(report, acct), 0);
	tree_look(&after_doctor);
	CHECK_MSG(tree_same(&before, &after_doctor), "%s: doctor changed the tree",
		  c->name);
	result = doctor_report_find(report, DOCTOR_HOME);
	CHECK_MSG(result != NULL, "%s: no home check", c->name);
	if (!result)
		goto out;
	CHECK_MSG(!result->blocks_grant, "%s: blocks the grant", c->name);
	r = authkeys_add(&ctx, acct, LINE, &why);
	tree_look(&after_grant);
	if (c->why) {
		CHECK_MSG(result->status == DOCTOR_FAIL && result->fix,
			  "%s: doctor says %s: %s", c->name,
			  doctor_status_name(result->status), result->message);
		CHECK_MSG(r == SL_REFUSED, "%s: the grant returned %d", c->name, r);
		/* One reason, the engine's, whoever asks. */
		CHECK_MSG(why && strcmp(result->message, why) == 0,
			  "%s: doctor says \"%s\", the grant \"%s\"", c->name,
			  result->message, why ? why : "(none)");
		CHECK_MSG(strcmp(result->message, c->why) == 0,
			  "%s: \"%s\", expected \"%s\"", c->name, result->message,
			  c->why);
		CHECK_MSG(tree_same(&before, &after_grant),
			  "%s: the refused grant changed the tree", c->name);
	} else {
		CHECK_MSG(result->status == DOCTOR_OK && !result->fix &&
				  strstr(result->message, c->found),
			  "%s: doctor says %s: %s", c->name,
			  doctor_status_name(result->status), result->message);
		CHECK_MSG(r == 0, "%s: doctor passed but the grant returned %d: %s",
			  c->name, r, why ? why : "");
		CHECK_MSG(after_grant.file.exists && S_ISREG(after_grant.file.st.st_mode) &&
				  strstr(after_grant.file.bytes, "sshlease:0123456789ab"),
			  "%s: the grant wrote no line", c->name);
	}
out:
	doctor_report_free(report);
	reset_home();
}

static void test_home_agrees(void)
{
	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++)
		check_case(&cases[i]);
}

/* Without root the engine cannot be asked: a warning that says so. */
static void test_home_not_root(void)
{
	struct doctor_report *report;
	const struct doctor_result *result;
	pid_t pid = fork();
	int status = 0;

	if (pid == 0) {
		if (setresgid(user->gid, user->gid, user->gid) < 0 ||
		    setresuid(user->uid, user->uid, user->uid) < 0)
			_exit(2);
		report = doctor_report_new();
		if (!report || doctor_check_home(report, user) != 0)
			_exit(3);
		result = doctor_report_find(report, DOCTOR_HOME);
		_exit(result && result->status == DOCTOR_WARN &&
				      strstr(result->message, "as root") &&
				      result->fix ?
			      0 :
			      4);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "not root: status %d", status);
}

static int run_tests(const char *name)
{
	const char *why = NULL;
	struct stat st;

	if (account_lookup(name, &user, &why) != 0)
		die("account_lookup");
	if (!mkdtemp(lock_dir))
		die("mkdtemp");
	ctx.lock_dir = lock_dir;
	snprintf(home, sizeof(home), "%s", user->home);
	snprintf(ssh_dir, sizeof(ssh_dir), "%s/.ssh", home);
	snprintf(ak, sizeof(ak), "%s/authorized_keys", ssh_dir);
	snprintf(other, sizeof(other), "%s/other", home);
	snprintf(link_path, sizeof(link_path), "%s.link", home);
	if (stat(home, &st) < 0)
		die("home");
	home_mode = st.st_mode & 07777;
	reset_home();

	TEST(test_home_agrees());
	TEST(test_home_not_root());
	reset_home();
	test_run_command((char *[]){ "rm", "-rf", "--", lock_dir, NULL });
	account_free(user);
	return test_done();
}

int main(void)
{
	return test_with_account(run_tests);
}

/*
 * The authorized_keys engine against a real throwaway account: byte-exact
 * round trips, the attack matrix (symlinks, hard links, FIFOs, modes,
 * owners), concurrent writers, the compare-and-swap, and the line format.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "account.h"
#include "authkeys.h"
#include "authkeys-hooks.h"
#include "test.h"

#define TEMP_PREFIX ".authorized_keys.sshlease-"
#define NOBODY 65534
#define OP_ALARM 20 /* seconds; only fires when an operation hangs */

/* Reasons the engine gives; the harness asserts on the same strings. */
#define WHY_HOME_SYMLINK "the home directory is a symlink; sshlease follows none"
#define WHY_HOME_OWNER "the home directory is owned by another account; sshd would ignore the keys (StrictModes)"
#define WHY_HOME_MODE "the home directory is group or world writable; sshd would ignore the keys (StrictModes): chmod go-w it"
#define WHY_SSH_SYMLINK "~/.ssh is a symlink; sshlease follows none"
#define WHY_SSH_NOTDIR "~/.ssh is not a directory"
#define WHY_SSH_CREATE "the account cannot create ~/.ssh in its home directory"
#define WHY_SSH_OWNER "~/.ssh is owned by another account; sshd would ignore the keys (StrictModes)"
#define WHY_SSH_MODE "~/.ssh is group or world writable; sshd would ignore the keys (StrictModes): chmod go-w it"
#define WHY_SSH_WRITE "the account cannot create files in its ~/.ssh"
#define WHY_FILE_SYMLINK "authorized_keys is a symlink; sshlease follows none"
#define WHY_FILE_DIR "authorized_keys is a directory"
#define WHY_FILE_NOTREG "authorized_keys is not a regular file (FIFO, socket or device)"
#define WHY_FILE_LINKS "authorized_keys has more than one hard link"
#define WHY_FILE_OWNER "authorized_keys is owned by another account; sshd would ignore the keys (StrictModes)"
#define WHY_FILE_MODE "authorized_keys is group or world writable; sshd would ignore the keys (StrictModes): chmod go-w it"
#define WHY_FILE_ROOT "authorized_keys is owned by root, not by the account; replacing it would change its owner (chown it to the account)"
#define WHY_FILE_SIZE "authorized_keys is or would become larger than the engine reads (1 MiB; 64 MiB to remove a line)"
#define WHY_EXISTS_KEY "the key is already in authorized_keys"
#define WHY_EXISTS_ID "a line with this grant id is already in authorized_keys"
#define WHY_CHANGED "authorized_keys kept changing while being edited; try again"
#define WHY_DIED "the process acting as the account died before answering"
#define WHY_TIMEOUT "the process acting as the account did not answer in time"

/* Every kind of byte the engine must keep: comments, blank lines, CRLF,
 * options with quoted blanks, UTF-8, and no newline at the end. */
static const char golden[] =
	"# keys of this account\n"
	"\n"
	"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGolden1xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx alice@laptop\n"
	"   \n"
	"from=\"10.0.0.0/8\",no-pty ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQGolden2 bob@ci\r\n"
	"# Zo\xc3\xab's key \xe2\x80\x94 n\xc3\xa9" "e M\xc3\xbcller \xf0\x9f\x94\x91\r\n"
	"command=\"echo hello world\",restrict ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGolden3 \"quoted\" comment\n"
	"\r\n"
	"\t# indented comment\n"
	"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGolden4xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx last-line-no-newline";
#define GOLDEN_OWN_BLOB "AAAAC3NzaC1lZDI1NTE5AAAAIGolden1xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

static struct account *user;
static struct authkeys_ctx ctx;
static char lock_dir[64] = "/tmp/sshlease-test-locks.XXXXXX";
static char home[512], ssh_dir[600], ak[700], sentinel[600], root_dir[600];
static mode_t home_mode;
static time_t deadline_utc; /* 2026-12-01T17:00:00Z */

/* ---- small helpers ---- */

static void die(const char *what)
{
	fprintf(stderr, "setup failed: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int run(char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *join(const char *first, ...)
{
	va_list ap;
	size_t len = 0;
	char *out, *p;

	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *))
		len += strlen(s);
	va_end(ap);
	out = p = malloc(len + 1);
	if (!out)
		die("malloc");
	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *))
		p = stpcpy(p, s);
	va_end(ap);
	return out;
}

static void put_file(const char *path, const char *data, size_t len,
		     mode_t mode, uid_t uid)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len ||
	    fchown(fd, uid, uid == 0 ? 0 : user->gid) < 0 || fchmod(fd, mode) < 0 ||
	    close(fd) < 0)
		die(path);
}

/* The whole file, NUL-terminated; NULL when it cannot be read. */
static char *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
	size_t cap = 4096, n = 0;
	char *buf;
	ssize_t got;

	if (fd < 0)
		return NULL;
	buf = malloc(cap);
	while (buf && (got = read(fd, buf + n, cap - n - 1)) > 0) {
		n += (size_t)got;
		if (n + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	close(fd);
	if (!buf)
		die("malloc");
	buf[n] = '\0';
	*len = n;
	return buf;
}

#define CHECK_FILE(path, want)                                                  \
	do {                                                                    \
		size_t got_len_ = 0;                                            \
		char *got_ = slurp(path, &got_len_);                            \
		const char *want_ = (want);                                     \
		CHECK_MSG(got_ && got_len_ == strlen(want_) &&                  \
				  memcmp(got_, want_, got_len_) == 0,           \
			  "%s holds %zu bytes, expected %zu", path, got_len_,   \
			  strlen(want_));                                       \
		free(got_);                                                     \
	} while (0)

static void mkdir_as(const char *path, mode_t mode, uid_t uid)
{
	if (mkdir(path, mode) < 0 || chown(path, uid, uid == 0 ? 0 : user->gid) < 0 ||
	    chmod(path, mode) < 0)
		die(path);
}

/* Back to a home with nothing in it but a root-owned sentinel file and a
 * root-owned directory holding a sentinel authorized_keys. */
static void reset_home(void)
{
	struct stat st;

	if (lstat(home, &st) == 0 && S_ISLNK(st.st_mode)) {
		char real[600];

		snprintf(real, sizeof(real), "%s.real", home);
		if (unlink(home) < 0 || rename(real, home) < 0)
			die("restore home");
	}
	if (chown(home, user->uid, user->gid) < 0 || chmod(home, home_mode) < 0)
		die("home");
	run((char *[]){ "rm", "-rf", "--", ssh_dir, sentinel, root_dir, NULL });
	put_file(sentinel, "root's sentinel: must never change\n", 35, 0644, 0);
	mkdir_as(root_dir, 0755, 0);
	{
		char path[700];

		snprintf(path, sizeof(path), "%s/authorized_keys", root_dir);
		put_file(path, "root's authorized_keys sentinel\n", 32, 0644, 0);
	}
}

static void make_ssh(mode_t mode)
{
	mkdir_as(ssh_dir, mode, user->uid);
}

static void blob_for(unsigned n, char out[80])
{
	snprintf(out, 80, "AAAAC3NzaC1lZDI1NTE5AAAAITest%039u", n);
}

static void id_for(unsigned n, char out[AUTHKEYS_ID_LEN + 1])
{
	snprintf(out, AUTHKEYS_ID_LEN + 1, "%012x", n);
}

/* The managed line of grant n (shell, UTC deadline). */
static char *line_at(unsigned n, time_t deadline)
{
	char id[AUTHKEYS_ID_LEN + 1], blob[80];
	struct authkeys_line_spec spec = {
		.id = id, .key_type = "ssh-ed25519", .blob_base64 = blob,
		.deadline = deadline, .expiry = AUTHKEYS_EXPIRY_UTC,
		.mode = AUTHKEYS_MODE_SHELL,
	};
	const char *why = NULL;
	char *line = NULL;

	id_for(n, id);
	blob_for(n, blob);
	if (authkeys_format_line(&spec, &line, &why) != 0)
		die("format_line");
	return line;
}

static char *line_for(unsigned n)
{
	return line_at(n, deadline_utc);
}

static int add(unsigned n, const char **why)
{
	char *line = line_for(n);
	int r;

	*why = NULL;
	alarm(OP_ALARM);
	r = authkeys_add(&ctx, user, line, why);
	alarm(0);
	free(line);
	return r;
}

static int del(unsigned n, size_t *removed, const char **why)
{
	char id[AUTHKEYS_ID_LEN + 1], blob[80];
	int r;

	id_for(n, id);
	blob_for(n, blob);
	*why = NULL;
	alarm(OP_ALARM);
	r = authkeys_remove(&ctx, user, id, blob, removed, why);
	alarm(0);
	return r;
}

static int list(struct authkeys_entry **entries, size_t *n, const char **why)
{
	int r;

	*why = NULL;
	alarm(OP_ALARM);
	r = authkeys_list_managed(&ctx, user, entries, n, why);
	alarm(0);
	return r;
}

/* Our temporary files in ~/.ssh (there must be none after any operation). */
static int count_temps(void)
{
	DIR *dir = opendir(ssh_dir);
	struct dirent *e;
	int n = 0;

	if (!dir)
		return 0;
	while ((e = readdir(dir)))
		if (strncmp(e->d_name, TEMP_PREFIX, strlen(TEMP_PREFIX)) == 0)
			n++;
	closedir(dir);
	return n;
}

static void ak_stat(struct stat *st)
{
	if (stat(ak, st) < 0)
		die("stat authorized_keys");
}

/* ---- golden round trips ---- */

static void test_golden_round_trip(void)
{
	const char *why;
	char *a = line_for(1), *b = line_for(2);
	char *g_a = join(golden, "\n", a, NULL);
	char *g_b = join(golden, "\n", b, NULL);
	char *g_ab = join(golden, "\n", a, "\n", b, NULL);
	size_t removed = 0;
	struct stat st;

	reset_home();
	make_ssh(0700);
	put_file(ak, golden, strlen(golden), 0600, user->uid);

	/* add then remove: our line only, then the same bytes */
	CHECK_INT(add(1, &why), 0);
	CHECK_FILE(ak, g_a);
	CHECK_INT(del(1, &removed, &why), 0);
	CHECK_INT(removed, 1);
	CHECK_FILE(ak, golden);

	/* two, removed first-in first-out */
	CHECK_INT(add(1, &why), 0);
	CHECK_INT(add(2, &why), 0);
	CHECK_FILE(ak, g_ab);
	CHECK_INT(del(1, &removed, &why), 0);
	CHECK_FILE(ak, g_b);
	CHECK_INT(del(2, &removed, &why), 0);
	CHECK_FILE(ak, golden);

	/* two, removed last-in first-out */
	CHECK_INT(add(1, &why), 0);
	CHECK_INT(add(2, &why), 0);
	CHECK_INT(del(2, &removed, &why), 0);
	CHECK_FILE(ak, g_a);
	CHECK_INT(del(1, &removed, &why), 0);
	CHECK_FILE(ak, golden);

	ak_stat(&st);
	CHECK_INT(st.st_mode & 07777, 0600);
	CHECK_INT(st.st_uid, user->uid);
	CHECK_INT(st.st_nlink, 1);
	CHECK_INT(count_temps(), 0);
	free(a);
	free(b);
	free(g_a);
	free(g_b);
	free(g_ab);
}

/* A file that ends in a newline gets line + "\n"; its mode is kept. */
static void test_final_newline(void)
{
	const char *why;
	char *a = line_for(1);
	char *g = join(golden, "\r\n", NULL);
	char *g_a = join(g, a, "\n", NULL);
	size_t removed = 0;
	struct stat st;

	reset_home();
	make_ssh(0700);
	put_file(ak, g, strlen(g), 0640, user->uid);
	CHECK_INT(add(1, &why), 0);
	CHECK_FILE(ak, g_a);
	ak_stat(&st);
	CHECK_INT(st.st_mode & 07777, 0640);
	CHECK_INT(del(1, &removed, &why), 0);
	CHECK_FILE(ak, g);

	/* an empty file */
	put_file(ak, "", 0, 0600, user->uid);
	CHECK_INT(add(1, &why), 0);
	free(g_a);
	g_a = join(a, "\n", NULL);
	CHECK_FILE(ak, g_a);
	CHECK_INT(del(1, &removed, &why), 0);
	CHECK_FILE(ak, "");
	free(a);
	free(g);
	free(g_a);
}

/* No ~/.ssh at all: created 0700, the file 0600, both the account's. */
static void test_create(void)
{
	struct authkeys_entry *entries = NULL;
	const char *why;
	char *a = line_for(7), *want = join(a, "\n", NULL);
	size_t n = 1, removed = 1;
	struct stat st;

	reset_home();
	/* nothing there: remove and list see an empty file */
	CHECK_INT(del(7, &removed, &why), 0);
	CHECK_INT(removed, 0);
	CHECK_INT(list(&entries, &n, &why), 0);
	CHECK_INT(n, 0);
	CHECK(access(ssh_dir, F_OK) < 0 && errno == ENOENT);

	CHECK_INT(add(7, &why), 0);
	CHECK(stat(ssh_dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	      (st.st_mode & 07777) == 0700 && st.st_uid == user->uid &&
	      st.st_gid == user->gid);
	ak_stat(&st);
	CHECK_INT(st.st_mode & 07777, 0600);
	CHECK_INT(st.st_uid, user->uid);
	CHECK_INT(st.st_gid, user->gid);
	CHECK_FILE(ak, want);

	/* the file exists now: remove leaves it empty, not gone */
	CHECK_INT(del(7, &removed, &why), 0);
	CHECK_INT(removed, 1);
	CHECK_FILE(ak, "");
	free(a);
	free(want);
}

/* ---- matching: marker and blob, never a prefix ---- */

static void test_matching(void)
{
	char id1[AUTHKEYS_ID_LEN + 1], blob1[80], blob2[80], blob3[80];
	const char *why;
	char *a = line_for(1), *content, *foreign_same_id, *prefix_lookalike;
	size_t removed = 9;
	struct stat before, after;

	id_for(1, id1);
	blob_for(1, blob1);
	blob_for(2, blob2);
	blob_for(3, blob3);
	/* the same id with another key, and our key with a longer marker:
	 * neither is ours to remove */
	foreign_same_id = join("ssh-ed25519 ", blob2, " sshlease:", id1, NULL);
	prefix_lookalike = join("ssh-ed25519 ", blob1, " sshlease:", id1, "ff", NULL);
	content = join(foreign_same_id, "\n", prefix_lookalike, "\n", a, "\n", NULL);

	reset_home();
	make_ssh(0700);
	put_file(ak, content, strlen(content), 0600, user->uid);

	/* a blob no line with this marker has: nothing removed and nothing
	 * written (same inode) */
	ak_stat(&before);
	CHECK_INT(authkeys_remove(&ctx, user, id1, blob3, &removed, &why), 0);
	CHECK_INT(removed, 0);
	ak_stat(&after);
	CHECK_INT(after.st_ino, before.st_ino);
	CHECK_FILE(ak, content);

	CHECK_INT(del(1, &removed, &why), 0);
	CHECK_INT(removed, 1);
	free(content);
	content = join(foreign_same_id, "\n", prefix_lookalike, "\n", NULL);
	CHECK_FILE(ak, content);

	/* the foreign line carries both this marker and its own key: it is
	 * what authkeys_remove(id1, blob2) means */
	CHECK_INT(authkeys_remove(&ctx, user, id1, blob2, &removed, &why), 0);
	CHECK_INT(removed, 1);
	free(content);
	content = join(prefix_lookalike, "\n", NULL);
	CHECK_FILE(ak, content);

	/* every line with both is removed */
	free(content);
	content = join(a, "\n# between\n", a, "\r\n", NULL);
	put_file(ak, content, strlen(content), 0600, user->uid);
	CHECK_INT(del(1, &removed, &why), 0);
	CHECK_INT(removed, 2);
	CHECK_FILE(ak, "# between\n");

	/* refused arguments */
	CHECK_INT(authkeys_remove(&ctx, user, "ABCDEF012345", blob1, &removed, &why),
		  SL_REFUSED);
	CHECK_INT(authkeys_remove(&ctx, user, id1, "AAAA\"x", &removed, &why),
		  SL_REFUSED);
	CHECK_INT(authkeys_remove(&ctx, user, id1, "AA AA", &removed, &why),
		  SL_REFUSED);
	free(a);
	free(content);
	free(foreign_same_id);
	free(prefix_lookalike);
}

static void test_duplicates(void)
{
	struct authkeys_line_spec spec = {
		.key_type = "ssh-ed25519", .deadline = deadline_utc,
		.expiry = AUTHKEYS_EXPIRY_UTC, .mode = AUTHKEYS_MODE_SHELL,
	};
	char id9[AUTHKEYS_ID_LEN + 1], blob9[80];
	const char *why;
	char *a = line_for(1), *g_a = join(golden, "\n", a, NULL), *line = NULL;

	reset_home();
	make_ssh(0700);
	put_file(ak, golden, strlen(golden), 0600, user->uid);
	CHECK_INT(add(1, &why), 0);
	CHECK_INT(add(1, &why), SL_EXISTS);
	CHECK_STR(why, WHY_EXISTS_KEY);
	CHECK_FILE(ak, g_a);

	/* the account's own key, with another grant id */
	id_for(9, id9);
	spec.id = id9;
	spec.blob_base64 = GOLDEN_OWN_BLOB;
	CHECK_INT(authkeys_format_line(&spec, &line, &why), 0);
	CHECK_INT(authkeys_add(&ctx, user, line, &why), SL_EXISTS);
	CHECK_STR(why, WHY_EXISTS_KEY);
	free(line);
	line = NULL;

	/* grant 1's id with another key */
	id_for(1, id9);
	blob_for(9, blob9);
	spec.blob_base64 = blob9;
	CHECK_INT(authkeys_format_line(&spec, &line, &why), 0);
	CHECK_INT(authkeys_add(&ctx, user, line, &why), SL_EXISTS);
	CHECK_STR(why, WHY_EXISTS_ID);
	CHECK_FILE(ak, g_a);
	free(line);

	/* not managed lines */
	CHECK_INT(authkeys_add(&ctx, user, "ssh-ed25519 AAAAC3Nz comment", &why),
		  SL_REFUSED);
	CHECK_STR(why, "not a managed key line");
	CHECK_INT(authkeys_add(&ctx, user,
			       "ssh-ed25519 AAAAC3Nz sshlease:000000000001\nssh-rsa AAAA x",
			       &why),
		  SL_REFUSED);
	CHECK_FILE(ak, g_a);
	free(a);
	free(g_a);
}

/* ---- replace: a new deadline in place, in one edit ---- */

static int replace(const char *line, size_t *replaced, const char **why)
{
	int r;

	*why = NULL;
	alarm(OP_ALARM);
	r = authkeys_replace(&ctx, user, line, replaced, why);
	alarm(0);
	return r;
}

static void test_replace(void)
{
	char *a = line_for(1), *b = line_for(2), *a2 = line_at(1, deadline_utc + 86400);
	char *c = line_for(3), *content, *want;
	const char *why;
	size_t replaced = 9;
	struct stat before, after;

	/* nothing there: nothing created */
	reset_home();
	CHECK_INT(replace(a2, &replaced, &why), 0);
	CHECK_INT(replaced, 0);
	CHECK(access(ssh_dir, F_OK) < 0);

	/* in the middle, keeping its place and every other byte */
	make_ssh(0700);
	content = join(golden, "\n", a, "\n", b, NULL);
	put_file(ak, content, strlen(content), 0600, user->uid);
	CHECK_INT(replace(a2, &replaced, &why), 0);
	CHECK_INT(replaced, 1);
	want = join(golden, "\n", a2, "\n", b, NULL);
	CHECK_FILE(ak, want);
	free(want);
	free(content);

	/* not there: nothing written, not even the same bytes */
	ak_stat(&before);
	CHECK_INT(replace(c, &replaced, &why), 0);
	CHECK_INT(replaced, 0);
	ak_stat(&after);
	CHECK_INT(after.st_ino, before.st_ino);

	/* a CRLF line keeps its CRLF; a second copy goes, and when it was
	 * the last line without newline the file keeps having none */
	content = join("x\r\n", a, "\r\n# c\n", a, NULL);
	put_file(ak, content, strlen(content), 0600, user->uid);
	CHECK_INT(replace(a2, &replaced, &why), 0);
	CHECK_INT(replaced, 2);
	want = join("x\r\n", a2, "\r\n# c", NULL);
	CHECK_FILE(ak, want);
	free(want);
	free(content);

	/* the last line, without newline */
	content = join(golden, "\n", a, NULL);
	put_file(ak, content, strlen(content), 0600, user->uid);
	CHECK_INT(replace(a2, &replaced, &why), 0);
	want = join(golden, "\n", a2, NULL);
	CHECK_FILE(ak, want);
	free(want);
	free(content);

	CHECK_INT(replace("ssh-ed25519 AAAA not-a-marker", &replaced, &why), SL_REFUSED);
	CHECK_STR(why, "not a managed key line");
	CHECK_INT(count_temps(), 0);
	free(a);
	free(a2);
	free(b);
	free(c);
}

/* ---- list ---- */

static void test_list(void)
{
	struct authkeys_entry *entries = NULL;
	struct authkeys_line_spec spec = {
		.key_type = "sk-ssh-ed25519@openssh.com", .expiry = AUTHKEYS_EXPIRY_UTC,
		.mode = AUTHKEYS_MODE_SFTP, .from = "192.0.2.0/24,2001:db8::/32",
	};
	char id[AUTHKEYS_ID_LEN + 1], blob[80];
	const char *why;
	char *line = NULL, *content;
	size_t n = 0;

	reset_home();
	make_ssh(0700);
	/* look-alikes that are not managed lines */
	content = join(golden, "\n",
		       "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIx sshlease:ABCDEF012345\n",
		       "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIy sshlease:0123456789a\n",
		       "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIz sshlease:0123456789abc\n",
		       NULL);
	put_file(ak, content, strlen(content), 0600, user->uid);
	CHECK_INT(list(&entries, &n, &why), 0);
	CHECK_INT(n, 0);
	authkeys_entries_free(entries, n);

	CHECK_INT(add(3, &why), 0);
	id_for(4, id);
	blob_for(4, blob);
	spec.id = id;
	spec.blob_base64 = blob;
	spec.deadline = deadline_utc + 3600;
	CHECK_INT(authkeys_format_line(&spec, &line, &why), 0);
	CHECK_INT(authkeys_add(&ctx, user, line, &why), 0);
	free(line);
	line = NULL;
	spec.expiry = AUTHKEYS_EXPIRY_NONE;
	id_for(5, id);
	blob_for(5, blob);
	CHECK_INT(authkeys_format_line(&spec, &line, &why), 0);
	CHECK_INT(authkeys_add(&ctx, user, line, &why), 0);
	free(line);
	line = NULL;
	/* local expiry-time, read back the way sshd reads it */
	setenv("TZ", "Europe/Paris", 1);
	tzset();
	spec.expiry = AUTHKEYS_EXPIRY_LOCAL;
	spec.deadline = 1782907200; /* 2026-07-01T12:00:00Z */
	id_for(6, id);
	blob_for(6, blob);
	CHECK_INT(authkeys_format_line(&spec, &line, &why), 0);
	CHECK_INT(authkeys_add(&ctx, user, line, &why), 0);
	free(line);

	entries = NULL;
	CHECK_INT(list(&entries, &n, &why), 0);
	unsetenv("TZ");
	tzset();
	CHECK_INT(n, 4);
	if (n == 4) {
		blob_for(3, blob);
		CHECK_STR(entries[0].id, "000000000003");
		CHECK_STR(entries[0].key_type, "ssh-ed25519");
		CHECK_STR(entries[0].blob_base64, blob);
		CHECK_INT(entries[0].expiry, deadline_utc);
		blob_for(4, blob);
		CHECK_STR(entries[1].id, "000000000004");
		CHECK_STR(entries[1].key_type, "sk-ssh-ed25519@openssh.com");
		CHECK_STR(entries[1].blob_base64, blob);
		CHECK_INT(entries[1].expiry, deadline_utc + 3600);
		CHECK_STR(entries[2].id, "000000000005");
		CHECK_INT(entries[2].expiry, 0);
		CHECK_STR(entries[3].id, "000000000006");
		CHECK_INT(entries[3].expiry, 1782907200);
	}
	authkeys_entries_free(entries, n);
	authkeys_entries_free(NULL, 0);
	free(content);
}

/* ---- the attack matrix ---- */

struct snapshot {
	struct stat st;
	char *bytes;
	size_t len;
};

static void snap(const char *path, struct snapshot *s)
{
	if (lstat(path, &s->st) < 0)
		die(path);
	s->bytes = slurp(path, &s->len);
	if (!s->bytes)
		die(path);
}

static bool snap_same(const char *path, struct snapshot *s)
{
	struct snapshot now;
	bool same;

	snap(path, &now);
	same = now.len == s->len && memcmp(now.bytes, s->bytes, s->len) == 0 &&
	       now.st.st_ino == s->st.st_ino && now.st.st_mode == s->st.st_mode &&
	       now.st.st_uid == s->st.st_uid && now.st.st_nlink == s->st.st_nlink &&
	       now.st.st_mtim.tv_sec == s->st.st_mtim.tv_sec &&
	       now.st.st_mtim.tv_nsec == s->st.st_mtim.tv_nsec;
	free(now.bytes);
	free(s->bytes);
	return same;
}

static void sym(const char *target, const char *path)
{
	if (symlink(target, path) < 0 || lchown(path, user->uid, user->gid) < 0)
		die(path);
}

static void set_ssh_symlink_root(void) { sym(root_dir, ssh_dir); }
static void set_ssh_symlink_dangling(void) { sym("missing-dir", ssh_dir); }
static void set_ssh_file(void) { put_file(ssh_dir, "x\n", 2, 0600, user->uid); }
static void set_ssh_group(void) { make_ssh(0770); }
static void set_ssh_world(void) { make_ssh(0703); }
static void set_ssh_other(void) { mkdir_as(ssh_dir, 0755, user->uid); if (chown(ssh_dir, NOBODY, NOBODY) < 0) die("chown"); }
static void set_ssh_root(void) { mkdir_as(ssh_dir, 0755, 0); }
static void set_home_group(void) { if (chmod(home, 0770) < 0) die("chmod"); }
static void set_home_world(void) { if (chmod(home, 0757) < 0) die("chmod"); }
static void set_home_other(void) { if (chmod(home, 0755) < 0 || chown(home, NOBODY, NOBODY) < 0) die("chown"); }
static void set_home_root(void) { if (chmod(home, 0755) < 0 || chown(home, 0, 0) < 0) die("chown"); }

static void set_home_symlink(void)
{
	char real[600];

	snprintf(real, sizeof(real), "%s.real", home);
	if (rename(home, real) < 0 || symlink(real, home) < 0)
		die("home symlink");
}

static void set_file_symlink_root(void) { make_ssh(0700); sym(sentinel, ak); }

static void set_file_symlink_dangling(void)
{
	char target[700];

	make_ssh(0700);
	snprintf(target, sizeof(target), "%s/created-through-link", home);
	sym(target, ak);
}

static void set_file_hardlink(void)
{
	make_ssh(0700);
	if (link(sentinel, ak) < 0)
		die("link");
}

static void set_file_fifo(void)
{
	make_ssh(0700);
	if (mkfifo(ak, 0600) < 0 || chown(ak, user->uid, user->gid) < 0)
		die("mkfifo");
}

static void set_file_socket(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	make_ssh(0700);
	if (strlen(ak) >= sizeof(sun.sun_path))
		die("socket path too long");
	memcpy(sun.sun_path, ak, strlen(ak) + 1);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chown(ak, user->uid, user->gid) < 0)
		die("socket");
	close(fd);
}

static void set_file_device(void)
{
	make_ssh(0700);
	if (mknod(ak, S_IFCHR | 0600, makedev(1, 3)) < 0 ||
	    chown(ak, user->uid, user->gid) < 0)
		die("mknod");
}

static void set_file_dir(void) { make_ssh(0700); mkdir_as(ak, 0700, user->uid); }
static void set_file_group(void) { make_ssh(0700); put_file(ak, golden, strlen(golden), 0620, user->uid); }
static void set_file_world(void) { make_ssh(0700); put_file(ak, golden, strlen(golden), 0602, user->uid); }

static void set_file_other(void)
{
	make_ssh(0700);
	put_file(ak, golden, strlen(golden), 0644, user->uid);
	if (chown(ak, NOBODY, NOBODY) < 0)
		die("chown");
}

static void set_file_root(void) { make_ssh(0700); put_file(ak, golden, strlen(golden), 0644, 0); }

static void set_file_huge(void)
{
	size_t len = AUTHKEYS_FILE_MAX + 1;
	char *big = malloc(len);

	if (!big)
		die("malloc");
	memset(big, '#', len);
	big[len - 1] = '\n';
	make_ssh(0700);
	put_file(ak, big, len, 0600, user->uid);
	free(big);
}

/* Over what a removal reads: sparse, so that it costs no disk. */
static void set_file_huger(void)
{
	int fd;

	make_ssh(0700);
	put_file(ak, "#\n", 2, 0600, user->uid);
	fd = open(ak, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || ftruncate(fd, AUTHKEYS_SHRINK_MAX + 1) < 0 || close(fd) < 0)
		die("ftruncate");
}

enum { ADD = 1, REMOVE = 2, LIST = 4, ALL = 7 };

static const struct attack {
	const char *name;
	void (*setup)(void);
	unsigned refused;   /* operations that must be refused */
	const char *why;
	const char *created; /* a path that must not come to exist, or NULL */
} attacks[] = {
	{ "home is a symlink", set_home_symlink, ALL, WHY_HOME_SYMLINK, NULL },
	{ "home group-writable", set_home_group, ALL, WHY_HOME_MODE, NULL },
	{ "home world-writable", set_home_world, ALL, WHY_HOME_MODE, NULL },
	{ "home owned by another account", set_home_other, ALL, WHY_HOME_OWNER, NULL },
	{ "home root's, no ~/.ssh", set_home_root, ADD, WHY_SSH_CREATE, NULL },
	{ "~/.ssh symlink to a root directory", set_ssh_symlink_root, ALL, WHY_SSH_SYMLINK, NULL },
	{ "~/.ssh dangling symlink", set_ssh_symlink_dangling, ALL, WHY_SSH_SYMLINK, "missing-dir" },
	{ "~/.ssh is a file", set_ssh_file, ALL, WHY_SSH_NOTDIR, NULL },
	{ "~/.ssh group-writable", set_ssh_group, ALL, WHY_SSH_MODE, NULL },
	{ "~/.ssh world-writable", set_ssh_world, ALL, WHY_SSH_MODE, NULL },
	{ "~/.ssh owned by another account", set_ssh_other, ALL, WHY_SSH_OWNER, NULL },
	{ "~/.ssh root's and closed", set_ssh_root, ADD, WHY_SSH_WRITE, NULL },
	{ "authorized_keys symlink to a root file", set_file_symlink_root, ALL, WHY_FILE_SYMLINK, NULL },
	{ "authorized_keys dangling symlink", set_file_symlink_dangling, ALL, WHY_FILE_SYMLINK, "created-through-link" },
	{ "authorized_keys hard link to a root file", set_file_hardlink, ALL, WHY_FILE_LINKS, NULL },
	{ "authorized_keys is a FIFO", set_file_fifo, ALL, WHY_FILE_NOTREG, NULL },
	{ "authorized_keys is a socket", set_file_socket, ALL, WHY_FILE_NOTREG, NULL },
	{ "authorized_keys is a device", set_file_device, ALL, WHY_FILE_NOTREG, NULL },
	{ "authorized_keys is a directory", set_file_dir, ALL, WHY_FILE_DIR, NULL },
	{ "authorized_keys group-writable", set_file_group, ALL, WHY_FILE_MODE, NULL },
	{ "authorized_keys world-writable", set_file_world, ALL, WHY_FILE_MODE, NULL },
	{ "authorized_keys owned by another account", set_file_other, ALL, WHY_FILE_OWNER, NULL },
	{ "authorized_keys owned by root", set_file_root, ADD, WHY_FILE_ROOT, NULL },
	{ "authorized_keys over 1 MiB", set_file_huge, ADD | LIST, WHY_FILE_SIZE, NULL },
	{ "authorized_keys over 64 MiB", set_file_huger, ALL, WHY_FILE_SIZE, NULL },
};

/*
 * An account that grows its own file past AUTHKEYS_FILE_MAX cannot keep a
 * grant's line in it: a removal reads up to AUTHKEYS_SHRINK_MAX, takes the
 * line out and keeps every other byte; an add is still refused.
 */
static void test_remove_from_big_file(void)
{
	size_t big_len = 3 * AUTHKEYS_FILE_MAX, removed = 0;
	char *line = line_for(1), *big = malloc(big_len + 1), *want;
	const char *why;

	if (!big)
		die("malloc");
	for (size_t i = 0; i < big_len; i += 64) {
		memset(big + i, '#', 63);
		big[i + 63] = '\n';
	}
	big[big_len] = '\0';
	reset_home();
	make_ssh(0700);
	want = join(big, line, "\n", big, NULL);
	put_file(ak, want, strlen(want), 0600, user->uid);
	CHECK_INT(add(2, &why), SL_REFUSED);
	CHECK_STR(why, WHY_FILE_SIZE);
	CHECK_INT(del(1, &removed, &why), 0);
	CHECK_INT(removed, 1);
	free(want);
	want = join(big, big, NULL);
	CHECK_FILE(ak, want);
	CHECK_INT(count_temps(), 0);
	free(want);
	free(big);
	free(line);
	reset_home();
}

static void test_attacks(void)
{
	char root_ak[700];

	snprintf(root_ak, sizeof(root_ak), "%s/authorized_keys", root_dir);
	for (size_t i = 0; i < SL_ARRAY_SIZE(attacks); i++) {
		const struct attack *t = &attacks[i];
		struct snapshot s1, s2, s3;
		bool ak_exists;

		reset_home();
		t->setup();
		/* after setup: a hard link raises the sentinel's link count */
		snap(sentinel, &s1);
		snap(root_ak, &s2);
		ak_exists = lstat(ak, &s3.st) == 0 && S_ISREG(s3.st.st_mode);
		if (ak_exists)
			snap(ak, &s3);

		for (unsigned op = ADD; op <= LIST; op <<= 1) {
			struct authkeys_entry *entries = NULL;
			const char *why = NULL;
			size_t n = 0;
			int r;

			if (op == ADD)
				r = add(1, &why);
			else if (op == REMOVE)
				r = del(1, &n, &why);
			else
				r = list(&entries, &n, &why);
			authkeys_entries_free(entries, n);
			if (t->refused & op) {
				CHECK_MSG(r == SL_REFUSED, "%s, op %u: r = %d", t->name, op, r);
				CHECK_MSG(why && strcmp(why, t->why) == 0,
					  "%s, op %u: why = %s", t->name, op,
					  why ? why : "(null)");
			} else {
				CHECK_MSG(r == 0, "%s, op %u: r = %d (%s)", t->name, op, r,
					  why ? why : "");
			}
		}
		CHECK_MSG(snap_same(sentinel, &s1), "%s: the sentinel changed", t->name);
		CHECK_MSG(snap_same(root_ak, &s2), "%s: root's authorized_keys changed",
			  t->name);
		if (ak_exists)
			CHECK_MSG(snap_same(ak, &s3), "%s: authorized_keys changed", t->name);
		if (t->created) {
			char path[700];

			snprintf(path, sizeof(path), "%s/%s", home, t->created);
			CHECK_MSG(access(path, F_OK) < 0, "%s: %s was created", t->name, path);
		}
		CHECK_MSG(count_temps() == 0, "%s: temporary files left", t->name);
	}
	reset_home();
}

/* ---- the child process ---- */

static int probe_fd = -1;
static int hook_mode;
enum { HOOK_NONE, HOOK_APPEND_ONCE, HOOK_APPEND_ALWAYS, HOOK_SWAP_INODE,
       HOOK_SAME_SIZE, HOOK_CREATE, HOOK_DIE, HOOK_PROBE, HOOK_STOP, HOOK_STATUS };

static void hook_append(int ssh_fd, unsigned attempt)
{
	char text[64];
	int fd = openat(ssh_fd, "authorized_keys", O_WRONLY | O_APPEND | O_NOFOLLOW);
	int len = snprintf(text, sizeof(text), "# foreign writer %u\n", attempt);

	if (fd >= 0) {
		if (write(fd, text, (size_t)len) != len)
			_exit(3);
		close(fd);
	}
}

/* Plays the concurrent writer (or a killer) inside the engine's child. */
static void hook(int ssh_fd, unsigned attempt, void *arg)
{
	switch (hook_mode) {
	case HOOK_APPEND_ONCE:
		if (attempt == 0)
			hook_append(ssh_fd, attempt);
		break;
	case HOOK_APPEND_ALWAYS:
		hook_append(ssh_fd, attempt);
		break;
	case HOOK_SWAP_INODE:
		/* same bytes, same times, new inode */
		if (attempt == 0) {
			struct stat st;
			size_t len;
			char *bytes = slurp(ak, &len);
			int fd = openat(ssh_fd, "swap", O_WRONLY | O_CREAT | O_EXCL, 0600);

			if (!bytes || fd < 0 || stat(ak, &st) < 0 ||
			    write(fd, bytes, len) != (ssize_t)len ||
			    futimens(fd, (struct timespec[]){ st.st_atim, st.st_mtim }) < 0 ||
			    close(fd) < 0 ||
			    renameat(ssh_fd, "swap", ssh_fd, "authorized_keys") < 0)
				_exit(3);
			free(bytes);
		}
		break;
	case HOOK_SAME_SIZE:
		/* one byte changed in place, mtime put back */
		if (attempt == 0) {
			struct stat st;
			int fd = openat(ssh_fd, "authorized_keys", O_WRONLY);

			if (fd < 0 || fstat(fd, &st) < 0 || pwrite(fd, "!", 1, 0) != 1 ||
			    futimens(fd, (struct timespec[]){ st.st_atim, st.st_mtim }) < 0)
				_exit(3);
			close(fd);
		}
		break;
	case HOOK_CREATE:
		if (attempt == 0) {
			int fd = openat(ssh_fd, "authorized_keys",
					O_WRONLY | O_CREAT | O_EXCL, 0600);

			if (fd < 0 || write(fd, "# made meanwhile\n", 17) != 17)
				_exit(3);
			close(fd);
		}
		break;
	case HOOK_DIE:
		raise(SIGKILL);
		break;
	case HOOK_STOP:
		/* as a hung file system would hold it */
		raise(SIGSTOP);
		break;
	case HOOK_STATUS: {
		/* the signal, capability and id lines of /proc/self/status */
		FILE *in = fopen("/proc/self/status", "re");
		int fd = openat(ssh_fd, "status", O_WRONLY | O_CREAT | O_EXCL, 0600);
		char text[256];

		if (!in || fd < 0)
			_exit(3);
		while (fgets(text, sizeof(text), in))
			if ((strncmp(text, "Sig", 3) == 0 || strncmp(text, "Cap", 3) == 0 ||
			     strncmp(text, "Uid:", 4) == 0 || strncmp(text, "Gid:", 4) == 0) &&
			    write(fd, text, strlen(text)) != (ssize_t)strlen(text))
				_exit(3);
		fclose(in);
		close(fd);
		break;
	}
	case HOOK_PROBE: {
		struct __user_cap_header_struct cap_header = {
			.version = _LINUX_CAPABILITY_VERSION_3,
		};
		struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3] = { 0 };
		uid_t r, e, s, fs = (uid_t)setfsuid((uid_t)-1);
		gid_t rg, eg, sg, fsg = (gid_t)setfsgid((gid_t)-1), groups[64];
		int ngroups = getgroups(64, groups), fd, root_group = 0, len, has_caps;
		char text[256];

		getresuid(&r, &e, &s);
		getresgid(&rg, &eg, &sg);
		for (int i = 0; i < ngroups; i++)
			root_group |= groups[i] == 0;
		/* Root's ids without a capability: no way back to root's
		 * files (setuid(0) would make the filesystem ids root's, and
		 * setfsuid(0) needs no capability while the real uid is 0),
		 * no capability, no signal to the root daemon. */
		setfsuid(0);
		has_caps = setuid(0) == 0 || setresuid(0, 0, 0) == 0 || setgroups(0, NULL) == 0 ||
			   (uid_t)setfsuid((uid_t)-1) != fs || kill(getppid(), 0) == 0 ||
			   syscall(SYS_capget, &cap_header, caps) < 0 || caps[0].effective ||
			   caps[0].permitted || caps[1].effective || caps[1].permitted ||
			   prctl(PR_CAPBSET_READ, CAP_SETUID, 0, 0, 0) != 0;
		fd = openat(ssh_fd, "probe", O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0)
			_exit(3);
		len = snprintf(text, sizeof(text), "%u %u %u %u %u %u %u %u %d %d %d %d\n",
			       r, e, s, fs, rg, eg, sg, fsg, has_caps, root_group,
			       prctl(PR_GET_DUMPABLE), fcntl(probe_fd, F_GETFD) >= 0);
		if (write(fd, text, (size_t)len) != len)
			_exit(3);
		close(fd);
		break;
	}
	}
}

static void test_compare_and_swap(void)
{
	const char *why;
	char *a = line_for(1), *base = join(golden, "\n", NULL), *want;
	char probe[700];
	size_t len;
	char *text;

	authkeys_set_test_hook(hook, NULL);

	/* a writer slips in once: its line and ours are both there */
	reset_home();
	make_ssh(0700);
	put_file(ak, base, strlen(base), 0600, user->uid);
	hook_mode = HOOK_APPEND_ONCE;
	CHECK_INT(add(1, &why), 0);
	want = join(base, "# foreign writer 0\n", a, "\n", NULL);
	CHECK_FILE(ak, want);
	free(want);
	CHECK_INT(count_temps(), 0);

	/* ... on every attempt: we give up, and keep every foreign byte */
	put_file(ak, base, strlen(base), 0600, user->uid);
	hook_mode = HOOK_APPEND_ALWAYS;
	CHECK_INT(add(1, &why), SL_CHANGED);
	CHECK_STR(why, WHY_CHANGED);
	want = join(base, "# foreign writer 0\n# foreign writer 1\n# foreign writer 2\n"
		    "# foreign writer 3\n# foreign writer 4\n", NULL);
	CHECK_FILE(ak, want);
	free(want);
	CHECK_INT(count_temps(), 0);

	/* a new inode with the same bytes and times is a change too */
	put_file(ak, base, strlen(base), 0600, user->uid);
	hook_mode = HOOK_SWAP_INODE;
	CHECK_INT(add(1, &why), 0);
	want = join(base, a, "\n", NULL);
	CHECK_FILE(ak, want);
	free(want);

	/* same size, same mtime, one byte different: not lost */
	put_file(ak, base, strlen(base), 0600, user->uid);
	hook_mode = HOOK_SAME_SIZE;
	CHECK_INT(add(1, &why), 0);
	want = join("!", base + 1, a, "\n", NULL);
	CHECK_FILE(ak, want);
	free(want);

	/* the file was missing and someone created it meanwhile */
	reset_home();
	hook_mode = HOOK_CREATE;
	CHECK_INT(add(1, &why), 0);
	want = join("# made meanwhile\n", a, "\n", NULL);
	CHECK_FILE(ak, want);
	free(want);

	/* the child is killed before the rename: a failure, nothing changed,
	 * and its temporary file does not block the next run */
	put_file(ak, base, strlen(base), 0600, user->uid);
	hook_mode = HOOK_DIE;
	CHECK_INT(add(1, &why), -EIO);
	CHECK_STR(why, WHY_DIED);
	CHECK_FILE(ak, base);
	CHECK_INT(count_temps(), 1);
	hook_mode = HOOK_NONE;
	CHECK_INT(add(1, &why), 0);
	CHECK_INT(count_temps(), 0);
	want = join(base, a, "\n", NULL);
	CHECK_FILE(ak, want);
	free(want);

	/* what the child is: the account for file access, root's ids with no
	 * capability and no way to one, none of our fds */
	/* a root-only fd of ours, far above what the child opens itself */
	probe_fd = open("/etc/shadow", O_RDONLY | O_CLOEXEC);
	CHECK(probe_fd >= 0 && dup2(probe_fd, 900) == 900);
	close(probe_fd);
	probe_fd = 900;
	put_file(ak, base, strlen(base), 0600, user->uid);
	hook_mode = HOOK_PROBE;
	CHECK_INT(add(1, &why), 0);
	snprintf(probe, sizeof(probe), "%s/probe", ssh_dir);
	text = slurp(probe, &len);
	want = malloc(256);
	snprintf(want, 256, "%u %u %u %u %u %u %u %u 0 0 0 0\n", geteuid(), geteuid(),
		 geteuid(), user->uid, getegid(), getegid(), getegid(), user->gid);
	CHECK_STR(text, want);
	free(text);
	free(want);
	close(probe_fd);

	hook_mode = HOOK_NONE;
	authkeys_set_test_hook(NULL, NULL);
	free(a);
	free(base);
}

/* ---- the child under the account's control ---- */

static void answered_stop(void *arg)
{
	raise(SIGSTOP);
}

/* No child of ours is left: neither a stopped one nor a zombie. */
static bool no_children(void)
{
	return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
}

/* One field ("SigBlk:", "CapPrm:", ...) of the status the child wrote
 * (HOOK_STATUS), as a number; ~0 when it is not there. */
/* Bits of signals 32 and 33 in a /proc status signal mask (bit n-1 is
 * signal n). */
#define GLIBC_RESERVED_SIGNALS ((1ULL << 31) | (1ULL << 32))

static unsigned long long child_status(const char *field)
{
	char path[700], *text, *at;
	size_t len;
	unsigned long long value = ~0ULL;

	snprintf(path, sizeof(path), "%s/status", ssh_dir);
	text = slurp(path, &len);
	if (text && (at = strstr(text, field)))
		value = strtoull(at + strlen(field), NULL, 16);
	free(text);
	return value;
}

/* The index-th id (0 real, 1 effective, 2 saved, 3 filesystem) of a
 * "Uid:" or "Gid:" line of the status the child wrote; -1 when not there. */
static long child_id(const char *field, int index)
{
	char path[700], *text, *at, *end;
	long value = -1;
	size_t len;

	snprintf(path, sizeof(path), "%s/status", ssh_dir);
	text = slurp(path, &len);
	if (text && (at = strstr(text, field))) {
		at += strlen(field);
		for (int i = 0; i <= index; i++, at = end) {
			value = strtol(at, &end, 10);
			if (end == at) {
				value = -1;
				break;
			}
		}
	}
	free(text);
	return value;
}

/* Run add(1) with the status hook on a fresh copy of base; 0 or its
 * return. */
static int add_with_status(const char *base)
{
	char path[700];
	const char *why;

	snprintf(path, sizeof(path), "%s/status", ssh_dir);
	unlink(path);
	put_file(ak, base, strlen(base), 0600, user->uid);
	hook_mode = HOOK_STATUS;
	return add(1, &why);
}

/*
 * The process that acts as the account may still stop (a file system that
 * hangs it, here its own SIGSTOP). Stopped after its answer, the caller must not wait for it (the
 * daemon is single-threaded: one wait would hang it for good); stopped
 * before, the caller gives up after AUTHKEYS_CHILD_TIMEOUT_MS. Each op
 * runs under alarm(OP_ALARM): a hang kills the test.
 */
static void test_child_stopped(void)
{
	char *a = line_for(1), *base = join(golden, "\n", NULL);
	char *want = join(base, a, "\n", NULL);
	const char *why;
	size_t removed = 0;

	reset_home();
	make_ssh(0700);
	put_file(ak, base, strlen(base), 0600, user->uid);

	/* stopped after answering: done, killed, reaped */
	authkeys_set_test_answered_hook(answered_stop, NULL);
	CHECK_INT(add(1, &why), 0);
	CHECK_FILE(ak, want);
	CHECK_INT(del(1, &removed, &why), 0);
	CHECK_INT(removed, 1);
	CHECK_FILE(ak, base);
	authkeys_set_test_answered_hook(NULL, NULL);
	CHECK(no_children());

	/* stopped before answering: a timeout, the file untouched, the
	 * process gone, and the next call works */
	authkeys_set_test_hook(hook, NULL);
	hook_mode = HOOK_STOP;
	CHECK_INT(add(1, &why), -ETIMEDOUT);
	CHECK_STR(why, WHY_TIMEOUT);
	CHECK_FILE(ak, base);
	CHECK(no_children());
	hook_mode = HOOK_NONE;
	CHECK_INT(add(1, &why), 0);
	CHECK_FILE(ak, want);
	CHECK_INT(count_temps(), 0);
	authkeys_set_test_hook(NULL, NULL);

	free(a);
	free(base);
	free(want);
}

/*
 * The child starts clean whatever its parent is like: default signal
 * dispositions and an empty mask (the daemon blocks HUP/TERM/INT and
 * ignores PIPE), and no capability left, even when a keep-caps flag
 * (locked, so the child cannot clear it) made setresuid keep them.
 */
static void test_child_clean(void)
{
	char *base = join(golden, "\n", NULL);
	sigset_t mask, old_mask;
	int status;
	pid_t pid;

	reset_home();
	make_ssh(0700);
	authkeys_set_test_hook(hook, NULL);

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, &old_mask);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	CHECK_INT(add_with_status(base), 0);
	CHECK_INT(child_status("SigBlk:"), 0);
	/* Signals 32 and 33 are glibc's own (thread cancellation, setxid):
	 * no glibc program can change them, and make(1) starts its children
	 * with them ignored, so they are left out. */
	CHECK_INT(child_status("SigIgn:") & ~GLIBC_RESERVED_SIGNALS, 0);
	CHECK_INT(child_status("CapPrm:"), 0);
	CHECK_INT(child_status("CapBnd:"), 0);
	/* The account's for file access alone: its real, effective and saved
	 * ids stay ours, so the account can neither signal nor trace it. */
	for (int i = 0; i < 3; i++) {
		CHECK_INT(child_id("Uid:", i), (long)geteuid());
		CHECK_INT(child_id("Gid:", i), (long)getegid());
	}
	CHECK_INT(child_id("Uid:", 3), (long)user->uid);
	CHECK_INT(child_id("Gid:", 3), (long)user->gid);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	signal(SIGUSR1, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);

	/* In a process of its own: locked securebits cannot be undone. */
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int before = test_failures;

		if (prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS | SECBIT_KEEP_CAPS_LOCKED,
			  0, 0, 0) < 0)
			die("PR_SET_SECUREBITS");
		CHECK_INT(add_with_status(base), 0);
		CHECK_INT(child_status("CapPrm:"), 0);
		CHECK_INT(child_status("CapEff:"), 0);
		CHECK_INT(child_status("CapInh:"), 0);
		CHECK_INT(child_status("CapAmb:"), 0);
		_exit(test_failures != before);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0);

	hook_mode = HOOK_NONE;
	authkeys_set_test_hook(NULL, NULL);
	reset_home();
	free(base);
}

/* ---- many lines out in one edit ---- */

static int del_many(const struct authkeys_entry *entries, size_t n,
		    size_t *removed, size_t *each, const char **why)
{
	int r;

	*why = NULL;
	alarm(OP_ALARM);
	r = authkeys_remove_many(&ctx, user, entries, n, removed, each, why);
	alarm(0);
	return r;
}

/* The entry of grant n (only id and blob matter). */
static struct authkeys_entry entry_of(unsigned n, char blob[80])
{
	struct authkeys_entry e = { .blob_base64 = blob };

	id_for(n, e.id);
	blob_for(n, blob);
	return e;
}

static void test_remove_many(void)
{
	char blobs[8][80], other_blob[80];
	char *l[6], *content, *want, *kept;
	struct authkeys_entry entries[6];
	size_t removed = 0, each[6];
	const char *why;
	struct stat before, after;
	const unsigned n_planted = 20000;
	char *planted;
	size_t used = 0, cap;

	for (unsigned i = 1; i <= 5; i++)
		l[i] = line_for(i);
	reset_home();
	make_ssh(0700);

	/* 1, 3 and 5 of five lines among the account's own (CRLF lines,
	 * no final newline), an absent pair and a pair given twice: one
	 * edit, every other byte kept */
	content = join(golden, "\n", l[1], "\n", l[2], "\r\n", l[3], "\r\n", l[4],
		       "\n", l[5], NULL);
	put_file(ak, content, strlen(content), 0600, user->uid);
	entries[0] = entry_of(1, blobs[0]);
	entries[1] = entry_of(3, blobs[1]);
	entries[2] = entry_of(5, blobs[2]);
	entries[3] = entry_of(99, blobs[3]);
	entries[4] = entry_of(3, blobs[4]);
	/* grant 2's id with another key: not grant 2's line */
	entries[5] = entry_of(2, blobs[5]);
	blob_for(77, other_blob);
	entries[5].blob_base64 = other_blob;
	CHECK_INT(del_many(entries, 6, &removed, each, &why), 0);
	CHECK_INT(removed, 3);
	CHECK_INT(each[0], 1);
	CHECK_INT(each[1], 1);
	CHECK_INT(each[2], 1);
	CHECK_INT(each[3], 0);
	CHECK_INT(each[4], 0);
	CHECK_INT(each[5], 0);
	/* the removed last line had no newline: the one before gives up its */
	kept = join(golden, "\n", l[2], "\r\n", l[4], NULL);
	CHECK_FILE(ak, kept);
	free(content);
	CHECK_INT(count_temps(), 0);

	/* nothing matches: nothing is written (same inode) */
	ak_stat(&before);
	CHECK_INT(del_many(entries, 1, &removed, each, &why), 0);
	CHECK_INT(removed, 0);
	CHECK_INT(each[0], 0);
	ak_stat(&after);
	CHECK_INT(after.st_ino, before.st_ino);
	/* n == 0: nothing at all */
	CHECK_INT(del_many(entries, 0, &removed, NULL, &why), 0);
	CHECK_INT(removed, 0);

	/* refused before anything is read */
	strcpy(entries[1].id, "../etc/pass");
	CHECK_INT(del_many(entries, 2, &removed, each, &why), SL_REFUSED);
	CHECK_STR(why, "the grant id is not 12 lower-case hex digits");
	entries[1] = entry_of(3, blobs[1]);
	entries[1].blob_base64 = "AAAA x";
	CHECK_INT(del_many(entries, 2, &removed, each, &why), SL_REFUSED);
	CHECK_STR(why, "the key is not plain base64");
	entries[1] = entry_of(3, blobs[1]);
	CHECK_INT(del_many(entries, AUTHKEYS_REMOVE_MANY_MAX + 1, &removed, NULL, &why),
		  SL_REFUSED);
	CHECK_STR(why, "too many lines to remove in one edit");
	CHECK_FILE(ak, kept);
	free(kept);

	/* a file full of planted markers: listed and removed in one edit
	 * each, leaving exactly the account's own bytes */
	cap = strlen(golden) + 2 + (size_t)n_planted * 32;
	planted = malloc(cap);
	if (!planted)
		die("malloc");
	used = (size_t)snprintf(planted, cap, "%s\n", golden);
	for (unsigned i = 0; i < n_planted; i++)
		used += (size_t)snprintf(planted + used, cap - used, "a A sshlease:%012x\n", i);
	put_file(ak, planted, used, 0600, user->uid);
	{
		struct authkeys_entry *listed = NULL;
		size_t n = 0;

		CHECK_INT(list(&listed, &n, &why), 0);
		CHECK_INT(n, n_planted);
		CHECK_INT(del_many(listed, n, &removed, NULL, &why), 0);
		CHECK_INT(removed, n_planted);
		authkeys_entries_free(listed, n);
	}
	want = join(golden, "\n", NULL);
	CHECK_FILE(ak, want);
	free(want);
	free(planted);

	/* no ~/.ssh: nothing to remove, nothing created */
	reset_home();
	CHECK_INT(del_many(entries, 3, &removed, each, &why), 0);
	CHECK_INT(removed, 0);
	CHECK(access(ssh_dir, F_OK) < 0);

	for (unsigned i = 1; i <= 5; i++)
		free(l[i]);
}

/* ---- the lock ---- */

static void test_lock(void)
{
	char path[128], *a = line_for(1), *want = join(golden, "\n", a, NULL);
	const char *why;
	int status, fd;
	pid_t pid;
	struct stat st;

	reset_home();
	make_ssh(0700);
	put_file(ak, golden, strlen(golden), 0600, user->uid);

	/* held by someone else: the operation waits for it */
	snprintf(path, sizeof(path), "%s/%u.lock", lock_dir, user->uid);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	CHECK(fd >= 0 && flock(fd, LOCK_EX) == 0);
	pid = fork();
	if (pid == 0) {
		close(fd); /* our copy would hold the lock against ourselves */
		_exit(add(1, &why) == 0 ? 0 : 1);
	}
	usleep(300 * 1000);
	CHECK_INT(waitpid(pid, &status, WNOHANG), 0);
	CHECK_FILE(ak, golden);
	close(fd);
	CHECK_INT(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_FILE(ak, want);

	/* a lock directory that is a symlink is refused; a missing one made */
	{
		char link_dir[128], new_dir[128];
		struct authkeys_ctx saved = ctx;
		size_t removed;

		snprintf(link_dir, sizeof(link_dir), "%s.link", lock_dir);
		snprintf(new_dir, sizeof(new_dir), "%s/sub", lock_dir);
		CHECK(symlink(lock_dir, link_dir) == 0);
		ctx.lock_dir = link_dir;
		CHECK_INT(del(1, &removed, &why), SL_REFUSED);
		CHECK_STR(why, "the lock directory is a symlink or not a directory");
		CHECK_FILE(ak, want);
		unlink(link_dir);
		ctx.lock_dir = new_dir;
		CHECK_INT(del(1, &removed, &why), 0);
		CHECK(stat(new_dir, &st) == 0 && (st.st_mode & 07777) == 0700 &&
		      st.st_uid == 0);
		CHECK_FILE(ak, golden);
		ctx = saved;
	}
	free(a);
	free(want);
}

/* ---- concurrency ---- */

#define WORKERS 8
#define ROUNDS 100 /* two operations each */

static int worker(unsigned w)
{
	int bad = 0;

	for (unsigned j = 0; j < ROUNDS; j++) {
		unsigned n = 1000 * (w + 1) + j;
		const char *why;
		size_t removed = 9;
		int r = add(n, &why);

		if (r != 0) {
			fprintf(stderr, "worker %u: add %u: %d %s\n", w, n, r, why ? why : "");
			bad++;
		}
		/* keep one in four; for those remove a grant that never was */
		r = del(j % 4 ? n : n + 500, &removed, &why);
		if (r != 0 || removed != (j % 4 ? 1u : 0u)) {
			fprintf(stderr, "worker %u: remove %u: %d %zu %s\n", w, n, r,
				removed, why ? why : "");
			bad++;
		}
	}
	return bad > 255 ? 255 : bad;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_concurrency(void)
{
	char *want[WORKERS * ROUNDS / 4], *got[WORKERS * ROUNDS / 4 + 1];
	struct authkeys_entry *entries = NULL;
	size_t nwant = 0, ngot = 0, len, n = 0;
	const char *why;
	pid_t pids[WORKERS];
	char *text, *p;

	reset_home();
	make_ssh(0700);
	put_file(ak, golden, strlen(golden), 0600, user->uid);
	for (unsigned w = 0; w < WORKERS; w++) {
		pids[w] = fork();
		if (pids[w] == 0)
			_exit(worker(w));
	}
	for (unsigned w = 0; w < WORKERS; w++) {
		int status;

		CHECK(waitpid(pids[w], &status, 0) == pids[w] && WIFEXITED(status) &&
		      WEXITSTATUS(status) == 0);
	}
	for (unsigned w = 0; w < WORKERS; w++)
		for (unsigned j = 0; j < ROUNDS; j += 4)
			want[nwant++] = line_for(1000 * (w + 1) + j);

	/* the golden bytes, then exactly the kept lines, in some order */
	text = slurp(ak, &len);
	CHECK(text && len > strlen(golden) &&
	      memcmp(text, golden, strlen(golden)) == 0 && text[strlen(golden)] == '\n');
	if (text && len > strlen(golden)) {
		for (p = text + strlen(golden) + 1; p && *p && ngot <= nwant;) {
			char *nl = strchr(p, '\n');

			if (nl)
				*nl = '\0';
			got[ngot++] = p;
			p = nl ? nl + 1 : NULL;
		}
		CHECK(p == NULL); /* still no final newline */
	}
	CHECK_INT(ngot, nwant);
	if (ngot == nwant) {
		qsort(want, nwant, sizeof(*want), cmp_str);
		qsort(got, ngot, sizeof(*got), cmp_str);
		for (size_t i = 0; i < nwant; i++)
			CHECK_STR(got[i], want[i]);
	}
	CHECK_INT(list(&entries, &n, &why), 0);
	CHECK_INT(n, nwant);
	authkeys_entries_free(entries, n);
	CHECK_INT(count_temps(), 0);
	for (size_t i = 0; i < nwant; i++)
		free(want[i]);
	free(text);
}

/* ---- the line format ---- */

#define BLOB "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"

/* What sshd 7.7-9.0 does with an expiry-time value (misc.c). */
static time_t sshd_reads(const char *digits)
{
	struct tm tm;
	char buf[32];
	char *end;

	memset(&tm, 0, sizeof(tm));
	snprintf(buf, sizeof(buf), "%.4s-%.2s-%.2sT%.2s:%.2s:%.2s", digits,
		 digits + 4, digits + 6, digits + 8, digits + 10, digits + 12);
	end = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end || *end)
		return -1;
	return mktime(&tm);
}

static char *expiry_of(const char *line)
{
	const char *p = strstr(line, "expiry-time=\"");

	return p ? strndup(p + 13, 14) : NULL;
}

static void test_format(void)
{
	struct authkeys_line_spec spec = {
		.id = "0123456789ab", .key_type = "ssh-ed25519", .blob_base64 = BLOB,
		.deadline = deadline_utc, .expiry = AUTHKEYS_EXPIRY_UTC,
		.mode = AUTHKEYS_MODE_SHELL,
	};
	static const struct {
		enum authkeys_mode mode;
		enum authkeys_expiry expiry;
		const char *from, *want;
	} cases[] = {
		{ AUTHKEYS_MODE_SHELL, AUTHKEYS_EXPIRY_UTC, NULL,
		  "restrict,pty,expiry-time=\"20261201170000Z\" ssh-ed25519 " BLOB " sshlease:0123456789ab" },
		{ AUTHKEYS_MODE_SFTP, AUTHKEYS_EXPIRY_UTC, NULL,
		  "restrict,command=\"internal-sftp\",expiry-time=\"20261201170000Z\" ssh-ed25519 " BLOB " sshlease:0123456789ab" },
		{ AUTHKEYS_MODE_SHELL, AUTHKEYS_EXPIRY_UTC, "203.0.113.0/24",
		  "restrict,pty,expiry-time=\"20261201170000Z\",from=\"203.0.113.0/24\" ssh-ed25519 " BLOB " sshlease:0123456789ab" },
		{ AUTHKEYS_MODE_SFTP, AUTHKEYS_EXPIRY_NONE, "192.0.2.1,2001:db8::/32",
		  "restrict,command=\"internal-sftp\",from=\"192.0.2.1,2001:db8::/32\" ssh-ed25519 " BLOB " sshlease:0123456789ab" },
		{ AUTHKEYS_MODE_SHELL, AUTHKEYS_EXPIRY_NONE, NULL,
		  "restrict,pty ssh-ed25519 " BLOB " sshlease:0123456789ab" },
	};
	const char *why;
	char *line = NULL;

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		spec.mode = cases[i].mode;
		spec.expiry = cases[i].expiry;
		spec.from = cases[i].from;
		line = NULL;
		CHECK_INT(authkeys_format_line(&spec, &line, &why), 0);
		CHECK_STR(line, cases[i].want);
		free(line);
	}
	spec.from = NULL;
	spec.mode = AUTHKEYS_MODE_SHELL;

	/* local time as sshd 7.7-9.0 reads it: Paris in summer and winter */
	setenv("TZ", "Europe/Paris", 1);
	tzset();
	spec.expiry = AUTHKEYS_EXPIRY_LOCAL;
	spec.deadline = 1782907200; /* 2026-07-01T12:00:00Z, 14:00 CEST */
	line = NULL;
	CHECK_INT(authkeys_format_line(&spec, &line, &why), 0);
	CHECK_STR(line, "restrict,pty,expiry-time=\"20260701130000\" ssh-ed25519 " BLOB
			" sshlease:0123456789ab");
	free(line);
	spec.deadline = deadline_utc; /* 18:00 CET */
	line = NULL;
	CHECK_INT(authkeys_format_line(&spec, &line, &why), 0);
	CHECK_STR(line, "restrict,pty,expiry-time=\"20261201180000\" ssh-ed25519 " BLOB
			" sshlease:0123456789ab");
	free(line);
	/* every few hours through a year with two DST changes: sshd lands on
	 * the deadline */
	for (time_t t = 1767225600; t < 1767225600 + 366 * 86400; t += 5 * 3600 + 7) {
		char *digits;
		bool ok;

		spec.deadline = t;
		line = NULL;
		if (authkeys_format_line(&spec, &line, &why) != 0) {
			CHECK_MSG(0, "local format of %lld refused: %s", (long long)t, why);
			break;
		}
		digits = expiry_of(line);
		ok = digits && sshd_reads(digits) == t;
		CHECK_MSG(ok, "%lld written as %s", (long long)t, digits ? digits : "?");
		free(digits);
		free(line);
		if (!ok)
			break;
	}
	unsetenv("TZ");
	tzset();

	/* refusals */
	static const struct {
		const char *what, *id, *type, *blob, *from;
	} bad[] = {
		{ "upper-case id", "0123456789AB", "ssh-ed25519", BLOB, NULL },
		{ "short id", "0123456789a", "ssh-ed25519", BLOB, NULL },
		{ "long id", "0123456789abc", "ssh-ed25519", BLOB, NULL },
		{ "non-hex id", "0123456789ag", "ssh-ed25519", BLOB, NULL },
		{ "empty type", "0123456789ab", "", BLOB, NULL },
		{ "space in type", "0123456789ab", "ssh ed25519", BLOB, NULL },
		{ "quote in type", "0123456789ab", "ssh-\"ed25519", BLOB, NULL },
		{ "control in type", "0123456789ab", "ssh-ed\x1b" "25519", BLOB, NULL },
		{ "quote in blob", "0123456789ab", "ssh-ed25519", "AAAA\"BBBB", NULL },
		{ "space in blob", "0123456789ab", "ssh-ed25519", "AAAA BBBB", NULL },
		{ "newline in blob", "0123456789ab", "ssh-ed25519", "AAAA\nBBBB", NULL },
		{ "padding inside blob", "0123456789ab", "ssh-ed25519", "AA=A", NULL },
		{ "empty blob", "0123456789ab", "ssh-ed25519", "", NULL },
		{ "quote in from", "0123456789ab", "ssh-ed25519", BLOB, "10.0.0.1\",command=\"sh" },
		{ "space in from", "0123456789ab", "ssh-ed25519", BLOB, "10.0.0.1, 10.0.0.2" },
		{ "pattern in from", "0123456789ab", "ssh-ed25519", BLOB, "*" },
		{ "empty from", "0123456789ab", "ssh-ed25519", BLOB, "" },
	};
	spec.expiry = AUTHKEYS_EXPIRY_UTC;
	spec.deadline = deadline_utc;
	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
		struct authkeys_line_spec b = spec;
		int r;

		b.id = bad[i].id;
		b.key_type = bad[i].type;
		b.blob_base64 = bad[i].blob;
		b.from = bad[i].from;
		line = NULL;
		why = NULL;
		r = authkeys_format_line(&b, &line, &why);
		CHECK_MSG(r == SL_REFUSED && why && !line, "%s: r = %d", bad[i].what, r);
	}
	{
		struct authkeys_line_spec b = spec;
		char *huge = malloc(AUTHKEYS_LINE_MAX + 1);

		memset(huge, 'A', AUTHKEYS_LINE_MAX);
		huge[AUTHKEYS_LINE_MAX] = '\0';
		b.blob_base64 = huge;
		line = NULL;
		CHECK_INT(authkeys_format_line(&b, &line, &why), SL_REFUSED);
		b = spec;
		b.mode = (enum authkeys_mode)7;
		CHECK_INT(authkeys_format_line(&b, &line, &why), SL_REFUSED);
		b = spec;
		b.expiry = (enum authkeys_expiry)7;
		CHECK_INT(authkeys_format_line(&b, &line, &why), SL_REFUSED);
		b = spec;
		b.deadline = 0;
		CHECK_INT(authkeys_format_line(&b, &line, &why), SL_REFUSED);
		b.deadline = 253402300800; /* year 10000 */
		CHECK_INT(authkeys_format_line(&b, &line, &why), SL_REFUSED);
		free(huge);
	}
}

static void test_new_id(void)
{
	char a[AUTHKEYS_ID_LEN + 1], b[AUTHKEYS_ID_LEN + 1];

	authkeys_new_id(a);
	authkeys_new_id(b);
	CHECK_INT(strlen(a), AUTHKEYS_ID_LEN);
	CHECK_INT(strspn(a, "0123456789abcdef"), AUTHKEYS_ID_LEN);
	CHECK(strcmp(a, b) != 0);
}

static int run_tests(const char *name)
{
	const char *why = NULL;

	if (account_lookup(name, &user, &why) != 0)
		die("account_lookup");
	snprintf(home, sizeof(home), "%s", user->home);
	snprintf(ssh_dir, sizeof(ssh_dir), "%s/.ssh", home);
	snprintf(ak, sizeof(ak), "%s/authorized_keys", ssh_dir);
	snprintf(sentinel, sizeof(sentinel), "%s/sentinel", home);
	snprintf(root_dir, sizeof(root_dir), "%s/rootdir", home);
	{
		struct stat st;

		if (stat(home, &st) < 0)
			die("home");
		home_mode = st.st_mode & 07777;
	}
	ctx.lock_dir = lock_dir;
	deadline_utc = 1796144400; /* 2026-12-01T17:00:00Z */

	TEST(test_format());
	TEST(test_new_id());
	TEST(test_golden_round_trip());
	TEST(test_final_newline());
	TEST(test_create());
	TEST(test_matching());
	TEST(test_duplicates());
	TEST(test_replace());
	TEST(test_list());
	TEST(test_attacks());
	TEST(test_remove_from_big_file());
	TEST(test_compare_and_swap());
	TEST(test_child_stopped());
	TEST(test_child_clean());
	TEST(test_remove_many());
	TEST(test_lock());
	TEST(test_concurrency());
	account_free(user);
	return test_done();
}

int main(void)
{
	unsigned char random[4];
	char name[32];
	int status = 0;
	pid_t pid;

	test_require_root();
	if (sodium_init() < 0 || !mkdtemp(lock_dir))
		return 1;
	randombytes_buf(random, sizeof(random));
	snprintf(name, sizeof(name), "slt%02x%02x%02x%02x", random[0], random[1],
		 random[2], random[3]);
	if (run((char *[]){ "useradd", "-m", "-s", "/bin/sh", "-c", "sshlease test",
			    name, NULL }) != 0) {
		fprintf(stderr, "useradd %s failed\n", name);
		return 1;
	}
	/* The tests run in a child so the account goes whatever happens. */
	pid = fork();
	if (pid == 0)
		exit(run_tests(name));
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		status = 1 << 8;
	if (WIFSIGNALED(status))
		fprintf(stderr, "tests killed by signal %d\n", WTERMSIG(status));
	{
		struct passwd *pw = getpwnam(name);
		char real[600] = "";

		/* a home left as a symlink by an interrupted attack case */
		if (pw) {
			struct stat st;

			snprintf(real, sizeof(real), "%s.real", pw->pw_dir);
			if (lstat(pw->pw_dir, &st) == 0 && S_ISLNK(st.st_mode)) {
				unlink(pw->pw_dir);
				rename(real, pw->pw_dir);
			}
		}
	}
	if (run((char *[]){ "userdel", "-r", name, NULL }) != 0)
		fprintf(stderr, "userdel -r %s failed\n", name);
	run((char *[]){ "rm", "-rf", "--", lock_dir, NULL });
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* The audit trail: line format, chain, head file, and verification of every
 * kind of tampering at the exact line where it shows. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <sodium.h>

#include "audit.h"
#include "log.h"
#include "test.h"

#define DEADLINE 1796144400 /* 2026-12-01T17:00:00Z */
#define NOW 1796000000      /* 2026-11-30T00:53:20Z */
#define N_LINES 50

static char dir[] = "/tmp/sshlease-test-audit-XXXXXX";

struct blob {
	char *data;
	size_t len;
};

static char *path_in(const char *name)
{
	static char buf[8][512];
	static int next;
	char *p = buf[next++ % 8];

	snprintf(p, 512, "%s/%s", dir, name);
	return p;
}

static struct blob slurp(const char *path)
{
	struct blob b = { NULL, 0 };
	FILE *f = fopen(path, "rb");
	long size;

	if (!f)
		return b;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	b.data = malloc((size_t)size + 1);
	b.len = fread(b.data, 1, (size_t)size, f);
	b.data[b.len] = '\0';
	fclose(f);
	return b;
}

static void spill(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f) {
		perror(path);
		exit(1);
	}
	fwrite(data, 1, len, f);
	fclose(f);
}

static void copy_file(const char *from, const char *to)
{
	struct blob b = slurp(from);

	spill(to, b.data, b.len);
	free(b.data);
}

/* Start of line n (1-based) in b, and its length with the newline. */
static size_t line_at(const struct blob *b, unsigned n, size_t *len)
{
	size_t start = 0;
	const char *nl;

	while (--n > 0)
		start = (size_t)((const char *)memchr(b->data + start, '\n', b->len - start) -
				 b->data) + 1;
	nl = memchr(b->data + start, '\n', b->len - start);
	*len = nl ? (size_t)(nl - (b->data + start)) + 1 : b->len - start;
	return start;
}

static struct audit_event sample_event(unsigned i)
{
	static char ids[N_LINES + 10][16];
	struct audit_event e = {
		.event = i % 3 == 0 ? "grant" : i % 3 == 1 ? "revoke" : "expire",
		.id = ids[i % (N_LINES + 10)],
		.user = i % 2 ? "alice" : "bob",
		.key_type = "ssh-ed25519",
		.fingerprint = "SHA256:ZkB6yQxE2n0cY6n0wm0yH8mJm6m4JY5oZbbV8vZ3K3A",
		.ticket = "123456",
		.expires = DEADLINE,
		.mode = "shell",
		.by_uid = 0,
		.by_user = "root",
	};

	snprintf(ids[i % (N_LINES + 10)], 16, "%012x", 0xa0000 + i);
	return e;
}

/* A fresh log of n lines at path; its head beside it. */
static void make_log(const char *path, unsigned n)
{
	struct audit_log *log = NULL;
	const char *why = NULL;
	unsigned i;
	int r;

	r = audit_open(path, &log, &why);
	CHECK_MSG(r == 0, "audit_open: %d %s", r, why ? why : "");
	if (r != 0)
		exit(1);
	for (i = 0; i < n; i++) {
		struct audit_event e = sample_event(i);

		CHECK_INT(audit_append(log, &e, NOW + (time_t)i * 60), 0);
	}
	CHECK_INT(audit_last_seq(log), n);
	audit_close(log);
}

static char master[600], master_head[600];

/* Copy the master log (and head, if with_head) to name, apply edit to the
 * bytes, and verify it. */
static int verify_copy(const char *name, bool with_head, struct blob *edited,
		       unsigned long *lines, unsigned long *bad, const char **why)
{
	char head[600];

	snprintf(head, sizeof(head), "%s.head", path_in(name));
	unlink(head);
	if (with_head)
		copy_file(master_head, head);
	spill(path_in(name), edited->data, edited->len);
	*lines = *bad = 0;
	*why = NULL;
	return audit_verify(path_in(name), lines, bad, why);
}

#define EXPECT_BREAK(r, bad, why, want_line, want_text)                        \
	do {                                                                   \
		CHECK_INT(r, SL_REFUSED);                                      \
		CHECK_INT(bad, want_line);                                     \
		CHECK_MSG(why && strstr(why, want_text), "why = \"%s\"",       \
			  why ? why : "(null)");                               \
	} while (0)

static void test_format(void)
{
	const char *path = path_in("format.jsonl");
	struct audit_log *log = NULL;
	const char *why = NULL;
	unsigned char bin[32];
	char hex[65], expect[1024];
	struct stat st;
	struct blob b;
	size_t len1;
	struct audit_event e = {
		.event = "grant", .id = "k7f3a9c2e4d1", .user = "alice",
		.key_type = "ssh-ed25519", .fingerprint = "SHA256:abc",
		.ticket = "123456", .expires = DEADLINE, .from = "203.0.113.0/24",
		.mode = "sftp", .by_uid = 0, .by_user = "root",
		.reason = NULL, .signer = "vendor",
	};
	struct audit_event start = { .event = "start", .by_uid = -1 };
	struct audit_event odd = { .event = "refuse", .by_uid = 1000,
				   .reason = "bad \x1b[31m\n\"x\" \xc3\xa9",
				   .ticket = "t\xff\x01" };

	umask(022);
	CHECK_INT(audit_open(path, &log, &why), 0);
	CHECK(log != NULL);
	if (!log)
		return;
	CHECK_INT(audit_last_seq(log), 0);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0640);
	CHECK_INT(audit_append(log, &start, NOW), 0);
	CHECK_INT(audit_append(log, &e, NOW + 1), 0);
	CHECK_INT(audit_append(log, &odd, NOW + 2), 0);
	CHECK_INT(audit_append(log, &(struct audit_event){ .by_uid = -1 }, NOW), -EINVAL);
	CHECK_INT(audit_last_seq(log), 3);
	audit_close(log);
	{
		/* A session's members, after signer, before prev. */
		const char *spath = path_in("format-session.jsonl");
		struct audit_log *slog = NULL;
		struct blob sb;

		CHECK_INT(audit_open(spath, &slog, &why), 0);
		if (slog) {
			CHECK_INT(audit_append(slog, &(struct audit_event){
				.event = "session_end", .id = "4cae1e8412a5", .user = "shop",
				.by_uid = -1, .reason = "grant ended",
				.session = &(struct audit_session){
					.who = "not recorded", .address = "203.0.113.7",
					.port = 50000, .pid = 4242, .since = NOW,
					.duration = 60 } }, NOW + 60), 0);
			audit_close(slog);
		}
		sb = slurp(spath);
		snprintf(expect, sizeof(expect),
			 "{\"seq\":1,\"time\":\"2026-11-30T00:54:20Z\",\"event\":\"session_end\","
			 "\"id\":\"4cae1e8412a5\",\"user\":\"shop\",\"reason\":\"grant ended\","
			 "\"address\":\"203.0.113.7\",\"port\":50000,\"pid\":4242,"
			 "\"since\":\"2026-11-30T00:53:20Z\",\"duration\":60,"
			 "\"prev\":\"%064d\"}\n", 0);
		CHECK(sb.data && strcmp(sb.data, expect) == 0);
		free(sb.data);
	}

	b = slurp(path);
	/* Line 1, byte for byte: fixed key order, absent fields left out. */
	snprintf(expect, sizeof(expect),
		 "{\"seq\":1,\"time\":\"2026-11-30T00:53:20Z\",\"event\":\"start\","
		 "\"prev\":\"%064d\"}\n", 0);
	line_at(&b, 1, &len1);
	CHECK_INT(len1, strlen(expect));
	CHECK(strncmp(b.data, expect, len1) == 0);

	/* Line 2: prev is BLAKE2b-256 of line 1 without its newline. */
	crypto_generichash(bin, sizeof(bin), (const unsigned char *)b.data, len1 - 1, NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), bin, sizeof(bin));
	snprintf(expect, sizeof(expect),
		 "{\"seq\":2,\"time\":\"2026-11-30T00:53:21Z\",\"event\":\"grant\","
		 "\"id\":\"k7f3a9c2e4d1\",\"user\":\"alice\",\"key_type\":\"ssh-ed25519\","
		 "\"fingerprint\":\"SHA256:abc\",\"ticket\":\"123456\","
		 "\"expires\":\"2026-12-01T17:00:00Z\",\"from\":\"203.0.113.0/24\","
		 "\"mode\":\"sftp\",\"by_uid\":0,\"by_user\":\"root\",\"signer\":\"vendor\","
		 "\"prev\":\"%s\"}\n", hex);
	CHECK(b.len > len1 + strlen(expect));
	CHECK(strncmp(b.data + len1, expect, strlen(expect)) == 0);

	/* Line 3: control characters and non-ASCII escaped, invalid UTF-8
	 * made safe; the whole log is printable ASCII. */
	CHECK(strstr(b.data, "\"ticket\":\"t??\",") != NULL);
	CHECK(strstr(b.data, "\"reason\":\"bad \\u001B[31m\\n\\\"x\\\" \\u00E9\"") != NULL);
	for (size_t i = 0; i < b.len; i++)
		CHECK_MSG(b.data[i] == '\n' || (b.data[i] >= 0x20 && b.data[i] < 0x7f),
			  "byte %zu is 0x%02x", i, (unsigned char)b.data[i]);
	free(b.data);

	/* The head names line 3. */
	b = slurp(path_in("format.jsonl.head"));
	{
		struct blob log_bytes = slurp(path);
		size_t len3, start3 = line_at(&log_bytes, 3, &len3);

		crypto_generichash(bin, sizeof(bin),
				   (const unsigned char *)log_bytes.data + start3, len3 - 1, NULL, 0);
		sodium_bin2hex(hex, sizeof(hex), bin, sizeof(bin));
		snprintf(expect, sizeof(expect), "3 %s\n", hex);
		CHECK_STR(b.data, expect);
		free(log_bytes.data);
	}
	free(b.data);
}

static void test_intact_and_continue(void)
{
	unsigned long lines = 0, bad = 0;
	struct audit_log *log = NULL;
	const char *why = NULL;
	struct audit_event e = sample_event(7);

	CHECK_INT(audit_verify(master, &lines, &bad, &why), 0);
	CHECK_INT(lines, N_LINES);

	/* Reopening continues seq and chain. */
	copy_file(master, path_in("cont.jsonl"));
	copy_file(master_head, path_in("cont.jsonl.head"));
	CHECK_INT(audit_open(path_in("cont.jsonl"), &log, &why), 0);
	if (log) {
		CHECK_INT(audit_last_seq(log), N_LINES);
		CHECK_INT(audit_append(log, &e, NOW + 100000), 0);
		CHECK_INT(audit_last_seq(log), N_LINES + 1);
		audit_close(log);
	}
	CHECK_INT(audit_verify(path_in("cont.jsonl"), &lines, &bad, &why), 0);
	CHECK_INT(lines, N_LINES + 1);

	/* One writer at a time. */
	CHECK_INT(audit_open(path_in("cont.jsonl"), &log, &why), 0);
	if (log) {
		struct audit_log *second = NULL;

		why = NULL;
		CHECK_INT(audit_open(path_in("cont.jsonl"), &second, &why), SL_REFUSED);
		CHECK(second == NULL);
		CHECK(why && strstr(why, "in use"));
		audit_close(log);
	}

	CHECK_INT(audit_verify(path_in("missing.jsonl"), &lines, &bad, &why), -ENOENT);
}

static void test_tampering(void)
{
	struct blob b = slurp(master), e;
	unsigned long lines, bad;
	const char *why;
	size_t start, len, start2, len2;
	char *p;
	int r;

	CHECK_INT(b.len > 0, 1);

	/* One byte changed inside a value of line 20: still a valid record, so
	 * the break shows at line 21, whose prev no longer matches. */
	e = (struct blob){ malloc(b.len), b.len };
	memcpy(e.data, b.data, b.len);
	start = line_at(&e, 20, &len);
	p = memmem(e.data + start, len, "\"user\":\"", 8);
	CHECK(p != NULL);
	p[8] ^= 0x01;
	r = verify_copy("edit.jsonl", true, &e, &lines, &bad, &why);
	EXPECT_BREAK(r, bad, why, 21, "previous line was changed");
	free(e.data);

	/* One byte that breaks the JSON of line 20: shows at line 20. */
	e = (struct blob){ malloc(b.len), b.len };
	memcpy(e.data, b.data, b.len);
	start = line_at(&e, 20, &len);
	e.data[start] = 'x';
	r = verify_copy("edit-json.jsonl", true, &e, &lines, &bad, &why);
	EXPECT_BREAK(r, bad, why, 20, "not a JSON object");
	free(e.data);

	/* seq of line 20 rewritten (JSON still valid): line 20. */
	e = (struct blob){ malloc(b.len), b.len };
	memcpy(e.data, b.data, b.len);
	start = line_at(&e, 20, &len);
	CHECK(strncmp(e.data + start, "{\"seq\":20,", 10) == 0);
	e.data[start + 8] = '9';
	r = verify_copy("edit-seq.jsonl", true, &e, &lines, &bad, &why);
	EXPECT_BREAK(r, bad, why, 20, "seq out of order");
	free(e.data);

	/* Line 20 deleted: line 21 now stands at 20 with the wrong seq and prev. */
	e = (struct blob){ malloc(b.len), 0 };
	start = line_at(&b, 20, &len);
	memcpy(e.data, b.data, start);
	memcpy(e.data + start, b.data + start + len, b.len - start - len);
	e.len = b.len - len;
	r = verify_copy("delete.jsonl", true, &e, &lines, &bad, &why);
	EXPECT_BREAK(r, bad, why, 20, "deleted, inserted or reordered");
	free(e.data);

	/* Lines 20 and 21 swapped: shows at 20. */
	e = (struct blob){ malloc(b.len), b.len };
	start = line_at(&b, 20, &len);
	start2 = line_at(&b, 21, &len2);
	memcpy(e.data, b.data, start);
	memcpy(e.data + start, b.data + start2, len2);
	memcpy(e.data + start + len2, b.data + start, len);
	memcpy(e.data + start2 + len2, b.data + start2 + len2, b.len - start2 - len2);
	r = verify_copy("swap.jsonl", true, &e, &lines, &bad, &why);
	EXPECT_BREAK(r, bad, why, 20, "deleted, inserted or reordered");
	free(e.data);

	/* Cut in the middle of the last line: that line, 50. */
	start = line_at(&b, N_LINES, &len);
	e = (struct blob){ b.data, start + len / 2 };
	r = verify_copy("cut.jsonl", true, &e, &lines, &bad, &why);
	EXPECT_BREAK(r, bad, why, N_LINES, "no final newline");

	/* Only the final newline lost: still line 50. */
	e = (struct blob){ b.data, b.len - 1 };
	r = verify_copy("cut-nl.jsonl", true, &e, &lines, &bad, &why);
	EXPECT_BREAK(r, bad, why, N_LINES, "no final newline");

	/* The last whole line deleted: the chain is fine, the head is not;
	 * the first missing line is 50. */
	e = (struct blob){ b.data, start };
	r = verify_copy("drop-last.jsonl", true, &e, &lines, &bad, &why);
	EXPECT_BREAK(r, bad, why, N_LINES, "removed from the end");
	CHECK_INT(lines, N_LINES - 1);

	/* ... which, without a head file (an old log), cannot be seen. */
	r = verify_copy("drop-last-nohead.jsonl", false, &e, &lines, &bad, &why);
	CHECK_INT(r, 0);
	CHECK_INT(lines, N_LINES - 1);

	/* A byte of the last line changed: only the head can tell. */
	e = (struct blob){ malloc(b.len), b.len };
	memcpy(e.data, b.data, b.len);
	p = memmem(e.data + start, len, "\"user\":\"", 8);
	p[8] ^= 0x01;
	r = verify_copy("edit-last.jsonl", true, &e, &lines, &bad, &why);
	EXPECT_BREAK(r, bad, why, N_LINES, "differs from the one recorded");
	free(e.data);

	/* Empty file: intact without a head, lines missing with one. */
	e = (struct blob){ b.data, 0 };
	r = verify_copy("empty.jsonl", false, &e, &lines, &bad, &why);
	CHECK_INT(r, 0);
	CHECK_INT(lines, 0);
	r = verify_copy("empty-head.jsonl", true, &e, &lines, &bad, &why);
	EXPECT_BREAK(r, bad, why, 1, "removed from the end");

	/* Garbage. */
	e = (struct blob){ "garbage\nmore garbage\n", 21 };
	r = verify_copy("garbage.jsonl", false, &e, &lines, &bad, &why);
	EXPECT_BREAK(r, bad, why, 1, "not a JSON object");
	e = (struct blob){ "\x7f" "ELF\x02\x01\x01\x00\x00\x00", 10 };
	r = verify_copy("garbage-bin.jsonl", false, &e, &lines, &bad, &why);
	EXPECT_BREAK(r, bad, why, 1, "no final newline");
	e = (struct blob){ "{\"seq\":1}\n", 10 };
	r = verify_copy("no-prev.jsonl", false, &e, &lines, &bad, &why);
	EXPECT_BREAK(r, bad, why, 1, "no valid prev");

	/* A malformed head: the end cannot be checked; reported after the
	 * last line. */
	spill(path_in("badhead.jsonl"), b.data, b.len);
	spill(path_in("badhead.jsonl.head"), "50 xyz\n", 7);
	r = audit_verify(path_in("badhead.jsonl"), &lines, &bad, &why);
	EXPECT_BREAK(r, bad, why, N_LINES + 1, "malformed");

	free(b.data);
}

static void test_open_refusals(void)
{
	struct blob b = slurp(master), head;
	struct audit_log *log = NULL;
	unsigned long lines, bad;
	const char *why;
	size_t start, len;

	/* Incomplete last line: refused, not continued. */
	spill(path_in("o-cut.jsonl"), b.data, b.len - 5);
	why = NULL;
	CHECK_INT(audit_open(path_in("o-cut.jsonl"), &log, &why), SL_REFUSED);
	CHECK(log == NULL);
	CHECK(why && strstr(why, "incomplete line"));

	/* Garbage last line. */
	spill(path_in("o-garbage.jsonl"), "{\"seq\":1,\"time\":\"x\"}\nnot json\n", 31);
	why = NULL;
	CHECK_INT(audit_open(path_in("o-garbage.jsonl"), &log, &why), SL_REFUSED);
	CHECK(why && strstr(why, "damaged"));

	/* Last whole line gone while the head remembers it. */
	start = line_at(&b, N_LINES, &len);
	spill(path_in("o-drop.jsonl"), b.data, start);
	copy_file(master_head, path_in("o-drop.jsonl.head"));
	why = NULL;
	CHECK_INT(audit_open(path_in("o-drop.jsonl"), &log, &why), SL_REFUSED);
	CHECK(why && strstr(why, "lines were removed"));
	head = slurp(path_in("o-drop.jsonl.head"));
	CHECK_INT(head.len, 3 + 64 + 1);
	CHECK(strncmp(head.data, "50 ", 3) == 0); /* evidence kept */
	free(head.data);

	/* Head one line behind (a crash between append and head update):
	 * accepted, repaired, continued. */
	spill(path_in("o-lag.jsonl"), b.data, b.len);
	{
		char text[80];
		unsigned char bin[32];
		char hex[65];
		size_t s49, l49;

		s49 = line_at(&b, N_LINES - 1, &l49);
		crypto_generichash(bin, 32, (const unsigned char *)b.data + s49, l49 - 1, NULL, 0);
		sodium_bin2hex(hex, sizeof(hex), bin, 32);
		snprintf(text, sizeof(text), "%d %s\n", N_LINES - 1, hex);
		spill(path_in("o-lag.jsonl.head"), text, strlen(text));
	}
	CHECK_INT(audit_verify(path_in("o-lag.jsonl"), &lines, &bad, &why), 0);
	why = NULL;
	CHECK_INT(audit_open(path_in("o-lag.jsonl"), &log, &why), 0);
	if (log) {
		struct audit_event e = sample_event(3);

		CHECK_INT(audit_append(log, &e, NOW + 99999), 0);
		audit_close(log);
	}
	CHECK_INT(audit_verify(path_in("o-lag.jsonl"), &lines, &bad, &why), 0);
	CHECK_INT(lines, N_LINES + 1);
	head = slurp(path_in("o-lag.jsonl.head"));
	CHECK(head.data && strncmp(head.data, "51 ", 3) == 0);
	free(head.data);

	/* An old log without head: accepted, head written. */
	spill(path_in("o-old.jsonl"), b.data, b.len);
	CHECK_INT(audit_open(path_in("o-old.jsonl"), &log, &why), 0);
	audit_close(log);
	log = NULL;
	head = slurp(path_in("o-old.jsonl.head"));
	CHECK(head.data && strncmp(head.data, "50 ", 3) == 0);
	free(head.data);

	/* A symlink in place of the log. */
	CHECK_INT(symlink(master, path_in("o-link.jsonl")), 0);
	why = NULL;
	CHECK_INT(audit_open(path_in("o-link.jsonl"), &log, &why), SL_REFUSED);
	CHECK(why && strstr(why, "symbolic link"));

	/* A directory others may write. */
	CHECK_INT(mkdir(path_in("o-open"), 0777), 0);
	CHECK_INT(chmod(path_in("o-open"), 0777), 0);
	why = NULL;
	CHECK_INT(audit_open(path_in("o-open/audit.jsonl"), &log, &why), SL_REFUSED);
	CHECK(why && strstr(why, "directory"));

	/* The log's own directory is created, its parents are not. */
	CHECK_INT(audit_open(path_in("o-new/audit.jsonl"), &log, &why), 0);
	audit_close(log);
	log = NULL;
	CHECK_INT(audit_open(path_in("o-none/sub/audit.jsonl"), &log, &why), -ENOENT);

	free(b.data);
}

/* A write cut short by the file size limit is taken back off the file. */
static void test_short_write(void)
{
	const char *path = path_in("short.jsonl");
	struct blob before, after;
	unsigned long lines, bad;
	const char *why;
	int status = -1;
	pid_t pid;

	make_log(path, 3);
	before = slurp(path);
	pid = fork();
	if (pid == 0) {
		struct audit_log *log = NULL;
		struct audit_event e = sample_event(1);
		struct rlimit lim = { (rlim_t)before.len + 20, RLIM_INFINITY };
		int r;

		signal(SIGXFSZ, SIG_IGN);
		if (audit_open(path, &log, &why) != 0)
			_exit(10);
		setrlimit(RLIMIT_FSIZE, &lim);
		r = audit_append(log, &e, NOW);
		/* The log stays usable for lines that fit... none here. */
		_exit(r == -ENOSPC ? 0 : 11);
	}
	CHECK(pid > 0);
	waitpid(pid, &status, 0);
	CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
	after = slurp(path);
	CHECK_INT(after.len, before.len);
	CHECK(after.len == before.len && memcmp(after.data, before.data, before.len) == 0);
	CHECK_INT(audit_verify(path, &lines, &bad, &why), 0);
	CHECK_INT(lines, 3);
	free(before.data);
	free(after.data);
}

static void test_read(void)
{
	json_t *records = NULL;
	char id7[16];

	snprintf(id7, sizeof(id7), "%012x", 0xa0000 + 7);
	CHECK_INT(audit_read(master, NULL, 0, &records), 0);
	CHECK_INT(json_array_size(records), N_LINES);
	CHECK_INT(json_integer_value(json_object_get(json_array_get(records, 0), "seq")), 1);
	json_decref(records);

	CHECK_INT(audit_read(master, id7, 0, &records), 0);
	CHECK_INT(json_array_size(records), 1);
	CHECK_STR(json_string_value(json_object_get(json_array_get(records, 0), "id")), id7);
	CHECK_INT(json_integer_value(json_object_get(json_array_get(records, 0), "seq")), 8);
	json_decref(records);

	/* Line i (0-based) is stamped NOW + 60 i: since NOW + 60*40 keeps 10. */
	CHECK_INT(audit_read(master, NULL, NOW + 60 * 40, &records), 0);
	CHECK_INT(json_array_size(records), 10);
	CHECK_INT(json_integer_value(json_object_get(json_array_get(records, 0), "seq")), 41);
	json_decref(records);
	CHECK_INT(audit_read(master, NULL, NOW + 60 * 40 + 1, &records), 0);
	CHECK_INT(json_array_size(records), 9);
	json_decref(records);

	CHECK_INT(audit_read(master, id7, NOW + 60 * 40, &records), 0);
	CHECK_INT(json_array_size(records), 0);
	json_decref(records);

	spill(path_in("r-bad.jsonl"), "{\"seq\":1}\nnope\n", 15);
	records = NULL;
	CHECK_INT(audit_read(path_in("r-bad.jsonl"), NULL, 0, &records), -EBADMSG);
	CHECK(records == NULL);
	spill(path_in("r-torn.jsonl"), "{\"seq\":1}\n{\"se", 14);
	CHECK_INT(audit_read(path_in("r-torn.jsonl"), NULL, 0, &records), 0);
	CHECK_INT(json_array_size(records), 1);
	json_decref(records);
	CHECK_INT(audit_read(path_in("r-missing.jsonl"), NULL, 0, &records), -ENOENT);
}

/* A record's size for a page: its serialised length. */
static size_t page_size(const json_t *record)
{
	char *text = json_dumps(record, JSON_COMPACT);
	size_t len = text ? strlen(text) : 0;

	free(text);
	return len;
}

/* Pages read from the end: the newest that fit, oldest first; paging back
 * with before reaches every record once; filters and a torn end as for
 * audit_read. */
static void test_read_page(void)
{
	struct audit_page page = { .budget = 2000, .size = page_size };
	unsigned long long seen = 0, before = 0;
	json_t *records = NULL;
	bool more = false;
	char id7[16];
	int pages = 0;

	do {
		page.before = before;
		CHECK_INT(audit_read_page(master, &page, &records, &more), 0);
		CHECK(json_array_size(records) > 0);
		for (size_t i = 1; i < json_array_size(records); i++)
			CHECK(json_integer_value(json_object_get(json_array_get(records, i), "seq")) ==
			      json_integer_value(json_object_get(json_array_get(records, i - 1), "seq")) + 1);
		seen += json_array_size(records);
		before = (unsigned long long)json_integer_value(json_object_get(json_array_get(records, 0), "seq"));
		json_decref(records);
		pages++;
	} while (more && pages < 100);
	CHECK_INT(seen, N_LINES);
	CHECK_INT(before, 1);
	CHECK(pages > 1);

	snprintf(id7, sizeof(id7), "%012x", 0xa0000 + 7);
	page = (struct audit_page){ .id = id7, .budget = 1 << 20, .size = page_size };
	CHECK_INT(audit_read_page(master, &page, &records, &more), 0);
	CHECK_INT(json_array_size(records), 1);
	CHECK_INT(json_integer_value(json_object_get(json_array_get(records, 0), "seq")), 8);
	CHECK(!more);
	json_decref(records);

	page = (struct audit_page){ .since = NOW + 60 * 40, .budget = 1 << 20, .size = page_size };
	CHECK_INT(audit_read_page(master, &page, &records, &more), 0);
	CHECK_INT(json_array_size(records), 10);
	CHECK_INT(json_integer_value(json_object_get(json_array_get(records, 0), "seq")), 41);
	json_decref(records);

	page = (struct audit_page){ .budget = 1 << 20, .size = page_size };
	CHECK_INT(audit_read_page(path_in("r-torn.jsonl"), &page, &records, &more), 0);
	CHECK_INT(json_array_size(records), 1);
	json_decref(records);
	CHECK_INT(audit_read_page(path_in("r-bad.jsonl"), &page, &records, &more), -EBADMSG);
	CHECK_INT(audit_read_page(path_in("r-missing.jsonl"), &page, &records, &more), -ENOENT);
}

/* The seq of the last line of the file at path, or 0. */
static unsigned long long last_seq_of(const char *path)
{
	struct blob b = slurp(path);
	unsigned long long seq = 0;
	char *last;

	if (b.len > 1) {
		b.data[b.len - 1] = '\0';
		last = strrchr(b.data, '\n');
		last = last ? last + 1 : b.data;
		sscanf(last, "{\"seq\":%llu", &seq);
	}
	free(b.data);
	return seq;
}

/* The chain through rotated files: names, continuity, readers across
 * files, verify naming the file and line of each kind of break, and a
 * rotation cut short by a crash finished at the next open. */
static void test_rotation(void)
{
	char rot[600], log_path[700], aside[720];
	struct audit_log *log = NULL;
	struct audit_check check;
	struct audit_page page = { .budget = 3000, .size = page_size };
	unsigned long long total, before = 0, expect;
	const char *why = NULL;
	json_t *records = NULL;
	char **files = NULL;
	size_t n = 0;
	bool more = false;
	int pages = 0;

	snprintf(rot, sizeof(rot), "%s/rot", dir);
	CHECK_INT(mkdir(rot, 0750), 0);
	snprintf(log_path, sizeof(log_path), "%s/a.jsonl", rot);
	CHECK_INT(audit_open(log_path, &log, &why), 0);
	audit_set_rotate(log, AUDIT_ROTATE_MIN);
	for (unsigned i = 0; i < 60; i++) {
		struct audit_event e = sample_event(i);

		CHECK_INT(audit_append(log, &e, NOW + (time_t)i * 60), 0);
	}
	total = audit_last_seq(log);
	audit_close(log);

	CHECK_INT(audit_files(log_path, &files, &n), 0);
	CHECK_MSG(n >= 4, "%zu files", n);
	CHECK_STR(files[n - 1], log_path);
	for (size_t i = 0; i + 1 < n; i++) {
		char want[800];
		struct blob next = slurp(files[i + 1]);

		/* Named after its last seq; the next file begins with the
		 * record that says where the chain came from. */
		snprintf(want, sizeof(want), "%s.%llu", log_path, last_seq_of(files[i]));
		CHECK_STR(files[i], want);
		CHECK_MSG(next.data && strstr(next.data, "\"event\":\"audit_rotated\"") &&
			  strstr(next.data, "\"event\":\"audit_rotated\"") < strchr(next.data, '\n'),
			  "file %zu does not begin with audit_rotated", i + 1);
		free(next.data);
	}
	/* 60 records plus one audit_rotated per new file. */
	CHECK_INT(total, 60 + (n - 1));
	CHECK_INT(audit_verify_chain(log_path, &check), 0);
	CHECK_INT(check.lines, total);
	CHECK_INT(check.files, n);

	/* Readers go through every file, oldest first. */
	CHECK_INT(audit_read(log_path, NULL, 0, &records), 0);
	CHECK_INT(json_array_size(records), total);
	for (size_t i = 0; i < json_array_size(records); i++)
		CHECK_INT(json_integer_value(json_object_get(json_array_get(records, i), "seq")), i + 1);
	json_decref(records);
	expect = total + 1;
	do {
		page.before = before;
		CHECK_INT(audit_read_page(log_path, &page, &records, &more), 0);
		CHECK(json_array_size(records) > 0);
		for (size_t i = json_array_size(records); i > 0; i--)
			CHECK_INT(json_integer_value(json_object_get(json_array_get(records, i - 1), "seq")),
				  --expect);
		before = (unsigned long long)json_integer_value(
			json_object_get(json_array_get(records, 0), "seq"));
		json_decref(records);
		pages++;
	} while (more && pages < 200);
	CHECK_INT(expect, 1);

	/* The oldest file gone: the chain begins after record 1; a file gone
	 * between two others: the next does not continue the one before. */
	snprintf(aside, sizeof(aside), "%s/aside", dir);
	for (int k = 0; k < 2; k++) {
		CHECK_INT(rename(files[k], aside), 0);
		CHECK_INT(audit_verify_chain(log_path, &check), SL_REFUSED);
		CHECK_STR(check.bad_file, strrchr(files[k + 1], '/') + 1);
		CHECK_INT(check.bad_line, 1);
		CHECK_MSG(check.why && strstr(check.why, k ? "does not continue" : "begins here"),
			  "why = %s", check.why);
		CHECK_INT(rename(aside, files[k]), 0);
	}

	/* A line changed inside a rotated file: the next line says so. */
	{
		struct blob b = slurp(files[1]), edited;
		size_t len, at = line_at(&b, 2, &len);
		char *alice;

		edited.data = malloc(b.len);
		memcpy(edited.data, b.data, b.len);
		edited.len = b.len;
		alice = memmem(edited.data + at, len, "\"ticket\":\"123456\"", 17);
		CHECK(alice != NULL);
		if (alice)
			alice[10] = '9';
		spill(files[1], edited.data, edited.len);
		CHECK_INT(audit_verify_chain(log_path, &check), SL_REFUSED);
		CHECK_STR(check.bad_file, strrchr(files[1], '/') + 1);
		CHECK_INT(check.bad_line, 3);
		spill(files[1], b.data, b.len);
		free(edited.data);
		free(b.data);
	}
	CHECK_INT(audit_verify_chain(log_path, &check), 0);

	/* A crash after the full file moved away, before the new one: the
	 * next open goes on from the moved file. Both the missing file and an
	 * empty one. */
	for (int empty = 0; empty < 2; empty++) {
		char moved[800];
		unsigned long long was = last_seq_of(log_path);

		snprintf(moved, sizeof(moved), "%s.%llu", log_path, was);
		CHECK_INT(rename(log_path, moved), 0);
		if (empty)
			spill(log_path, "", 0);
		log = NULL;
		CHECK_INT(audit_open(log_path, &log, &why), 0);
		CHECK_INT(audit_last_seq(log), was + 1);
		audit_close(log);
		CHECK_INT(audit_verify_chain(log_path, &check), 0);
		CHECK_INT(check.lines, was + 1);
	}

	/* An empty log whose head names a line that no rotated file ends
	 * with: lines were lost, refused as before. */
	{
		struct blob b = slurp(log_path);
		char moved[800];

		snprintf(moved, sizeof(moved), "%s/lost", dir);
		CHECK_INT(rename(log_path, moved), 0);
		log = NULL;
		why = NULL;
		CHECK_INT(audit_open(log_path, &log, &why), SL_REFUSED);
		CHECK_MSG(why && strstr(why, "ends before"), "why = %s", why ? why : "");
		CHECK_INT(audit_verify_chain(log_path, &check), SL_REFUSED);
		spill(log_path, b.data, b.len);
		free(b.data);
		unlink(moved);
	}
	CHECK_INT(audit_verify_chain(log_path, &check), 0);
	audit_files_free(files, n);
}

static void test_sentence(void)
{
	char buf[512], small[24];
	struct audit_event grant = {
		.event = "grant", .id = "k7f3a9c2e4d1", .user = "alice",
		.fingerprint = "SHA256:ZkB6yQxE2n0cY6n0wm0yH8mJm6m4JY5oZbbV8vZ3K3A",
		.ticket = "123456", .expires = DEADLINE, .mode = "shell",
		.by_uid = 0, .by_user = "root",
	};
	struct audit_event revoke = {
		.event = "revoke", .id = "k7f3a9c2e4d1", .user = "alice",
		.reason = "requested", .by_uid = 1001,
	};
	struct audit_event refuse = {
		.event = "refuse", .user = "al\x1b[31mice\n", .reason = "key\ttoo short",
		.by_uid = -1, .from = "203.0.113.0/24", .mode = "sftp", .signer = "vendor",
	};

	audit_sentence(&grant, buf, sizeof(buf));
	CHECK_STR(buf, "granted alice access for key "
		       "SHA256:ZkB6yQxE2n0cY6n0wm0yH8mJm6m4JY5oZbbV8vZ3K3A until "
		       "2026-12-01T17:00:00Z (ticket 123456, grant k7f3a9c2e4d1, by root)");
	audit_sentence(&revoke, buf, sizeof(buf));
	CHECK_STR(buf, "revoked grant k7f3a9c2e4d1 for alice (reason: requested, by uid 1001)");
	audit_sentence(&refuse, buf, sizeof(buf));
	CHECK_STR(buf, "refused access for al?[31mice?: key?too short "
		       "(from 203.0.113.0/24, sftp only, signed by vendor)");
	audit_sentence(&(struct audit_event){ .event = "start", .by_uid = -1 }, buf, sizeof(buf));
	CHECK_STR(buf, "sshleased started");
	audit_sentence(&(struct audit_event){ .event = "expire", .id = "k7f3a9c2e4d1",
					      .user = "bob", .expires = DEADLINE, .by_uid = -1 },
		       buf, sizeof(buf));
	CHECK_STR(buf, "grant k7f3a9c2e4d1 for bob expired at 2026-12-01T17:00:00Z");
	audit_sentence(&(struct audit_event){
		.event = "session_start", .id = "4cae1e8412a5", .user = "shop",
		.fingerprint = "SHA256:abc", .by_uid = -1,
		.session = &(struct audit_session){ .who = "support", .address = "203.0.113.7",
						    .port = 50000, .pid = 4242, .since = NOW,
						    .duration = -1 } }, buf, sizeof(buf));
	CHECK_STR(buf, "support logged in to shop from 203.0.113.7 port 50000 (grant 4cae1e8412a5)");
	audit_sentence(&(struct audit_event){
		.event = "session_end", .id = "4cae1e8412a5", .user = "shop",
		.fingerprint = "SHA256:abc", .by_uid = -1, .reason = "grant ended",
		.session = &(struct audit_session){ .address = "2001:db8::7", .port = 1,
						    .since = NOW, .duration = 312 } },
		       buf, sizeof(buf));
	CHECK_STR(buf, "the login of key SHA256:abc to shop from 2001:db8::7 port 1 ended after 5m 12s "
		       "(grant 4cae1e8412a5, reason: grant ended)");
	audit_sentence(&grant, small, sizeof(small));
	CHECK_INT(strlen(small), sizeof(small) - 1);
	CHECK(strncmp(small, "granted alice access for", sizeof(small) - 1) == 0);
}

/* A sentence is never cut mid-word: a long reason (the daemon's own, some
 * over 200 bytes) stays whole, a long outside string ends at a word with
 * the cut mark; refusals are warnings. */
static void test_sentence_cuts(void)
{
	char reason[301], user[251], buf[2048], cut[32];
	struct audit_event refuse = { .event = "refuse", .by_uid = -1 };
	const char *tail;

	for (size_t i = 0; i < sizeof(reason) - 1; i++)
		reason[i] = i % 10 == 9 ? ' ' : (char)('a' + i % 10);
	reason[sizeof(reason) - 1] = '\0';
	refuse.reason = reason;
	audit_sentence(&refuse, buf, sizeof(buf));
	CHECK(strstr(buf, reason) != NULL);
	CHECK(strstr(buf, LOG_CUT_MARK) == NULL);

	for (size_t i = 0; i < sizeof(user) - 1; i++)
		user[i] = i % 8 == 7 ? ' ' : 'u';
	user[sizeof(user) - 1] = '\0';
	refuse.user = user;
	refuse.reason = "no";
	audit_sentence(&refuse, buf, sizeof(buf));
	tail = strstr(buf, LOG_CUT_MARK ": no");
	CHECK_MSG(tail != NULL, "no cut mark before the reason: %s", buf);
	/* The word before the mark is whole: 7 letters after a space. */
	CHECK(tail && tail - buf > 8 && tail[-8] == ' ' && tail[-1] == 'u');
	CHECK(strlen(buf) < strlen("refused access for ") + 200 + strlen(": no"));

	/* log_safe itself: whole when it fits, else a word's end and the mark. */
	CHECK_STR(log_safe(cut, sizeof(cut), "short text"), "short text");
	CHECK_STR(log_safe(cut, sizeof(cut), "one two three four five six seven"),
		  "one two three four five six...");
	CHECK_STR(log_safe(cut, 8, "abcdefghijkl"), "abcd...");

	CHECK_INT(audit_event_priority("refuse"), LOG_WARNING);
	CHECK_INT(audit_event_priority("line-missing"), LOG_WARNING);
	CHECK_INT(audit_event_priority("grant"), LOG_NOTICE);
	CHECK_INT(audit_event_priority("stop"), LOG_NOTICE);
}

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(master, sizeof(master), "%s/master.jsonl", dir);
	snprintf(master_head, sizeof(master_head), "%s/master.jsonl.head", dir);
	make_log(master, N_LINES);

	TEST(test_format());
	TEST(test_intact_and_continue());
	TEST(test_tampering());
	TEST(test_open_refusals());
	TEST(test_short_write());
	TEST(test_read());
	TEST(test_read_page());
	TEST(test_rotation());
	TEST(test_sentence());
	TEST(test_sentence_cuts());

	if (test_failures == 0)
		nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	else
		fprintf(stderr, "left %s for inspection\n", dir);
	return test_done();
}

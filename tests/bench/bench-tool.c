/*
 * bench-tool: the measuring half of tests/bench/bench-daemon.sh. Each
 * subcommand does one job and prints its figures; bench-daemon.sh sets up
 * the accounts and the daemon around it.
 *
 *   keys N OUT
 *       N fresh ssh-ed25519 public key lines (libsodium key pairs) to OUT.
 *   grant-rtt SSHLEASE SOCKET USER KEYS FROM COUNT AUTHKEYS [SNAPSHOT]
 *       COUNT times: run `sshlease grant --yes --json` with the next key and
 *       time it from spawn to exit; check the line is in AUTHKEYS; revoke it
 *       again (untimed). SNAPSHOT gets AUTHKEYS as it was with one grant.
 *   spawn NAME COUNT PROGRAM ARGS...
 *       Run PROGRAM COUNT times, each must exit 0; spawn to exit, median.
 *   replace SNAPSHOT DIR COUNT
 *       COUNT bare atomic replaces of a file in DIR by SNAPSHOT's bytes:
 *       temp file (O_EXCL), write, fsync, rename, fsync of DIR.
 *   lateness SOCKET USER KEYS FROM COUNT AUTHKEYS
 *       COUNT grants over the socket sharing one deadline; then watch
 *       AUTHKEYS (inotify) and time, per grant, deadline to line gone.
 *   socket-grants SOCKET USER[,USER...] KEYS FROM COUNT DURATION
 *       COUNT grants over the socket, accounts taken in turn.
 *   mass-state STATE_DIR USER[,USER...] KEYS FROM COUNT DEADLINE
 *       With the daemon stopped: add COUNT grants (accounts in turn) to
 *       the state and their managed lines to the accounts' authorized_keys,
 *       as the daemon would have written them, in one write each.
 *
 * With BENCH_RESULTS set, figures are also appended there as "name value"
 * lines (nanoseconds) for the script to combine. Needs root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "account.h"
#include "authkeys.h"
#include "key.h"
#include "protocol.h"
#include "state.h"

extern char **environ;

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL

static void die(const char *fmt, ...) SL_PRINTF(1, 2) __attribute__((noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("bench-tool: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static long long clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (long long)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		die("out of memory");
	return p;
}

static unsigned long long parse_number(const char *text, const char *what,
				       unsigned long long max)
{
	char *end = NULL;
	unsigned long long value;

	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno || end == text || *end || value > max)
		die("%s: not a number up to %llu: %.40s", what, max, text);
	return value;
}

static size_t parse_count(const char *text, const char *what)
{
	return (size_t)parse_number(text, what, 10000000);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t size = 0, used = 0, n;

	if (!f)
		die("cannot open %s: %s", path, strerror(errno));
	for (;;) {
		if (used + 65536 + 1 > size) {
			size = (size + 65536) * 2;
			buf = realloc(buf, size);
			if (!buf)
				die("out of memory");
		}
		n = fread(buf + used, 1, size - used - 1, f);
		used += n;
		if (n == 0)
			break;
	}
	if (ferror(f))
		die("cannot read %s", path);
	fclose(f);
	buf[used] = '\0';
	if (len)
		*len = used;
	return buf;
}

/* The lines of a file (without their newlines), in a new array. */
static char **read_lines(const char *path, size_t *n)
{
	char *text = read_file(path, NULL);
	size_t count = 0, i = 0;
	char **lines, *save = NULL, *line;

	for (char *p = text; *p; p++)
		if (*p == '\n')
			count++;
	lines = xcalloc(count + 1, sizeof(*lines));
	for (line = strtok_r(text, "\n", &save); line && i < count;
	     line = strtok_r(NULL, "\n", &save))
		lines[i++] = line;
	*n = i;
	return lines;
}

static int compare_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static long long percentile(const long long *sorted, size_t n, unsigned pct)
{
	size_t i = (n * pct + 99) / 100;

	return sorted[i == 0 ? 0 : i - 1];
}

static long long median(const long long *sorted, size_t n)
{
	return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

static void result(const char *name, long long value)
{
	const char *path = getenv("BENCH_RESULTS");
	FILE *f;

	if (!path || !*path)
		return;
	f = fopen(path, "a");
	if (!f)
		die("cannot open %s: %s", path, strerror(errno));
	fprintf(f, "%s %lld\n", name, value);
	fclose(f);
}

/* Sort samples and print "label: median ... (min, p90, max) over n". */
static long long report(const char *label, const char *name, long long *ns,
			size_t n)
{
	long long mid;

	if (n == 0)
		die("%s: no samples", label);
	qsort(ns, n, sizeof(*ns), compare_ll);
	mid = median(ns, n);
	printf("%s: median %.3f ms (min %.3f, p90 %.3f, max %.3f; n = %zu)\n",
	       label, (double)mid / NS_PER_MS, (double)ns[0] / NS_PER_MS,
	       (double)percentile(ns, n, 90) / NS_PER_MS,
	       (double)ns[n - 1] / NS_PER_MS, n);
	result(name, mid);
	return mid;
}

/* --- keys --- */

static void put_string(unsigned char **p, const void *data, uint32_t len)
{
	(*p)[0] = (unsigned char)(len >> 24);
	(*p)[1] = (unsigned char)(len >> 16);
	(*p)[2] = (unsigned char)(len >> 8);
	(*p)[3] = (unsigned char)len;
	memcpy(*p + 4, data, len);
	*p += 4 + len;
}

static int cmd_keys(int argc, char **argv)
{
	static const char type[] = "ssh-ed25519";
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	unsigned char blob[4 + sizeof(type) - 1 + 4 + crypto_sign_PUBLICKEYBYTES];
	char b64[sodium_base64_ENCODED_LEN(sizeof(blob), sodium_base64_VARIANT_ORIGINAL)];
	size_t n;
	FILE *f;

	if (argc != 3)
		die("usage: keys N OUT");
	n = parse_count(argv[1], "N");
	f = fopen(argv[2], "w");
	if (!f)
		die("cannot create %s: %s", argv[2], strerror(errno));
	for (size_t i = 0; i < n; i++) {
		unsigned char *p = blob;

		crypto_sign_keypair(pk, sk);
		put_string(&p, type, sizeof(type) - 1);
		put_string(&p, pk, sizeof(pk));
		sodium_bin2base64(b64, sizeof(b64), blob, sizeof(blob),
				  sodium_base64_VARIANT_ORIGINAL);
		fprintf(f, "%s %s bench-%zu\n", type, b64, i);
	}
	sodium_memzero(sk, sizeof(sk));
	if (fclose(f) != 0)
		die("cannot write %s", argv[2]);
	return 0;
}

/* --- running the CLI --- */

/* Run argv with stdout and stderr to the given fds; its exit status, and
 * the time from spawn to exit in *elapsed. */
static int run(char *const argv[], int out_fd, int err_fd, long long *elapsed)
{
	posix_spawn_file_actions_t actions;
	long long start;
	pid_t pid;
	int status, r;

	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
	start = clock_ns(CLOCK_MONOTONIC);
	r = posix_spawn(&pid, argv[0], &actions, NULL, argv, environ);
	if (r != 0)
		die("cannot run %s: %s", argv[0], strerror(r));
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	if (elapsed)
		*elapsed = clock_ns(CLOCK_MONOTONIC) - start;
	posix_spawn_file_actions_destroy(&actions);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int temp_fd(void)
{
	char path[] = "/tmp/bench-tool.XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		die("mkstemp: %s", strerror(errno));
	unlink(path);
	return fd;
}

static char *fd_text(int fd)
{
	off_t size = lseek(fd, 0, SEEK_END);
	char *text;

	if (size < 0)
		die("lseek: %s", strerror(errno));
	text = xcalloc((size_t)size + 1, 1);
	if (pread(fd, text, (size_t)size, 0) != size)
		die("pread: %s", strerror(errno));
	return text;
}

static void fd_reset(int fd)
{
	if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		die("ftruncate: %s", strerror(errno));
}

static bool file_has(const char *path, const char *needle)
{
	char *text = read_file(path, NULL);
	bool found = strstr(text, needle) != NULL;

	free(text);
	return found;
}

static void copy_file(const char *from, const char *to)
{
	size_t len;
	char *text = read_file(from, &len);
	FILE *f = fopen(to, "wb");

	if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0)
		die("cannot write %s", to);
	free(text);
}

static int cmd_grant_rtt(int argc, char **argv)
{
	const char *cli, *socket_path, *user, *authkeys, *snapshot;
	size_t n_keys, from, count;
	char **keys;
	long long *samples;
	int out_fd, err_fd;

	if (argc != 8 && argc != 9)
		die("usage: grant-rtt SSHLEASE SOCKET USER KEYS FROM COUNT AUTHKEYS [SNAPSHOT]");
	cli = argv[1];
	socket_path = argv[2];
	user = argv[3];
	keys = read_lines(argv[4], &n_keys);
	from = parse_count(argv[5], "FROM");
	count = parse_count(argv[6], "COUNT");
	authkeys = argv[7];
	snapshot = argc == 9 ? argv[8] : NULL;
	if (from + count > n_keys)
		die("only %zu keys", n_keys);
	samples = xcalloc(count, sizeof(*samples));
	out_fd = temp_fd();
	err_fd = temp_fd();
	for (size_t i = 0; i < count; i++) {
		char *grant_argv[] = { (char *)cli, "--socket", (char *)socket_path,
				       "grant", "--yes", "--json", "--user",
				       (char *)user, "--for", "1h",
				       keys[from + i], NULL };
		char marker[64], *text;
		json_t *grant;
		json_error_t error;
		const char *id;
		int rc;

		fd_reset(out_fd);
		fd_reset(err_fd);
		rc = run(grant_argv, out_fd, err_fd, &samples[i]);
		if (rc != 0)
			die("grant %zu: exit %d: %.400s", i, rc, fd_text(err_fd));
		text = fd_text(out_fd);
		grant = json_loads(text, 0, &error);
		id = json_string_value(json_object_get(grant, "id"));
		if (!id || strlen(id) != AUTHKEYS_ID_LEN)
			die("grant %zu: no id in %.200s", i, text);
		snprintf(marker, sizeof(marker), "sshlease:%s", id);
		if (!file_has(authkeys, marker))
			die("grant %s: the line is not in %s after the CLI exited", id,
			    authkeys);
		if (i == 0 && snapshot)
			copy_file(authkeys, snapshot);
		{
			char *revoke_argv[] = { (char *)cli, "--socket",
						(char *)socket_path, "revoke",
						(char *)id, NULL };

			fd_reset(err_fd);
			rc = run(revoke_argv, out_fd, err_fd, NULL);
			if (rc != 0)
				die("revoke %s: exit %d: %.400s", id, rc, fd_text(err_fd));
		}
		json_decref(grant);
		free(text);
	}
	report("grant round trip (sshlease grant --yes, spawn to exit, line in the file)",
	       "grant_rtt_ns", samples, count);
	free(samples);
	return 0;
}

static int cmd_spawn(int argc, char **argv)
{
	size_t count;
	long long *samples;
	char label[128], name[64];
	int out_fd, err_fd;

	if (argc < 4)
		die("usage: spawn NAME COUNT PROGRAM ARGS...");
	count = parse_count(argv[2], "COUNT");
	samples = xcalloc(count, sizeof(*samples));
	out_fd = temp_fd();
	err_fd = temp_fd();
	for (size_t i = 0; i < count; i++) {
		int rc;

		fd_reset(out_fd);
		fd_reset(err_fd);
		rc = run(argv + 3, out_fd, err_fd, &samples[i]);
		if (rc != 0)
			die("%s: exit %d: %.400s", argv[3], rc, fd_text(err_fd));
	}
	snprintf(label, sizeof(label), "%.60s (spawn to exit)", argv[1]);
	snprintf(name, sizeof(name), "%.40s_ns", argv[1]);
	report(label, name, samples, count);
	free(samples);
	return 0;
}

/* --- bare atomic replace --- */

static int cmd_replace(int argc, char **argv)
{
	size_t len, count;
	char *content, dir_copy[PATH_MAX];
	long long *samples;
	int dir_fd;

	if (argc != 4)
		die("usage: replace SNAPSHOT DIR COUNT");
	content = read_file(argv[1], &len);
	snprintf(dir_copy, sizeof(dir_copy), "%s", argv[2]);
	count = parse_count(argv[3], "COUNT");
	dir_fd = open(dir_copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		die("cannot open %s: %s", dir_copy, strerror(errno));
	samples = xcalloc(count, sizeof(*samples));
	for (size_t i = 0; i < count; i++) {
		unsigned char random_bytes[8];
		char tmp[64];
		long long start = clock_ns(CLOCK_MONOTONIC);
		int fd;

		randombytes_buf(random_bytes, sizeof(random_bytes));
		snprintf(tmp, sizeof(tmp), ".bench-replace.%02x%02x%02x%02x%02x%02x%02x%02x",
			 random_bytes[0], random_bytes[1], random_bytes[2],
			 random_bytes[3], random_bytes[4], random_bytes[5],
			 random_bytes[6], random_bytes[7]);
		fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			die("cannot create %s: %s", tmp, strerror(errno));
		if (write(fd, content, len) != (ssize_t)len || fsync(fd) < 0 ||
		    close(fd) < 0)
			die("cannot write %s: %s", tmp, strerror(errno));
		if (renameat(dir_fd, tmp, dir_fd, "bench-replace") < 0 || fsync(dir_fd) < 0)
			die("cannot rename %s: %s", tmp, strerror(errno));
		samples[i] = clock_ns(CLOCK_MONOTONIC) - start;
	}
	unlinkat(dir_fd, "bench-replace", 0);
	close(dir_fd);
	printf("(the file: %zu bytes)\n", len);
	report("bare atomic replace of the same bytes (write, fsync, rename, fsync dir)",
	       "replace_ns", samples, count);
	free(samples);
	free(content);
	return 0;
}

/* --- talking to the daemon directly --- */

static json_t *call(const char *socket_path, json_t *request)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	json_t *reply = NULL;
	int fd, r;

	if (strlen(socket_path) >= sizeof(addr.sun_path))
		die("socket path too long");
	memcpy(addr.sun_path, socket_path, strlen(socket_path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("cannot connect to %s: %s", socket_path, strerror(errno));
	r = proto_send(fd, request);
	if (r == 0)
		r = proto_recv(fd, 120000, &reply);
	if (r < 0)
		die("talking to the daemon: %s", strerror(-r));
	close(fd);
	json_decref(request);
	if (!json_is_true(json_object_get(reply, "ok"))) {
		char *text = json_dumps(reply, JSON_COMPACT);

		die("the daemon said: %.400s", text ? text : "?");
	}
	return reply;
}

/* Grant one key over the socket; the new grant's id into id. */
static void socket_grant(const char *socket_path, const char *user,
			 const char *key, const char *duration, long long until,
			 char id[AUTHKEYS_ID_LEN + 1])
{
	json_t *request = json_pack("{s:s, s:s, s:s}", "op", "grant", "key", key,
				    "user", user);
	json_t *reply;
	const char *text;

	if (!request)
		die("out of memory");
	if (duration)
		json_object_set_new(request, "for", json_string(duration));
	else
		json_object_set_new(request, "until", json_integer(until));
	reply = call(socket_path, request);
	text = json_string_value(json_object_get(json_object_get(reply, "grant"), "id"));
	if (!text || strlen(text) != AUTHKEYS_ID_LEN)
		die("grant answer without an id");
	memcpy(id, text, AUTHKEYS_ID_LEN + 1);
	json_decref(reply);
}

static void socket_revoke(const char *socket_path, const char *id)
{
	json_decref(call(socket_path, json_pack("{s:s, s:[s]}", "op", "revoke",
						 "ids", id)));
}

/* Split "a,b,c" into a new NULL-terminated array (modifies text). */
static char **split_users(char *text, size_t *n)
{
	char **users = xcalloc(strlen(text) + 2, sizeof(*users));
	char *save = NULL;

	*n = 0;
	for (char *u = strtok_r(text, ",", &save); u; u = strtok_r(NULL, ",", &save))
		users[(*n)++] = u;
	if (*n == 0)
		die("no accounts given");
	return users;
}

static int cmd_socket_grants(int argc, char **argv)
{
	size_t n_keys, n_users, from, count;
	char **keys, **users, id[AUTHKEYS_ID_LEN + 1];
	long long start;

	if (argc != 7)
		die("usage: socket-grants SOCKET USER[,USER...] KEYS FROM COUNT DURATION");
	users = split_users(argv[2], &n_users);
	keys = read_lines(argv[3], &n_keys);
	from = parse_count(argv[4], "FROM");
	count = parse_count(argv[5], "COUNT");
	if (from + count > n_keys)
		die("only %zu keys", n_keys);
	start = clock_ns(CLOCK_MONOTONIC);
	for (size_t i = 0; i < count; i++)
		socket_grant(argv[1], users[i % n_users], keys[from + i], argv[6], 0, id);
	printf("(%zu grants over the socket in %.1f s)\n", count,
	       (double)(clock_ns(CLOCK_MONOTONIC) - start) / NS_PER_S);
	return 0;
}

/* --- revocation lateness --- */

static int cmd_lateness(int argc, char **argv)
{
	const char *socket_path, *user, *authkeys;
	size_t n_keys, from, count, pending;
	char **keys, (*ids)[AUTHKEYS_ID_LEN + 1], probe_id[AUTHKEYS_ID_LEN + 1];
	char dir[PATH_MAX];
	long long *gone, probe_ns, start, deadline, now, limit;
	int inotify_fd;

	if (argc != 7)
		die("usage: lateness SOCKET USER KEYS FROM COUNT AUTHKEYS");
	socket_path = argv[1];
	user = argv[2];
	keys = read_lines(argv[3], &n_keys);
	from = parse_count(argv[4], "FROM");
	count = parse_count(argv[5], "COUNT");
	authkeys = argv[6];
	if (from + count + 1 > n_keys)
		die("only %zu keys", n_keys);

	/* One probe grant sets the pace; the deadline leaves three times the
	 * time the grants should take, and at least three seconds. */
	start = clock_ns(CLOCK_MONOTONIC);
	socket_grant(socket_path, user, keys[from], "1h", 0, probe_id);
	probe_ns = clock_ns(CLOCK_MONOTONIC) - start;
	socket_revoke(socket_path, probe_id);
	deadline = clock_ns(CLOCK_REALTIME) / NS_PER_S + 3 +
		   (3 * probe_ns * (long long)count) / NS_PER_S;

	ids = xcalloc(count, sizeof(*ids));
	gone = xcalloc(count, sizeof(*gone));
	for (size_t i = 0; i < count; i++)
		socket_grant(socket_path, user, keys[from + 1 + i], NULL, deadline, ids[i]);
	now = clock_ns(CLOCK_REALTIME);
	if (now >= deadline * NS_PER_S - NS_PER_S / 2)
		die("making %zu grants took past their deadline; the probe grant misled", count);
	printf("(%zu grants, one deadline %.1f s after the last was made)\n", count,
	       (double)(deadline * NS_PER_S - now) / NS_PER_S);

	snprintf(dir, sizeof(dir), "%s", authkeys);
	inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (inotify_fd < 0 ||
	    inotify_add_watch(inotify_fd, dirname(dir),
			      IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE) < 0)
		die("inotify: %s", strerror(errno));
	pending = count;
	limit = (deadline + 120) * NS_PER_S;
	while (pending > 0) {
		struct pollfd pfd = { .fd = inotify_fd, .events = POLLIN };
		char events[4096], *text;

		if (poll(&pfd, 1, 20) > 0)
			while (read(inotify_fd, events, sizeof(events)) > 0)
				;
		now = clock_ns(CLOCK_REALTIME);
		text = read_file(authkeys, NULL);
		for (size_t i = 0; i < count; i++) {
			char marker[32];

			if (gone[i])
				continue;
			snprintf(marker, sizeof(marker), "sshlease:%s", ids[i]);
			if (!strstr(text, marker)) {
				gone[i] = now;
				pending--;
			}
		}
		free(text);
		if (now > limit)
			die("%zu of %zu lines still there 120 s after their deadline",
			    pending, count);
	}
	close(inotify_fd);
	for (size_t i = 0; i < count; i++) {
		gone[i] -= deadline * NS_PER_S;
		if (gone[i] < 0)
			die("grant %s: its line was removed %.3f s BEFORE its deadline",
			    ids[i], (double)-gone[i] / NS_PER_S);
	}
	report("revocation lateness (deadline to line gone, one shared deadline)",
	       "lateness_ns", gone, count);
	result("lateness_max_ns", gone[count - 1]);
	free(ids);
	free(gone);
	return 0;
}

/* --- state written directly --- */

struct account_lines {
	struct account *acct;
	char *text;
	size_t len, size;
};

static void append(struct account_lines *a, const char *line)
{
	size_t need = a->len + strlen(line) + 2;

	if (need > a->size) {
		a->size = need * 2;
		a->text = realloc(a->text, a->size);
		if (!a->text)
			die("out of memory");
	}
	a->len += (size_t)sprintf(a->text + a->len, "%s\n", line);
}

/* Write authorized_keys of acct as its old bytes plus lines, the way the
 * engine would: temp file, fsync, owner and mode, rename, fsync dir. */
static void write_authkeys(struct account_lines *a)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], tmp[PATH_MAX + 32];
	char *old = NULL;
	size_t old_len = 0;
	int fd, dir_fd;

	snprintf(dir, sizeof(dir), "%s/.ssh", a->acct->home);
	snprintf(path, sizeof(path), "%s/authorized_keys", dir);
	snprintf(tmp, sizeof(tmp), "%s/.authorized_keys.bench", dir);
	if (access(path, F_OK) == 0)
		old = read_file(path, &old_len);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		die("cannot create %s: %s", tmp, strerror(errno));
	if ((old_len && write(fd, old, old_len) != (ssize_t)old_len) ||
	    (old_len && old[old_len - 1] != '\n' && write(fd, "\n", 1) != 1) ||
	    write(fd, a->text, a->len) != (ssize_t)a->len ||
	    fchown(fd, a->acct->uid, a->acct->gid) < 0 || fchmod(fd, 0600) < 0 ||
	    fsync(fd) < 0 || close(fd) < 0)
		die("cannot write %s: %s", tmp, strerror(errno));
	if (rename(tmp, path) < 0)
		die("cannot rename %s: %s", tmp, strerror(errno));
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0 || fsync(dir_fd) < 0)
		die("cannot fsync %s: %s", dir, strerror(errno));
	close(dir_fd);
	free(old);
}

static char *xstrdup(const char *text)
{
	char *copy = strdup(text);

	if (!copy)
		die("out of memory");
	return copy;
}

static int cmd_mass_state(int argc, char **argv)
{
	size_t n_keys, n_users, from, count;
	char **keys, **users;
	struct account_lines *accounts;
	struct state *state = NULL;
	const char *why = NULL;
	long long deadline, start;
	int r;

	if (argc != 7)
		die("usage: mass-state STATE_DIR USER[,USER...] KEYS FROM COUNT DEADLINE");
	users = split_users(argv[2], &n_users);
	keys = read_lines(argv[3], &n_keys);
	from = parse_count(argv[4], "FROM");
	count = parse_count(argv[5], "COUNT");
	deadline = (long long)parse_number(argv[6], "DEADLINE", 253402300799ULL);
	if (from + count > n_keys)
		die("only %zu keys", n_keys);
	start = clock_ns(CLOCK_MONOTONIC);
	r = state_load(argv[1], &state, &why);
	if (r != 0)
		die("cannot load the state: %s", r < 0 ? strerror(-r) : why);
	accounts = xcalloc(n_users, sizeof(*accounts));
	for (size_t u = 0; u < n_users; u++) {
		r = account_lookup(users[u], &accounts[u].acct, &why);
		if (r != 0)
			die("account %s: %s", users[u], r < 0 ? strerror(-r) : why);
		if (state_account_note(state, users[u]) < 0)
			die("out of memory");
	}
	for (size_t i = 0; i < count; i++) {
		struct account_lines *a = &accounts[i % n_users];
		struct sshlease_key *key = NULL;
		struct grant grant = {
			.uid = a->acct->uid,
			.mode = AUTHKEYS_MODE_SHELL,
			.created = (time_t)(clock_ns(CLOCK_REALTIME) / NS_PER_S),
			.expires = (time_t)deadline,
			.by_uid = 0,
		};
		struct authkeys_line_spec spec;
		char *line = NULL;

		r = key_parse(keys[from + i], strlen(keys[from + i]), NULL, &key, &why);
		if (r != 0)
			die("key %zu: %s", from + i, r < 0 ? strerror(-r) : why);
		authkeys_new_id(grant.id);
		grant.user = xstrdup(a->acct->name);
		grant.key_type = xstrdup(key->type);
		grant.blob_base64 = xstrdup(key->blob_base64);
		grant.fingerprint = xstrdup(key->fingerprint);
		grant.comment = xstrdup(key->comment);
		grant.by_user = xstrdup("root");
		spec = (struct authkeys_line_spec){
			.id = grant.id,
			.key_type = grant.key_type,
			.blob_base64 = grant.blob_base64,
			.deadline = grant.expires,
			.expiry = AUTHKEYS_EXPIRY_UTC,
			.mode = grant.mode,
		};
		r = authkeys_format_line(&spec, &line, &why);
		if (r != 0)
			die("line for key %zu: %s", from + i, r < 0 ? strerror(-r) : why);
		append(a, line);
		free(line);
		key_free(key);
		if (state_add_grant(state, &grant) < 0)
			die("out of memory");
	}
	r = state_save(argv[1], state);
	if (r < 0)
		die("cannot save the state: %s", strerror(-r));
	for (size_t u = 0; u < n_users; u++) {
		if (accounts[u].len)
			write_authkeys(&accounts[u]);
		free(accounts[u].text);
		account_free(accounts[u].acct);
	}
	printf("(%zu grants written to the state and %zu authorized_keys files in %.1f s; %zu grants in the state now)\n",
	       count, n_users, (double)(clock_ns(CLOCK_MONOTONIC) - start) / NS_PER_S,
	       state->n_grants);
	state_free(state);
	free(accounts);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} commands[] = {
		{ "keys", cmd_keys },
		{ "grant-rtt", cmd_grant_rtt },
		{ "spawn", cmd_spawn },
		{ "replace", cmd_replace },
		{ "lateness", cmd_lateness },
		{ "socket-grants", cmd_socket_grants },
		{ "mass-state", cmd_mass_state },
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (sodium_init() < 0)
		die("libsodium cannot start");
	if (argc < 2)
		die("usage: bench-tool COMMAND ARGS... (see the source)");
	for (size_t i = 0; i < SL_ARRAY_SIZE(commands); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	die("unknown command %.40s", argv[1]);
}

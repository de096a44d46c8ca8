/*
 * session-tool: a small command line over sshd's log lines (sshd-log.h),
 * the log follower (log-follow.h) and the connection finder (sshd-conn.h),
 * so the integration tests can drive them from bash against a real sshd.
 *
 *   session-tool parse LINE        prints the event (format below)
 *   session-tool follow PATH [--find]
 *                  follows PATH until killed; prints one line per event,
 *                  flushed; with --find, each "accepted" line also names
 *                  the monitor found right then: "monitor=PID" or
 *                  "monitor=none (R: WHY)"
 *   session-tool find ADDRESS PORT [--user U] [--local-port N]
 *                  prints the monitor's pid
 *   session-tool end ADDRESS PORT [--user U] [--local-port N]
 *                  SIGTERM to the monitor; prints its pid
 *
 * An event prints as words "KIND user=U address=A port=N" then, for
 * accepted, "key=TYPE fingerprint=FP"; for session, "session=KIND id=C
 * tty=0|1 detail=D"; for disconnected, "end=HOW"; and "pid=P" when the
 * line had one. A refused line prints "refused: WHY" on stderr (follow
 * goes on). Exit codes: 0 done, 1 failure, 2 usage, 3 refused, 4 not found
 * (no event in the line; no such connection).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common.h"
#include "log-follow.h"
#include "sshd-conn.h"
#include "sshd-log.h"

#define TOOL "session-tool"
#define EXIT_NOT_FOUND 4

static void usage(void)
{
	fputs("usage: " TOOL " parse LINE\n"
	      "       " TOOL " follow PATH [--find]\n"
	      "       " TOOL " find ADDRESS PORT [--user U] [--local-port N]\n"
	      "       " TOOL " end ADDRESS PORT [--user U] [--local-port N]\n",
	      stderr);
}

static void print_event(const struct sshd_log_event *ev)
{
	printf("%s user=%s address=%s port=%u", sshd_log_kind_name(ev->kind),
	       ev->user, ev->address_text, ev->port);
	switch (ev->kind) {
	case SSHD_LOG_ACCEPTED:
		printf(" key=%s fingerprint=%s", ev->key_type, ev->fingerprint);
		break;
	case SSHD_LOG_SESSION:
		/* detail is printable ASCII (the parser's rule); capped. */
		printf(" session=%s id=%u tty=%d detail=%.60s",
		       sshd_log_session_name(ev->session), ev->session_id,
		       ev->tty, ev->detail);
		break;
	case SSHD_LOG_DISCONNECTED:
		printf(" end=%s", ev->end);
		break;
	}
	if (ev->pid)
		printf(" pid=%d", (int)ev->pid);
}

static void peer_of_event(const struct sshd_log_event *ev,
			  struct sshd_conn_peer *peer)
{
	memset(peer, 0, sizeof(*peer));
	peer->family = ev->family;
	memcpy(peer->address, ev->address, sizeof(peer->address));
	peer->port = ev->port;
	peer->user = ev->user;
}

static int cmd_parse(int argc, char **argv)
{
	struct sshd_log_event ev;
	const char *why = NULL;
	int r;

	if (argc != 1) {
		usage();
		return SL_EXIT_USAGE;
	}
	r = sshd_log_parse(argv[0], strlen(argv[0]), &ev, &why);
	if (r == SL_NOT_FOUND)
		return EXIT_NOT_FOUND;
	if (r != 0) {
		fprintf(stderr, TOOL ": refused: %s\n", why);
		return SL_EXIT_REFUSED;
	}
	print_event(&ev);
	putchar('\n');
	return SL_EXIT_OK;
}

static void handle_line(const struct log_line *line, bool find)
{
	struct sshd_log_event ev;
	const char *why = NULL;
	int r = sshd_log_parse(line->text, line->len, &ev, &why);

	if (r == SL_NOT_FOUND)
		return;
	if (r != 0) {
		fprintf(stderr, TOOL ": refused: %s\n", why);
		return;
	}
	print_event(&ev);
	if (find && ev.kind == SSHD_LOG_ACCEPTED) {
		struct sshd_conn_peer peer;
		pid_t pid;

		peer_of_event(&ev, &peer);
		r = sshd_conn_find(&peer, &pid, &why);
		if (r == 0)
			printf(" monitor=%d", (int)pid);
		else
			printf(" monitor=none (%d: %s)", r, why);
	}
	putchar('\n');
	fflush(stdout);
}

static int cmd_follow(int argc, char **argv)
{
	struct log_follow *follow = NULL;
	const char *why = NULL;
	bool find = false;
	int r;

	if (argc == 2 && strcmp(argv[1], "--find") == 0)
		find = true;
	else if (argc != 1) {
		usage();
		return SL_EXIT_USAGE;
	}
	r = log_follow_open(argv[0], SSHD_LOG_LINE_MAX, &follow, &why);
	if (r != 0) {
		fprintf(stderr, TOOL ": follow %s: %s (%d)\n", argv[0], why, r);
		return r > 0 ? SL_EXIT_REFUSED : SL_EXIT_FAILURE;
	}
	for (;;) {
		struct pollfd p = { .fd = log_follow_fd(follow), .events = POLLIN };
		struct log_line line;

		while ((r = log_follow_next(follow, &line, &why)) != -EAGAIN) {
			if (r == 0)
				handle_line(&line, find);
			else if (r > 0)
				fprintf(stderr, TOOL ": %s\n", why);
			else {
				fprintf(stderr, TOOL ": %s: %s\n", why, strerror(-r));
				goto out;
			}
		}
		if (poll(&p, 1, -1) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
	}
out:
	log_follow_free(follow);
	return SL_EXIT_FAILURE;
}

static int parse_port(const char *text, unsigned *out)
{
	char *end = NULL;
	unsigned long value;

	errno = 0;
	value = strtoul(text, &end, 10);
	if (errno || end == text || *end != '\0' || value == 0 || value > 65535)
		return -EINVAL;
	*out = (unsigned)value;
	return 0;
}

/* ADDRESS PORT [--user U] [--local-port N] into peer. */
static int parse_peer(int argc, char **argv, struct sshd_conn_peer *peer)
{
	memset(peer, 0, sizeof(*peer));
	if (argc < 2)
		return -EINVAL;
	if (inet_pton(AF_INET, argv[0], peer->address) == 1)
		peer->family = AF_INET;
	else if (inet_pton(AF_INET6, argv[0], peer->address) == 1)
		peer->family = AF_INET6;
	else
		return -EINVAL;
	if (parse_port(argv[1], &peer->port) < 0)
		return -EINVAL;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
			peer->user = argv[++i];
		else if (strcmp(argv[i], "--local-port") == 0 && i + 1 < argc) {
			if (parse_port(argv[++i], &peer->local_port) < 0)
				return -EINVAL;
		} else
			return -EINVAL;
	}
	return 0;
}

static int exit_for(const char *what, int r, const char *why)
{
	if (r == 0)
		return SL_EXIT_OK;
	if (r == SL_NOT_FOUND) {
		fprintf(stderr, TOOL ": %s: %s\n", what, why);
		return EXIT_NOT_FOUND;
	}
	if (r == SL_REFUSED) {
		fprintf(stderr, TOOL ": %s refused: %s\n", what, why);
		return SL_EXIT_REFUSED;
	}
	fprintf(stderr, TOOL ": %s failed: %s: %s\n", what, why ? why : "?",
		r < 0 ? strerror(-r) : "unexpected result");
	return SL_EXIT_FAILURE;
}

/* find and end: the same question, and end acts on the answer. */
static int conn_command(int argc, char **argv, const char *what,
			int (*act)(const struct sshd_conn_peer *peer, pid_t *pid,
				   const char **why))
{
	struct sshd_conn_peer peer;
	const char *why = NULL;
	pid_t pid;
	int r;

	if (parse_peer(argc, argv, &peer) < 0) {
		usage();
		return SL_EXIT_USAGE;
	}
	r = act(&peer, &pid, &why);
	if (r == 0)
		printf("%d\n", (int)pid);
	return exit_for(what, r, why);
}

static int cmd_find(int argc, char **argv)
{
	return conn_command(argc, argv, "find", sshd_conn_find);
}

static int cmd_end(int argc, char **argv)
{
	return conn_command(argc, argv, "end", sshd_conn_end);
}

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "parse", cmd_parse },
	{ "follow", cmd_follow },
	{ "find", cmd_find },
	{ "end", cmd_end },
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage();
		return SL_EXIT_USAGE;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < SL_ARRAY_SIZE(commands); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 2, argv + 2);
	usage();
	return SL_EXIT_USAGE;
}

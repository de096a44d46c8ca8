/* Shared parts of the sshlease commands: options, daemon calls, output. */
#ifndef SSHLEASE_CLI_H
#define SSHLEASE_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include "common.h"

#define CLI_DEFAULT_SOCKET "/run/sshlease/sshlease.sock"
#define CLI_REPLY_TIMEOUT_MS 30000
/* Longest key input read from @FILE or stdin; a key line is at most 8 KiB. */
#define CLI_KEY_INPUT_MAX (16 * 1024)
/* Longest text from the daemon or the user printed in one piece. */
#define CLI_TEXT_CAP 300

struct cli {
	const char *socket_path;
	bool socket_given;   /* --socket or $SSHLEASE_SOCKET, not the default */
	const char *command; /* the running command, for messages */
	bool colour_out;     /* colour allowed on stdout */
	bool colour_err;     /* colour allowed on stderr */
};

/* The commands. Each parses its own options (argv[0] is the command name)
 * and returns an exit code, enum sl_exit. */
int cmd_grant(struct cli *cli, int argc, char **argv);
int cmd_revoke(struct cli *cli, int argc, char **argv);
int cmd_extend(struct cli *cli, int argc, char **argv);
int cmd_list(struct cli *cli, int argc, char **argv);
int cmd_show(struct cli *cli, int argc, char **argv);
int cmd_restore_key(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_audit(struct cli *cli, int argc, char **argv);
int cmd_check_config(struct cli *cli, int argc, char **argv);
int cmd_doctor(struct cli *cli, int argc, char **argv);
/* token: keygen, sign and show (support-side; no daemon needed). */
int cmd_token(struct cli *cli, int argc, char **argv);
int cmd_token_keygen(struct cli *cli, int argc, char **argv);
int cmd_token_sign(struct cli *cli, int argc, char **argv);
int cmd_token_show(struct cli *cli, int argc, char **argv);

/* --- messages (stderr, "sshlease: " first) --- */

void cli_error(const struct cli *cli, const char *fmt, ...) SL_PRINTF(2, 3);

/* "sshlease: out of memory", then exit(SL_EXIT_FAILURE). */
_Noreturn void cli_out_of_memory(void);

/* "sshlease: LABEL: ...", the label in red on a colour terminal. */
void cli_error_as(const struct cli *cli, const char *label, const char *fmt,
		  ...) SL_PRINTF(3, 4);

/* "sshlease: refused: ..."; returns SL_EXIT_REFUSED. */
int cli_refused(const struct cli *cli, const char *fmt, ...) SL_PRINTF(2, 3);

/* The message plus "Try 'sshlease CMD --help'."; returns SL_EXIT_USAGE. */
int cli_usage_error(const struct cli *cli, const char *fmt, ...)
	SL_PRINTF(2, 3);

/* --- option parsing --- */

/* What a command's option parser returns to go on; any other value is the
 * exit code to stop with (SL_EXIT_OK after --help). Above every exit code
 * (0..255) and not negative, so it reads as neither an exit code nor an
 * -errno. */
#define CLI_CONTINUE 256

/* The value getopt returns for --help in every command. */
#define CLI_OPT_HELP 'h'
/* What cli_getopt returns after it reported a bad option itself. */
#define CLI_OPT_BAD '?'

/*
 * getopt_long for one command; shortopts must start with ':'. Unknown
 * options and missing values are reported (sanitised) and CLI_OPT_BAD is
 * returned, so the caller only returns SL_EXIT_USAGE. Call with optind = 0
 * before the first option of a command.
 */
int cli_getopt(const struct cli *cli, int argc, char **argv,
	       const char *shortopts, const struct option *longopts);

/* Store an option's value, refusing the option given twice. 0 or
 * SL_EXIT_USAGE (reported). */
int cli_set_once(const struct cli *cli, const char **slot, const char *value,
		 const char *option);

/* Options of a command that has only --json and --help: CLI_CONTINUE with
 * optind at the first operand, or the exit code to stop with. */
int cli_parse_json_only(const struct cli *cli, int argc, char **argv,
			const char *help, bool *json);

/* The operands left after the options must number exactly want (what
 * names a missing one); 0 or SL_EXIT_USAGE (reported). */
int cli_operands(const struct cli *cli, int argc, char **argv, int want,
		 const char *what);

/* Print a command's help text on stdout; returns SL_EXIT_OK. */
int cli_help(const char *text);

/* Parse a --until time with time_parse; a bad one is refused (reported,
 * SL_EXIT_REFUSED). Whether it lies in the future is the daemon's call. */
int cli_parse_until(const struct cli *cli, const char *text, time_t *out);

/* Put the deadline into request: "for" as text (the daemon checks it),
 * "until" as unix seconds when until is not NULL. */
void cli_request_deadline(json_t *request, const char *for_text,
			  const time_t *until);

/* --- the daemon --- */

/* Send one request and read the answer, whatever it says. Returns 0 with
 * the answer in *reply, or an exit code after reporting (daemon not
 * reachable, permission denied on the socket, timeout, bad answer). */
int cli_call(const struct cli *cli, const json_t *request, json_t **reply);

/* 0 when reply says ok; otherwise report its error and return the exit
 * code its error code maps to. */
int cli_reply_status(const struct cli *cli, const json_t *reply);

/*
 * Ask the daemon for its status without reporting anything: for doctor's
 * "daemon answers" check. Returns 0 with the answer in *reply (which may
 * say ok: false), or -errno: the connect error (-ENOENT, -ECONNREFUSED,
 * -EACCES ...), -ENAMETOOLONG for a socket path too long, or a transport
 * error as proto_send/proto_recv give it.
 */
int cli_call_quiet(const struct cli *cli, const json_t *request, json_t **reply);

/* cli_call + cli_reply_status: 0 only with a successful answer. */
int cli_request(const struct cli *cli, const json_t *request, json_t **reply);

/* The member key of a successful answer when it has the given type;
 * otherwise NULL, reported ("sshleased answered without ..."). */
json_t *cli_reply_get(const struct cli *cli, const json_t *reply,
		      const char *key, json_type type);

/* A new {"op": op} request; exits the program on out-of-memory. */
json_t *cli_request_new(const char *op);

/* Set key to a string / integer in obj; out-of-memory exits. */
void cli_json_set_string(json_t *obj, const char *key, const char *value);
void cli_json_set_integer(json_t *obj, const char *key, long long value);

/* --- reading answers --- */

/* The string at key, or NULL when absent, null or not a string. */
const char *cli_json_string(const json_t *obj, const char *key);

/* A time at key given as unix seconds or RFC 3339 text; false if absent. */
bool cli_json_time(const json_t *obj, const char *key, time_t *out);

/* A grant's deadline (expires_unix, else expires); false if absent. */
bool cli_grant_expires(const json_t *grant, time_t *out);

/* --- output --- */

enum cli_colour { CLI_RESET, CLI_BOLD, CLI_RED, CLI_GREEN, CLI_YELLOW };

/* The escape sequence for colour, or "" when on is false. */
const char *cli_colour(bool on, enum cli_colour colour);

/* Copy text into buf (capped by size) with every byte that is not
 * printable ASCII replaced by '?'; NULL text gives fallback. Returns buf. */
const char *cli_safe(char *buf, size_t size, const char *text,
		     const char *fallback);

/* "2026-12-01 18:00:00 CET (2026-12-01T17:00:00Z)" */
void cli_format_deadline(time_t t, char *buf, size_t size);

/* "2d 3h" until t from now, or "expired". */
void cli_format_remaining(time_t t, time_t now, char *buf, size_t size);

/* One "  label: value" line, the value sanitised and capped. */
void cli_field(FILE *f, const char *label, const char *value);

/* "ssh-ed25519 SHA256:..." of a grant object into buf, sanitised. */
const char *cli_grant_key(const json_t *grant, char *buf, size_t size);

/* Every field of a grant object, one per line, for people. */
void cli_grant_print(FILE *f, const json_t *grant, time_t now);

/* One JSON value on stdout, compact, with a newline. Returns 0 or
 * SL_EXIT_FAILURE. */
int cli_print_json(const json_t *value);

/* Flush stdout; report a write error (full disk, closed pipe). Returns
 * code unchanged when all output was written, else SL_EXIT_FAILURE. */
int cli_finish_output(const struct cli *cli, int code);

/* --- grant helpers (grant-input.c, confirm.c, hostinfo.c) --- */

/*
 * Resolve the KEY argument of grant: the text itself, @FILE, or "-" for
 * stdin. From a file or stdin, at most CLI_KEY_INPUT_MAX bytes are read and
 * exactly one trailing "\n" or "\r\n" is stripped. Returns 0 and a new
 * NUL-terminated string in *out (*len bytes), or an exit code (reported).
 */
int cli_key_input(const struct cli *cli, const char *arg, char **out,
		  size_t *len);

/* Open the controlling terminal for a question; -1 when there is none. */
int cli_tty_open(void);

/* Ask question on stderr, read the answer from tty_fd; true for y/yes. */
bool cli_confirm(int tty_fd, const char *question);

/* {"name": canonical host name, "addresses": [...]} of this host, leaving
 * out loopback and link-local addresses. Out-of-memory exits. */
json_t *cli_host_info(void);

#endif

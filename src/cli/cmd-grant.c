/* sshlease grant: ask the daemon what a grant would be, confirm, grant. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "timeutil.h"
#include "token.h"

static const char grant_help[] =
	"Usage: sshlease grant --user USER [OPTIONS] KEY | @FILE | -\n"
	"       sshlease grant [--user USER] [OPTIONS] TOKEN\n\n"
	"Let the holder of KEY log in to USER over SSH until a deadline; the\n"
	"daemon removes the key again then, and closes every connection made\n"
	"with it and ends what those logins left running (see 'man sshlease',\n"
	"OPEN SESSIONS). KEY is one public key line\n"
	"('ssh-ed25519 AAAA... comment', quoted as one argument), @FILE reads\n"
	"it from FILE, - from standard input. A signed token (sl1....) from\n"
	"support, given the same ways, carries the key, duration, source\n"
	"restriction and mode itself; sshleased grants it only when it is\n"
	"signed by one of its trusted_signer keys.\n\n"
	"Options:\n"
	"  -u, --user USER   the account to give access to (required with a\n"
	"                    key; with a token, required unless the token\n"
	"                    names the account)\n"
	"  --for DURATION    how long, e.g. 90m, 48h, 7d, 1d12h (default: the\n"
	"                    token's duration, or the daemon's\n"
	"                    default_duration)\n"
	"  --until TIME      until 'YYYY-MM-DD HH:MM[:SS]' local time, or with\n"
	"                    Z or +HH:MM; not together with --for\n"
	"  --ticket REF      your support ticket reference, recorded with it\n"
	"  --from LIST       only from these comma-separated addresses/CIDRs\n"
	"                    (default: the config's [grant] from)\n"
	"  --sftp-only       SFTP only, no shell\n"
	"  --force           grant even when a check of 'sshlease doctor' says\n"
	"                    sshd would not let the key in (PubkeyAuthentication\n"
	"                    no, AllowUsers, a locked account, no sftp\n"
	"                    subsystem ...)\n"
	"  -y, --yes         do not ask for confirmation (needed without a\n"
	"                    terminal)\n"
	"  --json            print the grant as one JSON object\n"
	"  -h, --help        show this help\n\n"
	"Shows what will happen and asks 'Grant this access? [y/N]' first;\n"
	"the deadline granted is the one shown. Then prints a block to paste\n"
	"into the support ticket, with the server's host key fingerprints.\n";

enum { OPT_FOR = 0x100, OPT_UNTIL, OPT_TICKET, OPT_FROM, OPT_SFTP, OPT_JSON,
       OPT_FORCE };

struct grant_options {
	const char *user, *for_text, *until_text, *ticket, *from, *key_arg;
	time_t until;
	bool sftp_only, force, yes, json;
};

static int grant_option(struct cli *cli, int opt, struct grant_options *o)
{
	switch (opt) {
	case 'u': return cli_set_once(cli, &o->user, optarg, "--user");
	case OPT_FOR: return cli_set_once(cli, &o->for_text, optarg, "--for");
	case OPT_UNTIL:
		return cli_set_once(cli, &o->until_text, optarg, "--until");
	case OPT_TICKET:
		return cli_set_once(cli, &o->ticket, optarg, "--ticket");
	case OPT_FROM: return cli_set_once(cli, &o->from, optarg, "--from");
	case OPT_SFTP: o->sftp_only = true; return 0;
	case OPT_FORCE: o->force = true; return 0;
	case 'y': o->yes = true; return 0;
	case OPT_JSON: o->json = true; return 0;
	default: return SL_EXIT_USAGE;
	}
}

/* A raw key needs --user; a token may name its account, and when it does
 * not, the daemon refuses the grant without --user. */
static int grant_check_user(const struct cli *cli,
			    const struct grant_options *o, const char *key)
{
	if (o->user || token_looks_like(key))
		return 0;
	return cli_usage_error(cli, "--user is required: name the account the "
			       "key may log in to (e.g. --user shop); there "
			       "is no default");
}

static int grant_parse(struct cli *cli, int argc, char **argv,
		       struct grant_options *o)
{
	static const struct option options[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "for", required_argument, NULL, OPT_FOR },
		{ "until", required_argument, NULL, OPT_UNTIL },
		{ "ticket", required_argument, NULL, OPT_TICKET },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "sftp-only", no_argument, NULL, OPT_SFTP },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "yes", no_argument, NULL, 'y' },
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ 0 },
	};
	int opt, r;

	while ((opt = cli_getopt(cli, argc, argv, ":u:yh", options)) != -1) {
		if (opt == CLI_OPT_HELP)
			return cli_help(grant_help);
		r = grant_option(cli, opt, o);
		if (r != 0)
			return r;
	}
	if (optind == argc)
		return cli_usage_error(cli, "grant needs the key: KEY, @FILE, "
				       "or - to read it from standard input");
	if (argc - optind > 1)
		return cli_usage_error(cli, "the key must be one argument: put "
				       "it in quotes, or use @FILE or -");
	if (o->for_text && o->until_text)
		return cli_usage_error(cli, "give --for or --until, not both");
	if (o->until_text && cli_parse_until(cli, o->until_text, &o->until))
		return SL_EXIT_REFUSED;
	o->key_arg = argv[optind];
	/* @FILE and - are checked once read. */
	if (o->key_arg[0] != '@' && strcmp(o->key_arg, "-") != 0 &&
	    grant_check_user(cli, o, o->key_arg) != 0)
		return SL_EXIT_USAGE;
	return CLI_CONTINUE;
}

/* Confirmation needs a person: a terminal on stderr, and on stdin unless
 * the key comes from there. Checked before anything is read or sent. */
static int grant_open_tty(const struct cli *cli, const struct grant_options *o,
			  int *tty_fd)
{
	bool key_on_stdin = strcmp(o->key_arg, "-") == 0;

	*tty_fd = -1;
	if (o->yes)
		return 0;
	if (isatty(STDERR_FILENO) && (key_on_stdin || isatty(STDIN_FILENO)))
		*tty_fd = cli_tty_open();
	if (*tty_fd >= 0)
		return 0;
	cli_error(cli, "no terminal to confirm on; re-run with --yes to grant "
		  "without asking");
	return SL_EXIT_USAGE;
}

static int grant_request_build(const struct cli *cli,
			       const struct grant_options *o, const char *key,
			       json_t **out)
{
	json_t *request;

	if (grant_check_user(cli, o, key) != 0)
		return SL_EXIT_USAGE;
	request = cli_request_new("grant");
	/* Any "slN." goes as a token, so the daemon names a version it
	 * cannot read rather than calling it a bad key. */
	cli_json_set_string(request, token_looks_like(key) ? "token" : "key",
			    key);
	if (o->user)
		cli_json_set_string(request, "user", o->user);
	cli_request_deadline(request, o->for_text,
			     o->until_text ? &o->until : NULL);
	if (o->ticket)
		cli_json_set_string(request, "ticket", o->ticket);
	if (o->from)
		cli_json_set_string(request, "from", o->from);
	if (o->sftp_only)
		cli_json_set_string(request, "mode",
				    authkeys_mode_name(AUTHKEYS_MODE_SFTP));
	/* Sent only when given: a daemon without doctor checks knows no
	 * "force" and would refuse the field. */
	if (o->force && json_object_set_new(request, "force", json_true()) != 0)
		cli_out_of_memory();
	*out = request;
	return 0;
}

/* Send request with dry_run set as given; the grant object is in *grant
 * (owned by *reply). */
static int grant_send(const struct cli *cli, json_t *request, bool dry_run,
		      json_t **reply, json_t **grant)
{
	int r;

	if (json_object_set_new(request, "dry_run", json_boolean(dry_run)) != 0)
		cli_out_of_memory();
	r = cli_request(cli, request, reply);
	if (r != 0)
		return r;
	*grant = cli_reply_get(cli, *reply, "grant", JSON_OBJECT);
	return *grant ? 0 : SL_EXIT_FAILURE;
}

static const char *mode_words(const char *mode)
{
	enum authkeys_mode m = AUTHKEYS_MODE_SHELL;

	if (authkeys_mode_parse(mode, &m) && m == AUTHKEYS_MODE_SFTP)
		return "SFTP only, no shell";
	return "shell (no port, agent or X11 forwarding)";
}

/* The signer of a token grant (the daemon names the trusted_signer that
 * verified it); NULL for a raw key. */
static const char *grant_signer(const json_t *grant, bool token)
{
	const char *signer = cli_json_string(grant, "signer");

	if (signer || !token)
		return signer;
	return "(not named by sshleased)";
}

static void grant_preview(const json_t *grant, bool token, bool force,
			  time_t now)
{
	const char *signer = grant_signer(grant, token);
	char key[160], when[160], left[64];
	const char *from = cli_json_string(grant, "from");
	time_t expires;
	bool known = cli_grant_expires(grant, &expires);

	if (known) {
		cli_format_deadline(expires, when, sizeof(when));
		cli_format_remaining(expires, now, left, sizeof(left));
	}
	fputs("This lets whoever holds the private half of this key log in "
	      "over SSH:\n", stderr);
	cli_field(stderr, "account:", cli_json_string(grant, "user"));
	cli_field(stderr, "key:", cli_grant_key(grant, key, sizeof(key)));
	cli_field(stderr, "comment:", cli_json_string(grant, "comment"));
	cli_field(stderr, "until:", known ? when : "unknown");
	cli_field(stderr, "duration:", known ? left : "unknown");
	cli_field(stderr, "from:", from ? from : "any address");
	cli_field(stderr, "mode:", mode_words(cli_json_string(grant, "mode")));
	cli_field(stderr, "ticket:", cli_json_string(grant, "ticket"));
	if (signer)
		cli_field(stderr, "signed by:", signer);
	if (force)
		cli_field(stderr, "force:", "yes: granted even if doctor's "
			  "checks say sshd would not let the key in");
	fputs("The key is removed again at that time, or earlier with "
	      "'sshlease revoke'.\n", stderr);
}

/* Show the would-be grant and ask; SL_EXIT_FAILURE when the answer is no. */
static int grant_confirm(const json_t *grant, bool token, bool force,
			 int tty_fd)
{
	grant_preview(grant, token, force, time(NULL));
	if (cli_confirm(tty_fd, "Grant this access?"))
		return 0;
	fputs("Nothing was changed.\n", stderr);
	return SL_EXIT_FAILURE;
}

/* "a, b, c" of a JSON array of strings. */
static const char *join_strings(const json_t *array, char *buf, size_t size)
{
	size_t i, used = 0;
	json_t *item;

	buf[0] = '\0';
	json_array_foreach(array, i, item) {
		if (!json_is_string(item) || used >= size)
			continue;
		used += (size_t)snprintf(buf + used, size - used, "%s%s",
					 used ? ", " : "", json_string_value(item));
	}
	return buf[0] ? buf : "(none found)";
}

static void grant_block_host(const json_t *host, const json_t *sshd)
{
	char text[512];
	const json_t *port = json_object_get(sshd, "port");
	const json_t *keys = json_object_get(sshd, "host_keys");
	size_t i;
	json_t *item;

	cli_field(stdout, "host:", cli_json_string(host, "name"));
	cli_field(stdout, "addresses:",
		  join_strings(json_object_get(host, "addresses"), text,
			       sizeof(text)));
	if (json_is_integer(port))
		snprintf(text, sizeof(text), "%lld",
			 (long long)json_integer_value(port));
	cli_field(stdout, "ssh port:", json_is_integer(port) ? text : "unknown");
	/* Lets support check the host key on first contact, when known. */
	json_array_foreach(keys, i, item)
		cli_field(stdout, "host key:", cli_grant_key(item, text,
							     sizeof(text)));
	if (json_array_size(keys) == 0)
		cli_field(stdout, "host key:", "unknown (on the server, "
			  "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub "
			  "shows it)");
}

static void grant_block(const json_t *grant, bool token, const json_t *host,
			const json_t *sshd)
{
	char text[256], id[64];
	const char *from = cli_json_string(grant, "from");
	const char *signer = grant_signer(grant, token);
	time_t expires;

	cli_safe(id, sizeof(id), cli_json_string(grant, "id"), "?");
	fputs("----- BEGIN SSHLEASE GRANT -----\n", stdout);
	grant_block_host(host, sshd);
	cli_field(stdout, "account:", cli_json_string(grant, "user"));
	cli_field(stdout, "key:", cli_grant_key(grant, text, sizeof(text)));
	if (cli_grant_expires(grant, &expires)) {
		time_format_utc(expires, text, sizeof(text));
		cli_field(stdout, "expires:", text);
		time_format_local(expires, text, sizeof(text));
		cli_field(stdout, "local time:", text);
	}
	cli_field(stdout, "from:", from ? from : "any address");
	cli_field(stdout, "mode:", mode_words(cli_json_string(grant, "mode")));
	cli_field(stdout, "ticket:", cli_json_string(grant, "ticket"));
	if (signer)
		cli_field(stdout, "signed by:", signer);
	cli_field(stdout, "grant id:", id);
	snprintf(text, sizeof(text), "sudo sshlease revoke %s", id);
	cli_field(stdout, "revoke with:", text);
	fputs("----- END SSHLEASE GRANT -----\n", stdout);
}

/* The grant with "host": {name, addresses, ssh_port}, for --json. */
static int grant_output_json(json_t *grant, json_t *host, const json_t *sshd)
{
	json_t *port = json_object_get(sshd, "port");

	if (json_object_set(host, "ssh_port", port ? port : json_null()) != 0 ||
	    json_object_set(grant, "host", host) != 0)
		cli_out_of_memory();
	return cli_print_json(grant);
}

static int grant_output(const struct cli *cli, const struct grant_options *o,
			bool token, const json_t *reply, json_t *grant)
{
	json_t *host = cli_host_info();
	const json_t *sshd = json_object_get(reply, "sshd");
	char id[64];
	int r = SL_EXIT_OK;

	if (o->json) {
		r = grant_output_json(grant, host, sshd);
	} else {
		printf("%sGranted%s: grant %s. Paste this into the support "
		       "ticket:\n\n", cli_colour(cli->colour_out, CLI_GREEN),
		       cli_colour(cli->colour_out, CLI_RESET),
		       cli_safe(id, sizeof(id), cli_json_string(grant, "id"), "?"));
		grant_block(grant, token, host, sshd);
	}
	json_decref(host);
	return r;
}

/*
 * The real grant asks for the deadline the preview showed, as an end time:
 * resending --for (or the default duration) would count from a later now,
 * and the merchant would get a later deadline than the one confirmed. If
 * that time has passed meanwhile, the daemon refuses.
 */
static int grant_pin_deadline(const struct cli *cli, json_t *request,
			      const json_t *preview)
{
	time_t expires;

	if (!cli_grant_expires(preview, &expires)) {
		cli_error(cli, "sshleased answered without the deadline");
		return SL_EXIT_FAILURE;
	}
	json_object_del(request, "for");
	cli_json_set_integer(request, "until", (long long)expires);
	return 0;
}

static int grant_run(const struct cli *cli, const struct grant_options *o,
		     json_t *request, int tty_fd)
{
	json_t *reply = NULL, *grant = NULL;
	bool token = json_object_get(request, "token") != NULL;
	int r;

	r = grant_send(cli, request, true, &reply, &grant);
	if (r == 0 && tty_fd >= 0)
		r = grant_confirm(grant, token, o->force, tty_fd);
	if (r == 0)
		r = grant_pin_deadline(cli, request, grant);
	json_decref(reply);
	reply = NULL;
	if (r == 0)
		r = grant_send(cli, request, false, &reply, &grant);
	if (r == 0)
		r = grant_output(cli, o, token, reply, grant);
	json_decref(reply);
	return r;
}

int cmd_grant(struct cli *cli, int argc, char **argv)
{
	struct grant_options o = { 0 };
	json_t *request = NULL;
	char *key = NULL;
	size_t key_len;
	int tty_fd = -1, r;

	r = grant_parse(cli, argc, argv, &o);
	if (r != CLI_CONTINUE)
		return r;
	r = grant_open_tty(cli, &o, &tty_fd);
	if (r == 0)
		r = cli_key_input(cli, o.key_arg, &key, &key_len);
	if (r == 0)
		r = grant_request_build(cli, &o, key, &request);
	if (r == 0)
		r = grant_run(cli, &o, request, tty_fd);
	json_decref(request);
	free(key);
	if (tty_fd >= 0)
		close(tty_fd);
	return r;
}

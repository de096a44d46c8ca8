/* sshlease doctor: will a grant actually work on this host? */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "build-config.h"
#include "cli.h"
#include "config.h"
#include "doctor.h"
#include "protocol.h"

static const char doctor_help[] =
	"Usage: sshlease doctor [--user USER] [--sftp] [--json] [OPTIONS]\n\n"
	"Check, read-only, whether a grant would let a key in on this host:\n"
	"sshd answers and which expiry-time form it reads, its effective\n"
	"settings (PubkeyAuthentication, AuthorizedKeysFile, StrictModes,\n"
	"Subsystem sftp, AllowUsers and the like), the account (locked,\n"
	"expired, login shell, home directory permissions), the clock, and\n"
	"whether sshleased answers. One line per check: ok, warn or fail,\n"
	"its name and what was found, then for warn and fail what to do.\n\n"
	"Run it as root for the full picture: without root, sshd -T,\n"
	"/etc/shadow and the account's files cannot be read, and those\n"
	"checks only warn.\n\n"
	"Options:\n"
	"  -u, --user USER     also check this account (else host-wide only)\n"
	"  --sftp              check for an SFTP-only grant (else the config's\n"
	"                      [grant] mode)\n"
	"  --json              print the report as one JSON object\n"
	"  --config FILE       the config for [sshd] port and expiry_format\n"
	"                      (default: " SSHLEASE_CONFIG_PATH ")\n"
	"  --sshd PATH         the sshd binary to ask (default: /usr/sbin/sshd)\n"
	"  --sshd-config FILE  sshd's config file, passed as sshd -f FILE\n"
	"                      (default: sshd's own)\n"
	"  -h, --help          show this help\n\n"
	"Exit codes: 0 nothing failed (warnings allowed), 1 some check failed,\n"
	"2 usage error.\n";

/* The check this command adds to doctor_run's. */
#define DOCTOR_DAEMON "daemon-answers"
#define DOCTOR_DAEMON_HOME "daemon-writes-home"
/* And the one for a config file that cannot be used. */
#define DOCTOR_CONFIG "config"

struct doctor_cli_options {
	const char *user, *config, *sshd, *sshd_config;
	bool sftp, json;
};

static int doctor_parse(struct cli *cli, int argc, char **argv,
			struct doctor_cli_options *o)
{
	enum { OPT_SFTP = 0x100, OPT_JSON, OPT_CONFIG, OPT_SSHD,
	       OPT_SSHD_CONFIG };
	static const struct option options[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "sftp", no_argument, NULL, OPT_SFTP },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "sshd", required_argument, NULL, OPT_SSHD },
		{ "sshd-config", required_argument, NULL, OPT_SSHD_CONFIG },
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ 0 },
	};
	int opt, r = 0;

	while (r == 0 &&
	       (opt = cli_getopt(cli, argc, argv, ":u:h", options)) != -1) {
		switch (opt) {
		case 'u':
			r = cli_set_once(cli, &o->user, optarg, "--user");
			break;
		case OPT_SFTP: o->sftp = true; break;
		case OPT_JSON: o->json = true; break;
		case OPT_CONFIG:
			r = cli_set_once(cli, &o->config, optarg, "--config");
			break;
		case OPT_SSHD:
			r = cli_set_once(cli, &o->sshd, optarg, "--sshd");
			break;
		case OPT_SSHD_CONFIG:
			r = cli_set_once(cli, &o->sshd_config, optarg,
					 "--sshd-config");
			break;
		case CLI_OPT_HELP: return cli_help(doctor_help);
		default: return SL_EXIT_USAGE;
		}
	}
	if (r != 0)
		return r;
	if (cli_operands(cli, argc, argv, 0, "") != 0)
		return SL_EXIT_USAGE;
	if (o->user && o->user[0] == '\0')
		return cli_usage_error(cli, "--user needs an account name");
	if (o->sshd && o->sshd[0] != '/')
		return cli_usage_error(cli, "--sshd needs an absolute path");
	if (o->sshd_config && o->sshd_config[0] == '\0')
		return cli_usage_error(cli, "--sshd-config needs a file name");
	return CLI_CONTINUE;
}

/*
 * The config for [sshd] port, expiry_format and the mode; a config that
 * cannot be used is a check of its own (the defaults are used instead).
 * Returns 0 or -ENOMEM; *out is always a config.
 */
static int doctor_config(struct doctor_report *report, const char *path,
			 bool explicit_file, struct sshlease_config **out)
{
	char shown[CLI_TEXT_CAP + 1], first[CLI_TEXT_CAP + 1];
	char **problems = NULL;
	size_t n = 0;
	int r = config_load(path, !explicit_file, out, &problems);

	cli_safe(shown, sizeof(shown), path, "");
	if (r == -ENOMEM)
		return r;
	if (r == 0)
		return 0;
	*out = config_new_defaults();
	if (!*out) {
		config_problems_free(problems);
		return -ENOMEM;
	}
	for (; problems && problems[n]; n++)
		;
	if (r == SL_REFUSED)
		r = doctor_report_add(report, DOCTOR_CONFIG, DOCTOR_FAIL, false,
				      "Fix it (sshlease check-config shows every "
				      "problem); sshleased refuses it.",
				      "%.200s has %zu problem%s, the defaults were "
				      "used here: %.200s", shown, n,
				      n == 1 ? "" : "s",
				      cli_safe(first, sizeof(first),
					       n ? problems[0] : NULL, "?"));
	else if (r == -EACCES && geteuid() != 0)
		r = doctor_report_add(report, DOCTOR_CONFIG, DOCTOR_WARN, false,
				      "Run doctor as root.",
				      "%.200s cannot be read without root; the "
				      "defaults were used", shown);
	else
		r = doctor_report_add(report, DOCTOR_CONFIG, DOCTOR_FAIL, false,
				      "Name a readable config file.",
				      "cannot read %.200s: %s; the defaults were "
				      "used", shown,
				      strerror(r == SL_NOT_FOUND ? ENOENT : -r));
	config_problems_free(problems);
	return r;
}

/* The socket to ask: --socket or $SSHLEASE_SOCKET, else the config's. */
static const char *doctor_socket(const struct cli *cli,
				 const struct sshlease_config *config)
{
	if (cli->socket_given || !config->socket)
		return cli->socket_path;
	return config->socket;
}

/* "daemon answers": a status request over the control socket. */
static int check_daemon(struct doctor_report *report, const struct cli *cli,
			const struct sshlease_config *config)
{
	struct cli asked = *cli;
	json_t *request = cli_request_new("status"), *reply = NULL;
	char path[CLI_TEXT_CAP + 1], text[CLI_TEXT_CAP + 1];
	int r;

	asked.socket_path = doctor_socket(cli, config);
	cli_safe(path, sizeof(path), asked.socket_path, "");
	r = cli_call_quiet(&asked, request, &reply);
	json_decref(request);
	if (r == 0 && json_is_true(json_object_get(reply, "ok")))
		r = doctor_report_add(report, DOCTOR_DAEMON, DOCTOR_OK, false,
				      NULL, "sshleased %.64s answers on %.200s",
				      cli_safe(text, 65, cli_json_string(reply,
						"version"), "?"), path);
	else if (r == 0)
		r = doctor_report_add(report, DOCTOR_DAEMON, DOCTOR_WARN, false,
				      "Run doctor with sudo, or as a member of "
				      "the daemon's socket_group.",
				      "sshleased answers on %.200s but refused "
				      "this caller: %.200s", path,
				      cli_safe(text, sizeof(text),
					       cli_json_string(reply, "message"),
					       "no reason given"));
	else if (r == -EACCES || r == -EPERM)
		r = doctor_report_add(report, DOCTOR_DAEMON, DOCTOR_WARN, false,
				      "Run doctor with sudo, or as a member of "
				      "the daemon's socket_group.",
				      "cannot reach sshleased at %.200s: %s",
				      path, strerror(-r));
	else
		r = doctor_report_add(report, DOCTOR_DAEMON, DOCTOR_FAIL, false,
				      "Start it: sudo systemctl start sshleased "
				      "(or run sudo sshleased where systemd is "
				      "not available).",
				      "sshleased does not answer on %.200s: %s",
				      path, strerror(-r));
	json_decref(reply);
	return r;
}

/*
 * "daemon writes home": the engine's walk for a grant, run by sshleased in
 * its own view of the file system (the "check" op). It differs from
 * home-permissions when the unit's sandbox makes the home read-only for
 * the daemon; then the daemon's answer carries the drop-in that allows it.
 * Only asked when the daemon answered.
 */
static int check_daemon_home(struct doctor_report *report, const struct cli *cli,
			     const struct sshlease_config *config, const char *user)
{
	struct cli asked = *cli;
	json_t *request = cli_request_new("check"), *reply = NULL;
	char name[65], problem[CLI_TEXT_CAP + 1], fix[CLI_TEXT_CAP + 1];
	const char *why;
	int r;

	asked.socket_path = doctor_socket(cli, config);
	cli_json_set_string(request, "user", user);
	cli_safe(name, sizeof(name), user, "");
	r = cli_call_quiet(&asked, request, &reply);
	json_decref(request);
	if (r != 0 || !json_is_true(json_object_get(reply, "ok"))) {
		/* An older daemon, or the account unknown to it: say what it
		 * said, as a warning (account and daemon-answers judge those). */
		why = r != 0 ? strerror(-r) : cli_json_string(reply, "message");
		r = doctor_report_add(report, DOCTOR_DAEMON_HOME, DOCTOR_WARN, false,
				      NULL, "sshleased could not check the files of %s: %.200s",
				      name, cli_safe(problem, sizeof(problem), why,
						     "no reason given"));
	} else if (!cli_json_string(reply, "problem")) {
		r = doctor_report_add(report, DOCTOR_DAEMON_HOME, DOCTOR_OK, true,
				      NULL, "sshleased can write the authorized_keys of %s",
				      name);
	} else {
		why = cli_json_string(reply, "fix");
		r = doctor_report_add(report, DOCTOR_DAEMON_HOME, DOCTOR_FAIL, true,
				      why ? cli_safe(fix, sizeof(fix), why, "") : NULL,
				      "sshleased cannot write the authorized_keys of %s: %s",
				      name, cli_safe(problem, sizeof(problem),
						     cli_json_string(reply, "problem"), ""));
	}
	json_decref(reply);
	return r;
}

static const char *status_colour(const struct cli *cli, enum doctor_status s)
{
	switch (s) {
	case DOCTOR_OK: return cli_colour(cli->colour_out, CLI_GREEN);
	case DOCTOR_WARN: return cli_colour(cli->colour_out, CLI_YELLOW);
	case DOCTOR_FAIL: break;
	}
	return cli_colour(cli->colour_out, CLI_RED);
}

/* "A grant for USER would be refused: a, b (...)" when checks that block
 * a grant failed. */
static void doctor_print_blockers(const struct doctor_report *report,
				  const char *user)
{
	char name[64];
	size_t n = 0;

	for (size_t i = 0; i < report->n; i++) {
		const struct doctor_result *c = &report->results[i];

		if (c->status != DOCTOR_FAIL || !c->blocks_grant)
			continue;
		if (n++ == 0)
			printf("A grant for %s would be refused because of: ",
			       cli_safe(name, sizeof(name), user, "?"));
		else
			fputs(", ", stdout);
		fputs(cli_safe(name, sizeof(name), c->name, "?"), stdout);
	}
	if (n)
		fputs(" (fix it, or grant --force if you know better).\n", stdout);
}

static void doctor_print(const struct cli *cli, const struct doctor_report *report,
			 const char *user)
{
	char message[512], name[64], fix[512];
	size_t counts[3] = { 0 };

	for (size_t i = 0; i < report->n; i++) {
		const struct doctor_result *c = &report->results[i];

		counts[c->status]++;
		printf("%s%-4s%s  %-23s  %s\n", status_colour(cli, c->status),
		       doctor_status_name(c->status),
		       cli_colour(cli->colour_out, CLI_RESET),
		       cli_safe(name, sizeof(name), c->name, "?"),
		       cli_safe(message, sizeof(message), c->message, ""));
		if (c->status != DOCTOR_OK && c->fix)
			printf("      %-23s  fix: %s\n", "",
			       cli_safe(fix, sizeof(fix), c->fix, ""));
	}
	printf("\n%zu ok, %zu warning%s, %zu failure%s.\n", counts[DOCTOR_OK],
	       counts[DOCTOR_WARN], counts[DOCTOR_WARN] == 1 ? "" : "s",
	       counts[DOCTOR_FAIL], counts[DOCTOR_FAIL] == 1 ? "" : "s");
	if (user)
		doctor_print_blockers(report, user);
}

static int doctor_output(const struct cli *cli, const struct doctor_cli_options *o,
			 const struct doctor_report *report)
{
	json_t *json;
	int r;

	if (!o->json) {
		doctor_print(cli, report, o->user);
		return SL_EXIT_OK;
	}
	json = doctor_report_to_json(report);
	if (!json)
		cli_out_of_memory();
	r = cli_print_json(json);
	json_decref(json);
	return r;
}

int cmd_doctor(struct cli *cli, int argc, char **argv)
{
	struct doctor_cli_options o = { 0 };
	struct sshlease_config *config = NULL;
	struct doctor_report *report = NULL, *extra = doctor_report_new();
	struct doctor_options options = { 0 };
	int r;

	if (!extra)
		cli_out_of_memory();
	r = doctor_parse(cli, argc, argv, &o);
	if (r != CLI_CONTINUE)
		goto out;
	if (geteuid() != 0)
		fputs("sshlease: note: not running as root: sshd -T, "
		      "/etc/shadow and the account's files cannot be read, so "
		      "those checks only warn. "
		      "Run 'sudo sshlease doctor' for the full picture.\n", stderr);
	r = doctor_config(extra, o.config ? o.config : SSHLEASE_CONFIG_PATH,
			  o.config != NULL, &config);
	if (r == -ENOMEM)
		cli_out_of_memory();
	options.user = o.user;
	options.mode = o.sftp ? AUTHKEYS_MODE_SFTP : config->mode;
	options.sshd.sshd_path = o.sshd;
	options.sshd.config_path = o.sshd_config;
	options.port = config->sshd_port;
	options.expiry_format = config->expiry_format;
	r = doctor_run(&options, &report);
	if (r == 0)
		r = check_daemon(report, cli, config);
	if (r == 0 && o.user &&
	    doctor_report_find(report, DOCTOR_DAEMON)->status == DOCTOR_OK)
		r = check_daemon_home(report, cli, config, o.user);
	/* The config's own finding goes last, beside the daemon's. */
	for (size_t i = 0; r == 0 && i < extra->n; i++)
		r = doctor_report_add(report, extra->results[i].name,
				      extra->results[i].status, false,
				      extra->results[i].fix, "%s",
				      extra->results[i].message);
	if (r == -ENOMEM)
		cli_out_of_memory();
	if (r < 0) {
		cli_error(cli, "doctor could not run: %s", strerror(-r));
		r = SL_EXIT_FAILURE;
		goto out;
	}
	r = doctor_output(cli, &o, report);
	if (r == SL_EXIT_OK && doctor_report_failed(report))
		r = SL_EXIT_FAILURE;
out:
	doctor_report_free(report);
	doctor_report_free(extra);
	config_free(config);
	return r;
}

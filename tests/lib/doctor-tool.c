/*
 * doctor-tool: a small command line over the sshd probe and doctor, so the
 * integration tests can drive them from bash against a real sshd.
 *
 *   doctor-tool probe [COMMON]
 *       prints "source probe|sshd -V|none", "version MAJOR.MINOR|unknown",
 *       "port N", "address A", "software TEXT", then one
 *       "host-key TYPE FINGERPRINT" per host key; exit 0, or 1 when nothing
 *       was learnt
 *   doctor-tool run [--user U] [--mode shell|sftp] [--json] [COMMON]
 *       prints one "STATUS NAME: MESSAGE" line per check (or the JSON
 *       report); exit 1 when a check failed, else 0
 *   doctor-tool blockers --user U [--mode shell|sftp] [COMMON]
 *       prints "blocker NAME: MESSAGE" and exits 3, or "none" and exits 0
 *
 * COMMON: [--sshd PATH] [--sshd-config FILE] [--port N]
 *         [--expiry auto|utc|local|none] [--timeout SECONDS]
 * Exit 2 on a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common.h"
#include "doctor.h"
#include "sshd.h"

#define TOOL "doctor-tool"

static void usage(void)
{
	fputs("usage: " TOOL " probe [COMMON]\n"
	      "       " TOOL " run [--user U] [--mode shell|sftp] [--json] [COMMON]\n"
	      "       " TOOL " blockers --user U [--mode shell|sftp] [COMMON]\n"
	      "COMMON: [--sshd PATH] [--sshd-config FILE] [--port N]"
	      " [--expiry auto|utc|local|none] [--timeout SECONDS]\n",
	      stderr);
}

static bool parse_unsigned(const char *text, unsigned max, unsigned *out)
{
	char *end;
	unsigned long value;

	errno = 0;
	value = strtoul(text, &end, 10);
	if (errno || end == text || *end || text[0] == '-' || value > max)
		return false;
	*out = (unsigned)value;
	return true;
}

static int cmd_probe(const struct doctor_options *o)
{
	struct sshd_probe_options probe = { .exec = o->sshd, .port = o->port };
	struct sshd_info info;
	const char *why = NULL;
	int r = sshd_probe(&probe, &info, &why);

	if (r < 0) {
		fprintf(stderr, TOOL ": probe failed: %s\n", strerror(-r));
		return 1;
	}
	printf("source %s\n", info.source == SSHD_SOURCE_PROBE  ? "probe" :
			      info.source == SSHD_SOURCE_BINARY ? "sshd -V" :
								  "none");
	if (sshd_version_known(&info.version))
		printf("version %u.%u\n", info.version.major, info.version.minor);
	else
		printf("version unknown\n");
	printf("port %u\n", info.port);
	printf("address %s\n", info.address);
	printf("software %s\n", info.software);
	printf("probe-error %s\n", info.probe_error);
	for (size_t i = 0; i < info.n_host_keys; i++)
		printf("host-key %s %s\n", info.host_keys[i].type,
		       info.host_keys[i].fingerprint);
	if (r != 0)
		fprintf(stderr, TOOL ": %s\n", why);
	return r == 0 ? 0 : 1;
}

static int cmd_run(const struct doctor_options *o, bool json)
{
	struct doctor_report *report = NULL;
	int r = doctor_run(o, &report);

	if (r < 0) {
		fprintf(stderr, TOOL ": doctor failed: %s\n", strerror(-r));
		return 2;
	}
	if (json) {
		json_t *j = doctor_report_to_json(report);
		char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

		if (!text) {
			fprintf(stderr, TOOL ": out of memory\n");
			json_decref(j);
			doctor_report_free(report);
			return 2;
		}
		puts(text);
		free(text);
		json_decref(j);
	} else {
		for (size_t i = 0; i < report->n; i++) {
			const struct doctor_result *c = &report->results[i];

			printf("%s %s: %s%s%s\n", doctor_status_name(c->status),
			       c->name, c->message, c->fix ? " | fix: " : "",
			       c->fix ? c->fix : "");
		}
	}
	r = doctor_report_failed(report) ? 1 : 0;
	doctor_report_free(report);
	return r;
}

static int cmd_blockers(const struct doctor_options *o)
{
	struct doctor_result *blocker = NULL;
	int r;

	if (!o->user) {
		usage();
		return 2;
	}
	r = doctor_grant_blockers(o, &blocker);
	if (r < 0) {
		fprintf(stderr, TOOL ": blockers failed: %s\n", strerror(-r));
		return 2;
	}
	if (r == 0) {
		puts("none");
		return 0;
	}
	printf("blocker %s: %s | fix: %s\n", blocker->name, blocker->message,
	       blocker->fix ? blocker->fix : "");
	doctor_result_free(blocker);
	return 3;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "mode", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "sshd", required_argument, NULL, 's' },
		{ "sshd-config", required_argument, NULL, 'f' },
		{ "port", required_argument, NULL, 'p' },
		{ "expiry", required_argument, NULL, 'e' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct doctor_options o = { .mode = AUTHKEYS_MODE_SHELL };
	const char *command;
	bool json = false;
	int c;

	if (argc < 2) {
		usage();
		return 2;
	}
	command = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			o.user = optarg;
			break;
		case 'm':
			if (strcmp(optarg, "shell") == 0)
				o.mode = AUTHKEYS_MODE_SHELL;
			else if (strcmp(optarg, "sftp") == 0)
				o.mode = AUTHKEYS_MODE_SFTP;
			else
				goto bad;
			break;
		case 'j':
			json = true;
			break;
		case 's':
			o.sshd.sshd_path = optarg;
			break;
		case 'f':
			o.sshd.config_path = optarg;
			break;
		case 'p':
			if (!parse_unsigned(optarg, 65535, &o.port))
				goto bad;
			break;
		case 'e':
			if (strcmp(optarg, "auto") == 0)
				o.expiry_format = CONFIG_EXPIRY_AUTO;
			else if (strcmp(optarg, "utc") == 0)
				o.expiry_format = CONFIG_EXPIRY_UTC;
			else if (strcmp(optarg, "local") == 0)
				o.expiry_format = CONFIG_EXPIRY_LOCAL;
			else if (strcmp(optarg, "none") == 0)
				o.expiry_format = CONFIG_EXPIRY_NONE;
			else
				goto bad;
			break;
		case 't':
			if (!parse_unsigned(optarg, 600, &o.sshd.timeout))
				goto bad;
			break;
		default:
			goto bad;
		}
	}
	if (optind != argc)
		goto bad;
	if (strcmp(command, "probe") == 0)
		return cmd_probe(&o);
	if (strcmp(command, "run") == 0)
		return cmd_run(&o, json);
	if (strcmp(command, "blockers") == 0)
		return cmd_blockers(&o);
bad:
	usage();
	return 2;
}

/* Shared parts of the sshlease commands: messages, options, output. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "timeutil.h"

static void cli_vmessage(const struct cli *cli, const char *label,
			 const char *fmt, va_list ap) SL_PRINTF(3, 0);

static void cli_vmessage(const struct cli *cli, const char *label,
			 const char *fmt, va_list ap)
{
	fputs("sshlease: ", stderr);
	if (label)
		fprintf(stderr, "%s%s:%s ", cli_colour(cli->colour_err, CLI_RED),
			label, cli_colour(cli->colour_err, CLI_RESET));
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_out_of_memory(void)
{
	fputs("sshlease: out of memory\n", stderr);
	exit(SL_EXIT_FAILURE);
}

void cli_error(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmessage(cli, NULL, fmt, ap);
	va_end(ap);
}

void cli_error_as(const struct cli *cli, const char *label, const char *fmt,
		  ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmessage(cli, label, fmt, ap);
	va_end(ap);
}

int cli_refused(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmessage(cli, "refused", fmt, ap);
	va_end(ap);
	return SL_EXIT_REFUSED;
}

int cli_usage_error(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmessage(cli, NULL, fmt, ap);
	va_end(ap);
	if (cli->command)
		fprintf(stderr, "Try 'sshlease %s --help'.\n", cli->command);
	else
		fputs("Try 'sshlease --help'.\n", stderr);
	return SL_EXIT_USAGE;
}

int cli_getopt(const struct cli *cli, int argc, char **argv,
	       const char *shortopts, const struct option *longopts)
{
	const char *word;
	char name[64];
	int opt;

	opterr = 0;
	opt = getopt_long(argc, argv, shortopts, longopts, NULL);
	if (opt != '?' && opt != ':')
		return opt;
	/* A long option is the word getopt just stepped past; a short one
	 * (perhaps inside "-yx") is optopt. Either is named sanitised. */
	word = optind > 0 && optind <= argc ? argv[optind - 1] : "";
	if (strncmp(word, "--", 2) == 0)
		cli_safe(name, sizeof(name), word, "");
	else
		snprintf(name, sizeof(name), "-%c",
			 optopt > 0x20 && optopt < 0x7f ? optopt : '?');
	if (opt == ':')
		cli_usage_error(cli, "option '%s' needs a value", name);
	else if (optopt != 0 && strchr(name, '='))
		cli_usage_error(cli, "option '%s' takes no value", name);
	else
		cli_usage_error(cli, "unknown option '%s'", name);
	return CLI_OPT_BAD;
}

int cli_set_once(const struct cli *cli, const char **slot, const char *value,
		 const char *option)
{
	if (*slot)
		return cli_usage_error(cli, "%s given twice", option);
	*slot = value;
	return 0;
}

int cli_parse_json_only(const struct cli *cli, int argc, char **argv,
			const char *help, bool *json)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ 0 },
	};
	int opt;

	while ((opt = cli_getopt(cli, argc, argv, ":h", options)) != -1) {
		if (opt == CLI_OPT_HELP)
			return cli_help(help);
		if (opt != 'j')
			return SL_EXIT_USAGE;
		*json = true;
	}
	return CLI_CONTINUE;
}

int cli_operands(const struct cli *cli, int argc, char **argv, int want,
		 const char *what)
{
	char extra[64];

	if (argc - optind < want)
		return cli_usage_error(cli, "%s is missing", what);
	if (argc - optind > want)
		return cli_usage_error(cli, "unexpected argument '%s'",
				       cli_safe(extra, sizeof(extra),
						argv[optind + want], ""));
	return 0;
}

int cli_help(const char *text)
{
	fputs(text, stdout);
	return SL_EXIT_OK;
}

int cli_parse_until(const struct cli *cli, const char *text, time_t *out)
{
	char shown[80];
	const char *why = NULL;

	if (time_parse(text, out, &why) == 0)
		return 0;
	return cli_refused(cli, "--until '%s': %s",
			   cli_safe(shown, sizeof(shown), text, ""),
			   why ? why : "not a time");
}

void cli_request_deadline(json_t *request, const char *for_text,
			  const time_t *until)
{
	if (for_text)
		cli_json_set_string(request, "for", for_text);
	if (until)
		cli_json_set_integer(request, "until", (long long)*until);
}

const char *cli_colour(bool on, enum cli_colour colour)
{
	static const char *const codes[] = {
		[CLI_RESET] = "\033[0m",   [CLI_BOLD] = "\033[1m",
		[CLI_RED] = "\033[1;31m",  [CLI_GREEN] = "\033[32m",
		[CLI_YELLOW] = "\033[33m",
	};

	return on ? codes[colour] : "";
}

const char *cli_safe(char *buf, size_t size, const char *text,
		     const char *fallback)
{
	return log_safe(buf, size, text ? text : fallback);
}

void cli_format_deadline(time_t t, char *buf, size_t size)
{
	char local[64], utc[32];

	time_format_local(t, local, sizeof(local));
	time_format_utc(t, utc, sizeof(utc));
	snprintf(buf, size, "%s (%s)", local, utc);
}

void cli_format_remaining(time_t t, time_t now, char *buf, size_t size)
{
	if (t <= now)
		snprintf(buf, size, "expired");
	else
		duration_format((int64_t)(t - now), buf, size);
}

void cli_field(FILE *f, const char *label, const char *value)
{
	char safe[CLI_TEXT_CAP + 1];

	fprintf(f, "  %-12s %s\n", label, cli_safe(safe, sizeof(safe), value, "-"));
}

int cli_print_json(const json_t *value)
{
	if (json_dumpf(value, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0)
		return SL_EXIT_FAILURE;
	fputc('\n', stdout);
	return SL_EXIT_OK;
}

int cli_finish_output(const struct cli *cli, int code)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return code;
	cli_error(cli, "cannot write output: %s", strerror(errno));
	return SL_EXIT_FAILURE;
}

const char *cli_json_string(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

bool cli_json_time(const json_t *obj, const char *key, time_t *out)
{
	const json_t *value = json_object_get(obj, key);
	const char *why = NULL;

	if (json_is_integer(value)) {
		*out = (time_t)json_integer_value(value);
		return true;
	}
	return json_is_string(value) &&
	       time_parse(json_string_value(value), out, &why) == 0;
}

bool cli_grant_expires(const json_t *grant, time_t *out)
{
	return cli_json_time(grant, "expires_unix", out) ||
	       cli_json_time(grant, "expires", out);
}

/* A time field of an answer as "local (UTC)", or NULL when absent. */
static const char *cli_time_field(const json_t *obj, const char *key,
				  char *buf, size_t size)
{
	time_t t;

	if (!cli_json_time(obj, key, &t))
		return NULL;
	cli_format_deadline(t, buf, size);
	return buf;
}

static void cli_grant_print_by(FILE *f, const json_t *grant)
{
	const json_t *uid = json_object_get(grant, "by_uid");
	const char *user = cli_json_string(grant, "by_user");
	char by[128];

	if (json_is_integer(uid))
		snprintf(by, sizeof(by), "%.64s (uid %lld)", user ? user : "?",
			 (long long)json_integer_value(uid));
	else
		snprintf(by, sizeof(by), "%.64s", user ? user : "-");
	cli_field(f, "granted by:", by);
}

const char *cli_grant_key(const json_t *grant, char *buf, size_t size)
{
	const char *type = cli_json_string(grant, "key_type");
	const char *fingerprint = cli_json_string(grant, "fingerprint");
	char safe_type[41], safe_fingerprint[81];

	snprintf(buf, size, "%s %s",
		 cli_safe(safe_type, sizeof(safe_type), type, "?"),
		 cli_safe(safe_fingerprint, sizeof(safe_fingerprint),
			  fingerprint, "?"));
	return buf;
}

void cli_grant_print(FILE *f, const json_t *grant, time_t now)
{
	char key[160], when[128], left[64];
	const char *from = cli_json_string(grant, "from");
	time_t expires;

	cli_field(f, "id:", cli_json_string(grant, "id"));
	cli_field(f, "account:", cli_json_string(grant, "user"));
	cli_field(f, "key:", cli_grant_key(grant, key, sizeof(key)));
	cli_field(f, "comment:", cli_json_string(grant, "comment"));
	if (cli_grant_expires(grant, &expires)) {
		cli_format_deadline(expires, when, sizeof(when));
		cli_format_remaining(expires, now, left, sizeof(left));
		cli_field(f, "expires:", when);
		cli_field(f, "remaining:", left);
	}
	cli_field(f, "from:", from ? from : "any address");
	cli_field(f, "mode:", cli_json_string(grant, "mode"));
	cli_field(f, "ticket:", cli_json_string(grant, "ticket"));
	if (cli_json_string(grant, "signer"))
		cli_field(f, "signer:", cli_json_string(grant, "signer"));
	cli_field(f, "created:", cli_time_field(grant, "created", when,
						sizeof(when)));
	cli_grant_print_by(f, grant);
}

/*
 * authkeys-tool: a small command line over the authorized_keys engine, so
 * the integration tests can drive it from bash (and under strace).
 *
 *   authkeys-tool --lock-dir DIR add USER LINE
 *   authkeys-tool --lock-dir DIR remove USER ID BLOB   prints lines removed
 *   authkeys-tool --lock-dir DIR remove-many USER ID:BLOB...
 *                        one edit; prints the total, then a count per pair
 *   authkeys-tool --lock-dir DIR list USER             "ID TYPE BLOB EXPIRY"
 *   authkeys-tool format ID TYPE BLOB DEADLINE [--sftp] [--from LIST]
 *                        [--expiry utc|local|none]     prints the line
 *   authkeys-tool newid                                prints a new id
 *
 * Exit codes: 0 done, 1 failure, 2 usage, 3 refused (reason on stderr),
 * 4 already present (add only). AUTHKEYS_TOOL_DEBUG=1 turns on debug logs.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "account.h"
#include "authkeys.h"
#include "common.h"
#include "log.h"

#define TOOL "authkeys-tool"

static void usage(void)
{
	fputs("usage: " TOOL " --lock-dir DIR add USER LINE\n"
	      "       " TOOL " --lock-dir DIR remove USER ID BLOB\n"
	      "       " TOOL " --lock-dir DIR remove-many USER ID:BLOB...\n"
	      "       " TOOL " --lock-dir DIR list USER\n"
	      "       " TOOL " format ID TYPE BLOB DEADLINE_UNIX [--sftp]"
	      " [--from LIST] [--expiry utc|local|none]\n"
	      "       " TOOL " newid\n",
	      stderr);
}

/* Print text read from a file with every non-printable byte as '?'. Not
 * length-capped: the tests compare whole key blobs. */
static void print_safe(const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		putchar(*p >= 0x20 && *p < 0x7f ? *p : '?');
}

/* Translate an engine return into the tool's exit code, saying why. */
static int exit_for(const char *what, int r, const char *why)
{
	if (r == 0)
		return SL_EXIT_OK;
	if (r < 0) {
		/* The engine names the step that failed when it can. */
		if (why)
			fprintf(stderr, TOOL ": %s failed: %.200s: %s\n", what, why,
				strerror(-r));
		else
			fprintf(stderr, TOOL ": %s failed: %s\n", what, strerror(-r));
		return SL_EXIT_FAILURE;
	}
	switch (r) {
	case SL_REFUSED:
		if (!why) {
			/* The contract says a refusal always has a reason. */
			fprintf(stderr, TOOL ": %s refused without a reason\n", what);
			return SL_EXIT_FAILURE;
		}
		fprintf(stderr, TOOL ": %s refused: %.200s\n", what, why);
		return SL_EXIT_REFUSED;
	case SL_EXISTS:
		fprintf(stderr, TOOL ": %s: key already present\n", what);
		return 4;
	case SL_NOT_FOUND:
		fprintf(stderr, TOOL ": %s: no such account\n", what);
		return SL_EXIT_REFUSED;
	case SL_CHANGED:
		fprintf(stderr, TOOL ": %s: file kept changing, gave up\n", what);
		return SL_EXIT_FAILURE;
	default:
		fprintf(stderr, TOOL ": %s: unexpected result %d\n", what, r);
		return SL_EXIT_FAILURE;
	}
}

static int parse_time(const char *text, time_t *out)
{
	char *end = NULL;
	long long value;

	errno = 0;
	value = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || value < 0)
		return -EINVAL;
	*out = (time_t)value;
	return 0;
}

static int cmd_format(int argc, char **argv)
{
	struct authkeys_line_spec spec = {
		.expiry = AUTHKEYS_EXPIRY_UTC,
		.mode = AUTHKEYS_MODE_SHELL,
	};
	const char *why = NULL;
	char *line = NULL;
	int r;

	if (argc < 4) {
		usage();
		return SL_EXIT_USAGE;
	}
	spec.id = argv[0];
	spec.key_type = argv[1];
	spec.blob_base64 = argv[2];
	if (parse_time(argv[3], &spec.deadline) < 0) {
		fprintf(stderr, TOOL ": bad deadline (seconds since the epoch)\n");
		return SL_EXIT_USAGE;
	}
	for (int i = 4; i < argc; i++) {
		if (strcmp(argv[i], "--sftp") == 0) {
			spec.mode = AUTHKEYS_MODE_SFTP;
		} else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
			spec.from = argv[++i];
		} else if (strcmp(argv[i], "--expiry") == 0 && i + 1 < argc) {
			const char *e = argv[++i];

			if (strcmp(e, "utc") == 0)
				spec.expiry = AUTHKEYS_EXPIRY_UTC;
			else if (strcmp(e, "local") == 0)
				spec.expiry = AUTHKEYS_EXPIRY_LOCAL;
			else if (strcmp(e, "none") == 0)
				spec.expiry = AUTHKEYS_EXPIRY_NONE;
			else {
				usage();
				return SL_EXIT_USAGE;
			}
		} else {
			usage();
			return SL_EXIT_USAGE;
		}
	}
	r = authkeys_format_line(&spec, &line, &why);
	if (r == 0)
		printf("%s\n", line);
	free(line);
	return exit_for("format", r, why);
}

static int cmd_on_account(const char *lock_dir, const char *command,
			  int argc, char **argv)
{
	struct authkeys_ctx ctx = { .lock_dir = lock_dir };
	struct account *acct = NULL;
	struct authkeys_entry *entries = NULL;
	size_t n = 0, removed = 0;
	const char *why = NULL;
	int r, ret;

	if (!lock_dir || argc < 1) {
		usage();
		return SL_EXIT_USAGE;
	}
	r = account_lookup(argv[0], &acct, &why);
	if (r != 0) {
		ret = exit_for("account lookup", r, why);
		goto out;
	}
	if (strcmp(command, "add") == 0 && argc == 2) {
		r = authkeys_add(&ctx, acct, argv[1], &why);
		ret = exit_for("add", r, why);
	} else if (strcmp(command, "remove") == 0 && argc == 3) {
		r = authkeys_remove(&ctx, acct, argv[1], argv[2], &removed, &why);
		if (r == 0)
			printf("%zu\n", removed);
		ret = exit_for("remove", r, why);
	} else if (strcmp(command, "remove-many") == 0 && argc >= 2) {
		size_t count = (size_t)argc - 1, *each = calloc(count, sizeof(*each));
		struct authkeys_entry *pairs = calloc(count, sizeof(*pairs));

		r = each && pairs ? 0 : -ENOMEM;
		for (size_t k = 0; r == 0 && k < count; k++) {
			const char *pair = argv[k + 1], *colon = strchr(pair, ':');

			if (!colon || (size_t)(colon - pair) >= sizeof(pairs[k].id)) {
				free(each);
				free(pairs);
				usage();
				ret = SL_EXIT_USAGE;
				goto out;
			}
			memcpy(pairs[k].id, pair, (size_t)(colon - pair));
			pairs[k].blob_base64 = (char *)colon + 1;
		}
		if (r == 0)
			r = authkeys_remove_many(&ctx, acct, pairs, count, &removed, each, &why);
		if (r == 0) {
			printf("%zu\n", removed);
			for (size_t k = 0; k < count; k++)
				printf("%zu\n", each[k]);
		}
		ret = exit_for("remove-many", r, why);
		free(each);
		free(pairs);
	} else if (strcmp(command, "list") == 0 && argc == 1) {
		r = authkeys_list_managed(&ctx, acct, &entries, &n, &why);
		for (size_t i = 0; r == 0 && i < n; i++) {
			print_safe(entries[i].id);
			putchar(' ');
			print_safe(entries[i].key_type);
			putchar(' ');
			print_safe(entries[i].blob_base64);
			printf(" %lld\n", (long long)entries[i].expiry);
		}
		ret = exit_for("list", r, why);
	} else {
		usage();
		ret = SL_EXIT_USAGE;
	}
out:
	authkeys_entries_free(entries, n);
	account_free(acct);
	/* A lost stdout (full disk, closed pipe) must not look like success. */
	if (fflush(stdout) != 0 && ret == SL_EXIT_OK)
		ret = SL_EXIT_FAILURE;
	return ret;
}

int main(int argc, char **argv)
{
	const char *lock_dir = NULL;
	int i = 1;

	log_init(TOOL, LOG_TARGET_STDERR,
		 getenv("AUTHKEYS_TOOL_DEBUG") ? LOG_DEBUG : LOG_INFO);
	if (sodium_init() < 0) {
		fprintf(stderr, TOOL ": libsodium failed to initialise\n");
		return SL_EXIT_FAILURE;
	}
	if (i + 1 < argc && strcmp(argv[i], "--lock-dir") == 0) {
		lock_dir = argv[i + 1];
		i += 2;
	}
	if (i >= argc) {
		usage();
		return SL_EXIT_USAGE;
	}
	if (strcmp(argv[i], "newid") == 0 && i + 1 == argc) {
		char id[AUTHKEYS_ID_LEN + 1];

		authkeys_new_id(id);
		printf("%s\n", id);
		return fflush(stdout) == 0 ? SL_EXIT_OK : SL_EXIT_FAILURE;
	}
	if (strcmp(argv[i], "format") == 0) {
		int r = cmd_format(argc - i - 1, argv + i + 1);

		if (fflush(stdout) != 0 && r == SL_EXIT_OK)
			r = SL_EXIT_FAILURE;
		return r;
	}
	if (strcmp(argv[i], "add") == 0 || strcmp(argv[i], "remove") == 0 ||
	    strcmp(argv[i], "remove-many") == 0 || strcmp(argv[i], "list") == 0)
		return cmd_on_account(lock_dir, argv[i], argc - i - 1, argv + i + 1);
	usage();
	return SL_EXIT_USAGE;
}

/* sshlease restore-key: put back a key line removed as added during a
 * grant. */
#include "cli.h"

static const char restore_key_help[] =
	"Usage: sshlease restore-key [--json] USER FINGERPRINT\n\n"
	"Put back the key line with FINGERPRINT (SHA256:...) that sshleased\n"
	"removed from USER's key files because it was added while a grant of\n"
	"USER was live ('sshlease show ID' lists such lines with this command).\n"
	"The whole line goes back, as it was written, at the end of the file it\n"
	"was in; from then on it is the account's own line: it has no expiry and\n"
	"gives lasting access, so only root may do this.\n\n"
	"Options:\n"
	"  --json      print the answer as one JSON object\n"
	"  -h, --help  show this help\n\n"
	"Exit codes: 0 put back (or already there), 1 failure, 2 usage error,\n"
	"3 refused (no such removed key on record, or only part of the line\n"
	"was kept), 4 not root, 5 daemon not reachable.\n";

int cmd_restore_key(struct cli *cli, int argc, char **argv)
{
	char user[64], fp[80], file[80];
	json_t *request, *reply = NULL;
	bool json = false;
	int r;

	r = cli_parse_json_only(cli, argc, argv, restore_key_help, &json);
	if (r != CLI_CONTINUE)
		return r;
	r = cli_operands(cli, argc, argv, 2, "USER and FINGERPRINT");
	if (r != 0)
		return r;
	request = cli_request_new("restore_key");
	cli_json_set_string(request, "user", argv[optind]);
	cli_json_set_string(request, "fingerprint", argv[optind + 1]);
	r = cli_request(cli, request, &reply);
	json_decref(request);
	if (r != 0)
		return r;
	if (json) {
		r = cli_print_json(reply);
	} else {
		cli_safe(user, sizeof(user), cli_json_string(reply, "user"), "?");
		cli_safe(fp, sizeof(fp), cli_json_string(reply, "fingerprint"), "?");
		cli_safe(file, sizeof(file), cli_json_string(reply, "file"), "?");
		if (json_is_true(json_object_get(reply, "already")))
			printf("The key %s was already back in ~%s/.ssh/%s; it is the account's own line now.\n",
			       fp, user, file);
		else
			printf("Put the key %s back into ~%s/.ssh/%s; it is the account's own line now, with no expiry.\n",
			       fp, user, file);
	}
	json_decref(reply);
	return r;
}

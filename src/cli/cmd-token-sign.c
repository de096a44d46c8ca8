/* sshlease token sign: make a signed token for a key (support side). */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "cli.h"
#include "fsutil.h"
#include "key.h"
#include "timeutil.h"
#include "token.h"
#include "validate.h"

static const char sign_help[] =
	"Usage: sshlease token sign --signer FILE (--key KEY | --new-key OUT)\n"
	"                           [OPTIONS]\n\n"
	"Make a signed token that asks a merchant's sshleased for SSH access\n"
	"for one key, and print it on standard output as one line (sl1....).\n"
	"The merchant runs 'sudo sshlease grant TOKEN'; the token is accepted\n"
	"once, within its redeem window, on servers whose config trusts the\n"
	"signer (trusted_signer).\n\n"
	"Options:\n"
	"  --signer FILE      the signer's secret key (sshlease token keygen)\n"
	"  --key KEY          the public key to grant: 'type base64 [comment]'\n"
	"                     as one argument, @FILE to read it from FILE (a\n"
	"                     .pub file), or - from standard input\n"
	"  --new-key OUT      make a fresh Ed25519 key pair for this token:\n"
	"                     OUT (private, OpenSSH format, no passphrase, mode\n"
	"                     0600) and OUT.pub; log in with 'ssh -i OUT'.\n"
	"                     Existing files are never overwritten\n"
	"  --for DURATION     how long the access lasts once granted, e.g. 90m,\n"
	"                     48h, 7d, 1d12h (default: 48h); the server's\n"
	"                     max_duration still applies\n"
	"  --ticket REF       the support ticket, recorded with the grant\n"
	"  --from LIST        only from these comma-separated addresses/CIDRs\n"
	"  --sftp-only        SFTP only, no shell\n"
	"  -u, --user USER    only for this account (else the merchant names\n"
	"                     it with 'grant --user')\n"
	"  --host NAME        only on the host of this name (as hostname prints\n"
	"                     it; compared ignoring case)\n"
	"  --valid DURATION   how long the merchant has to redeem the token\n"
	"                     (default: 24h, at most 7d)\n"
	"  -h, --help         show this help\n\n"
	"Exit codes: 0 printed, 1 failure, 2 usage error, 3 refused (a bad\n"
	"key, duration, ticket, source list, account or host name, a signer\n"
	"key file that is not safe, an OUT that exists).\n";

/* --for when not given: the design's default_duration. */
#define SIGN_DEFAULT_DURATION (48 * 3600)

struct sign_options {
	const char *signer, *key_arg, *new_key, *for_text, *ticket, *from;
	const char *user, *host, *valid_text;
	bool sftp_only;
};

/* A fresh key pair for --new-key, held until the token is made. */
struct new_key {
	char *private_text; /* OpenSSH PEM form; wiped before it is freed */
	char *public_line;  /* "ssh-ed25519 BASE64 COMMENT" */
};

static void new_key_finish(struct new_key *k)
{
	if (k->private_text) {
		explicit_bzero(k->private_text, strlen(k->private_text));
		free(k->private_text);
	}
	free(k->public_line);
	*k = (struct new_key){ 0 };
}

enum { OPT_SIGNER = 0x100, OPT_KEY, OPT_NEW_KEY, OPT_FOR, OPT_TICKET,
       OPT_FROM, OPT_SFTP, OPT_HOST, OPT_VALID };

static int sign_option(struct cli *cli, int opt, struct sign_options *o)
{
	switch (opt) {
	case OPT_SIGNER: return cli_set_once(cli, &o->signer, optarg, "--signer");
	case OPT_KEY: return cli_set_once(cli, &o->key_arg, optarg, "--key");
	case OPT_NEW_KEY:
		return cli_set_once(cli, &o->new_key, optarg, "--new-key");
	case OPT_FOR: return cli_set_once(cli, &o->for_text, optarg, "--for");
	case OPT_TICKET:
		return cli_set_once(cli, &o->ticket, optarg, "--ticket");
	case OPT_FROM: return cli_set_once(cli, &o->from, optarg, "--from");
	case OPT_SFTP: o->sftp_only = true; return 0;
	case 'u': return cli_set_once(cli, &o->user, optarg, "--user");
	case OPT_HOST: return cli_set_once(cli, &o->host, optarg, "--host");
	case OPT_VALID:
		return cli_set_once(cli, &o->valid_text, optarg, "--valid");
	default: return SL_EXIT_USAGE;
	}
}

static int sign_parse(struct cli *cli, int argc, char **argv,
		      struct sign_options *o)
{
	static const struct option options[] = {
		{ "signer", required_argument, NULL, OPT_SIGNER },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "new-key", required_argument, NULL, OPT_NEW_KEY },
		{ "for", required_argument, NULL, OPT_FOR },
		{ "ticket", required_argument, NULL, OPT_TICKET },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "sftp-only", no_argument, NULL, OPT_SFTP },
		{ "host", required_argument, NULL, OPT_HOST },
		{ "valid", required_argument, NULL, OPT_VALID },
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, CLI_OPT_HELP },
		{ 0 },
	};
	int opt, r;

	while ((opt = cli_getopt(cli, argc, argv, ":u:h", options)) != -1) {
		if (opt == CLI_OPT_HELP)
			return cli_help(sign_help);
		r = sign_option(cli, opt, o);
		if (r != 0)
			return r;
	}
	if (cli_operands(cli, argc, argv, 0, "") != 0)
		return SL_EXIT_USAGE;
	if (!o->signer || o->signer[0] == '\0')
		return cli_usage_error(cli, "sign needs --signer FILE, the secret "
				       "key from 'sshlease token keygen'");
	if (!o->key_arg == !o->new_key)
		return cli_usage_error(cli, "give the key to grant with --key "
				       "KEY|@FILE|-, or --new-key OUT to make "
				       "one (one of the two)");
	if (o->new_key && o->new_key[0] == '\0')
		return cli_usage_error(cli, "--new-key needs a file name");
	return CLI_CONTINUE;
}

/* A duration option: refused with the option named. */
static int sign_duration(const struct cli *cli, const char *option,
			 const char *text, int64_t *out)
{
	char shown[80];
	const char *why = NULL;

	if (duration_parse(text, out, &why) == 0)
		return 0;
	return cli_refused(cli, "%s '%s': %s", option,
			   cli_safe(shown, sizeof(shown), text, ""), why);
}

/* Everything a token carries, checked here so a refusal names the option
 * (token_sign checks it all again). *from gets the canonical list. */
static int sign_check_claims(const struct cli *cli, const struct sign_options *o,
			     struct token_claims *c, char **from, int64_t *valid)
{
	char shown[80];
	const char *why = NULL;
	int r;

	c->duration = SIGN_DEFAULT_DURATION;
	if (o->for_text && sign_duration(cli, "--for", o->for_text, &c->duration))
		return SL_EXIT_REFUSED;
	*valid = TOKEN_VALID_DEFAULT;
	if (o->valid_text && sign_duration(cli, "--valid", o->valid_text, valid))
		return SL_EXIT_REFUSED;
	if (*valid > TOKEN_VALID_MAX)
		return cli_refused(cli, "--valid '%s': a token can be redeemed "
				   "for at most 7d after it is made",
				   cli_safe(shown, sizeof(shown), o->valid_text, ""));
	if (o->ticket && ticket_validate(o->ticket, &why) != 0)
		return cli_refused(cli, "--ticket: %s", why);
	if (o->user && !username_valid(o->user))
		return cli_refused(cli, "--user '%s' is not a valid account name",
				   cli_safe(shown, sizeof(shown), o->user, ""));
	if (o->from) {
		r = from_validate(o->from, from, &why);
		if (r == -ENOMEM)
			cli_out_of_memory();
		if (r != 0)
			return cli_refused(cli, "--from: %s", why);
	}
	c->ticket = o->ticket;
	c->from = *from;
	c->mode = o->sftp_only ? AUTHKEYS_MODE_SFTP : AUTHKEYS_MODE_SHELL;
	c->user = o->user;
	c->host = o->host;
	return 0;
}

static int sign_load_signer(const struct cli *cli, const char *path,
			    struct token_signer **out)
{
	char shown[CLI_TEXT_CAP + 1];
	const char *why = NULL;
	int r = token_signer_load(path, out, &why);

	cli_safe(shown, sizeof(shown), path, "");
	if (r == 0)
		return 0;
	if (r == SL_REFUSED)
		return cli_refused(cli, "%s: %s", shown, why);
	cli_error(cli, "cannot read the signer key %s: %s%s", shown,
		  strerror(r == SL_NOT_FOUND ? ENOENT : -r),
		  r == SL_NOT_FOUND ? " (make one with 'sshlease token keygen "
				      "--output FILE')" : "");
	return SL_EXIT_FAILURE;
}

/* The --key argument, read and checked as the daemon will (every family;
 * the merchant's policy is applied when the token is redeemed). */
static int sign_read_key(const struct cli *cli, const char *arg, char **out)
{
	const struct key_policy any = { .allowed_families = KEY_FAMILIES_DEFAULT };
	struct sshlease_key *key = NULL;
	const char *why = NULL;
	char *text = NULL;
	size_t len = 0;
	int r;

	r = cli_key_input(cli, arg, &text, &len);
	if (r != 0)
		return r;
	r = key_parse(text, len, &any, &key, &why);
	if (r == -ENOMEM)
		cli_out_of_memory();
	if (r != 0) {
		free(text);
		if (r < 0) {
			cli_error(cli, "cannot check the key: %s", strerror(-r));
			return SL_EXIT_FAILURE;
		}
		return cli_refused(cli, "--key: %s", why);
	}
	if (key->family == KEY_FAMILY_RSA && key->bits < KEY_MIN_RSA_BITS_DEFAULT)
		fprintf(stderr, "sshlease: note: this RSA key has %u bits; servers "
			"refuse keys under their min_rsa_bits (%d unless "
			"configured otherwise). An Ed25519 key is safer.\n",
			key->bits, KEY_MIN_RSA_BITS_DEFAULT);
	key_free(key);
	*out = text;
	return 0;
}

/* OUT and OUT.pub must not exist yet: checked before any work, and again
 * when they are written (created only if absent). */
static int new_key_check_paths(const struct cli *cli, const char *path)
{
	char pub[PATH_MAX], shown[CLI_TEXT_CAP + 1];
	struct stat st;

	if ((size_t)snprintf(pub, sizeof(pub), "%s.pub", path) >= sizeof(pub))
		return cli_usage_error(cli, "--new-key: the file name is too long");
	cli_safe(shown, sizeof(shown), path, "");
	if (lstat(path, &st) == 0 || lstat(pub, &st) == 0)
		return cli_refused(cli, "--new-key: %s%s already exists; refusing "
				   "to overwrite it", shown,
				   lstat(path, &st) == 0 ? "" : ".pub");
	return 0;
}

static int new_key_make(const struct cli *cli, const char *ticket,
			struct new_key *out)
{
	ssh_key key = NULL;
	char *blob = NULL;
	int r = SL_EXIT_FAILURE;

	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK ||
	    ssh_pki_export_privkey_base64(key, NULL, NULL, NULL,
					  &out->private_text) != SSH_OK ||
	    ssh_pki_export_pubkey_base64(key, &blob) != SSH_OK) {
		cli_error(cli, "cannot make an Ed25519 key pair (libssh)");
		goto out;
	}
	/* The comment stays on the support side: tokens carry no comment. */
	if (asprintf(&out->public_line, "%s %s sshlease-token%s%s",
		     ssh_key_type_to_char(ssh_key_type(key)), blob,
		     ticket ? "-" : "", ticket ? ticket : "") < 0)
		cli_out_of_memory();
	r = 0;
out:
	free(blob);
	ssh_key_free(key);
	return r;
}

/* The key pair as two new files, OUT (0600) and OUT.pub (0644) whatever
 * the umask: both or neither, each created only if absent, every step
 * (the directory's fsync too) checked. */
static int new_key_write(const struct cli *cli, const char *path,
			 const struct new_key *k)
{
	char pub[NAME_MAX + 1], shown[CLI_TEXT_CAP + 1], *pub_text = NULL;
	struct fsutil_new_file files[2] = {
		{ .how = { .data = k->private_text, .len = strlen(k->private_text),
			   .mode = 0600, .flags = FSUTIL_CHMOD } },
		{ .name = pub, .how = { .mode = 0644, .flags = FSUTIL_CHMOD } },
	};
	int dir_fd = -1, r;

	cli_safe(shown, sizeof(shown), path, "");
	if (asprintf(&pub_text, "%s\n", k->public_line) < 0)
		cli_out_of_memory();
	files[1].how.data = pub_text;
	files[1].how.len = strlen(pub_text);
	r = fsutil_open_parent(path, &dir_fd, &files[0].name);
	if (r == 0 && (size_t)snprintf(pub, sizeof(pub), "%s.pub", files[0].name) >= sizeof(pub))
		r = -ENAMETOOLONG;
	if (r == 0)
		r = fsutil_create_all(dir_fd, files, SL_ARRAY_SIZE(files), NULL);
	if (dir_fd >= 0)
		close(dir_fd);
	free(pub_text);
	if (r == SL_EXISTS)
		return cli_refused(cli, "--new-key: %s or %s.pub already exists; "
				   "refusing to overwrite it", shown, shown);
	if (r != 0) {
		cli_error(cli, "cannot write the new key %s: %s", shown,
			  strerror(-r));
		return SL_EXIT_FAILURE;
	}
	return 0;
}

/* For the person signing: what the token says, on stderr (stdout holds
 * only the token, for scripts). */
static void sign_summary(const struct sign_options *o, const char *token,
			 const struct token_claims *c)
{
	struct token *t = NULL;
	const char *why = NULL;
	char key[160], when[160], dur[32], path[CLI_TEXT_CAP + 1];

	if (token_decode(token, &t, &why) != 0)
		return;
	snprintf(key, sizeof(key), "%s %s", t->public_key->type,
		 t->public_key->fingerprint);
	duration_format(c->duration, dur, sizeof(dur));
	cli_format_deadline(t->valid_until, when, sizeof(when));
	fprintf(stderr, "Token for %s: %s of %s access%s%s%s%s, from %s.\n"
		"Redeem before %s: the merchant runs 'sudo sshlease grant' "
		"with the whole sl1. line.\n",
		key, dur, c->mode == AUTHKEYS_MODE_SFTP ? "SFTP-only" : "shell",
		t->user ? " to the account " : "", t->user ? t->user : "",
		t->host ? " on " : "", t->host ? t->host : "",
		t->from ? t->from : "any address", when);
	if (o->new_key)
		fprintf(stderr, "Private key: %s (log in with: ssh -i %s ...)\n",
			cli_safe(path, sizeof(path), o->new_key, ""), path);
	token_free(t);
}

static int sign_make(const struct cli *cli, const struct sign_options *o,
		     struct token_claims *c, const struct token_signer *signer,
		     struct new_key *fresh)
{
	const char *why = NULL;
	char *token = NULL;
	int r;

	r = token_sign(c, signer->secret_key, &token, &why);
	if (r == -ENOMEM)
		cli_out_of_memory();
	if (r == SL_REFUSED)
		return cli_refused(cli, "cannot make the token: %s", why);
	if (r != 0) {
		cli_error(cli, "cannot make the token: %s", strerror(-r));
		return SL_EXIT_FAILURE;
	}
	/* The key files appear only with a token that names their key. */
	if (o->new_key)
		r = new_key_write(cli, o->new_key, fresh);
	if (r == 0) {
		printf("%s\n", token);
		sign_summary(o, token, c);
	}
	free(token);
	return r;
}

int cmd_token_sign(struct cli *cli, int argc, char **argv)
{
	struct sign_options o = { 0 };
	struct token_claims c = { 0 };
	struct token_signer *signer = NULL;
	struct new_key fresh = { 0 };
	char *key = NULL, *from = NULL;
	int64_t valid = 0;
	int r;

	r = sign_parse(cli, argc, argv, &o);
	if (r != CLI_CONTINUE)
		return r;
	r = sign_check_claims(cli, &o, &c, &from, &valid);
	if (r == 0 && o.new_key)
		r = new_key_check_paths(cli, o.new_key);
	if (r == 0)
		r = sign_load_signer(cli, o.signer, &signer);
	if (r == 0 && o.key_arg)
		r = sign_read_key(cli, o.key_arg, &key);
	if (r == 0 && o.new_key) {
		r = new_key_make(cli, o.ticket, &fresh);
		key = fresh.public_line ? strdup(fresh.public_line) : NULL;
		if (r == 0 && !key)
			cli_out_of_memory();
	}
	if (r == 0) {
		c.key = key;
		c.issued_at = time(NULL);
		c.valid_until = c.issued_at + (time_t)valid;
		r = sign_make(cli, &o, &c, signer, &fresh);
	}
	new_key_finish(&fresh);
	token_signer_free(signer);
	free(from);
	free(key);
	return r;
}

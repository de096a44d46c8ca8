/* Unit tests for the config loader (include/config.h): every refusal with its
 * exact file:line: reason, the defaults, and conf/sshlease.conf itself. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build-config.h"
#include "config.h"
#include "key.h"
#include "test.h"

static char tmpdir[64];
static char conf_path[128]; /* tmpdir/t.conf, rewritten by each case */

static void write_bytes(const char *path, const char *data, size_t len)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) < 0) {
		perror(path);
		exit(1);
	}
}

static int load_bytes(const char *data, size_t len, struct sshlease_config **out,
		      char ***problems)
{
	write_bytes(conf_path, data, len);
	return config_load(conf_path, false, out, problems);
}

static int load_text(const char *text, struct sshlease_config **out, char ***problems)
{
	return load_bytes(text, strlen(text), out, problems);
}

static size_t count(char **list)
{
	size_t n = 0;

	while (list && list[n])
		n++;
	return n;
}

/* Check that problems are exactly expected[0..n), each written as
 * "LINE: reason" and prefixed here with the file name. */
static void check_problems(const char *name, char **problems,
			   const char *const *expected, size_t n)
{
	bool same = count(problems) == n;
	char want[1024];

	for (size_t i = 0; same && i < n; i++) {
		snprintf(want, sizeof(want), "%s:%s", conf_path, expected[i]);
		same = strcmp(problems[i], want) == 0;
	}
	CHECK_MSG(same, "%s: problems differ", name);
	if (!same) {
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "  expected: %s:%s\n", conf_path, expected[i]);
		for (size_t i = 0; i < count(problems); i++)
			fprintf(stderr, "  got:      %s\n", problems[i]);
	}
}

static void expect_refused(const char *name, const char *text,
			   const char *const *expected, size_t n)
{
	struct sshlease_config *config = (struct sshlease_config *)&config;
	char **problems = NULL;
	int r = load_text(text, &config, &problems);

	CHECK_MSG(r == SL_REFUSED, "%s: returned %d", name, r);
	CHECK_MSG(config == NULL, "%s: a config was returned", name);
	check_problems(name, problems, expected, n);
	config_problems_free(problems);
}

static bool strings_equal(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool lists_equal(char **a, char **b)
{
	if (count(a) != count(b))
		return false;
	for (size_t i = 0; i < count(a); i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

static bool configs_equal(const struct sshlease_config *a,
			  const struct sshlease_config *b)
{
	if (a->n_signers != b->n_signers)
		return false;
	for (size_t i = 0; i < a->n_signers; i++)
		if (strcmp(a->signers[i].name, b->signers[i].name) != 0 ||
		    memcmp(a->signers[i].public_key, b->signers[i].public_key, 32) != 0)
			return false;
	return strings_equal(a->socket, b->socket) &&
	       strings_equal(a->socket_group, b->socket_group) &&
	       strings_equal(a->state_dir, b->state_dir) &&
	       strings_equal(a->audit_log, b->audit_log) &&
	       a->audit_rotate_size == b->audit_rotate_size &&
	       lists_equal(a->users, b->users) && a->allow_root == b->allow_root &&
	       a->default_duration == b->default_duration &&
	       a->max_duration == b->max_duration &&
	       a->key_types == b->key_types &&
	       a->min_rsa_bits == b->min_rsa_bits && a->mode == b->mode &&
	       strings_equal(a->from, b->from) &&
	       a->report_changes == b->report_changes &&
	       a->require_signed == b->require_signed &&
	       a->sshd_port == b->sshd_port &&
	       a->expiry_format == b->expiry_format &&
	       strings_equal(a->sshd_config, b->sshd_config) &&
	       strings_equal(a->sshd_log, b->sshd_log);
}

/* The compiled-in defaults are exactly DESIGN.md §11. */
static void check_is_default(const char *name, const struct sshlease_config *c)
{
	CHECK_MSG(c != NULL, "%s: no config", name);
	if (!c)
		return;
	CHECK_STR(c->socket, "/run/sshlease/sshlease.sock");
	CHECK_STR(c->socket_group, "sshlease");
	CHECK_STR(c->state_dir, "/var/lib/sshlease");
	CHECK_STR(c->audit_log, "/var/log/sshlease/audit.jsonl");
	CHECK_INT(c->audit_rotate_size, 64 << 20);
	CHECK(c->users == NULL);
	CHECK(!c->allow_root);
	CHECK_INT(c->default_duration, 48 * 3600);
	CHECK_INT(c->max_duration, 7 * 86400);
	CHECK_INT(c->key_types, KEY_FAMILY_ED25519 | KEY_FAMILY_ECDSA |
					KEY_FAMILY_SK_ED25519 | KEY_FAMILY_SK_ECDSA |
					KEY_FAMILY_RSA);
	CHECK_INT(c->min_rsa_bits, 3072);
	CHECK_INT(c->mode, AUTHKEYS_MODE_SHELL);
	CHECK(c->from == NULL);
	CHECK(!c->require_signed);
	CHECK_INT(c->n_signers, 0);
	CHECK(c->signers == NULL);
	CHECK_INT(c->sshd_port, 0);
	CHECK_INT(c->expiry_format, CONFIG_EXPIRY_AUTO);
	CHECK_STR(c->sshd_config, "/etc/ssh/sshd_config");
	CHECK(c->sshd_log == NULL); /* the journal */
	CHECK(!c->added_keys_report);
	CHECK(!c->report_changes);
}

static void test_defaults(void)
{
	struct sshlease_config *config = config_new_defaults();

	check_is_default("config_new_defaults", config);
	config_free(config);
	config_free(NULL);
}

static void test_key_table(void)
{
	CHECK_INT(config_keys_count, 21);
	for (size_t i = 0; i < config_keys_count; i++) {
		const struct config_key_info *k = &config_keys[i];

		CHECK(k->section && k->key && k->default_text && k->help);
		CHECK_MSG(k->help && strlen(k->help) > 10 && !strchr(k->help, '\n'),
			  "%s: help is not one line", k->key);
		CHECK(config_key_find(k->section, k->key) == k);
		for (size_t j = 0; j < i; j++)
			CHECK_MSG(strcmp(config_keys[j].key, k->key) != 0,
				  "key %s listed twice", k->key);
	}
	CHECK(config_key_find("daemon", "port") == NULL);
	CHECK(config_key_find("sshd", "nope") == NULL);
	CHECK_STR(config_key_find("grant", "key_types")->default_text,
		  "ed25519, ecdsa, sk-ed25519, sk-ecdsa, rsa");

	/* Each key's default text, written in a file, gives the default. */
	for (size_t i = 0; i < config_keys_count; i++) {
		const struct config_key_info *k = &config_keys[i];
		struct sshlease_config *config = NULL, *defaults = config_new_defaults();
		char **problems = NULL, text[512];
		int r;

		if (!*k->default_text) {
			config_free(defaults);
			continue;
		}
		snprintf(text, sizeof(text), "[%s]\n%s = %s\n", k->section, k->key,
			 k->default_text);
		r = load_text(text, &config, &problems);
		CHECK_MSG(r == 0, "%s = %s: %d %s", k->key, k->default_text, r,
			  problems ? problems[0] : "");
		CHECK_MSG(config && defaults && configs_equal(config, defaults),
			  "%s = %s differs from the built-in default", k->key,
			  k->default_text);
		config_free(config);
		config_free(defaults);
		config_problems_free(problems);
	}
}

static char signer_a[64], signer_b[64]; /* base64 Ed25519 public keys */
static unsigned char signer_a_raw[32], signer_b_raw[32];

static void make_signers(void)
{
	unsigned char secret[crypto_sign_SECRETKEYBYTES];

	if (sodium_init() < 0)
		abort();
	crypto_sign_keypair(signer_a_raw, secret);
	crypto_sign_keypair(signer_b_raw, secret);
	sodium_bin2base64(signer_a, sizeof(signer_a), signer_a_raw, 32,
			  sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(signer_b, sizeof(signer_b), signer_b_raw, 32,
			  sodium_base64_VARIANT_ORIGINAL);
	CHECK_INT(strlen(signer_a), 44);
}

static void test_full_file(void)
{
	struct sshlease_config *c = NULL;
	char **problems = NULL, text[4096];
	int r;

	snprintf(text, sizeof(text),
		 "; a full configuration, every key changed\n"
		 "[daemon]\n"
		 "socket = /tmp/sl/ctl.sock\n"
		 "socket_group = shopadmins\n"
		 "state_dir = /srv/sshlease/state\n"
		 "audit_log = /srv/sshlease/audit.jsonl\n"
		 "audit_rotate_size = 512K\n"
		 "\n"
		 "[grant]\n"
		 "users = shop, deploy , www-data\n"
		 "allow_root = true\n"
		 "default_duration = 1d12h\n"
		 "max_duration = 2w\n"
		 "key_types = rsa,ed25519\n"
		 "min_rsa_bits = 4096\n"
		 "mode = sftp\n"
		 "from = 203.0.113.0/24,2001:DB8::/32\n"
		 "report_changes = yes\n"
		 "# a comment\n"
		 "[tokens]\n"
		 "require_signed = yes\n"
		 "trusted_signer = acme-support %s\n"
		 "trusted_signer = vendor.two@example  %s ; inline comment\n"
		 "[sshd]\n"
		 "port = 2222\n"
		 "expiry_format = local\n"
		 "config = /srv/ssh/sshd_config\n"
		 "log = /var/log/auth.log\n",
		 signer_a, signer_b);
	r = load_text(text, &c, &problems);
	CHECK_INT(r, 0);
	CHECK(problems == NULL);
	if (!c)
		return;
	CHECK_STR(c->socket, "/tmp/sl/ctl.sock");
	CHECK_STR(c->socket_group, "shopadmins");
	CHECK_STR(c->state_dir, "/srv/sshlease/state");
	CHECK_STR(c->audit_log, "/srv/sshlease/audit.jsonl");
	CHECK_INT(c->audit_rotate_size, 512 << 10);
	CHECK_INT(count(c->users), 3);
	if (count(c->users) == 3) {
		CHECK_STR(c->users[0], "shop");
		CHECK_STR(c->users[1], "deploy");
		CHECK_STR(c->users[2], "www-data");
	}
	CHECK(c->allow_root);
	CHECK_INT(c->default_duration, 129600);
	CHECK_INT(c->max_duration, 1209600);
	CHECK_INT(c->key_types, KEY_FAMILY_RSA | KEY_FAMILY_ED25519);
	CHECK_INT(c->min_rsa_bits, 4096);
	CHECK_INT(c->mode, AUTHKEYS_MODE_SFTP);
	CHECK_STR(c->from, "203.0.113.0/24,2001:db8::/32");
	CHECK(c->report_changes);
	CHECK(c->require_signed);
	CHECK_INT(c->n_signers, 2);
	if (c->n_signers == 2) {
		CHECK_STR(c->signers[0].name, "acme-support");
		CHECK(memcmp(c->signers[0].public_key, signer_a_raw, 32) == 0);
		CHECK_STR(c->signers[1].name, "vendor.two@example");
		CHECK(memcmp(c->signers[1].public_key, signer_b_raw, 32) == 0);
	}
	CHECK_INT(c->sshd_port, 2222);
	CHECK_INT(c->expiry_format, CONFIG_EXPIRY_LOCAL);
	CHECK_STR(c->sshd_config, "/srv/ssh/sshd_config");
	CHECK_STR(c->sshd_log, "/var/log/auth.log");
	config_free(c);
}

/* Small forms inih and the loader accept. */
static void test_accepted_forms(void)
{
	static const struct {
		const char *name;
		const char *text;
	} cases[] = {
		{ "empty file", "" },
		{ "comments only", "# hello\n; there\n\n   \n\t# indented comment\n" },
		{ "UTF-8 byte order mark", "\xef\xbb\xbf[grant]\nmode = sftp\n" },
		{ "CRLF line ends", "[grant]\r\nmode = sftp\r\n" },
		{ "no final newline", "[grant]\nmode = sftp" },
		{ "inline comment", "[grant]\nmode = sftp ; file transfer only\n" },
		{ "no spaces around =", "[grant]\nmode=sftp\n" },
		{ "section repeated", "[grant]\nmode = sftp\n[sshd]\nport = 22\n[grant]\nallow_root = no\n" },
		{ "section header comment", "[grant] ; the grant policy\nmode = sftp\n" },
		{ "empty list keys", "[grant]\nusers =\nfrom =\nmode = sftp\n" },
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		struct sshlease_config *c = NULL;
		char **problems = NULL;
		int r = load_text(cases[i].text, &c, &problems);

		CHECK_MSG(r == 0, "%s: returned %d: %s", cases[i].name, r,
			  problems ? problems[0] : "");
		if (c && strstr(cases[i].text, "mode"))
			CHECK_MSG(c->mode == AUTHKEYS_MODE_SFTP, "%s: mode not read",
				  cases[i].name);
		config_free(c);
		config_problems_free(problems);
	}
}

#define ONE(name, text, problem)                                               \
	{ name, text, { problem, NULL } }

static void test_refusals(void)
{
	static const struct {
		const char *name;
		const char *text;
		const char *problems[3];
	} cases[] = {
		ONE("unknown section", "[deamon]\nsocket = /x.sock\nstate_dir = x\n",
		    "1: unknown section [deamon] (sections: [daemon], [grant], [tokens], [sshd])"),
		ONE("empty section name", "[]\n",
		    "1: unknown section [] (sections: [daemon], [grant], [tokens], [sshd])"),
		ONE("unknown key", "[daemon]\nsokcet = /run/x.sock\n",
		    "2: unknown key 'sokcet' in [daemon]"),
		ONE("key in the wrong section", "[daemon]\nport = 22\n",
		    "2: port belongs in [sshd], not [daemon]"),
		ONE("key outside any section", "allow_root = yes\n[grant]\n",
		    "1: allow_root is outside any section; put it under [grant]"),
		ONE("unknown key outside any section", "colour = blue\n",
		    "1: unknown key 'colour' outside any section"),
		ONE("duplicate key", "[grant]\nmode = shell\n\nmode = sftp\n",
		    "4: duplicate key mode (first set on line 2)"),
		ONE("duplicate key across repeated section",
		    "[sshd]\nport = 22\n[grant]\n[sshd]\nport = 22\n",
		    "5: duplicate key port (first set on line 2)"),
		ONE("boolean as number", "[grant]\nallow_root = 1\n",
		    "2: allow_root = 1: expected yes or no (or true or false)"),
		ONE("boolean in capitals", "[tokens]\nrequire_signed = Yes\n",
		    "2: require_signed = Yes: expected yes or no (or true or false)"),
		ONE("boolean missing", "[grant]\nallow_root =\n",
		    "2: allow_root: missing value; expected yes or no (or true or false)"),
		ONE("duration without unit", "[grant]\nmax_duration = 7\n",
		    "2: max_duration = 7: missing unit after number (use s, m, h, d or w)"),
		ONE("zero duration", "[grant]\ndefault_duration = 0h\n",
		    "2: default_duration = 0h: a duration must be longer than zero"),
		ONE("negative duration", "[grant]\ndefault_duration = -1h\n",
		    "2: default_duration = -1h: a duration has no sign; write e.g. 48h"),
		ONE("absurd duration", "[grant]\nmax_duration = 99999w\n",
		    "2: max_duration = 99999w: duration too long (at most 100 years)"),
		ONE("default longer than max", "[grant]\ndefault_duration = 8d\n",
		    "2: default_duration (8d) is longer than max_duration (7d)"),
		ONE("max shorter than default", "[grant]\nmax_duration = 1d\n",
		    "2: default_duration (2d) is longer than max_duration (1d)"),
		ONE("both set, reported at the later line",
		    "[grant]\nmax_duration = 1h\nmode = shell\ndefault_duration = 90m\n",
		    "4: default_duration (1h 30m) is longer than max_duration (1h)"),
		ONE("rotate size too small", "[daemon]\naudit_rotate_size = 1K\n",
		    "2: audit_rotate_size = 1K: expected 0 (never) or a size from 4K to 1024G, as bytes or with K, M or G"),
		ONE("rotate size unit", "[daemon]\naudit_rotate_size = 64MB\n",
		    "2: audit_rotate_size = 64MB: expected 0 (never) or a size from 4K to 1024G, as bytes or with K, M or G"),
		ONE("rotate size too big", "[daemon]\naudit_rotate_size = 1025G\n",
		    "2: audit_rotate_size = 1025G: expected 0 (never) or a size from 4K to 1024G, as bytes or with K, M or G"),
		ONE("RSA bits too small", "[grant]\nmin_rsa_bits = 1024\n",
		    "2: min_rsa_bits = 1024: expected a number of bits from 2048 to 16384"),
		ONE("RSA bits with sign", "[grant]\nmin_rsa_bits = +3072\n",
		    "2: min_rsa_bits = +3072: expected a number of bits from 2048 to 16384"),
		ONE("RSA bits with junk", "[grant]\nmin_rsa_bits = 3072bits\n",
		    "2: min_rsa_bits = 3072bits: expected a number of bits from 2048 to 16384"),
		ONE("RSA bits overflow", "[grant]\nmin_rsa_bits = 99999999999999999999999\n",
		    "2: min_rsa_bits = 99999999999999999999999: expected a number of bits from 2048 to 16384"),
		ONE("unknown key type", "[grant]\nkey_types = ed25519, dsa\n",
		    "2: key_types = ed25519, dsa: unknown key type 'dsa' (known: ed25519, ecdsa, sk-ed25519, sk-ecdsa, rsa)"),
		ONE("key type as OpenSSH names it", "[grant]\nkey_types = ssh-ed25519\n",
		    "2: key_types = ssh-ed25519: unknown key type 'ssh-ed25519' (known: ed25519, ecdsa, sk-ed25519, sk-ecdsa, rsa)"),
		ONE("no key types", "[grant]\nkey_types =\n",
		    "2: key_types: missing value; list at least one of ed25519, ecdsa, sk-ed25519, sk-ecdsa, rsa"),
		ONE("key type twice", "[grant]\nkey_types = rsa, ed25519, rsa\n",
		    "2: key_types = rsa, ed25519, rsa: 'rsa' is listed twice"),
		ONE("key types empty entry", "[grant]\nkey_types = ed25519,,rsa\n",
		    "2: key_types = ed25519,,rsa: empty entry in the list (two commas, or a comma at an end)"),
		ONE("invalid account", "[grant]\nusers = shop, Bad User\n",
		    "2: users = shop, Bad User: 'Bad User' is not a valid account name"),
		ONE("account twice", "[grant]\nusers = shop,deploy,shop\n",
		    "2: users = shop,deploy,shop: 'shop' is listed twice"),
		ONE("users trailing comma", "[grant]\nusers = shop,\n",
		    "2: users = shop,: empty entry in the list (two commas, or a comma at an end)"),
		ONE("root without allow_root", "[grant]\nusers = shop, root\n",
		    "2: users lists root, but allow_root = no; set allow_root = yes or take root out"),
		ONE("from with host bits", "[grant]\nfrom = 203.0.113.7/24\n",
		    "2: from = 203.0.113.7/24: address has bits set past the prefix length (write the network, e.g. 203.0.113.0/24)"),
		ONE("from with spaces", "[grant]\nfrom = 192.0.2.1, 192.0.2.2\n",
		    "2: from = 192.0.2.1, 192.0.2.2: spaces are not allowed in a source list; separate entries with commas only"),
		ONE("from host name", "[grant]\nfrom = shop.example\n",
		    "2: from = shop.example: not a valid IPv4 address (dotted quad, no host names or wildcards)"),
		ONE("unknown mode", "[grant]\nmode = bash\n",
		    "2: mode = bash: expected shell or sftp"),
		ONE("expiry format in capitals", "[sshd]\nexpiry_format = UTC\n",
		    "2: expiry_format = UTC: expected auto, utc, local or none"),
		ONE("port zero", "[sshd]\nport = 0\n",
		    "2: port = 0: expected auto or a port number from 1 to 65535"),
		ONE("port too large", "[sshd]\nport = 65536\n",
		    "2: port = 65536: expected auto or a port number from 1 to 65535"),
		ONE("port by name", "[sshd]\nport = ssh\n",
		    "2: port = ssh: expected auto or a port number from 1 to 65535"),
		ONE("relative sshd log", "[sshd]\nlog = auth.log\n",
		    "2: log = auth.log: expected journal or an absolute path (starting with /)"),
		ONE("sshd log as syslog", "[sshd]\nlog = syslog\n",
		    "2: log = syslog: expected journal or an absolute path (starting with /)"),
		ONE("empty sshd log", "[sshd]\nlog =\n",
		    "2: log: missing value; expected journal or an absolute path (starting with /)"),
		ONE("relative sshd config", "[sshd]\nconfig = sshd_config\n",
		    "2: config = sshd_config: must be an absolute path (starting with /)"),
		ONE("relative socket", "[daemon]\nsocket = run/sshlease.sock\n",
		    "2: socket = run/sshlease.sock: must be an absolute path (starting with /)"),
		ONE("relative state_dir", "[daemon]\nstate_dir = var/lib/sshlease\n",
		    "2: state_dir = var/lib/sshlease: must be an absolute path (starting with /)"),
		ONE("relative audit_log", "[daemon]\naudit_log = ~/audit.jsonl\n",
		    "2: audit_log = ~/audit.jsonl: must be an absolute path (starting with /)"),
		ONE("socket path too long",
		    "[daemon]\nsocket = /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		    "2: socket = /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...: path too long for a Unix socket (108 bytes; at most 107)"),
		ONE("group with space", "[daemon]\nsocket_group = shop admins\n",
		    "2: socket_group = shop admins: not a valid group name (lower-case letters, digits, _ . -)"),
		ONE("signer without key", "[tokens]\ntrusted_signer = acme\n",
		    "2: trusted_signer = acme: expected NAME BASE64-ED25519-PUBLIC-KEY"),
		ONE("signer empty", "[tokens]\ntrusted_signer =\n",
		    "2: trusted_signer: missing value; expected NAME BASE64-ED25519-PUBLIC-KEY"),
		ONE("signer key not base64", "[tokens]\ntrusted_signer = acme !!!!\n",
		    "2: trusted_signer = acme !!!!: the public key is not valid base64 (with = padding)"),
		ONE("signer key without padding",
		    "[tokens]\ntrusted_signer = acme O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik\n",
		    "2: trusted_signer = acme O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik: the public key is not valid base64 (with = padding)"),
		ONE("signer key too short", "[tokens]\ntrusted_signer = acme AAAA\n",
		    "2: trusted_signer = acme AAAA: the public key is 3 bytes; an Ed25519 public key is 32"),
		ONE("signer key not on the curve",
		    "[tokens]\ntrusted_signer = acme AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		    "2: trusted_signer = acme AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=: not a valid Ed25519 public key"),
		ONE("signer as OpenSSH key line",
		    "[tokens]\ntrusted_signer = acme ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx\n",
		    "2: trusted_signer = acme ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx: give the bare base64 Ed25519 public key, not an OpenSSH key line"),
		ONE("signer with three fields", "[tokens]\ntrusted_signer = acme AAAA extra\n",
		    "2: trusted_signer = acme AAAA extra: expected two fields, NAME and BASE64-ED25519-PUBLIC-KEY"),
		ONE("signer name with bad characters", "[tokens]\ntrusted_signer = ac/me AAAA\n",
		    "2: trusted_signer = ac/me AAAA: a signer name is 1 to 64 of A-Z a-z 0-9 . _ @ -"),
		ONE("require_signed without signers", "[tokens]\nrequire_signed = yes\n",
		    "2: require_signed = yes, but no trusted_signer is set, so no grant could be made"),
		ONE("line without =", "[grant]\nallow_root\n", "2: expected key = value"),
		/* inih's own parse error: an inline comment before the = */
		ONE("comment before =", "[grant]\nmode ;= sftp\n", "2: syntax error"),
		ONE("from without =", "[grant]\nfrom ::1\n",
		    "2: expected key = value (':' is not a separator here)"),
		ONE("colon separator", "[grant]\nallow_root: yes\n",
		    "2: expected key = value (':' is not a separator here)"),
		ONE("no key name", "[grant]\n= yes\n", "2: missing key name before ="),
		ONE("indented key", "[grant]\nmode = shell\n  allow_root = yes\n",
		    "3: line starts with whitespace; remove the indentation"),
		ONE("section without ]", "[grant\nallow_root = maybe\n",
		    "1: section header without closing ]"),
		ONE("junk after section", "[grant] x\nallow_root = maybe\n",
		    "1: unexpected characters after section header"),
		ONE("private key pasted", "[tokens]\n-----BEGIN OPENSSH PRIVATE KEY-----\n",
		    "2: key material does not belong in the config file (only trusted_signer public keys)"),
		ONE("escape character", "[grant]\nmode = shell\x1b[31m\n",
		    "2: control character 0x1b in line"),
		ONE("bare CR inside a line", "[grant]\nmode = shell\rallow_root = yes\n",
		    "2: control character 0x0d in line"),
		ONE("long unknown key is capped",
		    "[grant]\nkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk = 1\n",
		    "2: unknown key 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...' in [grant]"),
		ONE("non-ASCII key is shown safely", "[grant]\nm\xc3\xb6" "de = shell\n",
		    "2: unknown key 'm??de' in [grant]"),
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		size_t n = 0;

		while (n < SL_ARRAY_SIZE(cases[i].problems) && cases[i].problems[n])
			n++;
		expect_refused(cases[i].name, cases[i].text, cases[i].problems, n);
	}
	CHECK(SL_ARRAY_SIZE(cases) >= 15);
}

static void test_signer_duplicates(void)
{
	char text[512], first[256], second[256];
	const char *expected[2] = { first, second };

	snprintf(text, sizeof(text),
		 "[tokens]\n"
		 "trusted_signer = acme %s\n"
		 "trusted_signer = acme %s\n"
		 "trusted_signer = other %s\n",
		 signer_a, signer_b, signer_a);
	snprintf(first, sizeof(first),
		 "3: trusted_signer = acme %s: signer name 'acme' is already used on line 2",
		 signer_b);
	snprintf(second, sizeof(second),
		 "4: trusted_signer = other %s: this key is already trusted as 'acme' on line 2",
		 signer_a);
	expect_refused("duplicate signers", text, expected, 2);
}

static void test_long_lines(void)
{
	char line[300], text[400];
	struct sshlease_config *c = NULL;
	char **problems = NULL;
	int r;

	/* 250 bytes: refused, not split into two lines */
	memset(line, 'x', 250);
	line[250] = '\0';
	memcpy(line, "# ", 2);
	snprintf(text, sizeof(text), "[grant]\n%s\nmode = sftp\n", line);
	{
		const char *expected[] = { "2: line too long (250 bytes; at most 199)" };

		expect_refused("250-byte comment", text, expected, 1);
	}

	/* A 210-byte line whose last 11 bytes, read on their own as inih r55
	 * would, say "mode = sftp": refused as a whole, nothing set. */
	memset(line, 'a', 199);
	memcpy(line, "audit_log = /", 13);
	memcpy(line + 199, "mode = sftp", 12);
	CHECK_INT(strlen(line), 210);
	snprintf(text, sizeof(text), "[grant]\n%s\n", line);
	{
		const char *expected[] = { "2: line too long (210 bytes; at most 199)" };

		expect_refused("210-byte line with a key in its tail", text, expected, 1);
	}

	/* exactly 199 bytes: accepted whole */
	memset(line, 'a', 199);
	memcpy(line, "audit_log = /", 13);
	line[199] = '\0';
	snprintf(text, sizeof(text), "[daemon]\n%s\n", line);
	r = load_text(text, &c, &problems);
	CHECK_INT(r, 0);
	if (c)
		CHECK_INT(strlen(c->audit_log), 199 - 12);
	config_free(c);
	c = NULL;
	/* ... also with CRLF, which does not count */
	snprintf(text, sizeof(text), "[daemon]\r\n%s\r\n", line);
	r = load_text(text, &c, &problems);
	CHECK_INT(r, 0);
	if (c)
		CHECK_INT(strlen(c->audit_log), 199 - 12);
	config_free(c);
	c = NULL;

	/* 200 bytes: refused */
	memset(line, 'a', 200);
	memcpy(line, "audit_log = /", 13);
	line[200] = '\0';
	snprintf(text, sizeof(text), "[daemon]\n%s\n", line);
	{
		const char *expected[] = { "2: line too long (200 bytes; at most 199)" };

		expect_refused("200-byte value", text, expected, 1);
	}
	config_problems_free(problems);
}

static void test_many_problems(void)
{
	const char text[] =
		"[daemon]\n"                       /* 1 */
		"socket = relative.sock\n"         /* 2 */
		"colour = blue\n"                  /* 3 */
		"[grant]\n"                        /* 4 */
		"allow_root = perhaps\n"           /* 5 */
		"allow_root = yes\n"               /* 6 */
		"max_duration = 1d\n"              /* 7 */
		"default_duration = 3d\n"          /* 8 */
		"# a comment is fine\n"            /* 9 */
		"mode = ssh\n"                     /* 10 */
		"[nonsense]\n"                     /* 11 */
		"anything = goes here\n"           /* 12 */
		"[sshd]\n"                         /* 13 */
		"port = 0\n"                       /* 14 */
		"  expiry_format = utc\n"          /* 15 */
		"expiry_format = never\n";         /* 16 */
	const char *expected[] = {
		"2: socket = relative.sock: must be an absolute path (starting with /)",
		"3: unknown key 'colour' in [daemon]",
		"5: allow_root = perhaps: expected yes or no (or true or false)",
		"6: duplicate key allow_root (first set on line 5)",
		"10: mode = ssh: expected shell or sftp",
		"11: unknown section [nonsense] (sections: [daemon], [grant], [tokens], [sshd])",
		"14: port = 0: expected auto or a port number from 1 to 65535",
		"15: line starts with whitespace; remove the indentation",
		"16: expiry_format = never: expected auto, utc, local or none",
		"8: default_duration (3d) is longer than max_duration (1d)",
	};

	expect_refused("many problems", text, expected, SL_ARRAY_SIZE(expected));

	/* Problems are appended to a list the caller already holds. */
	{
		struct sshlease_config *c = NULL;
		char **problems = calloc(2, sizeof(char *));
		char want[256];

		problems[0] = strdup("earlier: problem");
		CHECK_INT(load_text("[grant]\nmode = x\n", &c, &problems), SL_REFUSED);
		CHECK_INT(count(problems), 2);
		CHECK_STR(problems[0], "earlier: problem");
		snprintf(want, sizeof(want), "%s:2: mode = x: expected shell or sftp", conf_path);
		CHECK_STR(problems[1], want);
		config_problems_free(problems);
		/* and the caller may not want them at all */
		CHECK_INT(load_text("[grant]\nmode = x\n", &c, NULL), SL_REFUSED);
		CHECK(c == NULL);
	}
}

static void test_nul_byte(void)
{
	static const char text[] = "[grant]\nmode = sh\0ell\nallow_root = maybe\n";
	struct sshlease_config *c = NULL;
	char **problems = NULL;
	const char *expected[] = {
		"2: NUL byte in line",
		"3: allow_root = maybe: expected yes or no (or true or false)",
	};

	CHECK_INT(load_bytes(text, sizeof(text) - 1, &c, &problems), SL_REFUSED);
	check_problems("NUL byte", problems, expected, 2);
	config_problems_free(problems);
}

static void test_files(void)
{
	struct sshlease_config *c = (struct sshlease_config *)&c;
	char **problems = NULL, path[192], want[256];

	/* missing, allowed: the defaults */
	snprintf(path, sizeof(path), "%s/absent.conf", tmpdir);
	CHECK_INT(config_load(path, true, &c, &problems), 0);
	check_is_default("missing_ok", c);
	CHECK(problems == NULL);
	config_free(c);

	/* missing, required: SL_NOT_FOUND and nothing else */
	c = (struct sshlease_config *)&c;
	CHECK_INT(config_load(path, false, &c, &problems), SL_NOT_FOUND);
	CHECK(c == NULL);
	CHECK(problems == NULL);

	/* a directory */
	CHECK_INT(config_load(tmpdir, false, &c, &problems), SL_REFUSED);
	snprintf(want, sizeof(want), "%s: not a regular file", tmpdir);
	CHECK_INT(count(problems), 1);
	if (problems)
		CHECK_STR(problems[0], want);
	config_problems_free(problems);
	problems = NULL;

	/* writable by others: anyone could add a trusted signer */
	write_bytes(conf_path, "[grant]\nmode = sftp\n", 20);
	CHECK_INT(chmod(conf_path, 0666), 0);
	CHECK_INT(config_load(conf_path, false, &c, &problems), SL_REFUSED);
	snprintf(want, sizeof(want), "%s: writable by group or others; run chmod go-w on it",
		 conf_path);
	CHECK_INT(count(problems), 1);
	if (problems)
		CHECK_STR(problems[0], want);
	config_problems_free(problems);
	problems = NULL;
	CHECK_INT(chmod(conf_path, 0620), 0);
	CHECK_INT(config_load(conf_path, false, &c, &problems), SL_REFUSED);
	CHECK_INT(count(problems), 1);
	config_problems_free(problems);
	problems = NULL;
	CHECK_INT(chmod(conf_path, 0644), 0);
	CHECK_INT(config_load(conf_path, false, &c, &problems), 0);
	config_free(c);

	/* owned by someone else (needs root to arrange) */
	if (geteuid() == 0) {
		CHECK_INT(chown(conf_path, 65534, 65534), 0);
		CHECK_INT(config_load(conf_path, false, &c, &problems), SL_REFUSED);
		snprintf(want, sizeof(want), "%s: owned by uid 65534; it must belong to root",
			 conf_path);
		CHECK_INT(count(problems), 1);
		if (problems)
			CHECK_STR(problems[0], want);
		config_problems_free(problems);
		problems = NULL;
	} else {
		fprintf(stderr, "note: ownership case needs root; not run\n");
	}

	/* far too large to be a config file */
	{
		size_t size = 1024 * 1024 + 1;
		char *big = malloc(size);

		memset(big, '\n', size);
		write_bytes(conf_path, big, size);
		free(big);
		CHECK_INT(config_load(conf_path, false, &c, &problems), SL_REFUSED);
		snprintf(want, sizeof(want), "%s: larger than 1048576 bytes; this is not a config file",
			 conf_path);
		CHECK_INT(count(problems), 1);
		if (problems)
			CHECK_STR(problems[0], want);
		config_problems_free(problems);
		problems = NULL;
	}
}

/* Read the whole of path into a new string, or NULL. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *data = NULL;
	long size;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (data = calloc(1, (size_t)size + 1)) &&
	    fread(data, 1, (size_t)size, f) != (size_t)size) {
		free(data);
		data = NULL;
	}
	fclose(f);
	return data;
}

static void test_shipped_conf(void)
{
	const char *root = getenv("SSHLEASE_SOURCE_ROOT");
	char path[4096], *text, *uncommented, *p;
	struct sshlease_config *c = NULL, *defaults = config_new_defaults();
	char **problems = NULL;

	CHECK_MSG(root != NULL, "SSHLEASE_SOURCE_ROOT is not set");
	if (!root || !defaults) {
		config_free(defaults);
		return;
	}
	snprintf(path, sizeof(path), "%s/conf/sshlease.conf", root);
	text = slurp(path);
	CHECK_MSG(text != NULL, "cannot read %s", path);
	if (!text) {
		config_free(defaults);
		return;
	}

	/* Every key: under its [section], its help line, then "#key = default". */
	for (size_t i = 0; i < config_keys_count; i++) {
		const struct config_key_info *k = &config_keys[i];
		char header[64], entry[256], *section, *next, *found;

		snprintf(header, sizeof(header), "\n[%s]\n", k->section);
		if (*k->default_text)
			snprintf(entry, sizeof(entry), "\n# %s\n#%s = %s\n", k->help,
				 k->key, k->default_text);
		else
			snprintf(entry, sizeof(entry), "\n# %s\n#%s =\n", k->help, k->key);
		section = strstr(text, header);
		CHECK_MSG(section != NULL, "no [%s] in sshlease.conf", k->section);
		if (!section)
			continue;
		next = strstr(section + 1, "\n[");
		found = strstr(section, entry);
		CHECK_MSG(found && (!next || found < next),
			  "sshlease.conf lacks, under [%s]:%s", k->section, entry);
	}

	/* As shipped, it loads cleanly and means the defaults. */
	write_bytes(conf_path, text, strlen(text));
	CHECK_INT(config_load(conf_path, false, &c, &problems), 0);
	CHECK_MSG(problems == NULL, "%s", problems ? problems[0] : "");
	CHECK(c && configs_equal(c, defaults));
	config_free(c);
	c = NULL;

	/* With every default uncommented, it still means the defaults. */
	uncommented = strdup(text);
	for (p = uncommented; (p = strstr(p, "\n#")) != NULL; p++) {
		for (size_t i = 0; i < config_keys_count; i++) {
			size_t len = strlen(config_keys[i].key);

			if (*config_keys[i].default_text &&
			    strncmp(p + 2, config_keys[i].key, len) == 0 &&
			    strncmp(p + 2 + len, " = ", 3) == 0) {
				memmove(p + 1, p + 2, strlen(p + 2) + 1);
				break;
			}
		}
	}
	CHECK(strstr(uncommented, "\nsocket = /run/sshlease/sshlease.sock\n") != NULL);
	CHECK(strstr(uncommented, "\nexpiry_format = auto\n") != NULL);
	write_bytes(conf_path, uncommented, strlen(uncommented));
	CHECK_INT(config_load(conf_path, false, &c, &problems), 0);
	CHECK_MSG(problems == NULL, "%s", problems ? problems[0] : "");
	CHECK(c && configs_equal(c, defaults));
	config_free(c);
	config_problems_free(problems);
	free(uncommented);
	free(text);
	config_free(defaults);
}

/* [sshd] log: a file replaces the journal, and "journal" names it again;
 * without the journal in the build, a file asking for it is refused. */
static void test_sshd_log(void)
{
	struct sshlease_config *c = NULL;
	char **problems = NULL;
	int r;

	r = load_text("[sshd]\nlog = /var/log/auth.log\n", &c, &problems);
	CHECK_INT(r, 0);
	CHECK(c && c->sshd_log && strcmp(c->sshd_log, "/var/log/auth.log") == 0);
	config_free(c);
	c = NULL;
	r = load_text("[sshd]\nlog = journal\n", &c, &problems);
#if SSHLEASE_JOURNAL
	CHECK_INT(r, 0);
	CHECK(c && c->sshd_log == NULL);
#else
	CHECK_INT(r, SL_REFUSED);
	CHECK(problems && strstr(problems[0], "built without the journal") != NULL);
#endif
	config_free(c);
	config_problems_free(problems);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-config.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(conf_path, sizeof(conf_path), "%s/t.conf", tmpdir);

	make_signers();
	TEST(test_defaults());
	TEST(test_key_table());
	TEST(test_full_file());
	TEST(test_sshd_log());
	TEST(test_accepted_forms());
	TEST(test_refusals());
	TEST(test_signer_duplicates());
	TEST(test_long_lines());
	TEST(test_many_problems());
	TEST(test_nul_byte());
	TEST(test_files());
	TEST(test_shipped_conf());

	unlink(conf_path);
	rmdir(tmpdir);
	return test_done();
}

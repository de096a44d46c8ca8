/* key_parse: keys made by ssh-keygen at run time are accepted with the
 * fingerprint and size ssh-keygen itself reports; hostile or malformed lines
 * are refused, each with its own reason. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "key.h"
#include "test.h"

/* The reasons key_parse gives; the user reads them, so the test pins them. */
#define R_EMPTY "key line is empty"
#define R_TOO_LONG "key line is longer than 8192 bytes"
#define R_LINE_BREAK                                                           \
	"key line contains a line break (CR or LF); submit exactly one key"
#define R_NUL "key line contains a NUL byte"
#define R_CONTROL "key line contains a control character"
#define R_NON_ASCII                                                            \
	"key line contains non-ASCII bytes; only printable ASCII is accepted"
#define R_LEADING "key line starts with a blank; remove the leading spaces or tabs"
#define R_TRAILING "key line ends with a blank; remove the trailing spaces or tabs"
#define R_ONE_FIELD                                                            \
	"key line has only one field; expected 'type base64 [comment]'"
#define R_BLANK_RUN "key fields must be separated by a single space or tab"
#define R_OPTIONS                                                              \
	"key options are not accepted (sshlease writes its own); submit only " \
	"'type base64 [comment]'"
#define R_DSA "DSA (ssh-dss) keys are never accepted; use an ed25519 key"
#define R_CERT "certificates are not accepted; submit the plain public key"
#define R_UNKNOWN_TYPE                                                         \
	"unknown key type; expected ssh-ed25519, ecdsa-sha2-nistp256/384/521, " \
	"sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com or "   \
	"ssh-rsa"
#define R_B64_ALPHABET                                                         \
	"key data contains a character outside the base64 alphabet"
#define R_B64_PAD_INSIDE "key data has '=' padding before its end"
#define R_B64_LENGTH                                                           \
	"key data length is not a multiple of 4 (truncated, or '=' padding "   \
	"missing)"
#define R_B64_NOT_CANONICAL                                                    \
	"key data is not canonical base64 (wrong padding or stray trailing "   \
	"bits)"
#define R_TRUNCATED                                                            \
	"key data is truncated (a blank or line break inside the base64 text?)"
#define R_TYPE_MISMATCH                                                        \
	"key type field does not match the type inside the key data"
#define R_TRAILING_DATA "key data has trailing bytes after the key"
#define R_ED25519_SIZE "ed25519 public key is not 32 bytes"
#define R_EC_CURVE "ECDSA curve inside the key data does not match the key type"
#define R_EC_POINT                                                             \
	"ECDSA public point is not a valid uncompressed point for its curve"
#define R_SK_APP                                                               \
	"security key application string is empty, too long or not printable"
#define R_RSA_NUMBER                                                           \
	"RSA key contains a malformed number (zero, negative or not minimally " \
	"encoded)"
#define R_RSA_EXPONENT "RSA public exponent is invalid"
#define R_RSA_FLOOR "RSA key is shorter than 1024 bits, which OpenSSH refuses"
#define R_RSA_CEILING "RSA key is longer than 16384 bits, which OpenSSH refuses"
#define R_RSA_MIN                                                              \
	"RSA key is shorter than the policy allows (min_rsa_bits); use an "    \
	"ed25519 key or a larger RSA key"
#define R_LIBSSH "key data is not a valid public key (libssh could not load it)"
#define R_NOT_ALLOWED(family) family " keys are not allowed by policy (key_types)"

static char tmpdir[4096];

/* Every string the test makes is kept here and freed at the end, so the
 * sanitizer build's leak check stays meaningful for key_parse itself. */
static void *allocs[256];
static size_t n_allocs;

static void *keep(void *p)
{
	if (!p || n_allocs == SL_ARRAY_SIZE(allocs)) {
		fprintf(stderr, "out of memory or arena full\n");
		exit(1);
	}
	allocs[n_allocs++] = p;
	return p;
}

static void free_all(void)
{
	while (n_allocs > 0)
		free(allocs[--n_allocs]);
}

/* Run argv without a shell; its stdout goes to out (NUL-terminated).
 * Returns the exit status, or -1 if it did not exit normally. */
static int run_capture(char *const argv[], char *out, size_t out_size)
{
	int pipefd[2], status;
	size_t used = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(pipefd) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(pipefd[1], STDOUT_FILENO);
		dup2(devnull, STDIN_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	/* Drain it all (a long comment comes back in the output), keep the
	 * start. */
	for (;;) {
		char scratch[4096];

		if (used + 1 < out_size)
			n = read(pipefd[0], out + used, out_size - 1 - used);
		else
			n = read(pipefd[0], scratch, sizeof(scratch));
		if (n <= 0)
			break;
		if (used + 1 < out_size)
			used += (size_t)n;
	}
	out[used] = '\0';
	close(pipefd[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static char *path_in_tmp(const char *name)
{
	static char path[8192];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

/* The first line of a file, without its newline, malloc'd; NULL on error. */
static char *read_line(const char *path)
{
	char buf[16384];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return keep(strdup(buf));
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fputc('\n', f) < 0 || fclose(f) != 0) {
		fprintf(stderr, "cannot write %s\n", path);
		exit(1);
	}
}

/* ssh-keygen -t type [-b bits] into tmpdir/name; returns the public line,
 * NULL if ssh-keygen failed. */
static char *keygen(const char *type, const char *bits, const char *name)
{
	char comment[128], out[256], *path = path_in_tmp(name);
	char *argv[] = { "ssh-keygen", "-q", "-t", (char *)type, "-N", "",
			 "-C", comment, "-f", path, NULL, NULL, NULL };
	char pub[8300];

	snprintf(comment, sizeof(comment), "test-%s", name);
	if (bits) {
		argv[10] = "-b";
		argv[11] = (char *)bits;
	}
	if (run_capture(argv, out, sizeof(out)) != 0)
		return NULL;
	snprintf(pub, sizeof(pub), "%s.pub", path);
	return read_line(pub);
}

/* What `ssh-keygen -l -E sha256 -f path` says: bits and fingerprint. */
static int keygen_fingerprint(const char *path, unsigned *bits,
			      char fp[128])
{
	char *argv[] = { "ssh-keygen", "-l", "-E", "sha256", "-f",
			 (char *)path, NULL };
	char out[1024];

	if (run_capture(argv, out, sizeof(out)) != 0)
		return -1;
	if (sscanf(out, "%u %127s", bits, fp) != 2)
		return -1;
	return 0;
}

/* A growing SSH wire-format blob for hand-built keys. */
struct blob {
	unsigned char data[8192];
	size_t len;
};

static void put_u32(struct blob *b, uint32_t v)
{
	b->data[b->len++] = (unsigned char)(v >> 24);
	b->data[b->len++] = (unsigned char)(v >> 16);
	b->data[b->len++] = (unsigned char)(v >> 8);
	b->data[b->len++] = (unsigned char)v;
}

static void put_bytes(struct blob *b, const void *p, size_t n)
{
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void put_string(struct blob *b, const void *p, size_t n)
{
	put_u32(b, (uint32_t)n);
	put_bytes(b, p, n);
}

static void put_cstr(struct blob *b, const char *s)
{
	put_string(b, s, strlen(s));
}

/* "type base64[ comment]", malloc'd. */
static char *line_of(const char *type, const struct blob *b,
		     const char *comment)
{
	size_t b64_size = sodium_base64_ENCODED_LEN(b->len,
						    sodium_base64_VARIANT_ORIGINAL);
	size_t size = strlen(type) + b64_size + 2 + (comment ? strlen(comment) : 0) + 1;
	char *b64 = keep(malloc(b64_size)), *line = keep(malloc(size));

	sodium_bin2base64(b64, b64_size, b->data, b->len,
			  sodium_base64_VARIANT_ORIGINAL);
	snprintf(line, size, "%s %s%s%s", type, b64, comment ? " " : "",
		 comment ? comment : "");
	return line;
}

/* The fields of a decoded key line's blob, for rebuilding variants. */
struct fields {
	struct blob raw;
	const unsigned char *part[4];
	size_t part_len[4];
	int count;
};

static void split_line(const char *line, struct fields *f)
{
	const char *b64 = strchr(line, ' ') + 1;
	size_t b64_len = strcspn(b64, " "), pos = 0;

	memset(f, 0, sizeof(*f));
	if (sodium_base642bin(f->raw.data, sizeof(f->raw.data), b64, b64_len,
			      NULL, &f->raw.len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		exit(1);
	while (pos + 4 <= f->raw.len && f->count < 4) {
		const unsigned char *d = f->raw.data + pos;
		size_t n = (size_t)d[0] << 24 | (size_t)d[1] << 16 |
			   (size_t)d[2] << 8 | d[3];

		f->part[f->count] = d + 4;
		f->part_len[f->count] = n;
		f->count++;
		pos += 4 + n;
	}
}

/* An RSA public key with a random odd modulus of exactly `bits` bits:
 * neither parser checks primality, so this probes the size bounds. */
static char *rsa_line_of_bits(unsigned bits)
{
	static const unsigned char e[] = { 0x01, 0x00, 0x01 };
	unsigned char n[2 + 16385 / 8];
	size_t n_bytes = (bits + 7) / 8;
	unsigned top = (bits - 1) % 8;
	struct blob b = { .len = 0 };

	n[0] = 0;
	randombytes_buf(n + 1, n_bytes);
	n[1] &= (unsigned char)((2u << top) - 1);
	n[1] |= (unsigned char)(1u << top);
	n[n_bytes] |= 1;
	put_cstr(&b, "ssh-rsa");
	put_string(&b, e, sizeof(e));
	if (n[1] & 0x80)
		put_string(&b, n, n_bytes + 1);
	else
		put_string(&b, n + 1, n_bytes);
	return line_of("ssh-rsa", &b, "hand-made");
}

struct accept_case {
	const char *name;
	const char *line;
	const struct key_policy *policy;
	enum key_family family;
	const char *type;
	unsigned bits;
	const char *comment;
};

/* Accepted, with ssh-keygen's fingerprint and size and our own fields. */
static void check_accept(const struct accept_case *c)
{
	struct sshlease_key *key = NULL;
	const char *why = NULL;
	char fp[128] = "", file[64];
	unsigned bits = 0;
	const char *b64 = strpbrk(c->line, " \t") + 1;
	int r;

	r = key_parse(c->line, strlen(c->line), c->policy, &key, &why);
	CHECK_MSG(r == 0, "%s: refused: %s", c->name, why ? why : "(no reason)");
	if (r != 0)
		return;
	snprintf(file, sizeof(file), "accept-%s.pub", c->name);
	write_file(path_in_tmp(file), c->line);
	CHECK_MSG(keygen_fingerprint(path_in_tmp(file), &bits, fp) == 0,
		  "%s: ssh-keygen -l cannot read the key", c->name);
	CHECK_STR(key->fingerprint, fp);
	CHECK_INT(key->bits, bits);
	CHECK_INT(key->bits, c->bits);
	CHECK_INT(key->family, c->family);
	CHECK_STR(key->type, c->type);
	CHECK_MSG(strncmp(key->blob_base64, b64, strlen(key->blob_base64)) == 0 &&
			  strchr(" \t", b64[strlen(key->blob_base64)]),
		  "%s: blob_base64 is not the base64 field", c->name);
	CHECK_STR(key->comment, c->comment);
	CHECK_INT(strlen(key->fingerprint), strlen("SHA256:") + 43);
	key_free(key);
}

struct reject_case {
	const char *name;
	const char *line;
	size_t len; /* SIZE_MAX: strlen(line) */
	const struct key_policy *policy;
	const char *why;
};

static void check_reject(const struct reject_case *c)
{
	static struct sshlease_key sentinel;
	struct sshlease_key *key = &sentinel;
	const char *why = NULL;
	size_t len = c->len == SIZE_MAX ? strlen(c->line) : c->len;
	int r;

	r = key_parse(c->line, len, c->policy, &key, &why);
	CHECK_MSG(r == SL_REFUSED, "%s: key_parse returned %d", c->name, r);
	CHECK_MSG(key == NULL, "%s: *out not NULL on refusal", c->name);
	CHECK_MSG(why && strcmp(why, c->why) == 0,
		  "%s: reason \"%s\", expected \"%s\"", c->name,
		  why ? why : "(null)", c->why);
	if (r == 0)
		key_free(key);
}

static char *concat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = keep(malloc(la + lb + 1));

	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

/* line with its base64 field's character at index replaced by c */
static char *b64_with(const char *line, size_t index, char c)
{
	char *s = keep(strdup(line));
	strchr(s, ' ')[1 + index] = c;
	return s;
}

static void check_family_names(void)
{
	static const enum key_family all[] = {
		KEY_FAMILY_ED25519, KEY_FAMILY_ECDSA, KEY_FAMILY_SK_ED25519,
		KEY_FAMILY_SK_ECDSA, KEY_FAMILY_RSA,
	};
	enum key_family family = 0;

	CHECK_STR(key_family_name(KEY_FAMILY_SK_ECDSA), "sk-ecdsa");
	for (size_t i = 0; i < SL_ARRAY_SIZE(all); i++) {
		CHECK_INT(key_family_from_name(key_family_name(all[i]), &family), 0);
		CHECK_INT(family, all[i]);
	}
	CHECK_INT(key_family_from_name("dsa", &family), SL_NOT_FOUND);
	CHECK_INT(key_family_from_name("ED25519", &family), SL_NOT_FOUND);
	CHECK_INT(key_family_from_name("", &family), SL_NOT_FOUND);
}

int main(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	static const struct key_policy ed25519_only = { KEY_FAMILY_ED25519, 3072 };
	static const struct key_policy none_allowed = { 0, 3072 };
	static const struct key_policy rsa_2048 = { KEY_FAMILIES_DEFAULT, 2048 };
	static const struct key_policy ecdsa_only = { KEY_FAMILY_ECDSA, 3072 };
	static const struct key_policy rsa_any = { KEY_FAMILIES_DEFAULT, 0 };
	char *ed, *ec256, *ec384, *ec521, *rsa1024, *rsa2048, *rsa3072, *rsa4096;
	char *dsa, *cert, *sk_ed, *sk_ec, *sk_ec_noapp, *sk_ed_badapp;
	char *ed_tabs, *ed_long_ok, *ed_long_bad, *ed_big_comment;
	char ed_b64[128], *p;
	struct fields edf, ecf, rsaf;
	struct blob b;
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];

	if (sodium_init() < 0)
		return 1;
	snprintf(tmpdir, sizeof(tmpdir), "%s/test-key-XXXXXX", base);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}

	TEST(check_family_names());

	ed = keygen("ed25519", NULL, "ed25519");
	ec256 = keygen("ecdsa", "256", "ecdsa256");
	ec384 = keygen("ecdsa", "384", "ecdsa384");
	ec521 = keygen("ecdsa", "521", "ecdsa521");
	rsa1024 = keygen("rsa", "1024", "rsa1024");
	rsa2048 = keygen("rsa", "2048", "rsa2048");
	rsa3072 = keygen("rsa", "3072", "rsa3072");
	rsa4096 = keygen("rsa", "4096", "rsa4096");
	dsa = keygen("dsa", NULL, "dsa");
	if (!dsa) {
		/* An OpenSSH without DSA: the type field alone must refuse it. */
		b.len = 0;
		put_cstr(&b, "ssh-dss");
		for (int i = 0; i < 4; i++) {
			unsigned char num[129] = { 0 };

			randombytes_buf(num + 1, sizeof(num) - 1);
			num[1] |= 0x80;
			put_string(&b, num, sizeof(num));
		}
		dsa = line_of("ssh-dss", &b, "hand-made");
	}
	if (!ed || !ec256 || !ec384 || !ec521 || !rsa1024 || !rsa2048 ||
	    !rsa3072 || !rsa4096 || !dsa) {
		fprintf(stderr, "cannot read a generated key\n");
		return 1;
	}
	{
		char out[256], ca_key[8300], user_pub[8300];
		char *argv[] = { "ssh-keygen", "-q", "-s", ca_key, "-I", "test",
				 "-n", "shop", user_pub, NULL };

		if (!keygen("ed25519", NULL, "ca")) {
			fprintf(stderr, "ssh-keygen failed\n");
			return 1;
		}
		snprintf(ca_key, sizeof(ca_key), "%s", path_in_tmp("ca"));
		snprintf(user_pub, sizeof(user_pub), "%s", path_in_tmp("ed25519.pub"));
		if (run_capture(argv, out, sizeof(out)) != 0) {
			fprintf(stderr, "ssh-keygen -s failed\n");
			return 1;
		}
		cert = read_line(path_in_tmp("ed25519-cert.pub"));
		if (!cert)
			return 1;
	}

	/* Security-key public keys, built by hand: ssh-keygen makes them only
	 * with a device. string type, key data, string application. */
	crypto_sign_keypair(pk, sk);
	b.len = 0;
	put_cstr(&b, "sk-ssh-ed25519@openssh.com");
	put_string(&b, pk, sizeof(pk));
	put_cstr(&b, "ssh:");
	sk_ed = line_of("sk-ssh-ed25519@openssh.com", &b, "sk-ed25519 test key");

	split_line(ec256, &ecf); /* type, curve, point */
	b.len = 0;
	put_cstr(&b, "sk-ecdsa-sha2-nistp256@openssh.com");
	put_cstr(&b, "nistp256");
	put_string(&b, ecf.part[2], ecf.part_len[2]);
	put_cstr(&b, "ssh:");
	sk_ec = line_of("sk-ecdsa-sha2-nistp256@openssh.com", &b, "sk-ecdsa test key");
	b.len = 0;
	put_cstr(&b, "sk-ecdsa-sha2-nistp256@openssh.com");
	put_cstr(&b, "nistp256");
	put_string(&b, ecf.part[2], ecf.part_len[2]);
	put_cstr(&b, "");
	sk_ec_noapp = line_of("sk-ecdsa-sha2-nistp256@openssh.com", &b, NULL);
	b.len = 0;
	put_cstr(&b, "sk-ssh-ed25519@openssh.com");
	put_string(&b, pk, sizeof(pk));
	put_cstr(&b, "ssh:\x1b[2J");
	sk_ed_badapp = line_of("sk-ssh-ed25519@openssh.com", &b, NULL);

	/* Blank handling: a tab is a blank; blanks inside the comment stay. */
	ed_tabs = keep(strdup(ed));
	*strchr(ed_tabs, ' ') = '\t';
	*strrchr(ed_tabs, ' ') = '\t';
	ed_big_comment = concat(ed, "  and\tmore ");
	ed_big_comment = concat(ed_big_comment, "x");
	/* Exactly KEY_LINE_MAX bytes is accepted; one more is not. */
	ed_long_ok = keep(malloc(KEY_LINE_MAX + 2));
	memset(ed_long_ok, 'c', KEY_LINE_MAX);
	memcpy(ed_long_ok, ed, strlen(ed));
	ed_long_ok[KEY_LINE_MAX] = '\0';
	ed_long_bad = concat(ed_long_ok, "c");

	const struct accept_case accepts[] = {
		{ "ed25519", ed, NULL, KEY_FAMILY_ED25519, "ssh-ed25519", 256,
		  "test-ed25519" },
		{ "ecdsa256", ec256, NULL, KEY_FAMILY_ECDSA,
		  "ecdsa-sha2-nistp256", 256, "test-ecdsa256" },
		{ "ecdsa384", ec384, NULL, KEY_FAMILY_ECDSA,
		  "ecdsa-sha2-nistp384", 384, "test-ecdsa384" },
		{ "ecdsa521", ec521, NULL, KEY_FAMILY_ECDSA,
		  "ecdsa-sha2-nistp521", 521, "test-ecdsa521" },
		{ "rsa3072", rsa3072, NULL, KEY_FAMILY_RSA, "ssh-rsa", 3072,
		  "test-rsa3072" },
		{ "rsa4096", rsa4096, NULL, KEY_FAMILY_RSA, "ssh-rsa", 4096,
		  "test-rsa4096" },
		{ "sk-ed25519", sk_ed, NULL, KEY_FAMILY_SK_ED25519,
		  "sk-ssh-ed25519@openssh.com", 256, "sk-ed25519 test key" },
		{ "sk-ecdsa", sk_ec, NULL, KEY_FAMILY_SK_ECDSA,
		  "sk-ecdsa-sha2-nistp256@openssh.com", 256, "sk-ecdsa test key" },
		{ "rsa2048-under-min-2048", rsa2048, &rsa_2048, KEY_FAMILY_RSA,
		  "ssh-rsa", 2048, "test-rsa2048" },
		{ "rsa1024-under-min-0", rsa1024, &rsa_any, KEY_FAMILY_RSA,
		  "ssh-rsa", 1024, "test-rsa1024" },
		{ "ecdsa-only-policy", ec384, &ecdsa_only, KEY_FAMILY_ECDSA,
		  "ecdsa-sha2-nistp384", 384, "test-ecdsa384" },
		{ "tabs", ed_tabs, NULL, KEY_FAMILY_ED25519, "ssh-ed25519", 256,
		  "test-ed25519" },
		{ "comment-blanks", ed_big_comment, NULL, KEY_FAMILY_ED25519,
		  "ssh-ed25519", 256, "test-ed25519  and more x" },
		{ "rsa16384-hand-made", rsa_line_of_bits(16384), &rsa_any,
		  KEY_FAMILY_RSA, "ssh-rsa", 16384, "hand-made" },
		{ "rsa1024-hand-made", rsa_line_of_bits(1024), &rsa_any,
		  KEY_FAMILY_RSA, "ssh-rsa", 1024, "hand-made" },
		{ "line-of-8192", ed_long_ok, NULL, KEY_FAMILY_ED25519,
		  "ssh-ed25519", 256, ed_long_ok + strlen(ed) - strlen("test-ed25519") },
	};
	char *no_comment = keep(strndup(ed, (size_t)(strrchr(ed, ' ') - ed)));
	const struct accept_case no_comment_case = {
		"no-comment", no_comment, NULL, KEY_FAMILY_ED25519,
		"ssh-ed25519", 256, ""
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(accepts); i++)
		TEST(check_accept(&accepts[i]));
	TEST(check_accept(&no_comment_case));

	/* Variants of real keys, for the blob-level refusals. */
	split_line(ed, &edf);  /* type, key */
	split_line(rsa3072, &rsaf); /* type, e, n */
	snprintf(ed_b64, sizeof(ed_b64), "%.*s", (int)strcspn(ed + 12, " "), ed + 12);

#define LINE(type, comment, ...)                                               \
	(b.len = 0, __VA_ARGS__, line_of(type, &b, comment))

	char *ed_as_rsa = concat("ssh-rsa ", ed_b64);
	char *ed_as_ecdsa = concat("ecdsa-sha2-nistp256 ", ed_b64);
	char *ed_as_sk = concat("sk-ssh-ed25519@openssh.com ", ed_b64);
	char *ec256_as_384 = concat("ecdsa-sha2-nistp384 ", strchr(ec256, ' ') + 1);
	char *rsa_as_sha2 = concat("rsa-sha2-256 ", strchr(rsa3072, ' ') + 1);
	char *ed_trailing = LINE("ssh-ed25519", NULL,
				 put_bytes(&b, edf.raw.data, edf.raw.len),
				 put_u32(&b, 0));
	char *ed_short = LINE("ssh-ed25519", NULL, put_cstr(&b, "ssh-ed25519"),
			      put_string(&b, edf.part[1], 31));
	char *ed_huge_len = LINE("ssh-ed25519", NULL, put_cstr(&b, "ssh-ed25519"),
				 put_u32(&b, 0xffffffffu),
				 put_bytes(&b, edf.part[1], 32));
	char *ec_wrong_curve = LINE("ecdsa-sha2-nistp256", NULL,
				    put_cstr(&b, "ecdsa-sha2-nistp256"),
				    put_cstr(&b, "nistp384"),
				    put_string(&b, ecf.part[2], ecf.part_len[2]));
	unsigned char point[133];
	memcpy(point, ecf.part[2], ecf.part_len[2]);
	point[0] = 0x02;
	char *ec_compressed = LINE("ecdsa-sha2-nistp256", NULL,
				   put_cstr(&b, "ecdsa-sha2-nistp256"),
				   put_cstr(&b, "nistp256"),
				   put_string(&b, point, 33));
	point[0] = 0x04;
	point[64] ^= 0x01;
	char *ec_off_curve = LINE("ecdsa-sha2-nistp256", NULL,
				  put_cstr(&b, "ecdsa-sha2-nistp256"),
				  put_cstr(&b, "nistp256"),
				  put_string(&b, point, 65));
	memset(point + 1, 0, 31); /* x = 1 byte long: fewer bits than order/2 */
	char *ec_small_x = LINE("ecdsa-sha2-nistp256", NULL,
				put_cstr(&b, "ecdsa-sha2-nistp256"),
				put_cstr(&b, "nistp256"),
				put_string(&b, point, 65));
	unsigned char n_padded[1024];
	n_padded[0] = 0;
	memcpy(n_padded + 1, rsaf.part[2], rsaf.part_len[2]);
	char *rsa_leading_zero = LINE("ssh-rsa", NULL, put_cstr(&b, "ssh-rsa"),
				      put_string(&b, rsaf.part[1], rsaf.part_len[1]),
				      put_string(&b, n_padded, rsaf.part_len[2] + 1));
	char *rsa_negative = LINE("ssh-rsa", NULL, put_cstr(&b, "ssh-rsa"),
				  put_string(&b, rsaf.part[1], rsaf.part_len[1]),
				  put_string(&b, rsaf.part[2] + 1, rsaf.part_len[2] - 1));
	char *rsa_even_e = LINE("ssh-rsa", NULL, put_cstr(&b, "ssh-rsa"),
				put_string(&b, "\x01\x00\x00", 3),
				put_string(&b, rsaf.part[2], rsaf.part_len[2]));
	char *rsa_512 = LINE("ssh-rsa", NULL, put_cstr(&b, "ssh-rsa"),
			     put_string(&b, rsaf.part[1], rsaf.part_len[1]),
			     put_string(&b, rsaf.part[2], 65));
	char *rsa_no_n = LINE("ssh-rsa", NULL, put_cstr(&b, "ssh-rsa"),
			      put_string(&b, rsaf.part[1], rsaf.part_len[1]));

	/* ecdsa-256's base64 ends in one '=': its last data character carries
	 * two zero bits; setting one is the classic non-canonical encoding. */
	const char *ec_b64 = strchr(ec256, ' ') + 1;
	size_t ec_b64_len = strcspn(ec_b64, " ");
	char *ec_trailing_bits = keep(strndup(ec256, (size_t)(ec_b64 - ec256) + ec_b64_len));
	p = ec_trailing_bits + (ec_b64 - ec256) + ec_b64_len - 2;
	*p = (char)(*p + 1); /* A E I ... w 0 4 8 -> the next index, low bit set */
	char *ec_no_pad = keep(strndup(ec256, (size_t)(ec_b64 - ec256) + ec_b64_len - 1));
	char *ed_extra_pad = concat(concat("ssh-ed25519 ", ed_b64), "====");
	char *ed_pad_inside = b64_with(ed, 20, '=');
	char *ed_split = keep(malloc(strlen(ed) + 2)); /* a blank after 20 chars */
	sprintf(ed_split, "%.32s %s", ed, ed + 32);
	char *ed_split18 = keep(strdup(ed));
	ed_split18[12 + 18] = ' ';

	char *ed_lf_inject = concat(concat(ed, "\n"), rsa3072);
	char *ed_nul = keep(strdup(ed));
	char *ed_too_long = keep(malloc(strlen(ed) + 1 + 8200 + 1));
	sprintf(ed_too_long, "%s %8200s", ed, "");
	memset(ed_too_long + strlen(ed) + 1, 'a', 8200);
	ed_nul[20] = '\0';

	const struct reject_case rejects[] = {
		/* bytes */
		{ "empty", "", SIZE_MAX, NULL, R_EMPTY },
		{ "lf-injection", ed_lf_inject, SIZE_MAX, NULL, R_LINE_BREAK },
		{ "cr-injection", concat(concat(ed, "\r"), ed), SIZE_MAX, NULL, R_LINE_BREAK },
		{ "final-lf", concat(ed, "\n"), SIZE_MAX, NULL, R_LINE_BREAK },
		{ "final-crlf", concat(ed, "\r\n"), SIZE_MAX, NULL, R_LINE_BREAK },
		{ "lf-in-comment", concat(ed, "x\nssh-ed25519 EVIL"), SIZE_MAX, NULL, R_LINE_BREAK },
		{ "nul-inside", ed_nul, strlen(ed), NULL, R_NUL },
		{ "nul-at-end", ed, strlen(ed) + 1, NULL, R_NUL },
		{ "escape-in-comment", concat(ed, "\x1b[31mred"), SIZE_MAX, NULL, R_CONTROL },
		{ "del-in-comment", concat(ed, "\x7f"), SIZE_MAX, NULL, R_CONTROL },
		{ "ctrl-a", concat(ed, "\x01"), SIZE_MAX, NULL, R_CONTROL },
		{ "utf8-comment", concat(ed, " caf\xc3\xa9"), SIZE_MAX, NULL, R_NON_ASCII },
		{ "byte-ff", concat("\xff", ed), SIZE_MAX, NULL, R_NON_ASCII },
		{ "over-8k", ed_too_long, SIZE_MAX, NULL, R_TOO_LONG },
		{ "8193-bytes", ed_long_bad, SIZE_MAX, NULL, R_TOO_LONG },
		/* blanks and fields */
		{ "only-blank", " ", SIZE_MAX, NULL, R_LEADING },
		{ "leading-space", concat(" ", ed), SIZE_MAX, NULL, R_LEADING },
		{ "leading-tab", concat("\t", ed), SIZE_MAX, NULL, R_LEADING },
		{ "trailing-space", concat(ed, " "), SIZE_MAX, NULL, R_TRAILING },
		{ "trailing-tab", concat(ed, "\t"), SIZE_MAX, NULL, R_TRAILING },
		{ "type-only", "ssh-ed25519", SIZE_MAX, NULL, R_ONE_FIELD },
		{ "type-and-blank", "ssh-ed25519 ", SIZE_MAX, NULL, R_TRAILING },
		{ "two-spaces-after-type", concat("ssh-ed25519  ", ed_b64), SIZE_MAX, NULL, R_BLANK_RUN },
		{ "space-tab-before-comment", concat(concat("ssh-ed25519 ", ed_b64), " \tx"), SIZE_MAX, NULL, R_BLANK_RUN },
		/* options */
		{ "command", concat("command=\"sh\" ", ed), SIZE_MAX, NULL, R_OPTIONS },
		{ "command-with-blanks", concat("command=\"echo hi there\" ", ed), SIZE_MAX, NULL, R_OPTIONS },
		{ "from", concat("from=\"10.0.0.1\" ", ed), SIZE_MAX, NULL, R_OPTIONS },
		{ "restrict", concat("restrict ", ed), SIZE_MAX, NULL, R_OPTIONS },
		{ "RESTRICT", concat("RESTRICT ", ed), SIZE_MAX, NULL, R_OPTIONS },
		{ "cert-authority", concat("cert-authority ", ed), SIZE_MAX, NULL, R_OPTIONS },
		{ "option-list", concat("no-pty,no-port-forwarding ", ed), SIZE_MAX, NULL, R_OPTIONS },
		{ "environment", concat("environment=\"LD_PRELOAD=/x\" ", ed), SIZE_MAX, NULL, R_OPTIONS },
		{ "option-alone", "restrict", SIZE_MAX, NULL, R_OPTIONS },
		{ "unknown-word-then-key", concat("please ", ed), SIZE_MAX, NULL, R_OPTIONS },
		/* types */
		{ "dsa", dsa, SIZE_MAX, NULL, R_DSA },
		{ "certificate", cert, SIZE_MAX, NULL, R_CERT },
		{ "cert-type-plain-blob", concat("ssh-ed25519-cert-v01@openssh.com ", ed_b64), SIZE_MAX, NULL, R_CERT },
		{ "unknown-type", "ssh-foo AAAA", SIZE_MAX, NULL, R_UNKNOWN_TYPE },
		{ "upper-case-type", concat("SSH-ED25519 ", ed_b64), SIZE_MAX, NULL, R_UNKNOWN_TYPE },
		{ "signature-alg-as-type", rsa_as_sha2, SIZE_MAX, NULL, R_UNKNOWN_TYPE },
		{ "base64-only", ed_b64, SIZE_MAX, NULL, R_UNKNOWN_TYPE },
		/* base64 */
		{ "url-safe-minus", b64_with(ed, 30, '-'), SIZE_MAX, NULL, R_B64_ALPHABET },
		{ "url-safe-underscore", b64_with(ed, 31, '_'), SIZE_MAX, NULL, R_B64_ALPHABET },
		{ "dot-in-base64", b64_with(ed, 5, '.'), SIZE_MAX, NULL, R_B64_ALPHABET },
		{ "padding-inside", ed_pad_inside, SIZE_MAX, NULL, R_B64_PAD_INSIDE },
		{ "padding-only", "ssh-ed25519 ====", SIZE_MAX, NULL, R_B64_PAD_INSIDE },
		{ "padding-missing", ec_no_pad, SIZE_MAX, NULL, R_B64_LENGTH },
		{ "blank-inside-base64-18", ed_split18, SIZE_MAX, NULL, R_B64_LENGTH },
		{ "blank-inside-base64-20", ed_split, SIZE_MAX, NULL, R_TRUNCATED },
		{ "padding-extra", ed_extra_pad, SIZE_MAX, NULL, R_B64_NOT_CANONICAL },
		{ "trailing-bits", ec_trailing_bits, SIZE_MAX, NULL, R_B64_NOT_CANONICAL },
		/* blob */
		{ "ed25519-blob-as-rsa", ed_as_rsa, SIZE_MAX, NULL, R_TYPE_MISMATCH },
		{ "ed25519-blob-as-ecdsa", ed_as_ecdsa, SIZE_MAX, NULL, R_TYPE_MISMATCH },
		{ "ed25519-blob-as-sk", ed_as_sk, SIZE_MAX, NULL, R_TYPE_MISMATCH },
		{ "p256-blob-as-p384", ec256_as_384, SIZE_MAX, NULL, R_TYPE_MISMATCH },
		{ "trailing-garbage-in-blob", ed_trailing, SIZE_MAX, NULL, R_TRAILING_DATA },
		{ "ed25519-31-bytes", ed_short, SIZE_MAX, NULL, R_ED25519_SIZE },
		{ "length-overflow", ed_huge_len, SIZE_MAX, NULL, R_TRUNCATED },
		{ "tiny-blob", "ssh-ed25519 AAAA", SIZE_MAX, NULL, R_TRUNCATED },
		{ "ecdsa-wrong-curve", ec_wrong_curve, SIZE_MAX, NULL, R_EC_CURVE },
		{ "ecdsa-compressed", ec_compressed, SIZE_MAX, NULL, R_EC_POINT },
		{ "ecdsa-small-x", ec_small_x, SIZE_MAX, NULL, R_EC_POINT },
		{ "ecdsa-off-curve", ec_off_curve, SIZE_MAX, NULL, R_LIBSSH },
		{ "sk-empty-application", sk_ec_noapp, SIZE_MAX, NULL, R_SK_APP },
		{ "sk-escape-application", sk_ed_badapp, SIZE_MAX, NULL, R_SK_APP },
		{ "rsa-leading-zero", rsa_leading_zero, SIZE_MAX, NULL, R_RSA_NUMBER },
		{ "rsa-negative-modulus", rsa_negative, SIZE_MAX, NULL, R_RSA_NUMBER },
		{ "rsa-even-exponent", rsa_even_e, SIZE_MAX, NULL, R_RSA_EXPONENT },
		{ "rsa-512", rsa_512, SIZE_MAX, &rsa_any, R_RSA_FLOOR },
		{ "rsa-1023", rsa_line_of_bits(1023), SIZE_MAX, &rsa_any, R_RSA_FLOOR },
		{ "rsa-16385", rsa_line_of_bits(16385), SIZE_MAX, &rsa_any, R_RSA_CEILING },
		{ "rsa-missing-modulus", rsa_no_n, SIZE_MAX, NULL, R_TRUNCATED },
		/* policy */
		{ "rsa-1024", rsa1024, SIZE_MAX, NULL, R_RSA_MIN },
		{ "rsa-2048", rsa2048, SIZE_MAX, NULL, R_RSA_MIN },
		{ "rsa-3072-under-4096", rsa3072, SIZE_MAX,
		  &(const struct key_policy){ KEY_FAMILIES_DEFAULT, 4096 }, R_RSA_MIN },
		{ "ecdsa-not-allowed", ec256, SIZE_MAX, &ed25519_only, R_NOT_ALLOWED("ecdsa") },
		{ "rsa-not-allowed", rsa4096, SIZE_MAX, &ed25519_only, R_NOT_ALLOWED("rsa") },
		{ "sk-ed25519-not-allowed", sk_ed, SIZE_MAX, &ed25519_only, R_NOT_ALLOWED("sk-ed25519") },
		{ "sk-ecdsa-not-allowed", sk_ec, SIZE_MAX, &ed25519_only, R_NOT_ALLOWED("sk-ecdsa") },
		{ "ed25519-not-allowed", ed, SIZE_MAX, &none_allowed, R_NOT_ALLOWED("ed25519") },
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(rejects); i++)
		TEST(check_reject(&rejects[i]));
	fprintf(stderr, "%zu acceptance and %zu rejection cases\n",
		SL_ARRAY_SIZE(accepts) + 1, SL_ARRAY_SIZE(rejects));

	free_all();
	/* The test's own keys and files go too. */
	{
		char *argv[] = { "rm", "-rf", tmpdir, NULL };
		char out[16];

		run_capture(argv, out, sizeof(out));
	}
	return test_done();
}

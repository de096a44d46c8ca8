/* Files, commands, a throwaway account and keys for the daemon's C tests
 * (fixture.h). */
#define _GNU_SOURCE /* getdelim */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "authkeys.h"
#include "fixture.h"

char *fixture_read_text(const char *path)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t size = 0;

	if (!f)
		return strdup("");
	if (getdelim(&text, &size, '\0', f) < 0) {
		free(text);
		text = strdup("");
	}
	fclose(f);
	return text;
}

void fixture_write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
	    fchmod(fd, mode) < 0) {
		perror(path);
		exit(1);
	}
	close(fd);
}

int fixture_run_command(char *const argv[])
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (null_fd >= 0)
			dup2(null_fd, STDOUT_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

const char *fixture_str(const char *text)
{
	return text ? text : "";
}

size_t fixture_count(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

char *fixture_json_of_size(size_t len)
{
	char *text = malloc(len + 1);

	if (!text || len < 8)
		abort();
	memcpy(text, "{\"a\":\"", 6);
	memset(text + 6, 'x', len - 8);
	memcpy(text + len - 2, "\"}", 3);
	return text;
}

void fixture_remove_tree(const char *dir)
{
	if (fixture_run_command((char *[]){ "rm", "-rf", "--", (char *)dir, NULL }) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

/* Make the account's ~/.ssh (0700, its own) and fill in the paths. */
static int account_prepare(struct fixture_account *account)
{
	const struct account *acct = account->acct;

	snprintf(account->ssh, sizeof(account->ssh), "%s/.ssh", acct->home);
	snprintf(account->ak, sizeof(account->ak), "%s/authorized_keys", account->ssh);
	if ((mkdir(account->ssh, 0700) < 0 && errno != EEXIST) ||
	    chown(account->ssh, acct->uid, acct->gid) < 0 ||
	    chmod(account->ssh, 0700) < 0) {
		perror(account->ssh);
		return 1;
	}
	return 0;
}

int fixture_account_run(const char *prefix,
			int (*fn)(struct fixture_account *account, void *arg),
			void *arg)
{
	struct fixture_account account = { 0 };
	unsigned char random[4];
	char name[32];
	const char *why = NULL;
	int status = 0, failed = 1;
	pid_t pid;

	if (sodium_init() < 0)
		return 1;
	randombytes_buf(random, sizeof(random));
	snprintf(name, sizeof(name), "%s%02x%02x%02x%02x", prefix, random[0],
		 random[1], random[2], random[3]);
	if (fixture_run_command((char *[]){ "useradd", "-m", "-s", "/bin/sh", "-c",
					    "sshlease test", name, NULL }) != 0) {
		fprintf(stderr, "useradd %s failed\n", name);
		return 1;
	}
	if (account_lookup(name, &account.acct, &why) != 0) {
		fprintf(stderr, "account %s: %s\n", name, why ? why : "lookup failed");
		goto out;
	}
	/* In a child, so that the account goes whatever happens. */
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(account_prepare(&account) != 0 || fn(&account, arg) != 0);
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		fprintf(stderr, "the tests on account %s failed\n", name);
	else
		failed = 0;
out:
	account_free(account.acct);
	if (fixture_run_command((char *[]){ "userdel", "-r", name, NULL }) != 0)
		fprintf(stderr, "userdel -r %s failed\n", name);
	return failed;
}

void fixture_write_keys(const struct fixture_account *account, const char *text)
{
	fixture_write_file(account->ak, text, 0600);
	if (chown(account->ak, account->acct->uid, account->acct->gid) < 0) {
		perror(account->ak);
		exit(1);
	}
}

void fixture_key_new(char *line, size_t size, const char *comment)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	unsigned char blob[4 + 11 + 4 + crypto_sign_PUBLICKEYBYTES];
	char b64[sodium_base64_ENCODED_LEN(sizeof(blob), sodium_base64_VARIANT_ORIGINAL)];

	if (sodium_init() < 0) {
		fprintf(stderr, "sodium_init failed\n");
		exit(1);
	}
	crypto_sign_keypair(pk, sk);
	memcpy(blob, "\0\0\0\x0bssh-ed25519\0\0\0\x20", 4 + 11 + 4);
	memcpy(blob + 19, pk, sizeof(pk));
	sodium_bin2base64(b64, sizeof(b64), blob, sizeof(blob),
			  sodium_base64_VARIANT_ORIGINAL);
	snprintf(line, size, "ssh-ed25519 %s %s", b64, comment);
}

const char *fixture_key_blob(const char *line)
{
	static char blob[256];
	const char *start = strchr(line, ' ') + 1;
	size_t len = strcspn(start, " ");

	snprintf(blob, sizeof(blob), "%.*s", (int)len, start);
	return blob;
}

char *fixture_managed_line(const char *id, const char *key, time_t deadline)
{
	struct authkeys_line_spec spec = {
		.id = id,
		.key_type = "ssh-ed25519",
		.blob_base64 = fixture_key_blob(key),
		.deadline = deadline,
		.expiry = AUTHKEYS_EXPIRY_UTC,
		.mode = AUTHKEYS_MODE_SHELL,
	};
	const char *why = NULL;
	char *line = NULL;

	if (authkeys_format_line(&spec, &line, &why) != 0) {
		fprintf(stderr, "authkeys_format_line: %s\n", why ? why : "?");
		exit(1);
	}
	return line;
}

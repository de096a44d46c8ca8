/* Account lookups against the real user database, with a throwaway account
 * whose long GECOS field forces the getpw*_r buffer to grow. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "account.h"
#include "test.h"

static int run(char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_refused_names(void)
{
	static const struct {
		const char *what, *name;
	} cases[] = {
		{ "empty", "" },
		{ "upper case", "Root" },
		{ "space", "a b" },
		{ "leading dash", "-root" },
		{ "leading digit", "1abc" },
		{ "slash", "../etc" },
		{ "newline", "root\n" },
		{ "escape", "ro\033ot" },
		{ "33 characters", "abcdefghijklmnopqrstuvwxyzabcdefg" },
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		struct account *a = NULL;
		const char *why = NULL;
		int r = account_lookup(cases[i].name, &a, &why);

		CHECK_MSG(r == SL_REFUSED, "%s: r = %d", cases[i].what, r);
		CHECK_MSG(why && strcmp(why, "not a valid account name") == 0,
			  "%s: why = %s", cases[i].what, why ? why : "(null)");
		CHECK(a == NULL);
	}
}

static void test_root_and_missing(void)
{
	struct account *a = NULL;
	const char *why = NULL;
	char name[32];
	unsigned char random[4];

	CHECK_INT(account_lookup("root", &a, &why), 0);
	if (a) {
		CHECK_STR(a->name, "root");
		CHECK_INT(a->uid, 0);
		CHECK_INT(a->gid, 0);
		CHECK(a->home[0] == '/');
	}
	account_free(a);
	a = NULL;
	CHECK_INT(account_lookup_uid(0, &a, &why), 0);
	if (a)
		CHECK_STR(a->name, "root");
	account_free(a);
	a = NULL;

	randombytes_buf(random, sizeof(random));
	snprintf(name, sizeof(name), "sltnone%02x%02x%02x%02x", random[0],
		 random[1], random[2], random[3]);
	CHECK_INT(account_lookup(name, &a, &why), SL_NOT_FOUND);
	CHECK(a == NULL);
	/* 4294967294 is (uid_t)-2: reserved, never a real account. */
	CHECK_INT(account_lookup_uid((uid_t)-2, &a, &why), SL_NOT_FOUND);
	CHECK(a == NULL);
	account_free(NULL);
}

/* A real account whose passwd entry does not fit the first buffer. */
static void test_throwaway(const char *name)
{
	struct account *by_name = NULL, *by_uid = NULL;
	const char *why = NULL;
	struct passwd *pw = getpwnam(name);

	CHECK(pw != NULL);
	if (!pw)
		return;
	CHECK_INT(account_lookup(name, &by_name, &why), 0);
	if (!by_name)
		return;
	CHECK_STR(by_name->name, name);
	CHECK_INT(by_name->uid, pw->pw_uid);
	CHECK_INT(by_name->gid, pw->pw_gid);
	CHECK_STR(by_name->home, pw->pw_dir);
	CHECK_STR(by_name->shell, "/bin/sh");
	CHECK_INT(account_lookup_uid(by_name->uid, &by_uid, &why), 0);
	if (by_uid) {
		CHECK_STR(by_uid->name, name);
		CHECK_STR(by_uid->home, by_name->home);
	}
	account_free(by_name);
	account_free(by_uid);
}

int main(void)
{
	unsigned char random[4];
	char name[32], gecos[3001];
	int status = 0;
	pid_t pid;

	test_require_root();
	if (sodium_init() < 0)
		return 1;
	randombytes_buf(random, sizeof(random));
	snprintf(name, sizeof(name), "slt%02x%02x%02x%02x", random[0], random[1],
		 random[2], random[3]);
	memset(gecos, 'g', sizeof(gecos) - 1);
	gecos[sizeof(gecos) - 1] = '\0';
	if (run((char *[]){ "useradd", "-M", "-d", "/nonexistent-sshlease-test",
			    "-s", "/bin/sh", "-c", gecos, name, NULL }) != 0) {
		fprintf(stderr, "useradd %s failed\n", name);
		return 1;
	}
	/* The checks run in a child so the account is removed whatever
	 * happens to them. */
	pid = fork();
	if (pid == 0) {
		TEST(test_refused_names());
		TEST(test_root_and_missing());
		TEST(test_throwaway(name));
		exit(test_done());
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		status = 1 << 8;
	if (run((char *[]){ "userdel", name, NULL }) != 0)
		fprintf(stderr, "userdel %s failed\n", name);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* sshleased's token terms as pure functions: source lists within source
 * lists, and how a token, the request and the config make a grant's terms
 * (the request narrows, the config wins). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "redeem.h"
#include "test.h"

static void test_from_within(void)
{
	static const struct {
		const char *inner, *outer;
		bool within;
	} cases[] = {
		{ "10.1.2.3", "10.0.0.0/8", true },
		{ "10.1.0.0/16", "10.0.0.0/8", true },
		{ "10.0.0.0/8", "10.0.0.0/8", true },
		{ "10.0.0.0/7", "10.0.0.0/8", false },
		{ "11.0.0.0/8", "10.0.0.0/8", false },
		{ "10.0.0.0/8", "10.0.0.0/7", true },
		{ "11.255.255.255", "10.0.0.0/7", true },
		{ "12.0.0.0", "10.0.0.0/7", false },
		/* a prefix off a byte boundary */
		{ "192.0.2.128/25", "192.0.2.0/24", true },
		{ "192.0.2.64/26", "192.0.2.128/25", false },
		{ "192.0.2.200", "192.0.2.192/27", true },
		{ "192.0.2.191", "192.0.2.192/27", false },
		{ "203.0.113.7", "203.0.113.7", true },
		{ "203.0.113.8", "203.0.113.7", false },
		{ "0.0.0.0/0", "0.0.0.0/0", true },
		{ "198.51.100.1", "0.0.0.0/0", true },
		{ "0.0.0.0/0", "10.0.0.0/8", false },
		/* every entry must fit somewhere */
		{ "10.1.0.0/16,192.0.2.1", "192.0.2.0/24,10.0.0.0/8", true },
		{ "10.1.0.0/16,198.51.100.1", "192.0.2.0/24,10.0.0.0/8", false },
		/* IPv6, and never across families */
		{ "2001:db8:1::/48", "2001:db8::/32", true },
		{ "2001:db8::1", "2001:db8::/32", true },
		{ "2001:db9::1", "2001:db8::/32", false },
		{ "2001:db8::/31", "2001:db8::/32", false },
		{ "::ffff:10.0.0.1", "10.0.0.0/8", false },
		{ "10.0.0.1", "::/0", false },
		{ "::1", "::/0", true },
		/* nothing, or junk, is never within */
		{ "", "10.0.0.0/8", false },
		{ "10.0.0.1", "", false },
		{ "10.0.0.1", "10.0.0.0/33", false },
		{ "bogus", "0.0.0.0/0", false },
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++)
		CHECK_MSG(redeem_from_within(cases[i].inner, cases[i].outer) ==
				  cases[i].within,
			  "%s within %s: expected %s", cases[i].inner, cases[i].outer,
			  cases[i].within ? "yes" : "no");
	CHECK(!redeem_from_within(NULL, "10.0.0.0/8"));
	CHECK(!redeem_from_within("10.0.0.1", NULL));
}

/* A token as token_decode would give it (only what redeem_terms reads). */
static struct token token_of(const char *user, int64_t duration, const char *from,
			     enum authkeys_mode mode, const char *ticket)
{
	return (struct token){
		.version = 1,
		.user = (char *)user,
		.duration = duration,
		.from = (char *)from,
		.mode = mode,
		.ticket = (char *)ticket,
	};
}

static void test_terms(void)
{
	struct sshlease_config *config = config_new_defaults();
	const time_t now = 1800000000;
	struct redeem_terms terms;
	struct redeem_asked asked;
	struct token token;
	char message[512];
	int r;

	CHECK(config != NULL);
	if (!config)
		return;
	config->max_duration = 2 * 86400;

	/* The token's terms, as they are. */
	token = token_of("shop", 3600, NULL, AUTHKEYS_MODE_SHELL, "T-1");
	asked = (struct redeem_asked){ 0 };
	r = redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message));
	CHECK_INT(r, 0);
	CHECK_STR(terms.user, "shop");
	CHECK_STR(terms.ticket, "T-1");
	CHECK(terms.from == NULL);
	CHECK_INT(terms.mode, AUTHKEYS_MODE_SHELL);
	CHECK_INT(terms.deadline, now + 3600);

	/* The account: named by the request when the token does not; the
	 * same name is fine, another is not; none at all is refused. */
	token = token_of(NULL, 3600, NULL, AUTHKEYS_MODE_SHELL, NULL);
	asked = (struct redeem_asked){ .user = "deploy" };
	CHECK_INT(redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message)), 0);
	CHECK_STR(terms.user, "deploy");
	asked = (struct redeem_asked){ 0 };
	CHECK_INT(redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message)),
		  SL_REFUSED);
	CHECK(strstr(message, "names no account") != NULL);
	token = token_of("shop", 3600, NULL, AUTHKEYS_MODE_SHELL, NULL);
	asked = (struct redeem_asked){ .user = "shop" };
	CHECK_INT(redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message)), 0);
	asked = (struct redeem_asked){ .user = "deploy" };
	CHECK_INT(redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message)),
		  SL_REFUSED);
	CHECK(strstr(message, "for the account shop, not deploy") != NULL);

	/* The duration: within max_duration; the request may shorten it. */
	token = token_of("shop", 3 * 86400, NULL, AUTHKEYS_MODE_SHELL, NULL);
	asked = (struct redeem_asked){ 0 };
	CHECK_INT(redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message)),
		  SL_REFUSED);
	CHECK(strstr(message, "asks for 3d") && strstr(message, "max_duration (2d)"));
	token = token_of("shop", 2 * 86400, NULL, AUTHKEYS_MODE_SHELL, NULL);
	CHECK_INT(redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message)), 0);
	token = token_of("shop", 3600, NULL, AUTHKEYS_MODE_SHELL, NULL);
	asked = (struct redeem_asked){ .deadline = now + 1800 };
	CHECK_INT(redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message)), 0);
	CHECK_INT(terms.deadline, now + 1800);
	asked = (struct redeem_asked){ .deadline = now + 3600 };
	CHECK_INT(redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message)), 0);
	asked = (struct redeem_asked){ .deadline = now + 3601 };
	CHECK_INT(redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message)),
		  SL_REFUSED);
	CHECK(strstr(message, "allows at most 1h") != NULL);

	/* The source list: the token's within the config's; the request's
	 * within the token's; without either, the config's. */
	config->from = strdup("10.0.0.0/8,2001:db8::/32");
	CHECK(config->from != NULL);
	token = token_of("shop", 3600, NULL, AUTHKEYS_MODE_SHELL, NULL);
	asked = (struct redeem_asked){ 0 };
	CHECK_INT(redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message)), 0);
	CHECK_STR(terms.from, "10.0.0.0/8,2001:db8::/32");
	token = token_of("shop", 3600, "10.1.0.0/16", AUTHKEYS_MODE_SHELL, NULL);
	CHECK_INT(redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message)), 0);
	CHECK_STR(terms.from, "10.1.0.0/16");
	token = token_of("shop", 3600, "10.1.0.0/16,192.0.2.0/24", AUTHKEYS_MODE_SHELL, NULL);
	CHECK_INT(redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message)),
		  SL_REFUSED);
	CHECK(strstr(message, "not within this server's from") != NULL);
	token = token_of("shop", 3600, "10.1.0.0/16", AUTHKEYS_MODE_SHELL, NULL);
	asked = (struct redeem_asked){ .from = "10.1.2.0/24" };
	CHECK_INT(redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message)), 0);
	CHECK_STR(terms.from, "10.1.2.0/24");
	asked = (struct redeem_asked){ .from = "10.2.0.0/16" };
	CHECK_INT(redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message)),
		  SL_REFUSED);
	CHECK(strstr(message, "not within the token's") != NULL);

	/* Item: a token without a source list, and a request that asks for
	 * more than the config's from: refused, whatever the request says;
	 * a list within the config's applies. */
	token = token_of("shop", 3600, NULL, AUTHKEYS_MODE_SHELL, NULL);
	{
		static const struct {
			const char *from;
			bool ok;
		} asks[] = {
			{ "0.0.0.0/0,::/0", false },
			{ "0.0.0.0/0", false },
			{ "::/0", false },
			{ "11.0.0.1", false },
			{ "10.0.0.0/7", false },
			{ "10.1.2.3,192.0.2.1", false },
			{ "2001:db9::/32", false },
			{ "10.1.2.3", true },
			{ "10.0.0.0/8", true },
			{ "10.9.0.0/16,2001:db8:5::/48", true },
		};

		for (size_t i = 0; i < SL_ARRAY_SIZE(asks); i++) {
			asked = (struct redeem_asked){ .from = asks[i].from };
			memset(&terms, 0, sizeof(terms));
			r = redeem_terms(&token, &asked, config, now, &terms, message,
					 sizeof(message));
			CHECK_MSG(r == (asks[i].ok ? 0 : SL_REFUSED),
				  "token without from, --from %s: %d (%s)", asks[i].from, r,
				  message);
			if (asks[i].ok)
				CHECK_STR(terms.from, asks[i].from);
			else
				CHECK_MSG(strstr(message, "not within this server's from = 10.0.0.0/8,2001:db8::/32"),
					  "--from %s: %s", asks[i].from, message);
		}
	}
	/* Without a config from, a token without one may be narrowed to
	 * anything (there is nothing to widen). */
	free(config->from);
	config->from = NULL;
	asked = (struct redeem_asked){ .from = "0.0.0.0/0,::/0" };
	CHECK_INT(redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message)), 0);
	CHECK_STR(terms.from, "0.0.0.0/0,::/0");

	/* The mode: shell may become sftp, sftp never shell. */
	token = token_of("shop", 3600, NULL, AUTHKEYS_MODE_SHELL, NULL);
	asked = (struct redeem_asked){ .mode_given = true, .mode = AUTHKEYS_MODE_SFTP };
	CHECK_INT(redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message)), 0);
	CHECK_INT(terms.mode, AUTHKEYS_MODE_SFTP);
	token = token_of("shop", 3600, NULL, AUTHKEYS_MODE_SFTP, NULL);
	asked = (struct redeem_asked){ 0 };
	CHECK_INT(redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message)), 0);
	CHECK_INT(terms.mode, AUTHKEYS_MODE_SFTP);
	asked = (struct redeem_asked){ .mode_given = true, .mode = AUTHKEYS_MODE_SHELL };
	CHECK_INT(redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message)),
		  SL_REFUSED);
	CHECK(strstr(message, "SFTP only") != NULL);

	/* The ticket: the token's; the request's when the token has none. */
	token = token_of("shop", 3600, NULL, AUTHKEYS_MODE_SHELL, "T-1");
	asked = (struct redeem_asked){ .ticket = "T-1" };
	CHECK_INT(redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message)), 0);
	asked = (struct redeem_asked){ .ticket = "T-2" };
	CHECK_INT(redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message)),
		  SL_REFUSED);
	CHECK(strstr(message, "for ticket T-1, not T-2") != NULL);
	token = token_of("shop", 3600, NULL, AUTHKEYS_MODE_SHELL, NULL);
	CHECK_INT(redeem_terms(&token, &asked, config, now, &terms, message, sizeof(message)), 0);
	CHECK_STR(terms.ticket, "T-2");

	config_free(config);
}

int main(void)
{
	TEST(test_from_within());
	TEST(test_terms());
	return test_done();
}

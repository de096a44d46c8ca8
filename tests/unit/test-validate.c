/* Unit tests for the small validators (include/validate.h). */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "validate.h"

static void test_ticket(void)
{
	static const char *const good[] = {
		"1",
		"123456",
		"SUP-4711",
		"jira:OPS-12",
		"zendesk#98765",
		"a.b_c:d#e/f-g",
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._", /* 64 */
	};
	static const char chars[] = "a ticket may contain only letters, digits and . _ : # / -";
	static const struct {
		const char *name;
		const char *ticket;
		const char *why;
	} bad[] = {
		{ "NULL", NULL, "empty ticket" },
		{ "empty", "", "empty ticket" },
		{ "65 chars", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-",
		  "ticket longer than 64 characters" },
		{ "space", "SUP 4711", chars },
		{ "comma", "a,b", chars },
		{ "quote", "a\"b", chars },
		{ "semicolon", "a;rm", chars },
		{ "newline", "a\nb", chars },
		{ "escape", "a\x1b[31m", chars },
		{ "non-ASCII", "caf\xc3\xa9", chars },
		{ "at sign", "me@host", chars },
		{ "plus", "a+b", chars },
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(good); i++) {
		const char *why = NULL;

		CHECK_MSG(ticket_validate(good[i], &why) == 0, "\"%s\": %s",
			  good[i], why ? why : "");
	}
	CHECK_INT(strlen(good[SL_ARRAY_SIZE(good) - 1]), TICKET_MAX);
	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
		const char *why = NULL;
		int r = ticket_validate(bad[i].ticket, &why);

		CHECK_MSG(r == SL_REFUSED, "%s: returned %d", bad[i].name, r);
		CHECK_MSG(why && strcmp(why, bad[i].why) == 0,
			  "%s: why = \"%s\", expected \"%s\"", bad[i].name,
			  why ? why : "(null)", bad[i].why);
	}
}

/* "1.1.1.1,1.1.1.2,..." with n entries */
static char *from_list_of(int n)
{
	char *list = malloc((size_t)n * 16 + 1), *w = list;

	if (!list)
		abort();
	for (int i = 0; i < n; i++)
		w += sprintf(w, "%s198.51.100.%d", i ? "," : "", i + 1);
	return list;
}

static void test_from(void)
{
	static const struct {
		const char *list;
		const char *canonical;
	} good[] = {
		{ "203.0.113.7", "203.0.113.7" },
		{ "203.0.113.0/24", "203.0.113.0/24" },
		{ "203.0.113.7/32", "203.0.113.7/32" },
		{ "0.0.0.0/0", "0.0.0.0/0" },
		{ "10.0.0.0/8,192.0.2.1", "10.0.0.0/8,192.0.2.1" },
		{ "2001:db8::1", "2001:db8::1" },
		{ "2001:DB8:0:0:0:0:0:1", "2001:db8::1" },
		{ "2001:0db8::/32", "2001:db8::/32" },
		{ "::1", "::1" },
		{ "::/0", "::/0" },
		{ "2001:db8::1/128", "2001:db8::1/128" },
		{ "::ffff:192.0.2.1", "::ffff:192.0.2.1" },
		{ "203.0.113.0/24,2001:db8:abcd::/48", "203.0.113.0/24,2001:db8:abcd::/48" },
	};
	static const char v4[] = "not a valid IPv4 address (dotted quad, no host names or wildcards)";
	static const char v6[] = "not a valid IPv6 address (zone ids and host names are not allowed)";
	static const char range[] = "prefix length out of range (0-32 for IPv4, 0-128 for IPv6)";
	static const char host_bits[] = "address has bits set past the prefix length "
					"(write the network, e.g. 203.0.113.0/24)";
	static const char empty_entry[] = "empty entry in source list (two commas, or a comma at an end)";
	static const char spaces[] = "spaces are not allowed in a source list; separate entries with commas only";
	static const struct {
		const char *name;
		const char *list;
		const char *why;
	} bad[] = {
		{ "NULL", NULL, "empty source list" },
		{ "empty", "", "empty source list" },
		{ "host name", "example.com", v4 },
		{ "wildcard", "192.0.2.*", v4 },
		{ "negated pattern", "!192.0.2.1", v4 },
		{ "short IPv4", "192.0.2", v4 },
		{ "IPv4 octet 256", "192.0.2.256", v4 },
		{ "IPv4 leading zero", "192.0.2.01", v4 },
		{ "IPv6 zone id", "fe80::1%eth0", v6 },
		{ "bad IPv6", "2001:db8:::1", v6 },
		{ "IPv4 prefix 33", "192.0.2.0/33", range },
		{ "IPv6 prefix 129", "2001:db8::/129", range },
		{ "huge prefix", "192.0.2.0/99999999999", range },
		{ "negative prefix", "192.0.2.0/-1", "prefix length must be a decimal number" },
		{ "prefix with plus", "192.0.2.0/+8", "prefix length must be a decimal number" },
		{ "netmask form", "192.0.2.0/255.255.255.0", "prefix length must be a decimal number" },
		{ "leading zero prefix", "192.0.2.0/024", "prefix length has a leading zero" },
		{ "missing prefix", "192.0.2.0/", "missing prefix length after /" },
		{ "IPv4 host bits", "203.0.113.7/24", host_bits },
		{ "IPv6 host bits", "2001:db8::1/64", host_bits },
		{ "all host bits", "192.0.2.1/0", host_bits },
		{ "double comma", "192.0.2.1,,192.0.2.2", empty_entry },
		{ "leading comma", ",192.0.2.1", empty_entry },
		{ "trailing comma", "192.0.2.1,", empty_entry },
		{ "comma only", ",", empty_entry },
		{ "space after comma", "192.0.2.1, 192.0.2.2", spaces },
		{ "trailing space", "192.0.2.1 ", spaces },
		{ "tab", "192.0.2.1\t", spaces },
		{ "duplicate", "192.0.2.1,192.0.2.1", "the same address or CIDR is listed twice" },
		{ "duplicate in other spelling", "2001:db8::1,2001:DB8:0::1",
		  "the same address or CIDR is listed twice" },
		{ "quote", "192.0.2.1\"", v4 },
		{ "entry too long", "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb",
		  "source entry too long to be an address or CIDR" },
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(good); i++) {
		const char *why = NULL;
		char *out = NULL;
		int r = from_validate(good[i].list, &out, &why);

		CHECK_MSG(r == 0, "\"%s\": %d (%s)", good[i].list, r, why ? why : "");
		CHECK_STR(out, good[i].canonical);
		free(out);
	}
	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
		const char *why = NULL;
		char *out = NULL;
		int r = from_validate(bad[i].list, &out, &why);

		CHECK_MSG(r == SL_REFUSED, "%s: returned %d", bad[i].name, r);
		CHECK_MSG(why && strcmp(why, bad[i].why) == 0,
			  "%s: why = \"%s\", expected \"%s\"", bad[i].name,
			  why ? why : "(null)", bad[i].why);
		CHECK_MSG(out == NULL, "%s: *out was set", bad[i].name);
		free(out);
	}

	/* 32 entries pass, 33 do not */
	{
		const char *why = NULL;
		char *list = from_list_of(FROM_MAX_ENTRIES), *out = NULL;

		CHECK_INT(from_validate(list, &out, &why), 0);
		CHECK_STR(out, list);
		free(out);
		free(list);
		out = NULL;
		list = from_list_of(FROM_MAX_ENTRIES + 1);
		CHECK_INT(from_validate(list, &out, &why), SL_REFUSED);
		CHECK_STR(why, "more than 32 entries in source list");
		CHECK(out == NULL);
		free(list);
	}
}

static void test_username(void)
{
	static const char *const good[] = {
		"shop", "root", "_apt", "www-data", "a", "user.name", "a1",
		"samba$", "abcdefghijklmnopqrstuvwxyz012345", /* 32 */
	};
	static const char *const bad[] = {
		"", "Shop", "1shop", "-shop", ".shop", "sh op", "shop$x", "$",
		"sh:op", "sh/op", "sh\nop", "caf\xc3\xa9",
		"abcdefghijklmnopqrstuvwxyz0123456", /* 33 */
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(good); i++)
		CHECK_MSG(username_valid(good[i]), "\"%s\" refused", good[i]);
	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++)
		CHECK_MSG(!username_valid(bad[i]), "\"%s\" accepted", bad[i]);
	CHECK(!username_valid(NULL));
}

static void test_signer_name(void)
{
#define NAME64 "a234567890123456789012345678901234567890123456789012345678901234"

	CHECK(signer_name_valid("acme-support", 12));
	CHECK(signer_name_valid("support@vendor.example_1-2", 26));
	CHECK(signer_name_valid(NAME64, 64));
	CHECK(!signer_name_valid("x", 0));
	CHECK(!signer_name_valid(NAME64 "5", 65));
#undef NAME64
	CHECK(!signer_name_valid("vendor/support", 14));
	CHECK(!signer_name_valid("two words", 9));
	/* A NUL inside the counted bytes is not a name character. */
	CHECK(!signer_name_valid("acme\0x", 6));
}

static void test_grant_id(void)
{
	static const struct {
		const char *name, *id;
	} bad[] = {
		{ "empty", "" },
		{ "too short", "4cae1e8412a" },
		{ "too long", "4cae1e8412a5f" },
		{ "upper case", "4CAE1E8412A5" },
		{ "not hex", "4cae1e8412ag" },
		{ "blank", "4cae1e8412 5" },
	};

	CHECK(grant_id_valid("4cae1e8412a5", 12));
	CHECK(grant_id_valid("4cae1e8412a5 trailing", 12));
	CHECK(!grant_id_valid(NULL, 12));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(!grant_id_valid(bad[i].id, strlen(bad[i].id)), "%s", bad[i].name);
	/* a NUL inside the counted bytes */
	CHECK(!grant_id_valid("4cae1e\0412a5", 12));
}

static void test_key_blob(void)
{
	static const struct {
		const char *name, *blob;
	} bad[] = {
		{ "empty", "" },
		{ "length not a multiple of 4", "QUFB" "QQ" },
		{ "three pad bytes", "Q===" },
		{ "pad inside", "QQ==QUFB" },
		{ "url alphabet", "QUF-" },
		{ "blank", "QU B" },
		{ "quote", "QU\"B" },
	};
	static char big[KEY_BLOB_MAX + 5];

	CHECK(key_blob_valid("QUFB", 4));
	CHECK(key_blob_valid("QUE=", 4));
	CHECK(key_blob_valid("QQ==", 4));
	CHECK(key_blob_valid("AAAAC3NzaC1lZDI1NTE5", 20));
	CHECK(!key_blob_valid(NULL, 4));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(!key_blob_valid(bad[i].blob, strlen(bad[i].blob)), "%s", bad[i].name);
	memset(big, 'A', sizeof(big) - 1);
	CHECK(key_blob_valid(big, KEY_BLOB_MAX));
	CHECK(!key_blob_valid(big, KEY_BLOB_MAX + 4));
}

int main(void)
{
	TEST(test_ticket());
	TEST(test_from());
	TEST(test_username());
	TEST(test_signer_name());
	TEST(test_grant_id());
	TEST(test_key_blob());
	return test_done();
}

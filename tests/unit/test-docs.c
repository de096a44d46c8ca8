/* The man pages against the code: every config key is documented in
 * sshlease.conf(5) in its section with its default, no page documents a key
 * that does not exist, sshlease(1) lists every exit code, and its synopsis
 * and command entries name every option of every command. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "config.h"
#include "test.h"

/* The whole file at SSHLEASE_SOURCE_ROOT/relative, or NULL (reported). */
static char *read_source(const char *relative)
{
	const char *root = getenv("SSHLEASE_SOURCE_ROOT");
	char path[4096];
	char *text = NULL;
	size_t size = 0, used = 0, n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root ? root : ".", relative);
	f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
		return NULL;
	}
	do {
		if (used + 4096 + 1 > size) {
			char *grown = realloc(text, size + 65536);

			if (!grown) {
				free(text);
				fclose(f);
				return NULL;
			}
			text = grown;
			size += 65536;
		}
		n = fread(text + used, 1, size - used - 1, f);
		used += n;
	} while (n > 0);
	fclose(f);
	text[used] = '\0';
	return text;
}

/* Copy of text[0..len) with every run of spaces, tabs and newlines made one
 * space, so wrapped lines compare like the words they hold. */
static char *squeeze(const char *text, size_t len)
{
	char *out = malloc(len + 1);
	size_t used = 0;
	bool space = false;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (isspace((unsigned char)text[i])) {
			space = true;
			continue;
		}
		if (space && used > 0)
			out[used++] = ' ';
		space = false;
		out[used++] = text[i];
	}
	out[used] = '\0';
	return out;
}

/* The body of "# [section]" up to the next "# " heading, or NULL. */
static const char *section_body(const char *page, const char *section,
				size_t *len)
{
	char heading[64];
	const char *start, *end;

	snprintf(heading, sizeof(heading), "\n# [%s]\n", section);
	start = strstr(page, heading);
	if (!start)
		return NULL;
	start += strlen(heading);
	end = strstr(start, "\n# ");
	*len = end ? (size_t)(end - start) : strlen(start);
	return start;
}

/* The entry "*key* = ..." in body: from its line to the next line that
 * starts a new entry or paragraph at the left margin. */
static const char *key_entry(const char *body, size_t body_len,
			     const char *key, size_t *len)
{
	char lead[64];
	const char *p = body, *end = body + body_len, *next;

	snprintf(lead, sizeof(lead), "\n*%s* =", key);
	p = strstr(p, lead);
	if (!p || p >= end)
		return NULL;
	p++;
	next = p;
	for (;;) {
		next = memchr(next, '\n', (size_t)(end - next));
		if (!next || next + 1 >= end) {
			next = end;
			break;
		}
		next++;
		if (*next != '\t' && *next != '\n')
			break;
	}
	*len = (size_t)(next - p);
	return p;
}

static void check_conf_page_has_every_key(const char *page)
{
	for (size_t i = 0; i < config_keys_count; i++) {
		const struct config_key_info *k = &config_keys[i];
		const char *body, *entry;
		size_t body_len = 0, entry_len = 0;
		char *flat;

		body = section_body(page, k->section, &body_len);
		CHECK_MSG(body != NULL, "sshlease.conf(5) has no section [%s]",
			  k->section);
		if (!body)
			continue;
		entry = key_entry(body, body_len, k->key, &entry_len);
		CHECK_MSG(entry != NULL,
			  "sshlease.conf(5) does not document %s in [%s]",
			  k->key, k->section);
		if (!entry)
			continue;
		flat = squeeze(entry, entry_len);
		CHECK(flat != NULL);
		if (!flat)
			continue;
		CHECK_MSG(strstr(flat, "Default:") != NULL,
			  "%s: no \"Default:\" in its entry", k->key);
		if (k->default_text[0] != '\0')
			CHECK_MSG(strstr(flat, k->default_text) != NULL,
				  "%s: the page does not give its default \"%s\"",
				  k->key, k->default_text);
		free(flat);
	}
}

/* Every "*name* =" entry at the left margin names a key of the table, in
 * the section it stands in. */
static void check_conf_page_has_no_stale_key(const char *page)
{
	char section[64] = "";
	const char *line = page;
	int entries = 0;

	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);

		if (len > 4 && strncmp(line, "# [", 3) == 0 && line[len - 1] == ']')
			snprintf(section, sizeof(section), "%.*s", (int)(len - 4),
				 line + 3);
		else if (len > 0 && strncmp(line, "# ", 2) == 0)
			section[0] = '\0';
		if (line[0] == '*') {
			const char *close = memchr(line + 1, '*', len - 1);
			char key[64];

			if (close && (size_t)(close - line) + 2 < len &&
			    strncmp(close, "* =", 3) == 0) {
				snprintf(key, sizeof(key), "%.*s",
					 (int)(close - line - 1), line + 1);
				entries++;
				CHECK_MSG(section[0] != '\0' &&
						  config_key_find(section, key) != NULL,
					  "sshlease.conf(5) documents %s in [%s], which the "
					  "config does not know", key, section);
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	CHECK_INT(entries, config_keys_count);
}

static void check_exit_codes(const char *page)
{
	static const int codes[] = {
		SL_EXIT_OK, SL_EXIT_FAILURE, SL_EXIT_USAGE,
		SL_EXIT_REFUSED, SL_EXIT_DENIED, SL_EXIT_UNREACHABLE,
	};
	const char *table = strstr(page, "\n# EXIT STATUS\n");
	const char *end = table ? strstr(table + 1, "\n# ") : NULL;

	CHECK_MSG(table != NULL, "sshlease(1) has no EXIT STATUS section");
	if (!table)
		return;
	for (size_t i = 0; i < SL_ARRAY_SIZE(codes); i++) {
		char row[16];
		const char *at;

		snprintf(row, sizeof(row), "\n|  %d\n", codes[i]);
		at = strstr(table, row);
		CHECK_MSG(at != NULL && (!end || at < end),
			  "sshlease(1) EXIT STATUS lacks %d", codes[i]);
	}
}

/* Each command's synopsis line and the options the CLI takes for it: the
 * line that starts with `lead` in SYNOPSIS must name every one. */
struct synopsis_case {
	const char *lead;
	const char *options[12];
};

static const struct synopsis_case synopsis_cases[] = {
	{ "*sshlease* [*--socket* _PATH_] *grant* *--user*",
	  { "*--for*", "*--until*", "*--ticket*", "*--from*", "*--sftp-only*",
	    "*--force*", "*--yes*", "*--json*", "_KEY_", "*@*_FILE_" } },
	{ "*sshlease* [*--socket* _PATH_] *grant* [*--user*",
	  { "*--for*", "*--until*", "*--ticket*", "*--from*", "*--sftp-only*",
	    "*--force*", "*--yes*", "*--json*", "_TOKEN_" } },
	{ "*sshlease* [*--socket* _PATH_] *revoke*", { "*--json*" } },
	{ "*sshlease* [*--socket* _PATH_] *extend*",
	  { "*--for*", "*--until*", "*--json*" } },
	{ "*sshlease* [*--socket* _PATH_] *list*", { "*--user*", "*--json*" } },
	{ "*sshlease* [*--socket* _PATH_] *show*", { "*--json*" } },
	{ "*sshlease* [*--socket* _PATH_] *status*", { "*--json*" } },
	{ "*sshlease* [*--socket* _PATH_] *audit*",
	  { "*--grant*", "*--since*", "*--json*" } },
	{ "*sshlease* *check-config*", { "_FILE_" } },
	{ "*sshlease* [*--socket* _PATH_] *doctor*",
	  { "*--user*", "*--sftp*", "*--json*", "*--config*", "*--sshd*",
	    "*--sshd-config*" } },
	{ "*sshlease* *token keygen*", { "*--output*", "*--name*" } },
	{ "*sshlease* *token sign*",
	  { "*--signer*", "*--key*", "*--new-key*", "*--for*", "*--ticket*",
	    "*--from*", "*--sftp-only*", "*--user*", "*--host*", "*--valid*" } },
	{ "*sshlease* *token show*", { "*--config*", "*--json*", "_TOKEN_" } },
};

/* The line of text starting with lead, from its start to its end, or NULL. */
static const char *line_starting(const char *text, const char *lead,
				 size_t *len)
{
	const char *p = text;

	while (p && *p) {
		const char *eol = strchr(p, '\n');

		if (strncmp(p, lead, strlen(lead)) == 0) {
			*len = eol ? (size_t)(eol - p) : strlen(p);
			return p;
		}
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

/* Whether the synopsis of page has the line of c with every option; the
 * first missing piece goes to *missing. */
static bool synopsis_complete(const char *page, const struct synopsis_case *c,
			      const char **missing)
{
	const char *start = strstr(page, "\n# SYNOPSIS\n");
	const char *end = start ? strstr(start + 1, "\n# ") : NULL;
	const char *line;
	size_t len = 0;
	char *copy;
	bool ok = true;

	*missing = c->lead;
	if (!start || !end)
		return false;
	line = line_starting(start + 1, c->lead, &len);
	if (!line || line > end)
		return false;
	copy = strndup(line, len);
	if (!copy)
		return false;
	for (size_t i = 0; ok && i < SL_ARRAY_SIZE(c->options) && c->options[i]; i++) {
		ok = strstr(copy, c->options[i]) != NULL;
		if (!ok)
			*missing = c->options[i];
	}
	free(copy);
	return ok;
}

/* Every long option of the synopsis has an entry of its own in COMMANDS:
 * a line "\t*--opt*" (or "\t*-x*, *--opt*"), except options documented
 * in GLOBAL OPTIONS or in the command's own paragraph. */
static bool option_entry_present(const char *page, const char *option)
{
	const char *commands = strstr(page, "\n# COMMANDS\n");
	const char *end = commands ? strstr(commands + 1, "\n# ") : NULL;
	char entry[64], short_entry[64];
	const char *p;

	if (!commands || !end)
		return false;
	snprintf(entry, sizeof(entry), "\n\t%s", option);
	snprintf(short_entry, sizeof(short_entry), ", %s", option);
	p = strstr(commands, entry);
	if (p && p < end)
		return true;
	for (p = strstr(commands, short_entry); p && p < end;
	     p = strstr(p + 1, short_entry)) {
		const char *bol = p;

		while (bol > commands && bol[-1] != '\n')
			bol--;
		if (bol[0] == '\t' && bol[1] == '*' && bol[2] == '-')
			return true;
	}
	return false;
}

static void check_synopsis(const char *page)
{
	/* Options documented in the command's paragraph or as --json for
	 * several commands at once. */
	static const char *const in_paragraph[] = {
		"*--json*", "*--all*", "_KEY_", "*@*_FILE_", "_TOKEN_", "_FILE_",
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(synopsis_cases); i++) {
		const struct synopsis_case *c = &synopsis_cases[i];
		const char *missing = NULL;

		CHECK_MSG(synopsis_complete(page, c, &missing),
			  "sshlease(1) SYNOPSIS: the line \"%s...\" lacks %s",
			  c->lead, missing);
		for (size_t j = 0; j < SL_ARRAY_SIZE(c->options) && c->options[j]; j++) {
			bool skip = false;

			for (size_t k = 0; k < SL_ARRAY_SIZE(in_paragraph); k++)
				skip = skip || strcmp(c->options[j], in_paragraph[k]) == 0;
			if (skip || strncmp(c->options[j], "*--", 3) != 0)
				continue;
			CHECK_MSG(option_entry_present(page, c->options[j]),
				  "sshlease(1) COMMANDS has no entry for %s (of \"%s\")",
				  c->options[j], c->lead);
		}
	}
}

/* The synopsis checks must see a missing option and a missing entry. */
static void check_synopsis_helpers_fail(void)
{
	const char *page = "x(1)\n\n# SYNOPSIS\n\n*sshlease* *token show* "
			   "[*--json*] _TOKEN_\n\n# COMMANDS\n\n*token show*\n"
			   "\tWhat.\n\n\t*--json*\n\t\tJSON.\n\n\t*-u*, *--user* _U_\n"
			   "\t\tWho.\n\n# EXIT STATUS\n";
	const char *missing = NULL;

	CHECK(!synopsis_complete(page, &synopsis_cases[SL_ARRAY_SIZE(synopsis_cases) - 1],
				 &missing));
	CHECK_STR(missing, "*--config*");
	CHECK(option_entry_present(page, "*--json*"));
	CHECK(option_entry_present(page, "*--user*"));
	CHECK(!option_entry_present(page, "*--config*"));
}

/* The helpers must see a missing key and a wrong default, or the checks
 * above prove nothing. */
static void check_helpers_fail(void)
{
	const char *page = "x(5)\n\n# [grant]\n\n*mode* = *shell*\n"
			   "\tWhat.\n\tDefault: *sftp*.\n\n*other* = x\n"
			   "\tDefault: none.\n\n# FILES\n";
	const char *body, *entry;
	size_t body_len = 0, entry_len = 0;
	char *flat;

	body = section_body(page, "grant", &body_len);
	CHECK(body != NULL);
	CHECK(section_body(page, "sshd", &body_len) == NULL);
	body = section_body(page, "grant", &body_len);
	CHECK(key_entry(body, body_len, "users", &entry_len) == NULL);
	entry = key_entry(body, body_len, "mode", &entry_len);
	CHECK(entry != NULL);
	if (!entry)
		return;
	flat = squeeze(entry, entry_len);
	CHECK_STR(flat, "*mode* = *shell* What. Default: *sftp*.");
	CHECK(flat && strstr(flat, "Default: *shell*") == NULL);
	free(flat);
}

int main(void)
{
	char *conf_page = read_source("doc/sshlease.conf.5.scd");
	char *cli_page = read_source("doc/sshlease.1.scd");

	TEST(check_helpers_fail());
	TEST(check_synopsis_helpers_fail());
	CHECK(conf_page != NULL);
	CHECK(cli_page != NULL);
	if (conf_page) {
		TEST(check_conf_page_has_every_key(conf_page));
		TEST(check_conf_page_has_no_stale_key(conf_page));
	}
	if (cli_page) {
		TEST(check_exit_codes(cli_page));
		TEST(check_synopsis(cli_page));
	}
	free(conf_page);
	free(cli_page);
	return test_done();
}

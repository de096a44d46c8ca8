/* The man pages against the code: every config key is documented in
 * sshlease.conf(5) in its section with its default, no page documents a key
 * that does not exist, and sshlease(1) lists every exit code. */
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

	check_helpers_fail();
	CHECK(conf_page != NULL);
	CHECK(cli_page != NULL);
	if (conf_page) {
		check_conf_page_has_every_key(conf_page);
		check_conf_page_has_no_stale_key(conf_page);
	}
	if (cli_page)
		check_exit_codes(cli_page);
	free(conf_page);
	free(cli_page);
	return test_done();
}

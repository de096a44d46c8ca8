/* The daemon's configuration: compiled-in defaults drawn from the key table
 * (config-values.c), and a strict loader that reports every problem as
 * file:line: reason. */
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-internal.h"
#include "fsutil.h"
#include "timeutil.h"

/* Copy text for a message: printable ASCII only, at most 64 bytes shown. */
const char *config_shown(char *buf, size_t size, const char *text)
{
	size_t i, len = strlen(text), cap = size - 4;

	for (i = 0; i < len && i < cap; i++)
		buf[i] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
	if (len > cap) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}


void config_problem(struct load_ctx *ctx, int line, const char *fmt, ...)
{
	char reason[512];
	char *text = NULL, **problems;
	int *lines;
	va_list ap;

	if (ctx->error)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	/* room for "path:line: reason" with any int as line */
	text = malloc(strlen(ctx->display_path) + strlen(reason) + 16);
	if (!text) {
		ctx->error = -ENOMEM;
		return;
	}
	if (line > 0)
		sprintf(text, "%s:%d: %s", ctx->display_path, line, reason);
	else
		sprintf(text, "%s: %s", ctx->display_path, reason);
	problems = realloc(ctx->problems, (ctx->n_problems + 1) * sizeof(*problems));
	if (!problems) {
		free(text);
		ctx->error = -ENOMEM;
		return;
	}
	ctx->problems = problems;
	lines = realloc(ctx->problem_lines, (ctx->n_problems + 1) * sizeof(*lines));
	if (!lines) {
		free(text);
		ctx->error = -ENOMEM;
		return;
	}
	ctx->problem_lines = lines;
	ctx->problems[ctx->n_problems] = text;
	ctx->problem_lines[ctx->n_problems] = line;
	ctx->n_problems++;
}

/* inih's handler. Always returns 1: every problem is recorded here, so
 * inih's own return value speaks only of lines it could not parse. */
static int on_value(void *user, const char *section, const char *name,
		    const char *value)
{
	struct load_ctx *ctx = user;
	char buf[SHOWN_SIZE], section_buf[SHOWN_SIZE];
	int id, elsewhere;

	if (ctx->error || strcmp(section, SKIPPED_SECTION) == 0)
		return 1;
	if (!*section) {
		elsewhere = config_key_index(NULL, name);
		if (elsewhere >= 0)
			config_problem(ctx, ctx->lineno, "%s is outside any section; put it under [%s]",
				name, config_keys[elsewhere].section);
		else
			config_problem(ctx, ctx->lineno,
				"unknown key '%s' outside any section",
				config_shown(buf, sizeof(buf), name));
		return 1;
	}
	/* Unknown sections were reported at their header line. */
	if (!config_section_known(section))
		return 1;
	id = config_key_index(section, name);
	if (id < 0) {
		elsewhere = config_key_index(NULL, name);
		if (elsewhere >= 0)
			config_problem(ctx, ctx->lineno, "%s belongs in [%s], not [%s]",
				name, config_keys[elsewhere].section, section);
		else
			config_problem(ctx, ctx->lineno, "unknown key '%s' in [%s]",
				config_shown(buf, sizeof(buf), name),
				config_shown(section_buf, sizeof(section_buf), section));
		return 1;
	}
	if (ctx->seen_line[id] && id != K_TRUSTED_SIGNER) {
		config_problem(ctx, ctx->lineno, "duplicate key %s (first set on line %d)",
			name, ctx->seen_line[id]);
		return 1;
	}
	if (!ctx->seen_line[id])
		ctx->seen_line[id] = ctx->lineno;
	if (config_set_value(ctx, (enum config_key_id)id, value) < 0)
		ctx->error = -ENOMEM;
	return 1;
}

/*
 * Check one line (len bytes, line end removed) before inih sees it. Returns
 * the text to hand inih: line itself, "" to skip a refused line (so it is
 * neither reported twice nor half-read), or a replacement section header.
 */
static const char *check_line(struct load_ctx *ctx, const char *line, size_t len)
{
	char buf[SHOWN_SIZE], name[SHOWN_SIZE];
	const char *start = line, *end = line + len, *close, *eq, *colon;

	if (len > CONFIG_LINE_MAX) {
		/* inih r55 reads lines in 200-byte pieces and silently
		 * treats the rest as a line of its own. */
		config_problem(ctx, ctx->lineno, "line too long (%zu bytes; at most %d)",
			len, CONFIG_LINE_MAX);
		return "";
	}
	if (memchr(line, '\0', len)) {
		config_problem(ctx, ctx->lineno, "NUL byte in line");
		return "";
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			config_problem(ctx, ctx->lineno, "control character 0x%02x in line", c);
			return "";
		}
	}
	while (start < end && config_is_blank(*start))
		start++;
	if (start == end || *start == '#' || *start == ';')
		return line;
	if (start != line) {
		/* inih would glue an indented line to the value before it. */
		config_problem(ctx, ctx->lineno, "line starts with whitespace; remove the indentation");
		return "";
	}
	if (*start == '[') {
		const char *after;

		close = memchr(start, ']', len);
		if (!close) {
			config_problem(ctx, ctx->lineno, "section header without closing ]");
			return "[" SKIPPED_SECTION "]";
		}
		for (after = close + 1; after < end && config_is_blank(*after); after++)
			;
		if (after < end && !(*after == ';' && config_is_blank(after[-1]))) {
			config_problem(ctx, ctx->lineno, "unexpected characters after section header");
			return "[" SKIPPED_SECTION "]";
		}
		snprintf(name, sizeof(name), "%.*s", (int)(close - start - 1), start + 1);
		if ((size_t)(close - start - 1) >= sizeof(name) || !config_section_known(name)) {
			char raw[CONFIG_LINE_MAX + 1];

			snprintf(raw, sizeof(raw), "%.*s", (int)(close - start - 1), start + 1);
			config_problem(ctx, ctx->lineno,
				"unknown section [%s] (sections: [daemon], [grant], [tokens], [sshd])",
				config_shown(buf, sizeof(buf), raw));
			/* The keys under it are skipped, not reported one by one. */
			return "[" SKIPPED_SECTION "]";
		}
		return line;
	}
	if (len >= 10 && memcmp(start, "-----BEGIN", 10) == 0) {
		config_problem(ctx, ctx->lineno,
			"key material does not belong in the config file (only trusted_signer public keys)");
		return "";
	}
	eq = memchr(start, '=', len);
	colon = memchr(start, ':', len);
	/* inih also splits at ':', which would read "from ::1" as a key. */
	if (colon && (!eq || colon < eq)) {
		config_problem(ctx, ctx->lineno, "expected key = value (':' is not a separator here)");
		return "";
	}
	if (!eq) {
		config_problem(ctx, ctx->lineno, "expected key = value");
		return "";
	}
	if (eq == start) {
		config_problem(ctx, ctx->lineno, "missing key name before =");
		return "";
	}
	return line;
}

/* inih's reader: one line of the file per call, checked first, so inih
 * never sees a line it would split and the handler knows its line number. */
static char *read_line(char *buf, int size, void *stream)
{
	struct load_ctx *ctx = stream;
	const char *line, *newline, *text;
	size_t len, text_len;

	if (ctx->pos >= ctx->len || ctx->error)
		return NULL;
	line = ctx->data + ctx->pos;
	newline = memchr(line, '\n', ctx->len - ctx->pos);
	len = newline ? (size_t)(newline - line) : ctx->len - ctx->pos;
	ctx->pos += len + (newline ? 1 : 0);
	ctx->lineno++;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (ctx->lineno == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
		line += 3;
		len -= 3;
	}

	text = check_line(ctx, line, len);
	text_len = text == line ? len : strlen(text);
	if (size <= 0 || text_len > (size_t)size - 1) {
		/* Only if this inih reads shorter lines than CONFIG_LINE_MAX. */
		config_problem(ctx, ctx->lineno, "line too long for the installed inih (%zu bytes; at most %d)",
			text_len, size > 0 ? size - 1 : 0);
		text = "";
		text_len = 0;
		if (size <= 0)
			return NULL;
	}
	memcpy(buf, text, text_len);
	buf[text_len] = '\0';
	return buf;
}

static bool problem_at(const struct load_ctx *ctx, int line)
{
	for (size_t i = 0; i < ctx->n_problems; i++)
		if (ctx->problem_lines[i] == line)
			return true;
	return false;
}

/* Checks that involve more than one key, made once the file is read. */
static void check_whole(struct load_ctx *ctx)
{
	const struct sshlease_config *c = ctx->config;

	if (!ctx->bad_value[K_DEFAULT_DURATION] && !ctx->bad_value[K_MAX_DURATION] &&
	    c->default_duration > c->max_duration) {
		char def[32], max[32];
		int line = ctx->seen_line[K_DEFAULT_DURATION] > ctx->seen_line[K_MAX_DURATION] ?
				   ctx->seen_line[K_DEFAULT_DURATION] :
				   ctx->seen_line[K_MAX_DURATION];

		duration_format(c->default_duration, def, sizeof(def));
		duration_format(c->max_duration, max, sizeof(max));
		config_problem(ctx, line, "default_duration (%s) is longer than max_duration (%s)",
			def, max);
	}
	if (!ctx->bad_value[K_USERS] && !ctx->bad_value[K_ALLOW_ROOT] &&
	    !c->allow_root && c->users) {
		for (char **u = c->users; *u; u++) {
			if (strcmp(*u, "root") == 0) {
				config_problem(ctx, ctx->seen_line[K_USERS],
					"users lists root, but allow_root = no; set allow_root = yes or take root out");
				break;
			}
		}
	}
	if (c->require_signed && c->n_signers == 0 &&
	    !ctx->bad_value[K_TRUSTED_SIGNER])
		config_problem(ctx, ctx->seen_line[K_REQUIRE_SIGNED],
			"require_signed = yes, but no trusted_signer is set, so no grant could be made");
}

/* Move ctx's problems onto the end of *problems (NULL-terminated). */
static int hand_over_problems(struct load_ctx *ctx, char ***problems)
{
	size_t old = 0;
	char **merged;

	if (!problems || ctx->n_problems == 0)
		return 0;
	if (*problems)
		while ((*problems)[old])
			old++;
	merged = realloc(*problems, (old + ctx->n_problems + 1) * sizeof(*merged));
	if (!merged)
		return -ENOMEM;
	memcpy(merged + old, ctx->problems, ctx->n_problems * sizeof(*merged));
	merged[old + ctx->n_problems] = NULL;
	*problems = merged;
	ctx->n_problems = 0;
	return 0;
}

static void load_ctx_finish(struct load_ctx *ctx)
{
	for (size_t i = 0; i < ctx->n_problems; i++)
		free(ctx->problems[i]);
	free(ctx->problems);
	free(ctx->problem_lines);
	free(ctx->signer_lines);
}

struct sshlease_config *config_new_defaults(void)
{
	struct load_ctx ctx = { 0 };
	struct sshlease_config *config = calloc(1, sizeof(*config));

	if (!config)
		return NULL;
	ctx.config = config;
	snprintf(ctx.display_path, sizeof(ctx.display_path), "(defaults)");
	for (size_t i = 0; i < K_COUNT; i++) {
		/* An empty default is the zero state calloc gave. */
		if (!*config_keys[i].default_text)
			continue;
		if (config_set_value(&ctx, (enum config_key_id)i, config_keys[i].default_text) < 0)
			ctx.error = -ENOMEM;
	}
	/* A default that does not parse is a bug, caught by test-config. */
	if (ctx.error || ctx.n_problems) {
		config_free(config);
		config = NULL;
	}
	load_ctx_finish(&ctx);
	return config;
}

int config_load(const char *path, bool missing_ok, struct sshlease_config **out,
		char ***problems)
{
	struct load_ctx ctx = { 0 };
	struct sshlease_config *config = NULL;
	char *data = NULL;
	struct stat st;
	int fd = -1, r;

	*out = NULL;
	config_shown(ctx.display_path, sizeof(ctx.display_path), path);
	config = config_new_defaults();
	if (!config) {
		r = -ENOMEM;
		goto out;
	}
	ctx.config = config;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT) {
			if (!missing_ok) {
				r = SL_NOT_FOUND;
				goto out;
			}
			*out = config;
			config = NULL;
			r = 0;
		}
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	/* The file names who may sign tokens: anyone who can write it can
	 * grant themselves access. Rule: a regular file of root's (or of the
	 * reader's own, for check-config run by its owner) that neither group
	 * nor others can write; owner and mode are both reported. */
	if (fsutil_trust_stat(&st, geteuid(), FSUTIL_TRUST_REGULAR) == FSUTIL_DISTRUST_TYPE) {
		config_problem(&ctx, 0, "not a regular file");
		goto done;
	}
	if (fsutil_trust_stat(&st, geteuid(), FSUTIL_TRUST_OR_ROOT) != FSUTIL_TRUSTED)
		config_problem(&ctx, 0, "owned by uid %u; it must belong to root",
			(unsigned)st.st_uid);
	if (fsutil_trust_stat(&st, st.st_uid, FSUTIL_TRUST_NO_SHARED_WRITE) != FSUTIL_TRUSTED)
		config_problem(&ctx, 0, "writable by group or others; run chmod go-w on it");
	r = fsutil_read_fd(fd, CONFIG_FILE_MAX, &data, &ctx.len);
	if (r == -EFBIG) {
		config_problem(&ctx, 0, "larger than %d bytes; this is not a config file",
			CONFIG_FILE_MAX);
		goto done;
	}
	if (r < 0)
		goto out;
	ctx.data = data;

	if (sodium_init() < 0) {
		r = -EIO;
		goto out;
	}
	r = ini_parse_stream(read_line, &ctx, on_value, &ctx);
	if (r == -2) {
		r = -ENOMEM;
		goto out;
	}
	if (r > 0 && !problem_at(&ctx, r))
		config_problem(&ctx, r, "syntax error");
	if (!ctx.error)
		check_whole(&ctx);

done:
	if (ctx.error) {
		r = ctx.error;
		goto out;
	}
	if (ctx.n_problems) {
		r = hand_over_problems(&ctx, problems);
		if (r == 0)
			r = SL_REFUSED;
		goto out;
	}
	*out = config;
	config = NULL;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(data);
	config_free(config);
	load_ctx_finish(&ctx);
	return r;
}

void config_problems_free(char **problems)
{
	config_strings_free(problems);
}

void config_free(struct sshlease_config *config)
{
	if (!config)
		return;
	free(config->socket);
	free(config->socket_group);
	free(config->state_dir);
	free(config->audit_log);
	config_strings_free(config->users);
	free(config->from);
	free(config->sshd_config);
	free(config->sshd_log);
	for (size_t i = 0; i < config->n_signers; i++)
		free(config->signers[i].name);
	free(config->signers);
	free(config);
}

/* The terms of a token grant: the token asks, the request narrows, the
 * configuration wins. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redeem.h"
#include "schedule.h"
#include "timeutil.h"

/* One entry of a source list: an address range. */
struct cidr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned prefix; /* bits */
};

/* Parse "ADDRESS[/PREFIX]" of len bytes (canonical, so no checks beyond
 * what keeps this safe). */
static bool cidr_parse(const char *text, size_t len, struct cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash;
	char *end = NULL;
	unsigned long prefix;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, text, len);
	buf[len] = '\0';
	slash = strchr(buf, '/');
	*out = (struct cidr){ .family = strchr(buf, ':') ? AF_INET6 : AF_INET };
	out->prefix = out->family == AF_INET ? 32 : 128;
	if (slash) {
		prefix = strtoul(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || prefix > out->prefix)
			return false;
		out->prefix = (unsigned)prefix;
		buf[slash - buf] = '\0';
	}
	return inet_pton(out->family, buf, out->addr) == 1;
}

/* Whether inner's range lies within outer's. */
static bool cidr_within(const struct cidr *inner, const struct cidr *outer)
{
	unsigned whole = outer->prefix / 8, rest = outer->prefix % 8;

	if (inner->family != outer->family || inner->prefix < outer->prefix)
		return false;
	if (memcmp(inner->addr, outer->addr, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((inner->addr[whole] ^ outer->addr[whole]) &
		(unsigned char)(0xff << (8 - rest))) == 0;
}

/* The next entry of a comma-separated list: its start in *entry, its
 * length in *len; *list moves past it. False at the end. */
static bool next_entry(const char **list, const char **entry, size_t *len)
{
	const char *p = *list;

	if (*p == '\0')
		return false;
	*entry = p;
	*len = strcspn(p, ",");
	*list = p + *len + (p[*len] == ',' ? 1 : 0);
	return true;
}

bool redeem_from_within(const char *inner, const char *outer)
{
	const char *a = inner, *entry;
	size_t len;

	if (!inner || !outer || !*inner || !*outer)
		return false;
	while (next_entry(&a, &entry, &len)) {
		struct cidr in, out;
		const char *b = outer, *outer_entry;
		size_t outer_len;
		bool found = false;

		if (!cidr_parse(entry, len, &in))
			return false;
		while (!found && next_entry(&b, &outer_entry, &outer_len)) {
			if (!cidr_parse(outer_entry, outer_len, &out))
				return false;
			found = cidr_within(&in, &out);
		}
		if (!found)
			return false;
	}
	return true;
}

SL_PRINTF(3, 4)
static int refuse(char *message, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, size, fmt, ap);
	va_end(ap);
	return SL_REFUSED;
}

int redeem_terms(const struct token *token, const struct redeem_asked *asked,
		 const struct sshlease_config *config, time_t now,
		 struct redeem_terms *out, char *message, size_t size)
{
	char asked_safe[80], token_safe[80], dur[32], max[32];
	const char *why = NULL;
	time_t deadline = 0;

	*out = (struct redeem_terms){ .mode = token->mode };

	/* The account. */
	if (token->user && asked->user && strcmp(token->user, asked->user) != 0)
		return refuse(message, size,
			      "this token is for the account %s, not %s; grant it without --user or with --user %s",
			      token->user, log_safe(asked_safe, sizeof(asked_safe), asked->user),
			      token->user);
	out->user = token->user ? token->user : asked->user;
	if (!out->user)
		return refuse(message, size,
			      "this token names no account; say which one with --user");

	/* The deadline: the token's duration, within max_duration. */
	duration_format(token->duration, dur, sizeof(dur));
	duration_format(config->max_duration, max, sizeof(max));
	if (schedule_deadline(now, token->duration, 0, config->max_duration,
			      &deadline, &why) != 0)
		return refuse(message, size,
			      "this token asks for %s, longer than max_duration (%s) allows here; grant it with a shorter --for, or ask for a token of at most %s",
			      dur, max, max);
	if (asked->deadline != 0) {
		if (asked->deadline > deadline)
			return refuse(message, size,
				      "this token allows at most %s; ask for that long or less",
				      dur);
		deadline = asked->deadline;
	}
	out->deadline = deadline;

	/* The source restriction. */
	if (token->from && config->from && !redeem_from_within(token->from, config->from))
		return refuse(message, size,
			      "this token asks for access from %s, which is not within this server's from = %s",
			      log_safe(token_safe, sizeof(token_safe), token->from),
			      log_safe(asked_safe, sizeof(asked_safe), config->from));
	if (asked->from) {
		if (token->from && !redeem_from_within(asked->from, token->from))
			return refuse(message, size,
				      "--from %s is not within the token's source restriction %s; a token's restriction can be narrowed, not widened",
				      log_safe(asked_safe, sizeof(asked_safe), asked->from),
				      log_safe(token_safe, sizeof(token_safe), token->from));
		/* Without a token list, the config's is what a request may
		 * narrow; a token must never widen the server's own bound. */
		if (config->from && !redeem_from_within(asked->from, config->from))
			return refuse(message, size,
				      "--from %s is not within this server's from = %s; a token grant can narrow it, not widen it",
				      log_safe(asked_safe, sizeof(asked_safe), asked->from),
				      log_safe(token_safe, sizeof(token_safe), config->from));
		out->from = asked->from;
	} else {
		out->from = token->from ? token->from : config->from;
	}

	/* The mode: SFTP only is narrower than a shell. */
	if (asked->mode_given) {
		if (token->mode == AUTHKEYS_MODE_SFTP && asked->mode == AUTHKEYS_MODE_SHELL)
			return refuse(message, size,
				      "this token allows SFTP only; it cannot be granted as a shell");
		out->mode = asked->mode;
	}

	/* The ticket. */
	if (asked->ticket && token->ticket && strcmp(asked->ticket, token->ticket) != 0)
		return refuse(message, size,
			      "this token is for ticket %s, not %s; grant it without --ticket",
			      log_safe(token_safe, sizeof(token_safe), token->ticket),
			      log_safe(asked_safe, sizeof(asked_safe), asked->ticket));
	out->ticket = token->ticket ? token->ticket : asked->ticket;
	return 0;
}

/* sshd's log lines about logins and connection ends, read into events. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "sshd-log.h"
#include "validate.h"

/* A piece of the line: the parse eats words from its end. */
struct span {
	const char *p;
	size_t n;
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool span_is(struct span s, const char *text)
{
	return s.n == strlen(text) && memcmp(s.p, text, s.n) == 0;
}

static bool span_starts(struct span s, const char *prefix)
{
	size_t n = strlen(prefix);

	return s.n >= n && memcmp(s.p, prefix, n) == 0;
}

static struct span span_after(struct span s, size_t n)
{
	return (struct span){ s.p + n, s.n - n };
}

/* Take the last blank-separated word of *s into *word; *s keeps what is
 * before the one blank. False when *s has no blank or the word is empty. */
static bool span_pop(struct span *s, struct span *word)
{
	const char *blank = memrchr(s->p, ' ', s->n);

	if (!blank || blank == s->p + s->n - 1)
		return false;
	word->p = blank + 1;
	word->n = (size_t)(s->p + s->n - word->p);
	s->n = (size_t)(blank - s->p);
	return true;
}

/* The last word is exactly text. */
static bool span_pop_is(struct span *s, const char *text)
{
	struct span word;

	return span_pop(s, &word) && span_is(word, text);
}

/* Decimal, 1..digits digits, no leading zero, at most max. */
static bool parse_decimal(struct span s, size_t digits, unsigned long max,
			  unsigned long *out)
{
	unsigned long value = 0;

	if (s.n == 0 || s.n > digits || (s.n > 1 && s.p[0] == '0'))
		return false;
	for (size_t i = 0; i < s.n; i++) {
		if (!is_digit(s.p[i]))
			return false;
		value = value * 10 + (unsigned long)(s.p[i] - '0');
	}
	if (value > max)
		return false;
	*out = value;
	return true;
}

static bool parse_port(struct span s, unsigned *port)
{
	unsigned long value;

	if (!parse_decimal(s, 5, 65535, &value) || value == 0)
		return false;
	*port = (unsigned)value;
	return true;
}

/* An interface name after '%' in a link-local address. */
static bool zone_valid(const char *zone)
{
	size_t n = strlen(zone);

	if (n == 0 || n > 15)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = zone[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      is_digit(c) || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* A numeric address as sshd prints a peer: IPv4, or IPv6 with an
 * optional "%zone". */
static bool parse_address(struct span s, struct sshd_log_event *ev)
{
	char text[SSHD_LOG_ADDRESS_SIZE];
	char *zone;

	if (s.n == 0 || s.n >= sizeof(text))
		return false;
	memcpy(text, s.p, s.n);
	text[s.n] = '\0';
	memcpy(ev->address_text, text, s.n + 1);
	memset(ev->address, 0, sizeof(ev->address));
	zone = strchr(text, '%');
	if (!zone && inet_pton(AF_INET, text, ev->address) == 1) {
		ev->family = AF_INET;
		return true;
	}
	if (zone) {
		*zone++ = '\0';
		if (!zone_valid(zone))
			return false;
	}
	if (inet_pton(AF_INET6, text, ev->address) != 1)
		return false;
	ev->family = AF_INET6;
	return true;
}

/* The whole span is one account name. */
static bool parse_user(struct span s, struct sshd_log_event *ev)
{
	if (s.n == 0 || s.n >= sizeof(ev->user))
		return false;
	memcpy(ev->user, s.p, s.n);
	ev->user[s.n] = '\0';
	return username_valid(ev->user);
}

/* "ADDR port N" at the end of *s. */
static int pop_endpoint(struct span *s, struct sshd_log_event *ev,
			const char **why)
{
	struct span word;

	if (!span_pop(s, &word) || !parse_port(word, &ev->port)) {
		*why = "the line does not end in a port number";
		return SL_REFUSED;
	}
	if (!span_pop_is(s, "port") || !span_pop(s, &word)) {
		*why = "no \"ADDRESS port N\" where it belongs";
		return SL_REFUSED;
	}
	if (!parse_address(word, ev)) {
		*why = "the address is not a numeric IPv4 or IPv6 address";
		return SL_REFUSED;
	}
	return 0;
}

static int refuse_user(const char **why)
{
	/* sshd prints the name the client sent: blanks and all. */
	*why = "the user name is not a valid account name";
	return SL_REFUSED;
}

static bool key_type_known(struct span s)
{
	static const char *const types[] = { "ED25519", "RSA", "ECDSA",
					     "ED25519-SK", "ECDSA-SK", "DSA" };

	for (size_t i = 0; i < SL_ARRAY_SIZE(types); i++)
		if (span_is(s, types[i]))
			return true;
	return false;
}

static bool is_base64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) ||
	       c == '+' || c == '/';
}

/* "SHA256:" and 43 characters: the unpadded base64 of 32 bytes, whose last
 * character carries 2 bits of padding that must be zero. */
static bool fingerprint_valid(struct span s)
{
	static const char prefix[] = "SHA256:";
	const size_t plen = sizeof(prefix) - 1;

	if (s.n != plen + 43 || memcmp(s.p, prefix, plen) != 0)
		return false;
	for (size_t i = plen; i < s.n; i++)
		if (!is_base64(s.p[i]))
			return false;
	return strchr("AEIMQUYcgkosw048", s.p[s.n - 1]) != NULL;
}

/* "U from ADDR port N ssh2: TYPE SHA256:FP" */
static int parse_accepted(struct span s, struct sshd_log_event *ev,
			  const char **why)
{
	struct span fp, type, word;
	int r;

	if (!span_pop(&s, &fp) || !span_pop(&s, &type) || !span_pop(&s, &word)) {
		*why = "the line ends before the key type and fingerprint";
		return SL_REFUSED;
	}
	/* "... ssh2: TYPE-CERT SHA256:.. ID .. (serial N) CA TYPE SHA256:..":
	 * a certificate, which no grant is. */
	if (span_is(word, "CA"))
		return SL_NOT_FOUND;
	if (!span_is(word, "ssh2:")) {
		*why = "no \"ssh2:\" before the key type";
		return SL_REFUSED;
	}
	if (!key_type_known(type)) {
		*why = "the key type is not one sshd prints for a plain key";
		return SL_REFUSED;
	}
	if (!fingerprint_valid(fp)) {
		*why = "the fingerprint is not SHA256 (sshd's FingerprintHash must be sha256)";
		return SL_REFUSED;
	}
	memcpy(ev->key_type, type.p, type.n);
	ev->key_type[type.n] = '\0';
	memcpy(ev->fingerprint, fp.p, fp.n);
	ev->fingerprint[fp.n] = '\0';
	r = pop_endpoint(&s, ev, why);
	if (r != 0)
		return r;
	if (!span_pop_is(&s, "from"))
		return refuse_user(why);
	if (!parse_user(s, ev))
		return refuse_user(why);
	return 0;
}

/* A terminal name as sshd prints it without "/dev/": "pts/3", "tty1". */
static bool tty_valid(struct span s)
{
	if (s.n == 0)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		char c = s.p[i];

		if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '/'))
			return false;
	}
	return true;
}

static void set_detail(struct sshd_log_event *ev, struct span s)
{
	size_t n = s.n < sizeof(ev->detail) - 1 ? s.n : sizeof(ev->detail) - 1;

	memcpy(ev->detail, s.p, n);
	ev->detail[n] = '\0';
}

/* What "Starting session: KIND" names, optionally "on TTY" after it. */
static int parse_session_kind(struct span s, struct sshd_log_event *ev,
			      const char **why)
{
	struct span rest = s, word;

	ev->tty = false;
	ev->detail[0] = '\0';
	if (span_pop(&rest, &word) && tty_valid(word) && span_pop_is(&rest, "on")) {
		ev->tty = true;
		s = rest;
	}
	if (span_is(s, "shell")) {
		ev->session = SSHD_SESSION_SHELL;
		return 0;
	}
	if (span_is(s, "command")) {
		ev->session = SSHD_SESSION_COMMAND;
		return 0;
	}
	if (span_starts(s, "subsystem '")) {
		s = span_after(s, strlen("subsystem '"));
		if (s.n < 2 || s.p[s.n - 1] != '\'' || memchr(s.p, '\'', s.n - 1)) {
			*why = "the subsystem name is not quoted";
			return SL_REFUSED;
		}
		s.n--;
		ev->session = SSHD_SESSION_SUBSYSTEM;
		set_detail(ev, s);
		return 0;
	}
	if (span_starts(s, "forced-command (config) '") ||
	    span_starts(s, "forced-command (key-option) '")) {
		const char *quote = memchr(s.p, '\'', s.n);

		s = span_after(s, (size_t)(quote + 1 - s.p));
		/* The command is anything, quotes included, to the last one. */
		if (s.n == 0 || s.p[s.n - 1] != '\'') {
			*why = "the forced command is not quoted";
			return SL_REFUSED;
		}
		s.n--;
		ev->session = SSHD_SESSION_FORCED;
		set_detail(ev, s);
		return 0;
	}
	*why = "the session is not a shell, command, subsystem or forced command";
	return SL_REFUSED;
}

/* "KIND for U from ADDR port N id C" */
static int parse_session(struct span s, struct sshd_log_event *ev,
			 const char **why)
{
	struct span word, user;
	unsigned long id;
	int r;

	if (!span_pop(&s, &word) || !parse_decimal(word, 10, UINT32_MAX, &id) ||
	    !span_pop_is(&s, "id")) {
		*why = "the line does not end in \"id N\"";
		return SL_REFUSED;
	}
	ev->session_id = (unsigned)id;
	r = pop_endpoint(&s, ev, why);
	if (r != 0)
		return r;
	if (!span_pop_is(&s, "from") || !span_pop(&s, &user) ||
	    !span_pop_is(&s, "for") || !parse_user(user, ev))
		return refuse_user(why);
	return parse_session_kind(s, ev, why);
}

/* "U ADDR port N": the connection id sshd prints once a user is in. */
static int parse_end(struct span s, struct sshd_log_event *ev,
		     const char **why)
{
	int r = pop_endpoint(&s, ev, why);

	if (r != 0)
		return r;
	if (!parse_user(s, ev))
		return refuse_user(why);
	return 0;
}

static const struct {
	const char *prefix;
	enum sshd_log_kind kind;
	const char *end;
	int (*parse)(struct span s, struct sshd_log_event *ev, const char **why);
} messages[] = {
	{ "Accepted publickey for ", SSHD_LOG_ACCEPTED, NULL, parse_accepted },
	{ "Starting session: ", SSHD_LOG_SESSION, NULL, parse_session },
	{ "Disconnected from user ", SSHD_LOG_DISCONNECTED, "disconnected", parse_end },
	{ "Connection closed by user ", SSHD_LOG_DISCONNECTED, "closed", parse_end },
	{ "Connection reset by user ", SSHD_LOG_DISCONNECTED, "reset", parse_end },
	{ "Timeout, client not responding from user ", SSHD_LOG_DISCONNECTED,
	  "timeout", parse_end },
};

/* Exactly the characters of shape at p: 'd' a digit, ' ' a blank, any
 * other itself. */
static bool match_shape(struct span *s, const char *shape)
{
	size_t n = strlen(shape);

	if (s->n < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (shape[i] == 'd' ? !is_digit(s->p[i]) : s->p[i] != shape[i])
			return false;
	}
	*s = span_after(*s, n);
	return true;
}

/* A syslog timestamp and the blank after it. The time is not used (the
 * reader's clock is), so only its shape is checked. */
static bool skip_timestamp(struct span *s)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

	if (s->n >= 3 && is_digit(s->p[0])) {
		/* RFC 3339: 2024-12-03T08:39:00.123456+00:00 */
		if (!match_shape(s, "dddd-dd-ddTdd:dd:dd"))
			return false;
		if (s->n > 0 && s->p[0] == '.') {
			size_t i = 1;

			while (i < s->n && i <= 9 && is_digit(s->p[i]))
				i++;
			if (i == 1)
				return false;
			*s = span_after(*s, i);
		}
		if (s->n > 0 && s->p[0] == 'Z')
			*s = span_after(*s, 1);
		else if (s->n > 0 && (s->p[0] == '+' || s->p[0] == '-')) {
			*s = span_after(*s, 1);
			if (!match_shape(s, "dd:dd") && !match_shape(s, "dddd"))
				return false;
		} else
			return false;
		return match_shape(s, " ");
	}
	/* Traditional: "Dec  3 08:39:00 " */
	for (size_t m = 0; m + 3 <= sizeof(months) - 1; m += 3) {
		if (s->n < 4 || memcmp(s->p, months + m, 3) != 0 || s->p[3] != ' ')
			continue;
		*s = span_after(*s, 4);
		if (!match_shape(s, " d") && !match_shape(s, "dd"))
			return false;
		return match_shape(s, " dd:dd:dd ");
	}
	return false;
}

/* "TIMESTAMP HOST sshd[PID]: " at the start of *s. */
static bool skip_syslog_prefix(struct span *s, pid_t *pid)
{
	static const char *const tags[] = { "sshd[", "sshd-session[" };
	const char *blank, *close;
	unsigned long value;
	size_t i;

	if (!skip_timestamp(s))
		return false;
	blank = memchr(s->p, ' ', s->n);
	if (!blank || blank == s->p)
		return false;
	for (const char *c = s->p; c < blank; c++)
		if (*c <= ' ' || *c > '~')
			return false;
	*s = span_after(*s, (size_t)(blank + 1 - s->p));
	for (i = 0; i < SL_ARRAY_SIZE(tags); i++)
		if (span_starts(*s, tags[i]))
			break;
	if (i == SL_ARRAY_SIZE(tags))
		return false;
	*s = span_after(*s, strlen(tags[i]));
	close = memchr(s->p, ']', s->n);
	if (!close ||
	    !parse_decimal((struct span){ s->p, (size_t)(close - s->p) }, 10,
			   INT32_MAX, &value) ||
	    value == 0)
		return false;
	*s = span_after(*s, (size_t)(close - s->p));
	if (!match_shape(s, "]: "))
		return false;
	*pid = (pid_t)value;
	return true;
}

static bool all_printable(struct span s)
{
	for (size_t i = 0; i < s.n; i++)
		if (s.p[i] < ' ' || s.p[i] > '~')
			return false;
	return true;
}

int sshd_log_parse(const char *line, size_t len, struct sshd_log_event *out,
		   const char **why)
{
	struct span s = { line, len };
	struct sshd_log_event ev = { 0 };
	size_t i;
	int r;

	if (s.n > 0 && s.p[s.n - 1] == '\n')
		s.n--;
	if (s.n > 0 && s.p[s.n - 1] == '\r')
		s.n--;
	for (i = 0; i < SL_ARRAY_SIZE(messages); i++)
		if (span_starts(s, messages[i].prefix))
			break;
	if (i == SL_ARRAY_SIZE(messages)) {
		if (!skip_syslog_prefix(&s, &ev.pid))
			return SL_NOT_FOUND;
		for (i = 0; i < SL_ARRAY_SIZE(messages); i++)
			if (span_starts(s, messages[i].prefix))
				break;
		if (i == SL_ARRAY_SIZE(messages))
			return SL_NOT_FOUND;
	}
	if (!all_printable(s)) {
		*why = "the line has a byte that is not printable ASCII";
		return SL_REFUSED;
	}
	ev.kind = messages[i].kind;
	ev.end = messages[i].end;
	r = messages[i].parse(span_after(s, strlen(messages[i].prefix)), &ev, why);
	if (r != 0)
		return r;
	*out = ev;
	return 0;
}

const char *sshd_log_kind_name(enum sshd_log_kind kind)
{
	switch (kind) {
	case SSHD_LOG_ACCEPTED:
		return "accepted";
	case SSHD_LOG_SESSION:
		return "session";
	case SSHD_LOG_DISCONNECTED:
		return "disconnected";
	}
	return "?";
}

const char *sshd_log_session_name(enum sshd_log_session session)
{
	switch (session) {
	case SSHD_SESSION_SHELL:
		return "shell";
	case SSHD_SESSION_COMMAND:
		return "command";
	case SSHD_SESSION_SUBSYSTEM:
		return "subsystem";
	case SSHD_SESSION_FORCED:
		return "forced-command";
	}
	return "?";
}

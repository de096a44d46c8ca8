/*
 * The local sshd binary and its effective settings: finding sshd, running
 * `sshd -T` (and `sshd -V`) through proc_run, parsing what -T prints, and
 * what those settings mean for a grant: whether AllowUsers, DenyUsers,
 * AllowGroups and DenyGroups admit an account, and whether
 * AuthorizedKeysFile names the file the engine edits.
 *
 * sshd is only run with -T or -V; nothing here changes the system.
 */
#ifndef SSHLEASE_SSHD_CONFIG_H
#define SSHLEASE_SSHD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"
#include "proc.h"
#include "sshd-version.h"

/* Where sshd lives on Debian; otherwise the first sshd found in PATH. */
#define SSHD_PATH_DEFAULT "/usr/sbin/sshd"
/* Seconds allowed per probe connection and per run of sshd. */
#define SSHD_TIMEOUT_DEFAULT 5

/* How to run sshd for -T and -V. All members may be 0/NULL. */
struct sshd_exec_options {
	const char *sshd_path;   /* absolute; NULL: SSHD_PATH_DEFAULT when it
				    is executable, else "sshd" in PATH */
	const char *config_path; /* NULL: sshd's own default; else -f PATH */
	unsigned timeout;        /* seconds; 0: SSHD_TIMEOUT_DEFAULT */
};

/*
 * The sshd binary to run: given (must be absolute, a regular executable
 * file), else SSHD_PATH_DEFAULT, else the first "sshd" in the absolute
 * directories of $PATH. Returns 0 with the path in buf, SL_NOT_FOUND with
 * *why, or SL_REFUSED when given is not absolute or the path is too long.
 */
int sshd_find_binary(const char *given, char *buf, size_t size,
		     const char **why);

/* One "keyword value" line of `sshd -T`; keywords are lower case. */
struct sshd_setting {
	char *key;
	char *value; /* the rest of the line after one space; "" when none */
};

/* The effective settings, in sshd's order; a keyword may repeat
 * (allowusers, subsystem, hostkey, listenaddress, port ...). */
struct sshd_settings {
	struct sshd_setting *items;
	size_t n;
};

/*
 * Parse len bytes of `sshd -T` output. Each line is KEYWORD [SP VALUE] "\n"
 * (the last newline may be missing); KEYWORD is [a-z0-9]+; VALUE is
 * printable ASCII. Refused (SL_REFUSED with *why), never guessed: an empty
 * or blank line, an upper-case or other keyword character, a byte outside
 * printable ASCII (NUL, CR, tab, escapes), more than PROC_OUTPUT_MAX bytes,
 * empty input. Returns 0 with a new *out (sshd_settings_free), or -ENOMEM.
 */
int sshd_settings_parse(const char *text, size_t len,
			struct sshd_settings **out, const char **why);

void sshd_settings_free(struct sshd_settings *settings);

/* The first value of key, or NULL when sshd printed no such line. */
const char *sshd_settings_get(const struct sshd_settings *settings,
			      const char *key);

/*
 * Iterate over every value of key: start with *pos = 0; each call returns
 * the next value and advances *pos, NULL at the end.
 */
const char *sshd_settings_next(const struct sshd_settings *settings,
			       const char *key, size_t *pos);

/* The connection `sshd -T -C` evaluates Match blocks for. NULL members are
 * left out of the spec; lport 0 is left out. */
struct sshd_match_spec {
	const char *user;
	const char *host;  /* the client's host name as sshd would see it */
	const char *addr;  /* the client's address */
	const char *laddr; /* the local address connected to */
	unsigned lport;    /* the local port connected to */
};

/*
 * Run `sshd -T [-f config] [-C spec]` (as root: sshd -T loads the host keys)
 * and parse its output. Returns 0 with *out; SL_REFUSED with *why when a
 * spec value contains ',', '=', a blank or a control character, when sshd
 * exits non-zero or is killed by a signal (sshd's first line of stderr,
 * sanitised, goes to diag when diag is not NULL: "line 12: Bad configuration
 * option: Foo"), or when its output does not parse; SL_NOT_FOUND when there
 * is no sshd binary; -ETIMEDOUT; -errno.
 */
int sshd_settings_load(const struct sshd_exec_options *exec,
		       const struct sshd_match_spec *spec,
		       struct sshd_settings **out, char *diag, size_t diag_size,
		       const char **why);

/*
 * Run `sshd -V` and read the version it prints (sshd_version_output_parse
 * of its stderr, where releases print it whether they exit 0 or, without
 * -V, 1 with the usage text; else of its stdout). Returns 0 with *out and
 * the version line, sanitised and cut to size, in software; SL_NOT_FOUND
 * with *why when there is no usable sshd binary or it printed no version;
 * -ETIMEDOUT; -errno. *out and software are untouched unless it returns 0.
 */
int sshd_version_load(const struct sshd_exec_options *exec,
		      struct sshd_version *out, char *software, size_t size,
		      const char **why);

/*
 * The port the probe should use, from `sshd -T`: the port of the first
 * "listenaddress" on a wildcard or loopback address (0.0.0.0, ::, 127.x,
 * ::1), else the first "port" line. Returns 0 with *port, SL_NOT_FOUND when
 * neither is there, or SL_REFUSED with *why when the value is not a port.
 */
int sshd_settings_port(const struct sshd_settings *settings, unsigned *port,
		       const char **why);

/*
 * sshd's match_pattern(): '*' matches any run of characters (also none),
 * '?' exactly one; everything else itself, case-sensitively. No negation
 * and no lists: AllowUsers and friends take one pattern per word.
 */
bool sshd_pattern_match(const char *text, const char *pattern);

enum sshd_access {
	SSHD_ACCESS_ALLOWED, /* admitted whatever the client's host */
	SSHD_ACCESS_DENIED,  /* refused whatever the client's host */
	SSHD_ACCESS_DEPENDS, /* a USER@HOST pattern decides: allowed from some
				hosts only, or denied from some */
};

struct sshd_access_verdict {
	enum sshd_access access;
	/* For DENIED and DEPENDS: the keyword ("denyusers", "allowusers",
	 * "denygroups", "allowgroups") and the pattern that decided, or NULL
	 * pattern when it was the absence of a match in an Allow list. Both
	 * point into the settings (pattern) or static text (keyword). */
	const char *keyword;
	const char *pattern;
};

/*
 * Would sshd admit user, whose groups (primary first, NULL-terminated; may
 * be NULL) are given, under these settings? sshd's order and rules
 * (auth.c allowed_user): a DenyUsers match denies; with AllowUsers, no match
 * denies; a DenyGroups match of any group denies; with AllowGroups, no group
 * matching denies. Patterns are matched with sshd_pattern_match.
 *
 * USER@HOST patterns are approximated: the client's host is not known before
 * it connects, so such a pattern whose USER part matches makes the answer
 * SSHD_ACCESS_DEPENDS (unless a plain pattern already decides), never
 * ALLOWED or DENIED. Returns the verdict; v (may be NULL) gets the details.
 */
enum sshd_access sshd_access_check(const struct sshd_settings *settings,
				   const char *user,
				   const char *const *groups,
				   struct sshd_access_verdict *v);

/*
 * Does one of the AuthorizedKeysFile entries (the value of sshd -T's
 * "authorizedkeysfile", blank-separated) name ~/.ssh/authorized_keys, the
 * file the engine edits? Entries are expanded as sshd does: "%%" to "%",
 * "%h" to home, "%u" to user, "%U" to the uid in decimal, a leading "~/" to
 * home; a relative result is taken from home. With home NULL (no account
 * known) only the account-independent forms count: ".ssh/authorized_keys",
 * "%h/.ssh/authorized_keys", "~/.ssh/authorized_keys". "none" names no file.
 */
bool sshd_authorized_keys_file_covers(const char *value, const char *user,
				      unsigned long uid, const char *home);

#endif

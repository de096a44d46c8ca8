/* Checks for the small strings a grant carries (DESIGN.md §6). */
#ifndef SSHLEASE_VALIDATE_H
#define SSHLEASE_VALIDATE_H

#include <stdbool.h>

#include "common.h"

#define TICKET_MAX 64
#define FROM_MAX_ENTRIES 32

/* A ticket: 1..64 chars of [A-Za-z0-9._:#/-]. 0 or SL_REFUSED with *why. */
int ticket_validate(const char *ticket, const char **why);

/*
 * A source list: 1..32 comma-separated IPv4/IPv6 addresses or CIDRs, each
 * checked with inet_pton and prefix bounds (host bits set are refused).
 * Returns 0 with a new canonical list (no spaces) in *out, SL_REFUSED with
 * *why, or -ENOMEM.
 */
int from_validate(const char *list, char **out, const char **why);

/* An account name as useradd allows it: [a-z_][a-z0-9_.-]*[$]?, <= 32. */
bool username_valid(const char *name);

#endif

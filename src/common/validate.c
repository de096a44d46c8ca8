/* Checks for the small strings a grant carries (DESIGN.md §6). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

int ticket_validate(const char *ticket, const char **why)
{
	size_t len;

	if (!ticket || !*ticket) {
		*why = "empty ticket";
		return SL_REFUSED;
	}
	len = strlen(ticket);
	if (len > TICKET_MAX) {
		*why = "ticket longer than 64 characters";
		return SL_REFUSED;
	}
	for (size_t i = 0; i < len; i++) {
		char c = ticket[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("._:#/-", c))
			continue;
		*why = "a ticket may contain only letters, digits and . _ : # / -";
		return SL_REFUSED;
	}
	return 0;
}

/* Longest entry worth looking at: a full IPv6 text form plus "/128". */
#define FROM_ENTRY_MAX (INET6_ADDRSTRLEN + 4)

/* One address or CIDR of len bytes at text, in canonical form into canon
 * (FROM_ENTRY_MAX + 1 bytes). */
static int from_entry_canonical(const char *text, size_t len, char *canon,
				const char **why)
{
	char addr_text[FROM_ENTRY_MAX + 1];
	unsigned char addr[16];
	const char *slash;
	size_t addr_len;
	int family, addr_bytes, max_prefix, prefix = -1;

	if (len > FROM_ENTRY_MAX) {
		*why = "source entry too long to be an address or CIDR";
		return SL_REFUSED;
	}
	slash = memchr(text, '/', len);
	addr_len = slash ? (size_t)(slash - text) : len;
	memcpy(addr_text, text, addr_len);
	addr_text[addr_len] = '\0';

	if (memchr(addr_text, ':', addr_len)) {
		family = AF_INET6;
		addr_bytes = 16;
		max_prefix = 128;
	} else {
		family = AF_INET;
		addr_bytes = 4;
		max_prefix = 32;
	}
	if (inet_pton(family, addr_text, addr) != 1) {
		*why = family == AF_INET6 ?
			       "not a valid IPv6 address (zone ids and host names are not allowed)" :
			       "not a valid IPv4 address (dotted quad, no host names or wildcards)";
		return SL_REFUSED;
	}

	if (slash) {
		const char *digits = slash + 1;
		size_t n_digits = len - addr_len - 1;

		if (n_digits == 0) {
			*why = "missing prefix length after /";
			return SL_REFUSED;
		}
		prefix = 0;
		for (size_t i = 0; i < n_digits; i++) {
			if (digits[i] < '0' || digits[i] > '9') {
				*why = "prefix length must be a decimal number";
				return SL_REFUSED;
			}
			/* the cap keeps a long run of digits from overflowing */
			if (prefix <= 128)
				prefix = prefix * 10 + (digits[i] - '0');
		}
		if (n_digits > 1 && digits[0] == '0') {
			*why = "prefix length has a leading zero";
			return SL_REFUSED;
		}
		if (prefix > max_prefix) {
			*why = "prefix length out of range (0-32 for IPv4, 0-128 for IPv6)";
			return SL_REFUSED;
		}
		/* sshd would match the network anyway, but bits past the
		 * prefix usually mean a typo in the address or the prefix. */
		for (int bit = prefix; bit < addr_bytes * 8; bit++) {
			if (addr[bit / 8] & (0x80 >> (bit % 8))) {
				*why = "address has bits set past the prefix length "
				       "(write the network, e.g. 203.0.113.0/24)";
				return SL_REFUSED;
			}
		}
	}

	if (!inet_ntop(family, addr, canon, FROM_ENTRY_MAX + 1)) {
		*why = "address cannot be written back";
		return SL_REFUSED;
	}
	if (prefix >= 0) {
		size_t used = strlen(canon);

		snprintf(canon + used, FROM_ENTRY_MAX + 1 - used, "/%d", prefix);
	}
	return 0;
}

int from_validate(const char *list, char **out, const char **why)
{
	char canon[FROM_MAX_ENTRIES][FROM_ENTRY_MAX + 1];
	size_t n = 0, total = 0;
	const char *p = list;
	char *result = NULL, *w;

	if (!list || !*list) {
		*why = "empty source list";
		return SL_REFUSED;
	}
	for (const char *q = list; *q; q++) {
		if (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r' ||
		    *q == '\v' || *q == '\f') {
			*why = "spaces are not allowed in a source list; separate entries with commas only";
			return SL_REFUSED;
		}
	}
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		int r;

		if (len == 0) {
			*why = "empty entry in source list (two commas, or a comma at an end)";
			return SL_REFUSED;
		}
		if (n == FROM_MAX_ENTRIES) {
			*why = "more than 32 entries in source list";
			return SL_REFUSED;
		}
		r = from_entry_canonical(p, len, canon[n], why);
		if (r)
			return r;
		for (size_t i = 0; i < n; i++) {
			if (strcmp(canon[i], canon[n]) == 0) {
				*why = "the same address or CIDR is listed twice";
				return SL_REFUSED;
			}
		}
		total += strlen(canon[n]) + 1;
		n++;
		if (!comma)
			break;
		p = comma + 1;
	}

	result = malloc(total);
	if (!result)
		return -ENOMEM;
	w = result;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(canon[i]);

		if (i > 0)
			*w++ = ',';
		memcpy(w, canon[i], len);
		w += len;
	}
	*w = '\0';
	*out = result;
	return 0;
}

bool username_valid(const char *name)
{
	size_t len;

	if (!name)
		return false;
	len = strlen(name);
	if (len == 0 || len > 32)
		return false;
	if (!((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++) {
		char c = name[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '.' || c == '-')
			continue;
		if (c == '$' && i == len - 1)
			continue;
		return false;
	}
	return true;
}

bool signer_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > SIGNER_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || (c != '\0' && strchr("._@-", c))))
			return false;
	}
	return true;
}

bool grant_id_valid(const char *id, size_t len)
{
	if (!id || len != GRANT_ID_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

static bool base64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

bool key_blob_valid(const char *blob, size_t len)
{
	size_t i = 0;

	if (!blob || len == 0 || len > KEY_BLOB_MAX || len % 4 != 0)
		return false;
	while (i < len && base64_char(blob[i]))
		i++;
	if (len - i > 2)
		return false;
	for (; i < len; i++)
		if (blob[i] != '=')
			return false;
	return true;
}

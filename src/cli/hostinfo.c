/* Where the support person connects to: this host's name and addresses. */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"

/* The host name, made canonical through the resolver when it can be. */
static void host_name(char *buf, size_t size)
{
	struct addrinfo hints = { .ai_flags = AI_CANONNAME };
	struct addrinfo *found = NULL;
	char name[256];

	if (gethostname(name, sizeof(name)) != 0)
		snprintf(name, sizeof(name), "localhost");
	name[sizeof(name) - 1] = '\0';
	if (getaddrinfo(name, NULL, &hints, &found) == 0 && found &&
	    found->ai_canonname)
		snprintf(name, sizeof(name), "%s", found->ai_canonname);
	if (found)
		freeaddrinfo(found);
	/* The resolver's answer is text from outside. */
	log_safe(buf, size, name);
}

/* Addresses nobody elsewhere can reach this host on. */
static bool address_local_only(const struct sockaddr *sa)
{
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	uint32_t a4;

	if (sa->sa_family == AF_INET) {
		a4 = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
		return (a4 >> 24) == 127 || (a4 >> 16) == 0xa9fe; /* 169.254/16 */
	}
	return IN6_IS_ADDR_LOOPBACK(a6) || IN6_IS_ADDR_LINKLOCAL(a6) ||
	       IN6_IS_ADDR_V4MAPPED(a6);
}

static bool array_has(const json_t *array, const char *text)
{
	size_t i;
	json_t *item;

	json_array_foreach(array, i, item) {
		if (strcmp(json_string_value(item), text) == 0)
			return true;
	}
	return false;
}

static void add_address(json_t *array, const struct sockaddr *sa)
{
	char text[INET6_ADDRSTRLEN];
	const void *raw = sa->sa_family == AF_INET
		? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
		: (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;

	if (!inet_ntop(sa->sa_family, raw, text, sizeof(text)) ||
	    array_has(array, text))
		return;
	if (json_array_append_new(array, json_string(text)) != 0)
		cli_out_of_memory();
}

static json_t *host_addresses(void)
{
	struct ifaddrs *list = NULL, *ifa;
	json_t *array = json_array();

	if (!array)
		cli_out_of_memory();
	if (getifaddrs(&list) != 0)
		return array;
	for (ifa = list; ifa; ifa = ifa->ifa_next) {
		if (!ifa->ifa_addr || !(ifa->ifa_flags & IFF_UP) ||
		    (ifa->ifa_flags & IFF_LOOPBACK))
			continue;
		if (ifa->ifa_addr->sa_family != AF_INET &&
		    ifa->ifa_addr->sa_family != AF_INET6)
			continue;
		if (!address_local_only(ifa->ifa_addr))
			add_address(array, ifa->ifa_addr);
	}
	freeifaddrs(list);
	return array;
}

json_t *cli_host_info(void)
{
	char name[256];
	json_t *info;

	host_name(name, sizeof(name));
	info = json_pack("{s:s, s:o}", "name", name, "addresses",
			 host_addresses());
	if (!info)
		cli_out_of_memory();
	return info;
}

/*
 * transports/addr.c: IPv4 "host:port" parsing and printing for the
 * socket-like transports (see addr.h).
 */
#include "transports/addr.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int mesh_addr_parse(const char *addr, struct sockaddr_in *sa)
{
	assert(sa);
	if (!addr)
		return -EINVAL;
	size_t n = strnlen(addr, MESH_ADDR_MAX + 1);
	if (n == 0 || n > MESH_ADDR_MAX)
		return -EINVAL;
	const char *colon = strrchr(addr, ':');
	if (!colon || colon == addr || !colon[1])
		return -EINVAL;

	unsigned long port = 0;
	for (const char *p = colon + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		port = port * 10 + (unsigned long)(*p - '0');
		if (port > 65535)
			return -EINVAL;
	}
	char host[MESH_ADDR_MAX + 1];
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';

	*sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (strcmp(host, "localhost") == 0)
		sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

const char *mesh_addr_str(const struct sockaddr_in *sa, char *buf, size_t size)
{
	char ip[INET_ADDRSTRLEN] = "?";

	inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip));
	snprintf(buf, size, "%s:%u", ip, (unsigned)ntohs(sa->sin_port));
	return buf;
}

int mesh_addr_parse_peer(const char *addr, struct sockaddr_in *sa)
{
	int rc = mesh_addr_parse(addr, sa);

	return rc ? rc : sa->sin_port == 0 ? -EINVAL : 0;
}

/*
 * transports/addr.h: IPv4 "host:port" addresses, as the socket-like
 * transports (tcp, fabric, verbs) take them in listen() and connect(), and
 * as they print them in logs.
 *
 * Internal to transports/: not part of the transport.h contract.
 */
#ifndef MESH_TRANSPORTS_ADDR_H
#define MESH_TRANSPORTS_ADDR_H

#include <netinet/in.h>
#include <stddef.h>

/* The longest "host:port" accepted, in bytes without the NUL. */
#define MESH_ADDR_MAX 64u
/* Room for mesh_addr_str(): "a.b.c.d:port" and the NUL. */
#define MESH_ADDR_STR_MAX (INET_ADDRSTRLEN + 8)

/**
 * Parse @addr, "host:port", into @sa: host a dotted quad or "localhost",
 * port decimal 0..65535. 0, or -EINVAL when @addr is NULL, empty, longer
 * than MESH_ADDR_MAX bytes, or not of that form (@sa may then be written).
 * Reads at most MESH_ADDR_MAX + 1 bytes of @addr.
 */
int mesh_addr_parse(const char *addr, struct sockaddr_in *sa);

/** As mesh_addr_parse, for a peer to connect to: port 0 is -EINVAL too. */
int mesh_addr_parse_peer(const char *addr, struct sockaddr_in *sa);

/** "a.b.c.d:port" of @sa into @buf (@size bytes, truncated to fit); returns @buf. */
const char *mesh_addr_str(const struct sockaddr_in *sa, char *buf, size_t size);

#endif

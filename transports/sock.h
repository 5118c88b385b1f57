/*
 * transports/sock.h: the nonblocking TCP sockets under the tcp transport
 * and under the fabric transport's hello exchange: make, tune, listen,
 * connect. Logging stays with the caller, which knows the address it was
 * given.
 *
 * Internal to transports/: not part of the transport.h contract.
 */
#ifndef MESH_TRANSPORTS_SOCK_H
#define MESH_TRANSPORTS_SOCK_H

#include <netinet/in.h>

struct mesh_sock_tuning {
	int buf_bytes; /* SO_SNDBUF and SO_RCVBUF; 0 leaves the kernel's */
};

/**
 * TCP_NODELAY on @fd, and the buffer sizes of @tu. Only latency and
 * throughput depend on these, so failures are ignored.
 */
void mesh_sock_tune(int fd, const struct mesh_sock_tuning *tu);

/**
 * A nonblocking, close-on-exec socket listening at @sa with @backlog,
 * SO_REUSEADDR set (a restarted node rebinds past TIME_WAIT; a live
 * listener still wins), and watched for EPOLLIN in @epfd with @tag as its
 * data. @tu, when not NULL, is applied before listen() so that accepted
 * sockets start with it (window scale). On return @sa holds the address
 * bound (the port chosen for port 0). The fd, or a negative errno with
 * nothing left open or watched.
 */
int mesh_sock_listen(int epfd, void *tag, struct sockaddr_in *sa, int backlog,
		     const struct mesh_sock_tuning *tu);

/**
 * A nonblocking, close-on-exec socket, tuned with @tu, whose connect() to
 * @sa has started (even an immediate success is finished through EPOLLOUT
 * by the caller). The fd, or a negative errno with nothing left open.
 */
int mesh_sock_connect(const struct sockaddr_in *sa, const struct mesh_sock_tuning *tu);

#endif

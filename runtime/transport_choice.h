/*
 * runtime/transport_choice.h: a transport named in a cluster file or on a
 * command line, made into an endpoint for a real node (runtime/host.h).
 *
 * Names:
 *   tcp                epoll sockets (transports/tcp.h)
 *   fabric             libfabric, provider from $MESH_FABRIC_PROVIDER, else tcp
 *   fabric:PROVIDER    libfabric with that provider: tcp (tcp;ofi_rxm), shm, ...
 *   verbs              rdma-core on the first RDMA device
 *   verbs:DEVICE       rdma-core on that device ("mlx5_0", "rxe0")
 * Every one takes "host:port" addresses. A cluster runs one transport: a
 * node that speaks another cannot reach the rest (the hellos differ), so
 * meshd and libmesh take it from the cluster file unless told otherwise.
 *
 * Transports a build lacks (libfabric or rdma-core was not found when it
 * was configured) are refused by name with what to install.
 */
#ifndef MESH_RUNTIME_TRANSPORT_CHOICE_H
#define MESH_RUNTIME_TRANSPORT_CHOICE_H

#include <stdbool.h>
#include <stddef.h>

#include "transports/transport.h"

/* Longest transport name, in bytes without the NUL. */
#define MESH_TRANSPORT_NAME_MAX 47u

enum mesh_transport_kind {
	MESH_TRANSPORT_TCP = 1,
	MESH_TRANSPORT_FABRIC = 2,
	MESH_TRANSPORT_VERBS = 3,
};

struct mesh_transport_choice {
	enum mesh_transport_kind kind;
	const struct mesh_transport_ops *ops;
	/* What follows "fabric:" or "verbs:"; "" for the default. */
	char detail[MESH_TRANSPORT_NAME_MAX + 1];
	char name[MESH_TRANSPORT_NAME_MAX + 1]; /* as given, for logs */
};

/**
 * Parse @name (NULL or "": tcp). Returns 0, or -EPROTONOSUPPORT (no such
 * transport, or not in this build) or -EINVAL (malformed: too long, or
 * nothing after ':') with the reason in @err.
 */
int mesh_transport_choose(const char *name, struct mesh_transport_choice *out, char *err,
			  size_t err_size);

struct mesh_transport_start {
	size_t msg_bytes_max;
	/* Where this node listens, or NULL for a node that only connects. */
	const char *listen_addr;
	/* A peer's address: a node that does not listen binds its fabric
	 * endpoint to the local address that reaches it. */
	const char *peer_addr;
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
};

/** Make the endpoint. Returns 0 or a negative errno; the transport logs why. */
int mesh_transport_choice_create(const struct mesh_transport_choice *c,
				 const struct mesh_transport_start *s, struct mesh_transport **out);

/** The port @t listens on, or -EINVAL. */
int mesh_transport_choice_port(const struct mesh_transport_choice *c,
			       const struct mesh_transport *t);

/**
 * Whether a connection takes messages only after its CONN_UP (fabric,
 * verbs: send() returns -EAGAIN before); tcp queues them at once.
 */
bool mesh_transport_choice_sends_after_up(const struct mesh_transport_choice *c);

#endif

/*
 * runtime/host.h: one real mesh node in a process. The core's mesh_node
 * acts through an environment made of the event loop (runtime/evloop.h,
 * real monotonic time and timers), a transport (tcp, fabric or verbs:
 * runtime/transport_choice.h), io_uring drives
 * (runtime/uring_drive.h) and a metadata store in a directory
 * (runtime/metastore.h). The same core code runs here as in the
 * simulator; only the world around it differs.
 *
 * Peers. Nodes are named by id. The host keeps an address book (id ->
 * "host:port") and one connection per peer, made on the first send to it.
 * The first message on every connection is a hello naming the sender's id,
 * so that an accepted connection (a client the book does not list, or a
 * peer that connected first) is known by id too; a connection that sends
 * anything else first is dropped. A peer whose connection went down is
 * connected again on the next send; messages sent while it is down are
 * lost, as the core expects of any network (it retries). With transports
 * that carry messages only once a connection is up (fabric, verbs), the
 * hello goes at CONN_UP and sends to that peer are -EAGAIN until then (the
 * core parks and resends them).
 *
 * A transport without a wait fd (fabric over shm) cannot be slept on:
 * mesh_host_run_once() then polls it, spinning while the node is busy and
 * napping a millisecond at a time once it has been idle for two. While the
 * node has regions exposed for one-sided reads it never naps: such a
 * transport serves them in this process's progress, with no event that
 * would show the node busy.
 *
 * One thread: run mesh_host_run_once() in a loop. Roles are attached to
 * mesh_host_node() by the caller (meshd, tests).
 */
#ifndef MESH_RUNTIME_HOST_H
#define MESH_RUNTIME_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "core/env.h"
#include "core/node.h"

#define MESH_HOST_PEERS_MAX 1024u
#define MESH_HOST_DRIVES_MAX 64u
#define MESH_HOST_HELLO_MAGIC 0x6d657368u /* "mesh" */
#define MESH_HOST_ADDR_MAX 64u /* "host:port", without the NUL */

struct mesh_host_config {
	uint32_t self;                  /* this node's id */
	const char *listen_addr;        /* "host:port" (port 0: any); NULL: accept nothing */
	const char *transport;          /* a name for transport_choice.h; NULL: tcp */
	/* A peer's address, for a node that does not listen: fabric binds
	 * its endpoint to the local address that reaches it. */
	const char *route_hint;
	const char *meta_dir;           /* NULL: no metadata store */
	enum mesh_log_level log_level;  /* lines above it are dropped */
	uint32_t msg_bytes_max;         /* 0: the protocol's largest message */
	unsigned drive_queue_depth;     /* per drive; 0: 128 */
};

struct mesh_host;

/** Returns 0 or a negative errno; logs why to stderr. */
int mesh_host_create(const struct mesh_host_config *cfg, struct mesh_host **out);

/** Stop and free the host; roles on its node must be destroyed first. */
void mesh_host_destroy(struct mesh_host *h);

struct mesh_node *mesh_host_node(struct mesh_host *h);

/** Where node @id listens. Returns 0, -EEXIST, -ENOSPC or -EINVAL. */
int mesh_host_peer_add(struct mesh_host *h, uint32_t id, const char *addr);

/**
 * Start a connection to every peer with an address that has none, so that
 * the first I/O need not wait for one.
 */
void mesh_host_peers_connect(struct mesh_host *h);

/** How many of this node's connections wait for their CONN_UP. */
unsigned mesh_host_peers_connecting(const struct mesh_host *h);

/** The transport's name, as chosen ("tcp", "fabric:shm", ...). */
const char *mesh_host_transport(const struct mesh_host *h);

/** Whether the transport reads peers' memory one-sided (fabric, verbs). */
bool mesh_host_one_sided(const struct mesh_host *h);

/** The port this host listens on (after port 0), or -EINVAL. */
int mesh_host_port(const struct mesh_host *h);

/**
 * Open @path as the next drive (index in *@index), @bytes long (0: the
 * file's size). Returns 0 or a negative errno, logged with the reason.
 */
int mesh_host_drive_add(struct mesh_host *h, const char *path, uint64_t bytes, uint32_t *index);

/** The size of drive @index. */
uint64_t mesh_host_drive_bytes(const struct mesh_host *h, uint32_t index);

/**
 * Wait up to @timeout_ns (0: not at all) for messages, drive completions
 * and timers, and deliver them to the node. Returns how many callbacks
 * ran or a negative errno.
 */
int mesh_host_run_once(struct mesh_host *h, uint64_t timeout_ns);

#endif

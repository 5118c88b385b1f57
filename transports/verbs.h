/*
 * transports/verbs.h: the rdma-core transport (librdmacm to connect, RC
 * queue pairs to move bytes). The transport itself is mesh_transport_verbs
 * (transport.h). It is built only when pkg-config finds libibverbs and
 * librdmacm.
 *
 * Without an RDMA device, create() logs what is missing and returns
 * -ENODEV: "no RDMA device found (ibv_get_device_list returned 0 devices)",
 * or the named device that does not exist and the devices that do. Use the
 * tcp or fabric transport on such a machine.
 *
 * Addresses are "host:port" as in tcp.h: host an IPv4 dotted quad or
 * "localhost", port decimal (rdmacm port space TCP). listen() accepts port
 * 0 and binds a free port; mesh_verbs_bound_port() tells which.
 *
 * One device per endpoint: the one named in mesh_verbs_options.device, or
 * the first one rdmacm knows. Connections whose route runs through another
 * device are refused (accept) or fail with -ENODEV (connect): exposed
 * regions are registered with this one device, and a key names one
 * registration.
 *
 * Messages are two-sided SEND/RECV. Each connection registers, once, when
 * it is made:
 * - recv_depth receive buffers of msg_bytes_max bytes, all posted. RECV
 *   events point into them; a buffer is posted again by the next poll().
 *   recv_depth is mesh_transport_params.rx_bytes / msg_bytes_max, or
 *   MESH_VERBS_RECV_DEPTH_DEFAULT when rx_bytes is 0.
 * - send_depth send buffers of msg_bytes_max bytes. send() copies the
 *   message into a free one and posts it; with none free it returns
 *   -EAGAIN. A buffer is free again once the peer's adapter acknowledged it.
 * - rma_depth RMA slots, each with a bounce buffer of rma_bounce_bytes.
 * Pinned memory per connection: (recv_depth + send_depth) × msg_bytes_max +
 * rma_depth × rma_bounce_bytes; with every default (msg_bytes_max =
 * MESH_PROTO_MSG_MAX) about 36 MiB. Shrink msg_bytes_max or the depths for
 * many connections.
 * Back-pressure: the queue pair retries forever while the peer has no
 * receive posted (rnr_retry 7), so a peer that stops polling stalls the
 * sender's send buffers and its send() returns -EAGAIN; nothing is lost.
 *
 * Keys: mr_expose() registers [base, base + len) with ibv_reg_mr_iova() at
 * I/O virtual address 0, so a remote address is simply the offset in the
 * region. The 64-bit mesh key is (len << 32) | ibv rkey: it names the
 * registration and carries the region's length, so a peer needs no table
 * (nothing is exchanged at connect time) and rma_read()/rma_write() check
 * offset + len against the region before posting (-ERANGE). Regions are
 * therefore at most MESH_VERBS_REGION_BYTES_MAX bytes. mr_revoke() is
 * ibv_dereg_mr(): the adapter refuses the old rkey from then on. A driver
 * may hand the same rkey to a later registration (mlx5 after 256
 * registrations of one slot); the length half of the key does not fully
 * guard against that.
 *
 * Behaviour beyond the transport.h contract:
 * - connect() returns at once; send() and RMA on the connection return
 *   -EAGAIN until CONN_UP. A failure before that gives CONN_DOWN without
 *   CONN_UP: -ECONNREFUSED when nobody listens or the peer refused,
 *   -EHOSTUNREACH or -ETIMEDOUT when resolution or the handshake failed,
 *   -ENODEV when the route leaves through another device.
 * - RMA on local memory: when [buf, buf + len) lies inside a region this
 *   endpoint exposed, the adapter moves the bytes there directly;
 *   otherwise they go through the slot's bounce buffer (copied in by
 *   rma_write(), copied out before rma_read()'s RMA_DONE), and len above
 *   rma_bounce_bytes is -EMSGSIZE. Do not revoke a region that an RMA in
 *   flight uses as its local buffer.
 * - RMA_DONE status: 0, -ERANGE (checked locally from the key), -EACCES
 *   (the peer's adapter refused the key or the access), -ECONNABORTED
 *   (the connection went down first), or what mesh_verbs_wc_status()
 *   maps the completion to.
 * - Any failed completion breaks an RC queue pair: an RMA that ends in
 *   -EACCES is followed by CONN_DOWN with status -EACCES, and the other
 *   operations in flight end with -ECONNABORTED. CONN_DOWN comes after the
 *   RMA_DONE of every accepted RMA. Reconnect to go on.
 * - CONN_DOWN status: 0 when the peer disconnected, else a negative errno.
 * - wait_fd() is an epoll fd holding the rdmacm event channel, the
 *   completion channel and an eventfd that stays readable while events
 *   wait inside the endpoint.
 */
#ifndef MESH_TRANSPORTS_VERBS_H
#define MESH_TRANSPORTS_VERBS_H

#include <stddef.h>

#include "transports/transport.h"

/* Longest address, in bytes, without the terminating NUL. */
#define MESH_VERBS_ADDR_MAX 64u
/* Longest device name (IBV_SYSFS_NAME_MAX), without the NUL. */
#define MESH_VERBS_DEVICE_NAME_MAX 63u
/* Connections (connected and accepted) one endpoint may hold at once. */
#define MESH_VERBS_CONN_MAX 1024u
/* Largest msg_bytes_max an endpoint may ask for. */
#define MESH_VERBS_MSG_BYTES_MAX (16u << 20)
/* Receive buffers per connection: default and limit. */
#define MESH_VERBS_RECV_DEPTH_DEFAULT 16u
#define MESH_VERBS_RECV_DEPTH_MAX 1024u
/* Send buffers per connection: default and limit. */
#define MESH_VERBS_SEND_DEPTH_DEFAULT 16u
#define MESH_VERBS_SEND_DEPTH_MAX 1024u
/* RMA operations in flight per connection: default and limit. */
#define MESH_VERBS_RMA_DEPTH_DEFAULT 64u
#define MESH_VERBS_RMA_DEPTH_MAX 1024u
/* Bounce buffer per RMA slot: default and limit. */
#define MESH_VERBS_BOUNCE_BYTES_DEFAULT (64u << 10)
#define MESH_VERBS_BOUNCE_BYTES_MAX (16u << 20)
/* Longest single RMA (a work request carries at most 2^31 bytes). */
#define MESH_VERBS_RMA_BYTES_MAX (1u << 30)
/* Regions one endpoint may expose at once. */
#define MESH_VERBS_REGION_MAX 256u
/* Largest exposed region: its length must fit in the key's upper half. */
#define MESH_VERBS_REGION_BYTES_MAX 0xffffffffu
/* Address and route resolution timeout when the option is 0, and limit. */
#define MESH_VERBS_RESOLVE_MS_DEFAULT 2000u
#define MESH_VERBS_RESOLVE_MS_MAX 60000u
/* Pending connection requests rdmacm queues for a listener. */
#define MESH_VERBS_BACKLOG 128

/*
 * Optional settings. Pass a pointer to one in mesh_transport_params.fabric;
 * NULL there, or 0 in a field, means the default. create() copies it (and
 * the device name).
 */
struct mesh_verbs_options {
	/* Device name as ibv_devices prints it ("mlx5_0", "rxe0"); NULL for
	 * the first device. The port follows from the address (rdmacm). */
	const char *device;
	unsigned send_depth;
	unsigned rma_depth;
	size_t rma_bounce_bytes;
	/* Connection limit below MESH_VERBS_CONN_MAX. */
	unsigned conn_max;
	/* rdma_resolve_addr/route timeout, at most MESH_VERBS_RESOLVE_MS_MAX. */
	unsigned resolve_ms;
	/*
	 * Called with one line (no newline) when something goes wrong. When
	 * NULL, only create() failures are logged (to stderr). As in tcp.h;
	 * mesh_verbs_log_stderr is a ready-made choice.
	 */
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
};

/**
 * The port that verbs endpoint @t listens on (useful after listening on
 * port 0). Returns the port, or -EINVAL when @t does not listen.
 */
int mesh_verbs_bound_port(const struct mesh_transport *t);

/** A mesh_verbs_options.log that prints "mesh verbs: <line>" to stderr. */
void mesh_verbs_log_stderr(void *ctx, const char *line);

extern const struct mesh_transport_ops mesh_transport_verbs;

#endif

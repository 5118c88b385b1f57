/*
 * transports/fabric.h: the libfabric transport, mesh_transport_fabric
 * (transport.h): two-sided messages and one-sided RMA over a provider that
 * is chosen at run time ("tcp", i.e. the tcp;ofi_rxm RDM stack, or "shm").
 *
 * Addresses are "host:port" as for the tcp transport (tcp.h): host an IPv4
 * dotted quad or "localhost", port decimal; listen() takes port 0 and binds
 * a free port, mesh_fabric_bound_port() tells which. The address names a
 * small TCP control socket, not the fabric endpoint: connect() opens it and
 * both sides swap a hello (their fabric endpoint name, provider, message
 * limit, connection id) over it; then each inserts the other into its
 * address vector and data moves over the fabric only. The control socket
 * stays open so that a peer that goes away is noticed (CONN_DOWN).
 *
 * Behaviour beyond the transport.h contract:
 * - A connection carries messages and RMA only after its CONN_UP has come
 *   out of poll(); before that send() and rma_read/rma_write return
 *   -EAGAIN (retry after CONN_UP), not -ENOTCONN.
 * - connect() to a port where nobody listens returns 0 and the connection
 *   later yields CONN_DOWN (no CONN_UP) with status -ECONNREFUSED.
 * - CONN_DOWN's status is 0 when the peer closed its control socket, a
 *   socket error (-ECONNRESET, ...) or -EPROTO for a bad hello (e.g. the
 *   peer runs another provider). Messages still in flight on the fabric
 *   when the control socket closes may be lost: messages and the close go
 *   different ways.
 * - Messages are limited to the smaller of both sides' msg_bytes_max;
 *   above it send() returns -EMSGSIZE. Empty messages are -EINVAL.
 * - send() copies the message into one of a bounded number of send slots
 *   (mesh_fabric_options.tx_bytes) and returns 0; a message the provider
 *   cannot take yet (its queue is full, or the first messages to a new
 *   peer while rxm connects or shm maps the peer) waits in order and is
 *   posted by poll(). With every slot taken send() returns -EAGAIN and
 *   leaves no trace. RMA works the same way with its own contexts
 *   (mesh_fabric_options.rma_depth).
 * - rkeys: the rkey is also the fabric key (we ask for it: providers that
 *   insist on choosing keys, FI_MR_PROV_KEY, or on registered local
 *   buffers, FI_MR_LOCAL, are not offered and so not used). It carries the
 *   region's access bits, and with providers that address remote memory by
 *   virtual address (FI_MR_VIRT_ADDR, e.g. shm) also the region's base
 *   address in its low 48 bits and a 14-bit generation in the top bits,
 *   so the peer needs nothing but the rkey. Other providers (tcp;ofi_rxm)
 *   get a counter. A revoked rkey is not handed out again, except that a
 *   VIRT_ADDR key could come back after 16384 more exposes of the same
 *   base address with the same access.
 * - Access bits are checked by the initiator from the rkey: an RMA the
 *   key does not allow completes with -EACCES without reaching the
 *   fabric (tcp;ofi_rxm 1.17 does not check FI_REMOTE_WRITE itself).
 *   -ERANGE is returned at once only when offset + len cannot address
 *   anything (overflow).
 * - Writes are posted with FI_DELIVERY_COMPLETE: their RMA_DONE means the
 *   bytes are in the target's memory. Endpoints ask for FI_ORDER_SAW, so a
 *   message sent after a write is processed after it; for shm this also
 *   turns off its "fast RMA" path, which copies with process_vm_writev
 *   without ever looking at the key.
 * - Accesses the target refuses (revoked or unknown key, past the region),
 *   as libfabric 1.17 reports them:
 *   - tcp;ofi_rxm: the target drops its connection to the initiator; the
 *     refused operation completes with FI_ECANCELED, later ones to that
 *     peer with FI_ENOTCONN, both as -EIO. The fabric path to that peer
 *     stays broken (the control socket, and so the connection, stays up):
 *     KNOWN GAP, the connection should go down so that a reconnect gets a
 *     fresh path.
 *   - shm: the target refuses but never answers, so a refused read, or a
 *     refused write (delivery complete), never completes: KNOWN GAP.
 *   Neither provider tells bounds from key errors, so -ERANGE is not seen.
 * - Progress is manual with both providers: the side that exposed memory
 *   must keep calling poll() for RMA against it to complete.
 * - wait_fd(): with tcp the endpoint's epoll set, holding the completion
 *   queue's wait fd (FI_GETWAIT on an FI_WAIT_FD CQ), the control sockets
 *   and an eventfd that poll() keeps readable while it left work behind
 *   (fi_trywait() said so, or events stayed queued). shm in libfabric 1.17
 *   has no FI_WAIT_FD completion queue (fi_cq_open fails with -FI_ENOSYS),
 *   so wait_fd() returns -ENOTSUP there: its user must poll.
 */
#ifndef MESH_TRANSPORTS_FABRIC_H
#define MESH_TRANSPORTS_FABRIC_H

#include <stddef.h>

#include "transports/transport.h"

extern const struct mesh_transport_ops mesh_transport_fabric;

/* The provider used when neither options nor $MESH_FABRIC_PROVIDER name one. */
#define MESH_FABRIC_PROVIDER_DEFAULT "tcp"
/* Longest provider name, in bytes, without the NUL. */
#define MESH_FABRIC_PROVIDER_MAX 31u
/* Longest control address ("host:port"), in bytes, without the NUL. */
#define MESH_FABRIC_ADDR_MAX 64u
/* Longest fabric endpoint name (fi_getname) a hello may carry. */
#define MESH_FABRIC_NAME_MAX 256u
/* Connections one endpoint may hold at once (connected and accepted); a
 * connection counts until disconnect(), even after its CONN_DOWN. */
#define MESH_FABRIC_CONN_MAX 1024u
/* Largest msg_bytes_max an endpoint may ask for. */
#define MESH_FABRIC_MSG_BYTES_MAX (16u << 20)
/* Receive-slot bytes when mesh_transport_params.rx_bytes is 0, and send-slot
 * bytes when mesh_fabric_options.tx_bytes is 0. A slot holds one message of
 * msg_bytes_max plus an 8-byte header; there are at least
 * MESH_FABRIC_SLOTS_MIN of each when the default is used. */
#define MESH_FABRIC_RX_BYTES_DEFAULT (8u << 20)
#define MESH_FABRIC_TX_BYTES_DEFAULT (8u << 20)
#define MESH_FABRIC_SLOTS_MIN 2u
/* Most receive or send slots (also capped by the provider's queue sizes). */
#define MESH_FABRIC_SLOTS_MAX 1024u
/* RMA operations one endpoint may have in flight when options say 0, and
 * the most it may ask for. */
#define MESH_FABRIC_RMA_DEPTH_DEFAULT 128u
#define MESH_FABRIC_RMA_DEPTH_MAX 1024u
/* Regions one endpoint may expose at once. */
#define MESH_FABRIC_MR_MAX 4096u
/* Pending control connections the kernel queues for a listener. */
#define MESH_FABRIC_BACKLOG 128

/*
 * Optional settings. Pass a pointer to one in mesh_transport_params.fabric;
 * NULL there, or 0/NULL in a field, means the default. create() copies it.
 */
struct mesh_fabric_options {
	/* libfabric provider: "tcp" (the tcp;ofi_rxm RDM stack), "shm" (one
	 * host only), or any name fi_info knows that offers RDM endpoints with
	 * FI_MSG and FI_RMA. NULL: $MESH_FABRIC_PROVIDER, else
	 * MESH_FABRIC_PROVIDER_DEFAULT. */
	const char *provider;
	/* Address the fabric endpoint binds (tcp: an IPv4 address of this
	 * host that peers can reach, e.g. "127.0.0.1"). NULL: the provider's
	 * first interface. Ignored by shm, which names its endpoints. */
	const char *node;
	/* Send-slot bytes (see above); at least one slot's worth. */
	size_t tx_bytes;
	/* Connection limit below MESH_FABRIC_CONN_MAX; 0 for the limit. */
	unsigned conn_max;
	/* RMA operations in flight, at most MESH_FABRIC_RMA_DEPTH_MAX. */
	unsigned rma_depth;
	/*
	 * Called with one line (no newline) when something goes wrong. When
	 * NULL, only create() failures are logged (to stderr).
	 * mesh_fabric_log_stderr is a ready-made choice.
	 */
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
};

/**
 * Whether @provider (NULL: the default, as for options) offers what this
 * transport needs on this machine. Returns 0, -ENODATA when it does not, or
 * another negative errno. Logs nothing.
 */
int mesh_fabric_probe(const char *provider);

/** The control port fabric endpoint @t listens on, or -EINVAL. */
int mesh_fabric_bound_port(const struct mesh_transport *t);

/** The provider @t runs on as libfabric names it, e.g. "tcp;ofi_rxm". */
const char *mesh_fabric_provider(const struct mesh_transport *t);

/** A mesh_fabric_options.log that prints "mesh fabric: <line>" to stderr. */
void mesh_fabric_log_stderr(void *ctx, const char *line);

#endif

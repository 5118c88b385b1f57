/*
 * transports/tcp.h: the TCP transport (Linux epoll, non-blocking sockets,
 * TCP_NODELAY), the first real data path. The transport itself is
 * mesh_transport_tcp (transport.h).
 *
 * Addresses are "host:port": host is an IPv4 dotted quad or "localhost"
 * (127.0.0.1; no name lookups, which could block), port is decimal. listen()
 * accepts port 0 and binds a free port; mesh_tcp_bound_port() tells which.
 *
 * Framing: a message is a 4-byte little-endian length, then that many
 * bytes. A receiver drops a connection whose frame length is 0 or above its
 * msg_bytes_max; an empty message therefore cannot be sent (-EINVAL).
 *
 * Buffers, all allocated when a connection is made, never per message:
 * - receive: mesh_transport_params.rx_bytes per connection (0 for the
 *   default), at least msg_bytes_max + 4. One read() fills it with as many
 *   messages as fit; RECV events point into it.
 * - send: mesh_tcp_options.tx_bytes per connection, at least
 *   msg_bytes_max + 4. send() hands the frame to the kernel with one
 *   sendmsg(); whatever the kernel does not take is copied here and flushed
 *   from poll() when the socket turns writable. A message that does not fit
 *   whole is refused with -EAGAIN and leaves no trace.
 *
 * Behaviour beyond the transport.h contract:
 * - connect() returns a connection that may be used for send at once:
 *   messages sent while the TCP handshake is in progress wait in the send
 *   buffer. CONN_UP comes from poll() once the handshake is done.
 * - Connecting to a port where nobody listens: the kernel learns that
 *   after connect() has returned, so connect() returns 0 and the connection
 *   later yields CONN_DOWN, without CONN_UP, with status -ECONNREFUSED.
 *   (If a kernel ever reports the refusal synchronously, connect() returns
 *   -ECONNREFUSED and makes no connection.)
 * - CONN_DOWN carries why in its status: 0 when the peer closed cleanly
 *   between messages, -ECONNRESET when it closed inside a message (the
 *   partial message is dropped), -EPROTO for a frame of length 0 or above
 *   msg_bytes_max, or the socket's own error (-ECONNREFUSED, ...). Messages
 *   that arrived whole before the connection went down are delivered first.
 * - disconnect() closes the socket at once; bytes still in the send buffer
 *   are dropped. RECV data of a disconnected connection stays valid until
 *   the next poll(), like any other.
 * - A listener at its connection limit accepts and closes at once, so the
 *   peer sees its connection go down instead of hanging.
 * - No RMA: the RMA slots are NULL and their wrappers return -ENOTSUP.
 * - wait_fd() is the endpoint's epoll fd: readable when a socket has news
 *   or when events are waiting inside the endpoint (e.g. poll() stopped at
 *   its max). It may wake without poll() having an event to return.
 */
#ifndef MESH_TRANSPORTS_TCP_H
#define MESH_TRANSPORTS_TCP_H

#include <stddef.h>

#include "transports/transport.h"

/* Longest address, in bytes, without the terminating NUL. */
#define MESH_TCP_ADDR_MAX 64u
/* Connections (connected and accepted) one endpoint may hold at once; a
 * connection counts until disconnect(), even after its CONN_DOWN. */
#define MESH_TCP_CONN_MAX 1024u
/* Largest msg_bytes_max an endpoint may ask for. */
#define MESH_TCP_MSG_BYTES_MAX (1u << 30)
/* Per-connection receive buffer when mesh_transport_params.rx_bytes is 0
 * (raised to msg_bytes_max + 4 when that is larger). */
#define MESH_TCP_RX_BYTES_DEFAULT (256u << 10)
/* Per-connection send buffer when mesh_tcp_options.tx_bytes is 0 (raised
 * to msg_bytes_max + 4 when that is larger). */
#define MESH_TCP_TX_BYTES_DEFAULT (4u << 20)
/* Largest per-connection receive or send buffer. */
#define MESH_TCP_BUF_BYTES_MAX (1u << 30)
/* Pending connections the kernel queues for a listener. */
#define MESH_TCP_BACKLOG 128

/*
 * Optional settings. Pass a pointer to one in mesh_transport_params.fabric;
 * NULL there, or 0 in a field, means the default. create() copies it.
 */
struct mesh_tcp_options {
	/* Per-connection send buffer in bytes (see above). */
	size_t tx_bytes;
	/* Connection limit below MESH_TCP_CONN_MAX; 0 for MESH_TCP_CONN_MAX. */
	unsigned conn_max;
	/* SO_SNDBUF and SO_RCVBUF of every socket, at most
	 * MESH_TCP_BUF_BYTES_MAX; 0 leaves the kernel's autotuning alone. */
	size_t sock_bytes;
	/*
	 * Called with one line (no newline) when something goes wrong: a
	 * set-up failure, a connection dropped for a bad frame, an accept
	 * refused at the limit. When NULL, only create() failures are logged
	 * (to stderr); the rest stays quiet and CONN_DOWN's status says why.
	 * mesh_tcp_log_stderr is a ready-made choice.
	 */
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
};

/**
 * The TCP port that tcp endpoint @t listens on (useful after listening on
 * port 0). Returns the port, or -EINVAL when @t does not listen.
 */
int mesh_tcp_bound_port(const struct mesh_transport *t);

/** A mesh_tcp_options.log that prints "mesh tcp: <line>" to stderr. */
void mesh_tcp_log_stderr(void *ctx, const char *line);

#endif

/*
 * transports/transport.h: one ops table for every way mesh moves bytes.
 *
 * A transport gives connections between endpoints, two-sided messages over
 * them, and where it can, one-sided access (RMA) to memory that the peer
 * exposed under a key, so that the peer's CPU does no work per access.
 * Implementations: loop (in process), tcp (epoll), fabric (libfabric), verbs
 * (rdma-core). Each lives in its own .c file as one static const ops table.
 *
 * Threading: a transport object is used by one thread at a time.
 * Completions: nothing is ever delivered from inside a call; every event
 * (message received, RMA done, connection up or down) comes out of poll().
 */
#ifndef MESH_TRANSPORTS_TRANSPORT_H
#define MESH_TRANSPORTS_TRANSPORT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "core/env.h" /* struct mesh_iov, MESH_RMA_READ/WRITE */

struct mesh_transport;
struct mesh_conn;

enum mesh_tp_event_type {
	MESH_TP_RECV = 1,      /* a whole message arrived on conn */
	MESH_TP_RMA_DONE = 2,  /* a one-sided read or write finished */
	MESH_TP_CONN_UP = 3,   /* conn is usable (accepted or connected) */
	MESH_TP_CONN_DOWN = 4, /* conn is gone; it may be disconnected now */
};

struct mesh_tp_event {
	enum mesh_tp_event_type type;
	struct mesh_conn *conn;
	/* RECV: the message bytes, valid until the next poll() on this
	 * transport. */
	const void *data;
	size_t len;
	/* RMA_DONE: the caller's cookie and 0 or a negative errno. */
	uint64_t cookie;
	int status;
};

struct mesh_transport_params {
	/* Transport-specific: loop takes a struct mesh_loop_fabric *, tcp an
	 * optional struct mesh_tcp_options * (transports/tcp.h). */
	void *fabric;
	/* Largest message this endpoint sends or accepts. */
	size_t msg_bytes_max;
	/* Bytes of inbound messages that may wait to be polled. */
	size_t rx_bytes;
};

struct mesh_transport_ops {
	const char *name;

	/** Make an endpoint. Returns 0 or a negative errno; logs why. */
	int (*create)(const struct mesh_transport_params *params, struct mesh_transport **out);

	/** Close every connection and free the endpoint. */
	void (*destroy)(struct mesh_transport *t);

	/** Accept connections at @addr (format is the transport's). */
	int (*listen)(struct mesh_transport *t, const char *addr);

	/**
	 * Start a connection to @addr. The connection may be used for send at
	 * once (messages wait until it is up) or only after CONN_UP; the
	 * transport documents which. Returns 0 or -ECONNREFUSED, -EINVAL, ...
	 */
	int (*connect)(struct mesh_transport *t, const char *addr, struct mesh_conn **out);

	/** Drop @c. No event for it is delivered afterwards. */
	void (*disconnect)(struct mesh_conn *c);

	/** Attach the caller's pointer to @c (e.g. the peer's node id). */
	void (*set_conn_ctx)(struct mesh_conn *c, void *ctx);
	void *(*conn_ctx)(const struct mesh_conn *c);

	/**
	 * Send one message gathered from @iov. The transport is done with the
	 * bytes when this returns (copied, or handed to the kernel). Returns 0,
	 * -EAGAIN when the path is full right now, -EMSGSIZE above
	 * msg_bytes_max, -ENOTCONN when the connection is gone.
	 */
	int (*send)(struct mesh_conn *c, const struct mesh_iov *iov, unsigned iovcnt);

	/**
	 * Expose [@base, @base + @len) for remote access with @access bits and
	 * return its key in @rkey. May be NULL (no RMA).
	 */
	int (*mr_expose)(struct mesh_transport *t, void *base, size_t len, unsigned access,
			 uint64_t *rkey);

	/** Revoke @rkey: remote access through it fails from now on. May be NULL. */
	int (*mr_revoke)(struct mesh_transport *t, uint64_t rkey);

	/**
	 * One-sided read of @len bytes at @offset within the peer's region
	 * @rkey into @buf. Completes with RMA_DONE (status -EACCES for a bad or
	 * revoked key or wrong access, -ERANGE past the region). May be NULL.
	 */
	int (*rma_read)(struct mesh_conn *c, uint64_t rkey, uint64_t offset, void *buf, size_t len,
			uint64_t cookie);

	/** One-sided write, as rma_read. May be NULL. */
	int (*rma_write)(struct mesh_conn *c, uint64_t rkey, uint64_t offset, const void *buf,
			 size_t len, uint64_t cookie);

	/**
	 * Deliver up to @max events into @ev without blocking. Returns how
	 * many, or a negative errno if the endpoint itself failed.
	 */
	int (*poll)(struct mesh_transport *t, struct mesh_tp_event *ev, unsigned max);

	/**
	 * A file descriptor that becomes readable when poll() may return
	 * events, so that a runtime can sleep in poll(2)/epoll until then.
	 * It may also wake when poll() then returns nothing; never read from
	 * or close it. Valid until destroy(). May be NULL (e.g. loop, whose
	 * events only come from calls made by the same thread).
	 */
	int (*wait_fd)(struct mesh_transport *t);
};

/* Wrappers for the optional slots: -ENOTSUP when a transport lacks RMA. */
static inline int mesh_tp_mr_expose(const struct mesh_transport_ops *ops, struct mesh_transport *t,
				    void *base, size_t len, unsigned access, uint64_t *rkey)
{
	return ops->mr_expose ? ops->mr_expose(t, base, len, access, rkey) : -ENOTSUP;
}

static inline int mesh_tp_mr_revoke(const struct mesh_transport_ops *ops, struct mesh_transport *t,
				    uint64_t rkey)
{
	return ops->mr_revoke ? ops->mr_revoke(t, rkey) : -ENOTSUP;
}

static inline int mesh_tp_rma_read(const struct mesh_transport_ops *ops, struct mesh_conn *c,
				   uint64_t rkey, uint64_t offset, void *buf, size_t len,
				   uint64_t cookie)
{
	return ops->rma_read ? ops->rma_read(c, rkey, offset, buf, len, cookie) : -ENOTSUP;
}

static inline int mesh_tp_rma_write(const struct mesh_transport_ops *ops, struct mesh_conn *c,
				    uint64_t rkey, uint64_t offset, const void *buf, size_t len,
				    uint64_t cookie)
{
	return ops->rma_write ? ops->rma_write(c, rkey, offset, buf, len, cookie) : -ENOTSUP;
}

/* The fd to sleep on until @t has events, or -ENOTSUP. */
static inline int mesh_tp_wait_fd(const struct mesh_transport_ops *ops, struct mesh_transport *t)
{
	return ops->wait_fd ? ops->wait_fd(t) : -ENOTSUP;
}

/* The transports this build has. */
extern const struct mesh_transport_ops mesh_transport_loop;
extern const struct mesh_transport_ops mesh_transport_tcp;

#endif

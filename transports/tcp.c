/*
 * transports/tcp.c: the TCP transport (see tcp.h).
 *
 * One epoll set per endpoint holds its listener, its connections and an
 * eventfd. The epoll set is level-triggered, so anything poll() leaves
 * unread is reported again by the next one and no readiness is ever lost.
 *
 * poll() first harvests readiness (accepting, finishing connects, flushing
 * send buffers, noting readable sockets) and then serves a round-robin list
 * of connections that have something to deliver: a CONN_UP, whole frames in
 * the receive buffer, bytes in the socket, or a CONN_DOWN. Serving stops
 * at max; whatever is left stays on the list, and the eventfd is kept
 * readable while it is not empty, so that wait_fd() wakes a sleeper even
 * when no socket has news.
 *
 * RECV events point into the connection's receive buffer. A buffer is
 * compacted (its partial frame moved to the front) only by a later poll()
 * than the one that delivered from it, and a disconnected connection whose
 * data was just delivered is freed by the next poll(): that is what keeps
 * RECV data valid until the next poll() without copying.
 *
 * Nothing here allocates per message: buffers come with the connection.
 */
#define _GNU_SOURCE /* accept4 */
#include "transports/tcp.h"

#include <arpa/inet.h>
#include <assert.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/proto.h"
#include "transports/addr.h"
#include "transports/log.h"
#include "transports/ready.h"
#include "transports/sock.h"

/* listen() and connect() take what mesh_addr_parse() takes. */
_Static_assert(MESH_TCP_ADDR_MAX == MESH_ADDR_MAX, "one address limit");

/* The little-endian length in front of every message. */
#define FRAME_HDR_BYTES 4u
/* Readiness reports taken per poll(); the rest stay in epoll for the next. */
#define EPOLL_BATCH 64
/* Connections accepted per poll(); the rest wait in the backlog. */
#define ACCEPT_BATCH 64
/* send() gathers this many pieces (length prefix included) in one
 * sendmsg(); a message in more pieces is copied into the send buffer. */
#define SEND_IOV_MAX 64u
/* Longest log line. */
#define LOG_LINE_MAX 256
/* Marks a struct mesh_transport made here, for mesh_tcp_bound_port(). */
#define TCP_MAGIC 0x7463706du

enum conn_state {
	CONN_CONNECTING, /* handshake in progress; sends wait in tx */
	CONN_UP,
	CONN_DOWN, /* socket closed; CONN_DOWN pending or delivered */
};

struct mesh_conn {
	struct mesh_transport *ep;
	struct mesh_conn *prev; /* in ep->conns */
	struct mesh_conn *next;
	struct mesh_ready_link ready; /* in ep->ready while it has work */
	struct mesh_conn *zombie_next;
	int fd; /* -1 once closed */
	enum conn_state state;
	bool up_pending;   /* CONN_UP not yet delivered */
	bool down_pending; /* CONN_DOWN not yet delivered */
	bool readable;     /* the socket may hold bytes */
	bool want_out;     /* EPOLLOUT is in the epoll interest */
	int down_status;
	void *ctx;
	struct sockaddr_in peer;

	/* [rx_head, rx_tail) waits to be parsed; [0, rx_head) was delivered. */
	uint8_t *rx;
	size_t rx_head;
	size_t rx_tail;
	uint64_t rx_epoch; /* the poll that last delivered from rx */

	/* A ring: tx_used bytes from tx_head wait for the socket. */
	uint8_t *tx;
	size_t tx_head;
	size_t tx_used;
};

struct mesh_transport {
	uint32_t magic;
	int epfd;
	struct mesh_kick kick; /* readable while the ready list is not empty */
	int listenfd;
	uint16_t port;
	size_t msg_bytes_max;
	size_t rx_bytes;
	size_t tx_bytes;
	unsigned conn_max;
	unsigned conn_count;
	uint64_t epoch; /* counts poll() calls */
	struct mesh_conn *conns;
	struct mesh_ready_list ready; /* conns with events to deliver */
	struct mesh_conn *zombies; /* disconnected; freed by the next poll */
	struct mesh_tcp_options opt;
};

/* ---- logging: quiet unless the owner asked ---- */

/* A line to the owner's log; with @fallback, to stderr when it set none. */
#define opt_log(o, fallback, ...) \
	mesh_tp_log((o)->log, (o)->log_ctx, (fallback) ? mesh_tcp_log_stderr : NULL, \
		    LOG_LINE_MAX, __VA_ARGS__)

#define tcp_log(t, ...) opt_log(&(t)->opt, false, __VA_ARGS__)

void mesh_tcp_log_stderr(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "mesh tcp: %s\n", line);
}

/* ---- ready list and the wake-up eventfd ---- */

/* Make the eventfd readable exactly while work waits: syscalls only on change. */
static void kick_sync(struct mesh_transport *t)
{
	mesh_kick_set(&t->kick, t->ready.count > 0);
}

/* ---- connections ---- */

static void conn_free(struct mesh_conn *c)
{
	free(c->rx);
	free(c->tx);
	free(c);
}

static void fd_close(struct mesh_transport *t, struct mesh_conn *c)
{
	if (c->fd < 0)
		return;
	epoll_ctl(t->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
}

/*
 * The socket is gone: close it, drop unsent bytes, and queue CONN_DOWN with
 * @status behind the whole frames already received.
 */
static void conn_fail(struct mesh_conn *c, int status)
{
	struct mesh_transport *t = c->ep;

	assert(c->state != CONN_DOWN);
	fd_close(t, c);
	c->state = CONN_DOWN;
	c->down_pending = true;
	c->down_status = status;
	c->readable = false;
	c->tx_used = 0;
	c->tx_head = 0;
	mesh_ready_add(&t->ready, &c->ready);
}

/* What opt asks of every socket: TCP_NODELAY and the kernel buffer sizes (sock.h). */
static struct mesh_sock_tuning sock_tuning(const struct mesh_transport *t)
{
	return (struct mesh_sock_tuning){ .buf_bytes = (int)t->opt.sock_bytes };
}

/* Wrap @fd in a connection with its buffers; on failure @fd is the caller's. */
static int conn_new(struct mesh_transport *t, int fd, enum conn_state state,
		    const struct sockaddr_in *peer, struct mesh_conn **out)
{
	struct mesh_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->rx = malloc(t->rx_bytes);
	c->tx = malloc(t->tx_bytes);
	if (!c->rx || !c->tx) {
		conn_free(c);
		return -ENOMEM;
	}
	c->ep = t;
	c->fd = fd;
	c->state = state;
	c->peer = *peer;
	c->want_out = state == CONN_CONNECTING;

	struct epoll_event ee = {
		.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0u),
		.data.ptr = c,
	};
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ee) < 0) {
		int rc = -errno;
		conn_free(c);
		return rc;
	}
	c->next = t->conns;
	if (t->conns)
		t->conns->prev = c;
	t->conns = c;
	t->conn_count++;
	*out = c;
	return 0;
}

static void conn_unlink(struct mesh_transport *t, struct mesh_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	t->conn_count--;
}

/* Ask epoll for EPOLLOUT exactly while there is something to wait for. */
static void interest_sync(struct mesh_conn *c)
{
	bool want = c->state == CONN_CONNECTING || (c->state == CONN_UP && c->tx_used > 0);

	if (c->state == CONN_DOWN || want == c->want_out)
		return;
	struct epoll_event ee = { .events = EPOLLIN | (want ? EPOLLOUT : 0u), .data.ptr = c };
	if (epoll_ctl(c->ep->epfd, EPOLL_CTL_MOD, c->fd, &ee) < 0) {
		/* Without the interest the buffer would never drain. */
		char who[MESH_ADDR_STR_MAX];
		int rc = -errno;
		tcp_log(c->ep, "epoll_ctl for %s failed (%s); dropping the connection",
			mesh_addr_str(&c->peer, who, sizeof(who)), strerror(-rc));
		conn_fail(c, rc);
		return;
	}
	c->want_out = want;
}

/* ---- send buffer ---- */

static void tx_put(struct mesh_conn *c, const uint8_t *src, size_t len)
{
	size_t cap = c->ep->tx_bytes;

	assert(len <= cap - c->tx_used);
	size_t tail = (c->tx_head + c->tx_used) % cap;
	size_t first = len < cap - tail ? len : cap - tail;
	memcpy(c->tx + tail, src, first);
	memcpy(c->tx, src + first, len - first);
	c->tx_used += len;
}

/* Copy a frame (@hdr then @iov) into the send buffer, minus its first @skip bytes. */
static void tx_put_frame(struct mesh_conn *c, const uint8_t *hdr, const struct mesh_iov *iov,
			 unsigned iovcnt, size_t skip)
{
	if (skip < FRAME_HDR_BYTES) {
		tx_put(c, hdr + skip, FRAME_HDR_BYTES - skip);
		skip = 0;
	} else {
		skip -= FRAME_HDR_BYTES;
	}
	for (unsigned i = 0; i < iovcnt; i++) {
		if (skip >= iov[i].len) {
			skip -= iov[i].len;
			continue;
		}
		tx_put(c, (const uint8_t *)iov[i].base + skip, iov[i].len - skip);
		skip = 0;
	}
}

/* Hand the send buffer to the kernel until it is empty or the socket is full. */
static void tx_flush(struct mesh_conn *c)
{
	size_t cap = c->ep->tx_bytes;

	assert(c->state == CONN_UP);
	while (c->tx_used) {
		size_t first = c->tx_used < cap - c->tx_head ? c->tx_used : cap - c->tx_head;
		struct iovec v[2] = {
			{ .iov_base = c->tx + c->tx_head, .iov_len = first },
			{ .iov_base = c->tx, .iov_len = c->tx_used - first },
		};
		struct msghdr m = { .msg_iov = v, .msg_iovlen = v[1].iov_len ? 2 : 1 };
		ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_fail(c, -errno);
			return;
		}
		c->tx_head = (c->tx_head + (size_t)w) % cap;
		c->tx_used -= (size_t)w;
	}
	if (!c->tx_used)
		c->tx_head = 0;
	interest_sync(c);
}

/* ---- receive buffer ---- */

static uint32_t le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void le32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Move the unparsed bytes to the front, unless this poll delivered from rx. */
static void rx_compact(const struct mesh_transport *t, struct mesh_conn *c)
{
	if (c->rx_head == 0 || c->rx_epoch == t->epoch)
		return;
	size_t have = c->rx_tail - c->rx_head;
	memmove(c->rx, c->rx + c->rx_head, have);
	c->rx_head = 0;
	c->rx_tail = have;
}

/*
 * One read() into the free end of rx: as many frames as fit. Returns false
 * when rx has no room now (only while bytes delivered by this poll pin its
 * front); true when it read, learned the socket is drained, or failed it.
 */
static bool rx_read(struct mesh_transport *t, struct mesh_conn *c)
{
	size_t room = t->rx_bytes - c->rx_tail;

	if (room == 0) {
		/* rx holds msg_bytes_max + 4, so a frame from offset 0 always fits. */
		assert(c->rx_head > 0 && c->rx_epoch == t->epoch);
		return false;
	}
	ssize_t r = read(c->fd, c->rx + c->rx_tail, room);
	if (r > 0) {
		c->rx_tail += (size_t)r;
		/* Short: the socket is drained; epoll reports what comes later. */
		if ((size_t)r < room)
			c->readable = false;
	} else if (r == 0) {
		conn_fail(c, 0);
	} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
		c->readable = false;
	} else if (errno != EINTR) {
		conn_fail(c, -errno);
	}
	return true;
}

/* A frame of length 0 or above msg_bytes_max: the stream cannot be trusted. */
static void frame_bad(struct mesh_transport *t, struct mesh_conn *c, uint32_t len)
{
	char who[MESH_ADDR_STR_MAX];

	tcp_log(t, "frame of %u bytes from %s (limit 1..%zu); dropping the connection", len,
		mesh_addr_str(&c->peer, who, sizeof(who)), t->msg_bytes_max);
	c->rx_tail = c->rx_head;
	conn_fail(c, -EPROTO);
}

/*
 * Deliver @c's events into @ev[*@n, @max): CONN_UP, then whole frames (reading
 * more as they are used up), then CONN_DOWN. Returns true when @c may have
 * more to deliver.
 */
static bool serve(struct mesh_transport *t, struct mesh_conn *c, struct mesh_tp_event *ev,
		  unsigned *n, unsigned max)
{
	if (c->up_pending) {
		if (*n == max)
			return true;
		ev[(*n)++] = (struct mesh_tp_event){ .type = MESH_TP_CONN_UP, .conn = c };
		c->up_pending = false;
	}
	rx_compact(t, c);
	while (*n < max) {
		size_t have = c->rx_tail - c->rx_head;

		if (have >= FRAME_HDR_BYTES) {
			uint32_t len = le32_get(c->rx + c->rx_head);

			if (len == 0 || len > t->msg_bytes_max) {
				frame_bad(t, c, len);
				continue;
			}
			if (have - FRAME_HDR_BYTES >= len) {
				ev[(*n)++] = (struct mesh_tp_event){
					.type = MESH_TP_RECV,
					.conn = c,
					.data = c->rx + c->rx_head + FRAME_HDR_BYTES,
					.len = len,
				};
				c->rx_head += FRAME_HDR_BYTES + len;
				c->rx_epoch = t->epoch;
				continue;
			}
		}
		if (c->state == CONN_DOWN) {
			if (!c->down_pending)
				return false;
			int status = c->down_status;
			if (status == 0 && have) {
				char who[MESH_ADDR_STR_MAX];
				status = -ECONNRESET;
				tcp_log(t, "%s closed inside a message (%zu bytes of it came)",
					mesh_addr_str(&c->peer, who, sizeof(who)), have);
			}
			ev[(*n)++] = (struct mesh_tp_event){
				.type = MESH_TP_CONN_DOWN,
				.conn = c,
				.status = status,
			};
			c->down_pending = false;
			c->rx_head = c->rx_tail = 0;
			return false;
		}
		if (!c->readable)
			return false;
		if (!rx_read(t, c))
			return true;
	}
	return true;
}

/* ---- readiness ---- */

static void accept_some(struct mesh_transport *t)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		char who[MESH_ADDR_STR_MAX];
		int fd = accept4(t->listenfd, (struct sockaddr *)&sa, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				tcp_log(t, "accept on port %u failed: %s", (unsigned)t->port,
					strerror(errno));
			return;
		}
		if (t->conn_count >= t->conn_max) {
			tcp_log(t, "refusing %s: %u connections is the limit",
				mesh_addr_str(&sa, who, sizeof(who)), t->conn_max);
			close(fd);
			continue;
		}
		struct mesh_sock_tuning tu = sock_tuning(t);
		mesh_sock_tune(fd, &tu);
		struct mesh_conn *c;
		int rc = conn_new(t, fd, CONN_UP, &sa, &c);
		if (rc) {
			tcp_log(t, "refusing %s: %s", mesh_addr_str(&sa, who, sizeof(who)),
				strerror(-rc));
			close(fd);
			continue;
		}
		c->up_pending = true;
		c->readable = true;
		mesh_ready_add(&t->ready, &c->ready);
	}
}

/* The handshake ended one way or the other: SO_ERROR says which. */
static void connect_finish(struct mesh_conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		char who[MESH_ADDR_STR_MAX];
		tcp_log(c->ep, "connect to %s failed: %s",
			mesh_addr_str(&c->peer, who, sizeof(who)), strerror(err));
		conn_fail(c, -err);
		return;
	}
	c->state = CONN_UP;
	c->up_pending = true;
	c->readable = true;
	mesh_ready_add(&c->ep->ready, &c->ready);
	/* Sends made while connecting go out now; this also drops EPOLLOUT. */
	tx_flush(c);
}

static void conn_ready(struct mesh_conn *c, uint32_t events)
{
	if (c->state == CONN_CONNECTING) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		connect_finish(c);
		return; /* readable already, if it came up */
	}
	if (c->state != CONN_UP)
		return;
	if ((events & (EPOLLOUT | EPOLLERR)) && c->tx_used)
		tx_flush(c);
	if (c->state == CONN_UP && (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))) {
		c->readable = true;
		mesh_ready_add(&c->ep->ready, &c->ready);
	}
}

/* Take what epoll has; returns 0 or a negative errno if epoll itself failed. */
static int harvest(struct mesh_transport *t)
{
	struct epoll_event evs[EPOLL_BATCH];
	int n = epoll_wait(t->epfd, evs, EPOLL_BATCH, 0);

	if (n < 0) {
		if (errno == EINTR)
			return 0;
		int rc = -errno;
		tcp_log(t, "epoll_wait failed: %s", strerror(errno));
		return rc;
	}
	for (int i = 0; i < n; i++) {
		void *p = evs[i].data.ptr;

		if (p == &t->kick.fd)
			continue;
		if (p == &t->listenfd)
			accept_some(t);
		else
			conn_ready(p, evs[i].events);
	}
	return 0;
}

/* ---- ops ---- */

static void ep_free(struct mesh_transport *t)
{
	if (t->kick.fd >= 0)
		close(t->kick.fd);
	if (t->epfd >= 0)
		close(t->epfd);
	free(t);
}

/* 0 means @dflt but at least one frame; otherwise at least one frame and at most the limit. */
static int buf_size(size_t asked, size_t dflt, size_t msg_max, size_t *out)
{
	size_t frame = msg_max + FRAME_HDR_BYTES;

	if (!asked) {
		*out = dflt > frame ? dflt : frame;
		return 0;
	}
	if (asked < frame || asked > MESH_TCP_BUF_BYTES_MAX)
		return -EINVAL;
	*out = asked;
	return 0;
}

static int tcp_create(const struct mesh_transport_params *params, struct mesh_transport **out)
{
	assert(out);
	const struct mesh_tcp_options *o = params ? params->fabric : NULL;
	struct mesh_tcp_options opt = o ? *o : (struct mesh_tcp_options){ 0 };

	if (!params) {
		opt_log(&opt, true, "create: params are required");
		return -EINVAL;
	}
	size_t msg_max = params->msg_bytes_max ? params->msg_bytes_max : MESH_PROTO_MSG_MAX;
	if (msg_max > MESH_TCP_MSG_BYTES_MAX) {
		opt_log(&opt, true, "create: msg_bytes_max %zu above the limit %u", msg_max,
			MESH_TCP_MSG_BYTES_MAX);
		return -EINVAL;
	}
	size_t rx, tx;
	if (buf_size(params->rx_bytes, MESH_TCP_RX_BYTES_DEFAULT, msg_max, &rx)) {
		opt_log(&opt, true, "create: rx_bytes %zu outside [%zu, %u]", params->rx_bytes,
			msg_max + FRAME_HDR_BYTES, MESH_TCP_BUF_BYTES_MAX);
		return -EINVAL;
	}
	if (buf_size(opt.tx_bytes, MESH_TCP_TX_BYTES_DEFAULT, msg_max, &tx)) {
		opt_log(&opt, true, "create: tx_bytes %zu outside [%zu, %u]", opt.tx_bytes,
			msg_max + FRAME_HDR_BYTES, MESH_TCP_BUF_BYTES_MAX);
		return -EINVAL;
	}
	if (opt.sock_bytes > MESH_TCP_BUF_BYTES_MAX) {
		opt_log(&opt, true, "create: sock_bytes %zu above the limit %u", opt.sock_bytes,
			MESH_TCP_BUF_BYTES_MAX);
		return -EINVAL;
	}
	if (opt.conn_max > MESH_TCP_CONN_MAX) {
		opt_log(&opt, true, "create: conn_max %u above the limit %u", opt.conn_max,
			MESH_TCP_CONN_MAX);
		return -EINVAL;
	}

	int rc = -ENOMEM;
	struct mesh_transport *t = calloc(1, sizeof(*t));
	if (!t)
		goto fail;
	t->magic = TCP_MAGIC;
	t->kick.fd = -1;
	t->listenfd = -1;
	t->opt = opt;
	t->msg_bytes_max = msg_max;
	t->rx_bytes = rx;
	t->tx_bytes = tx;
	t->conn_max = opt.conn_max ? opt.conn_max : MESH_TCP_CONN_MAX;

	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (t->epfd < 0)
		goto fail_errno;
	t->kick.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t->kick.fd < 0)
		goto fail_errno;
	struct epoll_event ee = { .events = EPOLLIN, .data.ptr = &t->kick.fd };
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->kick.fd, &ee) < 0)
		goto fail_errno;
	*out = t;
	return 0;

fail_errno:
	rc = -errno;
	ep_free(t);
fail:
	opt_log(&opt, true, "create: %s", strerror(-rc));
	return rc;
}

static void tcp_destroy(struct mesh_transport *t)
{
	if (!t)
		return;
	while (t->conns) {
		struct mesh_conn *c = t->conns;
		fd_close(t, c);
		conn_unlink(t, c);
		conn_free(c);
	}
	while (t->zombies) {
		struct mesh_conn *c = t->zombies;
		t->zombies = c->zombie_next;
		conn_free(c);
	}
	if (t->listenfd >= 0)
		close(t->listenfd);
	ep_free(t);
}

static int tcp_listen(struct mesh_transport *t, const char *addr)
{
	assert(t);
	struct sockaddr_in sa;
	int rc = mesh_addr_parse(addr, &sa);
	if (rc)
		return rc;
	/* One listener per endpoint. */
	if (t->listenfd >= 0)
		return -EINVAL;

	struct mesh_sock_tuning tu = sock_tuning(t);
	int fd = mesh_sock_listen(t->epfd, &t->listenfd, &sa, MESH_TCP_BACKLOG, &tu);
	if (fd < 0) {
		tcp_log(t, "listen at %s failed: %s", addr, strerror(-fd));
		return fd;
	}
	t->listenfd = fd;
	t->port = ntohs(sa.sin_port);
	return 0;
}

/*
 * Usable for send at once: until the handshake completes, messages wait in
 * the connection's send buffer (and count against it), and go out in order
 * once it does. CONN_UP comes from poll() then; a handshake that fails
 * (nobody listens: -ECONNREFUSED) gives CONN_DOWN instead, with the error
 * as its status, and drops what waited. Returns -EINVAL for a bad address
 * or port 0, -EMFILE at the connection limit, or the error of a connect()
 * that failed at once.
 */
static int tcp_connect(struct mesh_transport *t, const char *addr, struct mesh_conn **out)
{
	assert(t && out);
	struct sockaddr_in sa;
	int rc = mesh_addr_parse_peer(addr, &sa);
	if (rc)
		return rc;
	if (t->conn_count >= t->conn_max)
		return -EMFILE;

	struct mesh_sock_tuning tu = sock_tuning(t);
	/* Even an immediate success is finished through EPOLLOUT, like the rest. */
	int fd = mesh_sock_connect(&sa, &tu);
	if (fd < 0) {
		rc = fd;
		goto fail;
	}
	rc = conn_new(t, fd, CONN_CONNECTING, &sa, out);
	if (rc)
		goto close_fd;
	return 0;

close_fd:
	close(fd);
fail:
	tcp_log(t, "connect to %s failed: %s", addr, strerror(-rc));
	return rc;
}

static void tcp_disconnect(struct mesh_conn *c)
{
	if (!c)
		return;
	struct mesh_transport *t = c->ep;

	fd_close(t, c);
	mesh_ready_remove(&t->ready, &c->ready);
	conn_unlink(t, c);
	/* RECV events of this poll may still point into c->rx. */
	if (c->rx_epoch == t->epoch) {
		c->zombie_next = t->zombies;
		t->zombies = c;
	} else {
		conn_free(c);
	}
	kick_sync(t);
}

static void tcp_set_conn_ctx(struct mesh_conn *c, void *ctx)
{
	assert(c);
	c->ctx = ctx;
}

static void *tcp_conn_ctx(const struct mesh_conn *c)
{
	assert(c);
	return c->ctx;
}

/* ---- data path: no allocation, no logging ---- */

/*
 * Empty messages are -EINVAL: a zero length frame is a protocol error.
 * All or nothing: -EAGAIN leaves nothing behind, and after 0 the whole
 * message goes out, in order, unless the connection goes down.
 */
static int tcp_send(struct mesh_conn *c, const struct mesh_iov *iov, unsigned iovcnt)
{
	assert(c);
	if (c->state == CONN_DOWN)
		return -ENOTCONN;
	if (iovcnt && !iov)
		return -EINVAL;
	struct mesh_transport *t = c->ep;
	size_t len = 0;
	for (unsigned i = 0; i < iovcnt; i++) {
		if (iov[i].len && !iov[i].base)
			return -EINVAL;
		if (iov[i].len > t->msg_bytes_max - len)
			return -EMSGSIZE;
		len += iov[i].len;
	}
	if (len == 0)
		return -EINVAL;
	uint8_t hdr[FRAME_HDR_BYTES];
	le32_put(hdr, (uint32_t)len);
	size_t frame = FRAME_HDR_BYTES + len;

	/* Behind queued bytes (or a handshake) the message must queue too. */
	if (c->state == CONN_CONNECTING || c->tx_used || iovcnt >= SEND_IOV_MAX) {
		if (frame > t->tx_bytes - c->tx_used)
			return -EAGAIN;
		bool was_empty = c->tx_used == 0;
		tx_put_frame(c, hdr, iov, iovcnt, 0);
		if (c->state == CONN_UP && was_empty)
			tx_flush(c);
		kick_sync(t);
		return 0;
	}

	struct iovec v[SEND_IOV_MAX];
	unsigned k = 0;
	v[k++] = (struct iovec){ .iov_base = hdr, .iov_len = FRAME_HDR_BYTES };
	for (unsigned i = 0; i < iovcnt; i++)
		if (iov[i].len)
			v[k++] = (struct iovec){ .iov_base = (void *)iov[i].base,
						 .iov_len = iov[i].len };
	struct msghdr m = { .msg_iov = v, .msg_iovlen = k };
	ssize_t w;
	do
		w = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (w < 0 && errno == EINTR);
	if (w < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			conn_fail(c, -errno);
			kick_sync(t);
			return -ENOTCONN;
		}
		w = 0;
	}
	/* The send buffer is empty and holds a whole frame: the rest fits. */
	if ((size_t)w < frame) {
		tx_put_frame(c, hdr, iov, iovcnt, (size_t)w);
		interest_sync(c);
		kick_sync(t);
	}
	return 0;
}

static int tcp_poll(struct mesh_transport *t, struct mesh_tp_event *ev, unsigned max)
{
	assert(t && (ev || !max));
	/* RECV data handed out by the previous poll dies here. */
	t->epoch++;
	while (t->zombies) {
		struct mesh_conn *c = t->zombies;
		t->zombies = c->zombie_next;
		conn_free(c);
	}
	if (max > INT_MAX)
		max = INT_MAX;

	int rc = harvest(t);
	unsigned n = 0;
	/* Round robin: each ready conn is served once, then goes to the back. */
	for (unsigned k = t->ready.count; k > 0 && n < max; k--) {
		struct mesh_conn *c = MESH_READY_ENTRY(t->ready.head, struct mesh_conn, ready);
		/* Served while still listed, so a failure inside cannot list it twice. */
		bool more = serve(t, c, ev, &n, max);
		mesh_ready_remove(&t->ready, &c->ready);
		if (more)
			mesh_ready_push(&t->ready, &c->ready);
	}
	kick_sync(t);
	return n == 0 && rc < 0 ? rc : (int)n;
}

static int tcp_wait_fd(struct mesh_transport *t)
{
	assert(t);
	return t->epfd;
}

int mesh_tcp_bound_port(const struct mesh_transport *t)
{
	assert(t && t->magic == TCP_MAGIC);
	return t->listenfd >= 0 ? (int)t->port : -EINVAL;
}

const struct mesh_transport_ops mesh_transport_tcp = {
	.name = "tcp",
	.create = tcp_create,
	.destroy = tcp_destroy,
	.listen = tcp_listen,
	.connect = tcp_connect,
	.disconnect = tcp_disconnect,
	.set_conn_ctx = tcp_set_conn_ctx,
	.conn_ctx = tcp_conn_ctx,
	.send = tcp_send,
	.poll = tcp_poll,
	.wait_fd = tcp_wait_fd,
	/* No one-sided access over TCP: the RMA slots stay NULL. */
};

/*
 * runtime/host.c: a real node (see host.h): the environment's ops on the
 * event loop, the chosen transport, io_uring drives and the metadata store.
 */
#define _GNU_SOURCE
#include "runtime/host.h"

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>

#include "core/proto.h"
#include "core/rng.h"
#include "runtime/evloop.h"
#include "runtime/metastore.h"
#include "runtime/uring_drive.h"
#include "runtime/transport_choice.h"

#define EVENTS_PER_POLL 64
#define HELLO_BYTES 8u
#define DRIVE_QUEUE_DEPTH 128u
/* A polled transport: spin this long after the last event, then nap
 * this long between looks. */
#define POLL_SPIN_NS 2000000ull
#define POLL_NAP_NS 1000000ull

struct peer {
	uint32_t id;
	char addr[MESH_HOST_ADDR_MAX + 1];   /* "" when only known by a hello */
	struct mesh_conn *conn;             /* the one this node sends on */
	/* @conn is ours and waits for its CONN_UP to send the hello: until
	 * then sends to this peer are -EAGAIN (transports that take
	 * messages only once up, see transport_choice.h). */
	bool hello_pending;
};

struct mesh_host {
	struct mesh_host_config cfg;
	struct mesh_node node;
	struct mesh_evloop *loop;
	struct mesh_transport_choice tp_choice;
	const struct mesh_transport_ops *tp_ops;
	struct mesh_transport *tp;
	int tp_fd;                  /* -1: the transport has none, so it is polled */
	uint64_t polled_busy_ns;    /* polled: when something last happened */
	/* Regions exposed for one-sided reads. A polled transport carries
	 * those out in this process's progress (libfabric's shm), with no
	 * event to show for it: while any is out, the host does not nap. */
	uint32_t exposed;
	struct mesh_metastore *meta;
	/* Slots never move (connections point at them); @by_id orders them
	 * for the lookup every send makes. */
	struct peer peers[MESH_HOST_PEERS_MAX];
	uint32_t by_id[MESH_HOST_PEERS_MAX];
	uint32_t peer_count;
	struct mesh_uring_drive *drives[MESH_HOST_DRIVES_MAX];
	uint32_t drive_count;
	uint64_t rng;
	uint64_t started_ns;
	/* Connections dropped while a batch of events is being handled:
	 * later events of the batch for them are skipped. */
	struct mesh_conn *dropped[EVENTS_PER_POLL];
	unsigned dropped_count;
};

static void host_log(struct mesh_host *h, enum mesh_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- peers ---- */

/* Where @id is, or would go, in h->by_id. */
static uint32_t peer_rank(const struct mesh_host *h, uint32_t id)
{
	uint32_t lo = 0, hi = h->peer_count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (h->peers[h->by_id[mid]].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct peer *peer_find(struct mesh_host *h, uint32_t id)
{
	uint32_t at = peer_rank(h, id);

	return at < h->peer_count && h->peers[h->by_id[at]].id == id ? &h->peers[h->by_id[at]]
								   : NULL;
}

static struct peer *peer_new(struct mesh_host *h, uint32_t id)
{
	uint32_t at = peer_rank(h, id), slot = h->peer_count;

	if (h->peer_count == MESH_HOST_PEERS_MAX)
		return NULL;
	memmove(&h->by_id[at + 1], &h->by_id[at], (h->peer_count - at) * sizeof(*h->by_id));
	h->by_id[at] = slot;
	h->peer_count++;
	h->peers[slot] = (struct peer){ .id = id };
	return &h->peers[slot];
}

int mesh_host_peer_add(struct mesh_host *h, uint32_t id, const char *addr)
{
	struct peer *p = peer_find(h, id);

	if (!addr || !*addr || strlen(addr) > MESH_HOST_ADDR_MAX)
		return -EINVAL;
	if (p && p->addr[0])
		return -EEXIST;
	if (!p && !(p = peer_new(h, id)))
		return -ENOSPC;
	strcpy(p->addr, addr);
	return 0;
}

static void conn_drop(struct mesh_host *h, struct mesh_conn *c)
{
	struct peer *p = h->tp_ops->conn_ctx(c);

	if (p && p->conn == c) {
		p->conn = NULL;
		p->hello_pending = false;
	}
	if (h->dropped_count < EVENTS_PER_POLL)
		h->dropped[h->dropped_count++] = c;
	h->tp_ops->disconnect(c);
}

static bool dropped_now(const struct mesh_host *h, const struct mesh_conn *c)
{
	for (unsigned i = 0; i < h->dropped_count; i++) {
		if (h->dropped[i] == c)
			return true;
	}
	return false;
}

static int send_hello(struct mesh_host *h, struct mesh_conn *c)
{
	uint8_t hello[HELLO_BYTES];
	struct mesh_iov iov = { hello, sizeof(hello) };

	for (int i = 0; i < 4; i++) {
		hello[i] = (uint8_t)(MESH_HOST_HELLO_MAGIC >> (8 * i));
		hello[4 + i] = (uint8_t)(h->cfg.self >> (8 * i));
	}
	return h->tp_ops->send(c, &iov, 1);
}

/* A connection to @p, made (with its hello queued) if there is none. */
static int peer_conn(struct mesh_host *h, struct peer *p)
{
	struct mesh_conn *c;
	int rc;

	if (p->conn)
		return 0;
	if (!p->addr[0])
		return -EHOSTUNREACH; /* it connected to us, and is gone */
	rc = h->tp_ops->connect(h->tp, p->addr, &c);
	if (rc)
		return rc == -EMFILE ? -EAGAIN : -EHOSTUNREACH;
	h->tp_ops->set_conn_ctx(c, p);
	if (mesh_transport_choice_sends_after_up(&h->tp_choice)) {
		p->conn = c;
		p->hello_pending = true;
		return 0;
	}
	if ((rc = send_hello(h, c))) {
		h->tp_ops->disconnect(c);
		return rc == -EAGAIN ? -EAGAIN : -EHOSTUNREACH;
	}
	p->conn = c;
	return 0;
}

/* A hello on @c: the peer is @id from now on. */
static void on_hello(struct mesh_host *h, struct mesh_conn *c, const uint8_t *b)
{
	uint32_t magic = 0, id = 0;
	struct peer *p;

	for (int i = 3; i >= 0; i--) {
		magic = magic << 8 | b[i];
		id = id << 8 | b[4 + i];
	}
	if (magic != MESH_HOST_HELLO_MAGIC) {
		host_log(h, MESH_LOG_WARN, "a connection sent a bad hello; dropped");
		conn_drop(h, c);
		return;
	}
	if (h->tp_ops->conn_ctx(c))
		return; /* ours, or a repeat */
	p = peer_find(h, id);
	if (!p && !(p = peer_new(h, id))) {
		host_log(h, MESH_LOG_WARN, "node %u connected, but %u peers are known already; dropped",
			 id, MESH_HOST_PEERS_MAX);
		conn_drop(h, c);
		return;
	}
	h->tp_ops->set_conn_ctx(c, p);
	if (!p->conn)
		p->conn = c;
	host_log(h, MESH_LOG_INFO, "node %u connected", id);
}

static void on_transport_event(struct mesh_host *h, const struct mesh_tp_event *e)
{
	struct peer *p;

	if (dropped_now(h, e->conn))
		return;
	p = h->tp_ops->conn_ctx(e->conn);
	switch (e->type) {
	case MESH_TP_RECV:
		if (e->len == HELLO_BYTES) {
			on_hello(h, e->conn, e->data);
		} else if (!p) {
			host_log(h, MESH_LOG_WARN, "a connection sent %zu bytes before its hello; dropped",
				 e->len);
			conn_drop(h, e->conn);
		} else {
			mesh_node_on_message(&h->node, p->id, e->data, e->len);
		}
		break;
	case MESH_TP_CONN_UP:
		if (p && p->conn == e->conn && p->hello_pending) {
			p->hello_pending = false;
			if (send_hello(h, e->conn)) {
				host_log(h, MESH_LOG_WARN, "hello to node %u not sent; dropped", p->id);
				conn_drop(h, e->conn);
			}
		}
		break;
	case MESH_TP_RMA_DONE:
		mesh_node_on_rma_done(&h->node, e->cookie, e->status);
		break;
	case MESH_TP_CONN_DOWN:
		if (p)
			host_log(h, MESH_LOG_INFO, "connection to node %u down (%d)", p->id, e->status);
		conn_drop(h, e->conn);
		break;
	default:
		break;
	}
}

/* Handle what the transport has; returns how many events. */
static unsigned transport_drain(struct mesh_host *h)
{
	struct mesh_tp_event ev[EVENTS_PER_POLL];
	unsigned total = 0;
	int n;

	do {
		n = h->tp_ops->poll(h->tp, ev, EVENTS_PER_POLL);
		h->dropped_count = 0;
		for (int i = 0; i < n; i++)
			on_transport_event(h, &ev[i]);
		total += n > 0 ? (unsigned)n : 0;
	} while (n == EVENTS_PER_POLL);
	if (n < 0)
		host_log(h, MESH_LOG_ERROR, "%s transport failed: %d", h->tp_choice.name, n);
	return total;
}

static void on_transport(void *arg, uint32_t events)
{
	(void)events;
	transport_drain(arg);
}

/* ---- the environment ---- */

static uint64_t env_now_ns(void *ctx)
{
	(void)ctx;
	return mesh_evloop_now_ns();
}

static int env_timer_arm(void *ctx, uint32_t id, uint64_t deadline_ns)
{
	return mesh_evloop_timer_arm(((struct mesh_host *)ctx)->loop, id, deadline_ns);
}

static void env_timer_cancel(void *ctx, uint32_t id)
{
	mesh_evloop_timer_cancel(((struct mesh_host *)ctx)->loop, id);
}

static int env_send(void *ctx, uint32_t dst, const struct mesh_iov *iov, unsigned iovcnt)
{
	struct mesh_host *h = ctx;
	struct peer *p = peer_find(h, dst);
	int rc;

	if (!p)
		return -EHOSTUNREACH;
	for (int attempt = 0; attempt < 2; attempt++) {
		if ((rc = peer_conn(h, p)))
			return rc;
		if (p->hello_pending)
			return -EAGAIN; /* connecting: the caller retries */
		rc = h->tp_ops->send(p->conn, iov, iovcnt);
		if (rc != -ENOTCONN)
			return rc;
		/* Went down since we last looked: connect again, once. */
		conn_drop(h, p->conn);
	}
	return -EHOSTUNREACH;
}

static int env_rma_read(void *ctx, uint32_t dst, uint64_t rkey, uint64_t remote_offset,
			void *buf, uint32_t len, uint64_t cookie)
{
	struct mesh_host *h = ctx;
	struct peer *p = peer_find(h, dst);
	int rc;

	if (!p)
		return -EHOSTUNREACH;
	if ((rc = peer_conn(h, p)))
		return rc;
	if (p->hello_pending)
		return -EAGAIN;
	return mesh_tp_rma_read(h->tp_ops, p->conn, rkey, remote_offset, buf, len, cookie);
}

/* Only the bytes of a mapped drive can be exposed (uring_drive.h), and
 * only for reading: one-sided writes would skip the chain. */
static int env_rma_expose(void *ctx, uint32_t drive, uint64_t offset, uint64_t len,
			  unsigned access, uint64_t *rkey)
{
	struct mesh_host *h = ctx;
	const uint8_t *base;
	int rc;

	if (drive >= h->drive_count)
		return -ENODEV;
	if (access != MESH_RMA_READ)
		return -EPERM;
	if (offset > mesh_uring_drive_bytes(h->drives[drive]) ||
	    len > mesh_uring_drive_bytes(h->drives[drive]) - offset)
		return -ERANGE;
	if (!h->tp_ops->mr_expose)
		return -ENOTSUP;
	rc = mesh_uring_drive_map(h->drives[drive], &base);
	if (rc) {
		host_log(h, MESH_LOG_INFO, "drive %u cannot be read one-sided: %s", drive,
			 rc == -ENOTSUP ? "O_DIRECT bypasses the pages a map would show"
					: strerror(-rc));
		return rc;
	}
	/* The transport only reads through a read key; it takes a plain
	 * pointer. */
	rc = h->tp_ops->mr_expose(h->tp, (void *)(uintptr_t)(base + offset), len, access, rkey);
	h->exposed += rc == 0;
	return rc;
}

static int env_rma_revoke(void *ctx, uint64_t rkey)
{
	struct mesh_host *h = ctx;
	int rc = mesh_tp_mr_revoke(h->tp_ops, h->tp, rkey);

	h->exposed -= rc == 0 && h->exposed > 0;
	return rc;
}

static int env_drive_submit(void *ctx, const struct mesh_drive_io *io)
{
	struct mesh_host *h = ctx;

	if (io->drive >= h->drive_count)
		return -ENODEV;
	return mesh_uring_drive_submit(h->drives[io->drive], io);
}

static int env_meta_put(void *ctx, uint64_t key, const void *buf, uint32_t len)
{
	struct mesh_host *h = ctx;

	return h->meta ? mesh_metastore_put(h->meta, key, buf, len) : -EOPNOTSUPP;
}

static int env_meta_get(void *ctx, uint64_t key, void *buf, uint32_t cap)
{
	struct mesh_host *h = ctx;

	return h->meta ? mesh_metastore_get(h->meta, key, buf, cap) : -EOPNOTSUPP;
}

static uint64_t env_random_u64(void *ctx)
{
	return mesh_rng_next(&((struct mesh_host *)ctx)->rng);
}

static void env_vlog(void *ctx, enum mesh_log_level level, const char *fmt, va_list ap)
{
	struct mesh_host *h = ctx;

	if (level > h->cfg.log_level)
		return;
	fprintf(stderr, "[%10.6f node %u %s] ", (double)(mesh_evloop_now_ns() - h->started_ns) / 1e9,
		h->cfg.self, mesh_log_level_name(level));
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void host_log(struct mesh_host *h, enum mesh_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	env_vlog(h, level, fmt, ap);
	va_end(ap);
}

static const struct mesh_env_ops host_env_ops = {
	.now_ns = env_now_ns,
	.timer_arm = env_timer_arm,
	.timer_cancel = env_timer_cancel,
	.send = env_send,
	.rma_read = env_rma_read,
	.rma_expose = env_rma_expose,
	.rma_revoke = env_rma_revoke,
	.drive_submit = env_drive_submit,
	.meta_put = env_meta_put,
	.meta_get = env_meta_get,
	.random_u64 = env_random_u64,
	.vlog = env_vlog,
};

/* ---- events into the node ---- */

static void on_timer(void *arg, uint32_t id)
{
	struct mesh_host *h = arg;

	mesh_node_on_timer(&h->node, id);
}

static void on_drive_done(void *arg, uint64_t cookie, int result)
{
	struct mesh_host *h = arg;

	mesh_node_on_drive_done(&h->node, cookie, result);
}

static void on_drive_ready(void *arg, uint32_t events)
{
	struct mesh_host *h = arg;

	(void)events;
	for (uint32_t i = 0; i < h->drive_count; i++)
		mesh_uring_drive_reap(h->drives[i], on_drive_done, h);
}

/* ---- life ---- */

static void transport_log(void *ctx, const char *line)
{
	struct mesh_host *h = ctx;

	host_log(h, MESH_LOG_WARN, "%s: %s", h->tp_choice.name, line);
}

int mesh_host_create(const struct mesh_host_config *cfg, struct mesh_host **out)
{
	struct mesh_host *h = calloc(1, sizeof(*h));
	int rc;

	if (!h)
		return -ENOMEM;
	h->cfg = *cfg;
	if (!h->cfg.msg_bytes_max)
		h->cfg.msg_bytes_max = MESH_PROTO_MSG_MAX;
	if (!h->cfg.drive_queue_depth)
		h->cfg.drive_queue_depth = DRIVE_QUEUE_DEPTH;
	h->started_ns = mesh_evloop_now_ns();
	h->tp_fd = -1;
	h->node.env = (struct mesh_env){ .ops = &host_env_ops, .ctx = h, .self = cfg->self };
	if (getrandom(&h->rng, sizeof(h->rng), 0) != sizeof(h->rng) || !h->rng)
		h->rng = h->started_ns | 1;

	struct mesh_transport_start start = {
		.msg_bytes_max = h->cfg.msg_bytes_max,
		.listen_addr = cfg->listen_addr,
		.peer_addr = cfg->route_hint,
		.log = transport_log,
		.log_ctx = h,
	};
	char err[160];
	const char *what = "event loop";

	rc = mesh_transport_choose(cfg->transport, &h->tp_choice, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "node %u: %s\n", cfg->self, err);
		free(h);
		return rc;
	}
	h->tp_ops = h->tp_choice.ops;
	h->cfg.transport = h->tp_choice.name;
	rc = mesh_evloop_create(on_timer, h, &h->loop);
	if (!rc && (what = h->tp_choice.name,
		    rc = mesh_transport_choice_create(&h->tp_choice, &start, &h->tp)) == 0) {
		h->tp_fd = mesh_tp_wait_fd(h->tp_ops, h->tp);
		if (h->tp_fd >= 0)
			rc = mesh_evloop_watch(h->loop, h->tp_fd, EPOLLIN, on_transport, h);
		else
			h->tp_fd = -1; /* polled by mesh_host_run_once */
	}
	if (!rc && cfg->listen_addr) {
		what = "listen";
		rc = h->tp_ops->listen(h->tp, cfg->listen_addr);
	}
	if (!rc && cfg->meta_dir) {
		what = "metadata store";
		rc = mesh_metastore_open(cfg->meta_dir, &h->meta);
	}
	if (rc) {
		fprintf(stderr, "node %u: %s failed: %s\n", cfg->self, what, strerror(-rc));
		mesh_host_destroy(h);
		return rc;
	}
	*out = h;
	return 0;
}

void mesh_host_destroy(struct mesh_host *h)
{
	if (!h)
		return;
	for (uint32_t i = 0; i < h->drive_count; i++) {
		mesh_evloop_unwatch(h->loop, mesh_uring_drive_eventfd(h->drives[i]));
		mesh_uring_drive_close(h->drives[i]);
	}
	if (h->tp) {
		if (h->loop && h->tp_fd >= 0)
			mesh_evloop_unwatch(h->loop, h->tp_fd);
		h->tp_ops->destroy(h->tp);
	}
	mesh_metastore_close(h->meta);
	mesh_evloop_destroy(h->loop);
	free(h);
}

struct mesh_node *mesh_host_node(struct mesh_host *h)
{
	return &h->node;
}

bool mesh_host_one_sided(const struct mesh_host *h)
{
	return h->tp_ops->rma_read && h->tp_ops->mr_expose;
}

const char *mesh_host_transport(const struct mesh_host *h)
{
	return h->tp_choice.name;
}

int mesh_host_port(const struct mesh_host *h)
{
	return mesh_transport_choice_port(&h->tp_choice, h->tp);
}

int mesh_host_drive_add(struct mesh_host *h, const char *path, uint64_t bytes, uint32_t *index)
{
	struct mesh_uring_drive *d;
	const char *why = "";
	int rc;

	if (h->drive_count == MESH_HOST_DRIVES_MAX)
		return -ENOSPC;
	rc = mesh_uring_drive_open(path, bytes, h->cfg.drive_queue_depth, &d, &why);
	if (rc) {
		host_log(h, MESH_LOG_ERROR, "drive %s: %s: %s", path, why, strerror(-rc));
		return rc;
	}
	rc = mesh_evloop_watch(h->loop, mesh_uring_drive_eventfd(d), EPOLLIN, on_drive_ready, h);
	if (rc) {
		mesh_uring_drive_close(d);
		return rc;
	}
	host_log(h, MESH_LOG_INFO, "drive %u: %s, %llu bytes, %s", h->drive_count, path,
		 (unsigned long long)mesh_uring_drive_bytes(d),
		 mesh_uring_drive_direct(d) ? "O_DIRECT" : "page cache (no O_DIRECT here)");
	*index = h->drive_count;
	h->drives[h->drive_count++] = d;
	return 0;
}

uint64_t mesh_host_drive_bytes(const struct mesh_host *h, uint32_t index)
{
	return index < h->drive_count ? mesh_uring_drive_bytes(h->drives[index]) : 0;
}

/* Drive I/O the last turn's callbacks queued goes to the kernel together,
 * before this turn may sleep. */
static void drives_flush(struct mesh_host *h)
{
	for (uint32_t i = 0; i < h->drive_count; i++) {
		int rc = mesh_uring_drive_flush(h->drives[i]);

		if (rc)
			host_log(h, MESH_LOG_WARN, "drive %u: submit failed (%d); retrying", i, rc);
	}
}

int mesh_host_run_once(struct mesh_host *h, uint64_t timeout_ns)
{
	uint64_t deadline;
	int n;

	drives_flush(h);
	if (h->tp_fd >= 0)
		return mesh_evloop_run_once(h->loop, timeout_ns);
	/* A transport without a wait fd (fabric over shm) is polled: this
	 * turn spins until something happens or the timeout passes. A node
	 * that was busy within POLL_SPIN_NS spins; an idle one naps between
	 * looks, so an idle daemon costs little CPU and a busy one answers
	 * at once. */
	deadline = mesh_evloop_now_ns() + timeout_ns;
	do {
		uint64_t now = mesh_evloop_now_ns();
		bool spin = h->exposed || now - h->polled_busy_ns < POLL_SPIN_NS;
		uint64_t nap = spin || now >= deadline ? 0
			       : deadline - now < POLL_NAP_NS ? deadline - now : POLL_NAP_NS;

		n = (int)transport_drain(h);
		if (!n && !nap)
			sched_yield(); /* others on this core (a peer, the client) may be the ones to move */
		int m = mesh_evloop_run_once(h->loop, n ? 0 : nap);

		if (m < 0)
			return m;
		n += m;
		drives_flush(h);
		if (n)
			h->polled_busy_ns = mesh_evloop_now_ns();
	} while (n == 0 && mesh_evloop_now_ns() < deadline);
	return n;
}

void mesh_host_peers_connect(struct mesh_host *h)
{
	for (uint32_t i = 0; i < h->peer_count; i++) {
		struct peer *p = &h->peers[h->by_id[i]];

		if (p->addr[0])
			(void)peer_conn(h, p); /* a failure shows as no connection */
	}
}

unsigned mesh_host_peers_connecting(const struct mesh_host *h)
{
	unsigned waiting = 0;

	for (uint32_t i = 0; i < h->peer_count; i++)
		waiting += h->peers[h->by_id[i]].hello_pending;
	return waiting;
}

/*
 * transports/verbs.c: the rdma-core transport (see verbs.h).
 *
 * The sequence, after rdma-core's rping and rdma_server/rdma_client:
 * connect: rdma_create_id → rdma_resolve_addr → ADDR_RESOLVED →
 * rdma_resolve_route → ROUTE_RESOLVED → rdma_create_qp, post receives →
 * rdma_connect → ESTABLISHED. listen: rdma_bind_addr → rdma_listen →
 * CONNECT_REQUEST (a new id) → rdma_create_qp, post receives → rdma_accept
 * → ESTABLISHED.
 *
 * Each connection has its own completion queue (so that disconnect() can
 * destroy it with whatever it still holds), all of them bound to the one
 * completion channel of the endpoint. A work request's wr_id points at its
 * struct op, preallocated with the connection.
 *
 * poll() first posts again the receive buffers the previous poll()
 * delivered from, then harvests readiness (rdmacm events, completion
 * channel events) and serves a round-robin list of connections with
 * something to deliver, as tcp.c does: CONN_UP, RMA_DONE decided locally,
 * completions, then CONN_DOWN once every send and RMA in flight has
 * completed (the queue pair is moved to the error state, which flushes
 * them). An eventfd stays readable while that list is not empty.
 *
 * The completion queue of a connection that is not up yet is left alone:
 * an accepting side's queue pair is ready to receive before ESTABLISHED
 * reaches us, and RECV must not come before CONN_UP.
 *
 * Everything that needs no device (configuration, device choice, address
 * parsing, status mapping, keys, the region table, slot pools) is at the
 * top, declared in verbs_internal.h and tested without hardware.
 */
#define _GNU_SOURCE
#include "transports/verbs.h"

#include <arpa/inet.h>
#include <assert.h>
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <limits.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/proto.h"
#include "transports/verbs_internal.h"
#include "transports/addr.h"
#include "transports/log.h"
#include "transports/ready.h"

/* listen() and connect() take what mesh_addr_parse() takes. */
_Static_assert(MESH_VERBS_ADDR_MAX == MESH_ADDR_MAX, "one address limit");

/* Readiness reports taken per poll(). */
#define EPOLL_BATCH 8
/* rdmacm events and completion channel events handled per poll(); the
 * rest stay readable for the next one. */
#define CM_BATCH 64
#define COMP_BATCH 256
/* Completions taken from a queue per ibv_poll_cq(). */
#define WC_BATCH 32
/* Receives posted again per ibv_post_recv(). */
#define REPOST_BATCH 32
/* Device names listed in a "not found" message. */
#define DEVICE_LIST_MAX 32u
/* Largest pool (slot numbers are stored as uint32_t; depths are far less). */
#define POOL_CAP_MAX 65536u
/* rdma_conn_param's depth fields are 8 bits wide. */
#define RD_ATOM_MAX 255
/* Infinite RNR retries: a peer that polls late stalls us, it is no error. */
#define RNR_RETRY_INFINITE 7
#define RETRY_COUNT 7
#define LOG_LINE_MAX 512
/* Marks a struct mesh_transport made here, for mesh_verbs_bound_port(). */
#define VERBS_MAGIC 0x7662726du

/* ---- configuration ---- */

#define CFG_FAIL(...)                                           \
	do {                                                    \
		snprintf(msg, msg_size, __VA_ARGS__);           \
		return -EINVAL;                                 \
	} while (0)

/* 0 means @dflt; otherwise at most @max. */
static int depth_pick(unsigned asked, unsigned dflt, unsigned max, unsigned *out)
{
	if (asked > max)
		return -EINVAL;
	*out = asked ? asked : dflt;
	return 0;
}

int mesh_verbs_config_make(const struct mesh_transport_params *p,
			   const struct mesh_verbs_options *o, struct mesh_verbs_config *cfg,
			   char *msg, size_t msg_size)
{
	static const struct mesh_verbs_options none;

	assert(cfg && msg && msg_size);
	msg[0] = '\0';
	if (!p)
		CFG_FAIL("params are required");
	if (!o)
		o = &none;
	*cfg = (struct mesh_verbs_config){ 0 };

	cfg->msg_bytes_max = p->msg_bytes_max ? p->msg_bytes_max : MESH_PROTO_MSG_MAX;
	if (cfg->msg_bytes_max > MESH_VERBS_MSG_BYTES_MAX)
		CFG_FAIL("msg_bytes_max %zu above the limit %u", cfg->msg_bytes_max,
			 MESH_VERBS_MSG_BYTES_MAX);
	if (!p->rx_bytes) {
		cfg->recv_depth = MESH_VERBS_RECV_DEPTH_DEFAULT;
	} else {
		size_t depth = p->rx_bytes / cfg->msg_bytes_max;
		if (depth == 0)
			CFG_FAIL("rx_bytes %zu below one receive buffer of msg_bytes_max %zu",
				 p->rx_bytes, cfg->msg_bytes_max);
		if (depth > MESH_VERBS_RECV_DEPTH_MAX)
			CFG_FAIL("rx_bytes %zu makes %zu receive buffers of %zu bytes, above the "
				 "limit %u",
				 p->rx_bytes, depth, cfg->msg_bytes_max, MESH_VERBS_RECV_DEPTH_MAX);
		cfg->recv_depth = (unsigned)depth;
	}
	if (depth_pick(o->send_depth, MESH_VERBS_SEND_DEPTH_DEFAULT, MESH_VERBS_SEND_DEPTH_MAX,
		       &cfg->send_depth))
		CFG_FAIL("send_depth %u above the limit %u", o->send_depth,
			 MESH_VERBS_SEND_DEPTH_MAX);
	if (depth_pick(o->rma_depth, MESH_VERBS_RMA_DEPTH_DEFAULT, MESH_VERBS_RMA_DEPTH_MAX,
		       &cfg->rma_depth))
		CFG_FAIL("rma_depth %u above the limit %u", o->rma_depth, MESH_VERBS_RMA_DEPTH_MAX);
	if (o->rma_bounce_bytes > MESH_VERBS_BOUNCE_BYTES_MAX)
		CFG_FAIL("rma_bounce_bytes %zu above the limit %u", o->rma_bounce_bytes,
			 MESH_VERBS_BOUNCE_BYTES_MAX);
	cfg->bounce_bytes = o->rma_bounce_bytes ? o->rma_bounce_bytes
						: MESH_VERBS_BOUNCE_BYTES_DEFAULT;
	if (depth_pick(o->conn_max, MESH_VERBS_CONN_MAX, MESH_VERBS_CONN_MAX, &cfg->conn_max))
		CFG_FAIL("conn_max %u above the limit %u", o->conn_max, MESH_VERBS_CONN_MAX);
	if (depth_pick(o->resolve_ms, MESH_VERBS_RESOLVE_MS_DEFAULT, MESH_VERBS_RESOLVE_MS_MAX,
		       &cfg->resolve_ms))
		CFG_FAIL("resolve_ms %u above the limit %u", o->resolve_ms,
			 MESH_VERBS_RESOLVE_MS_MAX);
	if (o->device) {
		size_t n = strnlen(o->device, MESH_VERBS_DEVICE_NAME_MAX + 1);
		if (n == 0)
			CFG_FAIL("device name is empty (NULL picks the first device)");
		if (n > MESH_VERBS_DEVICE_NAME_MAX)
			CFG_FAIL("device name longer than %u bytes", MESH_VERBS_DEVICE_NAME_MAX);
	}
	return 0;
}

#undef CFG_FAIL

#define NO_DEVICE_HINT                                                                   \
	"load a driver such as rxe or siw (rdma link add), or use the tcp or fabric transport"

int mesh_verbs_device_pick(const char *const *names, unsigned n, const char *want, char *msg,
			   size_t msg_size)
{
	assert(msg && msg_size && (names || !n));
	msg[0] = '\0';
	if (n == 0) {
		if (want)
			snprintf(msg, msg_size,
				 "RDMA device \"%s\" not found: no RDMA device at all "
				 "(ibv_get_device_list returned 0 devices); " NO_DEVICE_HINT,
				 want);
		else
			snprintf(msg, msg_size,
				 "no RDMA device found (ibv_get_device_list returned 0 devices); "
				 NO_DEVICE_HINT);
		return -ENODEV;
	}
	if (!want)
		return 0;
	for (unsigned i = 0; i < n; i++)
		if (strcmp(names[i], want) == 0)
			return (int)i;

	int w = snprintf(msg, msg_size,
			 "RDMA device \"%s\" not found (ibv_get_device_list returned %u: ", want, n);
	for (unsigned i = 0; i < n && w >= 0 && (size_t)w < msg_size; i++)
		w += snprintf(msg + w, msg_size - (size_t)w, "%s%s", i ? ", " : "", names[i]);
	if (w >= 0 && (size_t)w < msg_size)
		snprintf(msg + w, msg_size - (size_t)w, "); name one of those");
	return -ENODEV;
}

/* ---- status mapping ---- */

int mesh_verbs_wc_status(int wc_status)
{
	switch (wc_status) {
	case IBV_WC_SUCCESS:
		return 0;
	case IBV_WC_REM_ACCESS_ERR: /* bad or revoked rkey, or access not granted */
		return -EACCES;
	case IBV_WC_WR_FLUSH_ERR: /* the queue pair went down first */
	case IBV_WC_REM_ABORT_ERR:
		return -ECONNABORTED;
	case IBV_WC_LOC_LEN_ERR: /* a message longer than the receive buffer */
		return -EMSGSIZE;
	case IBV_WC_LOC_PROT_ERR:
	case IBV_WC_LOC_ACCESS_ERR:
		return -EFAULT;
	case IBV_WC_REM_INV_REQ_ERR: /* e.g. a message longer than the peer's buffer */
	case IBV_WC_BAD_RESP_ERR:
	case IBV_WC_LOC_QP_OP_ERR:
		return -EPROTO;
	case IBV_WC_REM_OP_ERR:
		return -EREMOTEIO;
	case IBV_WC_RETRY_EXC_ERR:
	case IBV_WC_RESP_TIMEOUT_ERR:
		return -ETIMEDOUT;
	case IBV_WC_RNR_RETRY_EXC_ERR:
		return -ENOBUFS;
	default: /* EEC, RDD, memory windows, tag matching, FATAL, GENERAL */
		return -EIO;
	}
}

int mesh_verbs_cm_status(int cm_event, int event_status)
{
	switch (cm_event) {
	case RDMA_CM_EVENT_DISCONNECTED:
		return 0;
	case RDMA_CM_EVENT_REJECTED: /* status is the peer's reject reason */
		return -ECONNREFUSED;
	case RDMA_CM_EVENT_UNREACHABLE:
		return event_status == -ETIMEDOUT ? -ETIMEDOUT : -EHOSTUNREACH;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
		return event_status < 0 ? event_status : -EHOSTUNREACH;
	case RDMA_CM_EVENT_CONNECT_ERROR:
		return event_status < 0 ? event_status : -ECONNRESET;
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		return -ENODEV;
	default:
		return -EIO;
	}
}

/* ---- keys and the region table ---- */

uint64_t mesh_verbs_key_make(uint32_t rkey, size_t len)
{
	assert(len > 0 && len <= MESH_VERBS_REGION_BYTES_MAX);
	return (uint64_t)len << 32 | rkey;
}

int mesh_verbs_key_range(uint64_t key, uint64_t offset, size_t len)
{
	uint64_t region = mesh_verbs_key_len(key);

	if (region == 0)
		return -EACCES;
	if (offset > region || len > region - offset)
		return -ERANGE;
	return 0;
}

int mesh_verbs_region_check(const void *base, size_t len, unsigned access)
{
	if (!base || len == 0 || len > MESH_VERBS_REGION_BYTES_MAX)
		return -EINVAL;
	if (!access || (access & ~(MESH_RMA_READ | MESH_RMA_WRITE)))
		return -EINVAL;
	if ((uintptr_t)base > UINTPTR_MAX - len)
		return -EINVAL;
	return 0;
}

int mesh_verbs_regions_add(struct mesh_verbs_regions *rs, const struct mesh_verbs_region *r)
{
	assert(rs && r && mesh_verbs_regions_find(rs, r->key) < 0);
	if (rs->count >= MESH_VERBS_REGION_MAX)
		return -ENOSPC;
	rs->r[rs->count++] = *r;
	return 0;
}

/* O(regions): they are few (MESH_VERBS_REGION_MAX), and a scan of a small
 * array costs less than keeping a map in step. */
int mesh_verbs_regions_find(const struct mesh_verbs_regions *rs, uint64_t key)
{
	assert(rs);
	for (unsigned i = 0; i < rs->count; i++)
		if (rs->r[i].key == key)
			return (int)i;
	return -ENOENT;
}

int mesh_verbs_regions_cover(const struct mesh_verbs_regions *rs, const void *buf, size_t len)
{
	assert(rs);
	uintptr_t b = (uintptr_t)buf;

	if (!buf || !len || b > UINTPTR_MAX - len)
		return -ENOENT;
	for (unsigned i = 0; i < rs->count; i++) {
		uintptr_t base = (uintptr_t)rs->r[i].base;
		if (b >= base && b - base <= rs->r[i].len && len <= rs->r[i].len - (b - base))
			return (int)i;
	}
	return -ENOENT;
}

void mesh_verbs_regions_del(struct mesh_verbs_regions *rs, unsigned i)
{
	assert(rs && i < rs->count);
	rs->r[i] = rs->r[--rs->count];
}

/* ---- slot pools ---- */

int mesh_verbs_pool_init(struct mesh_verbs_pool *p, unsigned cap)
{
	assert(p);
	*p = (struct mesh_verbs_pool){ 0 };
	if (cap == 0 || cap > POOL_CAP_MAX)
		return -EINVAL;
	p->free = calloc(cap, sizeof(*p->free));
	p->taken = calloc(cap, sizeof(*p->taken));
	if (!p->free || !p->taken) {
		mesh_verbs_pool_fini(p);
		return -ENOMEM;
	}
	p->cap = cap;
	/* Lowest slot on top: a fresh pool hands out 0, 1, 2, ... */
	for (unsigned i = 0; i < cap; i++)
		p->free[i] = cap - 1 - i;
	p->free_count = cap;
	return 0;
}

void mesh_verbs_pool_fini(struct mesh_verbs_pool *p)
{
	if (!p)
		return;
	free(p->free);
	free(p->taken);
	*p = (struct mesh_verbs_pool){ 0 };
}

int mesh_verbs_pool_get(struct mesh_verbs_pool *p)
{
	assert(p);
	if (!p->free_count)
		return -EAGAIN;
	uint32_t s = p->free[--p->free_count];
	assert(!p->taken[s]);
	p->taken[s] = true;
	return (int)s;
}

int mesh_verbs_pool_put(struct mesh_verbs_pool *p, unsigned slot)
{
	assert(p);
	if (slot >= p->cap || !p->taken[slot])
		return -EINVAL;
	p->taken[slot] = false;
	p->free[p->free_count++] = slot;
	return 0;
}

/* ======== the transport: everything below needs a device ======== */

enum op_kind { OP_RECV = 1, OP_SEND, OP_READ, OP_WRITE };

/* One work request's context; wr_id points here. */
struct op {
	struct mesh_conn *c;
	enum op_kind kind;
	uint32_t slot;
	bool bounce;	/* RMA through the slot's bounce buffer */
	int status;	/* RMA decided locally (on the local-done ring) */
	uint64_t cookie;
	void *user_buf;
	size_t len;
};

enum conn_state {
	CONN_CONNECTING, /* resolving, connecting or accepting */
	CONN_UP,
	CONN_DOWN, /* queue pair in error; CONN_DOWN pending or delivered */
};

struct mesh_conn {
	struct mesh_transport *ep;
	struct mesh_conn *prev; /* in ep->conns */
	struct mesh_conn *next;
	struct mesh_ready_link ready; /* in ep->ready while it has work */
	struct mesh_conn *repost_next; /* in ep->repost, when on_repost */
	struct rdma_cm_id *id;
	struct ibv_cq *cq;
	bool has_qp;
	enum conn_state state;
	bool visible; /* the owner knows it: connect() made it, or ESTABLISHED came */
	bool gone;    /* disconnect() ran; memory waits for the next poll */
	bool on_repost;
	bool up_pending;
	bool down_pending;
	bool cq_ready; /* the completion queue may hold entries */
	bool cq_dead;  /* ibv_poll_cq failed: no flushes will come */
	int down_status;
	void *ctx;
	struct sockaddr_in peer;

	/* Receive buffers: recv_depth × msg_bytes_max, one registration. */
	uint8_t *rx;
	struct ibv_mr *rx_mr;
	struct op *rx_ops;
	uint32_t *rx_done; /* delivered by this poll; posted again by the next */
	unsigned rx_done_count;

	/* Send buffers: send_depth × msg_bytes_max. */
	uint8_t *tx;
	struct ibv_mr *tx_mr;
	struct op *tx_ops;
	struct mesh_verbs_pool tx_pool;

	/* RMA slots, each with a bounce buffer of bounce_bytes. */
	uint8_t *bounce;
	struct ibv_mr *bounce_mr;
	struct op *rma_ops;
	struct mesh_verbs_pool rma_pool;
	uint32_t *ld; /* ring of RMA slots decided locally, waiting for poll */
	unsigned ld_head;
	unsigned ld_count;
};

struct mesh_transport {
	uint32_t magic;
	struct mesh_verbs_config cfg;
	struct mesh_verbs_options opt;
	char device[MESH_VERBS_DEVICE_NAME_MAX + 1];
	int epfd;
	struct mesh_kick kick; /* readable while the ready list is not empty */
	int failed; /* 0, or why the endpoint itself is broken */
	struct rdma_event_channel *cm_ch;
	struct ibv_context **devs; /* rdma_get_devices() */
	struct ibv_context *ctx;   /* the one device used */
	struct ibv_device_attr attr;
	struct ibv_pd *pd;
	struct ibv_comp_channel *comp_ch;
	struct rdma_cm_id *listen_id;
	uint16_t port;
	unsigned conn_count;
	uint64_t epoch; /* counts poll() calls */
	struct mesh_conn *conns;
	struct mesh_ready_list ready; /* conns with events to deliver */
	struct mesh_conn *repost;
	struct mesh_verbs_regions regions;
};

/* ---- logging: quiet unless the owner asked ---- */

/* A line to the owner's log; with @fallback, to stderr when it set none. */
#define opt_log(o, fallback, ...) \
	mesh_tp_log((o)->log, (o)->log_ctx, (fallback) ? mesh_verbs_log_stderr : NULL, \
		    LOG_LINE_MAX, __VA_ARGS__)

#define vlog(t, ...) opt_log(&(t)->opt, false, __VA_ARGS__)

void mesh_verbs_log_stderr(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "mesh verbs: %s\n", line);
}

static const char *peer_str(const struct mesh_conn *c, char *buf, size_t size)
{
	return mesh_addr_str(&c->peer, buf, size);
}

/* ---- ready list and the wake-up eventfd (ready.h) ---- */

/* List @c unless it is; a gone conn is never listed again (its memory waits for poll). */
static void ready_add(struct mesh_transport *t, struct mesh_conn *c)
{
	assert(c->ready.on || !c->gone);
	mesh_ready_add(&t->ready, &c->ready);
}

static void kick_sync(struct mesh_transport *t)
{
	mesh_kick_set(&t->kick, t->ready.count > 0);
}

/* ---- connections: memory and verbs resources ---- */

static void conn_free_mem(struct mesh_conn *c)
{
	free(c->rx);
	free(c->rx_ops);
	free(c->rx_done);
	free(c->tx);
	free(c->tx_ops);
	mesh_verbs_pool_fini(&c->tx_pool);
	free(c->bounce);
	free(c->rma_ops);
	mesh_verbs_pool_fini(&c->rma_pool);
	free(c->ld);
	free(c);
}

/* Queue pair, completion queue, registrations and id; memory stays. */
static void conn_release(struct mesh_conn *c)
{
	if (c->id && c->has_qp)
		rdma_destroy_qp(c->id);
	c->has_qp = false;
	if (c->cq)
		ibv_destroy_cq(c->cq);
	c->cq = NULL;
	if (c->rx_mr)
		ibv_dereg_mr(c->rx_mr);
	if (c->tx_mr)
		ibv_dereg_mr(c->tx_mr);
	if (c->bounce_mr)
		ibv_dereg_mr(c->bounce_mr);
	c->rx_mr = c->tx_mr = c->bounce_mr = NULL;
	if (c->id)
		rdma_destroy_id(c->id);
	c->id = NULL;
}

static void *slab_alloc(size_t n, size_t size)
{
	void *p = NULL;

	assert(n && size && size <= SIZE_MAX / n);
	if (posix_memalign(&p, (size_t)sysconf(_SC_PAGESIZE), n * size))
		return NULL;
	return p;
}

/* A connection with its buffers registered and its completion queue armed;
 * no id and no queue pair yet. */
static int conn_alloc(struct mesh_transport *t, struct mesh_conn **out)
{
	const struct mesh_verbs_config *g = &t->cfg;
	struct mesh_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->ep = t;
	c->state = CONN_CONNECTING;
	c->rx = slab_alloc(g->recv_depth, g->msg_bytes_max);
	c->rx_ops = calloc(g->recv_depth, sizeof(*c->rx_ops));
	c->rx_done = calloc(g->recv_depth, sizeof(*c->rx_done));
	c->tx = slab_alloc(g->send_depth, g->msg_bytes_max);
	c->tx_ops = calloc(g->send_depth, sizeof(*c->tx_ops));
	c->bounce = slab_alloc(g->rma_depth, g->bounce_bytes);
	c->rma_ops = calloc(g->rma_depth, sizeof(*c->rma_ops));
	c->ld = calloc(g->rma_depth, sizeof(*c->ld));
	int rc = -ENOMEM;
	if (!c->rx || !c->rx_ops || !c->rx_done || !c->tx || !c->tx_ops || !c->bounce ||
	    !c->rma_ops || !c->ld)
		goto free_mem;
	if ((rc = mesh_verbs_pool_init(&c->tx_pool, g->send_depth)) ||
	    (rc = mesh_verbs_pool_init(&c->rma_pool, g->rma_depth)))
		goto free_mem;
	for (unsigned i = 0; i < g->recv_depth; i++)
		c->rx_ops[i] = (struct op){ .c = c, .kind = OP_RECV, .slot = i };
	for (unsigned i = 0; i < g->send_depth; i++)
		c->tx_ops[i] = (struct op){ .c = c, .kind = OP_SEND, .slot = i };

	errno = 0;
	c->rx_mr = ibv_reg_mr(t->pd, c->rx, g->recv_depth * g->msg_bytes_max,
			      IBV_ACCESS_LOCAL_WRITE);
	c->tx_mr = ibv_reg_mr(t->pd, c->tx, g->send_depth * g->msg_bytes_max, 0);
	c->bounce_mr = ibv_reg_mr(t->pd, c->bounce, g->rma_depth * g->bounce_bytes,
				  IBV_ACCESS_LOCAL_WRITE);
	if (!c->rx_mr || !c->tx_mr || !c->bounce_mr)
		goto release;
	int cqe = (int)(g->recv_depth + g->send_depth + g->rma_depth);
	c->cq = ibv_create_cq(t->ctx, cqe, c, t->comp_ch, 0);
	if (!c->cq)
		goto release;
	if ((rc = ibv_req_notify_cq(c->cq, 0))) {
		rc = -rc;
		goto release;
	}
	*out = c;
	return 0;

release:
	if (rc == 0) /* a verbs call returned NULL and set errno */
		rc = errno ? -errno : -ENOMEM;
	conn_release(c);
free_mem:
	conn_free_mem(c);
	return rc;
}

static void conn_link(struct mesh_transport *t, struct mesh_conn *c)
{
	c->next = t->conns;
	if (t->conns)
		t->conns->prev = c;
	t->conns = c;
	t->conn_count++;
}

static void conn_unlink(struct mesh_transport *t, struct mesh_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	t->conn_count--;
}

/* Post receive slots @slots[0..@n): 0 or a negative errno. */
static int rx_post(struct mesh_conn *c, const uint32_t *slots, unsigned n)
{
	size_t size = c->ep->cfg.msg_bytes_max;

	while (n) {
		struct ibv_sge sge[REPOST_BATCH];
		struct ibv_recv_wr wr[REPOST_BATCH];
		unsigned k = n < REPOST_BATCH ? n : REPOST_BATCH;

		for (unsigned i = 0; i < k; i++) {
			uint32_t s = slots[i];
			sge[i] = (struct ibv_sge){
				.addr = (uintptr_t)(c->rx + (size_t)s * size),
				.length = (uint32_t)size,
				.lkey = c->rx_mr->lkey,
			};
			wr[i] = (struct ibv_recv_wr){
				.wr_id = (uintptr_t)&c->rx_ops[s],
				.sg_list = &sge[i],
				.num_sge = 1,
				.next = i + 1 < k ? &wr[i + 1] : NULL,
			};
		}
		struct ibv_recv_wr *bad;
		int rc = ibv_post_recv(c->id->qp, wr, &bad);
		if (rc)
			return -rc;
		slots += k;
		n -= k;
	}
	return 0;
}

/* The queue pair on c->id, every receive buffer posted. */
static int conn_qp(struct mesh_conn *c)
{
	struct mesh_transport *t = c->ep;
	struct ibv_qp_init_attr a = {
		.send_cq = c->cq,
		.recv_cq = c->cq,
		.qp_type = IBV_QPT_RC,
		.cap = {
			.max_send_wr = t->cfg.send_depth + t->cfg.rma_depth,
			.max_recv_wr = t->cfg.recv_depth,
			.max_send_sge = 1,
			.max_recv_sge = 1,
		},
	};
	if (rdma_create_qp(c->id, t->pd, &a))
		return -errno;
	c->has_qp = true;
	/* All slots: rx_done doubles as the list, it is empty otherwise. */
	for (unsigned i = 0; i < t->cfg.recv_depth; i++)
		c->rx_done[i] = i;
	return rx_post(c, c->rx_done, t->cfg.recv_depth);
}

static uint8_t rd_atom(int v)
{
	return (uint8_t)(v < 0 ? 0 : v > RD_ATOM_MAX ? RD_ATOM_MAX : v);
}

static struct rdma_conn_param conn_param(const struct mesh_transport *t, int peer_init,
					 int peer_resp)
{
	int init = t->attr.max_qp_init_rd_atom;
	int resp = t->attr.max_qp_rd_atom;

	/* Accepting: never more than the peer offered or asked. */
	if (peer_init >= 0 && peer_init < resp)
		resp = peer_init;
	if (peer_resp >= 0 && peer_resp < init)
		init = peer_resp;
	return (struct rdma_conn_param){
		.initiator_depth = rd_atom(init),
		.responder_resources = rd_atom(resp),
		.retry_count = RETRY_COUNT,
		.rnr_retry_count = RNR_RETRY_INFINITE,
	};
}

/*
 * @c is gone with @status. A connection the owner never saw is freed at
 * once; otherwise its queue pair goes to the error state (flushing what is
 * in flight) and CONN_DOWN waits behind the flushes.
 */
static void conn_fail(struct mesh_conn *c, int status)
{
	struct mesh_transport *t = c->ep;

	if (c->state == CONN_DOWN)
		return;
	bool was_up = c->state == CONN_UP;
	c->state = CONN_DOWN;
	if (!c->visible) {
		mesh_ready_remove(&t->ready, &c->ready);
		conn_unlink(t, c);
		conn_release(c);
		assert(!c->on_repost);
		conn_free_mem(c);
		return;
	}
	c->down_status = status;
	c->down_pending = true;
	if (was_up)
		(void)rdma_disconnect(c->id); /* tells the peer; errors change nothing */
	if (c->has_qp) {
		struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };
		if (ibv_modify_qp(c->id->qp, &a, IBV_QP_STATE)) {
			char who[MESH_ADDR_STR_MAX];
			vlog(t, "moving the queue pair to %s into error failed (%s); "
				"operations in flight may never complete",
			     peer_str(c, who, sizeof(who)), strerror(errno));
			c->cq_dead = true;
		}
	}
	c->cq_ready = true;
	ready_add(t, c);
}

/* ---- rdmacm events ---- */

static void accept_one(struct mesh_transport *t, struct rdma_cm_id *id,
		       const struct rdma_conn_param *req)
{
	struct mesh_conn *c = NULL;
	struct sockaddr *sa = rdma_get_peer_addr(id);
	struct sockaddr_in peer = { 0 };
	char who[MESH_ADDR_STR_MAX];
	int rc;

	if (sa && sa->sa_family == AF_INET)
		memcpy(&peer, sa, sizeof(peer));
	char ip[INET_ADDRSTRLEN] = "?";
	inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
	snprintf(who, sizeof(who), "%s:%u", ip, (unsigned)ntohs(peer.sin_port));

	if (t->conn_count >= t->cfg.conn_max) {
		vlog(t, "refusing %s: %u connections is the limit", who, t->cfg.conn_max);
		goto reject;
	}
	if (id->verbs != t->ctx) {
		vlog(t, "refusing %s: it came through device %s, this endpoint uses %s", who,
		     id->verbs ? ibv_get_device_name(id->verbs->device) : "?", t->device);
		goto reject;
	}
	if ((rc = conn_alloc(t, &c))) {
		vlog(t, "refusing %s: %s", who, strerror(-rc));
		goto reject;
	}
	c->id = id;
	id->context = c;
	c->peer = peer;
	struct rdma_conn_param p = conn_param(t, req->initiator_depth, req->responder_resources);
	if ((rc = conn_qp(c)) || (rc = rdma_accept(id, &p) ? -errno : 0)) {
		vlog(t, "refusing %s: %s", who, strerror(-rc));
		rdma_reject(id, NULL, 0);
		conn_release(c); /* destroys id */
		conn_free_mem(c);
		return;
	}
	conn_link(t, c);
	return;

reject:
	rdma_reject(id, NULL, 0);
	rdma_destroy_id(id);
}

static void addr_resolved(struct mesh_conn *c)
{
	struct mesh_transport *t = c->ep;
	char who[MESH_ADDR_STR_MAX];

	if (c->id->verbs != t->ctx) {
		vlog(t, "connect to %s: the route leaves through device %s, this endpoint uses %s",
		     peer_str(c, who, sizeof(who)),
		     c->id->verbs ? ibv_get_device_name(c->id->verbs->device) : "?", t->device);
		conn_fail(c, -ENODEV);
		return;
	}
	if (rdma_resolve_route(c->id, (int)t->cfg.resolve_ms)) {
		int rc = -errno;
		vlog(t, "connect to %s: rdma_resolve_route: %s", peer_str(c, who, sizeof(who)),
		     strerror(-rc));
		conn_fail(c, rc);
	}
}

static void route_resolved(struct mesh_conn *c)
{
	struct mesh_transport *t = c->ep;
	char who[MESH_ADDR_STR_MAX];
	struct rdma_conn_param p = conn_param(t, -1, -1);
	int rc = conn_qp(c);

	if (!rc && rdma_connect(c->id, &p))
		rc = -errno;
	if (rc) {
		vlog(t, "connect to %s: %s", peer_str(c, who, sizeof(who)), strerror(-rc));
		conn_fail(c, rc);
	}
}

static void established(struct mesh_conn *c)
{
	if (c->state != CONN_CONNECTING)
		return;
	c->state = CONN_UP;
	c->visible = true;
	c->up_pending = true;
	c->cq_ready = true; /* receives may have completed before this event */
	ready_add(c->ep, c);
}

static void cm_handle(struct mesh_transport *t, const struct rdma_cm_event *e)
{
	if (e->event == RDMA_CM_EVENT_CONNECT_REQUEST) {
		accept_one(t, e->id, &e->param.conn);
		return;
	}
	if (e->id == t->listen_id) {
		if (e->event == RDMA_CM_EVENT_DEVICE_REMOVAL) {
			vlog(t, "device %s was removed; the endpoint is unusable", t->device);
			t->failed = -ENODEV;
		}
		return;
	}
	struct mesh_conn *c = e->id->context;
	char who[MESH_ADDR_STR_MAX];
	assert(c && c->id == e->id);
	switch (e->event) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		addr_resolved(c);
		return;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		route_resolved(c);
		return;
	case RDMA_CM_EVENT_ESTABLISHED:
		established(c);
		return;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_CONNECT_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
	case RDMA_CM_EVENT_REJECTED:
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		vlog(t, "connection with %s failed: %s (status %d)",
		     peer_str(c, who, sizeof(who)), rdma_event_str(e->event), e->status);
		/* fall through */
	case RDMA_CM_EVENT_DISCONNECTED:
		conn_fail(c, mesh_verbs_cm_status(e->event, e->status));
		return;
	default: /* TIMEWAIT_EXIT, ADDR_CHANGE, ...: nothing to do */
		return;
	}
}

/* Each event is copied and acknowledged before it is handled, so that
 * handling may destroy its id. */
static void cm_drain(struct mesh_transport *t)
{
	for (int i = 0; i < CM_BATCH; i++) {
		struct rdma_cm_event *e;
		if (rdma_get_cm_event(t->cm_ch, &e)) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				vlog(t, "rdma_get_cm_event: %s", strerror(errno));
			return;
		}
		struct rdma_cm_event copy = *e;
		rdma_ack_cm_event(e);
		copy.param.conn.private_data = NULL; /* it died with the ack */
		cm_handle(t, &copy);
	}
}

/* ---- completions ---- */

static void comp_drain(struct mesh_transport *t)
{
	for (int i = 0; i < COMP_BATCH; i++) {
		struct ibv_cq *cq;
		void *ctx;
		if (ibv_get_cq_event(t->comp_ch, &cq, &ctx)) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				vlog(t, "ibv_get_cq_event: %s", strerror(errno));
			return;
		}
		ibv_ack_cq_events(cq, 1);
		struct mesh_conn *c = ctx;
		/* Armed again before the queue is read: nothing slips between. */
		int rc = ibv_req_notify_cq(cq, 0);
		if (rc)
			vlog(t, "ibv_req_notify_cq: %s", strerror(rc));
		c->cq_ready = true;
		if (c->state != CONN_CONNECTING)
			ready_add(t, c);
	}
}

static void ld_push(struct mesh_conn *c, uint32_t slot)
{
	unsigned cap = c->ep->cfg.rma_depth;

	assert(c->ld_count < cap);
	c->ld[(c->ld_head + c->ld_count++) % cap] = slot;
}

static uint32_t ld_pop(struct mesh_conn *c)
{
	assert(c->ld_count);
	uint32_t s = c->ld[c->ld_head];
	c->ld_head = (c->ld_head + 1) % c->ep->cfg.rma_depth;
	c->ld_count--;
	return s;
}

static void rma_done(struct mesh_conn *c, struct op *op, int status, struct mesh_tp_event *ev,
		     unsigned *n)
{
	ev[(*n)++] = (struct mesh_tp_event){
		.type = MESH_TP_RMA_DONE,
		.conn = c,
		.cookie = op->cookie,
		.status = status,
	};
	int rc = mesh_verbs_pool_put(&c->rma_pool, op->slot);
	assert(rc == 0);
	(void)rc;
}

/* One completion into at most one event. */
static void wc_handle(struct mesh_conn *c, const struct ibv_wc *wc, struct mesh_tp_event *ev,
		      unsigned *n)
{
	struct mesh_transport *t = c->ep;
	struct op *op = (struct op *)(uintptr_t)wc->wr_id;
	int st = mesh_verbs_wc_status(wc->status);
	char who[MESH_ADDR_STR_MAX];

	assert(op && op->c == c);
	/* Flushes only follow a failure that was reported already. */
	if (st && wc->status != IBV_WC_WR_FLUSH_ERR)
		vlog(t, "%s with %s failed: %s", op->kind == OP_RECV	? "receive"
						 : op->kind == OP_SEND	? "send"
						 : op->kind == OP_READ	? "RMA read"
									: "RMA write",
		     peer_str(c, who, sizeof(who)), ibv_wc_status_str(wc->status));
	switch (op->kind) {
	case OP_RECV:
		if (st) {
			conn_fail(c, st);
			return;
		}
		if (wc->byte_len == 0) {
			vlog(t, "empty message from %s; dropping the connection",
			     peer_str(c, who, sizeof(who)));
			conn_fail(c, -EPROTO);
			return;
		}
		assert(wc->byte_len <= t->cfg.msg_bytes_max);
		ev[(*n)++] = (struct mesh_tp_event){
			.type = MESH_TP_RECV,
			.conn = c,
			.data = c->rx + (size_t)op->slot * t->cfg.msg_bytes_max,
			.len = wc->byte_len,
		};
		assert(c->rx_done_count < t->cfg.recv_depth);
		c->rx_done[c->rx_done_count++] = op->slot;
		if (!c->on_repost) {
			c->on_repost = true;
			c->repost_next = t->repost;
			t->repost = c;
		}
		return;
	case OP_SEND: {
		int rc = mesh_verbs_pool_put(&c->tx_pool, op->slot);
		assert(rc == 0);
		(void)rc;
		if (st)
			conn_fail(c, st);
		return;
	}
	case OP_READ:
	case OP_WRITE:
		if (!st && op->kind == OP_READ && op->bounce)
			memcpy(op->user_buf, c->bounce + (size_t)op->slot * t->cfg.bounce_bytes,
			       op->len);
		rma_done(c, op, st, ev, n);
		if (st)
			conn_fail(c, st);
		return;
	}
}

static bool drained(const struct mesh_conn *c)
{
	return c->cq_dead ||
	       (!mesh_verbs_pool_taken(&c->tx_pool) && !mesh_verbs_pool_taken(&c->rma_pool));
}

/*
 * Deliver @c's events into @ev[*@n, @max): CONN_UP, RMA decided locally,
 * completions, then CONN_DOWN once nothing is in flight. Returns true when
 * @c may have more to deliver.
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
	while (*n < max) {
		if (c->ld_count) {
			struct op *op = &c->rma_ops[ld_pop(c)];
			rma_done(c, op, op->status, ev, n);
			continue;
		}
		if (c->cq_ready && !c->cq_dead && c->state != CONN_CONNECTING) {
			struct ibv_wc wc[WC_BATCH];
			unsigned k = max - *n < WC_BATCH ? max - *n : WC_BATCH;
			int got = ibv_poll_cq(c->cq, (int)k, wc);
			if (got < 0) {
				char who[MESH_ADDR_STR_MAX];
				vlog(t, "ibv_poll_cq for %s failed; dropping the connection",
				     peer_str(c, who, sizeof(who)));
				c->cq_dead = true;
				conn_fail(c, -EIO);
				continue;
			}
			for (int i = 0; i < got; i++)
				wc_handle(c, &wc[i], ev, n);
			if ((unsigned)got < k)
				c->cq_ready = false;
			continue;
		}
		if (c->state == CONN_DOWN && c->down_pending && drained(c)) {
			ev[(*n)++] = (struct mesh_tp_event){
				.type = MESH_TP_CONN_DOWN,
				.conn = c,
				.status = c->down_status,
			};
			c->down_pending = false;
		}
		return false;
	}
	return true;
}

/* Take what epoll has; 0 or a negative errno if epoll itself failed. */
static int harvest(struct mesh_transport *t)
{
	struct epoll_event evs[EPOLL_BATCH];
	int n = epoll_wait(t->epfd, evs, EPOLL_BATCH, 0);

	if (n < 0) {
		if (errno == EINTR)
			return 0;
		int rc = -errno;
		vlog(t, "epoll_wait failed: %s", strerror(errno));
		return rc;
	}
	for (int i = 0; i < n; i++) {
		void *p = evs[i].data.ptr;
		if (p == &t->cm_ch)
			cm_drain(t);
		else if (p == &t->comp_ch)
			comp_drain(t);
	}
	return 0;
}

/* Receive buffers delivered by the previous poll go back to the adapter;
 * connections disconnected since then are freed. */
static void repost_all(struct mesh_transport *t)
{
	struct mesh_conn *c = t->repost;

	t->repost = NULL;
	while (c) {
		struct mesh_conn *next = c->repost_next;
		c->on_repost = false;
		if (c->gone) {
			conn_free_mem(c);
		} else {
			if (c->state != CONN_DOWN) {
				int rc = rx_post(c, c->rx_done, c->rx_done_count);
				if (rc) {
					char who[MESH_ADDR_STR_MAX];
					vlog(t, "posting receives for %s failed: %s",
					     peer_str(c, who, sizeof(who)), strerror(-rc));
					conn_fail(c, rc);
				}
			}
			c->rx_done_count = 0;
		}
		c = next;
	}
}

/* ---- ops ---- */

static void ep_free(struct mesh_transport *t)
{
	for (unsigned i = 0; i < t->regions.count; i++)
		ibv_dereg_mr(t->regions.r[i].mr);
	if (t->listen_id)
		rdma_destroy_id(t->listen_id);
	if (t->comp_ch)
		ibv_destroy_comp_channel(t->comp_ch);
	if (t->pd)
		ibv_dealloc_pd(t->pd);
	if (t->devs)
		rdma_free_devices(t->devs);
	if (t->cm_ch)
		rdma_destroy_event_channel(t->cm_ch);
	if (t->kick.fd >= 0)
		close(t->kick.fd);
	if (t->epfd >= 0)
		close(t->epfd);
	free(t);
}

/*
 * The device to use: ibv_get_device_list() says which exist (and is what
 * the "no device" message names), rdma_get_devices() gives the contexts
 * that rdmacm's ids will carry.
 */
static int device_open(struct mesh_transport *t, const char *want)
{
	char msg[LOG_LINE_MAX];
	int n = 0;

	errno = 0;
	struct ibv_device **list = ibv_get_device_list(&n);
	/* NULL (ENOSYS) is how libibverbs says the kernel has no RDMA at all. */
	int list_errno = list ? 0 : errno ? errno : ENODEV;
	if (!list)
		n = 0;
	/* Past DEVICE_LIST_MAX devices a named one may be missed: hosts have few. */
	const char *names[DEVICE_LIST_MAX] = { NULL };
	unsigned k = n <= 0 ? 0 : (unsigned)n < DEVICE_LIST_MAX ? (unsigned)n : DEVICE_LIST_MAX;
	for (unsigned i = 0; i < k; i++)
		names[i] = ibv_get_device_name(list[i]);
	int pick = mesh_verbs_device_pick(names, k, want, msg, sizeof(msg));
	if (pick >= 0)
		snprintf(t->device, sizeof(t->device), "%s", names[pick]);
	if (list)
		ibv_free_device_list(list);
	if (pick < 0) {
		if (list_errno)
			opt_log(&t->opt, true, "create: %s [ibv_get_device_list: %s]", msg,
				strerror(list_errno));
		else
			opt_log(&t->opt, true, "create: %s", msg);
		return -ENODEV;
	}

	int m = 0;
	t->devs = rdma_get_devices(&m);
	for (int i = 0; t->devs && i < m; i++)
		if (strcmp(ibv_get_device_name(t->devs[i]->device), t->device) == 0)
			t->ctx = t->devs[i];
	if (!t->ctx) {
		opt_log(&t->opt, true,
			"create: RDMA device %s exists but rdmacm cannot use it "
			"(rdma_get_devices returned %d devices without it)",
			t->device, m);
		return -ENODEV;
	}
	return 0;
}

/* The settled depths against what the device can hold. */
static int device_fits(struct mesh_transport *t)
{
	const struct mesh_verbs_config *g = &t->cfg;
	unsigned send_wr = g->send_depth + g->rma_depth;
	unsigned cqe = send_wr + g->recv_depth;

	if (send_wr > (unsigned)t->attr.max_qp_wr || g->recv_depth > (unsigned)t->attr.max_qp_wr ||
	    cqe > (unsigned)t->attr.max_cqe) {
		opt_log(&t->opt, true,
			"create: device %s holds %d work requests per queue and %d completions; "
			"send_depth + rma_depth %u, receive buffers %u or their sum %u is too many",
			t->device, t->attr.max_qp_wr, t->attr.max_cqe, send_wr, g->recv_depth, cqe);
		return -EINVAL;
	}
	return 0;
}

static int fd_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

static int epoll_add(struct mesh_transport *t, int fd, void *tag)
{
	struct epoll_event ee = { .events = EPOLLIN, .data.ptr = tag };
	return epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ee) < 0 ? -errno : 0;
}

static int verbs_create(const struct mesh_transport_params *params, struct mesh_transport **out)
{
	assert(out);
	const struct mesh_verbs_options *o = params ? params->fabric : NULL;
	struct mesh_verbs_options opt = o ? *o : (struct mesh_verbs_options){ 0 };
	struct mesh_verbs_config cfg;
	char msg[LOG_LINE_MAX];
	const char *step = "";

	if (mesh_verbs_config_make(params, o, &cfg, msg, sizeof(msg))) {
		opt_log(&opt, true, "create: %s", msg);
		return -EINVAL;
	}
	struct mesh_transport *t = calloc(1, sizeof(*t));
	if (!t) {
		opt_log(&opt, true, "create: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	t->magic = VERBS_MAGIC;
	t->cfg = cfg;
	t->opt = opt;
	t->opt.device = NULL; /* the caller's string need not outlive create() */
	t->epfd = -1;
	t->kick.fd = -1;
	int rc = device_open(t, opt.device);
	if (rc)
		goto free_ep; /* logged */

	step = "ibv_query_device";
	if ((rc = ibv_query_device(t->ctx, &t->attr))) {
		rc = -rc;
		goto fail;
	}
	if ((rc = device_fits(t)))
		goto free_ep; /* logged */
	step = "ibv_alloc_pd";
	if (!(t->pd = ibv_alloc_pd(t->ctx)))
		goto fail_errno;
	step = "ibv_create_comp_channel";
	if (!(t->comp_ch = ibv_create_comp_channel(t->ctx)))
		goto fail_errno;
	step = "rdma_create_event_channel";
	if (!(t->cm_ch = rdma_create_event_channel()))
		goto fail_errno;
	step = "epoll and eventfd";
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	t->kick.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t->epfd < 0 || t->kick.fd < 0)
		goto fail_errno;
	if ((rc = fd_nonblock(t->comp_ch->fd)) || (rc = fd_nonblock(t->cm_ch->fd)) ||
	    (rc = epoll_add(t, t->comp_ch->fd, &t->comp_ch)) ||
	    (rc = epoll_add(t, t->cm_ch->fd, &t->cm_ch)) ||
	    (rc = epoll_add(t, t->kick.fd, &t->kick.fd)))
		goto fail;
	*out = t;
	return 0;

fail_errno:
	rc = errno ? -errno : -ENOMEM;
fail:
	opt_log(&opt, true, "create: %s on device %s failed: %s", step, t->device, strerror(-rc));
free_ep:
	ep_free(t);
	return rc;
}

static void verbs_destroy(struct mesh_transport *t)
{
	if (!t)
		return;
	while (t->conns) {
		struct mesh_conn *c = t->conns;
		conn_unlink(t, c);
		conn_release(c);
		c->gone = true;
		if (!c->on_repost)
			conn_free_mem(c);
	}
	/* Every connection is gone: the repost list only frees. */
	repost_all(t);
	ep_free(t);
}

static int verbs_listen(struct mesh_transport *t, const char *addr)
{
	assert(t);
	struct sockaddr_in sa;
	int rc = mesh_addr_parse(addr, &sa);
	if (rc)
		return rc;
	if (t->listen_id)
		return -EINVAL;

	struct rdma_cm_id *id;
	const char *step = "rdma_create_id";
	if (rdma_create_id(t->cm_ch, &id, t, RDMA_PS_TCP)) {
		rc = -errno;
		goto fail;
	}
	step = "rdma_bind_addr";
	if (rdma_bind_addr(id, (struct sockaddr *)&sa)) {
		rc = -errno;
		goto destroy_id;
	}
	/* Bound to one device's address: it must be ours. */
	if (id->verbs && id->verbs != t->ctx) {
		vlog(t, "listen at %s: that address belongs to device %s, this endpoint uses %s",
		     addr, ibv_get_device_name(id->verbs->device), t->device);
		rdma_destroy_id(id);
		return -ENODEV;
	}
	step = "rdma_listen";
	if (rdma_listen(id, MESH_VERBS_BACKLOG)) {
		rc = -errno;
		goto destroy_id;
	}
	t->listen_id = id;
	t->port = ntohs(rdma_get_src_port(id));
	return 0;

destroy_id:
	rdma_destroy_id(id);
fail:
	vlog(t, "listen at %s: %s failed: %s", addr, step, strerror(-rc));
	return rc;
}

/*
 * Returns at once; CONN_UP (or CONN_DOWN) comes from poll(). Until CONN_UP,
 * send and RMA return -EAGAIN. -EINVAL for a bad address or port 0,
 * -EMFILE at the connection limit.
 */
static int verbs_connect(struct mesh_transport *t, const char *addr, struct mesh_conn **out)
{
	assert(t && out);
	struct sockaddr_in sa;
	int rc = mesh_addr_parse_peer(addr, &sa);
	if (rc)
		return rc;
	if (t->conn_count >= t->cfg.conn_max)
		return -EMFILE;

	struct mesh_conn *c;
	const char *step = "buffers";
	if ((rc = conn_alloc(t, &c)))
		goto fail;
	c->peer = sa;
	step = "rdma_create_id";
	if (rdma_create_id(t->cm_ch, &c->id, c, RDMA_PS_TCP)) {
		rc = -errno;
		goto free_conn;
	}
	step = "rdma_resolve_addr";
	if (rdma_resolve_addr(c->id, NULL, (struct sockaddr *)&sa, (int)t->cfg.resolve_ms)) {
		rc = -errno;
		goto free_conn;
	}
	c->visible = true;
	conn_link(t, c);
	*out = c;
	return 0;

free_conn:
	conn_release(c);
	conn_free_mem(c);
fail:
	vlog(t, "connect to %s: %s failed: %s", addr, step, strerror(-rc));
	return rc;
}

static void verbs_disconnect(struct mesh_conn *c)
{
	if (!c)
		return;
	struct mesh_transport *t = c->ep;

	if (c->state == CONN_UP)
		(void)rdma_disconnect(c->id);
	mesh_ready_remove(&t->ready, &c->ready);
	conn_unlink(t, c);
	conn_release(c);
	c->gone = true;
	/* RECV events of this poll may still point into c->rx. */
	if (!c->on_repost)
		conn_free_mem(c);
	kick_sync(t);
}

static void verbs_set_conn_ctx(struct mesh_conn *c, void *ctx)
{
	assert(c);
	c->ctx = ctx;
}

static void *verbs_conn_ctx(const struct mesh_conn *c)
{
	assert(c);
	return c->ctx;
}

/* ---- data path: no allocation ---- */

/* A failed post: -EAGAIN when the queue was full, else the connection is gone. */
static int post_failed(struct mesh_conn *c, int err)
{
	if (err == ENOMEM)
		return -EAGAIN;
	char who[MESH_ADDR_STR_MAX];
	vlog(c->ep, "ibv_post_send to %s failed: %s", peer_str(c, who, sizeof(who)),
	     strerror(err));
	conn_fail(c, -err);
	kick_sync(c->ep);
	return -ENOTCONN;
}

/*
 * Empty messages are -EINVAL (as in tcp). -EAGAIN while connecting or with
 * every send buffer in flight. The message is copied: the caller's bytes
 * are free when this returns.
 */
static int verbs_send(struct mesh_conn *c, const struct mesh_iov *iov, unsigned iovcnt)
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
		if (iov[i].len > t->cfg.msg_bytes_max - len)
			return -EMSGSIZE;
		len += iov[i].len;
	}
	if (len == 0)
		return -EINVAL;
	if (c->state == CONN_CONNECTING)
		return -EAGAIN;
	int slot = mesh_verbs_pool_get(&c->tx_pool);
	if (slot < 0)
		return -EAGAIN;

	uint8_t *buf = c->tx + (size_t)slot * t->cfg.msg_bytes_max;
	size_t at = 0;
	for (unsigned i = 0; i < iovcnt; i++) {
		if (iov[i].len)
			memcpy(buf + at, iov[i].base, iov[i].len);
		at += iov[i].len;
	}
	struct ibv_sge sge = { .addr = (uintptr_t)buf, .length = (uint32_t)len,
			       .lkey = c->tx_mr->lkey };
	struct ibv_send_wr wr = {
		.wr_id = (uintptr_t)&c->tx_ops[slot],
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = IBV_WR_SEND,
		.send_flags = IBV_SEND_SIGNALED,
	};
	struct ibv_send_wr *bad;
	int err = ibv_post_send(c->id->qp, &wr, &bad);
	if (err) {
		mesh_verbs_pool_put(&c->tx_pool, (unsigned)slot);
		return post_failed(c, err);
	}
	return 0;
}

static int rma_post(struct mesh_conn *c, enum op_kind kind, uint64_t key, uint64_t offset,
		    void *buf, size_t len, uint64_t cookie)
{
	assert(c);
	if (!buf || !len)
		return -EINVAL;
	if (c->state == CONN_DOWN)
		return -ENOTCONN;
	if (len > MESH_VERBS_RMA_BYTES_MAX)
		return -EMSGSIZE;
	struct mesh_transport *t = c->ep;
	int ri = mesh_verbs_regions_cover(&t->regions, buf, len);
	if (ri < 0 && len > t->cfg.bounce_bytes)
		return -EMSGSIZE;
	if (c->state == CONN_CONNECTING)
		return -EAGAIN;
	int slot = mesh_verbs_pool_get(&c->rma_pool);
	if (slot < 0)
		return -EAGAIN;

	struct op *op = &c->rma_ops[slot];
	*op = (struct op){
		.c = c,
		.kind = kind,
		.slot = (uint32_t)slot,
		.cookie = cookie,
		.user_buf = buf,
		.len = len,
	};
	op->status = mesh_verbs_key_range(key, offset, len);
	if (op->status) {
		/* Known wrong before it leaves: completes from the next poll. */
		ld_push(c, (uint32_t)slot);
		ready_add(t, c);
		kick_sync(t);
		return 0;
	}
	struct ibv_sge sge = { .length = (uint32_t)len };
	if (ri >= 0) {
		/* Exposed regions are registered at I/O address 0. */
		const struct mesh_verbs_region *r = &t->regions.r[ri];
		sge.addr = (uint64_t)((uint8_t *)buf - r->base);
		sge.lkey = ((struct ibv_mr *)r->mr)->lkey;
	} else {
		uint8_t *b = c->bounce + (size_t)slot * t->cfg.bounce_bytes;
		op->bounce = true;
		if (kind == OP_WRITE)
			memcpy(b, buf, len);
		sge.addr = (uintptr_t)b;
		sge.lkey = c->bounce_mr->lkey;
	}
	struct ibv_send_wr wr = {
		.wr_id = (uintptr_t)op,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = kind == OP_READ ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = offset, .rkey = mesh_verbs_key_rkey(key) },
	};
	struct ibv_send_wr *bad;
	int err = ibv_post_send(c->id->qp, &wr, &bad);
	if (err) {
		mesh_verbs_pool_put(&c->rma_pool, (unsigned)slot);
		return post_failed(c, err);
	}
	return 0;
}

static int verbs_rma_read(struct mesh_conn *c, uint64_t rkey, uint64_t offset, void *buf,
			  size_t len, uint64_t cookie)
{
	return rma_post(c, OP_READ, rkey, offset, buf, len, cookie);
}

static int verbs_rma_write(struct mesh_conn *c, uint64_t rkey, uint64_t offset, const void *buf,
			   size_t len, uint64_t cookie)
{
	/* The bytes are only read (copied to the bounce buffer or sent). */
	return rma_post(c, OP_WRITE, rkey, offset, (void *)buf, len, cookie);
}

static int verbs_mr_expose(struct mesh_transport *t, void *base, size_t len, unsigned access,
			   uint64_t *rkey)
{
	assert(t && rkey);
	if (mesh_verbs_region_check(base, len, access))
		return -EINVAL;
	if (t->regions.count >= MESH_VERBS_REGION_MAX)
		return -ENOSPC;
	/* Local write always: the region may also be the target of our reads. */
	unsigned acc = IBV_ACCESS_LOCAL_WRITE;
	if (access & MESH_RMA_READ)
		acc |= IBV_ACCESS_REMOTE_READ;
	if (access & MESH_RMA_WRITE)
		acc |= IBV_ACCESS_REMOTE_WRITE;
	struct ibv_mr *mr = ibv_reg_mr_iova(t->pd, base, len, 0, acc);
	if (!mr) {
		int rc = errno ? -errno : -ENOMEM;
		vlog(t, "mr_expose of %zu bytes at %p: ibv_reg_mr_iova failed: %s", len, base,
		     strerror(-rc));
		return rc;
	}
	struct mesh_verbs_region r = {
		.key = mesh_verbs_key_make(mr->rkey, len),
		.base = base,
		.len = len,
		.access = access,
		.mr = mr,
	};
	int rc = mesh_verbs_regions_add(&t->regions, &r);
	assert(rc == 0);
	(void)rc;
	*rkey = r.key;
	return 0;
}

static int verbs_mr_revoke(struct mesh_transport *t, uint64_t rkey)
{
	assert(t);
	int i = mesh_verbs_regions_find(&t->regions, rkey);
	if (i < 0)
		return -ENOENT;
	int rc = ibv_dereg_mr(t->regions.r[i].mr);
	if (rc) {
		/* Still registered: the key still works, so it stays listed. */
		vlog(t, "mr_revoke of key %#llx: ibv_dereg_mr failed: %s",
		     (unsigned long long)rkey, strerror(rc));
		return -rc;
	}
	mesh_verbs_regions_del(&t->regions, (unsigned)i);
	return 0;
}

static int verbs_poll(struct mesh_transport *t, struct mesh_tp_event *ev, unsigned max)
{
	assert(t && (ev || !max));
	/* RECV data handed out by the previous poll dies here. */
	t->epoch++;
	repost_all(t);
	if (max > INT_MAX)
		max = INT_MAX;

	int rc = harvest(t);
	unsigned n = 0;
	for (unsigned k = t->ready.count; k > 0 && n < max; k--) {
		struct mesh_conn *c = MESH_READY_ENTRY(t->ready.head, struct mesh_conn, ready);
		bool more = serve(t, c, ev, &n, max);
		mesh_ready_remove(&t->ready, &c->ready);
		if (more)
			ready_add(t, c);
	}
	kick_sync(t);
	if (n == 0 && rc == 0)
		rc = t->failed;
	return n == 0 && rc < 0 ? rc : (int)n;
}

static int verbs_wait_fd(struct mesh_transport *t)
{
	assert(t);
	return t->epfd;
}

int mesh_verbs_bound_port(const struct mesh_transport *t)
{
	assert(t && t->magic == VERBS_MAGIC);
	return t->listen_id ? (int)t->port : -EINVAL;
}

const struct mesh_transport_ops mesh_transport_verbs = {
	.name = "verbs",
	.create = verbs_create,
	.destroy = verbs_destroy,
	.listen = verbs_listen,
	.connect = verbs_connect,
	.disconnect = verbs_disconnect,
	.set_conn_ctx = verbs_set_conn_ctx,
	.conn_ctx = verbs_conn_ctx,
	.send = verbs_send,
	.mr_expose = verbs_mr_expose,
	.mr_revoke = verbs_mr_revoke,
	.rma_read = verbs_rma_read,
	.rma_write = verbs_rma_write,
	.poll = verbs_poll,
	.wait_fd = verbs_wait_fd,
};

/*
 * runtime/inproc.c: the in-process cluster host (see inproc.h).
 *
 * Every node owns a loop-transport endpoint named "node:<id>". At creation
 * the host connects every ordered pair of nodes and learns which accepted
 * connection belongs to which peer, so a received message always carries
 * its sender's node id; node i sends to j on the connection i opened.
 */
#include "runtime/inproc.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "runtime/memdrive.h"
#include "transports/loop.h"
#include "transports/transport.h"

#define EVENTS_PER_POLL 64u

struct timer {
	bool armed;
	uint32_t id;
	uint64_t deadline_ns;
};

struct drive_done {
	uint32_t node;
	uint64_t cookie;
	int result;
};

struct host_node {
	struct mesh_inproc *host;
	uint32_t id;
	struct mesh_node node;
	struct mesh_transport *tp;
	struct mesh_conn **out;         /* out[j]: the connection this node opened to j */
	struct timer timers[MESH_INPROC_TIMERS_MAX];
	struct mesh_memdrive drives[MESH_TARGET_DRIVES_MAX];
	uint32_t drive_count;
};

struct mesh_inproc {
	struct mesh_inproc_config cfg;
	const struct mesh_transport_ops *tp_ops;
	struct mesh_loop_fabric *fabric;
	uint64_t now_ns;
	uint64_t rng;
	struct host_node *nodes;
	struct drive_done done[MESH_INPROC_DRIVE_QUEUE];
	uint32_t done_head, done_count;
};

static uint64_t env_now_ns(void *ctx)
{
	return ((struct host_node *)ctx)->host->now_ns;
}

static int env_timer_arm(void *ctx, uint32_t id, uint64_t deadline_ns)
{
	struct host_node *hn = ctx;
	struct timer *free_slot = NULL;

	for (unsigned i = 0; i < MESH_INPROC_TIMERS_MAX; i++) {
		struct timer *t = &hn->timers[i];

		if (t->armed && t->id == id) {
			t->deadline_ns = deadline_ns;
			return 0;
		}
		if (!t->armed && !free_slot)
			free_slot = t;
	}
	if (!free_slot)
		return -ENOSPC;
	*free_slot = (struct timer){ .armed = true, .id = id, .deadline_ns = deadline_ns };
	return 0;
}

static void env_timer_cancel(void *ctx, uint32_t id)
{
	struct host_node *hn = ctx;

	for (unsigned i = 0; i < MESH_INPROC_TIMERS_MAX; i++) {
		if (hn->timers[i].armed && hn->timers[i].id == id)
			hn->timers[i].armed = false;
	}
}

static struct mesh_conn *conn_to(struct host_node *hn, uint32_t dst)
{
	if (dst >= hn->host->cfg.nodes)
		return NULL;
	return hn->out[dst];
}

static int env_send(void *ctx, uint32_t dst, const struct mesh_iov *iov, unsigned iovcnt)
{
	struct host_node *hn = ctx;
	struct mesh_conn *c = conn_to(hn, dst);

	if (!c)
		return -EHOSTUNREACH;
	return hn->host->tp_ops->send(c, iov, iovcnt);
}

static int env_rma_read(void *ctx, uint32_t dst, uint64_t rkey, uint64_t off, void *buf,
			uint32_t len, uint64_t cookie)
{
	struct host_node *hn = ctx;
	struct mesh_conn *c = conn_to(hn, dst);

	if (!c)
		return -EHOSTUNREACH;
	return mesh_tp_rma_read(hn->host->tp_ops, c, rkey, off, buf, len, cookie);
}

static int env_rma_write(void *ctx, uint32_t dst, uint64_t rkey, uint64_t off, const void *buf,
			 uint32_t len, uint64_t cookie)
{
	struct host_node *hn = ctx;
	struct mesh_conn *c = conn_to(hn, dst);

	if (!c)
		return -EHOSTUNREACH;
	return mesh_tp_rma_write(hn->host->tp_ops, c, rkey, off, buf, len, cookie);
}

static int env_rma_expose(void *ctx, uint32_t drive, uint64_t offset, uint64_t len,
			  unsigned access, uint64_t *rkey)
{
	struct host_node *hn = ctx;
	struct mesh_memdrive *d;

	if (drive >= hn->drive_count)
		return -ENODEV;
	d = &hn->drives[drive];
	if (offset > d->size || len > d->size - offset)
		return -ERANGE;
	return mesh_tp_mr_expose(hn->host->tp_ops, hn->tp, d->bytes + offset, len, access, rkey);
}

static int env_rma_revoke(void *ctx, uint64_t rkey)
{
	struct host_node *hn = ctx;

	return mesh_tp_mr_revoke(hn->host->tp_ops, hn->tp, rkey);
}

/* Drive I/O is carried out at once; its completion waits in the host's
 * queue, so the core never sees a completion inside its own call. */
static int env_drive_submit(void *ctx, const struct mesh_drive_io *io)
{
	struct host_node *hn = ctx;
	struct mesh_inproc *h = hn->host;

	if (io->drive >= hn->drive_count)
		return -ENODEV;
	if (h->done_count == MESH_INPROC_DRIVE_QUEUE)
		return -EAGAIN;
	int result = mesh_memdrive_io(&hn->drives[io->drive], io);
	uint32_t tail = (h->done_head + h->done_count) % MESH_INPROC_DRIVE_QUEUE;

	h->done[tail] = (struct drive_done){ .node = hn->id, .cookie = io->cookie, .result = result };
	h->done_count++;
	return 0;
}

static uint64_t env_random_u64(void *ctx)
{
	return mesh_rng_next(&((struct host_node *)ctx)->host->rng);
}

static void env_vlog(void *ctx, enum mesh_log_level level, const char *fmt, va_list ap)
{
	struct host_node *hn = ctx;

	if (level > hn->host->cfg.log_level)
		return;
	fprintf(stderr, "[%10.6f node %u %s] ", (double)hn->host->now_ns / 1e9, hn->id,
		mesh_log_level_name(level));
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static const struct mesh_env_ops inproc_env_ops = {
	.now_ns = env_now_ns,
	.timer_arm = env_timer_arm,
	.timer_cancel = env_timer_cancel,
	.send = env_send,
	.rma_read = env_rma_read,
	.rma_write = env_rma_write,
	.rma_expose = env_rma_expose,
	.rma_revoke = env_rma_revoke,
	.drive_submit = env_drive_submit,
	.random_u64 = env_random_u64,
	.vlog = env_vlog,
};

static void address_of(uint32_t id, char *buf, size_t cap)
{
	snprintf(buf, cap, "node:%u", id);
}

/* Take the next event on @hn, which must be a CONN_UP. */
static struct mesh_conn *await_conn_up(struct mesh_inproc *h, struct host_node *hn)
{
	struct mesh_tp_event ev;
	int n = h->tp_ops->poll(hn->tp, &ev, 1);

	if (n != 1 || ev.type != MESH_TP_CONN_UP)
		return NULL;
	return ev.conn;
}

/* Connect @i to @j (possibly itself: a converged node's client reaches its
 * own target the same way) and label both ends with the peer. */
static int connect_pair(struct mesh_inproc *h, uint32_t i, uint32_t j)
{
	struct host_node *a = &h->nodes[i], *b = &h->nodes[j];
	char addr[MESH_LOOP_ADDR_MAX];
	struct mesh_conn *up[2];
	int rc;

	address_of(j, addr, sizeof(addr));
	rc = h->tp_ops->connect(a->tp, addr, &a->out[j]);
	if (rc)
		return rc;
	/* The peer's CONN_UP is queued first, then the connector's own. */
	up[0] = await_conn_up(h, b);
	up[1] = await_conn_up(h, a);
	if (!up[0] || !up[1])
		return -EPROTO;
	struct mesh_conn *accepted = up[0] == a->out[j] ? up[1] : up[0];

	h->tp_ops->set_conn_ctx(a->out[j], &h->nodes[j]);
	h->tp_ops->set_conn_ctx(accepted, &h->nodes[i]);
	return 0;
}

static int node_init(struct mesh_inproc *h, uint32_t id)
{
	struct host_node *hn = &h->nodes[id];
	struct mesh_transport_params params = {
		.fabric = h->fabric,
		.rx_bytes = h->cfg.rx_bytes,
	};
	char addr[MESH_LOOP_ADDR_MAX];
	int rc;

	hn->host = h;
	hn->id = id;
	hn->node.env = (struct mesh_env){ .ops = &inproc_env_ops, .ctx = hn, .self = id };
	hn->out = calloc(h->cfg.nodes, sizeof(*hn->out));
	if (!hn->out)
		return -ENOMEM;
	rc = h->tp_ops->create(&params, &hn->tp);
	if (rc)
		return rc;
	address_of(id, addr, sizeof(addr));
	return h->tp_ops->listen(hn->tp, addr);
}

int mesh_inproc_create(const struct mesh_inproc_config *cfg, struct mesh_inproc **out)
{
	struct mesh_inproc *h;
	int rc;

	if (cfg->nodes == 0 || cfg->nodes > MESH_INPROC_NODES_MAX) {
		fprintf(stderr, "inproc: %u nodes outside 1..%u\n", cfg->nodes, MESH_INPROC_NODES_MAX);
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->cfg = *cfg;
	h->rng = cfg->seed;
	h->tp_ops = &mesh_transport_loop;
	h->nodes = calloc(cfg->nodes, sizeof(*h->nodes));
	rc = h->nodes ? mesh_loop_fabric_create(&h->fabric) : -ENOMEM;
	for (uint32_t i = 0; rc == 0 && i < cfg->nodes; i++)
		rc = node_init(h, i);
	for (uint32_t i = 0; rc == 0 && i < cfg->nodes; i++) {
		for (uint32_t j = 0; rc == 0 && j < cfg->nodes; j++)
			rc = connect_pair(h, i, j);
	}
	if (rc) {
		fprintf(stderr, "inproc: cluster of %u nodes not built: %s\n", cfg->nodes,
			strerror(-rc));
		mesh_inproc_destroy(h);
		return rc;
	}
	*out = h;
	return 0;
}

void mesh_inproc_destroy(struct mesh_inproc *h)
{
	if (!h)
		return;
	for (uint32_t i = 0; h->nodes && i < h->cfg.nodes; i++) {
		struct host_node *hn = &h->nodes[i];

		mesh_client_destroy(hn->node.client);
		mesh_target_destroy(hn->node.target);
		if (hn->tp)
			h->tp_ops->destroy(hn->tp);
		for (uint32_t d = 0; d < hn->drive_count; d++)
			mesh_memdrive_fini(&hn->drives[d]);
		free(hn->out);
	}
	if (h->fabric)
		mesh_loop_fabric_destroy(h->fabric);
	free(h->nodes);
	free(h);
}

struct mesh_node *mesh_inproc_node(struct mesh_inproc *h, uint32_t id)
{
	assert(id < h->cfg.nodes);
	return &h->nodes[id].node;
}

int mesh_inproc_drive_add(struct mesh_inproc *h, uint32_t id, uint64_t bytes, uint32_t *drive)
{
	struct host_node *hn;
	int rc;

	if (id >= h->cfg.nodes)
		return -EINVAL;
	hn = &h->nodes[id];
	if (hn->drive_count == MESH_TARGET_DRIVES_MAX || hn->node.target)
		return -EBUSY; /* full, or the target already serves a fixed set */
	rc = mesh_memdrive_init(&hn->drives[hn->drive_count], bytes);
	if (rc)
		return rc;
	*drive = hn->drive_count++;
	return 0;
}

uint8_t *mesh_inproc_drive_bytes(struct mesh_inproc *h, uint32_t id, uint32_t drive)
{
	assert(id < h->cfg.nodes && drive < h->nodes[id].drive_count);
	return h->nodes[id].drives[drive].bytes;
}

void mesh_inproc_drive_fail(struct mesh_inproc *h, uint32_t id, uint32_t drive, bool failed)
{
	assert(id < h->cfg.nodes && drive < h->nodes[id].drive_count);
	h->nodes[id].drives[drive].failed = failed;
}

int mesh_inproc_target_start(struct mesh_inproc *h, uint32_t id, uint32_t inflight)
{
	struct host_node *hn = &h->nodes[id];
	struct mesh_target_config cfg = {
		.drive_count = hn->drive_count,
		.inflight = inflight,
		.io_bytes_max = MESH_PROTO_DATA_MAX,
	};

	assert(id < h->cfg.nodes && !hn->node.target);
	for (uint32_t d = 0; d < hn->drive_count; d++)
		cfg.drive_bytes[d] = hn->drives[d].size;
	return mesh_target_create(&hn->node.env, &cfg, &hn->node.target);
}

int mesh_inproc_client_start(struct mesh_inproc *h, uint32_t id,
			     const struct mesh_client_config *cfg)
{
	struct host_node *hn = &h->nodes[id];

	assert(id < h->cfg.nodes && !hn->node.client);
	return mesh_client_create(&hn->node.env, cfg, &hn->node.client);
}

int mesh_inproc_link(struct mesh_inproc *h, uint32_t from, uint32_t to, bool up)
{
	char a[MESH_LOOP_ADDR_MAX], b[MESH_LOOP_ADDR_MAX];

	if (from >= h->cfg.nodes || to >= h->cfg.nodes)
		return -EINVAL;
	address_of(from, a, sizeof(a));
	address_of(to, b, sizeof(b));
	return mesh_loop_set_link(h->fabric, a, b, up);
}

uint64_t mesh_inproc_now_ns(const struct mesh_inproc *h)
{
	return h->now_ns;
}

static unsigned deliver_messages(struct mesh_inproc *h)
{
	struct mesh_tp_event ev[EVENTS_PER_POLL];
	unsigned delivered = 0;

	for (uint32_t i = 0; i < h->cfg.nodes; i++) {
		struct host_node *hn = &h->nodes[i];
		int n = h->tp_ops->poll(hn->tp, ev, EVENTS_PER_POLL);

		assert(n >= 0);
		for (int k = 0; k < n; k++) {
			const struct host_node *peer = h->tp_ops->conn_ctx(ev[k].conn);

			switch (ev[k].type) {
			case MESH_TP_RECV:
				mesh_node_on_message(&hn->node, peer->id, ev[k].data, ev[k].len);
				break;
			case MESH_TP_RMA_DONE:
				mesh_node_on_rma_done(&hn->node, ev[k].cookie, ev[k].status);
				break;
			default:
				break;
			}
		}
		delivered += (unsigned)n;
	}
	return delivered;
}

static unsigned deliver_drive_completions(struct mesh_inproc *h)
{
	/* Only those queued before this round: completions that the handlers
	 * cause wait for the next one, which keeps rounds finite. */
	unsigned n = h->done_count;

	for (unsigned k = 0; k < n; k++) {
		struct drive_done d = h->done[h->done_head];

		h->done_head = (h->done_head + 1) % MESH_INPROC_DRIVE_QUEUE;
		h->done_count--;
		mesh_node_on_drive_done(&h->nodes[d.node].node, d.cookie, d.result);
	}
	return n;
}

/* The armed timer with the earliest deadline (ties: lowest node, then
 * lowest slot), or NULL. Sets *@node_out to its node. */
static struct timer *earliest_timer(struct mesh_inproc *h, uint32_t *node_out)
{
	struct timer *best = NULL;

	for (uint32_t i = 0; i < h->cfg.nodes; i++) {
		for (unsigned k = 0; k < MESH_INPROC_TIMERS_MAX; k++) {
			struct timer *t = &h->nodes[i].timers[k];

			if (t->armed && (!best || t->deadline_ns < best->deadline_ns)) {
				best = t;
				*node_out = i;
			}
		}
	}
	return best;
}

/* Fire the timers due by now, earliest first. Bounded by the number of
 * timer slots, so a timer that re-arms itself for "now" waits a round. */
static unsigned fire_due_timers(struct mesh_inproc *h)
{
	unsigned fired = 0;
	uint32_t node;
	struct timer *t;

	while (fired < h->cfg.nodes * MESH_INPROC_TIMERS_MAX &&
	       (t = earliest_timer(h, &node)) && t->deadline_ns <= h->now_ns) {
		t->armed = false;
		mesh_node_on_timer(&h->nodes[node].node, t->id);
		fired++;
	}
	return fired;
}

bool mesh_inproc_step(struct mesh_inproc *h)
{
	uint32_t node;
	struct timer *next;
	unsigned n = deliver_messages(h);

	n += deliver_drive_completions(h);
	if (n > 0) {
		/* A round of deliveries takes time, so deadlines still pass
		 * while messages keep flowing. */
		h->now_ns += MESH_INPROC_ROUND_NS;
		fire_due_timers(h);
		return true;
	}
	next = earliest_timer(h, &node);
	if (!next)
		return false;
	if (next->deadline_ns > h->now_ns)
		h->now_ns = next->deadline_ns;
	return fire_due_timers(h) > 0;
}

int mesh_inproc_io(struct mesh_inproc *h, uint32_t id, const struct mesh_io *io)
{
	struct mesh_client *c = mesh_inproc_node(h, id)->client;
	struct mesh_io_done done;
	int rc;

	assert(c && mesh_client_inflight(c) == 0);
	rc = mesh_client_submit(c, io);
	if (rc)
		return rc;
	while (mesh_client_reap(c, &done, 1) == 0) {
		/* The client's sweep timer is armed while anything is in
		 * flight, so the host cannot run dry before completion. */
		bool progressed = mesh_inproc_step(h);

		assert(progressed);
		(void)progressed;
	}
	assert(done.cookie == io->cookie);
	return done.status;
}

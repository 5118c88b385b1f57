/*
 * tests/mirror_cluster.h: a small deterministic cluster for end-to-end
 * tests of the real client, targets and topology managers
 * (tests/test_reads_any.c, tests/test_onesided.c): replicas A and B of a
 * two-copy mirror with witness W, a client, and a fake client that puts
 * raw I/O on the wire. Memory drives, one FIFO network, a manual clock;
 * drive completions and one-sided reads wait behind the messages already
 * sent. One-sided reads go through keys the targets expose here and are
 * carried out when delivered, so a key revoked in between fails them.
 *
 * The including test defines NODE_A, NODE_B, NODE_W, GROUP, GROUP_BYTES
 * and BLOCK and includes tests/toma_world.h first.
 */
#ifndef MESH_TESTS_MIRROR_CLUSTER_H
#define MESH_TESTS_MIRROR_CLUSTER_H

#include "core/client.h"
#include "core/layout.h"
#include "core/node.h"
#include "core/target.h"

#define NODE_CLIENT 4              /* runs the real client */
#define NODE_FAKE 5                /* sends raw I/O as a client would */
#define HOSTS 6
#define HOST_TIMERS_MAX 16
#define WIRES_MAX 256
#define DRIVE_DONE_MAX 64
#define IO_TIMEOUT_NS (2000 * MS)
#define RUN_NS_MAX (3000 * MS)     /* no step of a test takes longer */
#define FAKE_INCARNATION 0xfa4eull
#define KEYS_MAX 16
#define RMA_MAX 64

/* A message on the wire. */
struct wire {
	uint32_t src, dst;
	size_t len;
	uint8_t *bytes;
};

struct drive_done {
	uint32_t node;
	uint64_t cookie;
	int result;
};

struct cluster;

struct host {
	struct cluster *cl;
	struct mesh_node node;
	struct timer timers[HOST_TIMERS_MAX];
	struct meta_rec meta[META_MAX];
	uint8_t *drive;                /* drive 0: GROUP_BYTES, replicas only */
	bool drive_failed;             /* every drive I/O fails with -EIO */
};

/* A region a host exposed for one-sided reads. */
struct key {
	bool live;
	uint32_t owner;
	uint64_t rkey, offset, length;
};

/* A one-sided read on its way; carried out when delivered. */
struct rma {
	uint32_t src, dst;
	uint64_t rkey, offset, cookie;
	void *buf;
	uint32_t length;
};

struct cluster {
	uint64_t now_ns, rng;
	bool log;
	struct host hosts[HOSTS];
	struct wire wires[WIRES_MAX];
	unsigned wire_head, wire_count;
	struct drive_done done[DRIVE_DONE_MAX];
	unsigned done_head, done_count;
	unsigned fake_replies;         /* IO_REPLYs the fake client got */
	int fake_status;               /* the last one's */
	struct key keys[KEYS_MAX];
	uint64_t next_rkey;
	struct rma rmas[RMA_MAX];
	unsigned rma_head, rma_count;
	unsigned rma_reads;            /* carried out, successful or not */
};

static inline uint64_t host_now_ns(void *ctx)
{
	return ((struct host *)ctx)->cl->now_ns;
}

static inline int host_timer_arm(void *ctx, uint32_t id, uint64_t deadline_ns)
{
	struct host *h = ctx;
	struct timer *slot = NULL;

	for (unsigned i = 0; i < HOST_TIMERS_MAX; i++) {
		if (h->timers[i].armed && h->timers[i].id == id) {
			h->timers[i].deadline_ns = deadline_ns;
			return 0;
		}
		if (!h->timers[i].armed && !slot)
			slot = &h->timers[i];
	}
	if (!slot)
		return -ENOSPC;
	*slot = (struct timer){ .armed = true, .id = id, .deadline_ns = deadline_ns };
	return 0;
}

static inline void host_timer_cancel(void *ctx, uint32_t id)
{
	struct host *h = ctx;

	for (unsigned i = 0; i < HOST_TIMERS_MAX; i++) {
		if (h->timers[i].armed && h->timers[i].id == id)
			h->timers[i].armed = false;
	}
}

static inline int wire_put(struct cluster *cl, uint32_t src, uint32_t dst, const struct mesh_iov *iov,
		    unsigned iovcnt)
{
	struct wire *wr;

	if (dst == 0 || dst >= HOSTS)
		return -EHOSTUNREACH;
	assert_true(cl->wire_count < WIRES_MAX);
	wr = &cl->wires[(cl->wire_head + cl->wire_count++) % WIRES_MAX];
	*wr = (struct wire){ .src = src, .dst = dst };
	for (unsigned i = 0; i < iovcnt; i++)
		wr->len += iov[i].len;
	wr->bytes = malloc(wr->len ? wr->len : 1);
	assert_non_null(wr->bytes);
	for (size_t at = 0, i = 0; i < iovcnt; at += iov[i++].len)
		memcpy(wr->bytes + at, iov[i].base, iov[i].len);
	return 0;
}

static inline int host_send(void *ctx, uint32_t dst, const struct mesh_iov *iov, unsigned iovcnt)
{
	struct host *h = ctx;

	return wire_put(h->cl, h->node.env.self, dst, iov, iovcnt);
}

/* Drive I/O is done at once; its completion waits behind the messages
 * already on the wire. */
static inline int host_drive_submit(void *ctx, const struct mesh_drive_io *io)
{
	struct host *h = ctx;
	struct cluster *cl = h->cl;
	int result = (int)io->length;

	if (!h->drive || io->drive != 0)
		return -ENODEV;
	if (cl->done_count == DRIVE_DONE_MAX)
		return -EAGAIN;
	if (io->offset > GROUP_BYTES || io->length > GROUP_BYTES - io->offset)
		result = -ERANGE;
	else if (h->drive_failed)
		result = -EIO;
	else if (io->op == MESH_DRIVE_READ)
		memcpy(io->buf, h->drive + io->offset, io->length);
	else if (io->op == MESH_DRIVE_WRITE)
		memcpy(h->drive + io->offset, io->buf, io->length);
	cl->done[(cl->done_head + cl->done_count++) % DRIVE_DONE_MAX] = (struct drive_done){
		.node = h->node.env.self, .cookie = io->cookie, .result = result,
	};
	return 0;
}

static inline int host_meta_put(void *ctx, uint64_t key, const void *buf, uint32_t len)
{
	return meta_store_put(((struct host *)ctx)->meta, key, buf, len);
}

static inline int host_meta_get(void *ctx, uint64_t key, void *buf, uint32_t cap)
{
	return meta_store_get(((struct host *)ctx)->meta, key, buf, cap);
}

static inline uint64_t host_random_u64(void *ctx)
{
	return mesh_rng_next(&((struct host *)ctx)->cl->rng);
}

static inline void host_vlog(void *ctx, enum mesh_log_level level, const char *fmt, va_list ap)
{
	struct host *h = ctx;

	if (!h->cl->log)
		return;
	printf("%9.3f ms node %u %s: ", (double)h->cl->now_ns / MS, h->node.env.self,
	       mesh_log_level_name(level));
	vprintf(fmt, ap);
	putchar('\n');
}

/* A one-sided read waits behind the messages already on the wire, and
 * reads the target's drive when it arrives there: a key revoked in
 * between fails it. */
static inline int host_rma_read(void *ctx, uint32_t dst, uint64_t rkey, uint64_t offset,
				void *buf, uint32_t len, uint64_t cookie)
{
	struct host *h = ctx;
	struct cluster *cl = h->cl;

	if (dst == 0 || dst >= HOSTS)
		return -EHOSTUNREACH;
	if (cl->rma_count == RMA_MAX)
		return -EAGAIN;
	cl->rmas[(cl->rma_head + cl->rma_count++) % RMA_MAX] = (struct rma){
		.src = h->node.env.self, .dst = dst, .rkey = rkey, .offset = offset,
		.cookie = cookie, .buf = buf, .length = len,
	};
	return 0;
}

static inline int host_rma_expose(void *ctx, uint32_t drive, uint64_t offset, uint64_t len,
				  unsigned access, uint64_t *rkey)
{
	struct host *h = ctx;
	struct cluster *cl = h->cl;

	if (!h->drive || drive != 0)
		return -ENODEV;
	if (access != MESH_RMA_READ || offset > GROUP_BYTES || len > GROUP_BYTES - offset)
		return -EINVAL;
	for (unsigned i = 0; i < KEYS_MAX; i++) {
		if (cl->keys[i].live)
			continue;
		cl->keys[i] = (struct key){ .live = true, .owner = h->node.env.self,
					    .rkey = ++cl->next_rkey, .offset = offset,
					    .length = len };
		*rkey = cl->keys[i].rkey;
		return 0;
	}
	return -ENOSPC;
}

static inline struct key *key_find(struct cluster *cl, uint32_t owner, uint64_t rkey)
{
	for (unsigned i = 0; i < KEYS_MAX; i++) {
		if (cl->keys[i].live && cl->keys[i].owner == owner && cl->keys[i].rkey == rkey)
			return &cl->keys[i];
	}
	return NULL;
}

static inline int host_rma_revoke(void *ctx, uint64_t rkey)
{
	struct host *h = ctx;
	struct key *k = key_find(h->cl, h->node.env.self, rkey);

	if (!k)
		return -ENOENT;
	k->live = false;
	return 0;
}

static inline unsigned keys_live(struct cluster *cl, uint32_t owner)
{
	unsigned n = 0;

	for (unsigned i = 0; i < KEYS_MAX; i++)
		n += cl->keys[i].live && cl->keys[i].owner == owner;
	return n;
}

/* Carry out one-sided read @r at its target: 0 or -EACCES, -ERANGE. */
static inline int rma_carry_out(struct cluster *cl, const struct rma *r)
{
	struct host *t = &cl->hosts[r->dst];
	struct key *k = key_find(cl, r->dst, r->rkey);

	cl->rma_reads++;
	if (!k || !t->drive)
		return -EACCES;
	if (r->offset > k->length || r->length > k->length - r->offset)
		return -ERANGE;
	memcpy(r->buf, t->drive + k->offset + r->offset, r->length);
	return 0;
}

static const struct mesh_env_ops host_ops = {
	.now_ns = host_now_ns,
	.timer_arm = host_timer_arm,
	.timer_cancel = host_timer_cancel,
	.send = host_send,
	.rma_read = host_rma_read,
	.rma_expose = host_rma_expose,
	.rma_revoke = host_rma_revoke,
	.drive_submit = host_drive_submit,
	.meta_put = host_meta_put,
	.meta_get = host_meta_get,
	.random_u64 = host_random_u64,
	.vlog = host_vlog,
};

static inline struct host *host_of(struct cluster *cl, uint32_t id)
{
	assert_true(id > 0 && id < HOSTS);
	return &cl->hosts[id];
}

/* The layout of the one volume: a mirror over the group A, B. */
static inline struct mesh_layout mirror_volume(void)
{
	struct mesh_layout l = {
		.kind = MESH_LAYOUT_MIRROR, .copies = 2, .segment_count = 1,
		.volume_bytes = GROUP_BYTES,
	};

	l.segments[0] = (struct mesh_segment){
		.bytes = GROUP_BYTES, .group = GROUP,
		.replicas = { { NODE_A, 0, 0, 0 }, { NODE_B, 0, 1, 0 } },
	};
	return l;
}

struct cluster_options {
	bool reads_tail_only;          /* the client's */
	bool one_sided_reads;          /* the client's */
	bool a_restarted;              /* A's manager restarts once before it serves */
};

static inline int cluster_make(void **state, const struct cluster_options *o)
{
	struct cluster *cl = calloc(1, sizeof(*cl));
	const char *log = getenv("MESH_TEST_LOG");
	struct mesh_group_config group = mirror2(GROUP_BYTES);
	struct mesh_toma_config tcfg = {
		.lease_ns = LEASE_NS, .round_timeout_ns = ROUND_NS,
	};
	struct mesh_client_config ccfg = {
		.queue_depth = 4, .io_timeout_ns = IO_TIMEOUT_NS, .lease_ns = LEASE_NS,
		.reads_tail_only = o->reads_tail_only, .one_sided_reads = o->one_sided_reads,
	};
	struct mesh_layout volume = mirror_volume();

	if (!cl)
		return -1;
	cl->rng = SEED;
	cl->log = log && *log && *log != '0';
	for (uint32_t id = 1; id < HOSTS; id++) {
		struct host *h = host_of(cl, id);

		h->cl = cl;
		h->node.env = (struct mesh_env){ .ops = &host_ops, .ctx = h, .self = id };
	}
	for (uint32_t id = NODE_A; id <= NODE_W; id++) {
		struct host *h = host_of(cl, id);

		assert_int_equal(mesh_toma_create(&h->node.env, &tcfg, &h->node.toma), 0);
		assert_int_equal(mesh_toma_group_add(h->node.toma, &group), 0);
		if (id != NODE_A || !o->a_restarted)
			continue;
		mesh_toma_destroy(h->node.toma);
		assert_int_equal(mesh_toma_create(&h->node.env, &tcfg, &h->node.toma), 0);
		assert_int_equal(mesh_toma_group_add(h->node.toma, &group), 0);
	}
	for (uint32_t id = NODE_A; id <= NODE_B; id++) {
		struct host *h = host_of(cl, id);
		struct mesh_target_config cfg = {
			.drive_count = 1, .drive_bytes = { GROUP_BYTES }, .inflight = 8,
			.io_bytes_max = 64 * 1024, .toma = h->node.toma,
		};

		h->drive = calloc(1, GROUP_BYTES);
		assert_non_null(h->drive);
		assert_int_equal(mesh_target_create(&h->node.env, &cfg, &h->node.target), 0);
	}
	struct host *c = host_of(cl, NODE_CLIENT);

	assert_int_equal(mesh_client_create(&c->node.env, &ccfg, &c->node.client), 0);
	assert_int_equal(mesh_client_volume_add(c->node.client, 0, &volume), 0);
	assert_int_equal(mesh_client_group_add(c->node.client, &group), 0);
	*state = cl;
	return 0;
}

static inline int cluster_teardown(void **state)
{
	struct cluster *cl = *state;

	for (uint32_t id = 1; id < HOSTS; id++) {
		struct host *h = host_of(cl, id);

		mesh_client_destroy(h->node.client);
		mesh_target_destroy(h->node.target);
		mesh_toma_destroy(h->node.toma);
		free(h->drive);
	}
	for (; cl->wire_count; cl->wire_count--, cl->wire_head = (cl->wire_head + 1) % WIRES_MAX)
		free(cl->wires[cl->wire_head].bytes);
	free(cl);
	return 0;
}

/* The fake client keeps only the status of what it is answered (I/O
 * replies, key grants and errors). */
static inline void fake_on_message(struct cluster *cl, const struct wire *wr)
{
	struct mesh_msg m;

	assert_int_equal(mesh_proto_decode(wr->bytes, wr->len, &m), 0);
	if (m.hdr.type == MESH_MSG_IO_REPLY)
		cl->fake_status = m.u.io_reply.status;
	else if (m.hdr.type == MESH_MSG_RMA_GRANT)
		cl->fake_status = m.u.rma_grant.status;
	else if (m.hdr.type == MESH_MSG_ERROR)
		cl->fake_status = m.u.error.code;
	else
		return;
	cl->fake_replies++;
}

/* Deliver one message, else one drive completion, else fire the timer due
 * first if due by @until_ns. Returns whether there was anything. */
static inline bool cluster_step(struct cluster *cl, uint64_t until_ns)
{
	if (cl->wire_count) {
		struct wire wr = cl->wires[cl->wire_head];

		cl->wire_head = (cl->wire_head + 1) % WIRES_MAX;
		cl->wire_count--;
		if (wr.dst == NODE_FAKE)
			fake_on_message(cl, &wr);
		else
			mesh_node_on_message(&host_of(cl, wr.dst)->node, wr.src, wr.bytes, wr.len);
		free(wr.bytes);
		return true;
	}
	if (cl->done_count) {
		struct drive_done d = cl->done[cl->done_head];

		cl->done_head = (cl->done_head + 1) % DRIVE_DONE_MAX;
		cl->done_count--;
		mesh_node_on_drive_done(&host_of(cl, d.node)->node, d.cookie, d.result);
		return true;
	}
	if (cl->rma_count) {
		struct rma r = cl->rmas[cl->rma_head];

		cl->rma_head = (cl->rma_head + 1) % RMA_MAX;
		cl->rma_count--;
		mesh_node_on_rma_done(&host_of(cl, r.src)->node, r.cookie, rma_carry_out(cl, &r));
		return true;
	}
	struct host *due_host = NULL;
	struct timer *due = NULL;

	for (uint32_t id = 1; id < HOSTS; id++) {
		struct host *h = host_of(cl, id);

		for (unsigned i = 0; i < HOST_TIMERS_MAX; i++) {
			struct timer *tm = &h->timers[i];

			if (tm->armed && tm->deadline_ns <= until_ns &&
			    (!due || tm->deadline_ns < due->deadline_ns)) {
				due = tm;
				due_host = h;
			}
		}
	}
	if (!due)
		return false;
	if (due->deadline_ns > cl->now_ns)
		cl->now_ns = due->deadline_ns;
	due->armed = false;
	mesh_node_on_timer(&due_host->node, due->id);
	return true;
}

static inline void cluster_run_for(struct cluster *cl, uint64_t ns)
{
	uint64_t until = cl->now_ns + ns;

	while (cluster_step(cl, until))
		;
	cl->now_ns = until;
}

static inline struct mesh_client *client_of(struct cluster *cl)
{
	return host_of(cl, NODE_CLIENT)->node.client;
}

/* Run until the client's one I/O in flight is done; returns its status. */
static inline int io_wait(struct cluster *cl)
{
	uint64_t until = cl->now_ns + RUN_NS_MAX;
	struct mesh_io_done done;

	while (mesh_client_reap(client_of(cl), &done, 1) == 0) {
		if (!cluster_step(cl, until))
			fail_msg("I/O not done by %llu ns", (unsigned long long)until);
	}
	return done.status;
}

static inline int io_sync(struct cluster *cl, enum mesh_io_op op, uint64_t offset, void *buf,
		   uint32_t length)
{
	struct mesh_io io = { .volume = 0, .op = op, .offset = offset, .length = length,
			      .buf = buf };

	assert_int_equal(mesh_client_submit(client_of(cl), &io), 0);
	return io_wait(cl);
}

/* Put on the wire to @dst an I/O of @length bytes at drive offset @offset
 * (a write: of bytes @fill), as a client of a fresh incarnation that never
 * settles a write. Not delivered yet. */
static inline void fake_io(struct cluster *cl, uint32_t dst, uint8_t type, uint64_t offset,
		    uint8_t fill, uint32_t length)
{
	static uint8_t data[BLOCK];
	bool write = type == MESH_MSG_IO_WRITE;
	uint8_t prefix[MESH_PROTO_PREFIX_MAX];
	struct mesh_msg m = {
		.hdr = { .type = type, .req_id = 1, .epoch = 1 },
		.u.io = { .group = GROUP, .drive = 0, .length = length, .offset = offset,
			  .incarnation = FAKE_INCARNATION, .seq = write, .settled = 1 },
		.data = write ? data : NULL, .data_len = write ? length : 0,
	};
	int n;

	assert_true(length <= sizeof(data));
	memset(data, fill, length);
	n = mesh_proto_encode(&m, prefix, sizeof(prefix));
	assert_true(n > 0);
	struct mesh_iov iov[2] = { { prefix, (size_t)n }, { data, m.data_len } };

	assert_int_equal(wire_put(cl, NODE_FAKE, dst, iov, write ? 2 : 1), 0);
}

static inline void fake_write(struct cluster *cl, uint32_t dst, uint64_t offset, uint8_t fill,
		       uint32_t length)
{
	fake_io(cl, dst, MESH_MSG_IO_WRITE, offset, fill, length);
}

/* What @dst answers the fake client's read of @offset. */
static inline int fake_read_status(struct cluster *cl, uint32_t dst, uint64_t offset)
{
	unsigned replies = cl->fake_replies;

	fake_io(cl, dst, MESH_MSG_IO_READ, offset, 0, BLOCK);
	while (cl->fake_replies == replies)
		assert_true(cluster_step(cl, cl->now_ns));
	return cl->fake_status;
}

static inline struct mesh_target_stats target_stats(struct cluster *cl, uint32_t id)
{
	struct mesh_target_stats s;

	mesh_target_stats(host_of(cl, id)->node.target, &s);
	return s;
}

static inline struct mesh_client_stats client_stats(struct cluster *cl)
{
	struct mesh_client_stats s;

	mesh_client_stats(client_of(cl), &s);
	return s;
}

static inline void fill_pattern(uint8_t *buf, uint32_t length, uint8_t seed)
{
	for (uint32_t i = 0; i < length; i++)
		buf[i] = (uint8_t)(seed + i * 7);
}

/* The last message on the wire, which must be from @src. */
/* Write block @offset with pattern @seed, then read it back @reads times. */
static inline void write_and_read_back(struct cluster *cl, uint64_t offset, uint8_t seed,
				       unsigned reads)
{
	uint8_t want[BLOCK], got[BLOCK];

	fill_pattern(want, BLOCK, seed);
	assert_int_equal(io_sync(cl, MESH_IO_WRITE, offset, want, BLOCK), 0);
	for (unsigned i = 0; i < reads; i++) {
		memset(got, 0, sizeof(got));
		assert_int_equal(io_sync(cl, MESH_IO_READ, offset, got, BLOCK), 0);
		assert_memory_equal(got, want, BLOCK);
	}
}

static inline const struct wire *last_wire_from(struct cluster *cl, uint32_t src)
{
	const struct wire *wr;

	assert_true(cl->wire_count > 0);
	wr = &cl->wires[(cl->wire_head + cl->wire_count - 1) % WIRES_MAX];
	assert_int_equal(wr->src, src);
	return wr;
}

#endif

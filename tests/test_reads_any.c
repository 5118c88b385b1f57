/*
 * tests/test_reads_any.c: reads from any active copy (docs/toma.md, "Reads
 * from any active copy"), in three layers:
 *
 *  - the unsettled-write table alone (core/unsettled.h);
 *  - when a replica may read ahead of the tail at all
 *    (mesh_toma_reads_any), in the deterministic world of
 *    tests/toma_world.h: replicas A and B and the witness W;
 *  - end to end: the real client, targets and managers of A, B and W in
 *    a small in-test cluster (memory drives, FIFO network, manual clock),
 *    where a fake client can put on A a write the tail never gets.
 *
 * MESH_TEST_LOG=1 prints every log line with its time and node.
 */
#define LEASE_NS (100 * MS)
#define ROUND_NS (20 * MS)
#define GROUP 7
#define GROUP_BYTES (1ull << 20)
#define NODE_A 1                   /* replica, head of the chain */
#define NODE_B 2                   /* replica, the tail */
#define NODE_W 3                   /* witness */
#define NODES 4                    /* slot 0 unused: ids are indices */
#define CLIENT_BALLOT (1ull << 40) /* above any ballot the nodes reach here */
#define META_MAX 4
#define META_BYTES 512
#define SEED 0x72656164ull

#include "tests/toma_world.h"

#include "core/client.h"
#include "core/layout.h"
#include "core/node.h"
#include "core/target.h"
#include "core/unsettled.h"

#define BLOCK 4096u

/* ---- core/unsettled ---- */

static void empty_table_is_clean(void **state)
{
	struct mesh_unsettled u = { 0 };

	(void)state;
	assert_true(mesh_unsettled_clean(&u, 0, 0, BLOCK, 0));
	assert_true(mesh_unsettled_clean(&u, 3, 1ull << 40, 1u << 20, 0));
	mesh_unsettled_settle(&u, 1, 100); /* nothing to settle: no-op */
	assert_int_equal(u.count, 0);
	assert_int_equal(mesh_unsettled_stamp(&u), 0);
	mesh_unsettled_release(&u);
}

static void unsettled_write_blocks_only_reads_that_overlap_it(void **state)
{
	struct mesh_unsettled u = { 0 };

	(void)state;
	assert_int_equal(mesh_unsettled_add(&u, 7, 1, 0, BLOCK, BLOCK), 0);
	assert_false(mesh_unsettled_clean(&u, 0, BLOCK, BLOCK, 0));        /* same range */
	assert_false(mesh_unsettled_clean(&u, 0, 0, 2 * BLOCK, 0));        /* covers its start */
	assert_false(mesh_unsettled_clean(&u, 0, 2 * BLOCK - 512, 1024, 0)); /* its last sector */
	assert_false(mesh_unsettled_clean(&u, 0, 0, 8 * BLOCK, 0));        /* contains it */
	assert_true(mesh_unsettled_clean(&u, 0, 0, BLOCK, 0));             /* ends where it starts */
	assert_true(mesh_unsettled_clean(&u, 0, 2 * BLOCK, BLOCK, 0));     /* starts where it ends */
	assert_true(mesh_unsettled_clean(&u, 1, BLOCK, BLOCK, 0));         /* another drive */
	mesh_unsettled_release(&u);
	assert_null(u.writes);
	assert_int_equal(u.count, 0);
}

static void settle_removes_only_that_incarnations_writes_below_the_mark(void **state)
{
	struct mesh_unsettled u = { 0 };

	(void)state;
	assert_int_equal(mesh_unsettled_add(&u, 7, 1, 0, 0, BLOCK), 0);
	assert_int_equal(mesh_unsettled_add(&u, 7, 2, 0, BLOCK, BLOCK), 0);
	assert_int_equal(mesh_unsettled_add(&u, 9, 1, 0, 2 * BLOCK, BLOCK), 0);

	/* Marks of 1 settle nothing: every write is numbered 1 or more. */
	mesh_unsettled_settle(&u, 7, 1);
	assert_int_equal(u.count, 3);

	mesh_unsettled_settle(&u, 7, 2);
	assert_true(mesh_unsettled_clean(&u, 0, 0, BLOCK, 0));
	assert_false(mesh_unsettled_clean(&u, 0, BLOCK, BLOCK, 0));     /* seq == mark */
	assert_false(mesh_unsettled_clean(&u, 0, 2 * BLOCK, BLOCK, 0)); /* other client */
	assert_int_equal(u.count, 2);

	/* A mark going back settles nothing again. */
	mesh_unsettled_settle(&u, 7, 1);
	assert_int_equal(u.count, 2);

	mesh_unsettled_settle(&u, 9, 2);
	assert_true(mesh_unsettled_clean(&u, 0, 2 * BLOCK, BLOCK, 0));
	assert_false(mesh_unsettled_clean(&u, 0, BLOCK, BLOCK, 0));
	mesh_unsettled_settle(&u, 7, 3);
	assert_true(mesh_unsettled_clean(&u, 0, 0, 3 * BLOCK, 0));
	assert_int_equal(u.count, 0);
	mesh_unsettled_release(&u);
}

static void stamp_ignores_writes_added_before_it(void **state)
{
	struct mesh_unsettled u = { 0 };
	uint64_t since;

	(void)state;
	assert_int_equal(mesh_unsettled_add(&u, 7, 1, 0, 0, BLOCK), 0);
	since = mesh_unsettled_stamp(&u);
	assert_true(since > 0);
	assert_true(mesh_unsettled_clean(&u, 0, 0, BLOCK, since));
	assert_false(mesh_unsettled_clean(&u, 0, 0, BLOCK, 0));

	assert_int_equal(mesh_unsettled_add(&u, 7, 2, 0, BLOCK, BLOCK), 0);
	assert_true(mesh_unsettled_stamp(&u) > since);
	assert_false(mesh_unsettled_clean(&u, 0, BLOCK, BLOCK, since));
	assert_true(mesh_unsettled_clean(&u, 0, 0, BLOCK, since));
	/* The newest stamp hides every write added so far. */
	assert_true(mesh_unsettled_clean(&u, 0, 0, 2 * BLOCK, mesh_unsettled_stamp(&u)));
	mesh_unsettled_release(&u);
}

static void writes_unsettled_together_stay_until_a_later_covering_write_settles(void **state)
{
	struct mesh_unsettled u = { 0 };

	(void)state;
	/* [0, 8K) by client 1 and [4K, 8K) by client 2, both in flight. */
	assert_int_equal(mesh_unsettled_add(&u, 1, 1, 0, 0, 2 * BLOCK), 0);
	assert_int_equal(mesh_unsettled_add(&u, 2, 1, 0, BLOCK, BLOCK), 0);
	mesh_unsettled_settle(&u, 1, 2);
	mesh_unsettled_settle(&u, 2, 2);
	/* The members may hold them in different orders. */
	assert_int_equal(u.count, 2);
	assert_false(mesh_unsettled_clean(&u, 0, 0, BLOCK, 0));
	assert_false(mesh_unsettled_clean(&u, 0, BLOCK, BLOCK, 0));
	assert_true(mesh_unsettled_clean(&u, 0, 2 * BLOCK, BLOCK, 0));

	/* A later write of [0, 4K) covers only part of the first. */
	assert_int_equal(mesh_unsettled_add(&u, 3, 1, 0, 0, BLOCK), 0);
	mesh_unsettled_settle(&u, 3, 2);
	assert_false(mesh_unsettled_clean(&u, 0, 0, BLOCK, 0));
	assert_false(mesh_unsettled_clean(&u, 0, BLOCK, BLOCK, 0));

	/* A later write of [0, 8K) covers both: once it settles, every
	 * member applied it after them. */
	assert_int_equal(mesh_unsettled_add(&u, 1, 2, 0, 0, 2 * BLOCK), 0);
	assert_false(mesh_unsettled_clean(&u, 0, 0, 2 * BLOCK, 0));
	mesh_unsettled_settle(&u, 1, 3);
	assert_true(mesh_unsettled_clean(&u, 0, 0, 2 * BLOCK, 0));
	assert_int_equal(u.count, 0);
	mesh_unsettled_release(&u);
}

static void kept_writes_need_a_covering_write_that_came_after_them(void **state)
{
	struct mesh_unsettled u = { 0 };

	(void)state;
	/* A covering write in flight with the two: it is kept as well, and
	 * its settling says nothing of their order. */
	assert_int_equal(mesh_unsettled_add(&u, 1, 1, 0, 0, BLOCK), 0);
	assert_int_equal(mesh_unsettled_add(&u, 2, 1, 0, 0, BLOCK), 0);
	assert_int_equal(mesh_unsettled_add(&u, 3, 1, 0, 0, 2 * BLOCK), 0);
	mesh_unsettled_settle(&u, 3, 2);
	mesh_unsettled_settle(&u, 1, 2);
	mesh_unsettled_settle(&u, 2, 2);
	assert_false(mesh_unsettled_clean(&u, 0, 0, BLOCK, 0));
	assert_false(mesh_unsettled_clean(&u, 0, BLOCK, BLOCK, 0));
	mesh_unsettled_release(&u);
}

static void full_table_refuses_every_read_for_good(void **state)
{
	struct mesh_unsettled u = { 0 };

	(void)state;
	for (uint32_t i = 0; i < MESH_UNSETTLED_MAX; i++)
		assert_int_equal(mesh_unsettled_add(&u, 7, i + 1, 0, (uint64_t)i * BLOCK, BLOCK), 0);
	assert_false(u.full);
	assert_true(mesh_unsettled_clean(&u, 1, 0, BLOCK, 0));

	assert_int_equal(mesh_unsettled_add(&u, 7, MESH_UNSETTLED_MAX + 1, 0,
					    (uint64_t)MESH_UNSETTLED_MAX * BLOCK, BLOCK), -ENOSPC);
	assert_false(mesh_unsettled_clean(&u, 1, 0, BLOCK, 0)); /* never written */
	assert_false(mesh_unsettled_clean(&u, 0, 0, BLOCK, mesh_unsettled_stamp(&u)));

	/* Settling everything does not bring it back: a write went unrecorded. */
	mesh_unsettled_settle(&u, 7, UINT64_MAX);
	assert_int_equal(u.count, 0);
	assert_false(mesh_unsettled_clean(&u, 1, 0, BLOCK, 0));
	assert_int_equal(mesh_unsettled_add(&u, 7, 1, 0, 0, BLOCK), -ENOSPC);
	mesh_unsettled_release(&u);
	assert_true(mesh_unsettled_clean(&u, 1, 0, BLOCK, 0)); /* released: a new table */
}

/* ---- mesh_toma_reads_any, in tests/toma_world.h ---- */



static bool reads_any(struct world *w, uint32_t id)
{
	return mesh_toma_reads_any(toma(w, id), GROUP);
}

/* Propose @c with the client's ballot to each of @count voters. */
static void propose_to(struct world *w, const struct mesh_group_config *c, const uint32_t *ids,
		       unsigned count)
{
	for (unsigned i = 0; i < count; i++)
		send_propose(w, ids[i], CLIENT_BALLOT, c);
	for (unsigned i = 0; i < count; i++) {
		const struct mesh_msg *r = answer_from(w, ids[i], MESH_MSG_CONFIG_ACCEPT);

		assert_int_equal(r->u.config_accept.status, 0);
		assert_int_equal(epoch_of(w, ids[i]), c->epoch);
	}
}

/* @from changed by @change of member @member. */
static struct mesh_group_config changed(const struct mesh_group_config *from,
					enum mesh_group_change change, unsigned member)
{
	struct mesh_group_config to;
	const char *why = NULL;

	assert_int_equal(mesh_group_change(from, change, member, 0, 0, 0, &to, &why), 0);
	return to;
}

static void fresh_group_lets_each_active_replica_read_ahead(void **state)
{
	struct world *w = *state;

	assert_true(reads_any(w, NODE_A));
	assert_true(reads_any(w, NODE_B));
	assert_false(reads_any(w, NODE_W));          /* a witness holds no data */
	assert_false(mesh_toma_reads_any(toma(w, NODE_A), GROUP + 1)); /* no such group */
	/* Leases and quiet time change nothing. */
	ask_lease(w, NODE_A, 1);
	assert_int_equal(answer_from(w, NODE_A, MESH_MSG_LEASE_GRANT)->u.lease_grant.status, 0);
	run_until(w, w->now_ns + 5 * LEASE_NS);
	assert_int_equal(epoch_of(w, NODE_A), 1);
	assert_true(reads_any(w, NODE_A));
	assert_true(reads_any(w, NODE_B));
}

static void restarted_replica_never_reads_ahead(void **state)
{
	struct world *w = *state;

	node_stop(w, NODE_A);
	node_start(w, NODE_A);
	assert_int_equal(epoch_of(w, NODE_A), 1);
	assert_false(reads_any(w, NODE_A));
	assert_true(reads_any(w, NODE_B));
	run_until(w, w->now_ns + 5 * LEASE_NS);
	assert_false(reads_any(w, NODE_A));
}

static void replica_made_stale_never_reads_ahead_again(void **state)
{
	struct world *w = *state;
	const uint32_t voters[] = { NODE_A, NODE_B, NODE_W };
	struct mesh_group_config stale, rebuilding, active;

	stale = changed(config_of(w, NODE_A), MESH_GROUP_MARK_STALE, 0);
	propose_to(w, &stale, voters, 3);
	assert_false(reads_any(w, NODE_A));
	assert_true(reads_any(w, NODE_B)); /* active in both, one epoch on */

	rebuilding = changed(&stale, MESH_GROUP_START_REBUILD, 0);
	propose_to(w, &rebuilding, voters, 3);
	active = changed(&rebuilding, MESH_GROUP_MARK_ACTIVE, 0);
	propose_to(w, &active, voters, 3);
	assert_int_equal(config_of(w, NODE_A)->members[0].state, MESH_MEMBER_ACTIVE);
	assert_int_equal(config_of(w, NODE_A)->epoch, 4);
	/* It may lack a write a failed client left on the tail. */
	assert_false(reads_any(w, NODE_A));
	assert_true(reads_any(w, NODE_B));
	run_until(w, w->now_ns + 5 * LEASE_NS);
	assert_false(reads_any(w, NODE_A));
	assert_true(reads_any(w, NODE_B));
}

static void replica_that_skips_an_epoch_never_reads_ahead(void **state)
{
	struct world *w = *state;
	const uint32_t a_and_w[] = { NODE_A, NODE_W }, b[] = { NODE_B };
	struct mesh_group_config stale, rebuilding;

	/* B is active in every epoch, but learns epoch 3 without epoch 2:
	 * it cannot tell what happened in between. */
	stale = changed(config_of(w, NODE_A), MESH_GROUP_MARK_STALE, 0);
	propose_to(w, &stale, a_and_w, 2);
	rebuilding = changed(&stale, MESH_GROUP_START_REBUILD, 0);
	propose_to(w, &rebuilding, b, 1);
	assert_int_equal(config_of(w, NODE_B)->members[1].state, MESH_MEMBER_ACTIVE);
	assert_false(reads_any(w, NODE_B));
	assert_false(reads_any(w, NODE_A));
}

static void replica_whose_drive_failed_never_reads_ahead(void **state)
{
	struct world *w = *state;

	assert_true(mesh_toma_drive_failed(toma(w, NODE_A), GROUP));
	assert_false(reads_any(w, NODE_A)); /* at once, before any epoch */
	assert_true(run_until_epoch(w, NODE_B, 2, w->now_ns + 5 * ROUND_NS) != NEVER);
	run_until(w, w->now_ns + 5 * LEASE_NS);
	assert_int_equal(config_of(w, NODE_B)->members[0].state, MESH_MEMBER_STALE);
	assert_false(reads_any(w, NODE_A));
	assert_true(reads_any(w, NODE_B));
}

static void witness_drive_failure_leaves_the_replicas_reading_ahead(void **state)
{
	struct world *w = *state;

	/* Not a replica: nothing to refuse. */
	assert_false(mesh_toma_drive_failed(toma(w, NODE_W), GROUP));
	assert_true(reads_any(w, NODE_A));
	assert_true(reads_any(w, NODE_B));
}

/* ---- end to end: client, targets and managers ---- */

#define NODE_CLIENT 4              /* runs the real client */
#define NODE_FAKE 5                /* sends raw I/O as a client would */
#define HOSTS 6
#define HOST_TIMERS_MAX 16
#define WIRES_MAX 256
#define DRIVE_DONE_MAX 64
#define IO_TIMEOUT_NS (2000 * MS)
#define RUN_NS_MAX (3000 * MS)     /* no step of a test takes longer */
#define FAKE_INCARNATION 0xfa4eull

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
};

static uint64_t host_now_ns(void *ctx)
{
	return ((struct host *)ctx)->cl->now_ns;
}

static int host_timer_arm(void *ctx, uint32_t id, uint64_t deadline_ns)
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

static void host_timer_cancel(void *ctx, uint32_t id)
{
	struct host *h = ctx;

	for (unsigned i = 0; i < HOST_TIMERS_MAX; i++) {
		if (h->timers[i].armed && h->timers[i].id == id)
			h->timers[i].armed = false;
	}
}

static int wire_put(struct cluster *cl, uint32_t src, uint32_t dst, const struct mesh_iov *iov,
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

static int host_send(void *ctx, uint32_t dst, const struct mesh_iov *iov, unsigned iovcnt)
{
	struct host *h = ctx;

	return wire_put(h->cl, h->node.env.self, dst, iov, iovcnt);
}

/* Drive I/O is done at once; its completion waits behind the messages
 * already on the wire. */
static int host_drive_submit(void *ctx, const struct mesh_drive_io *io)
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
	else if (io->op == MESH_DRIVE_READ)
		memcpy(io->buf, h->drive + io->offset, io->length);
	else if (io->op == MESH_DRIVE_WRITE)
		memcpy(h->drive + io->offset, io->buf, io->length);
	cl->done[(cl->done_head + cl->done_count++) % DRIVE_DONE_MAX] = (struct drive_done){
		.node = h->node.env.self, .cookie = io->cookie, .result = result,
	};
	return 0;
}

static int host_meta_put(void *ctx, uint64_t key, const void *buf, uint32_t len)
{
	return meta_store_put(((struct host *)ctx)->meta, key, buf, len);
}

static int host_meta_get(void *ctx, uint64_t key, void *buf, uint32_t cap)
{
	return meta_store_get(((struct host *)ctx)->meta, key, buf, cap);
}

static uint64_t host_random_u64(void *ctx)
{
	return mesh_rng_next(&((struct host *)ctx)->cl->rng);
}

static void host_vlog(void *ctx, enum mesh_log_level level, const char *fmt, va_list ap)
{
	struct host *h = ctx;

	if (!h->cl->log)
		return;
	printf("%9.3f ms node %u %s: ", (double)h->cl->now_ns / MS, h->node.env.self,
	       mesh_log_level_name(level));
	vprintf(fmt, ap);
	putchar('\n');
}

static const struct mesh_env_ops host_ops = {
	.now_ns = host_now_ns,
	.timer_arm = host_timer_arm,
	.timer_cancel = host_timer_cancel,
	.send = host_send,
	.drive_submit = host_drive_submit,
	.meta_put = host_meta_put,
	.meta_get = host_meta_get,
	.random_u64 = host_random_u64,
	.vlog = host_vlog,
};

static struct host *host_of(struct cluster *cl, uint32_t id)
{
	assert_true(id > 0 && id < HOSTS);
	return &cl->hosts[id];
}

/* The layout of the one volume: a mirror over the group A, B. */
static struct mesh_layout mirror_volume(void)
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

/* The cluster, its client reading only tails when @reads_tail_only, and
 * A's manager restarted once before it serves when @a_restarted. */
static int cluster_make(void **state, bool reads_tail_only, bool a_restarted)
{
	struct cluster *cl = calloc(1, sizeof(*cl));
	const char *log = getenv("MESH_TEST_LOG");
	struct mesh_group_config group = mirror2(GROUP_BYTES);
	struct mesh_toma_config tcfg = {
		.lease_ns = LEASE_NS, .round_timeout_ns = ROUND_NS,
	};
	struct mesh_client_config ccfg = {
		.queue_depth = 4, .io_timeout_ns = IO_TIMEOUT_NS, .lease_ns = LEASE_NS,
		.reads_tail_only = reads_tail_only,
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
		if (id != NODE_A || !a_restarted)
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

static int cluster_setup(void **state)
{
	return cluster_make(state, false, false);
}

static int cluster_setup_tail_only(void **state)
{
	return cluster_make(state, true, false);
}

static int cluster_setup_a_restarted(void **state)
{
	return cluster_make(state, false, true);
}

static int cluster_teardown(void **state)
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

/* The fake client keeps only the status of what it is answered. */
static void fake_on_message(struct cluster *cl, const struct wire *wr)
{
	struct mesh_msg m;

	assert_int_equal(mesh_proto_decode(wr->bytes, wr->len, &m), 0);
	if (m.hdr.type != MESH_MSG_IO_REPLY)
		return;
	cl->fake_replies++;
	cl->fake_status = m.u.io_reply.status;
}

/* Deliver one message, else one drive completion, else fire the timer due
 * first if due by @until_ns. Returns whether there was anything. */
static bool cluster_step(struct cluster *cl, uint64_t until_ns)
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

static void cluster_run_for(struct cluster *cl, uint64_t ns)
{
	uint64_t until = cl->now_ns + ns;

	while (cluster_step(cl, until))
		;
	cl->now_ns = until;
}

static struct mesh_client *client_of(struct cluster *cl)
{
	return host_of(cl, NODE_CLIENT)->node.client;
}

/* Run until the client's one I/O in flight is done; returns its status. */
static int io_wait(struct cluster *cl)
{
	uint64_t until = cl->now_ns + RUN_NS_MAX;
	struct mesh_io_done done;

	while (mesh_client_reap(client_of(cl), &done, 1) == 0) {
		if (!cluster_step(cl, until))
			fail_msg("I/O not done by %llu ns", (unsigned long long)until);
	}
	return done.status;
}

static int io_sync(struct cluster *cl, enum mesh_io_op op, uint64_t offset, void *buf,
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
static void fake_io(struct cluster *cl, uint32_t dst, uint8_t type, uint64_t offset,
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

static void fake_write(struct cluster *cl, uint32_t dst, uint64_t offset, uint8_t fill,
		       uint32_t length)
{
	fake_io(cl, dst, MESH_MSG_IO_WRITE, offset, fill, length);
}

/* What @dst answers the fake client's read of @offset. */
static int fake_read_status(struct cluster *cl, uint32_t dst, uint64_t offset)
{
	unsigned replies = cl->fake_replies;

	fake_io(cl, dst, MESH_MSG_IO_READ, offset, 0, BLOCK);
	while (cl->fake_replies == replies)
		assert_true(cluster_step(cl, cl->now_ns));
	return cl->fake_status;
}

static struct mesh_target_stats target_stats(struct cluster *cl, uint32_t id)
{
	struct mesh_target_stats s;

	mesh_target_stats(host_of(cl, id)->node.target, &s);
	return s;
}

static struct mesh_client_stats client_stats(struct cluster *cl)
{
	struct mesh_client_stats s;

	mesh_client_stats(client_of(cl), &s);
	return s;
}

static void fill_pattern(uint8_t *buf, uint32_t length, uint8_t seed)
{
	for (uint32_t i = 0; i < length; i++)
		buf[i] = (uint8_t)(seed + i * 7);
}

#define READS 8

static void settled_reads_are_spread_over_both_copies(void **state)
{
	struct cluster *cl = *state;
	uint8_t want[BLOCK], got[BLOCK];
	struct mesh_target_stats a, b;
	struct mesh_client_stats cs;

	assert_true(mesh_toma_reads_any(host_of(cl, NODE_A)->node.toma, GROUP));
	fill_pattern(want, BLOCK, 1);
	assert_int_equal(io_sync(cl, MESH_IO_WRITE, 3 * BLOCK, want, BLOCK), 0);
	assert_memory_equal(host_of(cl, NODE_A)->drive + 3 * BLOCK, want, BLOCK);
	assert_memory_equal(host_of(cl, NODE_B)->drive + 3 * BLOCK, want, BLOCK);
	for (unsigned i = 0; i < READS; i++) {
		memset(got, 0, sizeof(got));
		assert_int_equal(io_sync(cl, MESH_IO_READ, 3 * BLOCK, got, BLOCK), 0);
		assert_memory_equal(got, want, BLOCK);
	}
	a = target_stats(cl, NODE_A);
	b = target_stats(cl, NODE_B);
	cs = client_stats(cl);
	/* Every other read went to A, and the write it held was settled
	 * by the read's own mark. */
	assert_int_equal(cs.reads_ahead, READS / 2);
	assert_int_equal(cs.reads_to_tail, 0);
	assert_int_equal(a.reads_ahead, READS / 2);
	assert_int_equal(a.reads_to_tail, 0);
	assert_int_equal(b.reads_ahead, 0);   /* the tail is never ahead */
	assert_int_equal(a.reads + b.reads, READS);
	assert_int_equal(b.reads, READS / 2);
}

static void tail_only_client_reads_only_the_tail(void **state)
{
	struct cluster *cl = *state;
	uint8_t want[BLOCK], got[BLOCK];

	fill_pattern(want, BLOCK, 2);
	assert_int_equal(io_sync(cl, MESH_IO_WRITE, 0, want, BLOCK), 0);
	for (unsigned i = 0; i < READS; i++) {
		assert_int_equal(io_sync(cl, MESH_IO_READ, 0, got, BLOCK), 0);
		assert_memory_equal(got, want, BLOCK);
	}
	assert_int_equal(client_stats(cl).reads_ahead, 0);
	assert_int_equal(target_stats(cl, NODE_A).reads, 0);
	assert_int_equal(target_stats(cl, NODE_B).reads, READS);
}

static void read_of_an_unsettled_write_is_sent_on_to_the_tail(void **state)
{
	struct cluster *cl = *state;
	uint8_t want[BLOCK], got[BLOCK], bad[BLOCK];
	struct mesh_target_stats a;
	struct mesh_client_stats cs;

	fill_pattern(want, BLOCK, 3);
	assert_int_equal(io_sync(cl, MESH_IO_WRITE, 5 * BLOCK, want, BLOCK), 0);
	/* A failed client's write reached A and never the tail. */
	fake_write(cl, NODE_A, 5 * BLOCK, 0xbd, BLOCK);
	cluster_run_for(cl, MS);
	assert_int_equal(cl->fake_replies, 1);
	assert_int_equal(cl->fake_status, 0);
	memset(bad, 0xbd, sizeof(bad));
	assert_memory_equal(host_of(cl, NODE_A)->drive + 5 * BLOCK, bad, BLOCK);

	for (unsigned i = 0; i < READS; i++) {
		memset(got, 0, sizeof(got));
		assert_int_equal(io_sync(cl, MESH_IO_READ, 5 * BLOCK, got, BLOCK), 0);
		assert_memory_equal(got, want, BLOCK);
	}
	a = target_stats(cl, NODE_A);
	cs = client_stats(cl);
	assert_int_equal(cs.reads_ahead, READS / 2);
	assert_int_equal(cs.reads_to_tail, READS / 2);
	assert_int_equal(a.reads_to_tail, READS / 2);
	assert_int_equal(a.reads_ahead, 0);
	assert_int_equal(target_stats(cl, NODE_B).reads, READS);

	/* Other blocks A holds are still read there. */
	assert_int_equal(io_sync(cl, MESH_IO_WRITE, 6 * BLOCK, want, BLOCK), 0);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(io_sync(cl, MESH_IO_READ, 6 * BLOCK, got, BLOCK), 0);
		assert_memory_equal(got, want, BLOCK);
	}
	assert_int_equal(target_stats(cl, NODE_A).reads_ahead, 1);
}

static void restarted_replica_sends_every_read_on_to_the_tail(void **state)
{
	struct cluster *cl = *state;
	uint8_t want[BLOCK], got[BLOCK];
	struct mesh_target_stats a;

	assert_false(mesh_toma_reads_any(host_of(cl, NODE_A)->node.toma, GROUP));
	fill_pattern(want, BLOCK, 5);
	assert_int_equal(io_sync(cl, MESH_IO_WRITE, 0, want, BLOCK), 0);
	/* Settled and clean on A, yet it may lack what it missed while down. */
	for (unsigned i = 0; i < READS; i++) {
		assert_int_equal(io_sync(cl, MESH_IO_READ, 0, got, BLOCK), 0);
		assert_memory_equal(got, want, BLOCK);
	}
	a = target_stats(cl, NODE_A);
	assert_int_equal(a.reads_ahead, 0);
	assert_int_equal(a.reads_to_tail, READS / 2);
	assert_int_equal(client_stats(cl).reads_to_tail, READS / 2);
	assert_int_equal(target_stats(cl, NODE_B).reads, READS);
}

static void idle_clients_lease_renewal_settles_its_writes(void **state)
{
	struct cluster *cl = *state;
	uint8_t want[BLOCK];

	fill_pattern(want, BLOCK, 6);
	assert_int_equal(io_sync(cl, MESH_IO_WRITE, 0, want, BLOCK), 0);
	/* Done on both copies, but A has not heard so yet. */
	assert_int_equal(fake_read_status(cl, NODE_A, 0), -EXDEV);
	assert_int_equal(fake_read_status(cl, NODE_B, 0), 0);
	cluster_run_for(cl, LEASE_NS);
	assert_true(client_stats(cl).lease_requests >= 2);
	assert_int_equal(fake_read_status(cl, NODE_A, 0), 0);
	assert_int_equal(target_stats(cl, NODE_A).reads_ahead, 1);
}

/* The last message on the wire, which must be from @src. */
static const struct wire *last_wire_from(struct cluster *cl, uint32_t src)
{
	const struct wire *wr;

	assert_true(cl->wire_count > 0);
	wr = &cl->wires[(cl->wire_head + cl->wire_count - 1) % WIRES_MAX];
	assert_int_equal(wr->src, src);
	return wr;
}

static void write_that_lands_during_a_read_sends_the_read_on(void **state)
{
	struct cluster *cl = *state;
	uint8_t want[BLOCK], got[BLOCK];
	struct mesh_io io = { .volume = 0, .op = MESH_IO_READ, .offset = 2 * BLOCK,
			      .length = BLOCK, .buf = got };

	fill_pattern(want, BLOCK, 4);
	assert_int_equal(io_sync(cl, MESH_IO_WRITE, 2 * BLOCK, want, BLOCK), 0);
	/* Submit reads until one goes to A: reads take the copies in turn. */
	for (unsigned tries = 0;; tries++) {
		assert_true(tries < 2);
		assert_int_equal(mesh_client_submit(client_of(cl), &io), 0);
		if (last_wire_from(cl, NODE_CLIENT)->dst == NODE_A)
			break;
		assert_int_equal(io_wait(cl), 0);
	}
	/* A checks the read when it comes, then takes the write before its
	 * drive read completes: the data may hold the write. */
	fake_write(cl, NODE_A, 2 * BLOCK, 0xbd, BLOCK);
	assert_int_equal(io_wait(cl), 0);
	assert_memory_equal(got, want, BLOCK);
	assert_int_equal(target_stats(cl, NODE_A).reads_to_tail, 1);
	assert_int_equal(target_stats(cl, NODE_A).reads_ahead, 0);
	assert_int_equal(client_stats(cl).reads_to_tail, 1);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, world_start, world_teardown)
#define C(name) cmocka_unit_test_setup_teardown(name, cluster_setup, cluster_teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_table_is_clean),
		cmocka_unit_test(unsettled_write_blocks_only_reads_that_overlap_it),
		cmocka_unit_test(settle_removes_only_that_incarnations_writes_below_the_mark),
		cmocka_unit_test(stamp_ignores_writes_added_before_it),
		cmocka_unit_test(writes_unsettled_together_stay_until_a_later_covering_write_settles),
		cmocka_unit_test(kept_writes_need_a_covering_write_that_came_after_them),
		cmocka_unit_test(full_table_refuses_every_read_for_good),
		T(fresh_group_lets_each_active_replica_read_ahead),
		T(restarted_replica_never_reads_ahead),
		T(replica_made_stale_never_reads_ahead_again),
		T(replica_that_skips_an_epoch_never_reads_ahead),
		T(replica_whose_drive_failed_never_reads_ahead),
		T(witness_drive_failure_leaves_the_replicas_reading_ahead),
		C(settled_reads_are_spread_over_both_copies),
		cmocka_unit_test_setup_teardown(tail_only_client_reads_only_the_tail,
						cluster_setup_tail_only, cluster_teardown),
		C(read_of_an_unsettled_write_is_sent_on_to_the_tail),
		C(write_that_lands_during_a_read_sends_the_read_on),
		C(idle_clients_lease_renewal_settles_its_writes),
		cmocka_unit_test_setup_teardown(restarted_replica_sends_every_read_on_to_the_tail,
						cluster_setup_a_restarted, cluster_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

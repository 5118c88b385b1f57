/*
 * tests/toma_world.h: the deterministic world the topology manager's tests
 * run in (tests/test_toma.c, tests/test_replace.c), driven through
 * core/toma.h only.
 *
 * One manual clock, which every node reads with an offset of its own (a
 * voter may only ever measure intervals); one FIFO of encoded messages,
 * delivered in order without delay; per-node timers, fired when the clock
 * passes them; per-node metadata stores that outlive the node's manager,
 * so a restart is destroy + create + group_add. CLIENT is the test itself:
 * it sends lease requests or raw Paxos messages and finds the answers in
 * its inbox. A node can be down (what it sends and what is sent to it is
 * lost), a link can be cut one way or lose one type of message, and a node
 * can be made to crash just after it sends one type of message.
 *
 * The including test defines first: NODES (ids 1..NODES-1 are nodes),
 * GROUP, LEASE_NS (what the test client asks for), ROUND_NS (the
 * managers' round timeout, for world_start), META_MAX and
 * META_BYTES (each node's store) and SEED. Functions are static inline so
 * that a test need not use them all.
 */
#ifndef MESH_TESTS_TOMA_WORLD_H
#define MESH_TESTS_TOMA_WORLD_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>

#include "core/group.h"
#include "core/proto.h"
#include "core/rng.h"
#include "core/toma.h"

#if !defined(NODES) || !defined(GROUP) || !defined(META_MAX) || !defined(META_BYTES) || \
	!defined(SEED) || !defined(LEASE_NS) || !defined(ROUND_NS)
#error "define NODES, GROUP, LEASE_NS, ROUND_NS, META_MAX, META_BYTES and SEED before tests/toma_world.h"
#endif

#define MS 1000000ull
#define CLIENT 100
#define QUEUE_MAX 256
#define INBOX_MAX 512
#define TIMERS_MAX 2
#define SEEN_MAX 16
#define LOG_LINE_MAX 256
#define NEVER UINT64_MAX

struct world;

struct meta_rec {
	bool used;
	uint64_t key;
	uint32_t len;
	uint8_t bytes[META_BYTES];
};

struct timer {
	bool armed;
	uint32_t id;
	uint64_t deadline_ns;          /* on the node's clock */
};

struct fake_node {
	struct world *w;
	struct mesh_env env;
	struct mesh_toma *toma;
	uint64_t clock_offset_ns;
	bool down;
	uint8_t crash_after;           /* sending this type crashes the node; 0: never */
	struct timer timers[TIMERS_MAX];
	struct meta_rec meta[META_MAX]; /* survives restarts */
	unsigned error_lines;
	char last_error[LOG_LINE_MAX];
	/* For a test's callbacks: what on_config was told, pick_spare calls. */
	struct mesh_group_config seen[SEEN_MAX];
	unsigned seen_count;
	unsigned picks;
};

struct packet {
	uint32_t src, dst;
	size_t len;
	uint8_t bytes[MESH_PROTO_PREFIX_MAX];
};

struct reply {
	uint32_t src;
	struct mesh_msg m;
};

struct world {
	uint64_t now_ns;
	uint64_t rng;
	uint64_t req_id;
	uint64_t last_req[NODES];      /* the client's newest request to each node */
	bool log;
	struct fake_node nodes[NODES];
	bool cut[NODES][NODES];        /* [src][dst]: sends are lost */
	uint8_t drop[NODES][NODES];    /* [src][dst]: sends of this type are lost */
	struct packet queue[QUEUE_MAX];
	unsigned head, queued;
	struct reply inbox[INBOX_MAX];
	unsigned replies;
	struct mesh_toma_config cfg;   /* what node_start gives the managers */
	struct mesh_group_config initial;
	/* For a test's pick_spare: the spare it answers, or this error. */
	struct mesh_group_member spare;
	int spare_rc;
};

/* ---- the fake environment ---- */

static inline uint64_t fake_now_ns(void *ctx)
{
	const struct fake_node *n = ctx;

	return n->w->now_ns + n->clock_offset_ns;
}

static inline int fake_timer_arm(void *ctx, uint32_t id, uint64_t deadline_ns)
{
	struct fake_node *n = ctx;
	struct timer *slot = NULL;

	for (unsigned i = 0; i < TIMERS_MAX; i++) {
		struct timer *tm = &n->timers[i];

		if (tm->armed && tm->id == id) {
			tm->deadline_ns = deadline_ns;
			return 0;
		}
		if (!tm->armed && !slot)
			slot = tm;
	}
	if (!slot)
		return -ENOSPC;
	*slot = (struct timer){ .armed = true, .id = id, .deadline_ns = deadline_ns };
	return 0;
}

static inline void fake_timer_cancel(void *ctx, uint32_t id)
{
	struct fake_node *n = ctx;

	for (unsigned i = 0; i < TIMERS_MAX; i++) {
		if (n->timers[i].armed && n->timers[i].id == id)
			n->timers[i].armed = false;
	}
}

static inline struct packet *enqueue(struct world *w, uint32_t src, uint32_t dst,
				     const struct mesh_iov *iov, unsigned iovcnt)
{
	struct packet *p;

	assert_true(w->queued < QUEUE_MAX);
	p = &w->queue[(w->head + w->queued++) % QUEUE_MAX];
	p->src = src;
	p->dst = dst;
	p->len = 0;
	for (unsigned i = 0; i < iovcnt; i++) {
		assert_true(p->len + iov[i].len <= sizeof(p->bytes));
		memcpy(p->bytes + p->len, iov[i].base, iov[i].len);
		p->len += iov[i].len;
	}
	return p;
}

static inline int fake_send(void *ctx, uint32_t dst, const struct mesh_iov *iov, unsigned iovcnt)
{
	struct fake_node *n = ctx;
	struct world *w = n->w;
	uint32_t self = n->env.self;
	const struct packet *p;
	struct mesh_msg m;

	if ((dst == 0 || dst >= NODES) && dst != CLIENT)
		return -EHOSTUNREACH;
	/* Lost on the way: the sender cannot tell, as on a real network. */
	if (n->down || (dst < NODES && w->cut[self][dst]))
		return 0;
	p = enqueue(w, self, dst, iov, iovcnt);
	/* What core encodes must decode: check it where the sender is known. */
	assert_int_equal(mesh_proto_decode(p->bytes, p->len, &m), 0);
	if (dst < NODES && w->drop[self][dst] == m.hdr.type) {
		w->queued--; /* the newest packet: take it back */
		return 0;
	}
	if (n->crash_after == m.hdr.type)
		n->down = true;
	return 0;
}

/* A metadata store of META_MAX records, for any fake environment. */
static inline struct meta_rec *meta_store_find(struct meta_rec *meta, uint64_t key)
{
	for (unsigned i = 0; i < META_MAX; i++) {
		if (meta[i].used && meta[i].key == key)
			return &meta[i];
	}
	return NULL;
}

static inline int meta_store_put(struct meta_rec *meta, uint64_t key, const void *buf,
				 uint32_t len)
{
	struct meta_rec *r = meta_store_find(meta, key);

	if (len > META_BYTES)
		return -ENOSPC;
	for (unsigned i = 0; i < META_MAX && !r; i++) {
		if (!meta[i].used)
			r = &meta[i];
	}
	if (!r)
		return -ENOSPC;
	r->used = true;
	r->key = key;
	r->len = len;
	memcpy(r->bytes, buf, len);
	return 0;
}

static inline int meta_store_get(struct meta_rec *meta, uint64_t key, void *buf, uint32_t cap)
{
	struct meta_rec *r = meta_store_find(meta, key);

	if (!r)
		return -ENOENT;
	if (r->len > cap)
		return -ENOSPC;
	memcpy(buf, r->bytes, r->len);
	return (int)r->len;
}

static inline int fake_meta_put(void *ctx, uint64_t key, const void *buf, uint32_t len)
{
	return meta_store_put(((struct fake_node *)ctx)->meta, key, buf, len);
}

static inline int fake_meta_get(void *ctx, uint64_t key, void *buf, uint32_t cap)
{
	return meta_store_get(((struct fake_node *)ctx)->meta, key, buf, cap);
}

static inline uint64_t fake_random_u64(void *ctx)
{
	struct fake_node *n = ctx;

	return mesh_rng_next(&n->w->rng);
}

static inline void fake_vlog(void *ctx, enum mesh_log_level level, const char *fmt, va_list ap)
{
	struct fake_node *n = ctx;
	char line[LOG_LINE_MAX];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (level == MESH_LOG_ERROR) {
		n->error_lines++;
		memcpy(n->last_error, line, sizeof(n->last_error));
	}
	if (n->w->log)
		printf("%9.3f ms node %u %s: %s\n", (double)n->w->now_ns / MS, n->env.self,
		       mesh_log_level_name(level), line);
}

static const struct mesh_env_ops fake_ops = {
	.now_ns = fake_now_ns,
	.timer_arm = fake_timer_arm,
	.timer_cancel = fake_timer_cancel,
	.send = fake_send,
	.meta_put = fake_meta_put,
	.meta_get = fake_meta_get,
	.random_u64 = fake_random_u64,
	.vlog = fake_vlog,
};

/* ---- driving the world ---- */

static inline struct fake_node *node(struct world *w, uint32_t id)
{
	assert_true(id > 0 && id < NODES);
	return &w->nodes[id];
}

static inline struct mesh_toma *toma(struct world *w, uint32_t id)
{
	return node(w, id)->toma;
}

/* Make node @id's manager (callbacks get the node as their arg), voting
 * in the group when it was placed in it. A restart forgets its timers;
 * the metadata store stays. */
static inline void node_create(struct world *w, uint32_t id)
{
	struct fake_node *n = node(w, id);
	struct mesh_toma_config cfg = w->cfg;

	cfg.arg = n;
	memset(n->timers, 0, sizeof(n->timers));
	n->down = false;
	assert_int_equal(mesh_toma_create(&n->env, &cfg, &n->toma), 0);
	if (mesh_group_member_of(&w->initial, id) >= 0)
		assert_int_equal(mesh_toma_group_add(n->toma, &w->initial), 0);
}

/* Start node @id as it boots: its placed groups, then those it joined. */
static inline void node_start(struct world *w, uint32_t id)
{
	node_create(w, id);
	assert_int_equal(mesh_toma_resume_joined(toma(w, id)), 0);
}

static inline void node_stop(struct world *w, uint32_t id)
{
	mesh_toma_destroy(toma(w, id));
	node(w, id)->toma = NULL;
	node(w, id)->down = true;
}

/* A new world with SEED, logging when MESH_TEST_LOG is set, and every
 * node wired to the fake environment; clocks far apart, since only
 * intervals may matter. No manager is made yet. */
static inline struct world *world_new(void)
{
	struct world *w = calloc(1, sizeof(*w));
	const char *log = getenv("MESH_TEST_LOG");

	if (!w)
		return NULL;
	w->rng = SEED;
	w->log = log && *log && *log != '0';
	for (uint32_t id = 1; id < NODES; id++) {
		struct fake_node *n = node(w, id);

		n->w = w;
		n->env = (struct mesh_env){ .ops = &fake_ops, .ctx = n, .self = id };
		n->clock_offset_ns = id * 3600000 * MS;
	}
	return w;
}

static inline void world_free(struct world *w)
{
	for (uint32_t id = 1; id < NODES; id++)
		mesh_toma_destroy(w->nodes[id].toma);
	free(w);
}

static inline void deliver_one(struct world *w)
{
	const struct packet *p = &w->queue[w->head];
	uint32_t src = p->src, dst = p->dst;
	struct mesh_msg m;

	/* Decoded before anything is sent again, so the slot may be reused. */
	assert_int_equal(mesh_proto_decode(p->bytes, p->len, &m), 0);
	w->head = (w->head + 1) % QUEUE_MAX;
	w->queued--;
	if (dst == CLIENT) {
		assert_true(w->replies < INBOX_MAX);
		w->inbox[w->replies++] = (struct reply){ .src = src, .m = m };
		return;
	}
	if (!node(w, dst)->down)
		mesh_toma_on_msg(toma(w, dst), src, &m);
}

/* The live node's timer due first (world clock), if due by @until_ns. */
static inline bool next_timer(struct world *w, uint64_t until_ns, struct fake_node **out,
			      struct timer **timer)
{
	uint64_t best = NEVER;

	for (uint32_t id = 1; id < NODES; id++) {
		struct fake_node *n = node(w, id);

		for (unsigned i = 0; i < TIMERS_MAX && !n->down; i++) {
			struct timer *tm = &n->timers[i];
			uint64_t due;

			if (!tm->armed)
				continue;
			assert_true(tm->deadline_ns >= n->clock_offset_ns);
			due = tm->deadline_ns - n->clock_offset_ns;
			if (due < w->now_ns)
				due = w->now_ns;
			if (due <= until_ns && due < best) {
				best = due;
				*out = n;
				*timer = tm;
			}
		}
	}
	if (best == NEVER)
		return false;
	w->now_ns = best;
	return true;
}

/* Deliver every message, fire every timer due, up to @until_ns. */
static inline void run_until(struct world *w, uint64_t until_ns)
{
	struct fake_node *n;
	struct timer *tm;

	assert_true(until_ns >= w->now_ns);
	for (;;) {
		while (w->queued)
			deliver_one(w);
		if (!next_timer(w, until_ns, &n, &tm))
			break;
		tm->armed = false;
		mesh_toma_on_timer(n->toma, tm->id);
	}
	w->now_ns = until_ns;
}

/* Deliver what is in flight, at the current instant. */
static inline void settle(struct world *w)
{
	run_until(w, w->now_ns);
}

static inline const struct mesh_group_config *config_of(struct world *w, uint32_t id)
{
	const struct mesh_group_config *c = mesh_toma_config_of(toma(w, id), GROUP);

	assert_non_null(c);
	return c;
}

/* The epoch node @id holds, 0 when it does not vote in the group. */
static inline uint64_t epoch_of(struct world *w, uint32_t id)
{
	const struct mesh_group_config *c = mesh_toma_config_of(toma(w, id), GROUP);

	return c ? c->epoch : 0;
}

static inline struct mesh_toma_stats stats_of(struct world *w, uint32_t id)
{
	struct mesh_toma_stats s;

	mesh_toma_stats(toma(w, id), &s);
	return s;
}

static inline bool timers_idle(struct world *w, uint32_t id)
{
	for (unsigned i = 0; i < TIMERS_MAX; i++) {
		if (node(w, id)->timers[i].armed)
			return false;
	}
	return true;
}

/* One millisecond on, but not past @until_ns: the resolution at which
 * the run_until_* helpers tell when something happened. */
static inline void step(struct world *w, uint64_t until_ns)
{
	run_until(w, w->now_ns + MS < until_ns ? w->now_ns + MS : until_ns);
}

/* Run until node @id holds @epoch and return when, or NEVER past @until_ns. */
static inline uint64_t run_until_epoch(struct world *w, uint32_t id, uint64_t epoch,
				       uint64_t until_ns)
{
	while (epoch_of(w, id) < epoch) {
		if (w->now_ns >= until_ns)
			return NEVER;
		step(w, until_ns);
	}
	return w->now_ns;
}

/* ---- the test client ---- */

static inline void client_send(struct world *w, uint32_t dst, struct mesh_msg *m)
{
	uint8_t buf[MESH_PROTO_PREFIX_MAX];
	int n;

	m->hdr.req_id = ++w->req_id;
	if (dst < NODES)
		w->last_req[dst] = m->hdr.req_id;
	n = mesh_proto_encode(m, buf, sizeof(buf));
	assert_true(n > 0);
	enqueue(w, CLIENT, dst, &(struct mesh_iov){ buf, (size_t)n }, 1);
}

/* LEASE_REQUEST on @group for the longest lease, acting under @epoch. */
static inline void ask_lease_on(struct world *w, uint32_t dst, uint64_t group, uint64_t epoch)
{
	struct mesh_msg m = {
		.hdr = { .type = MESH_MSG_LEASE_REQUEST, .epoch = epoch },
		.u.lease_request = { .group = group, .client = CLIENT,
				     .duration_ns = LEASE_NS, .incarnation = 1 },
	};

	client_send(w, dst, &m);
}

static inline void ask_lease(struct world *w, uint32_t dst, uint64_t epoch)
{
	ask_lease_on(w, dst, GROUP, epoch);
}

/* CONFIG_READ with @ballot (0: a plain read). */
static inline void send_prepare(struct world *w, uint32_t dst, uint64_t ballot)
{
	struct mesh_msg m = {
		.hdr = { .type = MESH_MSG_CONFIG_READ },
		.u.config_read = { .group = GROUP, .ballot = ballot },
	};

	client_send(w, dst, &m);
}

static inline void send_propose(struct world *w, uint32_t dst, uint64_t ballot,
				const struct mesh_group_config *c)
{
	struct mesh_msg m = {
		.hdr = { .type = MESH_MSG_CONFIG_PROPOSE, .epoch = c->epoch },
		.u.config_propose = { .ballot = ballot, .config = *c },
	};

	client_send(w, dst, &m);
}

/* The answer to the client's newest request to @src, or NULL. */
static inline const struct mesh_msg *reply_from(struct world *w, uint32_t src, uint8_t type)
{
	settle(w);
	for (unsigned i = w->replies; i-- > 0;) {
		const struct mesh_msg *m = &w->inbox[i].m;

		if (w->inbox[i].src == src && m->hdr.req_id == w->last_req[src]) {
			assert_int_equal(m->hdr.type, type);
			return m;
		}
	}
	return NULL;
}

/* The answer to the client's newest request to @src, which must come. */
static inline const struct mesh_msg *answer_from(struct world *w, uint32_t src, uint8_t type)
{
	const struct mesh_msg *m = reply_from(w, src, type);

	if (!m)
		fail_msg("no answer from node %u", src);
	return m;
}

/* Replicas A (1) and B (2), then the witness W (3): three voters. */
static inline struct mesh_group_config mirror2(uint64_t bytes)
{
	struct mesh_group_config c = {
		.group = GROUP, .epoch = 1, .bytes = bytes, .copies = 2, .member_count = 3,
	};

	c.members[0] = (struct mesh_group_member){ 1, 0, MESH_MEMBER_REPLICA,
						   MESH_MEMBER_ACTIVE, 0 };
	c.members[1] = (struct mesh_group_member){ 2, 0, MESH_MEMBER_REPLICA,
						   MESH_MEMBER_ACTIVE, 0 };
	c.members[2] = (struct mesh_group_member){ 3, 0, MESH_MEMBER_WITNESS,
						   MESH_MEMBER_ACTIVE, 0 };
	return c;
}

/* cmocka set-up: every node started, holding mirror2(1 MiB), managers
 * with LEASE_NS and ROUND_NS. */
static inline int world_start(void **state)
{
	struct world *w = world_new();

	if (!w)
		return -1;
	w->cfg = (struct mesh_toma_config){
		.lease_ns = LEASE_NS, .drift_ppm = 0, .round_timeout_ns = ROUND_NS,
	};
	w->initial = mirror2(1u << 20);
	for (uint32_t id = 1; id < NODES; id++)
		node_start(w, id);
	*state = w;
	return 0;
}

static inline int world_teardown(void **state)
{
	world_free(*state);
	return 0;
}

#endif

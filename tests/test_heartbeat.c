/*
 * tests/test_heartbeat.c: failure detection among peers, in process.
 *
 * Real mesh_node objects in the in-process cluster (runtime/inproc.h), each
 * with a heartbeat attached. Every heartbeat acts through a "tap": an
 * environment that passes everything on to its node's own environment but
 * records each beat sent (when, to whom), counts error log lines, can make
 * sends fail, and gives the node its own random stream. Links are cut and
 * restored with mesh_inproc_link, which drops silently, as a real partition
 * does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>

#include "core/heartbeat.h"
#include "core/node.h"
#include "core/proto.h"
#include "prop.h"
#include "runtime/inproc.h"

#define NODES_MAX 40u
#define INTERVAL_NS 10000000ull                  /* 10 ms */
#define TIMEOUT_NS (3 * INTERVAL_NS)
#define ROUND_NS ((uint64_t)MESH_INPROC_ROUND_NS)
#define SECOND_NS 1000000000ull
#define CHANGES_MAX 16u
#define RX_BYTES (2u << 20)                      /* holds one largest message */
#define NEVER UINT64_MAX

/* One on_peer_change call. */
struct change {
	uint64_t at_ns;
	uint32_t peer;
	bool alive;
};

struct tap {
	struct mesh_env env;            /* what the heartbeat acts through */
	const struct mesh_env *inner;   /* the inproc node's own environment */
	uint64_t rng;                   /* this node's own random stream */
	int send_error;                 /* nonzero: every send fails with it */
	unsigned error_lines;
	uint64_t first_deadline_ns;     /* of the first timer armed */
	uint64_t first_send_ns;
	uint64_t sends_to[NODES_MAX];
	uint64_t last_send_ns[NODES_MAX];
	uint64_t gap_min_ns, gap_max_ns; /* between two beats to one peer */
	uint64_t window_from_ns, window_to_ns, window_sends;
	struct change changes[CHANGES_MAX];
	unsigned change_count;
};

struct world {
	struct mesh_inproc *host;
	uint32_t nodes;
	struct tap taps[NODES_MAX];
};

static uint64_t test_seed;

/* ---- the tap environment ---- */

static uint64_t tap_now_ns(void *ctx)
{
	const struct tap *t = ctx;

	return t->inner->ops->now_ns(t->inner->ctx);
}

static int tap_timer_arm(void *ctx, uint32_t id, uint64_t deadline_ns)
{
	struct tap *t = ctx;

	if (t->first_deadline_ns == NEVER)
		t->first_deadline_ns = deadline_ns;
	return t->inner->ops->timer_arm(t->inner->ctx, id, deadline_ns);
}

static void tap_timer_cancel(void *ctx, uint32_t id)
{
	const struct tap *t = ctx;

	t->inner->ops->timer_cancel(t->inner->ctx, id);
}

static void record_send(struct tap *t, uint32_t dst)
{
	uint64_t now = tap_now_ns(t);

	if (t->first_send_ns == NEVER)
		t->first_send_ns = now;
	if (now >= t->window_from_ns && now < t->window_to_ns)
		t->window_sends++;
	if (dst >= NODES_MAX)
		return;
	if (t->sends_to[dst]) {
		uint64_t gap = now - t->last_send_ns[dst];

		if (gap < t->gap_min_ns)
			t->gap_min_ns = gap;
		if (gap > t->gap_max_ns)
			t->gap_max_ns = gap;
	}
	t->sends_to[dst]++;
	t->last_send_ns[dst] = now;
}

static int tap_send(void *ctx, uint32_t dst, const struct mesh_iov *iov, unsigned iovcnt)
{
	struct tap *t = ctx;
	int rc;

	if (t->send_error)
		return t->send_error;
	rc = t->inner->ops->send(t->inner->ctx, dst, iov, iovcnt);
	if (rc == 0)
		record_send(t, dst);
	return rc;
}

static int tap_drive_submit(void *ctx, const struct mesh_drive_io *io)
{
	const struct tap *t = ctx;

	return t->inner->ops->drive_submit(t->inner->ctx, io);
}

static uint64_t tap_random_u64(void *ctx)
{
	return mesh_rng_next(&((struct tap *)ctx)->rng);
}

static void tap_vlog(void *ctx, enum mesh_log_level level, const char *fmt, va_list ap)
{
	struct tap *t = ctx;

	if (level == MESH_LOG_ERROR)
		t->error_lines++;
	t->inner->ops->vlog(t->inner->ctx, level, fmt, ap);
}

static const struct mesh_env_ops tap_ops = {
	.now_ns = tap_now_ns,
	.timer_arm = tap_timer_arm,
	.timer_cancel = tap_timer_cancel,
	.send = tap_send,
	.drive_submit = tap_drive_submit,
	.random_u64 = tap_random_u64,
	.vlog = tap_vlog,
};

static void record_change(void *arg, uint32_t peer, bool alive)
{
	struct tap *t = arg;

	assert_true(t->change_count < CHANGES_MAX);
	t->changes[t->change_count++] = (struct change){
		.at_ns = tap_now_ns(t), .peer = peer, .alive = alive,
	};
}

/* ---- the world: an in-process cluster with a heartbeat on every node ---- */

static struct mesh_heartbeat_config hb_config(struct tap *t, uint64_t interval_ns)
{
	return (struct mesh_heartbeat_config){
		.interval_ns = interval_ns,
		.timeout_ns = 3 * interval_ns,
		.on_peer_change = record_change,
		.arg = t,
	};
}

static struct mesh_node *node_of(struct world *w, uint32_t i)
{
	return mesh_inproc_node(w->host, i);
}

static struct mesh_heartbeat *hb_of(struct world *w, uint32_t i)
{
	return node_of(w, i)->heartbeat;
}

/* @nodes nodes, heartbeats made but without peers and not started, beating
 * every @interval_ns with a timeout of three intervals. Node i draws its
 * random numbers from a stream of its own, all from @seed. */
static struct world *world_create_every(uint32_t nodes, uint64_t seed, uint64_t interval_ns)
{
	struct world *w = calloc(1, sizeof(*w));
	struct mesh_inproc_config cfg = {
		.nodes = nodes, .seed = seed, .log_level = MESH_LOG_ERROR, .rx_bytes = RX_BYTES,
	};
	uint64_t streams = seed;

	assert_non_null(w);
	assert_true(nodes <= NODES_MAX);
	w->nodes = nodes;
	assert_int_equal(mesh_inproc_create(&cfg, &w->host), 0);
	for (uint32_t i = 0; i < nodes; i++) {
		struct tap *t = &w->taps[i];
		struct mesh_heartbeat_config hc = hb_config(t, interval_ns);

		t->inner = &node_of(w, i)->env;
		t->env = (struct mesh_env){ .ops = &tap_ops, .ctx = t, .self = i };
		t->rng = mesh_rng_next(&streams);
		t->first_deadline_ns = NEVER;
		t->first_send_ns = NEVER;
		t->gap_min_ns = NEVER;
		assert_int_equal(mesh_heartbeat_create(&t->env, &hc, &node_of(w, i)->heartbeat), 0);
	}
	return w;
}

static struct world *world_create(uint32_t nodes, uint64_t seed)
{
	return world_create_every(nodes, seed, INTERVAL_NS);
}

static void world_destroy(struct world *w)
{
	/* The host does not know about heartbeats: they go first, while the
	 * environment they cancel their timers through still exists. */
	for (uint32_t i = 0; i < w->nodes; i++) {
		mesh_heartbeat_destroy(node_of(w, i)->heartbeat);
		node_of(w, i)->heartbeat = NULL;
	}
	mesh_inproc_destroy(w->host);
	free(w);
}

static void add_peers(struct world *w, uint32_t i, const uint32_t *peers, unsigned count)
{
	for (unsigned k = 0; k < count; k++)
		assert_int_equal(mesh_heartbeat_peer_add(hb_of(w, i), peers[k]), 0);
}

/* Each node's peers are the @k nodes on either side of it on a ring. */
static void add_ring_peers(struct world *w, uint32_t k)
{
	for (uint32_t i = 0; i < w->nodes; i++) {
		for (uint32_t d = 1; d <= k; d++) {
			uint32_t peers[2] = { (i + d) % w->nodes, (i + w->nodes - d) % w->nodes };

			add_peers(w, i, peers, 2);
		}
	}
}

/* Every node peers with every other. */
static void add_all_peers(struct world *w)
{
	for (uint32_t i = 0; i < w->nodes; i++) {
		for (uint32_t j = 0; j < w->nodes; j++) {
			if (j != i)
				add_peers(w, i, &j, 1);
		}
	}
}

static void start_all(struct world *w)
{
	for (uint32_t i = 0; i < w->nodes; i++)
		assert_int_equal(mesh_heartbeat_start(hb_of(w, i)), 0);
}

static uint64_t now_ns(struct world *w)
{
	return mesh_inproc_now_ns(w->host);
}

/* Step until the clock reaches @t_ns; the step that crosses it may go past. */
static void run_until(struct world *w, uint64_t t_ns)
{
	while (now_ns(w) < t_ns)
		assert_true(mesh_inproc_step(w->host));
}

static void cut(struct world *w, uint32_t from, uint32_t to, bool up)
{
	assert_int_equal(mesh_inproc_link(w->host, from, to, up), 0);
}

static struct mesh_heartbeat_stats stats_of(struct world *w, uint32_t i)
{
	struct mesh_heartbeat_stats s;

	mesh_heartbeat_stats(hb_of(w, i), &s);
	return s;
}

static void set_window(struct world *w, uint64_t from_ns, uint64_t to_ns)
{
	for (uint32_t i = 0; i < w->nodes; i++) {
		w->taps[i].window_from_ns = from_ns;
		w->taps[i].window_to_ns = to_ns;
		w->taps[i].window_sends = 0;
	}
}

/* ---- tests ---- */

static void beats_go_every_interval_to_each_peer_and_only_to_peers(void **state)
{
	(void)state;
	struct world *w = world_create(6, test_seed);
	const uint32_t peers0[] = { 1, 2, 3 };
	const uint32_t rounds = 50;

	add_peers(w, 0, peers0, 3);
	for (uint32_t i = 1; i <= 3; i++)
		add_peers(w, i, &(uint32_t){ 0 }, 1);
	/* Nodes 4 and 5 have a heartbeat but no peers: nothing may reach them. */
	start_all(w);
	run_until(w, rounds * INTERVAL_NS);

	struct tap *t0 = &w->taps[0];

	for (uint32_t p = 1; p <= 3; p++) {
		assert_in_range(t0->sends_to[p], rounds, rounds + 1);
		/* Received: all sent but perhaps the last, still in flight. */
		assert_in_range(stats_of(w, p).beats_received, t0->sends_to[p] - 1, t0->sends_to[p]);
	}
	assert_int_equal(t0->sends_to[4] + t0->sends_to[5], 0);
	assert_in_range(t0->gap_min_ns, INTERVAL_NS - ROUND_NS, INTERVAL_NS);
	assert_in_range(t0->gap_max_ns, INTERVAL_NS, INTERVAL_NS + ROUND_NS);
	assert_int_equal(stats_of(w, 0).beats_sent, t0->sends_to[1] * 3);
	for (uint32_t i = 4; i <= 5; i++) {
		struct mesh_heartbeat_stats s = stats_of(w, i);

		assert_int_equal(s.beats_sent + s.beats_received + s.beats_ignored, 0);
		assert_int_equal(node_of(w, i)->rx_misrouted, 0);
	}
	for (uint32_t i = 0; i < 6; i++) {
		assert_int_equal(stats_of(w, i).suspicions, 0);
		assert_int_equal(w->taps[i].change_count, 0);
	}
	world_destroy(w);
}

/*
 * Node @watcher must suspect @silent exactly once, more than a timeout after
 * the last beat that got through (sent at @heard_ns) and no later than a
 * timeout, an interval and a delivery round after it.
 */
static void assert_suspected_in_bounds(struct world *w, uint32_t watcher, uint32_t silent,
				       uint64_t heard_ns)
{
	const struct tap *t = &w->taps[watcher];

	assert_int_equal(t->change_count, 1);
	assert_int_equal(t->changes[0].peer, silent);
	assert_false(t->changes[0].alive);
	assert_false(mesh_heartbeat_peer_alive(hb_of(w, watcher), silent));
	assert_true(t->changes[0].at_ns > heard_ns + TIMEOUT_NS);
	assert_true(t->changes[0].at_ns <= heard_ns + TIMEOUT_NS + INTERVAL_NS + ROUND_NS);
	assert_int_equal(stats_of(w, watcher).suspicions, 1);
}

/* ... and hear from it again with the first beat sent after the link came
 * back, in the round that carries it. */
static void assert_recovered(struct world *w, uint32_t watcher, uint32_t silent,
			     uint64_t restored_ns)
{
	const struct tap *t = &w->taps[watcher];
	uint64_t beat_ns = w->taps[silent].first_send_ns;

	assert_int_equal(t->change_count, 2);
	assert_int_equal(t->changes[1].peer, silent);
	assert_true(t->changes[1].alive);
	assert_true(mesh_heartbeat_peer_alive(hb_of(w, watcher), silent));
	assert_true(beat_ns >= restored_ns && beat_ns <= restored_ns + INTERVAL_NS + ROUND_NS);
	assert_in_range(t->changes[1].at_ns, beat_ns, beat_ns + ROUND_NS);
	assert_int_equal(stats_of(w, watcher).recoveries, 1);
}

/* The next beat @from sends is recorded as its first. */
static void watch_next_beat(struct world *w, uint32_t from)
{
	w->taps[from].first_send_ns = NEVER;
}

static void peers_set_keeps_listed_state_drops_the_rest_and_adds_the_new(void **state)
{
	(void)state;
	struct world *w = world_create(3, test_seed);
	struct mesh_heartbeat *hb = hb_of(w, 0);
	const uint32_t next[] = { 2, 5 }, with_self[] = { 2, 0 };

	add_all_peers(w);
	start_all(w);
	run_until(w, 10 * INTERVAL_NS);
	cut(w, 2, 0, false);
	run_until(w, now_ns(w) + TIMEOUT_NS + 3 * INTERVAL_NS);
	assert_false(mesh_heartbeat_peer_alive(hb, 2));
	unsigned changes = w->taps[0].change_count;

	assert_int_equal(mesh_heartbeat_peers_set(hb, next, 2), 0);
	assert_int_equal(mesh_heartbeat_peer_count(hb), 2);
	assert_false(mesh_heartbeat_peer_alive(hb, 1)); /* gone */
	assert_false(mesh_heartbeat_peer_alive(hb, 2)); /* still suspected */
	assert_true(mesh_heartbeat_peer_alive(hb, 5));  /* new: alive */
	assert_int_equal(w->taps[0].change_count, changes); /* no callback */
	/* The same list again changes nothing; this node itself is refused. */
	assert_int_equal(mesh_heartbeat_peers_set(hb, next, 2), 0);
	assert_int_equal(mesh_heartbeat_peer_count(hb), 2);
	assert_int_equal(mesh_heartbeat_peers_set(hb, with_self, 2), -EINVAL);
	assert_int_equal(mesh_heartbeat_peer_count(hb), 1);
	assert_int_equal(mesh_heartbeat_peers_set(hb, NULL, 0), 0);
	assert_int_equal(mesh_heartbeat_peer_count(hb), 0);
	world_destroy(w);
}

static void peer_cut_both_ways_is_suspected_after_timeout_and_recovers(void **state)
{
	(void)state;
	struct world *w = world_create(3, test_seed);

	add_all_peers(w);
	start_all(w);
	run_until(w, 10 * INTERVAL_NS);
	cut(w, 0, 2, false);
	cut(w, 2, 0, false);
	uint64_t heard_from_2 = w->taps[2].last_send_ns[0];
	uint64_t heard_from_0 = w->taps[0].last_send_ns[2];

	run_until(w, now_ns(w) + TIMEOUT_NS + 3 * INTERVAL_NS);
	assert_suspected_in_bounds(w, 0, 2, heard_from_2);
	assert_suspected_in_bounds(w, 2, 0, heard_from_0);
	assert_int_equal(w->taps[1].change_count, 0);

	/* Staying cut raises no second suspicion. */
	run_until(w, now_ns(w) + 10 * TIMEOUT_NS);
	assert_int_equal(w->taps[0].change_count, 1);
	assert_int_equal(w->taps[2].change_count, 1);

	uint64_t restored = now_ns(w);

	cut(w, 0, 2, true);
	cut(w, 2, 0, true);
	watch_next_beat(w, 0);
	watch_next_beat(w, 2);
	run_until(w, restored + 2 * INTERVAL_NS);
	assert_recovered(w, 0, 2, restored);
	assert_recovered(w, 2, 0, restored);

	/* Healthy again: no more transitions. */
	run_until(w, now_ns(w) + 10 * TIMEOUT_NS);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(w->taps[i].change_count, i == 1 ? 0 : 2);
	world_destroy(w);
}

static void one_way_cut_is_suspected_only_by_the_side_that_stops_hearing(void **state)
{
	(void)state;
	struct world *w = world_create(3, test_seed);

	add_all_peers(w);
	start_all(w);
	run_until(w, 10 * INTERVAL_NS);
	cut(w, 0, 2, false); /* 2 no longer hears 0; 0 still hears 2 */
	uint64_t heard_from_0 = w->taps[0].last_send_ns[2];

	run_until(w, now_ns(w) + TIMEOUT_NS + 3 * INTERVAL_NS);
	assert_suspected_in_bounds(w, 2, 0, heard_from_0);
	assert_int_equal(w->taps[0].change_count, 0);
	assert_true(mesh_heartbeat_peer_alive(hb_of(w, 0), 2));
	assert_int_equal(w->taps[1].change_count, 0);

	uint64_t restored = now_ns(w);

	cut(w, 0, 2, true);
	watch_next_beat(w, 0);
	run_until(w, restored + 2 * INTERVAL_NS);
	assert_recovered(w, 2, 0, restored);
	assert_int_equal(w->taps[0].change_count, 0);
	world_destroy(w);
}

static void first_beats_are_spread_over_one_interval(void **state)
{
	(void)state;
	const uint32_t n = NODES_MAX;
	/* Long, so that two of 40 offsets meet by chance once in 10^6 runs. */
	const uint64_t interval_ns = SECOND_NS;
	uint64_t first[NODES_MAX];
	uint64_t lo = NEVER, hi = 0;
	struct world *w = world_create_every(n, test_seed, interval_ns);

	add_ring_peers(w, 1);
	start_all(w);
	for (uint32_t i = 0; i < n; i++) {
		/* The scheduled instant: when beats go out, the environment's
		 * own delivery rounds may blur it. */
		first[i] = w->taps[i].first_deadline_ns;
		assert_true(first[i] < interval_ns);
		lo = first[i] < lo ? first[i] : lo;
		hi = first[i] > hi ? first[i] : hi;
		for (uint32_t j = 0; j < i; j++)
			assert_true(first[i] != first[j]);
	}
	/* 40 uniform offsets all within half an interval: odds of 2^-39. */
	assert_true(hi - lo > interval_ns / 2);
	world_destroy(w);

	/* The offsets come from the environment's seed, so a run replays. */
	w = world_create_every(n, test_seed, interval_ns);
	add_ring_peers(w, 1);
	start_all(w);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(w->taps[i].first_deadline_ns, first[i]);
	world_destroy(w);
}

/* A HEARTBEAT from @sender (the body's claim), encoded into @buf. */
static size_t encode_beat(uint32_t sender, uint8_t *buf, size_t cap)
{
	struct mesh_msg m = {
		.hdr = { .type = MESH_MSG_HEARTBEAT },
		.u.heartbeat = { .sender = sender, .seq = 1 },
	};
	int n = mesh_proto_encode(&m, buf, cap);

	assert_true(n > 0);
	return (size_t)n;
}

static void beats_from_non_peers_are_counted_and_ignored(void **state)
{
	(void)state;
	struct world *w = world_create(4, test_seed);

	add_peers(w, 0, &(uint32_t){ 1 }, 1);
	add_peers(w, 1, (const uint32_t[]){ 0, 3 }, 2);
	add_peers(w, 2, &(uint32_t){ 0 }, 1);  /* 0 does not count 2 as a peer */
	/* Node 3 has no heartbeat role at all. */
	mesh_heartbeat_destroy(hb_of(w, 3));
	node_of(w, 3)->heartbeat = NULL;
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(mesh_heartbeat_start(hb_of(w, i)), 0);
	run_until(w, 20 * INTERVAL_NS);

	struct mesh_heartbeat_stats s0 = stats_of(w, 0);
	uint64_t from_2 = w->taps[2].sends_to[0], to_3 = w->taps[1].sends_to[3];

	assert_true(from_2 >= 19);
	assert_in_range(s0.beats_ignored, from_2 - 1, from_2);
	assert_in_range(s0.beats_received, w->taps[1].sends_to[0] - 1, w->taps[1].sends_to[0]);
	assert_int_equal(mesh_heartbeat_peer_count(hb_of(w, 0)), 1);
	assert_false(mesh_heartbeat_peer_alive(hb_of(w, 0), 2));
	/* Without a heartbeat role, beats are misrouted and not answered:
	 * an ERROR back would land on node 1, which has no client role. */
	assert_in_range(node_of(w, 3)->rx_misrouted, to_3 - 1, to_3);
	assert_int_equal(node_of(w, 1)->rx_misrouted, 0);
	assert_int_equal(node_of(w, 0)->rx_misrouted + node_of(w, 2)->rx_misrouted, 0);

	/* A beat whose body names another sender than the one it came from. */
	uint8_t buf[MESH_PROTO_PREFIX_MAX];
	size_t len = encode_beat(2, buf, sizeof(buf));

	s0 = stats_of(w, 0);
	mesh_node_on_message(node_of(w, 0), 1, buf, len);
	assert_int_equal(stats_of(w, 0).beats_ignored, s0.beats_ignored + 1);
	assert_int_equal(stats_of(w, 0).beats_received, s0.beats_received);

	/* A malformed beat never reaches the heartbeat. */
	len = encode_beat(1, buf, sizeof(buf));
	mesh_node_on_message(node_of(w, 0), 1, buf, len - 1);
	assert_int_equal(node_of(w, 0)->rx_malformed, 1);
	assert_int_equal(stats_of(w, 0).beats_ignored, s0.beats_ignored + 1);
	assert_int_equal(stats_of(w, 0).beats_received, s0.beats_received);
	world_destroy(w);
}

static void invalid_config_is_refused_with_einval_and_a_log_line(void **state)
{
	(void)state;
	struct world *w = world_create(1, test_seed);
	struct tap *t = &w->taps[0];
	const struct { uint64_t interval_ns, timeout_ns; } bad[] = {
		{ 0, TIMEOUT_NS },
		{ MESH_HEARTBEAT_INTERVAL_NS_MIN - 1, TIMEOUT_NS },
		{ MESH_HEARTBEAT_INTERVAL_NS_MAX + 1, MESH_HEARTBEAT_TIMEOUT_NS_MAX },
		{ INTERVAL_NS, 0 },
		{ INTERVAL_NS, MESH_HEARTBEAT_TIMEOUT_INTERVALS_MIN * INTERVAL_NS - 1 },
		{ INTERVAL_NS, MESH_HEARTBEAT_TIMEOUT_NS_MAX + 1 },
		{ UINT64_MAX, UINT64_MAX },
	};
	const struct { uint64_t interval_ns, timeout_ns; } edges[] = {
		{ MESH_HEARTBEAT_INTERVAL_NS_MIN,
		  MESH_HEARTBEAT_TIMEOUT_INTERVALS_MIN * MESH_HEARTBEAT_INTERVAL_NS_MIN },
		{ MESH_HEARTBEAT_INTERVAL_NS_MAX, MESH_HEARTBEAT_TIMEOUT_NS_MAX },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mesh_heartbeat_config cfg = {
			.interval_ns = bad[i].interval_ns, .timeout_ns = bad[i].timeout_ns,
		};
		struct mesh_heartbeat *hb = NULL;
		unsigned lines = t->error_lines;

		assert_int_equal(mesh_heartbeat_create(&t->env, &cfg, &hb), -EINVAL);
		assert_null(hb);
		assert_int_equal(t->error_lines, lines + 1);
	}
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		struct mesh_heartbeat_config cfg = {
			.interval_ns = edges[i].interval_ns, .timeout_ns = edges[i].timeout_ns,
		};
		struct mesh_heartbeat *hb = NULL;

		assert_int_equal(mesh_heartbeat_create(&t->env, &cfg, &hb), 0);
		mesh_heartbeat_destroy(hb);
	}
	world_destroy(w);
}

static void peer_add_refuses_self_duplicates_and_overflow(void **state)
{
	(void)state;
	struct world *w = world_create(1, test_seed);
	struct mesh_heartbeat *hb = hb_of(w, 0);
	unsigned lines = w->taps[0].error_lines;

	assert_int_equal(mesh_heartbeat_peer_add(hb, 0), -EINVAL);
	assert_int_equal(w->taps[0].error_lines, lines + 1);
	for (uint32_t i = 0; i < MESH_HEARTBEAT_PEERS_MAX; i++)
		assert_int_equal(mesh_heartbeat_peer_add(hb, 100 + i), 0);
	assert_int_equal(mesh_heartbeat_peer_add(hb, 100), -EEXIST);
	assert_int_equal(mesh_heartbeat_peer_add(hb, 100 + MESH_HEARTBEAT_PEERS_MAX), -ENOSPC);
	assert_int_equal(mesh_heartbeat_peer_count(hb), MESH_HEARTBEAT_PEERS_MAX);

	assert_int_equal(mesh_heartbeat_peer_remove(hb, 7), -ENOENT);
	assert_int_equal(mesh_heartbeat_peer_remove(hb, 105), 0);
	assert_int_equal(mesh_heartbeat_peer_remove(hb, 105), -ENOENT);
	assert_false(mesh_heartbeat_peer_alive(hb, 105));
	assert_int_equal(mesh_heartbeat_peer_count(hb), MESH_HEARTBEAT_PEERS_MAX - 1);
	/* The peer that moved into the hole is still there. */
	assert_true(mesh_heartbeat_peer_alive(hb, 100 + MESH_HEARTBEAT_PEERS_MAX - 1));
	assert_int_equal(mesh_heartbeat_peer_add(hb, 100 + MESH_HEARTBEAT_PEERS_MAX), 0);
	assert_int_equal(mesh_heartbeat_peer_add(hb, 105), -ENOSPC);
	world_destroy(w);
}

static void start_twice_is_refused_and_stop_silences_beats(void **state)
{
	(void)state;
	struct world *w = world_create(2, test_seed);

	add_all_peers(w);
	start_all(w);
	assert_int_equal(mesh_heartbeat_start(hb_of(w, 0)), -EALREADY);
	run_until(w, 5 * INTERVAL_NS);
	mesh_heartbeat_stop(hb_of(w, 0));
	mesh_heartbeat_stop(hb_of(w, 0));
	uint64_t sent = stats_of(w, 0).beats_sent;

	run_until(w, now_ns(w) + TIMEOUT_NS + 2 * INTERVAL_NS);
	assert_int_equal(stats_of(w, 0).beats_sent, sent);
	assert_false(mesh_heartbeat_peer_alive(hb_of(w, 1), 0));
	/* Stopped, node 0 sweeps no more either: its peer stays alive. */
	assert_true(mesh_heartbeat_peer_alive(hb_of(w, 0), 1));
	assert_int_equal(mesh_heartbeat_start(hb_of(w, 0)), 0);
	run_until(w, now_ns(w) + 2 * INTERVAL_NS);
	assert_true(mesh_heartbeat_peer_alive(hb_of(w, 1), 0));
	world_destroy(w);
}

static void send_errors_are_counted_and_beating_goes_on(void **state)
{
	(void)state;
	struct world *w = world_create(3, test_seed);
	const uint32_t rounds = 6;

	add_all_peers(w);
	start_all(w);
	run_until(w, 5 * INTERVAL_NS);

	/* A full path: every beat fails with -EAGAIN for a while. */
	struct mesh_heartbeat_stats before = stats_of(w, 0);

	w->taps[0].send_error = -EAGAIN;
	run_until(w, now_ns(w) + rounds * INTERVAL_NS);
	struct mesh_heartbeat_stats after = stats_of(w, 0);

	assert_in_range(after.send_failures - before.send_failures, 2 * (rounds - 1),
			2 * (rounds + 1));
	assert_int_equal(after.beats_sent, before.beats_sent);
	assert_false(mesh_heartbeat_peer_alive(hb_of(w, 1), 0));
	assert_false(mesh_heartbeat_peer_alive(hb_of(w, 2), 0));
	w->taps[0].send_error = 0;
	run_until(w, now_ns(w) + 2 * INTERVAL_NS);
	assert_true(stats_of(w, 0).beats_sent > after.beats_sent);
	assert_true(mesh_heartbeat_peer_alive(hb_of(w, 1), 0));
	assert_true(mesh_heartbeat_peer_alive(hb_of(w, 2), 0));

	/* A peer the environment does not know: -EHOSTUNREACH, counted. It
	 * starts alive when added and is suspected a timeout later. */
	before = stats_of(w, 0);
	assert_int_equal(mesh_heartbeat_peer_add(hb_of(w, 0), 99), 0);
	assert_true(mesh_heartbeat_peer_alive(hb_of(w, 0), 99));
	run_until(w, now_ns(w) + TIMEOUT_NS + 2 * INTERVAL_NS);
	after = stats_of(w, 0);
	assert_true(after.send_failures - before.send_failures >= 3);
	assert_false(mesh_heartbeat_peer_alive(hb_of(w, 0), 99));
	assert_true(mesh_heartbeat_peer_alive(hb_of(w, 0), 1));
	assert_true(mesh_heartbeat_peer_alive(hb_of(w, 0), 2));
	assert_int_equal(after.suspicions, 1);
	world_destroy(w);
}

/*
 * Over one simulated second, each node of an @n-node cluster with 4 peers
 * sends peers / interval beats, and hears as many, without suspicions.
 */
static void check_rate(uint32_t n)
{
	const uint32_t peers = 4;
	const uint64_t expect = peers * (SECOND_NS / INTERVAL_NS);
	struct world *w = world_create(n, test_seed + n);
	uint64_t from = 5 * INTERVAL_NS;

	add_ring_peers(w, peers / 2);
	start_all(w);
	set_window(w, from, from + SECOND_NS);
	run_until(w, from + SECOND_NS + INTERVAL_NS);
	for (uint32_t i = 0; i < n; i++) {
		struct mesh_heartbeat_stats s = stats_of(w, i);

		assert_in_range(w->taps[i].window_sends, expect - peers, expect + peers);
		assert_in_range(s.beats_received, s.beats_sent - peers, s.beats_sent + peers);
		assert_int_equal(s.suspicions + s.beats_ignored + s.send_failures, 0);
		for (uint32_t j = 0; j < n; j++) {
			uint32_t d = (j + n - i) % n;

			if (d != 1 && d != 2 && d != n - 1 && d != n - 2)
				assert_int_equal(w->taps[i].sends_to[j], 0);
		}
	}
	world_destroy(w);
}

static void beats_per_node_do_not_grow_with_cluster_size(void **state)
{
	(void)state;
	check_rate(8);
	check_rate(NODES_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(beats_go_every_interval_to_each_peer_and_only_to_peers),
		cmocka_unit_test(peer_cut_both_ways_is_suspected_after_timeout_and_recovers),
		cmocka_unit_test(peers_set_keeps_listed_state_drops_the_rest_and_adds_the_new),
		cmocka_unit_test(one_way_cut_is_suspected_only_by_the_side_that_stops_hearing),
		cmocka_unit_test(first_beats_are_spread_over_one_interval),
		cmocka_unit_test(beats_from_non_peers_are_counted_and_ignored),
		cmocka_unit_test(invalid_config_is_refused_with_einval_and_a_log_line),
		cmocka_unit_test(peer_add_refuses_self_duplicates_and_overflow),
		cmocka_unit_test(start_twice_is_refused_and_stop_silences_beats),
		cmocka_unit_test(send_errors_are_counted_and_beating_goes_on),
		cmocka_unit_test(beats_per_node_do_not_grow_with_cluster_size),
	};

	test_seed = prop_seed("heartbeat");
	return cmocka_run_group_tests(tests, NULL, NULL);
}

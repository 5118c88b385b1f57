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

#define BLOCK 4096u

#include "tests/toma_world.h"
#include "tests/mirror_cluster.h"

#include "core/unsettled.h"

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

/* ---- end to end (tests/mirror_cluster.h) ---- */

static int cluster_setup(void **state)
{
	return cluster_make(state, &(struct cluster_options){ 0 });
}

static int cluster_setup_tail_only(void **state)
{
	return cluster_make(state, &(struct cluster_options){ .reads_tail_only = true });
}

static int cluster_setup_a_restarted(void **state)
{
	return cluster_make(state, &(struct cluster_options){ .a_restarted = true });
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

	write_and_read_back(cl, 0, 2, READS);
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

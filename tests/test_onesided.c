/*
 * tests/test_onesided.c: one-sided reads (docs/toma.md, "One-sided
 * reads"), end to end in the small cluster of tests/mirror_cluster.h:
 * the real client, targets and managers of a two-copy mirror (A, then the
 * tail B) with witness W. A client that reads one-sided asks the tail for
 * a key under the epoch it holds and then reads its drive without the
 * target's CPU; the tail grants only what a two-sided read there would be
 * served, and revokes the key when the epoch moves on.
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
#define META_MAX 4
#define META_BYTES 512
#define SEED 0x6f6e6573ull
#define BLOCK 4096u
#define READS 8

#include "tests/toma_world.h"
#include "tests/mirror_cluster.h"

static int one_sided_setup(void **state)
{
	return cluster_make(state, &(struct cluster_options){ .one_sided_reads = true });
}

static int two_sided_setup(void **state)
{
	return cluster_make(state, &(struct cluster_options){ 0 });
}

/* Read @offset until the read goes one-sided (the first asks for the key
 * and goes two-sided meanwhile); each must return @want. */
static void read_until_one_sided(struct cluster *cl, uint64_t offset, const uint8_t *want)
{
	uint8_t got[BLOCK];

	for (unsigned tries = 0;; tries++) {
		uint64_t before = client_stats(cl).reads_one_sided;

		assert_true(tries < 4);
		memset(got, 0, sizeof(got));
		assert_int_equal(io_sync(cl, MESH_IO_READ, offset, got, BLOCK), 0);
		assert_memory_equal(got, want, BLOCK);
		if (client_stats(cl).reads_one_sided > before)
			return;
	}
}

static void reads_come_from_the_tails_memory_without_its_cpu(void **state)
{
	struct cluster *cl = *state;
	uint8_t want[BLOCK], got[2 * BLOCK];
	struct mesh_target_stats a0, b0, a1, b1;

	fill_pattern(want, BLOCK, 1);
	assert_int_equal(io_sync(cl, MESH_IO_WRITE, 3 * BLOCK, want, BLOCK), 0);
	read_until_one_sided(cl, 3 * BLOCK, want);
	assert_int_equal(target_stats(cl, NODE_B).keys_granted, 1);
	assert_int_equal(keys_live(cl, NODE_B), 1);
	assert_int_equal(keys_live(cl, NODE_A), 0); /* only the tail is read so */

	a0 = target_stats(cl, NODE_A);
	b0 = target_stats(cl, NODE_B);
	unsigned rma0 = cl->rma_reads;
	for (unsigned i = 0; i < READS; i++) {
		memset(got, 0, sizeof(got));
		assert_int_equal(io_sync(cl, MESH_IO_READ, 3 * BLOCK, got, BLOCK), 0);
		assert_memory_equal(got, want, BLOCK);
	}
	a1 = target_stats(cl, NODE_A);
	b1 = target_stats(cl, NODE_B);
	/* No target served any of them: each was one RMA read of B's drive. */
	assert_int_equal(a1.reads - a0.reads, 0);
	assert_int_equal(b1.reads - b0.reads, 0);
	assert_int_equal(cl->rma_reads - rma0, READS);
	assert_int_equal(b1.keys_granted, 1); /* one key serves every read */
	assert_int_equal(client_stats(cl).one_sided_failed, 0);

	/* A write that completed is in what the next one-sided read sees,
	 * and a read across two blocks lands whole. */
	fill_pattern(want, BLOCK, 2);
	assert_int_equal(io_sync(cl, MESH_IO_WRITE, 4 * BLOCK, want, BLOCK), 0);
	assert_int_equal(io_sync(cl, MESH_IO_READ, 3 * BLOCK, got, 2 * BLOCK), 0);
	assert_memory_equal(got + BLOCK, want, BLOCK);
	assert_memory_equal(got, host_of(cl, NODE_B)->drive + 3 * BLOCK, BLOCK);
	assert_int_equal(target_stats(cl, NODE_B).reads, b1.reads);
}

/* A read in flight through a key revoked before it arrives fails at the
 * target, and the client reads again two-sided: fenced, never stale. */
static void read_through_a_revoked_key_is_sent_again_two_sided(void **state)
{
	struct cluster *cl = *state;
	uint8_t want[BLOCK], got[BLOCK];
	struct mesh_group_config next = *mesh_toma_config_of(host_of(cl, NODE_B)->node.toma,
							     GROUP);
	struct mesh_io io = { .volume = 0, .op = MESH_IO_READ, .offset = 0, .length = BLOCK,
			      .buf = got };
	uint64_t reads_before;

	fill_pattern(want, BLOCK, 3);
	assert_int_equal(io_sync(cl, MESH_IO_WRITE, 0, want, BLOCK), 0);
	read_until_one_sided(cl, 0, want);
	reads_before = target_stats(cl, NODE_A).reads + target_stats(cl, NODE_B).reads;

	memset(got, 0, sizeof(got));
	assert_int_equal(mesh_client_submit(client_of(cl), &io), 0);
	assert_int_equal(cl->rma_count, 1);
	/* The epoch moves on at B before the read gets there. */
	next = *mesh_toma_config_of(host_of(cl, NODE_B)->node.toma, GROUP);
	next.epoch++;
	mesh_target_on_config(host_of(cl, NODE_B)->node.target, &next);
	assert_int_equal(keys_live(cl, NODE_B), 0);
	assert_int_equal(target_stats(cl, NODE_B).keys_revoked, 1);

	assert_int_equal(io_wait(cl), 0);
	assert_memory_equal(got, want, BLOCK);
	assert_int_equal(client_stats(cl).one_sided_failed, 1);
	assert_int_equal(target_stats(cl, NODE_A).reads + target_stats(cl, NODE_B).reads,
			 reads_before + 1);
}

/* B's drive fails: B revokes its key at once, the group moves to an epoch
 * where A alone is active, and reads go one-sided to A, the new tail,
 * returning what was written last. */
static void tail_failure_revokes_its_key_and_reads_move_to_the_new_tail(void **state)
{
	struct cluster *cl = *state;
	uint8_t want[BLOCK], got[BLOCK];
	const struct mesh_group_config *config;
	int rc;

	fill_pattern(want, BLOCK, 4);
	assert_int_equal(io_sync(cl, MESH_IO_WRITE, 0, want, BLOCK), 0);
	read_until_one_sided(cl, 0, want);
	assert_int_equal(keys_live(cl, NODE_B), 1);

	host_of(cl, NODE_B)->drive_failed = true;
	fill_pattern(want, BLOCK, 5);
	/* Taken by A, failed by B: the chain changed under it. */
	rc = io_sync(cl, MESH_IO_WRITE, 0, want, BLOCK);
	assert_true(rc == 0 || rc == -EIO);
	assert_int_equal(keys_live(cl, NODE_B), 0);
	assert_true(target_stats(cl, NODE_B).keys_revoked >= 1);
	cluster_run_for(cl, 5 * ROUND_NS);
	config = mesh_toma_config_of(host_of(cl, NODE_A)->node.toma, GROUP);
	assert_int_equal(mesh_group_tail(config), 0); /* A */

	fill_pattern(want, BLOCK, 6);
	assert_int_equal(io_sync(cl, MESH_IO_WRITE, 0, want, BLOCK), 0);
	read_until_one_sided(cl, 0, want);
	assert_int_equal(keys_live(cl, NODE_A), 1);
	assert_int_equal(target_stats(cl, NODE_A).keys_granted, 1);
	memset(got, 0, sizeof(got));
	assert_int_equal(io_sync(cl, MESH_IO_READ, 0, got, BLOCK), 0);
	assert_memory_equal(got, want, BLOCK);
}

/* What the fake client is answered when it asks @dst for a key. */
static int fake_key_status(struct cluster *cl, uint32_t dst, uint64_t epoch, uint32_t access,
			   uint64_t offset)
{
	unsigned replies = cl->fake_replies;
	uint8_t buf[MESH_PROTO_PREFIX_MAX];
	struct mesh_msg m = {
		.hdr = { .type = MESH_MSG_RMA_GRANT_REQ, .req_id = 9, .epoch = epoch },
		.u.rma_grant_req = { .group = GROUP, .drive = 0, .access = access,
				     .offset = offset, .length = GROUP_BYTES },
	};
	int n = mesh_proto_encode(&m, buf, sizeof(buf));

	assert_true(n > 0);
	struct mesh_iov iov = { buf, (size_t)n };
	assert_int_equal(wire_put(cl, NODE_FAKE, dst, &iov, 1), 0);
	while (cl->fake_replies == replies)
		assert_true(cluster_step(cl, cl->now_ns));
	return cl->fake_status;
}

static void tail_grants_only_what_a_two_sided_read_would_be_served(void **state)
{
	struct cluster *cl = *state;

	assert_int_equal(fake_key_status(cl, NODE_B, 1, MESH_RMA_READ, 0), 0);
	assert_int_equal(fake_key_status(cl, NODE_B, 1, MESH_RMA_READ, 0), 0);
	assert_int_equal(keys_live(cl, NODE_B), 1); /* the same key, given twice */
	/* Not the tail: reads there must check for unsettled writes. */
	assert_int_equal(fake_key_status(cl, NODE_A, 1, MESH_RMA_READ, 0), -EXDEV);
	/* Writes would skip the chain and the dirty maps. */
	assert_int_equal(fake_key_status(cl, NODE_B, 1, MESH_RMA_WRITE, 0), -EPERM);
	assert_int_equal(fake_key_status(cl, NODE_B, 1, MESH_RMA_READ | MESH_RMA_WRITE, 0),
			 -EPERM);
	/* Another epoch, another extent, a node with no target role. */
	assert_int_equal(fake_key_status(cl, NODE_B, 2, MESH_RMA_READ, 0), -ESTALE);
	assert_int_equal(fake_key_status(cl, NODE_B, 1, MESH_RMA_READ, BLOCK), -ERANGE);
	assert_int_equal(fake_key_status(cl, NODE_W, 1, MESH_RMA_READ, 0), -EOPNOTSUPP);
	assert_int_equal(keys_live(cl, NODE_A) + keys_live(cl, NODE_W), 0);
	assert_int_equal(target_stats(cl, NODE_B).keys_refused, 4);
}

static void two_sided_client_never_asks_for_a_key(void **state)
{
	struct cluster *cl = *state;

	write_and_read_back(cl, 0, 7, READS);
	assert_int_equal(client_stats(cl).reads_one_sided, 0);
	assert_int_equal(cl->rma_reads, 0);
	assert_int_equal(target_stats(cl, NODE_B).keys_granted, 0);
	assert_int_equal(keys_live(cl, NODE_B), 0);
}

int main(void)
{
#define O(name) cmocka_unit_test_setup_teardown(name, one_sided_setup, cluster_teardown)
	const struct CMUnitTest tests[] = {
		O(reads_come_from_the_tails_memory_without_its_cpu),
		O(read_through_a_revoked_key_is_sent_again_two_sided),
		O(tail_failure_revokes_its_key_and_reads_move_to_the_new_tail),
		O(tail_grants_only_what_a_two_sided_read_would_be_served),
		cmocka_unit_test_setup_teardown(two_sided_client_never_asks_for_a_key,
						two_sided_setup, cluster_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

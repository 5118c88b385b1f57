/*
 * tests/test_history.c: the client-visible history and its two checkers.
 *
 * The hand-written histories show that the checkers have teeth (each known
 * bad pattern is a violation, reported on the right block with a readable
 * account) and that every outcome a correct register allows passes. The
 * property test simulates correct atomic registers under random concurrent
 * clients, whose writes may fail before or after taking effect or never
 * answer. Every such history must pass both checks. One provably illegal
 * mutation of each must then fail on the mutated block. A last test
 * measures how fast the checks run on a million operations.
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
#include <time.h>

#include "sim/history.h"
#include "prop.h"

#define US(x) ((uint64_t)(x) * 1000u)
#define PROP_HISTORIES 400
#define PROP_OPS_MAX 160
#define BENCH_OPS 1000000u

static const struct mesh_block_key BLK = { .volume = 1, .block = 7 };
static const struct mesh_block_key BLK2 = { .volume = 2, .block = 3 };

/* ---- building histories by hand (times in microseconds) ---- */

static struct mesh_history *history_new(void)
{
	struct mesh_history *h = NULL;

	assert_int_equal(mesh_history_create(&h), 0);
	assert_non_null(h);
	return h;
}

static void write_ok(struct mesh_history *h, struct mesh_block_key k, uint32_t client,
		     uint64_t value, uint64_t t0_us, uint64_t t1_us)
{
	int64_t op = mesh_history_invoke(h, k, MESH_HISTORY_WRITE, value, US(t0_us), client);

	assert_true(op >= 0);
	mesh_history_complete(h, op, MESH_HISTORY_OK, 0, US(t1_us));
}

/* A write that failed at @t1_us, or never answered (@outcome PENDING). */
static void write_open(struct mesh_history *h, struct mesh_block_key k, uint32_t client,
		       uint64_t value, uint64_t t0_us, enum mesh_history_outcome outcome,
		       uint64_t t1_us)
{
	int64_t op = mesh_history_invoke(h, k, MESH_HISTORY_WRITE, value, US(t0_us), client);

	assert_true(op >= 0);
	if (outcome != MESH_HISTORY_PENDING)
		mesh_history_complete(h, op, outcome, 0, US(t1_us));
}

static void read_ok(struct mesh_history *h, struct mesh_block_key k, uint32_t client,
		    uint64_t value, uint64_t t0_us, uint64_t t1_us)
{
	int64_t op = mesh_history_invoke(h, k, MESH_HISTORY_READ, 0, US(t0_us), client);

	assert_true(op >= 0);
	mesh_history_complete(h, op, MESH_HISTORY_OK, value, US(t1_us));
}

static void expect_linearizable(const struct mesh_history *h)
{
	struct mesh_check_report r;

	assert_int_equal(mesh_history_check_linearizable(h, &r), 0);
	if (r.has_violation)
		print_message("unexpected: %s\n", r.first_detail);
	assert_false(r.has_violation);
	assert_int_equal(r.violations, 0);
	assert_int_equal(r.undecided, 0);
	assert_int_equal(r.ops_checked, mesh_history_ops(h));
}

/* One violation, on block @k, whose account contains each of @needles. */
static void expect_report(const struct mesh_check_report *r, struct mesh_block_key k,
			  const char *const *needles)
{
	print_message("  reported: %s\n", r->first_detail);
	assert_true(r->has_violation);
	assert_int_equal(r->violations, 1);
	assert_int_equal(r->first_block.volume, k.volume);
	assert_int_equal(r->first_block.block, k.block);
	for (; needles && *needles; needles++) {
		if (!strstr(r->first_detail, *needles))
			fail_msg("\"%s\" not in \"%s\"", *needles, r->first_detail);
	}
}

#define NEEDLES(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void expect_not_linearizable(const struct mesh_history *h, struct mesh_block_key k,
				    const char *const *needles)
{
	struct mesh_check_report r;

	assert_int_equal(mesh_history_check_linearizable(h, &r), 0);
	assert_int_equal(r.undecided, 0);
	expect_report(&r, k, needles);
}

static void expect_durable(const struct mesh_history *h)
{
	struct mesh_check_report r;

	assert_int_equal(mesh_history_check_durability(h, &r), 0);
	if (r.has_violation)
		print_message("unexpected: %s\n", r.first_detail);
	assert_false(r.has_violation);
	assert_int_equal(r.violations, 0);
}

static void expect_not_durable(const struct mesh_history *h, struct mesh_block_key k,
			       const char *const *needles)
{
	struct mesh_check_report r;

	assert_int_equal(mesh_history_check_durability(h, &r), 0);
	expect_report(&r, k, needles);
}

/* ---- recording ---- */

struct seen {
	struct mesh_block_key keys[8];
	size_t n;
};

static void collect(void *arg, struct mesh_block_key key)
{
	struct seen *s = arg;

	assert_true(s->n < 8);
	s->keys[s->n++] = key;
}

static void history_counts_ops_and_blocks_and_lists_written_ones(void **state)
{
	struct mesh_history *h = history_new();
	struct mesh_block_key only_read = { .volume = 1, .block = 8 };
	struct seen s = { 0 };
	(void)state;

	assert_int_equal(mesh_history_ops(h), 0);
	assert_int_equal(mesh_history_blocks(h), 0);
	write_ok(h, BLK, 1, 0x10, 0, 10);
	read_ok(h, only_read, 1, 0, 20, 30);
	write_open(h, BLK2, 2, 0x11, 40, MESH_HISTORY_FAILED, 50);
	read_ok(h, BLK, 2, 0x10, 60, 70);
	/* A final value alone does not make a block touched by an operation. */
	assert_int_equal(mesh_history_final(h, (struct mesh_block_key){ 9, 9 }, 0), 0);
	assert_int_equal(mesh_history_ops(h), 4);
	assert_int_equal(mesh_history_blocks(h), 3);
	mesh_history_for_each_written(h, collect, &s);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.keys[0].block, BLK.block);
	assert_int_equal(s.keys[1].block, BLK2.block);
	mesh_history_destroy(h);
	mesh_history_destroy(NULL);
}

static void empty_history_passes_both_checks(void **state)
{
	struct mesh_history *h = history_new();
	struct mesh_check_report r;
	(void)state;

	assert_int_equal(mesh_history_check_linearizable(h, &r), 0);
	assert_int_equal(r.blocks_checked, 0);
	assert_false(r.has_violation);
	expect_durable(h);
	mesh_history_destroy(h);
}

/* ---- histories that must fail ---- */

static void read_of_older_value_after_acknowledged_write_is_a_violation(void **state)
{
	struct mesh_history *h = history_new();
	(void)state;

	write_ok(h, BLK, 1, 0x1, 0, 10);
	write_ok(h, BLK, 2, 0x2, 20, 30);
	read_ok(h, BLK, 3, 0x1, 40, 50);
	expect_not_linearizable(h, BLK, NEEDLES("client 3", "0.000040s", "returned 0x1",
						"client 2's write 0x2", "acknowledged at 0.000030s"));
	mesh_history_destroy(h);
}

static void read_of_initial_zero_after_acknowledged_write_is_a_violation(void **state)
{
	struct mesh_history *h = history_new();
	(void)state;

	write_ok(h, BLK, 1, 0x1, 0, 10);
	read_ok(h, BLK, 3, 0, 40, 50);
	expect_not_linearizable(h, BLK, NEEDLES("initial 0x0", "client 1's write 0x1"));
	mesh_history_destroy(h);
}

static void sequential_reads_returning_new_then_old_are_a_violation(void **state)
{
	struct mesh_history *h = history_new();
	(void)state;

	write_ok(h, BLK, 1, 0x1, 0, 10);
	write_ok(h, BLK, 2, 0x2, 20, 30);
	read_ok(h, BLK, 3, 0x2, 40, 50);
	read_ok(h, BLK, 4, 0x1, 60, 70);
	expect_not_linearizable(h, BLK, NEEDLES("client 4", "returned 0x1"));
	mesh_history_destroy(h);
}

/* The classic inversion: w2 overlaps both reads, so either alone is fine,
 * but once r1 saw 0x2, r2 can no longer see 0x1. */
static void reads_returning_new_then_old_during_one_write_are_a_violation(void **state)
{
	struct mesh_history *h = history_new();
	(void)state;

	write_ok(h, BLK, 1, 0x1, 0, 10);
	write_ok(h, BLK, 2, 0x2, 20, 100);
	read_ok(h, BLK, 3, 0x2, 30, 40);
	read_ok(h, BLK, 4, 0x1, 50, 60);
	expect_not_linearizable(h, BLK, NEEDLES("read by client 4 at 0.000050s returned 0x1",
						"client 3's read answered at 0.000040s",
						"had returned 0x2"));
	mesh_history_destroy(h);
}

/* w1 and w2 overlap, so either order is possible, but the reads see
 * 2, 1, 2: no order of the two writes explains that. No single pair of
 * operations is a witness, so the search names where it got stuck. */
static void reads_that_flip_between_concurrent_writes_are_a_violation(void **state)
{
	struct mesh_history *h = history_new();
	(void)state;

	write_ok(h, BLK, 1, 0x1, 0, 100);
	write_ok(h, BLK, 2, 0x2, 50, 150);
	read_ok(h, BLK, 3, 0x2, 60, 70);
	read_ok(h, BLK, 3, 0x1, 80, 90);
	read_ok(h, BLK, 3, 0x2, 200, 210);
	expect_not_linearizable(h, BLK, NEEDLES("no order of the block's 5 operations"));
	mesh_history_destroy(h);
}

static void read_of_a_never_written_value_is_a_violation(void **state)
{
	struct mesh_history *h = history_new();
	(void)state;

	write_ok(h, BLK, 1, 0x1, 0, 10);
	write_ok(h, BLK2, 1, 0x2, 0, 10);
	/* 0x2 exists, but on another block: still never written here. */
	read_ok(h, BLK, 3, 0x2, 40, 50);
	assert_int_equal(mesh_history_final(h, BLK, 0x1), 0);
	assert_int_equal(mesh_history_final(h, BLK2, 0x2), 0);
	expect_not_linearizable(h, BLK, NEEDLES("client 3", "0x2", "no write to this block"));
	expect_not_durable(h, BLK, NEEDLES("0x2", "no write to this block"));
	mesh_history_destroy(h);
}

static void corrupt_read_is_a_violation(void **state)
{
	struct mesh_history *h = history_new();
	(void)state;

	write_ok(h, BLK, 1, 0x1, 0, 10);
	read_ok(h, BLK, 3, MESH_HISTORY_VALUE_CORRUPT, 40, 50);
	expect_not_linearizable(h, BLK, NEEDLES("client 3", "corrupt"));
	assert_int_equal(mesh_history_final(h, BLK, 0x1), 0);
	expect_not_durable(h, BLK, NEEDLES("corrupt"));
	mesh_history_destroy(h);
}

static void read_of_a_write_invoked_after_it_answered_is_a_violation(void **state)
{
	struct mesh_history *h = history_new();
	(void)state;

	read_ok(h, BLK, 3, 0x1, 0, 10);
	write_ok(h, BLK, 1, 0x1, 20, 30);
	expect_not_linearizable(h, BLK, NEEDLES("client 3", "client 1 invoked that write "
						"only at 0.000020s"));
	mesh_history_destroy(h);
}

/* r1 saw the open write, which must then precede r1; r2 follows r1 and may
 * not see the value the open write replaced. */
static void read_of_an_open_write_then_of_the_value_before_is_a_violation(void **state)
{
	for (int pending = 0; pending < 2; pending++) {
		struct mesh_history *h = history_new();

		write_ok(h, BLK, 1, 0x1, 0, 10);
		write_open(h, BLK, 2, 0x2, 20,
			   pending ? MESH_HISTORY_PENDING : MESH_HISTORY_FAILED, 30);
		read_ok(h, BLK, 3, 0x2, 40, 50);
		read_ok(h, BLK, 4, 0x1, 60, 70);
		expect_not_linearizable(h, BLK, NEEDLES("client 4", "returned 0x1",
							"client 3's read"));
		mesh_history_destroy(h);
	}
	(void)state;
}

static void violation_is_reported_on_the_right_block_among_many(void **state)
{
	struct mesh_history *h = history_new();
	struct mesh_block_key bad = { .volume = 3, .block = 503 };
	struct mesh_check_report r;
	uint64_t v = 1;
	(void)state;

	/* 1000 blocks written and read in an interleaved round robin. */
	for (uint64_t round = 0; round < 5; round++) {
		for (uint64_t b = 0; b < 1000; b++) {
			struct mesh_block_key k = { .volume = (uint32_t)(b % 4), .block = b };
			uint64_t t = round * 100000 + b * 10;

			write_ok(h, k, (uint32_t)b % 7, v, t, t + 5);
			read_ok(h, k, (uint32_t)b % 5,
				round == 4 && k.volume == bad.volume && k.block == bad.block
					? v - 1000 : v, t + 6, t + 9);
			v++;
		}
	}
	expect_not_linearizable(h, bad, NEEDLES("read by client 3", "client 6's write"));
	assert_int_equal(mesh_history_check_linearizable(h, &r), 0);
	assert_int_equal(r.blocks_checked, 1000);
	assert_int_equal(r.ops_checked, 10000);
	mesh_history_destroy(h);
}

/* ---- histories that must pass ---- */

/* w1 [0,100] and w2 [50,150] overlap each other and read r [60,140]. */
static void concurrent_writes_and_reads_allow_every_legal_outcome(void **state)
{
	static const uint64_t during[] = { 0x0, 0x1, 0x2 };
	static const uint64_t after[] = { 0x1, 0x2 };
	(void)state;

	for (size_t i = 0; i < 3; i++) {
		for (size_t j = 0; j < 2; j++) {
			struct mesh_history *h = history_new();

			write_ok(h, BLK, 1, 0x1, 0, 100);
			write_ok(h, BLK, 2, 0x2, 50, 150);
			read_ok(h, BLK, 3, during[i], 60, 140);
			/* After both writes either may be last, whatever the
			 * read during them saw: e.g. 0x2 lands, r sees it,
			 * then 0x1 lands. */
			read_ok(h, BLK, 4, after[j], 200, 210);
			expect_linearizable(h);
			mesh_history_destroy(h);
		}
	}
}

/* 0x2 lands at 60, is read, then 0x1 lands at 75 and is read, and stays. */
static void writes_may_land_in_the_opposite_order_of_their_invocation(void **state)
{
	struct mesh_history *h = history_new();
	(void)state;

	write_ok(h, BLK, 1, 0x1, 0, 100);
	write_ok(h, BLK, 2, 0x2, 50, 150);
	read_ok(h, BLK, 3, 0x2, 60, 70);
	read_ok(h, BLK, 3, 0x1, 80, 90);
	read_ok(h, BLK, 4, 0x1, 200, 210);
	expect_linearizable(h);
	assert_int_equal(mesh_history_final(h, BLK, 0x1), 0);
	expect_durable(h);
	mesh_history_destroy(h);
}

static void failed_writes_may_or_may_not_take_effect(void **state)
{
	(void)state;

	for (int took = 0; took < 2; took++) {
		struct mesh_history *h = history_new();

		write_ok(h, BLK, 1, 0x1, 0, 10);
		write_open(h, BLK, 2, 0x2, 20, MESH_HISTORY_FAILED, 30);
		read_ok(h, BLK, 3, took ? 0x2 : 0x1, 40, 50);
		read_ok(h, BLK, 3, took ? 0x2 : 0x1, 60, 70);
		expect_linearizable(h);
		assert_int_equal(mesh_history_final(h, BLK, took ? 0x2 : 0x1), 0);
		expect_durable(h);
		mesh_history_destroy(h);
	}
}

/* A write that never answered may land at any time after its invocation,
 * even long after reads that did not see it. */
static void pending_writes_may_take_effect_at_any_later_time(void **state)
{
	struct mesh_history *h = history_new();
	(void)state;

	write_ok(h, BLK, 1, 0x1, 0, 10);
	write_open(h, BLK, 2, 0x2, 20, MESH_HISTORY_PENDING, 0);
	write_open(h, BLK, 5, 0x3, 25, MESH_HISTORY_PENDING, 0); /* never seen */
	read_ok(h, BLK, 3, 0x1, 40, 50);
	read_ok(h, BLK, 3, 0x1, 1000, 1010);
	read_ok(h, BLK, 4, 0x2, 5000, 5010);
	read_ok(h, BLK, 3, 0x2, 6000, 6010);
	expect_linearizable(h);
	assert_int_equal(mesh_history_final(h, BLK, 0x2), 0);
	expect_durable(h);
	/* The unseen pending write may also be the final value. */
	assert_int_equal(mesh_history_final(h, BLK, 0x3), 0);
	expect_durable(h);
	mesh_history_destroy(h);
}

static void reads_before_or_during_the_first_write_return_zero(void **state)
{
	struct mesh_history *h = history_new();
	int64_t failed;
	(void)state;

	read_ok(h, BLK, 3, 0, 0, 10);
	write_ok(h, BLK, 1, 0x1, 20, 100);
	read_ok(h, BLK, 4, 0, 30, 40);
	read_ok(h, BLK, 3, 0x1, 50, 60);
	/* A failed read tells nothing, whatever it carries. */
	failed = mesh_history_invoke(h, BLK, MESH_HISTORY_READ, 0, US(200), 5);
	mesh_history_complete(h, failed, MESH_HISTORY_FAILED, 0x77, US(210));
	assert_true(mesh_history_invoke(h, BLK, MESH_HISTORY_READ, 0, US(220), 6) >= 0);
	expect_linearizable(h);
	mesh_history_destroy(h);
}

/* Several clients, three blocks, heavy overlap: exercises the search (no
 * block is sequential) with outcomes that need non-obvious orders. */
static void overlapping_clients_on_many_blocks_pass(void **state)
{
	struct mesh_history *h = history_new();
	struct mesh_block_key k3 = { .volume = 1, .block = 1 };
	struct mesh_check_report r;
	(void)state;

	write_ok(h, BLK, 1, 0x11, 0, 50);
	write_ok(h, BLK2, 1, 0x21, 5, 55);
	write_ok(h, BLK, 2, 0x12, 10, 60);
	read_ok(h, k3, 4, 0, 12, 80);
	write_open(h, k3, 3, 0x31, 15, MESH_HISTORY_FAILED, 30);
	read_ok(h, BLK, 3, 0x12, 20, 40);
	read_ok(h, BLK2, 4, 0, 22, 45);
	read_ok(h, BLK, 4, 0x11, 45, 70);
	read_ok(h, k3, 5, 0x31, 85, 90);
	write_ok(h, BLK2, 2, 0x22, 56, 70);
	read_ok(h, BLK2, 5, 0x21, 57, 65);
	read_ok(h, BLK2, 5, 0x22, 71, 75);
	read_ok(h, BLK, 5, 0x11, 100, 110);
	expect_linearizable(h);
	assert_int_equal(mesh_history_check_linearizable(h, &r), 0);
	assert_int_equal(r.blocks_checked, 3);
	assert_true(r.states_visited > 0);
	mesh_history_destroy(h);
}

/* ---- durability ---- */

static void lost_acknowledged_write_is_a_durability_violation(void **state)
{
	struct mesh_history *h = history_new();
	(void)state;

	write_ok(h, BLK, 1, 0x1, 0, 10);
	write_ok(h, BLK, 2, 0x2, 20, 30);
	write_ok(h, BLK2, 2, 0x3, 20, 30);
	assert_int_equal(mesh_history_final(h, BLK2, 0x3), 0);
	assert_int_equal(mesh_history_final(h, BLK, 0x1), 0);
	expect_not_durable(h, BLK, NEEDLES("final value 0x1", "client 1", "client 2's write 0x2",
					   "invoked at 0.000020s"));
	assert_int_equal(mesh_history_final(h, BLK, 0), 0);
	expect_not_durable(h, BLK, NEEDLES("initial 0x0", "client 2's write 0x2"));
	assert_int_equal(mesh_history_final(h, BLK, 0x2), 0);
	expect_durable(h);
	mesh_history_destroy(h);
}

static void missing_final_value_is_a_durability_violation(void **state)
{
	struct mesh_history *h = history_new();
	(void)state;

	write_ok(h, BLK, 1, 0x1, 0, 10);
	/* A block with only open writes needs no final value. */
	write_open(h, BLK2, 2, 0x2, 0, MESH_HISTORY_FAILED, 10);
	expect_not_durable(h, BLK, NEEDLES("never read back", "client 1's write 0x1"));
	mesh_history_destroy(h);
}

static void durability_rejects_final_values_no_write_produced(void **state)
{
	struct mesh_history *h = history_new();
	struct mesh_block_key untouched = { .volume = 5, .block = 5 };
	(void)state;

	write_open(h, BLK, 2, 0x2, 0, MESH_HISTORY_FAILED, 10);
	assert_int_equal(mesh_history_final(h, BLK, 0x99), 0);
	expect_not_durable(h, BLK, NEEDLES("final value 0x99", "no write"));
	assert_int_equal(mesh_history_final(h, BLK, MESH_HISTORY_VALUE_CORRUPT), 0);
	expect_not_durable(h, BLK, NEEDLES("corrupt"));
	/* The failed write may have landed, or not. */
	assert_int_equal(mesh_history_final(h, BLK, 0x2), 0);
	expect_durable(h);
	assert_int_equal(mesh_history_final(h, BLK, 0), 0);
	expect_durable(h);
	/* A block nobody wrote must read back as 0. */
	assert_int_equal(mesh_history_final(h, untouched, 0), 0);
	expect_durable(h);
	assert_int_equal(mesh_history_final(h, untouched, 0x2), 0);
	expect_not_durable(h, untouched, NEEDLES("no write"));
	mesh_history_destroy(h);
}

static void final_recorded_twice_keeps_the_last_value(void **state)
{
	struct mesh_history *h = history_new();
	(void)state;

	write_ok(h, BLK, 1, 0x1, 0, 10);
	write_ok(h, BLK, 2, 0x2, 20, 30);
	assert_int_equal(mesh_history_final(h, BLK, 0x2), 0);
	assert_int_equal(mesh_history_final(h, BLK, 0x1), 0);
	expect_not_durable(h, BLK, NEEDLES("final value 0x1"));
	assert_int_equal(mesh_history_final(h, BLK, 0x2), 0);
	expect_durable(h);
	mesh_history_destroy(h);
}

/* ---- the search's bound ---- */

/* 20 mutually concurrent writes, then two reads that see different ones:
 * impossible, but proving it takes ~20 * 2^19 configurations, past the
 * bound. The block must be undecided, neither passed nor failed. */
static void search_past_its_state_bound_reports_undecided(void **state)
{
	struct mesh_history *h = history_new();
	struct mesh_check_report r;
	(void)state;

	for (uint64_t v = 1; v <= 20; v++)
		write_ok(h, BLK, (uint32_t)v, v, v, 100);
	read_ok(h, BLK, 30, 1, 200, 210);
	read_ok(h, BLK, 30, 2, 220, 230);
	assert_int_equal(mesh_history_check_linearizable(h, &r), 0);
	assert_int_equal(r.undecided, 1);
	assert_int_equal(r.violations, 0);
	assert_false(r.has_violation);
	assert_true(r.states_visited > MESH_LINCHECK_STATES_MAX);
	mesh_history_destroy(h);
}

/* ---- random histories of correct registers ---- */

struct gop {
	uint64_t inv_ns, resp_ns, lp_ns;
	uint64_t value;         /* written, or returned */
	uint32_t block, client;
	enum mesh_history_op kind;
	enum mesh_history_outcome outcome;
	bool effect;            /* writes: took effect at lp_ns */
};

struct gen {
	struct gop *ops;
	size_t n;
	uint32_t blocks;
	uint64_t *reg;          /* each block's value at the end */
};

struct lp_order {
	uint64_t lp_ns;
	size_t k;
};

static int lp_cmp(const void *a, const void *b)
{
	const struct lp_order *x = a, *y = b;

	if (x->lp_ns != y->lp_ns)
		return x->lp_ns < y->lp_ns ? -1 : 1;
	return x->k < y->k ? -1 : x->k > y->k;
}

static struct mesh_block_key gen_key(uint32_t b)
{
	return (struct mesh_block_key){ .volume = b % 3, .block = (uint64_t)b * 977 + 5 };
}

static uint32_t gen_block_of(struct mesh_block_key k)
{
	return (uint32_t)((k.block - 5) / 977);
}

/* An outcome for op @o, and whether a write took effect. */
static void gen_outcome(uint64_t *rng, struct gop *o)
{
	uint64_t roll = prop_range(rng, 0, 99);

	o->effect = false;
	if (o->kind == MESH_HISTORY_READ) {
		o->outcome = roll < 90 ? MESH_HISTORY_OK
			   : roll < 95 ? MESH_HISTORY_FAILED : MESH_HISTORY_PENDING;
		return;
	}
	if (roll < 80) {
		o->outcome = MESH_HISTORY_OK;
		o->effect = true;
	} else if (roll < 87) {
		o->outcome = MESH_HISTORY_FAILED; /* failed after landing */
		o->effect = true;
	} else if (roll < 94) {
		o->outcome = MESH_HISTORY_FAILED; /* failed before landing */
	} else {
		o->outcome = MESH_HISTORY_PENDING;
		o->effect = prop_range(rng, 0, 1);
	}
}

/* Applies ops in order of their linearization points to one atomic
 * register per block; reads get the value they would see. */
static void gen_linearize(struct gen *g)
{
	struct lp_order *order = malloc(g->n * sizeof(*order));

	assert_non_null(order);
	for (size_t k = 0; k < g->n; k++)
		order[k] = (struct lp_order){ g->ops[k].lp_ns, k };
	qsort(order, g->n, sizeof(*order), lp_cmp);
	memset(g->reg, 0, g->blocks * sizeof(*g->reg));
	for (size_t i = 0; i < g->n; i++) {
		struct gop *o = &g->ops[order[i].k];

		if (o->kind == MESH_HISTORY_WRITE && o->effect)
			g->reg[o->block] = o->value;
		else if (o->kind == MESH_HISTORY_READ)
			o->value = g->reg[o->block];
	}
	free(order);
}

/*
 * @n ops by @clients clients on @blocks blocks. Each client runs one op at
 * a time; the client free earliest goes next, so ops of different clients
 * overlap. Each op takes effect at a point drawn inside its interval.
 */
static void gen_history(uint64_t *rng, struct gen *g, size_t n, uint32_t blocks,
			uint32_t clients, uint64_t gap_ns_max, uint64_t dur_ns_max)
{
	uint64_t *t = calloc(clients, sizeof(*t));

	assert_non_null(t);
	g->ops = calloc(n, sizeof(*g->ops));
	g->reg = calloc(blocks, sizeof(*g->reg));
	assert_non_null(g->ops);
	assert_non_null(g->reg);
	g->n = n;
	g->blocks = blocks;
	for (uint32_t c = 0; c < clients; c++)
		t[c] = prop_range(rng, 0, gap_ns_max);
	for (size_t k = 0; k < n; k++) {
		struct gop *o = &g->ops[k];
		uint32_t c = 0;
		uint64_t dur = prop_range(rng, 1000, dur_ns_max);

		for (uint32_t i = 1; i < clients; i++)
			if (t[i] < t[c])
				c = i;
		o->client = c;
		o->block = (uint32_t)prop_range(rng, 0, blocks - 1);
		o->inv_ns = t[c] + prop_range(rng, 0, gap_ns_max);
		o->resp_ns = o->inv_ns + dur;
		o->lp_ns = o->inv_ns + prop_range(rng, 0, dur);
		t[c] = o->resp_ns;
		o->kind = prop_range(rng, 0, 1) ? MESH_HISTORY_READ : MESH_HISTORY_WRITE;
		o->value = o->kind == MESH_HISTORY_WRITE ? k + 1 : 0;
		gen_outcome(rng, o);
	}
	gen_linearize(g);
	free(t);
}

static void gen_free(struct gen *g)
{
	free(g->ops);
	free(g->reg);
}

struct finals {
	struct mesh_history *h;
	const struct gen *g;
};

static void record_final(void *arg, struct mesh_block_key key)
{
	struct finals *f = arg;

	assert_int_equal(mesh_history_final(f->h, key, f->g->reg[gen_block_of(key)]), 0);
}

/* Records @g into a new history, with each written block's final value. */
static struct mesh_history *gen_record(const struct gen *g)
{
	struct mesh_history *h = history_new();
	struct finals f = { h, g };

	for (size_t k = 0; k < g->n; k++) {
		const struct gop *o = &g->ops[k];
		int64_t op = mesh_history_invoke(h, gen_key(o->block), o->kind, o->value,
						 o->inv_ns, o->client);

		assert_true(op >= 0);
		if (o->outcome != MESH_HISTORY_PENDING)
			mesh_history_complete(h, op, o->outcome, o->value, o->resp_ns);
	}
	mesh_history_for_each_written(h, record_final, &f);
	return h;
}

static bool acked_write_before(const struct gop *w, uint32_t block, uint64_t t_ns)
{
	return w->kind == MESH_HISTORY_WRITE && w->outcome == MESH_HISTORY_OK &&
	       w->block == block && w->resp_ns < t_ns;
}

/*
 * Makes one successful read stale in a way no order can explain: it now
 * returns the value of an acknowledged write w0 that completed before an
 * acknowledged write w was invoked, while w completed before the read was
 * invoked (or returns the initial 0 when only w exists). Returns the block,
 * or -1 if the history has no such read.
 */
static int64_t mutate_stale_read(uint64_t *rng, struct gen *g)
{
	size_t start = prop_range(rng, 0, g->n - 1);

	for (size_t i = 0; i < g->n; i++) {
		struct gop *r = &g->ops[(start + i) % g->n];
		const struct gop *w = NULL, *w0 = NULL;

		if (r->kind != MESH_HISTORY_READ || r->outcome != MESH_HISTORY_OK)
			continue;
		for (size_t a = 0; a < g->n && !w0; a++) {
			if (!acked_write_before(&g->ops[a], r->block, r->inv_ns))
				continue;
			w = &g->ops[a];
			for (size_t b = 0; b < g->n && !w0; b++)
				if (acked_write_before(&g->ops[b], r->block, w->inv_ns))
					w0 = &g->ops[b];
		}
		if (!w)
			continue;
		r->value = w0 ? w0->value : 0;
		return r->block;
	}
	return -1;
}

/* Makes one block's final value older than an acknowledged write (or 0).
 * Returns the block, or -1 if no write was acknowledged. */
static int64_t mutate_lost_write(struct mesh_history *h, const struct gen *g)
{
	for (size_t a = 0; a < g->n; a++) {
		const struct gop *w = &g->ops[a];
		uint64_t old = 0;

		if (w->kind != MESH_HISTORY_WRITE || w->outcome != MESH_HISTORY_OK)
			continue;
		for (size_t b = 0; b < g->n; b++)
			if (acked_write_before(&g->ops[b], w->block, w->inv_ns))
				old = g->ops[b].value;
		assert_int_equal(mesh_history_final(h, gen_key(w->block), old), 0);
		return w->block;
	}
	return -1;
}

static void expect_failure_on(const struct mesh_check_report *r, uint32_t block, uint64_t seed,
			      int iter)
{
	struct mesh_block_key k = gen_key(block);

	if (r->violations != 1 || r->first_block.volume != k.volume ||
	    r->first_block.block != k.block)
		fail_msg("history %d (seed %llu): mutation on block %u not reported "
			 "(violations %llu, undecided %llu)", iter, (unsigned long long)seed,
			 block, (unsigned long long)r->violations,
			 (unsigned long long)r->undecided);
}

static void random_correct_histories_pass_and_mutations_fail(void **state)
{
	uint64_t seed = prop_seed("history property"), rng = seed;
	uint64_t ops = 0, states = 0, stale = 0, lost = 0;
	(void)state;

	for (int iter = 0; iter < PROP_HISTORIES; iter++) {
		struct gen g;
		struct mesh_history *h;
		struct mesh_check_report r;
		int64_t b;

		gen_history(&rng, &g, prop_range(&rng, 2, PROP_OPS_MAX),
			    (uint32_t)prop_range(&rng, 1, 6), (uint32_t)prop_range(&rng, 2, 8),
			    US(prop_range(&rng, 0, 50)), US(prop_range(&rng, 2, 100)));
		h = gen_record(&g);
		assert_int_equal(mesh_history_check_linearizable(h, &r), 0);
		if (r.violations || r.undecided)
			fail_msg("history %d (seed %llu) is correct but failed: %s", iter,
				 (unsigned long long)seed, r.first_detail);
		ops += r.ops_checked;
		states += r.states_visited;
		expect_durable(h);
		b = mutate_lost_write(h, &g);
		if (b >= 0) {
			assert_int_equal(mesh_history_check_durability(h, &r), 0);
			expect_failure_on(&r, (uint32_t)b, seed, iter);
			lost++;
		}
		mesh_history_destroy(h);

		b = mutate_stale_read(&rng, &g);
		if (b >= 0) {
			h = gen_record(&g);
			assert_int_equal(mesh_history_check_linearizable(h, &r), 0);
			expect_failure_on(&r, (uint32_t)b, seed, iter);
			mesh_history_destroy(h);
			stale++;
		}
		gen_free(&g);
	}
	print_message("history property: %d histories, %llu ops, %llu states; %llu stale reads "
		      "and %llu lost writes caught\n", PROP_HISTORIES, (unsigned long long)ops,
		      (unsigned long long)states, (unsigned long long)stale,
		      (unsigned long long)lost);
	assert_true(stale > PROP_HISTORIES / 2);
	assert_true(lost > PROP_HISTORIES / 2);
}

/* ---- small random histories, legal or not, against brute force ---- */

#define ORACLE_HISTORIES 3000
#define ORACLE_OPS_MAX 7

/*
 * The definition, searched naively: some order of the ops places each op
 * only when every op that answered before it was invoked is already placed,
 * every read sees the last write placed before it, and every op that
 * answered is placed (open writes may be left out). @placed is a bit set.
 */
static bool oracle_search(const struct gop *ops, size_t n, uint32_t placed, uint64_t reg)
{
	bool done = true;

	for (size_t a = 0; a < n; a++)
		if (!(placed & 1u << a) && ops[a].outcome == MESH_HISTORY_OK)
			done = false;
	if (done)
		return true;
	for (size_t a = 0; a < n; a++) {
		bool blocked = false;

		if (placed & 1u << a)
			continue;
		for (size_t b = 0; b < n && !blocked; b++)
			blocked = !(placed & 1u << b) && ops[b].outcome == MESH_HISTORY_OK &&
				  ops[b].resp_ns < ops[a].inv_ns;
		if (blocked)
			continue;
		if (ops[a].kind == MESH_HISTORY_WRITE &&
		    oracle_search(ops, n, placed | 1u << a, ops[a].value))
			return true;
		if (ops[a].kind == MESH_HISTORY_READ && ops[a].value == reg &&
		    oracle_search(ops, n, placed | 1u << a, reg))
			return true;
	}
	return false;
}

/* A small history on one block with arbitrary read values: times on a
 * coarse grid so that overlaps and ties are common. */
static size_t oracle_history(uint64_t *rng, struct gop *ops)
{
	size_t n = prop_range(rng, 1, ORACLE_OPS_MAX), m = 0;
	uint64_t writes = 0;

	for (size_t k = 0; k < n; k++) {
		struct gop *o = &ops[k];

		o->kind = prop_range(rng, 0, 1) ? MESH_HISTORY_READ : MESH_HISTORY_WRITE;
		o->inv_ns = US(prop_range(rng, 0, 12));
		o->resp_ns = o->inv_ns + US(prop_range(rng, 0, 6));
		o->client = (uint32_t)k;
		o->block = 0;
		gen_outcome(rng, o);
		if (o->kind == MESH_HISTORY_WRITE)
			o->value = ++writes;
	}
	for (size_t k = 0; k < n; k++) {
		uint64_t pick = prop_range(rng, 0, writes + 1);

		if (ops[k].kind == MESH_HISTORY_READ)
			ops[k].value = pick <= writes ? pick : 0x999; /* 0x999: never written */
	}
	/* The oracle ignores failed and pending reads, as the checker must. */
	for (size_t k = 0; k < n; k++)
		if (ops[k].kind == MESH_HISTORY_WRITE || ops[k].outcome == MESH_HISTORY_OK)
			ops[m++] = ops[k];
	return m;
}

static void checker_agrees_with_brute_force_on_small_histories(void **state)
{
	uint64_t seed = prop_seed("history oracle"), rng = seed;
	unsigned legal = 0, illegal = 0;
	(void)state;

	for (int iter = 0; iter < ORACLE_HISTORIES; iter++) {
		struct gop ops[ORACLE_OPS_MAX];
		struct gen g = { .ops = ops, .blocks = 1, .reg = &(uint64_t){ 0 } };
		struct mesh_check_report r;
		struct mesh_history *h;
		bool expect;

		g.n = oracle_history(&rng, ops);
		expect = oracle_search(ops, g.n, 0, 0);
		h = gen_record(&g);
		assert_int_equal(mesh_history_check_linearizable(h, &r), 0);
		assert_int_equal(r.undecided, 0);
		if (r.has_violation == expect)
			fail_msg("history %d (seed %llu): checker says %s, brute force says %s (%s)",
				 iter, (unsigned long long)seed, r.has_violation ? "no" : "yes",
				 expect ? "yes" : "no", r.first_detail);
		mesh_history_destroy(h);
		expect ? legal++ : illegal++;
	}
	print_message("history oracle: %d histories, %u linearizable, %u not\n",
		      ORACLE_HISTORIES, legal, illegal);
	assert_true(legal > ORACLE_HISTORIES / 5 && illegal > ORACLE_HISTORIES / 5);
}

/* ---- throughput, measured and printed, never asserted ---- */

static double seconds_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench(uint64_t *rng, const char *what, uint32_t blocks, uint32_t clients)
{
	struct mesh_check_report r;
	struct mesh_history *h;
	struct gen g;
	double t0, t1, t2;

	gen_history(rng, &g, BENCH_OPS, blocks, clients, US(20), US(100));
	h = gen_record(&g);
	t0 = seconds_now();
	assert_int_equal(mesh_history_check_linearizable(h, &r), 0);
	t1 = seconds_now();
	if (r.violations || r.undecided)
		fail_msg("%s: correct history failed: %s", what, r.first_detail);
	print_message("%s: %u ops over %llu blocks, %u clients: linearizability %.2fs "
		      "(%.2f Mops/s, %llu states)", what, BENCH_OPS,
		      (unsigned long long)r.blocks_checked, clients, t1 - t0,
		      BENCH_OPS / (t1 - t0) / 1e6, (unsigned long long)r.states_visited);
	expect_durable(h);
	t2 = seconds_now();
	print_message(", durability %.2fs\n", t2 - t1);
	mesh_history_destroy(h);
	gen_free(&g);
}

static void check_throughput_on_a_million_operations(void **state)
{
	uint64_t rng = prop_seed("history throughput");
	(void)state;

	bench(&rng, "spread", 10000, 64);
	bench(&rng, "hot", 16, 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(history_counts_ops_and_blocks_and_lists_written_ones),
		cmocka_unit_test(empty_history_passes_both_checks),
		cmocka_unit_test(read_of_older_value_after_acknowledged_write_is_a_violation),
		cmocka_unit_test(read_of_initial_zero_after_acknowledged_write_is_a_violation),
		cmocka_unit_test(sequential_reads_returning_new_then_old_are_a_violation),
		cmocka_unit_test(reads_returning_new_then_old_during_one_write_are_a_violation),
		cmocka_unit_test(reads_that_flip_between_concurrent_writes_are_a_violation),
		cmocka_unit_test(read_of_a_never_written_value_is_a_violation),
		cmocka_unit_test(corrupt_read_is_a_violation),
		cmocka_unit_test(read_of_a_write_invoked_after_it_answered_is_a_violation),
		cmocka_unit_test(read_of_an_open_write_then_of_the_value_before_is_a_violation),
		cmocka_unit_test(violation_is_reported_on_the_right_block_among_many),
		cmocka_unit_test(concurrent_writes_and_reads_allow_every_legal_outcome),
		cmocka_unit_test(writes_may_land_in_the_opposite_order_of_their_invocation),
		cmocka_unit_test(failed_writes_may_or_may_not_take_effect),
		cmocka_unit_test(pending_writes_may_take_effect_at_any_later_time),
		cmocka_unit_test(reads_before_or_during_the_first_write_return_zero),
		cmocka_unit_test(overlapping_clients_on_many_blocks_pass),
		cmocka_unit_test(lost_acknowledged_write_is_a_durability_violation),
		cmocka_unit_test(missing_final_value_is_a_durability_violation),
		cmocka_unit_test(durability_rejects_final_values_no_write_produced),
		cmocka_unit_test(final_recorded_twice_keeps_the_last_value),
		cmocka_unit_test(search_past_its_state_bound_reports_undecided),
		cmocka_unit_test(random_correct_histories_pass_and_mutations_fail),
		cmocka_unit_test(checker_agrees_with_brute_force_on_small_histories),
		cmocka_unit_test(check_throughput_on_a_million_operations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * tests/test_simkit.c: the simulator's own pieces, without SimGrid: the
 * event agenda, the delivery shim's fault rules, and the drive model.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/layout.h"
#include "prop.h"
#include "sim/agenda.h"
#include "sim/netfault.h"
#include "sim/scenario.h"
#include "sim/simdrive.h"

/* ---- agenda ---- */

static void agenda_pops_earliest_first_and_ties_in_insertion_order(void **state)
{
	struct mesh_agenda ag = { 0 };
	struct mesh_agenda_entry e;
	uint64_t seed = prop_seed("agenda order");
	uint64_t last_at = 0, last_seq = 0;

	(void)state;
	for (uint32_t i = 0; i < 10000; i++)
		assert_int_equal(mesh_agenda_push(&ag, prop_range(&seed, 0, 50), MESH_AGENDA_TIMER, i,
						  0, NULL), 0);
	for (uint32_t i = 0; i < 10000; i++) {
		assert_true(mesh_agenda_pop(&ag, &e));
		assert_true(e.at_ns >= last_at);
		if (e.at_ns == last_at && i)
			assert_true(e.seq > last_seq);
		last_at = e.at_ns;
		last_seq = e.seq;
	}
	assert_false(mesh_agenda_pop(&ag, &e));
	assert_int_equal(mesh_agenda_next_ns(&ag), UINT64_MAX);
	mesh_agenda_free(&ag);
}

static void agenda_pop_due_takes_nothing_from_the_future(void **state)
{
	struct mesh_agenda ag = { 0 };
	struct mesh_agenda_entry e;

	(void)state;
	mesh_agenda_push(&ag, 100, MESH_AGENDA_TIMER, 1, 0, NULL);
	mesh_agenda_push(&ag, 50, MESH_AGENDA_TIMER, 2, 0, NULL);
	assert_int_equal(mesh_agenda_next_ns(&ag), 50);
	assert_false(mesh_agenda_pop_due(&ag, 49, &e));
	assert_true(mesh_agenda_pop_due(&ag, 50, &e));
	assert_int_equal(e.a, 2);
	assert_false(mesh_agenda_pop_due(&ag, 99, &e));
	assert_true(mesh_agenda_pop_due(&ag, 1000, &e));
	assert_int_equal(e.a, 1);
	mesh_agenda_free(&ag);
}

/* ---- delivery shim ---- */

static struct mesh_scenario *scenario(const char *faults)
{
	static struct mesh_scenario s;
	char text[2048], err[512];

	snprintf(text, sizeof(text),
		 "duration 1s\n"
		 "topology targets=6 clients=2 racks=2 drives=1 drive_bytes=1GiB\n"
		 "%s", faults);
	if (mesh_scenario_parse("t.scn", text, &s, err, sizeof(err))) {
		print_error("%s\n", err);
		fail();
	}
	return &s;
}

static int start_all(struct mesh_netfault *nf, const struct mesh_scenario *s)
{
	int rule = -1;

	for (uint32_t i = 0; i < s->fault_count; i++)
		rule = mesh_netfault_start(nf, &s->faults[i]);
	return rule;
}

static void partition_cuts_both_ways_and_never_a_node_from_itself(void **state)
{
	const struct mesh_scenario *s = scenario("at 1ms partition node:0 | nodes:1-2\n");
	struct mesh_netfault nf;

	(void)state;
	mesh_netfault_init(&nf, s);
	assert_false(mesh_netfault_cut(&nf, 0, 1));
	start_all(&nf, s);
	assert_true(mesh_netfault_cut(&nf, 0, 1));
	assert_true(mesh_netfault_cut(&nf, 2, 0));
	assert_false(mesh_netfault_cut(&nf, 1, 2));
	assert_false(mesh_netfault_cut(&nf, 0, 0));
	assert_false(mesh_netfault_cut(&nf, 0, 3));
	mesh_netfault_heal(&nf);
	assert_false(mesh_netfault_cut(&nf, 0, 1));
}

static void one_way_partition_cuts_only_its_direction(void **state)
{
	const struct mesh_scenario *s = scenario("at 1ms partition clients -> rack:0\n");
	struct mesh_netfault nf;

	(void)state;
	mesh_netfault_init(&nf, s);
	start_all(&nf, s);
	/* 8 nodes, 2 racks: nodes 0-3 in rack 0; clients are 6 and 7. */
	assert_true(mesh_netfault_cut(&nf, 6, 0));
	assert_false(mesh_netfault_cut(&nf, 0, 6));
	assert_false(mesh_netfault_cut(&nf, 6, 5));
}

static void flap_rule_is_toggled_by_the_controller(void **state)
{
	const struct mesh_scenario *s = scenario("at 1ms flap node:0 | node:1 period=10ms until=100ms\n");
	struct mesh_netfault nf;
	int rule;

	(void)state;
	mesh_netfault_init(&nf, s);
	rule = start_all(&nf, s);
	assert_true(rule >= 0);
	assert_true(mesh_netfault_cut(&nf, 1, 0));
	mesh_netfault_set_active(&nf, rule, false);
	assert_false(mesh_netfault_cut(&nf, 1, 0));
	mesh_netfault_set_active(&nf, rule, true);
	assert_true(mesh_netfault_cut(&nf, 0, 1));
}

static void message_faults_act_at_their_rates_from_the_seed(void **state)
{
	const struct mesh_scenario *s = scenario("at 1ms loss p=10% from=clients to=targets\n"
						 "at 1ms duplicate p=20%\n"
						 "at 1ms delay extra=100us jitter=50us from=node:6 to=node:0\n");
	struct mesh_netfault nf;
	struct mesh_netfault_verdict v;
	uint64_t rng = prop_seed("netfault rates"), again;
	unsigned lost = 0, dup = 0, n = 20000;

	(void)state;
	mesh_netfault_init(&nf, s);
	start_all(&nf, s);
	again = rng;
	for (unsigned i = 0; i < n; i++) {
		mesh_netfault_judge(&nf, 6, 0, &rng, &v);
		lost += v.copies == 0;
		dup += v.copies == 2;
		for (uint32_t c = 0; c < v.copies; c++) {
			assert_true(v.extra_ns[c] >= 100000);
			assert_true(v.extra_ns[c] <= 150000);
		}
	}
	/* 10% lost; of the rest 20% doubled: within 5 standard deviations. */
	assert_in_range(lost, n / 10 - 5 * 43, n / 10 + 5 * 43);
	assert_in_range(dup, n * 18 / 100 - 5 * 55, n * 18 / 100 + 5 * 55);
	/* Targets to clients: no loss rule applies. */
	mesh_netfault_judge(&nf, 0, 6, &rng, &v);
	assert_int_equal(v.extra_ns[0], 0);
	/* The same stream gives the same verdicts. */
	struct mesh_netfault_verdict first, second;
	uint64_t a = again, b = again;

	mesh_netfault_judge(&nf, 6, 0, &a, &first);
	mesh_netfault_judge(&nf, 6, 0, &b, &second);
	assert_memory_equal(&first, &second, sizeof(first));
}

static void node_faults_are_not_the_shims(void **state)
{
	const struct mesh_scenario *s = scenario("at 1ms crash node:1\nat 2ms heal\n");
	struct mesh_netfault nf;

	(void)state;
	mesh_netfault_init(&nf, s);
	assert_false(mesh_netfault_handles(MESH_SCN_CRASH));
	assert_true(mesh_netfault_handles(MESH_SCN_HEAL));
	assert_int_equal(mesh_netfault_start(&nf, &s->faults[0]), -EINVAL);
	assert_int_equal(mesh_netfault_start(&nf, &s->faults[1]), 0);
}

/* ---- drive model ---- */

static const struct mesh_scn_drive_model model = {
	.read_latency_ns = 80000,
	.write_latency_ns = 20000,
	.bandwidth_bps = 2000000000ull,
	.queue_depth = 2,
};

static void drive_stores_only_written_blocks_and_reads_zeros_elsewhere(void **state)
{
	struct mesh_simdrive d;
	uint8_t buf[3 * MESH_BLOCK_BYTES], back[3 * MESH_BLOCK_BYTES];
	uint64_t seed = prop_seed("simdrive contents");

	(void)state;
	assert_int_equal(mesh_simdrive_init(&d, 1ull << 40, 2), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)prop_next(&seed);
	/* An unaligned write spanning three blocks touches four. */
	struct mesh_drive_io w = { .op = MESH_DRIVE_WRITE, .offset = (1ull << 39) + 512,
				   .length = sizeof(buf), .buf = buf };
	assert_int_equal(mesh_simdrive_apply(&d, &w), (int)sizeof(buf));
	assert_int_equal(mesh_simdrive_blocks_stored(&d), 4);
	struct mesh_drive_io r = w;

	r.op = MESH_DRIVE_READ;
	r.buf = back;
	assert_int_equal(mesh_simdrive_apply(&d, &r), (int)sizeof(back));
	assert_memory_equal(buf, back, sizeof(buf));
	r.offset = 4096;
	assert_int_equal(mesh_simdrive_apply(&d, &r), (int)sizeof(back));
	for (size_t i = 0; i < sizeof(back); i++)
		assert_int_equal(back[i], 0);
	/* Outside the drive, and a failed drive. */
	r.offset = (1ull << 40) - 512;
	assert_int_equal(mesh_simdrive_apply(&d, &r), -ERANGE);
	d.failed = true;
	r.offset = 0;
	assert_int_equal(mesh_simdrive_apply(&d, &r), -EIO);
	mesh_simdrive_free(&d);
}

static void drive_serves_queue_depth_commands_at_once_then_queues(void **state)
{
	struct mesh_simdrive d;
	/* 4 KiB at 2 GB/s is 2048 ns on top of the latency. */
	uint64_t read_ns = 80000 + 2048, write_ns = 20000 + 2048;

	(void)state;
	mesh_simdrive_init(&d, 1ull << 30, model.queue_depth);
	assert_int_equal(mesh_simdrive_schedule(&d, &model, MESH_DRIVE_READ, 4096, 1000), 1000 + read_ns);
	assert_int_equal(mesh_simdrive_schedule(&d, &model, MESH_DRIVE_WRITE, 4096, 1000), 1000 + write_ns);
	/* Both slots busy: the third waits for the write's slot. */
	assert_int_equal(mesh_simdrive_schedule(&d, &model, MESH_DRIVE_WRITE, 4096, 1000),
			 1000 + 2 * write_ns);
	/* A slow drive takes factor times as long. */
	d.slow_factor = 10.0;
	assert_int_equal(mesh_simdrive_schedule(&d, &model, MESH_DRIVE_READ, 4096, 10000000),
			 10000000 + 10 * read_ns);
	mesh_simdrive_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(agenda_pops_earliest_first_and_ties_in_insertion_order),
		cmocka_unit_test(agenda_pop_due_takes_nothing_from_the_future),
		cmocka_unit_test(partition_cuts_both_ways_and_never_a_node_from_itself),
		cmocka_unit_test(one_way_partition_cuts_only_its_direction),
		cmocka_unit_test(flap_rule_is_toggled_by_the_controller),
		cmocka_unit_test(message_faults_act_at_their_rates_from_the_seed),
		cmocka_unit_test(node_faults_are_not_the_shims),
		cmocka_unit_test(drive_stores_only_written_blocks_and_reads_zeros_elsewhere),
		cmocka_unit_test(drive_serves_queue_depth_commands_at_once_then_queues),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * tests/test_group.c: the topology manager's configuration rules
 * (core/group.h, docs/toma.md).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/group.h"
#include "prop.h"

/* Two replicas on nodes 10 and 11 plus a witness on node 12. */
static struct mesh_group_config mirror2(void)
{
	struct mesh_group_config c = { .group = 7, .epoch = 1, .copies = 2, .member_count = 3 };

	c.members[0] = (struct mesh_group_member){ 10, 0, MESH_MEMBER_REPLICA, MESH_MEMBER_ACTIVE, 0 };
	c.members[1] = (struct mesh_group_member){ 11, 1, MESH_MEMBER_REPLICA, MESH_MEMBER_ACTIVE, 0 };
	c.members[2] = (struct mesh_group_member){ 12, 0, MESH_MEMBER_WITNESS, MESH_MEMBER_ACTIVE, 0 };
	return c;
}

static struct mesh_group_config mirror3(void)
{
	struct mesh_group_config c = { .group = 8, .epoch = 5, .copies = 3, .member_count = 3 };

	for (unsigned i = 0; i < 3; i++)
		c.members[i] = (struct mesh_group_member){ 20 + i, 0, MESH_MEMBER_REPLICA,
							   MESH_MEMBER_ACTIVE, 0 };
	return c;
}

static void expect_refused(const struct mesh_group_config *c, const char *words)
{
	const char *why = NULL;

	assert_int_equal(mesh_group_check(c, &why), -EINVAL);
	assert_non_null(why);
	assert_non_null(strstr(why, words));
}

static void valid_configurations_pass(void **state)
{
	struct mesh_group_config a = mirror2(), b = mirror3();
	const char *why = "unset";

	(void)state;
	assert_int_equal(mesh_group_check(&a, &why), 0);
	assert_null(why);
	assert_int_equal(mesh_group_check(&b, NULL), 0);
	assert_int_equal(mesh_group_voters(&a), 3);
	assert_int_equal(mesh_group_majority(&a), 2);
	assert_int_equal(mesh_group_majority(&b), 2);
}

static void invalid_configurations_are_refused_with_a_reason(void **state)
{
	struct mesh_group_config c;

	(void)state;
	c = mirror2();
	c.member_count = 2;
	memset(&c.members[2], 0, sizeof(c.members[2]));
	expect_refused(&c, "witness is needed");
	c = mirror3();
	c.member_count = 4;
	c.members[3] = (struct mesh_group_member){ 30, 0, MESH_MEMBER_WITNESS, MESH_MEMBER_ACTIVE, 0 };
	expect_refused(&c, "witness is needed");
	c = mirror2();
	c.members[2].state = MESH_MEMBER_STALE;
	expect_refused(&c, "witness that is not active");
	c = mirror2();
	c.members[1].node = 10;
	expect_refused(&c, "two members on one node");
	c = mirror2();
	c.members[0].state = MESH_MEMBER_STALE;
	c.members[1].state = MESH_MEMBER_REBUILDING;
	expect_refused(&c, "no active replica");
	c = mirror2();
	c.members[0].state = 9;
	expect_refused(&c, "on the wire");
}

static void changes_follow_the_state_machine_and_bump_the_epoch(void **state)
{
	struct mesh_group_config c = mirror2(), stale, rebuilding, active, replaced;
	const char *why;

	(void)state;
	assert_int_equal(mesh_group_change(&c, MESH_GROUP_MARK_STALE, 1, 0, 0, 0, &stale, &why), 0);
	assert_int_equal(stale.epoch, c.epoch + 1);
	assert_int_equal(stale.members[1].state, MESH_MEMBER_STALE);
	/* A returning replica moves to the head of the chain and stays. */
	assert_int_equal(mesh_group_change(&stale, MESH_GROUP_START_REBUILD, 1, 0, 0, 0, &rebuilding,
					   &why), 0);
	assert_int_equal(rebuilding.members[0].node, 11);
	assert_int_equal(rebuilding.members[0].state, MESH_MEMBER_REBUILDING);
	assert_int_equal(rebuilding.members[1].node, 10);
	assert_int_equal(rebuilding.members[2].node, 12);
	assert_int_equal(mesh_group_change(&rebuilding, MESH_GROUP_MARK_ACTIVE, 0, 0, 0, 0, &active,
					   &why), 0);
	assert_int_equal(active.epoch, c.epoch + 3);
	assert_int_equal(active.members[0].node, 11);
	assert_int_equal(active.members[0].state, MESH_MEMBER_ACTIVE);
	assert_int_equal(mesh_group_change(&stale, MESH_GROUP_REPLACE, 1, 40, 3, 1 << 20, &replaced,
					   &why), 0);
	assert_int_equal(replaced.members[0].node, 40);
	assert_int_equal(replaced.members[0].drive, 3);
	assert_int_equal(replaced.members[0].offset, 1 << 20);
	assert_int_equal(replaced.members[0].state, MESH_MEMBER_REBUILDING);
}

/* Writes go head to tail over active and rebuilding replicas; reads go to
 * the last active one. */
static void chain_and_tail_follow_member_order(void **state)
{
	struct mesh_group_config c = mirror3(), stale, rebuilding;
	uint8_t chain[MESH_GROUP_MEMBERS_MAX];

	(void)state;
	assert_int_equal(mesh_group_chain(&c, chain), 3);
	assert_int_equal(chain[0], 0);
	assert_int_equal(chain[2], 2);
	assert_int_equal(mesh_group_tail(&c), 2);
	/* The tail goes stale: its predecessor, which holds all it held, reads. */
	assert_int_equal(mesh_group_change(&c, MESH_GROUP_MARK_STALE, 2, 0, 0, 0, &stale, NULL), 0);
	assert_int_equal(mesh_group_chain(&stale, chain), 2);
	assert_int_equal(mesh_group_tail(&stale), 1);
	/* Back as the head: written first, never read until active. */
	assert_int_equal(mesh_group_change(&stale, MESH_GROUP_START_REBUILD, 2, 0, 0, 0, &rebuilding,
					   NULL), 0);
	assert_int_equal(mesh_group_chain(&rebuilding, chain), 3);
	assert_int_equal(rebuilding.members[chain[0]].node, 22);
	assert_int_equal(mesh_group_tail(&rebuilding), 2);
	assert_int_equal(rebuilding.members[2].node, 21);
	assert_int_equal(mesh_group_member_of(&rebuilding, 22), 0);
	assert_int_equal(mesh_group_member_of(&rebuilding, 99), -1);
	/* The witness is never in the chain. */
	c = mirror2();
	assert_int_equal(mesh_group_chain(&c, chain), 2);
	assert_int_equal(mesh_group_tail(&c), 1);
}

static void changes_that_break_the_rules_are_refused(void **state)
{
	struct mesh_group_config c = mirror2(), stale, out;
	const char *why;

	(void)state;
	memset(&out, 0xab, sizeof(out));
	struct mesh_group_config untouched = out;

	/* Only active -> stale -> rebuilding -> active. */
	assert_int_equal(mesh_group_change(&c, MESH_GROUP_MARK_ACTIVE, 0, 0, 0, 0, &out, &why), -EINVAL);
	assert_non_null(strstr(why, "does not allow"));
	assert_int_equal(mesh_group_change(&c, MESH_GROUP_START_REBUILD, 0, 0, 0, 0, &out, &why), -EINVAL);
	assert_int_equal(mesh_group_change(&c, MESH_GROUP_REPLACE, 0, 40, 0, 0, &out, &why), -EINVAL);
	/* The witness is not a replica; members out of range. */
	assert_int_equal(mesh_group_change(&c, MESH_GROUP_MARK_STALE, 2, 0, 0, 0, &out, &why), -EINVAL);
	assert_non_null(strstr(why, "not a replica"));
	assert_int_equal(mesh_group_change(&c, MESH_GROUP_MARK_STALE, 3, 0, 0, 0, &out, &why), -EINVAL);
	/* Never leave no active replica. */
	assert_int_equal(mesh_group_change(&c, MESH_GROUP_MARK_STALE, 0, 0, 0, 0, &stale, &why), 0);
	assert_int_equal(mesh_group_change(&stale, MESH_GROUP_MARK_STALE, 1, 0, 0, 0, &out, &why),
			 -EINVAL);
	assert_non_null(strstr(why, "no active replica"));
	/* A spare must be new to the group. */
	assert_int_equal(mesh_group_change(&stale, MESH_GROUP_REPLACE, 0, 12, 0, 0, &out, &why), -EINVAL);
	assert_non_null(strstr(why, "already a member"));
	/* Unknown change. */
	assert_int_equal(mesh_group_change(&c, (enum mesh_group_change)99, 0, 0, 0, 0, &out, &why),
			 -EINVAL);
	/* Nothing was written on refusal. */
	assert_memory_equal(&out, &untouched, sizeof(out));
}

static void commit_needs_a_majority_and_every_active_member(void **state)
{
	struct mesh_group_config c = mirror2(), stale;
	const uint32_t replicas[] = { 10, 11 }, one_and_witness[] = { 10, 12 };
	const uint32_t dup[] = { 10, 10, 10 }, strangers[] = { 10, 99, 98 };

	(void)state;
	assert_true(mesh_group_committed(&c, replicas, 2));
	/* A majority, but replica 11 is active and has not fenced. */
	assert_false(mesh_group_committed(&c, one_and_witness, 2));
	assert_false(mesh_group_committed(&c, dup, 3));
	assert_false(mesh_group_committed(&c, strangers, 3));
	/* After 11 is marked stale, 10 and the witness suffice. */
	mesh_group_change(&c, MESH_GROUP_MARK_STALE, 1, 0, 0, 0, &stale, NULL);
	assert_true(mesh_group_committed(&stale, one_and_witness, 2));
	assert_false(mesh_group_committed(&stale, replicas + 1, 1));
}

/* Every subset of accepting voters: committed exactly when it holds a
 * majority and every replica that takes writes (active or rebuilding). */
static void commit_rule_matches_its_definition_on_every_subset(void **state)
{
	struct mesh_group_config configs[2] = { mirror2(), mirror3() };

	(void)state;
	mesh_group_change(&configs[1], MESH_GROUP_MARK_STALE, 2, 0, 0, 0, &configs[1], NULL);
	mesh_group_change(&configs[1], MESH_GROUP_START_REBUILD, 2, 0, 0, 0, &configs[1], NULL);
	for (unsigned k = 0; k < 2; k++) {
		const struct mesh_group_config *c = &configs[k];

		for (unsigned mask = 0; mask < (1u << c->member_count); mask++) {
			uint32_t acc[MESH_GROUP_MEMBERS_MAX];
			unsigned n = 0;
			bool actives = true;

			for (unsigned i = 0; i < c->member_count; i++) {
				if (mask & (1u << i))
					acc[n++] = c->members[i].node;
				else if (mesh_group_member_writable(&c->members[i]))
					actives = false;
			}
			assert_int_equal(mesh_group_committed(c, acc, n),
					 actives && n >= mesh_group_majority(c));
		}
	}
}

static void client_lease_ends_before_any_voters_in_real_time(void **state)
{
	uint64_t seed = prop_seed("lease drift");

	(void)state;
	assert_int_equal(mesh_group_lease_client_end_ns(1000, 1000000, 0), 1001000);
	assert_int_equal(mesh_group_lease_client_end_ns(0, 1000000000, 1000), 998001998);
	assert_int_equal(mesh_group_lease_client_end_ns(UINT64_MAX - 5, 1000, 0), UINT64_MAX);
	/* Property: clocks within the bound, the client asks before the voter
	 * answers; the client's end never comes after the voter's. */
	for (unsigned i = 0; i < 100000; i++) {
		uint32_t ppm = (uint32_t)prop_range(&seed, 0, 100000);
		double d = ppm / 1e6;
		double rc = 1 - d + 2 * d * (double)prop_range(&seed, 0, 1000000) / 1e6;
		double rv = 1 - d + 2 * d * (double)prop_range(&seed, 0, 1000000) / 1e6;
		uint64_t lease = prop_range(&seed, 1, 10000000000ull);
		double sent_real = (double)prop_range(&seed, 0, 1000000);
		double answer_real = sent_real + (double)prop_range(&seed, 0, 1000000);
		uint64_t end_local = mesh_group_lease_client_end_ns(0, lease, ppm);
		double client_end_real = sent_real + (double)end_local / rc;
		double voter_end_real = answer_real + (double)lease / rv;

		assert_true(client_end_real <= voter_end_real + 1e-6 * voter_end_real);
	}
	assert_false(mesh_group_lease_expired(100, 50, 149));
	assert_true(mesh_group_lease_expired(100, 50, 150));
	assert_false(mesh_group_lease_expired(100, 50, 99)); /* clock went back: keep waiting */
}

static void initial_group_has_a_witness_in_another_domain_when_copies_are_even(void **state)
{
	/* Targets 0..5 in domains 0,0,1,1,2,2; copies on targets 2 and 3. */
	const uint32_t domain_of[6] = { 0, 0, 1, 1, 2, 2 };
	struct mesh_segment seg = { .bytes = 1 << 20, .group = 9 };
	struct mesh_group_config c;
	const char *why = NULL;

	(void)state;
	seg.replicas[0] = (struct mesh_replica){ .target = 3, .drive = 1, .drive_offset = 8192 };
	seg.replicas[1] = (struct mesh_replica){ .target = 2, .drive = 0, .drive_offset = 0 };
	assert_int_equal(mesh_group_initial(&seg, 2, domain_of, 6, &c), 0);
	assert_int_equal(mesh_group_check(&c, &why), 0);
	assert_int_equal(c.epoch, 1);
	assert_int_equal(c.group, 9);
	assert_int_equal(c.member_count, 3);
	/* Replicas keep layout order (the chain); the witness is target 4:
	 * the first after the lowest replica outside domain 1. */
	assert_int_equal(c.members[0].node, 3);
	assert_int_equal(c.members[0].drive, 1);
	assert_int_equal(c.members[0].offset, 8192);
	assert_int_equal(c.members[1].node, 2);
	assert_int_equal(c.members[2].node, 4);
	assert_int_equal(c.members[2].role, MESH_MEMBER_WITNESS);

	/* Three copies need no witness. */
	seg.replicas[2] = (struct mesh_replica){ .target = 5 };
	assert_int_equal(mesh_group_initial(&seg, 3, domain_of, 6, &c), 0);
	assert_int_equal(c.member_count, 3);
	for (unsigned m = 0; m < 3; m++)
		assert_int_equal(c.members[m].role, MESH_MEMBER_REPLICA);
}

static void initial_group_without_a_target_for_its_witness_is_refused(void **state)
{
	const uint32_t domain_of[2] = { 0, 1 };
	struct mesh_segment seg = { .bytes = 1 << 20, .group = 1 };
	struct mesh_group_config c;

	(void)state;
	seg.replicas[0] = (struct mesh_replica){ .target = 0 };
	seg.replicas[1] = (struct mesh_replica){ .target = 1 };
	assert_int_equal(mesh_group_initial(&seg, 2, domain_of, 2, &c), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_configurations_pass),
		cmocka_unit_test(invalid_configurations_are_refused_with_a_reason),
		cmocka_unit_test(changes_follow_the_state_machine_and_bump_the_epoch),
		cmocka_unit_test(changes_that_break_the_rules_are_refused),
		cmocka_unit_test(chain_and_tail_follow_member_order),
		cmocka_unit_test(commit_needs_a_majority_and_every_active_member),
		cmocka_unit_test(commit_rule_matches_its_definition_on_every_subset),
		cmocka_unit_test(client_lease_ends_before_any_voters_in_real_time),
		cmocka_unit_test(initial_group_has_a_witness_in_another_domain_when_copies_are_even),
		cmocka_unit_test(initial_group_without_a_target_for_its_witness_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

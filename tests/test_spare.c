/*
 * tests/test_spare.c: choosing a spare for a replica whose drive failed
 * (mesh_placement_spare, core/placement.h).
 *
 * The examples use one group of GROUP_BYTES: replica A on target 1 (domain
 * 0), replica B on target 2 (domain 1), and the witness on target 3; A's
 * drive failed. The property test draws random pools and groups from a
 * printed seed and checks each pick against a plain reference: among the
 * drives that may take the replica, the largest (apart, free, -index).
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

#include "core/group.h"
#include "core/placement.h"
#include "prop.h"

#define MIB (1ull << 20)
#define GROUP_BYTES (4 * MIB)
#define TARGET_A 1
#define TARGET_B 2
#define TARGET_W 3
#define POOL_MAX 16
#define GEOMETRIES 2000

/* Replica A, replica B, witness W; 2 copies. */
static struct mesh_group_config mirror2(void)
{
	struct mesh_group_config c = {
		.group = 7, .epoch = 2, .bytes = GROUP_BYTES, .copies = 2, .member_count = 3,
	};

	c.members[0] = (struct mesh_group_member){ TARGET_A, 0, MESH_MEMBER_REPLICA,
						   MESH_MEMBER_STALE, 0 };
	c.members[1] = (struct mesh_group_member){ TARGET_B, 0, MESH_MEMBER_REPLICA,
						   MESH_MEMBER_ACTIVE, 8 * MIB };
	c.members[2] = (struct mesh_group_member){ TARGET_W, 0, MESH_MEMBER_WITNESS,
						   MESH_MEMBER_ACTIVE, 0 };
	assert_int_equal(mesh_group_check(&c, NULL), 0);
	return c;
}

static struct mesh_pool_drive drive(uint32_t target, uint32_t drv, uint32_t domain,
				    uint64_t capacity, uint64_t used)
{
	return (struct mesh_pool_drive){
		.target = target, .drive = drv, .domain = domain, .capacity = capacity,
		.used = used,
	};
}

/* The pool's drives 0..2 hold A, B and the witness's target; the rest
 * of the POOL_MAX slots are zero. */
static unsigned members_pool(struct mesh_pool_drive *d)
{
	memset(d, 0, POOL_MAX * sizeof(*d));
	d[0] = drive(TARGET_A, 0, 0, 64 * MIB, 16 * MIB);
	d[1] = drive(TARGET_B, 0, 1, 64 * MIB, 16 * MIB);
	d[2] = drive(TARGET_W, 0, 2, 64 * MIB, 0);
	return 3;
}

/* @s is a rebuilding replica on drive @d of the pool, at @offset. */
static void assert_spare_is(const struct mesh_group_member *s, const struct mesh_pool_drive *d,
			    uint64_t offset)
{
	assert_int_equal(s->node, d->target);
	assert_int_equal(s->drive, d->drive);
	assert_int_equal(s->offset, offset);
	assert_int_equal(s->role, MESH_MEMBER_REPLICA);
	assert_int_equal(s->state, MESH_MEMBER_REBUILDING);
}

static void spare_prefers_a_domain_no_remaining_replica_uses(void **state)
{
	(void)state;
	struct mesh_pool_drive d[POOL_MAX];
	unsigned n = members_pool(d);
	struct mesh_group_config c = mirror2();
	struct mesh_group_member s;
	struct mesh_pool pool = { d, 0 };

	/* B's domain (1) has by far the most room; A's own domain (0) is
	 * apart from B and has more room than domain 2. */
	d[n++] = drive(4, 0, 1, 1024 * MIB, 0);
	d[n++] = drive(5, 0, 2, 32 * MIB, 0);
	d[n++] = drive(6, 0, 0, 48 * MIB, 0);
	pool.count = n;
	assert_int_equal(mesh_placement_spare(&pool, &c, 0, &s), 0);
	assert_spare_is(&s, &d[5], 0);
	assert_int_equal(d[5].used, GROUP_BYTES);
	assert_int_equal(d[3].used, 0);
	assert_int_equal(d[4].used, 0);
}

static void spare_shares_a_domain_when_no_other_fits(void **state)
{
	(void)state;
	struct mesh_pool_drive d[POOL_MAX];
	unsigned n = members_pool(d);
	struct mesh_group_config c = mirror2();
	struct mesh_group_member s;
	struct mesh_pool pool = { d, 0 };

	d[n++] = drive(4, 0, 2, 64 * MIB, 0);
	d[n] = drive(5, 0, 0, 64 * MIB, 0);
	d[n++].failed = true;
	d[n++] = drive(6, 0, 0, 64 * MIB, 64 * MIB - GROUP_BYTES + 1);
	d[n++] = drive(7, 3, 1, 64 * MIB, 4 * MIB); /* B's domain: the one left */
	d[3].failed = true;
	pool.count = n;
	assert_int_equal(mesh_placement_spare(&pool, &c, 0, &s), 0);
	assert_spare_is(&s, &d[6], 4 * MIB);
	assert_int_equal(d[6].used, 4 * MIB + GROUP_BYTES);
}

static void spare_never_goes_to_a_target_holding_a_member(void **state)
{
	(void)state;
	struct mesh_pool_drive d[POOL_MAX];
	unsigned n = 0;
	struct mesh_group_config c = mirror2();
	struct mesh_group_member s;
	struct mesh_pool pool = { d, 0 };

	memset(d, 0, sizeof(d));
	/* Other drives of the members' targets, roomy and in new domains:
	 * the failed replica's own target, B's, and the witness's. */
	d[n++] = drive(TARGET_A, 1, 5, 1024 * MIB, 0);
	d[n++] = drive(TARGET_B, 1, 6, 1024 * MIB, 0);
	d[n++] = drive(TARGET_W, 0, 7, 1024 * MIB, 0);
	d[n++] = drive(TARGET_W, 1, 8, 1024 * MIB, 0);
	d[n++] = drive(9, 2, 1, GROUP_BYTES, 0); /* just room enough */
	pool.count = n;
	assert_int_equal(mesh_placement_spare(&pool, &c, 0, &s), 0);
	assert_spare_is(&s, &d[4], 0);
	assert_int_equal(d[4].used, GROUP_BYTES);

	/* Now only the members' targets have room. */
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(d[i].used, 0);
	assert_int_equal(mesh_placement_spare(&pool, &c, 0, &s), -ENOSPC);
}

static void spare_skips_failed_drives_and_drives_without_space(void **state)
{
	(void)state;
	struct mesh_pool_drive d[POOL_MAX];
	unsigned n = members_pool(d);
	struct mesh_group_config c = mirror2();
	struct mesh_group_member s;
	struct mesh_pool pool = { d, 0 };

	d[n] = drive(4, 0, 3, 1024 * MIB, 0);
	d[n++].failed = true;
	d[n++] = drive(5, 0, 3, 1024 * MIB, 1024 * MIB - GROUP_BYTES + 4096);
	d[n++] = drive(6, 0, 3, 2 * MIB, 0);
	d[n++] = drive(7, 0, 3, 64 * MIB, 65 * MIB); /* over-used: no room, no wrap */
	pool.count = n;
	assert_int_equal(mesh_placement_spare(&pool, &c, 0, &s), -ENOSPC);

	/* Exactly the group's size left is enough. */
	d[n++] = drive(8, 0, 1, 64 * MIB, 64 * MIB - GROUP_BYTES);
	pool.count = n;
	assert_int_equal(mesh_placement_spare(&pool, &c, 0, &s), 0);
	assert_spare_is(&s, &d[7], 64 * MIB - GROUP_BYTES);
	assert_int_equal(d[7].used, 64 * MIB);
	assert_int_equal(d[3].used, 0);
	assert_int_equal(d[4].used, 1024 * MIB - GROUP_BYTES + 4096);
	assert_int_equal(d[6].used, 65 * MIB);
}

static void spare_takes_space_and_spreads(void **state)
{
	(void)state;
	struct mesh_pool_drive d[POOL_MAX];
	unsigned n = members_pool(d);
	struct mesh_group_config c = mirror2();
	struct mesh_group_member s;
	struct mesh_pool pool = { d, 0 };

	d[n++] = drive(4, 2, 3, 64 * MIB, 8 * MIB);
	d[n++] = drive(5, 1, 4, 64 * MIB, 8 * MIB);
	pool.count = n;
	/* Equally free: the lowest index first, then the other one. */
	assert_int_equal(mesh_placement_spare(&pool, &c, 0, &s), 0);
	assert_spare_is(&s, &d[3], 8 * MIB);
	assert_int_equal(d[3].used, 8 * MIB + GROUP_BYTES);
	assert_int_equal(d[4].used, 8 * MIB);
	assert_int_equal(mesh_placement_spare(&pool, &c, 0, &s), 0);
	assert_spare_is(&s, &d[4], 8 * MIB);
	assert_int_equal(d[4].used, 8 * MIB + GROUP_BYTES);
	/* Equal again; the next piece follows the first on its drive. */
	assert_int_equal(mesh_placement_spare(&pool, &c, 0, &s), 0);
	assert_spare_is(&s, &d[3], 8 * MIB + GROUP_BYTES);
	assert_int_equal(d[3].used, 8 * MIB + 2 * GROUP_BYTES);
	/* The members' drives were never touched. */
	assert_int_equal(d[0].used, 16 * MIB);
	assert_int_equal(d[1].used, 16 * MIB);
	assert_int_equal(d[2].used, 0);
}

static void spare_refused_leaves_the_pool_unchanged(void **state)
{
	(void)state;
	struct mesh_pool_drive d[POOL_MAX], before[POOL_MAX];
	unsigned n = members_pool(d);
	struct mesh_group_config c = mirror2();
	struct mesh_group_member s;
	struct mesh_pool pool = { d, 0 };

	d[n++] = drive(4, 0, 3, 2 * MIB, 0);
	d[n] = drive(5, 0, 3, 64 * MIB, 0);
	d[n++].failed = true;
	pool.count = n;
	memcpy(before, d, sizeof(d));
	assert_int_equal(mesh_placement_spare(&pool, &c, 0, &s), -ENOSPC);
	assert_memory_equal(d, before, sizeof(d));
	assert_int_equal(pool.count, n);

	/* An empty pool has nothing either. */
	pool.count = 0;
	assert_int_equal(mesh_placement_spare(&pool, &c, 0, &s), -ENOSPC);
	assert_memory_equal(d, before, sizeof(d));
}

static void spare_is_refused_for_a_member_that_is_not_a_replica(void **state)
{
	(void)state;
	struct mesh_pool_drive d[POOL_MAX], before[POOL_MAX];
	unsigned n = members_pool(d);
	struct mesh_group_config c = mirror2();
	struct mesh_group_member s;
	struct mesh_pool pool = { d, 0 };
	const unsigned bad[] = { 2, 3, MESH_GROUP_MEMBERS_MAX, 1000, UINT32_MAX };

	d[n++] = drive(4, 0, 3, 1024 * MIB, 0);
	pool.count = n;
	memcpy(before, d, sizeof(d));
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mesh_placement_spare(&pool, &c, bad[i], &s), -EINVAL);
		assert_memory_equal(d, before, sizeof(d));
	}
	/* Even with no drive to offer, a witness is the wrong question. */
	pool.count = 0;
	assert_int_equal(mesh_placement_spare(&pool, &c, 2, &s), -EINVAL);
	/* The other replica may be replaced too (its domain then frees). */
	pool.count = n;
	assert_int_equal(mesh_placement_spare(&pool, &c, 1, &s), 0);
	assert_spare_is(&s, &d[3], 0);
}

/* Three copies, no witness: both remaining replicas' domains are avoided. */
static void spare_avoids_every_remaining_replica_domain(void **state)
{
	(void)state;
	struct mesh_pool_drive d[POOL_MAX];
	unsigned n = 0;
	struct mesh_group_config c = {
		.group = 9, .epoch = 4, .bytes = GROUP_BYTES, .copies = 3, .member_count = 3,
	};
	struct mesh_group_member s;
	struct mesh_pool pool = { d, 0 };

	for (uint32_t i = 0; i < 3; i++)
		c.members[i] = (struct mesh_group_member){ i + 1, 0, MESH_MEMBER_REPLICA,
							   i ? MESH_MEMBER_ACTIVE : MESH_MEMBER_STALE,
							   0 };
	d[n++] = drive(1, 0, 0, 64 * MIB, GROUP_BYTES);
	d[n++] = drive(2, 0, 1, 64 * MIB, GROUP_BYTES);
	d[n++] = drive(3, 0, 2, 64 * MIB, GROUP_BYTES);
	d[n++] = drive(4, 0, 1, 512 * MIB, 0);
	d[n++] = drive(5, 0, 2, 512 * MIB, 0);
	d[n++] = drive(6, 0, 0, 8 * MIB, 0);
	pool.count = n;
	assert_int_equal(mesh_placement_spare(&pool, &c, 0, &s), 0);
	assert_spare_is(&s, &d[5], 0);
}

/* ---- the property test ---- */

/* The reference: the drive (index) @c's replica @member should move to,
 * or -1. Written as a filter and a lexicographic maximum. */
static int reference_pick(const struct mesh_pool *pool, const struct mesh_group_config *c,
			  unsigned member)
{
	int best = -1;
	bool best_apart = false;
	uint64_t best_free = 0;

	for (unsigned d = 0; d < pool->count; d++) {
		const struct mesh_pool_drive *pd = &pool->drives[d];
		bool on_member = false, apart = true;
		uint64_t free_bytes = pd->used >= pd->capacity ? 0 : pd->capacity - pd->used;

		for (unsigned i = 0; i < c->member_count; i++)
			on_member |= c->members[i].node == pd->target;
		if (pd->failed || on_member || free_bytes < c->bytes)
			continue;
		for (unsigned i = 0; i < c->member_count; i++) {
			const struct mesh_group_member *m = &c->members[i];

			for (unsigned e = 0; e < pool->count && i != member; e++) {
				const struct mesh_pool_drive *held = &pool->drives[e];

				if (m->role == MESH_MEMBER_REPLICA && held->target == m->node &&
				    held->drive == m->drive && held->domain == pd->domain)
					apart = false;
			}
		}
		if (best < 0 || apart > best_apart || (apart == best_apart && free_bytes > best_free)) {
			best = (int)d;
			best_apart = apart;
			best_free = free_bytes;
		}
	}
	return best;
}

/* A random group on the pool's first targets: 1..3 copies, a witness
 * when the copy count is even. */
static struct mesh_group_config random_group(uint64_t *rng, const struct mesh_pool *pool)
{
	struct mesh_group_config c = { .group = 1, .epoch = 5 };
	uint32_t taken[MESH_GROUP_MEMBERS_MAX];
	unsigned members;

	c.copies = (uint8_t)prop_range(rng, 1, 3);
	c.bytes = prop_range(rng, 1, 16) * MIB;
	members = c.copies + (c.copies % 2 == 0);
	while (c.member_count < members) {
		const struct mesh_pool_drive *pd = &pool->drives[prop_range(rng, 0, pool->count - 1)];
		bool dup = false;

		for (unsigned i = 0; i < c.member_count; i++)
			dup |= taken[i] == pd->target;
		if (dup)
			continue;
		struct mesh_group_member *m = &c.members[c.member_count];

		taken[c.member_count++] = pd->target;
		*m = (struct mesh_group_member){
			.node = pd->target, .drive = pd->drive, .role = MESH_MEMBER_REPLICA,
			.state = prop_range(rng, 0, 1) ? MESH_MEMBER_ACTIVE : MESH_MEMBER_STALE,
			.offset = prop_range(rng, 0, 4) * MIB,
		};
	}
	if (c.copies % 2 == 0) {
		c.members[members - 1].role = MESH_MEMBER_WITNESS;
		c.members[members - 1].offset = 0;
		c.members[members - 1].state = MESH_MEMBER_ACTIVE;
	}
	c.members[0].state = MESH_MEMBER_ACTIVE;
	return c;
}

static void random_pools_pick_as_the_reference(void **state)
{
	(void)state;
	uint64_t rng = prop_seed("random_pools_pick_as_the_reference");
	unsigned picked = 0, full = 0;

	for (unsigned g = 0; g < GEOMETRIES; g++) {
		struct mesh_pool_drive d[POOL_MAX], before[POOL_MAX];
		struct mesh_pool pool = { d, (unsigned)prop_range(&rng, 4, POOL_MAX) };
		struct mesh_group_config c;
		struct mesh_group_member s;
		uint32_t targets = (uint32_t)prop_range(&rng, 4, pool.count);

		memset(d, 0, sizeof(d));
		for (unsigned i = 0; i < pool.count; i++) {
			/* Targets 1..targets, each with at least one drive. */
			uint32_t target = i < targets ? i + 1 : (uint32_t)prop_range(&rng, 1, targets);

			d[i] = drive(target, i, (uint32_t)prop_range(&rng, 0, 4),
				     prop_range(&rng, 1, 64) * MIB, prop_range(&rng, 0, 64) * MIB);
			d[i].failed = prop_range(&rng, 0, 5) == 0;
		}
		c = random_group(&rng, &pool);
		assert_int_equal(mesh_group_check(&c, NULL), 0);
		unsigned member = (unsigned)prop_range(&rng, 0, c.member_count);
		bool replica = member < c.member_count && c.members[member].role == MESH_MEMBER_REPLICA;
		int want = replica ? reference_pick(&pool, &c, member) : -1;
		int rc;

		memcpy(before, d, sizeof(d));
		rc = mesh_placement_spare(&pool, &c, member, &s);
		if (!replica) {
			assert_int_equal(rc, -EINVAL);
			assert_memory_equal(d, before, sizeof(d));
			continue;
		}
		if (want < 0) {
			assert_int_equal(rc, -ENOSPC);
			assert_memory_equal(d, before, sizeof(d));
			full++;
			continue;
		}
		assert_int_equal(rc, 0);
		assert_spare_is(&s, &before[want], before[want].used);
		assert_int_equal(d[want].used, before[want].used + c.bytes);
		d[want].used = before[want].used;
		assert_memory_equal(d, before, sizeof(d));
		picked++;
	}
	print_message("%u spares picked, %u pools full\n", picked, full);
	assert_true(picked > GEOMETRIES / 4);
	assert_true(full > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(spare_prefers_a_domain_no_remaining_replica_uses),
		cmocka_unit_test(spare_shares_a_domain_when_no_other_fits),
		cmocka_unit_test(spare_never_goes_to_a_target_holding_a_member),
		cmocka_unit_test(spare_skips_failed_drives_and_drives_without_space),
		cmocka_unit_test(spare_takes_space_and_spreads),
		cmocka_unit_test(spare_refused_leaves_the_pool_unchanged),
		cmocka_unit_test(spare_is_refused_for_a_member_that_is_not_a_replica),
		cmocka_unit_test(spare_avoids_every_remaining_replica_domain),
		cmocka_unit_test(random_pools_pick_as_the_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * tests/test_copyset.c: Copyset Replication, random replication and the
 * Copysets study.
 *
 * Property tests draw random pools (targets, drives per target, failure
 * domains spread evenly, randomly or skewed) from a printed seed and check:
 *  - every copyset's members are distinct targets, in distinct domains when
 *    the pool has at least R of them; each permutation covers every target;
 *    a build is refused only when no arrangement can exist (an independent
 *    Gale-Ryser check here);
 *  - each target's scatter width is what its copysets give, at most
 *    memberships * (R - 1), and near P * (R - 1) on large pools;
 *  - planned layouts pass mesh_layout_check, keep copies in distinct
 *    domains, put each segment on one copyset, never touch failed drives,
 *    share no drive bytes, and take exactly their bytes from the pool; a
 *    refused plan leaves the pool as it was.
 * Then the random policy's peers grow with the volumes placed while the
 * copyset policy's stay within the copysets, bad inputs are refused with
 * reasons, planning at 100,000 targets x 8 drives, and a tiny study.
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
#include <math.h>

#include "core/copyset.h"
#include "core/layout.h"
#include "core/placement.h"
#include "prop.h"
#include "prop_volume.h"
#include "sim/copyset_study.h"

#define BUILD_CASES 400
#define PLAN_CASES 300
#define VOLUMES_PER_POOL 6
#define TARGETS_MAX 2000
#define DRIVES_PER_TARGET_MAX 4

/* ---- random pools ---- */

enum domain_mode { OWN_DOMAIN, ROUND_ROBIN, RANDOM_DOMAIN, SKEWED_DOMAIN, DOMAIN_MODES };

struct pool_case {
	struct mesh_pool_drive drives[TARGETS_MAX * DRIVES_PER_TARGET_MAX];
	struct mesh_pool pool;
	uint32_t targets;
};

static uint32_t draw_domain(uint64_t *rng, enum domain_mode mode, uint32_t t, uint32_t domains)
{
	switch (mode) {
	case OWN_DOMAIN:
		return t;
	case ROUND_ROBIN:
		return t % domains;
	case RANDOM_DOMAIN:
		return (uint32_t)prop_range(rng, 0, domains - 1);
	default: {
		uint32_t a = (uint32_t)prop_range(rng, 0, domains - 1);
		uint32_t b = (uint32_t)prop_range(rng, 0, domains - 1);

		return a < b ? a : b;
	}
	}
}

static void random_pool(uint64_t *rng, struct pool_case *pc, uint32_t targets_max)
{
	uint32_t targets = (uint32_t)prop_range(rng, 2, targets_max);
	uint32_t per_target = (uint32_t)prop_range(rng, 1, DRIVES_PER_TARGET_MAX);
	uint32_t domains = (uint32_t)prop_range(rng, 1, 12);
	enum domain_mode mode = (enum domain_mode)prop_range(rng, 0, DOMAIN_MODES - 1);

	pc->pool = (struct mesh_pool){ .drives = pc->drives, .count = 0 };
	pc->targets = targets;
	for (uint32_t t = 0; t < targets; t++) {
		uint32_t domain = 1000 + draw_domain(rng, mode, t, domains);
		uint32_t drives = (uint32_t)prop_range(rng, 1, per_target);

		for (uint32_t d = 0; d < drives; d++)
			pc->drives[pc->pool.count++] = (struct mesh_pool_drive){
				.target = 7 * t + 3,
				.drive = d,
				.domain = domain,
				.capacity = prop_range(rng, 16, 2048) * MESH_BLOCK_BYTES,
				.failed = prop_range(rng, 0, 9) == 0,
			};
	}
}

/* Targets per domain of cs, independently of its domain_index. */
static uint32_t domain_sizes(const struct mesh_copysets *cs, uint32_t *size)
{
	uint32_t ids[TARGETS_MAX], n = 0;

	for (uint32_t t = 0; t < cs->target_count; t++) {
		uint32_t i = 0;

		while (i < n && ids[i] != cs->targets[t].domain)
			i++;
		if (i == n) {
			ids[n] = cs->targets[t].domain;
			size[n++] = 0;
		}
		size[i]++;
	}
	return n;
}

/* Gale-Ryser, the slow way: can T targets split into groups of R, ..., R,
 * T % R with no domain twice in a group? */
static bool partition_exists(const uint32_t *size, uint32_t domains, uint32_t t, uint32_t r)
{
	uint32_t groups = (t + r - 1) / r;
	uint64_t need = 0;

	for (uint32_t j = 1; j <= groups; j++) {
		uint64_t have = 0;

		need += j <= t / r ? r : t % r;
		for (uint32_t i = 0; i < domains; i++)
			have += size[i] < j ? size[i] : j;
		if (need > have)
			return false;
	}
	return true;
}

/* ---- copysets ---- */

static void assert_copyset_apart(const struct mesh_copysets *cs, uint32_t c)
{
	const uint32_t *m = mesh_copyset_members(cs, c);

	for (uint32_t a = 0; a < cs->copies; a++) {
		assert_true(m[a] < cs->target_count);
		for (uint32_t b = 0; b < a; b++) {
			assert_int_not_equal(m[a], m[b]);
			if (cs->domains_apart)
				assert_int_not_equal(cs->targets[m[a]].domain, cs->targets[m[b]].domain);
		}
	}
}

/* Every permutation lists each target once in its first target_count
 * member slots; the rest of its last group is borrowed. */
static void assert_permutations_cover(const struct mesh_copysets *cs)
{
	uint8_t *seen = calloc(cs->target_count, 1);

	assert_non_null(seen);
	for (uint32_t p = 0; p < cs->permutations; p++) {
		const uint32_t *m = mesh_copyset_members(cs, p * cs->per_permutation);

		memset(seen, 0, cs->target_count);
		for (uint32_t i = 0; i < cs->target_count; i++) {
			assert_false(seen[m[i]]);
			seen[m[i]] = 1;
		}
	}
	free(seen);
}

/* Scatter recounted from the member lists (each target's copysets listed
 * here, not through cs->sets_of); checks the bounds; returns the sum over
 * targets. */
static uint64_t assert_scatter(const struct mesh_copysets *cs)
{
	uint32_t n = cs->target_count, R = cs->copies, P = cs->permutations;
	uint32_t *start = calloc((size_t)n + 1, sizeof(*start)), *fill = calloc(n, sizeof(*fill));
	uint32_t *list = malloc(sizeof(*list) * (size_t)cs->count * R), *stamp = malloc(sizeof(*stamp) * n);
	uint64_t total = 0;

	assert_true(start && fill && list && stamp);
	for (uint64_t i = 0; i < (uint64_t)cs->count * R; i++)
		start[cs->members[i] + 1]++;
	for (uint32_t t = 0; t < n; t++)
		start[t + 1] += start[t];
	for (uint32_t c = 0; c < cs->count; c++) {
		for (uint32_t j = 0; j < R; j++) {
			uint32_t t = mesh_copyset_members(cs, c)[j];

			list[start[t] + fill[t]++] = c;
		}
	}
	memset(stamp, 0xff, sizeof(*stamp) * n);
	for (uint32_t t = 0; t < n; t++) {
		const struct mesh_copyset_target *tt = &cs->targets[t];
		uint32_t scatter = 0, member = start[t + 1] - start[t];

		for (uint32_t k = start[t]; k < start[t + 1]; k++) {
			const uint32_t *m = mesh_copyset_members(cs, list[k]);

			assert_int_equal(cs->sets_of[k], list[k]);
			for (uint32_t j = 0; j < R; j++) {
				scatter += m[j] != t && stamp[m[j]] != t;
				stamp[m[j]] = t;
			}
		}
		assert_int_equal(tt->memberships, member);
		assert_int_equal(tt->scatter, scatter);
		assert_int_equal(cs->sets_start[t], start[t]);
		assert_true(member >= P);
		assert_true(scatter <= member * (R - 1) && scatter <= n - 1);
		if (n >= R * (P * (R - 1) + R))
			assert_true(member <= P + 1);
		total += scatter;
	}
	free(start);
	free(fill);
	free(list);
	free(stamp);
	return total;
}

static void copysets_keep_members_apart_with_bounded_scatter(void **state)
{
	(void)state;
	uint64_t rng = prop_seed("copyset build property");
	static struct pool_case pc;
	unsigned built = 0, refused = 0, near_s = 0;

	for (int k = 0; k < BUILD_CASES; k++) {
		random_pool(&rng, &pc, prop_range(&rng, 0, 9) == 0 ? TARGETS_MAX : 120);
		struct mesh_copyset_params params = {
			.policy = MESH_COPYSET_POLICY_COPYSET,
			.copies = (uint32_t)prop_range(&rng, 2, 3),
			.scatter_width = (uint32_t)prop_range(&rng, 1, 24),
		};
		struct mesh_copysets cs;
		const char *why = NULL;
		uint64_t build_rng = prop_next(&rng);
		int rc = mesh_copyset_build(&cs, &pc.pool, &params, &build_rng, &why);

		if (pc.targets < params.copies) {
			assert_int_equal(rc, -EINVAL);
			assert_non_null(strstr(why, "fewer targets than copies"));
			continue;
		}
		if (rc) {
			/* Refused only when no arrangement exists at all. */
			struct mesh_copysets probe;
			uint32_t size[TARGETS_MAX], domains;

			params.policy = MESH_COPYSET_POLICY_RANDOM;
			assert_int_equal(mesh_copyset_build(&probe, &pc.pool, &params, &build_rng, NULL), 0);
			domains = domain_sizes(&probe, size);
			assert_int_equal(rc, -EINVAL);
			assert_non_null(strstr(why, "failure domains"));
			assert_true(domains >= params.copies);
			assert_false(partition_exists(size, domains, probe.target_count, params.copies));
			mesh_copyset_free(&probe);
			refused++;
			continue;
		}
		uint32_t R = params.copies, P = (params.scatter_width + R - 2) / (R - 1);

		assert_int_equal(cs.target_count, pc.targets);
		assert_int_equal(cs.permutations, P);
		assert_int_equal(cs.count, P * ((pc.targets + R - 1) / R));
		assert_int_equal(cs.domains_apart, cs.domain_count >= R);
		for (uint32_t c = 0; c < cs.count; c++)
			assert_copyset_apart(&cs, c);
		assert_permutations_cover(&cs);
		uint64_t total = assert_scatter(&cs);

		if (pc.targets - 1 >= 20 * P * (R - 1)) {
			/* Near S: with 20 times more targets than peers, two
			 * permutations rarely pair a target with one peer twice,
			 * even when domains halve the candidates. */
			assert_true(total >= (uint64_t)pc.targets * P * (R - 1) * 85 / 100);
			assert_true(total <= (uint64_t)pc.targets * (P * (R - 1) + 1));
			near_s++;
		}
		mesh_copyset_free(&cs);
		built++;
	}
	printf("copyset build property: %u pools built (%u large enough to check the mean "
	       "scatter), %u refused as impossible\n", built, near_s, refused);
	assert_true(built > BUILD_CASES / 2);
	assert_true(near_s > 0);
}

/* ---- planning ---- */

static long find_drive(const struct mesh_pool *pool, uint32_t target, uint32_t drive)
{
	for (unsigned d = 0; d < pool->count; d++) {
		if (pool->drives[d].target == target && pool->drives[d].drive == drive)
			return d;
	}
	return -1;
}

static long find_target(const struct mesh_copysets *cs, uint32_t id)
{
	for (uint32_t t = 0; t < cs->target_count; t++) {
		if (cs->targets[t].id == id)
			return t;
	}
	return -1;
}

/* The copyset whose members hold all @n copies (target ids) of @seg, or -1. */
static long copyset_of(const struct mesh_copysets *cs, const struct mesh_segment *seg, uint32_t n)
{
	long t0 = find_target(cs, seg->replicas[0].target);

	assert_true(t0 >= 0);
	for (uint32_t k = cs->sets_start[t0]; k < cs->sets_start[t0 + 1]; k++) {
		const uint32_t *m = mesh_copyset_members(cs, cs->sets_of[k]);
		uint32_t hits = 0;

		for (uint32_t j = 0; j < n; j++) {
			for (uint32_t i = 0; i < cs->copies; i++)
				hits += cs->targets[m[i]].id == seg->replicas[j].target;
		}
		if (hits == n)
			return cs->sets_of[k];
	}
	return -1;
}

static bool on_one_copyset(const struct mesh_copysets *cs, const struct mesh_segment *seg,
			   uint32_t n)
{
	return copyset_of(cs, seg, n) >= 0;
}

/* Each copy lies on a working drive, within the bytes the plan took, in
 * distinct domains when it must; returns the bytes placed per drive into
 * @placed. */
static void assert_plan_sound(const struct mesh_layout *l, const struct mesh_copysets *cs,
			      const struct mesh_pool *pool, const struct mesh_pool_drive *before,
			      uint64_t *placed)
{
	bool apart = cs->policy == MESH_COPYSET_POLICY_COPYSET ? cs->domains_apart
								 : cs->domain_count >= l->copies;

	assert_int_equal(mesh_layout_check(l, NULL), 0);
	for (uint32_t s = 0; s < l->segment_count; s++) {
		const struct mesh_segment *seg = &l->segments[s];

		for (uint32_t c = 0; c < l->copies; c++) {
			const struct mesh_replica *r = &seg->replicas[c];
			long d = find_drive(pool, r->target, r->drive);

			assert_true(d >= 0);
			assert_false(pool->drives[d].failed);
			assert_int_equal(pool->drives[d].domain, r->domain);
			assert_true(r->drive_offset >= before[d].used);
			assert_true(r->drive_offset + seg->bytes <= pool->drives[d].used);
			placed[d] += seg->bytes;
			for (uint32_t b = 0; b < c; b++) {
				assert_int_not_equal(seg->replicas[b].target, r->target);
				if (apart)
					assert_int_not_equal(seg->replicas[b].domain, r->domain);
			}
		}
		if (cs->policy == MESH_COPYSET_POLICY_COPYSET && l->copies > 1)
			assert_true(on_one_copyset(cs, seg, l->copies));
	}
}

/* Plan random volumes with @cs into @pc, checking each. */
static void plan_volumes(uint64_t *rng, struct pool_case *pc, const struct mesh_copysets *cs,
			 unsigned *planned, unsigned *refused)
{
	static struct mesh_pool_drive before[TARGETS_MAX * DRIVES_PER_TARGET_MAX];
	static uint64_t placed[TARGETS_MAX * DRIVES_PER_TARGET_MAX];
	size_t bytes = sizeof(before[0]) * pc->pool.count;

	for (int v = 0; v < VOLUMES_PER_POOL; v++) {
		struct mesh_volume_spec spec = prop_volume_spec(rng, (uint64_t)v * 100, 3, 1024);
		struct mesh_layout l;
		const char *why = NULL;

		memcpy(before, pc->drives, bytes);
		int rc = mesh_copyset_plan(&pc->pool, cs, &spec, rng, &l, &why);

		if (rc) {
			assert_true(rc == -ENOSPC || (rc == -EINVAL && spec.copies > cs->copies));
			assert_non_null(why);
			assert_memory_equal(before, pc->drives, bytes); /* nothing taken */
			(*refused)++;
			continue;
		}
		memset(placed, 0, sizeof(placed[0]) * pc->pool.count);
		assert_plan_sound(&l, cs, &pc->pool, before, placed);
		for (unsigned d = 0; d < pc->pool.count; d++)
			assert_int_equal(pc->drives[d].used - before[d].used, placed[d]);
		(*planned)++;
	}
}

static void plans_keep_copies_apart_and_account_space(void **state)
{
	(void)state;
	uint64_t rng = prop_seed("copyset plan property");
	static struct pool_case pc, fresh;
	unsigned planned[2] = { 0 }, refused[2] = { 0 };

	for (int k = 0; k < PLAN_CASES; k++) {
		random_pool(&rng, &fresh, 60);
		for (uint32_t p = 0; p < 2; p++) {
			struct mesh_copyset_params params = {
				.policy = p ? MESH_COPYSET_POLICY_RANDOM : MESH_COPYSET_POLICY_COPYSET,
				.copies = (uint32_t)prop_range(&rng, 2, 3),
				.scatter_width = (uint32_t)prop_range(&rng, 1, 12),
			};
			struct mesh_copysets cs;

			pc = fresh;
			pc.pool.drives = pc.drives;
			if (mesh_copyset_build(&cs, &pc.pool, &params, &rng, NULL))
				continue;
			plan_volumes(&rng, &pc, &cs, &planned[p], &refused[p]);
			mesh_copyset_free(&cs);
		}
	}
	printf("copyset plan property: copyset policy %u volumes planned, %u refused; random "
	       "policy %u planned, %u refused\n", planned[0], refused[0], planned[1], refused[1]);
	assert_true(planned[0] > PLAN_CASES && planned[1] > PLAN_CASES);
}

/* A pool of @targets targets of @drives drives each in @domains domains. */
static void even_pool(struct pool_case *pc, uint32_t targets, uint32_t drives, uint32_t domains,
		      uint64_t capacity)
{
	pc->pool = (struct mesh_pool){ .drives = pc->drives, .count = 0 };
	pc->targets = targets;
	for (uint32_t t = 0; t < targets; t++) {
		for (uint32_t d = 0; d < drives; d++)
			pc->drives[pc->pool.count++] = (struct mesh_pool_drive){
				.target = t, .drive = d, .domain = t % domains, .capacity = capacity,
			};
	}
}

static void plan_spreads_a_volume_over_successive_copysets(void **state)
{
	(void)state;
	static struct pool_case pc;
	struct mesh_copyset_params params = {
		.policy = MESH_COPYSET_POLICY_COPYSET, .copies = 3, .scatter_width = 4,
	};
	struct mesh_volume_spec spec = {
		.kind = MESH_LAYOUT_STRIPE_MIRROR, .bytes = 20 << 20, .width = 20, .copies = 3,
		.stripe_unit = 64 * 1024,
	};
	struct mesh_copysets cs;
	struct mesh_layout l;
	uint64_t rng = 42;

	even_pool(&pc, 60, 1, 60, 1ull << 30);
	assert_int_equal(mesh_copyset_build(&cs, &pc.pool, &params, &rng, NULL), 0);
	assert_int_equal(cs.count, 40);
	assert_int_equal(mesh_copyset_plan(&pc.pool, &cs, &spec, &rng, &l, NULL), 0);
	long first = copyset_of(&cs, &l.segments[0], 3);

	/* Consecutive copysets: within a permutation they share no target. */
	assert_true(first >= 0);
	for (uint32_t s = 1; s < l.segment_count; s++)
		assert_int_equal(copyset_of(&cs, &l.segments[s], 3), (first + s) % cs.count);
	mesh_copyset_free(&cs);
}

static void plan_takes_the_emptiest_working_drive(void **state)
{
	(void)state;
	static struct pool_case pc;
	struct mesh_copyset_params params = {
		.policy = MESH_COPYSET_POLICY_COPYSET, .copies = 3, .scatter_width = 2,
	};
	struct mesh_volume_spec spec = {
		.kind = MESH_LAYOUT_MIRROR, .bytes = 1 << 20, .width = 1, .copies = 3,
	};
	struct mesh_copysets cs;
	struct mesh_layout l;
	uint64_t rng = 7;

	even_pool(&pc, 3, 3, 3, 64 << 20);
	for (uint32_t t = 0; t < 3; t++) {
		pc.drives[3 * t + 0].used = 8 << 20;
		pc.drives[3 * t + 1].used = 4 << 20;
		pc.drives[3 * t + 2].used = 2 << 20;
	}
	pc.drives[2].failed = true;              /* target 0: drive 1 is the emptiest working */
	pc.drives[3 * 1 + 2].capacity = 2 << 20; /* target 1: drive 2 is full */
	assert_int_equal(mesh_copyset_build(&cs, &pc.pool, &params, &rng, NULL), 0);
	assert_int_equal(mesh_copyset_plan(&pc.pool, &cs, &spec, &rng, &l, NULL), 0);
	for (uint32_t c = 0; c < 3; c++) {
		const struct mesh_replica *r = &l.segments[0].replicas[c];
		uint32_t want = r->target == 2 ? 2 : 1;

		assert_int_equal(r->drive, want);
		assert_int_equal(r->drive_offset, r->target == 2 ? 2 << 20 : 4 << 20);
	}
	mesh_copyset_free(&cs);
}

/* ---- scatter under load: random grows, copyset stays bounded ---- */

/* Mean distinct peers per target over @n layouts; 0 if @over_bound stays
 * NULL, else counts targets whose peers exceed their copyset scatter. */
static double mean_peers(const struct mesh_layout *ls, unsigned n, uint32_t targets,
			 const struct mesh_copysets *bound, unsigned *over_bound)
{
	uint8_t *peer = calloc((size_t)targets * targets, 1);
	uint64_t total = 0;

	assert_non_null(peer);
	for (unsigned v = 0; v < n; v++) {
		for (uint32_t s = 0; s < ls[v].segment_count; s++) {
			const struct mesh_replica *r = ls[v].segments[s].replicas;

			for (uint32_t a = 0; a < ls[v].copies; a++) {
				for (uint32_t b = 0; b < ls[v].copies; b++) {
					if (a != b)
						peer[(size_t)r[a].target * targets + r[b].target] = 1;
				}
			}
		}
	}
	for (uint32_t t = 0; t < targets; t++) {
		uint32_t peers = 0;

		for (uint32_t u = 0; u < targets; u++)
			peers += peer[(size_t)t * targets + u];
		if (bound && peers > bound->targets[t].scatter)
			(*over_bound)++;
		total += peers;
	}
	free(peer);
	return (double)total / targets;
}

static void random_scatter_grows_while_copyset_scatter_stays_bounded(void **state)
{
	(void)state;
	enum { TARGETS = 300, VOLUMES = 800 };
	static struct pool_case pc;
	static struct mesh_layout ls[VOLUMES];
	uint64_t rng = prop_seed("copyset scatter under load");
	double mean[2][2];
	unsigned over = 0;

	for (uint32_t p = 0; p < 2; p++) {
		struct mesh_copyset_params params = {
			.policy = p ? MESH_COPYSET_POLICY_RANDOM : MESH_COPYSET_POLICY_COPYSET,
			.copies = 3,
			.scatter_width = 6,
		};
		struct mesh_copysets cs;

		even_pool(&pc, TARGETS, 2, 30, 1ull << 34);
		assert_int_equal(mesh_copyset_build(&cs, &pc.pool, &params, &rng, NULL), 0);
		for (unsigned v = 0; v < VOLUMES; v++) {
			struct mesh_volume_spec spec = {
				.kind = MESH_LAYOUT_STRIPE_MIRROR, .bytes = 4 << 20, .width = 4,
				.copies = 3, .stripe_unit = 64 * 1024, .first_group = v * 4,
			};

			assert_int_equal(mesh_copyset_plan(&pc.pool, &cs, &spec, &rng, &ls[v], NULL), 0);
		}
		mean[p][0] = mean_peers(ls, VOLUMES / 4, TARGETS, p ? NULL : &cs, &over);
		mean[p][1] = mean_peers(ls, VOLUMES, TARGETS, p ? NULL : &cs, &over);
		mesh_copyset_free(&cs);
	}
	printf("mean peers per target after %d and %d volumes: copyset %.1f, %.1f; random %.1f, "
	       "%.1f\n", VOLUMES / 4, VOLUMES, mean[0][0], mean[0][1], mean[1][0], mean[1][1]);
	assert_int_equal(over, 0);               /* never beyond the copysets */
	assert_true(mean[0][1] <= 6.0 + 2.0);    /* P (R - 1) = 6, + a borrowed set */
	assert_true(mean[1][1] > mean[1][0] * 2); /* random keeps adding peers */
	assert_true(mean[1][1] > 5 * mean[0][1]);
}

/* ---- picking one chunk's replicas ---- */

static void pick_uses_copysets_or_distinct_domains(void **state)
{
	(void)state;
	static struct pool_case pc;
	uint64_t rng = prop_seed("copyset pick");

	for (uint32_t domains = 2; domains <= 10; domains += 8) {
		for (uint32_t p = 0; p < 2; p++) {
			struct mesh_copyset_params params = {
				.policy = p ? MESH_COPYSET_POLICY_RANDOM : MESH_COPYSET_POLICY_COPYSET,
				.copies = 3,
				.scatter_width = 4,
			};
			struct mesh_copysets cs;
			uint32_t t[3];

			even_pool(&pc, 50, 1, domains, 1 << 20);
			assert_int_equal(mesh_copyset_build(&cs, &pc.pool, &params, &rng, NULL), 0);
			assert_int_equal(cs.domains_apart, domains >= 3);
			for (int k = 0; k < 1000; k++) {
				struct mesh_segment seg = { 0 };

				assert_int_equal(mesh_copyset_pick(&cs, &rng, t), 0);
				for (uint32_t j = 0; j < 3; j++)
					seg.replicas[j].target = cs.targets[t[j]].id;
				assert_true(t[0] != t[1] && t[0] != t[2] && t[1] != t[2]);
				if (p == 0)
					assert_true(on_one_copyset(&cs, &seg, 3));
				if (domains >= 3)
					assert_true(cs.targets[t[0]].domain != cs.targets[t[1]].domain &&
						    cs.targets[t[0]].domain != cs.targets[t[2]].domain &&
						    cs.targets[t[1]].domain != cs.targets[t[2]].domain);
			}
			mesh_copyset_free(&cs);
		}
	}
}

/* ---- invalid inputs ---- */

static void assert_build_refused(struct pool_case *pc, struct mesh_copyset_params params,
				 const char *needle)
{
	struct mesh_copysets cs;
	const char *why = NULL;
	uint64_t rng = 1;

	memset(&cs, 0xab, sizeof(cs));
	assert_int_equal(mesh_copyset_build(&cs, &pc->pool, &params, &rng, &why), -EINVAL);
	assert_non_null(why);
	if (!strstr(why, needle))
		fail_msg("reason \"%s\" does not mention \"%s\"", why, needle);
	assert_null(cs.targets); /* nothing to free */
	assert_null(cs.members);
}

static void build_refuses_bad_inputs(void **state)
{
	(void)state;
	static struct pool_case pc;
	struct mesh_copyset_params ok = {
		.policy = MESH_COPYSET_POLICY_COPYSET, .copies = 3, .scatter_width = 4,
	};
	struct mesh_copyset_params p = ok;

	even_pool(&pc, 9, 2, 3, 1 << 20);
	p.copies = 1;
	assert_build_refused(&pc, p, "copies");
	p.copies = MESH_LAYOUT_COPIES_MAX + 1;
	assert_build_refused(&pc, p, "copies");
	p = ok;
	p.scatter_width = 0;
	assert_build_refused(&pc, p, "scatter width");
	p.scatter_width = MESH_COPYSET_SCATTER_MAX + 1;
	assert_build_refused(&pc, p, "scatter width");
	p = ok;
	p.policy = 99;
	assert_build_refused(&pc, p, "policy");
	pc.pool.count = 0;
	assert_build_refused(&pc, ok, "empty pool");
	even_pool(&pc, 2, 1, 2, 1 << 20);
	assert_build_refused(&pc, ok, "fewer targets than copies");
	/* Target 0's drives split by target 1's. */
	even_pool(&pc, 9, 2, 3, 1 << 20);
	pc.drives[2].target = 0;
	pc.drives[1].target = 1;
	assert_build_refused(&pc, ok, "contiguous");
	even_pool(&pc, 9, 2, 3, 1 << 20);
	pc.drives[1].domain = 2;
	assert_build_refused(&pc, ok, "different failure domains");
	/* Three domains, but one holds 7 of 9 targets: 3 copysets cannot
	 * each take at most one of them. */
	even_pool(&pc, 9, 1, 3, 1 << 20);
	for (uint32_t t = 2; t < 9; t++)
		pc.drives[t].domain = 0;
	pc.drives[1].domain = 1;
	pc.drives[0].domain = 2;
	assert_build_refused(&pc, ok, "too few failure domains");
	/* Two domains and three copies: copies kept on distinct targets only. */
	struct mesh_copysets cs;
	uint64_t rng = 3;

	even_pool(&pc, 9, 1, 2, 1 << 20);
	assert_int_equal(mesh_copyset_build(&cs, &pc.pool, &ok, &rng, NULL), 0);
	assert_false(cs.domains_apart);
	mesh_copyset_free(&cs);
}

static void plan_refuses_bad_specs_and_leaves_full_pools_unchanged(void **state)
{
	(void)state;
	static struct pool_case pc;
	static struct mesh_pool_drive before[64];
	struct mesh_copyset_params params = {
		.policy = MESH_COPYSET_POLICY_COPYSET, .copies = 2, .scatter_width = 2,
	};
	struct mesh_volume_spec spec = {
		.kind = MESH_LAYOUT_STRIPE_MIRROR, .bytes = 8 << 20, .width = 4, .copies = 2,
		.stripe_unit = 64 * 1024,
	};
	struct mesh_copysets cs;
	struct mesh_layout l;
	const char *why = NULL;
	uint64_t rng = 5;

	even_pool(&pc, 8, 2, 4, 4 << 20);
	assert_int_equal(mesh_copyset_build(&cs, &pc.pool, &params, &rng, NULL), 0);
	memcpy(before, pc.drives, sizeof(before[0]) * pc.pool.count);
	struct mesh_volume_spec bad = spec;

	bad.width = 0;
	assert_int_equal(mesh_copyset_plan(&pc.pool, &cs, &bad, &rng, &l, &why), -EINVAL);
	assert_non_null(strstr(why, "zero width"));
	bad = spec;
	bad.stripe_unit = 6000;
	assert_int_equal(mesh_copyset_plan(&pc.pool, &cs, &bad, &rng, &l, &why), -EINVAL);
	assert_non_null(strstr(why, "stripe unit"));
	bad = spec;
	bad.copies = 3; /* more than the copysets' 2 members */
	assert_int_equal(mesh_copyset_plan(&pc.pool, &cs, &bad, &rng, &l, &why), -EINVAL);
	assert_non_null(strstr(why, "more copies than the copysets"));
	bad.copies = 4;
	assert_int_equal(mesh_copyset_plan(&pc.pool, &cs, &bad, &rng, &l, &why), -EINVAL);
	struct mesh_pool smaller = { pc.drives, pc.pool.count - 1 };

	assert_int_equal(mesh_copyset_plan(&smaller, &cs, &spec, &rng, &l, &why), -EINVAL);
	assert_non_null(strstr(why, "changed size"));
	/* 16 drives of 4 MiB: 8 MiB x 2 copies fits, 64 MiB x 2 cannot. */
	assert_int_equal(mesh_copyset_plan(&pc.pool, &cs, &spec, &rng, &l, &why), 0);
	memcpy(before, pc.drives, sizeof(before[0]) * pc.pool.count);
	bad = spec;
	bad.bytes = 64 << 20;
	assert_int_equal(mesh_copyset_plan(&pc.pool, &cs, &bad, &rng, &l, &why), -ENOSPC);
	assert_non_null(why);
	assert_memory_equal(before, pc.drives, sizeof(before[0]) * pc.pool.count);
	for (unsigned d = 0; d < pc.pool.count; d++)
		pc.drives[d].failed = true;
	assert_int_equal(mesh_copyset_plan(&pc.pool, &cs, &spec, &rng, &l, &why), -ENOSPC);
	for (unsigned d = 0; d < pc.pool.count; d++)
		pc.drives[d].failed = false;
	assert_memory_equal(before, pc.drives, sizeof(before[0]) * pc.pool.count);
	mesh_copyset_free(&cs);
}

/* ---- scale ---- */

static void plan_cost_does_not_grow_with_the_pool(void **state)
{
	(void)state;
	enum { TARGETS = 100000, DRIVES = 8, VOLUMES = 20000 };
	struct mesh_pool_drive *drives = calloc((size_t)TARGETS * DRIVES, sizeof(*drives));
	struct mesh_pool pool = { drives, TARGETS * DRIVES };
	uint64_t rng = prop_seed("copyset at 100,000 targets");

	assert_non_null(drives);
	for (uint32_t i = 0; i < pool.count; i++)
		drives[i] = (struct mesh_pool_drive){
			.target = i / DRIVES, .drive = i % DRIVES, .domain = i / DRIVES % 50,
			.capacity = 1ull << 40,
		};
	for (uint32_t p = 0; p < 2; p++) {
		struct mesh_copyset_params params = {
			.policy = p ? MESH_COPYSET_POLICY_RANDOM : MESH_COPYSET_POLICY_COPYSET,
			.copies = 3,
			.scatter_width = 10,
		};
		struct mesh_copysets cs;
		struct mesh_layout l;

		assert_int_equal(mesh_copyset_build(&cs, &pool, &params, &rng, NULL), 0);
		for (uint32_t v = 0; v < VOLUMES; v++) {
			struct mesh_volume_spec spec = {
				.kind = MESH_LAYOUT_STRIPE_MIRROR, .bytes = 64 << 20,
				.width = 1 + v % 8, .copies = 2 + v % 2, .stripe_unit = 1 << 20,
			};

			assert_int_equal(mesh_copyset_plan(&pool, &cs, &spec, &rng, &l, NULL), 0);
		}
		mesh_copyset_free(&cs);
	}
	free(drives);
}

/* ---- the study ---- */

static struct mesh_scn_study tiny_study(void)
{
	struct mesh_scn_study st = {
		.present = true,
		.copies = 3,
		.size_count = 3,
		.sizes = { 100, 200, 400 },
		.failed_fraction = 0.05,
		.trials = 4000,
		.chunks_per_node = 120,
		.scatter_width = 4,
	};

	return st;
}

static void study_copysets_lose_data_less_often_and_match_the_model(void **state)
{
	(void)state;
	struct mesh_scn_study st = tiny_study();
	struct mesh_copyset_study_row rows[3];
	uint64_t seed = prop_seed("copyset study");
	char err[256] = "", *json = NULL, *md = NULL;
	size_t json_len = 0, md_len = 0;
	FILE *jf = open_memstream(&json, &json_len), *mf = open_memstream(&md, &md_len);

	assert_int_equal(mesh_copyset_study_run(&st, seed, rows, 3, jf, mf, err, sizeof(err)), 3);
	fclose(jf);
	fclose(mf);
	fputs(md, stdout);
	for (uint32_t i = 0; i < 3; i++) {
		const struct mesh_copyset_study_row *r = &rows[i];

		assert_int_equal(r->nodes, st.sizes[i]);
		assert_int_equal(r->failed_nodes, st.sizes[i] / 20);
		assert_int_equal(r->chunks, (uint64_t)st.sizes[i] * 120 / 3);
		for (uint32_t p = 0; p < 2; p++) {
			const struct mesh_copyset_study_result *x = &r->policy[p];
			double sigma = sqrt(x->p_loss_closed * (1 - x->p_loss_closed) / st.trials);

			/* The model within 4 standard errors, plus 0.03 for its
			 * independence assumption (sets sharing nodes). */
			assert_true(fabs(x->p_loss_mc - x->p_loss_closed) <= 4 * sigma + 0.03);
			assert_true(isnan(x->p_loss_paper));
		}
		/* Two permutations of groups of 3, all used; rarely a group
		 * repeats across the two. */
		assert_true(r->policy[0].distinct_sets <= 2 * ((r->nodes + 2) / 3));
		assert_true(r->policy[0].distinct_sets + 2 >= 2 * ((r->nodes + 2) / 3));
		assert_true(r->policy[1].distinct_sets > 10 * r->policy[0].distinct_sets);
		assert_true(r->policy[0].mean_scatter <= 4.0 + 2.0);
		assert_true(r->policy[1].mean_scatter > 3 * r->policy[0].mean_scatter);
	}
	/* At the larger sizes copysets lose data far less often. */
	for (uint32_t i = 1; i < 3; i++) {
		assert_true(rows[i].policy[0].p_loss_mc < rows[i].policy[1].p_loss_mc);
		assert_true(rows[i].policy[0].p_loss_closed * 5 < rows[i].policy[1].p_loss_closed);
	}
	/* Mid-range at 200 nodes: the agreement above means something there. */
	assert_true(rows[1].policy[1].p_loss_closed > 0.2 && rows[1].policy[1].p_loss_closed < 0.8);
	assert_non_null(strstr(json, "\"rows\": ["));
	assert_non_null(strstr(json, "\"p_loss_closed_form\""));
	assert_non_null(strstr(md, "| 400 | 20 | 16000 |"));
	free(json);
	free(md);
}

static void study_is_deterministic_and_refuses_bad_studies(void **state)
{
	(void)state;
	struct mesh_scn_study st = tiny_study(), bad;
	struct mesh_copyset_study_row a[3], b[3];
	char err[256];

	st.trials = 200;
	assert_int_equal(mesh_copyset_study_run(&st, 9, a, 3, NULL, NULL, err, sizeof(err)), 3);
	assert_int_equal(mesh_copyset_study_run(&st, 9, b, 3, NULL, NULL, err, sizeof(err)), 3);
	assert_memory_equal(a, b, sizeof(a));
	bad = st;
	bad.copies = 4;
	assert_int_equal(mesh_copyset_study_run(&bad, 9, a, 3, NULL, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "copies"));
	bad = st;
	bad.trials = 0;
	assert_int_equal(mesh_copyset_study_run(&bad, 9, a, 3, NULL, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "trials"));
	bad = st;
	bad.sizes[0] = 2;
	assert_int_equal(mesh_copyset_study_run(&bad, 9, a, 3, NULL, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "size"));
	bad = st;
	bad.failed_fraction = 1.5;
	assert_int_equal(mesh_copyset_study_run(&bad, 9, a, 3, NULL, NULL, err, sizeof(err)), -EINVAL);
	bad = st;
	bad.scatter_width = 0;
	assert_int_equal(mesh_copyset_study_run(&bad, 9, a, 3, NULL, NULL, err, sizeof(err)), -EINVAL);
	bad = st;
	bad.chunks_per_node = 0;
	assert_int_equal(mesh_copyset_study_run(&bad, 9, a, 3, NULL, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(mesh_copyset_study_run(&st, 9, a, 2, NULL, NULL, err, sizeof(err)), -EINVAL);
	bad = st;
	bad.present = false;
	assert_int_equal(mesh_copyset_study_run(&bad, 9, a, 3, NULL, NULL, err, sizeof(err)), -EINVAL);
}

static void study_defaults_match_the_papers_setup(void **state)
{
	(void)state;
	struct mesh_scn_study st;

	mesh_copyset_study_defaults(&st);
	assert_true(st.present);
	assert_int_equal(st.copies, 3);
	assert_true(fabs(st.failed_fraction - 0.01) < 1e-12);
	assert_int_equal(st.sizes[st.size_count - 1], 10000);
	/* The paper's figures are for 5000 nodes: the defaults include it. */
	bool has_5000 = false;

	for (uint32_t i = 0; i < st.size_count; i++)
		has_5000 |= st.sizes[i] == 5000;
	assert_true(has_5000);
	assert_true(mesh_copyset_paper_ref_count >= 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(build_refuses_bad_inputs),
		cmocka_unit_test(plan_refuses_bad_specs_and_leaves_full_pools_unchanged),
		cmocka_unit_test(plan_takes_the_emptiest_working_drive),
		cmocka_unit_test(plan_spreads_a_volume_over_successive_copysets),
		cmocka_unit_test(pick_uses_copysets_or_distinct_domains),
		cmocka_unit_test(copysets_keep_members_apart_with_bounded_scatter),
		cmocka_unit_test(plans_keep_copies_apart_and_account_space),
		cmocka_unit_test(random_scatter_grows_while_copyset_scatter_stays_bounded),
		cmocka_unit_test(plan_cost_does_not_grow_with_the_pool),
		cmocka_unit_test(study_defaults_match_the_papers_setup),
		cmocka_unit_test(study_is_deterministic_and_refuses_bad_studies),
		cmocka_unit_test(study_copysets_lose_data_less_often_and_match_the_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

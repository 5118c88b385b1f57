/*
 * tests/test_layout.c: volume geometry and placement.
 *
 * The property test draws random pools and volume specs from a printed
 * seed, plans several volumes into one pool, and checks for each:
 *  - the walk of the whole volume through mesh_layout_map is contiguous and
 *    agrees with an independent per-byte reference mapping;
 *  - per copy, the drive ranges of all extents of all volumes never overlap,
 *    and they add up to volume size x copies: every volume byte has exactly
 *    one place per copy and no two volume bytes share a drive byte;
 *  - copies of a segment sit on different drives, and in different failure
 *    domains whenever the pool has at least `copies` domains;
 *  - every range lies within its drive.
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

#include "core/layout.h"
#include "core/placement.h"
#include "prop.h"
#include "prop_volume.h"

#define GEOMETRIES 1000
#define VOLUMES_PER_POOL 3
#define POOL_DRIVES_MAX 64

/* ---- a drive range, for the overlap and coverage checks ---- */

struct span {
	uint32_t target, drive;
	uint64_t start, len;
};

struct spans {
	struct span *v;
	size_t n, cap;
};

static void spans_add(struct spans *s, struct mesh_location loc, uint64_t len)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		assert_non_null(s->v);
	}
	s->v[s->n++] = (struct span){ loc.target, loc.drive, loc.offset, len };
}

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	if (x->target != y->target)
		return x->target < y->target ? -1 : 1;
	if (x->drive != y->drive)
		return x->drive < y->drive ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

/* No two spans share a byte. Returns the total length. */
static uint64_t spans_assert_disjoint(struct spans *s)
{
	uint64_t total = 0;

	if (s->n > 1) /* an empty set may have no array: qsort wants one */
		qsort(s->v, s->n, sizeof(*s->v), span_cmp);
	for (size_t i = 0; i < s->n; i++) {
		total += s->v[i].len;
		if (i == 0)
			continue;
		const struct span *p = &s->v[i - 1], *c = &s->v[i];

		if (p->target == c->target && p->drive == c->drive)
			assert_true(p->start + p->len <= c->start);
	}
	return total;
}

/* ---- an independent reference mapping, one byte at a time ---- */

static void reference_locate(const struct mesh_layout *l, uint64_t byte, uint32_t *segment,
			     uint64_t *segment_offset)
{
	if (mesh_layout_kind_striped(l->kind)) {
		uint64_t row_bytes = (uint64_t)l->stripe_unit * l->segment_count;
		uint64_t row = byte / row_bytes, in_row = byte % row_bytes;

		*segment = (uint32_t)(in_row / l->stripe_unit);
		*segment_offset = row * l->stripe_unit + in_row % l->stripe_unit;
		return;
	}
	uint32_t s = 0;

	while (byte >= l->segments[s].bytes) {
		byte -= l->segments[s].bytes;
		s++;
	}
	*segment = s;
	*segment_offset = byte;
}

static void assert_extent_matches_reference(const struct mesh_layout *l, const struct mesh_extent *e,
					    uint64_t *rng)
{
	uint64_t probes[3] = { 0, e->length - 1, prop_range(rng, 0, e->length - 1) };

	for (int i = 0; i < 3; i++) {
		uint32_t seg;
		uint64_t off;

		reference_locate(l, e->volume_offset + probes[i], &seg, &off);
		assert_int_equal(seg, e->segment);
		assert_int_equal(off, e->segment_offset + probes[i]);
	}
}

/* ---- random pools and specs ---- */

struct pool_case {
	struct mesh_pool_drive drives[POOL_DRIVES_MAX];
	struct mesh_pool pool;
	uint32_t domains;
};

static void random_pool(uint64_t *rng, struct pool_case *pc)
{
	uint32_t targets = (uint32_t)prop_range(rng, 1, 16);
	uint32_t per_target = (uint32_t)prop_range(rng, 1, 4);

	pc->domains = (uint32_t)prop_range(rng, 1, targets < 5 ? targets : 5);
	pc->pool = (struct mesh_pool){ .drives = pc->drives, .count = 0 };
	for (uint32_t t = 0; t < targets; t++) {
		for (uint32_t d = 0; d < per_target && pc->pool.count < POOL_DRIVES_MAX; d++) {
			pc->drives[pc->pool.count++] = (struct mesh_pool_drive){
				.target = 100 + t,
				.drive = d,
				.domain = t % pc->domains,
				.capacity = prop_range(rng, 64, 4096) * MESH_BLOCK_BYTES,
			};
		}
	}
}

/* Walk the whole volume in random pieces; collect every copy's drive range. */
static void walk_volume(const struct mesh_layout *l, uint64_t *rng, struct spans *spans,
			const struct mesh_pool *pool)
{
	static struct mesh_extent ext[4096];
	uint64_t offset = 0;

	while (offset < l->volume_bytes) {
		uint64_t len = prop_range(rng, 1, 1u << 20);

		if (len > l->volume_bytes - offset)
			len = l->volume_bytes - offset;
		int n = mesh_layout_map(l, offset, len, ext, 4096);

		assert_true(n > 0);
		assert_int_equal(n, mesh_layout_extent_count(l, offset, len));
		uint64_t expect = offset;

		for (int i = 0; i < n; i++) {
			const struct mesh_extent *e = &ext[i];

			assert_int_equal(e->volume_offset, expect);
			assert_true(e->length > 0);
			assert_true(e->segment < l->segment_count);
			assert_true(e->segment_offset + e->length <= l->segments[e->segment].bytes);
			assert_extent_matches_reference(l, e, rng);
			for (uint32_t c = 0; c < l->copies; c++) {
				struct mesh_location loc = mesh_layout_locate(l, e, c);
				int found = 0;

				for (unsigned d = 0; d < pool->count; d++) {
					const struct mesh_pool_drive *pd = &pool->drives[d];

					if (pd->target == loc.target && pd->drive == loc.drive) {
						assert_true(loc.offset + e->length <= pd->capacity);
						found = 1;
					}
				}
				assert_true(found);
				spans_add(spans, loc, e->length);
			}
			expect += e->length;
		}
		assert_int_equal(expect, offset + len);
		offset += len;
	}
}

/* Whether some usable drive outside the domains (or targets) of @seg's
 * other copies still has room for the segment. Drives only fill up, so if
 * one has room now, it had room when the segment was placed. */
static bool elsewhere_had_room(const struct mesh_layout *l, const struct mesh_segment *seg,
			       uint32_t copy, const struct mesh_pool *pool, bool by_target)
{
	for (unsigned d = 0; d < pool->count; d++) {
		const struct mesh_pool_drive *pd = &pool->drives[d];
		bool clash = false;

		for (uint32_t c = 0; c < l->copies; c++)
			clash |= c != copy && (by_target ? seg->replicas[c].target == pd->target
							 : seg->replicas[c].domain == pd->domain);
		if (!clash && !pd->failed && pd->capacity - pd->used >= seg->bytes)
			return true;
	}
	return false;
}

/* Copies on distinct drives always; on distinct targets and in distinct
 * domains wherever the pool (@pool, or NULL when it has ample room
 * everywhere) allowed it. */
static void assert_copies_apart(const struct mesh_layout *l, const struct mesh_pool *pool)
{
	for (uint32_t s = 0; s < l->segment_count; s++) {
		const struct mesh_segment *seg = &l->segments[s];
		const struct mesh_replica *r = seg->replicas;

		for (uint32_t a = 0; a < l->copies; a++) {
			for (uint32_t b = 0; b < a; b++) {
				assert_false(r[a].target == r[b].target && r[a].drive == r[b].drive);
				if (r[a].domain == r[b].domain)
					assert_true(pool && !elsewhere_had_room(l, seg, a, pool, false));
				if (r[a].target == r[b].target)
					assert_true(pool && !elsewhere_had_room(l, seg, a, pool, true));
			}
		}
	}
}

static void random_geometries_map_every_byte_once_per_copy(void **state)
{
	(void)state;
	uint64_t rng = prop_seed("layout property");
	unsigned checked = 0, refused = 0;
	struct spans spans = { 0 };

	for (int g = 0; g < GEOMETRIES; g++) {
		struct pool_case pc;
		uint64_t placed_bytes = 0;

		random_pool(&rng, &pc);
		spans.n = 0;
		for (int v = 0; v < VOLUMES_PER_POOL; v++) {
			struct mesh_volume_spec spec = prop_volume_spec(&rng, (uint64_t)v * 1000, 3, 2048);
			struct mesh_layout l;
			const char *why = NULL;
			int rc = mesh_placement_plan(&pc.pool, &spec, &l, &why);

			if (rc) {
				/* Only the pool's limits may refuse a valid spec. */
				assert_true(rc == -ENOSPC || (rc == -EINVAL && spec.copies > pc.pool.count));
				assert_non_null(why);
				refused++;
				continue;
			}
			assert_int_equal(mesh_layout_check(&l, NULL), 0);
			assert_int_equal(l.volume_bytes, spec.bytes);
			assert_copies_apart(&l, &pc.pool);
			walk_volume(&l, &rng, &spans, &pc.pool);
			placed_bytes += l.volume_bytes * l.copies;
			checked++;
		}
		/* Disjoint across all copies of all volumes in this pool, and
		 * nothing missing: each copy of each byte is placed once. */
		assert_int_equal(spans_assert_disjoint(&spans), placed_bytes);
	}
	free(spans.v);
	printf("layout property: %u random geometries checked, %u refused by full pools\n",
	       checked, refused);
	assert_true(checked > GEOMETRIES); /* most of the 3 x GEOMETRIES must fit */
}

/* ---- invalid geometries ---- */

static struct mesh_layout valid_stripe_mirror(void)
{
	struct mesh_layout l = {
		.kind = MESH_LAYOUT_STRIPE_MIRROR,
		.stripe_unit = 64 * 1024,
		.copies = 2,
		.segment_count = 2,
		.volume_bytes = 2 * 1024 * 1024,
	};

	for (uint32_t s = 0; s < 2; s++) {
		l.segments[s].bytes = 1024 * 1024;
		l.segments[s].group = s;
		for (uint32_t c = 0; c < 2; c++)
			l.segments[s].replicas[c] = (struct mesh_replica){
				.target = s * 2 + c, .drive = 0, .domain = c, .drive_offset = 0,
			};
	}
	return l;
}

static void assert_rejected(const struct mesh_layout *l, const char *needle)
{
	const char *why = NULL;

	assert_int_equal(mesh_layout_check(l, &why), -EINVAL);
	assert_non_null(why);
	if (!strstr(why, needle))
		fail_msg("reason \"%s\" does not mention \"%s\"", why, needle);
}

static void layout_check_accepts_a_valid_geometry(void **state)
{
	(void)state;
	struct mesh_layout l = valid_stripe_mirror();

	assert_int_equal(mesh_layout_check(&l, NULL), 0);
}

static void layout_rejects_zero_width(void **state)
{
	(void)state;
	struct mesh_layout l = valid_stripe_mirror();

	l.segment_count = 0;
	assert_rejected(&l, "zero width");
	l.segment_count = MESH_LAYOUT_SEGMENTS_MAX + 1;
	assert_rejected(&l, "too many segments");
}

static void layout_rejects_bad_stripe_units(void **state)
{
	(void)state;
	struct mesh_layout l = valid_stripe_mirror();

	l.stripe_unit = 0;
	assert_rejected(&l, "stripe unit");
	l.stripe_unit = 6000;
	assert_rejected(&l, "multiple of 4 KiB");
	l.stripe_unit = 4096 + 512;
	assert_rejected(&l, "multiple of 4 KiB");
	l.stripe_unit = MESH_LAYOUT_STRIPE_UNIT_MAX * 2;
	assert_rejected(&l, "limit");
	l = valid_stripe_mirror();
	l.stripe_unit = 3 * 4096; /* segments of 1 MiB are not whole 12 KiB units */
	assert_rejected(&l, "whole stripe units");
}

static void layout_rejects_copies_that_do_not_fit_the_kind(void **state)
{
	(void)state;
	struct mesh_layout l = valid_stripe_mirror();

	l.copies = 1;
	assert_rejected(&l, "2 or 3 copies");
	l.copies = 4;
	assert_rejected(&l, "2 or 3 copies");
	l = valid_stripe_mirror();
	l.kind = MESH_LAYOUT_STRIPE;
	assert_rejected(&l, "exactly 1 copy");
	l.kind = 99;
	assert_rejected(&l, "unknown layout kind");
}

static void layout_rejects_two_copies_on_one_drive(void **state)
{
	(void)state;
	struct mesh_layout l = valid_stripe_mirror();

	l.segments[1].replicas[1] = l.segments[1].replicas[0];
	l.segments[1].replicas[1].drive_offset = 8 * 1024 * 1024;
	assert_rejected(&l, "more copies than drives");
}

static void layout_rejects_shared_drive_bytes(void **state)
{
	(void)state;
	struct mesh_layout l = valid_stripe_mirror();

	/* Segment 1 copy 0 onto segment 0 copy 0's drive, half overlapping. */
	l.segments[1].replicas[0] = l.segments[0].replicas[0];
	l.segments[1].replicas[0].drive_offset = 512 * 1024;
	assert_rejected(&l, "share drive bytes");
	/* Back to back on the same drive is fine. */
	l.segments[1].replicas[0].drive_offset = 1024 * 1024;
	assert_int_equal(mesh_layout_check(&l, NULL), 0);
}

static void layout_rejects_overflowing_sizes(void **state)
{
	(void)state;
	struct mesh_layout l = valid_stripe_mirror();

	l.kind = MESH_LAYOUT_MIRROR;
	l.segments[0].bytes = UINT64_MAX - 4095;
	l.segments[1].bytes = UINT64_MAX - 4095;
	assert_rejected(&l, "limit");
	l = valid_stripe_mirror();
	l.segments[0].replicas[0].drive_offset = UINT64_MAX - 4095;
	assert_rejected(&l, "limit");
	l = valid_stripe_mirror();
	l.volume_bytes = 4ull * 1024 * 1024;
	assert_rejected(&l, "larger than its segments");
	l.volume_bytes = 1000;
	assert_rejected(&l, "multiple of 4 KiB");
	l = valid_stripe_mirror();
	l.segments[1].bytes = 2 * 1024 * 1024;
	assert_rejected(&l, "equal in size");
	l = valid_stripe_mirror();
	l.segments[0].replicas[1].drive_offset = 100;
	assert_rejected(&l, "drive offset");
}

static void map_rejects_bad_ranges(void **state)
{
	(void)state;
	struct mesh_layout l = valid_stripe_mirror();
	struct mesh_extent e[4];

	assert_int_equal(mesh_layout_map(&l, 0, 0, e, 4), -EINVAL);
	assert_int_equal(mesh_layout_map(&l, l.volume_bytes, 1, e, 4), -ERANGE);
	assert_int_equal(mesh_layout_map(&l, l.volume_bytes - 1, 2, e, 4), -ERANGE);
	assert_int_equal(mesh_layout_map(&l, 1, UINT64_MAX, e, 4), -ERANGE);
	assert_int_equal(mesh_layout_map(&l, UINT64_MAX, 1, e, 4), -ERANGE);
	/* 5 stripe units need 5 extents. */
	assert_int_equal(mesh_layout_map(&l, 0, 5 * 64 * 1024, e, 4), -E2BIG);
	assert_int_equal(mesh_layout_extent_count(&l, 0, 5 * 64 * 1024), 5);
	assert_int_equal(mesh_layout_map(&l, l.volume_bytes - 1, 1, e, 4), 1);
}

static void map_splits_at_stripe_units(void **state)
{
	(void)state;
	struct mesh_layout l = valid_stripe_mirror();
	struct mesh_extent e[4];

	/* 16 KiB before the end of unit 0 through 16 KiB into unit 2. */
	int n = mesh_layout_map(&l, 48 * 1024, 96 * 1024, e, 4);

	assert_int_equal(n, 3);
	assert_int_equal(e[0].segment, 0);
	assert_int_equal(e[0].segment_offset, 48 * 1024);
	assert_int_equal(e[0].length, 16 * 1024);
	assert_int_equal(e[1].segment, 1);
	assert_int_equal(e[1].segment_offset, 0);
	assert_int_equal(e[1].length, 64 * 1024);
	assert_int_equal(e[2].segment, 0);
	assert_int_equal(e[2].segment_offset, 64 * 1024);
	assert_int_equal(e[2].length, 16 * 1024);
	struct mesh_location loc = mesh_layout_locate(&l, &e[2], 1);
	assert_int_equal(loc.target, 1);
	assert_int_equal(loc.offset, 64 * 1024);
}

/* ---- placement ---- */

static void placement_rejects_impossible_specs(void **state)
{
	(void)state;
	struct mesh_pool_drive drives[2] = {
		{ .target = 1, .drive = 0, .domain = 0, .capacity = 1 << 20 },
		{ .target = 2, .drive = 0, .domain = 1, .capacity = 1 << 20 },
	};
	struct mesh_pool pool = { drives, 2 };
	struct mesh_volume_spec spec = {
		.kind = MESH_LAYOUT_MIRROR, .bytes = 1 << 20, .width = 1, .copies = 3,
	};
	struct mesh_layout l;
	const char *why = NULL;

	assert_int_equal(mesh_placement_plan(&pool, &spec, &l, &why), -EINVAL);
	assert_non_null(strstr(why, "more copies than drives"));
	spec.copies = 2;
	spec.width = 0;
	assert_int_equal(mesh_placement_plan(&pool, &spec, &l, &why), -EINVAL);
	assert_non_null(strstr(why, "zero width"));
	spec = (struct mesh_volume_spec){
		.kind = MESH_LAYOUT_STRIPE, .bytes = 1 << 20, .width = 2, .copies = 1,
		.stripe_unit = 6000,
	};
	assert_int_equal(mesh_placement_plan(&pool, &spec, &l, &why), -EINVAL);
	assert_non_null(strstr(why, "stripe unit"));
	spec.stripe_unit = 4096;
	spec.bytes = 1000;
	assert_int_equal(mesh_placement_plan(&pool, &spec, &l, &why), -EINVAL);
	spec.bytes = 4ull << 20; /* 2 MiB per drive: more than they hold */
	assert_int_equal(mesh_placement_plan(&pool, &spec, &l, &why), -ENOSPC);
	assert_int_equal(drives[0].used, 0); /* a refused plan takes nothing */
	assert_int_equal(drives[1].used, 0);
	spec.bytes = 1ull << 61;
	assert_int_equal(mesh_placement_plan(&pool, &spec, &l, &why), -EINVAL);
	spec = (struct mesh_volume_spec){
		.kind = MESH_LAYOUT_CONCAT, .bytes = 4096, .width = 2, .copies = 1,
	};
	assert_int_equal(mesh_placement_plan(&pool, &spec, &l, &why), -EINVAL);
	assert_non_null(strstr(why, "fewer 4 KiB blocks than segments"));
}

static void placement_skips_failed_drives_and_spreads_domains(void **state)
{
	(void)state;
	struct mesh_pool_drive drives[6];
	struct mesh_pool pool = { drives, 6 };

	for (uint32_t i = 0; i < 6; i++)
		drives[i] = (struct mesh_pool_drive){
			.target = i, .drive = 0, .domain = i / 2, .capacity = 64 << 20,
		};
	drives[0].failed = true;
	struct mesh_volume_spec spec = {
		.kind = MESH_LAYOUT_STRIPE_MIRROR, .bytes = 8 << 20, .width = 2, .copies = 3,
		.stripe_unit = 128 * 1024,
	};
	struct mesh_layout l;

	assert_int_equal(mesh_placement_plan(&pool, &spec, &l, NULL), 0);
	for (uint32_t s = 0; s < 2; s++) {
		for (uint32_t c = 0; c < 3; c++)
			assert_int_not_equal(l.segments[s].replicas[c].target, 0);
	}
	assert_copies_apart(&l, NULL);
	assert_int_equal(drives[0].used, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(layout_check_accepts_a_valid_geometry),
		cmocka_unit_test(layout_rejects_zero_width),
		cmocka_unit_test(layout_rejects_bad_stripe_units),
		cmocka_unit_test(layout_rejects_copies_that_do_not_fit_the_kind),
		cmocka_unit_test(layout_rejects_two_copies_on_one_drive),
		cmocka_unit_test(layout_rejects_shared_drive_bytes),
		cmocka_unit_test(layout_rejects_overflowing_sizes),
		cmocka_unit_test(map_rejects_bad_ranges),
		cmocka_unit_test(map_splits_at_stripe_units),
		cmocka_unit_test(placement_rejects_impossible_specs),
		cmocka_unit_test(placement_skips_failed_drives_and_spreads_domains),
		cmocka_unit_test(random_geometries_map_every_byte_once_per_copy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

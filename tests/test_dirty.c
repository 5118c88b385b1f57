/*
 * tests/test_dirty.c: the durable dirty-region maps of a target
 * (core/dirty.h) and the fresh-sector bitmap of a rebuilding replica
 * (core/fresh.h), driven through their public APIs only.
 *
 * The fake environment is a metadata store and a log, nothing else. Its
 * records live in the test, outside any mesh_dirty, so a restart is
 * destroy + create on the same store. A put can be made to fail, every
 * put is counted, and records can be rewritten to play a corrupted store.
 * Nothing here knows the record layout: corruption swaps, truncates,
 * extends or zeroes whole records.
 *
 * MESH_TEST_LOG=1 prints every log line.
 */
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

#include "core/dirty.h"
#include "core/fresh.h"
#include "prop.h"

#define MIB MESH_DIRTY_REGION_BYTES
#define SECTOR ((uint64_t)MESH_FRESH_SECTOR_BYTES)
#define RECORDS_MAX (MESH_DIRTY_GROUPS_MAX + 8u)
#define LOG_LINE_MAX 256
#define GROUP_A 7u
#define GROUP_B 8u

/* One record of the metadata store. */
struct record {
	uint64_t key;
	uint32_t len;
	uint8_t *bytes;
};

struct fake {
	struct mesh_env env;
	struct mesh_dirty *d;
	struct record records[RECORDS_MAX]; /* survive restarts of d */
	uint32_t record_count;
	unsigned put_calls;                 /* failed ones included */
	uint64_t last_put_key;
	int put_error;                      /* nonzero: every put fails with it */
	unsigned error_lines;
	char last_error[LOG_LINE_MAX];
	bool log;
};

/* ---- the fake environment ---- */

static struct record *record_find(struct fake *f, uint64_t key)
{
	for (uint32_t i = 0; i < f->record_count; i++) {
		if (f->records[i].key == key)
			return &f->records[i];
	}
	return NULL;
}

static int fake_meta_put(void *ctx, uint64_t key, const void *buf, uint32_t len)
{
	struct fake *f = ctx;
	struct record *r;
	uint8_t *bytes;

	f->put_calls++;
	f->last_put_key = key;
	if (f->put_error)
		return f->put_error;
	r = record_find(f, key);
	if (!r) {
		assert_true(f->record_count < RECORDS_MAX);
		r = &f->records[f->record_count++];
		*r = (struct record){ .key = key };
	}
	bytes = realloc(r->bytes, len ? len : 1);
	assert_non_null(bytes);
	memcpy(bytes, buf, len);
	r->bytes = bytes;
	r->len = len;
	return 0;
}

static int fake_meta_get(void *ctx, uint64_t key, void *buf, uint32_t cap)
{
	struct record *r = record_find(ctx, key);

	if (!r)
		return -ENOENT;
	if (r->len > cap)
		return -ENOSPC;
	memcpy(buf, r->bytes, r->len);
	return (int)r->len;
}

static void fake_vlog(void *ctx, enum mesh_log_level level, const char *fmt, va_list ap)
{
	struct fake *f = ctx;
	char line[LOG_LINE_MAX];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (level == MESH_LOG_ERROR) {
		f->error_lines++;
		memcpy(f->last_error, line, sizeof(f->last_error));
	}
	if (f->log)
		printf("%s: %s\n", mesh_log_level_name(level), line);
}

static const struct mesh_env_ops fake_ops = {
	.meta_put = fake_meta_put,
	.meta_get = fake_meta_get,
	.vlog = fake_vlog,
};

static int fake_setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	const char *log = getenv("MESH_TEST_LOG");

	assert_non_null(f);
	f->env = (struct mesh_env){ .ops = &fake_ops, .ctx = f, .self = 1 };
	f->log = log && *log && strcmp(log, "0") != 0;
	assert_int_equal(mesh_dirty_create(&f->env, &f->d), 0);
	assert_non_null(f->d);
	*state = f;
	return 0;
}

static int fake_teardown(void **state)
{
	struct fake *f = *state;

	mesh_dirty_destroy(f->d);
	for (uint32_t i = 0; i < f->record_count; i++)
		free(f->records[i].bytes);
	free(f);
	return 0;
}

/* The node crashes and comes back: a new mesh_dirty on the same store. */
static void restart(struct fake *f)
{
	mesh_dirty_destroy(f->d);
	f->d = NULL;
	assert_int_equal(mesh_dirty_create(&f->env, &f->d), 0);
}

static bool bit_is_set(const uint64_t *bits, uint64_t i)
{
	return (bits[i / 64] >> (i % 64)) & 1;
}

/* @group's map (a segment of @bytes) holds exactly regions @want[0..n):
 * every other bit of its words, padding included, is clear. */
static void expect_regions(struct fake *f, uint64_t group, uint64_t bytes, const uint32_t *want,
			   size_t n)
{
	const uint64_t *got = mesh_dirty_regions(f->d, group, bytes);
	uint64_t bits = ((uint64_t)mesh_dirty_region_count(bytes) + 63) / 64 * 64;

	assert_non_null(got);
	for (uint64_t r = 0; r < bits; r++) {
		bool wanted = false;

		for (size_t i = 0; i < n; i++)
			wanted |= want[i] == r;
		if (bit_is_set(got, r) != wanted)
			fail_msg("group %llu region %llu: %s, expected %s", (unsigned long long)group,
				 (unsigned long long)r, wanted ? "clear" : "marked",
				 wanted ? "marked" : "clear");
	}
}

#define EXPECT_REGIONS(f, group, bytes, ...)                                    \
	expect_regions((f), (group), (bytes), (const uint32_t[]){ __VA_ARGS__ }, \
		       sizeof((const uint32_t[]){ __VA_ARGS__ }) / sizeof(uint32_t))

static bool always(void *arg, uint64_t group)
{
	(void)arg;
	(void)group;
	return true;
}

static bool never(void *arg, uint64_t group)
{
	(void)arg;
	(void)group;
	return false;
}

/* all_active for a fixed set of settled groups; remembers who was asked. */
struct settled {
	uint64_t groups[4];
	unsigned count;
	uint64_t asked[16];
	unsigned asked_count;
};

static bool settled_only(void *arg, uint64_t group)
{
	struct settled *s = arg;

	assert_true(s->asked_count < 16);
	s->asked[s->asked_count++] = group;
	for (unsigned i = 0; i < s->count; i++) {
		if (s->groups[i] == group)
			return true;
	}
	return false;
}

static bool was_asked(const struct settled *s, uint64_t group)
{
	for (unsigned i = 0; i < s->asked_count; i++) {
		if (s->asked[i] == group)
			return true;
	}
	return false;
}

/* ---- dirty: creation and geometry ---- */

static void create_without_a_metadata_store_is_refused(void **state)
{
	static const struct mesh_env_ops no_put = { .meta_get = fake_meta_get, .vlog = fake_vlog };
	static const struct mesh_env_ops no_get = { .meta_put = fake_meta_put, .vlog = fake_vlog };
	struct fake *f = *state;
	struct mesh_env env = { .ops = &no_put, .ctx = f, .self = 1 };
	struct mesh_dirty *d = NULL;

	assert_int_equal(mesh_dirty_create(&env, &d), -EOPNOTSUPP);
	assert_null(d);
	assert_int_equal(f->error_lines, 1);
	assert_non_null(strstr(f->last_error, "metadata store"));

	env.ops = &no_get;
	assert_int_equal(mesh_dirty_create(&env, &d), -EOPNOTSUPP);
	assert_null(d);
	assert_int_equal(f->error_lines, 2);
	assert_int_equal(f->put_calls, 0);
}

static void region_count_rounds_up_to_whole_regions(void **state)
{
	(void)state;
	assert_int_equal(mesh_dirty_region_count(0), 0);
	assert_int_equal(mesh_dirty_region_count(1), 1);
	assert_int_equal(mesh_dirty_region_count(MIB - 1), 1);
	assert_int_equal(mesh_dirty_region_count(MIB), 1);
	assert_int_equal(mesh_dirty_region_count(MIB + 1), 2);
	assert_int_equal(mesh_dirty_region_count(7 * MIB / 2), 4);
	assert_int_equal(mesh_dirty_region_count(64 * MIB), 64);
	assert_int_equal(mesh_dirty_region_count(64 * MIB + 1), 65);
	assert_int_equal(mesh_dirty_region_count(MESH_DIRTY_REGIONS_MAX * MIB),
			 MESH_DIRTY_REGIONS_MAX);
	/* Past the limit the count says so rather than wrapping. */
	assert_int_equal(mesh_dirty_region_count(MESH_DIRTY_REGIONS_MAX * MIB + 1),
			 MESH_DIRTY_REGIONS_MAX + 1);
	assert_int_equal(mesh_dirty_region_count(1ull << 50), MESH_DIRTY_REGIONS_MAX + 1);
}

/* ---- dirty: marking ---- */

static void mark_sets_exactly_the_regions_it_touches(void **state)
{
	struct fake *f = *state;
	uint64_t bytes = 4 * MIB;

	/* A write straddling the 1 MiB boundary. */
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, MIB - 512, 1024), 0);
	EXPECT_REGIONS(f, GROUP_A, bytes, 0, 1);

	/* A write of exactly one region does not spill into the next. */
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_B, bytes, 2 * MIB, MIB), 0);
	EXPECT_REGIONS(f, GROUP_B, bytes, 2);

	/* The last byte of a 3.5 MiB segment lies in region 3. */
	assert_int_equal(mesh_dirty_mark(f->d, 9, 7 * MIB / 2, 7 * MIB / 2 - 1, 1), 0);
	EXPECT_REGIONS(f, 9, 7 * MIB / 2, 3);

	/* The whole segment. */
	assert_int_equal(mesh_dirty_mark(f->d, 10, 7 * MIB / 2, 0, 7 * MIB / 2), 0);
	EXPECT_REGIONS(f, 10, 7 * MIB / 2, 0, 1, 2, 3);

	/* Across a 64-region word. */
	assert_int_equal(mesh_dirty_mark(f->d, 11, 200 * MIB, 63 * MIB + 4096, MIB), 0);
	EXPECT_REGIONS(f, 11, 200 * MIB, 63, 64);
	assert_int_equal(mesh_dirty_mark(f->d, 11, 200 * MIB, 199 * MIB, MIB), 0);
	EXPECT_REGIONS(f, 11, 200 * MIB, 63, 64, 199);

	/* Marks accumulate; earlier groups are untouched by later ones. */
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, 3 * MIB, 1), 0);
	EXPECT_REGIONS(f, GROUP_A, bytes, 0, 1, 3);
	EXPECT_REGIONS(f, GROUP_B, bytes, 2);
	assert_int_equal(f->error_lines, 0);
}

static void the_largest_segment_is_tracked_to_its_last_region(void **state)
{
	struct fake *f = *state;
	uint64_t bytes = MESH_DIRTY_REGIONS_MAX * MIB;

	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, bytes - 1, 1), 0);
	EXPECT_REGIONS(f, GROUP_A, bytes, MESH_DIRTY_REGIONS_MAX - 1);
	restart(f);
	EXPECT_REGIONS(f, GROUP_A, bytes, MESH_DIRTY_REGIONS_MAX - 1);
}

static void regions_of_an_untouched_group_are_null(void **state)
{
	struct fake *f = *state;

	assert_null(mesh_dirty_regions(f->d, GROUP_A, 4 * MIB));
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_B, 4 * MIB, 0, 1), 0);
	assert_null(mesh_dirty_regions(f->d, GROUP_A, 4 * MIB));
	assert_null(mesh_dirty_regions(f->d, GROUP_B + 1, 4 * MIB));
	/* A segment of no bytes has no regions to mark. */
	assert_null(mesh_dirty_regions(f->d, GROUP_A, 0));
	EXPECT_REGIONS(f, GROUP_B, 4 * MIB, 0);
}

static void marks_outside_the_segment_are_refused_and_store_nothing(void **state)
{
	struct fake *f = *state;
	uint64_t bytes = 4 * MIB;
	uint64_t too_big = (MESH_DIRTY_REGIONS_MAX + 1ull) * MIB;

	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, bytes, 1), -ERANGE);
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, bytes + MIB, 1), -ERANGE);
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, 0, 0), -ERANGE);
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, MIB, 0), -ERANGE);
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, bytes - 1, 2), -ERANGE);
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, 0, bytes + 1), -ERANGE);
	/* offset + length wraps around: still outside. */
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, MIB, UINT64_MAX), -ERANGE);
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, 0, 0, 1), -ERANGE);
	/* A segment too large to track, even where the write is inside it. */
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, too_big, 0, 1), -ERANGE);
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, UINT64_MAX, 0, 1), -ERANGE);

	assert_int_equal(f->put_calls, 0);
	assert_int_equal(f->record_count, 0);
	assert_false(mesh_dirty_any(f->d));
	assert_null(mesh_dirty_regions(f->d, GROUP_A, bytes));

	/* Once a group's map exists, a different segment size is refused
	 * too, and leaves the map as it was. */
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, 0, 1), 0);
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, 8 * MIB, 5 * MIB, 1), -ERANGE);
	assert_null(mesh_dirty_regions(f->d, GROUP_A, 8 * MIB));
	assert_int_equal(f->put_calls, 1);
	EXPECT_REGIONS(f, GROUP_A, bytes, 0);
}

static void store_is_written_only_when_a_new_region_is_marked(void **state)
{
	struct fake *f = *state;
	uint64_t bytes = 8 * MIB;

	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, 0, 4096), 0);
	assert_int_equal(f->put_calls, 1);
	assert_int_equal(f->record_count, 1);
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, 0, 4096), 0);
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, MIB - 1, 1), 0);
	assert_int_equal(f->put_calls, 1);

	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, MIB, 1), 0);
	assert_int_equal(f->put_calls, 2);
	/* Two regions, both marked already: nothing to write. */
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, MIB - 1, 2), 0);
	assert_int_equal(f->put_calls, 2);
	/* One old and one new region: one write. */
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, 2 * MIB - 1, 2), 0);
	assert_int_equal(f->put_calls, 3);

	/* Another group has its own record. */
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_B, bytes, MIB, 1), 0);
	assert_int_equal(f->put_calls, 4);
	assert_int_equal(f->record_count, 2);

	/* Queries never write. */
	EXPECT_REGIONS(f, GROUP_A, bytes, 0, 1, 2);
	assert_null(mesh_dirty_regions(f->d, 99, bytes));
	assert_int_equal(f->put_calls, 4);
}

static void a_failed_store_fails_the_mark(void **state)
{
	struct fake *f = *state;
	uint64_t bytes = 4 * MIB;

	f->put_error = -EROFS;
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, 0, 1), -EROFS);
	assert_int_equal(f->put_calls, 1);
	assert_int_equal(f->error_lines, 1);
	assert_non_null(strstr(f->last_error, "group 7"));
	assert_int_equal(f->record_count, 0);

	f->put_error = -EIO;
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_B, bytes, 2 * MIB, 1), -EIO);
	assert_int_equal(f->error_lines, 2);

	/* Whatever the failed marks left in memory, the store holds nothing,
	 * so the writes they guarded must not have been applied. */
	f->put_error = 0;
	restart(f);
	assert_null(mesh_dirty_regions(f->d, GROUP_A, bytes));
	assert_null(mesh_dirty_regions(f->d, GROUP_B, bytes));
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, 0, 1), 0);
	EXPECT_REGIONS(f, GROUP_A, bytes, 0);
}

static void groups_past_the_limit_are_refused(void **state)
{
	struct fake *f = *state;
	uint64_t bytes = 4 * MIB;

	/* Every group id exactly once, in an order that keeps inserting
	 * between existing maps (7 is odd, so i * 7 permutes mod 4096). */
	for (uint32_t i = 0; i < MESH_DIRTY_GROUPS_MAX; i++) {
		uint64_t g = 1000 + (i * 7u) % MESH_DIRTY_GROUPS_MAX;

		assert_int_equal(mesh_dirty_mark(f->d, g, bytes, (g % 4) * MIB, 1), 0);
	}
	assert_int_equal(mesh_dirty_mark(f->d, 1000 + MESH_DIRTY_GROUPS_MAX, bytes, 0, 1),
			 -ENOSPC);
	assert_int_equal(mesh_dirty_mark(f->d, 1, bytes, 0, 1), -ENOSPC);
	assert_null(mesh_dirty_regions(f->d, 1, bytes));
	assert_int_equal(f->put_calls, MESH_DIRTY_GROUPS_MAX);

	for (uint64_t g = 1000; g < 1000 + MESH_DIRTY_GROUPS_MAX; g++)
		EXPECT_REGIONS(f, g, bytes, (uint32_t)(g % 4));
	/* Groups already tracked take new marks. */
	assert_int_equal(mesh_dirty_mark(f->d, 1000, bytes, 3 * MIB, 1), 0);
	EXPECT_REGIONS(f, 1000, bytes, 0, 3);
}

/* ---- dirty: aging ---- */

static void aging_clears_a_region_one_full_window_after_its_last_mark(void **state)
{
	struct fake *f = *state;
	uint64_t bytes = 4 * MIB;
	unsigned puts;

	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, 0, 1), 0);
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, MIB, 1), 0);
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, 3 * MIB, 1), 0);
	puts = f->put_calls;

	/* Step 1: all three were marked during this window. */
	assert_int_equal(mesh_dirty_age(f->d, always, NULL), 0);
	EXPECT_REGIONS(f, GROUP_A, bytes, 0, 1, 3);
	assert_int_equal(f->put_calls, puts);

	/* Region 1 is written again before step 2: only 0 and 3 go. */
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, MIB + 7, 1), 0);
	assert_int_equal(f->put_calls, puts); /* still marked: no write */
	assert_int_equal(mesh_dirty_age(f->d, always, NULL), 2);
	EXPECT_REGIONS(f, GROUP_A, bytes, 1);
	assert_int_equal(f->put_calls, puts + 1);

	/* What the store holds follows: a restart sees region 1 only. */
	restart(f);
	EXPECT_REGIONS(f, GROUP_A, bytes, 1);

	/* Loaded marks count as recent: they outlive one step... */
	assert_int_equal(mesh_dirty_age(f->d, always, NULL), 0);
	EXPECT_REGIONS(f, GROUP_A, bytes, 1);
	/* ...and go at the next. */
	assert_int_equal(mesh_dirty_age(f->d, always, NULL), 1);
	assert_null(mesh_dirty_regions(f->d, GROUP_A, bytes));
	assert_false(mesh_dirty_any(f->d));
	puts = f->put_calls;
	assert_int_equal(mesh_dirty_age(f->d, always, NULL), 0);
	assert_int_equal(f->put_calls, puts);

	/* A region cleared by aging is marked (and stored) anew. */
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, 0, 1), 0);
	assert_int_equal(f->put_calls, puts + 1);
	restart(f);
	EXPECT_REGIONS(f, GROUP_A, bytes, 0);
}

static void aging_waits_while_a_replica_is_not_active(void **state)
{
	struct fake *f = *state;
	uint64_t bytes = 4 * MIB;
	unsigned puts;

	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, 0, 1), 0);
	puts = f->put_calls;
	for (int step = 0; step < 10; step++) {
		assert_int_equal(mesh_dirty_age(f->d, never, NULL), 0);
		if (step == 4)
			assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, 2 * MIB, 1), 0);
	}
	EXPECT_REGIONS(f, GROUP_A, bytes, 0, 2);
	assert_true(mesh_dirty_any(f->d));
	assert_int_equal(f->put_calls, puts + 1);

	/* Everyone active again: every mark made during the outage counts
	 * as this window's, so all outlive the first step. */
	assert_int_equal(mesh_dirty_age(f->d, always, NULL), 0);
	EXPECT_REGIONS(f, GROUP_A, bytes, 0, 2);
	assert_int_equal(mesh_dirty_age(f->d, always, NULL), 2);
	assert_null(mesh_dirty_regions(f->d, GROUP_A, bytes));
}

static void aging_touches_only_groups_whose_replicas_are_all_active(void **state)
{
	struct fake *f = *state;
	uint64_t bytes = 8 * MIB;
	struct settled s = { .groups = { GROUP_A }, .count = 1 };

	for (uint64_t r = 0; r < 3; r++)
		assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, r * MIB, 1), 0);
	for (uint64_t r = 4; r < 8; r++)
		assert_int_equal(mesh_dirty_mark(f->d, GROUP_B, bytes, r * MIB, 1), 0);

	assert_int_equal(mesh_dirty_age(f->d, settled_only, &s), 0);
	assert_int_equal(mesh_dirty_age(f->d, settled_only, &s), 3);
	assert_true(was_asked(&s, GROUP_A));
	assert_true(was_asked(&s, GROUP_B));
	assert_null(mesh_dirty_regions(f->d, GROUP_A, bytes));
	EXPECT_REGIONS(f, GROUP_B, bytes, 4, 5, 6, 7);
	assert_true(mesh_dirty_any(f->d));

	/* B settles too: the count sums over groups. */
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, 0, 2 * MIB), 0);
	s.groups[s.count++] = GROUP_B;
	assert_int_equal(mesh_dirty_age(f->d, settled_only, &s), 0);
	assert_int_equal(mesh_dirty_age(f->d, settled_only, &s), 6);
	assert_false(mesh_dirty_any(f->d));
}

static void a_failed_store_while_aging_only_keeps_marks_longer(void **state)
{
	struct fake *f = *state;
	uint64_t bytes = 4 * MIB;

	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, 0, 2 * MIB), 0);
	assert_int_equal(mesh_dirty_age(f->d, always, NULL), 0);
	f->put_error = -EIO;
	assert_int_equal(mesh_dirty_age(f->d, always, NULL), 2);
	assert_null(mesh_dirty_regions(f->d, GROUP_A, bytes));
	assert_int_equal(f->error_lines, 1);

	/* The store still holds both marks: a restart finds them. */
	f->put_error = 0;
	restart(f);
	EXPECT_REGIONS(f, GROUP_A, bytes, 0, 1);
}

/* ---- dirty: restarts and the store ---- */

static void marks_survive_a_restart(void **state)
{
	struct fake *f = *state;
	uint64_t bytes = 100 * MIB;
	unsigned puts;

	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, 5 * MIB, 1), 0);
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, 70 * MIB, MIB), 0);
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_B, bytes, 99 * MIB, 1), 0);
	restart(f);
	puts = f->put_calls;

	/* Through mark: the loaded map already holds region 5. */
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, bytes, 5 * MIB + 3, 1), 0);
	assert_int_equal(f->put_calls, puts);
	EXPECT_REGIONS(f, GROUP_A, bytes, 5, 70);
	/* Through regions alone. */
	EXPECT_REGIONS(f, GROUP_B, bytes, 99);
	assert_true(mesh_dirty_any(f->d));
	assert_int_equal(f->put_calls, puts);

	/* Loaded marks outlive one full step after the restart. */
	assert_int_equal(mesh_dirty_age(f->d, always, NULL), 0);
	EXPECT_REGIONS(f, GROUP_A, bytes, 5, 70);
	EXPECT_REGIONS(f, GROUP_B, bytes, 99);
	assert_int_equal(mesh_dirty_age(f->d, always, NULL), 3);
	assert_false(mesh_dirty_any(f->d));

	restart(f);
	assert_null(mesh_dirty_regions(f->d, GROUP_A, bytes));
	assert_null(mesh_dirty_regions(f->d, GROUP_B, bytes));
}

static void a_restart_loads_only_groups_it_is_asked_about(void **state)
{
	struct fake *f = *state;

	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, 4 * MIB, 0, 1), 0);
	restart(f);
	/* Maps load on first use, so a fresh incarnation knows of nothing. */
	assert_false(mesh_dirty_any(f->d));
	assert_int_equal(mesh_dirty_age(f->d, always, NULL), 0);
	EXPECT_REGIONS(f, GROUP_A, 4 * MIB, 0);
	assert_true(mesh_dirty_any(f->d));
}

/* @group's record, after marking region 0 of its 4 MiB segment. */
static struct record *stored_record(struct fake *f, uint64_t group)
{
	struct record *r;

	assert_int_equal(mesh_dirty_mark(f->d, group, 4 * MIB, 0, 1), 0);
	r = record_find(f, f->last_put_key);
	assert_non_null(r);
	return r;
}

/* After corruption: the group reads as unloadable, and nothing crashes,
 * overwrites the record or spills into other groups. */
static void expect_unreadable(struct fake *f, uint64_t group, uint64_t bytes, int error)
{
	unsigned puts = f->put_calls, errors = f->error_lines;

	restart(f);
	assert_null(mesh_dirty_regions(f->d, group, bytes));
	if (error)
		assert_int_equal(mesh_dirty_mark(f->d, group, bytes, 0, 1), error);
	else
		assert_true(mesh_dirty_mark(f->d, group, bytes, 0, 1) < 0);
	assert_false(mesh_dirty_any(f->d));
	assert_int_equal(mesh_dirty_age(f->d, always, NULL), 0);
	assert_int_equal(f->put_calls, puts);
	assert_true(f->error_lines > errors || !error);
	assert_int_equal(mesh_dirty_mark(f->d, 500, 4 * MIB, 0, 1), 0);
	EXPECT_REGIONS(f, 500, 4 * MIB, 0);
}

static void a_zeroed_record_is_unreadable(void **state)
{
	struct fake *f = *state;
	struct record *r = stored_record(f, GROUP_A);

	memset(r->bytes, 0, r->len);
	expect_unreadable(f, GROUP_A, 4 * MIB, -EIO);
	assert_non_null(strstr(f->last_error, "unreadable"));
}

/* The record opens with its magic (dirty.c): spoil only that. */
static void a_record_without_the_magic_is_unreadable(void **state)
{
	struct fake *f = *state;
	struct record *r = stored_record(f, GROUP_A);

	r->bytes[0] ^= 0x5a;
	expect_unreadable(f, GROUP_A, 4 * MIB, -EIO);
}

static void a_truncated_record_is_unreadable(void **state)
{
	struct fake *f = *state;
	struct record *r = stored_record(f, GROUP_A);

	r->len -= 1;
	expect_unreadable(f, GROUP_A, 4 * MIB, -EIO);
}

static void another_groups_record_is_unreadable(void **state)
{
	struct fake *f = *state;
	struct record *a = stored_record(f, GROUP_A);
	struct record *b = stored_record(f, GROUP_B);
	uint8_t *bytes = a->bytes;

	/* Same size, same geometry, valid but for the wrong group. */
	assert_int_equal(a->len, b->len);
	a->bytes = b->bytes;
	b->bytes = bytes;
	expect_unreadable(f, GROUP_A, 4 * MIB, -EIO);
	expect_unreadable(f, GROUP_B, 4 * MIB, -EIO);
}

static void a_record_of_another_segment_size_is_unreadable(void **state)
{
	struct fake *f = *state;

	/* Same record size (one word of regions), other region count. */
	stored_record(f, GROUP_A);
	expect_unreadable(f, GROUP_A, 8 * MIB, -EIO);
	/* Larger map, shorter record. */
	expect_unreadable(f, GROUP_A, 100 * MIB, -EIO);
	/* Smaller map than the record: refused, though the error is the
	 * store's (its -ENOSPC for a buffer too small). */
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_B, 100 * MIB, 0, 1), 0);
	expect_unreadable(f, GROUP_B, 4 * MIB, 0);
}

static void a_longer_record_is_refused(void **state)
{
	struct fake *f = *state;
	struct record *r = stored_record(f, GROUP_A);
	uint8_t *bytes = realloc(r->bytes, r->len + 8);

	assert_non_null(bytes);
	memset(bytes + r->len, 0xff, 8);
	r->bytes = bytes;
	r->len += 8;
	expect_unreadable(f, GROUP_A, 4 * MIB, 0);
}

/* The topology manager keys its records by the bare group id (dirty.c):
 * a dirty map neither reads nor overwrites such a record. */
static void marks_leave_the_topology_managers_record_alone(void **state)
{
	struct fake *f = *state;
	static const char toma[] = "a voter's promises for group 7";

	assert_int_equal(fake_meta_put(f, GROUP_A, toma, sizeof(toma)), 0);
	assert_null(mesh_dirty_regions(f->d, GROUP_A, 4 * MIB));
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, 4 * MIB, 0, 1), 0);
	assert_int_equal(f->record_count, 2);
	assert_true(f->last_put_key != GROUP_A);
	assert_int_equal(record_find(f, GROUP_A)->len, sizeof(toma));
	assert_memory_equal(record_find(f, GROUP_A)->bytes, toma, sizeof(toma));
	restart(f);
	EXPECT_REGIONS(f, GROUP_A, 4 * MIB, 0);
	assert_int_equal(f->error_lines, 0);
}

static void any_says_whether_some_group_holds_marks(void **state)
{
	struct fake *f = *state;

	assert_false(mesh_dirty_any(f->d));
	/* A query makes a map, but an empty one. */
	assert_null(mesh_dirty_regions(f->d, GROUP_A, 4 * MIB));
	assert_false(mesh_dirty_any(f->d));
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_B, 4 * MIB, 0, 1), 0);
	assert_true(mesh_dirty_any(f->d));
	assert_int_equal(mesh_dirty_age(f->d, always, NULL), 0);
	assert_true(mesh_dirty_any(f->d));
	assert_int_equal(mesh_dirty_age(f->d, always, NULL), 1);
	assert_false(mesh_dirty_any(f->d));
}

/* ---- dirty: against a model ---- */

#define PROP_GROUPS 6u
#define PROP_REGIONS_MAX 300u
#define PROP_STEPS 4000u

struct model_group {
	uint64_t id;
	uint64_t bytes;
	uint32_t regions;
	bool loaded;                   /* touched since the last restart */
	bool marked[PROP_REGIONS_MAX];
	bool recent[PROP_REGIONS_MAX];
};

struct model {
	struct model_group groups[PROP_GROUPS];
	bool active[PROP_GROUPS];
};

static bool model_active(void *arg, uint64_t group)
{
	const struct model *m = arg;

	for (unsigned i = 0; i < PROP_GROUPS; i++) {
		if (m->groups[i].id == group)
			return m->active[i];
	}
	fail_msg("asked about unknown group %llu", (unsigned long long)group);
	return false;
}

static void model_check(struct fake *f, struct model_group *g, unsigned step)
{
	const uint64_t *got = mesh_dirty_regions(f->d, g->id, g->bytes);
	bool any = false;

	g->loaded = true;

	for (uint32_t r = 0; r < g->regions; r++)
		any |= g->marked[r];
	if (!any) {
		if (got)
			fail_msg("step %u group %llu: marks, expected none", step,
				 (unsigned long long)g->id);
		return;
	}
	assert_non_null(got);
	for (uint32_t r = 0; r < g->regions; r++) {
		if (bit_is_set(got, r) != g->marked[r])
			fail_msg("step %u group %llu region %u differs from the model", step,
				 (unsigned long long)g->id, r);
	}
}

static void mark_model(struct fake *f, struct model_group *g, uint64_t *rng, unsigned *puts)
{
	uint64_t offset = prop_range(rng, 0, g->bytes + MIB);
	uint64_t length = prop_range(rng, 0, 3 * MIB);
	bool valid = length && offset < g->bytes && length <= g->bytes - offset;
	bool fresh = false;

	if (valid) {
		g->loaded = true;
		for (uint64_t r = offset / MIB; r <= (offset + length - 1) / MIB; r++) {
			fresh |= !g->marked[r];
			g->marked[r] = g->recent[r] = true;
		}
	}
	*puts += fresh;
	assert_int_equal(mesh_dirty_mark(f->d, g->id, g->bytes, offset, length),
			 valid ? 0 : -ERANGE);
}

static void age_model(struct fake *f, struct model *m, uint64_t *rng, unsigned *puts)
{
	uint32_t cleared = 0;

	for (unsigned i = 0; i < PROP_GROUPS; i++) {
		struct model_group *g = &m->groups[i];
		uint32_t before = 0;

		m->active[i] = prop_range(rng, 0, 3) != 0;
		/* A group not touched since a restart keeps its stored
		 * marks unaged until it is loaded. */
		if (!m->active[i] || !g->loaded)
			continue;
		for (uint32_t r = 0; r < g->regions; r++) {
			before += g->marked[r] && !g->recent[r];
			g->marked[r] = g->recent[r];
			g->recent[r] = false;
		}
		cleared += before;
		*puts += before != 0;
	}
	assert_int_equal(mesh_dirty_age(f->d, model_active, m), cleared);
}

static void marks_follow_the_model(void **state)
{
	struct fake *f = *state;
	uint64_t rng = prop_seed("marks_follow_the_model");
	struct model *m = calloc(1, sizeof(*m));
	unsigned puts = 0;

	assert_non_null(m);
	for (unsigned i = 0; i < PROP_GROUPS; i++) {
		struct model_group *g = &m->groups[i];

		g->id = i * 1000003ull + prop_range(&rng, 0, 999999);
		g->bytes = prop_range(&rng, 1, PROP_REGIONS_MAX * MIB);
		g->regions = mesh_dirty_region_count(g->bytes);
	}
	for (unsigned step = 0; step < PROP_STEPS; step++) {
		uint64_t op = prop_range(&rng, 0, 99);
		struct model_group *g = &m->groups[prop_range(&rng, 0, PROP_GROUPS - 1)];

		if (op < 60) {
			mark_model(f, g, &rng, &puts);
		} else if (op < 80) {
			age_model(f, m, &rng, &puts);
		} else if (op < 85) {
			/* What was stored is all recent again, once loaded. */
			restart(f);
			for (unsigned i = 0; i < PROP_GROUPS; i++) {
				m->groups[i].loaded = false;
				memcpy(m->groups[i].recent, m->groups[i].marked,
				       sizeof(m->groups[i].recent));
			}
		} else {
			model_check(f, g, step);
		}
		assert_int_equal(f->put_calls, puts);
		if (step % 50 == 0) {
			bool any = false;

			/* Every group is loaded by its check, so any() sees
			 * all of them. */
			for (unsigned i = 0; i < PROP_GROUPS; i++) {
				model_check(f, &m->groups[i], step);
				for (uint32_t r = 0; r < m->groups[i].regions; r++)
					any |= m->groups[i].marked[r];
			}
			assert_int_equal(mesh_dirty_any(f->d), any);
		}
	}
	assert_int_equal(f->error_lines, 0);
	free(m);
}

/* ---- fresh ---- */

/* Every run of [@from, @to) in order, as [start, end) byte pairs. */
static unsigned runs_of(const struct mesh_fresh *fr, uint64_t from, uint64_t to,
			uint64_t (*runs)[2], unsigned max)
{
	uint64_t at = from, length;
	unsigned n = 0;

	while (mesh_fresh_next_run(fr, &at, to, &length)) {
		assert_true(n < max);
		assert_true(length > 0);
		runs[n][0] = at;
		runs[n][1] = at + length;
		n++;
		at += length;
	}
	return n;
}

static void expect_run(uint64_t (*runs)[2], unsigned i, uint64_t start, uint64_t end)
{
	assert_int_equal(runs[i][0], start);
	assert_int_equal(runs[i][1], end);
}

static void fresh_with_no_marks_is_one_run(void **state)
{
	struct mesh_fresh fr = { 0 };
	uint64_t runs[4][2];

	(void)state;
	assert_int_equal(mesh_fresh_init(&fr, GROUP_A, 3, 8 * SECTOR), 0);
	assert_int_equal(fr.group, GROUP_A);
	assert_int_equal(fr.epoch, 3);
	assert_int_equal(fr.bytes, 8 * SECTOR);
	assert_int_equal(runs_of(&fr, 0, 8 * SECTOR, runs, 4), 1);
	expect_run(runs, 0, 0, 8 * SECTOR);
	assert_int_equal(runs_of(&fr, 2 * SECTOR, 5 * SECTOR, runs, 4), 1);
	expect_run(runs, 0, 2 * SECTOR, 5 * SECTOR);
	/* An empty range has no run. */
	assert_int_equal(runs_of(&fr, 4 * SECTOR, 4 * SECTOR, runs, 4), 0);
	mesh_fresh_release(&fr);
}

static void marked_sectors_split_the_runs(void **state)
{
	struct mesh_fresh fr = { 0 };
	uint64_t runs[8][2];
	uint64_t at = 0, length = 0;

	(void)state;
	assert_int_equal(mesh_fresh_init(&fr, GROUP_A, 1, 8 * SECTOR), 0);
	mesh_fresh_mark(&fr, 2 * SECTOR, 2 * SECTOR);
	assert_int_equal(runs_of(&fr, 0, 8 * SECTOR, runs, 8), 2);
	expect_run(runs, 0, 0, 2 * SECTOR);
	expect_run(runs, 1, 4 * SECTOR, 8 * SECTOR);

	/* One call moves the offset over marked sectors to the next run. */
	at = 2 * SECTOR;
	assert_true(mesh_fresh_next_run(&fr, &at, 8 * SECTOR, &length));
	assert_int_equal(at, 4 * SECTOR);
	assert_int_equal(length, 4 * SECTOR);
	/* A run stops at the end asked for. */
	at = 0;
	assert_true(mesh_fresh_next_run(&fr, &at, SECTOR, &length));
	assert_int_equal(at, 0);
	assert_int_equal(length, SECTOR);
	/* A range wholly marked has none. */
	at = 2 * SECTOR;
	assert_false(mesh_fresh_next_run(&fr, &at, 4 * SECTOR, &length));

	/* First and last sectors. */
	mesh_fresh_mark(&fr, 0, SECTOR);
	mesh_fresh_mark(&fr, 7 * SECTOR, SECTOR);
	assert_int_equal(runs_of(&fr, 0, 8 * SECTOR, runs, 8), 2);
	expect_run(runs, 0, SECTOR, 2 * SECTOR);
	expect_run(runs, 1, 4 * SECTOR, 7 * SECTOR);
	mesh_fresh_release(&fr);
}

static void runs_cross_bitmap_words(void **state)
{
	struct mesh_fresh fr = { 0 };
	uint64_t runs[8][2];

	(void)state;
	assert_int_equal(mesh_fresh_init(&fr, GROUP_A, 1, 200 * SECTOR), 0);
	mesh_fresh_mark(&fr, 60 * SECTOR, 10 * SECTOR);   /* 60..69 */
	mesh_fresh_mark(&fr, 128 * SECTOR, SECTOR);       /* 128 */
	mesh_fresh_mark(&fr, 199 * SECTOR, SECTOR);       /* the last */
	assert_int_equal(runs_of(&fr, 0, 200 * SECTOR, runs, 8), 3);
	expect_run(runs, 0, 0, 60 * SECTOR);
	expect_run(runs, 1, 70 * SECTOR, 128 * SECTOR);
	expect_run(runs, 2, 129 * SECTOR, 199 * SECTOR);
	mesh_fresh_release(&fr);
}

static void all_marked_has_no_run(void **state)
{
	struct mesh_fresh fr = { 0 };
	uint64_t at = 0, length = 12345;

	(void)state;
	assert_int_equal(mesh_fresh_init(&fr, GROUP_A, 1, 130 * SECTOR), 0);
	mesh_fresh_mark(&fr, 0, 130 * SECTOR);
	assert_false(mesh_fresh_next_run(&fr, &at, 130 * SECTOR, &length));
	at = 64 * SECTOR;
	assert_false(mesh_fresh_next_run(&fr, &at, 65 * SECTOR, &length));
	mesh_fresh_release(&fr);
}

/* Writes are whole sectors (fresh.h); a mark whose end falls inside a
 * sector leaves that sector to the copy rather than skipping bytes no
 * client wrote. */
static void a_mark_ending_inside_a_sector_leaves_that_sector(void **state)
{
	struct mesh_fresh fr = { 0 };
	uint64_t runs[4][2];

	(void)state;
	assert_int_equal(mesh_fresh_init(&fr, GROUP_A, 1, 8 * SECTOR), 0);
	mesh_fresh_mark(&fr, 0, SECTOR + 100);
	assert_int_equal(runs_of(&fr, 0, 8 * SECTOR, runs, 4), 1);
	expect_run(runs, 0, SECTOR, 8 * SECTOR);
	mesh_fresh_mark(&fr, 4 * SECTOR, SECTOR - 1);
	assert_int_equal(runs_of(&fr, 0, 8 * SECTOR, runs, 4), 1);
	expect_run(runs, 0, SECTOR, 8 * SECTOR);
	mesh_fresh_release(&fr);
}

static void fresh_starts_empty_after_release_or_reinit(void **state)
{
	struct mesh_fresh fr = { 0 };
	uint64_t runs[4][2];

	(void)state;
	assert_int_equal(mesh_fresh_init(&fr, GROUP_A, 1, 8 * SECTOR), 0);
	mesh_fresh_mark(&fr, 0, 8 * SECTOR);
	mesh_fresh_release(&fr);
	assert_null(fr.bits);
	assert_int_equal(fr.epoch, 0); /* unused */
	mesh_fresh_release(&fr);       /* twice is harmless */

	assert_int_equal(mesh_fresh_init(&fr, GROUP_B, 2, 8 * SECTOR), 0);
	assert_int_equal(runs_of(&fr, 0, 8 * SECTOR, runs, 4), 1);
	expect_run(runs, 0, 0, 8 * SECTOR);

	/* A new rebuild of the group reuses the struct without release. */
	mesh_fresh_mark(&fr, 3 * SECTOR, SECTOR);
	assert_int_equal(mesh_fresh_init(&fr, GROUP_B, 3, 16 * SECTOR), 0);
	assert_int_equal(fr.epoch, 3);
	assert_int_equal(fr.bytes, 16 * SECTOR);
	assert_int_equal(runs_of(&fr, 0, 16 * SECTOR, runs, 4), 1);
	expect_run(runs, 0, 0, 16 * SECTOR);
	mesh_fresh_release(&fr);
}

#define FRESH_SECTORS_MAX 1000u

static void fresh_runs_follow_the_model(void **state)
{
	uint64_t rng = prop_seed("fresh_runs_follow_the_model");

	(void)state;
	for (unsigned round = 0; round < 200; round++) {
		struct mesh_fresh fr = { 0 };
		bool marked[FRESH_SECTORS_MAX] = { false };
		bool covered[FRESH_SECTORS_MAX] = { false };
		uint64_t sectors = prop_range(&rng, 1, FRESH_SECTORS_MAX);
		uint64_t marks = prop_range(&rng, 0, 20);
		uint64_t from = prop_range(&rng, 0, sectors);
		uint64_t to = prop_range(&rng, from, sectors);
		uint64_t at = from * SECTOR, length, last_end = 0;
		bool first = true;

		assert_int_equal(mesh_fresh_init(&fr, round, round + 1, sectors * SECTOR), 0);
		for (uint64_t i = 0; i < marks; i++) {
			uint64_t s = prop_range(&rng, 0, sectors - 1);
			uint64_t n = prop_range(&rng, 1, sectors - s < 70 ? sectors - s : 70);

			mesh_fresh_mark(&fr, s * SECTOR, n * SECTOR);
			for (uint64_t k = s; k < s + n; k++)
				marked[k] = true;
		}
		while (mesh_fresh_next_run(&fr, &at, to * SECTOR, &length)) {
			uint64_t start = at / SECTOR, end = (at + length) / SECTOR;

			assert_int_equal(at % SECTOR, 0);
			assert_int_equal(length % SECTOR, 0);
			assert_true(start >= from && start < end && end <= to);
			/* Maximal: marked sectors (or the range's ends) around. */
			assert_true(start == from || marked[start - 1]);
			assert_true(end == to || marked[end]);
			assert_true(first || start > last_end);
			for (uint64_t k = start; k < end; k++)
				covered[k] = true;
			last_end = end;
			first = false;
			at += length;
		}
		for (uint64_t k = from; k < to; k++) {
			if (covered[k] == marked[k])
				fail_msg("round %u sector %llu: %s and %s", round,
					 (unsigned long long)k, marked[k] ? "marked" : "unmarked",
					 covered[k] ? "in a run" : "in no run");
		}
		mesh_fresh_release(&fr);
	}
}

/* After a failed store, the same write retried must store its mark. */
static void a_mark_retried_after_a_failed_store_is_stored(void **state)
{
	struct fake *f = *state;

	f->put_error = -EIO;
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, 4 * MIB, 0, 1), -EIO);
	f->put_error = 0;
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, 4 * MIB, 0, 1), 0);
	assert_int_equal(f->put_calls, 2);
	restart(f);
	EXPECT_REGIONS(f, GROUP_A, 4 * MIB, 0);
}

/* The largest byte counts do not wrap the region count. */
static void region_count_does_not_wrap(void **state)
{
	(void)state;
	assert_int_equal(mesh_dirty_region_count(UINT64_MAX), MESH_DIRTY_REGIONS_MAX + 1);
}

/* A record longer than the map is unreadable (-EIO), and logged. */
static void a_longer_record_is_eio_and_logged(void **state)
{
	struct fake *f = *state;
	struct record *r = stored_record(f, GROUP_A);
	unsigned errors;

	r->bytes = realloc(r->bytes, r->len + 8);
	memset(r->bytes + r->len, 0, 8);
	r->len += 8;
	restart(f);
	errors = f->error_lines;
	assert_int_equal(mesh_dirty_mark(f->d, GROUP_A, 4 * MIB, 0, 1), -EIO);
	assert_true(f->error_lines > errors);
}

int main(void)
{
#define T(test) cmocka_unit_test_setup_teardown(test, fake_setup, fake_teardown)
	const struct CMUnitTest tests[] = {
		T(create_without_a_metadata_store_is_refused),
		T(region_count_rounds_up_to_whole_regions),
		T(mark_sets_exactly_the_regions_it_touches),
		T(the_largest_segment_is_tracked_to_its_last_region),
		T(regions_of_an_untouched_group_are_null),
		T(marks_outside_the_segment_are_refused_and_store_nothing),
		T(store_is_written_only_when_a_new_region_is_marked),
		T(a_failed_store_fails_the_mark),
		T(groups_past_the_limit_are_refused),
		T(aging_clears_a_region_one_full_window_after_its_last_mark),
		T(aging_waits_while_a_replica_is_not_active),
		T(aging_touches_only_groups_whose_replicas_are_all_active),
		T(a_failed_store_while_aging_only_keeps_marks_longer),
		T(marks_survive_a_restart),
		T(a_restart_loads_only_groups_it_is_asked_about),
		T(a_zeroed_record_is_unreadable),
		T(a_record_without_the_magic_is_unreadable),
		T(a_truncated_record_is_unreadable),
		T(another_groups_record_is_unreadable),
		T(a_record_of_another_segment_size_is_unreadable),
		T(a_longer_record_is_refused),
		T(marks_leave_the_topology_managers_record_alone),
		T(any_says_whether_some_group_holds_marks),
		T(marks_follow_the_model),
		T(a_mark_retried_after_a_failed_store_is_stored),
		cmocka_unit_test(region_count_does_not_wrap),
		T(a_longer_record_is_eio_and_logged),
		cmocka_unit_test(fresh_with_no_marks_is_one_run),
		cmocka_unit_test(marked_sectors_split_the_runs),
		cmocka_unit_test(runs_cross_bitmap_words),
		cmocka_unit_test(all_marked_has_no_run),
		cmocka_unit_test(a_mark_ending_inside_a_sector_leaves_that_sector),
		cmocka_unit_test(fresh_starts_empty_after_release_or_reinit),
		cmocka_unit_test(fresh_runs_follow_the_model),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * core/dirty.c: durable region marks per group (see dirty.h).
 *
 * Each map holds two bitmaps: @marked, what the store holds (every region
 * written in the current or the previous window), and @recent, the
 * regions written in the current window. An aging step keeps only the
 * recent ones. The store is written only when a bit of @marked changes,
 * so a write to a region already marked costs nothing.
 */
#include "core/dirty.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Store keys of dirty maps: the topology manager keys its records by the
 * bare group id, so these set the top bit. */
#define META_KEY(group) ((1ull << 63) | (group))
#define MAGIC 0x44495254u /* "DIRT" */

struct stored_head {
	uint32_t magic;
	uint32_t regions;
	uint64_t group;
};

struct map {
	uint64_t group;
	uint32_t regions;
	uint32_t words;
	uint32_t marked_count;
	uint64_t *marked;
	uint64_t *recent;
	uint8_t *record;       /* stored_head + marked, as stored */
};

struct mesh_dirty {
	const struct mesh_env *env;
	struct map **maps;     /* sorted by group id */
	uint32_t count, capacity;
};

int mesh_dirty_create(const struct mesh_env *env, struct mesh_dirty **out)
{
	struct mesh_dirty *d;

	if (!env->ops->meta_put || !env->ops->meta_get) {
		mesh_log_error(env, "dirty: the environment has no metadata store; "
				    "region marks must survive a crash");
		return -EOPNOTSUPP;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->env = env;
	*out = d;
	return 0;
}

static void map_free(struct map *m)
{
	if (!m)
		return;
	free(m->marked);
	free(m->recent);
	free(m->record);
	free(m);
}

void mesh_dirty_destroy(struct mesh_dirty *d)
{
	if (!d)
		return;
	for (uint32_t i = 0; i < d->count; i++)
		map_free(d->maps[i]);
	free(d->maps);
	free(d);
}

uint32_t mesh_dirty_region_count(uint64_t bytes)
{
	uint64_t n = bytes / MESH_DIRTY_REGION_BYTES + (bytes % MESH_DIRTY_REGION_BYTES != 0);

	return n > MESH_DIRTY_REGIONS_MAX ? MESH_DIRTY_REGIONS_MAX + 1 : (uint32_t)n;
}

static uint32_t lower_bound(const struct mesh_dirty *d, uint64_t group)
{
	uint32_t lo = 0, hi = d->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (d->maps[mid]->group < group)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static size_t record_bytes(const struct map *m)
{
	return sizeof(struct stored_head) + (size_t)m->words * sizeof(uint64_t);
}

/* The bitmap part of @m's record, where the next record is built. */
static uint64_t *record_bits(struct map *m)
{
	return (uint64_t *)(void *)(m->record + sizeof(struct stored_head));
}

/* Store the record built in record_bits(@m). */
static int store_record(struct mesh_dirty *d, struct map *m)
{
	struct stored_head head = { .magic = MAGIC, .regions = m->regions, .group = m->group };
	int rc;

	memcpy(m->record, &head, sizeof(head));
	rc = mesh_env_meta_put(d->env, META_KEY(m->group), m->record, (uint32_t)record_bytes(m));
	if (rc)
		mesh_log_error(d->env, "dirty: group %llu: marks not stored (%d)",
			       (unsigned long long)m->group, rc);
	return rc;
}

static int store(struct mesh_dirty *d, struct map *m)
{
	memcpy(record_bits(m), m->marked, (size_t)m->words * sizeof(uint64_t));
	return store_record(d, m);
}

static uint32_t count_bits(const uint64_t *bits, uint32_t words)
{
	uint32_t n = 0;

	/* Kernighan's loop: no compiler builtin, which may call into libgcc
	 * (core links against nothing but libc and ISA-L). */
	for (uint32_t w = 0; w < words; w++) {
		for (uint64_t x = bits[w]; x; x &= x - 1)
			n++;
	}
	return n;
}

/* Load what a previous incarnation stored: all of it counts as recent, so
 * it outlives at least one full window. */
static int load(struct mesh_dirty *d, struct map *m)
{
	struct stored_head head;
	int rc = mesh_env_meta_get(d->env, META_KEY(m->group), m->record,
				   (uint32_t)record_bytes(m));

	if (rc == -ENOENT)
		return 0;
	if (rc < 0) {
		/* Longer than this map (-ENOSPC), or the store failed. */
		mesh_log_error(d->env, "dirty: group %llu: stored marks unreadable (%d)",
			       (unsigned long long)m->group, rc);
		return -EIO;
	}
	memcpy(&head, m->record, sizeof(head));
	if ((size_t)rc != record_bytes(m) || head.magic != MAGIC || head.regions != m->regions ||
	    head.group != m->group) {
		mesh_log_error(d->env, "dirty: group %llu: stored marks unreadable",
			       (unsigned long long)m->group);
		return -EIO;
	}
	memcpy(m->marked, m->record + sizeof(head), (size_t)m->words * sizeof(uint64_t));
	memcpy(m->recent, m->marked, (size_t)m->words * sizeof(uint64_t));
	m->marked_count = count_bits(m->marked, m->words);
	return 0;
}

/* The map of @group, made (and loaded) on first use. */
static int map_get(struct mesh_dirty *d, uint64_t group, uint64_t bytes, struct map **out)
{
	uint32_t at = lower_bound(d, group);
	uint32_t regions = mesh_dirty_region_count(bytes);
	struct map *m;
	int rc;

	if (at < d->count && d->maps[at]->group == group) {
		*out = d->maps[at];
		return (*out)->regions == regions ? 0 : -ERANGE;
	}
	if (regions == 0 || regions > MESH_DIRTY_REGIONS_MAX)
		return -ERANGE;
	if (d->count == MESH_DIRTY_GROUPS_MAX)
		return -ENOSPC;
	if (d->count == d->capacity) {
		uint32_t cap = d->capacity ? d->capacity * 2 : 8;
		struct map **grown = realloc(d->maps, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		d->maps = grown;
		d->capacity = cap;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->group = group;
	m->regions = regions;
	m->words = (regions + 63) / 64;
	m->marked = calloc(m->words, sizeof(uint64_t));
	m->recent = calloc(m->words, sizeof(uint64_t));
	m->record = malloc(record_bytes(m));
	rc = m->marked && m->recent && m->record ? load(d, m) : -ENOMEM;
	if (rc) {
		map_free(m);
		return rc;
	}
	memmove(&d->maps[at + 1], &d->maps[at], (d->count - at) * sizeof(*d->maps));
	d->maps[at] = m;
	d->count++;
	*out = m;
	return 0;
}

int mesh_dirty_mark(struct mesh_dirty *d, uint64_t group, uint64_t bytes, uint64_t offset,
		    uint64_t length)
{
	struct map *m;
	uint64_t first, last;
	uint32_t added = 0;
	int rc;

	if (length == 0 || offset >= bytes || length > bytes - offset)
		return -ERANGE;
	rc = map_get(d, group, bytes, &m);
	if (rc)
		return rc;
	first = offset / MESH_DIRTY_REGION_BYTES;
	last = (offset + length - 1) / MESH_DIRTY_REGION_BYTES;
	for (uint64_t r = first; r <= last; r++)
		added += !(m->marked[r / 64] >> (r % 64) & 1);
	if (added) {
		/* Build the new record aside: the marks change only once it
		 * is stored, so a write refused here is retried in full. */
		uint64_t *bits = record_bits(m);

		memcpy(bits, m->marked, (size_t)m->words * sizeof(uint64_t));
		for (uint64_t r = first; r <= last; r++)
			bits[r / 64] |= 1ull << (r % 64);
		rc = store_record(d, m);
		if (rc)
			return rc;
		memcpy(m->marked, bits, (size_t)m->words * sizeof(uint64_t));
		m->marked_count += added;
	}
	for (uint64_t r = first; r <= last; r++)
		m->recent[r / 64] |= 1ull << (r % 64);
	return 0;
}

uint32_t mesh_dirty_age(struct mesh_dirty *d, bool (*all_active)(void *arg, uint64_t group),
			void *arg)
{
	uint32_t cleared = 0;

	for (uint32_t i = 0; i < d->count; i++) {
		struct map *m = d->maps[i];
		uint32_t before = m->marked_count;

		if (!before || !all_active(arg, m->group))
			continue;
		memcpy(m->marked, m->recent, (size_t)m->words * sizeof(uint64_t));
		memset(m->recent, 0, (size_t)m->words * sizeof(uint64_t));
		m->marked_count = count_bits(m->marked, m->words);
		if (m->marked_count == before)
			continue;
		cleared += before - m->marked_count;
		/* A failed store only keeps marks longer than needed. */
		store(d, m);
	}
	return cleared;
}

const uint64_t *mesh_dirty_regions(struct mesh_dirty *d, uint64_t group, uint64_t bytes)
{
	struct map *m;

	if (map_get(d, group, bytes, &m) || !m->marked_count)
		return NULL;
	return m->marked;
}

int mesh_dirty_readable(struct mesh_dirty *d, uint64_t group, uint64_t bytes)
{
	struct map *m;

	return map_get(d, group, bytes, &m);
}

bool mesh_dirty_any(const struct mesh_dirty *d)
{
	for (uint32_t i = 0; i < d->count; i++) {
		if (d->maps[i]->marked_count)
			return true;
	}
	return false;
}

/*
 * core/layout.c: volume geometry checks and the volume-to-drive mapping.
 */
#include "core/layout.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

/* Longest extent: the largest whole number of blocks a u32 holds. Concat
 * segments may exceed 4 GiB; a longer range is cut into such extents. */
#define EXTENT_BYTES_MAX (UINT32_MAX & ~(uint64_t)(MESH_BLOCK_BYTES - 1))

static int fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -EINVAL;
}

bool mesh_layout_kind_striped(enum mesh_layout_kind kind)
{
	return kind == MESH_LAYOUT_STRIPE || kind == MESH_LAYOUT_STRIPE_MIRROR;
}

static bool kind_mirrored(enum mesh_layout_kind kind)
{
	return kind == MESH_LAYOUT_MIRROR || kind == MESH_LAYOUT_STRIPE_MIRROR;
}

static const char *const kind_names[] = {
	[MESH_LAYOUT_CONCAT] = "concat",
	[MESH_LAYOUT_STRIPE] = "stripe",
	[MESH_LAYOUT_MIRROR] = "mirror",
	[MESH_LAYOUT_STRIPE_MIRROR] = "stripe-mirror",
};

const char *mesh_layout_kind_name(enum mesh_layout_kind kind)
{
	if (kind < MESH_LAYOUT_CONCAT || kind > MESH_LAYOUT_STRIPE_MIRROR)
		return "unknown";
	return kind_names[kind];
}

int mesh_layout_kind_parse(const char *name, enum mesh_layout_kind *kind)
{
	for (int k = MESH_LAYOUT_CONCAT; k <= MESH_LAYOUT_STRIPE_MIRROR; k++) {
		if (strcmp(name, kind_names[k]) == 0) {
			*kind = (enum mesh_layout_kind)k;
			return 0;
		}
	}
	return -EINVAL;
}

static bool whole_blocks(uint64_t v)
{
	return v % MESH_BLOCK_BYTES == 0;
}

static bool same_drive(const struct mesh_replica *a, const struct mesh_replica *b)
{
	return a->target == b->target && a->drive == b->drive;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static int check_shape(const struct mesh_layout *l, const char **why)
{
	if (l->kind < MESH_LAYOUT_CONCAT || l->kind > MESH_LAYOUT_STRIPE_MIRROR)
		return fail(why, "unknown layout kind");
	if (l->segment_count == 0)
		return fail(why, "zero width: a volume needs at least one segment");
	if (l->segment_count > MESH_LAYOUT_SEGMENTS_MAX)
		return fail(why, "too many segments (limit MESH_LAYOUT_SEGMENTS_MAX)");
	if (kind_mirrored(l->kind) && (l->copies < 2 || l->copies > MESH_LAYOUT_COPIES_MAX))
		return fail(why, "a mirrored layout needs 2 or 3 copies");
	if (!kind_mirrored(l->kind) && l->copies != 1)
		return fail(why, "an unmirrored layout has exactly 1 copy");
	if (mesh_layout_kind_striped(l->kind)) {
		if (l->stripe_unit == 0 || l->stripe_unit % MESH_BLOCK_BYTES != 0)
			return fail(why, "stripe unit must be a nonzero multiple of 4 KiB");
		if (l->stripe_unit > MESH_LAYOUT_STRIPE_UNIT_MAX)
			return fail(why, "stripe unit above the 1 MiB limit");
	}
	if (l->volume_bytes == 0 || !whole_blocks(l->volume_bytes))
		return fail(why, "volume size must be a nonzero multiple of 4 KiB");
	return 0;
}

static int check_segments(const struct mesh_layout *l, const char **why)
{
	uint64_t total = 0;

	for (uint32_t s = 0; s < l->segment_count; s++) {
		const struct mesh_segment *seg = &l->segments[s];

		if (seg->bytes == 0 || !whole_blocks(seg->bytes))
			return fail(why, "segment size must be a nonzero multiple of 4 KiB");
		if (seg->bytes > MESH_LAYOUT_VOLUME_BYTES_MAX)
			return fail(why, "segment larger than the 2^60-byte limit");
		if (mesh_layout_kind_striped(l->kind)) {
			if (seg->bytes != l->segments[0].bytes)
				return fail(why, "segments of a stripe must be equal in size");
			if (seg->bytes % l->stripe_unit != 0)
				return fail(why, "striped segments must be whole stripe units");
		}
		total += seg->bytes;
		if (total > MESH_LAYOUT_VOLUME_BYTES_MAX)
			return fail(why, "volume larger than the 2^60-byte limit");
		for (uint32_t c = 0; c < l->copies; c++) {
			const struct mesh_replica *r = &seg->replicas[c];

			if (!whole_blocks(r->drive_offset))
				return fail(why, "drive offset must be a multiple of 4 KiB");
			if (r->drive_offset > MESH_LAYOUT_VOLUME_BYTES_MAX)
				return fail(why, "drive offset beyond the 2^60-byte limit");
			for (uint32_t d = 0; d < c; d++) {
				if (same_drive(r, &seg->replicas[d]))
					return fail(why, "two copies of a segment on one drive "
							 "(more copies than drives?)");
			}
		}
	}
	if (l->volume_bytes > total)
		return fail(why, "volume larger than its segments");
	return 0;
}

/* O(n^2) over at most 64 * 3 extents: cheap, and only done when a volume is
 * defined, never per I/O. */
static int check_disjoint(const struct mesh_layout *l, const char **why)
{
	unsigned n = l->segment_count * l->copies;

	for (unsigned i = 0; i < n; i++) {
		const struct mesh_segment *si = &l->segments[i / l->copies];
		const struct mesh_replica *ri = &si->replicas[i % l->copies];

		for (unsigned j = 0; j < i; j++) {
			const struct mesh_segment *sj = &l->segments[j / l->copies];
			const struct mesh_replica *rj = &sj->replicas[j % l->copies];

			if (same_drive(ri, rj) &&
			    ranges_overlap(ri->drive_offset, si->bytes, rj->drive_offset, sj->bytes))
				return fail(why, "two segments share drive bytes");
		}
	}
	return 0;
}

int mesh_layout_check(const struct mesh_layout *l, const char **why)
{
	int rc = check_shape(l, why);

	if (rc == 0)
		rc = check_segments(l, why);
	if (rc == 0)
		rc = check_disjoint(l, why);
	return rc;
}

struct mesh_extent mesh_layout_first_extent(const struct mesh_layout *l, uint64_t offset,
					    uint64_t length)
{
	struct mesh_extent e = { .volume_offset = offset };
	uint64_t room;

	if (mesh_layout_kind_striped(l->kind)) {
		uint64_t unit = offset / l->stripe_unit;
		uint64_t within = offset % l->stripe_unit;

		e.segment = (uint32_t)(unit % l->segment_count);
		e.segment_offset = (unit / l->segment_count) * l->stripe_unit + within;
		room = l->stripe_unit - within;
	} else {
		uint64_t start = 0;
		uint32_t s = 0;

		while (offset >= start + l->segments[s].bytes) {
			start += l->segments[s].bytes;
			s++;
			assert(s < l->segment_count);
		}
		e.segment = s;
		e.segment_offset = offset - start;
		room = l->segments[s].bytes - e.segment_offset;
	}
	e.length = (uint32_t)(length < room ? length : room);
	return e;
}

/* The first extent of a range of any length, cut at EXTENT_BYTES_MAX. */
static struct mesh_extent next_extent(const struct mesh_layout *l, uint64_t offset,
				      uint64_t length)
{
	return mesh_layout_first_extent(l, offset,
					length > EXTENT_BYTES_MAX ? EXTENT_BYTES_MAX : length);
}

static int check_range(const struct mesh_layout *l, uint64_t offset, uint64_t length)
{
	if (length == 0)
		return -EINVAL;
	if (offset > l->volume_bytes || length > l->volume_bytes - offset)
		return -ERANGE;
	return 0;
}

int mesh_layout_map(const struct mesh_layout *l, uint64_t offset, uint64_t length,
		    struct mesh_extent *out, unsigned max)
{
	int rc = check_range(l, offset, length);
	unsigned n = 0;

	if (rc)
		return rc;
	while (length > 0) {
		if (n == max)
			return -E2BIG;
		out[n] = next_extent(l, offset, length);
		offset += out[n].length;
		length -= out[n].length;
		n++;
	}
	return (int)n;
}

int mesh_layout_extent_count(const struct mesh_layout *l, uint64_t offset, uint64_t length)
{
	int rc = check_range(l, offset, length);
	uint64_t n = 0;

	if (rc)
		return rc;
	if (mesh_layout_kind_striped(l->kind)) {
		uint64_t first = offset / l->stripe_unit;
		uint64_t last = (offset + length - 1) / l->stripe_unit;

		n = last - first + 1;
	} else {
		while (length > 0) {
			struct mesh_extent e = next_extent(l, offset, length);

			offset += e.length;
			length -= e.length;
			n++;
		}
	}
	return n > INT32_MAX ? -E2BIG : (int)n;
}

struct mesh_location mesh_layout_locate(const struct mesh_layout *l, const struct mesh_extent *e,
					unsigned copy)
{
	assert(copy < l->copies && e->segment < l->segment_count);
	const struct mesh_replica *r = &l->segments[e->segment].replicas[copy];

	return (struct mesh_location){
		.target = r->target,
		.drive = r->drive,
		.offset = r->drive_offset + e->segment_offset,
	};
}

/*
 * core/layout.h: volume geometry. Maps a byte range of a volume to extents
 * on drives, for each copy. Pure functions over a plain struct.
 *
 * A volume is made of segments. Each segment is one protection group: the
 * same bytes held by `copies` replicas, each a contiguous range on one drive
 * of one target. Segments are either laid end to end (concat, and mirror,
 * which is a concat whose segments have 2 or 3 copies) or interleaved every
 * stripe unit (stripe; stripe+mirror, RAID-10).
 *
 *   striped, width W, stripe unit U:  unit k = offset / U goes to segment
 *   k % W at segment offset (k / W) * U + offset % U.
 */
#ifndef MESH_CORE_LAYOUT_H
#define MESH_CORE_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

/* Every size and offset on a drive is a whole number of blocks. */
#define MESH_BLOCK_BYTES 4096u
/* Segments (protection groups) in one volume: the stripe width limit. */
#define MESH_LAYOUT_SEGMENTS_MAX 64u
#define MESH_LAYOUT_COPIES_MAX 3u
/* Largest stripe unit; keeps one unit within one wire message. */
#define MESH_LAYOUT_STRIPE_UNIT_MAX (1u << 20)
/* Largest volume: 2^60 bytes keeps every offset sum far from u64 overflow. */
#define MESH_LAYOUT_VOLUME_BYTES_MAX (1ull << 60)

enum mesh_layout_kind {
	MESH_LAYOUT_CONCAT = 1,        /* segments end to end, 1 copy */
	MESH_LAYOUT_STRIPE = 2,        /* RAID-0, 1 copy */
	MESH_LAYOUT_MIRROR = 3,        /* segments end to end, 2 or 3 copies */
	MESH_LAYOUT_STRIPE_MIRROR = 4, /* RAID-10, 2 or 3 copies */
};

/* Where one copy of a segment lives. */
struct mesh_replica {
	uint32_t target;        /* node id of the target */
	uint32_t drive;         /* drive index on that target */
	uint32_t domain;        /* failure domain (e.g. rack) of that target */
	uint64_t drive_offset;  /* first byte of the segment on the drive */
};

struct mesh_segment {
	uint64_t bytes;         /* capacity of this segment */
	uint64_t group;         /* protection group id (cluster-wide) */
	struct mesh_replica replicas[MESH_LAYOUT_COPIES_MAX];
};

struct mesh_layout {
	enum mesh_layout_kind kind;
	uint32_t stripe_unit;   /* bytes; used by striped kinds only */
	uint32_t copies;
	uint32_t segment_count; /* the width */
	uint64_t volume_bytes;  /* addressable bytes, <= sum of segment bytes */
	struct mesh_segment segments[MESH_LAYOUT_SEGMENTS_MAX];
};

/* A piece of a volume range that lies within one segment. */
struct mesh_extent {
	uint64_t volume_offset;
	uint64_t segment_offset;
	uint32_t length;
	uint32_t segment;
};

/* A drive byte range: where one copy of an extent lives. */
struct mesh_location {
	uint32_t target;
	uint32_t drive;
	uint64_t offset;
};

/**
 * Check that @l is a valid geometry. Returns 0, or -EINVAL with *@why set to
 * a static sentence naming the first problem found: unknown kind, zero or
 * too many segments, copies that do not match the kind, a stripe unit that
 * is zero, not a multiple of MESH_BLOCK_BYTES or above the limit, segments
 * of a stripe that differ in size or are not whole stripe units, sizes or
 * offsets that are not whole blocks or that overflow, a volume larger than
 * its segments, copies of a segment on one drive, or two extents sharing
 * drive bytes. @why may be NULL.
 */
int mesh_layout_check(const struct mesh_layout *l, const char **why);

/** Whether @kind stripes across segments. */
bool mesh_layout_kind_striped(enum mesh_layout_kind kind);

/** A static name for @kind ("concat", "stripe", ...) or "unknown". */
const char *mesh_layout_kind_name(enum mesh_layout_kind kind);

/** Parse a kind name; returns 0 and sets *@kind, or -EINVAL. */
int mesh_layout_kind_parse(const char *name, enum mesh_layout_kind *kind);

/**
 * Number of extents that [@offset, @offset + @length) splits into, or a
 * negative errno as mesh_layout_map(). Lets callers size or refuse work
 * before doing it.
 */
int mesh_layout_extent_count(const struct mesh_layout *l, uint64_t offset, uint64_t length);

/**
 * Split [@offset, @offset + @length) of a checked layout into extents in
 * ascending volume order, writing at most @max of them to @out. Returns the
 * number written, or:
 *   -EINVAL  @length is zero
 *   -ERANGE  the range reaches past the volume or overflows
 *   -E2BIG   more than @max extents would be needed
 */
int mesh_layout_map(const struct mesh_layout *l, uint64_t offset, uint64_t length,
		    struct mesh_extent *out, unsigned max);

/**
 * The first extent of [@offset, @offset + @length), a range that
 * mesh_layout_extent_count() accepted. Lets a caller walk a range one
 * extent at a time without an array.
 */
struct mesh_extent mesh_layout_first_extent(const struct mesh_layout *l, uint64_t offset,
					    uint64_t length);

/** Where copy @copy (< l->copies) of extent @e lives. */
struct mesh_location mesh_layout_locate(const struct mesh_layout *l, const struct mesh_extent *e,
					unsigned copy);

#endif

/*
 * core/placement.h: choose drives for a new volume.
 *
 * Given a pool of drives (target, failure domain, capacity, space used) and
 * a volume spec, produce a checked layout: copies of a segment on different
 * drives, in different failure domains whenever the pool has enough of them,
 * segments of one volume spread over distinct drives and targets where
 * possible, and space taken from the drives (a bump allocator per drive;
 * freeing space comes with volume deletion, later).
 *
 * This is the simple greedy planner the in-process cluster uses; placement
 * that bounds each target's peers (Copysets' scatter width) builds on it.
 */
#ifndef MESH_CORE_PLACEMENT_H
#define MESH_CORE_PLACEMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/layout.h"

struct mesh_pool_drive {
	uint32_t target;
	uint32_t drive;
	uint32_t domain;        /* failure domain, e.g. rack */
	uint64_t capacity;      /* bytes */
	uint64_t used;          /* bytes handed out, from the start of the drive */
	bool failed;
};

struct mesh_pool {
	struct mesh_pool_drive *drives;
	unsigned count;
};

struct mesh_volume_spec {
	enum mesh_layout_kind kind;
	uint64_t bytes;         /* volume size, a nonzero multiple of 4 KiB */
	uint32_t width;         /* segments: stripe width, or concat pieces */
	uint32_t copies;        /* 1 for concat and stripe, 2..3 for mirrors */
	uint32_t stripe_unit;   /* striped kinds only */
	uint64_t first_group;   /* group ids first_group .. first_group+width-1 */
};

/**
 * Plan @spec on @pool into @out and take the space from the pool's drives.
 * Returns 0, or a negative errno with *@why naming the problem:
 *   -EINVAL  the spec is not a valid geometry (as mesh_layout_check)
 *   -ENOSPC  not enough drives with enough free space for some segment
 * On error the pool is unchanged. @why may be NULL.
 */
int mesh_placement_plan(struct mesh_pool *pool, const struct mesh_volume_spec *spec,
			struct mesh_layout *out, const char **why);

#endif

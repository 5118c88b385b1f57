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
#include "core/proto.h"

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

/**
 * Choose a spare for replica @member of group @c (its drive failed) and
 * take c->bytes of space on it: a drive not failed, with the space, on a
 * target that holds no member of @c (witness included), and in a failure
 * domain no other replica of @c uses whenever the pool has such a drive.
 * Among those, the most free space wins, then the lowest index, so that
 * spares spread as space is taken. Returns 0 with @spare set (a rebuilding
 * replica: node, drive, offset), or -ENOSPC (nothing fits; the pool is
 * unchanged) or -EINVAL (@member is not a replica of @c).
 */
int mesh_placement_spare(struct mesh_pool *pool, const struct mesh_group_config *c,
			 unsigned member, struct mesh_group_member *spare);

#endif

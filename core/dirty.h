/*
 * core/dirty.h: which regions of a group's segment a replica wrote
 * recently, so that a replica coming back copies only those (docs/toma.md,
 * "Resync").
 *
 * A target marks the 1 MiB region of every write it applies, durably
 * (through the environment's metadata store) before the write reaches the
 * drive, as DRBD's activity log does: a target that crashes and restarts
 * still knows where it may differ from its peers. Marks age out in two
 * generations: every aging step (mesh_dirty_age, once per window) clears
 * the regions not written during the last full window, but only while
 * every replica of the group is active. While one is stale or rebuilding
 * nothing is cleared, so the marks cover every write it missed, plus
 * those in flight (up to a window old) when it left.
 *
 * The window must exceed the longest time a write may take to reach all
 * members (the clients' I/O timeout): a write one member took and another
 * missed is then still marked when that member is declared stale. A write
 * lost to a member that stays active for longer than the window is not
 * covered (docs/toma.md names this limit).
 *
 * Sans-IO. A group's map is allocated at its first mark or query and
 * loaded from the store if a previous incarnation left one.
 */
#ifndef MESH_CORE_DIRTY_H
#define MESH_CORE_DIRTY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/env.h"

#define MESH_DIRTY_REGION_BYTES (1ull << 20)
/* Largest segment tracked: 1 TiB, a 128 KiB map. */
#define MESH_DIRTY_REGIONS_MAX (1u << 20)
#define MESH_DIRTY_GROUPS_MAX 4096u

struct mesh_dirty;

/** Returns 0, -EOPNOTSUPP (no metadata store; logged) or -ENOMEM. */
int mesh_dirty_create(const struct mesh_env *env, struct mesh_dirty **out);

void mesh_dirty_destroy(struct mesh_dirty *d);

/** Regions of a segment of @bytes (0 when @bytes is 0). */
uint32_t mesh_dirty_region_count(uint64_t bytes);

/**
 * Mark [@offset, @offset + @length) of @group's segment (@bytes long) as
 * written. The marks are stored before this returns 0. Returns -ERANGE
 * (outside the segment, or a segment above MESH_DIRTY_REGIONS_MAX
 * regions), -ENOSPC past MESH_DIRTY_GROUPS_MAX groups, -ENOMEM, or the
 * store's error (the write must then not be applied).
 */
int mesh_dirty_mark(struct mesh_dirty *d, uint64_t group, uint64_t bytes, uint64_t offset,
		    uint64_t length);

/**
 * One aging step for every group: a group for which @all_active(@arg,
 * group) says every replica is active forgets the regions not marked since
 * the previous step. Returns how many regions were cleared.
 */
uint32_t mesh_dirty_age(struct mesh_dirty *d, bool (*all_active)(void *arg, uint64_t group),
			void *arg);

/**
 * The marked regions of @group (a bitmap of mesh_dirty_region_count(@bytes)
 * bits, bit r for region r), or NULL when none is marked or the map cannot
 * be loaded. Valid until the next call on @d.
 */
const uint64_t *mesh_dirty_regions(struct mesh_dirty *d, uint64_t group, uint64_t bytes);

/**
 * 0 when @group's map (of a segment of @bytes) is loaded or loadable, else
 * the error that keeps it from loading (-EIO for a record that is
 * unreadable): mesh_dirty_regions() cannot tell "nothing marked" from that.
 */
int mesh_dirty_readable(struct mesh_dirty *d, uint64_t group, uint64_t bytes);

/** Whether any group holds marks (an aging step would have work). */
bool mesh_dirty_any(const struct mesh_dirty *d);

#endif

/*
 * core/resync.h: bring a rebuilding replica up to date (docs/toma.md,
 * "Resync").
 *
 * When a group's configuration holds a rebuilding replica R, its source,
 * the first active replica in chain order (it holds every value any later
 * member holds), pushes R the regions R may lack:
 *
 *   - R was stale at the same place one epoch before (it came back): the
 *     regions the source's dirty map (core/dirty.h) marks;
 *   - otherwise (a spare replacing a failed drive, or the source does not
 *     know R's past, say after a restart): the whole segment.
 *
 * Each chunk is read from the source's drive and written to R as an
 * IO_WRITE with MESH_IO_F_RESYNC, tagged with the epoch the copy runs
 * under. R applies it only where no client wrote since it became
 * rebuilding (core/target.c), so a copy read before a client's newer write
 * reached the source cannot undo that write; R refuses the copy once its
 * epoch is gone. When every chunk is acknowledged, the source asks its
 * topology manager to mark R active under that same epoch.
 *
 * The module also ages the node's dirty maps (mesh_dirty_age) once per
 * window, for groups whose replicas are all active.
 *
 * One copy runs at a time per node; its chunks are read and sent
 * `inflight` at a time. Memory is taken at create, except the copy's
 * region list (at most MESH_DIRTY_REGIONS_MAX bits), taken when it starts.
 * Sans-IO: request ids and drive cookies carry MESH_RESYNC_TAG so that the
 * node routes their answers here.
 */
#ifndef MESH_CORE_RESYNC_H
#define MESH_CORE_RESYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "core/env.h"
#include "core/proto.h"

#define MESH_RESYNC_TAG (1ull << 63)
#define MESH_RESYNC_INFLIGHT_MAX 64u

struct mesh_toma;
struct mesh_dirty;

struct mesh_resync_config {
	uint32_t chunk_bytes;   /* bytes per copy message, 512..MESH_PROTO_DATA_MAX */
	uint32_t inflight;      /* chunks under way, 1..MESH_RESYNC_INFLIGHT_MAX */
	uint64_t attempt_ns;    /* a chunk not acknowledged by then is sent again */
	uint64_t age_window_ns; /* dirty-map aging period (see core/dirty.h) */
	/* UNSAFE, for showing that the checks have teeth: a rebuilding
	 * replica is marked active without copying anything to it. */
	bool no_copy;
};

struct mesh_resync_stats {
	uint64_t copies_started, copies_done, copies_aborted;
	uint64_t full_copies;        /* of those started, the whole segment */
	uint64_t bytes_copied;       /* acknowledged by the rebuilding replica */
	uint64_t chunks_resent;
	uint64_t regions_aged;       /* dirty regions forgotten by aging */
	/* The copy under way, if any: how far it got. */
	uint64_t current_group;
	uint64_t current_bytes_total, current_bytes_done;
};

struct mesh_resync;

/**
 * Make the resync role of a node whose topology manager is @toma and
 * dirty maps @dirty (both must outlive it). Returns 0, -EINVAL (config out
 * of range, logged) or -ENOMEM.
 */
int mesh_resync_create(const struct mesh_env *env, const struct mesh_resync_config *cfg,
		       struct mesh_toma *toma, struct mesh_dirty *dirty, struct mesh_resync **out);

void mesh_resync_destroy(struct mesh_resync *r);

/**
 * The node took configuration @c (a new one, or its own after a restart):
 * look for a copy to run. Safe to call from inside the topology manager.
 */
void mesh_resync_on_config(struct mesh_resync *r, const struct mesh_group_config *c);

void mesh_resync_stats(const struct mesh_resync *r, struct mesh_resync_stats *out);

/* Events, delivered by the node. */
void mesh_resync_on_msg(struct mesh_resync *r, uint32_t src, const struct mesh_msg *m);
void mesh_resync_on_timer(struct mesh_resync *r, uint32_t timer_id);
void mesh_resync_on_drive_done(struct mesh_resync *r, uint64_t cookie, int result);

#endif

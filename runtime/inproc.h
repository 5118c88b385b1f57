/*
 * runtime/inproc.h: a deterministic in-process cluster. N mesh nodes in one
 * process and one thread, joined by the loop transport, with memory drives
 * and a virtual clock that jumps to the next timer whenever nothing else is
 * pending. The node code is the real core; only the world around it is
 * in-process. Same seed and same calls give the same run.
 *
 * Each step delivers, in a fixed order: every node's transport events
 * (node 0 first), then the drive completions queued so far; such a round
 * takes MESH_INPROC_ROUND_NS of virtual time, after which the timers due
 * fire, earliest first. A step with nothing to deliver moves the clock to
 * the earliest timer and fires it.
 */
#ifndef MESH_RUNTIME_INPROC_H
#define MESH_RUNTIME_INPROC_H

#include <stdbool.h>
#include <stdint.h>

#include "core/client.h"
#include "core/env.h"
#include "core/node.h"
#include "core/target.h"

#define MESH_INPROC_NODES_MAX 64u
#define MESH_INPROC_TIMERS_MAX 16u       /* per node */
#define MESH_INPROC_DRIVE_QUEUE 4096u    /* drive completions waiting, all nodes */
#define MESH_INPROC_ROUND_NS 1000u       /* virtual time one round of deliveries takes */

struct mesh_inproc_config {
	uint32_t nodes;                   /* 1..MESH_INPROC_NODES_MAX */
	uint64_t seed;
	enum mesh_log_level log_level;    /* lines above this level are dropped */
	uint64_t rx_bytes;                /* per node receive ring; 0 = default */
};

struct mesh_inproc;
struct mesh_loop_fabric;

/** Returns 0, -EINVAL (bad config, logged to stderr) or -ENOMEM. */
int mesh_inproc_create(const struct mesh_inproc_config *cfg, struct mesh_inproc **out);

/** Destroy roles, drives, transports and the host. */
void mesh_inproc_destroy(struct mesh_inproc *h);

/** Node @id, whose environment roles act through. */
struct mesh_node *mesh_inproc_node(struct mesh_inproc *h, uint32_t id);

/** Add a memory drive of @bytes to node @id; its index goes to @drive. */
int mesh_inproc_drive_add(struct mesh_inproc *h, uint32_t id, uint64_t bytes, uint32_t *drive);

/** The bytes of a drive, for tests that inspect or damage it. */
uint8_t *mesh_inproc_drive_bytes(struct mesh_inproc *h, uint32_t id, uint32_t drive);

/** Fail (or heal) a drive: while failed, its I/O returns -EIO. */
void mesh_inproc_drive_fail(struct mesh_inproc *h, uint32_t id, uint32_t drive, bool failed);

/** Give node @id a target role serving its drives. */
int mesh_inproc_target_start(struct mesh_inproc *h, uint32_t id, uint32_t inflight);

/** Give node @id a client role. */
int mesh_inproc_client_start(struct mesh_inproc *h, uint32_t id,
			     const struct mesh_client_config *cfg);

/** Cut (@up false) or restore the directed link @from -> @to. */
int mesh_inproc_link(struct mesh_inproc *h, uint32_t from, uint32_t to, bool up);

/** Deliver one round of events. Returns false when nothing is left at all. */
bool mesh_inproc_step(struct mesh_inproc *h);

uint64_t mesh_inproc_now_ns(const struct mesh_inproc *h);

/**
 * Run @io on node @id's client and step until it completes. Returns the
 * submit error or the completion status.
 */
int mesh_inproc_io(struct mesh_inproc *h, uint32_t id, const struct mesh_io *io);

#endif

/*
 * core/target.h: the target role. Serves a node's drives to clients:
 * checks each request against the drive table, moves the bytes through the
 * environment's drive I/O, and answers. Sans-IO.
 *
 * Capacity is reserved at creation: `inflight` request slots, each with a
 * buffer of `io_bytes_max`. A request that finds no free slot is answered
 * -EAGAIN at once (the client resends), so a flood cannot grow memory.
 */
#ifndef MESH_CORE_TARGET_H
#define MESH_CORE_TARGET_H

#include <stdint.h>

#include "core/env.h"
#include "core/proto.h"

#define MESH_TARGET_DRIVES_MAX 64u
#define MESH_TARGET_INFLIGHT_MAX 4096u
/* Pause before sending again an answer that met a full path. */
#define MESH_TARGET_RESEND_NS 50000ull

struct mesh_dirty;
struct mesh_toma;

/* Groups one target may rebuild at once: each costs a map of one bit per
 * sector of the segment (segment bytes / 4096 bytes of memory). */
#define MESH_TARGET_REBUILDS_MAX 64u

struct mesh_target_config {
	uint32_t drive_count;                          /* 1..MESH_TARGET_DRIVES_MAX */
	uint64_t drive_bytes[MESH_TARGET_DRIVES_MAX];  /* capacity of each drive */
	uint32_t inflight;                             /* request slots, 1..MAX */
	uint32_t io_bytes_max;                         /* per request, <= MESH_PROTO_DATA_MAX; a
	                                                * multiple of 512 keeps every buffer
	                                                * aligned for O_DIRECT drives */
	/* The node's topology manager: I/O is served only under the epoch
	 * it holds for the request's group (-ESTALE otherwise). NULL: no
	 * fencing, for clusters without one. Must outlive the target. */
	struct mesh_toma *toma;
	/* Where the node marks the regions it writes (core/dirty.h), so that
	 * a replica that comes back copies only those. NULL: none kept. Needs
	 * @toma. Must outlive the target. */
	struct mesh_dirty *dirty;
	/* Unsafe, for showing what the check is for: a replica ahead of
	 * the tail answers reads without looking at unsettled writes. */
	bool no_settle_check;
};

struct mesh_target_stats {
	uint64_t reads, writes;
	uint64_t bytes_read, bytes_written;
	uint64_t rejected;      /* answered with an error before any drive I/O */
	uint64_t fenced;        /* of those, refused for a wrong epoch (-ESTALE) */
	uint64_t duplicates;    /* writes delivered twice, dropped */
	uint64_t busy;          /* answered -EAGAIN: no free slot */
	uint64_t drive_errors;
	uint64_t replies_deferred; /* answers that met a full path and waited */
	uint64_t resync_writes;    /* copies taken while rebuilding */
	uint64_t resync_bytes_kept; /* copied bytes skipped: a client wrote them since */
	uint64_t reads_ahead;      /* reads answered by a replica ahead of the tail */
	uint64_t reads_to_tail;    /* reads it sent on to the tail (-EXDEV) */
	uint64_t keys_granted;     /* one-sided read keys handed to clients */
	uint64_t keys_refused;
	uint64_t keys_revoked;     /* at epoch changes and drive failures */
};

struct mesh_target;

/** Returns 0, -EINVAL (config out of range, logged) or -ENOMEM. */
int mesh_target_create(const struct mesh_env *env, const struct mesh_target_config *cfg,
		       struct mesh_target **out);

/** Free the target. Drive I/O still in flight must have completed. */
void mesh_target_destroy(struct mesh_target *t);

/** Requests whose drive I/O has not completed. */
unsigned mesh_target_inflight(const struct mesh_target *t);

void mesh_target_stats(const struct mesh_target *t, struct mesh_target_stats *out);

/** Client @incarnation reports every write numbered below @settled on
 * every member it was sent to (core/unsettled.h). */
void mesh_target_settled(struct mesh_target *t, uint64_t incarnation, uint64_t settled);

/**
 * Group @c's configuration changed on this node: keys of its older epochs
 * are revoked (core/grants.h). Called from the topology manager's
 * on_config.
 */
void mesh_target_on_config(struct mesh_target *t, const struct mesh_group_config *c);

/* Events, delivered by the node. */
void mesh_target_on_msg(struct mesh_target *t, uint32_t src, const struct mesh_msg *m);
void mesh_target_on_timer(struct mesh_target *t, uint32_t timer_id);
void mesh_target_on_drive_done(struct mesh_target *t, uint64_t cookie, int result);

#endif

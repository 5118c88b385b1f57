/*
 * core/onesided.h: the client's half of one-sided reads (docs/toma.md,
 * "One-sided reads"): the key a group's tail granted for the epoch the
 * client holds, and the buffers RMA reads land in.
 *
 * Keys. One per group, for its tail under one epoch. A key for another
 * tail or epoch is asked for again; a refusal holds until the tail or the
 * epoch changes, so a target that cannot expose memory costs one message
 * per epoch, not one per read.
 *
 * Buffers. An RMA read lands in a client buffer, copied to the caller's
 * when it completes: a read given up on (timed out, sent again under a new
 * epoch) may still complete later, and must not write into memory the
 * caller has been handed back. A buffer is free again only at its own
 * completion. Reads longer than a buffer, or with none free, go
 * two-sided.
 */
#ifndef MESH_CORE_ONESIDED_H
#define MESH_CORE_ONESIDED_H

#include <stdbool.h>
#include <stdint.h>

#include "core/env.h"
#include "core/group.h"
#include "core/proto.h"

enum mesh_rma_key_state {
	MESH_RMA_KEY_NONE = 0,
	MESH_RMA_KEY_ASKED,
	MESH_RMA_KEY_HELD,
	MESH_RMA_KEY_REFUSED,
};

struct mesh_rma_key {
	enum mesh_rma_key_state state;
	uint32_t node;                  /* the tail asked */
	uint32_t seq;                   /* of the last ask */
	uint64_t epoch;                 /* the configuration it was asked under */
	uint64_t asked_ns;
	uint64_t rkey, remote_offset, length;
};

/**
 * Whether @k reads @cfg's tail now. If it was asked of another tail or
 * under another epoch, or an ask went unanswered for @retry_ns, asks
 * again with request id @req_id | the ask's sequence << 32, and returns
 * false until the grant comes.
 */
bool mesh_rma_key_usable(struct mesh_rma_key *k, const struct mesh_env *env,
			 const struct mesh_group_config *cfg, uint64_t req_id, uint64_t retry_ns);

/** Take grant @g from node @src, answering the ask numbered @seq. */
void mesh_rma_key_on_grant(struct mesh_rma_key *k, uint32_t src, uint32_t seq,
			   const struct mesh_msg_rma_grant *g);

/** A read through @k failed (revoked, refused): not used again this epoch. */
static inline void mesh_rma_key_refuse(struct mesh_rma_key *k)
{
	k->state = MESH_RMA_KEY_REFUSED;
}

struct mesh_rma_bufs {
	uint8_t *mem;
	uint32_t count, bytes;          /* buffers, and bytes each */
	uint32_t *free;
	uint32_t free_count;
	uint64_t *owner;                /* the request id each one serves */
	bool *busy;
};

/** @count buffers of @bytes each. Returns 0, -EINVAL or -ENOMEM. */
int mesh_rma_bufs_init(struct mesh_rma_bufs *b, uint32_t count, uint32_t bytes);
/** Free the buffers; their memory is kept (leaked) while any is out. */
void mesh_rma_bufs_fini(struct mesh_rma_bufs *b);

/** A free buffer's index, now serving @owner, or -1 when none is free. */
int mesh_rma_bufs_get(struct mesh_rma_bufs *b, uint64_t owner);

/** Whether @index names a buffer handed out and not yet put back. */
static inline bool mesh_rma_bufs_busy(const struct mesh_rma_bufs *b, uint64_t index)
{
	return index < b->count && b->busy[index];
}

static inline uint8_t *mesh_rma_buf(const struct mesh_rma_bufs *b, uint32_t index)
{
	return b->mem + (uint64_t)index * b->bytes;
}

void mesh_rma_bufs_put(struct mesh_rma_bufs *b, uint32_t index);

#endif

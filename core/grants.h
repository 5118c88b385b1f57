/*
 * core/grants.h: the keys a target hands out for one-sided reads.
 *
 * A client holding a lease on a group may read the tail's copy with RMA,
 * so that the target's CPU does nothing per read (the NVMesh "RDDA" idea).
 * The tail exposes its copy's extent once per group and epoch and gives
 * every client that asks the same key. When the group moves to a new epoch
 * (or the replica's drive fails) every older key of the group is revoked:
 * a late one-sided read through it then fails at the initiator or the
 * target, as a fenced two-sided read would (docs/toma.md, "One-sided
 * reads"). Sans-IO: exposure and revocation go through the environment.
 *
 * Capacity is fixed at creation; past it a request is refused (-ENOSPC)
 * and the client reads two-sided.
 */
#ifndef MESH_CORE_GRANTS_H
#define MESH_CORE_GRANTS_H

#include <stdint.h>

#include "core/env.h"

#define MESH_GRANTS_MAX 4096u

struct mesh_grants;

/** Room for @capacity keys (1..MESH_GRANTS_MAX). Returns 0, -EINVAL or -ENOMEM. */
int mesh_grants_create(const struct mesh_env *env, uint32_t capacity, struct mesh_grants **out);

/** Revoke every key and free the table. NULL is a no-op. */
void mesh_grants_destroy(struct mesh_grants *g);

/**
 * The read key of @group at @epoch over drive @drive's bytes [@offset,
 * @offset + @length): the one already handed out, or a new exposure.
 * Returns 0, -ENOSPC (table full), or the environment's error (-ENOTSUP
 * when its transport or drive cannot be read one-sided).
 */
int mesh_grants_get(struct mesh_grants *g, uint64_t group, uint64_t epoch, uint32_t drive,
		    uint64_t offset, uint64_t length, uint64_t *rkey);

/** Revoke the keys of @group from epochs before @epoch (UINT64_MAX: all).
 * Returns how many. */
unsigned mesh_grants_revoke_before(struct mesh_grants *g, uint64_t group, uint64_t epoch);

/** Keys held now. */
uint32_t mesh_grants_count(const struct mesh_grants *g);

#endif

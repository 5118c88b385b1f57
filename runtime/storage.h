/*
 * runtime/storage.h: the roles of a storage target on a real node, made
 * from the cluster configuration (runtime/conf.h): the topology manager
 * voting in every group the target holds a copy of (or witnesses), the
 * dirty maps and resync that bring returning replicas up to date, the
 * target serving its drives under epoch fencing, and the heartbeat
 * towards the other replicas of its groups, following membership. The
 * simulator assembles the same core roles the same way (sim/host.c).
 */
#ifndef MESH_RUNTIME_STORAGE_H
#define MESH_RUNTIME_STORAGE_H

#include <stdint.h>

#include "runtime/conf.h"
#include "runtime/host.h"

/* Request slots of a target, each with a buffer of the largest message. */
#define MESH_STORAGE_INFLIGHT 256u

struct mesh_storage;

/**
 * Open target @self's drives from @conf on @h and start its roles. @conf
 * must outlive the storage. Returns 0 or a negative errno, logged with
 * the reason through @h.
 */
int mesh_storage_start(struct mesh_host *h, const struct mesh_conf *conf, uint32_t self,
		       struct mesh_storage **out);

/** Requests the target is serving now (drive I/O under way). */
unsigned mesh_storage_inflight(const struct mesh_storage *s);

/** Stop the roles (the node's pointers are cleared) and free @s. */
void mesh_storage_stop(struct mesh_storage *s);

#endif

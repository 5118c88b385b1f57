/*
 * sim/simdrive.h: a simulated NVMe drive: sparse contents and service time.
 *
 * Contents: only written 4 KiB blocks are stored (a hash map from block
 * number to a block), so a 100,000-node cluster of terabyte drives costs
 * what its workload wrote; unwritten blocks read as zeros.
 *
 * Service time: `queue_depth` commands are served at once, each taking the
 * read or write latency plus its bytes at the drive's bandwidth, times the
 * slow-down factor; a command waits for the earliest free slot. Contents
 * change when a command completes, so the order of effects on the medium is
 * the order of completions.
 */
#ifndef MESH_SIM_SIMDRIVE_H
#define MESH_SIM_SIMDRIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/env.h"
#include "sim/scenario.h"

struct mesh_simdrive {
	uint64_t bytes;
	bool failed;                /* I/O completes with -EIO */
	double slow_factor;         /* >= 1 */
	uint32_t slots;
	uint64_t *slot_free_ns;     /* when each service slot is next free */
	/* Written blocks: open addressing, linear probing, keys block + 1. */
	uint64_t *keys;
	uint8_t **blocks;
	uint64_t used, capacity;
};

int mesh_simdrive_init(struct mesh_simdrive *d, uint64_t bytes, uint32_t queue_depth);
void mesh_simdrive_free(struct mesh_simdrive *d);

/** When a command of @op and @len bytes submitted at @now_ns completes. */
uint64_t mesh_simdrive_schedule(struct mesh_simdrive *d, const struct mesh_scn_drive_model *m,
				enum mesh_drive_op op, uint32_t len, uint64_t now_ns);

/**
 * Carry out @io on the contents (at its completion time). Returns the byte
 * count, -EIO when the drive is failed, -ERANGE outside the drive, or
 * -ENOMEM.
 */
int mesh_simdrive_apply(struct mesh_simdrive *d, const struct mesh_drive_io *io);

/** Blocks holding written data. */
uint64_t mesh_simdrive_blocks_stored(const struct mesh_simdrive *d);

#endif

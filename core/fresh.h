/*
 * core/fresh.h: the sectors of a segment that clients wrote on a
 * rebuilding replica since its rebuild began. A resync copy read from the
 * source before such a write reached it would undo the write, so copies
 * skip these sectors (core/resync.h). One bit per 512-byte sector, in
 * memory only: a replica that restarts while rebuilding starts its
 * rebuild again (core/toma.c).
 */
#ifndef MESH_CORE_FRESH_H
#define MESH_CORE_FRESH_H

#include <stdbool.h>
#include <stdint.h>

#define MESH_FRESH_SECTOR_BYTES 512u

struct mesh_fresh {
	uint64_t group;
	uint64_t epoch;         /* the rebuild it belongs to; 0 = unused */
	uint64_t bytes;         /* segment size */
	uint64_t *bits;
};

/** Make @f empty for @group's rebuild that began at @epoch, on a segment
 * of @bytes (a whole number of sectors). Returns 0 or -ENOMEM. */
int mesh_fresh_init(struct mesh_fresh *f, uint64_t group, uint64_t epoch, uint64_t bytes);

void mesh_fresh_release(struct mesh_fresh *f);

/** Note a client write of [@offset, @offset + @length), whole sectors,
 * within the segment. */
void mesh_fresh_mark(struct mesh_fresh *f, uint64_t offset, uint64_t length);

/**
 * The first run of sectors not written by clients in [*@offset, @end):
 * returns false when there is none, else moves *@offset to its start and
 * sets *@length to its size.
 */
bool mesh_fresh_next_run(const struct mesh_fresh *f, uint64_t *offset, uint64_t end,
			 uint64_t *length);

#endif

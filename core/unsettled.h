/*
 * core/unsettled.h: writes a replica ahead of its group's tail took that
 * may not be on the tail yet (docs/toma.md, "Reads from any active copy").
 *
 * Such a replica answers a read itself only when no write it holds for the
 * range is unsettled; otherwise the reader asks the tail, as chain
 * replication with apportioned queries does (CRAQ, Terrace and Freedman,
 * USENIX ATC 2009). A write is settled once its client reports, with the
 * watermark every I/O and lease request carries, that the write reached
 * every member it was sent to. Two writes to one range that were unsettled
 * at the same time may reach the members in different orders, so both are
 * kept after they settle, until a later write that covers them settles
 * (it came after both everywhere). A table that runs out of room cannot
 * record a write, so it refuses every read from then on.
 *
 * Entries are found by scanning: the table holds about the writes in
 * flight on this target, not its history.
 */
#ifndef MESH_CORE_UNSETTLED_H
#define MESH_CORE_UNSETTLED_H

#include <stdbool.h>
#include <stdint.h>

/* Most writes one table tracks; past it the table is full for good. */
#define MESH_UNSETTLED_MAX 4096u

struct mesh_unsettled_write {
	uint64_t incarnation, seq;  /* the client's names for the write */
	uint64_t offset;            /* drive bytes [offset, offset + length) */
	uint32_t drive, length;
	uint64_t stamp;             /* when it was added: see mesh_unsettled_clean() */
	bool kept;                  /* overlapped another unsettled write */
	bool settled;               /* kept, and its client settled it */
};

struct mesh_unsettled {
	struct mesh_unsettled_write *writes;
	uint32_t count, capacity;
	uint64_t stamp;             /* last stamp handed out */
	uint32_t settled_kept;      /* entries kept after they settled */
	bool full;                  /* a write could not be recorded */
};

void mesh_unsettled_release(struct mesh_unsettled *u);

/**
 * Record a write of [@offset, @offset + @length) on @drive. Returns 0, or
 * -ENOSPC / -ENOMEM when it cannot be recorded, after which the table is
 * full for good and mesh_unsettled_clean() answers false.
 */
int mesh_unsettled_add(struct mesh_unsettled *u, uint64_t incarnation, uint64_t seq,
		       uint32_t drive, uint64_t offset, uint32_t length);

/** Client @incarnation settled every write numbered below @settled. */
void mesh_unsettled_settle(struct mesh_unsettled *u, uint64_t incarnation, uint64_t settled);

/** The current stamp: writes added from now on carry a higher one. */
uint64_t mesh_unsettled_stamp(const struct mesh_unsettled *u);

/**
 * Whether a read of [@offset, @offset + @length) on @drive may be answered
 * here: the table is not full and holds no write overlapping it that was
 * added after stamp @since (0: ever).
 */
bool mesh_unsettled_clean(const struct mesh_unsettled *u, uint32_t drive, uint64_t offset,
			  uint32_t length, uint64_t since);

#endif

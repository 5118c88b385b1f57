/*
 * core/unsettled.c: the unsettled writes of a replica ahead of the tail
 * (see unsettled.h). An array in no order, grown by doubling up to
 * MESH_UNSETTLED_MAX; a settled write is removed by moving the last entry
 * into its place.
 */
#include "core/unsettled.h"

#include <errno.h>
#include <stdlib.h>

void mesh_unsettled_release(struct mesh_unsettled *u)
{
	free(u->writes);
	*u = (struct mesh_unsettled){ 0 };
}

static bool overlaps(const struct mesh_unsettled_write *w, uint32_t drive, uint64_t offset,
		     uint32_t length)
{
	return w->drive == drive && w->offset < offset + length && offset < w->offset + w->length;
}

static int grow(struct mesh_unsettled *u)
{
	uint32_t capacity = u->capacity ? u->capacity * 2 : 64;
	struct mesh_unsettled_write *grown;

	if (capacity > MESH_UNSETTLED_MAX)
		return -ENOSPC;
	grown = realloc(u->writes, capacity * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	u->writes = grown;
	u->capacity = capacity;
	return 0;
}

/* Drop settled kept writes that @w covers and that came before it: every
 * member applied @w after them. Returns how many. */
static uint32_t drop_covered(struct mesh_unsettled *u, const struct mesh_unsettled_write *w)
{
	uint32_t dropped = 0;

	for (uint32_t i = 0; i < u->count && u->settled_kept;) {
		const struct mesh_unsettled_write *k = &u->writes[i];

		if (k->settled && k->stamp < w->stamp && k->drive == w->drive &&
		    k->offset >= w->offset && k->offset + k->length <= w->offset + w->length) {
			u->writes[i] = u->writes[--u->count];
			u->settled_kept--;
			dropped++;
		} else {
			i++;
		}
	}
	return dropped;
}

int mesh_unsettled_add(struct mesh_unsettled *u, uint64_t incarnation, uint64_t seq,
		       uint32_t drive, uint64_t offset, uint32_t length)
{
	bool kept = false;
	int rc;

	if (u->full)
		return -ENOSPC;
	if (u->count == u->capacity && (rc = grow(u))) {
		u->full = true;
		return rc;
	}
	/* Two unsettled writes may land on the members in either order.
	 * One settled before this one came is on every member already. */
	for (uint32_t i = 0; i < u->count; i++) {
		struct mesh_unsettled_write *w = &u->writes[i];

		if (!w->settled && overlaps(w, drive, offset, length))
			w->kept = kept = true;
	}
	struct mesh_unsettled_write w = {
		.incarnation = incarnation, .seq = seq, .offset = offset,
		.drive = drive, .length = length, .stamp = ++u->stamp, .kept = kept,
	};

	/* A range written over and over while a write on it never settles
	 * (its client failed it) needs only the newest kept entries. */
	if (kept)
		drop_covered(u, &w);
	u->writes[u->count++] = w;
	return 0;
}

void mesh_unsettled_settle(struct mesh_unsettled *u, uint64_t incarnation, uint64_t settled)
{
	for (uint32_t i = 0; i < u->count;) {
		struct mesh_unsettled_write *w = &u->writes[i];

		if (w->incarnation != incarnation || w->seq >= settled || w->settled) {
			i++;
		} else if (w->kept) {
			w->settled = true;
			u->settled_kept++;
			i++;
		} else {
			struct mesh_unsettled_write done = *w;

			/* The last entry, not scanned yet, takes slot i. */
			u->writes[i] = u->writes[--u->count];
			if (drop_covered(u, &done))
				i = 0; /* others moved under the scan */
		}
	}
}

uint64_t mesh_unsettled_stamp(const struct mesh_unsettled *u)
{
	return u->stamp;
}

bool mesh_unsettled_clean(const struct mesh_unsettled *u, uint32_t drive, uint64_t offset,
			  uint32_t length, uint64_t since)
{
	if (u->full)
		return false;
	for (uint32_t i = 0; i < u->count; i++) {
		const struct mesh_unsettled_write *w = &u->writes[i];

		if (w->stamp > since && overlaps(w, drive, offset, length))
			return false;
	}
	return true;
}

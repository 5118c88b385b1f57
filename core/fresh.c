/*
 * core/fresh.c: a sector bitmap (see fresh.h).
 */
#include "core/fresh.h"

#include <errno.h>
#include <stdlib.h>

int mesh_fresh_init(struct mesh_fresh *f, uint64_t group, uint64_t epoch, uint64_t bytes)
{
	uint64_t words = (bytes / MESH_FRESH_SECTOR_BYTES + 63) / 64;
	uint64_t *bits = calloc(words ? words : 1, sizeof(uint64_t));

	if (!bits)
		return -ENOMEM;
	mesh_fresh_release(f);
	*f = (struct mesh_fresh){ .group = group, .epoch = epoch, .bytes = bytes, .bits = bits };
	return 0;
}

void mesh_fresh_release(struct mesh_fresh *f)
{
	free(f->bits);
	*f = (struct mesh_fresh){ 0 };
}

static bool is_fresh(const struct mesh_fresh *f, uint64_t sector)
{
	return (f->bits[sector / 64] >> (sector % 64)) & 1;
}

void mesh_fresh_mark(struct mesh_fresh *f, uint64_t offset, uint64_t length)
{
	uint64_t end = (offset + length) / MESH_FRESH_SECTOR_BYTES;

	for (uint64_t s = offset / MESH_FRESH_SECTOR_BYTES; s < end; s++)
		f->bits[s / 64] |= 1ull << (s % 64);
}

bool mesh_fresh_next_run(const struct mesh_fresh *f, uint64_t *offset, uint64_t end,
			 uint64_t *length)
{
	uint64_t s = *offset / MESH_FRESH_SECTOR_BYTES;
	uint64_t last = end / MESH_FRESH_SECTOR_BYTES;
	uint64_t first;

	while (s < last && is_fresh(f, s))
		s++;
	if (s == last)
		return false;
	first = s;
	while (s < last && !is_fresh(f, s))
		s++;
	*offset = first * MESH_FRESH_SECTOR_BYTES;
	*length = (s - first) * MESH_FRESH_SECTOR_BYTES;
	return true;
}

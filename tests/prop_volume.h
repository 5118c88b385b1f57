/*
 * tests/prop_volume.h: random volume specs for the placement property tests
 * (test_layout, test_copyset), drawn from a printed seed (tests/prop.h).
 */
#ifndef MESH_TESTS_PROP_VOLUME_H
#define MESH_TESTS_PROP_VOLUME_H

#include "core/placement.h"
#include "prop.h"

/* Any kind; width 1..6, and now and then up to 64; stripe units of 1..16
 * blocks; 2..@copies_max copies for mirrors; 1..@blocks_max blocks (at
 * least one per segment). */
static inline struct mesh_volume_spec prop_volume_spec(uint64_t *rng, uint64_t first_group,
						       uint32_t copies_max, uint64_t blocks_max)
{
	static const enum mesh_layout_kind kinds[] = {
		MESH_LAYOUT_CONCAT, MESH_LAYOUT_STRIPE, MESH_LAYOUT_MIRROR, MESH_LAYOUT_STRIPE_MIRROR,
	};
	struct mesh_volume_spec s = {
		.kind = kinds[prop_range(rng, 0, 3)],
		.width = (uint32_t)prop_range(rng, 1, prop_range(rng, 0, 9) == 0 ? 64 : 6),
		.stripe_unit = (uint32_t)prop_range(rng, 1, 16) * MESH_BLOCK_BYTES,
		.first_group = first_group,
	};

	s.copies = (s.kind == MESH_LAYOUT_MIRROR || s.kind == MESH_LAYOUT_STRIPE_MIRROR)
			   ? (uint32_t)prop_range(rng, 2, copies_max)
			   : 1;
	s.bytes = prop_range(rng, s.width, blocks_max) * MESH_BLOCK_BYTES;
	return s;
}

#endif

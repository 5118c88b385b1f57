/*
 * core/rng.h: splitmix64, the one pseudo-random generator of the project.
 * Small, fast, and the same sequence on every machine, so that a seed
 * reproduces a run. Environments use it behind random_u64; tests and tools
 * use it directly.
 */
#ifndef MESH_CORE_RNG_H
#define MESH_CORE_RNG_H

#include <stdint.h>

/** The next number of the sequence whose state is *@state. */
static inline uint64_t mesh_rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#endif

/*
 * tests/prop.h: seeds and random numbers for property tests. Every property
 * test prints its seed; MESH_SEED=<n> reruns exactly that case.
 */
#ifndef MESH_TESTS_PROP_H
#define MESH_TESTS_PROP_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/rng.h"

/* The seed for this run: $MESH_SEED if set, else taken from the clock so
 * that every run explores new cases. Printed either way. */
static inline uint64_t prop_seed(const char *test)
{
	const char *env = getenv("MESH_SEED");
	uint64_t seed;

	if (env && *env) {
		seed = strtoull(env, NULL, 0);
	} else {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
	}
	printf("%s: seed %llu (rerun with MESH_SEED=%llu)\n", test, (unsigned long long)seed,
	       (unsigned long long)seed);
	fflush(stdout);
	return seed;
}

static inline uint64_t prop_next(uint64_t *state)
{
	return mesh_rng_next(state);
}

/* Uniform in [lo, hi], inclusive. */
static inline uint64_t prop_range(uint64_t *state, uint64_t lo, uint64_t hi)
{
	return lo + prop_next(state) % (hi - lo + 1);
}

#endif

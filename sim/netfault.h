/*
 * sim/netfault.h: mesh's own delivery shim between simulated nodes.
 *
 * Partitions, flapping links and message faults (loss, duplication,
 * reordering, delay) are applied here, not with SimGrid's link states: a
 * switched-off SimGrid link fails a transfer at once, where a real
 * partition is silent. Every rule lasts until a heal. All randomness comes
 * from the caller's stream, so the same seed gives the same verdicts.
 */
#ifndef MESH_SIM_NETFAULT_H
#define MESH_SIM_NETFAULT_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/scenario.h"

#define MESH_NETFAULT_RULES_MAX 256u
/* A message is delivered at most this many times (a duplicate of one). */
#define MESH_NETFAULT_COPIES_MAX 2u

struct mesh_netfault_rule {
	const struct mesh_scn_fault *fault;  /* the scenario statement */
	bool active;                         /* flaps toggle it */
};

struct mesh_netfault {
	const struct mesh_scenario *scn;
	uint32_t count;
	struct mesh_netfault_rule rules[MESH_NETFAULT_RULES_MAX];
	uint64_t dropped_cut, dropped_loss, duplicated, delayed;
};

/* What happens to one message: how many copies arrive, each how late. */
struct mesh_netfault_verdict {
	uint32_t copies;                     /* 0: dropped */
	uint64_t extra_ns[MESH_NETFAULT_COPIES_MAX];
};

void mesh_netfault_init(struct mesh_netfault *nf, const struct mesh_scenario *scn);

/** Whether faults of @kind are network faults (heal included), handled here. */
bool mesh_netfault_handles(enum mesh_scn_fault_kind kind);

/**
 * Start the network fault @f (partition, flap, loss, duplicate, reorder,
 * delay) or, for a heal, end them all. Returns the rule index (flaps are
 * toggled through it), -ENOSPC when MESH_NETFAULT_RULES_MAX are in force,
 * or -EINVAL for a fault that is not a network fault.
 */
int mesh_netfault_start(struct mesh_netfault *nf, const struct mesh_scn_fault *f);

/** Cut (@active) or join a flap's link. */
void mesh_netfault_set_active(struct mesh_netfault *nf, int rule, bool active);

/** End every rule. */
void mesh_netfault_heal(struct mesh_netfault *nf);

/** Whether messages from @src to @dst are cut off right now. */
bool mesh_netfault_cut(const struct mesh_netfault *nf, uint32_t src, uint32_t dst);

/** Judge one message from @src to @dst sent now, drawing from @rng. */
void mesh_netfault_judge(struct mesh_netfault *nf, uint32_t src, uint32_t dst, uint64_t *rng,
			 struct mesh_netfault_verdict *out);

#endif

/*
 * core/copyset.h: placement with a bounded scatter width (Copyset
 * Replication), and random replication to compare it with.
 *
 * After Cidon et al., "Copysets: Reducing the Frequency of Data Loss in
 * Cloud Storage", USENIX ATC 2013. A copyset is a set of `copies` targets
 * that together hold every copy of some data; a target's scatter width is
 * the number of other targets it shares data with. Data is lost when every
 * member of some used copyset fails at once, so the fewer distinct copysets
 * a cluster uses, the rarer such a loss is after a correlated failure (a
 * power outage that 1% of nodes do not survive). Random replication uses a
 * new copyset for almost every chunk; Copyset Replication fixes a small
 * family of copysets up front:
 *
 *   P = ceil(S / (R - 1)) random permutations of the targets, each cut into
 *   consecutive groups of R; each group is a copyset.
 *
 * Each target then sits in P copysets and shares data with at most
 * P * (R - 1) peers, about S. The members of a copyset are kept in distinct
 * failure domains by swapping within the permutation.
 *
 * A build indexes the pool once (O(pool), the only step whose cost grows
 * with the cluster); planning a segment then costs a bounded number of
 * probes whatever the cluster size, so this serves 100,000 targets with
 * tens of thousands of volumes. Randomness comes only from the caller's
 * core/rng.h state, so a seed reproduces every choice.
 */
#ifndef MESH_CORE_COPYSET_H
#define MESH_CORE_COPYSET_H

#include <stdbool.h>
#include <stdint.h>

#include "core/layout.h"
#include "core/placement.h"

/* Targets in one pool; node indices then pack into 20 bits. */
#define MESH_COPYSET_TARGETS_MAX (1u << 20)
/* Largest scatter width asked for: P * R target indices per target. */
#define MESH_COPYSET_SCATTER_MAX 256u
/* Fresh permutations tried before a domain arrangement is given up. */
#define MESH_COPYSET_BUILD_RETRIES 16u
/* Random swap partners tried for one domain clash before a full scan. */
#define MESH_COPYSET_SWAP_TRIES 64u
/* Copysets (or targets, for random and 1-copy volumes) tried for one
 * segment before it is refused with -ENOSPC. Bounds the cost per segment;
 * a pool that is nearly full may refuse a segment that some copyset left
 * unprobed could still hold. */
#define MESH_COPYSET_PROBES_MAX 64u

enum mesh_copyset_policy {
	MESH_COPYSET_POLICY_COPYSET = 1, /* Copyset Replication, bounded scatter */
	MESH_COPYSET_POLICY_RANDOM = 2,  /* each chunk on random targets */
};

struct mesh_copyset_params {
	enum mesh_copyset_policy policy;
	uint32_t copies;         /* R: 2..MESH_LAYOUT_COPIES_MAX */
	uint32_t scatter_width;  /* S: 1..MESH_COPYSET_SCATTER_MAX; copyset policy only */
};

/* One target of the pool, with the pool's drives first_drive ..
 * first_drive + drive_count - 1. */
struct mesh_copyset_target {
	uint32_t id;             /* mesh_pool_drive.target */
	uint32_t domain;         /* mesh_pool_drive.domain */
	uint32_t domain_index;   /* dense, 0 .. domain_count - 1 */
	uint32_t first_drive;
	uint32_t drive_count;
	uint32_t memberships;    /* copysets it belongs to: P, +1 per borrowing */
	uint32_t scatter;        /* distinct peers over its copysets */
};

/*
 * Built by mesh_copyset_build(), read-only afterwards, released by
 * mesh_copyset_free(). Copysets are numbered permutation by permutation:
 * copysets p * per_permutation .. (p + 1) * per_permutation - 1 come from
 * permutation p and, but for the last of them, share no target, so
 * consecutive copysets spread a volume over distinct targets. When the
 * target count is not a multiple of R, each permutation's last group is
 * filled up by borrowing targets from earlier in it (each target borrowed
 * at most once while targets never borrowed remain in suitable domains),
 * so every target belongs to at least P copysets.
 */
struct mesh_copysets {
	enum mesh_copyset_policy policy;
	uint32_t copies;         /* R */
	uint32_t scatter_width;  /* S asked for */
	uint32_t permutations;   /* P = ceil(S / (R - 1)); 0 for random */
	uint32_t per_permutation;/* copysets per permutation: ceil(targets / R) */
	uint32_t count;          /* copysets: P * per_permutation */
	uint32_t target_count;
	uint32_t domain_count;
	bool domains_apart;      /* copies kept in distinct domains (domain_count >= R) */
	unsigned pool_count;     /* drives in the pool this was built from */
	struct mesh_copyset_target *targets;
	uint32_t *members;       /* count * copies target indices */
	uint32_t *sets_start;    /* target_count + 1 offsets into sets_of */
	uint32_t *sets_of;       /* copysets of each target, ascending */
};

/**
 * Index @pool and, for the copyset policy, build its copysets from @rng.
 * The pool's drives must list each target's drives contiguously, all in one
 * failure domain. Returns 0, or a negative errno with *@why naming the
 * problem (@why may be NULL):
 *   -EINVAL  copies outside 2..MESH_LAYOUT_COPIES_MAX; scatter width 0 or
 *            above MESH_COPYSET_SCATTER_MAX; an empty pool; more than
 *            MESH_COPYSET_TARGETS_MAX targets or fewer than `copies`; a
 *            target whose drives are not contiguous or span domains; at
 *            least R domains but too few or too unequal to keep each
 *            copyset's members in distinct domains (checked exactly, by
 *            the Gale-Ryser condition), or no arrangement found within
 *            MESH_COPYSET_BUILD_RETRIES permutations
 *   -ENOMEM  out of memory
 * With fewer than R domains in the pool, copysets keep their members on
 * distinct targets only. On error *@cs holds nothing to free.
 * Cost: O(drives + P * targets) time and memory, but for a domain clash
 * that MESH_COPYSET_SWAP_TRIES random partners do not mend, which costs a
 * scan of the permutation (only when domains are nearly too few).
 */
int mesh_copyset_build(struct mesh_copysets *cs, const struct mesh_pool *pool,
		       const struct mesh_copyset_params *params, uint64_t *rng, const char **why);

/** Release what mesh_copyset_build() allocated; @cs may be zeroed. */
void mesh_copyset_free(struct mesh_copysets *cs);

/** Members (target indices, cs->copies of them) of copyset @c < cs->count. */
static inline const uint32_t *mesh_copyset_members(const struct mesh_copysets *cs, uint32_t c)
{
	return &cs->members[(uint64_t)c * cs->copies];
}

/**
 * Choose the replica targets of one chunk, ignoring space: the exact choice
 * mesh_copyset_plan() makes before it looks at drives, for studies. Writes
 * cs->copies target indices to @out. Copyset policy: the members of a
 * copyset drawn uniformly. Random policy: targets drawn uniformly, each in
 * a domain (or, with fewer than R domains, on a target) the chunk does not
 * use yet. Returns 0, or -EAGAIN when MESH_COPYSET_PROBES_MAX draws found no
 * suitable target for some copy (domains very unequal). O(copies).
 */
int mesh_copyset_pick(const struct mesh_copysets *cs, uint64_t *rng, uint32_t *out);

/**
 * Plan @spec on @pool (the pool @cs was built from: same drives in the same
 * order; used and failed may have changed since) into @out, taking the
 * space from the pool's drives; the contract of mesh_placement_plan():
 *   -EINVAL  the spec is not a valid geometry (as mesh_placement_plan), the
 *            pool has changed size, or (copyset policy) more copies than
 *            the copysets have members
 *   -ENOSPC  no copyset (or target) with room among MESH_COPYSET_PROBES_MAX
 *            probed for some segment
 * On error the pool is unchanged; on success @out passes mesh_layout_check.
 *
 * Copyset policy: a segment's copies go to members of one copyset (the
 * first spec->copies of them, rotated per segment), each on the member's
 * non-failed drive with the most free space that fits (lowest index on a
 * tie). Segments take successive copysets from one drawn from @rng, so a
 * volume's segments spread over distinct targets. A 1-copy volume takes
 * successive targets in permutation order instead. Random policy: each
 * copy on a target drawn from @rng, in a domain the segment does not use
 * yet (while the pool has enough domains), by the same drive rule.
 * Cost per segment: O(MESH_COPYSET_PROBES_MAX * copies * drives per
 * target), whatever the pool's size.
 */
int mesh_copyset_plan(struct mesh_pool *pool, const struct mesh_copysets *cs,
		      const struct mesh_volume_spec *spec, uint64_t *rng, struct mesh_layout *out,
		      const char **why);

/** A static name for @policy ("copyset", "random") or "unknown". */
const char *mesh_copyset_policy_name(enum mesh_copyset_policy policy);

#endif

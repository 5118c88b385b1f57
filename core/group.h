/*
 * core/group.h: the rules of a protection group's configuration, as pure
 * functions (docs/toma.md). The topology manager (core/toma.c) and the
 * client call these; keeping the rules apart lets each be tested on its own.
 *
 *   - which configurations are valid, and which single change leads from
 *     one epoch to the next;
 *   - when a proposed configuration is committed: accepted by a majority
 *     of the voters and by every member active in it;
 *   - how long a lease lasts, seen from the client that holds it and from
 *     the voter that granted it, under the clock drift bound;
 *   - the order in which clients write the members (the chain) and which
 *     member they read (its tail).
 *
 * Chain order. Clients replicate by chain (van Renesse and Schneider,
 * OSDI 2004), driven from the client: a write goes to the replicas that
 * take writes (active and rebuilding) one after another in member order,
 * each only once the one before it acknowledged; reads go to the tail,
 * the last active replica, or to a replica ahead of it that holds exactly
 * what the tail does for the range (docs/toma.md). So every value the
 * tail holds is already on every member, and a reader never sees a value
 * that a failure could take back. Members ahead of the tail may hold newer values of writes still in
 * flight (or abandoned by a client that crashed); removing any member
 * keeps the order, and a new tail holds everything the old one did. A
 * replica that comes back may lack anything, so START_REBUILD and REPLACE
 * move it to the head (index 0), where lacking values is harmless while
 * it resyncs, and it stays there once active.
 */
#ifndef MESH_CORE_GROUP_H
#define MESH_CORE_GROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/layout.h"
#include "core/proto.h"

/* The drift bound the protocol may assume, parts per million. */
#define MESH_GROUP_DRIFT_PPM_MAX 100000u

enum mesh_group_change {
	MESH_GROUP_MARK_STALE = 1,    /* an active replica is unreachable */
	MESH_GROUP_START_REBUILD,     /* a stale replica is back: resync it */
	MESH_GROUP_MARK_ACTIVE,       /* a rebuilding replica caught up */
	MESH_GROUP_REPLACE,           /* a stale replica's drive is gone: a spare rebuilds */
};

/**
 * Check @c as a configuration the topology manager may hold: the wire rules
 * (mesh_proto) plus distinct member nodes, at most one witness, a witness
 * exactly when the copy count is even, witnesses always active, and at
 * least one active replica. Returns 0 or -EINVAL with *@why (may be NULL).
 */
int mesh_group_check(const struct mesh_group_config *c, const char **why);

/**
 * The configuration segment @seg of a layout with @copies copies starts
 * from: its replicas in layout order, all active at epoch 1, and when the
 * copy count is even a witness. The witness is a function of the replicas
 * alone (the first target after the lowest replica id that holds no copy,
 * in a failure domain of its own when one is near), so groups that share
 * replicas share their witness and a target's peers stay few. Targets are
 * nodes 0..@targets-1; @domain_of gives each one's failure domain.
 * Returns 0, or -ENOSPC when no target is left to be the witness.
 */
int mesh_group_initial(const struct mesh_segment *seg, uint32_t copies, const uint32_t *domain_of,
		       uint32_t targets, struct mesh_group_config *out);

/** Voters: every member (replicas and the witness). */
unsigned mesh_group_voters(const struct mesh_group_config *c);

/** Smallest number of voters that is a majority. */
unsigned mesh_group_majority(const struct mesh_group_config *c);

/**
 * Make @to from @from by one @change to member @member (for REPLACE,
 * @spare_node/@spare_drive/@spare_offset name the new replica), with the
 * next epoch. START_REBUILD and REPLACE move the member to index 0 (the
 * head of the chain); other members keep their order.
 * Returns 0, or -EINVAL with *@why: @from invalid, member out of range or
 * not a replica, a change its state does not allow (only active or
 * rebuilding -> stale, stale -> rebuilding, rebuilding -> active, stale ->
 * replaced), a change
 * that would leave no active replica, or a spare already in the group.
 */
/** A short name for @change, for logs ("mark-stale"); "unknown" otherwise. */
const char *mesh_group_change_name(enum mesh_group_change change);

int mesh_group_change(const struct mesh_group_config *from, enum mesh_group_change change,
		      unsigned member, uint32_t spare_node, uint32_t spare_drive,
		      uint64_t spare_offset, struct mesh_group_config *to, const char **why);

/**
 * Whether @c is committed once the voters in @accepted (node ids, @count of
 * them, duplicates ignored, non-members ignored) have accepted it: a
 * majority of voters, including every member that is active in @c (each
 * active member must fence old epochs before the change takes effect).
 */
bool mesh_group_committed(const struct mesh_group_config *c, const uint32_t *accepted,
			  unsigned count);

/**
 * Whether @nodes (@count of them, duplicates and non-members ignored)
 * hold a majority of @c's voters. A change of membership (REPLACE) needs
 * this of the configuration it leaves as well as mesh_group_committed()
 * of the one it makes, so that any later majority of either meets it.
 */
bool mesh_group_majority_of(const struct mesh_group_config *c, const uint32_t *nodes,
			    unsigned count);

/** Whether @m takes writes: a replica that is active or rebuilding. */
bool mesh_group_member_writable(const struct mesh_group_member *m);

/** Member indices that take writes, in chain order (head first); returns how many. */
unsigned mesh_group_chain(const struct mesh_group_config *c, uint8_t chain[MESH_GROUP_MEMBERS_MAX]);

/** Index of the member reads go to (the last active replica), or -1. */
int mesh_group_tail(const struct mesh_group_config *c);

/** Index of @node among the members, or -1. */
int mesh_group_member_of(const struct mesh_group_config *c, uint32_t node);

/**
 * The end of a lease on the client's clock: it asked at @sent_ns (its
 * clock) for a lease of @lease_ns that each voter measures on its own
 * clock from when it answered. With clock rates within @drift_ppm of real
 * time, the client's lease ends no later in real time than any granting
 * voter's: sent + lease * (1 - d) / (1 + d), rounded down.
 */
uint64_t mesh_group_lease_client_end_ns(uint64_t sent_ns, uint64_t lease_ns, uint32_t drift_ppm);

/**
 * Whether a voter that granted a lease of @lease_ns at @granted_ns (its
 * clock) may accept a higher epoch at @now_ns (its clock).
 */
bool mesh_group_lease_expired(uint64_t granted_ns, uint64_t lease_ns, uint64_t now_ns);

#endif

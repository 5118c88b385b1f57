/*
 * core/toma.h: the topology manager on one target node (docs/toma.md).
 *
 * A target votes in every protection group it is a member of (as a replica
 * or as the group's witness). For each such group it keeps, durably
 * through the environment's metadata store, the highest ballot it promised
 * and the configuration it accepted last, and it
 *
 *   - answers CONFIG_READ (Paxos prepare) and CONFIG_PROPOSE (accept),
 *     refusing a higher epoch until every lease it granted has run out;
 *   - grants clients leases on its accepted configuration (LEASE_REQUEST);
 *   - tells the target role which epoch to fence I/O with;
 *   - proposes a change when its heartbeat finds an active replica silent:
 *     that replica is marked stale, under the next epoch.
 *
 * One configuration change is one CASPaxos round (prepare to a majority,
 * take the configuration accepted under the highest ballot, apply one
 * change from core/group.h, propose it). The change is committed when a
 * majority and every member that takes writes have accepted it; until
 * then the proposer retries, and a voter that sees a stronger ballot
 * aborts its own proposal.
 *
 * Membership changes (REPLACE, a spare for a replica whose drive failed)
 * are committed by a majority of the voters of the configuration they
 * leave and of the one they make, and a round prepares with a majority of
 * the voters of the newest configuration it finds: any two majorities
 * that decide consecutive configurations meet. A spare joins a group when
 * it is first asked to accept a configuration that names it.
 *
 * Sans-IO; one timer per node for the manager. All memory is taken when a
 * group is added or joined.
 */
#ifndef MESH_CORE_TOMA_H
#define MESH_CORE_TOMA_H

#include <stdbool.h>
#include <stdint.h>

#include "core/env.h"
#include "core/group.h"
#include "core/proto.h"

/* Groups one target votes in. */
#define MESH_TOMA_GROUPS_MAX 4096u
/* Groups a target may join at run time as a spare (they are listed in one
 * metadata record, read back at restart). */
#define MESH_TOMA_JOINED_MAX 256u
/* Lease bounds: below 1 ms no network keeps a lease alive, above a minute
 * a failover waits too long. */
#define MESH_TOMA_LEASE_NS_MIN 1000000ull
#define MESH_TOMA_LEASE_NS_MAX 60000000000ull

struct mesh_toma_config {
	/* Longest lease a voter grants (clients may ask for less). A voter
	 * that restarts accepts no new epoch for this long, because it may
	 * have granted leases it no longer remembers. */
	uint64_t lease_ns;
	/* Clock drift bound, ppm; only checked for range here. The client
	 * shortens its lease by this bound (mesh_group_lease_client_end_ns),
	 * so a voter waits out exactly the lease it granted, on its clock. */
	uint32_t drift_ppm;
	/* How long a proposal may take before it is tried again with a new
	 * ballot; the retry waits a random part of this more. */
	uint64_t round_timeout_ns;
	/* UNSAFE, for showing that the checks have teeth: targets accept I/O
	 * under any epoch. */
	bool no_fencing;
	/* Called when this node takes a new configuration of a group (and
	 * for each group it resumes after a restart); may be NULL. The
	 * callee must not call back into the manager except through the
	 * read-only accessors and mesh_toma_request(). */
	void (*on_config)(void *arg, const struct mesh_group_config *c);
	/* Choose a spare for replica @member of @c, whose drive failed: a
	 * node not in @c, a drive of it and space there for c->bytes, in
	 * *@spare (node, drive, offset). Returns 0, -ENOSPC, or -EAGAIN when
	 * placement cannot be asked now (tried again next round). Placement's
	 * job (mesh_placement_spare); may be NULL, and then a replica whose
	 * drive failed is only marked stale. */
	int (*pick_spare)(void *arg, const struct mesh_group_config *c, unsigned member,
			  struct mesh_group_member *spare);
	void *arg;
};

struct mesh_toma_stats {
	uint64_t proposals, commits, aborts;
	uint64_t leases_granted, leases_refused;
	uint64_t accepts_deferred;  /* a proposal waited for leases to run out */
	uint64_t io_fenced;         /* I/O refused for a wrong epoch */
	uint64_t replacements;      /* REPLACE changes this node committed */
};

struct mesh_toma;

/**
 * Make a manager acting through @env, which must provide the metadata
 * store (meta_put, meta_get): a voter that forgot its promises could let
 * two configurations commit. Returns 0, -EINVAL (config out of range,
 * logged), -EOPNOTSUPP (no metadata store) or -ENOMEM.
 */
int mesh_toma_create(const struct mesh_env *env, const struct mesh_toma_config *cfg,
		     struct mesh_toma **out);

void mesh_toma_destroy(struct mesh_toma *t);

/**
 * Vote in group @initial->group. When the metadata store holds this
 * group's state (the node restarted), that state wins over @initial.
 * Returns 0, -EINVAL (@initial fails mesh_group_check or this node is not
 * a member; logged), -EEXIST, -ENOSPC past MESH_TOMA_GROUPS_MAX, -ENOMEM,
 * or the store's error.
 */
int mesh_toma_group_add(struct mesh_toma *t, const struct mesh_group_config *initial);

/**
 * Resume the groups this node joined at run time as a spare (listed in its
 * metadata store), after the mesh_toma_group_add() calls for the groups it
 * was placed in. Returns 0 or the store's error (logged).
 */
int mesh_toma_resume_joined(struct mesh_toma *t);

/**
 * The drive holding this node's replica of @group failed an I/O. The
 * replica no longer holds every acknowledged write, so this node proposes
 * it stale and then, with cfg.pick_spare, replaces it with a spare
 * (REPLACE), which rebuilds the whole segment; meanwhile it refuses the
 * group's I/O (-ESTALE) and leases. Held in memory: a restart finds out
 * again from the drive. Returns whether it does so: false for a group
 * this node holds no replica of, or whose other replicas are none active
 * (the only copy left: its errors go to the client, as a disk's would).
 */
bool mesh_toma_drive_failed(struct mesh_toma *t, uint64_t group);

/**
 * Whether this node may serve I/O of @op (MESH_MSG_IO_READ/WRITE) tagged
 * with @epoch for @group: 0, or -ESTALE with *@current set to the epoch
 * the node holds (the client re-reads the configuration), or -ENOENT when
 * the node does not vote in @group. Reads are served only by active
 * replicas, writes also by rebuilding ones. Unless -ENOENT, *@config (if
 * @config is not NULL) is the configuration the node holds, valid until
 * the next event: the I/O path needs it next, and need not look again.
 */
int mesh_toma_io_check(struct mesh_toma *t, uint64_t group, uint64_t epoch, uint8_t op,
		       uint64_t *current, const struct mesh_group_config **config);

/**
 * The configuration this node accepted last for @group, or NULL. Valid
 * until the next event.
 */
const struct mesh_group_config *mesh_toma_config_of(const struct mesh_toma *t, uint64_t group);

/** Heartbeat verdict on @node (mesh_heartbeat_config.on_peer_change). */
void mesh_toma_on_peer_change(struct mesh_toma *t, uint32_t node, bool alive);

void mesh_toma_stats(const struct mesh_toma *t, struct mesh_toma_stats *out);

/** Groups this node votes in, and the configuration of the @i-th (in
 * group id order); valid until the next event. */
uint32_t mesh_toma_group_count(const struct mesh_toma *t);
const struct mesh_group_config *mesh_toma_config_at(const struct mesh_toma *t, uint32_t i);

/**
 * The heartbeat peers membership gives this node: the other replicas of
 * the groups it holds a replica of, in the configurations it holds now (a
 * spare joined, a replaced replica left). A witness watches nobody: it
 * votes only when asked. Writes up to @max distinct node ids into @out
 * and returns how many.
 */
unsigned mesh_toma_replica_peers(const struct mesh_toma *t, uint32_t *out, unsigned max);

/**
 * Ask for @change of member @node of @group, to be built on the
 * configuration of epoch @epoch only (the resync asks MARK_ACTIVE under the
 * epoch its copy ran in). Dropped once the group's epoch moves past
 * @epoch. Returns 0, or -ENOENT for a group this node does not vote in.
 */
int mesh_toma_request(struct mesh_toma *t, uint64_t group, enum mesh_group_change change,
		      uint32_t node, uint64_t epoch);

/**
 * Whether rebuilding replica @node of @group came back: this node saw it
 * stale at the same place one epoch before, so that it lacks only what
 * was written while it was away (the dirty regions). False when unsure.
 */
bool mesh_toma_member_returning(const struct mesh_toma *t, uint64_t group, uint32_t node);

/**
 * When this node is a rebuilding replica of @group: the epoch at which it
 * became rebuilding, known to have stayed so since (in this incarnation),
 * else 0. Client writes it takes since then are newer than any copy.
 */
uint64_t mesh_toma_rebuild_epoch(const struct mesh_toma *t, uint64_t group);

/**
 * A peer showed this node a newer epoch of @group than it holds: run a
 * round that learns the newest configuration from a majority (and
 * finishes it). No-op for a group this node does not vote in.
 */
void mesh_toma_catch_up(struct mesh_toma *t, uint64_t group);

/**
 * Whether this node's replica of @group may answer reads ahead of the
 * tail (docs/toma.md, "Reads from any active copy"): it was active when
 * this node made the group, and has been active in every epoch since,
 * with no epoch skipped, no restart and no drive error. A replica that
 * left may lack a write that a failed client left on the tail, so it
 * never answers ahead of the tail again (until a scrub, not built).
 */
bool mesh_toma_reads_any(const struct mesh_toma *t, uint64_t group);

/** Whether every replica of @group is active and none is suspected. */
bool mesh_toma_group_settled(const struct mesh_toma *t, uint64_t group);

/* Events, delivered by the node. */
void mesh_toma_on_msg(struct mesh_toma *t, uint32_t src, const struct mesh_msg *m);
void mesh_toma_on_timer(struct mesh_toma *t, uint32_t timer_id);

#endif

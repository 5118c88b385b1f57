/*
 * core/heartbeat.h: failure detection among a target's few peers.
 *
 * A target beats only to the targets that protect the same data as it does
 * (its protection-group peers, at most MESH_HEARTBEAT_PEERS_MAX of them), so
 * what one target sends and receives per second is peers / interval, however
 * large the cluster grows. The topology manager decides what a suspicion
 * means; this module only says who has gone quiet and who has come back.
 *
 * Every interval the heartbeat sends one HEARTBEAT to each peer and then
 * sweeps: a peer not heard from for longer than timeout_ns is suspected. A
 * suspicion is therefore raised between timeout and timeout + interval after
 * the last beat arrived. A beat from a suspected peer clears it at once.
 *
 * A beat is a hint, not a proof: a delayed or duplicated beat may make a dead
 * peer look alive for one more timeout. Safety (no split brain) comes from
 * epochs and leases in the topology manager, never from this detector.
 *
 * Sans-IO: it acts only through its mesh_env and owns one timer. All memory
 * is taken at create; nothing allocates afterwards.
 */
#ifndef MESH_CORE_HEARTBEAT_H
#define MESH_CORE_HEARTBEAT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/env.h"
#include "core/proto.h"

/* Peers of one target: its groups' members, with room to spare. */
#define MESH_HEARTBEAT_PEERS_MAX 64u
/* Beat interval bounds: below a microsecond no transport keeps up, above an
 * hour the detector is useless. */
#define MESH_HEARTBEAT_INTERVAL_NS_MIN 1000ull
#define MESH_HEARTBEAT_INTERVAL_NS_MAX (3600ull * 1000000000ull)
/* A single lost beat must not raise a suspicion. */
#define MESH_HEARTBEAT_TIMEOUT_INTERVALS_MIN 2u
/* Longest timeout: a day keeps now + timeout far from wrapping. */
#define MESH_HEARTBEAT_TIMEOUT_NS_MAX (24ull * 3600ull * 1000000000ull)

struct mesh_heartbeat_config {
	/* Time between two beats to each peer, INTERVAL_NS_MIN..INTERVAL_NS_MAX. */
	uint64_t interval_ns;
	/* Silence after which a peer is suspected: at least
	 * TIMEOUT_INTERVALS_MIN intervals, at most TIMEOUT_NS_MAX. */
	uint64_t timeout_ns;
	/**
	 * Called once per transition: @alive false when @node becomes
	 * suspected, true when it is heard from again. May be NULL. Called from
	 * inside the heartbeat's event handlers, so it must not add or remove
	 * peers, stop or destroy the heartbeat (asserted); queue such work.
	 */
	void (*on_peer_change)(void *arg, uint32_t node, bool alive);
	void *arg;
};

struct mesh_heartbeat_stats {
	uint64_t beats_sent;        /* handed to the environment without error */
	uint64_t beats_received;    /* from peers */
	uint64_t send_failures;     /* send returned an error; the next beat retries */
	uint64_t suspicions;        /* alive -> suspected transitions */
	uint64_t recoveries;        /* suspected -> alive transitions */
	uint64_t beats_ignored;     /* from a node that is not a peer, or whose
				     * sender field is not the node it came from */
};

struct mesh_heartbeat;

/**
 * Make a heartbeat acting through @env (which must outlive it). Returns 0,
 * -EINVAL when @cfg is out of range (logged, naming the field), or -ENOMEM.
 * It has no peers and does not beat until mesh_heartbeat_start().
 */
int mesh_heartbeat_create(const struct mesh_env *env, const struct mesh_heartbeat_config *cfg,
			  struct mesh_heartbeat **out);

/** Cancel the timer and free @hb. NULL is a no-op. */
void mesh_heartbeat_destroy(struct mesh_heartbeat *hb);

/**
 * Watch @node and beat to it. It starts alive, as if heard from now (or at
 * start, if not started yet). Returns 0, -EINVAL for this node itself,
 * -EEXIST when @node already is a peer, -ENOSPC past PEERS_MAX.
 */
int mesh_heartbeat_peer_add(struct mesh_heartbeat *hb, uint32_t node);

/** Stop watching @node, without a callback. Returns 0 or -ENOENT. */
int mesh_heartbeat_peer_remove(struct mesh_heartbeat *hb, uint32_t node);

/**
 * Make the peers exactly @nodes (@count, distinct, not this node): peers
 * not listed are removed without a callback, listed ones not yet watched
 * are added as mesh_heartbeat_peer_add does, the others keep their state.
 * Used as membership changes. Returns 0, or the first add's error.
 */
int mesh_heartbeat_peers_set(struct mesh_heartbeat *hb, const uint32_t *nodes, unsigned count);

/**
 * Start beating. Every peer counts as heard from now; the first beat goes
 * out at a random offset within one interval (from the environment's
 * random stream), so that nodes started together do not all beat at one
 * instant. Returns 0, -EALREADY when running, or the timer_arm error.
 */
int mesh_heartbeat_start(struct mesh_heartbeat *hb);

/** Stop beating and sweeping. Peers keep their state. No-op when stopped. */
void mesh_heartbeat_stop(struct mesh_heartbeat *hb);

/** True when @node is a peer not suspected; false for a non-peer. */
bool mesh_heartbeat_peer_alive(const struct mesh_heartbeat *hb, uint32_t node);

unsigned mesh_heartbeat_peer_count(const struct mesh_heartbeat *hb);

void mesh_heartbeat_stats(const struct mesh_heartbeat *hb, struct mesh_heartbeat_stats *out);

/* Events, delivered by the node. @m is a decoded HEARTBEAT. */
void mesh_heartbeat_on_msg(struct mesh_heartbeat *hb, uint32_t src, const struct mesh_msg *m);
void mesh_heartbeat_on_timer(struct mesh_heartbeat *hb, uint32_t timer_id);

#endif

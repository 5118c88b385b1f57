/*
 * sim/simnode.h: what the SimGrid host keeps per simulated node and per
 * run. Shared by host.c (actors and the environment), workload.c (clients'
 * I/O and the history) and setup.c (volumes, roles); not a public API.
 */
#ifndef MESH_SIM_SIMNODE_H
#define MESH_SIM_SIMNODE_H

#include <simgrid/forward.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/layout.h"
#include "core/dirty.h"
#include "core/node.h"
#include "core/placement.h"
#include "core/proto.h"
#include "sim/agenda.h"
#include "sim/history.h"
#include "sim/netfault.h"
#include "sim/scenario.h"
#include "sim/sim.h"
#include "sim/simdrive.h"

#define SIM_TIMERS_MAX 16u
/* Target request slots per node: enough for the client queue depths the
 * scenarios use, small enough for 100,000 targets. */
#define SIM_TARGET_INFLIGHT 16u
/* After the workload: one I/O timeout plus this for stragglers. */
#define SIM_DRAIN_MARGIN_NS 50000000ull
/* After the verify phase begins: restarts settle before reads start. */
#define SIM_VERIFY_SETTLE_NS 10000000ull
/* A verify read that fails is tried again this many times. */
#define SIM_VERIFY_TRIES 8u

struct sim_timer {
	bool armed;
	uint32_t id;
	uint64_t gen;
};

struct sim_client;

/* A record of the node's metadata store: survives crashes. */
struct sim_meta {
	uint64_t key;
	uint32_t len;
	uint8_t *bytes;
};

struct simnode {
	uint32_t id;
	struct mesh_sim *sim;
	struct mesh_node node;
	sg_mailbox_t mbox;
	bool up;
	bool is_target, is_client;
	uint64_t incarnation;           /* bumped by each crash */
	double clock_rate;              /* local time = simulated time * rate */
	struct mesh_agenda agenda;
	struct sim_timer timers[SIM_TIMERS_MAX];
	uint64_t timer_gen;
	uint64_t rng;
	uint32_t drive_count;
	struct mesh_simdrive *drives;
	uint32_t *peers;                /* heartbeat peers */
	uint32_t peer_count;
	uint32_t *groups;               /* indices in sim->groups this node votes in */
	uint32_t group_count;
	struct sim_meta *meta;          /* the metadata store (core/env.h) */
	uint32_t meta_count;
	struct sim_client *client;      /* workload state; NULL unless a client */
	uint64_t heartbeats_sent, suspicions; /* kept across crashes */
	uint64_t epochs_committed, io_fenced, leases_granted, replacements;
	uint64_t reads_ahead, reads_to_tail;
	uint64_t resync_copies, resync_full_copies, resync_aborted, resync_bytes, resync_bytes_kept;
	struct mesh_dirty *dirty;       /* region marks of the target role */
};

/* One volume of the run. */
struct sim_volume {
	struct mesh_layout layout;
	uint32_t statement;             /* index in scenario volumes[] */
	uint32_t reader;                /* client index that verifies it */
};

struct mesh_sim {
	const struct mesh_scenario *scn;
	struct mesh_sim_options opt;
	struct mesh_sim_result *res;
	uint32_t node_count;
	struct simnode *nodes;
	uint32_t volume_count;
	struct sim_volume *volumes;
	uint32_t targets_down;          /* targets crashed and not restarted */
	uint64_t failover_from_ns;      /* a target crash whose failover is not measured yet */
	uint32_t group_count;
	struct mesh_group_config *groups; /* initial configurations; group id = index + 1 */
	/* The cluster map placement works on: every drive, its domain and
	 * the space taken, kept after set-up for spares. */
	struct mesh_pool pool;
	bool mgmt_down;                 /* the management service is not answering */
	uint64_t lease_ns;
	struct sim_client **clients;    /* by client index */
	struct mesh_netfault net;
	struct mesh_history *history;
	uint64_t rng;                   /* the run's own stream (faults, set-up) */
	uint64_t next_value;            /* unique write values */
	uint64_t verify_at_ns;          /* simulated time the verify phase starts */
	uint64_t end_limit_ns;          /* hard end of the run */
	uint32_t verify_clients_left;
	bool verify_lists_built;
	uint32_t io_bytes_max;
	uint64_t trace_hash;
};

/* host.c */
uint64_t sim_now_ns(void);
void sim_trace(struct mesh_sim *sim, uint32_t node, const char *what, uint64_t a, uint64_t b);
int sim_roles_start(struct simnode *n);
/* Start one actor per node, plus the controller on node 0's host. */
void sim_actors_start(struct mesh_sim *sim);
void sim_roles_stop(struct simnode *n);
/* Fold the live roles' counters into the node's (kept across crashes). */
void sim_roles_count(struct simnode *n);

/* workload.c */
int sim_client_create(struct mesh_sim *sim, struct simnode *n, uint32_t index);
void sim_client_destroy(struct sim_client *c);
/* Attach one more volume; -ENOSPC past MESH_CLIENT_VOLUMES_MAX. */
int sim_client_attach(struct sim_client *c, uint32_t volume);
/* The node (re)started: attach volumes to the new core client, start work. */
int sim_client_start(struct simnode *n);
/* The node crashed: in-flight I/O stays pending in the history. */
void sim_client_crash(struct simnode *n);
void sim_client_on_tick(struct simnode *n, uint32_t workload);
void sim_client_on_verify(struct simnode *n);
/* Reap completions and keep the workload going. */
void sim_client_poll(struct simnode *n);
void sim_client_totals(const struct sim_client *c, struct mesh_sim_result *res);

#endif

/*
 * sim/sim.h: run a scenario inside SimGrid.
 *
 * Every simulated node is one SimGrid actor on its own host, running the
 * real core (struct mesh_node with its target, client and heartbeat roles)
 * through an environment built on SimGrid: messages are SimGrid comms of
 * their real size, timers are simulated time (scaled by the node's clock
 * drift), drives are modelled (sim/simdrive.h). Faults come from the
 * scenario and go through mesh's own delivery shim (sim/netfault.h) and
 * node control. All randomness is drawn from the seed, so one seed and one
 * scenario give one event trace, summarised by its hash.
 *
 * A run has three phases: the workload (the scenario's duration), a drain
 * (I/O in flight completes or times out, one I/O timeout plus a margin),
 * and a verify phase: network faults end, crashed nodes restart, failed
 * drives heal, and every block written is read back for the durability
 * check.
 */
#ifndef MESH_SIM_SIM_H
#define MESH_SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/env.h"
#include "sim/history.h"
#include "sim/scenario.h"

/* Latency histogram: power-of-two buckets of nanoseconds. */
#define MESH_SIM_LATENCY_BUCKETS 48u

struct mesh_sim_options {
	uint64_t seed;
	enum mesh_log_level log_level;  /* core log lines above this are dropped */
	bool progress;                  /* draw a progress bar on stderr */
	FILE *trace;                    /* one line per event, or NULL */
	const char *platform_path;      /* where to write the platform XML */
	/* UNSAFE switches that disable one safety mechanism, to show the
	 * checkers find what it prevents. */
	bool no_leases;                 /* clients hold a lease for ever */
	bool no_fencing;                /* targets ignore epochs */
	bool no_resync;                 /* rebuilt replicas are marked active uncopied */
	bool no_settle_check;           /* replicas ahead of the tail read unsettled writes */
};

struct mesh_sim_latency {
	uint64_t count;
	uint64_t buckets[MESH_SIM_LATENCY_BUCKETS];
};

struct mesh_sim_result {
	uint64_t seed;
	uint32_t nodes, targets, clients, volumes;
	double sim_seconds;             /* simulated time at the end, all phases */
	double wall_seconds;            /* SimGrid run only, not set-up */
	double setup_seconds;           /* platform, placement, actors */
	uint64_t peak_rss_bytes;
	uint64_t events;                /* node events handled (messages, timers, drives, faults) */
	uint64_t messages_sent, messages_delivered, message_bytes;
	uint64_t dropped_cut, dropped_loss, dropped_down, duplicated, delayed;
	uint64_t heartbeats_sent;
	double heartbeats_per_target_s; /* heartbeats sent per target per simulated second */
	uint32_t heartbeat_peers_max;   /* most peers of any target */
	double heartbeat_peers_mean;
	uint64_t suspicions;
	uint64_t epochs_committed;      /* configuration changes (toma commits) */
	uint64_t io_fenced;             /* I/O refused for its epoch */
	uint64_t leases_granted;
	uint64_t reads_ahead;           /* reads a replica ahead of the tail answered */
	uint64_t reads_to_tail;         /* reads such a replica sent on to the tail */
	uint64_t resync_copies;         /* rebuilds finished (copies acknowledged) */
	uint64_t resync_full_copies;    /* of copies started, whole segments */
	uint64_t resync_aborted;        /* copies abandoned (epoch moved, refused) */
	uint64_t resync_bytes;          /* bytes copied to rebuilding replicas */
	uint64_t resync_bytes_kept;     /* copied bytes a client had written since */
	uint64_t outage_bytes_written;  /* acknowledged client writes while a node was down */
	uint32_t members_not_active;    /* replicas stale or rebuilding at the end */
	uint64_t replacements;          /* replicas moved to a spare (failed drives) */
	/* Failover: from a target crash to the completion of the first write
	 * submitted after it (max and sum over crashes, and their count). */
	uint64_t failover_max_ns, failover_sum_ns, failovers;
	uint64_t reads_ok, writes_ok, reads_failed, writes_failed, ios_pending;
	uint64_t bytes_read, bytes_written;
	uint64_t verify_reads, verify_unread;
	struct mesh_sim_latency read_latency, write_latency;
	uint64_t trace_hash;
	bool checked_linearizable, checked_durability;
	bool checked_redundancy;        /* the scenario asked: members_not_active must be 0 */
	struct mesh_check_report linearizable, durability;
	uint64_t history_ops, history_blocks;
};

/**
 * Run scenario @s (checked) with @o. Fills @out. Returns 0 when the run
 * completed (its checks may still have found violations: see @out), or a
 * negative errno when it could not be set up (the reason is printed):
 * -EINVAL when the scenario asks for something the simulator does not do
 * (a block size that is not whole 4 KiB blocks, a volume that cannot be
 * placed, more volumes on a client than it can attach), others otherwise.
 * SimGrid can run only once per process.
 */
int mesh_sim_run(const struct mesh_scenario *s, const struct mesh_sim_options *o,
		 struct mesh_sim_result *out);

/**
 * Start SimGrid with the settings every mesh simulation uses (32 KiB
 * stacks without guard pages, CM02 without cross-traffic). mesh_sim_run()
 * calls it; the bare baseline (mesh-sim-ping) calls it too, so both are
 * measured under one configuration.
 */
void mesh_sim_simgrid_init(void);

/** Latency percentile @p (0..1) of @l in nanoseconds (bucket upper bound). */
uint64_t mesh_sim_latency_percentile(const struct mesh_sim_latency *l, double p);

#endif

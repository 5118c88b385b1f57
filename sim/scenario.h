/*
 * sim/scenario.h: the scenario format (scenarios/NAME.scn, documented in
 * scenarios/README.md), parsed into one plain struct.
 *
 * A scenario is plain text, one statement per line, '#' starts a comment.
 * It names the topology, the volumes, the workload, timed faults and the
 * checks to run; the simulator replays it from a seed, and later the real
 * cluster harness replays the same file. Parsing is strict: an unknown
 * statement or key, a malformed number, a value out of its stated range,
 * or a reference to a node, rack or volume that does not exist is an error
 * naming the file, the line and what was expected.
 *
 * Units: sizes take B, KiB, MiB, GiB, TiB (or none: bytes); durations take
 * ns, us, ms, s; bandwidths take bps, Kbps, Mbps, Gbps (bits per second) or
 * Bps, KBps, MBps, GBps (bytes per second); probabilities take a plain
 * number in [0, 1] or a percentage ("1%").
 *
 * Node sets (in faults and workloads) are terms joined by '+':
 *   all, targets, clients, node:N, nodes:A-B, rack:N, racks:A-B
 * Node ids run from 0; in a disaggregated topology targets come first
 * (0 .. targets-1) and clients after them. Racks hold contiguous blocks of
 * nodes: node n is in rack n * racks / nodes.
 */
#ifndef MESH_SIM_SCENARIO_H
#define MESH_SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/layout.h"

#define MESH_SCN_NAME_MAX 64u
#define MESH_SCN_TEXT_MAX 256u
#define MESH_SCN_NODES_MAX 1000000u
#define MESH_SCN_DRIVES_PER_NODE_MAX 64u
#define MESH_SCN_VOLUMES_MAX 64u        /* volume statements */
#define MESH_SCN_VOLUME_COUNT_MAX 1000000u /* volumes one statement makes */
#define MESH_SCN_WORKLOADS_MAX 16u
#define MESH_SCN_FAULTS_MAX 4096u
#define MESH_SCN_SET_TERMS_MAX 8u
#define MESH_SCN_STUDY_SIZES_MAX 16u
#define MESH_SCN_DURATION_NS_MAX (24ull * 3600ull * 1000000000ull)

/* One term of a node set. */
enum mesh_scn_term_kind {
	MESH_SCN_TERM_ALL = 1,
	MESH_SCN_TERM_TARGETS,
	MESH_SCN_TERM_CLIENTS,
	MESH_SCN_TERM_NODES,    /* node ids lo..hi inclusive */
	MESH_SCN_TERM_RACKS,    /* rack ids lo..hi inclusive */
};

struct mesh_scn_term {
	enum mesh_scn_term_kind kind;
	uint32_t lo, hi;
};

struct mesh_scn_set {
	uint32_t count;         /* 0: the empty set (only where stated) */
	struct mesh_scn_term terms[MESH_SCN_SET_TERMS_MAX];
};

/* topology targets=T clients=C converged=no racks=R drives=D drive_bytes=S */
struct mesh_scn_topology {
	uint32_t targets;       /* nodes with a target role, >= 1 */
	uint32_t clients;       /* nodes with a client role, >= 0 */
	bool converged;         /* clients are the first `clients` targets
				 * spread evenly (node k * targets / clients)
				 * instead of extra nodes */
	uint32_t racks;         /* failure domains, 1..nodes */
	uint32_t drives;        /* per target, 1..MESH_SCN_DRIVES_PER_NODE_MAX */
	uint64_t drive_bytes;   /* per drive, whole 4 KiB blocks */
};

/* network latency=5us bandwidth=25Gbps backbone_latency=2us backbone_bandwidth=400Gbps */
struct mesh_scn_network {
	uint64_t latency_ns;             /* host to its rack switch; default 2us */
	uint64_t bandwidth_bps;          /* bytes per second; default 25Gbps */
	uint64_t backbone_latency_ns;    /* rack switch to spine; default 2us */
	uint64_t backbone_bandwidth_bps; /* bytes per second; default 400Gbps */
};

/* drive read_latency=80us write_latency=20us bandwidth=2GBps queue_depth=64 */
struct mesh_scn_drive_model {
	uint64_t read_latency_ns;        /* default 80us */
	uint64_t write_latency_ns;       /* default 20us */
	uint64_t bandwidth_bps;          /* bytes per second; default 2GBps */
	uint32_t queue_depth;            /* commands in service at once; default 64 */
};

/* client queue_depth=32 io_timeout=500ms */
/* Lease bounds: those of the topology manager (core/toma.h). */
#define MESH_SCN_LEASE_NS_MIN 1000000ull
#define MESH_SCN_LEASE_NS_MAX 60000000000ull

struct mesh_scn_client {
	uint32_t queue_depth;            /* default 32 */
	uint64_t io_timeout_ns;          /* default 500ms */
	uint64_t lease_ns;               /* lease on a group's configuration;
					  * default 0: io_timeout / 4, at least 1ms */
};

/* heartbeat interval=100ms timeout=500ms (interval=0 switches it off) */
struct mesh_scn_heartbeat {
	uint64_t interval_ns;            /* default 0: off */
	uint64_t timeout_ns;             /* default 5 intervals */
};

enum mesh_scn_placement_policy {
	MESH_SCN_PLACE_GREEDY = 1,       /* core/placement.h, whole pool */
	MESH_SCN_PLACE_COPYSET,          /* core/copyset.h, bounded scatter */
	MESH_SCN_PLACE_RANDOM,           /* random nodes in distinct racks */
};

/* placement policy=copyset scatter=4 */
struct mesh_scn_placement {
	enum mesh_scn_placement_policy policy; /* default copyset */
	uint32_t scatter_width;          /* default 4 */
};

enum mesh_scn_attach {
	MESH_SCN_ATTACH_ALL = 1,         /* every client knows every volume */
	MESH_SCN_ATTACH_SPREAD,          /* volume k to client k % clients */
};

/* volume name=v kind=stripe-mirror copies=2 width=4 stripe_unit=64KiB size=1GiB count=1 attach=all */
struct mesh_scn_volume {
	char name[MESH_SCN_NAME_MAX];
	enum mesh_layout_kind kind;
	uint32_t copies;                 /* default: 1 for concat/stripe, 2 for mirrors */
	uint32_t width;                  /* default 1 */
	uint32_t stripe_unit;            /* default 64KiB; striped kinds only */
	uint64_t bytes;                  /* required */
	uint32_t count;                  /* volumes made from this line; default 1 */
	enum mesh_scn_attach attach;     /* default all */
	uint32_t line;
};

enum mesh_scn_rw {
	MESH_SCN_RW_RANDREAD = 1,
	MESH_SCN_RW_RANDWRITE,
	MESH_SCN_RW_RANDRW,              /* read_percent decides each I/O */
};

/* workload clients=all volumes=v bs=4KiB rw=randrw read=70 qd=4 rate=0 span=16MiB start=0s stop=4s */
struct mesh_scn_workload {
	struct mesh_scn_set clients;     /* default all clients */
	char volume[MESH_SCN_NAME_MAX];  /* a volume statement's name; "" = every attached volume */
	uint32_t block_bytes;            /* whole sectors, <= 1 MiB; default 4KiB */
	enum mesh_scn_rw rw;             /* default randrw */
	uint32_t read_percent;           /* 0..100; default 50 */
	uint32_t queue_depth;            /* per client, <= client queue_depth; default 1 */
	uint64_t rate_iops;              /* per client; 0 = closed loop */
	uint64_t span_bytes;             /* offsets within the first span bytes; 0 = whole volume */
	uint64_t start_ns;
	uint64_t stop_ns;                /* default: the scenario's duration */
	uint32_t line;
};

enum mesh_scn_fault_kind {
	MESH_SCN_CRASH = 1,      /* at T crash SET: volatile state lost, drives kept */
	MESH_SCN_RESTART,        /* at T restart SET */
	MESH_SCN_DRIVE_FAIL,     /* at T drive-fail SET [drive=N]: I/O returns -EIO */
	MESH_SCN_DRIVE_SLOW,     /* at T drive-slow SET [drive=N] factor=F */
	MESH_SCN_DRIVE_HEAL,     /* at T drive-heal SET [drive=N] */
	MESH_SCN_LOSS,           /* at T loss p=P [from=SET to=SET] */
	MESH_SCN_DUPLICATE,      /* at T duplicate p=P [from=SET to=SET] */
	MESH_SCN_REORDER,        /* at T reorder p=P delay=D [from= to=]: P of messages held up to D */
	MESH_SCN_DELAY,          /* at T delay extra=D [jitter=J] [from= to=] */
	MESH_SCN_PARTITION,      /* at T partition A | B  (both ways) or A -> B (one way) */
	MESH_SCN_FLAP,           /* at T flap A | B period=P until=U: cut and restore every P */
	MESH_SCN_HEAL,           /* at T heal: every partition, flap and message fault ends */
	MESH_SCN_MGMT_DOWN,      /* at T mgmt-down: the management service (the cluster
				  * map placement consults for spares) stops answering */
	MESH_SCN_MGMT_UP,        /* at T mgmt-up */
};
#define MESH_SCN_FAULT_LAST MESH_SCN_MGMT_UP

#define MESH_SCN_DRIVE_ALL UINT32_MAX

struct mesh_scn_fault {
	uint64_t at_ns;
	enum mesh_scn_fault_kind kind;
	struct mesh_scn_set a;           /* crash/restart/drive: the nodes; net: from */
	struct mesh_scn_set b;           /* net: to (default all); partition/flap: the other side */
	bool one_way;                    /* partition A -> B */
	uint32_t drive;                  /* MESH_SCN_DRIVE_ALL unless drive=N */
	double probability;              /* loss, duplicate, reorder */
	double factor;                   /* drive-slow, >= 1 */
	uint64_t delay_ns;               /* reorder window, delay extra */
	uint64_t jitter_ns;              /* delay */
	uint64_t period_ns;              /* flap */
	uint64_t until_ns;               /* flap */
	uint32_t line;
};

/* clock drift_ppm=100: every node's clock runs at a rate drawn once in
 * [1 - d, 1 + d] (d = ppm / 1e6), the bound the protocol may assume. */
struct mesh_scn_clock {
	uint32_t drift_ppm;              /* 0..100000; default 0 */
};

enum mesh_scn_check {
	MESH_SCN_CHECK_LINEARIZABLE = 1u << 0,  /* check linearizable */
	MESH_SCN_CHECK_DURABILITY = 1u << 1,    /* check durability */
	/* check redundancy: at the end every replica is active again (the
	 * rebuilds and replacements finished); only where the scenario asks */
	MESH_SCN_CHECK_REDUNDANCY = 1u << 2,
};

/* study copysets copies=3 nodes=100,1000,10000 failed=1% trials=1000
 *                chunks_per_node=10000 scatter=10 racks=0 */
struct mesh_scn_study {
	bool present;
	uint32_t copies;
	uint32_t size_count;
	uint32_t sizes[MESH_SCN_STUDY_SIZES_MAX];  /* cluster sizes, ascending */
	double failed_fraction;
	uint32_t trials;
	uint32_t chunks_per_node;
	uint32_t scatter_width;
	uint32_t racks;                  /* 0: no rack constraint */
	uint32_t line;
};

struct mesh_scenario {
	char path[MESH_SCN_TEXT_MAX];
	char name[MESH_SCN_NAME_MAX];           /* default: the file's base name */
	char description[MESH_SCN_TEXT_MAX];
	uint64_t duration_ns;                   /* required unless only a study */
	uint64_t seed;                          /* default 1; --seed overrides */
	bool has_topology;
	struct mesh_scn_topology topology;
	struct mesh_scn_network network;
	struct mesh_scn_drive_model drive;
	struct mesh_scn_client client;
	struct mesh_scn_heartbeat heartbeat;
	struct mesh_scn_placement placement;
	struct mesh_scn_clock clock;
	uint32_t volume_count;
	struct mesh_scn_volume volumes[MESH_SCN_VOLUMES_MAX];
	uint32_t workload_count;
	struct mesh_scn_workload workloads[MESH_SCN_WORKLOADS_MAX];
	uint32_t fault_count;
	struct mesh_scn_fault faults[MESH_SCN_FAULTS_MAX];  /* sorted by at_ns, stable */
	uint32_t checks;                        /* enum mesh_scn_check bits */
	struct mesh_scn_study study;
};

/**
 * Parse the scenario in file @path into @out (a large struct: allocate it).
 * Returns 0, or a negative errno with @err (of @err_len bytes) holding one
 * line "PATH:LINE: what was wrong; expected ...": -ENOENT/-EIO when the
 * file cannot be read, -EINVAL for any malformed or inconsistent content.
 */
int mesh_scenario_load(const char *path, struct mesh_scenario *out, char *err, size_t err_len);

/** As mesh_scenario_load, from @text; @path only names it in errors. */
int mesh_scenario_parse(const char *path, const char *text, struct mesh_scenario *out,
			char *err, size_t err_len);

/**
 * Check the whole scenario again after a caller changed it (the simulator's
 * flags override sizes): node sets within the topology, workloads naming
 * existing volumes, times within the duration, volume copies within racks
 * when the placement needs them. Returns 0 or -EINVAL with @err as above
 * (the line of the statement that no longer fits).
 */
int mesh_scenario_validate(const struct mesh_scenario *s, char *err, size_t err_len);

/**
 * Change the duration to @duration_ns (the simulator's --duration) and
 * move the end of every workload that ran to the old end along with it.
 * Call mesh_scenario_validate afterwards: faults may now lie past the end.
 */
void mesh_scenario_set_duration(struct mesh_scenario *s, uint64_t duration_ns);

/** Nodes in the topology: targets + clients, or targets when converged. */
uint32_t mesh_scenario_nodes(const struct mesh_scenario *s);

/** Rack (failure domain) of node @node. */
uint32_t mesh_scenario_rack(const struct mesh_scenario *s, uint32_t node);

bool mesh_scenario_is_target(const struct mesh_scenario *s, uint32_t node);
bool mesh_scenario_is_client(const struct mesh_scenario *s, uint32_t node);

/** The @k-th client's node id (k < topology.clients). */
uint32_t mesh_scenario_client_node(const struct mesh_scenario *s, uint32_t k);

/** Whether @node belongs to @set. */
bool mesh_scenario_set_contains(const struct mesh_scenario *s, const struct mesh_scn_set *set,
				uint32_t node);

/** Static names, for reports. */
const char *mesh_scenario_fault_name(enum mesh_scn_fault_kind kind);

#endif

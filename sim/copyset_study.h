/*
 * sim/copyset_study.h: how often a correlated failure loses data, under
 * Copyset Replication and under random replication (the `study copysets`
 * statement of a scenario, struct mesh_scn_study).
 *
 * For each cluster size N: a synthetic pool of N one-drive targets (in
 * `racks` contiguous racks, or each its own failure domain), N *
 * chunks_per_node / R chunks placed with each policy through the core's own
 * choice function (mesh_copyset_pick), then a random failed_fraction of the
 * nodes failed at once, `trials` times. A chunk is lost iff all its
 * replicas fail, so only the distinct replica sets matter: they are kept
 * once each, indexed by their lowest node, and a trial looks only at the
 * sets whose lowest node failed. Beside the Monte-Carlo estimate stands the
 * closed form of the paper's model, 1 - (1 - C(F,R) / C(N,R))^D for D
 * distinct replica sets and F failed nodes, and the paper's own figure
 * where it gives one for that row (MESH_COPYSET_PAPER_REFS).
 */
#ifndef MESH_SIM_COPYSET_STUDY_H
#define MESH_SIM_COPYSET_STUDY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/copyset.h"
#include "sim/scenario.h"

/* Chunks one policy may place at one size: 8 bytes each while counting. */
#define MESH_COPYSET_STUDY_CHUNKS_MAX (64ull << 20)
#define MESH_COPYSET_STUDY_TRIALS_MAX 10000000u
#define MESH_COPYSET_STUDY_POLICIES 2u   /* [0] copyset, [1] random */
/* Mean scatter width is exact up to this many nodes, sampled above. */
#define MESH_COPYSET_STUDY_SCATTER_EXACT_NODES 16384u

/* A figure from Cidon et al., USENIX ATC 2013, for one setup. */
struct mesh_copyset_paper_ref {
	const char *setup;              /* the paper's system and scheme */
	enum mesh_copyset_policy policy;/* 0: a scheme no mesh policy matches */
	uint32_t nodes;
	uint32_t scatter_width;         /* 0: N - 1 (fully random) */
	uint32_t chunks_per_node;
	double p_loss;                  /* R = 3, 1% of nodes failed */
	const char *source;
};

extern const struct mesh_copyset_paper_ref mesh_copyset_paper_refs[];
extern const unsigned mesh_copyset_paper_ref_count;

struct mesh_copyset_study_result {
	enum mesh_copyset_policy policy;
	uint64_t distinct_sets;         /* distinct replica sets the chunks use */
	double mean_scatter;            /* distinct peers per node, mean */
	uint32_t trials;
	uint32_t losses;                /* trials in which some chunk was lost */
	double p_loss_mc;               /* losses / trials */
	double p_loss_mc_stderr;        /* sqrt(p (1 - p) / trials) */
	double p_loss_closed;           /* the closed form above */
	double p_loss_paper;            /* NAN unless a paper figure matches */
	const char *paper_setup;        /* NULL unless a paper figure matches */
};

struct mesh_copyset_study_row {
	uint32_t nodes;
	uint32_t failed_nodes;          /* round(failed_fraction * nodes) */
	uint64_t chunks;                /* nodes * chunks_per_node / copies */
	struct mesh_copyset_study_result policy[MESH_COPYSET_STUDY_POLICIES];
};

/**
 * The default study: R = 3, 1% failed, sizes 100 .. 10,000 (with 5,000,
 * where the paper gives figures), 8,000 chunks per node (RAMCloud's),
 * scatter width 10 (Facebook's), no racks, and as many trials as keep it
 * within about a minute on two cores.
 */
void mesh_copyset_study_defaults(struct mesh_scn_study *study);

/**
 * Run @study from @seed: one row per size into @rows (room for @rows_max).
 * When @json or @markdown is not NULL, write the rows there too
 * (mesh_copyset_study_write_json / _markdown). Returns the number of rows,
 * or a negative errno with @err (of @err_len bytes) saying why:
 *   -EINVAL  the study is not present or a value is out of range (copies
 *            2..3, sizes copies..MESH_COPYSET_TARGETS_MAX, failed fraction
 *            in [0, 1], 1..MESH_COPYSET_STUDY_TRIALS_MAX trials, scatter
 *            width 1..MESH_COPYSET_SCATTER_MAX, chunks within
 *            MESH_COPYSET_STUDY_CHUNKS_MAX), @rows_max too small, or the
 *            racks cannot keep copies apart (mesh_copyset_build)
 *   -ENOMEM  out of memory
 *   -EIO     a write to @json or @markdown failed
 * Deterministic: the same study and seed give the same rows.
 */
int mesh_copyset_study_run(const struct mesh_scn_study *study, uint64_t seed,
			   struct mesh_copyset_study_row *rows, uint32_t rows_max, FILE *json,
			   FILE *markdown, char *err, size_t err_len);

/** Write @n rows of @study as one JSON object to @f; 0 or -EIO. */
int mesh_copyset_study_write_json(FILE *f, const struct mesh_scn_study *study, uint64_t seed,
				  const struct mesh_copyset_study_row *rows, uint32_t n);

/** Write @n rows of @study as a Markdown table, with its sources, to @f; 0 or -EIO. */
int mesh_copyset_study_write_markdown(FILE *f, const struct mesh_scn_study *study, uint64_t seed,
				      const struct mesh_copyset_study_row *rows, uint32_t n);

#endif

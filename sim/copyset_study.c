/*
 * sim/copyset_study.c: P(data loss) after a correlated failure, Copyset
 * Replication against random replication, by Monte Carlo and closed form.
 *
 * Cost per size: two passes of mesh_copyset_pick over the chunks (count,
 * then fill, from the same rng state, so no chunk list is ever held), a
 * sort of each lowest node's bucket to drop repeated sets, then per trial
 * only the buckets of the failed nodes: O(F * D / N). Memory: 8 bytes per
 * chunk while counting, 8 per distinct set after.
 */
#include "sim/copyset_study.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

/*
 * Figures from Cidon, Rumble, Stutsman, Katti, Ousterhout, Rosenblum,
 * "Copysets: Reducing the Frequency of Data Loss in Cloud Storage", USENIX
 * ATC 2013, pp. 37-48. All for R = 3 with 1% of nodes failed at once
 * (Fig. 1's "power outage" scenario).
 *
 * The abstract (https://www.usenix.org/system/files/conference/atc13/
 * atc13-cidon.pdf; text also at https://studylib.net/doc/18839616): "in a
 * 5000-node RAMCloud cluster under a power outage, Copyset Replication
 * reduces the probability of data loss from 99.99% to 0.15%. For
 * Facebook's HDFS cluster, it reduces the probability from 22.8% to 0.78%."
 *
 * Table 1's parameters, as the reproduction https://github.com/jaynavar/
 * Copysets (Hdfs.py, Ramcloud.py, Facebook.py) encodes them: HDFS 10,000
 * chunks per node, S = 200; RAMCloud 8,000 chunks per node, random over all
 * nodes (S = N - 1), its Copyset Replication with S = R - 1 = 2 (one
 * permutation); Facebook 10,000 chunks per node, random within buddy groups
 * of S = 10. §3.2 (as quoted by secondary notes; we could not read §3.2
 * itself) counts, for N = 5000, R = 3, S = 10, about 8,300 copysets for the
 * minimal scheme against about 275,000 for Facebook's random scheme.
 *
 * The abstract does not state the size of Facebook's cluster. We record
 * its two figures at N = 5000 because the paper's model, with 275,000
 * and 8,335 replica sets there, gives exactly 22.8% and 0.78% (and the
 * RAMCloud figures, 99.99% and 0.157%, at that size too). Fig. 1 and the
 * simulation figure are plots: we could not read exact values at other
 * sizes off them, so we record none.
 */
#define PAPER "Cidon et al., USENIX ATC 2013, abstract"
#define PAPER_FB PAPER " (N = 5000 inferred: the paper's model gives this there)"

const struct mesh_copyset_paper_ref mesh_copyset_paper_refs[] = {
	{ "RAMCloud, random replication", MESH_COPYSET_POLICY_RANDOM, 5000, 0, 8000, 0.9999, PAPER },
	{ "RAMCloud, Copyset Replication (S = 2)", MESH_COPYSET_POLICY_COPYSET, 5000, 2, 8000,
	  0.0015, PAPER },
	{ "Facebook HDFS, random replication in buddy groups (S = 10)", 0, 5000, 10, 10000, 0.228,
	  PAPER_FB },
	{ "Facebook HDFS, Copyset Replication (S = 10)", MESH_COPYSET_POLICY_COPYSET, 5000, 10,
	  10000, 0.0078, PAPER_FB },
};
const unsigned mesh_copyset_paper_ref_count =
	sizeof(mesh_copyset_paper_refs) / sizeof(mesh_copyset_paper_refs[0]);

static const enum mesh_copyset_policy policies[MESH_COPYSET_STUDY_POLICIES] = {
	MESH_COPYSET_POLICY_COPYSET,
	MESH_COPYSET_POLICY_RANDOM,
};

static int errf(char *err, size_t err_len, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && err_len) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static uint32_t uniform(uint64_t *rng, uint32_t n)
{
	return (uint32_t)(((mesh_rng_next(rng) >> 32) * (uint64_t)n) >> 32);
}

void mesh_copyset_study_defaults(struct mesh_scn_study *study)
{
	static const uint32_t sizes[] = { 100, 500, 1000, 2000, 5000, 10000 };

	memset(study, 0, sizeof(*study));
	study->present = true;
	study->copies = 3;
	study->size_count = sizeof(sizes) / sizeof(sizes[0]);
	memcpy(study->sizes, sizes, sizeof(sizes));
	study->failed_fraction = 0.01;
	study->trials = 10000;
	study->chunks_per_node = 8000;
	study->scatter_width = 10;
	study->racks = 0;
}

static int check_study(const struct mesh_scn_study *st, uint32_t rows_max, char *err,
		       size_t err_len)
{
	if (!st->present)
		return errf(err, err_len, -EINVAL, "no study to run");
	if (st->copies < 2 || st->copies > MESH_LAYOUT_COPIES_MAX)
		return errf(err, err_len, -EINVAL, "study copies=%u; expected 2 or 3", st->copies);
	if (st->size_count == 0 || st->size_count > MESH_SCN_STUDY_SIZES_MAX)
		return errf(err, err_len, -EINVAL, "study has %u sizes; expected 1..%u",
			    st->size_count, MESH_SCN_STUDY_SIZES_MAX);
	if (st->size_count > rows_max)
		return errf(err, err_len, -EINVAL, "room for %u rows, the study has %u sizes",
			    rows_max, st->size_count);
	if (!(st->failed_fraction >= 0.0 && st->failed_fraction <= 1.0))
		return errf(err, err_len, -EINVAL, "failed fraction %g; expected 0..1",
			    st->failed_fraction);
	if (st->trials == 0 || st->trials > MESH_COPYSET_STUDY_TRIALS_MAX)
		return errf(err, err_len, -EINVAL, "trials=%u; expected 1..%u", st->trials,
			    MESH_COPYSET_STUDY_TRIALS_MAX);
	if (st->scatter_width == 0 || st->scatter_width > MESH_COPYSET_SCATTER_MAX)
		return errf(err, err_len, -EINVAL, "scatter=%u; expected 1..%u", st->scatter_width,
			    MESH_COPYSET_SCATTER_MAX);
	for (uint32_t i = 0; i < st->size_count; i++) {
		uint32_t n = st->sizes[i];

		if (n < st->copies || n > MESH_COPYSET_TARGETS_MAX)
			return errf(err, err_len, -EINVAL, "study size %u; expected %u..%u nodes", n,
				    st->copies, MESH_COPYSET_TARGETS_MAX);
		if (st->chunks_per_node == 0 ||
		    (uint64_t)n * st->chunks_per_node / st->copies > MESH_COPYSET_STUDY_CHUNKS_MAX)
			return errf(err, err_len, -EINVAL, "%u nodes x %u chunks per node: expected "
				    "1..%llu chunks in all", n, st->chunks_per_node,
				    (unsigned long long)MESH_COPYSET_STUDY_CHUNKS_MAX);
	}
	return 0;
}

/* ---- distinct replica sets, indexed by their lowest node ---- */

/* Sets whose lowest node is a: key[start[a] .. start[a + 1]), each the two
 * higher nodes as (mid << 32 | high); for R = 2, mid == high. */
struct replica_sets {
	uint32_t nodes;
	uint64_t *start;
	uint64_t *key;
	uint64_t count;
};

static void replica_sets_free(struct replica_sets *s)
{
	free(s->start);
	free(s->key);
	memset(s, 0, sizeof(*s));
}

static void sort_small(uint32_t *t, uint32_t n)
{
	for (uint32_t i = 1; i < n; i++) {
		for (uint32_t j = i; j > 0 && t[j - 1] > t[j]; j--) {
			uint32_t x = t[j];

			t[j] = t[j - 1];
			t[j - 1] = x;
		}
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* One pass over the chunks from @rng: count per lowest node, or fill. */
static int chunk_pass(const struct mesh_copysets *cs, uint64_t rng, uint64_t chunks,
		      struct replica_sets *s, bool fill)
{
	uint32_t t[MESH_LAYOUT_COPIES_MAX];

	for (uint64_t i = 0; i < chunks; i++) {
		int rc = mesh_copyset_pick(cs, &rng, t);

		if (rc)
			return rc;
		sort_small(t, cs->copies);
		if (!fill) {
			s->start[t[0] + 1]++;
			continue;
		}
		uint32_t high = t[cs->copies - 1];

		s->key[s->start[t[0]]++] = (uint64_t)t[1] << 32 | high;
	}
	return 0;
}

/* Sort each bucket and keep one of each set. */
static void dedupe_buckets(struct replica_sets *s)
{
	uint64_t w = 0, begin = 0;

	for (uint32_t a = 0; a < s->nodes; a++) {
		uint64_t end = s->start[a + 1];

		qsort(s->key + begin, end - begin, sizeof(*s->key), cmp_u64);
		s->start[a] = w;
		for (uint64_t k = begin; k < end; k++) {
			if (k == begin || s->key[k] != s->key[k - 1])
				s->key[w++] = s->key[k];
		}
		begin = end;
	}
	s->start[s->nodes] = w;
	s->count = w;
}

/* Place @chunks with @cs from @rng; collect their distinct sets. */
static int gather_sets(const struct mesh_copysets *cs, uint64_t rng, uint64_t chunks,
		       struct replica_sets *s)
{
	uint32_t n = cs->target_count;
	int rc;

	s->nodes = n;
	s->start = calloc((size_t)n + 1, sizeof(*s->start));
	s->key = malloc(sizeof(*s->key) * (chunks ? chunks : 1));
	if (!s->start || !s->key)
		return -ENOMEM;
	rc = chunk_pass(cs, rng, chunks, s, false);
	if (rc)
		return rc;
	for (uint32_t a = 0; a < n; a++)
		s->start[a + 1] += s->start[a];
	rc = chunk_pass(cs, rng, chunks, s, true);
	if (rc)
		return rc;
	/* Filling advanced each start to its bucket's end: shift back. */
	memmove(s->start + 1, s->start, sizeof(*s->start) * n);
	s->start[0] = 0;
	dedupe_buckets(s);
	return 0;
}

/* Mean distinct peers per node over the sets: exact up to
 * MESH_COPYSET_STUDY_SCATTER_EXACT_NODES nodes, else over every stride-th
 * node, one bit matrix of sampled rows x nodes. */
static int mean_scatter(const struct replica_sets *s, uint32_t copies, double *mean)
{
	uint32_t n = s->nodes, exact = MESH_COPYSET_STUDY_SCATTER_EXACT_NODES;
	uint32_t rows_max = (uint32_t)((uint64_t)exact * exact / n);
	uint32_t stride = n <= exact ? 1 : (n + rows_max - 1) / rows_max;
	uint32_t rows = (n + stride - 1) / stride, words = (n + 63) / 64;
	uint64_t *bits = calloc((size_t)rows * words, sizeof(*bits));
	uint64_t peers = 0;

	if (!bits)
		return -ENOMEM;
	for (uint32_t a = 0; a < n; a++) {
		for (uint64_t k = s->start[a]; k < s->start[a + 1]; k++) {
			uint32_t m[3] = { a, (uint32_t)(s->key[k] >> 32), (uint32_t)s->key[k] };

			for (uint32_t i = 0; i < copies; i++) {
				if (m[i] % stride)
					continue;
				uint64_t *row = bits + (size_t)(m[i] / stride) * words;

				for (uint32_t j = 0; j < copies; j++) {
					if (j != i)
						row[m[j] / 64] |= 1ull << (m[j] % 64);
				}
			}
		}
	}
	for (size_t i = 0; i < (size_t)rows * words; i++)
		peers += (uint64_t)__builtin_popcountll(bits[i]);
	free(bits);
	*mean = (double)peers / rows;
	return 0;
}

/* Trials in which some set lies wholly within @failed random nodes. */
static int monte_carlo(const struct replica_sets *s, uint32_t failed, uint32_t trials,
		       uint64_t rng, uint32_t *losses)
{
	uint32_t n = s->nodes;
	uint32_t *idx = malloc(sizeof(*idx) * n), *mark = calloc(n, sizeof(*mark));

	if (!idx || !mark) {
		free(idx);
		free(mark);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		idx[i] = i;
	*losses = 0;
	for (uint32_t trial = 1; trial <= trials; trial++) {
		bool lost = false;

		for (uint32_t i = 0; i < failed; i++) {
			uint32_t j = i + uniform(&rng, n - i), x = idx[j];

			idx[j] = idx[i];
			idx[i] = x;
			mark[x] = trial;
		}
		for (uint32_t i = 0; i < failed && !lost; i++) {
			uint32_t a = idx[i];

			for (uint64_t k = s->start[a]; k < s->start[a + 1] && !lost; k++)
				lost = mark[s->key[k] >> 32] == trial &&
				       mark[(uint32_t)s->key[k]] == trial;
		}
		*losses += lost;
	}
	free(idx);
	free(mark);
	return 0;
}

/* 1 - (1 - C(F,R) / C(N,R))^D, in log space. */
static double closed_form(uint32_t n, uint32_t failed, uint32_t copies, uint64_t sets)
{
	long double p = 1.0L;

	if (failed < copies)
		return 0.0;
	for (uint32_t i = 0; i < copies; i++)
		p *= (long double)(failed - i) / (long double)(n - i);
	if (p >= 1.0L)
		return sets ? 1.0 : 0.0;
	return (double)-expm1l((long double)sets * log1pl(-p));
}

static void match_paper(const struct mesh_scn_study *st, uint32_t n,
			struct mesh_copyset_study_result *r)
{
	r->p_loss_paper = NAN;
	r->paper_setup = NULL;
	if (st->copies != 3 || fabs(st->failed_fraction - 0.01) > 1e-9)
		return;
	for (unsigned i = 0; i < mesh_copyset_paper_ref_count; i++) {
		const struct mesh_copyset_paper_ref *ref = &mesh_copyset_paper_refs[i];
		bool same = ref->policy == r->policy && ref->nodes == n &&
			    (r->policy == MESH_COPYSET_POLICY_COPYSET
				     ? ref->scatter_width == st->scatter_width
				     : ref->scatter_width == 0 &&
					       ref->chunks_per_node == st->chunks_per_node);

		if (same) {
			r->p_loss_paper = ref->p_loss;
			r->paper_setup = ref->setup;
		}
	}
}

/* The study's pool: @n one-drive targets, racks of contiguous nodes. */
static struct mesh_pool_drive *study_pool(const struct mesh_scn_study *st, uint32_t n)
{
	struct mesh_pool_drive *d = calloc(n, sizeof(*d));

	for (uint32_t i = 0; d && i < n; i++)
		d[i] = (struct mesh_pool_drive){
			.target = i,
			.domain = st->racks ? (uint32_t)((uint64_t)i * st->racks / n) : i,
			.capacity = 1ull << 40,
		};
	return d;
}

/* One policy at one size. */
static int run_policy(const struct mesh_scn_study *st, const struct mesh_pool *pool,
		      struct mesh_copyset_study_row *row, uint32_t p, uint64_t seed, char *err,
		      size_t err_len)
{
	struct mesh_copyset_study_result *r = &row->policy[p];
	struct mesh_copyset_params params = {
		.policy = policies[p], .copies = st->copies, .scatter_width = st->scatter_width,
	};
	struct mesh_copysets cs;
	struct replica_sets sets = { 0 };
	uint64_t rng = seed ^ ((uint64_t)row->nodes << 20 | p);
	const char *why = "";
	int rc;

	mesh_rng_next(&rng);
	r->policy = policies[p];
	rc = mesh_copyset_build(&cs, pool, &params, &rng, &why);
	if (rc)
		return errf(err, err_len, rc, "%u nodes, %s policy: %s", row->nodes,
			    mesh_copyset_policy_name(params.policy), why);
	rc = gather_sets(&cs, rng, row->chunks, &sets);
	if (rc == 0)
		rc = mean_scatter(&sets, st->copies, &r->mean_scatter);
	/* The same failures for both policies: seeded by size only. */
	if (rc == 0)
		rc = monte_carlo(&sets, row->failed_nodes, st->trials,
				 seed ^ (uint64_t)row->nodes * 0x9e3779b97f4a7c15ull, &r->losses);
	r->distinct_sets = sets.count;
	replica_sets_free(&sets);
	mesh_copyset_free(&cs);
	if (rc)
		return errf(err, err_len, rc, "%u nodes, %s policy: %s", row->nodes,
			    mesh_copyset_policy_name(params.policy),
			    rc == -ENOMEM ? "out of memory" : "no targets in distinct domains");
	r->trials = st->trials;
	r->p_loss_mc = (double)r->losses / st->trials;
	r->p_loss_mc_stderr = sqrt(r->p_loss_mc * (1.0 - r->p_loss_mc) / st->trials);
	r->p_loss_closed = closed_form(row->nodes, row->failed_nodes, st->copies, r->distinct_sets);
	match_paper(st, row->nodes, r);
	return 0;
}

static int run_size(const struct mesh_scn_study *st, uint32_t n, uint64_t seed,
		    struct mesh_copyset_study_row *row, char *err, size_t err_len)
{
	struct mesh_pool pool = { study_pool(st, n), n };
	int rc = 0;

	if (!pool.drives)
		return errf(err, err_len, -ENOMEM, "%u nodes: out of memory", n);
	memset(row, 0, sizeof(*row));
	row->nodes = n;
	row->failed_nodes = (uint32_t)(st->failed_fraction * n + 0.5);
	row->chunks = (uint64_t)n * st->chunks_per_node / st->copies;
	for (uint32_t p = 0; p < MESH_COPYSET_STUDY_POLICIES && rc == 0; p++)
		rc = run_policy(st, &pool, row, p, seed, err, err_len);
	free(pool.drives);
	return rc;
}

int mesh_copyset_study_run(const struct mesh_scn_study *study, uint64_t seed,
			   struct mesh_copyset_study_row *rows, uint32_t rows_max, FILE *json,
			   FILE *markdown, char *err, size_t err_len)
{
	int rc = check_study(study, rows_max, err, err_len);

	for (uint32_t i = 0; i < study->size_count && rc == 0; i++)
		rc = run_size(study, study->sizes[i], seed, &rows[i], err, err_len);
	if (rc == 0 && json)
		rc = mesh_copyset_study_write_json(json, study, seed, rows, study->size_count);
	if (rc == 0 && markdown)
		rc = mesh_copyset_study_write_markdown(markdown, study, seed, rows,
						       study->size_count);
	if (rc == -EIO)
		errf(err, err_len, rc, "writing the study's results failed");
	return rc ? rc : (int)study->size_count;
}

/* ---- reports ---- */

static void json_number(FILE *f, const char *name, double v, const char *sep)
{
	if (isnan(v))
		fprintf(f, "\"%s\": null%s", name, sep);
	else
		fprintf(f, "\"%s\": %.9g%s", name, v, sep);
}

static void json_result(FILE *f, const struct mesh_copyset_study_result *r, const char *sep)
{
	fprintf(f, "\"%s\": {\"distinct_sets\": %llu, ", mesh_copyset_policy_name(r->policy),
		(unsigned long long)r->distinct_sets);
	json_number(f, "mean_scatter", r->mean_scatter, ", ");
	fprintf(f, "\"trials\": %u, \"losses\": %u, ", r->trials, r->losses);
	json_number(f, "p_loss_mc", r->p_loss_mc, ", ");
	json_number(f, "p_loss_mc_stderr", r->p_loss_mc_stderr, ", ");
	json_number(f, "p_loss_closed_form", r->p_loss_closed, ", ");
	json_number(f, "p_loss_paper", r->p_loss_paper, ", ");
	if (r->paper_setup)
		fprintf(f, "\"paper_setup\": \"%s\"}%s", r->paper_setup, sep);
	else
		fprintf(f, "\"paper_setup\": null}%s", sep);
}

static void json_refs(FILE *f)
{
	fprintf(f, "  \"paper\": [\n");
	for (unsigned i = 0; i < mesh_copyset_paper_ref_count; i++) {
		const struct mesh_copyset_paper_ref *ref = &mesh_copyset_paper_refs[i];

		fprintf(f, "    {\"setup\": \"%s\", \"policy\": \"%s\", \"nodes\": %u, "
			   "\"scatter_width\": %u, \"chunks_per_node\": %u, \"p_loss\": %.9g, "
			   "\"source\": \"%s\"}%s\n",
			ref->setup, ref->policy ? mesh_copyset_policy_name(ref->policy) : "other",
			ref->nodes, ref->scatter_width, ref->chunks_per_node, ref->p_loss, ref->source,
			i + 1 < mesh_copyset_paper_ref_count ? "," : "");
	}
	fprintf(f, "  ],\n");
}

int mesh_copyset_study_write_json(FILE *f, const struct mesh_scn_study *study, uint64_t seed,
				  const struct mesh_copyset_study_row *rows, uint32_t n)
{
	fprintf(f, "{\n  \"study\": \"copysets\",\n  \"seed\": %llu,\n  \"copies\": %u,\n"
		   "  \"failed_fraction\": %.9g,\n  \"trials\": %u,\n  \"chunks_per_node\": %u,\n"
		   "  \"scatter_width\": %u,\n  \"racks\": %u,\n"
		   "  \"model\": \"P(loss) = 1 - (1 - C(F,R)/C(N,R))^D, D distinct replica sets\",\n",
		(unsigned long long)seed, study->copies, study->failed_fraction, study->trials,
		study->chunks_per_node, study->scatter_width, study->racks);
	json_refs(f);
	fprintf(f, "  \"rows\": [\n");
	for (uint32_t i = 0; i < n; i++) {
		const struct mesh_copyset_study_row *r = &rows[i];

		fprintf(f, "    {\"nodes\": %u, \"failed_nodes\": %u, \"chunks\": %llu, ", r->nodes,
			r->failed_nodes, (unsigned long long)r->chunks);
		json_result(f, &r->policy[0], ", ");
		json_result(f, &r->policy[1], "");
		fprintf(f, "}%s\n", i + 1 < n ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	return fflush(f) || ferror(f) ? -EIO : 0;
}

/* A probability as a percentage: 3 significant digits, or near 100% as
 * many decimals as tell it from 100% (99.99998%). */
static void md_percent(FILE *f, double p)
{
	int decimals = p > 0.999 && p < 1.0 ? (int)ceil(-log10(1.0 - p) - 1e-9) - 1 : 0;

	if (isnan(p))
		fprintf(f, " - |");
	else if (decimals > 0)
		fprintf(f, " %.*f%% |", decimals < 12 ? decimals : 12, 100.0 * p);
	else
		fprintf(f, " %.3g%% |", 100.0 * p);
}

static void md_result(FILE *f, const struct mesh_copyset_study_result *r)
{
	fprintf(f, " %llu | %.1f | %.3g%% ± %.2g |", (unsigned long long)r->distinct_sets,
		r->mean_scatter, 100.0 * r->p_loss_mc, 100.0 * r->p_loss_mc_stderr);
	md_percent(f, r->p_loss_closed);
	md_percent(f, r->p_loss_paper);
}

int mesh_copyset_study_write_markdown(FILE *f, const struct mesh_scn_study *study, uint64_t seed,
				      const struct mesh_copyset_study_row *rows, uint32_t n)
{
	fprintf(f, "## Copysets study: P(data loss) when %.3g%% of nodes fail at once\n\n"
		   "R = %u, scatter width %u, %u chunks per node, %s, %u trials per size, "
		   "seed %llu. MC: Monte Carlo ± one standard error; model: 1 - (1 - C(F,R) / "
		   "C(N,R))^D over the D distinct replica sets.\n\n",
		100.0 * study->failed_fraction, study->copies, study->scatter_width,
		study->chunks_per_node, study->racks ? "racks" : "no racks", study->trials,
		(unsigned long long)seed);
	if (study->racks)
		fprintf(f, "%u racks of contiguous nodes.\n\n", study->racks);
	fprintf(f, "| N | failed | chunks | copyset sets | copyset scatter | copyset MC | "
		   "copyset model | copyset paper | random sets | random scatter | random MC | "
		   "random model | random paper |\n"
		   "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (uint32_t i = 0; i < n; i++) {
		fprintf(f, "| %u | %u | %llu |", rows[i].nodes, rows[i].failed_nodes,
			(unsigned long long)rows[i].chunks);
		md_result(f, &rows[i].policy[0]);
		md_result(f, &rows[i].policy[1]);
		fprintf(f, "\n");
	}
	fprintf(f, "\nPaper figures (R = 3, 1%% failed):\n\n");
	for (unsigned i = 0; i < mesh_copyset_paper_ref_count; i++) {
		const struct mesh_copyset_paper_ref *ref = &mesh_copyset_paper_refs[i];

		fprintf(f, "- %s, N = %u, %u chunks per node: %.4g%% (%s)\n", ref->setup, ref->nodes,
			ref->chunks_per_node, 100.0 * ref->p_loss, ref->source);
	}
	return fflush(f) || ferror(f) ? -EIO : 0;
}

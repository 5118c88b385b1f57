/*
 * core/copyset.c: Copyset Replication and random replication over a pool.
 *
 * The build indexes the pool's targets (drives contiguous per target) with
 * two small open-addressing maps, checks that the failure domains can keep
 * every copyset's members apart at all (Gale-Ryser), then lays down P
 * shuffled permutations, repairing domain clashes by swapping a member with
 * a random partner elsewhere in the permutation. Planning a segment probes
 * at most MESH_COPYSET_PROBES_MAX candidates, so its cost does not grow
 * with the pool.
 */
#include "core/copyset.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

#define NONE UINT32_MAX

static int fail(const char **why, int rc, const char *reason)
{
	if (why)
		*why = reason;
	return rc;
}

/* Uniform in [0, n), n > 0: the high bits scaled, no modulo bias to speak of. */
static uint32_t uniform(uint64_t *rng, uint32_t n)
{
	assert(n > 0);
	return (uint32_t)(((mesh_rng_next(rng) >> 32) * (uint64_t)n) >> 32);
}

/* ---- a map from 32-bit ids to dense indices, for targets and domains ---- */

struct idmap {
	uint32_t *keys;
	uint32_t *vals;         /* NONE: empty slot */
	uint32_t mask;
	uint32_t count;
};

static int idmap_init(struct idmap *m, uint32_t expected)
{
	uint32_t slots = 16;

	while (slots < 2 * (uint64_t)expected)
		slots *= 2;
	m->keys = malloc(sizeof(*m->keys) * slots);
	m->vals = malloc(sizeof(*m->vals) * slots);
	m->mask = slots - 1;
	m->count = 0;
	if (!m->keys || !m->vals)
		return -ENOMEM;
	memset(m->vals, 0xff, sizeof(*m->vals) * slots);
	return 0;
}

static void idmap_free(struct idmap *m)
{
	free(m->keys);
	free(m->vals);
}

/* The slot holding @key, or the empty slot where it would go. */
static uint32_t idmap_slot(const struct idmap *m, uint32_t key)
{
	uint32_t i = (key * 0x9e3779b1u) & m->mask;

	while (m->vals[i] != NONE && m->keys[i] != key)
		i = (i + 1) & m->mask;
	return i;
}

/* The index of @key, adding it as the next index if new. */
static uint32_t idmap_get_or_add(struct idmap *m, uint32_t key, bool *added)
{
	uint32_t i = idmap_slot(m, key);

	*added = m->vals[i] == NONE;
	if (*added) {
		assert(m->count < m->mask);
		m->keys[i] = key;
		m->vals[i] = m->count++;
	}
	return m->vals[i];
}

/* ---- indexing the pool ---- */

static uint32_t count_targets(const struct mesh_pool *pool)
{
	uint32_t n = 0;

	for (unsigned d = 0; d < pool->count; d++)
		n += d == 0 || pool->drives[d].target != pool->drives[d - 1].target;
	return n;
}

/* Fill cs->targets from the pool; domain sizes into @domain_size. */
static int index_targets(struct mesh_copysets *cs, const struct mesh_pool *pool,
			 uint32_t *domain_size, const char **why)
{
	struct idmap ids = { 0 }, domains = { 0 };
	int rc = -ENOMEM;

	if (idmap_init(&ids, cs->target_count) || idmap_init(&domains, cs->target_count))
		goto out;
	rc = 0;
	for (unsigned d = 0; d < pool->count && rc == 0; d++) {
		const struct mesh_pool_drive *pd = &pool->drives[d];
		struct mesh_copyset_target *t;
		bool added;

		if (d > 0 && pd->target == pool->drives[d - 1].target) {
			t = &cs->targets[ids.count - 1];
			if (pd->domain != t->domain)
				rc = fail(why, -EINVAL, "a target's drives lie in different failure domains");
			t->drive_count++;
			continue;
		}
		idmap_get_or_add(&ids, pd->target, &added);
		if (!added) {
			rc = fail(why, -EINVAL, "a target's drives must be contiguous in the pool");
			continue;
		}
		t = &cs->targets[ids.count - 1];
		*t = (struct mesh_copyset_target){
			.id = pd->target,
			.domain = pd->domain,
			.domain_index = idmap_get_or_add(&domains, pd->domain, &added),
			.first_drive = d,
			.drive_count = 1,
		};
		domain_size[t->domain_index]++;
	}
	cs->domain_count = domains.count;
out:
	idmap_free(&ids);
	idmap_free(&domains);
	return rc;
}

/*
 * Whether @n targets in domains of the given sizes can be split into
 * groups of sizes R, ..., R, n % R with no two members of a group in one
 * domain. Gale-Ryser for the bipartite graph domains x groups: for every j,
 * the j largest groups need at most sum_i min(size_i, j) members. O(n).
 */
static int domains_can_part(const uint32_t *domain_size, uint32_t domain_count, uint32_t n,
			    uint32_t r, bool *ok)
{
	uint32_t full = n / r, groups = full + (n % r != 0);
	uint32_t *hist = calloc((size_t)n + 1, sizeof(*hist));
	uint64_t small = 0, big = domain_count;

	if (!hist)
		return -ENOMEM;
	for (uint32_t i = 0; i < domain_count; i++)
		hist[domain_size[i]]++;
	*ok = true;
	for (uint32_t j = 1; j <= groups && *ok; j++) {
		uint64_t need = (uint64_t)(j < full ? j : full) * r + (j > full ? n % r : 0);

		small += (uint64_t)j * hist[j];
		big -= hist[j];
		*ok = need <= small + (uint64_t)j * big;
	}
	free(hist);
	return 0;
}

/* ---- one permutation, cut into groups of R in distinct domains ---- */

struct perm_state {
	struct mesh_copysets *cs;
	uint32_t *perm;         /* target indices, a permutation */
	uint8_t *borrowed;      /* per target: already used to fill a short group */
	uint64_t *rng;
};

static uint32_t dom(const struct perm_state *ps, uint32_t pos)
{
	return ps->cs->targets[ps->perm[pos]].domain_index;
}

/* Whether domain @d is held by a position of [lo, hi) other than @skip. */
static bool domain_in(const struct perm_state *ps, uint32_t lo, uint32_t hi, uint32_t skip,
		      uint32_t d)
{
	for (uint32_t i = lo; i < hi; i++) {
		if (i != skip && dom(ps, i) == d)
			return true;
	}
	return false;
}

/* Whether swapping position @q of the group at [lo, hi) with @r mends the
 * clash at @q without making one in @r's own group, if that is formed. */
static bool swap_mends(const struct perm_state *ps, uint32_t lo, uint32_t hi, uint32_t q,
		       uint32_t r)
{
	uint32_t n = ps->cs->target_count, R = ps->cs->copies;

	if (r >= lo && r < hi)
		return false;
	if (domain_in(ps, lo, q, NONE, dom(ps, r)))
		return false;
	if (r >= hi)
		return true;    /* a later group: checked when its turn comes */
	uint32_t hs = r / R * R, he = hs + R < n ? hs + R : n;

	return !domain_in(ps, hs, he, r, dom(ps, q));
}

static void swap_pos(struct perm_state *ps, uint32_t a, uint32_t b)
{
	uint32_t t = ps->perm[a];

	ps->perm[a] = ps->perm[b];
	ps->perm[b] = t;
}

/* Mend the group at [lo, hi) so its members lie in distinct domains;
 * random partners first, then a full scan. */
static bool mend_group(struct perm_state *ps, uint32_t lo, uint32_t hi)
{
	uint32_t n = ps->cs->target_count;

	for (uint32_t q = lo + 1; q < hi; q++) {
		if (!domain_in(ps, lo, q, NONE, dom(ps, q)))
			continue;
		uint32_t r = NONE;

		for (uint32_t k = 0; k < MESH_COPYSET_SWAP_TRIES && r == NONE; k++) {
			uint32_t c = uniform(ps->rng, n);

			if (swap_mends(ps, lo, hi, q, c))
				r = c;
		}
		for (uint32_t c = 0; c < n && r == NONE; c++) {
			if (swap_mends(ps, lo, hi, q, c))
				r = c;
		}
		if (r == NONE)
			return false;
		swap_pos(ps, q, r);
	}
	return true;
}

/* Shuffle and mend every group; false if some clash could not be mended. */
static bool arrange(struct perm_state *ps)
{
	uint32_t n = ps->cs->target_count, R = ps->cs->copies;

	for (uint32_t i = n - 1; i > 0; i--)
		swap_pos(ps, i, uniform(ps->rng, i + 1));
	if (!ps->cs->domains_apart)
		return true;
	for (uint32_t lo = 0; lo < n; lo += R) {
		if (!mend_group(ps, lo, lo + R < n ? lo + R : n))
			return false;
	}
	return true;
}

/* Whether the target at position @pos may fill up the short group @g
 * (of @len members so far). */
static bool may_borrow(const struct perm_state *ps, const uint32_t *g, uint32_t len, uint32_t pos,
		       bool fresh_only)
{
	uint32_t t = ps->perm[pos];
	const struct mesh_copyset_target *tt = &ps->cs->targets[t];

	if (fresh_only && ps->borrowed[t])
		return false;
	for (uint32_t i = 0; i < len; i++) {
		if (g[i] == t || (ps->cs->domains_apart &&
				  ps->cs->targets[g[i]].domain_index == tt->domain_index))
			return false;
	}
	return true;
}

/* Fill the short last group @g (@len members) up to R from the full groups
 * before it, preferring targets never borrowed. The Gale-Ryser check
 * guarantees a partner: some domain has no member in @g. */
static void fill_short_group(struct perm_state *ps, uint32_t *g, uint32_t len)
{
	uint32_t R = ps->cs->copies, full = ps->cs->target_count / R * R;

	while (len < R) {
		uint32_t pick = NONE;

		for (uint32_t k = 0; k < MESH_COPYSET_SWAP_TRIES && pick == NONE; k++) {
			uint32_t c = uniform(ps->rng, full);

			if (may_borrow(ps, g, len, c, true))
				pick = c;
		}
		for (int fresh = 1; fresh >= 0 && pick == NONE; fresh--) {
			for (uint32_t c = 0; c < full && pick == NONE; c++) {
				if (may_borrow(ps, g, len, c, fresh))
					pick = c;
			}
		}
		assert(pick != NONE);
		ps->borrowed[ps->perm[pick]] = 1;
		g[len++] = ps->perm[pick];
	}
}

/* Lay down permutation @p as copysets p * per_permutation onwards. */
static int build_permutation(struct perm_state *ps, uint32_t p, const char **why)
{
	struct mesh_copysets *cs = ps->cs;
	uint32_t n = cs->target_count, R = cs->copies;
	uint32_t attempt = 0;

	while (!arrange(ps)) {
		if (++attempt == MESH_COPYSET_BUILD_RETRIES)
			return fail(why, -EINVAL, "no permutation kept every copyset's members in "
						  "distinct failure domains within the retry limit");
	}
	uint32_t *out = &cs->members[(uint64_t)p * cs->per_permutation * R];

	memcpy(out, ps->perm, sizeof(*out) * (n / R * R));
	if (n % R) {
		uint32_t *g = out + n / R * R;

		memcpy(g, ps->perm + n / R * R, sizeof(*g) * (n % R));
		fill_short_group(ps, g, n % R);
	}
	return 0;
}

/* sets_start/sets_of, memberships and scatter from the copysets. */
static int index_memberships(struct mesh_copysets *cs)
{
	uint32_t n = cs->target_count, R = cs->copies;
	uint64_t slots = (uint64_t)cs->count * R;
	uint32_t *fill = calloc(n, sizeof(*fill));

	cs->sets_start = calloc((size_t)n + 1, sizeof(*cs->sets_start));
	cs->sets_of = malloc(sizeof(*cs->sets_of) * slots);
	if (!fill || !cs->sets_start || !cs->sets_of) {
		free(fill);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < slots; i++)
		cs->sets_start[cs->members[i] + 1]++;
	for (uint32_t t = 0; t < n; t++) {
		cs->targets[t].memberships = cs->sets_start[t + 1];
		cs->sets_start[t + 1] += cs->sets_start[t];
	}
	for (uint64_t i = 0; i < slots; i++) {
		uint32_t t = cs->members[i];

		cs->sets_of[cs->sets_start[t] + fill[t]++] = (uint32_t)(i / R);
	}
	/* Distinct peers, with a per-peer stamp of the last target counted. */
	memset(fill, 0xff, sizeof(*fill) * n);
	for (uint32_t t = 0; t < n; t++) {
		for (uint32_t k = cs->sets_start[t]; k < cs->sets_start[t + 1]; k++) {
			const uint32_t *m = mesh_copyset_members(cs, cs->sets_of[k]);

			for (uint32_t j = 0; j < R; j++) {
				if (m[j] != t && fill[m[j]] != t) {
					fill[m[j]] = t;
					cs->targets[t].scatter++;
				}
			}
		}
	}
	free(fill);
	return 0;
}

static int build_copysets(struct mesh_copysets *cs, uint64_t *rng, const char **why)
{
	uint32_t n = cs->target_count;
	struct perm_state ps = {
		.cs = cs,
		.perm = malloc(sizeof(*ps.perm) * n),
		.borrowed = calloc(n, 1),
		.rng = rng,
	};
	int rc = -ENOMEM;

	cs->members = malloc(sizeof(*cs->members) * (uint64_t)cs->count * cs->copies);
	if (!ps.perm || !ps.borrowed || !cs->members)
		goto out;
	for (uint32_t i = 0; i < n; i++)
		ps.perm[i] = i;
	rc = 0;
	for (uint32_t p = 0; p < cs->permutations && rc == 0; p++)
		rc = build_permutation(&ps, p, why);
	if (rc == 0)
		rc = index_memberships(cs);
out:
	free(ps.perm);
	free(ps.borrowed);
	if (rc == -ENOMEM)
		fail(why, rc, "out of memory building copysets");
	return rc;
}

static int check_params(const struct mesh_pool *pool, const struct mesh_copyset_params *p,
			const char **why)
{
	if (p->policy != MESH_COPYSET_POLICY_COPYSET && p->policy != MESH_COPYSET_POLICY_RANDOM)
		return fail(why, -EINVAL, "unknown placement policy");
	if (p->copies < 2 || p->copies > MESH_LAYOUT_COPIES_MAX)
		return fail(why, -EINVAL, "copies must be 2 or 3 (copysets need at least 2 members)");
	if (p->policy == MESH_COPYSET_POLICY_COPYSET && p->scatter_width == 0)
		return fail(why, -EINVAL, "scatter width must be at least 1");
	if (p->policy == MESH_COPYSET_POLICY_COPYSET && p->scatter_width > MESH_COPYSET_SCATTER_MAX)
		return fail(why, -EINVAL, "scatter width above MESH_COPYSET_SCATTER_MAX");
	if (pool->count == 0)
		return fail(why, -EINVAL, "empty pool: no drives to place on");
	return 0;
}

/* Targets, domains and the feasibility of keeping copies apart. */
static int index_pool(struct mesh_copysets *cs, const struct mesh_pool *pool, const char **why)
{
	uint32_t *domain_size;
	bool ok = true;
	int rc;

	cs->target_count = count_targets(pool);
	if (cs->target_count > MESH_COPYSET_TARGETS_MAX)
		return fail(why, -EINVAL, "more targets than MESH_COPYSET_TARGETS_MAX");
	if (cs->target_count < cs->copies)
		return fail(why, -EINVAL, "fewer targets than copies");
	cs->targets = calloc(cs->target_count, sizeof(*cs->targets));
	domain_size = calloc(cs->target_count, sizeof(*domain_size));
	if (!cs->targets || !domain_size) {
		free(domain_size);
		return fail(why, -ENOMEM, "out of memory indexing the pool");
	}
	rc = index_targets(cs, pool, domain_size, why);
	cs->domains_apart = cs->domain_count >= cs->copies;
	if (rc == 0 && cs->domains_apart && cs->policy == MESH_COPYSET_POLICY_COPYSET) {
		rc = domains_can_part(domain_size, cs->domain_count, cs->target_count, cs->copies, &ok);
		if (rc == 0 && !ok)
			rc = fail(why, -EINVAL, "too few failure domains, or too unequal, to keep every "
						"copyset's members in distinct domains");
	}
	if (rc == -ENOMEM)
		fail(why, rc, "out of memory indexing the pool");
	free(domain_size);
	return rc;
}

int mesh_copyset_build(struct mesh_copysets *cs, const struct mesh_pool *pool,
		       const struct mesh_copyset_params *params, uint64_t *rng, const char **why)
{
	int rc = check_params(pool, params, why);

	memset(cs, 0, sizeof(*cs));
	if (rc)
		return rc;
	cs->policy = params->policy;
	cs->copies = params->copies;
	cs->pool_count = pool->count;
	rc = index_pool(cs, pool, why);
	if (rc == 0 && cs->policy == MESH_COPYSET_POLICY_COPYSET) {
		cs->scatter_width = params->scatter_width;
		cs->permutations = (params->scatter_width + cs->copies - 2) / (cs->copies - 1);
		cs->per_permutation = (cs->target_count + cs->copies - 1) / cs->copies;
		cs->count = cs->permutations * cs->per_permutation;
		rc = build_copysets(cs, rng, why);
	}
	if (rc)
		mesh_copyset_free(cs);
	return rc;
}

void mesh_copyset_free(struct mesh_copysets *cs)
{
	free(cs->targets);
	free(cs->members);
	free(cs->sets_start);
	free(cs->sets_of);
	memset(cs, 0, sizeof(*cs));
}

const char *mesh_copyset_policy_name(enum mesh_copyset_policy policy)
{
	switch (policy) {
	case MESH_COPYSET_POLICY_COPYSET:
		return "copyset";
	case MESH_COPYSET_POLICY_RANDOM:
		return "random";
	}
	return "unknown";
}

/* ---- choosing targets ---- */

/* Whether target @t clashes with the @n targets in @chosen: same target,
 * or same domain when @apart. */
static bool clashes(const struct mesh_copysets *cs, const uint32_t *chosen, uint32_t n,
		    uint32_t t, bool apart)
{
	for (uint32_t i = 0; i < n; i++) {
		if (chosen[i] == t ||
		    (apart && cs->targets[chosen[i]].domain_index == cs->targets[t].domain_index))
			return true;
	}
	return false;
}

int mesh_copyset_pick(const struct mesh_copysets *cs, uint64_t *rng, uint32_t *out)
{
	if (cs->policy == MESH_COPYSET_POLICY_COPYSET) {
		memcpy(out, mesh_copyset_members(cs, uniform(rng, cs->count)),
		       sizeof(*out) * cs->copies);
		return 0;
	}
	for (uint32_t j = 0; j < cs->copies; j++) {
		uint32_t k = 0, t;

		do {
			if (k++ == MESH_COPYSET_PROBES_MAX)
				return -EAGAIN;
			t = uniform(rng, cs->target_count);
		} while (clashes(cs, out, j, t, cs->domains_apart));
		out[j] = t;
	}
	return 0;
}

/* ---- planning volumes ---- */

/* What one plan has taken so far, to undo on error. */
struct plan_state {
	struct mesh_pool *pool;
	const struct mesh_copysets *cs;
	uint64_t *rng;
	unsigned taken[MESH_LAYOUT_SEGMENTS_MAX * MESH_LAYOUT_COPIES_MAX];
	uint64_t taken_bytes[MESH_LAYOUT_SEGMENTS_MAX * MESH_LAYOUT_COPIES_MAX];
	unsigned taken_count;
	uint64_t cursor;        /* next copyset (or member position) to try */
};

/* Target @t's non-failed drive with the most free space that holds
 * @bytes (lowest index on a tie), or -1. */
static long best_drive(const struct plan_state *ps, uint32_t t, uint64_t bytes)
{
	const struct mesh_copyset_target *tt = &ps->cs->targets[t];
	long best = -1;
	uint64_t best_free = 0;

	for (uint32_t d = tt->first_drive; d < tt->first_drive + tt->drive_count; d++) {
		const struct mesh_pool_drive *pd = &ps->pool->drives[d];

		assert(pd->target == tt->id);
		if (pd->failed || pd->used > pd->capacity || pd->capacity - pd->used < bytes)
			continue;
		if (best < 0 || pd->capacity - pd->used > best_free) {
			best = d;
			best_free = pd->capacity - pd->used;
		}
	}
	return best;
}

static void take(struct plan_state *ps, struct mesh_replica *r, long d, uint64_t bytes)
{
	struct mesh_pool_drive *pd = &ps->pool->drives[d];

	*r = (struct mesh_replica){
		.target = pd->target,
		.drive = pd->drive,
		.domain = pd->domain,
		.drive_offset = pd->used,
	};
	pd->used += bytes;
	ps->taken[ps->taken_count] = (unsigned)d;
	ps->taken_bytes[ps->taken_count] = bytes;
	ps->taken_count++;
}

static void undo(struct plan_state *ps)
{
	for (unsigned i = 0; i < ps->taken_count; i++)
		ps->pool->drives[ps->taken[i]].used -= ps->taken_bytes[i];
	ps->taken_count = 0;
}

/* A 1-copy segment: successive members in permutation order. */
static bool place_single(struct plan_state *ps, struct mesh_segment *seg)
{
	uint64_t positions = (uint64_t)ps->cs->count * ps->cs->copies;

	for (uint32_t k = 0; k < MESH_COPYSET_PROBES_MAX; k++) {
		uint64_t pos = (ps->cursor + k) % positions;
		long d = best_drive(ps, ps->cs->members[pos], seg->bytes);

		if (d >= 0) {
			take(ps, &seg->replicas[0], d, seg->bytes);
			ps->cursor = pos + 1;
			return true;
		}
	}
	return false;
}

/* A segment on members of one copyset, from the cursor on; @rot rotates
 * which members a segment of fewer copies than R uses. */
static bool place_on_copyset(struct plan_state *ps, struct mesh_segment *seg, uint32_t copies,
			     uint32_t rot)
{
	const struct mesh_copysets *cs = ps->cs;

	if (copies == 1)
		return place_single(ps, seg);
	for (uint32_t k = 0; k < MESH_COPYSET_PROBES_MAX; k++) {
		uint32_t c = (uint32_t)((ps->cursor + k) % cs->count);
		const uint32_t *m = mesh_copyset_members(cs, c);
		long d[MESH_LAYOUT_COPIES_MAX];
		uint32_t j;

		for (j = 0; j < copies; j++) {
			d[j] = best_drive(ps, m[(rot + j) % cs->copies], seg->bytes);
			if (d[j] < 0)
				break;
		}
		if (j < copies)
			continue;
		for (j = 0; j < copies; j++)
			take(ps, &seg->replicas[j], d[j], seg->bytes);
		ps->cursor = c + 1;
		return true;
	}
	return false;
}

/* A segment on random targets, each copy in a domain (or on a target) the
 * segment does not use yet. */
static bool place_random(struct plan_state *ps, struct mesh_segment *seg, uint32_t copies)
{
	const struct mesh_copysets *cs = ps->cs;
	bool apart = cs->domain_count >= copies;
	uint32_t chosen[MESH_LAYOUT_COPIES_MAX];

	for (uint32_t j = 0; j < copies; j++) {
		long d = -1;
		uint32_t t = 0;

		for (uint32_t k = 0; k < MESH_COPYSET_PROBES_MAX && d < 0; k++) {
			t = uniform(ps->rng, cs->target_count);
			if (!clashes(cs, chosen, j, t, apart))
				d = best_drive(ps, t, seg->bytes);
		}
		if (d < 0)
			return false;
		chosen[j] = t;
		take(ps, &seg->replicas[j], d, seg->bytes);
	}
	return true;
}

/*
 * The geometry of @spec (validation, segment sizes, group ids) from
 * mesh_placement_plan() on a scratch pool of unbounded drives, so that both
 * planners accept, refuse and size volumes alike; only the drives differ.
 */
static int plan_geometry(const struct mesh_volume_spec *spec, struct mesh_layout *l,
			 const char **why)
{
	struct mesh_pool_drive scratch[MESH_LAYOUT_COPIES_MAX];
	struct mesh_pool pool = { scratch, MESH_LAYOUT_COPIES_MAX };

	if (spec->copies >= 1 && spec->copies <= MESH_LAYOUT_COPIES_MAX)
		pool.count = spec->copies;
	for (uint32_t i = 0; i < MESH_LAYOUT_COPIES_MAX; i++)
		scratch[i] = (struct mesh_pool_drive){
			.target = i, .domain = i, .capacity = UINT64_MAX,
		};
	return mesh_placement_plan(&pool, spec, l, why);
}

int mesh_copyset_plan(struct mesh_pool *pool, const struct mesh_copysets *cs,
		      const struct mesh_volume_spec *spec, uint64_t *rng, struct mesh_layout *out,
		      const char **why)
{
	struct plan_state ps = { .pool = pool, .cs = cs, .rng = rng };
	struct mesh_layout l;
	int rc = plan_geometry(spec, &l, why);

	if (rc)
		return rc;
	if (pool->count != cs->pool_count)
		return fail(why, -EINVAL, "the pool has changed size since the copysets were built");
	if (cs->policy == MESH_COPYSET_POLICY_COPYSET && l.copies > cs->copies)
		return fail(why, -EINVAL, "more copies than the copysets have members");
	if (cs->policy == MESH_COPYSET_POLICY_COPYSET)
		ps.cursor = l.copies == 1 ? uniform(rng, cs->count * cs->copies) : uniform(rng, cs->count);
	uint32_t rot = uniform(rng, cs->copies);

	for (uint32_t s = 0; s < l.segment_count; s++) {
		struct mesh_segment *seg = &l.segments[s];
		bool placed = cs->policy == MESH_COPYSET_POLICY_COPYSET
				      ? place_on_copyset(&ps, seg, l.copies, (rot + s) % cs->copies)
				      : place_random(&ps, seg, l.copies);

		if (!placed) {
			undo(&ps);
			return fail(why, -ENOSPC, "no copyset or target with free space for every "
						   "copy of a segment among those probed");
		}
	}
	rc = mesh_layout_check(&l, why);
	if (rc) {
		undo(&ps);
		return rc;
	}
	*out = l;
	return 0;
}

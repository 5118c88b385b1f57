/*
 * core/placement.c: a greedy planner. For each copy of each segment it takes
 * the best drive by, in order: a failure domain this segment does not use
 * yet; a target this segment does not use yet; a drive this volume does not
 * use yet; a target this volume uses least (so a stripe spreads over
 * servers, not just drives); a domain this volume uses least; the most free
 * space; the lowest index (so plans are deterministic).
 *
 * Cost is O(segments * copies * drives) per volume: fine for the clusters
 * the in-process host and tests build; placement at 100,000 nodes narrows
 * the candidate set first.
 */
#include "core/placement.h"

#include <errno.h>
#include <string.h>

/* What one plan has taken so far, to score candidates and to undo. */
struct plan_state {
	const struct mesh_pool *pool;
	unsigned taken[MESH_LAYOUT_SEGMENTS_MAX * MESH_LAYOUT_COPIES_MAX];
	uint64_t taken_bytes[MESH_LAYOUT_SEGMENTS_MAX * MESH_LAYOUT_COPIES_MAX];
	unsigned taken_count;
};

static int fail(const char **why, int rc, const char *reason)
{
	if (why)
		*why = reason;
	return rc;
}

static unsigned volume_uses_drive(const struct plan_state *ps, unsigned d)
{
	unsigned n = 0;

	for (unsigned i = 0; i < ps->taken_count; i++)
		n += ps->taken[i] == d;
	return n;
}

static unsigned volume_uses_target(const struct plan_state *ps, uint32_t target)
{
	unsigned n = 0;

	for (unsigned i = 0; i < ps->taken_count; i++)
		n += ps->pool->drives[ps->taken[i]].target == target;
	return n;
}

static unsigned volume_uses_domain(const struct plan_state *ps, uint32_t domain)
{
	unsigned n = 0;

	for (unsigned i = 0; i < ps->taken_count; i++)
		n += ps->pool->drives[ps->taken[i]].domain == domain;
	return n;
}

enum clash { SAME_DRIVE, SAME_TARGET, SAME_DOMAIN };

/* Whether drive @d shares a drive, target or domain with a copy already
 * placed for the current segment: the last @copies_so_far of ps->taken. */
static bool segment_uses(const struct plan_state *ps, unsigned copies_so_far, unsigned d,
			 enum clash what)
{
	const struct mesh_pool_drive *cand = &ps->pool->drives[d];

	for (unsigned i = ps->taken_count - copies_so_far; i < ps->taken_count; i++) {
		const struct mesh_pool_drive *t = &ps->pool->drives[ps->taken[i]];
		bool same_target = t->target == cand->target;

		if ((what == SAME_DOMAIN && t->domain == cand->domain) ||
		    (what == SAME_TARGET && same_target) ||
		    (what == SAME_DRIVE && same_target && t->drive == cand->drive))
			return true;
	}
	return false;
}

/* Lower is better; compares lexicographically. */
struct score {
	unsigned domain_clash, target_clash, drive_reuse, target_load, domain_load;
	uint64_t used_negfree;
};

static bool better(const struct score *a, const struct score *b)
{
	if (a->domain_clash != b->domain_clash)
		return a->domain_clash < b->domain_clash;
	if (a->target_clash != b->target_clash)
		return a->target_clash < b->target_clash;
	if (a->drive_reuse != b->drive_reuse)
		return a->drive_reuse < b->drive_reuse;
	if (a->target_load != b->target_load)
		return a->target_load < b->target_load;
	if (a->domain_load != b->domain_load)
		return a->domain_load < b->domain_load;
	return a->used_negfree < b->used_negfree;
}

/* Pick a drive for the next copy of a segment of @bytes; -1 if none fits. */
static long pick_drive(const struct plan_state *ps, unsigned copies_so_far, uint64_t bytes)
{
	long best = -1;
	struct score best_score = { 0 };

	for (unsigned d = 0; d < ps->pool->count; d++) {
		const struct mesh_pool_drive *pd = &ps->pool->drives[d];

		if (pd->failed || pd->used > pd->capacity || pd->capacity - pd->used < bytes)
			continue;
		if (segment_uses(ps, copies_so_far, d, SAME_DRIVE))
			continue;
		struct score s = {
			.domain_clash = segment_uses(ps, copies_so_far, d, SAME_DOMAIN),
			.target_clash = segment_uses(ps, copies_so_far, d, SAME_TARGET),
			.drive_reuse = volume_uses_drive(ps, d),
			.target_load = volume_uses_target(ps, pd->target),
			.domain_load = volume_uses_domain(ps, pd->domain),
			.used_negfree = UINT64_MAX - (pd->capacity - pd->used),
		};
		if (best < 0 || better(&s, &best_score)) {
			best = d;
			best_score = s;
		}
	}
	return best;
}

static void undo(struct mesh_pool *pool, const struct plan_state *ps)
{
	for (unsigned i = 0; i < ps->taken_count; i++)
		pool->drives[ps->taken[i]].used -= ps->taken_bytes[i];
}

/* Segment sizes: equal stripe-unit rows for stripes; for concats, the
 * volume's blocks dealt out as evenly as possible. */
static int size_segments(const struct mesh_volume_spec *spec, struct mesh_layout *l,
			 const char **why)
{
	if (spec->bytes == 0 || spec->bytes % MESH_BLOCK_BYTES != 0)
		return fail(why, -EINVAL, "volume size must be a nonzero multiple of 4 KiB");
	if (spec->bytes > MESH_LAYOUT_VOLUME_BYTES_MAX)
		return fail(why, -EINVAL, "volume larger than the 2^60-byte limit");
	if (mesh_layout_kind_striped(spec->kind)) {
		if (spec->stripe_unit == 0 || spec->stripe_unit % MESH_BLOCK_BYTES != 0)
			return fail(why, -EINVAL, "stripe unit must be a nonzero multiple of 4 KiB");
		uint64_t row = (uint64_t)spec->stripe_unit * spec->width;
		uint64_t rows = (spec->bytes + row - 1) / row;

		for (uint32_t s = 0; s < spec->width; s++)
			l->segments[s].bytes = rows * spec->stripe_unit;
		return 0;
	}
	uint64_t blocks = spec->bytes / MESH_BLOCK_BYTES;

	if (blocks < spec->width)
		return fail(why, -EINVAL, "volume has fewer 4 KiB blocks than segments");
	for (uint32_t s = 0; s < spec->width; s++)
		l->segments[s].bytes = (blocks / spec->width + (s < blocks % spec->width)) *
				       MESH_BLOCK_BYTES;
	return 0;
}

int mesh_placement_plan(struct mesh_pool *pool, const struct mesh_volume_spec *spec,
			struct mesh_layout *out, const char **why)
{
	struct plan_state ps = { .pool = pool };
	struct mesh_layout l;
	int rc;

	if (spec->width == 0)
		return fail(why, -EINVAL, "zero width: a volume needs at least one segment");
	if (spec->width > MESH_LAYOUT_SEGMENTS_MAX)
		return fail(why, -EINVAL, "too many segments (limit MESH_LAYOUT_SEGMENTS_MAX)");
	if (spec->copies == 0 || spec->copies > MESH_LAYOUT_COPIES_MAX)
		return fail(why, -EINVAL, "copies must be 1, 2 or 3");
	if (spec->copies > pool->count)
		return fail(why, -EINVAL, "more copies than drives in the pool");
	memset(&l, 0, sizeof(l));
	l.kind = spec->kind;
	l.stripe_unit = mesh_layout_kind_striped(spec->kind) ? spec->stripe_unit : 0;
	l.copies = spec->copies;
	l.segment_count = spec->width;
	l.volume_bytes = spec->bytes;
	rc = size_segments(spec, &l, why);
	if (rc)
		return rc;

	for (uint32_t s = 0; s < l.segment_count; s++) {
		struct mesh_segment *seg = &l.segments[s];

		seg->group = spec->first_group + s;
		for (uint32_t c = 0; c < l.copies; c++) {
			long d = pick_drive(&ps, c, seg->bytes);

			if (d < 0) {
				undo(pool, &ps);
				return fail(why, -ENOSPC, "not enough drives with free space for "
							   "every copy of a segment");
			}
			struct mesh_pool_drive *pd = &pool->drives[d];

			seg->replicas[c] = (struct mesh_replica){
				.target = pd->target,
				.drive = pd->drive,
				.domain = pd->domain,
				.drive_offset = pd->used,
			};
			pd->used += seg->bytes;
			ps.taken[ps.taken_count] = (unsigned)d;
			ps.taken_bytes[ps.taken_count] = seg->bytes;
			ps.taken_count++;
		}
	}
	rc = mesh_layout_check(&l, why);
	if (rc) {
		undo(pool, &ps);
		return rc;
	}
	*out = l;
	return 0;
}

static bool holds_member(const struct mesh_group_config *c, uint32_t target)
{
	for (unsigned i = 0; i < c->member_count; i++) {
		if (c->members[i].node == target)
			return true;
	}
	return false;
}

int mesh_placement_spare(struct mesh_pool *pool, const struct mesh_group_config *c,
			 unsigned member, struct mesh_group_member *spare)
{
	/* Failure domains of the replicas that stay. */
	uint32_t domains[MESH_GROUP_MEMBERS_MAX];
	unsigned domain_count = 0, best = pool->count;
	bool best_apart = false;

	if (member >= c->member_count || c->members[member].role != MESH_MEMBER_REPLICA)
		return -EINVAL;
	for (unsigned d = 0; d < pool->count; d++) {
		const struct mesh_pool_drive *pd = &pool->drives[d];

		for (unsigned i = 0; i < c->member_count; i++) {
			const struct mesh_group_member *m = &c->members[i];

			if (i != member && m->role == MESH_MEMBER_REPLICA && m->node == pd->target &&
			    m->drive == pd->drive && domain_count < MESH_GROUP_MEMBERS_MAX)
				domains[domain_count++] = pd->domain;
		}
	}
	for (unsigned d = 0; d < pool->count; d++) {
		const struct mesh_pool_drive *pd = &pool->drives[d];
		bool apart = true;

		if (pd->failed || pd->used > pd->capacity || pd->capacity - pd->used < c->bytes ||
		    holds_member(c, pd->target))
			continue;
		for (unsigned i = 0; i < domain_count; i++)
			apart &= domains[i] != pd->domain;
		if (best == pool->count || (apart && !best_apart) ||
		    (apart == best_apart &&
		     pd->capacity - pd->used > pool->drives[best].capacity - pool->drives[best].used)) {
			best = d;
			best_apart = apart;
		}
	}
	if (best == pool->count)
		return -ENOSPC;
	struct mesh_pool_drive *pick = &pool->drives[best];

	*spare = (struct mesh_group_member){
		.node = pick->target,
		.drive = pick->drive,
		.offset = pick->used,
		.role = MESH_MEMBER_REPLICA,
		.state = MESH_MEMBER_REBUILDING,
	};
	pick->used += c->bytes;
	return 0;
}

/*
 * sim/netfault.c: see netfault.h.
 */
#include "sim/netfault.h"

#include <errno.h>
#include <string.h>

#include "core/rng.h"

void mesh_netfault_init(struct mesh_netfault *nf, const struct mesh_scenario *scn)
{
	memset(nf, 0, sizeof(*nf));
	nf->scn = scn;
}

bool mesh_netfault_handles(enum mesh_scn_fault_kind k)
{
	return k == MESH_SCN_LOSS || k == MESH_SCN_DUPLICATE || k == MESH_SCN_REORDER ||
	       k == MESH_SCN_DELAY || k == MESH_SCN_PARTITION || k == MESH_SCN_FLAP ||
	       k == MESH_SCN_HEAL;
}

int mesh_netfault_start(struct mesh_netfault *nf, const struct mesh_scn_fault *f)
{
	if (f->kind == MESH_SCN_HEAL) {
		mesh_netfault_heal(nf);
		return 0;
	}
	if (!mesh_netfault_handles(f->kind))
		return -EINVAL;
	if (nf->count == MESH_NETFAULT_RULES_MAX)
		return -ENOSPC;
	nf->rules[nf->count] = (struct mesh_netfault_rule){ .fault = f, .active = true };
	return (int)nf->count++;
}

void mesh_netfault_set_active(struct mesh_netfault *nf, int rule, bool active)
{
	if (rule >= 0 && (uint32_t)rule < nf->count)
		nf->rules[rule].active = active;
}

void mesh_netfault_heal(struct mesh_netfault *nf)
{
	nf->count = 0;
}

static bool in(const struct mesh_netfault *nf, const struct mesh_scn_set *set, uint32_t node)
{
	return mesh_scenario_set_contains(nf->scn, set, node);
}

/* Whether a partition or flap rule cuts @src -> @dst. */
static bool rule_cuts(const struct mesh_netfault *nf, const struct mesh_scn_fault *f,
		      uint32_t src, uint32_t dst)
{
	if (src == dst)
		return false;
	if (in(nf, &f->a, src) && in(nf, &f->b, dst))
		return true;
	return !f->one_way && in(nf, &f->b, src) && in(nf, &f->a, dst);
}

/* Whether a message rule applies to @src -> @dst. */
static bool rule_matches(const struct mesh_netfault *nf, const struct mesh_scn_fault *f,
			 uint32_t src, uint32_t dst)
{
	return in(nf, &f->a, src) && in(nf, &f->b, dst);
}

bool mesh_netfault_cut(const struct mesh_netfault *nf, uint32_t src, uint32_t dst)
{
	for (uint32_t i = 0; i < nf->count; i++) {
		const struct mesh_netfault_rule *r = &nf->rules[i];
		enum mesh_scn_fault_kind k = r->fault->kind;

		if (r->active && (k == MESH_SCN_PARTITION || k == MESH_SCN_FLAP) &&
		    rule_cuts(nf, r->fault, src, dst))
			return true;
	}
	return false;
}

/* A uniform draw in [0, 1). */
static double uniform(uint64_t *rng)
{
	return (double)(mesh_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

static uint64_t up_to(uint64_t *rng, uint64_t max_ns)
{
	return max_ns ? mesh_rng_next(rng) % (max_ns + 1) : 0;
}

void mesh_netfault_judge(struct mesh_netfault *nf, uint32_t src, uint32_t dst, uint64_t *rng,
			 struct mesh_netfault_verdict *out)
{
	*out = (struct mesh_netfault_verdict){ .copies = 1 };
	if (mesh_netfault_cut(nf, src, dst)) {
		out->copies = 0;
		nf->dropped_cut++;
		return;
	}
	for (uint32_t i = 0; i < nf->count; i++) {
		const struct mesh_scn_fault *f = nf->rules[i].fault;

		if (f->kind == MESH_SCN_PARTITION || f->kind == MESH_SCN_FLAP ||
		    !rule_matches(nf, f, src, dst))
			continue;
		switch (f->kind) {
		case MESH_SCN_LOSS:
			if (uniform(rng) < f->probability) {
				out->copies = 0;
				nf->dropped_loss++;
				return;
			}
			break;
		case MESH_SCN_DUPLICATE:
			if (out->copies < MESH_NETFAULT_COPIES_MAX && uniform(rng) < f->probability) {
				out->extra_ns[out->copies] = out->extra_ns[0];
				out->copies++;
				nf->duplicated++;
			}
			break;
		case MESH_SCN_REORDER:
			for (uint32_t c = 0; c < out->copies; c++) {
				if (uniform(rng) < f->probability) {
					out->extra_ns[c] += up_to(rng, f->delay_ns);
					nf->delayed++;
				}
			}
			break;
		case MESH_SCN_DELAY:
			for (uint32_t c = 0; c < out->copies; c++)
				out->extra_ns[c] += f->delay_ns + up_to(rng, f->jitter_ns);
			nf->delayed++;
			break;
		default:
			break;
		}
	}
}

/*
 * core/grants.c: the keys a target handed out (see grants.h). A small
 * unsorted table: a target holds a key per group it is the tail of, and
 * keys are looked up only when a client asks (once per epoch), never per
 * read.
 */
#include "core/grants.h"

#include <errno.h>
#include <stdlib.h>

struct grant {
	uint64_t group, epoch, offset, length, rkey;
	uint32_t drive;
};

struct mesh_grants {
	const struct mesh_env *env;
	uint32_t capacity, count;
	struct grant keys[];
};

int mesh_grants_create(const struct mesh_env *env, uint32_t capacity, struct mesh_grants **out)
{
	struct mesh_grants *g;

	if (capacity == 0 || capacity > MESH_GRANTS_MAX)
		return -EINVAL;
	g = calloc(1, sizeof(*g) + capacity * sizeof(g->keys[0]));
	if (!g)
		return -ENOMEM;
	g->env = env;
	g->capacity = capacity;
	*out = g;
	return 0;
}

static void revoke_at(struct mesh_grants *g, uint32_t i)
{
	int rc = mesh_env_rma_revoke(g->env, g->keys[i].rkey);

	if (rc)
		mesh_log_warn(g->env, "grants: revoking the key of group %llu epoch %llu: %d",
			      (unsigned long long)g->keys[i].group,
			      (unsigned long long)g->keys[i].epoch, rc);
	else
		mesh_log_debug(g->env, "grants: key of group %llu epoch %llu revoked",
			       (unsigned long long)g->keys[i].group,
			       (unsigned long long)g->keys[i].epoch);
	g->keys[i] = g->keys[--g->count];
}

void mesh_grants_destroy(struct mesh_grants *g)
{
	if (!g)
		return;
	while (g->count)
		revoke_at(g, g->count - 1);
	free(g);
}

int mesh_grants_get(struct mesh_grants *g, uint64_t group, uint64_t epoch, uint32_t drive,
		    uint64_t offset, uint64_t length, uint64_t *rkey)
{
	struct grant *k;
	int rc;

	for (uint32_t i = 0; i < g->count; i++) {
		k = &g->keys[i];
		if (k->group == group && k->epoch == epoch && k->drive == drive &&
		    k->offset == offset && k->length == length) {
			*rkey = k->rkey;
			return 0;
		}
	}
	/* Keys of the group's older epochs go first: nobody may use them. */
	mesh_grants_revoke_before(g, group, epoch);
	if (g->count == g->capacity)
		return -ENOSPC;
	k = &g->keys[g->count];
	rc = mesh_env_rma_expose(g->env, drive, offset, length, MESH_RMA_READ, &k->rkey);
	if (rc)
		return rc;
	k->group = group;
	k->epoch = epoch;
	k->drive = drive;
	k->offset = offset;
	k->length = length;
	g->count++;
	*rkey = k->rkey;
	return 0;
}

unsigned mesh_grants_revoke_before(struct mesh_grants *g, uint64_t group, uint64_t epoch)
{
	unsigned revoked = 0;

	for (uint32_t i = 0; g && i < g->count;) {
		if (g->keys[i].group == group && g->keys[i].epoch < epoch) {
			revoke_at(g, i);
			revoked++;
		} else {
			i++;
		}
	}
	return revoked;
}

uint32_t mesh_grants_count(const struct mesh_grants *g)
{
	return g ? g->count : 0;
}

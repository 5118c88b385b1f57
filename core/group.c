/*
 * core/group.c: see group.h and docs/toma.md.
 */
#include "core/group.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

static const char *check_members(const struct mesh_group_config *c)
{
	unsigned witnesses = 0, active_replicas = 0;

	for (unsigned i = 0; i < c->member_count; i++) {
		const struct mesh_group_member *m = &c->members[i];

		for (unsigned j = 0; j < i; j++) {
			if (c->members[j].node == m->node)
				return "two members on one node";
		}
		if (m->role == MESH_MEMBER_WITNESS) {
			witnesses++;
			if (m->state != MESH_MEMBER_ACTIVE)
				return "a witness that is not active";
		} else if (m->state == MESH_MEMBER_ACTIVE) {
			active_replicas++;
		}
	}
	if (witnesses > 1)
		return "more than one witness";
	if (witnesses != (c->copies % 2 == 0))
		return "a witness is needed exactly when the copy count is even";
	if (!active_replicas)
		return "no active replica";
	return NULL;
}

int mesh_group_check(const struct mesh_group_config *c, const char **why)
{
	const char *problem;

	if (mesh_proto_group_config_check(c))
		problem = "not a valid configuration on the wire";
	else
		problem = check_members(c);
	if (why)
		*why = problem;
	return problem ? -EINVAL : 0;
}

unsigned mesh_group_voters(const struct mesh_group_config *c)
{
	return c->member_count;
}

unsigned mesh_group_majority(const struct mesh_group_config *c)
{
	return mesh_group_voters(c) / 2 + 1;
}

static bool has_node(const struct mesh_group_config *c, uint32_t node)
{
	for (unsigned i = 0; i < c->member_count; i++) {
		if (c->members[i].node == node)
			return true;
	}
	return false;
}

/* The state @change moves a replica from, and to. */
static bool transition(enum mesh_group_change change, uint8_t *from, uint8_t *to)
{
	switch (change) {
	case MESH_GROUP_MARK_STALE:
		*from = MESH_MEMBER_ACTIVE, *to = MESH_MEMBER_STALE;
		return true;
	case MESH_GROUP_START_REBUILD:
		*from = MESH_MEMBER_STALE, *to = MESH_MEMBER_REBUILDING;
		return true;
	case MESH_GROUP_MARK_ACTIVE:
		*from = MESH_MEMBER_REBUILDING, *to = MESH_MEMBER_ACTIVE;
		return true;
	case MESH_GROUP_REPLACE:
		*from = MESH_MEMBER_STALE, *to = MESH_MEMBER_REBUILDING;
		return true;
	}
	return false;
}

static int refuse(const char **why, const char *problem)
{
	if (why)
		*why = problem;
	return -EINVAL;
}

const char *mesh_group_change_name(enum mesh_group_change change)
{
	switch (change) {
	case MESH_GROUP_MARK_STALE:
		return "mark-stale";
	case MESH_GROUP_START_REBUILD:
		return "start-rebuild";
	case MESH_GROUP_MARK_ACTIVE:
		return "mark-active";
	case MESH_GROUP_REPLACE:
		return "replace";
	}
	return "unknown";
}

int mesh_group_change(const struct mesh_group_config *from, enum mesh_group_change change,
		      unsigned member, uint32_t spare_node, uint32_t spare_drive,
		      uint64_t spare_offset, struct mesh_group_config *to, const char **why)
{
	struct mesh_group_config next;
	uint8_t before, after;

	if (mesh_group_check(from, why))
		return -EINVAL;
	if (member >= from->member_count || from->members[member].role != MESH_MEMBER_REPLICA)
		return refuse(why, "the member is not a replica of the group");
	if (!transition(change, &before, &after))
		return refuse(why, "unknown change");
	/* A rebuilding replica that goes silent goes stale as an active one does. */
	if (from->members[member].state != before &&
	    !(change == MESH_GROUP_MARK_STALE &&
	      from->members[member].state == MESH_MEMBER_REBUILDING))
		return refuse(why, "the member's state does not allow this change");
	if (from->epoch == UINT64_MAX)
		return refuse(why, "epochs are exhausted");
	next = *from;
	next.epoch++;
	next.members[member].state = after;
	if (change == MESH_GROUP_REPLACE) {
		if (has_node(from, spare_node))
			return refuse(why, "the spare is already a member of the group");
		next.members[member].node = spare_node;
		next.members[member].drive = spare_drive;
		next.members[member].offset = spare_offset;
	}
	if (after == MESH_MEMBER_REBUILDING) {
		/* A returning replica may lack anything: it joins at the head of
		 * the chain, where being behind costs nothing (see group.h). */
		struct mesh_group_member head = next.members[member];

		memmove(&next.members[1], &next.members[0], member * sizeof(head));
		next.members[0] = head;
	}
	if (mesh_group_check(&next, why))
		return -EINVAL;
	*to = next;
	if (why)
		*why = NULL;
	return 0;
}

bool mesh_group_majority_of(const struct mesh_group_config *c, const uint32_t *nodes,
			    unsigned count)
{
	unsigned votes = 0;

	for (unsigned i = 0; i < c->member_count; i++) {
		for (unsigned k = 0; k < count; k++) {
			if (nodes[k] == c->members[i].node) {
				votes++;
				break;
			}
		}
	}
	return votes >= mesh_group_majority(c);
}

bool mesh_group_committed(const struct mesh_group_config *c, const uint32_t *accepted,
			  unsigned count)
{
	for (unsigned i = 0; i < c->member_count; i++) {
		const struct mesh_group_member *m = &c->members[i];
		bool yes = false;

		for (unsigned k = 0; k < count && !yes; k++)
			yes = accepted[k] == m->node;
		if (!yes && mesh_group_member_writable(m))
			return false;
	}
	return mesh_group_majority_of(c, accepted, count);
}

bool mesh_group_member_writable(const struct mesh_group_member *m)
{
	return m->role == MESH_MEMBER_REPLICA &&
	       (m->state == MESH_MEMBER_ACTIVE || m->state == MESH_MEMBER_REBUILDING);
}

unsigned mesh_group_chain(const struct mesh_group_config *c, uint8_t chain[MESH_GROUP_MEMBERS_MAX])
{
	unsigned n = 0;

	for (unsigned i = 0; i < c->member_count; i++) {
		if (mesh_group_member_writable(&c->members[i]))
			chain[n++] = (uint8_t)i;
	}
	return n;
}

int mesh_group_tail(const struct mesh_group_config *c)
{
	for (unsigned i = c->member_count; i-- > 0;) {
		const struct mesh_group_member *m = &c->members[i];

		if (m->role == MESH_MEMBER_REPLICA && m->state == MESH_MEMBER_ACTIVE)
			return (int)i;
	}
	return -1;
}

int mesh_group_member_of(const struct mesh_group_config *c, uint32_t node)
{
	for (unsigned i = 0; i < c->member_count; i++) {
		if (c->members[i].node == node)
			return (int)i;
	}
	return -1;
}

uint64_t mesh_group_lease_client_end_ns(uint64_t sent_ns, uint64_t lease_ns, uint32_t drift_ppm)
{
	uint64_t d = drift_ppm > MESH_GROUP_DRIFT_PPM_MAX ? MESH_GROUP_DRIFT_PPM_MAX : drift_ppm;
	/* lease * (1e6 - d) / (1e6 + d) without overflow: lease < 2^64 and the
	 * factor < 1, so split the lease into whole and remainder parts. */
	uint64_t den = 1000000 + d, num = 1000000 - d;
	uint64_t q = lease_ns / den, r = lease_ns % den;
	uint64_t usable = q * num + r * num / den;

	return sent_ns > UINT64_MAX - usable ? UINT64_MAX : sent_ns + usable;
}

bool mesh_group_lease_expired(uint64_t granted_ns, uint64_t lease_ns, uint64_t now_ns)
{
	return now_ns >= granted_ns && now_ns - granted_ns >= lease_ns;
}

/* Candidates looked at after the lowest replica: enough to leave a rack of
 * any sensible size, few enough to stay cheap at 100,000 targets. */
#define WITNESS_CANDIDATES_MAX 64u

static uint32_t witness_pick(const struct mesh_segment *seg, uint32_t copies,
			     const uint32_t *domain_of, uint32_t targets)
{
	uint32_t low = UINT32_MAX, pick = UINT32_MAX;

	for (uint32_t r = 0; r < copies; r++)
		low = seg->replicas[r].target < low ? seg->replicas[r].target : low;
	for (uint32_t k = 1; k <= WITNESS_CANDIDATES_MAX && k < targets; k++) {
		uint32_t cand = (low + k) % targets;
		bool holder = false, same_domain = false;

		for (uint32_t r = 0; r < copies; r++) {
			holder |= seg->replicas[r].target == cand;
			same_domain |= domain_of[seg->replicas[r].target] == domain_of[cand];
		}
		if (holder)
			continue;
		if (pick == UINT32_MAX)
			pick = cand;
		if (!same_domain)
			return cand;
	}
	return pick;
}

int mesh_group_initial(const struct mesh_segment *seg, uint32_t copies, const uint32_t *domain_of,
		       uint32_t targets, struct mesh_group_config *out)
{
	assert(copies >= 1 && copies <= MESH_LAYOUT_COPIES_MAX);
	*out = (struct mesh_group_config){
		.group = seg->group, .epoch = 1, .bytes = seg->bytes, .copies = (uint8_t)copies,
	};
	for (uint32_t r = 0; r < copies; r++) {
		assert(seg->replicas[r].target < targets);
		out->members[out->member_count++] = (struct mesh_group_member){
			.node = seg->replicas[r].target,
			.drive = seg->replicas[r].drive,
			.offset = seg->replicas[r].drive_offset,
			.role = MESH_MEMBER_REPLICA,
			.state = MESH_MEMBER_ACTIVE,
		};
	}
	if (copies % 2 == 0) {
		uint32_t w = witness_pick(seg, copies, domain_of, targets);

		if (w == UINT32_MAX)
			return -ENOSPC;
		out->members[out->member_count++] = (struct mesh_group_member){
			.node = w, .role = MESH_MEMBER_WITNESS, .state = MESH_MEMBER_ACTIVE,
		};
	}
	return 0;
}

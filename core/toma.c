/*
 * core/toma.c: voters, leases and proposals of the topology manager (see
 * toma.h and docs/toma.md).
 *
 * Voter state per group is a record in the metadata store, written before
 * any answer that depends on it leaves the node: a voter that answered and
 * then forgot could promise two proposers the same thing.
 *
 * Leases. A voter that granted a lease on epoch e refuses to accept a
 * higher epoch until the lease has run out on its own clock
 * (lease_until_ns); the client counts its lease from before it asked and
 * shortens it for drift (mesh_group_lease_client_end_ns), so it stops
 * using e first. Clients renew at half-life, so a voter that has promised
 * a ballot for a change stops granting (for at most two leases, in case
 * the proposer died), or renewals would postpone every change for ever.
 *
 * Proposals. Each wanted change runs as a round: prepare with a fresh
 * ballot (a counter above every ballot seen, with the node id in the low
 * bits so two nodes never share one), then propose. Messages are resent
 * on every tick until answered; a round that has not committed by its
 * deadline is abandoned and tried again after a random pause, so two
 * proposers do not keep pre-empting each other. Only the first member that
 * looks alive proposes at once; the others wait a round first.
 */
#include "core/toma.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/group.h"
#include "core/node.h"

#define TIMER_TICK MESH_TIMER_ID(MESH_ROLE_TOMA, 1)
#define TICKS_PER_ROUND 4
#define BALLOT_NODE_BITS 24
#define DURABLE_MAGIC 0x544f4d41u /* "TOMA" */
/* Nodes the heartbeat currently suspects; more than a target's peers. */
#define SUSPECTS_MAX 64u

/* The groups this node joined as a spare, stored under JOINED_KEY (above
 * any group id) so that a restart can find them. */
#define JOINED_KEY ((1ull << 62) | 1)
#define JOINED_MAGIC 0x4a4f494eu /* "JOIN" */

struct joined {
	uint32_t magic;
	uint32_t count;
	uint64_t groups[MESH_TOMA_JOINED_MAX];
};

/* What survives a crash: stored under the group id. */
struct durable {
	uint32_t magic;
	uint64_t promised;
	uint64_t accepted_ballot;
	struct mesh_group_config config;
};

enum phase {
	PHASE_IDLE,
	PHASE_PREPARE,
	PHASE_ACCEPT,
};

struct round {
	enum phase phase;
	uint64_t id;                    /* req_id of this round's messages */
	uint64_t ballot;
	uint64_t deadline_ns;
	enum mesh_group_change change;
	uint32_t node;                  /* the member the change is about */
	uint64_t only_on_epoch;         /* nonzero: build on this epoch or drop */
	bool identity;                  /* re-propose the newest configuration */
	/* Prepare: who answered, and the newest configuration among them. */
	uint32_t promised[2 * MESH_GROUP_MEMBERS_MAX];
	unsigned promise_count;
	uint64_t best_ballot;
	struct mesh_group_config best;
	/* Accept: asked of the voters of @next and of @best (they differ
	 * when the change is a REPLACE). */
	struct mesh_group_config next;
	uint32_t to[2 * MESH_GROUP_MEMBERS_MAX];
	uint64_t resend_at_ns[2 * MESH_GROUP_MEMBERS_MAX];
	unsigned to_count;
	uint32_t accepted[2 * MESH_GROUP_MEMBERS_MAX];
	unsigned accept_count;
};

struct group {
	struct durable d;
	uint64_t lease_until_ns;        /* no higher epoch before this (own clock) */
	uint64_t promise_at_ns;         /* when a ballot above the accepted one was promised */
	bool change_wanted;             /* a member's state may need to change */
	uint64_t want_since_ns;
	uint64_t not_before_ns;         /* back-off before the next round */
	uint64_t seen_ballot;           /* highest ballot another voter told of */
	bool complete;                  /* a configuration may be held by too few */
	uint64_t confirm_at_ns;         /* unsure whether what we accepted committed */
	uint64_t changed_at_ns;         /* when this node took the current epoch */
	/* Rebuild bookkeeping, in memory only (a restart forgets it, and
	 * then assumes the worst). */
	uint64_t rebuild_epoch;         /* see mesh_toma_rebuild_epoch() */
	uint32_t returning[MESH_GROUP_MEMBERS_MAX]; /* see mesh_toma_member_returning() */
	unsigned returning_count;
	uint32_t intact[MESH_GROUP_MEMBERS_MAX];    /* see config_taken() */
	unsigned intact_count;
	/* This node's replica lost writes on a failing drive: it goes stale,
	 * then a spare replaces it (memory only; the drive tells again). */
	bool drive_lost;
	uint32_t lost_drive;            /* where: a new replica elsewhere is fine */
	uint64_t lost_offset;
	bool spare_picked;              /* the spare below was taken for it */
	bool spare_warned;              /* "no spare" was said once */
	struct mesh_group_member spare;
	bool reads_any;                 /* see mesh_toma_reads_any() (memory only) */
	bool asked;                     /* a change asked with mesh_toma_request() */
	enum mesh_group_change asked_change;
	uint32_t asked_node;
	uint64_t asked_epoch;
	struct round r;
};

/* A node the heartbeat found alive again, and when. */
struct recovery {
	uint32_t node;
	uint64_t at_ns;
};

struct mesh_toma {
	const struct mesh_env *env;
	struct mesh_toma_config cfg;
	struct group **groups;          /* sorted by group id */
	uint32_t count, capacity;
	uint32_t suspects[SUSPECTS_MAX];
	uint32_t suspect_count;
	struct recovery recovered[SUSPECTS_MAX]; /* the latest, oldest overwritten */
	uint32_t recovered_next;
	uint64_t rounds;                /* makes round ids unique */
	bool tick_armed;
	struct mesh_toma_stats stats;
};

int mesh_toma_create(const struct mesh_env *env, const struct mesh_toma_config *cfg,
		     struct mesh_toma **out)
{
	struct mesh_toma *t;

	if (cfg->lease_ns < MESH_TOMA_LEASE_NS_MIN || cfg->lease_ns > MESH_TOMA_LEASE_NS_MAX) {
		mesh_log_error(env, "toma: lease %llu ns outside %llu..%llu",
			       (unsigned long long)cfg->lease_ns,
			       (unsigned long long)MESH_TOMA_LEASE_NS_MIN,
			       (unsigned long long)MESH_TOMA_LEASE_NS_MAX);
		return -EINVAL;
	}
	if (cfg->drift_ppm > MESH_GROUP_DRIFT_PPM_MAX) {
		mesh_log_error(env, "toma: drift %u ppm above %u", cfg->drift_ppm,
			       MESH_GROUP_DRIFT_PPM_MAX);
		return -EINVAL;
	}
	if (cfg->round_timeout_ns < TICKS_PER_ROUND || cfg->round_timeout_ns > MESH_TOMA_LEASE_NS_MAX) {
		mesh_log_error(env, "toma: round timeout %llu ns out of range",
			       (unsigned long long)cfg->round_timeout_ns);
		return -EINVAL;
	}
	if (!env->ops->meta_put || !env->ops->meta_get) {
		mesh_log_error(env, "toma: the environment has no metadata store; "
				    "a voter must remember its promises across restarts");
		return -EOPNOTSUPP;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->env = env;
	t->cfg = *cfg;
	*out = t;
	return 0;
}

void mesh_toma_destroy(struct mesh_toma *t)
{
	if (!t)
		return;
	if (t->tick_armed)
		mesh_env_timer_cancel(t->env, TIMER_TICK);
	for (uint32_t i = 0; i < t->count; i++)
		free(t->groups[i]);
	free(t->groups);
	free(t);
}

/* Index of the first group whose id is not below @id. */
static uint32_t lower_bound(const struct mesh_toma *t, uint64_t id)
{
	uint32_t lo = 0, hi = t->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (t->groups[mid]->d.config.group < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct group *group_find(const struct mesh_toma *t, uint64_t id)
{
	uint32_t i = lower_bound(t, id);

	return i < t->count && t->groups[i]->d.config.group == id ? t->groups[i] : NULL;
}

static bool in_list(const uint32_t *list, unsigned count, uint32_t node);
static bool spare_for(struct mesh_toma *t, struct group *g, const struct mesh_group_config *c,
		      unsigned member);
static void want(struct mesh_toma *t, struct group *g, bool complete);
static void config_taken(struct mesh_toma *t, struct group *g,
			 const struct mesh_group_config *old);

/* Whether this node is an active replica in @c. */
static bool self_active(const struct mesh_toma *t, const struct mesh_group_config *c)
{
	int self = mesh_group_member_of(c, t->env->self);

	return self >= 0 && c->members[self].role == MESH_MEMBER_REPLICA &&
	       c->members[self].state == MESH_MEMBER_ACTIVE;
}

static int persist(struct mesh_toma *t, const struct durable *d)
{
	int rc = mesh_env_meta_put(t->env, d->config.group, d, sizeof(*d));

	if (rc)
		mesh_log_error(t->env, "toma: group %llu: state not stored (%d); not answering",
			       (unsigned long long)d->config.group, rc);
	return rc;
}

/* Put @g in the sorted table. Returns 0, -ENOSPC or -ENOMEM. */
static int group_insert(struct mesh_toma *t, struct group *g)
{
	uint32_t at;

	if (t->count == MESH_TOMA_GROUPS_MAX)
		return -ENOSPC;
	if (t->count == t->capacity) {
		uint32_t cap = t->capacity ? t->capacity * 2 : 4;
		struct group **grown = realloc(t->groups, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		t->groups = grown;
		t->capacity = cap;
	}
	at = lower_bound(t, g->d.config.group);
	memmove(&t->groups[at + 1], &t->groups[at], (t->count - at) * sizeof(*t->groups));
	t->groups[at] = g;
	t->count++;
	return 0;
}

static void group_remove(struct mesh_toma *t, struct group *g)
{
	uint32_t at = lower_bound(t, g->d.config.group);

	memmove(&t->groups[at], &t->groups[at + 1], (t->count - at - 1) * sizeof(*t->groups));
	t->count--;
	free(g);
}

/* Read group @id's stored state into @g. Returns 1 when found, 0 when the
 * store has none, or the store's error (logged). */
static int stored_state(struct mesh_toma *t, uint64_t id, struct group *g)
{
	int rc = mesh_env_meta_get(t->env, id, &g->d, sizeof(g->d));

	if (rc == (int)sizeof(g->d) && g->d.magic == DURABLE_MAGIC && g->d.config.group == id)
		return 1;
	if (rc == -ENOENT)
		return 0;
	mesh_log_error(t->env, "toma: group %llu: stored state unreadable (%d)",
		       (unsigned long long)id, rc);
	return rc < 0 ? rc : -EIO;
}

/* After a restart: leases granted before the crash are forgotten, so keep
 * every one of them as if granted just now; nothing is known of the
 * group's past, so a rebuild of this node restarts. */
static void resumed(struct mesh_toma *t, struct group *g)
{
	g->lease_until_ns = mesh_env_now_ns(t->env) + t->cfg.lease_ns;
	mesh_log_info(t->env, "toma: group %llu: resumed at epoch %llu",
		      (unsigned long long)g->d.config.group, (unsigned long long)g->d.config.epoch);
	config_taken(t, g, NULL);
	want(t, g, false);
}

int mesh_toma_group_add(struct mesh_toma *t, const struct mesh_group_config *initial)
{
	struct group *g;
	const char *why;
	int rc, found;

	if (mesh_group_check(initial, &why)) {
		mesh_log_error(t->env, "toma: group %llu: invalid configuration: %s",
			       (unsigned long long)initial->group, why);
		return -EINVAL;
	}
	if (mesh_group_member_of(initial, t->env->self) < 0) {
		mesh_log_error(t->env, "toma: group %llu: node %u is not a member",
			       (unsigned long long)initial->group, t->env->self);
		return -EINVAL;
	}
	if (group_find(t, initial->group))
		return -EEXIST;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	found = stored_state(t, initial->group, g);
	rc = found < 0 ? found : 0;
	if (found == 0) {
		g->d = (struct durable){ .magic = DURABLE_MAGIC, .config = *initial };
		rc = persist(t, &g->d);
	}
	if (rc == 0)
		rc = group_insert(t, g);
	if (rc) {
		free(g);
		return rc;
	}
	if (found)
		resumed(t, g);
	else
		g->reads_any = self_active(t, &g->d.config); /* every copy starts alike */
	return 0;
}

int mesh_toma_resume_joined(struct mesh_toma *t)
{
	struct joined j;
	int rc = mesh_env_meta_get(t->env, JOINED_KEY, &j, sizeof(j));

	if (rc == -ENOENT)
		return 0;
	if (rc != (int)sizeof(j) || j.magic != JOINED_MAGIC || j.count > MESH_TOMA_JOINED_MAX) {
		mesh_log_error(t->env, "toma: list of joined groups unreadable (%d)", rc);
		return rc < 0 ? rc : -EIO;
	}
	for (uint32_t i = 0; i < j.count; i++) {
		struct group *g;

		if (group_find(t, j.groups[i]))
			continue;
		g = calloc(1, sizeof(*g));
		if (!g)
			return -ENOMEM;
		rc = stored_state(t, j.groups[i], g);
		if (rc == 0) {
			free(g); /* its join was refused before anything was stored */
			continue;
		}
		rc = rc == 1 ? group_insert(t, g) : rc;
		if (rc) {
			free(g);
			return rc;
		}
		resumed(t, g);
	}
	return 0;
}

/* Note group @id in the list of joined groups, before this node answers
 * as one of its voters. */
static int joined_add(struct mesh_toma *t, uint64_t id)
{
	struct joined j;
	int rc = mesh_env_meta_get(t->env, JOINED_KEY, &j, sizeof(j));

	if (rc == -ENOENT)
		j = (struct joined){ .magic = JOINED_MAGIC };
	else if (rc != (int)sizeof(j) || j.magic != JOINED_MAGIC)
		return rc < 0 ? rc : -EIO;
	for (uint32_t i = 0; i < j.count; i++) {
		if (j.groups[i] == id)
			return 0;
	}
	if (j.count == MESH_TOMA_JOINED_MAX)
		return -ENOSPC;
	j.groups[j.count++] = id;
	return mesh_env_meta_put(t->env, JOINED_KEY, &j, sizeof(j));
}

/* A proposal names this node in group @c->group, which it does not vote
 * in: it is the spare of a REPLACE. Join with nothing promised or
 * accepted and an empty past, so that the configuration it accepts next
 * reads as a step that makes it rebuilding (config_taken). NULL when the
 * proposal is not for it or the group cannot be joined (logged). */
static struct group *group_join(struct mesh_toma *t, const struct mesh_group_config *c)
{
	struct group *g;
	const char *why;
	int rc;

	if (mesh_group_check(c, &why) || mesh_group_member_of(c, t->env->self) < 0 || c->epoch < 2)
		return NULL;
	rc = joined_add(t, c->group);
	g = rc ? NULL : calloc(1, sizeof(*g));
	if (g) {
		g->d = (struct durable){
			.magic = DURABLE_MAGIC,
			.config = { .group = c->group, .epoch = c->epoch - 1 },
		};
		rc = group_insert(t, g);
		if (rc) {
			free(g);
			g = NULL;
		}
	}
	if (!g)
		mesh_log_warn(t->env, "toma: group %llu: cannot join as a spare (%d)",
			      (unsigned long long)c->group, rc ? rc : -ENOMEM);
	else
		mesh_log_info(t->env, "toma: group %llu: joining as a spare at epoch %llu",
			      (unsigned long long)c->group, (unsigned long long)c->epoch);
	return g;
}

bool mesh_toma_drive_failed(struct mesh_toma *t, uint64_t group)
{
	struct group *g = group_find(t, group);
	int self = g ? mesh_group_member_of(&g->d.config, t->env->self) : -1;
	unsigned others = 0;

	if (self < 0 || g->d.config.members[self].role != MESH_MEMBER_REPLICA)
		return false;
	g->reads_any = false;
	if (g->drive_lost)
		return true;
	for (unsigned i = 0; i < g->d.config.member_count; i++) {
		const struct mesh_group_member *m = &g->d.config.members[i];

		others += (int)i != self && m->role == MESH_MEMBER_REPLICA &&
			  m->state == MESH_MEMBER_ACTIVE;
	}
	if (!others)
		return false; /* the only copy: its errors go to the client, as a disk's */
	mesh_log_warn(t->env, "toma: group %llu: the drive of this node's replica failed; "
			      "marking it stale%s", (unsigned long long)group,
		      t->cfg.pick_spare ? " and replacing it with a spare" : "");
	g->drive_lost = true;
	g->lost_drive = g->d.config.members[self].drive;
	g->lost_offset = g->d.config.members[self].offset;
	want(t, g, false);
	return true;
}

const struct mesh_group_config *mesh_toma_config_of(const struct mesh_toma *t, uint64_t group)
{
	const struct group *g = group_find(t, group);

	return g ? &g->d.config : NULL;
}

void mesh_toma_stats(const struct mesh_toma *t, struct mesh_toma_stats *out)
{
	*out = t->stats;
}

static bool suspected(const struct mesh_toma *t, uint32_t node)
{
	for (uint32_t i = 0; i < t->suspect_count; i++) {
		if (t->suspects[i] == node)
			return true;
	}
	return false;
}

/* A quarter of the shorter of a round and a lease: a deferred accept is
 * retried soon after the lease it waited for ends, however long rounds may
 * run. */
static void arm_tick(struct mesh_toma *t)
{
	uint64_t span = t->cfg.round_timeout_ns < t->cfg.lease_ns ? t->cfg.round_timeout_ns
								   : t->cfg.lease_ns;

	mesh_env_timer_arm_once(t->env, TIMER_TICK, &t->tick_armed, span / TICKS_PER_ROUND);
}

/* Where @m sits in @c (same node, drive and offset), or -1. */
static int same_place(const struct mesh_group_config *c, const struct mesh_group_member *m)
{
	for (unsigned i = 0; i < c->member_count; i++) {
		const struct mesh_group_member *o = &c->members[i];

		if (o->node == m->node && o->drive == m->drive && o->offset == m->offset &&
		    o->role == m->role)
			return (int)i;
	}
	return -1;
}


/* This node took configuration g->d.config after @old (NULL: resumed after
 * a restart): note what a rebuild needs to know about the step, and tell
 * the node. Where the step is not understood the worst is assumed: a full
 * copy, and a rebuilding member that starts its rebuild again.
 *
 * A replica is intact when it holds every write but those in its peers'
 * dirty regions: it is active, or it left active (or left while returning)
 * and has stayed at the same place, epoch by epoch, since. Only an intact
 * replica that starts rebuilding is returning: a spare, or one that left
 * in the middle of a whole-segment copy, is not. */
static void config_taken(struct mesh_toma *t, struct group *g, const struct mesh_group_config *old)
{
	const struct mesh_group_config *c = &g->d.config;
	bool step = old && c->epoch == old->epoch + 1;
	unsigned returning = 0, intact = 0;
	uint32_t kept[MESH_GROUP_MEMBERS_MAX], whole[MESH_GROUP_MEMBERS_MAX];

	g->changed_at_ns = mesh_env_now_ns(t->env);
	/* Off for good once this replica may have missed a write: an epoch
	 * skipped, or one where it was not active. */
	if (!step || !self_active(t, old) || !self_active(t, c))
		g->reads_any = false;
	for (unsigned i = 0; i < c->member_count; i++) {
		const struct mesh_group_member *m = &c->members[i];
		int was = step ? same_place(old, m) : -1;
		uint8_t before = was >= 0 ? old->members[was].state : 0;
		bool was_intact = in_list(g->intact, g->intact_count, m->node);
		bool was_returning = in_list(g->returning, g->returning_count, m->node);
		bool now_intact = false;

		if (m->role != MESH_MEMBER_REPLICA)
			continue;
		if (m->state == MESH_MEMBER_ACTIVE || before == MESH_MEMBER_ACTIVE)
			now_intact = true;
		else if (before == MESH_MEMBER_STALE)
			now_intact = was_intact;
		else if (before == MESH_MEMBER_REBUILDING)
			now_intact = was_returning;
		if (now_intact)
			whole[intact++] = m->node;
		if (m->state != MESH_MEMBER_REBUILDING)
			continue;
		if (m->node == t->env->self) {
			/* This node takes client writes only under epochs it
			 * holds, so if the last one it held did not have it
			 * rebuilding, every write of this rebuild is still to
			 * come. Two rebuilding epochs apart may hide a rebuild
			 * that ended and began again: start afresh then. */
			int held = old ? same_place(old, m) : -1;

			if (old && (held < 0 || old->members[held].state != MESH_MEMBER_REBUILDING))
				g->rebuild_epoch = c->epoch;
			else if (!step)
				g->rebuild_epoch = 0;
		}
		if (now_intact)
			kept[returning++] = m->node;
	}
	int self = mesh_group_member_of(c, t->env->self);

	if (self < 0 || c->members[self].state != MESH_MEMBER_REBUILDING)
		g->rebuild_epoch = 0;
	/* Replaced, or back as a spare on another drive: nothing is lost. */
	if (self < 0 || c->members[self].drive != g->lost_drive ||
	    c->members[self].offset != g->lost_offset)
		g->drive_lost = g->spare_warned = false;
	memcpy(g->returning, kept, returning * sizeof(*kept));
	g->returning_count = returning;
	memcpy(g->intact, whole, intact * sizeof(*whole));
	g->intact_count = intact;
	if (t->cfg.on_config)
		t->cfg.on_config(t->cfg.arg, c);
}

/* ---- the voter ---- */

static int vote_prepare(struct mesh_toma *t, struct group *g, uint64_t ballot)
{
	struct durable d = g->d;

	if (ballot == 0)
		return 0; /* a plain read promises nothing */
	if (ballot < g->d.promised)
		return -ESTALE;
	if (ballot == g->d.promised) {
		/* The same proposer asking again: it is alive, keep holding
		 * leases back for it. */
		if (ballot > g->d.accepted_ballot)
			g->promise_at_ns = mesh_env_now_ns(t->env);
		return 0;
	}
	d.promised = ballot;
	if (persist(t, &d))
		return -EIO;
	g->d = d;
	g->promise_at_ns = mesh_env_now_ns(t->env);
	return 0;
}

static int vote_accept(struct mesh_toma *t, struct group *g, uint64_t ballot,
		       const struct mesh_group_config *c, uint64_t *retry_ns)
{
	uint64_t now = mesh_env_now_ns(t->env);
	struct durable d = g->d;
	const char *why;

	*retry_ns = 0;
	if (ballot < g->d.promised)
		return -ESTALE;
	if (c->group != g->d.config.group || mesh_group_check(c, &why))
		return -EINVAL;
	if (c->epoch > g->d.config.epoch && now < g->lease_until_ns) {
		t->stats.accepts_deferred++;
		*retry_ns = g->lease_until_ns - now;
		/* Grant no more leases while this proposer waits, or renewals
		 * would push the change back for ever. Asking to accept
		 * implies the prepare: promise the ballot if not yet done. */
		if (ballot > g->d.promised) {
			d.promised = ballot;
			if (persist(t, &d))
				return -EIO;
			g->d = d;
		}
		g->promise_at_ns = now;
		mesh_log_debug(t->env, "toma: group %llu: epoch %llu deferred %llu ns for leases",
			       (unsigned long long)c->group, (unsigned long long)c->epoch,
			       (unsigned long long)*retry_ns);
		return -EBUSY;
	}
	d.promised = ballot;
	d.accepted_ballot = ballot;
	d.config = *c;
	if (persist(t, &d))
		return -EIO;
	if (d.config.epoch == g->d.config.epoch) {
		g->d = d;
		if (!self_active(t, c))
			g->reads_any = false;
		return 0;
	}
	mesh_log_info(t->env, "toma: group %llu: accepted epoch %llu",
		      (unsigned long long)c->group, (unsigned long long)c->epoch);
	struct mesh_group_config old = g->d.config;

	g->d = d;
	config_taken(t, g, &old);
	return 0;
}

/* A voter that promised a ballot for a change stops renewing leases, for
 * at most two leases in case its proposer died. */
static bool change_pending(const struct mesh_toma *t, const struct group *g)
{
	return g->d.promised > g->d.accepted_ballot &&
	       mesh_env_now_ns(t->env) - g->promise_at_ns < 2 * t->cfg.lease_ns;
}

static int vote_lease(struct mesh_toma *t, struct group *g, uint64_t asked_ns,
		      uint64_t *granted_ns)
{
	uint64_t now = mesh_env_now_ns(t->env);
	uint64_t lease = asked_ns < t->cfg.lease_ns ? asked_ns : t->cfg.lease_ns;

	if (mesh_group_member_of(&g->d.config, t->env->self) < 0)
		return -ENOENT; /* replaced: the members grant */
	/* A replica on a failed drive serves nothing more under this epoch. */
	if (change_pending(t, g) || g->drive_lost)
		return -EBUSY;
	if (now + lease > g->lease_until_ns)
		g->lease_until_ns = now + lease;
	*granted_ns = lease;
	return 0;
}

static void send_msg(struct mesh_toma *t, uint32_t dst, const struct mesh_msg *m)
{
	uint8_t buf[MESH_PROTO_PREFIX_MAX];
	int n = mesh_proto_encode(m, buf, sizeof(buf));
	struct mesh_iov iov = { buf, n > 0 ? (size_t)n : 0 };

	if (n < 0) {
		mesh_log_error(t->env, "toma: cannot encode %s: %d",
			       mesh_proto_type_name(m->hdr.type), n);
		return;
	}
	n = mesh_env_send(t->env, dst, &iov, 1);
	if (n)
		mesh_log_debug(t->env, "toma: %s to node %u not sent: %d",
			       mesh_proto_type_name(m->hdr.type), dst, n);
}

static void on_config_read(struct mesh_toma *t, uint32_t src, const struct mesh_msg *m)
{
	struct group *g = group_find(t, m->u.config_read.group);
	struct mesh_msg r = {
		.hdr = { .type = MESH_MSG_CONFIG_REPLY, .req_id = m->hdr.req_id },
		.u.config_reply.status = -ENOENT,
	};

	if (g) {
		r.u.config_reply.status = vote_prepare(t, g, m->u.config_read.ballot);
		r.u.config_reply.promised = g->d.promised;
		r.u.config_reply.accepted_ballot = g->d.accepted_ballot;
		r.u.config_reply.config = g->d.config;
		r.hdr.epoch = g->d.config.epoch;
	}
	send_msg(t, src, &r);
}

static void on_config_propose(struct mesh_toma *t, uint32_t src, const struct mesh_msg *m)
{
	const struct mesh_msg_config_propose *p = &m->u.config_propose;
	struct group *g = group_find(t, p->config.group);
	struct mesh_msg r = {
		.hdr = { .type = MESH_MSG_CONFIG_ACCEPT, .req_id = m->hdr.req_id },
		.u.config_accept = { .group = p->config.group, .ballot = p->ballot,
				     .status = -ENOENT },
	};
	bool joined = false;

	if (!g && (g = group_join(t, &p->config)))
		joined = true;
	if (g) {
		uint64_t epoch = g->d.config.epoch;

		r.u.config_accept.status = vote_accept(t, g, p->ballot, &p->config,
						       &r.u.config_accept.retry_ns);
		if (joined && r.u.config_accept.status) {
			/* Not stored: leave no trace of the group. */
			group_remove(t, g);
			send_msg(t, src, &r);
			return;
		}
		/* We cannot tell whether the proposer will see the rest of
		 * the votes. If no client comes with the new epoch (which it
		 * learns only from a decided lease, so only once committed)
		 * within two rounds, finish the configuration ourselves. */
		if (r.u.config_accept.status == 0 && g->d.config.epoch != epoch) {
			g->confirm_at_ns = mesh_env_now_ns(t->env) + 2 * t->cfg.round_timeout_ns;
			arm_tick(t);
		}
		r.u.config_accept.epoch = g->d.config.epoch;
		r.hdr.epoch = g->d.config.epoch;
	}
	send_msg(t, src, &r);
}

static void on_lease_request(struct mesh_toma *t, uint32_t src, const struct mesh_msg *m)
{
	const struct mesh_msg_lease_request *q = &m->u.lease_request;
	struct group *g = group_find(t, q->group);
	struct mesh_msg r = {
		.hdr = { .type = MESH_MSG_LEASE_GRANT, .req_id = m->hdr.req_id },
		.u.lease_grant = { .group = q->group, .status = -ENOENT },
	};

	if (g) {
		int rc = vote_lease(t, g, q->duration_ns, &r.u.lease_grant.lease_ns);

		if (m->hdr.epoch == g->d.config.epoch)
			g->confirm_at_ns = 0; /* a client decided on it: committed */

		r.u.lease_grant.status = rc;
		if (rc == 0) {
			t->stats.leases_granted++;
			r.u.lease_grant.ballot = g->d.accepted_ballot;
			r.u.lease_grant.config = g->d.config;
		} else {
			t->stats.leases_refused++;
		}
		r.hdr.epoch = g->d.config.epoch;
	}
	send_msg(t, src, &r);
}

/* ---- the proposer ---- */

static uint32_t group_index(const struct mesh_toma *t, const struct group *g)
{
	return lower_bound(t, g->d.config.group);
}

/* When the heartbeat last found @node alive again; 0 if it did not lately
 * (the table keeps the latest SUSPECTS_MAX recoveries). */
static uint64_t alive_since(const struct mesh_toma *t, uint32_t node)
{
	uint64_t at = 0;

	for (uint32_t i = 0; i < SUSPECTS_MAX; i++) {
		if (t->recovered[i].node == node && t->recovered[i].at_ns > at)
			at = t->recovered[i].at_ns;
	}
	return at;
}

/*
 * The change @g needs now, if any, most urgent first:
 *   1. a replica taking writes that the heartbeat suspects goes stale;
 *   2. so does this node, when rebuilding without knowing since when (it
 *      restarted): client writes it took before are not marked fresh, so
 *      a copy could undo them; a new rebuild starts clean;
 *   3. a change asked for with mesh_toma_request(), on its epoch;
 *   4. a stale replica this node's heartbeat saw come back starts
 *      rebuilding, once it has been heard for a round and the group has
 *      held its epoch for one (a flapping link does not churn epochs).
 *      Only a node that watched it return proposes this: one that never
 *      lost it (an asymmetric cut) cannot tell whether it is reachable.
 * First of all, this node's own replica on a drive that failed goes stale,
 * and then (with a spare picker) is replaced.
 * @expect_epoch is set for 3 (0 otherwise).
 */
static bool change_needed(const struct mesh_toma *t, const struct group *g,
			  enum mesh_group_change *change, uint32_t *node, uint64_t *expect_epoch)
{
	const struct mesh_group_config *c = &g->d.config;
	uint64_t now = mesh_env_now_ns(t->env);
	uint64_t wait = t->cfg.round_timeout_ns;
	int self = mesh_group_member_of(c, t->env->self);

	*expect_epoch = 0;
	if (self < 0)
		return false;
	if (g->drive_lost) {
		const struct mesh_group_member *mb = &c->members[self];

		*node = t->env->self;
		if (mesh_group_member_writable(mb)) {
			*change = MESH_GROUP_MARK_STALE;
			return true;
		}
		if (mb->state == MESH_MEMBER_STALE && t->cfg.pick_spare) {
			*change = MESH_GROUP_REPLACE;
			return true;
		}
	}
	for (unsigned i = 0; i < c->member_count; i++) {
		const struct mesh_group_member *mb = &c->members[i];

		if (mesh_group_member_writable(mb) &&
		    (suspected(t, mb->node) ||
		     (mb->node == t->env->self && mb->state == MESH_MEMBER_REBUILDING &&
		      !g->rebuild_epoch))) {
			*change = MESH_GROUP_MARK_STALE;
			*node = mb->node;
			return true;
		}
	}
	if (g->asked && g->asked_epoch == c->epoch) {
		*change = g->asked_change;
		*node = g->asked_node;
		*expect_epoch = g->asked_epoch;
		return true;
	}
	for (unsigned i = 0; i < c->member_count; i++) {
		const struct mesh_group_member *mb = &c->members[i];
		uint64_t back = alive_since(t, mb->node);

		if (mb->role == MESH_MEMBER_REPLICA && mb->state == MESH_MEMBER_STALE &&
		    !suspected(t, mb->node) && back && now - back >= wait &&
		    now - g->changed_at_ns >= wait) {
			*change = MESH_GROUP_START_REBUILD;
			*node = mb->node;
			return true;
		}
	}
	return false;
}

/* Whether a stale replica of @c came back and may soon start rebuilding:
 * the manager keeps ticking until it does. */
static bool stale_came_back(const struct mesh_toma *t, const struct mesh_group_config *c)
{
	if (mesh_group_member_of(c, t->env->self) < 0)
		return false;
	for (unsigned i = 0; i < c->member_count; i++) {
		const struct mesh_group_member *mb = &c->members[i];

		if (mb->role == MESH_MEMBER_REPLICA && mb->state == MESH_MEMBER_STALE &&
		    !suspected(t, mb->node) && alive_since(t, mb->node))
			return true;
	}
	return false;
}

/* The first member this node believes alive proposes without waiting. A
 * stale replica is passed over: it may hold an old configuration (it
 * missed the epoch that made it stale) and could not see the change. */
static bool first_alive(const struct mesh_toma *t, const struct mesh_group_config *c)
{
	for (unsigned i = 0; i < c->member_count; i++) {
		if (!suspected(t, c->members[i].node) && c->members[i].state != MESH_MEMBER_STALE)
			return c->members[i].node == t->env->self;
	}
	return false;
}

static void send_prepare(struct mesh_toma *t, struct group *g, uint32_t dst)
{
	struct mesh_msg m = {
		.hdr = { .type = MESH_MSG_CONFIG_READ, .req_id = g->r.id },
		.u.config_read = { .group = g->d.config.group, .ballot = g->r.ballot },
	};

	send_msg(t, dst, &m);
}

static void send_propose(struct mesh_toma *t, struct group *g, uint32_t dst)
{
	struct mesh_msg m = {
		.hdr = { .type = MESH_MSG_CONFIG_PROPOSE, .req_id = g->r.id },
		.u.config_propose = { .ballot = g->r.ballot, .config = g->r.next },
	};

	send_msg(t, dst, &m);
}

static bool in_list(const uint32_t *list, unsigned count, uint32_t node)
{
	for (unsigned i = 0; i < count; i++) {
		if (list[i] == node)
			return true;
	}
	return false;
}

static void round_end(struct mesh_toma *t, struct group *g, bool backoff)
{
	uint64_t now = mesh_env_now_ns(t->env);

	g->r.phase = PHASE_IDLE;
	if (backoff) {
		t->stats.aborts++;
		g->not_before_ns = now + mesh_env_random(t->env) % t->cfg.round_timeout_ns;
	}
}

static void prepare_reply(struct mesh_toma *t, struct group *g, uint32_t src, uint64_t ballot,
			  const struct mesh_group_config *c);
static void accept_reply(struct mesh_toma *t, struct group *g, uint32_t src, int status,
			 uint64_t retry_ns);

static void round_start(struct mesh_toma *t, struct group *g)
{
	uint64_t now = mesh_env_now_ns(t->env);
	uint64_t top = g->d.promised > g->d.accepted_ballot ? g->d.promised : g->d.accepted_ballot;

	if (g->seen_ballot > top)
		top = g->seen_ballot;
	struct round *r = &g->r;

	memset(r, 0, sizeof(*r));
	r->phase = PHASE_PREPARE;
	r->id = ((uint64_t)group_index(t, g) << 32) | (uint32_t)++t->rounds;
	r->ballot = (((top >> BALLOT_NODE_BITS) + 1) << BALLOT_NODE_BITS) |
		    (t->env->self & ((1u << BALLOT_NODE_BITS) - 1));
	r->deadline_ns = now + t->cfg.round_timeout_ns;
	if (mesh_group_member_of(&g->d.config, t->env->self) < 0) {
		/* Replaced: the group is the new members' business now. */
		g->change_wanted = g->complete = false;
		r->phase = PHASE_IDLE;
		return;
	}
	if (!change_needed(t, g, &r->change, &r->node, &r->only_on_epoch)) {
		g->change_wanted = false;
		if (!g->complete) {
			r->phase = PHASE_IDLE;
			return;
		}
		r->identity = true;
	}
	if (!r->identity && r->change == MESH_GROUP_REPLACE) {
		/* Find the spare before asking for promises: a promise holds
		 * the voters' leases back, and a group waiting for a spare
		 * must go on serving. */
		int member = mesh_group_member_of(&g->d.config, r->node);

		if (member < 0 || !spare_for(t, g, &g->d.config, (unsigned)member)) {
			round_end(t, g, true);
			return;
		}
	}
	t->stats.proposals++;
	mesh_log_debug(t->env, "toma: group %llu: round %s node %u, ballot %#llx",
		       (unsigned long long)g->d.config.group,
		       r->identity ? "completing" : mesh_group_change_name(r->change), r->node,
		       (unsigned long long)r->ballot);
	for (unsigned i = 0; i < g->d.config.member_count && r->phase == PHASE_PREPARE; i++) {
		uint32_t node = g->d.config.members[i].node;

		if (node != t->env->self)
			send_prepare(t, g, node);
		else if (vote_prepare(t, g, r->ballot) == 0)
			prepare_reply(t, g, node, g->d.accepted_ballot, &g->d.config);
		else
			round_end(t, g, true);
	}
}

/* The spare for a REPLACE of @member of @c: the one picked before, while
 * it is still not in the group (a retried round keeps its space), else a
 * new one from placement. */
static bool spare_for(struct mesh_toma *t, struct group *g, const struct mesh_group_config *c,
		      unsigned member)
{
	int rc;

	if (g->spare_picked && mesh_group_member_of(c, g->spare.node) < 0)
		return true;
	g->spare_picked = false;
	rc = t->cfg.pick_spare ? t->cfg.pick_spare(t->cfg.arg, c, member, &g->spare) : -ENOSPC;
	if (rc) {
		/* -EAGAIN: placement could not be asked (the management
		 * service is away); tried again each round, so said quietly. */
		if (rc == -EAGAIN || g->spare_warned)
			mesh_log_debug(t->env, "toma: group %llu: no spare yet (%d)",
				       (unsigned long long)c->group, rc);
		else
			mesh_log_warn(t->env, "toma: group %llu: no spare for node %u's replica "
					      "(%d); it stays stale until one fits",
				      (unsigned long long)c->group, c->members[member].node, rc);
		g->spare_warned |= rc != -EAGAIN;
		return false;
	}
	mesh_log_info(t->env, "toma: group %llu: spare for node %u is node %u drive %u at %llu",
		      (unsigned long long)c->group, c->members[member].node, g->spare.node,
		      g->spare.drive, (unsigned long long)g->spare.offset);
	g->spare_picked = true;
	return true;
}

static void add_target(struct round *r, uint32_t node)
{
	if (!in_list(r->to, r->to_count, node))
		r->to[r->to_count++] = node;
}

/* A majority of the newest configuration's voters promised: build the
 * next configuration on it and ask every voter of both to accept. */
static void accept_start(struct mesh_toma *t, struct group *g)
{
	struct round *r = &g->r;
	const char *why = NULL;
	int member;

	if (r->identity) {
		r->next = r->best;
	} else {
		member = mesh_group_member_of(&r->best, r->node);
		if (r->only_on_epoch && r->best.epoch != r->only_on_epoch)
			member = -1, why = "asked on another epoch";
		if (member >= 0 && r->change == MESH_GROUP_REPLACE &&
		    r->best.members[member].state == MESH_MEMBER_STALE &&
		    !spare_for(t, g, &r->best, (unsigned)member)) {
			round_end(t, g, true);
			return;
		}
		if (member < 0 || mesh_group_change(&r->best, r->change, (unsigned)member,
						    g->spare.node, g->spare.drive,
						    g->spare.offset, &r->next, &why)) {
			/* Someone else already made the change, or it no longer
			 * applies. */
			mesh_log_debug(t->env, "toma: group %llu: change dropped: %s",
				       (unsigned long long)g->d.config.group, why ? why : "not a member");
			if (r->best.epoch <= g->d.config.epoch) {
				round_end(t, g, false);
				return;
			}
			/* The group moved on without this node: take the newest
			 * configuration (finishing it), then look again. Else
			 * the same change would be asked for ever, and every
			 * ask holds the voters' leases back. */
			r->identity = true;
			r->next = r->best;
		}
	}
	r->phase = PHASE_ACCEPT;
	r->to_count = 0;
	for (unsigned i = 0; i < r->next.member_count; i++)
		add_target(r, r->next.members[i].node);
	for (unsigned i = 0; i < r->best.member_count; i++)
		add_target(r, r->best.members[i].node);
	for (unsigned i = 0; i < r->to_count && r->phase == PHASE_ACCEPT; i++) {
		uint64_t retry = 0;

		if (r->to[i] != t->env->self) {
			send_propose(t, g, r->to[i]);
			continue;
		}
		accept_reply(t, g, r->to[i], vote_accept(t, g, r->ballot, &r->next, &retry), retry);
	}
}

static void prepare_reply(struct mesh_toma *t, struct group *g, uint32_t src, uint64_t ballot,
			  const struct mesh_group_config *c)
{
	struct round *r = &g->r;

	if (in_list(r->promised, r->promise_count, src) ||
	    (mesh_group_member_of(&g->d.config, src) < 0 &&
	     (!r->promise_count || mesh_group_member_of(&r->best, src) < 0)))
		return;
	r->promised[r->promise_count++] = src;
	if (r->promise_count == 1 || ballot > r->best_ballot ||
	    (ballot == r->best_ballot && c->epoch > r->best.epoch)) {
		r->best_ballot = ballot;
		r->best = *c;
		/* A newer configuration with other voters (a spare joined):
		 * they must promise too. */
		for (unsigned i = 0; i < c->member_count; i++) {
			uint32_t node = c->members[i].node;

			if (node != t->env->self && mesh_group_member_of(&g->d.config, node) < 0 &&
			    !in_list(r->promised, r->promise_count, node))
				send_prepare(t, g, node);
		}
	}
	if (mesh_group_majority_of(&r->best, r->promised, r->promise_count))
		accept_start(t, g);
}

static void accept_reply(struct mesh_toma *t, struct group *g, uint32_t src, int status,
			 uint64_t retry_ns)
{
	struct round *r = &g->r;
	int to = -1;

	for (unsigned i = 0; i < r->to_count && to < 0; i++)
		to = r->to[i] == src ? (int)i : -1;
	if (to < 0 || in_list(r->accepted, r->accept_count, src))
		return;
	if (status == -EBUSY) {
		r->resend_at_ns[to] = mesh_env_now_ns(t->env) + retry_ns;
		return;
	}
	if (status) {
		mesh_log_debug(t->env, "toma: group %llu: node %u refused ballot %#llx: %d",
			       (unsigned long long)g->d.config.group, src,
			       (unsigned long long)r->ballot, status);
		round_end(t, g, true);
		return;
	}
	r->accepted[r->accept_count++] = src;
	if (!mesh_group_committed(&r->next, r->accepted, r->accept_count) ||
	    !mesh_group_majority_of(&r->best, r->accepted, r->accept_count))
		return;
	t->stats.commits++;
	t->stats.replacements += !r->identity && r->change == MESH_GROUP_REPLACE;
	mesh_log_info(t->env, "toma: group %llu: epoch %llu committed%s",
		      (unsigned long long)r->next.group, (unsigned long long)r->next.epoch,
		      r->identity ? " (completed)" : "");
	/* Any commit carries the newest accepted configuration forward. */
	g->complete = false;
	g->confirm_at_ns = 0;
	round_end(t, g, false);
}

/* Resend what is unanswered; give up rounds past their deadline. */
static void round_tick(struct mesh_toma *t, struct group *g, uint64_t now)
{
	struct round *r = &g->r;

	if (now >= r->deadline_ns) {
		mesh_log_debug(t->env, "toma: group %llu: round timed out",
			       (unsigned long long)g->d.config.group);
		/* Voters may hold this round's configuration: finish it. */
		bool partial = r->phase == PHASE_ACCEPT && r->accept_count > 0;

		if (r->phase == PHASE_ACCEPT && r->change == MESH_GROUP_REPLACE)
			g->spare_picked = false; /* the spare may be gone: pick again */

		round_end(t, g, true);
		if (partial)
			want(t, g, true);
		return;
	}
	if (r->phase == PHASE_PREPARE) {
		for (unsigned i = 0; i < g->d.config.member_count; i++) {
			uint32_t node = g->d.config.members[i].node;

			if (!in_list(r->promised, r->promise_count, node))
				send_prepare(t, g, node);
		}
		for (unsigned i = 0; r->promise_count && i < r->best.member_count; i++) {
			uint32_t node = r->best.members[i].node;

			if (mesh_group_member_of(&g->d.config, node) < 0 &&
			    !in_list(r->promised, r->promise_count, node))
				send_prepare(t, g, node);
		}
		return;
	}
	for (unsigned i = 0; i < r->to_count && r->phase == PHASE_ACCEPT; i++) {
		uint32_t node = r->to[i];
		uint64_t retry = 0;

		if (in_list(r->accepted, r->accept_count, node) || now < r->resend_at_ns[i])
			continue;
		if (node != t->env->self)
			send_propose(t, g, node);
		else
			accept_reply(t, g, node, vote_accept(t, g, r->ballot, &r->next, &retry),
				     retry);
	}
}

static void group_tick(struct mesh_toma *t, struct group *g, uint64_t now)
{
	if (g->confirm_at_ns && now >= g->confirm_at_ns) {
		g->confirm_at_ns = 0;
		want(t, g, true);
	}
	if (g->r.phase != PHASE_IDLE) {
		round_tick(t, g, now);
		return;
	}
	if (!g->change_wanted && !g->complete) {
		enum mesh_group_change change;
		uint32_t who;
		uint64_t epoch;

		/* A stale member may have been heard long enough by now. */
		if (!change_needed(t, g, &change, &who, &epoch))
			return;
		want(t, g, false);
	}
	if (now < g->not_before_ns)
		return;
	/* Give the first live member a round to act before stepping in,
	 * unless the change was asked of this node (by its resync). */
	bool asked = (g->asked && g->asked_epoch == g->d.config.epoch) || g->drive_lost;

	if (!asked && !first_alive(t, &g->d.config) &&
	    now - g->want_since_ns < t->cfg.round_timeout_ns)
		return;
	round_start(t, g);
}

static bool busy(const struct mesh_toma *t, const struct group *g)
{
	enum mesh_group_change change;
	uint32_t who;
	uint64_t epoch;

	return g->change_wanted || g->complete || g->r.phase != PHASE_IDLE || g->confirm_at_ns ||
	       stale_came_back(t, &g->d.config) ||
	       (g->drive_lost && change_needed(t, g, &change, &who, &epoch));
}

void mesh_toma_on_timer(struct mesh_toma *t, uint32_t timer_id)
{
	uint64_t now = mesh_env_now_ns(t->env);
	bool more = false;

	if (timer_id != TIMER_TICK) {
		mesh_log_warn(t->env, "toma: unknown timer %#x", timer_id);
		return;
	}
	t->tick_armed = false;
	for (uint32_t i = 0; i < t->count; i++) {
		group_tick(t, t->groups[i], now);
		more |= busy(t, t->groups[i]);
	}
	if (more)
		arm_tick(t);
}

/* Ask for a round: a change (@complete false) or finishing a configuration
 * that too few voters may hold (@complete true). A change round also
 * finishes one, since it builds on the newest accepted configuration. */
static void want(struct mesh_toma *t, struct group *g, bool complete)
{
	if (!g->change_wanted && !g->complete)
		g->want_since_ns = mesh_env_now_ns(t->env);
	if (complete)
		g->complete = true;
	else
		g->change_wanted = true;
	arm_tick(t);
}

void mesh_toma_on_peer_change(struct mesh_toma *t, uint32_t node, bool alive)
{
	if (alive) {
		for (uint32_t i = 0; i < t->suspect_count; i++) {
			if (t->suspects[i] == node)
				t->suspects[i] = t->suspects[--t->suspect_count];
		}
		t->recovered[t->recovered_next] = (struct recovery){
			.node = node, .at_ns = mesh_env_now_ns(t->env),
		};
		t->recovered_next = (t->recovered_next + 1) % SUSPECTS_MAX;
		/* Groups where it is stale start rebuilding after a round. */
		for (uint32_t i = 0; i < t->count; i++) {
			if (stale_came_back(t, &t->groups[i]->d.config)) {
				arm_tick(t);
				break;
			}
		}
		return;
	}
	if (!suspected(t, node) && t->suspect_count < SUSPECTS_MAX)
		t->suspects[t->suspect_count++] = node;
	for (uint32_t i = 0; i < t->count; i++) {
		struct group *g = t->groups[i];
		enum mesh_group_change change;
		uint32_t who;
		uint64_t epoch;

		if (change_needed(t, g, &change, &who, &epoch))
			want(t, g, false);
	}
}

int mesh_toma_io_check(struct mesh_toma *t, uint64_t group, uint64_t epoch, uint8_t op,
		       uint64_t *current, const struct mesh_group_config **config)
{
	struct group *g = group_find(t, group);
	const struct mesh_group_member *self;
	int member;

	if (!g)
		return -ENOENT;
	*current = g->d.config.epoch;
	if (config)
		*config = &g->d.config;
	if (t->cfg.no_fencing)
		return 0;
	member = mesh_group_member_of(&g->d.config, t->env->self);
	self = member < 0 ? NULL : &g->d.config.members[member];
	if (epoch == g->d.config.epoch && self && !g->drive_lost &&
	    (op == MESH_MSG_IO_WRITE ? mesh_group_member_writable(self)
				     : self->role == MESH_MEMBER_REPLICA &&
				       self->state == MESH_MEMBER_ACTIVE))
		return 0;
	t->stats.io_fenced++;
	/* A client behind us may be stuck on a configuration that too few
	 * voters hold; finishing it is harmless when it is already done. */
	if (epoch < g->d.config.epoch)
		want(t, g, true);
	return -ESTALE;
}

void mesh_toma_on_msg(struct mesh_toma *t, uint32_t src, const struct mesh_msg *m)
{
	struct group *g;
	uint32_t index = (uint32_t)(m->hdr.req_id >> 32);

	switch (m->hdr.type) {
	case MESH_MSG_CONFIG_READ:
		on_config_read(t, src, m);
		return;
	case MESH_MSG_CONFIG_PROPOSE:
		on_config_propose(t, src, m);
		return;
	case MESH_MSG_LEASE_REQUEST:
		on_lease_request(t, src, m);
		return;
	default:
		break;
	}
	/* Answers to this node's rounds: the round id names the group. */
	g = index < t->count ? t->groups[index] : NULL;
	if (!g || g->r.id != m->hdr.req_id)
		return; /* an old round's answer */
	if (m->hdr.type == MESH_MSG_CONFIG_REPLY && g->r.phase == PHASE_PREPARE) {
		const struct mesh_msg_config_reply *r = &m->u.config_reply;

		if (r->status == 0 && r->config.group == g->d.config.group)
			prepare_reply(t, g, src, r->accepted_ballot, &r->config);
		else if (r->status == -ESTALE) {
			if (r->promised > g->seen_ballot)
				g->seen_ballot = r->promised;
			round_end(t, g, true);
		}
	} else if (m->hdr.type == MESH_MSG_CONFIG_ACCEPT && g->r.phase == PHASE_ACCEPT &&
		   m->u.config_accept.ballot == g->r.ballot) {
		accept_reply(t, g, src, m->u.config_accept.status, m->u.config_accept.retry_ns);
	}
}

uint32_t mesh_toma_group_count(const struct mesh_toma *t)
{
	return t->count;
}

const struct mesh_group_config *mesh_toma_config_at(const struct mesh_toma *t, uint32_t i)
{
	return i < t->count ? &t->groups[i]->d.config : NULL;
}

static bool listed(const uint32_t *ids, unsigned count, uint32_t id)
{
	for (unsigned i = 0; i < count; i++) {
		if (ids[i] == id)
			return true;
	}
	return false;
}

unsigned mesh_toma_replica_peers(const struct mesh_toma *t, uint32_t *out, unsigned max)
{
	uint32_t self = t->env->self;
	unsigned count = 0;

	for (uint32_t i = 0; i < t->count; i++) {
		const struct mesh_group_config *c = &t->groups[i]->d.config;
		int me = mesh_group_member_of(c, self);

		if (me < 0 || c->members[me].role != MESH_MEMBER_REPLICA)
			continue;
		for (unsigned k = 0; k < c->member_count && count < max; k++) {
			uint32_t node = c->members[k].node;

			if (c->members[k].role == MESH_MEMBER_REPLICA && node != self &&
			    !listed(out, count, node))
				out[count++] = node;
		}
	}
	return count;
}

int mesh_toma_request(struct mesh_toma *t, uint64_t group, enum mesh_group_change change,
		      uint32_t node, uint64_t epoch)
{
	struct group *g = group_find(t, group);

	if (!g)
		return -ENOENT;
	if (g->asked && g->asked_change == change && g->asked_node == node &&
	    g->asked_epoch == epoch && (g->change_wanted || g->r.phase != PHASE_IDLE))
		return 0; /* already on its way */
	g->asked = true;
	g->asked_change = change;
	g->asked_node = node;
	g->asked_epoch = epoch;
	want(t, g, false);
	return 0;
}

bool mesh_toma_member_returning(const struct mesh_toma *t, uint64_t group, uint32_t node)
{
	const struct group *g = group_find(t, group);

	return g && in_list(g->returning, g->returning_count, node);
}

uint64_t mesh_toma_rebuild_epoch(const struct mesh_toma *t, uint64_t group)
{
	const struct group *g = group_find(t, group);

	return g ? g->rebuild_epoch : 0;
}

bool mesh_toma_reads_any(const struct mesh_toma *t, uint64_t group)
{
	const struct group *g = group_find(t, group);

	return g && g->reads_any;
}

bool mesh_toma_group_settled(const struct mesh_toma *t, uint64_t group)
{
	const struct group *g = group_find(t, group);

	if (!g)
		return false;
	for (unsigned i = 0; i < g->d.config.member_count; i++) {
		const struct mesh_group_member *m = &g->d.config.members[i];

		if (m->role == MESH_MEMBER_REPLICA &&
		    (m->state != MESH_MEMBER_ACTIVE || suspected(t, m->node)))
			return false;
	}
	return true;
}

void mesh_toma_catch_up(struct mesh_toma *t, uint64_t group)
{
	struct group *g = group_find(t, group);

	if (g)
		want(t, g, true);
}

/*
 * core/client.c: volume I/O split by layout and replicated along each
 * group's chain (see client.h, core/group.h and docs/toma.md).
 *
 * An I/O holds one slot from submit until it is reaped, and a deadline
 * (submit + io_timeout_ns). It is cut into extents (core/layout.h); each
 * extent is one sub-request: a write walks its group's chain one member
 * at a time (hop), a read asks the tail. A sub-request's wire request id
 * is its pool index plus a generation, so a late or duplicated reply to an
 * attempt that was retried or freed is recognised and dropped.
 *
 * Leases. A managed group's sub-request is sent only while the client
 * holds a lease on the group; otherwise it waits (wait_lease) and the
 * client asks the voters. A refusal for the epoch (-ESTALE) drops the
 * lease at once; a silent member does not, since no new configuration can
 * commit while our lease runs anyway: the attempt is sent again and the
 * lease renewed, and once the voters stop renewing for a change, the new
 * configuration arrives with the next lease. A write whose chain changed
 * under it starts again at the new head: writing the same bytes twice is
 * harmless, skipping a member is not.
 *
 * Timers: one sweep timer runs while anything is in flight, every attempt
 * timeout / 4: it fails I/Os past their deadline, resends attempts past
 * theirs and those parked on a busy path. One lease timer runs every
 * lease / 4 while a managed group is in use: it renews leases at
 * half-life and asks again when an ask went unanswered. Its period is
 * jittered by up to a quarter either way, so that clients that started
 * together (a cluster boot, the end of an outage) do not renew in lockstep
 * and flood the voters at one instant. Two timers per
 * client keep the environment's timer table small and fixed.
 *
 * Back-pressure: a sub-request that met a full path (send -EAGAIN) or a
 * busy target (reply -EAGAIN) is parked and resent after
 * MESH_CLIENT_RESEND_NS, within its deadline.
 */
#include "core/client.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/group.h"
#include "core/node.h"
#include "core/onesided.h"

#define TIMER_SWEEP MESH_TIMER_ID(MESH_ROLE_CLIENT, 1)
#define TIMER_RESEND MESH_TIMER_ID(MESH_ROLE_CLIENT, 2)
#define TIMER_LEASE MESH_TIMER_ID(MESH_ROLE_CLIENT, 3)
#define SWEEPS_PER_ATTEMPT 4
#define LEASE_TICKS 4
/* An I/O gets this many attempts per copy within its timeout. */
#define ATTEMPTS_PER_TIMEOUT 4
/* Header plus an IO body; what a sub-request's message prefix needs. */
#define IO_PREFIX_BYTES 96
/* Lease requests carry this bit in their request id; sub-requests never
 * do (their generation is kept to 31 bits). */
#define LEASE_REQ_TAG (1ull << 63)
#define GEN_MASK 0x7fffffffu
/* Key requests for one-sided reads carry LEASE_REQ_TAG and this bit in the
 * low word, next to the group's index. */
#define KEY_REQ_BIT (1u << 31)
/* Landing buffers for one-sided reads: at most this many (one per slot
 * below that). */
#define RMA_BUFS_MAX 64u
#define NO_GROUP UINT32_MAX
/* Lease grants one ask may collect: the members it asked and, when a
 * spare replaced one, the spare. */
#define GRANTS_MAX (2 * MESH_GROUP_MEMBERS_MAX)

struct io_slot {
	struct mesh_io io;
	uint32_t subs_pending;
	int status;
	bool in_use;
	uint64_t deadline_ns;
	uint64_t incarnation, seq;      /* writes: the numbering it belongs to */
};

struct sub {
	uint32_t gen;
	uint32_t slot;                  /* owning I/O */
	uint32_t group;                 /* index in c->groups, or NO_GROUP */
	bool in_use;
	bool parked;                    /* waits for the resend timer */
	bool wait_lease;                /* waits for its group's lease */
	uint8_t hop;                    /* write: position in the chain */
	bool tail_only;                 /* read: a replica ahead sent it on */
	bool no_rma;                    /* read: one-sided failed, go two-sided */
	int32_t rma_buf;                /* the one-sided attempt's buffer, or -1 */
	uint64_t epoch;                 /* configuration this attempt was sent under */
	struct mesh_extent ext;
	uint32_t target;                /* where this attempt went */
	uint64_t attempt_deadline_ns;
};

/* A voter's answer to the current lease request. */
struct grant {
	uint32_t node;
	uint64_t ballot, lease_ns;
	struct mesh_group_config config;
};

/* A group the topology manager runs (groups without one are not kept:
 * their configuration is made from the layout when needed). */
struct cgroup {
	struct mesh_group_config config; /* what I/O goes by */
	uint64_t lease_end_ns;          /* I/O only before this; 0 = none */
	uint64_t renew_at_ns;
	uint64_t last_used_ns;
	bool used;                      /* last_used_ns is set */
	bool asking;
	uint32_t ask_seq;
	uint64_t asked_ns;
	unsigned grant_count;
	unsigned asked_count;           /* voters the current ask went to */
	struct grant grants[GRANTS_MAX];
	uint32_t waiting;               /* sub-requests waiting for the lease */
	uint32_t inflight;              /* sub-requests on this group */
	struct mesh_rma_key key;        /* the tail's, for one-sided reads */
};

struct mesh_client {
	const struct mesh_env *env;
	struct mesh_client_config cfg;
	uint64_t attempt_ns;
	uint64_t incarnation;

	struct io_slot *slots;
	uint32_t *free_slots;
	uint32_t free_slot_count;

	struct sub *subs;
	uint32_t *free_subs;
	uint32_t free_sub_count;
	uint32_t subs_inflight;

	uint32_t *done;                 /* ring of completed slot indices */
	uint32_t done_head, done_count;

	uint64_t write_seq, settled;
	uint32_t reads_spread;          /* picks the replica of the next read */

	struct cgroup *groups;          /* sorted by group id */
	uint32_t group_count, group_capacity;

	bool sweep_armed, resend_armed, lease_armed;
	struct mesh_rma_bufs rma;       /* none unless cfg.one_sided_reads */
	struct mesh_client_stats stats;
	/* Layouts are allocated as volumes are added: a full table of them
	 * would cost every client 64 layouts. */
	struct mesh_layout *volumes[MESH_CLIENT_VOLUMES_MAX];
};

static uint64_t sub_req_id(const struct mesh_client *c, const struct sub *s)
{
	return ((uint64_t)(s->gen & GEN_MASK) << 32) | (uint32_t)(s - c->subs);
}

/* A write numbering no other of this client's used (0 is none). */
static uint64_t new_incarnation(const struct mesh_client *c)
{
	uint64_t next;

	do
		next = mesh_env_random(c->env);
	while (next == 0 || next == c->incarnation);
	return next;
}

int mesh_client_create(const struct mesh_env *env, const struct mesh_client_config *cfg,
		       struct mesh_client **out)
{
	struct mesh_client *c;
	uint32_t subs = cfg->subrequests ? cfg->subrequests : cfg->queue_depth * 16;

	if (cfg->queue_depth == 0 || cfg->queue_depth > MESH_CLIENT_QUEUE_DEPTH_MAX) {
		mesh_log_error(env, "client: queue depth %u outside 1..%u", cfg->queue_depth,
			       MESH_CLIENT_QUEUE_DEPTH_MAX);
		return -EINVAL;
	}
	if (subs == 0 || subs > MESH_CLIENT_SUBREQUESTS_MAX) {
		mesh_log_error(env, "client: %u sub-requests outside 1..%u", subs,
			       MESH_CLIENT_SUBREQUESTS_MAX);
		return -EINVAL;
	}
	if (cfg->io_timeout_ns < ATTEMPTS_PER_TIMEOUT * SWEEPS_PER_ATTEMPT ||
	    cfg->io_timeout_ns > MESH_CLIENT_TIMEOUT_NS_MAX) {
		mesh_log_error(env, "client: I/O timeout %llu ns outside %u..%llu",
			       (unsigned long long)cfg->io_timeout_ns,
			       ATTEMPTS_PER_TIMEOUT * SWEEPS_PER_ATTEMPT,
			       (unsigned long long)MESH_CLIENT_TIMEOUT_NS_MAX);
		return -EINVAL;
	}
	if (cfg->drift_ppm > MESH_GROUP_DRIFT_PPM_MAX || cfg->lease_ns > MESH_CLIENT_TIMEOUT_NS_MAX) {
		mesh_log_error(env, "client: drift %u ppm or lease %llu ns out of range",
			       cfg->drift_ppm, (unsigned long long)cfg->lease_ns);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->env = env;
	c->cfg = *cfg;
	c->cfg.subrequests = subs;
	c->attempt_ns = cfg->io_timeout_ns / ATTEMPTS_PER_TIMEOUT;
	if (!c->cfg.lease_ns)
		c->cfg.lease_ns = 4 * c->attempt_ns;
	c->incarnation = new_incarnation(c);
	c->write_seq = 1;
	c->settled = 1;
	c->slots = calloc(cfg->queue_depth, sizeof(*c->slots));
	c->free_slots = calloc(cfg->queue_depth, sizeof(*c->free_slots));
	c->subs = calloc(subs, sizeof(*c->subs));
	c->free_subs = calloc(subs, sizeof(*c->free_subs));
	c->done = calloc(cfg->queue_depth, sizeof(*c->done));
	if (!c->slots || !c->free_slots || !c->subs || !c->free_subs || !c->done ||
	    (cfg->one_sided_reads &&
	     mesh_rma_bufs_init(&c->rma, cfg->queue_depth < RMA_BUFS_MAX ? cfg->queue_depth
									 : RMA_BUFS_MAX,
				MESH_CLIENT_RMA_BYTES_MAX))) {
		mesh_client_destroy(c);
		return -ENOMEM;
	}
	/* Free lists are stacks; fill them so index 0 is handed out first. */
	for (uint32_t i = 0; i < cfg->queue_depth; i++)
		c->free_slots[i] = cfg->queue_depth - 1 - i;
	c->free_slot_count = cfg->queue_depth;
	for (uint32_t i = 0; i < subs; i++)
		c->free_subs[i] = subs - 1 - i;
	c->free_sub_count = subs;
	*out = c;
	return 0;
}

void mesh_client_destroy(struct mesh_client *c)
{
	if (!c)
		return;
	if (c->sweep_armed)
		mesh_env_timer_cancel(c->env, TIMER_SWEEP);
	if (c->resend_armed)
		mesh_env_timer_cancel(c->env, TIMER_RESEND);
	if (c->lease_armed)
		mesh_env_timer_cancel(c->env, TIMER_LEASE);
	free(c->slots);
	free(c->free_slots);
	free(c->subs);
	free(c->free_subs);
	free(c->done);
	free(c->groups);
	mesh_rma_bufs_fini(&c->rma);
	for (uint32_t v = 0; v < MESH_CLIENT_VOLUMES_MAX; v++)
		free(c->volumes[v]);
	free(c);
}

/* ---- groups ---- */

static uint32_t group_lower_bound(const struct mesh_client *c, uint64_t id)
{
	uint32_t lo = 0, hi = c->group_count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (c->groups[mid].config.group < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int group_index(const struct mesh_client *c, uint64_t id)
{
	uint32_t i = group_lower_bound(c, id);

	return i < c->group_count && c->groups[i].config.group == id ? (int)i : -1;
}

/* Insert the group of @cfg. Only at set-up: indices shift, and
 * sub-requests hold them. */
static int group_put(struct mesh_client *c, const struct mesh_group_config *cfg)
{
	uint32_t at = group_lower_bound(c, cfg->group);

	if (at < c->group_count && c->groups[at].config.group == cfg->group)
		return -EEXIST;
	if (c->group_count == MESH_CLIENT_GROUPS_MAX)
		return -ENOSPC;
	if (c->group_count == c->group_capacity) {
		uint32_t cap = c->group_capacity ? c->group_capacity * 2 : 8;
		struct cgroup *grown = realloc(c->groups, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		c->groups = grown;
		c->group_capacity = cap;
	}
	memmove(&c->groups[at + 1], &c->groups[at], (c->group_count - at) * sizeof(*c->groups));
	c->group_count++;
	c->groups[at] = (struct cgroup){ .config = *cfg };
	return 0;
}

int mesh_client_group_add(struct mesh_client *c, const struct mesh_group_config *cfg)
{
	const char *why;

	if (mesh_group_check(cfg, &why)) {
		mesh_log_error(c->env, "client: group %llu: invalid configuration: %s",
			       (unsigned long long)cfg->group, why);
		return -EINVAL;
	}
	if (c->subs_inflight)
		return -EBUSY;
	return group_put(c, cfg);
}

/* A group without a manager: the layout's replicas, all active. */
static struct mesh_group_config static_config(const struct mesh_layout *l, uint32_t segment)
{
	const struct mesh_segment *seg = &l->segments[segment];
	struct mesh_group_config cfg = {
		.group = seg->group,
		.bytes = seg->bytes,
		.copies = (uint8_t)l->copies,
		.member_count = (uint8_t)l->copies,
	};

	for (uint32_t r = 0; r < l->copies; r++) {
		cfg.members[r] = (struct mesh_group_member){
			.node = seg->replicas[r].target,
			.drive = seg->replicas[r].drive,
			.offset = seg->replicas[r].drive_offset,
			.role = MESH_MEMBER_REPLICA,
			.state = MESH_MEMBER_ACTIVE,
		};
	}
	return cfg;
}

int mesh_client_volume_add(struct mesh_client *c, uint32_t id, const struct mesh_layout *l)
{
	const char *why = NULL;

	if (id >= MESH_CLIENT_VOLUMES_MAX) {
		mesh_log_error(c->env, "client: volume id %u above limit %u", id,
			       MESH_CLIENT_VOLUMES_MAX - 1);
		return -EINVAL;
	}
	if (c->volumes[id])
		return -EEXIST;
	if (mesh_layout_check(l, &why)) {
		mesh_log_error(c->env, "client: volume %u has an invalid layout: %s", id, why);
		return -EINVAL;
	}
	c->volumes[id] = malloc(sizeof(*l));
	if (!c->volumes[id])
		return -ENOMEM;
	*c->volumes[id] = *l;
	return 0;
}

static bool lease_valid(const struct mesh_client *c, const struct cgroup *g, uint64_t now)
{
	if (c->cfg.no_leases)
		return g->lease_end_ns != 0;
	return now < g->lease_end_ns;
}

static void send_lease_request(struct mesh_client *c, struct cgroup *g, uint32_t dst)
{
	uint8_t buf[MESH_PROTO_PREFIX_MAX];
	struct mesh_msg m = {
		.hdr = {
			.type = MESH_MSG_LEASE_REQUEST,
			.req_id = LEASE_REQ_TAG | ((uint64_t)g->ask_seq << 32) |
				  (uint32_t)(g - c->groups),
			.epoch = g->config.epoch,
		},
		.u.lease_request = {
			.group = g->config.group,
			.client = c->env->self,
			.duration_ns = c->cfg.lease_ns,
			.incarnation = c->incarnation,
			.settled = c->settled,
		},
	};
	int n = mesh_proto_encode(&m, buf, sizeof(buf));
	struct mesh_iov iov = { buf, (size_t)n };

	assert(n > 0);
	n = mesh_env_send(c->env, dst, &iov, 1);
	if (n)
		mesh_log_debug(c->env, "client: lease request to node %u not sent: %d", dst, n);
}

static void arm_lease_tick(struct mesh_client *c)
{
	uint64_t period = c->cfg.lease_ns / LEASE_TICKS;
	uint64_t jitter = period / 2 ? mesh_env_random(c->env) % (period / 2) : 0;

	period = period - period / 4 + jitter;
	mesh_env_timer_arm_once(c->env, TIMER_LEASE, &c->lease_armed, period ? period : 1);
}

/* Ask the voters of @g for a lease: the writable members and enough others
 * for a majority, which is all a decision needs (with two active copies
 * and a witness, the witness is left out), or every voter when the last
 * ask went undecided: a member may be silent or the configuration moved. */
static void lease_ask(struct mesh_client *c, struct cgroup *g)
{
	unsigned need = mesh_group_majority(&g->config), asked = 0;
	bool all = g->asking;

	g->asking = true;
	g->ask_seq = (g->ask_seq + 1) & GEN_MASK;
	g->asked_ns = mesh_env_now_ns(c->env);
	g->grant_count = 0;
	c->stats.lease_requests++;
	for (unsigned i = 0; i < g->config.member_count; i++) {
		if (all || mesh_group_member_writable(&g->config.members[i])) {
			send_lease_request(c, g, g->config.members[i].node);
			asked++;
		}
	}
	for (unsigned i = 0; !all && i < g->config.member_count && asked < need; i++) {
		if (!mesh_group_member_writable(&g->config.members[i])) {
			send_lease_request(c, g, g->config.members[i].node);
			asked++;
		}
	}
	g->asked_count = asked;
	arm_lease_tick(c);
}

/* ---- sub-requests ---- */

static void sub_send(struct mesh_client *c, struct sub *s);
static void sub_finish(struct mesh_client *c, struct sub *s, int status);

static void arm_sweep(struct mesh_client *c)
{
	uint64_t period = c->attempt_ns / SWEEPS_PER_ATTEMPT;

	mesh_env_timer_arm_once(c->env, TIMER_SWEEP, &c->sweep_armed, period ? period : 1);
}

/* Resend @s when the resend timer fires. */
static void park(struct mesh_client *c, struct sub *s)
{
	s->parked = true;
	mesh_env_timer_arm_once(c->env, TIMER_RESEND, &c->resend_armed, MESH_CLIENT_RESEND_NS);
}

/* Hold @s until its group has a lease, asking for one if nobody is. */
static void wait_lease(struct mesh_client *c, struct sub *s)
{
	struct cgroup *g = &c->groups[s->group];

	s->wait_lease = true;
	s->gen++; /* a late answer to the last attempt is stale */
	g->waiting++;
	arm_sweep(c);
	if (!g->asking)
		lease_ask(c, g);
	else
		arm_lease_tick(c); /* the tick asks again if this ask goes unanswered */
}

static void encode_and_send(struct mesh_client *c, struct sub *s,
			    const struct mesh_group_config *cfg, unsigned member)
{
	const struct io_slot *slot = &c->slots[s->slot];
	const struct mesh_group_member *mb = &cfg->members[member];
	bool write = slot->io.op == MESH_IO_WRITE;
	/* A write of an earlier numbering settles nothing of it any more. */
	bool current = !write || slot->incarnation == c->incarnation;
	uint8_t *data = (uint8_t *)slot->io.buf + (s->ext.volume_offset - slot->io.offset);
	uint8_t prefix[IO_PREFIX_BYTES];
	struct mesh_msg m = {
		.hdr = {
			.type = write ? MESH_MSG_IO_WRITE : MESH_MSG_IO_READ,
			.req_id = sub_req_id(c, s),
			.epoch = cfg->epoch,
		},
		.u.io = {
			.group = cfg->group,
			.drive = mb->drive,
			.length = s->ext.length,
			.offset = mb->offset + s->ext.segment_offset,
			.incarnation = write ? slot->incarnation : c->incarnation,
			.seq = write ? slot->seq : 0,
			.settled = current ? c->settled : 0,
		},
		.data = write ? data : NULL,
		.data_len = write ? s->ext.length : 0,
	};
	int n = mesh_proto_encode(&m, prefix, sizeof(prefix));

	assert(n > 0);
	struct mesh_iov iov[2] = {
		{ prefix, (size_t)n },
		{ data, write ? s->ext.length : 0 },
	};
	s->target = mb->node;
	s->parked = false;
	arm_sweep(c);
	int rc = mesh_env_send(c->env, mb->node, iov, write ? 2 : 1);

	c->stats.subrequests_sent++;
	if (rc == -EAGAIN) {
		park(c, s);
	} else if (rc) {
		mesh_log_debug(c->env, "client: send to node %u failed: %d", mb->node, rc);
		/* Not sent, so nothing landed. Without a manager nothing will
		 * change: fail now. With one, the attempt's deadline brings it
		 * back under whatever configuration comes. */
		if (s->group == NO_GROUP)
			sub_finish(c, s, rc);
	}
}

/* The member a read goes to: any active replica of a managed group, in
 * turn, since one ahead of the tail sends the read on (-EXDEV) when it
 * cannot answer it (docs/toma.md); the tail otherwise. */
static int read_member(struct mesh_client *c, const struct sub *s,
		       const struct mesh_group_config *cfg, bool managed)
{
	int tail = mesh_group_tail(cfg), active[MESH_GROUP_MEMBERS_MAX];
	unsigned count = 0;

	assert(tail >= 0); /* a valid configuration has an active replica */
	if (!managed || s->tail_only || c->cfg.reads_tail_only)
		return tail;
	for (unsigned i = 0; i < cfg->member_count; i++) {
		if (cfg->members[i].role == MESH_MEMBER_REPLICA &&
		    cfg->members[i].state == MESH_MEMBER_ACTIVE)
			active[count++] = (int)i;
	}
	int member = active[c->reads_spread++ % count];

	c->stats.reads_ahead += member != tail;
	return member;
}

/* Read @s from its group's tail one-sided, if the client reads so, holds
 * the tail's key for this epoch (asking for it if not) and has a landing
 * buffer free. Returns whether the read went. */
static bool rma_read(struct mesh_client *c, struct sub *s, struct cgroup *g)
{
	const struct mesh_group_config *cfg = &g->config;
	uint64_t key_req = LEASE_REQ_TAG | KEY_REQ_BIT | (uint32_t)(g - c->groups);
	uint32_t node;
	int b, rc;

	if (!c->rma.count || s->no_rma || s->ext.length > c->rma.bytes ||
	    !mesh_rma_key_usable(&g->key, c->env, cfg, key_req, c->attempt_ns))
		return false;
	if (s->ext.segment_offset + s->ext.length > g->key.length)
		return false;
	b = mesh_rma_bufs_get(&c->rma, sub_req_id(c, s));
	if (b < 0)
		return false;
	node = g->key.node;
	rc = mesh_env_rma_read(c->env, node, g->key.rkey, g->key.remote_offset + s->ext.segment_offset,
			       mesh_rma_buf(&c->rma, (uint32_t)b), s->ext.length, (uint64_t)b);
	if (rc) {
		mesh_rma_bufs_put(&c->rma, (uint32_t)b);
		if (rc != -EAGAIN) {
			mesh_log_debug(c->env, "client: one-sided read of node %u refused: %d", node, rc);
			mesh_rma_key_refuse(&g->key);
		}
		return false;
	}
	s->rma_buf = b;
	s->target = node;
	s->parked = false;
	c->stats.reads_one_sided++;
	arm_sweep(c);
	return true;
}

/* Send @s's current step: the next chain member of a write, a replica
 * for a read. Starts a new attempt. */
static void sub_send(struct mesh_client *c, struct sub *s)
{
	struct io_slot *slot = &c->slots[s->slot];
	struct cgroup *g = s->group == NO_GROUP ? NULL : &c->groups[s->group];
	uint64_t now = mesh_env_now_ns(c->env);
	struct mesh_group_config fixed;
	const struct mesh_group_config *cfg = &fixed;
	uint8_t chain[MESH_GROUP_MEMBERS_MAX];
	int member;

	if (now >= slot->deadline_ns) {
		c->stats.timeouts++;
		sub_finish(c, s, -ETIMEDOUT);
		return;
	}
	if (g) {
		g->last_used_ns = now;
		g->used = true;
		if (!lease_valid(c, g, now)) {
			wait_lease(c, s);
			return;
		}
		cfg = &g->config;
	} else {
		fixed = static_config(c->volumes[slot->io.volume], s->ext.segment);
	}
	if (s->epoch != cfg->epoch) {
		if (s->hop > 0 && slot->io.op == MESH_IO_WRITE) {
			/* Part of the chain holds this write: sent again under a
			 * new chain it could land after a newer write on some
			 * member and undo it. Fail it, as a disk fails a write it
			 * cannot finish: its blocks hold old or new data. */
			sub_finish(c, s, -EIO);
			return;
		}
		s->epoch = cfg->epoch;
	}
	s->attempt_deadline_ns = now + c->attempt_ns;
	if (s->attempt_deadline_ns > slot->deadline_ns)
		s->attempt_deadline_ns = slot->deadline_ns;
	/* A one-sided attempt still out keeps its buffer until it completes. */
	s->rma_buf = -1;
	if (slot->io.op == MESH_IO_READ && g && rma_read(c, s, g))
		return;
	if (slot->io.op == MESH_IO_WRITE) {
		unsigned len = mesh_group_chain(cfg, chain);

		assert(s->hop < len);
		member = chain[s->hop];
	} else {
		member = read_member(c, s, cfg, g != NULL);
	}
	encode_and_send(c, s, cfg, (unsigned)member);
}

static struct sub *sub_get(struct mesh_client *c, uint32_t slot, const struct mesh_extent *e,
			   uint32_t group)
{
	assert(c->free_sub_count > 0);
	struct sub *s = &c->subs[c->free_subs[--c->free_sub_count]];
	uint32_t gen = s->gen + 1;

	memset(s, 0, sizeof(*s));
	s->gen = gen;
	s->in_use = true;
	s->slot = slot;
	s->rma_buf = -1;
	s->group = group;
	s->ext = *e;
	s->epoch = group == NO_GROUP ? 0 : c->groups[group].config.epoch;
	if (group != NO_GROUP)
		c->groups[group].inflight++;
	c->subs_inflight++;
	c->slots[slot].subs_pending++;
	return s;
}

/* The lowest write number of this numbering still in flight: everything
 * below is settled. */
static void settle(struct mesh_client *c)
{
	uint64_t low = c->write_seq;

	for (uint32_t i = 0; i < c->cfg.queue_depth; i++) {
		const struct io_slot *slot = &c->slots[i];

		if (slot->in_use && slot->subs_pending && slot->io.op == MESH_IO_WRITE &&
		    slot->incarnation == c->incarnation && slot->seq < low)
			low = slot->seq;
	}
	c->settled = low;
}


static void slot_complete(struct mesh_client *c, uint32_t slot_index)
{
	struct io_slot *slot = &c->slots[slot_index];
	uint32_t tail = (c->done_head + c->done_count) % c->cfg.queue_depth;

	/* A slot is freed only when reaped, so the ring (one entry per slot)
	 * cannot overflow. */
	assert(c->done_count < c->cfg.queue_depth);
	c->done[tail] = slot_index;
	c->done_count++;
	if (slot->status) {
		c->stats.ios_failed++;
	} else {
		c->stats.ios_done++;
		if (slot->io.op == MESH_IO_WRITE)
			c->stats.bytes_written += slot->io.length;
		else
			c->stats.bytes_read += slot->io.length;
	}
	if (slot->io.op != MESH_IO_WRITE)
		return;
	if (slot->status == 0) {
		settle(c);
	} else if (slot->incarnation == c->incarnation) {
		/* A failed write is never settled: some members may lack it.
		 * Later writes are numbered afresh, so that the settled mark
		 * of this numbering never passes it. */
		c->incarnation = new_incarnation(c);
		c->write_seq = c->settled = 1;
		c->stats.incarnations++;
	}
}

/* Retire a sub-request with @status; completes its I/O when it was last. */
static void sub_finish(struct mesh_client *c, struct sub *s, int status)
{
	struct io_slot *slot = &c->slots[s->slot];

	if (status && slot->status == 0)
		slot->status = status;
	if (s->wait_lease)
		c->groups[s->group].waiting--; /* only managed groups wait */
	if (s->group != NO_GROUP)
		c->groups[s->group].inflight--;
	s->in_use = false;
	s->gen++; /* any later reply to this attempt is stale */
	c->free_subs[c->free_sub_count++] = (uint32_t)(s - c->subs);
	c->subs_inflight--;
	assert(slot->subs_pending > 0);
	if (--slot->subs_pending == 0)
		slot_complete(c, s->slot);
}

static int check_io(const struct mesh_client *c, const struct mesh_io *io)
{
	if (io->volume >= MESH_CLIENT_VOLUMES_MAX || !c->volumes[io->volume])
		return -ENOENT;
	if (io->op != MESH_IO_READ && io->op != MESH_IO_WRITE)
		return -EINVAL;
	if (io->length == 0 || !io->buf || io->offset % MESH_SECTOR_BYTES ||
	    io->length % MESH_SECTOR_BYTES)
		return -EINVAL;
	if (io->length > MESH_CLIENT_IO_BYTES_MAX)
		return -E2BIG;
	return 0;
}

int mesh_client_submit(struct mesh_client *c, const struct mesh_io *io)
{
	const struct mesh_layout *l;
	int rc = check_io(c, io);
	int extents;

	if (rc)
		return rc;
	l = c->volumes[io->volume];
	extents = mesh_layout_extent_count(l, io->offset, io->length);
	if (extents < 0)
		return extents;
	if ((uint64_t)extents > c->cfg.subrequests)
		return -E2BIG;
	if (c->free_slot_count == 0 || (uint32_t)extents > c->free_sub_count)
		return -EAGAIN;

	uint32_t slot_index = c->free_slots[--c->free_slot_count];
	struct io_slot *slot = &c->slots[slot_index];

	*slot = (struct io_slot){
		.io = *io,
		.in_use = true,
		.deadline_ns = mesh_env_now_ns(c->env) + c->cfg.io_timeout_ns,
		.incarnation = c->incarnation,
		.seq = io->op == MESH_IO_WRITE ? c->write_seq++ : 0,
	};
	/* Hold one extra reference while fanning out, so that a sub-request
	 * failing synchronously cannot complete the I/O half-built. */
	slot->subs_pending = 1;
	uint64_t offset = io->offset, left = io->length;

	while (left > 0) {
		struct mesh_extent e = mesh_layout_first_extent(l, offset, left);
		int group = group_index(c, l->segments[e.segment].group);

		sub_send(c, sub_get(c, slot_index, &e, group < 0 ? NO_GROUP : (uint32_t)group));
		offset += e.length;
		left -= e.length;
	}
	if (--slot->subs_pending == 0)
		slot_complete(c, slot_index);
	return 0;
}

unsigned mesh_client_reap(struct mesh_client *c, struct mesh_io_done *out, unsigned max)
{
	unsigned n = 0;

	while (n < max && c->done_count > 0) {
		uint32_t slot_index = c->done[c->done_head];
		struct io_slot *slot = &c->slots[slot_index];

		out[n++] = (struct mesh_io_done){ .cookie = slot->io.cookie, .status = slot->status };
		slot->in_use = false;
		c->free_slots[c->free_slot_count++] = slot_index;
		c->done_head = (c->done_head + 1) % c->cfg.queue_depth;
		c->done_count--;
	}
	return n;
}

unsigned mesh_client_rma_inflight(const struct mesh_client *c)
{
	return c->rma.count - c->rma.free_count;
}

unsigned mesh_client_inflight(const struct mesh_client *c)
{
	return c->cfg.queue_depth - c->free_slot_count;
}

void mesh_client_stats(const struct mesh_client *c, struct mesh_client_stats *out)
{
	*out = c->stats;
}

/* ---- replies ---- */

/* The sub-request a reply answers, or NULL if it is stale or forged. */
static struct sub *sub_for_reply(struct mesh_client *c, uint32_t src, uint64_t req_id)
{
	uint32_t index = (uint32_t)req_id;
	struct sub *s;

	if (index >= c->cfg.subrequests)
		return NULL;
	s = &c->subs[index];
	if (!s->in_use || s->wait_lease || (s->gen & GEN_MASK) != (uint32_t)(req_id >> 32) ||
	    s->target != src || s->rma_buf >= 0)
		return NULL;
	return s;
}

static void on_io_reply(struct mesh_client *c, struct sub *s, const struct mesh_msg *m)
{
	const struct mesh_msg_io_reply *r = &m->u.io_reply;
	struct io_slot *slot = &c->slots[s->slot];
	struct cgroup *g = s->group == NO_GROUP ? NULL : &c->groups[s->group];

	if (r->status == -EAGAIN) {
		/* The target was out of request slots: resend after a pause,
		 * within the deadline. (Per-target credits would avoid the
		 * round trip; targets do not advertise them yet.) */
		s->gen++;
		c->stats.retries++;
		park(c, s);
		return;
	}
	if (r->status == -EXDEV && slot->io.op == MESH_IO_READ && !s->tail_only) {
		/* A replica ahead of the tail may hold a write the tail
		 * lacks: the tail answers. */
		c->stats.reads_to_tail++;
		s->tail_only = true;
		s->gen++;
		sub_send(c, s);
		return;
	}
	if (r->status == -ESTALE) {
		/* The member holds another configuration: ours is over. */
		c->stats.fenced++;
		if (!g) {
			sub_finish(c, s, -ESTALE);
			return;
		}
		c->stats.retries++;
		if (g->config.epoch == s->epoch)
			g->lease_end_ns = 0;
		wait_lease(c, s);
		return;
	}
	if (r->status) {
		sub_finish(c, s, r->status);
		return;
	}
	if (slot->io.op == MESH_IO_READ) {
		if (m->data_len != s->ext.length) {
			mesh_log_warn(c->env, "client: node %u sent %u bytes for a %u-byte read",
				      s->target, m->data_len, s->ext.length);
			sub_finish(c, s, -EIO);
			return;
		}
		memcpy((uint8_t *)slot->io.buf + (s->ext.volume_offset - slot->io.offset), m->data,
		       m->data_len);
		sub_finish(c, s, 0);
		return;
	}
	uint8_t chain[MESH_GROUP_MEMBERS_MAX];
	struct mesh_group_config fixed;
	const struct mesh_group_config *cfg = &fixed;

	if (g)
		cfg = &g->config;
	else
		fixed = static_config(c->volumes[slot->io.volume], s->ext.segment);
	s->gen++;
	s->hop++;
	if (s->epoch == cfg->epoch && s->hop == mesh_group_chain(cfg, chain))
		sub_finish(c, s, 0);
	else
		sub_send(c, s);
}

/* Group @index moved to a new epoch: what is still out under an older
 * one goes again now rather than at its attempt's deadline (a member that
 * went silent may be what the epoch changed for), so that a failover
 * costs the caller the time to the new epoch, not the I/O timeout. A
 * write part of the old chain took fails instead (see sub_send). */
static void move_to_new_epoch(struct mesh_client *c, uint32_t index)
{
	const struct cgroup *g = &c->groups[index];

	for (uint32_t i = 0; i < c->cfg.subrequests && c->subs_inflight > 0; i++) {
		struct sub *s = &c->subs[i];

		if (!s->in_use || s->wait_lease || s->group != index || s->epoch == g->config.epoch)
			continue;
		s->gen++; /* a late answer to the old attempt is stale */
		c->stats.retries++;
		sub_send(c, s);
	}
}

/* The ballot among @g's grants that a majority and every writable member
 * of its configuration granted, with the shortest lease among them. */
static const struct grant *lease_decided(const struct cgroup *g, uint64_t *lease_ns)
{
	for (unsigned i = 0; i < g->grant_count; i++) {
		const struct grant *cand = &g->grants[i];
		uint32_t nodes[GRANTS_MAX];
		unsigned n = 0;

		*lease_ns = cand->lease_ns;
		for (unsigned k = 0; k < g->grant_count; k++) {
			if (g->grants[k].ballot != cand->ballot)
				continue;
			nodes[n++] = g->grants[k].node;
			if (g->grants[k].lease_ns < *lease_ns)
				*lease_ns = g->grants[k].lease_ns;
		}
		if (mesh_group_committed(&cand->config, nodes, n))
			return cand;
	}
	return NULL;
}

static void on_lease_grant(struct mesh_client *c, uint32_t src, const struct mesh_msg *m)
{
	const struct mesh_msg_lease_grant *r = &m->u.lease_grant;
	uint32_t index = (uint32_t)m->hdr.req_id;
	struct cgroup *g = index < c->group_count ? &c->groups[index] : NULL;
	const struct grant *won;
	uint64_t lease_ns;

	if (g && g->asking && r->status)
		mesh_log_debug(c->env, "client: node %u refused a lease on group %llu: %d",
			       src, (unsigned long long)g->config.group, r->status);
	if (!g || !g->asking || g->ask_seq != ((uint32_t)(m->hdr.req_id >> 32) & GEN_MASK) ||
	    r->group != g->config.group || r->status || r->config.group != g->config.group ||
	    (mesh_group_member_of(&g->config, src) < 0 &&
	     mesh_group_member_of(&r->config, src) < 0) ||
	    g->grant_count == GRANTS_MAX) {
		c->stats.replies_stale++;
		return;
	}
	for (unsigned i = 0; i < g->grant_count; i++) {
		if (g->grants[i].node == src)
			return; /* a duplicate */
	}
	g->grants[g->grant_count++] = (struct grant){
		.node = src, .ballot = r->ballot, .lease_ns = r->lease_ns, .config = r->config,
	};
	won = lease_decided(g, &lease_ns);
	bool first_of_ballot = true;

	for (unsigned i = 0; i + 1 < g->grant_count; i++)
		first_of_ballot &= g->grants[i].ballot != r->ballot;
	if (!won && r->config.epoch > g->config.epoch && first_of_ballot) {
		/* A newer configuration with members we did not ask (a spare
		 * joined): their grants decide it too. */
		for (unsigned i = 0; i < r->config.member_count; i++) {
			uint32_t node = r->config.members[i].node;

			if (mesh_group_member_of(&g->config, node) < 0 && node != src) {
				send_lease_request(c, g, node);
				g->asked_count++;
			}
		}
	}
	if (!won) {
		/* Everyone asked answered and it is not enough: ask all. */
		if (g->grant_count == g->asked_count && g->asked_count < g->config.member_count)
			lease_ask(c, g);
		return;
	}
	bool moved = won->config.epoch != g->config.epoch;

	if (moved) {
		c->stats.epoch_changes++;
		mesh_log_debug(c->env, "client: group %llu now at epoch %llu",
			       (unsigned long long)g->config.group,
			       (unsigned long long)won->config.epoch);
	}
	g->config = won->config;
	g->asking = false;
	g->lease_end_ns = mesh_group_lease_client_end_ns(g->asked_ns, lease_ns, c->cfg.drift_ppm);
	g->renew_at_ns = g->asked_ns + (g->lease_end_ns - g->asked_ns) / 2;
	c->stats.leases_acquired++;
	if (moved)
		move_to_new_epoch(c, index);
	if (!g->waiting)
		return;
	/* Send what waited for this lease. */
	for (uint32_t i = 0; i < c->cfg.subrequests && g->waiting; i++) {
		struct sub *s = &c->subs[i];

		if (s->in_use && s->wait_lease && s->group == index) {
			s->wait_lease = false;
			g->waiting--;
			sub_send(c, s);
		}
	}
}

/* A tail's answer to a key request: its request id names the group. */
static void on_rma_grant(struct mesh_client *c, uint32_t src, const struct mesh_msg *m)
{
	uint32_t low = (uint32_t)m->hdr.req_id, index = low & ~KEY_REQ_BIT;

	if (!(m->hdr.req_id & LEASE_REQ_TAG) || !(low & KEY_REQ_BIT) || index >= c->group_count) {
		c->stats.replies_stale++;
		return;
	}
	mesh_rma_key_on_grant(&c->groups[index].key, src,
			      (uint32_t)(m->hdr.req_id >> 32) & GEN_MASK, &m->u.rma_grant);
}

void mesh_client_on_rma_done(struct mesh_client *c, uint64_t cookie, int status)
{
	uint32_t b = (uint32_t)cookie;
	uint64_t owner;
	struct sub *s;

	if (!mesh_rma_bufs_busy(&c->rma, cookie)) {
		mesh_log_warn(c->env, "client: RMA completion %#llx names no read in flight",
			      (unsigned long long)cookie);
		return;
	}
	owner = c->rma.owner[b];
	s = &c->subs[(uint32_t)owner];
	if (!s->in_use || s->rma_buf != (int32_t)b || sub_req_id(c, s) != owner) {
		/* Given up on already (timed out, or sent again). */
		mesh_rma_bufs_put(&c->rma, b);
		c->stats.replies_stale++;
		return;
	}
	s->rma_buf = -1;
	if (status == 0) {
		const struct io_slot *slot = &c->slots[s->slot];

		memcpy((uint8_t *)slot->io.buf + (s->ext.volume_offset - slot->io.offset),
		       mesh_rma_buf(&c->rma, b), s->ext.length);
		mesh_rma_bufs_put(&c->rma, b);
		sub_finish(c, s, 0);
		return;
	}
	/* Revoked (the epoch moved) or refused: read two-sided, which meets
	 * the target's fencing and brings the new configuration. */
	mesh_rma_bufs_put(&c->rma, b);
	c->stats.one_sided_failed++;
	mesh_log_debug(c->env, "client: one-sided read of node %u failed: %d", s->target, status);
	mesh_rma_key_refuse(&c->groups[s->group].key);
	s->no_rma = true;
	s->gen++;
	sub_send(c, s);
}

void mesh_client_on_msg(struct mesh_client *c, uint32_t src, const struct mesh_msg *m)
{
	struct sub *s;

	if (m->hdr.type == MESH_MSG_LEASE_GRANT) {
		on_lease_grant(c, src, m);
		return;
	}
	if (m->hdr.type == MESH_MSG_RMA_GRANT) {
		on_rma_grant(c, src, m);
		return;
	}
	s = sub_for_reply(c, src, m->hdr.req_id);
	if (!s) {
		c->stats.replies_stale++;
		return;
	}
	switch (m->hdr.type) {
	case MESH_MSG_IO_REPLY:
		on_io_reply(c, s, m);
		break;
	case MESH_MSG_ERROR:
		mesh_log_warn(c->env, "client: node %u refused a request: %d (%.*s)", src,
			      m->u.error.code, (int)m->data_len, (const char *)m->data);
		sub_finish(c, s, m->u.error.code);
		break;
	default:
		mesh_log_warn(c->env, "client: unexpected %s from node %u",
			      mesh_proto_type_name(m->hdr.type), src);
		break;
	}
}

/* ---- timers ---- */

/* Fail what is past its deadline, send again what is past its attempt's
 * or waited for a free path. */
static void sweep(struct mesh_client *c)
{
	uint64_t now = mesh_env_now_ns(c->env);

	for (uint32_t i = 0; i < c->cfg.subrequests && c->subs_inflight > 0; i++) {
		struct sub *s = &c->subs[i];
		struct cgroup *g;

		if (!s->in_use)
			continue;
		g = s->group == NO_GROUP ? NULL : &c->groups[s->group];
		if (now >= c->slots[s->slot].deadline_ns) {
			c->stats.timeouts++;
			mesh_log_debug(c->env, "client: I/O on volume %u timed out%s (group %llu, %u grants)",
				       c->slots[s->slot].io.volume,
				       s->wait_lease ? " waiting for a lease" : "",
				       g ? (unsigned long long)g->config.group : 0ULL,
				       g ? g->grant_count : 0);
			sub_finish(c, s, -ETIMEDOUT);
		} else if (s->wait_lease) {
			if (!g->asking)
				lease_ask(c, g);
		} else if (now >= s->attempt_deadline_ns &&
			   c->slots[s->slot].io.op == MESH_IO_READ) {
			/* Silent member: try again, and learn whether the
			 * configuration moved on. Only reads: a write that may
			 * have landed is never sent twice (see sub_send). */
			c->stats.retries++;
			s->gen++;
			if (g && !g->asking)
				lease_ask(c, g);
			sub_send(c, s);
		} else if (now >= s->attempt_deadline_ns && g && !g->asking) {
			lease_ask(c, g);
			s->attempt_deadline_ns = c->slots[s->slot].deadline_ns;
		} else if (s->parked) {
			sub_send(c, s);
		}
	}
}

/* Renew leases of groups in use at half-life; ask again when an ask got
 * no decision within a tick. */
static void lease_tick(struct mesh_client *c)
{
	uint64_t now = mesh_env_now_ns(c->env);
	uint64_t tick = c->cfg.lease_ns / LEASE_TICKS;
	bool more = false;

	for (uint32_t i = 0; i < c->group_count; i++) {
		struct cgroup *g = &c->groups[i];
		/* A write stuck on a silent member keeps its group in use:
		 * the next lease brings the epoch that ends it. */
		bool in_use = g->inflight ||
			      (g->used && now - g->last_used_ns < c->cfg.lease_ns);

		if (!in_use) {
			g->asking = false; /* nobody waits: the next use asks afresh */
			continue;
		}
		more = true;
		if (g->asking ? now - g->asked_ns >= tick
			      : (!c->cfg.no_leases && now >= g->renew_at_ns) || g->waiting)
			lease_ask(c, g);
	}
	if (more)
		arm_lease_tick(c);
}

void mesh_client_on_timer(struct mesh_client *c, uint32_t timer_id)
{
	if (timer_id == TIMER_LEASE) {
		c->lease_armed = false;
		lease_tick(c);
		return;
	}
	if (timer_id == TIMER_SWEEP)
		c->sweep_armed = false;
	else if (timer_id == TIMER_RESEND)
		c->resend_armed = false;
	else
		return;
	sweep(c);
	if (c->subs_inflight > 0)
		arm_sweep(c);
}


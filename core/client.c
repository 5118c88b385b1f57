/*
 * core/client.c: volume I/O split by layout and fanned out to targets.
 *
 * An I/O holds one slot from submit until it is reaped. It is cut into
 * extents (core/layout.h); each extent becomes sub-requests: one per copy
 * for a write, one for a read. A sub-request's wire request id is its pool
 * index plus a generation, so a late or duplicated reply to a sub-request
 * that was retried or freed is recognised and dropped.
 *
 * Timeouts: one sweep timer runs while anything is in flight; every sweep
 * fails the sub-requests past their deadline and resends the parked ones.
 * A sweep walks the whole sub-request pool, paid every io_timeout_ns / 4:
 * two timers per client instead of one per request keep the environment's
 * timer table small and fixed.
 *
 * Back-pressure: a sub-request that met a full path (send -EAGAIN) or a
 * busy target (reply -EAGAIN) is parked and resent after
 * MESH_CLIENT_RESEND_NS by the resend timer, within its attempt's deadline,
 * so a busy target sees a paced trickle rather than a storm.
 *
 * Reads go to the first copy and fall back to the next ones only when it
 * fails. Spreading reads over copies is only safe once copies are known to
 * be in sync: after a write that failed on one copy, copies may differ, and
 * reading them in turn would return old and new data alternately. The
 * topology manager (epochs, stale copies) lifts this.
 */
#include "core/client.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/node.h"

#define TIMER_SWEEP MESH_TIMER_ID(MESH_ROLE_CLIENT, 1)
#define TIMER_RESEND MESH_TIMER_ID(MESH_ROLE_CLIENT, 2)
#define SWEEPS_PER_TIMEOUT 4
/* Header plus an IO body; what a sub-request's message prefix needs. */
#define IO_PREFIX_BYTES 64

struct io_slot {
	struct mesh_io io;
	uint32_t subs_pending;
	int status;
	bool in_use;
};

struct sub {
	uint32_t gen;
	uint32_t slot;          /* owning I/O */
	bool in_use;
	bool parked;            /* waits for the resend timer (path or target busy) */
	uint8_t copy;           /* read: the copy being tried */
	uint8_t copies_tried;   /* read: how many copies tried so far */
	struct mesh_extent ext;
	uint32_t target;        /* where this attempt went */
	uint64_t deadline_ns;
};

struct mesh_client {
	const struct mesh_env *env;
	struct mesh_client_config cfg;

	struct io_slot *slots;
	uint32_t *free_slots;
	uint32_t free_slot_count;

	struct sub *subs;
	uint32_t *free_subs;
	uint32_t free_sub_count;
	uint32_t subs_inflight;

	uint32_t *done;                 /* ring of completed slot indices */
	uint32_t done_head, done_count;

	bool sweep_armed, resend_armed;
	struct mesh_client_stats stats;
	/* Layouts are allocated as volumes are added: a full table of them
	 * would cost every client 64 layouts. */
	struct mesh_layout *volumes[MESH_CLIENT_VOLUMES_MAX];
};

static uint64_t sub_req_id(const struct mesh_client *c, const struct sub *s)
{
	return ((uint64_t)s->gen << 32) | (uint32_t)(s - c->subs);
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
	if (cfg->io_timeout_ns == 0 || cfg->io_timeout_ns > MESH_CLIENT_TIMEOUT_NS_MAX) {
		mesh_log_error(env, "client: I/O timeout %llu ns outside 1..%llu",
			       (unsigned long long)cfg->io_timeout_ns,
			       (unsigned long long)MESH_CLIENT_TIMEOUT_NS_MAX);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->env = env;
	c->cfg = *cfg;
	c->cfg.subrequests = subs;
	c->slots = calloc(cfg->queue_depth, sizeof(*c->slots));
	c->free_slots = calloc(cfg->queue_depth, sizeof(*c->free_slots));
	c->subs = calloc(subs, sizeof(*c->subs));
	c->free_subs = calloc(subs, sizeof(*c->free_subs));
	c->done = calloc(cfg->queue_depth, sizeof(*c->done));
	if (!c->slots || !c->free_slots || !c->subs || !c->free_subs || !c->done) {
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
	free(c->slots);
	free(c->free_slots);
	free(c->subs);
	free(c->free_subs);
	free(c->done);
	for (uint32_t v = 0; v < MESH_CLIENT_VOLUMES_MAX; v++)
		free(c->volumes[v]);
	free(c);
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

static void sub_failed(struct mesh_client *c, struct sub *s, int status);

static void arm_sweep(struct mesh_client *c)
{
	uint64_t period = c->cfg.io_timeout_ns / SWEEPS_PER_TIMEOUT;

	mesh_env_timer_arm_once(c->env, TIMER_SWEEP, &c->sweep_armed, period ? period : 1);
}

/* Resend @s when the resend timer fires. */
static void park(struct mesh_client *c, struct sub *s)
{
	s->parked = true;
	mesh_env_timer_arm_once(c->env, TIMER_RESEND, &c->resend_armed, MESH_CLIENT_RESEND_NS);
}

/* Send (or resend) a sub-request's message to its current target. The
 * deadline is the attempt's, set when the attempt starts, so resends after
 * a busy answer stay within the same bound. */
static void sub_send(struct mesh_client *c, struct sub *s)
{
	const struct io_slot *slot = &c->slots[s->slot];
	const struct mesh_layout *l = c->volumes[slot->io.volume];
	struct mesh_location loc = mesh_layout_locate(l, &s->ext, s->copy);
	bool write = slot->io.op == MESH_IO_WRITE;
	uint8_t *data = (uint8_t *)slot->io.buf + (s->ext.volume_offset - slot->io.offset);
	uint8_t prefix[IO_PREFIX_BYTES];
	struct mesh_msg m = {
		.hdr = {
			.type = write ? MESH_MSG_IO_WRITE : MESH_MSG_IO_READ,
			.req_id = sub_req_id(c, s),
		},
		.u.io = {
			.group = l->segments[s->ext.segment].group,
			.drive = loc.drive,
			.length = s->ext.length,
			.offset = loc.offset,
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
	s->target = loc.target;
	s->parked = false;
	arm_sweep(c);
	int rc = mesh_env_send(c->env, loc.target, iov, write ? 2 : 1);

	c->stats.subrequests_sent++;
	if (rc == -EAGAIN) {
		park(c, s);
	} else if (rc) {
		/* Known at once (no route, message too big): no point waiting
		 * for the deadline. */
		mesh_log_debug(c->env, "client: send to node %u failed: %d", loc.target, rc);
		sub_failed(c, s, rc);
	}
}

static struct sub *sub_get(struct mesh_client *c, uint32_t slot, const struct mesh_extent *e)
{
	assert(c->free_sub_count > 0);
	struct sub *s = &c->subs[c->free_subs[--c->free_sub_count]];
	uint32_t gen = s->gen + 1;

	memset(s, 0, sizeof(*s));
	s->gen = gen;
	s->in_use = true;
	s->slot = slot;
	s->ext = *e;
	s->deadline_ns = mesh_env_now_ns(c->env) + c->cfg.io_timeout_ns;
	c->subs_inflight++;
	c->slots[slot].subs_pending++;
	return s;
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
}

/* Retire a sub-request with @status; completes its I/O when it was last. */
static void sub_finish(struct mesh_client *c, struct sub *s, int status)
{
	struct io_slot *slot = &c->slots[s->slot];

	if (status && slot->status == 0)
		slot->status = status;
	s->in_use = false;
	s->gen++; /* any later reply to this attempt is stale */
	c->free_subs[c->free_sub_count++] = (uint32_t)(s - c->subs);
	c->subs_inflight--;
	assert(slot->subs_pending > 0);
	if (--slot->subs_pending == 0)
		slot_complete(c, s->slot);
}

/* A read attempt failed: try the next copy, or give up once all were tried. */
static void read_failed(struct mesh_client *c, struct sub *s, int status)
{
	const struct mesh_layout *l = c->volumes[c->slots[s->slot].io.volume];

	if (s->copies_tried < l->copies) {
		s->copy = (uint8_t)((s->copy + 1) % l->copies);
		s->copies_tried++;
		s->gen++;
		s->deadline_ns = mesh_env_now_ns(c->env) + c->cfg.io_timeout_ns;
		c->stats.retries++;
		sub_send(c, s);
		return;
	}
	sub_finish(c, s, status);
}

static void sub_failed(struct mesh_client *c, struct sub *s, int status)
{
	if (c->slots[s->slot].io.op == MESH_IO_READ)
		read_failed(c, s, status);
	else
		sub_finish(c, s, status);
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
	uint64_t subs_needed;

	if (rc)
		return rc;
	l = c->volumes[io->volume];
	extents = mesh_layout_extent_count(l, io->offset, io->length);
	if (extents < 0)
		return extents;
	subs_needed = (uint64_t)extents * (io->op == MESH_IO_WRITE ? l->copies : 1);
	if (subs_needed > c->cfg.subrequests)
		return -E2BIG;
	if (c->free_slot_count == 0 || subs_needed > c->free_sub_count)
		return -EAGAIN;

	uint32_t slot_index = c->free_slots[--c->free_slot_count];
	struct io_slot *slot = &c->slots[slot_index];

	*slot = (struct io_slot){ .io = *io, .in_use = true };
	/* Hold one extra reference while fanning out, so that a sub-request
	 * failing synchronously cannot complete the I/O half-built. */
	slot->subs_pending = 1;
	uint64_t offset = io->offset, left = io->length;

	while (left > 0) {
		struct mesh_extent e = mesh_layout_first_extent(l, offset, left);

		if (io->op == MESH_IO_WRITE) {
			for (uint32_t copy = 0; copy < l->copies; copy++) {
				struct sub *s = sub_get(c, slot_index, &e);

				s->copy = (uint8_t)copy;
				sub_send(c, s);
			}
		} else {
			struct sub *s = sub_get(c, slot_index, &e);

			s->copy = 0; /* the first copy; see the top of the file */
			s->copies_tried = 1;
			sub_send(c, s);
		}
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

unsigned mesh_client_inflight(const struct mesh_client *c)
{
	return c->cfg.queue_depth - c->free_slot_count;
}

void mesh_client_stats(const struct mesh_client *c, struct mesh_client_stats *out)
{
	*out = c->stats;
}

/* The sub-request a reply answers, or NULL if it is stale or forged. */
static struct sub *sub_for_reply(struct mesh_client *c, uint32_t src, uint64_t req_id)
{
	uint32_t index = (uint32_t)req_id;
	struct sub *s;

	if (index >= c->cfg.subrequests)
		return NULL;
	s = &c->subs[index];
	if (!s->in_use || s->gen != (uint32_t)(req_id >> 32) || s->target != src)
		return NULL;
	return s;
}

static void on_io_reply(struct mesh_client *c, struct sub *s, const struct mesh_msg *m)
{
	const struct mesh_msg_io_reply *r = &m->u.io_reply;
	struct io_slot *slot = &c->slots[s->slot];

	if (r->status == -EAGAIN) {
		/* The target was out of request slots: resend after a pause,
		 * within the attempt's deadline. (Per-target credits would
		 * avoid the round trip; targets do not advertise them yet.) */
		s->gen++;
		c->stats.retries++;
		park(c, s);
		return;
	}
	if (r->status) {
		sub_failed(c, s, r->status);
		return;
	}
	if (slot->io.op == MESH_IO_READ) {
		if (m->data_len != s->ext.length) {
			mesh_log_warn(c->env, "client: node %u sent %u bytes for a %u-byte read",
				      s->target, m->data_len, s->ext.length);
			sub_failed(c, s, -EIO);
			return;
		}
		memcpy((uint8_t *)slot->io.buf + (s->ext.volume_offset - slot->io.offset), m->data,
		       m->data_len);
	}
	sub_finish(c, s, 0);
}

void mesh_client_on_msg(struct mesh_client *c, uint32_t src, const struct mesh_msg *m)
{
	struct sub *s = sub_for_reply(c, src, m->hdr.req_id);

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
		sub_failed(c, s, m->u.error.code);
		break;
	default:
		mesh_log_warn(c->env, "client: unexpected %s from node %u",
			      mesh_proto_type_name(m->hdr.type), src);
		break;
	}
}

/* Fail what is overdue, resend what waited for a free path. */
static void sweep(struct mesh_client *c)
{
	uint64_t now = mesh_env_now_ns(c->env);

	for (uint32_t i = 0; i < c->cfg.subrequests && c->subs_inflight > 0; i++) {
		struct sub *s = &c->subs[i];

		if (!s->in_use)
			continue;
		if (now >= s->deadline_ns) {
			c->stats.timeouts++;
			mesh_log_debug(c->env, "client: node %u did not answer in time", s->target);
			sub_failed(c, s, -ETIMEDOUT);
		} else if (s->parked) {
			sub_send(c, s);
		}
	}
}

void mesh_client_on_timer(struct mesh_client *c, uint32_t timer_id)
{
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

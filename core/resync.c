/*
 * core/resync.c: the source side of a rebuild (see resync.h).
 *
 * A copy walks the segment in chunk steps, skipping regions it need not
 * send, with up to `inflight` chunks under way; each chunk is read from
 * this node's drive, then written to the rebuilding replica and resent
 * every attempt_ns until acknowledged. Resending is safe: the replica
 * keeps whatever a client wrote since it became rebuilding, and the other
 * sectors of the source do not change under the copy's epoch (every
 * write of that epoch reaches the replica first, and older epochs are
 * fenced here).
 *
 * A copy ends when every chunk is acknowledged (then MARK_ACTIVE is asked
 * for, under the copy's epoch), or is abandoned when the group's epoch
 * moves, the replica refuses it, or the drive fails; the next look for
 * work starts again from the configuration then held.
 */
#include "core/resync.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/dirty.h"
#include "core/group.h"
#include "core/node.h"
#include "core/toma.h"

#define TIMER_WORK MESH_TIMER_ID(MESH_ROLE_RESYNC, 1)
#define TIMER_AGE MESH_TIMER_ID(MESH_ROLE_RESYNC, 2)
/* The work tick (resends, abandoned copies, MARK_ACTIVE asked again until it
 * commits) runs this many times per attempt. */
#define WORK_TICKS_PER_ATTEMPT 4

enum chunk_state { CHUNK_FREE, CHUNK_READING, CHUNK_SENT };

struct chunk {
	enum chunk_state state;
	uint32_t gen;
	uint64_t offset;        /* within the segment */
	uint32_t length;
	uint64_t sent_at_ns;
	uint8_t *buf;
};

struct copy {
	bool running;
	bool finished;          /* all copied: waiting for MARK_ACTIVE to commit */
	uint64_t group, epoch, bytes;
	uint32_t dst_node, dst_drive;
	uint64_t dst_offset;
	uint32_t src_drive;
	uint64_t src_offset;
	uint64_t *regions;      /* NULL: the whole segment */
	uint64_t cursor;        /* next segment byte to consider */
	uint64_t total, done;   /* bytes */
};

struct mesh_resync {
	const struct mesh_env *env;
	struct mesh_resync_config cfg;
	struct mesh_toma *toma;
	struct mesh_dirty *dirty;
	struct copy copy;
	struct chunk chunks[MESH_RESYNC_INFLIGHT_MAX];
	uint8_t *buffers;
	bool work_armed, age_armed;
	/* A copy refused because this node held an old epoch of the group:
	 * none starts again until that epoch moves. */
	uint64_t behind_group, behind_epoch;
	struct mesh_resync_stats stats;
};

int mesh_resync_create(const struct mesh_env *env, const struct mesh_resync_config *cfg,
		       struct mesh_toma *toma, struct mesh_dirty *dirty, struct mesh_resync **out)
{
	struct mesh_resync *r;

	if (cfg->chunk_bytes < 512 || cfg->chunk_bytes > MESH_PROTO_DATA_MAX ||
	    cfg->chunk_bytes % 512 || cfg->inflight == 0 ||
	    cfg->inflight > MESH_RESYNC_INFLIGHT_MAX || cfg->attempt_ns < WORK_TICKS_PER_ATTEMPT ||
	    cfg->age_window_ns == 0) {
		mesh_log_error(env, "resync: chunk %u bytes (512..%u, whole sectors), %u in flight "
				    "(1..%u), attempt %llu ns or window %llu ns out of range",
			       cfg->chunk_bytes, MESH_PROTO_DATA_MAX, cfg->inflight,
			       MESH_RESYNC_INFLIGHT_MAX, (unsigned long long)cfg->attempt_ns,
			       (unsigned long long)cfg->age_window_ns);
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	/* Page-aligned, with chunks of whole sectors: drives opened with
	 * O_DIRECT take every chunk's buffer as it is. */
	size_t bytes = (size_t)cfg->inflight * cfg->chunk_bytes;

	r->buffers = aligned_alloc(4096, (bytes + 4095) / 4096 * 4096);
	if (!r->buffers) {
		free(r);
		return -ENOMEM;
	}
	r->env = env;
	r->cfg = *cfg;
	r->toma = toma;
	r->dirty = dirty;
	for (uint32_t i = 0; i < cfg->inflight; i++)
		r->chunks[i].buf = r->buffers + (size_t)i * cfg->chunk_bytes;
	mesh_env_timer_arm_once(env, TIMER_AGE, &r->age_armed, cfg->age_window_ns);
	*out = r;
	return 0;
}

void mesh_resync_destroy(struct mesh_resync *r)
{
	if (!r)
		return;
	if (r->work_armed)
		mesh_env_timer_cancel(r->env, TIMER_WORK);
	if (r->age_armed)
		mesh_env_timer_cancel(r->env, TIMER_AGE);
	free(r->copy.regions);
	free(r->buffers);
	free(r);
}

void mesh_resync_stats(const struct mesh_resync *r, struct mesh_resync_stats *out)
{
	*out = r->stats;
	out->current_group = r->copy.running ? r->copy.group : 0;
	out->current_bytes_total = r->copy.running ? r->copy.total : 0;
	out->current_bytes_done = r->copy.running ? r->copy.done : 0;
}

static void arm_work(struct mesh_resync *r)
{
	mesh_env_timer_arm_once(r->env, TIMER_WORK, &r->work_armed,
				r->cfg.attempt_ns / WORK_TICKS_PER_ATTEMPT);
}

/* The rebuilding replica this node should copy to in @c, or -1: this node
 * is the first active replica in chain order. */
static int copy_target(const struct mesh_resync *r, const struct mesh_group_config *c)
{
	int rebuilding = -1;

	for (unsigned i = 0; i < c->member_count; i++) {
		const struct mesh_group_member *m = &c->members[i];

		if (m->role != MESH_MEMBER_REPLICA)
			continue;
		if (m->state == MESH_MEMBER_REBUILDING && rebuilding < 0)
			rebuilding = (int)i;
		if (m->state == MESH_MEMBER_ACTIVE)
			return m->node == r->env->self ? rebuilding : -1;
	}
	return -1;
}

void mesh_resync_on_config(struct mesh_resync *r, const struct mesh_group_config *c)
{
	if (copy_target(r, c) >= 0 || (r->copy.running && r->copy.group == c->group))
		arm_work(r);
}

static bool region_wanted(const struct copy *cp, uint64_t offset)
{
	uint64_t region = offset / MESH_DIRTY_REGION_BYTES;

	return !cp->regions || (cp->regions[region / 64] >> (region % 64)) & 1;
}

static uint64_t region_end(const struct copy *cp, uint64_t offset)
{
	uint64_t end = (offset / MESH_DIRTY_REGION_BYTES + 1) * MESH_DIRTY_REGION_BYTES;

	return end < cp->bytes ? end : cp->bytes;
}

static void copy_stop(struct mesh_resync *r, bool aborted, const char *why)
{
	struct copy *cp = &r->copy;

	if (aborted) {
		r->stats.copies_aborted++;
		mesh_log_info(r->env, "resync: group %llu epoch %llu: copy to node %u stopped at "
				      "%llu of %llu bytes: %s",
			      (unsigned long long)cp->group, (unsigned long long)cp->epoch,
			      cp->dst_node, (unsigned long long)cp->done,
			      (unsigned long long)cp->total, why);
	}
	free(cp->regions);
	cp->regions = NULL;
	cp->running = false;
	cp->finished = false;
	for (uint32_t i = 0; i < r->cfg.inflight; i++) {
		/* A drive read under way keeps its buffer until it completes. */
		if (r->chunks[i].state == CHUNK_SENT)
			r->chunks[i].state = CHUNK_FREE;
		r->chunks[i].gen++;
	}
	arm_work(r);
}

static void chunk_send(struct mesh_resync *r, struct chunk *ch)
{
	const struct copy *cp = &r->copy;
	uint8_t prefix[MESH_PROTO_PREFIX_MAX];
	struct mesh_msg m = {
		.hdr = {
			.type = MESH_MSG_IO_WRITE,
			.req_id = MESH_RESYNC_TAG | ((uint64_t)(ch->gen & 0x7fffffffu) << 32) |
				  (uint32_t)(ch - r->chunks),
			.epoch = cp->epoch,
		},
		.u.io = {
			.group = cp->group,
			.drive = cp->dst_drive,
			.length = ch->length,
			.offset = cp->dst_offset + ch->offset,
			.flags = MESH_IO_F_RESYNC,
		},
		.data = ch->buf,
		.data_len = ch->length,
	};
	int n = mesh_proto_encode(&m, prefix, sizeof(prefix));

	if (n < 0) {
		mesh_log_error(r->env, "resync: cannot encode a copy message: %d", n);
		return;
	}
	struct mesh_iov iov[2] = { { prefix, (size_t)n }, { ch->buf, ch->length } };

	ch->state = CHUNK_SENT;
	ch->sent_at_ns = mesh_env_now_ns(r->env);
	n = mesh_env_send(r->env, cp->dst_node, iov, 2);
	if (n)
		mesh_log_debug(r->env, "resync: copy to node %u not sent: %d", cp->dst_node, n);
}

/* Start reading the next chunks the copy needs; finish it when none is
 * left and all are acknowledged. */
static void copy_pump(struct mesh_resync *r)
{
	struct copy *cp = &r->copy;
	bool busy = false;

	for (uint32_t i = 0; i < r->cfg.inflight; i++) {
		struct chunk *ch = &r->chunks[i];

		while (ch->state == CHUNK_FREE && cp->cursor < cp->bytes) {
			uint64_t end = region_end(cp, cp->cursor);

			if (!region_wanted(cp, cp->cursor)) {
				cp->cursor = end;
				continue;
			}
			ch->offset = cp->cursor;
			ch->length = (uint32_t)(end - cp->cursor < r->cfg.chunk_bytes
							? end - cp->cursor : r->cfg.chunk_bytes);
			cp->cursor += ch->length;
			ch->state = CHUNK_READING;
			ch->gen++;

			struct mesh_drive_io io = {
				.drive = cp->src_drive,
				.op = MESH_DRIVE_READ,
				.offset = cp->src_offset + ch->offset,
				.length = ch->length,
				.buf = ch->buf,
				.cookie = MESH_RESYNC_TAG | ((uint64_t)(ch->gen & 0x7fffffffu) << 32) | i,
			};
			int rc = mesh_env_drive_submit(r->env, &io);

			if (rc) {
				ch->state = CHUNK_FREE;
				copy_stop(r, true, "source drive refused a read");
				return;
			}
		}
		busy |= ch->state != CHUNK_FREE;
	}
	if (busy || cp->cursor < cp->bytes)
		return;
	cp->finished = true;
	r->stats.copies_done++;
	mesh_log_info(r->env, "resync: group %llu epoch %llu: %llu bytes copied to node %u; "
			      "asking to mark it active",
		      (unsigned long long)cp->group, (unsigned long long)cp->epoch,
		      (unsigned long long)cp->done, cp->dst_node);
	mesh_toma_request(r->toma, cp->group, MESH_GROUP_MARK_ACTIVE, cp->dst_node, cp->epoch);
}

/* Count the bytes a copy will send. */
static uint64_t copy_total(const struct copy *cp)
{
	uint64_t total = 0;

	for (uint64_t off = 0; off < cp->bytes; off = region_end(cp, off)) {
		if (region_wanted(cp, off))
			total += region_end(cp, off) - off;
	}
	return total;
}

static void copy_start(struct mesh_resync *r, const struct mesh_group_config *c, int dst)
{
	struct copy *cp = &r->copy;
	const struct mesh_group_member *to = &c->members[dst];
	int self = mesh_group_member_of(c, r->env->self);
	/* Without a readable dirty map nothing says what it missed. */
	bool returning = mesh_toma_member_returning(r->toma, c->group, to->node) &&
			 mesh_dirty_readable(r->dirty, c->group, c->bytes) == 0;

	*cp = (struct copy){
		.running = true,
		.group = c->group,
		.epoch = c->epoch,
		.bytes = c->bytes,
		.dst_node = to->node,
		.dst_drive = to->drive,
		.dst_offset = to->offset,
		.src_drive = c->members[self].drive,
		.src_offset = c->members[self].offset,
	};
	if (returning) {
		const uint64_t *marked = mesh_dirty_regions(r->dirty, c->group, c->bytes);
		size_t words = (mesh_dirty_region_count(c->bytes) + 63) / 64;

		cp->regions = calloc(words ? words : 1, sizeof(uint64_t));
		if (!cp->regions) {
			cp->running = false;
			arm_work(r);
			return;
		}
		if (marked)
			memcpy(cp->regions, marked, words * sizeof(uint64_t));
	} else {
		r->stats.full_copies++;
	}
	if (r->cfg.no_copy)
		cp->cursor = cp->bytes;
	cp->total = copy_total(cp);
	r->stats.copies_started++;
	mesh_log_info(r->env, "resync: group %llu epoch %llu: copying %llu of %llu bytes to node %u (%s)",
		      (unsigned long long)c->group, (unsigned long long)c->epoch,
		      (unsigned long long)cp->total, (unsigned long long)c->bytes, to->node,
		      returning ? "regions written while it was away" : "whole segment");
	copy_pump(r);
	/* The tick resends what is lost: replies alone would not move a
	 * copy whose message (or its answer) never arrived. */
	arm_work(r);
}

/* Check the copy under way against the configuration now held; start one
 * if none runs. */
static void look_for_work(struct mesh_resync *r)
{
	struct copy *cp = &r->copy;

	if (cp->running) {
		const struct mesh_group_config *c = mesh_toma_config_of(r->toma, cp->group);

		if (!c || c->epoch != cp->epoch) {
			if (cp->finished)
				copy_stop(r, false, NULL); /* marked active, or moved on */
			else
				copy_stop(r, true, "the group's epoch moved");
			return;
		}
		if (cp->finished)
			mesh_toma_request(r->toma, cp->group, MESH_GROUP_MARK_ACTIVE, cp->dst_node,
					  cp->epoch);
		arm_work(r);
		return;
	}
	for (uint32_t i = 0; i < mesh_toma_group_count(r->toma); i++) {
		const struct mesh_group_config *c = mesh_toma_config_at(r->toma, i);
		int dst = copy_target(r, c);

		if (dst >= 0 && c->group == r->behind_group && c->epoch == r->behind_epoch) {
			arm_work(r); /* still catching up */
			continue;
		}
		if (dst >= 0) {
			copy_start(r, c, dst);
			return;
		}
	}
}

/* Resend chunks past their attempt; abandon a copy whose epoch moved. */
static void work_tick(struct mesh_resync *r)
{
	uint64_t now = mesh_env_now_ns(r->env);

	look_for_work(r);
	if (!r->copy.running || r->copy.finished)
		return;
	for (uint32_t i = 0; i < r->cfg.inflight; i++) {
		struct chunk *ch = &r->chunks[i];

		if (ch->state == CHUNK_SENT && now - ch->sent_at_ns >= r->cfg.attempt_ns) {
			r->stats.chunks_resent++;
			chunk_send(r, ch);
		}
	}
}

static bool group_settled(void *arg, uint64_t group)
{
	return mesh_toma_group_settled(arg, group);
}

void mesh_resync_on_timer(struct mesh_resync *r, uint32_t timer_id)
{
	if (timer_id == TIMER_AGE) {
		r->age_armed = false;
		r->stats.regions_aged += mesh_dirty_age(r->dirty, group_settled, r->toma);
		mesh_env_timer_arm_once(r->env, TIMER_AGE, &r->age_armed, r->cfg.age_window_ns);
		return;
	}
	if (timer_id != TIMER_WORK) {
		mesh_log_warn(r->env, "resync: unknown timer %#x", timer_id);
		return;
	}
	r->work_armed = false;
	work_tick(r);
}

/* The chunk @id names (a request id or a drive cookie), or NULL if stale. */
static struct chunk *chunk_of(struct mesh_resync *r, uint64_t id)
{
	uint32_t index = (uint32_t)id;
	struct chunk *ch;

	if (!(id & MESH_RESYNC_TAG) || index >= r->cfg.inflight)
		return NULL;
	ch = &r->chunks[index];
	return (ch->gen & 0x7fffffffu) == (uint32_t)((id >> 32) & 0x7fffffffu) ? ch : NULL;
}

void mesh_resync_on_drive_done(struct mesh_resync *r, uint64_t cookie, int result)
{
	uint32_t index = (uint32_t)cookie;
	struct chunk *ch = chunk_of(r, cookie);

	if (!ch) {
		/* A read of an abandoned copy: its buffer is free again. */
		if (index < r->cfg.inflight && r->chunks[index].state == CHUNK_READING)
			r->chunks[index].state = CHUNK_FREE;
		return;
	}
	if (ch->state != CHUNK_READING)
		return;
	if (result != (int)ch->length) {
		ch->state = CHUNK_FREE;
		copy_stop(r, true, "source drive read failed");
		return;
	}
	chunk_send(r, ch);
}

void mesh_resync_on_msg(struct mesh_resync *r, uint32_t src, const struct mesh_msg *m)
{
	struct chunk *ch = chunk_of(r, m->hdr.req_id);
	struct copy *cp = &r->copy;

	if (m->hdr.type != MESH_MSG_IO_REPLY && m->hdr.type != MESH_MSG_ERROR)
		return;
	if (!ch || ch->state != CHUNK_SENT || !cp->running || src != cp->dst_node)
		return;
	int status = m->hdr.type == MESH_MSG_ERROR ? m->u.error.code : m->u.io_reply.status;

	if (status == -EAGAIN)
		return; /* busy: the tick sends it again */
	if (status == -ESTALE && m->hdr.epoch > cp->epoch) {
		/* This node is behind (it restarted, say): learn the newest
		 * configuration before copying anything again. */
		r->behind_group = cp->group;
		r->behind_epoch = cp->epoch;
		mesh_toma_catch_up(r->toma, cp->group);
	}
	if (status) {
		mesh_log_debug(r->env, "resync: node %u refused a copy: %d", src, status);
		copy_stop(r, true, status == -ESTALE ? "the replica holds another epoch"
						     : "the replica refused the copy");
		return;
	}
	ch->state = CHUNK_FREE;
	ch->gen++;
	cp->done += ch->length;
	r->stats.bytes_copied += ch->length;
	copy_pump(r);
}

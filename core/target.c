/*
 * core/target.c: serve drive reads and writes for clients.
 *
 * Every request is checked before it touches a drive (drive index, range,
 * size) and answered with a precise errno when it fails. A write's data is
 * copied out of the message into a slot buffer, because the message is only
 * borrowed for the duration of the event while the drive I/O outlives it.
 *
 * A reply that meets a full path (send -EAGAIN) keeps its slot and is sent
 * again by the resend timer, so a slow client costs the target slots, never
 * an acknowledged write's answer. Error answers sent before a slot is taken
 * are not kept: if they cannot be sent, the client's timeout reports it.
 */
#include "core/target.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/dirty.h"
#include "core/fresh.h"
#include "core/grants.h"
#include "core/group.h"
#include "core/node.h"
#include "core/toma.h"
#include "core/unsettled.h"

#define TIMER_RESEND MESH_TIMER_ID(MESH_ROLE_TARGET, 1)
/* Writes remembered to recognise a duplicate delivery. */
#define RECENT_WRITES 128u
/* Drive cookies keep the top bit clear: the node routes tagged ones to the
 * resync role. */
#define GEN_MASK 0x7fffffffu
/* Keys for one-sided reads a target holds at once: one per group and
 * epoch it is the tail of. */
#define GRANTS 1024u
/* Request buffers start on a page: drives opened with O_DIRECT need
 * aligned memory, and a page suits every logical block size. */
#define BUFFER_ALIGN 4096u

/* A client's write, as its incarnation and sequence number name it. */
struct write_id {
	uint64_t incarnation, seq, offset;
	uint32_t drive;
};

struct request {
	bool in_use;
	bool reply_pending;     /* done on the drive, answer not sent yet */
	int status;
	uint32_t gen;
	uint32_t client;
	uint64_t req_id;
	uint64_t epoch;
	uint8_t type;
	uint64_t group;
	uint32_t drive;
	uint32_t length;
	uint64_t offset;
	/* A read this replica answers ahead of the tail, and the unsettled
	 * writes' stamp when it started (core/unsettled.h). */
	bool ahead;
	uint64_t stamp;
	/* A write may go to the drive in several runs (a copy skips sectors
	 * clients wrote); the request is done when all have completed. */
	uint32_t ios_pending;
	uint64_t run_bytes, done_bytes;
	uint8_t *buf;
};

struct mesh_target {
	const struct mesh_env *env;
	struct mesh_target_config cfg;
	struct request *reqs;
	uint32_t *free_reqs;
	uint32_t free_count;
	uint8_t *buffers;
	struct mesh_target_stats stats;
	/* Drives whose last I/O failed: a failing drive is logged when it
	 * starts and stops failing, not once per I/O. */
	bool drive_failing[MESH_TARGET_DRIVES_MAX];
	bool resend_armed;
	/* The last writes taken, so that a network that delivers a message
	 * twice cannot apply an old write again over a newer one. */
	struct write_id recent[RECENT_WRITES];
	uint32_t recent_next;
	/* Sectors clients wrote in groups this node is rebuilding; the table
	 * (MESH_TARGET_REBUILDS_MAX entries) is made at the first rebuild, so
	 * that targets that never rebuild do not carry it. */
	struct mesh_fresh *fresh;
	/* Writes this node took ahead of its group's tail, not yet settled. */
	struct mesh_unsettled unsettled;
	/* Keys handed out for one-sided reads, made at the first request so
	 * that targets nobody reads one-sided (a simulation's) do not carry
	 * the table. Never without a topology manager: keys are only safe
	 * under epoch fencing. */
	struct mesh_grants *grants;
};

static int check_config(const struct mesh_env *env, const struct mesh_target_config *cfg)
{
	if (cfg->drive_count == 0 || cfg->drive_count > MESH_TARGET_DRIVES_MAX) {
		mesh_log_error(env, "target: %u drives outside 1..%u", cfg->drive_count,
			       MESH_TARGET_DRIVES_MAX);
		return -EINVAL;
	}
	if (cfg->inflight == 0 || cfg->inflight > MESH_TARGET_INFLIGHT_MAX) {
		mesh_log_error(env, "target: %u in-flight requests outside 1..%u", cfg->inflight,
			       MESH_TARGET_INFLIGHT_MAX);
		return -EINVAL;
	}
	if (cfg->dirty && !cfg->toma) {
		mesh_log_error(env, "target: dirty maps need a topology manager");
		return -EINVAL;
	}
	if (cfg->io_bytes_max == 0 || cfg->io_bytes_max > MESH_PROTO_DATA_MAX) {
		mesh_log_error(env, "target: I/O size limit %u outside 1..%u", cfg->io_bytes_max,
			       MESH_PROTO_DATA_MAX);
		return -EINVAL;
	}
	return 0;
}

/* Every slot's buffer, rounded up to whole pages as aligned_alloc wants. */
static size_t buffer_bytes(const struct mesh_target_config *cfg)
{
	size_t bytes = (size_t)cfg->inflight * cfg->io_bytes_max;

	return (bytes + BUFFER_ALIGN - 1) / BUFFER_ALIGN * BUFFER_ALIGN;
}

int mesh_target_create(const struct mesh_env *env, const struct mesh_target_config *cfg,
		       struct mesh_target **out)
{
	struct mesh_target *t;
	int rc = check_config(env, cfg);

	if (rc)
		return rc;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->env = env;
	t->cfg = *cfg;
	t->reqs = calloc(cfg->inflight, sizeof(*t->reqs));
	t->free_reqs = calloc(cfg->inflight, sizeof(*t->free_reqs));
	t->buffers = aligned_alloc(BUFFER_ALIGN, buffer_bytes(cfg));
	if (!t->reqs || !t->free_reqs || !t->buffers) {
		mesh_target_destroy(t);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < cfg->inflight; i++) {
		t->reqs[i].buf = t->buffers + (size_t)i * cfg->io_bytes_max;
		t->free_reqs[i] = cfg->inflight - 1 - i;
	}
	t->free_count = cfg->inflight;
	*out = t;
	return 0;
}

void mesh_target_destroy(struct mesh_target *t)
{
	if (!t)
		return;
	if (t->resend_armed)
		mesh_env_timer_cancel(t->env, TIMER_RESEND);
	for (uint32_t i = 0; t->fresh && i < MESH_TARGET_REBUILDS_MAX; i++)
		mesh_fresh_release(&t->fresh[i]);
	free(t->fresh);
	mesh_grants_destroy(t->grants);
	mesh_unsettled_release(&t->unsettled);
	free(t->reqs);
	free(t->free_reqs);
	free(t->buffers);
	free(t);
}

unsigned mesh_target_inflight(const struct mesh_target *t)
{
	return t->cfg.inflight - t->free_count;
}

void mesh_target_stats(const struct mesh_target *t, struct mesh_target_stats *out)
{
	*out = t->stats;
}

static int reply_io(struct mesh_target *t, uint32_t dst, uint64_t req_id, uint64_t epoch,
		    int status, const uint8_t *data, uint32_t data_len)
{
	uint8_t prefix[MESH_PROTO_PREFIX_MAX];
	struct mesh_msg m = {
		.hdr = { .type = MESH_MSG_IO_REPLY, .req_id = req_id, .epoch = epoch },
		.u.io_reply = { .status = status, .length = data_len },
		.data = data,
		.data_len = data_len,
	};
	int n = mesh_proto_encode(&m, prefix, sizeof(prefix));

	assert(n > 0);
	struct mesh_iov iov[2] = { { prefix, (size_t)n }, { data, data_len } };
	int rc = mesh_env_send(t->env, dst, iov, data_len ? 2 : 1);

	if (rc)
		mesh_log_debug(t->env, "target: reply to node %u not sent: %d", dst, rc);
	return rc;
}

static int check_io(const struct mesh_target *t, const struct mesh_msg_io *io)
{
	if (io->drive >= t->cfg.drive_count)
		return -ENODEV;
	if (io->length > t->cfg.io_bytes_max)
		return -E2BIG;
	if (io->offset > t->cfg.drive_bytes[io->drive] ||
	    io->length > t->cfg.drive_bytes[io->drive] - io->offset)
		return -ERANGE;
	return 0;
}

static void release(struct mesh_target *t, struct request *r)
{
	r->in_use = false;
	r->gen++;
	t->free_reqs[t->free_count++] = (uint32_t)(r - t->reqs);
}

/* Whether @io is a write this target took already; remembers it if not. */
static bool seen_before(struct mesh_target *t, const struct mesh_msg_io *io)
{
	struct write_id id = {
		.incarnation = io->incarnation, .seq = io->seq, .offset = io->offset,
		.drive = io->drive,
	};

	if (!io->seq)
		return false; /* not numbered by its client */
	for (uint32_t i = 0; i < RECENT_WRITES; i++) {
		const struct write_id *r = &t->recent[i];

		if (r->seq == id.seq && r->incarnation == id.incarnation &&
		    r->offset == id.offset && r->drive == id.drive)
			return true;
	}
	t->recent[t->recent_next] = id;
	t->recent_next = (t->recent_next + 1) % RECENT_WRITES;
	return false;
}

/* The fresh-sector map of @group's rebuild that began at @epoch, made if
 * needed; NULL when every map is taken by a rebuild still under way. */
static struct mesh_fresh *fresh_get(struct mesh_target *t, uint64_t group, uint64_t epoch,
				    uint64_t bytes)
{
	struct mesh_fresh *spare = NULL;

	if (!t->fresh && !(t->fresh = calloc(MESH_TARGET_REBUILDS_MAX, sizeof(*t->fresh))))
		return NULL;
	/* Every write of a rebuilding group comes here: find its map first,
	 * and ask the manager about other rebuilds only to make a new one. */
	for (uint32_t i = 0; i < MESH_TARGET_REBUILDS_MAX && !spare; i++) {
		struct mesh_fresh *f = &t->fresh[i];

		if (f->epoch && f->group == group) {
			if (f->epoch == epoch && f->bytes == bytes)
				return f;
			spare = f; /* an earlier rebuild of this group: start clean */
		}
	}
	for (uint32_t i = 0; i < MESH_TARGET_REBUILDS_MAX && !spare; i++) {
		struct mesh_fresh *f = &t->fresh[i];

		if (!f->epoch || mesh_toma_rebuild_epoch(t->cfg.toma, f->group) != f->epoch)
			spare = f; /* free, or its rebuild is over */
	}
	if (!spare || mesh_fresh_init(spare, group, epoch, bytes))
		return NULL;
	return spare;
}

/*
 * What a write needs before it reaches the drive, under the configuration
 * this node holds: it must fall inside this node's segment of the group;
 * its regions are marked dirty (durably); on a rebuilding replica a client
 * write marks its sectors fresh, and a copy (MESH_IO_F_RESYNC) learns
 * which sectors it must skip (*@fresh). *@segment_offset is where the
 * write starts in the segment. A copy is refused unless this node is
 * rebuilding since an epoch it knows. @c is the group's configuration
 * (from the fencing check), NULL without a manager.
 */
static int write_prepare(struct mesh_target *t, const struct mesh_msg_io *io,
			 const struct mesh_group_config *c, struct mesh_fresh **fresh,
			 uint64_t *segment_offset)
{
	bool resync = io->flags & MESH_IO_F_RESYNC;
	const struct mesh_group_member *self;
	uint64_t since = 0;
	int member;

	*fresh = NULL;
	if (!t->cfg.toma)
		return resync ? -EOPNOTSUPP : 0;
	member = c ? mesh_group_member_of(c, t->env->self) : -1;
	if (member < 0 || c->members[member].role != MESH_MEMBER_REPLICA)
		return resync ? -EINVAL : 0; /* only without fencing */
	self = &c->members[member];
	if (io->drive != self->drive || io->offset < self->offset ||
	    io->offset - self->offset >= c->bytes || io->length > c->bytes - (io->offset - self->offset))
		return -ERANGE;
	*segment_offset = io->offset - self->offset;
	if (resync && self->state != MESH_MEMBER_REBUILDING)
		return -EINVAL;
	if (self->state == MESH_MEMBER_REBUILDING) {
		/* Fresh sectors are whole sectors, as clients write them. */
		if ((io->offset | io->length) % MESH_FRESH_SECTOR_BYTES)
			return -EINVAL;
		since = mesh_toma_rebuild_epoch(t->cfg.toma, io->group);
		if (!since && resync)
			return -ECANCELED; /* restarted mid-rebuild: a new one comes */
	}
	/* Marked before it may count as fresh: a write refused here must
	 * not make a copy skip its sectors. */
	if (t->cfg.dirty &&
	    mesh_dirty_mark(t->cfg.dirty, io->group, c->bytes, *segment_offset, io->length))
		return -EIO;
	if (self->state == MESH_MEMBER_REBUILDING && since) {
		struct mesh_fresh *f = fresh_get(t, io->group, since, c->bytes);

		if (!f)
			return -EAGAIN;
		if (resync)
			*fresh = f;
		else
			mesh_fresh_mark(f, *segment_offset, io->length);
	}
	return 0;
}

/* Request @r failed on its drive. A replica that missed a write, or whose
 * media lost data, no longer holds what its group acknowledged: the
 * topology manager takes it out of the chain and replaces it, and the
 * client is told its configuration is over (-ESTALE), so that it retries
 * under the next one rather than failing the I/O. */
static void drive_error(struct mesh_target *t, struct request *r)
{
	if (t->cfg.toma && r->status == -EIO && mesh_toma_drive_failed(t->cfg.toma, r->group)) {
		t->stats.keys_revoked += mesh_grants_revoke_before(t->grants, r->group, UINT64_MAX);
		r->status = -ESTALE;
	}
}

/* Submit one drive run of request @r: bytes [@at, @at + @length) of its
 * buffer, at drive offset @offset. */
static int submit_run(struct mesh_target *t, struct request *r, uint64_t offset, uint32_t at,
		      uint32_t length)
{
	struct mesh_drive_io dio = {
		.drive = r->drive,
		.op = r->type == MESH_MSG_IO_WRITE ? MESH_DRIVE_WRITE : MESH_DRIVE_READ,
		.offset = offset,
		.length = length,
		.buf = r->buf + at,
		.cookie = ((uint64_t)(r->gen & GEN_MASK) << 32) | (uint32_t)(r - t->reqs),
	};
	int rc = mesh_env_drive_submit(t->env, &dio);

	if (rc == 0) {
		r->ios_pending++;
		r->run_bytes += length;
	}
	return rc;
}

static void answer(struct mesh_target *t, struct request *r);

/* Whether this node is a member of @c ahead of its tail (docs/toma.md,
 * "Reads from any active copy"). */
static bool ahead_of_tail(const struct mesh_target *t, const struct mesh_group_config *c)
{
	int member = c ? mesh_group_member_of(c, t->env->self) : -1;

	return member >= 0 && member != mesh_group_tail(c);
}

/* May this replica, ahead of the tail, answer read @io itself? Only if it
 * has held every write since its group began and none it holds for the
 * range may still be missing on the tail. */
static bool read_here(struct mesh_target *t, const struct mesh_msg_io *io)
{
	if (t->cfg.no_settle_check)
		return true;
	return mesh_toma_reads_any(t->cfg.toma, io->group) &&
	       mesh_unsettled_clean(&t->unsettled, io->drive, io->offset, io->length, 0);
}

/* Write @io, taken ahead of the tail, may be missing there until its
 * client settles it. */
static void note_unsettled(struct mesh_target *t, const struct mesh_msg_io *io)
{
	bool was_full = t->unsettled.full;

	if (mesh_unsettled_add(&t->unsettled, io->incarnation, io->seq, io->drive, io->offset,
			       io->length) && !was_full)
		mesh_log_warn(t->env, "target: %u unsettled writes tracked, no room for more: "
			      "reads go to the tails from now on", t->unsettled.count);
}

static void serve_io(struct mesh_target *t, uint32_t src, const struct mesh_msg *m)
{
	const struct mesh_msg_io *io = &m->u.io;
	bool write = m->hdr.type == MESH_MSG_IO_WRITE;
	uint64_t epoch = m->hdr.epoch;
	int rc = check_io(t, io);

	struct mesh_fresh *fresh = NULL;
	const struct mesh_group_config *config = NULL;
	uint64_t segment_offset = 0;

	bool ahead = false;

	mesh_target_settled(t, io->incarnation, io->settled);
	if (!rc && t->cfg.toma) {
		rc = mesh_toma_io_check(t->cfg.toma, io->group, m->hdr.epoch, m->hdr.type, &epoch,
					&config);
		t->stats.fenced += rc == -ESTALE;
		ahead = !rc && ahead_of_tail(t, config);
	}
	if (!rc && write)
		rc = write_prepare(t, io, config, &fresh, &segment_offset);
	if (!rc && !write && ahead && !read_here(t, io)) {
		t->stats.reads_to_tail++;
		rc = -EXDEV;
	}
	if (rc) {
		t->stats.rejected++;
		mesh_log_debug(t->env, "target: %s drive %u [%llu +%u] from node %u refused: %d",
			       mesh_proto_type_name(m->hdr.type), io->drive,
			       (unsigned long long)io->offset, io->length, src, rc);
		/* A fenced request learns the epoch this node holds. */
		reply_io(t, src, m->hdr.req_id, epoch, rc, NULL, 0);
		return;
	}
	if (t->free_count == 0) {
		t->stats.busy++;
		reply_io(t, src, m->hdr.req_id, m->hdr.epoch, -EAGAIN, NULL, 0);
		return;
	}
	if (write && seen_before(t, io)) {
		/* Its first delivery was taken (and answered, or will be). */
		t->stats.duplicates++;
		return;
	}
	/* Noted before it reaches the drive: a read from now on may see it. */
	if (write && ahead && !(io->flags & MESH_IO_F_RESYNC))
		note_unsettled(t, io);
	struct request *r = &t->reqs[t->free_reqs[--t->free_count]];

	r->in_use = true;
	r->reply_pending = false;
	r->client = src;
	r->req_id = m->hdr.req_id;
	r->epoch = m->hdr.epoch;
	r->type = m->hdr.type;
	r->group = io->group;
	r->drive = io->drive;
	r->length = io->length;
	r->offset = io->offset;
	r->ahead = ahead && !write;
	r->stamp = mesh_unsettled_stamp(&t->unsettled);
	r->ios_pending = 0;
	r->run_bytes = r->done_bytes = 0;
	r->status = 0;
	if (write)
		memcpy(r->buf, m->data, io->length);

	if (!fresh) {
		rc = submit_run(t, r, io->offset, 0, io->length);
	} else {
		/* A copy: write only the sectors no client wrote since the
		 * rebuild began. */
		uint64_t at = segment_offset, end = segment_offset + io->length, run;

		t->stats.resync_writes++;
		rc = 0;
		while (rc == 0 && mesh_fresh_next_run(fresh, &at, end, &run)) {
			rc = submit_run(t, r, io->offset + (at - segment_offset),
					(uint32_t)(at - segment_offset), (uint32_t)run);
			at += run;
		}
		t->stats.resync_bytes_kept += io->length - r->run_bytes;
	}
	if (rc) {
		t->stats.drive_errors++;
		r->status = rc;
		drive_error(t, r);
	}
	if (r->ios_pending == 0) {
		/* Nothing reached the drive (refused, or a copy with nothing
		 * left to write): answer now. */
		answer(t, r);
	}
}

void mesh_target_settled(struct mesh_target *t, uint64_t incarnation, uint64_t settled)
{
	if (t->unsettled.count)
		mesh_unsettled_settle(&t->unsettled, incarnation, settled);
}

static void reply_grant(struct mesh_target *t, uint32_t dst, const struct mesh_msg *req,
			uint64_t epoch, const struct mesh_msg_rma_grant *grant)
{
	uint8_t buf[MESH_PROTO_PREFIX_MAX];
	struct mesh_msg m = {
		.hdr = { .type = MESH_MSG_RMA_GRANT, .req_id = req->hdr.req_id, .epoch = epoch },
		.u.rma_grant = *grant,
	};
	int n = mesh_proto_encode(&m, buf, sizeof(buf));

	assert(n > 0);
	struct mesh_iov iov = { buf, (size_t)n };
	int rc = mesh_env_send(t->env, dst, &iov, 1);

	if (rc)
		mesh_log_debug(t->env, "target: key reply to node %u not sent: %d", dst, rc);
}

/* A client asks to read this node's copy of a group one-sided. Only the
 * tail of the epoch the client holds grants, only for reading, and only
 * the copy's own extent: what a two-sided read there would be served
 * under (docs/toma.md, "One-sided reads"). */
static void serve_grant(struct mesh_target *t, uint32_t src, const struct mesh_msg *m)
{
	const struct mesh_msg_rma_grant_req *q = &m->u.rma_grant_req;
	const struct mesh_group_config *config = NULL;
	const struct mesh_group_member *self = NULL;
	struct mesh_msg_rma_grant grant = { .status = -ENOTSUP };
	uint64_t epoch = m->hdr.epoch;
	int rc = t->cfg.toma ? 0 : -ENOTSUP, member;

	if (!rc && !t->grants)
		rc = mesh_grants_create(t->env, GRANTS, &t->grants);
	if (!rc && q->access != MESH_RMA_READ)
		rc = -EPERM; /* a one-sided write would skip the chain and the dirty maps */
	if (!rc)
		rc = mesh_toma_io_check(t->cfg.toma, q->group, m->hdr.epoch, MESH_MSG_IO_READ,
					&epoch, &config);
	if (!rc) {
		member = mesh_group_member_of(config, t->env->self);
		self = member < 0 ? NULL : &config->members[member];
		if (!self) /* possible only with fencing turned off */
			rc = -ENOENT;
		else if (member != mesh_group_tail(config))
			rc = -EXDEV;
		else if (q->drive != self->drive || q->offset != self->offset ||
			 q->length > config->bytes)
			rc = -ERANGE;
	}
	if (!rc)
		rc = mesh_grants_get(t->grants, q->group, config->epoch, q->drive, q->offset,
				     config->bytes, &grant.rkey);
	if (rc) {
		t->stats.keys_refused++;
		mesh_log_debug(t->env, "target: one-sided key for group %llu to node %u refused: %d",
			       (unsigned long long)q->group, src, rc);
		grant.status = rc;
	} else {
		t->stats.keys_granted++;
		grant = (struct mesh_msg_rma_grant){
			.access = MESH_RMA_READ,
			.rkey = grant.rkey,
			.length = config->bytes,
		};
	}
	reply_grant(t, src, m, epoch, &grant);
}

void mesh_target_on_config(struct mesh_target *t, const struct mesh_group_config *c)
{
	t->stats.keys_revoked += mesh_grants_revoke_before(t->grants, c->group, c->epoch);
}

void mesh_target_on_msg(struct mesh_target *t, uint32_t src, const struct mesh_msg *m)
{
	switch (m->hdr.type) {
	case MESH_MSG_IO_READ:
	case MESH_MSG_IO_WRITE:
		serve_io(t, src, m);
		break;
	case MESH_MSG_RMA_GRANT_REQ:
		serve_grant(t, src, m);
		break;
	default:
		t->stats.rejected++;
		mesh_node_send_error(t->env, src, m->hdr.req_id, m->hdr.epoch, -EOPNOTSUPP,
				     "this target does not serve that message type");
		break;
	}
}

/* Answer request @r; keep it for the resend timer if the path is full. */
static void answer(struct mesh_target *t, struct request *r)
{
	/* A write that came while the drive read ran may be in the data
	 * and not yet on the tail. */
	if (r->ahead && r->status == 0 && !r->reply_pending && !t->cfg.no_settle_check &&
	    !mesh_unsettled_clean(&t->unsettled, r->drive, r->offset, r->length, r->stamp)) {
		t->stats.reads_to_tail++;
		r->status = -EXDEV;
	}
	t->stats.reads_ahead += r->ahead && r->status == 0 && !r->reply_pending;
	bool data = r->status == 0 && r->type == MESH_MSG_IO_READ;
	int rc = reply_io(t, r->client, r->req_id, r->epoch, r->status, data ? r->buf : NULL,
			  data ? r->length : 0);

	if (rc == -EAGAIN) {
		t->stats.replies_deferred++;
		r->reply_pending = true;
		mesh_env_timer_arm_once(t->env, TIMER_RESEND, &t->resend_armed,
					MESH_TARGET_RESEND_NS);
		return;
	}
	release(t, r);
}

void mesh_target_on_timer(struct mesh_target *t, uint32_t timer_id)
{
	if (timer_id != TIMER_RESEND) {
		mesh_log_warn(t->env, "target: unknown timer %#x", timer_id);
		return;
	}
	t->resend_armed = false;
	for (uint32_t i = 0; i < t->cfg.inflight; i++) {
		struct request *r = &t->reqs[i];

		if (r->in_use && r->reply_pending) {
			r->reply_pending = false;
			answer(t, r);
		}
	}
}

void mesh_target_on_drive_done(struct mesh_target *t, uint64_t cookie, int result)
{
	uint32_t index = (uint32_t)cookie;
	struct request *r;

	if (index >= t->cfg.inflight || !t->reqs[index].in_use ||
	    (t->reqs[index].gen & GEN_MASK) != (uint32_t)(cookie >> 32) ||
	    !t->reqs[index].ios_pending) {
		mesh_log_error(t->env, "target: completion for unknown drive I/O %#llx",
			       (unsigned long long)cookie);
		return;
	}
	r = &t->reqs[index];
	bool write = r->type == MESH_MSG_IO_WRITE;

	if (result < 0 && !r->status)
		r->status = result;
	else if (result > 0)
		r->done_bytes += (uint32_t)result;
	if (--r->ios_pending)
		return;
	int status = r->status ? r->status : r->done_bytes == r->run_bytes ? 0 : -EIO;

	if (status) {
		t->stats.drive_errors++;
		r->status = status;
		drive_error(t, r);
		if (!t->drive_failing[r->drive])
			mesh_log_warn(t->env, "target: drive %u failing: %s of %u bytes returned %d",
				      r->drive, write ? "write" : "read", r->length, result);
		t->drive_failing[r->drive] = true;
	} else {
		if (t->drive_failing[r->drive])
			mesh_log_info(t->env, "target: drive %u serving again", r->drive);
		t->drive_failing[r->drive] = false;
		if (write) {
			t->stats.writes++;
			t->stats.bytes_written += r->length;
		} else {
			t->stats.reads++;
			t->stats.bytes_read += r->length;
		}
	}
	r->status = status;
	answer(t, r);
}

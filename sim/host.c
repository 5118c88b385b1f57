/*
 * sim/host.c: the core's environment on SimGrid, and the node actors.
 *
 * Each node is one actor that waits for "the next message or the next
 * agenda entry, whichever comes first" (sim/sg_wait.h), hands the event to
 * the core, and then lets its client role reap completions. Everything a
 * node schedules for itself (timers, drive completions, held-back
 * messages, workload ticks, its own crashes and restarts) sits in its
 * agenda, which the actor alone touches: an actor blocked in a wait can
 * only be woken by its own agenda or a message, so every node fault is put
 * in the agenda at set-up, when the whole scenario is known. Network faults
 * are global state that a controller actor changes on schedule.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <simgrid/actor.h>
#include <simgrid/comm.h>
#include <simgrid/engine.h>
#include <simgrid/host.h>
#include <simgrid/mailbox.h>

#include "core/client.h"
#include "core/crc32c.h"
#include "core/dirty.h"
#include "core/heartbeat.h"
#include "core/resync.h"
#include "core/rng.h"
#include "core/target.h"
#include "core/toma.h"
#include "sim/sg_wait.h"
#include "sim/simnode.h"

/* A message on its way: SimGrid carries the pointer, and the simulated
 * size is the message's own length. */
struct envelope {
	uint32_t src, dst;
	uint64_t extra_ns;              /* held back this long on arrival */
	uint32_t len;
	uint8_t bytes[];
};

struct drive_req {
	uint64_t incarnation;
	struct mesh_drive_io io;
};

uint64_t sim_now_ns(void)
{
	return (uint64_t)llround(simgrid_get_clock() * 1e9);
}

/* Fold one event into the run's trace hash (and the trace file, if any). */
void sim_trace(struct mesh_sim *sim, uint32_t node, const char *what, uint64_t a, uint64_t b)
{
	uint64_t now = sim_now_ns();
	uint64_t h = sim->trace_hash ^ (now * 0x9e3779b97f4a7c15ull);

	h = mesh_rng_next(&h) ^ ((uint64_t)node << 32 | (uint8_t)what[0] << 8 | (uint8_t)what[1]);
	h = mesh_rng_next(&h) ^ a;
	h = mesh_rng_next(&h) ^ b;
	sim->trace_hash = h;
	sim->res->events++;
	if (sim->opt.trace)
		fprintf(sim->opt.trace, "%" PRIu64 " n%" PRIu32 " %s %" PRIx64 " %" PRIx64 "\n", now,
			node, what, a, b);
}

/* ---- the environment ---- */

static uint64_t local_ns(const struct simnode *n, uint64_t sim_ns)
{
	return (uint64_t)((double)sim_ns * n->clock_rate);
}

static uint64_t env_now_ns(void *ctx)
{
	return local_ns(ctx, sim_now_ns());
}

static int env_timer_arm(void *ctx, uint32_t id, uint64_t deadline_ns)
{
	struct simnode *n = ctx;
	struct sim_timer *slot = NULL;

	for (unsigned i = 0; i < SIM_TIMERS_MAX; i++) {
		struct sim_timer *t = &n->timers[i];

		if (t->armed && t->id == id) {
			slot = t;
			break;
		}
		if (!t->armed && !slot)
			slot = t;
	}
	if (!slot)
		return -ENOSPC;
	/* The first simulated instant at which the local clock has reached
	 * the deadline. */
	uint64_t at = (uint64_t)ceil((double)deadline_ns / n->clock_rate);

	while (local_ns(n, at) < deadline_ns)
		at++;
	*slot = (struct sim_timer){ .armed = true, .id = id, .gen = ++n->timer_gen };
	return mesh_agenda_push(&n->agenda, at, MESH_AGENDA_TIMER, (uint32_t)(slot - n->timers),
				slot->gen, NULL);
}

static void env_timer_cancel(void *ctx, uint32_t id)
{
	struct simnode *n = ctx;

	for (unsigned i = 0; i < SIM_TIMERS_MAX; i++) {
		if (n->timers[i].armed && n->timers[i].id == id)
			n->timers[i].armed = false;
	}
}

static void envelope_free(void *p)
{
	free(p);
}

static int post(struct simnode *n, uint32_t dst, const struct mesh_iov *iov, unsigned iovcnt,
		size_t len, uint64_t extra_ns)
{
	struct mesh_sim *sim = n->sim;
	struct envelope *e = malloc(sizeof(*e) + len);

	if (!e)
		return -ENOMEM;
	*e = (struct envelope){ .src = n->id, .dst = dst, .extra_ns = extra_ns, .len = (uint32_t)len };
	size_t at = 0;

	for (unsigned i = 0; i < iovcnt; i++) {
		memcpy(e->bytes + at, iov[i].base, iov[i].len);
		at += iov[i].len;
	}
	sg_comm_t comm = sg_mailbox_put_init(sim->nodes[dst].mbox, e, (long)len);

	sg_comm_detach(comm, envelope_free);
	sim->res->messages_sent++;
	sim->res->message_bytes += len;
	return 0;
}

static int env_send(void *ctx, uint32_t dst, const struct mesh_iov *iov, unsigned iovcnt)
{
	struct simnode *n = ctx;
	struct mesh_sim *sim = n->sim;
	struct mesh_netfault_verdict v;
	size_t len = 0;

	if (dst >= sim->node_count)
		return -EHOSTUNREACH;
	for (unsigned i = 0; i < iovcnt; i++)
		len += iov[i].len;
	if (len > MESH_PROTO_PREFIX_MAX + MESH_PROTO_DATA_MAX)
		return -EMSGSIZE;
	mesh_netfault_judge(&sim->net, n->id, dst, &n->rng, &v);
	for (uint32_t c = 0; c < v.copies; c++) {
		int rc = post(n, dst, iov, iovcnt, len, v.extra_ns[c]);

		if (rc)
			return rc;
	}
	return 0;
}

static int env_drive_submit(void *ctx, const struct mesh_drive_io *io)
{
	struct simnode *n = ctx;

	if (io->drive >= n->drive_count)
		return -ENODEV;
	struct drive_req *r = malloc(sizeof(*r));

	if (!r)
		return -ENOMEM;
	*r = (struct drive_req){ .incarnation = n->incarnation, .io = *io };
	uint64_t done = mesh_simdrive_schedule(&n->drives[io->drive], &n->sim->scn->drive, io->op,
					       io->length, sim_now_ns());
	int rc = mesh_agenda_push(&n->agenda, done, MESH_AGENDA_DRIVE_DONE, 0, 0, r);

	if (rc)
		free(r);
	return rc;
}

static uint64_t env_random_u64(void *ctx)
{
	return mesh_rng_next(&((struct simnode *)ctx)->rng);
}

static void env_vlog(void *ctx, enum mesh_log_level level, const char *fmt, va_list ap)
{
	struct simnode *n = ctx;

	if (level > n->sim->opt.log_level)
		return;
	fprintf(stderr, "[%12.6f n%u %s] ", simgrid_get_clock(), n->id, mesh_log_level_name(level));
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* One-sided access is not modelled yet: the wrappers answer -ENOTSUP. */
/* The metadata store: records in the node's memory, which a crash keeps
 * (it loses only the roles), as a drive's metadata area would. */
static struct sim_meta *meta_find(struct simnode *n, uint64_t key)
{
	for (uint32_t i = 0; i < n->meta_count; i++) {
		if (n->meta[i].key == key)
			return &n->meta[i];
	}
	return NULL;
}

static int env_meta_put(void *ctx, uint64_t key, const void *buf, uint32_t len)
{
	struct simnode *n = ctx;
	struct sim_meta *m = meta_find(n, key);
	uint8_t *bytes = malloc(len ? len : 1);

	if (!bytes)
		return -ENOMEM;
	memcpy(bytes, buf, len);
	if (!m) {
		struct sim_meta *grown = realloc(n->meta, (n->meta_count + 1) * sizeof(*grown));

		if (!grown) {
			free(bytes);
			return -ENOMEM;
		}
		n->meta = grown;
		m = &n->meta[n->meta_count++];
		m->key = key;
	} else {
		free(m->bytes);
	}
	m->bytes = bytes;
	m->len = len;
	return 0;
}

static int env_meta_get(void *ctx, uint64_t key, void *buf, uint32_t cap)
{
	struct sim_meta *m = meta_find(ctx, key);

	if (!m)
		return -ENOENT;
	if (m->len > cap)
		return -ENOSPC;
	memcpy(buf, m->bytes, m->len);
	return (int)m->len;
}

static const struct mesh_env_ops sim_env_ops = {
	.now_ns = env_now_ns,
	.timer_arm = env_timer_arm,
	.timer_cancel = env_timer_cancel,
	.send = env_send,
	.drive_submit = env_drive_submit,
	.meta_put = env_meta_put,
	.meta_get = env_meta_get,
	.random_u64 = env_random_u64,
	.vlog = env_vlog,
};

/* ---- roles ---- */

static void on_peer_change(void *arg, uint32_t node, bool alive)
{
	struct simnode *n = arg;

	if (!alive)
		n->suspicions++;
	sim_trace(n->sim, n->id, alive ? "peer-up" : "peer-down", node, 0);
	if (n->node.toma)
		mesh_toma_on_peer_change(n->node.toma, node, alive);
}

static int heartbeat_start(struct simnode *n)
{
	const struct mesh_scn_heartbeat *hb = &n->sim->scn->heartbeat;
	struct mesh_heartbeat_config cfg = {
		.interval_ns = hb->interval_ns,
		.timeout_ns = hb->timeout_ns,
		.on_peer_change = on_peer_change,
		.arg = n,
	};
	int rc;

	if (!hb->interval_ns || !n->peer_count)
		return 0;
	rc = mesh_heartbeat_create(&n->node.env, &cfg, &n->node.heartbeat);
	if (rc == 0)
		rc = mesh_heartbeat_peers_set(n->node.heartbeat, n->peers, n->peer_count);
	return rc ? rc : mesh_heartbeat_start(n->node.heartbeat);
}

/* Heartbeat peers follow membership (mesh_toma_replica_peers), up to the
 * heartbeat's limit. */
static void peers_follow(struct simnode *n)
{
	uint32_t want[MESH_HEARTBEAT_PEERS_MAX];
	unsigned count = mesh_toma_replica_peers(n->node.toma, want, MESH_HEARTBEAT_PEERS_MAX);

	if (!n->peers && !(n->peers = calloc(MESH_HEARTBEAT_PEERS_MAX, sizeof(*n->peers))))
		return;
	if (n->node.heartbeat)
		mesh_heartbeat_peers_set(n->node.heartbeat, want, count);
	memcpy(n->peers, want, count * sizeof(*want));
	n->peer_count = count;
	if (!n->node.heartbeat && count && n->up)
		heartbeat_start(n);
}

static void on_config(void *arg, const struct mesh_group_config *c)
{
	struct simnode *n = arg;

	if (n->node.resync)
		mesh_resync_on_config(n->node.resync, c);
	if (n->node.target)
		mesh_target_on_config(n->node.target, c);
	peers_follow(n);
}

/* Placement on the run's cluster map. The map knows which drives failed
 * and which targets are down, as a management service's would: neither
 * is a candidate. */
static int pick_spare(void *arg, const struct mesh_group_config *c, unsigned member,
		      struct mesh_group_member *spare)
{
	struct simnode *n = arg;
	struct mesh_pool *pool = &n->sim->pool;
	int rc;

	if (n->sim->mgmt_down)
		return -EAGAIN; /* nobody to ask; the manager tries again later */
	for (unsigned d = 0; d < pool->count; d++) {
		struct mesh_pool_drive *pd = &pool->drives[d];
		const struct simnode *owner = &n->sim->nodes[pd->target];

		pd->failed = owner->drives[pd->drive].failed || !owner->up;
	}
	rc = mesh_placement_spare(pool, c, member, spare);
	if (rc == 0)
		sim_trace(n->sim, n->id, "spare", c->group, spare->node);
	return rc;
}

/* The topology manager, voting in the node's groups, and the resync that
 * rebuilds its peers from it. Every target runs both, so every target
 * fences and marks what it writes. */
static int toma_start(struct simnode *n)
{
	struct mesh_sim *sim = n->sim;
	uint64_t round_ns = sim->lease_ns + sim->scn->client.io_timeout_ns;
	struct mesh_toma_config cfg = {
		.lease_ns = sim->lease_ns,
		.drift_ppm = sim->scn->clock.drift_ppm,
		.round_timeout_ns = round_ns,
		.no_fencing = sim->opt.no_fencing,
		.on_config = on_config,
		.pick_spare = pick_spare,
		.arg = n,
	};
	/* A write lives at most an I/O timeout; failure detection and a
	 * configuration change take about a heartbeat timeout and a round.
	 * Marks outlive all of that with room to spare (core/dirty.h). */
	struct mesh_resync_config rcfg = {
		/* Copies move in the largest message the targets take (the
		 * largest workload block): bigger would grow every target's
		 * request buffers, which large runs cannot afford. */
		.chunk_bytes = sim->io_bytes_max,
		.inflight = 8,
		.attempt_ns = sim->scn->client.io_timeout_ns / 4,
		.age_window_ns = 4 * (round_ns + sim->scn->heartbeat.timeout_ns),
		.no_copy = sim->opt.no_resync,
	};
	int rc = mesh_toma_create(&n->node.env, &cfg, &n->node.toma);

	if (rc == 0)
		rc = mesh_dirty_create(&n->node.env, &n->dirty);
	if (rc == 0)
		rc = mesh_resync_create(&n->node.env, &rcfg, n->node.toma, n->dirty,
					&n->node.resync);
	for (uint32_t i = 0; rc == 0 && i < n->group_count; i++)
		rc = mesh_toma_group_add(n->node.toma, &sim->groups[n->groups[i]]);
	return rc ? rc : mesh_toma_resume_joined(n->node.toma);
}

void sim_roles_count(struct simnode *n)
{
	if (n->node.heartbeat) {
		struct mesh_heartbeat_stats st;

		mesh_heartbeat_stats(n->node.heartbeat, &st);
		n->heartbeats_sent += st.beats_sent;
	}
	if (n->node.toma) {
		struct mesh_toma_stats st;

		mesh_toma_stats(n->node.toma, &st);
		n->epochs_committed += st.commits;
		n->replacements += st.replacements;
		n->leases_granted += st.leases_granted;
		n->io_fenced += st.io_fenced;
	}
	if (n->node.target) {
		struct mesh_target_stats st;

		mesh_target_stats(n->node.target, &st);
		n->reads_ahead += st.reads_ahead;
		n->reads_to_tail += st.reads_to_tail;
	}
	if (n->node.resync) {
		struct mesh_resync_stats st;

		mesh_resync_stats(n->node.resync, &st);
		n->resync_copies += st.copies_done;
		n->resync_full_copies += st.full_copies;
		n->resync_aborted += st.copies_aborted;
		n->resync_bytes += st.bytes_copied;
	}
	if (n->node.target) {
		struct mesh_target_stats st;

		mesh_target_stats(n->node.target, &st);
		n->resync_bytes_kept += st.resync_bytes_kept;
	}
}

int sim_roles_start(struct simnode *n)
{
	int rc = 0;

	n->node = (struct mesh_node){
		.env = { .ops = &sim_env_ops, .ctx = n, .self = n->id },
	};
	if (n->is_target) {
		struct mesh_target_config cfg = {
			.drive_count = n->drive_count,
			.inflight = SIM_TARGET_INFLIGHT,
			.io_bytes_max = n->sim->io_bytes_max,
			.no_settle_check = n->sim->opt.no_settle_check,
		};

		for (uint32_t d = 0; d < n->drive_count; d++)
			cfg.drive_bytes[d] = n->drives[d].bytes;
		rc = toma_start(n);
		cfg.toma = n->node.toma;
		cfg.dirty = n->dirty;
		if (rc == 0)
			rc = mesh_target_create(&n->node.env, &cfg, &n->node.target);
		if (rc == 0)
			rc = heartbeat_start(n);
	}
	if (rc == 0 && n->is_client)
		rc = sim_client_start(n);
	if (rc)
		fprintf(stderr, "mesh-sim: node %u: roles not started: %s\n", n->id, strerror(-rc));
	n->up = rc == 0;
	return rc;
}

void sim_roles_stop(struct simnode *n)
{
	sim_roles_count(n);
	mesh_heartbeat_destroy(n->node.heartbeat);
	if (n->is_client)
		sim_client_crash(n);
	if (n->node.client)
		mesh_client_destroy(n->node.client);
	if (n->node.target)
		mesh_target_destroy(n->node.target);
	mesh_resync_destroy(n->node.resync);
	n->node.resync = NULL;
	mesh_toma_destroy(n->node.toma);
	n->node.toma = NULL;
	mesh_dirty_destroy(n->dirty);
	n->dirty = NULL;
	n->node.heartbeat = NULL;
	n->node.client = NULL;
	n->node.target = NULL;
	n->up = false;
	for (unsigned i = 0; i < SIM_TIMERS_MAX; i++)
		n->timers[i].armed = false;
}

/* ---- node faults ---- */

static void drives_apply(struct simnode *n, const struct mesh_scn_fault *f)
{
	for (uint32_t d = 0; d < n->drive_count; d++) {
		struct mesh_simdrive *drive = &n->drives[d];

		if (f->drive != MESH_SCN_DRIVE_ALL && f->drive != d)
			continue;
		if (f->kind == MESH_SCN_DRIVE_FAIL)
			drive->failed = true;
		else if (f->kind == MESH_SCN_DRIVE_SLOW)
			drive->slow_factor = f->factor;
		else {
			drive->failed = false;
			drive->slow_factor = 1.0;
		}
	}
}

static void crash(struct simnode *n)
{
	if (!n->up)
		return;
	sim_roles_stop(n);
	n->incarnation++;
}

static void node_fault(struct simnode *n, const struct mesh_scn_fault *f)
{
	sim_trace(n->sim, n->id, mesh_scenario_fault_name(f->kind), f->line, 0);
	switch (f->kind) {
	case MESH_SCN_CRASH:
		if (n->up && n->is_target)
			n->sim->failover_from_ns = sim_now_ns();
		n->sim->targets_down += n->up && n->is_target;
		crash(n);
		break;
	case MESH_SCN_RESTART:
		if (!n->up && n->is_target)
			n->sim->targets_down--;
		if (!n->up)
			sim_roles_start(n);
		break;
	case MESH_SCN_DRIVE_FAIL:
	case MESH_SCN_DRIVE_SLOW:
	case MESH_SCN_DRIVE_HEAL:
		drives_apply(n, f);
		break;
	default:
		break;
	}
}

/* The verify phase: everything comes back before blocks are read back. */
static void verify_begin(struct simnode *n)
{
	for (uint32_t d = 0; d < n->drive_count; d++) {
		n->drives[d].failed = false;
		n->drives[d].slow_factor = 1.0;
	}
	if (!n->up) {
		n->sim->targets_down -= n->is_target;
		sim_roles_start(n);
	}
	sim_trace(n->sim, n->id, "verify", 0, 0);
	if (n->is_client)
		mesh_agenda_push(&n->agenda, sim_now_ns() + SIM_VERIFY_SETTLE_NS,
				 MESH_AGENDA_VERIFY, 1, 0, NULL);
}

/* ---- events ---- */

static void deliver(struct simnode *n, struct envelope *e)
{
	struct mesh_sim *sim = n->sim;

	if (!n->up) {
		sim->res->dropped_down++;
	} else if (mesh_netfault_cut(&sim->net, e->src, e->dst)) {
		/* Cut while in flight: a partition is silent both ways. */
		sim->net.dropped_cut++;
	} else {
		sim_trace(sim, n->id, "msg", e->src, mesh_crc32c(e->bytes, e->len));
		sim->res->messages_delivered++;
		mesh_node_on_message(&n->node, e->src, e->bytes, e->len);
	}
	free(e);
}

static void on_arrival(struct simnode *n, struct envelope *e)
{
	if (e->extra_ns && n->up) {
		uint64_t at = sim_now_ns() + e->extra_ns;

		e->extra_ns = 0;
		if (mesh_agenda_push(&n->agenda, at, MESH_AGENDA_DELIVER, 0, 0, e) == 0)
			return;
	}
	deliver(n, e);
}

static void drive_done(struct simnode *n, struct drive_req *r)
{
	/* A crash loses the commands the drive had not completed. */
	if (r->incarnation == n->incarnation && n->up) {
		int result = mesh_simdrive_apply(&n->drives[r->io.drive], &r->io);

		sim_trace(n->sim, n->id, "drive", r->io.offset, (uint64_t)(int64_t)result);
		mesh_node_on_drive_done(&n->node, r->io.cookie, result);
	}
	free(r);
}

static void on_entry(struct simnode *n, const struct mesh_agenda_entry *e)
{
	struct mesh_sim *sim = n->sim;

	switch (e->kind) {
	case MESH_AGENDA_TIMER: {
		struct sim_timer *t = &n->timers[e->a];

		if (!n->up || !t->armed || t->gen != e->b)
			return;
		t->armed = false;
		sim_trace(sim, n->id, "timer", t->id, 0);
		mesh_node_on_timer(&n->node, t->id);
		return;
	}
	case MESH_AGENDA_DRIVE_DONE:
		drive_done(n, e->ptr);
		return;
	case MESH_AGENDA_DELIVER:
		deliver(n, e->ptr);
		return;
	case MESH_AGENDA_WORKLOAD:
		if (n->up && e->b == n->incarnation)
			sim_client_on_tick(n, e->a);
		return;
	case MESH_AGENDA_FAULT:
		node_fault(n, &sim->scn->faults[e->a]);
		return;
	case MESH_AGENDA_VERIFY:
		if (e->a == 0)
			verify_begin(n);
		else if (n->up)
			sim_client_on_verify(n);
		return;
	}
}

static void node_actor(int argc, char **argv)
{
	struct simnode *n = sg_actor_self_get_data();
	void *payload = NULL;
	sg_comm_t rx = sg_mailbox_get_async(n->mbox, &payload);

	(void)argc;
	(void)argv;
	for (;;) {
		uint64_t next = mesh_agenda_next_ns(&n->agenda);
		uint64_t now = sim_now_ns();
		double timeout = next == UINT64_MAX ? -1.0
				 : next <= now	     ? 0.0
						     : (double)(next - now) / 1e9;
		int r = mesh_sg_comm_wait(rx, timeout);
		struct mesh_agenda_entry e;

		if (r != 0) {
			if (r == 1)
				on_arrival(n, payload);
			payload = NULL;
			rx = sg_mailbox_get_async(n->mbox, &payload);
		}
		/* A timeout wakes at the entry's time up to rounding. */
		now = sim_now_ns();
		if (r == 0 && next != UINT64_MAX && next > now)
			now = next;
		while (mesh_agenda_pop_due(&n->agenda, now, &e))
			on_entry(n, &e);
		if (n->up && n->client)
			sim_client_poll(n);
	}
}

/* ---- the controller: network faults, flaps, progress, the end ---- */

enum ctl_kind { CTL_FAULT, CTL_FLAP, CTL_PROGRESS, CTL_VERIFY, CTL_END };

static void progress_draw(struct mesh_sim *sim, bool last)
{
	double now = simgrid_get_clock();
	double total = (double)sim->verify_at_ns / 1e9;
	double frac = total > 0 ? now / total : 1.0;
	char bar[41];
	int fill;

	if (frac > 1.0)
		frac = 1.0;
	fill = (int)(frac * 40);
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(40 - fill));
	bar[40] = '\0';
	fprintf(stderr, "\r[%s] %3.0f%% sim %.3fs  events %" PRIu64 "  messages %" PRIu64 "%s",
		bar, frac * 100, now, sim->res->events, sim->res->messages_sent,
		last ? "\n" : "");
	fflush(stderr);
}

static void controller_flap(struct mesh_sim *sim, struct mesh_agenda *ag,
			    const struct mesh_agenda_entry *e)
{
	const struct mesh_scn_fault *f = &sim->scn->faults[e->a];
	int rule = (int)(e->b >> 1);
	bool cut = e->b & 1;
	uint64_t now = sim_now_ns();

	mesh_netfault_set_active(&sim->net, rule, cut);
	sim_trace(sim, UINT32_MAX, cut ? "flap-cut" : "flap-join", f->line, 0);
	if (now >= f->until_ns)
		return; /* the last join */
	if (now + f->period_ns < f->until_ns)
		mesh_agenda_push(ag, now + f->period_ns, MESH_AGENDA_FAULT, e->a,
				 ((uint64_t)rule << 1) | !cut, (void *)(uintptr_t)CTL_FLAP);
	else
		mesh_agenda_push(ag, f->until_ns, MESH_AGENDA_FAULT, e->a, (uint64_t)rule << 1,
				 (void *)(uintptr_t)CTL_FLAP);
}

static bool controller_handles(enum mesh_scn_fault_kind kind)
{
	return mesh_netfault_handles(kind) || kind == MESH_SCN_MGMT_DOWN || kind == MESH_SCN_MGMT_UP;
}

static void controller_fault(struct mesh_sim *sim, struct mesh_agenda *ag, uint32_t index)
{
	const struct mesh_scn_fault *f = &sim->scn->faults[index];
	int rule;

	sim_trace(sim, UINT32_MAX, mesh_scenario_fault_name(f->kind), f->line, 0);
	if (f->kind == MESH_SCN_MGMT_DOWN || f->kind == MESH_SCN_MGMT_UP) {
		sim->mgmt_down = f->kind == MESH_SCN_MGMT_DOWN;
		return;
	}
	rule = mesh_netfault_start(&sim->net, f);
	if (rule < 0) {
		fprintf(stderr, "mesh-sim: %s:%u: fault not applied: %s\n", sim->scn->path, f->line,
			strerror(-rule));
		return;
	}
	if (f->kind == MESH_SCN_FLAP && sim_now_ns() + f->period_ns < f->until_ns)
		mesh_agenda_push(ag, sim_now_ns() + f->period_ns, MESH_AGENDA_FAULT, index,
				 (uint64_t)rule << 1, (void *)(uintptr_t)CTL_FLAP);
}

static void controller_actor(int argc, char **argv)
{
	struct mesh_sim *sim = sg_actor_self_get_data();
	struct mesh_agenda ag = { 0 };
	struct mesh_agenda_entry e;
	uint64_t tick = sim->verify_at_ns / 100 ? sim->verify_at_ns / 100 : 1;

	(void)argc;
	(void)argv;
	for (uint32_t i = 0; i < sim->scn->fault_count; i++) {
		const struct mesh_scn_fault *f = &sim->scn->faults[i];

		if (controller_handles(f->kind))
			mesh_agenda_push(&ag, f->at_ns, MESH_AGENDA_FAULT, i, 0,
					 (void *)(uintptr_t)CTL_FAULT);
	}
	mesh_agenda_push(&ag, sim->verify_at_ns, MESH_AGENDA_FAULT, 0, 0, (void *)(uintptr_t)CTL_VERIFY);
	mesh_agenda_push(&ag, sim->end_limit_ns, MESH_AGENDA_FAULT, 0, 0, (void *)(uintptr_t)CTL_END);
	mesh_agenda_push(&ag, tick, MESH_AGENDA_FAULT, 0, 0, (void *)(uintptr_t)CTL_PROGRESS);
	while (mesh_agenda_pop(&ag, &e)) {
		if (e.at_ns > sim_now_ns())
			sg_actor_sleep_until((double)e.at_ns / 1e9);
		switch ((enum ctl_kind)(uintptr_t)e.ptr) {
		case CTL_FAULT:
			controller_fault(sim, &ag, e.a);
			break;
		case CTL_FLAP:
			controller_flap(sim, &ag, &e);
			break;
		case CTL_VERIFY:
			mesh_netfault_heal(&sim->net);
			sim->mgmt_down = false;
			break;
		case CTL_PROGRESS:
			if (sim->opt.progress)
				progress_draw(sim, false);
			if (sim_now_ns() > sim->verify_at_ns && sim->verify_clients_left == 0)
				goto end;
			mesh_agenda_push(&ag, sim_now_ns() + tick, MESH_AGENDA_FAULT, 0, 0,
					 (void *)(uintptr_t)CTL_PROGRESS);
			break;
		case CTL_END:
			fprintf(stderr, "mesh-sim: verify phase did not finish by %.3fs; ending the run\n",
				(double)sim->end_limit_ns / 1e9);
			goto end;
		}
	}
end:
	if (sim->opt.progress)
		progress_draw(sim, true);
	mesh_agenda_free(&ag);
	sg_actor_kill_all();
}

void sim_actors_start(struct mesh_sim *sim)
{
	char name[32];

	for (uint32_t i = 0; i < sim->node_count; i++) {
		struct simnode *n = &sim->nodes[i];
		sg_host_t host;

		snprintf(name, sizeof(name), "n%u", i);
		host = sg_host_by_name(name);
		n->mbox = sg_mailbox_by_name(name);
		sg_actor_t a = sg_actor_init(name, host);

		sg_actor_set_data(a, n);
		sg_actor_start_(a, node_actor, 0, NULL);
	}
	sg_actor_t ctl = sg_actor_init("controller", sg_host_by_name("n0"));

	sg_actor_set_data(ctl, sim);
	sg_actor_start_(ctl, controller_actor, 0, NULL);
}

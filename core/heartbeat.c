/*
 * core/heartbeat.c: beat to the peers, suspect the silent ones.
 *
 * One timer does both jobs: each time it fires, a beat goes to every peer
 * and then every peer's silence is checked. One timer per node instead of
 * one per peer keeps the environment's timer table small and fixed, and the
 * price is detection granularity: a suspicion comes at the first sweep after
 * the timeout, up to one interval late.
 *
 * The timer keeps its own cadence (next deadline = last deadline + interval)
 * rather than re-arming from the moment it fired, so an environment that
 * fires late does not slow the beat rate down. After a stall longer than an
 * interval the missed beats are skipped, not sent in a burst.
 *
 * Peers live in a small array searched linearly: at most
 * MESH_HEARTBEAT_PEERS_MAX entries, touched once per beat received, which is
 * cheaper than keeping a hash table in step with adds and removes.
 */
#include "core/heartbeat.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "core/node.h"

#define TIMER_BEAT MESH_TIMER_ID(MESH_ROLE_HEARTBEAT, 1)

struct peer {
	uint32_t node;
	bool alive;
	uint64_t last_heard_ns;
};

struct mesh_heartbeat {
	const struct mesh_env *env;
	struct mesh_heartbeat_config cfg;
	bool running;
	bool in_callback;       /* the callback must not change the peer set */
	uint32_t seq;           /* of the last beat round sent */
	uint64_t next_beat_ns;  /* deadline the timer is armed for */
	struct mesh_heartbeat_stats stats;
	unsigned peer_count;
	struct peer peers[MESH_HEARTBEAT_PEERS_MAX];
};

static int check_config(const struct mesh_env *env, const struct mesh_heartbeat_config *cfg)
{
	if (cfg->interval_ns < MESH_HEARTBEAT_INTERVAL_NS_MIN ||
	    cfg->interval_ns > MESH_HEARTBEAT_INTERVAL_NS_MAX) {
		mesh_log_error(env, "heartbeat: interval %llu ns outside %llu..%llu",
			       (unsigned long long)cfg->interval_ns,
			       (unsigned long long)MESH_HEARTBEAT_INTERVAL_NS_MIN,
			       (unsigned long long)MESH_HEARTBEAT_INTERVAL_NS_MAX);
		return -EINVAL;
	}
	if (cfg->timeout_ns < MESH_HEARTBEAT_TIMEOUT_INTERVALS_MIN * cfg->interval_ns ||
	    cfg->timeout_ns > MESH_HEARTBEAT_TIMEOUT_NS_MAX) {
		mesh_log_error(env, "heartbeat: timeout %llu ns outside %u intervals (%llu ns)..%llu",
			       (unsigned long long)cfg->timeout_ns,
			       MESH_HEARTBEAT_TIMEOUT_INTERVALS_MIN,
			       (unsigned long long)(MESH_HEARTBEAT_TIMEOUT_INTERVALS_MIN *
						    cfg->interval_ns),
			       (unsigned long long)MESH_HEARTBEAT_TIMEOUT_NS_MAX);
		return -EINVAL;
	}
	return 0;
}

int mesh_heartbeat_create(const struct mesh_env *env, const struct mesh_heartbeat_config *cfg,
			  struct mesh_heartbeat **out)
{
	struct mesh_heartbeat *hb;
	int rc = check_config(env, cfg);

	if (rc)
		return rc;
	hb = calloc(1, sizeof(*hb));
	if (!hb)
		return -ENOMEM;
	hb->env = env;
	hb->cfg = *cfg;
	*out = hb;
	return 0;
}

void mesh_heartbeat_destroy(struct mesh_heartbeat *hb)
{
	if (!hb)
		return;
	assert(!hb->in_callback);
	mesh_heartbeat_stop(hb);
	free(hb);
}

static struct peer *peer_find(struct mesh_heartbeat *hb, uint32_t node)
{
	for (unsigned i = 0; i < hb->peer_count; i++) {
		if (hb->peers[i].node == node)
			return &hb->peers[i];
	}
	return NULL;
}

int mesh_heartbeat_peer_add(struct mesh_heartbeat *hb, uint32_t node)
{
	assert(!hb->in_callback);
	if (node == hb->env->self) {
		mesh_log_error(hb->env, "heartbeat: node %u cannot be its own peer", node);
		return -EINVAL;
	}
	if (peer_find(hb, node))
		return -EEXIST;
	if (hb->peer_count == MESH_HEARTBEAT_PEERS_MAX) {
		mesh_log_error(hb->env, "heartbeat: peer %u refused, already %u peers", node,
			       MESH_HEARTBEAT_PEERS_MAX);
		return -ENOSPC;
	}
	hb->peers[hb->peer_count++] = (struct peer){
		.node = node,
		.alive = true,
		.last_heard_ns = mesh_env_now_ns(hb->env),
	};
	return 0;
}

int mesh_heartbeat_peer_remove(struct mesh_heartbeat *hb, uint32_t node)
{
	struct peer *p = peer_find(hb, node);

	assert(!hb->in_callback);
	if (!p)
		return -ENOENT;
	/* Order does not matter: move the last peer into the hole. */
	*p = hb->peers[--hb->peer_count];
	return 0;
}

int mesh_heartbeat_peers_set(struct mesh_heartbeat *hb, const uint32_t *nodes, unsigned count)
{
	int rc = 0;

	assert(!hb->in_callback);
	for (unsigned i = 0; i < hb->peer_count;) {
		bool listed = false;

		for (unsigned k = 0; k < count && !listed; k++)
			listed = nodes[k] == hb->peers[i].node;
		if (listed)
			i++;
		else
			hb->peers[i] = hb->peers[--hb->peer_count];
	}
	for (unsigned k = 0; k < count; k++) {
		int one = peer_find(hb, nodes[k]) ? 0 : mesh_heartbeat_peer_add(hb, nodes[k]);

		rc = rc ? rc : one;
	}
	return rc;
}

int mesh_heartbeat_start(struct mesh_heartbeat *hb)
{
	uint64_t now = mesh_env_now_ns(hb->env);
	int rc;

	if (hb->running)
		return -EALREADY;
	for (unsigned i = 0; i < hb->peer_count; i++) {
		hb->peers[i].alive = true;
		hb->peers[i].last_heard_ns = now;
	}
	/* Modulo bias is below interval / 2^64: irrelevant for spreading. */
	hb->next_beat_ns = now + mesh_env_random(hb->env) % hb->cfg.interval_ns;
	rc = mesh_env_timer_arm(hb->env, TIMER_BEAT, hb->next_beat_ns);
	if (rc) {
		mesh_log_error(hb->env, "heartbeat: cannot arm the beat timer: %d", rc);
		return rc;
	}
	hb->running = true;
	return 0;
}

void mesh_heartbeat_stop(struct mesh_heartbeat *hb)
{
	assert(!hb->in_callback);
	if (!hb->running)
		return;
	mesh_env_timer_cancel(hb->env, TIMER_BEAT);
	hb->running = false;
}

bool mesh_heartbeat_peer_alive(const struct mesh_heartbeat *hb, uint32_t node)
{
	for (unsigned i = 0; i < hb->peer_count; i++) {
		if (hb->peers[i].node == node)
			return hb->peers[i].alive;
	}
	return false;
}

unsigned mesh_heartbeat_peer_count(const struct mesh_heartbeat *hb)
{
	return hb->peer_count;
}

void mesh_heartbeat_stats(const struct mesh_heartbeat *hb, struct mesh_heartbeat_stats *out)
{
	*out = hb->stats;
}

static void set_alive(struct mesh_heartbeat *hb, struct peer *p, bool alive)
{
	p->alive = alive;
	if (alive)
		hb->stats.recoveries++;
	else
		hb->stats.suspicions++;
	mesh_log_info(hb->env, "heartbeat: node %u %s peer %u", hb->env->self,
		      alive ? "hears again from" : "suspects", p->node);
	if (!hb->cfg.on_peer_change)
		return;
	hb->in_callback = true;
	hb->cfg.on_peer_change(hb->cfg.arg, p->node, alive);
	hb->in_callback = false;
}

void mesh_heartbeat_on_msg(struct mesh_heartbeat *hb, uint32_t src, const struct mesh_msg *m)
{
	struct peer *p;

	assert(m->hdr.type == MESH_MSG_HEARTBEAT);
	p = peer_find(hb, src);
	/* The environment names the sender; a body that disagrees comes from
	 * a confused or misconfigured node and proves nothing about @src. */
	if (!p || m->u.heartbeat.sender != src) {
		hb->stats.beats_ignored++;
		mesh_log_debug(hb->env, "heartbeat: ignored a beat from node %u (sender %u)", src,
			       m->u.heartbeat.sender);
		return;
	}
	hb->stats.beats_received++;
	p->last_heard_ns = mesh_env_now_ns(hb->env);
	if (!p->alive)
		set_alive(hb, p, true);
}

/* One beat to every peer. The same bytes serve them all: only the
 * destination differs, and the environment names it. */
static void beat(struct mesh_heartbeat *hb)
{
	uint8_t buf[MESH_PROTO_PREFIX_MAX];
	struct mesh_msg m = {
		.hdr = { .type = MESH_MSG_HEARTBEAT },
		.u.heartbeat = { .sender = hb->env->self, .seq = ++hb->seq },
	};
	int n = mesh_proto_encode(&m, buf, sizeof(buf));

	assert(n > 0);
	struct mesh_iov iov = { buf, (size_t)n };

	for (unsigned i = 0; i < hb->peer_count; i++) {
		int rc = mesh_env_send(hb->env, hb->peers[i].node, &iov, 1);

		if (rc == 0) {
			hb->stats.beats_sent++;
			continue;
		}
		/* Not fatal: the next beat is the retry, and a peer that
		 * stays unreachable will suspect us, which is the truth. */
		hb->stats.send_failures++;
		mesh_log_debug(hb->env, "heartbeat: beat to node %u not sent: %d",
			       hb->peers[i].node, rc);
	}
}

static void sweep(struct mesh_heartbeat *hb, uint64_t now)
{
	for (unsigned i = 0; i < hb->peer_count; i++) {
		struct peer *p = &hb->peers[i];

		if (p->alive && now - p->last_heard_ns > hb->cfg.timeout_ns)
			set_alive(hb, p, false);
	}
}

void mesh_heartbeat_on_timer(struct mesh_heartbeat *hb, uint32_t timer_id)
{
	uint64_t now = mesh_env_now_ns(hb->env);
	int rc;

	if (timer_id != TIMER_BEAT || !hb->running) {
		mesh_log_warn(hb->env, "heartbeat: unexpected timer %#x", timer_id);
		return;
	}
	beat(hb);
	sweep(hb, now);
	hb->next_beat_ns += hb->cfg.interval_ns;
	if (hb->next_beat_ns <= now)
		hb->next_beat_ns = now + hb->cfg.interval_ns;
	rc = mesh_env_timer_arm(hb->env, TIMER_BEAT, hb->next_beat_ns);
	if (rc) {
		/* Nothing else would re-arm it: say so loudly. Peers will
		 * suspect this node, which is what it has become. */
		hb->running = false;
		mesh_log_error(hb->env, "heartbeat: node %u stops beating, timer not armed: %d",
			       hb->env->self, rc);
	}
}

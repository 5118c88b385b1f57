/*
 * sim/workload.c: the clients' I/O in a simulated run, and its history.
 *
 * Each client node runs the scenario's workloads through its real core
 * client: closed loop (keep `qd` I/Os in flight) or open loop (Poisson
 * arrivals at `rate`, skipped while `qd` are in flight). Every 4 KiB block
 * of every write carries a unique value: word 0 of the block is the value
 * and every other 64-bit word is derived from it, so a read names the write
 * it saw and a torn block shows up as corrupt. Each block of each I/O is
 * one operation in the history (sim/history.h), invoked at submit and
 * answered when the completion is reaped.
 *
 * After the workload, each volume's reader client reads back every block
 * that was written, for the durability check.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/client.h"
#include "core/rng.h"
#include "sim/simnode.h"

#define REAP_BATCH 64u
#define WORDS_PER_BLOCK (MESH_BLOCK_BYTES / 8u)
#define VERIFY_WORKLOAD UINT32_MAX

struct io_slot {
	bool busy;
	uint32_t workload;          /* VERIFY_WORKLOAD for read-back */
	uint32_t volume;            /* the run's volume id */
	enum mesh_io_op op;
	uint64_t offset;
	uint32_t length;
	uint64_t submit_ns;
	uint64_t verify_index;
	int64_t *handles;           /* one history operation per block */
	uint8_t *buf;
};

struct workload_state {
	bool member;                /* this client takes part */
	uint32_t inflight;
	uint32_t volume_count;      /* local volume ids it may use */
	uint32_t *volumes;
};

struct verify_item {
	struct mesh_block_key key;
	uint32_t tries;
};

struct sim_client {
	struct mesh_sim *sim;
	uint32_t index, node;
	uint32_t volume_count;
	uint32_t volumes[MESH_CLIENT_VOLUMES_MAX];  /* local id -> run's volume id */
	uint32_t slot_count;
	struct io_slot *slots;
	struct workload_state wl[MESH_SCN_WORKLOADS_MAX];
	struct verify_item *verify;
	uint64_t verify_count, verify_capacity, verify_next, verify_inflight;
	bool verifying, verify_finished;
	uint64_t reads_ok, writes_ok, reads_failed, writes_failed;
	uint64_t bytes_read, bytes_written, verify_reads, verify_unread;
};

/* ---- block values ---- */

static uint64_t word_of(uint64_t value, uint32_t i)
{
	uint64_t s = value ^ ((uint64_t)i << 40);

	return mesh_rng_next(&s);
}

static void block_fill(uint8_t *block, uint64_t value)
{
	uint64_t w = value;

	memcpy(block, &w, 8);
	for (uint32_t i = 1; i < WORDS_PER_BLOCK; i++) {
		w = word_of(value, i);
		memcpy(block + 8 * i, &w, 8);
	}
}

static uint64_t block_value(const uint8_t *block)
{
	uint64_t value, w;

	memcpy(&value, block, 8);
	if (value == 0) {
		for (uint32_t i = 0; i < MESH_BLOCK_BYTES; i++) {
			if (block[i])
				return MESH_HISTORY_VALUE_CORRUPT;
		}
		return 0;
	}
	for (uint32_t i = 1; i < WORDS_PER_BLOCK; i++) {
		memcpy(&w, block + 8 * i, 8);
		if (w != word_of(value, i))
			return MESH_HISTORY_VALUE_CORRUPT;
	}
	return value;
}

/* ---- set-up ---- */

int sim_client_create(struct mesh_sim *sim, struct simnode *n, uint32_t index)
{
	struct sim_client *c = calloc(1, sizeof(*c));
	uint32_t blocks = sim->io_bytes_max / MESH_BLOCK_BYTES;

	if (!c)
		return -ENOMEM;
	c->sim = sim;
	c->index = index;
	c->node = n->id;
	c->slot_count = sim->scn->client.queue_depth;
	c->slots = calloc(c->slot_count, sizeof(*c->slots));
	if (!c->slots)
		goto nomem;
	for (uint32_t i = 0; i < c->slot_count; i++) {
		c->slots[i].handles = calloc(blocks, sizeof(int64_t));
		c->slots[i].buf = malloc(sim->io_bytes_max);
		if (!c->slots[i].handles || !c->slots[i].buf)
			goto nomem;
	}
	n->client = c;
	sim->clients[index] = c;
	return 0;
nomem:
	sim_client_destroy(c);
	return -ENOMEM;
}

void sim_client_destroy(struct sim_client *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; c->slots && i < c->slot_count; i++) {
		free(c->slots[i].handles);
		free(c->slots[i].buf);
	}
	for (uint32_t w = 0; w < MESH_SCN_WORKLOADS_MAX; w++)
		free(c->wl[w].volumes);
	free(c->slots);
	free(c->verify);
	free(c);
}

int sim_client_attach(struct sim_client *c, uint32_t volume)
{
	if (c->volume_count == MESH_CLIENT_VOLUMES_MAX)
		return -ENOSPC;
	c->volumes[c->volume_count++] = volume;
	return 0;
}

/* Which local volumes workload @w may use on this client. */
static int workload_bind(struct sim_client *c, uint32_t w)
{
	const struct mesh_scenario *s = c->sim->scn;
	const struct mesh_scn_workload *wl = &s->workloads[w];
	struct workload_state *st = &c->wl[w];

	st->member = mesh_scenario_set_contains(s, &wl->clients, c->node);
	if (!st->member || st->volumes)
		return 0;
	st->volumes = calloc(c->volume_count ? c->volume_count : 1, sizeof(uint32_t));
	if (!st->volumes)
		return -ENOMEM;
	for (uint32_t v = 0; v < c->volume_count; v++) {
		const struct sim_volume *vol = &c->sim->volumes[c->volumes[v]];

		if (!wl->volume[0] || !strcmp(wl->volume, s->volumes[vol->statement].name))
			st->volumes[st->volume_count++] = v;
	}
	if (!st->volume_count)
		st->member = false;
	return 0;
}

static uint64_t tick_delay_ns(struct simnode *n, const struct mesh_scn_workload *wl)
{
	double u = (double)(mesh_rng_next(&n->rng) >> 11) / 9007199254740992.0;

	/* Poisson arrivals: exponential gaps with mean 1/rate. */
	return (uint64_t)(-log(1.0 - u) * 1e9 / (double)wl->rate_iops) + 1;
}

int sim_client_start(struct simnode *n)
{
	struct sim_client *c = n->client;
	struct mesh_sim *sim = c->sim;
	const struct mesh_scenario *s = sim->scn;
	struct mesh_client_config cfg = {
		.queue_depth = s->client.queue_depth,
		.io_timeout_ns = s->client.io_timeout_ns,
		.lease_ns = sim->lease_ns,
		.drift_ppm = s->clock.drift_ppm,
		.no_leases = sim->opt.no_leases,
	};
	uint64_t now = sim_now_ns();
	int rc = mesh_client_create(&n->node.env, &cfg, &n->node.client);

	for (uint32_t v = 0; rc == 0 && v < c->volume_count; v++) {
		const struct mesh_layout *l = &sim->volumes[c->volumes[v]].layout;

		rc = mesh_client_volume_add(n->node.client, v, l);
		for (uint32_t sg = 0; rc == 0 && sg < l->segment_count; sg++)
			rc = mesh_client_group_add(n->node.client,
						   &sim->groups[l->segments[sg].group - 1]);
	}
	for (uint32_t w = 0; rc == 0 && w < s->workload_count; w++) {
		const struct mesh_scn_workload *wl = &s->workloads[w];

		rc = workload_bind(c, w);
		c->wl[w].inflight = 0;
		if (rc || !c->wl[w].member || now >= wl->stop_ns || now >= sim->verify_at_ns)
			continue;
		uint64_t at = now > wl->start_ns ? now : wl->start_ns;

		if (wl->rate_iops)
			at += tick_delay_ns(n, wl);
		rc = mesh_agenda_push(&n->agenda, at, MESH_AGENDA_WORKLOAD, w, n->incarnation, NULL);
	}
	if (rc == 0 && c->verifying && !c->verify_finished)
		rc = mesh_agenda_push(&n->agenda, now, MESH_AGENDA_VERIFY, 1, 0, NULL);
	return rc;
}

void sim_client_crash(struct simnode *n)
{
	struct sim_client *c = n->client;

	/* Operations in flight stay PENDING in the history: a write may or may
	 * not have reached the drives. */
	for (uint32_t i = 0; i < c->slot_count; i++) {
		if (c->slots[i].busy && c->slots[i].workload == VERIFY_WORKLOAD) {
			c->verify[c->slots[i].verify_index].tries++;
			c->verify_inflight--;
			c->verify_next = c->verify_next < c->slots[i].verify_index
						 ? c->verify_next : c->slots[i].verify_index;
		}
		c->slots[i].busy = false;
	}
}

/* ---- submitting ---- */

static struct io_slot *slot_free(struct sim_client *c)
{
	for (uint32_t i = 0; i < c->slot_count; i++) {
		if (!c->slots[i].busy)
			return &c->slots[i];
	}
	return NULL;
}

static int slot_submit(struct simnode *n, struct io_slot *slot, uint32_t local)
{
	struct sim_client *c = n->client;
	struct mesh_io io = {
		.volume = local,
		.op = slot->op,
		.offset = slot->offset,
		.length = slot->length,
		.buf = slot->buf,
		.cookie = (uint64_t)(slot - c->slots),
	};
	int rc = mesh_client_submit(n->node.client, &io);

	if (rc)
		return rc;
	slot->busy = true;
	slot->submit_ns = sim_now_ns();
	return 0;
}

static void record_invoke(struct simnode *n, struct io_slot *slot, const uint64_t *values)
{
	struct mesh_sim *sim = n->sim;
	uint32_t blocks = slot->length / MESH_BLOCK_BYTES;

	for (uint32_t b = 0; b < blocks; b++) {
		struct mesh_block_key key = {
			.volume = slot->volume,
			.block = slot->offset / MESH_BLOCK_BYTES + b,
		};
		enum mesh_history_op op = slot->op == MESH_IO_WRITE ? MESH_HISTORY_WRITE
								     : MESH_HISTORY_READ;

		slot->handles[b] = mesh_history_invoke(sim->history, key, op,
						       values ? values[b] : 0, slot->submit_ns,
						       n->client->index);
	}
}

static void workload_submit(struct simnode *n, uint32_t w)
{
	struct sim_client *c = n->client;
	struct mesh_sim *sim = c->sim;
	const struct mesh_scn_workload *wl = &sim->scn->workloads[w];
	struct workload_state *st = &c->wl[w];
	struct io_slot *slot = slot_free(c);
	uint64_t values[MESH_PROTO_DATA_MAX / MESH_BLOCK_BYTES];

	if (!slot || st->inflight >= wl->queue_depth)
		return;
	uint32_t local = st->volumes[mesh_rng_next(&n->rng) % st->volume_count];
	uint32_t volume = c->volumes[local];
	uint64_t bytes = sim->volumes[volume].layout.volume_bytes;
	uint64_t span = wl->span_bytes && wl->span_bytes < bytes ? wl->span_bytes : bytes;
	uint64_t places = span >= wl->block_bytes ? (span - wl->block_bytes) / MESH_BLOCK_BYTES + 1 : 0;
	bool read;

	if (!places)
		return;
	if (wl->rw == MESH_SCN_RW_RANDREAD)
		read = true;
	else if (wl->rw == MESH_SCN_RW_RANDWRITE)
		read = false;
	else
		read = mesh_rng_next(&n->rng) % 100 < wl->read_percent;
	*slot = (struct io_slot){
		.workload = w,
		.volume = volume,
		.op = read ? MESH_IO_READ : MESH_IO_WRITE,
		.offset = mesh_rng_next(&n->rng) % places * MESH_BLOCK_BYTES,
		.length = wl->block_bytes,
		.handles = slot->handles,
		.buf = slot->buf,
	};
	if (!read) {
		for (uint32_t b = 0; b < wl->block_bytes / MESH_BLOCK_BYTES; b++) {
			values[b] = ++sim->next_value;
			block_fill(slot->buf + (size_t)b * MESH_BLOCK_BYTES, values[b]);
		}
	}
	if (slot_submit(n, slot, local))
		return; /* -EAGAIN: the next completion or tick tries again */
	st->inflight++;
	record_invoke(n, slot, read ? NULL : values);
}

void sim_client_on_tick(struct simnode *n, uint32_t w)
{
	struct sim_client *c = n->client;
	const struct mesh_scn_workload *wl = &c->sim->scn->workloads[w];
	uint64_t now = sim_now_ns();

	if (now >= wl->stop_ns || now >= c->sim->verify_at_ns)
		return;
	if (!wl->rate_iops) {
		for (uint32_t i = c->wl[w].inflight; i < wl->queue_depth; i++)
			workload_submit(n, w);
		return;
	}
	workload_submit(n, w);
	mesh_agenda_push(&n->agenda, now + tick_delay_ns(n, wl), MESH_AGENDA_WORKLOAD, w,
			 n->incarnation, NULL);
}

/* ---- read-back ---- */

static void collect_written(void *arg, struct mesh_block_key key)
{
	struct mesh_sim *sim = arg;
	struct sim_client *c = sim->clients[sim->volumes[key.volume].reader];

	if (c->verify_count == c->verify_capacity) {
		uint64_t cap = c->verify_capacity ? c->verify_capacity * 2 : 64;
		struct verify_item *v = realloc(c->verify, cap * sizeof(*v));

		if (!v) {
			c->verify_unread++;
			return;
		}
		c->verify = v;
		c->verify_capacity = cap;
	}
	c->verify[c->verify_count++] = (struct verify_item){ .key = key };
}

static uint32_t local_volume(const struct sim_client *c, uint32_t volume)
{
	for (uint32_t v = 0; v < c->volume_count; v++) {
		if (c->volumes[v] == volume)
			return v;
	}
	return UINT32_MAX;
}

static void verify_finish_if_done(struct sim_client *c)
{
	if (!c->verify_finished && c->verify_next >= c->verify_count && !c->verify_inflight) {
		c->verify_finished = true;
		c->sim->verify_clients_left--;
	}
}

static void verify_submit(struct simnode *n)
{
	struct sim_client *c = n->client;

	while (c->verify_next < c->verify_count) {
		struct verify_item *it = &c->verify[c->verify_next];
		struct io_slot *slot = slot_free(c);

		if (it->tries >= SIM_VERIFY_TRIES) {
			c->verify_unread++;
			c->verify_next++;
			continue;
		}
		if (!slot)
			return;
		*slot = (struct io_slot){
			.workload = VERIFY_WORKLOAD,
			.volume = it->key.volume,
			.op = MESH_IO_READ,
			.offset = it->key.block * MESH_BLOCK_BYTES,
			.length = MESH_BLOCK_BYTES,
			.verify_index = c->verify_next,
			.handles = slot->handles,
			.buf = slot->buf,
		};
		if (slot_submit(n, slot, local_volume(c, it->key.volume)))
			return;
		c->verify_inflight++;
		c->verify_next++;
	}
	verify_finish_if_done(c);
}

void sim_client_on_verify(struct simnode *n)
{
	struct mesh_sim *sim = n->sim;
	struct sim_client *c = n->client;

	if (!sim->verify_lists_built) {
		sim->verify_lists_built = true;
		mesh_history_for_each_written(sim->history, collect_written, sim);
	}
	c->verifying = true;
	verify_submit(n);
}

static void verify_done(struct simnode *n, struct io_slot *slot, int status)
{
	struct sim_client *c = n->client;
	struct verify_item *it = &c->verify[slot->verify_index];

	c->verify_inflight--;
	if (status == 0) {
		mesh_history_final(c->sim->history, it->key, block_value(slot->buf));
		c->verify_reads++;
	} else if (it->tries + 1 < SIM_VERIFY_TRIES) {
		struct verify_item again = { .key = it->key, .tries = it->tries + 1 };

		/* Try again at the end of the list (which may move). */
		collect_written(c->sim, again.key);
		c->verify[c->verify_count - 1].tries = again.tries;
	} else {
		c->verify_unread++;
	}
}

/* ---- completions ---- */

static void latency_add(struct mesh_sim_latency *l, uint64_t ns)
{
	unsigned b = ns ? 64u - (unsigned)__builtin_clzll(ns) : 0;

	l->buckets[b < MESH_SIM_LATENCY_BUCKETS ? b : MESH_SIM_LATENCY_BUCKETS - 1]++;
	l->count++;
}

static void workload_done(struct simnode *n, struct io_slot *slot, int status)
{
	struct sim_client *c = n->client;
	struct mesh_sim *sim = c->sim;
	uint32_t blocks = slot->length / MESH_BLOCK_BYTES;
	uint64_t now = sim_now_ns();
	bool read = slot->op == MESH_IO_READ;

	for (uint32_t b = 0; b < blocks; b++) {
		uint64_t value = read && status == 0
					 ? block_value(slot->buf + (size_t)b * MESH_BLOCK_BYTES)
					 : 0;

		mesh_history_complete(sim->history, slot->handles[b],
				      status == 0 ? MESH_HISTORY_OK : MESH_HISTORY_FAILED, value, now);
	}
	if (status == 0) {
		latency_add(read ? &sim->res->read_latency : &sim->res->write_latency,
			    now - slot->submit_ns);
		*(read ? &c->reads_ok : &c->writes_ok) += 1;
		*(read ? &c->bytes_read : &c->bytes_written) += slot->length;
		if (!read && sim->targets_down)
			sim->res->outage_bytes_written += slot->length;
		if (!read && sim->failover_from_ns && slot->submit_ns >= sim->failover_from_ns) {
			uint64_t took = now - sim->failover_from_ns;

			sim->res->failovers++;
			sim->res->failover_sum_ns += took;
			if (took > sim->res->failover_max_ns)
				sim->res->failover_max_ns = took;
			sim->failover_from_ns = 0;
		}
	} else {
		*(read ? &c->reads_failed : &c->writes_failed) += 1;
	}
	c->wl[slot->workload].inflight--;
}

void sim_client_poll(struct simnode *n)
{
	struct sim_client *c = n->client;
	struct mesh_io_done done[REAP_BATCH];
	unsigned got;

	while ((got = mesh_client_reap(n->node.client, done, REAP_BATCH)) > 0) {
		for (unsigned i = 0; i < got; i++) {
			struct io_slot *slot = &c->slots[done[i].cookie];
			uint32_t w = slot->workload;

			slot->busy = false;
			if (w == VERIFY_WORKLOAD) {
				verify_done(n, slot, done[i].status);
				continue;
			}
			workload_done(n, slot, done[i].status);
			if (!c->sim->scn->workloads[w].rate_iops)
				sim_client_on_tick(n, w);
		}
	}
	if (c->verifying && !c->verify_finished)
		verify_submit(n);
}

void sim_client_totals(const struct sim_client *c, struct mesh_sim_result *res)
{
	res->reads_ok += c->reads_ok;
	res->writes_ok += c->writes_ok;
	res->reads_failed += c->reads_failed;
	res->writes_failed += c->writes_failed;
	res->bytes_read += c->bytes_read;
	res->bytes_written += c->bytes_written;
	res->verify_reads += c->verify_reads;
	res->verify_unread += c->verify_unread;
	for (uint32_t i = 0; i < c->slot_count; i++)
		res->ios_pending += c->slots[i].busy;
}

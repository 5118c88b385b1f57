/*
 * sim/run.c: set up a simulated cluster from a scenario, run it in
 * SimGrid, and collect the result (see sim.h).
 *
 * Set-up order: SimGrid and the platform; nodes and their drives; volumes
 * placed on the pool by the scenario's policy; heartbeat peers (the other
 * targets of every protection group a target serves); clients and the
 * volumes they attach; node faults and the verify phase into each node's
 * agenda; roles; actors.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <simgrid/engine.h>

#include "core/client.h"
#include "core/copyset.h"
#include "core/heartbeat.h"
#include "core/placement.h"
#include "core/rng.h"
#include "core/toma.h"
#include "sim/platform.h"
#include "sim/simnode.h"

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* SimGrid settings that keep 100,000 actors fast and small (DESIGN.md):
 * 32 KiB stacks without guard pages, and the CM02 network model without
 * TCP cross-traffic, a third cheaper per message than the default. */
void mesh_sim_simgrid_init(void)
{
	static char *argv[] = {
		"mesh-sim",
		"--cfg=contexts/stack-size:32",
		"--cfg=contexts/guard-size:0",
		"--cfg=network/model:CM02",
		"--cfg=network/crosstraffic:0",
		"--log=root.thres:warning",
		NULL,
	};
	int argc = 6;

	simgrid_init(&argc, argv);
}

static int platform_load(struct mesh_sim *sim)
{
	char tmp[] = "/tmp/mesh-sim-platform-XXXXXX";
	const char *path = sim->opt.platform_path;
	FILE *f;
	int rc;

	if (!path) {
		int fd = mkstemp(tmp);

		if (fd < 0)
			return -errno;
		f = fdopen(fd, "w");
		path = tmp;
	} else {
		f = fopen(path, "w");
	}
	if (!f)
		return -errno;
	rc = mesh_platform_write(f, sim->scn);
	if (fclose(f) && !rc)
		rc = -EIO;
	if (!rc)
		simgrid_load_platform(path);
	if (!sim->opt.platform_path)
		unlink(tmp);
	return rc;
}

static int nodes_make(struct mesh_sim *sim)
{
	const struct mesh_scenario *s = sim->scn;
	double drift = s->clock.drift_ppm / 1e6;

	sim->node_count = mesh_scenario_nodes(s);
	sim->nodes = calloc(sim->node_count, sizeof(*sim->nodes));
	if (!sim->nodes)
		return -ENOMEM;
	for (uint32_t i = 0; i < sim->node_count; i++) {
		struct simnode *n = &sim->nodes[i];
		double u = (double)(mesh_rng_next(&sim->rng) >> 11) / 9007199254740992.0;

		n->id = i;
		n->sim = sim;
		n->rng = mesh_rng_next(&sim->rng);
		n->clock_rate = 1.0 + drift * (2.0 * u - 1.0);
		n->is_target = mesh_scenario_is_target(s, i);
		n->is_client = mesh_scenario_is_client(s, i);
		if (!n->is_target)
			continue;
		n->drive_count = s->topology.drives;
		n->drives = calloc(n->drive_count, sizeof(*n->drives));
		if (!n->drives)
			return -ENOMEM;
		for (uint32_t d = 0; d < n->drive_count; d++) {
			if (mesh_simdrive_init(&n->drives[d], s->topology.drive_bytes,
					       s->drive.queue_depth))
				return -ENOMEM;
		}
	}
	return 0;
}

static int pool_make(struct mesh_sim *sim, struct mesh_pool *pool)
{
	const struct mesh_scenario *s = sim->scn;
	unsigned count = 0;

	pool->drives = calloc((size_t)s->topology.targets * s->topology.drives,
			      sizeof(*pool->drives));
	if (!pool->drives)
		return -ENOMEM;
	for (uint32_t i = 0; i < sim->node_count; i++) {
		for (uint32_t d = 0; d < sim->nodes[i].drive_count; d++) {
			pool->drives[count++] = (struct mesh_pool_drive){
				.target = i,
				.drive = d,
				.domain = mesh_scenario_rack(s, i),
				.capacity = s->topology.drive_bytes,
			};
		}
	}
	pool->count = count;
	return 0;
}

/* Place one volume by the scenario's policy. */
static int volume_place(struct mesh_sim *sim, struct mesh_pool *pool,
			struct mesh_copysets cs[MESH_LAYOUT_COPIES_MAX + 1],
			const struct mesh_volume_spec *spec, struct mesh_layout *out, const char **why)
{
	const struct mesh_scn_placement *p = &sim->scn->placement;
	uint32_t r = spec->copies < 2 ? 2 : spec->copies;
	int rc;

	if (p->policy == MESH_SCN_PLACE_GREEDY)
		return mesh_placement_plan(pool, spec, out, why);
	if (!cs[r].count) {
		struct mesh_copyset_params params = {
			.policy = p->policy == MESH_SCN_PLACE_RANDOM ? MESH_COPYSET_POLICY_RANDOM
								      : MESH_COPYSET_POLICY_COPYSET,
			.copies = r,
			.scatter_width = p->scatter_width,
		};

		rc = mesh_copyset_build(&cs[r], pool, &params, &sim->rng, why);
		if (rc)
			return rc;
	}
	return mesh_copyset_plan(pool, &cs[r], spec, &sim->rng, out, why);
}

static int volumes_make(struct mesh_sim *sim)
{
	const struct mesh_scenario *s = sim->scn;
	struct mesh_copysets cs[MESH_LAYOUT_COPIES_MAX + 1] = { 0 };
	struct mesh_pool *pool = &sim->pool;
	uint64_t group = 1;
	int rc = pool_make(sim, pool);

	for (uint32_t v = 0; v < s->volume_count; v++)
		sim->volume_count += s->volumes[v].count;
	sim->volumes = calloc(sim->volume_count ? sim->volume_count : 1, sizeof(*sim->volumes));
	if (!sim->volumes)
		rc = -ENOMEM;
	for (uint32_t v = 0, id = 0; rc == 0 && v < s->volume_count; v++) {
		const struct mesh_scn_volume *sv = &s->volumes[v];

		for (uint32_t k = 0; rc == 0 && k < sv->count; k++, id++) {
			struct mesh_volume_spec spec = {
				.kind = sv->kind,
				.bytes = sv->bytes,
				.width = sv->width,
				.copies = sv->copies,
				.stripe_unit = sv->stripe_unit,
				.first_group = group,
			};
			const char *why = "";

			sim->volumes[id].statement = v;
			rc = volume_place(sim, pool, cs, &spec, &sim->volumes[id].layout, &why);
			if (rc)
				fprintf(stderr, "mesh-sim: %s:%u: volume %s #%u not placed: %s\n",
					s->path, sv->line, sv->name, k, why);
			group += sv->width;
		}
	}
	for (unsigned r = 0; r <= MESH_LAYOUT_COPIES_MAX; r++)
		mesh_copyset_free(&cs[r]);
	return rc;
}

static int peer_add(struct simnode *n, uint32_t peer)
{
	if (peer == n->id)
		return 0;
	for (uint32_t i = 0; i < n->peer_count; i++) {
		if (n->peers[i] == peer)
			return 0;
	}
	if (n->peer_count == MESH_HEARTBEAT_PEERS_MAX)
		return -ENOSPC;
	if (!n->peers) {
		n->peers = calloc(MESH_HEARTBEAT_PEERS_MAX, sizeof(*n->peers));
		if (!n->peers)
			return -ENOMEM;
	}
	n->peers[n->peer_count++] = peer;
	return 0;
}

/* Every segment is a protection group (mesh_group_initial): its
 * replicas, in layout order, and a witness when the copy count is even,
 * all active at epoch 1. Targets are nodes 0..targets-1. */
static int groups_make(struct mesh_sim *sim)
{
	const struct mesh_scenario *s = sim->scn;
	uint32_t targets = s->topology.targets;
	uint32_t *racks = calloc(targets ? targets : 1, sizeof(*racks));
	int rc = 0;

	for (uint32_t v = 0; v < sim->volume_count; v++)
		sim->group_count += sim->volumes[v].layout.segment_count;
	sim->groups = calloc(sim->group_count ? sim->group_count : 1, sizeof(*sim->groups));
	if (!sim->groups || !racks) {
		free(racks);
		return -ENOMEM;
	}
	for (uint32_t t = 0; t < targets; t++)
		racks[t] = mesh_scenario_rack(s, t);
	for (uint32_t v = 0; rc == 0 && v < sim->volume_count; v++) {
		const struct mesh_layout *l = &sim->volumes[v].layout;

		for (uint32_t sg = 0; rc == 0 && sg < l->segment_count; sg++) {
			const struct mesh_segment *seg = &l->segments[sg];

			if (seg->group == 0 || seg->group > sim->group_count) {
				rc = -EINVAL;
				break;
			}
			rc = mesh_group_initial(seg, l->copies, racks, targets,
						&sim->groups[seg->group - 1]);
			if (rc)
				fprintf(stderr, "mesh-sim: group %" PRIu64 ": no target "
						"left to be its witness\n", seg->group);
		}
	}
	free(racks);
	return rc;
}

/* Replicas that are not active in their group's newest configuration
 * any live member holds: what the run leaves degraded. */
static uint32_t members_not_active(const struct mesh_sim *sim)
{
	uint32_t count = 0;

	for (uint32_t gi = 0; gi < sim->group_count; gi++) {
		const struct mesh_group_config *initial = &sim->groups[gi];
		const struct mesh_group_config *newest = NULL;

		for (uint32_t m = 0; m < initial->member_count; m++) {
			const struct simnode *n = &sim->nodes[initial->members[m].node];
			const struct mesh_group_config *c =
				n->node.toma ? mesh_toma_config_of(n->node.toma, initial->group) : NULL;

			if (c && (!newest || c->epoch > newest->epoch))
				newest = c;
		}
		for (uint32_t m = 0; newest && m < newest->member_count; m++) {
			count += newest->members[m].role == MESH_MEMBER_REPLICA &&
				 newest->members[m].state != MESH_MEMBER_ACTIVE;
		}
	}
	return count;
}

/* Each target's groups, and its heartbeat peers: the other replicas of
 * the groups it holds a copy of. A witness takes no part in the
 * heartbeat: failure detection is the replicas' job, and the witness only
 * votes when asked, so it adds no peers. That keeps a target's peers at
 * what placement gives it (the copyset scatter width), however large the
 * cluster. */
static int peers_make(struct mesh_sim *sim)
{
	uint64_t over = 0;

	for (uint32_t pass = 0; pass < 2; pass++) {
		for (uint32_t gi = 0; gi < sim->group_count; gi++) {
			const struct mesh_group_config *c = &sim->groups[gi];

			for (uint32_t a = 0; a < c->member_count; a++) {
				struct simnode *n = &sim->nodes[c->members[a].node];

				if (pass == 1)
					n->groups[n->group_count] = gi;
				n->group_count++;
				for (uint32_t b = 0; pass == 1 && b < c->member_count; b++) {
					int rc;

					if (c->members[a].role != MESH_MEMBER_REPLICA ||
					    c->members[b].role != MESH_MEMBER_REPLICA)
						continue;
					rc = peer_add(n, c->members[b].node);

					if (rc == -ENOMEM)
						return rc;
					over += rc == -ENOSPC;
				}
			}
		}
		for (uint32_t i = 0; pass == 0 && i < sim->node_count; i++) {
			struct simnode *n = &sim->nodes[i];

			if (n->group_count && !(n->groups = calloc(n->group_count, sizeof(uint32_t))))
				return -ENOMEM;
			n->group_count = 0;
		}
	}
	if (over)
		fprintf(stderr, "mesh-sim: %" PRIu64 " heartbeat peerings over the limit of %u peers "
				"per target were left out\n", over, MESH_HEARTBEAT_PEERS_MAX);
	return 0;
}

static int clients_make(struct mesh_sim *sim)
{
	const struct mesh_scenario *s = sim->scn;
	uint32_t clients = s->topology.clients;
	int rc = 0;

	sim->clients = calloc(clients ? clients : 1, sizeof(*sim->clients));
	if (!sim->clients)
		return -ENOMEM;
	for (uint32_t k = 0; rc == 0 && k < clients; k++)
		rc = sim_client_create(sim, &sim->nodes[mesh_scenario_client_node(s, k)], k);
	for (uint32_t v = 0, id = 0; rc == 0 && v < s->volume_count; v++) {
		const struct mesh_scn_volume *sv = &s->volumes[v];

		for (uint32_t k = 0; k < sv->count && clients; k++, id++) {
			bool all = sv->attach == MESH_SCN_ATTACH_ALL;

			sim->volumes[id].reader = all ? 0 : id % clients;
			for (uint32_t c = all ? 0 : id % clients; c < clients; c++) {
				if (sim_client_attach(sim->clients[c], id)) {
					fprintf(stderr, "mesh-sim: %s:%u: client %u would attach more than "
							"%u volumes\n", s->path, sv->line, c,
						MESH_CLIENT_VOLUMES_MAX);
					return -EINVAL;
				}
				if (!all)
					break;
			}
		}
	}
	sim->verify_clients_left = clients;
	return rc;
}

/* Node faults and the verify phase go into each node's agenda now, while
 * no actor waits on it. */
static int agendas_fill(struct mesh_sim *sim)
{
	const struct mesh_scenario *s = sim->scn;
	int rc = 0;

	for (uint32_t f = 0; f < s->fault_count; f++) {
		const struct mesh_scn_fault *ft = &s->faults[f];
		if (mesh_netfault_handles(ft->kind) || ft->kind == MESH_SCN_MGMT_DOWN ||
		    ft->kind == MESH_SCN_MGMT_UP)
			continue; /* the controller's */
		for (uint32_t i = 0; rc == 0 && i < sim->node_count; i++) {
			if (mesh_scenario_set_contains(s, &ft->a, i))
				rc = mesh_agenda_push(&sim->nodes[i].agenda, ft->at_ns,
						      MESH_AGENDA_FAULT, f, 0, NULL);
		}
	}
	for (uint32_t i = 0; rc == 0 && i < sim->node_count; i++)
		rc = mesh_agenda_push(&sim->nodes[i].agenda, sim->verify_at_ns, MESH_AGENDA_VERIFY,
				      0, 0, NULL);
	return rc;
}

static int check_supported(const struct mesh_scenario *s, uint32_t *io_bytes_max)
{
	*io_bytes_max = MESH_BLOCK_BYTES;
	for (uint32_t w = 0; w < s->workload_count; w++) {
		const struct mesh_scn_workload *wl = &s->workloads[w];

		if (wl->block_bytes % MESH_BLOCK_BYTES) {
			fprintf(stderr, "%s:%u: the simulator checks whole 4 KiB blocks; "
					"expected bs a multiple of 4KiB\n", s->path, wl->line);
			return -EINVAL;
		}
		if (wl->block_bytes > *io_bytes_max)
			*io_bytes_max = wl->block_bytes;
	}
	return 0;
}

static int setup(struct mesh_sim *sim)
{
	int rc = check_supported(sim->scn, &sim->io_bytes_max);

	if (rc)
		return rc;
	mesh_sim_simgrid_init();
	rc = platform_load(sim);
	if (!rc)
		rc = nodes_make(sim);
	if (!rc)
		rc = volumes_make(sim);
	if (!rc)
		rc = groups_make(sim);
	if (!rc)
		rc = peers_make(sim);
	if (!rc)
		rc = clients_make(sim);
	if (!rc)
		rc = mesh_history_create(&sim->history);
	if (!rc)
		rc = agendas_fill(sim);
	for (uint32_t i = 0; rc == 0 && i < sim->node_count; i++)
		rc = sim_roles_start(&sim->nodes[i]);
	if (!rc)
		sim_actors_start(sim);
	return rc;
}

static void collect(struct mesh_sim *sim, struct mesh_sim_result *res)
{
	const struct mesh_scenario *s = sim->scn;
	double peers = 0;

	res->members_not_active = members_not_active(sim);
	res->nodes = sim->node_count;
	res->targets = s->topology.targets;
	res->clients = s->topology.clients;
	res->volumes = sim->volume_count;
	res->sim_seconds = simgrid_get_clock();
	res->trace_hash = sim->trace_hash;
	for (uint32_t i = 0; i < sim->node_count; i++) {
		struct simnode *n = &sim->nodes[i];

		sim_roles_count(n);
		res->heartbeats_sent += n->heartbeats_sent;
		res->suspicions += n->suspicions;
		res->epochs_committed += n->epochs_committed;
		res->replacements += n->replacements;
		res->io_fenced += n->io_fenced;
		res->leases_granted += n->leases_granted;
		res->reads_ahead += n->reads_ahead;
		res->reads_to_tail += n->reads_to_tail;
		res->resync_copies += n->resync_copies;
		res->resync_full_copies += n->resync_full_copies;
		res->resync_aborted += n->resync_aborted;
		res->resync_bytes += n->resync_bytes;
		res->resync_bytes_kept += n->resync_bytes_kept;
		peers += n->peer_count;
		if (n->peer_count > res->heartbeat_peers_max)
			res->heartbeat_peers_max = n->peer_count;
	}
	if (s->topology.targets) {
		res->heartbeat_peers_mean = peers / s->topology.targets;
		res->heartbeats_per_target_s =
			(double)res->heartbeats_sent / s->topology.targets / res->sim_seconds;
	}
	res->dropped_cut = sim->net.dropped_cut;
	res->dropped_loss = sim->net.dropped_loss;
	res->duplicated = sim->net.duplicated;
	res->delayed = sim->net.delayed;
	for (uint32_t k = 0; k < s->topology.clients; k++)
		sim_client_totals(sim->clients[k], res);
	res->history_ops = mesh_history_ops(sim->history);
	res->history_blocks = mesh_history_blocks(sim->history);
}

/* Both checkers run on every run that recorded operations, whether or not
 * the scenario names them: a check is not something a scenario can forget. */
static int checks_run(struct mesh_sim *sim, struct mesh_sim_result *res)
{
	int rc;

	res->checked_redundancy = sim->scn->checks & MESH_SCN_CHECK_REDUNDANCY;
	if (!mesh_history_ops(sim->history))
		return 0;
	res->checked_linearizable = true;
	rc = mesh_history_check_linearizable(sim->history, &res->linearizable);
	if (rc)
		return rc;
	res->checked_durability = true;
	return mesh_history_check_durability(sim->history, &res->durability);
}

static void teardown(struct mesh_sim *sim)
{
	for (uint32_t i = 0; sim->nodes && i < sim->node_count; i++) {
		struct simnode *n = &sim->nodes[i];
		struct mesh_agenda_entry e;

		if (n->up)
			sim_roles_stop(n);
		while (mesh_agenda_pop(&n->agenda, &e)) {
			if (e.kind == MESH_AGENDA_DRIVE_DONE || e.kind == MESH_AGENDA_DELIVER)
				free(e.ptr);
		}
		mesh_agenda_free(&n->agenda);
		for (uint32_t d = 0; d < n->drive_count; d++)
			mesh_simdrive_free(&n->drives[d]);
		free(n->drives);
		free(n->peers);
		free(n->groups);
		for (uint32_t k = 0; k < n->meta_count; k++)
			free(n->meta[k].bytes);
		free(n->meta);
	}
	for (uint32_t k = 0; sim->clients && k < sim->scn->topology.clients; k++)
		sim_client_destroy(sim->clients[k]);
	free(sim->clients);
	free(sim->nodes);
	free(sim->volumes);
	free(sim->groups);
	free(sim->pool.drives);
	mesh_history_destroy(sim->history);
}

int mesh_sim_run(const struct mesh_scenario *s, const struct mesh_sim_options *o,
		 struct mesh_sim_result *out)
{
	static struct mesh_sim sim;
	double t0 = wall_now();
	struct rusage ru;
	int rc;

	memset(out, 0, sizeof(*out));
	sim = (struct mesh_sim){ .scn = s, .opt = *o, .res = out, .rng = o->seed };
	out->seed = o->seed;
	mesh_netfault_init(&sim.net, s);
	sim.lease_ns = s->client.lease_ns ? s->client.lease_ns : s->client.io_timeout_ns / 4;
	if (sim.lease_ns < MESH_SCN_LEASE_NS_MIN)
		sim.lease_ns = MESH_SCN_LEASE_NS_MIN;
	sim.verify_at_ns = s->duration_ns + s->client.io_timeout_ns + SIM_DRAIN_MARGIN_NS;
	sim.end_limit_ns = sim.verify_at_ns + SIM_VERIFY_SETTLE_NS +
			   (uint64_t)SIM_VERIFY_TRIES * 4 * s->client.io_timeout_ns + 10000000000ull;
	rc = setup(&sim);
	if (rc) {
		fprintf(stderr, "mesh-sim: %s: set-up failed: %s\n", s->path, strerror(-rc));
		teardown(&sim);
		return rc;
	}
	double t1 = wall_now();

	simgrid_run();
	out->setup_seconds = t1 - t0;
	out->wall_seconds = wall_now() - t1;
	collect(&sim, out);
	rc = checks_run(&sim, out);
	getrusage(RUSAGE_SELF, &ru);
	out->peak_rss_bytes = (uint64_t)ru.ru_maxrss * 1024;
	teardown(&sim);
	return rc;
}

uint64_t mesh_sim_latency_percentile(const struct mesh_sim_latency *l, double p)
{
	uint64_t want = (uint64_t)((double)l->count * p), seen = 0;

	if (!l->count)
		return 0;
	for (unsigned b = 0; b < MESH_SIM_LATENCY_BUCKETS; b++) {
		seen += l->buckets[b];
		if (seen > want || seen == l->count)
			return b ? 1ull << b : 0;
	}
	return 1ull << (MESH_SIM_LATENCY_BUCKETS - 1);
}

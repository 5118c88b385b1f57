/*
 * sim/ping_baseline.c: mesh-sim-ping, the bare SimGrid baseline for
 * mesh-sim's overhead ratio.
 *
 *   mesh-sim-ping SCENARIO.scn --messages M [--bytes B] [--targets N]
 *                 [--clients N] [--racks N] [--duration T]
 *
 * The same platform (sim/platform.h), node count, SimGrid settings and
 * wait pattern as mesh-sim (one actor per node waiting for "a message or
 * my next send time"), but no mesh code: each node sends M / nodes
 * messages of B bytes to random nodes at jittered times spread over the
 * duration. Prints one JSON line: wall time and messages per wall second.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <simgrid/actor.h>
#include <simgrid/comm.h>
#include <simgrid/engine.h>
#include <simgrid/host.h>
#include <simgrid/mailbox.h>

#include "core/rng.h"
#include "sim/platform.h"
#include "sim/scenario.h"
#include "sim/sg_wait.h"
#include "sim/sim.h"
#include "core/units.h"

static struct {
	uint32_t nodes;
	uint64_t per_node, bytes, duration_ns, seed;
	sg_mailbox_t *mbox;
	uint64_t sent, received;
} ping;

static uint64_t now_ns(void)
{
	return (uint64_t)(simgrid_get_clock() * 1e9);
}

static void ping_actor(int argc, char **argv)
{
	uint32_t id = (uint32_t)(uintptr_t)sg_actor_self_get_data();
	uint64_t rng = ping.seed ^ ((uint64_t)id << 20);
	uint64_t gap = ping.duration_ns / (ping.per_node ? ping.per_node : 1);
	uint64_t next = mesh_rng_next(&rng) % (gap ? gap : 1);
	void *payload = NULL;
	sg_comm_t rx = sg_mailbox_get_async(ping.mbox[id], &payload);

	(void)argc;
	(void)argv;
	for (uint64_t left = ping.per_node;;) {
		uint64_t now = now_ns();
		double timeout = !left ? -1.0 : next <= now ? 0.0 : (double)(next - now) / 1e9;
		int r = mesh_sg_comm_wait(rx, timeout);

		if (r != 0) {
			ping.received += r == 1;
			rx = sg_mailbox_get_async(ping.mbox[id], &payload);
			continue;
		}
		uint32_t dst = (uint32_t)(mesh_rng_next(&rng) % ping.nodes);
		sg_comm_t c = sg_mailbox_put_init(ping.mbox[dst], (void *)1, (long)ping.bytes);

		sg_comm_detach(c, NULL);
		ping.sent++;
		left--;
		next += gap / 2 + mesh_rng_next(&rng) % (gap ? gap : 1);
	}
}

static void stop_actor(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	sg_actor_sleep_until((double)ping.duration_ns * 2 / 1e9 + 1.0);
	sg_actor_kill_all();
}

int main(int argc, char **argv)
{
	static struct mesh_scenario scn;
	static const struct option opts[] = {
		{ "messages", required_argument, NULL, 'm' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "targets", required_argument, NULL, 't' },
		{ "clients", required_argument, NULL, 'c' },
		{ "racks", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ 0 },
	};
	int o;
	uint64_t messages = 0;
	char err[512], name[32], tmp[] = "/tmp/mesh-sim-ping-XXXXXX";
	struct timespec t0, t1;

	ping.bytes = 64;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int bad = 0;

		if (o == 'm')
			bad = mesh_units_parse_u64(optarg, 1, UINT64_MAX, &messages);
		else if (o == 'b')
			bad = mesh_units_parse_size(optarg, &ping.bytes);
		else if (o == 't')
			bad = mesh_units_parse_u32(optarg, 1, MESH_SCN_NODES_MAX, &scn.topology.targets);
		else if (o == 'c')
			bad = mesh_units_parse_u32(optarg, 0, MESH_SCN_NODES_MAX, &scn.topology.clients);
		else if (o == 'r') /* accepted so both programs take one flag set */
			bad = mesh_units_parse_u32(optarg, 1, MESH_SCN_NODES_MAX, &scn.topology.racks);
		else if (o == 'd')
			bad = mesh_units_parse_duration(optarg, &ping.duration_ns);
		else
			bad = 1;
		if (bad) {
			fprintf(stderr, "mesh-sim-ping: bad value for an option\n");
			return 2;
		}
	}
	/* Flags were parsed into a zeroed struct; load, then apply them. */
	struct mesh_scn_topology flags = scn.topology;

	if (optind != argc - 1 || !messages) {
		fprintf(stderr, "usage: mesh-sim-ping SCENARIO.scn --messages M [--bytes B] "
				"[--targets N] [--clients N] [--racks N] [--duration T]\n");
		return 2;
	}
	if (mesh_scenario_load(argv[optind], &scn, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	if (flags.targets)
		scn.topology.targets = flags.targets;
	if (flags.clients)
		scn.topology.clients = flags.clients;
	if (!ping.duration_ns)
		ping.duration_ns = scn.duration_ns;
	ping.nodes = mesh_scenario_nodes(&scn);
	ping.per_node = messages / ping.nodes;
	ping.seed = scn.seed;
	mesh_sim_simgrid_init();
	int fd = mkstemp(tmp);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	if (!f || mesh_platform_write(f, &scn) || fclose(f)) {
		fprintf(stderr, "mesh-sim-ping: cannot write the platform\n");
		return 3;
	}
	simgrid_load_platform(tmp);
	unlink(tmp);
	ping.mbox = calloc(ping.nodes, sizeof(*ping.mbox));
	for (uint32_t i = 0; i < ping.nodes; i++) {
		mesh_platform_host_name(i, name, sizeof(name));
		ping.mbox[i] = sg_mailbox_by_name(name);
		sg_actor_t a = sg_actor_init(name, sg_host_by_name(name));

		sg_actor_set_data(a, (void *)(uintptr_t)i);
		sg_actor_start_(a, ping_actor, 0, NULL);
	}
	sg_actor_t stop = sg_actor_init("stop", sg_host_by_name("n0"));

	sg_actor_start_(stop, stop_actor, 0, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	simgrid_run();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	printf("{\"nodes\": %u, \"messages_sent\": %" PRIu64 ", \"messages_received\": %" PRIu64
	       ", \"bytes\": %" PRIu64 ", \"wall_s\": %.3f, \"messages_per_wall_s\": %.0f}\n",
	       ping.nodes, ping.sent, ping.received, ping.bytes, wall, (double)ping.sent / wall);
	free(ping.mbox);
	return 0;
}

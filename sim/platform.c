/*
 * sim/platform.c: see platform.h.
 */
#include "sim/platform.h"

#include <errno.h>
#include <inttypes.h>

/* SimGrid wants link speeds in bits per second and latencies in seconds. */
static double bits(uint64_t bytes_per_s)
{
	return (double)bytes_per_s * 8.0;
}

static double seconds(uint64_t ns)
{
	return (double)ns / 1e9;
}

int mesh_platform_write(FILE *f, const struct mesh_scenario *s)
{
	const struct mesh_scn_network *n = &s->network;
	uint32_t nodes = mesh_scenario_nodes(s);

	fprintf(f, "<?xml version='1.0'?>\n"
		   "<!DOCTYPE platform SYSTEM \"https://simgrid.org/simgrid.dtd\">\n"
		   "<platform version=\"4.1\">\n");
	fprintf(f, "  <!-- mesh-sim: %s, %" PRIu32 " nodes in %" PRIu32 " racks -->\n", s->name,
		nodes, s->topology.racks);
	fprintf(f, "  <cluster id=\"mesh\" prefix=\"n\" suffix=\"\" radical=\"0-%" PRIu32 "\""
		   " speed=\"1Gf\" bw=\"%.0fbps\" lat=\"%.9fs\""
		   " loopback_bw=\"%.0fbps\" loopback_lat=\"%.9fs\"/>\n",
		nodes - 1, bits(n->bandwidth_bps), seconds(n->latency_ns + n->backbone_latency_ns / 2),
		bits(n->bandwidth_bps), seconds(n->latency_ns));
	fprintf(f, "</platform>\n");
	return ferror(f) ? -EIO : 0;
}

void mesh_platform_host_name(uint32_t node, char *buf, size_t len)
{
	snprintf(buf, len, "n%" PRIu32, node);
}

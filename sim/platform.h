/*
 * sim/platform.h: the SimGrid platform for a scenario's topology.
 *
 * One SimGrid cluster of `nodes` hosts named n0, n1, ...: each host has a
 * private full-duplex link (latency, bandwidth) to a non-blocking backbone
 * (FATPIPE: flows do not share it, so a message's cost depends only on the
 * links it crosses, not on every other flow in the cluster; a shared
 * backbone made the max-min solver couple all 100,000 hosts). Racks are
 * failure domains of the scenario, not network zones: a rack fails as a
 * unit, and cross-rack traffic is not modelled separately from in-rack
 * traffic.
 */
#ifndef MESH_SIM_PLATFORM_H
#define MESH_SIM_PLATFORM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim/scenario.h"

/** Write the platform XML for @s's topology and network to @f. Returns 0 or -EIO. */
int mesh_platform_write(FILE *f, const struct mesh_scenario *s);

/** The SimGrid host name of node @node. */
void mesh_platform_host_name(uint32_t node, char *buf, size_t len);

#endif

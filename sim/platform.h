/*
 * sim/platform.h: the SimGrid platform for a scenario's topology.
 *
 * One SimGrid cluster of `nodes` hosts named n0, n1, ...: each host has a
 * private full-duplex link (bandwidth; latency plus half the backbone
 * latency) into a non-blocking fabric, modelled by giving the cluster no
 * backbone link at all. A message costs its sender's up link and its
 * receiver's down link. Any backbone link, even a FATPIPE one, puts every
 * flow of the cluster into one max-min system that SimGrid re-solves on
 * each change: mirrored writes ran 2.1 times slower with it (10,000
 * nodes, write-only workload, one run each). Racks are failure domains of
 * the scenario, not network zones.
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

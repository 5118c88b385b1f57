/*
 * transports/loop.h: the in-process transport, for deterministic clusters
 * and tests.
 *
 * Every endpoint lives in this process and one thread drives them all, so
 * the loop transport has no locks, no threads and no clock. Endpoints made
 * with the same fabric see each other; the fabric also carries the fault
 * knobs (directed link partitions) that tests and the in-process cluster
 * turn. The transport itself is mesh_transport_loop (transport.h); pass the
 * fabric in mesh_transport_params.fabric.
 *
 * Behaviour beyond the transport.h contract:
 * - connect() returns a connection that may be used for send at once; both
 *   sides see CONN_UP from their next poll(), before any message on it.
 *   Connecting ignores link state: a partition drops traffic, it does not
 *   tear down or refuse connections.
 * - A message sent over a down link is dropped silently (send returns 0)
 *   and counted by mesh_loop_dropped().
 * - RMA acts on the target's memory at once, without the target polling.
 *   If the link from initiator to target is down, nothing happens and the
 *   RMA completes with -ETIMEDOUT. If only the link back is down, a write
 *   lands but still completes with -ETIMEDOUT (the acknowledgement is lost),
 *   and a read leaves the buffer untouched: like real RDMA, a timed-out
 *   write may or may not have happened.
 */
#ifndef MESH_TRANSPORTS_LOOP_H
#define MESH_TRANSPORTS_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "transports/transport.h"

/* Longest address, in bytes, without the terminating NUL. */
#define MESH_LOOP_ADDR_MAX 64u
/* Connections one endpoint may hold at once. */
#define MESH_LOOP_CONN_MAX 1024u
/* RMA completions one endpoint may have waiting to be polled. */
#define MESH_LOOP_RMA_MAX 1024u
/* Memory regions one endpoint may expose at once (a power of two). */
#define MESH_LOOP_MR_MAX 1024u
/* Directed links that may be down at once in one fabric. */
#define MESH_LOOP_LINKS_DOWN_MAX 256u
/* Receive ring when mesh_transport_params.rx_bytes is 0. */
#define MESH_LOOP_RX_BYTES_DEFAULT (8u << 20)
/* Largest receive ring an endpoint may ask for. */
#define MESH_LOOP_RX_BYTES_MAX (1u << 30)

struct mesh_loop_fabric;

/**
 * Make an empty fabric. Returns 0 and the fabric in @out, or -ENOMEM.
 */
int mesh_loop_fabric_create(struct mesh_loop_fabric **out);

/**
 * Free @f. Every endpoint made on it must have been destroyed first.
 * NULL is a no-op.
 */
void mesh_loop_fabric_destroy(struct mesh_loop_fabric *f);

/**
 * Take the directed link from the endpoint at @from_addr to the endpoint at
 * @to_addr down (@up false) or back up (@up true). Links are named by
 * address, so they may be set before the endpoints exist and survive an
 * endpoint being destroyed and remade at the same address. Setting a link
 * to the state it is in is a no-op. Returns 0, -EINVAL for a bad address,
 * or -ENOSPC when MESH_LOOP_LINKS_DOWN_MAX links are already down.
 */
int mesh_loop_set_link(struct mesh_loop_fabric *f, const char *from_addr, const char *to_addr,
		       bool up);

/** How many messages @f has dropped on down links since it was made. */
uint64_t mesh_loop_dropped(const struct mesh_loop_fabric *f);

/**
 * The address of loop endpoint @t: the one it listens on, or, until it
 * listens, a unique automatic name ("anon:N") by which links can name it.
 * Valid until @t listens or is destroyed.
 */
const char *mesh_loop_address(const struct mesh_transport *t);

#endif

/*
 * core/node.h: one mesh node as the environment sees it. A node hosts a
 * target, a client, or both (converged), over one mesh_env, and a target
 * node also a heartbeat towards its group peers. The environment hands
 * every event to the node; the node decodes messages once, strictly, and
 * routes each event to the role that owns it.
 */
#ifndef MESH_CORE_NODE_H
#define MESH_CORE_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "core/env.h"

/* A node's roles: each owns its timers (the high byte of a timer id, see
 * env.h) and the message types that node.c routes to it. */
enum mesh_role {
	MESH_ROLE_CLIENT = 1,
	MESH_ROLE_TARGET = 2,
	MESH_ROLE_HEARTBEAT = 3,
	MESH_ROLE_TOMA = 4,
	MESH_ROLE_RESYNC = 5,
};

struct mesh_client;
struct mesh_heartbeat;
struct mesh_resync;
struct mesh_target;
struct mesh_toma;

struct mesh_node {
	struct mesh_env env;
	struct mesh_client *client;       /* may be NULL */
	struct mesh_target *target;       /* may be NULL */
	struct mesh_heartbeat *heartbeat; /* may be NULL */
	struct mesh_toma *toma;           /* may be NULL: no fencing, no votes */
	struct mesh_resync *resync;       /* may be NULL: no rebuilds from here */
	uint64_t rx_malformed;            /* messages that failed to decode */
	uint64_t rx_misrouted;            /* messages for a role this node lacks */
};

/**
 * Answer request @req_id from node @dst with an ERROR carrying @code (a
 * negative errno) and a short @detail. Best effort: a failed send is logged.
 */
void mesh_node_send_error(const struct mesh_env *env, uint32_t dst, uint64_t req_id,
			  uint64_t epoch, int code, const char *detail);

/** A message of @len bytes from node @src. The bytes are only borrowed. */
void mesh_node_on_message(struct mesh_node *n, uint32_t src, const void *buf, size_t len);

/** Timer @timer_id fired. */
void mesh_node_on_timer(struct mesh_node *n, uint32_t timer_id);

/** Drive I/O @cookie finished with @result (bytes, or a negative errno). */
void mesh_node_on_drive_done(struct mesh_node *n, uint64_t cookie, int result);

/** One-sided access @cookie finished with @status. */
void mesh_node_on_rma_done(struct mesh_node *n, uint64_t cookie, int status);

#endif

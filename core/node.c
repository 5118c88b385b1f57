/*
 * core/node.c: decode once, then route by message type. Heartbeats go to
 * the heartbeat role, configuration and lease messages to the topology
 * manager, I/O requests to the target role, other replies to the client
 * role. A message that fails to decode is counted and dropped: its
 * sender cannot be trusted to be who the bytes say, so the requester learns
 * of it by its own timeout.
 */
#include "core/node.h"

#include "core/client.h"
#include "core/heartbeat.h"
#include "core/proto.h"
#include "core/resync.h"
#include "core/target.h"
#include "core/toma.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* The role that handles messages of @type. */
static enum mesh_role role_of(uint8_t type)
{
	switch (type) {
	case MESH_MSG_HEARTBEAT:
		return MESH_ROLE_HEARTBEAT;
	case MESH_MSG_CONFIG_READ:
	case MESH_MSG_CONFIG_PROPOSE:
	case MESH_MSG_LEASE_REQUEST:
	case MESH_MSG_CONFIG_REPLY:
	case MESH_MSG_CONFIG_ACCEPT:
		return MESH_ROLE_TOMA;
	case MESH_MSG_IO_READ:
	case MESH_MSG_IO_WRITE:
	case MESH_MSG_RMA_GRANT_REQ:
		return MESH_ROLE_TARGET;
	default:
		return MESH_ROLE_CLIENT;
	}
}

/* The role that handles @m: by type, except that answers to resync copies
 * carry MESH_RESYNC_TAG in their request id. */
static enum mesh_role role_of_msg(const struct mesh_msg *m)
{
	if ((m->hdr.type == MESH_MSG_IO_REPLY || m->hdr.type == MESH_MSG_ERROR) &&
	    (m->hdr.req_id & MESH_RESYNC_TAG))
		return MESH_ROLE_RESYNC;
	return role_of(m->hdr.type);
}

void mesh_node_send_error(const struct mesh_env *env, uint32_t dst, uint64_t req_id,
			  uint64_t epoch, int code, const char *detail)
{
	uint8_t prefix[MESH_PROTO_PREFIX_MAX];
	size_t detail_len = strnlen(detail, MESH_PROTO_ERROR_DETAIL_MAX);
	struct mesh_msg m = {
		.hdr = { .type = MESH_MSG_ERROR, .req_id = req_id, .epoch = epoch },
		.u.error = { .code = code },
		.data = (const uint8_t *)detail,
		.data_len = (uint32_t)detail_len,
	};
	int n = mesh_proto_encode(&m, prefix, sizeof(prefix));

	assert(n > 0);
	struct mesh_iov iov[2] = { { prefix, (size_t)n }, { detail, detail_len } };
	int rc = mesh_env_send(env, dst, iov, 2);

	if (rc)
		mesh_log_debug(env, "error reply to node %u not sent: %d", dst, rc);
}

/* @m is for a role this node lacks. */
static void misrouted(struct mesh_node *n, uint32_t src, const struct mesh_msg *m)
{
	enum mesh_role role = role_of_msg(m);

	n->rx_misrouted++;
	if (role == MESH_ROLE_RESYNC) {
		/* An answer to a copy of an earlier incarnation of this node. */
		mesh_log_debug(&n->env, "node %u: resync answer from node %u for no copy",
			       n->env.self, src);
		return;
	}
	if (role == MESH_ROLE_HEARTBEAT) {
		/* A beat arrives every interval from each node that counts us
		 * as a peer: a warning each time would drown the log, and an
		 * answer would double the traffic for nobody (no one waits for
		 * one). The counter tells. */
		mesh_log_debug(&n->env, "node %u: no heartbeat role for a beat from node %u",
			       n->env.self, src);
		return;
	}
	mesh_log_warn(&n->env, "node %u: no %s role for %s from node %u", n->env.self,
		      role == MESH_ROLE_TARGET ? "target" :
		      role == MESH_ROLE_TOMA ? "topology manager" : "client",
		      mesh_proto_type_name(m->hdr.type), src);
	/* Tell a requester at once rather than let it wait for a timeout. */
	if (role == MESH_ROLE_TARGET)
		mesh_node_send_error(&n->env, src, m->hdr.req_id, m->hdr.epoch, -EOPNOTSUPP,
				     "this node has no target role");
}

void mesh_node_on_message(struct mesh_node *n, uint32_t src, const void *buf, size_t len)
{
	struct mesh_msg m;
	int rc = mesh_proto_decode(buf, len, &m);

	if (rc) {
		n->rx_malformed++;
		mesh_log_warn(&n->env, "node %u: dropped a %zu-byte message from node %u: %s",
			      n->env.self, len, src, mesh_proto_strerror(rc));
		return;
	}
	switch (role_of_msg(&m)) {
	case MESH_ROLE_RESYNC:
		if (!n->resync)
			break;
		mesh_resync_on_msg(n->resync, src, &m);
		return;
	case MESH_ROLE_HEARTBEAT:
		if (!n->heartbeat)
			break;
		mesh_heartbeat_on_msg(n->heartbeat, src, &m);
		return;
	case MESH_ROLE_TARGET:
		if (!n->target)
			break;
		mesh_target_on_msg(n->target, src, &m);
		return;
	case MESH_ROLE_CLIENT:
		if (!n->client)
			break;
		mesh_client_on_msg(n->client, src, &m);
		return;
	case MESH_ROLE_TOMA:
		if (!n->toma)
			break;
		/* A lease request carries its client's settled mark too: an
		 * idle client settles its last writes with its renewals. */
		if (m.hdr.type == MESH_MSG_LEASE_REQUEST && n->target)
			mesh_target_settled(n->target, m.u.lease_request.incarnation,
					    m.u.lease_request.settled);
		mesh_toma_on_msg(n->toma, src, &m);
		return;
	}
	misrouted(n, src, &m);
}

void mesh_node_on_timer(struct mesh_node *n, uint32_t timer_id)
{
	switch (MESH_TIMER_ROLE(timer_id)) {
	case MESH_ROLE_CLIENT:
		if (n->client)
			mesh_client_on_timer(n->client, timer_id);
		break;
	case MESH_ROLE_TARGET:
		if (n->target)
			mesh_target_on_timer(n->target, timer_id);
		break;
	case MESH_ROLE_HEARTBEAT:
		if (n->heartbeat)
			mesh_heartbeat_on_timer(n->heartbeat, timer_id);
		break;
	case MESH_ROLE_TOMA:
		if (n->toma)
			mesh_toma_on_timer(n->toma, timer_id);
		break;
	case MESH_ROLE_RESYNC:
		if (n->resync)
			mesh_resync_on_timer(n->resync, timer_id);
		break;
	default:
		mesh_log_error(&n->env, "node %u: timer %#x has no owner", n->env.self, timer_id);
		break;
	}
}

void mesh_node_on_drive_done(struct mesh_node *n, uint64_t cookie, int result)
{
	if (cookie & MESH_RESYNC_TAG) {
		if (n->resync)
			mesh_resync_on_drive_done(n->resync, cookie, result);
	} else if (n->target) {
		mesh_target_on_drive_done(n->target, cookie, result);
	}
}

void mesh_node_on_rma_done(struct mesh_node *n, uint64_t cookie, int status)
{
	/* Only the client reads one-sided. */
	if (n->client)
		mesh_client_on_rma_done(n->client, cookie, status);
	else
		mesh_log_warn(&n->env, "node %u: RMA completion %#llx (%d) with no client",
			      n->env.self, (unsigned long long)cookie, status);
}

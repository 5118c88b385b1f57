/*
 * core/onesided.c: read keys and landing buffers of a client (see
 * onesided.h).
 */
#include "core/onesided.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Landing buffers start on a page, as RDMA-capable memory likes. */
#define BUF_ALIGN 4096u
#define SEQ_MASK 0x7fffffffu

static void ask(struct mesh_rma_key *k, const struct mesh_env *env,
		const struct mesh_group_config *cfg, const struct mesh_group_member *tail,
		uint64_t req_id)
{
	uint8_t buf[MESH_PROTO_PREFIX_MAX];
	int n, rc;

	k->state = MESH_RMA_KEY_ASKED;
	k->node = tail->node;
	k->epoch = cfg->epoch;
	k->seq = (k->seq + 1) & SEQ_MASK;
	k->asked_ns = mesh_env_now_ns(env);

	struct mesh_msg m = {
		.hdr = {
			.type = MESH_MSG_RMA_GRANT_REQ,
			.req_id = req_id | (uint64_t)k->seq << 32,
			.epoch = cfg->epoch,
		},
		.u.rma_grant_req = {
			.group = cfg->group,
			.drive = tail->drive,
			.access = MESH_RMA_READ,
			.offset = tail->offset,
			.length = cfg->bytes,
		},
	};
	n = mesh_proto_encode(&m, buf, sizeof(buf));
	assert(n > 0);
	struct mesh_iov iov = { buf, (size_t)n };
	rc = mesh_env_send(env, tail->node, &iov, 1);
	if (rc)
		mesh_log_debug(env, "client: key request to node %u not sent: %d", tail->node, rc);
}

bool mesh_rma_key_usable(struct mesh_rma_key *k, const struct mesh_env *env,
			 const struct mesh_group_config *cfg, uint64_t req_id, uint64_t retry_ns)
{
	int tail = mesh_group_tail(cfg);
	const struct mesh_group_member *t;

	if (tail < 0)
		return false;
	t = &cfg->members[tail];
	if (k->state != MESH_RMA_KEY_NONE && k->node == t->node && k->epoch == cfg->epoch) {
		if (k->state == MESH_RMA_KEY_HELD)
			return true;
		if (k->state == MESH_RMA_KEY_REFUSED ||
		    mesh_env_now_ns(env) - k->asked_ns < retry_ns)
			return false;
	}
	ask(k, env, cfg, t, req_id);
	return false;
}

void mesh_rma_key_on_grant(struct mesh_rma_key *k, uint32_t src, uint32_t seq,
			   const struct mesh_msg_rma_grant *g)
{
	if (k->state != MESH_RMA_KEY_ASKED || k->node != src || k->seq != seq)
		return; /* an older ask's answer */
	if (g->status || !(g->access & MESH_RMA_READ)) {
		k->state = MESH_RMA_KEY_REFUSED;
		return;
	}
	k->state = MESH_RMA_KEY_HELD;
	k->rkey = g->rkey;
	k->remote_offset = g->remote_offset;
	k->length = g->length;
}

int mesh_rma_bufs_init(struct mesh_rma_bufs *b, uint32_t count, uint32_t bytes)
{
	size_t total = (size_t)count * bytes;

	memset(b, 0, sizeof(*b));
	if (count == 0 || bytes == 0 || bytes % BUF_ALIGN)
		return -EINVAL;
	b->mem = aligned_alloc(BUF_ALIGN, total);
	b->free = calloc(count, sizeof(*b->free));
	b->owner = calloc(count, sizeof(*b->owner));
	b->busy = calloc(count, sizeof(*b->busy));
	if (!b->mem || !b->free || !b->owner || !b->busy) {
		mesh_rma_bufs_fini(b);
		return -ENOMEM;
	}
	b->count = count;
	b->bytes = bytes;
	for (uint32_t i = 0; i < count; i++)
		b->free[i] = count - 1 - i;
	b->free_count = count;
	return 0;
}

void mesh_rma_bufs_fini(struct mesh_rma_bufs *b)
{
	/* A buffer still out may yet be written by the transport: its
	 * memory is left allocated rather than handed to someone else. */
	if (b->free_count == b->count)
		free(b->mem);
	free(b->free);
	free(b->owner);
	free(b->busy);
	memset(b, 0, sizeof(*b));
}

int mesh_rma_bufs_get(struct mesh_rma_bufs *b, uint64_t owner)
{
	uint32_t i;

	if (b->free_count == 0)
		return -1;
	i = b->free[--b->free_count];
	b->busy[i] = true;
	b->owner[i] = owner;
	return (int)i;
}

void mesh_rma_bufs_put(struct mesh_rma_bufs *b, uint32_t index)
{
	assert(mesh_rma_bufs_busy(b, index));
	b->busy[index] = false;
	b->free[b->free_count++] = index;
}

/*
 * transports/verbs_internal.h: the parts of the verbs transport that need
 * no RDMA device, so that tests can check them on any machine. Only
 * verbs.c and tests/test_verbs.c include this; nothing here is API.
 */
#ifndef MESH_TRANSPORTS_VERBS_INTERNAL_H
#define MESH_TRANSPORTS_VERBS_INTERNAL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transports/verbs.h"

/* ---- configuration ---- */

/* What create() settled on: every field within its limit. */
struct mesh_verbs_config {
	size_t msg_bytes_max;
	unsigned recv_depth;
	unsigned send_depth;
	unsigned rma_depth;
	size_t bounce_bytes;
	unsigned conn_max;
	unsigned resolve_ms;
};

/**
 * Check @p and @o (NULL for defaults) and fill @cfg. Returns 0, or -EINVAL
 * with one line saying which value is outside which limit in @msg.
 */
int mesh_verbs_config_make(const struct mesh_transport_params *p,
			   const struct mesh_verbs_options *o, struct mesh_verbs_config *cfg,
			   char *msg, size_t msg_size);

/**
 * Pick a device from the @n names that ibv_get_device_list() returned:
 * @want, or the first when @want is NULL. Returns its index, or -ENODEV
 * with one line in @msg naming what is missing (no device at all, or
 * @want and the devices that exist).
 */
int mesh_verbs_device_pick(const char *const *names, unsigned n, const char *want, char *msg,
			   size_t msg_size);

/* ---- status mapping ---- */

/** An ibv_wc_status as 0 or a negative errno (REM_ACCESS_ERR: -EACCES). */
int mesh_verbs_wc_status(int wc_status);

/**
 * What a connection-ending rdma_cm_event_type with its event status means
 * as a CONN_DOWN status (0 for a clean disconnect).
 */
int mesh_verbs_cm_status(int cm_event, int event_status);

/* ---- keys and the region table ---- */

/** The key for rkey @rkey of a region of @len bytes (1..REGION_BYTES_MAX). */
uint64_t mesh_verbs_key_make(uint32_t rkey, size_t len);
static inline uint32_t mesh_verbs_key_rkey(uint64_t key)
{
	return (uint32_t)key;
}
static inline uint64_t mesh_verbs_key_len(uint64_t key)
{
	return key >> 32;
}

/**
 * Whether @len bytes at @offset lie inside the region @key names: 0,
 * -EACCES when the key cannot name a region (length 0), -ERANGE past it.
 */
int mesh_verbs_key_range(uint64_t key, uint64_t offset, size_t len);

struct mesh_verbs_region {
	uint64_t key;
	uint8_t *base;
	size_t len;
	unsigned access; /* MESH_RMA_READ | MESH_RMA_WRITE */
	void *mr;	 /* the struct ibv_mr * (opaque here) */
};

/* The regions one endpoint exposes; small, so lookups scan it. */
struct mesh_verbs_regions {
	unsigned count;
	struct mesh_verbs_region r[MESH_VERBS_REGION_MAX];
};

/** Whether mr_expose() may take @base, @len, @access: 0 or -EINVAL. */
int mesh_verbs_region_check(const void *base, size_t len, unsigned access);

/** Add @r (its key must be new). 0, or -ENOSPC at MESH_VERBS_REGION_MAX. */
int mesh_verbs_regions_add(struct mesh_verbs_regions *rs, const struct mesh_verbs_region *r);

/** Index of the region with @key, or -ENOENT. */
int mesh_verbs_regions_find(const struct mesh_verbs_regions *rs, uint64_t key);

/** Index of a region holding all of [@buf, @buf + @len), or -ENOENT. */
int mesh_verbs_regions_cover(const struct mesh_verbs_regions *rs, const void *buf, size_t len);

/** Drop region @i (order is not kept). */
void mesh_verbs_regions_del(struct mesh_verbs_regions *rs, unsigned i);

/* ---- slot pools (send buffers, RMA slots) ---- */

/* A fixed set of slots 0..cap-1, each free or taken. */
struct mesh_verbs_pool {
	unsigned cap;
	unsigned free_count;
	uint32_t *free; /* stack of free slots */
	bool *taken;
};

/** Make @p with @cap free slots (1..65536). 0, -EINVAL or -ENOMEM. */
int mesh_verbs_pool_init(struct mesh_verbs_pool *p, unsigned cap);
void mesh_verbs_pool_fini(struct mesh_verbs_pool *p);
/** Take a free slot: its number, or -EAGAIN when all are taken. */
int mesh_verbs_pool_get(struct mesh_verbs_pool *p);
/** Give slot @slot back: 0, or -EINVAL when it is out of range or free. */
int mesh_verbs_pool_put(struct mesh_verbs_pool *p, unsigned slot);
static inline unsigned mesh_verbs_pool_taken(const struct mesh_verbs_pool *p)
{
	return p->cap - p->free_count;
}

#endif

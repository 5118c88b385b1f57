/*
 * core/client.h: the client's data services. Splits volume I/O by layout,
 * writes every copy of an extent along its group's chain (head to tail,
 * each after the one before acknowledged), reads the chain's tail, and
 * reports completions through a queue the caller drains. Sans-IO: it acts
 * only through its mesh_env.
 *
 * Groups the topology manager runs (given with mesh_client_group_add) are
 * used only under a lease: the client asks every voter, holds the lease
 * when a majority and every replica taking writes granted it on one
 * configuration, tags each request with that configuration's epoch, and
 * renews at half-life. A request refused for its epoch (-ESTALE) or not
 * answered waits for a fresh lease and is sent again, head of the chain
 * first, until the I/O's timeout; an I/O on a group that cannot get a
 * lease fails with -ETIMEDOUT then, and never reads from an old
 * configuration. Groups without a manager run on a static configuration
 * made from the layout (epoch 0, no lease, nothing fails over).
 *
 * Capacity is reserved when the client is made: I/O slots (the queue
 * depth), sub-requests (one per extent in flight) and the
 * completion queue. Submitting never allocates; when capacity is short it
 * returns -EAGAIN and the caller reaps and tries again.
 */
#ifndef MESH_CORE_CLIENT_H
#define MESH_CORE_CLIENT_H

#include <stdint.h>

#include "core/env.h"
#include "core/layout.h"
#include "core/proto.h"

/* I/O offsets and lengths are whole sectors, as on a block device. */
#define MESH_SECTOR_BYTES 512u
/* Largest single I/O: what one wire message carries. */
#define MESH_CLIENT_IO_BYTES_MAX MESH_PROTO_DATA_MAX
#define MESH_CLIENT_QUEUE_DEPTH_MAX 4096u
#define MESH_CLIENT_SUBREQUESTS_MAX (1u << 20)
#define MESH_CLIENT_VOLUMES_MAX 64u
/* Groups one client knows: every segment of every volume. */
#define MESH_CLIENT_GROUPS_MAX (MESH_CLIENT_VOLUMES_MAX * MESH_LAYOUT_SEGMENTS_MAX)
/* Longest I/O timeout: an hour keeps now + timeout far from wrapping. */
#define MESH_CLIENT_TIMEOUT_NS_MAX (3600ull * 1000000000ull)
/* Pause before resending to a busy target or over a full path. */
#define MESH_CLIENT_RESEND_NS 50000ull
/* Longest extent read one-sided: each landing buffer is this big. */
#define MESH_CLIENT_RMA_BYTES_MAX (64u * 1024u)

enum mesh_io_op {
	MESH_IO_READ = 1,
	MESH_IO_WRITE = 2,
};

struct mesh_client_config {
	uint32_t queue_depth;   /* I/Os submitted and not yet reaped; 1..MAX */
	uint32_t subrequests;   /* in flight across all I/Os; 0 = 16 per slot */
	uint64_t io_timeout_ns; /* an I/O not done by then fails (-ETIMEDOUT) */
	/* Lease to ask voters for (managed groups); 0 = 4 x the attempt
	 * timeout. The client counts it from before it asked, shortened for
	 * drift_ppm (core/group.h). */
	uint64_t lease_ns;
	uint32_t drift_ppm;
	/* Read only from each group's tail, as plain chain replication does,
	 * rather than from any active replica in turn (docs/toma.md). */
	bool reads_tail_only;
	/* Read each managed group's tail one-sided (RMA), under the key it
	 * grants for the epoch the client holds, when the environment can:
	 * the target's CPU does no work per read (docs/toma.md, "One-sided
	 * reads"). Extents above MESH_CLIENT_RMA_BYTES_MAX, and reads the tail
	 * will not grant, go two-sided. */
	bool one_sided_reads;
	/* UNSAFE, for showing that the checks have teeth: a lease once held
	 * never runs out; it is renewed only after a request is refused. */
	bool no_leases;
};

struct mesh_io {
	uint32_t volume;        /* id given to mesh_client_volume_add() */
	enum mesh_io_op op;
	uint64_t offset;        /* bytes, a multiple of MESH_SECTOR_BYTES */
	uint32_t length;        /* bytes, a multiple of MESH_SECTOR_BYTES */
	void *buf;              /* the caller's until the I/O is reaped */
	uint64_t cookie;        /* returned with the completion */
};

struct mesh_io_done {
	uint64_t cookie;
	int status;             /* 0, or a negative errno (see submit) */
};

struct mesh_client_stats {
	uint64_t ios_done, ios_failed;
	uint64_t bytes_read, bytes_written;
	uint64_t subrequests_sent, retries, timeouts;
	uint64_t replies_stale;     /* late or duplicate replies ignored */
	uint64_t fenced;            /* requests refused for their epoch */
	uint64_t lease_requests, leases_acquired;
	uint64_t epoch_changes;     /* a lease came with a newer configuration */
	uint64_t reads_ahead;       /* reads sent to a replica ahead of the tail */
	uint64_t reads_to_tail;     /* of those, sent on to the tail (-EXDEV) */
	uint64_t incarnations;      /* new write numberings after failed writes */
	uint64_t reads_one_sided;   /* extents read from a tail with RMA */
	uint64_t one_sided_failed;  /* of those, refused (revoked key): sent two-sided */
};

struct mesh_client;

/**
 * Make a client acting through @env (which must outlive it). Returns 0 or
 * -EINVAL (a config value out of range, logged) or -ENOMEM.
 */
int mesh_client_create(const struct mesh_env *env, const struct mesh_client_config *cfg,
		       struct mesh_client **out);

/**
 * Free the client. I/Os still in flight are abandoned, never completed.
 * One-sided reads in flight land in the client's own buffers; those
 * buffers are not freed (the transport may still write them), so wait for
 * mesh_client_rma_inflight() to reach 0 first.
 */
void mesh_client_destroy(struct mesh_client *c);

/**
 * Make volume @id (< MESH_CLIENT_VOLUMES_MAX) known with layout @l, which
 * is copied. Returns 0, -EINVAL for a layout that fails mesh_layout_check
 * (logged with the reason), -EEXIST, or -ENOMEM.
 */
int mesh_client_volume_add(struct mesh_client *c, uint32_t id, const struct mesh_layout *l);

/**
 * Run group @cfg->group under the topology manager, starting from @cfg
 * (it names the voters to ask for leases; later leases bring newer
 * configurations). May come before or after the volumes that use it.
 * Returns 0, -EINVAL (@cfg fails mesh_group_check; logged), -EEXIST,
 * -ENOSPC past MESH_CLIENT_GROUPS_MAX, or -ENOMEM.
 */
int mesh_client_group_add(struct mesh_client *c, const struct mesh_group_config *cfg);

/**
 * Start @io. Returns 0 when it is under way (its completion will be
 * reaped), or at once:
 *   -ENOENT  unknown volume
 *   -EINVAL  zero length, unknown op, NULL buffer, or offset/length not
 *            whole sectors
 *   -ERANGE  the range reaches past the end of the volume
 *   -E2BIG   longer than MESH_CLIENT_IO_BYTES_MAX, or needs more
 *            sub-requests than the client has in all
 *   -EAGAIN  no free slot or sub-requests right now: reap, then retry
 * A completion's status is 0 or: -ETIMEDOUT (not done within io_timeout_ns:
 * a copy did not answer, or the group had no lease), -EIO (a reply was
 * malformed), or the target's own error (-ERANGE, -ENODEV, -EIO, ...).
 */
int mesh_client_submit(struct mesh_client *c, const struct mesh_io *io);

/** Move up to @max completions into @out; returns how many. */
unsigned mesh_client_reap(struct mesh_client *c, struct mesh_io_done *out, unsigned max);

/** I/Os submitted and not yet reaped. */
unsigned mesh_client_inflight(const struct mesh_client *c);

void mesh_client_stats(const struct mesh_client *c, struct mesh_client_stats *out);

/** One-sided reads out, including those given up on. */
unsigned mesh_client_rma_inflight(const struct mesh_client *c);

/* Events, delivered by the node. */
void mesh_client_on_msg(struct mesh_client *c, uint32_t src, const struct mesh_msg *m);
void mesh_client_on_timer(struct mesh_client *c, uint32_t timer_id);
/* A one-sided read finished; @cookie is what the client gave rma_read. */
void mesh_client_on_rma_done(struct mesh_client *c, uint64_t cookie, int status);

#endif

/*
 * libmesh/libmesh.h: the mesh client library. An application opens a
 * volume of the cluster a configuration file describes (runtime/conf.h)
 * and reads and writes it like a disk. The library is the client: it
 * splits I/O by the volume's layout, writes every copy along its group's
 * chain, reads from any copy that may answer, holds the leases and
 * follows the topology manager's epochs (core/client.h). Targets only
 * serve their drives.
 *
 * Asynchronous use: submit up to the queue depth, then poll for
 * completions. Synchronous helpers (pread, pwrite) do both. A volume
 * handle belongs to one thread at a time; open one per thread.
 *
 * Offsets and lengths are whole 512-byte sectors; one I/O is at most
 * MESH_VOLUME_IO_BYTES_MAX.
 */
#ifndef MESH_LIBMESH_H
#define MESH_LIBMESH_H

#include <stdint.h>

#include "core/client.h"
#include "core/env.h"

#define MESH_VOLUME_QUEUE_DEPTH_MAX 1024u
#define MESH_VOLUME_QUEUE_DEPTH_DEFAULT 32u
#define MESH_VOLUME_IO_BYTES_MAX MESH_CLIENT_IO_BYTES_MAX
/* How long poll keeps the CPU busy looking for completions before it
 * sleeps in the kernel: a wake-up costs tens of microseconds here. */
#define MESH_VOLUME_SPIN_NS_DEFAULT 20000u
#define MESH_VOLUME_SPIN_NS_MAX 10000000u
/* The environment variable that overrides the log level (error, warn,
 * info, debug), e.g. to see a client's retries under fio. */
#define MESH_VOLUME_LOG_ENV "MESH_LOG_LEVEL"

struct mesh_volume_options {
	const char *config;       /* the cluster configuration file */
	const char *volume;       /* a volume it defines */
	/* "tcp", "fabric", "fabric:shm", "verbs" ... (runtime/transport_choice.h);
	 * NULL: the cluster file's. It must be what the targets speak. */
	const char *transport;
	uint32_t client_id;       /* 0: a random id above MESH_CONF_CLIENT_ID_MIN */
	uint32_t queue_depth;     /* 0: MESH_VOLUME_QUEUE_DEPTH_DEFAULT */
	uint64_t io_timeout_ns;   /* 0: the file's io_timeout */
	uint32_t spin_ns;         /* 0: MESH_VOLUME_SPIN_NS_DEFAULT */
	/* Read every extent two-sided, even over a transport that can read
	 * the tails' memory one-sided (fabric, verbs), e.g. to compare. */
	bool two_sided_reads;
	enum mesh_log_level log_level; /* lines above it are dropped (0: errors only) */
};

struct mesh_volume;

/**
 * Open @o->volume. Returns 0, or a negative errno with the reason logged
 * to stderr: -ENOENT (no such volume; the file's volumes are named),
 * -EINVAL (a bad option or configuration file), -EPROTONOSUPPORT (an
 * unknown transport), -ENOMEM, or the transport's error.
 */
int mesh_volume_open(const struct mesh_volume_options *o, struct mesh_volume **out);

/** Wait for I/O under way (bounded by the I/O timeout), then close. */
void mesh_volume_close(struct mesh_volume *v);

/** The volume's size in bytes. */
uint64_t mesh_volume_bytes(const struct mesh_volume *v);

/**
 * Start an I/O. Returns 0, or at once -EAGAIN (the queue depth is
 * reached: poll, then submit again), -EINVAL, -ERANGE, -E2BIG as
 * mesh_client_submit. @buf stays the caller's once the completion with
 * @cookie is polled.
 */
int mesh_volume_submit(struct mesh_volume *v, enum mesh_io_op op, void *buf, uint32_t length,
		       uint64_t offset, uint64_t cookie);

/**
 * Collect at least @min (at most @max) completions into @out, waiting up
 * to @timeout_ns for the @min. Returns how many (possibly fewer than
 * @min after the timeout), or a negative errno when the node failed.
 */
int mesh_volume_poll(struct mesh_volume *v, struct mesh_io_done *out, unsigned min, unsigned max,
		     uint64_t timeout_ns);

/** I/Os submitted and not yet polled. */
unsigned mesh_volume_inflight(const struct mesh_volume *v);

/** Read @length bytes at @offset into @buf and wait. Returns 0 or a negative errno. */
int mesh_volume_pread(struct mesh_volume *v, void *buf, uint32_t length, uint64_t offset);

/** Write @length bytes from @buf at @offset and wait. Returns 0 or a negative errno. */
int mesh_volume_pwrite(struct mesh_volume *v, const void *buf, uint32_t length, uint64_t offset);

/** The client's counters (core/client.h). */
void mesh_volume_stats(const struct mesh_volume *v, struct mesh_client_stats *out);

#endif

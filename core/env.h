/*
 * core/env.h: the environment through which all core code acts.
 *
 * Core is sans-IO: it never reads a clock, sleeps, opens a socket, touches a
 * file or starts a thread. Everything it needs from the world goes through
 * one mesh_env, and everything the world has to tell it arrives as an event
 * (message received, timer fired, drive I/O done, RMA done; see core/node.h).
 * The real runtime, the in-process cluster and the SimGrid host each provide
 * their own ops table, and the same event order gives the same result.
 *
 * Allocation: core may allocate with malloc/calloc when an object is created
 * (capacity is reserved up front) but never per I/O.
 */
#ifndef MESH_CORE_ENV_H
#define MESH_CORE_ENV_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One piece of a gathered message. The bytes are the caller's. */
struct mesh_iov {
	const void *base;
	size_t len;
};

enum mesh_log_level {
	MESH_LOG_ERROR = 0,
	MESH_LOG_WARN = 1,
	MESH_LOG_INFO = 2,
	MESH_LOG_DEBUG = 3,
};

enum mesh_drive_op {
	MESH_DRIVE_READ = 1,
	MESH_DRIVE_WRITE = 2,
	MESH_DRIVE_FLUSH = 3,
};

/* One drive request. @buf is owned by the core until the completion event. */
struct mesh_drive_io {
	uint32_t drive;        /* drive index on this node */
	enum mesh_drive_op op;
	uint64_t offset;       /* byte offset on the drive */
	uint32_t length;       /* bytes; 0 for FLUSH */
	void *buf;
	uint64_t cookie;       /* handed back unchanged with the completion */
};

/* Timer ids are chosen by the core; the high byte names the owning role. */
#define MESH_TIMER_ROLE_SHIFT 24
#define MESH_TIMER_ID(role, n) (((uint32_t)(role) << MESH_TIMER_ROLE_SHIFT) | (uint32_t)(n))
#define MESH_TIMER_ROLE(id) ((uint32_t)(id) >> MESH_TIMER_ROLE_SHIFT)

struct mesh_env_ops {
	/** Monotonic time in nanoseconds. Never goes backwards. */
	uint64_t (*now_ns)(void *ctx);

	/**
	 * Arm timer @timer_id to fire once at @deadline_ns (a now_ns value).
	 * Arming an armed timer moves it. Fires by delivering on_timer to the
	 * node, never from inside this call. Returns 0 or -ENOSPC when the
	 * environment's timer table is full.
	 */
	int (*timer_arm)(void *ctx, uint32_t timer_id, uint64_t deadline_ns);

	/** Disarm @timer_id. Disarming an idle timer is a no-op. */
	void (*timer_cancel)(void *ctx, uint32_t timer_id);

	/**
	 * Send the message gathered in @iov to node @dst, two-sided. The
	 * environment is done with the bytes when this returns (it copied them
	 * or handed them to the kernel), so the core may reuse them at once.
	 * Delivery is not guaranteed: a lost message shows up as a missing
	 * reply. Returns 0, -EAGAIN when the path is full (the core retries
	 * later), -EHOSTUNREACH when @dst is unknown, or -EMSGSIZE.
	 */
	int (*send)(void *ctx, uint32_t dst, const struct mesh_iov *iov, unsigned iovcnt);

	/**
	 * One-sided read of @len bytes at @remote_offset within the region that
	 * node @dst exposed under @rkey, into @buf. Completes with on_rma_done
	 * carrying @cookie. May be NULL when the transport has no RMA: callers
	 * go through mesh_env_rma_read(), which returns -ENOTSUP.
	 */
	int (*rma_read)(void *ctx, uint32_t dst, uint64_t rkey, uint64_t remote_offset,
			void *buf, uint32_t len, uint64_t cookie);

	/** One-sided write, as rma_read. May be NULL. */
	int (*rma_write)(void *ctx, uint32_t dst, uint64_t rkey, uint64_t remote_offset,
			 const void *buf, uint32_t len, uint64_t cookie);

	/**
	 * Expose local drive @drive's bytes [@offset, @offset+@len) for remote
	 * one-sided access and return the key in @rkey. May be NULL.
	 */
	int (*rma_expose)(void *ctx, uint32_t drive, uint64_t offset, uint64_t len,
			  unsigned access, uint64_t *rkey);

	/** Revoke @rkey: later remote access through it fails. May be NULL. */
	int (*rma_revoke)(void *ctx, uint64_t rkey);

	/**
	 * Submit drive I/O. Completes with on_drive_done carrying io->cookie and
	 * the byte count or a negative errno. Returns 0, -EAGAIN when the drive
	 * queue is full, -ENODEV for an unknown drive.
	 */
	int (*drive_submit)(void *ctx, const struct mesh_drive_io *io);

	/**
	 * Store @len bytes under @key durably: once this returns 0 they
	 * survive a crash of the node, replacing what @key held. Small
	 * records (a voter's promises), written rarely. May be NULL: callers
	 * go through mesh_env_meta_put(), which returns -EOPNOTSUPP.
	 */
	int (*meta_put)(void *ctx, uint64_t key, const void *buf, uint32_t len);

	/**
	 * Copy the record under @key into @buf (@cap bytes). Returns its
	 * length, -ENOENT when there is none, or -ENOSPC when @cap is too
	 * small. May be NULL.
	 */
	int (*meta_get)(void *ctx, uint64_t key, void *buf, uint32_t cap);

	/** A uniformly random 64-bit number from the environment's seed. */
	uint64_t (*random_u64)(void *ctx);

	/** Log one line. Formatting is the environment's, so a simulator may skip it. */
	void (*vlog)(void *ctx, enum mesh_log_level level, const char *fmt, va_list ap);
};

struct mesh_env {
	const struct mesh_env_ops *ops;
	void *ctx;
	uint32_t self;  /* this node's id */
};

/* RMA access bits for rma_expose and grants. */
#define MESH_RMA_READ 1u
#define MESH_RMA_WRITE 2u

static inline uint64_t mesh_env_now_ns(const struct mesh_env *env)
{
	return env->ops->now_ns(env->ctx);
}

static inline int mesh_env_timer_arm(const struct mesh_env *env, uint32_t id, uint64_t deadline_ns)
{
	return env->ops->timer_arm(env->ctx, id, deadline_ns);
}

/**
 * Arm timer @id at now + @delay_ns unless *@armed says it already is, and
 * keep *@armed true while it is. The owner clears *@armed when the timer
 * fires. A failure to arm is logged and left for the next call to retry.
 */
void mesh_env_timer_arm_once(const struct mesh_env *env, uint32_t id, bool *armed,
			     uint64_t delay_ns);

static inline void mesh_env_timer_cancel(const struct mesh_env *env, uint32_t id)
{
	env->ops->timer_cancel(env->ctx, id);
}

static inline int mesh_env_send(const struct mesh_env *env, uint32_t dst,
				const struct mesh_iov *iov, unsigned iovcnt)
{
	return env->ops->send(env->ctx, dst, iov, iovcnt);
}

int mesh_env_rma_read(const struct mesh_env *env, uint32_t dst, uint64_t rkey,
		      uint64_t remote_offset, void *buf, uint32_t len, uint64_t cookie);
int mesh_env_rma_write(const struct mesh_env *env, uint32_t dst, uint64_t rkey,
		       uint64_t remote_offset, const void *buf, uint32_t len, uint64_t cookie);
int mesh_env_rma_expose(const struct mesh_env *env, uint32_t drive, uint64_t offset,
			uint64_t len, unsigned access, uint64_t *rkey);
int mesh_env_rma_revoke(const struct mesh_env *env, uint64_t rkey);
int mesh_env_meta_put(const struct mesh_env *env, uint64_t key, const void *buf, uint32_t len);
int mesh_env_meta_get(const struct mesh_env *env, uint64_t key, void *buf, uint32_t cap);

static inline int mesh_env_drive_submit(const struct mesh_env *env, const struct mesh_drive_io *io)
{
	return env->ops->drive_submit(env->ctx, io);
}

static inline uint64_t mesh_env_random(const struct mesh_env *env)
{
	return env->ops->random_u64(env->ctx);
}

/** "error", "warn", "info" or "debug"; "?" for anything else. */
const char *mesh_log_level_name(enum mesh_log_level level);

/** Parse a level name; returns 0 and sets *@level, or -EINVAL. */
int mesh_log_level_parse(const char *name, enum mesh_log_level *level);

void mesh_env_log(const struct mesh_env *env, enum mesh_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define mesh_log_error(env, ...) mesh_env_log((env), MESH_LOG_ERROR, __VA_ARGS__)
#define mesh_log_warn(env, ...) mesh_env_log((env), MESH_LOG_WARN, __VA_ARGS__)
#define mesh_log_info(env, ...) mesh_env_log((env), MESH_LOG_INFO, __VA_ARGS__)
#define mesh_log_debug(env, ...) mesh_env_log((env), MESH_LOG_DEBUG, __VA_ARGS__)

#endif

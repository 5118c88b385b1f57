/*
 * core/env.c: wrappers for the environment's optional slots, so callers get
 * -ENOTSUP instead of a NULL call when a transport lacks one-sided access
 * (-EOPNOTSUPP when an environment has no metadata store).
 */
#include "core/env.h"

#include <errno.h>
#include <string.h>

int mesh_env_rma_read(const struct mesh_env *env, uint32_t dst, uint64_t rkey,
		      uint64_t remote_offset, void *buf, uint32_t len, uint64_t cookie)
{
	if (!env->ops->rma_read)
		return -ENOTSUP;
	return env->ops->rma_read(env->ctx, dst, rkey, remote_offset, buf, len, cookie);
}

int mesh_env_rma_write(const struct mesh_env *env, uint32_t dst, uint64_t rkey,
		       uint64_t remote_offset, const void *buf, uint32_t len, uint64_t cookie)
{
	if (!env->ops->rma_write)
		return -ENOTSUP;
	return env->ops->rma_write(env->ctx, dst, rkey, remote_offset, buf, len, cookie);
}

int mesh_env_rma_expose(const struct mesh_env *env, uint32_t drive, uint64_t offset,
			uint64_t len, unsigned access, uint64_t *rkey)
{
	if (!env->ops->rma_expose)
		return -ENOTSUP;
	return env->ops->rma_expose(env->ctx, drive, offset, len, access, rkey);
}

int mesh_env_rma_revoke(const struct mesh_env *env, uint64_t rkey)
{
	if (!env->ops->rma_revoke)
		return -ENOTSUP;
	return env->ops->rma_revoke(env->ctx, rkey);
}

int mesh_env_meta_put(const struct mesh_env *env, uint64_t key, const void *buf, uint32_t len)
{
	if (!env->ops->meta_put)
		return -EOPNOTSUPP;
	return env->ops->meta_put(env->ctx, key, buf, len);
}

int mesh_env_meta_get(const struct mesh_env *env, uint64_t key, void *buf, uint32_t cap)
{
	if (!env->ops->meta_get)
		return -EOPNOTSUPP;
	return env->ops->meta_get(env->ctx, key, buf, cap);
}

void mesh_env_timer_arm_once(const struct mesh_env *env, uint32_t id, bool *armed,
			     uint64_t delay_ns)
{
	int rc;

	if (*armed)
		return;
	rc = mesh_env_timer_arm(env, id, mesh_env_now_ns(env) + delay_ns);
	if (rc) {
		mesh_log_error(env, "cannot arm timer %#x: %d", id, rc);
		return;
	}
	*armed = true;
}

void mesh_env_log(const struct mesh_env *env, enum mesh_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	env->ops->vlog(env->ctx, level, fmt, ap);
	va_end(ap);
}

static const char *const level_names[] = { "error", "warn", "info", "debug" };

const char *mesh_log_level_name(enum mesh_log_level level)
{
	return (unsigned)level < 4 ? level_names[level] : "?";
}

int mesh_log_level_parse(const char *name, enum mesh_log_level *level)
{
	for (unsigned i = 0; i < 4; i++) {
		if (!strcmp(name, level_names[i])) {
			*level = (enum mesh_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

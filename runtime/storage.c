/*
 * runtime/storage.c: a storage target's roles on a real node (see
 * storage.h).
 */
#define _GNU_SOURCE /* memfd_create */
#include "runtime/storage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/dirty.h"
#include "core/group.h"
#include "core/heartbeat.h"
#include "core/resync.h"
#include "core/target.h"
#include "core/toma.h"

struct mesh_storage {
	struct mesh_host *host;
	struct mesh_node *node;
	const struct mesh_conf *conf;
	uint32_t self;
	struct mesh_dirty *dirty;
	struct mesh_pool pool;          /* for spares: every drive of the file */
	uint64_t copies_logged;         /* resync copies already reported */
};

/* Heartbeat peers follow membership (mesh_toma_replica_peers). */
static void peers_follow(struct mesh_storage *s)
{
	uint32_t want[MESH_HEARTBEAT_PEERS_MAX];
	unsigned count;

	if (!s->node->heartbeat)
		return; /* configurations resumed at start: peers come once it exists */
	count = mesh_toma_replica_peers(s->node->toma, want, MESH_HEARTBEAT_PEERS_MAX);
	mesh_heartbeat_peers_set(s->node->heartbeat, want, count);
}

static void on_config(void *arg, const struct mesh_group_config *c)
{
	struct mesh_storage *s = arg;

	mesh_log_info(&s->node->env, "group %llu: epoch %llu", (unsigned long long)c->group,
		      (unsigned long long)c->epoch);
	if (s->node->resync) {
		struct mesh_resync_stats st;

		mesh_resync_on_config(s->node->resync, c);
		mesh_resync_stats(s->node->resync, &st);
		if (st.copies_done != s->copies_logged) {
			mesh_log_info(&s->node->env, "resync: %llu copies done from here (%llu of "
				      "whole segments), %llu bytes copied in all",
				      (unsigned long long)st.copies_done,
				      (unsigned long long)st.full_copies,
				      (unsigned long long)st.bytes_copied);
			s->copies_logged = st.copies_done;
		}
	}
	if (s->node->target)
		mesh_target_on_config(s->node->target, c);
	peers_follow(s);
}

static void on_peer_change(void *arg, uint32_t node, bool alive)
{
	struct mesh_storage *s = arg;

	mesh_log_info(&s->node->env, "peer %u %s", node, alive ? "heard again" : "suspected");
	mesh_toma_on_peer_change(s->node->toma, node, alive);
}

/* Spares come from the drives the file lists. Which targets are down is a
 * management service's knowledge (not built); a spare on a dead target
 * is replaced again by the next round. */
static int pick_spare(void *arg, const struct mesh_group_config *c, unsigned member,
		      struct mesh_group_member *spare)
{
	struct mesh_storage *s = arg;
	int rc = mesh_placement_spare(&s->pool, c, member, spare);

	if (rc == 0)
		mesh_log_info(&s->node->env, "group %llu: spare chosen on target %u drive %u",
			      (unsigned long long)c->group, spare->node, spare->drive);
	return rc;
}

/* A memory drive: an anonymous memory file the drive back end reopens. */
static int drive_open_memory(struct mesh_storage *s, const struct mesh_conf_drive *d,
			     uint32_t *index)
{
	char path[64];
	int fd = memfd_create("mesh-drive", MFD_CLOEXEC), rc;

	if (fd < 0) {
		rc = -errno;
		mesh_log_error(&s->node->env, "drive %u: memfd_create: %s", d->index, strerror(errno));
		return rc;
	}
	if (ftruncate(fd, (off_t)d->bytes)) {
		rc = -errno;
		mesh_log_error(&s->node->env, "drive %u: %llu bytes of memory: %s", d->index,
			       (unsigned long long)d->bytes, strerror(errno));
		close(fd);
		return rc;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rc = mesh_host_drive_add(s->host, path, d->bytes, index);
	close(fd);
	return rc;
}

static int drives_open(struct mesh_storage *s, struct mesh_target_config *tcfg)
{
	const struct mesh_conf *conf = s->conf;

	for (uint32_t i = 0; i < conf->drive_count; i++) {
		const struct mesh_conf_drive *d = &conf->drives[i];
		uint32_t index;
		int rc;

		if (d->target != s->self)
			continue;
		rc = d->kind == MESH_CONF_DRIVE_MEMORY
			     ? drive_open_memory(s, d, &index)
			     : mesh_host_drive_add(s->host, d->path, d->bytes, &index);
		if (rc)
			return rc;
		if (index != d->index || mesh_host_drive_bytes(s->host, index) < d->bytes) {
			mesh_log_error(&s->node->env, "drive %u (%s): %llu bytes, the file says %llu",
				       d->index, d->path,
				       (unsigned long long)mesh_host_drive_bytes(s->host, index),
				       (unsigned long long)d->bytes);
			return -ENOSPC;
		}
		tcfg->drive_bytes[tcfg->drive_count++] = d->bytes;
	}
	return 0;
}

/* A copy of the file's pool: choosing a spare takes space from it. */
static int pool_make(struct mesh_storage *s)
{
	const struct mesh_pool *from = &s->conf->pool;

	s->pool.drives = calloc(from->count + 1, sizeof(*s->pool.drives));
	if (!s->pool.drives)
		return -ENOMEM;
	memcpy(s->pool.drives, from->drives, from->count * sizeof(*from->drives));
	s->pool.count = from->count;
	return 0;
}

static int roles_start(struct mesh_storage *s, struct mesh_target_config *tcfg)
{
	const struct mesh_conf *conf = s->conf;
	const struct mesh_env *env = &s->node->env;
	struct mesh_toma_config toma = {
		.lease_ns = conf->lease_ns,
		.drift_ppm = conf->drift_ppm,
		.round_timeout_ns = conf->lease_ns + conf->io_timeout_ns,
		.on_config = on_config,
		.pick_spare = pick_spare,
		.arg = s,
	};
	struct mesh_resync_config rcfg = {
		.chunk_bytes = tcfg->io_bytes_max,
		.inflight = 8,
		.attempt_ns = conf->io_timeout_ns / 4,
		/* Marks outlive a write, a failure detection and a round. */
		.age_window_ns = 4 * (toma.round_timeout_ns + conf->heartbeat_timeout_ns),
	};
	struct mesh_heartbeat_config hcfg = {
		.interval_ns = conf->heartbeat_ns,
		.timeout_ns = conf->heartbeat_timeout_ns,
		.on_peer_change = on_peer_change,
		.arg = s,
	};
	int rc = mesh_toma_create(env, &toma, &s->node->toma);

	if (rc == 0)
		rc = mesh_dirty_create(env, &s->dirty);
	if (rc == 0)
		rc = mesh_resync_create(env, &rcfg, s->node->toma, s->dirty, &s->node->resync);
	for (uint32_t g = 0; rc == 0 && g < conf->group_count; g++) {
		if (mesh_group_member_of(&conf->groups[g], s->self) >= 0)
			rc = mesh_toma_group_add(s->node->toma, &conf->groups[g]);
	}
	if (rc == 0)
		rc = mesh_heartbeat_create(env, &hcfg, &s->node->heartbeat);
	if (rc == 0)
		rc = mesh_toma_resume_joined(s->node->toma);
	if (rc == 0) {
		peers_follow(s);
		rc = mesh_heartbeat_start(s->node->heartbeat);
	}
	tcfg->toma = s->node->toma;
	tcfg->dirty = s->dirty;
	if (rc == 0)
		rc = mesh_target_create(env, tcfg, &s->node->target);
	return rc;
}

int mesh_storage_start(struct mesh_host *h, const struct mesh_conf *conf, uint32_t self,
		       struct mesh_storage **out)
{
	struct mesh_storage *s = calloc(1, sizeof(*s));
	struct mesh_target_config tcfg = {
		.inflight = MESH_STORAGE_INFLIGHT,
		.io_bytes_max = MESH_PROTO_DATA_MAX,
	};
	int rc;

	if (!s)
		return -ENOMEM;
	*s = (struct mesh_storage){ .host = h, .node = mesh_host_node(h), .conf = conf,
				    .self = self };
	if (self >= conf->target_count) {
		mesh_log_error(&s->node->env, "node %u is not a target of the file", self);
		free(s);
		return -EINVAL;
	}
	rc = drives_open(s, &tcfg);
	if (rc == 0 && tcfg.drive_count == 0) {
		mesh_log_error(&s->node->env, "target %u has no drive in the file", self);
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = pool_make(s);
	if (rc == 0)
		rc = roles_start(s, &tcfg);
	if (rc) {
		mesh_log_error(&s->node->env, "target %u: roles not started: %s", self,
			       strerror(-rc));
		mesh_storage_stop(s);
		return rc;
	}
	*out = s;
	return 0;
}

unsigned mesh_storage_inflight(const struct mesh_storage *s)
{
	return s->node->target ? mesh_target_inflight(s->node->target) : 0;
}

void mesh_storage_stop(struct mesh_storage *s)
{
	struct mesh_node *n;

	if (!s)
		return;
	n = s->node;
	mesh_target_destroy(n->target);
	mesh_heartbeat_destroy(n->heartbeat);
	mesh_resync_destroy(n->resync);
	mesh_dirty_destroy(s->dirty);
	mesh_toma_destroy(n->toma);
	n->target = NULL;
	n->heartbeat = NULL;
	n->resync = NULL;
	n->toma = NULL;
	free(s->pool.drives);
	free(s);
}

/*
 * runtime/conf.h: the cluster configuration file that meshd and libmesh
 * read, and the plan both derive from it. Until the management service
 * exists, this file is the cluster map: targets, their drives and the
 * volumes. Every daemon and every client reads the same file and places
 * the volumes with the same deterministic planner (core/placement.h, then
 * mesh_group_initial for each protection group), so they agree on every
 * layout without talking. Changing the drives or volumes of a running
 * cluster's file moves data: don't (docs/meshd.md).
 *
 * Format: one statement per line, words separated by spaces, '#' starts
 * a comment. Values take units (core/units.h): sizes "256MiB", durations
 * "2s", "100ms".
 *
 *   cluster lease=2s io_timeout=10s heartbeat=100ms heartbeat_timeout=1s transport=tcp
 *   target 0 addr=127.0.0.1:7400 rack=0 meta=/var/lib/mesh/t0
 *   drive 0 path=/var/lib/mesh/t0.img size=1GiB
 *   drive 1 memory size=256MiB
 *   volume vol0 layout=stripe-mirror size=512MiB width=2 copies=2 stripe_unit=64KiB
 *
 * Targets are numbered 0, 1, 2, ... in the order they are listed (node
 * ids; clients take ids from MESH_CONF_CLIENT_ID_MIN up). A drive belongs
 * to the target named by its first word; its index on that target is its
 * place among that target's drives. Layouts: concat, stripe, mirror,
 * stripe-mirror. Every error names the file, the line and what was
 * expected.
 */
#ifndef MESH_RUNTIME_CONF_H
#define MESH_RUNTIME_CONF_H

#include <stdint.h>

#include "core/layout.h"
#include "core/placement.h"
#include "core/proto.h"
#include "runtime/transport_choice.h"

#define MESH_CONF_TARGETS_MAX 1024u
#define MESH_CONF_DRIVES_MAX 4096u
#define MESH_CONF_VOLUMES_MAX 64u
#define MESH_CONF_LINE_MAX 1024u
#define MESH_CONF_PATH_MAX 256u
#define MESH_CONF_ADDR_MAX 64u
#define MESH_CONF_NAME_MAX 64u
#define MESH_CONF_BYTES_MAX (1u << 20) /* the file itself */
/* Node ids of clients: far above any target's. */
#define MESH_CONF_CLIENT_ID_MIN 0x40000000u

enum mesh_conf_drive_kind {
	MESH_CONF_DRIVE_FILE = 1,   /* a file or block device, through io_uring */
	MESH_CONF_DRIVE_MEMORY = 2, /* anonymous memory (memfd); gone at exit */
};

struct mesh_conf_drive {
	uint32_t target;
	uint32_t index;             /* on its target */
	enum mesh_conf_drive_kind kind;
	char path[MESH_CONF_PATH_MAX]; /* FILE only */
	uint64_t bytes;
};

struct mesh_conf_target {
	char addr[MESH_CONF_ADDR_MAX]; /* "host:port" */
	uint32_t rack;
	/* Where the target keeps its epochs and promises (runtime/metastore.h):
	 * required, since a target that forgot them could vote twice. */
	char meta_dir[MESH_CONF_PATH_MAX];
	uint32_t drive_count;
};

struct mesh_conf_volume {
	char name[MESH_CONF_NAME_MAX];
	struct mesh_volume_spec spec;
	struct mesh_layout layout;  /* the plan */
};

struct mesh_conf {
	uint64_t lease_ns, io_timeout_ns, heartbeat_ns, heartbeat_timeout_ns;
	uint32_t drift_ppm;
	/* What every node speaks (runtime/transport_choice.h); default tcp. */
	char transport[MESH_TRANSPORT_NAME_MAX + 1];
	uint32_t target_count, drive_count, volume_count;
	struct mesh_conf_target targets[MESH_CONF_TARGETS_MAX];
	struct mesh_conf_drive drives[MESH_CONF_DRIVES_MAX];
	struct mesh_conf_volume volumes[MESH_CONF_VOLUMES_MAX];
	/* The plan: every volume's segments are protection groups, ids from
	 * 1, groups[id - 1] their starting configurations. */
	uint32_t group_count;
	struct mesh_group_config *groups;
	/* Every drive, with the space the volumes took: where spares come
	 * from (mesh_placement_spare). */
	struct mesh_pool pool;
};

/**
 * Parse @text (named @name in errors) and plan its volumes into a new
 * *@out. Returns 0, or -EINVAL with a one-line reason in @err
 * ("name:line: ..."), -ENOSPC when the volumes do not fit the drives, or
 * -ENOMEM.
 */
int mesh_conf_parse(const char *text, const char *name, struct mesh_conf **out, char *err,
		    size_t err_len);

/** As mesh_conf_parse, reading the file at @path. */
int mesh_conf_load(const char *path, struct mesh_conf **out, char *err, size_t err_len);

void mesh_conf_free(struct mesh_conf *c);

/** The volume named @name, or -ENOENT. */
int mesh_conf_volume_find(const struct mesh_conf *c, const char *name);

#endif

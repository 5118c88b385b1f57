/*
 * runtime/metastore.h: the durable metadata store behind mesh_env's
 * meta_put / meta_get on a real node: one file per key in a directory.
 * A put writes a temporary file, fsyncs it, renames it over the key's
 * file and fsyncs the directory, so after a crash a key holds either its
 * old record or its new one, whole. Records are small and rare (a voter's
 * promises, dirty maps), so a file each is cheap enough and easy to read
 * back by hand.
 */
#ifndef MESH_RUNTIME_METASTORE_H
#define MESH_RUNTIME_METASTORE_H

#include <stdint.h>

#define MESH_METASTORE_RECORD_MAX (1u << 20)

struct mesh_metastore;

/** Open (creating it if missing) the store in directory @dir. Returns 0 or -errno. */
int mesh_metastore_open(const char *dir, struct mesh_metastore **out);

void mesh_metastore_close(struct mesh_metastore *m);

/** Store @len bytes under @key durably. Returns 0, -EMSGSIZE or -errno. */
int mesh_metastore_put(struct mesh_metastore *m, uint64_t key, const void *buf, uint32_t len);

/** Read @key into @buf: its length, -ENOENT, -ENOSPC (@cap too small) or -errno. */
int mesh_metastore_get(struct mesh_metastore *m, uint64_t key, void *buf, uint32_t cap);

#endif

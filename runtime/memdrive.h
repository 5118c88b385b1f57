/*
 * runtime/memdrive.h: a drive held in memory. Backs the in-process cluster
 * and tests; also the region a transport may expose for one-sided access.
 * A drive can be failed on purpose: every I/O then returns -EIO.
 */
#ifndef MESH_RUNTIME_MEMDRIVE_H
#define MESH_RUNTIME_MEMDRIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/env.h"

struct mesh_memdrive {
	uint8_t *bytes;
	uint64_t size;
	bool failed;
};

/** Allocate a zeroed drive of @size bytes. Returns 0 or -ENOMEM/-EINVAL. */
int mesh_memdrive_init(struct mesh_memdrive *d, uint64_t size);

void mesh_memdrive_fini(struct mesh_memdrive *d);

/**
 * Carry out @io now. Returns the bytes moved (0 for FLUSH), -EIO if the
 * drive is failed, -ERANGE past its end, -EINVAL for an unknown op.
 */
int mesh_memdrive_io(struct mesh_memdrive *d, const struct mesh_drive_io *io);

#endif

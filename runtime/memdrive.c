/*
 * runtime/memdrive.c: memory-backed drive. calloc'd, so untouched parts of a
 * large drive cost no memory until written.
 */
#include "runtime/memdrive.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int mesh_memdrive_init(struct mesh_memdrive *d, uint64_t size)
{
	if (size == 0 || size > SIZE_MAX)
		return -EINVAL;
	d->bytes = calloc(1, (size_t)size);
	if (!d->bytes)
		return -ENOMEM;
	d->size = size;
	d->failed = false;
	return 0;
}

void mesh_memdrive_fini(struct mesh_memdrive *d)
{
	free(d->bytes);
	d->bytes = NULL;
	d->size = 0;
}

int mesh_memdrive_io(struct mesh_memdrive *d, const struct mesh_drive_io *io)
{
	if (d->failed)
		return -EIO;
	if (io->op == MESH_DRIVE_FLUSH)
		return 0;
	if (io->length > INT32_MAX)
		return -EINVAL; /* the result must fit the int it is reported in */
	if (io->offset > d->size || io->length > d->size - io->offset)
		return -ERANGE;
	switch (io->op) {
	case MESH_DRIVE_READ:
		memcpy(io->buf, d->bytes + io->offset, io->length);
		return (int)io->length;
	case MESH_DRIVE_WRITE:
		memcpy(d->bytes + io->offset, io->buf, io->length);
		return (int)io->length;
	default:
		return -EINVAL;
	}
}

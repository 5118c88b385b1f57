/*
 * runtime/uring_drive.c: see uring_drive.h. Each request's cookie and
 * expected length ride in a slot whose index is the sqe's user data, so
 * a short read or write is told from a whole one. Submissions are handed
 * to the kernel in batches, one io_uring_enter per flush.
 */
#define _GNU_SOURCE
#include "runtime/uring_drive.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <sys/stat.h>
#include <unistd.h>

struct slot {
	uint64_t cookie;
	uint32_t length;
};

struct mesh_uring_drive {
	struct io_uring ring;
	bool ring_ready;
	int fd, efd;
	bool direct;
	bool in_memory;                 /* tmpfs or memfd: the page cache is the medium */
	uint64_t bytes;
	void *map;                      /* for one-sided reads, made at first use */
	unsigned queued;                /* prepared, not yet handed to the kernel */
	struct slot *slots;
	uint32_t *free_slots;
	unsigned free_count;
};

static int size_of(int fd, uint64_t *bytes)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, bytes) ? -errno : 0;
	*bytes = (uint64_t)st.st_size;
	return 0;
}

static int fail(struct mesh_uring_drive *d, const char **why, const char *what, int rc)
{
	if (why)
		*why = what;
	mesh_uring_drive_close(d);
	return rc;
}

int mesh_uring_drive_open(const char *path, uint64_t bytes, unsigned queue_depth,
			  struct mesh_uring_drive **out, const char **why)
{
	struct mesh_uring_drive *d;
	struct statfs fs;
	uint64_t have = 0;
	int rc;

	if (queue_depth == 0 || queue_depth > MESH_URING_QUEUE_DEPTH_MAX)
		return fail(NULL, why, "queue depth outside 1..4096", -EINVAL);
	d = calloc(1, sizeof(*d));
	if (!d)
		return fail(NULL, why, "out of memory", -ENOMEM);
	d->fd = d->efd = -1;
	d->fd = open(path, O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0600);
	d->direct = d->fd >= 0;
	if (d->fd < 0 && errno == EINVAL) /* tmpfs and others: no O_DIRECT */
		d->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->fd < 0)
		return fail(d, why, "cannot open the drive's file", -errno);
	d->in_memory = fstatfs(d->fd, &fs) == 0 && fs.f_type == TMPFS_MAGIC;
	if ((rc = size_of(d->fd, &have)))
		return fail(d, why, "cannot tell the drive's size", rc);
	if (bytes > have && ftruncate(d->fd, (off_t)bytes))
		return fail(d, why, "cannot extend the drive's file to its size", -errno);
	d->bytes = bytes ? bytes : have;
	if (d->bytes == 0)
		return fail(d, why, "the drive is empty and no size was given", -EINVAL);
	d->slots = calloc(queue_depth, sizeof(*d->slots));
	d->free_slots = calloc(queue_depth, sizeof(*d->free_slots));
	if (!d->slots || !d->free_slots)
		return fail(d, why, "out of memory", -ENOMEM);
	for (unsigned i = 0; i < queue_depth; i++)
		d->free_slots[i] = queue_depth - 1 - i;
	d->free_count = queue_depth;
	if ((rc = io_uring_queue_init(queue_depth, &d->ring, 0)))
		return fail(d, why, "io_uring_queue_init failed", rc);
	d->ring_ready = true;
	d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->efd < 0)
		return fail(d, why, "eventfd failed", -errno);
	if ((rc = io_uring_register_eventfd(&d->ring, d->efd)))
		return fail(d, why, "io_uring_register_eventfd failed", rc);
	*out = d;
	return 0;
}

void mesh_uring_drive_close(struct mesh_uring_drive *d)
{
	if (!d)
		return;
	if (d->ring_ready)
		io_uring_queue_exit(&d->ring);
	if (d->map)
		munmap(d->map, d->bytes);
	if (d->efd >= 0)
		close(d->efd);
	if (d->fd >= 0) {
		/* What was acknowledged through the page cache reaches the
		 * device before the drive is let go (no-op with O_DIRECT on
		 * most devices, and for memory). */
		(void)fdatasync(d->fd);
		close(d->fd);
	}
	free(d->slots);
	free(d->free_slots);
	free(d);
}

uint64_t mesh_uring_drive_bytes(const struct mesh_uring_drive *d)
{
	return d->bytes;
}

bool mesh_uring_drive_direct(const struct mesh_uring_drive *d)
{
	return d->direct;
}

int mesh_uring_drive_eventfd(const struct mesh_uring_drive *d)
{
	return d->efd;
}

int mesh_uring_drive_submit(struct mesh_uring_drive *d, const struct mesh_drive_io *io)
{
	struct io_uring_sqe *sqe;
	uint32_t index;

	if (io->op != MESH_DRIVE_FLUSH &&
	    (io->offset > d->bytes || io->length > d->bytes - io->offset))
		return -ERANGE;
	if (d->direct && io->op != MESH_DRIVE_FLUSH &&
	    (((uintptr_t)io->buf | io->offset | io->length) % MESH_URING_DIRECT_ALIGN))
		return -EINVAL;
	if (d->free_count == 0 || !(sqe = io_uring_get_sqe(&d->ring)))
		return -EAGAIN;
	index = d->free_slots[--d->free_count];
	d->slots[index] = (struct slot){ .cookie = io->cookie, .length = io->length };
	switch (io->op) {
	case MESH_DRIVE_READ:
		io_uring_prep_read(sqe, d->fd, io->buf, io->length, io->offset);
		break;
	case MESH_DRIVE_WRITE:
		io_uring_prep_write(sqe, d->fd, io->buf, io->length, io->offset);
		break;
	default:
		io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC);
		break;
	}
	io_uring_sqe_set_data64(sqe, index);
	d->queued++;
	return 0;
}

int mesh_uring_drive_flush(struct mesh_uring_drive *d)
{
	int rc;

	if (!d->queued)
		return 0;
	rc = io_uring_submit(&d->ring);
	if (rc < 0)
		return rc; /* still queued: the next flush tries again */
	d->queued -= (unsigned)rc < d->queued ? (unsigned)rc : d->queued;
	return 0;
}

unsigned mesh_uring_drive_reap(struct mesh_uring_drive *d,
			       void (*done)(void *arg, uint64_t cookie, int result), void *arg)
{
	struct io_uring_cqe *cqe;
	unsigned head, count = 0;
	uint64_t events;

	while (read(d->efd, &events, sizeof(events)) > 0)
		;
	/* Collect first, then call: a callback may submit more. */
	struct { uint64_t cookie; int result; } batch[64];

	do {
		unsigned n = 0;

		io_uring_for_each_cqe(&d->ring, head, cqe) {
			uint32_t index = (uint32_t)io_uring_cqe_get_data64(cqe);
			int res = cqe->res;

			if (res >= 0 && d->slots[index].length && (uint32_t)res != d->slots[index].length)
				res = -EIO; /* short transfer */
			batch[n].cookie = d->slots[index].cookie;
			batch[n].result = res;
			d->free_slots[d->free_count++] = index;
			if (++n == 64)
				break;
		}
		io_uring_cq_advance(&d->ring, n);
		for (unsigned i = 0; i < n; i++)
			done(arg, batch[i].cookie, batch[i].result);
		count += n;
		if (n < 64)
			break;
	} while (true);
	return count;
}

int mesh_uring_drive_map(struct mesh_uring_drive *d, const uint8_t **base)
{
	void *m;

	if (d->direct && !d->in_memory)
		return -ENOTSUP;
	if (!d->map) {
		m = mmap(NULL, d->bytes, PROT_READ, MAP_SHARED, d->fd, 0);
		if (m == MAP_FAILED)
			return -errno;
		d->map = m;
	}
	*base = d->map;
	return 0;
}

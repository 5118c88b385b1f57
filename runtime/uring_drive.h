/*
 * runtime/uring_drive.h: a drive backed by a file or block device, through
 * io_uring (liburing). Opened with O_DIRECT where the file system allows
 * it (not on tmpfs: then the page cache is used, and a FLUSH is an
 * fsync). At most @queue_depth requests are in flight; past that submit
 * says -EAGAIN, as mesh_env's drive_submit does. Completions are signalled
 * on an eventfd, which the event loop watches, and collected with reap.
 * No allocation per I/O.
 */
#ifndef MESH_RUNTIME_URING_DRIVE_H
#define MESH_RUNTIME_URING_DRIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/env.h"

#define MESH_URING_QUEUE_DEPTH_MAX 4096u
/* O_DIRECT needs buffers, offsets and lengths aligned to this (the
 * logical block size of common drives; core I/O is whole 512-byte
 * sectors). */
#define MESH_URING_DIRECT_ALIGN 512u

struct mesh_uring_drive;

/**
 * Open @path as a drive. @bytes is its size: 0 takes the file's or
 * device's size; a regular file shorter than @bytes is extended (sparse).
 * Returns 0, -EINVAL (queue depth outside 1..MAX, size 0), or -errno from
 * open or io_uring (the reason is in *@why when not NULL).
 */
int mesh_uring_drive_open(const char *path, uint64_t bytes, unsigned queue_depth,
			  struct mesh_uring_drive **out, const char **why);

/** Write back what the page cache holds (fdatasync), then close. NULL is a no-op. */
void mesh_uring_drive_close(struct mesh_uring_drive *d);

uint64_t mesh_uring_drive_bytes(const struct mesh_uring_drive *d);

/** Whether I/O bypasses the page cache (O_DIRECT). */
bool mesh_uring_drive_direct(const struct mesh_uring_drive *d);

/** The eventfd that becomes readable when completions wait to be reaped. */
int mesh_uring_drive_eventfd(const struct mesh_uring_drive *d);

/**
 * Queue @io (its drive index is the caller's business); it goes to the
 * kernel at the next mesh_uring_drive_flush(). Returns 0, -EAGAIN (queue
 * full), -ERANGE (past the end) or -EINVAL (not aligned for O_DIRECT).
 * The buffer stays the caller's until the completion.
 */
int mesh_uring_drive_submit(struct mesh_uring_drive *d, const struct mesh_drive_io *io);

/**
 * Hand every queued request to the kernel in one call: an event loop
 * flushes before it waits. Returns 0 or io_uring's errno (the requests
 * stay queued for the next flush).
 */
int mesh_uring_drive_flush(struct mesh_uring_drive *d);

/**
 * Hand every completion waiting to @done(@arg, cookie, result): the byte
 * count, 0 for a flush, or a negative errno (a short transfer is -EIO).
 * Returns how many.
 */
unsigned mesh_uring_drive_reap(struct mesh_uring_drive *d,
			       void (*done)(void *arg, uint64_t cookie, int result), void *arg);

/**
 * The drive's bytes mapped read-only, for one-sided reads by remote
 * clients (made at the first call, unmapped at close). Only a drive whose
 * medium is the page cache (memory drives, tmpfs files; with or without
 * O_DIRECT, which tmpfs takes since Linux 6.6), or that is opened without
 * O_DIRECT, can be mapped: there the map and io_uring's writes share the
 * same pages, so a one-sided read sees every write the drive completed.
 * O_DIRECT on a real device bypasses those pages: -ENOTSUP. Otherwise 0,
 * or mmap's errno.
 */
int mesh_uring_drive_map(struct mesh_uring_drive *d, const uint8_t **base);

#endif

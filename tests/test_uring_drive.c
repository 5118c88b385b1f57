/*
 * tests/test_uring_drive.c: the io_uring drive (runtime/uring_drive.h) on
 * real files in /dev/shm (tmpfs) and /var/tmp, with O_DIRECT where the
 * file system takes it (each run prints which). Data written comes
 * back, on the drive and in the file; completions carry the cookie and
 * signal the eventfd, and nothing reaches the kernel before a flush;
 * the queue depth, the end of the drive and O_DIRECT
 * alignment are enforced with their errno; a missing directory is a clear
 * error.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/uring_drive.h"

#define DRIVE_BYTES (4u << 20)
#define BLOCK 4096u
#define DEPTH 8u

struct done {
	uint64_t cookies[64];
	int results[64];
	unsigned count;
};

static void on_done(void *arg, uint64_t cookie, int result)
{
	struct done *d = arg;

	assert_true(d->count < 64);
	d->cookies[d->count] = cookie;
	d->results[d->count++] = result;
}

/* Hand the queued requests to the kernel, then reap until @count
 * completions arrived, waiting on the eventfd. */
static void reap_until(struct mesh_uring_drive *drive, struct done *d, unsigned count)
{
	assert_int_equal(mesh_uring_drive_flush(drive), 0);
	for (int spins = 0; d->count < count && spins < 1000; spins++) {
		struct pollfd p = { .fd = mesh_uring_drive_eventfd(drive), .events = POLLIN };

		poll(&p, 1, 10);
		mesh_uring_drive_reap(drive, on_done, d);
	}
	assert_int_equal(d->count, count);
}

static void *block_buf(uint8_t fill)
{
	void *b = aligned_alloc(BLOCK, BLOCK);

	assert_non_null(b);
	memset(b, fill, BLOCK);
	return b;
}

static void round_trip(const char *dir)
{
	char path[128];
	struct mesh_uring_drive *drive;
	struct done d = { 0 };
	uint8_t *w = block_buf(0xA5), *r = block_buf(0), file[BLOCK];
	const char *why = NULL;
	int fd;

	snprintf(path, sizeof(path), "%s/mesh-uring-test-%d", dir, getpid());
	assert_int_equal(mesh_uring_drive_open(path, DRIVE_BYTES, DEPTH, &drive, &why), 0);
	assert_int_equal(mesh_uring_drive_bytes(drive), DRIVE_BYTES);
	printf("# %s: O_DIRECT %s\n", dir, mesh_uring_drive_direct(drive) ? "yes" : "no");
	struct mesh_drive_io io = {
		.op = MESH_DRIVE_WRITE, .offset = 3 * BLOCK, .length = BLOCK, .buf = w, .cookie = 11,
	};

	assert_int_equal(mesh_uring_drive_submit(drive, &io), 0);
	reap_until(drive, &d, 1);
	assert_int_equal(d.cookies[0], 11);
	assert_int_equal(d.results[0], BLOCK);
	io = (struct mesh_drive_io){ .op = MESH_DRIVE_FLUSH, .cookie = 12 };
	assert_int_equal(mesh_uring_drive_submit(drive, &io), 0);
	reap_until(drive, &d, 2);
	assert_int_equal(d.cookies[1], 12);
	assert_int_equal(d.results[1], 0);
	io = (struct mesh_drive_io){
		.op = MESH_DRIVE_READ, .offset = 3 * BLOCK, .length = BLOCK, .buf = r, .cookie = 13,
	};
	assert_int_equal(mesh_uring_drive_submit(drive, &io), 0);
	reap_until(drive, &d, 3);
	assert_int_equal(d.results[2], BLOCK);
	assert_memory_equal(r, w, BLOCK);
	/* The bytes are in the file, where the drive said. */
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, file, BLOCK, 3 * BLOCK), BLOCK);
	assert_memory_equal(file, w, BLOCK);
	assert_int_equal(pread(fd, file, BLOCK, 2 * BLOCK), BLOCK);
	assert_int_equal(file[0], 0); /* untouched block: sparse zeros */
	close(fd);
	mesh_uring_drive_close(drive);
	/* Reopened without a size, the drive keeps the file's. */
	assert_int_equal(mesh_uring_drive_open(path, 0, DEPTH, &drive, &why), 0);
	assert_int_equal(mesh_uring_drive_bytes(drive), DRIVE_BYTES);
	mesh_uring_drive_close(drive);
	unlink(path);
	free(w);
	free(r);
}

static void data_round_trips_on_tmpfs(void **state)
{
	(void)state;
	round_trip("/dev/shm");
}

static void data_round_trips_on_disk(void **state)
{
	(void)state;
	round_trip("/var/tmp");
}

static void limits_get_their_errno(void **state)
{
	char path[128];
	struct mesh_uring_drive *drive;
	struct done d = { 0 };
	uint8_t *bufs[DEPTH + 1];
	const char *why = NULL;

	(void)state;
	snprintf(path, sizeof(path), "/dev/shm/mesh-uring-limits-%d", getpid());
	assert_int_equal(mesh_uring_drive_open(path, 64 * BLOCK, 0, &drive, &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(mesh_uring_drive_open(path, 64 * BLOCK, DEPTH, &drive, &why), 0);
	struct mesh_drive_io io = { .op = MESH_DRIVE_READ, .length = BLOCK };

	for (unsigned i = 0; i <= DEPTH; i++)
		bufs[i] = block_buf(0);
	io.buf = bufs[0];
	io.offset = 64 * BLOCK; /* the end */
	assert_int_equal(mesh_uring_drive_submit(drive, &io), -ERANGE);
	io.offset = 63 * BLOCK + 512; /* runs past the end */
	assert_int_equal(mesh_uring_drive_submit(drive, &io), -ERANGE);
	/* Fill the queue without reaping: the next one waits its turn. */
	for (unsigned i = 0; i < DEPTH; i++) {
		io = (struct mesh_drive_io){ .op = MESH_DRIVE_READ, .offset = i * BLOCK,
					     .length = BLOCK, .buf = bufs[i], .cookie = i };
		assert_int_equal(mesh_uring_drive_submit(drive, &io), 0);
	}
	io.buf = bufs[DEPTH];
	assert_int_equal(mesh_uring_drive_submit(drive, &io), -EAGAIN);
	/* Queued, not yet submitted: nothing completes before the flush. */
	struct pollfd p = { .fd = mesh_uring_drive_eventfd(drive), .events = POLLIN };

	assert_int_equal(poll(&p, 1, 20), 0);
	assert_int_equal(mesh_uring_drive_reap(drive, on_done, &d), 0);
	reap_until(drive, &d, DEPTH);
	for (unsigned i = 0; i < DEPTH; i++)
		assert_int_equal(d.results[i], BLOCK);
	assert_int_equal(mesh_uring_drive_submit(drive, &io), 0); /* room again */
	reap_until(drive, &d, DEPTH + 1);
	mesh_uring_drive_close(drive);
	unlink(path);
	for (unsigned i = 0; i <= DEPTH; i++)
		free(bufs[i]);
}

static void direct_io_must_be_aligned(void **state)
{
	char path[128];
	struct mesh_uring_drive *drive;
	const char *why = NULL;
	uint8_t *buf = block_buf(0);

	(void)state;
	snprintf(path, sizeof(path), "/var/tmp/mesh-uring-align-%d", getpid());
	assert_int_equal(mesh_uring_drive_open(path, 64 * BLOCK, DEPTH, &drive, &why), 0);
	if (!mesh_uring_drive_direct(drive)) {
		mesh_uring_drive_close(drive);
		unlink(path);
		free(buf);
		skip(); /* this file system takes no O_DIRECT */
	}
	struct mesh_drive_io io = { .op = MESH_DRIVE_READ, .offset = 256, .length = BLOCK,
				    .buf = buf };

	assert_int_equal(mesh_uring_drive_submit(drive, &io), -EINVAL);
	io.offset = 0;
	io.buf = buf + 256;
	assert_int_equal(mesh_uring_drive_submit(drive, &io), -EINVAL);
	io.buf = buf;
	io.length = BLOCK - 256;
	assert_int_equal(mesh_uring_drive_submit(drive, &io), -EINVAL);
	mesh_uring_drive_close(drive);
	unlink(path);
	free(buf);
}

static void a_missing_directory_is_a_clear_error(void **state)
{
	struct mesh_uring_drive *drive;
	const char *why = NULL;

	(void)state;
	assert_int_equal(mesh_uring_drive_open("/nonexistent-dir/drive", BLOCK, DEPTH, &drive, &why),
			 -ENOENT);
	assert_non_null(why);
	assert_non_null(strstr(why, "open"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(data_round_trips_on_tmpfs),
		cmocka_unit_test(data_round_trips_on_disk),
		cmocka_unit_test(limits_get_their_errno),
		cmocka_unit_test(direct_io_must_be_aligned),
		cmocka_unit_test(a_missing_directory_is_a_clear_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

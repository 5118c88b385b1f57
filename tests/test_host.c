/*
 * tests/test_host.c: real nodes (runtime/host.h) in one process, over tcp
 * on loopback with io_uring drives in /dev/shm: two targets and a client
 * run the real core. A 2-copy mirror written through the client is on
 * both drive files byte for byte and reads back; a target that goes away
 * makes the mirror's writes fail (no topology manager here: static
 * configuration) while the client keeps running; a connection that sends
 * garbage before its hello is dropped and the target keeps serving.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/client.h"
#include "core/layout.h"
#include "core/target.h"
#include "runtime/evloop.h"
#include "runtime/host.h"

#define T1 1
#define T2 2
#define CL 10
#define DRIVE_BYTES (8u << 20)
#define SEGMENT_BYTES (4u << 20)
#define BLOCK 4096u
#define MS 1000000ull

struct world {
	struct mesh_host *t1, *t2, *cl;
	char path1[64], path2[64];
	char addr1[32], addr2[32];
};

static struct mesh_host *host_new(uint32_t id, bool listen)
{
	struct mesh_host_config cfg = {
		.self = id, .listen_addr = listen ? "127.0.0.1:0" : NULL,
		.log_level = getenv("MESH_TEST_LOG") ? MESH_LOG_DEBUG : MESH_LOG_ERROR,
	};
	struct mesh_host *h;

	assert_int_equal(mesh_host_create(&cfg, &h), 0);
	return h;
}

static void target_start(struct mesh_host *h, const char *path)
{
	struct mesh_target_config cfg = {
		.drive_count = 1, .inflight = 64, .io_bytes_max = 1u << 20,
	};
	uint32_t drive;

	assert_int_equal(mesh_host_drive_add(h, path, DRIVE_BYTES, &drive), 0);
	assert_int_equal(drive, 0);
	cfg.drive_bytes[0] = mesh_host_drive_bytes(h, 0);
	assert_int_equal(mesh_target_create(&mesh_host_node(h)->env, &cfg,
					    &mesh_host_node(h)->target), 0);
}

static int world_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	struct mesh_client_config ccfg = { .queue_depth = 16, .io_timeout_ns = 500 * MS };
	struct mesh_layout l = {
		.kind = MESH_LAYOUT_MIRROR, .copies = 2, .segment_count = 1,
		.volume_bytes = SEGMENT_BYTES,
		.segments = { { .bytes = SEGMENT_BYTES, .group = 1, .replicas = {
			{ .target = T1, .drive = 0, .domain = 0, .drive_offset = 0 },
			{ .target = T2, .drive = 0, .domain = 1, .drive_offset = 0 } } } },
	};

	assert_non_null(w);
	snprintf(w->path1, sizeof(w->path1), "/dev/shm/mesh-host-test-%d-1", getpid());
	snprintf(w->path2, sizeof(w->path2), "/dev/shm/mesh-host-test-%d-2", getpid());
	w->t1 = host_new(T1, true);
	w->t2 = host_new(T2, true);
	w->cl = host_new(CL, false);
	target_start(w->t1, w->path1);
	target_start(w->t2, w->path2);
	snprintf(w->addr1, sizeof(w->addr1), "127.0.0.1:%d", mesh_host_port(w->t1));
	snprintf(w->addr2, sizeof(w->addr2), "127.0.0.1:%d", mesh_host_port(w->t2));
	assert_int_equal(mesh_host_peer_add(w->cl, T1, w->addr1), 0);
	assert_int_equal(mesh_host_peer_add(w->cl, T2, w->addr2), 0);
	assert_int_equal(mesh_host_peer_add(w->cl, T2, w->addr2), -EEXIST);
	assert_int_equal(mesh_client_create(&mesh_host_node(w->cl)->env, &ccfg,
					    &mesh_host_node(w->cl)->client), 0);
	assert_int_equal(mesh_client_volume_add(mesh_host_node(w->cl)->client, 0, &l), 0);
	*state = w;
	return 0;
}

static void host_free(struct mesh_host *h)
{
	struct mesh_node *n;

	if (!h)
		return;
	n = mesh_host_node(h);
	mesh_client_destroy(n->client);
	mesh_target_destroy(n->target);
	n->client = NULL;
	n->target = NULL;
	mesh_host_destroy(h);
}

static int world_teardown(void **state)
{
	struct world *w = *state;

	host_free(w->cl);
	host_free(w->t1);
	host_free(w->t2);
	unlink(w->path1);
	unlink(w->path2);
	free(w);
	return 0;
}

/* Turn every host's loop until the client completed one I/O; its status. */
static int run_io(struct world *w, enum mesh_io_op op, uint64_t offset, void *buf, uint32_t len)
{
	struct mesh_client *c = mesh_host_node(w->cl)->client;
	struct mesh_io io = { .volume = 0, .op = op, .offset = offset, .length = len, .buf = buf,
			      .cookie = 77 };
	struct mesh_io_done done;
	uint64_t end = mesh_evloop_now_ns() + 5000 * MS;

	assert_int_equal(mesh_client_submit(c, &io), 0);
	while (mesh_evloop_now_ns() < end) {
		struct mesh_host *hs[3] = { w->cl, w->t1, w->t2 };

		for (int i = 0; i < 3; i++) {
			if (hs[i])
				assert_true(mesh_host_run_once(hs[i], 0) >= 0);
		}
		if (mesh_client_reap(c, &done, 1) == 1) {
			assert_int_equal(done.cookie, 77);
			return done.status;
		}
	}
	fail_msg("the I/O never completed");
	return 0;
}

static void file_bytes(const char *path, uint64_t offset, void *buf, uint32_t len)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)offset), (ssize_t)len);
	close(fd);
}

static void mirrored_writes_land_on_both_drive_files(void **state)
{
	struct world *w = *state;
	uint8_t *data = malloc(4 * BLOCK), *back = malloc(4 * BLOCK), *file = malloc(4 * BLOCK);

	for (uint32_t i = 0; i < 4 * BLOCK; i++)
		data[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(run_io(w, MESH_IO_WRITE, 5 * BLOCK, data, 4 * BLOCK), 0);
	file_bytes(w->path1, 5 * BLOCK, file, 4 * BLOCK);
	assert_memory_equal(file, data, 4 * BLOCK);
	file_bytes(w->path2, 5 * BLOCK, file, 4 * BLOCK);
	assert_memory_equal(file, data, 4 * BLOCK);
	memset(back, 0, 4 * BLOCK);
	assert_int_equal(run_io(w, MESH_IO_READ, 5 * BLOCK, back, 4 * BLOCK), 0);
	assert_memory_equal(back, data, 4 * BLOCK);
	/* Past the volume's end: refused before anything is sent. */
	assert_int_equal(mesh_client_submit(mesh_host_node(w->cl)->client,
					    &(struct mesh_io){ .op = MESH_IO_READ,
							       .offset = SEGMENT_BYTES,
							       .length = BLOCK, .buf = back }),
			 -ERANGE);
	free(data);
	free(back);
	free(file);
}

static void a_target_gone_fails_the_mirror_write_and_the_client_goes_on(void **state)
{
	struct world *w = *state;
	uint8_t buf[BLOCK];

	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(run_io(w, MESH_IO_WRITE, 0, buf, BLOCK), 0);
	host_free(w->t2);
	w->t2 = NULL;
	/* Without a topology manager a write that cannot reach every copy
	 * fails rather than being acknowledged on one. */
	assert_true(run_io(w, MESH_IO_WRITE, 0, buf, BLOCK) < 0);
}

static void garbage_before_hello_is_dropped_and_serving_goes_on(void **state)
{
	struct world *w = *state;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)mesh_host_port(w->t1)) };
	uint8_t frame[4 + 40] = { 40, 0, 0, 0 };
	uint8_t buf[BLOCK];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char c;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	memset(frame + 4, 0xee, 40);
	assert_int_equal(write(fd, frame, sizeof(frame)), (ssize_t)sizeof(frame));
	for (int i = 0; i < 200; i++) {
		mesh_host_run_once(w->t1, 1 * MS);
	}
	/* The target closed it: EOF. */
	assert_int_equal(read(fd, &c, 1), 0);
	close(fd);
	memset(buf, 0x11, sizeof(buf));
	assert_int_equal(run_io(w, MESH_IO_WRITE, BLOCK, buf, BLOCK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(mirrored_writes_land_on_both_drive_files,
						world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(a_target_gone_fails_the_mirror_write_and_the_client_goes_on,
						world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(garbage_before_hello_is_dropped_and_serving_goes_on,
						world_setup, world_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

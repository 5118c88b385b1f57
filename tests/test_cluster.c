/*
 * tests/test_cluster.c: the client data path end to end, in process.
 *
 * Eight targets in four racks with memory drives, joined by the loop
 * transport, and two clients (one on its own node, one converged on a
 * target node), all running the real core. For every layout, random writes
 * and reads of random ranges (sector aligned, not stripe aligned, crossing
 * stripe and segment boundaries), checked byte for byte against a model of
 * the volume and against every copy on the drives themselves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>

#include "core/client.h"
#include "core/layout.h"
#include "core/placement.h"
#include "core/proto.h"
#include "prop.h"
#include "runtime/inproc.h"

#define TARGETS 8
#define RACKS 4
#define DRIVES_PER_TARGET 2
#define DRIVE_BYTES (16u << 20)
#define CLIENT_NODE TARGETS        /* a node with only a client */
#define CONVERGED_NODE 0           /* a target that is also a client */
#define NODES (TARGETS + 1)
#define VOLUME_BYTES (6u << 20)
#define IO_TIMEOUT_NS 50000000ull  /* 50 ms */
#define OPS_PER_VOLUME 400
#define QD 16

struct cluster {
	struct mesh_inproc *host;
	struct mesh_pool_drive drives[TARGETS * DRIVES_PER_TARGET];
	struct mesh_pool pool;
	uint64_t rng;
	uint64_t next_group;
};

static const struct mesh_client_config client_cfg = {
	.queue_depth = QD,
	.subrequests = QD * 32, /* 64 KiB over 8 KiB units, 2 copies: 18 each */
	.io_timeout_ns = IO_TIMEOUT_NS,
};

static int cluster_setup(void **state)
{
	static uint64_t seed;
	struct cluster *cl = calloc(1, sizeof(*cl));
	struct mesh_inproc_config cfg = { .nodes = NODES, .log_level = MESH_LOG_ERROR };

	if (!seed)
		seed = prop_seed("cluster");
	cfg.seed = seed;
	cl->rng = seed;
	assert_int_equal(mesh_inproc_create(&cfg, &cl->host), 0);
	cl->pool.drives = cl->drives;
	for (uint32_t t = 0; t < TARGETS; t++) {
		for (uint32_t d = 0; d < DRIVES_PER_TARGET; d++) {
			uint32_t index;

			assert_int_equal(mesh_inproc_drive_add(cl->host, t, DRIVE_BYTES, &index), 0);
			cl->drives[cl->pool.count++] = (struct mesh_pool_drive){
				.target = t, .drive = index, .domain = t % RACKS, .capacity = DRIVE_BYTES,
			};
		}
		assert_int_equal(mesh_inproc_target_start(cl->host, t, 64), 0);
	}
	assert_int_equal(mesh_inproc_client_start(cl->host, CLIENT_NODE, &client_cfg), 0);
	assert_int_equal(mesh_inproc_client_start(cl->host, CONVERGED_NODE, &client_cfg), 0);
	*state = cl;
	return 0;
}

static int cluster_teardown(void **state)
{
	struct cluster *cl = *state;

	mesh_inproc_destroy(cl->host);
	free(cl);
	return 0;
}

static struct mesh_client *client_of(struct cluster *cl, uint32_t node)
{
	return mesh_inproc_node(cl->host, node)->client;
}

/* Plan a volume and make it known to both clients under @id. */
static struct mesh_layout make_volume(struct cluster *cl, uint32_t id, enum mesh_layout_kind kind,
				      uint32_t width, uint32_t copies, uint32_t stripe_unit)
{
	struct mesh_volume_spec spec = {
		.kind = kind, .bytes = VOLUME_BYTES, .width = width, .copies = copies,
		.stripe_unit = stripe_unit, .first_group = cl->next_group,
	};
	struct mesh_layout l;
	const char *why = NULL;

	if (mesh_placement_plan(&cl->pool, &spec, &l, &why))
		fail_msg("placement failed: %s", why);
	cl->next_group += width;
	assert_int_equal(mesh_client_volume_add(client_of(cl, CLIENT_NODE), id, &l), 0);
	assert_int_equal(mesh_client_volume_add(client_of(cl, CONVERGED_NODE), id, &l), 0);
	return l;
}

static int sync_io(struct cluster *cl, uint32_t node, uint32_t volume, enum mesh_io_op op,
		   uint64_t offset, uint32_t length, void *buf)
{
	struct mesh_io io = {
		.volume = volume, .op = op, .offset = offset, .length = length, .buf = buf,
		.cookie = 0xc0ffee,
	};

	return mesh_inproc_io(cl->host, node, &io);
}

/* Step the cluster until @n I/Os of @c complete; each must succeed. */
static void reap_all_ok(struct cluster *cl, struct mesh_client *c, unsigned n)
{
	struct mesh_io_done done[QD];
	unsigned reaped = 0;

	assert_true(n <= QD);
	while (reaped < n) {
		unsigned got = mesh_client_reap(c, done, QD);

		for (unsigned k = 0; k < got; k++)
			assert_int_equal(done[k].status, 0);
		reaped += got;
		if (reaped < n)
			assert_true(mesh_inproc_step(cl->host));
	}
}

static void random_range(uint64_t *rng, uint64_t *offset, uint32_t *length)
{
	uint64_t sectors = VOLUME_BYTES / MESH_SECTOR_BYTES;
	/* Mostly small, sometimes large, I/Os: up to 512 KiB. */
	uint64_t max_len = prop_range(rng, 0, 3) == 0 ? 1024 : 64;
	uint64_t start = prop_range(rng, 0, sectors - 1);
	uint64_t len = prop_range(rng, 1, max_len);

	if (start + len > sectors)
		len = sectors - start;
	*offset = start * MESH_SECTOR_BYTES;
	*length = (uint32_t)(len * MESH_SECTOR_BYTES);
}

static void fill_random(uint64_t *rng, uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)prop_next(rng);
}

/* Every copy of [@offset, @offset + @length) on the drives holds exactly
 * what the model says. */
static void assert_copies_match_model(struct cluster *cl, const struct mesh_layout *l,
				      const uint8_t *model, uint64_t offset, uint64_t length)
{
	for (uint64_t off = offset; off < offset + length;) {
		struct mesh_extent e = mesh_layout_first_extent(l, off, offset + length - off);

		for (uint32_t c = 0; c < l->copies; c++) {
			struct mesh_location loc = mesh_layout_locate(l, &e, c);
			const uint8_t *disk = mesh_inproc_drive_bytes(cl->host, loc.target, loc.drive);

			assert_memory_equal(disk + loc.offset, model + e.volume_offset, e.length);
		}
		off += e.length;
	}
}

/*
 * Random sequential I/O from both clients, then the same with QD pipelined
 * I/Os on disjoint ranges. Concurrent writes to one range have no defined
 * order, so the pipelined phase keeps its ranges apart.
 */
static void exercise_volume(struct cluster *cl, uint32_t id, const struct mesh_layout *l)
{
	uint8_t *model = calloc(1, VOLUME_BYTES);
	uint8_t *buf = malloc(MESH_CLIENT_IO_BYTES_MAX);
	uint8_t *bufs = malloc((size_t)QD * 64 * 1024);

	for (int op = 0; op < OPS_PER_VOLUME; op++) {
		uint32_t node = prop_range(&cl->rng, 0, 1) ? CLIENT_NODE : CONVERGED_NODE;
		uint64_t offset;
		uint32_t length;

		random_range(&cl->rng, &offset, &length);
		if (prop_range(&cl->rng, 0, 1)) {
			fill_random(&cl->rng, buf, length);
			assert_int_equal(sync_io(cl, node, id, MESH_IO_WRITE, offset, length, buf), 0);
			memcpy(model + offset, buf, length);
			/* Acknowledged means on every copy already, not soon. */
			assert_copies_match_model(cl, l, model, offset, length);
		} else {
			assert_int_equal(sync_io(cl, node, id, MESH_IO_READ, offset, length, buf), 0);
			assert_memory_equal(buf, model + offset, length);
		}
	}

	/* Pipelined: QD writes of 64 KiB slots at random 512-byte shifts. */
	struct mesh_client *c = client_of(cl, CLIENT_NODE);
	uint64_t slot_bytes = VOLUME_BYTES / QD;

	for (int round = 0; round < 8; round++) {
		bool reading = round % 2;
		uint64_t offsets[QD];

		for (uint32_t q = 0; q < QD; q++) {
			uint8_t *b = bufs + (size_t)q * 64 * 1024;
			struct mesh_io io = {
				.volume = id, .op = reading ? MESH_IO_READ : MESH_IO_WRITE,
				.offset = q * slot_bytes + prop_range(&cl->rng, 0, 64) * MESH_SECTOR_BYTES,
				.length = 64 * 1024, .buf = b, .cookie = q,
			};

			offsets[q] = io.offset;
			if (!reading) {
				fill_random(&cl->rng, b, io.length);
				memcpy(model + io.offset, b, io.length);
			}
			assert_int_equal(mesh_client_submit(c, &io), 0);
		}
		assert_int_equal(mesh_client_inflight(c), QD);
		struct mesh_io extra = { .volume = id, .op = MESH_IO_READ, .length = 512, .buf = buf };
		assert_int_equal(mesh_client_submit(c, &extra), -EAGAIN);

		reap_all_ok(cl, c, QD);
		for (uint32_t q = 0; reading && q < QD; q++)
			assert_memory_equal(bufs + (size_t)q * 64 * 1024, model + offsets[q], 64 * 1024);
	}

	/* Read everything back in random pieces and compare. */
	for (uint64_t off = 0; off < VOLUME_BYTES;) {
		uint32_t len = (uint32_t)prop_range(&cl->rng, 1, 2048) * MESH_SECTOR_BYTES;

		if (len > VOLUME_BYTES - off)
			len = (uint32_t)(VOLUME_BYTES - off);
		assert_int_equal(sync_io(cl, CLIENT_NODE, id, MESH_IO_READ, off, len, buf), 0);
		assert_memory_equal(buf, model + off, len);
		off += len;
	}
	assert_copies_match_model(cl, l, model, 0, l->volume_bytes);
	free(model);
	free(buf);
	free(bufs);
}

static void concat_volume_reads_back_what_was_written(void **state)
{
	struct cluster *cl = *state;
	struct mesh_layout l = make_volume(cl, 1, MESH_LAYOUT_CONCAT, 3, 1, 0);

	exercise_volume(cl, 1, &l);
}

static void stripe_volume_reads_back_what_was_written(void **state)
{
	struct cluster *cl = *state;
	struct mesh_layout l = make_volume(cl, 2, MESH_LAYOUT_STRIPE, 4, 1, 16 * 1024);

	exercise_volume(cl, 2, &l);
}

static void mirror_volume_writes_every_copy(void **state)
{
	struct cluster *cl = *state;
	struct mesh_layout l = make_volume(cl, 3, MESH_LAYOUT_MIRROR, 2, 3, 0);

	exercise_volume(cl, 3, &l);
}

static void stripe_mirror_volume_writes_every_copy(void **state)
{
	struct cluster *cl = *state;
	struct mesh_layout l = make_volume(cl, 4, MESH_LAYOUT_STRIPE_MIRROR, 3, 2, 8 * 1024);

	exercise_volume(cl, 4, &l);
}

/* ---- bad input and faults ---- */

static void client_rejects_bad_io_with_clear_errors(void **state)
{
	struct cluster *cl = *state;
	struct mesh_client *c = client_of(cl, CLIENT_NODE);
	uint8_t buf[8192];

	make_volume(cl, 1, MESH_LAYOUT_STRIPE, 2, 1, 64 * 1024);
	struct mesh_io io = { .volume = 1, .op = MESH_IO_READ, .offset = 0, .length = 4096, .buf = buf };

	io.volume = 7;
	assert_int_equal(mesh_client_submit(c, &io), -ENOENT);
	io.volume = 100000;
	assert_int_equal(mesh_client_submit(c, &io), -ENOENT);
	io.volume = 1;
	io.offset = VOLUME_BYTES - 512;
	assert_int_equal(mesh_client_submit(c, &io), -ERANGE);
	io.offset = UINT64_MAX - 511;
	assert_int_equal(mesh_client_submit(c, &io), -ERANGE);
	io.offset = 100;
	assert_int_equal(mesh_client_submit(c, &io), -EINVAL);
	io.offset = 0;
	io.length = 1000;
	assert_int_equal(mesh_client_submit(c, &io), -EINVAL);
	io.length = 0;
	assert_int_equal(mesh_client_submit(c, &io), -EINVAL);
	io.length = MESH_CLIENT_IO_BYTES_MAX + 512;
	assert_int_equal(mesh_client_submit(c, &io), -E2BIG);
	io.length = 4096;
	io.buf = NULL;
	assert_int_equal(mesh_client_submit(c, &io), -EINVAL);
	io.buf = buf;
	io.op = 9;
	assert_int_equal(mesh_client_submit(c, &io), -EINVAL);
	assert_int_equal(mesh_client_inflight(c), 0);
	/* A volume id above the limit and a duplicate are refused too. */
	struct mesh_layout l = make_volume(cl, 2, MESH_LAYOUT_CONCAT, 1, 1, 0);
	assert_int_equal(mesh_client_volume_add(c, 2, &l), -EEXIST);
	assert_int_equal(mesh_client_volume_add(c, MESH_CLIENT_VOLUMES_MAX, &l), -EINVAL);
	l.segment_count = 0;
	assert_int_equal(mesh_client_volume_add(c, 3, &l), -EINVAL);
}

static void io_needing_more_subrequests_than_exist_is_refused(void **state)
{
	struct cluster *cl = *state;
	struct mesh_client *c;
	struct mesh_client_config small = { .queue_depth = 2, .subrequests = 2, .io_timeout_ns = IO_TIMEOUT_NS };
	static uint8_t buf[64 * 1024];

	mesh_client_destroy(mesh_inproc_node(cl->host, CLIENT_NODE)->client);
	mesh_inproc_node(cl->host, CLIENT_NODE)->client = NULL;
	assert_int_equal(mesh_inproc_client_start(cl->host, CLIENT_NODE, &small), 0);
	c = client_of(cl, CLIENT_NODE);
	make_volume(cl, 1, MESH_LAYOUT_STRIPE_MIRROR, 4, 2, 4096);
	struct mesh_io io = { .volume = 1, .op = MESH_IO_WRITE, .length = 8192, .buf = buf };

	/* One sub-request per extent (it walks the copies in turn): 2 extents
	 * fit; 3 never can. */
	assert_int_equal(mesh_client_submit(c, &io), 0);
	io.offset = 16384;
	assert_int_equal(mesh_client_submit(c, &io), -EAGAIN); /* the 2 are in use */
	io.length = 12288;
	assert_int_equal(mesh_client_submit(c, &io), -E2BIG);
}

static void mirrored_reads_use_the_tail_only(void **state)
{
	struct cluster *cl = *state;
	struct mesh_layout l = make_volume(cl, 1, MESH_LAYOUT_MIRROR, 1, 3, 0);
	static uint8_t buf[256 * 1024];
	uint64_t reads = 0, writes = 0;

	assert_int_equal(sync_io(cl, CLIENT_NODE, 1, MESH_IO_WRITE, 0, sizeof(buf), buf), 0);
	for (int i = 0; i < 30; i++)
		assert_int_equal(sync_io(cl, CLIENT_NODE, 1, MESH_IO_READ, 0, sizeof(buf), buf), 0);
	for (uint32_t t = 0; t < TARGETS; t++) {
		struct mesh_target_stats ts;

		mesh_target_stats(mesh_inproc_node(cl->host, t)->target, &ts);
		reads += ts.reads;
		writes += ts.writes;
	}
	assert_int_equal(writes, 3); /* one write per copy */
	assert_int_equal(reads, 30); /* one read per I/O, not per copy */
	/* ...all from the tail of the chain (the last copy), which holds only
	 * what every copy holds, so every client sees the same data. */
	struct mesh_target_stats ts;
	mesh_target_stats(mesh_inproc_node(cl->host, l.segments[0].replicas[2].target)->target, &ts);
	assert_int_equal(ts.reads, 30);
}

static void reads_stay_stable_after_a_write_failed_on_one_copy(void **state)
{
	struct cluster *cl = *state;
	struct mesh_layout m = make_volume(cl, 1, MESH_LAYOUT_MIRROR, 1, 2, 0);
	const struct mesh_replica *r = &m.segments[0].replicas[0];
	static uint8_t a[4096], b[4096], first[4096], back[4096];

	memset(a, 'A', sizeof(a));
	memset(b, 'B', sizeof(b));
	assert_int_equal(sync_io(cl, CLIENT_NODE, 1, MESH_IO_WRITE, 0, 4096, a), 0);
	mesh_inproc_drive_fail(cl->host, r->target, r->drive, true);
	assert_int_equal(sync_io(cl, CLIENT_NODE, 1, MESH_IO_WRITE, 0, 4096, b), -EIO);
	mesh_inproc_drive_fail(cl->host, r->target, r->drive, false);
	/* The failed write left the copies different; reads must not flip
	 * between them, from either client. */
	assert_int_equal(sync_io(cl, CLIENT_NODE, 1, MESH_IO_READ, 0, 4096, first), 0);
	for (int i = 0; i < 6; i++) {
		uint32_t node = i % 2 ? CLIENT_NODE : CONVERGED_NODE;

		assert_int_equal(sync_io(cl, node, 1, MESH_IO_READ, 0, 4096, back), 0);
		assert_memory_equal(back, first, sizeof(back));
	}
}

static void unroutable_target_fails_at_once(void **state)
{
	struct cluster *cl = *state;
	struct mesh_layout l = {
		.kind = MESH_LAYOUT_CONCAT, .copies = 1, .segment_count = 1, .volume_bytes = 1 << 20,
	};
	static uint8_t buf[4096];

	l.segments[0].bytes = 1 << 20;
	l.segments[0].replicas[0].target = 50; /* no such node */
	assert_int_equal(mesh_client_volume_add(client_of(cl, CLIENT_NODE), 1, &l), 0);
	uint64_t t0 = mesh_inproc_now_ns(cl->host);
	assert_int_equal(sync_io(cl, CLIENT_NODE, 1, MESH_IO_READ, 0, 4096, buf), -EHOSTUNREACH);
	assert_true(mesh_inproc_now_ns(cl->host) - t0 < IO_TIMEOUT_NS / 4);
}

static void large_reads_that_fill_the_clients_ring_all_complete(void **state)
{
	struct cluster *cl = *state;
	struct mesh_client *c = client_of(cl, CLIENT_NODE);
	static uint8_t bufs[QD][MESH_CLIENT_IO_BYTES_MAX];

	struct mesh_layout l = make_volume(cl, 1, MESH_LAYOUT_CONCAT, 1, 1, 0);
	/* 16 MiB of answers in flight, twice the 8 MiB receive ring. */
	for (uint32_t q = 0; q < QD; q++) {
		struct mesh_io io = { .volume = 1, .op = MESH_IO_READ, .offset = 0,
				      .length = MESH_CLIENT_IO_BYTES_MAX, .buf = bufs[q], .cookie = q };

		assert_int_equal(mesh_client_submit(c, &io), 0);
	}
	reap_all_ok(cl, c, QD);
	struct mesh_target_stats ts;
	mesh_target_stats(mesh_inproc_node(cl->host, l.segments[0].replicas[0].target)->target, &ts);
	assert_true(ts.replies_deferred > 0); /* the ring did fill */
	assert_int_equal(ts.reads, QD);
}

static void failed_drive_is_read_around_and_fails_writes(void **state)
{
	struct cluster *cl = *state;
	struct mesh_layout m = make_volume(cl, 1, MESH_LAYOUT_MIRROR, 1, 2, 0);
	struct mesh_layout single = make_volume(cl, 2, MESH_LAYOUT_CONCAT, 1, 1, 0);
	static uint8_t data[128 * 1024], back[128 * 1024];
	const struct mesh_replica *r = &m.segments[0].replicas[0];

	fill_random(&cl->rng, data, sizeof(data));
	assert_int_equal(sync_io(cl, CLIENT_NODE, 1, MESH_IO_WRITE, 0, sizeof(data), data), 0);
	mesh_inproc_drive_fail(cl->host, r->target, r->drive, true);
	for (int i = 0; i < 8; i++) {
		memset(back, 0, sizeof(back));
		assert_int_equal(sync_io(cl, CLIENT_NODE, 1, MESH_IO_READ, 0, sizeof(back), back), 0);
		assert_memory_equal(back, data, sizeof(data));
	}
	/* Without the protocol that marks a copy stale, a write that cannot
	 * reach every copy must fail rather than be acknowledged. */
	assert_int_equal(sync_io(cl, CLIENT_NODE, 1, MESH_IO_WRITE, 0, 4096, data), -EIO);
	const struct mesh_replica *sr = &single.segments[0].replicas[0];
	mesh_inproc_drive_fail(cl->host, sr->target, sr->drive, true);
	assert_int_equal(sync_io(cl, CLIENT_NODE, 2, MESH_IO_READ, 0, 4096, back), -EIO);
	mesh_inproc_drive_fail(cl->host, sr->target, sr->drive, false);
	assert_int_equal(sync_io(cl, CLIENT_NODE, 2, MESH_IO_READ, 0, 4096, back), 0);
}

static void unreachable_target_times_out_and_mirror_reads_elsewhere(void **state)
{
	struct cluster *cl = *state;
	struct mesh_layout m = make_volume(cl, 1, MESH_LAYOUT_MIRROR, 1, 2, 0);
	static uint8_t data[64 * 1024], back[64 * 1024];
	uint32_t cut = m.segments[0].replicas[0].target;

	fill_random(&cl->rng, data, sizeof(data));
	assert_int_equal(sync_io(cl, CLIENT_NODE, 1, MESH_IO_WRITE, 0, sizeof(data), data), 0);
	/* Asymmetric: requests get through, replies from `cut` are lost. */
	assert_int_equal(mesh_inproc_link(cl->host, cut, CLIENT_NODE, false), 0);
	for (int i = 0; i < 4; i++) {
		memset(back, 0, sizeof(back));
		assert_int_equal(sync_io(cl, CLIENT_NODE, 1, MESH_IO_READ, 0, sizeof(back), back), 0);
		assert_memory_equal(back, data, sizeof(data));
	}
	uint64_t t0 = mesh_inproc_now_ns(cl->host);
	assert_int_equal(sync_io(cl, CLIENT_NODE, 1, MESH_IO_WRITE, 0, 4096, data), -ETIMEDOUT);
	uint64_t waited = mesh_inproc_now_ns(cl->host) - t0;
	/* Bounded: at least the timeout, at most one sweep period past it. */
	assert_true(waited >= IO_TIMEOUT_NS);
	assert_true(waited <= IO_TIMEOUT_NS + IO_TIMEOUT_NS / 4);
	struct mesh_client_stats cs;
	mesh_client_stats(client_of(cl, CLIENT_NODE), &cs);
	assert_true(cs.timeouts >= 1);
	/* Both copies cut: a read gives up after trying each copy once. */
	assert_int_equal(mesh_inproc_link(cl->host, m.segments[0].replicas[1].target, CLIENT_NODE,
					  false), 0);
	t0 = mesh_inproc_now_ns(cl->host);
	assert_int_equal(sync_io(cl, CLIENT_NODE, 1, MESH_IO_READ, 0, 4096, back), -ETIMEDOUT);
	assert_true(mesh_inproc_now_ns(cl->host) - t0 <= 2 * (IO_TIMEOUT_NS + IO_TIMEOUT_NS / 4));
	/* Healed: everything works again. */
	assert_int_equal(mesh_inproc_link(cl->host, cut, CLIENT_NODE, true), 0);
	assert_int_equal(mesh_inproc_link(cl->host, m.segments[0].replicas[1].target, CLIENT_NODE,
					  true), 0);
	assert_int_equal(sync_io(cl, CLIENT_NODE, 1, MESH_IO_WRITE, 0, sizeof(data), data), 0);
	assert_int_equal(sync_io(cl, CLIENT_NODE, 1, MESH_IO_READ, 0, sizeof(back), back), 0);
	assert_memory_equal(back, data, sizeof(data));
}

/* A layout whose single copy points at @target, drive @drive, @offset. */
static struct mesh_layout one_segment_at(uint32_t target, uint32_t drive, uint64_t offset)
{
	struct mesh_layout l = {
		.kind = MESH_LAYOUT_CONCAT, .copies = 1, .segment_count = 1, .volume_bytes = 1 << 20,
	};

	l.segments[0].bytes = 1 << 20;
	l.segments[0].replicas[0] = (struct mesh_replica){ .target = target, .drive = drive,
							   .drive_offset = offset };
	return l;
}

static void target_refuses_requests_outside_its_drives(void **state)
{
	struct cluster *cl = *state;
	struct mesh_client *c = client_of(cl, CLIENT_NODE);
	struct mesh_layout no_drive = one_segment_at(3, 9, 0);
	struct mesh_layout past_end = one_segment_at(3, 0, DRIVE_BYTES - 4096);
	struct mesh_layout no_target = one_segment_at(CLIENT_NODE, 0, 0);
	static uint8_t buf[8192];

	assert_int_equal(mesh_client_volume_add(c, 1, &no_drive), 0);
	assert_int_equal(mesh_client_volume_add(c, 2, &past_end), 0);
	assert_int_equal(mesh_client_volume_add(c, 3, &no_target), 0);
	assert_int_equal(sync_io(cl, CLIENT_NODE, 1, MESH_IO_READ, 0, 4096, buf), -ENODEV);
	assert_int_equal(sync_io(cl, CLIENT_NODE, 2, MESH_IO_WRITE, 0, 4096, buf), 0);
	assert_int_equal(sync_io(cl, CLIENT_NODE, 2, MESH_IO_WRITE, 4096, 4096, buf), -ERANGE);
	assert_int_equal(sync_io(cl, CLIENT_NODE, 2, MESH_IO_READ, 0, 8192, buf), -ERANGE);
	assert_int_equal(sync_io(cl, CLIENT_NODE, 3, MESH_IO_READ, 0, 4096, buf), -EOPNOTSUPP);
	struct mesh_target_stats ts;
	mesh_target_stats(mesh_inproc_node(cl->host, 3)->target, &ts);
	assert_int_equal(ts.rejected, 3);
}

static void malformed_and_stray_messages_are_dropped(void **state)
{
	struct cluster *cl = *state;
	struct mesh_node *target = mesh_inproc_node(cl->host, 2);
	struct mesh_node *client = mesh_inproc_node(cl->host, CLIENT_NODE);
	uint8_t junk[512];

	make_volume(cl, 1, MESH_LAYOUT_STRIPE_MIRROR, 2, 2, 64 * 1024);
	for (size_t len = 0; len <= sizeof(junk); len += 7) {
		fill_random(&cl->rng, junk, len);
		mesh_node_on_message(target, CLIENT_NODE, junk, len);
		mesh_node_on_message(client, 2, junk, len);
	}
	assert_int_equal(target->rx_malformed, 74);
	assert_int_equal(client->rx_malformed, 74);
	/* A well-formed reply nobody asked for is ignored and counted. */
	uint8_t prefix[MESH_PROTO_PREFIX_MAX];
	struct mesh_msg stray = {
		.hdr = { .type = MESH_MSG_IO_REPLY, .req_id = 0x123456789ull },
		.u.io_reply = { .status = 0, .length = 0 },
	};
	int n = mesh_proto_encode(&stray, prefix, sizeof(prefix));
	assert_true(n > 0);
	mesh_node_on_message(client, 2, prefix, (size_t)n);
	struct mesh_client_stats cs;
	mesh_client_stats(client->client, &cs);
	assert_int_equal(cs.replies_stale, 1);
	/* The cluster still serves. */
	static uint8_t data[32 * 1024], back[32 * 1024];
	fill_random(&cl->rng, data, sizeof(data));
	assert_int_equal(sync_io(cl, CLIENT_NODE, 1, MESH_IO_WRITE, 4096, sizeof(data), data), 0);
	assert_int_equal(sync_io(cl, CLIENT_NODE, 1, MESH_IO_READ, 4096, sizeof(back), back), 0);
	assert_memory_equal(back, data, sizeof(data));
}

static void busy_target_is_retried_until_served(void **state)
{
	struct cluster *cl = *state;
	struct mesh_client *c = client_of(cl, CLIENT_NODE);
	/* A target with one request slot, behind a 1-wide concat. */
	struct mesh_node *n = mesh_inproc_node(cl->host, 5);
	static uint8_t bufs[QD][4096];

	mesh_target_destroy(n->target);
	n->target = NULL;
	assert_int_equal(mesh_inproc_target_start(cl->host, 5, 1), 0);
	struct mesh_layout l = one_segment_at(5, 0, 0);
	assert_int_equal(mesh_client_volume_add(c, 1, &l), 0);
	for (uint32_t q = 0; q < QD; q++) {
		struct mesh_io io = { .volume = 1, .op = MESH_IO_WRITE, .offset = q * 4096,
				      .length = 4096, .buf = bufs[q], .cookie = q };

		memset(bufs[q], (int)q + 1, 4096);
		assert_int_equal(mesh_client_submit(c, &io), 0);
	}
	reap_all_ok(cl, c, QD);
	struct mesh_target_stats ts;
	mesh_target_stats(n->target, &ts);
	assert_true(ts.busy > 0);
	assert_int_equal(ts.writes, QD);
	const uint8_t *disk = mesh_inproc_drive_bytes(cl->host, 5, 0);
	for (uint32_t q = 0; q < QD; q++)
		assert_int_equal(disk[q * 4096 + 100], q + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(concat_volume_reads_back_what_was_written,
						cluster_setup, cluster_teardown),
		cmocka_unit_test_setup_teardown(stripe_volume_reads_back_what_was_written,
						cluster_setup, cluster_teardown),
		cmocka_unit_test_setup_teardown(mirror_volume_writes_every_copy, cluster_setup,
						cluster_teardown),
		cmocka_unit_test_setup_teardown(stripe_mirror_volume_writes_every_copy,
						cluster_setup, cluster_teardown),
#define T(name) cmocka_unit_test_setup_teardown(name, cluster_setup, cluster_teardown)
		T(client_rejects_bad_io_with_clear_errors),
		T(io_needing_more_subrequests_than_exist_is_refused),
		T(mirrored_reads_use_the_tail_only),
		T(reads_stay_stable_after_a_write_failed_on_one_copy),
		T(unroutable_target_fails_at_once),
		T(large_reads_that_fill_the_clients_ring_all_complete),
		T(failed_drive_is_read_around_and_fails_writes),
		T(unreachable_target_times_out_and_mirror_reads_elsewhere),
		T(target_refuses_requests_outside_its_drives),
		T(malformed_and_stray_messages_are_dropped),
		T(busy_target_is_retried_until_served),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

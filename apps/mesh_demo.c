/*
 * apps/mesh_demo.c: the in-process cluster demo.
 *
 * Builds a cluster of targets in racks with memory drives, plans one volume
 * of each layout across failure domains, writes random data through the
 * real client data path with I/Os in flight at once, reads everything back,
 * checks every copy on the drives, then fails a drive under a mirror and
 * shows reads carrying on from the surviving copy. Prints what it did.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/client.h"
#include "core/layout.h"
#include "core/placement.h"
#include "core/rng.h"
#include "runtime/inproc.h"

#define TARGETS 6
#define RACKS 3
#define DRIVES_PER_TARGET 2
#define DRIVE_BYTES (64ull << 20)
#define CLIENT_NODE TARGETS
#define VOLUME_BYTES (32ull << 20)
#define IO_BYTES (64u * 1024)
#define QD 16

struct demo {
	struct mesh_inproc *host;
	struct mesh_client *client;
	struct mesh_pool_drive drives[TARGETS * DRIVES_PER_TARGET];
	struct mesh_pool pool;
	uint64_t rng;
	uint64_t bytes_written, bytes_read, bytes_verified;
};

struct volume_plan {
	const char *name;
	struct mesh_volume_spec spec;
};

static int build_cluster(struct demo *d, uint64_t seed)
{
	struct mesh_inproc_config cfg = { .nodes = TARGETS + 1, .seed = seed, .log_level = MESH_LOG_WARN };
	struct mesh_client_config ccfg = { .queue_depth = QD, .io_timeout_ns = 100000000ull };
	int rc = mesh_inproc_create(&cfg, &d->host);

	if (rc)
		return rc;
	d->pool.drives = d->drives;
	for (uint32_t t = 0; t < TARGETS; t++) {
		for (uint32_t i = 0; i < DRIVES_PER_TARGET; i++) {
			uint32_t drive;

			rc = mesh_inproc_drive_add(d->host, t, DRIVE_BYTES, &drive);
			if (rc)
				return rc;
			d->drives[d->pool.count++] = (struct mesh_pool_drive){
				.target = t, .drive = drive, .domain = t % RACKS, .capacity = DRIVE_BYTES,
			};
		}
		rc = mesh_inproc_target_start(d->host, t, 64);
		if (rc)
			return rc;
	}
	rc = mesh_inproc_client_start(d->host, CLIENT_NODE, &ccfg);
	if (rc)
		return rc;
	d->client = mesh_inproc_node(d->host, CLIENT_NODE)->client;
	printf("cluster: %u targets in %u racks, %u memory drives of %llu MiB each, "
	       "client on node %u, loop transport\n",
	       TARGETS, RACKS, TARGETS * DRIVES_PER_TARGET, DRIVE_BYTES >> 20, CLIENT_NODE);
	return 0;
}

static void print_layout(const char *name, const struct mesh_layout *l)
{
	printf("volume %-13s %s, %llu MiB, %u segment(s) x %u cop%s", name,
	       mesh_layout_kind_name(l->kind), (unsigned long long)(l->volume_bytes >> 20),
	       l->segment_count, l->copies, l->copies == 1 ? "y" : "ies");
	if (mesh_layout_kind_striped(l->kind))
		printf(", stripe unit %u KiB", l->stripe_unit / 1024);
	printf("\n");
	for (uint32_t s = 0; s < l->segment_count; s++) {
		printf("    segment %u (%llu MiB):", s, (unsigned long long)(l->segments[s].bytes >> 20));
		for (uint32_t c = 0; c < l->copies; c++) {
			const struct mesh_replica *r = &l->segments[s].replicas[c];

			printf("  node %u drive %u @%llu MiB rack %u", r->target, r->drive,
			       (unsigned long long)(r->drive_offset >> 20), r->domain);
		}
		printf("\n");
	}
}

/* Submit up to QD I/Os, then reap them all; returns the first error. */
static int run_batch(struct demo *d, struct mesh_io *ios, unsigned n)
{
	struct mesh_io_done done[QD];
	unsigned reaped = 0;
	int status = 0;

	for (unsigned i = 0; i < n; i++) {
		int rc = mesh_client_submit(d->client, &ios[i]);

		if (rc)
			return rc;
	}
	while (reaped < n) {
		unsigned got = mesh_client_reap(d->client, done, QD);

		for (unsigned k = 0; k < got; k++) {
			if (done[k].status && !status)
				status = done[k].status;
		}
		reaped += got;
		if (reaped < n && !mesh_inproc_step(d->host))
			return -EIO;
	}
	return status;
}

/* Write the whole volume in QD-deep batches of random data, keeping a model. */
static int write_volume(struct demo *d, uint32_t id, uint8_t *model, uint8_t *bufs)
{
	struct mesh_io ios[QD];

	for (uint64_t off = 0; off < VOLUME_BYTES;) {
		unsigned n = 0;

		for (; n < QD && off < VOLUME_BYTES; n++, off += IO_BYTES) {
			uint8_t *b = bufs + (size_t)n * IO_BYTES;

			for (unsigned i = 0; i < IO_BYTES; i += 8) {
				uint64_t v = mesh_rng_next(&d->rng);

				memcpy(b + i, &v, 8);
			}
			memcpy(model + off, b, IO_BYTES);
			ios[n] = (struct mesh_io){ .volume = id, .op = MESH_IO_WRITE, .offset = off,
						   .length = IO_BYTES, .buf = b, .cookie = n };
		}
		int rc = run_batch(d, ios, n);

		if (rc)
			return rc;
		d->bytes_written += (uint64_t)n * IO_BYTES;
	}
	return 0;
}

/* Read the volume back at random unaligned-to-stripe offsets and compare. */
static int verify_volume(struct demo *d, uint32_t id, const uint8_t *model, uint8_t *bufs)
{
	struct mesh_io ios[QD];

	for (unsigned round = 0; round < VOLUME_BYTES / IO_BYTES / QD * 2; round++) {
		for (unsigned n = 0; n < QD; n++) {
			uint64_t sectors = (VOLUME_BYTES - IO_BYTES) / MESH_SECTOR_BYTES;
			uint64_t off = (mesh_rng_next(&d->rng) % sectors) * MESH_SECTOR_BYTES;

			ios[n] = (struct mesh_io){ .volume = id, .op = MESH_IO_READ, .offset = off,
						   .length = IO_BYTES, .buf = bufs + (size_t)n * IO_BYTES,
						   .cookie = n };
		}
		int rc = run_batch(d, ios, QD);

		if (rc)
			return rc;
		for (unsigned n = 0; n < QD; n++) {
			if (memcmp(ios[n].buf, model + ios[n].offset, IO_BYTES) != 0) {
				fprintf(stderr, "volume %u: data differs at offset %llu\n", id,
					(unsigned long long)ios[n].offset);
				return -EIO;
			}
		}
		d->bytes_read += (uint64_t)QD * IO_BYTES;
		d->bytes_verified += (uint64_t)QD * IO_BYTES;
	}
	return 0;
}

/* Check every copy of every byte on the drives against the model. */
static int verify_copies(struct demo *d, const struct mesh_layout *l, const uint8_t *model)
{
	for (uint64_t off = 0; off < l->volume_bytes;) {
		struct mesh_extent e = mesh_layout_first_extent(l, off, l->volume_bytes - off);

		for (uint32_t c = 0; c < l->copies; c++) {
			struct mesh_location loc = mesh_layout_locate(l, &e, c);
			const uint8_t *disk = mesh_inproc_drive_bytes(d->host, loc.target, loc.drive);

			if (memcmp(disk + loc.offset, model + off, e.length) != 0)
				return -EIO;
		}
		off += e.length;
	}
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: mesh-demo [--seed N]\n"
		     "Runs the in-process mesh cluster demo and prints what it did.\n");
}

static int parse_args(int argc, char **argv, uint64_t *seed)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		char *end = NULL;

		switch (c) {
		case 's':
			errno = 0;
			*seed = strtoull(optarg, &end, 0);
			if (errno || !end || *end || *optarg == '-') {
				fprintf(stderr, "mesh-demo: --seed wants a non-negative integer, got \"%s\"\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mesh-demo: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static double wall_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const struct volume_plan plans[] = {
		{ "concat", { .kind = MESH_LAYOUT_CONCAT, .width = 2, .copies = 1 } },
		{ "stripe", { .kind = MESH_LAYOUT_STRIPE, .width = 4, .copies = 1, .stripe_unit = 64 * 1024 } },
		{ "mirror", { .kind = MESH_LAYOUT_MIRROR, .width = 1, .copies = 2 } },
		{ "stripe-mirror", { .kind = MESH_LAYOUT_STRIPE_MIRROR, .width = 3, .copies = 2, .stripe_unit = 32 * 1024 } },
	};
	enum { VOLUMES = sizeof(plans) / sizeof(plans[0]) };
	struct mesh_layout layouts[VOLUMES];
	struct demo d = { 0 };
	uint64_t seed = 1;
	double start = wall_seconds();
	uint8_t *model = malloc(VOLUME_BYTES), *bufs = malloc((size_t)QD * IO_BYTES);
	int rc = parse_args(argc, argv, &seed);

	if (rc || !model || !bufs)
		return 2;
	/* Line by line, so the hosts' log lines on stderr land in order. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	d.rng = seed;
	printf("mesh in-process demo, seed %llu\n", (unsigned long long)seed);
	rc = build_cluster(&d, seed);
	for (uint32_t v = 0; rc == 0 && v < VOLUMES; v++) {
		struct mesh_volume_spec spec = plans[v].spec;
		const char *why = NULL;
		uint64_t verified_before = d.bytes_verified;

		spec.bytes = VOLUME_BYTES;
		spec.first_group = v * 100;
		rc = mesh_placement_plan(&d.pool, &spec, &layouts[v], &why);
		if (rc) {
			fprintf(stderr, "volume %s: not placed: %s\n", plans[v].name, why);
			break;
		}
		print_layout(plans[v].name, &layouts[v]);
		rc = mesh_client_volume_add(d.client, v, &layouts[v]);
		if (rc == 0)
			rc = write_volume(&d, v, model, bufs);
		if (rc == 0)
			rc = verify_volume(&d, v, model, bufs);
		if (rc == 0)
			rc = verify_copies(&d, &layouts[v], model);
		if (rc) {
			fprintf(stderr, "volume %s: failed: %s\n", plans[v].name, strerror(-rc));
			break;
		}
		printf("    wrote %llu MiB, read back and verified %llu MiB, all %u cop%s match\n",
		       VOLUME_BYTES >> 20,
		       (unsigned long long)((d.bytes_verified - verified_before) >> 20),
		       layouts[v].copies, layouts[v].copies == 1 ? "y" : "ies");
		if (layouts[v].copies > 1) {
			/* Fail the first copy's drive: reads must come from the other. */
			const struct mesh_replica *r = &layouts[v].segments[0].replicas[0];

			mesh_inproc_drive_fail(d.host, r->target, r->drive, true);
			rc = verify_volume(&d, v, model, bufs);
			mesh_inproc_drive_fail(d.host, r->target, r->drive, false);
			if (rc) {
				fprintf(stderr, "volume %s: degraded read failed: %s\n", plans[v].name,
					strerror(-rc));
				break;
			}
			printf("    failed drive %u on node %u: reads still verified from the surviving copy\n",
			       r->drive, r->target);
		}
	}
	if (rc == 0) {
		struct mesh_client_stats cs;

		mesh_client_stats(d.client, &cs);
		printf("totals: %llu MiB written, %llu MiB read, %llu MiB verified, %llu I/Os, "
		       "%llu sub-requests, %llu read retries on another copy\n",
		       (unsigned long long)(d.bytes_written >> 20), (unsigned long long)(d.bytes_read >> 20),
		       (unsigned long long)(d.bytes_verified >> 20), (unsigned long long)cs.ios_done,
		       (unsigned long long)cs.subrequests_sent, (unsigned long long)cs.retries);
		for (uint32_t t = 0; t < TARGETS; t++) {
			struct mesh_target_stats ts;

			mesh_target_stats(mesh_inproc_node(d.host, t)->target, &ts);
			printf("    node %u: %llu reads, %llu writes, %llu MiB in, %llu MiB out, %llu drive errors\n",
			       t, (unsigned long long)ts.reads, (unsigned long long)ts.writes,
			       (unsigned long long)(ts.bytes_written >> 20),
			       (unsigned long long)(ts.bytes_read >> 20), (unsigned long long)ts.drive_errors);
		}
		printf("demo passed in %.2f s wall\n", wall_seconds() - start);
	}
	mesh_inproc_destroy(d.host);
	free(model);
	free(bufs);
	return rc ? 1 : 0;
}

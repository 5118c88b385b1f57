/*
 * tests/test_meshd.c: the daemon under faults. Each test writes a cluster
 * configuration file (runtime/conf.h) into a fresh directory, starts real
 * meshd processes (fork + exec of the binary ctest passes as argv[1]) on
 * free loopback ports, and drives them through libmesh in this process,
 * or through raw sockets where libmesh would never send such bytes. Every
 * test kills its daemons and removes its files in its tear-down, also
 * after a failed assertion.
 *
 * Checked: every layout reads back what was written, and each copy is on
 * its drive file where the plan says; bad names, files and ranges are
 * refused with their errors; malformed and truncated frames and messages
 * are dropped and the daemon keeps serving; a client that vanishes with
 * writes in flight harms no one; SIGKILL of a mirror's replica mid-write
 * loses no acknowledged write and writes go on after failover, and the
 * target rejoins, catches up when restarted and then carries the volume
 * alone; a full drive fails writes with an error, not a hang, and keeps
 * what it acknowledged; SIGTERM stops a daemon cleanly (exit 0) without
 * losing an acknowledged write.
 *
 * MESH_SEED=N repeats the random data; MESH_TEST_ONLY=PATTERN runs the
 * tests whose names match; MESH_TEST_KEEP=1 keeps each test's directory
 * (configuration and daemon logs); MESH_TEST_LOG=1 runs the daemons at
 * debug level and prints their logs at tear-down.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/layout.h"
#include "core/proto.h"
#include "core/rng.h"
#include "libmesh/libmesh.h"
#include "runtime/conf.h"
#include "runtime/host.h"

#define MS 1000000ull
#define BLOCK 4096u
#define TARGETS_MAX 4u
/* How long a daemon may take to start serving. */
#define START_WAIT_NS (10000 * MS)
/* How long a daemon may take to exit after a signal. */
#define EXIT_WAIT_NS (8000 * MS)
/* Short timing, so that failover happens within a second or two. */
#define CLUSTER_LINE "cluster lease=500ms io_timeout=4s heartbeat=50ms heartbeat_timeout=300ms\n"
#define IO_TIMEOUT_NS (4000 * MS)
/* Raw sockets wait this long for an answer or for the daemon to close. */
#define RAW_WAIT_MS 3000

static const char *meshd_path;
static uint64_t seed;

struct cluster {
	char dir[64];
	char shm_dir[64];          /* drives on tmpfs, when a test made it */
	char conf_path[128];
	char mnt[128];          /* a tmpfs this test mounted, or "" */
	unsigned targets;
	uint16_t port[TARGETS_MAX];
	pid_t pid[TARGETS_MAX]; /* 0: not running */
	struct mesh_conf *conf; /* the file as the daemons read it */
	uint64_t rng;
	void *scratch[2];       /* a test's buffers, freed at tear-down */
	const char *transport;  /* the cluster line's transport=; NULL: none (tcp) */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void fill_random(struct cluster *c, void *buf, size_t len)
{
	uint8_t *b = buf;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t r = mesh_rng_next(&c->rng);

		memcpy(b + i, &r, len - i < 8 ? len - i : 8);
	}
}

static void path_in(const struct cluster *c, char *out, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void path_in(const struct cluster *c, char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(out, cap, "%s/", c->dir);

	va_start(ap, fmt);
	vsnprintf(out + n, cap - (size_t)n, fmt, ap);
	va_end(ap);
}

/* ---- set-up and tear-down ---- */

static int cluster_setup(void **state)
{
	struct cluster *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	snprintf(c->dir, sizeof(c->dir), "/tmp/mesh-meshd-test-XXXXXX");
	if (!mkdtemp(c->dir)) {
		free(c);
		return -1;
	}
	path_in(c, c->conf_path, sizeof(c->conf_path), "mesh.conf");
	c->rng = seed | 1;
	*state = c;
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void log_print(const struct cluster *c, unsigned i)
{
	char path[160], line[512];
	FILE *f;

	path_in(c, path, sizeof(path), "t%u.log", i);
	f = fopen(path, "r");
	if (!f)
		return;
	fprintf(stderr, "---- meshd target %u (%s)\n", i, path);
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fclose(f);
}

static int cluster_teardown(void **state)
{
	struct cluster *c = *state;

	/* SIGTERM first: a daemon stopped cleanly closes its endpoints, and
	 * fabric:shm's leave no region behind in /dev/shm. */
	for (unsigned i = 0; i < TARGETS_MAX; i++) {
		if (c->pid[i] > 0)
			kill(c->pid[i], SIGTERM);
	}
	for (unsigned i = 0; i < TARGETS_MAX; i++) {
		uint64_t deadline = now_ns() + EXIT_WAIT_NS;

		if (c->pid[i] <= 0)
			continue;
		while (waitpid(c->pid[i], NULL, WNOHANG) == 0) {
			if (now_ns() >= deadline) {
				kill(c->pid[i], SIGKILL);
				waitpid(c->pid[i], NULL, 0);
				break;
			}
			usleep(10000);
		}
	}
	if (getenv("MESH_TEST_LOG")) {
		for (unsigned i = 0; i < c->targets; i++)
			log_print(c, i);
	}
	if (c->mnt[0] && umount2(c->mnt, MNT_DETACH))
		fprintf(stderr, "umount %s: %s\n", c->mnt, strerror(errno));
	if (getenv("MESH_TEST_KEEP"))
		fprintf(stderr, "kept %s\n", c->dir);
	else
		nftw(c->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	if (c->shm_dir[0] && !getenv("MESH_TEST_KEEP"))
		nftw(c->shm_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	mesh_conf_free(c->conf);
	free(c->scratch[0]);
	free(c->scratch[1]);
	free(c);
	return 0;
}

/* Free loopback ports: bound to port 0, read back, then let go. A port
 * could be taken again before meshd binds it; unlikely enough here. */
static void ports_pick(struct cluster *c, unsigned count)
{
	int fds[TARGETS_MAX];

	for (unsigned i = 0; i < count; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(sa);

		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fds[i] >= 0);
		assert_int_equal(bind(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(getsockname(fds[i], (struct sockaddr *)&sa, &len), 0);
		c->port[i] = ntohs(sa.sin_port);
	}
	for (unsigned i = 0; i < count; i++)
		close(fds[i]);
}

/*
 * Write the configuration: @targets targets on free ports, each in its
 * own rack with one drive of @drive_size, the drive files in @drive_dir
 * (NULL: the test's directory), then @volumes (volume lines). The plan is
 * loaded into c->conf, as every daemon and client will make it.
 */
static void cluster_configure(struct cluster *c, unsigned targets, const char *drive_dir,
			      const char *drive_size, const char *volumes)
{
	char err[512];
	FILE *f;

	assert_true(targets <= TARGETS_MAX);
	c->targets = targets;
	ports_pick(c, targets);
	f = fopen(c->conf_path, "w");
	assert_non_null(f);
	fprintf(f, "# written by tests/test_meshd.c\n" CLUSTER_LINE);
	if (c->transport)
		fprintf(f, "cluster transport=%s\n", c->transport);
	for (unsigned i = 0; i < targets; i++)
		fprintf(f, "target %u addr=127.0.0.1:%u rack=%u meta=%s/meta%u\n", i, c->port[i], i,
			c->dir, i);
	for (unsigned i = 0; i < targets; i++)
		fprintf(f, "drive %u path=%s/drive%u size=%s\n", i, drive_dir ? drive_dir : c->dir,
			i, drive_size);
	fputs(volumes, f);
	assert_int_equal(fclose(f), 0);
	if (mesh_conf_load(c->conf_path, &c->conf, err, sizeof(err)))
		fail_msg("the test's configuration: %s", err);
}

/* The file of drive @drive on target @target. */
static const char *drive_path(const struct cluster *c, uint32_t target, uint32_t drive)
{
	for (uint32_t i = 0; i < c->conf->drive_count; i++) {
		const struct mesh_conf_drive *d = &c->conf->drives[i];

		if (d->target == target && d->index == drive)
			return d->path;
	}
	fail_msg("no drive %u on target %u", drive, target);
	return NULL;
}

static const struct mesh_layout *layout_of(const struct cluster *c, const char *volume)
{
	int v = mesh_conf_volume_find(c->conf, volume);

	assert_true(v >= 0);
	return &c->conf->volumes[v].layout;
}

static bool log_has(const struct cluster *c, unsigned i, const char *needle)
{
	char path[160], line[512];
	bool found = false;
	FILE *f;

	path_in(c, path, sizeof(path), "t%u.log", i);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

static int tcp_connect(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Whether target @i's daemon is still running (not exited, not a zombie). */
static bool target_alive(struct cluster *c, unsigned i)
{
	int status;

	if (c->pid[i] <= 0)
		return false;
	if (waitpid(c->pid[i], &status, WNOHANG) == c->pid[i]) {
		fprintf(stderr, "meshd target %u exited: status 0x%x\n", i, status);
		log_print(c, i);
		c->pid[i] = 0;
		return false;
	}
	return kill(c->pid[i], 0) == 0;
}

/* Start target @i's daemon (its output goes to t<i>.log). */
static void target_spawn(struct cluster *c, unsigned i)
{
	char log[160], id[16];
	pid_t pid;

	path_in(c, log, sizeof(log), "t%u.log", i);
	snprintf(id, sizeof(id), "%u", i);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execl(meshd_path, "meshd", "--config", c->conf_path, "--target", id, "--log-level",
		      getenv("MESH_TEST_LOG") ? "debug" : "info", (char *)NULL);
		_exit(127);
	}
	c->pid[i] = pid;
}

/* Wait until target @i serves: its log says so and its port takes
 * connections. */
static void target_wait(struct cluster *c, unsigned i)
{
	uint64_t deadline = now_ns() + START_WAIT_NS;
	char serving[48];

	snprintf(serving, sizeof(serving), "target %u serving", i);
	for (;;) {
		int fd;

		if (!target_alive(c, i))
			fail_msg("meshd target %u exited while starting (log above)", i);
		if (log_has(c, i, serving) && (fd = tcp_connect(c->port[i])) >= 0) {
			close(fd);
			return;
		}
		if (now_ns() > deadline) {
			log_print(c, i);
			fail_msg("meshd target %u not serving after %llu ms", i,
				 (unsigned long long)(START_WAIT_NS / MS));
		}
		sleep_ms(10);
	}
}

static void target_start(struct cluster *c, unsigned i)
{
	target_spawn(c, i);
	target_wait(c, i);
}

/* All at once: a target that starts more than heartbeat_timeout after
 * its peers is suspected by them, and its replicas are marked stale
 * before it ever served. */
static void cluster_start(struct cluster *c)
{
	for (unsigned i = 0; i < c->targets; i++)
		target_spawn(c, i);
	for (unsigned i = 0; i < c->targets; i++)
		target_wait(c, i);
}

/* Send @sig to target @i and wait for it to exit; its wait status. */
static int target_signal(struct cluster *c, unsigned i, int sig)
{
	uint64_t deadline = now_ns() + EXIT_WAIT_NS;
	int status = 0;

	assert_true(c->pid[i] > 0);
	assert_int_equal(kill(c->pid[i], sig), 0);
	while (waitpid(c->pid[i], &status, WNOHANG) == 0) {
		if (now_ns() > deadline) {
			log_print(c, i);
			fail_msg("meshd target %u did not exit within %llu ms of signal %d", i,
				 (unsigned long long)(EXIT_WAIT_NS / MS), sig);
		}
		sleep_ms(5);
	}
	c->pid[i] = 0;
	return status;
}

static struct mesh_volume *volume_open(const struct cluster *c, const char *name,
				       uint32_t queue_depth)
{
	struct mesh_volume_options o = {
		.config = c->conf_path, .volume = name, .queue_depth = queue_depth,
		.log_level = getenv("MESH_TEST_LOG") ? MESH_LOG_DEBUG : MESH_LOG_ERROR,
	};
	struct mesh_volume *v = NULL;
	int rc = mesh_volume_open(&o, &v);

	if (rc)
		fail_msg("mesh_volume_open %s: %s", name, strerror(-rc));
	return v;
}

static void file_read(const char *path, uint64_t offset, void *buf, uint32_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)offset), (ssize_t)len);
	close(fd);
}

/* A fresh random block written and read back through @v at @offset: the
 * daemons serve. */
static void volume_serves(struct cluster *c, struct mesh_volume *v, uint64_t offset)
{
	uint8_t out[BLOCK], in[BLOCK];
	int rc;

	fill_random(c, out, sizeof(out));
	rc = mesh_volume_pwrite(v, out, BLOCK, offset);
	if (rc)
		fail_msg("write at %llu: %s", (unsigned long long)offset, strerror(-rc));
	memset(in, 0, sizeof(in));
	rc = mesh_volume_pread(v, in, BLOCK, offset);
	if (rc)
		fail_msg("read at %llu: %s", (unsigned long long)offset, strerror(-rc));
	assert_memory_equal(in, out, BLOCK);
}

/* ---- 1: layouts ---- */

#define VOLUME_BYTES_MAX (8u << 20)

/* Write random data at sector-aligned places of volume @name (shadowed in
 * @shadow), read the whole volume back, then find every copy of every
 * block on its drive file where the plan puts it. */
static void layout_round_trip(struct cluster *c, const char *name, uint8_t *shadow, uint8_t *buf,
			      struct mesh_client_stats *stats)
{
	const struct mesh_layout *l = layout_of(c, name);
	struct mesh_volume *v = volume_open(c, name, 8);
	uint64_t bytes = mesh_volume_bytes(v);
	const uint64_t unit = l->stripe_unit ? l->stripe_unit : 64 * 1024;
	/* The first segment's end, where a concat or mirror moves on. */
	const uint64_t seg_end = l->segments[0].bytes < bytes - 2 * BLOCK
					 ? l->segments[0].bytes : bytes - 2 * BLOCK;
	/* Offsets and lengths that cross blocks, stripe units and segments,
	 * sector-sized pieces, the largest I/O and the volume's last block. */
	const struct { uint64_t offset; uint32_t length; } ios[] = {
		{ 0, BLOCK },
		{ 3 * BLOCK, 5 * BLOCK },
		{ unit - BLOCK, 2 * BLOCK },
		{ unit - MESH_SECTOR_BYTES, 3 * MESH_SECTOR_BYTES },
		{ 7 * MESH_SECTOR_BYTES, MESH_SECTOR_BYTES },
		{ 2 * unit + 512, 40960 },
		{ bytes / 2 - 256 * 1024, MESH_VOLUME_IO_BYTES_MAX },
		{ seg_end - 2 * BLOCK, 4 * BLOCK },
		{ bytes - BLOCK, BLOCK },
		{ 3 * BLOCK, 2 * BLOCK }, /* over an earlier write */
	};

	assert_int_equal(bytes, l->volume_bytes);
	assert_true(bytes <= VOLUME_BYTES_MAX);
	memset(shadow, 0, bytes);
	for (unsigned i = 0; i < sizeof(ios) / sizeof(*ios); i++) {
		int rc;

		assert_true(ios[i].offset + ios[i].length <= bytes);
		fill_random(c, shadow + ios[i].offset, ios[i].length);
		rc = mesh_volume_pwrite(v, shadow + ios[i].offset, ios[i].length, ios[i].offset);
		if (rc)
			fail_msg("%s: write [%llu +%u]: %s", name,
				 (unsigned long long)ios[i].offset, ios[i].length, strerror(-rc));
	}
	for (uint64_t at = 0; at < bytes; at += MESH_VOLUME_IO_BYTES_MAX) {
		uint32_t len = (uint32_t)(bytes - at < MESH_VOLUME_IO_BYTES_MAX
						  ? bytes - at : MESH_VOLUME_IO_BYTES_MAX);
		int rc = mesh_volume_pread(v, buf, len, at);

		if (rc)
			fail_msg("%s: read [%llu +%u]: %s", name, (unsigned long long)at, len,
				 strerror(-rc));
		for (uint32_t i = 0; i < len; i++) {
			if (buf[i] != shadow[at + i])
				fail_msg("%s: byte %llu reads back 0x%02x, 0x%02x was written", name,
					 (unsigned long long)(at + i), buf[i], shadow[at + i]);
		}
	}
	/* Again a block at a time: reads this small go one-sided where the
	 * transport and the drives allow it. */
	for (uint64_t at = 0; at < 64 * BLOCK && at < bytes; at += BLOCK) {
		int rc = mesh_volume_pread(v, buf, BLOCK, at);

		if (rc)
			fail_msg("%s: read [%llu +%u]: %s", name, (unsigned long long)at, BLOCK,
				 strerror(-rc));
		if (memcmp(buf, shadow + at, BLOCK))
			fail_msg("%s: block at %llu reads back other bytes than were written", name,
				 (unsigned long long)at);
	}
	if (stats)
		mesh_volume_stats(v, stats);
	mesh_volume_close(v);
	/* A replica marked stale lacks writes by design: say so rather than
	 * blame its drive. */
	for (uint32_t sg = 0; sg < l->segment_count; sg++) {
		char changed[64];

		snprintf(changed, sizeof(changed), "toma: group %llu: accepted epoch",
			 (unsigned long long)l->segments[sg].group);
		for (unsigned i = 0; i < c->targets; i++) {
			if (log_has(c, i, changed))
				fail_msg("%s: group %llu changed configuration (target %u's log: \"%s\"): "
					 "a replica was suspected while nothing failed", name,
					 (unsigned long long)l->segments[sg].group, i, changed);
		}
	}
	for (uint64_t at = 0; at < bytes; at += BLOCK) {
		struct mesh_extent e;

		assert_int_equal(mesh_layout_map(l, at, BLOCK, &e, 1), 1);
		for (unsigned copy = 0; copy < l->copies; copy++) {
			struct mesh_location loc = mesh_layout_locate(l, &e, copy);

			file_read(drive_path(c, loc.target, loc.drive), loc.offset, buf, BLOCK);
			if (memcmp(buf, shadow + at, BLOCK))
				fail_msg("%s: block at %llu: copy %u on target %u drive %u offset %llu "
					 "differs from what was written", name,
					 (unsigned long long)at, copy, loc.target, loc.drive,
					 (unsigned long long)loc.offset);
		}
	}
}

static void every_layout_reads_back_and_each_copy_is_on_its_drive(void **state)
{
	struct cluster *c = *state;
	static const char *const names[] = { "vconcat", "vstripe", "vmirror2", "vmirror3",
					     "vsm2", "vsm3" };
	uint8_t *shadow = c->scratch[0] = malloc(VOLUME_BYTES_MAX);
	uint8_t *buf = c->scratch[1] = malloc(MESH_VOLUME_IO_BYTES_MAX);

	assert_non_null(shadow);
	assert_non_null(buf);
	cluster_configure(c, 4, NULL, "64MiB",
			  "volume vconcat layout=concat size=6MiB width=3\n"
			  "volume vstripe layout=stripe size=6MiB width=3 stripe_unit=64KiB\n"
			  "volume vmirror2 layout=mirror size=4MiB copies=2\n"
			  "volume vmirror3 layout=mirror size=4MiB copies=3 width=2\n"
			  "volume vsm2 layout=stripe-mirror size=4MiB width=2 copies=2 "
			  "stripe_unit=64KiB\n"
			  "volume vsm3 layout=stripe-mirror size=4MiB width=2 copies=3 "
			  "stripe_unit=32KiB\n");
	cluster_start(c);
	for (unsigned i = 0; i < sizeof(names) / sizeof(*names); i++)
		layout_round_trip(c, names[i], shadow, buf, NULL);
	for (unsigned i = 0; i < c->targets; i++)
		assert_true(target_alive(c, i));
}

/*
 * The same daemons and clients over libfabric, with @provider chosen at
 * run time from the cluster file: a mirror and a striped mirror read back
 * and every copy is on its drive, and each daemon says what it speaks.
 * The drives are files on tmpfs, which targets can map: reads up to
 * MESH_CLIENT_RMA_BYTES_MAX come from the tails' memory one-sided
 * (docs/toma.md), and none is refused.
 */
static void layouts_over_fabric(struct cluster *c, const char *provider)
{
	char transport[32], said[64];
	struct mesh_client_stats st;
	uint8_t *shadow = c->scratch[0] = malloc(VOLUME_BYTES_MAX);
	uint8_t *buf = c->scratch[1] = malloc(MESH_VOLUME_IO_BYTES_MAX);

	assert_non_null(shadow);
	assert_non_null(buf);
#ifndef MESH_HAVE_FABRIC
	fprintf(stderr, "this build has no libfabric (libfabric-dev): skipped\n");
	skip();
#endif
	snprintf(transport, sizeof(transport), "fabric:%s", provider);
	c->transport = transport;
	snprintf(c->shm_dir, sizeof(c->shm_dir), "/dev/shm/mesh-meshd-test-XXXXXX");
	if (!mkdtemp(c->shm_dir))
		fail_msg("mkdtemp %s: %s", c->shm_dir, strerror(errno));
	cluster_configure(c, 3, c->shm_dir, "32MiB",
			  "volume vmirror2 layout=mirror size=4MiB copies=2\n"
			  "volume vsm2 layout=stripe-mirror size=4MiB width=2 copies=2 "
			  "stripe_unit=64KiB\n");
	cluster_start(c);
	for (unsigned i = 0; i < c->targets; i++) {
		snprintf(said, sizeof(said), "target %u serving over %s", i, transport);
		if (!log_has(c, i, said))
			fail_msg("target %u's log lacks \"%s\"", i, said);
	}
	layout_round_trip(c, "vmirror2", shadow, buf, &st);
	if (st.reads_one_sided == 0 || st.one_sided_failed)
		fail_msg("vmirror2: %llu reads one-sided, %llu of them refused",
			 (unsigned long long)st.reads_one_sided,
			 (unsigned long long)st.one_sided_failed);
	layout_round_trip(c, "vsm2", shadow, buf, &st);
	if (st.reads_one_sided == 0 || st.one_sided_failed)
		fail_msg("vsm2: %llu reads one-sided, %llu of them refused",
			 (unsigned long long)st.reads_one_sided,
			 (unsigned long long)st.one_sided_failed);
	for (unsigned i = 0; i < c->targets; i++)
		assert_true(target_alive(c, i));
}

static void layouts_read_back_over_fabric_tcp(void **state)
{
	layouts_over_fabric(*state, "tcp");
}

/* shm polls: the daemons spin a core each while it runs. */
static void layouts_read_back_over_fabric_shm(void **state)
{
	layouts_over_fabric(*state, "shm");
}

/* ---- 2: refusals ---- */

static int open_status(const char *config, const char *volume)
{
	struct mesh_volume_options o = { .config = config, .volume = volume };
	struct mesh_volume *v = NULL;
	int rc = mesh_volume_open(&o, &v);

	if (rc == 0)
		mesh_volume_close(v);
	return rc;
}

static void text_write(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Run meshd with @argv and return its exit status (it must exit). */
static int meshd_run(struct cluster *c, const char *const *args)
{
	const char *argv[16] = { "meshd" };
	char log[160];
	uint64_t deadline = now_ns() + EXIT_WAIT_NS;
	int status, n = 1;
	pid_t pid;

	for (; args[n - 1]; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	path_in(c, log, sizeof(log), "refused.log");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execv(meshd_path, (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			fail_msg("meshd %s %s ... did not exit", args[0], args[1]);
		}
		sleep_ms(5);
	}
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* What meshd_run's daemons said includes @needle. */
static void refused_log_has(struct cluster *c, const char *needle)
{
	char path[160], text[8192];
	ssize_t n;
	int fd;

	path_in(c, path, sizeof(path), "refused.log");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	assert_true(n >= 0);
	text[n] = '\0';
	if (!strstr(text, needle))
		fail_msg("meshd did not say \"%s\"; it said:\n%s", needle, text);
}

static void bad_names_files_and_ranges_are_refused_with_their_errors(void **state)
{
	struct cluster *c = *state;
	char bad[160], id[16];
	static const char *const bad_files[] = {
		"cluster lease=500ms\nfrobnicate 3\n",              /* unknown statement */
		"target 0 addr=127.0.0.1 meta=/tmp/x\n",            /* no port */
		"cluster lease=5s io_timeout=1s\ntarget 0 addr=127.0.0.1:1 meta=/tmp/x\n",
		"target 0 addr=127.0.0.1:1 meta=/tmp/x\ndrive 0 path=/tmp/y size=1000\n",
		/* an unknown layout */
		"target 0 addr=127.0.0.1:1 meta=/tmp/x\ndrive 0 memory size=1MiB\nvolume v layout=raid5 size=1MiB\n",
	};
	uint8_t buf[2 * BLOCK];
	struct mesh_volume *v;
	uint64_t bytes;

	cluster_configure(c, 1, NULL, "16MiB", "volume v0 layout=concat size=8MiB\n");
	cluster_start(c);
	assert_int_equal(open_status(c->conf_path, "no-such-volume"), -ENOENT);
	assert_int_equal(open_status(c->conf_path, ""), -ENOENT);
	assert_int_equal(open_status(NULL, "v0"), -EINVAL);
	assert_int_equal(open_status(c->conf_path, NULL), -EINVAL);
	path_in(c, bad, sizeof(bad), "bad.conf");
	for (unsigned i = 0; i < sizeof(bad_files) / sizeof(*bad_files); i++) {
		text_write(bad, bad_files[i], strlen(bad_files[i]));
		if (open_status(bad, "v0") != -EINVAL)
			fail_msg("bad file %u (\"%s\") not refused with -EINVAL", i, bad_files[i]);
	}
	text_write(bad, "target 0 addr=127.0.0.1:1 meta=/tmp/x\n\0\n", 40);
	assert_int_equal(open_status(bad, "v0"), -EINVAL);
	{
		struct mesh_volume_options o = { .config = c->conf_path, .volume = "v0",
						 .transport = "carrier-pigeon" };

		assert_int_equal(mesh_volume_open(&o, &v), -EPROTONOSUPPORT);
		o.transport = NULL;
		o.queue_depth = MESH_VOLUME_QUEUE_DEPTH_MAX + 1;
		assert_int_equal(mesh_volume_open(&o, &v), -EINVAL);
		o.queue_depth = 0;
		o.client_id = 7; /* a target's id range */
		assert_int_equal(mesh_volume_open(&o, &v), -EINVAL);
	}
	/* The daemon refuses the same files, and exits rather than hangs. */
	snprintf(id, sizeof(id), "%u", 0);
	assert_int_equal(meshd_run(c, (const char *const[]){ "--config", bad, "--target", id,
							      NULL }), 1);
	assert_int_equal(meshd_run(c, (const char *const[]){ "--config", c->conf_path,
							      "--target", "1", NULL }), 1);
	assert_int_equal(meshd_run(c, (const char *const[]){ "--config", c->conf_path, NULL }),
			 2);
	assert_int_equal(meshd_run(c, (const char *const[]){ "--config", c->conf_path,
							      "--target", "0", "--log-level",
							      "loud", NULL }), 2);
	/* A transport that does not exist, and one whose hardware does not:
	 * each is refused at start with what is wrong. */
	assert_int_equal(meshd_run(c, (const char *const[]){ "--config", c->conf_path,
							      "--target", "0", "--transport",
							      "carrier-pigeon", NULL }), 1);
	refused_log_has(c, "transport \"carrier-pigeon\": expected tcp, fabric");
#ifdef MESH_HAVE_VERBS
	if (meshd_run(c, (const char *const[]){ "--config", c->conf_path, "--target", "0",
						 "--transport", "verbs:mesh_no_such_dev", NULL }) != 1)
		fail_msg("meshd --transport verbs:mesh_no_such_dev did not exit 1");
	refused_log_has(c, "mesh_no_such_dev");
#endif

	v = volume_open(c, "v0", 8);
	bytes = mesh_volume_bytes(v);
	assert_int_equal(bytes, 8u << 20);
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(mesh_volume_submit(v, MESH_IO_WRITE, buf, BLOCK, bytes, 1), -ERANGE);
	assert_int_equal(mesh_volume_submit(v, MESH_IO_READ, buf, 2 * BLOCK, bytes - BLOCK, 1),
			 -ERANGE);
	assert_int_equal(mesh_volume_submit(v, MESH_IO_READ, buf, BLOCK, UINT64_MAX - 511, 1),
			 -ERANGE);
	assert_int_equal(mesh_volume_submit(v, MESH_IO_WRITE, buf, BLOCK, 1ull << 62, 1), -ERANGE);
	assert_int_equal(mesh_volume_pwrite(v, buf, BLOCK, bytes), -ERANGE);
	assert_int_equal(mesh_volume_submit(v, MESH_IO_WRITE, buf, BLOCK, 100, 1), -EINVAL);
	assert_int_equal(mesh_volume_submit(v, MESH_IO_WRITE, buf, 100, 0, 1), -EINVAL);
	assert_int_equal(mesh_volume_submit(v, MESH_IO_READ, buf, BLOCK + 1, 0, 1), -EINVAL);
	assert_int_equal(mesh_volume_submit(v, MESH_IO_READ, buf, 0, 0, 1), -EINVAL);
	assert_int_equal(mesh_volume_submit(v, MESH_IO_READ, NULL, BLOCK, 0, 1), -EINVAL);
	assert_int_equal(mesh_volume_submit(v, (enum mesh_io_op)7, buf, BLOCK, 0, 1), -EINVAL);
	assert_int_equal(mesh_volume_pread(v, buf, BLOCK, 4097), -EINVAL);
	assert_int_equal(mesh_volume_submit(v, MESH_IO_WRITE, buf, 2u << 20, 0, 1), -E2BIG);
	assert_int_equal(mesh_volume_inflight(v), 0);
	/* Nothing refused reached the daemon or stuck in the client. */
	volume_serves(c, v, bytes - BLOCK);
	mesh_volume_close(v);
	assert_true(target_alive(c, 0));
}

/* ---- 3: malformed input on the wire ---- */

static uint32_t raw_id_next = MESH_CONF_CLIENT_ID_MIN + 0x1000;

static int raw_connect(const struct cluster *c, unsigned i)
{
	struct timeval tv = { .tv_sec = RAW_WAIT_MS / 1000,
			      .tv_usec = (RAW_WAIT_MS % 1000) * 1000 };
	int fd = tcp_connect(c->port[i]), one = 1;

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
	return fd;
}

static void le32_put(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void raw_send(int fd, const void *buf, size_t len)
{
	assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* A hello naming a fresh client id; the id. */
static uint32_t raw_hello(int fd)
{
	uint8_t frame[4 + 8];
	uint32_t id = raw_id_next++;

	le32_put(frame, 8);
	le32_put(frame + 4, MESH_HOST_HELLO_MAGIC);
	le32_put(frame + 8, id);
	raw_send(fd, frame, sizeof(frame));
	return id;
}

/* A frame around @len bytes of @msg. */
static void raw_frame(int fd, const void *msg, uint32_t len)
{
	uint8_t hdr[4];

	le32_put(hdr, len);
	raw_send(fd, hdr, 4);
	if (len)
		raw_send(fd, msg, len);
}

/* The daemon closes @fd: EOF (or a reset) comes within RAW_WAIT_MS. */
static void raw_expect_closed(int fd, const char *what)
{
	uint8_t b[256];
	ssize_t n;

	do
		n = recv(fd, b, sizeof(b), 0);
	while (n > 0);
	if (n < 0 && errno != ECONNRESET)
		fail_msg("%s: the daemon kept the connection (recv: %s)", what, strerror(errno));
	close(fd);
}

static int recv_all(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, (uint8_t *)buf + got, len - got, 0);

		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* The next message on @fd, decoded into @m (its payload in @buf). */
static void raw_recv(int fd, struct mesh_msg *m, uint8_t *buf, size_t cap, const char *what)
{
	uint8_t hdr[4];
	uint32_t len;
	int rc;

	if (recv_all(fd, hdr, 4))
		fail_msg("%s: no answer (%s)", what, strerror(errno));
	len = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 |
	      (uint32_t)hdr[3] << 24;
	assert_true(len > 0 && len <= cap);
	if (recv_all(fd, buf, len))
		fail_msg("%s: the answer was cut short", what);
	rc = mesh_proto_decode(buf, len, m);
	if (rc)
		fail_msg("%s: the answer does not decode: %s", what, mesh_proto_strerror(rc));
}

/* An IO_READ of @length bytes at @offset of @drive, encoded into @buf. */
static size_t read_request(uint8_t *buf, size_t cap, uint64_t req_id, uint64_t group,
			   uint32_t drive, uint64_t offset, uint32_t length)
{
	struct mesh_msg m = {
		.hdr = { .type = MESH_MSG_IO_READ, .req_id = req_id },
		.u.io = { .group = group, .drive = drive, .offset = offset, .length = length },
	};
	int n = mesh_proto_encode(&m, buf, cap);

	assert_true(n > (int)MESH_PROTO_HEADER_BYTES);
	if (n <= (int)MESH_PROTO_HEADER_BYTES)
		abort(); /* not reached; tells the optimiser that n - 3 is in the buffer */
	return (size_t)n;
}

/* Send a read of @drive at @offset and expect it refused with @code. */
static void raw_read_refused(int fd, uint64_t group, uint32_t drive, uint64_t offset, int code,
			     const char *what)
{
	static uint8_t buf[MESH_PROTO_MSG_MAX];
	uint8_t req[MESH_PROTO_PREFIX_MAX];
	uint64_t req_id = 0x5eed0000 + (uint64_t)offset / BLOCK + drive;
	size_t n = read_request(req, sizeof(req), req_id, group, drive, offset, BLOCK);
	struct mesh_msg m;
	int status = 0; /* set below, or the test has failed */

	raw_frame(fd, req, (uint32_t)n);
	raw_recv(fd, &m, buf, MESH_PROTO_MSG_MAX, what);
	assert_int_equal(m.hdr.req_id, req_id);
	if (m.hdr.type == MESH_MSG_IO_REPLY)
		status = m.u.io_reply.status, assert_int_equal(m.u.io_reply.length, 0);
	else if (m.hdr.type == MESH_MSG_ERROR)
		status = m.u.error.code;
	else
		fail_msg("%s: answered with %s", what, mesh_proto_type_name(m.hdr.type));
	if (status != code)
		fail_msg("%s: status %d (%s), expected %d (%s)", what, status, strerror(-status),
			 code, strerror(-code));
}

static void malformed_frames_and_messages_are_dropped_and_the_daemon_serves_on(void **state)
{
	struct cluster *c = *state;
	const struct mesh_layout *l;
	struct mesh_volume *v;
	uint8_t msg[MESH_PROTO_PREFIX_MAX], junk[64];
	uint64_t group, drive_bytes = 16u << 20;
	size_t n;
	int fd;

	cluster_configure(c, 1, NULL, "16MiB", "volume v0 layout=concat size=8MiB\n");
	cluster_start(c);
	l = layout_of(c, "v0");
	group = l->segments[0].group;
	v = volume_open(c, "v0", 8);
	volume_serves(c, v, 0);

	/* Bytes that are not a frame, then a frame that is not a hello. */
	fd = raw_connect(c, 0);
	raw_send(fd, "GET / HTTP/1.0\r\n\r\n", 18);
	raw_expect_closed(fd, "an HTTP request");
	volume_serves(c, v, BLOCK);
	fd = raw_connect(c, 0);
	memset(junk, 0xee, sizeof(junk));
	raw_frame(fd, junk, 40);
	raw_expect_closed(fd, "a 40-byte frame before the hello");
	fd = raw_connect(c, 0);
	le32_put(junk, 0x6873656e); /* a hello with the wrong magic */
	le32_put(junk + 4, MESH_CONF_CLIENT_ID_MIN + 1);
	raw_frame(fd, junk, 8);
	raw_expect_closed(fd, "a hello with a bad magic");
	volume_serves(c, v, 2 * BLOCK);

	/* After a good hello: frames of impossible lengths. */
	static const uint32_t bad_lengths[] = { 0, MESH_PROTO_MSG_MAX + 1, 0x7fffffffu,
						0xffffffffu };
	for (unsigned i = 0; i < sizeof(bad_lengths) / sizeof(*bad_lengths); i++) {
		char what[64];
		uint8_t hdr[4];

		snprintf(what, sizeof(what), "a frame of %u bytes", bad_lengths[i]);
		fd = raw_connect(c, 0);
		raw_hello(fd);
		le32_put(hdr, bad_lengths[i]);
		raw_send(fd, hdr, 4);
		raw_send(fd, junk, 16);
		raw_expect_closed(fd, what);
		volume_serves(c, v, 3 * BLOCK);
	}

	/* Messages that do not decode are dropped; the connection stays and
	 * a good request on it is still answered. */
	fd = raw_connect(c, 0);
	raw_hello(fd);
	n = read_request(msg, sizeof(msg), 1, group, 0, 0, BLOCK);
	raw_frame(fd, msg, (uint32_t)n - 4);          /* cut short */
	raw_frame(fd, msg, MESH_PROTO_HEADER_BYTES - 1); /* not even a header */
	msg[n - 3] ^= 0x40;                           /* a body bit flipped: CRC */
	raw_frame(fd, msg, (uint32_t)n);
	msg[n - 3] ^= 0x40;
	msg[0] ^= 0xff;                               /* magic */
	raw_frame(fd, msg, (uint32_t)n);
	msg[0] ^= 0xff;
	msg[4] = 99;                                  /* header version */
	raw_frame(fd, msg, (uint32_t)n);
	read_request(msg, sizeof(msg), 2, group, 0, 0, BLOCK);
	msg[5] = MESH_MSG_TYPE_END + 3;               /* type */
	raw_frame(fd, msg, (uint32_t)n);
	memset(junk, 0xa5, sizeof(junk));
	raw_frame(fd, junk, sizeof(junk));            /* noise */
	raw_read_refused(fd, group, 0, drive_bytes, -ERANGE,
			 "a read past the drive after bad messages");
	/* Past the end, straddling it, far past it, and on no drive. */
	raw_read_refused(fd, group, 0, drive_bytes - BLOCK / 2, -ERANGE,
			 "a read over the drive's end");
	raw_read_refused(fd, group, 0, UINT64_MAX - 2 * BLOCK, -ERANGE,
			 "a read near 2^64");
	raw_read_refused(fd, group, 5, 0, -ENODEV, "a read of drive 5");
	close(fd);
	volume_serves(c, v, 4 * BLOCK);

	/* A frame cut off by the peer going away mid-frame. */
	fd = raw_connect(c, 0);
	raw_hello(fd);
	n = read_request(msg, sizeof(msg), 3, group, 0, 0, BLOCK);
	{
		uint8_t hdr[4];

		le32_put(hdr, (uint32_t)n);
		raw_send(fd, hdr, 4);
		raw_send(fd, msg, 10);
	}
	close(fd);
	/* A hello alone, then gone. */
	fd = raw_connect(c, 0);
	raw_hello(fd);
	close(fd);
	volume_serves(c, v, 5 * BLOCK);
	mesh_volume_close(v);
	assert_true(target_alive(c, 0));
}

/* ---- 4: a client gone mid-I/O ---- */

#define QD 32u

/* In a child: open the volume, get one write done (lease, connections),
 * then put a queue full of writes on the wire and leave without polling,
 * or (@spin) keep writing until killed. Never returns. */
static void child_writer(struct cluster *c, bool spin)
{
	struct mesh_volume *v = NULL;
	struct mesh_volume_options o = { .config = c->conf_path, .volume = "v0",
					 .queue_depth = QD };
	static uint8_t bufs[QD][64 * 1024];
	struct mesh_io_done done[QD];

	if (mesh_volume_open(&o, &v) || mesh_volume_pwrite(v, bufs[0], BLOCK, 0))
		_exit(3);
	for (unsigned i = 0; i < QD; i++) {
		memset(bufs[i], (int)(0xc0 + i), sizeof(bufs[i]));
		if (mesh_volume_submit(v, MESH_IO_WRITE, bufs[i], sizeof(bufs[i]),
				       (uint64_t)i * sizeof(bufs[i]), i))
			_exit(4);
	}
	while (spin) {
		int got = mesh_volume_poll(v, done, 1, QD, 100 * MS);

		for (int i = 0; i < got; i++) {
			uint64_t k = done[i].cookie;

			if (mesh_volume_submit(v, MESH_IO_WRITE, bufs[k], sizeof(bufs[k]),
					       k * sizeof(bufs[k]), k))
				_exit(5);
		}
	}
	_exit(0);
}

static void a_client_gone_mid_io_leaves_the_daemons_serving_others(void **state)
{
	struct cluster *c = *state;
	struct mesh_volume *v;
	int status;
	pid_t child;

	cluster_configure(c, 3, NULL, "32MiB",
			  "volume v0 layout=stripe-mirror size=8MiB width=2 copies=2\n");
	cluster_start(c);

	/* Leaves at once with a queue full of writes on the wire. */
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		child_writer(c, false);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	v = volume_open(c, "v0", 8);
	volume_serves(c, v, 0);
	volume_serves(c, v, 5 * BLOCK);

	/* Killed while writing as fast as it can. */
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		child_writer(c, true);
	sleep_ms(300);
	assert_int_equal(waitpid(child, &status, WNOHANG), 0); /* still writing */
	assert_int_equal(kill(child, SIGKILL), 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFSIGNALED(status));
	for (unsigned i = 0; i < 8; i++)
		volume_serves(c, v, (uint64_t)i * 64 * 1024 + BLOCK);
	mesh_volume_close(v);
	for (unsigned i = 0; i < c->targets; i++)
		assert_true(target_alive(c, i));
}

/* ---- 5: SIGKILL of a replica mid-write ---- */

#define FO_BLOCKS 256u
#define FO_QD 16u

struct fo_block {
	uint32_t acked;       /* last version acknowledged; 0: never written */
	uint32_t pending;     /* version in flight, or 0 */
	uint32_t doubtful;    /* a failed version that may have landed, or 0 */
	uint64_t sent_ns;
};

static void pattern(uint8_t *buf, uint32_t block, uint32_t version)
{
	for (uint32_t i = 0; i < BLOCK; i += 8) {
		uint64_t w = ((uint64_t)block << 40 | (uint64_t)version << 12 | i / 8) *
			     0x9e3779b97f4a7c15ull;

		memcpy(buf + i, &w, 8);
	}
}

/* Whether @got holds a version @b may hold: its last acknowledged one,
 * or a failed one after it. */
static bool block_matches(const struct fo_block *b, uint32_t block, const uint8_t *got)
{
	uint8_t want[BLOCK];

	if (b->acked)
		pattern(want, block, b->acked);
	else
		memset(want, 0, BLOCK);
	if (memcmp(got, want, BLOCK) == 0)
		return true;
	if (b->doubtful) {
		pattern(want, block, b->doubtful);
		return memcmp(got, want, BLOCK) == 0;
	}
	return false;
}

struct fo_run {
	struct fo_block blocks[FO_BLOCKS];
	uint8_t bufs[FO_BLOCKS][BLOCK];
	uint32_t version;
	uint64_t acked, acked_after_kill, latency_max_ns;
	/* Writes that passed part of the chain before the client learned
	 * the epoch that dropped a dead replica fail with -EIO (docs/toma.md,
	 * client data path): counted apart. Any other failure, or one sent
	 * once the client knew the new epoch, fails the test. */
	uint64_t failed_in_flight, failed;
	int last_error;
};

/* Write random blocks FO_QD at a time for @run_ns; at @kill_ns, SIGKILL
 * target @victim (if it is not UINT32_MAX). One write at a time per block,
 * so that its last acknowledged version is what it must hold. */
static void fo_write(struct cluster *c, struct mesh_volume *v, struct fo_run *r, uint64_t run_ns,
		     uint64_t kill_ns, unsigned victim)
{
	uint64_t start = now_ns(), end = start + run_ns, killed_at = 0, failover_at = 0;
	uint64_t epochs_at_kill = 0;
	struct mesh_io_done done[FO_QD];
	struct mesh_client_stats st;

	while (now_ns() < end || mesh_volume_inflight(v)) {
		while (now_ns() < end && mesh_volume_inflight(v) < FO_QD) {
			uint32_t b = (uint32_t)(mesh_rng_next(&c->rng) % FO_BLOCKS);
			struct fo_block *blk = &r->blocks[b];
			int rc;

			if (blk->pending)
				continue;
			blk->pending = ++r->version;
			pattern(r->bufs[b], b, blk->pending);
			blk->sent_ns = now_ns();
			rc = mesh_volume_submit(v, MESH_IO_WRITE, r->bufs[b], BLOCK,
						(uint64_t)b * BLOCK, b);
			if (rc)
				fail_msg("submit of block %u: %s", b, strerror(-rc));
		}
		if (!killed_at && victim != UINT32_MAX && now_ns() >= start + kill_ns) {
			assert_true(mesh_volume_inflight(v) > 0); /* mid-write */
			assert_true(WIFSIGNALED(target_signal(c, victim, SIGKILL)));
			killed_at = now_ns();
			mesh_volume_stats(v, &st);
			epochs_at_kill = st.epoch_changes;
		}
		int got = mesh_volume_poll(v, done, 1, FO_QD, 100 * MS);

		assert_true(got >= 0);
		if (killed_at && !failover_at) {
			mesh_volume_stats(v, &st);
			if (st.epoch_changes > epochs_at_kill)
				failover_at = now_ns();
		}
		for (int i = 0; i < got; i++) {
			struct fo_block *blk = &r->blocks[done[i].cookie];
			uint64_t t = now_ns();

			if (t - blk->sent_ns > r->latency_max_ns)
				r->latency_max_ns = t - blk->sent_ns;
			if (done[i].status == 0) {
				blk->acked = blk->pending;
				blk->doubtful = 0;
				r->acked++;
				r->acked_after_kill += killed_at && blk->sent_ns > killed_at;
			} else {
				blk->doubtful = blk->pending;
				if (killed_at && (!failover_at || blk->sent_ns < failover_at) &&
				    done[i].status == -EIO) {
					r->failed_in_flight++;
				} else {
					r->failed++;
					r->last_error = done[i].status;
				}
			}
			blk->pending = 0;
		}
	}
}

static void fo_report(const char *what, const struct fo_run *r)
{
	fprintf(stderr, "%s: %llu writes acknowledged (%llu sent after the kill), %llu in flight "
		"failed with -EIO, %llu others failed (last %d), slowest %llu ms\n", what,
		(unsigned long long)r->acked, (unsigned long long)r->acked_after_kill,
		(unsigned long long)r->failed_in_flight, (unsigned long long)r->failed,
		r->last_error, (unsigned long long)(r->latency_max_ns / MS));
}

/* Every block of the volume, read through @v, holds what it must. */
static void fo_check_volume(struct mesh_volume *v, const struct fo_run *r)
{
	static uint8_t buf[FO_BLOCKS * BLOCK];
	int rc = mesh_volume_pread(v, buf, FO_BLOCKS * BLOCK, 0);

	if (rc)
		fail_msg("reading the blocks back: %s", strerror(-rc));
	for (uint32_t b = 0; b < FO_BLOCKS; b++) {
		if (!block_matches(&r->blocks[b], b, buf + (size_t)b * BLOCK))
			fail_msg("block %u does not hold its last acknowledged version %u", b,
				 r->blocks[b].acked);
	}
}

/* How many blocks of the replica on @path (segment at @offset) differ
 * from what they must hold. */
static unsigned fo_drive_behind(const char *path, uint64_t offset, const struct fo_run *r)
{
	static uint8_t buf[FO_BLOCKS * BLOCK];
	unsigned behind = 0;

	file_read(path, offset, buf, FO_BLOCKS * BLOCK);
	for (uint32_t b = 0; b < FO_BLOCKS; b++)
		behind += !block_matches(&r->blocks[b], b, buf + (size_t)b * BLOCK);
	return behind;
}

static void sigkill_of_a_replica_mid_write_loses_no_acknowledged_write(void **state)
{
	struct cluster *c = *state;
	struct fo_run *r = c->scratch[0] = calloc(1, sizeof(*r));
	const struct mesh_layout *l;
	const struct mesh_replica *victim, *survivor;
	struct mesh_volume *v;
	uint64_t deadline;
	unsigned behind = FO_BLOCKS;
	char active[64];

	assert_non_null(r);
	cluster_configure(c, 3, NULL, "32MiB", "volume v0 layout=mirror size=4MiB copies=2\n");
	l = layout_of(c, "v0");
	assert_int_equal(l->segment_count, 1);
	/* The chain's head: writes it held but did not pass on are sent
	 * again under the next epoch, so none may fail. */
	victim = &l->segments[0].replicas[0];
	survivor = &l->segments[0].replicas[1];
	cluster_start(c);
	v = volume_open(c, "v0", FO_QD);

	fo_write(c, v, r, 3000 * MS, 500 * MS, victim->target);
	fo_report("head killed", r);
	if (r->failed || r->failed_in_flight)
		fail_msg("%llu writes failed across the failover (last: %s); the client should "
			 "retry them under the new epoch", (unsigned long long)r->failed,
			 strerror(-r->last_error));
	assert_true(r->acked_after_kill > 100);
	assert_true(r->latency_max_ns < IO_TIMEOUT_NS);
	fo_check_volume(v, r);
	assert_int_equal(fo_drive_behind(drive_path(c, survivor->target, survivor->drive),
					 survivor->drive_offset, r), 0);

	/* Back with the same file: it rejoins, I/O goes on, and its drive
	 * catches up with what it missed. */
	target_start(c, victim->target);
	fo_write(c, v, r, 1000 * MS, 0, UINT32_MAX);
	assert_int_equal(r->failed, 0);
	fo_check_volume(v, r);
	deadline = now_ns() + 15000 * MS;
	while (now_ns() < deadline &&
	       (behind = fo_drive_behind(drive_path(c, victim->target, victim->drive),
					 victim->drive_offset, r)) != 0)
		sleep_ms(100);
	if (behind)
		fail_msg("the restarted replica's drive still lacks %u of %u blocks after 15 s",
			 behind, FO_BLOCKS);
	for (unsigned i = 0; i < c->targets; i++)
		assert_true(target_alive(c, i));

	/* Once it is active again (epoch 4: stale, rebuilding, active), it
	 * alone can carry the volume: kill the other replica, now the tail
	 * (a returning member joins at the head). Writes it held fail with
	 * -EIO; every other write succeeds. */
	snprintf(active, sizeof(active), "group %llu: epoch 4",
		 (unsigned long long)l->segments[0].group);
	deadline = now_ns() + 10000 * MS;
	while (now_ns() < deadline && !log_has(c, victim->target, active))
		sleep_ms(50);
	if (!log_has(c, victim->target, active))
		fail_msg("the restarted replica's log never says \"%s\"", active);
	r->acked_after_kill = 0;
	fo_write(c, v, r, 2500 * MS, 200 * MS, survivor->target);
	fo_report("tail killed", r);
	assert_true(r->failed_in_flight <= FO_QD);
	assert_true(r->acked_after_kill > 100);
	if (r->failed)
		fail_msg("%llu writes failed after the other replica was killed (last: %s)",
			 (unsigned long long)r->failed, strerror(-r->last_error));
	fo_check_volume(v, r);
	assert_int_equal(fo_drive_behind(drive_path(c, victim->target, victim->drive),
					 victim->drive_offset, r), 0);
	mesh_volume_close(v);
}

/* ---- 6: a full drive; SIGTERM ---- */

/* A drive file declared 8 MiB on a 1 MiB tmpfs. Chunks of 192 KiB do not
 * divide 1 MiB, so the write that reaches the end is short (-EIO), and
 * the next finds no space at all (-ENOSPC). */
static void a_full_drive_fails_writes_with_an_error_and_serving_goes_on(void **state)
{
	struct cluster *c = *state;
	const uint32_t chunk = 192 * 1024;
	uint8_t *data = c->scratch[0] = malloc(8u << 20), back[192 * 1024];
	struct mesh_volume *v;
	uint64_t at = 0;
	int rc = 0;

	assert_non_null(data);
	path_in(c, c->mnt, sizeof(c->mnt), "full");
	assert_int_equal(mkdir(c->mnt, 0700), 0);
	if (mount("tmpfs", c->mnt, "tmpfs", 0, "size=1m")) {
		char why[200];

		snprintf(why, sizeof(why), "cannot mount a 1 MiB tmpfs on %s: %s", c->mnt,
			 strerror(errno));
		c->mnt[0] = '\0';
		fprintf(stderr, "skipped: %s\n", why);
		skip();
	}
	cluster_configure(c, 1, c->mnt, "8MiB", "volume v0 layout=concat size=8MiB\n");
	cluster_start(c);
	v = volume_open(c, "v0", 4);
	fill_random(c, data, 8u << 20);
	while (at < (8u << 20)) {
		uint64_t t0 = now_ns();

		rc = mesh_volume_pwrite(v, data + at, chunk, at);
		if (now_ns() - t0 > IO_TIMEOUT_NS)
			fail_msg("a write at %llu took %llu ms", (unsigned long long)at,
				 (unsigned long long)((now_ns() - t0) / MS));
		if (rc)
			break;
		at += chunk;
	}
	fprintf(stderr, "full drive: %llu KiB acknowledged, then %d (%s)\n",
		(unsigned long long)(at / 1024), rc, strerror(-rc));
	assert_true(at > 0 && at <= (1u << 20));
	if (rc != -ENOSPC && rc != -EIO)
		fail_msg("the write past the space failed with %d (%s), expected -ENOSPC or -EIO",
			 rc, strerror(-rc));
	/* Once more: still an error, still not a hang. */
	rc = mesh_volume_pwrite(v, data + at, chunk, at);
	assert_true(rc == -ENOSPC || rc == -EIO);
	for (uint64_t off = 0; off < at; off += chunk) {
		rc = mesh_volume_pread(v, back, chunk, off);
		if (rc)
			fail_msg("read back at %llu: %s", (unsigned long long)off, strerror(-rc));
		assert_memory_equal(back, data + off, chunk);
	}
	/* Space already held can be written again. */
	volume_serves(c, v, 0);
	mesh_volume_close(v);
	assert_true(target_alive(c, 0));
}

static void sigterm_stops_a_daemon_cleanly_and_keeps_acknowledged_writes(void **state)
{
	struct cluster *c = *state;
	struct mesh_volume *v;
	static uint8_t bufs[QD][BLOCK];
	struct mesh_io_done done[QD];
	bool acked[QD] = { false };
	unsigned answered = 0;
	uint64_t deadline;
	const char *path;
	int status;

	cluster_configure(c, 1, NULL, "16MiB", "volume v0 layout=concat size=8MiB\n");
	cluster_start(c);
	path = drive_path(c, 0, 0);
	v = volume_open(c, "v0", QD);
	volume_serves(c, v, 0);
	for (unsigned i = 0; i < QD; i++) {
		fill_random(c, bufs[i], BLOCK);
		assert_int_equal(mesh_volume_submit(v, MESH_IO_WRITE, bufs[i], BLOCK,
						    (uint64_t)(i + 1) * BLOCK, i), 0);
	}
	/* Stop it with the writes on their way. */
	assert_int_equal(kill(c->pid[0], SIGTERM), 0);
	deadline = now_ns() + IO_TIMEOUT_NS + 1000 * MS;
	while (mesh_volume_inflight(v) && now_ns() < deadline) {
		int got = mesh_volume_poll(v, done, 1, QD, 100 * MS);

		assert_true(got >= 0);
		for (int i = 0; i < got; i++) {
			acked[done[i].cookie] = done[i].status == 0;
			answered++;
		}
	}
	assert_int_equal(answered, QD); /* each answered or timed out */
	{
		unsigned n = 0;

		for (unsigned i = 0; i < QD; i++)
			n += acked[i];
		fprintf(stderr, "SIGTERM: %u of %u writes under way were acknowledged\n", n, QD);
	}
	status = target_signal(c, 0, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		log_print(c, 0);
		fail_msg("meshd after SIGTERM: wait status 0x%x, expected exit 0", status);
	}
	assert_true(log_has(c, 0, "stopped cleanly"));
	for (unsigned i = 0; i < QD; i++) {
		uint8_t got[BLOCK];

		if (!acked[i])
			continue;
		file_read(path, (uint64_t)(i + 1) * BLOCK, got, BLOCK);
		if (memcmp(got, bufs[i], BLOCK))
			fail_msg("write %u was acknowledged but is not on the drive", i);
	}
	mesh_volume_close(v);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, cluster_setup, cluster_teardown)
		T(every_layout_reads_back_and_each_copy_is_on_its_drive),
		T(layouts_read_back_over_fabric_tcp),
		T(layouts_read_back_over_fabric_shm),
		T(bad_names_files_and_ranges_are_refused_with_their_errors),
		T(malformed_frames_and_messages_are_dropped_and_the_daemon_serves_on),
		T(a_client_gone_mid_io_leaves_the_daemons_serving_others),
		T(sigkill_of_a_replica_mid_write_loses_no_acknowledged_write),
		T(a_full_drive_fails_writes_with_an_error_and_serving_goes_on),
		T(sigterm_stops_a_daemon_cleanly_and_keeps_acknowledged_writes),
#undef T
	};
	const char *s = getenv("MESH_SEED");

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-MESHD\n", argv[0]);
		return 2;
	}
	meshd_path = argv[1];
	if (access(meshd_path, X_OK)) {
		fprintf(stderr, "%s: %s\n", meshd_path, strerror(errno));
		return 2;
	}
	seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20;
	fprintf(stderr, "test_meshd: seed %llu (MESH_SEED=%llu repeats it)\n",
		(unsigned long long)seed, (unsigned long long)seed);
	signal(SIGPIPE, SIG_IGN);
	if (getenv("MESH_TEST_ONLY"))
		cmocka_set_test_filter(getenv("MESH_TEST_ONLY"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}

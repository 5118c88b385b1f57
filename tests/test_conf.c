/*
 * tests/test_conf.c: the cluster configuration file (runtime/conf.h):
 * what it accepts, every kind of mistake it refuses with the line and the
 * reason, and the plan every node derives from it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/group.h"
#include "runtime/conf.h"

/* A transport other than the default, if this build has one. */
#ifdef MESH_HAVE_FABRIC
#define TRANSPORT "fabric:shm"
#else
#define TRANSPORT "tcp"
#endif
#define FOUR_TARGETS                                                                       \
	"target 0 addr=127.0.0.1:7400 rack=0 meta=/tmp/m0\n"                               \
	"target 1 addr=127.0.0.1:7401 rack=1 meta=/tmp/m1\n"                               \
	"target 2 addr=127.0.0.1:7402 rack=2 meta=/tmp/m2\n"                               \
	"target 3 addr=127.0.0.1:7403 rack=3 meta=/tmp/m3\n"                               \
	"drive 0 path=/dev/shm/d0 size=64MiB\n"                                            \
	"drive 1 path=/dev/shm/d1 size=64MiB\n"                                            \
	"drive 2 path=/dev/shm/d2 size=64MiB\n"                                            \
	"drive 3 memory size=64MiB\n"

static struct mesh_conf *parse_ok(const char *text)
{
	struct mesh_conf *c = NULL;
	char err[512];
	int rc = mesh_conf_parse(text, "t.conf", &c, err, sizeof(err));

	if (rc)
		fail_msg("expected the file to parse, got %d: %s", rc, err);
	return c;
}

/* The file is refused with @rc and the reason names @words. */
static void expect_refused(const char *text, int rc, const char *words)
{
	struct mesh_conf *c = NULL;
	char err[512];

	assert_int_equal(mesh_conf_parse(text, "t.conf", &c, err, sizeof(err)), rc);
	assert_null(c);
	if (!strstr(err, words))
		fail_msg("reason \"%s\" lacks \"%s\"", err, words);
}

static void a_full_file_parses_with_every_statement(void **state)
{
	struct mesh_conf *c;

	(void)state;
	c = parse_ok("# a comment line\n"
		     "cluster lease=1s io_timeout=5s heartbeat=50ms heartbeat_timeout=400ms "
		     "drift_ppm=500 transport=" TRANSPORT "\n" FOUR_TARGETS
		     "volume v0 layout=stripe-mirror size=32MiB width=2 copies=2 "
		     "stripe_unit=128KiB   # trailing comment\n"
		     "volume v1 layout=concat size=8MiB\n");
	assert_int_equal(c->lease_ns, 1000000000ull);
	assert_int_equal(c->io_timeout_ns, 5000000000ull);
	assert_int_equal(c->heartbeat_ns, 50000000ull);
	assert_int_equal(c->heartbeat_timeout_ns, 400000000ull);
	assert_int_equal(c->drift_ppm, 500);
	assert_string_equal(c->transport, TRANSPORT);
	assert_int_equal(c->target_count, 4);
	assert_string_equal(c->targets[2].addr, "127.0.0.1:7402");
	assert_string_equal(c->targets[3].meta_dir, "/tmp/m3");
	assert_int_equal(c->drive_count, 4);
	assert_int_equal(c->drives[3].kind, MESH_CONF_DRIVE_MEMORY);
	assert_int_equal(c->drives[0].kind, MESH_CONF_DRIVE_FILE);
	assert_string_equal(c->drives[1].path, "/dev/shm/d1");
	assert_int_equal(c->volume_count, 2);
	assert_int_equal(mesh_conf_volume_find(c, "v1"), 1);
	assert_int_equal(mesh_conf_volume_find(c, "v9"), -ENOENT);
	assert_int_equal(c->volumes[0].layout.kind, MESH_LAYOUT_STRIPE_MIRROR);
	assert_int_equal(c->volumes[0].layout.stripe_unit, 128 * 1024);
	assert_int_equal(c->volumes[0].layout.volume_bytes, 32ull << 20);
	mesh_conf_free(c);
}

static void the_plan_gives_every_segment_a_valid_group(void **state)
{
	struct mesh_conf *c;
	uint64_t next = 1;

	(void)state;
	c = parse_ok(FOUR_TARGETS "volume a layout=stripe-mirror size=16MiB width=2 copies=2\n"
				  "volume b layout=mirror size=8MiB copies=3\n"
				  "volume c layout=stripe size=8MiB width=4\n");
	assert_int_equal(c->group_count, 2 + 1 + 4);
	for (uint32_t v = 0; v < c->volume_count; v++) {
		const struct mesh_layout *l = &c->volumes[v].layout;

		for (uint32_t s = 0; s < l->segment_count; s++) {
			const struct mesh_group_config *g = &c->groups[l->segments[s].group - 1];
			const char *why = NULL;

			/* Groups are numbered in file order from 1. */
			assert_int_equal(l->segments[s].group, next++);
			assert_int_equal(mesh_group_check(g, &why), 0);
			assert_int_equal(g->copies, l->copies);
			for (uint32_t r = 0; r < l->copies; r++)
				assert_int_equal(g->members[r].node, l->segments[s].replicas[r].target);
			/* Copies sit in distinct racks: each target has its own. */
			for (uint32_t r = 1; r < l->copies; r++)
				assert_int_not_equal(l->segments[s].replicas[r].domain,
						     l->segments[s].replicas[0].domain);
		}
	}
	mesh_conf_free(c);
}

static void two_readers_of_one_file_plan_the_same(void **state)
{
	const char *text = FOUR_TARGETS "volume a layout=stripe-mirror size=24MiB width=3 copies=2\n"
					"volume b layout=concat size=12MiB width=2\n";
	struct mesh_conf *x, *y;

	(void)state;
	x = parse_ok(text);
	y = parse_ok(text);
	assert_int_equal(x->group_count, y->group_count);
	assert_memory_equal(x->groups, y->groups, x->group_count * sizeof(*x->groups));
	for (uint32_t v = 0; v < x->volume_count; v++)
		assert_memory_equal(&x->volumes[v].layout, &y->volumes[v].layout,
				    sizeof(x->volumes[v].layout));
	mesh_conf_free(x);
	mesh_conf_free(y);
}

static void mistakes_are_refused_with_line_and_reason(void **state)
{
	(void)state;
	expect_refused("", -EINVAL, "no target");
	expect_refused("frobnicate x=1\n", -EINVAL, "t.conf:1: unknown statement \"frobnicate\"");
	expect_refused("target 1 addr=a:1 meta=/m\n", -EINVAL, "expected target 0");
	expect_refused("target zero addr=a:1 meta=/m\n", -EINVAL, "expected its id");
	expect_refused("target 0 meta=/m\n", -EINVAL, "missing addr=");
	expect_refused("target 0 addr=a:1\n", -EINVAL, "missing meta=");
	expect_refused("target 0 addr=nocolon meta=/m\n", -EINVAL, "expected host:port");
	expect_refused("target 0 addr=a:1 meta=/m\ntarget 1 addr=a:1 meta=/n\n", -EINVAL,
		       "t.conf:2: addr a:1: already target 0's");
	expect_refused("target 0 addr=a:1 meta=/m colour=red\n", -EINVAL,
		       "unknown option \"colour=red\"");
	expect_refused("target 0 addr=a:1 addr=a:2 meta=/m\n", -EINVAL, "given twice");
	expect_refused("target 0 addr=a:1 meta=/m rack=-1\n", -EINVAL, "rack \"-1\"");
	expect_refused("target 0 addr=a:1 meta=/m\ndrive 1 path=/x size=1MiB\n", -EINVAL,
		       "target 1 is not listed above");
	expect_refused("target 0 addr=a:1 meta=/m\ndrive 0 path=/x\n", -EINVAL, "missing size=");
	expect_refused("target 0 addr=a:1 meta=/m\ndrive 0 size=1MiB\n", -EINVAL, "missing path=");
	expect_refused("target 0 addr=a:1 meta=/m\ndrive 0 path=/x size=1000\n", -EINVAL,
		       "multiple of 4KiB");
	expect_refused("target 0 addr=a:1 meta=/m\ndrive 0 path=/x size=lots\n", -EINVAL,
		       "expected a size");
	expect_refused("target 0 addr=a:1 meta=/m\ndrive 0 memory path=/x size=1MiB\n", -EINVAL,
		       "no path");
	expect_refused("cluster lease=10\n", -EINVAL, "expected a nonzero duration");
	expect_refused("cluster lease=5s io_timeout=5s\ntarget 0 addr=a:1 meta=/m\n", -EINVAL,
		       "lease must be shorter than io_timeout");
	expect_refused("cluster heartbeat=1s heartbeat_timeout=1s\ntarget 0 addr=a:1 meta=/m\n",
		       -EINVAL, "heartbeat must be shorter");
	expect_refused("cluster drift_ppm=200000\n", -EINVAL, "drift_ppm");
	expect_refused("cluster transport=carrier-pigeon\n", -EINVAL,
		       "expected tcp, fabric, fabric:PROVIDER, verbs or verbs:DEVICE");
	expect_refused("cluster transport=tcp:fast\n", -EINVAL, "expected tcp, fabric");
	expect_refused("cluster transport=fabric:\n", -EINVAL, "nothing after ':'");
	expect_refused(FOUR_TARGETS "volume v layout=raid5 size=1MiB\n", -EINVAL,
		       "expected concat, stripe, mirror or stripe-mirror");
	expect_refused(FOUR_TARGETS "volume v size=1MiB\n", -EINVAL, "missing layout=");
	expect_refused(FOUR_TARGETS "volume v layout=concat\n", -EINVAL, "missing size=");
	expect_refused(FOUR_TARGETS "volume v layout=concat size=1MiB stripe_unit=64KiB\n",
		       -EINVAL, "only striped layouts");
	expect_refused(FOUR_TARGETS "volume v layout=stripe size=1MiB stripe_unit=4MiB\n",
		       -EINVAL, "stripe_unit: at most");
	expect_refused(FOUR_TARGETS "volume v layout=concat size=1MiB\n"
				    "volume v layout=concat size=1MiB\n",
		       -EINVAL, "defined twice");
	expect_refused(FOUR_TARGETS "volume layout=concat size=1MiB\n", -EINVAL,
		       "expected its name");
	expect_refused(FOUR_TARGETS "volume v layout=mirror size=1MiB copies=4\n", -EINVAL,
		       "copies \"4\"");
	expect_refused("a b c d e f g h i j k l m n o p q\n", -EINVAL, "more than 16 words");
}

static void volumes_that_do_not_fit_the_drives_are_refused(void **state)
{
	(void)state;
	/* 4 x 64 MiB of drives cannot hold a 200 MiB volume twice. */
	expect_refused(FOUR_TARGETS "volume big layout=mirror size=200MiB copies=2\n", -ENOSPC,
		       "volume big: not placed");
	/* Two copies need a third target as witness. */
	expect_refused("target 0 addr=a:1 meta=/m\ntarget 1 addr=a:2 meta=/n\n"
		       "drive 0 path=/x size=8MiB\ndrive 1 path=/y size=8MiB\n"
		       "volume m layout=mirror size=4MiB copies=2\n",
		       -ENOSPC, "as a witness");
}

static void a_long_line_is_refused(void **state)
{
	char *text = malloc(MESH_CONF_LINE_MAX + 16);

	(void)state;
	assert_non_null(text);
	memset(text, 'x', MESH_CONF_LINE_MAX + 8);
	text[MESH_CONF_LINE_MAX + 8] = '\0';
	expect_refused(text, -EINVAL, "longer than");
	free(text);
}

static void files_that_cannot_be_read_are_refused(void **state)
{
	char path[] = "/tmp/mesh-conf-XXXXXX", err[512];
	struct mesh_conf *c = NULL;
	int fd;

	(void)state;
	assert_int_equal(mesh_conf_load("/nonexistent/cluster.conf", &c, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/cluster.conf: cannot open"));
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "target 0\0", 9), 9);
	close(fd);
	assert_int_equal(mesh_conf_load(path, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "NUL byte"));
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_full_file_parses_with_every_statement),
		cmocka_unit_test(the_plan_gives_every_segment_a_valid_group),
		cmocka_unit_test(two_readers_of_one_file_plan_the_same),
		cmocka_unit_test(mistakes_are_refused_with_line_and_reason),
		cmocka_unit_test(volumes_that_do_not_fit_the_drives_are_refused),
		cmocka_unit_test(a_long_line_is_refused),
		cmocka_unit_test(files_that_cannot_be_read_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

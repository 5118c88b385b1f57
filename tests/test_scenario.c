/*
 * tests/test_scenario.c: the scenario format (sim/scenario.h) and the unit
 * parsers under it (core/units.h).
 *
 * Valid files are checked field by field; malformed ones must fail with one
 * line naming the file, the line at fault and what was expected there, since
 * that message is all a user gets to fix the file by.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <errno.h>

#include "sim/scenario.h"
#include "core/units.h"
#include "prop.h"

#define ERR_BYTES 512
#define GiB (1ull << 30)
#define MiB (1ull << 20)
#define KiB (1ull << 10)
#define MS 1000000ull
#define SEC 1000000000ull
#define MUTANTS 3000
#define MUTANT_BYTES_MAX 4096

/* Two lines every run needs; a statement appended after them is line 3. */
#define BASE "duration 10s\ntopology targets=6 clients=2 racks=3\n"

static struct mesh_scenario *scn;   /* ~1 MiB: one, allocated for the group */
static char err[ERR_BYTES];

static int parse(const char *text)
{
	memset(err, 0, sizeof(err));
	return mesh_scenario_parse("t.scn", text, scn, err, sizeof(err));
}

static void expect_ok(const char *text)
{
	int rc = parse(text);

	if (rc)
		fail_msg("rejected (%d): %s", rc, err);
}

/*
 * @text must fail with "t.scn:@line: ...@what...; expected ...@expected...",
 * on one line.
 */
static void expect_error(const char *text, unsigned line, const char *what, const char *expected)
{
	char prefix[32];
	const char *exp_at;
	int rc = parse(text);

	if (rc != -EINVAL)
		fail_msg("accepted or wrong error (%d) for:\n%s", rc, text);
	snprintf(prefix, sizeof(prefix), "t.scn:%u: ", line);
	exp_at = strstr(err, "; expected ");
	if (strncmp(err, prefix, strlen(prefix)) != 0 || !exp_at || strchr(err, '\n'))
		fail_msg("want \"%s...; expected ...\", got: %s", prefix, err);
	if (!strstr(err, what) || strstr(err, what) > exp_at)
		fail_msg("want \"%s\" before \"; expected\", got: %s", what, err);
	if (!strstr(exp_at, expected))
		fail_msg("want expected \"%s\", got: %s", expected, err);
}

/* ---- units ---- */

static void sizes_take_binary_units_or_bare_bytes(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(mesh_units_parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(mesh_units_parse_size("512B", &v), 0);
	assert_int_equal(v, 512);
	assert_int_equal(mesh_units_parse_size("64KiB", &v), 0);
	assert_int_equal(v, 64 * KiB);
	assert_int_equal(mesh_units_parse_size("1.5GiB", &v), 0);
	assert_int_equal(v, 3 * GiB / 2);
	assert_int_equal(mesh_units_parse_size("2TiB", &v), 0);
	assert_int_equal(v, 2ull << 40);
	assert_int_equal(mesh_units_parse_size("0", &v), 0);
	assert_int_equal(v, 0);
}

static void sizes_reject_garbage_signs_fractions_and_overflow(void **state)
{
	static const char *const bad[] = {
		"", "KiB", "-1", "+1", " 1", "1 ", "1KB", "1kib", "1.5B", "1.", ".5MiB", "0x10",
		"1e3", "1GiBs", "1,000", "1.0000000001KiB",
	};
	uint64_t v = 77;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (mesh_units_parse_size(bad[i], &v) != -EINVAL)
			fail_msg("size \"%s\" accepted", bad[i]);
	}
	assert_int_equal(v, 77);
	assert_int_equal(mesh_units_parse_size("18446744073709551615", &v), 0);
	assert_int_equal(v, UINT64_MAX);
	assert_int_equal(mesh_units_parse_size("18446744073709551616", &v), -ERANGE);
	assert_int_equal(mesh_units_parse_size("16777216TiB", &v), -ERANGE);
}

static void durations_need_a_unit(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(mesh_units_parse_duration("250ns", &v), 0);
	assert_int_equal(v, 250);
	assert_int_equal(mesh_units_parse_duration("5us", &v), 0);
	assert_int_equal(v, 5000);
	assert_int_equal(mesh_units_parse_duration("1.5ms", &v), 0);
	assert_int_equal(v, 1500000);
	assert_int_equal(mesh_units_parse_duration("10s", &v), 0);
	assert_int_equal(v, 10 * SEC);
	/* zero is the same in every unit */
	assert_int_equal(mesh_units_parse_duration("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(mesh_units_parse_duration("10", &v), -EINVAL);
	assert_int_equal(mesh_units_parse_duration("1.5ns", &v), -EINVAL);
	assert_int_equal(mesh_units_parse_duration("-1s", &v), -EINVAL);
	assert_int_equal(mesh_units_parse_duration("1m", &v), -EINVAL);
	assert_int_equal(mesh_units_parse_duration("", &v), -EINVAL);
	assert_int_equal(mesh_units_parse_duration("18446744074s", &v), -ERANGE);
}

static void bandwidths_read_bits_and_bytes_per_second(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(mesh_units_parse_bandwidth("25Gbps", &v), 0);
	assert_int_equal(v, 3125000000ull);
	assert_int_equal(mesh_units_parse_bandwidth("100Mbps", &v), 0);
	assert_int_equal(v, 12500000ull);
	assert_int_equal(mesh_units_parse_bandwidth("8bps", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(mesh_units_parse_bandwidth("2GBps", &v), 0);
	assert_int_equal(v, 2000000000ull);
	assert_int_equal(mesh_units_parse_bandwidth("1.5KBps", &v), 0);
	assert_int_equal(v, 1500);
	assert_int_equal(mesh_units_parse_bandwidth("1bps", &v), -EINVAL);
	assert_int_equal(mesh_units_parse_bandwidth("25", &v), -EINVAL);
	assert_int_equal(mesh_units_parse_bandwidth("25GB/s", &v), -EINVAL);
	assert_int_equal(mesh_units_parse_bandwidth("20000000000GBps", &v), -ERANGE);
}

static void probabilities_are_fractions_or_percentages(void **state)
{
	double p;

	(void)state;
	assert_int_equal(mesh_units_parse_probability("0.01", &p), 0);
	assert_true(p == 0.01);
	assert_int_equal(mesh_units_parse_probability("1%", &p), 0);
	assert_true(p == 0.01);
	assert_int_equal(mesh_units_parse_probability("100%", &p), 0);
	assert_true(p == 1.0);
	assert_int_equal(mesh_units_parse_probability("0", &p), 0);
	assert_true(p == 0.0);
	assert_int_equal(mesh_units_parse_probability("1.01", &p), -ERANGE);
	assert_int_equal(mesh_units_parse_probability("101%", &p), -ERANGE);
	assert_int_equal(mesh_units_parse_probability("-0.1", &p), -EINVAL);
	assert_int_equal(mesh_units_parse_probability("%", &p), -EINVAL);
	assert_int_equal(mesh_units_parse_probability("1e-2", &p), -EINVAL);
	assert_int_equal(mesh_units_parse_probability("nan", &p), -EINVAL);
	assert_int_equal(mesh_units_parse_probability("", &p), -EINVAL);
}

static void integers_are_plain_and_range_checked(void **state)
{
	uint32_t v32;
	uint64_t v;
	double d;

	(void)state;
	assert_int_equal(mesh_units_parse_u64("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(mesh_units_parse_u64("101", 0, 100, &v), -ERANGE);
	assert_int_equal(mesh_units_parse_u64("0", 1, 100, &v), -ERANGE);
	assert_int_equal(mesh_units_parse_u64("4.0", 0, 100, &v), -EINVAL);
	assert_int_equal(mesh_units_parse_u64("4KiB", 0, 100, &v), -EINVAL);
	assert_int_equal(mesh_units_parse_u64("-4", 0, 100, &v), -EINVAL);
	assert_int_equal(mesh_units_parse_u32("4294967295", 0, UINT32_MAX, &v32), 0);
	assert_int_equal(v32, UINT32_MAX);
	assert_int_equal(mesh_units_parse_u32("4294967296", 0, UINT32_MAX, &v32), -ERANGE);
	assert_int_equal(mesh_units_parse_real("2.5", 1.0, 10.0, &d), 0);
	assert_true(d == 2.5);
	assert_int_equal(mesh_units_parse_real("0.5", 1.0, 10.0, &d), -ERANGE);
	assert_int_equal(mesh_units_parse_real("2x", 1.0, 10.0, &d), -EINVAL);
}

static void formatting_picks_the_largest_unit(void **state)
{
	char b[MESH_UNITS_FMT_MAX];
	uint64_t back;

	(void)state;
	assert_string_equal(mesh_units_format_duration(0, b, sizeof(b)), "0s");
	assert_string_equal(mesh_units_format_duration(1500 * MS, b, sizeof(b)), "1.5s");
	assert_string_equal(mesh_units_format_duration(250 * 1000, b, sizeof(b)), "250us");
	assert_string_equal(mesh_units_format_duration(999, b, sizeof(b)), "999ns");
	assert_string_equal(mesh_units_format_duration(1234567, b, sizeof(b)), "1.235ms");
	assert_string_equal(mesh_units_format_duration(1999999999, b, sizeof(b)), "2s");
	assert_string_equal(mesh_units_format_size(64 * MiB, b, sizeof(b)), "64MiB");
	assert_string_equal(mesh_units_format_size(512, b, sizeof(b)), "512B");
	assert_string_equal(mesh_units_format_size(5 * GiB / 4, b, sizeof(b)), "1.25GiB");
	assert_string_equal(mesh_units_format_size(3ull << 40, b, sizeof(b)), "3TiB");
	assert_string_equal(mesh_units_format_bandwidth(3125000000ull, b, sizeof(b)), "3.125GBps");
	/* what is formatted parses back */
	mesh_units_format_size(5 * GiB / 4, b, sizeof(b));
	assert_int_equal(mesh_units_parse_size(b, &back), 0);
	assert_int_equal(back, 5 * GiB / 4);
	/* a short buffer truncates, never overruns */
	assert_string_equal(mesh_units_format_size(64 * MiB, b, 3), "64");
}

/* ---- valid scenarios ---- */

static const char full[] =
	"# every statement, each key given\n"
	"name full-run\n"
	"description  Every statement, for the parser test  \n"
	"duration 10s\n"
	"seed 42\n"
	"topology targets=8 clients=4 converged=no racks=4 drives=2 drive_bytes=64GiB\n"
	"network latency=5us bandwidth=100Gbps backbone_latency=3us backbone_bandwidth=1600Gbps\n"
	"drive read_latency=90us write_latency=15us bandwidth=3GBps queue_depth=128\n"
	"client queue_depth=64 io_timeout=250ms\n"
	"heartbeat interval=100ms timeout=400ms\n"
	"placement policy=copyset scatter=6\n"
	"clock drift_ppm=200   # comments may follow a statement\n"
	"volume name=data kind=stripe-mirror copies=3 width=4 stripe_unit=128KiB size=1GiB "
	"count=2 attach=spread\n"
	"volume name=logs kind=concat size=256MiB\n"
	"workload clients=clients volumes=data bs=8KiB rw=randrw read=70 qd=16 rate=5000 "
	"span=16MiB start=1s stop=9s\n"
	"workload clients=node:8+node:9 volumes=logs rw=randwrite\n"
	"\n"
	"at 5s partition rack:0 | racks:1-3\n"          /* line 18 */
	"at 2s crash node:1\n"
	"at 2s restart node:1\n"
	"at 3s drive-fail targets drive=1\n"
	"at 3500ms drive-slow node:2 factor=2.5\n"
	"at 4s drive-heal node:2\n"
	"at 4s loss p=1% from=clients to=targets\n"
	"at 4s duplicate p=0.05\n"
	"at 4s reorder p=0.1 delay=2ms\n"
	"at 4s delay extra=1ms jitter=500us to=rack:0\n"
	"at 6s partition node:0 -> node:1+node:2\n"
	"at 6s flap rack:1|rack:2 period=200ms until=8s\n"
	"at 9s heal\n"
	"check linearizable\n"
	"check durability redundancy\n"
	"study copysets copies=3 nodes=100,1000 failed=2% trials=50 chunks_per_node=100 "
	"scatter=8 racks=10\n";

static void assert_term(const struct mesh_scn_set *set, uint32_t i, enum mesh_scn_term_kind kind,
			uint32_t lo, uint32_t hi)
{
	assert_true(i < set->count);
	assert_int_equal(set->terms[i].kind, kind);
	assert_int_equal(set->terms[i].lo, lo);
	assert_int_equal(set->terms[i].hi, hi);
}

static void full_scenario_sets_every_field(void **state)
{
	const struct mesh_scn_topology *t = &scn->topology;

	(void)state;
	expect_ok(full);
	assert_string_equal(scn->path, "t.scn");
	assert_string_equal(scn->name, "full-run");
	assert_string_equal(scn->description, "Every statement, for the parser test");
	assert_int_equal(scn->duration_ns, 10 * SEC);
	assert_int_equal(scn->seed, 42);
	assert_true(scn->has_topology);
	assert_int_equal(t->targets, 8);
	assert_int_equal(t->clients, 4);
	assert_false(t->converged);
	assert_int_equal(t->racks, 4);
	assert_int_equal(t->drives, 2);
	assert_int_equal(t->drive_bytes, 64 * GiB);
	assert_int_equal(scn->network.latency_ns, 5000);
	assert_int_equal(scn->network.bandwidth_bps, 12500000000ull);
	assert_int_equal(scn->network.backbone_latency_ns, 3000);
	assert_int_equal(scn->network.backbone_bandwidth_bps, 200000000000ull);
	assert_int_equal(scn->drive.read_latency_ns, 90000);
	assert_int_equal(scn->drive.write_latency_ns, 15000);
	assert_int_equal(scn->drive.bandwidth_bps, 3000000000ull);
	assert_int_equal(scn->drive.queue_depth, 128);
	assert_int_equal(scn->client.queue_depth, 64);
	assert_int_equal(scn->client.io_timeout_ns, 250 * MS);
	assert_int_equal(scn->heartbeat.interval_ns, 100 * MS);
	assert_int_equal(scn->heartbeat.timeout_ns, 400 * MS);
	assert_int_equal(scn->placement.policy, MESH_SCN_PLACE_COPYSET);
	assert_int_equal(scn->placement.scatter_width, 6);
	assert_int_equal(scn->clock.drift_ppm, 200);
	assert_int_equal(scn->checks, MESH_SCN_CHECK_LINEARIZABLE | MESH_SCN_CHECK_DURABILITY |
					      MESH_SCN_CHECK_REDUNDANCY);
}

static void full_scenario_volumes_and_workloads(void **state)
{
	const struct mesh_scn_volume *v = &scn->volumes[0];
	const struct mesh_scn_workload *w = &scn->workloads[0];

	(void)state;
	expect_ok(full);
	assert_int_equal(scn->volume_count, 2);
	assert_string_equal(v->name, "data");
	assert_int_equal(v->kind, MESH_LAYOUT_STRIPE_MIRROR);
	assert_int_equal(v->copies, 3);
	assert_int_equal(v->width, 4);
	assert_int_equal(v->stripe_unit, 128 * KiB);
	assert_int_equal(v->bytes, GiB);
	assert_int_equal(v->count, 2);
	assert_int_equal(v->attach, MESH_SCN_ATTACH_SPREAD);
	assert_int_equal(v->line, 13);
	v++;
	assert_string_equal(v->name, "logs");
	assert_int_equal(v->kind, MESH_LAYOUT_CONCAT);
	assert_int_equal(v->copies, 1);
	assert_int_equal(v->stripe_unit, 0);
	assert_int_equal(v->attach, MESH_SCN_ATTACH_ALL);

	assert_int_equal(scn->workload_count, 2);
	assert_term(&w->clients, 0, MESH_SCN_TERM_CLIENTS, 0, 0);
	assert_string_equal(w->volume, "data");
	assert_int_equal(w->block_bytes, 8 * KiB);
	assert_int_equal(w->rw, MESH_SCN_RW_RANDRW);
	assert_int_equal(w->read_percent, 70);
	assert_int_equal(w->queue_depth, 16);
	assert_int_equal(w->rate_iops, 5000);
	assert_int_equal(w->span_bytes, 16 * MiB);
	assert_int_equal(w->start_ns, SEC);
	assert_int_equal(w->stop_ns, 9 * SEC);
	assert_int_equal(w->line, 15);
	w++;
	assert_int_equal(w->clients.count, 2);
	assert_term(&w->clients, 1, MESH_SCN_TERM_NODES, 9, 9);
	assert_int_equal(w->rw, MESH_SCN_RW_RANDWRITE);
	assert_int_equal(w->read_percent, 0);
	assert_int_equal(w->stop_ns, 10 * SEC);
}

static void full_scenario_faults_and_study(void **state)
{
	static const enum mesh_scn_fault_kind order[] = {
		MESH_SCN_CRASH, MESH_SCN_RESTART, MESH_SCN_DRIVE_FAIL, MESH_SCN_DRIVE_SLOW,
		MESH_SCN_DRIVE_HEAL, MESH_SCN_LOSS, MESH_SCN_DUPLICATE, MESH_SCN_REORDER,
		MESH_SCN_DELAY, MESH_SCN_PARTITION, MESH_SCN_PARTITION, MESH_SCN_FLAP, MESH_SCN_HEAL,
	};
	const struct mesh_scn_fault *f = scn->faults;
	const struct mesh_scn_study *st = &scn->study;

	(void)state;
	expect_ok(full);
	assert_int_equal(scn->fault_count, 13);
	for (uint32_t i = 0; i < scn->fault_count; i++)
		assert_int_equal(f[i].kind, order[i]);
	assert_int_equal(f[0].at_ns, 2 * SEC);
	assert_term(&f[0].a, 0, MESH_SCN_TERM_NODES, 1, 1);
	assert_int_equal(f[0].b.count, 0);
	assert_int_equal(f[0].line, 19);
	assert_int_equal(f[2].drive, 1);
	assert_term(&f[2].a, 0, MESH_SCN_TERM_TARGETS, 0, 0);
	assert_int_equal(f[3].at_ns, 3500 * MS);
	assert_int_equal(f[3].drive, MESH_SCN_DRIVE_ALL);
	assert_true(f[3].factor == 2.5);
	assert_true(f[5].probability == 0.01);
	assert_term(&f[5].a, 0, MESH_SCN_TERM_CLIENTS, 0, 0);
	assert_term(&f[5].b, 0, MESH_SCN_TERM_TARGETS, 0, 0);
	assert_term(&f[6].a, 0, MESH_SCN_TERM_ALL, 0, 0);
	assert_term(&f[6].b, 0, MESH_SCN_TERM_ALL, 0, 0);
	assert_int_equal(f[7].delay_ns, 2 * MS);
	assert_int_equal(f[8].delay_ns, MS);
	assert_int_equal(f[8].jitter_ns, 500000);
	assert_term(&f[8].b, 0, MESH_SCN_TERM_RACKS, 0, 0);
	assert_false(f[9].one_way);
	assert_term(&f[9].a, 0, MESH_SCN_TERM_RACKS, 0, 0);
	assert_term(&f[9].b, 0, MESH_SCN_TERM_RACKS, 1, 3);
	assert_true(f[10].one_way);
	assert_int_equal(f[10].b.count, 2);
	assert_int_equal(f[11].period_ns, 200 * MS);
	assert_int_equal(f[11].until_ns, 8 * SEC);
	assert_false(f[11].one_way);
	assert_int_equal(f[12].a.count, 0);

	assert_true(st->present);
	assert_int_equal(st->copies, 3);
	assert_int_equal(st->size_count, 2);
	assert_int_equal(st->sizes[0], 100);
	assert_int_equal(st->sizes[1], 1000);
	assert_true(st->failed_fraction == 0.02);
	assert_int_equal(st->trials, 50);
	assert_int_equal(st->chunks_per_node, 100);
	assert_int_equal(st->scatter_width, 8);
	assert_int_equal(st->racks, 10);
	assert_int_equal(st->line, 33);
}

static void defaults_fill_what_is_left_out(void **state)
{
	const struct mesh_scn_workload *w = &scn->workloads[0];
	const struct mesh_scn_volume *v = &scn->volumes[0];

	(void)state;
	expect_ok("duration 2s\ntopology targets=3 clients=1\n"
		  "volume name=c kind=concat size=1GiB\nvolume name=s kind=stripe size=1GiB\n"
		  "workload\n");
	assert_string_equal(scn->name, "t");
	assert_string_equal(scn->description, "");
	assert_int_equal(scn->seed, 1);
	assert_false(scn->topology.converged);
	assert_int_equal(scn->topology.racks, 1);
	assert_int_equal(scn->topology.drives, 1);
	assert_int_equal(scn->topology.drive_bytes, 1ull << 40);
	assert_int_equal(scn->network.latency_ns, 2000);
	assert_int_equal(scn->network.bandwidth_bps, 3125000000ull);
	assert_int_equal(scn->network.backbone_latency_ns, 2000);
	assert_int_equal(scn->network.backbone_bandwidth_bps, 50000000000ull);
	assert_int_equal(scn->drive.read_latency_ns, 80000);
	assert_int_equal(scn->drive.write_latency_ns, 20000);
	assert_int_equal(scn->drive.bandwidth_bps, 2000000000ull);
	assert_int_equal(scn->drive.queue_depth, 64);
	assert_int_equal(scn->client.queue_depth, 32);
	assert_int_equal(scn->client.io_timeout_ns, 500 * MS);
	assert_int_equal(scn->heartbeat.interval_ns, 0);
	assert_int_equal(scn->placement.policy, MESH_SCN_PLACE_COPYSET);
	assert_int_equal(scn->placement.scatter_width, 4);
	assert_int_equal(scn->clock.drift_ppm, 0);
	assert_int_equal(scn->checks, 0);
	assert_false(scn->study.present);
	/* one copy, one segment; striped kinds get a 64KiB unit */
	assert_int_equal(v[0].copies, 1);
	assert_int_equal(v[0].stripe_unit, 0);
	assert_int_equal(v[0].width, 1);
	assert_int_equal(v[0].count, 1);
	assert_int_equal(v[1].copies, 1);
	assert_int_equal(v[1].stripe_unit, 64 * KiB);
	assert_int_equal(w->clients.count, 1);
	assert_int_equal(w->clients.terms[0].kind, MESH_SCN_TERM_CLIENTS);
	assert_string_equal(w->volume, "");
	assert_int_equal(w->block_bytes, 4096);
	assert_int_equal(w->rw, MESH_SCN_RW_RANDRW);
	assert_int_equal(w->read_percent, 50);
	assert_int_equal(w->queue_depth, 1);
	assert_int_equal(w->rate_iops, 0);
	assert_int_equal(w->span_bytes, 0);
	assert_int_equal(w->start_ns, 0);
	assert_int_equal(w->stop_ns, 2 * SEC);
}

static void heartbeat_timeout_defaults_to_five_intervals(void **state)
{
	(void)state;
	expect_ok(BASE "heartbeat interval=50ms\n");
	assert_int_equal(scn->heartbeat.timeout_ns, 250 * MS);
	expect_ok(BASE "heartbeat interval=0\n");
	assert_int_equal(scn->heartbeat.interval_ns, 0);
}

static void name_defaults_to_the_file_base_name(void **state)
{
	(void)state;
	assert_int_equal(mesh_scenario_parse("scenarios/split-brain.scn", BASE, scn, err,
					     sizeof(err)), 0);
	assert_string_equal(scn->name, "split-brain");
	assert_int_equal(mesh_scenario_parse("odd name.txt", BASE, scn, err, sizeof(err)), 0);
	assert_string_equal(scn->name, "odd_name.txt");
}

static void disaggregated_clients_come_after_targets(void **state)
{
	struct mesh_scn_set set;

	(void)state;
	expect_ok("duration 1s\ntopology targets=6 clients=3 racks=3\n");
	assert_int_equal(mesh_scenario_nodes(scn), 9);
	for (uint32_t n = 0; n < 9; n++) {
		assert_int_equal(mesh_scenario_is_target(scn, n), n < 6);
		assert_int_equal(mesh_scenario_is_client(scn, n), n >= 6);
		assert_int_equal(mesh_scenario_rack(scn, n), n / 3);
	}
	for (uint32_t k = 0; k < 3; k++)
		assert_int_equal(mesh_scenario_client_node(scn, k), 6 + k);

	/* nodes:4-5 + rack:2 + clients, read back through membership */
	set = (struct mesh_scn_set){ .count = 2 };
	set.terms[0] = (struct mesh_scn_term){ MESH_SCN_TERM_NODES, 4, 5 };
	set.terms[1] = (struct mesh_scn_term){ MESH_SCN_TERM_RACKS, 2, 2 };
	for (uint32_t n = 0; n < 9; n++)
		assert_int_equal(mesh_scenario_set_contains(scn, &set, n), n >= 4);
	assert_false(mesh_scenario_set_contains(scn, &set, 9));
	set = (struct mesh_scn_set){ .count = 1 };
	set.terms[0].kind = MESH_SCN_TERM_TARGETS;
	for (uint32_t n = 0; n < 9; n++)
		assert_int_equal(mesh_scenario_set_contains(scn, &set, n), n < 6);
	set.count = 0;
	assert_false(mesh_scenario_set_contains(scn, &set, 0));
}

static void converged_clients_are_spread_over_targets(void **state)
{
	struct mesh_scn_set set = { .count = 1 };
	bool client[10] = { false };

	(void)state;
	expect_ok("duration 1s\ntopology targets=10 clients=4 converged=yes racks=5\n");
	assert_int_equal(mesh_scenario_nodes(scn), 10);
	/* client k on node k * 10 / 4 */
	client[0] = client[2] = client[5] = client[7] = true;
	assert_int_equal(mesh_scenario_client_node(scn, 0), 0);
	assert_int_equal(mesh_scenario_client_node(scn, 1), 2);
	assert_int_equal(mesh_scenario_client_node(scn, 2), 5);
	assert_int_equal(mesh_scenario_client_node(scn, 3), 7);
	set.terms[0].kind = MESH_SCN_TERM_CLIENTS;
	for (uint32_t n = 0; n < 10; n++) {
		assert_true(mesh_scenario_is_target(scn, n));
		assert_int_equal(mesh_scenario_is_client(scn, n), client[n]);
		assert_int_equal(mesh_scenario_set_contains(scn, &set, n), client[n]);
		assert_int_equal(mesh_scenario_rack(scn, n), n / 2);
	}
	/* every target a client */
	expect_ok("duration 1s\ntopology targets=7 clients=7 converged=yes\n");
	for (uint32_t n = 0; n < 7; n++)
		assert_true(mesh_scenario_is_client(scn, n));
	/* a workload on targets finds the converged clients */
	expect_ok("duration 1s\ntopology targets=10 clients=4 converged=yes racks=5\n"
		  "volume name=v kind=concat size=1GiB\nworkload clients=node:1+racks:2-3\n");
}

/* Racks are contiguous, every rack has a node, and rack terms agree with
 * mesh_scenario_rack for every geometry up to 40 nodes. */
static void racks_hold_contiguous_blocks_of_nodes(void **state)
{
	char text[128];

	(void)state;
	for (uint32_t nodes = 1; nodes <= 40; nodes++) {
		for (uint32_t racks = 1; racks <= nodes; racks++) {
			snprintf(text, sizeof(text), "duration 1s\ntopology targets=%u racks=%u\n",
				 nodes, racks);
			expect_ok(text);
			assert_int_equal(mesh_scenario_rack(scn, 0), 0);
			assert_int_equal(mesh_scenario_rack(scn, nodes - 1), racks - 1);
			for (uint32_t n = 1; n < nodes; n++) {
				uint32_t step = mesh_scenario_rack(scn, n) -
						mesh_scenario_rack(scn, n - 1);

				assert_true(step <= 1);
			}
		}
	}
}

static void faults_keep_file_order_at_equal_times(void **state)
{
	(void)state;
	expect_ok(BASE "at 3s heal\nat 1s crash node:0\nat 3s restart node:0\nat 0s loss p=0.5\n"
		  "at 3s crash node:1\nat 1s restart node:0\n");
	assert_int_equal(scn->fault_count, 6);
	assert_int_equal(scn->faults[0].line, 6);
	assert_int_equal(scn->faults[1].line, 4);
	assert_int_equal(scn->faults[2].line, 8);
	assert_int_equal(scn->faults[3].line, 3);
	assert_int_equal(scn->faults[4].line, 5);
	assert_int_equal(scn->faults[5].line, 7);
	assert_string_equal(mesh_scenario_fault_name(MESH_SCN_DRIVE_SLOW), "drive-slow");
	assert_string_equal(mesh_scenario_fault_name(0), "unknown");
}

static void a_study_alone_needs_no_topology(void **state)
{
	(void)state;
	expect_ok("study copysets nodes=100,1000,10000\n");
	assert_false(scn->has_topology);
	assert_int_equal(scn->duration_ns, 0);
	assert_int_equal(scn->study.copies, 3);
	assert_true(scn->study.failed_fraction == 0.01);
	assert_int_equal(scn->study.trials, 1000);
	assert_int_equal(scn->study.chunks_per_node, 10000);
	assert_int_equal(scn->study.scatter_width, 10);
	assert_int_equal(scn->study.racks, 0);
	assert_int_equal(scn->study.size_count, 3);
}

static void separators_need_no_spaces_and_crlf_is_accepted(void **state)
{
	(void)state;
	expect_ok("duration 10s\r\ntopology targets=6 clients=2 racks=3\r\n"
		  "at 1s partition node:0->node:1\r\n\tat 2s partition rack:0|rack:1   \r\n");
	assert_true(scn->faults[0].one_way);
	assert_false(scn->faults[1].one_way);
}

static void load_reads_a_file(void **state)
{
	char path[] = "/tmp/test_scenario_XXXXXX";
	int fd = mkstemp(path);
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(full, f);
	fclose(f);
	assert_int_equal(mesh_scenario_load(path, scn, err, sizeof(err)), 0);
	assert_string_equal(scn->path, path);
	assert_string_equal(scn->name, "full-run");
	assert_int_equal(scn->fault_count, 13);
	unlink(path);
}

static void load_names_a_missing_file(void **state)
{
	(void)state;
	assert_int_equal(mesh_scenario_load("/nonexistent/x.scn", scn, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/x.scn: cannot open"));
	assert_non_null(strstr(err, "; expected a readable scenario file"));
}

static void validate_catches_what_an_override_breaks(void **state)
{
	(void)state;
	expect_ok(BASE "volume name=v kind=mirror size=1GiB\nworkload\nat 2s crash node:5\n"
		  "at 9s heal\n");
	assert_int_equal(mesh_scenario_validate(scn, err, sizeof(err)), 0);
	/* --targets 4: node 5 is now a client, node 7 gone */
	scn->topology.targets = 4;
	assert_int_equal(mesh_scenario_validate(scn, err, sizeof(err)), 0);
	scn->topology.targets = 3;
	scn->topology.racks = 2;
	assert_int_equal(mesh_scenario_validate(scn, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "t.scn:5: crash names node:5 but the topology has 5 nodes"));
	scn->topology.targets = 6;
	/* --duration 5s: the workload follows, the heal at 9s does not fit */
	mesh_scenario_set_duration(scn, 5 * SEC);
	assert_int_equal(scn->workloads[0].stop_ns, 5 * SEC);
	assert_int_equal(mesh_scenario_validate(scn, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "t.scn:6: heal at 9s is after the end (5s)"));
	/* --clients 0 */
	mesh_scenario_set_duration(scn, 10 * SEC);
	scn->topology.clients = 0;
	assert_int_equal(mesh_scenario_validate(scn, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "t.scn:4: workload names clients but the topology has none"));
}

/* ---- malformed scenarios ---- */

static void unknown_keys_are_named_with_the_keys_expected(void **state)
{
	(void)state;
	assert_int_equal(parse(BASE "volume name=v kind=stripe widht=4 size=1GiB\n"), -EINVAL);
	assert_string_equal(err, "t.scn:3: unknown key \"widht\" in volume; expected one of name, "
				 "kind, copies, width, stripe_unit, size, count, attach");
	expect_error(BASE "topology targets=1\n", 3, "second topology statement (first at line 2)",
		     "one such statement");
	expect_error(BASE "at 1s drive-slow node:0 factr=2\n", 3, "unknown key \"factr\" in drive-slow",
		     "one of drive, factor");
	expect_error(BASE "at 1s crash node:0 drive=1\n", 3, "crash takes no keys",
		     "no key=value words");
	expect_error(BASE "clock\n", 3, "clock is missing required key drift_ppm", "drift_ppm=");
}

static void unknown_statements_and_faults_are_rejected(void **state)
{
	(void)state;
	expect_error(BASE "topolgy targets=1\n", 3, "unknown statement \"topolgy\"",
		     "one of name, description, duration");
	expect_error(BASE "at 1s explode node:0\n", 3, "unknown fault \"explode\"",
		     "one of crash, restart, drive-fail");
	expect_error(BASE "at 1s\n", 3, "incomplete fault", "at TIME FAULT");
	expect_error(BASE "check everything\n", 3, "unknown check \"everything\"",
		     "check linearizable, durability or redundancy");
	expect_error(BASE "study tables nodes=10\n", 3, "study kind", "study copysets");
	expect_error(BASE "network 5us\n", 3, "unexpected \"5us\" in network", "key=value");
}

static void missing_and_repeated_keys_are_rejected(void **state)
{
	(void)state;
	expect_error(BASE "volume name=v kind=concat\n", 3, "volume is missing required key size",
		     "size=");
	expect_error("duration 1s\ntopology clients=2\n", 2,
		     "topology is missing required key targets", "targets=");
	expect_error(BASE "at 1s loss from=all\n", 3, "loss is missing required key p", "p=");
	expect_error(BASE "volume name=v name=w kind=concat size=1GiB\n", 3, "key name given twice",
		     "each key once");
	expect_error(BASE "volume name= kind=concat size=1GiB\n", 3, "key name has no value",
		     "a value");
}

static void bad_units_are_rejected(void **state)
{
	(void)state;
	expect_error(BASE "volume name=v kind=concat size=10XB\n", 3, "bad size \"10XB\" in volume",
		     "a size such as");
	expect_error("duration 10\n", 1, "duration \"10\" in duration has no unit",
		     "a duration such as");
	expect_error(BASE "network bandwidth=25\n", 3, "bandwidth \"25\" in network has no unit",
		     "a bandwidth such as");
	expect_error(BASE "network latency=-5us\n", 3, "bad latency \"-5us\"", "a duration");
	expect_error(BASE "at 1s loss p=2\n", 3, "p \"2\" in loss is out of range",
		     "a probability from 0 to 1");
	expect_error(BASE "at 1s loss p=often\n", 3, "bad p \"often\" in loss", "a probability");
	expect_error(BASE "at soon crash node:0\n", 3, "bad time \"soon\" in at", "a duration");
	expect_error(BASE "at 1s drive-slow node:0 factor=0.5\n", 3,
		     "factor \"0.5\" in drive-slow is out of range", "factor from 1 to");
	expect_error(BASE "seed -3\n", 3, "bad seed \"-3\"", "an unsigned integer");
	expect_error("duration 1s\ntopology targets=6 converged=maybe\n", 2, "bad converged \"maybe\"",
		     "one of no, yes");
}

static void out_of_range_values_are_rejected(void **state)
{
	(void)state;
	expect_error("duration 1s\ntopology targets=2 drives=65\n", 2,
		     "drives \"65\" in topology is out of range", "drives from 1 to 64");
	expect_error("duration 25h\n", 1, "bad duration", "a duration");
	expect_error("duration 86401s\n", 1, "out of range", "duration from 1ns to 86400s");
	expect_error("duration 0s\n", 1, "out of range", "duration from 1ns");
	expect_error("duration 1s\ntopology targets=0\n", 2, "targets \"0\"", "targets from 1");
	expect_error(BASE "volume name=v kind=mirror copies=4 size=1GiB\n", 3, "copies \"4\"",
		     "copies from 1 to 3");
	expect_error(BASE "volume name=v kind=mirror copies=1 size=1GiB\n", 3,
		     "copies=1 for kind mirror", "copies from 2 to 3");
	expect_error(BASE "volume name=v kind=stripe copies=2 size=1GiB\n", 3,
		     "copies=2 for kind stripe", "copies=1");
	expect_error(BASE "volume name=v kind=concat stripe_unit=64KiB size=1GiB\n", 3,
		     "stripe_unit given for kind concat", "stripe_unit only with kind stripe");
	expect_error(BASE "volume name=v kind=stripe stripe_unit=6KiB size=1GiB\n", 3,
		     "not whole 4KiB blocks", "multiple of 4KiB");
	expect_error(BASE "volume name=v kind=stripe stripe_unit=2MiB size=1GiB\n", 3,
		     "stripe_unit \"2MiB\"", "from 4KiB to 1MiB");
	expect_error(BASE "volume name=v kind=concat size=1000\n", 3, "size \"1000\"",
		     "from 4KiB");
	expect_error(BASE "volume name=v kind=concat size=6KiB\n", 3, "not whole 4KiB blocks",
		     "multiple of 4KiB");
	expect_error(BASE "volume name=v kind=concat width=65 size=1GiB\n", 3, "width \"65\"",
		     "width from 1 to 64");
	expect_error(BASE "volume name=v kind=raid5 size=1GiB\n", 3, "bad kind \"raid5\"",
		     "one of concat, stripe, mirror, stripe-mirror");
	expect_error(BASE "clock drift_ppm=100001\n", 3, "drift_ppm", "from 0 to 100000");
	expect_error(BASE "workload read=101\n", 3, "read \"101\"", "read from 0 to 100");
	expect_error(BASE "workload qd=0\n", 3, "qd \"0\"", "qd from 1");
	expect_error(BASE "heartbeat interval=100ms timeout=100ms\n", 3,
		     "timeout does not exceed the interval", "timeout greater than interval");
	expect_error(BASE "placement policy=greedy scatter=3\n", 3, "scatter given for policy=greedy",
		     "scatter only with policy=copyset");
	expect_error(BASE "at 1s drive-fail node:0 drive=64\n", 3, "drive \"64\"", "drive from 0 to 63");
}

static void duplicate_statements_name_both_lines(void **state)
{
	(void)state;
	expect_error("duration 1s\nseed 1\nduration 2s\n", 3,
		     "second duration statement (first at line 1)", "one such statement per file");
	expect_error(BASE "name a\n\n# x\nname b\n", 6, "second name statement (first at line 3)",
		     "one such statement per file");
	expect_error(BASE "study copysets nodes=100\nstudy copysets nodes=200\n", 4,
		     "second study statement (first at line 3)", "one such");
	expect_error(BASE "volume name=v kind=concat size=1GiB\nvolume name=v kind=concat size=1GiB\n",
		     4, "volume \"v\" already defined at line 3", "unique volume names");
	expect_error(BASE "check linearizable\ncheck durability linearizable\n", 4,
		     "check linearizable already given at line 3", "each check once");
}

static void bad_node_sets_are_rejected(void **state)
{
	(void)state;
	expect_error(BASE "at 1s crash nodes:5-2\n", 3, "empty range \"nodes:5-2\" in crash",
		     "A <= B");
	expect_error(BASE "at 1s crash node:x\n", 3, "bad node set term \"node:x\" in crash",
		     "a node set: all, targets");
	expect_error(BASE "at 1s crash node:1-2\n", 3, "bad node set term \"node:1-2\"", "a node set");
	expect_error(BASE "at 1s crash rack:0+\n", 3, "empty term in node set \"rack:0+\"",
		     "a node set");
	expect_error(BASE "at 1s crash servers\n", 3, "bad node set term \"servers\"", "a node set");
	expect_error(BASE "at 1s crash\n", 3, "crash takes one node set", "at T crash SET");
	expect_error(BASE "at 1s crash node:0 node:1\n", 3, "crash takes one node set",
		     "at T crash SET");
	expect_error(BASE "at 1s partition rack:0 rack:1\n", 3,
		     "partition takes two node sets joined by | or ->", "at T partition A | B");
	expect_error(BASE "at 1s partition rack:0 |\n", 3, "partition takes two node sets",
		     "A | B");
	expect_error(BASE "at 1s flap rack:0 -> rack:1 period=1s until=2s\n", 3,
		     "flap cuts both ways", "at T flap A | B");
	expect_error(BASE "at 1s crash all+all+all+all+all+all+all+all+all\n", 3,
		     "too many terms", "at most 8 terms");
	expect_error(BASE "at 1s loss p=1 from=\n", 3, "key from has no value", "a value");
}

static void references_outside_the_topology_are_rejected(void **state)
{
	(void)state;
	expect_error("duration 10s\ntopology targets=4 clients=2\nat 1s crash node:6\n", 3,
		     "crash names node:6 but the topology has 6 nodes", "node ids 0-5");
	expect_error(BASE "at 1s partition rack:0 | racks:1-3\n", 3,
		     "partition names racks:1-3 but the topology has 3 racks", "rack ids 0-2");
	expect_error(BASE "at 1s delay extra=1ms to=node:8\n", 3, "delay names node:8",
		     "node ids 0-7");
	expect_error("duration 1s\ntopology targets=4\nat 1s crash clients\n", 3,
		     "crash names clients but the topology has none", "clients=N > 0");
	expect_error(BASE "at 1s drive-fail node:0 drive=2\n", 3,
		     "drive-fail drive=2 but targets have 1 drives", "drive= below");
	expect_error(BASE "at 1s drive-fail clients\n", 3, "drive-fail names no target",
		     "a node set holding a target");
	expect_error(BASE "volume name=v kind=concat size=1GiB\nworkload volumes=w\n", 4,
		     "workload names unknown volume \"w\"", "the name of a volume statement");
	expect_error(BASE "workload\n", 3, "workload but no volume", "a volume statement");
	expect_error(BASE "volume name=v kind=concat size=1GiB\nworkload clients=targets\n", 4,
		     "workload runs on no client", "at least one client");
	expect_error(BASE "volume name=v kind=concat size=1MiB\nworkload span=2MiB\n", 4,
		     "past the end of volume \"v\"", "within the volume size");
	expect_error("volume name=v kind=concat size=1GiB\nduration 1s\n", 1,
		     "no topology statement", "topology targets=N");
}

static void times_after_the_duration_are_rejected(void **state)
{
	(void)state;
	expect_error(BASE "at 12s crash node:0\n", 3, "crash at 12s is after the end (10s)",
		     "a time within the duration");
	expect_error(BASE "volume name=v kind=concat size=1GiB\nworkload stop=20s\n", 4,
		     "workload stops after the end", "stop <= the duration");
	expect_error(BASE "volume name=v kind=concat size=1GiB\nworkload start=5s stop=5s\n", 4,
		     "workload stops before it starts", "start < stop");
	expect_error(BASE "volume name=v kind=concat size=1GiB\nworkload start=10s\n", 4,
		     "workload stops before it starts", "start < stop");
	expect_error(BASE "at 5s flap rack:0 | rack:1 period=1s until=11s\n", 3,
		     "flap lasts past the end", "until <= the duration");
	expect_error(BASE "at 5s flap rack:0 | rack:1 period=1s until=5s\n", 3,
		     "flap ends before it starts", "until after");
	expect_error(BASE "at 5s flap rack:0 | rack:1 period=0s until=6s\n", 3, "period \"0s\"",
		     "period from 1ns");
}

static void inconsistent_topologies_are_rejected(void **state)
{
	(void)state;
	expect_error("duration 1s\ntopology targets=4 clients=5 converged=yes\n", 2,
		     "converged topology with 5 clients on 4 targets", "clients <= targets");
	expect_error("duration 1s\ntopology targets=4 clients=1 racks=6\n", 2,
		     "racks=6 for 5 nodes", "racks from 1 to the node count");
	expect_error("duration 1s\ntopology targets=4 drive_bytes=10000\n", 2,
		     "drive_bytes=10000 is not whole 4KiB blocks", "multiple of 4KiB");
	expect_error("duration 1s\ntopology targets=600000 clients=600000\n", 2,
		     "topology of 1200000 nodes", "at most 1000000 nodes");
	expect_error("duration 1s\ntopology targets=2 racks=2 drive_bytes=1GiB\n"
		     "volume name=v kind=mirror size=1GiB count=2\n",
		     3, "volumes need 4GiB with their copies but the drives hold 2GiB",
		     "volumes that fit");
}

static void mirrors_need_as_many_racks_as_copies(void **state)
{
	(void)state;
	expect_error("duration 1s\ntopology targets=6 racks=2\n"
		     "volume name=v kind=stripe-mirror copies=3 width=2 size=1GiB\n",
		     3, "volume \"v\" has copies=3 but the topology has 2 racks", "copies <= racks");
	expect_error("duration 1s\ntopology targets=2 racks=2\nvolume name=v kind=mirror copies=3 "
		     "size=1GiB\n",
		     3, "copies=3 but the topology has 2 targets", "copies <= targets");
	/* mirrors default to 2 copies */
	expect_ok("duration 1s\ntopology targets=6 racks=2\nvolume name=v kind=mirror size=1GiB\n");
	assert_int_equal(scn->volumes[0].copies, 2);
	/* greedy placement may put copies in one rack */
	expect_ok("duration 1s\ntopology targets=6 racks=2\nplacement policy=greedy\n"
		  "volume name=v kind=stripe-mirror copies=3 width=2 size=1GiB\n");
}

static void workload_blocks_and_queues_are_bounded(void **state)
{
	(void)state;
	expect_error(BASE "workload bs=1000\n", 3, "bs 1000 is not whole 512-byte sectors",
		     "bs a multiple of 512");
	expect_error(BASE "workload bs=2MiB\n", 3, "bs \"2MiB\"", "bs from 512B to 1MiB");
	expect_error(BASE "client queue_depth=8\nvolume name=v kind=concat size=1GiB\n"
		     "workload qd=16\n",
		     5, "workload qd=16 exceeds the client queue_depth=8", "qd <= the client");
	expect_error(BASE "workload rw=randread read=30\n", 3, "read given for a workload",
		     "read only with rw=randrw");
	expect_error(BASE "workload bs=8KiB span=12KiB\n", 3, "span is not a whole number",
		     "span a multiple of bs");
	expect_error(BASE "workload rw=sequential\n", 3, "bad rw \"sequential\"",
		     "one of randread, randwrite, randrw");
	expect_ok(BASE "volume name=v kind=concat size=1GiB\nworkload bs=512 qd=32 rw=randread\n");
	assert_int_equal(scn->workloads[0].read_percent, 100);
}

static void bad_studies_are_rejected(void **state)
{
	(void)state;
	expect_error("study copysets nodes=100,50\n", 1, "cluster size 50 does not exceed 100",
		     "ascending sizes");
	expect_error("study copysets nodes=100,,200\n", 1, "bad cluster size \"\"", "ascending");
	expect_error("study copysets nodes=0\n", 1, "bad cluster size \"0\"", "from 1 to 1000000");
	expect_error("study copysets nodes=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17\n", 1,
		     "too many cluster sizes", "at most 16");
	expect_error("study copysets nodes=100 copies=4\n", 1, "copies \"4\"", "copies from 2 to 3");
	expect_error("study copysets nodes=100 scatter=257\n", 1, "scatter \"257\"",
		     "scatter from 1 to 256");
	expect_error("study copysets nodes=10,100 racks=20\n", 1, "study racks=20 for 10 nodes",
		     "at most the smallest cluster size");
	expect_error("study copysets nodes=100000 chunks_per_node=10000\n", 1,
		     "study of 333333333 chunks at 100000 nodes", "of at most 67108864");
	expect_error("study copysets nodes=2\n", 1, "study cluster size 2 below copies=3",
		     "at least copies");
	expect_error("study copysets nodes=100 failed=150%\n", 1, "failed \"150%\"",
		     "a probability from 0 to 1");
	expect_error("study copysets\n", 1, "missing required key nodes", "nodes=");
}

static void incomplete_files_are_rejected(void **state)
{
	(void)state;
	expect_error("", 1, "nothing to simulate", "a topology statement, or a study");
	expect_error("# only a comment\n\n", 2, "nothing to simulate", "a topology statement");
	expect_error("topology targets=3\nseed 4\n", 2, "no duration statement", "duration T");
	expect_error(BASE "check linearizable\n", 3, "check without a workload",
		     "a workload statement");
	expect_error(BASE "description\n", 3, "empty description", "description TEXT");
	expect_error(BASE "name\n", 3, "name takes one word", "name NAME");
	expect_error(BASE "name ../up\n", 3, "bad name \"../up\"", "a name of letters");
	expect_error(BASE "name _x\n", 3, "bad name \"_x\"", "starting with a letter or digit");
	expect_error(BASE "volume name=all kind=concat size=1GiB\n", 3, "\"all\" is reserved",
		     "other than \"all\"");
}

static void malformed_lines_are_rejected(void **state)
{
	char text[2048];

	(void)state;
	snprintf(text, sizeof(text), BASE "description %01100d\n", 0);
	expect_error(text, 3, "line too long", "at most 1024 bytes");
	expect_error(BASE "seed 1\x01\n", 3, "control character 0x01", "printable text");
	snprintf(text, sizeof(text), BASE "description %0300d\n", 0);
	expect_error(text, 3, "description too long", "at most 255");
}

/* A mutation of @text: a few bytes replaced, dropped or doubled, drawn from
 * characters that mean something to the format. */
static void mutate(char *text, size_t *len, uint64_t *rng)
{
	static const char alphabet[] = "0123456789 =:+-|>#.,%\n\tsBKiMGTnumxaz";
	unsigned edits = (unsigned)prop_range(rng, 1, 4);

	for (unsigned e = 0; e < edits && *len > 1; e++) {
		size_t at = (size_t)prop_range(rng, 0, *len - 1);

		switch (prop_range(rng, 0, 2)) {
		case 0:
			text[at] = alphabet[prop_range(rng, 0, sizeof(alphabet) - 2)];
			break;
		case 1:
			memmove(text + at, text + at + 1, *len - at);
			(*len)--;
			break;
		default:
			if (*len + 1 < MUTANT_BYTES_MAX) {
				memmove(text + at + 1, text + at, *len - at + 1);
				(*len)++;
			}
		}
	}
}

static unsigned count_lines(const char *text)
{
	unsigned lines = 0;

	for (const char *c = text; *c; c++)
		lines += *c == '\n';
	return lines + (*text && text[strlen(text) - 1] != '\n');
}

/* Every mutant of the full scenario either parses into a scenario that
 * validates again, or fails with one well-formed line that names a line of
 * the file. Run under the sanitizers, this is also a cheap fuzzer. */
static void mutated_scenarios_fail_cleanly_or_validate(void **state)
{
	static char text[MUTANT_BYTES_MAX];
	uint64_t rng = prop_seed(__func__);
	unsigned accepted = 0;

	(void)state;
	for (unsigned i = 0; i < MUTANTS; i++) {
		size_t len = strlen(full);
		unsigned line;
		int rc;

		memcpy(text, full, len + 1);
		mutate(text, &len, &rng);
		rc = parse(text);
		if (rc == 0) {
			accepted++;
			assert_int_equal(mesh_scenario_validate(scn, err, sizeof(err)), 0);
			for (uint32_t f = 1; f < scn->fault_count; f++)
				assert_true(scn->faults[f - 1].at_ns <= scn->faults[f].at_ns);
			continue;
		}
		if (rc != -EINVAL || sscanf(err, "t.scn:%u: ", &line) != 1 || line == 0 ||
		    line > count_lines(text) + 1 || !strstr(err, "; expected ") || strchr(err, '\n'))
			fail_msg("mutant %u: rc %d, error \"%s\" for:\n%s", i, rc, err, text);
	}
	printf("%u of %u mutants accepted\n", accepted, MUTANTS);
}

static int group_setup(void **state)
{
	(void)state;
	scn = malloc(sizeof(*scn));
	return scn ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	free(scn);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sizes_take_binary_units_or_bare_bytes),
		cmocka_unit_test(sizes_reject_garbage_signs_fractions_and_overflow),
		cmocka_unit_test(durations_need_a_unit),
		cmocka_unit_test(bandwidths_read_bits_and_bytes_per_second),
		cmocka_unit_test(probabilities_are_fractions_or_percentages),
		cmocka_unit_test(integers_are_plain_and_range_checked),
		cmocka_unit_test(formatting_picks_the_largest_unit),
		cmocka_unit_test(full_scenario_sets_every_field),
		cmocka_unit_test(full_scenario_volumes_and_workloads),
		cmocka_unit_test(full_scenario_faults_and_study),
		cmocka_unit_test(defaults_fill_what_is_left_out),
		cmocka_unit_test(heartbeat_timeout_defaults_to_five_intervals),
		cmocka_unit_test(name_defaults_to_the_file_base_name),
		cmocka_unit_test(disaggregated_clients_come_after_targets),
		cmocka_unit_test(converged_clients_are_spread_over_targets),
		cmocka_unit_test(racks_hold_contiguous_blocks_of_nodes),
		cmocka_unit_test(faults_keep_file_order_at_equal_times),
		cmocka_unit_test(a_study_alone_needs_no_topology),
		cmocka_unit_test(separators_need_no_spaces_and_crlf_is_accepted),
		cmocka_unit_test(load_reads_a_file),
		cmocka_unit_test(load_names_a_missing_file),
		cmocka_unit_test(validate_catches_what_an_override_breaks),
		cmocka_unit_test(unknown_keys_are_named_with_the_keys_expected),
		cmocka_unit_test(unknown_statements_and_faults_are_rejected),
		cmocka_unit_test(missing_and_repeated_keys_are_rejected),
		cmocka_unit_test(bad_units_are_rejected),
		cmocka_unit_test(out_of_range_values_are_rejected),
		cmocka_unit_test(duplicate_statements_name_both_lines),
		cmocka_unit_test(bad_node_sets_are_rejected),
		cmocka_unit_test(references_outside_the_topology_are_rejected),
		cmocka_unit_test(times_after_the_duration_are_rejected),
		cmocka_unit_test(inconsistent_topologies_are_rejected),
		cmocka_unit_test(mirrors_need_as_many_racks_as_copies),
		cmocka_unit_test(workload_blocks_and_queues_are_bounded),
		cmocka_unit_test(bad_studies_are_rejected),
		cmocka_unit_test(incomplete_files_are_rejected),
		cmocka_unit_test(malformed_lines_are_rejected),
		cmocka_unit_test(mutated_scenarios_fail_cleanly_or_validate),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/*
 * sim/main.c: mesh-sim, the scenario replayer.
 *
 *   mesh-sim SCENARIO.scn [--seed N] [--targets N] [--clients N] [--racks N]
 *            [--duration T] [--out DIR] [--trace FILE] [--platform FILE]
 *            [--log error|warn|info|debug] [--no-progress]
 *
 * Runs the scenario in SimGrid (and its copysets study, if it has one),
 * writes DIR/NAME-seedN.json and .md (DIR defaults to results/sim), prints
 * the summary, and exits 0 when every check passed, 1 when a check found a
 * violation, 2 for bad usage or a bad scenario, 3 when the run could not be
 * set up. A failure always prints the scenario and the seed.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/copyset_study.h"
#include "sim/report.h"
#include "sim/scenario.h"
#include "sim/sim.h"
#include "core/units.h"

#define EXIT_VIOLATION 1
#define EXIT_USAGE 2
#define EXIT_SETUP 3
#define ERR_MAX 512
#define COMMAND_MAX 1024

struct cli {
	const char *scenario, *out_dir, *trace, *platform;
	uint64_t seed;
	bool seed_set, progress;
	enum mesh_log_level log_level;
	const char *targets, *clients, *racks, *volumes, *duration;
	bool no_leases, no_fencing, no_resync, no_settle_check;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: mesh-sim SCENARIO.scn [--seed N] [--targets N] [--clients N] [--racks N]\n"
		   "                [--volumes N] [--duration T] [--out DIR] [--trace FILE] [--platform FILE]\n"
		   "                [--log error|warn|info|debug] [--no-progress]\n"
		   "                [--unsafe no-leases|no-fencing|no-resync|no-settle-check]...\n");
}

static int cli_parse(int argc, char **argv, struct cli *c)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "targets", required_argument, NULL, 't' },
		{ "clients", required_argument, NULL, 'c' },
		{ "racks", required_argument, NULL, 'r' },
		{ "volumes", required_argument, NULL, 'v' },
		{ "duration", required_argument, NULL, 'd' },
		{ "out", required_argument, NULL, 'o' },
		{ "trace", required_argument, NULL, 'T' },
		{ "platform", required_argument, NULL, 'p' },
		{ "log", required_argument, NULL, 'l' },
		{ "no-progress", no_argument, NULL, 'n' },
		{ "unsafe", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int o;

	*c = (struct cli){ .out_dir = "results/sim", .log_level = MESH_LOG_WARN,
			   .progress = isatty(STDERR_FILENO) };
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			if (mesh_units_parse_u64(optarg, 0, UINT64_MAX, &c->seed)) {
				fprintf(stderr, "mesh-sim: --seed %s: expected an unsigned integer\n", optarg);
				return -EINVAL;
			}
			c->seed_set = true;
			break;
		case 't': c->targets = optarg; break;
		case 'c': c->clients = optarg; break;
		case 'r': c->racks = optarg; break;
		case 'v': c->volumes = optarg; break;
		case 'd': c->duration = optarg; break;
		case 'o': c->out_dir = optarg; break;
		case 'T': c->trace = optarg; break;
		case 'p': c->platform = optarg; break;
		case 'l':
			if (mesh_log_level_parse(optarg, &c->log_level)) {
				fprintf(stderr, "mesh-sim: --log %s: expected error, warn, info or debug\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'n': c->progress = false; break;
		case 'u':
			if (!strcmp(optarg, "no-leases")) {
				c->no_leases = true;
			} else if (!strcmp(optarg, "no-fencing")) {
				c->no_fencing = true;
			} else if (!strcmp(optarg, "no-resync")) {
				c->no_resync = true;
			} else if (!strcmp(optarg, "no-settle-check")) {
				c->no_settle_check = true;
			} else {
				fprintf(stderr, "mesh-sim: --unsafe %s: expected no-leases, no-fencing, "
						"no-resync or no-settle-check\n", optarg);
				return -EINVAL;
			}
			break;
		case 'h': usage(stdout); exit(0);
		default: return -EINVAL;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return -EINVAL;
	}
	c->scenario = argv[optind];
	return 0;
}

static int override_u32(const char *flag, const char *v, uint32_t min, uint32_t max,
			uint32_t *out)
{
	if (!v)
		return 0;
	if (mesh_units_parse_u32(v, min, max, out)) {
		fprintf(stderr, "mesh-sim: --%s %s: expected an integer from %u to %u\n", flag, v, min,
			max);
		return -EINVAL;
	}
	return 0;
}

/* Apply size flags, then check the scenario again as a whole. */
static int overrides_apply(const struct cli *c, struct mesh_scenario *s)
{
	char err[ERR_MAX];
	uint64_t ns;

	if (override_u32("targets", c->targets, 1, MESH_SCN_NODES_MAX, &s->topology.targets) ||
	    override_u32("clients", c->clients, 0, MESH_SCN_NODES_MAX, &s->topology.clients) ||
	    override_u32("racks", c->racks, 1, MESH_SCN_NODES_MAX, &s->topology.racks))
		return -EINVAL;
	if (c->volumes) {
		/* One count for several volume lines would be ambiguous. */
		if (s->volume_count != 1) {
			fprintf(stderr, "mesh-sim: --volumes needs a scenario with one volume line; "
					"%s has %u\n", c->scenario, s->volume_count);
			return -EINVAL;
		}
		if (override_u32("volumes", c->volumes, 1, MESH_SCN_VOLUME_COUNT_MAX,
				 &s->volumes[0].count))
			return -EINVAL;
	}
	if (c->duration) {
		if (mesh_units_parse_duration(c->duration, &ns) || !ns) {
			fprintf(stderr, "mesh-sim: --duration %s: expected a duration such as 5s\n",
				c->duration);
			return -EINVAL;
		}
		mesh_scenario_set_duration(s, ns);
	}
	if (c->seed_set)
		s->seed = c->seed;
	if (mesh_scenario_validate(s, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return -EINVAL;
	}
	return 0;
}

static void command_line(int argc, char **argv, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = '\0';
	for (int i = 0; i < argc && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%s", i ? " " : "", argv[i]);
}

static FILE *out_open(const char *dir, const char *name, uint64_t seed, const char *ext)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s-seed%" PRIu64 ".%s", dir, name, seed, ext);
	f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "mesh-sim: cannot write %s: %s\n", path, strerror(errno));
	return f;
}

static int out_dir_make(const char *dir)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s", dir);
	for (char *p = path + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
	}
	if (mkdir(path, 0755) && errno != EEXIST) {
		fprintf(stderr, "mesh-sim: cannot make %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	return 0;
}

static int study_run(const struct mesh_scenario *s, const char *dir)
{
	struct mesh_copyset_study_row rows[MESH_SCN_STUDY_SIZES_MAX];
	char err[ERR_MAX];
	FILE *json = out_open(dir, s->name, s->seed, "json");
	FILE *md = out_open(dir, s->name, s->seed, "md");
	int n = -EIO;

	if (json && md)
		n = mesh_copyset_study_run(&s->study, s->seed, rows, MESH_SCN_STUDY_SIZES_MAX, json, md,
					   err, sizeof(err));
	if (json)
		fclose(json);
	if (md)
		fclose(md);
	if (n < 0) {
		fprintf(stderr, "mesh-sim: %s seed %" PRIu64 ": study failed: %s\n", s->path, s->seed,
			n == -EIO ? "cannot write results" : err);
		return n;
	}
	mesh_copyset_study_write_markdown(stdout, &s->study, s->seed, rows, (uint32_t)n);
	return 0;
}

static int sim_report(const struct mesh_scenario *s, const struct mesh_sim_result *r,
		      const char *dir, const char *command)
{
	FILE *json = out_open(dir, s->name, s->seed, "json");
	FILE *md = out_open(dir, s->name, s->seed, "md");
	int rc = json && md ? 0 : -EIO;

	if (json) {
		rc = rc ? rc : mesh_report_json(json, s, r, command);
		fclose(json);
	}
	if (md) {
		rc = rc ? rc : mesh_report_markdown(md, s, r, command);
		fclose(md);
	}
	mesh_report_markdown(stdout, s, r, command);
	return rc;
}

int main(int argc, char **argv)
{
	static struct mesh_scenario scn;
	struct mesh_sim_result res;
	char err[ERR_MAX], command[COMMAND_MAX];
	struct cli c;
	int rc;

	/* Messages and blocks come and go by the million: keep freed memory
	 * in the process instead of handing it back to the kernel and paying
	 * for zeroed pages again (a tenth of the run at 10,000 nodes). */
	mallopt(M_TRIM_THRESHOLD, 1 << 30);
	mallopt(M_TOP_PAD, 64 << 20);
	if (cli_parse(argc, argv, &c))
		return EXIT_USAGE;
	if (mesh_scenario_load(c.scenario, &scn, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return EXIT_USAGE;
	}
	if (overrides_apply(&c, &scn))
		return EXIT_USAGE;
	command_line(argc, argv, command, sizeof(command));
	if (out_dir_make(c.out_dir))
		return EXIT_SETUP;
	if (scn.study.present && study_run(&scn, c.out_dir))
		return EXIT_SETUP;
	if (!scn.has_topology)
		return 0;

	struct mesh_sim_options o = {
		.seed = scn.seed,
		.log_level = c.log_level,
		.progress = c.progress,
		.platform_path = c.platform,
		.no_leases = c.no_leases,
		.no_fencing = c.no_fencing,
		.no_resync = c.no_resync,
		.no_settle_check = c.no_settle_check,
	};

	if (c.trace && !(o.trace = fopen(c.trace, "w"))) {
		fprintf(stderr, "mesh-sim: cannot write %s: %s\n", c.trace, strerror(errno));
		return EXIT_SETUP;
	}
	rc = mesh_sim_run(&scn, &o, &res);
	if (o.trace)
		fclose(o.trace);
	if (rc) {
		fprintf(stderr, "mesh-sim: %s seed %" PRIu64 ": run failed\n", scn.path, scn.seed);
		/* -EINVAL: the scenario asks for what the simulator cannot do. */
		return rc == -EINVAL ? EXIT_USAGE : EXIT_SETUP;
	}
	if (sim_report(&scn, &res, c.out_dir, command))
		return EXIT_SETUP;
	if (!mesh_report_passed(&res)) {
		/* Everything that shapes the run, so the command replays it. */
		fprintf(stderr, "mesh-sim: %s seed %" PRIu64 ": checks FAILED; rerun with "
				"`mesh-sim %s --seed %" PRIu64 "%s%s%s%s%s%s%s%s%s%s%s%s%s%s`\n", scn.path,
			scn.seed, scn.path, scn.seed, c.no_leases ? " --unsafe no-leases" : "",
			c.no_fencing ? " --unsafe no-fencing" : "",
			c.no_resync ? " --unsafe no-resync" : "",
			c.no_settle_check ? " --unsafe no-settle-check" : "",
			c.targets ? " --targets " : "", c.targets ? c.targets : "",
			c.clients ? " --clients " : "", c.clients ? c.clients : "",
			c.racks ? " --racks " : "", c.racks ? c.racks : "",
			c.volumes ? " --volumes " : "", c.volumes ? c.volumes : "",
			c.duration ? " --duration " : "", c.duration ? c.duration : "");
		return EXIT_VIOLATION;
	}
	return 0;
}

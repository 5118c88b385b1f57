/*
 * apps/meshd.c: the mesh daemon. One per host: it serves the host's
 * drives as a storage target of the cluster that the configuration file
 * describes (runtime/conf.h, docs/meshd.md), running the same core roles
 * as the simulator: the topology manager, fencing, resync, heartbeat.
 * Applications are the clients: they link libmesh (or run fio with the
 * mesh engine) and do the data services themselves.
 *
 *   meshd --config FILE --target ID [--transport NAME] [--log-level info]
 *
 * The transport is the cluster file's (transport=, default tcp) unless
 * --transport names another; every node of a cluster must speak the same.
 *
 * SIGTERM or SIGINT stops it cleanly: it stops taking requests, lets the
 * drive I/O under way finish (bounded by MESHD_DRAIN_NS), writes back
 * what the page cache holds and exits 0. A write is acknowledged only
 * after its drive write completed, so nothing acknowledged is lost.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/units.h"
#include "runtime/conf.h"
#include "runtime/evloop.h"
#include "runtime/host.h"
#include "runtime/storage.h"

/* Longest wait for drive I/O under way at shutdown. */
#define MESHD_DRAIN_NS 5000000000ull
/* Longest sleep of the main loop: how soon a signal is noticed. */
#define MESHD_TICK_NS 100000000ull

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: meshd --config FILE --target ID [--transport tcp|fabric[:PROVIDER]|"
		   "verbs[:DEVICE]]\n"
		   "             [--log-level error|warn|info|debug]\n"
		   "Serve target ID's drives of the cluster FILE describes (docs/meshd.md).\n");
}

struct options {
	const char *config;
	uint32_t target;
	bool target_given;
	const char *transport;  /* NULL: the cluster file's */
	enum mesh_log_level log_level;
};

static int options_parse(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "target", required_argument, NULL, 't' },
		{ "transport", required_argument, NULL, 'T' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt;

	*o = (struct options){ .log_level = MESH_LOG_INFO };
	while ((opt = getopt_long(argc, argv, "c:t:T:l:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o->config = optarg;
			break;
		case 't':
			if (mesh_units_parse_u32(optarg, 0, MESH_CONF_TARGETS_MAX - 1, &o->target)) {
				fprintf(stderr, "meshd: --target \"%s\": expected a target id "
						"(0..%u)\n", optarg, MESH_CONF_TARGETS_MAX - 1);
				return 2;
			}
			o->target_given = true;
			break;
		case 'T':
			o->transport = optarg;
			break;
		case 'l':
			if (mesh_log_level_parse(optarg, &o->log_level)) {
				fprintf(stderr, "meshd: --log-level \"%s\": expected error, warn, "
						"info or debug\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || !o->config || !o->target_given) {
		usage(stderr);
		return 2;
	}
	return 0;
}

static int signals_catch(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN); /* a peer gone mid-send is an error, not death */
	return 0;
}

/* Serve until a signal, then drain. Returns the exit status. */
static int serve(struct mesh_host *h, struct mesh_storage *s, uint32_t self)
{
	const struct mesh_env *env = &mesh_host_node(h)->env;
	uint64_t deadline;
	int rc = 0;

	mesh_log_info(env, "target %u serving over %s", self, mesh_host_transport(h));
	while (!stop_signal && rc >= 0)
		rc = mesh_host_run_once(h, MESHD_TICK_NS);
	if (rc < 0) {
		mesh_log_error(env, "event loop failed: %s", strerror(-rc));
		return 1;
	}
	mesh_log_info(env, "%s: stopping; %u requests under way",
		      stop_signal == SIGTERM ? "SIGTERM" : "SIGINT", mesh_storage_inflight(s));
	deadline = mesh_evloop_now_ns() + MESHD_DRAIN_NS;
	while (mesh_storage_inflight(s) && mesh_evloop_now_ns() < deadline)
		mesh_host_run_once(h, MESHD_TICK_NS / 10);
	if (mesh_storage_inflight(s)) {
		mesh_log_warn(env, "%u requests still under way after the drain; their clients "
			      "were not answered and will retry elsewhere",
			      mesh_storage_inflight(s));
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o;
	struct mesh_conf *conf = NULL;
	struct mesh_host *h = NULL;
	struct mesh_storage *s = NULL;
	char err[512];
	int rc = options_parse(argc, argv, &o), status = 1;

	if (rc)
		return rc;
	rc = mesh_conf_load(o.config, &conf, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "meshd: %s\n", err);
		return 1;
	}
	if (o.target >= conf->target_count) {
		fprintf(stderr, "meshd: --target %u: %s lists targets 0..%u\n", o.target, o.config,
			conf->target_count - 1);
		goto out_conf;
	}
	if (signals_catch())
		goto out_conf;
	{
		const struct mesh_conf_target *t = &conf->targets[o.target];
		struct mesh_host_config hcfg = {
			.self = o.target,
			.listen_addr = t->addr,
			.transport = o.transport ? o.transport : conf->transport,
			.meta_dir = t->meta_dir,
			.log_level = o.log_level,
		};

		if (mesh_host_create(&hcfg, &h))
			goto out_conf;
	}
	for (uint32_t i = 0; i < conf->target_count; i++) {
		if (i != o.target && mesh_host_peer_add(h, i, conf->targets[i].addr))
			goto out_host;
	}
	if (mesh_storage_start(h, conf, o.target, &s))
		goto out_host;
	status = serve(h, s, o.target);
	mesh_storage_stop(s);
out_host:
	mesh_host_destroy(h);
	if (status == 0)
		fprintf(stderr, "meshd: target %u stopped cleanly\n", o.target);
out_conf:
	mesh_conf_free(conf);
	return status;
}

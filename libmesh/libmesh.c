/*
 * libmesh/libmesh.c: the client library (see libmesh.h): a real node
 * (runtime/host.h) with only the client role, made from the cluster
 * configuration file.
 */
#include "libmesh/libmesh.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "runtime/conf.h"
#include "runtime/evloop.h"
#include "runtime/host.h"

/* The volume's id inside the client: a handle serves one volume. */
#define VOLUME_ID 0u
/* Longest wait at open for the connections to the targets. */
#define CONNECT_WAIT_NS 2000000000ull

struct mesh_volume {
	struct mesh_host *host;
	struct mesh_client *client;
	struct mesh_conf *conf;
	uint64_t bytes;
	uint64_t io_timeout_ns;
	uint32_t spin_ns;
};

/* A random id in the clients' range: two clients with one id would take
 * each other's replies, so each open draws afresh. */
static int client_id_draw(uint32_t *id)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -errno;
	*id = MESH_CONF_CLIENT_ID_MIN + r % (UINT32_MAX - MESH_CONF_CLIENT_ID_MIN);
	return 0;
}

static int options_check(const struct mesh_volume_options *o)
{
	if (!o || !o->config || !o->volume) {
		fprintf(stderr, "libmesh: a configuration file and a volume name are needed\n");
		return -EINVAL;
	}
	if (o->queue_depth > MESH_VOLUME_QUEUE_DEPTH_MAX) {
		fprintf(stderr, "libmesh: queue depth %u: at most %u\n", o->queue_depth,
			MESH_VOLUME_QUEUE_DEPTH_MAX);
		return -EINVAL;
	}
	if (o->client_id && o->client_id < MESH_CONF_CLIENT_ID_MIN) {
		fprintf(stderr, "libmesh: client id %u: clients take ids from %u up\n",
			o->client_id, MESH_CONF_CLIENT_ID_MIN);
		return -EINVAL;
	}
	if (o->spin_ns > MESH_VOLUME_SPIN_NS_MAX) {
		fprintf(stderr, "libmesh: spin %u ns: at most %u\n", o->spin_ns,
			MESH_VOLUME_SPIN_NS_MAX);
		return -EINVAL;
	}
	return 0;
}

static int client_start(struct mesh_volume *v, const struct mesh_volume_options *o, int vol)
{
	const struct mesh_conf *conf = v->conf;
	const struct mesh_layout *l = &conf->volumes[vol].layout;
	struct mesh_client_config cfg = {
		.queue_depth = o->queue_depth ? o->queue_depth : MESH_VOLUME_QUEUE_DEPTH_DEFAULT,
		.io_timeout_ns = v->io_timeout_ns,
		.lease_ns = conf->lease_ns,
		.drift_ppm = conf->drift_ppm,
		.one_sided_reads = !o->two_sided_reads && mesh_host_one_sided(v->host),
	};
	struct mesh_node *n = mesh_host_node(v->host);
	int rc = 0;

	for (uint32_t t = 0; rc == 0 && t < conf->target_count; t++)
		rc = mesh_host_peer_add(v->host, t, conf->targets[t].addr);
	if (rc == 0)
		rc = mesh_client_create(&n->env, &cfg, &v->client);
	if (rc == 0)
		rc = mesh_client_volume_add(v->client, VOLUME_ID, l);
	for (uint32_t sg = 0; rc == 0 && sg < l->segment_count; sg++)
		rc = mesh_client_group_add(v->client, &conf->groups[l->segments[sg].group - 1]);
	n->client = v->client;
	v->bytes = l->volume_bytes;
	return rc;
}

/* Bring the connections to the targets up before the first I/O, so that
 * it does not wait out a resend for each (fabric and verbs take a
 * handshake). Bounded; a target that does not answer is left to the
 * client's retries. */
static void connect_all(struct mesh_volume *v)
{
	uint64_t deadline = mesh_evloop_now_ns() + CONNECT_WAIT_NS;

	mesh_host_peers_connect(v->host);
	while (mesh_host_peers_connecting(v->host) && mesh_evloop_now_ns() < deadline)
		(void)mesh_host_run_once(v->host, 1000000);
}

int mesh_volume_open(const struct mesh_volume_options *o, struct mesh_volume **out)
{
	struct mesh_volume *v;
	struct mesh_host_config hcfg = { 0 };
	const char *log_env;
	char err[512];
	int rc = options_check(o), vol;

	if (rc)
		return rc;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	rc = mesh_conf_load(o->config, &v->conf, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "libmesh: %s\n", err);
		free(v);
		return rc;
	}
	vol = mesh_conf_volume_find(v->conf, o->volume);
	if (vol < 0) {
		fprintf(stderr, "libmesh: %s defines no volume \"%s\"; it has:", o->config,
			o->volume);
		for (uint32_t i = 0; i < v->conf->volume_count; i++)
			fprintf(stderr, " %s", v->conf->volumes[i].name);
		fprintf(stderr, "\n");
		mesh_volume_close(v);
		return -ENOENT;
	}
	v->io_timeout_ns = o->io_timeout_ns ? o->io_timeout_ns : v->conf->io_timeout_ns;
	v->spin_ns = o->spin_ns ? o->spin_ns : MESH_VOLUME_SPIN_NS_DEFAULT;
	hcfg.log_level = o->log_level;
	log_env = getenv(MESH_VOLUME_LOG_ENV);
	if (log_env && mesh_log_level_parse(log_env, &hcfg.log_level))
		fprintf(stderr, "libmesh: %s=%s: expected error, warn, info or debug; ignored\n",
			MESH_VOLUME_LOG_ENV, log_env);
	hcfg.self = o->client_id;
	hcfg.transport = o->transport && *o->transport ? o->transport : v->conf->transport;
	hcfg.route_hint = v->conf->targets[0].addr;
	rc = hcfg.self ? 0 : client_id_draw(&hcfg.self);
	if (rc == 0)
		rc = mesh_host_create(&hcfg, &v->host);
	if (rc == 0)
		rc = client_start(v, o, vol);
	if (rc == 0)
		connect_all(v);
	if (rc) {
		fprintf(stderr, "libmesh: volume %s: not opened: %s\n", o->volume, strerror(-rc));
		mesh_volume_close(v);
		return rc;
	}
	*out = v;
	return 0;
}

void mesh_volume_close(struct mesh_volume *v)
{
	struct mesh_io_done done[64];

	if (!v)
		return;
	if (v->client) {
		uint64_t deadline = mesh_evloop_now_ns() + v->io_timeout_ns;

		while (mesh_client_inflight(v->client) && mesh_evloop_now_ns() < deadline)
			(void)mesh_volume_poll(v, done, 1, 64, deadline - mesh_evloop_now_ns());
		/* One-sided reads given up on may still land in the client's
		 * buffers: let them finish too. */
		while (mesh_client_rma_inflight(v->client) && mesh_evloop_now_ns() < deadline)
			(void)mesh_host_run_once(v->host, 1000000);
		mesh_host_node(v->host)->client = NULL;
		mesh_client_destroy(v->client);
	}
	mesh_host_destroy(v->host);
	mesh_conf_free(v->conf);
	free(v);
}

uint64_t mesh_volume_bytes(const struct mesh_volume *v)
{
	return v->bytes;
}

int mesh_volume_submit(struct mesh_volume *v, enum mesh_io_op op, void *buf, uint32_t length,
		       uint64_t offset, uint64_t cookie)
{
	struct mesh_io io = {
		.volume = VOLUME_ID, .op = op, .offset = offset, .length = length,
		.buf = buf, .cookie = cookie,
	};

	return mesh_client_submit(v->client, &io);
}

int mesh_volume_poll(struct mesh_volume *v, struct mesh_io_done *out, unsigned min, unsigned max,
		     uint64_t timeout_ns)
{
	uint64_t start = mesh_evloop_now_ns(), now = start;
	uint64_t deadline = start + timeout_ns, spin_end = start + v->spin_ns;
	unsigned got = mesh_client_reap(v->client, out, max);

	min = min < max ? min : max;
	while (got < min && now <= deadline) {
		/* Busy-poll first: a completion due in microseconds is found
		 * without a wake-up; then sleep until something arrives. */
		int rc = mesh_host_run_once(v->host, now < spin_end ? 0 : deadline - now);

		if (rc < 0)
			return rc;
		got += mesh_client_reap(v->client, out + got, max - got);
		now = mesh_evloop_now_ns();
		if (now >= deadline)
			break;
	}
	return (int)got;
}

unsigned mesh_volume_inflight(const struct mesh_volume *v)
{
	return mesh_client_inflight(v->client);
}

static int sync_io(struct mesh_volume *v, enum mesh_io_op op, void *buf, uint32_t length,
		   uint64_t offset)
{
	/* A cookie no asynchronous I/O of this handle is likely to use. */
	const uint64_t cookie = UINT64_MAX - 1;
	struct mesh_io_done done;
	int rc;

	if (mesh_client_inflight(v->client))
		return -EBUSY; /* its completion would be reaped by someone else */
	rc = mesh_volume_submit(v, op, buf, length, offset, cookie);
	if (rc)
		return rc;
	/* The client fails an I/O itself after its timeout; wait a little
	 * longer than that for the completion. */
	rc = mesh_volume_poll(v, &done, 1, 1, v->io_timeout_ns + 1000000000ull);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return -ETIMEDOUT;
	return done.status;
}

int mesh_volume_pread(struct mesh_volume *v, void *buf, uint32_t length, uint64_t offset)
{
	return sync_io(v, MESH_IO_READ, buf, length, offset);
}

int mesh_volume_pwrite(struct mesh_volume *v, const void *buf, uint32_t length, uint64_t offset)
{
	/* The client does not write into a write's buffer. */
	return sync_io(v, MESH_IO_WRITE, (void *)buf, length, offset);
}

void mesh_volume_stats(const struct mesh_volume *v, struct mesh_client_stats *out)
{
	mesh_client_stats(v->client, out);
}

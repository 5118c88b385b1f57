/*
 * fio-engine/mesh_engine.c: fio's I/O engine for mesh volumes, an
 * external engine (a shared object fio loads) built against fio 3.33's
 * headers. Each fio job opens the volume through libmesh and is a mesh
 * client of its own, so several jobs write at once as several clients.
 *
 *   fio --ioengine=mesh --cluster=cluster.conf --volume=vol0 ...
 *   fio --ioengine=external:/path/libfio_mesh.so --cluster=... --volume=...
 *
 * (--ioengine=mesh finds the engine as a file named "mesh" on
 * LD_LIBRARY_PATH: the build puts that link next to libfio_mesh.so.)
 *
 * The async contract: queue() submits and returns FIO_Q_QUEUED, or
 * FIO_Q_BUSY when the job's queue depth is reached; getevents() polls
 * libmesh; event() hands back the io_u whose cookie came back. Every
 * buffer of completions is sized by iodepth in init(), so queue() never
 * allocates.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fio.h"
#include "optgroup.h"

#include "libmesh/libmesh.h"
#include "runtime/conf.h"

/* Where the cluster file is looked for when --cluster is not given. */
#define ENGINE_CLUSTER_ENV "MESH_CLUSTER"
#define ENGINE_CLUSTER_DEFAULT "/etc/mesh/cluster.conf"

struct engine_options {
	void *pad; /* fio keeps its own pointer first */
	char *cluster;
	char *volume;
	char *transport;
	unsigned int spin_us;
	unsigned int one_sided;
};

struct engine {
	struct mesh_volume *vol;
	struct mesh_io_done *done;
	struct io_u **events;
	unsigned depth;
};

static struct fio_option options[] = {
	{
		.name = "cluster",
		.lname = "mesh cluster file",
		.type = FIO_OPT_STR_STORE,
		.off1 = offsetof(struct engine_options, cluster),
		.help = "mesh cluster configuration file (default: $" ENGINE_CLUSTER_ENV
			", then " ENGINE_CLUSTER_DEFAULT ")",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = "volume",
		.lname = "mesh volume",
		.type = FIO_OPT_STR_STORE,
		.off1 = offsetof(struct engine_options, volume),
		.help = "name of the mesh volume in the cluster file",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = "transport",
		.lname = "mesh transport",
		.type = FIO_OPT_STR_STORE,
		.off1 = offsetof(struct engine_options, transport),
		.help = "how the client reaches the targets: tcp, fabric[:PROVIDER], "
			"verbs[:DEVICE] (default: the cluster file's)",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = "spin_us",
		.lname = "mesh busy-poll time",
		.type = FIO_OPT_INT,
		.off1 = offsetof(struct engine_options, spin_us),
		.help = "microseconds to busy-poll for completions before sleeping",
		.def = "20",
		.minval = 1,
		.maxval = MESH_VOLUME_SPIN_NS_MAX / 1000,
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = "one_sided",
		.lname = "mesh one-sided reads",
		.type = FIO_OPT_BOOL,
		.off1 = offsetof(struct engine_options, one_sided),
		.help = "read the tails' memory one-sided where the transport can (fabric, verbs)",
		.def = "1",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{ .name = NULL },
};

static const char *cluster_file(const struct engine_options *o)
{
	const char *env = getenv(ENGINE_CLUSTER_ENV);

	if (o->cluster)
		return o->cluster;
	return env && *env ? env : ENGINE_CLUSTER_DEFAULT;
}

/* The volume's size, from the cluster file alone (no connection): fio
 * sizes its one pretend file here, before any job starts. */
static int mesh_setup(struct thread_data *td)
{
	struct engine_options *o = td->eo;
	struct mesh_conf *conf;
	char err[512];
	int vol;

	if (!o->volume) {
		log_err("mesh: name the volume with --volume=NAME\n");
		return 1;
	}
	if (mesh_conf_load(cluster_file(o), &conf, err, sizeof(err))) {
		log_err("mesh: %s\n", err);
		return 1;
	}
	vol = mesh_conf_volume_find(conf, o->volume);
	if (vol < 0) {
		log_err("mesh: %s defines no volume \"%s\"\n", cluster_file(o), o->volume);
		mesh_conf_free(conf);
		return 1;
	}
	if (!td->files_index) {
		add_file(td, o->volume, 0, 0);
		td->o.nr_files = td->o.nr_files ? td->o.nr_files : 1;
		td->o.open_files++;
	}
	td->files[0]->real_file_size = conf->volumes[vol].layout.volume_bytes;
	fio_file_set_size_known(td->files[0]);
	mesh_conf_free(conf);
	return 0;
}

static void mesh_cleanup(struct thread_data *td)
{
	struct engine *e = td->io_ops_data;

	if (!e)
		return;
	mesh_volume_close(e->vol);
	free(e->done);
	free(e->events);
	free(e);
	td->io_ops_data = NULL;
}

/* Each job (thread or process) is a client of its own. */
static int mesh_init(struct thread_data *td)
{
	struct engine_options *o = td->eo;
	struct engine *e = calloc(1, sizeof(*e));
	struct mesh_volume_options vo = {
		.config = cluster_file(o),
		.volume = o->volume,
		.transport = o->transport,
		.queue_depth = td->o.iodepth,
		.spin_ns = o->spin_us * 1000u,
		.two_sided_reads = !o->one_sided,
		.log_level = MESH_LOG_WARN,
	};
	int rc;

	if (!e)
		return 1;
	td->io_ops_data = e;
	e->depth = td->o.iodepth ? td->o.iodepth : 1;
	e->done = calloc(e->depth, sizeof(*e->done));
	e->events = calloc(e->depth, sizeof(*e->events));
	if (!e->done || !e->events) {
		mesh_cleanup(td);
		return 1;
	}
	rc = mesh_volume_open(&vo, &e->vol);
	if (rc) {
		td_verror(td, -rc, "mesh_volume_open");
		mesh_cleanup(td);
		return 1;
	}
	return 0;
}

static enum fio_q_status mesh_queue(struct thread_data *td, struct io_u *io_u)
{
	struct engine *e = td->io_ops_data;
	enum mesh_io_op op;
	int rc;

	fio_ro_check(td, io_u);
	switch (io_u->ddir) {
	case DDIR_READ:
		op = MESH_IO_READ;
		break;
	case DDIR_WRITE:
		op = MESH_IO_WRITE;
		break;
	case DDIR_SYNC:
	case DDIR_DATASYNC:
		/* A write completes once every copy's drive write did;
		 * there is nothing older left to flush. */
		return FIO_Q_COMPLETED;
	default:
		io_u->error = EOPNOTSUPP;
		return FIO_Q_COMPLETED;
	}
	rc = mesh_volume_submit(e->vol, op, io_u->xfer_buf, (uint32_t)io_u->xfer_buflen,
				io_u->offset, (uint64_t)(uintptr_t)io_u);
	if (rc == -EAGAIN)
		return FIO_Q_BUSY;
	if (rc) {
		io_u->error = -rc;
		return FIO_Q_COMPLETED;
	}
	return FIO_Q_QUEUED;
}

static int mesh_getevents(struct thread_data *td, unsigned int min, unsigned int max,
			  const struct timespec *t)
{
	struct engine *e = td->io_ops_data;
	/* No timeout from fio means "until min are done": the client fails
	 * every I/O itself after its I/O timeout, so this ends. */
	uint64_t timeout_ns = t ? (uint64_t)t->tv_sec * 1000000000ull + (uint64_t)t->tv_nsec
				: UINT64_MAX / 2;
	int n;

	max = max < e->depth ? max : e->depth;
	n = mesh_volume_poll(e->vol, e->done, min, max, timeout_ns);
	if (n < 0) {
		td_verror(td, -n, "mesh_volume_poll");
		return n;
	}
	for (int i = 0; i < n; i++) {
		struct io_u *io_u = (struct io_u *)(uintptr_t)e->done[i].cookie;

		io_u->error = -e->done[i].status;
		e->events[i] = io_u;
	}
	return n;
}

static struct io_u *mesh_event(struct thread_data *td, int event)
{
	struct engine *e = td->io_ops_data;

	return e->events[event];
}

static int mesh_open_file(struct thread_data *td, struct fio_file *f)
{
	(void)td;
	(void)f;
	return 0;
}

static int mesh_close_file(struct thread_data *td, struct fio_file *f)
{
	(void)td;
	(void)f;
	return 0;
}

/* fio looks this symbol up in the shared object (FIO_IOOPS_VERSION 31). */
struct ioengine_ops ioengine = {
	.name = "mesh",
	.version = FIO_IOOPS_VERSION,
	.flags = FIO_DISKLESSIO | FIO_NOEXTEND,
	.setup = mesh_setup,
	.init = mesh_init,
	.cleanup = mesh_cleanup,
	.queue = mesh_queue,
	.getevents = mesh_getevents,
	.event = mesh_event,
	.open_file = mesh_open_file,
	.close_file = mesh_close_file,
	.options = options,
	.option_struct_size = sizeof(struct engine_options),
};

/*
 * runtime/conf.c: the cluster configuration file (see conf.h): a strict
 * line parser, then the plan every node derives from it.
 */
#include "runtime/conf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/group.h"
#include "core/target.h"
#include "core/units.h"

/* Words in one statement: the keyword, a name or number, and options. */
#define WORDS_MAX 16u

/* Defaults for a cluster on one fast network: a failure is seen within
 * a second, a lease outlives a few heartbeats, an I/O waits out a failover. */
#define DEFAULT_HEARTBEAT_NS 100000000ull
#define DEFAULT_HEARTBEAT_TIMEOUT_NS 1000000000ull
#define DEFAULT_LEASE_NS 2000000000ull
#define DEFAULT_IO_TIMEOUT_NS 10000000000ull
#define DEFAULT_DRIFT_PPM 1000u

struct parser {
	struct mesh_conf *c;
	const char *name;
	unsigned line;
	char *err;
	size_t err_len;
};

struct words {
	char *w[WORDS_MAX];
	unsigned count;
};

static int fail(struct parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct parser *p, const char *fmt, ...)
{
	int n = snprintf(p->err, p->err_len, "%s:%u: ", p->name, p->line);
	va_list ap;

	if (n >= 0 && (size_t)n < p->err_len) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->err_len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* "key=value": the value of @key in @w from word @first on, or NULL. */
static const char *option(const struct words *w, unsigned first, const char *key)
{
	size_t len = strlen(key);

	for (unsigned i = first; i < w->count; i++) {
		if (strncmp(w->w[i], key, len) == 0 && w->w[i][len] == '=')
			return w->w[i] + len + 1;
	}
	return NULL;
}

/* Every word from @first on is one of @keys (NULL-terminated), once. */
static int options_known(struct parser *p, const struct words *w, unsigned first,
			 const char *const *keys)
{
	for (unsigned i = first; i < w->count; i++) {
		const char *eq = strchr(w->w[i], '=');
		bool known = false;

		for (unsigned k = 0; eq && keys[k]; k++)
			known |= strlen(keys[k]) == (size_t)(eq - w->w[i]) &&
				 strncmp(w->w[i], keys[k], (size_t)(eq - w->w[i])) == 0;
		if (!known)
			return fail(p, "%s: unknown option \"%s\"", w->w[0], w->w[i]);
		for (unsigned j = first; j < i; j++) {
			if (strncmp(w->w[j], w->w[i], (size_t)(eq - w->w[i]) + 1) == 0)
				return fail(p, "%s: option \"%.*s\" given twice", w->w[0],
					    (int)(eq - w->w[i]), w->w[i]);
		}
	}
	return 0;
}

static int need(struct parser *p, const struct words *w, unsigned first, const char *key,
		const char **value)
{
	*value = option(w, first, key);
	if (!*value)
		return fail(p, "%s: missing %s=...", w->w[0], key);
	return 0;
}

static int parse_size(struct parser *p, const char *what, const char *s, uint64_t *bytes)
{
	int rc = mesh_units_parse_size(s, bytes);

	if (rc)
		return fail(p, "%s \"%s\": expected a size such as 256MiB", what, s);
	if (*bytes == 0 || *bytes % MESH_BLOCK_BYTES)
		return fail(p, "%s \"%s\": expected a nonzero multiple of 4KiB", what, s);
	return 0;
}

static int parse_duration(struct parser *p, const char *what, const char *s, uint64_t *ns)
{
	if (mesh_units_parse_duration(s, ns) || *ns == 0)
		return fail(p, "%s \"%s\": expected a nonzero duration such as 2s or 100ms", what,
			    s);
	return 0;
}

static int parse_u32(struct parser *p, const char *what, const char *s, uint32_t min,
		     uint32_t max, uint32_t *v)
{
	if (mesh_units_parse_u32(s, min, max, v))
		return fail(p, "%s \"%s\": expected a whole number in %u..%u", what, s, min, max);
	return 0;
}

static int copy_string(struct parser *p, const char *what, const char *s, char *dst, size_t cap)
{
	if (!*s || strlen(s) >= cap)
		return fail(p, "%s: expected 1 to %zu characters", what, cap - 1);
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

static int stmt_cluster(struct parser *p, const struct words *w)
{
	static const char *const keys[] = { "lease", "io_timeout", "heartbeat",
					    "heartbeat_timeout", "drift_ppm", "transport", NULL };
	struct mesh_conf *c = p->c;
	const char *v;
	int rc = options_known(p, w, 1, keys);

	if (!rc && (v = option(w, 1, "lease")))
		rc = parse_duration(p, "lease", v, &c->lease_ns);
	if (!rc && (v = option(w, 1, "io_timeout")))
		rc = parse_duration(p, "io_timeout", v, &c->io_timeout_ns);
	if (!rc && (v = option(w, 1, "heartbeat")))
		rc = parse_duration(p, "heartbeat", v, &c->heartbeat_ns);
	if (!rc && (v = option(w, 1, "heartbeat_timeout")))
		rc = parse_duration(p, "heartbeat_timeout", v, &c->heartbeat_timeout_ns);
	if (!rc && (v = option(w, 1, "drift_ppm")))
		rc = parse_u32(p, "drift_ppm", v, 0, MESH_GROUP_DRIFT_PPM_MAX, &c->drift_ppm);
	if (!rc && (v = option(w, 1, "transport"))) {
		struct mesh_transport_choice choice;
		char why[160];

		if (mesh_transport_choose(v, &choice, why, sizeof(why)))
			return fail(p, "cluster: %s", why);
		strcpy(c->transport, choice.name);
	}
	return rc;
}

static int stmt_target(struct parser *p, const struct words *w)
{
	static const char *const keys[] = { "addr", "rack", "meta", NULL };
	struct mesh_conf *c = p->c;
	struct mesh_conf_target *t;
	const char *v;
	uint32_t id;
	int rc;

	if (w->count < 2 || mesh_units_parse_u32(w->w[1], 0, UINT32_MAX, &id))
		return fail(p, "target: expected its id (0, 1, ...) after \"target\"");
	if (id != c->target_count)
		return fail(p, "target %u: expected target %u (targets are numbered in order "
			    "from 0)", id, c->target_count);
	if (c->target_count == MESH_CONF_TARGETS_MAX)
		return fail(p, "target %u: more than %u targets", id, MESH_CONF_TARGETS_MAX);
	t = &c->targets[c->target_count];
	rc = options_known(p, w, 2, keys);
	if (!rc)
		rc = need(p, w, 2, "addr", &v);
	if (!rc)
		rc = copy_string(p, "addr", v, t->addr, sizeof(t->addr));
	if (!rc && !strchr(t->addr, ':'))
		rc = fail(p, "addr \"%s\": expected host:port", t->addr);
	if (!rc && (v = option(w, 2, "rack")))
		rc = parse_u32(p, "rack", v, 0, UINT32_MAX, &t->rack);
	if (!rc)
		rc = need(p, w, 2, "meta", &v);
	if (!rc)
		rc = copy_string(p, "meta", v, t->meta_dir, sizeof(t->meta_dir));
	for (uint32_t i = 0; !rc && i < c->target_count; i++) {
		if (strcmp(c->targets[i].addr, t->addr) == 0)
			rc = fail(p, "addr %s: already target %u's", t->addr, i);
	}
	if (!rc)
		c->target_count++;
	return rc;
}

static int stmt_drive(struct parser *p, const struct words *w)
{
	static const char *const keys[] = { "path", "size", NULL };
	struct mesh_conf *c = p->c;
	struct mesh_conf_drive *d;
	bool memory = w->count >= 3 && strcmp(w->w[2], "memory") == 0;
	const char *v;
	uint32_t target;
	int rc;

	if (w->count < 2 || mesh_units_parse_u32(w->w[1], 0, UINT32_MAX, &target))
		return fail(p, "drive: expected the id of its target after \"drive\"");
	if (target >= c->target_count)
		return fail(p, "drive: target %u is not listed above", target);
	if (c->drive_count == MESH_CONF_DRIVES_MAX)
		return fail(p, "drive: more than %u drives", MESH_CONF_DRIVES_MAX);
	if (c->targets[target].drive_count == MESH_TARGET_DRIVES_MAX)
		return fail(p, "drive: target %u has %u drives already", target,
			    MESH_TARGET_DRIVES_MAX);
	d = &c->drives[c->drive_count];
	*d = (struct mesh_conf_drive){
		.target = target,
		.index = c->targets[target].drive_count,
		.kind = memory ? MESH_CONF_DRIVE_MEMORY : MESH_CONF_DRIVE_FILE,
	};
	rc = options_known(p, w, memory ? 3 : 2, keys);
	if (!rc)
		rc = need(p, w, 2, "size", &v);
	if (!rc)
		rc = parse_size(p, "size", v, &d->bytes);
	if (!rc && memory && option(w, 2, "path"))
		rc = fail(p, "drive: a memory drive has no path");
	if (!rc && !memory) {
		rc = need(p, w, 2, "path", &v);
		if (!rc)
			rc = copy_string(p, "path", v, d->path, sizeof(d->path));
	}
	if (!rc) {
		c->targets[target].drive_count++;
		c->drive_count++;
	}
	return rc;
}

static const char *const layout_names[] = {
	[MESH_LAYOUT_CONCAT] = "concat",
	[MESH_LAYOUT_STRIPE] = "stripe",
	[MESH_LAYOUT_MIRROR] = "mirror",
	[MESH_LAYOUT_STRIPE_MIRROR] = "stripe-mirror",
};

static int stmt_volume(struct parser *p, const struct words *w)
{
	static const char *const keys[] = { "layout", "size", "width", "copies", "stripe_unit",
					    NULL };
	struct mesh_conf *c = p->c;
	struct mesh_conf_volume *vol;
	struct mesh_volume_spec *s;
	const char *v;
	uint64_t unit = 0;
	int rc;

	if (w->count < 2 || strchr(w->w[1], '='))
		return fail(p, "volume: expected its name after \"volume\"");
	if (c->volume_count == MESH_CONF_VOLUMES_MAX)
		return fail(p, "volume: more than %u volumes", MESH_CONF_VOLUMES_MAX);
	if (mesh_conf_volume_find(c, w->w[1]) >= 0)
		return fail(p, "volume %s: defined twice", w->w[1]);
	vol = &c->volumes[c->volume_count];
	s = &vol->spec;
	*s = (struct mesh_volume_spec){ .width = 1, .copies = 1 };
	rc = copy_string(p, "volume name", w->w[1], vol->name, sizeof(vol->name));
	if (!rc)
		rc = options_known(p, w, 2, keys);
	if (!rc)
		rc = need(p, w, 2, "layout", &v);
	for (unsigned k = 1; !rc && !s->kind && k < sizeof(layout_names) / sizeof(*layout_names);
	     k++) {
		if (strcmp(v, layout_names[k]) == 0)
			s->kind = (enum mesh_layout_kind)k;
	}
	if (!rc && !s->kind)
		rc = fail(p, "layout \"%s\": expected concat, stripe, mirror or stripe-mirror", v);
	if (!rc)
		rc = need(p, w, 2, "size", &v);
	if (!rc)
		rc = parse_size(p, "size", v, &s->bytes);
	if (!rc && (v = option(w, 2, "width")))
		rc = parse_u32(p, "width", v, 1, MESH_LAYOUT_SEGMENTS_MAX, &s->width);
	if (!rc && (v = option(w, 2, "copies")))
		rc = parse_u32(p, "copies", v, 1, MESH_LAYOUT_COPIES_MAX, &s->copies);
	if (!rc && (v = option(w, 2, "stripe_unit")))
		rc = parse_size(p, "stripe_unit", v, &unit);
	if (!rc && unit > MESH_LAYOUT_STRIPE_UNIT_MAX)
		rc = fail(p, "stripe_unit: at most %u bytes", MESH_LAYOUT_STRIPE_UNIT_MAX);
	if (!rc) {
		bool striped = s->kind == MESH_LAYOUT_STRIPE || s->kind == MESH_LAYOUT_STRIPE_MIRROR;

		s->stripe_unit = striped ? (unit ? (uint32_t)unit : 64u * 1024u) : 0;
		if (!striped && unit)
			rc = fail(p, "stripe_unit: only striped layouts have one");
	}
	if (!rc)
		c->volume_count++;
	return rc;
}

static int split(char *line, struct words *w)
{
	char *save = NULL;

	w->count = 0;
	for (char *t = strtok_r(line, " \t\r", &save); t; t = strtok_r(NULL, " \t\r", &save)) {
		if (w->count == WORDS_MAX)
			return -E2BIG;
		w->w[w->count++] = t;
	}
	return 0;
}

static int statement(struct parser *p, char *line)
{
	struct words w;
	char *hash = strchr(line, '#');

	if (hash)
		*hash = '\0';
	if (split(line, &w))
		return fail(p, "more than %u words", WORDS_MAX);
	if (w.count == 0)
		return 0;
	if (strcmp(w.w[0], "cluster") == 0)
		return stmt_cluster(p, &w);
	if (strcmp(w.w[0], "target") == 0)
		return stmt_target(p, &w);
	if (strcmp(w.w[0], "drive") == 0)
		return stmt_drive(p, &w);
	if (strcmp(w.w[0], "volume") == 0)
		return stmt_volume(p, &w);
	return fail(p, "unknown statement \"%s\": expected cluster, target, drive or volume",
		    w.w[0]);
}

/* Place every volume in file order on a pool of every drive, then make
 * each segment's group: the same on every node that reads the file. */
static int plan(struct parser *p)
{
	struct mesh_conf *c = p->c;
	struct mesh_pool *pool = &c->pool;
	uint32_t racks[MESH_CONF_TARGETS_MAX];
	uint64_t group = 1;
	int rc = 0;

	pool->drives = calloc(c->drive_count + 1, sizeof(*pool->drives));
	if (!pool->drives)
		return -ENOMEM;
	for (uint32_t t = 0; t < c->target_count; t++)
		racks[t] = c->targets[t].rack;
	for (uint32_t d = 0; d < c->drive_count; d++)
		pool->drives[pool->count++] = (struct mesh_pool_drive){
			.target = c->drives[d].target,
			.drive = c->drives[d].index,
			.domain = racks[c->drives[d].target],
			.capacity = c->drives[d].bytes,
		};
	for (uint32_t v = 0; rc == 0 && v < c->volume_count; v++) {
		struct mesh_conf_volume *vol = &c->volumes[v];
		const char *why = "";

		vol->spec.first_group = group;
		rc = mesh_placement_plan(pool, &vol->spec, &vol->layout, &why);
		if (rc) {
			snprintf(p->err, p->err_len, "%s: volume %s: not placed: %s", p->name,
				 vol->name, why);
			break;
		}
		group += vol->layout.segment_count;
	}
	c->group_count = (uint32_t)(group - 1);
	c->groups = rc ? NULL : calloc(c->group_count + 1, sizeof(*c->groups));
	if (rc == 0 && !c->groups)
		rc = -ENOMEM;
	for (uint32_t v = 0; rc == 0 && v < c->volume_count; v++) {
		const struct mesh_layout *l = &c->volumes[v].layout;

		for (uint32_t s = 0; rc == 0 && s < l->segment_count; s++) {
			rc = mesh_group_initial(&l->segments[s], l->copies, racks, c->target_count,
						&c->groups[l->segments[s].group - 1]);
			if (rc)
				snprintf(p->err, p->err_len, "%s: volume %s: %u copies need a "
					 "target that holds none of them, as a witness",
					 p->name, c->volumes[v].name, l->copies);
		}
	}
	return rc;
}

int mesh_conf_parse(const char *text, const char *name, struct mesh_conf **out, char *err,
		    size_t err_len)
{
	struct parser p = { .name = name, .err = err, .err_len = err_len };
	char line[MESH_CONF_LINE_MAX];
	int rc = 0;

	snprintf(err, err_len, "%s", "");
	p.c = calloc(1, sizeof(*p.c));
	if (!p.c)
		return -ENOMEM;
	*p.c = (struct mesh_conf){
		.lease_ns = DEFAULT_LEASE_NS, .io_timeout_ns = DEFAULT_IO_TIMEOUT_NS,
		.heartbeat_ns = DEFAULT_HEARTBEAT_NS,
		.heartbeat_timeout_ns = DEFAULT_HEARTBEAT_TIMEOUT_NS,
		.drift_ppm = DEFAULT_DRIFT_PPM,
		.transport = "tcp",
	};
	for (const char *s = text; rc == 0 && *s;) {
		const char *end = strchr(s, '\n');
		size_t len = end ? (size_t)(end - s) : strlen(s);

		p.line++;
		if (len >= sizeof(line)) {
			rc = fail(&p, "longer than %u bytes", MESH_CONF_LINE_MAX - 1);
			break;
		}
		memcpy(line, s, len);
		line[len] = '\0';
		rc = statement(&p, line);
		s += len + (end != NULL);
	}
	if (rc == 0 && p.c->target_count == 0)
		rc = fail(&p, "no target: expected at least one \"target\" line");
	if (rc == 0 && p.c->lease_ns >= p.c->io_timeout_ns)
		rc = fail(&p, "cluster: lease must be shorter than io_timeout (a client waits "
			  "out a lost lease within one I/O)");
	if (rc == 0 && p.c->heartbeat_ns >= p.c->heartbeat_timeout_ns)
		rc = fail(&p, "cluster: heartbeat must be shorter than heartbeat_timeout");
	if (rc == 0)
		rc = plan(&p);
	if (rc) {
		mesh_conf_free(p.c);
		return rc;
	}
	*out = p.c;
	return 0;
}

int mesh_conf_load(const char *path, struct mesh_conf **out, char *err, size_t err_len)
{
	char *text = malloc(MESH_CONF_BYTES_MAX + 1);
	size_t len = 0;
	ssize_t n = 1;
	int fd, rc;

	if (!text)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, err_len, "%s: cannot open: %s", path, strerror(errno));
		free(text);
		return rc;
	}
	while (n > 0 && len <= MESH_CONF_BYTES_MAX) {
		n = read(fd, text + len, MESH_CONF_BYTES_MAX + 1 - len);
		len += n > 0 ? (size_t)n : 0;
	}
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (rc)
		snprintf(err, err_len, "%s: cannot read: %s", path, strerror(-rc));
	else if (len > MESH_CONF_BYTES_MAX)
		snprintf(err, err_len, "%s: larger than %u bytes", path, MESH_CONF_BYTES_MAX),
			rc = -EFBIG;
	else if (memchr(text, '\0', len))
		snprintf(err, err_len, "%s: not a text file (a NUL byte)", path), rc = -EINVAL;
	if (rc == 0) {
		text[len] = '\0';
		rc = mesh_conf_parse(text, path, out, err, err_len);
	}
	free(text);
	return rc;
}

void mesh_conf_free(struct mesh_conf *c)
{
	if (!c)
		return;
	free(c->groups);
	free(c->pool.drives);
	free(c);
}

int mesh_conf_volume_find(const struct mesh_conf *c, const char *name)
{
	for (uint32_t v = 0; v < c->volume_count; v++) {
		if (strcmp(c->volumes[v].name, name) == 0)
			return (int)v;
	}
	return -ENOENT;
}

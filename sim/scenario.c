/*
 * sim/scenario.c: the scenario parser and validator (format in
 * sim/scenario.h, user documentation in scenarios/README.md).
 *
 * Parsing goes one line at a time: the line is cut into words, the first
 * word picks a statement, key=value words are checked against that
 * statement's keys (unknown, repeated or missing keys are errors) and each
 * value goes through the strict parsers of core/units.h with its range.
 * What one line cannot judge on its own (node sets against the topology,
 * workloads against volumes, times against the duration) is left to
 * validation, which runs at the end of parsing and again whenever a caller
 * changes the scenario, and which names the line of the statement at fault.
 */
#include "sim/scenario.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/copyset.h"
#include "sim/copyset_study.h"
#include "core/units.h"

/* Longest line, words per line and file size: far above any real scenario,
 * low enough that the parser needs no allocation. */
#define SCN_LINE_BYTES_MAX 1024u
#define SCN_WORDS_MAX 48u
#define SCN_FILE_BYTES_MAX (8u << 20)

/* Limits on single values; the header holds those of the struct. */
#define SCN_QUEUE_DEPTH_MAX 4096u
#define SCN_LATENCY_NS_MAX 1000000000ull        /* 1s per hop or command */
#define SCN_FAULT_DELAY_NS_MAX 60000000000ull   /* 60s of added delay */
#define SCN_SLOW_FACTOR_MAX 1000000.0
#define SCN_RATE_IOPS_MAX 100000000ull
#define SCN_DRIFT_PPM_MAX 100000u
#define SCN_WORKLOAD_BLOCK_BYTES_MAX (1u << 20)
#define SCN_SECTOR_BYTES 512u
#define SCN_HEARTBEAT_TIMEOUT_INTERVALS 5u
#define SCN_STUDY_CHUNKS_PER_NODE_MAX 1000000u

#define EXPECT_SIZE "a size such as 4096, 64KiB or 1GiB (units B, KiB, MiB, GiB, TiB)"
#define EXPECT_DURATION "a duration such as 500us, 20ms or 2s (units ns, us, ms, s)"
#define EXPECT_BANDWIDTH                                                                  \
	"a bandwidth such as 25Gbps or 2GBps (units bps, Kbps, Mbps, Gbps, Bps, KBps, MBps, " \
	"GBps)"
#define EXPECT_INT "an unsigned integer"
#define EXPECT_PROBABILITY "a probability such as 0.01 or 1%"
#define EXPECT_NAME "a name of letters, digits, '.', '_' and '-', starting with a letter or digit"
#define EXPECT_SET \
	"a node set: all, targets, clients, node:N, nodes:A-B, rack:N or racks:A-B, joined by '+'"

/* ---- error reports ---- */

/* Where an error is reported: the file, and the caller's buffer. */
struct report {
	const char *path;
	char *err;
	size_t err_len;
};

/*
 * Write "PATH:LINE: <what>; expected <expected>" (no ":LINE" when @line is
 * 0, i.e. not known) and return -EINVAL.
 */
static int report_error(const struct report *r, uint32_t line, const char *expected,
			const char *fmt, va_list ap)
{
	size_t n;
	int w;

	if (!r->err || r->err_len == 0)
		return -EINVAL;
	if (line)
		w = snprintf(r->err, r->err_len, "%s:%u: ", r->path, line);
	else
		w = snprintf(r->err, r->err_len, "%s: ", r->path);
	n = w > 0 ? (size_t)w : 0;
	if (n < r->err_len) {
		w = vsnprintf(r->err + n, r->err_len - n, fmt, ap);
		n += w > 0 ? (size_t)w : 0;
	}
	if (n < r->err_len)
		snprintf(r->err + n, r->err_len - n, "; expected %s", expected);
	return -EINVAL;
}

__attribute__((format(printf, 4, 5)))
static int fail_at(const struct report *r, uint32_t line, const char *expected, const char *fmt,
		   ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = report_error(r, line, expected, fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- node ids, racks and sets ---- */

uint32_t mesh_scenario_nodes(const struct mesh_scenario *s)
{
	const struct mesh_scn_topology *t = &s->topology;

	if (!s->has_topology)
		return 0;
	return t->converged ? t->targets : t->targets + t->clients;
}

uint32_t mesh_scenario_rack(const struct mesh_scenario *s, uint32_t node)
{
	uint32_t nodes = mesh_scenario_nodes(s);

	assert(node < nodes && s->topology.racks >= 1);
	return (uint32_t)((uint64_t)node * s->topology.racks / nodes);
}

/* First node of rack @rack (@rack == racks gives the node count): the
 * smallest n with n * racks / nodes >= rack. */
static uint32_t rack_first_node(const struct mesh_scenario *s, uint32_t rack)
{
	uint64_t nodes = mesh_scenario_nodes(s), racks = s->topology.racks;

	return (uint32_t)(((uint64_t)rack * nodes + racks - 1) / racks);
}

bool mesh_scenario_is_target(const struct mesh_scenario *s, uint32_t node)
{
	return s->has_topology && node < s->topology.targets;
}

bool mesh_scenario_is_client(const struct mesh_scenario *s, uint32_t node)
{
	const struct mesh_scn_topology *t = &s->topology;

	if (!s->has_topology || t->clients == 0)
		return false;
	if (!t->converged)
		return node >= t->targets && node - t->targets < t->clients;
	/* client k sits on node k * T / C; with C <= T those nodes are
	 * distinct, and the only candidate for @node is k = ceil(node * C / T) */
	uint64_t k = ((uint64_t)node * t->clients + t->targets - 1) / t->targets;

	return k < t->clients && k * t->targets / t->clients == node;
}

uint32_t mesh_scenario_client_node(const struct mesh_scenario *s, uint32_t k)
{
	const struct mesh_scn_topology *t = &s->topology;

	assert(s->has_topology && k < t->clients);
	if (!t->converged)
		return t->targets + k;
	return (uint32_t)((uint64_t)k * t->targets / t->clients);
}

static bool term_contains(const struct mesh_scenario *s, const struct mesh_scn_term *term,
			  uint32_t node)
{
	switch (term->kind) {
	case MESH_SCN_TERM_ALL:
		return true;
	case MESH_SCN_TERM_TARGETS:
		return mesh_scenario_is_target(s, node);
	case MESH_SCN_TERM_CLIENTS:
		return mesh_scenario_is_client(s, node);
	case MESH_SCN_TERM_NODES:
		return node >= term->lo && node <= term->hi;
	case MESH_SCN_TERM_RACKS: {
		uint32_t rack = mesh_scenario_rack(s, node);

		return rack >= term->lo && rack <= term->hi;
	}
	}
	assert(!"unknown node set term");
	return false;
}

bool mesh_scenario_set_contains(const struct mesh_scenario *s, const struct mesh_scn_set *set,
				uint32_t node)
{
	assert(set->count <= MESH_SCN_SET_TERMS_MAX);
	if (node >= mesh_scenario_nodes(s))
		return false;
	for (uint32_t i = 0; i < set->count; i++) {
		if (term_contains(s, &set->terms[i], node))
			return true;
	}
	return false;
}

/* Whether node ids [lo, hi] (within the topology) hold a client. */
static bool range_has_client(const struct mesh_scenario *s, uint32_t lo, uint32_t hi)
{
	const struct mesh_scn_topology *t = &s->topology;

	if (t->clients == 0)
		return false;
	if (!t->converged)
		return hi >= t->targets && (uint64_t)lo < (uint64_t)t->targets + t->clients;
	/* the first client at or after lo, as in mesh_scenario_is_client */
	uint64_t k = ((uint64_t)lo * t->clients + t->targets - 1) / t->targets;

	return k < t->clients && k * t->targets / t->clients <= hi;
}

/* The node ids a term covers, as one range (every term is contiguous
 * except clients of a converged topology, which callers handle apart). */
static void term_range(const struct mesh_scenario *s, const struct mesh_scn_term *term,
		       uint32_t *lo, uint32_t *hi)
{
	uint32_t nodes = mesh_scenario_nodes(s);

	*lo = 0;
	*hi = nodes - 1;
	if (term->kind == MESH_SCN_TERM_NODES) {
		*lo = term->lo;
		*hi = term->hi;
	} else if (term->kind == MESH_SCN_TERM_RACKS) {
		*lo = rack_first_node(s, term->lo);
		*hi = rack_first_node(s, term->hi + 1) - 1;
	} else if (term->kind == MESH_SCN_TERM_TARGETS) {
		*hi = s->topology.targets - 1;
	}
}

/* Whether @set (already checked against the topology) holds a client. */
static bool set_has_client(const struct mesh_scenario *s, const struct mesh_scn_set *set)
{
	for (uint32_t i = 0; i < set->count; i++) {
		uint32_t lo, hi;

		if (set->terms[i].kind == MESH_SCN_TERM_CLIENTS) {
			if (s->topology.clients > 0)
				return true;
			continue;
		}
		term_range(s, &set->terms[i], &lo, &hi);
		if (range_has_client(s, lo, hi))
			return true;
	}
	return false;
}

/* Whether @set holds a target: targets are the lowest node ids, and every
 * converged client is a target. */
static bool set_has_target(const struct mesh_scenario *s, const struct mesh_scn_set *set)
{
	for (uint32_t i = 0; i < set->count; i++) {
		uint32_t lo, hi;

		if (set->terms[i].kind == MESH_SCN_TERM_CLIENTS) {
			if (s->topology.converged && s->topology.clients > 0)
				return true;
			continue;
		}
		term_range(s, &set->terms[i], &lo, &hi);
		if (lo < s->topology.targets)
			return true;
	}
	return false;
}

/* @term as it would be written in a scenario, for messages. */
static const char *term_text(const struct mesh_scn_term *term, char *buf, size_t len)
{
	const char *one = term->kind == MESH_SCN_TERM_NODES ? "node" : "rack";

	switch (term->kind) {
	case MESH_SCN_TERM_ALL:
		return "all";
	case MESH_SCN_TERM_TARGETS:
		return "targets";
	case MESH_SCN_TERM_CLIENTS:
		return "clients";
	case MESH_SCN_TERM_NODES:
	case MESH_SCN_TERM_RACKS:
		if (term->lo == term->hi)
			snprintf(buf, len, "%s:%u", one, term->lo);
		else
			snprintf(buf, len, "%ss:%u-%u", one, term->lo, term->hi);
		return buf;
	}
	return "?";
}

/* ---- the parser's view of one line ---- */

struct words {
	unsigned count;
	char *v[SCN_WORDS_MAX];
	char store[2 * SCN_LINE_BYTES_MAX + 2];
};

/* key=value words and the other (positional) words after a statement's
 * first words. */
struct args {
	const char *what;               /* the statement or fault, for messages */
	unsigned npos;
	const char *pos[SCN_WORDS_MAX];
	unsigned nkv;
	const char *key[SCN_WORDS_MAX];
	const char *value[SCN_WORDS_MAX];
};

struct key {
	const char *name;
	bool required;
};

enum stmt_id {
	STMT_NAME,
	STMT_DESCRIPTION,
	STMT_DURATION,
	STMT_SEED,
	STMT_TOPOLOGY,
	STMT_NETWORK,
	STMT_DRIVE,
	STMT_CLIENT,
	STMT_HEARTBEAT,
	STMT_PLACEMENT,
	STMT_CLOCK,
	STMT_VOLUME,
	STMT_WORKLOAD,
	STMT_AT,
	STMT_CHECK,
	STMT_STUDY,
	STMT_COUNT,
};

struct parser {
	struct report r;
	struct mesh_scenario *s;
	uint32_t line;
	uint32_t first[STMT_COUNT];             /* line of each unique statement */
	uint32_t check_line[3];                 /* line of each check, by bit */
	bool stop_given[MESH_SCN_WORKLOADS_MAX];
};

__attribute__((format(printf, 3, 4)))
static int fail(const struct parser *p, const char *expected, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = report_error(&p->r, p->line, expected, fmt, ap);
	va_end(ap);
	return rc;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* A word ends at a space, and '|' and '->' are words of their own, so that
 * "A|B" and "A | B" read the same. */
static size_t separator_len(const char *c)
{
	if (c[0] == '|')
		return 1;
	if (c[0] == '-' && c[1] == '>')
		return 2;
	return 0;
}

static int split_words(const struct parser *p, const char *line, struct words *w)
{
	char *o = w->store;

	w->count = 0;
	while (*line) {
		if (is_space(*line)) {
			line++;
			continue;
		}
		if (w->count == SCN_WORDS_MAX)
			return fail(p, "a shorter statement", "more than %u words", SCN_WORDS_MAX);
		w->v[w->count++] = o;
		size_t sep = separator_len(line);

		if (sep) {
			memcpy(o, line, sep);
			o += sep;
			line += sep;
		} else {
			while (*line && !is_space(*line) && !separator_len(line))
				*o++ = *line++;
		}
		*o++ = '\0';
	}
	return 0;
}

static const char *key_list(const struct key *keys, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (const struct key *k = keys; k->name && n < len; k++) {
		int w = snprintf(buf + n, len - n, "%s%s", n ? ", " : "one of ", k->name);

		n += w > 0 ? (size_t)w : 0;
	}
	return buf;
}

static const struct key *find_key(const struct key *keys, const char *name)
{
	for (const struct key *k = keys; k->name; k++) {
		if (strcmp(k->name, name) == 0)
			return k;
	}
	return NULL;
}

static const char *arg(const struct args *a, const char *key)
{
	for (unsigned i = 0; i < a->nkv; i++) {
		if (strcmp(a->key[i], key) == 0)
			return a->value[i];
	}
	return NULL;
}

static int add_key_value(const struct parser *p, const struct key *keys, struct args *a, char *word)
{
	char *eq = strchr(word, '='), list[256];

	*eq = '\0';
	if (!find_key(keys, word)) {
		if (!keys[0].name)
			return fail(p, "no key=value words", "%s takes no keys, got \"%s\"", a->what,
				    word);
		return fail(p, key_list(keys, list, sizeof(list)), "unknown key \"%s\" in %s", word,
			    a->what);
	}
	if (arg(a, word))
		return fail(p, "each key once", "key %s given twice in %s", word, a->what);
	if (eq[1] == '\0')
		return fail(p, "a value after '='", "key %s has no value in %s", word, a->what);
	a->key[a->nkv] = word;
	a->value[a->nkv++] = eq + 1;
	return 0;
}

/*
 * Sort the words from @from on into key=value pairs (checked against @keys:
 * known, given once, required ones present) and positional words.
 */
static int collect(const struct parser *p, struct words *w, unsigned from, const char *what,
		   const struct key *keys, struct args *a)
{
	char expected[96];
	int rc;

	memset(a, 0, sizeof(*a));
	a->what = what;
	for (unsigned i = from; i < w->count; i++) {
		if (strchr(w->v[i], '=')) {
			rc = add_key_value(p, keys, a, w->v[i]);
			if (rc)
				return rc;
		} else {
			a->pos[a->npos++] = w->v[i];
		}
	}
	for (const struct key *k = keys; k->name; k++) {
		if (k->required && !arg(a, k->name)) {
			snprintf(expected, sizeof(expected), "%s=<value>", k->name);
			return fail(p, expected, "%s is missing required key %s", what, k->name);
		}
	}
	return 0;
}

static int no_positional(const struct parser *p, const struct args *a)
{
	if (a->npos)
		return fail(p, "key=value words", "unexpected \"%s\" in %s", a->pos[0], a->what);
	return 0;
}

/* ---- typed values ---- */

enum vtype { V_INT, V_SIZE, V_DURATION, V_BANDWIDTH };

static const char *const vexpect[] = {
	[V_INT] = EXPECT_INT,
	[V_SIZE] = EXPECT_SIZE,
	[V_DURATION] = EXPECT_DURATION,
	[V_BANDWIDTH] = EXPECT_BANDWIDTH,
};

static int vparse(enum vtype t, const char *text, uint64_t *v)
{
	switch (t) {
	case V_INT:
		return mesh_units_parse_u64(text, 0, UINT64_MAX, v);
	case V_SIZE:
		return mesh_units_parse_size(text, v);
	case V_DURATION:
		return mesh_units_parse_duration(text, v);
	case V_BANDWIDTH:
		return mesh_units_parse_bandwidth(text, v);
	}
	return -EINVAL;
}

static const char *vformat(enum vtype t, uint64_t v, char *buf, size_t len)
{
	switch (t) {
	case V_INT:
		snprintf(buf, len, "%llu", (unsigned long long)v);
		return buf;
	case V_SIZE:
		return mesh_units_format_size(v, buf, len);
	case V_DURATION:
		return mesh_units_format_duration(v, buf, len);
	case V_BANDWIDTH:
		return mesh_units_format_bandwidth(v, buf, len);
	}
	return "?";
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
	}
	return true;
}

/* @text, the value of @label in @what, as a @t within [@min, @max]. */
static int value(const struct parser *p, const char *what, const char *label, const char *text,
		 enum vtype t, uint64_t min, uint64_t max, uint64_t *out)
{
	char lo[MESH_UNITS_FMT_MAX], hi[MESH_UNITS_FMT_MAX], expected[96];
	uint64_t v;
	int rc = vparse(t, text, &v);

	if (rc == -EINVAL && (t == V_DURATION || t == V_BANDWIDTH) && all_digits(text))
		return fail(p, vexpect[t], "%s \"%s\" in %s has no unit", label, text, what);
	if (rc == -EINVAL)
		return fail(p, vexpect[t], "bad %s \"%s\" in %s", label, text, what);
	if (rc || v < min || v > max) {
		snprintf(expected, sizeof(expected), "%s from %s to %s", label,
			 vformat(t, min, lo, sizeof(lo)), vformat(t, max, hi, sizeof(hi)));
		return fail(p, expected, "%s \"%s\" in %s is out of range", label, text, what);
	}
	*out = v;
	return 0;
}

/* Key @key of @a, when given, into *@out; otherwise *@out keeps its default. */
static int get(const struct parser *p, const struct args *a, const char *key, enum vtype t,
	       uint64_t min, uint64_t max, uint64_t *out)
{
	const char *text = arg(a, key);

	return text ? value(p, a->what, key, text, t, min, max, out) : 0;
}

static int get_u32(const struct parser *p, const struct args *a, const char *key, enum vtype t,
		   uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v = *out;
	int rc = get(p, a, key, t, min, max, &v);

	if (rc == 0)
		*out = (uint32_t)v;
	return rc;
}

static int get_real(const struct parser *p, const struct args *a, const char *key, double min,
		    double max, double *out)
{
	const char *text = arg(a, key);
	char expected[96];
	int rc;

	if (!text)
		return 0;
	rc = mesh_units_parse_real(text, min, max, out);
	if (rc == -EINVAL)
		return fail(p, "a plain number such as 2 or 2.5", "bad %s \"%s\" in %s", key, text,
			    a->what);
	snprintf(expected, sizeof(expected), "%s from %g to %g", key, min, max);
	if (rc)
		return fail(p, expected, "%s \"%s\" in %s is out of range", key, text, a->what);
	return 0;
}

static int get_probability(const struct parser *p, const struct args *a, const char *key,
			   double *out)
{
	const char *text = arg(a, key);
	int rc;

	if (!text)
		return 0;
	rc = mesh_units_parse_probability(text, out);
	if (rc == -EINVAL)
		return fail(p, EXPECT_PROBABILITY, "bad %s \"%s\" in %s", key, text, a->what);
	if (rc)
		return fail(p, "a probability from 0 to 1 (0% to 100%)",
			    "%s \"%s\" in %s is out of range", key, text, a->what);
	return 0;
}

/* One of @names (indexed by value, NULL where no value) into *@out. */
static int get_choice(const struct parser *p, const struct args *a, const char *key,
		      const char *const *names, int count, int *out)
{
	const char *text = arg(a, key);
	char list[160];
	size_t n = 0;

	if (!text)
		return 0;
	for (int i = 0; i < count; i++) {
		if (names[i] && strcmp(names[i], text) == 0) {
			*out = i;
			return 0;
		}
	}
	list[0] = '\0';
	for (int i = 0; i < count && n < sizeof(list); i++) {
		if (!names[i])
			continue;
		int w = snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "one of ", names[i]);

		n += w > 0 ? (size_t)w : 0;
	}
	return fail(p, list, "bad %s \"%s\" in %s", key, text, a->what);
}

static int get_bool(const struct parser *p, const struct args *a, const char *key, bool *out)
{
	static const char *const names[] = { "no", "yes", "false", "true" };
	int v = *out;
	int rc = get_choice(p, a, key, names, 4, &v);

	*out = v % 2;
	return rc;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* Names become file and directory names (results/sim/<name>/). */
static int name_value(const struct parser *p, const char *what, const char *text, char *out)
{
	size_t len = strlen(text);

	if (len == 0 || len >= MESH_SCN_NAME_MAX || !isalnum((unsigned char)text[0]))
		goto bad;
	for (size_t i = 0; i < len; i++) {
		if (!name_char(text[i]))
			goto bad;
	}
	memcpy(out, text, len + 1);
	return 0;
bad:
	return fail(p, EXPECT_NAME " (at most 63 characters)", "bad name \"%s\" in %s", text, what);
}

/* ---- node sets ---- */

/* "A" or "A-B" after a term's colon, into [*lo, *hi]. */
static int id_range(const struct parser *p, const char *what, const char *term, const char *text,
		    bool range, struct mesh_scn_term *out)
{
	const uint32_t max = MESH_SCN_NODES_MAX - 1;
	char lo[16], *dash = strchr(text, '-');
	size_t n = dash ? (size_t)(dash - text) : strlen(text);

	if (!range && dash)
		goto bad;
	if (range && !dash)
		goto bad;
	if (n >= sizeof(lo))
		goto bad;
	memcpy(lo, text, n);
	lo[n] = '\0';
	if (mesh_units_parse_u32(lo, 0, max, &out->lo))
		goto bad;
	out->hi = out->lo;
	if (range && mesh_units_parse_u32(dash + 1, 0, max, &out->hi))
		goto bad;
	if (out->lo > out->hi)
		return fail(p, "a range A-B with A <= B", "empty range \"%s\" in %s", term, what);
	return 0;
bad:
	return fail(p, EXPECT_SET, "bad node set term \"%s\" in %s", term, what);
}

static int set_term(const struct parser *p, const char *what, char *term, struct mesh_scn_term *out)
{
	static const struct {
		const char *prefix;
		enum mesh_scn_term_kind kind;
		bool range;
	} forms[] = {
		{ "node:", MESH_SCN_TERM_NODES, false },
		{ "nodes:", MESH_SCN_TERM_NODES, true },
		{ "rack:", MESH_SCN_TERM_RACKS, false },
		{ "racks:", MESH_SCN_TERM_RACKS, true },
	};

	memset(out, 0, sizeof(*out));
	if (strcmp(term, "all") == 0)
		out->kind = MESH_SCN_TERM_ALL;
	else if (strcmp(term, "targets") == 0)
		out->kind = MESH_SCN_TERM_TARGETS;
	else if (strcmp(term, "clients") == 0)
		out->kind = MESH_SCN_TERM_CLIENTS;
	if (out->kind)
		return 0;
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		size_t n = strlen(forms[i].prefix);

		if (strncmp(term, forms[i].prefix, n) == 0) {
			out->kind = forms[i].kind;
			return id_range(p, what, term, term + n, forms[i].range, out);
		}
	}
	return fail(p, EXPECT_SET, "bad node set term \"%s\" in %s", term, what);
}

/* A node set word ("rack:0+node:7") into @out; the word is cut up. */
static int parse_set(const struct parser *p, const char *what, const char *text,
		     struct mesh_scn_set *out)
{
	char buf[SCN_LINE_BYTES_MAX + 1], *term = buf;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(buf, sizeof(buf), "%s", text);
	for (;;) {
		char *plus = strchr(term, '+');

		if (plus)
			*plus = '\0';
		if (*term == '\0')
			return fail(p, EXPECT_SET, "empty term in node set \"%s\" of %s", text, what);
		if (out->count == MESH_SCN_SET_TERMS_MAX)
			return fail(p, "at most 8 terms", "too many terms in node set \"%s\" of %s",
				    text, what);
		rc = set_term(p, what, term, &out->terms[out->count++]);
		if (rc || !plus)
			return rc;
		term = plus + 1;
	}
}

static int get_set(const struct parser *p, const struct args *a, const char *key,
		   struct mesh_scn_set *out)
{
	const char *text = arg(a, key);

	return text ? parse_set(p, a->what, text, out) : 0;
}

static struct mesh_scn_set one_term_set(enum mesh_scn_term_kind kind)
{
	struct mesh_scn_set set = { .count = 1 };

	set.terms[0].kind = kind;
	return set;
}

/* ---- statements ---- */

static int stmt_name(struct parser *p, struct words *w)
{
	if (w->count != 2)
		return fail(p, "name NAME", "name takes one word");
	return name_value(p, "name", w->v[1], p->s->name);
}

static int stmt_duration(struct parser *p, struct words *w)
{
	if (w->count != 2)
		return fail(p, "duration T, e.g. duration 10s", "duration takes one value");
	return value(p, "duration", "duration", w->v[1], V_DURATION, 1, MESH_SCN_DURATION_NS_MAX,
		     &p->s->duration_ns);
}

static int stmt_seed(struct parser *p, struct words *w)
{
	if (w->count != 2)
		return fail(p, "seed N, e.g. seed 42", "seed takes one value");
	return value(p, "seed", "seed", w->v[1], V_INT, 0, UINT64_MAX, &p->s->seed);
}

static int stmt_topology(struct parser *p, struct words *w)
{
	static const struct key keys[] = {
		{ "targets", true }, { "clients", false }, { "converged", false },
		{ "racks", false },  { "drives", false },  { "drive_bytes", false },
		{ NULL, false },
	};
	struct mesh_scn_topology *t = &p->s->topology;
	struct args a;
	int rc;

	*t = (struct mesh_scn_topology){
		.racks = 1, .drives = 1, .drive_bytes = 1ull << 40,
	};
	rc = collect(p, w, 1, "topology", keys, &a);
	rc = rc ? rc : no_positional(p, &a);
	rc = rc ? rc : get_u32(p, &a, "targets", V_INT, 1, MESH_SCN_NODES_MAX, &t->targets);
	rc = rc ? rc : get_u32(p, &a, "clients", V_INT, 0, MESH_SCN_NODES_MAX, &t->clients);
	rc = rc ? rc : get_bool(p, &a, "converged", &t->converged);
	rc = rc ? rc : get_u32(p, &a, "racks", V_INT, 1, MESH_SCN_NODES_MAX, &t->racks);
	rc = rc ? rc : get_u32(p, &a, "drives", V_INT, 1, MESH_SCN_DRIVES_PER_NODE_MAX, &t->drives);
	rc = rc ? rc : get(p, &a, "drive_bytes", V_SIZE, MESH_BLOCK_BYTES,
			   MESH_LAYOUT_VOLUME_BYTES_MAX, &t->drive_bytes);
	p->s->has_topology = true;
	return rc;
}

static int stmt_network(struct parser *p, struct words *w)
{
	static const struct key keys[] = {
		{ "latency", false }, { "bandwidth", false },
		{ "backbone_latency", false }, { "backbone_bandwidth", false },
		{ NULL, false },
	};
	struct mesh_scn_network *n = &p->s->network;
	struct args a;
	int rc;

	rc = collect(p, w, 1, "network", keys, &a);
	rc = rc ? rc : no_positional(p, &a);
	rc = rc ? rc : get(p, &a, "latency", V_DURATION, 0, SCN_LATENCY_NS_MAX, &n->latency_ns);
	rc = rc ? rc : get(p, &a, "bandwidth", V_BANDWIDTH, 1, UINT64_MAX, &n->bandwidth_bps);
	rc = rc ? rc : get(p, &a, "backbone_latency", V_DURATION, 0, SCN_LATENCY_NS_MAX,
			   &n->backbone_latency_ns);
	rc = rc ? rc : get(p, &a, "backbone_bandwidth", V_BANDWIDTH, 1, UINT64_MAX,
			   &n->backbone_bandwidth_bps);
	return rc;
}

static int stmt_drive(struct parser *p, struct words *w)
{
	static const struct key keys[] = {
		{ "read_latency", false }, { "write_latency", false },
		{ "bandwidth", false },    { "queue_depth", false },
		{ NULL, false },
	};
	struct mesh_scn_drive_model *d = &p->s->drive;
	struct args a;
	int rc;

	rc = collect(p, w, 1, "drive", keys, &a);
	rc = rc ? rc : no_positional(p, &a);
	rc = rc ? rc : get(p, &a, "read_latency", V_DURATION, 0, SCN_LATENCY_NS_MAX,
			   &d->read_latency_ns);
	rc = rc ? rc : get(p, &a, "write_latency", V_DURATION, 0, SCN_LATENCY_NS_MAX,
			   &d->write_latency_ns);
	rc = rc ? rc : get(p, &a, "bandwidth", V_BANDWIDTH, 1, UINT64_MAX, &d->bandwidth_bps);
	rc = rc ? rc : get_u32(p, &a, "queue_depth", V_INT, 1, SCN_QUEUE_DEPTH_MAX, &d->queue_depth);
	return rc;
}

static int stmt_client(struct parser *p, struct words *w)
{
	static const struct key keys[] = {
		{ "queue_depth", false }, { "io_timeout", false }, { "lease", false },
		{ NULL, false },
	};
	struct mesh_scn_client *c = &p->s->client;
	struct args a;
	int rc;

	rc = collect(p, w, 1, "client", keys, &a);
	rc = rc ? rc : no_positional(p, &a);
	rc = rc ? rc : get_u32(p, &a, "queue_depth", V_INT, 1, SCN_QUEUE_DEPTH_MAX, &c->queue_depth);
	rc = rc ? rc : get(p, &a, "io_timeout", V_DURATION, 1, MESH_SCN_DURATION_NS_MAX,
			   &c->io_timeout_ns);
	rc = rc ? rc : get(p, &a, "lease", V_DURATION, MESH_SCN_LEASE_NS_MIN, MESH_SCN_LEASE_NS_MAX,
			   &c->lease_ns);
	return rc;
}

static int stmt_heartbeat(struct parser *p, struct words *w)
{
	static const struct key keys[] = {
		{ "interval", true }, { "timeout", false }, { NULL, false },
	};
	struct mesh_scn_heartbeat *h = &p->s->heartbeat;
	struct args a;
	int rc;

	rc = collect(p, w, 1, "heartbeat", keys, &a);
	rc = rc ? rc : no_positional(p, &a);
	rc = rc ? rc : get(p, &a, "interval", V_DURATION, 0, MESH_SCN_DURATION_NS_MAX,
			   &h->interval_ns);
	if (rc)
		return rc;
	h->timeout_ns = h->interval_ns * SCN_HEARTBEAT_TIMEOUT_INTERVALS;
	rc = get(p, &a, "timeout", V_DURATION, 1, MESH_SCN_DURATION_NS_MAX, &h->timeout_ns);
	if (rc)
		return rc;
	if (h->interval_ns == 0 && arg(&a, "timeout"))
		return fail(p, "interval > 0 with a timeout",
			    "heartbeat timeout given but interval=0 switches heartbeats off");
	if (h->interval_ns && h->timeout_ns <= h->interval_ns)
		return fail(p, "timeout greater than interval",
			    "heartbeat timeout does not exceed the interval");
	return 0;
}

static int stmt_placement(struct parser *p, struct words *w)
{
	static const struct key keys[] = {
		{ "policy", false }, { "scatter", false }, { NULL, false },
	};
	static const char *const policies[] = {
		[MESH_SCN_PLACE_GREEDY] = "greedy",
		[MESH_SCN_PLACE_COPYSET] = "copyset",
		[MESH_SCN_PLACE_RANDOM] = "random",
	};
	struct mesh_scn_placement *pl = &p->s->placement;
	int policy = pl->policy;
	struct args a;
	int rc;

	rc = collect(p, w, 1, "placement", keys, &a);
	rc = rc ? rc : no_positional(p, &a);
	rc = rc ? rc : get_choice(p, &a, "policy", policies, 4, &policy);
	rc = rc ? rc : get_u32(p, &a, "scatter", V_INT, 1, MESH_COPYSET_SCATTER_MAX,
			       &pl->scatter_width);
	if (rc)
		return rc;
	pl->policy = (enum mesh_scn_placement_policy)policy;
	if (pl->policy != MESH_SCN_PLACE_COPYSET && arg(&a, "scatter"))
		return fail(p, "scatter only with policy=copyset",
			    "scatter given for policy=%s", policies[policy]);
	return 0;
}

static int stmt_clock(struct parser *p, struct words *w)
{
	static const struct key keys[] = { { "drift_ppm", true }, { NULL, false } };
	struct args a;
	int rc;

	rc = collect(p, w, 1, "clock", keys, &a);
	rc = rc ? rc : no_positional(p, &a);
	rc = rc ? rc : get_u32(p, &a, "drift_ppm", V_INT, 0, SCN_DRIFT_PPM_MAX,
			       &p->s->clock.drift_ppm);
	return rc;
}

/* Copies and stripe unit must fit the kind; checked once all keys are in. */
static int volume_shape(struct parser *p, const struct args *a, struct mesh_scn_volume *v)
{
	bool mirrored = v->kind == MESH_LAYOUT_MIRROR || v->kind == MESH_LAYOUT_STRIPE_MIRROR;
	bool striped = mesh_layout_kind_striped(v->kind);
	const char *kind = mesh_layout_kind_name(v->kind);

	if (!arg(a, "copies"))
		v->copies = mirrored ? 2 : 1;
	if (mirrored && (v->copies < 2 || v->copies > MESH_LAYOUT_COPIES_MAX))
		return fail(p, "copies from 2 to 3", "copies=%u for kind %s", v->copies, kind);
	if (!mirrored && v->copies != 1)
		return fail(p, "copies=1, or kind mirror or stripe-mirror",
			    "copies=%u for kind %s", v->copies, kind);
	if (!striped && arg(a, "stripe_unit"))
		return fail(p, "stripe_unit only with kind stripe or stripe-mirror",
			    "stripe_unit given for kind %s", kind);
	if (!striped)
		v->stripe_unit = 0;
	else if (v->stripe_unit % MESH_BLOCK_BYTES)
		return fail(p, "stripe_unit a multiple of 4KiB", "stripe_unit %u is not whole 4KiB blocks",
			    v->stripe_unit);
	if (v->bytes % MESH_BLOCK_BYTES)
		return fail(p, "size a multiple of 4KiB", "volume size is not whole 4KiB blocks");
	return 0;
}

static int stmt_volume(struct parser *p, struct words *w)
{
	static const struct key keys[] = {
		{ "name", true }, { "kind", true }, { "copies", false }, { "width", false },
		{ "stripe_unit", false }, { "size", true }, { "count", false }, { "attach", false },
		{ NULL, false },
	};
	static const char *const kinds[] = {
		[MESH_LAYOUT_CONCAT] = "concat", [MESH_LAYOUT_STRIPE] = "stripe",
		[MESH_LAYOUT_MIRROR] = "mirror", [MESH_LAYOUT_STRIPE_MIRROR] = "stripe-mirror",
	};
	static const char *const attaches[] = {
		[MESH_SCN_ATTACH_ALL] = "all", [MESH_SCN_ATTACH_SPREAD] = "spread",
	};
	struct mesh_scn_volume v = {
		.width = 1, .stripe_unit = 64u << 10, .count = 1, .line = p->line,
	};
	int kind = 0, attach = MESH_SCN_ATTACH_ALL;
	struct args a;
	int rc;

	if (p->s->volume_count == MESH_SCN_VOLUMES_MAX)
		return fail(p, "at most 64 volume statements", "too many volume statements");
	rc = collect(p, w, 1, "volume", keys, &a);
	rc = rc ? rc : no_positional(p, &a);
	rc = rc ? rc : name_value(p, "volume", arg(&a, "name"), v.name);
	if (rc == 0 && strcmp(v.name, "all") == 0)
		rc = fail(p, "a volume name other than \"all\"", "volume name \"all\" is reserved");
	rc = rc ? rc : get_choice(p, &a, "kind", kinds, 5, &kind);
	rc = rc ? rc : get_u32(p, &a, "copies", V_INT, 1, MESH_LAYOUT_COPIES_MAX, &v.copies);
	rc = rc ? rc : get_u32(p, &a, "width", V_INT, 1, MESH_LAYOUT_SEGMENTS_MAX, &v.width);
	rc = rc ? rc : get_u32(p, &a, "stripe_unit", V_SIZE, MESH_BLOCK_BYTES,
			       MESH_LAYOUT_STRIPE_UNIT_MAX, &v.stripe_unit);
	rc = rc ? rc : get(p, &a, "size", V_SIZE, MESH_BLOCK_BYTES, MESH_LAYOUT_VOLUME_BYTES_MAX,
			   &v.bytes);
	rc = rc ? rc : get_u32(p, &a, "count", V_INT, 1, MESH_SCN_VOLUME_COUNT_MAX, &v.count);
	rc = rc ? rc : get_choice(p, &a, "attach", attaches, 3, &attach);
	if (rc)
		return rc;
	v.kind = (enum mesh_layout_kind)kind;
	v.attach = (enum mesh_scn_attach)attach;
	rc = volume_shape(p, &a, &v);
	if (rc)
		return rc;
	p->s->volumes[p->s->volume_count++] = v;
	return 0;
}

/* Block size, read share and span must fit together. */
static int workload_shape(struct parser *p, const struct args *a, struct mesh_scn_workload *wl)
{
	if (wl->block_bytes % SCN_SECTOR_BYTES)
		return fail(p, "bs a multiple of 512", "bs %u is not whole 512-byte sectors",
			    wl->block_bytes);
	if (wl->rw != MESH_SCN_RW_RANDRW && arg(a, "read"))
		return fail(p, "read only with rw=randrw", "read given for a workload that is not randrw");
	if (wl->rw == MESH_SCN_RW_RANDREAD)
		wl->read_percent = 100;
	if (wl->rw == MESH_SCN_RW_RANDWRITE)
		wl->read_percent = 0;
	if (wl->span_bytes % wl->block_bytes)
		return fail(p, "span a multiple of bs", "span is not a whole number of %u-byte blocks",
			    wl->block_bytes);
	return 0;
}

static int stmt_workload(struct parser *p, struct words *w)
{
	static const struct key keys[] = {
		{ "clients", false }, { "volumes", false }, { "bs", false },   { "rw", false },
		{ "read", false },    { "qd", false },      { "rate", false }, { "span", false },
		{ "start", false },   { "stop", false },    { NULL, false },
	};
	static const char *const rws[] = {
		[MESH_SCN_RW_RANDREAD] = "randread",
		[MESH_SCN_RW_RANDWRITE] = "randwrite",
		[MESH_SCN_RW_RANDRW] = "randrw",
	};
	struct mesh_scn_workload wl = {
		.clients = one_term_set(MESH_SCN_TERM_CLIENTS), .block_bytes = 4096,
		.read_percent = 50, .queue_depth = 1, .line = p->line,
	};
	const char *vol;
	int rw = MESH_SCN_RW_RANDRW;
	struct args a;
	int rc;

	if (p->s->workload_count == MESH_SCN_WORKLOADS_MAX)
		return fail(p, "at most 16 workload statements", "too many workload statements");
	rc = collect(p, w, 1, "workload", keys, &a);
	rc = rc ? rc : no_positional(p, &a);
	rc = rc ? rc : get_set(p, &a, "clients", &wl.clients);
	vol = arg(&a, "volumes");
	if (rc == 0 && vol && strcmp(vol, "all") != 0)
		rc = name_value(p, "workload", vol, wl.volume);
	rc = rc ? rc : get_u32(p, &a, "bs", V_SIZE, SCN_SECTOR_BYTES, SCN_WORKLOAD_BLOCK_BYTES_MAX,
			       &wl.block_bytes);
	rc = rc ? rc : get_choice(p, &a, "rw", rws, 4, &rw);
	rc = rc ? rc : get_u32(p, &a, "read", V_INT, 0, 100, &wl.read_percent);
	rc = rc ? rc : get_u32(p, &a, "qd", V_INT, 1, SCN_QUEUE_DEPTH_MAX, &wl.queue_depth);
	rc = rc ? rc : get(p, &a, "rate", V_INT, 0, SCN_RATE_IOPS_MAX, &wl.rate_iops);
	rc = rc ? rc : get(p, &a, "span", V_SIZE, 0, MESH_LAYOUT_VOLUME_BYTES_MAX, &wl.span_bytes);
	rc = rc ? rc : get(p, &a, "start", V_DURATION, 0, MESH_SCN_DURATION_NS_MAX, &wl.start_ns);
	rc = rc ? rc : get(p, &a, "stop", V_DURATION, 1, MESH_SCN_DURATION_NS_MAX, &wl.stop_ns);
	if (rc)
		return rc;
	wl.rw = (enum mesh_scn_rw)rw;
	rc = workload_shape(p, &a, &wl);
	if (rc)
		return rc;
	p->stop_given[p->s->workload_count] = arg(&a, "stop") != NULL;
	p->s->workloads[p->s->workload_count++] = wl;
	return 0;
}

/* ---- faults ---- */

enum fault_shape {
	SHAPE_NONE,     /* heal */
	SHAPE_SET,      /* crash SET */
	SHAPE_NET,      /* loss ... [from=SET to=SET] */
	SHAPE_SIDES,    /* partition A | B, A -> B */
};

struct fault_syntax {
	const char *name;
	enum fault_shape shape;
	const char *usage;
	struct key keys[5];
};

static const struct fault_syntax faults[] = {
	[MESH_SCN_CRASH] = { "crash", SHAPE_SET, "at T crash SET", { { NULL, false } } },
	[MESH_SCN_RESTART] = { "restart", SHAPE_SET, "at T restart SET", { { NULL, false } } },
	[MESH_SCN_DRIVE_FAIL] = { "drive-fail", SHAPE_SET, "at T drive-fail SET [drive=N]",
				  { { "drive", false }, { NULL, false } } },
	[MESH_SCN_DRIVE_SLOW] = { "drive-slow", SHAPE_SET, "at T drive-slow SET [drive=N] factor=F",
				  { { "drive", false }, { "factor", true }, { NULL, false } } },
	[MESH_SCN_DRIVE_HEAL] = { "drive-heal", SHAPE_SET, "at T drive-heal SET [drive=N]",
				  { { "drive", false }, { NULL, false } } },
	[MESH_SCN_LOSS] = { "loss", SHAPE_NET, "at T loss p=P [from=SET] [to=SET]",
			    { { "p", true }, { "from", false }, { "to", false }, { NULL, false } } },
	[MESH_SCN_DUPLICATE] = { "duplicate", SHAPE_NET, "at T duplicate p=P [from=SET] [to=SET]",
				 { { "p", true }, { "from", false }, { "to", false }, { NULL, false } } },
	[MESH_SCN_REORDER] = { "reorder", SHAPE_NET, "at T reorder p=P delay=D [from=SET] [to=SET]",
			       { { "p", true }, { "delay", true }, { "from", false }, { "to", false },
				 { NULL, false } } },
	[MESH_SCN_DELAY] = { "delay", SHAPE_NET, "at T delay extra=D [jitter=J] [from=SET] [to=SET]",
			     { { "extra", true }, { "jitter", false }, { "from", false },
			       { "to", false }, { NULL, false } } },
	[MESH_SCN_PARTITION] = { "partition", SHAPE_SIDES, "at T partition A | B, or A -> B",
				 { { NULL, false } } },
	[MESH_SCN_FLAP] = { "flap", SHAPE_SIDES, "at T flap A | B period=P until=U",
			    { { "period", true }, { "until", true }, { NULL, false } } },
	[MESH_SCN_HEAL] = { "heal", SHAPE_NONE, "at T heal", { { NULL, false } } },
	[MESH_SCN_MGMT_DOWN] = { "mgmt-down", SHAPE_NONE, "at T mgmt-down", { { NULL, false } } },
	[MESH_SCN_MGMT_UP] = { "mgmt-up", SHAPE_NONE, "at T mgmt-up", { { NULL, false } } },
};

#define FAULT_KINDS ((int)(sizeof(faults) / sizeof(faults[0])))

const char *mesh_scenario_fault_name(enum mesh_scn_fault_kind kind)
{
	if ((int)kind < MESH_SCN_CRASH || (int)kind >= FAULT_KINDS)
		return "unknown";
	return faults[kind].name;
}

static int fault_kind(const struct parser *p, const char *word, enum mesh_scn_fault_kind *kind)
{
	char list[200];
	size_t n = 0;

	for (int k = MESH_SCN_CRASH; k < FAULT_KINDS; k++) {
		if (strcmp(word, faults[k].name) == 0) {
			*kind = (enum mesh_scn_fault_kind)k;
			return 0;
		}
	}
	for (int k = MESH_SCN_CRASH; k < FAULT_KINDS && n < sizeof(list); k++) {
		int w = snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "one of ",
				 faults[k].name);

		n += w > 0 ? (size_t)w : 0;
	}
	return fail(p, list, "unknown fault \"%s\"", word);
}

/* The positional words of a fault: its node sets. */
static int fault_sets(const struct parser *p, const struct fault_syntax *fs, const struct args *a,
		      struct mesh_scn_fault *f)
{
	switch (fs->shape) {
	case SHAPE_NONE:
	case SHAPE_NET:
		if (a->npos)
			return fail(p, fs->usage, "unexpected \"%s\" in %s", a->pos[0], fs->name);
		return 0;
	case SHAPE_SET:
		if (a->npos != 1)
			return fail(p, fs->usage, "%s takes one node set", fs->name);
		return parse_set(p, fs->name, a->pos[0], &f->a);
	case SHAPE_SIDES:
		if (a->npos != 3 || (strcmp(a->pos[1], "|") != 0 && strcmp(a->pos[1], "->") != 0))
			return fail(p, fs->usage, "%s takes two node sets joined by | or ->", fs->name);
		f->one_way = strcmp(a->pos[1], "->") == 0;
		if (f->one_way && f->kind == MESH_SCN_FLAP)
			return fail(p, fs->usage, "flap cuts both ways; -> is for partition");
		int rc = parse_set(p, fs->name, a->pos[0], &f->a);

		return rc ? rc : parse_set(p, fs->name, a->pos[2], &f->b);
	}
	return -EINVAL;
}

/* Every fault key; collect() has already refused those @f's kind lacks. */
static int fault_keys(const struct parser *p, const struct args *a, struct mesh_scn_fault *f)
{
	int rc = 0;

	rc = rc ? rc : get_u32(p, a, "drive", V_INT, 0, MESH_SCN_DRIVES_PER_NODE_MAX - 1, &f->drive);
	rc = rc ? rc : get_real(p, a, "factor", 1.0, SCN_SLOW_FACTOR_MAX, &f->factor);
	rc = rc ? rc : get_probability(p, a, "p", &f->probability);
	rc = rc ? rc : get(p, a, "delay", V_DURATION, 1, SCN_FAULT_DELAY_NS_MAX, &f->delay_ns);
	rc = rc ? rc : get(p, a, "extra", V_DURATION, 0, SCN_FAULT_DELAY_NS_MAX, &f->delay_ns);
	rc = rc ? rc : get(p, a, "jitter", V_DURATION, 0, SCN_FAULT_DELAY_NS_MAX, &f->jitter_ns);
	rc = rc ? rc : get(p, a, "period", V_DURATION, 1, MESH_SCN_DURATION_NS_MAX, &f->period_ns);
	rc = rc ? rc : get(p, a, "until", V_DURATION, 0, MESH_SCN_DURATION_NS_MAX, &f->until_ns);
	rc = rc ? rc : get_set(p, a, "from", &f->a);
	rc = rc ? rc : get_set(p, a, "to", &f->b);
	return rc;
}

static int stmt_at(struct parser *p, struct words *w)
{
	struct mesh_scn_fault f = { .drive = MESH_SCN_DRIVE_ALL, .line = p->line };
	const struct fault_syntax *fs;
	struct args a;
	int rc;

	if (w->count < 3)
		return fail(p, "at TIME FAULT ..., e.g. at 2s crash node:1", "incomplete fault");
	if (p->s->fault_count == MESH_SCN_FAULTS_MAX)
		return fail(p, "at most 4096 faults", "too many faults");
	rc = value(p, "at", "time", w->v[1], V_DURATION, 0, MESH_SCN_DURATION_NS_MAX, &f.at_ns);
	rc = rc ? rc : fault_kind(p, w->v[2], &f.kind);
	if (rc)
		return rc;
	fs = &faults[f.kind];
	if (fs->shape == SHAPE_NET) {
		f.a = one_term_set(MESH_SCN_TERM_ALL);
		f.b = one_term_set(MESH_SCN_TERM_ALL);
	}
	rc = collect(p, w, 3, fs->name, fs->keys, &a);
	rc = rc ? rc : fault_sets(p, fs, &a, &f);
	rc = rc ? rc : fault_keys(p, &a, &f);
	if (rc)
		return rc;
	p->s->faults[p->s->fault_count++] = f;
	return 0;
}

static int stmt_check(struct parser *p, struct words *w)
{
	static const char *const names[] = { "linearizable", "durability", "redundancy" };
	const unsigned known = sizeof(names) / sizeof(names[0]);
	const char *expected = "check linearizable, durability or redundancy";

	if (w->count < 2)
		return fail(p, expected, "check names no property");
	for (unsigned i = 1; i < w->count; i++) {
		unsigned bit = 0;

		while (bit < known && strcmp(w->v[i], names[bit]) != 0)
			bit++;
		if (bit == known)
			return fail(p, expected, "unknown check \"%s\"", w->v[i]);
		if (p->check_line[bit])
			return fail(p, "each check once", "check %s already given at line %u",
				    names[bit], p->check_line[bit]);
		p->check_line[bit] = p->line;
		p->s->checks |= 1u << bit;
	}
	return 0;
}

/* nodes=100,1000,10000: ascending cluster sizes. */
static int study_sizes(struct parser *p, const char *text, struct mesh_scn_study *st)
{
	char buf[SCN_LINE_BYTES_MAX + 1], *item = buf;
	const char *expected = "nodes=N[,N...], ascending sizes from 1 to 1000000, at most 16";

	snprintf(buf, sizeof(buf), "%s", text);
	for (;;) {
		char *comma = strchr(item, ',');
		uint32_t *size = &st->sizes[st->size_count];

		if (comma)
			*comma = '\0';
		if (st->size_count == MESH_SCN_STUDY_SIZES_MAX)
			return fail(p, expected, "too many cluster sizes in study");
		if (mesh_units_parse_u32(item, 1, MESH_SCN_NODES_MAX, size))
			return fail(p, expected, "bad cluster size \"%s\" in study", item);
		if (st->size_count && *size <= size[-1])
			return fail(p, expected, "cluster size %u does not exceed %u", *size, size[-1]);
		st->size_count++;
		if (!comma)
			return 0;
		item = comma + 1;
	}
}

/* The limits sim/copyset_study.c holds a study to, checked here so that
 * they are reported with their line: copies and racks must fit the smallest
 * cluster, and the chunks of the largest must fit the study's memory. */
static int study_shape(struct parser *p, const struct mesh_scn_study *st)
{
	uint32_t smallest = st->sizes[0], largest = st->sizes[st->size_count - 1];
	uint64_t chunks = (uint64_t)largest * st->chunks_per_node / st->copies;

	if (smallest < st->copies)
		return fail(p, "cluster sizes of at least copies",
			    "study cluster size %u below copies=%u", smallest, st->copies);
	if (st->racks > smallest)
		return fail(p, "racks=0, or at most the smallest cluster size",
			    "study racks=%u for %u nodes", st->racks, smallest);
	if (chunks > MESH_COPYSET_STUDY_CHUNKS_MAX)
		return fail(p, "nodes x chunks_per_node / copies of at most 67108864",
			    "study of %llu chunks at %u nodes", (unsigned long long)chunks, largest);
	return 0;
}

static int stmt_study(struct parser *p, struct words *w)
{
	static const struct key keys[] = {
		{ "copies", false }, { "nodes", true },   { "failed", false }, { "trials", false },
		{ "chunks_per_node", false }, { "scatter", false }, { "racks", false },
		{ NULL, false },
	};
	struct mesh_scn_study *st = &p->s->study;
	struct args a;
	int rc;

	*st = (struct mesh_scn_study){
		.present = true, .copies = 3, .failed_fraction = 0.01, .trials = 1000,
		.chunks_per_node = 10000, .scatter_width = 10, .line = p->line,
	};
	rc = collect(p, w, 1, "study", keys, &a);
	if (rc)
		return rc;
	if (a.npos != 1 || strcmp(a.pos[0], "copysets") != 0)
		return fail(p, "study copysets nodes=N,N,... [key=value ...]",
			    "unknown or missing study kind");
	rc = study_sizes(p, arg(&a, "nodes"), st);
	rc = rc ? rc : get_u32(p, &a, "copies", V_INT, 2, MESH_LAYOUT_COPIES_MAX, &st->copies);
	rc = rc ? rc : get_probability(p, &a, "failed", &st->failed_fraction);
	rc = rc ? rc : get_u32(p, &a, "trials", V_INT, 1, MESH_COPYSET_STUDY_TRIALS_MAX,
			       &st->trials);
	rc = rc ? rc : get_u32(p, &a, "chunks_per_node", V_INT, 1, SCN_STUDY_CHUNKS_PER_NODE_MAX,
			       &st->chunks_per_node);
	rc = rc ? rc : get_u32(p, &a, "scatter", V_INT, 1, MESH_COPYSET_SCATTER_MAX,
			       &st->scatter_width);
	rc = rc ? rc : get_u32(p, &a, "racks", V_INT, 0, MESH_SCN_NODES_MAX, &st->racks);
	return rc ? rc : study_shape(p, st);
}

/* description takes the rest of the line as it is, so it is cut apart here
 * rather than from words. */
static int stmt_description(struct parser *p, const char *rest)
{
	size_t len;

	while (is_space(*rest))
		rest++;
	len = strlen(rest);
	while (len && is_space(rest[len - 1]))
		len--;
	if (len == 0)
		return fail(p, "description TEXT", "empty description");
	if (len >= MESH_SCN_TEXT_MAX)
		return fail(p, "a description of at most 255 characters", "description too long");
	memcpy(p->s->description, rest, len);
	p->s->description[len] = '\0';
	return 0;
}

struct stmt {
	const char *name;
	bool unique;
	int (*parse)(struct parser *p, struct words *w);
};

static const struct stmt stmts[STMT_COUNT] = {
	[STMT_NAME] = { "name", true, stmt_name },
	[STMT_DESCRIPTION] = { "description", true, NULL },
	[STMT_DURATION] = { "duration", true, stmt_duration },
	[STMT_SEED] = { "seed", true, stmt_seed },
	[STMT_TOPOLOGY] = { "topology", true, stmt_topology },
	[STMT_NETWORK] = { "network", true, stmt_network },
	[STMT_DRIVE] = { "drive", true, stmt_drive },
	[STMT_CLIENT] = { "client", true, stmt_client },
	[STMT_HEARTBEAT] = { "heartbeat", true, stmt_heartbeat },
	[STMT_PLACEMENT] = { "placement", true, stmt_placement },
	[STMT_CLOCK] = { "clock", true, stmt_clock },
	[STMT_VOLUME] = { "volume", false, stmt_volume },
	[STMT_WORKLOAD] = { "workload", false, stmt_workload },
	[STMT_AT] = { "at", false, stmt_at },
	[STMT_CHECK] = { "check", false, stmt_check },
	[STMT_STUDY] = { "study", true, stmt_study },
};

static int unknown_statement(const struct parser *p, const char *word)
{
	char list[256];
	size_t n = 0;

	for (int i = 0; i < STMT_COUNT && n < sizeof(list); i++) {
		int w = snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "one of ",
				 stmts[i].name);

		n += w > 0 ? (size_t)w : 0;
	}
	return fail(p, list, "unknown statement \"%s\"", word);
}

/* One line, comment already cut off. */
static int parse_statement(struct parser *p, const char *line)
{
	struct words w;
	int id, rc;

	rc = split_words(p, line, &w);
	if (rc || w.count == 0)
		return rc;
	for (id = 0; id < STMT_COUNT; id++) {
		if (strcmp(w.v[0], stmts[id].name) == 0)
			break;
	}
	if (id == STMT_COUNT)
		return unknown_statement(p, w.v[0]);
	if (stmts[id].unique && p->first[id])
		return fail(p, "one such statement per file", "second %s statement (first at line %u)",
			    stmts[id].name, p->first[id]);
	p->first[id] = p->line;
	if (id == STMT_DESCRIPTION)
		return stmt_description(p, strstr(line, "description") + strlen("description"));
	return stmts[id].parse(p, &w);
}

/* Cut line @p->line out of @text into @buf: no newline, no comment. */
static int take_line(const struct parser *p, const char *text, size_t len, char *buf)
{
	char *hash;

	if (len && text[len - 1] == '\r')
		len--;
	if (len > SCN_LINE_BYTES_MAX)
		return fail(p, "lines of at most 1024 bytes", "line too long");
	memcpy(buf, text, len);
	buf[len] = '\0';
	hash = strchr(buf, '#');
	if (hash)
		*hash = '\0';
	for (char *c = buf; *c; c++) {
		if ((unsigned char)*c < 0x20 && *c != '\t')
			return fail(p, "printable text", "control character 0x%02x in line",
				    (unsigned char)*c);
	}
	return 0;
}

/* ---- validation ---- */

struct where {
	struct report r;
	uint32_t topology_line;         /* 0 when not known */
	uint32_t end_line;              /* cited for a missing statement; 0: not known */
};

/* Something needs a topology and a duration: the first line that does. */
static uint32_t first_user_line(const struct mesh_scenario *s)
{
	uint32_t line = UINT32_MAX;

	if (s->volume_count && s->volumes[0].line < line)
		line = s->volumes[0].line;
	if (s->workload_count && s->workloads[0].line < line)
		line = s->workloads[0].line;
	for (uint32_t i = 0; i < s->fault_count; i++) {
		if (s->faults[i].line < line)
			line = s->faults[i].line;
	}
	return line == UINT32_MAX ? 0 : line;
}

static int validate_presence(const struct mesh_scenario *s, const struct where *w)
{
	bool runs = s->has_topology || s->volume_count || s->workload_count || s->fault_count ||
		    s->checks;

	if (!runs && !s->study.present)
		return fail_at(&w->r, w->end_line, "a topology statement, or a study statement",
			       "nothing to simulate");
	if (!runs)
		return 0;
	if (!s->has_topology) {
		uint32_t line = first_user_line(s);

		return fail_at(&w->r, line ? line : w->end_line,
			       "topology targets=N [clients=N racks=N ...]",
			       "no topology statement for this to run on");
	}
	if (s->duration_ns == 0 || s->duration_ns > MESH_SCN_DURATION_NS_MAX)
		return fail_at(&w->r, w->end_line, "duration T from 1ns to 86400s, e.g. duration 10s",
			       "no duration statement");
	return 0;
}

static int validate_topology(const struct mesh_scenario *s, const struct where *w)
{
	const struct mesh_scn_topology *t = &s->topology;
	uint32_t line = w->topology_line;
	uint64_t nodes = t->converged ? t->targets : (uint64_t)t->targets + t->clients;

	if (t->targets < 1 || t->targets > MESH_SCN_NODES_MAX)
		return fail_at(&w->r, line, "targets from 1 to 1000000", "targets=%u", t->targets);
	if (t->converged && t->clients > t->targets)
		return fail_at(&w->r, line, "clients <= targets in a converged topology",
			       "converged topology with %u clients on %u targets", t->clients,
			       t->targets);
	if (nodes > MESH_SCN_NODES_MAX)
		return fail_at(&w->r, line, "at most 1000000 nodes", "topology of %llu nodes",
			       (unsigned long long)nodes);
	if (t->racks < 1 || t->racks > nodes)
		return fail_at(&w->r, line, "racks from 1 to the node count",
			       "racks=%u for %llu nodes", t->racks, (unsigned long long)nodes);
	if (t->drives < 1 || t->drives > MESH_SCN_DRIVES_PER_NODE_MAX)
		return fail_at(&w->r, line, "drives from 1 to 64", "drives=%u", t->drives);
	if (t->drive_bytes < MESH_BLOCK_BYTES || t->drive_bytes % MESH_BLOCK_BYTES ||
	    t->drive_bytes > MESH_LAYOUT_VOLUME_BYTES_MAX)
		return fail_at(&w->r, line, "drive_bytes a nonzero multiple of 4KiB",
			       "drive_bytes=%llu is not whole 4KiB blocks",
			       (unsigned long long)t->drive_bytes);
	return 0;
}

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
	return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static int validate_volume(const struct mesh_scenario *s, const struct where *w, uint32_t i)
{
	const struct mesh_scn_volume *v = &s->volumes[i];
	const struct mesh_scn_topology *t = &s->topology;

	for (uint32_t j = 0; j < i; j++) {
		if (strcmp(s->volumes[j].name, v->name) == 0)
			return fail_at(&w->r, v->line, "unique volume names",
				       "volume \"%s\" already defined at line %u", v->name,
				       s->volumes[j].line);
	}
	if (v->copies > t->targets)
		return fail_at(&w->r, v->line, "copies <= targets",
			       "volume \"%s\" has copies=%u but the topology has %u targets", v->name,
			       v->copies, t->targets);
	/* greedy placement falls back to one rack; the others keep copies in
	 * distinct racks, so they need at least `copies` of them */
	if (s->placement.policy != MESH_SCN_PLACE_GREEDY && v->copies > t->racks)
		return fail_at(&w->r, v->line, "copies <= racks (or placement policy=greedy)",
			       "volume \"%s\" has copies=%u but the topology has %u racks", v->name,
			       v->copies, t->racks);
	return 0;
}

/* Every volume, then their total count and their bytes against the drives. */
static int validate_volumes(const struct mesh_scenario *s, const struct where *w)
{
	const struct mesh_scn_topology *t = &s->topology;
	uint64_t capacity = mul_sat(mul_sat(t->targets, t->drives), t->drive_bytes);
	uint64_t count = 0, need = 0;
	char have[MESH_UNITS_FMT_MAX], want[MESH_UNITS_FMT_MAX];
	int rc;

	for (uint32_t i = 0; i < s->volume_count; i++) {
		const struct mesh_scn_volume *v = &s->volumes[i];

		rc = validate_volume(s, w, i);
		if (rc)
			return rc;
		count += v->count;
		if (count > MESH_SCN_VOLUME_COUNT_MAX)
			return fail_at(&w->r, v->line, "at most 1000000 volumes in all",
				       "%llu volumes", (unsigned long long)count);
		need = add_sat(need, mul_sat(mul_sat(v->bytes, v->copies), v->count));
		if (need > capacity)
			return fail_at(&w->r, v->line, "volumes that fit the drives",
				       "volumes need %s with their copies but the drives hold %s",
				       mesh_units_format_size(need, want, sizeof(want)),
				       mesh_units_format_size(capacity, have, sizeof(have)));
	}
	return 0;
}

/* @set within the topology; a term naming no node makes no sense. */
static int validate_set(const struct mesh_scenario *s, const struct where *w, uint32_t line,
			const char *what, const struct mesh_scn_set *set)
{
	uint32_t nodes = mesh_scenario_nodes(s), racks = s->topology.racks;
	char expected[96], text[40];

	snprintf(expected, sizeof(expected), "node ids 0-%u and rack ids 0-%u", nodes - 1,
		 racks - 1);
	for (uint32_t i = 0; i < set->count; i++) {
		const struct mesh_scn_term *term = &set->terms[i];
		const char *t = term_text(term, text, sizeof(text));

		if (term->kind == MESH_SCN_TERM_NODES && term->hi >= nodes)
			return fail_at(&w->r, line, expected, "%s names %s but the topology has %u nodes",
				       what, t, nodes);
		if (term->kind == MESH_SCN_TERM_RACKS && term->hi >= racks)
			return fail_at(&w->r, line, expected, "%s names %s but the topology has %u racks",
				       what, t, racks);
		if (term->kind == MESH_SCN_TERM_CLIENTS && s->topology.clients == 0)
			return fail_at(&w->r, line, "clients=N > 0 in the topology",
				       "%s names clients but the topology has none", what);
	}
	if (set->count == 0)
		return fail_at(&w->r, line, EXPECT_SET, "%s has an empty node set", what);
	return 0;
}

static const struct mesh_scn_volume *find_volume(const struct mesh_scenario *s, const char *name)
{
	for (uint32_t i = 0; i < s->volume_count; i++) {
		if (strcmp(s->volumes[i].name, name) == 0)
			return &s->volumes[i];
	}
	return NULL;
}

/* The volumes a workload runs on must hold its span and its blocks. */
static int validate_workload_volumes(const struct mesh_scenario *s, const struct where *w,
				     const struct mesh_scn_workload *wl)
{
	uint64_t need = wl->span_bytes > wl->block_bytes ? wl->span_bytes : wl->block_bytes;

	if (s->volume_count == 0)
		return fail_at(&w->r, wl->line, "a volume statement", "workload but no volume");
	if (wl->volume[0] && !find_volume(s, wl->volume))
		return fail_at(&w->r, wl->line, "the name of a volume statement",
			       "workload names unknown volume \"%s\"", wl->volume);
	for (uint32_t i = 0; i < s->volume_count; i++) {
		const struct mesh_scn_volume *v = &s->volumes[i];

		if (wl->volume[0] && strcmp(wl->volume, v->name) != 0)
			continue;
		if (v->bytes < need)
			return fail_at(&w->r, wl->line, "span and bs within the volume size",
				       "workload reaches past the end of volume \"%s\"", v->name);
	}
	return 0;
}

static int validate_workload(const struct mesh_scenario *s, const struct where *w,
			     const struct mesh_scn_workload *wl)
{
	int rc;

	rc = validate_workload_volumes(s, w, wl);
	rc = rc ? rc : validate_set(s, w, wl->line, "workload", &wl->clients);
	if (rc)
		return rc;
	if (!set_has_client(s, &wl->clients))
		return fail_at(&w->r, wl->line, "a clients= set holding at least one client",
			       "workload runs on no client");
	if (wl->queue_depth > s->client.queue_depth)
		return fail_at(&w->r, wl->line, "qd <= the client queue_depth",
			       "workload qd=%u exceeds the client queue_depth=%u", wl->queue_depth,
			       s->client.queue_depth);
	if (wl->stop_ns > s->duration_ns)
		return fail_at(&w->r, wl->line, "stop <= the duration", "workload stops after the end");
	if (wl->start_ns >= wl->stop_ns)
		return fail_at(&w->r, wl->line, "start < stop", "workload stops before it starts");
	return 0;
}

static int validate_drive_fault(const struct mesh_scenario *s, const struct where *w,
				const struct mesh_scn_fault *f)
{
	const char *name = mesh_scenario_fault_name(f->kind);

	if (f->drive != MESH_SCN_DRIVE_ALL && f->drive >= s->topology.drives)
		return fail_at(&w->r, f->line, "drive= below the topology's drives",
			       "%s drive=%u but targets have %u drives", name, f->drive,
			       s->topology.drives);
	if (!set_has_target(s, &f->a))
		return fail_at(&w->r, f->line, "a node set holding a target",
			       "%s names no target", name);
	return 0;
}

static int validate_flap(const struct mesh_scenario *s, const struct where *w,
			 const struct mesh_scn_fault *f)
{
	if (f->period_ns == 0)
		return fail_at(&w->r, f->line, "period > 0", "flap with period=0");
	if (f->until_ns <= f->at_ns)
		return fail_at(&w->r, f->line, "until after the fault's time",
			       "flap ends before it starts");
	if (f->until_ns > s->duration_ns)
		return fail_at(&w->r, f->line, "until <= the duration", "flap lasts past the end");
	return 0;
}

static int validate_fault(const struct mesh_scenario *s, const struct where *w,
			  const struct mesh_scn_fault *f)
{
	const char *name = mesh_scenario_fault_name(f->kind);
	char at[MESH_UNITS_FMT_MAX], end[MESH_UNITS_FMT_MAX];
	int rc = 0;

	if (f->kind < MESH_SCN_CRASH || f->kind > MESH_SCN_FAULT_LAST)
		return fail_at(&w->r, f->line, "a known fault", "unknown fault kind %d", f->kind);
	if (f->at_ns > s->duration_ns)
		return fail_at(&w->r, f->line, "a time within the duration",
			       "%s at %s is after the end (%s)", name,
			       mesh_units_format_duration(f->at_ns, at, sizeof(at)),
			       mesh_units_format_duration(s->duration_ns, end, sizeof(end)));
	if (f->probability < 0.0 || f->probability > 1.0)
		return fail_at(&w->r, f->line, "p from 0 to 1", "%s probability out of range", name);
	if (faults[f->kind].shape != SHAPE_NONE)
		rc = validate_set(s, w, f->line, name, &f->a);
	if (rc == 0 && faults[f->kind].shape >= SHAPE_NET)
		rc = validate_set(s, w, f->line, name, &f->b);
	if (rc)
		return rc;
	if (f->kind >= MESH_SCN_DRIVE_FAIL && f->kind <= MESH_SCN_DRIVE_HEAL)
		return validate_drive_fault(s, w, f);
	if (f->kind == MESH_SCN_FLAP)
		return validate_flap(s, w, f);
	return 0;
}

static int validate(const struct mesh_scenario *s, const struct where *w)
{
	int rc = validate_presence(s, w);

	if (rc || !s->has_topology)
		return rc;
	rc = validate_topology(s, w);
	rc = rc ? rc : validate_volumes(s, w);
	for (uint32_t i = 0; rc == 0 && i < s->workload_count; i++)
		rc = validate_workload(s, w, &s->workloads[i]);
	for (uint32_t i = 0; rc == 0 && i < s->fault_count; i++)
		rc = validate_fault(s, w, &s->faults[i]);
	return rc;
}

int mesh_scenario_validate(const struct mesh_scenario *s, char *err, size_t err_len)
{
	struct where w = { .r = { .path = s->path, .err = err, .err_len = err_len } };

	assert(s);
	return validate(s, &w);
}

void mesh_scenario_set_duration(struct mesh_scenario *s, uint64_t duration_ns)
{
	for (uint32_t i = 0; i < s->workload_count; i++) {
		if (s->workloads[i].stop_ns == s->duration_ns)
			s->workloads[i].stop_ns = duration_ns;
	}
	s->duration_ns = duration_ns;
}

/* ---- whole files ---- */

/* The default name: the file's base name without ".scn", in name chars. */
static void default_name(const char *path, char *name)
{
	const char *base = strrchr(path, '/');
	size_t len;

	base = base ? base + 1 : path;
	len = strlen(base);
	if (len > 4 && strcmp(base + len - 4, ".scn") == 0)
		len -= 4;
	if (len >= MESH_SCN_NAME_MAX)
		len = MESH_SCN_NAME_MAX - 1;
	for (size_t i = 0; i < len; i++)
		name[i] = name_char(base[i]) ? base[i] : '_';
	name[len] = '\0';
	if (len == 0)
		snprintf(name, MESH_SCN_NAME_MAX, "scenario");
}

static void set_defaults(struct mesh_scenario *s, const char *path)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->path, sizeof(s->path), "%s", path);
	default_name(path, s->name);
	s->seed = 1;
	s->network = (struct mesh_scn_network){
		.latency_ns = 2000, .bandwidth_bps = 25000000000ull / 8,
		.backbone_latency_ns = 2000, .backbone_bandwidth_bps = 400000000000ull / 8,
	};
	s->drive = (struct mesh_scn_drive_model){
		.read_latency_ns = 80000, .write_latency_ns = 20000,
		.bandwidth_bps = 2000000000ull, .queue_depth = 64,
	};
	s->client = (struct mesh_scn_client){ .queue_depth = 32, .io_timeout_ns = 500000000ull };
	s->placement = (struct mesh_scn_placement){
		.policy = MESH_SCN_PLACE_COPYSET, .scatter_width = 4,
	};
}

static int fault_order(const void *a, const void *b)
{
	const struct mesh_scn_fault *x = a, *y = b;

	/* one fault per line, so the line makes the sort stable */
	if (x->at_ns != y->at_ns)
		return x->at_ns < y->at_ns ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* What the whole file decides: defaults that depend on other statements,
 * fault order, then the checks of validation. */
static int finish(struct parser *p, uint32_t lines)
{
	struct mesh_scenario *s = p->s;
	struct where w = {
		.r = p->r, .topology_line = p->first[STMT_TOPOLOGY], .end_line = lines ? lines : 1,
	};
	int rc;

	for (uint32_t i = 0; i < s->workload_count; i++) {
		if (!p->stop_given[i])
			s->workloads[i].stop_ns = s->duration_ns;
	}
	qsort(s->faults, s->fault_count, sizeof(s->faults[0]), fault_order);
	rc = validate(s, &w);
	if (rc)
		return rc;
	for (unsigned bit = 0; bit < 2; bit++) {
		if (p->check_line[bit] && s->workload_count == 0)
			return fail_at(&p->r, p->check_line[bit], "a workload statement",
				       "check without a workload to check");
	}
	return 0;
}

int mesh_scenario_parse(const char *path, const char *text, struct mesh_scenario *out, char *err,
			size_t err_len)
{
	struct parser p = { .r = { .path = path, .err = err, .err_len = err_len }, .s = out };
	char buf[SCN_LINE_BYTES_MAX + 1];
	int rc;

	assert(path && text && out);
	set_defaults(out, path);
	while (*text) {
		const char *nl = strchr(text, '\n');
		size_t len = nl ? (size_t)(nl - text) : strlen(text);

		p.line++;
		rc = take_line(&p, text, len, buf);
		rc = rc ? rc : parse_statement(&p, buf);
		if (rc)
			return rc;
		text += len + (nl != NULL);
	}
	return finish(&p, p.line);
}

/* The whole file into a new NUL-terminated buffer. */
static int read_file(const char *path, char **text, char *err, size_t err_len)
{
	struct report r = { .path = path, .err = err, .err_len = err_len };
	FILE *f = fopen(path, "rb");
	size_t len;
	int rc = 0;

	if (!f) {
		rc = errno == ENOENT ? -ENOENT : -EIO;
		fail_at(&r, 0, "a readable scenario file", "cannot open: %s", strerror(errno));
		return rc;
	}
	*text = malloc(SCN_FILE_BYTES_MAX + 1);
	if (!*text) {
		fclose(f);
		return -ENOMEM;
	}
	len = fread(*text, 1, SCN_FILE_BYTES_MAX + 1, f);
	if (ferror(f)) {
		fail_at(&r, 0, "a readable scenario file", "cannot read");
		rc = -EIO;
	} else if (len > SCN_FILE_BYTES_MAX) {
		rc = fail_at(&r, 0, "a file of at most 8MiB", "file too large");
	}
	fclose(f);
	if (rc) {
		free(*text);
		return rc;
	}
	(*text)[len] = '\0';
	if (strlen(*text) != len) {
		free(*text);
		return fail_at(&r, 0, "a text file", "NUL byte in file");
	}
	return 0;
}

int mesh_scenario_load(const char *path, struct mesh_scenario *out, char *err, size_t err_len)
{
	char *text;
	int rc;

	assert(path && out);
	rc = read_file(path, &text, err, err_len);
	if (rc)
		return rc;
	rc = mesh_scenario_parse(path, text, out, err, err_len);
	free(text);
	return rc;
}

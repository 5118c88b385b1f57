/*
 * sim/history.c: records the client-visible history of a run and checks it
 * for per-block linearizability and durability (contract in sim/history.h).
 *
 * Recording appends to growable arrays: 32 bytes per operation, and one
 * record per distinct block found through an open-addressing index. Ten
 * million operations cost about 320 MiB and nothing is allocated per
 * operation beyond amortised growth.
 *
 * Checking groups the operations by block (a counting sort by block id;
 * blocks visited in key order; a block's operations ordered by invocation
 * time) and checks one block at a time in scratch buffers reused from
 * block to block. Linearizability of one block goes through these steps:
 *  1. Every read must name a write of the block, or the initial 0, that was
 *     invoked before the read answered. These cheap checks give the
 *     clearest accounts, so they come first.
 *  2. An open write whose value no read returned is dropped. Wherever it is
 *     placed it only sets the register to a value that nobody reads before
 *     the next write, so the history is linearizable with it exactly when
 *     it is linearizable without it. Open writes that some read returned
 *     stay open in the search.
 *  3. A block whose operations never overlap is replayed in one pass.
 *  4. Otherwise the Wing & Gong search decides, with Lowe's memo of
 *     (linearized set, register value).
 * When a block fails, a diagnosis pass looks for the simplest witness (a
 * stale read, or a read older than an earlier read) and writes it as one
 * line.
 *
 * Time: op a precedes op b when a answered strictly before b was invoked.
 * Equal times count as concurrent, because events in the same simulated
 * nanosecond may have happened in either order.
 */
#include "sim/history.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every index the checkers use, up to twice the ops of one block (calls
 * and returns), then fits an int32. */
#define HISTORY_OPS_MAX (1u << 30)
/* Block ids live in a 28-bit field of struct op. */
#define HISTORY_BLOCKS_MAX (1u << 28)
/* The block index is kept at most half full. */
#define HISTORY_INDEX_MIN 1024u
/* The response time of an open operation: it never answered. */
#define T_OPEN UINT64_MAX
/* The memo's slot table starts at this many slots per operation. */
#define MEMO_SLOTS_PER_OP 4u
#define MEMO_SLOTS_MIN 64u

struct op {
	uint64_t t_inv_ns;
	uint64_t t_resp_ns;     /* meaningful once outcome != PENDING */
	uint64_t value;         /* written (writes) or returned (reads) */
	uint32_t client;
	uint32_t block : 28;    /* index into mesh_history.blocks */
	uint32_t kind : 2;      /* enum mesh_history_op */
	uint32_t outcome : 2;   /* enum mesh_history_outcome */
};
_Static_assert(sizeof(struct op) == 32, "struct op is meant to stay at 32 bytes");

struct block {
	struct mesh_block_key key;
	uint64_t final_value;
	uint32_t ops;
	bool has_final;
	bool written;           /* some write was invoked on it */
};

struct mesh_history {
	struct op *ops;
	size_t ops_n, ops_cap;
	struct block *blocks;
	size_t blocks_n, blocks_cap;
	uint32_t *index;        /* block id + 1 per slot, 0 when empty */
	size_t index_cap;       /* a power of two */
	uint64_t blocks_with_ops;
};

/* ---- small helpers ---- */

/*
 * Returns @p grown to hold at least @need elements of @size bytes, and
 * updates *@cap. Capacity doubles, so appending is amortised O(1). Returns
 * NULL when out of memory; @p is then still valid and unchanged.
 */
static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 16;
	void *q;

	assert(need > 0);
	if (need <= *cap)
		return p;
	while (n < need) {
		if (n > SIZE_MAX / 2 / size)
			return NULL;
		n *= 2;
	}
	q = realloc(p, n * size);
	if (q)
		*cap = n;
	return q;
}

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t key_hash(struct mesh_block_key k)
{
	return mix64(k.block ^ mix64((uint64_t)k.volume + 0x9e3779b97f4a7c15ull));
}

static bool key_eq(struct mesh_block_key a, struct mesh_block_key b)
{
	return a.volume == b.volume && a.block == b.block;
}

static int key_cmp(struct mesh_block_key a, struct mesh_block_key b)
{
	if (a.volume != b.volume)
		return a.volume < b.volume ? -1 : 1;
	if (a.block != b.block)
		return a.block < b.block ? -1 : 1;
	return 0;
}

/* Simulated nanoseconds as seconds with microsecond precision. */
struct tstr {
	char s[32];
};

static struct tstr tfmt(uint64_t ns)
{
	struct tstr t;

	snprintf(t.s, sizeof(t.s), "%llu.%06llus", (unsigned long long)(ns / 1000000000u),
		 (unsigned long long)(ns % 1000000000u / 1000u));
	return t;
}

/* Counts a failed block; the first one's account goes into the report. */
static void __attribute__((format(printf, 3, 4)))
violation(struct mesh_check_report *out, struct mesh_block_key key, const char *fmt, ...)
{
	va_list ap;

	out->violations++;
	if (out->has_violation)
		return;
	out->has_violation = true;
	out->first_block = key;
	va_start(ap, fmt);
	vsnprintf(out->first_detail, sizeof(out->first_detail), fmt, ap);
	va_end(ap);
}

/* ---- recording ---- */

int mesh_history_create(struct mesh_history **out)
{
	struct mesh_history *h;

	assert(out);
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	*out = h;
	return 0;
}

void mesh_history_destroy(struct mesh_history *h)
{
	if (!h)
		return;
	free(h->ops);
	free(h->blocks);
	free(h->index);
	free(h);
}

static void index_put(uint32_t *index, size_t cap, struct mesh_block_key key, uint32_t id)
{
	size_t slot = key_hash(key) & (cap - 1);

	while (index[slot])
		slot = (slot + 1) & (cap - 1);
	index[slot] = id + 1;
}

/* Doubles the block index and re-inserts every block. */
static int index_grow(struct mesh_history *h)
{
	size_t cap = h->index_cap ? h->index_cap * 2 : HISTORY_INDEX_MIN;
	uint32_t *index = calloc(cap, sizeof(*index));

	if (!index)
		return -ENOMEM;
	for (size_t id = 0; id < h->blocks_n; id++)
		index_put(index, cap, h->blocks[id].key, (uint32_t)id);
	free(h->index);
	h->index = index;
	h->index_cap = cap;
	return 0;
}

/* Finds block @key, adding it if new. Returns 0 or -ENOMEM. */
static int block_lookup(struct mesh_history *h, struct mesh_block_key key, uint32_t *id)
{
	struct block *blocks;
	size_t slot;
	int rc;

	if (h->index_cap) {
		for (slot = key_hash(key) & (h->index_cap - 1); h->index[slot];
		     slot = (slot + 1) & (h->index_cap - 1)) {
			if (key_eq(h->blocks[h->index[slot] - 1].key, key)) {
				*id = h->index[slot] - 1;
				return 0;
			}
		}
	}
	if (h->blocks_n >= HISTORY_BLOCKS_MAX)
		return -ENOMEM;
	blocks = grow(h->blocks, &h->blocks_cap, h->blocks_n + 1, sizeof(*blocks));
	if (!blocks)
		return -ENOMEM;
	h->blocks = blocks;
	if ((h->blocks_n + 1) * 2 > h->index_cap) {
		rc = index_grow(h);
		if (rc)
			return rc;
	}
	*id = (uint32_t)h->blocks_n++;
	h->blocks[*id] = (struct block){ .key = key };
	index_put(h->index, h->index_cap, key, *id);
	return 0;
}

int64_t mesh_history_invoke(struct mesh_history *h, struct mesh_block_key key,
			    enum mesh_history_op op, uint64_t value, uint64_t t_ns,
			    uint32_t client)
{
	struct op *ops;
	struct block *b;
	uint32_t id;
	int rc;

	assert(h);
	assert(op == MESH_HISTORY_READ || op == MESH_HISTORY_WRITE);
	assert(op == MESH_HISTORY_READ || (value != 0 && value != MESH_HISTORY_VALUE_CORRUPT));
	if (h->ops_n >= HISTORY_OPS_MAX)
		return -ENOMEM;
	ops = grow(h->ops, &h->ops_cap, h->ops_n + 1, sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	h->ops = ops;
	rc = block_lookup(h, key, &id);
	if (rc)
		return rc;
	b = &h->blocks[id];
	if (b->ops++ == 0)
		h->blocks_with_ops++;
	b->written |= op == MESH_HISTORY_WRITE;
	h->ops[h->ops_n] = (struct op){
		.t_inv_ns = t_ns,
		.value = op == MESH_HISTORY_WRITE ? value : 0,
		.client = client,
		.block = id,
		.kind = op,
		.outcome = MESH_HISTORY_PENDING,
	};
	return (int64_t)h->ops_n++;
}

void mesh_history_complete(struct mesh_history *h, int64_t handle,
			   enum mesh_history_outcome outcome, uint64_t value_read, uint64_t t_ns)
{
	struct op *o;

	assert(h && handle >= 0 && (uint64_t)handle < h->ops_n);
	assert(outcome == MESH_HISTORY_OK || outcome == MESH_HISTORY_FAILED);
	o = &h->ops[handle];
	assert(o->outcome == MESH_HISTORY_PENDING); /* completed once only */
	assert(t_ns >= o->t_inv_ns);
	o->outcome = outcome;
	o->t_resp_ns = t_ns;
	if (o->kind == MESH_HISTORY_READ)
		o->value = outcome == MESH_HISTORY_OK ? value_read : 0;
}

int mesh_history_final(struct mesh_history *h, struct mesh_block_key key, uint64_t value)
{
	uint32_t id;
	int rc;

	assert(h);
	rc = block_lookup(h, key, &id);
	if (rc)
		return rc;
	h->blocks[id].final_value = value;
	h->blocks[id].has_final = true;
	return 0;
}

uint64_t mesh_history_ops(const struct mesh_history *h)
{
	assert(h);
	return h->ops_n;
}

uint64_t mesh_history_blocks(const struct mesh_history *h)
{
	assert(h);
	return h->blocks_with_ops;
}

/* Blocks are visited in the order they were first touched. */
void mesh_history_for_each_written(const struct mesh_history *h,
				   void (*fn)(void *arg, struct mesh_block_key key), void *arg)
{
	assert(h && fn);
	for (size_t id = 0; id < h->blocks_n; id++)
		if (h->blocks[id].written)
			fn(arg, h->blocks[id].key);
}

/* ---- grouping by block ---- */

struct keyed {
	struct mesh_block_key key;
	uint32_t id;
};

struct groups {
	struct keyed *order;    /* blocks in key order */
	uint32_t *start;        /* by block id: its first slot in idx; [blocks_n] = ops_n */
	uint32_t *idx;          /* handles grouped by block, ascending within one */
};

static int keyed_cmp(const void *a, const void *b)
{
	return key_cmp(((const struct keyed *)a)->key, ((const struct keyed *)b)->key);
}

static void groups_free(struct groups *g)
{
	free(g->order);
	free(g->start);
	free(g->idx);
}

/* A counting sort by block id: O(ops + blocks log blocks). */
static int groups_build(const struct mesh_history *h, struct groups *g)
{
	size_t nb = h->blocks_n;

	g->order = malloc((nb + 1) * sizeof(*g->order));
	g->start = calloc(nb + 1, sizeof(*g->start));
	g->idx = malloc((h->ops_n + 1) * sizeof(*g->idx));
	if (!g->order || !g->start || !g->idx) {
		groups_free(g);
		return -ENOMEM;
	}
	for (size_t id = 0; id < nb; id++) {
		g->order[id] = (struct keyed){ h->blocks[id].key, (uint32_t)id };
		g->start[id + 1] = g->start[id] + h->blocks[id].ops;
	}
	qsort(g->order, nb, sizeof(*g->order), keyed_cmp);
	/* Fill using start[] as cursors, which leaves start[id] at the end
	 * of block id, i.e. at the old start[id + 1]; then shift back. */
	for (size_t i = 0; i < h->ops_n; i++)
		g->idx[g->start[h->ops[i].block]++] = (uint32_t)i;
	for (size_t id = nb; id > 0; id--)
		g->start[id] = g->start[id - 1];
	g->start[0] = 0;
	return 0;
}

/* ---- one block's operations, for the linearizability check ---- */

struct lop {
	uint64_t t_inv_ns;
	uint64_t t_resp_ns;     /* T_OPEN for a write that failed or never answered */
	uint64_t value;
	uint32_t handle;
	uint32_t client;
	int32_t writer;         /* reads: local index of the write read, -1 for the initial 0 */
	uint8_t kind;
	bool read;              /* writes: some read returned this value */
};

struct wval {
	uint64_t value;
	uint32_t op;
};

/* An interval for the diagnosis: sorted by end, then start and op turned
 * into the running maximum of start and where it came from. */
struct span {
	uint64_t end_ns;
	uint64_t start_ns;
	uint32_t op;
};

struct event {
	uint64_t t_ns;
	int32_t op;
	bool is_return;
};

/* Lowe's doubly linked list of calls and returns; entry 0 is the head. */
struct entry {
	int32_t op;
	int32_t match;          /* calls: their return entry, -1 when open */
	int32_t prev, next;     /* -1 ends the list */
	bool is_return;
};

struct frame {
	int32_t entry;
	uint64_t state;
};

/* A visited configuration: every op below p is linearized, and the words
 * arena[off..off+len) are the linearized set from word p / 64 on. */
struct memo_entry {
	uint64_t hash;
	uint64_t value;
	uint64_t off;
	uint32_t p;
	uint32_t len;
};

enum verdict {
	VERDICT_PASS,
	VERDICT_VIOLATION,
	VERDICT_UNDECIDED,
};

/* Scratch reused from block to block, so checking does not allocate per
 * block once the largest block has been seen. */
struct checker {
	struct lop *ops;
	size_t n, ops_cap;
	uint32_t reads;
	int32_t stuck;          /* the op whose return stopped the deepest search */
	struct wval *wv;
	size_t wv_cap;
	int32_t *pos;
	size_t pos_cap;
	struct span *spans;
	size_t spans_cap;
	struct event *ev;
	size_t ev_cap;
	struct entry *en;
	size_t en_cap;
	struct frame *stack;
	size_t stack_cap;
	uint64_t *bits;         /* the linearized set */
	size_t bits_cap;
	uint32_t p_hint;        /* every op below it is linearized */
	uint32_t m_end;         /* every linearized op is below it */
	struct memo_entry *memo;
	size_t memo_n, memo_cap;
	uint32_t *slots;
	size_t slots_cap, slots_mask;
	uint64_t *arena;
	size_t arena_n, arena_cap;
};

static void checker_free(struct checker *c)
{
	free(c->ops);
	free(c->wv);
	free(c->pos);
	free(c->spans);
	free(c->ev);
	free(c->en);
	free(c->stack);
	free(c->bits);
	free(c->memo);
	free(c->slots);
	free(c->arena);
}

/* Grows c->field to @need elements, or returns -ENOMEM from the caller. */
#define RESERVE_OR_ENOMEM(c, field, cap, need)                                   \
	do {                                                                      \
		void *q_ = grow((c)->field, &(c)->cap, (need), sizeof(*(c)->field)); \
		if (!q_)                                                          \
			return -ENOMEM;                                           \
		(c)->field = q_;                                                  \
	} while (0)

/* Makes room for a block of @n operations. Returns 0 or -ENOMEM. */
static int checker_reserve(struct checker *c, size_t n)
{
	RESERVE_OR_ENOMEM(c, ops, ops_cap, n);
	RESERVE_OR_ENOMEM(c, wv, wv_cap, n);
	RESERVE_OR_ENOMEM(c, pos, pos_cap, n);
	RESERVE_OR_ENOMEM(c, spans, spans_cap, n);
	RESERVE_OR_ENOMEM(c, ev, ev_cap, 2 * n);
	RESERVE_OR_ENOMEM(c, en, en_cap, 2 * n + 1);
	RESERVE_OR_ENOMEM(c, stack, stack_cap, n);
	RESERVE_OR_ENOMEM(c, bits, bits_cap, n / 64 + 1);
	return 0;
}

static int lop_cmp(const void *a, const void *b)
{
	const struct lop *x = a, *y = b;

	if (x->t_inv_ns != y->t_inv_ns)
		return x->t_inv_ns < y->t_inv_ns ? -1 : 1;
	return x->handle < y->handle ? -1 : x->handle > y->handle;
}

static bool is_open(const struct lop *o)
{
	return o->t_resp_ns == T_OPEN;
}

/* Copies the block's operations, minus failed or pending reads, ordered by
 * invocation. Recording is usually in invocation order already. */
static void load_block(struct checker *c, const struct mesh_history *h, const uint32_t *idx,
		       uint32_t n)
{
	bool sorted = true;

	c->n = 0;
	c->reads = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct op *o = &h->ops[idx[i]];
		struct lop *l = &c->ops[c->n];

		if (o->kind == MESH_HISTORY_READ && o->outcome != MESH_HISTORY_OK)
			continue;
		*l = (struct lop){
			.t_inv_ns = o->t_inv_ns,
			.t_resp_ns = o->outcome == MESH_HISTORY_OK ? o->t_resp_ns : T_OPEN,
			.value = o->value,
			.handle = idx[i],
			.client = o->client,
			.writer = -1,
			.kind = (uint8_t)o->kind,
		};
		if (c->n && lop_cmp(l - 1, l) > 0)
			sorted = false;
		c->reads += o->kind == MESH_HISTORY_READ;
		c->n++;
	}
	if (!sorted)
		qsort(c->ops, c->n, sizeof(*c->ops), lop_cmp);
}

static int wval_cmp(const void *a, const void *b)
{
	const struct wval *x = a, *y = b;

	return x->value < y->value ? -1 : x->value > y->value;
}

/* Sorts the values of @n writes and asserts they are distinct. */
static void wval_sort(struct wval *wv, size_t n)
{
	qsort(wv, n, sizeof(*wv), wval_cmp);
	for (size_t i = 1; i < n; i++)
		assert(wv[i - 1].value != wv[i].value); /* a write value repeated: caller bug */
}

static const struct wval *wval_find(const struct wval *wv, size_t n, uint64_t value)
{
	struct wval k = { .value = value };

	return bsearch(&k, wv, n, sizeof(*wv), wval_cmp);
}

/*
 * Points every read at the write whose value it returned. Returns false,
 * after reporting the first one, if some read returned a corrupt block, a
 * value no write of the block produced, or a write invoked only after the
 * read answered.
 */
static bool resolve_reads(struct checker *c, struct mesh_block_key key,
			  struct mesh_check_report *out)
{
	size_t nw = 0;

	for (size_t i = 0; i < c->n; i++)
		if (c->ops[i].kind == MESH_HISTORY_WRITE)
			c->wv[nw++] = (struct wval){ c->ops[i].value, (uint32_t)i };
	wval_sort(c->wv, nw);
	for (size_t i = 0; i < c->n; i++) {
		struct lop *r = &c->ops[i];
		const struct wval *f;
		struct lop *w;

		if (r->kind != MESH_HISTORY_READ || r->value == 0)
			continue;
		if (r->value == MESH_HISTORY_VALUE_CORRUPT) {
			violation(out, key, "read by client %u at %s returned a corrupt block "
				  "(not the bytes of any one write)", r->client, tfmt(r->t_inv_ns).s);
			return false;
		}
		f = wval_find(c->wv, nw, r->value);
		if (!f) {
			violation(out, key, "read by client %u at %s returned 0x%llx, which no "
				  "write to this block produced", r->client, tfmt(r->t_inv_ns).s,
				  (unsigned long long)r->value);
			return false;
		}
		w = &c->ops[f->op];
		if (w->t_inv_ns > r->t_resp_ns) {
			violation(out, key, "read by client %u at %s, answered at %s, returned "
				  "0x%llx, but client %u invoked that write only at %s", r->client,
				  tfmt(r->t_inv_ns).s, tfmt(r->t_resp_ns).s,
				  (unsigned long long)r->value, w->client, tfmt(w->t_inv_ns).s);
			return false;
		}
		r->writer = (int32_t)f->op;
		w->read = true;
	}
	return true;
}

/* Drops open writes that no read returned (see step 2 at the top). */
static void prune_unread_open_writes(struct checker *c)
{
	size_t j = 0;

	for (size_t i = 0; i < c->n; i++) {
		const struct lop *o = &c->ops[i];

		if (o->kind == MESH_HISTORY_WRITE && is_open(o) && !o->read) {
			c->pos[i] = -1;
			continue;
		}
		c->pos[i] = (int32_t)j;
		c->ops[j++] = *o;
	}
	c->n = j;
	for (size_t i = 0; i < c->n; i++)
		if (c->ops[i].writer >= 0)
			c->ops[i].writer = c->pos[c->ops[i].writer];
}

/* Whether each operation answered before the next one was invoked. */
static bool is_sequential(const struct checker *c)
{
	for (size_t i = 0; i < c->n; i++) {
		if (is_open(&c->ops[i]))
			return false;
		if (i + 1 < c->n && c->ops[i].t_resp_ns >= c->ops[i + 1].t_inv_ns)
			return false;
	}
	return true;
}

/* The one-pass check of a sequential block. */
static enum verdict replay(struct checker *c)
{
	uint64_t state = 0;

	for (size_t i = 0; i < c->n; i++) {
		const struct lop *o = &c->ops[i];

		if (o->kind == MESH_HISTORY_WRITE) {
			state = o->value;
		} else if (o->value != state) {
			c->stuck = (int32_t)i;
			return VERDICT_VIOLATION;
		}
	}
	return VERDICT_PASS;
}

/* ---- the linearized set and Lowe's memo ---- */

static void bit_set(struct checker *c, uint32_t i)
{
	c->bits[i >> 6] |= 1ull << (i & 63);
	if (i + 1 > c->m_end)
		c->m_end = i + 1;
}

static void bit_clear(struct checker *c, uint32_t i)
{
	c->bits[i >> 6] &= ~(1ull << (i & 63));
	if (i < c->p_hint)
		c->p_hint = i;
}

/*
 * The canonical form of the linearized set: p, the first op not in it,
 * and the words from p / 64 up to its highest member. Ops are numbered by
 * invocation and the search linearizes them roughly in order, so the
 * window stays about as wide as the block's concurrency, however long the
 * block's history is.
 */
static void set_window(struct checker *c, uint32_t *p, uint32_t *ws, uint32_t *len)
{
	uint32_t w = c->p_hint >> 6;
	uint64_t word = c->bits[w] | ((1ull << (c->p_hint & 63)) - 1);

	/* bits has a word past op n - 1, so a zero is always found. */
	while (word == UINT64_MAX)
		word = c->bits[++w];
	c->p_hint = w * 64 + (uint32_t)__builtin_ctzll(~word);
	*p = c->p_hint;
	if (c->m_end) {
		uint32_t top = c->m_end - 1;

		w = top >> 6;
		word = c->bits[w] & (top % 64 == 63 ? UINT64_MAX : (1ull << (top % 64 + 1)) - 1);
		while (!word && w)
			word = c->bits[--w];
		c->m_end = word ? w * 64 + 64 - (uint32_t)__builtin_clzll(word) : 0;
	}
	*ws = *p >> 6;
	*len = c->m_end > *p ? ((c->m_end - 1) >> 6) - *ws + 1 : 0;
}

static int memo_reset(struct checker *c, size_t n)
{
	size_t want = MEMO_SLOTS_MIN;

	while (want < MEMO_SLOTS_PER_OP * n)
		want *= 2;
	RESERVE_OR_ENOMEM(c, slots, slots_cap, want);
	memset(c->slots, 0, want * sizeof(*c->slots));
	c->slots_mask = want - 1;
	c->memo_n = 0;
	c->arena_n = 0;
	memset(c->bits, 0, (n / 64 + 1) * sizeof(*c->bits));
	c->p_hint = 0;
	c->m_end = 0;
	return 0;
}

static int memo_grow_slots(struct checker *c)
{
	size_t want = (c->slots_mask + 1) * 2;

	RESERVE_OR_ENOMEM(c, slots, slots_cap, want);
	memset(c->slots, 0, want * sizeof(*c->slots));
	c->slots_mask = want - 1;
	for (size_t i = 0; i < c->memo_n; i++) {
		size_t s = c->memo[i].hash & c->slots_mask;

		while (c->slots[s])
			s = (s + 1) & c->slots_mask;
		c->slots[s] = (uint32_t)i + 1;
	}
	return 0;
}

/*
 * Looks up the configuration (current linearized set, @value) and records
 * it if new. Returns 1 if new, 0 if seen before, or -ENOMEM.
 */
static int memo_visit(struct checker *c, uint64_t value)
{
	uint32_t p, ws, len;
	uint64_t hash;
	size_t s;
	struct memo_entry *e;

	set_window(c, &p, &ws, &len);
	hash = mix64(((uint64_t)p << 32 | len) ^ mix64(value));
	for (uint32_t k = 0; k < len; k++)
		hash = mix64(hash ^ c->bits[ws + k]);
	for (s = hash & c->slots_mask; c->slots[s]; s = (s + 1) & c->slots_mask) {
		e = &c->memo[c->slots[s] - 1];
		if (e->hash == hash && e->p == p && e->value == value && e->len == len &&
		    (!len || !memcmp(c->arena + e->off, c->bits + ws, len * sizeof(*c->bits))))
			return 0;
	}
	RESERVE_OR_ENOMEM(c, memo, memo_cap, c->memo_n + 1);
	if (len) {
		RESERVE_OR_ENOMEM(c, arena, arena_cap, c->arena_n + len);
		memcpy(c->arena + c->arena_n, c->bits + ws, len * sizeof(*c->bits));
	}
	c->memo[c->memo_n] = (struct memo_entry){ hash, value, c->arena_n, p, len };
	c->arena_n += len;
	c->slots[s] = (uint32_t)++c->memo_n;
	if (c->memo_n * 2 > c->slots_mask + 1)
		return memo_grow_slots(c) ? -ENOMEM : 1;
	return 1;
}

/* ---- Wing & Gong search, Lowe's version ---- */

static int event_cmp(const void *a, const void *b)
{
	const struct event *x = a, *y = b;

	if (x->t_ns != y->t_ns)
		return x->t_ns < y->t_ns ? -1 : 1;
	/* At equal times calls go first, so the two ops count as concurrent. */
	if (x->is_return != y->is_return)
		return x->is_return ? 1 : -1;
	return x->op < y->op ? -1 : x->op > y->op;
}

/* Builds the list of calls and returns in time order. Open writes have a
 * call and no return. Returns the number of ops that have a return. */
static uint32_t list_build(struct checker *c)
{
	size_t m = 0;
	uint32_t closed = 0;

	for (size_t i = 0; i < c->n; i++) {
		c->ev[m++] = (struct event){ c->ops[i].t_inv_ns, (int32_t)i, false };
		if (!is_open(&c->ops[i])) {
			c->ev[m++] = (struct event){ c->ops[i].t_resp_ns, (int32_t)i, true };
			closed++;
		}
	}
	qsort(c->ev, m, sizeof(*c->ev), event_cmp);
	c->en[0] = (struct entry){ .op = -1, .match = -1, .prev = -1, .next = m ? 1 : -1 };
	for (size_t k = 1; k <= m; k++) {
		struct entry *e = &c->en[k];
		int32_t op = c->ev[k - 1].op;

		*e = (struct entry){
			.op = op,
			.match = -1,
			.prev = (int32_t)k - 1,
			.next = k < m ? (int32_t)k + 1 : -1,
			.is_return = c->ev[k - 1].is_return,
		};
		if (!e->is_return) {
			c->pos[op] = (int32_t)k;
		} else {
			e->match = c->pos[op];
			c->en[c->pos[op]].match = (int32_t)k;
		}
	}
	return closed;
}

static void unlink_entry(struct entry *en, int32_t k)
{
	en[en[k].prev].next = en[k].next;
	if (en[k].next >= 0)
		en[en[k].next].prev = en[k].prev;
}

static void relink_entry(struct entry *en, int32_t k)
{
	en[en[k].prev].next = k;
	if (en[k].next >= 0)
		en[en[k].next].prev = k;
}

/* Takes call @k and its return out of the list. */
static void lift(struct entry *en, int32_t k)
{
	unlink_entry(en, k);
	if (en[k].match >= 0)
		unlink_entry(en, en[k].match);
}

/* Puts them back; lifts are undone in reverse order, so the neighbours
 * each entry remembers are the right ones again. */
static void unlift(struct entry *en, int32_t k)
{
	if (en[k].match >= 0)
		relink_entry(en, en[k].match);
	relink_entry(en, k);
}

/*
 * Tries to linearize call @k from register value *@state: on success lifts
 * it and pushes a frame. Returns 1 if it did, 0 if the model refuses or the
 * configuration was seen before, or -ENOMEM.
 */
static int try_call(struct checker *c, int32_t k, uint64_t *state, int32_t *sp)
{
	const struct lop *o = &c->ops[c->en[k].op];
	uint64_t next = o->kind == MESH_HISTORY_WRITE ? o->value : *state;
	int rc;

	if (o->kind == MESH_HISTORY_READ && o->value != *state)
		return 0;
	bit_set(c, (uint32_t)c->en[k].op);
	rc = memo_visit(c, next);
	if (rc <= 0) {
		bit_clear(c, (uint32_t)c->en[k].op);
		return rc;
	}
	c->stack[(*sp)++] = (struct frame){ k, *state };
	*state = next;
	lift(c->en, k);
	return 1;
}

/*
 * Searches for a linearization of the block in c->ops. Sets *@v; returns 0
 * or -ENOMEM. The search succeeds once every op that answered is
 * linearized: open writes may be left out.
 */
static int wgl_search(struct checker *c, enum verdict *v)
{
	uint32_t remaining;     /* ops that answered and are not linearized yet */
	int32_t k, sp = 0, deepest = -1;
	uint64_t state = 0;
	int rc = memo_reset(c, c->n);

	if (rc)
		return rc;
	remaining = list_build(c);
	k = c->en[0].next;
	while (remaining) {
		assert(k > 0); /* a return entry is met before the list ends */
		if (!c->en[k].is_return) {
			rc = try_call(c, k, &state, &sp);
			if (rc < 0)
				return rc;
			if (rc == 0) {
				k = c->en[k].next;
				continue;
			}
			if (c->memo_n > MESH_LINCHECK_STATES_MAX) {
				*v = VERDICT_UNDECIDED;
				return 0;
			}
			remaining -= !is_open(&c->ops[c->en[k].op]);
			k = c->en[0].next;
			continue;
		}
		/* This op answered here and is not linearized: backtrack. */
		if (sp > deepest) {
			deepest = sp;
			c->stuck = c->en[k].op;
		}
		if (sp == 0) {
			*v = VERDICT_VIOLATION;
			return 0;
		}
		k = c->stack[--sp].entry;
		state = c->stack[sp].state;
		bit_clear(c, (uint32_t)c->en[k].op);
		unlift(c->en, k);
		remaining += !is_open(&c->ops[c->en[k].op]);
		k = c->en[k].next;
	}
	*v = VERDICT_PASS;
	return 0;
}

/* ---- diagnosis: one readable line for a failed block ---- */

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	if (x->end_ns != y->end_ns)
		return x->end_ns < y->end_ns ? -1 : 1;
	return x->op < y->op ? -1 : x->op > y->op;
}

/* Sorts spans by end and turns start/op into the running maximum. */
static void spans_prepare(struct span *sp, size_t m)
{
	qsort(sp, m, sizeof(*sp), span_cmp);
	for (size_t i = 1; i < m; i++) {
		if (sp[i - 1].start_ns > sp[i].start_ns) {
			sp[i].start_ns = sp[i - 1].start_ns;
			sp[i].op = sp[i - 1].op;
		}
	}
}

/* Of the spans that ended strictly before @t_ns, the one that started
 * last; NULL if none. */
static const struct span *spans_before(const struct span *sp, size_t m, uint64_t t_ns)
{
	size_t lo = 0, hi = m;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (sp[mid].end_ns < t_ns)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &sp[lo - 1] : NULL;
}

/*
 * A stale read: it returned the value of write w (or the initial 0), but
 * an acknowledged write w2 was invoked after w answered and answered
 * before the read was invoked.
 */
static bool explain_stale_read(struct checker *c, char *d, size_t size)
{
	size_t m = 0;

	for (size_t i = 0; i < c->n; i++)
		if (c->ops[i].kind == MESH_HISTORY_WRITE && !is_open(&c->ops[i]))
			c->spans[m++] = (struct span){ c->ops[i].t_resp_ns, c->ops[i].t_inv_ns,
						       (uint32_t)i };
	spans_prepare(c->spans, m);
	for (size_t i = 0; i < c->n; i++) {
		const struct lop *r = &c->ops[i], *w, *w2;
		const struct span *q;

		if (r->kind != MESH_HISTORY_READ)
			continue;
		q = spans_before(c->spans, m, r->t_inv_ns);
		if (!q)
			continue;
		w2 = &c->ops[q->op];
		if (r->writer < 0) {
			snprintf(d, size, "read by client %u at %s returned the initial 0x0, but "
				 "client %u's write 0x%llx was acknowledged at %s", r->client,
				 tfmt(r->t_inv_ns).s, w2->client, (unsigned long long)w2->value,
				 tfmt(w2->t_resp_ns).s);
			return true;
		}
		w = &c->ops[r->writer];
		if (!is_open(w) && w2->t_inv_ns > w->t_resp_ns) {
			snprintf(d, size, "read by client %u at %s returned 0x%llx written by "
				 "client %u (acknowledged at %s), but client %u's write 0x%llx was "
				 "invoked at %s and acknowledged at %s", r->client,
				 tfmt(r->t_inv_ns).s, (unsigned long long)r->value, w->client,
				 tfmt(w->t_resp_ns).s, w2->client, (unsigned long long)w2->value,
				 tfmt(w2->t_inv_ns).s, tfmt(w2->t_resp_ns).s);
			return true;
		}
	}
	return false;
}

/*
 * New then old: read r1 answered before read r2 was invoked and returned
 * write w1's value, so w1 precedes r2; r2 returned the initial 0, or a write
 * w2 that answered before w1 was invoked.
 */
static bool explain_new_then_old(struct checker *c, char *d, size_t size)
{
	size_t m = 0;

	for (size_t i = 0; i < c->n; i++)
		if (c->ops[i].kind == MESH_HISTORY_READ && c->ops[i].writer >= 0)
			c->spans[m++] = (struct span){ c->ops[i].t_resp_ns,
						       c->ops[c->ops[i].writer].t_inv_ns,
						       (uint32_t)i };
	spans_prepare(c->spans, m);
	for (size_t i = 0; i < c->n; i++) {
		const struct lop *r2 = &c->ops[i], *r1, *w1, *w2;
		const struct span *q;

		if (r2->kind != MESH_HISTORY_READ)
			continue;
		q = spans_before(c->spans, m, r2->t_inv_ns);
		if (!q)
			continue;
		r1 = &c->ops[q->op];
		w1 = &c->ops[r1->writer];
		if (r2->writer >= 0) {
			w2 = &c->ops[r2->writer];
			if (is_open(w2) || q->start_ns <= w2->t_resp_ns)
				continue;
			snprintf(d, size, "read by client %u at %s returned 0x%llx (client %u's "
				 "write, acknowledged at %s), but client %u's read answered at %s "
				 "had returned 0x%llx from client %u's write invoked at %s",
				 r2->client, tfmt(r2->t_inv_ns).s, (unsigned long long)r2->value,
				 w2->client, tfmt(w2->t_resp_ns).s, r1->client,
				 tfmt(r1->t_resp_ns).s, (unsigned long long)r1->value, w1->client,
				 tfmt(w1->t_inv_ns).s);
			return true;
		}
		snprintf(d, size, "read by client %u at %s returned the initial 0x0, but client "
			 "%u's read answered at %s had returned 0x%llx from client %u's write",
			 r2->client, tfmt(r2->t_inv_ns).s, r1->client, tfmt(r1->t_resp_ns).s,
			 (unsigned long long)r1->value, w1->client);
		return true;
	}
	return false;
}

/* No simple witness: name the op at which the deepest search stopped. */
static void explain_stuck(const struct checker *c, char *d, size_t size)
{
	const struct lop *o;

	if (c->stuck < 0) {
		snprintf(d, size, "no order of the block's %zu operations is linearizable", c->n);
		return;
	}
	o = &c->ops[c->stuck];
	snprintf(d, size, "no order of the block's %zu operations explains client %u's %s "
		 "0x%llx invoked at %s and answered at %s", c->n, o->client,
		 o->kind == MESH_HISTORY_READ ? "read returning" : "write of",
		 (unsigned long long)o->value, tfmt(o->t_inv_ns).s, tfmt(o->t_resp_ns).s);
}

static void diagnose(struct checker *c, struct mesh_block_key key, struct mesh_check_report *out)
{
	char d[MESH_HISTORY_DETAIL_MAX];

	if (out->has_violation) {
		out->violations++; /* only the first block gets an account */
		return;
	}
	if (!explain_stale_read(c, d, sizeof(d)) && !explain_new_then_old(c, d, sizeof(d)))
		explain_stuck(c, d, sizeof(d));
	violation(out, key, "%s", d);
	/* MESH_HISTORY_DUMP=1: the whole block's history, for debugging. */
	if (getenv("MESH_HISTORY_DUMP")) {
		for (size_t i = 0; i < c->n; i++) {
			const struct lop *o = &c->ops[i];

			fprintf(stderr, "  client %u %s 0x%llx [%s, %s]\n", o->client,
				o->kind == MESH_HISTORY_READ ? "read " : "write",
				(unsigned long long)o->value, tfmt(o->t_inv_ns).s,
				o->t_resp_ns == T_OPEN ? "open" : tfmt(o->t_resp_ns).s);
		}
	}
}

/* ---- the checks ---- */

/* Checks one block's operations (handles @idx[0..@n)). Returns 0 or -ENOMEM. */
static int lin_block(struct checker *c, const struct mesh_history *h, const struct block *b,
		     const uint32_t *idx, uint32_t n, struct mesh_check_report *out)
{
	enum verdict v;
	int rc;

	out->blocks_checked++;
	out->ops_checked += n;
	rc = checker_reserve(c, n);
	if (rc)
		return rc;
	load_block(c, h, idx, n);
	if (!resolve_reads(c, b->key, out))
		return 0;
	if (!c->reads)
		return 0; /* writes alone always linearize */
	prune_unread_open_writes(c);
	c->stuck = -1;
	if (is_sequential(c)) {
		out->states_visited += c->n;
		v = replay(c);
	} else {
		rc = wgl_search(c, &v);
		out->states_visited += c->memo_n;
		if (rc)
			return rc;
	}
	if (v == VERDICT_UNDECIDED)
		out->undecided++;
	else if (v == VERDICT_VIOLATION)
		diagnose(c, b->key, out);
	return 0;
}

/* *@out is overwritten. On -ENOMEM its counts are partial. */
int mesh_history_check_linearizable(const struct mesh_history *h, struct mesh_check_report *out)
{
	struct checker c = { 0 };
	struct groups g;
	int rc;

	assert(h && out);
	memset(out, 0, sizeof(*out));
	rc = groups_build(h, &g);
	if (rc)
		return rc;
	for (size_t i = 0; i < h->blocks_n && !rc; i++) {
		uint32_t id = g.order[i].id;
		const struct block *b = &h->blocks[id];

		if (b->ops)
			rc = lin_block(&c, h, b, g.idx + g.start[id], b->ops, out);
	}
	checker_free(&c);
	groups_free(&g);
	return rc;
}

/* A successful read whose value no write of the block produced (or
 * corrupt); NULL if none. @wv holds the block's write values, sorted. */
static const struct op *bad_read(const struct mesh_history *h, const uint32_t *idx, uint32_t n,
				 const struct wval *wv, size_t nw)
{
	for (uint32_t i = 0; i < n; i++) {
		const struct op *o = &h->ops[idx[i]];

		if (o->kind != MESH_HISTORY_READ || o->outcome != MESH_HISTORY_OK || !o->value)
			continue;
		if (o->value == MESH_HISTORY_VALUE_CORRUPT || !wval_find(wv, nw, o->value))
			return o;
	}
	return NULL;
}

/* Checks the final value of @b against its acknowledged write @last (the
 * one invoked last; NULL if none). */
static void durability_final(const struct mesh_history *h, const struct block *b,
			     const struct op *last, const struct wval *wv, size_t nw,
			     struct mesh_check_report *out)
{
	const struct wval *f;
	const struct op *w;

	if (!b->has_final) {
		if (last)
			violation(out, b->key, "never read back: client %u's write 0x%llx was "
				  "acknowledged at %s, but the block has no final value",
				  last->client, (unsigned long long)last->value,
				  tfmt(last->t_resp_ns).s);
		return;
	}
	if (b->final_value == MESH_HISTORY_VALUE_CORRUPT) {
		violation(out, b->key, "final value is corrupt (not the bytes of any one write)");
		return;
	}
	if (b->final_value == 0) {
		if (last)
			violation(out, b->key, "final value is the initial 0x0, but client %u's "
				  "write 0x%llx was acknowledged at %s", last->client,
				  (unsigned long long)last->value, tfmt(last->t_resp_ns).s);
		return;
	}
	f = wval_find(wv, nw, b->final_value);
	if (!f) {
		violation(out, b->key, "final value 0x%llx was produced by no write to this block",
			  (unsigned long long)b->final_value);
		return;
	}
	w = &h->ops[f->op];
	/* A write that failed or never answered may have landed at any time. */
	if (w->outcome != MESH_HISTORY_OK || !last || last->t_inv_ns <= w->t_resp_ns)
		return;
	violation(out, b->key, "final value 0x%llx is client %u's write acknowledged at %s, "
		  "older than client %u's write 0x%llx invoked at %s and acknowledged at %s",
		  (unsigned long long)w->value, w->client, tfmt(w->t_resp_ns).s, last->client,
		  (unsigned long long)last->value, tfmt(last->t_inv_ns).s,
		  tfmt(last->t_resp_ns).s);
}

static void durability_block(const struct mesh_history *h, const struct block *b,
			     const uint32_t *idx, uint32_t n, struct wval *wv,
			     struct mesh_check_report *out)
{
	const struct op *last = NULL, *r;
	size_t nw = 0;

	out->blocks_checked++;
	out->ops_checked += n;
	for (uint32_t i = 0; i < n; i++) {
		const struct op *o = &h->ops[idx[i]];

		if (o->kind != MESH_HISTORY_WRITE)
			continue;
		wv[nw++] = (struct wval){ o->value, idx[i] };
		if (o->outcome == MESH_HISTORY_OK && (!last || o->t_inv_ns > last->t_inv_ns))
			last = o;
	}
	wval_sort(wv, nw);
	r = bad_read(h, idx, n, wv, nw);
	if (r && r->value == MESH_HISTORY_VALUE_CORRUPT) {
		violation(out, b->key, "read by client %u at %s returned a corrupt block (not the "
			  "bytes of any one write)", r->client, tfmt(r->t_inv_ns).s);
		return;
	}
	if (r) {
		violation(out, b->key, "read by client %u at %s returned 0x%llx, which no write "
			  "to this block produced", r->client, tfmt(r->t_inv_ns).s,
			  (unsigned long long)r->value);
		return;
	}
	durability_final(h, b, last, wv, nw, out);
}

/* *@out is overwritten. Blocks with operations or a final value are
 * checked; a final value for a block nobody wrote must be 0. */
int mesh_history_check_durability(const struct mesh_history *h, struct mesh_check_report *out)
{
	struct wval *wv = NULL;
	size_t wv_cap = 0;
	struct groups g;
	int rc;

	assert(h && out);
	memset(out, 0, sizeof(*out));
	rc = groups_build(h, &g);
	if (rc)
		return rc;
	for (size_t i = 0; i < h->blocks_n; i++) {
		uint32_t id = g.order[i].id;
		const struct block *b = &h->blocks[id];
		struct wval *q = grow(wv, &wv_cap, b->ops + 1, sizeof(*wv));

		if (!q) {
			rc = -ENOMEM;
			break;
		}
		wv = q;
		durability_block(h, b, g.idx + g.start[id], b->ops, wv, out);
	}
	free(wv);
	groups_free(&g);
	return rc;
}

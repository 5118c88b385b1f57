/*
 * transports/loop.c: the in-process transport (see loop.h).
 *
 * Each endpoint owns a byte ring for inbound messages and a queue for the
 * other events, both sized at create, so send, poll and RMA never allocate.
 * send copies straight into the peer's ring. poll hands out pointers into
 * the ring and frees them lazily, at the start of the next poll, which is
 * what lets a RECV event point at the bytes without a copy. Every inbound
 * item takes a per-endpoint sequence number so that poll can merge the ring
 * and the event queue back into the order in which things happened.
 *
 * One thread drives every endpoint of a fabric, so nothing here locks.
 */
#include "transports/loop.h"

#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/proto.h"

/* Records start on this boundary so that their headers can be used in place. */
#define REC_ALIGN 8u
/* Filler from here to the end of the ring: the next record is at offset 0. */
#define REC_PAD 1u

/* The header of one message in the receive ring; the bytes follow it. */
struct rec {
	uint64_t seq;
	struct mesh_conn *conn; /* the receiving conn; NULL once it is dropped */
	size_t len;
	uint32_t flags;
};

#define REC_HDR_BYTES sizeof(struct rec)
_Static_assert(REC_HDR_BYTES % REC_ALIGN == 0, "ring records must stay aligned");

/*
 * A connection yields at most CONN_UP and CONN_DOWN, and its queued events
 * leave with it, so with RMA_DONE capped on its own this queue cannot
 * overflow and connection events never need to be refused.
 */
#define EVQ_CAP (MESH_LOOP_RMA_MAX + 2u * MESH_LOOP_CONN_MAX)

/* rkey = (fabric-wide counter << MR_SLOT_BITS) | slot: unique, and O(1) to find. */
#define MR_SLOT_BITS 10u
_Static_assert((1u << MR_SLOT_BITS) == MESH_LOOP_MR_MAX, "MESH_LOOP_MR_MAX is 1 << MR_SLOT_BITS");

#define RMA_ACCESS_ALL (MESH_RMA_READ | MESH_RMA_WRITE)

struct qev {
	uint64_t seq;
	enum mesh_tp_event_type type;
	struct mesh_conn *conn;
	uint64_t cookie;
	int status;
};

struct mr {
	uint64_t rkey; /* 0 while the slot is free; never issued */
	uint8_t *base;
	size_t len;
	unsigned access;
};

struct link {
	char from[MESH_LOOP_ADDR_MAX + 1];
	char to[MESH_LOOP_ADDR_MAX + 1];
};

struct mesh_loop_fabric {
	struct mesh_transport *endpoints;
	uint64_t rkey_next;
	uint64_t anon_next;
	uint64_t dropped;
	unsigned links_down;
	struct link links[MESH_LOOP_LINKS_DOWN_MAX]; /* the directed links that are down */
};

struct mesh_conn {
	struct mesh_transport *ep;
	struct mesh_conn *peer; /* NULL once the other side is gone */
	struct mesh_conn *prev;
	struct mesh_conn *next;
	void *ctx;
};

struct mesh_transport {
	struct mesh_loop_fabric *fabric;
	struct mesh_transport *next; /* in fabric->endpoints */
	char addr[MESH_LOOP_ADDR_MAX + 1];
	bool listening;
	size_t msg_bytes_max;

	struct mesh_conn *conns;
	unsigned conn_count;

	uint64_t seq_next;

	/*
	 * Receive ring. Offsets are in [0, ring_bytes). head <= scan <= tail in
	 * ring order; [head, scan) was returned by the last poll and is freed by
	 * the next one, [scan, tail) waits to be polled.
	 */
	uint8_t *ring;
	size_t ring_bytes;
	size_t head;
	size_t scan;
	size_t tail;
	size_t used;      /* bytes in [head, tail), padding included */
	size_t delivered; /* bytes in [head, scan) */

	struct qev *evq; /* EVQ_CAP entries */
	unsigned evq_head;
	unsigned evq_count;
	unsigned rma_queued; /* RMA_DONE entries among evq_count */

	struct mr *mrs;    /* MESH_LOOP_MR_MAX slots */
	unsigned *mr_free; /* stack of free slot numbers */
	unsigned mr_free_count;
};

static void loop_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Loop endpoints have no mesh_env, so the few set-up failures go to stderr. */
static void loop_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("mesh loop: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Non-empty and at most MESH_LOOP_ADDR_MAX bytes; never reads past the limit. */
static bool addr_valid(const char *addr)
{
	if (!addr || !addr[0])
		return false;
	for (size_t n = 1; n <= MESH_LOOP_ADDR_MAX; n++)
		if (!addr[n])
			return true;
	return false;
}

static struct mesh_transport *ep_find(const struct mesh_loop_fabric *f, const char *addr)
{
	for (struct mesh_transport *t = f->endpoints; t; t = t->next)
		if (strcmp(t->addr, addr) == 0)
			return t;
	return NULL;
}

static int link_find(const struct mesh_loop_fabric *f, const char *from, const char *to)
{
	for (unsigned i = 0; i < f->links_down; i++)
		if (strcmp(f->links[i].from, from) == 0 && strcmp(f->links[i].to, to) == 0)
			return (int)i;
	return -1;
}

/* On the hot path: costs nothing while no link is down. */
static bool link_down(const struct mesh_loop_fabric *f, const struct mesh_transport *from,
		      const struct mesh_transport *to)
{
	return f->links_down && link_find(f, from->addr, to->addr) >= 0;
}

/* ---- receive ring ---- */

static size_t rec_bytes(size_t len)
{
	return REC_HDR_BYTES + ((len + REC_ALIGN - 1) & ~(size_t)(REC_ALIGN - 1));
}

static size_t ring_next(const struct mesh_transport *t, size_t pos, size_t step)
{
	pos += step;
	return pos == t->ring_bytes ? 0 : pos;
}

/*
 * The record at @pos, or NULL when @pos starts the filler before the wrap
 * (a pad record, or a tail too short to hold a header). *@step is how far
 * to advance past it.
 */
static struct rec *ring_at(const struct mesh_transport *t, size_t pos, size_t *step)
{
	size_t room = t->ring_bytes - pos;

	if (room < REC_HDR_BYTES) {
		*step = room;
		return NULL;
	}
	struct rec *r = (struct rec *)(void *)(t->ring + pos);
	if (r->flags & REC_PAD) {
		*step = room;
		return NULL;
	}
	*step = rec_bytes(r->len);
	return r;
}

static void ring_skip(struct mesh_transport *t, size_t step)
{
	t->scan = ring_next(t, t->scan, step);
	t->delivered += step;
	assert(t->delivered <= t->used);
}

/* Free what the previous poll returned; its RECV pointers die here. */
static void ring_release(struct mesh_transport *t)
{
	t->head = t->scan;
	t->used -= t->delivered;
	t->delivered = 0;
	/* Restarting an empty ring at 0 keeps the largest message placeable. */
	if (t->used == 0)
		t->head = t->scan = t->tail = 0;
}

/* The next live record waiting to be polled, or NULL. */
static struct rec *ring_peek(struct mesh_transport *t)
{
	while (t->delivered < t->used) {
		size_t step;
		struct rec *r = ring_at(t, t->scan, &step);

		if (r && r->conn)
			return r;
		ring_skip(t, step);
	}
	return NULL;
}

/*
 * Claim contiguous room for a @len-byte message, or NULL when the ring has
 * no such room now. All or nothing: a refused message leaves no trace.
 */
static struct rec *ring_reserve(struct mesh_transport *t, size_t len)
{
	size_t need = rec_bytes(len);

	if (t->used == 0)
		t->head = t->scan = t->tail = 0;
	/* A record never wraps, so the ring's last bytes may have to be skipped. */
	size_t pad = t->tail + need > t->ring_bytes ? t->ring_bytes - t->tail : 0;
	size_t room = t->ring_bytes - t->used;
	if (need > room || pad > room - need)
		return NULL;
	if (pad) {
		if (pad >= REC_HDR_BYTES) {
			struct rec *p = (struct rec *)(void *)(t->ring + t->tail);
			*p = (struct rec){ .flags = REC_PAD };
		}
		t->tail = 0;
		t->used += pad;
	}
	struct rec *r = (struct rec *)(void *)(t->ring + t->tail);
	t->tail = ring_next(t, t->tail, need);
	t->used += need;
	return r;
}

/* Unhook @c from its records still waiting in the ring; poll skips them. */
static void ring_forget(struct mesh_transport *t, const struct mesh_conn *c)
{
	size_t pos = t->scan;
	size_t left = t->used - t->delivered;

	while (left > 0) {
		size_t step;
		struct rec *r = ring_at(t, pos, &step);

		if (r && r->conn == c)
			r->conn = NULL;
		assert(step <= left);
		left -= step;
		pos = ring_next(t, pos, step);
	}
}

/* ---- event queue ---- */

static void evq_push(struct mesh_transport *t, enum mesh_tp_event_type type, struct mesh_conn *c,
		     uint64_t cookie, int status)
{
	assert(t->evq_count < EVQ_CAP);
	struct qev *q = &t->evq[(t->evq_head + t->evq_count) % EVQ_CAP];

	*q = (struct qev){
		.seq = t->seq_next++,
		.type = type,
		.conn = c,
		.cookie = cookie,
		.status = status,
	};
	t->evq_count++;
	if (type == MESH_TP_RMA_DONE)
		t->rma_queued++;
}

static void evq_pop(struct mesh_transport *t)
{
	assert(t->evq_count > 0);
	if (t->evq[t->evq_head].type == MESH_TP_RMA_DONE)
		t->rma_queued--;
	t->evq_head = (t->evq_head + 1) % EVQ_CAP;
	t->evq_count--;
}

/* Remove @c's events, keeping the others in order. O(queue); only on disconnect. */
static void evq_forget(struct mesh_transport *t, const struct mesh_conn *c)
{
	unsigned kept = 0;

	for (unsigned i = 0; i < t->evq_count; i++) {
		struct qev *q = &t->evq[(t->evq_head + i) % EVQ_CAP];

		if (q->conn == c) {
			if (q->type == MESH_TP_RMA_DONE)
				t->rma_queued--;
			continue;
		}
		if (kept != i)
			t->evq[(t->evq_head + kept) % EVQ_CAP] = *q;
		kept++;
	}
	t->evq_count = kept;
}

/* ---- fabric ---- */

int mesh_loop_fabric_create(struct mesh_loop_fabric **out)
{
	assert(out);
	struct mesh_loop_fabric *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->rkey_next = 1;
	*out = f;
	return 0;
}

void mesh_loop_fabric_destroy(struct mesh_loop_fabric *f)
{
	if (!f)
		return;
	assert(!f->endpoints && "destroy every loop endpoint before its fabric");
	free(f);
}

int mesh_loop_set_link(struct mesh_loop_fabric *f, const char *from_addr, const char *to_addr,
		       bool up)
{
	assert(f);
	if (!addr_valid(from_addr) || !addr_valid(to_addr))
		return -EINVAL;
	int i = link_find(f, from_addr, to_addr);
	if (up) {
		if (i >= 0)
			f->links[i] = f->links[--f->links_down];
		return 0;
	}
	if (i >= 0)
		return 0;
	if (f->links_down == MESH_LOOP_LINKS_DOWN_MAX)
		return -ENOSPC;
	struct link *l = &f->links[f->links_down++];
	strcpy(l->from, from_addr);
	strcpy(l->to, to_addr);
	return 0;
}

uint64_t mesh_loop_dropped(const struct mesh_loop_fabric *f)
{
	assert(f);
	return f->dropped;
}

const char *mesh_loop_address(const struct mesh_transport *t)
{
	assert(t);
	return t->addr;
}

/* ---- endpoints ---- */

static void ep_free(struct mesh_transport *t)
{
	free(t->mr_free);
	free(t->mrs);
	free(t->evq);
	free(t->ring);
	free(t);
}

static int loop_create(const struct mesh_transport_params *params, struct mesh_transport **out)
{
	assert(out);
	if (!params || !params->fabric) {
		loop_log("create: params must name a struct mesh_loop_fabric");
		return -EINVAL;
	}
	size_t msg_max = params->msg_bytes_max ? params->msg_bytes_max : MESH_PROTO_MSG_MAX;
	size_t rx = params->rx_bytes ? params->rx_bytes : MESH_LOOP_RX_BYTES_DEFAULT;
	if (rx > MESH_LOOP_RX_BYTES_MAX) {
		loop_log("create: rx_bytes %zu above the limit %u", rx, MESH_LOOP_RX_BYTES_MAX);
		return -EINVAL;
	}
	rx &= ~(size_t)(REC_ALIGN - 1);
	/* Otherwise a message within the limit could never be received. */
	if (msg_max > rx || rec_bytes(msg_max) > rx) {
		loop_log("create: rx_bytes %zu cannot hold one message of msg_bytes_max %zu", rx,
			 msg_max);
		return -EINVAL;
	}

	struct mesh_transport *t = calloc(1, sizeof(*t));
	if (!t)
		goto fail_oom;
	t->ring = malloc(rx);
	t->evq = calloc(EVQ_CAP, sizeof(*t->evq));
	t->mrs = calloc(MESH_LOOP_MR_MAX, sizeof(*t->mrs));
	t->mr_free = calloc(MESH_LOOP_MR_MAX, sizeof(*t->mr_free));
	if (!t->ring || !t->evq || !t->mrs || !t->mr_free)
		goto free_ep;

	struct mesh_loop_fabric *f = params->fabric;
	t->fabric = f;
	t->msg_bytes_max = msg_max;
	t->ring_bytes = rx;
	/* Hand out low slots first; the order only matters for reproducibility. */
	for (unsigned i = 0; i < MESH_LOOP_MR_MAX; i++)
		t->mr_free[i] = MESH_LOOP_MR_MAX - 1 - i;
	t->mr_free_count = MESH_LOOP_MR_MAX;
	/* A listener may have taken an "anon:N" name by hand: skip past it. */
	do
		snprintf(t->addr, sizeof(t->addr), "anon:%llu", (unsigned long long)f->anon_next++);
	while (ep_find(f, t->addr));

	t->next = f->endpoints;
	f->endpoints = t;
	*out = t;
	return 0;

free_ep:
	ep_free(t);
fail_oom:
	loop_log("create: out of memory for a %zu-byte receive ring", rx);
	return -ENOMEM;
}

static void conn_unlink(struct mesh_conn *c)
{
	struct mesh_transport *t = c->ep;

	if (c->prev)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	t->conn_count--;
}

/*
 * Free @c and tell its peer. @purge removes @c's waiting events and
 * messages; destroy skips that, since the whole endpoint goes.
 */
static void conn_drop(struct mesh_conn *c, bool purge)
{
	struct mesh_conn *p = c->peer;

	if (p) {
		p->peer = NULL;
		evq_push(p->ep, MESH_TP_CONN_DOWN, p, 0, 0);
	}
	if (purge) {
		ring_forget(c->ep, c);
		evq_forget(c->ep, c);
	}
	conn_unlink(c);
	free(c);
}

static void loop_destroy(struct mesh_transport *t)
{
	if (!t)
		return;
	while (t->conns)
		conn_drop(t->conns, false);

	struct mesh_transport **pp = &t->fabric->endpoints;
	while (*pp != t)
		pp = &(*pp)->next;
	*pp = t->next;
	ep_free(t);
}

static int loop_listen(struct mesh_transport *t, const char *addr)
{
	assert(t);
	if (!addr_valid(addr))
		return -EINVAL;
	const struct mesh_transport *owner = ep_find(t->fabric, addr);
	if (owner && (owner != t || t->listening))
		return -EADDRINUSE;
	/* One address per endpoint: links are named by it. */
	if (t->listening)
		return -EINVAL;
	strcpy(t->addr, addr);
	t->listening = true;
	return 0;
}

static void conn_link(struct mesh_transport *t, struct mesh_conn *c)
{
	c->ep = t;
	c->prev = NULL;
	c->next = t->conns;
	if (t->conns)
		t->conns->prev = c;
	t->conns = c;
	t->conn_count++;
}

/*
 * Usable for send at once. -EMFILE when @t holds MESH_LOOP_CONN_MAX
 * connections, -ECONNREFUSED when nobody listens at @addr or the listener
 * holds that many.
 */
static int loop_connect(struct mesh_transport *t, const char *addr, struct mesh_conn **out)
{
	assert(t && out);
	if (!addr_valid(addr))
		return -EINVAL;
	struct mesh_transport *r = ep_find(t->fabric, addr);
	if (!r || !r->listening)
		return -ECONNREFUSED;
	if (t->conn_count >= MESH_LOOP_CONN_MAX)
		return -EMFILE;
	if (r->conn_count >= MESH_LOOP_CONN_MAX - (r == t ? 1 : 0))
		return -ECONNREFUSED;

	struct mesh_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	struct mesh_conn *p = calloc(1, sizeof(*p));
	if (!p) {
		free(c);
		return -ENOMEM;
	}
	conn_link(t, c);
	conn_link(r, p);
	c->peer = p;
	p->peer = c;
	evq_push(t, MESH_TP_CONN_UP, c, 0, 0);
	evq_push(r, MESH_TP_CONN_UP, p, 0, 0);
	*out = c;
	return 0;
}

static void loop_disconnect(struct mesh_conn *c)
{
	if (c)
		conn_drop(c, true);
}

static void loop_set_conn_ctx(struct mesh_conn *c, void *ctx)
{
	assert(c);
	c->ctx = ctx;
}

static void *loop_conn_ctx(const struct mesh_conn *c)
{
	assert(c);
	return c->ctx;
}

/* ---- data path: no allocation, no logging ---- */

static int loop_send(struct mesh_conn *c, const struct mesh_iov *iov, unsigned iovcnt)
{
	assert(c);
	struct mesh_conn *p = c->peer;
	if (!p)
		return -ENOTCONN;
	if (iovcnt && !iov)
		return -EINVAL;

	struct mesh_transport *dst = p->ep;
	size_t max = c->ep->msg_bytes_max < dst->msg_bytes_max ? c->ep->msg_bytes_max :
								    dst->msg_bytes_max;
	size_t len = 0;
	for (unsigned i = 0; i < iovcnt; i++) {
		if (iov[i].len && !iov[i].base)
			return -EINVAL;
		if (iov[i].len > max - len)
			return -EMSGSIZE;
		len += iov[i].len;
	}

	/* A partition is silent: the sender cannot tell. */
	if (link_down(c->ep->fabric, c->ep, dst)) {
		c->ep->fabric->dropped++;
		return 0;
	}
	struct rec *r = ring_reserve(dst, len);
	if (!r)
		return -EAGAIN;
	*r = (struct rec){ .seq = dst->seq_next++, .conn = p, .len = len };
	uint8_t *to = (uint8_t *)(r + 1);
	for (unsigned i = 0; i < iovcnt; i++) {
		if (!iov[i].len)
			continue;
		memcpy(to, iov[i].base, iov[i].len);
		to += iov[i].len;
	}
	return 0;
}

static struct mr *mr_find(struct mesh_transport *t, uint64_t rkey)
{
	struct mr *mr = &t->mrs[rkey & (MESH_LOOP_MR_MAX - 1)];

	return rkey && mr->rkey == rkey ? mr : NULL;
}

static int loop_mr_expose(struct mesh_transport *t, void *base, size_t len, unsigned access,
			  uint64_t *rkey)
{
	assert(t && rkey);
	if (!base || !len || !access || (access & ~RMA_ACCESS_ALL))
		return -EINVAL;
	if (!t->mr_free_count)
		return -ENOSPC;
	unsigned slot = t->mr_free[--t->mr_free_count];
	struct mr *mr = &t->mrs[slot];
	*mr = (struct mr){
		.rkey = (t->fabric->rkey_next++ << MR_SLOT_BITS) | slot,
		.base = base,
		.len = len,
		.access = access,
	};
	*rkey = mr->rkey;
	return 0;
}

static int loop_mr_revoke(struct mesh_transport *t, uint64_t rkey)
{
	assert(t);
	struct mr *mr = mr_find(t, rkey);
	if (!mr)
		return -ENOENT;
	*mr = (struct mr){ 0 };
	t->mr_free[t->mr_free_count++] = (unsigned)(rkey & (MESH_LOOP_MR_MAX - 1));
	return 0;
}

/*
 * Checks shared by read and write. Returns the call's own error (the
 * caller gets it at once), or 0 with the completion status in *@status and,
 * when that status lets bytes move towards the target, the region in *@mr.
 * *@back_down says the completion cannot come back.
 */
static int rma_check(struct mesh_conn *c, uint64_t rkey, uint64_t offset, const void *buf,
		     size_t len, unsigned need, struct mr **mr, bool *back_down, int *status)
{
	assert(c);
	if (!buf || !len)
		return -EINVAL;
	struct mesh_conn *p = c->peer;
	if (!p)
		return -ENOTCONN;
	struct mesh_transport *t = c->ep;
	if (t->rma_queued >= MESH_LOOP_RMA_MAX)
		return -EAGAIN;

	*mr = NULL;
	*back_down = link_down(t->fabric, p->ep, t);
	if (link_down(t->fabric, t, p->ep)) {
		*status = -ETIMEDOUT;
		return 0;
	}
	struct mr *m = mr_find(p->ep, rkey);
	if (!m || !(m->access & need)) {
		*status = -EACCES;
		return 0;
	}
	if (offset > m->len || len > m->len - offset) {
		*status = -ERANGE;
		return 0;
	}
	*mr = m;
	*status = *back_down ? -ETIMEDOUT : 0;
	return 0;
}

static int loop_rma_read(struct mesh_conn *c, uint64_t rkey, uint64_t offset, void *buf,
			 size_t len, uint64_t cookie)
{
	struct mr *mr;
	bool back_down;
	int status;
	int rc = rma_check(c, rkey, offset, buf, len, MESH_RMA_READ, &mr, &back_down, &status);
	if (rc)
		return rc;
	/* memmove: an endpoint connected to itself may read its own region. */
	if (mr && !back_down)
		memmove(buf, mr->base + offset, len);
	evq_push(c->ep, MESH_TP_RMA_DONE, c, cookie, status);
	return 0;
}

static int loop_rma_write(struct mesh_conn *c, uint64_t rkey, uint64_t offset, const void *buf,
			  size_t len, uint64_t cookie)
{
	struct mr *mr;
	bool back_down;
	int status;
	int rc = rma_check(c, rkey, offset, buf, len, MESH_RMA_WRITE, &mr, &back_down, &status);
	if (rc)
		return rc;
	/* With only the way back down the write lands; just its ack is lost. */
	if (mr)
		memmove(mr->base + offset, buf, len);
	evq_push(c->ep, MESH_TP_RMA_DONE, c, cookie, status);
	return 0;
}

/*
 * Deliver ring messages and queued events merged by sequence number, so
 * e.g. CONN_UP precedes a conn's first message and CONN_DOWN follows its
 * last.
 */
static int loop_poll(struct mesh_transport *t, struct mesh_tp_event *ev, unsigned max)
{
	assert(t && (ev || !max));
	ring_release(t);
	if (max > INT_MAX)
		max = INT_MAX;

	unsigned n = 0;
	while (n < max) {
		struct rec *r = ring_peek(t);
		const struct qev *q = t->evq_count ? &t->evq[t->evq_head] : NULL;

		if (!r && !q)
			break;
		if (r && (!q || r->seq < q->seq)) {
			ev[n++] = (struct mesh_tp_event){
				.type = MESH_TP_RECV,
				.conn = r->conn,
				.data = r + 1,
				.len = r->len,
			};
			ring_skip(t, rec_bytes(r->len));
		} else {
			ev[n++] = (struct mesh_tp_event){
				.type = q->type,
				.conn = q->conn,
				.cookie = q->cookie,
				.status = q->status,
			};
			evq_pop(t);
		}
	}
	return (int)n;
}

const struct mesh_transport_ops mesh_transport_loop = {
	.name = "loop",
	.create = loop_create,
	.destroy = loop_destroy,
	.listen = loop_listen,
	.connect = loop_connect,
	.disconnect = loop_disconnect,
	.set_conn_ctx = loop_set_conn_ctx,
	.conn_ctx = loop_conn_ctx,
	.send = loop_send,
	.mr_expose = loop_mr_expose,
	.mr_revoke = loop_mr_revoke,
	.rma_read = loop_rma_read,
	.rma_write = loop_rma_write,
	.poll = loop_poll,
};

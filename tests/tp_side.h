/*
 * tests/tp_side.h: one endpoint of a transport test over real sockets (tcp,
 * fabric), with the events its poll() returned copied into a bounded queue,
 * and the checks on the next event that every such test makes.
 *
 * Include after <cmocka.h> and the transport's header, with T_MSG_MAX,
 * T_QUEUE_CAP and T_POLL_MAX defined and `ops` pointing at the transport's
 * ops table. The including test defines struct world and next_ev(): the
 * next event at a side, pumping every side meanwhile, failing after the
 * test's deadline.
 */
#ifndef MESH_TESTS_TP_SIDE_H
#define MESH_TESTS_TP_SIDE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "transports/transport.h"

struct tev {
	enum mesh_tp_event_type type;
	struct mesh_conn *conn;
	int status;
	uint64_t cookie;
	size_t len;
	uint8_t *data; /* a copy; RECV data only lives until the next poll */
};

struct side {
	struct mesh_transport *t; /* NULL: not made; pump() skips it */
	bool frozen; /* pump() leaves it alone: a peer that never polls */
	struct tev q[T_QUEUE_CAP];
	unsigned head;
	unsigned count;
	unsigned recv_batch_max; /* most RECVs one poll() returned */
};

struct world;
static struct tev next_ev(struct world *w, struct side *s);

static inline int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Drop what @s holds, freeing the copies. */
static inline void side_clear(struct side *s)
{
	for (; s->count; s->count--, s->head = (s->head + 1) % T_QUEUE_CAP)
		free(s->q[s->head].data);
	s->head = 0;
}

/* The oldest event @s holds, which must exist; the caller frees its data. */
static inline struct tev side_pop(struct side *s)
{
	assert_true(s->count > 0);
	struct tev e = s->q[s->head];
	s->head = (s->head + 1) % T_QUEUE_CAP;
	s->count--;
	return e;
}

/* One poll() of @s into its queue, copying RECV bytes. Returns how many. */
static inline int pump(struct side *s)
{
	struct mesh_tp_event ev[T_POLL_MAX];
	unsigned room = T_QUEUE_CAP - s->count;
	unsigned max = room < T_POLL_MAX ? room : T_POLL_MAX;
	if (!s->t || s->frozen || max == 0)
		return 0;
	int n = ops->poll(s->t, ev, max);
	assert_true(n >= 0 && (unsigned)n <= max);
	unsigned recvs = 0;
	for (int i = 0; i < n; i++) {
		struct tev *e = &s->q[(s->head + s->count++) % T_QUEUE_CAP];
		*e = (struct tev){
			.type = ev[i].type,
			.conn = ev[i].conn,
			.status = ev[i].status,
			.cookie = ev[i].cookie,
			.len = ev[i].len,
		};
		assert_non_null(ev[i].conn);
		if (ev[i].type == MESH_TP_RECV) {
			recvs++;
			assert_true(ev[i].len > 0 && ev[i].len <= T_MSG_MAX);
			e->data = malloc(ev[i].len);
			assert_non_null(e->data);
			memcpy(e->data, ev[i].data, ev[i].len);
		} else {
			assert_null(ev[i].data);
		}
	}
	if (recvs > s->recv_batch_max)
		s->recv_batch_max = recvs;
	return n;
}

static inline void expect_type(struct world *w, struct side *s, enum mesh_tp_event_type type,
			       struct mesh_conn *c)
{
	struct tev e = next_ev(w, s);
	assert_int_equal(e.type, type);
	assert_ptr_equal(e.conn, c);
	free(e.data);
}

static inline void expect_recv(struct world *w, struct side *s, struct mesh_conn *c,
			       const void *want, size_t len)
{
	struct tev e = next_ev(w, s);
	assert_int_equal(e.type, MESH_TP_RECV);
	assert_ptr_equal(e.conn, c);
	assert_int_equal(e.len, len);
	assert_memory_equal(e.data, want, len);
	free(e.data);
}

static inline void expect_down(struct world *w, struct side *s, struct mesh_conn *c, int status)
{
	struct tev e = next_ev(w, s);
	assert_int_equal(e.type, MESH_TP_CONN_DOWN);
	assert_ptr_equal(e.conn, c);
	assert_int_equal(e.status, status);
}

#endif

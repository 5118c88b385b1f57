/* tests/test_loop.c: the in-process loop transport against its contract. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "prop.h"
#include "transports/loop.h"

static const struct mesh_transport_ops *ops = &mesh_transport_loop;

/* Small limits so that the edges are cheap to reach. */
#define T_MSG_MAX 1024u
#define T_RX_BYTES 4096u
#define T_EV_MAX 64u

struct two {
	struct mesh_loop_fabric *f;
	struct mesh_transport *a; /* listens at "a" */
	struct mesh_transport *b; /* listens at "b" */
};

static struct mesh_transport *ep_make(struct mesh_loop_fabric *f, const char *addr)
{
	struct mesh_transport_params p = {
		.fabric = f,
		.msg_bytes_max = T_MSG_MAX,
		.rx_bytes = T_RX_BYTES,
	};
	struct mesh_transport *t = NULL;
	assert_int_equal(ops->create(&p, &t), 0);
	assert_non_null(t);
	if (addr)
		assert_int_equal(ops->listen(t, addr), 0);
	return t;
}

static int two_setup(void **state)
{
	struct two *w = calloc(1, sizeof(*w));
	if (!w || mesh_loop_fabric_create(&w->f))
		return -1;
	w->a = ep_make(w->f, "a");
	w->b = ep_make(w->f, "b");
	*state = w;
	return 0;
}

static int two_teardown(void **state)
{
	struct two *w = *state;
	ops->destroy(w->a);
	ops->destroy(w->b);
	mesh_loop_fabric_destroy(w->f);
	free(w);
	return 0;
}

/* Poll @t and insist on exactly one event, which is returned. */
static struct mesh_tp_event poll_one(struct mesh_transport *t)
{
	struct mesh_tp_event ev[2];
	memset(ev, 0, sizeof(ev));
	assert_int_equal(ops->poll(t, ev, 2), 1);
	return ev[0];
}

static void poll_none(struct mesh_transport *t)
{
	struct mesh_tp_event ev[1];
	assert_int_equal(ops->poll(t, ev, 1), 0);
}

/* Connect @from to @to_addr and consume both CONN_UPs; the accepted conn goes to *@acc. */
static struct mesh_conn *pair(struct mesh_transport *from, const char *to_addr,
			      struct mesh_transport *to, struct mesh_conn **acc)
{
	struct mesh_conn *c = NULL;
	assert_int_equal(ops->connect(from, to_addr, &c), 0);
	struct mesh_tp_event e = poll_one(from);
	assert_int_equal(e.type, MESH_TP_CONN_UP);
	assert_ptr_equal(e.conn, c);
	e = poll_one(to);
	assert_int_equal(e.type, MESH_TP_CONN_UP);
	assert_ptr_not_equal(e.conn, c);
	*acc = e.conn;
	return c;
}

static int send_str(struct mesh_conn *c, const char *s)
{
	struct mesh_iov iov = { .base = s, .len = strlen(s) };
	return ops->send(c, &iov, 1);
}

/* The next event at @t must be message @s on @c; later ones stay queued. */
static void expect_recv(struct mesh_transport *t, struct mesh_conn *c, const char *s)
{
	struct mesh_tp_event e;
	memset(&e, 0, sizeof(e));
	assert_int_equal(ops->poll(t, &e, 1), 1);
	assert_int_equal(e.type, MESH_TP_RECV);
	assert_ptr_equal(e.conn, c);
	assert_int_equal(e.len, strlen(s));
	assert_memory_equal(e.data, s, e.len);
}

static void connect_gives_conn_up_on_both_sides(void **state)
{
	struct two *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w->a, "b", w->b, &acc);
	assert_non_null(acc);
	poll_none(w->a);
	poll_none(w->b);
	/* Each side's conn carries its own context. */
	int x, y;
	ops->set_conn_ctx(c, &x);
	ops->set_conn_ctx(acc, &y);
	assert_ptr_equal(ops->conn_ctx(c), &x);
	assert_ptr_equal(ops->conn_ctx(acc), &y);
}

static void conn_up_precedes_messages_sent_before_any_poll(void **state)
{
	struct two *w = *state;
	struct mesh_conn *c = NULL;
	assert_int_equal(ops->connect(w->a, "b", &c), 0);
	assert_int_equal(send_str(c, "early"), 0);
	struct mesh_tp_event ev[4];
	assert_int_equal(ops->poll(w->b, ev, 4), 2);
	assert_int_equal(ev[0].type, MESH_TP_CONN_UP);
	assert_int_equal(ev[1].type, MESH_TP_RECV);
	assert_ptr_equal(ev[1].conn, ev[0].conn);
	assert_int_equal(ev[1].len, 5);
	assert_memory_equal(ev[1].data, "early", 5);
}

static void messages_arrive_whole_in_order_with_iov_gathering(void **state)
{
	struct two *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w->a, "b", w->b, &acc);

	struct mesh_iov iov[3] = {
		{ .base = "head-", .len = 5 },
		{ .base = NULL, .len = 0 },
		{ .base = "tail", .len = 4 },
	};
	assert_int_equal(ops->send(c, iov, 3), 0);
	assert_int_equal(send_str(c, "second"), 0);
	assert_int_equal(ops->send(c, NULL, 0), 0);
	assert_int_equal(send_str(c, "fourth"), 0);

	struct mesh_tp_event ev[8];
	assert_int_equal(ops->poll(w->b, ev, 8), 4);
	assert_int_equal(ev[0].type, MESH_TP_RECV);
	assert_int_equal(ev[0].len, 9);
	assert_memory_equal(ev[0].data, "head-tail", 9);
	assert_int_equal(ev[1].len, 6);
	assert_memory_equal(ev[1].data, "second", 6);
	assert_int_equal(ev[2].type, MESH_TP_RECV);
	assert_int_equal(ev[2].len, 0);
	assert_int_equal(ev[3].len, 6);
	assert_memory_equal(ev[3].data, "fourth", 6);
	for (int i = 0; i < 4; i++)
		assert_ptr_equal(ev[i].conn, acc);
	poll_none(w->b);
	/* Nothing came back the other way. */
	poll_none(w->a);
}

static void poll_delivers_no_more_than_max_and_keeps_the_rest(void **state)
{
	struct two *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w->a, "b", w->b, &acc);
	assert_int_equal(send_str(c, "one"), 0);
	assert_int_equal(send_str(c, "two"), 0);
	assert_int_equal(send_str(c, "three"), 0);
	expect_recv(w->b, acc, "one");
	expect_recv(w->b, acc, "two");
	expect_recv(w->b, acc, "three");
	struct mesh_tp_event ev[1];
	assert_int_equal(ops->poll(w->b, ev, 0), 0);
}

static void messages_from_two_senders_keep_each_conn_in_order(void **state)
{
	struct two *w = *state;
	struct mesh_transport *c3 = ep_make(w->f, NULL);
	struct mesh_conn *acc_a, *acc_c;
	struct mesh_conn *ca = pair(w->a, "b", w->b, &acc_a);
	struct mesh_conn *cc = pair(c3, "b", w->b, &acc_c);
	assert_int_equal(send_str(ca, "a1"), 0);
	assert_int_equal(send_str(cc, "c1"), 0);
	assert_int_equal(send_str(ca, "a2"), 0);
	assert_int_equal(send_str(cc, "c2"), 0);
	expect_recv(w->b, acc_a, "a1");
	expect_recv(w->b, acc_c, "c1");
	expect_recv(w->b, acc_a, "a2");
	expect_recv(w->b, acc_c, "c2");
	ops->destroy(c3);
	assert_int_equal(poll_one(w->b).type, MESH_TP_CONN_DOWN);
}

static void received_bytes_stay_valid_until_the_next_poll(void **state)
{
	struct two *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w->a, "b", w->b, &acc);
	char msg[T_MSG_MAX];
	memset(msg, 'x', sizeof(msg));
	assert_int_equal(send_str(c, "keep me"), 0);
	struct mesh_tp_event e = poll_one(w->b);
	assert_int_equal(e.type, MESH_TP_RECV);
	/* Fill the rest of the ring: none of it may land on the polled bytes. */
	struct mesh_iov iov = { .base = msg, .len = sizeof(msg) };
	while (ops->send(c, &iov, 1) == 0)
		;
	assert_int_equal(e.len, 7);
	assert_memory_equal(e.data, "keep me", 7);
}

static void full_ring_refuses_with_eagain_and_recovers_after_poll(void **state)
{
	struct two *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w->a, "b", w->b, &acc);
	uint8_t msg[T_MSG_MAX];
	struct mesh_iov iov = { .base = msg, .len = sizeof(msg) };

	int sent = 0;
	int rc;
	for (;;) {
		memset(msg, sent, sizeof(msg));
		rc = ops->send(c, &iov, 1);
		if (rc)
			break;
		sent++;
		assert_true(sent < 100);
	}
	assert_int_equal(rc, -EAGAIN);
	assert_true(sent >= 1);
	/* Refused means not queued at all: exactly the accepted ones arrive. */
	for (int i = 0; i < sent; i++) {
		struct mesh_tp_event e;
		assert_int_equal(ops->poll(w->b, &e, 1), 1);
		assert_int_equal(e.type, MESH_TP_RECV);
		assert_int_equal(e.len, sizeof(msg));
		assert_int_equal(((const uint8_t *)e.data)[0], i);
		assert_int_equal(((const uint8_t *)e.data)[sizeof(msg) - 1], i);
	}
	/* The last message is still held until the next poll frees it. */
	poll_none(w->b);
	memset(msg, 0xab, sizeof(msg));
	assert_int_equal(ops->send(c, &iov, 1), 0);
	struct mesh_tp_event e = poll_one(w->b);
	assert_int_equal(e.len, sizeof(msg));
	assert_memory_equal(e.data, msg, sizeof(msg));
}

static void message_above_max_is_emsgsize(void **state)
{
	struct two *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w->a, "b", w->b, &acc);
	static uint8_t big[T_MSG_MAX + 1];
	struct mesh_iov iov = { .base = big, .len = sizeof(big) };
	assert_int_equal(ops->send(c, &iov, 1), -EMSGSIZE);
	/* The limit is on the gathered total, not on each piece. */
	struct mesh_iov two_halves[2] = {
		{ .base = big, .len = T_MSG_MAX / 2 + 1 },
		{ .base = big, .len = T_MSG_MAX / 2 },
	};
	assert_int_equal(ops->send(c, two_halves, 2), -EMSGSIZE);
	/* Lengths that would wrap size_t are caught, not summed. */
	struct mesh_iov wrap[2] = {
		{ .base = big, .len = 16 },
		{ .base = big, .len = SIZE_MAX - 8 },
	};
	assert_int_equal(ops->send(c, wrap, 2), -EMSGSIZE);
	iov.len = T_MSG_MAX;
	assert_int_equal(ops->send(c, &iov, 1), 0);
	struct mesh_tp_event e = poll_one(w->b);
	assert_int_equal(e.len, T_MSG_MAX);
}

static void message_above_the_receivers_max_is_emsgsize(void **state)
{
	struct two *w = *state;
	struct mesh_transport_params p = {
		.fabric = w->f,
		.msg_bytes_max = 100,
		.rx_bytes = T_RX_BYTES,
	};
	struct mesh_transport *small;
	assert_int_equal(ops->create(&p, &small), 0);
	assert_int_equal(ops->listen(small, "small"), 0);
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w->a, "small", small, &acc);
	static uint8_t buf[101];
	struct mesh_iov iov = { .base = buf, .len = sizeof(buf) };
	assert_int_equal(ops->send(c, &iov, 1), -EMSGSIZE);
	iov.len = 100;
	assert_int_equal(ops->send(c, &iov, 1), 0);
	ops->destroy(small);
}

static void create_rejects_a_ring_too_small_for_one_message(void **state)
{
	struct two *w = *state;
	struct mesh_transport *t = NULL;
	struct mesh_transport_params p = {
		.fabric = w->f,
		.msg_bytes_max = T_RX_BYTES,
		.rx_bytes = T_RX_BYTES,
	};
	/* The ring also stores a header per message. */
	assert_int_equal(ops->create(&p, &t), -EINVAL);
	p.rx_bytes = (size_t)MESH_LOOP_RX_BYTES_MAX + 1;
	assert_int_equal(ops->create(&p, &t), -EINVAL);
	p.fabric = NULL;
	p.rx_bytes = T_RX_BYTES;
	p.msg_bytes_max = 16;
	assert_int_equal(ops->create(&p, &t), -EINVAL);
	/* Zeroes take the defaults. */
	p = (struct mesh_transport_params){ .fabric = w->f };
	assert_int_equal(ops->create(&p, &t), 0);
	ops->destroy(t);
}

static void listen_on_taken_address_is_eaddrinuse(void **state)
{
	struct two *w = *state;
	struct mesh_transport *t = ep_make(w->f, NULL);
	assert_int_equal(ops->listen(t, "a"), -EADDRINUSE);
	/* Nor may an endpoint take another's automatic name. */
	assert_int_equal(ops->listen(t, mesh_loop_address(w->a)), -EADDRINUSE);
	assert_int_equal(ops->listen(w->a, "a"), -EADDRINUSE);
	/* One address per endpoint. */
	assert_int_equal(ops->listen(w->a, "other"), -EINVAL);
	assert_string_equal(mesh_loop_address(w->a), "a");
	assert_int_equal(ops->listen(t, "c"), 0);
	assert_string_equal(mesh_loop_address(t), "c");
	ops->destroy(t);
}

static void connect_to_unknown_address_is_econnrefused(void **state)
{
	struct two *w = *state;
	struct mesh_conn *c = NULL;
	assert_int_equal(ops->connect(w->a, "nobody", &c), -ECONNREFUSED);
	/* An endpoint that never listened is nameable but not reachable. */
	struct mesh_transport *t = ep_make(w->f, NULL);
	assert_int_equal(ops->connect(w->a, mesh_loop_address(t), &c), -ECONNREFUSED);
	ops->destroy(t);
	poll_none(w->a);
}

static void bad_address_is_einval(void **state)
{
	struct two *w = *state;
	char longest[MESH_LOOP_ADDR_MAX + 2];
	memset(longest, 'z', sizeof(longest));
	longest[MESH_LOOP_ADDR_MAX + 1] = '\0';
	struct mesh_conn *c = NULL;
	struct mesh_transport *t = ep_make(w->f, NULL);

	assert_int_equal(ops->listen(t, ""), -EINVAL);
	assert_int_equal(ops->listen(t, NULL), -EINVAL);
	assert_int_equal(ops->listen(t, longest), -EINVAL);
	assert_int_equal(ops->connect(w->a, "", &c), -EINVAL);
	assert_int_equal(ops->connect(w->a, NULL, &c), -EINVAL);
	assert_int_equal(ops->connect(w->a, longest, &c), -EINVAL);
	assert_int_equal(mesh_loop_set_link(w->f, longest, "a", false), -EINVAL);
	assert_int_equal(mesh_loop_set_link(w->f, "a", "", false), -EINVAL);
	/* Exactly MESH_LOOP_ADDR_MAX bytes is fine. */
	longest[MESH_LOOP_ADDR_MAX] = '\0';
	assert_int_equal(ops->listen(t, longest), 0);
	assert_int_equal(ops->connect(w->a, longest, &c), 0);
	ops->destroy(t);
}

static void endpoints_that_never_listened_get_unique_names(void **state)
{
	struct two *w = *state;
	struct mesh_transport *x = ep_make(w->f, NULL);
	/* Someone taking the next automatic name by hand does not clash. */
	char next[32];
	const char *xa = mesh_loop_address(x);
	assert_int_equal(strncmp(xa, "anon:", 5), 0);
	snprintf(next, sizeof(next), "anon:%lu", strtoul(xa + 5, NULL, 10) + 1);
	struct mesh_transport *squat = ep_make(w->f, next);
	struct mesh_transport *y = ep_make(w->f, NULL);
	assert_string_not_equal(mesh_loop_address(x), mesh_loop_address(y));
	assert_string_not_equal(mesh_loop_address(y), next);
	ops->destroy(x);
	ops->destroy(y);
	ops->destroy(squat);
}

static void down_link_drops_one_direction_only_and_counts(void **state)
{
	struct two *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w->a, "b", w->b, &acc);

	assert_int_equal(mesh_loop_set_link(w->f, "a", "b", false), 0);
	/* Setting it twice is harmless. */
	assert_int_equal(mesh_loop_set_link(w->f, "a", "b", false), 0);
	assert_int_equal(send_str(c, "lost"), 0);
	assert_int_equal(send_str(c, "lost too"), 0);
	assert_int_equal(mesh_loop_dropped(w->f), 2);
	poll_none(w->b);
	/* The other direction still works. */
	assert_int_equal(send_str(acc, "reply"), 0);
	expect_recv(w->a, c, "reply");

	assert_int_equal(mesh_loop_set_link(w->f, "a", "b", true), 0);
	assert_int_equal(send_str(c, "healed"), 0);
	expect_recv(w->b, acc, "healed");
	assert_int_equal(mesh_loop_dropped(w->f), 2);
	/* Bringing up a link that is up is harmless. */
	assert_int_equal(mesh_loop_set_link(w->f, "a", "b", true), 0);
}

static void down_link_applies_to_anonymous_senders(void **state)
{
	struct two *w = *state;
	struct mesh_transport *x = ep_make(w->f, NULL);
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(x, "b", w->b, &acc);
	assert_int_equal(mesh_loop_set_link(w->f, mesh_loop_address(x), "b", false), 0);
	assert_int_equal(send_str(c, "lost"), 0);
	poll_none(w->b);
	assert_int_equal(mesh_loop_dropped(w->f), 1);
	ops->destroy(x);
	assert_int_equal(poll_one(w->b).type, MESH_TP_CONN_DOWN);
}

static void links_down_are_bounded(void **state)
{
	struct two *w = *state;
	char from[32];
	for (unsigned i = 0; i < MESH_LOOP_LINKS_DOWN_MAX; i++) {
		snprintf(from, sizeof(from), "n%u", i);
		assert_int_equal(mesh_loop_set_link(w->f, from, "b", false), 0);
	}
	assert_int_equal(mesh_loop_set_link(w->f, "a", "b", false), -ENOSPC);
	assert_int_equal(mesh_loop_set_link(w->f, "n0", "b", true), 0);
	assert_int_equal(mesh_loop_set_link(w->f, "a", "b", false), 0);
}

static void rma_moves_bytes_without_target_polling(void **state)
{
	struct two *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w->a, "b", w->b, &acc);
	uint8_t region[256];
	for (size_t i = 0; i < sizeof(region); i++)
		region[i] = (uint8_t)i;
	uint64_t rkey = 0;
	assert_int_equal(ops->mr_expose(w->b, region, sizeof(region),
					MESH_RMA_READ | MESH_RMA_WRITE, &rkey), 0);
	assert_int_not_equal(rkey, 0);

	uint8_t buf[16];
	assert_int_equal(ops->rma_read(c, rkey, 100, buf, sizeof(buf), 7), 0);
	/* Done at once: the target is never polled. */
	assert_memory_equal(buf, region + 100, sizeof(buf));
	struct mesh_tp_event e = poll_one(w->a);
	assert_int_equal(e.type, MESH_TP_RMA_DONE);
	assert_ptr_equal(e.conn, c);
	assert_int_equal(e.cookie, 7);
	assert_int_equal(e.status, 0);

	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(ops->rma_write(c, rkey, sizeof(region) - sizeof(buf), buf, sizeof(buf),
					8), 0);
	assert_memory_equal(region + sizeof(region) - sizeof(buf), buf, sizeof(buf));
	assert_int_equal(region[sizeof(region) - sizeof(buf) - 1], sizeof(region) - sizeof(buf) - 1);
	e = poll_one(w->a);
	assert_int_equal(e.type, MESH_TP_RMA_DONE);
	assert_int_equal(e.cookie, 8);
	assert_int_equal(e.status, 0);
	poll_none(w->b);
}

static void rma_past_region_is_erange(void **state)
{
	struct two *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w->a, "b", w->b, &acc);
	uint8_t region[64];
	uint64_t rkey;
	assert_int_equal(ops->mr_expose(w->b, region, sizeof(region), MESH_RMA_READ, &rkey), 0);
	uint8_t buf[8];
	memset(buf, 0x55, sizeof(buf));

	const uint64_t offsets[] = { 57, 64, 1000, UINT64_MAX, UINT64_MAX - 4 };
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		assert_int_equal(ops->rma_read(c, rkey, offsets[i], buf, sizeof(buf), i), 0);
		struct mesh_tp_event e = poll_one(w->a);
		assert_int_equal(e.type, MESH_TP_RMA_DONE);
		assert_int_equal(e.cookie, i);
		assert_int_equal(e.status, -ERANGE);
	}
	/* A length that would wrap offset + len. */
	assert_int_equal(ops->rma_read(c, rkey, 8, buf, SIZE_MAX - 2, 99), 0);
	assert_int_equal(poll_one(w->a).status, -ERANGE);
	uint8_t untouched[8];
	memset(untouched, 0x55, sizeof(untouched));
	assert_memory_equal(buf, untouched, sizeof(buf));
	/* The very end is still in range. */
	assert_int_equal(ops->rma_read(c, rkey, 56, buf, sizeof(buf), 100), 0);
	assert_int_equal(poll_one(w->a).status, 0);
}

static void rma_without_access_or_after_revoke_is_eacces(void **state)
{
	struct two *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w->a, "b", w->b, &acc);
	uint8_t region[64];
	memset(region, 1, sizeof(region));
	uint8_t buf[8];
	memset(buf, 2, sizeof(buf));
	uint64_t ro, wo;
	assert_int_equal(ops->mr_expose(w->b, region, sizeof(region), MESH_RMA_READ, &ro), 0);
	assert_int_equal(ops->mr_expose(w->b, region, sizeof(region), MESH_RMA_WRITE, &wo), 0);
	assert_int_not_equal(ro, wo);

	assert_int_equal(ops->rma_write(c, ro, 0, buf, sizeof(buf), 1), 0);
	assert_int_equal(poll_one(w->a).status, -EACCES);
	assert_int_equal(region[0], 1);
	assert_int_equal(ops->rma_read(c, wo, 0, buf, sizeof(buf), 2), 0);
	assert_int_equal(poll_one(w->a).status, -EACCES);
	assert_int_equal(buf[0], 2);
	/* A key nobody issued. */
	assert_int_equal(ops->rma_read(c, 0, 0, buf, sizeof(buf), 3), 0);
	assert_int_equal(poll_one(w->a).status, -EACCES);
	assert_int_equal(ops->rma_read(c, ro ^ (1ull << 40), 0, buf, sizeof(buf), 3), 0);
	assert_int_equal(poll_one(w->a).status, -EACCES);

	assert_int_equal(ops->mr_revoke(w->b, ro), 0);
	assert_int_equal(ops->rma_read(c, ro, 0, buf, sizeof(buf), 4), 0);
	struct mesh_tp_event e = poll_one(w->a);
	assert_int_equal(e.cookie, 4);
	assert_int_equal(e.status, -EACCES);
	assert_int_equal(buf[0], 2);
	/* A key is only good on the endpoint that issued it. */
	uint64_t mine;
	assert_int_equal(ops->mr_expose(w->a, region, sizeof(region), MESH_RMA_READ, &mine), 0);
	assert_int_equal(ops->rma_read(c, mine, 0, buf, sizeof(buf), 5), 0);
	assert_int_equal(poll_one(w->a).status, -EACCES);
}

static void revoked_key_is_never_reissued(void **state)
{
	struct two *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w->a, "b", w->b, &acc);
	uint8_t region[16];
	uint8_t buf[4];
	uint64_t old;
	assert_int_equal(ops->mr_expose(w->b, region, sizeof(region), MESH_RMA_READ, &old), 0);
	for (int i = 0; i < 3 * (int)MESH_LOOP_MR_MAX; i++) {
		uint64_t k, k2;
		assert_int_equal(ops->mr_revoke(w->b, old), 0);
		assert_int_equal(ops->mr_expose(w->b, region, sizeof(region), MESH_RMA_READ, &k), 0);
		assert_int_not_equal(k, old);
		/* Another endpoint's keys are distinct too. */
		assert_int_equal(ops->mr_expose(w->a, region, sizeof(region), MESH_RMA_READ, &k2), 0);
		assert_int_not_equal(k2, k);
		assert_int_equal(ops->mr_revoke(w->a, k2), 0);
		assert_int_equal(ops->rma_read(c, old, 0, buf, sizeof(buf), 0), 0);
		assert_int_equal(poll_one(w->a).status, -EACCES);
		old = k;
	}
}

static void mr_table_is_bounded(void **state)
{
	struct two *w = *state;
	uint8_t region[8];
	uint64_t keys[MESH_LOOP_MR_MAX];
	for (unsigned i = 0; i < MESH_LOOP_MR_MAX; i++)
		assert_int_equal(ops->mr_expose(w->b, region, sizeof(region), MESH_RMA_READ,
						&keys[i]), 0);
	uint64_t k;
	assert_int_equal(ops->mr_expose(w->b, region, sizeof(region), MESH_RMA_READ, &k), -ENOSPC);
	assert_int_equal(ops->mr_revoke(w->b, keys[5]), 0);
	assert_int_equal(ops->mr_expose(w->b, region, sizeof(region), MESH_RMA_READ, &k), 0);
}

static void mr_expose_rejects_bad_arguments(void **state)
{
	struct two *w = *state;
	uint8_t region[8];
	uint64_t k;
	assert_int_equal(ops->mr_expose(w->b, NULL, 8, MESH_RMA_READ, &k), -EINVAL);
	assert_int_equal(ops->mr_expose(w->b, region, 0, MESH_RMA_READ, &k), -EINVAL);
	assert_int_equal(ops->mr_expose(w->b, region, 8, 0, &k), -EINVAL);
	assert_int_equal(ops->mr_expose(w->b, region, 8, 4, &k), -EINVAL);
}

static void revoke_of_unknown_key_is_enoent(void **state)
{
	struct two *w = *state;
	uint8_t region[8];
	uint64_t k;
	assert_int_equal(ops->mr_revoke(w->b, 0), -ENOENT);
	assert_int_equal(ops->mr_revoke(w->b, 12345), -ENOENT);
	assert_int_equal(ops->mr_expose(w->b, region, sizeof(region), MESH_RMA_READ, &k), 0);
	/* Only the issuing endpoint can revoke it. */
	assert_int_equal(ops->mr_revoke(w->a, k), -ENOENT);
	assert_int_equal(ops->mr_revoke(w->b, k), 0);
	assert_int_equal(ops->mr_revoke(w->b, k), -ENOENT);
}

static void rma_over_down_link_times_out(void **state)
{
	struct two *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w->a, "b", w->b, &acc);
	uint8_t region[32];
	memset(region, 1, sizeof(region));
	uint8_t buf[8];
	memset(buf, 2, sizeof(buf));
	uint64_t rkey;
	assert_int_equal(ops->mr_expose(w->b, region, sizeof(region),
					MESH_RMA_READ | MESH_RMA_WRITE, &rkey), 0);

	/* The way there is down: nothing reaches the target. */
	assert_int_equal(mesh_loop_set_link(w->f, "a", "b", false), 0);
	assert_int_equal(ops->rma_write(c, rkey, 0, buf, sizeof(buf), 1), 0);
	struct mesh_tp_event e = poll_one(w->a);
	assert_int_equal(e.type, MESH_TP_RMA_DONE);
	assert_int_equal(e.cookie, 1);
	assert_int_equal(e.status, -ETIMEDOUT);
	assert_int_equal(region[0], 1);
	assert_int_equal(ops->rma_read(c, rkey, 0, buf, sizeof(buf), 2), 0);
	assert_int_equal(poll_one(w->a).status, -ETIMEDOUT);
	assert_int_equal(buf[0], 2);
	/* Even a bad key times out: the target never saw the request. */
	assert_int_equal(ops->rma_read(c, rkey, 1000, buf, sizeof(buf), 3), 0);
	assert_int_equal(poll_one(w->a).status, -ETIMEDOUT);
	assert_int_equal(mesh_loop_set_link(w->f, "a", "b", true), 0);

	/* Only the way back is down: the write lands, its ack is lost. */
	assert_int_equal(mesh_loop_set_link(w->f, "b", "a", false), 0);
	assert_int_equal(ops->rma_write(c, rkey, 0, buf, sizeof(buf), 4), 0);
	assert_int_equal(poll_one(w->a).status, -ETIMEDOUT);
	assert_int_equal(region[0], 2);
	memset(region, 3, sizeof(region));
	assert_int_equal(ops->rma_read(c, rkey, 0, buf, sizeof(buf), 5), 0);
	assert_int_equal(poll_one(w->a).status, -ETIMEDOUT);
	assert_int_equal(buf[0], 2);
	assert_int_equal(mesh_loop_set_link(w->f, "b", "a", true), 0);

	assert_int_equal(ops->rma_read(c, rkey, 0, buf, sizeof(buf), 6), 0);
	assert_int_equal(poll_one(w->a).status, 0);
	assert_int_equal(buf[0], 3);
	/* RMA is not counted as dropped messages. */
	assert_int_equal(mesh_loop_dropped(w->f), 0);
}

static void rma_call_errors_are_returned_at_once(void **state)
{
	struct two *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w->a, "b", w->b, &acc);
	uint8_t region[32];
	uint8_t buf[8];
	uint64_t rkey;
	assert_int_equal(ops->mr_expose(w->b, region, sizeof(region), MESH_RMA_READ, &rkey), 0);
	assert_int_equal(ops->rma_read(c, rkey, 0, buf, 0, 1), -EINVAL);
	assert_int_equal(ops->rma_write(c, rkey, 0, buf, 0, 1), -EINVAL);
	assert_int_equal(ops->rma_read(c, rkey, 0, NULL, 8, 1), -EINVAL);
	poll_none(w->a);
	ops->disconnect(acc);
	assert_int_equal(poll_one(w->a).type, MESH_TP_CONN_DOWN);
	assert_int_equal(ops->rma_read(c, rkey, 0, buf, sizeof(buf), 1), -ENOTCONN);
	assert_int_equal(ops->rma_write(c, rkey, 0, buf, sizeof(buf), 1), -ENOTCONN);
}

static void rma_completions_are_bounded_with_eagain(void **state)
{
	struct two *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w->a, "b", w->b, &acc);
	uint8_t region[8];
	uint8_t buf[8];
	uint64_t rkey;
	assert_int_equal(ops->mr_expose(w->b, region, sizeof(region), MESH_RMA_READ, &rkey), 0);
	for (unsigned i = 0; i < MESH_LOOP_RMA_MAX; i++)
		assert_int_equal(ops->rma_read(c, rkey, 0, buf, sizeof(buf), i), 0);
	assert_int_equal(ops->rma_read(c, rkey, 0, buf, sizeof(buf), 0), -EAGAIN);
	/* Connections still come up while RMA completions fill the queue. */
	struct mesh_conn *c2 = NULL;
	assert_int_equal(ops->connect(w->b, "a", &c2), 0);

	struct mesh_tp_event ev[T_EV_MAX];
	unsigned done = 0;
	int n;
	while ((n = ops->poll(w->a, ev, T_EV_MAX)) > 0) {
		for (int i = 0; i < n; i++) {
			if (ev[i].type != MESH_TP_RMA_DONE)
				continue;
			assert_int_equal(ev[i].cookie, done);
			done++;
		}
	}
	assert_int_equal(done, MESH_LOOP_RMA_MAX);
	assert_int_equal(ops->rma_read(c, rkey, 0, buf, sizeof(buf), 0), 0);
}

static void disconnect_gives_peer_conn_down_and_send_enotconn(void **state)
{
	struct two *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w->a, "b", w->b, &acc);
	assert_int_equal(send_str(c, "before"), 0);
	ops->disconnect(c);
	/* What was sent before still arrives, then the conn goes down. */
	expect_recv(w->b, acc, "before");
	struct mesh_tp_event e = poll_one(w->b);
	assert_int_equal(e.type, MESH_TP_CONN_DOWN);
	assert_ptr_equal(e.conn, acc);
	assert_int_equal(send_str(acc, "after"), -ENOTCONN);
	/* Even an oversized send reports the conn first. */
	static uint8_t big[T_MSG_MAX + 1];
	struct mesh_iov iov = { .base = big, .len = sizeof(big) };
	assert_int_equal(ops->send(acc, &iov, 1), -ENOTCONN);
	ops->disconnect(acc);
	poll_none(w->a);
	poll_none(w->b);
}

static void disconnect_discards_its_undelivered_events(void **state)
{
	struct two *w = *state;
	struct mesh_conn *c = NULL;
	assert_int_equal(ops->connect(w->a, "b", &c), 0);
	struct mesh_conn *keep = NULL;
	assert_int_equal(ops->connect(w->a, "b", &keep), 0);
	uint8_t region[8];
	uint8_t buf[8];
	uint64_t rkey;
	assert_int_equal(ops->mr_expose(w->b, region, sizeof(region), MESH_RMA_READ, &rkey), 0);
	assert_int_equal(ops->rma_read(c, rkey, 0, buf, sizeof(buf), 1), 0);
	assert_int_equal(ops->rma_read(keep, rkey, 0, buf, sizeof(buf), 2), 0);

	/* b receives on both conns, then drops the first before polling. */
	struct mesh_tp_event ev[8];
	assert_int_equal(send_str(c, "gone"), 0);
	assert_int_equal(send_str(keep, "kept"), 0);
	assert_int_equal(ops->poll(w->b, ev, 1), 1);
	assert_int_equal(ev[0].type, MESH_TP_CONN_UP);
	struct mesh_conn *acc_c = ev[0].conn;
	ops->disconnect(acc_c);
	assert_int_equal(ops->poll(w->b, ev, 8), 2);
	assert_int_equal(ev[0].type, MESH_TP_CONN_UP);
	assert_int_equal(ev[1].type, MESH_TP_RECV);
	assert_ptr_equal(ev[1].conn, ev[0].conn);
	assert_memory_equal(ev[1].data, "kept", 4);

	/* a drops c: its CONN_UP, RMA_DONE and CONN_DOWN never show. */
	ops->disconnect(c);
	assert_int_equal(ops->poll(w->a, ev, 8), 2);
	assert_int_equal(ev[0].type, MESH_TP_CONN_UP);
	assert_ptr_equal(ev[0].conn, keep);
	assert_int_equal(ev[1].type, MESH_TP_RMA_DONE);
	assert_int_equal(ev[1].cookie, 2);
	poll_none(w->a);
}

static void destroy_downs_every_peer_and_releases_the_address(void **state)
{
	struct two *w = *state;
	struct mesh_transport *x = ep_make(w->f, "x");
	struct mesh_conn *acc_a, *acc_b, *a_from_x;
	struct mesh_conn *ca = pair(w->a, "x", x, &acc_a);
	struct mesh_conn *cb = pair(w->b, "x", x, &acc_b);
	struct mesh_conn *xa = pair(x, "a", w->a, &a_from_x);
	/* Leave things queued at x so that destroy has to free them. */
	assert_int_equal(send_str(ca, "unread"), 0);
	uint8_t region[8];
	uint8_t buf[8];
	uint64_t rkey;
	assert_int_equal(ops->mr_expose(w->a, region, sizeof(region), MESH_RMA_READ, &rkey), 0);
	assert_int_equal(ops->rma_read(xa, rkey, 0, buf, sizeof(buf), 1), 0);
	/* And a self-connection. */
	struct mesh_conn *self = NULL;
	assert_int_equal(ops->connect(x, "x", &self), 0);

	ops->destroy(x);
	struct mesh_tp_event ev[4];
	assert_int_equal(ops->poll(w->a, ev, 4), 2);
	assert_int_equal(ev[0].type, MESH_TP_CONN_DOWN);
	assert_int_equal(ev[1].type, MESH_TP_CONN_DOWN);
	assert_true((ev[0].conn == ca && ev[1].conn == a_from_x) ||
		    (ev[0].conn == a_from_x && ev[1].conn == ca));
	struct mesh_tp_event e = poll_one(w->b);
	assert_int_equal(e.type, MESH_TP_CONN_DOWN);
	assert_ptr_equal(e.conn, cb);
	assert_int_equal(send_str(ca, "x?"), -ENOTCONN);
	assert_int_equal(send_str(cb, "x?"), -ENOTCONN);
	assert_int_equal(send_str(a_from_x, "x?"), -ENOTCONN);
	ops->disconnect(a_from_x);
	(void)acc_a;
	(void)acc_b;

	/* The address is free again and a new endpoint there is reachable. */
	struct mesh_conn *c = NULL;
	assert_int_equal(ops->connect(w->a, "x", &c), -ECONNREFUSED);
	x = ep_make(w->f, "x");
	struct mesh_conn *acc;
	c = pair(w->a, "x", x, &acc);
	assert_int_equal(send_str(c, "again"), 0);
	expect_recv(x, acc, "again");
	ops->destroy(x);
}

static void connections_are_bounded(void **state)
{
	struct two *w = *state;
	struct mesh_conn *c;
	for (unsigned i = 0; i < MESH_LOOP_CONN_MAX; i++)
		assert_int_equal(ops->connect(w->a, "b", &c), 0);
	assert_int_equal(ops->connect(w->a, "b", &c), -EMFILE);
	struct mesh_transport *x = ep_make(w->f, NULL);
	assert_int_equal(ops->connect(x, "b", &c), -ECONNREFUSED);
	ops->destroy(x);
	/* teardown frees the lot, events unpolled */
}

static void endpoint_can_talk_to_itself(void **state)
{
	struct two *w = *state;
	struct mesh_conn *c = NULL;
	assert_int_equal(ops->connect(w->a, "a", &c), 0);
	struct mesh_tp_event ev[4];
	assert_int_equal(ops->poll(w->a, ev, 4), 2);
	struct mesh_conn *other = ev[0].conn == c ? ev[1].conn : ev[0].conn;
	assert_int_equal(send_str(c, "me"), 0);
	expect_recv(w->a, other, "me");
	uint8_t region[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint64_t rkey;
	assert_int_equal(ops->mr_expose(w->a, region, sizeof(region), MESH_RMA_WRITE, &rkey), 0);
	/* Overlapping source and target are fine. */
	assert_int_equal(ops->rma_write(c, rkey, 1, region, 4, 0), 0);
	assert_int_equal(poll_one(w->a).status, 0);
	const uint8_t want[8] = { 1, 1, 2, 3, 4, 6, 7, 8 };
	assert_memory_equal(region, want, sizeof(want));
	ops->disconnect(c);
	struct mesh_tp_event e = poll_one(w->a);
	assert_int_equal(e.type, MESH_TP_CONN_DOWN);
	assert_ptr_equal(e.conn, other);
	ops->disconnect(other);
}

/* ---- property: random traffic through a small ring ---- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	return prop_next(&rng_state);
}

static uint8_t pattern(uint64_t msg, size_t i)
{
	return (uint8_t)(msg * 131 + i * 7 + (msg >> 8));
}

#define PROP_ROUNDS 50
#define PROP_STEPS 2000
#define PROP_MODEL_MAX 8192u

static void random_traffic_arrives_whole_and_in_order(void **state)
{
	(void)state;
	rng_state = prop_seed("random_traffic_arrives_whole_and_in_order");

	static uint64_t model_id[PROP_MODEL_MAX];
	static size_t model_len[PROP_MODEL_MAX];
	static uint8_t msg[4096];
	unsigned long refused = 0;

	for (int round = 0; round < PROP_ROUNDS; round++) {
		size_t msg_max = 1 + rng() % 1024;
		size_t rx = 64 + msg_max + rng() % 8192;
		struct mesh_loop_fabric *f;
		assert_int_equal(mesh_loop_fabric_create(&f), 0);
		struct mesh_transport_params p = {
			.fabric = f,
			.msg_bytes_max = msg_max,
			.rx_bytes = rx,
		};
		struct mesh_transport *a, *b;
		assert_int_equal(ops->create(&p, &a), 0);
		assert_int_equal(ops->create(&p, &b), 0);
		assert_int_equal(ops->listen(b, "b"), 0);
		struct mesh_conn *c, *acc;
		c = pair(a, "b", b, &acc);

		/* Slow readers fill the ring; fast ones keep it nearly empty. */
		unsigned poll_every = 2 + (unsigned)(rng() % 16);
		unsigned head = 0, count = 0;
		uint64_t next_id = 0;
		struct mesh_tp_event ev[8];
		uint64_t ev_id[8];
		int n_last = 0;
		bool drained = false; /* the last poll found nothing: the ring is empty */

		for (int step = 0; step < PROP_STEPS; step++) {
			if (rng() % poll_every) {
				size_t len = rng() % (msg_max + 1);
				if (rng() % 8 == 0)
					len = msg_max;
				for (size_t i = 0; i < len; i++)
					msg[i] = pattern(next_id, i);
				/* Split into up to three pieces. */
				size_t cut1 = len ? rng() % (len + 1) : 0;
				size_t cut2 = cut1 + (len - cut1 ? rng() % (len - cut1 + 1) : 0);
				struct mesh_iov iov[3] = {
					{ .base = msg, .len = cut1 },
					{ .base = msg + cut1, .len = cut2 - cut1 },
					{ .base = msg + cut2, .len = len - cut2 },
				};
				int rc = ops->send(c, iov, 3);
				if (drained)
					assert_int_equal(rc, 0);
				if (rc == 0) {
					assert_true(count < PROP_MODEL_MAX);
					model_id[(head + count) % PROP_MODEL_MAX] = next_id++;
					model_len[(head + count) % PROP_MODEL_MAX] = len;
					count++;
					drained = false;
				} else {
					assert_int_equal(rc, -EAGAIN);
					refused++;
				}
				/* Sends must never disturb what the last poll returned. */
				for (int i = 0; i < n_last; i++) {
					const uint8_t *d = ev[i].data;
					for (size_t j = 0; j < ev[i].len; j++)
						assert_int_equal(d[j], pattern(ev_id[i], j));
				}
			} else {
				unsigned max = 1 + (unsigned)(rng() % 8);
				int n = ops->poll(b, ev, max);
				assert_true(n >= 0 && (unsigned)n <= max);
				for (int i = 0; i < n; i++) {
					assert_int_equal(ev[i].type, MESH_TP_RECV);
					assert_ptr_equal(ev[i].conn, acc);
					assert_true(count > 0);
					uint64_t id = model_id[head];
					assert_int_equal(ev[i].len, model_len[head]);
					const uint8_t *d = ev[i].data;
					for (size_t j = 0; j < ev[i].len; j++)
						assert_int_equal(d[j], pattern(id, j));
					ev_id[i] = id;
					head = (head + 1) % PROP_MODEL_MAX;
					count--;
				}
				n_last = n;
				drained = n == 0;
			}
		}
		ops->destroy(a);
		ops->destroy(b);
		mesh_loop_fabric_destroy(f);
	}
	/* Otherwise the full-ring paths went untested. */
	assert_true(refused > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, two_setup, two_teardown)
		T(connect_gives_conn_up_on_both_sides),
		T(conn_up_precedes_messages_sent_before_any_poll),
		T(messages_arrive_whole_in_order_with_iov_gathering),
		T(poll_delivers_no_more_than_max_and_keeps_the_rest),
		T(messages_from_two_senders_keep_each_conn_in_order),
		T(received_bytes_stay_valid_until_the_next_poll),
		T(full_ring_refuses_with_eagain_and_recovers_after_poll),
		T(message_above_max_is_emsgsize),
		T(message_above_the_receivers_max_is_emsgsize),
		T(create_rejects_a_ring_too_small_for_one_message),
		T(listen_on_taken_address_is_eaddrinuse),
		T(connect_to_unknown_address_is_econnrefused),
		T(bad_address_is_einval),
		T(endpoints_that_never_listened_get_unique_names),
		T(down_link_drops_one_direction_only_and_counts),
		T(down_link_applies_to_anonymous_senders),
		T(links_down_are_bounded),
		T(rma_moves_bytes_without_target_polling),
		T(rma_past_region_is_erange),
		T(rma_without_access_or_after_revoke_is_eacces),
		T(revoked_key_is_never_reissued),
		T(mr_table_is_bounded),
		T(mr_expose_rejects_bad_arguments),
		T(revoke_of_unknown_key_is_enoent),
		T(rma_over_down_link_times_out),
		T(rma_call_errors_are_returned_at_once),
		T(rma_completions_are_bounded_with_eagain),
		T(disconnect_gives_peer_conn_down_and_send_enotconn),
		T(disconnect_discards_its_undelivered_events),
		T(destroy_downs_every_peer_and_releases_the_address),
		T(connections_are_bounded),
		T(endpoint_can_talk_to_itself),
#undef T
		cmocka_unit_test(random_traffic_arrives_whole_and_in_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

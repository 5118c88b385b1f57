/*
 * tests/test_tcp.c: the TCP transport against its contract, over 127.0.0.1
 * with kernel-chosen ports. Plain sockets play misbehaving peers.
 *
 * Real sockets are asynchronous, so the tests wait for events with a
 * deadline (sleeping on wait_fd) instead of expecting them from one poll.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "prop.h"
#include "transports/tcp.h"

static const struct mesh_transport_ops *ops = &mesh_transport_tcp;

/* Small limits so that the edges are cheap to reach. */
#define T_MSG_MAX 4096u
#define T_RX_BYTES (16u << 10)
#define T_TX_BYTES (64u << 10)
/* How long any expected event may take on loopback before the test fails. */
#define T_DEADLINE_MS 5000
/* How long "nothing more happens" is watched. */
#define T_QUIET_MS 100
/* Events one side may hold copied and unexamined. */
#define T_QUEUE_CAP 8192u
#define T_POLL_MAX 64u

#include "tp_side.h"

/* ---- log capture ---- */

static unsigned log_count;
static char log_last[512];

static void log_capture(void *ctx, const char *line)
{
	(void)ctx;
	log_count++;
	snprintf(log_last, sizeof(log_last), "%s", line);
}

/* ---- endpoints and copied events ---- */

struct world {
	struct side a; /* listens on a kernel-chosen port */
	struct side b; /* listens too */
	char a_addr[MESH_TCP_ADDR_MAX + 1];
	char b_addr[MESH_TCP_ADDR_MAX + 1];
	int a_port;
};

static struct mesh_transport *ep_make_opt(size_t msg_max, size_t rx,
					  const struct mesh_tcp_options *o)
{
	struct mesh_transport_params p = {
		.fabric = (void *)o,
		.msg_bytes_max = msg_max,
		.rx_bytes = rx,
	};
	struct mesh_transport *t = NULL;
	assert_int_equal(ops->create(&p, &t), 0);
	assert_non_null(t);
	return t;
}

static struct mesh_transport *ep_make(void)
{
	struct mesh_tcp_options o = { .tx_bytes = T_TX_BYTES, .log = log_capture };
	return ep_make_opt(T_MSG_MAX, T_RX_BYTES, &o);
}

/* Listen on 127.0.0.1:0 and write the bound address into @addr. */
static int ep_listen(struct mesh_transport *t, char *addr)
{
	assert_int_equal(ops->listen(t, "127.0.0.1:0"), 0);
	int port = mesh_tcp_bound_port(t);
	assert_true(port > 0 && port <= 65535);
	snprintf(addr, MESH_TCP_ADDR_MAX + 1, "127.0.0.1:%d", port);
	return port;
}

static int world_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	w->a.t = ep_make();
	w->b.t = ep_make();
	w->a_port = ep_listen(w->a.t, w->a_addr);
	ep_listen(w->b.t, w->b_addr);
	log_count = 0;
	log_last[0] = '\0';
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	struct world *w = *state;
	ops->destroy(w->a.t);
	ops->destroy(w->b.t);
	side_clear(&w->a);
	side_clear(&w->b);
	free(w);
	return 0;
}

/* Sleep until one of the sides' wait_fds is readable or @ms pass. */
static void sleep_on(struct side *const *sides, unsigned n, int ms)
{
	struct pollfd pfd[4];
	assert_true(n <= 4);
	for (unsigned i = 0; i < n; i++) {
		pfd[i] = (struct pollfd){ .fd = ops->wait_fd(sides[i]->t), .events = POLLIN };
		assert_true(pfd[i].fd >= 0);
	}
	assert_true(poll(pfd, n, ms) >= 0);
}

static void pump_all(struct world *w)
{
	pump(&w->a);
	pump(&w->b);
}

/* The next event at @s, pumping both sides meanwhile; fails after the deadline. */
static struct tev next_ev(struct world *w, struct side *s)
{
	int64_t end = now_ms() + T_DEADLINE_MS;
	struct side *both[2] = { &w->a, &w->b };
	while (!s->count) {
		pump_all(w);
		if (s->count)
			break;
		assert_true(now_ms() < end);
		sleep_on(both, 2, 10);
	}
	return side_pop(s);
}

/* Nothing arrives at either side for a while. */
static void expect_quiet(struct world *w)
{
	int64_t end = now_ms() + T_QUIET_MS;
	struct side *both[2] = { &w->a, &w->b };
	while (now_ms() < end) {
		pump_all(w);
		assert_int_equal(w->a.count, 0);
		assert_int_equal(w->b.count, 0);
		sleep_on(both, 2, 10);
	}
}

/* b connects to a; both CONN_UPs are consumed; a's conn goes to *@acc. */
static struct mesh_conn *pair(struct world *w, struct mesh_conn **acc)
{
	struct mesh_conn *c = NULL;
	assert_int_equal(ops->connect(w->b.t, w->a_addr, &c), 0);
	assert_non_null(c);
	expect_type(w, &w->b, MESH_TP_CONN_UP, c);
	struct tev e = next_ev(w, &w->a);
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

static uint8_t pattern(uint64_t msg, size_t i)
{
	return (uint8_t)(msg * 131 + i * 7 + (msg >> 8));
}

/* ---- raw peers ---- */

static int raw_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void raw_write(int fd, const void *buf, size_t len)
{
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
}

static void raw_frame(int fd, uint32_t len, const void *body, size_t body_len)
{
	uint8_t hdr[4] = { (uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16),
			   (uint8_t)(len >> 24) };
	raw_write(fd, hdr, sizeof(hdr));
	if (body_len)
		raw_write(fd, body, body_len);
}

/* The endpoint hung up on @fd: a read gives EOF or a reset within the deadline. */
static void raw_expect_closed(struct world *w, int fd)
{
	int64_t end = now_ms() + T_DEADLINE_MS;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		pump_all(w);
		if (poll(&p, 1, 10) == 1) {
			char buf[64];
			ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			assert_true(r <= 0);
			if (r == 0 || errno == ECONNRESET)
				return;
		}
		assert_true(now_ms() < end);
	}
}

/* A loopback port where nobody listens (bound and released). */
static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* ---- connections ---- */

static void connect_gives_conn_up_on_both_sides(void **state)
{
	struct world *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w, &acc);
	assert_non_null(acc);
	int x;
	ops->set_conn_ctx(c, &x);
	assert_ptr_equal(ops->conn_ctx(c), &x);
	assert_null(ops->conn_ctx(acc));
	expect_quiet(w);
}

static void messages_sent_while_connecting_arrive_after_conn_up(void **state)
{
	struct world *w = *state;
	struct mesh_conn *c = NULL;
	assert_int_equal(ops->connect(w->b.t, w->a_addr, &c), 0);
	/* No poll yet: the handshake cannot have been seen complete. */
	assert_int_equal(send_str(c, "one"), 0);
	assert_int_equal(send_str(c, "two"), 0);
	assert_int_equal(send_str(c, "three"), 0);
	expect_type(w, &w->b, MESH_TP_CONN_UP, c);
	struct tev e = next_ev(w, &w->a);
	assert_int_equal(e.type, MESH_TP_CONN_UP);
	struct mesh_conn *acc = e.conn;
	expect_recv(w, &w->a, acc, "one", 3);
	expect_recv(w, &w->a, acc, "two", 3);
	expect_recv(w, &w->a, acc, "three", 5);
	expect_quiet(w);
}

static void connect_to_a_closed_port_gives_conn_down_econnrefused(void **state)
{
	struct world *w = *state;
	char addr[MESH_TCP_ADDR_MAX + 1];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", closed_port());
	struct mesh_conn *c = NULL;
	/* As tcp.h documents: the refusal comes later, as CONN_DOWN without CONN_UP. */
	assert_int_equal(ops->connect(w->b.t, addr, &c), 0);
	assert_int_equal(send_str(c, "lost"), 0);
	expect_down(w, &w->b, c, -ECONNREFUSED);
	assert_int_equal(send_str(c, "after"), -ENOTCONN);
	ops->disconnect(c);
	expect_quiet(w);
}

static void disconnect_gives_peer_conn_down_and_send_enotconn(void **state)
{
	struct world *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w, &acc);
	assert_int_equal(send_str(c, "before"), 0);
	ops->disconnect(c);
	/* What was sent before still arrives, then the conn goes down cleanly. */
	expect_recv(w, &w->a, acc, "before", 6);
	expect_down(w, &w->a, acc, 0);
	assert_int_equal(send_str(acc, "after"), -ENOTCONN);
	/* Even an oversized send reports the conn first. */
	static uint8_t big[T_MSG_MAX + 1];
	struct mesh_iov iov = { .base = big, .len = sizeof(big) };
	assert_int_equal(ops->send(acc, &iov, 1), -ENOTCONN);
	ops->disconnect(acc);
	expect_quiet(w);
}

static void endpoint_can_talk_to_itself(void **state)
{
	struct world *w = *state;
	struct mesh_conn *c = NULL;
	assert_int_equal(ops->connect(w->a.t, w->a_addr, &c), 0);
	struct tev e1 = next_ev(w, &w->a);
	struct tev e2 = next_ev(w, &w->a);
	assert_int_equal(e1.type, MESH_TP_CONN_UP);
	assert_int_equal(e2.type, MESH_TP_CONN_UP);
	assert_true(e1.conn == c || e2.conn == c);
	struct mesh_conn *other = e1.conn == c ? e2.conn : e1.conn;
	assert_ptr_not_equal(other, c);
	assert_int_equal(send_str(c, "me"), 0);
	expect_recv(w, &w->a, other, "me", 2);
	ops->disconnect(c);
	expect_down(w, &w->a, other, 0);
	ops->disconnect(other);
}

static void connections_are_bounded(void **state)
{
	struct world *w = *state;
	struct mesh_tcp_options o = { .tx_bytes = T_TX_BYTES, .conn_max = 2, .log = log_capture };
	struct mesh_transport *x = ep_make_opt(T_MSG_MAX, T_RX_BYTES, &o);
	char x_addr[MESH_TCP_ADDR_MAX + 1];
	ep_listen(x, x_addr);
	struct mesh_conn *c1, *c2, *c3;
	assert_int_equal(ops->connect(x, w->a_addr, &c1), 0);
	assert_int_equal(ops->connect(x, w->a_addr, &c2), 0);
	assert_int_equal(ops->connect(x, w->a_addr, &c3), -EMFILE);

	/* x is full, so a connection coming in is accepted and closed at once. */
	struct mesh_conn *in = NULL;
	assert_int_equal(ops->connect(w->b.t, x_addr, &in), 0);
	int64_t end = now_ms() + T_DEADLINE_MS;
	bool down = false;
	while (!down) {
		struct mesh_tp_event ev[8];
		int n = ops->poll(x, ev, 8);
		for (int i = 0; i < n; i++) {
			assert_int_equal(ev[i].type, MESH_TP_CONN_UP);
			assert_true(ev[i].conn == c1 || ev[i].conn == c2);
		}
		pump_all(w);
		while (w->b.count) {
			struct tev e = next_ev(w, &w->b);
			assert_ptr_equal(e.conn, in);
			down = e.type == MESH_TP_CONN_DOWN;
		}
		assert_true(now_ms() < end);
	}
	assert_non_null(strstr(log_last, "limit"));
	/* After one goes, there is room again. */
	ops->disconnect(c1);
	assert_int_equal(ops->connect(x, w->a_addr, &c3), 0);
	ops->disconnect(in);
	ops->destroy(x);

	/* The limit itself is bounded. */
	o.conn_max = MESH_TCP_CONN_MAX + 1;
	struct mesh_transport_params p = { .fabric = &o, .msg_bytes_max = T_MSG_MAX };
	struct mesh_transport *t = NULL;
	assert_int_equal(ops->create(&p, &t), -EINVAL);
}

/* ---- messages ---- */

static void messages_arrive_whole_in_order_with_iov_gathering(void **state)
{
	struct world *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w, &acc);

	assert_int_equal(send_str(c, "hello"), 0);
	struct mesh_iov three[3] = {
		{ .base = "ab", .len = 2 },
		{ .base = NULL, .len = 0 },
		{ .base = "cdef", .len = 4 },
	};
	assert_int_equal(ops->send(c, three, 3), 0);
	struct mesh_iov five[5] = {
		{ .base = "1", .len = 1 }, { .base = "23", .len = 2 }, { .base = "456", .len = 3 },
		{ .base = "7", .len = 1 }, { .base = "89", .len = 2 },
	};
	assert_int_equal(ops->send(c, five, 5), 0);
	/* Exactly msg_bytes_max, in three uneven pieces. */
	static uint8_t full[T_MSG_MAX];
	for (size_t i = 0; i < sizeof(full); i++)
		full[i] = pattern(7, i);
	struct mesh_iov pieces[3] = {
		{ .base = full, .len = 1 },
		{ .base = full + 1, .len = 3000 },
		{ .base = full + 3001, .len = T_MSG_MAX - 3001 },
	};
	assert_int_equal(ops->send(c, pieces, 3), 0);
	/* More pieces than one sendmsg gathers take the copying path. */
	static struct mesh_iov many[100];
	for (unsigned i = 0; i < 100; i++)
		many[i] = (struct mesh_iov){ .base = full + i * 10, .len = 10 };
	assert_int_equal(ops->send(c, many, 100), 0);
	/* And the other way. */
	assert_int_equal(send_str(acc, "reply"), 0);

	expect_recv(w, &w->a, acc, "hello", 5);
	expect_recv(w, &w->a, acc, "abcdef", 6);
	expect_recv(w, &w->a, acc, "123456789", 9);
	expect_recv(w, &w->a, acc, full, T_MSG_MAX);
	expect_recv(w, &w->a, acc, full, 1000);
	expect_recv(w, &w->b, c, "reply", 5);
	expect_quiet(w);
}

static void message_above_msg_bytes_max_is_emsgsize_and_bad_sends_are_einval(void **state)
{
	struct world *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w, &acc);
	static uint8_t big[T_MSG_MAX + 1];
	struct mesh_iov one = { .base = big, .len = T_MSG_MAX + 1 };
	assert_int_equal(ops->send(c, &one, 1), -EMSGSIZE);
	struct mesh_iov two[2] = { { .base = big, .len = T_MSG_MAX }, { .base = big, .len = 1 } };
	assert_int_equal(ops->send(c, two, 2), -EMSGSIZE);
	/* Empty messages cannot be framed. */
	assert_int_equal(ops->send(c, NULL, 0), -EINVAL);
	struct mesh_iov empty = { .base = big, .len = 0 };
	assert_int_equal(ops->send(c, &empty, 1), -EINVAL);
	struct mesh_iov null_base = { .base = NULL, .len = 3 };
	assert_int_equal(ops->send(c, &null_base, 1), -EINVAL);
	assert_int_equal(ops->send(c, NULL, 1), -EINVAL);
	/* None of it went out: the next message is the first to arrive. */
	assert_int_equal(send_str(c, "next"), 0);
	expect_recv(w, &w->a, acc, "next", 4);
	expect_quiet(w);
}

#define BURST 5000u

static void burst_of_small_messages_arrives_in_order_many_per_poll(void **state)
{
	struct world *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w, &acc);
	uint8_t msg[64];
	unsigned eagain = 0;
	for (uint32_t seq = 0; seq < BURST;) {
		size_t len = 4 + seq % 60;
		memcpy(msg, &seq, 4);
		for (size_t i = 4; i < len; i++)
			msg[i] = pattern(seq, i);
		struct mesh_iov iov = { .base = msg, .len = len };
		int rc = ops->send(c, &iov, 1);
		if (rc == -EAGAIN) {
			eagain++;
			pump_all(w);
			continue;
		}
		assert_int_equal(rc, 0);
		seq++;
	}
	for (uint32_t seq = 0; seq < BURST; seq++) {
		struct tev e = next_ev(w, &w->a);
		assert_int_equal(e.type, MESH_TP_RECV);
		assert_ptr_equal(e.conn, acc);
		assert_int_equal(e.len, 4 + seq % 60);
		uint32_t got;
		memcpy(&got, e.data, 4);
		assert_int_equal(got, seq);
		for (size_t i = 4; i < e.len; i++)
			assert_int_equal(e.data[i], pattern(seq, i));
		free(e.data);
	}
	/* Many messages came out of one read, and one poll handed out several. */
	assert_true(w->a.recv_batch_max > 1);
	printf("burst: %u x EAGAIN, at most %u RECVs per poll\n", eagain, w->a.recv_batch_max);
	expect_quiet(w);
}

#define BP_MSGS_MAX 200000u
#define BP_EXTRA 3000u

static size_t bp_len(uint64_t seq)
{
	return 8 + (size_t)((seq * 2654435761u) % (T_MSG_MAX - 8 + 1));
}

static int bp_send(struct mesh_conn *c, uint64_t seq)
{
	static uint8_t msg[T_MSG_MAX];
	size_t len = bp_len(seq);
	memcpy(msg, &seq, 8);
	for (size_t i = 8; i < len; i++)
		msg[i] = pattern(seq, i);
	/* Three pieces, so partial writes can end inside any of them. */
	size_t cut = len / 3;
	struct mesh_iov iov[3] = {
		{ .base = msg, .len = 5 },
		{ .base = msg + 5, .len = cut },
		{ .base = msg + 5 + cut, .len = len - 5 - cut },
	};
	return ops->send(c, iov, 3);
}

/* Every queued event at @s is the next message in sequence. */
static void bp_check(struct side *s, struct mesh_conn *acc, uint64_t *next)
{
	while (s->count) {
		struct tev e = side_pop(s);
		assert_int_equal(e.type, MESH_TP_RECV);
		assert_ptr_equal(e.conn, acc);
		uint64_t seq;
		memcpy(&seq, e.data, 8);
		assert_int_equal(seq, *next);
		assert_int_equal(e.len, bp_len(seq));
		for (size_t i = 8; i < e.len; i++)
			assert_int_equal(e.data[i], pattern(seq, i));
		free(e.data);
		(*next)++;
	}
}

static void peer_that_never_polls_gives_eagain_and_nothing_is_lost(void **state)
{
	struct world *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w, &acc);

	/* a stops reading; b keeps sending without polling either. */
	w->a.frozen = true;
	uint64_t sent = 0;
	int rc;
	while ((rc = bp_send(c, sent)) == 0) {
		sent++;
		assert_true(sent < BP_MSGS_MAX);
	}
	assert_int_equal(rc, -EAGAIN);
	assert_true(sent > 0);
	/* Refused means refused: it stays so while nothing drains. */
	assert_int_equal(bp_send(c, sent), -EAGAIN);
	printf("back-pressure after %llu messages\n", (unsigned long long)sent);

	/* a drains; b retries the refused sequence number and carries on. */
	w->a.frozen = false;
	uint64_t next = 0;
	uint64_t total = sent + BP_EXTRA;
	int64_t end = now_ms() + 4 * T_DEADLINE_MS;
	struct side *both[2] = { &w->a, &w->b };
	while (next < total) {
		while (sent < total && (rc = bp_send(c, sent)) == 0)
			sent++;
		if (sent < total)
			assert_int_equal(rc, -EAGAIN);
		int moved = pump(&w->a) + pump(&w->b);
		assert_int_equal(w->b.count, 0);
		bp_check(&w->a, acc, &next);
		if (!moved)
			sleep_on(both, 2, 10);
		assert_true(now_ms() < end);
	}
	assert_int_equal(next, total);
	expect_quiet(w);
}

static void received_bytes_stay_valid_until_the_next_poll_even_after_disconnect(void **state)
{
	struct world *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w, &acc);
	static uint8_t full[T_MSG_MAX];
	for (size_t i = 0; i < sizeof(full); i++)
		full[i] = pattern(3, i);
	struct mesh_iov iov = { .base = full, .len = sizeof(full) };
	for (int i = 0; i < 3; i++)
		assert_int_equal(ops->send(c, &iov, 1), 0);

	/* Take the messages straight from poll(), not through the copying pump. */
	struct mesh_tp_event ev[4];
	int n = 0;
	int64_t end = now_ms() + T_DEADLINE_MS;
	struct side *only_a[1] = { &w->a };
	while ((n = ops->poll(w->a.t, ev, 4)) < 3) {
		/* Keep it to one poll that returns all three. */
		assert_int_equal(n, 0);
		assert_true(now_ms() < end);
		sleep_on(only_a, 1, 10);
	}
	assert_int_equal(n, 3);
	/* More traffic and a disconnect must not disturb what was returned. */
	assert_int_equal(send_str(c, "more"), 0);
	ops->disconnect(acc);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ev[i].type, MESH_TP_RECV);
		assert_int_equal(ev[i].len, T_MSG_MAX);
		assert_memory_equal(ev[i].data, full, T_MSG_MAX);
	}
	expect_down(w, &w->b, c, -ECONNRESET);
	ops->disconnect(c);
	expect_quiet(w);
}

/* ---- misbehaving peers ---- */

static void oversize_length_prefix_drops_the_peer_and_the_endpoint_keeps_serving(void **state)
{
	struct world *w = *state;
	int fd = raw_connect(w->a_port);
	raw_frame(fd, 2, "ok", 2);
	static uint8_t junk[64];
	raw_frame(fd, T_MSG_MAX + 1, junk, sizeof(junk));
	struct tev e = next_ev(w, &w->a);
	assert_int_equal(e.type, MESH_TP_CONN_UP);
	struct mesh_conn *acc = e.conn;
	/* The whole frame before the bad one still counts. */
	expect_recv(w, &w->a, acc, "ok", 2);
	expect_down(w, &w->a, acc, -EPROTO);
	assert_true(log_count > 0);
	assert_non_null(strstr(log_last, "4097"));
	raw_expect_closed(w, fd);
	close(fd);
	assert_int_equal(send_str(acc, "x"), -ENOTCONN);
	ops->disconnect(acc);

	/* The endpoint still serves others. */
	struct mesh_conn *acc2;
	struct mesh_conn *c = pair(w, &acc2);
	assert_int_equal(send_str(c, "still here"), 0);
	expect_recv(w, &w->a, acc2, "still here", 10);
	assert_int_equal(send_str(acc2, "yes"), 0);
	expect_recv(w, &w->b, c, "yes", 3);
	expect_quiet(w);
}

static void zero_length_prefix_drops_the_peer(void **state)
{
	struct world *w = *state;
	int fd = raw_connect(w->a_port);
	raw_frame(fd, 0, NULL, 0);
	raw_frame(fd, 2, "no", 2);
	struct tev e = next_ev(w, &w->a);
	assert_int_equal(e.type, MESH_TP_CONN_UP);
	expect_down(w, &w->a, e.conn, -EPROTO);
	raw_expect_closed(w, fd);
	close(fd);
	ops->disconnect(e.conn);
	expect_quiet(w);
}

static void peer_closing_mid_message_gives_conn_down_and_no_partial_recv(void **state)
{
	struct world *w = *state;
	int fd = raw_connect(w->a_port);
	raw_frame(fd, 3, "abc", 3);
	raw_frame(fd, 100, "only ten b", 10);
	close(fd);
	struct tev e = next_ev(w, &w->a);
	assert_int_equal(e.type, MESH_TP_CONN_UP);
	expect_recv(w, &w->a, e.conn, "abc", 3);
	expect_down(w, &w->a, e.conn, -ECONNRESET);
	ops->disconnect(e.conn);

	/* A header cut short is a partial message too; a clean close is status 0. */
	fd = raw_connect(w->a_port);
	raw_write(fd, "\x05\x00", 2);
	close(fd);
	e = next_ev(w, &w->a);
	assert_int_equal(e.type, MESH_TP_CONN_UP);
	expect_down(w, &w->a, e.conn, -ECONNRESET);
	ops->disconnect(e.conn);
	fd = raw_connect(w->a_port);
	raw_frame(fd, 3, "end", 3);
	close(fd);
	e = next_ev(w, &w->a);
	assert_int_equal(e.type, MESH_TP_CONN_UP);
	expect_recv(w, &w->a, e.conn, "end", 3);
	expect_down(w, &w->a, e.conn, 0);
	ops->disconnect(e.conn);
	expect_quiet(w);
}

/* ---- waiting ---- */

static int readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n = poll(&p, 1, ms);
	assert_true(n >= 0);
	return n;
}

static void wait_fd_is_readable_exactly_while_events_wait(void **state)
{
	struct world *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w, &acc);
	int fd = ops->wait_fd(w->a.t);
	assert_true(fd >= 0);
	assert_int_equal(mesh_tp_wait_fd(ops, w->a.t), fd);
	assert_int_equal(mesh_tp_wait_fd(&mesh_transport_loop, NULL), -ENOTSUP);
	assert_int_equal(readable(fd, 0), 0);

	assert_int_equal(send_str(c, "m1"), 0);
	assert_int_equal(send_str(c, "m2"), 0);
	assert_int_equal(send_str(c, "m3"), 0);
	assert_int_equal(readable(fd, T_DEADLINE_MS), 1);
	struct mesh_tp_event ev[4];
	assert_int_equal(ops->poll(w->a.t, ev, 1), 1);
	assert_int_equal(ev[0].type, MESH_TP_RECV);
	assert_memory_equal(ev[0].data, "m1", 2);
	/* Two are left, whether still in the socket or already read: wake. */
	assert_int_equal(readable(fd, 0), 1);
	unsigned got = 1;
	int64_t end = now_ms() + T_DEADLINE_MS;
	while (got < 3) {
		assert_int_equal(readable(fd, T_DEADLINE_MS), 1);
		int n = ops->poll(w->a.t, ev, 4);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			assert_int_equal(ev[i].type, MESH_TP_RECV);
			assert_memory_equal(ev[i].data, got == 1 ? "m2" : "m3", 2);
			got++;
		}
		assert_true(now_ms() < end);
	}
	/* Drained: nothing to wake for. */
	assert_int_equal(ops->poll(w->a.t, ev, 4), 0);
	assert_int_equal(readable(fd, 0), 0);
	expect_quiet(w);
}

/* ---- set-up and arguments ---- */

static void listen_on_port_zero_reports_the_bound_port(void **state)
{
	struct world *w = *state;
	struct mesh_transport *x = ep_make();
	assert_int_equal(mesh_tcp_bound_port(x), -EINVAL);
	assert_int_equal(ops->listen(x, "localhost:0"), 0);
	int port = mesh_tcp_bound_port(x);
	assert_true(port > 0);
	assert_int_not_equal(port, w->a_port);
	/* One listener per endpoint. */
	assert_int_equal(ops->listen(x, "127.0.0.1:0"), -EINVAL);
	/* A live listener's port is taken. */
	char taken[MESH_TCP_ADDR_MAX + 1];
	snprintf(taken, sizeof(taken), "127.0.0.1:%d", port);
	struct mesh_transport *y = ep_make();
	assert_int_equal(ops->listen(y, taken), -EADDRINUSE);
	/* "localhost" reaches it. */
	snprintf(taken, sizeof(taken), "localhost:%d", port);
	struct mesh_conn *c;
	assert_int_equal(ops->connect(y, taken, &c), 0);
	int64_t end = now_ms() + T_DEADLINE_MS;
	struct mesh_tp_event ev[2];
	while (ops->poll(x, ev, 2) == 0)
		assert_true(now_ms() < end);
	assert_int_equal(ev[0].type, MESH_TP_CONN_UP);
	ops->destroy(y);
	ops->destroy(x);
}

static void bad_addresses_are_einval(void **state)
{
	struct world *w = *state;
	const char *bad[] = {
		"", "127.0.0.1", "127.0.0.1:", ":80", "1.2.3:80", "1.2.3.4.5:80", "node7:80",
		"127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:80x", "127.0.0.1: 80", "::1:80",
		"127.000000000000000000000000000000000000000000000000000000000000.0.1:80",
	};
	struct mesh_conn *c = NULL;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ops->connect(w->b.t, bad[i], &c), -EINVAL);
		struct mesh_transport *x = ep_make();
		assert_int_equal(ops->listen(x, bad[i]), -EINVAL);
		ops->destroy(x);
	}
	assert_int_equal(ops->connect(w->b.t, NULL, &c), -EINVAL);
	/* Nobody can be reached at port 0. */
	assert_int_equal(ops->connect(w->b.t, "127.0.0.1:0", &c), -EINVAL);
	expect_quiet(w);
}

static void create_rejects_buffers_too_small_for_one_message(void **state)
{
	(void)state;
	struct mesh_tcp_options o = { .log = log_capture };
	struct mesh_transport_params p = { .fabric = &o, .msg_bytes_max = T_MSG_MAX };
	struct mesh_transport *t = NULL;
	p.rx_bytes = T_MSG_MAX + 3;
	assert_int_equal(ops->create(&p, &t), -EINVAL);
	p.rx_bytes = T_MSG_MAX + 4;
	o.tx_bytes = T_MSG_MAX + 3;
	assert_int_equal(ops->create(&p, &t), -EINVAL);
	o.tx_bytes = 0;
	p.msg_bytes_max = (size_t)MESH_TCP_MSG_BYTES_MAX + 1;
	p.rx_bytes = 0;
	assert_int_equal(ops->create(&p, &t), -EINVAL);
	/* The smallest legal buffers and all defaults both work. */
	p.msg_bytes_max = T_MSG_MAX;
	p.rx_bytes = T_MSG_MAX + 4;
	o.tx_bytes = T_MSG_MAX + 4;
	assert_int_equal(ops->create(&p, &t), 0);
	ops->destroy(t);
	struct mesh_transport_params dflt = { 0 };
	assert_int_equal(ops->create(&dflt, &t), 0);
	ops->destroy(t);
}

static void rma_is_not_supported(void **state)
{
	struct world *w = *state;
	struct mesh_conn *acc;
	struct mesh_conn *c = pair(w, &acc);
	assert_null(ops->mr_expose);
	assert_null(ops->mr_revoke);
	assert_null(ops->rma_read);
	assert_null(ops->rma_write);
	uint8_t buf[8];
	uint64_t rkey;
	assert_int_equal(mesh_tp_mr_expose(ops, w->a.t, buf, sizeof(buf), MESH_RMA_READ, &rkey),
			 -ENOTSUP);
	assert_int_equal(mesh_tp_mr_revoke(ops, w->a.t, 1), -ENOTSUP);
	assert_int_equal(mesh_tp_rma_read(ops, c, 1, 0, buf, sizeof(buf), 0), -ENOTSUP);
	assert_int_equal(mesh_tp_rma_write(ops, c, 1, 0, buf, sizeof(buf), 0), -ENOTSUP);
	assert_string_equal(ops->name, "tcp");
	expect_quiet(w);
}

/* ---- property: random traffic both ways through small buffers ---- */

#define PROP_ROUNDS 12
#define PROP_MSGS 1500u

struct flow {
	struct mesh_conn *from;
	struct mesh_conn *to;
	uint64_t sent;
	uint64_t got;
};

static uint64_t prop_rng;
static size_t prop_msg_max;

static size_t prop_len(uint64_t flow, uint64_t seq)
{
	uint64_t h = (seq + 1) * 0x9e3779b97f4a7c15ull ^ (flow + 1) * 0xc2b2ae3d27d4eb4full;
	h ^= h >> 29;
	size_t len = 8 + (size_t)(h % (prop_msg_max - 8 + 1));
	return h % 5 == 0 ? prop_msg_max : len;
}

static void prop_check(struct side *s, struct flow *f, uint64_t id)
{
	while (s->count) {
		struct tev e = side_pop(s);
		assert_int_equal(e.type, MESH_TP_RECV);
		assert_ptr_equal(e.conn, f->to);
		uint64_t seq;
		memcpy(&seq, e.data, 8);
		assert_int_equal(seq, f->got);
		assert_int_equal(e.len, prop_len(id, seq));
		for (size_t i = 8; i < e.len; i++)
			assert_int_equal(e.data[i], pattern(seq ^ id, i));
		free(e.data);
		f->got++;
	}
}

static int prop_send(struct flow *f, uint64_t id, uint8_t *msg)
{
	size_t len = prop_len(id, f->sent);
	memcpy(msg, &f->sent, 8);
	for (size_t i = 8; i < len; i++)
		msg[i] = pattern(f->sent ^ id, i);
	size_t cut1 = prop_next(&prop_rng) % (len + 1);
	size_t cut2 = cut1 + (prop_next(&prop_rng) % (len - cut1 + 1));
	struct mesh_iov iov[3] = {
		{ .base = msg, .len = cut1 },
		{ .base = msg + cut1, .len = cut2 - cut1 },
		{ .base = msg + cut2, .len = len - cut2 },
	};
	return ops->send(f->from, iov, 3);
}

static void random_traffic_both_ways_arrives_whole_and_in_order(void **state)
{
	(void)state;
	prop_rng = prop_seed("random_traffic_both_ways_arrives_whole_and_in_order");
	static uint8_t msg[T_MSG_MAX];
	unsigned long refused = 0;

	for (int round = 0; round < PROP_ROUNDS; round++) {
		prop_msg_max = 8 + prop_next(&prop_rng) % (T_MSG_MAX - 8 + 1);
		size_t frame = prop_msg_max + 4;
		struct mesh_tcp_options o = {
			.tx_bytes = frame + prop_next(&prop_rng) % (3 * frame),
			/* Small kernel buffers, so that partial writes are common. */
			.sock_bytes = 4096 + prop_next(&prop_rng) % (60u << 10),
			.log = log_capture,
		};
		size_t rx = frame + prop_next(&prop_rng) % (2 * frame);
		struct world *w = calloc(1, sizeof(*w));
		assert_non_null(w);
		w->a.t = ep_make_opt(prop_msg_max, rx, &o);
		w->b.t = ep_make_opt(prop_msg_max, rx, &o);
		w->a_port = ep_listen(w->a.t, w->a_addr);
		struct mesh_conn *acc;
		struct mesh_conn *c = pair(w, &acc);
		struct flow to_a = { .from = c, .to = acc }, to_b = { .from = acc, .to = c };

		int64_t end = now_ms() + 6 * T_DEADLINE_MS;
		struct side *both[2] = { &w->a, &w->b };
		unsigned stall[2] = { 0, 0 };
		while (to_a.got < PROP_MSGS || to_b.got < PROP_MSGS) {
			unsigned burst = 1 + (unsigned)(prop_next(&prop_rng) % 64);
			bool full[2] = { false, false };
			for (unsigned i = 0; i < burst; i++) {
				bool dir = prop_next(&prop_rng) & 1;
				struct flow *f = dir ? &to_a : &to_b;
				if (f->sent == PROP_MSGS || full[dir])
					continue;
				int rc = prop_send(f, dir ? 1 : 2, msg);
				if (rc == -EAGAIN) {
					/* Until someone polls, it stays full. */
					full[dir] = true;
					refused++;
					continue;
				}
				assert_int_equal(rc, 0);
				f->sent++;
			}
			/* Uneven polling: a side may stop for a while, so that the
			 * kernel's buffers and then the send buffer fill up. */
			int moved = 0;
			for (int k = 0; k < 2; k++) {
				if (stall[k]) {
					stall[k]--;
					continue;
				}
				if (prop_next(&prop_rng) % 32 == 0)
					stall[k] = (unsigned)(prop_next(&prop_rng) % 300);
				moved += pump(both[k]);
			}
			prop_check(&w->a, &to_a, 1);
			prop_check(&w->b, &to_b, 2);
			if (!moved && prop_next(&prop_rng) % 2)
				sleep_on(both, 2, 1);
			assert_true(now_ms() < end);
		}
		assert_int_equal(to_a.sent, PROP_MSGS);
		assert_int_equal(to_b.sent, PROP_MSGS);
		ops->destroy(w->a.t);
		ops->destroy(w->b.t);
		side_clear(&w->a);
		side_clear(&w->b);
		free(w);
	}
	printf("random traffic: %lu sends refused with EAGAIN\n", refused);
	assert_true(refused > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, world_setup, world_teardown)
		T(connect_gives_conn_up_on_both_sides),
		T(messages_sent_while_connecting_arrive_after_conn_up),
		T(connect_to_a_closed_port_gives_conn_down_econnrefused),
		T(disconnect_gives_peer_conn_down_and_send_enotconn),
		T(endpoint_can_talk_to_itself),
		T(connections_are_bounded),
		T(messages_arrive_whole_in_order_with_iov_gathering),
		T(message_above_msg_bytes_max_is_emsgsize_and_bad_sends_are_einval),
		T(burst_of_small_messages_arrives_in_order_many_per_poll),
		T(peer_that_never_polls_gives_eagain_and_nothing_is_lost),
		T(received_bytes_stay_valid_until_the_next_poll_even_after_disconnect),
		T(oversize_length_prefix_drops_the_peer_and_the_endpoint_keeps_serving),
		T(zero_length_prefix_drops_the_peer),
		T(peer_closing_mid_message_gives_conn_down_and_no_partial_recv),
		T(wait_fd_is_readable_exactly_while_events_wait),
		T(listen_on_port_zero_reports_the_bound_port),
		T(bad_addresses_are_einval),
		T(create_rejects_buffers_too_small_for_one_message),
		T(rma_is_not_supported),
#undef T
		cmocka_unit_test(random_traffic_both_ways_arrives_whole_and_in_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

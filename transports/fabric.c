/*
 * transports/fabric.c: the libfabric transport (see fabric.h).
 *
 * Why RDM endpoints (FI_EP_RDM) for every provider: libfabric 1.17 here
 * offers shm only as RDM, and tcp as FI_EP_MSG or, layered under ofi_rxm,
 * as RDM. One endpoint type means one code path, and RDM needs no
 * connection management in the fabric (no event queue, no fi_connect /
 * fi_accept state machine); it costs an address exchange, which the
 * control socket does (fabric.h), and a small header on every message that
 * says which of the receiver's connections it belongs to, since RDM
 * receives are shared by all peers. "tcp" therefore means tcp;ofi_rxm,
 * which DESIGN.md measured at about 11 us RMA read on loopback; shm about
 * 2 us.
 *
 * The sequence is fabtests': fi_getinfo -> fi_fabric -> fi_domain ->
 * fi_cq_open -> fi_av_open -> fi_endpoint -> bind -> fi_enable; set-up
 * unwinds through labels named after what they release. Every operation
 * carries a struct op as its context, which starts with the fi_context
 * that FI_CONTEXT providers may use.
 *
 * Memory, all reserved by create(), never per message:
 * - rx slots, each one message of msg_bytes_max plus the 8-byte header,
 *   all posted with fi_recv. A RECV event points into its slot; the slot is
 *   posted again by the next poll(), which is what keeps RECV data valid
 *   until then. A message for a connection whose CONN_UP has not come out
 *   yet (its hello is still on its way over the control socket) waits in
 *   its slot, on the connection's held list.
 * - tx slots: send() copies header and message into one and posts it, or
 *   queues it when the provider says -FI_EAGAIN (poll() posts the queue in
 *   order); the slot is free again when the send completes.
 * - RMA contexts (cookie, connection), one per fi_read / fi_write.
 * Connections and peers (one per distinct fabric address, shared by the
 * connections to it, holding its address vector entry) are made when a
 * connection is.
 *
 * Wire formats, little-endian:
 * - hello (control socket, each side sends one): u32 magic 'MFAB', u16
 *   version, u16 name_len, u64 the sender's connection id, u64 the
 *   sender's msg_bytes_max, char[32] libfabric provider name, u32 zero,
 *   then name_len bytes of fi_getname().
 * - message (fabric): u64 the receiver's connection id, then the bytes.
 *   A connection id is its slot index in the low 32 bits and the slot's
 *   generation in the high 32, so that a message for a connection that was
 *   dropped and its slot reused is recognised and dropped.
 */
#define _GNU_SOURCE /* accept4 */
#include "transports/fabric.h"

#include <arpa/inet.h>
#include <assert.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include "core/proto.h"
#include "transports/addr.h"
#include "transports/log.h"
#include "transports/ready.h"
#include "transports/sock.h"

/* listen() and connect() take what mesh_addr_parse() takes. */
_Static_assert(MESH_FABRIC_ADDR_MAX == MESH_ADDR_MAX, "one address limit");

/* The libfabric API this file is written against. */
#define FABRIC_API FI_VERSION(1, 17)
/* The connection id in front of every fabric message. */
#define MSG_HDR_BYTES 8u
/* Slots are rounded up to this, so that each starts cache-aligned. */
#define SLOT_ALIGN 64u
#define HELLO_MAGIC 0x4241464du /* bytes 'M' 'F' 'A' 'B' */
#define HELLO_VERSION 1u
#define HELLO_PROV_BYTES 32u
#define HELLO_FIXED_BYTES (24u + HELLO_PROV_BYTES + 4u)
#define HELLO_BYTES_MAX (HELLO_FIXED_BYTES + MESH_FABRIC_NAME_MAX)
/* Readiness reports taken per poll(); the rest stay in epoll. */
#define EPOLL_BATCH 64
/* Control connections accepted per poll(); the rest wait in the backlog. */
#define ACCEPT_BATCH 64
/* Completions read per fi_cq_read(). */
#define CQ_BATCH 32u
#define LOG_LINE_MAX 256
/* Marks a struct mesh_transport made here. */
#define FABRIC_MAGIC 0x6661626du
/*
 * rkeys carry the region's access bits (MESH_RMA_READ/WRITE), so that the
 * initiator refuses what the region does not allow: tcp;ofi_rxm 1.17 does
 * not check FI_REMOTE_WRITE at the target. With VIRT_ADDR: generation (14
 * bits) | access (2) | base address (48); otherwise counter | access (2).
 */
#define RKEY_BASE_BITS 48
#define RKEY_BASE_MASK ((UINT64_C(1) << RKEY_BASE_BITS) - 1)
#define RKEY_GEN_MASK ((1u << 14) - 1)
/* fi_mr_reg attempts with fresh generations when a key is taken. */
#define RKEY_TRIES 8

enum op_kind { OP_RX = 1, OP_TX, OP_RMA };

struct peer;

/* The context of one fabric operation. */
struct op {
	struct fi_context fctx; /* first: FI_CONTEXT providers write here */
	enum op_kind kind;
	struct op *next;        /* free list, repost list or held list */
	struct peer *peer;      /* TX and RMA in flight: holds a reference */
	struct mesh_conn *conn; /* RMA: who hears of it; NULL after disconnect */
	uint64_t cookie;
	uint8_t *buf; /* RX/TX: the slot; RMA: the caller's buffer */
	size_t len;   /* bytes received or to send (header included), RMA length */
	uint64_t raddr; /* RMA: remote address and key */
	uint64_t rkey;
	bool write; /* RMA: fi_write, else fi_read */
	int status; /* RMA refused here: the status its RMA_DONE carries */
};

/* A fabric address in the address vector, shared by connections to it. */
struct peer {
	struct peer *next;
	fi_addr_t addr;
	unsigned refs; /* connections and operations in flight */
	size_t name_len;
	uint8_t name[MESH_FABRIC_NAME_MAX];
};

enum conn_state {
	C_FREE,       /* slot unused */
	C_CONNECTING, /* control socket handshake in progress */
	C_HELLO,      /* swapping hellos */
	C_UP,
	C_DOWN, /* socket closed; CONN_DOWN pending or delivered */
};

struct mesh_conn {
	struct mesh_transport *ep;
	uint32_t index;
	uint32_t gen;
	enum conn_state state;
	int fd;
	bool up_pending;
	bool down_pending;
	bool want_out;
	int down_status;
	struct mesh_ready_link ready; /* in ep->ready while it has work */
	struct op *held_head; /* RECVs waiting behind CONN_UP */
	struct op *held_tail;
	struct peer *peer;
	uint64_t peer_id;
	size_t send_max;
	void *ctx;
	struct sockaddr_in sa;
	size_t out_off;
	size_t out_len;
	size_t in_len;
	uint8_t out[HELLO_BYTES_MAX];
	uint8_t in[HELLO_BYTES_MAX];
};

struct mr_slot {
	struct fid_mr *mr;
	uint64_t rkey;
};

struct mesh_transport {
	uint32_t magic;
	struct mesh_fabric_options opt;
	char prov[MESH_FABRIC_PROVIDER_MAX + 1]; /* as asked */
	char prov_name[HELLO_PROV_BYTES];        /* as libfabric names it */

	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_cq *cq;
	struct fid_av *av;
	struct fid_ep *fep;
	bool virt_addr;   /* FI_MR_VIRT_ADDR: rkeys carry the base */
	bool mr_endpoint; /* FI_MR_ENDPOINT: MRs are bound to the endpoint */
	int cq_fd;        /* the CQ's wait fd, or -1 */
	uint8_t name[MESH_FABRIC_NAME_MAX];
	size_t name_len;

	int epfd;
	struct mesh_kick kick; /* readable while poll() left work behind */
	int listenfd;
	uint16_t port;

	size_t msg_bytes_max;
	size_t slot_bytes;
	unsigned rx_count;
	unsigned tx_count;
	unsigned rma_count;
	uint8_t *rx_mem;
	uint8_t *tx_mem;
	struct op *ops; /* rx_count RX, tx_count TX, rma_count RMA */
	struct op *tx_free;
	struct op *rma_free;
	struct op *repost; /* RX slots to post again at the next poll() */
	struct op *pend_head; /* TX and RMA the provider refused (-FI_EAGAIN) */
	struct op *pend_tail;
	struct op *done_head; /* RMA refused before reaching the provider */
	struct op *done_tail;

	struct mesh_conn *conns; /* conn_max slots */
	unsigned conn_max;
	unsigned conn_count;
	unsigned conn_hint; /* where the search for a free slot starts */
	struct mesh_ready_list ready; /* conns with events to deliver */
	struct peer *peers;

	struct mr_slot *mrs;
	unsigned mr_count;
	uint64_t key_next; /* keys of providers without VIRT_ADDR */
	uint16_t key_gen;  /* generation of VIRT_ADDR keys */
};

/* ---- logging: quiet unless the owner asked ---- */

/* A line to the owner's log; with @fallback, to stderr when it set none. */
#define opt_log(o, fallback, ...) \
	mesh_tp_log((o)->log, (o)->log_ctx, (fallback) ? mesh_fabric_log_stderr : NULL, \
		    LOG_LINE_MAX, __VA_ARGS__)

#define fab_log(t, ...) opt_log(&(t)->opt, false, __VA_ARGS__)

void mesh_fabric_log_stderr(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "mesh fabric: %s\n", line);
}

/* A libfabric return code as a negative errno: its own codes become -EIO. */
static int fi_errno(ssize_t rc)
{
	long e = rc < 0 ? -(long)rc : (long)rc;
	return e > 0 && e < FI_ERRNO_OFFSET ? -(int)e : -EIO;
}

/* ---- little-endian fields ---- */

static void le_put(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t le_get(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* ---- getinfo ---- */

/* The provider to use: options, then the environment, then the default. */
static const char *prov_pick(const char *asked)
{
	if (asked)
		return asked;
	const char *env = getenv("MESH_FABRIC_PROVIDER");
	return env && *env ? env : MESH_FABRIC_PROVIDER_DEFAULT;
}

/*
 * Ask @prov for RDM endpoints with messages and RMA. Offered mr_mode bits
 * are the ones handled here: VIRT_ADDR (rkeys carry the base), ALLOCATED
 * (we register only allocated memory) and ENDPOINT (bind and enable).
 * Not offered: LOCAL (would need every rma_read buffer registered) and
 * PROV_KEY (the rkey must be ours to encode).
 */
static int info_get(const char *prov, const char *node, struct fi_info **out)
{
	struct fi_info *hints = fi_allocinfo();
	if (!hints)
		return -ENOMEM;
	int rc = -ENOMEM;
	hints->fabric_attr->prov_name = strdup(prov);
	if (!hints->fabric_attr->prov_name)
		goto free_hints;
	hints->caps = FI_MSG | FI_RMA;
	hints->mode = FI_CONTEXT;
	hints->ep_attr->type = FI_EP_RDM;
	hints->domain_attr->mr_mode = FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_ENDPOINT;
	hints->domain_attr->threading = FI_THREAD_DOMAIN;
	/*
	 * A connection's messages arrive in the order they were sent (SAS),
	 * and a message sent after an RMA write is processed after the write
	 * (SAW). SAW also matters to shm 1.17: without any RMA ordering it
	 * takes a "fast RMA" path (process_vm_readv/writev from the initiator)
	 * that never looks at the key, so revoked keys, missing access bits
	 * and bounds would go unchecked. With it, the target checks each
	 * access against its registrations.
	 */
	hints->tx_attr->msg_order = FI_ORDER_SAS | FI_ORDER_SAW;
	hints->rx_attr->msg_order = FI_ORDER_SAS | FI_ORDER_SAW;
	rc = fi_getinfo(FABRIC_API, node, NULL, node ? FI_SOURCE : 0, hints, out);
free_hints:
	fi_freeinfo(hints);
	return rc;
}

int mesh_fabric_probe(const char *provider)
{
	const char *prov = prov_pick(provider);
	if (strlen(prov) > MESH_FABRIC_PROVIDER_MAX)
		return -EINVAL;
	struct fi_info *info = NULL;
	int rc = info_get(prov, NULL, &info);
	if (rc)
		return rc == -FI_ENODATA ? -ENODATA : fi_errno(rc);
	fi_freeinfo(info);
	return 0;
}

/* ---- ready list and the wake-up eventfd ---- */

/*
 * Make the eventfd readable exactly while poll() left work: events queued
 * (@busy: it stopped at max), RX slots to post again, operations waiting
 * for the provider to take them, or, before a sleeper
 * may block on the CQ's wait fd, fi_trywait() saying it is not safe to.
 */
static void kick_sync(struct mesh_transport *t, bool busy)
{
	bool want = busy || t->ready.count > 0 || t->repost || t->pend_head || t->done_head;

	if (!want && t->cq_fd >= 0) {
		struct fid *f = &t->cq->fid;
		want = fi_trywait(t->fabric, &f, 1) != FI_SUCCESS;
	}
	mesh_kick_set(&t->kick, want);
}

/* ---- peers: address vector entries ---- */

static struct peer *peer_get(struct mesh_transport *t, const uint8_t *name, size_t len)
{
	for (struct peer *p = t->peers; p; p = p->next)
		if (p->name_len == len && memcmp(p->name, name, len) == 0) {
			p->refs++;
			return p;
		}
	struct peer *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	memcpy(p->name, name, len);
	p->name_len = len;
	int rc = fi_av_insert(t->av, p->name, 1, &p->addr, 0, NULL);
	if (rc != 1) {
		fab_log(t, "fi_av_insert of a %zu-byte name failed: %s", len,
			fi_strerror(rc < 0 ? -rc : FI_EINVAL));
		free(p);
		return NULL;
	}
	p->refs = 1;
	p->next = t->peers;
	t->peers = p;
	return p;
}

static void peer_put(struct mesh_transport *t, struct peer *p)
{
	assert(p->refs > 0);
	if (--p->refs)
		return;
	int rc = fi_av_remove(t->av, &p->addr, 1, 0);
	if (rc)
		fab_log(t, "fi_av_remove failed: %s", fi_strerror(-rc));
	struct peer **pp = &t->peers;
	while (*pp != p)
		pp = &(*pp)->next;
	*pp = p->next;
	free(p);
}

/* ---- receive slots ---- */

static void repost_push(struct mesh_transport *t, struct op *op)
{
	op->next = t->repost;
	t->repost = op;
}

/* Post every slot on the repost list; those the provider refuses now stay. */
static void repost_all(struct mesh_transport *t)
{
	struct op *keep = NULL;
	while (t->repost) {
		struct op *op = t->repost;
		t->repost = op->next;
		ssize_t rc = fi_recv(t->fep, op->buf, t->slot_bytes, NULL, FI_ADDR_UNSPEC,
				     &op->fctx);
		if (rc) {
			if (rc != -FI_EAGAIN)
				fab_log(t, "fi_recv failed: %s", fi_strerror((int)-rc));
			op->next = keep;
			keep = op;
		}
	}
	t->repost = keep;
}

static void held_push(struct mesh_conn *c, struct op *op)
{
	op->next = NULL;
	if (c->held_tail)
		c->held_tail->next = op;
	else
		c->held_head = op;
	c->held_tail = op;
}

static void held_drop(struct mesh_transport *t, struct mesh_conn *c)
{
	while (c->held_head) {
		struct op *op = c->held_head;
		c->held_head = op->next;
		repost_push(t, op);
	}
	c->held_tail = NULL;
}

/* ---- connections ---- */

static void fd_close(struct mesh_transport *t, struct mesh_conn *c)
{
	if (c->fd < 0)
		return;
	epoll_ctl(t->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
}

/* The control socket is gone: queue CONN_DOWN with @status behind held RECVs. */
static void conn_fail(struct mesh_conn *c, int status)
{
	struct mesh_transport *t = c->ep;

	if (c->state == C_DOWN)
		return;
	/* Messages of a connection that never came up are not delivered. */
	if (c->state != C_UP)
		held_drop(t, c);
	fd_close(t, c);
	c->state = C_DOWN;
	c->down_pending = true;
	c->down_status = status;
	mesh_ready_add(&t->ready, &c->ready);
}

static void interest_set(struct mesh_conn *c, bool want_out)
{
	if (c->fd < 0 || want_out == c->want_out)
		return;
	struct epoll_event ee = { .events = EPOLLIN | (want_out ? EPOLLOUT : 0u), .data.ptr = c };
	if (epoll_ctl(c->ep->epfd, EPOLL_CTL_MOD, c->fd, &ee) < 0) {
		int rc = -errno;
		fab_log(c->ep, "epoll_ctl failed: %s; dropping the connection", strerror(-rc));
		conn_fail(c, rc);
		return;
	}
	c->want_out = want_out;
}

static uint64_t conn_id(const struct mesh_conn *c)
{
	return (uint64_t)c->gen << 32 | c->index;
}

static void hello_build(struct mesh_conn *c)
{
	const struct mesh_transport *t = c->ep;
	uint8_t *p = c->out;

	memset(p, 0, HELLO_FIXED_BYTES);
	le_put(p, HELLO_MAGIC, 4);
	le_put(p + 4, HELLO_VERSION, 2);
	le_put(p + 6, t->name_len, 2);
	le_put(p + 8, conn_id(c), 8);
	le_put(p + 16, t->msg_bytes_max, 8);
	memcpy(p + 24, t->prov_name, strnlen(t->prov_name, HELLO_PROV_BYTES - 1));
	memcpy(p + HELLO_FIXED_BYTES, t->name, t->name_len);
	c->out_len = HELLO_FIXED_BYTES + t->name_len;
	c->out_off = 0;
}

/* Both hellos are through: join the address vector and come up. */
static void hello_try_up(struct mesh_conn *c)
{
	struct mesh_transport *t = c->ep;
	char who[MESH_ADDR_STR_MAX];

	if (c->state != C_HELLO || c->out_off < c->out_len || c->in_len < HELLO_FIXED_BYTES)
		return;
	const uint8_t *p = c->in;
	size_t name_len = (size_t)le_get(p + 6, 2);
	if (c->in_len < HELLO_FIXED_BYTES + name_len)
		return;
	uint64_t msg_max = le_get(p + 16, 8);
	char prov[HELLO_PROV_BYTES];
	memcpy(prov, p + 24, HELLO_PROV_BYTES);
	prov[HELLO_PROV_BYTES - 1] = '\0';
	if (strcmp(prov, t->prov_name) != 0 || msg_max == 0) {
		fab_log(t, "hello from %s: provider \"%s\" (ours \"%s\"), msg_bytes_max %llu",
			mesh_addr_str(&c->sa, who, sizeof(who)), prov, t->prov_name,
			(unsigned long long)msg_max);
		conn_fail(c, -EPROTO);
		return;
	}
	c->peer = peer_get(t, p + HELLO_FIXED_BYTES, name_len);
	if (!c->peer) {
		conn_fail(c, -ENOMEM);
		return;
	}
	c->peer_id = le_get(p + 8, 8);
	c->send_max = msg_max < t->msg_bytes_max ? (size_t)msg_max : t->msg_bytes_max;
	c->state = C_UP;
	c->up_pending = true;
	mesh_ready_add(&t->ready, &c->ready);
}

static void hello_flush(struct mesh_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_fail(c, -errno);
			return;
		}
		c->out_off += (size_t)w;
	}
	interest_set(c, c->out_off < c->out_len);
	hello_try_up(c);
}

/* Read what is still missing of the peer's hello, and nothing beyond it. */
static void hello_read(struct mesh_conn *c)
{
	struct mesh_transport *t = c->ep;
	char who[MESH_ADDR_STR_MAX];

	for (;;) {
		size_t need = HELLO_FIXED_BYTES;
		if (c->in_len >= HELLO_FIXED_BYTES) {
			size_t name_len = (size_t)le_get(c->in + 6, 2);
			if (le_get(c->in, 4) != HELLO_MAGIC || le_get(c->in + 4, 2) != HELLO_VERSION ||
			    name_len == 0 || name_len > MESH_FABRIC_NAME_MAX) {
				fab_log(t, "bad hello from %s", mesh_addr_str(&c->sa, who, sizeof(who)));
				conn_fail(c, -EPROTO);
				return;
			}
			need += name_len;
		}
		if (c->in_len == need)
			break;
		ssize_t r = recv(c->fd, c->in + c->in_len, need - c->in_len, MSG_DONTWAIT);
		if (r > 0) {
			c->in_len += (size_t)r;
			continue;
		}
		if (r == 0) {
			conn_fail(c, -ECONNRESET);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			conn_fail(c, -errno);
		return;
	}
	hello_try_up(c);
}

/* An up connection's control socket is readable: only a close is expected. */
static void ctl_read(struct mesh_conn *c)
{
	uint8_t b;
	ssize_t r = recv(c->fd, &b, 1, MSG_DONTWAIT);
	char who[MESH_ADDR_STR_MAX];

	if (r == 0) {
		conn_fail(c, 0);
	} else if (r > 0) {
		fab_log(c->ep, "unexpected bytes on the control socket of %s",
			mesh_addr_str(&c->sa, who, sizeof(who)));
		conn_fail(c, -EPROTO);
	} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		conn_fail(c, -errno);
	}
}

/* A slot for socket @fd; on failure @fd is the caller's. */
static int conn_new(struct mesh_transport *t, int fd, enum conn_state state,
		    const struct sockaddr_in *sa, struct mesh_conn **out)
{
	if (t->conn_count >= t->conn_max)
		return -EMFILE;
	struct mesh_conn *c = NULL;
	for (unsigned k = 0; k < t->conn_max; k++) {
		unsigned i = (t->conn_hint + k) % t->conn_max;
		if (t->conns[i].state == C_FREE) {
			c = &t->conns[i];
			t->conn_hint = (i + 1) % t->conn_max;
			break;
		}
	}
	assert(c);
	uint32_t gen = c->gen;
	*c = (struct mesh_conn){
		.ep = t,
		.index = (uint32_t)(c - t->conns),
		.gen = gen,
		.state = state,
		.fd = fd,
		.sa = *sa,
		.want_out = true,
	};
	struct epoll_event ee = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ee) < 0) {
		c->state = C_FREE;
		return -errno;
	}
	hello_build(c);
	t->conn_count++;
	*out = c;
	return 0;
}

static void conn_release(struct mesh_transport *t, struct mesh_conn *c)
{
	fd_close(t, c);
	mesh_ready_remove(&t->ready, &c->ready);
	held_drop(t, c);
	for (unsigned i = 0; i < t->rma_count; i++) {
		struct op *op = &t->ops[t->rx_count + t->tx_count + i];
		if (op->conn == c)
			op->conn = NULL;
	}
	if (c->peer)
		peer_put(t, c->peer);
	c->peer = NULL;
	c->state = C_FREE;
	if (++c->gen == 0)
		c->gen = 1;
	t->conn_count--;
}

/* Hellos are small and latency-bound: TCP_NODELAY, kernel buffer sizes. */
static const struct mesh_sock_tuning hello_tuning = { .buf_bytes = 0 };

static void accept_some(struct mesh_transport *t)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		char who[MESH_ADDR_STR_MAX];
		int fd = accept4(t->listenfd, (struct sockaddr *)&sa, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				fab_log(t, "accept on port %u failed: %s", (unsigned)t->port,
					strerror(errno));
			return;
		}
		mesh_sock_tune(fd, &hello_tuning);
		struct mesh_conn *c;
		int rc = conn_new(t, fd, C_HELLO, &sa, &c);
		if (rc) {
			fab_log(t, "refusing %s: %s", mesh_addr_str(&sa, who, sizeof(who)),
				strerror(-rc));
			close(fd);
			continue;
		}
		hello_flush(c);
		hello_read(c);
	}
}

static void conn_ready(struct mesh_conn *c, uint32_t events)
{
	switch (c->state) {
	case C_CONNECTING: {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			char who[MESH_ADDR_STR_MAX];
			fab_log(c->ep, "connect to %s failed: %s",
				mesh_addr_str(&c->sa, who, sizeof(who)), strerror(err));
			conn_fail(c, -err);
			return;
		}
		c->state = C_HELLO;
		hello_flush(c);
		if (c->state == C_HELLO)
			hello_read(c);
		return;
	}
	case C_HELLO:
		if (events & (EPOLLOUT | EPOLLERR))
			hello_flush(c);
		if (c->state == C_HELLO && (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)))
			hello_read(c);
		return;
	case C_UP:
		if (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
			ctl_read(c);
		return;
	case C_FREE:
	case C_DOWN:
		return;
	}
}

/* Take what epoll has; 0 or a negative errno if epoll itself failed. */
static int harvest(struct mesh_transport *t)
{
	struct epoll_event evs[EPOLL_BATCH];
	int n = epoll_wait(t->epfd, evs, EPOLL_BATCH, 0);

	if (n < 0) {
		if (errno == EINTR)
			return 0;
		int rc = -errno;
		fab_log(t, "epoll_wait failed: %s", strerror(errno));
		return rc;
	}
	for (int i = 0; i < n; i++) {
		void *p = evs[i].data.ptr;
		/* The CQ is read by every poll() anyway; the eventfd only wakes. */
		if (p == &t->kick.fd || p == &t->cq_fd)
			continue;
		if (p == &t->listenfd)
			accept_some(t);
		else
			conn_ready(p, evs[i].events);
	}
	return 0;
}

/* ---- completions ---- */

static void emit(struct mesh_tp_event *ev, unsigned *n, struct mesh_tp_event e)
{
	ev[(*n)++] = e;
}

static void emit_recv(struct mesh_transport *t, struct mesh_conn *c, struct op *op,
		      struct mesh_tp_event *ev, unsigned *n)
{
	emit(ev, n,
	     (struct mesh_tp_event){
		     .type = MESH_TP_RECV,
		     .conn = c,
		     .data = op->buf + MSG_HDR_BYTES,
		     .len = op->len - MSG_HDR_BYTES,
	     });
	/* Posted again by the next poll(): the data lives until then. */
	repost_push(t, op);
}

/* A message arrived in @op: deliver it, hold it behind CONN_UP, or drop it. */
static void rx_arrived(struct mesh_transport *t, struct op *op, size_t len,
		       struct mesh_tp_event *ev, unsigned *n)
{
	if (len <= MSG_HDR_BYTES) {
		fab_log(t, "dropping a %zu-byte fabric message (no header or body)", len);
		repost_push(t, op);
		return;
	}
	uint64_t id = le_get(op->buf, 8);
	uint32_t index = (uint32_t)id;
	struct mesh_conn *c = index < t->conn_max ? &t->conns[index] : NULL;
	/* Stale ids are normal after a disconnect; nothing to log. */
	if (!c || c->gen != (uint32_t)(id >> 32) || (c->state != C_HELLO && c->state != C_UP)) {
		repost_push(t, op);
		return;
	}
	op->len = len;
	if (c->state == C_UP && !c->up_pending && !c->held_head) {
		emit_recv(t, c, op, ev, n);
		return;
	}
	held_push(c, op);
	if (c->state == C_UP)
		mesh_ready_add(&t->ready, &c->ready);
}

static void tx_release(struct mesh_transport *t, struct op *op)
{
	peer_put(t, op->peer);
	op->peer = NULL;
	op->next = t->tx_free;
	t->tx_free = op;
}

static void rma_release(struct mesh_transport *t, struct op *op)
{
	peer_put(t, op->peer);
	op->peer = NULL;
	op->conn = NULL;
	op->next = t->rma_free;
	t->rma_free = op;
}

static void rma_done(struct mesh_transport *t, struct op *op, int status, struct mesh_tp_event *ev,
		     unsigned *n)
{
	if (op->conn)
		emit(ev, n,
		     (struct mesh_tp_event){
			     .type = MESH_TP_RMA_DONE,
			     .conn = op->conn,
			     .cookie = op->cookie,
			     .status = status,
		     });
	rma_release(t, op);
}

/*
 * A failed RMA's error as the contract names it, for providers that report
 * a target's refusal. The libfabric 1.17 providers used here do not (see
 * fabric.h: tcp;ofi_rxm cancels, shm never answers), so in practice their
 * refusals arrive as -EIO.
 */
static int rma_status(int err)
{
	switch (err) {
	case EACCES:
	case EPERM:
	case EINVAL:
	case FI_ENOKEY:
	case EKEYREJECTED:
		return -EACCES;
	case ERANGE:
	case EFAULT:
		return -ERANGE;
	default:
		return -EIO;
	}
}

static void cq_error(struct mesh_transport *t, struct mesh_tp_event *ev, unsigned *n)
{
	struct fi_cq_err_entry e = { 0 };
	ssize_t rc = fi_cq_readerr(t->cq, &e, 0);
	if (rc < 0) {
		if (rc != -FI_EAGAIN)
			fab_log(t, "fi_cq_readerr failed: %s", fi_strerror((int)-rc));
		return;
	}
	struct op *op = e.op_context;
	assert(op);
	switch (op->kind) {
	case OP_RX:
		if (e.err != FI_ECANCELED)
			fab_log(t, "receive failed: %s (%s)", fi_strerror(e.err),
				fi_cq_strerror(t->cq, e.prov_errno, e.err_data, NULL, 0));
		repost_push(t, op);
		return;
	case OP_TX:
		fab_log(t, "send failed: %s (%s)", fi_strerror(e.err),
			fi_cq_strerror(t->cq, e.prov_errno, e.err_data, NULL, 0));
		tx_release(t, op);
		return;
	case OP_RMA: {
		int status = rma_status(e.err);
		/* Refused access is the peer's answer, not a fault here. */
		if (status == -EIO)
			fab_log(t, "RMA failed: %s (%s)", fi_strerror(e.err),
				fi_cq_strerror(t->cq, e.prov_errno, e.err_data, NULL, 0));
		rma_done(t, op, status, ev, n);
		return;
	}
	}
}

/* Read completions while @ev has room; each gives at most one event. */
static int cq_drain(struct mesh_transport *t, struct mesh_tp_event *ev, unsigned *n, unsigned max)
{
	struct fi_cq_msg_entry ce[CQ_BATCH];

	while (*n < max) {
		size_t want = max - *n < CQ_BATCH ? max - *n : CQ_BATCH;
		ssize_t got = fi_cq_read(t->cq, ce, want);
		if (got == -FI_EAGAIN)
			return 0;
		if (got == -FI_EAVAIL) {
			cq_error(t, ev, n);
			continue;
		}
		if (got < 0) {
			fab_log(t, "fi_cq_read failed: %s", fi_strerror((int)-got));
			return fi_errno(got);
		}
		for (ssize_t i = 0; i < got; i++) {
			struct op *op = ce[i].op_context;
			assert(op);
			if (op->kind == OP_RX)
				rx_arrived(t, op, ce[i].len, ev, n);
			else if (op->kind == OP_TX)
				tx_release(t, op);
			else
				rma_done(t, op, 0, ev, n);
		}
	}
	return 0;
}

/* CONN_UP, held RECVs, then CONN_DOWN of @c. True when it has more. */
static bool serve(struct mesh_transport *t, struct mesh_conn *c, struct mesh_tp_event *ev,
		  unsigned *n, unsigned max)
{
	if (c->up_pending) {
		if (*n == max)
			return true;
		emit(ev, n, (struct mesh_tp_event){ .type = MESH_TP_CONN_UP, .conn = c });
		c->up_pending = false;
	}
	while (c->held_head && c->state != C_HELLO) {
		if (*n == max)
			return true;
		struct op *op = c->held_head;
		c->held_head = op->next;
		if (!c->held_head)
			c->held_tail = NULL;
		emit_recv(t, c, op, ev, n);
	}
	if (c->down_pending) {
		if (*n == max)
			return true;
		emit(ev, n,
		     (struct mesh_tp_event){
			     .type = MESH_TP_CONN_DOWN,
			     .conn = c,
			     .status = c->down_status,
		     });
		c->down_pending = false;
	}
	return false;
}

static void serve_ready(struct mesh_transport *t, struct mesh_tp_event *ev, unsigned *n,
			unsigned max)
{
	for (unsigned k = t->ready.count; k > 0 && *n < max; k--) {
		struct mesh_conn *c = MESH_READY_ENTRY(t->ready.head, struct mesh_conn, ready);
		bool more = serve(t, c, ev, n, max);
		mesh_ready_remove(&t->ready, &c->ready);
		if (more)
			mesh_ready_push(&t->ready, &c->ready);
	}
}

/* ---- operations the provider has not taken yet ---- */

/* Hand @op to the provider: 0, -FI_EAGAIN, or another libfabric error. */
static ssize_t op_post(struct mesh_transport *t, struct op *op)
{
	if (op->kind == OP_TX)
		return fi_send(t->fep, op->buf, op->len, NULL, op->peer->addr, &op->fctx);
	assert(op->kind == OP_RMA);
	if (op->write) {
		/*
		 * Delivery complete: RMA_DONE of a write means the bytes are in
		 * the target's memory (shm would otherwise complete a small
		 * write as soon as it is queued, before the target copied it).
		 */
		struct iovec iov = { .iov_base = op->buf, .iov_len = op->len };
		struct fi_rma_iov rma = { .addr = op->raddr, .len = op->len, .key = op->rkey };
		struct fi_msg_rma msg = {
			.msg_iov = &iov,
			.iov_count = 1,
			.addr = op->peer->addr,
			.rma_iov = &rma,
			.rma_iov_count = 1,
			.context = &op->fctx,
		};
		return fi_writemsg(t->fep, &msg, FI_COMPLETION | FI_DELIVERY_COMPLETE);
	}
	return fi_read(t->fep, op->buf, op->len, NULL, op->peer->addr, op->raddr, op->rkey,
		       &op->fctx);
}

static void pend_push(struct mesh_transport *t, struct op *op)
{
	op->next = NULL;
	if (t->pend_tail)
		t->pend_tail->next = op;
	else
		t->pend_head = op;
	t->pend_tail = op;
}

static void op_log_fail(struct mesh_transport *t, const struct op *op, ssize_t rc)
{
	const char *what = op->kind == OP_TX ? "fi_send" : op->write ? "fi_write" : "fi_read";
	fab_log(t, "%s of %zu bytes failed: %s", what, op->len, fi_strerror((int)-rc));
}

/* A post from the queue failed for good: free @op and tell an RMA's caller. */
static void op_failed(struct mesh_transport *t, struct op *op, ssize_t rc, struct mesh_tp_event *ev,
		      unsigned *n)
{
	op_log_fail(t, op, rc);
	if (op->kind == OP_TX)
		tx_release(t, op);
	else
		rma_done(t, op, -EIO, ev, n);
}

/*
 * Post what waits, in order, until the provider refuses again. Providers
 * refuse the first operations to a new peer until its connection (rxm) or
 * mapping (shm) is made, which only progress in poll() makes.
 */
static void pend_flush(struct mesh_transport *t, struct mesh_tp_event *ev, unsigned *n,
		       unsigned max)
{
	while (t->pend_head && *n < max) {
		struct op *op = t->pend_head;
		ssize_t rc = op_post(t, op);
		if (rc == -FI_EAGAIN)
			return;
		t->pend_head = op->next;
		if (!t->pend_head)
			t->pend_tail = NULL;
		if (rc)
			op_failed(t, op, rc, ev, n);
	}
}

/*
 * Post @op now or, behind others or when the provider is full, later from
 * poll(). 0, or a negative errno with @op back on its free list.
 */
static int op_submit(struct mesh_transport *t, struct op *op)
{
	ssize_t rc = -FI_EAGAIN;
	if (!t->pend_head)
		rc = op_post(t, op);
	if (rc == -FI_EAGAIN) {
		pend_push(t, op);
		return 0;
	}
	if (rc) {
		op_log_fail(t, op, rc);
		if (op->kind == OP_TX)
			tx_release(t, op);
		else
			rma_release(t, op);
		return fi_errno(rc);
	}
	return 0;
}

/* RMA_DONE for operations refused before they reached the provider. */
static void done_flush(struct mesh_transport *t, struct mesh_tp_event *ev, unsigned *n,
		       unsigned max)
{
	while (t->done_head && *n < max) {
		struct op *op = t->done_head;
		t->done_head = op->next;
		if (!t->done_head)
			t->done_tail = NULL;
		rma_done(t, op, op->status, ev, n);
	}
}

/* ---- set-up and tear-down ---- */

/* fi_close @fid, logging a failure with @what. */
static void fid_close(struct mesh_transport *t, struct fid *fid, const char *what)
{
	int rc = fi_close(fid);
	if (rc)
		fab_log(t, "fi_close(%s) failed: %s", what, fi_strerror(-rc));
}

/*
 * fi_getinfo -> fabric -> domain -> CQ -> AV -> endpoint, bound and
 * enabled, and its name. The CQ gets a wait fd when the provider has one.
 */
static int fabric_open(struct mesh_transport *t, const char *node, size_t cq_size)
{
	int rc = info_get(t->prov, node, &t->info);
	if (rc) {
		opt_log(&t->opt, true, "fi_getinfo for provider \"%s\"%s%s: %s", t->prov,
			node ? " at " : "", node ? node : "", fi_strerror(-rc));
		return rc == -FI_ENODATA ? -ENODATA : fi_errno(rc);
	}
	struct fi_info *info = t->info;
	snprintf(t->prov_name, sizeof(t->prov_name), "%s", info->fabric_attr->prov_name);
	t->virt_addr = (info->domain_attr->mr_mode & FI_MR_VIRT_ADDR) != 0;
	t->mr_endpoint = (info->domain_attr->mr_mode & FI_MR_ENDPOINT) != 0;

	rc = fi_fabric(info->fabric_attr, &t->fabric, NULL);
	if (rc) {
		opt_log(&t->opt, true, "fi_fabric(%s): %s", t->prov_name, fi_strerror(-rc));
		goto free_info;
	}
	rc = fi_domain(t->fabric, info, &t->domain, NULL);
	if (rc) {
		opt_log(&t->opt, true, "fi_domain(%s): %s", t->prov_name, fi_strerror(-rc));
		goto close_fabric;
	}
	struct fi_cq_attr cq_attr = {
		.size = cq_size,
		.format = FI_CQ_FORMAT_MSG,
		.wait_obj = FI_WAIT_FD,
	};
	rc = fi_cq_open(t->domain, &cq_attr, &t->cq, NULL);
	if (rc) {
		/* shm 1.17: -FI_ENOSYS. Then there is nothing to sleep on. */
		cq_attr.wait_obj = FI_WAIT_NONE;
		rc = fi_cq_open(t->domain, &cq_attr, &t->cq, NULL);
	}
	if (rc) {
		opt_log(&t->opt, true, "fi_cq_open(%s, %zu entries): %s", t->prov_name, cq_size,
			fi_strerror(-rc));
		goto close_domain;
	}
	if (cq_attr.wait_obj == FI_WAIT_FD) {
		rc = fi_control(&t->cq->fid, FI_GETWAIT, &t->cq_fd);
		if (rc) {
			opt_log(&t->opt, true, "fi_control(FI_GETWAIT): %s", fi_strerror(-rc));
			goto close_cq;
		}
	}
	/* No count: shm refuses (-FI_ENOSYS) one above its peer limit (256). */
	struct fi_av_attr av_attr = { .type = FI_AV_TABLE };
	rc = fi_av_open(t->domain, &av_attr, &t->av, NULL);
	if (rc) {
		opt_log(&t->opt, true, "fi_av_open(%s): %s", t->prov_name, fi_strerror(-rc));
		goto close_cq;
	}
	rc = fi_endpoint(t->domain, info, &t->fep, NULL);
	if (rc) {
		opt_log(&t->opt, true, "fi_endpoint(%s): %s", t->prov_name, fi_strerror(-rc));
		goto close_av;
	}
	rc = fi_ep_bind(t->fep, &t->av->fid, 0);
	if (rc) {
		opt_log(&t->opt, true, "fi_ep_bind(av): %s", fi_strerror(-rc));
		goto close_ep;
	}
	rc = fi_ep_bind(t->fep, &t->cq->fid, FI_TRANSMIT | FI_RECV);
	if (rc) {
		opt_log(&t->opt, true, "fi_ep_bind(cq): %s", fi_strerror(-rc));
		goto close_ep;
	}
	rc = fi_enable(t->fep);
	if (rc) {
		opt_log(&t->opt, true, "fi_enable(%s): %s", t->prov_name, fi_strerror(-rc));
		goto close_ep;
	}
	t->name_len = sizeof(t->name);
	rc = fi_getname(&t->fep->fid, t->name, &t->name_len);
	if (rc) {
		opt_log(&t->opt, true, "fi_getname(%s): %s (name limit %u bytes)", t->prov_name,
			fi_strerror(-rc), MESH_FABRIC_NAME_MAX);
		goto close_ep;
	}
	return 0;

close_ep:
	fid_close(t, &t->fep->fid, "endpoint");
	t->fep = NULL;
close_av:
	fid_close(t, &t->av->fid, "av");
	t->av = NULL;
close_cq:
	fid_close(t, &t->cq->fid, "cq");
	t->cq = NULL;
	t->cq_fd = -1;
close_domain:
	fid_close(t, &t->domain->fid, "domain");
	t->domain = NULL;
close_fabric:
	fid_close(t, &t->fabric->fid, "fabric");
	t->fabric = NULL;
free_info:
	fi_freeinfo(t->info);
	t->info = NULL;
	return fi_errno(rc);
}

/* Everything fabric_open() made, endpoint first; MRs must be closed already. */
static void fabric_close(struct mesh_transport *t)
{
	fid_close(t, &t->fep->fid, "endpoint");
	fid_close(t, &t->av->fid, "av");
	fid_close(t, &t->cq->fid, "cq");
	fid_close(t, &t->domain->fid, "domain");
	fid_close(t, &t->fabric->fid, "fabric");
	fi_freeinfo(t->info);
	t->fep = NULL;
	t->av = NULL;
	t->cq = NULL;
	t->domain = NULL;
	t->fabric = NULL;
	t->info = NULL;
}

/* epoll set, eventfd, and the CQ's wait fd in the set. */
static int fds_open(struct mesh_transport *t)
{
	int rc;
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (t->epfd < 0)
		return -errno;
	t->kick.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t->kick.fd < 0)
		goto close_epfd;
	struct epoll_event ee = { .events = EPOLLIN, .data.ptr = &t->kick.fd };
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->kick.fd, &ee) < 0)
		goto close_kickfd;
	if (t->cq_fd >= 0) {
		ee.data.ptr = &t->cq_fd;
		if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->cq_fd, &ee) < 0)
			goto close_kickfd;
	}
	return 0;

close_kickfd:
	rc = -errno;
	close(t->kick.fd);
	t->kick.fd = -1;
	close(t->epfd);
	t->epfd = -1;
	return rc;
close_epfd:
	rc = -errno;
	close(t->epfd);
	t->epfd = -1;
	return rc;
}

static void fds_close(struct mesh_transport *t)
{
	if (t->kick.fd >= 0)
		close(t->kick.fd);
	if (t->epfd >= 0)
		close(t->epfd);
	t->kick.fd = t->epfd = -1;
}

/* Slot memory, op contexts, connection slots and the MR table. */
static int pools_alloc(struct mesh_transport *t)
{
	void *rx = NULL, *tx = NULL;
	if (posix_memalign(&rx, SLOT_ALIGN, t->rx_count * t->slot_bytes))
		return -ENOMEM;
	t->rx_mem = rx;
	if (posix_memalign(&tx, SLOT_ALIGN, t->tx_count * t->slot_bytes))
		goto free_rx;
	t->tx_mem = tx;
	t->ops = calloc(t->rx_count + t->tx_count + t->rma_count, sizeof(*t->ops));
	if (!t->ops)
		goto free_tx;
	t->conns = calloc(t->conn_max, sizeof(*t->conns));
	if (!t->conns)
		goto free_ops;
	t->mrs = calloc(MESH_FABRIC_MR_MAX, sizeof(*t->mrs));
	if (!t->mrs)
		goto free_conns;

	for (unsigned i = 0; i < t->conn_max; i++)
		t->conns[i] = (struct mesh_conn){ .gen = 1, .fd = -1, .index = i };
	for (unsigned i = 0; i < t->rx_count; i++) {
		struct op *op = &t->ops[i];
		op->kind = OP_RX;
		op->buf = t->rx_mem + (size_t)i * t->slot_bytes;
		repost_push(t, op);
	}
	for (unsigned i = 0; i < t->tx_count; i++) {
		struct op *op = &t->ops[t->rx_count + i];
		op->kind = OP_TX;
		op->buf = t->tx_mem + (size_t)i * t->slot_bytes;
		op->next = t->tx_free;
		t->tx_free = op;
	}
	for (unsigned i = 0; i < t->rma_count; i++) {
		struct op *op = &t->ops[t->rx_count + t->tx_count + i];
		op->kind = OP_RMA;
		op->next = t->rma_free;
		t->rma_free = op;
	}
	return 0;

free_conns:
	free(t->conns);
	t->conns = NULL;
free_ops:
	free(t->ops);
	t->ops = NULL;
free_tx:
	free(t->tx_mem);
	t->tx_mem = NULL;
free_rx:
	free(t->rx_mem);
	t->rx_mem = NULL;
	return -ENOMEM;
}

static void pools_free(struct mesh_transport *t)
{
	free(t->mrs);
	free(t->conns);
	free(t->ops);
	free(t->tx_mem);
	free(t->rx_mem);
}

/* Slots in @bytes (0: @dflt, at least MESH_FABRIC_SLOTS_MIN), or 0 if none fits. */
static unsigned slot_count(size_t bytes, size_t dflt, size_t slot_bytes)
{
	size_t n;
	if (bytes) {
		n = bytes / slot_bytes;
	} else {
		n = dflt / slot_bytes;
		if (n < MESH_FABRIC_SLOTS_MIN)
			n = MESH_FABRIC_SLOTS_MIN;
	}
	return n > MESH_FABRIC_SLOTS_MAX ? MESH_FABRIC_SLOTS_MAX : (unsigned)n;
}

static int fab_create(const struct mesh_transport_params *params, struct mesh_transport **out)
{
	assert(out);
	const struct mesh_fabric_options *o = params ? params->fabric : NULL;
	struct mesh_fabric_options opt = o ? *o : (struct mesh_fabric_options){ 0 };

	if (!params) {
		opt_log(&opt, true, "create: params are required");
		return -EINVAL;
	}
	const char *prov = prov_pick(opt.provider);
	if (!*prov || strlen(prov) > MESH_FABRIC_PROVIDER_MAX) {
		opt_log(&opt, true, "create: provider name \"%.40s\" empty or above %u bytes", prov,
			MESH_FABRIC_PROVIDER_MAX);
		return -EINVAL;
	}
	size_t msg_max = params->msg_bytes_max ? params->msg_bytes_max : MESH_PROTO_MSG_MAX;
	if (msg_max > MESH_FABRIC_MSG_BYTES_MAX) {
		opt_log(&opt, true, "create: msg_bytes_max %zu above the limit %u", msg_max,
			MESH_FABRIC_MSG_BYTES_MAX);
		return -EINVAL;
	}
	size_t slot_bytes = (msg_max + MSG_HDR_BYTES + SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN;
	unsigned rx = slot_count(params->rx_bytes, MESH_FABRIC_RX_BYTES_DEFAULT, slot_bytes);
	unsigned tx = slot_count(opt.tx_bytes, MESH_FABRIC_TX_BYTES_DEFAULT, slot_bytes);
	if (!rx || !tx) {
		opt_log(&opt, true, "create: rx_bytes %zu or tx_bytes %zu below one %zu-byte slot",
			params->rx_bytes, opt.tx_bytes, slot_bytes);
		return -EINVAL;
	}
	if (opt.conn_max > MESH_FABRIC_CONN_MAX || opt.rma_depth > MESH_FABRIC_RMA_DEPTH_MAX) {
		opt_log(&opt, true, "create: conn_max %u or rma_depth %u above the limits %u, %u",
			opt.conn_max, opt.rma_depth, MESH_FABRIC_CONN_MAX,
			MESH_FABRIC_RMA_DEPTH_MAX);
		return -EINVAL;
	}

	struct mesh_transport *t = calloc(1, sizeof(*t));
	if (!t) {
		opt_log(&opt, true, "create: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	t->magic = FABRIC_MAGIC;
	t->opt = opt;
	/* The caller's strings need not outlive create(). */
	t->opt.provider = NULL;
	t->opt.node = NULL;
	snprintf(t->prov, sizeof(t->prov), "%s", prov);
	t->cq_fd = -1;
	t->epfd = t->kick.fd = t->listenfd = -1;
	t->msg_bytes_max = msg_max;
	t->slot_bytes = slot_bytes;
	t->conn_max = opt.conn_max ? opt.conn_max : MESH_FABRIC_CONN_MAX;
	t->rma_count = opt.rma_depth ? opt.rma_depth : MESH_FABRIC_RMA_DEPTH_DEFAULT;
	t->key_next = 1;
	t->key_gen = 1;

	/* shm's endpoint name is its region's in /dev/shm: a caller's node
	 * would give every endpoint on the host the same one, and shm's own
	 * ("PID:0:0") meets the region a killed process of the same pid left
	 * behind. Either way fi_enable fails with EBUSY. A random name
	 * meets neither. */
	const char *node = opt.node;
	char shm_name[48];
	if (strcmp(prov, "shm") == 0) {
		uint64_t r = 0;
		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
			r = (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)t;
		snprintf(shm_name, sizeof(shm_name), "mesh-%d-%016llx", (int)getpid(),
			 (unsigned long long)r);
		node = shm_name;
	}
	int rc = fabric_open(t, node, (size_t)rx + tx + t->rma_count);
	if (rc)
		goto free_t;
	/* The provider's queues bound what may be posted at once. */
	if (t->info->rx_attr->size && rx > t->info->rx_attr->size)
		rx = (unsigned)t->info->rx_attr->size;
	if (t->info->tx_attr->size && tx > t->info->tx_attr->size)
		tx = (unsigned)t->info->tx_attr->size;
	t->rx_count = rx;
	t->tx_count = tx;

	rc = fds_open(t);
	if (rc) {
		opt_log(&t->opt, true, "create: epoll or eventfd: %s", strerror(-rc));
		goto close_fabric;
	}
	rc = pools_alloc(t);
	if (rc) {
		opt_log(&t->opt, true, "create: %u+%u slots of %zu bytes: %s", rx, tx, slot_bytes,
			strerror(-rc));
		goto close_fds;
	}
	repost_all(t);
	if (t->repost) {
		opt_log(&t->opt, true, "create: the provider took only part of %u receives", rx);
		rc = -ENOBUFS;
		goto free_pools;
	}
	*out = t;
	return 0;

free_pools:
	/* Receives are posted: the endpoint must go before their buffers. */
	fabric_close(t);
	fds_close(t);
	pools_free(t);
	free(t);
	return rc;
close_fds:
	fds_close(t);
close_fabric:
	fabric_close(t);
free_t:
	free(t);
	return rc;
}

static void fab_destroy(struct mesh_transport *t)
{
	if (!t)
		return;
	assert(t->magic == FABRIC_MAGIC);
	for (unsigned i = 0; i < t->conn_max; i++)
		if (t->conns[i].state != C_FREE)
			conn_release(t, &t->conns[i]);
	for (unsigned i = 0; i < t->mr_count; i++)
		fid_close(t, &t->mrs[i].mr->fid, "mr");
	if (t->listenfd >= 0)
		close(t->listenfd);
	/* Closing the endpoint ends what is in flight; no completion is read. */
	fabric_close(t);
	while (t->peers) {
		struct peer *p = t->peers;
		t->peers = p->next;
		free(p);
	}
	fds_close(t);
	pools_free(t);
	t->magic = 0;
	free(t);
}

/* ---- connection ops ---- */

static int fab_listen(struct mesh_transport *t, const char *addr)
{
	assert(t);
	struct sockaddr_in sa;
	int rc = mesh_addr_parse(addr, &sa);
	if (rc)
		return rc;
	if (t->listenfd >= 0)
		return -EINVAL;
	int fd = mesh_sock_listen(t->epfd, &t->listenfd, &sa, MESH_FABRIC_BACKLOG, NULL);
	if (fd < 0) {
		fab_log(t, "listen at %s failed: %s", addr, strerror(-fd));
		return fd;
	}
	t->listenfd = fd;
	t->port = ntohs(sa.sin_port);
	return 0;
}

/*
 * Returns a connection at once; CONN_UP (or CONN_DOWN with the reason)
 * follows from poll(). -EINVAL for a bad address or port 0, -EMFILE at the
 * connection limit, or the error of a connect() that failed at once.
 */
static int fab_connect(struct mesh_transport *t, const char *addr, struct mesh_conn **out)
{
	assert(t && out);
	struct sockaddr_in sa;
	int rc = mesh_addr_parse_peer(addr, &sa);
	if (rc)
		return rc;
	if (t->conn_count >= t->conn_max)
		return -EMFILE;
	int fd = mesh_sock_connect(&sa, &hello_tuning);
	if (fd < 0) {
		rc = fd;
		goto fail;
	}
	rc = conn_new(t, fd, C_CONNECTING, &sa, out);
	if (rc)
		goto close_fd;
	return 0;

close_fd:
	close(fd);
fail:
	fab_log(t, "connect to %s failed: %s", addr, strerror(-rc));
	return rc;
}

static void fab_disconnect(struct mesh_conn *c)
{
	if (!c)
		return;
	struct mesh_transport *t = c->ep;
	assert(c->state != C_FREE);
	conn_release(t, c);
	kick_sync(t, false);
}

static void fab_set_conn_ctx(struct mesh_conn *c, void *ctx)
{
	assert(c);
	c->ctx = ctx;
}

static void *fab_conn_ctx(const struct mesh_conn *c)
{
	assert(c);
	return c->ctx;
}

/* ---- data path: no allocation ---- */

/* -EAGAIN until CONN_UP has been delivered; -ENOTCONN once down. */
static int conn_usable(const struct mesh_conn *c)
{
	if (c->state == C_DOWN)
		return -ENOTCONN;
	return c->state == C_UP && !c->up_pending ? 0 : -EAGAIN;
}

static int fab_send(struct mesh_conn *c, const struct mesh_iov *iov, unsigned iovcnt)
{
	assert(c && c->state != C_FREE);
	struct mesh_transport *t = c->ep;
	if (c->state == C_DOWN)
		return -ENOTCONN;
	if (iovcnt && !iov)
		return -EINVAL;
	size_t len = 0;
	for (unsigned i = 0; i < iovcnt; i++) {
		if (iov[i].len && !iov[i].base)
			return -EINVAL;
		if (iov[i].len > t->msg_bytes_max - len)
			return -EMSGSIZE;
		len += iov[i].len;
	}
	if (len == 0)
		return -EINVAL;
	int rc = conn_usable(c);
	if (rc)
		return rc;
	if (len > c->send_max)
		return -EMSGSIZE;
	struct op *op = t->tx_free;
	if (!op)
		return -EAGAIN;

	le_put(op->buf, c->peer_id, 8);
	size_t at = MSG_HDR_BYTES;
	for (unsigned i = 0; i < iovcnt; i++) {
		if (!iov[i].len)
			continue;
		memcpy(op->buf + at, iov[i].base, iov[i].len);
		at += iov[i].len;
	}
	t->tx_free = op->next;
	op->len = at;
	op->peer = c->peer;
	op->peer->refs++;
	return op_submit(t, op);
}

/* The access bits @rkey was exposed with. */static unsigned rkey_access(const struct mesh_transport *t, uint64_t rkey)
{
	return (unsigned)(t->virt_addr ? rkey >> RKEY_BASE_BITS : rkey) & 3u;
}

/*
 * The remote address of [@offset, @offset + @len) in region @rkey: the base
 * the rkey carries plus @offset with VIRT_ADDR, else @offset. -ERANGE when
 * that overflows.
 */
static int rma_addr(const struct mesh_transport *t, uint64_t rkey, uint64_t offset, size_t len,
		    uint64_t *addr)
{
	uint64_t base = t->virt_addr ? rkey & RKEY_BASE_MASK : 0;
	if (offset > UINT64_MAX - base || (uint64_t)len > UINT64_MAX - (base + offset))
		return -ERANGE;
	*addr = base + offset;
	return 0;
}

static int rma_post(struct mesh_conn *c, uint64_t rkey, uint64_t offset, void *buf, size_t len,
		    uint64_t cookie, bool write)
{
	assert(c && c->state != C_FREE);
	struct mesh_transport *t = c->ep;
	if (c->state == C_DOWN)
		return -ENOTCONN;
	if (!buf || len == 0)
		return -EINVAL;
	uint64_t addr;
	int rc = rma_addr(t, rkey, offset, len, &addr);
	if (rc)
		return rc;
	rc = conn_usable(c);
	if (rc)
		return rc;
	struct op *op = t->rma_free;
	if (!op)
		return -EAGAIN;
	t->rma_free = op->next;
	op->conn = c;
	op->cookie = cookie;
	op->peer = c->peer;
	op->peer->refs++;
	op->buf = buf;
	op->len = len;
	op->raddr = addr;
	op->rkey = rkey;
	op->write = write;
	if (!(rkey_access(t, rkey) & (write ? MESH_RMA_WRITE : MESH_RMA_READ))) {
		/* The key itself says no: fail without touching the fabric. */
		op->status = -EACCES;
		op->next = NULL;
		if (t->done_tail)
			t->done_tail->next = op;
		else
			t->done_head = op;
		t->done_tail = op;
		return 0;
	}
	return op_submit(t, op);
}

static int fab_rma_read(struct mesh_conn *c, uint64_t rkey, uint64_t offset, void *buf,
			size_t len, uint64_t cookie)
{
	return rma_post(c, rkey, offset, buf, len, cookie, false);
}

static int fab_rma_write(struct mesh_conn *c, uint64_t rkey, uint64_t offset, const void *buf,
			 size_t len, uint64_t cookie)
{
	/* fi_write takes a non-const buffer but only reads it. */
	return rma_post(c, rkey, offset, (void *)buf, len, cookie, true);
}

/* ---- memory regions ---- */

/* The next rkey for a region at @base with @access (see RKEY_BASE_BITS). */
static uint64_t rkey_next(struct mesh_transport *t, const void *base, unsigned access)
{
	if (!t->virt_addr)
		return t->key_next++ << 2 | access;
	uint64_t key = (uint64_t)t->key_gen << (RKEY_BASE_BITS + 2) |
		       (uint64_t)access << RKEY_BASE_BITS | (uintptr_t)base;
	t->key_gen = (uint16_t)((t->key_gen & RKEY_GEN_MASK) + 1);
	if (t->key_gen > RKEY_GEN_MASK)
		t->key_gen = 1;
	return key;
}

static int fab_mr_expose(struct mesh_transport *t, void *base, size_t len, unsigned access,
			 uint64_t *rkey)
{
	assert(t);
	if (!base || !len || !rkey || !access || (access & ~(MESH_RMA_READ | MESH_RMA_WRITE)))
		return -EINVAL;
	if (t->virt_addr && ((uintptr_t)base > RKEY_BASE_MASK ||
			     len > RKEY_BASE_MASK + 1 - (uintptr_t)base)) {
		fab_log(t, "expose: region %p+%zu lies above the %d address bits an rkey carries",
			base, len, RKEY_BASE_BITS);
		return -EINVAL;
	}
	if (t->mr_count == MESH_FABRIC_MR_MAX)
		return -ENOSPC;
	uint64_t acc = ((access & MESH_RMA_READ) ? FI_REMOTE_READ : 0) |
		       ((access & MESH_RMA_WRITE) ? FI_REMOTE_WRITE : 0);
	struct fid_mr *mr = NULL;
	uint64_t key = 0;
	int rc = -FI_ENOKEY;
	for (int i = 0; i < RKEY_TRIES && rc == -FI_ENOKEY; i++) {
		key = rkey_next(t, base, access);
		rc = fi_mr_reg(t->domain, base, len, acc, 0, key, 0, &mr, NULL);
	}
	if (rc) {
		fab_log(t, "fi_mr_reg of %p+%zu failed: %s", base, len, fi_strerror(-rc));
		return fi_errno(rc);
	}
	if (t->mr_endpoint) {
		rc = fi_mr_bind(mr, &t->fep->fid, 0);
		if (rc) {
			fab_log(t, "fi_mr_bind failed: %s", fi_strerror(-rc));
			goto close_mr;
		}
		rc = fi_mr_enable(mr);
		if (rc) {
			fab_log(t, "fi_mr_enable failed: %s", fi_strerror(-rc));
			goto close_mr;
		}
	}
	if (fi_mr_key(mr) != key) {
		fab_log(t, "the provider chose key %llx over ours %llx",
			(unsigned long long)fi_mr_key(mr), (unsigned long long)key);
		rc = -FI_ENOSYS;
		goto close_mr;
	}
	t->mrs[t->mr_count++] = (struct mr_slot){ .mr = mr, .rkey = key };
	*rkey = key;
	return 0;

close_mr:
	fid_close(t, &mr->fid, "mr");
	return rc == -FI_ENOSYS ? -ENOTSUP : fi_errno(rc);
}

/* -ENOENT when @rkey is not exposed here (never, or revoked already). */
static int fab_mr_revoke(struct mesh_transport *t, uint64_t rkey)
{
	assert(t);
	for (unsigned i = 0; i < t->mr_count; i++) {
		if (t->mrs[i].rkey != rkey)
			continue;
		int rc = fi_close(&t->mrs[i].mr->fid);
		if (rc) {
			fab_log(t, "fi_close(mr %llx) failed: %s", (unsigned long long)rkey,
				fi_strerror(-rc));
			return fi_errno(rc);
		}
		t->mrs[i] = t->mrs[--t->mr_count];
		return 0;
	}
	return -ENOENT;
}

/* ---- poll ---- */

static int fab_poll(struct mesh_transport *t, struct mesh_tp_event *ev, unsigned max)
{
	assert(t && (ev || !max));
	if (max > INT_MAX)
		max = INT_MAX;
	/* RECV data handed out by the previous poll dies here. */
	repost_all(t);
	int rc = harvest(t);
	unsigned n = 0;
	pend_flush(t, ev, &n, max);
	serve_ready(t, ev, &n, max);
	done_flush(t, ev, &n, max);
	int crc = cq_drain(t, ev, &n, max);
	/* Completions made room; messages arrived behind a CONN_UP. */
	pend_flush(t, ev, &n, max);
	serve_ready(t, ev, &n, max);
	kick_sync(t, n == max);
	if (n == 0)
		return rc < 0 ? rc : crc;
	return (int)n;
}

static int fab_wait_fd(struct mesh_transport *t)
{
	assert(t);
	return t->cq_fd >= 0 ? t->epfd : -ENOTSUP;
}

int mesh_fabric_bound_port(const struct mesh_transport *t)
{
	assert(t && t->magic == FABRIC_MAGIC);
	return t->listenfd >= 0 ? (int)t->port : -EINVAL;
}

const char *mesh_fabric_provider(const struct mesh_transport *t)
{
	assert(t && t->magic == FABRIC_MAGIC);
	return t->prov_name;
}

const struct mesh_transport_ops mesh_transport_fabric = {
	.name = "fabric",
	.create = fab_create,
	.destroy = fab_destroy,
	.listen = fab_listen,
	.connect = fab_connect,
	.disconnect = fab_disconnect,
	.set_conn_ctx = fab_set_conn_ctx,
	.conn_ctx = fab_conn_ctx,
	.send = fab_send,
	.mr_expose = fab_mr_expose,
	.mr_revoke = fab_mr_revoke,
	.rma_read = fab_rma_read,
	.rma_write = fab_rma_write,
	.poll = fab_poll,
	.wait_fd = fab_wait_fd,
};

/*
 * core/proto.c: encoding and strict decoding of mesh messages (see proto.h
 * for the header layout and the error contract).
 *
 * Each message type is one row of a table: its body size, how the length of
 * its data payload is found, its body version, and three functions that put,
 * get and range-check its body. Encode and decode share the range check, so
 * encode refuses exactly what decode would refuse and every encoded message
 * decodes back to the same fields.
 *
 * Bodies pack the fields of the matching struct in declaration order with
 * fixed widths (u8, u32, u64; i32 as its two's complement u32) and no
 * padding. A group configuration always carries MESH_GROUP_MEMBERS_MAX
 * member slots, so every type's body has one fixed size; the slots past
 * member_count are all zero.
 */
#include "core/proto.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "core/bytes.h"
#include "core/crc32c.h"
#include "core/env.h"

/* Header field offsets; the table in proto.h is the reference. */
#define OFF_MAGIC 0
#define OFF_VERSION 4
#define OFF_TYPE 5
#define OFF_TYPE_VERSION 6
#define OFF_FLAGS 7
#define OFF_LENGTH 8
#define OFF_CRC 12
#define OFF_REQ_ID 16
#define OFF_EPOCH 24

/* On-wire sizes of the shared pieces of a body. */
#define MEMBER_BYTES 18u	/* node u32, drive u32, role u8, state u8, offset u64 */
/* group, epoch, bytes u64; copies, member_count u8; the member slots */
#define CONFIG_BYTES (8u + 8u + 8u + 1u + 1u + MESH_GROUP_MEMBERS_MAX * MEMBER_BYTES)

/*
 * Body sizes: the sum of each struct's field widths. type_info keeps them in
 * a u8, and header + body must fit MESH_PROTO_PREFIX_MAX (checked below).
 */
#define IO_BYTES (8u + 4u + 4u + 8u + 4u + 8u + 8u + 8u)
#define IO_REPLY_BYTES (4u + 4u)
#define RMA_GRANT_REQ_BYTES (8u + 4u + 4u + 8u + 8u)
#define RMA_GRANT_BYTES (4u + 4u + 8u + 8u + 8u)
#define RMA_REVOKE_BYTES 8u
#define HEARTBEAT_BYTES (8u + 4u + 4u + 8u)
#define CONFIG_READ_BYTES (8u + 8u)
#define CONFIG_REPLY_BYTES (4u + 8u + 8u + CONFIG_BYTES)
#define CONFIG_PROPOSE_BYTES (8u + CONFIG_BYTES)
#define CONFIG_ACCEPT_BYTES (8u + 8u + 8u + 4u + 8u)
#define LEASE_REQUEST_BYTES (8u + 4u + 8u + 8u + 8u)
#define LEASE_GRANT_BYTES (4u + 8u + 8u + 8u + CONFIG_BYTES)
#define ERROR_BYTES 4u

#define RMA_ACCESS_ALL (MESH_RMA_READ | MESH_RMA_WRITE)
#define IO_FLAGS_ALL MESH_IO_F_RESYNC

/* How a type's data payload length is determined. */
enum payload {
	PAYLOAD_NONE,		/* no data: length is exactly header + body */
	PAYLOAD_BODY_FIELD,	/* a body field states the data length */
	PAYLOAD_REST,		/* whatever follows the body (ERROR detail) */
};

struct type_info {
	const char *name;
	uint8_t version;	/* body version this build speaks; 0 = unused row */
	uint8_t body_bytes;
	enum payload payload;
	void (*put)(const struct mesh_msg *m, uint8_t *p);
	void (*get)(struct mesh_msg *m, const uint8_t *p);
	/* 0 if every body field is in range, else -ERANGE. */
	int (*check)(const struct mesh_msg *m);
	/* PAYLOAD_BODY_FIELD only: data length the body announces. */
	uint32_t (*data_len)(const struct mesh_msg *m);
};

/* Little cursors so a body reads like its struct. */
static uint8_t *put8(uint8_t *p, uint8_t v) { mesh_put_u8(p, v); return p + 1; }
static uint8_t *put32(uint8_t *p, uint32_t v) { mesh_put_u32(p, v); return p + 4; }
static uint8_t *put64(uint8_t *p, uint64_t v) { mesh_put_u64(p, v); return p + 8; }

static uint8_t *puti32(uint8_t *p, int32_t v)
{
	return put32(p, (uint32_t)v);
}

static const uint8_t *get8(const uint8_t *p, uint8_t *v)
{
	*v = mesh_get_u8(p);
	return p + 1;
}

static const uint8_t *get32(const uint8_t *p, uint32_t *v)
{
	*v = mesh_get_u32(p);
	return p + 4;
}

static const uint8_t *get64(const uint8_t *p, uint64_t *v)
{
	*v = mesh_get_u64(p);
	return p + 8;
}

/* Two's complement without relying on implementation-defined conversion. */
static const uint8_t *geti32(const uint8_t *p, int32_t *v)
{
	uint32_t u = mesh_get_u32(p);

	*v = u <= INT32_MAX ? (int32_t)u : -(int32_t)(~u) - 1;
	return p + 4;
}

static int check_status(int32_t status)
{
	return status <= 0 ? 0 : -ERANGE;
}

/* True if a + b wraps around u64. */
static int add_overflows(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b;
}

/* ---- IO_READ, IO_WRITE ---- */

static void io_put(const struct mesh_msg *m, uint8_t *p)
{
	const struct mesh_msg_io *b = &m->u.io;

	p = put64(p, b->group);
	p = put32(p, b->drive);
	p = put32(p, b->length);
	p = put64(p, b->offset);
	p = put32(p, b->flags);
	p = put64(p, b->incarnation);
	p = put64(p, b->seq);
	put64(p, b->settled);
}

static void io_get(struct mesh_msg *m, const uint8_t *p)
{
	struct mesh_msg_io *b = &m->u.io;

	p = get64(p, &b->group);
	p = get32(p, &b->drive);
	p = get32(p, &b->length);
	p = get64(p, &b->offset);
	p = get32(p, &b->flags);
	p = get64(p, &b->incarnation);
	p = get64(p, &b->seq);
	get64(p, &b->settled);
}

static int io_check(const struct mesh_msg *m)
{
	const struct mesh_msg_io *b = &m->u.io;

	if (b->length == 0 || b->length > MESH_PROTO_DATA_MAX)
		return -ERANGE;
	if (add_overflows(b->offset, b->length))
		return -ERANGE;
	if (b->flags & ~IO_FLAGS_ALL)
		return -ERANGE;
	return 0;
}

static uint32_t io_data_len(const struct mesh_msg *m)
{
	return m->u.io.length;
}

/* ---- IO_REPLY ---- */

static void io_reply_put(const struct mesh_msg *m, uint8_t *p)
{
	p = puti32(p, m->u.io_reply.status);
	put32(p, m->u.io_reply.length);
}

static void io_reply_get(struct mesh_msg *m, const uint8_t *p)
{
	p = geti32(p, &m->u.io_reply.status);
	get32(p, &m->u.io_reply.length);
}

static int io_reply_check(const struct mesh_msg *m)
{
	const struct mesh_msg_io_reply *b = &m->u.io_reply;

	if (check_status(b->status))
		return -ERANGE;
	if (b->length > MESH_PROTO_DATA_MAX)
		return -ERANGE;
	/* A failed request returns no data; data with an error is ambiguous. */
	if (b->status != 0 && b->length != 0)
		return -ERANGE;
	return 0;
}

static uint32_t io_reply_data_len(const struct mesh_msg *m)
{
	return m->u.io_reply.length;
}

/* ---- RMA_GRANT_REQ, RMA_GRANT, RMA_REVOKE ---- */

static void rma_grant_req_put(const struct mesh_msg *m, uint8_t *p)
{
	const struct mesh_msg_rma_grant_req *b = &m->u.rma_grant_req;

	p = put64(p, b->group);
	p = put32(p, b->drive);
	p = put32(p, b->access);
	p = put64(p, b->offset);
	put64(p, b->length);
}

static void rma_grant_req_get(struct mesh_msg *m, const uint8_t *p)
{
	struct mesh_msg_rma_grant_req *b = &m->u.rma_grant_req;

	p = get64(p, &b->group);
	p = get32(p, &b->drive);
	p = get32(p, &b->access);
	p = get64(p, &b->offset);
	get64(p, &b->length);
}

static int rma_grant_req_check(const struct mesh_msg *m)
{
	const struct mesh_msg_rma_grant_req *b = &m->u.rma_grant_req;

	if (b->access == 0 || (b->access & ~RMA_ACCESS_ALL))
		return -ERANGE;
	if (b->length == 0 || add_overflows(b->offset, b->length))
		return -ERANGE;
	return 0;
}

static void rma_grant_put(const struct mesh_msg *m, uint8_t *p)
{
	const struct mesh_msg_rma_grant *b = &m->u.rma_grant;

	p = puti32(p, b->status);
	p = put32(p, b->access);
	p = put64(p, b->rkey);
	p = put64(p, b->remote_offset);
	put64(p, b->length);
}

static void rma_grant_get(struct mesh_msg *m, const uint8_t *p)
{
	struct mesh_msg_rma_grant *b = &m->u.rma_grant;

	p = geti32(p, &b->status);
	p = get32(p, &b->access);
	p = get64(p, &b->rkey);
	p = get64(p, &b->remote_offset);
	get64(p, &b->length);
}

static int rma_grant_check(const struct mesh_msg *m)
{
	const struct mesh_msg_rma_grant *b = &m->u.rma_grant;

	if (check_status(b->status))
		return -ERANGE;
	if (b->access & ~RMA_ACCESS_ALL)
		return -ERANGE;
	if (add_overflows(b->remote_offset, b->length))
		return -ERANGE;
	/* A refusal grants nothing, so only a success needs a usable range. */
	if (b->status == 0 && (b->access == 0 || b->length == 0))
		return -ERANGE;
	return 0;
}

static void rma_revoke_put(const struct mesh_msg *m, uint8_t *p)
{
	put64(p, m->u.rma_revoke.rkey);
}

static void rma_revoke_get(struct mesh_msg *m, const uint8_t *p)
{
	get64(p, &m->u.rma_revoke.rkey);
}

/* ---- HEARTBEAT ---- */

static void heartbeat_put(const struct mesh_msg *m, uint8_t *p)
{
	const struct mesh_msg_heartbeat *b = &m->u.heartbeat;

	p = put64(p, b->group);
	p = put32(p, b->sender);
	p = put32(p, b->seq);
	put64(p, b->config_epoch);
}

static void heartbeat_get(struct mesh_msg *m, const uint8_t *p)
{
	struct mesh_msg_heartbeat *b = &m->u.heartbeat;

	p = get64(p, &b->group);
	p = get32(p, &b->sender);
	p = get32(p, &b->seq);
	get64(p, &b->config_epoch);
}

/* ---- group configuration: CONFIG_REPLY, CONFIG_PROPOSE, LEASE_GRANT ---- */

static uint8_t *config_put(const struct mesh_group_config *c, uint8_t *p)
{
	p = put64(p, c->group);
	p = put64(p, c->epoch);
	p = put64(p, c->bytes);
	p = put8(p, c->copies);
	p = put8(p, c->member_count);
	for (unsigned i = 0; i < MESH_GROUP_MEMBERS_MAX; i++) {
		p = put32(p, c->members[i].node);
		p = put32(p, c->members[i].drive);
		p = put8(p, c->members[i].role);
		p = put8(p, c->members[i].state);
		p = put64(p, c->members[i].offset);
	}
	return p;
}

static const uint8_t *config_get(struct mesh_group_config *c, const uint8_t *p)
{
	p = get64(p, &c->group);
	p = get64(p, &c->epoch);
	p = get64(p, &c->bytes);
	p = get8(p, &c->copies);
	p = get8(p, &c->member_count);
	for (unsigned i = 0; i < MESH_GROUP_MEMBERS_MAX; i++) {
		p = get32(p, &c->members[i].node);
		p = get32(p, &c->members[i].drive);
		p = get8(p, &c->members[i].role);
		p = get8(p, &c->members[i].state);
		p = get64(p, &c->members[i].offset);
	}
	return p;
}

static int member_is_zero(const struct mesh_group_member *mb)
{
	return mb->node == 0 && mb->drive == 0 && mb->role == 0 && mb->state == 0 &&
	       mb->offset == 0;
}

static int config_is_empty(const struct mesh_group_config *c)
{
	if (c->group || c->epoch || c->bytes || c->copies || c->member_count)
		return 0;
	for (unsigned i = 0; i < MESH_GROUP_MEMBERS_MAX; i++)
		if (!member_is_zero(&c->members[i]))
			return 0;
	return 1;
}

static int config_check(const struct mesh_group_config *c)
{
	unsigned replicas = 0;

	if (c->copies < 1 || c->copies > 3)
		return -ERANGE;
	if (c->member_count < 1 || c->member_count > MESH_GROUP_MEMBERS_MAX)
		return -ERANGE;
	for (unsigned i = 0; i < c->member_count; i++) {
		const struct mesh_group_member *mb = &c->members[i];

		if (mb->role != MESH_MEMBER_REPLICA && mb->role != MESH_MEMBER_WITNESS)
			return -ERANGE;
		if (mb->state < MESH_MEMBER_ACTIVE || mb->state > MESH_MEMBER_REBUILDING)
			return -ERANGE;
		replicas += mb->role == MESH_MEMBER_REPLICA;
	}
	if (replicas != c->copies)
		return -ERANGE;
	/* Unused slots must be zero so that one configuration has one encoding. */
	for (unsigned i = c->member_count; i < MESH_GROUP_MEMBERS_MAX; i++)
		if (!member_is_zero(&c->members[i]))
			return -ERANGE;
	return 0;
}

int mesh_proto_group_config_check(const struct mesh_group_config *c)
{
	return config_check(c) ? -EINVAL : 0;
}

/*
 * The configuration a voter answers with: valid when @status is 0. A voter
 * that refuses (say, it has no configuration for the group) may send an
 * all-zero one instead of a real one.
 */
static int answer_config_check(int32_t status, const struct mesh_group_config *c)
{
	if (check_status(status))
		return -ERANGE;
	if (status != 0 && config_is_empty(c))
		return 0;
	return config_check(c);
}

/* ---- CONFIG_READ, CONFIG_REPLY, CONFIG_PROPOSE, CONFIG_ACCEPT ---- */

static void config_read_put(const struct mesh_msg *m, uint8_t *p)
{
	p = put64(p, m->u.config_read.group);
	put64(p, m->u.config_read.ballot);
}

static void config_read_get(struct mesh_msg *m, const uint8_t *p)
{
	p = get64(p, &m->u.config_read.group);
	get64(p, &m->u.config_read.ballot);
}

static void config_reply_put(const struct mesh_msg *m, uint8_t *p)
{
	const struct mesh_msg_config_reply *b = &m->u.config_reply;

	p = puti32(p, b->status);
	p = put64(p, b->promised);
	p = put64(p, b->accepted_ballot);
	config_put(&b->config, p);
}

static void config_reply_get(struct mesh_msg *m, const uint8_t *p)
{
	struct mesh_msg_config_reply *b = &m->u.config_reply;

	p = geti32(p, &b->status);
	p = get64(p, &b->promised);
	p = get64(p, &b->accepted_ballot);
	config_get(&b->config, p);
}

static int config_reply_check(const struct mesh_msg *m)
{
	return answer_config_check(m->u.config_reply.status, &m->u.config_reply.config);
}

static void config_propose_put(const struct mesh_msg *m, uint8_t *p)
{
	p = put64(p, m->u.config_propose.ballot);
	config_put(&m->u.config_propose.config, p);
}

static void config_propose_get(struct mesh_msg *m, const uint8_t *p)
{
	p = get64(p, &m->u.config_propose.ballot);
	config_get(&m->u.config_propose.config, p);
}

static int config_propose_check(const struct mesh_msg *m)
{
	return config_check(&m->u.config_propose.config);
}

static void config_accept_put(const struct mesh_msg *m, uint8_t *p)
{
	const struct mesh_msg_config_accept *b = &m->u.config_accept;

	p = put64(p, b->group);
	p = put64(p, b->ballot);
	p = put64(p, b->epoch);
	p = puti32(p, b->status);
	put64(p, b->retry_ns);
}

static void config_accept_get(struct mesh_msg *m, const uint8_t *p)
{
	struct mesh_msg_config_accept *b = &m->u.config_accept;

	p = get64(p, &b->group);
	p = get64(p, &b->ballot);
	p = get64(p, &b->epoch);
	p = geti32(p, &b->status);
	get64(p, &b->retry_ns);
}

static int config_accept_check(const struct mesh_msg *m)
{
	return check_status(m->u.config_accept.status);
}

/* ---- LEASE_REQUEST, LEASE_GRANT ---- */

static void lease_request_put(const struct mesh_msg *m, uint8_t *p)
{
	const struct mesh_msg_lease_request *b = &m->u.lease_request;

	p = put64(p, b->group);
	p = put32(p, b->client);
	p = put64(p, b->duration_ns);
	p = put64(p, b->incarnation);
	put64(p, b->settled);
}

static void lease_request_get(struct mesh_msg *m, const uint8_t *p)
{
	struct mesh_msg_lease_request *b = &m->u.lease_request;

	p = get64(p, &b->group);
	p = get32(p, &b->client);
	p = get64(p, &b->duration_ns);
	p = get64(p, &b->incarnation);
	get64(p, &b->settled);
}

static int lease_request_check(const struct mesh_msg *m)
{
	return m->u.lease_request.duration_ns != 0 ? 0 : -ERANGE;
}

static void lease_grant_put(const struct mesh_msg *m, uint8_t *p)
{
	const struct mesh_msg_lease_grant *b = &m->u.lease_grant;

	p = puti32(p, b->status);
	p = put64(p, b->group);
	p = put64(p, b->lease_ns);
	p = put64(p, b->ballot);
	config_put(&b->config, p);
}

static void lease_grant_get(struct mesh_msg *m, const uint8_t *p)
{
	struct mesh_msg_lease_grant *b = &m->u.lease_grant;

	p = geti32(p, &b->status);
	p = get64(p, &b->group);
	p = get64(p, &b->lease_ns);
	p = get64(p, &b->ballot);
	config_get(&b->config, p);
}

static int lease_grant_check(const struct mesh_msg *m)
{
	return answer_config_check(m->u.lease_grant.status, &m->u.lease_grant.config);
}

/* ---- ERROR ---- */

static void error_put(const struct mesh_msg *m, uint8_t *p)
{
	puti32(p, m->u.error.code);
}

static void error_get(struct mesh_msg *m, const uint8_t *p)
{
	geti32(p, &m->u.error.code);
}

static int error_check(const struct mesh_msg *m)
{
	if (m->u.error.code >= 0)
		return -ERANGE;
	if (m->data_len > MESH_PROTO_ERROR_DETAIL_MAX)
		return -ERANGE;
	return 0;
}

static int no_check(const struct mesh_msg *m)
{
	(void)m;
	return 0;
}

static const struct type_info types[MESH_MSG_TYPE_END] = {
	[MESH_MSG_IO_READ] = {
		.name = "IO_READ", .version = 2, .body_bytes = IO_BYTES,
		.payload = PAYLOAD_NONE,
		.put = io_put, .get = io_get, .check = io_check,
	},
	[MESH_MSG_IO_WRITE] = {
		.name = "IO_WRITE", .version = 2, .body_bytes = IO_BYTES,
		.payload = PAYLOAD_BODY_FIELD, .data_len = io_data_len,
		.put = io_put, .get = io_get, .check = io_check,
	},
	[MESH_MSG_IO_REPLY] = {
		.name = "IO_REPLY", .version = 1, .body_bytes = IO_REPLY_BYTES,
		.payload = PAYLOAD_BODY_FIELD, .data_len = io_reply_data_len,
		.put = io_reply_put, .get = io_reply_get, .check = io_reply_check,
	},
	[MESH_MSG_RMA_GRANT_REQ] = {
		.name = "RMA_GRANT_REQ", .version = 1, .body_bytes = RMA_GRANT_REQ_BYTES,
		.payload = PAYLOAD_NONE,
		.put = rma_grant_req_put, .get = rma_grant_req_get,
		.check = rma_grant_req_check,
	},
	[MESH_MSG_RMA_GRANT] = {
		.name = "RMA_GRANT", .version = 1, .body_bytes = RMA_GRANT_BYTES,
		.payload = PAYLOAD_NONE,
		.put = rma_grant_put, .get = rma_grant_get, .check = rma_grant_check,
	},
	[MESH_MSG_RMA_REVOKE] = {
		.name = "RMA_REVOKE", .version = 1, .body_bytes = RMA_REVOKE_BYTES,
		.payload = PAYLOAD_NONE,
		.put = rma_revoke_put, .get = rma_revoke_get, .check = no_check,
	},
	[MESH_MSG_HEARTBEAT] = {
		.name = "HEARTBEAT", .version = 1, .body_bytes = HEARTBEAT_BYTES,
		.payload = PAYLOAD_NONE,
		.put = heartbeat_put, .get = heartbeat_get, .check = no_check,
	},
	[MESH_MSG_CONFIG_READ] = {
		.name = "CONFIG_READ", .version = 2, .body_bytes = CONFIG_READ_BYTES,
		.payload = PAYLOAD_NONE,
		.put = config_read_put, .get = config_read_get, .check = no_check,
	},
	[MESH_MSG_CONFIG_REPLY] = {
		.name = "CONFIG_REPLY", .version = 2, .body_bytes = CONFIG_REPLY_BYTES,
		.payload = PAYLOAD_NONE,
		.put = config_reply_put, .get = config_reply_get,
		.check = config_reply_check,
	},
	[MESH_MSG_CONFIG_PROPOSE] = {
		.name = "CONFIG_PROPOSE", .version = 2,
		.body_bytes = CONFIG_PROPOSE_BYTES,
		.payload = PAYLOAD_NONE,
		.put = config_propose_put, .get = config_propose_get,
		.check = config_propose_check,
	},
	[MESH_MSG_CONFIG_ACCEPT] = {
		.name = "CONFIG_ACCEPT", .version = 2, .body_bytes = CONFIG_ACCEPT_BYTES,
		.payload = PAYLOAD_NONE,
		.put = config_accept_put, .get = config_accept_get,
		.check = config_accept_check,
	},
	[MESH_MSG_LEASE_REQUEST] = {
		.name = "LEASE_REQUEST", .version = 2, .body_bytes = LEASE_REQUEST_BYTES,
		.payload = PAYLOAD_NONE,
		.put = lease_request_put, .get = lease_request_get,
		.check = lease_request_check,
	},
	[MESH_MSG_LEASE_GRANT] = {
		.name = "LEASE_GRANT", .version = 2, .body_bytes = LEASE_GRANT_BYTES,
		.payload = PAYLOAD_NONE,
		.put = lease_grant_put, .get = lease_grant_get,
		.check = lease_grant_check,
	},
	[MESH_MSG_ERROR] = {
		.name = "ERROR", .version = 1, .body_bytes = ERROR_BYTES,
		.payload = PAYLOAD_REST,
		.put = error_put, .get = error_get, .check = error_check,
	},
};

/* A body fits type_info's u8, and with the header it fits PREFIX_MAX. */
#define BODY_FITS(bytes) \
	((bytes) <= UINT8_MAX && MESH_PROTO_HEADER_BYTES + (bytes) <= MESH_PROTO_PREFIX_MAX)
_Static_assert(BODY_FITS(IO_BYTES) && BODY_FITS(IO_REPLY_BYTES) &&
	       BODY_FITS(RMA_GRANT_REQ_BYTES) && BODY_FITS(RMA_GRANT_BYTES) &&
	       BODY_FITS(RMA_REVOKE_BYTES) && BODY_FITS(HEARTBEAT_BYTES) &&
	       BODY_FITS(CONFIG_READ_BYTES) && BODY_FITS(CONFIG_REPLY_BYTES) &&
	       BODY_FITS(CONFIG_PROPOSE_BYTES) && BODY_FITS(CONFIG_ACCEPT_BYTES) &&
	       BODY_FITS(LEASE_REQUEST_BYTES) && BODY_FITS(LEASE_GRANT_BYTES) &&
	       BODY_FITS(ERROR_BYTES),
	       "every body must fit a u8 and, with the header, MESH_PROTO_PREFIX_MAX");
_Static_assert(MESH_PROTO_MSG_MAX <= INT32_MAX, "lengths travel as u32 and long");

static const struct type_info *type_lookup(uint8_t type)
{
	if (type >= MESH_MSG_TYPE_END || types[type].version == 0)
		return NULL;
	return &types[type];
}

/*
 * Whether @data_len bytes of payload agree with @m's type and body. For
 * PAYLOAD_REST any length agrees here; its limit is a field check (-ERANGE).
 */
static int data_len_consistent(const struct type_info *ti, const struct mesh_msg *m,
			       uint32_t data_len)
{
	switch (ti->payload) {
	case PAYLOAD_NONE:
		return data_len == 0;
	case PAYLOAD_BODY_FIELD:
		return data_len == ti->data_len(m);
	case PAYLOAD_REST:
		return 1;
	}
	return 0;
}

int mesh_proto_encode(const struct mesh_msg *m, void *buf, size_t cap)
{
	const struct type_info *ti;
	uint8_t *p = buf;
	uint32_t prefix, crc;

	assert(m);
	ti = type_lookup(m->hdr.type);
	if (!ti)
		return -EINVAL;
	if (ti->check(m))
		return -EINVAL;
	if (!data_len_consistent(ti, m, m->data_len))
		return -EINVAL;
	if (m->data_len > 0 && !m->data)
		return -EINVAL;
	prefix = MESH_PROTO_HEADER_BYTES + ti->body_bytes;
	if (cap < prefix)
		return -ENOSPC;
	assert(buf);

	mesh_put_u32(p + OFF_MAGIC, MESH_PROTO_MAGIC);
	mesh_put_u8(p + OFF_VERSION, MESH_PROTO_VERSION);
	mesh_put_u8(p + OFF_TYPE, m->hdr.type);
	mesh_put_u8(p + OFF_TYPE_VERSION, ti->version);
	mesh_put_u8(p + OFF_FLAGS, 0);
	/* Field limits above keep this far below u32 (and MSG_MAX). */
	mesh_put_u32(p + OFF_LENGTH, prefix + m->data_len);
	mesh_put_u32(p + OFF_CRC, 0);
	mesh_put_u64(p + OFF_REQ_ID, m->hdr.req_id);
	mesh_put_u64(p + OFF_EPOCH, m->hdr.epoch);
	ti->put(m, p + MESH_PROTO_HEADER_BYTES);

	crc = mesh_crc32c_update(MESH_CRC32C_INIT, p, prefix);
	if (m->data_len > 0)
		crc = mesh_crc32c_update(crc, m->data, m->data_len);
	mesh_put_u32(p + OFF_CRC, mesh_crc32c_final(crc));
	return (int)prefix;
}

/*
 * Checks shared by decode and frame_length: everything the first
 * MESH_PROTO_HEADER_BYTES can show, except the type version and body size.
 */
static int header_check(const uint8_t *p, uint32_t *length)
{
	if (mesh_get_u32(p + OFF_MAGIC) != MESH_PROTO_MAGIC)
		return -EBADMSG;
	if (mesh_get_u8(p + OFF_FLAGS) != 0)
		return -EBADMSG;
	if (mesh_get_u8(p + OFF_VERSION) != MESH_PROTO_VERSION)
		return -EPROTONOSUPPORT;
	if (!type_lookup(mesh_get_u8(p + OFF_TYPE)))
		return -ENOMSG;
	*length = mesh_get_u32(p + OFF_LENGTH);
	return 0;
}

/* CRC32C of the message at @p as if its crc field were zero. */
static uint32_t message_crc(const uint8_t *p, uint32_t length)
{
	static const uint8_t zero[4];
	uint32_t crc;

	crc = mesh_crc32c_update(MESH_CRC32C_INIT, p, OFF_CRC);
	crc = mesh_crc32c_update(crc, zero, sizeof(zero));
	crc = mesh_crc32c_update(crc, p + OFF_CRC + 4, length - (OFF_CRC + 4));
	return mesh_crc32c_final(crc);
}

int mesh_proto_decode(const void *buf, size_t len, struct mesh_msg *out)
{
	const uint8_t *p = buf;
	const struct type_info *ti;
	uint32_t length, prefix;
	int err;

	assert(out);
	assert(buf || len == 0);
	if (len < MESH_PROTO_HEADER_BYTES)
		return -ENODATA;
	length = mesh_get_u32(p + OFF_LENGTH);
	if (length > len)
		return -ENODATA;

	err = header_check(p, &length);
	if (err)
		return err;
	ti = type_lookup(mesh_get_u8(p + OFF_TYPE));
	if (mesh_get_u8(p + OFF_TYPE_VERSION) != ti->version)
		return -EPROTONOSUPPORT;

	prefix = MESH_PROTO_HEADER_BYTES + ti->body_bytes;
	if (length != len || length < prefix || length > MESH_PROTO_MSG_MAX)
		return -EMSGSIZE;

	memset(out, 0, sizeof(*out));
	out->hdr.type = mesh_get_u8(p + OFF_TYPE);
	out->hdr.type_version = ti->version;
	out->hdr.length = length;
	out->hdr.req_id = mesh_get_u64(p + OFF_REQ_ID);
	out->hdr.epoch = mesh_get_u64(p + OFF_EPOCH);
	ti->get(out, p + MESH_PROTO_HEADER_BYTES);
	out->data_len = length - prefix;
	out->data = out->data_len > 0 ? p + prefix : NULL;
	if (!data_len_consistent(ti, out, out->data_len))
		return -EMSGSIZE;

	/* Fields are judged only once the CRC says they are what was sent. */
	if (mesh_get_u32(p + OFF_CRC) != message_crc(p, length))
		return -EILSEQ;
	return ti->check(out);
}

long mesh_proto_frame_length(const void *buf, size_t len)
{
	uint32_t length;
	int err;

	assert(buf || len == 0);
	if (len < MESH_PROTO_HEADER_BYTES)
		return 0;
	err = header_check(buf, &length);
	if (err)
		return err;
	if (length < MESH_PROTO_HEADER_BYTES || length > MESH_PROTO_MSG_MAX)
		return -EMSGSIZE;
	return (long)length;
}

uint8_t mesh_proto_type_version(uint8_t type)
{
	const struct type_info *ti = type_lookup(type);

	return ti ? ti->version : 0;
}

const char *mesh_proto_type_name(uint8_t type)
{
	const struct type_info *ti = type_lookup(type);

	return ti ? ti->name : "UNKNOWN";
}

const char *mesh_proto_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -ENODATA:
		return "message truncated: shorter than a header or its length field";
	case -EBADMSG:
		return "not a mesh message: bad magic or nonzero reserved flags";
	case -EPROTONOSUPPORT:
		return "unsupported header version or message type version";
	case -ENOMSG:
		return "unknown message type";
	case -EMSGSIZE:
		return "length field disagrees with the buffer or the type's body size";
	case -EILSEQ:
		return "CRC32C mismatch: message corrupted";
	case -ERANGE:
		return "a message field is out of range";
	case -EINVAL:
		return "cannot encode: a field is out of range or inconsistent";
	case -ENOSPC:
		return "cannot encode: buffer too small for header and body";
	default:
		return "unknown protocol error";
	}
}

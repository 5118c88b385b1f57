/*
 * tests/fuzz/make_corpus.c: writes the fuzz_proto seed corpus, one valid
 * message per type (and per payload shape), plus a few near misses that stop
 * at the CRC, the field checks and the length check. Usage:
 *
 *   make_corpus DIR
 *
 * The committed tests/fuzz/corpus/ is this program's output; rerun it when
 * the wire format changes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/crc32c.h"
#include "core/env.h"
#include "core/proto.h"

static const char *dir;
static uint8_t payload[512];

static int write_file(const char *name, const uint8_t *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f) {
		perror(path);
		return -1;
	}
	if (fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		return -1;
	}
	return 0;
}

/* Header + body + payload of @m into @buf; returns the total length. */
static size_t encode_whole(const struct mesh_msg *m, uint8_t *buf, size_t cap)
{
	int n = mesh_proto_encode(m, buf, cap);

	if (n < 0 || (size_t)n + m->data_len > cap) {
		fprintf(stderr, "make_corpus: cannot encode %s: %s\n",
			mesh_proto_type_name(m->hdr.type), mesh_proto_strerror(n));
		return 0;
	}
	if (m->data_len)
		memcpy(buf + n, m->data, m->data_len);
	return (size_t)n + m->data_len;
}

static void reseal(uint8_t *w, size_t len)
{
	uint32_t c;

	memset(w + 12, 0, 4);
	c = mesh_crc32c(w, len);
	for (int i = 0; i < 4; i++)
		w[12 + i] = (uint8_t)(c >> (8 * i));
}

static void config(struct mesh_group_config *c, uint8_t copies, uint8_t witnesses)
{
	memset(c, 0, sizeof(*c));
	c->group = 7;
	c->epoch = 3;
	c->bytes = 1 << 30;
	c->copies = copies;
	c->member_count = copies + witnesses;
	for (unsigned i = 0; i < c->member_count; i++) {
		int replica = i < copies;

		c->members[i].node = i + 1;
		c->members[i].drive = i;
		c->members[i].role = replica ? MESH_MEMBER_REPLICA : MESH_MEMBER_WITNESS;
		c->members[i].state = MESH_MEMBER_ACTIVE;
		c->members[i].offset = replica ? (uint64_t)(i + 1) << 30 : 0;
	}
}

/* A zeroed message of @type with a plausible header. */
static struct mesh_msg msg(uint8_t type)
{
	struct mesh_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.type = type;
	m.hdr.req_id = 42;
	m.hdr.epoch = 3;
	return m;
}

static int emit(const char *name, const struct mesh_msg *m)
{
	uint8_t w[MESH_PROTO_PREFIX_MAX + sizeof(payload)];
	size_t len = encode_whole(m, w, sizeof(w));

	return len == 0 ? -1 : write_file(name, w, len);
}

/* The valid seeds: every type, and each payload shape a type allows. */
static int emit_valid(void)
{
	static const char detail[] = "no such drive";
	struct mesh_msg m;
	int bad = 0;

	m = msg(MESH_MSG_IO_READ);
	m.u.io.group = 7;
	m.u.io.drive = 1;
	m.u.io.length = 4096;
	m.u.io.offset = 1 << 20;
	m.u.io.incarnation = 0x5eed;
	m.u.io.settled = 11;
	bad |= emit("io_read.bin", &m);

	m = msg(MESH_MSG_IO_WRITE);
	m.u.io.group = 7;
	m.u.io.drive = 1;
	m.u.io.length = 64;
	m.u.io.offset = 8192;
	m.u.io.incarnation = 0x5eed;
	m.u.io.seq = 12;
	m.u.io.settled = 11;
	m.data = payload;
	m.data_len = 64;
	bad |= emit("io_write.bin", &m);
	m.u.io.flags = MESH_IO_F_RESYNC;
	bad |= emit("io_write_resync.bin", &m);

	m = msg(MESH_MSG_IO_REPLY);
	bad |= emit("io_reply.bin", &m);
	m.u.io_reply.length = 64;
	m.data = payload;
	m.data_len = 64;
	bad |= emit("io_reply_data.bin", &m);
	m = msg(MESH_MSG_IO_REPLY);
	m.u.io_reply.status = -EIO;
	bad |= emit("io_reply_failed.bin", &m);

	m = msg(MESH_MSG_RMA_GRANT_REQ);
	m.u.rma_grant_req.group = 7;
	m.u.rma_grant_req.drive = 1;
	m.u.rma_grant_req.access = MESH_RMA_READ | MESH_RMA_WRITE;
	m.u.rma_grant_req.length = 1 << 20;
	bad |= emit("rma_grant_req.bin", &m);

	m = msg(MESH_MSG_RMA_GRANT);
	m.u.rma_grant.access = MESH_RMA_READ;
	m.u.rma_grant.rkey = 0x1234;
	m.u.rma_grant.remote_offset = 4096;
	m.u.rma_grant.length = 1 << 20;
	bad |= emit("rma_grant.bin", &m);

	m = msg(MESH_MSG_RMA_REVOKE);
	m.u.rma_revoke.rkey = 0x1234;
	bad |= emit("rma_revoke.bin", &m);

	m = msg(MESH_MSG_HEARTBEAT);
	m.u.heartbeat.group = 7;
	m.u.heartbeat.sender = 2;
	m.u.heartbeat.seq = 100;
	m.u.heartbeat.config_epoch = 3;
	bad |= emit("heartbeat.bin", &m);

	m = msg(MESH_MSG_CONFIG_READ);
	m.u.config_read.group = 7;
	bad |= emit("config_read.bin", &m);
	m.u.config_read.ballot = 9;
	bad |= emit("config_read_prepare.bin", &m);

	m = msg(MESH_MSG_CONFIG_REPLY);
	m.u.config_reply.promised = 9;
	m.u.config_reply.accepted_ballot = 8;
	config(&m.u.config_reply.config, 2, 1);
	bad |= emit("config_reply.bin", &m);
	m = msg(MESH_MSG_CONFIG_REPLY);
	m.u.config_reply.status = -ENOENT;
	bad |= emit("config_reply_refused.bin", &m);

	m = msg(MESH_MSG_CONFIG_PROPOSE);
	m.u.config_propose.ballot = 9;
	config(&m.u.config_propose.config, 3, 2);
	bad |= emit("config_propose.bin", &m);

	m = msg(MESH_MSG_CONFIG_ACCEPT);
	m.u.config_accept.group = 7;
	m.u.config_accept.ballot = 9;
	m.u.config_accept.epoch = 4;
	bad |= emit("config_accept.bin", &m);
	m.u.config_accept.status = -EBUSY;
	m.u.config_accept.retry_ns = 500000000;
	bad |= emit("config_accept_busy.bin", &m);

	m = msg(MESH_MSG_LEASE_REQUEST);
	m.u.lease_request.group = 7;
	m.u.lease_request.client = 100;
	m.u.lease_request.duration_ns = 2000000000;
	m.u.lease_request.incarnation = 0x5eed;
	m.u.lease_request.settled = 11;
	bad |= emit("lease_request.bin", &m);

	m = msg(MESH_MSG_LEASE_GRANT);
	m.u.lease_grant.group = 7;
	m.u.lease_grant.lease_ns = 2000000000;
	m.u.lease_grant.ballot = 8;
	config(&m.u.lease_grant.config, 2, 1);
	bad |= emit("lease_grant.bin", &m);
	m = msg(MESH_MSG_LEASE_GRANT);
	m.u.lease_grant.status = -ENOENT;
	m.u.lease_grant.group = 7;
	bad |= emit("lease_grant_refused.bin", &m);

	m = msg(MESH_MSG_ERROR);
	m.u.error.code = -ENODEV;
	m.data = (const uint8_t *)detail;
	m.data_len = sizeof(detail) - 1;
	bad |= emit("error.bin", &m);
	return bad;
}

/* Near misses, each stopped by one check: the CRC, a field, the length.
 * Offsets follow the body layouts in core/proto.h. */
static int emit_invalid(void)
{
	uint8_t w[MESH_PROTO_PREFIX_MAX + sizeof(payload)];
	struct mesh_msg m;
	size_t len;
	int bad = 0;

	m = msg(MESH_MSG_IO_WRITE);
	m.u.io.group = 7;
	m.u.io.length = 16;
	m.data = payload;
	m.data_len = 16;
	len = encode_whole(&m, w, sizeof(w));
	w[len - 1] ^= 1;
	bad |= len == 0 || write_file("invalid_bad_crc.bin", w, len);

	m = msg(MESH_MSG_CONFIG_PROPOSE);
	config(&m.u.config_propose.config, 2, 1);
	len = encode_whole(&m, w, sizeof(w));
	w[32 + 8 + 24] = 3;	/* copies, resealed: only the field check objects */
	reseal(w, len);
	bad |= len == 0 || write_file("invalid_copies.bin", w, len);

	m = msg(MESH_MSG_IO_READ);
	m.u.io.group = 7;
	m.u.io.length = 16;
	len = encode_whole(&m, w, sizeof(w));
	w[32 + 24] = 2;		/* flags: an unknown bit, resealed */
	reseal(w, len);
	bad |= len == 0 || write_file("invalid_io_flags.bin", w, len);

	m = msg(MESH_MSG_CONFIG_REPLY);
	config(&m.u.config_reply.config, 1, 0);
	len = encode_whole(&m, w, sizeof(w));
	bad |= len < 10 || write_file("invalid_truncated.bin", w, len - 10);
	return bad;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 31 + 1);
	return emit_valid() | emit_invalid() ? 1 : 0;
}

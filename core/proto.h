/*
 * core/proto.h: the mesh wire format.
 *
 * Every message is a fixed 32-byte header, a per-type body, and for some
 * types a data payload. All integers are little-endian and written byte by
 * byte (no struct casts), so the format does not depend on the compiler.
 *
 *   off size field
 *   0   4    magic         MESH_PROTO_MAGIC ("MESH" in memory order)
 *   4   1    version       MESH_PROTO_VERSION: the header format
 *   5   1    type          enum mesh_msg_type
 *   6   1    type_version  body format of this type (each type is versioned
 *                          on its own; see mesh_proto_type_version())
 *   7   1    flags         reserved, must be 0
 *   8   4    length        total bytes: header + body + data
 *   12  4    crc32c        CRC32C of the whole message with this field zeroed
 *   16  8    req_id        chosen by the requester, echoed in the reply
 *   24  8    epoch         configuration epoch the sender acts under
 *
 * Decoding is strict: any byte string yields either a message whose every
 * field is in range, or a negative errno that mesh_proto_strerror() names.
 * The decoder never reads outside [buf, buf+len). Decoded payloads point into
 * the caller's buffer (no copy), so they live as long as it does.
 *
 * Each body packs its struct's fields in declaration order, with fixed widths
 * and no padding, so every type has one body size. A body version changes
 * whenever its layout does; a peer on another version is refused with
 * -EPROTONOSUPPORT rather than misread. Body version 2 (IO_READ, IO_WRITE and
 * the CONFIG_* and LEASE_* types) carries the topology manager's state (see
 * docs/toma.md):
 *   - ballots: CONFIG_READ with a ballot is Paxos' prepare; CONFIG_REPLY
 *     answers with the voter's promise and the ballot of its accepted
 *     configuration; LEASE_GRANT names that ballot too.
 *   - where a group lives: each member's segment offset on its drive, and
 *     the segment's size in the configuration.
 *   - write tracking: a client's incarnation, write sequence number and
 *     settled mark travel with each I/O and lease request, so targets can
 *     tell which writes every member may still lack.
 */
#ifndef MESH_CORE_PROTO_H
#define MESH_CORE_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define MESH_PROTO_MAGIC 0x4853454dU /* bytes 'M' 'E' 'S' 'H' */
#define MESH_PROTO_VERSION 1
#define MESH_PROTO_HEADER_BYTES 32u
/* Largest header+body of any type; a buffer this big always fits encode(). */
#define MESH_PROTO_PREFIX_MAX 256u
/* Largest data payload: the largest single I/O the wire carries. */
#define MESH_PROTO_DATA_MAX (1u << 20)
#define MESH_PROTO_MSG_MAX (MESH_PROTO_PREFIX_MAX + MESH_PROTO_DATA_MAX)
/* Members of one protection group: up to 3 replicas plus witnesses. */
#define MESH_GROUP_MEMBERS_MAX 5u
/* Longest human-readable detail in an ERROR message. */
#define MESH_PROTO_ERROR_DETAIL_MAX 128u

enum mesh_msg_type {
	MESH_MSG_IO_READ = 1,       /* client -> target: read drive bytes */
	MESH_MSG_IO_WRITE = 2,      /* client -> target: write drive bytes (+data) */
	MESH_MSG_IO_REPLY = 3,      /* target -> client: status (+data for reads) */
	MESH_MSG_RMA_GRANT_REQ = 4, /* client -> target: ask for one-sided access */
	MESH_MSG_RMA_GRANT = 5,     /* target -> client: key for one-sided access */
	MESH_MSG_RMA_REVOKE = 6,    /* target -> client: key no longer valid */
	MESH_MSG_HEARTBEAT = 7,     /* target <-> target within one group */
	MESH_MSG_CONFIG_READ = 8,   /* ask a voter for a group's configuration */
	MESH_MSG_CONFIG_REPLY = 9,  /* a voter's current configuration */
	MESH_MSG_CONFIG_PROPOSE = 10, /* propose a new configuration (ballot) */
	MESH_MSG_CONFIG_ACCEPT = 11,  /* a voter's answer to a proposal */
	MESH_MSG_LEASE_REQUEST = 12,  /* client -> voter: lease on a config */
	MESH_MSG_LEASE_GRANT = 13,    /* voter -> client: lease granted or refused */
	MESH_MSG_ERROR = 14,          /* any -> any: request failed, with detail */
	MESH_MSG_TYPE_END
};

/* Replica states in a protection group's configuration. */
enum mesh_member_state {
	MESH_MEMBER_ACTIVE = 1,
	MESH_MEMBER_STALE = 2,
	MESH_MEMBER_REBUILDING = 3,
};

enum mesh_member_role {
	MESH_MEMBER_REPLICA = 1,
	MESH_MEMBER_WITNESS = 2,
};

struct mesh_msg_header {
	uint8_t type;           /* enum mesh_msg_type */
	uint8_t type_version;
	uint32_t length;        /* filled by encode, checked by decode */
	uint64_t req_id;
	uint64_t epoch;
};

/* mesh_msg_io.flags. Any other bit is refused (-ERANGE), so a bit can gain a
 * meaning later without old peers silently ignoring it. */
#define MESH_IO_F_RESYNC 1u     /* a resync copy from another replica, not a
				 * client write */

/*
 * IO_READ and IO_WRITE. For IO_WRITE, mesh_msg.data carries @length bytes.
 * A write is named by (@incarnation, @seq). @settled lets a target drop what
 * it tracks about older writes of that incarnation: they reached every
 * member. The proto layer checks none of the three: any value is valid.
 */
struct mesh_msg_io {
	uint64_t group;         /* protection group the extent belongs to */
	uint32_t drive;         /* drive index on the target */
	uint32_t length;        /* bytes, 1..MESH_PROTO_DATA_MAX */
	uint64_t offset;        /* byte offset on the drive; offset + length
				 * must not wrap around u64 */
	uint32_t flags;         /* MESH_IO_F_* */
	uint64_t incarnation;   /* the sending client's, random per client start */
	uint64_t seq;           /* the client's write sequence number; 0 for reads */
	uint64_t settled;       /* every write of this incarnation with seq below
				 * this was acknowledged by every member it was
				 * sent to */
};

/* IO_REPLY. For a successful read, mesh_msg.data carries @length bytes. */
struct mesh_msg_io_reply {
	int32_t status;         /* 0 or a negative errno */
	uint32_t length;        /* bytes of data that follow (0 for writes),
				 * 0..MESH_PROTO_DATA_MAX; 0 unless status is 0 */
};

struct mesh_msg_rma_grant_req {
	uint64_t group;
	uint32_t drive;
	uint32_t access;        /* MESH_RMA_READ | MESH_RMA_WRITE, nonzero */
	uint64_t offset;
	uint64_t length;        /* nonzero; offset + length must not wrap */
};

/*
 * A grant (status 0) has nonzero @access and @length; a refusal (status < 0)
 * may leave both 0. @access never has bits beyond READ|WRITE, and
 * remote_offset + length never wraps around u64.
 */
struct mesh_msg_rma_grant {
	int32_t status;         /* 0 or a negative errno */
	uint32_t access;
	uint64_t rkey;
	uint64_t remote_offset; /* where the granted range starts within rkey */
	uint64_t length;
};

struct mesh_msg_rma_revoke {
	uint64_t rkey;
};

struct mesh_msg_heartbeat {
	uint64_t group;
	uint32_t sender;
	uint32_t seq;
	uint64_t config_epoch;
};

struct mesh_group_member {
	uint32_t node;
	uint32_t drive;
	uint8_t role;           /* enum mesh_member_role */
	uint8_t state;          /* enum mesh_member_state */
	uint64_t offset;        /* first byte of the group's segment on @drive
				 * (0 for a witness) */
};

/*
 * Valid when: copies 1..3, member_count 1..MESH_GROUP_MEMBERS_MAX, every used
 * member has a known role and state, exactly @copies members are REPLICAs,
 * and every slot past member_count is all zero (offset included). @bytes and
 * the members' offsets are not judged here: the wire carries any value,
 * 0 included; core/group.h says which configurations make sense.
 */
struct mesh_group_config {
	uint64_t group;
	uint64_t epoch;
	uint64_t bytes;         /* bytes of the segment each replica holds */
	uint8_t copies;         /* replicas that hold data, 1..3 */
	uint8_t member_count;   /* 1..MESH_GROUP_MEMBERS_MAX */
	struct mesh_group_member members[MESH_GROUP_MEMBERS_MAX];
};

/* A plain read (@ballot 0), or Paxos' prepare: promise @ballot. */
struct mesh_msg_config_read {
	uint64_t group;
	uint64_t ballot;        /* ballot to promise; 0 = a plain read, no promise */
};

/*
 * The answer to CONFIG_READ. @config is valid when status is 0; a refusal
 * may send it all zero (say, the voter has no configuration for the group).
 */
struct mesh_msg_config_reply {
	int32_t status;         /* 0 or a negative errno */
	uint64_t promised;      /* highest ballot the voter promised */
	uint64_t accepted_ballot; /* ballot under which it accepted @config */
	struct mesh_group_config config;
};

struct mesh_msg_config_propose {
	uint64_t ballot;
	struct mesh_group_config config;
};

/*
 * A voter's answer to CONFIG_PROPOSE. -EBUSY means a lease the voter granted
 * under an older epoch has not yet expired: retry after @retry_ns.
 */
struct mesh_msg_config_accept {
	uint64_t group;
	uint64_t ballot;
	uint64_t epoch;
	int32_t status;         /* 0 = accepted, else why not */
	uint64_t retry_ns;      /* status -EBUSY: how long (ns, voter's clock)
				 * until the voter may accept; 0 otherwise */
};

struct mesh_msg_lease_request {
	uint64_t group;
	uint32_t client;
	uint64_t duration_ns;   /* nonzero */
	uint64_t incarnation;   /* as in mesh_msg_io */
	uint64_t settled;       /* as in mesh_msg_io */
};

/*
 * The voter's configuration comes with the lease, so a client learns both in
 * one round trip. As in CONFIG_REPLY, @config is valid when status is 0, and
 * a refusal may send it all zero.
 */
struct mesh_msg_lease_grant {
	int32_t status;         /* 0 or a negative errno */
	uint64_t group;
	uint64_t lease_ns;      /* granted length, measured from the request */
	uint64_t ballot;        /* ballot under which the voter accepted @config */
	struct mesh_group_config config;
};

/*
 * ERROR: the detail text travels as data (not NUL-terminated on the wire),
 * 0..MESH_PROTO_ERROR_DETAIL_MAX bytes: whatever follows the body.
 */
struct mesh_msg_error {
	int32_t code;           /* negative errno */
};

struct mesh_msg {
	struct mesh_msg_header hdr;
	union {
		struct mesh_msg_io io;
		struct mesh_msg_io_reply io_reply;
		struct mesh_msg_rma_grant_req rma_grant_req;
		struct mesh_msg_rma_grant rma_grant;
		struct mesh_msg_rma_revoke rma_revoke;
		struct mesh_msg_heartbeat heartbeat;
		struct mesh_msg_config_read config_read;
		struct mesh_msg_config_reply config_reply;
		struct mesh_msg_config_propose config_propose;
		struct mesh_msg_config_accept config_accept;
		struct mesh_msg_lease_request lease_request;
		struct mesh_msg_lease_grant lease_grant;
		struct mesh_msg_error error;
	} u;
	const uint8_t *data;    /* payload for IO_WRITE, IO_REPLY, ERROR; NULL
				 * after decode when data_len is 0 */
	uint32_t data_len;
};

/**
 * Encode @m's header and body into @buf (capacity @cap) and return the number
 * of bytes written (header + body), or a negative errno:
 *   -EINVAL   a field is out of range (unknown type, bad state, unknown
 *             I/O flag, length mismatch between a body field and
 *             data_len, ...)
 *   -ENOSPC   @cap is too small (MESH_PROTO_PREFIX_MAX always suffices)
 * The data payload (m->data, m->data_len) is not copied: send it as the next
 * iov after the returned prefix. The CRC in the header covers it. The
 * header's type_version is set to this build's version of the type; length
 * is computed. @m is not modified.
 */
int mesh_proto_encode(const struct mesh_msg *m, void *buf, size_t cap);

/** Whether @c follows the wire rules for configurations (see above): 0 or -EINVAL. */
int mesh_proto_group_config_check(const struct mesh_group_config *c);

/**
 * Decode exactly @len bytes at @buf into @out. Returns 0 or a negative errno:
 *   -ENODATA          shorter than a header, or than the header's length
 *   -EBADMSG          wrong magic, or nonzero reserved flags
 *   -EPROTONOSUPPORT  unknown header version or type version
 *   -ENOMSG           unknown message type
 *   -EMSGSIZE         length field disagrees with @len or the type's body
 *                     size (or the data length its body announces), or
 *                     exceeds MESH_PROTO_MSG_MAX
 *   -EILSEQ           CRC32C mismatch
 *   -ERANGE           a body field is out of range (zero I/O length,
 *                     unknown I/O flag, member count above
 *                     MESH_GROUP_MEMBERS_MAX, unknown member state or role,
 *                     data length above the limit, ...)
 * On error @out is unspecified. Never reads outside [buf, buf+len).
 */
int mesh_proto_decode(const void *buf, size_t len, struct mesh_msg *out);

/**
 * For stream transports: given the first @len bytes of a message, return
 * its total length (>= MESH_PROTO_HEADER_BYTES) once a whole header is
 * there, 0 if fewer than MESH_PROTO_HEADER_BYTES bytes are available, or a
 * negative errno from the list above if the header already shows the
 * message is bad (so the reader can drop the connection at once).
 */
long mesh_proto_frame_length(const void *buf, size_t len);

/** The current body version this build speaks for @type, or 0 if unknown. */
uint8_t mesh_proto_type_version(uint8_t type);

/** A static name for @type ("IO_READ", ...), or "UNKNOWN". */
const char *mesh_proto_type_name(uint8_t type);

/** A static description of a decode/encode error code (negative errno). */
const char *mesh_proto_strerror(int err);

#endif

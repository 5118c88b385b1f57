/*
 * sim/history.h: the client-visible history of a run, per 4 KiB block, and
 * the two checkers every simulated run applies to it.
 *
 * The workload gives every block of every write a unique nonzero 64-bit
 * value (0 is the value of a block never written), so a read tells exactly
 * which write it saw. An operation is recorded when a client submits it
 * (invocation) and when its completion is reaped (response), with the
 * simulated times of both.
 *
 *   - Linearizability (per block, Wing & Gong search with Lowe's memo of
 *     (linearized set, register value)): there must be one order of the
 *     block's operations, consistent with real time, in which every read
 *     returns the last write before it. A write that failed or never
 *     answered may or may not have taken effect: it is an open operation
 *     (its response is at infinity) that the search may place anywhere
 *     after its invocation, or leave out. A failed read tells nothing and is
 *     dropped.
 *   - Durability (no acknowledged write lost): the final value of each
 *     block, read after the run once faults are healed, must not be older
 *     than an acknowledged write: it is lost when the write that produced
 *     the final value (or the initial value 0) completed before some
 *     acknowledged write to the block was invoked.
 *
 * A read that returns a value no write produced (or a block whose bytes do
 * not decode, MESH_HISTORY_VALUE_CORRUPT) is a violation of both.
 */
#ifndef MESH_SIM_HISTORY_H
#define MESH_SIM_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A block read back whose bytes are not one write's pattern (torn, mixed). */
#define MESH_HISTORY_VALUE_CORRUPT UINT64_MAX
/* The search gives up on a block after visiting this many states; the
 * block is reported undecided, never passed. */
#define MESH_LINCHECK_STATES_MAX (1u << 22)
#define MESH_HISTORY_DETAIL_MAX 512u

enum mesh_history_op {
	MESH_HISTORY_READ = 1,
	MESH_HISTORY_WRITE = 2,
};

enum mesh_history_outcome {
	MESH_HISTORY_OK = 1,     /* acknowledged (writes) or returned a value (reads) */
	MESH_HISTORY_FAILED,     /* completed with an error: writes stay open */
	MESH_HISTORY_PENDING,    /* never completed (the run ended first): writes stay open */
};

struct mesh_history;

/* Identifies one block: a volume and a 4 KiB block index within it. */
struct mesh_block_key {
	uint32_t volume;
	uint64_t block;
};

int mesh_history_create(struct mesh_history **out);
void mesh_history_destroy(struct mesh_history *h);

/**
 * Record the invocation of @op on block @key at @t_ns by @client; @value is
 * the written value (writes) or ignored (reads). Returns an operation handle
 * (>= 0) for mesh_history_complete, or -ENOMEM (out of memory, or past
 * 2^30 operations or 2^28 blocks). Writes must carry unique values,
 * neither 0 nor MESH_HISTORY_VALUE_CORRUPT: anything else is a caller bug
 * (asserted; a value repeated within a block is caught when it is checked).
 */
int64_t mesh_history_invoke(struct mesh_history *h, struct mesh_block_key key,
			    enum mesh_history_op op, uint64_t value, uint64_t t_ns,
			    uint32_t client);

/**
 * Record the response of operation @handle at @t_ns (>= its invocation):
 * @outcome, and for a read that succeeded the value it returned. An
 * operation never completed stays PENDING.
 */
void mesh_history_complete(struct mesh_history *h, int64_t handle,
			   enum mesh_history_outcome outcome, uint64_t value_read, uint64_t t_ns);

/**
 * Record the value of block @key read back after the run (durability).
 * Recording a block again replaces its value: the last read-back wins.
 * Returns 0 or -ENOMEM.
 */
int mesh_history_final(struct mesh_history *h, struct mesh_block_key key, uint64_t value);

/** Number of operations recorded, and of distinct blocks they touched. */
uint64_t mesh_history_ops(const struct mesh_history *h);
uint64_t mesh_history_blocks(const struct mesh_history *h);

/** Calls @fn for every block that an acknowledged or open write touched. */
void mesh_history_for_each_written(const struct mesh_history *h,
				   void (*fn)(void *arg, struct mesh_block_key key), void *arg);

struct mesh_check_report {
	uint64_t blocks_checked;
	uint64_t ops_checked;
	uint64_t violations;        /* blocks that failed the check */
	uint64_t undecided;         /* blocks whose search hit MESH_LINCHECK_STATES_MAX */
	uint64_t states_visited;    /* summed over blocks (linearizability) */
	/* The first violation: its block and a one-line account, e.g.
	 * "read by client 3 at 1.000200s returned 0x12 written by client 1 at
	 * 0.5s, but client 2's write 0x13 was acknowledged at 0.9s". */
	bool has_violation;
	struct mesh_block_key first_block;
	char first_detail[MESH_HISTORY_DETAIL_MAX];
};

/**
 * Check every block's history for linearizability. Overwrites *@out; blocks
 * are visited in key order, so first_block is the lowest failing key.
 * Returns 0 or -ENOMEM.
 */
int mesh_history_check_linearizable(const struct mesh_history *h, struct mesh_check_report *out);

/**
 * Check durability: every block with an acknowledged write must have a
 * final value (a missing one is a violation: "never read back") that is not
 * older than an acknowledged write. A final value, or a read during the
 * run, that no write of the block produced (or is corrupt) is a violation
 * too. Overwrites *@out. Returns 0 or -ENOMEM.
 */
int mesh_history_check_durability(const struct mesh_history *h, struct mesh_check_report *out);

#endif

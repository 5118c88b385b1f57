/*
 * sim/simdrive.c: see simdrive.h.
 */
#include "sim/simdrive.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/layout.h"

#define STORE_INITIAL 64u

int mesh_simdrive_init(struct mesh_simdrive *d, uint64_t bytes, uint32_t queue_depth)
{
	/* Service slots are made on the first command: at 100,000 nodes most
	 * drives never see one. */
	*d = (struct mesh_simdrive){ .bytes = bytes, .slow_factor = 1.0, .slots = queue_depth };
	return 0;
}

void mesh_simdrive_free(struct mesh_simdrive *d)
{
	for (uint64_t i = 0; i < d->capacity; i++)
		free(d->blocks[i]);
	free(d->keys);
	free(d->blocks);
	free(d->slot_free_ns);
	*d = (struct mesh_simdrive){ 0 };
}

uint64_t mesh_simdrive_schedule(struct mesh_simdrive *d, const struct mesh_scn_drive_model *m,
				enum mesh_drive_op op, uint32_t len, uint64_t now_ns)
{
	uint64_t latency = op == MESH_DRIVE_READ ? m->read_latency_ns : m->write_latency_ns;
	double service = (double)latency + (double)len * 1e9 / (double)m->bandwidth_bps;
	uint32_t best = 0;

	if (!d->slot_free_ns) {
		d->slot_free_ns = calloc(d->slots, sizeof(*d->slot_free_ns));
		if (!d->slot_free_ns)
		{
			fprintf(stderr, "mesh-sim: out of memory for a drive model\n");
			abort();
		}
	}
	for (uint32_t i = 1; i < d->slots; i++) {
		if (d->slot_free_ns[i] < d->slot_free_ns[best])
			best = i;
	}
	uint64_t start = d->slot_free_ns[best] > now_ns ? d->slot_free_ns[best] : now_ns;
	uint64_t done = start + (uint64_t)(service * d->slow_factor);

	d->slot_free_ns[best] = done;
	return done;
}

static uint64_t slot_of(const struct mesh_simdrive *d, uint64_t key)
{
	uint64_t h = key * 0x9e3779b97f4a7c15ull;

	return (h ^ (h >> 29)) & (d->capacity - 1);
}

static int grow(struct mesh_simdrive *d)
{
	struct mesh_simdrive old = *d;
	uint64_t cap = d->capacity ? d->capacity * 2 : STORE_INITIAL;

	d->keys = calloc(cap, sizeof(*d->keys));
	d->blocks = calloc(cap, sizeof(*d->blocks));
	if (!d->keys || !d->blocks) {
		free(d->keys);
		free(d->blocks);
		d->keys = old.keys;
		d->blocks = old.blocks;
		return -ENOMEM;
	}
	d->capacity = cap;
	for (uint64_t i = 0; i < old.capacity; i++) {
		if (!old.keys[i])
			continue;
		uint64_t s = slot_of(d, old.keys[i]);

		while (d->keys[s])
			s = (s + 1) & (cap - 1);
		d->keys[s] = old.keys[i];
		d->blocks[s] = old.blocks[i];
	}
	free(old.keys);
	free(old.blocks);
	return 0;
}

/* The stored block @block, made (zeroed) when @create; NULL when absent. */
static uint8_t *block_at(struct mesh_simdrive *d, uint64_t block, bool create)
{
	uint64_t key = block + 1;

	if (create && (d->used + 1) * 4 > d->capacity * 3 && grow(d))
		return NULL;
	if (!d->capacity)
		return NULL;
	for (uint64_t s = slot_of(d, key);; s = (s + 1) & (d->capacity - 1)) {
		if (d->keys[s] == key)
			return d->blocks[s];
		if (d->keys[s])
			continue;
		if (!create)
			return NULL;
		d->blocks[s] = calloc(1, MESH_BLOCK_BYTES);
		if (!d->blocks[s])
			return NULL;
		d->keys[s] = key;
		d->used++;
		return d->blocks[s];
	}
}

int mesh_simdrive_apply(struct mesh_simdrive *d, const struct mesh_drive_io *io)
{
	if (d->failed)
		return -EIO;
	if (io->op == MESH_DRIVE_FLUSH)
		return 0;
	if (io->offset > d->bytes || io->length > d->bytes - io->offset)
		return -ERANGE;
	for (uint32_t done = 0; done < io->length;) {
		uint64_t pos = io->offset + done;
		uint64_t block = pos / MESH_BLOCK_BYTES;
		uint32_t in = (uint32_t)(pos % MESH_BLOCK_BYTES);
		uint32_t n = MESH_BLOCK_BYTES - in;
		uint8_t *buf = (uint8_t *)io->buf + done;

		if (n > io->length - done)
			n = io->length - done;
		if (io->op == MESH_DRIVE_WRITE) {
			uint8_t *b = block_at(d, block, true);

			if (!b)
				return -ENOMEM;
			memcpy(b + in, buf, n);
		} else {
			const uint8_t *b = block_at(d, block, false);

			if (b)
				memcpy(buf, b + in, n);
			else
				memset(buf, 0, n);
		}
		done += n;
	}
	return (int)io->length;
}

uint64_t mesh_simdrive_blocks_stored(const struct mesh_simdrive *d)
{
	return d->used;
}

/*
 * tests/fuzz/fuzz_proto.c: libFuzzer target for the wire decoder. Any input
 * either fails to decode, or decodes to a message that encodes back to the
 * very same bytes (one message, one encoding) and decodes again. abort()
 * on any difference, so libFuzzer keeps the input as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mesh_msg m, again;
	uint8_t *wire;
	int n;

	/* frame_length must agree with decode about where a message ends. */
	long frame = mesh_proto_frame_length(data, size);

	if (mesh_proto_decode(data, size, &m) != 0)
		return 0;
	check(frame == (long)size);

	/* Re-encode into a fresh buffer exactly as a sender lays it out:
	 * prefix, then the payload iov. */
	wire = malloc(size);
	check(wire != NULL);
	n = mesh_proto_encode(&m, wire, size);
	check(n > 0 && (size_t)n + m.data_len == size);
	if (m.data_len) {
		check(m.data == data + n);
		memcpy(wire + n, m.data, m.data_len);
	} else {
		check(m.data == NULL);
	}
	check(memcmp(wire, data, size) == 0);

	check(mesh_proto_decode(wire, size, &again) == 0);
	check(again.hdr.type == m.hdr.type && again.hdr.length == m.hdr.length);
	check(again.data_len == m.data_len);
	free(wire);
	return 0;
}

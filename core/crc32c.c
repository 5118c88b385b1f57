/*
 * core/crc32c.c: CRC32C through ISA-L's crc32_iscsi. ISA-L takes an int
 * length, so longer buffers are folded in chunks.
 */
#include "core/crc32c.h"

#include <isa-l/crc.h>
#include <limits.h>

uint32_t mesh_crc32c_update(uint32_t crc, const void *buf, size_t len)
{
	/* crc32_iscsi neither writes the buffer nor keeps it; the cast only
	 * drops a const that its prototype lacks. */
	unsigned char *p = (unsigned char *)(uintptr_t)buf;

	while (len > 0) {
		int chunk = len > (size_t)INT_MAX ? INT_MAX : (int)len;

		crc = crc32_iscsi(p, chunk, crc);
		p += chunk;
		len -= (size_t)chunk;
	}
	return crc;
}

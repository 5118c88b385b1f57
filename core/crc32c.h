/*
 * core/crc32c.h: CRC32C (Castagnoli), the checksum of every mesh message.
 * Backed by ISA-L (Debian: libisal-dev), which picks SSE4.2/PCLMUL code at
 * run time, so checksumming a 4 KiB payload costs well under a microsecond.
 */
#ifndef MESH_CORE_CRC32C_H
#define MESH_CORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Start a running checksum. */
#define MESH_CRC32C_INIT 0xffffffffu

/** Fold @len bytes at @buf into the running checksum @crc and return it. */
uint32_t mesh_crc32c_update(uint32_t crc, const void *buf, size_t len);

/** Turn a running checksum into the final CRC32C value. */
static inline uint32_t mesh_crc32c_final(uint32_t crc)
{
	return crc ^ 0xffffffffu;
}

/** CRC32C of one buffer: mesh_crc32c("123456789", 9) == 0xe3069283. */
static inline uint32_t mesh_crc32c(const void *buf, size_t len)
{
	return mesh_crc32c_final(mesh_crc32c_update(MESH_CRC32C_INIT, buf, len));
}

#endif

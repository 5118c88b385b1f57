/*
 * core/bytes.h: little-endian loads and stores, byte by byte, for the wire
 * format. Callers check bounds before calling; these never do.
 */
#ifndef MESH_CORE_BYTES_H
#define MESH_CORE_BYTES_H

#include <stdint.h>

static inline void mesh_put_u8(uint8_t *p, uint8_t v) { p[0] = v; }

static inline void mesh_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void mesh_put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void mesh_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint8_t mesh_get_u8(const uint8_t *p) { return p[0]; }

static inline uint16_t mesh_get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t mesh_get_u32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t mesh_get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

#endif

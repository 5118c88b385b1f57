/* tests/test_crc32c.c: CRC32C against published check values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/crc32c.h"

static void crc32c_matches_check_value(void **state)
{
	(void)state;
	/* The CRC catalogue's check value for CRC-32C. */
	assert_int_equal(mesh_crc32c("123456789", 9), 0xe3069283u);
	/* RFC 3720 appendix B.4: 32 bytes of zeros, 32 bytes of 0xff. */
	uint8_t buf[32];
	memset(buf, 0, sizeof(buf));
	assert_int_equal(mesh_crc32c(buf, sizeof(buf)), 0x8a9136aau);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(mesh_crc32c(buf, sizeof(buf)), 0x62a8ab43u);
}

static void crc32c_update_in_pieces_equals_whole(void **state)
{
	(void)state;
	uint8_t buf[4096];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	uint32_t whole = mesh_crc32c(buf, sizeof(buf));
	for (size_t cut = 0; cut <= sizeof(buf); cut += 97) {
		uint32_t c = mesh_crc32c_update(MESH_CRC32C_INIT, buf, cut);
		c = mesh_crc32c_update(c, buf + cut, sizeof(buf) - cut);
		assert_int_equal(mesh_crc32c_final(c), whole);
	}
}

static void crc32c_of_nothing_is_zero(void **state)
{
	(void)state;
	assert_int_equal(mesh_crc32c("", 0), 0u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crc32c_matches_check_value),
		cmocka_unit_test(crc32c_update_in_pieces_equals_whole),
		cmocka_unit_test(crc32c_of_nothing_is_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

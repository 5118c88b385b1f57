/*
 * core/units.h: strict parsing and formatting of the quantities in scenario
 * files, cluster configuration files and command lines: sizes, durations,
 * bandwidths, probabilities and bounded unsigned integers.
 *
 * A value is an unsigned decimal number, optionally with a fraction
 * ("1.5GiB", "2.5ms"), followed at once by its unit. No sign, no spaces, no
 * exponent, no hex: anything else is -EINVAL, so that "10" where a duration
 * is meant, "-1" or "64KB" never pass silently. A fraction must come out as
 * a whole number of the result's unit ("1.5B" is an error). Values that do
 * not fit, or lie outside a stated range, are -ERANGE.
 */
#ifndef MESH_CORE_UNITS_H
#define MESH_CORE_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Digits after the decimal point; more is taken as a typo, not precision. */
#define MESH_UNITS_FRACTION_DIGITS_MAX 9u
/* A buffer this large holds any formatted value. */
#define MESH_UNITS_FMT_MAX 32u

/**
 * A size in bytes: a bare byte count, or a number with B, KiB, MiB, GiB or
 * TiB (powers of 1024). Returns 0 and sets *@bytes, -EINVAL when @s is not
 * such a size, or -ERANGE when it exceeds UINT64_MAX.
 */
int mesh_units_parse_size(const char *s, uint64_t *bytes);

/**
 * A duration in nanoseconds: a number with ns, us, ms or s. A bare number
 * is -EINVAL (is "100" milliseconds or seconds?) except "0", which means
 * the same in every unit. -ERANGE when it exceeds UINT64_MAX nanoseconds.
 */
int mesh_units_parse_duration(const char *s, uint64_t *ns);

/**
 * A bandwidth in bytes per second: a number with bps, Kbps, Mbps, Gbps
 * (bits per second) or Bps, KBps, MBps, GBps (bytes per second), decimal
 * multiples. Bits must come to whole bytes ("1bps" is -EINVAL). A bare
 * number other than "0" is -EINVAL; -ERANGE on overflow.
 */
int mesh_units_parse_bandwidth(const char *s, uint64_t *bytes_per_s);

/**
 * A probability: a number in [0, 1] ("0.01") or a percentage in [0%, 100%]
 * ("1%"). Returns -EINVAL when malformed, -ERANGE when above 1.
 */
int mesh_units_parse_probability(const char *s, double *p);

/**
 * A plain decimal number within [@min, @max], no unit ("2", "2.5"): factors
 * and ratios. Returns -EINVAL when malformed, -ERANGE when out of range.
 */
int mesh_units_parse_real(const char *s, double min, double max, double *v);

/**
 * A plain unsigned decimal integer within [@min, @max] (no unit, no
 * fraction). Returns -EINVAL when malformed, -ERANGE when out of range.
 */
int mesh_units_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *v);

/** As mesh_units_parse_u64, for 32-bit fields (@max <= UINT32_MAX). */
int mesh_units_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *v);

/*
 * Formatting, for reports and error messages: the largest unit in which the
 * value is at least 1, with up to three decimals, rounded, trailing zeros
 * dropped ("1.5s", "64MiB", "3.125GBps", "0s"). The result parses back with
 * the matching parser (to within the rounding). Each writes at most @len
 * bytes (MESH_UNITS_FMT_MAX is always enough) and returns @buf.
 */
char *mesh_units_format_duration(uint64_t ns, char *buf, size_t len);
char *mesh_units_format_size(uint64_t bytes, char *buf, size_t len);
char *mesh_units_format_bandwidth(uint64_t bytes_per_s, char *buf, size_t len);

#endif

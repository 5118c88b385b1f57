/*
 * sim/units.c: strict parsers and report formatters for sizes, durations,
 * bandwidths, probabilities and integers (see units.h).
 *
 * Numbers are parsed by hand rather than with strtoull/strtod: those accept
 * leading spaces, signs ("-1" wraps to a huge unsigned value), hex and
 * exponents, and each of those would let a typo through. Fractions are
 * scaled with integer arithmetic so that "1.1GiB" is exact or refused,
 * never rounded.
 */
#include "core/units.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A unit: its suffix, and its value as num / den of the result's unit. */
struct unit {
	const char *suffix;
	uint64_t num;
	uint64_t den;
};

static const struct unit size_units[] = {
	{ "", 1, 1 },
	{ "B", 1, 1 },
	{ "KiB", 1ull << 10, 1 },
	{ "MiB", 1ull << 20, 1 },
	{ "GiB", 1ull << 30, 1 },
	{ "TiB", 1ull << 40, 1 },
	{ NULL, 0, 0 },
};

static const struct unit duration_units[] = {
	{ "ns", 1, 1 },
	{ "us", 1000ull, 1 },
	{ "ms", 1000000ull, 1 },
	{ "s", 1000000000ull, 1 },
	{ NULL, 0, 0 },
};

/* Bits per second are counted in bits, then divided into whole bytes. */
static const struct unit bandwidth_units[] = {
	{ "bps", 1, 8 },
	{ "Kbps", 1000ull, 8 },
	{ "Mbps", 1000000ull, 8 },
	{ "Gbps", 1000000000ull, 8 },
	{ "Bps", 1, 1 },
	{ "KBps", 1000ull, 1 },
	{ "MBps", 1000000ull, 1 },
	{ "GBps", 1000000000ull, 1 },
	{ NULL, 0, 0 },
};

/* A decimal number as it was written: int_part + frac / 10^frac_digits. */
struct decimal {
	uint64_t int_part;
	uint64_t frac;
	unsigned frac_digits;
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Read digits[.digits] from the start of @s; *@end is the first character
 * after the number. -EINVAL when there is no digit first or none after a
 * point, -ERANGE when the integer part overflows.
 */
static int read_decimal(const char *s, struct decimal *d, const char **end)
{
	memset(d, 0, sizeof(*d));
	if (!is_digit(*s))
		return -EINVAL;
	for (; is_digit(*s); s++) {
		uint64_t digit = (uint64_t)(*s - '0');

		if (d->int_part > (UINT64_MAX - digit) / 10)
			return -ERANGE;
		d->int_part = d->int_part * 10 + digit;
	}
	if (*s == '.') {
		s++;
		if (!is_digit(*s))
			return -EINVAL;
		for (; is_digit(*s); s++) {
			if (d->frac_digits == MESH_UNITS_FRACTION_DIGITS_MAX)
				return -EINVAL;
			d->frac = d->frac * 10 + (uint64_t)(*s - '0');
			d->frac_digits++;
		}
	}
	*end = s;
	return 0;
}

static uint64_t pow10_u64(unsigned n)
{
	uint64_t v = 1;

	while (n--)
		v *= 10;
	return v;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/*
 * @d times @u, exactly. The fraction's share is frac * num / 10^digits;
 * dividing both by their gcd first keeps the product below num, so it
 * cannot overflow, and shows at once whether the result is whole.
 */
static int scale(const struct decimal *d, const struct unit *u, uint64_t *out)
{
	uint64_t p = pow10_u64(d->frac_digits);
	uint64_t g = gcd_u64(u->num, p);
	uint64_t frac_part, v;

	if (d->frac % (p / g) != 0)
		return -EINVAL;
	frac_part = d->frac / (p / g) * (u->num / g);
	if (d->int_part > UINT64_MAX / u->num)
		return -ERANGE;
	v = d->int_part * u->num;
	if (v > UINT64_MAX - frac_part)
		return -ERANGE;
	v += frac_part;
	if (v % u->den != 0)
		return -EINVAL;
	*out = v / u->den;
	return 0;
}

/* A number followed by exactly one of @units' suffixes. */
static int parse_with_units(const char *s, const struct unit *units, uint64_t *out)
{
	struct decimal d;
	const char *end;
	int rc;

	assert(s && out);
	rc = read_decimal(s, &d, &end);
	if (rc)
		return rc;
	for (const struct unit *u = units; u->suffix; u++) {
		if (strcmp(end, u->suffix) == 0)
			return scale(&d, u, out);
	}
	return -EINVAL;
}

int mesh_units_parse_size(const char *s, uint64_t *bytes)
{
	return parse_with_units(s, size_units, bytes);
}

int mesh_units_parse_duration(const char *s, uint64_t *ns)
{
	assert(s && ns);
	if (strcmp(s, "0") == 0) {
		*ns = 0;
		return 0;
	}
	return parse_with_units(s, duration_units, ns);
}

int mesh_units_parse_bandwidth(const char *s, uint64_t *bytes_per_s)
{
	assert(s && bytes_per_s);
	if (strcmp(s, "0") == 0) {
		*bytes_per_s = 0;
		return 0;
	}
	return parse_with_units(s, bandwidth_units, bytes_per_s);
}

/*
 * digits[.digits] followed by @suffix ("" or "%"), as a double. Once the text
 * is known to have that form, strtod reads it the same in every locale and
 * rounds correctly.
 */
static int parse_plain(const char *s, const char *suffix, double *v)
{
	struct decimal d;
	const char *end;
	int rc;

	assert(s && v);
	rc = read_decimal(s, &d, &end);
	if (rc)
		return rc;
	if (strcmp(end, suffix) != 0)
		return -EINVAL;
	*v = strtod(s, NULL);
	return 0;
}

int mesh_units_parse_real(const char *s, double min, double max, double *v)
{
	double x;
	int rc;

	assert(min <= max);
	rc = parse_plain(s, "", &x);
	if (rc)
		return rc;
	if (x < min || x > max)
		return -ERANGE;
	*v = x;
	return 0;
}

int mesh_units_parse_probability(const char *s, double *p)
{
	bool percent = s && *s && s[strlen(s) - 1] == '%';
	double x;
	int rc;

	assert(s && p);
	rc = parse_plain(s, percent ? "%" : "", &x);
	if (rc)
		return rc;
	if (percent)
		x /= 100.0;
	if (x > 1.0)
		return -ERANGE;
	*p = x;
	return 0;
}

int mesh_units_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	struct decimal d;
	const char *end;
	int rc;

	assert(s && v && min <= max);
	rc = read_decimal(s, &d, &end);
	if (rc)
		return rc;
	if (*end || d.frac_digits)
		return -EINVAL;
	if (d.int_part < min || d.int_part > max)
		return -ERANGE;
	*v = d.int_part;
	return 0;
}

int mesh_units_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *v)
{
	uint64_t wide;
	int rc;

	assert(v);
	rc = mesh_units_parse_u64(s, min, max, &wide);
	if (rc)
		return rc;
	*v = (uint32_t)wide;
	return 0;
}

/*
 * @value in the largest of @units (ascending, one per entry, den 1) that it
 * reaches, with up to three decimals, rounded half up, zeros trimmed.
 */
static char *format_scaled(uint64_t value, const struct unit *units, size_t count, char *buf,
			   size_t len)
{
	const struct unit *u = &units[0];
	uint64_t whole, milli;
	int n;

	assert(buf && len > 0 && count > 0);
	for (size_t i = 1; i < count; i++) {
		if (value >= units[i].num)
			u = &units[i];
	}
	whole = value / u->num;
	/* remainder < num <= 2^40, so the product stays far from overflow */
	milli = (value % u->num * 1000 + u->num / 2) / u->num;
	if (milli == 1000) {
		whole++;
		milli = 0;
	}
	if (milli == 0) {
		snprintf(buf, len, "%llu%s", (unsigned long long)whole, u->suffix);
		return buf;
	}
	n = milli % 10 ? 3 : milli % 100 ? 2 : 1;
	for (int i = n; i < 3; i++)
		milli /= 10;
	snprintf(buf, len, "%llu.%0*llu%s", (unsigned long long)whole, n, (unsigned long long)milli,
		 u->suffix);
	return buf;
}

char *mesh_units_format_duration(uint64_t ns, char *buf, size_t len)
{
	if (ns == 0) {
		snprintf(buf, len, "0s");
		return buf;
	}
	return format_scaled(ns, duration_units, 4, buf, len);
}

char *mesh_units_format_size(uint64_t bytes, char *buf, size_t len)
{
	/* skip the bare "" entry: reports always say B */
	return format_scaled(bytes, size_units + 1, 5, buf, len);
}

char *mesh_units_format_bandwidth(uint64_t bytes_per_s, char *buf, size_t len)
{
	/* the bytes-per-second half of the table */
	return format_scaled(bytes_per_s, bandwidth_units + 4, 4, buf, len);
}

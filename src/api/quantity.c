/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes resource.Quantity: <sign><digits>[.<digits>]<suffix>, the
 * suffix one of the binary SI (Ki..Ei), the decimal SI (m, k, M..E) or
 * an exponent (e3, E-2). The value is an exact decimal times a power of
 * two, rounded up to an integer as Kubernetes' Value()/MilliValue() do.
 * 128-bit arithmetic keeps "0.5Ei" and "1e-3" exact. */
#include <ctype.h>
#include <string.h>

#include "godwit/api.h"

__extension__ typedef unsigned __int128 u128;

#define U128_LIMIT ((u128)1 << 120)

static int parse(const char *s, int extra_exp10, int64_t *out)
{
	if (!s)
		return -EINVAL;
	const char *p = s;
	bool negative = false;
	if (*p == '+' || *p == '-') {
		negative = *p == '-';
		p++;
	}
	u128 mant = 0;
	int exp10 = extra_exp10;
	size_t digits = 0, significant = 0;
	bool nonzero = false, dropped = false;
	for (; isdigit((unsigned char)*p); p++, digits++) {
		if (mant || *p != '0')
			significant++;
		if (significant > 36)
			return -ERANGE;
		mant = mant * 10 + (u128)(*p - '0');
		nonzero |= *p != '0';
	}
	if (*p == '.') {
		p++;
		for (; isdigit((unsigned char)*p); p++, digits++) {
			/* Fraction digits past what 128 bits hold only round up. */
			if (significant >= 36) {
				nonzero |= *p != '0';
				dropped |= *p != '0';
				continue;
			}
			if (mant || *p != '0')
				significant++;
			mant = mant * 10 + (u128)(*p - '0');
			nonzero |= *p != '0';
			exp10--;
		}
	}
	if (!digits)
		return -EINVAL;
	unsigned shift = 0;
	const char *q = p + 1;
	bool eneg = false;
	if ((*p == 'e' || *p == 'E') && (*q == '+' || *q == '-')) {
		eneg = *q == '-';
		q++;
	}
	if ((*p == 'e' || *p == 'E') && isdigit((unsigned char)*q)) {
		/* An exponent; "E" alone (below) is exa. */
		long e = 0;
		for (; isdigit((unsigned char)*q); q++) {
			e = e * 10 + (*q - '0');
			if (e > 1000)
				return -ERANGE;
		}
		if (*q)
			return -EINVAL;
		exp10 += eneg ? -(int)e : (int)e;
	} else if (*p) {
		static const struct {
			const char *suffix;
			int exp10;
			unsigned shift;
		} suffixes[] = {
			{"Ki", 0, 10}, {"Mi", 0, 20}, {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50},
			{"Ei", 0, 60}, {"m", -3, 0},  {"k", 3, 0},   {"M", 6, 0},   {"G", 9, 0},
			{"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},
		};
		size_t i;
		for (i = 0; i < GW_ARRAY_SIZE(suffixes); i++)
			if (strcmp(p, suffixes[i].suffix) == 0)
				break;
		if (i == GW_ARRAY_SIZE(suffixes))
			return -EINVAL;
		exp10 += suffixes[i].exp10;
		shift = suffixes[i].shift;
	}
	if (negative && nonzero)
		return -EDOM;
	if (!nonzero) {
		*out = 0;
		return 0;
	}
	for (unsigned i = 0; i < shift; i++) {
		if (mant >= U128_LIMIT)
			return -ERANGE;
		mant <<= 1;
	}
	for (; exp10 > 0; exp10--) {
		if (mant >= U128_LIMIT / 10)
			return -ERANGE;
		mant *= 10;
	}
	bool remainder = dropped;
	for (; exp10 < 0; exp10++) {
		if (mant == 0)
			break;
		remainder |= mant % 10 != 0;
		mant /= 10;
	}
	if (remainder || mant == 0)
		mant++;  /* round up, as Kubernetes does; a positive value never becomes 0 */
	if (mant > (u128)INT64_MAX)
		return -ERANGE;
	*out = (int64_t)mant;
	return 0;
}

int gw_quantity_parse(const char *s, int64_t *out)
{
	return parse(s, 0, out);
}

int gw_quantity_parse_millis(const char *s, int64_t *out)
{
	return parse(s, 3, out);
}

const char *gw_quantity_strerror(int code)
{
	switch (code) {
	case -EDOM:
		return "must not be negative";
	case -ERANGE:
		return "out of range";
	default:
		return "not a quantity";
	}
}

/* SPDX-License-Identifier: Apache-2.0 */
#include "helpers.h"

#include <string.h>

#include "godwit/api.h"

static const struct {
	const char *s;
	int64_t bytes;       /* gw_quantity_parse; when err: expected code */
	int64_t millis;      /* gw_quantity_parse_millis */
	int err;
} cases[] = {
	{"0", 0, 0, 0},
	{"2", 2, 2000, 0},
	{"+7", 7, 7000, 0},
	{"500m", 1, 500, 0},          /* half a byte rounds up */
	{"1500m", 2, 1500, 0},
	{"1k", 1000, 1000000, 0},
	{"1M", 1000000, 1000000000, 0},
	{"1G", 1000000000, 1000000000000, 0},
	{"2T", 2000000000000, 2000000000000000, 0},
	{"1P", 1000000000000000, 1000000000000000000, 0},
	{"1E", 1000000000000000000, 0, 0},
	{"1Ki", 1024, 1024000, 0},
	{"64Mi", 64 * 1048576LL, 64 * 1048576000LL, 0},
	{"1.5Gi", 1610612736, 1610612736000, 0},
	{"1Ti", 1099511627776, 1099511627776000, 0},
	{"1Pi", 1125899906842624, 1125899906842624000, 0},
	{"1Ei", 1152921504606846976, 0, 0},
	{"7Ei", 7 * 1152921504606846976LL, 0, 0},
	{"0.5Ei", 576460752303423488, 0, 0},
	{"1e3", 1000, 1000000, 0},
	{"1E3", 1000, 1000000, 0},
	{"2e-3", 1, 2, 0},
	{"1.5", 2, 1500, 0},
	{".5", 1, 500, 0},
	{"5.", 5, 5000, 0},
	{"0.1m", 1, 1, 0},            /* rounds up, never to zero */
	{"-0", 0, 0, 0},
	{"12Zi", 0, 0, -EINVAL},
	{"", 0, 0, -EINVAL},
	{"Gi", 0, 0, -EINVAL},
	{".", 0, 0, -EINVAL},
	{"1.2.3", 0, 0, -EINVAL},
	{"1 Gi", 0, 0, -EINVAL},
	{"1gi", 0, 0, -EINVAL},
	{"1e", 0, 0, -EINVAL},
	{"1e3Gi", 0, 0, -EINVAL},
	{"0x10", 0, 0, -EINVAL},
	{"-1", 0, 0, -EDOM},
	{"-5Mi", 0, 0, -EDOM},
	{"8Ei", 0, 0, -ERANGE},
	{"9223372036854775808", 0, 0, -ERANGE},
	{"1e1001", 0, 0, -ERANGE},
	{"99999999999999999999999999999999999999999", 0, 0, -ERANGE},
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < GW_ARRAY_SIZE(cases); i++) {
		int64_t v = -1;
		int r = gw_quantity_parse(cases[i].s, &v);
		if (r != cases[i].err || (!r && v != cases[i].bytes))
			fail_msg("parse(\"%s\") = %d, %lld; want %d, %lld", cases[i].s, r, (long long)v, cases[i].err,
				 (long long)cases[i].bytes);
		if (cases[i].err || (cases[i].millis == 0 && cases[i].bytes))
			continue;   /* millis of exa overflow: checked below */
		v = -1;
		r = gw_quantity_parse_millis(cases[i].s, &v);
		if (r != 0 || v != cases[i].millis)
			fail_msg("parse_millis(\"%s\") = %d, %lld; want %lld", cases[i].s, r, (long long)v,
				 (long long)cases[i].millis);
	}
}

static void test_millis_overflow(void **state)
{
	(void)state;
	int64_t v;
	assert_int_equal(gw_quantity_parse_millis("1E", &v), -ERANGE);
	assert_int_equal(gw_quantity_parse_millis("9223372036854775", &v), 0);
	assert_int_equal(v, 9223372036854775000LL);
	assert_int_equal(gw_quantity_parse(NULL, &v), -EINVAL);
	assert_string_equal(gw_quantity_strerror(-EDOM), "must not be negative");
	assert_string_equal(gw_quantity_strerror(-EINVAL), "not a quantity");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_millis_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

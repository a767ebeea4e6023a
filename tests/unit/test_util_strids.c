/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "helpers.h"

/* Equal texts at different addresses share a number; numbers follow the
 * order texts are first met; an address met again gives its number. */
static void equal_texts_one_number(void **state)
{
	(void)state;
	struct gw_strids t;
	gw_strids_init(&t);
	char a[] = "cpu-feature.node.kubevirt.io/avx2", b[] = "cpu-feature.node.kubevirt.io/avx2";
	char c[] = "cpu-feature.node.kubevirt.io/avx", e[] = "";
	assert_ptr_not_equal(a, b);
	assert_int_equal(gw_strids_id(&t, a), 0);
	assert_int_equal(gw_strids_id(&t, c), 1);
	assert_int_equal(gw_strids_id(&t, b), 0);
	assert_int_equal(gw_strids_id(&t, a), 0);
	assert_int_equal(gw_strids_id(&t, e), 2);
	assert_int_equal(gw_strids_id(&t, c), 1);
	gw_strids_fini(&t);
}

/* Through the tables' growth: 5,000 texts, each at two addresses, every
 * lookup again after all were added. */
static void many_texts_keep_their_numbers(void **state)
{
	(void)state;
	enum { N = 5000 };
	static char first[N][16], second[N][16];
	struct gw_strids t;
	gw_strids_init(&t);
	for (int i = 0; i < N; i++) {
		snprintf(first[i], sizeof(first[i]), "label-%d", i);
		memcpy(second[i], first[i], sizeof(first[i]));
		assert_int_equal(gw_strids_id(&t, first[i]), (size_t)i);
	}
	for (int i = N - 1; i >= 0; i--) {
		assert_int_equal(gw_strids_id(&t, second[i]), (size_t)i);
		assert_int_equal(gw_strids_id(&t, first[i]), (size_t)i);
	}
	gw_strids_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(equal_texts_one_number),
		cmocka_unit_test(many_texts_keep_their_numbers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

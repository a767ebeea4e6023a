/* SPDX-License-Identifier: Apache-2.0 */
/* Replays tests/fuzz/corpus/api_cluster through the api reader, whole and
 * cut at a few points, so the ordinary and sanitizer builds run the seeds
 * even when nobody runs the fuzzer. */
#include <string.h>

#include "helpers.h"
#include "../fuzz/fuzz_api.h"

static void corpus_api_cluster(void **state)
{
	(void)state;
	char *dir = test_source_path("tests/fuzz/corpus/api_cluster");
	struct gw_strv files;
	gw_strv_init(&files);
	struct gw_err *err = NULL;
	if (gw_dir_list(dir, &files, &err) < 0)
		fail_msg("%s", err->msg);
	assert_true(files.n > 0);
	unsigned accepted = 0;
	for (size_t i = 0; i < files.n; i++) {
		char *data = NULL;
		size_t len = 0;
		if (gw_file_read(files.v[i], 1 << 20, &data, &len, &err) < 0)
			fail_msg("%s", err->msg);
		if (fuzz_api_cluster((const uint8_t *)data, len) > 0)
			accepted++;
		for (size_t cut = 1; cut < len; cut += len / 7 + 1)
			(void)fuzz_api_cluster((const uint8_t *)data, cut);
		free(data);
	}
	/* Mostly valid seeds: a reader that decodes none of them is broken. */
	if (accepted == 0)
		fail_msg("%s: no seed decoded", dir);
	gw_strv_fini(&files);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(corpus_api_cluster),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

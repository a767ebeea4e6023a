/* SPDX-License-Identifier: Apache-2.0 */
/* Replays the fuzz seed corpus (tests/fuzz/corpus/<reader>/) through each
 * reader, so the ordinary build (and CI under ASan/UBSan) runs them even
 * when nobody runs the fuzzers. */
#include <string.h>

#include "godwit/cpu.h"
#include "helpers.h"
#include "../fuzz/fuzz_readers.h"

struct reader {
	const char *dir;
	int (*run)(const uint8_t *data, size_t size);
};

static const struct reader readers[] = {
	{"domcaps", fuzz_domcaps},
	{"cpuid_dump", fuzz_cpuid_dump},
	{"json_profile", fuzz_json_profile},
	{"nodes", fuzz_nodes},
};

static void replay(const struct reader *rd)
{
	char *rel = gw_asprintf("tests/fuzz/corpus/%s", rd->dir);
	char *dir = test_source_path(rel);
	free(rel);
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
		/* Also every prefix cut at a few points: truncated input is the
		 * commonest kind of broken file. */
		if (rd->run((const uint8_t *)data, len) == 0)
			accepted++;
		for (size_t cut = 1; cut < len; cut += len / 7 + 1)
			(void)rd->run((const uint8_t *)data, cut);
		free(data);
	}
	/* the seeds are mostly valid inputs: a reader that rejects all of
	 * them is broken, not robust */
	if (accepted == 0)
		fail_msg("%s: no seed accepted", dir);
	gw_strv_fini(&files);
	free(dir);
}

static void corpus_domcaps(void **state)
{
	(void)state;
	replay(&readers[0]);
}

static void corpus_cpuid_dump(void **state)
{
	(void)state;
	replay(&readers[1]);
}

static void corpus_json_profile(void **state)
{
	(void)state;
	replay(&readers[2]);
}

static void corpus_nodes(void **state)
{
	(void)state;
	replay(&readers[3]);
}

static void fuzz_artifacts_do_not_crash(void **state)
{
	(void)state;
	/* Inputs the fuzzers once crashed on (tests/fuzz/regressions/<reader>-*),
	 * if any were kept. */
	char *dir = test_source_path("tests/fuzz/regressions");
	struct gw_strv files;
	gw_strv_init(&files);
	if (!gw_path_is_dir(dir) || gw_dir_list(dir, &files, NULL) < 0 || files.n == 0) {
		free(dir);
		gw_strv_fini(&files);
		print_message("# no fuzz regressions kept\n");
		skip();
	}
	for (size_t i = 0; i < files.n; i++) {
		const char *base = strrchr(files.v[i], '/') + 1;
		char *data = NULL;
		size_t len = 0;
		assert_int_equal(gw_file_read(files.v[i], 1 << 20, &data, &len, NULL), 0);
		bool matched = false;
		for (size_t r = 0; r < GW_ARRAY_SIZE(readers); r++)
			if (gw_str_has_prefix(base, readers[r].dir) && base[strlen(readers[r].dir)] == '-') {
				(void)readers[r].run((const uint8_t *)data, len);
				matched = true;
			}
		if (!matched)
			fail_msg("%s: name it <reader>-<what>", files.v[i]);
		free(data);
	}
	gw_strv_fini(&files);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(corpus_domcaps),
		cmocka_unit_test(corpus_cpuid_dump),
		cmocka_unit_test(corpus_json_profile),
		cmocka_unit_test(corpus_nodes),
		cmocka_unit_test(fuzz_artifacts_do_not_crash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

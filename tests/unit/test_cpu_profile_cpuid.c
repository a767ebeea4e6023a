/* SPDX-License-Identifier: Apache-2.0 */
/* CPUID and MSR decoding, `cpuid -1 -r` dumps, and this host's CPUID. */
#include <string.h>
#include <sys/stat.h>

#include "godwit/cpu.h"
#include "helpers.h"

static bool has(const struct gw_featset *s, const char *name)
{
	int idx = gw_cpu_feature_find(name);
	if (idx < 0)
		fail_msg("test names unknown feature %s", name);
	return gw_featset_test(s, (unsigned)idx);
}

static void decode_cpuid_registers(void **state)
{
	(void)state;
	struct gw_featset s = {0};
	/* leaf 1: ECX bit 0 pni, bit 28 avx; EDX bit 25 sse, bit 26 sse2 */
	uint32_t l1[4] = {0, 0, (1u << 0) | (1u << 28), (1u << 25) | (1u << 26)};
	gw_cpu_decode_cpuid(1, 0, l1, &s);
	assert_int_equal(gw_featset_count(&s), 4);
	assert_true(has(&s, "pni") && has(&s, "avx") && has(&s, "sse") && has(&s, "sse2"));

	/* leaf 7.0 EBX bit 5 avx2, EDX bit 26 spec-ctrl; the same bits in
	 * subleaf 2 must not be read as subleaf 0 features */
	memset(&s, 0, sizeof(s));
	uint32_t l7[4] = {0, 1u << 5, 0, 1u << 26};
	gw_cpu_decode_cpuid(7, 0, l7, &s);
	assert_true(has(&s, "avx2") && has(&s, "spec-ctrl"));
	assert_int_equal(gw_featset_count(&s), 2);
	memset(&s, 0, sizeof(s));
	gw_cpu_decode_cpuid(7, 2, l7, &s);
	assert_false(has(&s, "avx2"));
	assert_false(has(&s, "spec-ctrl"));

	/* 7.1 EAX bit 4 avx-vnni; 0x80000001 ECX bit 2 svm; EDX bit 29 lm */
	memset(&s, 0, sizeof(s));
	uint32_t l71[4] = {1u << 4, 0, 0, 0};
	gw_cpu_decode_cpuid(7, 1, l71, &s);
	uint32_t e1[4] = {0, 0, 1u << 2, 1u << 29};
	gw_cpu_decode_cpuid(0x80000001u, 0, e1, &s);
	assert_true(has(&s, "avx-vnni") && has(&s, "svm") && has(&s, "lm"));
	assert_int_equal(gw_featset_count(&s), 3);

	/* a leaf with no features in the table decodes to nothing */
	memset(&s, 0, sizeof(s));
	uint32_t all[4] = {~0u, ~0u, ~0u, ~0u};
	gw_cpu_decode_cpuid(0x40000000u, 0, all, &s);
	assert_true(gw_featset_empty(&s));
}

static void decode_msr_values(void **state)
{
	(void)state;
	struct gw_featset s = {0};
	/* The CI machine's ARCH_CAPABILITIES value (cpu-models.md g.2). */
	gw_cpu_decode_msr(0x10a, 0x0c00006d, &s);
	static const char *const expect[] = {"rdctl-no", "rsba", "skip-l1dfl-vmentry", "mds-no",
					     "pschange-mc-no", "gds-no", "rfds-no"};
	for (size_t i = 0; i < GW_ARRAY_SIZE(expect); i++)
		if (!has(&s, expect[i]))
			fail_msg("0x10a=0x0c00006d lacks %s", expect[i]);
	assert_int_equal(gw_featset_count(&s), GW_ARRAY_SIZE(expect));

	/* high word of ARCH_CAPABILITIES holds no libvirt feature */
	memset(&s, 0, sizeof(s));
	gw_cpu_decode_msr(0x10a, 0xffffffff00000000ull, &s);
	assert_true(gw_featset_empty(&s));

	memset(&s, 0, sizeof(s));
	gw_cpu_decode_msr(0xcf, 1u << 5, &s);
	assert_true(has(&s, "split-lock-detect"));

	/* VMX control MSR: allowed-1 bits are the high word (a.3) */
	memset(&s, 0, sizeof(s));
	gw_cpu_decode_msr(0x48b, 1ull << 1, &s); /* allowed-0 only: not offered */
	assert_false(has(&s, "vmx-ept"));
	gw_cpu_decode_msr(0x48b, 1ull << (32 + 1), &s);
	assert_true(has(&s, "vmx-ept"));
	gw_cpu_decode_msr(0x48e, 1ull << (32 + 7), &s);
	assert_true(has(&s, "vmx-hlt-exit"));
	/* raw-layout VMX MSRs: 0x480 bit 55, 0x48c bit 32 */
	gw_cpu_decode_msr(0x480, 1ull << 55, &s);
	gw_cpu_decode_msr(0x48c, 1ull << 32, &s);
	assert_true(has(&s, "vmx-true-ctls") && has(&s, "vmx-invvpid"));
	assert_int_equal(gw_featset_count(&s), 4);
}

#define L0_INTEL "   0x00000000 0x00: eax=0x0000000d ebx=0x756e6547 ecx=0x6c65746e edx=0x49656e69\n"

static void dump_signature_and_features(void **state)
{
	(void)state;
	/* family 6 model 207 stepping 2 (cpu-models.md g.1: EAX 0x000c06f2) */
	const char *text = "CPU:\n" L0_INTEL
			   "   0x00000001 0x00: eax=0x000c06f2 ebx=0x00000800 ecx=0x00000001 edx=0x04000000\n"
			   "   0x00000007 0x00: eax=0x00000000 ebx=0x00000020 ecx=0x00000000 edx=0x00000000\n"
			   "   0x80000000 0x00: eax=0x80000001 ebx=0x00000000 ecx=0x00000000 edx=0x00000000\n"
			   "   0x80000001 0x00: eax=0x00000000 ebx=0x00000000 ecx=0x00000000 edx=0x20000000\n"
			   "   0x80000008 0x00: eax=0x00000000 ebx=0x00001000 ecx=0x00000000 edx=0x00000000\n";
	struct gw_cpu_profile *p = NULL;
	struct gw_err *err = NULL;
	assert_int_equal(gw_cpu_profile_from_cpuid_dump(text, "dir/emr.cpuid", &p, &err), 0);
	assert_string_equal(p->name, "emr");
	assert_int_equal(p->kind, GW_CPU_PROFILE_CPUID_DUMP);
	assert_string_equal(p->vendor, "Intel");
	assert_int_equal(p->family, 6);
	assert_int_equal(p->model, 207);
	assert_int_equal(p->stepping, 2);
	assert_true(has(&p->features, "pni") && has(&p->features, "sse2") && has(&p->features, "avx2") &&
		    has(&p->features, "lm"));
	/* 0x80000008 is above the maximum extended leaf (0x80000001): ignored */
	assert_false(has(&p->features, "ibpb"));
	assert_int_equal(gw_featset_count(&p->features), 4);
	gw_cpu_profile_free(p);

	/* AMD family 0x1a: base 0xf + extended 0xb (EAX 0x00b00f21) */
	text = "   0x00000000 0x00: eax=0x00000001 ebx=0x68747541 ecx=0x444d4163 edx=0x69746e65\n"
	       "   0x00000001 0x00: eax=0x00b00f21 ebx=0 ecx=0x0 edx=0x0\n";
	/* "ebx=0" lacks 0x: malformed */
	assert_true(gw_cpu_profile_from_cpuid_dump(text, "amd.txt", &p, &err) < 0);
	assert_non_null(strstr(err->msg, "amd.txt: line 2: "));
	gw_err_free(err);
	err = NULL;
	text = "   0x00000000 0x00: eax=0x00000001 ebx=0x68747541 ecx=0x444d4163 edx=0x69746e65\r\n"
	       "   0x00000001 0x00: eax=0x00b00f21 ebx=0x0 ecx=0x0 edx=0x0\r\n"
	       "   0x00000007 0x00: eax=0x00000000 ebx=0x00000020 ecx=0x00000000 edx=0x00000000\r\n";
	assert_int_equal(gw_cpu_profile_from_cpuid_dump(text, "amd.txt", &p, &err), 0);
	assert_string_equal(p->vendor, "AMD");
	assert_int_equal(p->family, 26);
	assert_int_equal(p->model, 2);
	assert_int_equal(p->stepping, 1);
	/* leaf 7 is above the maximum basic leaf (1) */
	assert_true(gw_featset_empty(&p->features));
	gw_cpu_profile_free(p);

	/* subleaf 1 of leaf 7 counts only when subleaf 0 says it exists */
	text = L0_INTEL "   0x00000001 0x00: eax=0x000c06f2 ebx=0x0 ecx=0x0 edx=0x0\n"
		       "   0x00000007 0x00: eax=0x00000000 ebx=0x0 ecx=0x0 edx=0x0\n"
		       "   0x00000007 0x01: eax=0x00000010 ebx=0x0 ecx=0x0 edx=0x0\n";
	assert_int_equal(gw_cpu_profile_from_cpuid_dump(text, "x", &p, NULL), 0);
	assert_false(has(&p->features, "avx-vnni"));
	gw_cpu_profile_free(p);
	text = L0_INTEL "   0x00000001 0x00: eax=0x000c06f2 ebx=0x0 ecx=0x0 edx=0x0\n"
		       "   0x00000007 0x00: eax=0x00000001 ebx=0x0 ecx=0x0 edx=0x0\n"
		       "   0x00000007 0x01: eax=0x00000010 ebx=0x0 ecx=0x0 edx=0x0\n";
	assert_int_equal(gw_cpu_profile_from_cpuid_dump(text, "x", &p, NULL), 0);
	assert_true(has(&p->features, "avx-vnni"));
	gw_cpu_profile_free(p);
}

static void dump_first_cpu_only(void **state)
{
	(void)state;
	const char *text = "CPU 0:\n" L0_INTEL
			   "   0x00000001 0x00: eax=0x000c06f2 ebx=0x0 ecx=0x0 edx=0x1\n"
			   "CPU 1:\n" L0_INTEL
			   "   0x00000001 0x00: eax=0x000c06f2 ebx=0x0 ecx=0x0 edx=0x3\n";
	struct gw_cpu_profile *p = NULL;
	assert_int_equal(gw_cpu_profile_from_cpuid_dump(text, "two", &p, NULL), 0);
	assert_true(has(&p->features, "fpu"));
	assert_false(has(&p->features, "vme"));
	gw_cpu_profile_free(p);
}

static void expect_dump_error(const char *text, const char *needle)
{
	struct gw_cpu_profile *p = NULL;
	struct gw_err *err = NULL;
	assert_true(gw_cpu_profile_from_cpuid_dump(text, "bad.cpuid", &p, &err) < 0);
	assert_null(p);
	assert_non_null(err);
	if (!strstr(err->msg, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err->msg, needle);
	gw_err_free(err);
}

static void dump_malformed(void **state)
{
	(void)state;
	expect_dump_error("", "bad.cpuid: no CPUID leaves");
	expect_dump_error("CPU:\n\n", "bad.cpuid: no CPUID leaves");
	expect_dump_error("CPU:\n   0x00000000 0x00: eax=0x1 ebx=0x2 ecx=0x3\n", "bad.cpuid: line 2: ");
	expect_dump_error("CPU:\n" L0_INTEL "   0x00000001 0x00: eax=0xZZ ebx=0x0 ecx=0x0 edx=0x0\n",
			  "bad.cpuid: line 3: ");
	/* nine hex digits do not fit a register */
	expect_dump_error(L0_INTEL "   0x00000001 0x00: eax=0x100000000 ebx=0x0 ecx=0x0 edx=0x0\n",
			  "bad.cpuid: line 2: ");
	expect_dump_error(L0_INTEL "   0x00000001 0x00: eax=0x0 ebx=0x0 ecx=0x0 edx=0x0 junk\n", "bad.cpuid: line 2: ");
	expect_dump_error(L0_INTEL L0_INTEL, "bad.cpuid: line 2: leaf 0x00000000 subleaf 0x00 appears twice");
	expect_dump_error(L0_INTEL, "bad.cpuid: no leaf 0x00000001");
	expect_dump_error("   0x00000001 0x00: eax=0x0 ebx=0x0 ecx=0x0 edx=0x0\n", "bad.cpuid: no leaf 0x00000000");
	expect_dump_error("eax=0x1 ebx=0x2\n", "bad.cpuid: line 1: ");
	char *long_line = gw_calloc(1, 2000);
	memset(long_line, ' ', 1999);
	expect_dump_error(long_line, "bad.cpuid: line 1: longer than");
	free(long_line);
}

/* CPUID-only features (a dump has no MSRs). */
static void cpuid_only(const struct gw_featset *in, struct gw_featset *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < gw_cpu_feature_count(); i++)
		if (!gw_cpu_feature_get(i)->is_msr && gw_featset_test(in, i))
			gw_featset_set(out, i);
}

static void report_diff(const char *what, const struct gw_featset *a, const struct gw_featset *b)
{
	struct gw_featset d;
	struct gw_strv names;
	gw_strv_init(&names);
	gw_featset_andnot(&d, a, b);
	gw_featset_names(&d, &names);
	for (size_t i = 0; i < names.n; i++)
		print_message("# %s: only in the first: %s\n", what, names.v[i]);
	gw_strv_fini(&names);
	gw_featset_andnot(&d, b, a);
	gw_featset_names(&d, &names);
	for (size_t i = 0; i < names.n; i++)
		print_message("# %s: only in the second: %s\n", what, names.v[i]);
	gw_strv_fini(&names);
}

static void captured_dump_of_this_machine(void **state)
{
	(void)state;
	char *path = test_data_path("cpuid/this-machine-amd-epyc.cpuid");
	struct gw_cpu_profiles ps;
	gw_cpu_profiles_init(&ps);
	struct gw_err *err = NULL;
	/* through the format detection of gw_cpu_profile_load */
	if (gw_cpu_profile_load(NULL, path, &ps, &err) < 0)
		fail_msg("%s", err->msg);
	free(path);
	assert_int_equal(ps.n, 1);
	struct gw_cpu_profile *dump = ps.v[0];
	/* the capture's /proc/cpuinfo said: AMD, family 26, model 2, stepping 1 */
	assert_string_equal(dump->vendor, "AMD");
	assert_int_equal(dump->family, 26);
	assert_int_equal(dump->model, 2);
	assert_int_equal(dump->stepping, 1);
	assert_true(has(&dump->features, "avx512f") && has(&dump->features, "svm") == false);
	assert_int_equal(gw_cpu_level(&dump->features), 4);

	/* Same machine (identical leaf 0 and 1)? Then the live instruction
	 * must agree with the capture. */
	struct gw_cpu_profile *live = NULL;
	if (gw_cpu_profile_from_host(false, &live, &err) < 0)
		fail_msg("%s", err->msg);
	struct gw_featset a, b;
	cpuid_only(&live->features, &a);
	cpuid_only(&dump->features, &b);
	bool same_cpu = live->family == dump->family && live->model == dump->model &&
			live->stepping == dump->stepping && strcmp(live->vendor, dump->vendor) == 0;
	bool equal = gw_featset_equal(&a, &b);
	if (same_cpu && !equal)
		report_diff("live vs captured", &a, &b);
	gw_cpu_profile_free(live);
	gw_cpu_profiles_fini(&ps);
	if (!same_cpu)
		skip(); /* another CPU: the capture cannot be compared with it */
	assert_true(equal);
}

static void live_instruction_matches_cpuid_tool(void **state)
{
	(void)state;
	/* the Debian cpuid tool, from PATH; the shell says 127 when it is missing */
	FILE *f = popen("cpuid -1 -r 2>/dev/null", "r");
	assert_non_null(f);
	struct gw_buf b;
	gw_buf_init(&b);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		gw_buf_add(&b, chunk, n);
	int status = pclose(f);
	if (status != 0) {
		gw_buf_fini(&b);
		print_message("# skipping: `cpuid -1 -r` failed (status %d): is the cpuid tool installed?\n", status);
		skip();
	}
	struct gw_cpu_profile *dump = NULL, *live = NULL;
	struct gw_err *err = NULL;
	if (gw_cpu_profile_from_cpuid_dump(b.data ? b.data : "", "cpuid -1 -r", &dump, &err) < 0)
		fail_msg("%s", err->msg);
	gw_buf_fini(&b);
	if (gw_cpu_profile_from_host(false, &live, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(live->kind, GW_CPU_PROFILE_CPUID);
	assert_string_equal(live->vendor, dump->vendor);
	assert_int_equal(live->family, dump->family);
	assert_int_equal(live->model, dump->model);
	struct gw_featset x, y;
	cpuid_only(&live->features, &x);
	cpuid_only(&dump->features, &y);
	if (!gw_featset_equal(&x, &y))
		report_diff("live vs cpuid tool", &x, &y);
	assert_true(gw_featset_equal(&x, &y));
	/* every x86-64 CPU has these */
	assert_true(has(&x, "lm") && has(&x, "sse2") && has(&x, "fpu"));
	gw_cpu_profile_free(dump);
	gw_cpu_profile_free(live);
}

static void kvm_profile(void **state)
{
	(void)state;
	struct gw_cpu_profile *p = NULL;
	struct gw_err *err = NULL;
	struct stat st;
	bool have_kvm = stat("/dev/kvm", &st) == 0;
	int r = gw_cpu_profile_from_host(true, &p, &err);
	if (!have_kvm) {
		assert_int_equal(r, -ENODEV);
		assert_null(p);
		assert_non_null(strstr(err->msg, "/dev/kvm: not present"));
		gw_err_free(err);
		print_message("# skipping the KVM_GET_SUPPORTED_CPUID part: this machine has no /dev/kvm\n");
		skip();
	}
	if (r < 0) {
		print_message("# skipping: /dev/kvm is not usable here: %s\n", err->msg);
		gw_err_free(err);
		skip();
	}
	assert_int_equal(p->kind, GW_CPU_PROFILE_KVM);
	/* KVM offers no more than the host has, save what it emulates */
	struct gw_cpu_profile *host = NULL;
	assert_int_equal(gw_cpu_profile_from_host(false, &host, NULL), 0);
	assert_true(has(&p->features, "fpu") && has(&p->features, "lm"));
	gw_cpu_profile_free(host);
	gw_cpu_profile_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decode_cpuid_registers),
		cmocka_unit_test(decode_msr_values),
		cmocka_unit_test(dump_signature_and_features),
		cmocka_unit_test(dump_first_cpu_only),
		cmocka_unit_test(dump_malformed),
		cmocka_unit_test(captured_dump_of_this_machine),
		cmocka_unit_test(live_instruction_matches_cpuid_tool),
		cmocka_unit_test(kvm_profile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

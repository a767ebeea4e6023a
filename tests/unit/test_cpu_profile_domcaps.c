/* SPDX-License-Identifier: Apache-2.0 */
/* libvirt XML readers: domcapabilities, capabilities, baseline output and
 * the node labeller's directory (kubevirt-behaviour.md 1.2, scenario S1). */
#include <string.h>
#include <sys/stat.h>

#include "godwit/cpu.h"
#include "helpers.h"

static struct gw_cpu_modeldb *db;

static int setup(void **state)
{
	(void)state;
	struct gw_err *err = NULL;
	if (gw_cpu_modeldb_builtin(&db, &err) < 0) {
		print_message("# %s\n", gw_err_msg(err));
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	gw_cpu_modeldb_free(db);
	return 0;
}

static bool has(const struct gw_featset *s, const char *name)
{
	int idx = gw_cpu_feature_find(name);
	if (idx < 0)
		fail_msg("test names unknown feature %s", name);
	return gw_featset_test(s, (unsigned)idx);
}

static void featset_of(const char *const *names, size_t n, struct gw_featset *out)
{
	memset(out, 0, sizeof(*out));
	assert_int_equal(gw_featset_from_names(names, n, "test", out, NULL), 0);
}

/* The list holds exactly these names, in any order. */
static void assert_strv_set(const struct gw_strv *v, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!gw_strv_contains(v, names[i]))
			fail_msg("missing %s", names[i]);
	if (v->n != n) {
		for (size_t i = 0; i < v->n; i++)
			print_message("# have %s\n", v->v[i]);
		fail_msg("expected %zu names, have %zu", n, v->n);
	}
}

static const char *const s1_usable[] = {"Penryn", "IvyBridge", "Haswell", "Skylake-Client-IBRS", "Opteron_G2"};
static const char *const s1_known[] = {"EPYC-IBPB", "486", "Conroe", "Penryn", "IvyBridge",
				       "Haswell", "Skylake-Client-IBRS", "Opteron_G2"};
static const char *const s1_required[] = {"ds", "acpi", "ss"};

static void labeller_dir_s1(void **state)
{
	(void)state;
	char *dir = test_data_path("labeller/s1");
	struct gw_cpu_profiles ps;
	gw_cpu_profiles_init(&ps);
	struct gw_err *err = NULL;
	if (gw_cpu_profile_load(db, dir, &ps, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(ps.n, 1);
	const struct gw_cpu_profile *p = ps.v[0];
	assert_string_equal(p->name, "s1");
	assert_string_equal(p->origin, dir);
	assert_int_equal(p->kind, GW_CPU_PROFILE_DOMCAPS);
	assert_string_equal(p->vendor, "Intel");
	assert_string_equal(p->host_model, "Skylake-Client-IBRS");
	struct gw_featset want;
	featset_of(s1_required, GW_ARRAY_SIZE(s1_required), &want);
	assert_true(gw_featset_equal(&p->host_model_require, &want));
	assert_true(gw_featset_empty(&p->host_model_disable));
	assert_true(p->has_usable);
	/* usable != "no" is usable; no usable attribute: neither list */
	assert_strv_set(&p->usable, s1_usable, GW_ARRAY_SIZE(s1_usable));
	assert_strv_set(&p->known, s1_known, GW_ARRAY_SIZE(s1_known));
	/* features = supported_features.xml's required features only */
	static const char *const supported[] = {"apic", "clflush", "vmx", "xsaves"};
	featset_of(supported, GW_ARRAY_SIZE(supported), &want);
	assert_true(gw_featset_equal(&p->features, &want));
	static const char *const machines[] = {"q35", "pc-q35-rhel9.6.0"};
	assert_strv_set(&p->machines, machines, GW_ARRAY_SIZE(machines));
	assert_int_equal(p->tsc_hz, 4008012000ull);
	assert_int_equal(p->tsc_scalable, 0);
	gw_cpu_profiles_fini(&ps);
	free(dir);

	/* the parent directory holds labeller directories: one host each,
	 * named without the trailing slash */
	dir = test_data_path("labeller/");
	if (gw_cpu_profile_load(db, dir, &ps, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(ps.n, 1);
	assert_string_equal(ps.v[0]->name, "s1");
	gw_cpu_profiles_fini(&ps);
	free(dir);
	dir = test_data_path("labeller/s1/");
	if (gw_cpu_profile_load(db, dir, &ps, &err) < 0)
		fail_msg("%s", err->msg);
	assert_string_equal(ps.v[0]->name, "s1");
	gw_cpu_profiles_fini(&ps);
	free(dir);
}

static struct gw_cpu_profile *read_xml_file(const char *rel)
{
	char *path = test_data_path(rel);
	char *text = NULL;
	size_t len = 0;
	struct gw_err *err = NULL;
	if (gw_file_read(path, 1 << 20, &text, &len, &err) < 0)
		fail_msg("%s", err->msg);
	struct gw_cpu_profile *p = NULL;
	if (gw_cpu_profile_from_domcaps(db, text, len, path, &p, &err) < 0)
		fail_msg("%s", err->msg);
	free(text);
	free(path);
	return p;
}

static void domcaps_alone_expands_host_model(void **state)
{
	(void)state;
	struct gw_cpu_profile *p = read_xml_file("labeller/s1/virsh_domcapabilities.xml");
	assert_string_equal(p->name, "virsh_domcapabilities");
	/* features = the model's features + require - disable */
	int m = gw_cpu_modeldb_find(db, "Skylake-Client-IBRS");
	assert_true(m >= 0);
	struct gw_featset want, req;
	featset_of(s1_required, GW_ARRAY_SIZE(s1_required), &req);
	gw_featset_or(&want, &db->models[m].features, &req);
	assert_true(gw_featset_equal(&p->features, &want));
	assert_true(has(&p->features, "spec-ctrl") && has(&p->features, "ds"));
	gw_cpu_profile_free(p);
}

static void full_domcaps_of_a_real_host(void **state)
{
	(void)state;
	/* A CLX Platinum 8268 as libvirt 11.3 / QEMU 10.0 would describe it:
	 * the host-model expansion must give back the host's own features. */
	struct gw_cpu_profile *p = read_xml_file("domcaps/clx-platinum-8268.xml");
	char *json = test_source_path("data/hosts/clx-platinum-8268.json");
	struct gw_cpu_profiles ps;
	gw_cpu_profiles_init(&ps);
	struct gw_err *err = NULL;
	if (gw_cpu_profile_load(db, json, &ps, &err) < 0)
		fail_msg("%s", err->msg);
	free(json);
	assert_string_equal(p->host_model, "Cascadelake-Server");
	assert_string_equal(p->vendor, "Intel");
	if (!gw_featset_equal(&p->features, &ps.v[0]->features))
		fail_msg("host-model expansion differs from the host's features");
	assert_true(gw_strv_contains(&p->usable, "Cascadelake-Server"));
	assert_true(gw_strv_contains(&p->usable, "Skylake-Server-v5"));
	assert_false(gw_strv_contains(&p->usable, "Icelake-Server"));
	assert_true(gw_strv_contains(&p->known, "Icelake-Server"));
	assert_false(gw_strv_contains(&p->known, "host"));
	assert_true(has(&p->host_model_require, "ibrs-all"));
	gw_cpu_profiles_fini(&ps);
	gw_cpu_profile_free(p);
}

#define DOMCAPS_HEAD "<domainCapabilities>\n  <cpu>\n"
#define DOMCAPS_TAIL "  </cpu>\n</domainCapabilities>\n"
#define HOST_MODEL(body) "    <mode name='host-model' supported='yes'>\n" body "    </mode>\n"

static struct gw_cpu_profile *parse_ok(const char *xml)
{
	struct gw_cpu_profile *p = NULL;
	struct gw_err *err = NULL;
	if (gw_cpu_profile_from_domcaps(db, xml, strlen(xml), "x.xml", &p, &err) < 0)
		fail_msg("%s", err->msg);
	return p;
}

static void expect_error(const char *xml, const char *needle)
{
	struct gw_cpu_profile *p = NULL;
	struct gw_err *err = NULL;
	assert_true(gw_cpu_profile_from_domcaps(db, xml, strlen(xml), "x.xml", &p, &err) < 0);
	assert_null(p);
	assert_non_null(err);
	if (!strstr(err->msg, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err->msg, needle);
	gw_err_free(err);
}

static void host_model_variants(void **state)
{
	(void)state;
	/* a model unknown to the database: only the required features */
	struct gw_cpu_profile *p = parse_ok(DOMCAPS_HEAD HOST_MODEL(
		"      <model fallback='forbid'>FutureLake</model>\n      <vendor>AMD</vendor>\n"
		"      <signature family='25' model='17' stepping='1'/>\n"
		"      <feature policy='require' name='avx512f'/>\n      <feature policy='disable' name='sse4_2'/>\n")
		DOMCAPS_TAIL);
	assert_string_equal(p->host_model, "FutureLake");
	assert_string_equal(p->vendor, "AMD");
	assert_int_equal(p->family, 25);
	assert_int_equal(p->model, 17);
	assert_int_equal(p->stepping, 1);
	assert_int_equal(gw_featset_count(&p->features), 1);
	assert_true(has(&p->features, "avx512f"));
	assert_true(has(&p->host_model_disable, "sse4.2"));
	assert_false(p->has_usable);
	gw_cpu_profile_free(p);

	/* disable removes a model feature; QEMU spellings are accepted */
	p = parse_ok(DOMCAPS_HEAD HOST_MODEL("      <model>Haswell</model>\n"
					     "      <feature policy='disable' name='tsc_deadline_timer'/>\n") DOMCAPS_TAIL);
	int m = gw_cpu_modeldb_find(db, "Haswell");
	assert_true(m >= 0 && has(&db->models[m].features, "tsc-deadline"));
	assert_false(has(&p->features, "tsc-deadline"));
	assert_true(has(&p->features, "avx2"));
	gw_cpu_profile_free(p);

	/* libvirt without a host-model: supported='no', no model */
	p = parse_ok(DOMCAPS_HEAD "    <mode name='host-model' supported='no'/>\n" DOMCAPS_TAIL);
	assert_null(p->host_model);
	assert_true(gw_featset_empty(&p->features));
	gw_cpu_profile_free(p);

	/* an --expand-cpu-features style list: every feature required */
	p = parse_ok(DOMCAPS_HEAD HOST_MODEL("      <model>Penryn</model>\n"
					     "      <feature policy='require' name='fpu'/>\n"
					     "      <feature policy='require' name='avx'/>\n") DOMCAPS_TAIL);
	assert_true(has(&p->features, "avx") && has(&p->features, "ssse3"));
	gw_cpu_profile_free(p);

	/* usable on empty names and empty attributes; unknown counts */
	p = parse_ok(DOMCAPS_HEAD "    <mode name='custom' supported='yes'>\n"
				  "      <model usable=''>A</model>\n      <model usable='yes'>  </model>\n"
				  "      <model usable='unknown'> Nehalem </model>\n      <model usable='no'>Haswell</model>\n"
				  "      <model usable='yes'>Nehalem</model>\n      <model usable='unknown'>Westmere</model>\n"
				  "    </mode>\n" DOMCAPS_TAIL);
	assert_true(p->has_usable);
	static const char *const usable[] = {"Nehalem", "Westmere"}, *const known[] = {"Nehalem", "Haswell", "Westmere"};
	assert_strv_set(&p->usable, usable, 2);
	assert_strv_set(&p->known, known, 3);
	gw_cpu_profile_free(p);
}

static void malformed_domcaps(void **state)
{
	(void)state;
	expect_error(DOMCAPS_HEAD HOST_MODEL("      <model>Haswell</model>\n")
		     "    <mode name='custom' supported='yes'>\n"
		     "      <model usable='yes'>Penryn</model>\n      <model usable='no'>486</model>\n"
		     "      <model usable='maybe'>Conroe</model>\n    </mode>\n" DOMCAPS_TAIL,
		     "x.xml: /domainCapabilities/cpu/mode[2]/model[3]: usable=\"maybe\": expected yes, no or unknown");
	expect_error(DOMCAPS_HEAD HOST_MODEL("      <model>Haswell</model>\n"
					     "      <feature policy='require' name='ds'/>\n"
					     "      <feature policy='require' name='avx5l2f'/>\n") DOMCAPS_TAIL,
		     "x.xml: /domainCapabilities/cpu/mode/feature[2]: unknown CPU feature \"avx5l2f\" (did you mean");
	expect_error(DOMCAPS_HEAD HOST_MODEL("      <model>Haswell</model>\n      <feature policy='require'/>\n")
			     DOMCAPS_TAIL,
		     "x.xml: /domainCapabilities/cpu/mode/feature: no name attribute");
	expect_error(DOMCAPS_HEAD HOST_MODEL("      <model>Haswell</model>\n"
					     "      <feature policy='sometimes' name='ds'/>\n") DOMCAPS_TAIL,
		     "x.xml: /domainCapabilities/cpu/mode/feature: policy=\"sometimes\": expected require");
	expect_error(DOMCAPS_HEAD HOST_MODEL("      <vendor>Intel</vendor>\n") DOMCAPS_TAIL,
		     "x.xml: /domainCapabilities/cpu/mode: host model mode is expected to contain a model");
	expect_error(DOMCAPS_HEAD HOST_MODEL("      <model>Haswell</model>\n      <vendor>Cyrix</vendor>\n") DOMCAPS_TAIL,
		     "x.xml: /domainCapabilities/cpu/mode/vendor: \"Cyrix\": unknown vendor");
	expect_error(DOMCAPS_HEAD HOST_MODEL("      <model>Haswell</model>\n"
					     "      <signature family='-6' model='1'/>\n") DOMCAPS_TAIL,
		     "x.xml: /domainCapabilities/cpu/mode/signature: family=\"-6\": expected an integer 0-65535");
	expect_error("<domainCapabilities>\n  <cpu>\n    <mode name='custom'>\n  </cpu>\n</domainCapabilities>\n",
		     "x.xml: line 4: XML: ");
	expect_error("<?xml version='1.0'?>\n<!DOCTYPE lol [<!ENTITY a 'aaaa'>]>\n<domainCapabilities/>\n",
		     "x.xml: a DOCTYPE or ENTITY declaration");
	expect_error("<domain type='kvm'/>", "x.xml: root element <domain>: expected domainCapabilities");
	expect_error("", "x.xml: line ");
	/* a name longer than any model name */
	char long_xml[1024];
	char name[300];
	memset(name, 'A', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(long_xml, sizeof(long_xml),
		 DOMCAPS_HEAD "    <mode name='custom'>\n      <model usable='yes'>%s</model>\n    </mode>\n" DOMCAPS_TAIL,
		 name);
	expect_error(long_xml, "x.xml: /domainCapabilities/cpu/mode/model: expected a name of at most 128");
}

static void capabilities_and_baseline(void **state)
{
	(void)state;
	struct gw_cpu_profile *p = read_xml_file("labeller/s1/capabilities.xml");
	static const char *const machines[] = {"q35", "pc-q35-rhel9.6.0"};
	assert_strv_set(&p->machines, machines, 2);
	assert_int_equal(p->tsc_hz, 4008012000ull);
	assert_int_equal(p->tsc_scalable, 0);
	assert_int_equal(p->family, 6);
	assert_int_equal(p->model, 94);
	assert_true(has(&p->features, "ds") && has(&p->features, "spec-ctrl"));
	gw_cpu_profile_free(p);

	/* canonical attributes count as machine names */
	p = parse_ok("<capabilities><host><cpu><counter name='tsc' frequency='2100000000' scaling='yes'/></cpu></host>"
		     "<guest><arch name='x86_64'><machine canonical='pc-q35-10.0'>q35</machine>"
		     "<machine>pc-i440fx-10.0</machine></arch></guest></capabilities>");
	static const char *const m2[] = {"q35", "pc-q35-10.0", "pc-i440fx-10.0"};
	assert_strv_set(&p->machines, m2, 3);
	assert_int_equal(p->tsc_hz, 2100000000ull);
	assert_int_equal(p->tsc_scalable, 1);
	gw_cpu_profile_free(p);

	expect_error("<capabilities><host><cpu><counter name='tsc' frequency='4GHz'/></cpu></host></capabilities>",
		     "x.xml: /capabilities/host/cpu/counter: frequency=\"4GHz\": expected a frequency in Hz");
	expect_error("<capabilities><host><cpu><counter name='tsc' frequency='99999999999999999999999'/></cpu></host>"
		     "</capabilities>",
		     "x.xml: /capabilities/host/cpu/counter: frequency=");
	expect_error("<capabilities><host><cpu><counter name='tsc' frequency='1' scaling='maybe'/></cpu></host>"
		     "</capabilities>",
		     "x.xml: /capabilities/host/cpu/counter: scaling=\"maybe\": expected yes or no");

	/* hypervisor-cpu-baseline --features output on its own */
	p = read_xml_file("labeller/s1/supported_features.xml");
	assert_string_equal(p->vendor, "Intel");
	assert_true(has(&p->features, "vmx") && has(&p->features, "xsaves"));
	gw_cpu_profile_free(p);
}

/* ---- labeller directories built in a temporary directory ------------- */

static char *make_tmpdir(void)
{
	const char *tmp = getenv("TMPDIR");
	char *tmpl = gw_asprintf("%s/godwit-test-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	assert_non_null(mkdtemp(tmpl));
	return tmpl;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char *path = gw_asprintf("%s/%s", dir, name);
	struct gw_err *err = NULL;
	if (gw_file_write_atomic(path, text, strlen(text), &err) < 0)
		fail_msg("%s", err->msg);
	free(path);
}

static void remove_tree(const char *dir)
{
	struct gw_strv files;
	gw_strv_init(&files);
	if (gw_dir_list(dir, &files, NULL) == 0)
		for (size_t i = 0; i < files.n; i++)
			unlink(files.v[i]);
	gw_strv_fini(&files);
	rmdir(dir);
}

static void labeller_dirs_in_a_directory(void **state)
{
	(void)state;
	char *top = make_tmpdir();
	char *a = gw_asprintf("%s/node-a", top), *b = gw_asprintf("%s/node-b", top);
	assert_int_equal(mkdir(a, 0700), 0);
	assert_int_equal(mkdir(b, 0700), 0);
	write_file(a, "virsh_domcapabilities.xml", DOMCAPS_HEAD HOST_MODEL("<model>Haswell</model>") DOMCAPS_TAIL);
	write_file(b, "virsh_domcapabilities.xml", DOMCAPS_HEAD HOST_MODEL("<model>Penryn</model>") DOMCAPS_TAIL);
	/* an unrelated extra file beside the domcapabilities is ignored */
	write_file(b, "virsh_domcapabilities_aarch64.xml", "not even XML");
	struct gw_cpu_profiles ps;
	gw_cpu_profiles_init(&ps);
	struct gw_err *err = NULL;
	if (gw_cpu_profile_load(db, top, &ps, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(ps.n, 2);
	assert_string_equal(ps.v[0]->name, "node-a");
	assert_string_equal(ps.v[0]->host_model, "Haswell");
	assert_string_equal(ps.v[1]->name, "node-b");
	/* without supported_features.xml the host-model expansion stands */
	assert_true(has(&ps.v[1]->features, "ssse3"));
	assert_int_equal(ps.v[1]->tsc_scalable, -1);
	gw_cpu_profiles_fini(&ps);

	/* errors name the file */
	write_file(b, "supported_features.xml", "<domainCapabilities/>");
	assert_true(gw_cpu_profile_load(db, top, &ps, &err) < 0);
	char *want = gw_asprintf("%s/supported_features.xml: root element <domainCapabilities>: expected <cpu>", b);
	if (!strstr(err->msg, want))
		fail_msg("error \"%s\" lacks \"%s\"", err->msg, want);
	free(want);
	gw_err_free(err);
	err = NULL;
	gw_cpu_profiles_fini(&ps);
	/* only policy='require' makes a cpu-feature label (KubeVirt's test) */
	write_file(b, "supported_features.xml",
		   "<cpu><feature policy='require' name='vmx'/><feature policy='force' name='avx'/>"
		   "<feature name='sse2'/><feature policy='disable' name='ssse3'/></cpu>");
	if (gw_cpu_profile_load(db, b, &ps, &err) < 0)
		fail_msg("%s", err->msg);
	assert_int_equal(ps.n, 1);
	assert_string_equal(ps.v[0]->name, "node-b");
	assert_int_equal(gw_featset_count(&ps.v[0]->features), 1);
	assert_true(has(&ps.v[0]->features, "vmx"));
	gw_cpu_profiles_fini(&ps);
	write_file(b, "capabilities.xml", "<capabilities><host><cpu><counter name='tsc' frequency='x'/></cpu></host>"
					  "</capabilities>");
	assert_true(gw_cpu_profile_load(db, b, &ps, &err) < 0);
	want = gw_asprintf("%s/capabilities.xml: /capabilities/host/cpu/counter: frequency=\"x\"", b);
	if (!strstr(err->msg, want))
		fail_msg("error \"%s\" lacks \"%s\"", err->msg, want);
	free(want);
	gw_err_free(err);
	gw_cpu_profiles_fini(&ps);

	remove_tree(a);
	remove_tree(b);
	rmdir(top);
	free(a);
	free(b);
	free(top);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(labeller_dir_s1),
		cmocka_unit_test(domcaps_alone_expands_host_model),
		cmocka_unit_test(full_domcaps_of_a_real_host),
		cmocka_unit_test(host_model_variants),
		cmocka_unit_test(malformed_domcaps),
		cmocka_unit_test(capabilities_and_baseline),
		cmocka_unit_test(labeller_dirs_in_a_directory),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

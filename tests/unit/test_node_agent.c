/* SPDX-License-Identifier: Apache-2.0 */
/* The node agent's pure parts: a VMI as a VM description, the CPU
 * definition, the migration settings, the Node document. No QEMU, no
 * server; disk images are small files in a fresh temporary directory. */
#include <string.h>
#include <sys/stat.h>

#include "godwit/node.h"
#include "helpers.h"

struct fixture {
	char dir[64];
	char *qcow2, *raw, *iso;
};

static int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	fwrite(data, 1, len, f);
	fclose(f);
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = gw_calloc(1, sizeof(*f));
	const char *tmpdir = getenv("TMPDIR");
	snprintf(f->dir, sizeof(f->dir), "%s/gw-node-XXXXXX", tmpdir && strlen(tmpdir) < 40 ? tmpdir : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	/* A qcow2 by its magic only (the name says nothing), a raw image
	 * named .qcow2 would be taken by its name. */
	f->qcow2 = gw_asprintf("%s/base.img", f->dir);
	f->raw = gw_asprintf("%s/data.raw", f->dir);
	f->iso = gw_asprintf("%s/cd.iso", f->dir);
	char head[512] = "QFI\xfb";
	char zero[512] = {0};
	if (write_file(f->qcow2, head, sizeof(head)) || write_file(f->raw, zero, sizeof(zero)) ||
	    write_file(f->iso, zero, sizeof(zero)))
		return -1;
	char *k = gw_asprintf("%s/vmlinuz", f->dir);
	write_file(k, zero, 16);
	free(k);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	const char *names[] = {"base.img", "data.raw", "cd.iso", "vmlinuz"};
	for (size_t i = 0; i < GW_ARRAY_SIZE(names); i++) {
		char *p = gw_asprintf("%s/%s", f->dir, names[i]);
		unlink(p);
		free(p);
	}
	rmdir(f->dir);
	free(f->qcow2);
	free(f->raw);
	free(f->iso);
	free(f);
	return 0;
}

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		fail_msg("bad test JSON at line %d: %s", je.line, je.text);
	return j;
}

/* A cluster holding only a KubeVirt CR (or nothing), and one VMI. */
static struct gw_cluster *cluster_with(const char *cpu_model)
{
	struct gw_cluster *c = gw_cluster_new();
	if (cpu_model) {
		json_t *kv = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:{s:s}}}", "apiVersion", "kubevirt.io/v1", "kind",
				       "KubeVirt", "metadata", "name", "kubevirt", "namespace", "kubevirt", "spec",
				       "configuration", "cpuModel", cpu_model);
		struct gw_err *err = NULL;
		assert_int_equal(gw_cluster_add_doc(c, kv, "kv", 0, &err), 0);
		json_decref(kv);
	}
	return c;
}

static struct gw_vmi *vmi_from(json_t *spec)
{
	json_t *doc = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:o}", "apiVersion", "kubevirt.io/v1", "kind",
				"VirtualMachineInstance", "metadata", "name", "vm1", "namespace", "default", "uid",
				"0123456789abcdef", "spec", spec);
	struct gw_vmi *vmi = NULL;
	struct gw_err *err = NULL;
	int r = gw_vmi_decode(doc, &vmi, &err);
	if (r < 0)
		fail_msg("decode: %s", gw_err_msg(err));
	json_decref(doc);
	return vmi;
}

static int vm_of(const char *cluster_model, json_t *spec, struct gw_node_vm *vm, struct gw_err **err)
{
	struct gw_cluster *c = cluster_with(cluster_model);
	struct gw_vmi *vmi = vmi_from(spec);
	int r = gw_node_vm_from_vmi(c, vmi, vm, err);
	gw_vmi_free(vmi);
	gw_cluster_free(c);
	return r;
}

static void cpu_model_in_effect(void **state)
{
	(void)state;
	struct gw_node_vm vm;
	struct gw_err *err = NULL;
	/* No model anywhere: host-model (KubeVirt 2.1). */
	assert_int_equal(vm_of(NULL, parse("{\"domain\":{\"memory\":{\"guest\":\"64Mi\"}}}"), &vm, &err), 0);
	assert_int_equal(vm.cpu_mode, GW_NODE_CPU_HOST_MODEL);
	assert_null(vm.cpu_model);
	gw_node_vm_fini(&vm);
	/* The cluster's cpuModel when the VMI has none. */
	assert_int_equal(vm_of("Skylake-Client", parse("{\"domain\":{\"memory\":{\"guest\":\"64Mi\"}}}"), &vm, &err), 0);
	assert_int_equal(vm.cpu_mode, GW_NODE_CPU_NAMED);
	assert_string_equal(vm.cpu_model, "Skylake-Client");
	gw_node_vm_fini(&vm);
	/* The VMI's own model wins. */
	assert_int_equal(vm_of("Skylake-Client",
			       parse("{\"domain\":{\"cpu\":{\"model\":\"host-passthrough\"},\"memory\":{\"guest\":\"64Mi\"}}}"),
			       &vm, &err), 0);
	assert_int_equal(vm.cpu_mode, GW_NODE_CPU_PASSTHROUGH);
	gw_node_vm_fini(&vm);
}

static void vcpus_and_memory(void **state)
{
	(void)state;
	struct gw_node_vm vm;
	struct gw_err *err = NULL;
	assert_int_equal(vm_of(NULL, parse("{\"domain\":{\"cpu\":{\"sockets\":2,\"cores\":3,\"threads\":2},"
					   "\"resources\":{\"requests\":{\"memory\":\"100M\"}}}}"),
			       &vm, &err), 0);
	assert_int_equal(vm.vcpus, 12);
	assert_int_equal(vm.memory_mib, 96);   /* 100 MB rounded up to whole MiB */
	gw_node_vm_fini(&vm);
	/* memory.guest wins over the request. */
	assert_int_equal(vm_of(NULL, parse("{\"domain\":{\"memory\":{\"guest\":\"128Mi\"},"
					   "\"resources\":{\"requests\":{\"memory\":\"1Gi\"}}}}"),
			       &vm, &err), 0);
	assert_int_equal(vm.vcpus, 1);
	assert_int_equal(vm.memory_mib, 128);
	gw_node_vm_fini(&vm);
	/* No memory at all: the field is named. */
	assert_int_equal(vm_of(NULL, parse("{\"domain\":{}}"), &vm, &err), -EINVAL);
	assert_non_null(strstr(gw_err_msg(err), "spec.domain.memory.guest"));
	gw_err_free(err);
	err = NULL;
	assert_int_equal(vm_of(NULL, parse("{\"domain\":{\"cpu\":{\"cores\":0},\"memory\":{\"guest\":\"64Mi\"}}}"), &vm,
			       &err), -EINVAL);
	assert_non_null(strstr(gw_err_msg(err), "spec.domain.cpu.cores"));
	gw_err_free(err);
}

static void disks_matched_to_volumes(void **state)
{
	struct fixture *f = *state;
	struct gw_node_vm vm;
	struct gw_err *err = NULL;
	char *text = gw_asprintf(
		"{\"domain\":{\"memory\":{\"guest\":\"64Mi\"},\"devices\":{\"disks\":["
		"{\"name\":\"root\",\"disk\":{}},{\"name\":\"data\",\"disk\":{}},"
		"{\"name\":\"cd\",\"cdrom\":{}},{\"name\":\"init\",\"disk\":{}}],"
		"\"interfaces\":[{\"name\":\"default\"}]}},"
		"\"volumes\":[{\"name\":\"root\",\"containerDisk\":{\"image\":\"%s\"}},"
		"{\"name\":\"data\",\"hostDisk\":{\"path\":\"%s\"}},"
		"{\"name\":\"cd\",\"containerDisk\":{\"image\":\"%s\"}},"
		"{\"name\":\"init\",\"cloudInitNoCloud\":{\"userData\":\"#cloud-config\"}}]}",
		f->qcow2, f->raw, f->iso);
	json_t *spec = parse(text);
	free(text);
	assert_int_equal(vm_of(NULL, spec, &vm, &err), 0);
	assert_int_equal(vm.n_disks, 3);
	assert_string_equal(vm.disks[0].path, f->qcow2);
	assert_int_equal(vm.disks[0].format, GW_VM_DISK_QCOW2);   /* by its magic */
	assert_true(vm.disks[0].readonly_base_with_overlay);
	assert_false(vm.disks[0].cdrom);
	assert_int_equal(vm.disks[1].format, GW_VM_DISK_RAW);
	assert_false(vm.disks[1].readonly_base_with_overlay);
	assert_true(vm.disks[2].cdrom);
	assert_false(vm.disks[2].readonly_base_with_overlay);
	/* The cloud-init volume and the interface are noted, not fatal. */
	assert_int_equal(vm.ignored.n, 2);
	assert_non_null(strstr(vm.ignored.v[0], "cloudInitNoCloud"));
	assert_non_null(strstr(vm.ignored.v[1], "interfaces[0] (default)"));
	gw_node_vm_fini(&vm);

	/* A disk without its volume, and an image that is not there. */
	assert_int_equal(vm_of(NULL, parse("{\"domain\":{\"memory\":{\"guest\":\"64Mi\"},\"devices\":{\"disks\":"
					   "[{\"name\":\"x\",\"disk\":{}}]}}}"),
			       &vm, &err), -EINVAL);
	assert_non_null(strstr(gw_err_msg(err), "disks[0] (x): no volume"));
	gw_err_free(err);
	err = NULL;
	assert_int_equal(vm_of(NULL, parse("{\"domain\":{\"memory\":{\"guest\":\"64Mi\"},\"devices\":{\"disks\":"
					   "[{\"name\":\"x\",\"disk\":{}}]}},\"volumes\":[{\"name\":\"x\",\"hostDisk\":"
					   "{\"path\":\"/nonexistent/x.img\"}}]}"),
			       &vm, &err), -ENOENT);
	assert_non_null(strstr(gw_err_msg(err), "spec.volumes[0].hostDisk.path: \"/nonexistent/x.img\""));
	gw_err_free(err);
}

static void kernel_boot(void **state)
{
	struct fixture *f = *state;
	struct gw_node_vm vm;
	struct gw_err *err = NULL;
	json_t *spec = json_pack("{s:{s:{s:s}, s:{s:{s:{s:s, s:s}, s:s}}}}", "domain", "memory", "guest", "64Mi",
				 "firmware", "kernelBoot", "container", "image", f->dir, "kernelPath", "vmlinuz",
				 "kernelArgs", "rate=2000");
	assert_int_equal(vm_of(NULL, spec, &vm, &err), 0);
	char *want = gw_asprintf("%s/vmlinuz", f->dir);
	assert_string_equal(vm.kernel, want);
	free(want);
	assert_null(vm.initrd);
	assert_string_equal(vm.append, "rate=2000");
	gw_node_vm_fini(&vm);
	spec = json_pack("{s:{s:{s:s}, s:{s:{s:{s:s, s:s, s:s}}}}}", "domain", "memory", "guest", "64Mi", "firmware",
			 "kernelBoot", "container", "image", f->dir, "kernelPath", "vmlinuz", "initrdPath", "initrd.gz");
	assert_int_equal(vm_of(NULL, spec, &vm, &err), -ENOENT);
	assert_non_null(strstr(gw_err_msg(err), "kernelBoot.container.initrdPath"));
	gw_err_free(err);
}

static void cpu_definitions(void **state)
{
	(void)state;
	struct gw_cpu_modeldb *db = NULL;
	struct gw_err *err = NULL;
	assert_int_equal(gw_cpu_modeldb_builtin(&db, &err), 0);
	struct gw_cpu_profiles ps;
	gw_cpu_profiles_init(&ps);
	char *path = test_source_path("data/hosts/skx-gold-6130.json");
	assert_int_equal(gw_cpu_profile_load(db, path, &ps, &err), 0);
	free(path);
	assert_int_equal(ps.n, 1);

	struct gw_node_vm vm = {.cpu_mode = GW_NODE_CPU_HOST_MODEL};
	json_t *cpu = NULL;
	assert_int_equal(gw_node_cpu_resolve(db, ps.v[0], &vm, NULL, &cpu, &err), 0);
	assert_string_equal(json_string_value(json_object_get(cpu, "mode")), "host-model");
	/* The same decode as the engine's, spelled as QEMU's -cpu. */
	struct gw_cpu_hostmodel hm = {.model = -1};
	assert_int_equal(gw_cpu_host_model(db, ps.v[0], &hm, &err), 0);
	const char *qemu = json_string_value(json_object_get(cpu, "qemu"));
	assert_string_equal(json_string_value(json_object_get(cpu, "model")), hm.name);
	assert_true(gw_str_has_prefix(qemu, hm.name));
	struct gw_strv parts;
	gw_strv_init(&parts);
	gw_str_split(qemu, ',', &parts);
	assert_int_equal(parts.n - 1, gw_featset_count(&hm.require) + gw_featset_count(&hm.disable));
	for (size_t i = 1; i < parts.n; i++) {
		int idx = gw_cpu_feature_find(parts.v[i] + 1);
		assert_true(idx >= 0);
		assert_true(parts.v[i][0] == '+' ? gw_featset_test(&hm.require, (unsigned)idx)
						 : gw_featset_test(&hm.disable, (unsigned)idx));
	}
	gw_strv_fini(&parts);
	json_decref(cpu);

	/* With the local QEMU's feature list: its spelling is used
	 * (tsc-adjust, not the engine's tsc_adjust), and a feature it lacks
	 * is left out and named. */
	struct gw_strv req, known;
	gw_strv_init(&req);
	gw_strv_init(&known);
	gw_featset_names(&hm.require, &req);
	assert_true(gw_strv_contains(&req, "tsc_adjust"));
	assert_true(req.n >= 2);
	const char *gone = strcmp(req.v[0], "tsc_adjust") ? req.v[0] : req.v[1];
	for (size_t i = 0; i < req.n; i++)
		if (req.v[i] != gone)
			gw_strv_push(&known, strcmp(req.v[i], "tsc_adjust") ? req.v[i] : "tsc-adjust");
	gw_featset_names(&hm.disable, &known);
	assert_int_equal(gw_node_cpu_resolve(db, ps.v[0], &vm, &known, &cpu, &err), 0);
	gw_strv_init(&parts);
	gw_str_split(json_string_value(json_object_get(cpu, "qemu")), ',', &parts);
	char *plus_gone = gw_asprintf("+%s", gone);
	assert_false(gw_strv_contains(&parts, plus_gone));
	assert_false(gw_strv_contains(&parts, "+tsc_adjust"));
	assert_true(gw_strv_contains(&parts, "+tsc-adjust"));
	assert_int_equal(parts.n, 1 + req.n - 1 + gw_featset_count(&hm.disable));
	free(plus_gone);
	json_t *dropped = json_object_get(cpu, "dropped");
	assert_int_equal(json_array_size(dropped), 1);
	assert_string_equal(json_string_value(json_array_get(dropped, 0)), gone);
	gw_strv_fini(&parts);
	gw_strv_fini(&req);
	gw_strv_fini(&known);
	json_decref(cpu);
	gw_cpu_hostmodel_fini(&hm);

	vm.cpu_mode = GW_NODE_CPU_NAMED;
	vm.cpu_model = "Skylake-Client-IBRS";
	assert_int_equal(gw_node_cpu_resolve(db, ps.v[0], &vm, NULL, &cpu, &err), 0);
	assert_string_equal(json_string_value(json_object_get(cpu, "qemu")), "Skylake-Client-IBRS");
	assert_string_equal(json_string_value(json_object_get(cpu, "mode")), "named");
	json_decref(cpu);
	vm.cpu_model = "Skylake-Clinet";
	assert_int_equal(gw_node_cpu_resolve(db, ps.v[0], &vm, NULL, &cpu, &err), -ENOENT);
	assert_non_null(strstr(gw_err_msg(err), "spec.domain.cpu.model"));
	assert_non_null(strstr(gw_err_msg(err), "Skylake-Client"));
	gw_err_free(err);
	err = NULL;
	vm.cpu_mode = GW_NODE_CPU_PASSTHROUGH;
	assert_int_equal(gw_node_cpu_resolve(db, ps.v[0], &vm, NULL, &cpu, &err), 0);
	assert_string_equal(json_string_value(json_object_get(cpu, "qemu")), "host");
	json_decref(cpu);

	/* The VMI's feature flags follow the model (QEMU: the last one wins). */
	struct gw_node_vm fvm;
	assert_int_equal(vm_of(NULL, parse("{\"domain\":{\"memory\":{\"guest\":\"64Mi\"},\"cpu\":{\"model\":"
					   "\"Skylake-Client-IBRS\",\"features\":[{\"name\":\"pcid\"},"
					   "{\"name\":\"mpx\",\"policy\":\"disable\"},"
					   "{\"name\":\"pclmulqdq\",\"policy\":\"optional\"}]}}}"),
			       &fvm, &err), 0);
	assert_int_equal(gw_node_cpu_resolve(db, ps.v[0], &fvm, NULL, &cpu, &err), 0);
	assert_string_equal(json_string_value(json_object_get(cpu, "qemu")), "Skylake-Client-IBRS,+pcid,-mpx,+pclmuldq");
	json_decref(cpu);
	gw_node_vm_fini(&fvm);
	assert_int_equal(vm_of(NULL, parse("{\"domain\":{\"memory\":{\"guest\":\"64Mi\"},\"cpu\":{"
					   "\"features\":[{\"name\":\"avx9\"}]}}}"),
			       &fvm, &err), -ENOENT);
	assert_non_null(strstr(gw_err_msg(err), "spec.domain.cpu.features[0].name"));
	gw_err_free(err);
	err = NULL;
	gw_cpu_profiles_fini(&ps);
	gw_cpu_modeldb_free(db);
}

static void migration_settings(void **state)
{
	(void)state;
	struct gw_qemu_migration_config cfg;
	struct gw_err *err = NULL;
	/* None: KubeVirt's defaults on the guest's memory. */
	assert_int_equal(gw_node_migration_config(NULL, 128 << 20, &cfg, &err), 0);
	assert_int_equal(cfg.completion_timeout_per_gib_s, 150);
	assert_int_equal(cfg.progress_timeout_s, 150);
	assert_int_equal(cfg.data_size_bytes, 128 << 20);
	assert_int_equal(cfg.bandwidth_bytes_per_s, 0);
	assert_false(cfg.allow_workload_disruption);

	/* What the migration controller writes. */
	json_t *c = parse("{\"allowAutoConverge\":true,\"allowPostCopy\":true,\"bandwidthPerMigrationMiBs\":64,"
			  "\"completionTimeoutSeconds\":800,\"progressTimeout\":30,\"maxDowntimeMs\":900}");
	assert_int_equal(gw_node_migration_config(c, 128 << 20, &cfg, &err), 0);
	assert_int_equal(cfg.bandwidth_bytes_per_s, 64ull << 20);
	assert_int_equal(gw_qemu_migration_max_bandwidth(cfg.bandwidth_bytes_per_s), 64ull << 20);
	/* The acceptable time is the controller's, unchanged. */
	assert_int_equal(gw_qemu_migration_acceptable_completion_s(cfg.completion_timeout_per_gib_s,
								   cfg.data_size_bytes), 800);
	assert_int_equal(cfg.progress_timeout_s, 30);
	assert_true(cfg.allow_auto_converge);
	assert_true(cfg.allow_post_copy);
	/* KubeVirt's shim: unset allowWorkloadDisruption follows allowPostCopy. */
	assert_true(cfg.allow_workload_disruption);
	json_object_set_new(c, "allowWorkloadDisruption", json_false());
	assert_int_equal(gw_node_migration_config(c, 128 << 20, &cfg, &err), 0);
	assert_false(cfg.allow_workload_disruption);
	/* 0 disables the completion timeout. */
	json_object_set_new(c, "completionTimeoutSeconds", json_integer(0));
	assert_int_equal(gw_node_migration_config(c, 128 << 20, &cfg, &err), 0);
	assert_int_equal(gw_qemu_migration_acceptable_completion_s(cfg.completion_timeout_per_gib_s,
								   cfg.data_size_bytes), 0);
	/* Bad values name the field. */
	json_object_set_new(c, "progressTimeout", json_string("30s"));
	assert_int_equal(gw_node_migration_config(c, 128 << 20, &cfg, &err), -EINVAL);
	assert_string_equal(gw_err_msg(err), "migrationConfiguration.progressTimeout: must be a whole number, at least 0");
	gw_err_free(err);
	err = NULL;
	json_object_set_new(c, "progressTimeout", json_integer(30));
	json_object_set_new(c, "allowPostCopy", json_string("yes"));
	assert_int_equal(gw_node_migration_config(c, 128 << 20, &cfg, &err), -EINVAL);
	assert_non_null(strstr(gw_err_msg(err), "allowPostCopy"));
	gw_err_free(err);
	json_decref(c);
}

static void node_document(void **state)
{
	(void)state;
	struct gw_node_identity id = {"node-a", "192.0.2.7", 8, 16ll << 30};
	json_t *labels = parse("{\"cpu-model.node.kubevirt.io/Skylake-Client\":\"true\","
			       "\"host-model-cpu.node.kubevirt.io/Skylake-Server-IBRS\":\"true\"}");
	json_t *doc = NULL;
	struct gw_err *err = NULL;
	assert_int_equal(gw_node_document(NULL, labels, &id, &doc, &err), 0);
	json_t *l = json_object_get(json_object_get(doc, "metadata"), "labels");
	assert_string_equal(json_string_value(json_object_get(l, "cpu-model.node.kubevirt.io/Skylake-Client")), "true");
	assert_string_equal(json_string_value(json_object_get(l, "kubernetes.io/hostname")), "node-a");
	assert_string_equal(json_string_value(json_object_get(l, "kubevirt.io/schedulable")), "true");
	assert_string_equal(json_string_value(json_object_get(l, "machine-type.node.kubevirt.io/q35")), "true");
	json_t *st = json_object_get(doc, "status");
	assert_string_equal(json_string_value(json_object_get(json_object_get(st, "capacity"), "memory")), "16777216Ki");
	assert_string_equal(json_string_value(json_object_get(json_object_get(st, "allocatable"), "cpu")), "8");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(st, "addresses"), 0), "address")),
			    "192.0.2.7");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(doc, "metadata"), "annotations"),
							      GW_NODE_ANN_ADDRESS)),
			    "192.0.2.7");
	json_decref(doc);

	/* An existing Node: stale owned labels go, others stay, and a
	 * schedulable=false set by the node controller is kept. */
	json_t *old = parse("{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node-a\",\"labels\":{"
			    "\"cpu-model.node.kubevirt.io/Haswell\":\"true\",\"team\":\"blue\","
			    "\"kubevirt.io/schedulable\":\"false\"}}}");
	assert_int_equal(gw_node_document(old, labels, &id, &doc, &err), 0);
	l = json_object_get(json_object_get(doc, "metadata"), "labels");
	assert_null(json_object_get(l, "cpu-model.node.kubevirt.io/Haswell"));
	assert_string_equal(json_string_value(json_object_get(l, "team")), "blue");
	assert_string_equal(json_string_value(json_object_get(l, "kubevirt.io/schedulable")), "false");
	assert_non_null(json_object_get(l, "host-model-cpu.node.kubevirt.io/Skylake-Server-IBRS"));
	json_decref(doc);

	/* skip-node: the labeller leaves the labels alone; capacity is still written. */
	json_object_set_new(json_object_get(old, "metadata"), "annotations", parse("{\"" GW_NODE_ANN_SKIP "\":\"true\"}"));
	assert_int_equal(gw_node_document(old, labels, &id, &doc, &err), 0);
	l = json_object_get(json_object_get(doc, "metadata"), "labels");
	assert_non_null(json_object_get(l, "cpu-model.node.kubevirt.io/Haswell"));
	assert_null(json_object_get(l, "host-model-cpu.node.kubevirt.io/Skylake-Server-IBRS"));
	assert_null(json_object_get(l, "machine-type.node.kubevirt.io/q35"));
	assert_non_null(json_object_get(json_object_get(doc, "status"), "capacity"));
	json_decref(doc);

	id.memory_bytes = 0;
	assert_int_equal(gw_node_document(old, labels, &id, &doc, &err), -EINVAL);
	assert_non_null(strstr(gw_err_msg(err), "capacity"));
	gw_err_free(err);
	json_decref(old);
	json_decref(labels);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cpu_model_in_effect),
		cmocka_unit_test(vcpus_and_memory),
		cmocka_unit_test(disks_matched_to_volumes),
		cmocka_unit_test(kernel_boot),
		cmocka_unit_test(cpu_definitions),
		cmocka_unit_test(migration_settings),
		cmocka_unit_test(node_document),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

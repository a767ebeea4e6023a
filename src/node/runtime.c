/* SPDX-License-Identifier: Apache-2.0 */
/* Local VMs: one detached QEMU per VMI in STATE/vms/<dir>, with vmi.json
 * saying whose VM it is, so an agent that restarts finds them again. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>

#include "node_int.h"

#define META_FILE "vmi.json"

void local_vm_free(struct local_vm *lv)
{
	if (!lv)
		return;
	free(lv->ns);
	free(lv->name);
	free(lv->uid);
	free(lv->dir);
	free(lv->migration_uid);
	json_decref(lv->cpu);
	gw_strv_fini(&lv->copy_disks);
	free(lv);
}

void agent_add_vm(struct agent *a, struct local_vm *lv)
{
	a->vms = gw_realloc(a->vms, (a->n_vms + 1) * sizeof(*a->vms));
	a->vms[a->n_vms++] = lv;
}

void agent_drop_vm(struct agent *a, struct local_vm *lv)
{
	for (size_t i = 0; i < a->n_vms; i++) {
		if (a->vms[i] == lv) {
			memmove(&a->vms[i], &a->vms[i + 1], (a->n_vms - i - 1) * sizeof(*a->vms));
			a->n_vms--;
			break;
		}
	}
	local_vm_free(lv);
}

int local_vm_save(const struct local_vm *lv, struct gw_err **err)
{
	_cleanup_json_ json_t *meta = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:I, s:O?}", "namespace", lv->ns, "name",
						lv->name, "uid", lv->uid, "role", lv->role == LV_RUN ? "run" : "incoming",
						"migrationUid", lv->migration_uid, "memoryBytes",
						(json_int_t)lv->memory_bytes, "cpu", lv->cpu);
	if (lv->copy_disks.n) {
		json_t *list = json_array();
		for (size_t i = 0; i < lv->copy_disks.n; i++)
			json_array_append_new(list, json_string(lv->copy_disks.v[i]));
		json_object_set_new(meta, "copyDisks", list);
	}
	_cleanup_free_ char *text = json_dumps(meta, JSON_COMPACT);
	_cleanup_free_ char *path = gw_asprintf("%s/" META_FILE, lv->dir);
	return gw_file_write_atomic(path, text, strlen(text), err);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

void local_vm_remove_dir(struct agent *a, struct local_vm *lv)
{
	if (nftw(lv->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
		agent_log(a, "vm %s/%s: removing %s: %s", lv->ns, lv->name, lv->dir, strerror(errno));
}

static struct local_vm *load_meta(const char *dir)
{
	_cleanup_free_ char *path = gw_asprintf("%s/" META_FILE, dir);
	json_error_t je;
	_cleanup_json_ json_t *meta = json_load_file(path, 0, &je);
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *uid = json_string_value(json_object_get(meta, "uid"));
	const char *role = json_string_value(json_object_get(meta, "role"));
	if (!ns || !name || !uid || !role)
		return NULL;
	struct local_vm *lv = gw_calloc(1, sizeof(*lv));
	lv->ns = gw_strdup(ns);
	lv->name = gw_strdup(name);
	lv->uid = gw_strdup(uid);
	lv->dir = gw_strdup(dir);
	lv->role = strcmp(role, "run") == 0 ? LV_RUN : LV_INCOMING;
	const char *mig = json_string_value(json_object_get(meta, "migrationUid"));
	lv->migration_uid = mig ? gw_strdup(mig) : NULL;
	json_int_t mem = json_integer_value(json_object_get(meta, "memoryBytes"));
	lv->memory_bytes = mem > 0 ? (uint64_t)mem : 0;
	json_t *cpu = json_object_get(meta, "cpu");
	lv->cpu = json_is_object(cpu) ? json_incref(cpu) : NULL;
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(meta, "copyDisks"), i, d)
		if (json_is_string(d))
			gw_strv_push(&lv->copy_disks, json_string_value(d));
	return lv;
}

int runtime_probe_qemu(struct agent *a, struct gw_err **err)
{
	const char *argv[] = {a->qemu, "-machine", "none", "-accel", "tcg", "-nodefaults", "-display", "none", "-S", NULL};
	_cleanup_qmp_ struct gw_qmp *q = NULL;
	int r = gw_qmp_spawn(argv, 0, &q, err);
	if (r < 0)
		return r;
	_cleanup_json_ json_t *props = NULL;
	r = gw_qmp_execute_text(q, "qom-list-properties", "{\"typename\": \"max-x86_64-cpu\"}", &props, err);
	if (r < 0)
		return gw_err_wrap(err, "qom-list-properties max-x86_64-cpu");
	struct gw_strv *names = gw_calloc(1, sizeof(*names));
	gw_strv_init(names);
	size_t i;
	const json_t *p;
	json_array_foreach(props, i, p) {
		const char *name = json_string_value(json_object_get(p, "name"));
		const char *type = json_string_value(json_object_get(p, "type"));
		if (name && type && strcmp(type, "bool") == 0)
			gw_strv_push(names, name);
	}
	if (!names->n) {
		gw_strv_fini(names);
		free(names);
		return gw_err_set(err, -EPROTO, "qom-list-properties max-x86_64-cpu: no feature properties");
	}
	a->qemu_features = names;
	return 0;
}

void runtime_attach_all(struct agent *a)
{
	DIR *d = opendir(a->vms_dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		_cleanup_free_ char *dir = gw_asprintf("%s/%s", a->vms_dir, e->d_name);
		if (!gw_path_is_dir(dir))
			continue;
		struct local_vm *lv = load_meta(dir);
		if (!lv) {
			agent_log(a, "state %s: no readable " META_FILE ": left alone", dir);
			continue;
		}
		struct gw_err *err = NULL;
		int r = gw_vm_attach(dir, 0, &lv->vm, &err);
		if (r < 0) {
			/* Its VMI is told at the next pass (the VM is gone). */
			agent_log(a, "vm %s/%s: not running any more (%s)", lv->ns, lv->name, gw_err_msg(err));
			lv->vm = NULL;
		} else {
			agent_log(a, "vm %s/%s: found again (pid %d, %s)", lv->ns, lv->name, (int)gw_vm_pid(lv->vm),
				  lv->role == LV_RUN ? "running" : "migration target");
		}
		gw_err_free(err);
		agent_add_vm(a, lv);
	}
	closedir(d);
}

static enum gw_vm_accel choose_accel(struct agent *a, const struct gw_node_vm *vm, const char *cpu_model)
{
	switch (a->o->accel) {
	case GW_NODE_ACCEL_KVM:
		return GW_VM_ACCEL_KVM;
	case GW_NODE_ACCEL_TCG:
		return GW_VM_ACCEL_TCG;
	case GW_NODE_ACCEL_AUTO:
		break;
	}
	/* A profile stands in for another host: this host's KVM would show
	 * this host's CPU, not the profile's. */
	if (a->stand_in || !gw_vm_kvm_available())
		return GW_VM_ACCEL_TCG;
	if (vm->cpu_mode != GW_NODE_CPU_NAMED)
		return GW_VM_ACCEL_KVM;
	int idx = gw_cpu_modeldb_find(a->db, cpu_model);
	if (idx < 0)
		return GW_VM_ACCEL_TCG;
	struct gw_modelset usable;
	gw_cpu_usable(a->db, a->profile, &usable);
	return gw_modelset_test(&usable, (unsigned)idx) ? GW_VM_ACCEL_KVM : GW_VM_ACCEL_TCG;
}

static bool incoming_postcopy(const json_t *vmi_doc)
{
	const json_t *ms = json_object_get(json_object_get(vmi_doc, "status"), "migrationState");
	return json_is_true(json_object_get(json_object_get(ms, "migrationConfiguration"), "allowPostCopy"));
}

int runtime_start(struct agent *a, const json_t *vmi_doc, const struct gw_cluster *c, enum lv_role role,
		  const char *migration_uid, struct local_vm **out, json_t **cpu, struct gw_err **err)
{
	*out = NULL;
	if (cpu)
		*cpu = NULL;
	struct gw_vmi *vmi = NULL;
	int r = gw_vmi_decode(vmi_doc, &vmi, err);
	if (r < 0)
		return r;
	struct gw_node_vm vm;
	r = gw_node_vm_from_vmi(c, vmi, &vm, err);
	if (r < 0) {
		gw_vmi_free(vmi);
		return r;
	}
	for (size_t i = 0; i < vm.ignored.n; i++)
		agent_log(a, "vm %s/%s: ignored: %s", vmi->meta.namespace, vmi->meta.name, vm.ignored.v[i]);

	/* The CPU definition recorded on the first start is used unchanged on
	 * every later one (a migration target above all). */
	json_t *recorded = json_object_get(json_object_get(json_object_get(vmi_doc, "status"), "godwit"), "cpu");
	json_t *def = NULL;
	if (json_string_value(json_object_get(recorded, "qemu"))) {
		def = json_incref(recorded);
	} else if (role == LV_INCOMING) {
		r = gw_err_set(err, -EINVAL, "status.godwit.cpu.qemu: not recorded by the source node");
		goto out;
	} else {
		r = gw_node_cpu_resolve(a->db, a->profile, &vm, a->qemu_features, &def, err);
		if (r < 0)
			goto out;
		const json_t *dropped = json_object_get(def, "dropped");
		size_t i;
		const json_t *d;
		json_array_foreach(dropped, i, d)
			agent_log(a, "vm %s/%s: host-model feature %s left out: %s does not know it", vmi->meta.namespace,
				  vmi->meta.name, json_string_value(d), a->qemu);
	}
	const char *cpu_qemu = json_string_value(json_object_get(def, "qemu"));
	const char *cpu_model = json_string_value(json_object_get(def, "model"));

	const char *uid = vmi->meta.uid ? vmi->meta.uid : "nouid";
	struct local_vm *lv = gw_calloc(1, sizeof(*lv));
	lv->ns = gw_strdup(vmi->meta.namespace ? vmi->meta.namespace : "default");
	lv->name = gw_strdup(vmi->meta.name);
	lv->uid = gw_strdup(uid);
	lv->role = role;
	lv->migration_uid = migration_uid ? gw_strdup(migration_uid) : NULL;
	lv->memory_bytes = vm.memory_mib << 20;
	lv->cpu = json_incref(def);
	/* KubeVirt's BlockMigration rule (3.2) as far as this agent runs
	 * disks: a writable container disk's overlay is local and is copied;
	 * a CD-ROM is read-only, a hostDisk is shared. */
	for (size_t i = 0; i < vm.n_disks; i++)
		if (vm.disks[i].readonly_base_with_overlay)
			gw_strv_push_take(&lv->copy_disks, gw_asprintf("disk%zu", i));
	lv->dir = gw_asprintf("%s/%s_%s_%.8s%s", a->vms_dir, lv->ns, lv->name, uid, role == LV_INCOMING ? "_in" : "");
	if (mkdir(lv->dir, 0700) < 0 && errno != EEXIST) {
		r = gw_err_set(err, -errno, "state directory %s: %s", lv->dir, strerror(errno));
		local_vm_free(lv);
		goto out;
	}
	r = local_vm_save(lv, err);
	if (r < 0) {
		local_vm_free(lv);
		goto out;
	}
	struct gw_vm_spec spec = {
		.name = lv->name,
		.qemu = a->qemu,
		.cpu = cpu_qemu,
		.vcpus = vm.vcpus,
		.memory_mib = vm.memory_mib,
		.accel = choose_accel(a, &vm, cpu_model),
		.disks = vm.disks,
		.n_disks = vm.n_disks,
		.kernel = vm.kernel,
		.initrd = vm.initrd,
		.append = vm.append,
		.state_dir = lv->dir,
		.incoming = role == LV_INCOMING,
		/* A pre-copy target stays paused after the last byte (-S) and
		 * runs when the source's agent says completed (target_resume):
		 * were that agent to die between the two, the migration is
		 * failed and the VM resumed at the source, never run twice. A
		 * post-copy target must run as soon as post-copy starts. */
		.paused = role == LV_INCOMING && !incoming_postcopy(vmi_doc),
	};
	r = gw_vm_start(&spec, 0, &lv->vm, err);
	if (r < 0) {
		local_vm_remove_dir(a, lv);
		local_vm_free(lv);
		goto out;
	}
	agent_log(a, "vm %s/%s: QEMU started (pid %d, -cpu %s, %u vCPU, %llu MiB, %s)%s", lv->ns, lv->name,
		  (int)gw_vm_pid(lv->vm), cpu_qemu, vm.vcpus ? vm.vcpus : 1, (unsigned long long)vm.memory_mib,
		  spec.accel == GW_VM_ACCEL_KVM ? "kvm" : "tcg", role == LV_INCOMING ? " as migration target" : "");
	*out = lv;
	if (cpu) {
		*cpu = def;
		def = NULL;
	}
out:
	json_decref(def);
	gw_node_vm_fini(&vm);
	gw_vmi_free(vmi);
	return r;
}

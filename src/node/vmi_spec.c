/* SPDX-License-Identifier: Apache-2.0 */
/* A VMI as the VM the agent runs: CPU model in effect, vCPUs, memory,
 * disks matched to volumes, direct kernel boot (docs/node-agent.md). */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "godwit/node.h"
#include "godwit/sched.h"

void gw_node_vm_fini(struct gw_node_vm *vm)
{
	if (!vm)
		return;
	free(vm->cpu_model);
	gw_strv_fini(&vm->cpu_flags);
	for (size_t i = 0; i < vm->n_disks; i++)
		free((char *)vm->disks[i].path);
	free(vm->disks);
	free(vm->kernel);
	free(vm->initrd);
	free(vm->append);
	gw_strv_fini(&vm->ignored);
	memset(vm, 0, sizeof(*vm));
}

static const json_t *get_path(const json_t *o, const char *const *keys)
{
	for (; *keys && o; keys++)
		o = json_object_get(o, *keys);
	return o;
}
#define GET(o, ...) get_path((o), (const char *const[]){__VA_ARGS__, NULL})

/* A whole count from spec.domain.cpu.<key>: absent = 1. */
static int topology(const json_t *cpu, const char *key, unsigned *out, struct gw_err **err)
{
	const json_t *v = json_object_get(cpu, key);
	*out = 1;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1024)
		return gw_err_set(err, -EINVAL, "spec.domain.cpu.%s: must be an integer from 1 to 1024", key);
	*out = (unsigned)json_integer_value(v);
	return 0;
}

/* qcow2 by its magic ("QFI\xfb"), else by the name, else raw. */
static int disk_format(const char *path, const char *field, enum gw_vm_disk_format *out, struct gw_err **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return gw_err_set(err, -errno, "%s: \"%s\": %s", field, path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return gw_err_set(err, -EINVAL, "%s: \"%s\": not a regular file", field, path);
	unsigned char magic[4] = {0};
	ssize_t n = read(fd, magic, sizeof(magic));
	if (n == 4 && memcmp(magic, "QFI\xfb", 4) == 0)
		*out = GW_VM_DISK_QCOW2;
	else if (gw_str_has_suffix(path, ".qcow2"))
		*out = GW_VM_DISK_QCOW2;
	else
		*out = GW_VM_DISK_RAW;
	return 0;
}

static const json_t *volume_named(const json_t *volumes, const char *name)
{
	size_t i;
	const json_t *v;
	json_array_foreach(volumes, i, v) {
		const char *n = json_string_value(json_object_get(v, "name"));
		if (n && strcmp(n, name) == 0)
			return v;
	}
	return NULL;
}

static size_t volume_index(const json_t *volumes, const json_t *vol)
{
	size_t i;
	const json_t *v;
	json_array_foreach(volumes, i, v)
		if (v == vol)
			return i;
	return 0;
}

static int add_disks(const json_t *spec, struct gw_node_vm *out, struct gw_err **err)
{
	const json_t *disks = GET(spec, "domain", "devices", "disks");
	const json_t *volumes = json_object_get(spec, "volumes");
	if (disks && !json_is_array(disks))
		return gw_err_set(err, -EINVAL, "spec.domain.devices.disks: must be a list");
	size_t n = json_array_size(disks);
	out->disks = gw_calloc(n ? n : 1, sizeof(*out->disks));
	size_t i;
	const json_t *d;
	json_array_foreach(disks, i, d) {
		const char *name = json_string_value(json_object_get(d, "name"));
		if (!name)
			return gw_err_set(err, -EINVAL, "spec.domain.devices.disks[%zu].name: required", i);
		const json_t *vol = volume_named(volumes, name);
		if (!vol)
			return gw_err_set(err, -EINVAL, "spec.domain.devices.disks[%zu] (%s): no volume of that name in spec.volumes",
					  i, name);
		size_t vi = volume_index(volumes, vol);
		struct gw_vm_disk disk = {.cdrom = json_object_get(d, "cdrom") != NULL};
		char field[96];
		const char *path = NULL;
		if (json_object_get(vol, "containerDisk")) {
			snprintf(field, sizeof(field), "spec.volumes[%zu].containerDisk.image", vi);
			path = json_string_value(GET(vol, "containerDisk", "image"));
			disk.readonly_base_with_overlay = !disk.cdrom;
		} else if (json_object_get(vol, "hostDisk")) {
			snprintf(field, sizeof(field), "spec.volumes[%zu].hostDisk.path", vi);
			path = json_string_value(GET(vol, "hostDisk", "path"));
		} else {
			const char *key = NULL, *k;
			const json_t *x;
			json_object_foreach((json_t *)vol, k, x)
				if (!key && strcmp(k, "name") != 0)
					key = k;
			gw_strv_push_take(&out->ignored, gw_asprintf("spec.volumes[%zu] (%s): volume type %s is not supported here",
								     vi, name, key ? key : "(none)"));
			continue;
		}
		if (!path || !*path)
			return gw_err_set(err, -EINVAL, "%s: required (a local file)", field);
		int r = disk_format(path, field, &disk.format, err);
		if (r < 0)
			return r;
		disk.path = gw_strdup(path);
		out->disks[out->n_disks++] = disk;
	}
	return 0;
}

/* kernelBoot.container.image is a local directory here (Godwit has no
 * registry); kernelPath and initrdPath are relative to it unless absolute. */
static int boot_file(const char *dir, const char *rel, const char *field, char **out, struct gw_err **err)
{
	char *path = rel[0] == '/' || !dir ? gw_strdup(rel) : gw_asprintf("%s/%s", dir, rel);
	if (access(path, R_OK) != 0) {
		int r = gw_err_set(err, -errno, "%s: \"%s\": %s", field, path, strerror(errno));
		free(path);
		return r;
	}
	*out = path;
	return 0;
}

static int add_kernel_boot(const json_t *spec, struct gw_node_vm *out, struct gw_err **err)
{
	const json_t *kb = GET(spec, "domain", "firmware", "kernelBoot");
	if (!kb)
		return 0;
	const json_t *ct = json_object_get(kb, "container");
	const char *image = json_string_value(json_object_get(ct, "image"));
	const char *kernel = json_string_value(json_object_get(ct, "kernelPath"));
	const char *initrd = json_string_value(json_object_get(ct, "initrdPath"));
	const char *args = json_string_value(json_object_get(kb, "kernelArgs"));
	if (!kernel || !*kernel)
		return gw_err_set(err, -EINVAL, "spec.domain.firmware.kernelBoot.container.kernelPath: required");
	if (image && !gw_path_is_dir(image))
		return gw_err_set(err, -ENOTDIR,
				  "spec.domain.firmware.kernelBoot.container.image: \"%s\": not a local directory", image);
	int r = boot_file(image, kernel, "spec.domain.firmware.kernelBoot.container.kernelPath", &out->kernel, err);
	if (r == 0 && initrd && *initrd)
		r = boot_file(image, initrd, "spec.domain.firmware.kernelBoot.container.initrdPath", &out->initrd, err);
	if (r == 0 && args)
		out->append = gw_strdup(args);
	return r;
}

int gw_node_vm_from_vmi(const struct gw_cluster *c, const struct gw_vmi *vmi, struct gw_node_vm *out,
			struct gw_err **err)
{
	memset(out, 0, sizeof(*out));
	gw_strv_init(&out->ignored);
	gw_strv_init(&out->cpu_flags);
	const json_t *spec = json_object_get(vmi->doc, "spec");

	const char *model = gw_sched_cpu_model(c, &vmi->spec, NULL);
	if (strcmp(model, "host-model") == 0) {
		out->cpu_mode = GW_NODE_CPU_HOST_MODEL;
	} else if (strcmp(model, "host-passthrough") == 0) {
		out->cpu_mode = GW_NODE_CPU_PASSTHROUGH;
	} else {
		out->cpu_mode = GW_NODE_CPU_NAMED;
		out->cpu_model = gw_strdup(model);
	}

	int r = 0;
	for (size_t i = 0; i < vmi->spec.n_features; i++) {
		const struct gw_vm_feature *f = &vmi->spec.features[i];
		int idx = gw_cpu_feature_lookup(f->name, err);
		if (idx < 0) {
			r = gw_err_wrap(err, "spec.domain.cpu.features[%zu].name", i);
			goto fail;
		}
		bool off = f->policy == GW_POLICY_DISABLE || f->policy == GW_POLICY_FORBID;
		gw_strv_push_take(&out->cpu_flags, gw_asprintf("%c%s", off ? '-' : '+', gw_cpu_feature_get((unsigned)idx)->name));
	}

	const json_t *cpu = GET(spec, "domain", "cpu");
	unsigned sockets, cores, threads;
	r = topology(cpu, "sockets", &sockets, err);
	if (r == 0)
		r = topology(cpu, "cores", &cores, err);
	if (r == 0)
		r = topology(cpu, "threads", &threads, err);
	if (r < 0)
		goto fail;
	out->vcpus = sockets * cores * threads;
	if (out->vcpus > 1024) {
		r = gw_err_set(err, -EINVAL, "spec.domain.cpu: %u sockets x %u cores x %u threads: more than 1024 vCPUs",
			       sockets, cores, threads);
		goto fail;
	}

	int64_t memory = vmi->spec.memory_guest_bytes ? vmi->spec.memory_guest_bytes : vmi->spec.memory_request_bytes;
	if (memory <= 0) {
		r = gw_err_set(err, -EINVAL,
			       "spec.domain.memory.guest: not set (nor spec.domain.resources.requests.memory)");
		goto fail;
	}
	out->memory_mib = ((uint64_t)memory + (1u << 20) - 1) >> 20;

	r = add_disks(spec, out, err);
	if (r == 0)
		r = add_kernel_boot(spec, out, err);
	if (r < 0)
		goto fail;

	size_t i;
	const json_t *v;
	json_array_foreach(GET(spec, "domain", "devices", "interfaces"), i, v)
		gw_strv_push_take(&out->ignored,
				  gw_asprintf("spec.domain.devices.interfaces[%zu] (%s): network interfaces are not supported here",
					      i, json_string_value(json_object_get(v, "name")) ?: "?"));
	return 0;
fail:
	gw_node_vm_fini(out);
	return r;
}

/* The spelling of feature idx that QEMU knows: the engine's name or one of
 * its aliases, as is or with '-' for '_' (QEMU's property names). NULL when
 * QEMU has none of them; the engine's name when nothing is known of QEMU. */
static char *qemu_spelling(unsigned idx, const struct gw_strv *qemu_features)
{
	const struct gw_cpu_feature *f = gw_cpu_feature_get(idx);
	if (!qemu_features)
		return gw_strdup(f->name);
	for (size_t i = 0;; i++) {
		const char *name = i == 0 ? f->name : f->aliases ? f->aliases[i - 1] : NULL;
		if (!name)
			return NULL;
		if (gw_strv_contains(qemu_features, name))
			return gw_strdup(name);
		char *dashed = gw_strdup(name);
		for (char *p = dashed; *p; p++)
			if (*p == '_')
				*p = '-';
		if (gw_strv_contains(qemu_features, dashed))
			return dashed;
		free(dashed);
	}
}

static void add_flags(struct gw_buf *b, const struct gw_featset *set, char sign, const struct gw_strv *qemu_features,
		      json_t *dropped)
{
	for (unsigned i = 0; i < gw_cpu_feature_count(); i++) {
		if (!gw_featset_test(set, i))
			continue;
		char *name = qemu_spelling(i, qemu_features);
		if (name)
			gw_buf_printf(b, ",%c%s", sign, name);
		else
			json_array_append_new(dropped, json_string(gw_cpu_feature_get(i)->name));
		free(name);
	}
}

/* Takes b's text and dropped (may be NULL). */
static json_t *cpu_definition(const char *mode, const char *model, struct gw_buf *b, const struct gw_node_vm *vm,
			      const struct gw_strv *qemu_features, json_t *dropped)
{
	/* The VMI's own flags: in QEMU's spelling when it has one, else as
	 * written (QEMU then says what it does not know). */
	for (size_t i = 0; i < vm->cpu_flags.n; i++) {
		const char *flag = vm->cpu_flags.v[i];
		int idx = gw_cpu_feature_find(flag + 1);
		_cleanup_free_ char *name = idx >= 0 ? qemu_spelling((unsigned)idx, qemu_features) : NULL;
		gw_buf_printf(b, ",%c%s", flag[0], name ? name : flag + 1);
	}
	json_t *def = json_pack("{s:s, s:s, s:s}", "mode", mode, "model", model, "qemu", b->data);
	if (json_array_size(dropped))
		json_object_set(def, "dropped", dropped);
	json_decref(dropped);
	gw_buf_fini(b);
	return def;
}

int gw_node_cpu_resolve(const struct gw_cpu_modeldb *db, const struct gw_cpu_profile *profile,
			const struct gw_node_vm *vm, const struct gw_strv *qemu_features, json_t **cpu,
			struct gw_err **err)
{
	*cpu = NULL;
	struct gw_buf b;
	gw_buf_init(&b);
	switch (vm->cpu_mode) {
	case GW_NODE_CPU_PASSTHROUGH:
		gw_buf_puts(&b, "host");
		*cpu = cpu_definition("host-passthrough", "host", &b, vm, qemu_features, NULL);
		return 0;
	case GW_NODE_CPU_NAMED: {
		int r = gw_cpu_modeldb_lookup(db, vm->cpu_model, err);
		if (r < 0)
			return gw_err_wrap(err, "spec.domain.cpu.model");
		gw_buf_puts(&b, vm->cpu_model);
		*cpu = cpu_definition("named", vm->cpu_model, &b, vm, qemu_features, NULL);
		return 0;
	}
	case GW_NODE_CPU_HOST_MODEL:
		break;
	}
	struct gw_cpu_hostmodel hm = {.model = -1};
	int r = gw_cpu_host_model(db, profile, &hm, err);
	if (r < 0)
		return gw_err_wrap(err, "host-model on %s", profile->name);
	if (!hm.name) {
		gw_cpu_hostmodel_fini(&hm);
		return gw_err_set(err, -ENOENT, "host-model on %s: no model fits this host", profile->name);
	}
	json_t *dropped = json_array();
	gw_buf_puts(&b, hm.name);
	add_flags(&b, &hm.require, '+', qemu_features, dropped);
	add_flags(&b, &hm.disable, '-', qemu_features, dropped);
	*cpu = cpu_definition("host-model", hm.name, &b, vm, qemu_features, dropped);
	gw_cpu_hostmodel_fini(&hm);
	return 0;
}

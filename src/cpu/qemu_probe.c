/* SPDX-License-Identifier: Apache-2.0 */
/* Asking a QEMU binary about CPU models: the model database generator
 * (`godwit cpu models --from-qemu`) and QEMU's view of this host
 * (GW_CPU_PROFILE_QEMU). Starts QEMU with `-machine none`, so no firmware
 * and no guest are needed.
 *
 * Which accelerator: QEMU applies accelerator defaults on top of every
 * model's own definition, and the Debian builds have no qtest accelerator
 * (which would leave definitions alone). Observed with QEMU 7.2 and 10.0:
 *   - every accelerator: `hypervisor` is set for every model;
 *   - TCG: `vme` is forced off;
 *   - KVM: `x2apic` (and KVM PV features) forced on; `acpi`, `monitor`
 *     and `svm` forced off, and with svm the SVM leaf features (npt, ...).
 * The database records what QEMU requires of the host when it runs a
 * model under KVM, the accelerator Godwit migrates with. It is generated
 * under TCG, which every machine has, and asks QEMU itself to apply KVM's
 * `off` defaults (props acpi/monitor/svm = false; QEMU then drops the
 * dependent SVM features by its own rules). `hypervisor` and `x2apic` are
 * left out: KVM provides them on every host, so they never decide whether
 * a model is usable. What TCG hides, `vme`, cannot be asked of QEMU: TCG
 * turns it off in every built-in model before any query sees it. QEMU's
 * model table gives vme to every model except the generic qemu32 and
 * qemu64 (built on PPRO_FEATURES, which lack it), so the generator
 * restores it for all others (docs/cpu-model-db.md; the reference test
 * checks the result against QEMU 10.0's definitions). */
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "godwit/cpu.h"
#include "godwit/qemu.h"

/* Bounds QEMU's start and every QMP reply; a full expansion takes ~5 ms. */
#define PROBE_TIMEOUT_MS 20000

/* Entries of query-cpu-definitions that are not named models. */
static bool is_pseudo_model(const char *name)
{
	return !strcmp(name, "base") || !strcmp(name, "host") || !strcmp(name, "max");
}

static int start_qemu(const char *qemu_binary, const char *accel, struct gw_qmp **q,
		      struct gw_err **err)
{
	const char *argv[] = {qemu_binary, "-machine", "none", "-accel", accel, "-nodefaults",
			      "-nographic", "-S", NULL};
	int r = gw_qmp_spawn(argv, PROBE_TIMEOUT_MS, q, err);
	if (r < 0)
		return gw_err_wrap(err, "%s -accel %s", qemu_binary, accel);
	return 0;
}

/* "QEMU 10.0.2" from query-version. */
static int qemu_version(struct gw_qmp *q, const char *qemu_binary, char **out, struct gw_err **err)
{
	_cleanup_json_ json_t *ver = NULL;
	int r = gw_qmp_execute(q, "query-version", NULL, &ver, err);
	if (r < 0)
		return r;
	json_t *v = json_object_get(ver, "qemu");
	json_t *major = json_object_get(v, "major"), *minor = json_object_get(v, "minor"),
	       *micro = json_object_get(v, "micro");
	if (!json_is_integer(major) || !json_is_integer(minor) || !json_is_integer(micro))
		return gw_err_set(err, -EPROTO, "%s: query-version: qemu: expected major, minor, micro numbers",
				  qemu_binary);
	*out = gw_asprintf("QEMU %" JSON_INTEGER_FORMAT ".%" JSON_INTEGER_FORMAT ".%" JSON_INTEGER_FORMAT,
			   json_integer_value(major), json_integer_value(minor), json_integer_value(micro));
	return 0;
}

/* query-cpu-definitions, checked: an array of objects with a string name. */
static int cpu_definitions(struct gw_qmp *q, const char *qemu_binary, json_t **defs,
			   struct gw_err **err)
{
	int r = gw_qmp_execute(q, "query-cpu-definitions", NULL, defs, err);
	if (r < 0)
		return r;
	if (!json_is_array(*defs) || json_array_size(*defs) == 0 ||
	    json_array_size(*defs) > GW_CPU_MODEL_MAX + 16) {
		r = gw_err_set(err, -EPROTO, "%s: query-cpu-definitions: expected a list of 1 to %d models",
			       qemu_binary, GW_CPU_MODEL_MAX + 16);
		goto bad;
	}
	size_t i;
	json_t *d;
	json_array_foreach(*defs, i, d) {
		const char *name = json_string_value(json_object_get(d, "name"));
		json_t *alias = json_object_get(d, "alias-of");
		json_t *unavail = json_object_get(d, "unavailable-features");
		if (!json_is_object(d) || !name || !name[0] || strlen(name) > 64) {
			r = gw_err_set(err, -EPROTO, "%s: query-cpu-definitions[%zu]: name: expected a model name",
				       qemu_binary, i);
			goto bad;
		}
		if (alias && (!json_is_string(alias) || strlen(json_string_value(alias)) > 64)) {
			r = gw_err_set(err, -EPROTO, "%s: query-cpu-definitions: %s: alias-of: expected a model name",
				       qemu_binary, name);
			goto bad;
		}
		if (unavail && !json_is_array(unavail)) {
			r = gw_err_set(err, -EPROTO,
				       "%s: query-cpu-definitions: %s: unavailable-features: expected a list",
				       qemu_binary, name);
			goto bad;
		}
	}
	return 0;
bad:
	json_decref(*defs);
	*defs = NULL;
	return r;
}

struct expansion {
	struct gw_featset features; /* true properties that are features */
	const char *vendor;         /* canonical, or NULL */
	int family, model, stepping;
};

static int int_prop(json_t *props, const char *key, const char *where, int *out, struct gw_err **err)
{
	json_t *v = json_object_get(props, key);
	*out = -1;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 0xffff)
		return gw_err_set(err, -EPROTO, "%s: %s: expected a number 0-65535", where, key);
	*out = (int)json_integer_value(v);
	return 0;
}

/* query-cpu-model-expansion type full of `model`, with `props` (borrowed,
 * may be NULL) applied first. */
static int expand_model(struct gw_qmp *q, const char *qemu_binary, const char *model, json_t *props,
			bool with_vmx, struct expansion *out, struct gw_err **err)
{
	memset(out, 0, sizeof(*out));
	json_t *m = json_pack("{s:s}", "name", model);
	if (props)
		json_object_set(m, "props", props);
	_cleanup_json_ json_t *args = json_pack("{s:s, s:o}", "type", "full", "model", m);
	_cleanup_json_ json_t *ret = NULL;
	int r = gw_qmp_execute(q, "query-cpu-model-expansion", args, &ret, err);
	if (r < 0)
		return gw_err_wrap(err, "model %s", model);
	_cleanup_free_ char *where = gw_asprintf("%s: query-cpu-model-expansion %s: model.props",
						 qemu_binary, model);
	json_t *got = json_object_get(json_object_get(ret, "model"), "props");
	if (!json_is_object(got))
		return gw_err_set(err, -EPROTO, "%s: expected an object", where);
	const char *key;
	json_t *v;
	json_object_foreach(got, key, v) {
		/* Non-feature properties (family, model-id, level, kvm-*, hv-*,
		 * check, ...) are not in the feature table and are skipped;
		 * only true booleans are features the model has. */
		if (!json_is_true(v))
			continue;
		if (!with_vmx && gw_str_has_prefix(key, "vmx-"))
			continue;
		int idx = gw_cpu_feature_find(key);
		if (idx >= 0)
			gw_featset_set(&out->features, (unsigned)idx);
	}
	json_t *vendor = json_object_get(got, "vendor");
	if (vendor && !json_is_string(vendor))
		return gw_err_set(err, -EPROTO, "%s: vendor: expected a string", where);
	out->vendor = gw_cpu_vendor_canonical(json_string_value(vendor));
	if ((r = int_prop(got, "family", where, &out->family, err)) < 0 ||
	    (r = int_prop(got, "model", where, &out->model, err)) < 0 ||
	    (r = int_prop(got, "stepping", where, &out->stepping, err)) < 0)
		return r;
	return 0;
}

static void clear_feature(struct gw_featset *s, const char *name)
{
	int idx = gw_cpu_feature_find(name);
	if (idx >= 0)
		gw_featset_clear(s, (unsigned)idx);
}

/* QEMU's generic models without VME in their definition (see the top). */
static bool lacks_vme(const char *name, const char *alias_of)
{
	static const char *const generic[] = {"qemu32", "qemu32-v1", "qemu64", "qemu64-v1"};
	for (size_t i = 0; i < GW_ARRAY_SIZE(generic); i++)
		if (!strcmp(name, generic[i]) || (alias_of && !strcmp(alias_of, generic[i])))
			return true;
	return false;
}

/* QEMU lists models in no useful order; the database is sorted by name,
 * ignoring case, so that regenerating it gives a readable diff. */
static int model_name_cmp(const void *a, const void *b)
{
	const struct gw_cpu_model *ma = a, *mb = b;
	int c = strcasecmp(ma->name, mb->name);
	return c ? c : strcmp(ma->name, mb->name);
}

int gw_cpu_modeldb_from_qemu(const char *qemu_binary, struct gw_cpu_modeldb **out,
			     struct gw_err **err)
{
	*out = NULL;
	_cleanup_qmp_ struct gw_qmp *q = NULL;
	_cleanup_json_ json_t *defs = NULL;
	_cleanup_free_ char *source = NULL;
	int r = start_qemu(qemu_binary, "tcg", &q, err);
	if (r < 0)
		return r;
	if ((r = qemu_version(q, qemu_binary, &source, err)) < 0 ||
	    (r = cpu_definitions(q, qemu_binary, &defs, err)) < 0)
		return r;
	/* KVM's accelerator defaults that turn features off (see the top). */
	_cleanup_json_ json_t *kvm_defaults = json_pack("{s:b, s:b, s:b}", "acpi", 0, "monitor", 0,
							"svm", 0);
	struct gw_cpu_modeldb *db = gw_calloc(1, sizeof(*db));
	gw_strv_init(&db->obsolete);
	gw_cpu_default_obsolete(&db->obsolete);
	db->source = source;
	source = NULL;
	size_t i;
	json_t *d;
	json_array_foreach(defs, i, d) {
		const char *name = json_string_value(json_object_get(d, "name"));
		if (is_pseudo_model(name))
			continue;
		struct expansion e;
		/* vmx-* describe nested VMX only, not what a model requires. */
		r = expand_model(q, qemu_binary, name, kvm_defaults, false, &e, err);
		if (r < 0)
			break;
		clear_feature(&e.features, "hypervisor");
		clear_feature(&e.features, "x2apic");
		const char *alias = json_string_value(json_object_get(d, "alias-of"));
		if (!lacks_vme(name, alias)) {
			int vme = gw_cpu_feature_find("vme");
			if (vme >= 0)
				gw_featset_set(&e.features, (unsigned)vme);
		}
		struct gw_cpu_model m = {
			.name = gw_strdup(name),
			.alias_of = alias ? gw_strdup(alias) : NULL,
			.vendor = e.vendor ? gw_strdup(e.vendor) : NULL,
			.family = e.family,
			.model = e.model,
			.stepping = e.stepping,
			.features = e.features,
		};
		r = gw_cpu_modeldb_add(db, &m, err);
		free(m.name);
		free(m.alias_of);
		free(m.vendor);
		if (r < 0) {
			gw_err_wrap(err, "%s: query-cpu-definitions", qemu_binary);
			break;
		}
	}
	for (size_t k = 0; k < db->n && r == 0; k++) {
		const char *target = db->models[k].alias_of;
		if (target && gw_cpu_modeldb_find(db, target) < 0)
			r = gw_err_set(err, -EPROTO, "%s: model %s: alias-of \"%s\" is not a listed model",
				       qemu_binary, db->models[k].name, target);
	}
	if (r == 0 && db->n == 0)
		r = gw_err_set(err, -EPROTO, "%s: query-cpu-definitions: no named models", qemu_binary);
	if (r < 0) {
		gw_cpu_modeldb_free(db);
		return r;
	}
	r = gw_qmp_close(q, err);
	q = NULL;
	if (r < 0) {
		gw_cpu_modeldb_free(db);
		return r;
	}
	qsort(db->models, db->n, sizeof(*db->models), model_name_cmp);
	gw_cpu_modeldb_apply_libvirt(db);
	*out = db;
	return 0;
}

int gw_cpu_profile_from_qemu(const struct gw_cpu_modeldb *db, const char *qemu_binary, bool kvm,
			     struct gw_cpu_profile **out, struct gw_err **err)
{
	(void)db; /* QEMU's own lists decide usable and known, not the database */
	*out = NULL;
	if (kvm && access("/dev/kvm", R_OK | W_OK) < 0)
		return gw_err_set(err, -ENODEV,
				  "%s: QEMU's KVM view needs /dev/kvm, which is %s on this machine",
				  qemu_binary, errno == ENOENT ? "missing" : "not accessible");
	const char *accel = kvm ? "kvm" : "tcg";
	/* `host` is this host's CPU as KVM passes it through; TCG has no
	 * host CPU and `max` is everything TCG can emulate. */
	const char *model = kvm ? "host" : "max";
	_cleanup_qmp_ struct gw_qmp *q = NULL;
	_cleanup_json_ json_t *defs = NULL;
	_cleanup_free_ char *version = NULL;
	int r = start_qemu(qemu_binary, accel, &q, err);
	if (r < 0)
		return r;
	struct expansion e;
	if ((r = qemu_version(q, qemu_binary, &version, err)) < 0 ||
	    (r = cpu_definitions(q, qemu_binary, &defs, err)) < 0 ||
	    (r = expand_model(q, qemu_binary, model, NULL, true, &e, err)) < 0)
		return r;

	char host[256] = "";
	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
		snprintf(host, sizeof(host), "this host");
	_cleanup_free_ char *origin = gw_asprintf("%s (%s -accel %s, -cpu %s)", version, qemu_binary,
						  accel, model);
	struct gw_cpu_profile *p = gw_cpu_profile_new(GW_CPU_PROFILE_QEMU, host, origin);
	p->vendor = e.vendor ? gw_strdup(e.vendor) : NULL;
	p->family = e.family;
	p->model = e.model;
	p->stepping = e.stepping;
	p->features = e.features;
	p->has_usable = true;
	size_t i;
	json_t *d;
	json_array_foreach(defs, i, d) {
		const char *name = json_string_value(json_object_get(d, "name"));
		if (is_pseudo_model(name))
			continue;
		gw_strv_push(&p->known, name);
		/* libvirt: an empty list is usable='yes'; a missing list is
		 * 'unknown', which we do not count as usable. */
		json_t *unavail = json_object_get(d, "unavailable-features");
		if (unavail && json_array_size(unavail) == 0)
			gw_strv_push(&p->usable, name);
	}
	r = gw_qmp_close(q, err);
	q = NULL;
	if (r < 0) {
		gw_cpu_profile_free(p);
		return r;
	}
	*out = p;
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Host profiles: lifetime, the JSON format, and loading any format from a
 * file or a directory (the format is detected from the content). */
#include <dirent.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "godwit/cpu.h"
#include "profile_priv.h"

#define PROFILE_MAX_BYTES (64u << 20)

static const char *const kind_names[] = {
	[GW_CPU_PROFILE_JSON] = "json",
	[GW_CPU_PROFILE_CPUID] = "cpuid",
	[GW_CPU_PROFILE_KVM] = "kvm",
	[GW_CPU_PROFILE_QEMU] = "qemu",
	[GW_CPU_PROFILE_DOMCAPS] = "domcapabilities",
	[GW_CPU_PROFILE_CPUID_DUMP] = "cpuid-dump",
	[GW_CPU_PROFILE_NODE] = "node",
};

const char *gw_cpu_profile_kind_name(enum gw_cpu_profile_kind k)
{
	return (size_t)k < GW_ARRAY_SIZE(kind_names) ? kind_names[k] : "unknown";
}

struct gw_cpu_profile *gw_cpu_profile_new(enum gw_cpu_profile_kind kind, const char *name,
					  const char *origin)
{
	struct gw_cpu_profile *p = gw_calloc(1, sizeof(*p));
	p->kind = kind;
	p->name = gw_strdup(name ? name : "host");
	p->origin = gw_strdup(origin ? origin : "-");
	p->family = p->model = p->stepping = -1;
	p->tsc_scalable = -1;
	gw_strv_init(&p->usable);
	gw_strv_init(&p->known);
	gw_strv_init(&p->machines);
	return p;
}

void gw_cpu_profile_free(struct gw_cpu_profile *p)
{
	if (!p)
		return;
	free(p->name);
	free(p->origin);
	free(p->vendor);
	free(p->host_model);
	gw_strv_fini(&p->usable);
	gw_strv_fini(&p->known);
	gw_strv_fini(&p->machines);
	free(p);
}

void gw_cpu_profiles_init(struct gw_cpu_profiles *ps)
{
	ps->v = NULL;
	ps->n = 0;
}

void gw_cpu_profiles_fini(struct gw_cpu_profiles *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		gw_cpu_profile_free(ps->v[i]);
	free(ps->v);
	gw_cpu_profiles_init(ps);
}

void gw_cpu_profiles_add(struct gw_cpu_profiles *ps, struct gw_cpu_profile *p)
{
	ps->v = gw_realloc(ps->v, (ps->n + 1) * sizeof(*ps->v));
	ps->v[ps->n++] = p;
}

const char *gw_cpu_vendor_canonical(const char *vendor)
{
	static const struct {
		const char *spelling, *name;
	} vendors[] = {
		{"Intel", "Intel"}, {"GenuineIntel", "Intel"}, {"AMD", "AMD"},
		{"AuthenticAMD", "AMD"}, {"Hygon", "Hygon"}, {"HygonGenuine", "Hygon"},
		{"Zhaoxin", "Zhaoxin"}, {"CentaurHauls", "Zhaoxin"}, {"  Shanghai  ", "Zhaoxin"},
	};
	if (!vendor)
		return NULL;
	for (size_t i = 0; i < GW_ARRAY_SIZE(vendors); i++)
		if (strcasecmp(vendor, vendors[i].spelling) == 0)
			return vendors[i].name;
	return NULL;
}

const char *gw_cpu_vendor_from_cpuid(const char id[12])
{
	char s[13];
	memcpy(s, id, 12);
	s[12] = '\0';
	return gw_cpu_vendor_canonical(s);
}

static int json_string_field(const json_t *doc, const char *key, const char *origin, bool required,
			     const char **out, struct gw_err **err)
{
	json_t *v = json_object_get(doc, key);
	*out = NULL;
	if (!v) {
		if (required)
			return gw_err_set(err, -EINVAL, "%s: field %s: missing", origin, key);
		return 0;
	}
	if (!json_is_string(v))
		return gw_err_set(err, -EINVAL, "%s: field %s: expected a string", origin, key);
	*out = json_string_value(v);
	return 0;
}

int gw_cpu_profile_from_json(const json_t *doc, const char *origin, struct gw_cpu_profile **out,
			     struct gw_err **err)
{
	if (!json_is_object(doc))
		return gw_err_set(err, -EINVAL, "%s: expected a JSON object with name, vendor and features", origin);
	const char *name, *vendor;
	int r = json_string_field(doc, "name", origin, true, &name, err);
	if (r < 0)
		return r;
	r = json_string_field(doc, "vendor", origin, false, &vendor, err);
	if (r < 0)
		return r;
	const char *canonical = gw_cpu_vendor_canonical(vendor);
	if (vendor && !canonical)
		return gw_err_set(err, -EINVAL, "%s: field vendor: unknown vendor \"%s\" (Intel, AMD or Hygon)",
				  origin, vendor);
	json_t *features = json_object_get(doc, "features");
	if (!json_is_array(features))
		return gw_err_set(err, -EINVAL, "%s: field features: %s", origin,
				  features ? "expected an array of feature names" : "missing");
	struct gw_cpu_profile *p = gw_cpu_profile_new(GW_CPU_PROFILE_JSON, name, origin);
	if (canonical)
		p->vendor = gw_strdup(canonical);
	size_t i;
	json_t *f;
	json_array_foreach(features, i, f) {
		if (!json_is_string(f)) {
			gw_cpu_profile_free(p);
			return gw_err_set(err, -EINVAL, "%s: field features[%zu]: expected a string", origin, i);
		}
		int idx = gw_cpu_feature_lookup(json_string_value(f), err);
		if (idx < 0) {
			gw_cpu_profile_free(p);
			return gw_err_wrap(err, "%s: field features[%zu]", origin, i);
		}
		gw_featset_set(&p->features, (unsigned)idx);
	}
	const char *sig[] = {"family", "model", "stepping"};
	int *dst[] = {&p->family, &p->model, &p->stepping};
	for (size_t k = 0; k < 3; k++) {
		json_t *v = json_object_get(doc, sig[k]);
		if (!v)
			continue;
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 0xffff) {
			gw_cpu_profile_free(p);
			return gw_err_set(err, -EINVAL, "%s: field %s: expected an integer 0-65535", origin, sig[k]);
		}
		*dst[k] = (int)json_integer_value(v);
	}
	*out = p;
	return 0;
}

/* Format detection by content, so a file needs no particular name. */
enum detected {
	DETECT_UNKNOWN,
	DETECT_JSON_PROFILE,
	DETECT_NODES,
	DETECT_DOMCAPS,
	DETECT_CPUID_DUMP,
};

static bool is_node_doc(const json_t *doc)
{
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	return kind && (strcmp(kind, "Node") == 0 || strcmp(kind, "NodeList") == 0 || strcmp(kind, "List") == 0);
}

static enum detected detect(const char *text, size_t len)
{
	size_t i = 0;
	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	if (i < len && text[i] == '<')
		return DETECT_DOMCAPS;
	if (i < len && text[i] == '{')
		return DETECT_JSON_PROFILE; /* refined after parsing */
	if (strstr(text, "eax=0x") && strstr(text, "ebx=0x"))
		return DETECT_CPUID_DUMP;
	return DETECT_UNKNOWN;
}

static int load_file(const struct gw_cpu_modeldb *db, const char *path, struct gw_cpu_profiles *out,
		     struct gw_err **err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = gw_file_read(path, PROFILE_MAX_BYTES, &text, &len, err);
	if (r < 0)
		return r;
	if (memchr(text, '\0', len))
		return gw_err_set(err, -EINVAL, "%s: binary data, not a CPU profile", path);
	struct gw_cpu_profile *p = NULL;
	switch (detect(text, len)) {
	case DETECT_DOMCAPS:
		r = gw_cpu_profile_from_domcaps(db, text, len, path, &p, err);
		break;
	case DETECT_CPUID_DUMP:
		r = gw_cpu_profile_from_cpuid_dump(text, path, &p, err);
		break;
	case DETECT_JSON_PROFILE: {
		json_error_t jerr;
		_cleanup_json_ json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
		if (!doc)
			return gw_err_set(err, -EINVAL, "%s: line %d column %d: %s", path, jerr.line, jerr.column,
					  jerr.text);
		if (is_node_doc(doc))
			return gw_cpu_profile_from_nodes(doc, path, out, err);
		r = gw_cpu_profile_from_json(doc, path, &p, err);
		break;
	}
	default:
		return gw_err_set(err, -EINVAL,
				  "%s: not a CPU profile (expected JSON {name, vendor, features}, a Node list, "
				  "virsh domcapabilities XML or `cpuid -1 -r` output)",
				  path);
	}
	if (r < 0)
		return r;
	gw_cpu_profiles_add(out, p);
	return 0;
}

/* Regular files of a directory and its node-labeller subdirectories (one
 * host each), sorted by name, hidden entries skipped. */
static int list_profile_entries(const char *path, struct gw_strv *out, struct gw_err **err)
{
	DIR *d = opendir(path);
	if (!d)
		return gw_err_set(err, -errno, "%s: %s", path, strerror(errno));
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *full = gw_asprintf("%s/%s", path, de->d_name);
		struct stat st;
		if (stat(full, &st) == 0 &&
		    (S_ISREG(st.st_mode) || (S_ISDIR(st.st_mode) && gw_cpu_profile_is_labeller_dir(full))))
			gw_strv_push_take(out, full);
		else
			free(full);
	}
	closedir(d);
	gw_strv_sort(out);
	return 0;
}

static int load_labeller_dir(const struct gw_cpu_modeldb *db, const char *path, struct gw_cpu_profiles *out,
			     struct gw_err **err)
{
	struct gw_cpu_profile *p = NULL;
	int r = gw_cpu_profile_from_labeller_dir(db, path, &p, err);
	if (r == 0)
		gw_cpu_profiles_add(out, p);
	return r;
}

int gw_cpu_profile_load(const struct gw_cpu_modeldb *db, const char *path, struct gw_cpu_profiles *out,
			struct gw_err **err)
{
	if (!gw_path_is_dir(path))
		return load_file(db, path, out, err);
	/* The node labeller's directory is one host, whatever else it holds
	 * (cpu_map, the aarch64 domcapabilities). */
	if (gw_cpu_profile_is_labeller_dir(path))
		return load_labeller_dir(db, path, out, err);
	struct gw_strv entries;
	gw_strv_init(&entries);
	int r = list_profile_entries(path, &entries, err);
	for (size_t i = 0; i < entries.n && r == 0; i++)
		r = gw_path_is_dir(entries.v[i]) ? load_labeller_dir(db, entries.v[i], out, err)
						 : load_file(db, entries.v[i], out, err);
	if (r == 0 && entries.n == 0)
		r = gw_err_set(err, -ENOENT, "%s: no profile files in the directory", path);
	gw_strv_fini(&entries);
	return r;
}

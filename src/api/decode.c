/* SPDX-License-Identifier: Apache-2.0 */
/* Field decoding shared by the kinds: every wrong type or range becomes
 * `path: VALUE: what is wrong`, with the value as the user wrote it. */
#include <string.h>

#include "internal.h"

_Thread_local struct gw_strtab *dec_strings;
_Thread_local struct map_sort_memo *dec_sort_memo;

/* Appends s at *at, as snprintf would: cut at n - 1 bytes, always
 * NUL-terminated (n > 0). These run for every field decoded. */
static void put(char *buf, size_t n, size_t *at, const char *s, size_t len)
{
	if (*at + len > n - 1)
		len = n - 1 - *at;
	memcpy(buf + *at, s, len);
	*at += len;
	buf[*at] = '\0';
}

const char *path_key(char *buf, size_t n, const char *path, const char *key)
{
	size_t at = 0;
	buf[0] = '\0';
	if (path && (*path || !key))
		put(buf, n, &at, path, strlen(path));
	if (key) {
		if (path && *path)
			put(buf, n, &at, ".", 1);
		put(buf, n, &at, key, strlen(key));
	}
	return buf;
}

const char *path_index(char *buf, size_t n, const char *path, size_t i)
{
	char digits[24];
	size_t d = sizeof(digits);
	digits[--d] = ']';
	do {
		digits[--d] = (char)('0' + i % 10);
		i /= 10;
	} while (i);
	digits[--d] = '[';
	size_t at = 0;
	buf[0] = '\0';
	if (!path)
		path = "(null)";   /* as glibc's printf has it */
	put(buf, n, &at, path, strlen(path));
	put(buf, n, &at, digits + d, sizeof(digits) - d);
	return buf;
}

int dec_fail(struct gw_err **err, const char *path, const char *key, const json_t *value,
	     const char *what)
{
	char p[PATH_MAX_LEN];
	path_key(p, sizeof(p), path, key);
	if (!value)
		return gw_err_set(err, -EINVAL, "%s: %s", p, what);
	char *v = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
	/* Long values (a whole object) are cut: the path already says where. */
	if (v && strlen(v) > 80)
		strcpy(v + 72, "...");
	int r = gw_err_set(err, -EINVAL, "%s: %s: %s", p, v ? v : "?", what);
	free(v);
	return r;
}

static const json_t *get(const json_t *parent, const char *key)
{
	const json_t *v = json_object_get(parent, key);
	return v && !json_is_null(v) ? v : NULL;
}

int dec_object(const json_t *parent, const char *path, const char *key, bool required,
	       const json_t **out, struct gw_err **err)
{
	const json_t *v = get(parent, key);
	*out = NULL;
	if (!v)
		return required ? dec_fail(err, path, key, NULL, "missing") : 0;
	if (!json_is_object(v))
		return dec_fail(err, path, key, v, "not an object");
	*out = v;
	return 0;
}

int dec_array(const json_t *parent, const char *path, const char *key, const json_t **out,
	      struct gw_err **err)
{
	const json_t *v = get(parent, key);
	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_array(v))
		return dec_fail(err, path, key, v, "not a list");
	*out = v;
	return 0;
}

int dec_string(const json_t *parent, const char *path, const char *key, bool required, char **out,
	       struct gw_err **err)
{
	const json_t *v = get(parent, key);
	if (!v)
		return required ? dec_fail(err, path, key, NULL, "missing") : 0;
	if (!json_is_string(v))
		return dec_fail(err, path, key, v, "not a string");
	if (required && !json_string_length(v))
		return dec_fail(err, path, key, v, "must not be empty");
	if (memchr(json_string_value(v), '\0', json_string_length(v)))
		return dec_fail(err, path, key, v, "contains a NUL character");
	free(*out);
	*out = gw_strdup(json_string_value(v));
	return 0;
}

int dec_bool(const json_t *parent, const char *path, const char *key, bool *has, bool *out,
	     struct gw_err **err)
{
	const json_t *v = get(parent, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return dec_fail(err, path, key, v, "not a boolean");
	*out = json_is_true(v);
	if (has)
		*has = true;
	return 0;
}

int dec_int(const json_t *parent, const char *path, const char *key, int64_t min, int64_t max,
	    bool *has, int64_t *out, struct gw_err **err)
{
	const json_t *v = get(parent, key);
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return dec_fail(err, path, key, v, "not an integer");
	json_int_t i = json_integer_value(v);
	if (i < min || i > max) {
		char what[96];
		snprintf(what, sizeof(what), "out of range %lld..%lld", (long long)min, (long long)max);
		return dec_fail(err, path, key, v, what);
	}
	*out = i;
	if (has)
		*has = true;
	return 0;
}

int dec_quantity(const json_t *parent, const char *path, const char *key, bool millis, bool *has,
		 int64_t *out, struct gw_err **err)
{
	const json_t *v = get(parent, key);
	if (!v)
		return 0;
	int64_t q;
	int r;
	if (json_is_string(v)) {
		if (memchr(json_string_value(v), '\0', json_string_length(v)))
			return dec_fail(err, path, key, v, "not a quantity");
		r = millis ? gw_quantity_parse_millis(json_string_value(v), &q)
			   : gw_quantity_parse(json_string_value(v), &q);
	} else if (json_is_integer(v)) {
		/* YAML turns `memory: 1024` into a number; Kubernetes accepts it. */
		json_int_t i = json_integer_value(v);
		if (i < 0)
			r = -EDOM;
		else if (millis && i > INT64_MAX / 1000)
			r = -ERANGE;
		else {
			q = millis ? i * 1000 : i;
			r = 0;
		}
	} else if (json_is_real(v)) {
		double d = json_real_value(v) * (millis ? 1000.0 : 1.0);
		if (d < 0)
			r = -EDOM;
		else if (!(d < 9.2e18))
			r = -ERANGE;
		else {
			q = (int64_t)d;   /* round up without libm */
			if ((double)q < d)
				q++;
			r = 0;
		}
	} else {
		return dec_fail(err, path, key, v, "not a quantity");
	}
	if (r < 0)
		return dec_fail(err, path, key, v, gw_quantity_strerror(r));
	*out = q;
	if (has)
		*has = true;
	return 0;
}

int dec_strv(const json_t *parent, const char *path, const char *key, struct gw_strv *out,
	     struct gw_err **err)
{
	const json_t *a;
	int r = dec_array(parent, path, key, &a, err);
	if (r < 0 || !a)
		return r;
	char p[PATH_MAX_LEN];
	path_key(p, sizeof(p), path, key);
	size_t i;
	json_t *item;
	json_array_foreach(a, i, item) {
		if (!json_is_string(item)) {
			char pi[PATH_MAX_LEN];
			return dec_fail(err, path_index(pi, sizeof(pi), p, i), NULL, item, "not a string");
		}
		gw_strv_push(out, json_string_value(item));
	}
	return 0;
}

int dec_map(const json_t *parent, const char *path, const char *key, bool *has, struct gw_map *out,
	    struct gw_err **err)
{
	const json_t *v = get(parent, key);
	if (!v)
		return 0;
	char p[PATH_MAX_LEN];
	gw_map_fini(out);
	int r = map_from_json(v, path_key(p, sizeof(p), path, key), out, dec_strings, dec_sort_memo, err);
	if (r == 0 && has)
		*has = true;
	return r;
}

int dec_enum(const json_t *parent, const char *path, const char *key, const char *const *allowed,
	     int *out, struct gw_err **err)
{
	const json_t *v = get(parent, key);
	*out = -1;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return dec_fail(err, path, key, v, "not a string");
	for (int i = 0; allowed[i]; i++)
		if (strcmp(allowed[i], json_string_value(v)) == 0) {
			*out = i;
			return 0;
		}
	struct gw_buf b;
	gw_buf_init(&b);
	gw_buf_puts(&b, "must be one of");
	for (int i = 0; allowed[i]; i++)
		gw_buf_printf(&b, "%s %s", i ? "," : "", allowed[i]);
	int r = dec_fail(err, path, key, v, b.data);
	gw_buf_fini(&b);
	return r;
}

/* ---- metadata and kinds ---------------------------------------------------------- */

void meta_fini(struct gw_meta *m)
{
	free(m->name);
	free(m->namespace);
	free(m->uid);
	free(m->creation_timestamp);
	gw_map_fini(&m->labels);
	gw_map_fini(&m->annotations);
}

int meta_decode(const json_t *doc, bool namespaced, struct gw_meta *m, struct gw_err **err)
{
	const json_t *md;
	int r = dec_object(doc, "", "metadata", true, &md, err);
	if (r < 0)
		return r;
	if ((r = dec_string(md, "metadata", "name", true, &m->name, err)) < 0)
		return r;
	if (namespaced) {
		if ((r = dec_string(md, "metadata", "namespace", false, &m->namespace, err)) < 0)
			return r;
		/* kubectl puts a manifest without a namespace into "default". */
		if (!m->namespace || !*m->namespace) {
			free(m->namespace);
			m->namespace = gw_strdup("default");
		}
	}
	if ((r = dec_string(md, "metadata", "uid", false, &m->uid, err)) < 0 ||
	    (r = dec_string(md, "metadata", "creationTimestamp", false, &m->creation_timestamp, err)) < 0 ||
	    (r = dec_map(md, "metadata", "labels", NULL, &m->labels, err)) < 0 ||
	    (r = dec_map(md, "metadata", "annotations", NULL, &m->annotations, err)) < 0)
		return r;
	return 0;
}

static const struct {
	const char *kind;
	const char *group;   /* apiVersion's group; "" = core */
} kinds[GW_KIND_COUNT] = {
	[GW_KIND_NODE] = {"Node", ""},
	[GW_KIND_NAMESPACE] = {"Namespace", ""},
	[GW_KIND_VM] = {"VirtualMachine", "kubevirt.io"},
	[GW_KIND_VMI] = {"VirtualMachineInstance", "kubevirt.io"},
	[GW_KIND_VMIM] = {"VirtualMachineInstanceMigration", "kubevirt.io"},
	[GW_KIND_POLICY] = {"MigrationPolicy", "migrations.kubevirt.io"},
	[GW_KIND_KUBEVIRT] = {"KubeVirt", "kubevirt.io"},
	[GW_KIND_POD] = {"Pod", ""},
	[GW_KIND_PVC] = {"PersistentVolumeClaim", ""},
};

const char *gw_kind_name(enum gw_kind k)
{
	return (unsigned)k < GW_KIND_COUNT ? kinds[k].kind : "?";
}

int gw_kind_from_doc(const json_t *doc)
{
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	const json_t *av = json_object_get(doc, "apiVersion");
	if (!kind)
		return -1;
	for (int k = 0; k < GW_KIND_COUNT; k++) {
		if (strcmp(kinds[k].kind, kind) != 0)
			continue;
		if (!av || json_is_null(av))
			return k;
		const char *api = json_string_value(av);
		if (!api)
			return -1;
		/* apiVersion is "<group>/<version>", or "<version>" for the core group. */
		const char *slash = strchr(api, '/');
		size_t glen = slash ? (size_t)(slash - api) : 0;
		if (strlen(kinds[k].group) == glen && strncmp(api, kinds[k].group, glen) == 0 &&
		    (slash ? slash[1] != '\0' : *api != '\0'))
			return k;
		return -1;
	}
	return -1;
}

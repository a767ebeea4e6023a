/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "cli.h"

int gw_cli_fail(struct gw_err *err)
{
	fprintf(stderr, "godwit: %s\n", gw_err_msg(err));
	int code = err ? err->code : -EINVAL;
	gw_err_free(err);
	switch (code) {
	case -ENOENT:
	case -EINVAL:
	case -EISDIR:
	case -EFBIG:
	case -E2BIG:
	case -EEXIST:
		return GW_EXIT_INPUT;
	case -ENOSYS:
	case -ENODEV:
	case -ENOTSUP:
		return GW_EXIT_UNSUPPORTED;
	default:
		return GW_EXIT_FAILURE;
	}
}

int gw_cli_usage(const char *usage, const char *fmt, ...)
{
	va_list ap;
	fputs("godwit: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	if (usage)
		fputs(usage, stderr);
	return GW_EXIT_USAGE;
}

int gw_cli_parse_output(const char *arg, enum gw_output *out)
{
	if (!strcmp(arg, "table"))
		*out = GW_OUTPUT_TABLE;
	else if (!strcmp(arg, "json"))
		*out = GW_OUTPUT_JSON;
	else
		return gw_cli_usage(NULL, "-o \"%s\": expected table or json", arg);
	return 0;
}

struct gw_table {
	size_t ncols;
	struct gw_strv cells; /* row-major, header first */
};

struct gw_table *gw_table_new(size_t ncols, const char *const *headers)
{
	struct gw_table *t = gw_calloc(1, sizeof(*t));
	t->ncols = ncols;
	gw_strv_init(&t->cells);
	gw_table_add(t, headers);
	return t;
}

void gw_table_add(struct gw_table *t, const char *const *cells)
{
	for (size_t i = 0; i < t->ncols; i++)
		gw_strv_push(&t->cells, cells[i] ? cells[i] : "");
}

void gw_table_print(struct gw_table *t, FILE *out)
{
	size_t rows = t->cells.n / t->ncols;
	size_t *w = gw_calloc(t->ncols, sizeof(*w));
	for (size_t r = 0; r < rows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t l = strlen(t->cells.v[r * t->ncols + c]);
			if (l > w[c])
				w[c] = l;
		}
	for (size_t r = 0; r < rows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell = t->cells.v[r * t->ncols + c];
			if (c + 1 == t->ncols)
				fprintf(out, "%s", cell);
			else
				fprintf(out, "%-*s  ", (int)w[c], cell);
		}
		fputc('\n', out);
	}
	free(w);
}

void gw_table_free(struct gw_table *t)
{
	if (!t)
		return;
	gw_strv_fini(&t->cells);
	free(t);
}

void gw_print_wrapped(FILE *out, const char *label, const struct gw_strv *words, size_t width)
{
	size_t indent = strlen(label), col = indent;
	fputs(label, out);
	if (words->n == 0) {
		fputs("-\n", out);
		return;
	}
	for (size_t i = 0; i < words->n; i++) {
		size_t l = strlen(words->v[i]);
		if (col > indent && col + 1 + l > width) {
			fprintf(out, "\n%*s", (int)indent, "");
			col = indent;
		}
		if (col > indent) {
			fputc(' ', out);
			col++;
		}
		fputs(words->v[i], out);
		col += l;
	}
	fputc('\n', out);
}

int gw_cli_load_modeldb(const char *path, struct gw_cpu_modeldb **db, struct gw_err **err)
{
	if (!path || !*path)
		path = getenv("GODWIT_CPU_MODEL_DB");
	if (path && *path)
		return gw_cpu_modeldb_load(path, db, err);
	return gw_cpu_modeldb_builtin(db, err);
}

void gw_print_features_grouped(FILE *out, const char *indent, const struct gw_featset *s)
{
	if (gw_featset_empty(s)) {
		fprintf(out, "%s-\n", indent);
		return;
	}
	for (int g = 0; g < GW_CPU_GROUP_COUNT; g++) {
		struct gw_strv words;
		gw_strv_init(&words);
		for (unsigned i = 0; i < gw_cpu_feature_count(); i++)
			if (gw_featset_test(s, i) && gw_cpu_feature_get(i)->group == (enum gw_cpu_group)g)
				gw_strv_push(&words, gw_cpu_feature_get(i)->name);
		gw_strv_sort(&words);
		if (words.n) {
			char *label = gw_asprintf("%s%-15s", indent, gw_cpu_group_name((enum gw_cpu_group)g));
			gw_print_wrapped(out, label, &words, 100);
			free(label);
		}
		gw_strv_fini(&words);
	}
}

json_t *gw_cli_features_grouped_json(const struct gw_featset *s)
{
	json_t *o = json_object();
	for (unsigned i = 0; i < gw_cpu_feature_count(); i++) {
		if (!gw_featset_test(s, i))
			continue;
		const struct gw_cpu_feature *f = gw_cpu_feature_get(i);
		const char *group = gw_cpu_group_name(f->group);
		json_t *list = json_object_get(o, group);
		if (!list) {
			list = json_array();
			json_object_set_new(o, group, list);
		}
		json_array_append_new(list, json_string(f->name));
	}
	const char *group;
	json_t *list;
	json_object_foreach(o, group, list) {
		struct gw_strv names;
		gw_strv_init(&names);
		size_t i;
		json_t *name;
		json_array_foreach(list, i, name)
			gw_strv_push(&names, json_string_value(name));
		gw_strv_sort(&names);
		json_array_clear(list);
		for (i = 0; i < names.n; i++)
			json_array_append_new(list, json_string(names.v[i]));
		gw_strv_fini(&names);
	}
	return o;
}

static int cmp_highest(const void *pa, const void *pb, void *data)
{
	const struct gw_cpu_modeldb *db = data;
	const struct gw_cpu_model *a = &db->models[*(const int *)pa], *b = &db->models[*(const int *)pb];
	unsigned ca = gw_featset_count(&a->features), cb = gw_featset_count(&b->features);
	if (ca != cb)
		return ca > cb ? -1 : 1;
	if (a->libvirt_order != b->libvirt_order)
		return a->libvirt_order > b->libvirt_order ? -1 : 1;
	return strcmp(a->name, b->name);
}

void gw_cli_models_highest_first(const struct gw_cpu_modeldb *db, const struct gw_modelset *set, int **idx,
				 size_t *n)
{
	*idx = gw_calloc(db->n ? db->n : 1, sizeof(**idx));
	*n = 0;
	for (size_t i = 0; i < db->n; i++)
		if (gw_modelset_test(set, (unsigned)i))
			(*idx)[(*n)++] = (int)i;
	qsort_r(*idx, *n, sizeof(**idx), cmp_highest, (void *)db);
}

int gw_cli_load_one_profile(const struct gw_cpu_modeldb *db, const char *path, struct gw_cpu_profile **out,
			    struct gw_err **err)
{
	struct gw_cpu_profiles hosts;
	gw_cpu_profiles_init(&hosts);
	int r = gw_cpu_profile_load(db, path, &hosts, err);
	if (r == 0 && hosts.n != 1)
		r = gw_err_set(err, -EINVAL, "%s: holds %zu hosts; this command takes one (give a single file)", path,
			       hosts.n);
	if (r == 0) {
		*out = hosts.v[0];
		hosts.n = 0;
	}
	gw_cpu_profiles_fini(&hosts);
	return r;
}

int gw_cli_load_doc(const char *path, const char *kind, json_t **out, struct gw_err **err)
{
	json_t *docs = NULL;
	int r = gw_doc_load_file(path, &docs, err);
	if (r < 0)
		return r;
	json_t *pick = NULL;
	size_t i;
	json_t *d;
	json_array_foreach(docs, i, d) {
		const char *k = json_string_value(json_object_get(d, "kind"));
		if (!kind || (k && !strcmp(k, kind))) {
			pick = d;
			break;
		}
	}
	/* A lone document without a kind is taken as is (hand-written files). */
	if (!pick && json_array_size(docs) == 1 && !json_object_get(json_array_get(docs, 0), "kind"))
		pick = json_array_get(docs, 0);
	if (!pick || !json_is_object(pick)) {
		json_decref(docs);
		return gw_err_set(err, -EINVAL, "%s: no %s object in the file", path, kind ? kind : "JSON");
	}
	*out = json_incref(pick);
	json_decref(docs);
	return 0;
}

void gw_print_label_counts(FILE *out, const char *indent, const json_t *labels)
{
	struct gw_strv keys;
	gw_strv_init(&keys);
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)labels, key, v)
		gw_strv_push(&keys, key);
	gw_strv_sort(&keys);
	for (size_t i = 0; i < keys.n;) {
		const char *slash = strchr(keys.v[i], '/');
		size_t plen = slash ? (size_t)(slash - keys.v[i]) : strlen(keys.v[i]);
		size_t j = i + 1;
		while (j < keys.n && !strncmp(keys.v[j], keys.v[i], plen) && (keys.v[j][plen] == '/' || !keys.v[j][plen]))
			j++;
		fprintf(out, "%s%-48.*s %zu\n", indent, (int)plen, keys.v[i], j - i);
		i = j;
	}
	gw_strv_fini(&keys);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The feature table, parsed once from data/cpu/features.tsv (built in). */
#include <ctype.h>
#include <pthread.h>
#include <string.h>

#include "godwit/cpu.h"
#include "data.h"

struct feature_table {
	struct gw_cpu_feature f[GW_CPU_FEATURE_MAX];
	size_t n;
	/* Loose keys (lower case, '-', '_', '.' removed) of every spelling,
	 * sorted for binary search. */
	struct loose_key {
		char key[48];
		int idx;
	} *keys;
	size_t n_keys;
};

static struct feature_table table;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static const char *group_names[GW_CPU_GROUP_COUNT] = {
	[GW_CPU_GROUP_SIMD] = "simd",
	[GW_CPU_GROUP_CRYPTO] = "crypto",
	[GW_CPU_GROUP_SECURITY] = "security",
	[GW_CPU_GROUP_VIRT] = "virtualisation",
	[GW_CPU_GROUP_OTHER] = "other",
};

const char *gw_cpu_group_name(enum gw_cpu_group g)
{
	return g < GW_CPU_GROUP_COUNT ? group_names[g] : "other";
}

static void loose_key(const char *name, char *out, size_t size)
{
	size_t j = 0;
	for (const char *p = name; *p && j + 1 < size; p++) {
		if (*p == '-' || *p == '_' || *p == '.')
			continue;
		out[j++] = (char)tolower((unsigned char)*p);
	}
	out[j] = '\0';
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(((const struct loose_key *)a)->key, ((const struct loose_key *)b)->key);
}

static void add_key(const char *name, int idx)
{
	table.keys = gw_realloc(table.keys, (table.n_keys + 1) * sizeof(*table.keys));
	loose_key(name, table.keys[table.n_keys].key, sizeof(table.keys[0].key));
	table.keys[table.n_keys].idx = idx;
	table.n_keys++;
}

/* The built-in table is part of the program: a malformed one is a build
 * defect, caught by the unit tests, so it aborts rather than returning. */
static void table_die(size_t line, const char *what)
{
	fprintf(stderr, "godwit: built-in feature table line %zu: %s\n", line, what);
	abort();
}

static void table_load(void)
{
	struct gw_strv lines;
	gw_strv_init(&lines);
	gw_str_split(gw_data_features, '\n', &lines);
	for (size_t i = 0; i < lines.n; i++) {
		const char *line = lines.v[i];
		if (line[0] == '#' || line[0] == '\0')
			continue;
		struct gw_strv col;
		gw_strv_init(&col);
		gw_str_split(line, '\t', &col);
		if (col.n != 9)
			table_die(i + 1, "expected 9 columns");
		if (table.n >= GW_CPU_FEATURE_MAX)
			table_die(i + 1, "too many features");
		struct gw_cpu_feature *f = &table.f[table.n];
		f->name = gw_strdup(col.v[0]);
		f->is_msr = strcmp(col.v[1], "msr") == 0;
		f->leaf = (uint32_t)strtoul(col.v[2], NULL, 16);
		f->subleaf = (uint32_t)strtoul(col.v[3], NULL, 10);
		f->reg = col.v[4][1] == 'a' ? GW_CPU_REG_EAX
			 : col.v[4][1] == 'b' ? GW_CPU_REG_EBX
			 : col.v[4][1] == 'c' ? GW_CPU_REG_ECX
					      : GW_CPU_REG_EDX;
		f->bit = (unsigned)strtoul(col.v[5], NULL, 10);
		f->migratable = strcmp(col.v[6], "no") != 0;
		f->group = GW_CPU_GROUP_OTHER;
		for (int g = 0; g < GW_CPU_GROUP_COUNT; g++)
			if (strcmp(col.v[7], group_names[g]) == 0)
				f->group = (enum gw_cpu_group)g;
		add_key(f->name, (int)table.n);
		if (strcmp(col.v[8], "-") != 0) {
			struct gw_strv al;
			gw_strv_init(&al);
			gw_str_split(col.v[8], ',', &al);
			char **names = gw_calloc(al.n + 1, sizeof(char *));
			for (size_t a = 0; a < al.n; a++) {
				names[a] = al.v[a];
				add_key(al.v[a], (int)table.n);
			}
			free(al.v);
			f->aliases = (const char *const *)names;
		}
		table.n++;
		gw_strv_fini(&col);
	}
	gw_strv_fini(&lines);
	qsort(table.keys, table.n_keys, sizeof(*table.keys), cmp_key);
	for (size_t i = 1; i < table.n_keys; i++)
		if (strcmp(table.keys[i - 1].key, table.keys[i].key) == 0 &&
		    table.keys[i - 1].idx != table.keys[i].idx)
			table_die(0, "two features share a spelling");
}

static void table_init(void)
{
	pthread_once(&table_once, table_load);
}

size_t gw_cpu_feature_count(void)
{
	table_init();
	return table.n;
}

const struct gw_cpu_feature *gw_cpu_feature_get(unsigned idx)
{
	table_init();
	return idx < table.n ? &table.f[idx] : NULL;
}

int gw_cpu_feature_find(const char *name)
{
	table_init();
	struct loose_key k;
	if (!name || strlen(name) >= sizeof(k.key))
		return -1;
	loose_key(name, k.key, sizeof(k.key));
	const struct loose_key *hit = bsearch(&k, table.keys, table.n_keys, sizeof(k), cmp_key);
	return hit ? hit->idx : -1;
}

char *gw_cpu_feature_suggest(const char *name, unsigned max)
{
	table_init();
	struct {
		unsigned d;
		int idx;
	} best[8];
	unsigned n = 0;
	if (max > GW_ARRAY_SIZE(best))
		max = GW_ARRAY_SIZE(best);
	for (size_t i = 0; i < table.n; i++) {
		unsigned d = gw_str_distance(name, table.f[i].name, 4);
		/* a prefix match ("avx512" for "avx512f") is a good hint too */
		if (d > 4 && strlen(name) >= 3 && gw_str_has_prefix(table.f[i].name, name))
			d = 4;
		if (d > 4)
			continue;
		unsigned pos = n < max ? n++ : max;
		if (pos == max) {
			if (d >= best[max - 1].d)
				continue;
			pos = max - 1;
		}
		while (pos > 0 && best[pos - 1].d > d) {
			best[pos] = best[pos - 1];
			pos--;
		}
		best[pos].d = d;
		best[pos].idx = (int)i;
	}
	struct gw_buf b;
	gw_buf_init(&b);
	for (unsigned i = 0; i < n; i++)
		gw_buf_printf(&b, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", table.f[best[i].idx].name);
	return gw_buf_steal(&b);
}

int gw_cpu_feature_lookup(const char *name, struct gw_err **err)
{
	int idx = gw_cpu_feature_find(name);
	if (idx >= 0)
		return idx;
	_cleanup_free_ char *hint = gw_cpu_feature_suggest(name, 3);
	if (hint[0])
		return gw_err_set(err, -ENOENT, "unknown CPU feature \"%s\" (did you mean %s?)", name, hint);
	return gw_err_set(err, -ENOENT, "unknown CPU feature \"%s\"", name);
}

void gw_featset_names(const struct gw_featset *s, struct gw_strv *out)
{
	table_init();
	for (size_t i = 0; i < table.n; i++)
		if (gw_featset_test(s, (unsigned)i))
			gw_strv_push(out, table.f[i].name);
}

json_t *gw_featset_to_json(const struct gw_featset *s)
{
	table_init();
	json_t *a = json_array();
	for (size_t i = 0; i < table.n; i++)
		if (gw_featset_test(s, (unsigned)i))
			json_array_append_new(a, json_string(table.f[i].name));
	return a;
}

int gw_featset_from_names(const char *const *names, size_t n, const char *where,
			  struct gw_featset *out, struct gw_err **err)
{
	for (size_t i = 0; i < n; i++) {
		int idx = gw_cpu_feature_lookup(names[i], err);
		if (idx < 0)
			return gw_err_wrap(err, "%s[%zu]", where, i);
		gw_featset_set(out, (unsigned)idx);
	}
	return 0;
}

void gw_featset_or(struct gw_featset *out, const struct gw_featset *a, const struct gw_featset *b)
{
	for (int i = 0; i < GW_CPU_FEATSET_WORDS; i++)
		out->w[i] = a->w[i] | b->w[i];
}

void gw_featset_and(struct gw_featset *out, const struct gw_featset *a, const struct gw_featset *b)
{
	for (int i = 0; i < GW_CPU_FEATSET_WORDS; i++)
		out->w[i] = a->w[i] & b->w[i];
}

void gw_featset_andnot(struct gw_featset *out, const struct gw_featset *a, const struct gw_featset *b)
{
	for (int i = 0; i < GW_CPU_FEATSET_WORDS; i++)
		out->w[i] = a->w[i] & ~b->w[i];
}

bool gw_featset_subset(const struct gw_featset *sub, const struct gw_featset *super)
{
	for (int i = 0; i < GW_CPU_FEATSET_WORDS; i++)
		if (sub->w[i] & ~super->w[i])
			return false;
	return true;
}

bool gw_featset_equal(const struct gw_featset *a, const struct gw_featset *b)
{
	return memcmp(a->w, b->w, sizeof(a->w)) == 0;
}

bool gw_featset_empty(const struct gw_featset *s)
{
	for (int i = 0; i < GW_CPU_FEATSET_WORDS; i++)
		if (s->w[i])
			return false;
	return true;
}

unsigned gw_featset_count(const struct gw_featset *s)
{
	unsigned n = 0;
	for (int i = 0; i < GW_CPU_FEATSET_WORDS; i++)
		n += (unsigned)__builtin_popcountll(s->w[i]);
	return n;
}

/* x86-64 psABI levels; lzcnt is `abm`, sse3 is `pni`, LAHF-SAHF is
 * `lahf_lm`, OSXSAVE is implied by xsave for a guest. */
static const char *const level_features[5][12] = {
	[1] = {"cmov", "cx8", "fpu", "fxsr", "mmx", "syscall", "sse", "sse2", "lm", NULL},
	[2] = {"cx16", "lahf_lm", "popcnt", "pni", "sse4.1", "sse4.2", "ssse3", NULL},
	[3] = {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave", NULL},
	[4] = {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl", NULL},
};

void gw_cpu_level_features(int level, struct gw_featset *out)
{
	memset(out, 0, sizeof(*out));
	for (int l = 1; l <= level && l <= 4; l++)
		for (int i = 0; level_features[l][i]; i++) {
			int idx = gw_cpu_feature_find(level_features[l][i]);
			if (idx >= 0)
				gw_featset_set(out, (unsigned)idx);
		}
}

int gw_cpu_level(const struct gw_featset *s)
{
	int level = 0;
	for (int l = 1; l <= 4; l++) {
		struct gw_featset need;
		gw_cpu_level_features(l, &need);
		if (!gw_featset_subset(&need, s))
			break;
		level = l;
	}
	return level;
}

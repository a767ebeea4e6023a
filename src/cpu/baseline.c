/* SPDX-License-Identifier: Apache-2.0 */
/* Baseline of any number of hosts: the highest named models every host can
 * run, the one to recommend and why, the psABI level, a "model + features"
 * custom CPU, and what each host loses with each answer.
 *
 * The models form a partial order, not a chain (cpu-models.md c, d): TSX
 * (hle/rtm), IBRS (spec-ctrl), pku and ARCH_CAPABILITIES bits are separate
 * axes, so the answer is the set of maximal common models, and the reason
 * names the hosts and features that block the models just above them.
 *
 * Per-host work is bitmap operations only (10,000 hosts in well under
 * 50 ms); names and the lost lists are built in the JSON step. */
#include <string.h>
#include <strings.h>

#include "godwit/cpu.h"
#include "engine.h"

#define REASON_MAX_BLOCKED 4
#define REASON_MAX_HOSTS 3

static bool eligible(const struct gw_cpu_modeldb *db, size_t i)
{
	/* KubeVirt labels only models libvirt shows in domcapabilities'
	 * custom mode (QEMU's models that libvirt also knows, cpu-models.md
	 * e.7) and that are not in the obsolete list (section 1.4): a model
	 * without a cpu-model label cannot be chosen for a VM. */
	const struct gw_cpu_model *m = &db->models[i];
	return m->libvirt_order > 0 && !gw_cpu_modeldb_is_obsolete(db, m->name);
}

/* "Skylake-Server-noTSX-IBRS", "Skylake-Server-v4" -> "Skylake-Server":
 * the family whose TSX/IBRS variants and versions sit side by side. */
static size_t base_len(const char *name)
{
	static const char *const suffixes[] = {"-noTSX-IBRS", "-noTSX", "-IBRS", "-IBPB"};
	size_t n = strlen(name);
	if (gw_cpu_model_is_versioned(name))
		n = (size_t)(strrchr(name, '-') - name);
	for (size_t i = 0; i < GW_ARRAY_SIZE(suffixes); i++) {
		size_t l = strlen(suffixes[i]);
		if (n > l && strncmp(name + n - l, suffixes[i], l) == 0)
			return n - l;
	}
	return n;
}

static bool same_base(const char *a, const char *b)
{
	size_t la = base_len(a), lb = base_len(b);
	return la == lb && strncmp(a, b, la) == 0;
}

static bool strictly_below(const struct gw_cpu_model *a, const struct gw_cpu_model *b)
{
	return gw_featset_subset(&a->features, &b->features) && !gw_featset_equal(&a->features, &b->features);
}

/* Among names with the same features: the named alias (unversioned) over
 * a -vN, then the one libvirt lists first, then by name. */
static bool better_display(const struct gw_cpu_modeldb *db, int a, int b)
{
	const struct gw_cpu_model *ma = &db->models[a], *mb = &db->models[b];
	bool va = gw_cpu_model_is_versioned(ma->name), vb = gw_cpu_model_is_versioned(mb->name);
	if (va != vb)
		return !va;
	if (ma->libvirt_order != mb->libvirt_order && ma->libvirt_order > 0 && mb->libvirt_order > 0)
		return ma->libvirt_order < mb->libvirt_order;
	return strcmp(ma->name, mb->name) < 0;
}

struct rank_ctx {
	const struct gw_cpu_modeldb *db;
	const char *vendor; /* the hosts' one vendor, or NULL */
};

/* Best first: most features; ties -> the hosts' vendor, then a named alias
 * over -vN, then name. */
static bool ranks_before(const struct rank_ctx *rc, int a, int b)
{
	const struct gw_cpu_model *ma = &rc->db->models[a], *mb = &rc->db->models[b];
	unsigned ca = gw_featset_count(&ma->features), cb = gw_featset_count(&mb->features);
	if (ca != cb)
		return ca > cb;
	if (rc->vendor) {
		bool xa = ma->vendor && strcasecmp(ma->vendor, rc->vendor) == 0;
		bool xb = mb->vendor && strcasecmp(mb->vendor, rc->vendor) == 0;
		if (xa != xb)
			return xa;
	}
	bool va = gw_cpu_model_is_versioned(ma->name), vb = gw_cpu_model_is_versioned(mb->name);
	if (va != vb)
		return !va;
	return strcmp(ma->name, mb->name) < 0;
}

static void add_vendor(struct gw_strv *vendors, const char *v)
{
	if (v && !gw_strv_contains(vendors, v))
		gw_strv_push(vendors, v);
}

/* Hosts where model `mi` is not usable, grouped by the features they lack. */
static void block_groups(const struct gw_cpu_modeldb *db, struct gw_cpu_profile *const *hosts, size_t n,
			 const struct gw_modelset *usable, int mi, struct gw_cpu_blocked *b)
{
	for (size_t h = 0; h < n; h++) {
		if (gw_modelset_test(&usable[h], (unsigned)mi))
			continue;
		struct gw_featset missing;
		gw_featset_andnot(&missing, &db->models[mi].features, &hosts[h]->features);
		struct gw_cpu_blocked_group *g = NULL;
		for (size_t k = 0; k < b->n_groups && !g; k++)
			if (gw_featset_equal(&b->groups[k].missing, &missing))
				g = &b->groups[k];
		if (!g) {
			b->groups = gw_realloc(b->groups, (b->n_groups + 1) * sizeof(*b->groups));
			g = &b->groups[b->n_groups++];
			memset(g, 0, sizeof(*g));
			g->missing = missing;
		}
		/* grow by doubling: a group can hold thousands of hosts */
		if ((g->n_hosts & (g->n_hosts - 1)) == 0)
			g->hosts = gw_realloc(g->hosts, (g->n_hosts ? 2 * g->n_hosts : 1) * sizeof(*g->hosts));
		g->hosts[g->n_hosts++] = h;
	}
}

static bool already_blocked(const struct gw_cpu_baseline *out, const struct gw_cpu_modeldb *db, int mi)
{
	for (size_t i = 0; i < out->n_blocked; i++)
		if (gw_featset_equal(&db->models[out->blocked[i].model].features, &db->models[mi].features))
			return true;
	return false;
}

static unsigned missing_union(const struct gw_cpu_blocked *b)
{
	struct gw_featset u = {0};
	for (size_t g = 0; g < b->n_groups; g++)
		gw_featset_or(&u, &u, &b->groups[g].missing);
	return gw_featset_count(&u);
}

static bool blocked_before(const struct gw_cpu_modeldb *db, const struct gw_cpu_blocked *a,
			   const struct gw_cpu_blocked *b)
{
	const struct gw_cpu_model *ma = &db->models[a->model], *mb = &db->models[b->model];
	bool va = gw_cpu_model_is_versioned(ma->name), vb = gw_cpu_model_is_versioned(mb->name);
	if (va != vb)
		return !va;
	/* nearest misses first: fewest features in the way */
	unsigned ma_ = missing_union(a), mb_ = missing_union(b);
	if (ma_ != mb_)
		return ma_ < mb_;
	unsigned ca = gw_featset_count(&ma->features), cb = gw_featset_count(&mb->features);
	if (ca != cb)
		return ca > cb;
	return strcmp(ma->name, mb->name) < 0;
}

/* For maximal model `top`: the eligible models not usable everywhere that
 * sit just above it (minimal strict supersets), its own family's other
 * variants (the TSX / IBRS siblings), and the named models of the
 * families just above (e.g. Cascadelake-Server and -noTSX above
 * Skylake-Server-v5). One name per feature set. */
static void find_blocked(const struct gw_cpu_modeldb *db, struct gw_cpu_profile *const *hosts, size_t n,
			 const struct gw_modelset *usable, const struct gw_modelset *common, int top,
			 struct gw_cpu_baseline *out)
{
	const struct gw_cpu_model *mt = &db->models[top];
	size_t first = out->n_blocked;
	bool *pick = gw_calloc(db->n, sizeof(bool));
	bool *cover = gw_calloc(db->n, sizeof(bool));
	for (size_t i = 0; i < db->n; i++) {
		if (!eligible(db, i) || gw_modelset_test(common, (unsigned)i))
			continue;
		if (!strictly_below(mt, &db->models[i]))
			continue;
		bool minimal = true;
		for (size_t j = 0; j < db->n && minimal; j++)
			if (j != i && eligible(db, j) && !gw_modelset_test(common, (unsigned)j) &&
			    strictly_below(mt, &db->models[j]) && strictly_below(&db->models[j], &db->models[i]))
				minimal = false;
		cover[i] = minimal;
	}
	for (size_t i = 0; i < db->n; i++) {
		if (!eligible(db, i) || gw_modelset_test(common, (unsigned)i))
			continue;
		const char *name = db->models[i].name;
		if (cover[i] || same_base(name, mt->name))
			pick[i] = true;
		for (size_t c = 0; c < db->n && !pick[i]; c++)
			if (cover[c] && !gw_cpu_model_is_versioned(name) && same_base(name, db->models[c].name))
				pick[i] = true;
	}
	for (size_t i = 0; i < db->n; i++) {
		if (!pick[i])
			continue;
		int show = (int)i;
		for (size_t j = 0; j < db->n; j++)
			if (pick[j] && gw_featset_equal(&db->models[j].features, &db->models[i].features) &&
			    better_display(db, (int)j, show))
				show = (int)j;
		if (show != (int)i || already_blocked(out, db, show))
			continue;
		out->blocked = gw_realloc(out->blocked, (out->n_blocked + 1) * sizeof(*out->blocked));
		struct gw_cpu_blocked *b = &out->blocked[out->n_blocked++];
		memset(b, 0, sizeof(*b));
		b->model = show;
		b->maximal = top;
		block_groups(db, hosts, n, usable, show, b);
	}
	free(pick);
	free(cover);
	/* Named models first (what a user would try), then the nearest misses. */
	for (size_t i = first + 1; i < out->n_blocked; i++)
		for (size_t j = i; j > first && blocked_before(db, &out->blocked[j], &out->blocked[j - 1]); j--) {
			struct gw_cpu_blocked t = out->blocked[j];
			out->blocked[j] = out->blocked[j - 1];
			out->blocked[j - 1] = t;
		}
}

static void join_features(struct gw_buf *b, const struct gw_featset *s)
{
	struct gw_strv names;
	gw_strv_init(&names);
	gw_featset_names(s, &names);
	for (size_t i = 0; i < names.n; i++)
		gw_buf_printf(b, "%s%s", i ? ", " : "", names.v[i]);
	gw_strv_fini(&names);
}

static void describe_blocked(struct gw_buf *b, const struct gw_cpu_modeldb *db, struct gw_cpu_profile *const *hosts,
			     const struct gw_cpu_blocked *bl, bool first)
{
	gw_buf_printf(b, "%s%s is not usable because ", first ? "" : "; ", db->models[bl->model].name);
	for (size_t g = 0; g < bl->n_groups; g++) {
		const struct gw_cpu_blocked_group *gr = &bl->groups[g];
		if (g)
			gw_buf_puts(b, " and ");
		size_t shown = gr->n_hosts < REASON_MAX_HOSTS ? gr->n_hosts : REASON_MAX_HOSTS;
		for (size_t h = 0; h < shown; h++)
			gw_buf_printf(b, "%s%s", h ? ", " : "", hosts[gr->hosts[h]]->name);
		if (gr->n_hosts > shown)
			gw_buf_printf(b, " and %zu more hosts", gr->n_hosts - shown);
		if (gw_featset_empty(&gr->missing)) {
			gw_buf_puts(b, gr->n_hosts == 1 ? " reports it unusable" : " report it unusable");
		} else {
			gw_buf_puts(b, gr->n_hosts == 1 ? " lacks " : " lack ");
			join_features(b, &gr->missing);
		}
	}
}

static char *make_reason(const struct gw_cpu_modeldb *db, struct gw_cpu_profile *const *hosts, size_t n,
			 const struct gw_cpu_baseline *out, bool only_obsolete)
{
	struct gw_buf b;
	gw_buf_init(&b);
	if (out->recommended < 0) {
		gw_buf_printf(&b, "no CPU model of %s is usable on all %zu hosts", db->source ? db->source : "the database",
			      n);
		if (out->level > 0)
			gw_buf_printf(&b, "; they share x86-64-v%d", out->level);
		gw_buf_puts(&b, ".");
	} else {
		const struct gw_cpu_model *rec = &db->models[out->recommended];
		gw_buf_printf(&b, "%s (", rec->name);
		/* the same CPU under its -vN name(s): what QEMU and the
		 * cpu-model labels may also show */
		for (size_t a = 0; out->aliases && a < out->aliases[0].n; a++)
			gw_buf_printf(&b, "%s%s", a ? ", " : "= ", out->aliases[0].v[a]);
		gw_buf_printf(&b, "%s%u features) ", out->aliases && out->aliases[0].n ? "; " : "",
			      gw_featset_count(&rec->features));
		if (out->n_maximal == 1)
			gw_buf_puts(&b, "is the only maximal common model");
		else
			gw_buf_printf(&b, "is the largest of %zu maximal common models", out->n_maximal);
		if (only_obsolete)
			gw_buf_puts(&b, ", but every common model is in KubeVirt's obsolete list, so no node gets "
					"its cpu-model label");
		gw_buf_puts(&b, ".");
		/* Why not the obvious higher model: named blocked models first,
		 * then -vN, each with the hosts and features in the way. */
		size_t said = 0;
		for (int pass = 0; pass < 2 && said < REASON_MAX_BLOCKED; pass++)
			for (size_t i = 0; i < out->n_blocked && said < REASON_MAX_BLOCKED; i++) {
				const struct gw_cpu_blocked *bl = &out->blocked[i];
				bool versioned = gw_cpu_model_is_versioned(db->models[bl->model].name);
				if (bl->maximal != out->recommended || versioned != (pass == 1))
					continue;
				if (pass == 1 && said > 0)
					continue;
				gw_buf_puts(&b, said == 0 ? " " : "");
				describe_blocked(&b, db, hosts, bl, said == 0);
				said++;
			}
		if (said)
			gw_buf_puts(&b, ".");
		if (!out->mixed_vendors && out->vendors.n == 1 && rec->vendor &&
		    strcasecmp(rec->vendor, out->vendors.v[0]) != 0)
			gw_buf_printf(&b, " %s is an %s model; under KVM QEMU runs it with the hosts' own vendor (%s).",
				      rec->name, rec->vendor, out->vendors.v[0]);
	}
	if (out->mixed_vendors) {
		gw_buf_puts(&b, " Hosts mix CPU vendors (");
		for (size_t i = 0; i < out->vendors.n; i++)
			gw_buf_printf(&b, "%s%s", i ? ", " : "", out->vendors.v[i]);
		gw_buf_puts(&b, "): a guest sees its host's vendor, so live migration between them is not safe; "
				"keep them in separate migration pools.");
	}
	return gw_buf_steal(&b);
}

/* MSR-based features are only visible through the CPUID bit that
 * advertises their MSR (cpu-models.md a.3): IA32_ARCH_CAPABILITIES (0x10a)
 * needs arch-capabilities, IA32_CORE_CAPABILITIES (0xcf) core-capability.
 * Requiring the bits without the MSR gives a guest nothing, so they are
 * left out when the advertising bit is not common. */
static void drop_unreachable_msr_bits(struct gw_featset *require)
{
	static const struct {
		uint32_t msr;
		const char *cpuid_bit;
	} msrs[] = {{0x10a, "arch-capabilities"}, {0xcf, "core-capability"}};
	for (size_t k = 0; k < GW_ARRAY_SIZE(msrs); k++) {
		int bit = gw_cpu_feature_find(msrs[k].cpuid_bit);
		if (bit >= 0 && gw_featset_test(require, (unsigned)bit))
			continue;
		size_t nf = gw_cpu_feature_count();
		for (unsigned i = 0; i < nf; i++) {
			const struct gw_cpu_feature *f = gw_cpu_feature_get(i);
			if (f->is_msr && f->leaf == msrs[k].msr)
				gw_featset_clear(require, i);
		}
	}
}

int gw_cpu_baseline(const struct gw_cpu_modeldb *db, struct gw_cpu_profile *const *hosts, size_t n,
		    struct gw_cpu_baseline *out, struct gw_err **err)
{
	memset(out, 0, sizeof(*out));
	out->recommended = -1;
	out->custom.model = -1;
	gw_strv_init(&out->vendors);
	if (n == 0)
		return gw_err_set(err, -EINVAL, "baseline: no hosts given");

	struct model_name_index ix;
	gw_cpu_name_index_init(&ix, db);
	struct gw_modelset *usable = gw_calloc(n, sizeof(*usable));
	out->common = hosts[0]->features;
	memset(&out->common_models, 0xff, sizeof(out->common_models));
	for (size_t h = 0; h < n; h++) {
		const struct gw_cpu_profile *p = hosts[h];
		gw_featset_and(&out->common, &out->common, &p->features);
		/* Identical feature-only hosts (a cluster of one SKU) share the answer. */
		if (h > 0 && !p->has_usable && !hosts[h - 1]->has_usable &&
		    gw_featset_equal(&p->features, &hosts[h - 1]->features))
			usable[h] = usable[h - 1];
		else
			gw_cpu_usable_ix(db, &ix, p, &usable[h]);
		for (int w = 0; w < GW_CPU_MODELSET_WORDS; w++)
			out->common_models.w[w] &= usable[h].w[w];
		add_vendor(&out->vendors, p->vendor);
	}
	gw_cpu_name_index_fini(&ix);
	for (size_t i = db->n; i < GW_CPU_MODEL_MAX; i++)
		out->common_models.w[i / 64] &= ~(1ull << (i % 64));
	gw_strv_sort(&out->vendors);
	out->mixed_vendors = out->vendors.n > 1;
	const char *vendor = out->vendors.n == 1 ? out->vendors.v[0] : NULL;

	/* Candidates: common models KubeVirt could label; if only obsolete
	 * ones are common, fall back to them and say so. */
	bool *cand = gw_calloc(db->n ? db->n : 1, sizeof(bool));
	bool any = false;
	for (size_t i = 0; i < db->n; i++)
		if (gw_modelset_test(&out->common_models, (unsigned)i) && eligible(db, i))
			cand[i] = any = true;
	bool only_obsolete = false;
	if (!any)
		for (size_t i = 0; i < db->n; i++)
			if (gw_modelset_test(&out->common_models, (unsigned)i) && db->models[i].libvirt_order > 0)
				cand[i] = only_obsolete = true;

	/* Maximal: not strictly below another candidate. Equal-feature names
	 * (Cascadelake-Server = -v1, -noTSX = -v3) collapse into one. */
	bool *done = gw_calloc(db->n ? db->n : 1, sizeof(bool));
	int *reps = gw_calloc(db->n ? db->n : 1, sizeof(int));
	size_t n_reps = 0;
	for (size_t i = 0; i < db->n; i++) {
		if (!cand[i] || done[i])
			continue;
		bool maximal = true;
		for (size_t j = 0; j < db->n && maximal; j++)
			if (cand[j] && strictly_below(&db->models[i], &db->models[j]))
				maximal = false;
		if (!maximal)
			continue;
		int show = (int)i;
		for (size_t j = i; j < db->n; j++)
			if (cand[j] && gw_featset_equal(&db->models[j].features, &db->models[i].features)) {
				done[j] = true;
				if (better_display(db, (int)j, show))
					show = (int)j;
			}
		reps[n_reps++] = show;
	}
	struct rank_ctx rc = {.db = db, .vendor = vendor};
	for (size_t i = 1; i < n_reps; i++) /* insertion sort: a handful of models */
		for (size_t j = i; j > 0 && ranks_before(&rc, reps[j], reps[j - 1]); j--) {
			int t = reps[j];
			reps[j] = reps[j - 1];
			reps[j - 1] = t;
		}
	out->n_maximal = n_reps;
	out->maximal = reps;
	out->aliases = gw_calloc(n_reps ? n_reps : 1, sizeof(*out->aliases));
	for (size_t k = 0; k < n_reps; k++) {
		gw_strv_init(&out->aliases[k]);
		for (size_t j = 0; j < db->n; j++)
			if ((int)j != reps[k] && cand[j] &&
			    gw_featset_equal(&db->models[j].features, &db->models[reps[k]].features))
				gw_strv_push(&out->aliases[k], db->models[j].name);
	}
	out->recommended = n_reps ? reps[0] : -1;
	for (size_t k = 0; k < n_reps; k++)
		find_blocked(db, hosts, n, usable, &out->common_models, reps[k], out);
	free(cand);
	free(done);

	out->level = gw_cpu_level(&out->common);
	/* Custom baseline: libvirt's guest decode of the common features. The
	 * guest gets model - disable + require = exactly the common features,
	 * so it runs on every host; disabled features are ones some host
	 * lacks. Non-migratable features (invtsc, xsaves) are not required,
	 * as libvirt's migratable filter does (cpu-models.md e.3 step 6). */
	if (gw_cpu_decode_guest(db, &out->common, out->mixed_vendors ? NULL : vendor, -1, -1, -1, &out->custom) == 0) {
		struct gw_featset nonmig;
		gw_cpu_nonmigratable(&nonmig);
		gw_featset_andnot(&out->custom.require, &out->custom.require, &nonmig);
		drop_unreachable_msr_bits(&out->custom.require);
	}
	out->reason = make_reason(db, hosts, n, out, only_obsolete);
	free(usable);
	return 0;
}

void gw_cpu_baseline_fini(struct gw_cpu_baseline *b)
{
	if (!b)
		return;
	for (size_t k = 0; b->aliases && k < b->n_maximal; k++)
		gw_strv_fini(&b->aliases[k]);
	free(b->aliases);
	for (size_t i = 0; i < b->n_blocked; i++) {
		for (size_t g = 0; g < b->blocked[i].n_groups; g++)
			free(b->blocked[i].groups[g].hosts);
		free(b->blocked[i].groups);
	}
	free(b->blocked);
	free(b->maximal);
	free(b->reason);
	gw_cpu_hostmodel_fini(&b->custom);
	gw_strv_fini(&b->vendors);
	memset(b, 0, sizeof(*b));
	b->recommended = -1;
	b->custom.model = -1;
}

void gw_cpu_lost(const struct gw_featset *host, const struct gw_featset *guest, struct gw_featset *out)
{
	static const char *const kvm_provides[] = {"hypervisor", "x2apic"};
	struct gw_featset seen = *guest;
	for (size_t i = 0; i < GW_ARRAY_SIZE(kvm_provides); i++) {
		int idx = gw_cpu_feature_find(kvm_provides[i]);
		if (idx >= 0)
			gw_featset_set(&seen, (unsigned)idx);
	}
	gw_featset_andnot(out, host, &seen);
}

json_t *gw_cpu_lost_to_json(const struct gw_featset *host, const struct gw_featset *guest)
{
	struct gw_featset lost;
	gw_cpu_lost(host, guest, &lost);
	json_t *groups[GW_CPU_GROUP_COUNT] = {0};
	/* only the set bits: this runs for every host and every answer */
	for (unsigned w = 0; w < GW_CPU_FEATSET_WORDS; w++)
		for (uint64_t bits = lost.w[w]; bits; bits &= bits - 1) {
			const struct gw_cpu_feature *f = gw_cpu_feature_get(w * 64 + (unsigned)__builtin_ctzll(bits));
			if (!f)
				continue;
			if (!groups[f->group])
				groups[f->group] = json_array();
			json_array_append_new(groups[f->group], json_string(f->name));
		}
	json_t *o = json_object();
	for (int g = 0; g < GW_CPU_GROUP_COUNT; g++)
		if (groups[g])
			json_object_set_new(o, gw_cpu_group_name((enum gw_cpu_group)g), groups[g]);
	return o;
}

static json_t *model_json(const struct gw_cpu_modeldb *db, int mi)
{
	const struct gw_cpu_model *m = &db->models[mi];
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(m->name));
	json_object_set_new(o, "features", json_integer(gw_featset_count(&m->features)));
	json_object_set_new(o, "vendor", m->vendor ? json_string(m->vendor) : json_null());
	return o;
}

/* Host names as JSON keys: duplicates get "#<index>" so none is lost. */
static char *host_key(json_t *seen, struct gw_cpu_profile *const *hosts, size_t h)
{
	if (!json_object_get(seen, hosts[h]->name))
		return gw_strdup(hosts[h]->name);
	return gw_asprintf("%s#%zu", hosts[h]->name, h);
}

json_t *gw_cpu_baseline_to_json(const struct gw_cpu_modeldb *db, struct gw_cpu_profile *const *hosts, size_t n,
				const struct gw_cpu_baseline *b)
{
	json_t *o = json_object();
	json_object_set_new(o, "hosts", json_integer((json_int_t)n));
	json_t *vendors = json_array();
	for (size_t i = 0; i < b->vendors.n; i++)
		json_array_append_new(vendors, json_string(b->vendors.v[i]));
	json_object_set_new(o, "vendors", vendors);
	json_object_set_new(o, "mixedVendors", json_boolean(b->mixed_vendors));
	json_object_set_new(o, "commonFeatures", gw_featset_to_json(&b->common));

	json_t *models = json_array();
	for (size_t k = 0; k < b->n_maximal; k++) {
		json_t *m = model_json(db, b->maximal[k]);
		json_t *al = json_array();
		for (size_t a = 0; b->aliases && a < b->aliases[k].n; a++)
			json_array_append_new(al, json_string(b->aliases[k].v[a]));
		json_object_set_new(m, "aliases", al);
		json_t *blocked = json_array();
		for (size_t i = 0; i < b->n_blocked; i++) {
			const struct gw_cpu_blocked *bl = &b->blocked[i];
			if (bl->maximal != b->maximal[k])
				continue;
			json_t *bj = model_json(db, bl->model);
			json_t *groups = json_array();
			for (size_t g = 0; g < bl->n_groups; g++) {
				json_t *gj = json_object();
				json_object_set_new(gj, "missing", gw_featset_to_json(&bl->groups[g].missing));
				json_t *hs = json_array();
				for (size_t h = 0; h < bl->groups[g].n_hosts; h++)
					json_array_append_new(hs, json_string(hosts[bl->groups[g].hosts[h]]->name));
				json_object_set_new(gj, "hosts", hs);
				json_array_append_new(groups, gj);
			}
			json_object_set_new(bj, "blockedOn", groups);
			json_array_append_new(blocked, bj);
		}
		json_object_set_new(m, "blockedAbove", blocked);
		json_array_append_new(models, m);
	}
	json_object_set_new(o, "models", models);
	json_object_set_new(o, "recommended",
			    b->recommended >= 0 ? json_string(db->models[b->recommended].name) : json_null());
	json_object_set_new(o, "reason", json_string(b->reason ? b->reason : ""));
	char level[16];
	snprintf(level, sizeof(level), "x86-64-v%d", b->level);
	json_object_set_new(o, "level", b->level > 0 ? json_string(level) : json_null());

	struct gw_featset custom_guest = {0};
	if (b->custom.model >= 0) {
		json_t *c = json_object();
		json_object_set_new(c, "model", json_string(db->models[b->custom.model].name));
		json_object_set_new(c, "require", gw_featset_to_json(&b->custom.require));
		json_object_set_new(c, "disable", gw_featset_to_json(&b->custom.disable));
		json_object_set_new(o, "custom", c);
		gw_featset_andnot(&custom_guest, &db->models[b->custom.model].features, &b->custom.disable);
		gw_featset_or(&custom_guest, &custom_guest, &b->custom.require);
	} else {
		json_object_set_new(o, "custom", json_null());
	}

	/* lost: host -> answer -> group -> features the host has and a guest
	 * given that answer does not see. Answers: each maximal model, the
	 * level, and the custom CPU (the recommended one is the first model). */
	struct gw_featset level_guest;
	gw_cpu_level_features(b->level, &level_guest);
	json_t *lost = json_object();
	for (size_t h = 0; h < n; h++) {
		json_t *per = json_object();
		for (size_t k = 0; k < b->n_maximal; k++)
			json_object_set_new(per, db->models[b->maximal[k]].name,
					    gw_cpu_lost_to_json(&hosts[h]->features, &db->models[b->maximal[k]].features));
		if (b->level > 0)
			json_object_set_new(per, level, gw_cpu_lost_to_json(&hosts[h]->features, &level_guest));
		if (b->custom.model >= 0)
			json_object_set_new(per, "custom", gw_cpu_lost_to_json(&hosts[h]->features, &custom_guest));
		_cleanup_free_ char *key = host_key(lost, hosts, h);
		json_object_set_new(lost, key, per);
	}
	json_object_set_new(o, "lost", lost);
	return o;
}

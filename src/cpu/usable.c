/* SPDX-License-Identifier: Apache-2.0 */
/* Usable and known models of a host (cpu-models.md e.7, kubevirt-behaviour.md 1.2). */
#include <ctype.h>
#include <string.h>

#include "godwit/cpu.h"
#include "engine.h"

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct model_name_entry *)a)->name, ((const struct model_name_entry *)b)->name);
}

void gw_cpu_name_index_init(struct model_name_index *ix, const struct gw_cpu_modeldb *db)
{
	ix->n = db->n;
	ix->e = gw_calloc(db->n ? db->n : 1, sizeof(*ix->e));
	for (size_t i = 0; i < db->n; i++) {
		ix->e[i].name = db->models[i].name;
		ix->e[i].idx = (int)i;
	}
	qsort(ix->e, ix->n, sizeof(*ix->e), cmp_entry);
}

void gw_cpu_name_index_fini(struct model_name_index *ix)
{
	free(ix->e);
	ix->e = NULL;
	ix->n = 0;
}

int gw_cpu_name_index_find(const struct model_name_index *ix, const char *name)
{
	struct model_name_entry key = {.name = name};
	const struct model_name_entry *hit = bsearch(&key, ix->e, ix->n, sizeof(key), cmp_entry);
	return hit ? hit->idx : -1;
}

static int find_model(const struct gw_cpu_modeldb *db, const struct model_name_index *ix, const char *name)
{
	return ix ? gw_cpu_name_index_find(ix, name) : gw_cpu_modeldb_find(db, name);
}

static void names_to_set(const struct gw_cpu_modeldb *db, const struct model_name_index *ix,
			 const struct gw_strv *names, struct gw_modelset *out)
{
	/* Names the database lacks (a newer QEMU's models, libvirt-only
	 * names) cannot be reasoned about here and are left out. */
	for (size_t i = 0; i < names->n; i++) {
		int idx = find_model(db, ix, names->v[i]);
		if (idx >= 0)
			gw_modelset_set(out, (unsigned)idx);
	}
}

void gw_cpu_usable_ix(const struct gw_cpu_modeldb *db, const struct model_name_index *ix,
		      const struct gw_cpu_profile *p, struct gw_modelset *out)
{
	memset(out, 0, sizeof(*out));
	if (p->has_usable) {
		/* libvirt: domcapabilities `usable` is QEMU's answer verbatim
		 * (cpu-models.md e.7); it wins over our own computation. */
		names_to_set(db, ix, &p->usable, out);
		return;
	}
	/* QEMU: a model is usable when every feature of *its* definition is
	 * available (empty unavailable-features); the database holds QEMU's
	 * definitions. Vendor is not checked: under KVM QEMU presents the
	 * host's vendor for every model (cpu-models.md c.6). */
	for (size_t i = 0; i < db->n; i++)
		if (gw_featset_subset(&db->models[i].features, &p->features))
			gw_modelset_set(out, (unsigned)i);
}

void gw_cpu_known_ix(const struct gw_cpu_modeldb *db, const struct model_name_index *ix,
		     const struct gw_cpu_profile *p, struct gw_modelset *out)
{
	memset(out, 0, sizeof(*out));
	if (p->has_usable) {
		names_to_set(db, ix, &p->known, out);
		return;
	}
	/* libvirt lists in the custom mode the QEMU models whose names its
	 * own cpu_map also has (cpu-models.md e.7). */
	for (size_t i = 0; i < db->n; i++)
		if (db->models[i].libvirt_order > 0)
			gw_modelset_set(out, (unsigned)i);
}

void gw_cpu_usable(const struct gw_cpu_modeldb *db, const struct gw_cpu_profile *p, struct gw_modelset *out)
{
	gw_cpu_usable_ix(db, NULL, p, out);
}

void gw_cpu_known(const struct gw_cpu_modeldb *db, const struct gw_cpu_profile *p, struct gw_modelset *out)
{
	gw_cpu_known_ix(db, NULL, p, out);
}

void gw_cpu_nonmigratable(struct gw_featset *out)
{
	memset(out, 0, sizeof(*out));
	size_t n = gw_cpu_feature_count();
	for (unsigned i = 0; i < n; i++)
		if (!gw_cpu_feature_get(i)->migratable)
			gw_featset_set(out, i);
}

bool gw_cpu_model_is_versioned(const char *name)
{
	const char *dash = strrchr(name, '-');
	if (!dash || dash[1] != 'v' || !dash[2])
		return false;
	for (const char *p = dash + 2; *p; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	return true;
}

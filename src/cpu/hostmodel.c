/* SPDX-License-Identifier: Apache-2.0 */
/* host-model: libvirt's guest decode of a feature set into "closest named
 * model + require/disable lists" (cpu-models.md e.3, e.4).
 *
 * Differences from libvirt, on purpose:
 * - Model data are QEMU's definitions (the database), not libvirt's
 *   cpu_map XML; libvirt decodes host-model against QEMU's model list
 *   with QEMU's blockers, so the outcome is the same model in the cases
 *   of cpu-models.md d, but the require/disable lists can differ by the
 *   few features in which the two definitions differ (c.6).
 * - libvirt appends a model's removed='yes' features (mpx, intel-pt,
 *   monitor) to the disable list; the database does not carry them.
 * - The database has at most one signature per model. */
#include <string.h>
#include <strings.h>

#include "godwit/cpu.h"
#include "engine.h"

/* libvirt's guest cost: #require + the disabled features, where the k-th
 * disabled feature costs 2+k (2, 3, 4...). QUIRK reproduced: libvirt's
 * counting loop shrinks its own bound (the number of listed features)
 * each time it meets a disabled feature, and disabled features come last,
 * so only the first ceil(d/2) of d are charged the penalty; the other
 * floor(d/2) still count once each as if they were required features
 * (cpu-models.md e.3). We copy it so that host-model names match what
 * libvirt (and so KubeVirt's host-model-cpu label) would say; it changes
 * none of the outcomes in cpu-models.md d. */
static unsigned disabled_penalty(unsigned disabled)
{
	unsigned charged = (disabled + 1) / 2, cost = 0;
	for (unsigned k = 0; k < charged; k++)
		cost += 2 + k;
	return cost;
}

static unsigned guest_cost(unsigned required, unsigned disabled)
{
	return required + disabled / 2 + disabled_penalty(disabled);
}

static bool signature_matches(const struct gw_cpu_model *m, int family, int model, int stepping)
{
	if (family < 0 || model < 0 || m->family < 0 || m->model < 0)
		return false;
	if (m->family != family || m->model != model)
		return false;
	return m->stepping < 0 || stepping < 0 || m->stepping == stepping;
}

int gw_cpu_decode_guest(const struct gw_cpu_modeldb *db, const struct gw_featset *features, const char *vendor,
			int family, int model, int stepping, struct gw_cpu_hostmodel *out)
{
	memset(out, 0, sizeof(*out));
	out->model = -1;
	struct gw_featset data = *features;
	/* libvirt: Intel family 6 Haswell parts with the TSX erratum (models
	 * 60, 69, 70, and 63 before stepping 4) are decoded without hle/rtm. */
	if (vendor && strcasecmp(vendor, "Intel") == 0 && family == 6 &&
	    (model == 60 || model == 69 || model == 70 || (model == 63 && stepping >= 0 && stepping < 4))) {
		int hle = gw_cpu_feature_find("hle"), rtm = gw_cpu_feature_find("rtm");
		if (hle >= 0)
			gw_featset_clear(&data, (unsigned)hle);
		if (rtm >= 0)
			gw_featset_clear(&data, (unsigned)rtm);
	}

	int best = -1;
	unsigned best_cost = 0, best_penalty = 0;
	bool best_sig = false;
	/* libvirt walks its models newest first (reverse cpu_map order) and a
	 * tie keeps the current best, so the model later in the map wins. */
	int prev_order = 1 << 30;
	for (;;) {
		int cand = -1, cand_order = -1;
		for (size_t i = 0; i < db->n; i++) {
			const struct gw_cpu_model *m = &db->models[i];
			if (!m->decode_guest || m->libvirt_order >= prev_order || m->libvirt_order <= cand_order)
				continue;
			cand = (int)i;
			cand_order = m->libvirt_order;
		}
		if (cand < 0)
			break;
		prev_order = cand_order;
		const struct gw_cpu_model *m = &db->models[cand];
		/* libvirt: a candidate is skipped when both vendors are known and differ. */
		if (vendor && m->libvirt_vendor && strcasecmp(vendor, m->libvirt_vendor) != 0)
			continue;
		struct gw_featset extra, missing;
		gw_featset_andnot(&extra, &data, &m->features);
		gw_featset_andnot(&missing, &m->features, &data);
		unsigned ndis = gw_featset_count(&missing);
		unsigned penalty = disabled_penalty(ndis);
		unsigned cost = guest_cost(gw_featset_count(&extra), ndis);
		bool sig = signature_matches(m, family, model, stepping);
		bool take;
		if (best < 0)
			take = true;
		else if (best_sig && !sig)
			take = false;
		else if (sig && !best_sig)
			take = true;
		else
			take = cost < best_cost || (cost == best_cost && penalty < best_penalty);
		if (!take)
			continue;
		best = cand;
		best_cost = cost;
		best_penalty = penalty;
		best_sig = sig;
		out->require = extra;
		out->disable = missing;
	}
	if (best < 0)
		return -ENOENT;
	out->model = best;
	out->name = gw_strdup(db->models[best].name);
	return 0;
}

int gw_cpu_host_model(const struct gw_cpu_modeldb *db, const struct gw_cpu_profile *p, struct gw_cpu_hostmodel *out,
		      struct gw_err **err)
{
	memset(out, 0, sizeof(*out));
	out->model = -1;
	if (p->host_model) {
		/* The hypervisor's own host-model (domcapabilities, node labels)
		 * wins; a name the database lacks keeps model = -1. */
		out->model = gw_cpu_modeldb_find(db, p->host_model);
		out->name = gw_strdup(p->host_model);
		out->require = p->host_model_require;
		out->disable = p->host_model_disable;
		return 0;
	}
	int r = gw_cpu_decode_guest(db, &p->features, p->vendor, p->family, p->model, p->stepping, out);
	if (r < 0)
		return gw_err_set(err, r, "%s: no CPU model of the database can describe this host's CPU%s", p->name,
				  p->vendor ? " (none of its vendor)" : "");
	/* libvirt builds host-model from QEMU's migratable expansion and its
	 * migratable filter drops non-migratable features (invtsc, xsaves)
	 * from the result (cpu-models.md a.1, e.3 step 6): a host-model guest
	 * must stay migratable. They are dropped from `require` only; a model
	 * that itself contains one (EPYC-Rome has xsaves) keeps it. */
	struct gw_featset nonmig;
	gw_cpu_nonmigratable(&nonmig);
	gw_featset_andnot(&out->require, &out->require, &nonmig);
	return 0;
}

void gw_cpu_hostmodel_fini(struct gw_cpu_hostmodel *hm)
{
	free(hm->name);
	hm->name = NULL;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Usable and known models; host-model (libvirt's guest decode). */
#include <string.h>

#include "godwit/cpu.h"

void gw_cpu_usable(const struct gw_cpu_modeldb *db, const struct gw_cpu_profile *p, struct gw_modelset *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < db->n; i++)
		if (gw_featset_subset(&db->models[i].features, &p->features))
			gw_modelset_set(out, (unsigned)i);
}

void gw_cpu_known(const struct gw_cpu_modeldb *db, const struct gw_cpu_profile *p, struct gw_modelset *out)
{
	(void)p;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < db->n; i++)
		if (db->models[i].libvirt_order > 0)
			gw_modelset_set(out, (unsigned)i);
}

int gw_cpu_host_model(const struct gw_cpu_modeldb *db, const struct gw_cpu_profile *p,
		      struct gw_cpu_hostmodel *out, struct gw_err **err)
{
	(void)db, (void)p, (void)out;
	return gw_err_set(err, -ENOSYS, "host-model is not supported yet");
}

int gw_cpu_decode_guest(const struct gw_cpu_modeldb *db, const struct gw_featset *features, const char *vendor,
			int family, int model, int stepping, struct gw_cpu_hostmodel *out)
{
	(void)db, (void)features, (void)vendor, (void)family, (void)model, (void)stepping, (void)out;
	return -ENOSYS;
}

void gw_cpu_hostmodel_fini(struct gw_cpu_hostmodel *hm)
{
	free(hm->name);
	hm->name = NULL;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to the CPU engine: helpers shared by usable.c, hostmodel.c,
 * labels.c and baseline.c. Not part of the public contract (cpu.h). */
#ifndef GODWIT_CPU_ENGINE_H
#define GODWIT_CPU_ENGINE_H

#include "godwit/cpu.h"

/* Model names sorted for binary search: mapping a hypervisor's list of
 * ~150 names per host must stay cheap when a baseline has 10,000 hosts. */
struct model_name_index {
	struct model_name_entry {
		const char *name; /* borrowed from the database */
		int idx;
	} *e;
	size_t n;
};
void gw_cpu_name_index_init(struct model_name_index *ix, const struct gw_cpu_modeldb *db);
void gw_cpu_name_index_fini(struct model_name_index *ix);
int gw_cpu_name_index_find(const struct model_name_index *ix, const char *name);

/* gw_cpu_usable / gw_cpu_known with a prepared index (ix may be NULL). */
void gw_cpu_usable_ix(const struct gw_cpu_modeldb *db, const struct model_name_index *ix,
		      const struct gw_cpu_profile *p, struct gw_modelset *out);
void gw_cpu_known_ix(const struct gw_cpu_modeldb *db, const struct model_name_index *ix,
		     const struct gw_cpu_profile *p, struct gw_modelset *out);

/* Features a live-migratable guest may not be given (libvirt's
 * migratable='no': invtsc, xsaves). */
void gw_cpu_nonmigratable(struct gw_featset *out);

/* "Cascadelake-Server-v3" -> true: QEMU's versioned names. */
bool gw_cpu_model_is_versioned(const char *name);

#endif

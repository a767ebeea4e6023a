/* SPDX-License-Identifier: Apache-2.0 */
/* Between the profile readers (src/cpu/profile*.c); not part of the API. */
#ifndef GODWIT_CPU_PROFILE_PRIV_H
#define GODWIT_CPU_PROFILE_PRIV_H

#include "godwit/cpu.h"

/* The files KubeVirt's node-labeller.sh writes (kubevirt-behaviour.md 1.1). */
#define GW_LABELLER_DOMCAPS "virsh_domcapabilities.xml"
#define GW_LABELLER_SUPPORTED "supported_features.xml"
#define GW_LABELLER_CAPABILITIES "capabilities.xml"

/* A directory holding virsh_domcapabilities.xml is one host. */
bool gw_cpu_profile_is_labeller_dir(const char *dir);
/* Reads it as the node labeller does: domcapabilities (models, host-model),
 * supported_features.xml (features = its required features, what KubeVirt
 * labels cpu-feature) and capabilities.xml (machines, TSC), the last two
 * optional. The host is named after the directory. */
int gw_cpu_profile_from_labeller_dir(const struct gw_cpu_modeldb *db, const char *dir,
				     struct gw_cpu_profile **out, struct gw_err **err);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes Node labels (kubectl get nodes -o json) as host profiles. */
#include "godwit/cpu.h"

int gw_cpu_profile_from_nodes(const json_t *doc, const char *origin, struct gw_cpu_profiles *out,
			      struct gw_err **err)
{
	(void)doc, (void)out;
	return gw_err_set(err, -ENOSYS, "%s: node profiles are not supported yet", origin);
}

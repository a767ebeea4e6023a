/* SPDX-License-Identifier: Apache-2.0 */
/* virsh domcapabilities XML (and the node labeller's directory). */
#include "godwit/cpu.h"

int gw_cpu_profile_from_domcaps(const struct gw_cpu_modeldb *db, const char *xml, size_t len,
				const char *origin, struct gw_cpu_profile **out, struct gw_err **err)
{
	(void)db, (void)xml, (void)len, (void)out;
	return gw_err_set(err, -ENOSYS, "%s: domcapabilities profiles are not supported yet", origin);
}

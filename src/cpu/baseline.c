/* SPDX-License-Identifier: Apache-2.0 */
/* Baseline of any number of hosts. */
#include "godwit/cpu.h"

int gw_cpu_baseline(const struct gw_cpu_modeldb *db, struct gw_cpu_profile *const *hosts, size_t n,
		    struct gw_cpu_baseline *out, struct gw_err **err)
{
	(void)db, (void)hosts, (void)n, (void)out;
	return gw_err_set(err, -ENOSYS, "baseline is not supported yet");
}

void gw_cpu_baseline_fini(struct gw_cpu_baseline *b)
{
	(void)b;
}

json_t *gw_cpu_baseline_to_json(const struct gw_cpu_modeldb *db, struct gw_cpu_profile *const *hosts, size_t n,
				const struct gw_cpu_baseline *b)
{
	(void)db, (void)hosts, (void)n, (void)b;
	return json_object();
}

json_t *gw_cpu_lost_to_json(const struct gw_featset *host, const struct gw_featset *guest)
{
	(void)host, (void)guest;
	return json_object();
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Comparing two hosts. */
#include <string.h>

#include "godwit/cpu.h"

const char *gw_cpu_relation_name(enum gw_cpu_relation r)
{
	switch (r) {
	case GW_CPU_IDENTICAL:
		return "identical";
	case GW_CPU_SUPERSET:
		return "superset";
	case GW_CPU_SUBSET:
		return "subset";
	case GW_CPU_INCOMPATIBLE:
		break;
	}
	return "incompatible";
}

void gw_cpu_compare(const struct gw_cpu_profile *a, const struct gw_cpu_profile *b, struct gw_cpu_comparison *out)
{
	memset(out, 0, sizeof(*out));
	gw_featset_andnot(&out->only_a, &a->features, &b->features);
	gw_featset_andnot(&out->only_b, &b->features, &a->features);
	out->vendor_mismatch = a->vendor && b->vendor && strcmp(a->vendor, b->vendor) != 0;
	bool ea = gw_featset_empty(&out->only_a), eb = gw_featset_empty(&out->only_b);
	if (out->vendor_mismatch || (!ea && !eb))
		out->relation = GW_CPU_INCOMPATIBLE;
	else if (ea && eb)
		out->relation = GW_CPU_IDENTICAL;
	else if (!ea)
		out->relation = GW_CPU_SUPERSET;
	else
		out->relation = GW_CPU_SUBSET;
}

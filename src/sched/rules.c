/* SPDX-License-Identifier: Apache-2.0 */
/* The two rule sets. Every difference between Godwit's documented rules
 * and upstream KubeVirt lives in this table; the rest of src/sched reads
 * the flags and never tests a rule set's name. */
#include <string.h>

#include "godwit/sched.h"

static const struct gw_rule_set rule_sets[] = {
	[GW_RULES_GODWIT] = {
		.name = "godwit",
		/* 002: "not allowed when the virtual machine has any volume of
		 * the CD-ROM type" and "... of the Container Disk type". */
		.cdrom_blocks = true,
		.containerdisk_blocks = true,
		/* 003 (OpenShift documentation): most matching labels, then the
		 * alphabetical order of the matching label keys, then the name. */
		.tiebreak = GW_TIEBREAK_LABEL_KEYS,
		/* 002: "800s per GiB of data ... 8 GiB of memory will time out
		 * after 6400 seconds": binary GiB. A size that is not a whole
		 * number of GiB is rounded up to the next GiB (512Mi -> 1 GiB ->
		 * 800 s, 1.5Gi -> 2 GiB -> 1600 s), like KubeVirt rounds its
		 * decimal GB up: a deadline is never shorter than proportional. */
		.completion_timeout_per_gib = 800,
		.size_in_decimal_gb = false,
	},
	[GW_RULES_KUBEVIRT] = {
		.name = "kubevirt",
		/* KubeVirt 3.1/3.2: CD-ROMs and container disks do not block;
		 * a writable container disk means BlockMigration. */
		.cdrom_blocks = false,
		.containerdisk_blocks = false,
		/* KubeVirt 5.3: more VMI labels, then the smaller name. */
		.tiebreak = GW_TIEBREAK_VMI_COUNT_NAME,
		/* KubeVirt 4.1/4.3: 150 s per ceil(bytes / 10^9). */
		.completion_timeout_per_gib = 150,
		.size_in_decimal_gb = true,
	},
};

const struct gw_rule_set *gw_rules_get(enum gw_rules_id id)
{
	if ((size_t)id >= GW_ARRAY_SIZE(rule_sets))
		return NULL;
	return &rule_sets[id];
}

const struct gw_rule_set *gw_rules_by_name(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < GW_ARRAY_SIZE(rule_sets); i++)
		if (strcmp(rule_sets[i].name, name) == 0)
			return &rule_sets[i];
	return NULL;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The migration controller's migrationConfiguration as the executor's
 * settings (docs/node-agent.md "Migration settings"). */
#include <string.h>

#include "godwit/node.h"

static int get_bool(const json_t *cfg, const char *key, bool *out, bool *present, struct gw_err **err)
{
	const json_t *v = json_object_get(cfg, key);
	if (present)
		*present = v && !json_is_null(v);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return gw_err_set(err, -EINVAL, "migrationConfiguration.%s: must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

static int get_count(const json_t *cfg, const char *key, int64_t *out, bool *present, struct gw_err **err)
{
	const json_t *v = json_object_get(cfg, key);
	if (present)
		*present = v && !json_is_null(v);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return gw_err_set(err, -EINVAL, "migrationConfiguration.%s: must be a whole number, at least 0", key);
	*out = json_integer_value(v);
	return 0;
}

int gw_node_migration_config(const json_t *configuration, uint64_t memory_bytes,
			     struct gw_qemu_migration_config *out, struct gw_err **err)
{
	gw_qemu_migration_config_defaults(out);
	out->data_size_bytes = memory_bytes;
	if (!configuration || json_is_null(configuration))
		return 0;
	if (!json_is_object(configuration))
		return gw_err_set(err, -EINVAL, "migrationConfiguration: must be an object");

	int64_t bandwidth_mib = 0, completion_s = 0, per_gib = 0, progress_s = out->progress_timeout_s;
	bool has_completion = false, has_per_gib = false, has_disruption = false;
	bool disruption = false;
	int r = get_count(configuration, "bandwidthPerMigrationMiBs", &bandwidth_mib, NULL, err);
	if (r == 0)
		r = get_count(configuration, "completionTimeoutSeconds", &completion_s, &has_completion, err);
	if (r == 0)
		r = get_count(configuration, "completionTimeoutPerGiB", &per_gib, &has_per_gib, err);
	if (r == 0)
		r = get_count(configuration, "progressTimeout", &progress_s, NULL, err);
	if (r == 0)
		r = get_bool(configuration, "allowAutoConverge", &out->allow_auto_converge, NULL, err);
	if (r == 0)
		r = get_bool(configuration, "allowPostCopy", &out->allow_post_copy, NULL, err);
	if (r == 0)
		r = get_bool(configuration, "allowWorkloadDisruption", &disruption, &has_disruption, err);
	if (r < 0)
		return r;
	if (bandwidth_mib > (int64_t)(UINT64_MAX >> 21))
		return gw_err_set(err, -ERANGE, "migrationConfiguration.bandwidthPerMigrationMiBs: %lld: too large",
				  (long long)bandwidth_mib);
	/* The controller already rounded bandwidthPerMigration to whole MiB/s
	 * (4.2), so the executor's rounding leaves it as is. */
	out->bandwidth_bytes_per_s = (uint64_t)bandwidth_mib << 20;
	out->progress_timeout_s = progress_s;
	if (has_completion) {
		/* The controller's figure is already per-GiB x size (4.3): the
		 * executor multiplies by ceil(size / 10^9), which a size of one
		 * byte makes 1. */
		out->completion_timeout_per_gib_s = completion_s;
		out->data_size_bytes = completion_s ? 1 : memory_bytes;
	} else if (has_per_gib) {
		out->completion_timeout_per_gib_s = per_gib;
	}
	/* KubeVirt's shim: allowWorkloadDisruption unset follows allowPostCopy. */
	out->allow_workload_disruption = has_disruption ? disruption : out->allow_post_copy;
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* KubeVirt node labels (kubevirt-behaviour.md section 1). */
#include "godwit/cpu.h"

void gw_cpu_label_config_init(struct gw_cpu_label_config *c)
{
	c->obsolete_configured = false;
	gw_strv_init(&c->obsolete);
}

void gw_cpu_label_config_fini(struct gw_cpu_label_config *c)
{
	gw_strv_fini(&c->obsolete);
}

int gw_cpu_label_config_from_kubevirt(const json_t *kubevirt, const char *origin, struct gw_cpu_label_config *c,
				      struct gw_err **err)
{
	(void)kubevirt, (void)c;
	return gw_err_set(err, -ENOSYS, "%s: KubeVirt configuration is not supported yet", origin);
}

int gw_cpu_labels(const struct gw_cpu_modeldb *db, const struct gw_cpu_profile *p,
		  const struct gw_cpu_label_config *c, json_t **labels, struct gw_err **err)
{
	(void)db, (void)p, (void)c, (void)labels;
	return gw_err_set(err, -ENOSYS, "labels are not supported yet");
}

int gw_cpu_labels_apply(json_t *node, const json_t *labels, bool *changed, struct gw_err **err)
{
	(void)node, (void)labels, (void)changed;
	return gw_err_set(err, -ENOSYS, "labels are not supported yet");
}

bool gw_cpu_label_owned(const char *key)
{
	(void)key;
	return false;
}

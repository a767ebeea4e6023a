/* SPDX-License-Identifier: Apache-2.0 */
/* Request paths -> (resource, namespace, name, subresource), the
 * Kubernetes way:
 *   /api/v1/nodes[/NAME[/status]]
 *   /api/v1/namespaces[/NAME[/status]]
 *   /api/v1/namespaces/NS/pods[/NAME[/status]]           (and /api/v1/pods)
 *   /apis/kubevirt.io/v1/namespaces/NS/virtualmachines[/NAME[/status]]
 *   /apis/kubevirt.io/v1/virtualmachines                 (every namespace)
 *   /apis/migrations.kubevirt.io/v1alpha1/migrationpolicies[/NAME[/status]] */
#include <string.h>

#include "server_int.h"

const struct gw_server_resource gw_server_resources[] = {
	{"nodes", "Node", "v1", "/api/v1", false, GW_KIND_NODE},
	{"namespaces", "Namespace", "v1", "/api/v1", false, GW_KIND_NAMESPACE},
	{"pods", "Pod", "v1", "/api/v1", true, GW_KIND_POD},
	{"persistentvolumeclaims", "PersistentVolumeClaim", "v1", "/api/v1", true, GW_KIND_PVC},
	{"virtualmachines", "VirtualMachine", "kubevirt.io/v1", "/apis/kubevirt.io/v1", true, GW_KIND_VM},
	{"virtualmachineinstances", "VirtualMachineInstance", "kubevirt.io/v1", "/apis/kubevirt.io/v1", true,
	 GW_KIND_VMI},
	{"virtualmachineinstancemigrations", "VirtualMachineInstanceMigration", "kubevirt.io/v1",
	 "/apis/kubevirt.io/v1", true, GW_KIND_VMIM},
	{"kubevirts", "KubeVirt", "kubevirt.io/v1", "/apis/kubevirt.io/v1", true, GW_KIND_KUBEVIRT},
	{"migrationpolicies", "MigrationPolicy", "migrations.kubevirt.io/v1alpha1",
	 "/apis/migrations.kubevirt.io/v1alpha1", false, GW_KIND_POLICY},
};
const size_t gw_server_resources_count = GW_ARRAY_SIZE(gw_server_resources);

static const struct {
	const char *alias;
	const char *plural;
} aliases[] = {
	{"node", "nodes"}, {"no", "nodes"}, {"namespace", "namespaces"}, {"ns", "namespaces"},
	{"pod", "pods"}, {"po", "pods"}, {"pvc", "persistentvolumeclaims"},
	{"persistentvolumeclaim", "persistentvolumeclaims"},
	{"vm", "virtualmachines"}, {"vms", "virtualmachines"}, {"virtualmachine", "virtualmachines"},
	{"vmi", "virtualmachineinstances"}, {"vmis", "virtualmachineinstances"},
	{"virtualmachineinstance", "virtualmachineinstances"},
	{"vmim", "virtualmachineinstancemigrations"}, {"vmims", "virtualmachineinstancemigrations"},
	{"migration", "virtualmachineinstancemigrations"}, {"migrations", "virtualmachineinstancemigrations"},
	{"virtualmachineinstancemigration", "virtualmachineinstancemigrations"},
	{"kubevirt", "kubevirts"}, {"kv", "kubevirts"},
	{"migrationpolicy", "migrationpolicies"}, {"policy", "migrationpolicies"},
	{"policies", "migrationpolicies"},
};

const struct gw_server_resource *gw_server_resource_by_plural(const char *plural)
{
	for (size_t i = 0; i < gw_server_resources_count; i++)
		if (!strcmp(gw_server_resources[i].plural, plural))
			return &gw_server_resources[i];
	return NULL;
}

const struct gw_server_resource *gw_server_resource_lookup(const char *name)
{
	const struct gw_server_resource *k = gw_server_resource_by_plural(name);
	if (k)
		return k;
	for (size_t i = 0; i < gw_server_resources_count; i++)
		if (!strcasecmp(gw_server_resources[i].kind, name))
			return &gw_server_resources[i];
	for (size_t i = 0; i < GW_ARRAY_SIZE(aliases); i++)
		if (!strcasecmp(aliases[i].alias, name))
			return gw_server_resource_by_plural(aliases[i].plural);
	return NULL;
}

void gw_route_fini(struct gw_route *route)
{
	free(route->ns);
	free(route->name);
	memset(route, 0, sizeof(*route));
}

/* A name or namespace segment as the store accepts them. */
static bool valid_segment(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n <= 253 && strcmp(s, ".") && strcmp(s, "..");
}

/* rest: what follows the group prefix, split on '/'. */
static int parse_rest(const char *prefix, const struct gw_strv *seg, struct gw_route *rt)
{
	size_t i = 0;
	const char *ns = NULL;
	/* namespaces/NS/<plural>... */
	if (seg->n >= 3 && !strcmp(seg->v[0], "namespaces")) {
		const struct gw_server_resource *k = gw_server_resource_by_plural(seg->v[2]);
		if (k && k->namespaced && !strcmp(k->prefix, prefix)) {
			ns = seg->v[1];
			i = 2;
		}
	}
	if (i >= seg->n)
		return -ENOENT;
	const struct gw_server_resource *k = gw_server_resource_by_plural(seg->v[i]);
	if (!k || strcmp(k->prefix, prefix) != 0)
		return -ENOENT;
	size_t left = seg->n - i - 1;
	if (left > 2 || (left == 2 && strcmp(seg->v[i + 2], "status") != 0))
		return -ENOENT;
	/* A namespaced object is addressed inside its namespace; a bare
	 * /<plural> of a namespaced kind is the list across namespaces. */
	if (k->namespaced && !ns && left > 0)
		return -ENOENT;
	if (ns && !valid_segment(ns))
		return -ENOENT;
	if (left >= 1 && !valid_segment(seg->v[i + 1]))
		return -ENOENT;
	rt->kind = k;
	rt->ns = ns ? gw_strdup(ns) : NULL;
	rt->name = left >= 1 ? gw_strdup(seg->v[i + 1]) : NULL;
	rt->status = left == 2;
	return 0;
}

int gw_route_parse(const char *path, struct gw_route *route)
{
	memset(route, 0, sizeof(*route));
	static const char *const prefixes[] = {"/api/v1", "/apis/kubevirt.io/v1",
					       "/apis/migrations.kubevirt.io/v1alpha1"};
	for (size_t p = 0; p < GW_ARRAY_SIZE(prefixes); p++) {
		size_t n = strlen(prefixes[p]);
		if (strncmp(path, prefixes[p], n) != 0 || path[n] != '/')
			continue;
		struct gw_strv seg;
		gw_strv_init(&seg);
		gw_str_split(path + n + 1, '/', &seg);
		/* a trailing slash is tolerated; empty segments elsewhere are not */
		if (seg.n > 1 && !*seg.v[seg.n - 1]) {
			free(seg.v[--seg.n]);
		}
		int r = 0;
		for (size_t i = 0; i < seg.n; i++)
			if (!*seg.v[i])
				r = -ENOENT;
		if (!r)
			r = parse_rest(prefixes[p], &seg, route);
		gw_strv_fini(&seg);
		return r;
	}
	return -ENOENT;
}

char *gw_server_resource_path(const struct gw_server_resource *r, const char *ns, const char *name)
{
	struct gw_buf b;
	gw_buf_init(&b);
	gw_buf_puts(&b, r->prefix);
	if (r->namespaced && ns)
		gw_buf_printf(&b, "/namespaces/%s", ns);
	gw_buf_printf(&b, "/%s", r->plural);
	if (name)
		gw_buf_printf(&b, "/%s", name);
	return gw_buf_steal(&b);
}

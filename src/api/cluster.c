/* SPDX-License-Identifier: Apache-2.0 */
/* Everything read from the inputs: files and directories of YAML/JSON
 * documents and kubectl `List`s, indexed by name, then linked (launcher
 * pods to VMIs, PVC access modes, dangling references as findings).
 *
 * Kinds: the nine of enum gw_kind are decoded. Inside a List every other
 * kind is skipped (`kubectl get all,vmis,... -o json` mixes in Services,
 * Deployments...). At the top level, well-known kinds Godwit has no use
 * for (skipped_kinds below) are skipped too, since manifest directories
 * hold them beside the VMs; any other kind is refused, because it is far
 * more often a typo ("VirtualMachineInstanse") than a resource to ignore. */
#include <string.h>

#include "internal.h"

struct gw_cluster_index {
	struct strhash by_kind[GW_KIND_COUNT];   /* name or ns/name -> object */
	struct strhash vmi_uid;                  /* metadata.uid -> struct gw_vmi */
	size_t cap[GW_KIND_COUNT];               /* capacities of the cluster's arrays */
	size_t findings_cap;
	/* Labels and selectors of the decoded objects (struct gw_map borrowed):
	 * freed after the objects. */
	struct gw_strtab *strings;
	struct map_sort_memo *sort_memo;
};

static const char *const skipped_kinds[] = {
	"Service", "ConfigMap", "Secret", "ServiceAccount", "Deployment", "DaemonSet", "StatefulSet",
	"ReplicaSet", "ReplicationController", "Job", "CronJob", "Role", "RoleBinding", "ClusterRole",
	"ClusterRoleBinding", "Endpoints", "EndpointSlice", "Event", "PersistentVolume", "StorageClass",
	"NetworkPolicy", "Ingress", "CustomResourceDefinition", "LimitRange", "ResourceQuota",
	"PodDisruptionBudget", "PriorityClass", "Lease", "ControllerRevision", "DataVolume", "DataSource",
	"DataImportCron", "CDI", "HyperConverged", "NetworkAttachmentDefinition",
	"VirtualMachineInstanceReplicaSet", "VirtualMachineInstancePreset", "VirtualMachineInstancetype",
	"VirtualMachineClusterInstancetype", "VirtualMachinePreference", "VirtualMachineClusterPreference",
	"VirtualMachineSnapshot", "VirtualMachineSnapshotContent", "VirtualMachineRestore",
	"VirtualMachineExport", "VirtualMachineClone", "VirtualMachinePool", NULL,
};

struct gw_cluster *gw_cluster_new(void)
{
	struct gw_cluster *c = gw_calloc(1, sizeof(*c));
	c->index = gw_calloc(1, sizeof(*c->index));
	for (int k = 0; k < GW_KIND_COUNT; k++)
		strhash_init(&c->index->by_kind[k]);
	strhash_init(&c->index->vmi_uid);
	c->index->strings = gw_strtab_new();
	c->index->sort_memo = map_sort_memo_new();
	return c;
}

static void findings_clear(struct gw_cluster *c)
{
	for (size_t i = 0; i < c->n_findings; i++) {
		free(c->findings[i].where);
		free(c->findings[i].message);
	}
	free(c->findings);
	c->findings = NULL;
	c->n_findings = 0;
	if (c->index)
		c->index->findings_cap = 0;
}

void gw_cluster_free(struct gw_cluster *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_nodes; i++)
		gw_node_free(c->nodes[i]);
	for (size_t i = 0; i < c->n_namespaces; i++)
		gw_namespace_free(c->namespaces[i]);
	for (size_t i = 0; i < c->n_vms; i++)
		gw_vm_free(c->vms[i]);
	for (size_t i = 0; i < c->n_vmis; i++)
		gw_vmi_free(c->vmis[i]);
	for (size_t i = 0; i < c->n_vmims; i++)
		gw_vmim_free(c->vmims[i]);
	for (size_t i = 0; i < c->n_policies; i++)
		gw_policy_free(c->policies[i]);
	for (size_t i = 0; i < c->n_pods; i++)
		gw_pod_free(c->pods[i]);
	for (size_t i = 0; i < c->n_pvcs; i++)
		gw_pvc_free(c->pvcs[i]);
	gw_kubevirt_free(c->kubevirt);
	free(c->nodes);
	free(c->namespaces);
	free(c->vms);
	free(c->vmis);
	free(c->vmims);
	free(c->policies);
	free(c->pods);
	free(c->pvcs);
	findings_clear(c);
	/* Clusters built by hand (tests) or copied for a what-if have no index. */
	if (c->index) {
		for (int k = 0; k < GW_KIND_COUNT; k++)
			strhash_fini(&c->index->by_kind[k]);
		strhash_fini(&c->index->vmi_uid);
		map_sort_memo_free(c->index->sort_memo);
		gw_strtab_free(c->index->strings);
		free(c->index);
	}
	free(c);
}

static void push(void ***arr, size_t *n, size_t *cap, void *item)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*arr = gw_realloc(*arr, *cap * sizeof(void *));
	}
	(*arr)[(*n)++] = item;
}

/* "ns/name" for namespaced kinds, "name" otherwise; into buf or allocated (*heap). */
static const char *object_key(char *buf, size_t n, const char *ns, const char *name, char **heap)
{
	*heap = NULL;
	if (!ns)
		return name;
	int len = snprintf(buf, n, "%s/%s", ns, name);
	if (len >= 0 && (size_t)len < n)
		return buf;
	*heap = gw_asprintf("%s/%s", ns, name);
	return *heap;
}

static void *lookup(const struct gw_cluster *c, enum gw_kind k, const char *ns, const char *name)
{
	if (!c || !name || !c->index)
		return NULL;   /* a cluster built by hand has no index */
	char buf[320], *heap;
	const char *key = object_key(buf, sizeof(buf), ns, name, &heap);
	struct strhash_entry *e = strhash_get(&c->index->by_kind[k], key);
	free(heap);
	return e ? e->value : NULL;
}

struct gw_node *gw_cluster_node(const struct gw_cluster *c, const char *name)
{
	return lookup(c, GW_KIND_NODE, NULL, name);
}

struct gw_namespace *gw_cluster_namespace(const struct gw_cluster *c, const char *name)
{
	return lookup(c, GW_KIND_NAMESPACE, NULL, name);
}

struct gw_vmi *gw_cluster_vmi(const struct gw_cluster *c, const char *ns, const char *name)
{
	return ns ? lookup(c, GW_KIND_VMI, ns, name) : NULL;
}

struct gw_vm *gw_cluster_vm(const struct gw_cluster *c, const char *ns, const char *name)
{
	return ns ? lookup(c, GW_KIND_VM, ns, name) : NULL;
}

struct gw_pvc *gw_cluster_pvc(const struct gw_cluster *c, const char *ns, const char *name)
{
	return ns ? lookup(c, GW_KIND_PVC, ns, name) : NULL;
}

struct gw_pod *gw_cluster_pod(const struct gw_cluster *c, const char *ns, const char *name)
{
	return ns ? lookup(c, GW_KIND_POD, ns, name) : NULL;
}

struct gw_vmi *gw_cluster_vmi_by_uid(const struct gw_cluster *c, const char *uid)
{
	struct strhash_entry *e = uid ? strhash_get(&c->index->vmi_uid, uid) : NULL;
	return e ? e->value : NULL;
}

/* "WHERE (Kind ns/name)", as far as the raw document says: the context
 * of its errors, and kept for its duplicates'. Pieced together, not
 * printed: one per object of a big cluster. */
static char *describe(const json_t *doc, const char *kind, const char *where)
{
	const json_t *md = json_object_get(doc, "metadata");
	const char *name = json_string_value(json_object_get(md, "name"));
	const char *ns = json_string_value(json_object_get(md, "namespace"));
	int k = gw_kind_from_doc(doc);
	bool namespaced = k != GW_KIND_NODE && k != GW_KIND_NAMESPACE && k != GW_KIND_POLICY;
	if (namespaced && (!ns || !*ns))
		ns = "default";
	const char *parts[] = {where, " (", kind, " ", namespaced ? ns : "", namespaced ? "/" : "", name ? name : "?", ")"};
	size_t len[GW_ARRAY_SIZE(parts)], total = 1;
	for (size_t i = 0; i < GW_ARRAY_SIZE(parts); i++)
		total += len[i] = strlen(parts[i]);
	char *s = gw_malloc(total), *at = s;
	for (size_t i = 0; i < GW_ARRAY_SIZE(parts); i++) {
		memcpy(at, parts[i], len[i]);
		at += len[i];
	}
	*at = '\0';
	return s;
}

/* The decoded object's meta, for the index. */
static const struct gw_meta *meta_of(enum gw_kind k, void *obj)
{
	switch (k) {
	case GW_KIND_NODE: return &((struct gw_node *)obj)->meta;
	case GW_KIND_NAMESPACE: return &((struct gw_namespace *)obj)->meta;
	case GW_KIND_VM: return &((struct gw_vm *)obj)->meta;
	case GW_KIND_VMI: return &((struct gw_vmi *)obj)->meta;
	case GW_KIND_VMIM: return &((struct gw_vmim *)obj)->meta;
	case GW_KIND_POLICY: return &((struct gw_policy *)obj)->meta;
	case GW_KIND_KUBEVIRT: return &((struct gw_kubevirt *)obj)->meta;
	case GW_KIND_POD: return &((struct gw_pod *)obj)->meta;
	case GW_KIND_PVC: return &((struct gw_pvc *)obj)->meta;
	default: return NULL;
	}
}

static void free_object(enum gw_kind k, void *obj)
{
	switch (k) {
	case GW_KIND_NODE: gw_node_free(obj); break;
	case GW_KIND_NAMESPACE: gw_namespace_free(obj); break;
	case GW_KIND_VM: gw_vm_free(obj); break;
	case GW_KIND_VMI: gw_vmi_free(obj); break;
	case GW_KIND_VMIM: gw_vmim_free(obj); break;
	case GW_KIND_POLICY: gw_policy_free(obj); break;
	case GW_KIND_KUBEVIRT: gw_kubevirt_free(obj); break;
	case GW_KIND_POD: gw_pod_free(obj); break;
	case GW_KIND_PVC: gw_pvc_free(obj); break;
	default: break;
	}
}

bool cluster_keeps_doc(const struct gw_cluster *c, enum gw_kind k)
{
	return !c->drop_docs || k == GW_KIND_POLICY || k == GW_KIND_KUBEVIRT;
}

/* A big check keeps no documents: only the KubeVirt CR's and policies'
 * (few, and read by the placement rules; cluster_keeps_doc). */
static void drop_doc(enum gw_kind k, void *obj)
{
	json_t **doc = NULL;
	switch (k) {
	case GW_KIND_NODE: doc = &((struct gw_node *)obj)->doc; break;
	case GW_KIND_NAMESPACE: doc = &((struct gw_namespace *)obj)->doc; break;
	case GW_KIND_VM: doc = &((struct gw_vm *)obj)->doc; break;
	case GW_KIND_VMI: doc = &((struct gw_vmi *)obj)->doc; break;
	case GW_KIND_VMIM: doc = &((struct gw_vmim *)obj)->doc; break;
	case GW_KIND_POD: doc = &((struct gw_pod *)obj)->doc; break;
	case GW_KIND_PVC: doc = &((struct gw_pvc *)obj)->doc; break;
	default: return;
	}
	json_decref(*doc);
	*doc = NULL;
}

static int decode_object(enum gw_kind k, const json_t *doc, void **out, struct gw_err **err)
{
	switch (k) {
	case GW_KIND_NODE: return gw_node_decode(doc, (struct gw_node **)out, err);
	case GW_KIND_NAMESPACE: return gw_namespace_decode(doc, (struct gw_namespace **)out, err);
	case GW_KIND_VM: return gw_vm_decode(doc, (struct gw_vm **)out, err);
	case GW_KIND_VMI: return gw_vmi_decode(doc, (struct gw_vmi **)out, err);
	case GW_KIND_VMIM: return gw_vmim_decode(doc, (struct gw_vmim **)out, err);
	case GW_KIND_POLICY: return gw_policy_decode(doc, (struct gw_policy **)out, err);
	case GW_KIND_KUBEVIRT: return gw_kubevirt_decode(doc, (struct gw_kubevirt **)out, err);
	case GW_KIND_POD: return gw_pod_decode(doc, (struct gw_pod **)out, err);
	case GW_KIND_PVC: return gw_pvc_decode(doc, (struct gw_pvc **)out, err);
	default: return -EINVAL;
	}
}

static void store(struct gw_cluster *c, enum gw_kind k, void *obj)
{
	struct gw_cluster_index *ix = c->index;
	switch (k) {
	case GW_KIND_NODE: push((void ***)&c->nodes, &c->n_nodes, &ix->cap[k], obj); break;
	case GW_KIND_NAMESPACE: push((void ***)&c->namespaces, &c->n_namespaces, &ix->cap[k], obj); break;
	case GW_KIND_VM: push((void ***)&c->vms, &c->n_vms, &ix->cap[k], obj); break;
	case GW_KIND_VMI: push((void ***)&c->vmis, &c->n_vmis, &ix->cap[k], obj); break;
	case GW_KIND_VMIM: push((void ***)&c->vmims, &c->n_vmims, &ix->cap[k], obj); break;
	case GW_KIND_POLICY: push((void ***)&c->policies, &c->n_policies, &ix->cap[k], obj); break;
	case GW_KIND_KUBEVIRT: c->kubevirt = obj; break;
	case GW_KIND_POD: push((void ***)&c->pods, &c->n_pods, &ix->cap[k], obj); break;
	case GW_KIND_PVC: push((void ***)&c->pvcs, &c->n_pvcs, &ix->cap[k], obj); break;
	default: break;
	}
}

struct gw_strtab *cluster_strings(const struct gw_cluster *c)
{
	return c->index ? c->index->strings : NULL;
}

/* Decodes one object of a known kind; `where` is "a.yaml: document 2" or
 * "... items[3]". Nothing enters the cluster yet (cluster_insert). */
int cluster_decode(struct gw_cluster *c, enum gw_kind k, const json_t *doc, const char *where,
		   struct cluster_decoded *out, struct gw_err **err)
{
	void *obj = NULL;
	char *full_where = describe(doc, gw_kind_name(k), where);
	memset(out, 0, sizeof(*out));
	struct gw_strtab *saved = dec_strings;
	struct map_sort_memo *saved_memo = dec_sort_memo;
	dec_strings = c->index ? c->index->strings : NULL;
	dec_sort_memo = c->index ? c->index->sort_memo : NULL;
	int r = decode_object(k, doc, &obj, err);
	dec_strings = saved;
	dec_sort_memo = saved_memo;
	if (r < 0) {
		r = gw_err_wrap(err, "%s", full_where);
		free(full_where);
		return r;
	}
	if (c->drop_docs)
		drop_doc(k, obj);
	out->kind = k;
	out->obj = obj;
	out->where = full_where;
	return 0;
}

void cluster_decoded_fini(struct cluster_decoded *d)
{
	if (d->obj)
		free_object(d->kind, d->obj);
	free(d->where);
	memset(d, 0, sizeof(*d));
}

/* Indexes and stores a decoded object (taken, also on error): duplicates
 * are refused, naming where the first one was. */
int cluster_insert(struct gw_cluster *c, struct cluster_decoded *d, struct gw_err **err)
{
	enum gw_kind k = d->kind;
	void *obj = d->obj;
	const struct gw_meta *m = meta_of(k, obj);
	char buf[320], *heap;
	const char *key = object_key(buf, sizeof(buf), m->namespace, m->name, &heap);
	_cleanup_free_ char *full_where = d->where;
	d->where = NULL;
	d->obj = NULL;
	bool existed;
	struct strhash_entry *e;
	int r;
	if (k == GW_KIND_KUBEVIRT && c->kubevirt) {
		/* One KubeVirt CR configures a cluster; two is a mistake, whatever their names. */
		e = strhash_get(&c->index->by_kind[k], c->kubevirt->meta.namespace
				? c->kubevirt->meta.namespace : "");
		free(heap);
		r = gw_err_set(err, -EEXIST, "%s: metadata.name: \"%s\": a second KubeVirt resource (the first: %s)",
			       full_where, m->name, e && e->where ? e->where : "?");
		free_object(k, obj);
		return r;
	}
	/* Kept by the index from here on: not copied, one per object. */
	e = strhash_put_take(&c->index->by_kind[k], k == GW_KIND_KUBEVIRT ? (m->namespace ? m->namespace : "") : key,
			     obj, &full_where, &existed);
	free(heap);
	if (existed) {
		r = gw_err_set(err, -EEXIST, "%s: metadata.name: \"%s\": duplicate %s %s%s%s (first: %s)", full_where,
			       m->name, gw_kind_name(k), m->namespace ? m->namespace : "", m->namespace ? "/" : "",
			       m->name, e->where ? e->where : "?");
		free_object(k, obj);
		return r;
	}
	store(c, k, obj);
	return 0;
}

static int add_object(struct gw_cluster *c, enum gw_kind k, const json_t *doc, const char *where,
		      struct gw_err **err)
{
	struct cluster_decoded d;
	int r = cluster_decode(c, k, doc, where, &d, err);
	return r < 0 ? r : cluster_insert(c, &d, err);
}

bool cluster_is_list_kind(const char *kind)
{
	return strcmp(kind, "List") == 0 || gw_str_has_suffix(kind, "List");
}

static bool kind_in(const char *kind, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(kind, list[i]) == 0)
			return true;
	return false;
}

char *cluster_list_item_kind(const char *list_kind)
{
	/* A typed list (VirtualMachineInstanceList from the API) may leave
	 * kind and apiVersion out of its items: they are the list's. */
	return strcmp(list_kind, "List") ? gw_strndup(list_kind, strlen(list_kind) - 4) : NULL;
}

int cluster_add_list_item(struct gw_cluster *c, const json_t *item, const char *item_kind, const json_t *list_av,
			  const char *iwhere, struct gw_err **err)
{
	if (!json_is_object(item))
		return dec_fail(err, iwhere, NULL, item, "not an object");
	int k;
	if (!json_object_get(item, "kind") && item_kind) {
		_cleanup_json_ json_t *copy = json_copy((json_t *)item);
		json_object_set_new(copy, "kind", json_string(item_kind));
		if (!json_object_get(copy, "apiVersion") && json_is_string(list_av))
			json_object_set(copy, "apiVersion", (json_t *)list_av);
		k = gw_kind_from_doc(copy);
		if (k < 0) {
			c->n_skipped++;
			return 0;
		}
		c->n_docs++;
		return add_object(c, (enum gw_kind)k, copy, iwhere, err);
	}
	k = gw_kind_from_doc(item);
	if (k < 0) {
		c->n_skipped++;
		return 0;
	}
	c->n_docs++;
	return add_object(c, (enum gw_kind)k, item, iwhere, err);
}

static int add_list(struct gw_cluster *c, const json_t *doc, const char *kind, const char *where,
		    struct gw_err **err)
{
	const json_t *items = json_object_get(doc, "items");
	if (!items || json_is_null(items))
		return 0;
	if (!json_is_array(items))
		return dec_fail(err, where, NULL, NULL, "items: not a list");
	_cleanup_free_ char *item_kind = cluster_list_item_kind(kind);
	size_t i;
	json_t *item;
	json_array_foreach(items, i, item) {
		_cleanup_free_ char *iwhere = gw_asprintf("%s, items[%zu]", where, i);
		int r = cluster_add_list_item(c, item, item_kind, json_object_get(doc, "apiVersion"), iwhere, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int gw_cluster_add_doc(struct gw_cluster *c, const json_t *doc, const char *file, size_t index,
		       struct gw_err **err)
{
	_cleanup_free_ char *where = gw_asprintf("%s: document %zu", file ? file : "-", index + 1);
	if (!doc || json_is_null(doc))
		return 0;   /* an empty YAML document ("---" at the end) */
	if (!json_is_object(doc))
		return dec_fail(err, where, NULL, doc, "not an object");
	const json_t *kindv = json_object_get(doc, "kind");
	if (!kindv)
		return gw_err_set(err, -EINVAL, "%s: kind: missing", where);
	if (!json_is_string(kindv))
		return dec_fail(err, where, "kind", kindv, "not a string");
	const char *kind = json_string_value(kindv);
	if (cluster_is_list_kind(kind) && json_object_get(doc, "items"))
		return add_list(c, doc, kind, where, err);
	int k = gw_kind_from_doc(doc);
	if (k >= 0) {
		c->n_docs++;
		return add_object(c, (enum gw_kind)k, doc, where, err);
	}
	if (kind_in(kind, skipped_kinds)) {
		c->n_skipped++;
		return 0;
	}
	const json_t *av = json_object_get(doc, "apiVersion");
	_cleanup_free_ char *avs = av ? json_dumps(av, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	struct gw_buf b;
	gw_buf_init(&b);
	for (int i = 0; i < GW_KIND_COUNT; i++)
		gw_buf_printf(&b, "%s%s", i ? ", " : "", gw_kind_name(i));
	int r = gw_err_set(err, -EINVAL,
			   "%s: kind \"%s\" (apiVersion %s) is not supported; supported kinds: %s, and List",
			   where, kind, avs ? avs : "missing", b.data);
	gw_buf_fini(&b);
	return r;
}

int gw_cluster_remove_node(struct gw_cluster *c, const char *name)
{
	size_t i;
	for (i = 0; i < c->n_nodes; i++)
		if (c->nodes[i]->meta.name && strcmp(c->nodes[i]->meta.name, name) == 0)
			break;
	if (i == c->n_nodes)
		return -ENOENT;
	gw_node_free(c->nodes[i]);
	memmove(&c->nodes[i], &c->nodes[i + 1], (c->n_nodes - i - 1) * sizeof(*c->nodes));
	c->n_nodes--;
	/* The hash has no deletion (no tombstones): rebuild the node index,
	 * keeping where each node came from. */
	struct strhash old = c->index->by_kind[GW_KIND_NODE];
	strhash_init(&c->index->by_kind[GW_KIND_NODE]);
	for (size_t k = 0; k < c->n_nodes; k++) {
		struct strhash_entry *e = strhash_get(&old, c->nodes[k]->meta.name);
		strhash_put(&c->index->by_kind[GW_KIND_NODE], c->nodes[k]->meta.name, c->nodes[k],
			    e ? e->where : NULL, NULL);
	}
	strhash_fini(&old);
	return 0;
}

/* ---- linking ----------------------------------------------------------------------- */

static void finding(struct gw_cluster *c, const char *where, const char *fmt, ...) GW_PRINTF(3, 4);

static void finding(struct gw_cluster *c, const char *where, const char *fmt, ...)
{
	if (c->n_findings == c->index->findings_cap) {
		c->index->findings_cap = c->index->findings_cap ? c->index->findings_cap * 2 : 16;
		c->findings = gw_realloc(c->findings, c->index->findings_cap * sizeof(*c->findings));
	}
	struct gw_buf b;
	va_list ap;
	gw_buf_init(&b);
	va_start(ap, fmt);
	gw_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	c->findings[c->n_findings].where = gw_strdup(where ? where : "?");
	c->findings[c->n_findings].message = gw_buf_steal(&b);
	c->n_findings++;
}

static const char *where_of(const struct gw_cluster *c, enum gw_kind k, const struct gw_meta *m)
{
	char buf[320], *heap;
	const char *key = object_key(buf, sizeof(buf), m->namespace, m->name, &heap);
	struct strhash_entry *e = strhash_get(&c->index->by_kind[k], key);
	free(heap);
	return e ? e->where : NULL;
}

static bool pod_finished(const struct gw_pod *p)
{
	return p->phase && (strcmp(p->phase, "Succeeded") == 0 || strcmp(p->phase, "Failed") == 0);
}

/* How well a launcher pod stands for the VMI's current placement: 2 on
 * the VMI's node, 1 when either has no node yet, 0 elsewhere (the target
 * pod of a migration in flight, or a stale one) or finished. */
static int launcher_score(const struct gw_pod *p, const struct gw_vmi *v)
{
	if (pod_finished(p))
		return 0;
	if (!p->node_name || !v->node_name)
		return 1;
	return strcmp(p->node_name, v->node_name) == 0 ? 2 : 0;
}

static void link_launchers(struct gw_cluster *c)
{
	struct strhash chosen;   /* VMI ns/name -> best pod so far */
	strhash_init(&chosen);
	for (size_t i = 0; i < c->n_pods; i++) {
		struct gw_pod *p = c->pods[i];
		const char *created_by = gw_map_get(&p->meta.labels, "kubevirt.io/created-by");
		const char *vm_name = gw_map_get(&p->meta.labels, "vm.kubevirt.io/name");
		if (!created_by && !vm_name)
			continue;   /* not a virt-launcher pod */
		struct gw_vmi *v = gw_cluster_vmi_by_uid(c, created_by);
		if (!v && vm_name) {
			/* No uid to go by (hand-written input, or a VMI re-created
			 * under the same name): the same name and namespace, a live
			 * pod, on the VMI's node. */
			struct gw_vmi *cand = gw_cluster_vmi(c, p->meta.namespace, vm_name);
			if (cand && p->phase && (strcmp(p->phase, "Running") == 0 || strcmp(p->phase, "Pending") == 0) &&
			    p->node_name && cand->node_name && strcmp(p->node_name, cand->node_name) == 0)
				v = cand;
		}
		if (!v) {
			finding(c, where_of(c, GW_KIND_POD, &p->meta),
				"launcher pod for VirtualMachineInstance %s/%s (uid %s), which is not in the input",
				p->meta.namespace, vm_name ? vm_name : "?", created_by ? created_by : "unknown");
			continue;
		}
		int score = launcher_score(p, v);
		if (!score)
			continue;
		char key[320];
		snprintf(key, sizeof(key), "%s/%s", v->meta.namespace, v->meta.name);
		bool existed;
		struct strhash_entry *e = strhash_put(&chosen, key, p, NULL, &existed);
		if (existed && launcher_score(e->value, v) < score)
			e->value = p;
	}
	for (size_t i = 0; i < c->n_vmis; i++) {
		struct gw_vmi *v = c->vmis[i];
		char key[320];
		snprintf(key, sizeof(key), "%s/%s", v->meta.namespace, v->meta.name);
		struct strhash_entry *e = strhash_get(&chosen, key);
		if (!e)
			continue;
		/* The pod is what the cluster really placed; it wins over a
		 * remembered status.launcherNodeSelector. */
		gw_map_fini(&v->launcher_selector);
		map_share(&v->launcher_selector, &((struct gw_pod *)e->value)->node_selector);
		v->has_launcher_selector = true;
	}
	strhash_fini(&chosen);
}

static void link_pvcs(struct gw_cluster *c, struct gw_vmi *v)
{
	for (size_t i = 0; i < v->spec.n_volumes; i++) {
		const char *claim = v->spec.volumes[i].claim;
		if (!claim || gw_map_get(&v->pvc_access_modes, claim))
			continue;
		/* A DataVolume's PVC carries the DataVolume's name. */
		struct gw_pvc *pvc = gw_cluster_pvc(c, v->meta.namespace, claim);
		if (!pvc || !pvc->access_modes.n)
			continue;
		struct gw_buf b;
		gw_buf_init(&b);
		for (size_t m = 0; m < pvc->access_modes.n; m++)
			gw_buf_printf(&b, "%s%s", m ? "," : "", pvc->access_modes.v[m]);
		gw_map_set(&v->pvc_access_modes, claim, b.data);
		gw_buf_fini(&b);
	}
}

void gw_cluster_link(struct gw_cluster *c)
{
	findings_clear(c);
	strhash_fini(&c->index->vmi_uid);
	for (size_t i = 0; i < c->n_vmis; i++)
		if (c->vmis[i]->meta.uid)
			strhash_put(&c->index->vmi_uid, c->vmis[i]->meta.uid, c->vmis[i], NULL, NULL);
	for (size_t i = 0; i < c->n_vmis; i++) {
		struct gw_vmi *v = c->vmis[i];
		if (v->node_name && !gw_cluster_node(c, v->node_name))
			finding(c, where_of(c, GW_KIND_VMI, &v->meta), "status.nodeName: \"%s\": no such Node in the input",
				v->node_name);
		link_pvcs(c, v);
	}
	for (size_t i = 0; i < c->n_vmims; i++) {
		struct gw_vmim *m = c->vmims[i];
		if (!gw_cluster_vmi(c, m->meta.namespace, m->vmi_name))
			finding(c, where_of(c, GW_KIND_VMIM, &m->meta),
				"spec.vmiName: \"%s\": no such VirtualMachineInstance in namespace %s", m->vmi_name,
				m->meta.namespace);
	}
	link_launchers(c);
}

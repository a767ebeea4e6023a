/* SPDX-License-Identifier: Apache-2.0 */
/* libvirt XML as host profiles: `virsh domcapabilities`, `virsh
 * capabilities`, `virsh hypervisor-cpu-baseline --features` output, and the
 * KubeVirt node labeller's directory that holds all three.
 * Model lists follow KubeVirt's loadDomCapabilities (kubevirt-behaviour.md
 * 1.2), so the profile says what the labeller would label. */
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "godwit/cpu.h"
#include "profile_priv.h"

/* A real domcapabilities is ~30 KiB, capabilities ~100 KiB. */
#define LIBVIRT_XML_MAX_BYTES (8u << 20)
/* QEMU model and machine names are short; anything longer is not one. */
#define NAME_MAX_CHARS 128

static void xml_freep(void *p)
{
	xmlFree(*(void **)p);
}
static void xml_doc_freep(xmlDoc **d)
{
	if (*d)
		xmlFreeDoc(*d);
}
#define _cleanup_xml_ _cleanup_(xml_freep)
#define _cleanup_xmldoc_ _cleanup_(xml_doc_freep)

static bool name_is(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static xmlNode *child(const xmlNode *n, const char *name)
{
	for (xmlNode *c = n->children; c; c = c->next)
		if (name_is(c, name))
			return c;
	return NULL;
}

/* The element's XPath ("/domainCapabilities/cpu/mode[2]/model[3]"), for
 * messages. Caller frees. */
static char *node_path(const xmlNode *n)
{
	xmlChar *p = xmlGetNodePath(n);
	char *s = gw_strdup(p ? (const char *)p : "?");
	xmlFree(p);
	return s;
}

/* Attribute value or NULL; caller frees with xmlFree. */
static xmlChar *attr(const xmlNode *n, const char *name)
{
	return xmlGetNoNsProp(n, (const xmlChar *)name);
}

/* Whitespace-trimmed text of an element (gw_strdup'ed), or NULL when the
 * text is longer than NAME_MAX_CHARS or holds control characters. */
static char *element_name(const xmlNode *n, bool *bad)
{
	_cleanup_xml_ xmlChar *raw = xmlNodeGetContent(n);
	const char *s = raw ? (const char *)raw : "";
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	size_t len = strlen(s);
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	*bad = len > NAME_MAX_CHARS;
	for (size_t i = 0; i < len && !*bad; i++)
		*bad = (unsigned char)s[i] < 0x20;
	return *bad ? NULL : gw_strndup(s, len);
}

static int bad_name_error(const xmlNode *n, const char *origin, struct gw_err **err)
{
	_cleanup_free_ char *path = node_path(n);
	return gw_err_set(err, -EINVAL, "%s: %s: expected a name of at most %d printable characters", origin, path,
			  NAME_MAX_CHARS);
}

static char *name_from_origin(const char *origin)
{
	const char *end = origin + strlen(origin);
	while (end > origin && end[-1] == '/')
		end--;
	const char *base = end;
	while (base > origin && base[-1] != '/')
		base--;
	const char *dot = memrchr(base, '.', (size_t)(end - base));
	if (dot && dot != base)
		end = dot;
	return end > base ? gw_strndup(base, (size_t)(end - base)) : gw_strdup("host");
}

/* libxml2 reports every error of a broken document; the first one is the
 * one that explains it. */
struct first_xml_error {
	bool set;
	int line;
	char msg[200];
};

static void keep_first_error(void *user, xmlError *e)
{
	xmlParserCtxt *ctxt = user;
	struct first_xml_error *first = ctxt ? ctxt->_private : NULL;
	if (!first || first->set || !e)
		return;
	first->set = true;
	first->line = e->line;
	snprintf(first->msg, sizeof(first->msg), "%s", e->message ? e->message : "not well-formed");
	size_t n = strlen(first->msg);
	while (n && (first->msg[n - 1] == '\n' || first->msg[n - 1] == ' '))
		first->msg[--n] = '\0';
}

/* Parses untrusted XML: no network, no DTD (so no entity expansion at all),
 * libxml2's default depth and text limits (no XML_PARSE_HUGE). */
static int xml_parse(const char *xml, size_t len, const char *origin, xmlDoc **out, struct gw_err **err)
{
	*out = NULL;
	if (len > LIBVIRT_XML_MAX_BYTES || len > INT_MAX)
		return gw_err_set(err, -EFBIG, "%s: larger than %u bytes", origin, LIBVIRT_XML_MAX_BYTES);
	if (memmem(xml, len, "<!DOCTYPE", 9) || memmem(xml, len, "<!ENTITY", 8))
		return gw_err_set(err, -EINVAL, "%s: a DOCTYPE or ENTITY declaration: libvirt XML has none", origin);
	xmlInitParser();
	xmlParserCtxt *ctxt = xmlNewParserCtxt();
	if (!ctxt)
		return gw_err_set(err, -ENOMEM, "%s: cannot create an XML parser", origin);
	struct first_xml_error first = {0};
	ctxt->_private = &first;
	ctxt->sax->serror = keep_first_error;
	xmlDoc *doc = xmlCtxtReadMemory(ctxt, xml, (int)len, NULL, NULL,
					XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	int r = 0;
	if (!doc || !ctxt->wellFormed) {
		if (doc)
			xmlFreeDoc(doc), doc = NULL;
		if (!first.set) {
			const xmlError *e = xmlCtxtGetLastError(ctxt);
			first.line = e ? e->line : 0;
			snprintf(first.msg, sizeof(first.msg), "%s", "not well-formed");
		}
		r = gw_err_set(err, -EINVAL, "%s: line %d: XML: %s", origin, first.line, first.msg);
	} else if (doc->intSubset || doc->extSubset || !xmlDocGetRootElement(doc)) {
		xmlFreeDoc(doc);
		doc = NULL;
		r = gw_err_set(err, -EINVAL, "%s: no root element, or a DTD", origin);
	}
	xmlFreeParserCtxt(ctxt);
	*out = doc;
	return r;
}

/* A CPU definition: <model>, <vendor>, <signature>, <feature policy name>.
 * Shared by the host-model mode, the baseline <cpu> and capabilities' host
 * <cpu>. */
struct cpu_def {
	char *model;
	const char *vendor; /* canonical, static */
	int family, model_number, stepping;
	struct gw_featset require; /* require, force, or no policy (host CPU) */
	struct gw_featset disable; /* disable, forbid */
	struct gw_featset policy_require; /* exactly policy='require' (KubeVirt's test) */
	bool has_model;
};

static void cpu_def_fini(struct cpu_def *d)
{
	free(d->model);
}

static int parse_u16_attr(const xmlNode *n, const char *name, const char *origin, int *out, struct gw_err **err)
{
	_cleanup_xml_ xmlChar *v = attr(n, name);
	if (!v)
		return 0;
	const char *s = (const char *)v;
	unsigned long x = 0;
	size_t i = 0;
	for (; s[i] >= '0' && s[i] <= '9' && i < 6; i++)
		x = x * 10 + (unsigned long)(s[i] - '0');
	if (i == 0 || s[i] != '\0' || x > 0xffff) {
		_cleanup_free_ char *path = node_path(n);
		return gw_err_set(err, -EINVAL, "%s: %s: %s=\"%.40s\": expected an integer 0-65535", origin, path, name, s);
	}
	*out = (int)x;
	return 0;
}

static int read_cpu_def_children(const xmlNode *cpu, const char *origin, struct cpu_def *d, struct gw_err **err)
{
	memset(d, 0, sizeof(*d));
	d->family = d->model_number = d->stepping = -1;
	for (xmlNode *c = cpu->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		bool bad;
		int r;
		if (name_is(c, "model")) {
			/* KubeVirt: more than one model -> the first is used */
			if (d->has_model)
				continue;
			d->model = element_name(c, &bad);
			if (bad)
				return bad_name_error(c, origin, err);
			d->has_model = true;
		} else if (name_is(c, "vendor")) {
			_cleanup_free_ char *v = element_name(c, &bad);
			if (bad)
				return bad_name_error(c, origin, err);
			if (v[0] == '\0')
				continue;
			d->vendor = gw_cpu_vendor_canonical(v);
			if (!d->vendor) {
				_cleanup_free_ char *path = node_path(c);
				return gw_err_set(err, -EINVAL, "%s: %s: \"%s\": unknown vendor (Intel, AMD, Hygon or Zhaoxin)",
						  origin, path, v);
			}
		} else if (name_is(c, "signature")) {
			if ((r = parse_u16_attr(c, "family", origin, &d->family, err)) < 0 ||
			    (r = parse_u16_attr(c, "model", origin, &d->model_number, err)) < 0 ||
			    (r = parse_u16_attr(c, "stepping", origin, &d->stepping, err)) < 0)
				return r;
		} else if (name_is(c, "feature")) {
			_cleanup_xml_ xmlChar *name = attr(c, "name");
			_cleanup_xml_ xmlChar *policy = attr(c, "policy");
			_cleanup_free_ char *path = node_path(c);
			if (!name || !name[0])
				return gw_err_set(err, -EINVAL, "%s: %s: no name attribute", origin, path);
			const char *pol = policy ? (const char *)policy : "require";
			struct gw_featset *set;
			if (strcmp(pol, "require") == 0 || strcmp(pol, "force") == 0)
				set = &d->require;
			else if (strcmp(pol, "disable") == 0 || strcmp(pol, "forbid") == 0)
				set = &d->disable;
			else if (strcmp(pol, "optional") == 0)
				continue;
			else
				return gw_err_set(err, -EINVAL,
						  "%s: %s: policy=\"%.40s\": expected require, disable, force, forbid or optional",
						  origin, path, pol);
			int idx = gw_cpu_feature_lookup((const char *)name, err);
			if (idx < 0)
				return gw_err_wrap(err, "%s: %s", origin, path);
			gw_featset_set(set, (unsigned)idx);
			if (policy && strcmp(pol, "require") == 0)
				gw_featset_set(&d->policy_require, (unsigned)idx);
		}
	}
	return 0;
}

/* On failure d holds nothing to free; cpu_def_fini is always safe. */
static int read_cpu_def(const xmlNode *cpu, const char *origin, struct cpu_def *d, struct gw_err **err)
{
	int r = read_cpu_def_children(cpu, origin, d, err);
	if (r < 0) {
		free(d->model);
		d->model = NULL;
	}
	return r;
}

/* The definition's full feature set: the model's own features (when the
 * database knows it) + require - disable. An unknown model contributes
 * nothing: its required features are all that is known. */
static void cpu_def_features(const struct gw_cpu_modeldb *db, const struct cpu_def *d, struct gw_featset *out)
{
	memset(out, 0, sizeof(*out));
	int m = db && d->model ? gw_cpu_modeldb_find(db, d->model) : -1;
	if (m >= 0)
		*out = db->models[m].features;
	gw_featset_or(out, out, &d->require);
	gw_featset_andnot(out, out, &d->disable);
}

static void strv_push_unique(struct gw_strv *v, const char *s)
{
	if (!gw_strv_contains(v, s))
		gw_strv_push(v, s);
}

static int read_host_model(const struct gw_cpu_modeldb *db, const xmlNode *mode, const char *origin,
			   struct gw_cpu_profile *p, struct gw_err **err)
{
	if (!child(mode, "model")) {
		/* libvirt writes <mode name='host-model' supported='no'/> when it
		 * has none; KubeVirt would fail on it (no model), Godwit reads
		 * it as "no host-model" instead. */
		_cleanup_xml_ xmlChar *supported = attr(mode, "supported");
		if (supported && strcmp((const char *)supported, "no") == 0)
			return 0;
		_cleanup_free_ char *path = node_path(mode);
		return gw_err_set(err, -EINVAL, "%s: %s: host model mode is expected to contain a model", origin, path);
	}
	struct cpu_def d;
	int r = read_cpu_def(mode, origin, &d, err);
	if (r == 0) {
		free(p->host_model);
		p->host_model = d.model && d.model[0] ? gw_strdup(d.model) : NULL;
		free(p->vendor);
		p->vendor = d.vendor ? gw_strdup(d.vendor) : NULL;
		p->family = d.family;
		p->model = d.model_number;
		p->stepping = d.stepping;
		p->host_model_require = d.require;
		p->host_model_disable = d.disable;
		cpu_def_features(db, &d, &p->features);
	}
	cpu_def_fini(&d);
	return r;
}

static int read_domcaps(const struct gw_cpu_modeldb *db, const xmlNode *root, const char *origin,
			struct gw_cpu_profile *p, struct gw_err **err)
{
	const xmlNode *cpu = child(root, "cpu");
	if (!cpu)
		return 0;
	bool seen_host_model = false;
	for (xmlNode *mode = cpu->children; mode; mode = mode->next) {
		if (!name_is(mode, "mode"))
			continue;
		_cleanup_xml_ xmlChar *mode_name = attr(mode, "name");
		if (mode_name && strcmp((const char *)mode_name, "host-model") == 0 && !seen_host_model) {
			seen_host_model = true;
			int r = read_host_model(db, mode, origin, p, err);
			if (r < 0)
				return r;
		}
		/* KubeVirt: a <model> of any mode with a non-empty usable
		 * attribute and a non-empty name is known; unless usable="no"
		 * it is usable too ("unknown" counts as usable). */
		for (xmlNode *m = mode->children; m; m = m->next) {
			if (!name_is(m, "model"))
				continue;
			_cleanup_xml_ xmlChar *usable = attr(m, "usable");
			if (!usable || !usable[0])
				continue;
			const char *u = (const char *)usable;
			if (strcmp(u, "yes") != 0 && strcmp(u, "no") != 0 && strcmp(u, "unknown") != 0) {
				_cleanup_free_ char *path = node_path(m);
				return gw_err_set(err, -EINVAL, "%s: %s: usable=\"%.40s\": expected yes, no or unknown", origin,
						  path, u);
			}
			bool bad;
			_cleanup_free_ char *name = element_name(m, &bad);
			if (bad)
				return bad_name_error(m, origin, err);
			if (!name[0])
				continue;
			p->has_usable = true;
			strv_push_unique(&p->known, name);
			if (strcmp(u, "no") != 0)
				strv_push_unique(&p->usable, name);
		}
	}
	return 0;
}


static int read_capabilities(const xmlNode *root, const char *origin, struct gw_cpu_profile *p, struct gw_err **err)
{
	const xmlNode *host = child(root, "host");
	const xmlNode *cpu = host ? child(host, "cpu") : NULL;
	for (xmlNode *c = cpu ? cpu->children : NULL; c; c = c->next) {
		if (!name_is(c, "counter"))
			continue;
		_cleanup_xml_ xmlChar *name = attr(c, "name");
		if (!name || strcmp((const char *)name, "tsc") != 0)
			continue;
		_cleanup_xml_ xmlChar *freq = attr(c, "frequency");
		_cleanup_xml_ xmlChar *scaling = attr(c, "scaling");
		_cleanup_free_ char *path = node_path(c);
		uint64_t hz;
		if (!freq || !gw_str_to_u64((const char *)freq, &hz))
			return gw_err_set(err, -EINVAL, "%s: %s: frequency=\"%.40s\": expected a frequency in Hz", origin, path,
					  freq ? (const char *)freq : "");
		p->tsc_hz = hz;
		if (scaling && strcmp((const char *)scaling, "yes") == 0)
			p->tsc_scalable = 1;
		else if (scaling && strcmp((const char *)scaling, "no") == 0)
			p->tsc_scalable = 0;
		else if (scaling)
			return gw_err_set(err, -EINVAL, "%s: %s: scaling=\"%.40s\": expected yes or no", origin, path,
					  (const char *)scaling);
		break;
	}
	/* Every machine name of every guest arch, aliases and canonical
	 * names alike: KubeVirt labels each one it sees. */
	for (xmlNode *g = root->children; g; g = g->next) {
		if (!name_is(g, "guest"))
			continue;
		for (xmlNode *a = g->children; a; a = a->next) {
			if (!name_is(a, "arch"))
				continue;
			for (xmlNode *m = a->children; m; m = m->next) {
				if (!name_is(m, "machine"))
					continue;
				bool bad;
				_cleanup_free_ char *name = element_name(m, &bad);
				if (bad)
					return bad_name_error(m, origin, err);
				if (name[0])
					strv_push_unique(&p->machines, name);
				_cleanup_xml_ xmlChar *canonical = attr(m, "canonical");
				if (canonical && canonical[0]) {
					size_t n = strlen((const char *)canonical);
					if (n > NAME_MAX_CHARS)
						return bad_name_error(m, origin, err);
					strv_push_unique(&p->machines, (const char *)canonical);
				}
			}
		}
	}
	return 0;
}

static int profile_from_root(const struct gw_cpu_modeldb *db, const xmlNode *root, const char *origin,
			     struct gw_cpu_profile *p, struct gw_err **err)
{
	if (name_is(root, "domainCapabilities"))
		return read_domcaps(db, root, origin, p, err);
	if (name_is(root, "cpu")) {
		/* hypervisor-cpu-baseline output (--features expands the model) */
		struct cpu_def d;
		int r = read_cpu_def(root, origin, &d, err);
		if (r == 0) {
			cpu_def_features(db, &d, &p->features);
			free(p->vendor);
			p->vendor = d.vendor ? gw_strdup(d.vendor) : NULL;
		}
		cpu_def_fini(&d);
		return r;
	}
	if (name_is(root, "capabilities")) {
		const xmlNode *host = child(root, "host");
		const xmlNode *cpu = host ? child(host, "cpu") : NULL;
		if (cpu) {
			struct cpu_def d;
			int r = read_cpu_def(cpu, origin, &d, err);
			if (r == 0) {
				cpu_def_features(db, &d, &p->features);
				free(p->vendor);
				p->vendor = d.vendor ? gw_strdup(d.vendor) : NULL;
				p->family = d.family;
				p->model = d.model_number;
				p->stepping = d.stepping;
			}
			cpu_def_fini(&d);
			if (r < 0)
				return r;
		}
		return read_capabilities(root, origin, p, err);
	}
	return gw_err_set(err, -EINVAL, "%s: root element <%.40s>: expected domainCapabilities, capabilities or cpu",
			  origin, (const char *)root->name);
}

int gw_cpu_profile_from_domcaps(const struct gw_cpu_modeldb *db, const char *xml, size_t len, const char *origin,
				struct gw_cpu_profile **out, struct gw_err **err)
{
	*out = NULL;
	if (!origin)
		origin = "domcapabilities";
	if (!xml)
		return gw_err_set(err, -EINVAL, "%s: no input", origin);
	_cleanup_xmldoc_ xmlDoc *doc = NULL;
	int r = xml_parse(xml, len, origin, &doc, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *name = name_from_origin(origin);
	struct gw_cpu_profile *p = gw_cpu_profile_new(GW_CPU_PROFILE_DOMCAPS, name, origin);
	r = profile_from_root(db, xmlDocGetRootElement(doc), origin, p, err);
	if (r < 0) {
		gw_cpu_profile_free(p);
		return r;
	}
	*out = p;
	return 0;
}

/* ---- the node labeller's directory ------------------------------------ */

/* Reads dir/file when it exists; *doc stays NULL when it does not. */
static int read_optional_xml(const char *dir, const char *file, bool required, xmlDoc **doc, char **path,
			     struct gw_err **err)
{
	*doc = NULL;
	*path = gw_asprintf("%s/%s", dir, file);
	struct stat st;
	if (stat(*path, &st) < 0 && errno == ENOENT && !required)
		return 0;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = gw_file_read(*path, LIBVIRT_XML_MAX_BYTES, &text, &len, err);
	if (r < 0)
		return r;
	return xml_parse(text, len, *path, doc, err);
}

static int expect_root(xmlDoc *doc, const char *path, const char *root_name, struct gw_err **err)
{
	const xmlNode *root = xmlDocGetRootElement(doc);
	if (!name_is(root, root_name))
		return gw_err_set(err, -EINVAL, "%s: root element <%.40s>: expected <%s>", path, (const char *)root->name,
				  root_name);
	return 0;
}

bool gw_cpu_profile_is_labeller_dir(const char *dir)
{
	_cleanup_free_ char *path = gw_asprintf("%s/%s", dir, GW_LABELLER_DOMCAPS);
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int gw_cpu_profile_from_labeller_dir(const struct gw_cpu_modeldb *db, const char *dir, struct gw_cpu_profile **out,
				     struct gw_err **err)
{
	*out = NULL;
	_cleanup_free_ char *name = NULL;
	{
		/* the host is named after the directory (basename, no dots cut) */
		const char *end = dir + strlen(dir);
		while (end > dir && end[-1] == '/')
			end--;
		const char *base = end;
		while (base > dir && base[-1] != '/')
			base--;
		name = end > base ? gw_strndup(base, (size_t)(end - base)) : gw_strdup("host");
	}
	struct gw_cpu_profile *p = gw_cpu_profile_new(GW_CPU_PROFILE_DOMCAPS, name, dir);
	xmlDoc *doc = NULL;
	char *path = NULL;
	int r = read_optional_xml(dir, GW_LABELLER_DOMCAPS, true, &doc, &path, err);
	if (r == 0)
		r = expect_root(doc, path, "domainCapabilities", err);
	if (r == 0)
		r = read_domcaps(db, xmlDocGetRootElement(doc), path, p, err);
	xmlFreeDoc(doc), doc = NULL;
	free(path), path = NULL;

	/* KubeVirt's cpu-feature labels: every feature the baseline of the
	 * host requires, nothing else (kubevirt-behaviour.md 1.2 step 3). */
	if (r == 0)
		r = read_optional_xml(dir, GW_LABELLER_SUPPORTED, false, &doc, &path, err);
	if (r == 0 && doc) {
		struct cpu_def d = {0};
		r = expect_root(doc, path, "cpu", err);
		if (r == 0 && (r = read_cpu_def(xmlDocGetRootElement(doc), path, &d, err)) == 0) {
			p->features = d.policy_require;
			if (!p->vendor && d.vendor)
				p->vendor = gw_strdup(d.vendor);
		}
		cpu_def_fini(&d);
	}
	xmlFreeDoc(doc), doc = NULL;
	free(path), path = NULL;

	if (r == 0)
		r = read_optional_xml(dir, GW_LABELLER_CAPABILITIES, false, &doc, &path, err);
	if (r == 0 && doc) {
		r = expect_root(doc, path, "capabilities", err);
		if (r == 0)
			r = read_capabilities(xmlDocGetRootElement(doc), path, p, err);
	}
	xmlFreeDoc(doc);
	free(path);
	if (r < 0) {
		gw_cpu_profile_free(p);
		return r;
	}
	*out = p;
	return 0;
}

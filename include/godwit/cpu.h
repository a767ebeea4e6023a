/* SPDX-License-Identifier: Apache-2.0 */
/* The CPU-model engine: x86 features as bits, QEMU's named models, host
 * profiles, usable models, host-model, KubeVirt node labels, compare and
 * baseline. Pure: no I/O beyond reading the files it is given (the live
 * host readers in profile_cpuid.c and qemu_probe.c are the exception and
 * say so). */
#ifndef GODWIT_CPU_H
#define GODWIT_CPU_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "godwit/util.h"

/* ---- feature sets --------------------------------------------------------
 * Every feature is one CPUID or MSR bit, so a set of features is a bitmap
 * over the feature table (data/cpu/features.tsv). */
#define GW_CPU_FEATURE_MAX 384
#define GW_CPU_FEATSET_WORDS (GW_CPU_FEATURE_MAX / 64)

struct gw_featset {
	uint64_t w[GW_CPU_FEATSET_WORDS];
};

static inline void gw_featset_set(struct gw_featset *s, unsigned i)
{
	s->w[i / 64] |= 1ull << (i % 64);
}
static inline void gw_featset_clear(struct gw_featset *s, unsigned i)
{
	s->w[i / 64] &= ~(1ull << (i % 64));
}
static inline bool gw_featset_test(const struct gw_featset *s, unsigned i)
{
	return (s->w[i / 64] >> (i % 64)) & 1;
}
/* out = a | b, a & b, a & ~b (out may alias a or b) */
void gw_featset_or(struct gw_featset *out, const struct gw_featset *a, const struct gw_featset *b);
void gw_featset_and(struct gw_featset *out, const struct gw_featset *a, const struct gw_featset *b);
void gw_featset_andnot(struct gw_featset *out, const struct gw_featset *a, const struct gw_featset *b);
bool gw_featset_subset(const struct gw_featset *sub, const struct gw_featset *super);
bool gw_featset_equal(const struct gw_featset *a, const struct gw_featset *b);
bool gw_featset_empty(const struct gw_featset *s);
unsigned gw_featset_count(const struct gw_featset *s);

/* ---- feature table ---------------------------------------------------- */
enum gw_cpu_group {
	GW_CPU_GROUP_SIMD,
	GW_CPU_GROUP_CRYPTO,
	GW_CPU_GROUP_SECURITY,
	GW_CPU_GROUP_VIRT,
	GW_CPU_GROUP_OTHER,
	GW_CPU_GROUP_COUNT,
};
/* "simd", "crypto", "security", "virtualisation", "other" */
const char *gw_cpu_group_name(enum gw_cpu_group g);

enum gw_cpu_reg { GW_CPU_REG_EAX, GW_CPU_REG_EBX, GW_CPU_REG_ECX, GW_CPU_REG_EDX };

struct gw_cpu_feature {
	const char *name;     /* libvirt's spelling */
	bool is_msr;
	uint32_t leaf;        /* CPUID leaf, or MSR index */
	uint32_t subleaf;
	enum gw_cpu_reg reg;  /* MSRs: EAX = bits 0-31, EDX = bits 32-63 */
	unsigned bit;         /* CPUID: 0-31 in reg; MSR: 0-63 in the MSR */
	bool migratable;      /* false for invtsc and xsaves */
	enum gw_cpu_group group;
	const char *const *aliases; /* NULL-terminated: QEMU and Linux spellings */
};

size_t gw_cpu_feature_count(void);
const struct gw_cpu_feature *gw_cpu_feature_get(unsigned idx);
/* Index of a feature by any of its spellings (libvirt, QEMU, Linux;
 * '-', '_' and '.' are interchangeable, case is ignored), or -1. */
int gw_cpu_feature_find(const char *name);
/* As gw_cpu_feature_find, but an unknown name is an error that suggests
 * the nearest known names. Returns the index or a negative errno. */
int gw_cpu_feature_lookup(const char *name, struct gw_err **err);
/* "a, b or c": up to max nearest known feature names, for messages. */
char *gw_cpu_feature_suggest(const char *name, unsigned max);
/* Feature names of a set, in table order. */
void gw_featset_names(const struct gw_featset *s, struct gw_strv *out);
json_t *gw_featset_to_json(const struct gw_featset *s);
/* Parses a list of names; unknown names are errors naming `where`. */
int gw_featset_from_names(const char *const *names, size_t n, const char *where,
			  struct gw_featset *out, struct gw_err **err);

/* ---- x86-64 micro-architecture levels (psABI) -------------------------- */
/* Highest level 1..4 whose features are all in s, 0 if not even v1. */
int gw_cpu_level(const struct gw_featset *s);
/* Features a level requires (cumulative: v3 includes v2 and v1). */
void gw_cpu_level_features(int level, struct gw_featset *out);

/* ---- model database ---------------------------------------------------- */
#define GW_CPU_MODEL_MAX 512
#define GW_CPU_MODELSET_WORDS (GW_CPU_MODEL_MAX / 64)

struct gw_modelset {
	uint64_t w[GW_CPU_MODELSET_WORDS];
};
static inline void gw_modelset_set(struct gw_modelset *s, unsigned i)
{
	s->w[i / 64] |= 1ull << (i % 64);
}
static inline bool gw_modelset_test(const struct gw_modelset *s, unsigned i)
{
	return (s->w[i / 64] >> (i % 64)) & 1;
}

struct gw_cpu_model {
	char *name;
	char *alias_of;      /* the version this name stands for, or NULL */
	char *vendor;        /* "Intel", "AMD", "Hygon", "Zhaoxin", or NULL */
	int family, model, stepping; /* -1 when unknown */
	struct gw_featset features;  /* what QEMU requires of the host */
	int libvirt_order;   /* position in libvirt's cpu_map, 0 if libvirt lacks it */
	bool decode_guest;   /* libvirt may name a guest CPU (host-model) after it */
	/* libvirt's vendor for the model, which its decode matches against;
	 * NULL for libvirt's vendor-less models (486, qemu64, kvm64, ...) even
	 * though QEMU gives every model a vendor. */
	char *libvirt_vendor;
};

struct gw_cpu_modeldb {
	char *source;        /* e.g. "QEMU 10.0.2" */
	struct gw_cpu_model *models;
	size_t n;
	/* KubeVirt's obsoleteCPUModels: replaced as a whole when configured. */
	struct gw_strv obsolete;
};

/* The database built into the binary (QEMU 10.0, data/cpu/). */
int gw_cpu_modeldb_builtin(struct gw_cpu_modeldb **db, struct gw_err **err);
/* A database file written by gw_cpu_modeldb_format (`godwit cpu models --from-qemu -o tsv`). */
int gw_cpu_modeldb_load(const char *path, struct gw_cpu_modeldb **db, struct gw_err **err);
int gw_cpu_modeldb_parse(const char *name, const char *text, struct gw_cpu_modeldb **db,
			 struct gw_err **err);
char *gw_cpu_modeldb_format(const struct gw_cpu_modeldb *db);
void gw_cpu_modeldb_free(struct gw_cpu_modeldb *db);
/* Adds one model (the database takes `m`'s strings); fails past GW_CPU_MODEL_MAX. */
int gw_cpu_modeldb_add(struct gw_cpu_modeldb *db, struct gw_cpu_model *m, struct gw_err **err);
/* Generates a database by asking a QEMU binary (QMP query-cpu-definitions
 * and a full query-cpu-model-expansion of every named model, under TCG
 * with KVM's accelerator defaults; see src/cpu/qemu_probe.c for exactly
 * which features that leaves out and why). Starts and stops QEMU. */
int gw_cpu_modeldb_from_qemu(const char *qemu_binary, struct gw_cpu_modeldb **db,
			     struct gw_err **err);
/* Fills libvirt_order and decode_guest from libvirt's model list. */
void gw_cpu_modeldb_apply_libvirt(struct gw_cpu_modeldb *db);
/* Exact (case-sensitive, as QEMU) index of a model, or -1. */
int gw_cpu_modeldb_find(const struct gw_cpu_modeldb *db, const char *name);
/* Same; an unknown model is an error suggesting the nearest names. */
int gw_cpu_modeldb_lookup(const struct gw_cpu_modeldb *db, const char *name, struct gw_err **err);
bool gw_cpu_modeldb_is_obsolete(const struct gw_cpu_modeldb *db, const char *name);
/* KubeVirt's default obsoleteCPUModels (34 names). */
void gw_cpu_default_obsolete(struct gw_strv *out);
/* a's features are a subset of b's. */
bool gw_cpu_model_below(const struct gw_cpu_model *a, const struct gw_cpu_model *b);

/* ---- host profiles ------------------------------------------------------ */
enum gw_cpu_profile_kind {
	GW_CPU_PROFILE_JSON,        /* {"name","vendor","features":[...]} */
	GW_CPU_PROFILE_CPUID,       /* this host's CPUID instruction (+ MSRs) */
	GW_CPU_PROFILE_KVM,         /* what this host's KVM offers guests */
	GW_CPU_PROFILE_QEMU,        /* QEMU's own view (-cpu host / max expansion) */
	GW_CPU_PROFILE_DOMCAPS,     /* virsh domcapabilities XML */
	GW_CPU_PROFILE_CPUID_DUMP,  /* `cpuid -1 -r` output */
	GW_CPU_PROFILE_NODE,        /* a Kubernetes Node's labels */
};
const char *gw_cpu_profile_kind_name(enum gw_cpu_profile_kind k);

struct gw_cpu_profile {
	char *name;                 /* host name */
	char *origin;               /* file it came from, or "this host" */
	enum gw_cpu_profile_kind kind;
	char *vendor;               /* "Intel", "AMD", "Hygon", or NULL */
	int family, model, stepping; /* -1 when unknown */
	struct gw_featset features; /* what the host can offer a guest */
	/* The hypervisor's own answer, when the source has one (QEMU,
	 * domcapabilities, node labels): it wins over Godwit's computation. */
	bool has_usable;
	struct gw_strv usable;      /* models it calls usable */
	struct gw_strv known;       /* models it knows, usable or not */
	char *host_model;           /* its host-model name, or NULL */
	struct gw_featset host_model_require; /* features the host-model adds */
	struct gw_featset host_model_disable; /* model features the host lacks */
	/* node-labeller extras (domcapabilities directory) */
	struct gw_strv machines;
	uint64_t tsc_hz;            /* 0 when unknown */
	int tsc_scalable;           /* -1 unknown, 0, 1 */
};

struct gw_cpu_profiles {
	struct gw_cpu_profile **v;
	size_t n;
};

struct gw_cpu_profile *gw_cpu_profile_new(enum gw_cpu_profile_kind kind, const char *name,
					  const char *origin);
void gw_cpu_profile_free(struct gw_cpu_profile *p);
void gw_cpu_profiles_init(struct gw_cpu_profiles *ps);
void gw_cpu_profiles_fini(struct gw_cpu_profiles *ps);
/* Takes ownership of p. */
void gw_cpu_profiles_add(struct gw_cpu_profiles *ps, struct gw_cpu_profile *p);

/* A file or a directory of files, in any of the formats (detected). One
 * file may hold several hosts (a Node list). */
int gw_cpu_profile_load(const struct gw_cpu_modeldb *db, const char *path,
			struct gw_cpu_profiles *out, struct gw_err **err);
/* Readers of each format; `origin` names the input in errors. */
int gw_cpu_profile_from_json(const json_t *doc, const char *origin, struct gw_cpu_profile **out,
			     struct gw_err **err);
int gw_cpu_profile_from_domcaps(const struct gw_cpu_modeldb *db, const char *xml, size_t len,
				const char *origin, struct gw_cpu_profile **out, struct gw_err **err);
int gw_cpu_profile_from_cpuid_dump(const char *text, const char *origin,
				   struct gw_cpu_profile **out, struct gw_err **err);
int gw_cpu_profile_from_nodes(const json_t *doc, const char *origin, struct gw_cpu_profiles *out,
			      struct gw_err **err);
/* This host, through the CPUID instruction and feature MSRs (kvm=false),
 * or through KVM_GET_SUPPORTED_CPUID and KVM's feature MSRs (kvm=true). */
int gw_cpu_profile_from_host(bool kvm, struct gw_cpu_profile **out, struct gw_err **err);
/* QEMU's own view of this host (kind GW_CPU_PROFILE_QEMU): the expansion
 * of `-cpu host` under KVM (kvm=true; -ENODEV without /dev/kvm) or of
 * `-cpu max` under TCG, and QEMU's usable/known models from
 * query-cpu-definitions' unavailable-features. Starts and stops QEMU. */
int gw_cpu_profile_from_qemu(const struct gw_cpu_modeldb *db, const char *qemu_binary, bool kvm,
			     struct gw_cpu_profile **out, struct gw_err **err);

/* Decodes raw CPUID registers of one leaf/subleaf into features. */
void gw_cpu_decode_cpuid(uint32_t leaf, uint32_t subleaf, const uint32_t regs[4],
			 struct gw_featset *out);
/* Decodes a feature MSR value (0x10a, 0xcf) into features. */
void gw_cpu_decode_msr(uint32_t index, uint64_t value, struct gw_featset *out);
/* Vendor name from the 12-byte CPUID leaf 0 string, or NULL. */
const char *gw_cpu_vendor_from_cpuid(const char id[12]);
/* Canonical vendor name ("Intel", "AMD", "Hygon") of a spelling such as
 * "GenuineIntel" or "intel", or NULL when unknown. */
const char *gw_cpu_vendor_canonical(const char *vendor);

/* ---- computations ------------------------------------------------------- */
/* Models usable on the host: the hypervisor's own answer when the profile
 * has one, else every model whose QEMU features the host has. */
void gw_cpu_usable(const struct gw_cpu_modeldb *db, const struct gw_cpu_profile *p,
		   struct gw_modelset *out);
/* Models the host knows (cpu-model-migration labels): the hypervisor's
 * list when the profile has one, else every model libvirt and QEMU share. */
void gw_cpu_known(const struct gw_cpu_modeldb *db, const struct gw_cpu_profile *p,
		  struct gw_modelset *out);

/* host-model: the closest model plus extra features (libvirt's guest decode). */
struct gw_cpu_hostmodel {
	int model;                  /* database index, -1 if the hypervisor named an unknown model */
	char *name;
	struct gw_featset require;  /* features added to the model */
	struct gw_featset disable;  /* model features the host lacks */
};
int gw_cpu_host_model(const struct gw_cpu_modeldb *db, const struct gw_cpu_profile *p,
		      struct gw_cpu_hostmodel *out, struct gw_err **err);
void gw_cpu_hostmodel_fini(struct gw_cpu_hostmodel *hm);
/* Guest decode of an arbitrary feature set (also used by baseline). */
int gw_cpu_decode_guest(const struct gw_cpu_modeldb *db, const struct gw_featset *features,
			const char *vendor, int family, int model, int stepping,
			struct gw_cpu_hostmodel *out);

/* KubeVirt node labels (kubevirt-behaviour.md section 1). */
struct gw_cpu_label_config {
	bool obsolete_configured;   /* obsoleteCPUModels set in the KubeVirt CR */
	struct gw_strv obsolete;    /* the configured map's keys */
};
void gw_cpu_label_config_init(struct gw_cpu_label_config *c);
void gw_cpu_label_config_fini(struct gw_cpu_label_config *c);
/* Reads spec.configuration.obsoleteCPUModels of a KubeVirt document. */
int gw_cpu_label_config_from_kubevirt(const json_t *kubevirt, const char *origin,
				      struct gw_cpu_label_config *c, struct gw_err **err);
/* The labels the node labeller would write for this host (object of strings). */
int gw_cpu_labels(const struct gw_cpu_modeldb *db, const struct gw_cpu_profile *p,
		  const struct gw_cpu_label_config *c, json_t **labels, struct gw_err **err);
/* Reconciles a Node object as the labeller does: skip-node annotation,
 * owned stale labels removed, others kept. *changed says whether it
 * would patch the Node. */
int gw_cpu_labels_apply(json_t *node, const json_t *labels, bool *changed, struct gw_err **err);
/* True for label keys the labeller owns (removed when stale). */
bool gw_cpu_label_owned(const char *key);

/* Compare two hosts. */
enum gw_cpu_relation {
	GW_CPU_IDENTICAL,
	GW_CPU_SUPERSET,     /* a has everything b has, and more */
	GW_CPU_SUBSET,       /* b has everything a has, and more */
	GW_CPU_INCOMPATIBLE, /* each has something the other lacks, or vendors differ */
};
const char *gw_cpu_relation_name(enum gw_cpu_relation r);
struct gw_cpu_comparison {
	enum gw_cpu_relation relation;
	bool vendor_mismatch;
	struct gw_featset only_a;   /* features a has and b lacks */
	struct gw_featset only_b;
};
void gw_cpu_compare(const struct gw_cpu_profile *a, const struct gw_cpu_profile *b,
		    struct gw_cpu_comparison *out);

/* Baseline of any number of hosts. */

/* Hosts that lack the same features for one blocked model. */
struct gw_cpu_blocked_group {
	struct gw_featset missing;  /* empty: the hypervisor says unusable for other reasons */
	size_t *hosts;              /* indices into the baseline's hosts */
	size_t n_hosts;
};
/* A model just above (or a sibling variant of) a maximal common model
 * that is not usable on every host, and why. */
struct gw_cpu_blocked {
	int model;                  /* db index of the displayed name */
	int maximal;                /* db index of the maximal model it was found from */
	struct gw_cpu_blocked_group *groups;
	size_t n_groups;
};

struct gw_cpu_baseline {
	struct gw_featset common;       /* features every host has */
	struct gw_modelset common_models; /* models usable on every host */
	int *maximal;                   /* maximal common models (db indices), best first */
	size_t n_maximal;
	int recommended;                /* db index, -1 when no model is common */
	char *reason;                   /* why that one */
	int level;                      /* highest x86-64-vN level common to all, 0 if none */
	struct gw_cpu_hostmodel custom; /* "model + features" custom baseline */
	bool mixed_vendors;
	struct gw_strv vendors;         /* distinct vendors, sorted */
	/* Extensions: per maximal model (same order), the other names with
	 * exactly its features, e.g. Cascadelake-Server-v1 for Cascadelake-Server. */
	struct gw_strv *aliases;
	/* Models just above the maximal ones that some hosts block. */
	struct gw_cpu_blocked *blocked;
	size_t n_blocked;
};
int gw_cpu_baseline(const struct gw_cpu_modeldb *db, struct gw_cpu_profile *const *hosts, size_t n,
		    struct gw_cpu_baseline *out, struct gw_err **err);
void gw_cpu_baseline_fini(struct gw_cpu_baseline *b);
/* The report: models, recommended, reason, level, custom, vendors, and
 * lost (host -> answer -> group -> features). */
json_t *gw_cpu_baseline_to_json(const struct gw_cpu_modeldb *db, struct gw_cpu_profile *const *hosts,
				size_t n, const struct gw_cpu_baseline *b);
/* Features of `host` that a guest CPU of `guest` features does not see.
 * QEMU under KVM gives every guest `hypervisor` and `x2apic` whatever its
 * model (cpu-models.md c.6), so those are never lost. */
void gw_cpu_lost(const struct gw_featset *host, const struct gw_featset *guest, struct gw_featset *out);
/* gw_cpu_lost, by group. */
json_t *gw_cpu_lost_to_json(const struct gw_featset *host, const struct gw_featset *guest);

#endif

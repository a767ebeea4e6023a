/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by report.c (VMs against node classes) and report_cluster.c
 * (CPU domains, recommended model). Not installed. */
#ifndef GODWIT_REPORT_INT_H
#define GODWIT_REPORT_INT_H

#include <pthread.h>
#include <time.h>

#include "sched_int.h"

/* A placement signature: what decides which nodes may take a VM. */
struct sig {
	struct gw_map selector;
	struct gw_node_affinity affinity;
	const struct gw_vmi *rep;          /* a VMI with it (its tolerations) */
	json_t *selector_json, *affinity_json;
	char *selector_text;               /* compact selector, then affinity (vm_text) */
	size_t selector_len;               /* where the affinity starts */
	size_t affinity_len;
	struct verdict **verdicts;         /* per node class, computed on first use */
	void *verdict_mem;                 /* all of them in one block (verdicts_of), or NULL */
	struct sel_id *sel_ids;            /* selector entry i as ids (on first verdict) */
};

/* A selector entry as the verdicts compare it (label_ids): key=want
 * holds on a class whose value id for `key` is `want`. */
struct sel_id {
	size_t key;                        /* label key id */
	uint32_t want;                     /* value id, UINT32_MAX when no class has the value */
	bool schedulable;                  /* sched_selector_schedulable */
	size_t subject;                    /* the key's subject id */
};

/* Why the nodes of a class cannot take VMs of a signature (empty: they can). */
struct verdict {
	size_t n;
	enum gw_reason_code *code;
	size_t *subject;                   /* interned subject id; 0 = none (node-named reasons) */
};

/* A text in pieces (o.text_iov): runs of a buffer (by offset: it may
 * move while it grows) and texts the report keeps until its end. */
struct piece {
	const char *s;                     /* NULL: the buffer's, at off */
	size_t off, len;
};
struct pieces {
	struct piece *v;
	size_t n, cap;
	size_t mark;                       /* the buffer's text from here is in no piece yet */
};

/* Nodes equal in every label some selector names, taints and cordon. */
struct node_class {
	size_t *nodes;                     /* node indices, ascending */
	size_t n;
};

/* Nodes of a class without room for a (CPU, memory) request. */
struct capacity {
	struct {
		size_t node;
		bool cpu, mem;
	} *bad;                            /* ascending node index */
	size_t n;
};

struct vm_rec {
	ssize_t sig;                       /* -1: no target selector (selector_error) */
	char *selector_error;
	ssize_t source;                    /* node index, -1 when missing */
	ssize_t alt_rec;                   /* signature under the recommended model, or -1 */
	ssize_t alt_prev;                  /* under the cpuModel before --set-cpu-model, or -1 */
};

/* Rejected nodes of one VM for one (reason, subject). */
struct group {
	enum gw_reason_code code;
	size_t subject;                    /* interned id, 0 = none */
	size_t count;                      /* all of them */
	size_t *idx, n, cap_idx;           /* the first ones (capped) */
	size_t from;                       /* memo group + 1 it equals (its text: memo.frag; with
					    * that text, idx is left empty), or 0 */
};

struct eval {
	size_t eligible;                   /* all of them */
	size_t *elig, n_elig, cap_elig;    /* the first ones (capped) */
	const struct memo *memo;           /* where they come from (report_eval) */
	bool elig_from_memo;               /* elig is the memo's list (with its text, left empty) */
	struct group *g;
	size_t ng, capg;
	bool sorted;                       /* g is in the report's order (cmp_group) */
	/* (subject id, code) -> group index + 1 when stamp matches this VM */
	uint32_t *slot, *stamp, gen;
	size_t cap_slot;
	struct sched_policy_memo *policies; /* this thread's (vm_text), made on first use */
	struct gw_buf text;                /* memo_text's */
	struct arena {                     /* the memos' memory (arena_alloc) */
		char *p;
		size_t left;
	} arena;
	struct pieces *pieces;             /* vm_text's shared texts go there, not copied (or NULL) */
};

/* A signature's verdict over every class for one (CPU, memory) request,
 * with no source node: lists hold one name more than the cap, so that
 * removing a VM's own source node still leaves a full list. */
struct memo {
	struct group *g;
	size_t ng;
	size_t eligible;
	size_t *elig, n_elig;
	/* Text reports: each group's object and the list of eligible names as
	 * a VM whose source node is in neither has them (vm_text copies them):
	 * group i's text is text[frag[i]..frag[i + 1]), the list's
	 * text[frag[ng]..len). */
	char *text;
	size_t *frag, len;
};

/* (index, cpu, mem) -> dense index: the memos and capacities are looked
 * up once per class and VM, too often for formatted string keys. */
struct triple_slot {
	size_t a;
	int64_t b, c;
	size_t value;     /* + 1; 0 = empty slot */
};
struct triple_index {
	struct triple_slot *slots;
	size_t cap, n;    /* cap: a power of two */
};

struct report {
	const struct gw_cluster *c;
	const struct gw_cpu_modeldb *db;
	const struct gw_rule_set *rules;
	struct gw_check_options o;
	struct timespec mark;              /* o.timings: the last phase's end */
	json_t *node_index;                /* name -> node index */
	json_t *vmim_index;                /* ns/vmi -> pending VMIM index */
	json_t **node_json;                /* shared name strings */
	struct {
		char *s;                   /* quoted, escaped (vm_text) */
		size_t len;
	} *node_text;
	int64_t *used_cpu, *used_mem;      /* per node */
	struct sig *sigs;
	size_t n_sigs, cap_sigs;
	json_t *sig_index;                 /* signature key -> index */
	json_t *referenced;                /* label keys some signature names -> key id */
	size_t n_referenced;
	const char **class_labels;         /* [class * n_referenced + key id]: the value, or NULL */
	uint32_t *class_vals;              /* the same as value ids (label_ids), 0 for none */
	json_t *value_ids;                 /* label value -> id (1-based) */
	size_t *key_subject;               /* label key id -> subject id */
	struct node_class *classes;
	size_t n_classes;
	size_t *node_class;                /* node index -> class */
	struct capacity **caps;            /* per request, per class (capacities) */
	size_t n_caps;
	struct triple_index cap_index;     /* (0, cpu, mem) -> index */
	json_t *subject_index;             /* subject -> id (1-based) */
	struct gw_strv subjects;           /* id - 1 -> subject */
	struct vm_rec *vms;
	struct memo **memos;
	size_t n_memos;
	struct triple_index memo_index;    /* (sig, cpu, mem) -> index */
	char *recommended;                 /* recommended cluster model, or NULL */
	bool frozen;                       /* precomputed: lookups only (write_parallel) */
	bool text;                         /* the VMs as text: memos keep theirs */
	pthread_mutex_t arena_mu;          /* guards arena_blocks */
	void **arena_blocks;
	size_t n_arena_blocks;
	bool subjects_frozen;              /* every subject interned: subject_id only looks up */
};

int64_t report_memory_request(const struct gw_vmi_spec *s);
ssize_t report_node_index(const struct report *x, const char *name);
json_t *report_node_name(struct report *x, size_t i);
char *report_vm_name(const struct gw_vmi *vmi);
void report_eval(struct report *x, const struct gw_vmi *vmi, size_t sig, ssize_t source, bool lists,
		 struct eval *e);
/* cluster.domains; sets x->recommended and *recommended (the
 * recommendedCpuModel object without "frees"; NULL when there is none). */
json_t *report_domains(struct report *x, json_t **recommended);

#endif

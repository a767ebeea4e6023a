/* SPDX-License-Identifier: Apache-2.0 */
/* godwit check: the pre-flight report over a whole cluster (docs/report.md). */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
	"usage: godwit check (-f PATH... | --server URL) [--rules godwit|kubevirt] [--add-node P]... [--set-cpu-model M]\n"
	"                    [--remove-node N]... [--max-nodes N] [--parse-only] [--timings] [--model-db FILE]\n"
	"                    [-o table|json]\n"
	"\n"
	"Per VM: migratable (every blocker), CPU model, target selectors, eligible targets, rejected\n"
	"nodes by reason; for the cluster: VMs without target, what draining each node strands, CPU\n"
	"domains, the recommended cluster CPU model. Exit 0 when the report is produced (also when\n"
	"VMs are stranded), 1 when it cannot be written whole, 2 on a bad command line, 3 on bad\n"
	"input.\n"
	"\n";

static const char usage_check[] =
	"  --max-nodes N          list at most N node names per list (default 20; 0: all); the\n"
	"                         \"count\" beside each list is always complete\n"
	"  --parse-only           load, decode and link the input, print its size, no report\n"
	"                         (the baseline of bench/check_bench.sh)\n"
	"  --timings              print the wall time of loading and of each phase of the report\n"
	"                         to stderr\n";

enum { OPT_PARSE_ONLY = GW_CLI_OPT_FIRST_FREE, OPT_MAX_NODES, OPT_TIMINGS };

struct table_ctx {
	struct gw_table *t;
};

/* The reason a VM would stay where it is: its first blocker, else (no
 * target) the rejection that covers the most nodes. */
static char *top_reason(const json_t *vm)
{
	const json_t *b = json_array_get(json_object_get(vm, "blockers"), 0);
	if (b)
		return gw_asprintf("%s%s%s", json_string_value(json_object_get(b, "reason")),
				   json_is_string(json_object_get(b, "subject")) ? " " : "",
				   json_is_string(json_object_get(b, "subject"))
					   ? json_string_value(json_object_get(b, "subject")) : "");
	if (json_integer_value(json_object_get(json_object_get(vm, "eligibleTargets"), "count")) > 0)
		return gw_strdup("-");
	const json_t *err = json_object_get(vm, "selectorError");
	if (json_is_string(err))
		return gw_strdup(json_string_value(err));
	const json_t *best = NULL;
	size_t i;
	json_t *g;
	json_array_foreach(json_object_get(vm, "rejected"), i, g) {
		if (!strcmp(json_string_value(json_object_get(g, "reason")), "SourceNode"))
			continue;
		if (!best || json_integer_value(json_object_get(g, "count")) >
				     json_integer_value(json_object_get(best, "count")))
			best = g;
	}
	if (!best)
		return gw_strdup("no other node");
	const char *subject = json_string_value(json_object_get(best, "subject"));
	return gw_asprintf("%s %s (%lld nodes)", json_string_value(json_object_get(best, "reason")),
			   subject ? subject : "", (long long)json_integer_value(json_object_get(best, "count")));
}

static void table_vm(json_t *vm, void *data)
{
	struct table_ctx *ctx = data;
	char *name = gw_asprintf("%s/%s", json_string_value(json_object_get(vm, "namespace")),
				 json_string_value(json_object_get(vm, "name")));
	char count[24];
	snprintf(count, sizeof(count), "%lld",
		 (long long)json_integer_value(json_object_get(json_object_get(vm, "eligibleTargets"), "count")));
	char *reason = top_reason(vm);
	const char *node = json_string_value(json_object_get(vm, "node"));
	const char *row[] = {name, node ? node : "-", json_string_value(json_object_get(vm, "cpuModel")),
			     json_is_true(json_object_get(vm, "migratable")) ? "yes" : "no", count, reason};
	gw_table_add(ctx->t, row);
	free(name);
	free(reason);
	json_decref(vm);
}

static void print_names(const char *label, const json_t *list, size_t max)
{
	struct gw_strv words;
	gw_strv_init(&words);
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) {
		if (i == max) {
			gw_strv_push_take(&words, gw_asprintf("(and %zu more)", json_array_size(list) - max));
			break;
		}
		gw_strv_push(&words, json_string_value(v));
	}
	gw_print_wrapped(stdout, label, &words, 100);
	gw_strv_fini(&words);
}

static void print_cluster(const json_t *rest)
{
	const json_t *c = json_object_get(rest, "cluster");
	printf("\ncluster: %lld nodes, %lld VMs (rules %s)\n", (long long)json_integer_value(json_object_get(c, "nodes")),
	       (long long)json_integer_value(json_object_get(c, "vms")),
	       json_string_value(json_object_get(rest, "rules")));
	print_names("  without target    ", json_object_get(c, "vmsWithoutTarget"), 20);
	const json_t *ds = json_object_get(c, "drainStrands");
	printf("  drain strands     %zu node%s\n", json_object_size(ds), json_object_size(ds) == 1 ? "" : "s");
	const char *node;
	json_t *list;
	size_t shown = 0;
	json_object_foreach((json_t *)ds, node, list) {
		if (shown++ == 20) {
			printf("    (and %zu more nodes: -o json)\n", json_object_size(ds) - 20);
			break;
		}
		char *label = gw_asprintf("    %-16s ", node);
		print_names(label, list, 10);
		free(label);
	}
	const json_t *doms = json_object_get(c, "domains");
	printf("  CPU domains       %zu\n", json_array_size(doms));
	size_t i;
	json_t *d;
	json_array_foreach(doms, i, d) {
		const char *hm = json_string_value(json_object_get(d, "hostModel"));
		const char *vendor = json_string_value(json_object_get(d, "vendor"));
		char *label = gw_asprintf("    %s %s, %lld models, %lld nodes: ", vendor ? vendor : "?", hm ? hm : "(no host model)",
					  (long long)json_integer_value(json_object_get(d, "models")),
					  (long long)json_integer_value(json_object_get(d, "count")));
		print_names(label, json_object_get(d, "nodes"), 5);
		free(label);
	}
	const json_t *rec = json_object_get(c, "recommendedCpuModel");
	if (json_is_object(rec)) {
		const char *m = json_string_value(json_object_get(rec, "model"));
		printf("  recommended model %s\n", m ? m : "none");
		const char *why = json_string_value(json_object_get(rec, "reason"));
		if (why)
			printf("    because         %s\n", why);
		if (m)
			print_names("    would free      ", json_object_get(rec, "frees"), 20);
	}
	const json_t *w = json_object_get(c, "setCpuModel");
	if (json_is_object(w)) {
		const char *before = json_string_value(json_object_get(w, "cpuModelBefore"));
		printf("  what if cpuModel  %s (now %s); after their next start:\n",
		       json_string_value(json_object_get(w, "cpuModelAfter")), before ? before : "host-model");
		print_names("    model changes   ", json_object_get(w, "restartChangesModel"), 20);
		print_names("    freed           ", json_object_get(w, "freed"), 20);
		print_names("    stranded        ", json_object_get(w, "stranded"), 20);
	}
	const json_t *f = json_object_get(rest, "findings");
	printf("\nfindings (%zu)\n", json_array_size(f));
	json_array_foreach(f, i, d)
		printf("  %s: %s\n", json_string_value(json_object_get(d, "where")),
		       json_string_value(json_object_get(d, "message")));
}

/* Each VM's compact JSON comes as text from the report (no jansson
 * values per VM: building and walking them was a third of the check's
 * own time on big clusters). */
struct json_writer {
	bool first;
	int failed;                        /* errno of json_iov's failed write, else 0 */
};

static void json_vm(const char *vm, size_t len, void *data)
{
	struct json_writer *w = data;
	fputs(w->first ? "\n" : ",\n", stdout);
	w->first = false;
	fwrite(vm, 1, len, stdout);
}

/* VMs in pieces (text_iov), written as they are: most of their ~1.2 GB
 * on a big cluster are texts many VMs share, never copied. After a
 * failed write, nothing more is written (as stdio does). */
static void json_iov(const struct iovec *iov, size_t n, void *data)
{
	struct json_writer *w = data;
	json_vm("", 0, data);
	if (w->failed || fflush(stdout) != 0)
		return;
	struct iovec v[IOV_MAX];
	size_t i = 0, k = 0;
	while (i < n || k) {
		for (; i < n && k < IOV_MAX; i++)
			v[k++] = iov[i];
		ssize_t put = writev(STDOUT_FILENO, v, (int)k);
		if (put < 0 && errno == EINTR)
			continue;
		if (put < 0) {
			w->failed = errno;
			return;
		}
		/* drop what was written, keep the rest of a partial write */
		size_t j = 0;
		for (; j < k && (size_t)put >= v[j].iov_len; j++)
			put -= (ssize_t)v[j].iov_len;
		if (j < k) {
			v[j].iov_base = (char *)v[j].iov_base + put;
			v[j].iov_len -= (size_t)put;
		}
		memmove(v, v + j, (k - j) * sizeof(*v));
		k -= j;
	}
}

/* Freeing a big cluster object by object takes a tenth of the whole run
 * (10,000 nodes, 100,000 VMIs: millions of small allocations) for memory
 * the process returns at exit anyway. Small inputs (every test, under
 * LeakSanitizer) are freed. */
#define FREE_AT_EXIT_MAX_DOCS 50000

static void release_cluster(struct gw_cluster *c)
{
	if (c && c->n_docs > FREE_AT_EXIT_MAX_DOCS)
		return;
	gw_cluster_free(c);
}

static int run(struct gw_cli_cluster_opts *o, const struct gw_check_options *co)
{
	struct gw_err *err = NULL;
	struct gw_cpu_modeldb *db = NULL;
	struct gw_cluster *c = NULL;
	struct timespec t0 = {0};
	if (co->timings)
		gw_check_timing(&t0, NULL);
	if (gw_cli_cluster_load(o, &db, &c, &err) < 0)
		return gw_cli_fail(err);
	if (co->timings)
		gw_check_timing(&t0, "load");
	struct gw_check_options opts = *co;
	opts.whatif_set_cpu_model = o->whatif.set_cpu_model != NULL;
	opts.previous_cpu_model = o->previous_cpu_model;
	json_t *rest;
	int w_failed = 0;                  /* json_iov's errno */
	if (o->output == GW_OUTPUT_JSON) {
		/* Streamed VM by VM: the report of 100,000 VMs is never one tree. */
		struct json_writer w = {.first = true};
		/* A VM's text is ~12 KiB: stdio's 4 KiB buffer wrote each
		 * straight through, one write(2) per VM. (glibc ignores the
		 * size unless given the buffer.) */
		static char buf[1 << 20];
		setvbuf(stdout, buf, _IOFBF, sizeof(buf));
		opts.text_join = ",\n";   /* json_vm's separator */
		opts.text_iov = json_iov;
		printf("{\"rules\": \"%s\", \"vms\": [", o->rules->name);
		rest = gw_sched_check_stream_text(c, db, o->rules, &opts, json_vm, &w);
		printf("%s],\n", w.first ? "" : "\n");
		const char *key;
		json_t *v;
		size_t n = 0, total = json_object_size(rest);
		json_object_foreach(rest, key, v) {
			if (!strcmp(key, "rules")) {
				total--;
				continue;
			}
			printf("\"%s\": ", key);
			json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
			printf("%s\n", ++n < total ? "," : "");
		}
		printf("}\n");
		w_failed = w.failed;
	} else {
		const char *head[] = {"VM", "NODE", "MODEL", "MIGRATABLE", "TARGETS", "REASON"};
		struct table_ctx ctx = {gw_table_new(6, head)};
		rest = gw_sched_check_stream(c, db, o->rules, &opts, table_vm, &ctx);
		gw_table_print(ctx.t, stdout);
		gw_table_free(ctx.t);
		print_cluster(rest);
	}
	/* A report cut short (a full disk, a closed pipe) is a failure,
	 * not a success with less output. */
	int rc = GW_EXIT_OK, write_errno = fflush(stdout) != 0 || ferror(stdout) ? errno : w_failed;
	if (write_errno || ferror(stdout)) {
		fprintf(stderr, "godwit: check: writing the report to standard output: %s\n",
			strerror(write_errno ? write_errno : EIO));
		rc = GW_EXIT_FAILURE;
	}
	for (size_t i = 0; i < c->n_findings && o->output == GW_OUTPUT_JSON && i < 1 && rc == GW_EXIT_OK; i++)
		fprintf(stderr, "godwit: warning: %zu finding%s about the input (see \"findings\")\n", c->n_findings,
			c->n_findings == 1 ? "" : "s");
	json_decref(rest);
	release_cluster(c);
	gw_cpu_modeldb_free(db);
	return rc;
}

static int parse_only(const struct gw_cli_cluster_opts *o, bool timings)
{
	struct gw_err *err = NULL;
	struct gw_cluster *c = NULL;
	struct timespec t0 = {0};
	if (timings)
		gw_check_timing(&t0, NULL);
	if (gw_cli_cluster_parse(o, &c, &err) < 0)
		return gw_cli_fail(err);
	if (timings)
		gw_check_timing(&t0, "load");
	json_t *out = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "documents", (json_int_t)c->n_docs, "skipped",
				(json_int_t)c->n_skipped, "nodes", (json_int_t)c->n_nodes, "vmis",
				(json_int_t)c->n_vmis, "pods", (json_int_t)c->n_pods, "findings",
				(json_int_t)c->n_findings);
	if (o->output == GW_OUTPUT_JSON)
		gw_json_print(stdout, out);
	else
		printf("%lld documents (%lld skipped): %zu nodes, %zu VMIs, %zu pods, %zu findings\n",
		       (long long)c->n_docs, (long long)c->n_skipped, c->n_nodes, c->n_vmis, c->n_pods, c->n_findings);
	json_decref(out);
	release_cluster(c);
	return GW_EXIT_OK;
}

/* A big cluster's check allocates some 0.5 GiB, mostly in small pieces
 * spread over the heap, and each phase of the report frees much of what
 * it used. With glibc's defaults the heap grows by little steps, its top
 * goes back to the kernel as soon as 128 kB are free, and every 4 kB
 * page is faulted in one by one (costly on a VM), then missed in the TLB
 * by the hash tables' random lookups. So the heap is grown once, by
 * HEAP_RESERVE of address space (only what is touched is memory), kept,
 * and asked for transparent huge pages: what glibc's malloc.hugetlb
 * tunable does, which users cannot be asked to set. */
#define HEAP_RESERVE ((size_t)768 << 20)
#define HUGE_PAGE ((uintptr_t)2 << 20)

#ifdef GODWIT_ALLOCATOR_JEMALLOC
/* jemalloc (the default build) keeps its memory and takes huge pages by
 * itself: malloc_conf in main.c. mallopt and the heap's break are glibc's. */
static void malloc_for_big_runs(void)
{
}
#else
static void malloc_for_big_runs(void)
{
	mallopt(M_TRIM_THRESHOLD, (int)(2 * HEAP_RESERVE));
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TOP_PAD, (int)HEAP_RESERVE);
	/* Grows the heap by the pad, now: the first allocation bigger than
	 * its free top (volatile: a malloc freed unused may be left out). */
	uintptr_t before = (uintptr_t)sbrk(0);
	void *volatile p = malloc(1 << 20);
	uintptr_t top = (uintptr_t)sbrk(0);
	free(p);
	mallopt(M_TOP_PAD, 64 << 20);
	/* Not grown (another malloc, no brk): nothing to ask. */
	if (before == (uintptr_t)-1 || top == (uintptr_t)-1 || top - before < HEAP_RESERVE)
		return;
	uintptr_t from = (before + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	/* Nothing lost when refused (no THP in this kernel). */
	(void)madvise((void *)from, top - from, MADV_HUGEPAGE);
}
#endif

int gw_cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		GW_CLI_CLUSTER_LONGOPTS,
		{"parse-only", no_argument, NULL, OPT_PARSE_ONLY},
		{"max-nodes", required_argument, NULL, OPT_MAX_NODES},
		{"timings", no_argument, NULL, OPT_TIMINGS},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct gw_cli_cluster_opts o;
	struct gw_check_options co;
	bool only_parse = false;
	gw_cli_cluster_opts_init(&o);
	o.drop_docs = true;
	gw_check_options_init(&co);
	int c, rc = -1;
	optind = 1;
	while (rc < 0 && (c = getopt_long(argc, argv, GW_CLI_CLUSTER_SHORTOPTS "h", opts, NULL)) != -1) {
		int taken = gw_cli_cluster_option(&o, c, optarg);
		if (taken < 0) {
			rc = GW_EXIT_USAGE;
			break;
		}
		if (taken)
			continue;
		switch (c) {
		case OPT_PARSE_ONLY:
			only_parse = true;
			break;
		case OPT_TIMINGS:
			co.timings = true;
			break;
		case OPT_MAX_NODES: {
			uint64_t n;
			if (!gw_str_to_u64(optarg, &n) || n > 1000000000)
				rc = gw_cli_usage(NULL, "--max-nodes \"%s\": expected a number of nodes", optarg);
			co.max_nodes_listed = (size_t)n;
			break;
		}
		case 'h':
			fputs(usage, stdout);
			fputs(gw_cli_cluster_usage, stdout);
			fputs(usage_check, stdout);
			rc = GW_EXIT_OK;
			break;
		default:
			rc = gw_cli_usage(usage, "check: bad option");
			break;
		}
	}
	if (rc < 0 && optind < argc)
		rc = gw_cli_usage(usage, "check: unexpected argument \"%s\"", argv[optind]);
	if (rc < 0 && gw_cli_cluster_input_problem(&o))
		rc = gw_cli_usage(usage, "check: %s", gw_cli_cluster_input_problem(&o));
	if (rc < 0) {
		malloc_for_big_runs();
		rc = only_parse ? parse_only(&o, co.timings) : run(&o, &co);
	}
	gw_cli_cluster_opts_fini(&o);
	return rc;
}

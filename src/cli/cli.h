/* SPDX-License-Identifier: Apache-2.0 */
/* The command-line front end: thin commands over the library. */
#ifndef GODWIT_CLI_H
#define GODWIT_CLI_H

#include <stdio.h>

#include <getopt.h>

#include "godwit/client.h"
#include "godwit/cpu.h"
#include "godwit/sched.h"
#include "godwit/server.h"
#include "godwit/util.h"

/* Exit codes (docs/cli.md). */
enum {
	GW_EXIT_OK = 0,
	GW_EXIT_FAILURE = 1, /* the operation failed (I/O, QEMU, ...) */
	GW_EXIT_USAGE = 2,   /* bad command line */
	GW_EXIT_INPUT = 3,   /* bad input: a file, a model or feature name */
	GW_EXIT_UNSUPPORTED = 4, /* not possible on this host (no /dev/kvm, no QEMU) */
};

enum gw_output { GW_OUTPUT_TABLE, GW_OUTPUT_JSON };

/* Prints "godwit: <message>" once, and returns the exit code for it. */
int gw_cli_fail(struct gw_err *err);
int gw_cli_usage(const char *usage, const char *fmt, ...) GW_PRINTF(2, 3);
int gw_cli_parse_output(const char *arg, enum gw_output *out);

/* A plain text table: columns padded to their widest cell. */
struct gw_table;
struct gw_table *gw_table_new(size_t ncols, const char *const *headers);
void gw_table_add(struct gw_table *t, const char *const *cells);
void gw_table_print(struct gw_table *t, FILE *out);
void gw_table_free(struct gw_table *t);
/* "a b c" wrapped at width, each line after the first indented. */
void gw_print_wrapped(FILE *out, const char *label, const struct gw_strv *words, size_t width);

/* Features of a set, one line per non-empty group ("<indent>simd a b c",
 * names sorted),
 * wrapped at 100 columns; "<indent>-" when the set is empty. */
void gw_print_features_grouped(FILE *out, const char *indent, const struct gw_featset *s);
/* {"simd": [...], ...}: the non-empty groups of a set, names sorted. */
json_t *gw_cli_features_grouped_json(const struct gw_featset *s);
/* Indices of the models in `set`, highest first (most features; ties by
 * libvirt's newer-first order, then name). Caller frees *idx. */
void gw_cli_models_highest_first(const struct gw_cpu_modeldb *db, const struct gw_modelset *set, int **idx,
				 size_t *n);
/* Labels per key prefix (the part before '/'), one "<indent>prefix  N" line each. */
void gw_print_label_counts(FILE *out, const char *indent, const json_t *labels);
/* Exactly one host from a profile file; more or fewer is bad input. */
int gw_cli_load_one_profile(const struct gw_cpu_modeldb *db, const char *path, struct gw_cpu_profile **out,
			    struct gw_err **err);
/* One document of a YAML/JSON file; `kind` (may be NULL) picks the first
 * document of that kind when the file holds several. New reference. */
int gw_cli_load_doc(const char *path, const char *kind, json_t **out, struct gw_err **err);

/* The model database: --model-db FILE, else $GODWIT_CPU_MODEL_DB, else built in. */
int gw_cli_load_modeldb(const char *path, struct gw_cpu_modeldb **db, struct gw_err **err);

/* ---- client commands (src/cli/client_common.c) ---- */
/* Options every client command takes: --server, --token, --token-file,
 * --config. */
struct gw_cli_conn {
	const char *server, *token, *token_file, *config;
};
#define GW_CLI_CONN_OPTIONS                                                                         \
	{"server", required_argument, NULL, 0x100}, {"token", required_argument, NULL, 0x101},       \
	{"config", required_argument, NULL, 0x102}, {"token-file", required_argument, NULL, 0x103}
/* Takes one of the options above (returns true) or not (false). */
bool gw_cli_conn_option(struct gw_cli_conn *conn, int opt, const char *arg);
/* --token-file is read here (its first line; an empty or unreadable file
 * is an error naming it); --token and --token-file together are refused. */
int gw_cli_connect(const struct gw_cli_conn *conn, struct gw_client **client, struct gw_err **err);
/* The token of --token-file: the file's first line, without surrounding
 * blanks (the server writes DATA-DIR/token as 64 hex digits and a newline);
 * an empty first line or a NUL byte is an error naming the file. */
int gw_cli_read_token_file(const char *path, char **token, struct gw_err **err);
/* A resource by kind, plural or short name; an error naming the known ones. */
int gw_cli_resource(const char *name, const struct gw_server_resource **res, struct gw_err **err);
/* Namespace for a namespaced command: -n, else "default". */
const char *gw_cli_namespace(const char *ns);

/* YAML of a JSON value (block style; ambiguous strings quoted). */
int gw_cli_print_yaml(FILE *out, const json_t *value);

int gw_cmd_server(int argc, char **argv);
int gw_cmd_node(int argc, char **argv);
int gw_cmd_apply(int argc, char **argv);
int gw_cmd_get(int argc, char **argv);
int gw_cmd_describe(int argc, char **argv);
int gw_cmd_delete(int argc, char **argv);
int gw_cmd_migrate(int argc, char **argv);
int gw_cmd_migrate_cancel(int argc, char **argv);
int gw_cmd_drain(int argc, char **argv);
int gw_cmd_uncordon(int argc, char **argv);
int gw_cmd_watch(int argc, char **argv);

/* ---- cluster input shared by check, explain and plan ----------------------------
 * `-f PATH` (repeatable) or `--server URL` (with the client options above:
 * the cluster is read from a running server), `--rules godwit|kubevirt`, the what-ifs
 * (`--add-node`, `--set-cpu-model`, `--remove-node`, repeatable except the
 * model), `--model-db FILE` and `-o table|json`. A command puts
 * GW_CLI_CLUSTER_LONGOPTS in its option table and GW_CLI_CLUSTER_SHORTOPTS
 * in its short options, and passes every option getopt_long returns to
 * gw_cli_cluster_option first. */
enum {
	GW_CLI_OPT_RULES = 0x1000,
	GW_CLI_OPT_ADD_NODE,
	GW_CLI_OPT_SET_CPU_MODEL,
	GW_CLI_OPT_REMOVE_NODE,
	GW_CLI_OPT_MODEL_DB,
	GW_CLI_OPT_FIRST_FREE,   /* a command's own long-only options start here */
};
#define GW_CLI_CLUSTER_SHORTOPTS "f:o:"
#define GW_CLI_CLUSTER_LONGOPTS                                                    \
	{"file", required_argument, NULL, 'f'},                                     \
	{"output", required_argument, NULL, 'o'},                                   \
	{"rules", required_argument, NULL, GW_CLI_OPT_RULES},                       \
	{"add-node", required_argument, NULL, GW_CLI_OPT_ADD_NODE},                 \
	{"set-cpu-model", required_argument, NULL, GW_CLI_OPT_SET_CPU_MODEL},       \
	{"remove-node", required_argument, NULL, GW_CLI_OPT_REMOVE_NODE},           \
	{"model-db", required_argument, NULL, GW_CLI_OPT_MODEL_DB},                 \
	GW_CLI_CONN_OPTIONS
/* Usage lines for these options, for a command's --help. */
extern const char gw_cli_cluster_usage[];

struct gw_cli_cluster_opts {
	struct gw_strv inputs;             /* -f */
	struct gw_cli_conn conn;           /* --server, --token, ... (borrowed from argv) */
	const struct gw_rule_set *rules;   /* --rules; godwit by default */
	struct gw_whatif whatif;
	const char *model_db;              /* --model-db (borrowed from argv) */
	enum gw_output output;
	/* The command reads no object's JSON document (check): they are not
	 * kept (gw_cluster.drop_docs). */
	bool drop_docs;
	/* After gw_cli_cluster_load: the cluster cpuModel before --set-cpu-model
	 * (NULL when none), for gw_check_options.previous_cpu_model. */
	char *previous_cpu_model;
};
void gw_cli_cluster_opts_init(struct gw_cli_cluster_opts *o);
void gw_cli_cluster_opts_fini(struct gw_cli_cluster_opts *o);
/* 1: the option was one of these and is taken; 0: not one of these;
 * -1: a bad value (the message is printed; exit GW_EXIT_USAGE). */
int gw_cli_cluster_option(struct gw_cli_cluster_opts *o, int opt, const char *arg);
/* NULL when the input is one of -f and --server; else the usage message
 * ("give the cluster with -f PATH or --server URL", or both given). */
const char *gw_cli_cluster_input_problem(const struct gw_cli_cluster_opts *o);
/* Model database, every -f input (files or directories) loaded and
 * linked, or every resource of the --server, the what-ifs applied.
 * Without either: -EINVAL naming the options (the caller checks
 * gw_cli_cluster_input_problem first for a usage error). On failure nothing
 * is returned; the error names file, document and field. */
int gw_cli_cluster_load(struct gw_cli_cluster_opts *o, struct gw_cpu_modeldb **db, struct gw_cluster **cluster,
			struct gw_err **err);
/* Only loads and links the inputs (no what-if): for --parse-only. */
int gw_cli_cluster_parse(const struct gw_cli_cluster_opts *o, struct gw_cluster **cluster, struct gw_err **err);

int gw_cmd_check(int argc, char **argv);
int gw_cmd_cpu(int argc, char **argv);
int gw_cmd_explain(int argc, char **argv);
int gw_cmd_plan(int argc, char **argv);
int gw_cmd_cpu_host(int argc, char **argv);
int gw_cmd_cpu_models(int argc, char **argv);
int gw_cmd_cpu_labels(int argc, char **argv);
int gw_cmd_cpu_compare(int argc, char **argv);
int gw_cmd_cpu_baseline(int argc, char **argv);

#endif

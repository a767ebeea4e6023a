/* SPDX-License-Identifier: Apache-2.0 */
/* The command-line front end: thin commands over the library. */
#ifndef GODWIT_CLI_H
#define GODWIT_CLI_H

#include <stdio.h>

#include "godwit/client.h"
#include "godwit/cpu.h"
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
/* Options every client command takes: --server, --token, --config. */
struct gw_cli_conn {
	const char *server, *token, *config;
};
#define GW_CLI_CONN_OPTIONS                                                                         \
	{"server", required_argument, NULL, 0x100}, {"token", required_argument, NULL, 0x101},       \
	{"config", required_argument, NULL, 0x102}
/* Takes one of the options above (returns true) or not (false). */
bool gw_cli_conn_option(struct gw_cli_conn *conn, int opt, const char *arg);
int gw_cli_connect(const struct gw_cli_conn *conn, struct gw_client **client, struct gw_err **err);
/* A resource by kind, plural or short name; an error naming the known ones. */
int gw_cli_resource(const char *name, const struct gw_server_resource **res, struct gw_err **err);
/* GET/POST/... expecting 2xx: 0 with *reply, or the server's error. */
int gw_cli_call(struct gw_client *c, const char *method, const char *path, const char *content_type,
		const json_t *body, json_t **reply, struct gw_err **err);
/* Namespace for a namespaced command: -n, else "default". */
const char *gw_cli_namespace(const char *ns);

/* YAML of a JSON value (block style; ambiguous strings quoted). */
int gw_cli_print_yaml(FILE *out, const json_t *value);

int gw_cmd_server(int argc, char **argv);
int gw_cmd_apply(int argc, char **argv);
int gw_cmd_get(int argc, char **argv);
int gw_cmd_describe(int argc, char **argv);
int gw_cmd_delete(int argc, char **argv);
int gw_cmd_migrate(int argc, char **argv);
int gw_cmd_migrate_cancel(int argc, char **argv);
int gw_cmd_drain(int argc, char **argv);
int gw_cmd_uncordon(int argc, char **argv);
int gw_cmd_watch(int argc, char **argv);
int gw_cmd_cpu(int argc, char **argv);
int gw_cmd_cpu_host(int argc, char **argv);
int gw_cmd_cpu_models(int argc, char **argv);
int gw_cmd_cpu_labels(int argc, char **argv);
int gw_cmd_cpu_compare(int argc, char **argv);
int gw_cmd_cpu_baseline(int argc, char **argv);

#endif

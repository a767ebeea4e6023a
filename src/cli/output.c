/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "cli.h"

int gw_cli_fail(struct gw_err *err)
{
	fprintf(stderr, "godwit: %s\n", gw_err_msg(err));
	int code = err ? err->code : -EINVAL;
	gw_err_free(err);
	switch (code) {
	case -ENOENT:
	case -EINVAL:
	case -EISDIR:
	case -EFBIG:
	case -E2BIG:
	case -EEXIST:
		return GW_EXIT_INPUT;
	case -ENOSYS:
	case -ENODEV:
	case -ENOTSUP:
		return GW_EXIT_UNSUPPORTED;
	default:
		return GW_EXIT_FAILURE;
	}
}

int gw_cli_usage(const char *usage, const char *fmt, ...)
{
	va_list ap;
	fputs("godwit: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	if (usage)
		fputs(usage, stderr);
	return GW_EXIT_USAGE;
}

int gw_cli_parse_output(const char *arg, enum gw_output *out)
{
	if (!strcmp(arg, "table"))
		*out = GW_OUTPUT_TABLE;
	else if (!strcmp(arg, "json"))
		*out = GW_OUTPUT_JSON;
	else
		return gw_cli_usage(NULL, "-o \"%s\": expected table or json", arg);
	return 0;
}

struct gw_table {
	size_t ncols;
	struct gw_strv cells; /* row-major, header first */
};

struct gw_table *gw_table_new(size_t ncols, const char *const *headers)
{
	struct gw_table *t = gw_calloc(1, sizeof(*t));
	t->ncols = ncols;
	gw_strv_init(&t->cells);
	gw_table_add(t, headers);
	return t;
}

void gw_table_add(struct gw_table *t, const char *const *cells)
{
	for (size_t i = 0; i < t->ncols; i++)
		gw_strv_push(&t->cells, cells[i] ? cells[i] : "");
}

void gw_table_print(struct gw_table *t, FILE *out)
{
	size_t rows = t->cells.n / t->ncols;
	size_t *w = gw_calloc(t->ncols, sizeof(*w));
	for (size_t r = 0; r < rows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t l = strlen(t->cells.v[r * t->ncols + c]);
			if (l > w[c])
				w[c] = l;
		}
	for (size_t r = 0; r < rows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell = t->cells.v[r * t->ncols + c];
			if (c + 1 == t->ncols)
				fprintf(out, "%s", cell);
			else
				fprintf(out, "%-*s  ", (int)w[c], cell);
		}
		fputc('\n', out);
	}
	free(w);
}

void gw_table_free(struct gw_table *t)
{
	if (!t)
		return;
	gw_strv_fini(&t->cells);
	free(t);
}

void gw_print_wrapped(FILE *out, const char *label, const struct gw_strv *words, size_t width)
{
	size_t indent = strlen(label), col = indent;
	fputs(label, out);
	if (words->n == 0) {
		fputs("-\n", out);
		return;
	}
	for (size_t i = 0; i < words->n; i++) {
		size_t l = strlen(words->v[i]);
		if (col > indent && col + 1 + l > width) {
			fprintf(out, "\n%*s", (int)indent, "");
			col = indent;
		}
		if (col > indent) {
			fputc(' ', out);
			col++;
		}
		fputs(words->v[i], out);
		col += l;
	}
	fputc('\n', out);
}

int gw_cli_load_modeldb(const char *path, struct gw_cpu_modeldb **db, struct gw_err **err)
{
	if (!path || !*path)
		path = getenv("GODWIT_CPU_MODEL_DB");
	if (path && *path)
		return gw_cpu_modeldb_load(path, db, err);
	return gw_cpu_modeldb_builtin(db, err);
}

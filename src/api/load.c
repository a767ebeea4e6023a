/* SPDX-License-Identifier: Apache-2.0 */
/* Files and directories into a cluster. A JSON file is streamed
 * (gw_json_stream_file): a List's items are decoded one by one as they
 * are read and their JSON released, so a big `kubectl get -o json` never
 * exists as one tree. The result, errors included, is that of reading
 * the whole file and passing each document to gw_cluster_add_doc, which
 * stays the reference:
 *  - items are decoded as they come but enter the cluster only when their
 *    List is complete and known to be a List (kubectl writes "kind" after
 *    "items"), in order, so duplicates and failures surface as before;
 *  - the first failure is kept while the rest of the file is still read,
 *    because a syntax error anywhere in a file wins over any decoding
 *    error (the whole-file reader parses before it decodes);
 *  - whatever the stream cannot decide (syntax errors, a List-shaped
 *    document of another kind, YAML) goes to the whole-file reader, from
 *    the first document not yet taken. */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

enum staged_state { STAGED_OBJECT, STAGED_SKIP, STAGED_RAW, STAGED_ERROR };

/* An item of the List being read, waiting for the List's end. */
struct staged {
	enum staged_state state;
	struct cluster_decoded d;   /* STAGED_OBJECT */
	json_t *raw;                /* STAGED_RAW: no kind of its own, needs the List's */
	char *where;                /* STAGED_RAW */
	struct gw_err *err;         /* STAGED_ERROR */
	int code;
};

struct json_load {
	struct gw_cluster *c;
	const char *path;
	bool arena;                 /* items are the stream's, in its arena: copied to be kept */
	struct staged *items;
	size_t n, cap;
	bool doc_failed;            /* an item of this document failed: later ones are not decoded */
	size_t taken;               /* top-level documents wholly in the cluster */
	struct gw_err *first_err;   /* the first failure in input order; the rest is only parsed */
	int first_code;
	char *prefix;               /* "PATH: document N, items[" */
	size_t prefix_len, prefix_doc;
};

static void staged_clear(struct json_load *ld)
{
	for (size_t i = 0; i < ld->n; i++) {
		struct staged *s = &ld->items[i];
		cluster_decoded_fini(&s->d);
		json_decref(s->raw);
		free(s->where);
		gw_err_free(s->err);
	}
	ld->n = 0;
	ld->doc_failed = false;
}

static struct staged *stage(struct json_load *ld, enum staged_state state)
{
	if (ld->n == ld->cap) {
		ld->cap = ld->cap ? ld->cap * 2 : 1024;
		ld->items = gw_realloc(ld->items, ld->cap * sizeof(*ld->items));
	}
	struct staged *s = &ld->items[ld->n++];
	memset(s, 0, sizeof(*s));
	s->state = state;
	return s;
}

static void fail(struct json_load *ld, int code, struct gw_err *e)
{
	ld->first_code = code;
	ld->first_err = e;
}

static int on_item(void *ctx, size_t doc, size_t index, json_t *item)
{
	struct json_load *ld = ctx;
	if (ld->first_err || ld->doc_failed)
		return 0;
	/* On the stack: one per item, and only errors and the staged
	 * object keep a copy. The document's part is written once. */
	if (!ld->prefix || ld->prefix_doc != doc) {
		free(ld->prefix);
		ld->prefix = gw_asprintf("%s: document %zu, items[", ld->path, doc + 1);
		ld->prefix_len = strlen(ld->prefix);
		ld->prefix_doc = doc;
	}
	char digits[24], buf[512];
	size_t d = sizeof(digits), i = index;
	digits[--d] = '\0';
	digits[--d] = ']';
	do {
		digits[--d] = (char)('0' + i % 10);
		i /= 10;
	} while (i);
	size_t need = ld->prefix_len + sizeof(digits) - d;
	_cleanup_free_ char *heap = need > sizeof(buf) ? gw_malloc(need) : NULL;
	char *where = heap ? heap : buf;
	memcpy(where, ld->prefix, ld->prefix_len);
	memcpy(where + ld->prefix_len, digits + d, sizeof(digits) - d);
	struct staged *s;
	if (!json_is_object(item)) {
		s = stage(ld, STAGED_ERROR);
		s->code = dec_fail(&s->err, where, NULL, item, "not an object");
		ld->doc_failed = true;
		return 0;
	}
	if (!json_object_get(item, "kind")) {
		/* decoded later, out of the stream: as read */
		gw_json_stream_expand();
		s = stage(ld, STAGED_RAW);
		s->raw = ld->arena ? json_deep_copy(item) : json_incref(item);
		s->where = gw_strdup(where);
		return 0;
	}
	int k = gw_kind_from_doc(item);
	if (k < 0) {
		stage(ld, STAGED_SKIP);
		return 0;
	}
	s = stage(ld, STAGED_OBJECT);
	/* The few objects that keep their document (the KubeVirt CR,
	 * policies) keep a copy, whole. */
	_cleanup_json_ json_t *copy = NULL;
	if (ld->arena && cluster_keeps_doc(ld->c, (enum gw_kind)k)) {
		gw_json_stream_expand();
		item = copy = json_deep_copy(item);
	}
	struct gw_err *e = NULL;
	int r = cluster_decode(ld->c, (enum gw_kind)k, item, where, &s->d, &e);
	if (r < 0) {
		/* The message as the whole item would give it: an error may
		 * show a value that holds a captured map. */
		gw_err_free(e);
		e = NULL;
		gw_json_stream_expand();
		r = cluster_decode(ld->c, (enum gw_kind)k, item, where, &s->d, &e);
	}
	if (r < 0) {
		s->state = STAGED_ERROR;
		s->code = r;
		s->err = e;
		ld->doc_failed = true;
	}
	return 0;
}

/* The staged items of a complete List, into the cluster in order. */
static int take_list(struct json_load *ld, const json_t *list, const char *kind, struct gw_err **err)
{
	struct gw_cluster *c = ld->c;
	_cleanup_free_ char *item_kind = cluster_list_item_kind(kind);
	const json_t *av = json_object_get(list, "apiVersion");
	int r = 0;
	for (size_t i = 0; i < ld->n && r == 0; i++) {
		struct staged *s = &ld->items[i];
		switch (s->state) {
		case STAGED_OBJECT:
			c->n_docs++;
			r = cluster_insert(c, &s->d, err);
			break;
		case STAGED_SKIP:
			c->n_skipped++;
			break;
		case STAGED_RAW:
			r = cluster_add_list_item(c, s->raw, item_kind, av, s->where, err);
			break;
		case STAGED_ERROR:
			*err = s->err;
			s->err = NULL;
			r = s->code;
			break;
		}
	}
	return r;
}

static int on_value(void *ctx, size_t doc, json_t *value, bool items_streamed)
{
	struct json_load *ld = ctx;
	struct gw_err *e = NULL;
	int r;
	if (ld->first_err)
		return 0;
	if (!items_streamed) {
		r = gw_cluster_add_doc(ld->c, value, ld->path, doc, &e);
	} else {
		const char *kind = json_string_value(json_object_get(value, "kind"));
		if (!kind || !cluster_is_list_kind(kind)) {
			/* "items" without being a List: the whole-file reader
			 * decides, from this document on. */
			staged_clear(ld);
			return 1;
		}
		r = take_list(ld, value, kind, &e);
		staged_clear(ld);
	}
	if (r < 0)
		fail(ld, r, e);
	else
		ld->taken = doc + 1;
	return 0;
}

static int load_whole_file(struct gw_cluster *c, const char *path, size_t from, struct gw_err **err)
{
	json_t *docs = NULL;
	int r = gw_doc_load_file(path, &docs, err);
	if (r < 0)
		return r;
	for (size_t i = from; i < json_array_size(docs); i++)
		if ((r = gw_cluster_add_doc(c, json_array_get(docs, i), path, i, err)) < 0)
			break;
	/* The decoded objects hold their own references to their documents. */
	json_decref(docs);
	return r;
}

static int load_file(struct gw_cluster *c, const char *path, struct gw_err **err)
{
	/* Without documents kept, an item's big maps of strings need no
	 * jansson values: they are interned as read; and its values need
	 * not outlive it: they are built in the stream's arena. */
	const struct gw_json_stream_ops ops = {.item = on_item,
					       .value = on_value,
					       .strings = c->drop_docs ? cluster_strings(c) : NULL,
					       .arena = c->drop_docs};
	struct json_load ld = {.c = c, .path = path, .arena = c->drop_docs};
	int r = gw_json_stream_file(path, &ops, &ld, err);
	staged_clear(&ld);
	free(ld.items);
	free(ld.prefix);
	if (r == 1) {
		/* The whole-file reader's syntax error wins; else the first
		 * failure seen, else it goes on where the stream stopped. */
		json_t *docs = NULL;
		struct gw_err *e = NULL;
		if (ld.first_err) {
			r = gw_doc_load_file(path, &docs, &e);
			json_decref(docs);
			if (r < 0) {
				gw_err_free(ld.first_err);
				ld.first_err = e;
				ld.first_code = r;
			}
		} else {
			return load_whole_file(c, path, ld.taken, err);
		}
	} else if (r < 0) {
		gw_err_free(ld.first_err);
		return r;
	}
	if (!ld.first_err)
		return 0;
	if (err && !*err)
		*err = ld.first_err;
	else
		gw_err_free(ld.first_err);
	return ld.first_code;
}

/* ---- files and directories --------------------------------------------------------- */
static bool is_doc_file(const char *name)
{
	return gw_str_has_suffix(name, ".yaml") || gw_str_has_suffix(name, ".yml") ||
	       gw_str_has_suffix(name, ".json");
}

#define MAX_DIR_DEPTH 32

static int walk(const char *dir, unsigned depth, struct gw_strv *files, struct gw_err **err)
{
	if (depth > MAX_DIR_DEPTH)
		return gw_err_set(err, -ELOOP, "%s: directories nested too deep", dir);
	DIR *d = opendir(dir);
	if (!d)
		return gw_err_set(err, -errno, "%s: %s", dir, strerror(errno));
	struct dirent *de;
	int r = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *full = gw_asprintf("%s/%s", dir, de->d_name);
		struct stat st;
		if (stat(full, &st) < 0) {
			free(full);
			continue;   /* a dangling link: nothing to read */
		}
		if (S_ISDIR(st.st_mode)) {
			r = walk(full, depth + 1, files, err);
			free(full);
			if (r < 0)
				break;
		} else if (S_ISREG(st.st_mode) && is_doc_file(de->d_name)) {
			gw_strv_push_take(files, full);
		} else {
			free(full);
		}
	}
	closedir(d);
	return r;
}

int gw_cluster_load(struct gw_cluster *c, const char *path, struct gw_err **err)
{
	if (!gw_path_is_dir(path))
		return load_file(c, path, err);
	struct gw_strv files;
	gw_strv_init(&files);
	int r = walk(path, 0, &files, err);
	/* Sorted as a whole: the same directory loads in the same order everywhere. */
	gw_strv_sort(&files);
	for (size_t i = 0; r == 0 && i < files.n; i++)
		r = load_file(c, files.v[i], err);
	gw_strv_fini(&files);
	return r;
}


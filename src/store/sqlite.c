/* SPDX-License-Identifier: Apache-2.0 */
/* The embedded store: one SQLite file in WAL mode with synchronous=FULL, so
 * a write is on disk when the call returns, and a crash (SIGKILL, power)
 * leaves either the whole transaction or none of it.
 *
 * Tables: objects (the current state, keyed by kind/namespace/name, with
 * the labels apart so selectors skip objects without parsing them), events
 * (the history watches read: one row per change, rv the primary key) and
 * meta (the current rv, the compacted rv).
 *
 * One server per file: PATH.lock is held with flock(LOCK_EX) while the store
 * is open; a second open fails with -EBUSY naming the holder's pid.
 *
 * Group commit: an fsync costs milliseconds, so concurrent writers share
 * one. A writer queues its operation; whoever finds no commit under way
 * becomes the leader, takes the whole queue, applies it in one transaction
 * (each operation in its own savepoint, so one conflict fails only itself)
 * and commits once; then every queued writer has its answer.
 *
 * Concurrency: two connections. `wdb` (the writer) is used only by the
 * current leader: `committing` (under `lock`) says who. `rdb` (readers and
 * watches) and every field marked below are guarded by `lock`. WAL lets
 * rdb read committed data while wdb writes. `changed` is broadcast when a
 * commit is published (watches wait on it), `written` when a batch is
 * done (queued writers wait on it). */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>

#include <sqlite3.h>

#include "backend.h"

#define DEFAULT_HISTORY 100000
#define WATCH_BATCH 256
#define MAX_BATCH 512

enum stmt_id {
	ST_BEGIN,
	ST_BEGIN_READ,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_GET,
	ST_GET_META,
	ST_LIST_KIND,
	ST_LIST_NS,
	ST_INSERT_OBJECT,
	ST_UPDATE_OBJECT,
	ST_DELETE_OBJECT,
	ST_INSERT_EVENT,
	ST_SET_META,
	ST_COMPACT,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_BEGIN_READ] = "BEGIN",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT op",
	[ST_RELEASE] = "RELEASE op",
	[ST_ROLLBACK_TO] = "ROLLBACK TO op",
	[ST_GET] = "SELECT rv, object, labels FROM objects WHERE kind = ?1 AND namespace = ?2 AND name = ?3",
	[ST_GET_META] = "SELECT value FROM meta WHERE key = ?1",
	[ST_LIST_KIND] = "SELECT rv, object, labels FROM objects WHERE kind = ?1",
	[ST_LIST_NS] = "SELECT rv, object, labels FROM objects WHERE kind = ?1 AND namespace = ?2",
	[ST_INSERT_OBJECT] = "INSERT INTO objects (kind, namespace, name, rv, object, labels) "
			     "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_UPDATE_OBJECT] = "UPDATE objects SET rv = ?4, object = ?5, labels = ?6 "
			     "WHERE kind = ?1 AND namespace = ?2 AND name = ?3",
	[ST_DELETE_OBJECT] = "DELETE FROM objects WHERE kind = ?1 AND namespace = ?2 AND name = ?3",
	[ST_INSERT_EVENT] = "INSERT INTO events (rv, type, kind, namespace, name, object, prev_object) "
			    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_SET_META] = "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
	[ST_COMPACT] = "DELETE FROM events WHERE rv <= ?1",
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS objects (kind TEXT NOT NULL, namespace TEXT NOT NULL,"
	" name TEXT NOT NULL, rv INTEGER NOT NULL, object TEXT NOT NULL, labels TEXT,"
	" PRIMARY KEY (kind, namespace, name)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS events (rv INTEGER PRIMARY KEY, type INTEGER NOT NULL,"
	" kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, object TEXT NOT NULL,"
	" prev_object TEXT);"
	"INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', 2), ('rv', 0), ('compacted', 0);";

/* Schema 2 added events.prev_object: an update that changed the labels
 * keeps the previous state there, so that a watch with a label selector
 * can tell an object that leaves it (DELETED) or enters it (ADDED). */
#define SCHEMA_VERSION 2

enum op_type { OP_CREATE, OP_UPDATE, OP_DELETE, OP_COMPACT };

/* One queued write; lives on its writer's stack until done. */
struct write_op {
	enum op_type type;
	const char *kind, *ns, *name;
	char *text, *labels; /* object and labels JSON (create, update) */
	json_t *object;      /* a private copy, for the list cache (create, update) */
	int64_t cas_rv;      /* update, delete (0: none); compact: the rv */
	/* Results, set by the leader: */
	int r;
	int64_t rv, current_rv;
	struct gw_err *err;
	bool done;
	struct write_op *next;
};

struct db {
	sqlite3 *conn;
	sqlite3_stmt *stmt[ST_COUNT];
};

struct sqlite_store {
	struct gw_store base;
	char *path;
	int lock_fd;
	int64_t history;
	struct db wdb; /* the leader's only */
	pthread_mutex_t lock;
	pthread_cond_t changed; /* CLOCK_MONOTONIC */
	pthread_cond_t written;
	/* Guarded by lock: */
	struct db rdb;
	int64_t rv;        /* last committed */
	int64_t compacted; /* events up to here are gone */
	bool committing;
	struct write_op *queue_head, *queue_tail;
	/* The list cache: kind -> {"<ns>\x01<name>": object with its rv}, for
	 * the kinds listed so far; NULL when disabled. Objects in it are shared
	 * with list results and never modified: a write replaces them. */
	json_t *cache;
	/* Beside it, kind -> {key: JSON string holding the object's compact
	 * text}, made by the first text list that needs it and dropped by
	 * the next write of the key: the API server's lists concatenate
	 * these instead of encoding every object each time. */
	json_t *cache_text;
};

struct sqlite_watch {
	struct gw_store_watch base;
	struct sqlite_store *s;
	char *kind;
	char *ns; /* NULL: every namespace */
	/* Owned by the watch's user; stmt only used under s->lock. */
	sqlite3_stmt *stmt;
	int64_t pos; /* last rv delivered or known not to match */
	struct gw_store_event pending[WATCH_BATCH];
	size_t pending_next, pending_n;
};

static const struct gw_store_ops sqlite_ops;

static int db_error(struct sqlite_store *s, struct db *d, struct gw_err **err, const char *what)
{
	int code = sqlite3_errcode(d->conn);
	int r = code == SQLITE_FULL ? -ENOSPC : -EIO;
	return gw_err_set(err, r, "store %s: %s: %s", s->path, what, sqlite3_errmsg(d->conn));
}

static int exec_simple(struct db *d, enum stmt_id id)
{
	sqlite3_stmt *st = d->stmt[id];
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : rc;
}

static void bind_key(sqlite3_stmt *st, const char *kind, const char *ns, const char *name)
{
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
	if (name)
		sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
}

/* A stored object: JSON text (without resourceVersion) and its rv. The
 * text was written by this code (json_dumps), so duplicate keys are not
 * checked for: that check doubles the cost of a large list. */
static int load_object(struct sqlite_store *s, sqlite3_stmt *st, int col, int64_t rv,
		       json_t **object, struct gw_err **err)
{
	const char *text = (const char *)sqlite3_column_text(st, col);
	int len = sqlite3_column_bytes(st, col);
	json_error_t je;
	json_t *o = text ? json_loadb(text, (size_t)len, 0, &je) : NULL;
	if (!json_is_object(o)) {
		json_decref(o);
		return gw_err_set(err, -EIO, "store %s: stored object at rv %" PRId64 " is not JSON",
				  s->path, rv);
	}
	gw_store_set_rv(o, rv);
	*object = o;
	return 0;
}

static int sqlite_get(struct gw_store *base, const char *kind, const char *ns, const char *name,
		      json_t **object, int64_t *rv, struct gw_err **err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	int r;
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = s->rdb.stmt[ST_GET];
	bind_key(st, kind, ns, name);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*rv = sqlite3_column_int64(st, 0);
		r = load_object(s, st, 1, *rv, object, err);
	} else if (rc == SQLITE_DONE) {
		r = gw_err_set(err, -ENOENT, "store: %s/%s/%s not found", kind, ns, name);
	} else {
		r = db_error(s, &s->rdb, err, "get");
	}
	sqlite3_reset(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

static bool labels_match(sqlite3_stmt *st, int col, const struct gw_store_selector *sel)
{
	const char *text = (const char *)sqlite3_column_text(st, col);
	if (!text)
		return gw_store_selector_matches(sel, NULL);
	json_error_t je;
	json_t *labels = json_loadb(text, (size_t)sqlite3_column_bytes(st, col), 0, &je);
	bool ok = gw_store_selector_matches(sel, labels);
	json_decref(labels);
	return ok;
}

/* Rows of a list, copied out of SQLite so they are parsed without the lock. */
struct list_rows {
	int64_t *rv;
	char **text;
	size_t *len;
	json_t **objects;
	size_t n, cap;
};

struct parse_part {
	struct list_rows *rows;
	size_t from, to;
	size_t bad; /* index + 1 of a row that is not JSON, 0: none */
};

static void *parse_rows(void *arg)
{
	struct parse_part *p = arg;
	json_error_t je;
	for (size_t i = p->from; i < p->to; i++) {
		/* Written by this code (json_dumps): duplicate keys are not checked
		 * for, which would double the cost of a large list. */
		json_t *o = json_loadb(p->rows->text[i], p->rows->len[i], 0, &je);
		if (!json_is_object(o)) {
			json_decref(o);
			if (!p->bad)
				p->bad = i + 1;
			continue;
		}
		gw_store_set_rv(o, p->rows->rv[i]);
		p->rows->objects[i] = o;
	}
	return NULL;
}

/* Lists past this size are parsed by several threads. */
#define PARALLEL_PARSE_ROWS 2000
#define PARSE_THREADS 4

static int parse_all(struct sqlite_store *s, struct list_rows *rows, struct gw_err **err)
{
	rows->objects = gw_calloc(rows->n ? rows->n : 1, sizeof(*rows->objects));
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t threads = rows->n < PARALLEL_PARSE_ROWS || cpus < 2 ? 1
			 : cpus < PARSE_THREADS			? (size_t)cpus
								: PARSE_THREADS;
	struct parse_part parts[PARSE_THREADS];
	pthread_t tid[PARSE_THREADS];
	bool started[PARSE_THREADS] = {false};
	for (size_t t = 0; t < threads; t++) {
		parts[t] = (struct parse_part){.rows = rows, .from = rows->n * t / threads,
					       .to = rows->n * (t + 1) / threads};
		if (t > 0 && pthread_create(&tid[t], NULL, parse_rows, &parts[t]) == 0) {
			pthread_setname_np(tid[t], "gw-store-parse");
			started[t] = true;
		}
	}
	parse_rows(&parts[0]);
	size_t bad = 0;
	for (size_t t = 0; t < threads; t++) {
		if (t > 0) {
			if (started[t])
				pthread_join(tid[t], NULL);
			else
				parse_rows(&parts[t]);
		}
		if (parts[t].bad && !bad)
			bad = parts[t].bad;
	}
	if (bad)
		return gw_err_set(err, -EIO, "store %s: stored object at rv %" PRId64 " is not JSON",
				  s->path, rows->rv[bad - 1]);
	return 0;
}

static void list_rows_fini(struct list_rows *rows)
{
	for (size_t i = 0; i < rows->n; i++) {
		free(rows->text[i]);
		if (rows->objects)
			json_decref(rows->objects[i]);
	}
	free(rows->rv);
	free(rows->text);
	free(rows->len);
	free(rows->objects);
}

/* One read transaction: the meta rv and the rows are the same snapshot.
 * The rows are copied out under the lock and parsed after it. */
static int read_list(struct sqlite_store *s, const char *kind, const char *ns,
		     const struct gw_store_selector *sel, json_t **items, int64_t *list_rv,
		     struct gw_err **err)
{
	int r = 0, rc;
	struct list_rows rows = {0};
	pthread_mutex_lock(&s->lock);
	struct db *d = &s->rdb;
	if (exec_simple(d, ST_BEGIN_READ)) {
		r = db_error(s, d, err, "list");
		goto out;
	}
	sqlite3_stmt *st = d->stmt[ST_GET_META];
	sqlite3_bind_text(st, 1, "rv", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*list_rv = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		r = db_error(s, d, err, "list");
		goto end;
	}
	st = d->stmt[ns ? ST_LIST_NS : ST_LIST_KIND];
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	if (ns)
		sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sel && !labels_match(st, 2, sel))
			continue;
		if (rows.n == rows.cap) {
			rows.cap = rows.cap ? rows.cap * 2 : 256;
			rows.rv = gw_realloc(rows.rv, rows.cap * sizeof(*rows.rv));
			rows.text = gw_realloc(rows.text, rows.cap * sizeof(*rows.text));
			rows.len = gw_realloc(rows.len, rows.cap * sizeof(*rows.len));
		}
		const char *text = (const char *)sqlite3_column_text(st, 1);
		rows.len[rows.n] = (size_t)sqlite3_column_bytes(st, 1);
		rows.text[rows.n] = gw_strndup(text ? text : "", rows.len[rows.n]);
		rows.rv[rows.n++] = sqlite3_column_int64(st, 0);
	}
	if (rc != SQLITE_DONE)
		r = db_error(s, d, err, "list");
	sqlite3_reset(st);
end:
	exec_simple(d, ST_COMMIT);
out:
	pthread_mutex_unlock(&s->lock);
	if (r == 0)
		r = parse_all(s, &rows, err);
	if (r == 0) {
		json_t *arr = json_array();
		for (size_t i = 0; i < rows.n; i++) {
			json_array_append_new(arr, rows.objects[i]);
			rows.objects[i] = NULL;
		}
		*items = arr;
	}
	list_rows_fini(&rows);
	return r;
}

static char *cache_key(const char *ns, const char *name)
{
	/* \x01 sorts below every byte a namespace may hold, so key order is
	 * (namespace, name) order. */
	return gw_asprintf("%s\x01%s", ns, name);
}

struct cached_item {
	const char *key;
	json_t *object;
};

static int compare_cached(const void *a, const void *b)
{
	return strcmp(((const struct cached_item *)a)->key, ((const struct cached_item *)b)->key);
}

/* A cached object (key "NS\x01NAME") in the namespace prefix (NULL: any)
 * and matching the selector (NULL: any). */
static bool cached_matches(const char *key, const json_t *o, const char *prefix, size_t prefix_len,
			   const struct gw_store_selector *sel)
{
	if (prefix && strncmp(key, prefix, prefix_len))
		return false;
	return !sel || gw_store_selector_matches(sel, json_object_get(json_object_get(o, "metadata"), "labels"));
}

/* Under s->lock: the matching objects of one cached kind, shared, sorted. */
static json_t *list_from_cache(json_t *kind_map, const char *ns,
			       const struct gw_store_selector *sel)
{
	size_t n = json_object_size(kind_map), kept = 0;
	struct cached_item *v = gw_calloc(n ? n : 1, sizeof(*v));
	_cleanup_free_ char *prefix = ns ? gw_asprintf("%s\x01", ns) : NULL;
	size_t prefix_len = prefix ? strlen(prefix) : 0;
	const char *key;
	json_t *o;
	json_object_foreach(kind_map, key, o) {
		if (!cached_matches(key, o, prefix, prefix_len, sel))
			continue;
		v[kept++] = (struct cached_item){key, o};
	}
	qsort(v, kept, sizeof(*v), compare_cached);
	json_t *arr = json_array();
	for (size_t i = 0; i < kept; i++)
		json_array_append(arr, v[i].object);
	free(v);
	return arr;
}

/* Lists come from the cache of parsed objects when the kind is there. The
 * first list of a kind reads all of it and fills the cache if nothing was
 * published meanwhile (else the next list tries again). */
static int sqlite_list(struct gw_store *base, const char *kind, const char *ns,
		       const struct gw_store_selector *sel, json_t **items, int64_t *list_rv,
		       struct gw_err **err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	if (!s->cache)
		return read_list(s, kind, ns, sel, items, list_rv, err);
	pthread_mutex_lock(&s->lock);
	json_t *kind_map = json_object_get(s->cache, kind);
	if (kind_map) {
		*items = list_from_cache(kind_map, ns, sel);
		*list_rv = s->rv;
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	pthread_mutex_unlock(&s->lock);

	json_t *all = NULL;
	int64_t rv = 0;
	int r = read_list(s, kind, NULL, NULL, &all, &rv, err);
	if (r < 0)
		return r;
	json_t *fresh = json_object();
	size_t i;
	json_t *o;
	json_array_foreach(all, i, o) {
		json_t *md = json_object_get(o, "metadata");
		const char *ons = json_string_value(json_object_get(md, "namespace"));
		_cleanup_free_ char *key =
			cache_key(ons ? ons : "", json_string_value(json_object_get(md, "name")));
		json_object_set(fresh, key, o);
	}
	json_decref(all);
	pthread_mutex_lock(&s->lock);
	kind_map = json_object_get(s->cache, kind);
	if (!kind_map && s->rv == rv) {
		/* The snapshot is the published state: from here on every publish
		 * updates it. */
		json_object_set(s->cache, kind, fresh);
		kind_map = fresh;
	}
	if (kind_map) {
		*items = list_from_cache(kind_map, ns, sel);
		*list_rv = kind_map == fresh ? rv : s->rv;
	} else {
		*items = list_from_cache(fresh, ns, sel);
		*list_rv = rv;
	}
	pthread_mutex_unlock(&s->lock);
	json_decref(fresh);
	return 0;
}

/* One item of a text list: its own copy of the key (the cache's may go
 * once the lock is dropped), the cached object and its text when known. */
struct text_item {
	char *key;
	json_t *object;
	json_t *text;   /* JSON string; NULL until encoded */
	bool fresh;     /* encoded by this list: offered back to the cache */
};

static int compare_text_items(const void *a, const void *b)
{
	return strcmp(((const struct text_item *)a)->key, ((const struct text_item *)b)->key);
}

/* The cached kind's matching items as one JSON array text. Texts missing
 * from the cache are encoded outside the lock and put back if the object
 * is still the cached one. -ENOTSUP: no cache (the caller encodes). */
static int sqlite_list_text(struct gw_store *base, const char *kind, const char *ns,
			    const struct gw_store_selector *sel, struct gw_buf *out, size_t *count,
			    int64_t *list_rv, struct gw_err **err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	if (!s->cache)
		return -ENOTSUP;
	pthread_mutex_lock(&s->lock);
	json_t *kind_map = json_object_get(s->cache, kind);
	pthread_mutex_unlock(&s->lock);
	if (!kind_map) {
		/* The first list of a kind fills the cache. */
		json_t *items = NULL;
		int64_t rv;
		int r = sqlite_list(base, kind, ns, NULL, &items, &rv, err);
		json_decref(items);
		if (r < 0)
			return r;
	}
	pthread_mutex_lock(&s->lock);
	kind_map = json_object_get(s->cache, kind);
	if (!kind_map) {
		/* A commit came between the snapshot and the filling. */
		pthread_mutex_unlock(&s->lock);
		return -ENOTSUP;
	}
	json_t *texts = json_object_get(s->cache_text, kind);
	size_t n = json_object_size(kind_map), kept = 0;
	struct text_item *v = gw_calloc(n ? n : 1, sizeof(*v));
	_cleanup_free_ char *prefix = ns ? gw_asprintf("%s\x01", ns) : NULL;
	size_t prefix_len = prefix ? strlen(prefix) : 0;
	const char *key;
	json_t *o;
	json_object_foreach(kind_map, key, o) {
		if (!cached_matches(key, o, prefix, prefix_len, sel))
			continue;
		v[kept++] = (struct text_item){gw_strdup(key), json_incref(o),
					       json_incref(json_object_get(texts, key)), false};
	}
	*list_rv = s->rv;
	pthread_mutex_unlock(&s->lock);

	qsort(v, kept, sizeof(*v), compare_text_items);
	size_t fresh = 0;
	gw_buf_add(out, "[", 1);
	for (size_t i = 0; i < kept; i++) {
		if (i)
			gw_buf_add(out, ",", 1);
		if (v[i].text) {
			gw_buf_add(out, json_string_value(v[i].text), json_string_length(v[i].text));
			continue;
		}
		/* Encoded in place in the answer, then kept: one copy. */
		size_t room = 0, text_len = 0;
		do {
			gw_buf_reserve(out, room = room ? text_len : 4096);
			text_len = json_dumpb(v[i].object, out->data + out->len, room, JSON_COMPACT);
		} while (text_len > room);
		v[i].text = json_stringn_nocheck(out->data + out->len, text_len);
		out->len += text_len;
		out->data[out->len] = '\0';
		v[i].fresh = true;
		fresh++;
	}
	gw_buf_add(out, "]", 1);
	*count = kept;
	if (fresh) {
		pthread_mutex_lock(&s->lock);
		kind_map = json_object_get(s->cache, kind);
		texts = json_object_get(s->cache_text, kind);
		if (kind_map && !texts) {
			texts = json_object();
			json_object_set_new(s->cache_text, kind, texts);
		}
		for (size_t i = 0; i < kept && kind_map; i++)
			if (v[i].fresh && json_object_get(kind_map, v[i].key) == v[i].object)
				json_object_set(texts, v[i].key, v[i].text);
		pthread_mutex_unlock(&s->lock);
	}
	for (size_t i = 0; i < kept; i++) {
		free(v[i].key);
		json_decref(v[i].object);
		json_decref(v[i].text);
	}
	free(v);
	return 0;
}

/* ---- the leader's side of a write (wdb, no lock held) ------------------- */

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : rc;
}

static int set_meta(struct db *d, const char *key, int64_t value)
{
	sqlite3_stmt *st = d->stmt[ST_SET_META];
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, value);
	return step_done(st);
}

static int compact_to(struct db *d, int64_t rv)
{
	sqlite3_stmt *st = d->stmt[ST_COMPACT];
	sqlite3_bind_int64(st, 1, rv);
	int rc = step_done(st);
	return rc ? rc : set_meta(d, "compacted", rv);
}

static int record_event(struct db *d, int64_t rv, enum gw_store_event_type type,
			const struct write_op *op, const char *text, const char *prev_text)
{
	sqlite3_stmt *st = d->stmt[ST_INSERT_EVENT];
	sqlite3_bind_int64(st, 1, rv);
	sqlite3_bind_int(st, 2, (int)type);
	sqlite3_bind_text(st, 3, op->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, op->ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, op->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, text, -1, SQLITE_STATIC);
	if (prev_text)
		sqlite3_bind_text(st, 7, prev_text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 7);
	return step_done(st);
}

static bool same_text(const char *a, const char *b)
{
	return a && b ? !strcmp(a, b) : a == b;
}

/* The stored rv of a key (0: none), and its text if wanted (caller frees):
 * always (text_always), or only when its labels are not `labels` (an
 * update that changes them records the previous state). */
static int stored_rv(struct db *d, const struct write_op *op, int64_t *rv, char **text, bool text_always)
{
	sqlite3_stmt *st = d->stmt[ST_GET];
	bind_key(st, op->kind, op->ns, op->name);
	int rc = sqlite3_step(st);
	*rv = 0;
	if (rc == SQLITE_ROW) {
		*rv = sqlite3_column_int64(st, 0);
		if (text && (text_always || !same_text((const char *)sqlite3_column_text(st, 2), op->labels)))
			*text = gw_strdup((const char *)sqlite3_column_text(st, 1));
		rc = SQLITE_DONE;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : rc;
}

static int put_object(struct db *d, enum stmt_id id, const struct write_op *op, int64_t rv)
{
	sqlite3_stmt *st = d->stmt[id];
	bind_key(st, op->kind, op->ns, op->name);
	sqlite3_bind_int64(st, 4, rv);
	sqlite3_bind_text(st, 5, op->text, -1, SQLITE_STATIC);
	if (op->labels)
		sqlite3_bind_text(st, 6, op->labels, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc;
}

/* Applies one operation inside the batch's transaction. 0 and op->rv set,
 * or op->r/op->err set (the caller rolls back to the savepoint). rc: an
 * SQLite failure, which fails the operation too. */
static int apply(struct sqlite_store *s, struct write_op *op, int64_t rv, int64_t *compacted)
{
	struct db *d = &s->wdb;
	const char *verb = op->type == OP_CREATE ? "create" : op->type == OP_UPDATE ? "update"
											: "delete";
	_cleanup_free_ char *old_text = NULL;
	int rc;
	if (op->type == OP_COMPACT) {
		if (op->cas_rv > rv - 1)
			return op->r = gw_err_set(&op->err, -EINVAL,
						  "store: compact to %" PRId64 ": beyond the current %" PRId64,
						  op->cas_rv, rv - 1);
		if (op->cas_rv <= *compacted)
			return 0;
		if ((rc = compact_to(d, op->cas_rv)))
			goto db_fail;
		*compacted = op->cas_rv;
		return 0;
	}
	if (op->type == OP_CREATE) {
		rc = put_object(d, ST_INSERT_OBJECT, op, rv);
		if (rc == SQLITE_CONSTRAINT)
			return op->r = gw_err_set(&op->err, -EEXIST, "store: create %s/%s/%s: already exists",
						  op->kind, op->ns, op->name);
		if (rc != SQLITE_DONE)
			goto db_fail;
	} else {
		int64_t cur;
		if ((rc = stored_rv(d, op, &cur, &old_text, op->type == OP_DELETE)))
			goto db_fail;
		op->current_rv = cur;
		if (!cur)
			return op->r = gw_err_set(&op->err, -ENOENT, "store: %s %s/%s/%s: not found", verb,
						  op->kind, op->ns, op->name);
		if ((op->type == OP_UPDATE || op->cas_rv) && cur != op->cas_rv)
			return op->r = gw_err_set(&op->err, -EBUSY, "store: %s %s/%s/%s: conflict", verb,
						  op->kind, op->ns, op->name);
		if (op->type == OP_UPDATE) {
			if ((rc = put_object(d, ST_UPDATE_OBJECT, op, rv)) != SQLITE_DONE)
				goto db_fail;
		} else {
			sqlite3_stmt *st = d->stmt[ST_DELETE_OBJECT];
			bind_key(st, op->kind, op->ns, op->name);
			if ((rc = step_done(st)))
				goto db_fail;
		}
	}
	enum gw_store_event_type type = op->type == OP_CREATE   ? GW_STORE_ADDED
					: op->type == OP_UPDATE ? GW_STORE_MODIFIED
								: GW_STORE_DELETED;
	if (type == GW_STORE_DELETED)
		rc = record_event(d, rv, type, op, old_text, NULL);
	else
		rc = record_event(d, rv, type, op, op->text, old_text);
	if (rc)
		goto db_fail;
	op->rv = rv;
	return 0;
db_fail:
	return op->r = db_error(s, d, &op->err, verb);
}

/* Runs one batch in one transaction; returns the new rv and compacted. */
static void run_batch(struct sqlite_store *s, struct write_op *batch, int64_t *rv,
		      int64_t *compacted)
{
	struct db *d = &s->wdb;
	int64_t next = *rv, comp = *compacted;
	int rc;
	struct gw_err *fail = NULL;
	if ((rc = exec_simple(d, ST_BEGIN))) {
		db_error(s, d, &fail, "begin");
		goto failed;
	}
	for (struct write_op *op = batch; op; op = op->next) {
		if ((rc = exec_simple(d, ST_SAVEPOINT))) {
			db_error(s, d, &fail, "savepoint");
			goto rollback;
		}
		if (apply(s, op, next + 1, &comp) < 0) {
			exec_simple(d, ST_ROLLBACK_TO);
		} else if (op->type != OP_COMPACT) {
			next++;
		}
		if ((rc = exec_simple(d, ST_RELEASE))) {
			db_error(s, d, &fail, "release");
			goto rollback;
		}
	}
	/* The history bound, with a tenth of slack so compaction is rare. */
	if (next - comp > s->history + s->history / 10) {
		if ((rc = compact_to(d, next - s->history))) {
			db_error(s, d, &fail, "compact");
			goto rollback;
		}
		comp = next - s->history;
	}
	if (next != *rv && (rc = set_meta(d, "rv", next))) {
		db_error(s, d, &fail, "meta");
		goto rollback;
	}
	if ((rc = exec_simple(d, ST_COMMIT))) {
		db_error(s, d, &fail, "commit");
		goto rollback;
	}
	*rv = next;
	*compacted = comp;
	return;
rollback:
	exec_simple(d, ST_ROLLBACK);
failed:
	/* Nothing of the batch was written. */
	for (struct write_op *op = batch; op; op = op->next) {
		if (op->r == 0) {
			op->r = fail ? fail->code : -EIO;
			gw_err_set(&op->err, op->r, "%s", gw_err_msg(fail));
			op->rv = 0;
		}
	}
	gw_err_free(fail);
}

/* Under s->lock, once a batch is published: its writes, in order, into the
 * cached kinds. Applying a write twice changes nothing, which a cache
 * filled from a snapshot relies on. */
static void cache_apply(struct sqlite_store *s, struct write_op *batch)
{
	for (struct write_op *op = batch; op && s->cache; op = op->next) {
		json_t *kind_map = op->r == 0 && op->type != OP_COMPACT
					   ? json_object_get(s->cache, op->kind)
					   : NULL;
		if (!kind_map)
			continue;
		_cleanup_free_ char *key = cache_key(op->ns, op->name);
		json_object_del(json_object_get(s->cache_text, op->kind), key);
		if (op->type == OP_DELETE) {
			json_object_del(kind_map, key);
		} else {
			gw_store_set_rv(op->object, op->rv);
			json_object_set(kind_map, key, op->object);
		}
	}
}

/* Queues op and waits for its result; leads a batch when no one is. */
static int submit(struct sqlite_store *s, struct write_op *op, struct gw_err **err)
{
	pthread_mutex_lock(&s->lock);
	if (s->queue_tail)
		s->queue_tail->next = op;
	else
		s->queue_head = op;
	s->queue_tail = op;
	while (!op->done) {
		if (s->committing) {
			pthread_cond_wait(&s->written, &s->lock);
			continue;
		}
		s->committing = true;
		struct write_op *batch = s->queue_head, *last = batch;
		for (int n = 1; n < MAX_BATCH && last->next; n++)
			last = last->next;
		s->queue_head = last->next;
		if (!s->queue_head)
			s->queue_tail = NULL;
		last->next = NULL;
		int64_t rv = s->rv, compacted = s->compacted;
		pthread_mutex_unlock(&s->lock);
		run_batch(s, batch, &rv, &compacted);
		pthread_mutex_lock(&s->lock);
		s->rv = rv;
		s->compacted = compacted;
		cache_apply(s, batch);
		for (struct write_op *o = batch; o; o = o->next)
			o->done = true;
		s->committing = false;
		pthread_cond_broadcast(&s->changed);
		pthread_cond_broadcast(&s->written);
	}
	pthread_mutex_unlock(&s->lock);
	if (op->r < 0 && err && !*err) {
		*err = op->err;
		op->err = NULL;
	}
	gw_err_free(op->err);
	return op->r;
}

static char *labels_text(const json_t *object)
{
	json_t *labels = json_object_get(json_object_get(object, "metadata"), "labels");
	return json_is_object(labels) ? json_dumps(labels, JSON_COMPACT) : NULL;
}

static int sqlite_create(struct gw_store *base, const char *kind, const char *ns,
			 const char *name, const json_t *object, int64_t *rv, struct gw_err **err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct write_op op = {.type = OP_CREATE, .kind = kind, .ns = ns, .name = name,
			      .text = json_dumps(object, JSON_COMPACT), .labels = labels_text(object),
			      .object = s->cache ? json_deep_copy(object) : NULL};
	int r = submit(s, &op, err);
	json_decref(op.object);
	free(op.text);
	free(op.labels);
	*rv = op.rv;
	return r;
}

static int sqlite_update(struct gw_store *base, const char *kind, const char *ns,
			 const char *name, const json_t *object, int64_t cas_rv, int64_t *rv,
			 int64_t *current_rv, struct gw_err **err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct write_op op = {.type = OP_UPDATE, .kind = kind, .ns = ns, .name = name,
			      .text = json_dumps(object, JSON_COMPACT), .labels = labels_text(object),
			      .cas_rv = cas_rv, .object = s->cache ? json_deep_copy(object) : NULL};
	int r = submit(s, &op, err);
	json_decref(op.object);
	free(op.text);
	free(op.labels);
	*rv = op.rv;
	*current_rv = op.current_rv;
	return r;
}

static int sqlite_remove(struct gw_store *base, const char *kind, const char *ns,
			 const char *name, int64_t cas_rv, int64_t *rv, int64_t *current_rv,
			 struct gw_err **err)
{
	struct write_op op = {.type = OP_DELETE, .kind = kind, .ns = ns, .name = name,
			      .cas_rv = cas_rv};
	int r = submit((struct sqlite_store *)base, &op, err);
	*rv = op.rv;
	*current_rv = op.current_rv;
	return r;
}

static int sqlite_compact(struct gw_store *base, int64_t rv, struct gw_err **err)
{
	struct write_op op = {.type = OP_COMPACT, .cas_rv = rv};
	return submit((struct sqlite_store *)base, &op, err);
}

static int sqlite_current_rv(struct gw_store *base, int64_t *rv, struct gw_err **err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	pthread_mutex_lock(&s->lock);
	*rv = s->rv;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* ---- watch ---------------------------------------------------------------- */

static int expired(struct gw_err **err, int64_t from, int64_t compacted)
{
	return gw_err_set(err, GW_STORE_EXPIRED,
			  "store: watch: resourceVersion %" PRId64
			  " is too old (history starts after %" PRId64 "), re-list",
			  from, compacted);
}

static int sqlite_watch(struct gw_store *base, const char *kind, const char *ns, int64_t from_rv,
			struct gw_store_watch **out, struct gw_err **err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	struct sqlite_watch *w = gw_calloc(1, sizeof(*w));
	w->base.ops = &sqlite_ops;
	w->s = s;
	w->kind = gw_strdup(kind);
	w->ns = ns ? gw_strdup(ns) : NULL;
	int r = 0;
	pthread_mutex_lock(&s->lock);
	w->pos = from_rv ? from_rv : s->rv;
	if (w->pos < s->compacted)
		r = expired(err, w->pos, s->compacted);
	else if (sqlite3_prepare_v3(s->rdb.conn,
				    "SELECT rv, type, object, prev_object FROM events WHERE rv > ?1 AND kind = ?2"
				    " AND (?3 IS NULL OR namespace = ?3) ORDER BY rv LIMIT ?4",
				    -1, SQLITE_PREPARE_PERSISTENT, &w->stmt, NULL) != SQLITE_OK)
		r = db_error(s, &s->rdb, err, "watch");
	pthread_mutex_unlock(&s->lock);
	if (r < 0) {
		gw_store_watch_free(&w->base);
		return r;
	}
	*out = &w->base;
	return 0;
}

/* Under s->lock: the next events after w->pos, up to WATCH_BATCH. */
static int fetch_events(struct sqlite_watch *w, struct gw_err **err)
{
	struct sqlite_store *s = w->s;
	sqlite3_stmt *st = w->stmt;
	int64_t scanned_to = s->rv;
	int rc, r = 0;
	sqlite3_bind_int64(st, 1, w->pos);
	sqlite3_bind_text(st, 2, w->kind, -1, SQLITE_STATIC);
	if (w->ns)
		sqlite3_bind_text(st, 3, w->ns, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_int(st, 4, WATCH_BATCH);
	w->pending_next = w->pending_n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct gw_store_event *ev = &w->pending[w->pending_n];
		ev->rv = sqlite3_column_int64(st, 0);
		int type = sqlite3_column_int(st, 1);
		if (type < GW_STORE_ADDED || type > GW_STORE_DELETED) {
			r = gw_err_set(err, -EIO, "store %s: event %" PRId64 ": bad type %d", s->path,
				       ev->rv, type);
			break;
		}
		ev->type = (enum gw_store_event_type)type;
		if ((r = load_object(s, st, 2, ev->rv, &ev->object, err)) < 0)
			break;
		ev->prev_object = NULL;
		if (sqlite3_column_type(st, 3) != SQLITE_NULL &&
		    (r = load_object(s, st, 3, ev->rv, &ev->prev_object, err)) < 0) {
			gw_store_event_fini(ev);
			break;
		}
		w->pending_n++;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_error(s, &s->rdb, err, "watch");
	sqlite3_reset(st);
	if (r < 0) {
		for (size_t i = 0; i < w->pending_n; i++)
			gw_store_event_fini(&w->pending[i]);
		w->pending_n = 0;
		return r;
	}
	/* A short batch saw every event up to scanned_to (published after its
	 * commit): nothing else of ours is there. It may also have seen a
	 * commit not yet published, hence the larger of the two. */
	if (w->pending_n)
		w->pos = w->pending[w->pending_n - 1].rv;
	if (w->pending_n < WATCH_BATCH && scanned_to > w->pos)
		w->pos = scanned_to;
	return 0;
}

static int sqlite_watch_next(struct gw_store_watch *base, int timeout_ms,
			     struct gw_store_event *ev, struct gw_err **err)
{
	struct sqlite_watch *w = (struct sqlite_watch *)base;
	struct sqlite_store *s = w->s;
	if (w->pending_next < w->pending_n) {
		*ev = w->pending[w->pending_next];
		w->pending[w->pending_next].object = NULL;
		w->pending[w->pending_next++].prev_object = NULL;
		return 0;
	}
	struct timespec deadline;
	gw_deadline_ms(CLOCK_MONOTONIC, timeout_ms, &deadline);
	int r = 0;
	pthread_mutex_lock(&s->lock);
	for (;;) {
		if (w->pos < s->compacted) {
			r = expired(err, w->pos, s->compacted);
			break;
		}
		if (s->rv > w->pos) {
			if ((r = fetch_events(w, err)) < 0)
				break;
			if (w->pending_n) {
				*ev = w->pending[0];
				w->pending[0].object = NULL;
				w->pending[0].prev_object = NULL;
				w->pending_next = 1;
				break;
			}
			continue;
		}
		if (timeout_ms == 0) {
			r = -ETIMEDOUT;
			break;
		}
		int rc = timeout_ms < 0 ? pthread_cond_wait(&s->changed, &s->lock)
					: pthread_cond_timedwait(&s->changed, &s->lock, &deadline);
		if (rc == ETIMEDOUT && s->rv <= w->pos && w->pos >= s->compacted) {
			r = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

static void sqlite_watch_free(struct gw_store_watch *base)
{
	struct sqlite_watch *w = (struct sqlite_watch *)base;
	for (size_t i = w->pending_next; i < w->pending_n; i++)
		gw_store_event_fini(&w->pending[i]);
	if (w->stmt) {
		pthread_mutex_lock(&w->s->lock);
		sqlite3_finalize(w->stmt);
		pthread_mutex_unlock(&w->s->lock);
	}
	free(w->kind);
	free(w->ns);
	free(w);
}

/* ---- open/close ------------------------------------------------------------ */

static void db_close(struct db *d)
{
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(d->stmt[i]);
	if (d->conn)
		sqlite3_close(d->conn);
}

static void sqlite_close(struct gw_store *base)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	db_close(&s->rdb);
	db_close(&s->wdb);
	json_decref(s->cache);
	json_decref(s->cache_text);
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* releases the flock */
	pthread_cond_destroy(&s->written);
	pthread_cond_destroy(&s->changed);
	pthread_mutex_destroy(&s->lock);
	free(s->path);
	free(s);
}

static int take_lock(struct sqlite_store *s, struct gw_err **err)
{
	_cleanup_free_ char *lock_path = gw_asprintf("%s.lock", s->path);
	s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0)
		return gw_err_set(err, -errno, "store %s: open %s: %s", s->path, lock_path,
				  strerror(errno));
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		char holder[32] = "";
		ssize_t n = pread(s->lock_fd, holder, sizeof(holder) - 1, 0);
		holder[n > 0 ? n : 0] = '\0';
		holder[strcspn(holder, "\n")] = '\0';
		close(s->lock_fd);
		s->lock_fd = -1;
		if (e == EWOULDBLOCK)
			return gw_err_set(err, -EBUSY,
					  "store %s: in use by another server (pid %s holds %s); one server per store file",
					  s->path, *holder ? holder : "?", lock_path);
		return gw_err_set(err, -e, "store %s: lock %s: %s", s->path, lock_path, strerror(e));
	}
	/* The holder's pid, for the message above; informative only. */
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(s->lock_fd, 0) == 0 && pwrite(s->lock_fd, pid, (size_t)n, 0) < 0) {
		/* not needed for correctness */
	}
	return 0;
}

/* A store written by schema 1 gets events.prev_object (its old events
 * have none: a watch treats their labels as unchanged). */
static int migrate(struct sqlite_store *s, struct db *d, struct gw_err **err)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(d->conn, "SELECT value FROM meta WHERE key = 'schema'", -1, &st, NULL) != SQLITE_OK)
		return db_error(s, d, err, "schema");
	int64_t schema = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (schema != 1)
		return 0;
	if (sqlite3_exec(d->conn,
			 "BEGIN IMMEDIATE; ALTER TABLE events ADD COLUMN prev_object TEXT;"
			 " UPDATE meta SET value = 2 WHERE key = 'schema'; COMMIT;",
			 NULL, NULL, NULL) != SQLITE_OK) {
		int r = db_error(s, d, err, "schema 1 to 2");
		sqlite3_exec(d->conn, "ROLLBACK", NULL, NULL, NULL);
		return r;
	}
	return 0;
}

static int db_open(struct sqlite_store *s, struct db *d, bool writer, struct gw_err **err)
{
	if (sqlite3_open_v2(s->path, &d->conn,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK)
		return gw_err_set(err, -EIO, "store %s: open: %s", s->path,
				  d->conn ? sqlite3_errmsg(d->conn) : "out of memory");
	if (writer) {
		/* WAL: readers do not block the writer; synchronous=FULL: the WAL
		 * is fsynced at each commit, so an acknowledged write survives a
		 * crash. A filesystem where WAL is impossible is refused. */
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(d->conn, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK)
			return db_error(s, d, err, "journal_mode");
		int rc = sqlite3_step(st);
		const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
		bool wal = mode && !strcmp(mode, "wal");
		sqlite3_finalize(st);
		if (!wal)
			return rc == SQLITE_ROW
				       ? gw_err_set(err, -EIO, "store %s: cannot use WAL mode here", s->path)
				       : db_error(s, d, err, "journal_mode");
		if (sqlite3_exec(d->conn, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(d->conn, schema_sql, NULL, NULL, NULL) != SQLITE_OK)
			return db_error(s, d, err, "schema");
		int r = migrate(s, d, err);
		if (r < 0)
			return r;
	}
	sqlite3_busy_timeout(d->conn, 5000);
	for (int i = 0; i < ST_COUNT; i++)
		if (sqlite3_prepare_v3(d->conn, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &d->stmt[i], NULL) != SQLITE_OK)
			return db_error(s, d, err, "prepare");
	return 0;
}

static int read_meta(struct db *d, const char *key, int64_t *value)
{
	sqlite3_stmt *st = d->stmt[ST_GET_META];
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*value = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : -EIO;
}

int gw_store_sqlite_open(const char *path, const struct gw_store_options *opts,
			 struct gw_store **store, struct gw_err **err)
{
	struct sqlite_store *s = gw_calloc(1, sizeof(*s));
	s->base.ops = &sqlite_ops;
	s->path = gw_strdup(path);
	s->lock_fd = -1;
	s->history = opts && opts->history_events > 0 ? opts->history_events : DEFAULT_HISTORY;
	s->cache = opts && opts->no_list_cache ? NULL : json_object();
	s->cache_text = s->cache ? json_object() : NULL;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->changed, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&s->written, NULL);

	int r = take_lock(s, err);
	if (r < 0 || (r = db_open(s, &s->wdb, true, err)) < 0 ||
	    (r = db_open(s, &s->rdb, false, err)) < 0)
		goto fail;
	int64_t schema = 0;
	if (read_meta(&s->wdb, "schema", &schema) || schema != SCHEMA_VERSION || read_meta(&s->wdb, "rv", &s->rv) ||
	    read_meta(&s->wdb, "compacted", &s->compacted)) {
		r = gw_err_set(err, -EIO, "store %s: not a Godwit store (schema %" PRId64 ")", path,
			       schema);
		goto fail;
	}
	*store = &s->base;
	return 0;
fail:
	sqlite_close(&s->base);
	return r;
}

static const struct gw_store_ops sqlite_ops = {
	.name = "sqlite",
	.close = sqlite_close,
	.get = sqlite_get,
	.list = sqlite_list,
	.list_text = sqlite_list_text,
	.create = sqlite_create,
	.update = sqlite_update,
	.remove = sqlite_remove,
	.compact = sqlite_compact,
	.current_rv = sqlite_current_rv,
	.watch = sqlite_watch,
	.watch_next = sqlite_watch_next,
	.watch_free = sqlite_watch_free,
};

/* SPDX-License-Identifier: Apache-2.0 */
/* The embedded store: one SQLite file in WAL mode with synchronous=FULL, so
 * a write is on disk when the call returns, and a crash (SIGKILL, power)
 * leaves either the whole transaction or none of it.
 *
 * Tables: objects (the current state, keyed by kind/namespace/name), events
 * (the history watches read: one row per change, its rv the primary key)
 * and meta (the current rv, the compacted rv). Every write is one
 * transaction: object row, event row, meta rv.
 *
 * One server per file: PATH.lock is held with flock(LOCK_EX) while the store
 * is open; a second open fails with -EBUSY naming the holder's pid.
 *
 * Concurrency: one SQLite connection; `lock` guards it and every field
 * below it. Writers broadcast `changed` after each commit; watches wait on
 * it. */
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

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_GET,
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
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_GET] = "SELECT rv, object FROM objects WHERE kind = ?1 AND namespace = ?2 AND name = ?3",
	[ST_LIST_KIND] = "SELECT rv, object FROM objects WHERE kind = ?1",
	[ST_LIST_NS] = "SELECT rv, object FROM objects WHERE kind = ?1 AND namespace = ?2",
	[ST_INSERT_OBJECT] = "INSERT INTO objects (kind, namespace, name, rv, object) "
			     "VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_UPDATE_OBJECT] = "UPDATE objects SET rv = ?4, object = ?5 "
			     "WHERE kind = ?1 AND namespace = ?2 AND name = ?3",
	[ST_DELETE_OBJECT] = "DELETE FROM objects WHERE kind = ?1 AND namespace = ?2 AND name = ?3",
	[ST_INSERT_EVENT] = "INSERT INTO events (rv, type, kind, namespace, name, object) "
			    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_SET_META] = "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
	[ST_COMPACT] = "DELETE FROM events WHERE rv <= ?1",
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS objects (kind TEXT NOT NULL, namespace TEXT NOT NULL,"
	" name TEXT NOT NULL, rv INTEGER NOT NULL, object TEXT NOT NULL,"
	" PRIMARY KEY (kind, namespace, name)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS events (rv INTEGER PRIMARY KEY, type INTEGER NOT NULL,"
	" kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, object TEXT NOT NULL);"
	"INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', 1), ('rv', 0), ('compacted', 0);";

struct sqlite_store {
	struct gw_store base;
	char *path;
	int lock_fd;
	int64_t history;
	pthread_mutex_t lock;
	pthread_cond_t changed; /* CLOCK_MONOTONIC */
	/* guarded by lock: */
	sqlite3 *db;
	sqlite3_stmt *stmt[ST_COUNT];
	int64_t rv;
	int64_t compacted;
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

static int db_error(struct sqlite_store *s, struct gw_err **err, const char *what)
{
	int code = sqlite3_extended_errcode(s->db);
	int r = (code & 0xff) == SQLITE_FULL ? -ENOSPC : -EIO;
	return gw_err_set(err, r, "store %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static int exec_simple(struct sqlite_store *s, enum stmt_id id)
{
	sqlite3_stmt *st = s->stmt[id];
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

/* A stored object: JSON text (without resourceVersion) and its rv. */
static int load_object(struct sqlite_store *s, sqlite3_stmt *st, int col, int64_t rv,
		       json_t **object, struct gw_err **err)
{
	const char *text = (const char *)sqlite3_column_text(st, col);
	int len = sqlite3_column_bytes(st, col);
	json_error_t je;
	json_t *o = text ? json_loadb(text, (size_t)len, JSON_REJECT_DUPLICATES, &je) : NULL;
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
	sqlite3_stmt *st = s->stmt[ST_GET];
	bind_key(st, kind, ns, name);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*rv = sqlite3_column_int64(st, 0);
		r = load_object(s, st, 1, *rv, object, err);
	} else if (rc == SQLITE_DONE) {
		r = gw_err_set(err, -ENOENT, "store: %s/%s/%s not found", kind, ns, name);
	} else {
		r = db_error(s, err, "get");
	}
	sqlite3_reset(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int sqlite_list(struct gw_store *base, const char *kind, const char *ns, json_t **items,
		       int64_t *list_rv, struct gw_err **err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	int r = 0, rc;
	json_t *arr = json_array();
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = s->stmt[ns ? ST_LIST_NS : ST_LIST_KIND];
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	if (ns)
		sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o;
		if ((r = load_object(s, st, 1, sqlite3_column_int64(st, 0), &o, err)) < 0)
			break;
		json_array_append_new(arr, o);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_error(s, err, "list");
	sqlite3_reset(st);
	*list_rv = s->rv;
	pthread_mutex_unlock(&s->lock);
	if (r < 0) {
		json_decref(arr);
		return r;
	}
	*items = arr;
	return 0;
}

/* Within a write transaction: the event row and the new store rv; and,
 * once the history exceeds its bound by a tenth, the oldest events go. */
static int record_event(struct sqlite_store *s, int64_t rv, enum gw_store_event_type type,
			const char *kind, const char *ns, const char *name, const char *text,
			int64_t *compact_to)
{
	sqlite3_stmt *st = s->stmt[ST_INSERT_EVENT];
	sqlite3_bind_int64(st, 1, rv);
	sqlite3_bind_int(st, 2, (int)type);
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, text, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return rc;
	st = s->stmt[ST_SET_META];
	sqlite3_bind_text(st, 1, "rv", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, rv);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return rc;
	*compact_to = s->compacted;
	if (rv - s->compacted > s->history + s->history / 10) {
		*compact_to = rv - s->history;
		st = s->stmt[ST_COMPACT];
		sqlite3_bind_int64(st, 1, *compact_to);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return rc;
		st = s->stmt[ST_SET_META];
		sqlite3_bind_text(st, 1, "compacted", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, *compact_to);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return rc;
	}
	return 0;
}

/* Commits, and only then makes the new rv visible to readers and watches. */
static int commit(struct sqlite_store *s, int64_t rv, int64_t compacted, struct gw_err **err)
{
	if (exec_simple(s, ST_COMMIT)) {
		int r = db_error(s, err, "commit");
		exec_simple(s, ST_ROLLBACK);
		return r;
	}
	s->rv = rv;
	s->compacted = compacted;
	pthread_cond_broadcast(&s->changed);
	return 0;
}

static char *dump(const json_t *object)
{
	return json_dumps(object, JSON_COMPACT);
}

static int sqlite_create(struct gw_store *base, const char *kind, const char *ns,
			 const char *name, const json_t *object, int64_t *rv, struct gw_err **err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	_cleanup_free_ char *text = dump(object);
	int r = 0, rc;
	int64_t compact_to;
	pthread_mutex_lock(&s->lock);
	int64_t new_rv = s->rv + 1;
	if (exec_simple(s, ST_BEGIN)) {
		r = db_error(s, err, "begin");
		goto out;
	}
	sqlite3_stmt *st = s->stmt[ST_INSERT_OBJECT];
	bind_key(st, kind, ns, name);
	sqlite3_bind_int64(st, 4, new_rv);
	sqlite3_bind_text(st, 5, text, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_CONSTRAINT) {
		r = gw_err_set(err, -EEXIST, "store: create %s/%s/%s: already exists", kind, ns, name);
		goto rollback;
	}
	if (rc != SQLITE_DONE ||
	    record_event(s, new_rv, GW_STORE_ADDED, kind, ns, name, text, &compact_to)) {
		r = db_error(s, err, "create");
		goto rollback;
	}
	if ((r = commit(s, new_rv, compact_to, err)) == 0)
		*rv = new_rv;
	goto out;
rollback:
	exec_simple(s, ST_ROLLBACK);
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* In a transaction: the stored rv of a key (0: none), and its text if
 * wanted (caller frees). */
static int stored_rv(struct sqlite_store *s, const char *kind, const char *ns, const char *name,
		     int64_t *rv, char **text)
{
	sqlite3_stmt *st = s->stmt[ST_GET];
	bind_key(st, kind, ns, name);
	int rc = sqlite3_step(st);
	*rv = 0;
	if (rc == SQLITE_ROW) {
		*rv = sqlite3_column_int64(st, 0);
		if (text)
			*text = gw_strdup((const char *)sqlite3_column_text(st, 1));
		rc = SQLITE_DONE;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : rc;
}

static int sqlite_update(struct gw_store *base, const char *kind, const char *ns,
			 const char *name, const json_t *object, int64_t cas_rv, int64_t *rv,
			 int64_t *current_rv, struct gw_err **err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	_cleanup_free_ char *text = dump(object);
	int r = 0, rc;
	int64_t compact_to, cur;
	pthread_mutex_lock(&s->lock);
	int64_t new_rv = s->rv + 1;
	if (exec_simple(s, ST_BEGIN)) {
		r = db_error(s, err, "begin");
		goto out;
	}
	if (stored_rv(s, kind, ns, name, &cur, NULL)) {
		r = db_error(s, err, "update");
		goto rollback;
	}
	*current_rv = cur;
	if (!cur) {
		r = gw_err_set(err, -ENOENT, "store: update %s/%s/%s: not found", kind, ns, name);
		goto rollback;
	}
	if (cur != cas_rv) {
		r = gw_err_set(err, -EBUSY, "store: update %s/%s/%s: conflict", kind, ns, name);
		goto rollback;
	}
	sqlite3_stmt *st = s->stmt[ST_UPDATE_OBJECT];
	bind_key(st, kind, ns, name);
	sqlite3_bind_int64(st, 4, new_rv);
	sqlite3_bind_text(st, 5, text, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE ||
	    record_event(s, new_rv, GW_STORE_MODIFIED, kind, ns, name, text, &compact_to)) {
		r = db_error(s, err, "update");
		goto rollback;
	}
	if ((r = commit(s, new_rv, compact_to, err)) == 0)
		*rv = new_rv;
	goto out;
rollback:
	exec_simple(s, ST_ROLLBACK);
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int sqlite_remove(struct gw_store *base, const char *kind, const char *ns,
			 const char *name, int64_t cas_rv, int64_t *rv, int64_t *current_rv,
			 struct gw_err **err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	_cleanup_free_ char *text = NULL;
	int r = 0, rc;
	int64_t compact_to, cur;
	pthread_mutex_lock(&s->lock);
	int64_t new_rv = s->rv + 1;
	if (exec_simple(s, ST_BEGIN)) {
		r = db_error(s, err, "begin");
		goto out;
	}
	if (stored_rv(s, kind, ns, name, &cur, &text)) {
		r = db_error(s, err, "delete");
		goto rollback;
	}
	*current_rv = cur;
	if (!cur) {
		r = gw_err_set(err, -ENOENT, "store: delete %s/%s/%s: not found", kind, ns, name);
		goto rollback;
	}
	if (cas_rv && cur != cas_rv) {
		r = gw_err_set(err, -EBUSY, "store: delete %s/%s/%s: conflict", kind, ns, name);
		goto rollback;
	}
	sqlite3_stmt *st = s->stmt[ST_DELETE_OBJECT];
	bind_key(st, kind, ns, name);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE ||
	    record_event(s, new_rv, GW_STORE_DELETED, kind, ns, name, text, &compact_to)) {
		r = db_error(s, err, "delete");
		goto rollback;
	}
	if ((r = commit(s, new_rv, compact_to, err)) == 0)
		*rv = new_rv;
	goto out;
rollback:
	exec_simple(s, ST_ROLLBACK);
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int sqlite_compact(struct gw_store *base, int64_t rv, struct gw_err **err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	int r = 0;
	pthread_mutex_lock(&s->lock);
	if (rv > s->rv) {
		r = gw_err_set(err, -EINVAL, "store: compact to %" PRId64 ": beyond the current %" PRId64,
			       rv, s->rv);
		goto out;
	}
	if (rv <= s->compacted)
		goto out;
	if (exec_simple(s, ST_BEGIN)) {
		r = db_error(s, err, "begin");
		goto out;
	}
	sqlite3_stmt *st = s->stmt[ST_COMPACT];
	sqlite3_bind_int64(st, 1, rv);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE) {
		st = s->stmt[ST_SET_META];
		sqlite3_bind_text(st, 1, "compacted", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, rv);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
	}
	if (rc != SQLITE_DONE) {
		r = db_error(s, err, "compact");
		exec_simple(s, ST_ROLLBACK);
		goto out;
	}
	r = commit(s, s->rv, rv, err);
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int sqlite_current_rv(struct gw_store *base, int64_t *rv, struct gw_err **err)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	pthread_mutex_lock(&s->lock);
	*rv = s->rv;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

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
	else if (sqlite3_prepare_v3(s->db,
				    "SELECT rv, type, object FROM events WHERE rv > ?1 AND kind = ?2"
				    " AND (?3 IS NULL OR namespace = ?3) ORDER BY rv LIMIT ?4",
				    -1, SQLITE_PREPARE_PERSISTENT, &w->stmt, NULL) != SQLITE_OK)
		r = db_error(s, err, "watch");
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
		w->pending_n++;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_error(s, err, "watch");
	sqlite3_reset(st);
	if (r < 0) {
		for (size_t i = 0; i < w->pending_n; i++)
			gw_store_event_fini(&w->pending[i]);
		w->pending_n = 0;
		return r;
	}
	if (w->pending_n)
		w->pos = w->pending[w->pending_n - 1].rv;
	else if (scanned_to > w->pos)
		w->pos = scanned_to; /* nothing of ours up to there */
	return 0;
}

static int sqlite_watch_next(struct gw_store_watch *base, int timeout_ms,
			     struct gw_store_event *ev, struct gw_err **err)
{
	struct sqlite_watch *w = (struct sqlite_watch *)base;
	struct sqlite_store *s = w->s;
	if (w->pending_next < w->pending_n) {
		*ev = w->pending[w->pending_next];
		w->pending[w->pending_next++].object = NULL;
		return 0;
	}
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	if (timeout_ms > 0) {
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
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
		if (rc == ETIMEDOUT && s->rv <= w->pos) {
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

static void sqlite_close(struct gw_store *base)
{
	struct sqlite_store *s = (struct sqlite_store *)base;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	if (s->db)
		sqlite3_close(s->db);
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* releases the flock */
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

static int read_meta(struct sqlite_store *s, const char *key, int64_t *value)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL))
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*value = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
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
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->changed, &ca);
	pthread_condattr_destroy(&ca);

	int r = take_lock(s, err);
	if (r < 0)
		goto fail;
	if (sqlite3_open_v2(path, &s->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		r = gw_err_set(err, -EIO, "store %s: open: %s", path,
			       s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 0);
	/* WAL: readers do not block the writer; synchronous=FULL: the WAL is
	 * fsynced at each commit, so an acknowledged write survives a crash.
	 * The journal mode is checked: a file on a filesystem without shared
	 * memory support stays in rollback mode, which we refuse. */
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK) {
		r = db_error(s, err, "journal_mode");
		goto fail;
	}
	int rc = sqlite3_step(st);
	bool wal = rc == SQLITE_ROW &&
		   !strcmp((const char *)sqlite3_column_text(st, 0) ?: "", "wal");
	sqlite3_finalize(st);
	if (!wal) {
		r = rc == SQLITE_ROW ? gw_err_set(err, -EIO, "store %s: cannot use WAL mode here", path)
				     : db_error(s, err, "journal_mode");
		goto fail;
	}
	if (sqlite3_exec(s->db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;", NULL, NULL,
			 NULL) != SQLITE_OK ||
	    sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK) {
		r = db_error(s, err, "schema");
		goto fail;
	}
	int64_t schema = 0;
	if (read_meta(s, "schema", &schema) || schema != 1 || read_meta(s, "rv", &s->rv) ||
	    read_meta(s, "compacted", &s->compacted)) {
		r = gw_err_set(err, -EIO, "store %s: not a Godwit store (schema %" PRId64 ")", path,
			       schema);
		goto fail;
	}
	for (int i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
				       NULL) != SQLITE_OK) {
			r = db_error(s, err, "prepare");
			goto fail;
		}
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
	.create = sqlite_create,
	.update = sqlite_update,
	.remove = sqlite_remove,
	.compact = sqlite_compact,
	.current_rv = sqlite_current_rv,
	.watch = sqlite_watch,
	.watch_next = sqlite_watch_next,
	.watch_free = sqlite_watch_free,
};

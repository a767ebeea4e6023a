/* SPDX-License-Identifier: Apache-2.0 */
/* Godwit utilities: errors, cleanup helpers, growable strings and lists,
 * files, YAML/JSON documents. No module above util is used here. */
#ifndef GODWIT_UTIL_H
#define GODWIT_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

/* ---- errors ------------------------------------------------------------
 * A fallible function returns 0 or a negative errno and, when a message
 * helps, takes `struct gw_err **err` last. The message grows outward:
 * gw_err_wrap() prefixes context ("profile x.json: features[3]: ..."). */
struct gw_err {
	int code;  /* negative errno */
	char *msg;
};

#if defined(__GNUC__)
#define GW_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GW_PRINTF(a, b)
#endif

/* Sets *err (if err is not NULL and *err is NULL) and returns code. */
int gw_err_set(struct gw_err **err, int code, const char *fmt, ...) GW_PRINTF(3, 4);
/* Prefixes "context: " to an existing error; returns its code (or -EINVAL). */
int gw_err_wrap(struct gw_err **err, const char *fmt, ...) GW_PRINTF(2, 3);
void gw_err_free(struct gw_err *err);
const char *gw_err_msg(const struct gw_err *err);

/* ---- cleanup helpers ------------------------------------------------- */
void gw_freep(void *p);
void gw_closep(int *fd);
void gw_fclosep(FILE **f);
void gw_json_decrefp(json_t **j);
void gw_err_freep(struct gw_err **e);
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(gw_freep)
#define _cleanup_close_ _cleanup_(gw_closep)
#define _cleanup_fclose_ _cleanup_(gw_fclosep)
#define _cleanup_json_ _cleanup_(gw_json_decrefp)
#define _cleanup_err_ _cleanup_(gw_err_freep)

#define GW_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation failure is not recoverable for a CLI or a daemon that must
 * stay consistent: these abort with a message instead of returning NULL. */
void *gw_malloc(size_t n);
void *gw_calloc(size_t n, size_t size);
void *gw_realloc(void *p, size_t n);
char *gw_strdup(const char *s);
char *gw_strndup(const char *s, size_t n);
char *gw_asprintf(const char *fmt, ...) GW_PRINTF(1, 2);

/* ---- growable string ------------------------------------------------- */
struct gw_buf {
	char *data;  /* always NUL-terminated once anything was added */
	size_t len;
	size_t cap;
};
void gw_buf_init(struct gw_buf *b);
void gw_buf_fini(struct gw_buf *b);
void gw_buf_add(struct gw_buf *b, const char *s, size_t n);
/* Room for `extra` more bytes (and the NUL) without a reallocation, for
 * writers that fill data + len themselves. */
void gw_buf_reserve(struct gw_buf *b, size_t extra);
void gw_buf_puts(struct gw_buf *b, const char *s);
void gw_buf_printf(struct gw_buf *b, const char *fmt, ...) GW_PRINTF(2, 3);
void gw_buf_vprintf(struct gw_buf *b, const char *fmt, va_list ap) GW_PRINTF(2, 0);
/* Hands the string to the caller and resets the buffer. */
char *gw_buf_steal(struct gw_buf *b);

/* ---- string list ----------------------------------------------------- */
struct gw_strv {
	char **v;
	size_t n;
	size_t cap;
};
void gw_strv_init(struct gw_strv *s);
void gw_strv_fini(struct gw_strv *s);
void gw_strv_push(struct gw_strv *s, const char *str);
void gw_strv_push_take(struct gw_strv *s, char *str);
bool gw_strv_contains(const struct gw_strv *s, const char *str);
void gw_strv_sort(struct gw_strv *s);

/* ---- interned strings -------------------------------------------------
 * A set of strings, each kept once in big blocks that are freed all
 * together by gw_strtab_free (never one by one): for the many repeated
 * strings of a big input (a cluster's labels). Not thread-safe. */
struct gw_strtab;
struct gw_strtab *gw_strtab_new(void);
void gw_strtab_free(struct gw_strtab *t);
/* The table's copy of s[0..len) (NUL-terminated), the same pointer for
 * equal strings. */
const char *gw_strtab_intern(struct gw_strtab *t, const char *s, size_t len);
/* n bytes (align: a power of two, at most max_align_t's) in the table's
 * blocks, freed with the table. */
void *gw_strtab_alloc(struct gw_strtab *t, size_t n, size_t align);
/* A buffer of at least n bytes for a caller's temporary use until its
 * next call (one per table, kept: no malloc per use). */
void *gw_strtab_scratch(struct gw_strtab *t, size_t n);
/* Distinct strings interned. */
size_t gw_strtab_count(const struct gw_strtab *t);

/* ---- string numbers -----------------------------------------------------
 * A number per distinct text (0, 1, ... in the order first met), found by
 * the string's address once that address has been met: interned strings
 * (a loaded cluster's labels) are few addresses met many times, so
 * numbering a node's ~150 labels reads none of their text. The strings
 * must outlive the table. Not thread-safe. */
struct gw_strids {
	struct gw_strid_addr *addrs;      /* by address */
	size_t addr_cap, addr_n;
	struct gw_strid_text *texts;      /* by text */
	size_t text_cap, text_n;
};
void gw_strids_init(struct gw_strids *t);
void gw_strids_fini(struct gw_strids *t);
size_t gw_strids_id(struct gw_strids *t, const char *s);
/* FNV-1a of a string's bytes: for hash tables of short keys. */
uint64_t gw_str_hash(const char *s);

/* ---- strings ---------------------------------------------------------- */
bool gw_str_has_prefix(const char *s, const char *prefix);
bool gw_str_has_suffix(const char *s, const char *suffix);
/* Levenshtein distance, capped: returns cap+1 when the distance exceeds cap. */
unsigned gw_str_distance(const char *a, const char *b, unsigned cap);
/* Decimal unsigned integer, digits only (no sign, spaces or overflow). */
bool gw_str_to_u64(const char *s, uint64_t *out);
/* Splits s on sep into out (empty fields kept). */
void gw_str_split(const char *s, char sep, struct gw_strv *out);

/* ---- files ------------------------------------------------------------ */
/* Reads a whole file (at most max_bytes) into a NUL-terminated buffer. */
int gw_file_read(const char *path, size_t max_bytes, char **data, size_t *len,
		 struct gw_err **err);
int gw_file_write_atomic(const char *path, const char *data, size_t len, struct gw_err **err);
bool gw_path_is_dir(const char *path);
/* Regular files of a directory, sorted by name, hidden files skipped. */
int gw_dir_list(const char *path, struct gw_strv *files, struct gw_err **err);

/* ---- documents (YAML or JSON) ------------------------------------------
 * Reads one file holding one or more documents (YAML `---` separated, or
 * JSON) into a JSON array of documents. YAML scalars become JSON strings,
 * numbers, booleans or null by YAML 1.2 core-schema rules, unless quoted.
 * Errors name the file and line. */
int gw_doc_load_file(const char *path, json_t **docs, struct gw_err **err);
int gw_doc_load_string(const char *name, const char *text, size_t len, json_t **docs,
		       struct gw_err **err);

/* A JSON file read without its whole tree (yajl): each top-level value
 * (counted from 0) is built and handed to value(); a top-level object's
 * "items" array is not built but handed element by element to item()
 * first, and value() then gets the object without "items" and
 * items_streamed true. Values are borrowed for the call. A callback
 * returning non-zero stops the reading with that value.
 * gw_json_stream_file returns 0, a negative errno (I/O, a callback), or 1
 * when the file must go to gw_doc_load_file instead, which would answer
 * differently: not JSON (YAML), any syntax error, a duplicate key, NUL,
 * UTF-8 that jansson refuses (overlong, surrogates, past U+10FFFF),
 * a surrogate escape, deep nesting, a number out of range, too big. */
struct gw_json_stream_ops {
	int (*item)(void *ctx, size_t doc, size_t index, json_t *item);
	int (*value)(void *ctx, size_t doc, json_t *value, bool items_streamed);
	/* Optional: an item's metadata.labels, metadata.annotations and
	 * spec.nodeSelector, while they hold only strings, are not built:
	 * their strings are interned here and an empty object stands in
	 * their place, which gw_json_stream_strmap recognizes during item();
	 * for anything else to read the item as is, gw_json_stream_expand. */
	struct gw_strtab *strings;
	/* Items built in an arena reused from one item to the next (much
	 * cheaper than a malloc and a free per value): an item and its
	 * values must not be kept past item(), copy them instead
	 * (gw_json_stream_expand first when strings is set). */
	bool arena;
};
int gw_json_stream_file(const char *path, const struct gw_json_stream_ops *ops, void *ctx, struct gw_err **err);
/* During item(): if obj stands for a captured map, its n keys and values
 * (interned), key then value, in the order read; else NULL. */
const char *const *gw_json_stream_strmap(const json_t *obj, size_t *n);
/* During item(): the captured maps of the item, built into it as jansson
 * objects, as the whole-file reader would have them. */
void gw_json_stream_expand(void);

/* Writes a JSON value to a stream, pretty-printed, with a newline. */
void gw_json_print(FILE *out, const json_t *value);
/* Compact JSON (no whitespace, keys in insertion order), the format of
 * each VM in `godwit check -o json`: strings escape '"', '\\', \n, \t,
 * \r and the other control characters as \u00xx (lower-case hex). */
void gw_json_write_string(struct gw_buf *b, const char *s, size_t len);
void gw_json_write_compact(struct gw_buf *b, const json_t *v);

/* ---- time ------------------------------------------------------------- */
uint64_t gw_now_ns(void);
/* The absolute time `ms` milliseconds from now on `clock`, for
 * pthread_cond_timedwait (whose condition variable uses that clock). */
void gw_deadline_ms(clockid_t clock, int ms, struct timespec *out);
/* The wall clock in milliseconds since the epoch. */
uint64_t gw_unix_ms(void);
/* RFC 3339 UTC with milliseconds: "2026-11-23T11:35:29.123Z". */
void gw_time_format(int64_t unix_ms, char out[40]);
/* Parses RFC 3339 (fraction and offset optional) to milliseconds since
 * the epoch; -1 when unparsable. */
int64_t gw_time_parse(const char *s);

#endif

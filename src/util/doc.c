/* SPDX-License-Identifier: Apache-2.0 */
/* YAML and JSON documents as jansson values, through libyaml's event API.
 * JSON is a subset of YAML 1.2, but JSON input goes through jansson so its
 * errors carry jansson's line and column. */
#include <ctype.h>
#include <string.h>

#include <yaml.h>

#include "godwit/util.h"

#define DOC_MAX_DEPTH 128
/* Values that aliases may copy in one load: aliases are expanded, so
 * without a bound a few lines ("billion laughs") make gigabytes. */
#define DOC_MAX_ALIAS_VALUES 1000000

struct anchors {
	struct gw_strv names;
	json_t **values;
};

struct doc_parser {
	yaml_parser_t yaml;
	const char *name;
	struct anchors anchors;
	struct gw_err **err;
	size_t alias_values;   /* values copied by aliases so far */
};

/* Values in v, counting stops past limit. */
static size_t count_values(const json_t *v, size_t limit, size_t acc)
{
	if (++acc > limit)
		return acc;
	size_t i;
	const char *key;
	json_t *x;
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, x)
			if ((acc = count_values(x, limit, acc)) > limit)
				return acc;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			if ((acc = count_values(x, limit, acc)) > limit)
				return acc;
	}
	return acc;
}

static void anchors_fini(struct anchors *a)
{
	for (size_t i = 0; i < a->names.n; i++)
		json_decref(a->values[i]);
	free(a->values);
	gw_strv_fini(&a->names);
}

static void anchors_add(struct anchors *a, const char *name, json_t *value)
{
	a->values = gw_realloc(a->values, (a->names.n + 1) * sizeof(*a->values));
	a->values[a->names.n] = json_incref(value);
	gw_strv_push(&a->names, name);
}

static json_t *anchors_find(struct anchors *a, const char *name)
{
	for (size_t i = a->names.n; i-- > 0;)
		if (strcmp(a->names.v[i], name) == 0)
			return a->values[i];
	return NULL;
}

static bool parse_int(const char *s, json_int_t *out)
{
	const char *p = s;
	if (*p == '-' || *p == '+')
		p++;
	if (!*p)
		return false;
	for (const char *q = p; *q; q++)
		if (!isdigit((unsigned char)*q))
			return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*out = (json_int_t)v;
	return true;
}

static bool parse_real(const char *s, double *out)
{
	bool digit = false;
	for (const char *p = s; *p; p++) {
		if (isdigit((unsigned char)*p))
			digit = true;
		else if (!strchr("+-.eE", *p))
			return false;
	}
	if (!digit)
		return false;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

/* YAML 1.2 core schema, for plain (unquoted) scalars only. */
static json_t *scalar_value(const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || strlen(s) != len)
		return json_stringn(s, len);
	if (ev->data.scalar.tag && strcmp((const char *)ev->data.scalar.tag, "tag:yaml.org,2002:str") == 0)
		return json_stringn(s, len);
	if (!strcmp(s, "") || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
		return json_null();
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return json_true();
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return json_false();
	json_int_t i;
	if (parse_int(s, &i))
		return json_integer(i);
	double d;
	if (parse_real(s, &d))
		return json_real(d);
	return json_stringn(s, len);
}

static int parse_error(struct doc_parser *p, const char *what)
{
	if (p->yaml.problem)
		return gw_err_set(p->err, -EINVAL, "%s: line %zu column %zu: %s%s%s", p->name,
				  p->yaml.problem_mark.line + 1, p->yaml.problem_mark.column + 1,
				  p->yaml.problem, p->yaml.context ? " " : "",
				  p->yaml.context ? p->yaml.context : "");
	return gw_err_set(p->err, -EINVAL, "%s: %s", p->name, what);
}

static int parse_node(struct doc_parser *p, yaml_event_t *ev, unsigned depth, json_t **out);

static int next_event(struct doc_parser *p, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&p->yaml, ev))
		return parse_error(p, "malformed YAML");
	return 0;
}

static int parse_collection(struct doc_parser *p, yaml_event_t *start, unsigned depth, json_t **out)
{
	bool mapping = start->type == YAML_MAPPING_START_EVENT;
	size_t line = start->start_mark.line + 1;
	if (depth > DOC_MAX_DEPTH)
		return gw_err_set(p->err, -EINVAL, "%s: line %zu: nesting deeper than %d levels", p->name,
				  line, DOC_MAX_DEPTH);
	json_t *coll = mapping ? json_object() : json_array();
	for (;;) {
		yaml_event_t ev;
		int r = next_event(p, &ev);
		if (r < 0) {
			json_decref(coll);
			return r;
		}
		if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (!mapping) {
			json_t *item;
			r = parse_node(p, &ev, depth + 1, &item);
			yaml_event_delete(&ev);
			if (r < 0) {
				json_decref(coll);
				return r;
			}
			json_array_append_new(coll, item);
			continue;
		}
		size_t key_line = ev.start_mark.line + 1;
		if (ev.type != YAML_SCALAR_EVENT) {
			yaml_event_delete(&ev);
			json_decref(coll);
			return gw_err_set(p->err, -EINVAL, "%s: line %zu: mapping keys must be plain strings",
					  p->name, key_line);
		}
		char *key = gw_strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
		yaml_event_delete(&ev);
		r = next_event(p, &ev);
		if (r < 0) {
			free(key);
			json_decref(coll);
			return r;
		}
		json_t *value;
		r = parse_node(p, &ev, depth + 1, &value);
		yaml_event_delete(&ev);
		if (r < 0) {
			free(key);
			json_decref(coll);
			return r;
		}
		if (json_object_get(coll, key)) {
			r = gw_err_set(p->err, -EINVAL, "%s: line %zu: duplicate key \"%s\"", p->name, key_line, key);
			free(key);
			json_decref(value);
			json_decref(coll);
			return r;
		}
		json_object_set_new(coll, key, value);
		free(key);
	}
	*out = coll;
	return 0;
}

static int parse_node(struct doc_parser *p, yaml_event_t *ev, unsigned depth, json_t **out)
{
	const yaml_char_t *anchor = NULL;
	int r = 0;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		*out = scalar_value(ev);
		anchor = ev->data.scalar.anchor;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		r = parse_collection(p, ev, depth, out);
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		r = parse_collection(p, ev, depth, out);
		break;
	case YAML_ALIAS_EVENT: {
		json_t *v = anchors_find(&p->anchors, (const char *)ev->data.alias.anchor);
		if (!v)
			return gw_err_set(p->err, -EINVAL, "%s: line %zu: unknown alias *%s", p->name,
					  ev->start_mark.line + 1, (const char *)ev->data.alias.anchor);
		p->alias_values = count_values(v, DOC_MAX_ALIAS_VALUES, p->alias_values);
		if (p->alias_values > DOC_MAX_ALIAS_VALUES)
			return gw_err_set(p->err, -E2BIG, "%s: line %zu: aliases expand to more than %d values",
					  p->name, ev->start_mark.line + 1, DOC_MAX_ALIAS_VALUES);
		*out = json_deep_copy(v);
		return 0;
	}
	default:
		return gw_err_set(p->err, -EINVAL, "%s: line %zu: unexpected YAML event", p->name,
				  ev->start_mark.line + 1);
	}
	if (r == 0 && anchor)
		anchors_add(&p->anchors, (const char *)anchor, *out);
	return r;
}

static int load_yaml(const char *name, const char *text, size_t len, json_t **docs, struct gw_err **err)
{
	struct doc_parser p = {.name = name, .err = err};
	gw_strv_init(&p.anchors.names);
	if (!yaml_parser_initialize(&p.yaml))
		return gw_err_set(err, -ENOMEM, "%s: cannot start the YAML parser", name);
	yaml_parser_set_input_string(&p.yaml, (const unsigned char *)text, len);
	json_t *all = json_array();
	int r = 0;
	bool in_doc = false;
	for (;;) {
		yaml_event_t ev;
		r = next_event(&p, &ev);
		if (r < 0)
			break;
		yaml_event_type_t type = ev.type;
		if (type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (type == YAML_DOCUMENT_START_EVENT) {
			in_doc = true;
		} else if (type == YAML_DOCUMENT_END_EVENT) {
			in_doc = false;
		} else if (in_doc) {
			json_t *doc;
			r = parse_node(&p, &ev, 0, &doc);
			if (r < 0) {
				yaml_event_delete(&ev);
				break;
			}
			/* An empty document (`---` alone) holds nothing. */
			if (json_is_null(doc))
				json_decref(doc);
			else
				json_array_append_new(all, doc);
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p.yaml);
	anchors_fini(&p.anchors);
	if (r < 0) {
		json_decref(all);
		return r;
	}
	*docs = all;
	return 0;
}

static bool looks_like_json(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (isspace((unsigned char)text[i]))
			continue;
		return text[i] == '{' || text[i] == '[';
	}
	return false;
}

int gw_doc_load_string(const char *name, const char *text, size_t len, json_t **docs,
		       struct gw_err **err)
{
	if (!looks_like_json(text, len))
		return load_yaml(name, text, len, docs, err);
	json_error_t jerr;
	json_t *all = json_array();
	size_t off = 0;
	/* JSON documents may follow one another (as `kubectl get -o json` of
	 * several calls concatenated). */
	while (off < len) {
		size_t skip = off;
		while (skip < len && isspace((unsigned char)text[skip]))
			skip++;
		if (skip >= len)
			break;
		json_t *doc = json_loadb(text + skip, len - skip, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES,
					 &jerr);
		if (!doc) {
			json_decref(all);
			return gw_err_set(err, -EINVAL, "%s: line %d column %d: %s", name, jerr.line, jerr.column,
					  jerr.text);
		}
		json_array_append_new(all, doc);
		off = skip + jerr.position;
	}
	*docs = all;
	return 0;
}

int gw_doc_load_file(const char *path, json_t **docs, struct gw_err **err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = gw_file_read(path, 512u << 20, &text, &len, err);
	if (r < 0)
		return r;
	if (memchr(text, '\0', len))
		return gw_err_set(err, -EINVAL, "%s: binary data (NUL byte) in a text document", path);
	return gw_doc_load_string(path, text, len, docs, err);
}

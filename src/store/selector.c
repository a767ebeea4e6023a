/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes label selectors, the text form: equality-based (k=v, k==v,
 * k!=v) and set-based (k in (a,b), k notin (a,b), k, !k), comma-separated,
 * all requirements ANDed. Kubernetes: "k!=v" and "k notin (...)" also
 * match objects without the label. */
#include <ctype.h>
#include <string.h>

#include "backend.h"

enum op { OP_EQ, OP_NE, OP_IN, OP_NOTIN, OP_EXISTS, OP_NOT_EXISTS };

struct requirement {
	char *key;
	enum op op;
	struct gw_strv values;
};

struct gw_store_selector {
	struct requirement *reqs;
	size_t n;
};

void gw_store_selector_free(struct gw_store_selector *selector)
{
	if (!selector)
		return;
	for (size_t i = 0; i < selector->n; i++) {
		free(selector->reqs[i].key);
		gw_strv_fini(&selector->reqs[i].values);
	}
	free(selector->reqs);
	free(selector);
}

/* Label keys ([prefix/]name) and values: letters, digits, '-', '_', '.'. */
static bool label_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.' || c == '/';
}

static void skip_space(const char **p)
{
	while (**p == ' ')
		(*p)++;
}

static char *take_word(const char **p)
{
	const char *start = *p;
	while (label_char(**p))
		(*p)++;
	return gw_strndup(start, (size_t)(*p - start));
}

static bool take_keyword(const char **p, const char *word)
{
	size_t n = strlen(word);
	if (strncmp(*p, word, n) || label_char((*p)[n]))
		return false;
	*p += n;
	return true;
}

static int parse_requirement(const char **p, struct requirement *req, const char *text,
			     struct gw_err **err)
{
	skip_space(p);
	bool negated = false;
	if (**p == '!') {
		negated = true;
		(*p)++;
		skip_space(p);
	}
	req->key = take_word(p);
	if (!*req->key)
		return gw_err_set(err, -EINVAL, "label selector \"%s\": label key expected at offset %zu",
				  text, (size_t)(*p - text));
	skip_space(p);
	if (negated) {
		req->op = OP_NOT_EXISTS;
		return 0;
	}
	if (**p == ',' || !**p) {
		req->op = OP_EXISTS;
		return 0;
	}
	if (**p == '=' || (**p == '!' && (*p)[1] == '=')) {
		req->op = **p == '!' ? OP_NE : OP_EQ;
		*p += **p == '!' ? 2 : 1;
		if (req->op == OP_EQ && **p == '=')
			(*p)++;
		skip_space(p);
		gw_strv_push_take(&req->values, take_word(p));
		return 0;
	}
	if (take_keyword(p, "in"))
		req->op = OP_IN;
	else if (take_keyword(p, "notin"))
		req->op = OP_NOTIN;
	else
		return gw_err_set(err, -EINVAL,
				  "label selector \"%s\": '=', '!=', 'in' or 'notin' expected at offset %zu",
				  text, (size_t)(*p - text));
	skip_space(p);
	if (**p != '(')
		return gw_err_set(err, -EINVAL, "label selector \"%s\": '(' expected at offset %zu",
				  text, (size_t)(*p - text));
	(*p)++;
	for (;;) {
		skip_space(p);
		char *v = take_word(p);
		gw_strv_push_take(&req->values, v);
		skip_space(p);
		if (**p == ',') {
			(*p)++;
			continue;
		}
		if (**p == ')') {
			(*p)++;
			return 0;
		}
		return gw_err_set(err, -EINVAL,
				  "label selector \"%s\": ',' or ')' expected at offset %zu", text,
				  (size_t)(*p - text));
	}
}

int gw_store_selector_parse(const char *text, struct gw_store_selector **selector,
			    struct gw_err **err)
{
	*selector = NULL;
	struct gw_store_selector *s = gw_calloc(1, sizeof(*s));
	size_t cap = 0;
	const char *p = text ? text : "";
	skip_space(&p);
	while (*p) {
		if (s->n == cap) {
			cap = cap ? cap * 2 : 4;
			s->reqs = gw_realloc(s->reqs, cap * sizeof(*s->reqs));
		}
		struct requirement *req = &s->reqs[s->n++];
		memset(req, 0, sizeof(*req));
		gw_strv_init(&req->values);
		int r = parse_requirement(&p, req, text, err);
		if (r < 0) {
			gw_store_selector_free(s);
			return r;
		}
		skip_space(&p);
		if (*p == ',') {
			p++;
			skip_space(&p);
			if (!*p) {
				gw_store_selector_free(s);
				return gw_err_set(err, -EINVAL,
						  "label selector \"%s\": requirement expected after ','", text);
			}
		} else if (*p) {
			gw_store_selector_free(s);
			return gw_err_set(err, -EINVAL,
					  "label selector \"%s\": unexpected '%c' at offset %zu", text, *p,
					  (size_t)(p - text));
		}
	}
	*selector = s;
	return 0;
}

bool gw_store_selector_matches(const struct gw_store_selector *selector, const json_t *labels)
{
	for (size_t i = 0; i < selector->n; i++) {
		const struct requirement *req = &selector->reqs[i];
		const json_t *v = json_is_object(labels) ? json_object_get(labels, req->key) : NULL;
		const char *value = json_string_value(v);
		bool ok;
		switch (req->op) {
		case OP_EXISTS:
			ok = v != NULL;
			break;
		case OP_NOT_EXISTS:
			ok = v == NULL;
			break;
		case OP_EQ:
		case OP_IN:
			ok = value && gw_strv_contains(&req->values, value);
			break;
		case OP_NE:
		case OP_NOTIN:
			ok = !value || !gw_strv_contains(&req->values, value);
			break;
		default:
			ok = false;
		}
		if (!ok)
			return false;
	}
	return true;
}

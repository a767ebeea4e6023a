/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "helpers.h"

static json_t *load(const char *text, struct gw_err **err)
{
	json_t *docs = NULL;
	if (gw_doc_load_string("t.yaml", text, strlen(text), &docs, err) < 0)
		return NULL;
	return docs;
}

static void yaml_scalars_follow_core_schema(void **state)
{
	(void)state;
	struct gw_err *err = NULL;
	json_t *docs = load("a: 1\nb: true\nc: \"1\"\nd: ~\ne: 1.5\nf: abc\ng: '0x10'\n", &err);
	assert_non_null(docs);
	json_t *d = json_array_get(docs, 0);
	assert_true(json_is_integer(json_object_get(d, "a")));
	assert_true(json_is_true(json_object_get(d, "b")));
	assert_string_equal(json_string_value(json_object_get(d, "c")), "1");
	assert_true(json_is_null(json_object_get(d, "d")));
	assert_true(json_is_real(json_object_get(d, "e")));
	assert_string_equal(json_string_value(json_object_get(d, "f")), "abc");
	assert_string_equal(json_string_value(json_object_get(d, "g")), "0x10");
	json_decref(docs);
}

static void yaml_multi_document_and_anchors(void **state)
{
	(void)state;
	struct gw_err *err = NULL;
	json_t *docs = load("---\nx: &a [1, 2]\ny: *a\n---\n---\nkind: Node\n", &err);
	assert_non_null(docs);
	assert_int_equal(json_array_size(docs), 2);
	assert_int_equal(json_array_size(json_object_get(json_array_get(docs, 0), "y")), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(docs, 1), "kind")), "Node");
	json_decref(docs);
}

static void json_concatenated_documents(void **state)
{
	(void)state;
	struct gw_err *err = NULL;
	json_t *docs = load("{\"a\": 1}\n{\"b\": [2]}\n", &err);
	assert_non_null(docs);
	assert_int_equal(json_array_size(docs), 2);
	json_decref(docs);
}

static void errors_name_file_and_line(void **state)
{
	(void)state;
	struct gw_err *err = NULL;
	assert_null(load("a: 1\nb: [1, 2\nc: 3\n", &err));
	assert_non_null(err);
	assert_non_null(strstr(err->msg, "t.yaml: line "));
	gw_err_free(err);
	err = NULL;
	assert_null(load("a: 1\na: 2\n", &err));
	assert_non_null(strstr(err->msg, "line 2: duplicate key \"a\""));
	gw_err_free(err);
	err = NULL;
	assert_null(load("{\"a\": 1,\n \"b\": }", &err));
	assert_non_null(strstr(err->msg, "t.yaml: line 2"));
	gw_err_free(err);
}

static void deep_nesting_is_refused(void **state)
{
	(void)state;
	struct gw_buf b;
	gw_buf_init(&b);
	for (int i = 0; i < 400; i++)
		gw_buf_puts(&b, "[");
	struct gw_err *err = NULL;
	/* not JSON-looking start: prefix with a key so libyaml parses it */
	char *text = gw_asprintf("a: %s", b.data);
	assert_null(load(text, &err));
	assert_non_null(err);
	gw_err_free(err);
	free(text);
	gw_buf_fini(&b);
}

/* "Billion laughs": each line quadruples the previous one by aliases. */
static void alias_expansion_is_bounded(void **state)
{
	struct gw_buf b;
	gw_buf_init(&b);
	gw_buf_puts(&b, "a0: &a0 [x, x, x, x]\n");
	for (int i = 1; i < 20; i++)
		gw_buf_printf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d]\n", i, i, i - 1, i - 1, i - 1, i - 1);
	json_t *docs = NULL;
	struct gw_err *err = NULL;
	assert_int_equal(gw_doc_load_string("bomb.yaml", b.data, b.len, &docs, &err), -E2BIG);
	assert_non_null(strstr(gw_err_msg(err), "aliases expand"));
	gw_err_free(err);
	gw_buf_fini(&b);
	/* a few ordinary aliases still work */
	const char *ok_yaml = "base: &b {cpu: 2}\none: *b\ntwo: *b\n";
	err = NULL;
	assert_int_equal(gw_doc_load_string("ok.yaml", ok_yaml, strlen(ok_yaml), &docs, &err), 0);
	json_decref(docs);
}

struct stream_seen {
	size_t items, values, streamed_values;
	bool items_key_left;   /* a streamed value still held "items" */
	json_t *kinds;         /* item kinds, in order */
};

static int seen_item(void *ctx, size_t doc, size_t index, json_t *item)
{
	struct stream_seen *s = ctx;
	assert_int_equal(index, s->items);
	s->items++;
	json_array_append(s->kinds, json_object_get(item, "kind"));
	return 0;
}

static int seen_value(void *ctx, size_t doc, json_t *value, bool items_streamed)
{
	struct stream_seen *s = ctx;
	assert_int_equal(doc, s->values);
	s->values++;
	if (items_streamed) {
		s->streamed_values++;
		s->items_key_left |= json_object_get(value, "items") != NULL;
	}
	return 0;
}

/* A List's items come one by one and the List without them; whatever
 * jansson would read differently is left to the whole-file reader (1). */
static void json_stream_items_one_by_one(void **state)
{
	(void)state;
	static const struct gw_json_stream_ops ops = {.item = seen_item, .value = seen_value};
	_cleanup_free_ char *list = test_data_path("api/stream/ok-list-kind-last.json");
	struct stream_seen s = {.kinds = json_array()};
	struct gw_err *err = NULL;
	assert_int_equal(gw_json_stream_file(list, &ops, &s, &err), 0);
	assert_int_equal(s.items, 5);
	assert_int_equal(s.values, 1);
	assert_int_equal(s.streamed_values, 1);
	assert_false(s.items_key_left);
	assert_string_equal(json_string_value(json_array_get(s.kinds, 2)), "Service");
	json_decref(s.kinds);

	static const char *const refused[] = {"api/stream/err-lone-surrogate.json", "api/stream/err-duplicate-key.json",
					      "api/stream/err-truncated.json", "api/stream/err-big-integer.json",
					      "api/cluster/nodes.yaml"};
	for (size_t i = 0; i < GW_ARRAY_SIZE(refused); i++) {
		_cleanup_free_ char *path = test_data_path(refused[i]);
		memset(&s, 0, sizeof(s));
		s.kinds = json_array();
		int r = gw_json_stream_file(path, &ops, &s, &err);
		if (r != 1)
			fail_msg("%s: %d, expected 1", refused[i], r);
		gw_err_free(err);
		err = NULL;
		json_decref(s.kinds);
	}
}

static void strtab_interns_once(void **state)
{
	(void)state;
	struct gw_strtab *t = gw_strtab_new();
	const char *a = gw_strtab_intern(t, "cpu-feature.node.kubevirt.io/avx2", 33);
	char buf[] = "cpu-feature.node.kubevirt.io/avx2";
	assert_ptr_equal(gw_strtab_intern(t, buf, strlen(buf)), a);
	assert_string_equal(a, buf);
	/* a prefix is another string, and empty strings are strings */
	const char *p = gw_strtab_intern(t, buf, 11);
	assert_ptr_not_equal(p, a);
	assert_string_equal(p, "cpu-feature");
	const char *e = gw_strtab_intern(t, "", 0);
	assert_string_equal(e, "");
	assert_ptr_equal(gw_strtab_intern(t, "x", 0), e);
	/* many strings: the table grows and keeps every one */
	const char *kept[5000];
	for (int i = 0; i < 5000; i++) {
		char s[32];
		snprintf(s, sizeof(s), "label-%d", i);
		kept[i] = gw_strtab_intern(t, s, strlen(s));
	}
	for (int i = 0; i < 5000; i++) {
		char s[32];
		snprintf(s, sizeof(s), "label-%d", i);
		assert_ptr_equal(gw_strtab_intern(t, s, strlen(s)), kept[i]);
		assert_string_equal(kept[i], s);
	}
	assert_int_equal(gw_strtab_count(t), 5003);
	/* allocations aligned, big ones too */
	void *small = gw_strtab_alloc(t, 3, 1);
	void **ptrs = gw_strtab_alloc(t, 10 * sizeof(void *), _Alignof(void *));
	assert_non_null(small);
	assert_int_equal((uintptr_t)ptrs % _Alignof(void *), 0);
	char *big = gw_strtab_alloc(t, 3u << 20, 8);
	memset(big, 'x', 3u << 20);
	assert_string_equal(gw_strtab_intern(t, "label-1", 7), "label-1");
	/* the scratch buffer grows and is freed with the table */
	memset(gw_strtab_scratch(t, 10), 1, 10);
	memset(gw_strtab_scratch(t, 5000), 2, 5000);
	memset(gw_strtab_scratch(t, 100), 3, 100);
	gw_strtab_free(t);
	gw_strtab_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(yaml_scalars_follow_core_schema),
		cmocka_unit_test(yaml_multi_document_and_anchors),
		cmocka_unit_test(json_concatenated_documents),
		cmocka_unit_test(errors_name_file_and_line),
		cmocka_unit_test(deep_nesting_is_refused),
		cmocka_unit_test(alias_expansion_is_bounded),
		cmocka_unit_test(json_stream_items_one_by_one),
		cmocka_unit_test(strtab_interns_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

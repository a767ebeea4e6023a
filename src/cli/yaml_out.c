/* SPDX-License-Identifier: Apache-2.0 */
/* JSON values printed as YAML (get -o yaml), with libyaml's emitter. A
 * string that YAML 1.2's core schema would read as something else (true,
 * null, 12, 1e3, ...) is quoted, so the output reads back as the input. */
#include <regex.h>
#include <string.h>

#include <yaml.h>

#include "cli.h"

static bool needs_quotes(const char *s)
{
	static const char *const words[] = {"", "~", "null", "Null", "NULL", "true", "True", "TRUE",
					    "false", "False", "FALSE", ".inf", ".Inf", ".INF", "-.inf",
					    "+.inf", ".nan", ".NaN", ".NAN"};
	for (size_t i = 0; i < GW_ARRAY_SIZE(words); i++)
		if (!strcmp(s, words[i]))
			return true;
	/* numbers of the core schema: ints (decimal, 0o, 0x) and floats */
	static regex_t num;
	static bool compiled;
	if (!compiled) {
		regcomp(&num, "^([-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?)$",
			REG_EXTENDED | REG_NOSUB);
		compiled = true;
	}
	return regexec(&num, s, 0, NULL, 0) == 0;
}

static int emit(yaml_emitter_t *e, const json_t *v)
{
	yaml_event_t ev;
	char buf[64];
	const char *text = NULL;
	yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
		if (!yaml_emitter_emit(e, &ev))
			return -1;
		const char *key;
		json_t *x;
		json_object_foreach((json_t *)v, key, x) {
			yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)key, (int)strlen(key), 1, 1,
						     needs_quotes(key) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
								       : YAML_ANY_SCALAR_STYLE);
			if (!yaml_emitter_emit(e, &ev) || emit(e, x) < 0)
				return -1;
		}
		yaml_mapping_end_event_initialize(&ev);
		return yaml_emitter_emit(e, &ev) ? 0 : -1;
	}
	case JSON_ARRAY: {
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
		if (!yaml_emitter_emit(e, &ev))
			return -1;
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x)
			if (emit(e, x) < 0)
				return -1;
		yaml_sequence_end_event_initialize(&ev);
		return yaml_emitter_emit(e, &ev) ? 0 : -1;
	}
	case JSON_STRING:
		text = json_string_value(v);
		style = needs_quotes(text) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE;
		break;
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		text = buf;
		break;
	case JSON_REAL:
		snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
		text = buf;
		break;
	case JSON_TRUE:
		text = "true";
		break;
	case JSON_FALSE:
		text = "false";
		break;
	case JSON_NULL:
		text = "null";
		break;
	}
	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)strlen(text), 1, 1, style);
	return yaml_emitter_emit(e, &ev) ? 0 : -1;
}

static int write_handler(void *data, unsigned char *buffer, size_t size)
{
	return fwrite(buffer, 1, size, data) == size;
}

int gw_cli_print_yaml(FILE *out, const json_t *value)
{
	yaml_emitter_t e;
	yaml_event_t ev;
	if (!yaml_emitter_initialize(&e))
		return -ENOMEM;
	yaml_emitter_set_output(&e, write_handler, out);
	yaml_emitter_set_unicode(&e, 1);
	yaml_emitter_set_width(&e, -1);
	int r = 0;
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	if (!yaml_emitter_emit(&e, &ev))
		r = -EIO;
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	if (!r && !yaml_emitter_emit(&e, &ev))
		r = -EIO;
	if (!r && emit(&e, value) < 0)
		r = -EIO;
	yaml_document_end_event_initialize(&ev, 1);
	if (!r && !yaml_emitter_emit(&e, &ev))
		r = -EIO;
	yaml_stream_end_event_initialize(&ev);
	if (!r && !yaml_emitter_emit(&e, &ev))
		r = -EIO;
	yaml_emitter_delete(&e);
	return r;
}

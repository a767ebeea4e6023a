/* SPDX-License-Identifier: Apache-2.0 */
/* Base64 (RFC 4648 section 4, padded): etcd's JSON gateway carries keys and
 * values as base64 bytes. Decoding is strict: the input comes off the
 * network. */
#include <string.h>

#include "backend.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *gw_base64_encode(const void *data, size_t len)
{
	const unsigned char *in = data;
	char *out = gw_malloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i = 0;
	for (; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*o++ = alphabet[v >> 18];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = alphabet[(v >> 6) & 63];
		*o++ = alphabet[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
		*o++ = alphabet[v >> 18];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int sextet(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int gw_base64_decode(const char *text, size_t text_len, char **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	if (text_len % 4)
		return -EINVAL;
	char *buf = gw_malloc(text_len / 4 * 3 + 1), *o = buf;
	for (size_t i = 0; i < text_len; i += 4) {
		int s[4];
		size_t pad = 0;
		for (int k = 0; k < 4; k++) {
			char c = text[i + k];
			if (c == '=' && i + 4 == text_len && k >= 2) {
				s[k] = 0;
				pad++;
				continue;
			}
			if (pad || (s[k] = sextet(c)) < 0) {
				free(buf);
				return -EINVAL;
			}
		}
		uint32_t v = (uint32_t)s[0] << 18 | (uint32_t)s[1] << 12 | (uint32_t)s[2] << 6 | (uint32_t)s[3];
		*o++ = (char)(v >> 16);
		if (pad < 2)
			*o++ = (char)(v >> 8);
		if (pad < 1)
			*o++ = (char)v;
		/* Non-canonical: padding bits must be zero. */
		if ((pad == 1 && (v & 0xff)) || (pad == 2 && (v & 0xffff))) {
			free(buf);
			return -EINVAL;
		}
	}
	*o = '\0';
	*out = buf;
	*out_len = (size_t)(o - buf);
	return 0;
}

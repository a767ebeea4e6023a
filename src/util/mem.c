/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "godwit/util.h"

static void out_of_memory(size_t n)
{
	fprintf(stderr, "godwit: out of memory (%zu bytes)\n", n);
	abort();
}

void *gw_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		out_of_memory(n);
	return p;
}

void *gw_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		out_of_memory(n * size);
	return p;
}

void *gw_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		out_of_memory(n);
	return q;
}

char *gw_strdup(const char *s)
{
	return gw_strndup(s, strlen(s));
}

char *gw_strndup(const char *s, size_t n)
{
	char *p = gw_malloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *gw_asprintf(const char *fmt, ...)
{
	struct gw_buf b;
	va_list ap;
	gw_buf_init(&b);
	va_start(ap, fmt);
	gw_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return gw_buf_steal(&b);
}

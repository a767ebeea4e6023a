/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "godwit/util.h"

int gw_err_set(struct gw_err **err, int code, const char *fmt, ...)
{
	if (code >= 0)
		code = -EINVAL;
	if (!err || *err)
		return code;
	struct gw_err *e = gw_calloc(1, sizeof(*e));
	va_list ap;
	struct gw_buf b;
	gw_buf_init(&b);
	va_start(ap, fmt);
	gw_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	e->code = code;
	e->msg = gw_buf_steal(&b);
	*err = e;
	return code;
}

int gw_err_wrap(struct gw_err **err, const char *fmt, ...)
{
	if (!err || !*err)
		return -EINVAL;
	struct gw_buf b;
	va_list ap;
	gw_buf_init(&b);
	va_start(ap, fmt);
	gw_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	gw_buf_printf(&b, ": %s", (*err)->msg);
	free((*err)->msg);
	(*err)->msg = gw_buf_steal(&b);
	return (*err)->code;
}

void gw_err_free(struct gw_err *err)
{
	if (!err)
		return;
	free(err->msg);
	free(err);
}

const char *gw_err_msg(const struct gw_err *err)
{
	return err && err->msg ? err->msg : "unknown error";
}

void gw_freep(void *p)
{
	free(*(void **)p);
}

void gw_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

void gw_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

void gw_json_decrefp(json_t **j)
{
	json_decref(*j);
}

void gw_err_freep(struct gw_err **e)
{
	gw_err_free(*e);
}

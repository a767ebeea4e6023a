/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "godwit/util.h"

int gw_file_read(const char *path, size_t max_bytes, char **data, size_t *len,
		 struct gw_err **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return gw_err_set(err, -errno, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0)
		return gw_err_set(err, -errno, "%s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return gw_err_set(err, -EISDIR, "%s: is a directory", path);
	struct gw_buf b;
	gw_buf_init(&b);
	char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			gw_buf_fini(&b);
			return gw_err_set(err, -e, "%s: %s", path, strerror(e));
		}
		if (n == 0)
			break;
		if (b.len + (size_t)n > max_bytes) {
			gw_buf_fini(&b);
			return gw_err_set(err, -EFBIG, "%s: larger than %zu bytes", path, max_bytes);
		}
		gw_buf_add(&b, chunk, (size_t)n);
	}
	if (len)
		*len = b.len;
	*data = gw_buf_steal(&b);
	return 0;
}

int gw_file_write_atomic(const char *path, const char *data, size_t len, struct gw_err **err)
{
	_cleanup_free_ char *tmp = gw_asprintf("%s.tmp.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return gw_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			unlink(tmp);
			return gw_err_set(err, -e, "%s: %s", tmp, strerror(e));
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		int e = errno;
		unlink(tmp);
		return gw_err_set(err, -e, "%s: %s", tmp, strerror(e));
	}
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return gw_err_set(err, -e, "%s: %s", path, strerror(e));
	}
	return 0;
}

bool gw_path_is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int gw_dir_list(const char *path, struct gw_strv *files, struct gw_err **err)
{
	DIR *d = opendir(path);
	if (!d)
		return gw_err_set(err, -errno, "%s: %s", path, strerror(errno));
	struct dirent *de;
	struct gw_strv found;
	gw_strv_init(&found);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *full = gw_asprintf("%s/%s", path, de->d_name);
		struct stat st;
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode))
			gw_strv_push_take(&found, full);
		else
			free(full);
	}
	closedir(d);
	gw_strv_sort(&found);
	for (size_t i = 0; i < found.n; i++) {
		gw_strv_push_take(files, found.v[i]);
		found.v[i] = NULL;
	}
	found.n = 0;
	gw_strv_fini(&found);
	return 0;
}

void gw_json_print(FILE *out, const json_t *value)
{
	char *s = json_dumps(value, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (s) {
		fputs(s, out);
		fputc('\n', out);
		free(s);
	}
}

void gw_json_write_string(struct gw_buf *b, const char *s, size_t len)
{
	gw_buf_add(b, "\"", 1);
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		gw_buf_add(b, s + start, i - start);
		char esc[8];
		switch (ch) {
		case '"': gw_buf_add(b, "\\\"", 2); break;
		case '\\': gw_buf_add(b, "\\\\", 2); break;
		case '\n': gw_buf_add(b, "\\n", 2); break;
		case '\t': gw_buf_add(b, "\\t", 2); break;
		case '\r': gw_buf_add(b, "\\r", 2); break;
		default:
			snprintf(esc, sizeof(esc), "\\u%04x", ch);
			gw_buf_add(b, esc, 6);
		}
		start = i + 1;
	}
	gw_buf_add(b, s + start, len - start);
	gw_buf_add(b, "\"", 1);
}

void gw_json_write_compact(struct gw_buf *b, const json_t *v)
{
	char num[64];
	size_t i, n = 0;
	const char *key;
	json_t *item;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		gw_buf_add(b, "{", 1);
		json_object_foreach((json_t *)v, key, item) {
			if (n++)
				gw_buf_add(b, ",", 1);
			gw_json_write_string(b, key, strlen(key));
			gw_buf_add(b, ":", 1);
			gw_json_write_compact(b, item);
		}
		gw_buf_add(b, "}", 1);
		return;
	case JSON_ARRAY:
		gw_buf_add(b, "[", 1);
		json_array_foreach(v, i, item) {
			if (i)
				gw_buf_add(b, ",", 1);
			gw_json_write_compact(b, item);
		}
		gw_buf_add(b, "]", 1);
		return;
	case JSON_STRING:
		gw_json_write_string(b, json_string_value(v), json_string_length(v));
		return;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		gw_buf_puts(b, num);
		return;
	case JSON_REAL:
		snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		gw_buf_puts(b, num);
		return;
	case JSON_TRUE:
		gw_buf_add(b, "true", 4);
		return;
	case JSON_FALSE:
		gw_buf_add(b, "false", 5);
		return;
	case JSON_NULL:
		gw_buf_add(b, "null", 4);
		return;
	}
}

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

/* SPDX-License-Identifier: Apache-2.0 */
/* Bearer token: created once, kept in <data-dir>/token with mode 0600. */
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "godwit/server.h"

#define TOKEN_BYTES 32

static int create_token(const char *path, char **token, struct gw_err **err)
{
	unsigned char raw[TOKEN_BYTES];
	size_t got = 0;
	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return gw_err_set(err, -errno, "token: getrandom: %s", strerror(errno));
		}
		got += (size_t)n;
	}
	char hex[2 * TOKEN_BYTES + 2];
	for (size_t i = 0; i < TOKEN_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	/* O_EXCL: two servers starting at once do not overwrite each other's token. */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return gw_err_set(err, -errno, "%s: %s", path, strerror(errno));
	size_t len = strlen(hex);
	hex[len] = '\n';
	ssize_t w = write(fd, hex, len + 1);
	int saved = errno;
	if (w != (ssize_t)(len + 1) || fsync(fd) < 0) {
		close(fd);
		unlink(path);
		return gw_err_set(err, w < 0 ? -saved : -EIO, "%s: write failed", path);
	}
	close(fd);
	hex[len] = '\0';
	*token = gw_strdup(hex);
	return 0;
}

int gw_server_token_init(const char *dir, char **token, struct gw_err **err)
{
	_cleanup_free_ char *path = gw_asprintf("%s/token", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT)
			return gw_err_set(err, -errno, "%s: %s", path, strerror(errno));
		return create_token(path, token, err);
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return gw_err_set(err, -EINVAL, "%s: not a regular file", path);
	}
	if (st.st_mode & 077) {
		close(fd);
		return gw_err_set(err, -EPERM, "%s: mode %03o: readable by others; chmod 600 it",
				  path, (unsigned)(st.st_mode & 0777));
	}
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return gw_err_set(err, -EIO, "%s: read failed", path);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	if (n < 16)
		return gw_err_set(err, -EINVAL, "%s: token too short (%zd bytes, 16 at least)", path, n);
	*token = gw_strdup(buf);
	return 0;
}

bool gw_server_token_equal(const char *presented, const char *expected)
{
	if (!presented || !expected)
		return false;
	size_t lp = strlen(presented), le = strlen(expected);
	/* Every byte of the expected token is compared whatever the input:
	 * the time depends on its length only. */
	unsigned char diff = lp != le;
	for (size_t i = 0; i < le; i++)
		diff |= (unsigned char)expected[i] ^ (unsigned char)(i < lp ? presented[i] : 0);
	return diff == 0;
}

/*
 * runtime/metastore.c: one file per key, replaced by rename (see
 * metastore.h). Names are the key in hex; the temporary file has a
 * ".tmp" suffix and is overwritten by the next put of any key.
 */
#define _GNU_SOURCE
#include "runtime/metastore.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct mesh_metastore {
	int dirfd;
};

int mesh_metastore_open(const char *dir, struct mesh_metastore **out)
{
	struct mesh_metastore *m;

	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->dirfd < 0) {
		int rc = -errno;

		free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void mesh_metastore_close(struct mesh_metastore *m)
{
	if (!m)
		return;
	close(m->dirfd);
	free(m);
}

static void key_name(uint64_t key, char name[32])
{
	snprintf(name, 32, "%016" PRIx64, key);
}

static int write_all(int fd, const uint8_t *buf, uint32_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (uint32_t)n;
	}
	return 0;
}

int mesh_metastore_put(struct mesh_metastore *m, uint64_t key, const void *buf, uint32_t len)
{
	char name[32];
	int fd, rc;

	if (len > MESH_METASTORE_RECORD_MAX)
		return -EMSGSIZE;
	key_name(key, name);
	fd = openat(m->dirfd, ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, buf, len);
	if (rc == 0 && fsync(fd))
		rc = -errno;
	if (close(fd) && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(m->dirfd, ".tmp", m->dirfd, name))
		rc = -errno;
	/* The rename is durable only once the directory is. */
	if (rc == 0 && fsync(m->dirfd))
		rc = -errno;
	return rc;
}

int mesh_metastore_get(struct mesh_metastore *m, uint64_t key, void *buf, uint32_t cap)
{
	char name[32];
	struct stat st;
	ssize_t n;
	int fd, rc;

	key_name(key, name);
	fd = openat(m->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		rc = -errno;
	} else if (st.st_size > MESH_METASTORE_RECORD_MAX) {
		rc = -EIO; /* not a record this store wrote */
	} else if ((uint64_t)st.st_size > cap) {
		rc = -ENOSPC;
	} else {
		n = pread(fd, buf, (size_t)st.st_size, 0);
		rc = n == st.st_size ? (int)n : n < 0 ? -errno : -EIO;
	}
	close(fd);
	return rc;
}

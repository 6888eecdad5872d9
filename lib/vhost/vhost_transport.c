/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Transport registry and the fd-mapping helpers shared by fd-based
 * transports.
 *
 * Transports register from constructors, before main() and before any
 * rte_vhost_driver_register() call, so the registry needs no ordering
 * beyond a lock. Selection asks every transport how well it matches a
 * path; the highest non-zero answer wins, so a specific transport (VVU
 * claims PCI addresses and "vfio-user:" paths) beats the catch-all
 * AF_UNIX transport regardless of constructor order.
 */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhost.h"
#include "vhost_transport.h"

#define VHOST_MAX_TRANSPORTS	8

static const struct vhost_transport_ops *vhost_transports[VHOST_MAX_TRANSPORTS];
static unsigned int vhost_nb_transports;
static pthread_mutex_t vhost_transports_lock = PTHREAD_MUTEX_INITIALIZER;

void
vhost_transport_register(const struct vhost_transport_ops *ops)
{
	unsigned int i;

	if (ops == NULL || ops->match == NULL)
		return;
	pthread_mutex_lock(&vhost_transports_lock);
	for (i = 0; i < vhost_nb_transports; i++)
		if (vhost_transports[i] == ops)
			goto out;
	if (vhost_nb_transports == VHOST_MAX_TRANSPORTS) {
		VHOST_LOG_CONFIG("transport", ERR, "registry full, %s ignored\n", ops->name);
		goto out;
	}
	vhost_transports[vhost_nb_transports++] = ops;
out:
	pthread_mutex_unlock(&vhost_transports_lock);
}

const struct vhost_transport_ops *
vhost_transport_find(const char *path, uint64_t flags)
{
	const struct vhost_transport_ops *best = NULL;
	int best_score = 0;
	unsigned int i;

	if (path == NULL)
		return NULL;
	pthread_mutex_lock(&vhost_transports_lock);
	for (i = 0; i < vhost_nb_transports; i++) {
		int score = vhost_transports[i]->match(path, flags);

		if (score > best_score) {
			best_score = score;
			best = vhost_transports[i];
		}
	}
	pthread_mutex_unlock(&vhost_transports_lock);
	return best;
}

/*
 * Map [mmap_offset, mmap_offset + size) of fd. mmap needs a file offset
 * aligned to the file's page size (st_blksize: 4 KiB for memfd and tmpfs,
 * the huge page size for hugetlbfs), so the mapping starts at the aligned-
 * down offset, and its length is rounded up to that size too (munmap of a
 * hugetlbfs mapping must be huge-page sized).
 *
 * fd stays owned by the caller: the region keeps its own duplicate in
 * reg->fd (closed by vhost_munmap_region), so the message handler may close
 * every received fd after the table is built, whatever this returns.
 *
 * Everything here is front-end controlled: offsets and sizes are checked
 * for wrap-around, and a region that extends past the end of a regular file
 * (memfd, hugetlbfs, tmpfs) is refused, because touching such pages would
 * raise SIGBUS in the data path instead of failing the message.
 */
int
vhost_mmap_region_fd(struct vhost_dev *dev, struct rte_vhost_mem_region *reg,
		     uint64_t mmap_offset, int fd)
{
	uint64_t size = reg->size, align, aligned_off, delta, map_size;
	struct stat st;
	void *map;
	int dupfd;

	if (fd < 0 || size == 0) {
		VHOST_LOG_CONFIG(dev->ifname, ERR, "region without fd or size\n");
		return -EINVAL;
	}
	if (fstat(fd, &st) < 0) {
		VHOST_LOG_CONFIG(dev->ifname, ERR, "region fstat: %s\n", strerror(errno));
		return -errno;
	}
	align = (uint64_t)st.st_blksize;
	if (align == 0 || (align & (align - 1)) != 0)
		align = (uint64_t)sysconf(_SC_PAGESIZE);

	if (mmap_offset > UINT64_MAX - size) {
		VHOST_LOG_CONFIG(dev->ifname, ERR, "region offset 0x%" PRIx64
				 " + size 0x%" PRIx64 " overflows\n", mmap_offset, size);
		return -EINVAL;
	}
	if (S_ISREG(st.st_mode) && mmap_offset + size > (uint64_t)st.st_size) {
		VHOST_LOG_CONFIG(dev->ifname, ERR, "region [0x%" PRIx64 ", +0x%" PRIx64
				 ") beyond the end of its file (0x%" PRIx64 ")\n",
				 mmap_offset, size, (uint64_t)st.st_size);
		return -EINVAL;
	}
	aligned_off = mmap_offset & ~(align - 1);
	delta = mmap_offset - aligned_off;
	map_size = size + delta;	/* cannot wrap: delta <= mmap_offset */
	if (map_size > UINT64_MAX - (align - 1) || aligned_off > (uint64_t)INT64_MAX) {
		VHOST_LOG_CONFIG(dev->ifname, ERR, "region size 0x%" PRIx64 " too large\n",
				 size);
		return -EINVAL;
	}
	map_size = RTE_ALIGN_CEIL(map_size, align);
	if (map_size > SIZE_MAX) {
		VHOST_LOG_CONFIG(dev->ifname, ERR, "region too large to map\n");
		return -EINVAL;
	}

	dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dupfd < 0) {
		VHOST_LOG_CONFIG(dev->ifname, ERR, "region fd dup: %s\n", strerror(errno));
		return -errno;
	}
	map = mmap(NULL, (size_t)map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		   (off_t)aligned_off);
	if (map == MAP_FAILED) {
		int err = errno;

		VHOST_LOG_CONFIG(dev->ifname, ERR, "region mmap of 0x%" PRIx64 " bytes: %s\n",
				 map_size, strerror(err));
		close(dupfd);
		return -err;
	}
	/* Guest memory in our core dumps is neither wanted nor small. */
	madvise(map, (size_t)map_size, MADV_DONTDUMP);

	reg->mmap_addr = map;
	reg->mmap_size = map_size;
	reg->host_user_addr = (uint64_t)(uintptr_t)map + delta;
	reg->fd = dupfd;
	return 0;
}

/*
 * reg->fd is closed only for a region this file mapped (mmap_addr set): a
 * zero-filled region that was never mapped has fd 0, which is not ours.
 */
void
vhost_munmap_region(struct vhost_dev *dev, struct rte_vhost_mem_region *reg)
{
	if (reg->mmap_addr != NULL) {
		munmap(reg->mmap_addr, (size_t)reg->mmap_size);
		if (reg->fd >= 0)
			close(reg->fd);
	}
	reg->mmap_addr = NULL;
	reg->mmap_size = 0;
	reg->host_user_addr = 0;
	reg->fd = -1;
}

bool
vhost_path_is_pci_addr(const char *path)
{
	static const char pattern[] = "xxxx:xx:xx.x";
	size_t i;

	if (strlen(path) != sizeof(pattern) - 1)
		return false;
	for (i = 0; i < sizeof(pattern) - 1; i++) {
		if (pattern[i] == 'x' ? !isxdigit((unsigned char)path[i]) : path[i] != pattern[i])
			return false;
	}
	return true;
}

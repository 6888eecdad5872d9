/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Transport registry, the wrappers of the optional transport ops, and the
 * fd-mapping helpers shared by fd-based transports.
 *
 * Transports register from constructors, before main() and before any
 * rte_vhost_driver_register() call. The registry keeps them sorted by
 * (order, name), so the order in which constructors ran never matters:
 * vhost_transport_find() asks them in that fixed order and the first one
 * that claims a path serves it.
 */

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

/* A protocol feature a transport declares, and the ops it cannot do without. */
static bool
vhost_transport_carries(const struct vhost_transport_ops *ops, unsigned int bit)
{
	return (ops->protocol_features >> bit) & 1;
}

int
vhost_transport_check(const struct vhost_transport_ops *ops)
{
	const char *name = ops != NULL && ops->name != NULL ? ops->name : "(unnamed)";
	const char *why = NULL;

	if (ops == NULL || ops->name == NULL)
		why = "no name";
	else if (ops->match == NULL || ops->endpoint_init == NULL ||
		 ops->endpoint_start == NULL || ops->endpoint_cleanup == NULL)
		why = "an endpoint op is missing";
	else if (ops->send_reply == NULL || ops->disconnect == NULL)
		why = "a connection op is missing";
	else if (ops->map_region == NULL || ops->unmap_region == NULL)
		why = "a memory op is missing";
	else if (ops->vring_call == NULL)
		why = "vring_call is missing";
	else if (vhost_transport_carries(ops, VHOST_USER_PROTO_F_LOG_SHMFD) &&
		 (ops->map_log == NULL || ops->unmap_log == NULL))
		why = "declares LOG_SHMFD without map_log/unmap_log";
	else if (vhost_transport_carries(ops, VHOST_USER_PROTO_F_BACKEND_REQ) &&
		 (ops->set_backend_req == NULL || ops->backend_req == NULL))
		why = "declares BACKEND_REQ without a back-end channel";
	else if (vhost_transport_carries(ops, VHOST_USER_PROTO_F_BACKEND_SEND_FD) &&
		 (!ops->passes_fds ||
		  !vhost_transport_carries(ops, VHOST_USER_PROTO_F_BACKEND_REQ)))
		why = "declares BACKEND_SEND_FD without fds or a back-end channel";
	else if (vhost_transport_carries(ops, VHOST_USER_PROTO_F_INFLIGHT_SHMFD) &&
		 (ops->alloc_inflight == NULL || ops->map_inflight == NULL ||
		  ops->unmap_inflight == NULL))
		why = "declares INFLIGHT_SHMFD without the inflight ops";
	if (why == NULL)
		return 0;
	VHOST_LOG_CONFIG("transport", ERR, "%s refused: %s\n", name, why);
	return -EINVAL;
}

/* Selection order: ascending order, then name. */
static int
vhost_transport_cmp(const struct vhost_transport_ops *a, const struct vhost_transport_ops *b)
{
	if (a->order != b->order)
		return a->order < b->order ? -1 : 1;
	return strcmp(a->name, b->name);
}

int
vhost_transport_register(const struct vhost_transport_ops *ops)
{
	unsigned int i, pos;
	int ret = 0;

	if (vhost_transport_check(ops) < 0)
		return -EINVAL;
	pthread_mutex_lock(&vhost_transports_lock);
	for (i = 0; i < vhost_nb_transports; i++) {
		if (vhost_transports[i] == ops)
			goto out;
		if (strcmp(vhost_transports[i]->name, ops->name) == 0) {
			VHOST_LOG_CONFIG("transport", ERR, "%s registered twice\n", ops->name);
			ret = -EEXIST;
			goto out;
		}
	}
	if (vhost_nb_transports == VHOST_MAX_TRANSPORTS) {
		VHOST_LOG_CONFIG("transport", ERR, "registry full, %s ignored\n", ops->name);
		ret = -ENOSPC;
		goto out;
	}
	for (pos = 0; pos < vhost_nb_transports; pos++)
		if (vhost_transport_cmp(ops, vhost_transports[pos]) < 0)
			break;
	memmove(&vhost_transports[pos + 1], &vhost_transports[pos],
		(vhost_nb_transports - pos) * sizeof(vhost_transports[0]));
	vhost_transports[pos] = ops;
	vhost_nb_transports++;
out:
	pthread_mutex_unlock(&vhost_transports_lock);
	return ret;
}

const struct vhost_transport_ops *
vhost_transport_find(const char *path, uint64_t flags)
{
	const struct vhost_transport_ops *found = NULL;
	unsigned int i;

	if (path == NULL)
		return NULL;
	pthread_mutex_lock(&vhost_transports_lock);
	for (i = 0; i < vhost_nb_transports && found == NULL; i++)
		if (vhost_transports[i]->match(path, flags))
			found = vhost_transports[i];
	pthread_mutex_unlock(&vhost_transports_lock);
	return found;
}

void
vhost_dev_disconnect(struct vhost_dev *dev)
{
	/* Only the first request reaches the transport. */
	if (dev->flags & VHOST_DEV_BROKEN)
		return;
	dev->flags |= VHOST_DEV_BROKEN;
	dev->trans->disconnect(dev);
}

/* ---- Optional ops ---- */

int
vhost_trans_mem_update_begin(struct vhost_dev *dev)
{
	if (dev->trans->mem_update_begin == NULL)
		return 0;
	return dev->trans->mem_update_begin(dev);
}

int
vhost_trans_vring_kickfd(struct vhost_dev *dev, struct vhost_vq *vq)
{
	int fd;

	if (dev->trans->vring_kickfd == NULL)
		return VHOST_FD_NONE;
	fd = dev->trans->vring_kickfd(dev, vq);
	return fd >= 0 ? fd : VHOST_FD_NONE;
}

bool
vhost_trans_has_backend_req(const struct vhost_dev *dev)
{
	return dev->trans->backend_req != NULL;
}

int
vhost_trans_set_backend_req(struct vhost_dev *dev, int fd)
{
	if (dev->trans->set_backend_req == NULL)
		return -ENOTSUP;
	return dev->trans->set_backend_req(dev, fd);
}

int
vhost_trans_backend_req(struct vhost_dev *dev, struct vhost_user_msg *msg,
			const int *fds, int nr_fds, bool need_reply)
{
	if (dev->trans->backend_req == NULL)
		return -ENOTSUP;
	return dev->trans->backend_req(dev, msg, fds, nr_fds, need_reply);
}

int
vhost_trans_map_log(struct vhost_dev *dev, int fd, uint64_t size, uint64_t offset,
		    void **map, uint64_t *map_size, uint64_t *addr)
{
	if (dev->trans->map_log == NULL)
		return -ENOTSUP;
	return dev->trans->map_log(dev, fd, size, offset, map, map_size, addr);
}

void
vhost_trans_unmap_log(struct vhost_dev *dev, void *map, uint64_t map_size)
{
	if (map != NULL && dev->trans->unmap_log != NULL)
		dev->trans->unmap_log(dev, map, map_size);
}

int
vhost_trans_alloc_inflight(struct vhost_dev *dev, uint64_t size, void **addr, int *fd)
{
	if (dev->trans->alloc_inflight == NULL)
		return -ENOTSUP;
	return dev->trans->alloc_inflight(dev, size, addr, fd);
}

int
vhost_trans_map_inflight(struct vhost_dev *dev, int fd, uint64_t size, uint64_t offset,
			 void **addr)
{
	if (dev->trans->map_inflight == NULL)
		return -ENOTSUP;
	return dev->trans->map_inflight(dev, fd, size, offset, addr);
}

void
vhost_trans_unmap_inflight(struct vhost_dev *dev, void *addr, uint64_t size)
{
	if (addr != NULL && dev->trans->unmap_inflight != NULL)
		dev->trans->unmap_inflight(dev, addr, size);
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
	/* The front-end may truncate it later: contain the SIGBUS that follows. */
	if (vhost_guard_add(map, (size_t)map_size, dev->vid) < 0) {
		munmap(map, (size_t)map_size);
		close(dupfd);
		return -ENOSPC;
	}

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
		vhost_guard_del(reg->mmap_addr);
		munmap(reg->mmap_addr, (size_t)reg->mmap_size);
		if (reg->fd >= 0)
			close(reg->fd);
	}
	reg->mmap_addr = NULL;
	reg->mmap_size = 0;
	reg->host_user_addr = 0;
	reg->fd = -1;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device access over vfio-user (lib/vfio_user's client): the VVU device is
 * dpdk-vvu-device on the same host, reached at hw->addr (a socket path).
 *
 * Registers are REGION_READ/WRITE round trips on the socket, except
 * doorbells (queue notify, device aux notify): posted writes with
 * NO_REPLY, which the device handles in order with everything else, so
 * nothing waits for them. The client is single-threaded, so
 * ops->mt_safe_write is false and the transport serialises every call.
 *
 * DMA: the device reaches our rings through DMA_MAP, which needs an fd for
 * the memory. DPDK's hugepage memory has one (rte_memseg_get_fd), so a
 * memzone is mapped memseg by memseg with IOVA = our VA. Without such fds
 * (--no-huge, legacy memory) the rings live in a memfd of our own instead.
 *
 * BAR2 (the front-end's memory): its windows can change whenever the
 * front-end sends a new memory table, and vfio-user has no message to say
 * so, hence shm_refresh (vvu_device_spec.rst §L.10): the transport re-reads the region info
 * before mapping the regions of each SET_MEM_TABLE, and each memory region maps
 * the window that covers its BAR2 offset, with that window's own fd (our
 * sparse_mmap_fds extension) or the region's single fd (stock servers).
 * Every window is checked against the region size and, for regular files,
 * against the file size, so a hostile device cannot hand us a mapping that
 * would SIGBUS the data path.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include <rte_common.h>
#include <rte_memory.h>
#include <rte_memzone.h>

#include "vfio_user.h"
#include "vhost.h"
#include "vvu_drv_hw.h"

#define VVU_LOG(who, level, fmt, ...) \
	VHOST_LOG_CONFIG(who, level, "vvu: " fmt, ##__VA_ARGS__)

/* A device that does not answer within this time is considered gone. */
#define VVU_VFU_TIMEOUT_MS	2000
#define VVU_DMA_ALIGN		4096

struct vvu_vfu {
	struct vfio_user_client *cli;
	uint64_t bar_size[VVU_PCI_NUM_BARS];
	struct vfio_user_region shm;	/* last region info of the shm BAR (fds ours) */
	bool shm_valid;
};

static void
vvu_vfu_log(int level, const char *msg, void *arg)
{
	uint32_t lvl = level <= VFIO_USER_LOG_ERR ? RTE_LOG_ERR :
		level == VFIO_USER_LOG_WARNING ? RTE_LOG_WARNING :
		level == VFIO_USER_LOG_INFO ? RTE_LOG_INFO : RTE_LOG_DEBUG;

	rte_log(lvl, vhost_config_log_level, "VHOST_CONFIG: (vfio-user) %s\n", msg);
}

static pthread_once_t vvu_vfu_log_once = PTHREAD_ONCE_INIT;

static void
vvu_vfu_log_init(void)
{
	vfio_user_set_log(vvu_vfu_log, NULL, VFIO_USER_LOG_INFO);
}

static void
vvu_vfu_shm_forget(struct vvu_vfu *v)
{
	if (v->shm_valid)
		vfio_user_region_close(&v->shm);
	v->shm_valid = false;
}

static void
vvu_vfu_close(struct vvu_drv_hw *hw)
{
	struct vvu_vfu *v = hw->priv;

	if (v == NULL)
		return;
	vvu_vfu_shm_forget(v);
	vfio_user_client_destroy(v->cli);
	free(v);
	hw->priv = NULL;
}

static int
vvu_vfu_open(struct vvu_drv_hw *hw)
{
	struct vfio_user_client_params params = { .timeout_ms = VVU_VFU_TIMEOUT_MS };
	struct vfio_user_device_info info;
	struct vfio_user_region r;
	struct vvu_vfu *v;
	unsigned int i;
	int ret;

	pthread_once(&vvu_vfu_log_once, vvu_vfu_log_init);
	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	hw->priv = v;
	v->cli = vfio_user_client_connect(hw->addr, &params);
	if (v->cli == NULL) {
		ret = errno > 0 ? -errno : -ECONNREFUSED;
		goto fail;
	}
	ret = vfio_user_client_get_device_info(v->cli, &info);
	if (ret < 0)
		goto fail;
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX ||
	    info.num_irqs <= VFIO_PCI_MSIX_IRQ_INDEX) {
		VVU_LOG(hw->name, ERR, "vfio-user device is not a PCI device with MSI-X"
			" (flags 0x%x, %u regions, %u irqs)\n", info.flags, info.num_regions,
			info.num_irqs);
		ret = -ENODEV;
		goto fail;
	}
	for (i = 0; i < VVU_PCI_NUM_BARS; i++) {
		ret = vfio_user_client_get_region_info(v->cli, VFIO_PCI_BAR0_REGION_INDEX + i, &r);
		if (ret < 0)
			goto fail;
		v->bar_size[i] = r.size;
		vfio_user_region_close(&r);
	}
	ret = vfio_user_client_get_region_info(v->cli, VFIO_PCI_CONFIG_REGION_INDEX, &r);
	if (ret < 0)
		goto fail;
	vfio_user_region_close(&r);
	if (r.size < VVU_PCI_CFG_SIZE) {
		VVU_LOG(hw->name, ERR, "config space of %" PRIu64 " bytes\n", r.size);
		ret = -ENODEV;
		goto fail;
	}
	return 0;
fail:
	VVU_LOG(hw->name, ERR, "vfio-user device %s: %s\n", hw->addr, strerror(-ret));
	vvu_vfu_close(hw);
	return ret;
}

static int
vvu_vfu_cfg_read(struct vvu_drv_hw *hw, uint32_t off, void *buf, uint32_t len)
{
	struct vvu_vfu *v = hw->priv;

	if ((uint64_t)off + len > VVU_PCI_CFG_SIZE)
		return -EINVAL;
	return vfio_user_client_region_read(v->cli, VFIO_PCI_CONFIG_REGION_INDEX, off, buf, len);
}

static int
vvu_vfu_cfg_write(struct vvu_drv_hw *hw, uint32_t off, const void *buf, uint32_t len)
{
	struct vvu_vfu *v = hw->priv;

	if ((uint64_t)off + len > VVU_PCI_CFG_SIZE)
		return -EINVAL;
	return vfio_user_client_region_write(v->cli, VFIO_PCI_CONFIG_REGION_INDEX, off, buf,
					     len);
}

static int
vvu_vfu_bar_size(struct vvu_drv_hw *hw, unsigned int bar, uint64_t *size)
{
	struct vvu_vfu *v = hw->priv;

	if (bar >= VVU_PCI_NUM_BARS)
		return -EINVAL;
	*size = v->bar_size[bar];
	return 0;
}

static int
vvu_vfu_bar_check(struct vvu_vfu *v, unsigned int bar, uint64_t off, uint32_t len)
{
	if (bar >= VVU_PCI_NUM_BARS || off > v->bar_size[bar] ||
	    len > v->bar_size[bar] - off)
		return -EINVAL;
	return 0;
}

static int
vvu_vfu_bar_read(struct vvu_drv_hw *hw, unsigned int bar, uint64_t off, void *buf,
		 uint32_t len)
{
	struct vvu_vfu *v = hw->priv;
	int ret = vvu_vfu_bar_check(v, bar, off, len);

	if (ret < 0)
		return ret;
	return vfio_user_client_region_read(v->cli, VFIO_PCI_BAR0_REGION_INDEX + bar, off,
					    buf, len);
}

static int
vvu_vfu_bar_write(struct vvu_drv_hw *hw, unsigned int bar, uint64_t off, const void *buf,
		  uint32_t len)
{
	struct vvu_vfu *v = hw->priv;
	int ret = vvu_vfu_bar_check(v, bar, off, len);

	if (ret < 0)
		return ret;
	return vfio_user_client_region_write(v->cli, VFIO_PCI_BAR0_REGION_INDEX + bar, off,
					     buf, len);
}

/* Status registers at a configuration change: one round trip for all. */
static int
vvu_vfu_bar_read_batch(struct vvu_drv_hw *hw, const struct vvu_drv_bar_read *r, unsigned int n)
{
	struct vfio_user_client_read rd[VFIO_USER_READ_BATCH_MAX];
	struct vvu_vfu *v = hw->priv;
	unsigned int i;
	int ret;

	if (n == 0 || n > RTE_DIM(rd))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		ret = vvu_vfu_bar_check(v, r[i].bar, r[i].off, r[i].len);
		if (ret < 0)
			return ret;
		rd[i] = (struct vfio_user_client_read){ .region = VFIO_PCI_BAR0_REGION_INDEX +
			r[i].bar, .offset = r[i].off, .buf = r[i].buf, .count = r[i].len };
	}
	return vfio_user_client_region_read_batch(v->cli, rd, n);
}

/* Doorbells: posted, the device does not answer them (one message, no wait). */
static int
vvu_vfu_bar_notify(struct vvu_drv_hw *hw, unsigned int bar, uint64_t off, const void *buf,
		   uint32_t len)
{
	struct vvu_vfu *v = hw->priv;
	int ret = vvu_vfu_bar_check(v, bar, off, len);

	if (ret < 0)
		return ret;
	return vfio_user_client_region_write_posted(v->cli, VFIO_PCI_BAR0_REGION_INDEX + bar,
						    off, buf, len);
}

static void
vvu_vfu_shm_release(struct vvu_drv_hw *hw)
{
	vvu_vfu_shm_forget(hw->priv);
}

static int
vvu_vfu_shm_refresh(struct vvu_drv_hw *hw, unsigned int bar)
{
	struct vvu_vfu *v = hw->priv;
	int ret;

	if (bar >= VVU_PCI_NUM_BARS)
		return -EINVAL;
	vvu_vfu_shm_forget(v);
	ret = vfio_user_client_get_region_info(v->cli, VFIO_PCI_BAR0_REGION_INDEX + bar,
					       &v->shm);
	if (ret < 0) {
		VVU_LOG(hw->name, ERR, "BAR%u region info: %s\n", bar, strerror(-ret));
		return ret;
	}
	v->shm_valid = true;
	/* The BAR's size is fixed by config space; a changed answer is a lie. */
	if (v->shm.size != v->bar_size[bar]) {
		VVU_LOG(hw->name, ERR, "BAR%u changed size to 0x%" PRIx64 "\n", bar,
			v->shm.size);
		vvu_vfu_shm_forget(v);
		return -EIO;
	}
	return 0;
}

static int
vvu_vfu_shm_map(struct vvu_drv_hw *hw, unsigned int bar, uint64_t off, uint64_t len,
		struct vvu_drv_shm_map *m)
{
	struct vvu_vfu *v = hw->priv;
	const struct vfio_user_area *a = NULL;
	uint64_t file_off, align, aligned, delta, map_len;
	struct stat st;
	unsigned int i;
	void *p;

	if (!v->shm_valid || v->shm.index != VFIO_PCI_BAR0_REGION_INDEX + bar ||
	    !(v->shm.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		VVU_LOG(hw->name, ERR, "BAR%u has no mappable windows\n", bar);
		return -ENXIO;
	}
	for (i = 0; i < v->shm.nr_areas; i++) {
		const struct vfio_user_area *c = &v->shm.areas[i];

		/* The library checked each area lies inside the region. */
		if (off >= c->offset && len <= c->size && off - c->offset <= c->size - len) {
			a = c;
			break;
		}
	}
	if (a == NULL || a->fd < 0) {
		VVU_LOG(hw->name, ERR, "no BAR%u window covers [0x%" PRIx64 ", +0x%" PRIx64
			")\n", bar, off, len);
		return -ENXIO;
	}
	if (a->fd_offset > UINT64_MAX - a->size) {
		VVU_LOG(hw->name, ERR, "BAR%u window file offset wraps\n", bar);
		return -EINVAL;
	}
	file_off = a->fd_offset + (off - a->offset);
	if (fstat(a->fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode) && file_off + len > (uint64_t)st.st_size) {
		VVU_LOG(hw->name, ERR, "BAR%u window beyond the end of its file\n", bar);
		return -EINVAL;
	}
	/* hugetlbfs needs huge-page aligned offsets; st_blksize says which. */
	align = (uint64_t)st.st_blksize;
	if (align == 0 || (align & (align - 1)) != 0)
		align = (uint64_t)sysconf(_SC_PAGESIZE);
	aligned = file_off & ~(align - 1);
	delta = file_off - aligned;
	map_len = RTE_ALIGN_CEIL(len + delta, align);
	if (map_len < len || map_len > SIZE_MAX || aligned > (uint64_t)INT64_MAX)
		return -EINVAL;
	p = mmap(NULL, (size_t)map_len, PROT_READ | PROT_WRITE, MAP_SHARED, a->fd,
		 (off_t)aligned);
	if (p == MAP_FAILED) {
		int err = errno;

		VVU_LOG(hw->name, ERR, "mmap of BAR%u window: %s\n", bar, strerror(err));
		return -err;
	}
	madvise(p, (size_t)map_len, MADV_DONTDUMP);
	m->map = p;
	m->map_len = (size_t)map_len;
	m->va = (uint8_t *)p + delta;
	return 0;
}

static void
vvu_vfu_shm_unmap(struct vvu_drv_hw *hw, struct vvu_drv_shm_map *m)
{
	if (m->map != NULL)
		munmap(m->map, m->map_len);
	m->map = NULL;
	m->map_len = 0;
	m->va = NULL;
}

/*
 * MSI-X enable and per-vector mask live in the device's config space and
 * MSI-X table, which a vfio-user server emulates (kernel VFIO does this for
 * us), so the client programs them: eventfds first, then unmask.
 */
static int
vvu_vfu_msix_locate(struct vvu_drv_hw *hw, uint8_t *pos, uint8_t *bir, uint32_t *table_off,
		    uint16_t *nvec)
{
	uint8_t cfg[VVU_PCI_CFG_SIZE];
	unsigned int p, walked = 0;
	int ret;

	ret = vvu_vfu_cfg_read(hw, 0, cfg, sizeof(cfg));
	if (ret < 0)
		return ret;
	for (p = cfg[PCI_CAPABILITY_LIST] & ~3u; p != 0; p = cfg[p + 1] & ~3u) {
		if (p < PCI_STD_HEADER_SIZEOF || p > VVU_PCI_CFG_SIZE - PCI_CAP_MSIX_SIZEOF ||
		    ++walked > 48)
			break;
		if (cfg[p] == PCI_CAP_ID_MSIX) {
			uint32_t t = (uint32_t)cfg[p + 4] | (uint32_t)cfg[p + 5] << 8 |
				(uint32_t)cfg[p + 6] << 16 | (uint32_t)cfg[p + 7] << 24;

			*pos = (uint8_t)p;
			*bir = t & PCI_MSIX_TABLE_BIR;
			*table_off = t & PCI_MSIX_TABLE_OFFSET;
			*nvec = (uint16_t)(((cfg[p + 2] | cfg[p + 3] << 8) &
					    PCI_MSIX_FLAGS_QSIZE) + 1);
			return 0;
		}
	}
	return -ENODEV;
}

static int
vvu_vfu_set_irqs(struct vvu_drv_hw *hw, uint32_t count, const int *efds)
{
	struct vvu_vfu *v = hw->priv;
	uint32_t i, table_off, zero = 0;
	uint16_t ctrl, nvec;
	uint8_t pos, bir;
	int ret;

	ret = vvu_vfu_msix_locate(hw, &pos, &bir, &table_off, &nvec);
	if (ret < 0) {
		VVU_LOG(hw->name, ERR, "device has no MSI-X capability\n");
		return ret;
	}
	if (count > nvec)
		return -EINVAL;
	ret = vvu_vfu_cfg_read(hw, pos + PCI_MSIX_FLAGS, &ctrl, sizeof(ctrl));
	if (ret < 0)
		return ret;
	if (count == 0) {
		ctrl &= (uint16_t)~PCI_MSIX_FLAGS_ENABLE;
		ret = vvu_vfu_cfg_write(hw, pos + PCI_MSIX_FLAGS, &ctrl, sizeof(ctrl));
		if (ret == 0)
			ret = vfio_user_client_set_irqs(v->cli, VFIO_PCI_MSIX_IRQ_INDEX,
							VFIO_IRQ_SET_DATA_NONE |
							VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0,
							NULL, NULL);
		return ret;
	}
	ret = vfio_user_client_set_irqs(v->cli, VFIO_PCI_MSIX_IRQ_INDEX,
					VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
					0, count, efds, NULL);
	if (ret < 0)
		return ret;
	ctrl = (uint16_t)((ctrl | PCI_MSIX_FLAGS_ENABLE) & ~PCI_MSIX_FLAGS_MASKALL);
	ret = vvu_vfu_cfg_write(hw, pos + PCI_MSIX_FLAGS, &ctrl, sizeof(ctrl));
	for (i = 0; i < count && ret == 0; i++)
		ret = vvu_vfu_bar_write(hw, bir, (uint64_t)table_off + i * PCI_MSIX_ENTRY_SIZE +
					PCI_MSIX_ENTRY_VECTOR_CTRL, &zero, sizeof(zero));
	return ret;
}

/* ---- DMA memory ---- */

static int
vvu_vfu_dma_map_one(struct vvu_drv_hw *hw, struct vvu_drv_dma_mem *m, uint64_t iova,
		    uint64_t size, int fd, uint64_t fd_off)
{
	struct vvu_vfu *v = hw->priv;
	unsigned int i;
	int ret;

	for (i = 0; i < m->nr_maps; i++)
		if (m->map_iova[i] == iova)
			return 0;	/* two pieces in one hugepage */
	if (m->nr_maps == RTE_DIM(m->map_iova))
		return -E2BIG;
	ret = vfio_user_client_dma_map(v->cli, VFIO_USER_F_DMA_REGION_READ |
				       VFIO_USER_F_DMA_REGION_WRITE, iova, size, fd, fd_off);
	if (ret < 0)
		return ret;
	m->map_iova[m->nr_maps] = iova;
	m->map_size[m->nr_maps] = size;
	m->nr_maps++;
	return 0;
}

static void
vvu_vfu_dma_unmap_all(struct vvu_drv_hw *hw, struct vvu_drv_dma_mem *m)
{
	struct vvu_vfu *v = hw->priv;
	unsigned int i;

	for (i = 0; i < m->nr_maps; i++)
		if (v != NULL && v->cli != NULL)
			vfio_user_client_dma_unmap(v->cli, 0, m->map_iova[i], m->map_size[i]);
	m->nr_maps = 0;
}

/*
 * Map every memseg the memzone touches, whole (fd offsets stay page
 * aligned), merging neighbours that continue the same file (4 KiB pages of
 * --no-huge, one file per memseg list with --single-file-segments).
 */
static int
vvu_vfu_dma_map_memzone(struct vvu_drv_hw *hw, struct vvu_drv_dma_mem *m)
{
	const uint8_t *cur = m->va, *end = cur + m->len;
	uint64_t run_iova = 0, run_size = 0, run_off = 0;
	int run_fd = -1, ret;

	while (cur < end) {
		const struct rte_memseg *ms = rte_mem_virt2memseg(cur, NULL);
		uint64_t iova;
		size_t fd_off;
		int fd;

		if (ms == NULL)
			return -ENOTSUP;
		fd = rte_memseg_get_fd(ms);
		if (fd < 0 || rte_memseg_get_fd_offset(ms, &fd_off) < 0)
			return -ENOTSUP;
		iova = (uint64_t)(uintptr_t)ms->addr;
		if (run_fd == fd && iova == run_iova + run_size && fd_off == run_off + run_size) {
			run_size += ms->len;
		} else {
			if (run_fd >= 0) {
				ret = vvu_vfu_dma_map_one(hw, m, run_iova, run_size, run_fd,
							  run_off);
				if (ret < 0)
					return ret == -E2BIG ? -ENOTSUP : ret;
			}
			run_fd = fd;
			run_iova = iova;
			run_size = ms->len;
			run_off = fd_off;
		}
		cur = (const uint8_t *)ms->addr + ms->len;
	}
	if (run_fd < 0)
		return -ENOTSUP;
	ret = vvu_vfu_dma_map_one(hw, m, run_iova, run_size, run_fd, run_off);
	return ret == -E2BIG ? -ENOTSUP : ret;
}

static int
vvu_vfu_dma_memfd(struct vvu_drv_hw *hw, size_t len, struct vvu_drv_dma_mem *m)
{
	size_t map_len = RTE_ALIGN_CEIL(len, (size_t)sysconf(_SC_PAGESIZE));
	int fd, ret;
	void *p;

	fd = memfd_create("vvu-rings", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)map_len) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	p = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		close(fd);
		return ret;
	}
	m->va = p;
	m->iova = (uint64_t)(uintptr_t)p;
	m->len = len;
	m->map = p;
	m->map_len = map_len;
	m->fd = fd;
	ret = vvu_vfu_dma_map_one(hw, m, m->iova, map_len, fd, 0);
	if (ret < 0) {
		munmap(p, map_len);
		close(fd);
		m->map = NULL;
		m->fd = -1;
	}
	return ret;
}

static int
vvu_vfu_dma_alloc(struct vvu_drv_hw *hw, size_t len, struct vvu_drv_dma_mem *m)
{
	static unsigned int seq;
	const struct rte_memzone *mz;
	char name[RTE_MEMZONE_NAMESIZE];
	int ret;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	snprintf(name, sizeof(name), "vvu_rings_%u",
		 __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
	mz = rte_memzone_reserve_aligned(name, len, SOCKET_ID_ANY, 0, VVU_DMA_ALIGN);
	if (mz != NULL) {
		m->mz = mz;
		m->va = mz->addr;
		m->iova = (uint64_t)(uintptr_t)mz->addr;	/* IOVA = VA over vfio-user */
		m->len = len;
		memset(m->va, 0, len);
		ret = vvu_vfu_dma_map_memzone(hw, m);
		if (ret == 0)
			return 0;
		vvu_vfu_dma_unmap_all(hw, m);
		rte_memzone_free(mz);
		m->mz = NULL;
		if (ret != -ENOTSUP)
			return ret;
	}
	/* No fd behind DPDK's memory (or no EAL memory at all): our own memfd. */
	return vvu_vfu_dma_memfd(hw, len, m);
}

static void
vvu_vfu_dma_free(struct vvu_drv_hw *hw, struct vvu_drv_dma_mem *m)
{
	vvu_vfu_dma_unmap_all(hw, m);
	if (m->mz != NULL)
		rte_memzone_free(m->mz);
	if (m->map != NULL)
		munmap(m->map, m->map_len);
	if (m->fd >= 0)
		close(m->fd);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

static int
vvu_vfu_watch_fd(struct vvu_drv_hw *hw)
{
	struct vvu_vfu *v = hw->priv;

	return v != NULL ? vfio_user_client_fd(v->cli) : -1;
}

/*
 * The server never speaks first (we refuse DMA_READ/WRITE by not mapping
 * without fds), so a readable socket with no request in flight is either
 * EOF or garbage: both mean the device is gone for us.
 */
static int
vvu_vfu_check_alive(struct vvu_drv_hw *hw)
{
	int fd = vvu_vfu_watch_fd(hw);
	char c;
	ssize_t n;

	if (fd < 0)
		return -ENOTCONN;
	n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	return -ECONNRESET;
}

const struct vvu_drv_hw_ops vvu_drv_vfio_user_ops = {
	.name = "vfio-user",
	.mt_safe_write = false,
	.open = vvu_vfu_open,
	.close = vvu_vfu_close,
	.cfg_read = vvu_vfu_cfg_read,
	.cfg_write = vvu_vfu_cfg_write,
	.bar_size = vvu_vfu_bar_size,
	.bar_read = vvu_vfu_bar_read,
	.bar_write = vvu_vfu_bar_write,
	.bar_notify = vvu_vfu_bar_notify,
	.bar_read_batch = vvu_vfu_bar_read_batch,
	.shm_refresh = vvu_vfu_shm_refresh,
	.shm_release = vvu_vfu_shm_release,
	.shm_map = vvu_vfu_shm_map,
	.shm_unmap = vvu_vfu_shm_unmap,
	.set_irqs = vvu_vfu_set_irqs,
	.dma_alloc = vvu_vfu_dma_alloc,
	.dma_free = vvu_vfu_dma_free,
	.watch_fd = vvu_vfu_watch_fd,
	.check_alive = vvu_vfu_check_alive,
};

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device access through kernel VFIO: the VVU device is a PCI function bound
 * to vfio-pci (inside an appliance VM), named by its address hw->addr
 * ("0000:00:04.0").
 *
 * Only DPDK's public API is used: rte_vfio_setup_device() opens the device
 * and puts its IOMMU group in EAL's default container, which maps all of
 * DPDK's memory for DMA, so our rings are a memzone whose IOVA the device
 * can use. Everything else is the VFIO device fd: the region info ioctl for
 * sizes, pread/pwrite for config space and BAR0 registers (trapped by the
 * VMM; pwrite is thread-safe, so data-path doorbells write directly), one
 * mmap of the shared-memory BAR, and VFIO_DEVICE_SET_IRQS for MSI-X
 * eventfds (the kernel programs the MSI-X table and enable bit itself).
 *
 * Not run in this project's CI: it needs a VM with the VVU device. The
 * logic above the ops (capability walk, rings, BAR2 placement) is shared
 * with vfio-user and unit-tested there.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <rte_common.h>
#include <rte_memzone.h>
#include <rte_vfio.h>

#include "vhost.h"
#include "vvu_drv_hw.h"

#define VVU_LOG(who, level, fmt, ...) \
	VHOST_LOG_CONFIG(who, level, "vvu: " fmt, ##__VA_ARGS__)

#define VVU_SYSFS_PCI		"/sys/bus/pci/devices"
#define VVU_DMA_ALIGN		4096
/* Largest MSI-X set we route (config + rxq + txq + kicks, vvu_device_spec.rst §L.7). */
#define VVU_VFIO_MAX_VECTORS	259

struct vvu_vfio {
	int dev_fd;
	bool setup;			/* rte_vfio_setup_device() succeeded */
	uint64_t size[VFIO_PCI_NUM_REGIONS];
	uint64_t offset[VFIO_PCI_NUM_REGIONS];	/* file offset of region i */
	uint32_t flags[VFIO_PCI_NUM_REGIONS];
	void *shm_va[VVU_PCI_NUM_BARS];		/* whole-BAR mappings */
};

static void
vvu_vfio_close(struct vvu_drv_hw *hw)
{
	struct vvu_vfio *v = hw->priv;
	unsigned int i;

	if (v == NULL)
		return;
	for (i = 0; i < VVU_PCI_NUM_BARS; i++)
		if (v->shm_va[i] != NULL)
			munmap(v->shm_va[i], (size_t)v->size[i]);
	if (v->setup)
		rte_vfio_release_device(VVU_SYSFS_PCI, hw->addr, v->dev_fd);
	free(v);
	hw->priv = NULL;
}

static int
vvu_vfio_open(struct vvu_drv_hw *hw)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vvu_vfio *v;
	unsigned int i;
	int ret;

	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	hw->priv = v;
	v->dev_fd = -1;
	ret = rte_vfio_setup_device(VVU_SYSFS_PCI, hw->addr, &v->dev_fd, &info);
	if (ret != 0) {
		VVU_LOG(hw->name, ERR, "VFIO setup of %s failed (is it bound to vfio-pci?)\n",
			hw->addr);
		ret = -ENODEV;
		goto fail;
	}
	v->setup = true;
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX) {
		VVU_LOG(hw->name, ERR, "%s is not a VFIO PCI device\n", hw->addr);
		ret = -ENODEV;
		goto fail;
	}
	for (i = 0; i <= VFIO_PCI_CONFIG_REGION_INDEX; i++) {
		struct vfio_region_info r = { .argsz = sizeof(r), .index = i };

		if (ioctl(v->dev_fd, VFIO_DEVICE_GET_REGION_INFO, &r) < 0)
			continue;	/* absent BAR */
		v->size[i] = r.size;
		v->offset[i] = r.offset;
		v->flags[i] = r.flags;
	}
	if (v->size[VFIO_PCI_CONFIG_REGION_INDEX] < VVU_PCI_CFG_SIZE) {
		ret = -ENODEV;
		goto fail;
	}
	return 0;
fail:
	vvu_vfio_close(hw);
	return ret;
}

static int
vvu_vfio_rw(struct vvu_vfio *v, unsigned int region, uint64_t off, void *buf,
	    uint32_t len, bool write)
{
	ssize_t n;

	if (region >= VFIO_PCI_NUM_REGIONS || off > v->size[region] ||
	    len > v->size[region] - off)
		return -EINVAL;
	if (write)
		n = pwrite(v->dev_fd, buf, len, (off_t)(v->offset[region] + off));
	else
		n = pread(v->dev_fd, buf, len, (off_t)(v->offset[region] + off));
	if (n < 0)
		return -errno;
	return (uint32_t)n == len ? 0 : -EIO;
}

static int
vvu_vfio_cfg_read(struct vvu_drv_hw *hw, uint32_t off, void *buf, uint32_t len)
{
	return vvu_vfio_rw(hw->priv, VFIO_PCI_CONFIG_REGION_INDEX, off, buf, len, false);
}

static int
vvu_vfio_cfg_write(struct vvu_drv_hw *hw, uint32_t off, const void *buf, uint32_t len)
{
	return vvu_vfio_rw(hw->priv, VFIO_PCI_CONFIG_REGION_INDEX, off, (void *)(uintptr_t)buf,
			   len, true);
}

static int
vvu_vfio_bar_size(struct vvu_drv_hw *hw, unsigned int bar, uint64_t *size)
{
	struct vvu_vfio *v = hw->priv;

	if (bar >= VVU_PCI_NUM_BARS)
		return -EINVAL;
	*size = v->size[VFIO_PCI_BAR0_REGION_INDEX + bar];
	return 0;
}

static int
vvu_vfio_bar_read(struct vvu_drv_hw *hw, unsigned int bar, uint64_t off, void *buf,
		  uint32_t len)
{
	if (bar >= VVU_PCI_NUM_BARS)
		return -EINVAL;
	return vvu_vfio_rw(hw->priv, VFIO_PCI_BAR0_REGION_INDEX + bar, off, buf, len, false);
}

static int
vvu_vfio_bar_write(struct vvu_drv_hw *hw, unsigned int bar, uint64_t off, const void *buf,
		   uint32_t len)
{
	if (bar >= VVU_PCI_NUM_BARS)
		return -EINVAL;
	return vvu_vfio_rw(hw->priv, VFIO_PCI_BAR0_REGION_INDEX + bar, off,
			   (void *)(uintptr_t)buf, len, true);
}

/* The BAR is real (guest) memory behind the VMM: map it once, whole. */
static int
vvu_vfio_shm_refresh(struct vvu_drv_hw *hw, unsigned int bar)
{
	struct vvu_vfio *v = hw->priv;
	unsigned int r = VFIO_PCI_BAR0_REGION_INDEX + bar;
	void *p;

	if (bar >= VVU_PCI_NUM_BARS)
		return -EINVAL;
	if (v->shm_va[bar] != NULL)
		return 0;
	if (!(v->flags[r] & VFIO_REGION_INFO_FLAG_MMAP) || v->size[r] == 0 ||
	    v->size[r] > SIZE_MAX) {
		VVU_LOG(hw->name, ERR, "BAR%u cannot be mapped\n", bar);
		return -ENXIO;
	}
	p = mmap(NULL, (size_t)v->size[r], PROT_READ | PROT_WRITE, MAP_SHARED, v->dev_fd,
		 (off_t)v->offset[r]);
	if (p == MAP_FAILED) {
		int err = errno;

		VVU_LOG(hw->name, ERR, "mmap of BAR%u: %s\n", bar, strerror(err));
		return -err;
	}
	v->shm_va[bar] = p;
	return 0;
}

static int
vvu_vfio_shm_map(struct vvu_drv_hw *hw, unsigned int bar, uint64_t off, uint64_t len,
		 struct vvu_drv_shm_map *m)
{
	struct vvu_vfio *v = hw->priv;
	uint64_t size;
	int ret;

	if (bar >= VVU_PCI_NUM_BARS)
		return -EINVAL;
	ret = vvu_vfio_shm_refresh(hw, bar);
	if (ret < 0)
		return ret;
	size = v->size[VFIO_PCI_BAR0_REGION_INDEX + bar];
	if (off > size || len > size - off)
		return -ENXIO;
	m->va = (uint8_t *)v->shm_va[bar] + off;
	m->map = NULL;	/* part of the BAR mapping, unmapped at close */
	m->map_len = 0;
	return 0;
}

static void
vvu_vfio_shm_unmap(struct vvu_drv_hw *hw, struct vvu_drv_shm_map *m)
{
	m->va = NULL;
}

static int
vvu_vfio_set_irqs(struct vvu_drv_hw *hw, uint32_t count, const int *efds)
{
	struct vvu_vfio *v = hw->priv;
	struct vfio_irq_set *set;
	size_t sz;
	int ret;

	if (count > VVU_VFIO_MAX_VECTORS)
		return -EINVAL;
	sz = sizeof(*set) + sizeof(int) * count;
	set = calloc(1, sz);
	if (set == NULL)
		return -ENOMEM;
	set->argsz = (uint32_t)sz;
	set->index = VFIO_PCI_MSIX_IRQ_INDEX;
	set->start = 0;
	set->count = count;
	set->flags = VFIO_IRQ_SET_ACTION_TRIGGER |
		(count > 0 ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE);
	if (count > 0)
		memcpy(set->data, efds, sizeof(int) * count);
	ret = ioctl(v->dev_fd, VFIO_DEVICE_SET_IRQS, set) < 0 ? -errno : 0;
	free(set);
	if (ret < 0)
		VVU_LOG(hw->name, ERR, "MSI-X set-up (%u vectors): %s\n", count, strerror(-ret));
	return ret;
}

static int
vvu_vfio_dma_alloc(struct vvu_drv_hw *hw, size_t len, struct vvu_drv_dma_mem *m)
{
	static unsigned int seq;
	const struct rte_memzone *mz;
	char name[RTE_MEMZONE_NAMESIZE];

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	snprintf(name, sizeof(name), "vvu_vfio_rings_%u",
		 __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
	/* One IOVA-contiguous zone: the device sees each ring as one range. */
	mz = rte_memzone_reserve_aligned(name, len, SOCKET_ID_ANY, RTE_MEMZONE_IOVA_CONTIG,
					 VVU_DMA_ALIGN);
	if (mz == NULL || mz->iova == RTE_BAD_IOVA) {
		if (mz != NULL)
			rte_memzone_free(mz);
		VVU_LOG(hw->name, ERR, "no IOVA-contiguous memory for the rings\n");
		return -ENOMEM;
	}
	memset(mz->addr, 0, len);
	m->mz = mz;
	m->va = mz->addr;
	m->iova = mz->iova;
	m->len = len;
	return 0;
}

static void
vvu_vfio_dma_free(struct vvu_drv_hw *hw, struct vvu_drv_dma_mem *m)
{
	if (m->mz != NULL)
		rte_memzone_free(m->mz);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

static int
vvu_vfio_watch_fd(struct vvu_drv_hw *hw)
{
	return -1;	/* a PCI function does not hang up */
}

static int
vvu_vfio_check_alive(struct vvu_drv_hw *hw)
{
	return 0;
}

const struct vvu_drv_hw_ops vvu_drv_vfio_ops = {
	.name = "vfio",
	.mt_safe_write = true,
	.open = vvu_vfio_open,
	.close = vvu_vfio_close,
	.cfg_read = vvu_vfio_cfg_read,
	.cfg_write = vvu_vfio_cfg_write,
	.bar_size = vvu_vfio_bar_size,
	.bar_read = vvu_vfio_bar_read,
	.bar_write = vvu_vfio_bar_write,
	.shm_refresh = vvu_vfio_shm_refresh,
	.shm_map = vvu_vfio_shm_map,
	.shm_unmap = vvu_vfio_shm_unmap,
	.set_irqs = vvu_vfio_set_irqs,
	.dma_alloc = vvu_vfio_dma_alloc,
	.dma_free = vvu_vfio_dma_free,
	.watch_fd = vvu_vfio_watch_fd,
	.check_alive = vvu_vfio_check_alive,
};

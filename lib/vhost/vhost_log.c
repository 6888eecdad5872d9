/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dirty page logging for live migration (VHOST_F_LOG_ALL).
 *
 * While the front-end migrates, it gives us a bitmap (SET_LOG_BASE) with
 * one bit per 4 KiB page of guest-physical memory; every page the back-end
 * writes (buffers filled on enqueue, used ring updates) must be marked
 * before the write is published to the driver, so the front-end copies it
 * again. Several lcores may log into the same byte, so bits are set with an
 * atomic OR (a plain read-modify-write lost bits: DPDK bb77d555d4).
 *
 * The bitmap's size came from the front-end; a page beyond it is skipped
 * rather than written. Addresses are logged by guest-physical address: the
 * data path knows host VAs, which map back to guest-physical through the
 * memory table (this also covers IOMMU mode, where descriptors carry IOVAs).
 */

#include <rte_vhost.h>

#include "vhost.h"
#include "vhost_dp.h"

static inline void
vhost_log_page(uint8_t *log, uint64_t log_size, uint64_t page)
{
	uint64_t byte = page / 8;

	if (unlikely(byte >= log_size))
		return;
	__atomic_fetch_or(&log[byte], (uint8_t)(1u << (page % 8)), __ATOMIC_RELAXED);
}

void
vhost_log_write_range(struct vhost_dev *dev, uint64_t gpa, uint64_t len)
{
	uint8_t *log = (uint8_t *)(uintptr_t)dev->log_addr;
	uint64_t page, last;

	if (!vhost_log_enabled(dev) || len == 0)
		return;
	page = gpa / VHOST_LOG_PAGE;
	if (page / 8 >= dev->log_size)
		return;
	/* Saturate rather than wrap for a range that runs off 2^64. */
	last = (gpa + len - 1 < gpa ? UINT64_MAX : gpa + len - 1) / VHOST_LOG_PAGE;
	/* Pages beyond the bitmap are skipped; don't walk them one by one. */
	if (last / 8 >= dev->log_size)
		last = dev->log_size * 8 - 1;
	for (; page <= last; page++)
		vhost_log_page(log, dev->log_size, page);
	/* The bits must be visible before the write they cover is published. */
	rte_atomic_thread_fence(__ATOMIC_RELEASE);
}

void
vhost_log_write_vva(struct vhost_dev *dev, uint64_t vva, uint64_t len)
{
	const struct rte_vhost_memory *mem = dev->mem;
	uint32_t i;

	if (!vhost_log_enabled(dev) || mem == NULL)
		return;
	while (len > 0) {
		uint64_t chunk = 0;

		for (i = 0; i < mem->nregions; i++) {
			const struct rte_vhost_mem_region *r = &mem->regions[i];
			uint64_t off = vva - r->host_user_addr;

			if (off < r->size) {
				chunk = RTE_MIN(len, r->size - off);
				vhost_log_write_range(dev, r->guest_phys_addr + off, chunk);
				break;
			}
		}
		if (chunk == 0)
			return;	/* not guest memory: nothing to log */
		vva += chunk;
		len -= chunk;
	}
}

void
vhost_log_used(struct vhost_dev *dev, struct vhost_vq *vq, uint64_t off, uint64_t len)
{
	if (!vhost_log_enabled(dev) || !vq->log_used)
		return;
	vhost_log_write_range(dev, vq->log_guest_addr + off, len);
}

void
rte_vhost_log_write(int vid, uint64_t addr, uint64_t len)
{
	struct vhost_dev *dev = vhost_dev_lookup(vid);

	if (dev == NULL)
		return;
	vhost_log_write_range(dev, addr, len);
}

void
rte_vhost_log_used_vring(int vid, uint16_t vring_idx, uint64_t offset, uint64_t len)
{
	struct vhost_dev *dev = vhost_dev_lookup(vid);
	struct vhost_vq *vq;

	if (dev == NULL || vring_idx >= VHOST_MAX_VRING ||
	    vring_idx >= __atomic_load_n(&dev->nr_vring, __ATOMIC_ACQUIRE))
		return;
	vq = dev->vq[vring_idx];
	if (vq == NULL)
		return;
	vhost_log_used(dev, vq, offset, len);
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The memory table: SET_MEM_TABLE, ADD_MEM_REG, REM_MEM_REG,
 * GET_MAX_MEM_SLOTS, and ring address translation.
 *
 * Changing the table while the data path runs
 * -------------------------------------------
 * Regions are validated (non-empty, no wrap-around of gpa/uaddr/offset +
 * size, no overlap with each other in guest-physical or front-end virtual
 * space) and mapped through the transport *before* anything the data path
 * can see changes. Then:
 *
 *  1. if a region goes away and the device is running, destroy_device() is
 *     called first (vhost_dev_stop): the application may hold host
 *     addresses into guest memory (rte_vhost_get_mem_table, vring info);
 *  2. every vq lock is taken, the table pointer (or its new last entry) is
 *     published, and every ring with addresses is translated again: a ring
 *     that is no longer fully mapped gets access_ok = false, so no burst
 *     touches it;
 *  3. the locks are dropped, and only then is the old mapping unmapped.
 *
 * A burst therefore sees either the old table and rings or the new ones,
 * never an unmapped page. The dispatcher's vhost_dev_check_ready() starts
 * the device again (new_device) once its first queue pair is usable.
 *
 * An identical SET_MEM_TABLE (same regions, same order) is a no-op: QEMU
 * sends one per queue pair, and for every device start.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_ring.h>

#include <rte_vhost.h>

#include "vhost.h"
#include "vhost_transport.h"
#include "vhost_user_priv.h"

/* Ring parts are naturally aligned (virtio 1.1 2.6 and 2.7.10). */
#define VHOST_DESC_ALIGN	16
#define VHOST_AVAIL_ALIGN	2
#define VHOST_USED_ALIGN	4
#define VHOST_EVENT_ALIGN	4
#define VHOST_DESC_BYTES	16	/* split and packed descriptors alike */
#define VHOST_EVENT_BYTES	4	/* struct vring_packed_desc_event */

/* Size of a split ring part, always with its trailing event field. */
static uint64_t
vhost_avail_bytes(uint16_t n)
{
	return 4 + 2ULL * n + 2;	/* flags, idx, ring[n], used_event */
}

static uint64_t
vhost_used_bytes(uint16_t n)
{
	return 4 + 8ULL * n + 2;	/* flags, idx, ring[n], avail_event */
}

/* Basic checks of one region, on its own; NULL if fine. */
static const char *
vhost_region_check(const struct vhost_user_mem_region *r)
{
	if (r->memory_size == 0)
		return "region of size 0";
	if (r->guest_phys_addr > UINT64_MAX - r->memory_size)
		return "region guest address + size overflows";
	if (r->userspace_addr > UINT64_MAX - r->memory_size)
		return "region user address + size overflows";
	if (r->mmap_offset > UINT64_MAX - r->memory_size)
		return "region mmap offset + size overflows";
	return NULL;
}

static bool
vhost_ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	/* Lengths are non-zero and ends do not wrap (checked before). */
	return a < b + blen && b < a + alen;
}

/* Does r overlap reg (guest-physical or front-end virtual)? */
static bool
vhost_region_overlaps(const struct vhost_user_mem_region *r,
		      const struct rte_vhost_mem_region *reg)
{
	return vhost_ranges_overlap(r->guest_phys_addr, r->memory_size,
				    reg->guest_phys_addr, reg->size) ||
		vhost_ranges_overlap(r->userspace_addr, r->memory_size,
				     reg->guest_user_addr, reg->size);
}

static bool
vhost_region_same(const struct vhost_user_mem_region *r,
		  const struct rte_vhost_mem_region *reg)
{
	return r->guest_phys_addr == reg->guest_phys_addr &&
		r->userspace_addr == reg->guest_user_addr &&
		r->memory_size == reg->size;
}

const char *
vhost_user_check_mem_table(const struct vhost_user_ctx *ctx)
{
	struct vhost_user_memory mem;
	uint32_t i, j;
	const char *why;

	vhost_msg_payload(ctx, &mem, ctx->msg.hdr.size);
	if (mem.nregions == 0 || mem.nregions > VHOST_USER_MEMORY_MAX_NREGIONS)
		return "region count outside 1..8";
	if (ctx->msg.hdr.size != offsetof(struct vhost_user_memory, regions) +
	    mem.nregions * sizeof(mem.regions[0]))
		return "payload size does not match the region count";
	for (i = 0; i < mem.nregions; i++) {
		const struct vhost_user_mem_region *r = &mem.regions[i];

		why = vhost_region_check(r);
		if (why != NULL)
			return why;
		for (j = 0; j < i; j++) {
			const struct vhost_user_mem_region *o = &mem.regions[j];

			if (vhost_ranges_overlap(r->guest_phys_addr, r->memory_size,
						 o->guest_phys_addr, o->memory_size))
				return "regions overlap in guest-physical space";
			if (vhost_ranges_overlap(r->userspace_addr, r->memory_size,
						 o->userspace_addr, o->memory_size))
				return "regions overlap in front-end virtual space";
		}
	}
	return NULL;
}

const char *
vhost_user_check_mem_reg(const struct vhost_user_ctx *ctx)
{
	struct vhost_user_mem_reg reg;

	vhost_msg_payload(ctx, &reg, sizeof(reg));
	return vhost_region_check(&reg.region);
}

/*
 * Map one validated region through the transport into *reg: table slot
 * index, whose fd (if the transport passes fds) is ctx->fds[fd_slot], and
 * which starts table_offset bytes into the table (the sizes before it).
 */
static int
vhost_region_map(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
		 const struct vhost_user_mem_region *r, int fd_slot, uint32_t index,
		 uint64_t table_offset, struct rte_vhost_mem_region *reg)
{
	struct vhost_region_src src = {
		.fd = fd_slot < ctx->nr_fds ? ctx->fds[fd_slot] : -1,
		.mmap_offset = r->mmap_offset,
		.index = index,
		.table_offset = table_offset,
	};
	int ret;

	memset(reg, 0, sizeof(*reg));
	reg->guest_phys_addr = r->guest_phys_addr;
	reg->guest_user_addr = r->userspace_addr;
	reg->size = r->memory_size;
	reg->fd = -1;
	ret = dev->trans->map_region(dev, reg, &src);
	if (ret < 0 || reg->host_user_addr == 0) {
		VHOST_MSG_LOG(dev, ctx, ERR, "mapping region gpa 0x%" PRIx64 " size 0x%"
			      PRIx64 " failed (%d)\n", r->guest_phys_addr, r->memory_size, ret);
		if (ret == 0)
			dev->trans->unmap_region(dev, reg);
		return ret < 0 ? ret : -EINVAL;
	}
	/* Host addresses of the whole region must not wrap either. */
	if (reg->host_user_addr > UINT64_MAX - reg->size) {
		VHOST_MSG_LOG(dev, ctx, ERR, "region mapped at a wrapping address\n");
		dev->trans->unmap_region(dev, reg);
		return -EINVAL;
	}
	return 0;
}

static struct rte_vhost_memory *
vhost_mem_alloc(void)
{
	return calloc(1, sizeof(struct rte_vhost_memory) +
		      VHOST_MAX_MEM_SLOTS * sizeof(struct rte_vhost_mem_region));
}

static void
vhost_mem_unmap(struct vhost_dev *dev, struct rte_vhost_memory *mem)
{
	uint32_t i;

	for (i = 0; i < mem->nregions; i++)
		dev->trans->unmap_region(dev, &mem->regions[i]);
	mem->nregions = 0;
}

void
vhost_vqs_retranslate(struct vhost_dev *dev)
{
	uint32_t i;

	for (i = 0; i < dev->nr_vring; i++) {
		struct vhost_vq *vq = dev->vq[i];

		if (vq == NULL)
			continue;
		if (vhost_vq_validate(dev, vq) == -EFAULT)
			VHOST_LOG_CONFIG(dev->ifname, WARNING,
					 "vring %u not mapped by the memory table\n", i);
	}
}

int
vhost_user_set_mem_table(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
			 struct vhost_user_reply *reply)
{
	struct rte_vhost_memory *mem, *old;
	struct vhost_user_memory msg;
	uint64_t table_offset = 0;
	uint32_t i;
	int ret;

	vhost_msg_payload(ctx, &msg, ctx->msg.hdr.size);

	old = dev->mem;
	if (old->nregions == msg.nregions) {
		for (i = 0; i < msg.nregions; i++)
			if (!vhost_region_same(&msg.regions[i], &old->regions[i]))
				break;
		if (i == msg.nregions)
			return 0;	/* fds are closed by the transport */
	}

	ret = vhost_trans_mem_update_begin(dev);
	if (ret < 0) {
		VHOST_MSG_LOG(dev, ctx, ERR, "transport cannot take a new table (%d)\n", ret);
		return ret;
	}
	mem = vhost_mem_alloc();
	if (mem == NULL) {
		VHOST_MSG_LOG(dev, ctx, ERR, "no memory for the table\n");
		return -ENOMEM;
	}
	for (i = 0; i < msg.nregions; i++) {
		/* Disjoint in guest-physical space (checked): the sum cannot wrap. */
		ret = vhost_region_map(dev, ctx, &msg.regions[i], (int)i, i, table_offset,
				       &mem->regions[i]);
		if (ret < 0) {
			vhost_mem_unmap(dev, mem);
			free(mem);
			return ret;
		}
		table_offset += msg.regions[i].memory_size;
		mem->nregions = i + 1;
	}

	/* The application may hold addresses into the old table. */
	if (old->nregions != 0)
		vhost_dev_stop(dev);

	vhost_dev_lock_all_vqs(dev);
	dev->mem = mem;
	vhost_vqs_retranslate(dev);
	vhost_dev_unlock_all_vqs(dev);

	vhost_mem_unmap(dev, old);
	free(old);
	VHOST_MSG_LOG(dev, ctx, INFO, "%u regions mapped\n", mem->nregions);
	return 0;
}

int
vhost_user_add_mem_reg(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
		       struct vhost_user_reply *reply)
{
	struct rte_vhost_mem_region reg;
	struct vhost_user_mem_reg msg;
	struct rte_vhost_memory *mem = dev->mem;
	uint64_t table_offset = 0;
	uint32_t i;
	int ret;

	vhost_msg_payload(ctx, &msg, sizeof(msg));
	for (i = 0; i < mem->nregions; i++) {
		/* QEMU adds every region once per queue pair. */
		if (vhost_region_same(&msg.region, &mem->regions[i]))
			return 0;
		if (vhost_region_overlaps(&msg.region, &mem->regions[i])) {
			VHOST_MSG_LOG(dev, ctx, ERR, "region gpa 0x%" PRIx64
				      " overlaps region %u\n", msg.region.guest_phys_addr, i);
			return -EINVAL;
		}
	}
	if (mem->nregions >= VHOST_MAX_MEM_SLOTS) {
		VHOST_MSG_LOG(dev, ctx, ERR, "all %d memory slots in use\n",
			      VHOST_MAX_MEM_SLOTS);
		return -ENOSPC;
	}
	ret = vhost_trans_mem_update_begin(dev);
	if (ret < 0) {
		VHOST_MSG_LOG(dev, ctx, ERR, "transport cannot add a region (%d)\n", ret);
		return ret;
	}
	for (i = 0; i < mem->nregions; i++)
		table_offset += mem->regions[i].size;
	ret = vhost_region_map(dev, ctx, &msg.region, 0, mem->nregions, table_offset, &reg);
	if (ret < 0)
		return ret;

	/* Nothing goes away: publish under the locks, no stop needed. */
	vhost_dev_lock_all_vqs(dev);
	mem->regions[mem->nregions] = reg;
	mem->nregions++;
	for (i = 0; i < dev->nr_vring; i++) {
		struct vhost_vq *vq = dev->vq[i];

		if (vq != NULL && vq->addr_set && !vq->access_ok)
			vhost_vq_validate(dev, vq);
	}
	vhost_dev_unlock_all_vqs(dev);
	return 0;
}

int
vhost_user_rem_mem_reg(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
		       struct vhost_user_reply *reply)
{
	struct rte_vhost_memory *mem = dev->mem;
	struct rte_vhost_mem_region gone;
	struct vhost_user_mem_reg msg;
	uint32_t i;

	vhost_msg_payload(ctx, &msg, sizeof(msg));
	/* mmap_offset is not compared: QEMU sends 0 when it attaches no fd. */
	for (i = 0; i < mem->nregions; i++)
		if (vhost_region_same(&msg.region, &mem->regions[i]))
			break;
	/*
	 * Not there: already removed. QEMU keeps one region list per queue
	 * pair and sends each pair's REM_MEM_REG on the same connection, so
	 * with several queue pairs every removal after the first names a
	 * region that is gone (ADD_MEM_REG duplicates are skipped the same
	 * way). What the front-end wants, no such region, holds: succeed.
	 */
	if (i == mem->nregions) {
		VHOST_MSG_LOG(dev, ctx, DEBUG, "no region gpa 0x%" PRIx64 " size 0x%" PRIx64
			      ", already removed\n", msg.region.guest_phys_addr,
			      msg.region.memory_size);
		return 0;
	}

	vhost_dev_stop(dev);	/* the application may point into it */

	vhost_dev_lock_all_vqs(dev);
	gone = mem->regions[i];
	memmove(&mem->regions[i], &mem->regions[i + 1],
		(mem->nregions - i - 1) * sizeof(mem->regions[0]));
	mem->nregions--;
	memset(&mem->regions[mem->nregions], 0, sizeof(mem->regions[0]));
	/* Rings inside the region become inaccessible before it is unmapped. */
	vhost_vqs_retranslate(dev);
	vhost_dev_unlock_all_vqs(dev);

	dev->trans->unmap_region(dev, &gone);
	return 0;
}

int
vhost_user_get_max_mem_slots(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
			     struct vhost_user_reply *reply)
{
	vhost_reply_u64(reply, VHOST_MAX_MEM_SLOTS);
	return 0;
}

/*
 * Host VA of ring part [addr, addr + len): all of it mapped contiguously
 * and aligned, or 0. addr is a front-end VA, or an IOVA with IOMMU_PLATFORM.
 */
static uint64_t
vhost_ring_map(struct vhost_dev *dev, struct vhost_vq *vq, uint64_t addr, uint64_t len,
	       uint64_t align, uint8_t perm, int *err)
{
	uint64_t got = len, vva;

	if ((addr & (align - 1)) != 0 || addr > UINT64_MAX - len) {
		*err = -EINVAL;
		return 0;
	}
	if (dev->iommu)
		vva = vhost_iova_to_vva_iotlb(dev, vq, addr, &got, perm);
	else
		vva = vhost_uva_to_vva(dev, addr, &got);
	if (vva == 0 || got != len) {
		/* An IOTLB miss was sent: the update will translate it. */
		*err = dev->iommu ? -EAGAIN : -EFAULT;
		return 0;
	}
	if ((vva & (align - 1)) != 0) {
		*err = -EINVAL;
		return 0;
	}
	return vva;
}

/*
 * The one validation of a vring, run whenever anything its state depends on
 * changes: its size (SET_VRING_NUM), layout and features (SET_FEATURES),
 * ring addresses (SET_VRING_ADDR), base (checked at the next start), the
 * memory table or IOTLB (SET_MEM_TABLE, ADD/REM_MEM_REG, IOTLB updates),
 * its inflight slice (SET_VRING_KICK after GET/SET_INFLIGHT_FD). The vring
 * comes out wholly valid (access_ok) or stopped: rings translated and
 * fully mapped, a packed ring's indexes inside it, an inflight slice that
 * still fits (else it is detached).
 *
 * Caller holds vq->access_lock. Returns 0 (access_ok set), -EAGAIN if the
 * ring cannot be translated yet (no size, no memory table, IOTLB miss
 * pending), -EFAULT if a part is not fully mapped, -EINVAL if misaligned,
 * -ERANGE for a packed index outside the ring, or -EINVAL for an inflight
 * slice that no longer fits.
 */
int
vhost_vq_validate(struct vhost_dev *dev, struct vhost_vq *vq)
{
	const struct vhost_user_vring_addr *a = &vq->ring_addrs;
	uint64_t desc, drv, dev_area;
	int err = 0;

	vq->access_ok = false;
	if (vhost_inflight_vq_check(dev, vq) < 0)
		return -EINVAL;
	if (!vq->addr_set || vq->size == 0)
		return -EAGAIN;
	if (!dev->iommu && dev->mem->nregions == 0)
		return -EAGAIN;
	/* SET_VRING_BASE may have come before SET_VRING_NUM shrank the ring. */
	if (vq->packed && (vq->last_avail_idx >= vq->size || vq->last_used_idx >= vq->size)) {
		VHOST_LOG_CONFIG(dev->ifname, ERR, "vring %u: packed indexes %u/%u outside a "
				 "ring of %u: vring stopped\n", vq->index, vq->last_avail_idx,
				 vq->last_used_idx, vq->size);
		return -ERANGE;
	}

	desc = vhost_ring_map(dev, vq, a->desc_user_addr, VHOST_DESC_BYTES * (uint64_t)vq->size,
			      VHOST_DESC_ALIGN, VHOST_USER_ACCESS_RW, &err);
	if (desc == 0)
		return err;
	if (vq->packed) {
		drv = vhost_ring_map(dev, vq, a->avail_user_addr, VHOST_EVENT_BYTES,
				     VHOST_EVENT_ALIGN, VHOST_USER_ACCESS_RO, &err);
		if (drv == 0)
			return err;
		dev_area = vhost_ring_map(dev, vq, a->used_user_addr, VHOST_EVENT_BYTES,
					  VHOST_EVENT_ALIGN, VHOST_USER_ACCESS_RW, &err);
		if (dev_area == 0)
			return err;
	} else {
		drv = vhost_ring_map(dev, vq, a->avail_user_addr, vhost_avail_bytes(vq->size),
				     VHOST_AVAIL_ALIGN, VHOST_USER_ACCESS_RO, &err);
		if (drv == 0)
			return err;
		dev_area = vhost_ring_map(dev, vq, a->used_user_addr,
					  vhost_used_bytes(vq->size), VHOST_USED_ALIGN,
					  VHOST_USER_ACCESS_RW, &err);
		if (dev_area == 0)
			return err;
	}

	vq->desc = (struct vring_desc *)(uintptr_t)desc;
	vq->avail = (struct vring_avail *)(uintptr_t)drv;
	vq->used = (struct vring_used *)(uintptr_t)dev_area;
	vq->log_used = !!(a->flags & (1u << VHOST_USER_VRING_F_LOG));
	vq->log_guest_addr = a->log_guest_addr;

	if (!vq->packed) {
		uint16_t used_idx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);

		/*
		 * Like DPDK: after a reconnect the used index is the truth; a
		 * few buffers may be resent rather than the ring stalling.
		 */
		if (used_idx != vq->last_used_idx) {
			VHOST_LOG_CONFIG(dev->ifname, WARNING, "vring %u: last_used_idx %u "
					 "but used->idx %u, resyncing\n", vq->index,
					 vq->last_used_idx, used_idx);
			vq->last_used_idx = used_idx;
			vq->last_avail_idx = used_idx;
		}
	}
	vq->access_ok = true;
	if (vq->dp != NULL)
		vhost_vq_notify_apply(dev, vq);
	return 0;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Driver-side split virtqueues for the VVU message queues (see vvu_drv_queue.h
 * for the layout and the trust rules).
 *
 * Ordering: we publish a descriptor and its avail entry before the avail
 * index (release store), and read used elements only after the used index
 * (acquire load), as the virtio memory model requires. One thread uses a
 * queue at a time (the transport's endpoint lock).
 */

#include <errno.h>
#include <string.h>

#include <rte_common.h>

#include "vvu_drv_queue.h"

static size_t
vvu_drv_vq_ring_size(uint16_t size)
{
	size_t desc = sizeof(struct vring_desc) * size;
	/* flags, idx, ring[size], used_event */
	size_t avail = sizeof(uint16_t) * (3 + (size_t)size);

	return RTE_ALIGN_CEIL(desc + avail, VVU_RING_ALIGN) +
		RTE_ALIGN_CEIL(sizeof(uint16_t) * 3 + sizeof(struct vring_used_elem) * size,
			       VVU_RING_ALIGN);
}

size_t
vvu_drv_vq_mem_size(uint16_t size)
{
	return vvu_drv_vq_ring_size(size) + (size_t)size * VVU_BUF_SIZE;
}

int
vvu_drv_vq_init(struct vvu_drv_vq *vq, uint16_t size, bool rx, void *va, uint64_t iova)
{
	uint8_t *base = va;
	size_t used_off;
	uint16_t i;

	if (size == 0 || size > VVU_QUEUE_SIZE_MAX || (size & (size - 1)) != 0)
		return -EINVAL;
	memset(vq, 0, sizeof(*vq));
	vq->size = size;
	vq->mask = size - 1;
	vq->rx = rx;
	used_off = RTE_ALIGN_CEIL(sizeof(struct vring_desc) * size +
				  sizeof(uint16_t) * (3 + (size_t)size), VVU_RING_ALIGN);
	vq->desc = (struct vring_desc *)base;
	vq->avail = (struct vring_avail *)(base + sizeof(struct vring_desc) * size);
	vq->used = (struct vring_used *)(base + used_off);
	vq->bufs = base + vvu_drv_vq_ring_size(size);
	vq->desc_iova = iova;
	vq->avail_iova = iova + sizeof(struct vring_desc) * size;
	vq->used_iova = iova + used_off;
	vq->bufs_iova = iova + vvu_drv_vq_ring_size(size);
	for (i = 0; i < size; i++)
		vq->free_ids[i] = (uint16_t)(size - 1 - i);
	vq->nr_free = size;
	return 0;
}

/* Put id (not in flight) on the avail ring; the caller publishes the index. */
static void
vvu_drv_vq_add(struct vvu_drv_vq *vq, uint16_t id, uint32_t len)
{
	struct vring_desc *d = &vq->desc[id];

	d->addr = vq->bufs_iova + (uint64_t)id * VVU_BUF_SIZE;
	d->len = len;
	d->flags = vq->rx ? VRING_DESC_F_WRITE : 0;
	d->next = 0;
	vq->avail->ring[vq->avail_idx & vq->mask] = id;
	vq->avail_idx++;
	vq->in_flight[id] = true;
}

static void
vvu_drv_vq_publish(struct vvu_drv_vq *vq)
{
	__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
}

unsigned int
vvu_drv_vq_rx_post_all(struct vvu_drv_vq *vq)
{
	unsigned int n = 0;

	if (!vq->rx || vq->broken)
		return 0;
	while (vq->nr_free > 0) {
		vvu_drv_vq_add(vq, vq->free_ids[--vq->nr_free], VVU_BUF_SIZE);
		n++;
	}
	if (n > 0)
		vvu_drv_vq_publish(vq);
	return n;
}

/*
 * The next used element, validated: 1 with id and len filled, 0 if none, -EIO if the
 * device broke a rule.
 */
static int
vvu_drv_vq_next_used(struct vvu_drv_vq *vq, uint16_t *id, uint32_t *len)
{
	uint16_t used_idx, pending;
	struct vring_used_elem e;

	if (vq->broken)
		return -EIO;
	used_idx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	if (used_idx == vq->last_used)
		return 0;
	/* The device can never return more than it was given. */
	pending = (uint16_t)(vq->avail_idx - vq->last_used);
	if ((uint16_t)(used_idx - vq->last_used) > pending)
		goto bad;
	e = vq->used->ring[vq->last_used & vq->mask];
	if (e.id >= vq->size || !vq->in_flight[e.id])
		goto bad;
	if (e.len > VVU_BUF_SIZE)
		goto bad;
	vq->last_used++;
	vq->in_flight[e.id] = false;
	*id = (uint16_t)e.id;
	*len = e.len;
	return 1;
bad:
	vq->broken = true;
	return -EIO;
}

int
vvu_drv_vq_rx_pop(struct vvu_drv_vq *vq, void *buf, size_t cap)
{
	uint32_t len;
	uint16_t id;
	int ret;

	if (!vq->rx)
		return -EINVAL;
	ret = vvu_drv_vq_next_used(vq, &id, &len);
	if (ret <= 0)
		return ret;
	if (len > cap)
		len = (uint32_t)cap;
	memcpy(buf, vq->bufs + (size_t)id * VVU_BUF_SIZE, len);
	/* Straight back to the device: rxq must never run dry. */
	vvu_drv_vq_add(vq, id, VVU_BUF_SIZE);
	vvu_drv_vq_publish(vq);
	return (int)len;
}

int
vvu_drv_vq_tx_reclaim(struct vvu_drv_vq *vq)
{
	uint32_t len;
	uint16_t id;
	int ret;

	if (vq->rx)
		return -EINVAL;
	while ((ret = vvu_drv_vq_next_used(vq, &id, &len)) > 0)
		vq->free_ids[vq->nr_free++] = id;
	return ret;
}

int
vvu_drv_vq_tx_push(struct vvu_drv_vq *vq, const void *msg, size_t len)
{
	uint16_t id;

	if (vq->rx || len == 0 || len > VVU_BUF_SIZE)
		return -EINVAL;
	if (vq->broken)
		return -EIO;
	if (vq->nr_free == 0)
		return -ENOSPC;
	id = vq->free_ids[--vq->nr_free];
	memcpy(vq->bufs + (size_t)id * VVU_BUF_SIZE, msg, len);
	vvu_drv_vq_add(vq, id, (uint32_t)len);
	vvu_drv_vq_publish(vq);
	return 0;
}

void
vvu_drv_vq_set_interrupt(struct vvu_drv_vq *vq, bool on)
{
	__atomic_store_n(&vq->avail->flags, on ? 0 : VRING_AVAIL_F_NO_INTERRUPT,
			 __ATOMIC_RELAXED);
	/* pairs with the device's barrier between its used index and this flag */
	if (on)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

bool
vvu_drv_vq_has_used(const struct vvu_drv_vq *vq)
{
	return __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE) != vq->last_used;
}

bool
vvu_drv_vq_notify_suppressed(const struct vvu_drv_vq *vq)
{
	/* Only decides whether we write a doorbell; never used as an index. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return (__atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED) &
		VRING_USED_F_NO_NOTIFY) != 0;
}

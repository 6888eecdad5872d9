/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device side of a split virtqueue (virtio 1.2 §2.7) for rxq and txq.
 *
 * Ring memory belongs to the driver and changes under our feet: every value
 * is copied out of DMA memory once and then validated (index ranges, chain
 * length, descriptor flags), and every address goes through
 * vvu_dev_dma_translate() with its length, for each use, so a DMA_UNMAP between
 * two uses can never leave us with a stale pointer. Indirect descriptors are
 * not offered (VIRTIO_F_INDIRECT_DESC is not a device feature) and refused.
 */

#include <errno.h>
#include <string.h>

#include "vvu_device.h"

#define VVU_DESC_SIZE		16
#define VVU_AVAIL_HDR		4	/* flags, idx */
#define VVU_USED_HDR		4
#define VVU_USED_ELEM_SIZE	8
#define VVU_CHAIN_MAX_BYTES	(1u << 24)	/* far above any message */

void
vvu_dev_vq_reset(struct vvu_dev_vq *vq)
{
	memset(vq, 0, sizeof(*vq));
	vq->size = VVU_VQ_MAX_SIZE;
	vq->msix_vector = VIRTIO_MSI_NO_VECTOR;
}

static uint16_t
load16_acquire(const void *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
}

static uint16_t
load16(const void *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint8_t *
avail_ring(const struct vvu_dev_dma *dma, const struct vvu_dev_vq *vq)
{
	return vvu_dev_dma_translate(dma, vq->avail, VVU_AVAIL_HDR + 2ULL * vq->size,
				 VVU_DMA_READ);
}

static int
vq_pop(const struct vvu_dev_dma *dma, struct vvu_dev_vq *vq, struct vvu_dev_chain *c)
{
	const uint8_t *avail, *desc;
	uint16_t avail_idx, head, idx;
	uint32_t n;

	if (!vq->enabled || vq->size == 0)
		return 0;
	avail = avail_ring(dma, vq);
	desc = vvu_dev_dma_translate(dma, vq->desc, (uint64_t)VVU_DESC_SIZE * vq->size,
				 VVU_DMA_READ);
	if (avail == NULL || desc == NULL)
		return -EFAULT;
	avail_idx = load16_acquire(avail + 2);
	if ((uint16_t)(avail_idx - vq->last_avail) > vq->size)
		return -EINVAL;
	if (avail_idx == vq->last_avail)
		return 0;
	head = load16(avail + VVU_AVAIL_HDR + 2 * (vq->last_avail % vq->size));
	if (head >= vq->size)
		return -EINVAL;
	memset(c, 0, offsetof(struct vvu_dev_chain, segs));
	c->head = head;
	idx = head;
	for (n = 0;; n++) {
		struct vring_desc d;

		/* a chain longer than the ring has a loop */
		if (n >= vq->size || c->nsegs >= VVU_CHAIN_MAX_SEGS)
			return -EINVAL;
		memcpy(&d, desc + (size_t)VVU_DESC_SIZE * idx, sizeof(d));
		if (d.flags & VRING_DESC_F_INDIRECT)
			return -EINVAL;
		if (d.len > VVU_CHAIN_MAX_BYTES)
			return -EINVAL;
		if (d.len != 0) {
			struct vvu_dev_seg *s = &c->segs[c->nsegs++];

			s->iova = d.addr;
			s->len = d.len;
			s->write = (d.flags & VRING_DESC_F_WRITE) != 0;
			if (s->write)
				c->write_len += d.len;
			else
				c->read_len += d.len;
			if (c->write_len > VVU_CHAIN_MAX_BYTES ||
			    c->read_len > VVU_CHAIN_MAX_BYTES)
				return -EINVAL;
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (d.next >= vq->size)
			return -EINVAL;
		idx = d.next;
	}
	vq->last_avail++;
	return 1;
}

void
vvu_dev_vq_unpop(struct vvu_dev_vq *vq)
{
	vq->last_avail--;
}

static int
vq_push(const struct vvu_dev_dma *dma, struct vvu_dev_vq *vq, uint16_t head, uint32_t len)
{
	uint8_t *used;
	uint8_t *elem;
	uint32_t id = head;

	used = vvu_dev_dma_translate(dma, vq->used,
				 VVU_USED_HDR + (uint64_t)VVU_USED_ELEM_SIZE * vq->size,
				 VVU_DMA_WRITE);
	if (used == NULL)
		return -EFAULT;
	elem = used + VVU_USED_HDR + (size_t)VVU_USED_ELEM_SIZE * (vq->used_idx % vq->size);
	memcpy(elem, &id, sizeof(id));
	memcpy(elem + 4, &len, sizeof(len));
	vq->used_idx++;
	/* the element must be visible before the index that publishes it */
	__atomic_store_n((uint16_t *)(void *)(used + 2), vq->used_idx, __ATOMIC_RELEASE);
	return 0;
}

static bool
vq_want_interrupt(const struct vvu_dev_dma *dma, const struct vvu_dev_vq *vq)
{
	const uint8_t *avail = avail_ring(dma, vq);

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return avail == NULL || !(load16(avail) & VRING_AVAIL_F_NO_INTERRUPT);
}

static int
vq_set_notify(const struct vvu_dev_dma *dma, const struct vvu_dev_vq *vq, bool want)
{
	uint16_t *flags = vvu_dev_dma_translate(dma, vq->used, VVU_USED_HDR, VVU_DMA_WRITE);

	if (flags == NULL)
		return -EFAULT;
	__atomic_store_n(flags, want ? 0 : VRING_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
	/* pairs with the driver's fence between its avail index and this flag */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return 0;
}

static int
chain_write(const struct vvu_dev_dma *dma, const struct vvu_dev_chain *c, const void *buf,
	    uint32_t len)
{
	const uint8_t *p = buf;
	uint16_t i;

	if (len > c->write_len)
		return -ENOSPC;
	for (i = 0; i < c->nsegs && len > 0; i++) {
		const struct vvu_dev_seg *s = &c->segs[i];
		uint32_t n = s->len < len ? s->len : len;
		void *dst;

		if (!s->write)
			continue;
		dst = vvu_dev_dma_translate(dma, s->iova, n, VVU_DMA_WRITE);
		if (dst == NULL)
			return -EFAULT;
		memcpy(dst, p, n);
		p += n;
		len -= n;
	}
	return 0;
}

static int
chain_read(const struct vvu_dev_dma *dma, const struct vvu_dev_chain *c, void *buf, uint32_t cap)
{
	uint8_t *p = buf;
	uint32_t got = 0;
	uint16_t i;

	for (i = 0; i < c->nsegs && got < cap; i++) {
		const struct vvu_dev_seg *s = &c->segs[i];
		uint32_t n = s->len < cap - got ? s->len : cap - got;
		const void *src;

		if (s->write)
			continue;
		src = vvu_dev_dma_translate(dma, s->iova, n, VVU_DMA_READ);
		if (src == NULL)
			return -EFAULT;
		memcpy(p + got, src, n);
		got += n;
	}
	return (int)got;
}

/*
 * The public helpers: each runs its inner function under the SIGBUS guard
 * (vvu_dev_dma_guarded()), so memory the driver truncated under a mapping
 * becomes -EIO instead of killing the device. The inner functions update
 * vq state only after their last DMA access that can fail, except
 * vq_push's index store, which a fault makes moot (the driver is dropped
 * and the device reset).
 */
struct vq_call {
	const struct vvu_dev_dma *dma;
	struct vvu_dev_vq *vq;
	const struct vvu_dev_vq *cvq;
	struct vvu_dev_chain *c;
	const struct vvu_dev_chain *cc;
	const void *in;
	void *out;
	uint32_t len;
	uint16_t head;
};

static int
pop_cb(void *arg)
{
	struct vq_call *k = arg;

	return vq_pop(k->dma, k->vq, k->c);
}

int
vvu_dev_vq_pop(const struct vvu_dev_dma *dma, struct vvu_dev_vq *vq, struct vvu_dev_chain *c)
{
	struct vq_call k = { .dma = dma, .vq = vq, .c = c };

	return vvu_dev_dma_guarded(dma, pop_cb, &k);
}

static int
push_cb(void *arg)
{
	struct vq_call *k = arg;

	return vq_push(k->dma, k->vq, k->head, k->len);
}

int
vvu_dev_vq_push(const struct vvu_dev_dma *dma, struct vvu_dev_vq *vq, uint16_t head, uint32_t len)
{
	struct vq_call k = { .dma = dma, .vq = vq, .head = head, .len = len };

	return vvu_dev_dma_guarded(dma, push_cb, &k);
}

static int
want_cb(void *arg)
{
	struct vq_call *k = arg;

	return vq_want_interrupt(k->dma, k->cvq) ? 1 : 0;
}

bool
vvu_dev_vq_want_interrupt(const struct vvu_dev_dma *dma, const struct vvu_dev_vq *vq)
{
	struct vq_call k = { .dma = dma, .cvq = vq };

	/* a fault here means "interrupt": a spurious one is harmless, and
	 * the next pop or push reports the fault */
	return vvu_dev_dma_guarded(dma, want_cb, &k) != 0;
}

static int
notify_cb(void *arg)
{
	struct vq_call *k = arg;

	return vq_set_notify(k->dma, k->cvq, k->len != 0);
}

int
vvu_dev_vq_set_notify(const struct vvu_dev_dma *dma, const struct vvu_dev_vq *vq, bool want)
{
	struct vq_call k = { .dma = dma, .cvq = vq, .len = want };

	return vvu_dev_dma_guarded(dma, notify_cb, &k);
}

static int
write_cb(void *arg)
{
	struct vq_call *k = arg;

	return chain_write(k->dma, k->cc, k->in, k->len);
}

int
vvu_dev_chain_write(const struct vvu_dev_dma *dma, const struct vvu_dev_chain *c,
		const void *buf, uint32_t len)
{
	struct vq_call k = { .dma = dma, .cc = c, .in = buf, .len = len };

	return vvu_dev_dma_guarded(dma, write_cb, &k);
}

static int
read_cb(void *arg)
{
	struct vq_call *k = arg;

	return chain_read(k->dma, k->cc, k->out, k->len);
}

int
vvu_dev_chain_read(const struct vvu_dev_dma *dma, const struct vvu_dev_chain *c, void *buf,
	       uint32_t cap)
{
	struct vq_call k = { .dma = dma, .cc = c, .out = buf, .len = cap };

	return vvu_dev_dma_guarded(dma, read_cb, &k);
}

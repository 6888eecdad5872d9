/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * IOTLB (VIRTIO_F_IOMMU_PLATFORM): the front-end's IOMMU mappings, learnt
 * from IOTLB_MSG updates and invalidations, and the IOVA translation the
 * data path uses for descriptor and ring addresses.
 *
 * The cache is a bounded array per device (struct vhost_iotlb in vhost.h),
 * replaced round-robin when full: a front-end cannot make us allocate, and
 * an evicted entry is simply asked for again. Entries keep the front-end VA,
 * translated through the memory table at lookup time, so a table change
 * needs no flush and a stale entry can never point outside the table.
 *
 * Locking: entries change only on the control thread with every vq lock
 * held; bursts look entries up holding their own vq lock. A miss is
 * reported to the front-end through the back-end channel (if BACKEND_REQ is
 * negotiated) at most once per page until an update covers it: pending[] is
 * shared by lcores, under pending_lock.
 */

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <rte_common.h>
#include <rte_spinlock.h>

#include "vhost.h"
#include "vhost_transport.h"
#include "vhost_user_priv.h"

#define VHOST_IOTLB_PAGE	4096ULL

/* Last byte of [start, start + size); size != 0 and no wrap were checked. */
static uint64_t
vhost_iotlb_last(uint64_t start, uint64_t size)
{
	return start + (size - 1);
}

const char *
vhost_user_check_iotlb(const struct vhost_user_ctx *ctx)
{
	struct vhost_user_iotlb m;

	vhost_msg_payload(ctx, &m, sizeof(m));
	if (m.type != VHOST_USER_IOTLB_UPDATE && m.type != VHOST_USER_IOTLB_INVALIDATE)
		return "IOTLB type is neither update nor invalidate";
	if (m.size == 0)
		return "IOTLB range of size 0";
	if (m.iova > UINT64_MAX - (m.size - 1))
		return "IOTLB iova + size overflows";
	if (m.type == VHOST_USER_IOTLB_UPDATE) {
		if (m.uaddr > UINT64_MAX - (m.size - 1))
			return "IOTLB uaddr + size overflows";
		if (m.perm == 0 || (m.perm & ~VHOST_USER_ACCESS_RW) != 0)
			return "IOTLB permission not RO, WO or RW";
	}
	return NULL;
}

static void
vhost_iotlb_pending_clear(struct vhost_iotlb *tlb, uint64_t iova, uint64_t size)
{
	uint64_t last = vhost_iotlb_last(iova, size);
	uint32_t i = 0;

	rte_spinlock_lock(&tlb->pending_lock);
	while (i < tlb->nr_pending) {
		uint64_t page = tlb->pending[i];

		/* A page is answered if the update covers its first byte. */
		if (page >= (iova & ~(VHOST_IOTLB_PAGE - 1)) && page <= last)
			tlb->pending[i] = tlb->pending[--tlb->nr_pending];
		else
			i++;
	}
	rte_spinlock_unlock(&tlb->pending_lock);
}

void
vhost_iotlb_flush(struct vhost_dev *dev)
{
	struct vhost_iotlb *tlb = &dev->iotlb;

	tlb->nr_entries = 0;
	tlb->next_evict = 0;
	rte_spinlock_lock(&tlb->pending_lock);
	tlb->nr_pending = 0;
	rte_spinlock_unlock(&tlb->pending_lock);
}

static void
vhost_iotlb_insert(struct vhost_iotlb *tlb, const struct vhost_user_iotlb *m)
{
	struct vhost_iotlb_entry *e = NULL;
	uint32_t i;

	for (i = 0; i < tlb->nr_entries; i++) {
		if (tlb->entries[i].iova == m->iova) {
			e = &tlb->entries[i];	/* a re-mapping replaces */
			break;
		}
	}
	if (e == NULL) {
		if (tlb->nr_entries < VHOST_IOTLB_ENTRIES) {
			e = &tlb->entries[tlb->nr_entries++];
		} else {
			e = &tlb->entries[tlb->next_evict];
			tlb->next_evict = (tlb->next_evict + 1) % VHOST_IOTLB_ENTRIES;
		}
	}
	e->iova = m->iova;
	e->size = m->size;
	e->uaddr = m->uaddr;
	e->perm = m->perm;
}

static void
vhost_iotlb_remove(struct vhost_iotlb *tlb, uint64_t iova, uint64_t size)
{
	uint64_t last = vhost_iotlb_last(iova, size);
	uint32_t i = 0;

	while (i < tlb->nr_entries) {
		const struct vhost_iotlb_entry *e = &tlb->entries[i];

		if (e->iova <= last && iova <= vhost_iotlb_last(e->iova, e->size))
			tlb->entries[i] = tlb->entries[--tlb->nr_entries];
		else
			i++;
	}
	if (tlb->next_evict >= tlb->nr_entries)
		tlb->next_evict = 0;
}

int
vhost_user_iotlb_msg(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
		     struct vhost_user_reply *reply)
{
	struct vhost_user_iotlb m;
	uint32_t i;

	if (!dev->iommu) {
		VHOST_MSG_LOG(dev, ctx, ERR, "IOMMU_PLATFORM not negotiated\n");
		return -EPROTO;
	}
	vhost_msg_payload(ctx, &m, sizeof(m));

	vhost_dev_lock_all_vqs(dev);
	if (m.type == VHOST_USER_IOTLB_UPDATE) {
		vhost_iotlb_insert(&dev->iotlb, &m);
		vhost_iotlb_pending_clear(&dev->iotlb, m.iova, m.size);
		/* Rings waiting for this mapping may translate now. */
		for (i = 0; i < dev->nr_vring; i++) {
			struct vhost_vq *vq = dev->vq[i];

			if (vq != NULL && vq->addr_set && !vq->access_ok)
				vhost_vq_validate(dev, vq);
		}
	} else {
		vhost_iotlb_remove(&dev->iotlb, m.iova, m.size);
		/* A ring whose mapping went away stops being accessible. */
		vhost_vqs_retranslate(dev);
	}
	vhost_dev_unlock_all_vqs(dev);
	return 0;
}

static const struct vhost_iotlb_entry *
vhost_iotlb_find(const struct vhost_iotlb *tlb, uint64_t iova, uint8_t perm)
{
	uint32_t i;

	for (i = 0; i < tlb->nr_entries; i++) {
		const struct vhost_iotlb_entry *e = &tlb->entries[i];

		if (iova - e->iova < e->size && (e->perm & perm) == perm)
			return e;
	}
	return NULL;
}

/* Ask the front-end for iova's mapping, once per page until answered. */
static void
vhost_iotlb_miss(struct vhost_dev *dev, uint64_t iova, uint8_t perm)
{
	struct vhost_iotlb *tlb = &dev->iotlb;
	uint64_t page = iova & ~(VHOST_IOTLB_PAGE - 1);
	struct vhost_user_msg msg;
	struct vhost_user_iotlb m;
	uint32_t i;

	if (!vhost_has_protocol_feature(dev, VHOST_USER_PROTO_F_BACKEND_REQ) ||
	    !vhost_trans_has_backend_req(dev))
		return;

	rte_spinlock_lock(&tlb->pending_lock);
	for (i = 0; i < tlb->nr_pending; i++) {
		if (tlb->pending[i] == page) {
			rte_spinlock_unlock(&tlb->pending_lock);
			return;
		}
	}
	if (tlb->nr_pending < VHOST_IOTLB_PENDING)
		tlb->pending[tlb->nr_pending++] = page;
	else
		tlb->pending[(page / VHOST_IOTLB_PAGE) % VHOST_IOTLB_PENDING] = page;
	rte_spinlock_unlock(&tlb->pending_lock);

	memset(&msg, 0, sizeof(msg));
	memset(&m, 0, sizeof(m));
	m.iova = iova;
	m.perm = perm;
	m.type = VHOST_USER_IOTLB_MISS;
	msg.hdr.request = VHOST_USER_BACKEND_IOTLB_MSG;
	msg.hdr.flags = VHOST_USER_VERSION;
	msg.hdr.size = sizeof(m);
	memcpy((uint8_t *)&msg + VHOST_USER_HDR_SIZE, &m, sizeof(m));
	if (vhost_trans_backend_req(dev, &msg, NULL, 0, false) < 0)
		VHOST_LOG_DATA(dev->ifname, ERR, "IOTLB miss request for 0x%" PRIx64
			       " failed\n", iova);
}

uint64_t
vhost_iova_to_vva_iotlb(struct vhost_dev *dev, struct vhost_vq *vq, uint64_t iova,
			uint64_t *len, uint8_t perm)
{
	uint64_t want = *len, got = 0, cur = iova, vva0 = 0;

	/* Join entries while they stay contiguous in our address space. */
	while (got < want) {
		const struct vhost_iotlb_entry *e = vhost_iotlb_find(&dev->iotlb, cur, perm);
		uint64_t off, piece, vva;

		if (e == NULL)
			break;
		off = cur - e->iova;
		piece = RTE_MIN(e->size - off, want - got);
		vva = vhost_uva_to_vva(dev, e->uaddr + off, &piece);
		if (vva == 0 || (got != 0 && vva != vva0 + got))
			break;
		if (got == 0)
			vva0 = vva;
		got += piece;
		cur += piece;
		if (cur == 0)
			break;	/* the top of the IOVA space */
	}
	if (got == 0) {
		if (vq != NULL && vq->stats_enabled)
			vq->stats[VHOST_VQ_STAT_IOTLB_MISSES]++;
		vhost_iotlb_miss(dev, iova, perm);
		*len = 0;
		return 0;
	}
	if (vq != NULL && vq->stats_enabled)
		vq->stats[VHOST_VQ_STAT_IOTLB_HITS]++;
	*len = got;
	return vva0;
}

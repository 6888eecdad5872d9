/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split virtqueue data path (virtio 1.1 section 2.7).
 *
 * The driver publishes chain heads in avail->ring and moves avail->idx; we
 * return them in used->ring and move used->idx. Both indexes run free
 * (mod 2^16); a ring position is index & (size - 1). avail->idx is read
 * once per burst with acquire ordering, and a distance from our
 * last_avail_idx larger than the ring means the driver is broken or
 * hostile: the burst is refused (logged, rate-limited) until it is fixed.
 *
 * Used entries are written straight into used->ring while the burst runs:
 * the driver reads no entry before used->idx covers it, and used->idx is
 * stored once, with release ordering, after every buffer copy is done.
 *
 * Bad chains (index out of the table, loops, nested or malformed indirect
 * tables, buffers outside guest memory) are never followed further than
 * checked. On dequeue the packet is dropped and the chain returned with
 * length 0. On enqueue a bad chain met as the first buffer of a packet is
 * returned with length 0 and the packet tries the next chain; met in the
 * middle of a mergeable packet, the packet's reservation is undone and the
 * burst ends, so the bad chain is first (and returned) on the next burst.
 */

#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "vhost.h"
#include "vhost_dp.h"

/* Gather the pieces of the chain at head into vec[*nr_vec...]. */
static __rte_always_inline int
split_gather(struct vhost_dev *dev, struct vhost_vq *vq, uint16_t head,
	     struct vhost_buf_vec *vec, uint16_t *nr_vec, uint64_t *len, uint8_t perm)
{
	const struct vring_desc *descs = vq->desc;
	uint32_t nr_descs = vq->size;
	uint32_t cnt = 0;
	uint64_t total = 0;
	struct vring_desc d;

	if (unlikely(head >= nr_descs))
		return -1;
	vhost_desc_load(&descs[head], &d);
	if (d.flags & VRING_DESC_F_INDIRECT) {
		descs = vhost_indirect_table(dev, vq, d.addr, d.len);
		if (unlikely(descs == NULL))
			return -1;
		nr_descs = d.len / VHOST_DESC_SIZE;
		vhost_desc_load(&descs[0], &d);
	}
	for (;;) {
		/* More descriptors than the table holds means a loop. */
		if (unlikely(++cnt > nr_descs || (d.flags & VRING_DESC_F_INDIRECT)))
			return -1;
		if (d.len != 0 &&
		    unlikely(vhost_map_buf(dev, vq, d.addr, d.len, vec, nr_vec, perm) < 0))
			return -1;
		total += d.len;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (unlikely(d.next >= nr_descs))
			return -1;
		vhost_desc_load(&descs[d.next], &d);
	}
	*len = total;
	return 0;
}

int
vhost_split_walk(struct vhost_dev *dev, struct vhost_vq *vq, uint16_t head,
		 struct vhost_buf_vec *vec, uint64_t *len, uint8_t perm)
{
	uint16_t nr_vec = 0;

	if (split_gather(dev, vq, head, vec, &nr_vec, len, perm) < 0)
		return -1;
	return nr_vec;
}

static __rte_always_inline void
split_used_put(struct vhost_vq *vq, uint16_t used_idx, uint16_t id, uint32_t len)
{
	struct vring_used_elem *ue = &vq->used->ring[used_idx & (vq->size - 1)];

	ue->id = id;
	ue->len = len;
}

/* Dirty-log used->ring[from..to) (mod size) and, after it moved, used->idx. */
static void
split_log_used(struct vhost_dev *dev, struct vhost_vq *vq, uint16_t from, uint16_t to)
{
	uint16_t mask = vq->size - 1;
	uint16_t n = to - from;
	uint16_t start = from & mask;
	uint16_t first = RTE_MIN(n, (uint16_t)(vq->size - start));
	size_t elem = sizeof(struct vring_used_elem);
	size_t base = offsetof(struct vring_used, ring);

	if (n == 0)
		return;
	vhost_log_used(dev, vq, base + start * elem, first * elem);
	if (n > first)
		vhost_log_used(dev, vq, base, (size_t)(n - first) * elem);
}

/* Make the burst visible: one release store of used->idx, then notify. */
static __rte_always_inline void
split_publish(struct vhost_dev *dev, struct vhost_vq *vq, uint16_t used_idx)
{
	uint16_t from = vq->last_used_idx;

	if (unlikely(vq->dp->log_on))
		split_log_used(dev, vq, from, used_idx);
	__atomic_store_n(&vq->used->idx, used_idx, __ATOMIC_RELEASE);
	vq->last_used_idx = used_idx;
	if (unlikely(vq->dp->log_on))
		vhost_log_used(dev, vq, offsetof(struct vring_used, idx), sizeof(uint16_t));
	vhost_notify_split(dev, vq);
}

/* Entries the driver has made available, or -1 if its index is nonsense. */
static __rte_always_inline int
split_avail(struct vhost_dev *dev, struct vhost_vq *vq, uint16_t *avail_idx)
{
	uint16_t idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	uint16_t n = idx - vq->last_avail_idx;

	if (unlikely(n > vq->size)) {
		vhost_dp_log_bad(dev, vq, "avail index moved past the ring size");
		return -1;
	}
	*avail_idx = idx;
	return n;
}

static __rte_always_inline uint16_t
split_avail_head(const struct vhost_vq *vq, uint16_t idx)
{
	return __atomic_load_n(&vq->avail->ring[idx & (vq->size - 1)], __ATOMIC_RELAXED);
}

uint16_t
vhost_split_enqueue(struct vhost_dev *dev, struct vhost_vq *vq,
		    struct rte_mbuf **pkts, uint16_t count)
{
	struct vhost_vq_dp *dp = vq->dp;
	struct vhost_buf_vec *vec = dp->vec;
	struct vhost_rx_chain *chain = dp->chain;
	const bool mrg = vhost_has_feature(dev, VIRTIO_NET_F_MRG_RXBUF);
	const uint32_t hlen = (uint32_t)dev->vhost_hlen;
	uint16_t avail_idx, used_idx = vq->last_used_idx;
	uint16_t i;

	if (split_avail(dev, vq, &avail_idx) <= 0)
		return 0;
	dp->log_on = vhost_log_enabled(dev);
	rte_prefetch0(&vq->avail->ring[vq->last_avail_idx & (vq->size - 1)]);

	for (i = 0; i < count; i++) {
		struct rte_mbuf *m = pkts[i];
		const uint64_t need = (uint64_t)m->pkt_len + hlen;
		uint16_t start = vq->last_avail_idx;
		uint16_t nr_vec = 0, nr_chain = 0, c;
		uint64_t got = 0;

		while (got < need) {
			uint16_t head, before = nr_vec;
			uint64_t clen;

			if (vq->last_avail_idx == avail_idx ||
			    unlikely(nr_chain >= VHOST_BUF_VEC_MAX))
				goto undo;
			head = split_avail_head(vq, vq->last_avail_idx);
			if (unlikely(split_gather(dev, vq, head, vec, &nr_vec, &clen,
						  VHOST_USER_ACCESS_RW) < 0 ||
				     clen == 0 || (!mrg && clen < need))) {
				vhost_dp_log_bad(dev, vq, "unusable rx descriptor chain");
				if (nr_chain != 0)
					goto undo;
				/* Give it back empty and try the next one. */
				nr_vec = before;
				split_used_put(vq, used_idx++, head, 0);
				start = ++vq->last_avail_idx;
				continue;
			}
			vq->last_avail_idx++;
			chain[nr_chain].id = head;
			chain[nr_chain].len = (uint32_t)RTE_MIN(clen, need - got);
			nr_chain++;
			got += clen;
		}

		if (unlikely(vhost_rx_fill(dev, dp, m, vec, nr_vec, nr_chain) < 0)) {
			/* The mbuf's lengths disagree: return the chains empty. */
			for (c = 0; c < nr_chain; c++)
				chain[c].len = 0;
		} else if (unlikely(dp->log_on)) {
			vhost_copy_flush(dp);
			vhost_rx_log(dev, vec, nr_vec, need);
		}
		for (c = 0; c < nr_chain; c++)
			split_used_put(vq, used_idx++, chain[c].id, chain[c].len);
		continue;
undo:
		vq->last_avail_idx = start;
		break;
	}

	if (used_idx != vq->last_used_idx) {
		vhost_copy_flush(dp);
		split_publish(dev, vq, used_idx);
	}
	return i;
}

uint16_t
vhost_split_dequeue(struct vhost_dev *dev, struct vhost_vq *vq,
		    struct rte_mempool *pool, struct rte_mbuf **pkts, uint16_t count)
{
	struct vhost_vq_dp *dp = vq->dp;
	struct vhost_buf_vec *vec = dp->vec;
	const bool host_ol = (dev->features & VHOST_HOST_OL_FEATURES) != 0;
	const uint16_t mask = vq->size - 1;
	uint16_t avail_idx, used_idx = vq->last_used_idx;
	uint16_t i, n = 0;
	int nr_avail;

	nr_avail = split_avail(dev, vq, &avail_idx);
	if (nr_avail <= 0)
		return 0;
	count = RTE_MIN(count, (uint16_t)nr_avail);
	dp->log_on = vhost_log_enabled(dev);
	if (unlikely(rte_pktmbuf_alloc_bulk(pool, pkts, count) != 0)) {
		vhost_dp_log_bad(dev, vq, "mbuf allocation failed");
		return 0;
	}

	for (i = 0; i < count; i++) {
		struct rte_mbuf *m = pkts[n];
		uint16_t head = split_avail_head(vq, vq->last_avail_idx);
		uint16_t nr_vec = 0;
		uint64_t len;

		if (i + 1 < count)
			rte_prefetch0(&vq->desc[split_avail_head(vq, vq->last_avail_idx + 1)
						& mask]);
		vq->last_avail_idx++;
		/* Dequeued buffers are only read: they go back with length 0. */
		split_used_put(vq, used_idx++, head, 0);

		if (unlikely(split_gather(dev, vq, head, vec, &nr_vec, &len,
					  VHOST_USER_ACCESS_RO) < 0)) {
			vhost_dp_log_bad(dev, vq, "invalid tx descriptor chain");
			continue;
		}
		if (unlikely(vhost_tx_fill(dev, dp, vec, nr_vec, len, pool, m, host_ol) < 0)) {
			vhost_dp_log_bad(dev, vq, "tx packet dropped");
			pkts[n] = vhost_tx_recycle(dp, pool, m);
			if (unlikely(pkts[n] == NULL))
				break;
			continue;
		}
		n++;
	}

	vhost_copy_flush(dp);
	if (used_idx != vq->last_used_idx)
		split_publish(dev, vq, used_idx);
	/* pkts[n..count) hold fresh mbufs no packet needed (NULL: none). */
	for (i = n; i < count; i++)
		if (pkts[i] != NULL)
			rte_pktmbuf_free(pkts[i]);
	return n;
}

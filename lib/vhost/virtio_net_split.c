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
 * Used entries are staged in dp->used_shadow while the burst runs and
 * copied into used->ring at its end (one short run of stores instead of
 * stores spread over the burst to the lines the driver polls); used->idx
 * is then stored once, with release ordering, after every buffer copy.
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

/* Read a split descriptor once into a local (the driver may rewrite it). */
static __rte_always_inline void
split_desc_load(const struct vring_desc *src, struct vhost_desc *d)
{
	const volatile struct vring_desc *s = src;

	d->addr = s->addr;
	d->len = s->len;
	d->flags = s->flags;
	d->link = s->next;
}

/*
 * Gather the pieces of a chain into vec[*nr_vec...]. The caller has loaded
 * its head descriptor d (from descs[head], head < size checked), so each
 * descriptor is read exactly once; descs/nr_descs are the ring's table.
 * What is split's own: chains link by index, and an indirect table is a
 * chain of its own, linked the same way.
 */
static __rte_always_inline int
split_gather_desc(struct vhost_dev *dev, struct vhost_vq *vq, const struct vring_desc *descs,
		  uint32_t nr_descs, struct vhost_desc d, struct vhost_buf_vec *vec,
		  uint16_t *nr_vec, uint64_t *len, uint8_t perm)
{
	uint32_t cnt = 0;
	uint64_t total = 0;

	if (unlikely(d.flags & VRING_DESC_F_INDIRECT)) {
		descs = vhost_indirect_map(dev, vq, d.addr, d.len);
		if (unlikely(descs == NULL))
			return -1;
		nr_descs = d.len / VHOST_DESC_SIZE;
		split_desc_load(&descs[0], &d);
	} else if (likely(vhost_gather_one(dev, vq, &d, vec, nr_vec, len, perm))) {
		return 0;
	}
	for (;;) {
		/* More descriptors than the table holds means a loop. */
		if (unlikely(++cnt > nr_descs || (d.flags & VRING_DESC_F_INDIRECT)))
			return -1;
		if (unlikely(vhost_gather_step(dev, vq, &d, vec, nr_vec, &total, perm) < 0))
			return -1;
		if (likely(!(d.flags & VRING_DESC_F_NEXT)))
			break;
		if (unlikely(d.link >= nr_descs))
			return -1;
		split_desc_load(&descs[d.link], &d);
	}
	*len = total;
	return 0;
}

/* Gather the pieces of the chain at head into vec[*nr_vec...]. */
static __rte_always_inline int
split_gather(struct vhost_dev *dev, struct vhost_vq *vq, const struct vring_desc *descs,
	     uint32_t nr_descs, uint16_t head, struct vhost_buf_vec *vec, uint16_t *nr_vec,
	     uint64_t *len, uint8_t perm)
{
	struct vhost_desc d;

	if (unlikely(head >= nr_descs))
		return -1;
	split_desc_load(&descs[head], &d);
	return split_gather_desc(dev, vq, descs, nr_descs, d, vec, nr_vec, len, perm);
}

int
vhost_split_walk(struct vhost_dev *dev, struct vhost_vq *vq, uint16_t head,
		 struct vhost_buf_vec *vec, uint64_t *len, uint8_t perm)
{
	uint16_t nr_vec = 0;

	if (split_gather(dev, vq, vq->desc, vq->size, head, vec, &nr_vec, len, perm) < 0)
		return -1;
	return nr_vec;
}

/*
 * Stage one used entry at its ring position in dp->used_shadow
 * (split_publish copies the burst's entries to the used ring). The
 * pointer and mask are burst locals: the compiler cannot keep vq fields
 * in registers across stores to guest memory (it must assume they
 * alias), so the hot loops never touch vq.
 */
static __rte_always_inline void
split_used_put(struct vring_used_elem *ring, uint16_t mask, uint16_t used_idx, uint16_t id,
	       uint32_t len)
{
	struct vring_used_elem *ue = &ring[used_idx & mask];

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
	const struct vring_used_elem *sh = vq->dp->used_shadow;
	const bool log_on = vq->dp->log_on;
	struct vring_used_elem *ring = vq->used->ring;
	uint16_t from = vq->last_used_idx;
	uint16_t mask = vq->size - 1, start = from & mask, n = used_idx - from;
	uint16_t first = RTE_MIN(n, (uint16_t)(vq->size - start));

	/*
	 * The staged entries, at most two runs (the ring may wrap); a lone
	 * entry (a poll that found one) without the call.
	 */
	if (n == 1)
		ring[start] = sh[start];
	else
		memcpy(&ring[start], &sh[start], (size_t)first * sizeof(*ring));
	if (n > first)
		memcpy(&ring[0], &sh[0], (size_t)(n - first) * sizeof(*ring));
	if (unlikely(log_on))
		split_log_used(dev, vq, from, used_idx);
	__atomic_store_n(&vq->used->idx, used_idx, __ATOMIC_RELEASE);
	vq->last_used_idx = used_idx;
	if (unlikely(log_on))
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

/* Read one avail ring entry (once; the driver may be rewriting others). */
static __rte_always_inline uint16_t
split_avail_head(const uint16_t *aring, uint16_t mask, uint16_t idx)
{
	return __atomic_load_n(&aring[idx & mask], __ATOMIC_RELAXED);
}

/* Burst-constant state of a split enqueue, kept in locals by the caller. */
struct split_rx_ctx {
	const struct vring_desc *descs;
	const uint16_t *aring;
	struct vring_used_elem *uring;
	uint16_t size, mask, avail_idx;
	uint32_t hlen;
	bool mrg;
};

/*
 * Enqueue m the general way: any chain shape, mergeable buffers, bad
 * chains returned empty. The first chain (head, already read from the
 * avail ring at *last_avail) was gathered by split_enqueue_chain into
 * dp->vec[0..nr_vec) with result rc and length clen (rc < 0: bad or
 * head >= size), so nothing is read twice. Returns true if m was placed
 * (or returned empty because the mbuf lies), false if the burst must end
 * with m not taken.
 */
static __rte_always_inline bool
split_enqueue_slow(struct vhost_dev *dev, struct vhost_vq *vq, const struct split_rx_ctx *c,
		   struct rte_mbuf *m, uint16_t head, int rc, uint16_t nr_vec, uint64_t clen,
		   uint16_t *last_avail, uint16_t *used_idx)
{
	struct vhost_vq_dp *dp = vq->dp;
	struct vhost_buf_vec *vec = dp->vec;
	struct vhost_rx_chain *chain = dp->chain;
	const uint64_t need = (uint64_t)m->pkt_len + c->hlen;
	uint16_t la = *last_avail, ui = *used_idx, start = la;
	uint16_t nr_chain = 0, before = 0, k;
	bool have_head = true;
	uint64_t got = 0;

	while (got < need) {
		if (!have_head) {
			struct vhost_desc d;

			if (la == c->avail_idx || unlikely(nr_chain >= VHOST_BUF_VEC_MAX))
				goto undo;
			head = split_avail_head(c->aring, c->mask, la);
			before = nr_vec;
			rc = -1;
			if (likely(head < c->size)) {
				split_desc_load(&c->descs[head], &d);
				rc = split_gather_desc(dev, vq, c->descs, c->size, d, vec,
						       &nr_vec, &clen, VHOST_USER_ACCESS_RW);
			}
		}
		have_head = false;
		if (unlikely(rc < 0 || clen == 0 || (!c->mrg && clen < need))) {
			vhost_dp_log_bad(dev, vq, "unusable rx descriptor chain");
			if (nr_chain != 0)
				goto undo;
			/* Give it back empty and try the next one. */
			nr_vec = before;
			split_used_put(c->uring, c->mask, ui++, head, 0);
			start = ++la;
			continue;
		}
		la++;
		chain[nr_chain].id = head;
		chain[nr_chain].len = (uint32_t)RTE_MIN(clen, need - got);
		nr_chain++;
		got += clen;
	}

	if (unlikely(!vhost_rx_put(dev, dp, m, vec, nr_vec, nr_chain, need, c->hlen))) {
		/* The mbuf's lengths disagree: return the chains empty. */
		for (k = 0; k < nr_chain; k++)
			chain[k].len = 0;
	}
	for (k = 0; k < nr_chain; k++)
		split_used_put(c->uring, c->mask, ui++, chain[k].id, chain[k].len);
	*last_avail = la;
	*used_idx = ui;
	return true;
undo:
	/* Chains returned empty before the packet's first one stay returned. */
	*last_avail = start;
	*used_idx = ui;
	return false;
}

/*
 * Enqueue m into the chain at head (d: its loaded descriptor if head <
 * size) when that one chain, of any shape (an indirect table, say), holds
 * the whole packet; else hand what was gathered to the slow path. Returns
 * as split_enqueue_slow. Out of line (the slow path with it), so the main
 * loop keeps its registers for the one-descriptor case.
 */
static __rte_noinline bool
split_enqueue_chain(struct vhost_dev *dev, struct vhost_vq *vq, const struct split_rx_ctx *c,
		    struct rte_mbuf *m, uint16_t head, const struct vhost_desc *d,
		    uint16_t *last_avail, uint16_t *used_idx)
{
	struct vhost_vq_dp *dp = vq->dp;
	const uint64_t need = (uint64_t)m->pkt_len + c->hlen;
	uint16_t nr_vec = 0;
	uint64_t clen = 0;
	uint32_t len;
	int rc = -1;

	if (likely(head < c->size)) {
		rc = split_gather_desc(dev, vq, c->descs, c->size, *d, dp->vec, &nr_vec, &clen,
				       VHOST_USER_ACCESS_RW);
		if (likely(rc == 0 && clen >= need)) {
			len = likely(vhost_rx_put(dev, dp, m, dp->vec, nr_vec, 1, need,
						  c->hlen)) ? (uint32_t)need : 0;
			split_used_put(c->uring, c->mask, (*used_idx)++, head, len);
			(*last_avail)++;
			return true;
		}
	}
	return split_enqueue_slow(dev, vq, c, m, head, rc, nr_vec, clen, last_avail, used_idx);
}

uint16_t
vhost_split_enqueue(struct vhost_dev *dev, struct vhost_vq *vq,
		    struct rte_mbuf **pkts, uint16_t count)
{
	struct vhost_vq_dp *dp = vq->dp;
	struct split_rx_ctx c;
	uint16_t used_idx = vq->last_used_idx;
	uint16_t last_avail = vq->last_avail_idx;
	uint16_t i;

	if (split_avail(dev, vq, &c.avail_idx) <= 0)
		return 0;
	c.descs = vq->desc;
	c.aring = vq->avail->ring;
	c.uring = dp->used_shadow;
	c.size = vq->size;
	c.mask = vq->size - 1;
	c.hlen = (uint32_t)dev->vhost_hlen;
	c.mrg = vhost_has_feature(dev, VIRTIO_NET_F_MRG_RXBUF);
	dp->log_on = vhost_log_enabled(dev);
	rte_prefetch0(&c.aring[last_avail & c.mask]);

	for (i = 0; i < count; i++) {
		struct rte_mbuf *m = pkts[i];
		struct vhost_desc d = { 0 };
		uint16_t head;
		uint32_t len;

		if (last_avail == c.avail_idx)
			break;
		if (i + 1 < count)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		head = split_avail_head(c.aring, c.mask, last_avail);
		/* The one-descriptor fast path; split_enqueue_chain takes d over. */
		if (likely(head < c.size)) {
			split_desc_load(&c.descs[head], &d);
			if (likely(vhost_rx_one(dev, vq, dp, m, &d, c.hlen, &len))) {
				split_used_put(c.uring, c.mask, used_idx++, head, len);
				last_avail++;
				continue;
			}
		}
		if (!split_enqueue_chain(dev, vq, &c, m, head, &d, &last_avail, &used_idx))
			break;
	}
	vq->last_avail_idx = last_avail;

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
	const uint32_t hlen = (uint32_t)dev->vhost_hlen;
	const struct vring_desc *descs = vq->desc;
	const uint16_t *aring = vq->avail->ring;
	struct vring_used_elem *uring = dp->used_shadow;
	const uint16_t size = vq->size, mask = size - 1;
	uint16_t heads[VHOST_MAX_BURST];
	uint16_t avail_idx, used_idx = vq->last_used_idx;
	uint16_t last_avail = vq->last_avail_idx;
	uint16_t i, n = 0;
	int nr_avail;

	nr_avail = split_avail(dev, vq, &avail_idx);
	if (nr_avail <= 0)
		return 0;
	count = RTE_MIN(count, (uint16_t)nr_avail);
	count = RTE_MIN(count, (uint16_t)VHOST_MAX_BURST);
	dp->log_on = vhost_log_enabled(dev);
	if (unlikely(vhost_mbufs_get(pool, pkts, count) != 0)) {
		vhost_dp_log_bad(dev, vq, "mbuf allocation failed");
		return 0;
	}

	/*
	 * Read the burst's heads once, up front (all below avail_idx, so the
	 * driver is done writing them), and start fetching their descriptors:
	 * the head array is read-only from here on.
	 */
	for (i = 0; i < count; i++) {
		heads[i] = split_avail_head(aring, mask, last_avail + i);
		rte_prefetch0(&descs[heads[i] & mask]);
	}

	for (i = 0; i < count; i++) {
		uint16_t head = heads[i];
		uint16_t nr_vec = 0;
		struct vhost_desc d;
		uint64_t len;

		/* Dequeued buffers are only read: they go back with length 0. */
		split_used_put(uring, mask, used_idx++, head, 0);

		if (unlikely(head >= size)) {
			vhost_dp_log_bad(dev, vq, "invalid tx descriptor chain");
			continue;
		}
		split_desc_load(&descs[head], &d);
		if (unlikely(split_gather_desc(dev, vq, descs, size, d, vec, &nr_vec, &len,
					       VHOST_USER_ACCESS_RO) < 0)) {
			vhost_dp_log_bad(dev, vq, "invalid tx descriptor chain");
			continue;
		}
		if (likely(vhost_tx_put(dev, vq, dp, nr_vec, len, pool, &pkts[n], host_ol,
					hlen))) {
			n++;
		} else if (unlikely(pkts[n] == NULL)) {
			i++;
			break;
		}
	}
	/* Every head up to i was consumed (dropped ones returned empty). */
	vq->last_avail_idx = last_avail + i;

	vhost_copy_flush(dp);
	if (used_idx != vq->last_used_idx)
		split_publish(dev, vq, used_idx);
	/* pkts[n..count): mbufs no packet needed (pkts[n] NULL: none). */
	vhost_mbufs_put(pool, &pkts[n], count - n);
	return n;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packed virtqueue data path (virtio 1.1 section 2.8).
 *
 * One descriptor ring serves both directions. A descriptor is available to
 * us when its AVAIL flag equals our avail wrap counter and its USED flag
 * does not; we return a buffer by writing one descriptor (buffer id, length)
 * at our used position with both flags equal to the used wrap counter, and
 * skip as many slots as the buffer took. A chain's buffer id is the one in
 * its last descriptor.
 *
 * Publication: the head descriptor's flags are loaded with acquire before
 * the rest of it is read. Used descriptors are collected in a shadow array
 * during the burst and written back at its end: ids and lengths first, then
 * the flags of every entry but the first, and the first one's flags last
 * with a release store, so the driver (which polls the first) sees the
 * whole burst at once.
 *
 * Hostile input: chains are bounded by the ring size, indirect tables are
 * checked like split ones (vhost_indirect_table) and walked in full (no
 * NEXT inside them, no nested INDIRECT). A bad chain is returned with length
 * 0 if we can still tell how many slots it took; if even its NEXT flags run
 * past the ring, the burst stops there (rate-limited log) and the queue
 * stays stuck on it: the driver broke its own ring.
 */

#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "vhost.h"
#include "vhost_dp.h"

static __rte_always_inline bool
packed_avail(uint16_t flags, bool wrap)
{
	return ((flags & VHOST_PACKED_F_AVAIL) != 0) == wrap &&
	       ((flags & VHOST_PACKED_F_USED) != 0) != wrap;
}

/* Load the descriptor at idx if the driver made it available. */
static __rte_always_inline bool
packed_head_load(const struct vhost_vq *vq, uint16_t idx, bool wrap,
		 struct vring_packed_desc *d)
{
	const volatile struct vring_packed_desc *p = &vq->desc_packed[idx];
	uint16_t flags = __atomic_load_n(&vq->desc_packed[idx].flags, __ATOMIC_ACQUIRE);

	if (!packed_avail(flags, wrap))
		return false;
	d->addr = p->addr;
	d->len = p->len;
	d->id = p->id;
	d->flags = flags;
	return true;
}

static __rte_always_inline void
packed_advance(const struct vhost_vq *vq, uint16_t *idx, bool *wrap, uint16_t n)
{
	uint32_t next = (uint32_t)*idx + n;

	if (next >= vq->size) {
		next -= vq->size;
		*wrap = !*wrap;
	}
	*idx = (uint16_t)next;
}

/* Gather the chain whose head (already loaded) sits at idx. */
static __rte_always_inline int
packed_gather(struct vhost_dev *dev, struct vhost_vq *vq, uint16_t idx,
	      const struct vring_packed_desc *head, struct vhost_buf_vec *vec,
	      uint16_t *nr_vec, uint64_t *len, uint16_t *id, uint16_t *count, uint8_t perm)
{
	struct vring_packed_desc d = *head;
	uint64_t total = 0;
	uint32_t cnt = 0;

	if (d.flags & VRING_DESC_F_INDIRECT) {
		const struct vring_packed_desc *table;
		uint32_t i, n = d.len / VHOST_DESC_SIZE;

		table = vhost_indirect_table(dev, vq, d.addr, d.len);
		if (unlikely(table == NULL))
			return -1;
		for (i = 0; i < n; i++) {
			struct vring_packed_desc e;

			vhost_pdesc_load(&table[i], &e);
			if (unlikely(e.flags & VRING_DESC_F_INDIRECT))
				return -1;
			if (e.len != 0 && unlikely(vhost_map_buf(dev, vq, e.addr, e.len,
								 vec, nr_vec, perm) < 0))
				return -1;
			total += e.len;
		}
		*id = d.id;
		*count = 1;
		*len = total;
		return 0;
	}
	for (;;) {
		if (unlikely(++cnt > vq->size || (cnt > 1 && (d.flags & VRING_DESC_F_INDIRECT))))
			return -1;
		if (d.len != 0 &&
		    unlikely(vhost_map_buf(dev, vq, d.addr, d.len, vec, nr_vec, perm) < 0))
			return -1;
		total += d.len;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (++idx >= vq->size)
			idx = 0;
		vhost_pdesc_load(&vq->desc_packed[idx], &d);
	}
	*id = d.id;
	*count = (uint16_t)cnt;
	*len = total;
	return 0;
}

/* How many slots a (bad) chain at idx takes, and its id; -1 if unbounded. */
static int
packed_skip(const struct vhost_vq *vq, uint16_t idx, const struct vring_packed_desc *head,
	    uint16_t *id, uint16_t *count)
{
	struct vring_packed_desc d = *head;
	uint32_t cnt = 1;

	if (!(d.flags & VRING_DESC_F_INDIRECT)) {
		while (d.flags & VRING_DESC_F_NEXT) {
			if (++cnt > vq->size)
				return -1;
			if (++idx >= vq->size)
				idx = 0;
			vhost_pdesc_load(&vq->desc_packed[idx], &d);
		}
	}
	*id = d.id;
	*count = (uint16_t)cnt;
	return 0;
}

int
vhost_packed_walk(struct vhost_dev *dev, struct vhost_vq *vq, uint16_t idx,
		  struct vhost_buf_vec *vec, uint64_t *len, uint16_t *id,
		  uint16_t *count, uint8_t perm)
{
	struct vring_packed_desc head;
	uint16_t nr_vec = 0;

	if (idx >= vq->size || !packed_head_load(vq, idx, vq->avail_wrap_counter, &head))
		return -1;
	if (packed_gather(dev, vq, idx, &head, vec, &nr_vec, len, id, count, perm) < 0)
		return -1;
	return nr_vec;
}

static __rte_always_inline void
packed_shadow_put(struct vhost_vq_dp *dp, uint16_t id, uint16_t count, uint32_t len)
{
	struct vhost_used_shadow *s = &dp->shadow[dp->nr_shadow++];

	s->id = id;
	s->count = count;
	s->len = len;
}

/* Write the shadow entries back and make them visible, then notify. */
static void
packed_publish(struct vhost_dev *dev, struct vhost_vq *vq)
{
	struct vhost_vq_dp *dp = vq->dp;
	struct vring_packed_desc *descs = vq->desc_packed;
	const uint16_t head_idx = vq->last_used_idx;
	uint16_t idx = head_idx, head_flags = 0, i;
	bool wrap = vq->used_wrap_counter;

	for (i = 0; i < dp->nr_shadow; i++) {
		descs[idx].id = dp->shadow[i].id;
		descs[idx].len = dp->shadow[i].len;
		packed_advance(vq, &idx, &wrap, dp->shadow[i].count);
	}
	rte_atomic_thread_fence(__ATOMIC_RELEASE);

	idx = head_idx;
	wrap = vq->used_wrap_counter;
	for (i = 0; i < dp->nr_shadow; i++) {
		uint16_t flags = wrap ? (VHOST_PACKED_F_AVAIL | VHOST_PACKED_F_USED) : 0;

		/* WRITE tells the driver the length is meaningful. */
		if (dp->shadow[i].len != 0)
			flags |= VRING_DESC_F_WRITE;
		if (i == 0)
			head_flags = flags;
		else
			descs[idx].flags = flags;
		if (unlikely(dp->log_on))
			vhost_log_used(dev, vq, (uint64_t)idx * VHOST_DESC_SIZE, VHOST_DESC_SIZE);
		packed_advance(vq, &idx, &wrap, dp->shadow[i].count);
	}
	__atomic_store_n(&descs[head_idx].flags, head_flags, __ATOMIC_RELEASE);

	vq->last_used_idx = idx;
	vq->used_wrap_counter = wrap;
	dp->nr_shadow = 0;
	vhost_notify_packed(dev, vq);
}

static __rte_always_inline bool
packed_indexes_ok(struct vhost_dev *dev, struct vhost_vq *vq)
{
	/* SET_VRING_BASE values are the front-end's: check before indexing. */
	if (unlikely(vq->last_avail_idx >= vq->size || vq->last_used_idx >= vq->size)) {
		vhost_dp_log_bad(dev, vq, "ring index beyond the ring size");
		return false;
	}
	return true;
}

uint16_t
vhost_packed_enqueue(struct vhost_dev *dev, struct vhost_vq *vq,
		     struct rte_mbuf **pkts, uint16_t count)
{
	struct vhost_vq_dp *dp = vq->dp;
	struct vhost_buf_vec *vec = dp->vec;
	struct vhost_rx_chain *chain = dp->chain;
	const bool mrg = vhost_has_feature(dev, VIRTIO_NET_F_MRG_RXBUF);
	const uint32_t hlen = (uint32_t)dev->vhost_hlen;
	uint16_t i;

	if (!packed_indexes_ok(dev, vq))
		return 0;
	dp->nr_shadow = 0;
	dp->log_on = vhost_log_enabled(dev);

	for (i = 0; i < count; i++) {
		struct rte_mbuf *m = pkts[i];
		const uint64_t need = (uint64_t)m->pkt_len + hlen;
		uint16_t start = vq->last_avail_idx;
		bool start_wrap = vq->avail_wrap_counter;
		uint16_t nr_vec = 0, nr_chain = 0, c;
		uint64_t got = 0;

		while (got < need) {
			struct vring_packed_desc head;
			uint16_t before = nr_vec, id, cnt;
			uint64_t clen;

			if (unlikely(dp->nr_shadow + nr_chain >= dp->size ||
				     nr_chain >= VHOST_BUF_VEC_MAX) ||
			    !packed_head_load(vq, vq->last_avail_idx,
					      vq->avail_wrap_counter, &head))
				goto undo;
			if (unlikely(packed_gather(dev, vq, vq->last_avail_idx, &head, vec,
						   &nr_vec, &clen, &id, &cnt,
						   VHOST_USER_ACCESS_RW) < 0 ||
				     clen == 0 || (!mrg && clen < need))) {
				vhost_dp_log_bad(dev, vq, "unusable rx descriptor chain");
				if (nr_chain != 0 ||
				    packed_skip(vq, vq->last_avail_idx, &head, &id, &cnt) < 0)
					goto undo;
				/* Give it back empty and try the next one. */
				nr_vec = before;
				packed_shadow_put(dp, id, cnt, 0);
				packed_advance(vq, &vq->last_avail_idx, &vq->avail_wrap_counter,
					       cnt);
				start = vq->last_avail_idx;
				start_wrap = vq->avail_wrap_counter;
				continue;
			}
			packed_advance(vq, &vq->last_avail_idx, &vq->avail_wrap_counter, cnt);
			chain[nr_chain].id = id;
			chain[nr_chain].count = cnt;
			chain[nr_chain].len = (uint32_t)RTE_MIN(clen, need - got);
			nr_chain++;
			got += clen;
		}

		if (unlikely(vhost_rx_fill(dev, dp, m, vec, nr_vec, nr_chain) < 0)) {
			for (c = 0; c < nr_chain; c++)
				chain[c].len = 0;
		} else if (unlikely(dp->log_on)) {
			vhost_copy_flush(dp);
			vhost_rx_log(dev, vec, nr_vec, need);
		}
		for (c = 0; c < nr_chain; c++)
			packed_shadow_put(dp, chain[c].id, chain[c].count, chain[c].len);
		continue;
undo:
		vq->last_avail_idx = start;
		vq->avail_wrap_counter = start_wrap;
		break;
	}

	if (dp->nr_shadow != 0) {
		vhost_copy_flush(dp);
		packed_publish(dev, vq);
	}
	return i;
}

uint16_t
vhost_packed_dequeue(struct vhost_dev *dev, struct vhost_vq *vq,
		     struct rte_mempool *pool, struct rte_mbuf **pkts, uint16_t count)
{
	struct vhost_vq_dp *dp = vq->dp;
	struct vhost_buf_vec *vec = dp->vec;
	const bool host_ol = (dev->features & VHOST_HOST_OL_FEATURES) != 0;
	struct vring_packed_desc head;
	uint16_t i, n = 0;

	if (!packed_indexes_ok(dev, vq))
		return 0;
	/* Idle polls are the common case: look before allocating. */
	if (!packed_head_load(vq, vq->last_avail_idx, vq->avail_wrap_counter, &head))
		return 0;
	dp->nr_shadow = 0;
	dp->log_on = vhost_log_enabled(dev);
	if (unlikely(rte_pktmbuf_alloc_bulk(pool, pkts, count) != 0)) {
		vhost_dp_log_bad(dev, vq, "mbuf allocation failed");
		return 0;
	}

	for (i = 0; i < count; i++) {
		struct rte_mbuf *m = pkts[n];
		uint16_t nr_vec = 0, id, cnt;
		uint64_t len;

		if (i != 0 && !packed_head_load(vq, vq->last_avail_idx,
						vq->avail_wrap_counter, &head))
			break;
		if (unlikely(dp->nr_shadow >= dp->size))
			break;
		if (unlikely(packed_gather(dev, vq, vq->last_avail_idx, &head, vec, &nr_vec,
					   &len, &id, &cnt, VHOST_USER_ACCESS_RO) < 0)) {
			vhost_dp_log_bad(dev, vq, "invalid tx descriptor chain");
			if (packed_skip(vq, vq->last_avail_idx, &head, &id, &cnt) < 0)
				break;
			packed_shadow_put(dp, id, cnt, 0);
			packed_advance(vq, &vq->last_avail_idx, &vq->avail_wrap_counter, cnt);
			continue;
		}
		packed_shadow_put(dp, id, cnt, 0);
		packed_advance(vq, &vq->last_avail_idx, &vq->avail_wrap_counter, cnt);
		rte_prefetch0(&vq->desc_packed[vq->last_avail_idx]);

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
	if (dp->nr_shadow != 0)
		packed_publish(dev, vq);
	for (i = n; i < count; i++)
		if (pkts[i] != NULL)
			rte_pktmbuf_free(pkts[i]);
	return n;
}

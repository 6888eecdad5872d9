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
 * during the burst and written back at its end, each as one store of its
 * length, id and flags, the first one last with release, so the driver
 * (which polls the first) sees the whole burst at once.
 *
 * Batches: at a position aligned to VHOST_PACKED_BATCH, four one-slot
 * buffers that pass every check together (the common case with virtio
 * PMDs) are handled back to back with their copies done at once; anything
 * unusual in any of them sends all four through the per-buffer path.
 *
 * Hostile input: chains are bounded by the ring size, indirect tables are
 * checked like split ones (vhost_indirect_table) and walked in full (no
 * NEXT inside them, no nested INDIRECT). A bad chain is returned with length
 * 0 if we can still tell how many slots it took; if even its NEXT flags run
 * past the ring, the burst stops there (rate-limited log) and the queue
 * stays stuck on it: the driver broke its own ring.
 */

#include <assert.h>
#include <stddef.h>

#include <rte_byteorder.h>
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

/*
 * Read the rest of the descriptor at src once: its flags the caller read
 * first (a head's with acquire, as they publish the rest).
 */
static __rte_always_inline void
packed_desc_load(const struct vring_packed_desc *src, uint16_t flags, struct vhost_desc *d)
{
	const volatile struct vring_packed_desc *s = src;

	d->addr = s->addr;
	d->len = s->len;
	d->link = s->id;
	d->flags = flags;
}

/* A descriptor the head's acquire already covers: chain tail, indirect entry. */
static __rte_always_inline void
packed_desc_load_body(const struct vring_packed_desc *src, struct vhost_desc *d)
{
	packed_desc_load(src, __atomic_load_n(&src->flags, __ATOMIC_RELAXED), d);
}

/* Step a chain on to the next slot (ring order) and load it into d. */
static __rte_always_inline void
packed_chain_next(const struct vhost_vq *vq, uint16_t *idx, struct vhost_desc *d)
{
	if (++*idx >= vq->size)
		*idx = 0;
	packed_desc_load_body(&vq->desc_packed[*idx], d);
}

/* Load the descriptor at idx if the driver made it available. */
static __rte_always_inline bool
packed_head_load(const struct vhost_vq *vq, uint16_t idx, bool wrap, struct vhost_desc *d)
{
	uint16_t flags = __atomic_load_n(&vq->desc_packed[idx].flags, __ATOMIC_ACQUIRE);

	if (!packed_avail(flags, wrap))
		return false;
	packed_desc_load(&vq->desc_packed[idx], flags, d);
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

/*
 * Gather the chain whose head (already loaded) sits at idx. What is
 * packed's own: a chain runs on in ring order, its buffer id is its last
 * descriptor's, and an indirect table is walked whole (no NEXT in it).
 */
static __rte_always_inline int
packed_gather(struct vhost_dev *dev, struct vhost_vq *vq, uint16_t idx,
	      const struct vhost_desc *head, struct vhost_buf_vec *vec,
	      uint16_t *nr_vec, uint64_t *len, uint16_t *id, uint16_t *count, uint8_t perm)
{
	struct vhost_desc d = *head;
	uint64_t total = 0;
	uint32_t cnt = 0;

	if (likely(vhost_gather_one(dev, vq, &d, vec, nr_vec, len, perm))) {
		*id = d.link;
		*count = 1;
		return 0;
	}
	if (d.flags & VRING_DESC_F_INDIRECT) {
		const struct vring_packed_desc *table;
		uint32_t i, n = d.len / VHOST_DESC_SIZE;

		table = vhost_indirect_table(dev, vq, d.addr, d.len);
		if (unlikely(table == NULL))
			return -1;
		for (i = 0; i < n; i++) {
			struct vhost_desc e;

			packed_desc_load_body(&table[i], &e);
			if (unlikely(e.flags & VRING_DESC_F_INDIRECT))
				return -1;
			if (unlikely(vhost_gather_step(dev, vq, &e, vec, nr_vec, &total,
						       perm) < 0))
				return -1;
		}
		/* One slot, the head's id. */
		cnt = 1;
	} else {
		for (;;) {
			if (unlikely(++cnt > vq->size ||
				     (cnt > 1 && (d.flags & VRING_DESC_F_INDIRECT))))
				return -1;
			if (unlikely(vhost_gather_step(dev, vq, &d, vec, nr_vec, &total,
						       perm) < 0))
				return -1;
			if (!(d.flags & VRING_DESC_F_NEXT))
				break;
			packed_chain_next(vq, &idx, &d);
		}
	}
	*id = d.link;
	*count = (uint16_t)cnt;
	*len = total;
	return 0;
}

/* How many slots a (bad) chain at idx takes, and its id; -1 if unbounded. */
static int
packed_skip(const struct vhost_vq *vq, uint16_t idx, const struct vhost_desc *head,
	    uint16_t *id, uint16_t *count)
{
	struct vhost_desc d = *head;
	uint32_t cnt = 1;

	if (!(d.flags & VRING_DESC_F_INDIRECT)) {
		while (d.flags & VRING_DESC_F_NEXT) {
			if (++cnt > vq->size)
				return -1;
			packed_chain_next(vq, &idx, &d);
		}
	}
	*id = d.link;
	*count = (uint16_t)cnt;
	return 0;
}

int
vhost_packed_walk(struct vhost_dev *dev, struct vhost_vq *vq, uint16_t idx,
		  struct vhost_buf_vec *vec, uint64_t *len, uint16_t *id,
		  uint16_t *count, uint8_t perm)
{
	struct vhost_desc head;
	uint16_t nr_vec = 0;

	if (idx >= vq->size || !packed_head_load(vq, idx, vq->avail_wrap_counter, &head))
		return -1;
	if (packed_gather(dev, vq, idx, &head, vec, &nr_vec, len, id, count, perm) < 0)
		return -1;
	return nr_vec;
}

/*
 * The last 8 bytes of a packed descriptor - len, id, flags, in that order
 * (virtio 1.1 2.8.13, little-endian) - as one word, so that a used entry is
 * one store. vhost_vq_validate() keeps the ring 16-byte aligned.
 */
typedef uint64_t __rte_may_alias __rte_aligned(8) vhost_desc_tail;

static_assert(offsetof(struct vring_packed_desc, len) == 8 &&
	      offsetof(struct vring_packed_desc, id) == 12 &&
	      offsetof(struct vring_packed_desc, flags) == 14, "packed descriptor layout");
#if RTE_BYTE_ORDER != RTE_LITTLE_ENDIAN
#error "the packed ring's used entries are written as one little-endian word"
#endif

static __rte_always_inline void
packed_shadow_put(struct vhost_vq_dp *dp, uint16_t id, uint16_t count, uint32_t len)
{
	struct vhost_used_shadow *s = &dp->shadow[dp->nr_shadow++];

	/* WRITE tells the driver the length is meaningful. */
	s->tail = len | (uint64_t)id << 32 | (len != 0 ? (uint64_t)VRING_DESC_F_WRITE << 48 : 0);
	s->count = count;
	dp->nr_slots += count;
}

/*
 * Write the shadow entries back and make them visible, then notify.
 * The driver consumes used descriptors in ring order starting with the
 * head one, whose tail word is stored last with release: everything
 * before is visible once it is. Every other entry is one release store
 * of its whole tail word (free on x86), so even a driver peeking ahead
 * sees its flags only with its id and length.
 */
static __rte_always_inline void
packed_publish(struct vhost_dev *dev, struct vhost_vq *vq)
{
	struct vhost_vq_dp *dp = vq->dp;
	struct vring_packed_desc *descs = vq->desc_packed;
	const struct vhost_used_shadow *sh = dp->shadow;
	const uint16_t head_idx = vq->last_used_idx, size = vq->size, nr = dp->nr_shadow;
	const bool log_on = dp->log_on;
	uint16_t idx = head_idx, i;
	uint64_t head_word = 0;
	bool wrap = vq->used_wrap_counter;
	const uint64_t used_bits = (uint64_t)(VHOST_PACKED_F_AVAIL | VHOST_PACKED_F_USED) << 48;
	uint64_t used = wrap ? used_bits : 0;

	if (nr == 0)
		return;
	if (likely(!log_on && head_idx + dp->nr_slots <= size)) {
		/* No wrap: entry i goes after the slots of those before it. */
		if (nr == dp->nr_slots) {
			/* One slot each (enqueue, mostly): at head_idx + i. */
			for (i = 1; i < nr; i++)
				__atomic_store_n((vhost_desc_tail *)&descs[head_idx + i].len,
						 sh[i].tail | used, __ATOMIC_RELEASE);
		} else {
			uint32_t pos = head_idx;

			for (i = 1; i < nr; i++) {
				pos += sh[i - 1].count;
				__atomic_store_n((vhost_desc_tail *)&descs[pos].len,
						 sh[i].tail | used, __ATOMIC_RELEASE);
			}
		}
		__atomic_store_n((vhost_desc_tail *)&descs[head_idx].len, sh[0].tail | used,
				 __ATOMIC_RELEASE);
		idx = (uint16_t)(head_idx + dp->nr_slots);
		if (idx == size) {
			idx = 0;
			wrap = !wrap;
		}
		goto done;
	}
	for (i = 0; i < nr; i++) {
		const uint64_t word = sh[i].tail | used;
		uint32_t next;

		if (i == 0)
			head_word = word;
		else
			__atomic_store_n((vhost_desc_tail *)&descs[idx].len, word,
					 __ATOMIC_RELEASE);
		/* The head is logged once it is written, below. */
		if (unlikely(log_on) && i != 0)
			vhost_log_used(dev, vq, (uint64_t)idx * VHOST_DESC_SIZE, VHOST_DESC_SIZE);
		next = (uint32_t)idx + sh[i].count;
		if (next >= size) {
			next -= size;
			wrap = !wrap;
			used = wrap ? used_bits : 0;
		}
		idx = (uint16_t)next;
	}
	__atomic_store_n((vhost_desc_tail *)&descs[head_idx].len, head_word, __ATOMIC_RELEASE);
	if (unlikely(log_on))
		vhost_log_used(dev, vq, (uint64_t)head_idx * VHOST_DESC_SIZE, VHOST_DESC_SIZE);
done:
	vq->last_used_idx = idx;
	vq->used_wrap_counter = wrap;
	dp->nr_shadow = 0;
	dp->nr_slots = 0;
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

/*
 * Batch of VHOST_PACKED_BATCH flag words at an aligned position: true if
 * every one is available with neither NEXT nor INDIRECT. Only flags are
 * read; the batch reads the rest of each descriptor once, after this
 * (acquire) load. If the batch is off, the per-buffer path polls the
 * flags again as it would have anyway.
 */
static __rte_always_inline bool
packed_batch_ready(const struct vhost_vq *vq, uint16_t idx, bool wrap)
{
	const struct vring_packed_desc *ring = &vq->desc_packed[idx];
	uint16_t f0, f1, f2, f3, all, any;

	static_assert(VHOST_PACKED_BATCH == 4, "four flag words below");
	/*
	 * The last one first: a driver makes buffers available in ring
	 * order, so if it is not, the batch is off at the cost of one load
	 * (a nearly empty ring, or chains); it is loaded again, in order.
	 */
	f3 = __atomic_load_n(&ring[3].flags, __ATOMIC_RELAXED);
	if (!packed_avail(f3, wrap) || (f3 & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)))
		return false;
	f0 = __atomic_load_n(&ring[0].flags, __ATOMIC_ACQUIRE);
	f1 = __atomic_load_n(&ring[1].flags, __ATOMIC_ACQUIRE);
	f2 = __atomic_load_n(&ring[2].flags, __ATOMIC_ACQUIRE);
	f3 = __atomic_load_n(&ring[3].flags, __ATOMIC_ACQUIRE);
	all = f0 & f1 & f2 & f3;
	any = f0 | f1 | f2 | f3;
	/*
	 * packed_avail() of each at once: the bit that must be set in every
	 * one is set in "all", the bit that must be clear in every one is
	 * clear in "any" (AVAIL == wrap, USED != wrap).
	 */
	return (any & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)) == 0 &&
	       (wrap ? (all & VHOST_PACKED_F_AVAIL) != 0 && (any & VHOST_PACKED_F_USED) == 0 :
		       (any & VHOST_PACKED_F_AVAIL) == 0 && (all & VHOST_PACKED_F_USED) != 0);
}

/*
 * The guest memory region batches were last found in: a driver posts from
 * one region, usually, so it is tried before a search. Size 0: none. A
 * burst takes the vring's (vhost_vq_dp.region) if the memory table has
 * not changed since (the table does not change under the vring's lock).
 */
static __rte_always_inline void
packed_region_get(const struct vhost_dev *dev, const struct vhost_vq_dp *dp,
		  struct vhost_region_cache *pr)
{
	if (likely(dp->region_gen == dev->mem_gen)) {
		*pr = dp->region;
	} else {
		pr->base = 0;
		pr->size = 0;
		pr->hva = 0;
	}
}

static __rte_always_inline void
packed_region_put(const struct vhost_dev *dev, struct vhost_vq_dp *dp,
		  const struct vhost_region_cache *pr)
{
	dp->region = *pr;
	dp->region_gen = dev->mem_gen;
}

/* Host VA of the whole buffer [addr, addr + len), or NULL if not mapped in one piece. */
static __rte_always_inline uint8_t *
packed_batch_map(struct vhost_dev *dev, struct vhost_vq *vq, bool iommu, uint64_t addr,
		 uint32_t len, struct vhost_region_cache *pr, uint8_t perm)
{
	/* unsigned wrap makes an address below the region fail too */
	uint64_t off = addr - pr->base;

	if (unlikely(iommu)) {
		uint64_t mlen = len;
		uint64_t vva = vhost_desc_to_vva(dev, vq, addr, &mlen, perm);

		return mlen == len ? (uint8_t *)(uintptr_t)vva : NULL;
	}
	if (unlikely(off >= pr->size)) {
		const struct rte_vhost_mem_region *r = vhost_gpa_region(dev, addr);

		if (r == NULL)
			return NULL;
		pr->base = r->guest_phys_addr;
		pr->size = r->size;
		pr->hva = r->host_user_addr;
		off = addr - pr->base;
	}
	if (len > pr->size - off)
		return NULL;
	return (uint8_t *)(uintptr_t)(pr->hva + off);
}

/*
 * Read the address, length and id of the VHOST_PACKED_BATCH descriptors
 * at idx (flags checked by packed_batch_ready), once, into d (d[].flags
 * is not set: a batch has no use for it).
 */
static __rte_always_inline void
packed_batch_load(const struct vhost_vq *vq, uint16_t idx, struct vhost_desc d[VHOST_PACKED_BATCH])
{
	uint16_t k;

	VHOST_BATCH_UNROLL
	for (k = 0; k < VHOST_PACKED_BATCH; k++) {
		const volatile struct vring_packed_desc *s = &vq->desc_packed[idx + k];

		d[k].addr = s->addr;
		d[k].len = s->len;
		d[k].link = s->id;
	}
}

/*
 * packed_batch_map() of the VHOST_PACKED_BATCH buffers d into buf; false
 * if one is not mapped whole. The region is kept in locals through the loop.
 */
static __rte_always_inline bool
packed_batch_map_all(struct vhost_dev *dev, struct vhost_vq *vq,
		     const struct vhost_desc d[VHOST_PACKED_BATCH],
		     uint8_t *buf[VHOST_PACKED_BATCH], struct vhost_region_cache *pr, uint8_t perm)
{
	uint64_t base = pr->base, size = pr->size, hva = pr->hva;
	uint16_t k;

	if (unlikely(dev->iommu)) {
		for (k = 0; k < VHOST_PACKED_BATCH; k++) {
			buf[k] = packed_batch_map(dev, vq, true, d[k].addr, d[k].len, pr, perm);
			if (buf[k] == NULL)
				return false;
		}
		return true;
	}
	VHOST_BATCH_UNROLL
	for (k = 0; k < VHOST_PACKED_BATCH; k++) {
		/* unsigned wrap makes an address below the region fail too */
		uint64_t off = d[k].addr - base;

		if (unlikely(off >= size)) {
			const struct rte_vhost_mem_region *r = vhost_gpa_region(dev, d[k].addr);

			if (r == NULL)
				return false;
			base = pr->base = r->guest_phys_addr;
			size = pr->size = r->size;
			hva = pr->hva = r->host_user_addr;
			off = d[k].addr - base;
		}
		if (d[k].len > size - off)
			return false;
		buf[k] = (uint8_t *)(uintptr_t)(hva + off);
	}
	return true;
}

/*
 * Enqueue batch: VHOST_PACKED_BATCH one-segment packets without offload
 * requests into as many one-slot buffers at the (aligned) avail position,
 * each buffer holding header and packet in one mapped piece - what virtio
 * PMDs and kernel drivers post. Every check is done before anything is
 * written (the shadow entries past nr_shadow are scratch until it moves);
 * if one fails, false, nothing changed, and the per-packet path takes the
 * same buffers (and reaches the same verdicts) one by one. Each
 * descriptor's address, length and id are read once. The header is the
 * constant one such a packet gets (no offload, one buffer). Not for dirty
 * logging (the caller checks): that path logs per packet.
 */
static __rte_always_inline bool
packed_rx_batch(struct vhost_dev *dev, struct vhost_vq *vq, struct vhost_vq_dp *dp,
		struct rte_mbuf **pkts, uint32_t hlen, struct vhost_region_cache *pr,
		const bool iommu)
{
	const uint16_t idx = vq->last_avail_idx;
	const volatile struct vring_packed_desc *ring = &vq->desc_packed[idx];
	struct vhost_used_shadow *sh = &dp->shadow[dp->nr_shadow];
	uint8_t *buf[VHOST_PACKED_BATCH];
	uint16_t k;

	if (idx + VHOST_PACKED_BATCH > vq->size ||
	    dp->nr_shadow + VHOST_PACKED_BATCH > dp->size ||
	    !packed_batch_ready(vq, idx, vq->avail_wrap_counter))
		return false;
	VHOST_BATCH_UNROLL
	for (k = 0; k < VHOST_PACKED_BATCH; k++) {
		const struct rte_mbuf *m = pkts[k];
		const uint64_t addr = ring[k].addr;
		const uint32_t len = ring[k].len, used = m->data_len + hlen;

		/* One test, not a branch per condition. */
		if ((m->next != NULL) | (m->pkt_len != m->data_len) |
		    ((m->ol_flags & VHOST_TX_OL_MASK) != 0) | (len < used))
			return false;
		buf[k] = packed_batch_map(dev, vq, iommu, addr, len, pr, VHOST_USER_ACCESS_RW);
		if (unlikely(buf[k] == NULL))
			return false;
		/* packed_shadow_put(), with a length that is never 0. */
		sh[k].tail = used | (uint64_t)ring[k].id << 32 | (uint64_t)VRING_DESC_F_WRITE << 48;
		sh[k].count = 1;
	}
	/*
	 * Copies queued by earlier packets of the burst land first: a driver
	 * may post one buffer twice, and the last packet written must win,
	 * as on the per-packet path.
	 */
	if (unlikely(dp->nr_copy != 0))
		vhost_copy_flush(dp);
	VHOST_BATCH_UNROLL
	for (k = 0; k < VHOST_PACKED_BATCH; k++) {
		const struct rte_mbuf *m = pkts[k];

		vhost_hdr_store(buf[k], 0, VHOST_HDR_HI_ONE_BUFFER, hlen);
		/*
		 * Copied now, not deferred: the batch already keeps its
		 * descriptor work apart from its copies, and queueing would
		 * cost as much as a small copy.
		 */
		vhost_memcpy(buf[k] + hlen, rte_pktmbuf_mtod(m, const uint8_t *), m->data_len);
	}
	dp->nr_shadow += VHOST_PACKED_BATCH;
	dp->nr_slots += VHOST_PACKED_BATCH;
	packed_advance(vq, &vq->last_avail_idx, &vq->avail_wrap_counter, VHOST_PACKED_BATCH);
	return true;
}

/* packed_rx_batches(): they stopped at a slot the driver has not made available. */
#define PACKED_RX_EMPTY (1u << 16)

/*
 * As many enqueue batches in a row as pass (pkts[0..count)): the packets
 * they took, with PACKED_RX_EMPTY if they stopped at a slot the driver has
 * not made available (the ring is out of buffers; the common end of a
 * burst when the guest is behind). Out of line: with a register file of
 * its own the batch code compiles to fewer instructions than inside the
 * burst loop.
 */
static __rte_noinline uint32_t
packed_rx_batches(struct vhost_dev *dev, struct vhost_vq *vq, struct rte_mbuf **pkts,
		  uint16_t count, struct vhost_region_cache *pr)
{
	struct vhost_vq_dp *dp = vq->dp;
	const uint32_t hlen = (uint32_t)dev->vhost_hlen;
	const bool iommu = dev->iommu;
	uint32_t done = 0;

	while (count - done >= VHOST_PACKED_BATCH) {
		bool ok;

		/*
		 * Copies of the batch: without an IOMMU, no translation code;
		 * and one for the 12-byte header every VERSION_1 driver has,
		 * with the header size a constant.
		 */
		if (unlikely(iommu))
			ok = packed_rx_batch(dev, vq, dp, &pkts[done], hlen, pr, true);
		else if (likely(hlen == sizeof(struct virtio_net_hdr_mrg_rxbuf)))
			ok = packed_rx_batch(dev, vq, dp, &pkts[done],
					     sizeof(struct virtio_net_hdr_mrg_rxbuf), pr, false);
		else
			ok = packed_rx_batch(dev, vq, dp, &pkts[done], hlen, pr, false);
		if (!ok) {
			if (!packed_avail(__atomic_load_n(
					&vq->desc_packed[vq->last_avail_idx].flags,
					__ATOMIC_RELAXED), vq->avail_wrap_counter))
				done |= PACKED_RX_EMPTY;
			break;
		}
		done += VHOST_PACKED_BATCH;
	}
	return done;
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
	struct vhost_region_cache pr;
	uint16_t i;

	if (!packed_indexes_ok(dev, vq))
		return 0;
	/*
	 * No buffer posted (the guest is behind) is a common poll result:
	 * look before setting up. The loop loads the flags again, with acquire.
	 */
	if (!packed_avail(__atomic_load_n(&vq->desc_packed[vq->last_avail_idx].flags,
					  __ATOMIC_RELAXED), vq->avail_wrap_counter))
		return 0;
	dp->nr_shadow = 0;
	dp->nr_slots = 0;
	dp->log_on = vhost_log_enabled(dev);
	packed_region_get(dev, dp, &pr);

	for (i = 0; i < count; i++) {
		struct rte_mbuf *m;
		uint64_t need;
		uint16_t start, nr_vec = 0, nr_chain = 0, c;
		bool start_wrap, have_head = true;
		struct vhost_desc head;
		uint64_t got = 0;
		uint32_t len;

		if ((vq->last_avail_idx & (VHOST_PACKED_BATCH - 1)) == 0 &&
		    count - i >= VHOST_PACKED_BATCH && !dp->log_on && !dp->rx_general) {
			/* Where the batches stop, the packet there goes one by one. */
			const uint32_t r = packed_rx_batches(dev, vq, &pkts[i], count - i, &pr);

			i += (uint16_t)r;
			if (i == count || (r & PACKED_RX_EMPTY))
				break;
		}
		m = pkts[i];
		need = (uint64_t)m->pkt_len + hlen;
		start = vq->last_avail_idx;
		start_wrap = vq->avail_wrap_counter;
		if (unlikely(dp->nr_shadow >= dp->size) ||
		    !packed_head_load(vq, start, start_wrap, &head))
			break;
		if (i + 1 < count)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		/*
		 * The one-slot fast path; the head was read once, above, and
		 * the general loop below takes it over if this does not apply.
		 */
		if (likely(vhost_rx_one(dev, vq, dp, m, &head, hlen, &len))) {
			dp->rx_general = false;
			packed_shadow_put(dp, head.link, 1, len);
			packed_advance(vq, &vq->last_avail_idx, &vq->avail_wrap_counter, 1);
			continue;
		}

		while (got < need) {
			uint16_t before = nr_vec, id, cnt;
			uint64_t clen;

			if (!have_head &&
			    (unlikely(dp->nr_shadow + nr_chain >= dp->size ||
				      nr_chain >= VHOST_BUF_VEC_MAX) ||
			     !packed_head_load(vq, vq->last_avail_idx,
					       vq->avail_wrap_counter, &head)))
				goto undo;
			have_head = false;
			dp->rx_general = true;
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

		if (unlikely(!vhost_rx_put(dev, dp, m, vec, nr_vec, nr_chain, need, hlen))) {
			/* The mbuf's lengths disagree: return the chains empty. */
			for (c = 0; c < nr_chain; c++)
				chain[c].len = 0;
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
		packed_region_put(dev, dp, &pr);
	}
	return i;
}

/*
 * Dequeue batch: the VHOST_PACKED_BATCH one-slot buffers at idx (flags
 * checked by packed_batch_ready) into the raw mbufs pkts[0..4), when each
 * buffer is mapped in one piece and holds a header and a frame that fits
 * its mbuf - what virtio PMDs and kernel drivers post. Checks first (the
 * shadow entries past nr_shadow are scratch until it moves); if one
 * fails, false, nothing changed, and the per-buffer loop takes them (and
 * reaches the same verdicts). Each descriptor's address, length and id
 * are read once, into locals. Copies are done now: the batch keeps its
 * descriptor work apart from its copies already. In order
 * (VIRTIO_F_IN_ORDER), the batch is returned as one used descriptor, the
 * last buffer's, which stands for all of them (virtio 1.1, 2.8.19).
 */
static __rte_always_inline bool
packed_tx_batch(struct vhost_dev *dev, struct vhost_vq *vq, struct vhost_vq_dp *dp,
		const struct vhost_desc d[VHOST_PACKED_BATCH], struct rte_mbuf **pkts,
		bool host_ol, bool in_order, uint32_t hlen, struct vhost_region_cache *pr)
{
	struct vhost_used_shadow *sh = &dp->shadow[dp->nr_shadow];
	uint8_t *buf[VHOST_PACKED_BATCH];
	uint16_t k;

	VHOST_BATCH_UNROLL
	for (k = 0; k < VHOST_PACKED_BATCH; k++) {
		/*
		 * CVE-2022-2132: a chain must hold the header and some data,
		 * and the frame must fit the mbuf after the headroom
		 * vhost_mbuf_init() leaves: one test (len <= hlen wraps to
		 * 2^32 - 1, beyond any buf_len).
		 */
		if ((uint64_t)(uint32_t)(d[k].len - hlen - 1) + RTE_PKTMBUF_HEADROOM >=
		    pkts[k]->buf_len)
			return false;
	}
	if (unlikely(!packed_batch_map_all(dev, vq, d, buf, pr, VHOST_USER_ACCESS_RO)))
		return false;
	for (k = 0; k < VHOST_PACKED_BATCH; k++) {
		struct rte_mbuf *m = pkts[k];
		const uint32_t pkt_len = d[k].len - hlen;
		struct virtio_net_hdr hdr;

		if (host_ol)
			memcpy(&hdr, buf[k], sizeof(hdr));
		vhost_mbuf_init(m, pkt_len);
		vhost_memcpy(rte_pktmbuf_mtod(m, uint8_t *), buf[k] + hlen, pkt_len);
		/* The local copy of the header, after the frame is in m. */
		if (host_ol && unlikely(hdr.flags != 0 || hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE))
			vhost_offload_from_hdr(dev, &hdr, m);
	}
	/* packed_shadow_put() of buffers returned with length 0. */
	if (in_order) {
		sh[0].tail = (uint64_t)d[VHOST_PACKED_BATCH - 1].link << 32;
		sh[0].count = VHOST_PACKED_BATCH;
		dp->nr_shadow++;
	} else {
		VHOST_BATCH_UNROLL
		for (k = 0; k < VHOST_PACKED_BATCH; k++) {
			sh[k].tail = (uint64_t)d[k].link << 32;
			sh[k].count = 1;
		}
		dp->nr_shadow += VHOST_PACKED_BATCH;
	}
	dp->nr_slots += VHOST_PACKED_BATCH;
	return true;
}

uint16_t
vhost_packed_dequeue(struct vhost_dev *dev, struct vhost_vq *vq,
		     struct rte_mempool *pool, struct rte_mbuf **pkts, uint16_t count)
{
	struct vhost_vq_dp *dp = vq->dp;
	struct vhost_buf_vec *vec = dp->vec;
	const bool host_ol = (dev->features & VHOST_HOST_OL_FEATURES) != 0;
	const bool in_order = vhost_has_feature(dev, VIRTIO_F_IN_ORDER);
	const uint32_t hlen = (uint32_t)dev->vhost_hlen;
	const uint16_t size = vq->size;
	struct vhost_region_cache pr;
	struct vhost_desc head;
	uint16_t idx, i, n = 0;
	bool wrap;

	if (!packed_indexes_ok(dev, vq))
		return 0;
	idx = vq->last_avail_idx;
	wrap = vq->avail_wrap_counter;
	/* Idle polls are the common case: look before allocating. */
	if (!packed_head_load(vq, idx, wrap, &head))
		return 0;
	dp->nr_shadow = 0;
	dp->nr_slots = 0;
	dp->log_on = vhost_log_enabled(dev);
	if (unlikely(vhost_mbufs_get(pool, pkts, count) != 0)) {
		vhost_dp_log_bad(dev, vq, "mbuf allocation failed");
		return 0;
	}
	packed_region_get(dev, dp, &pr);

	i = 0;
	while (i < count) {
		uint16_t nr_vec = 0, id, cnt;
		uint64_t len;

		if ((idx & (VHOST_PACKED_BATCH - 1)) == 0 && count - i >= VHOST_PACKED_BATCH &&
		    idx + VHOST_PACKED_BATCH <= size &&
		    dp->nr_shadow + VHOST_PACKED_BATCH <= dp->size) {
			struct vhost_desc bd[VHOST_PACKED_BATCH];

			/* On failure the per-buffer path below takes the first. */
			if (packed_batch_ready(vq, idx, wrap) &&
			    (packed_batch_load(vq, idx, bd),
			     likely(packed_tx_batch(dev, vq, dp, bd, &pkts[n], host_ol, in_order,
						    hlen, &pr)))) {
				n += VHOST_PACKED_BATCH;
				i += VHOST_PACKED_BATCH;
				packed_advance(vq, &idx, &wrap, VHOST_PACKED_BATCH);
				rte_prefetch0(&vq->desc_packed[idx]);
				continue;
			}
		}

		/* The head at i == 0 was loaded before the mbufs were taken. */
		if (i != 0 && !packed_head_load(vq, idx, wrap, &head))
			break;
		if (unlikely(dp->nr_shadow >= dp->size))
			break;
		i++;
		if (unlikely(packed_gather(dev, vq, idx, &head, vec, &nr_vec,
					   &len, &id, &cnt, VHOST_USER_ACCESS_RO) < 0)) {
			vhost_dp_log_bad(dev, vq, "invalid tx descriptor chain");
			if (packed_skip(vq, idx, &head, &id, &cnt) < 0)
				break;
			packed_shadow_put(dp, id, cnt, 0);
			packed_advance(vq, &idx, &wrap, cnt);
			continue;
		}
		packed_shadow_put(dp, id, cnt, 0);
		packed_advance(vq, &idx, &wrap, cnt);
		rte_prefetch0(&vq->desc_packed[idx]);

		if (likely(vhost_tx_put(dev, vq, dp, nr_vec, len, pool, &pkts[n], host_ol, hlen)))
			n++;
		else if (unlikely(pkts[n] == NULL))
			break;
	}
	vq->last_avail_idx = idx;
	vq->avail_wrap_counter = wrap;

	vhost_copy_flush(dp);
	if (dp->nr_shadow != 0) {
		packed_publish(dev, vq);
		packed_region_put(dev, dp, &pr);
	}
	/* pkts[n..count): mbufs no packet needed (pkts[n] NULL: none). */
	vhost_mbufs_put(pool, &pkts[n], count - n);
	return n;
}

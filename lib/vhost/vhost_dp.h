/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Data-path internals shared by virtio_net*.c and vhost_log.c (internal).
 *
 * The data path moves packets between mbufs and the front-end's rings. A
 * burst runs with vq->access_lock held (vhost.h explains who holds what) and
 * touches guest memory only through addresses returned by
 * vhost_desc_to_vva(), never beyond the returned length.
 *
 * Shape of a burst (split and packed alike):
 *
 *  1. read the driver's index (split: avail->idx) or the head descriptor's
 *     flags (packed) once, with acquire ordering, and bound the work by it;
 *  2. per packet, walk the descriptor chain: copy each descriptor to a local
 *     (one read of every field), check it, translate its buffer into a list
 *     of host-VA pieces (struct vhost_buf_vec) - a buffer that spans memory
 *     regions becomes several pieces;
 *  3. copy the packet; copies up to VHOST_COPY_BATCH_LEN bytes are queued
 *     (struct vhost_copy_elem) and done together at the end of the burst,
 *     so descriptor work and memory copies do not interleave;
 *  4. record used entries in a shadow array (split: at their ring position,
 *     copied to the used ring just before used->idx moves; packed: written
 *     back as descriptors at the end, one len/id/flags word each, the
 *     head's last);
 *  5. do the queued copies, dirty-log what was written, publish the burst
 *     with one release store (used->idx, or the first used descriptor's
 *     flags), then decide whether the driver wants an interrupt.
 *
 * Nothing in struct vhost_vq_dp survives a burst except the event-index
 * bookkeeping, a hint (rx_general) and the allocations, so
 * vhost_vq_dp_reset() has little to do.
 */

#ifndef _VHOST_DP_H_
#define _VHOST_DP_H_

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>

#include "vhost.h"

/* Most packets one burst moves (DPDK's MAX_PKT_BURST; apps loop for more). */
#define VHOST_MAX_BURST		32
/* Most host-VA pieces one packet may occupy (DPDK's BUF_VECTOR_MAX). */
#define VHOST_BUF_VEC_MAX	256
/* Copies up to this size are deferred to the end of the burst. */
#define VHOST_COPY_BATCH_LEN	256
/* Deferred copies queued per burst before we copy inline instead. */
#define VHOST_COPY_BATCH_MAX	(VHOST_MAX_BURST * 4)
/* Packed ring fast path: this many single-descriptor buffers at once. */
#define VHOST_PACKED_BATCH	4
/*
 * Unroll the next loop over a batch: left to itself the compiler keeps
 * some of them rolled in the large burst functions, at a few instructions
 * per buffer (measured with devtools/bench/ir_table.sh).
 */
#if defined(__clang__)
#define VHOST_BATCH_UNROLL _Pragma("unroll 4")
#elif defined(__GNUC__)
#define VHOST_BATCH_UNROLL _Pragma("GCC unroll 4")
#else
#define VHOST_BATCH_UNROLL
#endif
/* Size of one descriptor, split or packed (virtio 1.1 2.7.5, 2.8.13). */
#define VHOST_DESC_SIZE		16
/* Alignment of a descriptor's 64-bit address field, split and packed. */
#define VHOST_DESC_ALIGN	8
/* Dirty log granularity (vhost-user spec: one bit per 4 KiB page). */
#define VHOST_LOG_PAGE		4096

/* Packed ring flag masks (<linux/virtio_ring.h> gives bit numbers). */
#define VHOST_PACKED_F_AVAIL	(1u << VRING_PACKED_DESC_F_AVAIL)
#define VHOST_PACKED_F_USED	(1u << VRING_PACKED_DESC_F_USED)
#define VHOST_PACKED_WRAP_BIT	15

/* One contiguous piece of a guest buffer, in host VA. */
struct vhost_buf_vec {
	uint64_t vva;
	uint32_t len;
};

/*
 * A descriptor of either layout, copied out of shared memory one field at
 * a time by the ring's own loader: the driver may rewrite the ring under
 * us, so every check, translation and walk step looks only at this copy.
 */
struct vhost_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t link;		/* split: next index; packed: buffer id */
};

/* A copy deferred to the end of the burst. */
struct vhost_copy_elem {
	void *dst;
	const void *src;
	uint32_t len;
};

/*
 * A used entry waiting to be written back (packed ring): the last 8 bytes
 * of its descriptor (len, id, flags; virtio_net_packed.c) but for the wrap
 * bits, which depend on where it lands, and how many slots it took.
 */
struct vhost_used_shadow {
	uint64_t tail;		/* len | id << 32 | WRITE << 48 */
	uint16_t count;		/* descriptors the buffer took in the ring */
};

/* A chain reserved for the packet being enqueued (mergeable rx). */
struct vhost_rx_chain {
	uint16_t id;		/* split: head index; packed: buffer id */
	uint16_t count;		/* packed: ring slots; split: unused */
	uint32_t len;		/* bytes the chain can hold */
};

struct vhost_vq_dp {
	uint16_t size;			/* vq->size this state was made for */
	/* EVENT_IDX bookkeeping: the used index the driver was last told. */
	uint16_t signalled_used;
	bool signalled_used_valid;
	bool log_on;			/* dirty logging active for this burst */
	/*
	 * Packed enqueue: the last packet needed the general path (chains,
	 * merged buffers, indirect): no batch is tried until one does not.
	 */
	bool rx_general;
	uint16_t nr_copy;
	uint16_t nr_shadow;
	uint32_t nr_slots;		/* packed: ring slots the shadow entries take */
	/*
	 * Packed batches: the guest memory region the last burst's buffers
	 * were in, while dev->mem_gen is region_gen (size 0: none).
	 */
	uint64_t region_gen;
	struct vhost_region_cache {
		uint64_t base;
		uint64_t size;
		uint64_t hva;
	} region;
	struct vhost_used_shadow *shadow;	/* size entries (packed) */
	/*
	 * Split: used entries staged at their ring position, copied to the
	 * used ring in one go just before used->idx moves. The driver polls
	 * the line holding used->idx and the first entries; writing entries
	 * one by one through the burst would pull that line away from it
	 * again and again.
	 */
	struct vring_used_elem *used_shadow;	/* size entries (split) */
	void *ind_copy;			/* size descriptors: non-contiguous tables */
	/*
	 * The scratch of a burst, last, after the fields every message
	 * touches: it and the three arrays above are one allocation, zeroed
	 * only up to here (vhost_vq_dp_init), so a vring that moves no
	 * packet keeps ~1 page of its 19 KiB resident.
	 */
	struct vhost_copy_elem copy[VHOST_COPY_BATCH_MAX];
	struct vhost_buf_vec vec[VHOST_BUF_VEC_MAX];
	struct vhost_rx_chain chain[VHOST_BUF_VEC_MAX];
};

/* Longest packet dequeue accepts (a 64 KiB GSO frame plus headers). */
#define VHOST_MAX_PKT_LEN	(128 * 1024)

/* mbuf TX offload requests that need the virtio-net header filled in. */
#define VHOST_TX_OL_MASK (RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_TCP_SEG | \
			  RTE_MBUF_F_TX_UDP_SEG | RTE_MBUF_F_TX_IP_CKSUM)

/* Features with which the driver may ask us for offloads on dequeue. */
#define VHOST_HOST_OL_FEATURES ((1ULL << VIRTIO_NET_F_CSUM) | \
	(1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) | \
	(1ULL << VIRTIO_NET_F_HOST_ECN) | (1ULL << VIRTIO_NET_F_HOST_UFO))

/*
 * Dequeue mbufs. A burst takes count mbufs from the pool raw
 * (rte_mempool_get_bulk: refcnt 1, one segment, no next, as the pool
 * keeps them) and resets only those a packet lands in; the rest go back
 * as they came, without the reset and free checks a poll that finds one
 * packet would otherwise pay for 31 mbufs.
 */
static __rte_always_inline int
vhost_mbufs_get(struct rte_mempool *pool, struct rte_mbuf **pkts, uint16_t count)
{
	return rte_mempool_get_bulk(pool, (void **)pkts, count);
}

/*
 * Give back pkts[0..count): each is raw, or reset and untouched since
 * (rte_pktmbuf_reset keeps the pool's invariants), so no free checks are
 * needed. A NULL can only be first: a slot whose replacement failed.
 */
static __rte_always_inline void
vhost_mbufs_put(struct rte_mempool *pool, struct rte_mbuf **pkts, uint16_t count)
{
	if (count != 0 && pkts[0] == NULL) {
		pkts++;
		count--;
	}
	if (count != 0)
		rte_mempool_put_bulk(pool, (void **)pkts, count);
}

/* data_off, refcnt, nb_segs and port of a reset mbuf, as one word. */
#define VHOST_MBUF_REARM (RTE_PKTMBUF_HEADROOM | 1ULL << 16 | 1ULL << 32 | \
			  (uint64_t)RTE_MBUF_PORT_INVALID << 48)
static_assert(offsetof(struct rte_mbuf, data_off) == offsetof(struct rte_mbuf, rearm_data) &&
	      offsetof(struct rte_mbuf, refcnt) == offsetof(struct rte_mbuf, rearm_data) + 2 &&
	      offsetof(struct rte_mbuf, nb_segs) == offsetof(struct rte_mbuf, rearm_data) + 4 &&
	      offsetof(struct rte_mbuf, port) == offsetof(struct rte_mbuf, rearm_data) + 6,
	      "rte_mbuf rearm_data layout");

/*
 * rte_pktmbuf_reset() of a raw mbuf whose buf_len exceeds the headroom,
 * with a one-segment frame of len bytes: the same fields, fewer stores.
 */
static __rte_always_inline void
vhost_mbuf_init(struct rte_mbuf *m, uint32_t len)
{
	const uint64_t rearm = VHOST_MBUF_REARM;

	memcpy(&m->rearm_data, &rearm, sizeof(rearm));
	m->ol_flags &= RTE_MBUF_F_EXTERNAL;
	m->packet_type = 0;
	m->pkt_len = len;
	m->data_len = (uint16_t)len;
	m->vlan_tci = 0;
	m->vlan_tci_outer = 0;
	m->next = NULL;
	m->tx_offload = 0;
}

/* ---- virtio_net.c: common helpers ---- */

/*
 * Append the host-VA pieces of guest buffer [addr, addr + len) to vec.
 * Returns 0, or -1 if part of it is unmapped or the vector is full.
 */
static __rte_always_inline int
vhost_map_buf(struct vhost_dev *dev, struct vhost_vq *vq, uint64_t addr,
	      uint32_t len, struct vhost_buf_vec *vec, uint16_t *nr_vec, uint8_t perm)
{
	uint16_t n = *nr_vec;

	while (len > 0) {
		uint64_t mlen = len;
		uint64_t vva = vhost_desc_to_vva(dev, vq, addr, &mlen, perm);

		if (unlikely(vva == 0 || mlen == 0 || n >= VHOST_BUF_VEC_MAX))
			return -1;
		vec[n].vva = vva;
		vec[n].len = (uint32_t)mlen;
		n++;
		addr += mlen;
		len -= (uint32_t)mlen;
	}
	*nr_vec = n;
	return 0;
}

/*
 * The single-descriptor fast path of every gather, both layouts: d is a
 * whole buffer (no NEXT, no INDIRECT) of at least min_len bytes, mapped
 * in one piece - how virtio PMDs post buffers. Puts that piece in *v.
 * False sends the caller to its general walk, which comes to the same
 * result for such a buffer (one that spans regions, say) or rejects it.
 */
static __rte_always_inline bool
vhost_desc_map_one(struct vhost_dev *dev, struct vhost_vq *vq, const struct vhost_desc *d,
		   uint64_t min_len, struct vhost_buf_vec *v, uint8_t perm)
{
	uint64_t mlen = d->len;
	uint64_t vva;

	if (unlikely((d->flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)) ||
		     d->len < min_len))
		return false;
	vva = vhost_desc_to_vva(dev, vq, d->addr, &mlen, perm);
	if (unlikely(vva == 0 || mlen != d->len))
		return false;
	v->vva = vva;
	v->len = d->len;
	return true;
}

/* A chain walk's first try: the chain is d alone, appended in one piece. */
static __rte_always_inline bool
vhost_gather_one(struct vhost_dev *dev, struct vhost_vq *vq, const struct vhost_desc *d,
		 struct vhost_buf_vec *vec, uint16_t *nr_vec, uint64_t *len, uint8_t perm)
{
	/* An empty buffer goes through the walk: it decides what that means. */
	if (unlikely(*nr_vec >= VHOST_BUF_VEC_MAX) ||
	    !vhost_desc_map_one(dev, vq, d, 1, &vec[*nr_vec], perm))
		return false;
	(*nr_vec)++;
	*len = d->len;
	return true;
}

/*
 * One descriptor of a chain walk: append its pieces, count its bytes.
 * First try it as one piece (the usual case); one that spans regions is
 * mapped again piece by piece.
 */
static __rte_always_inline int
vhost_gather_step(struct vhost_dev *dev, struct vhost_vq *vq, const struct vhost_desc *d,
		  struct vhost_buf_vec *vec, uint16_t *nr_vec, uint64_t *total, uint8_t perm)
{
	uint16_t n = *nr_vec;
	uint64_t mlen = d->len;

	if (likely(d->len != 0 && n < VHOST_BUF_VEC_MAX)) {
		uint64_t vva = vhost_desc_to_vva(dev, vq, d->addr, &mlen, perm);

		if (likely(vva != 0 && mlen == d->len)) {
			vec[n].vva = vva;
			vec[n].len = d->len;
			*nr_vec = n + 1;
			*total += d->len;
			return 0;
		}
	}
	if (d->len != 0 &&
	    unlikely(vhost_map_buf(dev, vq, d->addr, d->len, vec, nr_vec, perm) < 0))
		return -1;
	*total += d->len;
	return 0;
}

/* Header bytes 8-11 (csum_offset 0, num_buffers 1) as vhost_hdr_store() takes them. */
#if RTE_BYTE_ORDER == RTE_LITTLE_ENDIAN
#define VHOST_HDR_HI_ONE_BUFFER (UINT32_C(1) << 16)
#else
#define VHOST_HDR_HI_ONE_BUFFER UINT32_C(1)
#endif

/*
 * Write the virtio-net header (hlen: 10 or 12 bytes) at dst, a buffer the
 * driver posted. Drivers recycle their buffers, so the header there is
 * most often the one about to be written (no offload, one buffer): then
 * the line is only read. Storing it anyway would take the line away from
 * the driver's core, which read it when it last received into this buffer
 * and would miss on it again at the next receive - one cache line bounced
 * between the two cores per packet for nothing.
 */
static __rte_always_inline void
vhost_hdr_store(uint8_t *dst, uint64_t lo, uint32_t hi, uint32_t hlen)
{
	/* lo: bytes 0-7 of the header; hi: 8-11 (csum_offset, num_buffers). */
	uint64_t have_lo;

	memcpy(&have_lo, dst, sizeof(have_lo));
	if (hlen == sizeof(struct virtio_net_hdr_mrg_rxbuf)) {
		uint32_t have_hi;

		memcpy(&have_hi, dst + sizeof(lo), sizeof(have_hi));
		if (likely(((have_lo ^ lo) | (have_hi ^ hi)) == 0))
			return;
		memcpy(dst, &lo, sizeof(lo));
		memcpy(dst + sizeof(lo), &hi, sizeof(hi));
	} else {
		uint16_t have_hi, hi16;

		/* bytes 8-9: the first two of hi in memory order, whatever the byte order */
		memcpy(&hi16, &hi, sizeof(hi16));
		memcpy(&have_hi, dst + sizeof(lo), sizeof(have_hi));
		if (likely(((have_lo ^ lo) | (uint16_t)(have_hi ^ hi16)) == 0))
			return;
		memcpy(dst, &lo, sizeof(lo));
		memcpy(dst + sizeof(lo), &hi16, sizeof(hi16));
	}
}

/*
 * Copy len bytes between non-overlapping buffers. rte_memcpy spends a
 * chain of size tests on every small copy and, in the corei7 baseline
 * Debian builds for, realigns big ones with shuffles; here a size class
 * picks fixed-size unaligned moves, the last one overlapping the previous
 * (a 64-byte frame is two 32-byte moves, a big one 64-byte blocks).
 */
static __rte_always_inline void
vhost_memcpy(uint8_t *dst, const uint8_t *src, uint32_t len)
{
	if (len > 64) {
		uint8_t *dend = dst + len;
		const uint8_t *send = src + len;

		for (; len > 64; len -= 64, dst += 64, src += 64)
			memcpy(dst, src, 64);
		memcpy(dend - 64, send - 64, 64);
	} else if (len > 32) {
		memcpy(dst, src, 32);
		memcpy(dst + len - 32, src + len - 32, 32);
	} else if (len >= 16) {
		memcpy(dst, src, 16);
		memcpy(dst + len - 16, src + len - 16, 16);
	} else if (len >= 8) {
		memcpy(dst, src, 8);
		memcpy(dst + len - 8, src + len - 8, 8);
	} else if (len >= 4) {
		memcpy(dst, src, 4);
		memcpy(dst + len - 4, src + len - 4, 4);
	} else {
		for (; len > 0; len--)
			*dst++ = *src++;
	}
}

/*
 * Queue a copy, or do it now when the batch is full or the copy large.
 * Large copies into guest buffers (enqueue: destination 12 bytes past a
 * line) measured ~10% faster with vhost_memcpy than rte_memcpy. Out of
 * them (dequeue: aligned mbuf destination, source 12 bytes past a line)
 * rte_memcpy was as fast or a little faster, but its realigning shuffles
 * cost 1.6x the instructions of vhost_memcpy's unaligned moves (about
 * 500 against 300 for 1518 bytes), which the other core's work pays for
 * too on a shared one; vhost_memcpy both ways.
 */
static __rte_always_inline void
vhost_copy(struct vhost_vq_dp *dp, void *dst, const void *src, uint32_t len)
{
	if (likely(len <= VHOST_COPY_BATCH_LEN && dp->nr_copy < VHOST_COPY_BATCH_MAX)) {
		struct vhost_copy_elem *e = &dp->copy[dp->nr_copy++];

		/*
		 * The copy runs at the end of the burst: start pulling both
		 * ends in now (guest lines are usually in the other core's
		 * cache), so the flush finds them close.
		 */
		rte_prefetch0(src);
		rte_prefetch0_write(dst);
		e->dst = dst;
		e->src = src;
		e->len = len;
	} else {
		vhost_memcpy(dst, src, len);
	}
}

/* Do the deferred copies (before anything is published). */
static __rte_always_inline void
vhost_copy_flush(struct vhost_vq_dp *dp)
{
	const struct vhost_copy_elem *e = dp->copy;
	uint16_t i, n = dp->nr_copy;

	for (i = 0; i < n; i++)
		vhost_memcpy(e[i].dst, e[i].src, e[i].len);
	dp->nr_copy = 0;
}

/* Where a copy stands in a buffer's pieces: in vec[vi], at p, room bytes left. */
struct vhost_vec_pos {
	uint8_t *p;
	uint32_t room;
	uint16_t vi;
};

/*
 * The general (several pieces) copy of both fills: len bytes between flat
 * memory and the pieces vec[0..nr_vec), from pos on, leaving pos past
 * them. to_vec: flat into the pieces (enqueue), else out of them. defer:
 * packet data, through vhost_copy; else copied now (the header: a local
 * that is gone by the flush). Returns 0, or -1 if the pieces run out
 * first (an mbuf or a chain whose length lies).
 */
static __rte_always_inline int
vhost_vec_copy(struct vhost_vq_dp *dp, const struct vhost_buf_vec *vec, uint16_t nr_vec,
	       struct vhost_vec_pos *pos, uint8_t *flat, uint32_t len, bool to_vec, bool defer)
{
	while (len > 0) {
		uint8_t *dst = to_vec ? pos->p : flat;
		const uint8_t *src = to_vec ? flat : pos->p;
		uint32_t n;

		if (pos->room == 0) {
			if (unlikely(++pos->vi >= nr_vec))
				return -1;
			pos->p = (uint8_t *)(uintptr_t)vec[pos->vi].vva;
			pos->room = vec[pos->vi].len;
			continue;
		}
		n = RTE_MIN(len, pos->room);
		if (defer)
			vhost_copy(dp, dst, src, n);
		else
			memcpy(dst, src, n);
		flat += n;
		pos->p += n;
		pos->room -= n;
		len -= n;
	}
	return 0;
}

/* Rate-limited data-path error: at most one line a second per process. */
void vhost_dp_log_bad(struct vhost_dev *dev, struct vhost_vq *vq, const char *why);

/* Statistics of a burst that moved pkts[0..n). */
void vhost_stats_update(struct vhost_vq *vq, struct rte_mbuf **pkts, uint16_t n);

/* Signal the vring's call (the transport's vring_call), counted. */
void vhost_kick(struct vhost_dev *dev, struct vhost_vq *vq);

/* virtio's vring_need_event(): did new_idx just pass event_idx? */
static __rte_always_inline bool
vhost_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

/*
 * Split ring: interrupt the driver if it wants one now that used->idx is
 * cur: with EVENT_IDX, only if cur passed its used_event since the last
 * interrupt; without, unless it set VRING_AVAIL_F_NO_INTERRUPT. Inline:
 * it runs once per burst (vhost_notify_split()).
 */
static __rte_always_inline void
vhost_notify_split_at(struct vhost_dev *dev, struct vhost_vq *vq, uint16_t cur)
{
	struct vhost_vq_dp *dp = vq->dp;
	bool kick;

	/* Our used->idx store must be seen before we read the driver's wish. */
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx) {
		/* used_event sits right after avail->ring[size]. */
		uint16_t ev = __atomic_load_n(&vq->avail->ring[vq->size], __ATOMIC_RELAXED);
		uint16_t old = dp->signalled_used;

		kick = !dp->signalled_used_valid || vhost_need_event(ev, cur, old);
		dp->signalled_used = cur;
		dp->signalled_used_valid = true;
	} else {
		uint16_t flags = __atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED);

		kick = !(flags & VRING_AVAIL_F_NO_INTERRUPT);
	}
	if (kick)
		vhost_kick(dev, vq);
}

/* Interrupt the driver if it wants one, now that the burst is published. */
static __rte_always_inline void
vhost_notify_split(struct vhost_dev *dev, struct vhost_vq *vq)
{
	vhost_notify_split_at(dev, vq, vq->last_used_idx);
}
/* vhost_notify_packed() when the driver asked for an event at a descriptor. */
void vhost_notify_packed_event(struct vhost_dev *dev, struct vhost_vq *vq);

/*
 * Packed ring: interrupt the driver if it wants one now that used entries
 * up to vq->last_used_idx are written. Inline but for the EVENT_IDX case:
 * it runs once per burst.
 */
static __rte_always_inline void
vhost_notify_packed(struct vhost_dev *dev, struct vhost_vq *vq)
{
	uint16_t flags;

	/* Our used entries must be seen before we read the driver's wish. */
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	flags = __atomic_load_n(&vq->driver_event->flags, __ATOMIC_ACQUIRE);
	if (vq->event_idx && flags == VRING_PACKED_EVENT_FLAG_DESC)
		vhost_notify_packed_event(dev, vq);
	else if (flags != VRING_PACKED_EVENT_FLAG_DISABLE)
		vhost_kick(dev, vq);
}

/*
 * Queue-level workers (lock held, access_ok/enabled checked, dp valid).
 * The public bursts are thin wrappers; tests and fuzzers call these.
 */
uint16_t vhost_split_enqueue(struct vhost_dev *dev, struct vhost_vq *vq,
			     struct rte_mbuf **pkts, uint16_t count);
uint16_t vhost_split_dequeue(struct vhost_dev *dev, struct vhost_vq *vq,
			     struct rte_mempool *pool, struct rte_mbuf **pkts,
			     uint16_t count);
uint16_t vhost_packed_enqueue(struct vhost_dev *dev, struct vhost_vq *vq,
			      struct rte_mbuf **pkts, uint16_t count);
uint16_t vhost_packed_dequeue(struct vhost_dev *dev, struct vhost_vq *vq,
			      struct rte_mempool *pool, struct rte_mbuf **pkts,
			      uint16_t count);

/*
 * Full bursts on one queue: take the lock (dequeue: trylock), check the
 * queue is usable, run the split or packed worker, notify. Return the
 * number of packets moved.
 */
uint16_t vhost_vq_enqueue(struct vhost_dev *dev, struct vhost_vq *vq,
			  struct rte_mbuf **pkts, uint16_t count);
uint16_t vhost_vq_dequeue(struct vhost_dev *dev, struct vhost_vq *vq,
			  struct rte_mempool *pool, struct rte_mbuf **pkts,
			  uint16_t count);

/*
 * Walk one chain for the fuzzer and tests: gather its pieces into vec.
 * Returns the number of pieces (>= 0) and the chain's byte length in *len
 * (split: *id = head; packed: buffer id, *count = ring slots), or -1.
 */
int vhost_split_walk(struct vhost_dev *dev, struct vhost_vq *vq, uint16_t head,
		     struct vhost_buf_vec *vec, uint64_t *len, uint8_t perm);
int vhost_packed_walk(struct vhost_dev *dev, struct vhost_vq *vq, uint16_t idx,
		      struct vhost_buf_vec *vec, uint64_t *len, uint16_t *id,
		      uint16_t *count, uint8_t perm);

/*
 * Fetch an indirect table (len bytes at guest addr) for reading: its host
 * VA if contiguous, else a copy in dp->ind_copy; NULL if invalid.
 */
const void *vhost_indirect_table(struct vhost_dev *dev, struct vhost_vq *vq,
				 uint64_t addr, uint32_t len);

/*
 * The same, with the common case inline: a table of 1..size descriptors,
 * mapped in one aligned piece. Anything else (bad length, a table that
 * spans regions or sits misaligned, no mapping, IOMMU) goes to
 * vhost_indirect_table(), which checks it all again and copies or rejects.
 */
static __rte_always_inline const void *
vhost_indirect_map(struct vhost_dev *dev, struct vhost_vq *vq, uint64_t addr, uint32_t len)
{
	uint64_t mlen = len;
	uint64_t vva;

	/* len - 1 wraps for 0: one test for 0 < len <= size descriptors. */
	if (likely((len & (VHOST_DESC_SIZE - 1)) == 0 &&
		   len - 1u < (uint32_t)vq->size * VHOST_DESC_SIZE && !dev->iommu)) {
		vva = vhost_gpa_to_vva(dev, addr, &mlen);
		if (likely(vva != 0 && mlen == len && (vva & (VHOST_DESC_ALIGN - 1)) == 0))
			return (const void *)(uintptr_t)vva;
	}
	return vhost_indirect_table(dev, vq, addr, len);
}

/* Attach an external buffer of at least len bytes to m (EXTBUF mode). */
int vhost_extbuf_attach(struct rte_mbuf *m, uint32_t len);

/* ---- virtio_net_offload.c ---- */

/* Fill a virtio-net header from m's TX offload requests (may fix m's IP csum). */
void vhost_offload_to_hdr(struct rte_mbuf *m, struct virtio_net_hdr *hdr);
/* Apply a (local copy of a) virtio-net header from the driver to m. */
void vhost_offload_from_hdr(struct vhost_dev *dev, const struct virtio_net_hdr *hdr,
			    struct rte_mbuf *m);

/* ---- vhost_log.c ---- */

/* Mark host VA [vva, vva + len) dirty (finds its guest-physical pages). */
void vhost_log_write_vva(struct vhost_dev *dev, uint64_t vva, uint64_t len);
/* Mark bytes [off, off + len) of vq's used ring dirty. */
void vhost_log_used(struct vhost_dev *dev, struct vhost_vq *vq, uint64_t off, uint64_t len);

static __rte_always_inline bool
vhost_log_enabled(const struct vhost_dev *dev)
{
	return unlikely((dev->features & (1ULL << VHOST_F_LOG_ALL)) && dev->log_addr != 0);
}

/*
 * Enqueue one packet into the pieces vec[0..nr_vec) (their total is at
 * least pkt_len + hlen, hlen being dev->vhost_hlen, passed in because the
 * compiler would reload it after every guest store): the virtio-net
 * header, then the data. Returns 0,
 * or -1 if the pieces ran out (an mbuf whose pkt_len lies).
 */
static __rte_always_inline int
vhost_rx_fill(struct vhost_dev *dev, struct vhost_vq_dp *dp, struct rte_mbuf *m,
	      const struct vhost_buf_vec *vec, uint16_t nr_vec, uint16_t num_buffers,
	      uint32_t hlen)
{
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct vhost_vec_pos pos = {
		.p = (uint8_t *)(uintptr_t)vec[0].vva, .room = vec[0].len, .vi = 0,
	};
	const struct rte_mbuf *seg;

	memset(&hdr, 0, sizeof(hdr));
	/* Present (and 1 without MRG_RXBUF) whenever hlen covers it. */
	hdr.num_buffers = num_buffers;
	if (unlikely(m->ol_flags & VHOST_TX_OL_MASK))
		vhost_offload_to_hdr(m, &hdr.hdr);

	if (likely(pos.room >= hlen)) {
		uint64_t lo;
		uint32_t hi;

		memcpy(&lo, &hdr, sizeof(lo));
		memcpy(&hi, (const uint8_t *)&hdr + sizeof(lo), sizeof(hi));
		vhost_hdr_store(pos.p, lo, hi, hlen);
		/*
		 * Common case: a one-segment mbuf and one piece with room
		 * for header and data. Same bounds as the general copy.
		 */
		if (likely(nr_vec == 1 && m->next == NULL && pos.room - hlen >= m->data_len)) {
			vhost_copy(dp, pos.p + hlen, rte_pktmbuf_mtod(m, const uint8_t *),
				   m->data_len);
			return 0;
		}
		/*
		 * The header in a piece of its own and the data in the next
		 * (a header descriptor, often in an indirect table).
		 */
		if (nr_vec == 2 && pos.room == hlen && m->next == NULL &&
		    vec[1].len >= m->data_len) {
			vhost_copy(dp, (uint8_t *)(uintptr_t)vec[1].vva,
				   rte_pktmbuf_mtod(m, const uint8_t *), m->data_len);
			return 0;
		}
		pos.p += hlen;
		pos.room -= hlen;
	} else if (unlikely(vhost_vec_copy(dp, vec, nr_vec, &pos, (uint8_t *)&hdr, hlen,
					   true, false) < 0)) {
		/* A header split over several descriptors (any layout) ran out. */
		return -1;
	}

	for (seg = m; seg != NULL; seg = seg->next)
		if (unlikely(vhost_vec_copy(dp, vec, nr_vec, &pos,
					    rte_pktmbuf_mtod(seg, uint8_t *), seg->data_len,
					    true, true) < 0))
			return -1;
	return 0;
}

/* Log every piece of an enqueued chain list up to len bytes (migration). */
static inline void
vhost_rx_log(struct vhost_dev *dev, const struct vhost_buf_vec *vec, uint16_t nr_vec,
	     uint64_t len)
{
	uint16_t i;

	for (i = 0; i < nr_vec && len > 0; i++) {
		uint64_t n = RTE_MIN(len, (uint64_t)vec[i].len);

		vhost_log_write_vva(dev, vec[i].vva, n);
		len -= n;
	}
}

/*
 * Copy m into the pieces vec[0..nr_vec) of the nr_chain chains reserved
 * for it (need bytes, header included) and dirty-log them. False if m's
 * lengths lie: the caller then returns those chains empty.
 */
static __rte_always_inline bool
vhost_rx_put(struct vhost_dev *dev, struct vhost_vq_dp *dp, struct rte_mbuf *m,
	     const struct vhost_buf_vec *vec, uint16_t nr_vec, uint16_t nr_chain,
	     uint64_t need, uint32_t hlen)
{
	if (unlikely(vhost_rx_fill(dev, dp, m, vec, nr_vec, nr_chain, hlen) < 0))
		return false;
	if (unlikely(dp->log_on)) {
		/* The log must cover what the flush is about to write. */
		vhost_copy_flush(dp);
		vhost_rx_log(dev, vec, nr_vec, need);
	}
	return true;
}

/*
 * Enqueue fast path, both layouts: a one-segment m into the buffer d (the
 * ring's loaded head) if d alone holds header and data in one mapped
 * piece - what virtio PMDs and kernel drivers post with MRG_RXBUF. The
 * checks are the gather's for a one-descriptor chain plus "big enough",
 * which makes the used length simply the packet's. False: nothing was
 * done and the general path takes d over; else *used_len is the length
 * to return the buffer with.
 */
static __rte_always_inline bool
vhost_rx_one(struct vhost_dev *dev, struct vhost_vq *vq, struct vhost_vq_dp *dp,
	     struct rte_mbuf *m, const struct vhost_desc *d, uint32_t hlen, uint32_t *used_len)
{
	const uint64_t need = (uint64_t)m->pkt_len + hlen;

	if (m->next != NULL ||
	    !vhost_desc_map_one(dev, vq, d, need, dp->vec, VHOST_USER_ACCESS_RW))
		return false;
	*used_len = likely(vhost_rx_put(dev, dp, m, dp->vec, 1, 1, need, hlen)) ?
		(uint32_t)need : 0;
	return true;
}

/*
 * Dequeue one packet from the pieces vec[0..nr_vec) (chain_len bytes) into
 * m (raw from the pool, vhost_mbufs_get(), or reset), chaining more mbufs
 * from pool as needed. The header is copied to a local before any field is
 * looked at. Returns 0; -2 if the packet must be dropped and m was not
 * touched; or -1 if it must be dropped after m was reset (m may then hold
 * extra segments: the caller flushes pending copies and frees it).
 */
static __rte_always_inline int
vhost_tx_fill(struct vhost_dev *dev, struct vhost_vq_dp *dp,
	      const struct vhost_buf_vec *vec, uint16_t nr_vec, uint64_t chain_len,
	      struct rte_mempool *pool, struct rte_mbuf *m, bool host_ol, uint32_t hlen)
{
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct vhost_vec_pos pos = {
		.p = (uint8_t *)(uintptr_t)vec[0].vva, .room = vec[0].len, .vi = 0,
	};
	struct rte_mbuf *cur = m;
	const uint8_t *src;
	uint32_t room, left, pkt_len;
	uint8_t *dst;

	hdr.hdr.flags = 0;
	hdr.hdr.gso_type = VIRTIO_NET_HDR_GSO_NONE;
	/*
	 * CVE-2022-2132: a chain must hold the header and some data (and
	 * no more than the longest packet); chain_len <= hlen wraps. m is
	 * still raw here: -2, so that it is not freed as a packet.
	 */
	if (unlikely(chain_len - hlen - 1 >= VHOST_MAX_PKT_LEN))
		return -2;
	pkt_len = (uint32_t)(chain_len - hlen);

	/*
	 * Common case (virtio PMDs push the header in front of the frame):
	 * one piece holding header and frame, and a frame that fits the
	 * mbuf after the headroom vhost_mbuf_init() leaves; or the header
	 * alone in the first piece (hlen is 10 or 12, so it holds hdr.hdr),
	 * the frame in the second. Same bounds as below, without the piece
	 * walking.
	 */
	if (likely(pos.room == chain_len))
		src = pos.p + hlen;
	else if (nr_vec == 2 && pos.room == hlen && vec[1].len == pkt_len)
		src = (const uint8_t *)(uintptr_t)vec[1].vva;
	else
		goto general;
	if (likely((uint64_t)pkt_len + RTE_PKTMBUF_HEADROOM <= m->buf_len)) {
		if (host_ol)
			memcpy(&hdr, pos.p, sizeof(hdr.hdr));
		vhost_mbuf_init(m, pkt_len);
		vhost_copy(dp, rte_pktmbuf_mtod(m, uint8_t *), src, pkt_len);
		goto offload;
	}
general:
	rte_pktmbuf_reset(m);
	/* The header goes to a local before any field of it is looked at. */
	if (unlikely(vhost_vec_copy(dp, vec, nr_vec, &pos, (uint8_t *)&hdr, hlen,
				    false, false) < 0))
		return -1;

	room = rte_pktmbuf_tailroom(m);
	if (unlikely(pkt_len > room)) {
		if (dev->extbuf && vhost_extbuf_attach(m, pkt_len) == 0)
			room = rte_pktmbuf_tailroom(m);
		else if (dev->linearbuf)
			return -1;
	}
	dst = rte_pktmbuf_mtod(m, uint8_t *);

	/* Fill the mbuf chain a segment's room at a time. */
	left = pkt_len;
	while (left > 0) {
		uint32_t n;

		if (room == 0) {
			struct rte_mbuf *nm = rte_pktmbuf_alloc(pool);

			if (unlikely(nm == NULL))
				return -1;
			cur->next = nm;
			cur = nm;
			m->nb_segs++;
			dst = rte_pktmbuf_mtod(nm, uint8_t *);
			room = rte_pktmbuf_tailroom(nm);
			continue;
		}
		n = RTE_MIN(room, left);
		if (unlikely(vhost_vec_copy(dp, vec, nr_vec, &pos, dst, n, false, true) < 0))
			return -1;
		cur->data_len += n;
		dst += n;
		room -= n;
		left -= n;
	}
	m->pkt_len = pkt_len;

offload:
	if (host_ol && unlikely(hdr.hdr.flags != 0 ||
				hdr.hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE)) {
		/* Offload parsing reads the packet: finish the copies first. */
		vhost_copy_flush(dp);
		vhost_offload_from_hdr(dev, &hdr.hdr, m);
	}
	return 0;
}

/* A dropped dequeue packet: undo m so the slot can take the next one. */
static inline struct rte_mbuf *
vhost_tx_recycle(struct vhost_vq_dp *dp, struct rte_mempool *pool, struct rte_mbuf *m)
{
	/* Pending copies may target m's segments: do them before freeing. */
	vhost_copy_flush(dp);
	rte_pktmbuf_free(m);
	return rte_pktmbuf_alloc(pool);
}

/*
 * Dequeue the gathered packet (dp->vec[0..nr_vec), len bytes) into the
 * fresh mbuf *slot. True if it was taken; false if it was dropped, *slot
 * then holding a replacement mbuf, or NULL if none could be had (the
 * burst ends there).
 */
static __rte_always_inline bool
vhost_tx_put(struct vhost_dev *dev, struct vhost_vq *vq, struct vhost_vq_dp *dp,
	     uint16_t nr_vec, uint64_t len, struct rte_mempool *pool, struct rte_mbuf **slot,
	     bool host_ol, uint32_t hlen)
{
	int rc = vhost_tx_fill(dev, dp, dp->vec, nr_vec, len, pool, *slot, host_ol, hlen);

	if (likely(rc == 0))
		return true;
	vhost_dp_log_bad(dev, vq, "tx packet dropped");
	/*
	 * -2: the mbuf was not touched (still raw: its header fields are a
	 * previous user's, which a debug build's free would check), keep it.
	 */
	if (rc != -2)
		*slot = vhost_tx_recycle(dp, pool, *slot);
	return false;
}

#endif /* _VHOST_DP_H_ */

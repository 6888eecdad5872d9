/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Public data-path entry points and what split and packed rings share:
 * queue lookup and locking, per-queue data-path state, indirect tables,
 * guest notification, statistics, the RARP announcement, extbuf mbufs.
 *
 * Queue numbering follows the application's view (DPDK's): enqueue
 * (host -> driver, the driver's rx queue) uses even vring indexes 2q,
 * dequeue (the driver's tx queue) odd ones 2q + 1.
 *
 * Locking (see vhost.h): a burst holds vq->access_lock throughout. Enqueue
 * spins for it; dequeue, like DPDK, tries once and returns 0 if the control
 * thread holds it, so a poll loop never stalls behind a reconfiguration.
 * Inside the lock a burst proceeds only if the device runs and the queue is
 * enabled with its rings translated (access_ok) and its data-path state
 * sized for the current ring.
 */

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "vhost.h"
#include "vhost_dp.h"
#include "vhost_transport.h"

/* Seconds between two data-path error lines (per process). */
#define VHOST_DP_LOG_INTERVAL_S	1
/* DPDK announces with a 64-byte RARP frame (the minimum Ethernet frame). */
#define VHOST_RARP_PKT_SIZE	64
#define VHOST_RARP_IPV4_ALEN	4

static const char *const vhost_vq_stat_names[VHOST_VQ_STAT_MAX] = {
	[VHOST_VQ_STAT_GOOD_PACKETS] = "good_packets",
	[VHOST_VQ_STAT_GOOD_BYTES] = "good_bytes",
	[VHOST_VQ_STAT_MULTICAST] = "multicast_packets",
	[VHOST_VQ_STAT_BROADCAST] = "broadcast_packets",
	[VHOST_VQ_STAT_UNDERSIZE] = "undersize_packets",
	[VHOST_VQ_STAT_SIZE_64] = "size_64_packets",
	[VHOST_VQ_STAT_SIZE_65_127] = "size_65_127_packets",
	[VHOST_VQ_STAT_SIZE_128_255] = "size_128_255_packets",
	[VHOST_VQ_STAT_SIZE_256_511] = "size_256_511_packets",
	[VHOST_VQ_STAT_SIZE_512_1023] = "size_512_1023_packets",
	[VHOST_VQ_STAT_SIZE_1024_1518] = "size_1024_1518_packets",
	[VHOST_VQ_STAT_SIZE_1519_MAX] = "size_1519_max_packets",
	[VHOST_VQ_STAT_GUEST_NOTIFICATIONS] = "guest_notifications",
	[VHOST_VQ_STAT_IOTLB_HITS] = "iotlb_hits",
	[VHOST_VQ_STAT_IOTLB_MISSES] = "iotlb_misses",
	[VHOST_VQ_STAT_INFLIGHT_SUBMITTED] = "inflight_submitted",
	[VHOST_VQ_STAT_INFLIGHT_COMPLETED] = "inflight_completed",
};

void
vhost_dp_log_bad(struct vhost_dev *dev, struct vhost_vq *vq, const char *why)
{
	static uint64_t next_tsc;
	uint64_t now = rte_get_tsc_cycles();
	uint64_t last = __atomic_load_n(&next_tsc, __ATOMIC_RELAXED);

	/* A hostile driver can make this fire every packet: one line a second. */
	if (now < last ||
	    !__atomic_compare_exchange_n(&next_tsc, &last,
					 now + rte_get_tsc_hz() * VHOST_DP_LOG_INTERVAL_S,
					 false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	VHOST_LOG_DATA(dev->ifname, ERR, "vring %u: %s\n", vq->index, why);
}

/* ---- per-queue data-path state ---- */

int
vhost_vq_dp_init(struct vhost_dev *dev, struct vhost_vq *vq)
{
	struct vhost_vq_dp *dp = vq->dp;
	uint16_t size = vq->size;
	size_t used_off, shadow_off, ind_off, total;

	if (size == 0)
		return -EINVAL;
	if (dp != NULL && dp->size == size) {
		vhost_vq_dp_reset(vq);
		return 0;
	}
	vhost_vq_dp_free(vq);
	/*
	 * One allocation: the state, then the per-ring arrays, each on its
	 * own lines; only the fields before the burst scratch are zeroed,
	 * since nothing reads an array entry a burst has not written. So a
	 * vring that never moves a packet keeps one page of the ~19 KiB
	 * resident, and freeing it touches no more: rte_free would zero the
	 * whole block, faulting in every page a burst never used (at 128
	 * ports, 7 faults per port at teardown against 2.5 in separate
	 * rte_malloc'ed blocks). The vring itself is in malloc'ed memory too.
	 */
	used_off = RTE_ALIGN_CEIL(sizeof(*dp), RTE_CACHE_LINE_SIZE);
	shadow_off = RTE_ALIGN_CEIL(used_off + sizeof(*dp->used_shadow) * size,
				    RTE_CACHE_LINE_SIZE);
	ind_off = RTE_ALIGN_CEIL(shadow_off + sizeof(*dp->shadow) * size, RTE_CACHE_LINE_SIZE);
	total = RTE_ALIGN_CEIL(ind_off + (size_t)size * VHOST_DESC_SIZE, RTE_CACHE_LINE_SIZE);
	dp = aligned_alloc(RTE_CACHE_LINE_SIZE, total);
	if (dp == NULL) {
		VHOST_LOG_CONFIG(dev->ifname, ERR,
				 "vring %u: no memory for data-path state\n", vq->index);
		return -ENOMEM;
	}
	memset(dp, 0, offsetof(struct vhost_vq_dp, copy));
	dp->used_shadow = RTE_PTR_ADD(dp, used_off);
	dp->shadow = RTE_PTR_ADD(dp, shadow_off);
	dp->ind_copy = RTE_PTR_ADD(dp, ind_off);
	dp->size = size;
	vq->dp = dp;
	return 0;
}

void
vhost_vq_dp_reset(struct vhost_vq *vq)
{
	struct vhost_vq_dp *dp = vq->dp;

	if (dp == NULL)
		return;
	/* Indexes may be rewritten (SET_VRING_BASE): re-arm event idx. */
	dp->signalled_used = 0;
	dp->signalled_used_valid = false;
	dp->nr_copy = 0;
	dp->nr_shadow = 0;
	dp->nr_slots = 0;
	dp->rx_general = false;
	/* Forget the region batches remembered (vhost_dp.h: region_gen). */
	dp->region.size = 0;
}

void
vhost_vq_dp_free(struct vhost_vq *vq)
{
	struct vhost_vq_dp *dp = vq->dp;

	if (dp == NULL)
		return;
	vq->dp = NULL;
	free(dp);
}

/* ---- indirect tables ---- */

const void *
vhost_indirect_table(struct vhost_dev *dev, struct vhost_vq *vq, uint64_t addr, uint32_t len)
{
	struct vhost_vq_dp *dp = vq->dp;
	uint64_t mlen = len, vva, off = 0;

	if (unlikely(len == 0 || len % VHOST_DESC_SIZE != 0 ||
		     len / VHOST_DESC_SIZE > vq->size)) {
		vhost_dp_log_bad(dev, vq, "invalid indirect table length");
		return NULL;
	}
	vva = vhost_desc_to_vva(dev, vq, addr, &mlen, VHOST_USER_ACCESS_RO);
	if (likely(vva != 0 && mlen == len && (vva & (VHOST_DESC_ALIGN - 1)) == 0))
		return (const void *)(uintptr_t)vva;

	/*
	 * Spans regions: gather it into our own copy (CVE-2018-1059). A table
	 * at an address its descriptors' 64-bit fields cannot be read from in
	 * C (found by fuzz_desc_walk under UBSan) is copied too: no real
	 * front-end puts one there, but any may, and it stays valid input.
	 */
	if (unlikely(dp->ind_copy == NULL || len > (uint64_t)dp->size * VHOST_DESC_SIZE))
		return NULL;
	while (off < len) {
		mlen = len - off;
		vva = vhost_desc_to_vva(dev, vq, addr + off, &mlen, VHOST_USER_ACCESS_RO);
		if (unlikely(vva == 0 || mlen == 0)) {
			vhost_dp_log_bad(dev, vq, "indirect table outside guest memory");
			return NULL;
		}
		memcpy((uint8_t *)dp->ind_copy + off, (const void *)(uintptr_t)vva, mlen);
		off += mlen;
	}
	return dp->ind_copy;
}

/* ---- guest notification ---- */

void
vhost_kick(struct vhost_dev *dev, struct vhost_vq *vq)
{
	if (dev->trans->vring_call(dev, vq) < 0)
		return;
	if (vq->stats_enabled)
		vq->stats[VHOST_VQ_STAT_GUEST_NOTIFICATIONS]++;
	if (dev->notify_ops != NULL && dev->notify_ops->guest_notified != NULL)
		dev->notify_ops->guest_notified(dev->vid);
}

void
vhost_notify_packed_event(struct vhost_dev *dev, struct vhost_vq *vq)
{
	struct vhost_vq_dp *dp = vq->dp;
	uint16_t off_wrap, old, cur;
	int32_t off, o, c;
	bool kick;

	old = dp->signalled_used;
	cur = vq->last_used_idx;
	if (!dp->signalled_used_valid) {
		kick = true;
		goto record;
	}
	off_wrap = __atomic_load_n(&vq->driver_event->off_wrap, __ATOMIC_RELAXED);
	off = off_wrap & ~(1u << VHOST_PACKED_WRAP_BIT);
	/*
	 * Positions are ring offsets; put old, cur and the driver's event
	 * offset on one line (cur's lap) before comparing.
	 */
	c = cur;
	o = old;
	if (c <= o)
		o -= vq->size;
	if ((bool)(off_wrap >> VHOST_PACKED_WRAP_BIT) != vq->used_wrap_counter)
		off -= vq->size;
	kick = vhost_need_event((uint16_t)off, (uint16_t)c, (uint16_t)o);
record:
	dp->signalled_used = cur;
	dp->signalled_used_valid = true;
	if (kick)
		vhost_kick(dev, vq);
}

void
vhost_vq_notify_apply(struct vhost_dev *dev, struct vhost_vq *vq)
{
	bool enable = !vq->notify_off;

	if (!vq->access_ok)
		return;
	if (vq->packed) {
		uint16_t flags = VRING_PACKED_EVENT_FLAG_DISABLE;

		if (enable && vq->event_idx) {
			uint16_t ow = vq->last_avail_idx |
				(uint16_t)((uint16_t)vq->avail_wrap_counter << VHOST_PACKED_WRAP_BIT);

			__atomic_store_n(&vq->device_event->off_wrap, ow, __ATOMIC_RELAXED);
			flags = VRING_PACKED_EVENT_FLAG_DESC;
		} else if (enable) {
			flags = VRING_PACKED_EVENT_FLAG_ENABLE;
		}
		__atomic_store_n(&vq->device_event->flags, flags, __ATOMIC_RELEASE);
		return;
	}
	if (vq->event_idx) {
		/* avail_event sits right after used->ring[size]. */
		if (enable) {
			uint16_t *ae = (uint16_t *)&vq->used->ring[vq->size];

			__atomic_store_n(ae, vq->last_avail_idx, __ATOMIC_RELEASE);
			vhost_log_used(dev, vq, (uint8_t *)ae - (uint8_t *)vq->used,
				       sizeof(*ae));
		}
	} else {
		uint16_t f = __atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED);

		if (enable)
			f &= ~VRING_USED_F_NO_NOTIFY;
		else
			f |= VRING_USED_F_NO_NOTIFY;
		__atomic_store_n(&vq->used->flags, f, __ATOMIC_RELEASE);
		vhost_log_used(dev, vq, offsetof(struct vring_used, flags), sizeof(f));
	}
}

/* ---- statistics ---- */

void
vhost_stats_update(struct vhost_vq *vq, struct rte_mbuf **pkts, uint16_t n)
{
	uint64_t *s = vq->stats;
	uint64_t bytes = 0;
	uint16_t i;

	/*
	 * net_vhost turns stats on, so this runs on every burst: per-burst
	 * totals are added once, and the destination MAC is looked at only
	 * past its group bit (unicast, the common case, is one byte test).
	 */
	s[VHOST_VQ_STAT_GOOD_PACKETS] += n;
	for (i = 0; i < n; i++) {
		const struct rte_mbuf *m = pkts[i];
		uint32_t len = m->pkt_len;

		bytes += len;
		if (len == 64)
			s[VHOST_VQ_STAT_SIZE_64]++;
		else if (len < 64)
			s[VHOST_VQ_STAT_UNDERSIZE]++;
		else if (len < 1024)
			/* 65-127 has its top bit at 6, 512-1023 at 9. */
			s[VHOST_VQ_STAT_SIZE_65_127 + (31 - __builtin_clz(len)) - 6]++;
		else if (len < 1519)
			s[VHOST_VQ_STAT_SIZE_1024_1518]++;
		else
			s[VHOST_VQ_STAT_SIZE_1519_MAX]++;

		if (likely(m->data_len >= RTE_ETHER_ADDR_LEN)) {
			const struct rte_ether_addr *dst =
				rte_pktmbuf_mtod(m, const struct rte_ether_addr *);

			if (unlikely(rte_is_multicast_ether_addr(dst))) {
				if (rte_is_broadcast_ether_addr(dst))
					s[VHOST_VQ_STAT_BROADCAST]++;
				else
					s[VHOST_VQ_STAT_MULTICAST]++;
			}
		}
	}
	s[VHOST_VQ_STAT_GOOD_BYTES] += bytes;
}

/* ---- extbuf mbufs (RTE_VHOST_USER_EXTBUF_SUPPORT) ---- */

static void
vhost_extbuf_free(void *addr, void *opaque)
{
	RTE_SET_USED(opaque);
	rte_free(addr);
}

int
vhost_extbuf_attach(struct rte_mbuf *m, uint32_t len)
{
	struct rte_mbuf_ext_shared_info *shinfo;
	uint32_t total = RTE_PKTMBUF_HEADROOM + len + sizeof(*shinfo) + sizeof(uintptr_t);
	uint16_t buf_len;
	void *buf;

	/* mbuf buf_len is 16 bits. */
	if (total > UINT16_MAX)
		return -ENOSPC;
	buf = rte_malloc(NULL, total, RTE_CACHE_LINE_SIZE);
	if (buf == NULL)
		return -ENOMEM;
	buf_len = (uint16_t)total;
	shinfo = rte_pktmbuf_ext_shinfo_init_helper(buf, &buf_len, vhost_extbuf_free, buf);
	if (shinfo == NULL) {
		rte_free(buf);
		return -ENOMEM;
	}
	rte_pktmbuf_attach_extbuf(m, buf, rte_malloc_virt2iova(buf), buf_len, shinfo);
	rte_pktmbuf_reset_headroom(m);
	return 0;
}

/* ---- RARP announcement after migration (SEND_RARP) ---- */

static struct rte_mbuf *
vhost_rarp_build(struct vhost_dev *dev, struct rte_mempool *pool)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;
	struct rte_ether_addr mac;

	if (m == NULL)
		return NULL;
	if (rte_pktmbuf_tailroom(m) < VHOST_RARP_PKT_SIZE) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memcpy(mac.addr_bytes, dev->rarp_mac, RTE_ETHER_ADDR_LEN);
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	memset(eth, 0, VHOST_RARP_PKT_SIZE);
	memset(eth->dst_addr.addr_bytes, 0xff, RTE_ETHER_ADDR_LEN);
	rte_ether_addr_copy(&mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_RARP);

	/* "Who am I": reverse request with our MAC as sender and target. */
	arp = (struct rte_arp_hdr *)(eth + 1);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = VHOST_RARP_IPV4_ALEN;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REVREQUEST);
	rte_ether_addr_copy(&mac, &arp->arp_data.arp_sha);
	rte_ether_addr_copy(&mac, &arp->arp_data.arp_tha);

	m->data_len = VHOST_RARP_PKT_SIZE;
	m->pkt_len = VHOST_RARP_PKT_SIZE;
	return m;
}

/* ---- queue-level bursts ---- */

/*
 * The RARP announcement, if it is still pending (one caller takes it), in
 * pkts[0]: 1, or 0. Out of line: it runs once after a migration.
 */
static __rte_noinline uint16_t
vhost_rarp_inject(struct vhost_dev *dev, struct rte_mempool *pool, struct rte_mbuf **pkts)
{
	struct rte_mbuf *rarp;

	if (!__atomic_exchange_n(&dev->rarp_pending, false, __ATOMIC_ACQUIRE))
		return 0;
	rarp = vhost_rarp_build(dev, pool);
	if (rarp == NULL) {
		VHOST_LOG_DATA(dev->ifname, ERR, "no mbuf for the RARP announcement\n");
		return 0;
	}
	pkts[0] = rarp;
	return 1;
}

static __rte_always_inline bool
vhost_vq_usable(const struct vhost_dev *dev, const struct vhost_vq *vq)
{
	const struct vhost_vq_dp *dp = vq->dp;

	return likely((dev->flags & VHOST_DEV_RUNNING) && vq->access_ok && vq->enabled &&
		      dp != NULL && dp->size == vq->size);
}

/* vhost_vq_enqueue(), inlined into the public call (one frame less per burst). */
static __rte_always_inline uint16_t
vhost_vq_enqueue_inline(struct vhost_dev *dev, struct vhost_vq *vq,
			struct rte_mbuf **pkts, uint16_t count)
{
	uint16_t n = 0;

	rte_spinlock_lock(&vq->access_lock);
	if (unlikely(!vhost_vq_usable(dev, vq)))
		goto out;
	count = RTE_MIN(count, (uint16_t)VHOST_MAX_BURST);
	if (vq->packed)
		n = vhost_packed_enqueue(dev, vq, pkts, count);
	else
		n = vhost_split_enqueue(dev, vq, pkts, count);
	if (unlikely(vq->stats_enabled) && n != 0)
		vhost_stats_update(vq, pkts, n);
out:
	rte_spinlock_unlock(&vq->access_lock);
	return n;
}

uint16_t
vhost_vq_enqueue(struct vhost_dev *dev, struct vhost_vq *vq,
		 struct rte_mbuf **pkts, uint16_t count)
{
	return vhost_vq_enqueue_inline(dev, vq, pkts, count);
}

/*
 * vhost_vq_dequeue(), inlined into the public call: a poll that finds one
 * packet or none should not pay a call more.
 */
static __rte_always_inline uint16_t
vhost_vq_dequeue_inline(struct vhost_dev *dev, struct vhost_vq *vq,
			struct rte_mempool *pool, struct rte_mbuf **pkts, uint16_t count)
{
	uint16_t n = 0;

	if (unlikely(rte_spinlock_trylock(&vq->access_lock) == 0))
		return 0;
	if (unlikely(!vhost_vq_usable(dev, vq) || count == 0))
		goto out;
	count = RTE_MIN(count, (uint16_t)VHOST_MAX_BURST);

	/* One broadcast after migration so switches learn where we are. */
	if (unlikely(__atomic_load_n(&dev->rarp_pending, __ATOMIC_RELAXED))) {
		n = vhost_rarp_inject(dev, pool, pkts);
		count -= n;
	}
	if (count != 0) {
		if (vq->packed)
			n += vhost_packed_dequeue(dev, vq, pool, pkts + n, count);
		else
			n += vhost_split_dequeue(dev, vq, pool, pkts + n, count);
	}
	if (unlikely(vq->stats_enabled) && n != 0)
		vhost_stats_update(vq, pkts, n);
out:
	rte_spinlock_unlock(&vq->access_lock);
	return n;
}

uint16_t
vhost_vq_dequeue(struct vhost_dev *dev, struct vhost_vq *vq,
		 struct rte_mempool *pool, struct rte_mbuf **pkts, uint16_t count)
{
	return vhost_vq_dequeue_inline(dev, vq, pool, pkts, count);
}

/* ---- public API ---- */

/* The queue vring idx of vid, or NULL; no logging (data-path callers). */
static __rte_always_inline struct vhost_vq *
vhost_vq_lookup(int vid, uint32_t idx, struct vhost_dev **devp)
{
	struct vhost_dev *dev = vhost_dev_lookup(vid);

	if (unlikely(dev == NULL || idx >= VHOST_MAX_VRING ||
		     idx >= __atomic_load_n(&dev->nr_vring, __ATOMIC_ACQUIRE)))
		return NULL;
	*devp = dev;
	return __atomic_load_n(&dev->vq[idx], __ATOMIC_ACQUIRE);
}

/* A burst queue of the right direction (tx: odd), logging misuse. */
static __rte_always_inline struct vhost_vq *
vhost_burst_vq(int vid, uint16_t queue_id, bool tx, struct vhost_dev **devp)
{
	struct vhost_vq *vq = vhost_vq_lookup(vid, queue_id, devp);

	if (unlikely(vq == NULL || (bool)(queue_id & 1) != tx)) {
		struct vhost_dev *dev = vhost_dev_lookup(vid);
		static uint64_t next_tsc;
		uint64_t now = rte_get_tsc_cycles();

		if (dev != NULL && now >= __atomic_load_n(&next_tsc, __ATOMIC_RELAXED)) {
			__atomic_store_n(&next_tsc, now + rte_get_tsc_hz(), __ATOMIC_RELAXED);
			VHOST_LOG_DATA(dev->ifname, ERR, "%s: invalid virtqueue index %u\n",
				       tx ? "dequeue" : "enqueue", queue_id);
		}
		return NULL;
	}
	return vq;
}

uint16_t
rte_vhost_enqueue_burst(int vid, uint16_t queue_id, struct rte_mbuf **pkts, uint16_t count)
{
	struct vhost_dev *dev;
	struct vhost_vq *vq = vhost_burst_vq(vid, queue_id, false, &dev);

	if (unlikely(vq == NULL || pkts == NULL))
		return 0;
	return vhost_vq_enqueue_inline(dev, vq, pkts, count);
}

uint16_t
rte_vhost_dequeue_burst(int vid, uint16_t queue_id, struct rte_mempool *mbuf_pool,
			struct rte_mbuf **pkts, uint16_t count)
{
	struct vhost_dev *dev;
	struct vhost_vq *vq = vhost_burst_vq(vid, queue_id, true, &dev);

	if (unlikely(vq == NULL || pkts == NULL || mbuf_pool == NULL))
		return 0;
	return vhost_vq_dequeue_inline(dev, vq, mbuf_pool, pkts, count);
}

/* Descriptors the driver has made available and we have not taken. */
static uint32_t
vhost_vq_avail_count(const struct vhost_vq *vq, uint16_t from)
{
	uint32_t n = 0;

	if (!vq->packed)
		return (uint16_t)(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) - from);
	if (vq->last_avail_idx < vq->size) {
		uint16_t idx = vq->last_avail_idx;
		bool wrap = vq->avail_wrap_counter;

		/* Walk the flags; a full lap at most. */
		while (n < vq->size) {
			uint16_t f = __atomic_load_n(&vq->desc_packed[idx].flags,
						     __ATOMIC_ACQUIRE);

			if (((f & VHOST_PACKED_F_AVAIL) != 0) != wrap ||
			    ((f & VHOST_PACKED_F_USED) != 0) == wrap)
				break;
			n++;
			if (++idx >= vq->size) {
				idx = 0;
				wrap = !wrap;
			}
		}
	}
	return n;
}

uint32_t
rte_vhost_rx_queue_count(int vid, uint16_t qid)
{
	struct vhost_dev *dev;
	struct vhost_vq *vq = vhost_burst_vq(vid, qid, true, &dev);
	uint32_t n = 0;

	if (vq == NULL)
		return 0;
	rte_spinlock_lock(&vq->access_lock);
	if (vq->access_ok && vq->enabled)
		n = vhost_vq_avail_count(vq, vq->last_avail_idx);
	rte_spinlock_unlock(&vq->access_lock);
	return n;
}

uint16_t
rte_vhost_avail_entries(int vid, uint16_t queue_id)
{
	struct vhost_dev *dev;
	struct vhost_vq *vq = vhost_vq_lookup(vid, queue_id, &dev);
	uint16_t n = 0;

	if (vq == NULL)
		return 0;
	rte_spinlock_lock(&vq->access_lock);
	/* DPDK counts from the used index here (entries not yet returned). */
	if (vq->access_ok && vq->enabled)
		n = (uint16_t)vhost_vq_avail_count(vq, vq->last_used_idx);
	rte_spinlock_unlock(&vq->access_lock);
	return n;
}

int
rte_vhost_enable_guest_notification(int vid, uint16_t queue_id, int enable)
{
	struct vhost_dev *dev;
	struct vhost_vq *vq = vhost_vq_lookup(vid, queue_id, &dev);

	if (vq == NULL)
		return -1;
	rte_spinlock_lock(&vq->access_lock);
	vq->notify_off = !enable;
	/* Not translated yet: the handler applies it when it is. */
	vhost_vq_notify_apply(dev, vq);
	rte_spinlock_unlock(&vq->access_lock);
	return 0;
}

int
rte_vhost_get_monitor_addr(int vid, uint16_t queue_id,
			   struct rte_vhost_power_monitor_cond *pmc)
{
	struct vhost_dev *dev;
	struct vhost_vq *vq = vhost_vq_lookup(vid, queue_id, &dev);
	int ret = -1;

	if (vq == NULL || pmc == NULL)
		return -1;
	rte_spinlock_lock(&vq->access_lock);
	if (!vq->access_ok || vq->size == 0)
		goto out;
	if (vq->packed) {
		uint16_t idx = vq->last_avail_idx < vq->size ? vq->last_avail_idx : 0;

		/* Wake when the next slot turns available for our wrap. */
		pmc->addr = &vq->desc_packed[idx].flags;
		pmc->val = vq->avail_wrap_counter ? VHOST_PACKED_F_AVAIL : VHOST_PACKED_F_USED;
		pmc->mask = VHOST_PACKED_F_AVAIL | VHOST_PACKED_F_USED;
		pmc->size = sizeof(vq->desc_packed[idx].flags);
		pmc->match = 1;
	} else {
		/* Wake when avail->idx leaves the value we stopped at. */
		pmc->addr = &vq->avail->idx;
		pmc->val = vq->last_avail_idx & (vq->size - 1);
		pmc->mask = vq->size - 1;
		pmc->size = sizeof(vq->avail->idx);
		pmc->match = 0;
	}
	ret = 0;
out:
	rte_spinlock_unlock(&vq->access_lock);
	return ret;
}

/*
 * Explicit call from an application (one that completed buffers itself, as
 * vhost-blk back-ends do, or one that batches its own notifications). The
 * front-end's suppression is honoured as in the data path, like DPDK: on a
 * split ring the used index is read back from the ring, since an
 * application that fills the used ring itself moves it without us; a
 * packed ring has no such index, so the library's own position is used.
 */
static int
vhost_vring_call_locked(struct vhost_dev *dev, struct vhost_vq *vq)
{
	if (!vq->access_ok || vq->dp == NULL)
		return -1;
	if (vq->packed) {
		vhost_notify_packed(dev, vq);
		return 0;
	}
	vhost_notify_split_at(dev, vq, __atomic_load_n(&vq->used->idx, __ATOMIC_RELAXED));
	return 0;
}

int
rte_vhost_vring_call(int vid, uint16_t vring_idx)
{
	struct vhost_dev *dev;
	struct vhost_vq *vq = vhost_vq_lookup(vid, vring_idx, &dev);
	int ret;

	if (vq == NULL)
		return -1;
	rte_spinlock_lock(&vq->access_lock);
	ret = vhost_vring_call_locked(dev, vq);
	rte_spinlock_unlock(&vq->access_lock);
	return ret;
}

int
rte_vhost_vring_call_nonblock(int vid, uint16_t vring_idx)
{
	struct vhost_dev *dev;
	struct vhost_vq *vq = vhost_vq_lookup(vid, vring_idx, &dev);
	int ret;

	if (vq == NULL)
		return -1;
	if (rte_spinlock_trylock(&vq->access_lock) == 0)
		return -EAGAIN;
	ret = vhost_vring_call_locked(dev, vq);
	rte_spinlock_unlock(&vq->access_lock);
	return ret;
}

/* The queue's stats, or NULL (DPDK answers -1 for all of these cases). */
static struct vhost_vq *
vhost_stats_vq(int vid, uint16_t queue_id)
{
	struct vhost_dev *dev;
	struct vhost_vq *vq = vhost_vq_lookup(vid, queue_id, &dev);

	if (vq == NULL || !vq->stats_enabled)
		return NULL;
	return vq;
}

int
rte_vhost_vring_stats_get_names(int vid, uint16_t queue_id,
				struct rte_vhost_stat_name *name, unsigned int size)
{
	unsigned int i;

	if (vhost_stats_vq(vid, queue_id) == NULL)
		return -1;
	if (name == NULL || size < VHOST_VQ_STAT_MAX)
		return VHOST_VQ_STAT_MAX;
	/* Named from the application's side, like DPDK: odd = its rx. */
	for (i = 0; i < VHOST_VQ_STAT_MAX; i++)
		snprintf(name[i].name, sizeof(name[i].name), "%s_q%u_%s",
			 (queue_id & 1) ? "rx" : "tx", queue_id / 2, vhost_vq_stat_names[i]);
	return VHOST_VQ_STAT_MAX;
}

int
rte_vhost_vring_stats_get(int vid, uint16_t queue_id, struct rte_vhost_stat *stats,
			  unsigned int n)
{
	struct vhost_vq *vq = vhost_stats_vq(vid, queue_id);
	unsigned int i;

	if (vq == NULL)
		return -1;
	if (stats == NULL || n < VHOST_VQ_STAT_MAX)
		return VHOST_VQ_STAT_MAX;
	rte_spinlock_lock(&vq->access_lock);
	for (i = 0; i < VHOST_VQ_STAT_MAX; i++) {
		stats[i].id = i;
		stats[i].value = vq->stats[i];
	}
	rte_spinlock_unlock(&vq->access_lock);
	return VHOST_VQ_STAT_MAX;
}

int
rte_vhost_vring_stats_reset(int vid, uint16_t queue_id)
{
	struct vhost_vq *vq = vhost_stats_vq(vid, queue_id);

	if (vq == NULL)
		return -1;
	rte_spinlock_lock(&vq->access_lock);
	memset(vq->stats, 0, sizeof(vq->stats));
	rte_spinlock_unlock(&vq->access_lock);
	return 0;
}

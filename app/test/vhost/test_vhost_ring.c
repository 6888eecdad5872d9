/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Data-path tests: split and packed rings driven by a fake front-end.
 *
 * Guest memory is two malloc'd regions that are adjacent in guest-physical
 * space (0x100000 and 0x200000) but not in host VA, so a buffer crossing
 * 0x200000 must be split and one crossing 0x300000 leaves guest memory.
 * Rings live at the start of region 0, buffers after them. The tests play
 * the driver (post chains, move indexes) and check exactly what the device
 * side wrote: used entries, lengths, bytes, notification calls, counters.
 */

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "test.h"
#include "test_eal.h"
#include "vhost.h"
#include "vhost_dp.h"
#include "vhost_transport.h"

#define R0_GPA		0x100000ULL
#define R1_GPA		0x200000ULL
#define REG_SIZE	0x100000ULL
#define DESC_GPA	R0_GPA
#define AVAIL_GPA	(R0_GPA + 0x8000)
#define USED_GPA	(R0_GPA + 0x9000)
#define IND_GPA		(R0_GPA + 0xa000)
#define BUF_GPA(i)	(R0_GPA + 0x10000 + (uint64_t)(i) * 0x1000)
#define HLEN		12
#define RING_SIZE	256

static uint8_t *region[2];
static struct rte_vhost_memory *mem;
static struct vhost_dev *dev;
static struct vhost_vq *vq;
static struct rte_mempool *pool;
static int calls;
static uint16_t drv_idx;	/* packed: driver's next slot */
static bool drv_wrap;

static int
test_vring_call(struct vhost_dev *d, struct vhost_vq *q)
{
	RTE_SET_USED(d);
	RTE_SET_USED(q);
	calls++;
	return 0;
}

static const struct vhost_transport_ops test_trans = {
	.name = "test",
	.vring_call = test_vring_call,
};

static void *
hva(uint64_t gpa)
{
	if (gpa >= R0_GPA && gpa < R0_GPA + REG_SIZE)
		return region[0] + (gpa - R0_GPA);
	if (gpa >= R1_GPA && gpa < R1_GPA + REG_SIZE)
		return region[1] + (gpa - R1_GPA);
	abort();
}

static void ro_restore(void);

static void
ring_setup(bool packed, uint16_t size, uint64_t features)
{
	ro_restore();	/* a case that failed may have left pages protected */
	memset(region[0], 0, REG_SIZE);
	memset(region[1], 0, REG_SIZE);
	dev->features = features | (1ULL << VIRTIO_F_VERSION_1);
	dev->vhost_hlen = HLEN;
	dev->compliant_ol_flags = false;
	dev->linearbuf = false;
	dev->extbuf = false;
	dev->log_addr = 0;
	dev->log_size = 0;
	dev->rarp_pending = false;
	dev->flags = VHOST_DEV_RUNNING;
	vq->size = size;
	vq->packed = packed;
	vq->event_idx = !!(features & (1ULL << VIRTIO_RING_F_EVENT_IDX));
	vq->desc = hva(DESC_GPA);
	vq->avail = hva(AVAIL_GPA);
	vq->used = hva(USED_GPA);
	vq->last_avail_idx = 0;
	vq->last_used_idx = 0;
	vq->avail_wrap_counter = true;
	vq->used_wrap_counter = true;
	vq->access_ok = true;
	vq->enabled = true;
	vq->notify_off = false;
	vq->stats_enabled = false;
	vq->log_used = false;
	memset(vq->stats, 0, sizeof(vq->stats));
	if (vhost_vq_dp_init(dev, vq) != 0)
		abort();
	vhost_vq_dp_reset(vq);
	calls = 0;
	drv_idx = 0;
	drv_wrap = true;
}

/* ---- fake driver: split ---- */

static void
sdesc(uint16_t i, uint64_t gpa, uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc *d = &vq->desc[i];

	d->addr = gpa;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

static void
spost(uint16_t head)
{
	vq->avail->ring[vq->avail->idx & (vq->size - 1)] = head;
	vq->avail->idx++;
}

/* ---- fake driver: packed ---- */

static void
ppost(uint64_t gpa, uint32_t len, uint16_t id, uint16_t flags)
{
	struct vring_packed_desc *d = &vq->desc_packed[drv_idx];

	d->addr = gpa;
	d->len = len;
	d->id = id;
	d->flags = flags | (drv_wrap ? VHOST_PACKED_F_AVAIL : VHOST_PACKED_F_USED);
	if (++drv_idx == vq->size) {
		drv_idx = 0;
		drv_wrap = !drv_wrap;
	}
}

static bool
pused(uint16_t slot, bool wrap)
{
	uint16_t f = vq->desc_packed[slot].flags;
	uint16_t want = wrap ? (VHOST_PACKED_F_AVAIL | VHOST_PACKED_F_USED) : 0;

	return (f & (VHOST_PACKED_F_AVAIL | VHOST_PACKED_F_USED)) == want;
}

/* ---- packets ---- */

static void
fill_pattern(uint8_t *p, uint32_t len, uint8_t seed)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

/* A tx packet in guest memory: zero header then the pattern. */
static void
guest_pkt(uint64_t gpa, uint32_t len, uint8_t seed)
{
	memset(hva(gpa), 0, HLEN);
	fill_pattern((uint8_t *)hva(gpa) + HLEN, len, seed);
}

static int
check_pattern(const struct rte_mbuf *m, uint32_t len, uint8_t seed)
{
	uint8_t buf[4096], want[4096];
	const void *p;

	if (m->pkt_len != len || len > sizeof(buf))
		return -1;
	p = rte_pktmbuf_read(m, 0, len, buf);
	if (p == NULL)
		return -1;
	fill_pattern(want, len, seed);
	return memcmp(p, want, len) == 0 ? 0 : -1;
}

static struct rte_mbuf *
host_pkt(uint32_t len, uint8_t seed)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint8_t *p;

	if (m == NULL)
		abort();
	p = (uint8_t *)rte_pktmbuf_append(m, len);
	if (p == NULL)
		abort();
	fill_pattern(p, len, seed);
	return m;
}

static void
free_all(struct rte_mbuf **m, uint16_t n)
{
	uint16_t i;

	for (i = 0; i < n; i++)
		rte_pktmbuf_free(m[i]);
}

static uint16_t
deq(struct rte_mbuf **pkts, uint16_t n)
{
	return vhost_vq_dequeue(dev, vq, pool, pkts, n);
}

/* ---- split: round trips ---- */

TEST_CASE(split_tx_roundtrip)
{
	struct rte_mbuf *pkts[4];
	uint16_t n;

	ring_setup(false, RING_SIZE, 0);
	guest_pkt(BUF_GPA(0), 60, 1);
	guest_pkt(BUF_GPA(1), 1000, 2);
	sdesc(0, BUF_GPA(0), HLEN + 60, 0, 0);
	sdesc(5, BUF_GPA(1), HLEN + 1000, 0, 0);
	spost(0);
	spost(5);
	n = deq(pkts, 4);
	TEST_ASSERT_EQ(n, 2);
	TEST_ASSERT_EQ(check_pattern(pkts[0], 60, 1), 0);
	TEST_ASSERT_EQ(check_pattern(pkts[1], 1000, 2), 0);
	TEST_ASSERT_EQ(vq->used->idx, 2);
	TEST_ASSERT_EQ(vq->used->ring[0].id, 0);
	TEST_ASSERT_EQ(vq->used->ring[1].id, 5);
	TEST_ASSERT_EQ(vq->used->ring[1].len, 0);
	TEST_ASSERT_EQ(calls, 1);
	free_all(pkts, n);
	/* Nothing more: no packets, no call. */
	TEST_ASSERT_EQ(deq(pkts, 4), 0);
	TEST_ASSERT_EQ(calls, 1);
}

TEST_CASE(split_tx_chained_mbufs)
{
	struct rte_mbuf *pkts[1];

	ring_setup(false, RING_SIZE, 0);
	/* 3000 bytes over three descriptors; more than one mbuf's room. */
	memset(hva(BUF_GPA(0)), 0, HLEN);
	fill_pattern(hva(BUF_GPA(1)), 3000, 9);
	sdesc(0, BUF_GPA(0), HLEN, VRING_DESC_F_NEXT, 1);
	sdesc(1, BUF_GPA(1), 1000, VRING_DESC_F_NEXT, 2);
	sdesc(2, BUF_GPA(1) + 1000, 2000, 0, 0);
	spost(0);
	TEST_ASSERT_EQ(deq(pkts, 1), 1);
	TEST_ASSERT(pkts[0]->nb_segs > 1, "expected a chained mbuf");
	TEST_ASSERT_EQ(check_pattern(pkts[0], 3000, 9), 0);
	rte_pktmbuf_free(pkts[0]);

	/* linearbuf: the same packet is dropped, its chain returned. */
	dev->linearbuf = true;
	spost(0);
	TEST_ASSERT_EQ(deq(pkts, 1), 0);
	TEST_ASSERT_EQ(vq->used->idx, 2);
}

TEST_CASE(split_rx_roundtrip)
{
	struct rte_mbuf *m[2] = { host_pkt(100, 3), host_pkt(64, 4) };
	struct virtio_net_hdr_mrg_rxbuf *h;

	ring_setup(false, RING_SIZE, 0);
	sdesc(0, BUF_GPA(0), 2048, VRING_DESC_F_WRITE, 0);
	sdesc(1, BUF_GPA(1), 2048, VRING_DESC_F_WRITE, 0);
	spost(0);
	spost(1);
	TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, m, 2), 2);
	TEST_ASSERT_EQ(vq->used->idx, 2);
	TEST_ASSERT_EQ(vq->used->ring[0].len, HLEN + 100);
	TEST_ASSERT_EQ(vq->used->ring[1].len, HLEN + 64);
	h = hva(BUF_GPA(0));
	TEST_ASSERT_EQ(h->num_buffers, 1);
	TEST_ASSERT_EQ(h->hdr.flags, 0);
	TEST_ASSERT(memcmp((uint8_t *)h + HLEN, rte_pktmbuf_mtod(m[0], void *), 100) == 0,
		    "payload differs");
	TEST_ASSERT(memcmp((uint8_t *)hva(BUF_GPA(1)) + HLEN,
			   rte_pktmbuf_mtod(m[1], void *), 64) == 0, "payload differs");
	TEST_ASSERT_EQ(calls, 1);
	/* No buffers left: nothing enqueued, nothing called. */
	TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, m, 2), 0);
	TEST_ASSERT_EQ(calls, 1);
	free_all(m, 2);
}

TEST_CASE(split_rx_mergeable)
{
	struct rte_mbuf *m = host_pkt(200, 5);
	struct rte_mbuf *seg = host_pkt(50, 6);
	uint8_t out[250], want[250];
	uint16_t i;
	uint32_t off = 0;

	ring_setup(false, RING_SIZE, 1ULL << VIRTIO_NET_F_MRG_RXBUF);
	/* A chained mbuf: 200 + 50 bytes. */
	rte_pktmbuf_chain(m, seg);
	for (i = 0; i < 6; i++) {
		sdesc(i, BUF_GPA(i), 64, VRING_DESC_F_WRITE, 0);
		spost(i);
	}
	/* 262 bytes with the header: 5 buffers of 64 (4 full + 6 bytes). */
	TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, &m, 1), 1);
	TEST_ASSERT_EQ(vq->used->idx, 5);
	TEST_ASSERT_EQ(((struct virtio_net_hdr_mrg_rxbuf *)hva(BUF_GPA(0)))->num_buffers, 5);
	for (i = 0; i < 4; i++)
		TEST_ASSERT_EQ(vq->used->ring[i].len, 64);
	TEST_ASSERT_EQ(vq->used->ring[4].len, 6);
	memcpy(out, (uint8_t *)hva(BUF_GPA(0)) + HLEN, 64 - HLEN);
	off = 64 - HLEN;
	for (i = 1; i < 5; i++) {
		uint32_t n = RTE_MIN(64u, 250 - off);

		memcpy(out + off, hva(BUF_GPA(i)), n);
		off += n;
	}
	TEST_ASSERT_EQ(off, 250);
	fill_pattern(want, 200, 5);
	fill_pattern(want + 200, 50, 6);
	TEST_ASSERT(memcmp(out, want, 250) == 0, "reassembled payload differs");
	rte_pktmbuf_free(m);
}

TEST_CASE(split_rx_not_enough_buffers)
{
	struct rte_mbuf *m = host_pkt(200, 5);

	ring_setup(false, RING_SIZE, 1ULL << VIRTIO_NET_F_MRG_RXBUF);
	sdesc(0, BUF_GPA(0), 64, VRING_DESC_F_WRITE, 0);
	sdesc(1, BUF_GPA(1), 64, VRING_DESC_F_WRITE, 0);
	spost(0);
	spost(1);
	/* Needs 4 buffers, 2 posted: not sent, nothing consumed. */
	TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, &m, 1), 0);
	TEST_ASSERT_EQ(vq->last_avail_idx, 0);
	TEST_ASSERT_EQ(vq->used->idx, 0);
	TEST_ASSERT_EQ(calls, 0);
	rte_pktmbuf_free(m);
}

TEST_CASE(split_tx_indirect)
{
	struct vring_desc *t = hva(IND_GPA);
	struct rte_mbuf *pkts[1];

	ring_setup(false, RING_SIZE, 1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	memset(hva(BUF_GPA(0)), 0, HLEN);
	fill_pattern(hva(BUF_GPA(1)), 300, 7);
	t[0] = (struct vring_desc){ BUF_GPA(0), HLEN, VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ BUF_GPA(1), 300, 0, 0 };
	sdesc(3, IND_GPA, 2 * sizeof(*t), VRING_DESC_F_INDIRECT, 0);
	spost(3);
	TEST_ASSERT_EQ(deq(pkts, 1), 1);
	TEST_ASSERT_EQ(check_pattern(pkts[0], 300, 7), 0);
	TEST_ASSERT_EQ(vq->used->ring[0].id, 3);
	rte_pktmbuf_free(pkts[0]);
}

TEST_CASE(split_rx_indirect)
{
	struct vring_desc *t = hva(IND_GPA);
	struct rte_mbuf *m = host_pkt(100, 8);

	ring_setup(false, RING_SIZE, 0);
	t[0] = (struct vring_desc){ BUF_GPA(0), 50, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ BUF_GPA(1), 1000, VRING_DESC_F_WRITE, 0 };
	sdesc(0, IND_GPA, 32, VRING_DESC_F_INDIRECT, 0);
	spost(0);
	TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, &m, 1), 1);
	TEST_ASSERT_EQ(vq->used->ring[0].len, HLEN + 100);
	TEST_ASSERT(memcmp((uint8_t *)hva(BUF_GPA(0)) + HLEN, rte_pktmbuf_mtod(m, void *),
			   50 - HLEN) == 0, "first piece differs");
	TEST_ASSERT(memcmp(hva(BUF_GPA(1)), rte_pktmbuf_mtod(m, uint8_t *) + 50 - HLEN,
			   100 - (50 - HLEN)) == 0, "second piece differs");
	rte_pktmbuf_free(m);
}

/*
 * Post one bad tx chain at head 0 followed by a good one at head 9: the bad
 * one must be dropped (returned with length 0), the good one delivered.
 */
static void
expect_drop_then_good(void)
{
	struct rte_mbuf *pkts[2];

	guest_pkt(BUF_GPA(20), 80, 11);
	sdesc(9, BUF_GPA(20), HLEN + 80, 0, 0);
	spost(0);
	spost(9);
	TEST_ASSERT_EQ(deq(pkts, 2), 1);
	TEST_ASSERT_EQ(check_pattern(pkts[0], 80, 11), 0);
	TEST_ASSERT_EQ(vq->used->idx, 2);
	TEST_ASSERT_EQ(vq->used->ring[0].id, 0);
	TEST_ASSERT_EQ(vq->used->ring[0].len, 0);
	TEST_ASSERT_EQ(vq->used->ring[1].id, 9);
	rte_pktmbuf_free(pkts[0]);
}

TEST_CASE(split_tx_loop_dropped)
{
	ring_setup(false, RING_SIZE, 0);
	guest_pkt(BUF_GPA(0), 100, 1);
	sdesc(0, BUF_GPA(0), HLEN + 10, VRING_DESC_F_NEXT, 1);
	sdesc(1, BUF_GPA(0), 10, VRING_DESC_F_NEXT, 0);
	expect_drop_then_good();
}

TEST_CASE(split_tx_chain_longer_than_ring)
{
	uint16_t i;

	ring_setup(false, 16, 0);
	/* 0 -> 1 -> ... -> 15 -> 0 (9 left out for the good chain). */
	for (i = 0; i < 16; i++)
		sdesc(i, BUF_GPA(0), 16, VRING_DESC_F_NEXT, i == 8 ? 10 : (i + 1) % 16);
	expect_drop_then_good();
}

TEST_CASE(split_tx_nested_indirect)
{
	struct vring_desc *t = hva(IND_GPA);

	ring_setup(false, RING_SIZE, 0);
	t[0] = (struct vring_desc){ IND_GPA, 32, VRING_DESC_F_INDIRECT, 0 };
	t[1] = (struct vring_desc){ BUF_GPA(0), 100, 0, 0 };
	sdesc(0, IND_GPA, 32, VRING_DESC_F_INDIRECT, 0);
	expect_drop_then_good();
}

TEST_CASE(split_tx_indirect_bad_len)
{
	struct vring_desc *t = hva(IND_GPA);
	static const uint32_t bad[] = { 0, 24, (RING_SIZE + 1) * 16 };
	unsigned int k;

	for (k = 0; k < RTE_DIM(bad); k++) {
		ring_setup(false, RING_SIZE, 0);
		guest_pkt(BUF_GPA(0), 100, 1);
		t[0] = (struct vring_desc){ BUF_GPA(0), HLEN + 100, 0, 0 };
		sdesc(0, IND_GPA, bad[k], VRING_DESC_F_INDIRECT, 0);
		expect_drop_then_good();
	}
}

TEST_CASE(split_tx_indirect_next_out_of_table)
{
	struct vring_desc *t = hva(IND_GPA);

	ring_setup(false, RING_SIZE, 0);
	/* A 2-entry table whose first entry links to entry 5. */
	t[0] = (struct vring_desc){ BUF_GPA(0), HLEN, VRING_DESC_F_NEXT, 5 };
	t[1] = (struct vring_desc){ BUF_GPA(0), 100, 0, 0 };
	sdesc(0, IND_GPA, 32, VRING_DESC_F_INDIRECT, 0);
	expect_drop_then_good();
}

TEST_CASE(split_tx_addr_outside)
{
	ring_setup(false, RING_SIZE, 0);
	sdesc(0, 0x50000000ULL, 100, 0, 0);
	expect_drop_then_good();
}

TEST_CASE(split_tx_straddle_regions)
{
	struct rte_mbuf *pkts[1];
	uint64_t gpa = R1_GPA - 40;	/* 40 bytes in region 0, the rest in 1 */
	uint8_t tmp[HLEN + 200];

	ring_setup(false, RING_SIZE, 0);
	memset(tmp, 0, HLEN);
	fill_pattern(tmp + HLEN, 200, 12);
	memcpy(hva(gpa), tmp, 40);
	memcpy(hva(R1_GPA), tmp + 40, sizeof(tmp) - 40);
	sdesc(0, gpa, sizeof(tmp), 0, 0);
	spost(0);
	TEST_ASSERT_EQ(deq(pkts, 1), 1);
	TEST_ASSERT_EQ(check_pattern(pkts[0], 200, 12), 0);
	rte_pktmbuf_free(pkts[0]);

	/* Running off the end of guest memory: dropped. */
	ring_setup(false, RING_SIZE, 0);
	sdesc(0, R1_GPA + REG_SIZE - 50, 100, 0, 0);
	expect_drop_then_good();
}

TEST_CASE(split_rx_straddle_regions)
{
	struct rte_mbuf *m = host_pkt(200, 13);
	uint64_t gpa = R1_GPA - 40;
	uint8_t out[HLEN + 200];

	ring_setup(false, RING_SIZE, 0);
	sdesc(0, gpa, 1000, VRING_DESC_F_WRITE, 0);
	spost(0);
	TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, &m, 1), 1);
	memcpy(out, hva(gpa), 40);
	memcpy(out + 40, hva(R1_GPA), sizeof(out) - 40);
	TEST_ASSERT(memcmp(out + HLEN, rte_pktmbuf_mtod(m, void *), 200) == 0,
		    "payload differs");
	rte_pktmbuf_free(m);
}

TEST_CASE(split_tx_header_split)
{
	struct rte_mbuf *pkts[1];
	struct virtio_net_hdr *h;

	ring_setup(false, RING_SIZE, 1ULL << VIRTIO_NET_F_CSUM);
	/* Header over three descriptors (5 + 4 + 3), then the data. */
	fill_pattern(hva(BUF_GPA(3)), 100, 14);
	sdesc(0, BUF_GPA(0), 5, VRING_DESC_F_NEXT, 1);
	sdesc(1, BUF_GPA(1), 4, VRING_DESC_F_NEXT, 2);
	sdesc(2, BUF_GPA(2), 3, VRING_DESC_F_NEXT, 4);
	sdesc(4, BUF_GPA(3), 100, 0, 0);
	/* A gso_type the legacy path rejects proves the header was read. */
	memset(hva(BUF_GPA(0)), 0, 5);
	h = hva(BUF_GPA(0));
	h->flags = 0;
	h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	spost(0);
	TEST_ASSERT_EQ(deq(pkts, 1), 1);
	TEST_ASSERT_EQ(check_pattern(pkts[0], 100, 14), 0);
	TEST_ASSERT_EQ(pkts[0]->ol_flags & RTE_MBUF_F_TX_TCP_SEG, 0);
	rte_pktmbuf_free(pkts[0]);
}

TEST_CASE(split_tx_chain_shorter_than_header)
{
	ring_setup(false, RING_SIZE, 0);
	sdesc(0, BUF_GPA(0), 8, 0, 0);
	expect_drop_then_good();
	/* Exactly the header and no data: also dropped. */
	ring_setup(false, RING_SIZE, 0);
	sdesc(0, BUF_GPA(0), HLEN, 0, 0);
	expect_drop_then_good();
	/* Header split over two descriptors that still fall short. */
	ring_setup(false, RING_SIZE, 0);
	sdesc(0, BUF_GPA(0), 4, VRING_DESC_F_NEXT, 1);
	sdesc(1, BUF_GPA(1), 4, 0, 0);
	expect_drop_then_good();
}

TEST_CASE(split_tx_desc_index_out_of_range)
{
	struct rte_mbuf *pkts[2];

	ring_setup(false, RING_SIZE, 0);
	/* Head index beyond the table. */
	guest_pkt(BUF_GPA(20), 80, 11);
	sdesc(9, BUF_GPA(20), HLEN + 80, 0, 0);
	spost(RING_SIZE + 4);
	spost(9);
	TEST_ASSERT_EQ(deq(pkts, 2), 1);
	TEST_ASSERT_EQ(check_pattern(pkts[0], 80, 11), 0);
	TEST_ASSERT_EQ(vq->used->idx, 2);
	rte_pktmbuf_free(pkts[0]);

	/* next beyond the table. */
	ring_setup(false, RING_SIZE, 0);
	sdesc(0, BUF_GPA(0), HLEN, VRING_DESC_F_NEXT, RING_SIZE);
	expect_drop_then_good();
}

TEST_CASE(split_avail_idx_jump)
{
	struct rte_mbuf *pkts[4];
	struct rte_mbuf *m = host_pkt(60, 1);

	ring_setup(false, RING_SIZE, 0);
	sdesc(0, BUF_GPA(0), HLEN + 60, 0, 0);
	vq->avail->idx = RING_SIZE + 1;
	TEST_ASSERT_EQ(deq(pkts, 4), 0);
	TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, &m, 1), 0);
	TEST_ASSERT_EQ(vq->last_avail_idx, 0);
	TEST_ASSERT_EQ(vq->used->idx, 0);
	TEST_ASSERT_EQ(calls, 0);
	rte_pktmbuf_free(m);
}

TEST_CASE(split_rx_bad_chain_returned)
{
	struct rte_mbuf *m = host_pkt(60, 1);

	ring_setup(false, RING_SIZE, 0);
	sdesc(0, 0x50000000ULL, 2048, VRING_DESC_F_WRITE, 0);
	sdesc(1, BUF_GPA(1), 2048, VRING_DESC_F_WRITE, 0);
	spost(0);
	spost(1);
	TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, &m, 1), 1);
	TEST_ASSERT_EQ(vq->used->idx, 2);
	TEST_ASSERT_EQ(vq->used->ring[0].id, 0);
	TEST_ASSERT_EQ(vq->used->ring[0].len, 0);
	TEST_ASSERT_EQ(vq->used->ring[1].id, 1);
	TEST_ASSERT_EQ(vq->used->ring[1].len, HLEN + 60);
	rte_pktmbuf_free(m);
}

/* ---- notification ---- */

static void
tx_one(uint16_t head)
{
	struct rte_mbuf *pkts[1];

	guest_pkt(BUF_GPA(head), 60, 1);
	sdesc(head, BUF_GPA(head), HLEN + 60, 0, 0);
	spost(head);
	TEST_ASSERT_EQ(deq(pkts, 1), 1);
	rte_pktmbuf_free(pkts[0]);
}

TEST_CASE(split_event_idx)
{
	uint16_t *used_event;

	ring_setup(false, RING_SIZE, 1ULL << VIRTIO_RING_F_EVENT_IDX);
	used_event = (uint16_t *)&vq->avail->ring[RING_SIZE];
	/* First publication always signals (nothing signalled yet). */
	*used_event = 100;
	tx_one(0);
	TEST_ASSERT_EQ(calls, 1);
	/* used goes 1 -> 2; the driver wants a call after entry 100 only. */
	tx_one(1);
	TEST_ASSERT_EQ(calls, 1);
	/* used goes 2 -> 3 and crosses used_event = 2. */
	*used_event = 2;
	tx_one(2);
	TEST_ASSERT_EQ(calls, 2);
	/* used_event stays 2: 3 -> 4 does not cross it again. */
	tx_one(3);
	TEST_ASSERT_EQ(calls, 2);
}

TEST_CASE(split_no_interrupt)
{
	ring_setup(false, RING_SIZE, 0);
	vq->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	tx_one(0);
	tx_one(1);
	TEST_ASSERT_EQ(calls, 0);
	vq->avail->flags = 0;
	tx_one(2);
	TEST_ASSERT_EQ(calls, 1);
}

TEST_CASE(split_guest_notification_setting)
{
	ring_setup(false, RING_SIZE, 0);
	vq->notify_off = true;
	vhost_vq_notify_apply(dev, vq);
	TEST_ASSERT_EQ(vq->used->flags & VRING_USED_F_NO_NOTIFY, VRING_USED_F_NO_NOTIFY);
	vq->notify_off = false;
	vhost_vq_notify_apply(dev, vq);
	TEST_ASSERT_EQ(vq->used->flags & VRING_USED_F_NO_NOTIFY, 0);

	ring_setup(false, RING_SIZE, 1ULL << VIRTIO_RING_F_EVENT_IDX);
	vq->last_avail_idx = 7;
	vhost_vq_notify_apply(dev, vq);
	{
		uint16_t ae;

		memcpy(&ae, &vq->used->ring[RING_SIZE], sizeof(ae));
		TEST_ASSERT_EQ(ae, 7);
	}
}

/* ---- stats ---- */

TEST_CASE(stats_by_size_and_destination)
{
	static const uint32_t lens[] = { 60, 64, 100, 200, 1500, 2000 };
	struct rte_mbuf *m[RTE_DIM(lens)];
	unsigned int i;

	ring_setup(false, RING_SIZE, 1ULL << VIRTIO_NET_F_MRG_RXBUF);
	vq->stats_enabled = true;
	for (i = 0; i < RTE_DIM(lens); i++) {
		m[i] = host_pkt(lens[i], 0);
		memset(rte_pktmbuf_mtod(m[i], void *), 0x02, 6);	/* unicast */
		sdesc(i, BUF_GPA(i), 4096, VRING_DESC_F_WRITE, 0);
		spost(i);
	}
	memset(rte_pktmbuf_mtod(m[4], void *), 0xff, 6);		/* broadcast */
	*rte_pktmbuf_mtod(m[5], uint8_t *) = 0x01;			/* multicast */
	TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, m, RTE_DIM(lens)), RTE_DIM(lens));
	TEST_ASSERT_EQ(vq->stats[VHOST_VQ_STAT_GOOD_PACKETS], 6);
	TEST_ASSERT_EQ(vq->stats[VHOST_VQ_STAT_GOOD_BYTES], 60 + 64 + 100 + 200 + 1500 + 2000);
	TEST_ASSERT_EQ(vq->stats[VHOST_VQ_STAT_UNDERSIZE], 1);
	TEST_ASSERT_EQ(vq->stats[VHOST_VQ_STAT_SIZE_64], 1);
	TEST_ASSERT_EQ(vq->stats[VHOST_VQ_STAT_SIZE_65_127], 1);
	TEST_ASSERT_EQ(vq->stats[VHOST_VQ_STAT_SIZE_128_255], 1);
	TEST_ASSERT_EQ(vq->stats[VHOST_VQ_STAT_SIZE_256_511], 0);
	TEST_ASSERT_EQ(vq->stats[VHOST_VQ_STAT_SIZE_1024_1518], 1);
	TEST_ASSERT_EQ(vq->stats[VHOST_VQ_STAT_SIZE_1519_MAX], 1);
	TEST_ASSERT_EQ(vq->stats[VHOST_VQ_STAT_BROADCAST], 1);
	TEST_ASSERT_EQ(vq->stats[VHOST_VQ_STAT_MULTICAST], 1);
	TEST_ASSERT_EQ(vq->stats[VHOST_VQ_STAT_GUEST_NOTIFICATIONS], 1);
	free_all(m, RTE_DIM(lens));
}

/* ---- offloads ---- */

/* Ether + IPv4 + TCP, 40 bytes of payload. */
static void
build_tcp(uint8_t *p)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)p;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_tcp_hdr *tcp = (struct rte_tcp_hdr *)(ip + 1);

	memset(p, 0, 14 + 20 + 20 + 40);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16(20 + 20 + 40);
	ip->next_proto_id = IPPROTO_TCP;
	tcp->data_off = 5 << 4;
}

#define TCP_PKT_LEN (14 + 20 + 20 + 40)

TEST_CASE(offload_enqueue_hdr)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	struct virtio_net_hdr_mrg_rxbuf *h = hva(BUF_GPA(0));
	struct rte_ipv4_hdr *ip;

	ring_setup(false, RING_SIZE, 0);
	build_tcp((uint8_t *)rte_pktmbuf_append(m, TCP_PKT_LEN));
	m->l2_len = 14;
	m->l3_len = 20;
	m->l4_len = 20;
	m->ol_flags = RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
	sdesc(0, BUF_GPA(0), 2048, VRING_DESC_F_WRITE, 0);
	spost(0);
	TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, &m, 1), 1);
	TEST_ASSERT_EQ(h->hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	TEST_ASSERT_EQ(h->hdr.csum_start, 34);
	TEST_ASSERT_EQ(h->hdr.csum_offset, 16);
	TEST_ASSERT_EQ(h->hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	/* The IPv4 header checksum was filled in (and copied). */
	ip = (struct rte_ipv4_hdr *)((uint8_t *)h + HLEN + 14);
	{
		struct rte_ipv4_hdr copy = *ip;

		copy.hdr_checksum = 0;
		TEST_ASSERT(ip->hdr_checksum != 0, "no IPv4 checksum");
		TEST_ASSERT_EQ(ip->hdr_checksum, rte_ipv4_cksum(&copy));
	}

	/* TSO: gso fields and an implied L4 checksum. */
	m->ol_flags = RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4;
	m->tso_segsz = 1400;
	sdesc(1, BUF_GPA(1), 2048, VRING_DESC_F_WRITE, 0);
	spost(1);
	TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, &m, 1), 1);
	h = hva(BUF_GPA(1));
	TEST_ASSERT_EQ(h->hdr.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	TEST_ASSERT_EQ(h->hdr.gso_size, 1400);
	TEST_ASSERT_EQ(h->hdr.hdr_len, 54);
	TEST_ASSERT_EQ(h->hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	TEST_ASSERT_EQ(h->hdr.csum_offset, 16);
	rte_pktmbuf_free(m);
}

/* Dequeue one TCP packet whose header has the given csum/gso fields. */
static struct rte_mbuf *
deq_tcp(uint16_t head, uint16_t csum_start, uint16_t csum_offset, uint8_t gso_type,
	uint16_t gso_size)
{
	struct virtio_net_hdr *h = hva(BUF_GPA(head));
	struct rte_mbuf *pkts[1];

	memset(h, 0, HLEN);
	build_tcp((uint8_t *)h + HLEN);
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->csum_start = csum_start;
	h->csum_offset = csum_offset;
	h->gso_type = gso_type;
	h->gso_size = gso_size;
	sdesc(head, BUF_GPA(head), HLEN + TCP_PKT_LEN, 0, 0);
	spost(head);
	if (deq(pkts, 1) != 1)
		return NULL;
	return pkts[0];
}

TEST_CASE(offload_dequeue_legacy)
{
	struct rte_mbuf *m;

	ring_setup(false, RING_SIZE, 1ULL << VIRTIO_NET_F_CSUM | 1ULL << VIRTIO_NET_F_HOST_TSO4);
	m = deq_tcp(0, 34, 16, VIRTIO_NET_HDR_GSO_NONE, 0);
	TEST_ASSERT(m != NULL, "no packet");
	TEST_ASSERT_EQ(m->ol_flags, RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_IPV4);
	TEST_ASSERT_EQ(m->l2_len, 14);
	TEST_ASSERT_EQ(m->l3_len, 20);
	rte_pktmbuf_free(m);

	/* csum_start that is not the L4 header: offload ignored. */
	m = deq_tcp(1, 1000, 16, VIRTIO_NET_HDR_GSO_NONE, 0);
	TEST_ASSERT(m != NULL, "no packet");
	TEST_ASSERT_EQ(m->ol_flags, 0);
	TEST_ASSERT_EQ(m->pkt_len, TCP_PKT_LEN);
	rte_pktmbuf_free(m);

	/* TSO with gso_size 0: ignored. */
	m = deq_tcp(2, 34, 16, VIRTIO_NET_HDR_GSO_TCPV4, 0);
	TEST_ASSERT(m != NULL, "no packet");
	TEST_ASSERT_EQ(m->ol_flags & RTE_MBUF_F_TX_TCP_SEG, 0);
	rte_pktmbuf_free(m);

	/* Good TSO. */
	m = deq_tcp(3, 34, 16, VIRTIO_NET_HDR_GSO_TCPV4, 1000);
	TEST_ASSERT(m != NULL, "no packet");
	TEST_ASSERT_EQ(m->ol_flags & RTE_MBUF_F_TX_TCP_SEG, RTE_MBUF_F_TX_TCP_SEG);
	TEST_ASSERT_EQ(m->tso_segsz, 1000);
	TEST_ASSERT_EQ(m->l4_len, 20);
	rte_pktmbuf_free(m);

	/* Without host offload features the header is not looked at. */
	ring_setup(false, RING_SIZE, 0);
	m = deq_tcp(0, 34, 16, VIRTIO_NET_HDR_GSO_NONE, 0);
	TEST_ASSERT(m != NULL, "no packet");
	TEST_ASSERT_EQ(m->ol_flags, 0);
	rte_pktmbuf_free(m);
}

TEST_CASE(offload_dequeue_compliant)
{
	struct rte_mbuf *m;

	ring_setup(false, RING_SIZE, 1ULL << VIRTIO_NET_F_CSUM | 1ULL << VIRTIO_NET_F_HOST_TSO4);
	dev->compliant_ol_flags = true;
	m = deq_tcp(0, 34, 16, VIRTIO_NET_HDR_GSO_NONE, 0);
	TEST_ASSERT(m != NULL, "no packet");
	TEST_ASSERT_EQ(m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK, RTE_MBUF_F_RX_L4_CKSUM_NONE);
	rte_pktmbuf_free(m);

	/* CVE-2024-11614: csum_start past the packet: ignored, no crash. */
	m = deq_tcp(1, 5000, 16, VIRTIO_NET_HDR_GSO_NONE, 0);
	TEST_ASSERT(m != NULL, "no packet");
	TEST_ASSERT_EQ(m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK, 0);
	rte_pktmbuf_free(m);

	/* csum_start inside, csum_offset pointing past the data: ignored. */
	m = deq_tcp(2, 60, 60000, VIRTIO_NET_HDR_GSO_NONE, 0);
	TEST_ASSERT(m != NULL, "no packet");
	TEST_ASSERT_EQ(m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK, 0);
	rte_pktmbuf_free(m);

	/* GSO: LRO with the segment size; gso_size 0 ignored. */
	m = deq_tcp(3, 34, 16, VIRTIO_NET_HDR_GSO_TCPV4, 1200);
	TEST_ASSERT(m != NULL, "no packet");
	TEST_ASSERT_EQ(m->ol_flags & RTE_MBUF_F_RX_LRO, RTE_MBUF_F_RX_LRO);
	TEST_ASSERT_EQ(m->tso_segsz, 1200);
	rte_pktmbuf_free(m);
	m = deq_tcp(4, 34, 16, VIRTIO_NET_HDR_GSO_TCPV4, 0);
	TEST_ASSERT(m != NULL, "no packet");
	TEST_ASSERT_EQ(m->ol_flags & RTE_MBUF_F_RX_LRO, 0);
	rte_pktmbuf_free(m);
}

/* ---- RARP ---- */

TEST_CASE(rarp_injected_once)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct rte_mbuf *pkts[4];
	const struct rte_ether_hdr *eth;
	uint16_t n;

	ring_setup(false, RING_SIZE, 0);
	memcpy(dev->rarp_mac, mac, 6);
	dev->rarp_pending = true;
	guest_pkt(BUF_GPA(0), 60, 1);
	sdesc(0, BUF_GPA(0), HLEN + 60, 0, 0);
	spost(0);
	n = deq(pkts, 4);
	TEST_ASSERT_EQ(n, 2);
	eth = rte_pktmbuf_mtod(pkts[0], const struct rte_ether_hdr *);
	TEST_ASSERT_EQ(eth->ether_type, rte_cpu_to_be_16(RTE_ETHER_TYPE_RARP));
	TEST_ASSERT(rte_is_broadcast_ether_addr(&eth->dst_addr), "not broadcast");
	TEST_ASSERT(memcmp(eth->src_addr.addr_bytes, mac, 6) == 0, "wrong source");
	TEST_ASSERT_EQ(check_pattern(pkts[1], 60, 1), 0);
	TEST_ASSERT_EQ(dev->rarp_pending, false);
	free_all(pkts, n);
	TEST_ASSERT_EQ(deq(pkts, 4), 0);
}

/* ---- dirty log ---- */

TEST_CASE(dirty_log_enqueue)
{
	static uint8_t bitmap[(R1_GPA + REG_SIZE) / 4096 / 8];
	struct rte_mbuf *m = host_pkt(100, 1);
	uint64_t page;

	ring_setup(false, RING_SIZE, 1ULL << VHOST_F_LOG_ALL);
	memset(bitmap, 0, sizeof(bitmap));
	dev->log_addr = (uint64_t)(uintptr_t)bitmap;
	dev->log_size = sizeof(bitmap);
	vq->log_used = true;
	vq->log_guest_addr = USED_GPA;
	sdesc(0, BUF_GPA(5), 2048, VRING_DESC_F_WRITE, 0);
	spost(0);
	TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, &m, 1), 1);
	page = BUF_GPA(5) / 4096;
	TEST_ASSERT_EQ((bitmap[page / 8] >> (page % 8)) & 1, 1);
	page = USED_GPA / 4096;
	TEST_ASSERT_EQ((bitmap[page / 8] >> (page % 8)) & 1, 1);
	page = BUF_GPA(6) / 4096;
	TEST_ASSERT_EQ((bitmap[page / 8] >> (page % 8)) & 1, 0);
	/* A range beyond the bitmap is ignored, not written. */
	vhost_log_write_range(dev, 0x100000000ULL, 4096);
	rte_pktmbuf_free(m);
}

/* ---- packed ---- */

TEST_CASE(packed_tx_roundtrip)
{
	struct rte_mbuf *pkts[4];
	uint16_t n;

	ring_setup(true, RING_SIZE, 1ULL << VIRTIO_F_RING_PACKED);
	guest_pkt(BUF_GPA(0), 60, 1);
	guest_pkt(BUF_GPA(1), 500, 2);
	ppost(BUF_GPA(0), HLEN + 60, 7, 0);
	/* A two-descriptor chain: header, then data; id in the last one. */
	ppost(BUF_GPA(1), HLEN, 8, VRING_DESC_F_NEXT);
	ppost(BUF_GPA(1) + HLEN, 500, 8, 0);
	n = deq(pkts, 4);
	TEST_ASSERT_EQ(n, 2);
	TEST_ASSERT_EQ(check_pattern(pkts[0], 60, 1), 0);
	TEST_ASSERT_EQ(check_pattern(pkts[1], 500, 2), 0);
	TEST_ASSERT(pused(0, true), "slot 0 not used");
	TEST_ASSERT_EQ(vq->desc_packed[0].id, 7);
	TEST_ASSERT(pused(1, true), "slot 1 not used");
	TEST_ASSERT_EQ(vq->desc_packed[1].id, 8);
	TEST_ASSERT_EQ(vq->last_used_idx, 3);
	TEST_ASSERT_EQ(vq->last_avail_idx, 3);
	TEST_ASSERT_EQ(calls, 1);
	free_all(pkts, n);
	TEST_ASSERT_EQ(deq(pkts, 4), 0);
}

/*
 * The aligned batch-of-4 dequeue path: two full batches across the ring's
 * end (size 8, so the second batch wraps), one buffer in each batch bad
 * (outside guest memory, or shorter than the header). The bad ones come
 * back empty in their own slot and order; the others arrive intact.
 */
TEST_CASE(packed_tx_batch)
{
	struct rte_mbuf *pkts[8];
	uint16_t i, n, want[8] = { 0, 1, 3, 4, 5, 7 };

	ring_setup(true, 8, 1ULL << VIRTIO_F_RING_PACKED);
	/* One lone buffer first, so the batches start at slot 4, then 0. */
	guest_pkt(BUF_GPA(20), 60, 20);
	ppost(BUF_GPA(20), HLEN + 60, 20, 0);
	ppost(BUF_GPA(21), HLEN + 60, 21, 0);
	ppost(BUF_GPA(22), HLEN + 60, 22, 0);
	ppost(BUF_GPA(23), HLEN + 60, 23, 0);
	TEST_ASSERT_EQ(deq(pkts, 1), 1);
	rte_pktmbuf_free(pkts[0]);
	TEST_ASSERT_EQ(deq(pkts, 3), 3);
	free_all(pkts, 3);
	TEST_ASSERT_EQ(vq->last_avail_idx, 4);
	calls = 0;
	for (i = 0; i < 8; i++) {
		guest_pkt(BUF_GPA(i), 60 + i, (uint8_t)i);
		if (i == 2)
			ppost(0x400000, HLEN + 60, i, 0);	/* not guest memory */
		else if (i == 6)
			ppost(BUF_GPA(i), HLEN - 2, i, 0);	/* shorter than the header */
		else
			ppost(BUF_GPA(i), HLEN + 60 + i, i, 0);
	}
	n = deq(pkts, 8);
	TEST_ASSERT_EQ(n, 6);
	for (i = 0; i < n; i++)
		TEST_ASSERT_EQ(check_pattern(pkts[i], 60 + want[i], (uint8_t)want[i]), 0);
	/* Slots 4..7 on the first lap's wrap, 0..3 on the second. */
	for (i = 0; i < 8; i++) {
		uint16_t slot = (uint16_t)((4 + i) % 8);

		TEST_ASSERT(pused(slot, i < 4), "slot %u not used", slot);
		TEST_ASSERT_EQ(vq->desc_packed[slot].id, i);
		TEST_ASSERT_EQ(vq->desc_packed[slot].len, 0);
	}
	TEST_ASSERT_EQ(vq->last_avail_idx, 4);
	TEST_ASSERT_EQ(vq->last_used_idx, 4);
	TEST_ASSERT_EQ(calls, 1);
	free_all(pkts, n);
	TEST_ASSERT_EQ(deq(pkts, 8), 0);
}

/* The frame the guest finds in the used buffer at gpa: header, then data. */
static int
check_rx_buf(uint64_t gpa, const struct rte_mbuf *m)
{
	const struct virtio_net_hdr_mrg_rxbuf *h = hva(gpa);
	uint8_t want[4096];
	static const uint8_t zero[sizeof(h->hdr)];

	if (m->pkt_len > sizeof(want) || memcmp(&h->hdr, zero, sizeof(zero)) != 0 ||
	    h->num_buffers != 1)
		return -1;
	return memcmp((const uint8_t *)h + HLEN,
		      rte_pktmbuf_read(m, 0, m->pkt_len, want), m->pkt_len) == 0 ? 0 : -1;
}

/*
 * A buffer whose header already holds what the enqueue would write keeps
 * its header line untouched (it stays shared with the driver's core): its
 * header sits at the end of a page made read-only. A store there would
 * fault; the handler turns that into one FAIL line. Buffers whose header
 * bytes differ anywhere (byte 0, byte 7, bytes 8-9, bytes 10-11, all) get
 * the header written whole. Both header sizes: 12 bytes (VERSION_1 or
 * MRG_RXBUF), 10 (a legacy driver with neither; the data starts at byte
 * 10). Split (per-packet path) and packed (batch of 4 path); and a header
 * alone in a descriptor of exactly its size, followed by an inaccessible
 * page, so that reading or writing one byte past the header faults too.
 */
static bool ro_handlers;
static struct sigaction ro_old_segv, ro_old_bus;

static void
ro_header_fault(int sig)
{
	static const char line[] = "FAIL: test_vhost_ring/rx_header_stored_only_when_different: "
		"the enqueue stored into a header that already held its bytes, or touched "
		"the page past a header-only descriptor\n";

	RTE_SET_USED(sig);
	if (write(STDOUT_FILENO, line, sizeof(line) - 1) < 0)
		_exit(2);
	_exit(1);
}

#define RO_PAGE 8	/* BUF_GPA(8): read-only header page; BUF_GPA(9) after it */

/* Undo what the test set up; ring_setup() calls it, so a failed case leaves nothing. */
static void
ro_restore(void)
{
	if (mprotect(hva(BUF_GPA(RO_PAGE)), 0x2000, PROT_READ | PROT_WRITE) != 0)
		abort();
	if (ro_handlers) {
		sigaction(SIGSEGV, &ro_old_segv, NULL);
		sigaction(SIGBUS, &ro_old_bus, NULL);
		ro_handlers = false;
	}
}

static int
rx_hdr_check(uint64_t gpa, uint32_t hlen, const struct rte_mbuf *m)
{
	static const struct virtio_net_hdr_mrg_rxbuf want = { .num_buffers = 1 };

	if (memcmp(hva(gpa), &want, hlen) != 0)
		return -1;
	return memcmp((uint8_t *)hva(gpa) + hlen, rte_pktmbuf_mtod(m, void *),
		      m->data_len) == 0 ? 0 : -1;
}

/* Set up one ring for the round: hlen 12 (VERSION_1, ring_setup's) or 10. */
static void
ro_ring(bool packed, uint32_t hlen, uint16_t size)
{
	ring_setup(packed, size, packed ? 1ULL << VIRTIO_F_RING_PACKED : 0);
	if (hlen != HLEN)
		dev->features &= ~(1ULL << VIRTIO_F_VERSION_1);
	dev->vhost_hlen = hlen;
}

TEST_CASE(rx_header_stored_only_when_different)
{
	static const struct virtio_net_hdr_mrg_rxbuf same = { .num_buffers = 1 };
	/* Which header byte differs in buffers 0, 2..7 (-1: all of them). */
	static const int diff_at[8] = { 0, -2, 7, 8, 9, 10, -1, 11 };
	struct sigaction sa = { .sa_handler = ro_header_fault };
	const uint32_t hlens[2] = { HLEN, 10 };
	struct rte_mbuf *m[8], *h;
	uint64_t gpa[8];
	uint16_t i, k;
	int packed;

	for (packed = 0; packed < 2; packed++) {
		for (k = 0; k < 2; k++) {
			uint32_t hlen = hlens[k];

			ro_ring(packed, hlen, 8);
			sigaction(SIGSEGV, &sa, &ro_old_segv);
			sigaction(SIGBUS, &sa, &ro_old_bus);
			ro_handlers = true;
			for (i = 0; i < 8; i++) {
				uint8_t *p;

				gpa[i] = i == 1 ? BUF_GPA(RO_PAGE + 1) - hlen :
					 BUF_GPA(RO_PAGE + 2 + 2 * i);
				p = hva(gpa[i]);
				memcpy(p, &same, hlen);
				if (diff_at[i] == -1)
					memset(p, 0xa5, hlen);
				else if (diff_at[i] >= 0 && (uint32_t)diff_at[i] < hlen)
					p[diff_at[i]] ^= 0x5a;
				if (packed) {
					ppost(gpa[i], 2048, i, VRING_DESC_F_WRITE);
				} else {
					sdesc(i, gpa[i], 2048, VRING_DESC_F_WRITE, 0);
					spost(i);
				}
				m[i] = host_pkt(64, (uint8_t)(i + 16 * k));
			}
			if (mprotect(hva(BUF_GPA(RO_PAGE)), 0x1000, PROT_READ) != 0)
				abort();
			/* Two bursts of 4: two packed batches. */
			TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, m, 4), 4);
			TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, m + 4, 4), 4);
			ro_restore();
			for (i = 0; i < 8; i++)
				TEST_ASSERT(rx_hdr_check(gpa[i], hlen, m[i]) == 0,
					    "%s, hlen %u: buffer %u holds a wrong header or data",
					    packed ? "packed" : "split", hlen, i);
			if (packed)
				TEST_ASSERT(pused(7, true), "packed slot 7 not used");
			else
				TEST_ASSERT_EQ(vq->used->idx, 8);
			free_all(m, 8);
		}
	}

	/*
	 * Split, the header alone in a descriptor of exactly hlen bytes that
	 * ends a read-only page followed by an inaccessible one, the frame in
	 * the next descriptor: the header already there, then one byte off.
	 */
	for (k = 0; k < 2; k++) {
		for (i = 0; i < 2; i++) {
			uint32_t hlen = hlens[k];
			uint64_t hgpa = BUF_GPA(RO_PAGE + 1) - hlen;

			ro_ring(false, hlen, 8);
			memcpy(hva(hgpa), &same, hlen);
			if (i == 1)
				((uint8_t *)hva(hgpa))[hlen - 1] ^= 1;
			sdesc(0, hgpa, hlen, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
			sdesc(1, BUF_GPA(0), 2048, VRING_DESC_F_WRITE, 0);
			spost(0);
			h = host_pkt(64, (uint8_t)(40 + i));
			if (i == 0) {
				sigaction(SIGSEGV, &sa, &ro_old_segv);
				sigaction(SIGBUS, &sa, &ro_old_bus);
				ro_handlers = true;
				if (mprotect(hva(BUF_GPA(RO_PAGE)), 0x1000, PROT_READ) != 0)
					abort();
			}
			if (mprotect(hva(BUF_GPA(RO_PAGE + 1)), 0x1000, PROT_NONE) != 0)
				abort();
			if (i == 1) {
				/* the store must happen: no handler, a fault fails loudly */
				if (mprotect(hva(BUF_GPA(RO_PAGE)), 0x1000,
					     PROT_READ | PROT_WRITE) != 0)
					abort();
				sigaction(SIGSEGV, &sa, &ro_old_segv);
				sigaction(SIGBUS, &sa, &ro_old_bus);
				ro_handlers = true;
			}
			TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, &h, 1), 1);
			ro_restore();
			TEST_ASSERT(memcmp(hva(hgpa), &same, hlen) == 0,
				    "hlen %u, header-only descriptor %u: wrong header", hlen, i);
			TEST_ASSERT(memcmp(hva(BUF_GPA(0)), rte_pktmbuf_mtod(h, void *), 64) == 0,
				    "hlen %u, header-only descriptor %u: wrong frame", hlen, i);
			TEST_ASSERT_EQ(vq->used->ring[0].len, hlen + 64);
			rte_pktmbuf_free(h);
		}
	}
}

/*
 * The aligned batch-of-4 enqueue path and the ways it declines. Ring of 8:
 * slots 0..3 plain, their buffers alternating between the two regions (a
 * batch mapped from more than one region); in 4..7 a two-segment mbuf (4),
 * a buffer straddling the regions (5) and one outside guest memory (6), so
 * that batch declines and the per-packet path does what it always did: 4
 * and 5 arrive whole, 6 comes back empty and its packet lands in 7.
 */
TEST_CASE(packed_rx_batch)
{
	struct rte_mbuf *m[7];
	uint64_t gpa[8];
	uint8_t out[80];
	uint16_t i;

	ring_setup(true, 8, 1ULL << VIRTIO_F_RING_PACKED | 1ULL << VIRTIO_NET_F_MRG_RXBUF);
	for (i = 0; i < 8; i++)
		gpa[i] = (i & 1) ? R1_GPA + 0x10000 + i * 0x1000ULL : BUF_GPA(i);
	gpa[5] = R1_GPA - 40;		/* 40 bytes in region 0, the rest in 1 */
	gpa[6] = 0x400000;		/* not guest memory */
	for (i = 0; i < 8; i++)
		ppost(gpa[i], 2048, 10 + i, VRING_DESC_F_WRITE);
	for (i = 0; i < 7; i++)
		m[i] = host_pkt(60 + i, (uint8_t)i);
	TEST_ASSERT_EQ(rte_pktmbuf_chain(m[4], host_pkt(30, 99)), 0);

	TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, m, 7), 7);
	for (i = 0; i < 8; i++) {
		TEST_ASSERT(pused(i, true), "slot %u not used", i);
		TEST_ASSERT_EQ(vq->desc_packed[i].id, 10 + i);
	}
	for (i = 0; i < 5; i++) {
		TEST_ASSERT_EQ(vq->desc_packed[i].len, HLEN + m[i]->pkt_len);
		TEST_ASSERT_EQ(vq->desc_packed[i].flags & VRING_DESC_F_WRITE, VRING_DESC_F_WRITE);
		TEST_ASSERT_EQ(check_rx_buf(gpa[i], m[i]), 0);
	}
	/* 5: header and 28 bytes before the region boundary, the rest after it. */
	TEST_ASSERT_EQ(vq->desc_packed[5].len, HLEN + 65);
	memcpy(out, hva(gpa[5]), 40);
	memcpy(out + 40, hva(R1_GPA), HLEN + 65 - 40);
	TEST_ASSERT(memcmp(out + HLEN, rte_pktmbuf_mtod(m[5], void *), 65) == 0,
		    "straddling buffer differs");
	/* 6: returned empty; its packet went into 7. */
	TEST_ASSERT_EQ(vq->desc_packed[6].len, 0);
	TEST_ASSERT_EQ(vq->desc_packed[6].flags & VRING_DESC_F_WRITE, 0);
	TEST_ASSERT_EQ(vq->desc_packed[7].len, HLEN + 66);
	TEST_ASSERT_EQ(check_rx_buf(gpa[7], m[6]), 0);
	TEST_ASSERT_EQ(vq->last_avail_idx, 0);
	TEST_ASSERT_EQ(vq->last_used_idx, 0);
	TEST_ASSERT_EQ(vq->used_wrap_counter, false);
	TEST_ASSERT_EQ(calls, 1);
	free_all(m, 7);
}

/*
 * The aligned batch-of-4 dequeue fast path: two batches of one-buffer
 * frames, the second with a frame bigger than an mbuf (it declines; the
 * per-buffer path chains two mbufs). Every frame arrives whole, in order,
 * every buffer comes back with length 0 in its own slot.
 */
/*
 * A driver that posts one buffer twice in a burst (slots 2 and 4), the
 * second time inside an enqueue batch (4..7) while the copy of the first is
 * still queued: the buffer ends up holding the later packet, header and
 * data, as when the packets are enqueued one call each.
 */
TEST_CASE(packed_rx_batch_aliased_buffer)
{
	struct rte_mbuf *m[7];
	uint8_t burst[HLEN + 100], single[HLEN + 100];
	uint16_t i;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		ring_setup(true, 8, 1ULL << VIRTIO_F_RING_PACKED | 1ULL << VIRTIO_NET_F_MRG_RXBUF);
		/* 0+1: a chain (general path); 2, 3: one slot each; 4..7: a batch */
		ppost(BUF_GPA(0), 40, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT);
		ppost(BUF_GPA(1), 2048, 1, VRING_DESC_F_WRITE);
		ppost(BUF_GPA(2), 2048, 2, VRING_DESC_F_WRITE);
		ppost(BUF_GPA(3), 2048, 3, VRING_DESC_F_WRITE);
		ppost(BUF_GPA(2), 2048, 4, VRING_DESC_F_WRITE);	/* slot 2's buffer again */
		for (i = 5; i < 8; i++)
			ppost(BUF_GPA(i), 2048, i, VRING_DESC_F_WRITE);
		for (i = 0; i < 7; i++)
			m[i] = host_pkt(100, (uint8_t)(i * 40));
		if (pass == 0) {
			TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, m, 7), 7);
			memcpy(burst, hva(BUF_GPA(2)), sizeof(burst));
		} else {
			for (i = 0; i < 7; i++)
				TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, &m[i], 1), 1);
			memcpy(single, hva(BUF_GPA(2)), sizeof(single));
		}
		free_all(m, 7);
	}
	TEST_ASSERT(memcmp(burst, single, sizeof(burst)) == 0,
		    "a buffer posted twice: one burst and one call per packet differ");
}

TEST_CASE(packed_tx_batch_fast)
{
	struct rte_mbuf *pkts[8];
	uint32_t len[8];
	uint16_t i;

	ring_setup(true, 8, 1ULL << VIRTIO_F_RING_PACKED);
	for (i = 0; i < 8; i++) {
		len[i] = i == 5 ? 3000 : 60 + i * 100;
		guest_pkt(BUF_GPA(i), len[i], (uint8_t)i);
		ppost(BUF_GPA(i), HLEN + len[i], 20 + i, 0);
	}
	TEST_ASSERT_EQ(deq(pkts, 8), 8);
	for (i = 0; i < 8; i++) {
		TEST_ASSERT_EQ(check_pattern(pkts[i], len[i], (uint8_t)i), 0);
		TEST_ASSERT_EQ(pkts[i]->nb_segs, i == 5 ? 2 : 1);
		TEST_ASSERT(pused(i, true), "slot %u not used", i);
		TEST_ASSERT_EQ(vq->desc_packed[i].id, 20 + i);
		TEST_ASSERT_EQ(vq->desc_packed[i].len, 0);
	}
	TEST_ASSERT_EQ(vq->last_avail_idx, 0);
	TEST_ASSERT_EQ(calls, 1);
	free_all(pkts, 8);
}

/*
 * In order (VIRTIO_F_IN_ORDER), a dequeue batch of four goes back as one
 * used descriptor: the last buffer's id in the batch's first slot, the
 * other three slots untouched. A batch that declines (a frame bigger than
 * an mbuf) goes back one descriptor per buffer.
 */
TEST_CASE(packed_tx_batch_in_order)
{
	struct rte_mbuf *pkts[12];
	uint32_t len[12];
	uint16_t i;

	ring_setup(true, 16, 1ULL << VIRTIO_F_RING_PACKED | 1ULL << VIRTIO_F_IN_ORDER);
	for (i = 0; i < 12; i++) {
		len[i] = i == 9 ? 3000 : 60 + i;
		guest_pkt(BUF_GPA(i), len[i], (uint8_t)i);
		ppost(BUF_GPA(i), HLEN + len[i], 30 + i, 0);
	}
	TEST_ASSERT_EQ(deq(pkts, 12), 12);
	for (i = 0; i < 12; i++)
		TEST_ASSERT_EQ(check_pattern(pkts[i], len[i], (uint8_t)i), 0);
	for (i = 0; i < 8; i++) {
		/* Slots 0 and 4 stand for their batches; the rest are as posted. */
		TEST_ASSERT_EQ(pused(i, true), i % 4 == 0);
		if (i % 4 == 0) {
			TEST_ASSERT_EQ(vq->desc_packed[i].id, 30 + i + 3);
			TEST_ASSERT_EQ(vq->desc_packed[i].len, 0);
		} else {
			TEST_ASSERT_EQ(vq->desc_packed[i].id, 30 + i);
		}
	}
	for (i = 8; i < 12; i++) {
		TEST_ASSERT(pused(i, true), "slot %u not used", i);
		TEST_ASSERT_EQ(vq->desc_packed[i].id, 30 + i);
	}
	TEST_ASSERT_EQ(vq->last_used_idx, 12);
	TEST_ASSERT_EQ(calls, 1);
	free_all(pkts, 12);
}

/*
 * Put garbage in the fields rte_pktmbuf_reset() sets, in every mbuf of the
 * pool, as previous users may leave them.
 */
static void
pool_dirty(void)
{
	static struct rte_mbuf *m[4096];
	unsigned int i, n = rte_mempool_avail_count(pool);

	TEST_ASSERT(n <= RTE_DIM(m), "pool of %u mbufs", n);
	TEST_ASSERT_EQ(rte_pktmbuf_alloc_bulk(pool, m, n), 0);
	for (i = 0; i < n; i++) {
		m[i]->data_off = 7;
		m[i]->port = 3;
		m[i]->packet_type = 0x1234;
		/* As a former tail segment: more data than its pkt_len says. */
		m[i]->pkt_len = 999;
		m[i]->data_len = 1999;
		m[i]->vlan_tci = 5;
		m[i]->vlan_tci_outer = 6;
		m[i]->tx_offload = 0x77;
		m[i]->ol_flags = RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_TX_TCP_SEG;
	}
	/* The free path leaves these fields as they are. */
	rte_pktmbuf_free_bulk(m, n);
}

static int
mbuf_is_reset(const struct rte_mbuf *m, uint32_t len)
{
	if (m->data_off != RTE_PKTMBUF_HEADROOM || m->port != RTE_MBUF_PORT_INVALID ||
	    m->packet_type != 0 || m->pkt_len != len || m->data_len != len ||
	    m->vlan_tci != 0 || m->vlan_tci_outer != 0 || m->tx_offload != 0 ||
	    m->ol_flags != 0 || m->nb_segs != 1 || m->next != NULL ||
	    rte_mbuf_refcnt_read(m) != 1) {
		printf("mbuf not reset: data_off %u port %u ptype %#x len %u/%u vlan %u/%u "
		       "tx_ol %#" PRIx64 " ol %#" PRIx64 "\n", m->data_off, m->port,
		       m->packet_type, m->pkt_len, m->data_len, m->vlan_tci, m->vlan_tci_outer,
		       m->tx_offload, m->ol_flags);
		return -1;
	}
	return 0;
}

/*
 * Dequeue takes its mbufs raw from the pool and resets only those a packet
 * lands in: on every path (split, packed batch and per buffer, a dropped
 * frame, an empty poll) each mbuf handed out is exactly as
 * rte_pktmbuf_reset() leaves it, and every mbuf not handed out is back in
 * the pool.
 */
TEST_CASE(dequeue_mbufs_reset_and_returned)
{
	const unsigned int full = rte_mempool_avail_count(pool);
	struct rte_mbuf *pkts[32];
	int packed;
	uint16_t i, n;

	for (packed = 0; packed < 2; packed++) {
		pool_dirty();
		ring_setup(packed, 16, packed ? 1ULL << VIRTIO_F_RING_PACKED : 0);
		/* Nothing posted: nothing taken. */
		TEST_ASSERT_EQ(deq(pkts, 32), 0);
		TEST_ASSERT_EQ(rte_mempool_avail_count(pool), full);
		/* 0..3 a batch, 4 too short for a header (dropped), 5 and 6 single. */
		for (i = 0; i < 7; i++) {
			uint32_t len = i == 4 ? HLEN - 2 : 60 + i;

			guest_pkt(BUF_GPA(i), 60 + i, (uint8_t)i);
			if (packed) {
				ppost(BUF_GPA(i), i == 4 ? len : HLEN + len, i, 0);
			} else {
				sdesc(i, BUF_GPA(i), i == 4 ? len : HLEN + len, 0, 0);
				spost(i);
			}
		}
		n = deq(pkts, 32);
		TEST_ASSERT_EQ(n, 6);
		for (i = 0; i < n; i++) {
			uint16_t seed = i < 4 ? i : i + 1;

			TEST_ASSERT_EQ(mbuf_is_reset(pkts[i], 60 + seed), 0);
			TEST_ASSERT_EQ(check_pattern(pkts[i], 60 + seed, (uint8_t)seed), 0);
		}
		TEST_ASSERT_EQ(rte_mempool_avail_count(pool), full - n);
		free_all(pkts, n);
		TEST_ASSERT_EQ(rte_mempool_avail_count(pool), full);
	}
}

/*
 * Packed batches remember the memory region their buffers were in from one
 * burst to the next. A new memory table (every change of it takes every
 * vq lock, vhost_dev_lock_all_vqs) must make them look again: here region
 * 1 moves to another host buffer between bursts, and both an enqueue and a
 * dequeue batch then use the new one, never the old.
 */
TEST_CASE(packed_batch_region_follows_mem_table)
{
	const uint64_t gpa0 = R1_GPA + 0x10000;
	uint8_t *old = region[1], *alt;
	struct rte_mbuf *m[4];
	uint64_t off;
	uint16_t i;

	ring_setup(true, 16, 1ULL << VIRTIO_F_RING_PACKED | 1ULL << VIRTIO_NET_F_MRG_RXBUF);
	for (i = 0; i < 4; i++)
		ppost(gpa0 + i * 0x1000, 2048, i, VRING_DESC_F_WRITE);
	for (i = 0; i < 4; i++)
		m[i] = host_pkt(60 + i, (uint8_t)i);
	TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, m, 4), 4);
	free_all(m, 4);

	alt = aligned_alloc(4096, REG_SIZE);
	TEST_ASSERT(alt != NULL, "no memory");
	memset(alt, 0, REG_SIZE);
	vhost_dev_lock_all_vqs(dev);
	region[1] = alt;
	mem->regions[1].host_user_addr = (uint64_t)(uintptr_t)alt;
	vhost_dev_unlock_all_vqs(dev);
	memset(old, 0, REG_SIZE);

	for (i = 4; i < 8; i++)
		ppost(gpa0 + i * 0x1000, 2048, i, VRING_DESC_F_WRITE);
	for (i = 0; i < 4; i++)
		m[i] = host_pkt(70 + i, (uint8_t)(10 + i));
	TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, m, 4), 4);
	for (i = 0; i < 4; i++)
		TEST_ASSERT_EQ(check_rx_buf(gpa0 + (4 + i) * 0x1000, m[i]), 0);
	free_all(m, 4);
	/* Dequeue: four frames written (through hva()) into the moved region. */
	for (i = 8; i < 12; i++) {
		guest_pkt(gpa0 + i * 0x1000, 80 + i, (uint8_t)i);
		ppost(gpa0 + i * 0x1000, HLEN + 80 + i, i, 0);
	}
	TEST_ASSERT_EQ(deq(m, 4), 4);
	for (i = 0; i < 4; i++)
		TEST_ASSERT_EQ(check_pattern(m[i], 88 + i, (uint8_t)(8 + i)), 0);
	free_all(m, 4);
	for (off = 0; off < REG_SIZE && old[off] == 0; off++)
		;
	vhost_dev_lock_all_vqs(dev);
	region[1] = old;
	mem->regions[1].host_user_addr = (uint64_t)(uintptr_t)old;
	vhost_dev_unlock_all_vqs(dev);
	free(alt);
	TEST_ASSERT(off == REG_SIZE, "the old mapping of region 1 was written at %#" PRIx64, off);
}

TEST_CASE(packed_wraparound)
{
	struct rte_mbuf *pkts[1];
	uint16_t i;

	ring_setup(true, 8, 1ULL << VIRTIO_F_RING_PACKED);
	for (i = 0; i < 20; i++) {
		guest_pkt(BUF_GPA(i), 60 + i, (uint8_t)i);
		ppost(BUF_GPA(i), HLEN + 60 + i, i, 0);
		TEST_ASSERT_EQ(deq(pkts, 1), 1);
		TEST_ASSERT_EQ(check_pattern(pkts[0], 60 + i, (uint8_t)i), 0);
		rte_pktmbuf_free(pkts[0]);
	}
	TEST_ASSERT_EQ(vq->last_avail_idx, 20 % 8);
	TEST_ASSERT_EQ(vq->avail_wrap_counter, true);	/* wrapped twice */
	TEST_ASSERT_EQ(vq->used_wrap_counter, true);
}

TEST_CASE(packed_rx_roundtrip_and_mergeable)
{
	struct rte_mbuf *m = host_pkt(100, 3);
	struct rte_mbuf *big = host_pkt(200, 4);
	uint16_t i;

	ring_setup(true, RING_SIZE, 1ULL << VIRTIO_F_RING_PACKED |
		   1ULL << VIRTIO_NET_F_MRG_RXBUF);
	ppost(BUF_GPA(0), 2048, 1, VRING_DESC_F_WRITE);
	for (i = 0; i < 4; i++)
		ppost(BUF_GPA(1 + i), 64, 10 + i, VRING_DESC_F_WRITE);
	TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, &m, 1), 1);
	TEST_ASSERT(pused(0, true), "slot 0 not used");
	TEST_ASSERT_EQ(vq->desc_packed[0].len, HLEN + 100);
	TEST_ASSERT_EQ(vq->desc_packed[0].flags & VRING_DESC_F_WRITE, VRING_DESC_F_WRITE);
	TEST_ASSERT(memcmp((uint8_t *)hva(BUF_GPA(0)) + HLEN, rte_pktmbuf_mtod(m, void *),
			   100) == 0, "payload differs");
	/* 212 bytes over 64-byte buffers: 4 of them, the last with 20. */
	TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, &big, 1), 1);
	TEST_ASSERT_EQ(((struct virtio_net_hdr_mrg_rxbuf *)hva(BUF_GPA(1)))->num_buffers, 4);
	for (i = 1; i <= 4; i++) {
		TEST_ASSERT(pused(i, true), "slot not used");
		TEST_ASSERT_EQ(vq->desc_packed[i].id, 10 + i - 1);
		TEST_ASSERT_EQ(vq->desc_packed[i].len, i < 4 ? 64 : 20);
	}
	TEST_ASSERT(memcmp(hva(BUF_GPA(4)), rte_pktmbuf_mtod(big, uint8_t *) + 200 - 20, 20)
		    == 0, "tail differs");
	TEST_ASSERT_EQ(calls, 2);
	rte_pktmbuf_free(m);
	rte_pktmbuf_free(big);
}

TEST_CASE(packed_tx_indirect)
{
	struct vring_packed_desc *t = hva(IND_GPA);
	struct rte_mbuf *pkts[2];

	ring_setup(true, RING_SIZE, 1ULL << VIRTIO_F_RING_PACKED);
	memset(hva(BUF_GPA(0)), 0, HLEN);
	fill_pattern(hva(BUF_GPA(1)), 300, 7);
	t[0] = (struct vring_packed_desc){ BUF_GPA(0), HLEN, 0, 0 };
	t[1] = (struct vring_packed_desc){ BUF_GPA(1), 300, 0, 0 };
	ppost(IND_GPA, 32, 42, VRING_DESC_F_INDIRECT);
	TEST_ASSERT_EQ(deq(pkts, 1), 1);
	TEST_ASSERT_EQ(check_pattern(pkts[0], 300, 7), 0);
	TEST_ASSERT_EQ(vq->desc_packed[0].id, 42);
	rte_pktmbuf_free(pkts[0]);

	/* Nested indirect and a bad table length: dropped, slot returned. */
	t[0] = (struct vring_packed_desc){ IND_GPA, 32, 0, VRING_DESC_F_INDIRECT };
	ppost(IND_GPA, 32, 43, VRING_DESC_F_INDIRECT);
	ppost(IND_GPA, 20, 44, VRING_DESC_F_INDIRECT);
	TEST_ASSERT_EQ(deq(pkts, 2), 0);
	TEST_ASSERT(pused(1, true) && pused(2, true), "bad chains not returned");
	TEST_ASSERT_EQ(vq->desc_packed[2].id, 44);
	TEST_ASSERT_EQ(vq->desc_packed[2].len, 0);
}

/*
 * An indirect table at an odd address (split and packed): read through an
 * aligned copy, never in place (UBSan: misaligned member access), and the
 * packet arrives whole.
 */
static void
misaligned_indirect(bool packed)
{
	uint8_t *t = hva(IND_GPA + 3);
	struct rte_mbuf *pkts[1];

	ring_setup(packed, RING_SIZE, packed ? 1ULL << VIRTIO_F_RING_PACKED :
		   1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	memset(hva(BUF_GPA(0)), 0, HLEN);
	fill_pattern(hva(BUF_GPA(1)), 300, 9);
	if (packed) {
		struct vring_packed_desc d[2] = {
			{ BUF_GPA(0), HLEN, 0, 0 }, { BUF_GPA(1), 300, 0, 0 },
		};

		memcpy(t, d, sizeof(d));
		ppost(IND_GPA + 3, 32, 42, VRING_DESC_F_INDIRECT);
	} else {
		struct vring_desc d[2] = {
			{ BUF_GPA(0), HLEN, VRING_DESC_F_NEXT, 1 }, { BUF_GPA(1), 300, 0, 0 },
		};

		memcpy(t, d, sizeof(d));
		sdesc(3, IND_GPA + 3, 32, VRING_DESC_F_INDIRECT, 0);
		spost(3);
	}
	TEST_ASSERT_EQ(deq(pkts, 1), 1);
	TEST_ASSERT_EQ(check_pattern(pkts[0], 300, 9), 0);
	rte_pktmbuf_free(pkts[0]);
}

TEST_CASE(packed_tx_indirect_misaligned_table)
{
	misaligned_indirect(true);
}

TEST_CASE(split_tx_indirect_misaligned_table)
{
	misaligned_indirect(false);
}

/*
 * Dequeue fast path for a header in a descriptor of its own: the frame
 * comes from the second piece, and with offload features the header is
 * still read (from the first piece).
 */
TEST_CASE(split_tx_indirect_header_desc_offload)
{
	struct vring_desc *t = hva(IND_GPA);
	struct virtio_net_hdr *h = hva(BUF_GPA(0));
	struct rte_mbuf *pkts[1];

	ring_setup(false, RING_SIZE, 1ULL << VIRTIO_RING_F_INDIRECT_DESC |
		   1ULL << VIRTIO_NET_F_CSUM);
	memset(h, 0, HLEN);
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->csum_start = 34;
	h->csum_offset = 16;
	build_tcp(hva(BUF_GPA(1)));
	t[0] = (struct vring_desc){ BUF_GPA(0), HLEN, VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ BUF_GPA(1), TCP_PKT_LEN, 0, 0 };
	sdesc(3, IND_GPA, 2 * sizeof(*t), VRING_DESC_F_INDIRECT, 0);
	spost(3);
	TEST_ASSERT_EQ(deq(pkts, 1), 1);
	TEST_ASSERT_EQ(pkts[0]->pkt_len, TCP_PKT_LEN);
	TEST_ASSERT_EQ(pkts[0]->data_len, TCP_PKT_LEN);
	TEST_ASSERT(memcmp(rte_pktmbuf_mtod(pkts[0], void *), hva(BUF_GPA(1)),
			   TCP_PKT_LEN) == 0, "frame differs");
	TEST_ASSERT_EQ(pkts[0]->ol_flags, RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_IPV4);
	rte_pktmbuf_free(pkts[0]);
}

/*
 * Enqueue into an indirect table of a header-sized descriptor and a data
 * descriptor (the two-piece fast path), then into one whose data
 * descriptor is too small (no MRG_RXBUF: returned empty, packet kept).
 */
TEST_CASE(split_rx_indirect_header_desc)
{
	struct vring_desc *t = hva(IND_GPA);
	const struct virtio_net_hdr_mrg_rxbuf *h = hva(BUF_GPA(0));
	struct rte_mbuf *m = host_pkt(100, 21);
	struct rte_mbuf *m2 = host_pkt(100, 22);

	ring_setup(false, RING_SIZE, 1ULL << VIRTIO_NET_F_MRG_RXBUF |
		   1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	memset(hva(BUF_GPA(0)), 0xff, HLEN);
	t[0] = (struct vring_desc){ BUF_GPA(0), HLEN, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ BUF_GPA(1), 1000, VRING_DESC_F_WRITE, 0 };
	sdesc(5, IND_GPA, 32, VRING_DESC_F_INDIRECT, 0);
	spost(5);
	TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, &m, 1), 1);
	TEST_ASSERT_EQ(vq->used->idx, 1);
	TEST_ASSERT_EQ(vq->used->ring[0].id, 5);
	TEST_ASSERT_EQ(vq->used->ring[0].len, HLEN + 100);
	TEST_ASSERT_EQ(h->num_buffers, 1);
	TEST_ASSERT_EQ(h->hdr.flags, 0);
	TEST_ASSERT_EQ(h->hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	TEST_ASSERT(memcmp(hva(BUF_GPA(1)), rte_pktmbuf_mtod(m, void *), 100) == 0,
		    "data differs");

	ring_setup(false, RING_SIZE, 1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	t[0] = (struct vring_desc){ BUF_GPA(0), HLEN, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ BUF_GPA(1), 99, VRING_DESC_F_WRITE, 0 };
	sdesc(5, IND_GPA, 32, VRING_DESC_F_INDIRECT, 0);
	spost(5);
	TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, &m2, 1), 0);
	TEST_ASSERT_EQ(vq->used->idx, 1);
	TEST_ASSERT_EQ(vq->used->ring[0].id, 5);
	TEST_ASSERT_EQ(vq->used->ring[0].len, 0);
	rte_pktmbuf_free(m);
	rte_pktmbuf_free(m2);
}

/* Write a 2-entry split indirect table at gpa, entry by entry (may straddle). */
static void
ind_table_put(uint64_t gpa, const struct vring_desc *e)
{
	memcpy(hva(gpa), &e[0], sizeof(e[0]));
	memcpy(hva(gpa + sizeof(e[0])), &e[1], sizeof(e[1]));
}

/*
 * Indirect tables and table entries across the two regions: read and
 * gathered piece by piece (not the one-piece fast paths), the packet
 * whole; a table or an entry that runs off guest memory: dropped.
 */
TEST_CASE(split_tx_indirect_straddle_regions)
{
	struct vring_desc e[2] = {
		{ BUF_GPA(0), HLEN, VRING_DESC_F_NEXT, 1 }, { BUF_GPA(1), 300, 0, 0 },
	};
	uint64_t tgpa = R1_GPA - sizeof(e[0]);	/* entry 0 in region 0, entry 1 in 1 */
	uint64_t bgpa = R1_GPA - 40;
	struct rte_mbuf *pkts[1];
	uint8_t tmp[300];

	ring_setup(false, RING_SIZE, 1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	memset(hva(BUF_GPA(0)), 0, HLEN);
	fill_pattern(hva(BUF_GPA(1)), 300, 23);
	ind_table_put(tgpa, e);
	sdesc(3, tgpa, sizeof(e), VRING_DESC_F_INDIRECT, 0);
	spost(3);
	TEST_ASSERT_EQ(deq(pkts, 1), 1);
	TEST_ASSERT_EQ(check_pattern(pkts[0], 300, 23), 0);
	rte_pktmbuf_free(pkts[0]);

	/* The data entry straddles the regions. */
	ring_setup(false, RING_SIZE, 1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	memset(hva(BUF_GPA(0)), 0, HLEN);
	fill_pattern(tmp, sizeof(tmp), 24);
	memcpy(hva(bgpa), tmp, 40);
	memcpy(hva(R1_GPA), tmp + 40, sizeof(tmp) - 40);
	e[1].addr = bgpa;
	ind_table_put(IND_GPA, e);
	sdesc(3, IND_GPA, sizeof(e), VRING_DESC_F_INDIRECT, 0);
	spost(3);
	TEST_ASSERT_EQ(deq(pkts, 1), 1);
	TEST_ASSERT_EQ(check_pattern(pkts[0], 300, 24), 0);
	rte_pktmbuf_free(pkts[0]);

	/* A table whose second entry lies past the end of guest memory. */
	ring_setup(false, RING_SIZE, 1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	sdesc(0, R1_GPA + REG_SIZE - sizeof(e[0]), sizeof(e), VRING_DESC_F_INDIRECT, 0);
	memcpy(hva(R1_GPA + REG_SIZE - sizeof(e[0])), &e[0], sizeof(e[0]));
	expect_drop_then_good();

	/* A data entry that runs off the end of guest memory. */
	ring_setup(false, RING_SIZE, 1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	e[1].addr = R1_GPA + REG_SIZE - 50;
	e[1].len = 100;
	ind_table_put(IND_GPA, e);
	sdesc(0, IND_GPA, sizeof(e), VRING_DESC_F_INDIRECT, 0);
	expect_drop_then_good();
}

/* Enqueue through a table that straddles the regions; and one off the end. */
TEST_CASE(split_rx_indirect_straddle_regions)
{
	struct vring_desc e[2] = {
		{ BUF_GPA(0), HLEN, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1 },
		{ BUF_GPA(1), 1000, VRING_DESC_F_WRITE, 0 },
	};
	uint64_t tgpa = R1_GPA - sizeof(e[0]);
	struct rte_mbuf *m = host_pkt(200, 25);

	ring_setup(false, RING_SIZE, 1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	ind_table_put(tgpa, e);
	sdesc(2, tgpa, sizeof(e), VRING_DESC_F_INDIRECT, 0);
	spost(2);
	TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, &m, 1), 1);
	TEST_ASSERT_EQ(vq->used->ring[0].id, 2);
	TEST_ASSERT_EQ(vq->used->ring[0].len, HLEN + 200);
	TEST_ASSERT(memcmp(hva(BUF_GPA(1)), rte_pktmbuf_mtod(m, void *), 200) == 0,
		    "data differs");

	/* The table's second entry past the end of guest memory: returned empty. */
	ring_setup(false, RING_SIZE, 1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	memcpy(hva(R1_GPA + REG_SIZE - sizeof(e[0])), &e[0], sizeof(e[0]));
	sdesc(2, R1_GPA + REG_SIZE - sizeof(e[0]), sizeof(e), VRING_DESC_F_INDIRECT, 0);
	spost(2);
	TEST_ASSERT_EQ(vhost_vq_enqueue(dev, vq, &m, 1), 0);
	TEST_ASSERT_EQ(vq->used->idx, 1);
	TEST_ASSERT_EQ(vq->used->ring[0].id, 2);
	TEST_ASSERT_EQ(vq->used->ring[0].len, 0);
	rte_pktmbuf_free(m);
}

TEST_CASE(packed_tx_bad_chains)
{
	struct rte_mbuf *pkts[3];
	uint16_t i;

	/* A chain whose NEXT flags never end: the burst stops, nothing used. */
	ring_setup(true, 8, 1ULL << VIRTIO_F_RING_PACKED);
	for (i = 0; i < 8; i++)
		ppost(BUF_GPA(0), 16, 1, VRING_DESC_F_NEXT);
	TEST_ASSERT_EQ(deq(pkts, 2), 0);
	TEST_ASSERT_EQ(vq->last_avail_idx, 0);
	TEST_ASSERT_EQ(vq->last_used_idx, 0);
	TEST_ASSERT_EQ(calls, 0);

	/* Outside memory, then too short: both dropped, then a good one. */
	ring_setup(true, RING_SIZE, 1ULL << VIRTIO_F_RING_PACKED);
	ppost(0x50000000ULL, 100, 1, 0);
	ppost(BUF_GPA(0), 8, 2, 0);
	guest_pkt(BUF_GPA(1), 70, 5);
	ppost(BUF_GPA(1), HLEN + 70, 3, 0);
	TEST_ASSERT_EQ(deq(pkts, 3), 1);
	TEST_ASSERT_EQ(check_pattern(pkts[0], 70, 5), 0);
	TEST_ASSERT_EQ(vq->desc_packed[2].id, 3);
	TEST_ASSERT_EQ(vq->last_used_idx, 3);
	rte_pktmbuf_free(pkts[0]);

	/* A base index beyond the ring (bad SET_VRING_BASE): refused. */
	vq->last_avail_idx = RING_SIZE + 3;
	TEST_ASSERT_EQ(deq(pkts, 2), 0);
}

TEST_CASE(packed_event_suppression)
{
	struct rte_mbuf *pkts[1];
	uint16_t i;

	ring_setup(true, RING_SIZE, 1ULL << VIRTIO_F_RING_PACKED);
	vq->driver_event->flags = VRING_PACKED_EVENT_FLAG_DISABLE;
	for (i = 0; i < 2; i++) {
		guest_pkt(BUF_GPA(i), 60, 1);
		ppost(BUF_GPA(i), HLEN + 60, i, 0);
		TEST_ASSERT_EQ(deq(pkts, 1), 1);
		rte_pktmbuf_free(pkts[0]);
	}
	TEST_ASSERT_EQ(calls, 0);
	vq->driver_event->flags = VRING_PACKED_EVENT_FLAG_ENABLE;
	guest_pkt(BUF_GPA(2), 60, 1);
	ppost(BUF_GPA(2), HLEN + 60, 2, 0);
	TEST_ASSERT_EQ(deq(pkts, 1), 1);
	rte_pktmbuf_free(pkts[0]);
	TEST_ASSERT_EQ(calls, 1);

	/* EVENT_IDX: the driver asks for a call once slot 5 is used. */
	ring_setup(true, RING_SIZE, 1ULL << VIRTIO_F_RING_PACKED |
		   1ULL << VIRTIO_RING_F_EVENT_IDX);
	vq->driver_event->flags = VRING_PACKED_EVENT_FLAG_DESC;
	vq->driver_event->off_wrap = 5 | (1u << 15);
	for (i = 0; i < 8; i++) {
		guest_pkt(BUF_GPA(i), 60, 1);
		ppost(BUF_GPA(i), HLEN + 60, i, 0);
		TEST_ASSERT_EQ(deq(pkts, 1), 1);
		rte_pktmbuf_free(pkts[0]);
	}
	/* First publication (nothing signalled yet), then crossing slot 5. */
	TEST_ASSERT_EQ(calls, 2);

	/* The application's choice lands in the device event area. */
	vq->notify_off = true;
	vhost_vq_notify_apply(dev, vq);
	TEST_ASSERT_EQ(vq->device_event->flags, VRING_PACKED_EVENT_FLAG_DISABLE);
	vq->notify_off = false;
	vhost_vq_notify_apply(dev, vq);
	TEST_ASSERT_EQ(vq->device_event->flags, VRING_PACKED_EVENT_FLAG_DESC);
	TEST_ASSERT_EQ(vq->device_event->off_wrap, 8 | (1u << 15));
}

/* ---- queue state ---- */

TEST_CASE(queue_not_usable)
{
	struct rte_mbuf *pkts[1];

	ring_setup(false, RING_SIZE, 0);
	guest_pkt(BUF_GPA(0), 60, 1);
	sdesc(0, BUF_GPA(0), HLEN + 60, 0, 0);
	spost(0);
	vq->enabled = false;
	TEST_ASSERT_EQ(deq(pkts, 1), 0);
	vq->enabled = true;
	vq->access_ok = false;
	TEST_ASSERT_EQ(deq(pkts, 1), 0);
	vq->access_ok = true;
	dev->flags = 0;
	TEST_ASSERT_EQ(deq(pkts, 1), 0);
	dev->flags = VHOST_DEV_RUNNING;
	/* Busy lock: dequeue does not wait. */
	rte_spinlock_lock(&vq->access_lock);
	TEST_ASSERT_EQ(deq(pkts, 1), 0);
	rte_spinlock_unlock(&vq->access_lock);
	TEST_ASSERT_EQ(deq(pkts, 1), 1);
	rte_pktmbuf_free(pkts[0]);
}

/* ---- set-up ---- */

static int
ring_test_setup(int argc, char **argv)
{
	unsigned int i;

	RTE_SET_USED(argc);
	if (test_eal_init(argv[0], 128, "--log-level=lib.eal:error",
			  "--log-level=lib.vhost.data:critical") < 0)
		return -1;
	pool = rte_pktmbuf_pool_create("test_ring_pool", 2047, 0, 0,
				       RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (pool == NULL)
		return -1;
	for (i = 0; i < 2; i++) {
		region[i] = aligned_alloc(4096, REG_SIZE);
		if (region[i] == NULL)
			return -1;
	}
	mem = calloc(1, sizeof(*mem) + VHOST_MAX_MEM_SLOTS * sizeof(mem->regions[0]));
	dev = calloc(1, sizeof(*dev));
	vq = aligned_alloc(RTE_CACHE_LINE_SIZE, sizeof(*vq));
	if (mem == NULL || dev == NULL || vq == NULL)
		return -1;
	memset(vq, 0, sizeof(*vq));
	rte_spinlock_init(&vq->access_lock);
	vq->index = 1;
	mem->nregions = 2;
	for (i = 0; i < 2; i++) {
		mem->regions[i].guest_phys_addr = i == 0 ? R0_GPA : R1_GPA;
		mem->regions[i].guest_user_addr = 0x7f0000000000ULL + i * REG_SIZE;
		mem->regions[i].host_user_addr = (uint64_t)(uintptr_t)region[i];
		mem->regions[i].size = REG_SIZE;
	}
	dev->mem = mem;
	dev->trans = &test_trans;
	dev->vq[1] = vq;
	dev->nr_vring = 2;
	snprintf(dev->ifname, sizeof(dev->ifname), "test_ring");
	return 0;
}

static void
ring_test_teardown(void)
{
	vhost_vq_dp_free(vq);
	free(vq);
	free(dev);
	free(mem);
	free(region[0]);
	free(region[1]);
	rte_mempool_free(pool);
	test_eal_cleanup();
}

/* test.h's main() keeps a counter across setjmp; it is not clobbered. */
#pragma GCC diagnostic ignored "-Wclobbered"
TEST_MAIN(ring_test_setup, ring_test_teardown,
	TEST_ENTRY(split_tx_roundtrip),
	TEST_ENTRY(split_tx_chained_mbufs),
	TEST_ENTRY(split_rx_roundtrip),
	TEST_ENTRY(split_rx_mergeable),
	TEST_ENTRY(split_rx_not_enough_buffers),
	TEST_ENTRY(split_tx_indirect),
	TEST_ENTRY(split_rx_indirect),
	TEST_ENTRY(split_tx_loop_dropped),
	TEST_ENTRY(split_tx_chain_longer_than_ring),
	TEST_ENTRY(split_tx_nested_indirect),
	TEST_ENTRY(split_tx_indirect_bad_len),
	TEST_ENTRY(split_tx_indirect_next_out_of_table),
	TEST_ENTRY(split_tx_addr_outside),
	TEST_ENTRY(split_tx_straddle_regions),
	TEST_ENTRY(split_rx_straddle_regions),
	TEST_ENTRY(split_tx_header_split),
	TEST_ENTRY(split_tx_chain_shorter_than_header),
	TEST_ENTRY(split_tx_desc_index_out_of_range),
	TEST_ENTRY(split_avail_idx_jump),
	TEST_ENTRY(split_rx_bad_chain_returned),
	TEST_ENTRY(split_event_idx),
	TEST_ENTRY(split_no_interrupt),
	TEST_ENTRY(split_guest_notification_setting),
	TEST_ENTRY(stats_by_size_and_destination),
	TEST_ENTRY(offload_enqueue_hdr),
	TEST_ENTRY(offload_dequeue_legacy),
	TEST_ENTRY(offload_dequeue_compliant),
	TEST_ENTRY(rarp_injected_once),
	TEST_ENTRY(dirty_log_enqueue),
	TEST_ENTRY(packed_tx_roundtrip),
	TEST_ENTRY(packed_wraparound),
	TEST_ENTRY(packed_tx_batch),
	TEST_ENTRY(packed_tx_batch_fast),
	TEST_ENTRY(packed_tx_batch_in_order),
	TEST_ENTRY(dequeue_mbufs_reset_and_returned),
	TEST_ENTRY(packed_batch_region_follows_mem_table),
	TEST_ENTRY(packed_rx_batch),
	TEST_ENTRY(rx_header_stored_only_when_different),
	TEST_ENTRY(packed_rx_batch_aliased_buffer),
	TEST_ENTRY(packed_rx_roundtrip_and_mergeable),
	TEST_ENTRY(packed_tx_indirect),
	TEST_ENTRY(packed_tx_indirect_misaligned_table),
	TEST_ENTRY(split_tx_indirect_misaligned_table),
	TEST_ENTRY(split_tx_indirect_header_desc_offload),
	TEST_ENTRY(split_rx_indirect_header_desc),
	TEST_ENTRY(split_tx_indirect_straddle_regions),
	TEST_ENTRY(split_rx_indirect_straddle_regions),
	TEST_ENTRY(packed_tx_bad_chains),
	TEST_ENTRY(packed_event_suppression),
	TEST_ENTRY(queue_not_usable),
);

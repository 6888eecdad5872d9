/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the data path against a hostile driver.
 *
 * The input becomes the contents of guest memory (descriptor table, avail
 * ring or packed event areas, buffers, indirect tables: whatever the bytes
 * say) plus a small header of ring parameters. Guest memory is two regions
 * adjacent in guest-physical space but separately malloc'd at their exact
 * sizes, so any read or write outside them - including running from one
 * region into the other in host VA - is caught by ASan. Each input runs a
 * full dequeue into mbufs, an enqueue of a small and a chained packet, an
 * enqueue of five plain frames (a packed batch and one more), and another
 * dequeue, on a split or packed ring, with or without mergeable
 * buffers, event idx, host offloads (both offload conventions) and dirty
 * logging.
 *
 * Input layout: [0] option bits, [1] log2 ring size (split) or size
 * (packed), [2..3] last_avail_idx, [4..5] last_used_idx, then the bytes
 * copied to guest-physical R0_GPA onward.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_log.h>
#include <rte_mbuf.h>

#include "test_eal.h"
#include "vhost.h"
#include "vhost_dp.h"
#include "vhost_transport.h"

#define R0_GPA		0x10000ULL
#define R0_SIZE		0x8000ULL
#define R1_GPA		(R0_GPA + R0_SIZE)	/* adjacent in GPA, not in VA */
#define R1_SIZE		0x1000ULL
#define RING_OFF	0x0
#define DRIVER_OFF	0x800	/* split avail / packed driver event */
#define DEVICE_OFF	0xa00	/* split used / packed device event */
#define MAX_LOG2	7	/* split rings of up to 128 entries fit */
#define HDR_BYTES	6

/* Option bits (input byte 0). */
#define OPT_PACKED	(1u << 0)
#define OPT_EVENT_IDX	(1u << 1)
#define OPT_MRG		(1u << 2)
#define OPT_COMPLIANT	(1u << 3)
#define OPT_HOST_OL	(1u << 4)
#define OPT_LOG		(1u << 5)
#define OPT_AVAIL_WRAP	(1u << 6)
#define OPT_USED_WRAP	(1u << 7)

static struct rte_mempool *pool;
static struct vhost_dev *dev;
static struct vhost_vq *vq;
static struct rte_vhost_memory *mem;
static uint8_t log_bitmap[2];	/* deliberately short: pages beyond it skipped */

static int
fuzz_vring_call(struct vhost_dev *d, struct vhost_vq *q)
{
	RTE_SET_USED(d);
	RTE_SET_USED(q);
	return 0;
}

static const struct vhost_transport_ops fuzz_trans = {
	.name = "fuzz",
	.vring_call = fuzz_vring_call,
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	RTE_SET_USED(argc);
	if (test_eal_init((*argv)[0], 64, "--log-level=*:critical") < 0)
		abort();
	pool = rte_pktmbuf_pool_create("fuzz_pool", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	mem = calloc(1, sizeof(*mem) + 2 * sizeof(mem->regions[0]));
	dev = calloc(1, sizeof(*dev));
	vq = aligned_alloc(RTE_CACHE_LINE_SIZE, sizeof(*vq));
	if (pool == NULL || mem == NULL || dev == NULL || vq == NULL)
		abort();
	memset(vq, 0, sizeof(*vq));
	rte_spinlock_init(&vq->access_lock);
	mem->nregions = 2;
	mem->regions[0].guest_phys_addr = R0_GPA;
	mem->regions[0].size = R0_SIZE;
	mem->regions[1].guest_phys_addr = R1_GPA;
	mem->regions[1].size = R1_SIZE;
	dev->mem = mem;
	dev->trans = &fuzz_trans;
	dev->vq[0] = vq;
	dev->nr_vring = 1;
	snprintf(dev->ifname, sizeof(dev->ifname), "fuzz");
	return 0;
}

static struct rte_mbuf *
host_pkt(uint32_t len, uint64_t ol_flags)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	char *p;

	if (m == NULL)
		return NULL;
	p = rte_pktmbuf_append(m, len);
	if (p == NULL) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memset(p, 0x5a, len);
	m->ol_flags = ol_flags;
	m->l2_len = 14;
	m->l3_len = 20;
	m->l4_len = 20;
	m->tso_segsz = 1000;
	return m;
}

static void
run_dequeue(void)
{
	struct rte_mbuf *pkts[VHOST_MAX_BURST];
	uint16_t n, i;

	n = vhost_vq_dequeue(dev, vq, pool, pkts, VHOST_MAX_BURST);
	for (i = 0; i < n; i++) {
		/* Touch every byte we were given. */
		volatile uint8_t sink = 0;
		const struct rte_mbuf *s;

		for (s = pkts[i]; s != NULL; s = s->next) {
			const uint8_t *p = rte_pktmbuf_mtod(s, const uint8_t *);
			uint16_t k;

			for (k = 0; k < s->data_len; k++)
				sink ^= p[k];
		}
		RTE_SET_USED(sink);
		rte_pktmbuf_free(pkts[i]);
	}
}

static void
run_enqueue(void)
{
	struct rte_mbuf *m[2], *plain[VHOST_PACKED_BATCH + 1];
	uint16_t i;

	m[0] = host_pkt(100, RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_IPV4);
	m[1] = host_pkt(1500, RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4);
	if (m[0] != NULL && m[1] != NULL) {
		struct rte_mbuf *tail = host_pkt(1500, 0);

		if (tail != NULL && rte_pktmbuf_chain(m[1], tail) != 0)
			rte_pktmbuf_free(tail);
		vhost_vq_enqueue(dev, vq, m, 2);
	}
	rte_pktmbuf_free(m[0]);
	rte_pktmbuf_free(m[1]);
	/* Plain one-segment frames, enough for a packed batch and one more. */
	for (i = 0; i < RTE_DIM(plain); i++)
		plain[i] = host_pkt(60 + i, 0);
	for (i = 0; i < RTE_DIM(plain) && plain[i] != NULL; i++)
		;
	if (i == RTE_DIM(plain))
		vhost_vq_enqueue(dev, vq, plain, RTE_DIM(plain));
	for (i = 0; i < RTE_DIM(plain); i++)
		rte_pktmbuf_free(plain[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *r0, *r1;
	uint8_t opt;
	size_t n;

	if (size < HDR_BYTES)
		return 0;
	opt = data[0];
	r0 = calloc(1, R0_SIZE);
	r1 = calloc(1, R1_SIZE);
	if (r0 == NULL || r1 == NULL)
		abort();
	n = RTE_MIN(size - HDR_BYTES, (size_t)R0_SIZE);
	memcpy(r0, data + HDR_BYTES, n);
	if (size - HDR_BYTES > R0_SIZE)
		memcpy(r1, data + HDR_BYTES + R0_SIZE,
		       RTE_MIN(size - HDR_BYTES - R0_SIZE, (size_t)R1_SIZE));
	mem->regions[0].host_user_addr = (uint64_t)(uintptr_t)r0;
	mem->regions[1].host_user_addr = (uint64_t)(uintptr_t)r1;

	dev->features = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	if (opt & OPT_PACKED)
		dev->features |= 1ULL << VIRTIO_F_RING_PACKED;
	if (opt & OPT_EVENT_IDX)
		dev->features |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	if (opt & OPT_MRG)
		dev->features |= 1ULL << VIRTIO_NET_F_MRG_RXBUF;
	if (opt & OPT_HOST_OL)
		dev->features |= (1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_HOST_TSO4);
	if (opt & OPT_LOG) {
		dev->features |= 1ULL << VHOST_F_LOG_ALL;
		dev->log_addr = (uint64_t)(uintptr_t)log_bitmap;
		dev->log_size = sizeof(log_bitmap);
	} else {
		dev->log_addr = 0;
		dev->log_size = 0;
	}
	dev->compliant_ol_flags = (opt & OPT_COMPLIANT) != 0;
	dev->vhost_hlen = sizeof(struct virtio_net_hdr_mrg_rxbuf);
	dev->flags = VHOST_DEV_RUNNING;

	vq->packed = (opt & OPT_PACKED) != 0;
	vq->event_idx = (opt & OPT_EVENT_IDX) != 0;
	if (vq->packed)
		vq->size = RTE_MAX((uint16_t)1, (uint16_t)(data[1] & 0x7f));
	else
		vq->size = (uint16_t)(1u << (data[1] % (MAX_LOG2 + 1)));
	vq->last_avail_idx = (uint16_t)(data[2] | data[3] << 8);
	vq->last_used_idx = (uint16_t)(data[4] | data[5] << 8);
	if (vq->packed) {
		/* Let some inputs carry bad bases too; most are in range. */
		if (!(data[3] & 0x80))
			vq->last_avail_idx %= vq->size;
		if (!(data[5] & 0x80))
			vq->last_used_idx %= vq->size;
	}
	vq->avail_wrap_counter = (opt & OPT_AVAIL_WRAP) != 0;
	vq->used_wrap_counter = (opt & OPT_USED_WRAP) != 0;
	vq->desc = (void *)(r0 + RING_OFF);
	vq->avail = (void *)(r0 + DRIVER_OFF);
	vq->used = (void *)(r0 + DEVICE_OFF);
	vq->log_used = (opt & OPT_LOG) != 0;
	vq->log_guest_addr = R0_GPA + DEVICE_OFF;
	vq->access_ok = true;
	vq->enabled = true;
	vq->stats_enabled = true;
	if (vhost_vq_dp_init(dev, vq) != 0)
		abort();

	run_dequeue();
	run_enqueue();
	run_dequeue();

	vq->access_ok = false;
	free(r0);
	free(r1);
	return 0;
}

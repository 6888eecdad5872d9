/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_bench: in-process microbenchmark of the vhost data path.
 *
 * One thread plays both sides. The "driver" half posts and reclaims ring
 * buffers the way DPDK's virtio_user PMD does with IN_ORDER + MRG_RXBUF
 * (one descriptor per buffer, descriptor index == ring slot, the 12-byte
 * mergeable header pushed in front of tx data, rx buffers of one mbuf's
 * room), in fake guest memory registered as the device's memory table.
 * The "device" half is the library's queue-level burst (vhost_vq_enqueue /
 * vhost_vq_dequeue: lock, checks, worker, publish, notify), i.e. what
 * rte_vhost_{en,de}queue_burst runs after the vid/queue lookup.
 *
 * Cases: {split, packed} x {enq, deq} x {64, 1518} bytes, bursts of 32,
 * ring size 256. Enqueue sends the same 32 prebuilt mbufs every burst (the
 * application frees them, not the library); dequeue frees what it got
 * with rte_pktmbuf_free_bulk outside the timed region, like testpmd rxonly.
 *
 * Output per case: median over repeats of device ns/packet (TSC around the
 * library call only) and of loop ns/packet (driver half included), and
 * the matching Mpps. Wall-clock numbers are noisy on a shared machine;
 * instruction counts are not:
 *
 *   valgrind --tool=callgrind --toggle-collect=vhost_vq_enqueue \
 *     --toggle-collect=vhost_vq_dequeue ./dp_bench -c split-deq-64 -n 2000 -r 1
 *
 * then divide the "Collected" Ir by the packet count dp_bench prints.
 *
 * Usage: dp_bench [-c case[,case...]] [-n bursts] [-r repeats] [-l lcores] [-s]
 *   case: all (default) or ring-dir-size, e.g. split-enq-64, packed-deq-1518
 *   -n bursts per repeat (default 200000), -r repeats (default 5),
 *   -l EAL --lcores value (default "0@(0-1)": float over both CPUs),
 *   -s per-queue statistics on, as net_vhost (testpmd) runs them.
 */

#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "test_eal.h"
#include "vhost.h"
#include "vhost_dp.h"
#include "vhost_transport.h"

#define BENCH_RING	256
#define BENCH_BURST	32
#define BENCH_HLEN	12		/* virtio_net_hdr_mrg_rxbuf */
#define BENCH_GPA	0x40000000ULL
#define BENCH_MEM	(4u << 20)
#define BENCH_DESC_OFF	0x0
#define BENCH_DRV_OFF	0x1000		/* split avail / packed driver event */
#define BENCH_DEV_OFF	0x2000		/* split used / packed device event */
#define BENCH_BUF_OFF	0x10000
/* Buffer stride and rx buffer length: an mbuf's data room, like virtio. */
#define BENCH_BUF_STRIDE 2048
#define BENCH_RX_BUF_LEN (BENCH_BUF_STRIDE - RTE_PKTMBUF_HEADROOM + BENCH_HLEN)
#define BENCH_MAX_REPEAT 64

static uint8_t *guest;
static struct rte_vhost_memory *mem;
static struct vhost_dev *dev;
static struct vhost_vq *vq;
static struct rte_mempool *pool;
static uint64_t kicks;
static bool stats_on;

/* Driver-side state: split uses free-running indexes, packed slot+wrap. */
static uint16_t drv_avail;	/* split: next avail idx; packed: next slot */
static uint16_t drv_used;	/* split: used idx reclaimed; packed: slot */
static bool drv_avail_wrap, drv_used_wrap;
static uint16_t drv_inflight;	/* buffers posted and not reclaimed */
static uint64_t drv_bytes;	/* sum of used lengths (keeps reads alive) */

static int
bench_vring_call(struct vhost_dev *d, struct vhost_vq *q)
{
	RTE_SET_USED(d);
	RTE_SET_USED(q);
	kicks++;
	return 0;
}

static const struct vhost_transport_ops bench_trans = {
	.name = "bench",
	.vring_call = bench_vring_call,
};

static inline uint64_t
buf_gpa(uint16_t slot)
{
	return BENCH_GPA + BENCH_BUF_OFF + (uint64_t)slot * BENCH_BUF_STRIDE;
}

static inline void *
gpa_hva(uint64_t gpa)
{
	return guest + (gpa - BENCH_GPA);
}

static void
bench_setup(bool packed)
{
	uint64_t f = (1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
		(1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_IN_ORDER) |
		(1ULL << VHOST_USER_F_PROTOCOL_FEATURES);

	memset(guest, 0, BENCH_MEM);
	if (packed)
		f |= 1ULL << VIRTIO_F_RING_PACKED;
	dev->features = f;
	dev->vhost_hlen = BENCH_HLEN;
	dev->flags = VHOST_DEV_RUNNING;
	vq->size = BENCH_RING;
	vq->packed = packed;
	vq->event_idx = false;
	vq->desc = gpa_hva(BENCH_GPA + BENCH_DESC_OFF);
	vq->avail = gpa_hva(BENCH_GPA + BENCH_DRV_OFF);
	vq->used = gpa_hva(BENCH_GPA + BENCH_DEV_OFF);
	vq->last_avail_idx = 0;
	vq->last_used_idx = 0;
	vq->avail_wrap_counter = true;
	vq->used_wrap_counter = true;
	vq->access_ok = true;
	vq->enabled = true;
	vq->notify_off = true;	/* net_vhost disables guest notifications */
	vq->stats_enabled = stats_on;
	if (vhost_vq_dp_init(dev, vq) != 0) {
		fprintf(stderr, "dp_bench: vhost_vq_dp_init failed\n");
		exit(1);
	}
	vhost_vq_notify_apply(dev, vq);
	/* virtio_user polls: no interrupts wanted. */
	if (packed)
		vq->driver_event->flags = VRING_PACKED_EVENT_FLAG_DISABLE;
	else
		vq->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	drv_avail = drv_used = 0;
	drv_avail_wrap = drv_used_wrap = true;
	drv_inflight = 0;
	kicks = 0;
}

/* Tx buffers hold a zero header and the frame already (virtio pushes it). */
static void
bench_fill_tx(uint32_t len)
{
	uint16_t i;

	for (i = 0; i < BENCH_RING; i++) {
		uint8_t *p = gpa_hva(buf_gpa(i));

		memset(p, 0, BENCH_HLEN);
		memset(p + BENCH_HLEN, 0x5a, len);
	}
}

/* ---- driver half: split ---- */

static void
split_post(uint32_t len, uint16_t flags, uint16_t n)
{
	struct vring_desc *desc = vq->desc;
	struct vring_avail *avail = vq->avail;
	uint16_t i;

	for (i = 0; i < n && drv_inflight < BENCH_RING; i++) {
		uint16_t slot = drv_avail & (BENCH_RING - 1);

		desc[slot].addr = buf_gpa(slot);
		desc[slot].len = len;
		desc[slot].flags = flags;
		desc[slot].next = (uint16_t)((slot + 1) & (BENCH_RING - 1));
		avail->ring[slot] = slot;
		drv_avail++;
		drv_inflight++;
	}
	__atomic_store_n(&avail->idx, drv_avail, __ATOMIC_RELEASE);
}

static void
split_reclaim(bool rx)
{
	uint16_t u = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);

	while (drv_used != u) {
		const struct vring_used_elem *e = &vq->used->ring[drv_used & (BENCH_RING - 1)];

		drv_bytes += e->len;
		if (rx) {
			const struct virtio_net_hdr_mrg_rxbuf *h = gpa_hva(buf_gpa(e->id));

			drv_bytes += h->num_buffers;
		}
		drv_used++;
		drv_inflight--;
	}
}

/* ---- driver half: packed ---- */

static void
packed_post(uint32_t len, uint16_t flags, uint16_t n)
{
	struct vring_packed_desc *desc = vq->desc_packed;
	uint16_t i;

	for (i = 0; i < n && drv_inflight < BENCH_RING; i++) {
		uint16_t slot = drv_avail;
		uint16_t f = flags | (drv_avail_wrap ? VHOST_PACKED_F_AVAIL : VHOST_PACKED_F_USED);

		desc[slot].addr = buf_gpa(slot);
		desc[slot].len = len;
		desc[slot].id = slot;
		__atomic_store_n(&desc[slot].flags, f, __ATOMIC_RELEASE);
		if (++drv_avail == BENCH_RING) {
			drv_avail = 0;
			drv_avail_wrap = !drv_avail_wrap;
		}
		drv_inflight++;
	}
}

static void
packed_reclaim(bool rx)
{
	struct vring_packed_desc *desc = vq->desc_packed;

	while (drv_inflight != 0) {
		uint16_t f = __atomic_load_n(&desc[drv_used].flags, __ATOMIC_ACQUIRE);
		bool a = (f & VHOST_PACKED_F_AVAIL) != 0, u = (f & VHOST_PACKED_F_USED) != 0;

		if (a != drv_used_wrap || u != drv_used_wrap)
			break;
		drv_bytes += desc[drv_used].len;
		if (rx) {
			const struct virtio_net_hdr_mrg_rxbuf *h =
				gpa_hva(buf_gpa(desc[drv_used].id));

			drv_bytes += h->num_buffers;
		}
		if (++drv_used == BENCH_RING) {
			drv_used = 0;
			drv_used_wrap = !drv_used_wrap;
		}
		drv_inflight--;
	}
}

/* ---- cases ---- */

struct bench_case {
	bool packed;
	bool enq;
	uint32_t len;
};

struct bench_result {
	double dev_ns;		/* per packet, library call only */
	double loop_ns;		/* per packet, whole loop */
	uint64_t pkts;
};

static void
bench_post(const struct bench_case *c, uint16_t n)
{
	uint32_t len = c->enq ? BENCH_RX_BUF_LEN : BENCH_HLEN + c->len;
	uint16_t flags = c->enq ? VRING_DESC_F_WRITE : 0;

	if (c->packed)
		packed_post(len, flags, n);
	else
		split_post(len, flags, n);
}

static void
bench_reclaim(const struct bench_case *c)
{
	if (c->packed)
		packed_reclaim(c->enq);
	else
		split_reclaim(c->enq);
}

static double
now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static int
bench_run(const struct bench_case *c, uint32_t bursts, struct bench_result *r)
{
	struct rte_mbuf *tx[BENCH_BURST], *rx[BENCH_BURST];
	uint64_t tsc = 0, pkts = 0;
	double t0;
	uint32_t b;
	uint16_t i;

	bench_setup(c->packed);
	if (!c->enq)
		bench_fill_tx(c->len);
	if (c->enq) {
		if (rte_pktmbuf_alloc_bulk(pool, tx, BENCH_BURST) != 0)
			return -1;
		for (i = 0; i < BENCH_BURST; i++) {
			uint8_t *p = (uint8_t *)rte_pktmbuf_append(tx[i], (uint16_t)c->len);

			if (p == NULL)
				return -1;
			memset(p, 0x5a, c->len);
		}
	}
	/* Start with a full ring, as a steady-state poller sees it. */
	bench_post(c, BENCH_RING);
	t0 = now_ns();
	for (b = 0; b < bursts; b++) {
		uint64_t s = rte_rdtsc();
		uint16_t n;

		if (c->enq)
			n = vhost_vq_enqueue(dev, vq, tx, BENCH_BURST);
		else
			n = vhost_vq_dequeue(dev, vq, pool, rx, BENCH_BURST);
		tsc += rte_rdtsc() - s;
		if (unlikely(n != BENCH_BURST)) {
			fprintf(stderr, "dp_bench: burst %u moved %u packets\n", b, n);
			return -1;
		}
		if (!c->enq) {
			if (unlikely(rx[0]->pkt_len != c->len)) {
				fprintf(stderr, "dp_bench: got %u bytes\n", rx[0]->pkt_len);
				return -1;
			}
			rte_pktmbuf_free_bulk(rx, n);
		}
		pkts += n;
		bench_reclaim(c);
		bench_post(c, BENCH_BURST);
	}
	r->loop_ns = (now_ns() - t0) / (double)pkts;
	r->dev_ns = (double)tsc * 1e9 / (double)rte_get_tsc_hz() / (double)pkts;
	r->pkts = pkts;
	if (c->enq)
		rte_pktmbuf_free_bulk(tx, BENCH_BURST);
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int
bench_case_parse(const char *s, struct bench_case *c)
{
	char ring[16], dir[16];
	unsigned int len;

	if (sscanf(s, "%15[a-z]-%15[a-z]-%u", ring, dir, &len) != 3)
		return -1;
	if (strcmp(ring, "split") != 0 && strcmp(ring, "packed") != 0)
		return -1;
	if (strcmp(dir, "enq") != 0 && strcmp(dir, "deq") != 0)
		return -1;
	if (len < 14 || len > 1518)
		return -1;
	c->packed = ring[0] == 'p';
	c->enq = dir[0] == 'e';
	c->len = len;
	return 0;
}

static void
usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-c all|{split,packed}-{enq,deq}-LEN[,...]] [-n bursts]"
		" [-r repeats] [-l lcores] [-s]\n", prog);
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct bench_case all[] = {
		{ false, false, 64 }, { false, true, 64 },
		{ false, false, 1518 }, { false, true, 1518 },
		{ true, false, 64 }, { true, true, 64 },
		{ true, false, 1518 }, { true, true, 1518 },
	};
	struct bench_case cases[32];
	unsigned int nr_cases = 0, repeats = 5, i, k;
	uint32_t bursts = 200000;
	const char *lcores = "0@(0-1)", *which = "all";
	char lcarg[64];
	int opt;

	while ((opt = getopt(argc, argv, "c:n:r:l:sh")) != -1) {
		switch (opt) {
		case 'c': which = optarg; break;
		case 'n': bursts = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'r': repeats = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'l': lcores = optarg; break;
		case 's': stats_on = true; break;
		default: usage(argv[0]);
		}
	}
	if (bursts == 0 || repeats == 0 || repeats > BENCH_MAX_REPEAT)
		usage(argv[0]);
	if (strcmp(which, "all") == 0) {
		memcpy(cases, all, sizeof(all));
		nr_cases = RTE_DIM(all);
	} else {
		char *list = strdup(which), *save = NULL, *tok;

		for (tok = strtok_r(list, ",", &save); tok != NULL;
		     tok = strtok_r(NULL, ",", &save)) {
			if (nr_cases == RTE_DIM(cases) || bench_case_parse(tok, &cases[nr_cases]))
				usage(argv[0]);
			nr_cases++;
		}
		free(list);
	}

	snprintf(lcarg, sizeof(lcarg), "--lcores=%s", lcores);
	if (test_eal_init(argv[0], 256, lcarg, "--log-level=lib.eal:error") < 0) {
		fprintf(stderr, "dp_bench: EAL init failed\n");
		return 1;
	}
	/* Cached like testpmd's pool, so alloc/free are per-lcore cheap. */
	pool = rte_pktmbuf_pool_create("dp_bench", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	guest = aligned_alloc(1 << 21, BENCH_MEM);
	mem = calloc(1, sizeof(*mem) + VHOST_MAX_MEM_SLOTS * sizeof(mem->regions[0]));
	dev = calloc(1, sizeof(*dev));
	vq = aligned_alloc(RTE_CACHE_LINE_SIZE, sizeof(*vq));
	if (pool == NULL || guest == NULL || mem == NULL || dev == NULL || vq == NULL) {
		fprintf(stderr, "dp_bench: out of memory\n");
		return 1;
	}
	memset(vq, 0, sizeof(*vq));
	rte_spinlock_init(&vq->access_lock);
	vq->index = 1;
	mem->nregions = 1;
	mem->regions[0].guest_phys_addr = BENCH_GPA;
	mem->regions[0].guest_user_addr = 0x7f0000000000ULL;
	mem->regions[0].host_user_addr = (uint64_t)(uintptr_t)guest;
	mem->regions[0].size = BENCH_MEM;
	dev->mem = mem;
	dev->trans = &bench_trans;
	dev->vq[1] = vq;
	dev->nr_vring = 2;
	snprintf(dev->ifname, sizeof(dev->ifname), "dp_bench");

	printf("%-18s %10s %10s %10s %10s %12s\n", "case", "dev ns/pkt", "dev Mpps",
	       "loop ns/pkt", "loop Mpps", "packets");
	for (k = 0; k < nr_cases; k++) {
		const struct bench_case *c = &cases[k];
		double dev_ns[BENCH_MAX_REPEAT], loop_ns[BENCH_MAX_REPEAT];
		struct bench_result r = { 0 };
		char name[32];
		double d, l;

		for (i = 0; i < repeats; i++) {
			if (bench_run(c, bursts, &r) != 0) {
				fprintf(stderr, "dp_bench: case %u failed\n", k);
				return 1;
			}
			dev_ns[i] = r.dev_ns;
			loop_ns[i] = r.loop_ns;
		}
		d = median(dev_ns, repeats);
		l = median(loop_ns, repeats);
		snprintf(name, sizeof(name), "%s-%s-%u", c->packed ? "packed" : "split",
			 c->enq ? "enq" : "deq", c->len);
		printf("%-18s %10.2f %10.2f %10.2f %10.2f %12" PRIu64 "\n", name, d, 1e3 / d, l,
		       1e3 / l, r.pkts);
		fflush(stdout);
	}
	if (kicks != 0)
		printf("note: %" PRIu64 " guest notifications (expected none)\n", kicks);
	vhost_vq_dp_free(vq);
	free(vq);
	free(dev);
	free(mem);
	free(guest);
	rte_mempool_free(pool);
	test_eal_cleanup();
	return drv_bytes == 0;
}

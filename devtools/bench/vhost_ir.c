/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost_ir: a deterministic data-path benchmark over the public rte_vhost API.
 *
 * It includes only DPDK's public headers and links librte_vhost.so.23 by its
 * soname, so the same binary runs on our library or on Debian's:
 *
 *   LD_LIBRARY_PATH=build/lib/vhost build/devtools/bench/vhost_ir -c split-enq-64 -n 2000
 *   LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu build/devtools/bench/vhost_ir -c split-enq-64 ...
 *
 * The process plays both sides. The back-end is the library: a vhost-user
 * server socket (rte_vhost_driver_register / _start), whose handshake the
 * library's own event thread handles. The front-end is ours, in the main
 * thread: it connects over AF_UNIX, negotiates features, shares a memfd as
 * guest memory and sets up split or packed rings with kick and call
 * eventfds, as DPDK's virtio_user PMD does (polling: it asks for no
 * interrupts). Once the library has called new_device, one thread
 * alternates front-end work (posting buffers or packets, reclaiming used
 * ones) and rte_vhost_enqueue_burst / rte_vhost_dequeue_burst, so a run is
 * the same instruction stream every time:
 *
 *   valgrind --tool=callgrind --toggle-collect=rte_vhost_enqueue_burst \
 *     --toggle-collect=rte_vhost_dequeue_burst build/devtools/bench/vhost_ir -c CASE -n 2000
 *
 * and "Collected" divided by the "packets:" line is instructions per packet
 * (devtools/bench/ir_table.sh does that for every case on both libraries).
 *
 * The front-end checks everything it gets, so a broken library cannot make
 * a good figure: every packet carries a per-queue sequence number and a
 * fixed byte pattern; enqueued packets must arrive in order, with the right
 * length, header (num_buffers) and content; dequeued mbufs must have the
 * length and content the front-end wrote; used ids must be buffers in
 * flight; at the end every packet the library reported has been seen by
 * the front-end. Any mismatch ends the run with exit status 1.
 *
 * Usage: vhost_ir -l | -c CASE[,CASE...]|all [-n BURSTS] [-v]
 * Several cases run one after the other in one process, over one socket,
 * each on a new connection (a new device).
 * Output: "library: PATH" (the librte_vhost.so.23 in use), "packets: N" (packets moved by the library calls), "bursts: N",
 * "short: N" (calls that moved fewer packets than the front-end offered),
 * "calls: N" (interrupts the library signalled on the call eventfds),
 * "kicks: N" (refills after which the library's suppression flag asked the
 * front-end to kick; virtio_user would make an eventfd write each time).
 * Like net_vhost, new_device disables guest notifications on every vring.
 */

#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_vhost.h>

#include "test_eal.h"

/* ---- geometry ---- */

#define IR_RING		256		/* descriptors per ring */
#define IR_BURST	32		/* packets per library call */
#define IR_MAX_QP	4		/* queue pairs */
#define IR_NR_VRING	(2 * IR_MAX_QP)
#define IR_HLEN		12		/* virtio_net_hdr_mrg_rxbuf (VERSION_1) */
#define IR_BUF_STRIDE	2048
/* An rx buffer as virtio posts it: an mbuf's data room past the headroom,
 * plus the header it writes in front of the frame. */
#define IR_RX_BUF_LEN	(IR_BUF_STRIDE - RTE_PKTMBUF_HEADROOM + IR_HLEN)
#define IR_SMALL_BUF_LEN 1024		/* forces a 1518-byte frame into 2 buffers */
#define IR_GPA_BASE	0x100000000ULL
/* Per vring: descriptors, driver area, device area, indirect tables, buffers. */
#define IR_DESC_OFF	0x0
#define IR_DRV_OFF	0x1000
#define IR_DEV_OFF	0x2000
#define IR_INDIR_OFF	0x4000		/* 2 descriptors of 16 bytes per buffer id */
#define IR_INDIR_ENTRIES 2
#define IR_BUF_OFF	0x10000
#define IR_VRING_SPAN	(IR_BUF_OFF + IR_RING * IR_BUF_STRIDE)
#define IR_MEM_SIZE	(IR_NR_VRING * IR_VRING_SPAN)
#define IR_SEQ_BYTES	8		/* the sequence number leads each frame */
#define IR_MAX_FRAME	1518
#define IR_WAIT_MS	5000
#define IR_STARVED_EVERY 8		/* "starved": one refill every this many bursts */

/* ---- cases ---- */

struct ir_case {
	const char *name;
	bool packed;
	bool enq;
	uint32_t len;
	bool mrg;
	bool in_order;
	bool indirect;
	uint32_t rx_buf_len;	/* enqueue: length of each rx buffer */
	uint16_t refill;	/* buffers/packets the front-end offers per burst */
	uint16_t refill_every;	/* ... every this many bursts */
	bool stats;		/* registered with RTE_VHOST_USER_NET_STATS_ENABLE */
	uint16_t nb_qp;
	const char *what;
};

#define IR_CASES_MAX 64
static struct ir_case cases[IR_CASES_MAX];
static unsigned int nb_cases;

static void
case_add(bool packed, bool enq, uint32_t len, const char *suffix, const char *what)
{
	struct ir_case *c = &cases[nb_cases++];
	char name[64];

	snprintf(name, sizeof(name), "%s-%s-%u%s%s", packed ? "packed" : "split",
		 enq ? "enq" : "deq", len, suffix[0] != '\0' ? "-" : "", suffix);
	*c = (struct ir_case){
		.name = strdup(name), .packed = packed, .enq = enq, .len = len,
		.mrg = true, .in_order = true, .rx_buf_len = IR_RX_BUF_LEN,
		.refill = IR_BURST, .refill_every = 1, .nb_qp = 1, .what = what,
	};
	if (strcmp(suffix, "nomrg") == 0)
		c->mrg = false;
	else if (strcmp(suffix, "noinorder") == 0)
		c->in_order = false;
	else if (strcmp(suffix, "indirect") == 0)
		c->indirect = true, c->in_order = false;
	else if (strcmp(suffix, "smallbuf") == 0)
		c->rx_buf_len = IR_SMALL_BUF_LEN;
	else if (strcmp(suffix, "slowfe") == 0)
		c->refill = IR_BURST / 4;
	else if (strcmp(suffix, "nearlyempty") == 0)
		c->refill = 1;
	else if (strcmp(suffix, "starved") == 0)
		c->refill_every = IR_STARVED_EVERY;
	else if (strcmp(suffix, "4q") == 0)
		c->nb_qp = 4;
	else if (strcmp(suffix, "stats") == 0)
		c->stats = true;
}

static void
cases_init(void)
{
	static const struct {
		const char *suffix;
		const char *what;
		bool enq_only;
	} mods[] = {
		{ "nomrg", "mergeable buffers off", false },
		{ "noinorder", "in-order off", false },
		{ "indirect", "one indirect descriptor (header + data) per buffer", false },
		{ "slowfe", "front-end offers 8 per burst of 32 (ring full, partial bursts)",
		  false },
		{ "nearlyempty", "front-end offers 1 per burst (ring nearly empty)", false },
		{ "starved", "front-end offers 32 every 8th burst (7 calls of 8 find nothing)",
		  false },
		{ "4q", "4 queue pairs, one burst per queue in turn", false },
		{ "stats", "per-queue statistics on (RTE_VHOST_USER_NET_STATS_ENABLE, as net_vhost)",
		  false },
	};
	static const uint32_t lens[] = { 64, 1518 };
	unsigned int p, d, l, m;

	for (p = 0; p < 2; p++)
		for (d = 0; d < 2; d++) {
			for (l = 0; l < RTE_DIM(lens); l++)
				case_add(p, !d, lens[l], "", "mergeable on, in-order on, 1 queue");
			for (m = 0; m < RTE_DIM(mods); m++)
				if (!d || !mods[m].enq_only)
					case_add(p, !d, 64, mods[m].suffix, mods[m].what);
			if (!d)
				case_add(p, true, 1518, "smallbuf",
					 "1024-byte rx buffers: each frame merged over 2");
			case_add(p, !d, 1518, "nomrg", "mergeable buffers off");
		}
}

/* ---- state ---- */

struct fe_vring {
	uint16_t index;
	bool rx;			/* the device writes (enqueue target) */
	uint8_t *base;			/* front-end address of this vring's span */
	uint64_t gpa;			/* guest address of the same */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	struct vring_packed_desc *pdesc;
	struct vring_packed_desc_event *drv_event;
	int kickfd, callfd;
	/* split: free-running indexes; packed: slot and wrap counter */
	uint16_t avail_idx, used_idx;
	bool avail_wrap, used_wrap;
	uint16_t inflight;
	/* buffer ids: free FIFO, and ids in the order they were posted */
	uint16_t free_ids[IR_RING];
	uint16_t free_head, free_cnt;
	uint16_t posted[IR_RING];
	uint16_t posted_head, posted_cnt;
	bool busy[IR_RING];
	uint64_t seq;			/* next sequence number written or expected */
	/* enqueue: the frame being reassembled from merged buffers */
	uint16_t pkt_bufs_left;
	uint32_t pkt_off;
	uint64_t verified;		/* packets the front-end checked */
	uint64_t kicks;			/* posts after which the device wanted a kick */
};

static const struct ir_case *cur;
static struct fe_vring vrings[IR_NR_VRING];
static uint8_t *guest;
static int guest_fd = -1;
static uint64_t features;
static uint8_t pattern[IR_BUF_STRIDE];
static struct rte_mempool *pool;
static bool verbose;
static char sock_path[108];
static char sock_path_stats[108];

static volatile int dev_vid = -1;
static volatile bool dev_up, dev_gone;

static int
cb_new_device(int vid)
{
	uint16_t i;

	/* As net_vhost does: the application polls, no kicks wanted. */
	for (i = 0; i < rte_vhost_get_vring_num(vid); i++)
		rte_vhost_enable_guest_notification(vid, i, 0);
	dev_vid = vid;
	__atomic_store_n(&dev_up, true, __ATOMIC_RELEASE);
	return 0;
}

static void
cb_destroy_device(int vid)
{
	RTE_SET_USED(vid);
	__atomic_store_n(&dev_gone, true, __ATOMIC_RELEASE);
}

static int
cb_vring_state_changed(int vid, uint16_t queue_id, int enable)
{
	if (verbose)
		printf("vring %u %s\n", queue_id, enable ? "enabled" : "disabled");
	RTE_SET_USED(vid);
	return 0;
}

static const struct rte_vhost_device_ops ops = {
	.new_device = cb_new_device,
	.destroy_device = cb_destroy_device,
	.vring_state_changed = cb_vring_state_changed,
};

static void __attribute__((format(printf, 1, 2), noreturn))
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vhost_ir: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (sock_path[0] != '\0')
		unlink(sock_path);
	if (sock_path_stats[0] != '\0')
		unlink(sock_path_stats);
	exit(1);
}

/* The front-end's vhost-user messages (they call die() on error). */
#include "vhost_fe.h"

static bool
has(unsigned int bit)
{
	return (features & (1ULL << bit)) != 0;
}

/* ---- guest memory ---- */

static uint64_t
buf_gpa(const struct fe_vring *v, uint16_t id)
{
	return v->gpa + IR_BUF_OFF + (uint64_t)id * IR_BUF_STRIDE;
}

static uint8_t *
buf_ptr(const struct fe_vring *v, uint16_t id)
{
	return v->base + IR_BUF_OFF + (size_t)id * IR_BUF_STRIDE;
}

/* Once per process: the memfd and its mapping, and the frame pattern. */
static void
guest_create(void)
{
	unsigned int i;

	guest = vu_guest_mem("vhost_ir_guest", IR_MEM_SIZE, &guest_fd);
	for (i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 3);
}

/* Before each case: clean rings, fresh eventfds, every buffer id free. */
static void
vrings_reset(void)
{
	unsigned int i;

	memset(guest, 0, IR_MEM_SIZE);
	for (i = 0; i < IR_NR_VRING; i++) {
		struct fe_vring *v = &vrings[i];
		uint16_t j;

		if (v->base != NULL) {
			close(v->kickfd);
			close(v->callfd);
		}
		memset(v, 0, sizeof(*v));
		v->index = (uint16_t)i;
		v->rx = (i & 1) == 0;	/* even vrings: the front-end's receive queues */
		v->base = guest + (size_t)i * IR_VRING_SPAN;
		v->gpa = IR_GPA_BASE + (uint64_t)i * IR_VRING_SPAN;
		v->desc = (struct vring_desc *)(v->base + IR_DESC_OFF);
		v->pdesc = (struct vring_packed_desc *)(v->base + IR_DESC_OFF);
		v->avail = (struct vring_avail *)(v->base + IR_DRV_OFF);
		v->drv_event = (struct vring_packed_desc_event *)(v->base + IR_DRV_OFF);
		v->used = (struct vring_used *)(v->base + IR_DEV_OFF);
		v->avail_wrap = v->used_wrap = true;
		for (j = 0; j < IR_RING; j++)
			v->free_ids[j] = j;
		v->free_cnt = IR_RING;
		vu_vring_eventfds(&v->kickfd, &v->callfd);
	}
}

/* ---- handshake ---- */

static void
fe_setup_vring(int sock, struct fe_vring *v)
{
	vu_setup_vring(sock, v->index, IR_RING, cur->packed, v->base + IR_DESC_OFF,
		       v->base + IR_DRV_OFF, v->base + IR_DEV_OFF, v->kickfd, v->callfd);
	/* A polling driver: no interrupts, please. */
	if (cur->packed)
		v->drv_event->flags = VRING_PACKED_EVENT_FLAG_DISABLE;
	else
		v->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
}

static int
fe_handshake(const char *path)
{
	uint64_t want = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VU_F_PROTOCOL_FEATURES);
	uint64_t offered, proto;
	int sock = vu_connect(path);
	unsigned int i;

	if (cur->mrg)
		want |= 1ULL << VIRTIO_NET_F_MRG_RXBUF;
	if (cur->in_order)
		want |= 1ULL << VIRTIO_F_IN_ORDER;
	if (cur->packed)
		want |= 1ULL << VIRTIO_F_RING_PACKED;
	if (cur->indirect)
		want |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
	if (cur->nb_qp > 1)
		want |= 1ULL << VIRTIO_NET_F_MQ;
	offered = vu_get_u64(sock, VU_GET_FEATURES);
	if ((offered & want) != want)
		die("the library does not offer features 0x%" PRIx64, want & ~offered);
	features = want;
	proto = vu_get_u64(sock, VU_GET_PROTOCOL_FEATURES);
	if (cur->nb_qp > 1 && (proto & (1ULL << VU_PROTOCOL_F_MQ)) == 0)
		die("the library does not offer the MQ protocol feature");
	vu_send_u64(sock, VU_SET_PROTOCOL_FEATURES, proto & (1ULL << VU_PROTOCOL_F_MQ), -1);
	vu_send(sock, VU_SET_OWNER, NULL, 0, NULL, 0);
	vu_send_u64(sock, VU_SET_FEATURES, features, -1);
	vu_send_mem_table1(sock, IR_GPA_BASE, IR_MEM_SIZE, guest, guest_fd);
	for (i = 0; i < 2u * cur->nb_qp; i++)
		fe_setup_vring(sock, &vrings[i]);
	/* A request with a reply: the library has handled everything before it. */
	(void)vu_get_u64(sock, VU_GET_FEATURES);
	for (i = 0; i < IR_WAIT_MS && !__atomic_load_n(&dev_up, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	if (!dev_up)
		die("no new_device within %d ms", IR_WAIT_MS);
	return sock;
}

/* ---- front-end data path ---- */

static uint16_t
id_get(struct fe_vring *v)
{
	uint16_t id = v->free_ids[v->free_head];

	v->free_head = (uint16_t)((v->free_head + 1) % IR_RING);
	v->free_cnt--;
	return id;
}

static void
id_put(struct fe_vring *v, uint16_t id)
{
	v->free_ids[(v->free_head + v->free_cnt) % IR_RING] = id;
	v->free_cnt++;
}

/* Fills the buffer of a tx packet: a zero header, then the frame. */
static uint32_t
fe_write_tx(struct fe_vring *v, uint16_t id)
{
	uint8_t *p = buf_ptr(v, id);

	memset(p, 0, IR_HLEN);
	memcpy(p + IR_HLEN, pattern, cur->len);
	memcpy(p + IR_HLEN, &v->seq, IR_SEQ_BYTES);
	v->seq++;
	return IR_HLEN + cur->len;
}

/* Writes the descriptor(s) of buffer id; returns the head's addr/len/flags. */
static void
fe_buf_desc(struct fe_vring *v, uint16_t id, uint64_t *addr, uint32_t *len, uint16_t *flags)
{
	uint32_t blen = v->rx ? cur->rx_buf_len : fe_write_tx(v, id);
	uint16_t w = v->rx ? VRING_DESC_F_WRITE : 0;

	if (!cur->indirect) {
		*addr = buf_gpa(v, id);
		*len = blen;
		*flags = w;
		return;
	}
	/* The table: the header, then the rest of the same buffer. */
	*addr = v->gpa + IR_INDIR_OFF + (uint64_t)id * IR_INDIR_ENTRIES * 16;
	*len = IR_INDIR_ENTRIES * 16;
	*flags = VRING_DESC_F_INDIRECT;
	if (cur->packed) {
		struct vring_packed_desc *t = (struct vring_packed_desc *)
			(v->base + IR_INDIR_OFF + (size_t)id * IR_INDIR_ENTRIES * 16);

		t[0] = (struct vring_packed_desc){ .addr = buf_gpa(v, id), .len = IR_HLEN,
						   .flags = w };
		t[1] = (struct vring_packed_desc){ .addr = buf_gpa(v, id) + IR_HLEN,
						   .len = blen - IR_HLEN, .flags = w };
	} else {
		struct vring_desc *t = (struct vring_desc *)
			(v->base + IR_INDIR_OFF + (size_t)id * IR_INDIR_ENTRIES * 16);

		t[0] = (struct vring_desc){ .addr = buf_gpa(v, id), .len = IR_HLEN,
					    .flags = w | VRING_DESC_F_NEXT, .next = 1 };
		t[1] = (struct vring_desc){ .addr = buf_gpa(v, id) + IR_HLEN,
					    .len = blen - IR_HLEN, .flags = w };
	}
}

static void
fe_post(struct fe_vring *v, uint16_t n)
{
	uint16_t i;

	for (i = 0; i < n && v->free_cnt > 0; i++) {
		uint16_t id = id_get(v), fl;
		uint64_t addr;
		uint32_t len;

		fe_buf_desc(v, id, &addr, &len, &fl);
		v->busy[id] = true;
		v->posted[(v->posted_head + v->posted_cnt) % IR_RING] = id;
		v->posted_cnt++;
		v->inflight++;
		if (cur->packed) {
			struct vring_packed_desc *d = &v->pdesc[v->avail_idx];

			fl |= v->avail_wrap ? 1u << VRING_PACKED_DESC_F_AVAIL :
					      1u << VRING_PACKED_DESC_F_USED;
			d->addr = addr;
			d->len = len;
			d->id = id;
			__atomic_store_n(&d->flags, fl, __ATOMIC_RELEASE);
			if (++v->avail_idx == IR_RING) {
				v->avail_idx = 0;
				v->avail_wrap = !v->avail_wrap;
			}
		} else {
			v->desc[id] = (struct vring_desc){ .addr = addr, .len = len, .flags = fl };
			v->avail->ring[v->avail_idx % IR_RING] = id;
			v->avail_idx++;
		}
	}
	if (i == 0)
		return;
	if (!cur->packed)
		__atomic_store_n(&v->avail->idx, v->avail_idx, __ATOMIC_RELEASE);
	/*
	 * Would a virtio driver kick now? It reads the device's suppression
	 * flag after publishing (no EVENT_IDX here). virtio_user kicks with an
	 * eventfd write, a syscall per refill: count them, do not make them.
	 */
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (cur->packed) {
		const struct vring_packed_desc_event *dev_event =
			(const void *)(v->base + IR_DEV_OFF);

		if (__atomic_load_n(&dev_event->flags, __ATOMIC_RELAXED) !=
		    VRING_PACKED_EVENT_FLAG_DISABLE)
			v->kicks++;
	} else if ((__atomic_load_n(&v->used->flags, __ATOMIC_RELAXED) &
		    VRING_USED_F_NO_NOTIFY) == 0) {
		v->kicks++;
	}
}

/* Checks one used rx buffer as part of the frame being reassembled. */
static void
fe_check_rx(struct fe_vring *v, uint16_t id, uint32_t len)
{
	const uint8_t *p = buf_ptr(v, id);
	uint32_t data;

	if (len > cur->rx_buf_len)
		die("vring %u: used length %u > buffer %u", v->index, len, cur->rx_buf_len);
	if (v->pkt_bufs_left == 0) {
		const struct virtio_net_hdr_mrg_rxbuf *h = (const void *)p;
		uint64_t seq;

		v->pkt_bufs_left = cur->mrg ? h->num_buffers : 1;
		if (v->pkt_bufs_left == 0 || h->hdr.flags != 0 || h->hdr.gso_type != 0)
			die("vring %u: bad header (num_buffers %u flags %u gso %u)", v->index,
			    h->num_buffers, h->hdr.flags, h->hdr.gso_type);
		if (len < IR_HLEN + IR_SEQ_BYTES)
			die("vring %u: first buffer of %u bytes", v->index, len);
		memcpy(&seq, p + IR_HLEN, IR_SEQ_BYTES);
		if (seq != v->seq)
			die("vring %u: got packet %" PRIu64 ", expected %" PRIu64, v->index,
			    seq, v->seq);
		p += IR_HLEN + IR_SEQ_BYTES;
		data = len - IR_HLEN - IR_SEQ_BYTES;
		v->pkt_off = IR_SEQ_BYTES;
	} else {
		data = len;
	}
	if (v->pkt_off + data > cur->len || memcmp(p, pattern + v->pkt_off, data) != 0)
		die("vring %u: packet %" PRIu64 ": wrong content at %u..%u", v->index, v->seq,
		    v->pkt_off, v->pkt_off + data);
	v->pkt_off += data;
	if (--v->pkt_bufs_left == 0) {
		if (v->pkt_off != cur->len)
			die("vring %u: packet %" PRIu64 " of %u bytes, expected %u", v->index,
			    v->seq, v->pkt_off, cur->len);
		v->seq++;
		v->verified++;
	}
}

/* One buffer comes back: it must be the oldest posted (in-order) or in flight. */
static void
fe_complete(struct fe_vring *v, uint16_t id, uint32_t len)
{
	if (id >= IR_RING || !v->busy[id])
		die("vring %u: used id %u is not in flight", v->index, id);
	if (v->posted[v->posted_head] != id) {
		uint16_t i;

		if (has(VIRTIO_F_IN_ORDER))
			die("vring %u: id %u used out of order", v->index, id);
		/* Out of order: take it out of the posted list. */
		for (i = 0; v->posted[(v->posted_head + i) % IR_RING] != id; i++)
			;
		for (; i > 0; i--)
			v->posted[(v->posted_head + i) % IR_RING] =
				v->posted[(v->posted_head + i - 1) % IR_RING];
	}
	v->posted_head = (uint16_t)((v->posted_head + 1) % IR_RING);
	v->posted_cnt--;
	v->busy[id] = false;
	if (v->rx)
		fe_check_rx(v, id, len);
	else
		v->verified++;
	id_put(v, id);
	v->inflight--;
}

static void
fe_reclaim_split(struct fe_vring *v)
{
	uint16_t u = __atomic_load_n(&v->used->idx, __ATOMIC_ACQUIRE);

	if ((uint16_t)(u - v->used_idx) > v->inflight)
		die("vring %u: used idx moved by %u with %u in flight", v->index,
		    (uint16_t)(u - v->used_idx), v->inflight);
	while (v->used_idx != u) {
		const struct vring_used_elem *e = &v->used->ring[v->used_idx % IR_RING];

		/* In order, a tx completion may stand for a batch: only the
		 * count matters then (virtio 1.1, 2.6.9). */
		if (!v->rx && has(VIRTIO_F_IN_ORDER))
			fe_complete(v, v->posted[v->posted_head], 0);
		else
			fe_complete(v, (uint16_t)e->id, e->len);
		v->used_idx++;
	}
}

static void
fe_reclaim_packed(struct fe_vring *v)
{
	while (v->inflight > 0) {
		struct vring_packed_desc *d = &v->pdesc[v->used_idx];
		uint16_t f = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE), n = 1, k;
		bool a = (f & (1u << VRING_PACKED_DESC_F_AVAIL)) != 0;
		bool u = (f & (1u << VRING_PACKED_DESC_F_USED)) != 0;

		if (a != v->used_wrap || u != v->used_wrap)
			break;
		if (has(VIRTIO_F_IN_ORDER)) {
			/* The used descriptor may stand for every buffer up to its id. */
			for (n = 1; n <= v->posted_cnt &&
			     v->posted[(v->posted_head + n - 1) % IR_RING] != d->id; n++)
				;
			if (n > v->posted_cnt)
				die("vring %u: used id %u is not in flight", v->index, d->id);
			if (n > 1 && v->rx)
				die("vring %u: %u rx buffers used without their lengths",
				    v->index, n);
		}
		for (k = 0; k < n; k++) {
			fe_complete(v, k + 1 == n ? d->id : v->posted[v->posted_head], d->len);
			if (++v->used_idx == IR_RING) {
				v->used_idx = 0;
				v->used_wrap = !v->used_wrap;
			}
		}
	}
}

static void
fe_reclaim(struct fe_vring *v)
{
	if (cur->packed)
		fe_reclaim_packed(v);
	else
		fe_reclaim_split(v);
}

/* Buffers (enqueue) or packets (dequeue) the library can take now. */
static uint16_t
fe_offered(const struct fe_vring *v)
{
	uint16_t n;

	if (!v->rx)
		return RTE_MIN(v->inflight, IR_BURST);
	/* Each frame takes ceil((hdr + len) / buffer) buffers when merged. */
	n = (uint16_t)((IR_HLEN + cur->len + cur->rx_buf_len - 1) / cur->rx_buf_len);
	return RTE_MIN(v->inflight / n, IR_BURST);
}

/* ---- the run ---- */

static void
check_mbuf(struct fe_vring *v, struct rte_mbuf *m, uint64_t seq)
{
	uint8_t tmp[IR_MAX_FRAME];
	const uint8_t *p;
	uint64_t s;

	if (m->pkt_len != cur->len)
		die("vring %u: dequeued %u bytes, expected %u", v->index, m->pkt_len, cur->len);
	p = rte_pktmbuf_read(m, 0, cur->len, tmp);
	if (p == NULL)
		die("vring %u: mbuf chain shorter than its pkt_len", v->index);
	memcpy(&s, p, IR_SEQ_BYTES);
	if (s != seq)
		die("vring %u: dequeued packet %" PRIu64 ", expected %" PRIu64, v->index, s, seq);
	if (memcmp(p + IR_SEQ_BYTES, pattern + IR_SEQ_BYTES, cur->len - IR_SEQ_BYTES) != 0)
		die("vring %u: dequeued packet %" PRIu64 ": wrong content", v->index, s);
}

/* With statistics on, the library's good_packets must match what moved. */
static void
check_stats(int vid, uint16_t qid, uint64_t moved)
{
	struct rte_vhost_stat_name names[64];
	struct rte_vhost_stat vals[64];
	int n = rte_vhost_vring_stats_get_names(vid, qid, names, RTE_DIM(names));
	int k, i;

	if (n <= 0 || n > (int)RTE_DIM(names))
		die("vring %u: %d statistics", qid, n);
	k = rte_vhost_vring_stats_get(vid, qid, vals, RTE_DIM(vals));
	if (k != n)
		die("vring %u: %d statistic values for %d names", qid, k, n);
	/* Named "<dir>_q<N>_good_packets". */
	for (i = 0; i < n; i++) {
		const char *nm, *suffix = "_good_packets";
		size_t l, sl = strlen(suffix);

		if (vals[i].id >= (uint64_t)n)
			die("vring %u: statistic id %" PRIu64 " out of range", qid, vals[i].id);
		nm = names[vals[i].id].name;
		l = strnlen(nm, sizeof(names[0].name));
		if (l >= sl && l < sizeof(names[0].name) && strcmp(nm + l - sl, suffix) == 0)
			break;
	}
	if (i == n)
		die("vring %u: no good_packets statistic", qid);
	if (vals[i].value != moved)
		die("vring %u: good_packets %" PRIu64 ", moved %" PRIu64, qid, vals[i].value,
		    moved);
}

static int
run(const char *path, uint32_t bursts)
{
	struct rte_mbuf *tx[IR_MAX_QP][IR_BURST], *rx[IR_BURST];
	uint64_t seq[IR_MAX_QP] = { 0 }, pkts = 0, shorts = 0, calls = 0, kicks = 0;
	uint64_t verified = 0;
	uint16_t first_fill = cur->refill == IR_BURST && cur->refill_every == 1 ?
			      IR_RING : cur->refill;
	unsigned int q, i;
	Dl_info dl;
	uint32_t b;
	int sock, vid;

	__atomic_store_n(&dev_up, false, __ATOMIC_RELEASE);
	__atomic_store_n(&dev_gone, false, __ATOMIC_RELEASE);
	vrings_reset();
	sock = fe_handshake(path);
	vid = dev_vid;
	if (rte_vhost_get_vring_num(vid) < 2 * cur->nb_qp)
		die("the library has %u vrings, expected %u", rte_vhost_get_vring_num(vid),
		    2 * cur->nb_qp);
	for (q = 0; q < cur->nb_qp; q++) {
		fe_post(&vrings[2 * q + (cur->enq ? 0 : 1)], first_fill);
		if (!cur->enq)
			continue;
		if (rte_pktmbuf_alloc_bulk(pool, tx[q], IR_BURST) != 0)
			die("mbuf allocation failed");
		for (i = 0; i < IR_BURST; i++) {
			uint8_t *p = (uint8_t *)rte_pktmbuf_append(tx[q][i], (uint16_t)cur->len);

			if (p == NULL)
				die("mbuf too small for %u bytes", cur->len);
			memcpy(p, pattern, cur->len);
		}
	}
	for (b = 0; b < bursts; b++) {
		struct fe_vring *v;
		uint16_t n, offered;

		q = b % cur->nb_qp;
		v = &vrings[2 * q + (cur->enq ? 0 : 1)];
		offered = fe_offered(v);
		if (cur->enq) {
			/* Sequence numbers continue where the last accepted one ended. */
			for (i = 0; i < IR_BURST; i++) {
				uint64_t s = seq[q] + i;

				memcpy(rte_pktmbuf_mtod(tx[q][i], void *), &s, IR_SEQ_BYTES);
			}
			n = rte_vhost_enqueue_burst(vid, (uint16_t)(2 * q), tx[q], IR_BURST);
			if (n > IR_BURST)
				die("enqueue returned %u of %u", n, IR_BURST);
			seq[q] += n;	/* the rest are dropped and sent again */
		} else {
			n = rte_vhost_dequeue_burst(vid, (uint16_t)(2 * q + 1), pool, rx, IR_BURST);
			if (n > IR_BURST)
				die("dequeue returned %u of %u", n, IR_BURST);
			for (i = 0; i < n; i++)
				check_mbuf(v, rx[i], seq[q]++);
			rte_pktmbuf_free_bulk(rx, n);
		}
		if (n == 0 && offered > 0)
			die("burst %u: the library moved nothing of %u offered", b, offered);
		if (n < offered)
			shorts++;
		pkts += n;
		fe_reclaim(v);
		if ((b / cur->nb_qp + 1) % cur->refill_every == 0)
			fe_post(v, cur->refill);
	}
	for (i = 0; i < 2u * cur->nb_qp; i++) {
		struct fe_vring *v = &vrings[i];
		uint64_t cnt;

		fe_reclaim(v);
		if (v->rx && v->pkt_bufs_left != 0)
			die("vring %u: a frame is missing %u buffers", v->index, v->pkt_bufs_left);
		verified += v->verified;
		kicks += v->kicks;
		if (read(v->callfd, &cnt, sizeof(cnt)) == sizeof(cnt))
			calls += cnt;
	}
	if (cur->stats)
		for (q = 0; q < cur->nb_qp; q++)
			check_stats(vid, (uint16_t)(2 * q + (cur->enq ? 0 : 1)), seq[q]);
	/* Enqueue: what the front-end received; dequeue: tx buffers it got back. */
	if (verified != pkts)
		die("the library moved %" PRIu64 " packets, the front-end saw %" PRIu64,
		    pkts, verified);
	if (dladdr((void *)(uintptr_t)rte_vhost_enqueue_burst, &dl) == 0 || dl.dli_fname == NULL)
		die("cannot tell which librte_vhost is loaded");
	printf("library: %s\n", dl.dli_fname);
	printf("case: %s\npackets: %" PRIu64 "\nbursts: %u\nshort: %" PRIu64 "\ncalls: %" PRIu64
	       "\nkicks: %" PRIu64 "\n", cur->name, pkts, bursts, shorts, calls, kicks);
	if (cur->enq)
		for (q = 0; q < cur->nb_qp; q++)
			rte_pktmbuf_free_bulk(tx[q], IR_BURST);
	close(sock);
	for (i = 0; i < IR_WAIT_MS && !__atomic_load_n(&dev_gone, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	if (!dev_gone)
		die("no destroy_device within %d ms of the front-end closing", IR_WAIT_MS);
	return 0;
}

static void
usage(const char *prog)
{
	fprintf(stderr, "usage: %s -l | -c CASE[,CASE...]|all [-n BURSTS] [-v]\n", prog);
	exit(2);
}

int
main(int argc, char **argv)
{
	char *path = sock_path;
	uint32_t bursts = 1000;
	const struct ir_case *run_list[IR_CASES_MAX];
	const char *name = NULL;
	unsigned int nb_run = 0;
	bool list = false;
	unsigned int i;
	int opt, rc;

	cases_init();
	while ((opt = getopt(argc, argv, "lc:n:v")) != -1) {
		switch (opt) {
		case 'l':
			list = true;
			break;
		case 'c':
			name = optarg;
			break;
		case 'n':
			bursts = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'v':
			verbose = true;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (list) {
		for (i = 0; i < nb_cases; i++)
			printf("%-28s %s\n", cases[i].name, cases[i].what);
		return 0;
	}
	if (name == NULL || bursts == 0)
		usage(argv[0]);
	/* Check every name before starting anything. */
	if (strcmp(name, "all") != 0) {
		char *copy = strdup(name), *save = NULL, *tok;

		for (tok = strtok_r(copy, ",", &save); tok != NULL;
		     tok = strtok_r(NULL, ",", &save)) {
			for (i = 0; i < nb_cases && strcmp(cases[i].name, tok) != 0; i++)
				;
			if (i == nb_cases)
				die("no case %s (-l lists them)", tok);
			if (nb_run == RTE_DIM(run_list))
				die("too many cases");
			run_list[nb_run++] = &cases[i];
		}
		free(copy);
	} else {
		for (i = 0; i < nb_cases; i++)
			run_list[nb_run++] = &cases[i];
	}

	if (test_eal_init(argv[0], 64, "--log-level=lib.vhost.*:error", "-l", "0") < 0)
		die("EAL init: %s", rte_strerror(rte_errno));
	/* As testpmd makes it: a per-lcore cache in front of the ring. */
	pool = rte_pktmbuf_pool_create("vhost_ir", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	if (pool == NULL)
		die("mempool: %s", rte_strerror(rte_errno));
	/* Two sockets, registered before the library's event thread first waits. */
	snprintf(path, sizeof(sock_path), "/tmp/vhost_ir.%d.sock", (int)getpid());
	snprintf(sock_path_stats, sizeof(sock_path_stats), "/tmp/vhost_ir.%d.stats.sock",
		 (int)getpid());
	unlink(path);
	unlink(sock_path_stats);
	if (rte_vhost_driver_register(path, 0) != 0 ||
	    rte_vhost_driver_callback_register(path, &ops) != 0 ||
	    rte_vhost_driver_register(sock_path_stats, RTE_VHOST_USER_NET_STATS_ENABLE) != 0 ||
	    rte_vhost_driver_callback_register(sock_path_stats, &ops) != 0 ||
	    rte_vhost_driver_start(path) != 0 || rte_vhost_driver_start(sock_path_stats) != 0)
		die("cannot start the vhost-user sockets %s and %s", path, sock_path_stats);
	guest_create();
	/* One process, one socket, one connection per case. */
	for (i = 0, rc = 0; i < nb_run && rc == 0; i++) {
		cur = run_list[i];
		rc = run(cur->stats ? sock_path_stats : path, bursts);
	}
	rte_vhost_driver_unregister(path);
	rte_vhost_driver_unregister(sock_path_stats);
	unlink(path);
	unlink(sock_path_stats);
	rte_mempool_free(pool);
	test_eal_cleanup();
	return rc;
}

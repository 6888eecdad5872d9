/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the VVU driver (drivers/virtio_vhost_user) against a
 * hostile device.
 *
 * The device is a device access ops table (vvu_drv_hw.h) whose config space,
 * BAR sizes and register reads come from the input: a well-formed VVU device
 * (the register model of app/test/vvu_driver/test_vvu_driver.c) that the
 * input patches byte by byte, and whose register reads the input may answer
 * instead of the model. The driver's probe (capability walk), virtio init
 * (features, status, queue sizes and set-up, vectors, notify and aux slot
 * offsets, shared memory offsets) runs on it; then the message queues: the
 * "device" writes rxq buffers and used elements (ids, lengths and used
 * indexes the input chooses, including out of range ones), the driver pops
 * them and each popped buffer is framed as the transport frames it
 * (vvu_handle_one) and handed to the message handler on an fd-less
 * connection; replies go out on txq, which the device completes with used
 * elements of its choice.
 *
 * The rings live in two separately allocated blocks of exactly the size the
 * driver asks for, so ASan catches any access past them.
 *
 * Input: [0] device options, [1] BAR0 size selector, [2..3] BAR2 size
 * (MiB), [4] patch count n, then n (offset, value) config space patches,
 * [..] u8 register script length L and L script bytes (each register read
 * takes one: high bit set: the next read-width bytes are the value, else
 * the model's), then ring records (see run_rings()).
 */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>

#include <rte_eal.h>

#include "app/test/vhost/vhost_msg_mock.h"
#include "test_eal.h"
#include "vvu_drv_hw.h"
#include "vvu_drv_pci.h"
#include "vvu_drv_queue.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BAR0_SIZE	0x10000u
#define MAX_PATCHES	32
#define MAX_RECORDS	256

struct input {
	const uint8_t *p;
	size_t left;
};

static uint8_t
in_u8(struct input *in)
{
	uint8_t v = 0;

	if (in->left > 0) {
		v = *in->p++;
		in->left--;
	}
	return v;
}

static uint16_t
in_u16(struct input *in)
{
	return (uint16_t)(in_u8(in) | in_u8(in) << 8);
}

/* ---- the device model, as in test_vvu_driver.c ---- */

static struct {
	uint8_t cfg[VVU_PCI_CFG_SIZE];
	uint64_t bars[VVU_PCI_NUM_BARS];
	uint64_t dev_features;
	uint32_t dfselect;
	uint8_t status;
	uint16_t numq, qsel;
	uint16_t qsize[VVU_NUM_VQS], qvec[VVU_NUM_VQS], qnoff[VVU_NUM_VQS];
	uint16_t msix_config;
	uint32_t dev_status, max_q;
	struct input script;		/* register reads the input answers */
	unsigned int ops;		/* accesses this input, bounded */
} dv;

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void
put_cap(unsigned int pos, unsigned int next, unsigned int len, uint8_t type, uint8_t bar,
	uint8_t id, uint64_t off, uint64_t length)
{
	uint8_t *c = dv.cfg + pos;

	c[0] = PCI_CAP_ID_VNDR;
	c[1] = (uint8_t)next;
	c[2] = (uint8_t)len;
	c[3] = type;
	c[4] = bar;
	c[5] = id;
	put32(c + 8, (uint32_t)off);
	put32(c + 12, (uint32_t)length);
	if (len >= 24) {
		put32(c + 16, (uint32_t)(off >> 32));
		put32(c + 20, (uint32_t)(length >> 32));
	}
}

static void
dv_reset(uint64_t bar2)
{
	memset(&dv, 0, sizeof(dv));
	put16(dv.cfg + PCI_VENDOR_ID, 0x1AF4);
	put16(dv.cfg + PCI_DEVICE_ID, 0x106B);
	put16(dv.cfg + PCI_STATUS, PCI_STATUS_CAP_LIST);
	dv.cfg[PCI_CAPABILITY_LIST] = 0x40;
	dv.cfg[0x40] = PCI_CAP_ID_MSIX;
	dv.cfg[0x41] = 0x4C;
	put16(dv.cfg + 0x42, 258);
	put32(dv.cfg + 0x44, 0x6000);
	put32(dv.cfg + 0x48, 0x8000);
	put_cap(0x4C, 0x5C, 16, VIRTIO_PCI_CAP_COMMON_CFG, 0, 0, 0x0000, 0x1000);
	put_cap(0x5C, 0x70, 20, VIRTIO_PCI_CAP_NOTIFY_CFG, 0, 0, 0x3000, 0x1000);
	put32(dv.cfg + 0x5C + 16, 4);
	put_cap(0x70, 0x80, 16, VIRTIO_PCI_CAP_ISR_CFG, 0, 0, 0x1000, 0x1000);
	put_cap(0x80, 0x90, 16, VIRTIO_PCI_CAP_DEVICE_CFG, 0, 0, 0x2000, 0x1000);
	put_cap(0x90, 0xA4, 20, VVU_PCI_CAP_DEVICE_AUX_NOTIFY_CFG, 0, 0, 0x4000, 0x1000);
	put32(dv.cfg + 0x90 + 16, 4);
	put_cap(0xA4, 0xB4, 16, VVU_PCI_CAP_DRIVER_AUX_NOTIFY_CFG, 0, 0, 0x5000, 0x1000);
	put_cap(0xB4, 0x00, 24, VVU_PCI_CAP_SHARED_MEMORY_CFG, 2, 1, 0, bar2);
	dv.bars[0] = BAR0_SIZE;
	dv.bars[2] = bar2;
	dv.dev_features = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 33);
	dv.numq = VVU_NUM_VQS;
	dv.qsize[VVU_RXQ] = dv.qsize[VVU_TXQ] = VVU_QUEUE_SIZE_MAX;
	dv.qnoff[VVU_TXQ] = 1;
	dv.max_q = 256;
	dv.qvec[VVU_RXQ] = dv.qvec[VVU_TXQ] = dv.msix_config = VIRTIO_MSI_NO_VECTOR;
}

static uint64_t
get_le(const void *buf, uint32_t len)
{
	const uint8_t *p = buf;
	uint64_t v = 0;
	uint32_t i;

	for (i = 0; i < len; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void
set_le(void *buf, uint32_t len, uint64_t v)
{
	uint8_t *p = buf;
	uint32_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A driver that keeps asking (a reset that never completes) gets an error. */
static int
dv_count(void)
{
	return ++dv.ops > 100000 ? -EIO : 0;
}

static int
fz_cfg_read(struct vvu_drv_hw *hw, uint32_t off, void *buf, uint32_t len)
{
	if (off > VVU_PCI_CFG_SIZE || len > VVU_PCI_CFG_SIZE - off) {
		fprintf(stderr, "fuzz_vvu_driver: config read %u+%u out of range\n", off, len);
		abort();
	}
	memcpy(buf, dv.cfg + off, len);
	return dv_count();
}

static int
fz_cfg_write(struct vvu_drv_hw *hw, uint32_t off, const void *buf, uint32_t len)
{
	if (off > VVU_PCI_CFG_SIZE || len > VVU_PCI_CFG_SIZE - off)
		abort();
	memcpy(dv.cfg + off, buf, len);
	return dv_count();
}

static int
fz_bar_size(struct vvu_drv_hw *hw, unsigned int bar, uint64_t *size)
{
	if (bar >= VVU_PCI_NUM_BARS)
		abort();
	*size = dv.bars[bar];
	return dv_count();
}

static int
fz_bar_read(struct vvu_drv_hw *hw, unsigned int bar, uint64_t off, void *buf, uint32_t len)
{
	uint16_t q = dv.qsel < VVU_NUM_VQS ? dv.qsel : 0;
	uint64_t v = 0;

	/* The driver checked the access against the BAR and its capability. */
	if (bar >= VVU_PCI_NUM_BARS || off >= dv.bars[bar] || len > dv.bars[bar] - off ||
	    (len != 1 && len != 2 && len != 4 && len != 8)) {
		fprintf(stderr, "fuzz_vvu_driver: BAR%u read %#" PRIx64 "+%u outside the BAR\n",
			bar, off, len);
		abort();
	}
	switch (off) {
	case VIRTIO_PCI_COMMON_DF:
		v = dv.dfselect == 0 ? (uint32_t)dv.dev_features :
			dv.dfselect == 1 ? dv.dev_features >> 32 : 0;
		break;
	case VIRTIO_PCI_COMMON_MSIX: v = dv.msix_config; break;
	case VIRTIO_PCI_COMMON_NUMQ: v = dv.numq; break;
	case VIRTIO_PCI_COMMON_STATUS: v = dv.status; break;
	case VIRTIO_PCI_COMMON_Q_SIZE: v = dv.qsize[q]; break;
	case VIRTIO_PCI_COMMON_Q_MSIX: v = dv.qvec[q]; break;
	case VIRTIO_PCI_COMMON_Q_NOFF: v = dv.qnoff[q]; break;
	case VVU_BAR0_DEVCFG: v = dv.dev_status; break;
	case VVU_BAR0_DEVCFG + 4: v = dv.max_q; break;
	default: break;
	}
	/* The input answers instead of the model when it says so. */
	if (in_u8(&dv.script) & 0x80) {
		uint32_t i;

		for (i = 0, v = 0; i < len; i++)
			v |= (uint64_t)in_u8(&dv.script) << (8 * i);
	}
	set_le(buf, len, v);
	return dv_count();
}

static int
fz_bar_write(struct vvu_drv_hw *hw, unsigned int bar, uint64_t off, const void *buf,
	     uint32_t len)
{
	uint64_t v = get_le(buf, len);
	uint16_t q = dv.qsel < VVU_NUM_VQS ? dv.qsel : 0;

	if (bar >= VVU_PCI_NUM_BARS || off >= dv.bars[bar] || len > dv.bars[bar] - off) {
		fprintf(stderr, "fuzz_vvu_driver: BAR%u write %#" PRIx64 "+%u outside the BAR\n",
			bar, off, len);
		abort();
	}
	if (bar != 0)
		return dv_count();
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT: dv.dfselect = (uint32_t)v; break;
	case VIRTIO_PCI_COMMON_MSIX: dv.msix_config = (uint16_t)v; break;
	case VIRTIO_PCI_COMMON_STATUS: dv.status = (uint8_t)v; break;
	case VIRTIO_PCI_COMMON_Q_SELECT: dv.qsel = (uint16_t)v; break;
	case VIRTIO_PCI_COMMON_Q_SIZE: dv.qsize[q] = (uint16_t)v; break;
	case VIRTIO_PCI_COMMON_Q_MSIX: dv.qvec[q] = (uint16_t)v; break;
	case VVU_BAR0_DEVCFG: dv.dev_status = (uint32_t)v; break;
	default: break;
	}
	return dv_count();
}

static const struct vvu_drv_hw_ops fz_ops = {
	.name = "fuzz",
	.cfg_read = fz_cfg_read,
	.cfg_write = fz_cfg_write,
	.bar_size = fz_bar_size,
	.bar_read = fz_bar_read,
	.bar_write = fz_bar_write,
};

/* ---- probe and init ---- */

static bool
run_pci(struct vvu_drv_pci *p, struct vvu_drv_hw *hw, struct input *in, uint16_t *sizes)
{
	uint64_t off;
	uint32_t st;
	uint16_t q;

	if (vvu_drv_pci_probe(p, hw) != 0 || vvu_drv_pci_init(p) != 0)
		return false;
	for (q = 0; q < VVU_NUM_VQS; q++)
		if (vvu_drv_pci_queue_size(p, q, VVU_QUEUE_SIZE_MAX, &sizes[q]) != 0)
			return false;
	if (vvu_drv_pci_set_config_vector(p, 0) != 0)
		return false;
	for (q = 0; q < VVU_NUM_VQS; q++)
		if (vvu_drv_pci_queue_setup(p, q, 0x1000, 0x2000, 0x3000, 0) != 0)
			return false;
	vvu_drv_pci_set_kick_vector(p, in_u16(in), in_u16(in));
	vvu_drv_pci_aux_slot_offset(&p->caps, in_u16(in) | (uint32_t)in_u16(in) << 16, &off);
	vvu_drv_pci_aux_notify(p, in_u16(in));
	vvu_drv_pci_shm_offset(&p->caps, (uint64_t)in_u16(in) << in_u8(in) % 40,
			       (uint64_t)in_u16(in) << in_u8(in) % 40, &off);
	vvu_drv_pci_notify_queue(p, VVU_RXQ);
	vvu_drv_pci_notify_queue(p, VVU_TXQ);
	vvu_drv_pci_get_dev_status(p, &st);
	vvu_drv_pci_set_dev_status(p, VVU_STATUS_BACKEND_UP);
	return true;
}

/* ---- the message queues ---- */

static struct vhost_dev *dev;

/* What vvu_handle_one does with a popped buffer. */
static void
handle_rx(const uint8_t *buf, int len)
{
	static struct vhost_user_ctx ctx;
	struct vhost_user_hdr hdr;

	if ((size_t)len < VHOST_USER_HDR_SIZE)
		return;
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.size > VHOST_USER_PAYLOAD_MAX || (size_t)len != VHOST_USER_HDR_SIZE + hdr.size)
		return;
	memset(&ctx, 0, sizeof(ctx));
	memcpy(&ctx.msg, buf, (size_t)len);
	if (vhost_user_msg_handle(dev, &ctx) < 0) {
		vhost_dev_free(dev);
		dev = mock_dev_new(&mock_trans_nofd);
		if (dev == NULL)
			abort();
	}
}

/* The device completes avail entry pos of vq with (id, len), as the input says. */
static void
dev_complete(struct vvu_drv_vq *vq, uint16_t pos, uint32_t id, uint32_t len)
{
	uint16_t u = vq->used->idx;

	vq->used->ring[u & vq->mask].id = id;
	vq->used->ring[u & vq->mask].len = len;
	__atomic_store_n(&vq->used->idx, (uint16_t)(u + 1), __ATOMIC_RELEASE);
	RTE_SET_USED(pos);
}

/*
 * Ring records, by their first byte's low 2 bits:
 *   0  rxq message: u8 id mode, u16 length, u16 claimed length, bytes. The
 *      device takes the next avail entry, writes the bytes into that
 *      descriptor's buffer (only within it: the device is hostile, not
 *      broken; an out-of-range id is what it lies about), completes it with
 *      the real id or one from the input, and the driver pops.
 *   1  txq: the driver pushes the replies it has; the device completes
 *      u8 count entries, each u8 mode: high bit set: u16 id, u16 length
 *      from the input, else the next head the driver published; reclaim.
 *   2  raw: u8 offset, u16 value written into the rxq or txq used ring.
 *   3  rx_post_all.
 */
static void
run_rings(struct vvu_drv_vq *rxq, struct vvu_drv_vq *txq, struct input *in)
{
	static uint8_t msg[VVU_BUF_SIZE];
	unsigned int r;

	for (r = 0; r < MAX_RECORDS && in->left > 0; r++) {
		uint8_t op = in_u8(in);

		if (rxq->broken || txq->broken)
			return;
		switch (op & 3) {
		case 0: {
			uint8_t mode = in_u8(in);
			uint16_t len = in_u16(in), claim = in_u16(in);
			uint16_t pos = rxq->avail->ring[(rxq->used->idx) & rxq->mask];
			uint32_t id = (mode & 0x80) ? (uint32_t)in_u16(in) : pos;
			int got;

			if (pos < rxq->size) {
				struct vring_desc *d = &rxq->desc[pos];
				uint8_t *buf = rxq->bufs + (size_t)pos * VVU_BUF_SIZE;
				size_t n = RTE_MIN((size_t)len, (size_t)VVU_BUF_SIZE);

				/* The descriptor is ours: its buffer is the driver's slot. */
				RTE_SET_USED(d);
				n = RTE_MIN(n, in->left);
				memcpy(buf, in->p, n);
				in->p += n;
				in->left -= n;
			}
			dev_complete(rxq, pos, id, (mode & 0x40) ? claim : len);
			while ((got = vvu_drv_vq_rx_pop(rxq, msg, sizeof(msg))) > 0)
				handle_rx(msg, got);
			break;
		}
		case 1: {
			uint8_t k, count = in_u8(in);

			/* The replies since the last record (the last one's bytes). */
			for (k = 0; k < mock.nr_replies && k < 4; k++)
				vvu_drv_vq_tx_push(txq, &mock.reply,
						   VHOST_USER_HDR_SIZE + mock.reply.hdr.size);
			mock.nr_replies = 0;
			for (k = 0; k < count % 8; k++) {
				uint8_t mode = in_u8(in);
				uint16_t head = txq->avail->ring[txq->used->idx & txq->mask];

				/* The head the driver published next, or the input's lie. */
				if (mode & 0x80)
					dev_complete(txq, 0, in_u16(in), in_u16(in));
				else
					dev_complete(txq, 0, head, 0);
			}
			vvu_drv_vq_tx_reclaim(txq);
			break;
		}
		case 2: {
			struct vvu_drv_vq *vq = (op & 4) ? txq : rxq;
			size_t off = in_u8(in) % (4 + 8 * (size_t)vq->size);

			*(volatile uint16_t *)((uint8_t *)vq->used + (off & ~(size_t)1)) =
				in_u16(in);
			break;
		}
		default:
			vvu_drv_vq_rx_post_all(rxq);
			break;
		}
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	RTE_SET_USED(argc);
	/* FUZZ_VERBOSE=1: the library's and the driver's log lines. */
	if (test_eal_init((*argv)[0], 64, "-l", "0", getenv("FUZZ_VERBOSE") != NULL ?
			  "--log-level=lib.vhost.*:debug" : "--log-level=*:emergency") < 0)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vvu_drv_hw hw = { .ops = &fz_ops, .name = "fuzz", .addr = "fuzz" };
	struct input in = { data, size };
	struct vvu_drv_vq rxq, txq;
	struct vvu_drv_pci p;
	uint16_t sizes[VVU_NUM_VQS];
	uint8_t opt, n, i, script_len;
	void *rxmem, *txmem;
	uint64_t bar2;
	int fds_before;

	if (size < 5)
		return 0;
	fds_before = test_count_fds();
	opt = in_u8(&in);
	n = in_u8(&in);
	bar2 = (uint64_t)(in_u16(&in) | 1) << 20;
	dv_reset(bar2);
	if (n & 0x80)
		dv.bars[0] = (uint64_t)(n & 0x7f) << 9;	/* smaller than the caps say */
	if (opt & 1)
		dv.dev_features |= (uint64_t)in_u16(&in) << 16 | (uint64_t)in_u16(&in) << 40;
	n = in_u8(&in) % MAX_PATCHES;
	for (i = 0; i < n; i++) {
		uint8_t off = in_u8(&in);

		dv.cfg[off] = in_u8(&in);
	}
	script_len = in_u8(&in);
	dv.script.p = in.p;
	dv.script.left = RTE_MIN((size_t)script_len, in.left);
	in.p += dv.script.left;
	in.left -= dv.script.left;

	memset(&p, 0, sizeof(p));
	if (!run_pci(&p, &hw, &in, sizes))
		return 0;
	/* The transport takes what queue_size returned: check it is sane. */
	for (i = 0; i < VVU_NUM_VQS; i++)
		if (sizes[i] == 0 || sizes[i] > VVU_QUEUE_SIZE_MAX || (sizes[i] & (sizes[i] - 1))) {
			fprintf(stderr, "fuzz_vvu_driver: queue %u size %u accepted\n", i, sizes[i]);
			abort();
		}
	rxmem = aligned_alloc(VVU_RING_ALIGN, RTE_ALIGN(vvu_drv_vq_mem_size(sizes[VVU_RXQ]),
							  VVU_RING_ALIGN));
	txmem = aligned_alloc(VVU_RING_ALIGN, RTE_ALIGN(vvu_drv_vq_mem_size(sizes[VVU_TXQ]),
							  VVU_RING_ALIGN));
	if (rxmem == NULL || txmem == NULL)
		abort();
	memset(rxmem, 0, vvu_drv_vq_mem_size(sizes[VVU_RXQ]));
	memset(txmem, 0, vvu_drv_vq_mem_size(sizes[VVU_TXQ]));
	if (vvu_drv_vq_init(&rxq, sizes[VVU_RXQ], true, rxmem, (uintptr_t)rxmem) != 0 ||
	    vvu_drv_vq_init(&txq, sizes[VVU_TXQ], false, txmem, (uintptr_t)txmem) != 0)
		abort();
	vvu_drv_vq_rx_post_all(&rxq);
	dev = mock_dev_new(&mock_trans_nofd);
	if (dev == NULL)
		abort();
	run_rings(&rxq, &txq, &in);
	vhost_dev_free(dev);
	dev = NULL;
	free(rxmem);
	free(txmem);
	if (test_count_fds() != fds_before) {
		fprintf(stderr, "fuzz_vvu_driver: fd leak: %d open, %d before\n",
			test_count_fds(), fds_before);
		abort();
	}
	return 0;
}

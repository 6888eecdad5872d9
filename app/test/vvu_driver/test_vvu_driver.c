/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VVU driver unit tests without a device: the capability walk on synthetic
 * config space images (good, missing, hostile), BAR2 placement, the
 * driver-side rxq/txq rings against hostile used elements, virtio init
 * against a scripted register model, and path selection.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>

#include "rte_vhost_vvu.h"
#include "vhost_transport.h"
#include "test.h"
#include "vvu_drv_hw.h"
#include "vvu_drv_pci.h"
#include "vvu_drv_queue.h"
#include "vvu_drv_transport.h"

#define W		(1ULL << 30)	/* BAR2 size of the synthetic device */
#define BAR0_SIZE	0x10000u

/* ---- Synthetic config space (vvu_device_spec.rst §L.1, §L.2) ---- */

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
put_cap(uint8_t *cfg, unsigned int pos, unsigned int next, unsigned int len, uint8_t type,
	uint8_t bar, uint8_t id, uint64_t off, uint64_t length)
{
	cfg[pos] = PCI_CAP_ID_VNDR;
	cfg[pos + 1] = (uint8_t)next;
	cfg[pos + 2] = (uint8_t)len;
	cfg[pos + 3] = type;
	cfg[pos + 4] = bar;
	cfg[pos + 5] = id;
	put32(cfg + pos + 8, (uint32_t)off);
	put32(cfg + pos + 12, (uint32_t)length);
	if (len >= 24) {
		put32(cfg + pos + 16, (uint32_t)(off >> 32));
		put32(cfg + pos + 20, (uint32_t)(length >> 32));
	}
}

static void
build_cfg(uint8_t *cfg, uint64_t *bars)
{
	memset(cfg, 0, VVU_PCI_CFG_SIZE);
	put16(cfg + PCI_VENDOR_ID, 0x1AF4);
	put16(cfg + PCI_DEVICE_ID, 0x106B);
	put16(cfg + PCI_STATUS, PCI_STATUS_CAP_LIST);
	cfg[PCI_CAPABILITY_LIST] = 0x40;
	cfg[0x40] = PCI_CAP_ID_MSIX;
	cfg[0x41] = 0x4C;
	put16(cfg + 0x42, 258);
	put32(cfg + 0x44, 0x6000);
	put32(cfg + 0x48, 0x8000);
	put_cap(cfg, 0x4C, 0x5C, 16, VIRTIO_PCI_CAP_COMMON_CFG, 0, 0, 0x0000, 0x1000);
	put_cap(cfg, 0x5C, 0x70, 20, VIRTIO_PCI_CAP_NOTIFY_CFG, 0, 0, 0x3000, 0x1000);
	put32(cfg + 0x5C + 16, 4);
	put_cap(cfg, 0x70, 0x80, 16, VIRTIO_PCI_CAP_ISR_CFG, 0, 0, 0x1000, 0x1000);
	put_cap(cfg, 0x80, 0x90, 16, VIRTIO_PCI_CAP_DEVICE_CFG, 0, 0, 0x2000, 0x1000);
	put_cap(cfg, 0x90, 0xA4, 20, VVU_PCI_CAP_DEVICE_AUX_NOTIFY_CFG, 0, 0, 0x4000, 0x1000);
	put32(cfg + 0x90 + 16, 4);
	put_cap(cfg, 0xA4, 0xB4, 16, VVU_PCI_CAP_DRIVER_AUX_NOTIFY_CFG, 0, 0, 0x5000, 0x1000);
	put_cap(cfg, 0xB4, 0x00, 24, VVU_PCI_CAP_SHARED_MEMORY_CFG, 2, 1, 0, W);
	memset(bars, 0, sizeof(uint64_t) * VVU_PCI_NUM_BARS);
	bars[0] = BAR0_SIZE;
	bars[2] = W;
}

static int
parse(const uint8_t *cfg, const uint64_t *bars, struct vvu_drv_pci_caps *caps)
{
	return vvu_drv_pci_parse_caps(cfg, bars, caps, "test");
}

TEST_CASE(caps_every_window_found)
{
	uint8_t cfg[VVU_PCI_CFG_SIZE];
	uint64_t bars[VVU_PCI_NUM_BARS];
	struct vvu_drv_pci_caps c;

	build_cfg(cfg, bars);
	TEST_ASSERT_EQ(parse(cfg, bars, &c), 0);
	TEST_ASSERT_EQ(c.common.offset, 0);
	TEST_ASSERT_EQ(c.notify.offset, 0x3000);
	TEST_ASSERT_EQ(c.notify_mult, 4);
	TEST_ASSERT_EQ(c.device.offset, 0x2000);
	TEST_ASSERT_EQ(c.dev_aux.offset, 0x4000);
	TEST_ASSERT_EQ(c.dev_aux_mult, 4);
	TEST_ASSERT_EQ(c.drv_aux.offset, 0x5000);
	TEST_ASSERT_EQ(c.shm.bar, 2);
	TEST_ASSERT_EQ(c.shm.length, W);
	TEST_ASSERT(c.msix, "MSI-X found");
	TEST_ASSERT_EQ(c.msix_table_size, 259);
	TEST_ASSERT_EQ(c.msix_table_offset, 0x6000);
}

/* Without cfg 6 or 7 it is not a VVU device (e.g. a real virtio camera). */
TEST_CASE(caps_missing_aux_refused)
{
	uint8_t cfg[VVU_PCI_CFG_SIZE];
	uint64_t bars[VVU_PCI_NUM_BARS];
	struct vvu_drv_pci_caps c;

	build_cfg(cfg, bars);
	cfg[0x90 + 3] = 0x42;	/* cfg 6 becomes an unknown type */
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
	build_cfg(cfg, bars);
	cfg[0x90 + 1] = 0xB4;	/* unlink cfg 7 */
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
	build_cfg(cfg, bars);
	cfg[0x5C + 1] = 0x00;	/* chain ends after notify: no aux, no shm */
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
	build_cfg(cfg, bars);
	cfg[0x4C + 3] = 0x40;	/* no common cfg */
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
}

TEST_CASE(caps_shm_selected_by_id)
{
	uint8_t cfg[VVU_PCI_CFG_SIZE];
	uint64_t bars[VVU_PCI_NUM_BARS];
	struct vvu_drv_pci_caps c;

	build_cfg(cfg, bars);
	/* id 2 (log, BAR4) first and id 1 after it: DPDK-22 took the last. */
	bars[4] = 0x100000;
	cfg[0xA4 + 1] = 0xB4;
	put_cap(cfg, 0xB4, 0xCC, 24, VVU_PCI_CAP_SHARED_MEMORY_CFG, 4, 2, 0, 0x100000);
	put_cap(cfg, 0xCC, 0xE4, 24, VVU_PCI_CAP_SHARED_MEMORY_CFG, 2, 1, 0x1000, W - 0x1000);
	put_cap(cfg, 0xE4, 0x00, 24, VVU_PCI_CAP_SHARED_MEMORY_CFG, 4, 3, 0, 0x1000);
	TEST_ASSERT_EQ(parse(cfg, bars, &c), 0);
	TEST_ASSERT_EQ(c.shm.bar, 2);
	TEST_ASSERT_EQ(c.shm.offset, 0x1000);
	/* Only id 2 and 3: refused. */
	cfg[0xCC + 5] = 3;
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
	/* A cfg 8 cap too short for cap64 does not count as shmid 1. */
	build_cfg(cfg, bars);
	cfg[0xB4 + 2] = 16;
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
}

TEST_CASE(caps_hostile_locations)
{
	uint8_t cfg[VVU_PCI_CFG_SIZE];
	uint64_t bars[VVU_PCI_NUM_BARS];
	struct vvu_drv_pci_caps c;

	build_cfg(cfg, bars);
	cfg[0x4C + 4] = 6;			/* BAR 6 does not exist */
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
	build_cfg(cfg, bars);
	cfg[0x80 + 4] = 255;
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
	build_cfg(cfg, bars);
	cfg[0x80 + 4] = 1;			/* BAR1 has size 0 */
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
	build_cfg(cfg, bars);
	put32(cfg + 0x90 + 8, 0xFFFFF000);	/* outside the 64 KiB BAR0 */
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
	build_cfg(cfg, bars);
	put32(cfg + 0x90 + 12, 0);		/* empty window */
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
	/* 64-bit offset + length wraps around */
	build_cfg(cfg, bars);
	put_cap(cfg, 0xB4, 0x00, 24, VVU_PCI_CAP_SHARED_MEMORY_CFG, 2, 1,
		0xFFFFFFFFFFFFF000ULL, 0x2000);
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
	/* shm longer than BAR2 */
	build_cfg(cfg, bars);
	put_cap(cfg, 0xB4, 0x00, 24, VVU_PCI_CAP_SHARED_MEMORY_CFG, 2, 1, 0x1000, W);
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
	/* device cfg window shorter than the 24 bytes we read */
	build_cfg(cfg, bars);
	put32(cfg + 0x80 + 12, 8);
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
	/* notify cap too short for its multiplier */
	build_cfg(cfg, bars);
	cfg[0x5C + 2] = 16;
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
	/* cap_len running past config space */
	build_cfg(cfg, bars);
	cfg[0xB4 + 2] = 0x60;
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
	/* MSI-X table outside its BAR */
	build_cfg(cfg, bars);
	put32(cfg + 0x44, 0xF000);
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
}

TEST_CASE(caps_hostile_chain)
{
	uint8_t cfg[VVU_PCI_CFG_SIZE];
	uint64_t bars[VVU_PCI_NUM_BARS];
	struct vvu_drv_pci_caps c;

	build_cfg(cfg, bars);
	cfg[0xB4 + 1] = 0x4C;			/* loops back */
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
	build_cfg(cfg, bars);
	cfg[0xA4 + 1] = 0xB4;
	cfg[0xB4 + 1] = 0xB4;			/* points at itself */
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
	build_cfg(cfg, bars);
	cfg[PCI_CAPABILITY_LIST] = 0x20;	/* inside the standard header */
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
	build_cfg(cfg, bars);
	cfg[0xA4 + 1] = 0xFC;			/* too close to the end */
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
	build_cfg(cfg, bars);
	put16(cfg + PCI_STATUS, 0);		/* no capability list */
	TEST_ASSERT_EQ(parse(cfg, bars, &c), -ENODEV);
	/* Reserved low bits of pointers are ignored, per PCI. */
	build_cfg(cfg, bars);
	cfg[PCI_CAPABILITY_LIST] = 0x43;
	cfg[0x40 + 1] = 0x4F;
	TEST_ASSERT_EQ(parse(cfg, bars, &c), 0);
}

TEST_CASE(wrong_ids_refused)
{
	static const uint16_t bad[][2] = {
		{ 0x8086, 0x106B }, { 0x1AF4, 0x1000 }, { 0x1AF4, 0x103F },
		{ 0x1AF4, 0x1080 }, { 0x1AF4, 0xFFFF }, { 0xFFFF, 0xFFFF }, { 0, 0 },
	};
	uint8_t cfg[VVU_PCI_CFG_SIZE];
	uint64_t bars[VVU_PCI_NUM_BARS];
	struct vvu_drv_pci_caps c;
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		build_cfg(cfg, bars);
		put16(cfg + PCI_VENDOR_ID, bad[i][0]);
		put16(cfg + PCI_DEVICE_ID, bad[i][1]);
		TEST_ASSERT(parse(cfg, bars, &c) == -ENODEV, "%04x:%04x accepted", bad[i][0],
			    bad[i][1]);
	}
	/* The virtio ID is a device option: another modern ID with the caps is fine. */
	build_cfg(cfg, bars);
	put16(cfg + PCI_DEVICE_ID, 0x1040 + 24);
	TEST_ASSERT_EQ(parse(cfg, bars, &c), 0);
}

/* ---- BAR2 placement (vvu_device_spec.rst §L.8) and doorbell slots ---- */

TEST_CASE(bar2_placement)
{
	static const uint64_t sizes[] = { 0x40000000ULL >> 2, 0x200000, 0x1000 };
	uint8_t cfg[VVU_PCI_CFG_SIZE];
	uint64_t bars[VVU_PCI_NUM_BARS], next = 0, off;
	struct vvu_drv_pci_caps c;
	unsigned int i;

	build_cfg(cfg, bars);
	put_cap(cfg, 0xB4, 0x00, 24, VVU_PCI_CAP_SHARED_MEMORY_CFG, 2, 1, 0x10000, W - 0x10000);
	TEST_ASSERT_EQ(parse(cfg, bars, &c), 0);
	/* host_va_i = bar2 + shm offset + sum of the earlier memory_size. */
	for (i = 0; i < 3; i++) {
		TEST_ASSERT_EQ(vvu_drv_pci_shm_offset(&c, next, sizes[i], &off), 0);
		TEST_ASSERT_EQ(off, 0x10000 + next);
		next += sizes[i];
	}
	TEST_ASSERT_EQ(next, 0x10000000ULL + 0x200000 + 0x1000);
	/* Exactly filling the window is fine; one byte more is not. */
	TEST_ASSERT_EQ(vvu_drv_pci_shm_offset(&c, 0, W - 0x10000, &off), 0);
	TEST_ASSERT_EQ(vvu_drv_pci_shm_offset(&c, 0, W - 0x10000 + 1, &off), -ENOSPC);
	TEST_ASSERT_EQ(vvu_drv_pci_shm_offset(&c, W - 0x10000, 1, &off), -ENOSPC);
	TEST_ASSERT_EQ(vvu_drv_pci_shm_offset(&c, 1, UINT64_MAX, &off), -ENOSPC);
	TEST_ASSERT_EQ(vvu_drv_pci_shm_offset(&c, UINT64_MAX, 2, &off), -ENOSPC);
	TEST_ASSERT_EQ(vvu_drv_pci_shm_offset(&c, 0, 0, &off), -ENOSPC);
}

TEST_CASE(aux_slot_offsets_and_range)
{
	uint8_t cfg[VVU_PCI_CFG_SIZE];
	uint64_t bars[VVU_PCI_NUM_BARS], off;
	struct vvu_drv_pci_caps c;

	build_cfg(cfg, bars);
	TEST_ASSERT_EQ(parse(cfg, bars, &c), 0);
	TEST_ASSERT_EQ(vvu_drv_pci_aux_slot_offset(&c, 0, &off), 0);
	TEST_ASSERT_EQ(off, 0x4000);
	TEST_ASSERT_EQ(vvu_drv_pci_aux_slot_offset(&c, 255, &off), 0);
	TEST_ASSERT_EQ(off, 0x4000 + 255 * 4);
	TEST_ASSERT_EQ(vvu_drv_pci_aux_slot_offset(&c, 512, &off), 0);	/* log, 2N */
	TEST_ASSERT_EQ(vvu_drv_pci_aux_slot_offset(&c, 1023, &off), 0);
	TEST_ASSERT_EQ(vvu_drv_pci_aux_slot_offset(&c, 1024, &off), -ERANGE);
	TEST_ASSERT_EQ(vvu_drv_pci_aux_slot_offset(&c, UINT32_MAX, &off), -ERANGE);
}

/* ---- Rings against a hostile device ---- */

struct ring_mem {
	void *va;
	struct vvu_drv_vq vq;
};

static void
ring_setup(struct ring_mem *r, uint16_t size, bool rx)
{
	size_t len = vvu_drv_vq_mem_size(size);

	r->va = aligned_alloc(4096, (len + 4095) & ~(size_t)4095);
	TEST_ASSERT(r->va != NULL, "memory");
	memset(r->va, 0, len);
	TEST_ASSERT_EQ(vvu_drv_vq_init(&r->vq, size, rx, r->va, 0x100000), 0);
}

/* What a device does: take avail entry n, write len bytes, publish used. */
static void
dev_complete(struct vvu_drv_vq *vq, uint16_t avail_pos, uint32_t id, uint32_t len,
	     const void *data)
{
	uint16_t uidx = vq->used->idx;

	if (data != NULL)
		memcpy(vq->bufs + (size_t)vq->avail->ring[avail_pos % vq->size] * VVU_BUF_SIZE,
		       data, len);
	vq->used->ring[uidx % vq->size].id = id;
	vq->used->ring[uidx % vq->size].len = len;
	__atomic_store_n(&vq->used->idx, (uint16_t)(uidx + 1), __ATOMIC_RELEASE);
}

TEST_CASE(ring_layout)
{
	struct ring_mem r;

	TEST_ASSERT_EQ(vvu_drv_vq_init(&r.vq, 0, true, NULL, 0), -EINVAL);
	TEST_ASSERT_EQ(vvu_drv_vq_init(&r.vq, 100, true, NULL, 0), -EINVAL);
	TEST_ASSERT_EQ(vvu_drv_vq_init(&r.vq, 256, true, NULL, 0), -EINVAL);
	ring_setup(&r, 128, true);
	TEST_ASSERT_EQ(r.vq.desc_iova, 0x100000);
	TEST_ASSERT_EQ(r.vq.used_iova % 4, 0);
	TEST_ASSERT(r.vq.bufs_iova >= r.vq.used_iova + 6 + 8 * 128, "buffers after used");
	TEST_ASSERT(vvu_drv_vq_mem_size(128) >= (size_t)(r.vq.bufs_iova - 0x100000) +
		    128 * VVU_BUF_SIZE, "size covers buffers");
	TEST_ASSERT_EQ(vvu_drv_vq_rx_post_all(&r.vq), 128);
	TEST_ASSERT_EQ(r.vq.avail->idx, 128);
	TEST_ASSERT_EQ(r.vq.desc[5].len, VVU_BUF_SIZE);
	TEST_ASSERT_EQ(r.vq.desc[5].flags, VRING_DESC_F_WRITE);
	TEST_ASSERT_EQ(vvu_drv_vq_rx_post_all(&r.vq), 0);
	free(r.va);
}

TEST_CASE(ring_rx_messages)
{
	struct ring_mem r;
	uint8_t out[VVU_BUF_SIZE];
	int i;

	ring_setup(&r, 8, true);
	vvu_drv_vq_rx_post_all(&r.vq);
	TEST_ASSERT_EQ(vvu_drv_vq_rx_pop(&r.vq, out, sizeof(out)), 0);
	/* Many laps around the ring, out of order ids. */
	for (i = 0; i < 100; i++) {
		char msg[32];
		uint16_t pos = r.vq.last_used;
		uint32_t id = r.vq.avail->ring[pos % 8];

		snprintf(msg, sizeof(msg), "message %d", i);
		dev_complete(&r.vq, pos, id, (uint32_t)strlen(msg) + 1, msg);
		TEST_ASSERT_EQ(vvu_drv_vq_rx_pop(&r.vq, out, sizeof(out)), (int)strlen(msg) + 1);
		TEST_ASSERT(strcmp((char *)out, msg) == 0, "got %s", (char *)out);
	}
	/* A full-size message. */
	dev_complete(&r.vq, r.vq.last_used, r.vq.avail->ring[r.vq.last_used % 8],
		     VVU_BUF_SIZE, NULL);
	TEST_ASSERT_EQ(vvu_drv_vq_rx_pop(&r.vq, out, sizeof(out)), VVU_BUF_SIZE);
	free(r.va);
}

TEST_CASE(ring_rx_hostile_used)
{
	struct ring_mem r;
	uint8_t out[VVU_BUF_SIZE];
	uint16_t id;

	/* id >= size */
	ring_setup(&r, 8, true);
	vvu_drv_vq_rx_post_all(&r.vq);
	dev_complete(&r.vq, 0, 8, 16, NULL);
	TEST_ASSERT_EQ(vvu_drv_vq_rx_pop(&r.vq, out, sizeof(out)), -EIO);
	TEST_ASSERT(r.vq.broken, "ring marked broken");
	TEST_ASSERT_EQ(vvu_drv_vq_rx_pop(&r.vq, out, sizeof(out)), -EIO);
	free(r.va);

	/* id 0xffffffff */
	ring_setup(&r, 8, true);
	vvu_drv_vq_rx_post_all(&r.vq);
	dev_complete(&r.vq, 0, UINT32_MAX, 16, NULL);
	TEST_ASSERT_EQ(vvu_drv_vq_rx_pop(&r.vq, out, sizeof(out)), -EIO);
	free(r.va);

	/* len > buffer */
	ring_setup(&r, 8, true);
	vvu_drv_vq_rx_post_all(&r.vq);
	dev_complete(&r.vq, 0, r.vq.avail->ring[0], VVU_BUF_SIZE + 1, NULL);
	TEST_ASSERT_EQ(vvu_drv_vq_rx_pop(&r.vq, out, sizeof(out)), -EIO);
	free(r.va);

	/* used->idx jumps further than what was made available */
	ring_setup(&r, 8, true);
	vvu_drv_vq_rx_post_all(&r.vq);
	r.vq.used->idx = 9;
	TEST_ASSERT_EQ(vvu_drv_vq_rx_pop(&r.vq, out, sizeof(out)), -EIO);
	free(r.va);

	/* used->idx goes backwards (wraps to "65535 pending") */
	ring_setup(&r, 8, true);
	vvu_drv_vq_rx_post_all(&r.vq);
	r.vq.used->idx = (uint16_t)-1;
	TEST_ASSERT_EQ(vvu_drv_vq_rx_pop(&r.vq, out, sizeof(out)), -EIO);
	free(r.va);

	/* A scribbled descriptor table does not matter: buffers are ours by id. */
	ring_setup(&r, 8, true);
	vvu_drv_vq_rx_post_all(&r.vq);
	id = r.vq.avail->ring[0];
	dev_complete(&r.vq, 0, id, 4, "xyz");
	memset(r.vq.desc, 0xff, sizeof(struct vring_desc) * 8);
	TEST_ASSERT_EQ(vvu_drv_vq_rx_pop(&r.vq, out, sizeof(out)), 4);
	TEST_ASSERT(memcmp(out, "xyz", 4) == 0, "data from the buffer of the id");
	TEST_ASSERT_EQ(r.vq.desc[id].addr, r.vq.bufs_iova + (uint64_t)id * VVU_BUF_SIZE);
	free(r.va);
}

TEST_CASE(ring_tx_push_reclaim_hostile_ids)
{
	struct ring_mem r;
	char msg[64];
	int i, n;

	ring_setup(&r, 4, false);
	TEST_ASSERT_EQ(vvu_drv_vq_tx_push(&r.vq, msg, 0), -EINVAL);
	TEST_ASSERT_EQ(vvu_drv_vq_tx_push(&r.vq, msg, VVU_BUF_SIZE + 1), -EINVAL);
	for (i = 0; i < 4; i++)
		TEST_ASSERT_EQ(vvu_drv_vq_tx_push(&r.vq, msg, sizeof(msg)), 0);
	TEST_ASSERT_EQ(vvu_drv_vq_tx_push(&r.vq, msg, sizeof(msg)), -ENOSPC);
	TEST_ASSERT_EQ(r.vq.avail->idx, 4);
	TEST_ASSERT_EQ(r.vq.desc[r.vq.avail->ring[0]].len, sizeof(msg));
	TEST_ASSERT_EQ(r.vq.desc[r.vq.avail->ring[0]].flags, 0);
	/* The device completes two, out of order. */
	dev_complete(&r.vq, 1, r.vq.avail->ring[1], 0, NULL);
	dev_complete(&r.vq, 0, r.vq.avail->ring[0], 0, NULL);
	TEST_ASSERT_EQ(vvu_drv_vq_tx_reclaim(&r.vq), 0);
	TEST_ASSERT_EQ(r.vq.nr_free, 2);
	for (n = 0; n < 2; n++)
		TEST_ASSERT_EQ(vvu_drv_vq_tx_push(&r.vq, msg, sizeof(msg)), 0);
	TEST_ASSERT_EQ(vvu_drv_vq_tx_push(&r.vq, msg, sizeof(msg)), -ENOSPC);
	/* Hostile: an id that is free (completed twice). */
	dev_complete(&r.vq, 2, r.vq.avail->ring[2], 0, NULL);
	dev_complete(&r.vq, 2, r.vq.avail->ring[2], 0, NULL);
	TEST_ASSERT_EQ(vvu_drv_vq_tx_reclaim(&r.vq), -EIO);
	TEST_ASSERT_EQ(vvu_drv_vq_tx_push(&r.vq, msg, sizeof(msg)), -EIO);
	free(r.va);

	/* Hostile: id >= size on txq. */
	ring_setup(&r, 4, false);
	TEST_ASSERT_EQ(vvu_drv_vq_tx_push(&r.vq, msg, sizeof(msg)), 0);
	dev_complete(&r.vq, 0, 4, 0, NULL);
	TEST_ASSERT_EQ(vvu_drv_vq_tx_reclaim(&r.vq), -EIO);
	free(r.va);
}

/* ---- Virtio init against a scripted register model ---- */

struct mock {
	uint8_t cfg[VVU_PCI_CFG_SIZE];
	uint64_t bars[VVU_PCI_NUM_BARS];
	uint64_t dev_features;
	uint64_t drv_features;
	uint32_t dfselect, gfselect;
	uint8_t status;
	bool refuse_features_ok;
	bool stuck_reset;
	uint16_t numq;
	uint16_t qsel;
	uint16_t qsize_max[2], qsize[2], qvec[2], qnoff[2], qenable[2];
	uint64_t qaddr[2][3];
	uint16_t msix_config;
	uint32_t dev_status;
	uint32_t max_q;
	unsigned int notifies;
	uint64_t last_write_off;
};

static struct mock mk;

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

static int
mk_cfg_read(struct vvu_drv_hw *hw, uint32_t off, void *buf, uint32_t len)
{
	memcpy(buf, mk.cfg + off, len);
	return 0;
}

static int
mk_cfg_write(struct vvu_drv_hw *hw, uint32_t off, const void *buf, uint32_t len)
{
	memcpy(mk.cfg + off, buf, len);
	return 0;
}

static int
mk_bar_size(struct vvu_drv_hw *hw, unsigned int bar, uint64_t *size)
{
	*size = mk.bars[bar];
	return 0;
}

static int
mk_bar_read(struct vvu_drv_hw *hw, unsigned int bar, uint64_t off, void *buf, uint32_t len)
{
	uint16_t q = mk.qsel < 2 ? mk.qsel : 0;
	uint64_t v = 0;

	TEST_ASSERT_EQ(bar, 0);
	switch (off) {
	case VIRTIO_PCI_COMMON_DF:
		v = mk.dfselect == 0 ? (uint32_t)mk.dev_features :
			mk.dfselect == 1 ? mk.dev_features >> 32 : 0;
		break;
	case VIRTIO_PCI_COMMON_MSIX: v = mk.msix_config; break;
	case VIRTIO_PCI_COMMON_NUMQ: v = mk.numq; break;
	case VIRTIO_PCI_COMMON_STATUS: v = mk.status; break;
	case VIRTIO_PCI_COMMON_Q_SIZE: v = mk.qsize[q]; break;
	case VIRTIO_PCI_COMMON_Q_MSIX: v = mk.qvec[q]; break;
	case VIRTIO_PCI_COMMON_Q_NOFF: v = mk.qnoff[q]; break;
	case 0x2000: v = mk.dev_status; break;
	case 0x2004: v = mk.max_q; break;
	default: break;
	}
	set_le(buf, len, v);
	return 0;
}

static int
mk_bar_write(struct vvu_drv_hw *hw, unsigned int bar, uint64_t off, const void *buf,
	     uint32_t len)
{
	uint64_t v = get_le(buf, len);
	uint16_t q = mk.qsel < 2 ? mk.qsel : 0;

	TEST_ASSERT_EQ(bar, 0);
	mk.last_write_off = off;
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT: mk.dfselect = (uint32_t)v; break;
	case VIRTIO_PCI_COMMON_GFSELECT: mk.gfselect = (uint32_t)v; break;
	case VIRTIO_PCI_COMMON_GF:
		if (mk.gfselect == 0)
			mk.drv_features = (mk.drv_features & ~0xffffffffULL) | v;
		else if (mk.gfselect == 1)
			mk.drv_features = (mk.drv_features & 0xffffffffULL) | (v << 32);
		break;
	case VIRTIO_PCI_COMMON_MSIX: mk.msix_config = (uint16_t)v; break;
	case VIRTIO_PCI_COMMON_STATUS:
		if (v == 0 && mk.stuck_reset)
			break;
		if ((v & VIRTIO_CONFIG_S_FEATURES_OK) && mk.refuse_features_ok)
			v &= ~(uint64_t)VIRTIO_CONFIG_S_FEATURES_OK;
		mk.status = (uint8_t)v;
		break;
	case VIRTIO_PCI_COMMON_Q_SELECT: mk.qsel = (uint16_t)v; break;
	case VIRTIO_PCI_COMMON_Q_SIZE: mk.qsize[q] = (uint16_t)v; break;
	case VIRTIO_PCI_COMMON_Q_MSIX: mk.qvec[q] = (uint16_t)v; break;
	case VIRTIO_PCI_COMMON_Q_ENABLE: mk.qenable[q] = (uint16_t)v; break;
	case VIRTIO_PCI_COMMON_Q_DESCLO: case VIRTIO_PCI_COMMON_Q_DESCHI:
	case VIRTIO_PCI_COMMON_Q_AVAILLO: case VIRTIO_PCI_COMMON_Q_AVAILHI:
	case VIRTIO_PCI_COMMON_Q_USEDLO: case VIRTIO_PCI_COMMON_Q_USEDHI: {
		unsigned int k = (unsigned int)(off - VIRTIO_PCI_COMMON_Q_DESCLO) / 8;
		unsigned int hi = (unsigned int)(off - VIRTIO_PCI_COMMON_Q_DESCLO) % 8 / 4;

		if (hi)
			mk.qaddr[q][k] = (mk.qaddr[q][k] & 0xffffffffULL) | (v << 32);
		else
			mk.qaddr[q][k] = (mk.qaddr[q][k] & ~0xffffffffULL) | v;
		break;
	}
	case 0x2000: mk.dev_status = (uint32_t)v; break;
	default:
		if (off >= 0x3000 && off < 0x4000)
			mk.notifies++;
		break;
	}
	return 0;
}

static const struct vvu_drv_hw_ops mock_ops = {
	.name = "mock",
	.cfg_read = mk_cfg_read,
	.cfg_write = mk_cfg_write,
	.bar_size = mk_bar_size,
	.bar_read = mk_bar_read,
	.bar_write = mk_bar_write,
};

static void
mock_reset(void)
{
	memset(&mk, 0, sizeof(mk));
	build_cfg(mk.cfg, mk.bars);
	mk.dev_features = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 33) | (1ULL << 28);
	mk.numq = 2;
	mk.qsize[0] = mk.qsize[1] = 128;
	mk.qnoff[0] = 0;
	mk.qnoff[1] = 1;
	mk.max_q = 256;
	mk.qvec[0] = mk.qvec[1] = mk.msix_config = VIRTIO_MSI_NO_VECTOR;
}

TEST_CASE(init_negotiates_and_sets_up_queues)
{
	struct vvu_drv_hw hw = { .ops = &mock_ops, .name = "mock" };
	struct vvu_drv_pci p;
	uint16_t size;

	mock_reset();
	TEST_ASSERT_EQ(vvu_drv_pci_probe(&p, &hw), 0);
	TEST_ASSERT_EQ(vvu_drv_pci_init(&p), 0);
	/* VERSION_1 and ACCESS_PLATFORM taken, nothing else. */
	TEST_ASSERT_EQ(mk.drv_features, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 33));
	TEST_ASSERT(mk.status & VIRTIO_CONFIG_S_FEATURES_OK, "FEATURES_OK");
	TEST_ASSERT_EQ(p.max_vhost_queues, 256);
	TEST_ASSERT(get_le(mk.cfg + PCI_COMMAND, 2) & PCI_COMMAND_MASTER, "bus master");

	mk.qsize[0] = 100;	/* not a power of two: the driver picks 64 */
	TEST_ASSERT_EQ(vvu_drv_pci_queue_size(&p, VVU_RXQ, 128, &size), 0);
	TEST_ASSERT_EQ(size, 64);
	TEST_ASSERT_EQ(vvu_drv_pci_queue_setup(&p, VVU_RXQ, 0x1000, 0x2000, 0x3000, 0), 0);
	TEST_ASSERT_EQ(mk.qaddr[0][0], 0x1000);
	TEST_ASSERT_EQ(mk.qaddr[0][1], 0x2000);
	TEST_ASSERT_EQ(mk.qaddr[0][2], 0x3000);
	TEST_ASSERT_EQ(mk.qenable[0], 1);
	TEST_ASSERT_EQ(vvu_drv_pci_queue_setup(&p, VVU_TXQ, 0x100000000ULL, 0x2000, 0x3000, 0), 0);
	TEST_ASSERT_EQ(mk.qaddr[1][0], 0x100000000ULL);
	TEST_ASSERT_EQ(vvu_drv_pci_notify_queue(&p, VVU_TXQ), 0);
	TEST_ASSERT_EQ(mk.last_write_off, 0x3000 + 4);
	TEST_ASSERT_EQ(vvu_drv_pci_aux_notify(&p, 7), 0);
	TEST_ASSERT_EQ(mk.last_write_off, 0x4000 + 7 * 4);
	TEST_ASSERT_EQ(vvu_drv_pci_set_dev_status(&p, VVU_STATUS_BACKEND_UP), 0);
	TEST_ASSERT_EQ(mk.dev_status, VVU_STATUS_BACKEND_UP);
}

TEST_CASE(init_refusals)
{
	struct vvu_drv_hw hw = { .ops = &mock_ops, .name = "mock" };
	struct vvu_drv_pci p;
	uint16_t size;

	/* No VERSION_1: a legacy-only device. */
	mock_reset();
	mk.dev_features = 1ULL << 28;
	TEST_ASSERT_EQ(vvu_drv_pci_probe(&p, &hw), 0);
	TEST_ASSERT_EQ(vvu_drv_pci_init(&p), -ENODEV);

	/* FEATURES_OK not kept. */
	mock_reset();
	mk.refuse_features_ok = true;
	TEST_ASSERT_EQ(vvu_drv_pci_probe(&p, &hw), 0);
	TEST_ASSERT(vvu_drv_pci_init(&p) < 0, "init must fail");

	/* Reset never completes: bounded wait. */
	mock_reset();
	mk.stuck_reset = true;
	mk.status = VIRTIO_CONFIG_S_DRIVER_OK;
	TEST_ASSERT_EQ(vvu_drv_pci_probe(&p, &hw), 0);
	TEST_ASSERT_EQ(vvu_drv_pci_init(&p), -ETIMEDOUT);

	/* Only one virtqueue. */
	mock_reset();
	mk.numq = 1;
	TEST_ASSERT_EQ(vvu_drv_pci_probe(&p, &hw), 0);
	TEST_ASSERT_EQ(vvu_drv_pci_init(&p), -ENODEV);

	/* max_vhost_queues 0; and huge values are clamped to 256. */
	mock_reset();
	mk.max_q = 0;
	TEST_ASSERT_EQ(vvu_drv_pci_probe(&p, &hw), 0);
	TEST_ASSERT_EQ(vvu_drv_pci_init(&p), -ENODEV);
	mock_reset();
	mk.max_q = UINT32_MAX;
	TEST_ASSERT_EQ(vvu_drv_pci_probe(&p, &hw), 0);
	TEST_ASSERT_EQ(vvu_drv_pci_init(&p), 0);
	TEST_ASSERT_EQ(p.max_vhost_queues, 256);

	/* Queue of size 0; notify offset outside the notify window. */
	mock_reset();
	TEST_ASSERT_EQ(vvu_drv_pci_probe(&p, &hw), 0);
	TEST_ASSERT_EQ(vvu_drv_pci_init(&p), 0);
	mk.qsize[0] = 0;
	TEST_ASSERT_EQ(vvu_drv_pci_queue_size(&p, VVU_RXQ, 128, &size), -ENODEV);
	mk.qnoff[1] = 0x400;	/* 0x400 * 4 = 0x1000: past the window */
	TEST_ASSERT_EQ(vvu_drv_pci_queue_setup(&p, VVU_TXQ, 0x1000, 0x2000, 0x3000, 0), -ENODEV);
	mk.qnoff[1] = 1;
	TEST_ASSERT_EQ(vvu_drv_pci_queue_setup(&p, VVU_TXQ, 0x1000, 0x2000, 0x3000, 0), 0);
	TEST_ASSERT_EQ(vvu_drv_pci_aux_notify(&p, 4096), -ERANGE);

	/* Device config too short for what we read is refused at probe. */
	mock_reset();
	put32(mk.cfg + 0x80 + 12, 4);
	TEST_ASSERT_EQ(vvu_drv_pci_probe(&p, &hw), -ENODEV);
}

/* ---- Path selection ---- */

TEST_CASE(path_selection)
{
	const struct vvu_drv_hw_ops *ops = NULL;
	char addr[VVU_NAME_MAX], longp[200];

	TEST_ASSERT_EQ(vvu_drv_parse_path("0000:00:04.0", 0, &ops, addr, sizeof(addr)), 0);
	TEST_ASSERT(ops == &vvu_drv_vfio_ops, "PCI address is kernel VFIO");
	TEST_ASSERT(strcmp(addr, "0000:00:04.0") == 0, "addr %s", addr);
	TEST_ASSERT_EQ(vvu_drv_parse_path("vfio-user:/run/vvu0.sock", 0, &ops, addr,
				      sizeof(addr)), 0);
	TEST_ASSERT(ops == &vvu_drv_vfio_user_ops, "vfio-user prefix");
	TEST_ASSERT(strcmp(addr, "/run/vvu0.sock") == 0, "addr %s", addr);
	TEST_ASSERT_EQ(vvu_drv_parse_path("/run/x.sock", RTE_VHOST_USER_VIRTIO_TRANSPORT, &ops,
				      addr, sizeof(addr)), 0);
	TEST_ASSERT(ops == &vvu_drv_vfio_user_ops, "flag makes a path vfio-user");
	TEST_ASSERT_EQ(vvu_drv_parse_path("/run/x.sock", 0, &ops, addr, sizeof(addr)), -EINVAL);
	TEST_ASSERT_EQ(vvu_drv_parse_path("vfio-user:", 0, &ops, addr, sizeof(addr)), -EINVAL);
	memset(longp, 'a', sizeof(longp));
	memcpy(longp, "vfio-user:/", 11);
	longp[sizeof(longp) - 1] = '\0';
	TEST_ASSERT_EQ(vvu_drv_parse_path(longp, 0, &ops, addr, sizeof(addr)), -EINVAL);
	TEST_ASSERT(!vvu_drv_path_is_pci_addr("0000:00:04"), "short");
	TEST_ASSERT(!vvu_drv_path_is_pci_addr("0000:00:04.0x"), "long");
	TEST_ASSERT(!vvu_drv_path_is_pci_addr("000g:00:04.0"), "not hex");
	TEST_ASSERT(vvu_drv_path_is_pci_addr("abcd:ef:1f.7"), "hex");
}

TEST_MAIN(NULL, NULL,
	TEST_ENTRY(caps_every_window_found),
	TEST_ENTRY(caps_missing_aux_refused),
	TEST_ENTRY(caps_shm_selected_by_id),
	TEST_ENTRY(caps_hostile_locations),
	TEST_ENTRY(caps_hostile_chain),
	TEST_ENTRY(wrong_ids_refused),
	TEST_ENTRY(bar2_placement),
	TEST_ENTRY(aux_slot_offsets_and_range),
	TEST_ENTRY(ring_layout),
	TEST_ENTRY(ring_rx_messages),
	TEST_ENTRY(ring_rx_hostile_used),
	TEST_ENTRY(ring_tx_push_reclaim_hostile_ids),
	TEST_ENTRY(init_negotiates_and_sets_up_queues),
	TEST_ENTRY(init_refusals),
	TEST_ENTRY(path_selection))

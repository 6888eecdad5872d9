/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the VVU device model (app/vvu-device), against
 * doc/guides/vvu_device_spec.rst: config space and capability chain
 * byte-exact (L.1, L.2), BAR0 register semantics (L.3, L.5), MSI-X
 * masking, BAR2 placement (L.8),
 * protocol feature masking, the forwarding table, the rxq/txq rings through
 * DMA windows, and option parsing. No sockets: the device runs without an
 * event loop and the front-end is one end of a socketpair.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "test.h"
#include "test_util.h"
#include "vvu_device.h"
#include "vvu_dev_server.h"

#define CHILD_EXIT_MS	5000	/* a child that faults exits at once; bound the wait */

static struct vvu_device dev;

static void
dev_up(uint32_t queues, uint64_t shm)
{
	struct vvu_dev_options o = {0};
	int ret;

	o.num_queues = queues;
	o.shm_size = shm;
	o.virtio_id = VVU_VIRTIO_ID_DEFAULT;
	o.verbose = -1;	/* quiet: hostile input is expected here */
	ret = vvu_dev_init(&dev, &o, NULL);
	TEST_ASSERT(ret == 0, "vvu_dev_init: %d", ret);
}

static uint64_t
cfg_rd(uint32_t off, uint32_t len)
{
	uint8_t b[8] = {0};

	TEST_ASSERT(vvu_dev_cfg_read(&dev, off, b, len) == 0, "cfg read %#x", off);
	return vvu_get_n(b, len);
}

static void
cfg_wr(uint32_t off, uint64_t v, uint32_t len)
{
	uint8_t b[8];

	vvu_put64(b, v);
	TEST_ASSERT(vvu_dev_cfg_write(&dev, off, b, len) == 0, "cfg write %#x", off);
}

static uint64_t
rd(uint32_t off, uint32_t len)
{
	uint8_t b[8] = {0};

	TEST_ASSERT(vvu_dev_bar0_read(&dev, off, b, len) == 0, "bar0 read %#x", off);
	return vvu_get_n(b, len);
}

static void
wr(uint32_t off, uint64_t v, uint32_t len)
{
	uint8_t b[8];

	vvu_put64(b, v);
	TEST_ASSERT(vvu_dev_bar0_write(&dev, off, b, len) == 0, "bar0 write %#x", off);
}

static uint64_t
efd_read(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* ---- vvu_device_spec.rst §L.1 identity ---- */
TEST_CASE(config_header)
{
	dev_up(256, 4ULL << 30);
	TEST_ASSERT_EQ(cfg_rd(PCI_VENDOR_ID, 2), 0x1AF4);
	TEST_ASSERT_EQ(cfg_rd(PCI_DEVICE_ID, 2), 0x106B);
	TEST_ASSERT_EQ(cfg_rd(PCI_REVISION_ID, 1), 0x01);
	TEST_ASSERT_EQ(cfg_rd(PCI_CLASS_PROG, 1), 0x00);
	TEST_ASSERT_EQ(cfg_rd(PCI_CLASS_DEVICE, 2), 0x00ff);
	TEST_ASSERT_EQ(cfg_rd(PCI_HEADER_TYPE, 1), 0);
	TEST_ASSERT_EQ(cfg_rd(PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1AF4);
	TEST_ASSERT_EQ(cfg_rd(PCI_SUBSYSTEM_ID, 2), 0x106B);
	TEST_ASSERT_EQ(cfg_rd(PCI_CAPABILITY_LIST, 1), 0x40);
	TEST_ASSERT_EQ(cfg_rd(PCI_INTERRUPT_PIN, 1), 1);
	TEST_ASSERT(cfg_rd(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	/* read-only identity cannot be overwritten */
	cfg_wr(PCI_VENDOR_ID, 0xdeadbeef, 4);
	TEST_ASSERT_EQ(cfg_rd(PCI_VENDOR_ID, 2), 0x1AF4);
	vvu_dev_fini(&dev);
}

TEST_CASE(config_virtio_id_option)
{
	struct vvu_dev_options o = { .num_queues = 4, .shm_size = 1 << 20, .virtio_id = 24,
				 .verbose = -1 };

	TEST_ASSERT(vvu_dev_init(&dev, &o, NULL) == 0);
	TEST_ASSERT_EQ(cfg_rd(PCI_DEVICE_ID, 2), 0x1058);
	TEST_ASSERT_EQ(cfg_rd(PCI_SUBSYSTEM_ID, 2), 0x1058);
	/* MSI-X table size field = 3 + N - 1 */
	TEST_ASSERT_EQ(cfg_rd(0x42, 2) & PCI_MSIX_FLAGS_QSIZE, 3 + 4 - 1);
	vvu_dev_fini(&dev);
}

/* ---- vvu_device_spec.rst §L.2 capability chain, byte-exact ---- */
struct cap_row {
	uint8_t off, next, len, cfg_type, bar, id;
	uint32_t offset, length;
};

TEST_CASE(capability_chain_bytes)
{
	static const struct cap_row rows[] = {
		{ 0x4C, 0x5C, 16, 1, 0, 0, 0x0000, 0x1000 },
		{ 0x5C, 0x70, 20, 2, 0, 0, 0x3000, 0x1000 },
		{ 0x70, 0x80, 16, 3, 0, 0, 0x1000, 0x1000 },
		{ 0x80, 0x90, 16, 4, 0, 0, 0x2000, 0x1000 },
		{ 0x90, 0xA4, 20, 6, 0, 0, 0x4000, 0x1000 },
		{ 0xA4, 0xB4, 16, 7, 0, 0, 0x5000, 0x1000 },
		{ 0xB4, 0xCC, 24, 8, 2, 1, 0x0000, 0x0000 /* W low for 4G */ },
		{ 0xCC, 0x00, 20, 5, 0, 0, 0x0000, 0x0000 },
	};
	unsigned int i;

	dev_up(256, 4ULL << 30);
	/* MSI-X at 0x40: id, next, size 259-1, table BIR0 0x6000, PBA BIR0 0x8000 */
	TEST_ASSERT_EQ(cfg_rd(0x40, 1), PCI_CAP_ID_MSIX);
	TEST_ASSERT_EQ(cfg_rd(0x41, 1), 0x4C);
	TEST_ASSERT_EQ(cfg_rd(0x42, 2), 258);
	TEST_ASSERT_EQ(cfg_rd(0x44, 4), 0x6000);
	TEST_ASSERT_EQ(cfg_rd(0x48, 4), 0x8000);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct cap_row *r = &rows[i];

		TEST_ASSERT_EQ(cfg_rd(r->off, 1), PCI_CAP_ID_VNDR);
		TEST_ASSERT_EQ(cfg_rd(r->off + 1, 1), r->next);
		TEST_ASSERT_EQ(cfg_rd(r->off + 2, 1), r->len);
		TEST_ASSERT_EQ(cfg_rd(r->off + 3, 1), r->cfg_type);
		TEST_ASSERT_EQ(cfg_rd(r->off + 4, 1), r->bar);
		TEST_ASSERT_EQ(cfg_rd(r->off + 5, 1), r->id);
		TEST_ASSERT_EQ(cfg_rd(r->off + 6, 2), 0);
		TEST_ASSERT_EQ(cfg_rd(r->off + 8, 4), r->offset);
		TEST_ASSERT_EQ(cfg_rd(r->off + 12, 4), r->length);
	}
	/* notify_off_multiplier and dev_aux_notification_off_multiplier */
	TEST_ASSERT_EQ(cfg_rd(0x5C + 16, 4), 4);
	TEST_ASSERT_EQ(cfg_rd(0x90 + 16, 4), 4);
	/* cap64: offset_hi 0, length_hi = W >> 32 */
	TEST_ASSERT_EQ(cfg_rd(0xB4 + 16, 4), 0);
	TEST_ASSERT_EQ(cfg_rd(0xB4 + 20, 4), 1);
	/* nothing after the chain */
	for (i = 0xE0; i < 0x100; i++)
		TEST_ASSERT_EQ(cfg_rd(i, 1), 0);
	vvu_dev_fini(&dev);
}

TEST_CASE(capability_walk)
{
	uint8_t seen[16] = {0};
	uint32_t p, hops = 0;

	dev_up(8, 1ULL << 34);
	for (p = cfg_rd(PCI_CAPABILITY_LIST, 1); p != 0; p = cfg_rd(p + 1, 1)) {
		TEST_ASSERT(p % 4 == 0 && p >= 0x40, "cap at %#x", p);
		TEST_ASSERT(hops++ < 16, "loop in the chain");
		if (cfg_rd(p, 1) == PCI_CAP_ID_VNDR)
			seen[cfg_rd(p + 3, 1)]++;
	}
	TEST_ASSERT_EQ(hops, 9);
	TEST_ASSERT(seen[1] == 1 && seen[2] == 1 && seen[3] == 1 && seen[4] == 1);
	TEST_ASSERT(seen[5] == 1 && seen[6] == 1 && seen[7] == 1 && seen[8] == 1);
	/* 16 GiB: length 0, length_hi 4 */
	TEST_ASSERT_EQ(cfg_rd(0xB4 + 12, 4), 0);
	TEST_ASSERT_EQ(cfg_rd(0xB4 + 20, 4), 4);
	vvu_dev_fini(&dev);
}

TEST_CASE(bar_sizing)
{
	dev_up(256, 1ULL << 20);
	cfg_wr(PCI_BASE_ADDRESS_0, 0xffffffff, 4);
	TEST_ASSERT_EQ(cfg_rd(PCI_BASE_ADDRESS_0, 4), 0xffff0000);
	cfg_wr(PCI_BASE_ADDRESS_1, 0xffffffff, 4);
	TEST_ASSERT_EQ(cfg_rd(PCI_BASE_ADDRESS_1, 4), 0);
	cfg_wr(PCI_BASE_ADDRESS_2, 0xffffffff, 4);
	TEST_ASSERT_EQ(cfg_rd(PCI_BASE_ADDRESS_2, 4), 0xfff0000c);
	cfg_wr(PCI_BASE_ADDRESS_3, 0xffffffff, 4);
	TEST_ASSERT_EQ(cfg_rd(PCI_BASE_ADDRESS_3, 4), 0xffffffff);
	cfg_wr(PCI_BASE_ADDRESS_4, 0xffffffff, 4);
	TEST_ASSERT_EQ(cfg_rd(PCI_BASE_ADDRESS_4, 4), 0);
	vvu_dev_fini(&dev);
	dev_up(256, 4ULL << 30);
	cfg_wr(PCI_BASE_ADDRESS_2, 0xffffffff, 4);
	cfg_wr(PCI_BASE_ADDRESS_3, 0xffffffff, 4);
	TEST_ASSERT_EQ(cfg_rd(PCI_BASE_ADDRESS_2, 4), 0x0000000c);
	TEST_ASSERT_EQ(cfg_rd(PCI_BASE_ADDRESS_3, 4), 0xffffffff);	/* 4 GiB */
	vvu_dev_fini(&dev);
	dev_up(256, 8ULL << 30);
	cfg_wr(PCI_BASE_ADDRESS_2, 0xffffffff, 4);
	cfg_wr(PCI_BASE_ADDRESS_3, 0xffffffff, 4);
	TEST_ASSERT_EQ(cfg_rd(PCI_BASE_ADDRESS_2, 4), 0x0000000c);
	TEST_ASSERT_EQ(cfg_rd(PCI_BASE_ADDRESS_3, 4), 0xfffffffe);	/* 8 GiB */
	vvu_dev_fini(&dev);
}

TEST_CASE(pci_cfg_access_window)
{
	dev_up(256, 4ULL << 30);
	/* cfg_type 5: read device config max_vhost_queues through the window */
	cfg_wr(0xCC + 4, 0, 1);
	cfg_wr(0xCC + 8, 0x2004, 4);
	cfg_wr(0xCC + 12, 4, 4);
	TEST_ASSERT_EQ(cfg_rd(0xCC + 16, 4), 256);
	vvu_dev_fini(&dev);
}

/* ---- vvu_device_spec.rst §L.3 BAR0 ---- */
TEST_CASE(common_cfg_basics)
{
	dev_up(256, 4ULL << 30);
	TEST_ASSERT_EQ(rd(VIRTIO_PCI_COMMON_NUMQ, 2), 2);
	wr(VIRTIO_PCI_COMMON_DFSELECT, 0, 4);
	TEST_ASSERT_EQ(rd(VIRTIO_PCI_COMMON_DF, 4), 0);
	wr(VIRTIO_PCI_COMMON_DFSELECT, 1, 4);
	TEST_ASSERT_EQ(rd(VIRTIO_PCI_COMMON_DF, 4), 0x3);	/* VERSION_1, ACCESS_PLATFORM */
	wr(VIRTIO_PCI_COMMON_DFSELECT, 7, 4);
	TEST_ASSERT_EQ(rd(VIRTIO_PCI_COMMON_DF, 4), 0);
	/* queue 0/1 exist with max size 128, notify offsets 0/1 */
	wr(VIRTIO_PCI_COMMON_Q_SELECT, 1, 2);
	TEST_ASSERT_EQ(rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), 128);
	TEST_ASSERT_EQ(rd(VIRTIO_PCI_COMMON_Q_NOFF, 2), 1);
	TEST_ASSERT_EQ(rd(VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	wr(VIRTIO_PCI_COMMON_Q_SIZE, 100, 2);	/* not a power of two */
	TEST_ASSERT_EQ(rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), 128);
	wr(VIRTIO_PCI_COMMON_Q_SIZE, 256, 2);	/* above max */
	TEST_ASSERT_EQ(rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), 128);
	wr(VIRTIO_PCI_COMMON_Q_SIZE, 64, 2);
	TEST_ASSERT_EQ(rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), 64);
	/* queue 2 does not exist: size 0 */
	wr(VIRTIO_PCI_COMMON_Q_SELECT, 2, 2);
	TEST_ASSERT_EQ(rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), 0);
	wr(VIRTIO_PCI_COMMON_Q_SIZE, 64, 2);
	TEST_ASSERT_EQ(rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), 0);
	/* 64-bit ring address as two halves */
	wr(VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
	wr(VIRTIO_PCI_COMMON_Q_DESCLO, 0x12345000, 4);
	wr(VIRTIO_PCI_COMMON_Q_DESCHI, 0x1, 4);
	TEST_ASSERT_EQ(rd(VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0x112345000LL);
	vvu_dev_fini(&dev);
}

TEST_CASE(vector_rules)
{
	dev_up(4, 4ULL << 30);	/* 7 vectors */
	wr(VIRTIO_PCI_COMMON_MSIX, 6, 2);
	TEST_ASSERT_EQ(rd(VIRTIO_PCI_COMMON_MSIX, 2), 6);
	wr(VIRTIO_PCI_COMMON_MSIX, 7, 2);	/* out of range reads back NO_VECTOR */
	TEST_ASSERT_EQ(rd(VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	wr(VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
	wr(VIRTIO_PCI_COMMON_Q_MSIX, 1, 2);
	TEST_ASSERT_EQ(rd(VIRTIO_PCI_COMMON_Q_MSIX, 2), 1);
	wr(VIRTIO_PCI_COMMON_Q_MSIX, 0x800, 2);
	TEST_ASSERT_EQ(rd(VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	vvu_dev_fini(&dev);
}

TEST_CASE(driver_aux_cfg_rules)
{
	unsigned int q;

	dev_up(4, 4ULL << 30);
	/* reset: all NO_VECTOR */
	for (q = 0; q < 4; q++) {
		wr(VVU_BAR0_DRV_AUX, q, 2);
		TEST_ASSERT_EQ(rd(VVU_BAR0_DRV_AUX + 2, 2), VIRTIO_MSI_NO_VECTOR);
	}
	wr(VVU_BAR0_DRV_AUX, 3, 2);
	wr(VVU_BAR0_DRV_AUX + 2, 5, 2);
	TEST_ASSERT_EQ(rd(VVU_BAR0_DRV_AUX, 2), 3);
	TEST_ASSERT_EQ(rd(VVU_BAR0_DRV_AUX + 2, 2), 5);
	/* invalid select: vector reads NO_VECTOR, writes ignored */
	wr(VVU_BAR0_DRV_AUX, 4, 2);
	TEST_ASSERT_EQ(rd(VVU_BAR0_DRV_AUX + 2, 2), VIRTIO_MSI_NO_VECTOR);
	wr(VVU_BAR0_DRV_AUX + 2, 1, 2);
	TEST_ASSERT_EQ(rd(VVU_BAR0_DRV_AUX + 2, 2), VIRTIO_MSI_NO_VECTOR);
	for (q = 0; q < 3; q++) {
		wr(VVU_BAR0_DRV_AUX, q, 2);
		TEST_ASSERT_EQ(rd(VVU_BAR0_DRV_AUX + 2, 2), VIRTIO_MSI_NO_VECTOR);
	}
	/* vector out of range: NO_VECTOR */
	wr(VVU_BAR0_DRV_AUX, 2, 2);
	wr(VVU_BAR0_DRV_AUX + 2, 7, 2);
	TEST_ASSERT_EQ(rd(VVU_BAR0_DRV_AUX + 2, 2), VIRTIO_MSI_NO_VECTOR);
	/* virtio reset restores NO_VECTOR */
	wr(VVU_BAR0_DRV_AUX, 3, 2);
	wr(VIRTIO_PCI_COMMON_STATUS, 0, 1);
	wr(VVU_BAR0_DRV_AUX, 3, 2);
	TEST_ASSERT_EQ(rd(VVU_BAR0_DRV_AUX + 2, 2), VIRTIO_MSI_NO_VECTOR);
	vvu_dev_fini(&dev);
}

TEST_CASE(isr_read_to_clear)
{
	dev_up(4, 4ULL << 30);
	TEST_ASSERT_EQ(rd(VVU_BAR0_ISR, 1), 0);
	vvu_dev_config_changed(&dev);
	vvu_dev_interrupt(&dev, VIRTIO_MSI_NO_VECTOR, VVU_ISR_DRIVER_AUX);
	TEST_ASSERT_EQ(rd(VVU_BAR0_ISR, 1), VVU_ISR_CONFIG | VVU_ISR_DRIVER_AUX);
	TEST_ASSERT_EQ(rd(VVU_BAR0_ISR, 1), 0);
	/* writes do not set it */
	wr(VVU_BAR0_ISR, 0xff, 1);
	TEST_ASSERT_EQ(rd(VVU_BAR0_ISR, 1), 0);
	vvu_dev_fini(&dev);
}

TEST_CASE(device_config_fields)
{
	struct vvu_dev_options o = { .num_queues = 17, .shm_size = 1 << 20, .virtio_id = 43,
				 .verbose = -1 };
	unsigned int i;

	for (i = 0; i < 16; i++)
		o.id[i] = (uint8_t)(0xa0 + i);
	TEST_ASSERT(vvu_dev_init(&dev, &o, NULL) == 0);
	TEST_ASSERT_EQ(rd(VVU_BAR0_DEVCFG, 4), 0);
	TEST_ASSERT_EQ(rd(VVU_BAR0_DEVCFG + 4, 4), 17);
	for (i = 0; i < 16; i++)
		TEST_ASSERT_EQ(rd(VVU_BAR0_DEVCFG + 8 + i, 1), 0xa0 + i);
	/* read-only fields ignore writes */
	wr(VVU_BAR0_DEVCFG + 4, 99, 4);
	TEST_ASSERT_EQ(rd(VVU_BAR0_DEVCFG + 4, 4), 17);
	vvu_dev_fini(&dev);
}

static void
driver_ok(void)
{
	wr(VIRTIO_PCI_COMMON_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER, 1);
	wr(VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
	wr(VIRTIO_PCI_COMMON_GF, 1, 4);	/* VERSION_1 */
	wr(VIRTIO_PCI_COMMON_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	   VIRTIO_CONFIG_S_FEATURES_OK, 1);
	TEST_ASSERT(rd(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_FEATURES_OK);
	wr(VIRTIO_PCI_COMMON_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	   VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK, 1);
}

TEST_CASE(features_ok_rules)
{
	dev_up(4, 4ULL << 30);
	wr(VIRTIO_PCI_COMMON_STATUS, 3, 1);
	/* no VERSION_1: FEATURES_OK does not stick */
	wr(VIRTIO_PCI_COMMON_STATUS, 3 | VIRTIO_CONFIG_S_FEATURES_OK, 1);
	TEST_ASSERT(!(rd(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_FEATURES_OK));
	/* a feature we do not offer: refused too */
	wr(VIRTIO_PCI_COMMON_GFSELECT, 0, 4);
	wr(VIRTIO_PCI_COMMON_GF, 1u << 28, 4);
	wr(VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
	wr(VIRTIO_PCI_COMMON_GF, 1, 4);
	wr(VIRTIO_PCI_COMMON_STATUS, 3 | VIRTIO_CONFIG_S_FEATURES_OK, 1);
	TEST_ASSERT(!(rd(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_FEATURES_OK));
	wr(VIRTIO_PCI_COMMON_GFSELECT, 0, 4);
	wr(VIRTIO_PCI_COMMON_GF, 0, 4);
	/* ACCESS_PLATFORM may be refused: VERSION_1 alone is fine */
	wr(VIRTIO_PCI_COMMON_STATUS, 3 | VIRTIO_CONFIG_S_FEATURES_OK, 1);
	TEST_ASSERT(rd(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_FEATURES_OK);
	vvu_dev_fini(&dev);
}

TEST_CASE(status_undefined_bits_need_reset)
{
	dev_up(4, 4ULL << 30);
	driver_ok();
	wr(VVU_BAR0_DEVCFG, VVU_STATUS_BACKEND_UP, 4);
	TEST_ASSERT_EQ(rd(VVU_BAR0_DEVCFG, 4), VVU_STATUS_BACKEND_UP);
	TEST_ASSERT(vvu_dev_ready(&dev));
	wr(VVU_BAR0_DEVCFG, 0x4 | VVU_STATUS_BACKEND_UP, 4);
	TEST_ASSERT(rd(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_NEEDS_RESET);
	TEST_ASSERT(!vvu_dev_ready(&dev));
	/* config interrupt was raised (ISR bit 1) */
	TEST_ASSERT(rd(VVU_BAR0_ISR, 1) & VVU_ISR_CONFIG);
	/* the driver cannot clear NEEDS_RESET but by a reset */
	wr(VIRTIO_PCI_COMMON_STATUS, 0x0f, 1);
	TEST_ASSERT(rd(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_NEEDS_RESET);
	wr(VIRTIO_PCI_COMMON_STATUS, 0, 1);
	TEST_ASSERT_EQ(rd(VIRTIO_PCI_COMMON_STATUS, 1), 0);
	TEST_ASSERT_EQ(rd(VVU_BAR0_DEVCFG, 4), 0);
	vvu_dev_fini(&dev);
}

TEST_CASE(status_frontend_up_rules)
{
	int sv[2];
	uint8_t gen;

	dev_up(4, 4ULL << 30);
	/* BACKEND_UP before DRIVER_OK is latched but not ready */
	wr(VVU_BAR0_DEVCFG, VVU_STATUS_BACKEND_UP, 4);
	TEST_ASSERT_EQ(rd(VVU_BAR0_DEVCFG, 4), VVU_STATUS_BACKEND_UP);
	TEST_ASSERT(!vvu_dev_ready(&dev));
	driver_ok();
	TEST_ASSERT(vvu_dev_ready(&dev));
	/* driver-written FRONTEND_UP is ignored */
	wr(VVU_BAR0_DEVCFG, VVU_STATUS_BACKEND_UP | VVU_STATUS_FRONTEND_UP, 4);
	TEST_ASSERT_EQ(rd(VVU_BAR0_DEVCFG, 4), VVU_STATUS_BACKEND_UP);
	/* a front-end arrives: FRONTEND_UP, config interrupt, generation++ */
	TEST_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	gen = (uint8_t)rd(VIRTIO_PCI_COMMON_CFGGENERATION, 1);
	rd(VVU_BAR0_ISR, 1);
	dev.fe.conn_fd = sv[0];
	vvu_dev_frontend_up(&dev);
	TEST_ASSERT_EQ(rd(VVU_BAR0_DEVCFG, 4), VVU_STATUS_BACKEND_UP | VVU_STATUS_FRONTEND_UP);
	TEST_ASSERT_EQ(rd(VIRTIO_PCI_COMMON_CFGGENERATION, 1), (uint8_t)(gen + 1));
	TEST_ASSERT_EQ(rd(VVU_BAR0_ISR, 1), VVU_ISR_CONFIG);
	/* front-end leaves: both bits cleared, interrupt, generation++ */
	vvu_dev_frontend_gone(&dev, true);
	TEST_ASSERT_EQ(rd(VVU_BAR0_DEVCFG, 4), 0);
	TEST_ASSERT_EQ(rd(VIRTIO_PCI_COMMON_CFGGENERATION, 1), (uint8_t)(gen + 2));
	TEST_ASSERT_EQ(rd(VVU_BAR0_ISR, 1), VVU_ISR_CONFIG);
	TEST_ASSERT(dev.fe.conn_fd < 0);
	/* driver clear while connected: disconnect without interrupt */
	TEST_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv + 0) == 0);
	close(sv[1]);
	wr(VVU_BAR0_DEVCFG, VVU_STATUS_BACKEND_UP, 4);
	dev.fe.conn_fd = sv[0];
	vvu_dev_frontend_up(&dev);
	rd(VVU_BAR0_ISR, 1);
	wr(VVU_BAR0_DEVCFG, 0, 4);
	TEST_ASSERT(dev.fe.conn_fd < 0);
	TEST_ASSERT_EQ(rd(VVU_BAR0_DEVCFG, 4), 0);
	TEST_ASSERT_EQ(rd(VVU_BAR0_ISR, 1), 0);
	vvu_dev_fini(&dev);
}

/* ---- device events: what the PCI model alone asks of the vhost-user side ---- */
#define EV_LOG_MAX	32

static struct {
	unsigned int n;
	uint8_t ev[EV_LOG_MAX];
	uint32_t arg[EV_LOG_MAX];
} ev_log;

static void
ev_record(struct vvu_device *d, enum vvu_dev_event ev, uint32_t arg, void *opaque)
{
	TEST_ASSERT(d == &dev && opaque == &ev_log);
	if (ev_log.n < EV_LOG_MAX) {
		ev_log.ev[ev_log.n] = (uint8_t)ev;
		ev_log.arg[ev_log.n] = arg;
	}
	ev_log.n++;
}

/* The events recorded since the last call, as "ev:arg ev:arg ..." */
static const char *
ev_taken(void)
{
	static char buf[EV_LOG_MAX * 8];
	size_t len = 0;
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < ev_log.n && i < EV_LOG_MAX; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%u:%u", i ? " " : "",
					ev_log.ev[i], ev_log.arg[i]);
	ev_log.n = 0;
	return buf;
}

#define EXPECT_EVENTS(want) do { \
	const char *_got = ev_taken(); \
	TEST_ASSERT(strcmp(_got, want) == 0, "events \"%s\", expected \"%s\"", _got, want); \
} while (0)

TEST_CASE(pci_model_raises_events)
{
	struct vvu_dev_options o = { .num_queues = 4, .shm_size = 1 << 20,
				     .virtio_id = VVU_VIRTIO_ID_DEFAULT, .verbose = -1 };
	char want[64];
	unsigned int i;

	/* the model alone: no forwarding, no socket, nothing to call but events */
	TEST_ASSERT(vvu_dev_pci_init(&dev, &o, NULL) == 0);
	TEST_ASSERT(vvu_dev_subscribe(&dev, (1u << VVU_DEV_EV_MAX) - 1, ev_record, &ev_log) == 0);
	ev_log.n = 0;
	/* notify: rxq and txq only; an offset past the queues is nothing */
	wr(VVU_BAR0_NOTIFY + 4 * VVU_TXQ, VVU_TXQ, 2);
	wr(VVU_BAR0_NOTIFY + 4 * VVU_RXQ, VVU_RXQ, 2);
	wr(VVU_BAR0_NOTIFY + 4 * 2, 2, 2);
	wr(VVU_BAR0_NOTIFY + 2, 0, 2);
	snprintf(want, sizeof(want), "%u:1 %u:0", VVU_DEV_EV_QUEUE_NOTIFY,
		 VVU_DEV_EV_QUEUE_NOTIFY);
	EXPECT_EVENTS(want);
	/* doorbells: the slot as written, at slot bases only */
	wr(VVU_BAR0_DEV_AUX + 4 * 5, 1, 4);
	wr(VVU_BAR0_DEV_AUX + 4 * 5 + 1, 1, 1);
	snprintf(want, sizeof(want), "%u:5", VVU_DEV_EV_DOORBELL);
	EXPECT_EVENTS(want);
	/* BACKEND_UP before DRIVER_OK, then DRIVER_OK: ready twice, rxq looked at */
	wr(VVU_BAR0_DEVCFG, VVU_STATUS_BACKEND_UP, 4);
	snprintf(want, sizeof(want), "%u:0", VVU_DEV_EV_READY_CHANGED);
	EXPECT_EVENTS(want);
	driver_ok();
	snprintf(want, sizeof(want), "%u:0 %u:0", VVU_DEV_EV_READY_CHANGED,
		 VVU_DEV_EV_QUEUE_NOTIFY);
	EXPECT_EVENTS(want);
	/* the front-end arrives and goes: the session is dropped, then readiness */
	vvu_dev_frontend_up(&dev);
	EXPECT_EVENTS("");
	vvu_dev_frontend_gone(&dev, true);
	snprintf(want, sizeof(want), "%u:0 %u:0", VVU_DEV_EV_FRONTEND_DROP,
		 VVU_DEV_EV_READY_CHANGED);
	EXPECT_EVENTS(want);
	/* the driver clears BACKEND_UP: drop and readiness, no interrupt */
	wr(VVU_BAR0_DEVCFG, VVU_STATUS_BACKEND_UP, 4);
	TEST_ASSERT_EQ(ev_log.n, 1);
	TEST_ASSERT_EQ(ev_log.ev[0], VVU_DEV_EV_READY_CHANGED);
	ev_log.n = 0;
	rd(VVU_BAR0_ISR, 1);
	wr(VVU_BAR0_DEVCFG, 0, 4);
	EXPECT_EVENTS(want);
	TEST_ASSERT_EQ(rd(VVU_BAR0_ISR, 1), 0);
	/* NEEDS_RESET and a virtio reset: the same pair */
	vvu_dev_needs_reset(&dev, "test");
	EXPECT_EVENTS(want);
	wr(VIRTIO_PCI_COMMON_STATUS, 0, 1);
	EXPECT_EVENTS(want);
	/* a SIGBUS on DMA memory: NEEDS_RESET's pair, then the fault */
	vvu_dev_dma_fault(&dev, "test");
	snprintf(want, sizeof(want), "%u:0 %u:0 %u:0", VVU_DEV_EV_FRONTEND_DROP,
		 VVU_DEV_EV_READY_CHANGED, VVU_DEV_EV_DMA_FAULT);
	EXPECT_EVENTS(want);
	/* a subscriber of one event sees only it; slots run out; unsubscribe frees */
	vvu_dev_unsubscribe(&dev, ev_record, &ev_log);
	TEST_ASSERT(vvu_dev_subscribe(&dev, VVU_DEV_EV_BIT(VVU_DEV_EV_DOORBELL), ev_record,
				      &ev_log) == 0);
	wr(VVU_BAR0_NOTIFY, 0, 2);
	wr(VVU_BAR0_DEV_AUX, 1, 4);
	snprintf(want, sizeof(want), "%u:0", VVU_DEV_EV_DOORBELL);
	EXPECT_EVENTS(want);
	for (i = 1; i < VVU_DEV_MAX_SUBSCRIBERS; i++)
		TEST_ASSERT(vvu_dev_subscribe(&dev, 1, ev_record, &ev_log) == 0);
	TEST_ASSERT(vvu_dev_subscribe(&dev, 1, ev_record, &ev_log) == -ENOSPC);
	TEST_ASSERT(vvu_dev_subscribe(&dev, 1u << VVU_DEV_EV_MAX, ev_record, &ev_log) ==
		    -EINVAL);
	vvu_dev_unsubscribe(&dev, ev_record, &ev_log);
	wr(VVU_BAR0_DEV_AUX, 1, 4);
	EXPECT_EVENTS("");
	vvu_dev_pci_fini(&dev);
}

TEST_CASE(msix_mask_and_pba)
{
	int efd = eventfd(0, EFD_NONBLOCK);
	int fds[1] = { efd };
	uint32_t ctrl = 0x6000 + 2 * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL;

	dev_up(4, 4ULL << 30);
	TEST_ASSERT(vvu_dev_set_msix_fds(&dev, 2, 1, fds) == 0);
	/* after reset every vector is masked */
	TEST_ASSERT_EQ(rd(ctrl, 4), 1);
	/* MSI-X disabled: INTx path, ISR set, no MSI-X signal */
	vvu_dev_interrupt(&dev, 2, VVU_ISR_QUEUE);
	TEST_ASSERT_EQ(efd_read(efd), 0);
	TEST_ASSERT_EQ(rd(VVU_BAR0_ISR, 1), VVU_ISR_QUEUE);
	cfg_wr(0x42, PCI_MSIX_FLAGS_ENABLE, 2);
	/* masked: pending bit, no signal */
	vvu_dev_interrupt(&dev, 2, 0);
	TEST_ASSERT_EQ(efd_read(efd), 0);
	TEST_ASSERT_EQ(rd(VVU_BAR0_MSIX_PBA, 8), 1 << 2);
	/* unmask: fires and clears the pending bit */
	wr(ctrl, 0, 4);
	TEST_ASSERT_EQ(efd_read(efd), 1);
	TEST_ASSERT_EQ(rd(VVU_BAR0_MSIX_PBA, 8), 0);
	vvu_dev_interrupt(&dev, 2, 0);
	TEST_ASSERT_EQ(efd_read(efd), 1);
	/* function mask */
	cfg_wr(0x42, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 2);
	vvu_dev_interrupt(&dev, 2, 0);
	TEST_ASSERT_EQ(efd_read(efd), 0);
	cfg_wr(0x42, PCI_MSIX_FLAGS_ENABLE, 2);
	TEST_ASSERT_EQ(efd_read(efd), 1);
	/* table entries beyond 3 + N do not exist; PBA is read-only */
	wr(0x6000 + 7 * 16, 0x1234, 4);
	TEST_ASSERT_EQ(rd(0x6000 + 7 * 16, 4), 0);
	wr(VVU_BAR0_MSIX_PBA, 0xff, 4);
	TEST_ASSERT_EQ(rd(VVU_BAR0_MSIX_PBA, 8), 0);
	/* reserved space */
	wr(0x9000, 0xffffffff, 4);
	TEST_ASSERT_EQ(rd(0x9000, 4), 0);
	TEST_ASSERT_EQ(rd(0xfffc, 4), 0);
	vvu_dev_fini(&dev);
}

TEST_CASE(bar0_bounds)
{
	uint8_t b[8];

	dev_up(4, 4ULL << 30);
	TEST_ASSERT(vvu_dev_bar0_read(&dev, 0x10000, b, 1) < 0);
	TEST_ASSERT(vvu_dev_bar0_read(&dev, 0xfffc, b, 8) < 0);
	TEST_ASSERT(vvu_dev_bar0_read(&dev, 0, b, 3) < 0);
	TEST_ASSERT(vvu_dev_cfg_read(&dev, 0xff, b, 2) < 0);
	TEST_ASSERT(vvu_dev_cfg_write(&dev, 0x100, b, 1) < 0);
	vvu_dev_fini(&dev);
}

/* ---- vvu_device_spec.rst §L.8 placement ---- */
static int
memfd_of(uint64_t size)
{
	int fd = memfd_create("vvu-test", MFD_CLOEXEC);

	TEST_ASSERT(fd >= 0);
	TEST_ASSERT(ftruncate(fd, (off_t)size) == 0);
	return fd;
}

TEST_CASE(bar2_placement)
{
	struct vhost_user_memory mem = { .nregions = 2 };
	struct vvu_dev_bar2 b = {0};
	uint64_t needed;
	int fds[2];

	fds[0] = memfd_of(1 << 20);
	fds[1] = memfd_of(3 << 20);
	mem.regions[0] = (struct vhost_user_mem_region){ .guest_phys_addr = 0,
		.memory_size = 1 << 20, .userspace_addr = 0x7f0000000000, .mmap_offset = 0 };
	mem.regions[1] = (struct vhost_user_mem_region){ .guest_phys_addr = 1ULL << 32,
		.memory_size = 2 << 20, .userspace_addr = 0x7f1000000000,
		.mmap_offset = 1 << 20 };
	TEST_ASSERT(vvu_dev_bar2_place(&b, 4 << 20, &mem, fds, 2, &needed) == 0);
	TEST_ASSERT_EQ(b.nr, 2);
	TEST_ASSERT_EQ(b.win[0].bar_offset, 0);
	TEST_ASSERT_EQ(b.win[1].bar_offset, 1 << 20);	/* sum of sizes, not +mmap_offset */
	TEST_ASSERT_EQ(b.win[1].fd_offset, 1 << 20);
	TEST_ASSERT_EQ(b.used, 3 << 20);
	TEST_ASSERT(fds[0] == -1 && fds[1] == -1);
	vvu_dev_bar2_clear(&b);
	TEST_ASSERT_EQ(b.nr, 0);
}

/*
 * A hugepage-backed front-end (DPDK or QEMU with hugepages): its hugetlbfs
 * file takes no write(), so trapped BAR2 writes (QEMU's proxy device,
 * vfio-user REGION_WRITE) go through a mapping; a file shrunk afterwards
 * makes the access fail, not the device die.
 */
TEST_CASE(bar2_trapped_access_to_hugepage_memory)
{
	struct vhost_user_memory mem = { .nregions = 1 };
	struct vvu_dev_bar2 b = {0};
	const uint64_t huge = 2 << 20;
	uint8_t out[8], *view;
	char w1[] = "VVU-BAR2", w2[] = "ACROSS!!", w3[] = "again...";
	uint64_t needed;
	int fd;

	TEST_ASSERT_EQ(vvu_dev_dma_guard_init(), 0);
	fd = memfd_create("bar2-huge", MFD_CLOEXEC | MFD_HUGETLB);
	if (fd < 0 || ftruncate(fd, 2 * huge) < 0) {
		if (fd >= 0)
			close(fd);
		TEST_SKIP("no free 2 MiB hugepages (usertools/vvu-hugepages.sh reserves them)");
	}
	view = mmap(NULL, 2 * huge, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	TEST_ASSERT(view != MAP_FAILED);
	mem.regions[0] = (struct vhost_user_mem_region){ .guest_phys_addr = 0,
		.memory_size = 2 * huge, .userspace_addr = 0x7f0000000000, .mmap_offset = 0 };
	TEST_ASSERT(vvu_dev_bar2_place(&b, 8 << 20, &mem, &fd, 1, &needed) == 0);
	/* A write on each side of a huge page boundary, and one across it. */
	TEST_ASSERT_EQ(vvu_dev_bar2_rw(&b, 0x1000, w1, 8, true), 0);
	TEST_ASSERT_EQ(memcmp(view + 0x1000, "VVU-BAR2", 8), 0);
	TEST_ASSERT_EQ(vvu_dev_bar2_rw(&b, huge - 4, w2, 8, true), 0);
	TEST_ASSERT_EQ(memcmp(view + huge - 4, "ACROSS!!", 8), 0);
	memcpy(view + huge + 64, "readback", 8);
	TEST_ASSERT_EQ(vvu_dev_bar2_rw(&b, huge + 64, out, 8, false), 0);
	TEST_ASSERT_EQ(memcmp(out, "readback", 8), 0);
	munmap(view, 2 * huge);
	/* The front-end shrinks it: an error, no SIGBUS. */
	TEST_ASSERT_EQ(ftruncate(b.win[0].fd, 0), 0);
	TEST_ASSERT(vvu_dev_bar2_rw(&b, huge + 64, out, 8, false) < 0);
	TEST_ASSERT(vvu_dev_bar2_rw(&b, 0x1000, w3, 8, true) < 0);
	vvu_dev_bar2_clear(&b);
}

TEST_CASE(bar2_does_not_fit)
{
	struct vhost_user_memory mem = { .nregions = 2 };
	struct vvu_dev_bar2 b = {0};
	uint64_t needed;
	int fds[2];

	fds[0] = memfd_of(3 << 20);
	fds[1] = memfd_of(2 << 20);
	mem.regions[0].memory_size = 3 << 20;
	mem.regions[1].memory_size = 2 << 20;
	TEST_ASSERT(vvu_dev_bar2_place(&b, 4 << 20, &mem, fds, 2, &needed) == -ENOSPC);
	TEST_ASSERT_EQ(needed, 8 << 20);
	TEST_ASSERT(fds[0] >= 0 && fds[1] >= 0);	/* untouched on failure */
	/* exactly full fits */
	TEST_ASSERT(vvu_dev_bar2_place(&b, 8 << 20, &mem, fds, 2, &needed) == 0);
	vvu_dev_bar2_clear(&b);
}

TEST_CASE(bar2_rejects)
{
	struct vhost_user_memory mem = { .nregions = 1 };
	struct vvu_dev_bar2 b = {0};
	uint64_t needed;
	int fd = memfd_of(1 << 20);

	mem.regions[0].memory_size = 1 << 20;
	mem.regions[0].mmap_offset = 512;	/* not 4 KiB aligned */
	TEST_ASSERT(vvu_dev_bar2_place(&b, 4 << 20, &mem, &fd, 1, &needed) == -EINVAL);
	mem.regions[0].mmap_offset = 4096;	/* past the end of the file */
	TEST_ASSERT(vvu_dev_bar2_place(&b, 4 << 20, &mem, &fd, 1, &needed) == -EINVAL);
	mem.regions[0].mmap_offset = 0;
	mem.regions[0].memory_size = 4097;
	TEST_ASSERT(vvu_dev_bar2_place(&b, 4 << 20, &mem, &fd, 1, &needed) == -EINVAL);
	mem.regions[0].memory_size = 1 << 20;
	TEST_ASSERT(vvu_dev_bar2_place(&b, 4 << 20, &mem, &fd, 0, &needed) == -EINVAL);
	close(fd);
}

/* ---- feature masking by bit value ---- */
TEST_CASE(protocol_feature_masking)
{
	uint64_t all = (1ULL << 20) - 1;
	uint64_t m = vvu_dev_fwd_mask_proto(all);

	/* kept */
	TEST_ASSERT(m & (1ULL << VHOST_USER_PROTO_F_MQ));
	TEST_ASSERT(m & (1ULL << VHOST_USER_PROTO_F_REPLY_ACK));
	TEST_ASSERT(m & (1ULL << VHOST_USER_PROTO_F_NET_MTU));
	TEST_ASSERT(m & (1ULL << VHOST_USER_PROTO_F_CONFIG));
	TEST_ASSERT(m & (1ULL << VHOST_USER_PROTO_F_STATUS));
	TEST_ASSERT(m & (1ULL << VHOST_USER_PROTO_F_RARP));
	TEST_ASSERT(m & (1ULL << VHOST_USER_PROTO_F_RESET_DEVICE));
	/* masked: the phase 1 list of the spec */
	TEST_ASSERT(!(m & (1ULL << VHOST_USER_PROTO_F_HOST_NOTIFIER)));
	TEST_ASSERT(!(m & (1ULL << VHOST_USER_PROTO_F_BACKEND_SEND_FD)));
	TEST_ASSERT(!(m & (1ULL << VHOST_USER_PROTO_F_PAGEFAULT)));
	TEST_ASSERT(!(m & (1ULL << VHOST_USER_PROTO_F_CONFIGURE_MEM_SLOTS)));
	TEST_ASSERT(!(m & (1ULL << VHOST_USER_PROTO_F_SHARED_OBJECT)));
	TEST_ASSERT(!(m & (1ULL << VHOST_USER_PROTO_F_DEVICE_STATE)));
	TEST_ASSERT(!(m & (1ULL << VHOST_USER_PROTO_F_LOG_SHMFD)));
	TEST_ASSERT(!(m & (1ULL << VHOST_USER_PROTO_F_BACKEND_REQ)));
	TEST_ASSERT(!(m & (1ULL << VHOST_USER_PROTO_F_INFLIGHT_SHMFD)));
	/* the QEMU-device bug: masking with bit NUMBERS (3 = MQ|LOG_SHMFD) */
	TEST_ASSERT_EQ(vvu_dev_fwd_mask_proto(0x3), 0x1);
	/* a bit the device does not know cannot be carried either */
	TEST_ASSERT_EQ(vvu_dev_fwd_mask_proto(1ULL << 63), 0);
	TEST_ASSERT_EQ(vvu_dev_fwd_mask_proto(1ULL << 20), 0);
}

/* ---- forwarding table ---- */
TEST_CASE(forwarding_rules_table)
{
	const struct vvu_dev_fwd_rule *r;
	uint32_t req;

	TEST_ASSERT(vvu_dev_fwd_rule(0) == NULL);
	TEST_ASSERT(vvu_dev_fwd_rule(VHOST_USER_REQUEST_MAX) == NULL);
	TEST_ASSERT(vvu_dev_fwd_rule(1000) == NULL);
	TEST_ASSERT_EQ(vvu_dev_fwd_rule(VHOST_USER_SET_MEM_TABLE)->action, VVU_FWD_MEM_TABLE);
	TEST_ASSERT_EQ(vvu_dev_fwd_rule(VHOST_USER_SET_MEM_TABLE)->fds, VVU_FDS_TABLE);
	TEST_ASSERT_EQ(vvu_dev_fwd_rule(VHOST_USER_SET_VRING_KICK)->action, VVU_FWD_KICK);
	TEST_ASSERT_EQ(vvu_dev_fwd_rule(VHOST_USER_SET_VRING_CALL)->action, VVU_FWD_CALL);
	TEST_ASSERT_EQ(vvu_dev_fwd_rule(VHOST_USER_SET_VRING_ERR)->action, VVU_FWD_ERR);
	TEST_ASSERT_EQ(vvu_dev_fwd_rule(VHOST_USER_SET_PROTOCOL_FEATURES)->action,
		       VVU_FWD_SET_PROTO);
	/* phase 2 and fd-carrying messages we do not support */
	TEST_ASSERT_EQ(vvu_dev_fwd_rule(VHOST_USER_SET_LOG_BASE)->action, VVU_FWD_REFUSE);
	TEST_ASSERT_EQ(vvu_dev_fwd_rule(VHOST_USER_SET_LOG_FD)->action, VVU_FWD_REFUSE);
	TEST_ASSERT_EQ(vvu_dev_fwd_rule(VHOST_USER_SET_BACKEND_REQ_FD)->action, VVU_FWD_REFUSE);
	TEST_ASSERT_EQ(vvu_dev_fwd_rule(VHOST_USER_GET_INFLIGHT_FD)->action, VVU_FWD_REFUSE);
	TEST_ASSERT_EQ(vvu_dev_fwd_rule(VHOST_USER_SET_INFLIGHT_FD)->action, VVU_FWD_REFUSE);
	TEST_ASSERT_EQ(vvu_dev_fwd_rule(VHOST_USER_ADD_MEM_REG)->action, VVU_FWD_REFUSE);
	TEST_ASSERT_EQ(vvu_dev_fwd_rule(VHOST_USER_GPU_SET_SOCKET)->action, VVU_FWD_REFUSE);
	/* every known request has a named row; what passes unchanged has no fds */
	for (req = 1; req < VHOST_USER_REQUEST_MAX; req++) {
		r = vvu_dev_fwd_rule(req);
		TEST_ASSERT(r != NULL && r->name != NULL, "request %u has no row", req);
		if (r->action == VVU_FWD_PASS || r->action == VVU_FWD_SET_PROTO)
			TEST_ASSERT_EQ(r->fds, VVU_FDS_NONE);
		if (r->action == VVU_FWD_REFUSE)
			TEST_ASSERT(r->min_size == 0 && r->max_size == 0 && r->fds == VVU_FDS_NONE,
				    "refused %s states a size or fds", r->name);
	}
	/* a zero row (a request without one) is a refusal, not a pass */
	TEST_ASSERT_EQ(((struct vvu_dev_fwd_rule){ 0 }).action, VVU_FWD_REFUSE);
	TEST_ASSERT(strcmp(vvu_dev_fwd_rule(VHOST_USER_GET_STATUS)->name, "GET_STATUS") == 0);
}

static int
send_msg(uint32_t req, uint32_t flags, const void *payload, uint32_t size,
	 const int *fds, int nr_fds)
{
	struct vvu_dev_fe_msg m;
	int i;

	memset(&m, 0, sizeof(m));
	m.msg.hdr.request = req;
	m.msg.hdr.flags = flags;
	m.msg.hdr.size = size;
	if (size > 0)
		memcpy(&m.msg.payload, payload, size);
	m.len = VHOST_USER_HDR_SIZE + size;
	for (i = 0; i < VHOST_USER_MAX_FDS; i++)
		m.fds[i] = i < nr_fds ? fds[i] : -1;
	m.nr_fds = nr_fds;
	dev.fe.has_pending = false;	/* no rxq here: drop what the last one queued */
	return vvu_dev_fwd_frontend_msg(&dev, &m);
}

TEST_CASE(forwarding_decisions)
{
	uint64_t u64 = 0;
	int efd, fds[2];
	int before = test_count_fds();
	struct vhost_user_memory mem = { .nregions = 1 };

	dev_up(4, 4ULL << 30);
	/* plain messages queue for rxq unchanged */
	TEST_ASSERT(send_msg(VHOST_USER_GET_FEATURES, 1, NULL, 0, NULL, 0) == 0);
	TEST_ASSERT(dev.fe.has_pending);
	TEST_ASSERT_EQ(dev.fe.pending.len, 12);
	u64 = 1ULL << 32;
	TEST_ASSERT(send_msg(VHOST_USER_SET_FEATURES, 1, &u64, 8, NULL, 0) == 0);
	TEST_ASSERT_EQ(dev.fe.pending.msg.payload.u64, 1ULL << 32);
	/* SET_PROTOCOL_FEATURES is masked by bit value */
	u64 = (1ULL << VHOST_USER_PROTO_F_MQ) | (1ULL << VHOST_USER_PROTO_F_BACKEND_REQ) |
		(1ULL << VHOST_USER_PROTO_F_HOST_NOTIFIER);
	TEST_ASSERT(send_msg(VHOST_USER_SET_PROTOCOL_FEATURES, 1, &u64, 8, NULL, 0) == 0);
	TEST_ASSERT_EQ(dev.fe.pending.msg.payload.u64, 1ULL << VHOST_USER_PROTO_F_MQ);
	/* unknown request, phase 2 request, bad version, reply flag: disconnect */
	TEST_ASSERT(send_msg(77, 1, NULL, 0, NULL, 0) < 0);
	TEST_ASSERT(send_msg(VHOST_USER_REQUEST_MAX, 1, NULL, 0, NULL, 0) < 0);
	TEST_ASSERT(send_msg(VHOST_USER_SET_LOG_BASE, 1, &u64, 8, NULL, 0) < 0);
	TEST_ASSERT(send_msg(VHOST_USER_GET_FEATURES, 2, NULL, 0, NULL, 0) < 0);
	TEST_ASSERT(send_msg(VHOST_USER_GET_FEATURES, 1 | VHOST_USER_REPLY_MASK, NULL, 0,
			     NULL, 0) < 0);
	/* wrong payload sizes: lib/vhost's, a GET with a u64 is no GET */
	TEST_ASSERT(send_msg(VHOST_USER_SET_FEATURES, 1, &u64, 4, NULL, 0) < 0);
	TEST_ASSERT(send_msg(VHOST_USER_SET_VRING_ADDR, 1, &u64, 8, NULL, 0) < 0);
	TEST_ASSERT(send_msg(VHOST_USER_GET_FEATURES, 1, &u64, 8, NULL, 0) < 0);
	TEST_ASSERT(send_msg(VHOST_USER_SET_OWNER, 1, &u64, 8, NULL, 0) < 0);
	TEST_ASSERT(send_msg(VHOST_USER_IOTLB_MSG, 1, &mem, 26, NULL, 0) < 0);
	/* an fd on a message that carries none: disconnect, fd closed */
	efd = eventfd(0, 0);
	TEST_ASSERT(send_msg(VHOST_USER_GET_FEATURES, 1, NULL, 0, &efd, 1) < 0);
	/* SET_VRING_CALL: fd kept for slot i */
	efd = eventfd(0, 0);
	u64 = 2;
	TEST_ASSERT(send_msg(VHOST_USER_SET_VRING_CALL, 1, &u64, 8, &efd, 1) == 0);
	TEST_ASSERT_EQ(dev.fe.call_fds[2], efd);
	/* the forwarded message carries no fd, the payload is unchanged */
	TEST_ASSERT_EQ(dev.fe.pending.msg.payload.u64, 2);
	wr(VVU_BAR0_DEV_AUX + 4 * 2, 2, 2);
	TEST_ASSERT_EQ(efd_read(efd), 1);
	/* slot N + i: err; no fd yet: dropped */
	wr(VVU_BAR0_DEV_AUX + 4 * (4 + 2), 1, 2);
	efd = eventfd(0, EFD_NONBLOCK);
	TEST_ASSERT(send_msg(VHOST_USER_SET_VRING_ERR, 1, &u64, 8, &efd, 1) == 0);
	wr(VVU_BAR0_DEV_AUX + 4 * (4 + 2), 1, 4);
	TEST_ASSERT_EQ(efd_read(efd), 1);
	/* NOFD with an fd, no NOFD without one, queue out of range, junk bits */
	u64 = 1 | VHOST_USER_VRING_NOFD_MASK;
	efd = eventfd(0, 0);
	TEST_ASSERT(send_msg(VHOST_USER_SET_VRING_KICK, 1, &u64, 8, &efd, 1) < 0);
	u64 = 1;
	TEST_ASSERT(send_msg(VHOST_USER_SET_VRING_KICK, 1, &u64, 8, NULL, 0) < 0);
	u64 = 4;
	efd = eventfd(0, 0);
	TEST_ASSERT(send_msg(VHOST_USER_SET_VRING_KICK, 1, &u64, 8, &efd, 1) < 0);
	u64 = 1 | (1ULL << 20);
	efd = eventfd(0, 0);
	TEST_ASSERT(send_msg(VHOST_USER_SET_VRING_KICK, 1, &u64, 8, &efd, 1) < 0);
	/* a kick fd that is not an eventfd */
	u64 = 1;
	TEST_ASSERT(pipe(fds) == 0);
	close(fds[1]);
	TEST_ASSERT(send_msg(VHOST_USER_SET_VRING_KICK, 1, &u64, 8, fds, 1) < 0);
	/* NOFD kick is polling: accepted */
	u64 = 1 | VHOST_USER_VRING_NOFD_MASK;
	TEST_ASSERT(send_msg(VHOST_USER_SET_VRING_KICK, 1, &u64, 8, NULL, 0) == 0);
	/* SET_MEM_TABLE: fds become BAR2 windows */
	mem.regions[0].memory_size = 2 << 20;
	fds[0] = memfd_of(2 << 20);
	TEST_ASSERT(send_msg(VHOST_USER_SET_MEM_TABLE, 1, &mem, 8 + 32, fds, 1) == 0);
	TEST_ASSERT_EQ(dev.bar2.nr, 1);
	/* fd count != nregions */
	fds[0] = memfd_of(2 << 20);
	fds[1] = memfd_of(2 << 20);
	TEST_ASSERT(send_msg(VHOST_USER_SET_MEM_TABLE, 1, &mem, 8 + 32, fds, 2) < 0);
	TEST_ASSERT_EQ(dev.bar2.nr, 1);	/* old layout kept on a rejected table */
	/* a payload longer than its regions, or none: lib/vhost would refuse it */
	fds[0] = memfd_of(2 << 20);
	TEST_ASSERT(send_msg(VHOST_USER_SET_MEM_TABLE, 1, &mem, 8 + 2 * 32, fds, 1) < 0);
	mem.nregions = 0;
	TEST_ASSERT(send_msg(VHOST_USER_SET_MEM_TABLE, 1, &mem, 8 + 32, NULL, 0) < 0);
	TEST_ASSERT_EQ(dev.bar2.nr, 1);
	vvu_dev_fwd_drop_frontend_state(&dev);
	TEST_ASSERT_EQ(dev.bar2.nr, 0);
	vvu_dev_fini(&dev);
	TEST_ASSERT_EQ(test_count_fds(), before);
}

TEST_CASE(mem_table_does_not_fit)
{
	struct vhost_user_memory mem = { .nregions = 1 };
	int before = test_count_fds();
	int fd;

	dev_up(4, 1 << 20);
	mem.regions[0].memory_size = 2 << 20;
	fd = memfd_of(2 << 20);
	TEST_ASSERT(send_msg(VHOST_USER_SET_MEM_TABLE, 1, &mem, 8 + 32, &fd, 1) == -ENOSPC);
	TEST_ASSERT_EQ(dev.bar2.nr, 0);
	vvu_dev_fini(&dev);
	TEST_ASSERT_EQ(test_count_fds(), before);
}

/* ---- rings through DMA windows ---- */
#define RING_IOVA	0x100000ULL
#define RING_SIZE	(1 << 20)
#define QSZ		8
/* ring layout inside the DMA window (offsets from RING_IOVA) */
#define RXD	0x0000
#define RXA	0x1000
#define RXU	0x2000
#define TXD	0x3000
#define TXA	0x4000
#define TXU	0x5000
#define BUFS	0x10000

static uint8_t *drv_mem;

static void
setup_queue(uint16_t q, uint64_t d, uint64_t a, uint64_t u)
{
	wr(VIRTIO_PCI_COMMON_Q_SELECT, q, 2);
	wr(VIRTIO_PCI_COMMON_Q_SIZE, QSZ, 2);
	wr(VIRTIO_PCI_COMMON_Q_DESCLO, RING_IOVA + d, 8);
	wr(VIRTIO_PCI_COMMON_Q_AVAILLO, RING_IOVA + a, 8);
	wr(VIRTIO_PCI_COMMON_Q_USEDLO, RING_IOVA + u, 8);
	wr(VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
}

static void
post(uint32_t d, uint32_t a, uint16_t id, uint64_t buf, uint32_t len, uint16_t flags)
{
	struct vring_desc *desc = (void *)(drv_mem + d);
	uint16_t *avail = (void *)(drv_mem + a);

	desc[id].addr = RING_IOVA + buf;
	desc[id].len = len;
	desc[id].flags = flags;
	desc[id].next = 0;
	avail[2 + avail[1] % QSZ] = id;
	__atomic_store_n(&avail[1], (uint16_t)(avail[1] + 1), __ATOMIC_RELEASE);
}

static uint16_t
used_idx(uint32_t u)
{
	return ((uint16_t *)(void *)(drv_mem + u))[1];
}

static int
rings_up(uint32_t queues)
{
	int fd = memfd_of(RING_SIZE);

	dev_up(queues, 4ULL << 30);
	drv_mem = mmap(NULL, RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	TEST_ASSERT(drv_mem != MAP_FAILED);
	TEST_ASSERT(vvu_dev_dma_map(&dev.dma, fd, 0, RING_IOVA, RING_SIZE,
				VVU_DMA_READ | VVU_DMA_WRITE) == 0);
	wr(VIRTIO_PCI_COMMON_STATUS, 3, 1);
	wr(VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
	wr(VIRTIO_PCI_COMMON_GF, 1, 4);
	wr(VIRTIO_PCI_COMMON_STATUS, 0xb, 1);
	setup_queue(VVU_RXQ, RXD, RXA, RXU);
	setup_queue(VVU_TXQ, TXD, TXA, TXU);
	wr(VIRTIO_PCI_COMMON_STATUS, 0xf, 1);
	wr(VVU_BAR0_DEVCFG, VVU_STATUS_BACKEND_UP, 4);
	return 0;
}

static void
rings_down(void)
{
	vvu_dev_fini(&dev);
	munmap(drv_mem, RING_SIZE);
}

TEST_CASE(rxq_delivery_and_backpressure)
{
	struct vvu_dev_fe_msg m;
	uint64_t u64 = 0x1234;
	int before = test_count_fds();

	uint64_t pauses = dev.stats.fe_read_pauses;
	int sv[2];

	rings_up(4);
	/* a connected front-end, so that the reader's state is followed */
	TEST_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	dev.fe.conn_fd = sv[0];
	dev.fe.reading = true;
	/* no buffer yet: the message waits, and the reader stops */
	TEST_ASSERT(send_msg(VHOST_USER_SET_FEATURES, 1, &u64, 8, NULL, 0) == 0);
	TEST_ASSERT(dev.fe.has_pending);
	TEST_ASSERT(!dev.fe.reading);
	TEST_ASSERT_EQ(dev.stats.fe_read_pauses - pauses, 1);
	TEST_ASSERT_EQ(used_idx(RXU), 0);
	post(RXD, RXA, 0, BUFS, 1024, VRING_DESC_F_WRITE);
	wr(VVU_BAR0_NOTIFY + 0, 0, 2);	/* rxq notify */
	TEST_ASSERT(!dev.fe.has_pending);
	TEST_ASSERT(dev.fe.reading);
	TEST_ASSERT_EQ(used_idx(RXU), 1);
	/* used elem: id 0, len 20 */
	TEST_ASSERT_EQ(*(uint32_t *)(void *)(drv_mem + RXU + 4), 0);
	TEST_ASSERT_EQ(*(uint32_t *)(void *)(drv_mem + RXU + 8), 20);
	memcpy(&m.msg, drv_mem + BUFS, 20);
	TEST_ASSERT_EQ(m.msg.hdr.request, VHOST_USER_SET_FEATURES);
	TEST_ASSERT_EQ(m.msg.payload.u64, 0x1234);
	/* a message across a two-descriptor chain */
	{
		struct vring_desc *desc = (void *)(drv_mem + RXD);
		uint16_t *avail = (void *)(drv_mem + RXA);

		desc[1] = (struct vring_desc){ RING_IOVA + BUFS + 0x1000, 4,
					       VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2 };
		desc[2] = (struct vring_desc){ RING_IOVA + BUFS + 0x2000, 100,
					       VRING_DESC_F_WRITE, 0 };
		avail[2 + avail[1] % QSZ] = 1;
		avail[1]++;
	}
	TEST_ASSERT(send_msg(VHOST_USER_SET_FEATURES, 1, &u64, 8, NULL, 0) == 0);
	/* delivered at once: the reader never paused */
	TEST_ASSERT(dev.fe.reading);
	TEST_ASSERT_EQ(dev.stats.fe_read_pauses - pauses, 1);
	TEST_ASSERT_EQ(used_idx(RXU), 2);
	TEST_ASSERT_EQ(*(uint32_t *)(void *)(drv_mem + BUFS + 0x1000), VHOST_USER_SET_FEATURES);
	TEST_ASSERT_EQ(*(uint64_t *)(void *)(drv_mem + BUFS + 0x2000 + 8), 0x1234);
	dev.fe.conn_fd = -1;
	dev.fe.reading = false;
	close(sv[0]);
	close(sv[1]);
	rings_down();
	TEST_ASSERT_EQ(test_count_fds(), before);
}

TEST_CASE(rxq_oversize_needs_reset)
{
	uint64_t u64 = 1;
	int sv[2];

	rings_up(4);
	TEST_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	dev.fe.conn_fd = sv[0];
	post(RXD, RXA, 0, BUFS, 16, VRING_DESC_F_WRITE);	/* too small for 20 bytes */
	rd(VVU_BAR0_ISR, 1);
	TEST_ASSERT(send_msg(VHOST_USER_SET_FEATURES, 1, &u64, 8, NULL, 0) == 0);
	TEST_ASSERT(rd(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_NEEDS_RESET);
	TEST_ASSERT(rd(VVU_BAR0_ISR, 1) & VVU_ISR_CONFIG);
	TEST_ASSERT(dev.fe.conn_fd < 0);	/* front-end disconnected */
	TEST_ASSERT(!dev.fe.has_pending);
	close(sv[1]);
	rings_down();
}

TEST_CASE(rxq_buffer_outside_dma)
{
	uint64_t u64 = 1;

	rings_up(4);
	post(RXD, RXA, 0, RING_SIZE - 8, 1024, VRING_DESC_F_WRITE);	/* crosses the end */
	TEST_ASSERT(send_msg(VHOST_USER_SET_FEATURES, 1, &u64, 8, NULL, 0) == 0);
	TEST_ASSERT(rd(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_NEEDS_RESET);
	rings_down();
}

TEST_CASE(rxq_malformed_ring)
{
	uint64_t u64 = 1;
	struct vring_desc *desc;

	rings_up(4);
	/* a descriptor loop */
	post(RXD, RXA, 0, BUFS, 4, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT);
	desc = (void *)(drv_mem + RXD);
	desc[0].next = 0;
	TEST_ASSERT(send_msg(VHOST_USER_SET_FEATURES, 1, &u64, 8, NULL, 0) == 0);
	TEST_ASSERT(rd(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_NEEDS_RESET);
	rings_down();
	/* an avail index far ahead of ours */
	rings_up(4);
	((uint16_t *)(void *)(drv_mem + RXA))[1] = 1000;
	TEST_ASSERT(send_msg(VHOST_USER_SET_FEATURES, 1, &u64, 8, NULL, 0) == 0);
	TEST_ASSERT(rd(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_NEEDS_RESET);
	rings_down();
	/* indirect descriptors are not offered */
	rings_up(4);
	post(RXD, RXA, 0, BUFS, 64, VRING_DESC_F_INDIRECT);
	TEST_ASSERT(send_msg(VHOST_USER_SET_FEATURES, 1, &u64, 8, NULL, 0) == 0);
	TEST_ASSERT(rd(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_NEEDS_RESET);
	rings_down();
}

static void
put_txq_msg(uint16_t id, uint32_t req, uint32_t flags, uint64_t u64, uint32_t size,
	    uint32_t desc_len)
{
	struct vhost_user_msg *m = (void *)(drv_mem + BUFS + 0x8000 + 0x400 * id);

	m->hdr.request = req;
	m->hdr.flags = flags;
	m->hdr.size = size;
	m->payload.u64 = u64;
	post(TXD, TXA, id, BUFS + 0x8000 + 0x400 * id, desc_len, 0);
}

TEST_CASE(txq_replies_to_frontend)
{
	struct vhost_user_msg got;
	uint64_t all = (1ULL << 20) - 1;
	int sv[2];
	ssize_t n;

	rings_up(4);
	TEST_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	dev.fe.conn_fd = sv[0];
	/* GET_PROTOCOL_FEATURES reply is masked on its way out */
	put_txq_msg(0, VHOST_USER_GET_PROTOCOL_FEATURES, 1 | VHOST_USER_REPLY_MASK, all, 8, 20);
	wr(VVU_BAR0_NOTIFY + 4, 1, 2);	/* txq notify */
	TEST_ASSERT_EQ(used_idx(TXU), 1);
	n = recv(sv[1], &got, sizeof(got), 0);
	TEST_ASSERT_EQ(n, 20);
	TEST_ASSERT_EQ(got.hdr.request, VHOST_USER_GET_PROTOCOL_FEATURES);
	TEST_ASSERT_EQ(got.payload.u64, vvu_dev_fwd_mask_proto(all));
	/* other replies pass unchanged */
	put_txq_msg(1, VHOST_USER_GET_FEATURES, 1 | VHOST_USER_REPLY_MASK, all, 8, 20);
	wr(VVU_BAR0_NOTIFY + 4, 1, 2);
	n = recv(sv[1], &got, sizeof(got), 0);
	TEST_ASSERT_EQ(n, 20);
	TEST_ASSERT_EQ(got.payload.u64, all);
	/* back-end requests (no REPLY flag) are dropped in phase 1 */
	put_txq_msg(2, 1, 1, 0, 8, 20);
	wr(VVU_BAR0_NOTIFY + 4, 1, 2);
	TEST_ASSERT(recv(sv[1], &got, sizeof(got), 0) < 0);
	TEST_ASSERT_EQ(used_idx(TXU), 3);
	TEST_ASSERT(!(rd(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_NEEDS_RESET));
	/* length != 12 + hdr.size: NEEDS_RESET */
	put_txq_msg(3, VHOST_USER_GET_FEATURES, 1 | VHOST_USER_REPLY_MASK, all, 8, 24);
	wr(VVU_BAR0_NOTIFY + 4, 1, 2);
	TEST_ASSERT(rd(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_NEEDS_RESET);
	close(sv[1]);
	rings_down();
}

TEST_CASE(dma_map_rules)
{
	struct vvu_dev_dma dma = {0};
	int before = test_count_fds();
	int fd = memfd_of(1 << 20);
	int fd2 = memfd_of(1 << 20);

	TEST_ASSERT(vvu_dev_dma_map(&dma, fd, 0, 0x10000, 1 << 20, VVU_DMA_READ) == 0);
	/* overlap: EEXIST, fd stays the caller's */
	TEST_ASSERT(vvu_dev_dma_map(&dma, fd2, 0, 0x20000, 4096, VVU_DMA_READ) == -EEXIST);
	/* past the end of the file */
	TEST_ASSERT(vvu_dev_dma_map(&dma, fd2, 4096, 0x200000, 1 << 20, VVU_DMA_READ) == -EINVAL);
	TEST_ASSERT(vvu_dev_dma_translate(&dma, 0x10000, 16, VVU_DMA_READ) != NULL);
	TEST_ASSERT(vvu_dev_dma_translate(&dma, 0x10000, 16, VVU_DMA_WRITE) == NULL);
	TEST_ASSERT(vvu_dev_dma_translate(&dma, 0x10000 + (1 << 20) - 8, 16, VVU_DMA_READ) == NULL);
	TEST_ASSERT(vvu_dev_dma_translate(&dma, 0xffff, 2, VVU_DMA_READ) == NULL);
	TEST_ASSERT(vvu_dev_dma_translate(&dma, UINT64_MAX - 1, 4, VVU_DMA_READ) == NULL);
	TEST_ASSERT(vvu_dev_dma_unmap(&dma, 0x10000, 4096) == -ENOENT);
	TEST_ASSERT(vvu_dev_dma_unmap(&dma, 0x10000, 1 << 20) == 0);
	TEST_ASSERT(vvu_dev_dma_translate(&dma, 0x10000, 16, VVU_DMA_READ) == NULL);
	close(fd2);
	free(dma.regions);
	TEST_ASSERT_EQ(test_count_fds(), before);
}

/* In a child: read a byte of a truncated DMA mapping outside the guard. */
static int
read_unguarded(void *arg)
{
	volatile const uint8_t *p = arg;

	return p[0] == 0xee ? 42 : 43;	/* only if the read survived */
}

/*
 * A driver shrinking a DMA-mapped file: ring and buffer helpers return -EIO
 * instead of dying of SIGBUS, and a SIGBUS outside the guard still kills.
 */
TEST_CASE(dma_sigbus_guard)
{
	struct vvu_dev_dma dma = {0};
	struct vvu_dev_vq vq;
	struct vvu_dev_chain c = { .nsegs = 1, .write_len = 64 };
	uint64_t faults = vvu_dev_dma_faults();
	int before = test_count_fds();
	int fd = memfd_of(1 << 20);
	int keep = dup(fd);
	uint8_t buf[64] = {0};
	volatile const uint8_t *p;
	pid_t pid;
	int st = 0;

	TEST_ASSERT(keep >= 0 && vvu_dev_dma_guard_init() == 0 && vvu_dev_dma_guard_init() == 0);
	TEST_ASSERT(vvu_dev_dma_map(&dma, fd, 0, 0x10000, 1 << 20,
				VVU_DMA_READ | VVU_DMA_WRITE) == 0);
	vvu_dev_vq_reset(&vq);
	vq.size = 8;
	vq.enabled = true;
	vq.desc = 0x10000;
	vq.avail = 0x11000;
	vq.used = 0x12000;
	c.segs[0] = (struct vvu_dev_seg){ .iova = 0x20000, .len = 64, .write = true };
	TEST_ASSERT_EQ(vvu_dev_vq_pop(&dma, &vq, &c), 0);	/* empty ring, memory fine */
	TEST_ASSERT_EQ(vvu_dev_chain_write(&dma, &c, buf, sizeof(buf)), 0);
	TEST_ASSERT(ftruncate(keep, 0) == 0);
	TEST_ASSERT_EQ(vvu_dev_vq_pop(&dma, &vq, &c), -EIO);
	TEST_ASSERT_EQ(vvu_dev_vq_push(&dma, &vq, 0, 1), -EIO);
	TEST_ASSERT_EQ(vvu_dev_chain_write(&dma, &c, buf, sizeof(buf)), -EIO);
	c.segs[0].write = false;
	c.read_len = 64;
	TEST_ASSERT_EQ(vvu_dev_chain_read(&dma, &c, buf, sizeof(buf)), -EIO);
	TEST_ASSERT(vvu_dev_vq_want_interrupt(&dma, &vq));
	TEST_ASSERT_EQ(vvu_dev_dma_faults() - faults, 5);
	{
		sigset_t cur;

		/* jumping out of the handler left SIGBUS unblocked */
		TEST_ASSERT(sigprocmask(SIG_BLOCK, NULL, &cur) == 0);
		TEST_ASSERT(!sigismember(&cur, SIGBUS));
	}
	/* an unguarded access is a real bug: the fault must still kill */
	p = vvu_dev_dma_translate(&dma, 0x10000, 1, VVU_DMA_READ);
	TEST_ASSERT(p != NULL);
	/* a sanitizer's report of this expected fault is noise in the log */
	pid = test_spawn(read_unguarded, (void *)(uintptr_t)p, TEST_FD_INHERIT, TEST_FD_NULL);
	TEST_ASSERT(pid > 0);
	st = test_proc_stop(pid, 0, CHILD_EXIT_MS);
	TEST_ASSERT(st != -1);
	/* killed by SIGBUS, or a sanitizer's handler (the previous one) exited */
	TEST_ASSERT((WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS) ||
		    (WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) < 42),
		    "child status %#x", st);
	vvu_dev_dma_unmap_all(&dma);
	free(dma.regions);
	close(keep);
	TEST_ASSERT_EQ(test_count_fds(), before);
}

/* ---- vfio-user glue answers ---- */
TEST_CASE(server_regions_and_irqs)
{
	struct vfio_user_region r;
	struct vfio_irq_set set = {0};
	struct vhost_user_memory mem = { .nregions = 2 };
	int fds[2], efd[2];
	uint8_t b[4];

	dev_up(4, 4ULL << 30);
	memset(&r, 0, sizeof(r));
	TEST_ASSERT(vvu_dev_server_region(&dev, VFIO_PCI_BAR0_REGION_INDEX, &r) == 0);
	TEST_ASSERT_EQ(r.size, 0x10000);
	TEST_ASSERT(!(r.flags & VFIO_REGION_INFO_FLAG_MMAP));
	memset(&r, 0, sizeof(r));
	TEST_ASSERT(vvu_dev_server_region(&dev, VFIO_PCI_BAR2_REGION_INDEX, &r) == 0);
	TEST_ASSERT_EQ(r.size, 4ULL << 30);
	TEST_ASSERT_EQ(r.nr_areas, 0);
	TEST_ASSERT(!(r.flags & VFIO_REGION_INFO_FLAG_MMAP));
	/* after SET_MEM_TABLE: one area per region, its own fd and offset */
	fds[0] = memfd_of(1 << 20);
	fds[1] = memfd_of(4 << 20);
	mem.regions[0].memory_size = 1 << 20;
	mem.regions[1].memory_size = 2 << 20;
	mem.regions[1].mmap_offset = 2 << 20;
	TEST_ASSERT(send_msg(VHOST_USER_SET_MEM_TABLE, 1, &mem, 8 + 64, fds, 2) == 0);
	memset(&r, 0, sizeof(r));
	TEST_ASSERT(vvu_dev_server_region(&dev, VFIO_PCI_BAR2_REGION_INDEX, &r) == 0);
	TEST_ASSERT(r.flags & VFIO_REGION_INFO_FLAG_MMAP);
	TEST_ASSERT_EQ(r.nr_areas, 2);
	TEST_ASSERT_EQ(r.areas[1].offset, 1 << 20);
	TEST_ASSERT_EQ(r.areas[1].size, 2 << 20);
	TEST_ASSERT_EQ(r.areas[1].fd_offset, 2 << 20);
	TEST_ASSERT(r.areas[1].fd >= 0);
	/* BAR2 region I/O goes to the window fds */
	vvu_put32(b, 0xcafef00d);
	TEST_ASSERT(vvu_dev_server_region_rw(&dev, 2, (1 << 20) + 16, b, 4, true) == 0);
	memset(b, 0, 4);
	TEST_ASSERT(vvu_dev_server_region_rw(&dev, 2, (1 << 20) + 16, b, 4, false) == 0);
	TEST_ASSERT_EQ(vvu_get32(b), 0xcafef00d);
	/* config space via region 7 */
	TEST_ASSERT(vvu_dev_server_region_rw(&dev, VFIO_PCI_CONFIG_REGION_INDEX, 0, b, 4,
					 false) == 0);
	TEST_ASSERT_EQ(vvu_get32(b), 0x106B1AF4);
	/* SET_IRQS: eventfds for vectors 1..2, then a non-eventfd is refused */
	efd[0] = eventfd(0, 0);
	efd[1] = eventfd(0, 0);
	set.index = VFIO_PCI_MSIX_IRQ_INDEX;
	set.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set.start = 1;
	set.count = 2;
	TEST_ASSERT(vvu_dev_server_set_irqs(&dev, &set, NULL, efd, 2) == 0);
	TEST_ASSERT_EQ(dev.irq_fds[2], efd[1]);
	TEST_ASSERT(pipe(fds) == 0);
	set.count = 1;
	TEST_ASSERT(vvu_dev_server_set_irqs(&dev, &set, NULL, fds, 1) == -EINVAL);
	close(fds[0]);
	close(fds[1]);
	/* disable all */
	set.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
	set.start = 0;
	set.count = 0;
	TEST_ASSERT(vvu_dev_server_set_irqs(&dev, &set, NULL, NULL, 0) == 0);
	TEST_ASSERT_EQ(dev.irq_fds[2], -1);
	vvu_dev_fini(&dev);
}

TEST_CASE(reset_drops_frontend_state)
{
	int before = test_count_fds();
	uint64_t u64 = 0;
	int efd, sv[2];

	rings_up(4);
	TEST_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	dev.fe.conn_fd = sv[0];
	efd = eventfd(0, 0);
	TEST_ASSERT(send_msg(VHOST_USER_SET_VRING_CALL, 1, &u64, 8, &efd, 1) == 0);
	TEST_ASSERT(dev.fe.has_pending);
	vvu_dev_pci_reset(&dev);
	TEST_ASSERT(dev.fe.conn_fd < 0);
	TEST_ASSERT_EQ(dev.fe.call_fds[0], -1);
	TEST_ASSERT(!dev.fe.has_pending);
	TEST_ASSERT_EQ(rd(VIRTIO_PCI_COMMON_STATUS, 1), 0);
	close(sv[1]);
	rings_down();
	TEST_ASSERT_EQ(test_count_fds(), before);
}

/* ---- options ---- */
TEST_CASE(option_parsers)
{
	uint64_t sz;
	uint32_t n;
	uint8_t id[16];

	TEST_ASSERT(vvu_dev_parse_size("4G", &sz) == 0 && sz == 4ULL << 30);
	TEST_ASSERT(vvu_dev_parse_size("64m", &sz) == 0 && sz == 64ULL << 20);
	TEST_ASSERT(vvu_dev_parse_size("4096", &sz) == 0 && sz == 4096);
	TEST_ASSERT(vvu_dev_parse_size("16GiB", &sz) == 0 && sz == 16ULL << 30);
	TEST_ASSERT(vvu_dev_parse_size("3G", &sz) < 0);
	TEST_ASSERT(vvu_dev_parse_size("1K", &sz) < 0);
	TEST_ASSERT(vvu_dev_parse_size("", &sz) < 0);
	TEST_ASSERT(vvu_dev_parse_size("-4G", &sz) < 0);
	TEST_ASSERT(vvu_dev_parse_size("4X", &sz) < 0);
	TEST_ASSERT(vvu_dev_parse_size("99999999999999999999G", &sz) < 0);
	TEST_ASSERT(vvu_dev_parse_u32("256", 1, 256, &n) == 0 && n == 256);
	TEST_ASSERT(vvu_dev_parse_u32("257", 1, 256, &n) < 0);
	TEST_ASSERT(vvu_dev_parse_u32("0", 1, 256, &n) < 0);
	TEST_ASSERT(vvu_dev_parse_u32("12x", 1, 256, &n) < 0);
	TEST_ASSERT(vvu_dev_parse_id("00112233-4455-6677-8899-aabbccddeeff", id) == 0);
	TEST_ASSERT(id[0] == 0x00 && id[5] == 0x55 && id[15] == 0xff);
	TEST_ASSERT(vvu_dev_parse_id("00112233445566778899AABBCCDDEEFF", id) == 0);
	TEST_ASSERT(id[10] == 0xaa);
	TEST_ASSERT(vvu_dev_parse_id("00112233-4455-6677-8899-aabbccddeefg", id) < 0);
	TEST_ASSERT(vvu_dev_parse_id("0011223344556677", id) < 0);
	TEST_ASSERT(vvu_dev_parse_id("001122334-455-6677-8899-aabbccddeeff", id) < 0);
}

TEST_MAIN(NULL, NULL,
	TEST_ENTRY(config_header),
	TEST_ENTRY(bar2_trapped_access_to_hugepage_memory),
	TEST_ENTRY(config_virtio_id_option),
	TEST_ENTRY(capability_chain_bytes),
	TEST_ENTRY(capability_walk),
	TEST_ENTRY(bar_sizing),
	TEST_ENTRY(pci_cfg_access_window),
	TEST_ENTRY(common_cfg_basics),
	TEST_ENTRY(vector_rules),
	TEST_ENTRY(driver_aux_cfg_rules),
	TEST_ENTRY(isr_read_to_clear),
	TEST_ENTRY(device_config_fields),
	TEST_ENTRY(features_ok_rules),
	TEST_ENTRY(status_undefined_bits_need_reset),
	TEST_ENTRY(status_frontend_up_rules),
	TEST_ENTRY(pci_model_raises_events),
	TEST_ENTRY(msix_mask_and_pba),
	TEST_ENTRY(bar0_bounds),
	TEST_ENTRY(bar2_placement),
	TEST_ENTRY(bar2_does_not_fit),
	TEST_ENTRY(bar2_rejects),
	TEST_ENTRY(protocol_feature_masking),
	TEST_ENTRY(forwarding_rules_table),
	TEST_ENTRY(forwarding_decisions),
	TEST_ENTRY(mem_table_does_not_fit),
	TEST_ENTRY(rxq_delivery_and_backpressure),
	TEST_ENTRY(rxq_oversize_needs_reset),
	TEST_ENTRY(rxq_buffer_outside_dma),
	TEST_ENTRY(rxq_malformed_ring),
	TEST_ENTRY(txq_replies_to_frontend),
	TEST_ENTRY(dma_map_rules),
	TEST_ENTRY(dma_sigbus_guard),
	TEST_ENTRY(server_regions_and_irqs),
	TEST_ENTRY(reset_drops_frontend_state),
	TEST_ENTRY(option_parsers))

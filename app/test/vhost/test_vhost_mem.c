/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Memory table, ring placement, log and inflight edge cases, on the mock
 * transport of vhost_msg_mock.h: every case asserts the exact result and
 * that no fd and no mapping is left behind.
 */

/* test.h's TEST_MAIN keeps locals across setjmp; they are not reused. */
#pragma GCC diagnostic ignored "-Wclobbered"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_vhost.h>

#include "test.h"
#include "vhost_msg_mock.h"

#define ALL_PROTO	VHOST_NET_PROTOCOL_FEATURES
#define PAGE		4096ULL

/* mock_case_end(), and every region the case mapped is unmapped again. */
static void
case_end(struct vhost_dev *dev)
{
	mock_case_end(dev);
	TEST_ASSERT_EQ(mock.nr_map_region, mock.nr_unmap_region);
}

static struct vhost_dev *
configured_dev(uint64_t features)
{
	struct vhost_dev *dev = mock_dev_new(&mock_trans_fd);

	TEST_ASSERT(dev != NULL);
	TEST_ASSERT_EQ(mock_negotiate(dev, features, ALL_PROTO), 0);
	return dev;
}

/* SET_MEM_TABLE of n regions, each with a dup of the guest memfd. */
static int
send_table(struct vhost_dev *dev, const struct vhost_user_mem_region *r, uint32_t n,
	   int nr_fds)
{
	struct vhost_user_memory m;
	struct vhost_user_ctx ctx;
	int i;

	memset(&m, 0, sizeof(m));
	m.nregions = n;
	memcpy(m.regions, r, sizeof(r[0]) * (n > 8 ? 8 : n));
	mock_msg(&ctx, VHOST_USER_SET_MEM_TABLE, &m, 8 + 32 * (n > 8 ? 8 : n));
	for (i = 0; i < nr_fds && i < VHOST_USER_MAX_FDS; i++)
		mock_add_fd(&ctx, dup(mock_env_guest.memfd));
	return mock_handle(dev, &ctx);
}

static struct vhost_user_mem_region
region(uint64_t gpa, uint64_t size, uint64_t uaddr, uint64_t off)
{
	struct vhost_user_mem_region r = {
		.guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = uaddr, .mmap_offset = off,
	};

	return r;
}

TEST_CASE(test_region_validation)
{
	struct vhost_user_mem_region r[9];
	struct vhost_dev *dev;
	uint32_t i;

	mock_case_begin();
	dev = configured_dev(MOCK_FEATURES);
	/* Zero size. */
	r[0] = region(0, 0, MOCK_GUEST_UADDR, 0);
	TEST_ASSERT(send_table(dev, r, 1, 1) < 0);
	/* gpa, uaddr, mmap_offset + size wrap. */
	r[0] = region(UINT64_MAX - PAGE + 1, 2 * PAGE, MOCK_GUEST_UADDR, 0);
	TEST_ASSERT(send_table(dev, r, 1, 1) < 0);
	r[0] = region(0, 2 * PAGE, UINT64_MAX - PAGE + 1, 0);
	TEST_ASSERT(send_table(dev, r, 1, 1) < 0);
	r[0] = region(0, 2 * PAGE, MOCK_GUEST_UADDR, UINT64_MAX - PAGE + 1);
	TEST_ASSERT(send_table(dev, r, 1, 1) < 0);
	/* Overlap in guest-physical space, then in front-end VA space. */
	r[0] = region(0, 4 * PAGE, MOCK_GUEST_UADDR, 0);
	r[1] = region(3 * PAGE, 4 * PAGE, MOCK_GUEST_UADDR + 0x100000, 0);
	TEST_ASSERT(send_table(dev, r, 2, 2) < 0);
	r[1] = region(0x100000, 4 * PAGE, MOCK_GUEST_UADDR + 3 * PAGE, 0);
	TEST_ASSERT(send_table(dev, r, 2, 2) < 0);
	/* Beyond the end of the file (the mapping helper refuses it). */
	r[0] = region(0, 2 * MOCK_GUEST_SIZE, MOCK_GUEST_UADDR, 0);
	TEST_ASSERT(send_table(dev, r, 1, 1) < 0);
	/* 0 and 9 regions. */
	TEST_ASSERT(send_table(dev, r, 0, 0) < 0);
	for (i = 0; i < 9; i++)
		r[i] = region(i * PAGE, PAGE, MOCK_GUEST_UADDR + i * PAGE, i * PAGE);
	TEST_ASSERT(send_table(dev, r, 9, 8) < 0);
	TEST_ASSERT_EQ(mock.nr_map_region, 0);
	TEST_ASSERT_EQ(dev->mem->nregions, 0);
	/* 8 adjacent regions are fine. */
	TEST_ASSERT_EQ(send_table(dev, r, 8, 8), 0);
	TEST_ASSERT_EQ(dev->mem->nregions, 8);
	TEST_ASSERT_EQ(mock.nr_map_region, 8);
	case_end(dev);
}

TEST_CASE(test_identical_table_is_noop)
{
	struct vhost_user_mem_region r[2];
	struct vhost_dev *dev;
	uint32_t q;

	mock_case_begin();
	dev = configured_dev(MOCK_FEATURES);
	r[0] = region(0, MOCK_GUEST_SIZE / 2, MOCK_GUEST_UADDR, 0);
	r[1] = region(MOCK_GUEST_SIZE / 2, MOCK_GUEST_SIZE / 2,
		      MOCK_GUEST_UADDR + MOCK_GUEST_SIZE / 2, MOCK_GUEST_SIZE / 2);
	TEST_ASSERT_EQ(send_table(dev, r, 2, 2), 0);
	for (q = 0; q < 2; q++) {
		TEST_ASSERT_EQ(mock_setup_vring(dev, q), 0);
		TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_ENABLE, q, 1), 0);
	}
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_STATUS, VIRTIO_CONFIG_S_DRIVER_OK), 0);
	TEST_ASSERT_EQ(mock.new_device, 1);
	TEST_ASSERT_EQ(send_table(dev, r, 2, 2), 0);
	TEST_ASSERT_EQ(mock.nr_map_region, 2);
	TEST_ASSERT_EQ(mock.destroy_device, 0);
	/* A changed table on a running device: stop, swap, translate, start. */
	r[1].mmap_offset = 0;
	r[1].memory_size = PAGE;
	TEST_ASSERT_EQ(send_table(dev, r, 2, 2), 0);
	TEST_ASSERT_EQ(mock.nr_map_region, 4);
	TEST_ASSERT_EQ(mock.nr_unmap_region, 2);
	TEST_ASSERT_EQ(mock.destroy_device, 1);
	TEST_ASSERT_EQ(mock.new_device, 2);
	TEST_ASSERT(dev->vq[0]->access_ok);
	TEST_ASSERT_EQ((uint64_t)(uintptr_t)dev->vq[0]->desc,
		       dev->mem->regions[0].host_user_addr + MOCK_RING_BASE(0));
	/* A table without the rings: they become inaccessible, not started. */
	r[0] = region(0, PAGE, MOCK_GUEST_UADDR, 0);
	TEST_ASSERT_EQ(send_table(dev, r, 1, 1), 0);
	TEST_ASSERT(!dev->vq[0]->access_ok);
	TEST_ASSERT_EQ(mock.destroy_device, 2);
	TEST_ASSERT_EQ(mock.new_device, 2);
	case_end(dev);
}

/* Ring placement: fully mapped, contiguous, aligned. */
TEST_CASE(test_ring_placement)
{
	uint64_t base = MOCK_GUEST_UADDR, half = MOCK_GUEST_SIZE / 2;
	struct vhost_user_mem_region r[2];
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;

	mock_case_begin();
	dev = configured_dev(MOCK_FEATURES);
	/* Two regions adjacent in front-end VA, separate mappings. */
	r[0] = region(0, half, base, 0);
	r[1] = region(half, half, base + half, half);
	TEST_ASSERT_EQ(send_table(dev, r, 2, 2), 0);
	TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_NUM, 0, MOCK_RING_SIZE), 0);
	/* Fully inside: fine. */
	mock_msg_ring_addr(&ctx, 0);
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	TEST_ASSERT(dev->vq[0]->access_ok);
	/* desc table straddling the two regions. */
	mock_msg_vring_addr(&ctx, 0, base + half - 2048, base + 0x1000, base + 0x2000);
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	TEST_ASSERT(!dev->vq[0]->access_ok);
	/* used ring running past the end of memory. */
	mock_msg_vring_addr(&ctx, 0, base, base + 0x1000, base + 2 * half - 2048);
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	/* avail ring outside the table. */
	mock_msg_vring_addr(&ctx, 0, base, base + 4 * half, base + 0x2000);
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	/* The avail ring's last 2 bytes (used_event) outside the table. */
	mock_msg_vring_addr(&ctx, 0, base, base + 2 * half - (4 + 2 * MOCK_RING_SIZE),
			    base + 0x2000);
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	/* Misaligned desc and used. */
	mock_msg_vring_addr(&ctx, 0, base + 8, base + 0x1000, base + 0x2000);
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	mock_msg_vring_addr(&ctx, 0, base, base + 0x1000, base + 0x2002);
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	/* Back in place; then a bigger size no longer fits: refused. */
	mock_msg_vring_addr(&ctx, 0, base + half - 0x1000 * 4, base + 0x1000, base + 0x2000);
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	TEST_ASSERT(mock_send_state(dev, VHOST_USER_SET_VRING_NUM, 0, 2048) < 0);
	TEST_ASSERT(!dev->vq[0]->access_ok);
	case_end(dev);
}

TEST_CASE(test_ring_size)
{
	uint64_t packed = MOCK_FEATURES | (1ULL << VIRTIO_F_RING_PACKED);
	struct vhost_dev *dev;

	mock_case_begin();
	dev = configured_dev(MOCK_FEATURES);
	TEST_ASSERT(mock_send_state(dev, VHOST_USER_SET_VRING_NUM, 0, 0) < 0);
	TEST_ASSERT(mock_send_state(dev, VHOST_USER_SET_VRING_NUM, 0, 100) < 0);
	TEST_ASSERT(mock_send_state(dev, VHOST_USER_SET_VRING_NUM, 0, 32769) < 0);
	TEST_ASSERT(mock_send_state(dev, VHOST_USER_SET_VRING_NUM, 0, 65536) < 0);
	TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_NUM, 0, 32768), 0);
	TEST_ASSERT_EQ(dev->vq[0]->size, 32768);
	TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_NUM, 0, 1), 0);
	vhost_dev_free(dev);

	dev = configured_dev(packed);
	TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_NUM, 0, 100), 0);
	TEST_ASSERT(dev->vq[0]->packed);
	/* Packed base: bit 15 is the wrap counter, the index must fit the ring. */
	TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_BASE, 0, 0x8000 | 99), 0);
	TEST_ASSERT_EQ(dev->vq[0]->last_avail_idx, 99);
	TEST_ASSERT(dev->vq[0]->avail_wrap_counter);
	TEST_ASSERT(mock_send_state(dev, VHOST_USER_SET_VRING_BASE, 0, 100) < 0);
	TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_BASE, 0, 5), 0);
	TEST_ASSERT(!dev->vq[0]->avail_wrap_counter);
	TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_GET_VRING_BASE, 0, 0), 0);
	TEST_ASSERT_EQ(mock.reply.payload.state.num, 5);
	case_end(dev);
}

static int
send_mem_reg(struct vhost_dev *dev, uint32_t request, struct vhost_user_mem_region r,
	     int nr_fds)
{
	struct vhost_user_mem_reg reg = { .padding = 0, .region = r };
	struct vhost_user_ctx ctx;

	mock_msg(&ctx, request, &reg, sizeof(reg));
	while (nr_fds-- > 0)
		mock_add_fd(&ctx, dup(mock_env_guest.memfd));
	return mock_handle(dev, &ctx);
}

TEST_CASE(test_mem_slots)
{
	struct vhost_dev *dev;
	uint32_t i, q;

	mock_case_begin();
	dev = configured_dev(MOCK_FEATURES);
	TEST_ASSERT_EQ(mock_send_empty(dev, VHOST_USER_GET_MAX_MEM_SLOTS), 0);
	TEST_ASSERT_EQ(mock.reply.payload.u64, 32);
	/* 32 one-page regions, the first holding vring 0. */
	TEST_ASSERT_EQ(send_mem_reg(dev, VHOST_USER_ADD_MEM_REG,
				    region(0, 16 * PAGE, MOCK_GUEST_UADDR, 0), 1), 0);
	TEST_ASSERT_EQ(send_mem_reg(dev, VHOST_USER_ADD_MEM_REG,
				    region(0x10000, 0x10000, MOCK_GUEST_UADDR + 0x10000,
					   0x10000), 1), 0);
	TEST_ASSERT_EQ(send_mem_reg(dev, VHOST_USER_ADD_MEM_REG,
				    region(0x20000, 0x10000, MOCK_GUEST_UADDR + 0x20000,
					   0x20000), 1), 0);
	for (i = 3; i < VHOST_MAX_MEM_SLOTS; i++)
		TEST_ASSERT_EQ(send_mem_reg(dev, VHOST_USER_ADD_MEM_REG,
					    region(i * 0x10000, PAGE,
						   MOCK_GUEST_UADDR + i * 0x10000, 0), 1), 0);
	TEST_ASSERT_EQ(dev->mem->nregions, VHOST_MAX_MEM_SLOTS);
	/* Identical: no-op; overlapping or one too many: refused. */
	TEST_ASSERT_EQ(send_mem_reg(dev, VHOST_USER_ADD_MEM_REG,
				    region(0x10000, 0x10000, MOCK_GUEST_UADDR + 0x10000,
					   0x10000), 1), 0);
	TEST_ASSERT(send_mem_reg(dev, VHOST_USER_ADD_MEM_REG,
				 region(0x18000, 0x10000, MOCK_GUEST_UADDR + 0x800000, 0),
				 1) < 0);
	TEST_ASSERT(send_mem_reg(dev, VHOST_USER_ADD_MEM_REG,
				 region(0x800000, PAGE, MOCK_GUEST_UADDR + 0x800000, 0), 1) < 0);
	TEST_ASSERT(send_mem_reg(dev, VHOST_USER_ADD_MEM_REG,
				 region(0x800000, 0, MOCK_GUEST_UADDR + 0x800000, 0), 1) < 0);
	TEST_ASSERT(send_mem_reg(dev, VHOST_USER_ADD_MEM_REG,
				 region(0x800000, PAGE, MOCK_GUEST_UADDR + 0x800000, 0), 0) < 0);
	TEST_ASSERT_EQ(dev->mem->nregions, VHOST_MAX_MEM_SLOTS);
	TEST_ASSERT_EQ(mock.nr_map_region, VHOST_MAX_MEM_SLOTS);
	/* Rings 0 and 1 live in region 1 (0x10000..0x20000) and 2. */
	for (q = 0; q < 2; q++) {
		TEST_ASSERT_EQ(mock_setup_vring(dev, q), 0);
		TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_ENABLE, q, 1), 0);
	}
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_STATUS, VIRTIO_CONFIG_S_DRIVER_OK), 0);
	TEST_ASSERT_EQ(mock.new_device, 1);
	/*
	 * Removing an unknown region is a no-op (QEMU sends every removal once
	 * per queue pair): nothing unmapped, the device keeps running. 0 or 1
	 * fd, never 2.
	 */
	TEST_ASSERT_EQ(send_mem_reg(dev, VHOST_USER_REM_MEM_REG,
				    region(0x900000, PAGE, MOCK_GUEST_UADDR + 0x900000, 0), 0),
		       0);
	TEST_ASSERT_EQ(mock.nr_unmap_region, 0);
	TEST_ASSERT_EQ(mock.destroy_device, 0);
	TEST_ASSERT(send_mem_reg(dev, VHOST_USER_REM_MEM_REG,
				 region(0x10000, 0x10000, MOCK_GUEST_UADDR + 0x10000, 0), 2) < 0);
	/* Removing the region of vring 0: inaccessible first, then unmapped. */
	TEST_ASSERT_EQ(send_mem_reg(dev, VHOST_USER_REM_MEM_REG,
				    region(0x10000, 0x10000, MOCK_GUEST_UADDR + 0x10000, 0), 1),
		       0);
	TEST_ASSERT(!dev->vq[0]->access_ok);
	TEST_ASSERT(dev->vq[1]->access_ok);
	TEST_ASSERT_EQ(dev->mem->nregions, VHOST_MAX_MEM_SLOTS - 1);
	TEST_ASSERT_EQ(mock.nr_unmap_region, 1);
	TEST_ASSERT_EQ(mock.destroy_device, 1);
	TEST_ASSERT_EQ(mock.new_device, 1);
	/* Adding it back makes the ring usable again. */
	TEST_ASSERT_EQ(send_mem_reg(dev, VHOST_USER_ADD_MEM_REG,
				    region(0x10000, 0x10000, MOCK_GUEST_UADDR + 0x10000,
					   0x10000), 1), 0);
	TEST_ASSERT(dev->vq[0]->access_ok);
	TEST_ASSERT_EQ(mock.new_device, 2);
	case_end(dev);
}

TEST_CASE(test_log_base)
{
	struct vhost_user_log log;
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;
	int fd;

	mock_case_begin();
	dev = configured_dev(MOCK_FEATURES);
	fd = memfd_create("log", MFD_CLOEXEC);
	TEST_ASSERT(fd >= 0 && ftruncate(fd, 2 * PAGE) == 0);
	/* CVE-2020-10722: offset + size wraps. */
	log.mmap_size = 2 * PAGE;
	log.mmap_offset = UINT64_MAX - PAGE;
	mock_msg(&ctx, VHOST_USER_SET_LOG_BASE, &log, sizeof(log));
	mock_add_fd(&ctx, dup(fd));
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	log.mmap_size = 0;
	log.mmap_offset = 0;
	mock_msg(&ctx, VHOST_USER_SET_LOG_BASE, &log, sizeof(log));
	mock_add_fd(&ctx, dup(fd));
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	/* The 8-byte legacy form and a missing fd are refused. */
	log.mmap_size = PAGE;
	mock_msg(&ctx, VHOST_USER_SET_LOG_BASE, &log, 8);
	mock_add_fd(&ctx, dup(fd));
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	mock_msg(&ctx, VHOST_USER_SET_LOG_BASE, &log, sizeof(log));
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	TEST_ASSERT_EQ(dev->log_addr, 0);
	TEST_ASSERT_EQ(mock.nr_replies, 0);
	/* Good: mapped, reply u64 0; again: the old log is replaced. */
	log.mmap_offset = 16;
	mock_msg(&ctx, VHOST_USER_SET_LOG_BASE, &log, sizeof(log));
	mock_add_fd(&ctx, dup(fd));
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	TEST_ASSERT_EQ(mock.nr_replies, 1);
	TEST_ASSERT_EQ(mock.reply.hdr.size, 8);
	TEST_ASSERT_EQ(mock.reply.payload.u64, 0);
	TEST_ASSERT_EQ(dev->log_size, PAGE);
	TEST_ASSERT_EQ(dev->log_addr, (uint64_t)(uintptr_t)dev->log_map + 16);
	mock_msg(&ctx, VHOST_USER_SET_LOG_BASE, &log, sizeof(log));
	mock_add_fd(&ctx, dup(fd));
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	close(fd);
	case_end(dev);
}

static int
send_inflight(struct vhost_dev *dev, uint32_t request, uint64_t mmap_size,
	      uint16_t num_queues, uint16_t queue_size, int fd)
{
	struct vhost_user_inflight inf = {
		.mmap_size = mmap_size, .mmap_offset = 0,
		.num_queues = num_queues, .queue_size = queue_size,
	};
	struct vhost_user_ctx ctx;

	mock_msg(&ctx, request, &inf, sizeof(inf));
	if (fd >= 0)
		mock_add_fd(&ctx, fd);
	return mock_handle(dev, &ctx);
}

TEST_CASE(test_inflight)
{
	struct vhost_user_inflight inf;
	struct rte_vhost_ring_inflight ri;
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;
	int before, fd;

	mock_case_begin();
	dev = configured_dev(MOCK_FEATURES);
	/* CVE-2021-3839: num_queues beyond our vring array. */
	TEST_ASSERT(send_inflight(dev, VHOST_USER_GET_INFLIGHT_FD, 0, 257, 256, -1) < 0);
	TEST_ASSERT(send_inflight(dev, VHOST_USER_GET_INFLIGHT_FD, 0, 0, 256, -1) < 0);
	TEST_ASSERT(send_inflight(dev, VHOST_USER_GET_INFLIGHT_FD, 0, 2, 32769, -1) < 0);
	TEST_ASSERT(send_inflight(dev, VHOST_USER_GET_INFLIGHT_FD, 0, 2, 0, -1) < 0);
	/* CVE-2022-0669: an fd where none belongs. */
	TEST_ASSERT(send_inflight(dev, VHOST_USER_GET_INFLIGHT_FD, 0, 2, 256,
				  mock_eventfd()) < 0);
	/* Good GET: reply with the area's size and an fd. */
	TEST_ASSERT_EQ(send_inflight(dev, VHOST_USER_GET_INFLIGHT_FD, 0, 2, 256, -1), 0);
	TEST_ASSERT_EQ(mock.reply.hdr.size, sizeof(inf));
	TEST_ASSERT_EQ(mock.reply_nr_fds, 1);
	memcpy(&inf, &mock.reply.payload.inflight, sizeof(inf));
	TEST_ASSERT_EQ(inf.mmap_size, 2 * RTE_ALIGN_CEIL(16 + 16 * 256, 64));
	TEST_ASSERT_EQ(inf.num_queues, 2);
	/* CVE-2020-10726: repeating it leaks nothing. */
	before = test_count_fds();
	TEST_ASSERT_EQ(send_inflight(dev, VHOST_USER_GET_INFLIGHT_FD, 0, 2, 256, -1), 0);
	TEST_ASSERT_EQ(send_inflight(dev, VHOST_USER_GET_INFLIGHT_FD, 0, 2, 256, -1), 0);
	TEST_ASSERT_EQ(test_count_fds(), before);
	/* SET: too small an area, no fd, wrapping offset. */
	fd = dup(dev->inflight_fd);
	TEST_ASSERT(send_inflight(dev, VHOST_USER_SET_INFLIGHT_FD, inf.mmap_size - 1, 2, 256,
				  dup(fd)) < 0);
	TEST_ASSERT(send_inflight(dev, VHOST_USER_SET_INFLIGHT_FD, inf.mmap_size, 2, 256,
				  -1) < 0);
	{
		struct vhost_user_inflight bad = {
			.mmap_size = PAGE, .mmap_offset = UINT64_MAX,
			.num_queues = 1, .queue_size = 1,
		};

		mock_msg(&ctx, VHOST_USER_SET_INFLIGHT_FD, &bad, sizeof(bad));
		mock_add_fd(&ctx, dup(fd));
		TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	}
	/* Good SET, then the rings pick up their slices at kick. */
	TEST_ASSERT_EQ(send_inflight(dev, VHOST_USER_SET_INFLIGHT_FD, inf.mmap_size, 2, 256,
				     fd), 0);
	mock_msg_mem_table(&ctx, &mock_env_guest, true);
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	TEST_ASSERT_EQ(mock_setup_vring(dev, 1), 0);
	TEST_ASSERT_EQ(rte_vhost_get_vhost_ring_inflight(dev->vid, 1, &ri), 0);
	TEST_ASSERT(ri.inflight_split != NULL);
	TEST_ASSERT_EQ(rte_vhost_set_inflight_desc_split(dev->vid, 1, 3), 0);
	TEST_ASSERT(rte_vhost_set_inflight_desc_split(dev->vid, 1, 256) < 0);
	TEST_ASSERT_EQ(ri.inflight_split->desc[3].inflight, 1);
	TEST_ASSERT_EQ(rte_vhost_clr_inflight_desc_split(dev->vid, 1, 1, 3), 0);
	TEST_ASSERT_EQ(ri.inflight_split->desc[3].inflight, 0);
	TEST_ASSERT(rte_vhost_get_vhost_ring_inflight(dev->vid, 200, &ri) < 0);
	/* A ring bigger than its slice is refused at kick. */
	TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_NUM, 0, 512), 0);
	TEST_ASSERT(mock_send_vring_fd(dev, VHOST_USER_SET_VRING_KICK, 0) < 0);
	case_end(dev);
}

/*
 * A front-end that sets up inflight tracking for small split rings, then
 * enlarges a ring, must not make the inflight API write past the slice
 * (issue: a vhost-blk back-end died with SIGSEGV). The vring is stopped
 * and its slice detached, so the API refuses.
 */
TEST_CASE(test_inflight_ring_enlarged_after_setup)
{
	struct rte_vhost_ring_inflight ri;
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;

	mock_case_begin();
	dev = configured_dev(MOCK_FEATURES);
	TEST_ASSERT_EQ(send_inflight(dev, VHOST_USER_GET_INFLIGHT_FD, 0, 2, MOCK_RING_SIZE,
				     -1), 0);
	mock_msg_mem_table(&ctx, &mock_env_guest, true);
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	TEST_ASSERT_EQ(mock_setup_vring(dev, 0), 0);
	TEST_ASSERT_EQ(rte_vhost_get_vhost_ring_inflight(dev->vid, 0, &ri), 0);
	TEST_ASSERT_EQ(rte_vhost_set_inflight_desc_split(dev->vid, 0, MOCK_RING_SIZE - 1), 0);
	/* Twice the ring: refused, and the slice is gone. */
	TEST_ASSERT(mock_send_state(dev, VHOST_USER_SET_VRING_NUM, 0, 2 * MOCK_RING_SIZE) < 0);
	TEST_ASSERT(!dev->vq[0]->access_ok);
	TEST_ASSERT(rte_vhost_set_inflight_desc_split(dev->vid, 0, MOCK_RING_SIZE + 10) < 0);
	TEST_ASSERT(rte_vhost_set_inflight_desc_split(dev->vid, 0, 0) < 0);
	TEST_ASSERT(rte_vhost_clr_inflight_desc_split(dev->vid, 0, 0, MOCK_RING_SIZE + 10) < 0);
	TEST_ASSERT(rte_vhost_set_last_inflight_io_split(dev->vid, 0, MOCK_RING_SIZE + 10) < 0);
	TEST_ASSERT(rte_vhost_get_vhost_ring_inflight(dev->vid, 0, &ri) < 0);
	case_end(dev);
}

/*
 * The same with a switch to packed rings after the split slice was wired:
 * the packed API would index a split slice with packed entries (twice as
 * big). The slice is detached; every packed call refuses.
 */
TEST_CASE(test_inflight_layout_switched_to_packed)
{
	uint64_t packed = MOCK_FEATURES | (1ULL << VIRTIO_F_RING_PACKED);
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;
	uint16_t entry, a, u;

	mock_case_begin();
	dev = configured_dev(MOCK_FEATURES);
	TEST_ASSERT_EQ(send_inflight(dev, VHOST_USER_GET_INFLIGHT_FD, 0, 2, MOCK_RING_SIZE,
				     -1), 0);
	mock_msg_mem_table(&ctx, &mock_env_guest, true);
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	TEST_ASSERT_EQ(mock_setup_vring(dev, 0), 0);
	TEST_ASSERT_EQ(rte_vhost_set_inflight_desc_split(dev->vid, 0, 3), 0);
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_FEATURES, packed), 0);
	TEST_ASSERT(dev->vq[0]->packed);
	TEST_ASSERT(!dev->vq[0]->access_ok);
	TEST_ASSERT(rte_vhost_clr_inflight_desc_packed(dev->vid, 0, MOCK_RING_SIZE - 1) < 0);
	TEST_ASSERT(rte_vhost_set_inflight_desc_packed(dev->vid, 0, 0, 0, &entry) < 0);
	TEST_ASSERT(rte_vhost_set_last_inflight_io_packed(dev->vid, 0, 0) < 0);
	TEST_ASSERT(rte_vhost_get_vring_base_from_inflight(dev->vid, 0, &a, &u) < 0);
	TEST_ASSERT(rte_vhost_set_inflight_desc_split(dev->vid, 0, 3) < 0);
	/* A kick now refuses to wire the split slice to a packed ring. */
	TEST_ASSERT(mock_send_vring_fd(dev, VHOST_USER_SET_VRING_KICK, 0) < 0);
	case_end(dev);
}

/* Per-connection caps: inflight area and descriptors across vrings. */
TEST_CASE(test_connection_resource_caps)
{
	struct vhost_dev *dev;
	uint32_t i;

	mock_case_begin();
	dev = configured_dev(MOCK_FEATURES);
	/* 256 queues of 32768 split descriptors: 128 MiB of inflight area. */
	TEST_ASSERT(send_inflight(dev, VHOST_USER_GET_INFLIGHT_FD, 0, 256, 32768, -1) < 0);
	TEST_ASSERT(send_inflight(dev, VHOST_USER_SET_INFLIGHT_FD, VHOST_MAX_INFLIGHT_SIZE + 1,
				  1, 256, dup(mock_env_guest.memfd)) < 0);
	TEST_ASSERT_EQ(send_inflight(dev, VHOST_USER_GET_INFLIGHT_FD, 0, 4, 1024, -1), 0);
	/*
	 * 32 vrings of 32768 already reach the descriptor cap (their sizes set
	 * directly: the data-path state they would allocate does not matter
	 * here); one more ring of any size is refused.
	 */
	mock_ep.max_queue_pairs = VHOST_MAX_QUEUE_PAIRS;
	TEST_ASSERT_EQ(vhost_vq_alloc(dev, 32), 0);
	for (i = 0; i < 32; i++)
		dev->vq[i]->size = VHOST_MAX_CONN_DESCS / 32;
	TEST_ASSERT(mock_send_state(dev, VHOST_USER_SET_VRING_NUM, 32, 1) < 0);
	/* Shrinking one of them is fine, and makes room. */
	dev->vq[31]->size = 0;
	TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_NUM, 32, 256), 0);
	for (i = 0; i < 32; i++)
		dev->vq[i]->size = 0;
	case_end(dev);
}

/* A packed base set for a big ring, then the ring shrunk: stopped at start. */
TEST_CASE(test_packed_base_outside_shrunk_ring)
{
	uint64_t packed = MOCK_FEATURES | (1ULL << VIRTIO_F_RING_PACKED);
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;

	mock_case_begin();
	dev = configured_dev(packed);
	mock_msg_mem_table(&ctx, &mock_env_guest, true);
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	TEST_ASSERT_EQ(mock_setup_vring(dev, 0), 0);
	TEST_ASSERT(dev->vq[0]->access_ok);
	TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_BASE, 0, 200), 0);
	TEST_ASSERT(mock_send_state(dev, VHOST_USER_SET_VRING_NUM, 0, 64) < 0);
	TEST_ASSERT(!dev->vq[0]->access_ok);
	case_end(dev);
}

TEST_MAIN(mock_env_setup, mock_env_teardown,
	TEST_ENTRY(test_region_validation),
	TEST_ENTRY(test_identical_table_is_noop),
	TEST_ENTRY(test_ring_placement),
	TEST_ENTRY(test_ring_size),
	TEST_ENTRY(test_mem_slots),
	TEST_ENTRY(test_log_base),
	TEST_ENTRY(test_inflight),
	TEST_ENTRY(test_inflight_ring_enlarged_after_setup),
	TEST_ENTRY(test_inflight_layout_switched_to_packed),
	TEST_ENTRY(test_packed_base_outside_shrunk_ring),
	TEST_ENTRY(test_connection_resource_caps))

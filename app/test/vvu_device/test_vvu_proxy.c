/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The QEMU proxy front (app/vvu-device/vvu_dev_proxy.c) in one process:
 * the device (model, forwarding, vhost-user socket, proxy front) runs on
 * its own loop, which the test pumps; the test plays QEMU on the other end
 * of a socketpair (vvu_proxy_peer.h) and, where needed, a vhost-user
 * front-end on the device's socket.
 *
 * Covered: the proxy layout (identity, chain without MSI-X, pin 0, BAR
 * sizing as QEMU's proxy does it, and that the spec layout differs from it
 * only where it must), BAR programming and BAR0 registers through
 * guest-physical addresses, BAR2 reads and writes reaching a front-end
 * memfd, SYNC_SYSMEM as the DMA windows of rings in "guest RAM" (and its
 * replacement), DEVICE_RESET, SET_IRQFD, messages in pieces and pipelined,
 * a peer that does not read its replies, the end of the session, and the
 * content and framing errors with every fd accounted for.
 */

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "test.h"
#include "vvu_proxy_peer.h"

#define SHM_SIZE	(256ULL << 20)

static struct vvu_device dev;
static struct vvu_dev_loop *loop;
static struct qpeer q;
static int dev_end;	/* the device's end of the socketpair */
static char vu_path[64];

static void
pump(void *arg)
{
	int i;

	/* a few rounds: a callback may make more work ready */
	for (i = 0; i < 8; i++)
		if (vvu_dev_loop_run_once(loop, 0) <= 0)
			break;
}

static void
dev_start_opts(uint64_t shm, bool with_socket)
{
	struct vvu_dev_options o = {
		.num_queues = 4, .shm_size = shm, .virtio_id = VVU_VIRTIO_ID_DEFAULT,
		.layout = VVU_DEV_LAYOUT_PROXY,
		.verbose = test_verbose() ? atoi(getenv("VVU_TEST_VERBOSE")) : -1,
	};
	int sv[2];

	snprintf(vu_path, sizeof(vu_path), "/tmp/vvu-proxy-%d.sock", (int)getpid());
	unlink(vu_path);
	if (with_socket)
		o.vhost_user_path = vu_path;
	loop = vvu_dev_loop_create();
	TEST_ASSERT(loop != NULL);
	TEST_ASSERT(vvu_dev_init(&dev, &o, loop) == 0);
	TEST_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	TEST_ASSERT(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0);
	dev_end = sv[1];
	TEST_ASSERT(vvu_dev_proxy_start(&dev, sv[1]) == 0);
	qp_init(&q, sv[0], pump, NULL);
}

static void
dev_start(void)
{
	dev_start_opts(SHM_SIZE, true);
}

static void
dev_stop(void)
{
	vvu_dev_proxy_stop(&dev);
	vvu_dev_fini(&dev);
	vvu_dev_loop_destroy(loop);
	loop = NULL;
	if (q.fd >= 0)
		close(q.fd);
	q.fd = -1;
	qp_ram_down(&q);
	unlink(vu_path);
}

static struct vvu_dev_proxy_stats
stats(void)
{
	struct vvu_dev_proxy_stats st;

	vvu_dev_proxy_get_stats(&dev, &st);
	return st;
}

/* ---- layout ---- */

TEST_CASE(identity_and_chain_without_msix)
{
	static const uint8_t want_types[] = {
		VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_CAP_ISR_CFG,
		VIRTIO_PCI_CAP_DEVICE_CFG, VVU_PCI_CAP_DEVICE_AUX_NOTIFY_CFG,
		VVU_PCI_CAP_DRIVER_AUX_NOTIFY_CFG, VIRTIO_PCI_CAP_SHARED_MEMORY_CFG,
		VIRTIO_PCI_CAP_PCI_CFG,
	};
	unsigned int pos, n = 0;

	dev_start();
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_VENDOR_ID, 2), 0x1AF4);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_DEVICE_ID, 2), 0x106B);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_VENDOR_ID, 4), 0x106B1AF4);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_CLASS_DEVICE, 2), 0x00ff);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_SUBSYSTEM_ID, 2), 0x106B);
	TEST_ASSERT(qp_cfg_rd(&q, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_INTERRUPT_PIN, 1), 0);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_CAPABILITY_LIST, 1), VVU_CAP_COMMON);
	for (pos = (unsigned int)qp_cfg_rd(&q, PCI_CAPABILITY_LIST, 1); pos != 0; n++) {
		TEST_ASSERT(n < 8, "chain longer than 8");
		TEST_ASSERT_EQ(qp_cfg_rd(&q, pos, 1), PCI_CAP_ID_VNDR);
		TEST_ASSERT_EQ(qp_cfg_rd(&q, pos + VIRTIO_PCI_CAP_CFG_TYPE, 1), want_types[n]);
		pos = (unsigned int)qp_cfg_rd(&q, pos + 1, 1);
	}
	TEST_ASSERT_EQ(n, 8);
	/* where MSI-X sits in the spec layout: unused space, not writable */
	qp_cfg_wr(&q, VVU_CAP_MSIX + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, VVU_CAP_MSIX, 4), 0);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, VVU_CAP_MSIX + 4, 4), 0);
	TEST_ASSERT(!vvu_dev_msix_enabled(&dev));
	/* the shared memory cap names BAR2 with W, whose high dword is 0 */
	TEST_ASSERT_EQ(qp_cfg_rd(&q, VVU_CAP_SHM + VIRTIO_PCI_CAP_BAR, 1), 2);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, VVU_CAP_SHM + VIRTIO_PCI_CAP_LENGTH, 4), SHM_SIZE);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, VVU_CAP_SHM + 20, 4), 0);
	dev_stop();
}

/* The spec layout (vfio-user) differs from the proxy layout only where it must. */
TEST_CASE(layouts_differ_only_where_needed)
{
	static struct vvu_device spec;
	struct vvu_dev_options o = {
		.num_queues = 4, .shm_size = SHM_SIZE, .virtio_id = VVU_VIRTIO_ID_DEFAULT,
		.verbose = -1,
	};
	uint8_t a[VVU_PCI_CFG_SIZE], b[VVU_PCI_CFG_SIZE];
	unsigned int i;

	TEST_ASSERT(vvu_dev_pci_init(&spec, &o, NULL) == 0);
	o.layout = VVU_DEV_LAYOUT_PROXY;
	TEST_ASSERT(vvu_dev_pci_init(&dev, &o, NULL) == 0);
	TEST_ASSERT(vvu_dev_cfg_read(&spec, 0, a, sizeof(a)) == 0);
	TEST_ASSERT(vvu_dev_cfg_read(&dev, 0, b, sizeof(b)) == 0);
	for (i = 0; i < VVU_PCI_CFG_SIZE; i++) {
		bool may = i == PCI_BASE_ADDRESS_2 || i == PCI_CAPABILITY_LIST ||
			i == PCI_INTERRUPT_PIN || (i >= VVU_CAP_MSIX && i < VVU_CAP_COMMON);

		if (!may)
			TEST_ASSERT(a[i] == b[i], "byte %#x: spec %#x proxy %#x", i, a[i], b[i]);
	}
	TEST_ASSERT_EQ(a[PCI_BASE_ADDRESS_2], PCI_BASE_ADDRESS_MEM_TYPE_64 |
		       PCI_BASE_ADDRESS_MEM_PREFETCH);
	TEST_ASSERT_EQ(b[PCI_BASE_ADDRESS_2], PCI_BASE_ADDRESS_MEM_PREFETCH);
	TEST_ASSERT_EQ(a[PCI_CAPABILITY_LIST], VVU_CAP_MSIX);
	TEST_ASSERT_EQ(a[PCI_INTERRUPT_PIN], 1);
	TEST_ASSERT_EQ(spec.nvec, 3 + 4);
	TEST_ASSERT_EQ(dev.nvec, 0);
	vvu_dev_pci_fini(&spec);
	vvu_dev_pci_fini(&dev);
	/* BAR2 must fit the proxy's int-sized, 32-bit BAR sizing */
	o.shm_size = 1ULL << 30;
	TEST_ASSERT(vvu_dev_pci_init(&dev, &o, NULL) == 0);
	vvu_dev_pci_fini(&dev);
	o.shm_size = 2ULL << 30;
	TEST_ASSERT_EQ(vvu_dev_pci_init(&dev, &o, NULL), -E2BIG);
	o.layout = 7;
	o.shm_size = SHM_SIZE;
	TEST_ASSERT_EQ(vvu_dev_pci_init(&dev, &o, NULL), -EINVAL);
}

/* QEMU's probe: read, write all-ones, read back, restore, for BARs 0..6. */
TEST_CASE(bar_sizing_as_the_proxy_does)
{
	static const uint64_t want[7] = { 0x10000, 0, SHM_SIZE, 0, 0, 0, 0 };
	unsigned int i;

	dev_start();
	for (i = 0; i < 7; i++) {
		uint32_t off = PCI_BASE_ADDRESS_0 + 4 * i;
		uint32_t orig = (uint32_t)qp_cfg_rd(&q, off, 4), v;
		uint64_t size;

		qp_cfg_wr(&q, off, 0xffffffff, 4);
		v = (uint32_t)qp_cfg_rd(&q, off, 4);
		size = (uint32_t)(~(v & 0xfffffff0u) + 1);
		qp_cfg_wr(&q, off, orig, 4);
		TEST_ASSERT(size == want[i], "BAR%u: %#x -> size %#llx", i, v,
			    (unsigned long long)size);
		/* memory BARs: the proxy registers them as such */
		TEST_ASSERT((v & PCI_BASE_ADDRESS_SPACE_IO) == 0);
		TEST_ASSERT_EQ(qp_cfg_rd(&q, off, 4) & ~0xfu, 0);
	}
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_ROM_ADDRESS, 4), 0);
	dev_stop();
}

/* ---- BARs ---- */

TEST_CASE(bar0_registers_through_guest_physical_addresses)
{
	dev_start();
	/* no BAR answers before the guest programmed it and enabled memory */
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR0 + VIRTIO_PCI_COMMON_NUMQ, 2), QP_ALL_ONES);
	qp_cfg_wr(&q, PCI_BASE_ADDRESS_0, (uint32_t)QP_BAR0, 4);
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR0 + VIRTIO_PCI_COMMON_NUMQ, 2), QP_ALL_ONES);
	qp_program_bars(&q);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_BASE_ADDRESS_0, 4), QP_BAR0);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_BASE_ADDRESS_2, 4), QP_BAR2 |
		       PCI_BASE_ADDRESS_MEM_PREFETCH);
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR0 + VIRTIO_PCI_COMMON_NUMQ, 2), VVU_NUM_VQS);
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR0 + VVU_BAR0_DEVCFG + VVU_CFG_MAX_VHOST_QUEUES, 4), 4);
	/* a write reaches the model and reads back */
	TEST_ASSERT_EQ(qp_wr(&q, QP_BAR0 + VIRTIO_PCI_COMMON_STATUS, 3, 1), 0);
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR0 + VIRTIO_PCI_COMMON_STATUS, 1), 3);
	TEST_ASSERT_EQ(dev.status, 3);
	/* 8-byte and split accesses */
	qp_wr(&q, QP_BAR0 + VIRTIO_PCI_COMMON_Q_DESCLO, 0x1122334455667788ULL, 8);
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR0 + VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0x1122334455667788ULL);
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR0 + VIRTIO_PCI_COMMON_Q_DESCLO + 2, 4), 0x33445566);
	/* no MSI-X: a vector never maps */
	qp_wr(&q, QP_BAR0 + VIRTIO_PCI_COMMON_MSIX, 0, 2);
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR0 + VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	/* the last bytes of BAR0 are reachable, one more is not */
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR0 + VVU_BAR0_SIZE - 8, 8), 0);
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR0 + VVU_BAR0_SIZE - 4, 8), QP_ALL_ONES);
	/* memory decoding off: nothing answers */
	qp_cfg_wr(&q, PCI_COMMAND, 0, 2);
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR0 + VIRTIO_PCI_COMMON_STATUS, 1), QP_ALL_ONES);
	qp_wr(&q, QP_BAR0 + VIRTIO_PCI_COMMON_STATUS, 0, 1);
	TEST_ASSERT_EQ(dev.status, 3);
	TEST_ASSERT(stats().refused >= 5);
	dev_stop();
}

TEST_CASE(bar2_trapped_access_reaches_frontend_memfd)
{
	struct vhost_user_memory mem = { .nregions = 2 };
	int fds[2] = { qp_memfd("qp-fe0", 2 << 20), qp_memfd("qp-fe1", 2 << 20) };
	uint64_t needed, v = 0x0123456789abcdefULL;
	uint8_t *fe0;

	int fe1;

	TEST_ASSERT(fds[0] >= 0 && fds[1] >= 0);
	/* placing the windows takes the fds: keep a view and a copy */
	fe0 = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	TEST_ASSERT(fe0 != MAP_FAILED);
	fe1 = dup(fds[1]);
	TEST_ASSERT(fe1 >= 0);
	dev_start();
	qp_program_bars(&q);
	/* two windows, the second at BAR2 offset 1 MiB showing file offset 1 MiB */
	mem.regions[0] = (struct vhost_user_mem_region){ 0, 1 << 20, 0x7f0000000000, 0 };
	mem.regions[1] = (struct vhost_user_mem_region){ 1 << 20, 1 << 20, 0x7f0000100000,
							 1 << 20 };
	TEST_ASSERT(vvu_dev_bar2_place(&dev.bar2, SHM_SIZE, &mem, fds, 2, &needed) == 0);
	memcpy(fe0 + 0x1008, &v, 8);
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR2 + 0x1008, 8), v);
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR2 + 0x100e, 2), 0x0123);
	TEST_ASSERT_EQ(qp_wr(&q, QP_BAR2 + 0x2000, 0xa5a5a5a55a5a5a5aULL, 8), 0);
	TEST_ASSERT(memcmp(fe0 + 0x2000, "\x5a\x5a\x5a\x5a\xa5\xa5\xa5\xa5", 8) == 0);
	qp_wr(&q, QP_BAR2 + (1 << 20) + 16, 0xbeef, 2);
	{
		uint16_t got = 0;

		TEST_ASSERT(pread(fe1, &got, 2, (1 << 20) + 16) == 2);
		TEST_ASSERT_EQ(got, 0xbeef);
	}
	/* past the windows: zeros; across BAR2's end: refused */
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR2 + (4 << 20), 4), 0);
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR2 + SHM_SIZE - 4, 8), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR2 + SHM_SIZE, 4), QP_ALL_ONES);
	/* the front-end shrinks its file: an error, never a fault */
	TEST_ASSERT(ftruncate(fe1, 0) == 0);
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR2 + (1 << 20) + 16, 2), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_VENDOR_ID, 2), 0x1AF4);
	munmap(fe0, 2 << 20);
	close(fe1);
	dev_stop();
}

/* ---- guest RAM, rings, the front-end ---- */

TEST_CASE(sysmem_rings_in_guest_ram_and_a_frontend)
{
	struct vhost_user_memory t = { .nregions = 1 };
	struct vhost_user_msg m;
	uint64_t feat = 1ULL << 32, v = 0x5555aaaa5555aaaaULL;
	int fe, fe_mem;
	uint8_t *fm;

	dev_start();
	qp_program_bars(&q);
	qp_ram_up(&q);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_VENDOR_ID, 2), 0x1AF4);	/* after SYNC_SYSMEM */
	TEST_ASSERT_EQ(dev.dma.nr, 2);
	TEST_ASSERT_EQ(stats().sysmem, 1);
	/* the hole between the regions is not guest RAM */
	TEST_ASSERT(vvu_dev_dma_translate(&dev.dma, QP_LOW_SIZE, 1, VVU_DMA_READ) == NULL);
	TEST_ASSERT(vvu_dev_dma_translate(&dev.dma, QP_RXD, 16, VVU_DMA_WRITE) != NULL);
	qp_driver_up(&q);
	fe = qp_fe_connect(vu_path);
	TEST_ASSERT(qp_wait_frontend_up(&q, QP_WAIT_MS), "no FRONTEND_UP");
	/* a front-end message lands in a rxq buffer in guest RAM */
	qp_fe_send(fe, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0);
	TEST_ASSERT(qp_rx_next(&q, QP_WAIT_MS, &m) != NULL, "GET_FEATURES not on rxq");
	TEST_ASSERT_EQ(m.hdr.request, VHOST_USER_GET_FEATURES);
	/* the reply goes out through txq in guest RAM */
	qp_tx_reply(&q, VHOST_USER_GET_FEATURES, &feat, 8);
	{
		struct vhost_user_msg r;
		int64_t end = test_now_ms() + QP_WAIT_MS;
		ssize_t n = -1;

		while (n < 0 && test_now_ms() < end) {
			pump(NULL);
			n = recv(fe, &r, sizeof(r), MSG_DONTWAIT);
		}
		TEST_ASSERT_EQ(n, VHOST_USER_HDR_SIZE + 8);
		TEST_ASSERT_EQ(r.payload.u64, feat);
	}
	/* SET_MEM_TABLE: BAR2's window, read and written by guest-physical address */
	fe_mem = qp_memfd("qp-fe", 2 << 20);
	TEST_ASSERT(fe_mem >= 0);
	fm = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fe_mem, 0);
	TEST_ASSERT(fm != MAP_FAILED);
	memcpy(fm + 0x40, &v, 8);
	t.regions[0] = (struct vhost_user_mem_region){ 0, 2 << 20, 0x7f0000000000, 0 };
	qp_fe_send(fe, VHOST_USER_SET_MEM_TABLE, &t, 8 + 32, &fe_mem, 1);
	TEST_ASSERT(qp_rx_next(&q, QP_WAIT_MS, &m) != NULL, "SET_MEM_TABLE not on rxq");
	TEST_ASSERT_EQ(m.hdr.request, VHOST_USER_SET_MEM_TABLE);
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR2 + 0x40, 8), v);
	qp_wr(&q, QP_BAR2 + 0x48, 0x77, 1);
	TEST_ASSERT_EQ(fm[0x48], 0x77);
	/* a new memory map without the rings' region: rings are unreachable */
	{
		uint64_t gpa = 0, size = QP_LOW_SIZE;
		int64_t off = 0;

		qp_sync(&q, 1, &gpa, &size, &off, &q.ram_fd);
		TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_VENDOR_ID, 2), 0x1AF4);
		TEST_ASSERT_EQ(dev.dma.nr, 1);
		TEST_ASSERT_EQ(stats().sysmem, 2);
	}
	qp_fe_send(fe, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0);
	pump(NULL);
	pump(NULL);
	TEST_ASSERT(qp_rd(&q, QP_BAR0 + VIRTIO_PCI_COMMON_STATUS, 1) &
		    VIRTIO_CONFIG_S_NEEDS_RESET, "ring outside guest RAM: no NEEDS_RESET");
	TEST_ASSERT(qp_wait_eof(&q, fe, QP_WAIT_MS), "front-end not dropped");
	munmap(fm, 2 << 20);
	close(fe_mem);
	close(fe);
	dev_stop();
}

TEST_CASE(device_reset)
{
	int fe;

	dev_start();
	qp_program_bars(&q);
	qp_ram_up(&q);
	qp_driver_up(&q);
	fe = qp_fe_connect(vu_path);
	TEST_ASSERT(qp_wait_frontend_up(&q, QP_WAIT_MS), "no FRONTEND_UP");
	qp_send(&q, VVU_PROXY_DEVICE_RESET, NULL, 0, NULL, 0);
	TEST_ASSERT_EQ(qp_reply(&q), 0);
	/* a PCI function reset: BARs, command, status, the front-end */
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_BASE_ADDRESS_0, 4), 0);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_COMMAND, 2), 0);
	TEST_ASSERT_EQ(dev.status, 0);
	TEST_ASSERT_EQ(dev.dev_status, 0);
	TEST_ASSERT(qp_wait_eof(&q, fe, QP_WAIT_MS), "front-end kept across DEVICE_RESET");
	/* guest RAM is QEMU's memory map, not device state: it stays */
	TEST_ASSERT_EQ(dev.dma.nr, 2);
	/* and the device comes up again */
	qp_program_bars(&q);
	q.rx_avail = q.tx_avail = q.rx_seen = 0;
	memset(q.ram + QP_RXU, 0, 0x1000);
	memset(q.ram + QP_TXU, 0, 0x1000);
	qp_driver_up(&q);
	close(fe);
	fe = qp_fe_connect(vu_path);
	TEST_ASSERT(qp_wait_frontend_up(&q, QP_WAIT_MS), "no FRONTEND_UP after the reset");
	close(fe);
	dev_stop();
}

TEST_CASE(set_irqfd_takes_no_reply_and_no_fd)
{
	int before = test_count_fds();
	int efd[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };

	dev_start();
	before = test_count_fds() - 2;
	qp_send(&q, VVU_PROXY_SET_IRQFD, NULL, 0, efd, 2);
	close(efd[0]);
	close(efd[1]);
	TEST_ASSERT(qp_quiet(&q, 50), "a reply to SET_IRQFD");
	/* the next reply is the config read's */
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_VENDOR_ID, 2), 0x1AF4);
	TEST_ASSERT_EQ(test_count_fds(), before);
	TEST_ASSERT_EQ(dev.intx_fd, -1);
	dev_stop();
}

TEST_CASE(messages_in_pieces_and_pipelined)
{
	struct vvu_dev_proxy_cfg c = { .addr = PCI_DEVICE_ID, .len = 2 };
	struct vvu_dev_proxy_hdr h = { .cmd = VVU_PROXY_CFG_READ, .size = sizeof(c) };
	uint8_t msg[sizeof(h) + sizeof(c)], two[2 * sizeof(msg)];
	uint64_t v;
	size_t i;

	dev_start();
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), &c, sizeof(c));
	/* one byte at a time, the loop running in between: one reply at the end */
	for (i = 0; i < sizeof(msg); i++) {
		TEST_ASSERT(send(q.fd, msg + i, 1, MSG_NOSIGNAL) == 1);
		pump(NULL);
		if (i + 1 < sizeof(msg))
			TEST_ASSERT(!qp_try_reply(&q, 0, &v), "reply before the message ended");
	}
	TEST_ASSERT_EQ(qp_reply(&q), 0x106B);
	/* two messages in one send: two replies, in order */
	memcpy(two, msg, sizeof(msg));
	c.addr = PCI_VENDOR_ID;
	memcpy(two + sizeof(msg), &h, sizeof(h));
	memcpy(two + sizeof(msg) + sizeof(h), &c, sizeof(c));
	TEST_ASSERT(send(q.fd, two, sizeof(two), MSG_NOSIGNAL) == (ssize_t)sizeof(two));
	TEST_ASSERT_EQ(qp_reply(&q), 0x106B);
	TEST_ASSERT_EQ(qp_reply(&q), 0x1AF4);
	TEST_ASSERT_EQ(stats().msgs, 3);
	dev_stop();
}

/* A peer that sends without reading replies stalls only its own stream. */
TEST_CASE(peer_not_reading_replies)
{
	struct vvu_dev_proxy_cfg c = { .addr = PCI_VENDOR_ID, .len = 2 };
	uint8_t msg[VVU_PROXY_HDR_SIZE + sizeof(c)];
	struct vvu_dev_proxy_hdr h = { .cmd = VVU_PROXY_CFG_READ, .size = sizeof(c) };
	int small = 4096, sent = 0, got = 0, i;
	struct vvu_dev_proxy_stats st;

	dev_start();
	/* a small send buffer on the device's end: replies back up soon */
	TEST_ASSERT(setsockopt(dev_end, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) == 0);
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), &c, sizeof(c));
	for (i = 0; i < 20000; i++) {
		if (send(q.fd, msg, sizeof(msg), MSG_NOSIGNAL | MSG_DONTWAIT) != sizeof(msg))
			break;
		sent++;
		if (i % 64 == 0)
			pump(NULL);
	}
	for (i = 0; i < 64; i++)
		pump(NULL);
	st = stats();
	/* the device stopped: a reply waits for room, no request is read */
	TEST_ASSERT(st.stalls > 0, "no reply ever waited");
	TEST_ASSERT(st.replies < (uint64_t)sent, "%d sent, all %llu answered at once?", sent,
		    (unsigned long long)st.replies);
	TEST_ASSERT_EQ(stats().msgs, st.msgs);
	/* now read: every request gets its reply, in order, nothing lost */
	while (got < sent) {
		uint64_t v;

		if (!qp_try_reply(&q, QP_WAIT_MS, &v))
			break;
		TEST_ASSERT_EQ(v, 0x1AF4);
		got++;
	}
	TEST_ASSERT_EQ(got, sent);
	TEST_ASSERT_EQ(stats().replies, (uint64_t)sent);
	TEST_ASSERT(!vvu_dev_proxy_done(&dev, NULL));
	dev_stop();
}

/* ---- the end of the session ---- */

TEST_CASE(qemu_closing_resets_and_ends)
{
	int status = -1, fe;

	dev_start();
	qp_program_bars(&q);
	qp_ram_up(&q);
	qp_driver_up(&q);
	fe = qp_fe_connect(vu_path);
	TEST_ASSERT(qp_wait_frontend_up(&q, QP_WAIT_MS), "no FRONTEND_UP");
	close(q.fd);
	q.fd = -1;
	pump(NULL);
	TEST_ASSERT(vvu_dev_proxy_done(&dev, &status), "session not over");
	TEST_ASSERT_EQ(status, 0);
	TEST_ASSERT_EQ(dev.status, 0);
	TEST_ASSERT_EQ(dev.bar_addr[0], 0);
	TEST_ASSERT_EQ(dev.dma.nr, 0);
	TEST_ASSERT(qp_wait_eof(&q, fe, QP_WAIT_MS), "front-end kept");
	close(fe);
	dev_stop();
}

/* One message that ends the session with status 1; every fd closed. */
static void
framing_error(const void *bytes, size_t len, int nfds)
{
	int fds[VVU_PROXY_MAX_FDS * 2];
	int before, status = -1, i;

	dev_start();
	before = test_count_fds();
	for (i = 0; i < nfds; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	TEST_ASSERT(test_send_fds(q.fd, bytes, len, fds, nfds) == 0);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	pump(NULL);
	TEST_ASSERT(vvu_dev_proxy_done(&dev, &status), "session not ended");
	TEST_ASSERT_EQ(status, 1);
	/* the device's end of the socket went too */
	TEST_ASSERT_EQ(test_count_fds(), before - 1);
	dev_stop();
}

TEST_CASE(framing_errors_end_the_session)
{
	struct vvu_dev_proxy_hdr h = { .cmd = VVU_PROXY_BAR_READ, .size = 193 };
	uint8_t cfg_msg[VVU_PROXY_HDR_SIZE + sizeof(struct vvu_dev_proxy_cfg)] = {0};

	/* larger than any QEMU message */
	framing_error(&h, sizeof(h), 0);
	h.size = UINT64_MAX;
	framing_error(&h, sizeof(h), 0);
	/* commands QEMU never sends to a device */
	h = (struct vvu_dev_proxy_hdr){ .cmd = VVU_PROXY_RET, .size = 8 };
	framing_error(&h, sizeof(h), 0);
	h = (struct vvu_dev_proxy_hdr){ .cmd = 8, .size = 0 };
	framing_error(&h, sizeof(h), 0);
	h = (struct vvu_dev_proxy_hdr){ .cmd = -1, .size = 0 };
	framing_error(&h, sizeof(h), 3);
	/* more fds than a message may carry */
	h = (struct vvu_dev_proxy_hdr){ .cmd = VVU_PROXY_CFG_READ, .size = 12 };
	memcpy(cfg_msg, &h, sizeof(h));
	framing_error(cfg_msg, sizeof(cfg_msg), VVU_PROXY_MAX_FDS + 1);
	framing_error(cfg_msg, sizeof(cfg_msg), VVU_PROXY_MAX_FDS * 2);
}

/* ---- content errors: refused, the session goes on, no fd kept ---- */

TEST_CASE(content_errors_are_refused)
{
	struct vvu_dev_proxy_cfg c = { .addr = 0, .len = 4 };
	uint8_t junk[24] = {0};
	int efd = eventfd(0, EFD_CLOEXEC);
	int before, fds[3] = { efd, efd, efd };
	uint64_t refused;

	TEST_ASSERT(efd >= 0);
	dev_start();
	qp_program_bars(&q);
	before = test_count_fds();
	/* config: lengths, offsets, wrap-around */
	TEST_ASSERT_EQ(qp_cfg_rd(&q, 0, 3), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, 0, 0), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, 0, 8), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, 0, -4), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, 0x100, 1), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, 0xfe, 4), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, 0xfffffffe, 4), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, 0xff, 1), 0);
	TEST_ASSERT_EQ(qp_cfg_wr(&q, 0xfffffffc, 0, 4), QP_ALL_ONES);
	/* BAR: sizes, I/O space, not a bool, no BAR there */
	TEST_ASSERT_EQ(qp_bar_access(&q, false, QP_BAR0, 0, 3, 1), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_bar_access(&q, false, QP_BAR0, 0, 16, 1), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_bar_access(&q, false, QP_BAR0, 0, 0, 1), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_bar_access(&q, false, 0xc000, 0, 2, 0), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_bar_access(&q, false, QP_BAR0, 0, 2, 2), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_rd(&q, 0, 4), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_rd(&q, UINT64_MAX - 3, 8), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR0 - 2, 4), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_wr(&q, QP_BAR0 + VVU_BAR0_SIZE - 2, 0, 4), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_bar_access(&q, true, QP_BAR0 + VIRTIO_PCI_COMMON_STATUS, 3, 1, 0),
		       QP_ALL_ONES);
	TEST_ASSERT_EQ(dev.status, 0);
	/* sizes wrong for the command: a reply where one is due */
	qp_send(&q, VVU_PROXY_CFG_READ, &c, 8, NULL, 0);
	TEST_ASSERT_EQ(qp_reply(&q), QP_ALL_ONES);
	qp_send(&q, VVU_PROXY_BAR_READ, junk, 16, NULL, 0);
	TEST_ASSERT_EQ(qp_reply(&q), QP_ALL_ONES);
	qp_send(&q, VVU_PROXY_DEVICE_RESET, junk, 8, NULL, 0);
	TEST_ASSERT_EQ(qp_reply(&q), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_BASE_ADDRESS_0, 4), QP_BAR0);	/* not reset */
	qp_send(&q, VVU_PROXY_SET_IRQFD, junk, 8, fds, 2);
	TEST_ASSERT(qp_quiet(&q, 20), "a reply to SET_IRQFD");
	/* fds where none belong, or the wrong number */
	qp_send(&q, VVU_PROXY_CFG_READ, &c, sizeof(c), fds, 1);
	TEST_ASSERT_EQ(qp_reply(&q), QP_ALL_ONES);
	qp_send(&q, VVU_PROXY_BAR_WRITE, junk, sizeof(junk), fds, 3);
	TEST_ASSERT_EQ(qp_reply(&q), QP_ALL_ONES);
	qp_send(&q, VVU_PROXY_SET_IRQFD, NULL, 0, fds, 1);
	qp_send(&q, VVU_PROXY_SET_IRQFD, NULL, 0, fds, 3);
	qp_send(&q, VVU_PROXY_SYNC_SYSMEM, junk, sizeof(junk), fds, 1);
	qp_send(&q, VVU_PROXY_DEVICE_RESET, NULL, 0, fds, 1);
	TEST_ASSERT_EQ(qp_reply(&q), QP_ALL_ONES);
	/* the session goes on, and holds no fd of the refused messages */
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_VENDOR_ID, 2), 0x1AF4);
	TEST_ASSERT(!vvu_dev_proxy_done(&dev, NULL));
	TEST_ASSERT_EQ(test_count_fds(), before);
	refused = stats().refused;
	TEST_ASSERT(refused >= 28, "only %llu refusals", (unsigned long long)refused);
	close(efd);
	dev_stop();
}

TEST_CASE(sysmem_regions_are_checked)
{
	int ram = qp_memfd("qp-ram", 1 << 20), efd = eventfd(0, EFD_CLOEXEC);
	uint64_t gpa[2] = { 0, 0x200000 }, size[2] = { 1 << 20, 1 << 20 };
	int64_t off[2] = { 0, 0 };
	int fds[2] = { ram, ram }, before;

	TEST_ASSERT(ram >= 0 && efd >= 0);
	dev_start();
	before = test_count_fds();
	qp_sync(&q, 2, gpa, size, off, fds);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_VENDOR_ID, 2), 0x1AF4);
	TEST_ASSERT_EQ(dev.dma.nr, 2);
#define BAD_SYNC(n, f) do { \
	qp_sync(&q, (n), gpa, size, off, (f)); \
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_VENDOR_ID, 2), 0x1AF4); \
	TEST_ASSERT_EQ(dev.dma.nr, 0); \
	qp_sync(&q, 1, gpa, size, off, fds); \
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_VENDOR_ID, 2), 0x1AF4); \
	TEST_ASSERT_EQ(dev.dma.nr, 1); \
} while (0)
	/* past the file's end */
	off[1] = 4096;
	BAD_SYNC(2, fds);
	/* a negative offset, an offset that wraps */
	off[1] = -4096;
	BAD_SYNC(2, fds);
	off[1] = INT64_MAX;
	BAD_SYNC(2, fds);
	off[1] = 0;
	/* a size of 0, a range that wraps */
	size[1] = 0;
	BAD_SYNC(2, fds);
	size[1] = 1 << 20;
	gpa[1] = UINT64_MAX - 4095;
	BAD_SYNC(2, fds);
	/* overlapping regions */
	gpa[1] = 0x80000;
	BAD_SYNC(2, fds);
	gpa[1] = 0x200000;
	/* not a memory fd */
	fds[1] = efd;
	BAD_SYNC(2, fds);
	fds[1] = ram;
#undef BAD_SYNC
	TEST_ASSERT_EQ(test_count_fds(), before);
	/* mappings go with the session */
	vvu_dev_proxy_stop(&dev);
	vvu_dev_dma_unmap_all(&dev.dma);
	close(ram);
	close(efd);
	dev_stop();
}

/* Guest RAM shrunk under a ring access: windows dropped, the session goes on. */
TEST_CASE(guest_ram_fault_unmaps)
{
	int fe;

	dev_start();
	qp_program_bars(&q);
	qp_ram_up(&q);
	qp_driver_up(&q);
	fe = qp_fe_connect(vu_path);
	TEST_ASSERT(qp_wait_frontend_up(&q, QP_WAIT_MS), "no FRONTEND_UP");
	munmap(q.ram, QP_RAM_SIZE);
	q.ram = NULL;
	TEST_ASSERT(ftruncate(q.ram_fd, 0) == 0);
	qp_fe_send(fe, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0);
	TEST_ASSERT(qp_wait_eof(&q, fe, QP_WAIT_MS), "front-end kept");
	TEST_ASSERT(dev.status & VIRTIO_CONFIG_S_NEEDS_RESET);
	TEST_ASSERT_EQ(dev.dma.nr, 0);
	TEST_ASSERT(vvu_dev_dma_faults() >= 1);
	TEST_ASSERT(!vvu_dev_proxy_done(&dev, NULL));
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR0 + VIRTIO_PCI_COMMON_NUMQ, 2), VVU_NUM_VQS);
	close(fe);
	dev_stop();
}

TEST_CASE(start_refuses_twice)
{
	int sv[2];

	dev_start();
	TEST_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	/* the fd is taken (closed) even when refused */
	TEST_ASSERT_EQ(vvu_dev_proxy_start(&dev, sv[1]), -EINVAL);
	TEST_ASSERT(fcntl(sv[1], F_GETFD) < 0);
	close(sv[0]);
	dev_stop();
}

TEST_MAIN(NULL, NULL,
	TEST_ENTRY(identity_and_chain_without_msix),
	TEST_ENTRY(layouts_differ_only_where_needed),
	TEST_ENTRY(bar_sizing_as_the_proxy_does),
	TEST_ENTRY(bar0_registers_through_guest_physical_addresses),
	TEST_ENTRY(bar2_trapped_access_reaches_frontend_memfd),
	TEST_ENTRY(sysmem_rings_in_guest_ram_and_a_frontend),
	TEST_ENTRY(device_reset),
	TEST_ENTRY(set_irqfd_takes_no_reply_and_no_fd),
	TEST_ENTRY(messages_in_pieces_and_pipelined),
	TEST_ENTRY(peer_not_reading_replies),
	TEST_ENTRY(qemu_closing_resets_and_ends),
	TEST_ENTRY(framing_errors_end_the_session),
	TEST_ENTRY(content_errors_are_refused),
	TEST_ENTRY(sysmem_regions_are_checked),
	TEST_ENTRY(guest_ram_fault_unmaps),
	TEST_ENTRY(start_refuses_twice)
)

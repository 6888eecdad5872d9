/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Protocol test of the VVU device over real sockets: a forked child runs the
 * device (its epoll loop, vfio-user server, vhost-user server socket); the
 * parent is both the driver (lib/vfio_user client helpers, rings in its own
 * memfd) and a scripted front-end on the vhost-user socket.
 *
 * Checks: config space over REGION_READ, the capability walk, MSI-X config
 * interrupt on FRONTEND_UP, a front-end request arriving on rxq, a txq reply
 * reaching the front-end, SET_MEM_TABLE making BAR2 areas appear (and
 * mappable, same bytes as the front-end's memfd), an unknown request
 * disconnecting the front-end with both status bits cleared while the
 * device keeps serving, garbage on the vfio-user socket, and no fd leak in
 * the device process.
 */

#include <poll.h>

#include "test.h"
#include "vvu_test_peer.h"

#define USED_MS		1000	/* the device's answer to a notify or a message */

static struct peer_dev pd = { .pid = -1 };
static struct peer_drv drv;

static int
proto_setup(int argc, char **argv)
{
	/* the device may hang up on us: EPIPE, not death */
	signal(SIGPIPE, SIG_IGN);
	peer_drv_init(&drv);
	if (peer_dev_start(&pd, "proto", 16u << 20) < 0)
		return -1;
	drv.cli = peer_connect(&pd);
	return drv.cli == NULL ? -1 : 0;
}

static void
proto_teardown(void)
{
	peer_drv_down(&drv);
	peer_dev_stop(&pd);
}

TEST_CASE(config_space_over_vfio_user)
{
	struct vfio_user_device_info info;
	uint32_t p, hops = 0;

	TEST_ASSERT(vfio_user_client_get_device_info(drv.cli, &info) == 0);
	TEST_ASSERT(info.flags & VFIO_DEVICE_FLAGS_PCI);
	TEST_ASSERT(info.flags & VFIO_DEVICE_FLAGS_RESET);
	TEST_ASSERT_EQ(peer_rd(&drv, CFG, 0, 4), 0x106B1AF4);
	for (p = (uint32_t)peer_rd(&drv, CFG, PCI_CAPABILITY_LIST, 1); p != 0;
	     p = (uint32_t)peer_rd(&drv, CFG, p + 1, 1))
		TEST_ASSERT(hops++ < 16);
	TEST_ASSERT_EQ(hops, 9);
	TEST_ASSERT_EQ(peer_rd(&drv, BAR0, VVU_BAR0_DEVCFG + 4, 4), 4);
}

TEST_CASE(driver_brings_device_up)
{
	struct vfio_user_region r;

	/* rings and buffers in our own memory, shared by DMA_MAP; MSI-X vectors */
	peer_drv_map(&drv);
	/* BAR2 has no mmappable areas before a front-end */
	TEST_ASSERT(vfio_user_client_get_region_info(drv.cli, 2, &r) == 0);
	TEST_ASSERT_EQ(r.size, 16u << 20);
	TEST_ASSERT_EQ(r.nr_areas, 0);
	vfio_user_region_close(&r);
	peer_drv_features(&drv);
	TEST_ASSERT(peer_rd(&drv, BAR0, VIRTIO_PCI_COMMON_STATUS, 1) &
		    VIRTIO_CONFIG_S_FEATURES_OK);
	peer_drv_queues(&drv, PEER_IOVA + PEER_RXBUF);
	peer_drv_ready(&drv);
	TEST_ASSERT_EQ(peer_rd(&drv, BAR0, VVU_BAR0_DEVCFG, 4), VVU_STATUS_BACKEND_UP);
}

static int fe = -1;
static int fe_mem = -1;
static int fd_baseline;

TEST_CASE(frontend_request_reaches_rxq)
{
	struct vhost_user_msg *got = (void *)(drv.mem + PEER_RXBUF);

	fd_baseline = peer_dev_fds(&pd);
	fe = peer_fe_connect(&pd);
	TEST_ASSERT(peer_wait_efd(drv.irq[0], 2000), "no config interrupt for FRONTEND_UP");
	TEST_ASSERT_EQ(peer_rd(&drv, BAR0, VVU_BAR0_DEVCFG, 4),
		       VVU_STATUS_BACKEND_UP | VVU_STATUS_FRONTEND_UP);
	peer_fe_send(fe, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0);
	TEST_ASSERT(peer_wait_used(&drv, true, 1, USED_MS), "GET_FEATURES not on rxq");
	TEST_ASSERT(peer_wait_efd(drv.irq[1], 2000), "no rxq interrupt");
	TEST_ASSERT_EQ(got->hdr.request, VHOST_USER_GET_FEATURES);
	TEST_ASSERT_EQ(got->hdr.size, 0);
}

TEST_CASE(txq_reply_reaches_frontend)
{
	struct vhost_user_msg *m = (void *)(drv.mem + PEER_RXBUF + 0x8000);
	struct vhost_user_msg got;
	struct pollfd p = { .fd = -1, .events = POLLIN };

	m->hdr.request = VHOST_USER_GET_FEATURES;
	m->hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	m->hdr.size = 8;
	m->payload.u64 = 1ULL << 32;
	peer_post(&drv, false, 0, PEER_IOVA + PEER_RXBUF + 0x8000, 20, 0);
	peer_wr(&drv, BAR0, VVU_BAR0_NOTIFY + 4, 1, 2);
	TEST_ASSERT(peer_wait_used(&drv, false, 1, USED_MS));
	p.fd = fe;
	TEST_ASSERT(poll(&p, 1, 2000) == 1);
	TEST_ASSERT_EQ(recv(fe, &got, sizeof(got), 0), 20);
	TEST_ASSERT_EQ(got.payload.u64, 1ULL << 32);
}

TEST_CASE(mem_table_makes_bar2_areas)
{
	struct vhost_user_memory t = { .nregions = 1 };
	struct vfio_user_region r;
	uint8_t *fe_va, *bar_va;

	fe_mem = memfd_create("vvu-fe", MFD_CLOEXEC);
	TEST_ASSERT(fe_mem >= 0 && ftruncate(fe_mem, 4 << 20) == 0);
	fe_va = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fe_mem, 0);
	TEST_ASSERT(fe_va != MAP_FAILED);
	fe_va[(2 << 20) + 5] = 0x5a;
	t.regions[0] = (struct vhost_user_mem_region){ 0, 2 << 20, 0x7f0000000000, 2 << 20 };
	peer_fe_send(fe, VHOST_USER_SET_MEM_TABLE, &t, 8 + 32, &fe_mem, 1);
	TEST_ASSERT(peer_wait_used(&drv, true, 2, USED_MS), "SET_MEM_TABLE not on rxq");
	TEST_ASSERT(vfio_user_client_get_region_info(drv.cli, 2, &r) == 0);
	TEST_ASSERT_EQ(r.nr_areas, 1);
	TEST_ASSERT_EQ(r.areas[0].offset, 0);
	TEST_ASSERT_EQ(r.areas[0].size, 2 << 20);
	bar_va = mmap(NULL, r.areas[0].size, PROT_READ, MAP_SHARED, r.areas[0].fd,
		      (off_t)r.areas[0].fd_offset);
	TEST_ASSERT(bar_va != MAP_FAILED);
	TEST_ASSERT_EQ(bar_va[5], 0x5a);	/* same pages as the front-end */
	munmap(bar_va, r.areas[0].size);
	munmap(fe_va, 4 << 20);
	vfio_user_region_close(&r);
}

TEST_CASE(vring_messages_in_order)
{
	struct vhost_user_vring_state st = { 0, PEER_QSZ };
	struct vhost_user_msg *m;
	uint64_t u64 = 0;
	int efd = eventfd(0, EFD_CLOEXEC);

	peer_fe_send(fe, VHOST_USER_SET_VRING_NUM, &st, sizeof(st), NULL, 0);
	peer_fe_send(fe, VHOST_USER_SET_VRING_CALL, &u64, 8, &efd, 1);
	close(efd);
	TEST_ASSERT(peer_wait_used(&drv, true, 4, USED_MS));
	m = (void *)(drv.mem + PEER_RXBUF + PEER_RXBUF_LEN * 2);
	TEST_ASSERT_EQ(m->hdr.request, VHOST_USER_SET_VRING_NUM);
	m = (void *)(drv.mem + PEER_RXBUF + PEER_RXBUF_LEN * 3);
	TEST_ASSERT_EQ(m->hdr.request, VHOST_USER_SET_VRING_CALL);
}

/*
 * rxq doorbells only when the device ran out of buffers: it sets
 * VRING_USED_F_NO_NOTIFY while it has some (each doorbell is a register
 * write, a round trip), clears it when a message finds none, and the
 * message waits for the driver's doorbell after the driver posts more.
 */
TEST_CASE(rxq_doorbell_only_when_out_of_buffers)
{
	struct vhost_user_vring_state st = { 0, PEER_QSZ };
	const uint16_t *flags = (const void *)(drv.mem + PEER_RXU);
	uint16_t used = peer_used_idx(&drv, true), i;
	int64_t end;

	TEST_ASSERT(used > 0 && used < PEER_QSZ, "%u rxq entries used", used);
	TEST_ASSERT(__atomic_load_n(flags, __ATOMIC_ACQUIRE) & VRING_USED_F_NO_NOTIFY,
		    "doorbells wanted with %u buffers left", PEER_QSZ - used);
	/* The rest of the buffers, then three messages more (index 1000 + j). */
	for (i = used; i < PEER_QSZ + 3; i++) {
		st.index = i < PEER_QSZ ? 0 : 1000 + (i - PEER_QSZ);
		peer_fe_send(fe, VHOST_USER_SET_VRING_NUM, &st, sizeof(st), NULL, 0);
	}
	TEST_ASSERT(peer_wait_used(&drv, true, PEER_QSZ, USED_MS), "rxq not filled");
	end = test_now_ms() + USED_MS;
	while ((__atomic_load_n(flags, __ATOMIC_ACQUIRE) & VRING_USED_F_NO_NOTIFY) &&
	       test_now_ms() < end)
		test_sleep_ms(1);
	TEST_ASSERT(!(__atomic_load_n(flags, __ATOMIC_ACQUIRE) & VRING_USED_F_NO_NOTIFY),
		    "out of rxq buffers, the device wants no doorbell");
	test_sleep_ms(50);
	TEST_ASSERT_EQ(peer_used_idx(&drv, true), PEER_QSZ);	/* waits for a buffer */
	/* Every buffer back, one doorbell: the waiting message lands. */
	for (i = 0; i < PEER_QSZ; i++)
		peer_post(&drv, true, i, PEER_IOVA + PEER_RXBUF + PEER_RXBUF_LEN * i,
			  PEER_RXBUF_LEN, VRING_DESC_F_WRITE);
	peer_wr(&drv, BAR0, VVU_BAR0_NOTIFY, 0, 2);
	TEST_ASSERT(peer_wait_used(&drv, true, PEER_QSZ + 3, USED_MS),
		    "the waiting messages did not land after the doorbell");
	/* the reader paused with one waiting, and went on in order after it */
	for (i = 0; i < 3; i++) {
		const struct vhost_user_msg *m =
			(const void *)(drv.mem + PEER_RXBUF + PEER_RXBUF_LEN * i);

		TEST_ASSERT(m->hdr.request == VHOST_USER_SET_VRING_NUM &&
			    m->payload.state.index == 1000u + i,
			    "message %u after the doorbell: request %u index %u", i,
			    m->hdr.request, m->payload.state.index);
	}
	TEST_ASSERT(__atomic_load_n(flags, __ATOMIC_ACQUIRE) & VRING_USED_F_NO_NOTIFY,
		    "doorbells still wanted with buffers at hand");
}

TEST_CASE(kick_raises_driver_aux_vector)
{
	uint64_t u64 = 1, one = 1;
	int kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int vec = eventfd(0, EFD_NONBLOCK);

	/* queue 1's kick -> vector 3 through the cfg_type 7 registers */
	TEST_ASSERT(vfio_user_client_set_irqs(drv.cli, VFIO_PCI_MSIX_IRQ_INDEX,
					      VFIO_IRQ_SET_DATA_EVENTFD |
					      VFIO_IRQ_SET_ACTION_TRIGGER, 3, 1, &vec, NULL) == 0);
	peer_wr(&drv, BAR0, VVU_BAR0_MSIX_TABLE + 16 * 3 + 12, 0, 4);
	peer_wr(&drv, BAR0, VVU_BAR0_DRV_AUX, 1, 2);
	peer_wr(&drv, BAR0, VVU_BAR0_DRV_AUX + 2, 3, 2);
	peer_fe_send(fe, VHOST_USER_SET_VRING_KICK, &u64, 8, &kick, 1);
	TEST_ASSERT(peer_wait_used(&drv, true, 5, USED_MS));
	TEST_ASSERT(write(kick, &one, sizeof(one)) == sizeof(one));
	TEST_ASSERT(peer_wait_efd(vec, 2000), "kick did not reach the driver");
	close(kick);
	close(vec);
	/* de-assign vector 3 again, so the fd count below compares like with like */
	vec = -1;
	TEST_ASSERT(vfio_user_client_set_irqs(drv.cli, VFIO_PCI_MSIX_IRQ_INDEX,
					      VFIO_IRQ_SET_DATA_EVENTFD |
					      VFIO_IRQ_SET_ACTION_TRIGGER, 3, 1, &vec, NULL) == 0);
}

TEST_CASE(unknown_request_disconnects_frontend)
{
	char b;
	struct pollfd p = { .fd = fe, .events = POLLIN };

	/* drain any config interrupt left */
	peer_wait_efd(drv.irq[0], 10);
	peer_fe_send(fe, 99, NULL, 0, NULL, 0);
	TEST_ASSERT(poll(&p, 1, 2000) == 1);
	TEST_ASSERT_EQ(recv(fe, &b, 1, 0), 0);	/* EOF: the device hung up */
	TEST_ASSERT(peer_wait_efd(drv.irq[0], 2000), "no config interrupt on disconnect");
	TEST_ASSERT_EQ(peer_rd(&drv, BAR0, VVU_BAR0_DEVCFG, 4), 0);
	close(fe);
	fe = -1;
	close(fe_mem);
	/* the device still serves, and has given back every front-end fd */
	TEST_ASSERT_EQ(peer_rd(&drv, BAR0, VVU_BAR0_DEVCFG + 4, 4), 4);
	TEST_ASSERT_EQ(peer_dev_fds(&pd), fd_baseline);
}

TEST_CASE(garbage_on_second_vfio_user_connection)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char junk[64];
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(junk, 0xff, sizeof(junk));
	strcpy(sa.sun_path, pd.vfu_path);
	TEST_ASSERT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	(void)!write(fd, junk, sizeof(junk));
	usleep(50000);
	close(fd);
	/* a second client is refused; the first one still works */
	TEST_ASSERT_EQ(peer_rd(&drv, CFG, 0, 2), 0x1AF4);
}

TEST_CASE(bad_region_access_is_refused)
{
	uint8_t b[8];

	TEST_ASSERT(vfio_user_client_region_read(drv.cli, 0, 0x10000, b, 4) < 0);
	TEST_ASSERT(vfio_user_client_region_read(drv.cli, 7, 0xfe, b, 8) < 0);
	TEST_ASSERT(vfio_user_client_dma_map(drv.cli, VFIO_USER_F_DMA_REGION_READ, PEER_IOVA,
					     4096, drv.irq[0], 0) < 0);
	TEST_ASSERT_EQ(peer_rd(&drv, CFG, 0, 2), 0x1AF4);
}

/* A device reset: virtio status and both VVU status bits back to 0. */
TEST_CASE(reset_clears_device_status)
{
	TEST_ASSERT(vfio_user_client_reset(drv.cli) == 0);
	TEST_ASSERT_EQ(peer_rd(&drv, BAR0, VIRTIO_PCI_COMMON_STATUS, 1), 0);
	TEST_ASSERT_EQ(peer_rd(&drv, BAR0, VVU_BAR0_DEVCFG, 4), 0);
}

TEST_MAIN(proto_setup, proto_teardown,
	TEST_ENTRY(config_space_over_vfio_user),
	TEST_ENTRY(driver_brings_device_up),
	TEST_ENTRY(frontend_request_reaches_rxq),
	TEST_ENTRY(txq_reply_reaches_frontend),
	TEST_ENTRY(mem_table_makes_bar2_areas),
	TEST_ENTRY(vring_messages_in_order),
	TEST_ENTRY(kick_raises_driver_aux_vector),
	TEST_ENTRY(rxq_doorbell_only_when_out_of_buffers),
	TEST_ENTRY(unknown_request_disconnects_frontend),
	TEST_ENTRY(garbage_on_second_vfio_user_connection),
	TEST_ENTRY(bad_region_access_is_refused),
	TEST_ENTRY(reset_clears_device_status))

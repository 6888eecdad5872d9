/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hostile peers against the running device process (a forked child running
 * the real loop, vfio-user server and vhost-user socket).
 *
 * For each misbehaviour the test checks what the issue asks: the peer is
 * refused or disconnected, the device process is still alive and serves a
 * new connection, and its fd count (/proc/<pid>/fd) returns to the baseline
 * taken when no peer was connected.
 *
 * Driver side: malformed vfio-user framing (short, oversized), content
 * errors (argsz, fd counts, region ranges), rings outside the DMA mapping,
 * DMA memory truncated under the device's mapping (SIGBUS), and a client
 * that stalls inside a message. Front-end side: bad sizes, fds on a message
 * that takes none, SET_MEM_TABLE with the wrong fd count, too many fds.
 */

#include "test.h"
#include "vvu_test_peer.h"

static struct peer_dev pd = { .pid = -1 };
static int baseline;

static int
hostile_setup(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (peer_dev_start(&pd, "hostile", 16u << 20) < 0)
		return -1;
	baseline = peer_dev_fds(&pd);
	return baseline > 0 ? 0 : -1;
}

static void
hostile_teardown(void)
{
	peer_dev_stop(&pd);
}

/* The device survived, serves a new driver, and leaks nothing. */
static void
check_device_recovered(void)
{
	struct peer_drv d;

	TEST_ASSERT(peer_dev_alive(&pd), "the device process died");
	TEST_ASSERT(peer_dev_fds_back_to(&pd, baseline, 3000),
		    "device fds %d, baseline %d", peer_dev_fds(&pd), baseline);
	d.cli = peer_connect(&pd);
	TEST_ASSERT(d.cli != NULL, "no new vfio-user connection after the hostile peer");
	TEST_ASSERT_EQ(peer_rd(&d, CFG, 0, 4), 0x106B1AF4);
	vfio_user_client_destroy(d.cli);
	TEST_ASSERT(peer_dev_fds_back_to(&pd, baseline, 3000),
		    "device fds %d, baseline %d", peer_dev_fds(&pd), baseline);
}

/* A raw request on a negotiated connection (the header as the test wants). */
static void
send_raw_vfu(struct vfio_user_client *c, uint16_t cmd, uint32_t msg_size,
	     const void *payload, size_t len, const int *fds, int nfds)
{
	uint8_t buf[256];
	struct vfio_user_header h = { .msg_id = 0x77, .command = cmd, .msg_size = msg_size };

	TEST_ASSERT(len + sizeof(h) <= sizeof(buf));
	memcpy(buf, &h, sizeof(h));
	if (len > 0)
		memcpy(buf + sizeof(h), payload, len);
	peer_fe_send_raw(vfio_user_client_fd(c), buf, sizeof(h) + len, fds, nfds);
}

/* Read one reply header from the raw socket; its error field or -1. */
static int
recv_reply_error(struct vfio_user_client *c)
{
	struct vfio_user_msg m;
	int err;

	if (vfio_user_recv_msg(vfio_user_client_fd(c), &m, 1u << 16, 4, 2000) < 0)
		return -1;
	err = (m.hdr.flags & VFIO_USER_F_ERROR) ? (int)m.hdr.error : 0;
	vfio_user_msg_release(&m);
	return err;
}

TEST_CASE(vfio_user_short_message_drops_client)
{
	struct vfio_user_client *c = peer_connect(&pd);

	TEST_ASSERT(c != NULL);
	/* msg_size smaller than the header itself: the stream is garbage */
	send_raw_vfu(c, VFIO_USER_DEVICE_GET_INFO, 8, NULL, 0, NULL, 0);
	TEST_ASSERT(peer_wait_eof(vfio_user_client_fd(c), 2000), "client not dropped");
	vfio_user_client_destroy(c);
	check_device_recovered();
}

TEST_CASE(vfio_user_oversized_message_drops_client)
{
	struct vfio_user_client *c = peer_connect(&pd);

	TEST_ASSERT(c != NULL);
	send_raw_vfu(c, VFIO_USER_REGION_WRITE, 256u << 20, NULL, 0, NULL, 0);
	TEST_ASSERT(peer_wait_eof(vfio_user_client_fd(c), 2000), "client not dropped");
	vfio_user_client_destroy(c);
	check_device_recovered();
}

TEST_CASE(vfio_user_content_errors_refused)
{
	struct vfio_user_client *c = peer_connect(&pd);
	struct vfio_user_device_info info = { .argsz = 8 };
	struct vfio_user_region_access ra = { .offset = 0, .region = CFG, .count = 4 };
	struct vfio_user_dma_map map = {
		.argsz = sizeof(map), .flags = VFIO_USER_F_DMA_REGION_READ,
		.addr = PEER_IOVA, .size = 4096,
	};
	int efd = eventfd(0, EFD_CLOEXEC);
	int many[20];
	int i;

	TEST_ASSERT(c != NULL && efd >= 0);
	/* wrong argsz: error reply, the connection stays */
	send_raw_vfu(c, VFIO_USER_DEVICE_GET_INFO, 16 + sizeof(info), &info, sizeof(info),
		     NULL, 0);
	TEST_ASSERT_EQ(recv_reply_error(c), EINVAL);
	/* an fd on a request that takes none: refused, the fd closed */
	send_raw_vfu(c, VFIO_USER_REGION_READ, 16 + sizeof(ra), &ra, sizeof(ra), &efd, 1);
	TEST_ASSERT_EQ(recv_reply_error(c), EINVAL);
	/* DMA_MAP without its fd */
	send_raw_vfu(c, VFIO_USER_DMA_MAP, 16 + sizeof(map), &map, sizeof(map), NULL, 0);
	TEST_ASSERT(recv_reply_error(c) > 0);
	/* DMA_MAP of a non-mappable fd (an eventfd) */
	send_raw_vfu(c, VFIO_USER_DMA_MAP, 16 + sizeof(map), &map, sizeof(map), &efd, 1);
	TEST_ASSERT(recv_reply_error(c) > 0);
	/* region accesses out of range */
	ra = (struct vfio_user_region_access){ .offset = 0xfffc, .region = BAR0, .count = 8 };
	send_raw_vfu(c, VFIO_USER_REGION_READ, 16 + sizeof(ra), &ra, sizeof(ra), NULL, 0);
	TEST_ASSERT_EQ(recv_reply_error(c), EINVAL);
	ra = (struct vfio_user_region_access){ .offset = 0x100, .region = CFG, .count = 1 };
	send_raw_vfu(c, VFIO_USER_REGION_READ, 16 + sizeof(ra), &ra, sizeof(ra), NULL, 0);
	TEST_ASSERT_EQ(recv_reply_error(c), EINVAL);
	ra = (struct vfio_user_region_access){ .offset = 0, .region = 42, .count = 4 };
	send_raw_vfu(c, VFIO_USER_REGION_READ, 16 + sizeof(ra), &ra, sizeof(ra), NULL, 0);
	TEST_ASSERT(recv_reply_error(c) > 0);
	/* the same client is still served */
	{
		struct peer_drv d = { .cli = c };

		TEST_ASSERT_EQ(peer_rd(&d, CFG, 0, 2), 0x1AF4);
	}
	/* more fds than the advertised max_msg_fds: framing error, dropped */
	for (i = 0; i < 20; i++)
		many[i] = efd;
	send_raw_vfu(c, VFIO_USER_REGION_READ, 16 + sizeof(ra), &ra, sizeof(ra), many, 20);
	TEST_ASSERT(peer_wait_eof(vfio_user_client_fd(c), 2000), "client not dropped");
	close(efd);
	vfio_user_client_destroy(c);
	check_device_recovered();
}

TEST_CASE(rings_outside_dma_mapping_need_reset)
{
	struct peer_drv d;
	int fe;

	/* rxq buffers 1 GiB away from the only DMA window */
	peer_drv_up_at(&d, &pd, PEER_IOVA + (1ULL << 30));
	fe = peer_fe_connect(&pd);
	TEST_ASSERT(peer_wait_efd(d.irq[0], 2000), "no FRONTEND_UP interrupt");
	peer_fe_send(fe, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0);
	TEST_ASSERT(peer_wait_eof(fe, 2000), "front-end not dropped");
	TEST_ASSERT(peer_rd(&d, BAR0, VIRTIO_PCI_COMMON_STATUS, 1) &
		    VIRTIO_CONFIG_S_NEEDS_RESET, "NEEDS_RESET not set");
	TEST_ASSERT(peer_wait_efd(d.irq[0], 2000), "no config interrupt for NEEDS_RESET");
	close(fe);
	peer_drv_down(&d);
	check_device_recovered();
}

TEST_CASE(truncated_dma_memory_on_frontend_path)
{
	struct peer_drv d;
	int fe;

	peer_drv_up(&d, &pd);
	fe = peer_fe_connect(&pd);
	TEST_ASSERT(peer_wait_efd(d.irq[0], 2000), "no FRONTEND_UP interrupt");
	/* the driver shrinks the memory the device has mapped for DMA */
	munmap(d.mem, PEER_MEM_SIZE);
	d.mem = NULL;
	TEST_ASSERT(ftruncate(d.mem_fd, 0) == 0);
	/* the next rxq access (from the front-end's message) faults */
	peer_fe_send(fe, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0);
	TEST_ASSERT(peer_wait_eof(vfio_user_client_fd(d.cli), 3000), "driver not dropped");
	TEST_ASSERT(peer_wait_eof(fe, 2000), "front-end not dropped");
	close(fe);
	peer_drv_down(&d);
	check_device_recovered();
}

TEST_CASE(truncated_dma_memory_on_driver_request)
{
	struct peer_drv d;
	uint8_t b[2];
	int ret;

	peer_drv_up(&d, &pd);
	/* post a txq buffer, then pull the memory away and notify txq */
	peer_post(&d, false, 0, PEER_IOVA + PEER_TXBUF, 64, 0);
	munmap(d.mem, PEER_MEM_SIZE);
	d.mem = NULL;
	TEST_ASSERT(ftruncate(d.mem_fd, 0) == 0);
	vvu_put16(b, VVU_TXQ);
	/* the fault happens inside the request: reply first, then the drop */
	ret = vfio_user_client_region_write(d.cli, BAR0,
					    VVU_BAR0_NOTIFY + VVU_TXQ * VVU_NOTIFY_MULT, b, 2);
	TEST_ASSERT(ret == 0 || ret == -ENOTCONN || ret == -ECONNRESET || ret == -EPIPE,
		    "notify: %d", ret);
	TEST_ASSERT(peer_wait_eof(vfio_user_client_fd(d.cli), 3000), "driver not dropped");
	peer_drv_down(&d);
	check_device_recovered();
}

TEST_CASE(bar2_access_after_frontend_truncates)
{
	struct vhost_user_memory t = { .nregions = 1 };
	struct peer_drv d;
	struct vhost_user_msg m;
	uint8_t b[8];
	int fe, mfd;

	/* BAR2 is served with pread/pwrite on the window fds: a short file
	 * becomes an error reply, never a fault in the device */
	peer_drv_up(&d, &pd);
	fe = peer_fe_connect(&pd);
	mfd = memfd_create("vvu-fe", MFD_CLOEXEC);
	TEST_ASSERT(mfd >= 0 && ftruncate(mfd, 2 << 20) == 0);
	t.regions[0] = (struct vhost_user_mem_region){ 0, 2 << 20, 0x7f0000000000, 0 };
	peer_fe_send(fe, VHOST_USER_SET_MEM_TABLE, &t, 8 + 32, &mfd, 1);
	TEST_ASSERT(peer_rx_next(&d, 2000, &m) != NULL &&
		    m.hdr.request == VHOST_USER_SET_MEM_TABLE);
	TEST_ASSERT(vfio_user_client_region_read(d.cli, VFIO_PCI_BAR2_REGION_INDEX, 4096, b,
						 8) == 0);
	TEST_ASSERT(ftruncate(mfd, 0) == 0);
	TEST_ASSERT(vfio_user_client_region_read(d.cli, VFIO_PCI_BAR2_REGION_INDEX, 4096, b,
						 8) < 0);
	TEST_ASSERT_EQ(peer_rd(&d, CFG, 0, 2), 0x1AF4);
	close(mfd);
	close(fe);
	peer_drv_down(&d);
	check_device_recovered();
}

/* The driver stops in the middle of a message (header or payload). */
static void
stall_driver(bool in_payload)
{
	struct vfio_user_header h = {
		.msg_id = 1, .command = VFIO_USER_REGION_READ, .msg_size = 16 + 16,
	};
	struct peer_drv d;
	int64_t t0, t_drv, t_fe;
	int fe;

	peer_drv_up(&d, &pd);
	fe = peer_fe_connect(&pd);
	TEST_ASSERT(peer_wait_efd(d.irq[0], 2000), "no FRONTEND_UP interrupt");
	t0 = test_now_ms();
	peer_fe_send_raw(vfio_user_client_fd(d.cli), &h, in_payload ? sizeof(h) : 8, NULL, 0);
	/* the front-end keeps talking meanwhile */
	peer_fe_send(fe, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0);
	TEST_ASSERT(peer_wait_eof(vfio_user_client_fd(d.cli), 3000), "stalled driver kept");
	t_drv = test_now_ms() - t0;
	/* the driver's drop resets the device: the front-end gets a clean EOF */
	TEST_ASSERT(peer_wait_eof(fe, 3000), "front-end not released");
	t_fe = test_now_ms() - t0;
	/* the library default would hold the loop for 5 s */
	TEST_ASSERT(t_drv < 1500, "stalled driver dropped after %lld ms", (long long)t_drv);
	TEST_ASSERT(t_fe < 1500, "front-end waited %lld ms", (long long)t_fe);
	close(fe);
	peer_drv_down(&d);
	check_device_recovered();
}

TEST_CASE(stalled_driver_in_header_dropped_quickly)
{
	stall_driver(false);
}

TEST_CASE(stalled_driver_in_payload_dropped_quickly)
{
	stall_driver(true);
}

/*
 * A driver that writes a request slowly (here: half a header, a pause,
 * the rest) never holds the device's loop: a front-end message sent in
 * the pause is forwarded at once, and the request is served when whole.
 */
TEST_CASE(slow_driver_request_does_not_stall_frontend)
{
	struct vfio_user_region_access acc = {
		.offset = 0, .region = VFIO_PCI_CONFIG_REGION_INDEX, .count = 2,
	};
	struct vfio_user_header h = {
		.msg_id = 0x7001, .command = VFIO_USER_REGION_READ,
		.msg_size = VFIO_USER_HDR_SIZE + sizeof(acc),
	};
	struct vfio_user_msg reply;
	struct vhost_user_msg m;
	struct peer_drv d;
	uint16_t seen;
	int64_t t0, t;
	int fe, cfd;

	peer_drv_up(&d, &pd);
	cfd = vfio_user_client_fd(d.cli);
	fe = peer_fe_connect(&pd);
	TEST_ASSERT(peer_wait_efd(d.irq[0], 2000), "no FRONTEND_UP interrupt");
	seen = peer_used_idx(&d, true);
	peer_fe_send_raw(cfd, &h, 8, NULL, 0);
	t0 = test_now_ms();
	peer_fe_send(fe, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0);
	while (peer_used_idx(&d, true) == seen && test_now_ms() < t0 + 1000)
		usleep(1000);
	t = test_now_ms() - t0;
	TEST_ASSERT(peer_used_idx(&d, true) != seen,
		    "front-end message not forwarded while the driver is mid-request");
	/* a reader that waits for the rest of the request would take 200 ms */
	TEST_ASSERT(t < 150, "front-end message forwarded after %lld ms", (long long)t);
	peer_fe_send_raw(cfd, (const char *)&h + 8, sizeof(h) - 8, NULL, 0);
	peer_fe_send_raw(cfd, &acc, sizeof(acc), NULL, 0);
	TEST_ASSERT_EQ(vfio_user_recv_msg(cfd, &reply, 4096, 0, 2000), 0);
	TEST_ASSERT_EQ(reply.hdr.msg_id, 0x7001);
	TEST_ASSERT_EQ(reply.hdr.flags & VFIO_USER_F_ERROR, 0);
	TEST_ASSERT(reply.payload_len == sizeof(acc) + 2, "reply of %zu bytes",
		    reply.payload_len);
	TEST_ASSERT_EQ(vvu_get16((const uint8_t *)reply.payload + sizeof(acc)), 0x1AF4);
	vfio_user_msg_release(&reply);
	TEST_ASSERT(peer_rx_next(&d, 2000, &m) != NULL &&
		    m.hdr.request == VHOST_USER_GET_FEATURES, "GET_FEATURES not on rxq");
	close(fe);
	peer_drv_down(&d);
	check_device_recovered();
}

/*
 * One hostile front-end message: the front-end is dropped (EOF, status
 * bits cleared with a config interrupt), then a well-behaved front-end is
 * served by the same driver once it sets BACKEND_UP again.
 */
static void
hostile_frontend(const void *bytes, size_t len, const int *fds, int nfds)
{
	struct peer_drv d;
	struct vhost_user_msg m;
	int fe;

	peer_drv_up(&d, &pd);
	fe = peer_fe_connect(&pd);
	TEST_ASSERT(peer_wait_efd(d.irq[0], 2000), "no FRONTEND_UP interrupt");
	peer_fe_send_raw(fe, bytes, len, fds, nfds);
	TEST_ASSERT(peer_wait_eof(fe, 2000), "hostile front-end not dropped");
	close(fe);
	TEST_ASSERT(peer_wait_efd(d.irq[0], 2000), "no config interrupt on the drop");
	TEST_ASSERT_EQ(peer_rd(&d, BAR0, VVU_BAR0_DEVCFG, 4), 0);
	TEST_ASSERT(peer_rx_next(&d, 50, &m) == NULL, "hostile message forwarded");
	/* the device keeps serving: a new front-end gets through */
	peer_wr(&d, BAR0, VVU_BAR0_DEVCFG, VVU_STATUS_BACKEND_UP, 4);
	fe = peer_fe_connect(&pd);
	TEST_ASSERT(peer_wait_efd(d.irq[0], 2000), "no FRONTEND_UP for the new front-end");
	peer_fe_send(fe, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0);
	TEST_ASSERT(peer_rx_next(&d, 2000, &m) != NULL, "new front-end not served");
	TEST_ASSERT_EQ(m.hdr.request, VHOST_USER_GET_FEATURES);
	close(fe);
	peer_drv_down(&d);
	check_device_recovered();
}

TEST_CASE(frontend_oversized_payload)
{
	struct vhost_user_hdr h = { VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION, 0x10000 };

	hostile_frontend(&h, sizeof(h), NULL, 0);
}

TEST_CASE(frontend_wrong_size_for_request)
{
	struct vhost_user_msg m = { .hdr = { VHOST_USER_SET_VRING_NUM, VHOST_USER_VERSION, 4 } };

	hostile_frontend(&m, VHOST_USER_HDR_SIZE + 4, NULL, 0);
}

TEST_CASE(frontend_unknown_request_with_fd)
{
	struct vhost_user_msg m = { .hdr = { 200, VHOST_USER_VERSION, 8 } };
	int efd = eventfd(0, EFD_CLOEXEC);

	hostile_frontend(&m, VHOST_USER_HDR_SIZE + 8, &efd, 1);
	close(efd);
}

TEST_CASE(frontend_fd_on_fdless_request)
{
	struct vhost_user_msg m = { .hdr = { VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 0 } };
	int efd = eventfd(0, EFD_CLOEXEC);

	hostile_frontend(&m, VHOST_USER_HDR_SIZE, &efd, 1);
	close(efd);
}

/* SET_MEM_TABLE of nregions regions of 2 MiB carrying nfds memfds. */
static void
mem_table_with_fds(uint32_t nregions, int nfds)
{
	struct vhost_user_msg m = {
		.hdr = { VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION,
			 8 + 32 * nregions },
	};
	int fds[VHOST_USER_MAX_FDS + 4];
	uint32_t i;

	TEST_ASSERT(nfds <= (int)(sizeof(fds) / sizeof(fds[0])));
	m.payload.memory.nregions = nregions;
	for (i = 0; i < nregions; i++)
		m.payload.memory.regions[i] = (struct vhost_user_mem_region){
			(uint64_t)i << 21, 2 << 20, 0x7f0000000000 + ((uint64_t)i << 21), 0 };
	for (i = 0; i < (uint32_t)nfds; i++) {
		fds[i] = memfd_create("vvu-fe", MFD_CLOEXEC);
		TEST_ASSERT(fds[i] >= 0 && ftruncate(fds[i], 2 << 20) == 0);
	}
	hostile_frontend(&m, VHOST_USER_HDR_SIZE + m.hdr.size, fds, nfds);
	for (i = 0; i < (uint32_t)nfds; i++)
		close(fds[i]);
}

TEST_CASE(frontend_mem_table_missing_fd)
{
	mem_table_with_fds(2, 1);
}

TEST_CASE(frontend_mem_table_extra_fds)
{
	mem_table_with_fds(1, 3);
}

TEST_CASE(frontend_too_many_fds)
{
	mem_table_with_fds(1, VHOST_USER_MAX_FDS + 2);
}

TEST_CASE(frontend_reply_flag_on_request)
{
	struct vhost_user_msg m = {
		.hdr = { VHOST_USER_GET_FEATURES, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK, 0 },
	};

	hostile_frontend(&m, VHOST_USER_HDR_SIZE, NULL, 0);
}

TEST_MAIN(hostile_setup, hostile_teardown,
	TEST_ENTRY(vfio_user_short_message_drops_client),
	TEST_ENTRY(vfio_user_oversized_message_drops_client),
	TEST_ENTRY(vfio_user_content_errors_refused),
	TEST_ENTRY(rings_outside_dma_mapping_need_reset),
	TEST_ENTRY(truncated_dma_memory_on_frontend_path),
	TEST_ENTRY(truncated_dma_memory_on_driver_request),
	TEST_ENTRY(bar2_access_after_frontend_truncates),
	TEST_ENTRY(stalled_driver_in_header_dropped_quickly),
	TEST_ENTRY(stalled_driver_in_payload_dropped_quickly),
	TEST_ENTRY(slow_driver_request_does_not_stall_frontend),
	TEST_ENTRY(frontend_oversized_payload),
	TEST_ENTRY(frontend_wrong_size_for_request),
	TEST_ENTRY(frontend_unknown_request_with_fd),
	TEST_ENTRY(frontend_fd_on_fdless_request),
	TEST_ENTRY(frontend_mem_table_missing_fd),
	TEST_ENTRY(frontend_mem_table_extra_fds),
	TEST_ENTRY(frontend_too_many_fds),
	TEST_ENTRY(frontend_reply_flag_on_request))

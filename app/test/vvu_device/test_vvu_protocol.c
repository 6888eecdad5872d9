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

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "test.h"
#include "vvu_device.h"
#include "vvu_dev_server.h"

#define MEM_IOVA	0x10000000ULL
#define MEM_SIZE	(1u << 20)
#define QSZ		8
#define RXD	0x0000
#define RXA	0x1000
#define RXU	0x2000
#define TXD	0x3000
#define TXA	0x4000
#define TXU	0x5000
#define BUFS	0x10000

static char dir[64];
static char vfu_path[128];
static char vu_path[128];
static pid_t child = -1;
static struct vfio_user_client *cli;
static uint8_t *mem;
static int irq_fds[3] = { -1, -1, -1 };

static void
run_device(void)
{
	static struct vvu_device dev;
	struct vvu_dev_options o = {
		.vfio_user_path = vfu_path, .vhost_user_path = vu_path,
		.shm_size = 16u << 20, .num_queues = 4, .virtio_id = 43, .verbose = -1,
	};
	struct vvu_dev_loop *loop = vvu_dev_loop_create();

	/* never outlive the test, whatever happens to it */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (loop == NULL || vvu_dev_init(&dev, &o, loop) < 0 || vvu_dev_server_start(&dev) < 0)
		_exit(3);
	for (;;)
		vvu_dev_loop_run_once(loop, -1);
}

static int
count_child_fds(void)
{
	char path[64];
	DIR *d;
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)child);
	d = opendir(path);
	while (d != NULL && (e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	if (d != NULL)
		closedir(d);
	return n;
}

static uint64_t
bar0_rd(uint64_t off, uint32_t len)
{
	uint8_t b[8] = {0};
	int ret = vfio_user_client_region_read(cli, VFIO_PCI_BAR0_REGION_INDEX, off, b, len);

	TEST_ASSERT(ret == 0, "bar0 read %#llx: %d", (unsigned long long)off, ret);
	return vvu_get_n(b, len);
}

static void
bar0_wr(uint64_t off, uint64_t v, uint32_t len)
{
	uint8_t b[8];
	int ret;

	vvu_put64(b, v);
	ret = vfio_user_client_region_write(cli, VFIO_PCI_BAR0_REGION_INDEX, off, b, len);
	TEST_ASSERT(ret == 0, "bar0 write %#llx: %d", (unsigned long long)off, ret);
}

static uint64_t
cfg_rd(uint64_t off, uint32_t len)
{
	uint8_t b[8] = {0};

	TEST_ASSERT(vfio_user_client_region_read(cli, VFIO_PCI_CONFIG_REGION_INDEX, off,
						 b, len) == 0);
	return vvu_get_n(b, len);
}

static void
cfg_wr(uint64_t off, uint64_t v, uint32_t len)
{
	uint8_t b[8];

	vvu_put64(b, v);
	TEST_ASSERT(vfio_user_client_region_write(cli, VFIO_PCI_CONFIG_REGION_INDEX, off,
						  b, len) == 0);
}

static bool
wait_efd(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, ms) != 1)
		return false;
	return read(fd, &v, sizeof(v)) == sizeof(v);
}

static uint16_t
used_idx(uint32_t u)
{
	return __atomic_load_n((uint16_t *)(void *)(mem + u + 2), __ATOMIC_ACQUIRE);
}

static void
post(uint32_t d, uint32_t a, uint16_t id, uint64_t buf, uint32_t len, uint16_t flags)
{
	struct vring_desc *desc = (void *)(mem + d);
	uint16_t *avail = (void *)(mem + a);

	desc[id] = (struct vring_desc){ MEM_IOVA + buf, len, flags, 0 };
	avail[2 + avail[1] % QSZ] = id;
	__atomic_store_n(&avail[1], (uint16_t)(avail[1] + 1), __ATOMIC_RELEASE);
}

static bool
wait_used(uint32_t u, uint16_t want)
{
	int i;

	for (i = 0; i < 200; i++) {
		if (used_idx(u) == want)
			return true;
		usleep(5000);
	}
	return false;
}

static int
proto_setup(int argc, char **argv)
{
	int i;

	/* the device may hang up on us: EPIPE, not death */
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/vvu-proto-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(vfu_path, sizeof(vfu_path), "%s/vfu.sock", dir);
	snprintf(vu_path, sizeof(vu_path), "%s/vu.sock", dir);
	child = fork();
	if (child < 0)
		return -1;
	if (child == 0)
		run_device();
	for (i = 0; i < 200 && cli == NULL; i++) {
		if (access(vfu_path, F_OK) == 0)
			cli = vfio_user_client_connect(vfu_path, NULL);
		if (cli == NULL)
			usleep(10000);
	}
	return cli == NULL ? -1 : 0;
}

static void
proto_teardown(void)
{
	vfio_user_client_destroy(cli);
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	unlink(vfu_path);
	unlink(vu_path);
	rmdir(dir);
}

TEST_CASE(config_space_over_vfio_user)
{
	struct vfio_user_device_info info;
	uint32_t p, hops = 0;

	TEST_ASSERT(vfio_user_client_get_device_info(cli, &info) == 0);
	TEST_ASSERT(info.flags & VFIO_DEVICE_FLAGS_PCI);
	TEST_ASSERT(info.flags & VFIO_DEVICE_FLAGS_RESET);
	TEST_ASSERT_EQ(cfg_rd(0, 4), 0x106B1AF4);
	for (p = cfg_rd(PCI_CAPABILITY_LIST, 1); p != 0; p = cfg_rd(p + 1, 1))
		TEST_ASSERT(hops++ < 16);
	TEST_ASSERT_EQ(hops, 9);
	TEST_ASSERT_EQ(bar0_rd(VVU_BAR0_DEVCFG + 4, 4), 4);
}

TEST_CASE(driver_brings_device_up)
{
	struct vfio_user_region r;
	int fd, i;

	/* rings and buffers in our own memory, shared by DMA_MAP */
	fd = memfd_create("vvu-proto", MFD_CLOEXEC);
	TEST_ASSERT(fd >= 0 && ftruncate(fd, MEM_SIZE) == 0);
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	TEST_ASSERT(mem != MAP_FAILED);
	TEST_ASSERT(vfio_user_client_dma_map(cli, VFIO_USER_F_DMA_REGION_READ |
					     VFIO_USER_F_DMA_REGION_WRITE, MEM_IOVA, MEM_SIZE,
					     fd, 0) == 0);
	close(fd);
	/* BAR2 has no mmappable areas before a front-end */
	TEST_ASSERT(vfio_user_client_get_region_info(cli, 2, &r) == 0);
	TEST_ASSERT_EQ(r.size, 16u << 20);
	TEST_ASSERT_EQ(r.nr_areas, 0);
	vfio_user_region_close(&r);
	/* MSI-X: vectors 0 (config), 1 (rxq), 2 (txq) */
	for (i = 0; i < 3; i++)
		irq_fds[i] = eventfd(0, EFD_NONBLOCK);
	TEST_ASSERT(vfio_user_client_set_irqs(cli, VFIO_PCI_MSIX_IRQ_INDEX,
					      VFIO_IRQ_SET_DATA_EVENTFD |
					      VFIO_IRQ_SET_ACTION_TRIGGER, 0, 3, irq_fds,
					      NULL) == 0);
	cfg_wr(VVU_CAP_MSIX + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	for (i = 0; i < 3; i++)
		bar0_wr(VVU_BAR0_MSIX_TABLE + 16 * i + 12, 0, 4);
	bar0_wr(VIRTIO_PCI_COMMON_STATUS, 3, 1);
	bar0_wr(VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
	bar0_wr(VIRTIO_PCI_COMMON_GF, 1, 4);
	bar0_wr(VIRTIO_PCI_COMMON_STATUS, 0xb, 1);
	TEST_ASSERT(bar0_rd(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_FEATURES_OK);
	bar0_wr(VIRTIO_PCI_COMMON_MSIX, 0, 2);
	for (i = 0; i < 2; i++) {
		bar0_wr(VIRTIO_PCI_COMMON_Q_SELECT, i, 2);
		bar0_wr(VIRTIO_PCI_COMMON_Q_SIZE, QSZ, 2);
		bar0_wr(VIRTIO_PCI_COMMON_Q_MSIX, 1 + i, 2);
		bar0_wr(VIRTIO_PCI_COMMON_Q_DESCLO, MEM_IOVA + (i ? TXD : RXD), 8);
		bar0_wr(VIRTIO_PCI_COMMON_Q_AVAILLO, MEM_IOVA + (i ? TXA : RXA), 8);
		bar0_wr(VIRTIO_PCI_COMMON_Q_USEDLO, MEM_IOVA + (i ? TXU : RXU), 8);
		bar0_wr(VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	}
	for (i = 0; i < QSZ; i++)
		post(RXD, RXA, (uint16_t)i, BUFS + 0x400 * i, 0x400, VRING_DESC_F_WRITE);
	bar0_wr(VIRTIO_PCI_COMMON_STATUS, 0xf, 1);
	bar0_wr(VVU_BAR0_DEVCFG, VVU_STATUS_BACKEND_UP, 4);
	TEST_ASSERT_EQ(bar0_rd(VVU_BAR0_DEVCFG, 4), VVU_STATUS_BACKEND_UP);
}

static int
fe_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, vu_path);
	TEST_ASSERT(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	return fd;
}

static void
fe_send(int fd, uint32_t req, const void *payload, uint32_t size, const int *fds, int nfds)
{
	struct vhost_user_msg m = { .hdr = { req, VHOST_USER_VERSION, size } };
	union {
		char b[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct cmsghdr a;
	} ctl;
	struct iovec iov = { &m, VHOST_USER_HDR_SIZE + size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (size > 0)
		memcpy(&m.payload, payload, size);
	if (nfds > 0) {
		struct cmsghdr *cm;

		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	TEST_ASSERT(sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)iov.iov_len);
}

static int fe = -1;
static int fe_mem = -1;
static int fd_baseline;

TEST_CASE(frontend_request_reaches_rxq)
{
	struct vhost_user_msg *got = (void *)(mem + BUFS);

	fd_baseline = count_child_fds();
	fe = fe_connect();
	TEST_ASSERT(wait_efd(irq_fds[0], 2000), "no config interrupt for FRONTEND_UP");
	TEST_ASSERT_EQ(bar0_rd(VVU_BAR0_DEVCFG, 4),
		       VVU_STATUS_BACKEND_UP | VVU_STATUS_FRONTEND_UP);
	fe_send(fe, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0);
	TEST_ASSERT(wait_used(RXU, 1), "GET_FEATURES not on rxq");
	TEST_ASSERT(wait_efd(irq_fds[1], 2000), "no rxq interrupt");
	TEST_ASSERT_EQ(got->hdr.request, VHOST_USER_GET_FEATURES);
	TEST_ASSERT_EQ(got->hdr.size, 0);
}

TEST_CASE(txq_reply_reaches_frontend)
{
	struct vhost_user_msg *m = (void *)(mem + BUFS + 0x8000);
	struct vhost_user_msg got;
	struct pollfd p = { .fd = -1, .events = POLLIN };

	m->hdr.request = VHOST_USER_GET_FEATURES;
	m->hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	m->hdr.size = 8;
	m->payload.u64 = 1ULL << 32;
	post(TXD, TXA, 0, BUFS + 0x8000, 20, 0);
	bar0_wr(VVU_BAR0_NOTIFY + 4, 1, 2);
	TEST_ASSERT(wait_used(TXU, 1));
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
	fe_send(fe, VHOST_USER_SET_MEM_TABLE, &t, 8 + 32, &fe_mem, 1);
	TEST_ASSERT(wait_used(RXU, 2), "SET_MEM_TABLE not on rxq");
	TEST_ASSERT(vfio_user_client_get_region_info(cli, 2, &r) == 0);
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
	struct vhost_user_vring_state st = { 0, QSZ };
	struct vhost_user_msg *m;
	uint64_t u64 = 0;
	int efd = eventfd(0, EFD_CLOEXEC);

	fe_send(fe, VHOST_USER_SET_VRING_NUM, &st, sizeof(st), NULL, 0);
	fe_send(fe, VHOST_USER_SET_VRING_CALL, &u64, 8, &efd, 1);
	close(efd);
	TEST_ASSERT(wait_used(RXU, 4));
	m = (void *)(mem + BUFS + 0x400 * 2);
	TEST_ASSERT_EQ(m->hdr.request, VHOST_USER_SET_VRING_NUM);
	m = (void *)(mem + BUFS + 0x400 * 3);
	TEST_ASSERT_EQ(m->hdr.request, VHOST_USER_SET_VRING_CALL);
}

TEST_CASE(kick_raises_driver_aux_vector)
{
	uint64_t u64 = 1, one = 1;
	int kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int vec = eventfd(0, EFD_NONBLOCK);

	/* queue 1's kick -> vector 3 through the cfg_type 7 registers */
	TEST_ASSERT(vfio_user_client_set_irqs(cli, VFIO_PCI_MSIX_IRQ_INDEX,
					      VFIO_IRQ_SET_DATA_EVENTFD |
					      VFIO_IRQ_SET_ACTION_TRIGGER, 3, 1, &vec, NULL) == 0);
	bar0_wr(VVU_BAR0_MSIX_TABLE + 16 * 3 + 12, 0, 4);
	bar0_wr(VVU_BAR0_DRV_AUX, 1, 2);
	bar0_wr(VVU_BAR0_DRV_AUX + 2, 3, 2);
	fe_send(fe, VHOST_USER_SET_VRING_KICK, &u64, 8, &kick, 1);
	TEST_ASSERT(wait_used(RXU, 5));
	TEST_ASSERT(write(kick, &one, sizeof(one)) == sizeof(one));
	TEST_ASSERT(wait_efd(vec, 2000), "kick did not reach the driver");
	close(kick);
	close(vec);
	/* de-assign vector 3 again, so the fd count below compares like with like */
	vec = -1;
	TEST_ASSERT(vfio_user_client_set_irqs(cli, VFIO_PCI_MSIX_IRQ_INDEX,
					      VFIO_IRQ_SET_DATA_EVENTFD |
					      VFIO_IRQ_SET_ACTION_TRIGGER, 3, 1, &vec, NULL) == 0);
}

TEST_CASE(unknown_request_disconnects_frontend)
{
	char b;
	struct pollfd p = { .fd = fe, .events = POLLIN };

	/* drain any config interrupt left */
	wait_efd(irq_fds[0], 10);
	fe_send(fe, 99, NULL, 0, NULL, 0);
	TEST_ASSERT(poll(&p, 1, 2000) == 1);
	TEST_ASSERT_EQ(recv(fe, &b, 1, 0), 0);	/* EOF: the device hung up */
	TEST_ASSERT(wait_efd(irq_fds[0], 2000), "no config interrupt on disconnect");
	TEST_ASSERT_EQ(bar0_rd(VVU_BAR0_DEVCFG, 4), 0);
	close(fe);
	fe = -1;
	close(fe_mem);
	/* the device still serves, and has given back every front-end fd */
	TEST_ASSERT_EQ(bar0_rd(VVU_BAR0_DEVCFG + 4, 4), 4);
	TEST_ASSERT_EQ(count_child_fds(), fd_baseline);
}

TEST_CASE(garbage_on_second_vfio_user_connection)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char junk[64];
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(junk, 0xff, sizeof(junk));
	strcpy(sa.sun_path, vfu_path);
	TEST_ASSERT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	(void)!write(fd, junk, sizeof(junk));
	usleep(50000);
	close(fd);
	/* a second client is refused; the first one still works */
	TEST_ASSERT_EQ(cfg_rd(0, 2), 0x1AF4);
}

TEST_CASE(bad_region_access_is_refused)
{
	uint8_t b[8];

	TEST_ASSERT(vfio_user_client_region_read(cli, 0, 0x10000, b, 4) < 0);
	TEST_ASSERT(vfio_user_client_region_read(cli, 7, 0xfe, b, 8) < 0);
	TEST_ASSERT(vfio_user_client_dma_map(cli, VFIO_USER_F_DMA_REGION_READ, MEM_IOVA,
					     4096, irq_fds[0], 0) < 0);
	TEST_ASSERT_EQ(cfg_rd(0, 2), 0x1AF4);
}

TEST_CASE(reset_and_reconnect_clean)
{
	int i;

	TEST_ASSERT(vfio_user_client_reset(cli) == 0);
	TEST_ASSERT_EQ(bar0_rd(VIRTIO_PCI_COMMON_STATUS, 1), 0);
	TEST_ASSERT_EQ(bar0_rd(VVU_BAR0_DEVCFG, 4), 0);
	for (i = 0; i < 3; i++)
		close(irq_fds[i]);
	munmap(mem, MEM_SIZE);
}

TEST_MAIN(proto_setup, proto_teardown,
	TEST_ENTRY(config_space_over_vfio_user),
	TEST_ENTRY(driver_brings_device_up),
	TEST_ENTRY(frontend_request_reaches_rxq),
	TEST_ENTRY(txq_reply_reaches_frontend),
	TEST_ENTRY(mem_table_makes_bar2_areas),
	TEST_ENTRY(vring_messages_in_order),
	TEST_ENTRY(kick_raises_driver_aux_vector),
	TEST_ENTRY(unknown_request_disconnects_frontend),
	TEST_ENTRY(garbage_on_second_vfio_user_connection),
	TEST_ENTRY(bad_region_access_is_refused),
	TEST_ENTRY(reset_and_reconnect_clean))

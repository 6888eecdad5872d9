/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Peers for the VVU device's process-level tests (test_vvu_protocol.c,
 * test_vvu_hostile.c, test_vvu_frontend.c): a forked device process, a
 * scripted driver (lib vfio_user's client, rxq/txq split rings in its own
 * memfd) and raw vhost-user front-end sockets. Header-only so each test
 * binary stays one file in meson; every helper is static inline (a test uses
 * what it needs).
 *
 * A test includes test.h first, then this file.
 */

#ifndef _VVU_TEST_PEER_H_
#define _VVU_TEST_PEER_H_

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "test_util.h"
#include "vvu_device.h"
#include "vvu_dev_server.h"

/* Driver memory layout (offsets in the memfd, iova = PEER_IOVA + offset). */
#define PEER_IOVA	0x10000000ULL
#define PEER_MEM_SIZE	(1u << 20)
#define PEER_QSZ	8
#define PEER_RXD	0x0000u
#define PEER_RXA	0x1000u
#define PEER_RXU	0x2000u
#define PEER_TXD	0x3000u
#define PEER_TXA	0x4000u
#define PEER_TXU	0x5000u
#define PEER_RXBUF	0x10000u	/* PEER_QSZ buffers of 0x400 */
#define PEER_RXBUF_LEN	0x400u
#define PEER_TXBUF	0x20000u	/* PEER_QSZ buffers of 0x400 */
#define PEER_STOP_MS	5000	/* a helper process's exit after SIGKILL */

struct peer_dev {
	char dir[64];
	char vfu_path[128];
	char vu_path[128];
	pid_t pid;
	uint64_t shm_size;
};

struct peer_drv {
	struct vfio_user_client *cli;
	int mem_fd;
	uint8_t *mem;
	int irq[3];		/* MSI-X vectors 0 config, 1 rxq, 2 txq */
	uint16_t rx_avail;	/* our avail idx copies */
	uint16_t tx_avail;
	uint16_t rx_seen;	/* used entries consumed on rxq */
	uint16_t tx_seen;
};

/* The device process: the real loop and servers, as dpdk-vvu-device runs them. */
static inline int
peer_run_device(void *arg)
{
	const struct peer_dev *pd = arg;
	static struct vvu_device dev;
	struct vvu_dev_options o = {
		.vfio_user_path = pd->vfu_path, .vhost_user_path = pd->vu_path,
		.shm_size = pd->shm_size, .num_queues = 4, .virtio_id = 43,
		.verbose = test_verbose() ? atoi(getenv("VVU_TEST_VERBOSE")) : -1,
	};
	struct vvu_dev_loop *loop = vvu_dev_loop_create();

	/* a peer that hangs up is the device's to handle, not a death */
	signal(SIGPIPE, SIG_IGN);
	if (loop == NULL || vvu_dev_init(&dev, &o, loop) < 0 || vvu_dev_server_start(&dev) < 0)
		return 3;
	for (;;)
		vvu_dev_loop_run_once(loop, -1);
}

/* Fork the device; 0 once both its sockets exist. */
static inline int
peer_dev_start(struct peer_dev *pd, const char *tag, uint64_t shm_size)
{
	int i;

	snprintf(pd->dir, sizeof(pd->dir), "/tmp/vvu-%s-XXXXXX", tag);
	if (mkdtemp(pd->dir) == NULL)
		return -1;
	snprintf(pd->vfu_path, sizeof(pd->vfu_path), "%s/vfu.sock", pd->dir);
	snprintf(pd->vu_path, sizeof(pd->vu_path), "%s/vu.sock", pd->dir);
	pd->shm_size = shm_size;
	pd->pid = test_spawn(peer_run_device, pd, TEST_FD_INHERIT, TEST_FD_INHERIT);
	if (pd->pid < 0)
		return -1;
	for (i = 0; i < 300; i++) {
		if (access(pd->vfu_path, F_OK) == 0 && access(pd->vu_path, F_OK) == 0)
			return 0;
		usleep(10000);
	}
	return -1;
}

static inline void
peer_dev_stop(struct peer_dev *pd)
{
	test_proc_stop(pd->pid, SIGKILL, PEER_STOP_MS);
	pd->pid = -1;
	unlink(pd->vfu_path);
	unlink(pd->vu_path);
	rmdir(pd->dir);
}

static inline bool
peer_dev_alive(const struct peer_dev *pd)
{
	return test_proc_alive(pd->pid);
}

static inline int
peer_dev_fds(const struct peer_dev *pd)
{
	return pd->pid > 0 ? test_count_fds_of(pd->pid) : -1;
}

/* The device handles peers asynchronously: wait for the count to settle. */
static inline bool
peer_dev_fds_back_to(const struct peer_dev *pd, int want, int ms)
{
	return pd->pid > 0 && test_fds_settle(pd->pid, want, ms) == want;
}

/* Connect a vfio-user client, retrying while the device drops the last one. */
static inline struct vfio_user_client *
peer_connect(const struct peer_dev *pd)
{
	struct vfio_user_client *c = NULL;
	int i;

	vfio_user_set_log(NULL, NULL, test_verbose() ? VFIO_USER_LOG_DEBUG : -1);
	for (i = 0; i < 200 && c == NULL; i++) {
		c = vfio_user_client_connect(pd->vfu_path, NULL);
		if (c == NULL)
			usleep(10000);
	}
	return c;
}

static inline uint64_t
peer_rd(struct peer_drv *d, uint32_t region, uint64_t off, uint32_t len)
{
	uint8_t b[8] = {0};
	int ret = vfio_user_client_region_read(d->cli, region, off, b, len);

	TEST_ASSERT(ret == 0, "region %u read %#llx: %d", region, (unsigned long long)off,
		    ret);
	return vvu_get_n(b, len);
}

static inline void
peer_wr(struct peer_drv *d, uint32_t region, uint64_t off, uint64_t v, uint32_t len)
{
	uint8_t b[8];
	int ret;

	vvu_put64(b, v);
	ret = vfio_user_client_region_write(d->cli, region, off, b, len);
	TEST_ASSERT(ret == 0, "region %u write %#llx: %d", region, (unsigned long long)off,
		    ret);
}

#define BAR0	VFIO_PCI_BAR0_REGION_INDEX
#define CFG	VFIO_PCI_CONFIG_REGION_INDEX

static inline bool
peer_wait_efd(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, ms) != 1)
		return false;
	return read(fd, &v, sizeof(v)) == sizeof(v);
}

/* Wait until fd reads EOF (the device hung up); false on timeout or data. */
static inline bool
peer_wait_eof(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char b[256];
	int64_t end = test_now_ms() + ms;

	while (test_now_ms() < end) {
		ssize_t n;

		if (poll(&p, 1, (int)(end - test_now_ms())) != 1)
			return false;
		n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		/* a reply or error reply before the hang-up: keep reading */
	}
	return false;
}

static inline void
peer_post(struct peer_drv *d, bool rx, uint16_t id, uint64_t iova, uint32_t len,
	  uint16_t flags)
{
	struct vring_desc *desc = (void *)(d->mem + (rx ? PEER_RXD : PEER_TXD));
	uint16_t *avail = (void *)(d->mem + (rx ? PEER_RXA : PEER_TXA));
	uint16_t *idx = rx ? &d->rx_avail : &d->tx_avail;

	desc[id] = (struct vring_desc){ iova, len, flags, 0 };
	avail[2 + *idx % PEER_QSZ] = id;
	(*idx)++;
	__atomic_store_n(&avail[1], *idx, __ATOMIC_RELEASE);
}

static inline uint16_t
peer_used_idx(struct peer_drv *d, bool rx)
{
	return __atomic_load_n((uint16_t *)(void *)(d->mem + (rx ? PEER_RXU : PEER_TXU) + 2),
			       __ATOMIC_ACQUIRE);
}

/* Wait at most ms for the device to have used want entries of rxq or txq. */
static inline bool
peer_wait_used(struct peer_drv *d, bool rx, uint16_t want, int ms)
{
	int64_t end = test_now_ms() + ms;

	while (peer_used_idx(d, rx) != want && test_now_ms() < end)
		test_sleep_ms(1);
	return peer_used_idx(d, rx) == want;
}

/* A driver with nothing open yet (what peer_drv_down() leaves). */
static inline void
peer_drv_init(struct peer_drv *d)
{
	int i;

	memset(d, 0, sizeof(*d));
	d->mem_fd = -1;
	for (i = 0; i < 3; i++)
		d->irq[i] = -1;
}

/*
 * On a connected driver: rings and buffers in a memfd, DMA-mapped at
 * PEER_IOVA; MSI-X enabled with vectors 0 (config), 1 (rxq), 2 (txq) on
 * eventfds, unmasked.
 */
static inline void
peer_drv_map(struct peer_drv *d)
{
	int i;

	d->mem_fd = memfd_create("vvu-drv", MFD_CLOEXEC);
	TEST_ASSERT(d->mem_fd >= 0 && ftruncate(d->mem_fd, PEER_MEM_SIZE) == 0);
	d->mem = mmap(NULL, PEER_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, d->mem_fd, 0);
	TEST_ASSERT(d->mem != MAP_FAILED);
	TEST_ASSERT(vfio_user_client_dma_map(d->cli, VFIO_USER_F_DMA_REGION_READ |
					     VFIO_USER_F_DMA_REGION_WRITE, PEER_IOVA,
					     PEER_MEM_SIZE, d->mem_fd, 0) == 0);
	for (i = 0; i < 3; i++)
		d->irq[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	TEST_ASSERT(vfio_user_client_set_irqs(d->cli, VFIO_PCI_MSIX_IRQ_INDEX,
					      VFIO_IRQ_SET_DATA_EVENTFD |
					      VFIO_IRQ_SET_ACTION_TRIGGER, 0, 3, d->irq,
					      NULL) == 0);
	peer_wr(d, CFG, VVU_CAP_MSIX + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	for (i = 0; i < 3; i++)
		peer_wr(d, BAR0, VVU_BAR0_MSIX_TABLE + 16 * i + 12, 0, 4);
}

/* ACKNOWLEDGE | DRIVER, VERSION_1 (feature bit 32), FEATURES_OK. */
static inline void
peer_drv_features(struct peer_drv *d)
{
	peer_wr(d, BAR0, VIRTIO_PCI_COMMON_STATUS, 3, 1);
	peer_wr(d, BAR0, VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
	peer_wr(d, BAR0, VIRTIO_PCI_COMMON_GF, 1, 4);
	peer_wr(d, BAR0, VIRTIO_PCI_COMMON_STATUS, 0xb, 1);
}

/* Config vector 0; rxq and txq in the memfd; every rxq buffer posted at rx_iova. */
static inline void
peer_drv_queues(struct peer_drv *d, uint64_t rx_iova)
{
	int i;

	peer_wr(d, BAR0, VIRTIO_PCI_COMMON_MSIX, 0, 2);
	for (i = 0; i < 2; i++) {
		peer_wr(d, BAR0, VIRTIO_PCI_COMMON_Q_SELECT, i, 2);
		peer_wr(d, BAR0, VIRTIO_PCI_COMMON_Q_SIZE, PEER_QSZ, 2);
		peer_wr(d, BAR0, VIRTIO_PCI_COMMON_Q_MSIX, 1 + i, 2);
		peer_wr(d, BAR0, VIRTIO_PCI_COMMON_Q_DESCLO,
			PEER_IOVA + (i ? PEER_TXD : PEER_RXD), 8);
		peer_wr(d, BAR0, VIRTIO_PCI_COMMON_Q_AVAILLO,
			PEER_IOVA + (i ? PEER_TXA : PEER_RXA), 8);
		peer_wr(d, BAR0, VIRTIO_PCI_COMMON_Q_USEDLO,
			PEER_IOVA + (i ? PEER_TXU : PEER_RXU), 8);
		peer_wr(d, BAR0, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	}
	for (i = 0; i < PEER_QSZ; i++)
		peer_post(d, true, (uint16_t)i, rx_iova + PEER_RXBUF_LEN * i, PEER_RXBUF_LEN,
			  VRING_DESC_F_WRITE);
}

/* DRIVER_OK, then BACKEND_UP: the device now accepts a front-end. */
static inline void
peer_drv_ready(struct peer_drv *d)
{
	peer_wr(d, BAR0, VIRTIO_PCI_COMMON_STATUS, 0xf, 1);
	peer_wr(d, BAR0, VVU_BAR0_DEVCFG, VVU_STATUS_BACKEND_UP, 4);
}

/*
 * Bring the device up as a driver: connect, then the steps above, with the
 * rxq buffers at rx_iova (normally inside the mapping).
 */
static inline void
peer_drv_up_at(struct peer_drv *d, const struct peer_dev *pd, uint64_t rx_iova)
{
	peer_drv_init(d);
	d->cli = peer_connect(pd);
	TEST_ASSERT(d->cli != NULL, "cannot connect to the device");
	peer_drv_map(d);
	peer_drv_features(d);
	peer_drv_queues(d, rx_iova);
	peer_drv_ready(d);
}

static inline void
peer_drv_up(struct peer_drv *d, const struct peer_dev *pd)
{
	peer_drv_up_at(d, pd, PEER_IOVA + PEER_RXBUF);
}

static inline void
peer_drv_down(struct peer_drv *d)
{
	int i;

	vfio_user_client_destroy(d->cli);
	d->cli = NULL;
	if (d->mem != NULL && d->mem != MAP_FAILED)
		munmap(d->mem, PEER_MEM_SIZE);
	d->mem = NULL;
	if (d->mem_fd >= 0)
		close(d->mem_fd);
	d->mem_fd = -1;
	for (i = 0; i < 3; i++) {
		if (d->irq[i] >= 0)
			close(d->irq[i]);
		d->irq[i] = -1;
	}
}

/* Next front-end message on rxq (re-posting its buffer), or NULL after ms. */
static inline const struct vhost_user_msg *
peer_rx_next(struct peer_drv *d, int ms, struct vhost_user_msg *out)
{
	const struct vring_used_elem *used = (const void *)(d->mem + PEER_RXU + 4);
	int64_t end = test_now_ms() + ms;
	uint32_t id, len;

	while (peer_used_idx(d, true) == d->rx_seen) {
		if (test_now_ms() >= end)
			return NULL;
		peer_wait_efd(d->irq[1], 5);
	}
	id = used[d->rx_seen % PEER_QSZ].id;
	len = used[d->rx_seen % PEER_QSZ].len;
	d->rx_seen++;
	TEST_ASSERT(id < PEER_QSZ && len >= VHOST_USER_HDR_SIZE && len <= sizeof(*out),
		    "rxq used elem id %u len %u", id, len);
	memset(out, 0, sizeof(*out));
	memcpy(out, d->mem + PEER_RXBUF + PEER_RXBUF_LEN * id, len);
	peer_post(d, true, (uint16_t)id, PEER_IOVA + PEER_RXBUF + PEER_RXBUF_LEN * id,
		  PEER_RXBUF_LEN, VRING_DESC_F_WRITE);
	/* a message may wait in the device for a buffer: tell it one is back */
	peer_wr(d, BAR0, VVU_BAR0_NOTIFY + VVU_RXQ * VVU_NOTIFY_MULT, VVU_RXQ, 2);
	return out;
}

/* Put one reply on txq and notify; waits until the device consumed it. */
static inline void
peer_tx_reply(struct peer_drv *d, uint32_t request, const void *payload, uint32_t size)
{
	uint16_t id = d->tx_avail % PEER_QSZ;
	uint8_t *buf = d->mem + PEER_TXBUF + PEER_RXBUF_LEN * id;
	struct vhost_user_hdr h = { request, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK,
				    size };

	memcpy(buf, &h, sizeof(h));
	if (size > 0)
		memcpy(buf + VHOST_USER_HDR_SIZE, payload, size);
	peer_post(d, false, id, PEER_IOVA + PEER_TXBUF + PEER_RXBUF_LEN * id,
		  VHOST_USER_HDR_SIZE + size, 0);
	peer_wr(d, BAR0, VVU_BAR0_NOTIFY + VVU_TXQ * VVU_NOTIFY_MULT, VVU_TXQ, 2);
	TEST_ASSERT(peer_wait_used(d, false, d->tx_avail, 2000), "txq reply %u not consumed",
		    request);
}

static inline int
peer_fe_connect(const struct peer_dev *pd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, pd->vu_path);
	TEST_ASSERT(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	return fd;
}

/* Send raw bytes with fds in one sendmsg; hdr.size may lie on purpose. */
static inline void
peer_fe_send_raw(int fd, const void *bytes, size_t len, const int *fds, int nfds)
{
	TEST_ASSERT(test_send_fds(fd, bytes, len, fds, nfds) == 0, "sendmsg: %s",
		    strerror(errno));
}

static inline void
peer_fe_send(int fd, uint32_t req, const void *payload, uint32_t size, const int *fds,
	     int nfds)
{
	struct vhost_user_msg m = { .hdr = { req, VHOST_USER_VERSION, size } };

	if (size > 0)
		memcpy(&m.payload, payload, size);
	peer_fe_send_raw(fd, &m, VHOST_USER_HDR_SIZE + size, fds, nfds);
}

#endif /* _VVU_TEST_PEER_H_ */

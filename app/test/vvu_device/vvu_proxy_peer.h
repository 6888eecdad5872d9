/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A scripted QEMU for the proxy front's tests (test_vvu_proxy.c in one
 * process, test_vvu_proxy_hostile.c against the real dpdk-vvu-device):
 * the QEMU end of the socketpair, the proxy protocol's messages, "guest
 * RAM" in a memfd given by SYNC_SYSMEM, and a guest driver that brings the
 * device up through BAR writes with its rxq/txq rings in that RAM.
 *
 * With the device in the same process, the peer's pump callback runs the
 * device's loop while the peer waits for a reply; against a device process
 * it is NULL. A test includes test.h first, then this file.
 */

#ifndef _VVU_PROXY_PEER_H_
#define _VVU_PROXY_PEER_H_

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "test_util.h"
#include "vvu_device.h"
#include "vvu_dev_proxy.h"

/* Where the test programs the BARs, and the guest RAM it offers. */
#define QP_BAR0		0xfebe0000ULL
#define QP_BAR2		0xe0000000ULL
#define QP_RAM_SIZE	(4u << 20)
/* Guest RAM as QEMU splits it: a hole at 0xa0000..0x100000. */
#define QP_LOW_SIZE	0xa0000ULL
#define QP_HIGH_GPA	0x100000ULL
/* Rings and buffers, guest-physical (all in the high region). */
#define QP_QSZ		8
#define QP_RXD		0x200000ULL
#define QP_RXA		0x201000ULL
#define QP_RXU		0x202000ULL
#define QP_TXD		0x203000ULL
#define QP_TXA		0x204000ULL
#define QP_TXU		0x205000ULL
#define QP_RXBUF	0x210000ULL	/* QP_QSZ buffers of QP_BUF_LEN */
#define QP_TXBUF	0x220000ULL
#define QP_BUF_LEN	0x400u
#define QP_ALL_ONES	UINT64_MAX
#define QP_WAIT_MS	2000

struct qpeer {
	int fd;				/* QEMU's end */
	void (*pump)(void *arg);	/* run the in-process device, or NULL */
	void *pump_arg;
	/* guest RAM: one memfd, gpa == file offset */
	int ram_fd;
	uint8_t *ram;
	uint16_t rx_avail, tx_avail, rx_seen;
};

static inline void
qp_init(struct qpeer *q, int fd, void (*pump)(void *), void *arg)
{
	memset(q, 0, sizeof(*q));
	q->fd = fd;
	q->pump = pump;
	q->pump_arg = arg;
	q->ram_fd = -1;
}

static inline void
qp_pump(struct qpeer *q)
{
	if (q->pump != NULL)
		q->pump(q->pump_arg);
}

/*
 * One message: header, payload, fds, in one sendmsg() as QEMU sends it. A
 * size of 512 or more sends the header alone (a hostile one).
 */
static inline void
qp_send(struct qpeer *q, int32_t cmd, const void *payload, uint64_t size, const int *fds,
	int nfds)
{
	uint8_t buf[VVU_PROXY_HDR_SIZE + 512];
	struct vvu_dev_proxy_hdr h = { .cmd = cmd, .size = size };
	size_t len = VVU_PROXY_HDR_SIZE + (size < 512 ? size : 0);

	memcpy(buf, &h, sizeof(h));
	if (payload != NULL && size > 0 && size < 512)
		memcpy(buf + VVU_PROXY_HDR_SIZE, payload, size);
	TEST_ASSERT(test_send_fds(q->fd, buf, len, fds, nfds) == 0, "send: %s",
		    strerror(errno));
}

/* Whether a RET came within ms; its value in *v. */
static inline bool
qp_try_reply(struct qpeer *q, int ms, uint64_t *v)
{
	uint8_t b[VVU_PROXY_HDR_SIZE + 8];
	struct vvu_dev_proxy_hdr h;
	int64_t end = test_now_ms() + ms;
	size_t have = 0;

	while (have < sizeof(b)) {
		struct pollfd p = { .fd = q->fd, .events = POLLIN };
		ssize_t n;

		qp_pump(q);
		if (poll(&p, 1, q->pump != NULL ? 0 : 10) == 1) {
			n = recv(q->fd, b + have, sizeof(b) - have, MSG_DONTWAIT);
			if (n > 0)
				have += (size_t)n;
			else if (n == 0)
				return false;
		}
		if (test_now_ms() > end)
			return false;
	}
	memcpy(&h, b, sizeof(h));
	TEST_ASSERT(h.cmd == VVU_PROXY_RET && h.size == 8, "reply cmd %d size %llu", h.cmd,
		    (unsigned long long)h.size);
	memcpy(v, b + VVU_PROXY_HDR_SIZE, 8);
	return true;
}

static inline uint64_t
qp_reply(struct qpeer *q)
{
	uint64_t v = 0;

	TEST_ASSERT(qp_try_reply(q, QP_WAIT_MS, &v), "no reply from the device");
	return v;
}

/* Nothing to read for ms (a command that takes no reply got none). */
static inline bool
qp_quiet(struct qpeer *q, int ms)
{
	uint64_t v;

	return !qp_try_reply(q, ms, &v);
}

static inline uint64_t
qp_cfg_rd(struct qpeer *q, uint32_t addr, int32_t len)
{
	struct vvu_dev_proxy_cfg c = { .addr = addr, .len = len };

	qp_send(q, VVU_PROXY_CFG_READ, &c, sizeof(c), NULL, 0);
	return qp_reply(q);
}

static inline uint64_t
qp_cfg_wr(struct qpeer *q, uint32_t addr, uint32_t val, int32_t len)
{
	struct vvu_dev_proxy_cfg c = { .addr = addr, .val = val, .len = len };

	qp_send(q, VVU_PROXY_CFG_WRITE, &c, sizeof(c), NULL, 0);
	return qp_reply(q);
}

static inline uint64_t
qp_bar_access(struct qpeer *q, bool write, uint64_t addr, uint64_t val, uint32_t size,
	      uint8_t memory)
{
	struct vvu_dev_proxy_bar a = { .addr = addr, .val = val, .size = size,
				       .memory = memory };

	qp_send(q, write ? VVU_PROXY_BAR_WRITE : VVU_PROXY_BAR_READ, &a, sizeof(a), NULL, 0);
	return qp_reply(q);
}

static inline uint64_t
qp_rd(struct qpeer *q, uint64_t addr, uint32_t size)
{
	return qp_bar_access(q, false, addr, 0, size, 1);
}

static inline uint64_t
qp_wr(struct qpeer *q, uint64_t addr, uint64_t val, uint32_t size)
{
	return qp_bar_access(q, true, addr, val, size, 1);
}

/* BARs 0 and 2 where the firmware would put them, memory decoding on. */
static inline void
qp_program_bars(struct qpeer *q)
{
	qp_cfg_wr(q, PCI_BASE_ADDRESS_0, (uint32_t)QP_BAR0, 4);
	qp_cfg_wr(q, PCI_BASE_ADDRESS_2, (uint32_t)QP_BAR2, 4);
	qp_cfg_wr(q, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
}

/* A memfd of size bytes, or -1. */
static inline int
qp_memfd(const char *name, size_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd >= 0 && ftruncate(fd, (off_t)size) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* SYNC_SYSMEM of n regions; fds[i] backs region i (the test keeps its fds). */
static inline void
qp_sync(struct qpeer *q, unsigned int n, const uint64_t *gpa, const uint64_t *size,
	const int64_t *off, const int *fds)
{
	struct vvu_dev_proxy_sysmem m;
	unsigned int i;

	memset(&m, 0, sizeof(m));
	for (i = 0; i < n && i < VVU_PROXY_MAX_FDS; i++) {
		m.gpa[i] = gpa[i];
		m.size[i] = size[i];
		m.offset[i] = off[i];
	}
	qp_send(q, VVU_PROXY_SYNC_SYSMEM, &m, sizeof(m), fds, (int)n);
}

/* Guest RAM of QP_RAM_SIZE in two regions around a hole, as QEMU sends it. */
static inline void
qp_ram_up(struct qpeer *q)
{
	uint64_t gpa[2] = { 0, QP_HIGH_GPA };
	uint64_t size[2] = { QP_LOW_SIZE, QP_RAM_SIZE - QP_HIGH_GPA };
	int64_t off[2] = { 0, (int64_t)QP_HIGH_GPA };
	int fds[2];

	q->ram_fd = qp_memfd("qp-guest-ram", QP_RAM_SIZE);
	TEST_ASSERT(q->ram_fd >= 0);
	q->ram = mmap(NULL, QP_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, q->ram_fd, 0);
	TEST_ASSERT(q->ram != MAP_FAILED);
	fds[0] = fds[1] = q->ram_fd;
	qp_sync(q, 2, gpa, size, off, fds);
}

static inline void
qp_ram_down(struct qpeer *q)
{
	if (q->ram != NULL && q->ram != MAP_FAILED)
		munmap(q->ram, QP_RAM_SIZE);
	q->ram = NULL;
	if (q->ram_fd >= 0)
		close(q->ram_fd);
	q->ram_fd = -1;
}

static inline void
qp_post(struct qpeer *q, bool rx, uint16_t id, uint64_t gpa, uint32_t len, uint16_t flags)
{
	struct vring_desc *desc = (void *)(q->ram + (rx ? QP_RXD : QP_TXD));
	uint16_t *avail = (void *)(q->ram + (rx ? QP_RXA : QP_TXA));
	uint16_t *idx = rx ? &q->rx_avail : &q->tx_avail;

	desc[id] = (struct vring_desc){ gpa, len, flags, 0 };
	avail[2 + *idx % QP_QSZ] = id;
	(*idx)++;
	__atomic_store_n(&avail[1], *idx, __ATOMIC_RELEASE);
}

static inline uint16_t
qp_used_idx(struct qpeer *q, bool rx)
{
	return __atomic_load_n((uint16_t *)(void *)(q->ram + (rx ? QP_RXU : QP_TXU) + 2),
			       __ATOMIC_ACQUIRE);
}

/*
 * The guest driver, through BAR0 at its guest-physical address: features,
 * both queues in guest RAM, every rxq buffer posted, DRIVER_OK, BACKEND_UP.
 * No vectors: the proxy layout has none, the driver polls.
 */
static inline void
qp_driver_up(struct qpeer *q)
{
	static const uint64_t rings[2][3] = {
		{ QP_RXD, QP_RXA, QP_RXU }, { QP_TXD, QP_TXA, QP_TXU },
	};
	int i;

	qp_wr(q, QP_BAR0 + VIRTIO_PCI_COMMON_STATUS, 3, 1);
	qp_wr(q, QP_BAR0 + VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
	qp_wr(q, QP_BAR0 + VIRTIO_PCI_COMMON_GF, 1, 4);
	qp_wr(q, QP_BAR0 + VIRTIO_PCI_COMMON_STATUS, 0xb, 1);
	TEST_ASSERT_EQ(qp_rd(q, QP_BAR0 + VIRTIO_PCI_COMMON_STATUS, 1), 0xb);
	for (i = 0; i < 2; i++) {
		qp_wr(q, QP_BAR0 + VIRTIO_PCI_COMMON_Q_SELECT, (uint64_t)i, 2);
		qp_wr(q, QP_BAR0 + VIRTIO_PCI_COMMON_Q_SIZE, QP_QSZ, 2);
		qp_wr(q, QP_BAR0 + VIRTIO_PCI_COMMON_Q_DESCLO, rings[i][0], 8);
		qp_wr(q, QP_BAR0 + VIRTIO_PCI_COMMON_Q_AVAILLO, rings[i][1], 8);
		qp_wr(q, QP_BAR0 + VIRTIO_PCI_COMMON_Q_USEDLO, rings[i][2], 8);
		qp_wr(q, QP_BAR0 + VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	}
	for (i = 0; i < QP_QSZ; i++)
		qp_post(q, true, (uint16_t)i, QP_RXBUF + QP_BUF_LEN * i, QP_BUF_LEN,
			VRING_DESC_F_WRITE);
	qp_wr(q, QP_BAR0 + VIRTIO_PCI_COMMON_STATUS, 0xf, 1);
	qp_wr(q, QP_BAR0 + VVU_BAR0_DEVCFG, VVU_STATUS_BACKEND_UP, 4);
}

/* The next front-end message on rxq (buffer re-posted), polling, or NULL. */
static inline const struct vhost_user_msg *
qp_rx_next(struct qpeer *q, int ms, struct vhost_user_msg *out)
{
	const struct vring_used_elem *used = (const void *)(q->ram + QP_RXU + 4);
	int64_t end = test_now_ms() + ms;
	uint32_t id, len;

	while (qp_used_idx(q, true) == q->rx_seen) {
		if (test_now_ms() >= end)
			return NULL;
		qp_pump(q);
		if (q->pump == NULL)
			test_sleep_ms(1);
	}
	id = used[q->rx_seen % QP_QSZ].id;
	len = used[q->rx_seen % QP_QSZ].len;
	q->rx_seen++;
	TEST_ASSERT(id < QP_QSZ && len >= VHOST_USER_HDR_SIZE && len <= sizeof(*out),
		    "rxq used elem id %u len %u", id, len);
	memset(out, 0, sizeof(*out));
	memcpy(out, q->ram + QP_RXBUF + QP_BUF_LEN * id, len);
	qp_post(q, true, (uint16_t)id, QP_RXBUF + QP_BUF_LEN * id, QP_BUF_LEN,
		VRING_DESC_F_WRITE);
	qp_wr(q, QP_BAR0 + VVU_BAR0_NOTIFY + VVU_RXQ * VVU_NOTIFY_MULT, VVU_RXQ, 2);
	return out;
}

/* One reply on txq, notified through BAR0; waits until the device used it. */
static inline void
qp_tx_reply(struct qpeer *q, uint32_t request, const void *payload, uint32_t size)
{
	uint16_t id = q->tx_avail % QP_QSZ;
	uint8_t *buf = q->ram + QP_TXBUF + QP_BUF_LEN * id;
	struct vhost_user_hdr h = { request, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK,
				    size };
	int64_t end = test_now_ms() + QP_WAIT_MS;

	memcpy(buf, &h, sizeof(h));
	if (size > 0)
		memcpy(buf + VHOST_USER_HDR_SIZE, payload, size);
	qp_post(q, false, id, QP_TXBUF + QP_BUF_LEN * id, VHOST_USER_HDR_SIZE + size, 0);
	qp_wr(q, QP_BAR0 + VVU_BAR0_NOTIFY + VVU_TXQ * VVU_NOTIFY_MULT, VVU_TXQ, 2);
	while (qp_used_idx(q, false) != q->tx_avail && test_now_ms() < end)
		qp_pump(q);
	TEST_ASSERT(qp_used_idx(q, false) == q->tx_avail, "txq reply %u not used", request);
}

/* A vhost-user front-end connection to path. */
static inline int
qp_fe_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	TEST_ASSERT(fd >= 0 && strlen(path) < sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	TEST_ASSERT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect %s: %s",
		    path, strerror(errno));
	return fd;
}

static inline void
qp_fe_send(int fd, uint32_t req, const void *payload, uint32_t size, const int *fds,
	   int nfds)
{
	struct vhost_user_msg m = { .hdr = { req, VHOST_USER_VERSION, size } };

	if (size > 0)
		memcpy(&m.payload, payload, size);
	TEST_ASSERT(test_send_fds(fd, &m, VHOST_USER_HDR_SIZE + size, fds, nfds) == 0,
		    "front-end send: %s", strerror(errno));
}

/* FRONTEND_UP in the device status, read through BAR0 (polling, no interrupt). */
static inline bool
qp_wait_frontend_up(struct qpeer *q, int ms)
{
	int64_t end = test_now_ms() + ms;

	while (test_now_ms() < end) {
		if (qp_rd(q, QP_BAR0 + VVU_BAR0_DEVCFG, 4) & VVU_STATUS_FRONTEND_UP)
			return true;
		if (q->pump == NULL)
			test_sleep_ms(2);
	}
	return false;
}

/* Wait until fd (a front-end socket) reads EOF; false on timeout. */
static inline bool
qp_wait_eof(struct qpeer *q, int fd, int ms)
{
	int64_t end = test_now_ms() + ms;
	char b[256];

	while (test_now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		qp_pump(q);
		if (poll(&p, 1, q->pump != NULL ? 0 : 10) != 1)
			continue;
		n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
	}
	return false;
}

#endif /* _VVU_PROXY_PEER_H_ */

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The real VVU driver (drivers/virtio_vhost_user, inside lib/vhost) against
 * the real VVU device model (app/vvu-device) in one process, with no
 * vfio-user socket between them: a struct vvu_drv_hw_ops whose ops call the
 * device's config space, BAR0 and DMA functions directly, registered for
 * the path prefix "loopback:". The device's event loop runs in a thread of
 * its own; every op and every turn of that loop hold one mutex, as the one
 * vfio-user connection serialises them in the real topology.
 *
 * This test plays the front-end on the device's vhost-user socket with split
 * vrings in a memfd, and checks through the public rte_vhost API:
 *  - the handshake ends in new_device();
 *  - packets the front-end posts on its TX vring come out of
 *    rte_vhost_dequeue_burst(), and rte_vhost_enqueue_burst() packets land
 *    in its RX vring: exact counts, lengths and bytes, several rounds so
 *    the ring indexes wrap;
 *  - a front-end kick wakes the kick eventfd the library got for the vring
 *    (MSI-X vector 2 + idx), and only a kick does;
 *  - rte_vhost_vring_call() reaches the front-end's call eventfd unless the
 *    front-end set VRING_AVAIL_F_NO_INTERRUPT;
 *  - a front-end that leaves gets destroy_device(), a new one a new device;
 *  - after unregister the process holds exactly the fds it started with.
 * EAL runs with --no-huge: the rings are memfds of this file's dma_alloc.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_vhost.h>

#include "test.h"
#include "test_eal.h"
#include "test_util.h"
#include "vhost_transport.h"
#include "vvu_device.h"
#include "vvu_drv_transport.h"

#define LB_PREFIX	"loopback:"
#define LB_ADDR		"dev0"
#define LB_PATH		LB_PREFIX LB_ADDR
#define LB_QUEUES	8
#define LB_SHM_SIZE	(64ULL << 20)
#define WAIT_MS		5000

/* Front-end memory: two split vrings and their buffers in one memfd. */
#define FE_MEM_SIZE	(2u << 20)
#define FE_GPA		0x40000000ULL
#define QSZ		64
#define BURST		32
#define ROUNDS		4	/* 128 packets a direction: each ring wraps twice */
#define BUF_LEN		2048u
#define NET_HDR_LEN	12	/* virtio_net_hdr_mrg_rxbuf: VERSION_1 */
#define RX_VRING	0	/* the library enqueues, the front-end receives */
#define TX_VRING	1	/* the front-end sends, the library dequeues */

static const struct {
	uint32_t desc, avail, used, bufs;
} fe_layout[2] = {
	[RX_VRING] = { 0x0000, 0x1000, 0x2000, 0x10000 },
	[TX_VRING] = { 0x4000, 0x5000, 0x6000, 0x10000 + QSZ * BUF_LEN },
};

/* ---- the device, in this process ---- */

struct lb_window {
	int fd;			/* our dup of the device's window fd */
	uint64_t fd_offset;
	uint64_t bar_offset;
	uint64_t size;
};

static struct {
	pthread_mutex_t lock;	/* the device model, its loop and lb.shm */
	struct vvu_device dev;
	struct vvu_dev_loop *loop;
	pthread_t thread;
	bool running;
	int stop_fd;
	bool open;		/* a driver has it */
	bool no_irqs;		/* act as a device without usable interrupts */
	unsigned int routes;	/* set_irqs calls that routed vectors */
	/* The driver's requests (each a round trip over vfio-user), by kind. */
	unsigned int bar_reads;
	unsigned int aux_vector_writes;	/* driver aux cfg: select, vector */
	unsigned int txq_doorbells;
	unsigned int shm_refreshes;
	struct lb_window shm[VHOST_USER_MEMORY_MAX_NREGIONS];
	unsigned int nr_shm;
	/*
	 * Armed by a case: at the driver's next read of the VVU status that
	 * shows BACKEND_UP without a front-end, lb_status_read_hook() runs on
	 * the driver's thread before the read returns.
	 */
	bool status_hook;
} lb = { .lock = PTHREAD_MUTEX_INITIALIZER, .stop_fd = -1 };

static void lb_status_read_hook(void);

static char tmpdir[64];
static char fe_path[96];
static struct rte_mempool *pool;
static int fd_base = -1;
static bool attached;		/* a front-end session is up */
static bool registered;		/* LB_PATH is registered */

/* The device's loop: wait without the lock, run the callbacks with it. */
static void *
lb_device_thread(void *arg)
{
	struct pollfd p[2] = {
		{ .fd = vvu_dev_loop_fd(lb.loop), .events = POLLIN },
		{ .fd = lb.stop_fd, .events = POLLIN },
	};

	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents != 0)
			break;
		pthread_mutex_lock(&lb.lock);
		vvu_dev_loop_run_once(lb.loop, 0);
		pthread_mutex_unlock(&lb.lock);
	}
	return arg;
}

static int
lb_device_start(void)
{
	struct vvu_dev_options o = {
		.vhost_user_path = fe_path,
		.shm_size = LB_SHM_SIZE,
		.num_queues = LB_QUEUES,
		.virtio_id = VVU_VIRTIO_ID_DEFAULT,
		.verbose = getenv("VVU_TEST_VERBOSE") != NULL ? VVU_DEBUG : -1,
	};
	int ret;

	lb.loop = vvu_dev_loop_create();
	lb.stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (lb.loop == NULL || lb.stop_fd < 0)
		return -ENOMEM;
	ret = vvu_dev_init(&lb.dev, &o, lb.loop);
	if (ret < 0)
		return ret;
	ret = pthread_create(&lb.thread, NULL, lb_device_thread, NULL);
	if (ret != 0) {
		vvu_dev_fini(&lb.dev);
		return -ret;
	}
	lb.running = true;
	return 0;
}

static void
lb_device_stop(void)
{
	if (lb.running) {
		eventfd_write(lb.stop_fd, 1);
		pthread_join(lb.thread, NULL);
		vvu_dev_fini(&lb.dev);
		lb.running = false;
	}
	if (lb.loop != NULL)
		vvu_dev_loop_destroy(lb.loop);
	lb.loop = NULL;
	if (lb.stop_fd >= 0)
		close(lb.stop_fd);
	lb.stop_fd = -1;
}

/* ---- struct vvu_drv_hw_ops straight onto the device model ---- */

static void
lb_shm_forget(void)
{
	unsigned int i;

	for (i = 0; i < lb.nr_shm; i++)
		close(lb.shm[i].fd);
	lb.nr_shm = 0;
}

static int
lb_open(struct vvu_drv_hw *hw)
{
	int ret = 0;

	if (strcmp(hw->addr, LB_ADDR) != 0)
		return -ENODEV;
	pthread_mutex_lock(&lb.lock);
	if (!lb.running || lb.open)
		ret = -EBUSY;
	else
		lb.open = true;
	pthread_mutex_unlock(&lb.lock);
	if (ret == 0)
		hw->priv = &lb;
	return ret;
}

/* What the device does when its vfio-user client leaves (vvu_dev_server.c). */
static void
lb_close(struct vvu_drv_hw *hw)
{
	if (hw->priv == NULL)
		return;
	pthread_mutex_lock(&lb.lock);
	vvu_dev_pci_reset(&lb.dev);
	vvu_dev_dma_unmap_all(&lb.dev.dma);
	vvu_dev_close_irq_fds(&lb.dev);
	lb_shm_forget();
	lb.open = false;
	pthread_mutex_unlock(&lb.lock);
	hw->priv = NULL;
}

static int
lb_cfg_read(struct vvu_drv_hw *hw, uint32_t off, void *buf, uint32_t len)
{
	int ret;

	if ((uint64_t)off + len > VVU_PCI_CFG_SIZE)
		return -EINVAL;
	pthread_mutex_lock(&lb.lock);
	ret = vvu_dev_cfg_read(&lb.dev, off, buf, len);
	pthread_mutex_unlock(&lb.lock);
	return ret;
}

static int
lb_cfg_write(struct vvu_drv_hw *hw, uint32_t off, const void *buf, uint32_t len)
{
	int ret;

	if ((uint64_t)off + len > VVU_PCI_CFG_SIZE)
		return -EINVAL;
	pthread_mutex_lock(&lb.lock);
	ret = vvu_dev_cfg_write(&lb.dev, off, buf, len);
	pthread_mutex_unlock(&lb.lock);
	return ret;
}

static int
lb_bar_size(struct vvu_drv_hw *hw, unsigned int bar, uint64_t *size)
{
	if (bar >= VVU_PCI_NUM_BARS)
		return -EINVAL;
	*size = vvu_dev_bar_size(&lb.dev, bar);
	return 0;
}

/* Only BAR0 has registers; BAR2 is reached through shm_map. */
static int
lb_bar_read(struct vvu_drv_hw *hw, unsigned int bar, uint64_t off, void *buf, uint32_t len)
{
	bool hook = false;
	uint32_t st;
	int ret;

	if (bar != 0)
		return -EINVAL;
	pthread_mutex_lock(&lb.lock);
	lb.bar_reads++;
	ret = vvu_dev_bar0_read(&lb.dev, off, buf, len);
	if (ret == 0 && lb.status_hook && off == VVU_BAR0_DEVCFG + VVU_CFG_STATUS && len == 4) {
		st = vvu_get32(buf);
		hook = (st & VVU_STATUS_BACKEND_UP) && !(st & VVU_STATUS_FRONTEND_UP);
		if (hook)
			lb.status_hook = false;
	}
	pthread_mutex_unlock(&lb.lock);
	if (hook)
		lb_status_read_hook();
	return ret;
}

static int
lb_bar_write(struct vvu_drv_hw *hw, unsigned int bar, uint64_t off, const void *buf,
	     uint32_t len)
{
	int ret;

	if (bar != 0)
		return -EINVAL;
	pthread_mutex_lock(&lb.lock);
	if (off >= VVU_BAR0_DRV_AUX && off < VVU_BAR0_DRV_AUX + VVU_DRV_AUX_LEN)
		lb.aux_vector_writes++;
	if (off == VVU_BAR0_NOTIFY + VVU_TXQ * VVU_NOTIFY_MULT)
		lb.txq_doorbells++;
	ret = vvu_dev_bar0_write(&lb.dev, off, buf, len);
	pthread_mutex_unlock(&lb.lock);
	return ret;
}

/* Take the device's BAR2 windows as they are now (fds duplicated). */
static int
lb_shm_refresh(struct vvu_drv_hw *hw, unsigned int bar)
{
	unsigned int i;
	int ret = 0;

	if (bar != 2)
		return -EINVAL;
	pthread_mutex_lock(&lb.lock);
	lb.shm_refreshes++;
	lb_shm_forget();
	for (i = 0; i < lb.dev.bar2.nr && i < RTE_DIM(lb.shm); i++) {
		const struct vvu_dev_window *w = &lb.dev.bar2.win[i];
		int fd = fcntl(w->fd, F_DUPFD_CLOEXEC, 0);

		if (fd < 0) {
			ret = -errno;
			lb_shm_forget();
			break;
		}
		lb.shm[i] = (struct lb_window){ .fd = fd, .fd_offset = w->fd_offset,
						.bar_offset = w->bar_offset, .size = w->size };
		lb.nr_shm = i + 1;
	}
	pthread_mutex_unlock(&lb.lock);
	return ret;
}

static void
lb_shm_release(struct vvu_drv_hw *hw)
{
	pthread_mutex_lock(&lb.lock);
	lb_shm_forget();
	pthread_mutex_unlock(&lb.lock);
}

static int
lb_shm_map(struct vvu_drv_hw *hw, unsigned int bar, uint64_t off, uint64_t len,
	   struct vvu_drv_shm_map *m)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), file_off, aligned, map_len;
	const struct lb_window *w = NULL;
	unsigned int i;
	struct stat st;
	int ret = 0;
	void *p;

	if (bar != 2 || len == 0)
		return -EINVAL;
	pthread_mutex_lock(&lb.lock);
	for (i = 0; i < lb.nr_shm; i++) {
		const struct lb_window *c = &lb.shm[i];

		if (off >= c->bar_offset && len <= c->size &&
		    off - c->bar_offset <= c->size - len) {
			w = c;
			break;
		}
	}
	if (w == NULL) {
		ret = -ENXIO;
		goto out;
	}
	file_off = w->fd_offset + (off - w->bar_offset);
	if (fstat(w->fd, &st) < 0 || file_off + len > (uint64_t)st.st_size) {
		ret = -EINVAL;
		goto out;
	}
	aligned = file_off & ~(page - 1);
	map_len = (len + (file_off - aligned) + page - 1) & ~(page - 1);
	p = mmap(NULL, (size_t)map_len, PROT_READ | PROT_WRITE, MAP_SHARED, w->fd,
		 (off_t)aligned);
	if (p == MAP_FAILED) {
		ret = -errno;
		goto out;
	}
	m->map = p;
	m->map_len = (size_t)map_len;
	m->va = (uint8_t *)p + (file_off - aligned);
out:
	pthread_mutex_unlock(&lb.lock);
	return ret;
}

static void
lb_shm_unmap(struct vvu_drv_hw *hw, struct vvu_drv_shm_map *m)
{
	if (m->map != NULL)
		munmap(m->map, m->map_len);
	m->map = NULL;
	m->map_len = 0;
	m->va = NULL;
}

static void
lb_msix_ctrl(uint16_t set, uint16_t clear)
{
	uint8_t b[2];

	vvu_dev_cfg_read(&lb.dev, VVU_CAP_MSIX + PCI_MSIX_FLAGS, b, 2);
	vvu_put16(b, (uint16_t)((vvu_get16(b) | set) & ~clear));
	vvu_dev_cfg_write(&lb.dev, VVU_CAP_MSIX + PCI_MSIX_FLAGS, b, 2);
}

/*
 * Vectors 0..count-1 to (duplicates of) efds, MSI-X on and those vectors
 * unmasked, as a vfio-user client programs them; count 0 turns it all off.
 */
static int
lb_set_irqs(struct vvu_drv_hw *hw, uint32_t count, const int *efds)
{
	int dups[VVU_MSIX_MAX];
	uint8_t zero[4] = { 0 };
	uint32_t i, n = 0;
	int ret = 0;

	pthread_mutex_lock(&lb.lock);
	if (count > lb.dev.nvec || (lb.no_irqs && count > 0)) {
		ret = lb.no_irqs ? -ENOTSUP : -EINVAL;
		goto out;
	}
	if (count > 0)
		lb.routes++;
	if (count == 0) {
		lb_msix_ctrl(0, PCI_MSIX_FLAGS_ENABLE);
		ret = vvu_dev_set_msix_fds(&lb.dev, 0, lb.dev.nvec, NULL);
		goto out;
	}
	for (n = 0; n < count; n++) {
		dups[n] = efds[n] >= 0 ? fcntl(efds[n], F_DUPFD_CLOEXEC, 0) : -1;
		if (efds[n] >= 0 && dups[n] < 0) {
			ret = -errno;
			goto out;
		}
	}
	ret = vvu_dev_set_msix_fds(&lb.dev, 0, count, dups);
	if (ret < 0)
		goto out;
	n = 0;	/* the device owns them now */
	lb_msix_ctrl(PCI_MSIX_FLAGS_ENABLE, PCI_MSIX_FLAGS_MASKALL);
	for (i = 0; i < count; i++)
		vvu_dev_bar0_write(&lb.dev, VVU_BAR0_MSIX_TABLE + i * PCI_MSIX_ENTRY_SIZE +
				   PCI_MSIX_ENTRY_VECTOR_CTRL, zero, sizeof(zero));
out:
	for (i = 0; i < n; i++)
		if (dups[i] >= 0)
			close(dups[i]);
	pthread_mutex_unlock(&lb.lock);
	return ret;
}

/* A memfd mapped here, and in the device's DMA table at IOVA = our VA. */
static int
lb_dma_alloc(struct vvu_drv_hw *hw, size_t len, struct vvu_drv_dma_mem *m)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t map_len = (len + page - 1) & ~(page - 1);
	int fd, dup, ret;
	void *p;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	fd = memfd_create("lb-rings", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)map_len) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	p = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		close(fd);
		return ret;
	}
	dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	pthread_mutex_lock(&lb.lock);
	ret = dup < 0 ? -errno : vvu_dev_dma_map(&lb.dev.dma, dup, 0, (uint64_t)(uintptr_t)p,
						  map_len, VVU_DMA_READ | VVU_DMA_WRITE);
	pthread_mutex_unlock(&lb.lock);
	if (ret < 0) {
		if (dup >= 0)
			close(dup);
		munmap(p, map_len);
		close(fd);
		return ret;
	}
	m->va = p;
	m->iova = (uint64_t)(uintptr_t)p;
	m->len = len;
	m->map = p;
	m->map_len = map_len;
	m->fd = fd;
	return 0;
}

static void
lb_dma_free(struct vvu_drv_hw *hw, struct vvu_drv_dma_mem *m)
{
	if (m->map != NULL) {
		/* gone already when the driver closed the device first */
		pthread_mutex_lock(&lb.lock);
		vvu_dev_dma_unmap(&lb.dev.dma, m->iova, m->map_len);
		pthread_mutex_unlock(&lb.lock);
		munmap(m->map, m->map_len);
	}
	if (m->fd >= 0)
		close(m->fd);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

/* No connection that could break: the device lives as long as the test. */
static int
lb_watch_fd(struct vvu_drv_hw *hw)
{
	return -1;
}

static int
lb_check_alive(struct vvu_drv_hw *hw)
{
	return 0;
}

static const struct vvu_drv_hw_ops lb_ops = {
	.name = "loopback",
	.mt_safe_write = false,
	.open = lb_open,
	.close = lb_close,
	.cfg_read = lb_cfg_read,
	.cfg_write = lb_cfg_write,
	.bar_size = lb_bar_size,
	.bar_read = lb_bar_read,
	.bar_write = lb_bar_write,
	.shm_refresh = lb_shm_refresh,
	.shm_release = lb_shm_release,
	.shm_map = lb_shm_map,
	.shm_unmap = lb_shm_unmap,
	.set_irqs = lb_set_irqs,
	.dma_alloc = lb_dma_alloc,
	.dma_free = lb_dma_free,
	.watch_fd = lb_watch_fd,
	.check_alive = lb_check_alive,
};

/* ---- the application's callbacks ---- */

static struct {
	int vid;
	int conns;
	int conns_closed;
	int devs;
	int devs_destroyed;
	int destroyed_ready;	/* destroy_device found BACKEND_UP set again */
} cb;

static int
cb_new_conn(int vid)
{
	__atomic_fetch_add(&cb.conns, 1, __ATOMIC_ACQ_REL);
	return 0;
}

static void
cb_destroy_conn(int vid)
{
	__atomic_fetch_add(&cb.conns_closed, 1, __ATOMIC_ACQ_REL);
}

static int
cb_new_dev(int vid)
{
	__atomic_store_n(&cb.vid, vid, __ATOMIC_RELEASE);
	__atomic_fetch_add(&cb.devs, 1, __ATOMIC_ACQ_REL);
	return 0;
}

static void
cb_destroy_dev(int vid)
{
	bool ready;

	/* The port must take the next front-end as soon as this returns. */
	pthread_mutex_lock(&lb.lock);
	ready = lb.dev.dev_status & VVU_STATUS_BACKEND_UP;
	pthread_mutex_unlock(&lb.lock);
	if (ready)
		__atomic_fetch_add(&cb.destroyed_ready, 1, __ATOMIC_ACQ_REL);
	__atomic_fetch_add(&cb.devs_destroyed, 1, __ATOMIC_ACQ_REL);
}

static const struct rte_vhost_device_ops cb_ops = {
	.new_device = cb_new_dev,
	.destroy_device = cb_destroy_dev,
	.new_connection = cb_new_conn,
	.destroy_connection = cb_destroy_conn,
};

static void
wait_counter(int *c, int want, const char *what)
{
	int64_t end = test_now_ms() + WAIT_MS;

	while (__atomic_load_n(c, __ATOMIC_ACQUIRE) < want && test_now_ms() < end)
		test_sleep_ms(5);
	TEST_ASSERT(__atomic_load_n(c, __ATOMIC_ACQUIRE) == want, "%s: %d, expected %d", what,
		    __atomic_load_n(c, __ATOMIC_ACQUIRE), want);
}

/* ---- the scripted front-end ---- */

struct fe {
	int sock;
	int mem_fd;
	uint8_t *mem;
	int kick[2];
	int call[2];
	uint16_t avail_idx[2];	/* what we published */
	uint16_t used_seen[2];	/* used entries we consumed */
	uint32_t next_pkt[2];	/* sequence number of the next packet */
};

static struct fe fe = { .sock = -1, .mem_fd = -1, .kick = { -1, -1 }, .call = { -1, -1 } };

static int
fe_send(uint32_t req, const void *payload, uint32_t size, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(VHOST_USER_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct vhost_user_msg m;
	struct msghdr mh = { 0 };
	struct iovec iov;

	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VHOST_USER_VERSION;
	m.hdr.size = size;
	if (size > 0)
		memcpy(&m.payload, payload, size);
	iov.iov_base = &m;
	iov.iov_len = VHOST_USER_HDR_SIZE + size;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	return sendmsg(fe.sock, &mh, MSG_NOSIGNAL) == (ssize_t)iov.iov_len ? 0 : -errno;
}

static int
fe_recv(void *buf, size_t len, int timeout_ms)
{
	size_t done = 0;

	while (done < len) {
		struct pollfd p = { .fd = fe.sock, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
		n = recv(fe.sock, (uint8_t *)buf + done, len - done, 0);
		if (n <= 0)
			return -ECONNRESET;
		done += (size_t)n;
	}
	return 0;
}

/* A request with a u64 reply. */
static int
fe_reply_u64(uint32_t req, uint64_t *v, int timeout_ms)
{
	struct vhost_user_hdr h;
	int ret = fe_recv(&h, sizeof(h), timeout_ms);

	if (ret < 0)
		return ret;
	if (h.request != req || !(h.flags & VHOST_USER_REPLY_MASK) || h.size != sizeof(*v))
		return -EPROTO;
	return fe_recv(v, sizeof(*v), timeout_ms);
}

static int
fe_get_u64(uint32_t req, uint64_t *v, int timeout_ms)
{
	int ret = fe_send(req, NULL, 0, NULL, 0);

	return ret < 0 ? ret : fe_reply_u64(req, v, timeout_ms);
}

static void
fe_send_ok(uint32_t req, const void *payload, uint32_t size, const int *fds, int nfds)
{
	int ret = fe_send(req, payload, size, fds, nfds);

	TEST_ASSERT(ret == 0, "sending request %u: %s", req, strerror(-ret));
}

/* Connect fe.sock to the device's front-end socket: 0 or -errno (fe.sock -1). */
static int
fe_dial(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int ret;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", fe_path);
	fe.sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fe.sock < 0)
		return -errno;
	if (connect(fe.sock, (struct sockaddr *)&a, sizeof(a)) == 0)
		return 0;
	ret = -errno;
	close(fe.sock);
	fe.sock = -1;
	return ret;
}

/*
 * Connect and get GET_FEATURES answered through device and driver. The
 * device accepts only while the driver has it ready; a connection made
 * before waits in its backlog, one made while it resets is dropped.
 */
static uint64_t
fe_connect(void)
{
	int64_t end = test_now_ms() + WAIT_MS;
	uint64_t features;

	while (test_now_ms() < end) {
		if (fe_dial() == 0 &&
		    fe_get_u64(VHOST_USER_GET_FEATURES, &features, (int)(end - test_now_ms())) == 0)
			return features;
		if (fe.sock >= 0)
			close(fe.sock);
		fe.sock = -1;
		test_sleep_ms(20);
	}
	TEST_ASSERT(0, "no answer to GET_FEATURES through the device");
	return 0;
}

static uint64_t
fe_gpa(uint32_t off)
{
	return FE_GPA + off;
}

static uint64_t
fe_uaddr(uint32_t off)
{
	return (uint64_t)(uintptr_t)(fe.mem + off);
}

static struct vring_desc *
fe_desc(int q)
{
	return (struct vring_desc *)(void *)(fe.mem + fe_layout[q].desc);
}

static struct vring_avail *
fe_avail(int q)
{
	return (struct vring_avail *)(void *)(fe.mem + fe_layout[q].avail);
}

static struct vring_used *
fe_used(int q)
{
	return (struct vring_used *)(void *)(fe.mem + fe_layout[q].used);
}

static uint8_t *
fe_buf(int q, uint16_t slot)
{
	return fe.mem + fe_layout[q].bufs + (size_t)slot * BUF_LEN;
}

static uint32_t
pkt_len(uint32_t k)
{
	return 60 + (k * 131) % 1440;
}

static uint8_t
pkt_byte(uint32_t k, uint32_t j)
{
	return (uint8_t)(k * 31 + j * 7 + 3);
}

static void
fe_release(void)
{
	unsigned int q;

	if (fe.sock >= 0)
		close(fe.sock);
	if (fe.mem != NULL)
		munmap(fe.mem, FE_MEM_SIZE);
	if (fe.mem_fd >= 0)
		close(fe.mem_fd);
	for (q = 0; q < 2; q++) {
		if (fe.kick[q] >= 0)
			close(fe.kick[q]);
		if (fe.call[q] >= 0)
			close(fe.call[q]);
	}
	memset(&fe, 0, sizeof(fe));
	fe.sock = fe.mem_fd = -1;
	fe.kick[0] = fe.kick[1] = fe.call[0] = fe.call[1] = -1;
}

/* The whole handshake of a front-end with one queue pair; new_device() follows. */
static void
fe_session_up(int devs_before)
{
	struct vhost_user_memory mem = { .nregions = 1 };
	uint64_t features, u64;
	unsigned int q;

	fe.mem_fd = memfd_create("lb-frontend", MFD_CLOEXEC);
	TEST_ASSERT(fe.mem_fd >= 0 && ftruncate(fe.mem_fd, FE_MEM_SIZE) == 0);
	fe.mem = mmap(NULL, FE_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fe.mem_fd, 0);
	TEST_ASSERT(fe.mem != MAP_FAILED, "mmap: %s", strerror(errno));
	for (q = 0; q < 2; q++) {
		fe.kick[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		fe.call[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		TEST_ASSERT(fe.kick[q] >= 0 && fe.call[q] >= 0);
	}
	features = fe_connect();
	TEST_ASSERT(features & (1ULL << VIRTIO_F_VERSION_1), "features 0x%llx",
		    (unsigned long long)features);
	fe_send_ok(VHOST_USER_SET_OWNER, NULL, 0, NULL, 0);
	/* VERSION_1 alone: 12-byte headers, no offloads, no protocol features */
	u64 = 1ULL << VIRTIO_F_VERSION_1;
	fe_send_ok(VHOST_USER_SET_FEATURES, &u64, sizeof(u64), NULL, 0);
	mem.regions[0] = (struct vhost_user_mem_region){ .guest_phys_addr = FE_GPA,
		.memory_size = FE_MEM_SIZE, .userspace_addr = fe_uaddr(0), .mmap_offset = 0 };
	fe_send_ok(VHOST_USER_SET_MEM_TABLE, &mem,
		   offsetof(struct vhost_user_memory, regions[1]), &fe.mem_fd, 1);
	for (q = 0; q < 2; q++) {
		struct vhost_user_vring_state st = { .index = q, .num = QSZ };
		struct vhost_user_vring_addr a = {
			.index = q,
			.desc_user_addr = fe_uaddr(fe_layout[q].desc),
			.used_user_addr = fe_uaddr(fe_layout[q].used),
			.avail_user_addr = fe_uaddr(fe_layout[q].avail),
		};

		u64 = q;
		fe_send_ok(VHOST_USER_SET_VRING_CALL, &u64, sizeof(u64), &fe.call[q], 1);
		fe_send_ok(VHOST_USER_SET_VRING_NUM, &st, sizeof(st), NULL, 0);
		st.num = 0;
		fe_send_ok(VHOST_USER_SET_VRING_BASE, &st, sizeof(st), NULL, 0);
		fe_send_ok(VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
		/* without PROTOCOL_FEATURES the kick enables the vring */
		fe_send_ok(VHOST_USER_SET_VRING_KICK, &u64, sizeof(u64), &fe.kick[q], 1);
	}
	TEST_ASSERT_EQ(fe_get_u64(VHOST_USER_GET_FEATURES, &u64, WAIT_MS), 0);
	wait_counter(&cb.devs, devs_before + 1, "new_device calls");
}

static void
fe_session_down(int destroyed_before)
{
	close(fe.sock);
	fe.sock = -1;
	wait_counter(&cb.devs_destroyed, destroyed_before + 1, "destroy_device calls");
	wait_counter(&cb.conns_closed, __atomic_load_n(&cb.conns, __ATOMIC_ACQUIRE),
		     "destroy_connection calls");
	fe_release();
}

/* Wait until the library published used->idx == want on vring q. */
static void
fe_wait_used(int q, uint16_t want)
{
	int64_t end = test_now_ms() + WAIT_MS;
	uint16_t got;

	while ((got = __atomic_load_n(&fe_used(q)->idx, __ATOMIC_ACQUIRE)) != want &&
	       test_now_ms() < end)
		test_sleep_ms(1);
	TEST_ASSERT_EQ(got, want);
}

static void
fe_publish(int q, uint16_t n)
{
	fe.avail_idx[q] = (uint16_t)(fe.avail_idx[q] + n);
	__atomic_store_n(&fe_avail(q)->idx, fe.avail_idx[q], __ATOMIC_RELEASE);
}

/* One burst front-end -> library: exact packets out of dequeue, used in order. */
static void
tx_round(int vid)
{
	struct rte_mbuf *pkts[BURST + 1];
	uint16_t first = fe.avail_idx[TX_VRING];
	int64_t end = test_now_ms() + WAIT_MS;
	unsigned int got = 0, i;

	for (i = 0; i < BURST; i++) {
		uint16_t slot = (uint16_t)((first + i) % QSZ);
		uint32_t k = fe.next_pkt[TX_VRING] + i, j;
		uint8_t *b = fe_buf(TX_VRING, slot);

		memset(b, 0, NET_HDR_LEN);
		for (j = 0; j < pkt_len(k); j++)
			b[NET_HDR_LEN + j] = pkt_byte(k, j);
		fe_desc(TX_VRING)[slot] = (struct vring_desc){
			.addr = fe_gpa(fe_layout[TX_VRING].bufs + slot * BUF_LEN),
			.len = NET_HDR_LEN + pkt_len(k) };
		fe_avail(TX_VRING)->ring[slot] = slot;
	}
	fe_publish(TX_VRING, BURST);
	while (got < BURST && test_now_ms() < end) {
		uint16_t n = rte_vhost_dequeue_burst(vid, TX_VRING, pool, pkts + got,
						     (uint16_t)(BURST + 1 - got));

		got += n;
		if (n == 0)
			test_sleep_ms(1);
	}
	TEST_ASSERT_EQ(got, BURST);
	for (i = 0; i < got; i++) {
		uint32_t k = fe.next_pkt[TX_VRING] + i, j;
		uint8_t copy[BUF_LEN];
		const uint8_t *d;
		bool same = true;

		if (rte_pktmbuf_pkt_len(pkts[i]) != pkt_len(k)) {
			rte_pktmbuf_free_bulk(pkts, got);
			TEST_ASSERT(0, "packet %u: %u bytes, sent %u", k,
				    rte_pktmbuf_pkt_len(pkts[i]), pkt_len(k));
		}
		d = rte_pktmbuf_read(pkts[i], 0, pkt_len(k), copy);
		for (j = 0; d != NULL && j < pkt_len(k) && same; j++)
			same = d[j] == pkt_byte(k, j);
		if (d == NULL || !same) {
			rte_pktmbuf_free_bulk(pkts, got);
			TEST_ASSERT(0, "packet %u: bytes differ at %u", k, j - 1);
		}
	}
	rte_pktmbuf_free_bulk(pkts, got);
	/* nothing more than what was posted */
	TEST_ASSERT_EQ(rte_vhost_dequeue_burst(vid, TX_VRING, pool, pkts, 1), 0);
	fe_wait_used(TX_VRING, fe.avail_idx[TX_VRING]);
	for (i = 0; i < BURST; i++) {
		uint16_t u = (uint16_t)((fe.used_seen[TX_VRING] + i) % QSZ);

		TEST_ASSERT_EQ(fe_used(TX_VRING)->ring[u].id, (first + i) % QSZ);
	}
	fe.used_seen[TX_VRING] = fe.avail_idx[TX_VRING];
	fe.next_pkt[TX_VRING] += BURST;
}

/* One burst library -> front-end: exact packets in the RX buffers. */
static void
rx_round(int vid)
{
	struct rte_mbuf *pkts[BURST];
	uint16_t first = fe.avail_idx[RX_VRING];
	uint16_t sent;
	unsigned int i;

	for (i = 0; i < BURST; i++) {
		uint16_t slot = (uint16_t)((first + i) % QSZ);

		memset(fe_buf(RX_VRING, slot), 0xee, BUF_LEN);
		fe_desc(RX_VRING)[slot] = (struct vring_desc){
			.addr = fe_gpa(fe_layout[RX_VRING].bufs + slot * BUF_LEN),
			.len = BUF_LEN, .flags = VRING_DESC_F_WRITE };
		fe_avail(RX_VRING)->ring[slot] = slot;
	}
	fe_publish(RX_VRING, BURST);
	TEST_ASSERT_EQ(rte_pktmbuf_alloc_bulk(pool, pkts, BURST), 0);
	for (i = 0; i < BURST; i++) {
		uint32_t k = fe.next_pkt[RX_VRING] + i, j;
		uint8_t *d = (uint8_t *)rte_pktmbuf_append(pkts[i], (uint16_t)pkt_len(k));

		if (d == NULL)
			break;
		for (j = 0; j < pkt_len(k); j++)
			d[j] = pkt_byte(k, j);
	}
	if (i < BURST) {
		rte_pktmbuf_free_bulk(pkts, BURST);
		TEST_ASSERT(0, "mbuf too small for packet %u", fe.next_pkt[RX_VRING] + i);
	}
	sent = rte_vhost_enqueue_burst(vid, RX_VRING, pkts, BURST);
	/* the ring is out of buffers now: one more finds no room */
	sent += rte_vhost_enqueue_burst(vid, RX_VRING, pkts, 1);
	rte_pktmbuf_free_bulk(pkts, BURST);
	TEST_ASSERT_EQ(sent, BURST);
	fe_wait_used(RX_VRING, fe.avail_idx[RX_VRING]);
	for (i = 0; i < BURST; i++) {
		uint16_t u = (uint16_t)((fe.used_seen[RX_VRING] + i) % QSZ);
		const struct vring_used_elem *e = &fe_used(RX_VRING)->ring[u];
		uint32_t k = fe.next_pkt[RX_VRING] + i, j;
		const uint8_t *b = fe_buf(RX_VRING, (uint16_t)e->id);

		TEST_ASSERT_EQ(e->id, (first + i) % QSZ);
		TEST_ASSERT(e->len == NET_HDR_LEN + pkt_len(k), "packet %u: used len %u, sent %u",
			    k, e->len, NET_HDR_LEN + pkt_len(k));
		for (j = 0; j < pkt_len(k); j++)
			TEST_ASSERT(b[NET_HDR_LEN + j] == pkt_byte(k, j),
				    "packet %u: byte %u differs", k, j);
		TEST_ASSERT(b[NET_HDR_LEN + pkt_len(k)] == 0xee, "packet %u: written past it", k);
	}
	fe.used_seen[RX_VRING] = fe.avail_idx[RX_VRING];
	fe.next_pkt[RX_VRING] += BURST;
}

static int
vid_now(void)
{
	TEST_ASSERT(attached, "no front-end session (an earlier case failed)");
	return __atomic_load_n(&cb.vid, __ATOMIC_ACQUIRE);
}

/* Whether fd becomes readable within ms; its counter is consumed. */
static bool
fd_fires(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, ms) <= 0)
		return false;
	return read(fd, &v, sizeof(v)) == sizeof(v) && v > 0;
}

static void
drain(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) == sizeof(v))
		;
}

/* The driver's request counters, read under the device lock. */
struct lb_requests {
	unsigned int aux_vector_writes;
	unsigned int txq_doorbells;
	unsigned int shm_refreshes;
};

static struct lb_requests
lb_requests_now(void)
{
	struct lb_requests r;

	pthread_mutex_lock(&lb.lock);
	r = (struct lb_requests){ .aux_vector_writes = lb.aux_vector_writes,
				  .txq_doorbells = lb.txq_doorbells,
				  .shm_refreshes = lb.shm_refreshes };
	pthread_mutex_unlock(&lb.lock);
	return r;
}

/* Wait until the driver attached: it set BACKEND_UP last. */
static void
wait_backend_up(void)
{
	int64_t end = test_now_ms() + WAIT_MS;
	uint32_t st = 0;

	while (test_now_ms() < end) {
		pthread_mutex_lock(&lb.lock);
		st = lb.dev.dev_status;
		pthread_mutex_unlock(&lb.lock);
		if (st & VVU_STATUS_BACKEND_UP)
			return;
		test_sleep_ms(1);
	}
	TEST_ASSERT(0, "the driver did not attach (device status 0x%x)", st);
}

/* ---- cases ---- */

/* The device model, and our driver on it as the back-end of LB_PATH. */
static void
lb_backend_start(void)
{
	int ret;

	/* request_bursts_cost_one_interrupt may have failed with a long window */
	vvu_drv_set_rx_linger_us(VVU_DRV_RX_LINGER_US);
	ret = lb_device_start();

	TEST_ASSERT(ret == 0, "device: %s", strerror(-ret));
	TEST_ASSERT_EQ(rte_vhost_driver_register(LB_PATH, 0), 0);
	registered = true;
	TEST_ASSERT_EQ(rte_vhost_driver_callback_register(LB_PATH, &cb_ops), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_start(LB_PATH), 0);
}

/*
 * Also: what a front-end's first connection costs the driver that a later
 * one does not is done at attach. The kick vectors of the first eight
 * queues are programmed before any front-end (no driver aux write in the
 * session), and BAR2 is read once, for the one SET_MEM_TABLE, not also
 * when the front-end arrives.
 */
TEST_CASE(driver_serves_frontend_through_device_model)
{
	struct lb_requests before, after;
	uint16_t vec[LB_QUEUES];
	unsigned int i;

	memset(&cb, 0, sizeof(cb));
	fd_base = test_count_fds();
	lb_backend_start();
	wait_backend_up();
	pthread_mutex_lock(&lb.lock);
	memcpy(vec, lb.dev.aux_vector, sizeof(vec));
	pthread_mutex_unlock(&lb.lock);
	for (i = 0; i < LB_QUEUES; i++)
		TEST_ASSERT(vec[i] == 2 + i, "queue %u: kick vector %u before any front-end",
			    i, vec[i]);
	before = lb_requests_now();
	fe_session_up(0);
	after = lb_requests_now();
	TEST_ASSERT_EQ(__atomic_load_n(&cb.conns, __ATOMIC_ACQUIRE), 1);
	attached = true;
	TEST_ASSERT_EQ(after.aux_vector_writes - before.aux_vector_writes, 0);
	TEST_ASSERT_EQ(after.shm_refreshes - before.shm_refreshes, 1);
}

/*
 * What keeps a handshake short over vfio-user, where every register access
 * is a round trip: rxq and txq interrupt on their own vector (1), so the
 * driver reads no status register per message, configuration changes on
 * vector 0; with rxq buffers at hand the device wants no rxq doorbell; and
 * the first kick vectors were routed at attach, so the front-end's
 * SET_VRING_KICKs routed nothing (one set_irqs in all).
 */
TEST_CASE(message_path_needs_no_register_access)
{
	const uint16_t *flags;
	uint16_t cfg, rxv, txv, f;
	unsigned int routes;

	pthread_mutex_lock(&lb.lock);
	routes = lb.routes;
	cfg = lb.dev.msix_config;
	rxv = lb.dev.vq[VVU_RXQ].msix_vector;
	txv = lb.dev.vq[VVU_TXQ].msix_vector;
	flags = vvu_dev_dma_translate(&lb.dev.dma, lb.dev.vq[VVU_RXQ].used, 2, VVU_DMA_READ);
	f = flags != NULL ? __atomic_load_n(flags, __ATOMIC_ACQUIRE) : 0;
	pthread_mutex_unlock(&lb.lock);
	TEST_ASSERT_EQ(routes, 1);
	TEST_ASSERT_EQ(cfg, 0);
	TEST_ASSERT_EQ(rxv, 1);
	TEST_ASSERT_EQ(txv, 1);
	TEST_ASSERT(flags != NULL, "rxq used ring not mapped");
	TEST_ASSERT(f & VRING_USED_F_NO_NOTIFY, "rxq used flags 0x%x: doorbells wanted", f);
}

TEST_CASE(frontend_tx_comes_out_of_dequeue_exactly)
{
	int vid = vid_now();
	unsigned int r;

	for (r = 0; r < ROUNDS; r++)
		tx_round(vid);
	TEST_ASSERT_EQ(fe.next_pkt[TX_VRING], ROUNDS * BURST);
}

TEST_CASE(enqueue_lands_in_frontend_rx_exactly)
{
	int vid = vid_now();
	unsigned int r;

	for (r = 0; r < ROUNDS; r++)
		rx_round(vid);
	TEST_ASSERT_EQ(fe.next_pkt[RX_VRING], ROUNDS * BURST);
}

/* A front-end kick on each vring wakes the kickfd the library has for it. */
static void
kicks_reach_kickfds(int vid)
{
	uint16_t q;

	for (q = 0; q < 2; q++) {
		struct rte_vhost_vring vr;

		TEST_ASSERT_EQ(rte_vhost_get_vhost_vring(vid, q, &vr), 0);
		TEST_ASSERT(vr.kickfd >= 0, "vring %u has no kick eventfd", q);
		drain(vr.kickfd);
		TEST_ASSERT(!fd_fires(vr.kickfd, 50), "vring %u woke without a kick", q);
		TEST_ASSERT_EQ(eventfd_write(fe.kick[q], 1), 0);
		TEST_ASSERT(fd_fires(vr.kickfd, WAIT_MS), "vring %u: kick did not arrive", q);
	}
}

TEST_CASE(frontend_kick_wakes_library_kickfd)
{
	kicks_reach_kickfds(vid_now());
}

TEST_CASE(vring_call_reaches_frontend_unless_suppressed)
{
	int vid = vid_now();

	drain(fe.call[RX_VRING]);
	drain(fe.call[TX_VRING]);
	fe_avail(RX_VRING)->flags = 0;
	TEST_ASSERT_EQ(rte_vhost_vring_call(vid, RX_VRING), 0);
	TEST_ASSERT(fd_fires(fe.call[RX_VRING], WAIT_MS), "call did not arrive");
	/* suppressed on RX; the TX call after it shows the doorbells were flushed */
	__atomic_store_n(&fe_avail(RX_VRING)->flags, VRING_AVAIL_F_NO_INTERRUPT,
			 __ATOMIC_RELEASE);
	fe_avail(TX_VRING)->flags = 0;
	TEST_ASSERT_EQ(rte_vhost_vring_call(vid, RX_VRING), 0);
	TEST_ASSERT_EQ(rte_vhost_vring_call(vid, TX_VRING), 0);
	TEST_ASSERT(fd_fires(fe.call[TX_VRING], WAIT_MS), "TX call did not arrive");
	TEST_ASSERT(!fd_fires(fe.call[RX_VRING], 50), "suppressed call arrived");
	fe_avail(RX_VRING)->flags = 0;
}

/*
 * Replies to messages handled in one rxq batch share one txq doorbell: four
 * GET_FEATURES sent while the device is held reach rxq in one turn of its
 * loop, so the driver sees at most two batches (the first may start after
 * one message). Every reply must still arrive, in order.
 */
TEST_CASE(replies_of_one_batch_share_a_doorbell)
{
	struct lb_requests before, after;
	struct vhost_user_hdr h;
	unsigned int i;
	uint64_t v;

	vid_now();
	before = lb_requests_now();
	pthread_mutex_lock(&lb.lock);
	for (i = 0; i < 4; i++) {
		if (fe_send(VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0) != 0)
			break;
	}
	pthread_mutex_unlock(&lb.lock);
	TEST_ASSERT_EQ(i, 4);
	for (i = 0; i < 4; i++) {
		TEST_ASSERT_EQ(fe_recv(&h, sizeof(h), WAIT_MS), 0);
		TEST_ASSERT(h.request == VHOST_USER_GET_FEATURES &&
			    (h.flags & VHOST_USER_REPLY_MASK) && h.size == sizeof(v),
			    "reply %u: request %u flags 0x%x size %u", i, h.request, h.flags,
			    h.size);
		TEST_ASSERT_EQ(fe_recv(&v, sizeof(v), WAIT_MS), 0);
		TEST_ASSERT(v & (1ULL << VIRTIO_F_VERSION_1), "reply %u: features 0x%llx", i,
			    (unsigned long long)v);
	}
	after = lb_requests_now();
	TEST_ASSERT(after.txq_doorbells - before.txq_doorbells >= 1 &&
		    after.txq_doorbells - before.txq_doorbells <= 2,
		    "%u txq doorbells for 4 replies",
		    after.txq_doorbells - before.txq_doorbells);
}

/* Interrupts the device raised so far, and rxq's avail flags (the driver's wish). */
static void
lb_irq_state(uint64_t *interrupts, uint16_t *rx_avail_flags)
{
	const uint16_t *f;

	pthread_mutex_lock(&lb.lock);
	*interrupts = lb.dev.interrupts;
	f = vvu_dev_dma_translate(&lb.dev.dma, lb.dev.vq[VVU_RXQ].avail, 2, VVU_DMA_READ);
	*rx_avail_flags = f != NULL ? __atomic_load_n(f, __ATOMIC_ACQUIRE) : 0xffff;
	pthread_mutex_unlock(&lb.lock);
}

/* Wait until the driver asks for rxq interrupts again (it is not lingering). */
static void
lb_wait_rx_interrupts_on(void)
{
	int64_t end = test_now_ms() + WAIT_MS;
	uint64_t irqs;
	uint16_t flags;

	do {
		lb_irq_state(&irqs, &flags);
		if (!(flags & VRING_AVAIL_F_NO_INTERRUPT))
			return;
		test_sleep_ms(1);
	} while (test_now_ms() < end);
	TEST_ASSERT(0, "rxq interrupts stay off (avail flags 0x%x)", flags);
}

/*
 * What a request costs in interrupts. txq never interrupts: the driver
 * takes its buffers back when a reply needs one, so a request and its reply
 * cost the one rxq interrupt. Once requests come close together, the
 * driver watches rxq a while after each batch with that interrupt off
 * (VRING_AVAIL_F_NO_INTERRUPT), so the rest of a burst costs none; it turns
 * it on again before it sleeps, and does not linger after a lone request.
 * The window is stretched to 0.5 s here, so that the test does not
 * depend on the machine's speed.
 */
TEST_CASE(request_bursts_cost_one_interrupt)
{
	uint64_t i0, i1, v;
	uint16_t flags;
	unsigned int k;

	vid_now();
	vvu_drv_set_rx_linger_us(0);
	lb_wait_rx_interrupts_on();
	for (k = 0; k < 3; k++) {
		lb_irq_state(&i0, &flags);
		TEST_ASSERT_EQ(fe_get_u64(VHOST_USER_GET_FEATURES, &v, WAIT_MS), 0);
		lb_irq_state(&i1, &flags);
		TEST_ASSERT(i1 - i0 == 1, "request %u: %llu interrupts", k,
			    (unsigned long long)(i1 - i0));
		TEST_ASSERT(!(flags & VRING_AVAIL_F_NO_INTERRUPT),
			    "no lingering, yet rxq interrupts are off");
	}
	vvu_drv_set_rx_linger_us(500 * 1000);
	TEST_ASSERT_EQ(fe_get_u64(VHOST_USER_GET_FEATURES, &v, WAIT_MS), 0);
	lb_irq_state(&i0, &flags);
	TEST_ASSERT(flags & VRING_AVAIL_F_NO_INTERRUPT, "rxq interrupts on while lingering");
	for (k = 0; k < 4; k++)
		TEST_ASSERT_EQ(fe_get_u64(VHOST_USER_GET_FEATURES, &v, WAIT_MS), 0);
	lb_irq_state(&i1, &flags);
	TEST_ASSERT(i1 == i0, "%llu interrupts for 4 requests within the window",
		    (unsigned long long)(i1 - i0));
	/*
	 * The window running (0.5 s, read when the turn began) passes empty:
	 * rxq interrupts on again before the driver sleeps.
	 */
	vvu_drv_set_rx_linger_us(50 * 1000);
	lb_wait_rx_interrupts_on();
	/* a lone request, long after the last: one interrupt, and no lingering */
	test_sleep_ms(200);
	lb_irq_state(&i0, &flags);
	TEST_ASSERT_EQ(fe_get_u64(VHOST_USER_GET_FEATURES, &v, WAIT_MS), 0);
	lb_irq_state(&i1, &flags);
	TEST_ASSERT(i1 - i0 == 1, "%llu interrupts for a request after the window",
		    (unsigned long long)(i1 - i0));
	TEST_ASSERT(!(flags & VRING_AVAIL_F_NO_INTERRUPT), "lingering after a lone request");
	vvu_drv_set_rx_linger_us(VVU_DRV_RX_LINGER_US);
}

/*
 * A front-end (or a device) with a message every window must not keep the
 * driver lingering for good: one turn of the event loop lingers ten
 * windows at most, then rxq's interrupt is on again and the next message
 * raises one. 20 ms windows, requests back to back for 0.6 s: a few
 * interrupts (about one per 200 ms turn), far fewer than requests.
 */
TEST_CASE(lingering_ends_with_its_turn)
{
	uint64_t i0, i1, v;
	unsigned int reqs = 0;
	uint16_t flags;
	int64_t end;

	vid_now();
	vvu_drv_set_rx_linger_us(20 * 1000);
	lb_wait_rx_interrupts_on();
	lb_irq_state(&i0, &flags);
	end = test_now_ms() + 600;
	while (test_now_ms() < end || reqs < 100) {
		TEST_ASSERT_EQ(fe_get_u64(VHOST_USER_GET_FEATURES, &v, WAIT_MS), 0);
		reqs++;
	}
	lb_irq_state(&i1, &flags);
	vvu_drv_set_rx_linger_us(VVU_DRV_RX_LINGER_US);
	TEST_ASSERT(i1 - i0 >= 3 && i1 - i0 < reqs / 2, "%llu interrupts for %u requests",
		    (unsigned long long)(i1 - i0), reqs);
	lb_wait_rx_interrupts_on();
}

/*
 * Lingering starts when a message comes within a window of the last one
 * handled, not of the end of the last (empty) window: requests 450 ms
 * apart with 300 ms windows cost an interrupt each and no lingering, even
 * right after a burst that lingered. Stamping the end of the turn instead
 * made every such request linger a whole empty window. Each request waits
 * until the driver is no longer lingering, so a late thread does not pick
 * it up inside a window.
 */
TEST_CASE(spaced_requests_do_not_linger)
{
	uint64_t i0, i1, v;
	uint16_t flags;
	unsigned int k;
	int64_t t;

	vid_now();
	vvu_drv_set_rx_linger_us(300 * 1000);
	lb_wait_rx_interrupts_on();
	/* a burst: the second request comes within the window of the first */
	TEST_ASSERT_EQ(fe_get_u64(VHOST_USER_GET_FEATURES, &v, WAIT_MS), 0);
	TEST_ASSERT_EQ(fe_get_u64(VHOST_USER_GET_FEATURES, &v, WAIT_MS), 0);
	t = test_now_ms();
	lb_irq_state(&i0, &flags);
	TEST_ASSERT(flags & VRING_AVAIL_F_NO_INTERRUPT, "no lingering within a burst");
	for (k = 0; k < 4; k++) {
		lb_wait_rx_interrupts_on();
		if (test_now_ms() < t + 450)
			test_sleep_ms((int)(t + 450 - test_now_ms()));
		lb_irq_state(&i0, &flags);
		TEST_ASSERT_EQ(fe_get_u64(VHOST_USER_GET_FEATURES, &v, WAIT_MS), 0);
		t = test_now_ms();
		lb_irq_state(&i1, &flags);
		TEST_ASSERT(!(flags & VRING_AVAIL_F_NO_INTERRUPT),
			    "request %u, 450 ms after the last: lingering", k);
		TEST_ASSERT(i1 - i0 == 1, "request %u: %llu interrupts", k,
			    (unsigned long long)(i1 - i0));
	}
	vvu_drv_set_rx_linger_us(VVU_DRV_RX_LINGER_US);
	lb_wait_rx_interrupts_on();
}

/*
 * rxq buffers go back to the device as they are read, so a full ring
 * could keep the driver in one pass; a pass ends after 64 messages, and
 * the driver raises its own interrupt for the rest, whose interrupts came
 * before it read the last one. Here all of them do: rxq's vector is masked
 * while the device fills the 128 rxq buffers with requests, then unmasked
 * (one pending interrupt). With linger windows of 0 and 100 us, every
 * reply must come, in order (two kinds of request, alternating).
 */
#define LB_RXQ_FILL	VVU_VQ_MAX_SIZE

static uint32_t
lb_alternate_req(unsigned int i)
{
	return i % 2 ? VHOST_USER_GET_PROTOCOL_FEATURES : VHOST_USER_GET_FEATURES;
}

TEST_CASE(long_request_burst_is_served_in_passes)
{
	static const unsigned int windows[] = { 0, VVU_DRV_RX_LINGER_US };
	unsigned int i, w, vec;
	uint16_t used0, filled;
	int64_t end;
	uint64_t v;
	int ret;

	vid_now();
	for (w = 0; w < RTE_DIM(windows); w++) {
		vvu_drv_set_rx_linger_us(windows[w]);
		lb_wait_rx_interrupts_on();
		pthread_mutex_lock(&lb.lock);
		vec = lb.dev.vq[VVU_RXQ].msix_vector;
		if (vec < lb.dev.nvec)
			lb.dev.irq_masked[vec] = true;
		used0 = lb.dev.vq[VVU_RXQ].used_idx;
		for (i = 0; vec < lb.dev.nvec && i < LB_RXQ_FILL; i++) {
			if (fe_send(lb_alternate_req(i), NULL, 0, NULL, 0) != 0)
				break;
		}
		pthread_mutex_unlock(&lb.lock);
		TEST_ASSERT(vec < lb.dev.nvec, "rxq has no interrupt vector (%u)", vec);
		/* the device fills rxq; its interrupts wait in the pending bits */
		end = test_now_ms() + WAIT_MS;
		do {
			pthread_mutex_lock(&lb.lock);
			filled = lb.dev.vq[VVU_RXQ].used_idx - used0;
			pthread_mutex_unlock(&lb.lock);
			if (filled >= LB_RXQ_FILL)
				break;
			test_sleep_ms(1);
		} while (test_now_ms() < end);
		pthread_mutex_lock(&lb.lock);
		lb.dev.irq_masked[vec] = false;
		vvu_dev_msix_unmasked(&lb.dev, (uint16_t)vec);
		pthread_mutex_unlock(&lb.lock);
		TEST_ASSERT_EQ(i, LB_RXQ_FILL);
		TEST_ASSERT(filled == LB_RXQ_FILL, "window %u us: %u of %u requests in rxq",
			    windows[w], filled, LB_RXQ_FILL);
		for (i = 0; i < LB_RXQ_FILL; i++) {
			ret = fe_reply_u64(lb_alternate_req(i), &v, WAIT_MS);
			TEST_ASSERT(ret == 0, "window %u us: reply %u of %u: %s", windows[w], i,
				    LB_RXQ_FILL, strerror(-ret));
		}
	}
	vvu_drv_set_rx_linger_us(VVU_DRV_RX_LINGER_US);
	lb_wait_rx_interrupts_on();
}

TEST_CASE(frontend_reconnect_gets_a_new_device)
{
	struct lb_requests before, after;
	int vid = vid_now();

	/* the last case may have failed with a long rxq window */
	vvu_drv_set_rx_linger_us(VVU_DRV_RX_LINGER_US);
	fe_session_down(0);
	attached = false;
	/* the vid of a gone connection names nothing any more */
	TEST_ASSERT(rte_vhost_get_vring_num(vid) == 0, "vid %d still has vrings", vid);
	before = lb_requests_now();
	fe_session_up(1);
	after = lb_requests_now();
	attached = true;
	TEST_ASSERT_EQ(after.aux_vector_writes - before.aux_vector_writes, 0);
	TEST_ASSERT_EQ(after.shm_refreshes - before.shm_refreshes, 1);
	vid = vid_now();
	tx_round(vid);
	rx_round(vid);
	/* Kick vectors are programmed once per attach: still routed. */
	kicks_reach_kickfds(vid);
	fe_session_down(1);
	attached = false;
	TEST_ASSERT_EQ(cb.conns, 2);
	/*
	 * A front-end that left: BACKEND_UP was set again before
	 * destroy_device, as over AF_UNIX the port is ready when it returns.
	 */
	TEST_ASSERT_EQ(__atomic_load_n(&cb.destroyed_ready, __ATOMIC_ACQUIRE), 2);
}

TEST_CASE(unregister_ends_with_the_fds_it_started_with)
{
	int n;

	TEST_ASSERT(fd_base >= 0, "the first case did not run");
	if (fe.sock >= 0)
		fe_session_down(cb.devs_destroyed);
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(LB_PATH), 0);
	registered = false;
	TEST_ASSERT(!lb.open, "the driver did not close the device");
	lb_device_stop();
	n = test_fds_settle(0, fd_base, WAIT_MS);
	TEST_ASSERT_EQ(n, fd_base);
}

/*
 * A device whose interrupts cannot be used (QEMU's proxy device has no
 * MSI-X): the driver says so once and polls it; handshake, traffic and
 * calls still work, and vrings have no kickfd (the application polls).
 */
TEST_CASE(device_without_interrupts_is_polled)
{
	struct rte_vhost_vring vr;
	int vid, base = test_count_fds();

	memset(&cb, 0, sizeof(cb));
	lb.no_irqs = true;
	lb_backend_start();
	fe_session_up(0);
	attached = true;
	vid = vid_now();
	tx_round(vid);
	rx_round(vid);
	TEST_ASSERT_EQ(rte_vhost_get_vhost_vring(vid, TX_VRING, &vr), 0);
	TEST_ASSERT(vr.kickfd < 0, "a kickfd without interrupts to drive it");
	drain(fe.call[TX_VRING]);
	fe_avail(TX_VRING)->flags = 0;
	TEST_ASSERT_EQ(rte_vhost_vring_call(vid, TX_VRING), 0);
	TEST_ASSERT(fd_fires(fe.call[TX_VRING], WAIT_MS), "call did not arrive");
	fe_session_down(0);
	attached = false;
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(LB_PATH), 0);
	registered = false;
	lb_device_stop();
	lb.no_irqs = false;
	TEST_ASSERT_EQ(test_fds_settle(0, base, WAIT_MS), base);
}

/*
 * The driver's read of the VVU status found no front-end; one arrives
 * right after it, and its first request is in rxq before the driver goes
 * on. Runs on the driver's thread, without the device lock.
 */
static bool hook_connected;

static void
lb_status_read_hook(void)
{
	int64_t end = test_now_ms() + WAIT_MS;
	uint64_t before, now;

	pthread_mutex_lock(&lb.lock);
	before = lb.dev.stats.rxq_msgs;
	pthread_mutex_unlock(&lb.lock);
	if (fe_dial() < 0 || fe_send(VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0) < 0)
		return;
	do {
		test_sleep_ms(1);
		pthread_mutex_lock(&lb.lock);
		now = lb.dev.stats.rxq_msgs;
		pthread_mutex_unlock(&lb.lock);
	} while (now == before && test_now_ms() < end);
	__atomic_store_n(&hook_connected, now != before, __ATOMIC_RELEASE);
}

/*
 * A polled device (QEMU's proxy device): the driver reads the status, sees
 * no front-end, then looks at rxq. A front-end that arrives in between
 * has its first request in rxq already: that request is the next
 * connection's, to be answered once the driver opens it, not dropped as
 * stale (its front-end would wait for the reply forever).
 */
TEST_CASE(polled_frontend_arriving_after_status_read_is_answered)
{
	int64_t end;
	uint64_t v = 0;
	int ret, base = test_count_fds();

	memset(&cb, 0, sizeof(cb));
	hook_connected = false;
	lb.no_irqs = true;
	lb_backend_start();
	wait_backend_up();
	pthread_mutex_lock(&lb.lock);
	lb.status_hook = true;
	pthread_mutex_unlock(&lb.lock);
	end = test_now_ms() + WAIT_MS;
	while (!__atomic_load_n(&hook_connected, __ATOMIC_ACQUIRE) && test_now_ms() < end)
		test_sleep_ms(1);
	TEST_ASSERT(__atomic_load_n(&hook_connected, __ATOMIC_ACQUIRE),
		    "no front-end request reached rxq after a status read");
	ret = fe_reply_u64(VHOST_USER_GET_FEATURES, &v, WAIT_MS);
	TEST_ASSERT(ret == 0, "no reply to GET_FEATURES: %s", strerror(-ret));
	TEST_ASSERT(v & (1ULL << VIRTIO_F_VERSION_1), "features 0x%llx", (unsigned long long)v);
	TEST_ASSERT_EQ(__atomic_load_n(&cb.conns, __ATOMIC_ACQUIRE), 1);
	close(fe.sock);
	fe.sock = -1;
	wait_counter(&cb.conns_closed, 1, "destroy_connection calls");
	fe_release();
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(LB_PATH), 0);
	registered = false;
	lb_device_stop();
	lb.no_irqs = false;
	TEST_ASSERT_EQ(test_fds_settle(0, base, WAIT_MS), base);
}

/* Resident memory of this process, in kB (-1 if /proc cannot tell). */
static long
lb_rss_kb(void)
{
	long size = 0, resident = -1;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

#define LB_CYCLES	1000
#define LB_WARM_CYCLES	10
#define LB_RSS_SLACK_KB	1024

/*
 * LB_CYCLES front-end sessions through the device model and the driver:
 * each a whole handshake with a fresh memfd, one burst each way, and a
 * close. With no session up, the fds at cycle LB_WARM_CYCLES and after the
 * last one are equal and the RSS grew at most LB_RSS_SLACK_KB (not checked
 * under ASan, whose quarantine keeps freed memory by design).
 */
TEST_CASE(thousand_sessions_leave_fds_and_rss_flat)
{
	int i, warm_fds = -1, end_fds, base = test_count_fds();
	long warm_rss = -1, end_rss;
	int64_t t0 = 0;
	bool asan = false;

#if defined(__SANITIZE_ADDRESS__)
	asan = true;
#endif
	memset(&cb, 0, sizeof(cb));
	lb_backend_start();
	for (i = 0; i < LB_CYCLES; i++) {
		fe_session_up(i);
		attached = true;
		tx_round(vid_now());
		rx_round(vid_now());
		fe_session_down(i);
		attached = false;
		if (i + 1 == LB_WARM_CYCLES) {
			test_sleep_ms(20);
			warm_fds = test_count_fds();
			warm_rss = lb_rss_kb();
			t0 = test_now_ms();
		}
	}
	end_fds = test_fds_settle(0, warm_fds, WAIT_MS);
	end_rss = lb_rss_kb();
	printf("# %d VVU sessions: %.2f ms per session (connect, handshake, %d packets each "
	       "way, close); fds %d at cycle %d, %d at cycle %d; RSS %ld kB at cycle %d, %ld kB "
	       "at cycle %d (%+ld kB, slack %d kB%s)\n", LB_CYCLES,
	       (double)(test_now_ms() - t0) / (LB_CYCLES - LB_WARM_CYCLES), BURST, warm_fds,
	       LB_WARM_CYCLES, end_fds, LB_CYCLES, warm_rss, LB_WARM_CYCLES, end_rss, LB_CYCLES,
	       end_rss - warm_rss, LB_RSS_SLACK_KB, asan ? ", not checked under ASan" : "");
	TEST_ASSERT_EQ(end_fds, warm_fds);
	TEST_ASSERT(warm_rss > 0 && end_rss > 0, "cannot read /proc/self/statm");
	if (!asan)
		TEST_ASSERT(end_rss - warm_rss <= LB_RSS_SLACK_KB, "RSS grew by %ld kB",
			    end_rss - warm_rss);
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(LB_PATH), 0);
	registered = false;
	lb_device_stop();
	TEST_ASSERT_EQ(test_fds_settle(0, base, WAIT_MS), base);
}

static void
noop_timer(void *arg)
{
}

static int
lb_setup(int argc, char **argv)
{
	if (test_eal_init(argv[0], 64, "--log-level=lib.vhost.*:warning") < 0)
		return -1;
	pool = rte_pktmbuf_pool_create("lb_pool", 511, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	if (pool == NULL)
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_vvu_loopback.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(fe_path, sizeof(fe_path), "%s/fe.sock", tmpdir);
	signal(SIGPIPE, SIG_IGN);
	if (vvu_drv_hw_register(LB_PREFIX, &lb_ops) < 0)
		return -1;
	/* the library's event loop starts now, so its fds are in the baseline */
	return vhost_event_timer(0, noop_timer, NULL);
}

static void
lb_teardown(void)
{
	/* after a failed case: leave nothing running */
	fe_release();
	if (registered)
		rte_vhost_driver_unregister(LB_PATH);
	lb_device_stop();
	unlink(fe_path);
	rmdir(tmpdir);
	rte_mempool_free(pool);
	test_eal_cleanup();
}

TEST_MAIN(lb_setup, lb_teardown,
	TEST_ENTRY(driver_serves_frontend_through_device_model),
	TEST_ENTRY(message_path_needs_no_register_access),
	TEST_ENTRY(frontend_tx_comes_out_of_dequeue_exactly),
	TEST_ENTRY(enqueue_lands_in_frontend_rx_exactly),
	TEST_ENTRY(frontend_kick_wakes_library_kickfd),
	TEST_ENTRY(vring_call_reaches_frontend_unless_suppressed),
	TEST_ENTRY(replies_of_one_batch_share_a_doorbell),
	TEST_ENTRY(request_bursts_cost_one_interrupt),
	TEST_ENTRY(lingering_ends_with_its_turn),
	TEST_ENTRY(spaced_requests_do_not_linger),
	TEST_ENTRY(long_request_burst_is_served_in_passes),
	TEST_ENTRY(frontend_reconnect_gets_a_new_device),
	TEST_ENTRY(unregister_ends_with_the_fds_it_started_with),
	TEST_ENTRY(device_without_interrupts_is_polled),
	TEST_ENTRY(polled_frontend_arriving_after_status_read_is_answered),
	TEST_ENTRY(thousand_sessions_leave_fds_and_rss_flat))

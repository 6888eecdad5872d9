/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtio-vhost-user (VVU) transport of lib/vhost.
 *
 * One endpoint (rte_vhost_driver_register path) drives one VVU device:
 *  - "vfio-user:<socket>" (or any non-PCI path with
 *    RTE_VHOST_USER_VIRTIO_TRANSPORT): dpdk-vvu-device over vfio-user;
 *  - "DDDD:BB:DD.F": a PCI function bound to vfio-pci (kernel VFIO).
 * The device is the vhost-user back-end socket toward the front-end; it
 * forwards each front-end message into one rxq buffer, and we answer on
 * txq. A device has at most one front-end at a time, so an endpoint has at
 * most one connection (struct vhost_dev) at a time.
 *
 * Connection state machine (device config status, vvu_device_spec.rst §L.5)
 * ---------------------------------------------------------
 *   attach: open, virtio init, rings, MSI-X, DRIVER_OK, then BACKEND_UP.
 *   FRONTEND_UP seen          -> vhost_dev_new() (BAR2 windows are read
 *                                at each SET_MEM_TABLE).
 *   FRONTEND_UP gone (device cleared both bits when the front-end left)
 *                             -> drop stale rxq messages, set BACKEND_UP
 *                                again (next front-end), vhost_dev_free().
 *   handler error / disconnect op
 *                             -> clear BACKEND_UP (the device drops the
 *                                front-end), free, drain, set BACKEND_UP.
 *   device gone (socket EOF, a request times out, ring violation,
 *   NEEDS_RESET)              -> detach everything; retry attach every
 *                                VVU_RECONNECT_MS until it works.
 * rxq messages are only ever handed to the connection that was live when
 * we last read FRONTEND_UP: the device cannot accept a new front-end
 * before we set BACKEND_UP again, and we drain rxq before doing so. With
 * no connection open, rxq is not read: what it holds then belongs to a
 * front-end that came after our last status read, opened at the next one.
 *
 * Threads and locks
 * -----------------
 * Everything runs on lib/vhost's event loop (MSI-X eventfd, a control
 * eventfd, the vfio-user socket, a reconnect timer, and a poll timer for a
 * device without usable interrupts, such as one behind QEMU's proxy
 * device, which has no MSI-X) under the endpoint's
 * recursive mutex, except: endpoint_start/cleanup (application thread, same
 * mutex) and vring_call (data-path lcores, no lock). vring_call writes the
 * device aux notification slot directly when the device access ops allow
 * any thread (kernel VFIO); otherwise (vfio-user, one request at a time) it
 * sets a bit and wakes the event loop, which writes the doorbells.
 *
 * Cleanup sets `closing` first (callbacks then do nothing), cancels the
 * timer and removes the fds from the loop without holding the mutex (the
 * loop may be waiting for it), then detaches under the mutex.
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>

#include <rte_common.h>
#include <rte_vhost.h>

#include "rte_vhost_vvu.h"
#include "vhost.h"
#include "vhost_transport.h"
#include "vvu_drv_hw.h"
#include "vvu_drv_pci.h"
#include "vvu_drv_queue.h"
#include "vvu_drv_transport.h"

#define VVU_LOG(who, level, fmt, ...) \
	VHOST_LOG_CONFIG(who, level, "vvu: " fmt, ##__VA_ARGS__)

#define VVU_RECONNECT_MS	1000
/* How long a reply may wait for a free txq buffer. */
#define VVU_TX_WAIT_US		(1000 * 1000)
#define VVU_TX_POLL_US		50
/*
 * MSI-X plan (vvu_device_spec.rst §L.7): configuration changes on vector 0,
 * rxq and txq on vector 1; the kick of vhost queue i on vector 2 + i,
 * routed only once the application can wait on it (vring_kickfd), so a
 * polling data path costs the device no interrupt. Queue interrupts on
 * their own vector need no register read to tell what happened: each
 * read is a round trip to the device (a vfio-user message, or a trapped
 * BAR access in a VM), and with one shared vector the two status reads
 * per interrupt were most of the time a front-end's handshake took.
 * A device with a one-entry MSI-X table gets everything on vector 0.
 */
#define VVU_VECTOR		0
#define VVU_QUEUE_VECTOR	1
#define VVU_KICK_VECTOR(idx)	(2 + (idx))
#define VVU_MAX_VECTORS		(2 + VVU_MAX_VHOST_QUEUES)
/*
 * Kick vectors routed at attach, and later eight queues at a time. Routing
 * re-enables MSI-X with more vectors: over vfio-user some twenty register
 * accesses, each a round trip, which in a front-end's handshake (its first
 * SET_VRING_KICK) took longer than all its messages.
 */
#define VVU_KICK_ROUTE_STEP	8
#define VVU_CALL_WORDS		(VHOST_MAX_VRING / 64)
/*
 * A device without usable interrupts (no MSI-X, as behind QEMU's proxy
 * device) is polled: status, rxq and txq this often, on the event loop.
 */
#define VVU_POLL_MS		1
/*
 * After handling messages, rxq is watched this long with its interrupt off
 * before the event loop sleeps again. A front-end sends its requests in
 * bursts (a handshake is some fifteen, which the device relays one by one
 * as it reads them), and an interrupt per message cost a wake-up of this
 * thread per message: the larger part of what a VVU handshake took more
 * than one over AF_UNIX. Bounded, and adaptive: the loop lingers once a
 * message came within the window after the last one was handled (it would
 * have caught it), and stops when a window passes empty, so a device that
 * forwards a burst in one go, or a quiet front-end, costs no spinning.
 * VVU_DRV_RX_LINGER_US (vvu_drv_transport.h) is the default. One turn of
 * the event loop lingers VVU_RX_LINGER_TURN windows at most: a message
 * every window (a busy front-end, or a hostile device) must not keep the
 * loop, the endpoint lock and the other ports' events waiting.
 */
#define VVU_RX_LINGER_TURN	10
/*
 * Messages handled in one pass over rxq before the turn ends (with a
 * self-raised interrupt, so the loop comes back): buffers go back to the
 * device as they are read, so a device or front-end that keeps rxq full
 * would otherwise keep the loop in one pass for good. Above a
 * handshake's burst (about fifteen), below the ring's 128.
 */
#define VVU_RX_PASS_MAX		64
static unsigned int vvu_rx_linger_us = VVU_DRV_RX_LINGER_US;

void
vvu_drv_set_rx_linger_us(unsigned int us)
{
	__atomic_store_n(&vvu_rx_linger_us, us, __ATOMIC_RELAXED);
}

struct vvu_drv_ep {
	struct vhost_endpoint *ep;
	struct vvu_drv_hw hw;
	struct vvu_drv_pci pci;
	pthread_mutex_t lock;		/* recursive: the handler calls send_reply */
	bool closing;			/* endpoint_cleanup started */
	bool started;
	bool attached;			/* device initialised, fds in the loop */
	bool ctl_watched;
	int irq_fd;			/* MSI-X vector 0: configuration changes */
	int q_irq_fd;			/* vector 1: rxq and txq, -1 if on vector 0 */
	/* Per vhost queue kick eventfds (MSI-X vector 1 + i), -1 if not routed. */
	int kick_fds[VVU_MAX_VHOST_QUEUES];
	/* Kick vector programmed in the device: kept until its reset (detach). */
	bool kick_vec_set[VVU_MAX_VHOST_QUEUES];
	uint32_t nr_vectors;		/* vectors routed: 2 + highest kick + 1 */
	bool polling;			/* no usable interrupts: vvu_poll_cb serves it */
	bool poll_armed;		/* a vvu_poll_cb timer is pending */
	int ctl_fd;			/* deferred doorbells, disconnect requests */
	int watch_fd;			/* device socket (vfio-user), or -1 */
	struct vvu_drv_dma_mem dma;
	bool dma_valid;
	struct vvu_drv_vq rxq;
	struct vvu_drv_vq txq;
	struct vhost_dev *dev;		/* the live connection, or NULL */
	bool conn_broken;		/* close it at the next chance */
	/*
	 * While rxq is being handled, replies go on txq without a doorbell
	 * (tx_defer) and one doorbell follows the batch (tx_pending): over
	 * vfio-user each doorbell is a round trip.
	 */
	bool tx_defer;
	bool tx_pending;
	uint64_t rx_done_us;		/* when a message was last handled, 0: never */
	uint64_t calls[VVU_CALL_WORDS];	/* pending call doorbells (vfio-user) */
	int last_err;			/* last attach failure, for quiet retries */
	bool attach_quiet;		/* its reason was logged: retry quietly */
	struct vhost_user_ctx ctx;	/* the message being handled */
};

static const struct vhost_transport_ops vvu_transport_ops;

static void vvu_reconnect_cb(void *arg);
static void vvu_poll_arm(struct vvu_drv_ep *e);
static void vvu_irq_cb(int fd, uint32_t events, void *arg);
static void vvu_queue_irq_cb(int fd, uint32_t events, void *arg);
static void vvu_watch_cb(int fd, uint32_t events, void *arg);

/* ---- Path parsing ---- */

/* Device access by path prefix: vfio-user, and what tests register. */
#define VVU_MAX_HW_KINDS	4

static struct {
	const char *prefix;
	const struct vvu_drv_hw_ops *ops;
} vvu_drv_hw_kinds[VVU_MAX_HW_KINDS] = {
	{ RTE_VHOST_VVU_VFIO_USER_PREFIX, &vvu_drv_vfio_user_ops },
};
static unsigned int vvu_drv_nr_hw_kinds = 1;

int
vvu_drv_hw_register(const char *prefix, const struct vvu_drv_hw_ops *ops)
{
	if (prefix == NULL || prefix[0] == '\0' || ops == NULL)
		return -EINVAL;
	if (vvu_drv_nr_hw_kinds == VVU_MAX_HW_KINDS)
		return -ENOSPC;
	vvu_drv_hw_kinds[vvu_drv_nr_hw_kinds].prefix = prefix;
	vvu_drv_hw_kinds[vvu_drv_nr_hw_kinds].ops = ops;
	vvu_drv_nr_hw_kinds++;
	return 0;
}

bool
vvu_drv_path_is_pci_addr(const char *path)
{
	static const char pattern[] = "xxxx:xx:xx.x";
	size_t i;

	if (strlen(path) != sizeof(pattern) - 1)
		return false;
	for (i = 0; i < sizeof(pattern) - 1; i++) {
		if (pattern[i] == 'x' ? !isxdigit((unsigned char)path[i]) : path[i] != pattern[i])
			return false;
	}
	return true;
}

int
vvu_drv_parse_path(const char *path, uint64_t flags, const struct vvu_drv_hw_ops **ops,
		   char *addr, size_t addr_len)
{
	const char *rest = NULL;
	unsigned int i;

	if (vvu_drv_path_is_pci_addr(path)) {
		*ops = &vvu_drv_vfio_ops;
		return snprintf(addr, addr_len, "%s", path) < (int)addr_len ? 0 : -EINVAL;
	}
	for (i = 0; i < vvu_drv_nr_hw_kinds && rest == NULL; i++) {
		size_t plen = strlen(vvu_drv_hw_kinds[i].prefix);

		if (strncmp(path, vvu_drv_hw_kinds[i].prefix, plen) == 0) {
			rest = path + plen;
			*ops = vvu_drv_hw_kinds[i].ops;
		}
	}
	if (rest == NULL) {
		if (!(flags & RTE_VHOST_USER_VIRTIO_TRANSPORT))
			return -EINVAL;
		rest = path;
		*ops = &vvu_drv_vfio_user_ops;
	}
	/* Every other access names an AF_UNIX socket (or a test's name). */
	if (rest[0] == '\0' || strlen(rest) >= sizeof(((struct sockaddr_un *)0)->sun_path) ||
	    strlen(rest) >= addr_len)
		return -EINVAL;
	snprintf(addr, addr_len, "%s", rest);
	return 0;
}

/*
 * Ours: a PCI address, a registered prefix ("vfio-user:"), or anything with
 * RTE_VHOST_USER_VIRTIO_TRANSPORT. A malformed path of our form is claimed
 * too, so endpoint_init refuses it with a reason instead of AF_UNIX
 * creating a socket file by that name.
 */
static bool
vvu_match(const char *path, uint64_t flags)
{
	const struct vvu_drv_hw_ops *ops;
	char addr[VVU_NAME_MAX];
	unsigned int i;

	if (flags & RTE_VHOST_USER_VIRTIO_TRANSPORT)
		return true;
	if (vvu_drv_parse_path(path, flags, &ops, addr, sizeof(addr)) == 0)
		return true;
	for (i = 0; i < vvu_drv_nr_hw_kinds; i++)
		if (strncmp(path, vvu_drv_hw_kinds[i].prefix,
			    strlen(vvu_drv_hw_kinds[i].prefix)) == 0)
			return true;
	return false;
}

/* ---- Doorbells and notifications ---- */

static void
vvu_kick_queue(struct vvu_drv_ep *e, struct vvu_drv_vq *vq, uint16_t q)
{
	if (vvu_drv_vq_notify_suppressed(vq))
		return;
	if (vvu_drv_pci_notify_queue(&e->pci, q) < 0)
		VVU_LOG(e->ep->path, DEBUG, "notify of queue %u failed\n", q);
}

/* The one txq doorbell for the replies queued while tx_defer was set. */
static void
vvu_tx_flush(struct vvu_drv_ep *e)
{
	if (!e->tx_pending)
		return;
	e->tx_pending = false;
	vvu_kick_queue(e, &e->txq, VVU_TXQ);
}

static bool
vvu_calls_pending(const struct vvu_drv_ep *e)
{
	unsigned int w;

	for (w = 0; w < VVU_CALL_WORDS; w++)
		if (__atomic_load_n(&e->calls[w], __ATOMIC_RELAXED) != 0)
			return true;
	return false;
}

static void
vvu_flush_calls(struct vvu_drv_ep *e)
{
	unsigned int w;

	for (w = 0; w < VVU_CALL_WORDS; w++) {
		uint64_t bits = __atomic_exchange_n(&e->calls[w], 0, __ATOMIC_ACQ_REL);

		while (bits != 0) {
			unsigned int b = (unsigned int)__builtin_ctzll(bits);

			bits &= bits - 1;
			if (e->attached)
				vvu_drv_pci_aux_notify(&e->pci, w * 64 + b);
		}
	}
}

static void
vvu_wake(struct vvu_drv_ep *e)
{
	if (eventfd_write(e->ctl_fd, 1) < 0)
		VVU_LOG(e->ep->path, DEBUG, "control eventfd: %s\n", strerror(errno));
}

/*
 * Route MSI-X vectors 0 .. n-1: vector 0 to irq_fd, 1 to q_irq_fd, 2 + i
 * to kick eventfd i (-1: nothing). A VFIO device's MSI-X set cannot grow
 * while enabled (Linux before 6.5), so a larger set is routed by disabling
 * and enabling again; an interrupt raised in between may be lost, so irq_fd
 * and q_irq_fd are signalled afterwards and the loop re-reads the device's
 * state.
 */
static int
vvu_route_vectors(struct vvu_drv_ep *e, uint32_t n)
{
	int fds[VVU_MAX_VECTORS];
	uint32_t i;
	int ret;

	fds[VVU_VECTOR] = e->irq_fd;
	if (n > VVU_QUEUE_VECTOR)
		fds[VVU_QUEUE_VECTOR] = e->q_irq_fd;
	for (i = VVU_KICK_VECTOR(0); i < n; i++)
		fds[i] = e->kick_fds[i - VVU_KICK_VECTOR(0)];
	if (e->nr_vectors > 0 && n != e->nr_vectors) {
		ret = e->hw.ops->set_irqs(&e->hw, 0, NULL);
		if (ret < 0)
			return ret;
	}
	ret = e->hw.ops->set_irqs(&e->hw, n, fds);
	if (ret < 0)
		return ret;
	if (e->nr_vectors > 0 && n != e->nr_vectors) {
		eventfd_write(e->irq_fd, 1);
		if (e->q_irq_fd >= 0)
			eventfd_write(e->q_irq_fd, 1);
	}
	e->nr_vectors = n;
	return 0;
}

static void
vvu_close_kick_fds(struct vvu_drv_ep *e)
{
	unsigned int i;

	for (i = 0; i < RTE_DIM(e->kick_fds); i++) {
		if (e->kick_fds[i] >= 0)
			close(e->kick_fds[i]);
		e->kick_fds[i] = -1;
		e->kick_vec_set[i] = false;
	}
	e->nr_vectors = 0;
}

/*
 * vring_kickfd: give the application an eventfd the device signals when
 * the front-end kicks vhost queue idx. The transport keeps its own (routed
 * to MSI-X vector 1 + idx until the device is detached) and hands out a
 * duplicate, which the library owns as vq->kickfd.
 */
static int
vvu_vring_kickfd(struct vhost_dev *dev, struct vhost_vq *vq)
{
	struct vvu_drv_ep *e = dev->trans_priv;
	uint32_t idx = vq->index, want;
	eventfd_t stale;
	int efd, ret = -ENOTCONN;

	pthread_mutex_lock(&e->lock);
	if (!e->attached || e->dev != dev)
		goto out;
	if (e->polling) {
		ret = -ENOTSUP;	/* no interrupts to route a kick to */
		goto out;
	}
	if (idx >= e->pci.max_vhost_queues || e->q_irq_fd < 0 ||
	    VVU_KICK_VECTOR(idx) >= e->pci.caps.msix_table_size) {
		ret = -ERANGE;
		goto out;
	}
	if (e->kick_fds[idx] < 0) {
		efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (efd < 0) {
			ret = -errno;
			goto out;
		}
		e->kick_fds[idx] = efd;
		/* Grow by eight queues at a time: fewer re-routes for multiqueue. */
		want = RTE_MAX(e->nr_vectors,
			       VVU_KICK_VECTOR(RTE_ALIGN_CEIL(idx + 1, VVU_KICK_ROUTE_STEP)));
		want = RTE_MIN(want, RTE_MIN(VVU_KICK_VECTOR(e->pci.max_vhost_queues),
					     (uint32_t)e->pci.caps.msix_table_size));
		ret = vvu_route_vectors(e, RTE_MAX(want, VVU_KICK_VECTOR(idx) + 1));
		if (ret < 0) {
			close(efd);
			e->kick_fds[idx] = -1;
			goto out;
		}
	}
	/* Kicks of an earlier connection are not this one's. */
	while (eventfd_read(e->kick_fds[idx], &stale) == 0)
		;
	/* Each front-end's SET_VRING_KICK: program the vector once per attach. */
	ret = 0;
	if (!e->kick_vec_set[idx])
		ret = vvu_drv_pci_set_kick_vector(&e->pci, (uint16_t)idx,
						  (uint16_t)VVU_KICK_VECTOR(idx));
	if (ret == 0) {
		e->kick_vec_set[idx] = true;
		ret = fcntl(e->kick_fds[idx], F_DUPFD_CLOEXEC, 0);
		if (ret < 0)
			ret = -errno;
	}
out:
	pthread_mutex_unlock(&e->lock);
	/* Without interrupts the attach line said so already. */
	if (ret == -ENOTSUP)
		VVU_LOG(dev->ifname, DEBUG, "vring %u: no kick eventfd\n", idx);
	else if (ret < 0)
		VVU_LOG(dev->ifname, WARNING, "vring %u: no kick eventfd (%s), the"
			" application must poll it\n", idx, strerror(-ret));
	return ret;
}

/* ---- Connections ---- */

/* Throw away every message waiting in rxq (stale: its connection is gone). */
static int
vvu_drain_rxq(struct vvu_drv_ep *e)
{
	uint8_t buf[VVU_BUF_SIZE];
	unsigned int n = 0;
	int ret;

	while ((ret = vvu_drv_vq_rx_pop(&e->rxq, buf, sizeof(buf))) > 0)
		n++;
	if (n > 0) {
		VVU_LOG(e->ep->path, INFO, "dropped %u stale message(s)\n", n);
		vvu_kick_queue(e, &e->rxq, VVU_RXQ);
	}
	return ret;
}

static void
vvu_conn_free(struct vvu_drv_ep *e)
{
	struct vhost_dev *dev = e->dev;

	e->dev = NULL;
	e->conn_broken = false;
	if (dev != NULL)
		vhost_dev_free(dev);
	/*
	 * The windows' fds would keep the gone front-end's memory allocated;
	 * also when the application refused the connection (no dev).
	 */
	if (e->hw.priv != NULL && e->hw.ops->shm_release != NULL)
		e->hw.ops->shm_release(&e->hw);
}

static int
vvu_conn_open(struct vvu_drv_ep *e)
{
	struct vhost_dev *dev;

	/*
	 * No BAR2 refresh here: a new front-end has no memory yet, and each
	 * SET_MEM_TABLE or ADD_MEM_REG re-reads the windows (mem_update_begin)
	 * before mapping anything, which saves a round trip per connection.
	 */
	e->conn_broken = false;
	dev = vhost_dev_new(e->ep);
	if (dev == NULL)
		return -ECANCELED;	/* refused by new_connection, or no vid */
	dev->trans_priv = e;
	e->dev = dev;
	VVU_LOG(e->ep->path, INFO, "front-end connected (vid %d)\n", dev->vid);
	return 0;
}

/*
 * The front-end left (the device cleared FRONTEND_UP, and BACKEND_UP with
 * it). Its stale messages are dropped and BACKEND_UP is set again before
 * the application hears destroy_device, so that, as over AF_UNIX, the port
 * takes a new front-end at once when destroy_device returns. Nothing more
 * is served in this call: once BACKEND_UP is set, what rxq holds belongs
 * to the next front-end, which the interrupts its arrival raises open.
 */
static int
vvu_conn_left(struct vvu_drv_ep *e, uint32_t ds)
{
	struct vhost_dev *dev = e->dev;
	int ret;

	e->dev = NULL;	/* its messages are stale now: drained, not handled */
	ret = vvu_drain_rxq(e);
	if (ret == 0 && !(ds & VVU_STATUS_BACKEND_UP))
		ret = vvu_drv_pci_set_dev_status(&e->pci, VVU_STATUS_BACKEND_UP);
	e->dev = dev;
	vvu_conn_free(e);
	return ret;
}

/*
 * We end the connection ourselves: clearing BACKEND_UP makes the device drop
 * the front-end (no interrupt), then we take BACKEND_UP again.
 */
static int
vvu_conn_drop(struct vvu_drv_ep *e)
{
	int ret;

	ret = vvu_drv_pci_set_dev_status(&e->pci, 0);
	vvu_conn_free(e);
	if (ret == 0)
		ret = vvu_drain_rxq(e);
	if (ret == 0)
		ret = vvu_drv_pci_set_dev_status(&e->pci, VVU_STATUS_BACKEND_UP);
	return ret;
}

/*
 * One message from rxq into the handler. A message the handler refuses ends
 * the connection through our disconnect op (conn_broken); one that does not
 * even frame a vhost-user message ends it here.
 */
static void
vvu_handle_one(struct vvu_drv_ep *e, const uint8_t *buf, int len)
{
	struct vhost_user_ctx *ctx = &e->ctx;
	struct vhost_user_hdr hdr;

	if (e->dev == NULL || e->conn_broken)
		return;	/* stale, or its connection is being closed */
	if ((size_t)len < VHOST_USER_HDR_SIZE)
		goto bad;
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.size > VHOST_USER_PAYLOAD_MAX || (size_t)len != VHOST_USER_HDR_SIZE + hdr.size)
		goto bad;
	memset(&ctx->msg.hdr, 0, sizeof(ctx->msg.hdr));
	memcpy(&ctx->msg, buf, (size_t)len);
	ctx->nr_fds = 0;
	vhost_user_msg_handle(e->dev, ctx);
	return;
bad:
	VVU_LOG(e->ep->path, ERR, "rxq message of %d bytes does not frame one vhost-user"
		" message: closing the connection\n", len);
	e->conn_broken = true;
}

/* Raise the queue interrupt ourselves: its eventfd is ours. */
static void
vvu_queue_self_wake(struct vvu_drv_ep *e)
{
	int fd = e->q_irq_fd >= 0 ? e->q_irq_fd : e->irq_fd;

	if (eventfd_write(fd, 1) < 0)
		VVU_LOG(e->ep->path, DEBUG, "queue interrupt eventfd: %s\n", strerror(errno));
}

static uint64_t
vvu_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * Watch rxq for up to linger us, its interrupt off (*irq_off set by the
 * caller). True if a message came; otherwise the interrupt is on again,
 * and a message that came just before that is reported too (true). The
 * data path's call doorbells, which wait for this thread, go out meanwhile.
 */
static bool
vvu_rx_linger(struct vvu_drv_ep *e, unsigned int linger, bool *irq_off)
{
	uint64_t end;

	end = vvu_now_us() + linger;
	do {
		if (vvu_drv_vq_has_used(&e->rxq))
			return true;
		/* vvu_disconnect from another thread: its drop waits for us */
		if (__atomic_load_n(&e->conn_broken, __ATOMIC_RELAXED))
			break;
		if (vvu_calls_pending(e))
			vvu_flush_calls(e);
		sched_yield();
	} while (vvu_now_us() < end);
	vvu_drv_vq_set_interrupt(&e->rxq, true);
	*irq_off = false;
	return vvu_drv_vq_has_used(&e->rxq);
}

/*
 * Handle what rxq holds for the open connection. Without one, rxq is left
 * alone: while BACKEND_UP is set, a message there belongs to a front-end
 * that arrived after our last status read (the device sets FRONTEND_UP
 * before it forwards anything), and the next service opens its connection
 * first; stale messages are drained only before BACKEND_UP is set again.
 * So the loop also stops when a broken connection is dropped: the next
 * front-end may follow as soon as BACKEND_UP is back. With interrupts, the
 * loop lingers for the rest of a burst (vvu_rx_linger): the replies so far
 * and the rxq buffers go back to the device first. When it stops with
 * messages in rxq that may have raised no interrupt (its turn is over, or
 * a pass reached VVU_RX_PASS_MAX), it raises one itself, so the loop comes
 * back to them after the other events.
 */
static int
vvu_process_rxq(struct vvu_drv_ep *e)
{
	uint8_t buf[VVU_BUF_SIZE];
	unsigned int n = 0, n_pass, unkicked = 0, linger;
	uint64_t start = vvu_now_us();
	bool irq_off = false, capped = false, lingering = false, soon;
	int len = 0, ret = 0;

	linger = __atomic_load_n(&vvu_rx_linger_us, __ATOMIC_RELAXED);
	/* this soon after the last message handled, lingering would have caught it */
	soon = e->rx_done_us != 0 && start - e->rx_done_us <= linger;
	e->tx_defer = true;
	for (;;) {
		n_pass = n;
		while (e->dev != NULL && n - n_pass < VVU_RX_PASS_MAX &&
		       (len = vvu_drv_vq_rx_pop(&e->rxq, buf, sizeof(buf))) > 0) {
			n++;
			unkicked++;
			vvu_handle_one(e, buf, len);
			if (e->conn_broken) {
				/* Its replies so far go out before the device drops it. */
				vvu_tx_flush(e);
				ret = vvu_conn_drop(e);
				if (ret < 0)
					break;
			}
		}
		if (n > n_pass) {
			/*
			 * Stamped per pass, not when the turn ends: a window
			 * that passed empty must not count as a message.
			 */
			e->rx_done_us = vvu_now_us();
			/* decided by the turn's first message, not by a spurious wake-up */
			if (n_pass == 0)
				lingering = soon;
		}
		capped = n - n_pass == VVU_RX_PASS_MAX && vvu_drv_vq_has_used(&e->rxq);
		/* n == n_pass: nothing came of what looked like a message */
		if (capped || len < 0 || ret < 0 || e->dev == NULL || n == n_pass || e->polling ||
		    linger == 0 || !lingering ||
		    vvu_now_us() - start >= (uint64_t)linger * VVU_RX_LINGER_TURN)
			break;
		/* off before the replies go: what they bring back comes quietly */
		if (!irq_off) {
			vvu_drv_vq_set_interrupt(&e->rxq, false);
			irq_off = true;
		}
		vvu_tx_flush(e);
		if (unkicked > 0)
			vvu_kick_queue(e, &e->rxq, VVU_RXQ);
		unkicked = 0;
		if (!vvu_rx_linger(e, linger, &irq_off))
			break;	/* a window passed empty */
	}
	if (irq_off)
		vvu_drv_vq_set_interrupt(&e->rxq, true);
	/*
	 * Messages that came with the interrupt off raised none, and those
	 * left by a capped pass may have raised theirs before this turn read
	 * it. Without a connection they belong to the next front-end, whose
	 * arrival (a configuration change) opens it and serves them; polling
	 * comes back by itself.
	 */
	if ((irq_off || capped) && !e->polling && e->dev != NULL && len >= 0 &&
	    vvu_drv_vq_has_used(&e->rxq))
		vvu_queue_self_wake(e);
	e->tx_defer = false;
	vvu_tx_flush(e);
	if (len < 0) {
		VVU_LOG(e->ep->path, ERR, "device broke the rxq ring rules\n");
		return len;
	}
	if (unkicked > 0)
		vvu_kick_queue(e, &e->rxq, VVU_RXQ);
	return ret;
}

/*
 * Everything an interrupt may mean (config change, rxq, txq share vector
 * 0): reclaim txq, follow the status bits, handle rxq. <0: device failure.
 */
static int
vvu_service(struct vvu_drv_ep *e)
{
	uint32_t ds;
	uint8_t st;
	int ret;

	ret = vvu_drv_vq_tx_reclaim(&e->txq);
	if (ret < 0) {
		VVU_LOG(e->ep->path, ERR, "device broke the txq ring rules\n");
		return ret;
	}
	ret = vvu_drv_pci_get_both_status(&e->pci, &st, &ds);
	if (ret < 0)
		return ret;
	if (st & VIRTIO_CONFIG_S_NEEDS_RESET) {
		VVU_LOG(e->ep->path, ERR, "device needs a reset\n");
		return -EIO;
	}
	if (e->dev != NULL && !(ds & VVU_STATUS_FRONTEND_UP)) {
		VVU_LOG(e->ep->path, INFO, "front-end left\n");
		return vvu_conn_left(e, ds);
	}
	if (e->dev == NULL && (ds & VVU_STATUS_FRONTEND_UP) && (ds & VVU_STATUS_BACKEND_UP)) {
		ret = vvu_conn_open(e);
		if (ret == -ECANCELED) {
			ret = vvu_conn_drop(e);
			if (ret < 0)
				return ret;
		}
	}
	ret = vvu_process_rxq(e);
	if (ret < 0)
		return ret;
	if (e->conn_broken) {
		ret = vvu_conn_drop(e);
		if (ret < 0)
			return ret;
	}
	if (e->dev == NULL && !(ds & VVU_STATUS_BACKEND_UP)) {
		ret = vvu_drain_rxq(e);
		if (ret == 0)
			ret = vvu_drv_pci_set_dev_status(&e->pci, VVU_STATUS_BACKEND_UP);
	}
	return ret;
}

/* ---- Attach / detach ---- */

/*
 * Undo attach, in the order that keeps the device off our memory: the
 * connection first (the data path stops, regions unmap), then the device is
 * reset and its interrupts routed nowhere, then it is closed, and only then
 * is the ring memory freed. Runs on the event loop (removing our fds never
 * waits there), or from cleanup after it removed them itself (attached is
 * false then). device_ok: the device still answers, so reset it first.
 */
static void
vvu_detach(struct vvu_drv_ep *e, bool device_ok)
{
	struct vvu_drv_hw *hw = &e->hw;

	vvu_conn_free(e);
	if (e->attached) {
		vhost_event_del(e->irq_fd);
		if (e->q_irq_fd >= 0)
			vhost_event_del(e->q_irq_fd);
		if (e->watch_fd >= 0)
			vhost_event_del(e->watch_fd);
	}
	e->attached = false;
	e->watch_fd = -1;
	if (hw->priv != NULL) {
		if (device_ok && vvu_drv_pci_reset(&e->pci) == 0 && !e->polling)
			hw->ops->set_irqs(hw, 0, NULL);
		hw->ops->close(hw);
	}
	if (e->dma_valid)
		hw->ops->dma_free(hw, &e->dma);
	e->dma_valid = false;
	if (e->irq_fd >= 0)
		close(e->irq_fd);
	e->irq_fd = -1;
	if (e->q_irq_fd >= 0)
		close(e->q_irq_fd);
	e->q_irq_fd = -1;
	vvu_close_kick_fds(e);
	memset(e->calls, 0, sizeof(e->calls));
	e->tx_pending = false;
}

/*
 * Kick eventfds for the first VVU_KICK_ROUTE_STEP queues (as many as the
 * device has and its MSI-X table can route), routed with the first
 * vectors: a front-end's SET_VRING_KICK then costs one vector write.
 * Returns how many vectors to route.
 */
static uint32_t
vvu_prepare_kick_fds(struct vvu_drv_ep *e)
{
	uint32_t k = RTE_MIN((uint32_t)VVU_KICK_ROUTE_STEP, e->pci.max_vhost_queues), i;

	if (e->pci.caps.msix_table_size < VVU_KICK_VECTOR(0))
		return VVU_QUEUE_VECTOR + 1;
	k = RTE_MIN(k, (uint32_t)e->pci.caps.msix_table_size - VVU_KICK_VECTOR(0));
	for (i = 0; i < k; i++) {
		e->kick_fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (e->kick_fds[i] < 0)
			break;	/* routed later, when a front-end asks */
	}
	return VVU_KICK_VECTOR(i);
}

/*
 * Program the kick vectors of the queues routed at attach, so that a
 * front-end's first SET_VRING_KICK costs no register access either: the
 * device keeps them until its reset, and raises one only for a kick fd a
 * front-end gave it. Queues whose write fails are programmed at their
 * front-end's SET_VRING_KICK (vvu_vring_kickfd), as before.
 */
static void
vvu_program_kick_vectors(struct vvu_drv_ep *e)
{
	uint32_t i;

	for (i = 0; i < RTE_DIM(e->kick_fds) && VVU_KICK_VECTOR(i) < e->nr_vectors; i++) {
		if (e->kick_fds[i] < 0)
			break;
		e->kick_vec_set[i] = vvu_drv_pci_set_kick_vector(&e->pci, (uint16_t)i,
						(uint16_t)VVU_KICK_VECTOR(i)) == 0;
	}
}

static int
vvu_setup_queues(struct vvu_drv_ep *e)
{
	struct vvu_drv_hw *hw = &e->hw;
	uint16_t rxsz, txsz, vector;
	size_t rxmem;
	int ret;

	ret = vvu_drv_pci_queue_size(&e->pci, VVU_RXQ, VVU_QUEUE_SIZE_MAX, &rxsz);
	if (ret == 0)
		ret = vvu_drv_pci_queue_size(&e->pci, VVU_TXQ, VVU_QUEUE_SIZE_MAX, &txsz);
	if (ret < 0)
		return ret;
	rxmem = vvu_drv_vq_mem_size(rxsz);
	ret = hw->ops->dma_alloc(hw, rxmem + vvu_drv_vq_mem_size(txsz), &e->dma);
	if (ret < 0) {
		VVU_LOG(e->ep->path, ERR, "no DMA memory for the message queues: %s\n",
			strerror(-ret));
		return ret;
	}
	e->dma_valid = true;
	vvu_drv_vq_init(&e->rxq, rxsz, true, e->dma.va, e->dma.iova);
	vvu_drv_vq_init(&e->txq, txsz, false, (uint8_t *)e->dma.va + rxmem, e->dma.iova + rxmem);
	/*
	 * txq buffers are taken back when a reply needs one (vvu_send_reply)
	 * or at any interrupt: one per reply the device consumed would only
	 * wake the event loop for that.
	 */
	vvu_drv_vq_set_interrupt(&e->txq, false);

	e->irq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->irq_fd < 0)
		return -errno;
	e->nr_vectors = 0;
	e->polling = !e->pci.caps.msix;
	if (!e->polling && e->pci.caps.msix_table_size > VVU_QUEUE_VECTOR) {
		e->q_irq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (e->q_irq_fd < 0)
			return -errno;
	}
	if (!e->polling) {
		uint32_t n = e->q_irq_fd >= 0 ? vvu_prepare_kick_fds(e) : 1;

		ret = vvu_route_vectors(e, n);
		if (ret < 0 && n > VVU_QUEUE_VECTOR + 1) {
			/* Kicks routed later, when a front-end asks (vring_kickfd). */
			vvu_close_kick_fds(e);
			ret = vvu_route_vectors(e, VVU_QUEUE_VECTOR + 1);
		}
		if (ret < 0) {
			VVU_LOG(e->ep->path, DEBUG, "MSI-X routing failed: %s\n", strerror(-ret));
			e->polling = true;
		}
	}
	if (e->polling)
		VVU_LOG(e->ep->path, INFO, "device has no usable interrupts: polling it every"
			" %d ms; applications cannot sleep on kicks\n", VVU_POLL_MS);
	else
		vvu_program_kick_vectors(e);
	vector = e->polling ? VIRTIO_MSI_NO_VECTOR : VVU_VECTOR;
	ret = vvu_drv_pci_set_config_vector(&e->pci, vector);
	if (!e->polling && e->q_irq_fd >= 0)
		vector = VVU_QUEUE_VECTOR;
	if (ret == 0)
		ret = vvu_drv_pci_queue_setup(&e->pci, VVU_RXQ, e->rxq.desc_iova, e->rxq.avail_iova,
					  e->rxq.used_iova, vector);
	if (ret == 0)
		ret = vvu_drv_pci_queue_setup(&e->pci, VVU_TXQ, e->txq.desc_iova, e->txq.avail_iova,
					  e->txq.used_iova, vector);
	/* Kicks stay at NO_VECTOR (reset value) until vring_kickfd routes one. */
	return ret;
}

static int
vvu_attach(struct vvu_drv_ep *e)
{
	struct vvu_drv_hw *hw = &e->hw;
	uint8_t st;
	int ret;

	if (hw->ops == &vvu_drv_vfio_user_ops) {
		struct stat sb;

		if (stat(hw->addr, &sb) < 0)
			return -ENOENT;	/* the device is not started yet */
	}
	e->irq_fd = -1;
	e->q_irq_fd = -1;
	e->watch_fd = -1;
	ret = hw->ops->open(hw);
	if (ret < 0)
		goto fail;
	ret = vvu_drv_pci_probe(&e->pci, hw);
	if (ret == 0)
		ret = vvu_drv_pci_init(&e->pci);
	if (ret == 0)
		ret = vvu_setup_queues(e);
	if (ret < 0)
		goto fail;
	vvu_drv_vq_rx_post_all(&e->rxq);
	ret = vvu_drv_pci_get_status(&e->pci, &st);
	if (ret == 0)
		ret = vvu_drv_pci_set_status(&e->pci, st | VIRTIO_CONFIG_S_DRIVER_OK);
	if (ret < 0)
		goto fail;

	/* On the loop thread: the callbacks cannot run before we return. */
	ret = vhost_event_add(e->irq_fd, vvu_irq_cb, e);
	if (ret < 0)
		goto fail;
	if (e->q_irq_fd >= 0) {
		ret = vhost_event_add(e->q_irq_fd, vvu_queue_irq_cb, e);
		if (ret < 0) {
			vhost_event_del(e->irq_fd);
			goto fail;
		}
	}
	e->attached = true;	/* from here on, detach removes irq_fd and q_irq_fd */
	e->watch_fd = hw->ops->watch_fd(hw);
	if (e->watch_fd >= 0 && vhost_event_add(e->watch_fd, vvu_watch_cb, e) < 0) {
		e->watch_fd = -1;
		ret = -EIO;
		goto fail;
	}
	vvu_kick_queue(e, &e->rxq, VVU_RXQ);
	ret = vvu_drv_pci_set_dev_status(&e->pci, VVU_STATUS_BACKEND_UP);
	if (ret < 0)
		goto fail;
	if (e->polling)
		vvu_poll_arm(e);
	VVU_LOG(e->ep->path, INFO, "attached %04x:%04x over %s: %u vhost queues, shared"
		" memory 0x%" PRIx64 " bytes in BAR%u, rxq/txq %u/%u\n", e->pci.caps.vendor_id,
		e->pci.caps.device_id, hw->ops->name, e->pci.max_vhost_queues,
		e->pci.caps.shm.length, e->pci.caps.shm.bar, e->rxq.size, e->txq.size);
	e->last_err = 0;
	return 0;
fail:
	vvu_detach(e, ret != -ETIMEDOUT && ret != -ENOTCONN && ret != -EPROTO);
	return ret;
}

/* The device failed or left: drop everything and try again later. */
static void
vvu_device_lost(struct vvu_drv_ep *e, int err)
{
	VVU_LOG(e->ep->path, ERR, "device lost (%s): detaching, retrying every %d ms\n",
		strerror(-err), VVU_RECONNECT_MS);
	vvu_detach(e, err != -ETIMEDOUT && err != -ENOTCONN && err != -EPROTO &&
		   err != -ECONNRESET && err != -EPIPE);
	if (!e->closing && vhost_event_timer(VVU_RECONNECT_MS, vvu_reconnect_cb, e) < 0)
		VVU_LOG(e->ep->path, ERR, "cannot schedule a reconnect\n");
}

static void
vvu_try_attach(struct vvu_drv_ep *e)
{
	bool was_quiet = e->attach_quiet;
	int ret;

	vvu_drv_pci_quiet_refusals(was_quiet);
	ret = vvu_attach(e);
	vvu_drv_pci_quiet_refusals(false);
	if (ret == 0) {
		e->attach_quiet = false;
		return;
	}
	/*
	 * Say it once per cause, not once a second: the reason (logged by
	 * vvu_drv_pci) is at ERR on the first attempt that fails this way, and
	 * at DEBUG while it keeps failing the same way.
	 */
	e->attach_quiet = ret != -ENOENT && (!was_quiet || ret == e->last_err);
	if (ret != e->last_err) {
		if (ret == -ENOENT)
			VVU_LOG(e->ep->path, INFO, "waiting for the device at %s\n", e->hw.addr);
		else
			VVU_LOG(e->ep->path, ERR, "cannot attach the device: %s; retrying every"
				" %d ms\n", strerror(-ret), VVU_RECONNECT_MS);
		e->last_err = ret;
	}
	if (!e->closing && vhost_event_timer(VVU_RECONNECT_MS, vvu_reconnect_cb, e) < 0)
		VVU_LOG(e->ep->path, ERR, "cannot schedule a reconnect\n");
}

/* ---- Event loop callbacks ---- */

static void
vvu_reconnect_cb(void *arg)
{
	struct vvu_drv_ep *e = arg;

	pthread_mutex_lock(&e->lock);
	if (!e->closing && !e->attached)
		vvu_try_attach(e);
	pthread_mutex_unlock(&e->lock);
}

static void
vvu_irq_cb(int fd, uint32_t events, void *arg)
{
	struct vvu_drv_ep *e = arg;
	eventfd_t v;
	int ret;

	pthread_mutex_lock(&e->lock);
	if (e->closing || !e->attached || fd != e->irq_fd)
		goto out;
	if (eventfd_read(fd, &v) < 0 && errno != EAGAIN)
		VVU_LOG(e->ep->path, DEBUG, "interrupt eventfd: %s\n", strerror(errno));
	ret = vvu_service(e);
	if (ret < 0)
		vvu_device_lost(e, ret);
out:
	pthread_mutex_unlock(&e->lock);
}

/*
 * rxq and txq only (vector 1): reclaim replies the device took and handle
 * the messages it brought, without reading a register. The status bits
 * need no look: the device raises a configuration change (vector 0, above)
 * whenever they change, and accepts the next front-end only after the
 * driver has seen the last one go (BACKEND_UP set again), so what rxq holds
 * while a connection is open belongs to it. Without one (the
 * configuration-change interrupt not served yet), the full service opens it.
 */
static void
vvu_queue_irq_cb(int fd, uint32_t events, void *arg)
{
	struct vvu_drv_ep *e = arg;
	eventfd_t v;
	int ret;

	RTE_SET_USED(events);
	pthread_mutex_lock(&e->lock);
	if (e->closing || !e->attached || fd != e->q_irq_fd)
		goto out;
	if (eventfd_read(fd, &v) < 0 && errno != EAGAIN)
		VVU_LOG(e->ep->path, DEBUG, "queue interrupt eventfd: %s\n", strerror(errno));
	if (e->dev == NULL) {
		ret = vvu_service(e);
	} else {
		ret = vvu_drv_vq_tx_reclaim(&e->txq);
		if (ret < 0)
			VVU_LOG(e->ep->path, ERR, "device broke the txq ring rules\n");
		if (ret == 0)
			ret = vvu_process_rxq(e);
		if (ret == 0 && e->conn_broken)
			ret = vvu_conn_drop(e);
	}
	if (ret < 0)
		vvu_device_lost(e, ret);
out:
	pthread_mutex_unlock(&e->lock);
}

/*
 * A device without interrupts: what vvu_irq_cb does, every VVU_POLL_MS. The
 * timer is re-armed only while that attach lasts; poll_armed keeps one
 * chain per endpoint across a detach and a quick re-attach.
 */
static void
vvu_poll_cb(void *arg)
{
	struct vvu_drv_ep *e = arg;
	int ret;

	pthread_mutex_lock(&e->lock);
	e->poll_armed = false;
	if (e->closing || !e->attached || !e->polling)
		goto out;
	ret = vvu_service(e);
	if (ret < 0) {
		vvu_device_lost(e, ret);
		goto out;
	}
	vvu_poll_arm(e);
out:
	pthread_mutex_unlock(&e->lock);
}

static void
vvu_poll_arm(struct vvu_drv_ep *e)
{
	if (e->poll_armed)
		return;
	if (vhost_event_timer(VVU_POLL_MS, vvu_poll_cb, e) < 0) {
		VVU_LOG(e->ep->path, ERR, "cannot schedule polling the device\n");
		return;
	}
	e->poll_armed = true;
}

static void
vvu_ctl_cb(int fd, uint32_t events, void *arg)
{
	struct vvu_drv_ep *e = arg;
	eventfd_t v;
	int ret = 0;

	pthread_mutex_lock(&e->lock);
	if (e->closing)
		goto out;
	if (eventfd_read(fd, &v) < 0 && errno != EAGAIN)
		VVU_LOG(e->ep->path, DEBUG, "control eventfd: %s\n", strerror(errno));
	if (!e->attached)
		goto out;
	vvu_flush_calls(e);
	if (e->conn_broken)
		ret = vvu_conn_drop(e);
	if (ret < 0)
		vvu_device_lost(e, ret);
out:
	pthread_mutex_unlock(&e->lock);
}

static void
vvu_watch_cb(int fd, uint32_t events, void *arg)
{
	struct vvu_drv_ep *e = arg;

	pthread_mutex_lock(&e->lock);
	if (!e->closing && e->attached && fd == e->watch_fd &&
	    e->hw.ops->check_alive(&e->hw) < 0)
		vvu_device_lost(e, -ECONNRESET);
	pthread_mutex_unlock(&e->lock);
}

/* ---- Transport ops ---- */

static int
vvu_endpoint_init(struct vhost_endpoint *ep)
{
	const struct vvu_drv_hw_ops *ops;
	pthread_mutexattr_t attr;
	struct vvu_drv_ep *e;
	unsigned int i;
	int ret;

	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	ret = vvu_drv_parse_path(ep->trans_path, ep->flags, &ops, e->hw.addr, sizeof(e->hw.addr));
	if (ret < 0) {
		VVU_LOG(ep->path, ERR, "not a PCI address or a vfio-user socket path\n");
		free(e);
		return ret;
	}
	e->ctl_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->ctl_fd < 0) {
		ret = -errno;
		free(e);
		return ret;
	}
	e->ep = ep;
	e->hw.ops = ops;
	snprintf(e->hw.name, sizeof(e->hw.name), "%s", ep->trans_path);
	e->irq_fd = -1;
	e->q_irq_fd = -1;
	e->watch_fd = -1;
	for (i = 0; i < RTE_DIM(e->kick_fds); i++)
		e->kick_fds[i] = -1;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&e->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	if (ep->flags & RTE_VHOST_USER_CLIENT)
		VVU_LOG(ep->path, INFO, "client mode is the device's option; ignored here\n");
	ep->trans_priv = e;
	return 0;
}

static int
vvu_endpoint_start(struct vhost_endpoint *ep)
{
	struct vvu_drv_ep *e = ep->trans_priv;
	int ret;

	ret = vhost_event_add(e->ctl_fd, vvu_ctl_cb, e);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&e->lock);
	e->ctl_watched = true;
	e->started = true;
	pthread_mutex_unlock(&e->lock);
	/*
	 * Attach on the event loop, like every later attach and detach: there
	 * removing our fds from the loop never waits, so holding the lock
	 * while doing it cannot deadlock against a callback. A device that is
	 * not there yet (any start order) is retried from there.
	 */
	ret = vhost_event_timer(0, vvu_reconnect_cb, e);
	if (ret < 0)
		VVU_LOG(ep->path, ERR, "cannot schedule the attach: %s\n", strerror(-ret));
	return ret;
}

static void
vvu_endpoint_cleanup(struct vhost_endpoint *ep)
{
	struct vvu_drv_ep *e = ep->trans_priv;
	int irq_fd = -1, q_irq_fd = -1, watch_fd = -1;
	bool ctl, was_attached;

	if (e == NULL)
		return;
	pthread_mutex_lock(&e->lock);
	e->closing = true;
	if (e->attached) {
		irq_fd = e->irq_fd;
		q_irq_fd = e->q_irq_fd;
		watch_fd = e->watch_fd;
	}
	ctl = e->ctl_watched;
	pthread_mutex_unlock(&e->lock);

	/* Without the lock: a running callback may be waiting for it. */
	vhost_event_timer_cancel(vvu_reconnect_cb, e);
	vhost_event_timer_cancel(vvu_poll_cb, e);
	if (ctl)
		vhost_event_del(e->ctl_fd);
	if (irq_fd >= 0)
		vhost_event_del(irq_fd);
	if (q_irq_fd >= 0)
		vhost_event_del(q_irq_fd);
	if (watch_fd >= 0)
		vhost_event_del(watch_fd);

	pthread_mutex_lock(&e->lock);
	/* The loop no longer knows our fds: detach must not remove them again. */
	was_attached = e->attached;
	e->attached = false;
	vvu_detach(e, was_attached);
	pthread_mutex_unlock(&e->lock);
	close(e->ctl_fd);
	pthread_mutex_destroy(&e->lock);
	free(e);
	ep->trans_priv = NULL;
}

static int
vvu_send_reply(struct vhost_dev *dev, const struct vhost_user_msg *msg, const int *fds,
	       int nr_fds)
{
	struct vvu_drv_ep *e = dev->trans_priv;
	const struct timespec pause = { .tv_nsec = VVU_TX_POLL_US * 1000 };
	size_t len = VHOST_USER_HDR_SIZE + msg->hdr.size;
	unsigned int waited = 0;
	int ret;

	if (nr_fds > 0 || msg->hdr.size > VHOST_USER_PAYLOAD_MAX || len > VVU_BUF_SIZE) {
		VVU_LOG(dev->ifname, ERR, "reply to request %u cannot travel on txq\n",
			msg->hdr.request);
		return -EINVAL;
	}
	pthread_mutex_lock(&e->lock);
	if (!e->attached || e->dev != dev) {
		ret = -ENOTCONN;
		goto out;
	}
	for (;;) {
		ret = vvu_drv_vq_tx_reclaim(&e->txq);
		if (ret == 0)
			ret = vvu_drv_vq_tx_push(&e->txq, msg, len);
		if (ret != -ENOSPC || waited >= VVU_TX_WAIT_US)
			break;
		/* The device frees txq only for replies it was told of. */
		vvu_tx_flush(e);
		nanosleep(&pause, NULL);
		waited += VVU_TX_POLL_US;
	}
	if (ret == 0 && e->tx_defer)
		e->tx_pending = true;
	else if (ret == 0)
		vvu_kick_queue(e, &e->txq, VVU_TXQ);
out:
	pthread_mutex_unlock(&e->lock);
	if (ret < 0)
		VVU_LOG(dev->ifname, ERR, "reply to request %u failed: %s\n", msg->hdr.request,
			strerror(-ret));
	return ret;
}

/*
 * Region i of a table lives at BAR2 offset sum(memory_size of the regions
 * before it) (vvu_device_spec.rst §L.8), which the library hands us as
 * src->table_offset; mmap_offset is the device's business only.
 */
static int
vvu_map_region(struct vhost_dev *dev, struct rte_vhost_mem_region *reg,
	       const struct vhost_region_src *src)
{
	struct vvu_drv_ep *e = dev->trans_priv;
	struct vvu_drv_shm_map m = { 0 };
	uint64_t bar_off;
	int ret;

	pthread_mutex_lock(&e->lock);
	if (!e->attached) {
		ret = -ENOTCONN;
		goto out;
	}
	ret = vvu_drv_pci_shm_offset(&e->pci.caps, src->table_offset, reg->size, &bar_off);
	if (ret < 0) {
		VVU_LOG(dev->ifname, ERR, "shared memory of 0x%" PRIx64 " bytes is too small for"
			" the front-end's memory (region %u needs it up to 0x%" PRIx64 ")\n",
			e->pci.caps.shm.length, src->index,
			src->table_offset + RTE_MIN(reg->size, UINT64_MAX - src->table_offset));
		goto out;
	}
	ret = e->hw.ops->shm_map(&e->hw, e->pci.caps.shm.bar, bar_off, reg->size, &m);
	if (ret < 0)
		goto out;
	/* A window over a front-end's fd (vfio-user) can shrink under us. */
	if (m.map != NULL) {
		ret = vhost_guard_add(m.map, m.map_len, dev->vid);
		if (ret < 0) {
			e->hw.ops->shm_unmap(&e->hw, &m);
			goto out;
		}
	}
	reg->host_user_addr = (uint64_t)(uintptr_t)m.va;
	reg->mmap_addr = m.map;
	reg->mmap_size = m.map_len;
	reg->fd = -1;
out:
	pthread_mutex_unlock(&e->lock);
	return ret;
}

/* The device placed a new table in BAR2 before forwarding it: re-read it. */
static int
vvu_mem_update_begin(struct vhost_dev *dev)
{
	struct vvu_drv_ep *e = dev->trans_priv;
	int ret;

	pthread_mutex_lock(&e->lock);
	ret = e->attached ? e->hw.ops->shm_refresh(&e->hw, e->pci.caps.shm.bar) : -ENOTCONN;
	pthread_mutex_unlock(&e->lock);
	return ret;
}

static void
vvu_unmap_region(struct vhost_dev *dev, struct rte_vhost_mem_region *reg)
{
	struct vvu_drv_ep *e = dev->trans_priv;
	struct vvu_drv_shm_map m = {
		.va = (void *)(uintptr_t)reg->host_user_addr,
		.map = reg->mmap_addr,
		.map_len = (size_t)reg->mmap_size,
	};

	if (m.map != NULL) {
		vhost_guard_del(m.map);
		e->hw.ops->shm_unmap(&e->hw, &m);
	}
	reg->mmap_addr = NULL;
	reg->mmap_size = 0;
	reg->host_user_addr = 0;
	reg->fd = -1;
}

static int
vvu_vring_call(struct vhost_dev *dev, struct vhost_vq *vq)
{
	struct vvu_drv_ep *e = dev->trans_priv;
	uint32_t slot = vq->index;
	uint64_t bit, old;

	if (slot >= e->pci.max_vhost_queues || slot >= VHOST_MAX_VRING)
		return 0;
	if (e->hw.ops->mt_safe_write)
		return vvu_drv_pci_aux_notify(&e->pci, slot);
	bit = 1ULL << (slot % 64);
	old = __atomic_fetch_or(&e->calls[slot / 64], bit, __ATOMIC_ACQ_REL);
	if (!(old & bit))
		vvu_wake(e);
	return 0;
}

static void
vvu_disconnect(struct vhost_dev *dev)
{
	struct vvu_drv_ep *e = dev->trans_priv;

	/* Usually from the handler (we hold the lock); closed after it returns. */
	e->conn_broken = true;
	vvu_wake(e);
}

static const struct vhost_transport_ops vvu_transport_ops = {
	.name = "virtio-vhost-user",
	.order = VHOST_TRANSPORT_ORDER_SPECIFIC,
	.match = vvu_match,
	.passes_fds = false,
	/* What the device can carry in phase 1 (vvu_device_spec.rst §L.6). */
	.protocol_features = VVU_PROTO_CARRIED,
	.endpoint_init = vvu_endpoint_init,
	.endpoint_start = vvu_endpoint_start,
	.endpoint_cleanup = vvu_endpoint_cleanup,
	.send_reply = vvu_send_reply,
	.disconnect = vvu_disconnect,
	.map_region = vvu_map_region,
	.unmap_region = vvu_unmap_region,
	.vring_call = vvu_vring_call,
	.mem_update_begin = vvu_mem_update_begin,
	.vring_kickfd = vvu_vring_kickfd,
};

RTE_INIT(vvu_transport_register)
{
	if (vhost_transport_register(&vvu_transport_ops) < 0)
		VHOST_LOG_CONFIG("transport", ERR, "virtio-vhost-user not available\n");
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dpdk-vvu-device: the virtio-vhost-user (VVU) PCI device as a vfio-user
 * server. Internal header shared by the device's source files, the unit tests
 * (app/test/vvu_device) and the fuzz target (devtools/fuzz/fuzz_vvu_forward.c).
 *
 * The device is specified in doc/guides/vvu_device_spec.rst (phase 1).
 *
 * Who owns what
 *
 *   The PCI model: what a driver sees, whoever carries its accesses.
 *   vvu_device.c      device object, device events (below), virtio reset,
 *                     the connection state machine (below), interrupt
 *                     delivery (MSI-X or INTx + ISR)
 *   vvu_dev_cfg.c     256-byte PCI config space and the capability chain
 *   vvu_dev_regs.c    BAR0: common cfg, ISR, device cfg, notify, aux notify,
 *                     driver aux cfg, MSI-X table and PBA
 *   vvu_dev_dma.c     the driver's DMA windows (mmapped DMA_MAP fds) and the
 *                     SIGBUS guard around every access to them
 *   vvu_dev_vq.c      the device side of the rxq/txq split rings
 *   vvu_dev_bar2.c    BAR2 windows over the front-end's memory fds
 *
 *   The vhost-user side, plugged into the model through device events.
 *   vvu_dev_fwd.c     the forwarding rules table, fd consumption, feature masks
 *   vvu_dev_fe.c      the vhost-user socket toward the front-end
 *   vvu_dev_init.c    vvu_dev_init(): the model plus both of the above
 *
 *   Around them.
 *   vvu_dev_loop.c    the single-threaded epoll loop
 *   vvu_dev_server.c  glue to lib/vfio_user's server: carries the driver's
 *                     accesses to the model
 *   vvu_dev_proxy.c   the other front: QEMU 7.2's multi-process proxy
 *                     protocol (x-pci-proxy-dev), carrying a guest's
 *                     accesses to the same model in its proxy layout
 *
 * Device events
 *
 *   The PCI model never calls the vhost-user side. When a register write, a
 *   reset or a status change needs work there, the model raises an event
 *   (enum vvu_dev_event) and whoever subscribed at init does the work. So the
 *   same model can serve another carrier of PCI accesses (a QEMU
 *   proxy-protocol server next to the vfio-user one) or a test that drives it
 *   in-process (app/test/vvu_loopback), and the vhost-user side is reached in
 *   one way only. Subscribers run synchronously, in subscription order,
 *   inside the access that raised the event, and may raise events of their
 *   own; they must not subscribe or unsubscribe from inside a callback.
 *
 * Connection state machine (one front-end, one driver at a time)
 *
 *   The front-end may connect only while the device is "ready": the driver
 *   set DRIVER_OK, did not get NEEDS_RESET, and set BACKEND_UP in the device
 *   config status. In server mode the listening socket is watched only while
 *   ready (a front-end that connects earlier waits in the backlog); in client
 *   mode the device connects (and retries every second) only while ready.
 *
 *   connect        -> FRONTEND_UP set, config interrupt, generation++
 *   front-end EOF, bad front-end message
 *                  -> front-end fds and windows dropped, BACKEND_UP and
 *                     FRONTEND_UP cleared, config interrupt, generation++
 *   driver clears BACKEND_UP while connected
 *                  -> front-end dropped, FRONTEND_UP cleared, no interrupt
 *   virtio reset (status 0), DEVICE_RESET, driver (vfio-user client) gone
 *                  -> front-end dropped, all device state back to reset values
 *
 *   A front-end message waits in fe.pending until a rxq buffer is posted;
 *   while it waits the front-end socket is not read (back-pressure). Pending
 *   messages die with the connection, so a new connection starts clean.
 */

#ifndef _VVU_DEVICE_H_
#define _VVU_DEVICE_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "vhost_user.h"
#include "vvu_spec.h"

/* ---- this device's capability chain (vvu_device_spec.rst §L.2) ---- */
#define VVU_CAP_MSIX			0x40
#define VVU_CAP_COMMON			0x4C
#define VVU_CAP_NOTIFY			0x5C
#define VVU_CAP_ISR			0x70
#define VVU_CAP_DEVICE			0x80
#define VVU_CAP_DEV_AUX			0x90
#define VVU_CAP_DRV_AUX			0xA4
#define VVU_CAP_SHM			0xB4
#define VVU_CAP_PCI_CFG			0xCC	/* phase 1: no log/inflight caps */
#define VVU_CAP_END			(VVU_CAP_PCI_CFG + 20)

#define VVU_DEVICE_FEATURES		((1ULL << VIRTIO_F_VERSION_1) | \
					 (1ULL << VIRTIO_F_ACCESS_PLATFORM))

/* ---- parameters ---- */
#define VVU_DEFAULT_QUEUES		256
#define VVU_DEFAULT_SHM_SIZE		(4ULL << 30)
#define VVU_MIN_SHM_SIZE		(4ULL << 10)
#define VVU_MAX_SHM_SIZE		(1ULL << 46)
#define VVU_PBA_WORDS			((VVU_MSIX_MAX + 63) / 64)
#define VVU_PAGE_SIZE			4096ULL

/*
 * Config space layouts (doc/guides/vvu_device.rst, "Layout variant").
 *
 * SPEC is vvu_device_spec.rst as written: what vfio-user clients see.
 * PROXY fits QEMU 7.2's x-pci-proxy-dev, the only way into a real guest
 * here. That proxy sizes each BAR from its low dword alone (as an int) and
 * registers it as a 32-bit BAR; it has no MSI-X, and its INTx needs KVM.
 * So in PROXY, BAR2 is a 32-bit prefetchable memory BAR of at most 1 GiB
 * (BAR3 is unused), the capability chain starts at the common cfg (no MSI-X
 * capability, no vectors: every vector register reads NO_VECTOR) and the
 * interrupt pin is 0: a guest driver sees no interrupt it could use, and polls.
 */
enum vvu_dev_layout {
	VVU_DEV_LAYOUT_SPEC = 0,
	VVU_DEV_LAYOUT_PROXY,
};

/* 2 GiB would be a negative int in the proxy's BAR sizing. */
#define VVU_PROXY_MAX_SHM_SIZE		(1ULL << 30)
#define VVU_PROXY_DEFAULT_SHM_SIZE	(256ULL << 20)

/* A message on rxq/txq is at most one whole classic vhost-user message. */
#define VVU_MSG_MAX			VHOST_USER_MSG_MAX

struct vvu_dev_loop;
struct vvu_device;

/* Options from the command line (main.c fills them; tests set them directly). */
struct vvu_dev_options {
	const char *vfio_user_path;
	const char *vhost_user_path;
	bool vhost_user_client;
	uint64_t shm_size;	/* W, power of two */
	uint32_t num_queues;	/* N = max_vhost_queues, 1..256 */
	uint8_t id[16];
	uint32_t virtio_id;
	uint8_t layout;		/* enum vvu_dev_layout; 0: the spec's */
	int verbose;
};

/* ---- option values (vvu_dev_options.c) ---- */
int vvu_dev_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);
/* Power of two in [4K, 64T], with an optional K/M/G/T suffix. */
int vvu_dev_parse_size(const char *s, uint64_t *out);
int vvu_dev_parse_id(const char *s, uint8_t id[16]);

/* ---- logging ---- */
void vvu_dev_log(const struct vvu_device *dev, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define VVU_ERR		0
#define VVU_INFO	1
#define VVU_DEBUG	2

/* ---- DMA windows the driver mapped (vvu_dev_dma.c) ---- */
#define VVU_DMA_MAX_REGIONS		1024

struct vvu_dev_dma_region {
	uint64_t iova;
	uint64_t size;
	uint8_t *va;		/* start of the iova range inside the mapping */
	void *map_base;		/* what munmap() gets */
	size_t map_len;
	uint32_t prot;		/* VVU_DMA_READ | VVU_DMA_WRITE */
};

#define VVU_DMA_READ	0x1u
#define VVU_DMA_WRITE	0x2u

struct vvu_dev_dma {
	struct vvu_dev_dma_region *regions;
	unsigned int nr;
};

/* Map fd; on success fd is closed (the mapping stays), on failure it is not. */
int vvu_dev_dma_map(struct vvu_dev_dma *dma, int fd, uint64_t fd_offset, uint64_t iova,
		uint64_t size, uint32_t prot);
int vvu_dev_dma_unmap(struct vvu_dev_dma *dma, uint64_t iova, uint64_t size);
void vvu_dev_dma_unmap_all(struct vvu_dev_dma *dma);
/* Host pointer for [iova, iova+len) inside one region allowing access, or NULL. */
void *vvu_dev_dma_translate(const struct vvu_dev_dma *dma, uint64_t iova, uint64_t len,
			uint32_t access);

/*
 * Surviving a driver that shrinks a file it DMA-mapped (vvu_dev_dma.c).
 *
 * A mapping does not pin the file's size: a driver can DMA_MAP a memfd and
 * ftruncate() it, and our next load or store in that range raises SIGBUS.
 * No check done before the access can close that race, so the device
 * catches the fault instead: every ring or buffer access runs inside
 * vvu_dev_dma_guarded(), which arms a SIGBUS handler for the DMA mappings of
 * dma. A fault at an address inside one of them unwinds to
 * vvu_dev_dma_guarded(), which returns -EIO; any other SIGBUS keeps its
 * previous disposition (a real bug still crashes). The caller treats -EIO
 * as "the driver broke its own memory" (vvu_dev_dma_fault()).
 *
 * vvu_dev_dma_guard_init() installs the handler once per process (idempotent);
 * vvu_dev_init() calls it. fn must not keep state that a jump out of it
 * would leave half-updated outside its own arguments.
 */
int vvu_dev_dma_guard_init(void);
int vvu_dev_dma_guarded(const struct vvu_dev_dma *dma, int (*fn)(void *arg), void *arg);
/* Faults caught so far in this thread (tests, debug log). */
uint64_t vvu_dev_dma_faults(void);

/* ---- one split virtqueue, device side (vvu_dev_vq.c) ---- */
struct vvu_dev_vq {
	uint16_t size;		/* queue_size as the driver set it */
	uint16_t msix_vector;
	bool enabled;
	uint64_t desc;		/* iovas */
	uint64_t avail;
	uint64_t used;
	uint16_t last_avail;	/* next avail entry we will take */
	uint16_t used_idx;	/* our copy of used->idx */
};

#define VVU_CHAIN_MAX_SEGS	VVU_VQ_MAX_SIZE

struct vvu_dev_seg {
	uint64_t iova;
	uint32_t len;
	bool write;		/* device-writable */
};

struct vvu_dev_chain {
	uint16_t head;
	uint16_t nsegs;
	uint32_t read_len;	/* total of device-readable bytes */
	uint32_t write_len;	/* total of device-writable bytes */
	struct vvu_dev_seg segs[VVU_CHAIN_MAX_SEGS];
};

void vvu_dev_vq_reset(struct vvu_dev_vq *vq);
/*
 * The ring and chain helpers below run inside vvu_dev_dma_guarded(): besides
 * their own errors they return -EIO when the driver's memory vanished.
 */
/* 1: chain taken, 0: ring empty, negative: malformed ring (-EINVAL/-EFAULT). */
int vvu_dev_vq_pop(const struct vvu_dev_dma *dma, struct vvu_dev_vq *vq, struct vvu_dev_chain *c);
/* Give back a chain the device did not use (front of the ring again). */
void vvu_dev_vq_unpop(struct vvu_dev_vq *vq);
int vvu_dev_vq_push(const struct vvu_dev_dma *dma, struct vvu_dev_vq *vq, uint16_t head,
		uint32_t len);
/* Whether the driver asked for no interrupt (VRING_AVAIL_F_NO_INTERRUPT). */
bool vvu_dev_vq_want_interrupt(const struct vvu_dev_dma *dma, const struct vvu_dev_vq *vq);
/*
 * Ask the driver for doorbells on vq (want) or not (VRING_USED_F_NO_NOTIFY),
 * then a full fence: a pop after it sees every buffer posted before the
 * driver read the flag. 0, or -EFAULT/-EIO (the used ring unmapped, cut).
 */
int vvu_dev_vq_set_notify(const struct vvu_dev_dma *dma, const struct vvu_dev_vq *vq, bool want);
/* Copy buf into the writable segments of c; 0 or -ENOSPC / -EFAULT. */
int vvu_dev_chain_write(const struct vvu_dev_dma *dma, const struct vvu_dev_chain *c,
		    const void *buf, uint32_t len);
/* Copy the readable segments of c into buf (at most cap bytes); bytes or <0. */
int vvu_dev_chain_read(const struct vvu_dev_dma *dma, const struct vvu_dev_chain *c,
		   void *buf, uint32_t cap);

/* ---- BAR2 windows (vvu_dev_bar2.c) ---- */
struct vvu_dev_window {
	int fd;			/* front-end memory fd, owned */
	uint64_t fd_offset;	/* mmap_offset of the region */
	uint64_t bar_offset;	/* vvu_device_spec.rst §L.8: sum of the sizes before it */
	uint64_t size;		/* memory_size */
	/*
	 * Files that take no write() (hugetlbfs) are reached through one
	 * mapped granule at a time, kept for the next access: its file offset,
	 * mapping and length (NULL/0: none).
	 */
	uint64_t cache_off;
	void *cache_map;
	size_t cache_len;
};

struct vvu_dev_bar2 {
	struct vvu_dev_window win[VHOST_USER_MEMORY_MAX_NREGIONS];
	unsigned int nr;
	uint64_t used;		/* sum of sizes */
	uint32_t generation;	/* bumped on each layout change */
};

/*
 * Place the regions of a SET_MEM_TABLE payload (already size-checked) using
 * fds[0..nr_fds). On success the fds are owned by bar2 (slots set to -1) and
 * the old layout is gone. On failure nothing changes; *needed gets the BAR2
 * size the front-end would need (for the log line) when the error is -ENOSPC.
 */
int vvu_dev_bar2_place(struct vvu_dev_bar2 *bar2, uint64_t bar_size,
		   const struct vhost_user_memory *mem, int *fds, int nr_fds,
		   uint64_t *needed);
void vvu_dev_bar2_clear(struct vvu_dev_bar2 *bar2);
/*
 * Trapped access to BAR2 bytes [off, off+count): pread/pwrite on the window
 * fds; bytes in no window read 0 and drop writes. 0, or -EIO when a window's
 * file is shorter than it was (the front-end shrank it).
 */
int vvu_dev_bar2_rw(struct vvu_dev_bar2 *bar2, uint64_t off, void *buf, uint32_t count,
		bool write);
uint64_t vvu_dev_next_pow2(uint64_t v);

/* ---- forwarding (vvu_dev_fwd.c) ---- */
enum vvu_dev_fwd_action {
	/* zero, so a request without a row is refused: disconnect */
	VVU_FWD_REFUSE = 0,
	VVU_FWD_PASS,		/* forward unchanged */
	VVU_FWD_MEM_TABLE,	/* windows, then forward */
	VVU_FWD_KICK,		/* keep the fd, then forward */
	VVU_FWD_CALL,
	VVU_FWD_ERR,
	VVU_FWD_SET_PROTO,	/* mask, then forward */
};

struct vvu_dev_fwd_rule {
	const char *name;	/* "SET_MEM_TABLE"; NULL: a request without a row */
	uint8_t action;		/* enum vvu_dev_fwd_action */
	uint8_t fds;		/* VVU_FDS_* */
	uint16_t min_size;	/* payload bytes, inclusive */
	uint16_t max_size;
};

#define VVU_FDS_NONE	0	/* no fd allowed */
#define VVU_FDS_VRING	1	/* one fd unless the NOFD bit is set */
#define VVU_FDS_TABLE	2	/* one per memory region */

uint64_t vvu_dev_fwd_mask_proto(uint64_t features);
/* The row of a request 1..VHOST_USER_REQUEST_MAX-1, else NULL. */
const struct vvu_dev_fwd_rule *vvu_dev_fwd_rule(uint32_t request);

/* A message read from the front-end, waiting for a rxq buffer. */
struct vvu_dev_fe_msg {
	union {
		struct vhost_user_msg msg;
		uint8_t bytes[VVU_MSG_MAX];
	};
	uint32_t len;		/* header + payload */
	int fds[VHOST_USER_MAX_FDS];
	int nr_fds;
};

/*
 * Take one complete front-end message: validate it against the rules
 * table, consume its fds (closing all of them on every path) and queue it
 * for rxq. 0 on success; negative errno means "disconnect the front-end"
 * (the reason was logged).
 */
int vvu_dev_fwd_frontend_msg(struct vvu_device *dev, struct vvu_dev_fe_msg *m);
/* Move pending front-end messages into rxq as buffers allow. */
void vvu_dev_fwd_rxq(struct vvu_device *dev);
/* Take the driver's messages from txq and send them to the front-end. */
void vvu_dev_fwd_txq(struct vvu_device *dev);
/* Driver wrote device aux notification slot k. */
void vvu_dev_fwd_aux_notify(struct vvu_device *dev, uint32_t slot);
/* Close every fd the front-end gave us and forget the pending message. */
void vvu_dev_fwd_drop_frontend_state(struct vvu_device *dev);
/* Per-queue fd tables, and the subscription to the model's events. */
int vvu_dev_fwd_init(struct vvu_device *dev);
void vvu_dev_fwd_fini(struct vvu_device *dev);

/* ---- the event loop (vvu_dev_loop.c) ---- */
typedef void (*vvu_dev_loop_cb)(void *arg, uint32_t events);

struct vvu_dev_loop *vvu_dev_loop_create(void);
void vvu_dev_loop_destroy(struct vvu_dev_loop *loop);
/* Watch fd (EPOLLIN etc.); the loop never closes it. 0 or negative errno. */
int vvu_dev_loop_add(struct vvu_dev_loop *loop, int fd, uint32_t events, vvu_dev_loop_cb cb,
		 void *arg);
int vvu_dev_loop_mod(struct vvu_dev_loop *loop, int fd, uint32_t events);
void vvu_dev_loop_del(struct vvu_dev_loop *loop, int fd);
/* Wait up to timeout_ms (-1: forever) and run the ready callbacks. */
int vvu_dev_loop_run_once(struct vvu_dev_loop *loop, int timeout_ms);
/*
 * The loop's epoll fd, readable while a watched fd has events: a thread
 * that must not hold its lock while waiting (a test driving the device
 * from two threads) polls it, then calls run_once(loop, 0) under the lock.
 */
int vvu_dev_loop_fd(const struct vvu_dev_loop *loop);

/* ---- the front-end socket (vvu_dev_fe.c) ---- */
struct vvu_dev_kick_watch {
	struct vvu_device *dev;
	uint32_t q;
};

struct vvu_dev_fe {
	int listen_fd;		/* server mode */
	int timer_fd;		/* client mode reconnect timer */
	int conn_fd;
	bool listening;		/* listen_fd is in the loop */
	bool reading;		/* conn_fd has EPOLLIN */
	bool created_socket;	/* we bound the path: unlink on exit */
	/* incremental receive of one message */
	struct vvu_dev_fe_msg in;
	uint32_t in_have;
	/* front-end message waiting for a rxq buffer */
	struct vvu_dev_fe_msg pending;
	bool has_pending;
	/* per vhost-user queue fds (N entries each), -1 when absent */
	int *kick_fds;
	int *call_fds;
	int *err_fds;
	struct vvu_dev_kick_watch *kick_watch;	/* loop callback args, N entries */
};

int vvu_dev_fe_init(struct vvu_device *dev);
void vvu_dev_fe_fini(struct vvu_device *dev);
/* Re-evaluate whether we may accept / connect (after a readiness change). */
void vvu_dev_fe_update(struct vvu_device *dev);
/* Close the connection (no status change here; see vvu_dev_frontend_gone). */
void vvu_dev_fe_close(struct vvu_device *dev);
/* Whole message to the front-end; 0 or negative errno. */
int vvu_dev_fe_send(struct vvu_device *dev, const void *buf, uint32_t len);
/* Pause/resume reading the socket (back-pressure from rxq). */
void vvu_dev_fe_set_reading(struct vvu_device *dev, bool on);
bool vvu_dev_fe_connected(const struct vvu_device *dev);

/* ---- device events (vvu_device.c; see "Device events" above) ---- */
enum vvu_dev_event {
	/*
	 * vvu_dev_ready() may have changed: the driver set DRIVER_OK or
	 * BACKEND_UP, or the device left the ready state (reset, NEEDS_RESET,
	 * the front-end gone). The spec lets a front-end in only while the
	 * device is ready (vvu_device_spec.rst §L.5). Subscriber: the
	 * vhost-user socket (vvu_dev_fe.c) starts or stops listening or
	 * connecting.
	 */
	VVU_DEV_EV_READY_CHANGED,
	/*
	 * The device ends the front-end's session: virtio or PCI reset,
	 * NEEDS_RESET, the driver cleared BACKEND_UP, the front-end left or
	 * misbehaved (vvu_dev_frontend_gone). Nothing of one session may leak
	 * into the next. Subscribers: the socket closes the connection;
	 * forwarding closes every fd the front-end gave, drops the BAR2
	 * windows and the message waiting for rxq.
	 */
	VVU_DEV_EV_FRONTEND_DROP,
	/*
	 * The device must look at queue arg (VVU_RXQ or VVU_TXQ, nothing
	 * else): the driver wrote its notify register, or, for rxq, set
	 * DRIVER_OK (buffers it posted earlier were not used before).
	 * Subscriber: forwarding moves messages on that queue.
	 */
	VVU_DEV_EV_QUEUE_NOTIFY,
	/*
	 * The driver rang device aux notification slot arg
	 * (vvu_device_spec.rst §L.3), not yet checked against the 2N + 1
	 * slots. Subscriber: forwarding signals the front-end's call or err
	 * eventfd behind the slot.
	 */
	VVU_DEV_EV_DOORBELL,
	/*
	 * BAR2's windows changed (a memory table placed, or the windows
	 * dropped). Raised by forwarding, which applies memory tables to the
	 * model's BAR2. Subscriber: none in dpdk-vvu-device: vfio-user has no
	 * message to tell a client, our driver re-reads BAR2 itself
	 * (vvu_device_spec.rst §L.10), and the QEMU proxy traps every BAR2
	 * access, so it always reads the current windows; a carrier that maps
	 * BAR2 into its client would remap here.
	 */
	VVU_DEV_EV_BAR2_CHANGED,
	/*
	 * A ring access faulted on the driver's DMA memory (SIGBUS);
	 * NEEDS_RESET is already set. Subscriber: the carrier of the driver's
	 * accesses: vvu_dev_server.c drops that driver, whose mappings can
	 * never be trusted again; vvu_dev_proxy.c unmaps guest RAM until
	 * QEMU sends its next memory map.
	 */
	VVU_DEV_EV_DMA_FAULT,
	VVU_DEV_EV_MAX
};

#define VVU_DEV_EV_BIT(ev)		(1u << (ev))
/* Subscribers of one device: the socket, forwarding, a carrier, a test. */
#define VVU_DEV_MAX_SUBSCRIBERS		8

/* arg: what the event names (queue index, doorbell slot), else 0. */
typedef void (*vvu_dev_event_cb)(struct vvu_device *dev, enum vvu_dev_event ev,
				 uint32_t arg, void *opaque);

struct vvu_dev_subscriber {
	uint32_t events;	/* VVU_DEV_EV_BIT()s */
	vvu_dev_event_cb cb;	/* NULL: free slot */
	void *opaque;
};

/* Call cb(dev, ev, arg, opaque) for every event ev in the mask; 0 or -ENOSPC. */
int vvu_dev_subscribe(struct vvu_device *dev, uint32_t events, vvu_dev_event_cb cb,
		      void *opaque);
/* Forget the subscription (cb, opaque); nothing if there is none. */
void vvu_dev_unsubscribe(struct vvu_device *dev, vvu_dev_event_cb cb, void *opaque);
/* Run the subscribers of ev, in the order they subscribed. */
void vvu_dev_raise(struct vvu_device *dev, enum vvu_dev_event ev, uint32_t arg);

/*
 * What the device did since it started, never reset: read by the telemetry
 * commands (vvu_dev_tel_cmds.c, listed in doc/guides/vvu_device.rst) in the
 * same thread, so plain counters. "Session" is one front-end connection.
 */
struct vvu_dev_stats {
	uint64_t fe_connects;		/* sessions started */
	uint64_t fe_disconnects;	/* sessions ended, by either side */
	uint64_t fe_msgs;		/* requests accepted (checked, fds consumed) */
	uint64_t fe_bytes;		/* their bytes, header included */
	uint64_t fe_errors;		/* requests or framing that ended a session */
	uint64_t fe_msgs_dropped;	/* accepted, died waiting for rxq with the session */
	uint64_t fe_read_pauses;	/* reads stopped: a message waited for an rxq buffer */
	uint64_t requests[VHOST_USER_REQUEST_MAX];	/* fe_msgs by request */
	uint64_t rxq_msgs;		/* messages put on rxq for the driver */
	uint64_t rxq_bytes;
	uint64_t txq_msgs;		/* messages the driver put on txq */
	uint64_t txq_bytes;
	uint64_t fe_replies;		/* txq replies sent to the front-end */
	uint64_t fe_replies_dropped;	/* for a front-end gone, or that took none */
	uint64_t backend_reqs_dropped;	/* back-end requests: phase 2 */
	uint64_t kicks;			/* front-end kicks turned into driver interrupts */
	uint64_t doorbells;		/* driver doorbells signalled to the front-end */
	uint64_t doorbells_dropped;	/* doorbells with no eventfd behind them */
	uint64_t driver_connects;	/* vfio-user clients, or the QEMU proxy session */
	uint64_t driver_disconnects;
	uint64_t dma_faults;		/* SIGBUS on the driver's memory */
};

/* ---- the device ---- */
struct vvu_device {
	struct vvu_dev_options opt;
	struct vvu_dev_loop *loop;		/* NULL in unit tests */
	uint32_t nvec;			/* MSI-X table size = 3 + N; 0 without MSI-X */

	/* PCI config space image; read-only bits come from here */
	uint8_t cfg[VVU_PCI_CFG_SIZE];
	uint32_t bar_addr[6];		/* what the client programmed */

	/* common cfg */
	uint32_t dfselect;
	uint32_t gfselect;
	uint64_t driver_features;
	uint16_t msix_config;
	uint8_t status;
	uint8_t config_generation;
	uint16_t queue_select;
	struct vvu_dev_vq vq[VVU_NUM_VQS];

	uint8_t isr;
	uint32_t dev_status;		/* device config status field */

	uint16_t aux_select;
	uint16_t aux_vector[VVU_MAX_VHOST_QUEUES];

	/* MSI-X table, PBA, and the client's eventfds */
	uint8_t msix_table[VVU_MSIX_MAX * PCI_MSIX_ENTRY_SIZE];
	uint64_t pba[VVU_PBA_WORDS];
	int irq_fds[VVU_MSIX_MAX];
	bool irq_masked[VVU_MSIX_MAX];	/* SET_IRQS ACTION_MASK */
	int intx_fd;

	struct vvu_dev_dma dma;
	struct vvu_dev_bar2 bar2;
	struct vvu_dev_fe fe;

	struct vvu_dev_subscriber subs[VVU_DEV_MAX_SUBSCRIBERS];
	/* server glue state (vvu_dev_server.c) */
	void *server;
	/* QEMU proxy front state (vvu_dev_proxy.c) */
	void *proxy;
	/* counters for tests, the debug log and telemetry */
	uint64_t interrupts;
	uint64_t needs_reset_events;
	struct vvu_dev_stats stats;
};

/*
 * The whole device (vvu_dev_init.c): the PCI model, forwarding and the
 * vhost-user socket (when loop and opt->vhost_user_path are set).
 */
int vvu_dev_init(struct vvu_device *dev, const struct vvu_dev_options *opt,
		 struct vvu_dev_loop *loop);
void vvu_dev_fini(struct vvu_device *dev);
/*
 * The PCI model alone, at its reset values, with no subscriber; fini
 * releases what the driver gave it (DMA windows, interrupt eventfds).
 */
int vvu_dev_pci_init(struct vvu_device *dev, const struct vvu_dev_options *opt,
		     struct vvu_dev_loop *loop);
void vvu_dev_pci_fini(struct vvu_device *dev);
/* Virtio reset (device_status = 0): queues, vectors, status, front-end. */
void vvu_dev_virtio_reset(struct vvu_device *dev);
/* PCI function reset (vfio-user DEVICE_RESET, client gone): also MSI-X table. */
void vvu_dev_pci_reset(struct vvu_device *dev);
/* The device may accept a front-end now. */
bool vvu_dev_ready(const struct vvu_device *dev);
/* The vhost-user side took a front-end: FRONTEND_UP, config interrupt. */
void vvu_dev_frontend_up(struct vvu_device *dev);
/*
 * The front-end left or is thrown out: VVU_DEV_EV_FRONTEND_DROP; with
 * interrupt (the device's own decision) and a front-end that was up, both
 * status bits cleared and a config interrupt; else FRONTEND_UP cleared.
 */
void vvu_dev_frontend_gone(struct vvu_device *dev, bool interrupt);
/* Something the spec calls fatal for this device instance: NEEDS_RESET. */
void vvu_dev_needs_reset(struct vvu_device *dev, const char *why);
/*
 * A ring access hit SIGBUS (the driver truncated mapped memory): NEEDS_RESET
 * and VVU_DEV_EV_DMA_FAULT, on which the carrier disconnects that driver.
 */
void vvu_dev_dma_fault(struct vvu_device *dev, const char *why);
/* err from a ring helper: -EIO -> vvu_dev_dma_fault, else NEEDS_RESET. */
void vvu_dev_ring_error(struct vvu_device *dev, int err, const char *why);
/* Raise an MSI-X vector (or INTx with isr_bit when MSI-X is off). */
void vvu_dev_interrupt(struct vvu_device *dev, uint16_t vector, uint8_t isr_bit);
void vvu_dev_config_changed(struct vvu_device *dev);
void vvu_dev_queue_interrupt(struct vvu_device *dev, unsigned int q);
/* A vector became unmasked: deliver its pending bit. */
void vvu_dev_msix_unmasked(struct vvu_device *dev, uint16_t vector);
bool vvu_dev_msix_enabled(const struct vvu_device *dev);
/* Set the eventfds of MSI-X vectors [start, start+count); fds NULL clears.
 * On success the fds are owned by dev; on failure they stay the caller's. */
int vvu_dev_set_msix_fds(struct vvu_device *dev, uint32_t start, uint32_t count,
			 const int *fds);
void vvu_dev_close_irq_fds(struct vvu_device *dev);
/*
 * Accept fd only if it is an eventfd, and make it non-blocking: a peer's
 * pipe or socket in its place could block a signal or spin the loop.
 */
int vvu_dev_eventfd_prepare(int fd);

/* Whether the layout has an MSI-X capability (all but VVU_DEV_LAYOUT_PROXY). */
static inline bool
vvu_dev_has_msix(const struct vvu_device *dev)
{
	return dev->opt.layout != VVU_DEV_LAYOUT_PROXY;
}

/* ---- PCI config space (vvu_dev_cfg.c) ---- */
void vvu_dev_cfg_build(struct vvu_device *dev);
void vvu_dev_cfg_reset(struct vvu_device *dev);
int vvu_dev_cfg_read(struct vvu_device *dev, uint64_t off, void *buf, uint32_t len);
int vvu_dev_cfg_write(struct vvu_device *dev, uint64_t off, const void *buf, uint32_t len);
uint64_t vvu_dev_bar_size(const struct vvu_device *dev, unsigned int bar);

/* ---- BAR0 (vvu_dev_regs.c) ---- */
int vvu_dev_bar0_read(struct vvu_device *dev, uint64_t off, void *buf, uint32_t len);
int vvu_dev_bar0_write(struct vvu_device *dev, uint64_t off, const void *buf, uint32_t len);
/* count bytes at off, split into naturally aligned register accesses. */
int vvu_dev_bar0_rw(struct vvu_device *dev, uint64_t off, void *buf, uint32_t count, bool write);

/* ---- little-endian helpers (the device is LE-only, vvu_device_spec.rst §L.6) ---- */
static inline void
vvu_put16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static inline void
vvu_put32(uint8_t *p, uint32_t v)
{
	vvu_put16(p, v & 0xffff);
	vvu_put16(p + 2, v >> 16);
}

static inline void
vvu_put64(uint8_t *p, uint64_t v)
{
	vvu_put32(p, (uint32_t)v);
	vvu_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t
vvu_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t
vvu_get32(const uint8_t *p)
{
	return (uint32_t)vvu_get16(p) | ((uint32_t)vvu_get16(p + 2) << 16);
}

static inline uint64_t
vvu_get64(const uint8_t *p)
{
	return (uint64_t)vvu_get32(p) | ((uint64_t)vvu_get32(p + 4) << 32);
}

/* Little-endian value of an access of len (1, 2, 4 or 8) bytes. */
static inline uint64_t
vvu_get_n(const void *buf, uint32_t len)
{
	const uint8_t *p = buf;
	uint64_t v = 0;
	uint32_t i;

	for (i = 0; i < len && i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

#endif /* _VVU_DEVICE_H_ */

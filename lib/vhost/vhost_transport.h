/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Transport interface of lib/vhost (internal).
 *
 * A transport moves vhost-user messages and front-end memory between a
 * front-end and the one message handler (vhost_user_msg_handle). AF_UNIX
 * (trans_af_unix.c) is the classic socket transport; virtio-vhost-user
 * (drivers/virtio_vhost_user) tunnels the same messages through a PCI
 * device. Each fills one struct vhost_transport_ops and registers it with
 * vhost_transport_register(), usually from a constructor. Nothing outside a
 * transport knows how its messages, fds or memory move: if the handler or
 * the data path needs "if (transport == X)", an op is missing here.
 *
 * Objects:
 *  - an endpoint is what rte_vhost_driver_register(path, flags) creates:
 *    the path, the flags, the feature set the application allows, its
 *    callbacks; its transport may accept many connections on it over time;
 *  - a device (struct vhost_dev, a vid) is one live connection of an
 *    endpoint. The transport creates it with vhost_dev_new() when a
 *    front-end connects, feeds it messages with vhost_user_msg_handle(), and
 *    frees it with vhost_dev_free() when the connection ends.
 *
 * Threads: every op except vring_call runs on the control thread (the event
 * loop below) or in the rte_vhost_driver_* caller. vring_call runs on the
 * data-path lcore and must not block.
 */

#ifndef _VHOST_TRANSPORT_H_
#define _VHOST_TRANSPORT_H_

#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/queue.h>

#include <rte_vhost.h>

#include "vhost.h"

struct vhost_endpoint {
	TAILQ_ENTRY(vhost_endpoint) next;
	char path[VHOST_IFNAME_MAX];
	uint64_t flags;			/* RTE_VHOST_USER_* as registered */
	uint64_t features;		/* virtio features offered */
	uint64_t protocol_features;	/* protocol features offered */
	uint32_t max_queue_pairs;
	bool started;			/* rte_vhost_driver_start() done */
	const struct rte_vhost_device_ops *notify_ops;
	const struct vhost_transport_ops *trans;
	void *trans_priv;		/* transport endpoint state */
	pthread_mutex_t lock;		/* guards the fields above and trans_priv */
};

struct vhost_transport_ops {
	const char *name;

	/*
	 * Whether messages on this transport can carry fds. When false the
	 * handler expects none (kick/call/err become VHOST_FD_NONE, memory and
	 * log regions are mapped by the transport without an fd).
	 */
	bool passes_fds;

	/* Does this transport serve path/flags? Higher value wins; 0 = no. */
	int (*match)(const char *path, uint64_t flags);

	/* rte_vhost_driver_register(): set up ep->trans_priv. */
	int (*endpoint_init)(struct vhost_endpoint *ep);
	/* rte_vhost_driver_start(): listen, connect, or attach the device. */
	int (*endpoint_start)(struct vhost_endpoint *ep);
	/*
	 * rte_vhost_driver_unregister(): close every connection (each through
	 * vhost_dev_free) and release ep->trans_priv. Must be safe while
	 * connections are live and from any thread but the event loop.
	 */
	void (*endpoint_cleanup)(struct vhost_endpoint *ep);

	/* Send a reply (hdr.flags already has REPLY set) with optional fds. */
	int (*send_reply)(struct vhost_dev *dev, const struct vhost_user_msg *msg,
			  const int *fds, int nr_fds);

	/*
	 * Back-end request channel. set_backend_req takes the fd from
	 * SET_BACKEND_REQ_FD (-1 on a transport without fds); backend_req sends
	 * a request and, if need_reply, waits for and returns the reply's u64
	 * (as a negative errno on failure). NULL: no channel on this transport.
	 */
	int (*set_backend_req)(struct vhost_dev *dev, int fd);
	int (*backend_req)(struct vhost_dev *dev, struct vhost_user_msg *msg,
			   const int *fds, int nr_fds, bool need_reply);

	/*
	 * Make memory region reg reachable: reg->guest_phys_addr, size,
	 * guest_user_addr are set and validated; mmap_offset is the file offset
	 * from the message; fd is the region's fd (-1 without fd passing). Fill
	 * host_user_addr (and mmap_addr/mmap_size/fd if the transport mapped it
	 * itself). slot is the region's index in the table the front-end sent.
	 */
	int (*map_region)(struct vhost_dev *dev, struct rte_vhost_mem_region *reg,
			  uint64_t mmap_offset, int fd, uint32_t slot);
	void (*unmap_region)(struct vhost_dev *dev, struct rte_vhost_mem_region *reg);

	/* SET_LOG_BASE: map the dirty log; *addr = host VA of its first byte. */
	int (*map_log)(struct vhost_dev *dev, int fd, uint64_t size, uint64_t offset,
		       void **map, uint64_t *map_size, uint64_t *addr);
	void (*unmap_log)(struct vhost_dev *dev, void *map, uint64_t map_size);

	/*
	 * GET_INFLIGHT_FD: provide a zeroed shared area of size bytes; *fd is
	 * what goes back to the front-end (-1 if the transport carries none).
	 * SET_INFLIGHT_FD: map the front-end's area.
	 */
	int (*alloc_inflight)(struct vhost_dev *dev, uint64_t size, void **addr, int *fd);
	int (*map_inflight)(struct vhost_dev *dev, int fd, uint64_t size, uint64_t offset,
			    void **addr);
	void (*unmap_inflight)(struct vhost_dev *dev, void *addr, uint64_t size);

	/*
	 * Interrupt the front-end for vq (data path; never blocks). The data
	 * path calls it only when the front-end asked for an interrupt.
	 */
	int (*vring_call)(struct vhost_dev *dev, struct vhost_vq *vq);

	/*
	 * The handler failed a message: close this connection. The transport
	 * frees the device (vhost_dev_free) once it is safe to do so.
	 */
	void (*disconnect)(struct vhost_dev *dev);
};

/* Add a transport to the registry (call from a constructor). */
void vhost_transport_register(const struct vhost_transport_ops *ops);
/* The transport that claims path/flags, or NULL. */
const struct vhost_transport_ops *vhost_transport_find(const char *path, uint64_t flags);

/*
 * True if path is a full PCI address "DDDD:BB:DD.F" (hex digits), the form
 * the VVU transport claims and every other transport leaves alone.
 */
bool vhost_path_is_pci_addr(const char *path);

/* Generic helpers for fd-based transports (mmap of a front-end fd). */
int vhost_mmap_region_fd(struct vhost_dev *dev, struct rte_vhost_mem_region *reg,
			 uint64_t mmap_offset, int fd);
void vhost_munmap_region(struct vhost_dev *dev, struct rte_vhost_mem_region *reg);

/* ---- The control event loop (vhost_event_loop.c) ---- */

/*
 * Called on the event-loop thread with the events epoll reported
 * (EPOLLIN, EPOLLHUP, ...). A callback may remove its own fd.
 */
typedef void (*vhost_event_cb)(int fd, uint32_t events, void *arg);

/* Watch fd for EPOLLIN; starts the loop thread on first use. */
int vhost_event_add(int fd, vhost_event_cb cb, void *arg);
/*
 * Stop watching fd. When called from another thread, returns only after
 * the loop is no longer running (and will not run) a callback for fd, so
 * the caller may then free arg and close fd.
 */
int vhost_event_del(int fd);
/* Run fn(arg) once on the loop thread after delay_ms (reconnect timers). */
int vhost_event_timer(unsigned int delay_ms, void (*fn)(void *arg), void *arg);
/* Cancel pending timers that would call fn(arg); waits like vhost_event_del. */
void vhost_event_timer_cancel(void (*fn)(void *arg), void *arg);
/* True when called on the event-loop thread. */
bool vhost_event_on_loop_thread(void);

#endif /* _VHOST_TRANSPORT_H_ */

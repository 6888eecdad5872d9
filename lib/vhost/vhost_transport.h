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
 * Selection: rte_vhost_driver_register(path, flags) picks the transport
 * once, with vhost_transport_find(): transports are asked in a fixed order
 * (their `order`, then their name), the first that claims the path serves
 * it. AF_UNIX is the fallback and is asked last, so it needs to know
 * nothing of the forms other transports claim.
 */

#ifndef _VHOST_TRANSPORT_H_
#define _VHOST_TRANSPORT_H_

#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/queue.h>

#include <rte_vhost.h>

#include "vhost.h"

/*
 * An endpoint. socket.c writes every field but trans_priv under its list
 * lock, and only before rte_vhost_driver_start(): the feature setters refuse
 * afterwards, so transports and the message handler read them without a
 * lock. The exception is notify_ops, which rte_vhost_driver_callback_register
 * may change at any time: a new connection takes it through
 * vhost_endpoint_notify_ops(). trans_priv belongs to the transport.
 */
struct vhost_endpoint {
	TAILQ_ENTRY(vhost_endpoint) next;
	char path[VHOST_IFNAME_MAX];	/* as registered: the application's name for it */
	/*
	 * What the transport serves: path, or where VHOST_VVU_PATH_MAP maps it
	 * (vhost_path_map). Transports take their address from here and use
	 * path only to name the endpoint in logs.
	 */
	char trans_path[VHOST_IFNAME_MAX];
	uint64_t flags;			/* RTE_VHOST_USER_* as registered */
	uint64_t features;		/* virtio features offered */
	uint64_t protocol_features;	/* protocol features the application allows */
	uint32_t max_queue_pairs;
	uint32_t max_connections;	/* a server socket accepts at most this many */
	bool started;			/* rte_vhost_driver_start() done */
	bool custom_device;		/* set_features called: not the library's net device */
	const struct rte_vhost_device_ops *notify_ops;
	const struct vhost_transport_ops *trans;
	void *trans_priv;		/* transport endpoint state */
};

/* The application's callbacks for a connection being made now. */
const struct rte_vhost_device_ops *vhost_endpoint_notify_ops(struct vhost_endpoint *ep);

/*
 * Where a memory region comes from (map_region). Everything here is from
 * the message, so still front-end controlled; the transport checks what it
 * uses.
 */
struct vhost_region_src {
	int fd;			/* the region's fd (-1 without fds); lent: dup what you keep */
	uint64_t mmap_offset;	/* offset of the region in fd, as sent */
	uint32_t index;		/* position of the region in the table */
	/*
	 * Sum of memory_size of the regions before this one in the table (for
	 * ADD_MEM_REG: of the regions already mapped). Transports that lay a
	 * table out contiguously (VVU's BAR2) use it instead of counting calls,
	 * so the result does not depend on the order of map_region calls.
	 */
	uint64_t table_offset;
};

/* Where a transport stands in the selection order (vhost_transport_find). */
enum vhost_transport_order {
	/* Claims paths of a form of its own (a prefix, a PCI address). */
	VHOST_TRANSPORT_ORDER_SPECIFIC = 0,
	/* Claims every path: asked last (AF_UNIX). */
	VHOST_TRANSPORT_ORDER_FALLBACK = 255,
};

/*
 * The contract between the library and a transport.
 *
 * Each op says who calls it, on which thread and with which locks held.
 * "Loop" is the control thread of vhost_event_loop.c, where transports run
 * their fd and timer callbacks and call vhost_user_msg_handle(); "API" is
 * the application thread in an rte_vhost_driver_* call; "lcore" is any
 * application thread in a data-path call. No op is called with a
 * virtqueue access_lock held unless it says so, and the library never holds
 * its endpoint list lock across an op.
 *
 * Required ops are checked at registration (vhost_transport_register
 * refuses a table without them); the library calls them without a NULL
 * check. Optional ops are called only through the vhost_trans_* wrappers
 * below, which hold the one NULL check each and say what a missing op
 * means.
 */
struct vhost_transport_ops {
	const char *name;

	/* ---- Selection ---- */

	/* Position in the selection order (enum vhost_transport_order). */
	uint8_t order;
	/*
	 * Required. API (rte_vhost_driver_register). Does this transport serve
	 * path with flags? A transport of order SPECIFIC claims only paths of
	 * its own form, never one another transport's documented form.
	 */
	bool (*match)(const char *path, uint64_t flags);

	/* ---- Declared capabilities ---- */

	/*
	 * Whether messages carry fds. When false, the message rules expect
	 * none: kick/call/err become VHOST_FD_NONE and memory is reached
	 * through map_region without an fd.
	 */
	bool passes_fds;
	/*
	 * The protocol features (1 << VHOST_USER_PROTO_F_*) this transport can
	 * carry. The library offers and accepts only these, whatever the
	 * application enabled; registration checks that each one the transport
	 * declares has the ops it needs (LOG_SHMFD: map_log; BACKEND_REQ:
	 * backend_req; INFLIGHT_SHMFD: the inflight ops).
	 */
	uint64_t protocol_features;

	/* ---- Endpoints (required) ---- */

	/* API (register), endpoint list lock held. Set up ep->trans_priv. */
	int (*endpoint_init)(struct vhost_endpoint *ep);
	/* API (start). Listen, connect, or attach; may create connections. */
	int (*endpoint_start)(struct vhost_endpoint *ep);
	/*
	 * API (unregister), never on the loop. Close every connection (each
	 * through vhost_dev_free) and release ep->trans_priv; safe while
	 * connections are live and callbacks are running.
	 */
	void (*endpoint_cleanup)(struct vhost_endpoint *ep);

	/* ---- Connections (required) ---- */

	/* Loop (the handler). Send a reply (REPLY set in hdr.flags), optional fds. */
	int (*send_reply)(struct vhost_dev *dev, const struct vhost_user_msg *msg,
			  const int *fds, int nr_fds);
	/*
	 * Loop, never blocks, through vhost_dev_disconnect: from the handler (a
	 * message failed) or from vhost_guard_service (the front-end's memory
	 * vanished: no message may ever come again). The device is marked
	 * VHOST_DEV_BROKEN. The transport closes the connection soon, without
	 * waiting for the peer to send anything, through vhost_dev_free, never
	 * from inside this call. Teardown the transport starts itself (peer
	 * gone, endpoint_cleanup) needs no call.
	 */
	void (*disconnect)(struct vhost_dev *dev);

	/* ---- Memory (required) ---- */

	/*
	 * Loop (the handler). Make one region of a memory table reachable.
	 * reg->guest_phys_addr, size and guest_user_addr are set and
	 * validated; src says where the region comes from. Fill
	 * host_user_addr (and mmap_addr, mmap_size and fd if the transport
	 * mapped something that unmap_region must release).
	 */
	int (*map_region)(struct vhost_dev *dev, struct rte_vhost_mem_region *reg,
			  const struct vhost_region_src *src);
	/* Loop, or API (unregister), all vq access_locks free. */
	void (*unmap_region)(struct vhost_dev *dev, struct rte_vhost_mem_region *reg);

	/* ---- Notifications (required) ---- */

	/*
	 * lcore, vq access_lock held, never blocks. Interrupt the front-end for
	 * vq. The library calls it only when the front-end asked for it
	 * (notification suppression is the library's business).
	 */
	int (*vring_call)(struct vhost_dev *dev, struct vhost_vq *vq);

	/* ---- Optional ops: call only through the vhost_trans_* wrappers ---- */

	/*
	 * Loop (the handler), before the map_region calls of a SET_MEM_TABLE
	 * or ADD_MEM_REG: the layout the memory comes from may have changed
	 * (VVU: BAR2's windows). NULL: nothing to refresh.
	 */
	int (*mem_update_begin)(struct vhost_dev *dev);

	/*
	 * Loop (the handler), vq access_lock free. The front-end set vq's kick
	 * without an fd because the transport carries none: return an eventfd
	 * that becomes readable when the front-end kicks vq (the library owns
	 * it from then on: it becomes vq->kickfd, which applications wait on
	 * for Rx interrupts). NULL or VHOST_FD_NONE: kicks cannot be waited
	 * on; the application polls.
	 */
	int (*vring_kickfd)(struct vhost_dev *dev, struct vhost_vq *vq);

	/*
	 * Back-end request channel. set_backend_req: loop (the handler), takes
	 * the fd of SET_BACKEND_REQ_FD (-1 on a transport without fds).
	 * backend_req: loop or lcore (IOTLB misses, need_reply false, never
	 * blocks then); sends a request and, if need_reply, waits for the
	 * reply's u64 (a negative errno on failure). NULL: no channel.
	 */
	int (*set_backend_req)(struct vhost_dev *dev, int fd);
	int (*backend_req)(struct vhost_dev *dev, struct vhost_user_msg *msg,
			   const int *fds, int nr_fds, bool need_reply);

	/*
	 * Loop. SET_LOG_BASE: map the dirty log; *addr = host VA of its first
	 * byte. NULL: no dirty log on this transport.
	 */
	int (*map_log)(struct vhost_dev *dev, int fd, uint64_t size, uint64_t offset,
		       void **map, uint64_t *map_size, uint64_t *addr);
	void (*unmap_log)(struct vhost_dev *dev, void *map, uint64_t map_size);

	/*
	 * Loop. GET_INFLIGHT_FD: provide a zeroed shared area of size bytes;
	 * *fd goes back to the front-end (-1 if the transport carries none).
	 * SET_INFLIGHT_FD: map the front-end's area. NULL: no inflight area.
	 */
	int (*alloc_inflight)(struct vhost_dev *dev, uint64_t size, void **addr, int *fd);
	int (*map_inflight)(struct vhost_dev *dev, int fd, uint64_t size, uint64_t offset,
			    void **addr);
	void (*unmap_inflight)(struct vhost_dev *dev, void *addr, uint64_t size);
};

/*
 * Protocol features offered on ep: what the application allows, reduced to
 * what the transport can carry. No API call can add a feature back.
 */
static inline uint64_t
vhost_endpoint_protocol_features(const struct vhost_endpoint *ep)
{
	return ep->protocol_features & ep->trans->protocol_features;
}

/*
 * Add a transport to the registry (call from a constructor). Refuses, with
 * one log line and -EINVAL, a table that lacks a required op or declares a
 * protocol feature without the ops it needs.
 */
int vhost_transport_register(const struct vhost_transport_ops *ops);
/* Check a table as register would (tests build devices on unregistered ones). */
int vhost_transport_check(const struct vhost_transport_ops *ops);
/*
 * The transport that serves path/flags, or NULL. Transports are asked in
 * ascending order, then by name; the first whose match() is true wins.
 */
const struct vhost_transport_ops *vhost_transport_find(const char *path, uint64_t flags);

/* The environment variable of vhost_path_map.c (its header says why). */
#define VHOST_PATH_MAP_ENV	"VHOST_VVU_PATH_MAP"
/*
 * Where path is served: copy the path VHOST_VVU_PATH_MAP maps it to, or path
 * itself, into out (out_len bytes). Returns 1 if mapped (logged), 0 if not,
 * a negative errno if the variable is malformed (logged) or out too short.
 */
int vhost_path_map(const char *path, char *out, size_t out_len);
/*
 * The parser behind it, on a given map string: 1 and out filled if path is
 * mapped, 0 if not, -EINVAL with *why set if map is malformed anywhere
 * (comma-separated FROM=TO entries, both sides 1 to VHOST_IFNAME_MAX - 1
 * bytes, each FROM once).
 */
int vhost_path_map_lookup(const char *map, const char *path, char *out, size_t out_len,
			  const char **why);

/*
 * The library ends a connection: mark it broken and ask its transport to
 * close it (ops->disconnect). Loop thread; idempotent.
 */
void vhost_dev_disconnect(struct vhost_dev *dev);

/* ---- Optional ops, each with its one NULL check ---- */

int vhost_trans_mem_update_begin(struct vhost_dev *dev);
/* VHOST_FD_NONE when the transport cannot give a kick fd. */
int vhost_trans_vring_kickfd(struct vhost_dev *dev, struct vhost_vq *vq);
/* -ENOTSUP without a back-end channel. */
int vhost_trans_set_backend_req(struct vhost_dev *dev, int fd);
int vhost_trans_backend_req(struct vhost_dev *dev, struct vhost_user_msg *msg,
			    const int *fds, int nr_fds, bool need_reply);
bool vhost_trans_has_backend_req(const struct vhost_dev *dev);
/* -ENOTSUP without a dirty log. */
int vhost_trans_map_log(struct vhost_dev *dev, int fd, uint64_t size, uint64_t offset,
			void **map, uint64_t *map_size, uint64_t *addr);
void vhost_trans_unmap_log(struct vhost_dev *dev, void *map, uint64_t map_size);
/* -ENOTSUP without an inflight area. */
int vhost_trans_alloc_inflight(struct vhost_dev *dev, uint64_t size, void **addr, int *fd);
int vhost_trans_map_inflight(struct vhost_dev *dev, int fd, uint64_t size, uint64_t offset,
			     void **addr);
void vhost_trans_unmap_inflight(struct vhost_dev *dev, void *addr, uint64_t size);

/*
 * Front-end memory that may vanish under us (vhost_guard.c): a transport
 * registers every mapping of memory the front-end controls (regions, log,
 * inflight area, VVU windows) with the vid it belongs to, and removes it
 * before unmapping it. A SIGBUS inside such a mapping is contained: zero
 * pages replace the mapping and the connection is closed. 0 or -errno.
 */
int vhost_guard_add(void *addr, size_t len, int vid);
void vhost_guard_del(void *addr);
/* SIGBUS faults contained so far in this process (tests, debugging). */
uint64_t vhost_guard_fault_count(void);
/* Event loop thread: close the connections whose memory faulted. */
void vhost_guard_service(void);

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
 * Change what fd is watched for (EPOLLIN, EPOLLOUT, both, or 0 to pause it
 * without removing it); the callback gets the events that occurred.
 */
int vhost_event_set(int fd, uint32_t events);
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
/* Wake the loop from a signal handler (async-signal-safe). */
void vhost_event_wake_from_signal(void);
/* True when called on the event-loop thread. */
bool vhost_event_on_loop_thread(void);

#endif /* _VHOST_TRANSPORT_H_ */

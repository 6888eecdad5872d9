/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/vhost internal state: devices, virtqueues, the memory table.
 *
 * Who may touch what, and when
 * ----------------------------
 * A device (struct vhost_dev, named by its vid) is one connection of one
 * registered endpoint. Two kinds of threads use it:
 *
 *  - the control thread (vhost_event_loop, one per process) runs the message
 *    handler and the transports' connect/disconnect code. It is the only
 *    thread that creates, reconfigures or frees a device, a virtqueue or the
 *    memory table;
 *  - application lcores call the data path (rte_vhost_enqueue_burst and
 *    friends) on virtqueues, and the getters on devices.
 *
 * Every virtqueue has an access_lock. The data path holds it for the whole
 * burst and only touches a virtqueue whose `access_ok` is true (rings
 * translated, memory mapped). The control thread takes the lock of a
 * virtqueue before it changes anything the data path reads (ring pointers,
 * indexes, size, enable state), and takes the locks of *all* virtqueues
 * (vhost_dev_lock_all_vqs) before it replaces or unmaps the memory table.
 * So a data-path burst either sees the old memory table and rings, or the new
 * ones, never a half-made one, and never an unmapped page.
 *
 * The application is told a device is usable with new_device() only once the
 * first queue pair is ready; before the memory table or a ring of a running
 * device goes away, destroy_device() is called, which the net_vhost PMD and
 * OVS use to stop their lcores from polling the device.
 *
 * Untrusted input: everything that arrives in a message, and everything the
 * front-end writes into shared memory (descriptors, indexes, flags), can be
 * hostile. Addresses are translated only through vhost_gpa_to_vva() /
 * vhost_uva_to_vva(), which return the length that is actually mapped; a
 * caller may use only that many bytes.
 */

#ifndef _VHOST_H_
#define _VHOST_H_

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_log.h>
#include <rte_spinlock.h>
#include <rte_vhost.h>

#include "vhost_user.h"

/* Limits. */
#define VHOST_MAX_VRING			256	/* vring index is 8 bits on the wire */
#define VHOST_MAX_QUEUE_PAIRS		(VHOST_MAX_VRING / 2)
#define VHOST_MAX_RING_SIZE		32768	/* virtio 1.x maximum queue size */
#define VHOST_MAX_MEM_SLOTS		32	/* GET_MAX_MEM_SLOTS answer */
#define VHOST_IFNAME_MAX		256	/* like PATH_MAX-bounded socket paths */
/*
 * Per-connection caps against a front-end that asks for everything (each
 * hit is refused with one log line). No real front-end comes near them:
 * QEMU's vhost-user-blk uses a few MiB of inflight area, and a 128-queue
 * net device with 4096-entry rings has 1M descriptors.
 */
#define VHOST_MAX_INFLIGHT_SIZE		(32ULL << 20)	/* bytes of inflight area */
#define VHOST_MAX_CONN_DESCS		(1u << 20)	/* sum of the vrings' sizes */
/* Connections one server socket accepts at once (rte_vhost_vvu.h can change it). */
#define VHOST_DEFAULT_MAX_CONNECTIONS	128

/* vq->kickfd / callfd / errfd values that are not fds. */
#define VHOST_FD_UNSET		(-2)	/* never configured: queue not ready */
#define VHOST_FD_NONE		(-1)	/* set without an fd (NOFD, fd-less transport) */

/* Feature bits that <linux/virtio_*.h> on Debian 12 may lack. */
#ifndef VIRTIO_F_RING_PACKED
#define VIRTIO_F_RING_PACKED		34
#endif
#ifndef VIRTIO_F_IN_ORDER
#define VIRTIO_F_IN_ORDER		35
#endif
#ifndef VIRTIO_F_IOMMU_PLATFORM
#define VIRTIO_F_IOMMU_PLATFORM		33
#endif
#ifndef VIRTIO_F_ORDER_PLATFORM
#define VIRTIO_F_ORDER_PLATFORM		36
#endif

/*
 * What a net endpoint offers by default: the same virtio feature set as DPDK
 * 22.11's library, so front-ends negotiate the same things with us. That
 * includes CTRL_RX, though the control queue is the front-end's business:
 * DPDK's virtio-user PMD refuses promiscuous/allmulticast without it, and
 * examples/vhost --promiscuous enables it with enable_features().
 * rte_vhost_driver_register() removes IOMMU_PLATFORM without
 * RTE_VHOST_USER_IOMMU_SUPPORT, and host TSO/UFO with linear buffers only.
 */
#define VHOST_NET_FEATURES ( \
	(1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) | \
	(1ULL << VIRTIO_NET_F_MTU) | (1ULL << VIRTIO_NET_F_GSO) | \
	(1ULL << VIRTIO_NET_F_GUEST_TSO4) | (1ULL << VIRTIO_NET_F_GUEST_TSO6) | \
	(1ULL << VIRTIO_NET_F_GUEST_ECN) | (1ULL << VIRTIO_NET_F_GUEST_UFO) | \
	(1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) | \
	(1ULL << VIRTIO_NET_F_HOST_ECN) | (1ULL << VIRTIO_NET_F_HOST_UFO) | \
	(1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_NET_F_CTRL_VQ) | \
	(1ULL << VIRTIO_NET_F_CTRL_RX) | \
	(1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE) | (1ULL << VIRTIO_NET_F_MQ) | \
	(1ULL << VIRTIO_F_ANY_LAYOUT) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | \
	(1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VHOST_F_LOG_ALL) | \
	(1ULL << VHOST_USER_F_PROTOCOL_FEATURES) | (1ULL << VIRTIO_F_VERSION_1) | \
	(1ULL << VIRTIO_F_IOMMU_PLATFORM) | (1ULL << VIRTIO_F_RING_PACKED) | \
	(1ULL << VIRTIO_F_IN_ORDER))

/*
 * Protocol features offered. Not offered: CRYPTO_SESSION and HOST_NOTIFIER
 * (no vhost-crypto, no vDPA), PAGEFAULT (postcopy is refused), CONFIG (a
 * net device has no back-end config space), CROSS_ENDIAN.
 */
#define VHOST_NET_PROTOCOL_FEATURES ( \
	(1ULL << VHOST_USER_PROTO_F_MQ) | (1ULL << VHOST_USER_PROTO_F_LOG_SHMFD) | \
	(1ULL << VHOST_USER_PROTO_F_RARP) | (1ULL << VHOST_USER_PROTO_F_REPLY_ACK) | \
	(1ULL << VHOST_USER_PROTO_F_NET_MTU) | \
	(1ULL << VHOST_USER_PROTO_F_BACKEND_REQ) | \
	(1ULL << VHOST_USER_PROTO_F_BACKEND_SEND_FD) | \
	(1ULL << VHOST_USER_PROTO_F_INFLIGHT_SHMFD) | \
	(1ULL << VHOST_USER_PROTO_F_CONFIGURE_MEM_SLOTS) | \
	(1ULL << VHOST_USER_PROTO_F_STATUS))

/* Logging. The log types carry DPDK's names so existing --log-level works. */
extern int vhost_config_log_level;
extern int vhost_data_log_level;

#define VHOST_LOG_CONFIG(prefix, level, fmt, ...) \
	rte_log(RTE_LOG_ ## level, vhost_config_log_level, \
		"VHOST_CONFIG: (%s) " fmt, (prefix), ##__VA_ARGS__)

#define VHOST_LOG_DATA(prefix, level, fmt, ...) \
	rte_log(RTE_LOG_ ## level, vhost_data_log_level, \
		"VHOST_DATA: (%s) " fmt, (prefix), ##__VA_ARGS__)

struct vhost_dev;
struct vhost_endpoint;
struct vhost_transport_ops;

/* Per-virtqueue statistics (RTE_VHOST_USER_NET_STATS_ENABLE). */
enum vhost_vq_stat_id {
	VHOST_VQ_STAT_GOOD_PACKETS,
	VHOST_VQ_STAT_GOOD_BYTES,
	VHOST_VQ_STAT_MULTICAST,
	VHOST_VQ_STAT_BROADCAST,
	VHOST_VQ_STAT_UNDERSIZE,
	VHOST_VQ_STAT_SIZE_64,
	VHOST_VQ_STAT_SIZE_65_127,
	VHOST_VQ_STAT_SIZE_128_255,
	VHOST_VQ_STAT_SIZE_256_511,
	VHOST_VQ_STAT_SIZE_512_1023,
	VHOST_VQ_STAT_SIZE_1024_1518,
	VHOST_VQ_STAT_SIZE_1519_MAX,
	VHOST_VQ_STAT_GUEST_NOTIFICATIONS,
	VHOST_VQ_STAT_IOTLB_HITS,
	VHOST_VQ_STAT_IOTLB_MISSES,
	VHOST_VQ_STAT_INFLIGHT_SUBMITTED,
	VHOST_VQ_STAT_INFLIGHT_COMPLETED,
	VHOST_VQ_STAT_MAX
};

/* Data-path private per-queue state; defined by the data path (vhost_dp.h). */
struct vhost_vq_dp;

struct vhost_vq {
	/* Hot: read by every burst. Valid only while access_ok. */
	union {
		struct vring_desc *desc;
		struct vring_packed_desc *desc_packed;
	};
	union {
		struct vring_avail *avail;
		struct vring_packed_desc_event *driver_event;
	};
	union {
		struct vring_used *used;
		struct vring_packed_desc_event *device_event;
	};
	uint16_t size;			/* SET_VRING_NUM, checked */
	uint16_t last_avail_idx;	/* split: free-running; packed: ring index */
	uint16_t last_used_idx;
	bool avail_wrap_counter;	/* packed only */
	bool used_wrap_counter;		/* packed only */
	bool access_ok;			/* rings translated, memory mapped */
	bool enabled;			/* SET_VRING_ENABLE (or implicit, see below) */
	bool ready;			/* last readiness told to vring_state_changed */
	bool packed;			/* VIRTIO_F_RING_PACKED negotiated */
	bool event_idx;			/* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool notify_off;		/* application asked for no guest kicks */
	bool stats_enabled;		/* RTE_VHOST_USER_NET_STATS_ENABLE */
	uint16_t index;			/* vring index in the device */

	rte_spinlock_t access_lock;

	/* Control: written by the message handler under access_lock. */
	int kickfd;			/* VHOST_FD_UNSET, VHOST_FD_NONE or an eventfd */
	int callfd;
	int errfd;
	struct vhost_user_vring_addr ring_addrs;	/* as received (front-end VAs) */
	bool addr_set;			/* SET_VRING_ADDR received */
	uint64_t log_guest_addr;	/* used ring GPA for dirty logging */
	bool log_used;			/* VHOST_USER_VRING_F_LOG set */

	/* Inflight tracking (SET_INFLIGHT_FD), owned by the message handler. */
	union {
		struct rte_vhost_inflight_info_split *inflight_split;
		struct rte_vhost_inflight_info_packed *inflight_packed;
	};
	struct rte_vhost_resubmit_info *resubmit_inflight;
	uint64_t global_counter;
	/*
	 * What the attached slice was laid out for: its descriptor count (the
	 * area's queue_size) and ring layout. The inflight API touches at most
	 * min(size, inflight_desc_num) entries, and only in that layout.
	 */
	uint16_t inflight_desc_num;
	bool inflight_layout_packed;

	/* Data path private state (shadow used ring, batching, event idx). */
	struct vhost_vq_dp *dp;

	uint64_t stats[VHOST_VQ_STAT_MAX];
} __rte_cache_aligned;

/*
 * IOTLB cache (vhost_iotlb.c): IOVA ranges the front-end mapped with
 * IOTLB_MSG updates, kept as front-end VAs so a memory-table change needs no
 * flush. Written only by the control thread holding every vq access_lock;
 * read by bursts holding their own. Misses asked for are remembered (under
 * pending_lock, taken by lcores) so a burst loop does not flood the
 * front-end with the same request.
 */
#define VHOST_IOTLB_ENTRIES	256
#define VHOST_IOTLB_PENDING	16

struct vhost_iotlb_entry {
	uint64_t iova;
	uint64_t size;
	uint64_t uaddr;
	uint8_t perm;			/* VHOST_USER_ACCESS_* */
};

struct vhost_iotlb {
	uint32_t nr_entries;
	uint32_t next_evict;		/* round-robin victim when full */
	rte_spinlock_t pending_lock;
	uint32_t nr_pending;
	uint64_t pending[VHOST_IOTLB_PENDING];	/* page IOVAs of misses sent */
	/*
	 * Last: only entries[0..nr_entries) are ever read, so the 8 KiB are
	 * not zeroed at allocation (vhost_dev_new) and stay untouched, not
	 * resident, on a device that never uses an IOMMU.
	 */
	struct vhost_iotlb_entry entries[VHOST_IOTLB_ENTRIES];
};

/* dev->flags */
#define VHOST_DEV_READY		(1u << 0)	/* the vrings that start it are ready */
#define VHOST_DEV_RUNNING	(1u << 1)	/* new_device() returned 0 */
#define VHOST_DEV_FEATURES_SET	(1u << 2)	/* SET_FEATURES received */
#define VHOST_DEV_OWNER_SET	(1u << 3)	/* SET_OWNER received */
#define VHOST_DEV_BROKEN	(1u << 4)	/* the connection is being closed */

struct vhost_dev {
	int vid;
	uint32_t flags;			/* VHOST_DEV_* */
	uint64_t features;		/* negotiated (SET_FEATURES) */
	uint64_t protocol_features;	/* negotiated (SET_PROTOCOL_FEATURES) */
	uint8_t status;			/* SET_STATUS */
	uint16_t mtu;			/* NET_SET_MTU */
	uint32_t nr_vring;		/* one past the highest allocated vring */
	size_t vhost_hlen;		/* virtio-net header size for the features */
	bool linearbuf;			/* RTE_VHOST_USER_LINEARBUF_SUPPORT */
	bool extbuf;			/* RTE_VHOST_USER_EXTBUF_SUPPORT */
	bool compliant_ol_flags;	/* RTE_VHOST_USER_NET_COMPLIANT_OL_FLAGS */
	bool stats_enabled;		/* RTE_VHOST_USER_NET_STATS_ENABLE */
	bool iommu;			/* VIRTIO_F_IOMMU_PLATFORM negotiated */

	struct vhost_vq *vq[VHOST_MAX_VRING];

	/* Memory table; regions[] has VHOST_MAX_MEM_SLOTS entries. */
	struct rte_vhost_memory *mem;
	/*
	 * Moves each time every vq lock is taken (vhost_dev_lock_all_vqs),
	 * which every change of the table does: a region a vring's data
	 * path remembered (vhost_vq_dp.region) is good while it has not.
	 */
	uint64_t mem_gen;		/* 64 bits: it never comes round again */

	/* Dirty log (SET_LOG_BASE). */
	uint64_t log_size;
	uint64_t log_addr;		/* host VA of the bitmap, 0 if none */
	void *log_map;			/* what the transport mapped (for unmap) */
	uint64_t log_map_size;

	/* Inflight region (GET/SET_INFLIGHT_FD). */
	void *inflight_addr;
	uint64_t inflight_size;
	int inflight_fd;
	uint16_t inflight_queue_size;
	uint16_t inflight_num_queues;
	bool inflight_packed;		/* the area is laid out for packed rings */

	/* Back-end request channel (SET_BACKEND_REQ_FD); -1 if none. */
	int backend_req_fd;
	rte_spinlock_t backend_req_lock;	/* the fd and a send on it */
	pthread_mutex_t backend_reply_lock;	/* a request awaiting its reply */

	/* RARP request: MAC to announce (SEND_RARP), picked up by dequeue. */
	uint8_t rarp_mac[6];
	bool rarp_pending;

	/* Application hooks. */
	const struct rte_vhost_device_ops *notify_ops;
	struct rte_vhost_user_extern_ops extern_ops;
	void *extern_data;

	/* Who we are and how we talk. */
	struct vhost_endpoint *ep;
	const struct vhost_transport_ops *trans;
	void *trans_priv;		/* transport connection state */
	char ifname[VHOST_IFNAME_MAX];	/* the endpoint's path, for logs */

	/*
	 * IOTLB (IOMMU_PLATFORM); zeroed at allocation but for its entries,
	 * no set-up needed. Stays the last member (vhost_dev_new).
	 */
	struct vhost_iotlb iotlb;
};

/* ---- Device table (vhost.c) ---- */

/* Allocate a device for a new connection of ep; returns it, or NULL. */
struct vhost_dev *vhost_dev_new(struct vhost_endpoint *ep);
/* Stop (destroy_device), unmap, close fds and free the device. */
void vhost_dev_free(struct vhost_dev *dev);
/* Look up a vid; NULL (and one log line) if it does not name a device. */
struct vhost_dev *vhost_dev_get(int vid);
/* vhost.c's table of devices by vid (see there); read with vhost_dev_lookup(). */
extern struct vhost_dev *vhost_devices[RTE_MAX_VHOST_DEVICE];

/* The device of vid, or NULL; no logging (data-path callers). Inline: every burst does it. */
static inline struct vhost_dev *
vhost_dev_lookup(int vid)
{
	if (unlikely(vid < 0 || vid >= RTE_MAX_VHOST_DEVICE))
		return NULL;
	return __atomic_load_n(&vhost_devices[vid], __ATOMIC_ACQUIRE);
}
/* Allocate vring idx (and every vring below it) if not yet there. */
int vhost_vq_alloc(struct vhost_dev *dev, uint32_t idx);
/* Back to the state right after connect (RESET_OWNER / RESET_DEVICE). */
void vhost_dev_reset(struct vhost_dev *dev);
/* Take and release every virtqueue's access_lock (memory table changes). */
void vhost_dev_lock_all_vqs(struct vhost_dev *dev);
void vhost_dev_unlock_all_vqs(struct vhost_dev *dev);
/* If running, call destroy_device() and clear VHOST_DEV_RUNNING. */
void vhost_dev_stop(struct vhost_dev *dev);
/*
 * If vq was announced ready, announce it not ready now (vring_state_changed
 * with 0). Called without vq's lock, before one of its fds is replaced.
 */
void vhost_vq_announce_down(struct vhost_dev *dev, struct vhost_vq *vq);
/* If the device has become ready and is not running, call new_device(). */
void vhost_dev_check_ready(struct vhost_dev *dev);
/* Unmap every memory region through the transport; empties dev->mem. */
void vhost_mem_unmap_all(struct vhost_dev *dev);

/* ---- Message handler (vhost_user*.c) ---- */

/*
 * Validate ctx against the message rules and run its handler; the reply, if
 * any, goes out through dev->trans->send_reply. Returns 0 on success, or a
 * negative errno, in which case the connection has been handed to the
 * transport's disconnect op (vhost_dev_disconnect) and the transport closes
 * it: a transport decides from its disconnect op, not from the return value.
 */
int vhost_user_msg_handle(struct vhost_dev *dev, struct vhost_user_ctx *ctx);
/* Translate the rings of vq from its ring_addrs; sets vq->access_ok. */
int vhost_vq_validate(struct vhost_dev *dev, struct vhost_vq *vq);

/* ---- Data path hooks (virtio_net*.c) ---- */

/* (Re)allocate per-queue data-path state after SET_VRING_NUM. */
int vhost_vq_dp_init(struct vhost_dev *dev, struct vhost_vq *vq);
/* Forget batched state (before GET_VRING_BASE answers, before unmap). */
void vhost_vq_dp_reset(struct vhost_vq *vq);
void vhost_vq_dp_free(struct vhost_vq *vq);
/* Apply notify_off / event idx to a freshly translated ring. */
void vhost_vq_notify_apply(struct vhost_dev *dev, struct vhost_vq *vq);
/* Dirty logging of a guest-physical range (no-op unless LOG_ALL). */
void vhost_log_write_range(struct vhost_dev *dev, uint64_t gpa, uint64_t len);

/* ---- Address translation (inline: the data path calls these per buffer) ---- */

/* The memory region holding guest-physical gpa, or NULL. */
static __rte_always_inline const struct rte_vhost_mem_region *
vhost_gpa_region(const struct vhost_dev *dev, uint64_t gpa)
{
	const struct rte_vhost_memory *mem = dev->mem;
	uint32_t i;

	for (i = 0; i < mem->nregions; i++)
		/* unsigned wrap makes gpa < base fail the same test */
		if (gpa - mem->regions[i].guest_phys_addr < mem->regions[i].size)
			return &mem->regions[i];
	return NULL;
}

/*
 * Host VA of guest-physical [gpa, gpa + *len). On return *len is the number
 * of bytes mapped contiguously from gpa (possibly less than asked); 0 and
 * *len == 0 if gpa is not mapped. The caller must use at most *len bytes.
 */
static __rte_always_inline uint64_t
vhost_gpa_to_vva(const struct vhost_dev *dev, uint64_t gpa, uint64_t *len)
{
	const struct rte_vhost_memory *mem = dev->mem;
	uint32_t i;

	for (i = 0; i < mem->nregions; i++) {
		const struct rte_vhost_mem_region *r = &mem->regions[i];
		uint64_t off = gpa - r->guest_phys_addr;

		/* unsigned wrap makes gpa < base fail the same test */
		if (off < r->size) {
			if (*len > r->size - off)
				*len = r->size - off;
			return r->host_user_addr + off;
		}
	}
	*len = 0;
	return 0;
}

/* The same for front-end virtual addresses (ring addresses, IOTLB uaddr). */
static __rte_always_inline uint64_t
vhost_uva_to_vva(const struct vhost_dev *dev, uint64_t uva, uint64_t *len)
{
	const struct rte_vhost_memory *mem = dev->mem;
	uint32_t i;

	for (i = 0; i < mem->nregions; i++) {
		const struct rte_vhost_mem_region *r = &mem->regions[i];
		uint64_t off = uva - r->guest_user_addr;

		if (off < r->size) {
			if (*len > r->size - off)
				*len = r->size - off;
			return r->host_user_addr + off;
		}
	}
	*len = 0;
	return 0;
}

/*
 * Translate an address found in a descriptor. Without IOMMU_PLATFORM it is
 * a guest-physical address; with it, an IOVA looked up in the IOTLB
 * (vhost_iotlb.c), which may ask the front-end for a missing entry.
 */
uint64_t vhost_iova_to_vva_iotlb(struct vhost_dev *dev, struct vhost_vq *vq,
				 uint64_t iova, uint64_t *len, uint8_t perm);

static __rte_always_inline uint64_t
vhost_desc_to_vva(struct vhost_dev *dev, struct vhost_vq *vq,
		  uint64_t addr, uint64_t *len, uint8_t perm)
{
	if (unlikely(dev->iommu))
		return vhost_iova_to_vva_iotlb(dev, vq, addr, len, perm);
	return vhost_gpa_to_vva(dev, addr, len);
}

static inline bool
vhost_has_feature(const struct vhost_dev *dev, unsigned int bit)
{
	return (dev->features >> bit) & 1;
}

static inline bool
vhost_has_protocol_feature(const struct vhost_dev *dev, unsigned int bit)
{
	return (dev->protocol_features >> bit) & 1;
}

#endif /* _VHOST_H_ */

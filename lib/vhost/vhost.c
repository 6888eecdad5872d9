/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device table and device lifecycle.
 *
 * A vid is an index into vhost_devices[]. The control thread is the only
 * writer of the table (vhost_dev_new/vhost_dev_free run there or in an
 * rte_vhost_driver_* caller); application lcores only read it, through
 * vhost_dev_get()/vhost_dev_lookup(). A slot is published with a release
 * store once the device is fully built, and cleared only after the
 * application has been told (destroy_device, destroy_connection), so a
 * getter that finds a device sees it initialised.
 *
 * Lifecycle of one connection, and who calls what:
 *
 *   transport accepts/connects
 *     -> vhost_dev_new(ep)            vid allocated, new_connection(vid)
 *   messages
 *     -> vhost_user_msg_handle()      ... vhost_dev_check_ready()
 *                                         -> new_device(vid)
 *   RESET_OWNER / RESET_DEVICE
 *     -> vhost_dev_reset()            destroy_device(vid) if running
 *   connection ends (peer gone, bad message, unregister)
 *     -> vhost_dev_free()             destroy_device(vid) if running,
 *                                     everything unmapped and closed,
 *                                     destroy_connection(vid), vid freed
 *
 * destroy_device() always comes before destroy_connection(), as in DPDK
 * 22.11 (net_vhost relies on it), and the vid stays valid during both so
 * the application may still query it (OVS and SPDK read the ifname there).
 *
 * Locking: the functions here that call back into the application
 * (vhost_dev_stop, vhost_dev_reset, vhost_dev_free) must be called without
 * holding any virtqueue access_lock: destroy_device() typically waits for
 * the lcores that poll the device, and those lcores may be spinning on the
 * very lock. They take the locks themselves around the teardown.
 */

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include <rte_log.h>
#include <rte_vhost.h>

#include "vhost.h"
#include "vhost_transport.h"

RTE_LOG_REGISTER(vhost_config_log_level, lib.vhost.config, INFO);
RTE_LOG_REGISTER(vhost_data_log_level, lib.vhost.data, WARNING);

/* The library's own net device starts once its first queue pair is ready. */
#define VHOST_NET_READY_VRINGS	2

struct vhost_dev *vhost_devices[RTE_MAX_VHOST_DEVICE];
/* Serialises vid allocation between endpoints' connections. */
static pthread_mutex_t vhost_devices_lock = PTHREAD_MUTEX_INITIALIZER;

struct vhost_dev *
vhost_dev_get(int vid)
{
	struct vhost_dev *dev = vhost_dev_lookup(vid);

	if (unlikely(dev == NULL))
		VHOST_LOG_CONFIG("device", ERR, "vid %d does not name a device\n", vid);
	return dev;
}

static void
vhost_vq_init(struct vhost_dev *dev, struct vhost_vq *vq, uint32_t idx)
{
	memset(vq, 0, sizeof(*vq));
	vq->index = idx;
	vq->kickfd = VHOST_FD_UNSET;
	vq->callfd = VHOST_FD_UNSET;
	vq->errfd = VHOST_FD_UNSET;
	/* A packed ring starts with both wrap counters set (virtio 1.1 2.7.1). */
	vq->avail_wrap_counter = true;
	vq->used_wrap_counter = true;
	vq->stats_enabled = dev->stats_enabled;
	rte_spinlock_init(&vq->access_lock);
}

int
vhost_vq_alloc(struct vhost_dev *dev, uint32_t idx)
{
	uint32_t i;

	if (idx >= VHOST_MAX_VRING) {
		VHOST_LOG_CONFIG(dev->ifname, ERR, "vring index %u out of range\n", idx);
		return -EINVAL;
	}
	/* Fill every hole below idx too, so dev->vq[0..nr_vring) has no NULL. */
	for (i = dev->nr_vring; i <= idx; i++) {
		struct vhost_vq *vq;

		if (dev->vq[i] != NULL)
			continue;
		vq = aligned_alloc(RTE_CACHE_LINE_SIZE, sizeof(*vq));
		if (vq == NULL) {
			VHOST_LOG_CONFIG(dev->ifname, ERR, "no memory for vring %u\n", i);
			return -ENOMEM;
		}
		vhost_vq_init(dev, vq, i);
		/* Publish only a fully initialised queue to data-path readers. */
		__atomic_store_n(&dev->vq[i], vq, __ATOMIC_RELEASE);
		__atomic_store_n(&dev->nr_vring, i + 1, __ATOMIC_RELEASE);
	}
	return 0;
}

static void
vhost_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

/*
 * The message handler allocates the resubmit list with malloc/calloc (one
 * block for the struct, one for its list) when it rebuilds inflight state.
 */
static void
vhost_vq_free_resubmit(struct vhost_vq *vq)
{
	if (vq->resubmit_inflight == NULL)
		return;
	free(vq->resubmit_inflight->resubmit_list);
	free(vq->resubmit_inflight);
	vq->resubmit_inflight = NULL;
}

void
vhost_dev_lock_all_vqs(struct vhost_dev *dev)
{
	uint32_t i;

	for (i = 0; i < dev->nr_vring; i++)
		if (dev->vq[i] != NULL)
			rte_spinlock_lock(&dev->vq[i]->access_lock);
	/* Under every lock: no burst is between reading it and using its region. */
	dev->mem_gen++;
}

void
vhost_dev_unlock_all_vqs(struct vhost_dev *dev)
{
	uint32_t i;

	for (i = 0; i < dev->nr_vring; i++)
		if (dev->vq[i] != NULL)
			rte_spinlock_unlock(&dev->vq[i]->access_lock);
}

/* Caller holds every vq lock (or the device is invisible to lcores). */
void
vhost_mem_unmap_all(struct vhost_dev *dev)
{
	uint32_t i;

	if (dev->mem == NULL)
		return;
	for (i = 0; i < dev->mem->nregions; i++) {
		struct rte_vhost_mem_region *reg = &dev->mem->regions[i];

		dev->trans->unmap_region(dev, reg);
		memset(reg, 0, sizeof(*reg));
	}
	dev->mem->nregions = 0;
}

/* Log, inflight area and back-end channel: everything beyond the vrings. */
static void
vhost_dev_release_shared(struct vhost_dev *dev)
{
	vhost_trans_unmap_log(dev, dev->log_map, dev->log_map_size);
	dev->log_map = NULL;
	dev->log_map_size = 0;
	dev->log_addr = 0;
	dev->log_size = 0;

	vhost_trans_unmap_inflight(dev, dev->inflight_addr, dev->inflight_size);
	dev->inflight_addr = NULL;
	dev->inflight_size = 0;
	vhost_close_fd(&dev->inflight_fd);
	dev->inflight_fd = -1;
	dev->inflight_queue_size = 0;
	dev->inflight_num_queues = 0;

	rte_spinlock_lock(&dev->backend_req_lock);
	vhost_close_fd(&dev->backend_req_fd);
	dev->backend_req_fd = -1;
	rte_spinlock_unlock(&dev->backend_req_lock);
}

void
vhost_dev_stop(struct vhost_dev *dev)
{
	uint32_t i;

	if (!(dev->flags & VHOST_DEV_RUNNING))
		return;
	/* Clear first: a getter racing with the callback sees "not running". */
	dev->flags &= ~VHOST_DEV_RUNNING;
	VHOST_LOG_CONFIG(dev->ifname, INFO, "device %d stopped\n", dev->vid);
	if (dev->notify_ops != NULL && dev->notify_ops->destroy_device != NULL)
		dev->notify_ops->destroy_device(dev->vid);
	/*
	 * Applications forget their queue states in destroy_device() (net_vhost
	 * does): announce every ready vring again before the next new_device().
	 */
	for (i = 0; i < dev->nr_vring; i++)
		if (dev->vq[i] != NULL)
			dev->vq[i]->ready = false;
}

static bool
vhost_vq_is_ready(const struct vhost_vq *vq)
{
	return vq != NULL && vq->access_ok && vq->enabled &&
		vq->kickfd != VHOST_FD_UNSET && vq->callfd != VHOST_FD_UNSET;
}

/*
 * Tell the application about every vring whose readiness changed, like DPDK
 * does after each message and before new_device(): the net_vhost PMD and OVS
 * poll a queue only once vring_state_changed(vid, idx, 1) said it is ready,
 * and stop when it says 0.
 */
static void
vhost_dev_notify_vring_states(struct vhost_dev *dev)
{
	uint32_t i;

	for (i = 0; i < dev->nr_vring; i++) {
		struct vhost_vq *vq = dev->vq[i];
		bool ready;

		if (vq == NULL)
			continue;
		ready = vhost_vq_is_ready(vq);
		if (ready == vq->ready)
			continue;
		vq->ready = ready;
		if (dev->notify_ops != NULL && dev->notify_ops->vring_state_changed != NULL)
			dev->notify_ops->vring_state_changed(dev->vid, (uint16_t)i, ready);
	}
}

void
vhost_vq_announce_down(struct vhost_dev *dev, struct vhost_vq *vq)
{
	if (!vq->ready)
		return;
	vq->ready = false;
	if (dev->notify_ops != NULL && dev->notify_ops->vring_state_changed != NULL)
		dev->notify_ops->vring_state_changed(dev->vid, vq->index, 0);
}

/*
 * Which vrings must be ready before new_device(), as DPDK 22.11 decides per
 * device type:
 *  - the library's own net device (the application never called
 *    rte_vhost_driver_set_features): the first queue pair, RX 0 and TX 1;
 *    further pairs come and go with vring_state_changed();
 *  - any other device (vhost-blk, vhost-scsi, crypto: the application set
 *    its own features): every vring the front-end has configured, however
 *    many that is, so a single-queue vhost-user-blk front-end (vring 0
 *    only) starts as soon as vring 0 is ready.
 */
static uint32_t
vhost_dev_vrings_to_start(const struct vhost_dev *dev)
{
	if (dev->ep != NULL && dev->ep->custom_device)
		return dev->nr_vring;
	return dev->nr_vring < VHOST_NET_READY_VRINGS ? 0 : VHOST_NET_READY_VRINGS;
}

void
vhost_dev_check_ready(struct vhost_dev *dev)
{
	uint32_t i, n;

	vhost_dev_notify_vring_states(dev);
	n = vhost_dev_vrings_to_start(dev);
	if (n == 0)
		goto not_ready;
	for (i = 0; i < n; i++)
		if (dev->vq[i] == NULL || !dev->vq[i]->ready)
			goto not_ready;
	/* With STATUS the front-end says itself when it is done configuring. */
	if (vhost_has_protocol_feature(dev, VHOST_USER_PROTO_F_STATUS) &&
	    !(dev->status & VIRTIO_CONFIG_S_DRIVER_OK))
		goto not_ready;

	dev->flags |= VHOST_DEV_READY;
	if (dev->flags & VHOST_DEV_RUNNING)
		return;
	VHOST_LOG_CONFIG(dev->ifname, INFO, "device %d is ready\n", dev->vid);
	if (dev->notify_ops == NULL || dev->notify_ops->new_device == NULL) {
		dev->flags |= VHOST_DEV_RUNNING;
		return;
	}
	/* Like DPDK: a refusal leaves the device connected but not running. */
	if (dev->notify_ops->new_device(dev->vid) == 0)
		dev->flags |= VHOST_DEV_RUNNING;
	else
		VHOST_LOG_CONFIG(dev->ifname, ERR, "new_device(%d) refused\n", dev->vid);
	return;

not_ready:
	dev->flags &= ~VHOST_DEV_READY;
}

/*
 * Back to a freshly allocated queue, field by field under the queue's lock
 * (a memset would clobber the lock an lcore may be spinning on). Kept: the
 * index, the lock, the data-path state (re-initialised on the next
 * SET_VRING_NUM), the application's notify_off and stats choices, and, like
 * DPDK, callfd: QEMU does not resend SET_VRING_CALL after RESET_OWNER.
 */
static void
vhost_vq_reset(struct vhost_vq *vq)
{
	if (vq->dp != NULL)
		vhost_vq_dp_reset(vq);
	vhost_close_fd(&vq->kickfd);
	vhost_close_fd(&vq->errfd);
	vhost_vq_free_resubmit(vq);
	vq->access_ok = false;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	vq->size = 0;
	vq->last_avail_idx = 0;
	vq->last_used_idx = 0;
	vq->avail_wrap_counter = true;
	vq->used_wrap_counter = true;
	vq->enabled = false;
	vq->packed = false;
	vq->event_idx = false;
	vq->kickfd = VHOST_FD_UNSET;
	vq->errfd = VHOST_FD_UNSET;
	memset(&vq->ring_addrs, 0, sizeof(vq->ring_addrs));
	vq->addr_set = false;
	vq->log_guest_addr = 0;
	vq->log_used = false;
	vq->inflight_split = NULL;
	vq->global_counter = 0;
}

void
vhost_dev_reset(struct vhost_dev *dev)
{
	uint32_t i;

	vhost_dev_stop(dev);

	vhost_dev_lock_all_vqs(dev);
	for (i = 0; i < dev->nr_vring; i++)
		if (dev->vq[i] != NULL)
			vhost_vq_reset(dev->vq[i]);
	vhost_mem_unmap_all(dev);
	vhost_dev_release_shared(dev);
	vhost_dev_unlock_all_vqs(dev);

	dev->flags = 0;
	dev->features = 0;
	dev->protocol_features = 0;
	dev->status = 0;
	dev->mtu = 0;
	dev->iommu = false;
	dev->vhost_hlen = sizeof(struct virtio_net_hdr);
	dev->rarp_pending = false;
	memset(dev->rarp_mac, 0, sizeof(dev->rarp_mac));
}

struct vhost_dev *
vhost_dev_new(struct vhost_endpoint *ep)
{
	struct vhost_dev *dev;
	int vid;

	/*
	 * Zeroed up to the IOTLB entries, which nothing reads before writing
	 * (iotlb.nr_entries): calloc would write the 8 KiB of every device,
	 * two page faults per connection for nothing without an IOMMU.
	 */
	dev = malloc(sizeof(*dev));
	if (dev == NULL)
		goto nomem;
	RTE_BUILD_BUG_ON(offsetof(struct vhost_dev, iotlb.entries) +
			 sizeof(dev->iotlb.entries) != sizeof(*dev));
	memset(dev, 0, offsetof(struct vhost_dev, iotlb.entries));
	dev->mem = calloc(1, sizeof(*dev->mem) +
			  VHOST_MAX_MEM_SLOTS * sizeof(dev->mem->regions[0]));
	if (dev->mem == NULL)
		goto nomem;

	dev->ep = ep;
	dev->trans = ep->trans;
	dev->notify_ops = vhost_endpoint_notify_ops(ep);
	snprintf(dev->ifname, sizeof(dev->ifname), "%s", ep->path);
	dev->linearbuf = !!(ep->flags & RTE_VHOST_USER_LINEARBUF_SUPPORT);
	dev->extbuf = !!(ep->flags & RTE_VHOST_USER_EXTBUF_SUPPORT);
	dev->compliant_ol_flags = !!(ep->flags & RTE_VHOST_USER_NET_COMPLIANT_OL_FLAGS);
	dev->stats_enabled = !!(ep->flags & RTE_VHOST_USER_NET_STATS_ENABLE);
	dev->vhost_hlen = sizeof(struct virtio_net_hdr);
	dev->inflight_fd = -1;
	dev->backend_req_fd = -1;
	rte_spinlock_init(&dev->backend_req_lock);
	pthread_mutex_init(&dev->backend_reply_lock, NULL);

	pthread_mutex_lock(&vhost_devices_lock);
	for (vid = 0; vid < RTE_MAX_VHOST_DEVICE; vid++)
		if (vhost_devices[vid] == NULL)
			break;
	if (vid == RTE_MAX_VHOST_DEVICE) {
		pthread_mutex_unlock(&vhost_devices_lock);
		VHOST_LOG_CONFIG(ep->path, ERR, "all %d vids in use\n", RTE_MAX_VHOST_DEVICE);
		goto fail;
	}
	dev->vid = vid;
	__atomic_store_n(&vhost_devices[vid], dev, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&vhost_devices_lock);

	VHOST_LOG_CONFIG(dev->ifname, INFO, "new connection, vid %d\n", vid);
	/* DPDK semantics: a negative answer refuses the connection, silently. */
	if (dev->notify_ops != NULL && dev->notify_ops->new_connection != NULL &&
	    dev->notify_ops->new_connection(vid) < 0) {
		VHOST_LOG_CONFIG(dev->ifname, ERR, "new_connection(%d) refused\n", vid);
		__atomic_store_n(&vhost_devices[vid], NULL, __ATOMIC_RELEASE);
		goto fail;
	}
	return dev;

nomem:
	VHOST_LOG_CONFIG(ep->path, ERR, "no memory for a new device\n");
fail:
	if (dev != NULL)
		free(dev->mem);
	free(dev);
	return NULL;
}

void
vhost_dev_free(struct vhost_dev *dev)
{
	uint32_t i;
	int vid = dev->vid;

	dev->flags |= VHOST_DEV_BROKEN;
	vhost_dev_stop(dev);

	/*
	 * Wait for any burst still inside a queue (an application that ignored
	 * destroy_device), then take everything away under the locks.
	 */
	vhost_dev_lock_all_vqs(dev);
	for (i = 0; i < dev->nr_vring; i++)
		if (dev->vq[i] != NULL)
			dev->vq[i]->access_ok = false;
	vhost_mem_unmap_all(dev);
	vhost_dev_release_shared(dev);
	vhost_dev_unlock_all_vqs(dev);

	for (i = 0; i < dev->nr_vring; i++) {
		struct vhost_vq *vq = dev->vq[i];

		if (vq == NULL)
			continue;
		if (vq->dp != NULL)
			vhost_vq_dp_free(vq);
		vhost_close_fd(&vq->kickfd);
		vhost_close_fd(&vq->callfd);
		vhost_close_fd(&vq->errfd);
		vhost_vq_free_resubmit(vq);
	}

	if (dev->notify_ops != NULL && dev->notify_ops->destroy_connection != NULL)
		dev->notify_ops->destroy_connection(vid);
	VHOST_LOG_CONFIG(dev->ifname, INFO, "connection closed, vid %d freed\n", vid);

	pthread_mutex_lock(&vhost_devices_lock);
	__atomic_store_n(&vhost_devices[vid], NULL, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&vhost_devices_lock);

	for (i = 0; i < dev->nr_vring; i++)
		free(dev->vq[i]);
	pthread_mutex_destroy(&dev->backend_reply_lock);
	free(dev->mem);
	free(dev);
}

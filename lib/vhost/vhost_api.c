/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Public per-device getters and setters (rte_vhost_get_*, set_vring_base).
 *
 * They run on application threads, often inside the callbacks the control
 * thread makes (new_device, vring_state_changed), where the message handler
 * may be holding virtqueue locks. So, like DPDK's, they take no locks: they
 * read fields that are stable while the device is running (the message
 * handler changes them only around destroy_device/new_device) and copy them
 * out. Error values follow DPDK 22.11 exactly, since applications test them.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef VHOST_HAVE_NUMA
#include <numaif.h>
#endif

#include <rte_vhost.h>

#include "vhost.h"

/* The packed-ring wrap counter travels in bit 15 of a saved index. */
#define VHOST_PACKED_WRAP_BIT	15
#define VHOST_PACKED_IDX_MASK	((1u << VHOST_PACKED_WRAP_BIT) - 1)

int
rte_vhost_get_mtu(int vid, uint16_t *mtu)
{
	struct vhost_dev *dev = vhost_dev_get(vid);

	if (dev == NULL || mtu == NULL)
		return -ENODEV;
	if (!(dev->flags & VHOST_DEV_READY))
		return -EAGAIN;
	if (!vhost_has_feature(dev, VIRTIO_NET_F_MTU))
		return -ENOTSUP;
	*mtu = dev->mtu;
	return 0;
}

/*
 * The node of the first vring's memory (where the guest put its buffers),
 * falling back to the device structure itself before rings are mapped.
 */
int
rte_vhost_get_numa_node(int vid)
{
	struct vhost_dev *dev = vhost_dev_get(vid);
#ifdef VHOST_HAVE_NUMA
	const void *addr;
	int node = -1;

	if (dev == NULL)
		return -1;
	addr = dev;
	if (dev->nr_vring > 0 && dev->vq[0] != NULL && dev->vq[0]->access_ok)
		addr = dev->vq[0]->desc;
	if (get_mempolicy(&node, NULL, 0, (void *)(uintptr_t)addr,
			  MPOL_F_NODE | MPOL_F_ADDR) < 0) {
		/* A device BAR (VVU inside a VM) has no node: unknown, not an error. */
		if (errno == EFAULT)
			return -1;
		VHOST_LOG_CONFIG(dev->ifname, ERR, "get_mempolicy: %s\n", strerror(errno));
		return -1;
	}
	return node;
#else
	/* Like DPDK built without NUMA: unknown, so OVS keeps its own node. */
	RTE_SET_USED(dev);
	return -1;
#endif
}

uint16_t
rte_vhost_get_vring_num(int vid)
{
	struct vhost_dev *dev = vhost_dev_get(vid);

	if (dev == NULL)
		return 0;
	return (uint16_t)dev->nr_vring;
}

int
rte_vhost_get_ifname(int vid, char *buf, size_t len)
{
	struct vhost_dev *dev = vhost_dev_get(vid);

	if (dev == NULL || buf == NULL || len == 0)
		return -1;
	snprintf(buf, len, "%s", dev->ifname);
	return 0;
}

int
rte_vhost_get_negotiated_features(int vid, uint64_t *features)
{
	struct vhost_dev *dev = vhost_dev_get(vid);

	if (dev == NULL || features == NULL)
		return -1;
	*features = dev->features;
	return 0;
}

int
rte_vhost_get_negotiated_protocol_features(int vid, uint64_t *protocol_features)
{
	struct vhost_dev *dev = vhost_dev_get(vid);

	if (dev == NULL || protocol_features == NULL)
		return -1;
	*protocol_features = dev->protocol_features;
	return 0;
}

/* A copy the caller frees with free(), as DPDK documents. */
int
rte_vhost_get_mem_table(int vid, struct rte_vhost_memory **mem)
{
	struct vhost_dev *dev = vhost_dev_get(vid);
	struct rte_vhost_memory *m;
	uint32_t n;
	size_t size;

	if (dev == NULL || mem == NULL || dev->mem == NULL)
		return -1;
	n = dev->mem->nregions;
	if (n > VHOST_MAX_MEM_SLOTS)
		return -1;
	size = sizeof(*m) + n * sizeof(m->regions[0]);
	m = malloc(size);
	if (m == NULL)
		return -1;
	memcpy(m, dev->mem, size);
	m->nregions = n;
	*mem = m;
	return 0;
}

static struct vhost_vq *
vhost_api_vq(int vid, uint16_t idx)
{
	struct vhost_dev *dev = vhost_dev_get(vid);

	if (dev == NULL || idx >= VHOST_MAX_VRING || idx >= dev->nr_vring)
		return NULL;
	return dev->vq[idx];
}

int
rte_vhost_get_vhost_vring(int vid, uint16_t vring_idx, struct rte_vhost_vring *vring)
{
	struct vhost_vq *vq = vhost_api_vq(vid, vring_idx);

	if (vq == NULL || vring == NULL)
		return -1;
	/*
	 * The unions of both structs overlay split and packed the same way. A
	 * ring stopped by GET_VRING_BASE (or never translated) has no addresses
	 * to give, as in DPDK: its mapping may go away before it restarts.
	 */
	if (vq->access_ok) {
		vring->desc = vq->desc;
		vring->avail = vq->avail;
		vring->used = vq->used;
		vring->log_guest_addr = vq->log_guest_addr;
	} else {
		vring->desc = NULL;
		vring->avail = NULL;
		vring->used = NULL;
		vring->log_guest_addr = 0;
	}
	vring->callfd = vq->callfd;
	vring->kickfd = vq->kickfd;
	vring->size = vq->size;
	return 0;
}

int
rte_vhost_get_log_base(int vid, uint64_t *log_base, uint64_t *log_size)
{
	struct vhost_dev *dev = vhost_dev_get(vid);

	if (dev == NULL || log_base == NULL || log_size == NULL)
		return -1;
	*log_base = dev->log_addr;
	*log_size = dev->log_size;
	return 0;
}

int
rte_vhost_get_vring_base(int vid, uint16_t queue_id, uint16_t *last_avail_idx,
			 uint16_t *last_used_idx)
{
	struct vhost_vq *vq = vhost_api_vq(vid, queue_id);

	if (vq == NULL || last_avail_idx == NULL || last_used_idx == NULL)
		return -1;
	if (vq->packed) {
		*last_avail_idx = (uint16_t)((vq->avail_wrap_counter << VHOST_PACKED_WRAP_BIT) |
					     vq->last_avail_idx);
		*last_used_idx = (uint16_t)((vq->used_wrap_counter << VHOST_PACKED_WRAP_BIT) |
					    vq->last_used_idx);
	} else {
		*last_avail_idx = vq->last_avail_idx;
		*last_used_idx = vq->last_used_idx;
	}
	return 0;
}

int
rte_vhost_set_vring_base(int vid, uint16_t queue_id, uint16_t last_avail_idx,
			 uint16_t last_used_idx)
{
	struct vhost_vq *vq = vhost_api_vq(vid, queue_id);

	if (vq == NULL)
		return -1;
	/* Unlocked like DPDK: the application calls it with the queue stopped. */
	if (vq->packed) {
		vq->last_avail_idx = last_avail_idx & VHOST_PACKED_IDX_MASK;
		vq->avail_wrap_counter = !!(last_avail_idx & (1u << VHOST_PACKED_WRAP_BIT));
		vq->last_used_idx = last_used_idx & VHOST_PACKED_IDX_MASK;
		vq->used_wrap_counter = !!(last_used_idx & (1u << VHOST_PACKED_WRAP_BIT));
	} else {
		vq->last_avail_idx = last_avail_idx;
		vq->last_used_idx = last_used_idx;
	}
	return 0;
}

struct rte_vdpa_device *
rte_vhost_get_vdpa_device(int vid)
{
	return NULL;
}

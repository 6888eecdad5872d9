/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device-wide requests: features, ownership, reset, protocol features,
 * queue count, RARP, MTU, config space, status and the dirty log.
 *
 * Feature changes on a running device: the application's lcores read the
 * negotiated features (header size, ring layout) without any lock, so the
 * only change accepted while running is VHOST_F_LOG_ALL, which QEMU toggles
 * around live migration; the application hears of it via features_changed.
 *
 * Status: with VHOST_USER_PROTO_F_STATUS negotiated, the device is started
 * only once the front-end has set DRIVER_OK (the rule vhost_dev_check_ready
 * applies, as DPDK 22.11 does); writing status 0 resets the virtio device,
 * which stops it (destroy_device) until DRIVER_OK comes again.
 */

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include <rte_vhost.h>

#include "vhost.h"
#include "vhost_transport.h"
#include "vhost_user_priv.h"

/* Ethernet MTU bounds (RFC 791 minimum for IPv4, 16-bit field maximum). */
#define VHOST_MIN_MTU	68
#define VHOST_MAX_MTU	65535
#define VHOST_ETHER_ADDR_LEN	6

const char *
vhost_user_check_mtu(const struct vhost_user_ctx *ctx)
{
	uint64_t mtu = vhost_msg_u64(ctx);

	if (mtu < VHOST_MIN_MTU || mtu > VHOST_MAX_MTU)
		return "MTU outside 68..65535";
	return NULL;
}

const char *
vhost_user_check_status(const struct vhost_user_ctx *ctx)
{
	if (vhost_msg_u64(ctx) > UINT8_MAX)
		return "status does not fit the 8-bit device status";
	return NULL;
}

const char *
vhost_user_check_config(const struct vhost_user_ctx *ctx)
{
	struct vhost_user_config cfg;
	uint32_t data = ctx->msg.hdr.size - offsetof(struct vhost_user_config, region);

	vhost_msg_payload(ctx, &cfg, offsetof(struct vhost_user_config, region));
	if (cfg.size != data)
		return "config size field does not match the payload";
	if (cfg.offset > VHOST_USER_MAX_CONFIG_SIZE ||
	    cfg.size > VHOST_USER_MAX_CONFIG_SIZE - cfg.offset)
		return "config offset + size beyond the config space";
	return NULL;
}

const char *
vhost_user_check_log_base(const struct vhost_user_ctx *ctx)
{
	struct vhost_user_log log;

	vhost_msg_payload(ctx, &log, sizeof(log));
	if (log.mmap_size == 0)
		return "empty log";
	/* CVE-2020-10722: the mapping must cover offset + size exactly. */
	if (log.mmap_offset > UINT64_MAX - log.mmap_size)
		return "log offset + size overflows";
	return NULL;
}

int
vhost_user_get_features(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
			struct vhost_user_reply *reply)
{
	vhost_reply_u64(reply, dev->ep->features);
	return 0;
}

/* Apply the ring layout flags that depend on features to every vring. */
static void
vhost_features_apply_vqs(struct vhost_dev *dev)
{
	bool packed = vhost_has_feature(dev, VIRTIO_F_RING_PACKED);
	bool event_idx = vhost_has_feature(dev, VIRTIO_RING_F_EVENT_IDX);
	uint32_t i;

	vhost_dev_lock_all_vqs(dev);
	if (dev->iommu)
		vhost_iotlb_flush(dev);
	for (i = 0; i < dev->nr_vring; i++) {
		struct vhost_vq *vq = dev->vq[i];

		if (vq == NULL)
			continue;
		vq->packed = packed;
		vq->event_idx = event_idx;
	}
	/* A ring set up under other features must be translated again. */
	vhost_vqs_retranslate(dev);
	vhost_dev_unlock_all_vqs(dev);
}

int
vhost_user_set_features(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
			struct vhost_user_reply *reply)
{
	uint64_t features = vhost_msg_u64(ctx);
	uint64_t changed = features ^ dev->features;

	if (features & ~dev->ep->features) {
		VHOST_MSG_LOG(dev, ctx, ERR, "features 0x%" PRIx64 " not offered (0x%" PRIx64
			      ")\n", features & ~dev->ep->features, dev->ep->features);
		return -EINVAL;
	}
	if ((dev->flags & VHOST_DEV_FEATURES_SET) && changed == 0)
		return 0;	/* QEMU resends it once per queue pair */

	if (dev->flags & VHOST_DEV_RUNNING) {
		if (changed & ~(1ULL << VHOST_F_LOG_ALL)) {
			VHOST_MSG_LOG(dev, ctx, ERR, "features 0x%" PRIx64
				      " changed while running\n", changed);
			return -EBUSY;
		}
		dev->features = features;
		if (dev->notify_ops != NULL && dev->notify_ops->features_changed != NULL)
			dev->notify_ops->features_changed(dev->vid, features);
		return 0;
	}

	dev->features = features;
	dev->flags |= VHOST_DEV_FEATURES_SET;
	if (vhost_has_feature(dev, VIRTIO_NET_F_MRG_RXBUF) ||
	    vhost_has_feature(dev, VIRTIO_F_VERSION_1))
		dev->vhost_hlen = sizeof(struct virtio_net_hdr_mrg_rxbuf);
	else
		dev->vhost_hlen = sizeof(struct virtio_net_hdr);
	dev->iommu = vhost_has_feature(dev, VIRTIO_F_IOMMU_PLATFORM);
	vhost_features_apply_vqs(dev);
	VHOST_MSG_LOG(dev, ctx, INFO, "negotiated 0x%" PRIx64 "\n", features);
	return 0;
}

int
vhost_user_set_owner(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
		     struct vhost_user_reply *reply)
{
	/* QEMU sends one per queue pair on the same connection. */
	dev->flags |= VHOST_DEV_OWNER_SET;
	return 0;
}

/*
 * RESET_OWNER and RESET_DEVICE: back to the state right after connecting,
 * except what the front-end will not send again: it stays the owner and
 * keeps its negotiated protocol features (the spec's RESET_DEVICE keeps
 * ownership; QEMU does not renegotiate after either).
 */
int
vhost_user_reset_owner(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
		       struct vhost_user_reply *reply)
{
	uint64_t protocol_features = dev->protocol_features;
	uint32_t owner = dev->flags & VHOST_DEV_OWNER_SET;

	vhost_dev_reset(dev);
	dev->protocol_features = protocol_features;
	dev->flags |= owner;
	return 0;
}

int
vhost_user_get_protocol_features(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
				 struct vhost_user_reply *reply)
{
	vhost_reply_u64(reply, vhost_endpoint_protocol_features(dev->ep));
	return 0;
}

int
vhost_user_set_protocol_features(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
				 struct vhost_user_reply *reply)
{
	uint64_t pf = vhost_msg_u64(ctx);
	uint64_t offered = vhost_endpoint_protocol_features(dev->ep);

	if (pf & ~offered) {
		VHOST_MSG_LOG(dev, ctx, ERR, "protocol features 0x%" PRIx64 " not offered\n",
			      pf & ~offered);
		return -EINVAL;
	}
	if ((dev->flags & VHOST_DEV_RUNNING) && pf != dev->protocol_features) {
		VHOST_MSG_LOG(dev, ctx, ERR, "protocol features changed while running\n");
		return -EBUSY;
	}
	dev->protocol_features = pf;
	return 0;
}

int
vhost_user_get_queue_num(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
			 struct vhost_user_reply *reply)
{
	uint32_t qp = dev->ep->max_queue_pairs;

	if (qp == 0 || qp > VHOST_MAX_QUEUE_PAIRS)
		qp = VHOST_MAX_QUEUE_PAIRS;
	vhost_reply_u64(reply, qp);
	return 0;
}

int
vhost_user_send_rarp(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
		     struct vhost_user_reply *reply)
{
	uint8_t mac[sizeof(uint64_t)];

	vhost_msg_payload(ctx, mac, sizeof(mac));
	memcpy(dev->rarp_mac, mac, VHOST_ETHER_ADDR_LEN);
	/* The dequeue path reads the MAC after seeing the flag. */
	__atomic_store_n(&dev->rarp_pending, true, __ATOMIC_RELEASE);
	return 0;
}

int
vhost_user_net_set_mtu(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
		       struct vhost_user_reply *reply)
{
	dev->mtu = (uint16_t)vhost_msg_u64(ctx);
	return 0;
}

/*
 * A net device has no back-end config space and CONFIG is not offered; the
 * spec lets the back-end signal an error with an empty reply, which QEMU
 * reports instead of hanging.
 */
int
vhost_user_get_config(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
		      struct vhost_user_reply *reply)
{
	VHOST_MSG_LOG(dev, ctx, INFO, "no config space, empty reply\n");
	reply->msg.hdr.size = 0;
	return 0;
}

int
vhost_user_set_status(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
		      struct vhost_user_reply *reply)
{
	uint8_t status = (uint8_t)vhost_msg_u64(ctx);

	dev->status = status;
	if (status == 0) {
		/* Virtio reset: stop; DRIVER_OK will start the device again. */
		vhost_dev_stop(dev);
		dev->flags &= ~VHOST_DEV_READY;
	}
	/* vhost_dev_check_ready() runs after every accepted message. */
	return 0;
}

int
vhost_user_get_status(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
		      struct vhost_user_reply *reply)
{
	vhost_reply_u64(reply, dev->status);
	return 0;
}

/*
 * SET_LOG_BASE: the transport maps the log (AF_UNIX: the fd; a transport
 * without fds: its own window). Only a transport that declares LOG_SHMFD
 * gets here: the rule needs it negotiated.
 * The fd stays in ctx and is closed by the transport afterwards. The new
 * log is published under every vq lock; the old one is unmapped after.
 */
int
vhost_user_set_log_base(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
			struct vhost_user_reply *reply)
{
	void *map = NULL, *old_map;
	uint64_t map_size = 0, addr = 0, old_size;
	struct vhost_user_log log;
	int fd = ctx->nr_fds > 0 ? ctx->fds[0] : -1;
	int ret;

	vhost_msg_payload(ctx, &log, sizeof(log));
	ret = vhost_trans_map_log(dev, fd, log.mmap_size, log.mmap_offset, &map, &map_size,
				  &addr);
	if (ret < 0 || addr == 0) {
		VHOST_MSG_LOG(dev, ctx, ERR, "mapping 0x%" PRIx64 " bytes at 0x%" PRIx64
			      " failed (%d)\n", log.mmap_size, log.mmap_offset, ret);
		if (ret == 0)
			vhost_trans_unmap_log(dev, map, map_size);
		return ret < 0 ? ret : -EINVAL;
	}

	vhost_dev_lock_all_vqs(dev);
	old_map = dev->log_map;
	old_size = dev->log_map_size;
	dev->log_map = map;
	dev->log_map_size = map_size;
	dev->log_addr = addr;
	dev->log_size = log.mmap_size;
	vhost_dev_unlock_all_vqs(dev);

	vhost_trans_unmap_log(dev, old_map, old_size);

	/* The spec asks for a u64 0 once the log is in place. */
	vhost_reply_u64(reply, 0);
	return 0;
}

/*
 * SET_LOG_FD: an eventfd to signal log updates with. We never signal it
 * (QEMU does not send it either); accepted and closed where the transport
 * can carry a log at all, refused where it cannot.
 */
int
vhost_user_set_log_fd(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
		      struct vhost_user_reply *reply)
{
	if (!(dev->trans->protocol_features & (1ULL << VHOST_USER_PROTO_F_LOG_SHMFD))) {
		VHOST_MSG_LOG(dev, ctx, ERR, "transport %s has no dirty log\n",
			      dev->trans->name);
		return -ENOTSUP;
	}
	return 0;
}

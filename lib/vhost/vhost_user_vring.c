/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-vring requests: SET_VRING_NUM/ADDR/BASE, GET_VRING_BASE,
 * SET_VRING_KICK/CALL/ERR, SET_VRING_ENABLE and VRING_KICK.
 *
 * The dispatcher has checked the index and allocated the vring. Everything
 * a burst reads is changed under the vring's access_lock, with access_ok
 * cleared first, so a burst sees a ring either as it was or fully set up.
 * Application callbacks (destroy_device, vring_state_changed) are called
 * without the lock: they may wait for lcores spinning on it. Every change of
 * a vring's readiness reaches vring_state_changed() from
 * vhost_dev_check_ready(), which the dispatcher runs after each message.
 *
 * When is a vring ready? vhost_dev_check_ready() (vhost.c) decides, after
 * every message: size set, rings translated (access_ok), kick and call
 * configured (an fd or "none"), enabled; for the device, the first pair
 * ready plus DRIVER_OK when STATUS is negotiated. Without
 * VHOST_USER_F_PROTOCOL_FEATURES the spec has a ring enabled by its kick
 * and disabled by GET_VRING_BASE; with it, by SET_VRING_ENABLE only.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#include <linux/virtio_ring.h>

#include <rte_vhost.h>

#include "vhost.h"
#include "vhost_transport.h"
#include "vhost_user_priv.h"

#define VHOST_PACKED_WRAP_SHIFT	15
#define VHOST_PACKED_IDX_MASK	((1u << VHOST_PACKED_WRAP_SHIFT) - 1)

const char *
vhost_user_check_vring_num(const struct vhost_user_ctx *ctx)
{
	struct vhost_user_vring_state st;

	vhost_msg_payload(ctx, &st, sizeof(st));
	if (st.num == 0 || st.num > VHOST_MAX_RING_SIZE)
		return "ring size outside 1..32768";
	return NULL;
}

const char *
vhost_user_check_vring_enable(const struct vhost_user_ctx *ctx)
{
	struct vhost_user_vring_state st;

	vhost_msg_payload(ctx, &st, sizeof(st));
	if (st.num > 1)
		return "enable is neither 0 nor 1";
	return NULL;
}

static void
vhost_fd_replace(int *slot, int fd)
{
	if (*slot >= 0)
		close(*slot);
	*slot = fd;
}

/* Descriptors of every vring of dev: what its data-path state costs. */
static uint32_t
vhost_conn_descs(const struct vhost_dev *dev)
{
	uint32_t i, n = 0;

	for (i = 0; i < dev->nr_vring; i++)
		if (dev->vq[i] != NULL)
			n += dev->vq[i]->size;
	return n;
}

int
vhost_user_set_vring_num(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
			 struct vhost_user_reply *reply)
{
	struct vhost_user_vring_state st;
	struct vhost_vq *vq;
	int ret = 0;

	vhost_msg_payload(ctx, &st, sizeof(st));
	vq = vhost_msg_vq(dev, st.index);
	if (vhost_conn_descs(dev) - vq->size + st.num > VHOST_MAX_CONN_DESCS) {
		VHOST_MSG_LOG(dev, ctx, ERR, "vring %u: %u more descriptors would pass the "
			      "limit of %u for a connection\n", st.index, st.num,
			      VHOST_MAX_CONN_DESCS);
		return -E2BIG;
	}
	if (!vhost_has_feature(dev, VIRTIO_F_RING_PACKED) && (st.num & (st.num - 1)) != 0) {
		VHOST_MSG_LOG(dev, ctx, ERR, "vring %u: split ring size %u not a power of 2\n",
			      st.index, st.num);
		return -EINVAL;
	}

	rte_spinlock_lock(&vq->access_lock);
	vq->access_ok = false;
	vq->size = (uint16_t)st.num;	/* 1..32768, checked by the rules */
	vq->packed = vhost_has_feature(dev, VIRTIO_F_RING_PACKED);
	vq->event_idx = vhost_has_feature(dev, VIRTIO_RING_F_EVENT_IDX);
	ret = vhost_vq_dp_init(dev, vq);
	if (ret < 0) {
		vq->size = 0;
		rte_spinlock_unlock(&vq->access_lock);
		VHOST_MSG_LOG(dev, ctx, ERR, "vring %u: data path set-up failed (%d)\n",
			      st.index, ret);
		return ret;
	}
	/* Addresses and an inflight slice checked for the old size must fit too. */
	ret = vhost_vq_validate(dev, vq);
	if (ret == -EAGAIN)
		ret = 0;
	rte_spinlock_unlock(&vq->access_lock);
	if (ret < 0)
		VHOST_MSG_LOG(dev, ctx, ERR, "vring %u: rings do not fit size %u (%d)\n",
			      st.index, st.num, ret);
	return ret;
}

int
vhost_user_set_vring_addr(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
			  struct vhost_user_reply *reply)
{
	struct vhost_user_vring_addr addr;
	struct vhost_vq *vq;
	int ret;

	vhost_msg_payload(ctx, &addr, sizeof(addr));
	vq = vhost_msg_vq(dev, addr.index);

	rte_spinlock_lock(&vq->access_lock);
	vq->ring_addrs = addr;
	vq->addr_set = true;
	ret = vhost_vq_validate(dev, vq);
	/* No table or size yet: translated when they arrive. */
	if (ret == -EAGAIN)
		ret = 0;
	rte_spinlock_unlock(&vq->access_lock);
	if (ret < 0)
		VHOST_MSG_LOG(dev, ctx, ERR, "vring %u: desc 0x%" PRIx64 " avail 0x%" PRIx64
			      " used 0x%" PRIx64 " not %s\n", addr.index,
			      addr.desc_user_addr, addr.avail_user_addr, addr.used_user_addr,
			      ret == -EINVAL ? "aligned" : "fully mapped");
	return ret;
}

int
vhost_user_set_vring_base(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
			  struct vhost_user_reply *reply)
{
	struct vhost_user_vring_state st;
	struct vhost_vq *vq;

	vhost_msg_payload(ctx, &st, sizeof(st));
	vq = vhost_msg_vq(dev, st.index);

	/*
	 * A split ring base is a 16-bit index. A packed one has the avail
	 * index and wrap counter in bits 0-15; QEMU (since 4.2) also puts its
	 * used index and used wrap counter in bits 16-31, and its used wrap
	 * counter starts at 1, so even the first start of a packed ring
	 * carries 0x80008000. Like DPDK, those upper bits are ignored: the
	 * ring was stopped with used == avail (GET_VRING_BASE answers 16
	 * bits), so the used position restarts at the avail one.
	 */
	if (!vhost_has_feature(dev, VIRTIO_F_RING_PACKED) && st.num > UINT16_MAX) {
		VHOST_MSG_LOG(dev, ctx, ERR, "vring %u: split ring base 0x%x above 16 bits\n",
			      st.index, st.num);
		return -EINVAL;
	}

	rte_spinlock_lock(&vq->access_lock);
	if (vq->dp != NULL)
		vhost_vq_dp_reset(vq);
	if (vhost_has_feature(dev, VIRTIO_F_RING_PACKED)) {
		uint16_t idx = st.num & VHOST_PACKED_IDX_MASK;
		bool wrap = !!((st.num >> VHOST_PACKED_WRAP_SHIFT) & 1);

		if (vq->size != 0 && idx >= vq->size) {
			rte_spinlock_unlock(&vq->access_lock);
			VHOST_MSG_LOG(dev, ctx, ERR, "vring %u: packed index %u >= size %u\n",
				      st.index, idx, vq->size);
			return -EINVAL;
		}
		vq->last_avail_idx = idx;
		vq->last_used_idx = idx;
		vq->avail_wrap_counter = wrap;
		vq->used_wrap_counter = wrap;
	} else {
		vq->last_avail_idx = (uint16_t)st.num;
		vq->last_used_idx = (uint16_t)st.num;
	}
	rte_spinlock_unlock(&vq->access_lock);
	return 0;
}

/*
 * The front-end stops the ring and wants to know where we are. The device
 * stops first (destroy_device), so no burst moves the indexes after we read
 * them; then, like DPDK, the kick fd is closed and the ring is no longer
 * ready until the front-end sets it up again.
 */
int
vhost_user_get_vring_base(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
			  struct vhost_user_reply *reply)
{
	struct vhost_user_vring_state st;
	struct vhost_vq *vq;

	vhost_msg_payload(ctx, &st, sizeof(st));
	vq = vhost_msg_vq(dev, st.index);

	vhost_dev_stop(dev);
	dev->flags &= ~VHOST_DEV_READY;

	rte_spinlock_lock(&vq->access_lock);
	if (vq->dp != NULL)
		vhost_vq_dp_reset(vq);
	if (vq->packed)
		st.num = (vq->last_avail_idx & VHOST_PACKED_IDX_MASK) |
			((uint32_t)vq->avail_wrap_counter << VHOST_PACKED_WRAP_SHIFT);
	else
		st.num = vq->last_avail_idx;
	vq->access_ok = false;
	vhost_fd_replace(&vq->kickfd, VHOST_FD_UNSET);
	if (!vhost_has_feature(dev, VHOST_USER_F_PROTOCOL_FEATURES))
		vq->enabled = false;
	vhost_inflight_free_resubmit(vq);
	rte_spinlock_unlock(&vq->access_lock);

	vhost_reply_payload(reply, &st, sizeof(st));
	return 0;
}

int
vhost_user_set_vring_kick(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
			  struct vhost_user_reply *reply)
{
	uint64_t v = vhost_msg_u64(ctx);
	uint32_t index = (uint32_t)(v & VHOST_USER_VRING_IDX_MASK);
	struct vhost_vq *vq = vhost_msg_vq(dev, index);
	int kickfd = vhost_msg_take_fd(ctx, 0);
	int ret = 0;

	/*
	 * A transport that carries no fds kept the front-end's kick eventfd
	 * (NOFD clear) and may give us one of its own that fires on each kick,
	 * so applications can still sleep on vq->kickfd (Rx interrupts).
	 */
	if (kickfd == VHOST_FD_NONE && !dev->trans->passes_fds &&
	    !(v & VHOST_USER_VRING_NOFD_MASK))
		kickfd = vhost_trans_vring_kickfd(dev, vq);

	/*
	 * Like DPDK: a ready vring whose kick fd changes goes down (0) while
	 * the old fd is still open, and up again (1) after this message. The
	 * net_vhost PMD re-reads the kick fd for its Rx interrupt on each
	 * vring_state_changed(); without the cycle its epoll would keep a
	 * closed (and soon reused) fd number.
	 */
	vhost_vq_announce_down(dev, vq);

	rte_spinlock_lock(&vq->access_lock);
	vhost_fd_replace(&vq->kickfd, kickfd);
	if (!vhost_has_feature(dev, VHOST_USER_F_PROTOCOL_FEATURES))
		vq->enabled = true;
	/* After GET_VRING_BASE the ring may restart with a kick alone. */
	if (vq->addr_set && !vq->access_ok && vhost_vq_validate(dev, vq) == -EFAULT)
		VHOST_MSG_LOG(dev, ctx, WARNING, "vring %u not mapped\n", index);
	if (vhost_has_protocol_feature(dev, VHOST_USER_PROTO_F_INFLIGHT_SHMFD))
		ret = vhost_inflight_vq_setup(dev, vq);
	rte_spinlock_unlock(&vq->access_lock);
	if (ret < 0) {
		VHOST_MSG_LOG(dev, ctx, ERR, "vring %u: bad inflight state (%d)\n", index, ret);
		return ret;
	}
	return 0;
}

static int
vhost_vring_set_fd(struct vhost_dev *dev, struct vhost_user_ctx *ctx, bool call)
{
	uint32_t index = (uint32_t)(vhost_msg_u64(ctx) & VHOST_USER_VRING_IDX_MASK);
	struct vhost_vq *vq = vhost_msg_vq(dev, index);
	int fd = ctx->nr_fds > 0 ? ctx->fds[0] : -1;

	/*
	 * We write this fd from data-path lcores, under the vq's access_lock.
	 * The protocol says eventfd, but nothing makes it one: a pipe or a
	 * socket the front-end never reads would block that write, the lcore
	 * and, through the lock, the event loop that serves everyone. Never
	 * blocking costs a real (non-blocking) eventfd nothing. The flag is on
	 * the open file, which the front-end shares: one that read()s its call
	 * or err eventfd blocking while it is zero would now see EAGAIN
	 * (QEMU's notifiers are non-blocking; DPDK's virtio_user reads one
	 * only after epoll reports it readable).
	 */
	if (fd >= 0) {
		int fl = fcntl(fd, F_GETFL);

		/* Front-ends make theirs non-blocking already: no second call. */
		if (fl < 0 ||
		    ((fl & O_NONBLOCK) == 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)) {
			VHOST_MSG_LOG(dev, ctx, ERR, "vring %u: cannot make the fd non-blocking\n",
				      index);
			return -EINVAL;	/* the transport closes it */
		}
	}

	/* A new call fd is announced like a new kick fd (DPDK does the same). */
	if (call)
		vhost_vq_announce_down(dev, vq);

	rte_spinlock_lock(&vq->access_lock);
	vhost_fd_replace(call ? &vq->callfd : &vq->errfd, vhost_msg_take_fd(ctx, 0));
	rte_spinlock_unlock(&vq->access_lock);
	return 0;
}

int
vhost_user_set_vring_call(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
			  struct vhost_user_reply *reply)
{
	return vhost_vring_set_fd(dev, ctx, true);
}

int
vhost_user_set_vring_err(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
			 struct vhost_user_reply *reply)
{
	return vhost_vring_set_fd(dev, ctx, false);
}

int
vhost_user_set_vring_enable(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
			    struct vhost_user_reply *reply)
{
	struct vhost_user_vring_state st;
	struct vhost_vq *vq;
	bool enable;

	vhost_msg_payload(ctx, &st, sizeof(st));
	vq = vhost_msg_vq(dev, st.index);
	enable = st.num != 0;

	rte_spinlock_lock(&vq->access_lock);
	vq->enabled = enable;
	rte_spinlock_unlock(&vq->access_lock);
	/* vhost_dev_check_ready(), after this message, tells the application. */
	return 0;
}

/* In-band kick: we poll the rings, so there is nothing to wake. */
int
vhost_user_vring_kick(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
		      struct vhost_user_reply *reply)
{
	return 0;
}

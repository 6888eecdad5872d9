/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inflight tracking (VHOST_USER_PROTO_F_INFLIGHT_SHMFD): GET/SET_INFLIGHT_FD
 * and the public rte_vhost_*inflight* API that block back-ends (SPDK) use to
 * survive a reconnect without losing requests.
 *
 * Layout (ours, the front-end only stores it): num_queues slices, each
 * rounded up to VHOST_INFLIGHT_ALIGN bytes, slice i belonging to vring i and
 * holding an rte_vhost_inflight_info_split or _packed header followed by
 * queue_size descriptors. The layout follows the ring format negotiated at
 * the time of the request.
 *
 * The area is shared with the front-end, so everything read back from it
 * (indexes, list links, counts) is bounded by the ring size before use: a
 * hostile front-end may have written anything there.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_ring.h>

#include <rte_common.h>
#include <rte_vhost.h>

#include "vhost.h"
#include "vhost_transport.h"
#include "vhost_user_priv.h"

#define VHOST_INFLIGHT_ALIGN	64
#define VHOST_INFLIGHT_VERSION	1
/* A packed ring index carries its wrap counter in bit 15. */
#define VHOST_INFLIGHT_WRAP_SHIFT	15
#define VHOST_INFLIGHT_IDX_MASK	((1u << VHOST_INFLIGHT_WRAP_SHIFT) - 1)

static uint64_t
vhost_inflight_pervq(uint16_t queue_size, bool packed)
{
	uint64_t sz;

	if (packed)
		sz = sizeof(struct rte_vhost_inflight_info_packed) +
			(uint64_t)queue_size * sizeof(struct rte_vhost_inflight_desc_packed);
	else
		sz = sizeof(struct rte_vhost_inflight_info_split) +
			(uint64_t)queue_size * sizeof(struct rte_vhost_inflight_desc_split);
	return RTE_ALIGN_CEIL(sz, VHOST_INFLIGHT_ALIGN);
}

const char *
vhost_user_check_inflight(const struct vhost_user_ctx *ctx)
{
	struct vhost_user_inflight inf;

	vhost_msg_payload(ctx, &inf, sizeof(inf));
	/* CVE-2021-3839: num_queues indexes our vring array. */
	if (inf.num_queues == 0 || inf.num_queues > VHOST_MAX_VRING)
		return "queue count outside 1..256";
	if (inf.queue_size == 0 || inf.queue_size > VHOST_MAX_RING_SIZE)
		return "queue size outside 1..32768";
	if (ctx->msg.hdr.request == VHOST_USER_SET_INFLIGHT_FD) {
		if (inf.mmap_size == 0)
			return "empty inflight area";
		if (inf.mmap_offset > UINT64_MAX - inf.mmap_size)
			return "inflight offset + size overflows";
	}
	return NULL;
}

void
vhost_inflight_free_resubmit(struct vhost_vq *vq)
{
	if (vq->resubmit_inflight == NULL)
		return;
	free(vq->resubmit_inflight->resubmit_list);
	free(vq->resubmit_inflight);
	vq->resubmit_inflight = NULL;
}

/* Forget the current area (CVE-2020-10726: repeated requests must not leak). */
static void
vhost_inflight_release(struct vhost_dev *dev)
{
	uint32_t i;

	vhost_dev_lock_all_vqs(dev);
	for (i = 0; i < dev->nr_vring; i++) {
		struct vhost_vq *vq = dev->vq[i];

		if (vq == NULL)
			continue;
		vq->inflight_split = NULL;
		vhost_inflight_free_resubmit(vq);
	}
	vhost_dev_unlock_all_vqs(dev);

	vhost_trans_unmap_inflight(dev, dev->inflight_addr, dev->inflight_size);
	if (dev->inflight_fd >= 0)
		close(dev->inflight_fd);
	dev->inflight_addr = NULL;
	dev->inflight_size = 0;
	dev->inflight_fd = -1;
	dev->inflight_num_queues = 0;
	dev->inflight_queue_size = 0;
}

int
vhost_user_get_inflight_fd(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
			   struct vhost_user_reply *reply)
{
	struct vhost_user_inflight inf;
	bool packed = vhost_has_feature(dev, VIRTIO_F_RING_PACKED);
	uint64_t pervq, size;
	void *addr = NULL;
	int fd = -1, ret;
	uint32_t i, j;

	vhost_msg_payload(ctx, &inf, sizeof(inf));
	pervq = vhost_inflight_pervq(inf.queue_size, packed);
	size = pervq * inf.num_queues;	/* <= 256 * ~1 MiB, no overflow */
	if (size > VHOST_MAX_INFLIGHT_SIZE) {
		VHOST_MSG_LOG(dev, ctx, ERR, "%u queues of %u need 0x%" PRIx64 " bytes of "
			      "inflight area, above the limit of 0x%llx\n", inf.num_queues,
			      inf.queue_size, size, VHOST_MAX_INFLIGHT_SIZE);
		return -E2BIG;
	}

	vhost_inflight_release(dev);
	ret = vhost_trans_alloc_inflight(dev, size, &addr, &fd);
	if (ret < 0 || addr == NULL) {
		VHOST_MSG_LOG(dev, ctx, ERR, "allocating 0x%" PRIx64 " bytes failed (%d)\n",
			      size, ret);
		if (ret == 0 && fd >= 0)
			close(fd);
		return ret < 0 ? ret : -ENOMEM;
	}
	/* A packed slice starts with every descriptor on the free list. */
	if (packed) {
		for (i = 0; i < inf.num_queues; i++) {
			struct rte_vhost_inflight_info_packed *p =
				RTE_PTR_ADD(addr, (size_t)(i * pervq));

			p->used_wrap_counter = 1;
			p->old_used_wrap_counter = 1;
			for (j = 0; j < inf.queue_size; j++)
				p->desc[j].next = (uint16_t)(j + 1);
		}
	}
	dev->inflight_addr = addr;
	dev->inflight_size = size;
	dev->inflight_fd = fd;
	dev->inflight_num_queues = inf.num_queues;
	dev->inflight_queue_size = inf.queue_size;
	dev->inflight_packed = packed;

	inf.mmap_size = size;
	inf.mmap_offset = 0;
	vhost_reply_payload(reply, &inf, sizeof(inf));
	if (fd >= 0) {
		reply->fds[0] = fd;	/* lent: dev->inflight_fd keeps it */
		reply->nr_fds = 1;
	}
	return 0;
}

int
vhost_user_set_inflight_fd(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
			   struct vhost_user_reply *reply)
{
	struct vhost_user_inflight inf;
	bool packed = vhost_has_feature(dev, VIRTIO_F_RING_PACKED);
	int fd = ctx->nr_fds > 0 ? ctx->fds[0] : -1;
	void *addr = NULL;
	int ret;

	vhost_msg_payload(ctx, &inf, sizeof(inf));
	if (inf.mmap_size > VHOST_MAX_INFLIGHT_SIZE) {
		VHOST_MSG_LOG(dev, ctx, ERR, "inflight area of 0x%" PRIx64 " bytes, above the "
			      "limit of 0x%llx\n", inf.mmap_size, VHOST_MAX_INFLIGHT_SIZE);
		return -E2BIG;
	}
	if (inf.mmap_size < vhost_inflight_pervq(inf.queue_size, packed) * inf.num_queues) {
		VHOST_MSG_LOG(dev, ctx, ERR, "0x%" PRIx64 " bytes too small for %u queues of "
			      "%u\n", inf.mmap_size, inf.num_queues, inf.queue_size);
		return -EINVAL;
	}

	vhost_inflight_release(dev);
	ret = vhost_trans_map_inflight(dev, fd, inf.mmap_size, inf.mmap_offset, &addr);
	if (ret < 0 || addr == NULL) {
		VHOST_MSG_LOG(dev, ctx, ERR, "mapping 0x%" PRIx64 " bytes failed (%d)\n",
			      inf.mmap_size, ret);
		if (ret == 0)
			vhost_trans_unmap_inflight(dev, addr, inf.mmap_size);
		return ret < 0 ? ret : -EINVAL;
	}
	dev->inflight_addr = addr;
	dev->inflight_size = inf.mmap_size;
	dev->inflight_fd = vhost_msg_take_fd(ctx, 0);
	if (dev->inflight_fd < 0)
		dev->inflight_fd = -1;
	dev->inflight_num_queues = inf.num_queues;
	dev->inflight_queue_size = inf.queue_size;
	dev->inflight_packed = packed;
	/* Vrings are wired to their slices on their next kick. */
	return 0;
}

static int
vhost_resubmit_cmp(const void *a, const void *b)
{
	const struct rte_vhost_resubmit_desc *x = a, *y = b;

	/* Newest first: the application resubmits in the order it is given. */
	if (x->counter == y->counter)
		return 0;
	return x->counter < y->counter ? 1 : -1;
}

/* Resubmit list of the descriptors still marked inflight, or 0 if none. */
static int
vhost_resubmit_build(struct vhost_vq *vq, uint16_t num, bool packed)
{
	struct rte_vhost_resubmit_info *info;
	uint32_t i, n = 0;

	if (num == 0)
		return 0;
	info = calloc(1, sizeof(*info));
	if (info == NULL)
		return -ENOMEM;
	info->resubmit_list = calloc(num, sizeof(info->resubmit_list[0]));
	if (info->resubmit_list == NULL) {
		free(info);
		return -ENOMEM;
	}
	for (i = 0; i < vq->size && n < num; i++) {
		uint8_t on = packed ? vq->inflight_packed->desc[i].inflight :
			vq->inflight_split->desc[i].inflight;

		if (on != 1)
			continue;
		info->resubmit_list[n].index = (uint16_t)i;
		info->resubmit_list[n].counter = packed ? vq->inflight_packed->desc[i].counter :
			vq->inflight_split->desc[i].counter;
		n++;
	}
	info->resubmit_num = (uint16_t)n;
	qsort(info->resubmit_list, n, sizeof(info->resubmit_list[0]), vhost_resubmit_cmp);
	vq->global_counter = n ? info->resubmit_list[0].counter + 1 : 0;
	vq->resubmit_inflight = info;
	return 0;
}

static int
vhost_inflight_recover_split(struct vhost_vq *vq)
{
	struct rte_vhost_inflight_info_split *s = vq->inflight_split;
	uint16_t last_io, used_idx, num = 0;
	uint32_t i;

	if (s->version == 0) {
		s->version = VHOST_INFLIGHT_VERSION;	/* fresh area */
		return 0;
	}
	s->desc_num = vq->size;
	vq->global_counter = 0;
	if (!vq->access_ok)
		return 0;	/* no used ring to compare with yet */
	used_idx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	last_io = s->last_inflight_io;
	/* The last batch reached the used ring before the crash: not inflight. */
	if (s->used_idx != used_idx && last_io < vq->size) {
		s->desc[last_io].inflight = 0;
		rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
		s->used_idx = used_idx;
	}
	for (i = 0; i < vq->size; i++)
		if (s->desc[i].inflight == 1)
			num++;
	vq->last_avail_idx += num;
	return vhost_resubmit_build(vq, num, false);
}

static int
vhost_inflight_recover_packed(struct vhost_vq *vq)
{
	struct rte_vhost_inflight_info_packed *p = vq->inflight_packed;
	uint16_t num = 0;
	uint32_t i;

	if (p->version == 0) {
		p->version = VHOST_INFLIGHT_VERSION;
		return 0;
	}
	p->desc_num = vq->size;
	if (p->old_used_idx >= vq->size || p->used_idx >= vq->size ||
	    p->free_head >= vq->size || p->old_free_head >= vq->size)
		return -EINVAL;
	/* Roll back or forward the batch that was being completed. */
	if (p->used_idx != p->old_used_idx) {
		if (p->desc[p->old_used_idx].inflight == 0) {
			p->old_used_idx = p->used_idx;
			p->old_used_wrap_counter = p->used_wrap_counter;
			p->old_free_head = p->free_head;
		} else {
			p->used_idx = p->old_used_idx;
			p->used_wrap_counter = p->old_used_wrap_counter;
			p->free_head = p->old_free_head;
		}
	}
	for (i = 0; i < vq->size; i++)
		if (p->desc[i].inflight == 1)
			num++;
	return vhost_resubmit_build(vq, num, true);
}

/* Forget vq's slice; the API refuses from the pointer store on. */
static void
vhost_inflight_vq_detach(struct vhost_vq *vq)
{
	__atomic_store_n(&vq->inflight_split, NULL, __ATOMIC_RELEASE);
	vq->inflight_desc_num = 0;
	vhost_inflight_free_resubmit(vq);
}

int
vhost_inflight_vq_check(struct vhost_dev *dev, struct vhost_vq *vq)
{
	if (vq->inflight_split == NULL)
		return 0;
	if (vq->size <= vq->inflight_desc_num && vq->packed == vq->inflight_layout_packed)
		return 0;
	VHOST_LOG_CONFIG(dev->ifname, ERR, "vring %u: a %s ring of %u no longer fits its %s "
			 "inflight slice of %u: vring stopped\n", vq->index,
			 vq->packed ? "packed" : "split", vq->size,
			 vq->inflight_layout_packed ? "packed" : "split", vq->inflight_desc_num);
	vhost_inflight_vq_detach(vq);
	return -EINVAL;
}

int
vhost_inflight_vq_setup(struct vhost_dev *dev, struct vhost_vq *vq)
{
	uint64_t pervq;

	/* Rewired below; a resubmit list built at an earlier kick stays. */
	__atomic_store_n(&vq->inflight_split, NULL, __ATOMIC_RELEASE);
	vq->inflight_desc_num = 0;
	if (dev->inflight_addr == NULL || vq->index >= dev->inflight_num_queues ||
	    vq->size == 0)
		return 0;
	if (vq->size > dev->inflight_queue_size)
		return -EINVAL;	/* the slice has fewer descriptors than the ring */
	if (vq->packed != dev->inflight_packed)
		return -EINVAL;	/* laid out for the other ring layout */
	pervq = vhost_inflight_pervq(dev->inflight_queue_size, vq->packed);
	if ((uint64_t)(vq->index + 1) * pervq > dev->inflight_size)
		return -EINVAL;
	vq->inflight_desc_num = dev->inflight_queue_size;
	vq->inflight_layout_packed = dev->inflight_packed;
	__atomic_store_n(&vq->inflight_split,
			 RTE_PTR_ADD(dev->inflight_addr, (size_t)(vq->index * pervq)),
			 __ATOMIC_RELEASE);
	if (vq->resubmit_inflight != NULL)
		return 0;
	return vq->packed ? vhost_inflight_recover_packed(vq) :
		vhost_inflight_recover_split(vq);
}

/* ---- public API (application lcores; no locks, like DPDK) ---- */

static struct vhost_vq *
vhost_inflight_vq(int vid, uint16_t vring_idx, struct vhost_dev **devp)
{
	struct vhost_dev *dev = vhost_dev_lookup(vid);

	if (dev == NULL || vring_idx >= VHOST_MAX_VRING || vring_idx >= dev->nr_vring)
		return NULL;
	*devp = dev;
	return dev->vq[vring_idx];
}

static bool
vhost_inflight_on(const struct vhost_dev *dev)
{
	return vhost_has_protocol_feature(dev, VHOST_USER_PROTO_F_INFLIGHT_SHMFD);
}

/*
 * How many entries of vq's slice the API may touch in layout packed: the
 * ring's size, never more than the slice was laid out for; 0 (refuse) with
 * no slice, or a slice of the other layout. The validation detaches a slice
 * that stops fitting; this bound holds even before it does.
 */
static uint16_t
vhost_inflight_limit(const struct vhost_vq *vq, bool packed)
{
	if (__atomic_load_n(&vq->inflight_split, __ATOMIC_ACQUIRE) == NULL ||
	    vq->inflight_layout_packed != packed || vq->packed != packed)
		return 0;
	return RTE_MIN(vq->size, vq->inflight_desc_num);
}

int
rte_vhost_get_vhost_ring_inflight(int vid, uint16_t vring_idx,
				  struct rte_vhost_ring_inflight *vring)
{
	struct vhost_dev *dev;
	struct vhost_vq *vq = vhost_inflight_vq(vid, vring_idx, &dev);

	if (vq == NULL || vring == NULL)
		return -1;
	if (!vhost_inflight_on(dev))
		return 0;
	if (vhost_inflight_limit(vq, vq->packed) == 0)
		return -1;
	if (vq->packed)
		vring->inflight_packed = vq->inflight_packed;
	else
		vring->inflight_split = vq->inflight_split;
	vring->resubmit_inflight = vq->resubmit_inflight;
	return 0;
}

int
rte_vhost_set_inflight_desc_split(int vid, uint16_t vring_idx, uint16_t idx)
{
	struct vhost_dev *dev;
	struct vhost_vq *vq = vhost_inflight_vq(vid, vring_idx, &dev);

	if (vq == NULL)
		return -1;
	if (!vhost_inflight_on(dev))
		return 0;
	if (idx >= vhost_inflight_limit(vq, false))
		return -1;
	vq->inflight_split->desc[idx].counter = vq->global_counter++;
	vq->inflight_split->desc[idx].inflight = 1;
	return 0;
}

int
rte_vhost_set_inflight_desc_packed(int vid, uint16_t vring_idx, uint16_t head,
				   uint16_t last, uint16_t *inflight_entry)
{
	struct rte_vhost_inflight_info_packed *p;
	struct vhost_dev *dev;
	struct vhost_vq *vq = vhost_inflight_vq(vid, vring_idx, &dev);
	uint16_t old_free_head, free_head, limit;
	uint32_t n;

	if (vq == NULL)
		return -1;
	if (!vhost_inflight_on(dev))
		return 0;
	limit = vhost_inflight_limit(vq, true);
	if (limit == 0 || !vq->access_ok)
		return -1;
	p = vq->inflight_packed;
	if (head >= limit || last >= limit || inflight_entry == NULL)
		return -1;
	old_free_head = p->old_free_head;
	if (old_free_head >= limit)
		return -1;
	free_head = old_free_head;

	p->desc[old_free_head].num = 0;
	p->desc[old_free_head].counter = vq->global_counter++;
	p->desc[old_free_head].inflight = 1;
	/* Copy the chain head..last; every link read back is bounded. */
	for (n = 0; head != (uint16_t)((last + 1) % vq->size); n++) {
		const struct vring_packed_desc *d = &vq->desc_packed[head];

		if (n >= limit || free_head >= limit)
			return -1;
		p->desc[old_free_head].num++;
		p->desc[free_head].addr = d->addr;
		p->desc[free_head].len = d->len;
		p->desc[free_head].flags = d->flags;
		p->desc[free_head].id = d->id;
		p->desc[old_free_head].last = free_head;
		free_head = p->desc[free_head].next;
		p->free_head = free_head;
		head = (uint16_t)((head + 1) % vq->size);
	}
	p->old_free_head = free_head;
	*inflight_entry = old_free_head;
	return 0;
}

int
rte_vhost_set_last_inflight_io_split(int vid, uint16_t vring_idx, uint16_t idx)
{
	struct vhost_dev *dev;
	struct vhost_vq *vq = vhost_inflight_vq(vid, vring_idx, &dev);

	if (vq == NULL)
		return -1;
	if (!vhost_inflight_on(dev))
		return 0;
	if (idx >= vhost_inflight_limit(vq, false))
		return -1;
	vq->inflight_split->last_inflight_io = idx;
	return 0;
}

int
rte_vhost_set_last_inflight_io_packed(int vid, uint16_t vring_idx, uint16_t head)
{
	struct rte_vhost_inflight_info_packed *p;
	struct vhost_dev *dev;
	struct vhost_vq *vq = vhost_inflight_vq(vid, vring_idx, &dev);
	uint16_t last, limit;
	uint32_t used;

	if (vq == NULL)
		return -1;
	if (!vhost_inflight_on(dev))
		return 0;
	limit = vhost_inflight_limit(vq, true);
	if (head >= limit)
		return -1;
	p = vq->inflight_packed;
	last = p->desc[head].last;
	if (last >= limit)
		return -1;
	p->desc[last].next = p->free_head;
	p->free_head = head;
	used = (uint32_t)p->used_idx + p->desc[head].num;
	if (used >= vq->size) {
		used -= vq->size;
		p->used_wrap_counter = !p->used_wrap_counter;
	}
	p->used_idx = (uint16_t)(used % vq->size);
	return 0;
}

int
rte_vhost_clr_inflight_desc_split(int vid, uint16_t vring_idx, uint16_t last_used_idx,
				  uint16_t idx)
{
	struct vhost_dev *dev;
	struct vhost_vq *vq = vhost_inflight_vq(vid, vring_idx, &dev);

	if (vq == NULL)
		return -1;
	if (!vhost_inflight_on(dev))
		return 0;
	if (idx >= vhost_inflight_limit(vq, false))
		return -1;
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	vq->inflight_split->desc[idx].inflight = 0;
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	vq->inflight_split->used_idx = last_used_idx;
	return 0;
}

int
rte_vhost_clr_inflight_desc_packed(int vid, uint16_t vring_idx, uint16_t head)
{
	struct rte_vhost_inflight_info_packed *p;
	struct vhost_dev *dev;
	struct vhost_vq *vq = vhost_inflight_vq(vid, vring_idx, &dev);

	if (vq == NULL)
		return -1;
	if (!vhost_inflight_on(dev))
		return 0;
	if (head >= vhost_inflight_limit(vq, true))
		return -1;
	p = vq->inflight_packed;
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	p->desc[head].inflight = 0;
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	p->old_free_head = p->free_head;
	p->old_used_idx = p->used_idx;
	p->old_used_wrap_counter = p->used_wrap_counter;
	return 0;
}

int
rte_vhost_get_vring_base_from_inflight(int vid, uint16_t queue_id,
				       uint16_t *last_avail_idx, uint16_t *last_used_idx)
{
	struct rte_vhost_inflight_info_packed *p;
	struct vhost_dev *dev;
	struct vhost_vq *vq = vhost_inflight_vq(vid, queue_id, &dev);

	if (vq == NULL || last_avail_idx == NULL || last_used_idx == NULL)
		return -1;
	if (vhost_inflight_limit(vq, true) == 0)
		return -1;
	p = vq->inflight_packed;
	*last_avail_idx = (uint16_t)((p->old_used_wrap_counter << VHOST_INFLIGHT_WRAP_SHIFT) |
				     (p->old_used_idx & VHOST_INFLIGHT_IDX_MASK));
	*last_used_idx = *last_avail_idx;
	return 0;
}

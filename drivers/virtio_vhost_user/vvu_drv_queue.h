/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The driver side of the VVU message queues (internal): rxq (device to
 * driver: front-end messages) and txq (driver to device: replies) as split
 * virtqueues in memory the device can reach.
 *
 * Layout of one queue in its DMA area: descriptor table, available ring,
 * used ring (4 KiB aligned), then size buffers of VVU_BUF_SIZE bytes. Every
 * chain is a single descriptor whose buffer is fixed by its id (buffer id
 * lives at bufs + id * VVU_BUF_SIZE), so the driver never reads a descriptor
 * back from shared memory: the device may scribble on the table, and we
 * would not care.
 *
 * Untrusted: used->idx and every used element. A used index that moves by
 * more than the ring size, an id >= size, an id that is not ours to get
 * back (not in flight), or a length larger than the buffer are device
 * errors: the call fails with -EIO and the queue is unusable until it is
 * set up again (the transport resets the device). A message is copied out
 * of the shared buffer before anyone looks at it, so the device cannot
 * change it after it was checked.
 */

#ifndef _VVU_DRV_QUEUE_H_
#define _VVU_DRV_QUEUE_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/virtio_ring.h>

#include "vvu_spec.h"

/* A buffer holds one whole message (vvu_device_spec.rst §L.6: at least 1 KiB). */
#define VVU_BUF_SIZE		VVU_MSG_BUF_MIN
/* Queue size we ask for (the device offers at most 128, vvu_device_spec.rst §L.6). */
#define VVU_QUEUE_SIZE_MAX	VVU_VQ_MAX_SIZE
#define VVU_RING_ALIGN		4096

struct vvu_drv_vq {
	uint16_t size;			/* power of two */
	uint16_t mask;
	bool rx;			/* device-writable buffers */
	bool broken;			/* the device violated the ring rules */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint64_t desc_iova;
	uint64_t avail_iova;
	uint64_t used_iova;
	uint8_t *bufs;
	uint64_t bufs_iova;
	uint16_t avail_idx;		/* next avail->idx we publish */
	uint16_t last_used;		/* next used element we consume */
	uint16_t nr_free;		/* tx: ids not in flight */
	uint16_t free_ids[VVU_QUEUE_SIZE_MAX];
	bool in_flight[VVU_QUEUE_SIZE_MAX];
};

/* Bytes of DMA memory a queue of size entries needs (ring + buffers). */
size_t vvu_drv_vq_mem_size(uint16_t size);

/*
 * Lay the queue out in [va, va + vvu_drv_vq_mem_size(size)) (device address
 * iova), zeroed by the caller. size must be a power of two <= 128.
 */
int vvu_drv_vq_init(struct vvu_drv_vq *vq, uint16_t size, bool rx, void *va, uint64_t iova);

/* rx: give every buffer that is not in flight to the device. Returns the count. */
unsigned int vvu_drv_vq_rx_post_all(struct vvu_drv_vq *vq);

/*
 * rx: take the next message the device wrote. Returns its length (bytes
 * copied into buf, at most cap), 0 if there is none, or -EIO on a ring
 * violation. The buffer goes back to the device at once.
 */
int vvu_drv_vq_rx_pop(struct vvu_drv_vq *vq, void *buf, size_t cap);

/* tx: take back the buffers the device is done with; -EIO on a violation. */
int vvu_drv_vq_tx_reclaim(struct vvu_drv_vq *vq);

/* tx: queue one message of len bytes; -ENOSPC if no buffer is free. */
int vvu_drv_vq_tx_push(struct vvu_drv_vq *vq, const void *msg, size_t len);

/* Whether the device asked not to be notified (a hint, never trusted further). */
bool vvu_drv_vq_notify_suppressed(const struct vvu_drv_vq *vq);

/*
 * Ask the device for an interrupt per used buffer (on) or for none
 * (VRING_AVAIL_F_NO_INTERRUPT, a hint the device may ignore). Turning them
 * on ends with a full barrier: a caller that then finds no used buffer
 * (vvu_drv_vq_has_used) is sure to get an interrupt for the next one.
 */
void vvu_drv_vq_set_interrupt(struct vvu_drv_vq *vq, bool on);

/* Whether the device returned a buffer we have not taken (checked when taken). */
bool vvu_drv_vq_has_used(const struct vvu_drv_vq *vq);

#endif /* _VVU_DRV_QUEUE_H_ */

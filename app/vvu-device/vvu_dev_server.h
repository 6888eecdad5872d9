/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device's vfio-user side (vvu_dev_server.c). Separate from vvu_device.h so
 * that only the files that speak vfio-user see lib/vfio_user's header.
 */

#ifndef _VVU_DEV_SERVER_H_
#define _VVU_DEV_SERVER_H_

#include <stdbool.h>
#include <stdint.h>

#include "vfio_user.h"

struct vvu_device;

/* Listen on dev->opt.vfio_user_path and serve from dev->loop. */
int vvu_dev_server_start(struct vvu_device *dev);
/* Drop the client, close and unlink the socket. */
void vvu_dev_server_stop(struct vvu_device *dev);

/* The device's answers to the library, exposed for the unit tests. */
int vvu_dev_server_region(struct vvu_device *dev, uint32_t index, struct vfio_user_region *r);
int vvu_dev_server_set_irqs(struct vvu_device *dev, const struct vfio_irq_set *set,
			const uint8_t *bools, const int *fds, unsigned int nr_fds);
int vvu_dev_server_region_rw(struct vvu_device *dev, uint32_t region, uint64_t off, void *buf,
			 uint32_t count, bool write);

#endif /* _VVU_DEV_SERVER_H_ */

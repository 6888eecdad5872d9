/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers of the VVU transport (trans_virtio_vhost_user.c) that the unit
 * tests call directly (internal).
 */

#ifndef _VVU_DRV_TRANSPORT_H_
#define _VVU_DRV_TRANSPORT_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vvu_drv_hw.h"

/*
 * Which device access serves a registered path: a PCI address is kernel
 * VFIO; "vfio-user:<socket>", or any other path registered with
 * RTE_VHOST_USER_VIRTIO_TRANSPORT, is vfio-user; a prefix added with
 * vvu_drv_hw_register() is its ops. Fills *ops and addr (the PCI address, or
 * what follows the prefix). -EINVAL for anything else, or an address that
 * does not fit sockaddr_un.
 */
int vvu_drv_parse_path(const char *path, uint64_t flags, const struct vvu_drv_hw_ops **ops,
		       char *addr, size_t addr_len);

/* True if path is a full PCI address "DDDD:BB:DD.F" (hex digits). */
bool vvu_drv_path_is_pci_addr(const char *path);

/*
 * Serve paths that start with prefix through ops (a third way to reach the
 * device: a test double, another bus). Call before registering such a path;
 * not thread-safe. prefix must stay valid.
 */
int vvu_drv_hw_register(const char *prefix, const struct vvu_drv_hw_ops *ops);

/*
 * How long the driver keeps watching rxq, its interrupt off, after it
 * handled messages (default VVU_DRV_RX_LINGER_US; 0: it sleeps at once).
 * For tests and experiments: applies from the next wait of every endpoint.
 */
#define VVU_DRV_RX_LINGER_US	100
void vvu_drv_set_rx_linger_us(unsigned int us);

#endif /* _VVU_DRV_TRANSPORT_H_ */

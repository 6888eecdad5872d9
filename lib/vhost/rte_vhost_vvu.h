/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Extensions of this librte_vhost.so.23 beyond DPDK 22.11's API.
 *
 * The library serves each path given to rte_vhost_driver_register() through
 * one of several transports. A plain filesystem path is an AF_UNIX socket,
 * exactly as in DPDK. The virtio-vhost-user (VVU) transport serves:
 *  - a PCI address such as "0000:00:04.0": a VVU PCI device bound to
 *    vfio-pci (an appliance VM);
 *  - "vfio-user:<socket path>": a VVU device emulated by dpdk-vvu-device and
 *    reached over vfio-user (one host, tests, the demo);
 *  - any path registered with RTE_VHOST_USER_VIRTIO_TRANSPORT.
 * The transport is chosen from the path, so applications such as the
 * net_vhost PMD (iface=...) and Open vSwitch need no change.
 */

#ifndef _RTE_VHOST_VVU_H_
#define _RTE_VHOST_VVU_H_

#include <rte_vhost.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * rte_vhost_driver_register() flag: serve this path with the
 * virtio-vhost-user transport even if it does not look like a PCI address
 * or a "vfio-user:" path. DPDK 22.11 uses flag bits 0 to 9; this is bit 32,
 * so it never collides with a flag an existing application passes.
 */
#define RTE_VHOST_USER_VIRTIO_TRANSPORT	(1ULL << 32)

/** Path prefix that selects the VVU transport over a vfio-user socket. */
#define RTE_VHOST_VVU_VFIO_USER_PREFIX	"vfio-user:"

/**
 * @warning
 * @b EXPERIMENTAL: this API may change without prior notice.
 *
 * Cap the connections a server socket accepts at once (an extension of
 * this library; DPDK 22.11 has no cap). A connection beyond it is accepted
 * and closed at once, with one log line while the socket stays full, so a
 * flood of connections costs neither vids nor memory. Default 128. Call
 * after rte_vhost_driver_register() and before rte_vhost_driver_start().
 *
 * @param path
 *   The registered path.
 * @param max_connections
 *   1 to RTE_MAX_VHOST_DEVICE.
 * @return
 *   0 on success, -1 for an unknown or started path or a value out of range.
 */
__rte_experimental
int rte_vhost_driver_set_max_connections(const char *path, uint32_t max_connections);

#ifdef __cplusplus
}
#endif

#endif /* _RTE_VHOST_VVU_H_ */

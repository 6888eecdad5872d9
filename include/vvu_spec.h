/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtio-vhost-user (VVU) device as both sides see it: identity,
 * capability numbers, the BAR0 register layout, device configuration,
 * queues and the protocol features the device can carry.
 *
 * This is the one definition shared by the driver
 * (drivers/virtio_vhost_user), the device (app/vvu-device), their tests and
 * the fuzz targets. Each constant is described in
 * doc/guides/vvu_device_spec.rst; the section named after each group below
 * (for example "vvu_device_spec.rst §L.3") is where.
 *
 * Only facts of the device's interface belong here. How a side implements
 * them (driver rings, device state) stays in that side's own headers, under
 * its own prefix (vvu_drv_ / vvu_dev_).
 */

#ifndef _VVU_SPEC_H_
#define _VVU_SPEC_H_

#include <stdint.h>

#include "vhost_user.h"

/* ---- Identity (vvu_device_spec.rst §L.1) ---- */
#define VVU_PCI_VENDOR_ID		0x1AF4
/* Modern virtio PCI device IDs are 0x1040 + the virtio device ID. */
#define VVU_PCI_MODERN_ID_BASE		0x1040
#define VVU_PCI_MODERN_ID_LAST		0x107F
/* The virtio ID is a device option (43 went to the camera upstream). */
#define VVU_VIRTIO_ID_DEFAULT		43
#define VVU_PCI_REVISION		0x01
#define VVU_PCI_CLASS_SUB		0xff	/* base class 0x00: unclassified */
/* Conventional config space: every capability lives in its 256 bytes. */
#define VVU_PCI_CFG_SIZE		256
#define VVU_PCI_NUM_BARS		6

/* ---- Capabilities (vvu_device_spec.rst §L.2) ---- */
/* cfg_type values the virtio-vhost-user draft adds to virtio's 1..5, 8. */
#define VVU_PCI_CAP_DEVICE_AUX_NOTIFY_CFG	6	/* doorbells, driver to device */
#define VVU_PCI_CAP_DRIVER_AUX_NOTIFY_CFG	7	/* kick routing, device to driver */
#define VVU_PCI_CAP_SHARED_MEMORY_CFG		8
/* Shared memory regions (cfg_type 8 "id" field). */
#define VVU_SHMID_MEMORY		1	/* the front-end's memory (BAR2) */
#define VVU_SHMID_LOG			2	/* dirty log (phase 2) */
#define VVU_SHMID_INFLIGHT		3	/* inflight area (phase 2) */
/* Lengths of the virtio capability structures. */
#define VVU_CAP_LEN			16	/* struct virtio_pci_cap */
#define VVU_CAP_MULT_LEN		20	/* + le32 multiplier */
#define VVU_CAP64_LEN			24	/* struct virtio_pci_cap64 */

/* ---- BAR0 registers (vvu_device_spec.rst §L.3) ---- */
#define VVU_BAR0_SIZE			0x10000u
#define VVU_BAR0_COMMON			0x0000u
#define VVU_BAR0_ISR			0x1000u
#define VVU_BAR0_DEVCFG			0x2000u
#define VVU_BAR0_NOTIFY			0x3000u
#define VVU_BAR0_DEV_AUX		0x4000u
#define VVU_BAR0_DRV_AUX		0x5000u
#define VVU_BAR0_MSIX_TABLE		0x6000u
#define VVU_BAR0_MSIX_PBA		0x8000u
#define VVU_BAR0_RESERVED		0x9000u
#define VVU_BAR0_WINDOW			0x1000u	/* each structure's window */
#define VVU_MSIX_TABLE_WINDOW		0x2000u
/* queue_notify_off and aux slot k are multiplied by these. */
#define VVU_NOTIFY_MULT			4
#define VVU_DEV_AUX_MULT		4
/* Common cfg bytes the device implements (virtio 1.2, with queue_reset). */
#define VVU_COMMON_CFG_LEN		0x3C
/* Common cfg bytes a driver needs (through queue_used). */
#define VVU_COMMON_CFG_MIN_LEN		0x38

/* ISR bits (read to clear). */
#define VVU_ISR_QUEUE			0x1
#define VVU_ISR_CONFIG			0x2
#define VVU_ISR_DRIVER_AUX		0x4

/* Driver aux notification cfg (cfg_type 7 window): le16 select, le16 vector. */
#define VVU_DRV_AUX_SELECT		0
#define VVU_DRV_AUX_VECTOR		2
#define VVU_DRV_AUX_LEN			4

/*
 * Device aux notification slots (cfg_type 6 window): with N vhost queues,
 * slot i signals queue i's call, slot N + i its error, slot 2N the log.
 */
static inline uint32_t
vvu_aux_slot_call(uint32_t idx)
{
	return idx;
}

static inline uint32_t
vvu_aux_slot_err(uint32_t nr_queues, uint32_t idx)
{
	return nr_queues + idx;
}

static inline uint32_t
vvu_aux_slot_log(uint32_t nr_queues)
{
	return 2 * nr_queues;
}

/* ---- Device configuration (vvu_device_spec.rst §L.5) ---- */
#define VVU_CFG_STATUS			0	/* le32 */
#define VVU_CFG_MAX_VHOST_QUEUES	4	/* le32 */
#define VVU_CFG_ID			8	/* u8[16] */
#define VVU_CFG_LEN			24
#define VVU_STATUS_BACKEND_UP		(1u << 0)
#define VVU_STATUS_FRONTEND_UP		(1u << 1)
#define VVU_STATUS_DEFINED		(VVU_STATUS_BACKEND_UP | VVU_STATUS_FRONTEND_UP)
/* max_vhost_queues: 1..256 (a vring index is 8 bits in fd messages). */
#define VVU_MAX_VHOST_QUEUES		256

/* ---- Queues and messages (vvu_device_spec.rst §L.6) ---- */
#define VVU_RXQ				0	/* device to driver: front-end messages */
#define VVU_TXQ				1	/* driver to device: replies */
#define VVU_NUM_VQS			2
#define VVU_VQ_MAX_SIZE			128
/* A driver posts rxq buffers of at least this many bytes (one message). */
#define VVU_MSG_BUF_MIN			1024

/* ---- MSI-X (vvu_device_spec.rst §L.7) ---- */
/* Vectors: config, rxq, txq, and one per vhost queue's kick. */
#define VVU_MSIX_FIXED			3
#define VVU_MSIX_MAX			(VVU_MSIX_FIXED + VVU_MAX_VHOST_QUEUES)

/* ---- Protocol features (vvu_device_spec.rst §L.6, "fds") ---- */
/*
 * Protocol features the device carries in phase 1: those whose messages
 * travel as bytes, without an fd the device would have to turn into a
 * resource. Everything else (log and inflight fds, the back-end channel,
 * host notifiers, memory slots, ...) is masked by the device in
 * GET/SET_PROTOCOL_FEATURES and never offered by the driver; a bit this list
 * does not know is masked too.
 */
#define VVU_PROTO_CARRIED ( \
	(1ULL << VHOST_USER_PROTO_F_MQ) | (1ULL << VHOST_USER_PROTO_F_RARP) | \
	(1ULL << VHOST_USER_PROTO_F_REPLY_ACK) | (1ULL << VHOST_USER_PROTO_F_NET_MTU) | \
	(1ULL << VHOST_USER_PROTO_F_CROSS_ENDIAN) | (1ULL << VHOST_USER_PROTO_F_CONFIG) | \
	(1ULL << VHOST_USER_PROTO_F_RESET_DEVICE) | (1ULL << VHOST_USER_PROTO_F_STATUS))

#endif /* _VVU_SPEC_H_ */

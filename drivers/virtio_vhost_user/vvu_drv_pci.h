/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Virtio 1.x modern PCI logic for the VVU device (internal).
 *
 * What the device must look like (doc/guides/vvu_device_spec.rst):
 * vendor 0x1AF4, a modern virtio device ID (0x1040 + virtio ID; the virtio
 * ID is a device option, default 43), and a capability chain with the
 * common, notify and device config structures, a device aux notification
 * capability (cfg_type 6), a driver aux notification capability (cfg_type 7)
 * and a shared memory capability (cfg_type 8) with shmid 1. A device without
 * cfg 6 and 7 is refused, so the driver never takes a real virtio device that
 * happens to use the same virtio ID (43 is the camera upstream).
 *
 * Every capability is checked against the device's BAR sizes: bar < 6, the
 * BAR exists, offset + length does not wrap and lies inside the BAR, and the
 * structure is long enough for the fields we use. Register offsets derived
 * later (queue notify address, aux notification slots) are checked against
 * the capability lengths before each access.
 */

#ifndef _VVU_DRV_PCI_H_
#define _VVU_DRV_PCI_H_

#include <stdbool.h>
#include <stdint.h>

#include "vvu_drv_hw.h"
#include "vvu_spec.h"

#define VVU_MAX_CAPS			48	/* (256 - 64) / 4: a longer walk loops */

/* Where a virtio structure lives: BAR bar, [offset, offset + length). */
struct vvu_drv_region_loc {
	bool present;
	uint8_t bar;
	uint64_t offset;
	uint64_t length;
};

/* What the capability walk found. */
struct vvu_drv_pci_caps {
	uint16_t vendor_id;
	uint16_t device_id;
	struct vvu_drv_region_loc common;
	struct vvu_drv_region_loc notify;
	struct vvu_drv_region_loc isr;
	struct vvu_drv_region_loc device;
	struct vvu_drv_region_loc dev_aux;	/* cfg 6: doorbells, driver -> device */
	struct vvu_drv_region_loc drv_aux;	/* cfg 7: kick vector routing */
	struct vvu_drv_region_loc shm;	/* cfg 8 with shmid 1 */
	uint32_t notify_mult;
	uint32_t dev_aux_mult;
	bool msix;
	uint8_t msix_pos;		/* config offset of the MSI-X capability */
	uint16_t msix_table_size;	/* vectors */
	uint8_t msix_table_bar;
	uint32_t msix_table_offset;
};

/*
 * Parse a config space image against the BAR sizes. Returns 0, or -ENODEV
 * (wrong identity, missing or malformed capability) with one log line that
 * names the reason. who names the device in logs.
 */
int vvu_drv_pci_parse_caps(const uint8_t cfg[VVU_PCI_CFG_SIZE],
		       const uint64_t bar_size[VVU_PCI_NUM_BARS],
		       struct vvu_drv_pci_caps *caps, const char *who);

/* Identity check alone (also used by the parser). */
bool vvu_drv_pci_id_ok(uint16_t vendor, uint16_t device);

/* State of the virtio function. */
struct vvu_drv_pci {
	struct vvu_drv_hw *hw;
	struct vvu_drv_pci_caps caps;
	uint64_t features;		/* negotiated */
	uint32_t max_vhost_queues;	/* N from device config, 1..256 */
	uint16_t notify_off[VVU_NUM_VQS];	/* validated queue_notify_off */
};

/*
 * Log this thread's refusals (probe and init errors) at DEBUG instead of
 * ERR: set while retrying a device whose refusal was already reported.
 */
void vvu_drv_pci_quiet_refusals(bool quiet);

/* Read the config space and BAR sizes through hw->ops and parse them. */
int vvu_drv_pci_probe(struct vvu_drv_pci *p, struct vvu_drv_hw *hw);

/*
 * Reset, ACKNOWLEDGE | DRIVER, features (VERSION_1 required), FEATURES_OK,
 * bus mastering, and read max_vhost_queues.
 */
int vvu_drv_pci_init(struct vvu_drv_pci *p);

/*
 * Program queue q: size (a power of two <= the device's), the ring
 * addresses, MSI-X vector, then enable it. *size is in/out: the largest
 * size wanted, then the size used.
 */
int vvu_drv_pci_queue_size(struct vvu_drv_pci *p, uint16_t q, uint16_t want, uint16_t *size);
int vvu_drv_pci_queue_setup(struct vvu_drv_pci *p, uint16_t q, uint64_t desc, uint64_t avail,
			uint64_t used, uint16_t vector);
/* Config-change vector (VIRTIO_MSI_NO_VECTOR to disable). */
int vvu_drv_pci_set_config_vector(struct vvu_drv_pci *p, uint16_t vector);
/* Route driver aux notification (kick of vhost queue) idx to vector. */
int vvu_drv_pci_set_kick_vector(struct vvu_drv_pci *p, uint16_t idx, uint16_t vector);

int vvu_drv_pci_get_status(struct vvu_drv_pci *p, uint8_t *status);
int vvu_drv_pci_set_status(struct vvu_drv_pci *p, uint8_t status);
/* Virtio reset: write 0 and wait (bounded) until the device reads back 0. */
int vvu_drv_pci_reset(struct vvu_drv_pci *p);

/* Device config status (BACKEND_UP / FRONTEND_UP). */
int vvu_drv_pci_get_dev_status(struct vvu_drv_pci *p, uint32_t *status);
/* Both of the above, in one round trip where the device access allows. */
int vvu_drv_pci_get_both_status(struct vvu_drv_pci *p, uint8_t *status, uint32_t *dev_status);
int vvu_drv_pci_set_dev_status(struct vvu_drv_pci *p, uint32_t status);

/* Tell the device queue q has new buffers. */
int vvu_drv_pci_notify_queue(struct vvu_drv_pci *p, uint16_t q);

/*
 * BAR offset of device aux notification slot (vvu_device_spec.rst §L.3: call i, err N+i,
 * log 2N), or a negative errno when the slot lies outside the cfg 6 window.
 */
int vvu_drv_pci_aux_slot_offset(const struct vvu_drv_pci_caps *caps, uint32_t slot,
			    uint64_t *off);
/* Write slot (the value is ignored by the device; we write the slot). */
int vvu_drv_pci_aux_notify(struct vvu_drv_pci *p, uint32_t slot);

/*
 * BAR offset of shared-memory byte shm_off (vvu_device_spec.rst §L.8: region i lives at
 * the sum of the sizes of the regions before it), checking that
 * [shm_off, shm_off + len) lies inside the shmid 1 window.
 */
int vvu_drv_pci_shm_offset(const struct vvu_drv_pci_caps *caps, uint64_t shm_off, uint64_t len,
		       uint64_t *bar_off);

#endif /* _VVU_DRV_PCI_H_ */

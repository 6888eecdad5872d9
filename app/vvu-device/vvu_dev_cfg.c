/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PCI config space of the VVU device: the type 0 header and the capability
 * chain of vvu_device_spec.rst §L.1/§L.2, byte for byte.
 *
 * The image dev->cfg holds every read-only byte. Writable state lives apart
 * (BAR addresses in dev->bar_addr, the rest in the image under a per-byte
 * write mask), so a client can never change what the chain says.
 *
 * The proxy layout (VVU_DEV_LAYOUT_PROXY, see vvu_device.h) differs in four
 * places only: no MSI-X capability (the chain starts at the common cfg,
 * whose offset stays 0x4C), interrupt pin 0, BAR2 a 32-bit BAR, BAR3 unused.
 * Every other byte is the spec layout's.
 */

#include <errno.h>
#include <string.h>

#include "vvu_device.h"

/* Bits of the command register a client may change. */
#define VVU_CMD_WRITABLE	(PCI_COMMAND_IO | PCI_COMMAND_MEMORY | \
				 PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE)
#define VVU_MSIX_CTRL_WRITABLE	(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL)

/* Offsets inside struct virtio_pci_cfg_cap (cfg_type 5). */
#define VVU_CFGCAP_BAR		(VVU_CAP_PCI_CFG + VIRTIO_PCI_CAP_BAR)
#define VVU_CFGCAP_OFFSET	(VVU_CAP_PCI_CFG + VIRTIO_PCI_CAP_OFFSET)
#define VVU_CFGCAP_LENGTH	(VVU_CAP_PCI_CFG + VIRTIO_PCI_CAP_LENGTH)
#define VVU_CFGCAP_DATA		(VVU_CAP_PCI_CFG + 16)

uint64_t
vvu_dev_bar_size(const struct vvu_device *dev, unsigned int bar)
{
	switch (bar) {
	case 0:
		return VVU_BAR0_SIZE;
	case 2:
		return dev->opt.shm_size;
	default:
		return 0;
	}
}

static void
put_vndr_cap(uint8_t *c, uint8_t next, uint8_t len, uint8_t cfg_type, uint8_t bar,
	     uint8_t id, uint32_t offset, uint32_t length)
{
	c[VIRTIO_PCI_CAP_VNDR] = PCI_CAP_ID_VNDR;
	c[VIRTIO_PCI_CAP_NEXT] = next;
	c[VIRTIO_PCI_CAP_LEN] = len;
	c[VIRTIO_PCI_CAP_CFG_TYPE] = cfg_type;
	c[VIRTIO_PCI_CAP_BAR] = bar;
	c[5] = id;
	vvu_put32(c + VIRTIO_PCI_CAP_OFFSET, offset);
	vvu_put32(c + VIRTIO_PCI_CAP_LENGTH, length);
}

void
vvu_dev_cfg_build(struct vvu_device *dev)
{
	uint8_t *cfg = dev->cfg;
	uint16_t device_id = (uint16_t)(VVU_PCI_MODERN_ID_BASE + dev->opt.virtio_id);
	uint64_t w = dev->opt.shm_size;
	uint8_t *c;

	memset(cfg, 0, VVU_PCI_CFG_SIZE);
	vvu_put16(cfg + PCI_VENDOR_ID, VVU_PCI_VENDOR_ID);
	vvu_put16(cfg + PCI_DEVICE_ID, device_id);
	vvu_put16(cfg + PCI_STATUS, PCI_STATUS_CAP_LIST);
	cfg[PCI_REVISION_ID] = VVU_PCI_REVISION;
	cfg[PCI_CLASS_PROG] = 0x00;
	cfg[PCI_CLASS_DEVICE] = VVU_PCI_CLASS_SUB;
	cfg[PCI_CLASS_DEVICE + 1] = 0x00;
	cfg[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
	vvu_put16(cfg + PCI_SUBSYSTEM_VENDOR_ID, VVU_PCI_VENDOR_ID);
	vvu_put16(cfg + PCI_SUBSYSTEM_ID, device_id);
	if (vvu_dev_has_msix(dev)) {
		cfg[PCI_CAPABILITY_LIST] = VVU_CAP_MSIX;
		cfg[PCI_INTERRUPT_PIN] = 1;	/* INTA, for the no-MSI-X path */
		/* MSI-X: table size field is N-1 encoded */
		c = cfg + VVU_CAP_MSIX;
		c[PCI_CAP_LIST_ID] = PCI_CAP_ID_MSIX;
		c[PCI_CAP_LIST_NEXT] = VVU_CAP_COMMON;
		vvu_put16(c + PCI_MSIX_FLAGS, (uint16_t)(dev->nvec - 1));
		vvu_put32(c + PCI_MSIX_TABLE, VVU_BAR0_MSIX_TABLE | 0);
		vvu_put32(c + PCI_MSIX_PBA, VVU_BAR0_MSIX_PBA | 0);
	} else {
		/*
		 * The proxy carries no MSI-X and signals INTx only under KVM:
		 * pin 0 tells the guest there is no interrupt to wait for.
		 */
		cfg[PCI_CAPABILITY_LIST] = VVU_CAP_COMMON;
		cfg[PCI_INTERRUPT_PIN] = 0;
	}

	put_vndr_cap(cfg + VVU_CAP_COMMON, VVU_CAP_NOTIFY, 16, VIRTIO_PCI_CAP_COMMON_CFG,
		     0, 0, VVU_BAR0_COMMON, VVU_BAR0_WINDOW);
	put_vndr_cap(cfg + VVU_CAP_NOTIFY, VVU_CAP_ISR, 20, VIRTIO_PCI_CAP_NOTIFY_CFG,
		     0, 0, VVU_BAR0_NOTIFY, VVU_BAR0_WINDOW);
	vvu_put32(cfg + VVU_CAP_NOTIFY + VIRTIO_PCI_NOTIFY_CAP_MULT, VVU_NOTIFY_MULT);
	put_vndr_cap(cfg + VVU_CAP_ISR, VVU_CAP_DEVICE, 16, VIRTIO_PCI_CAP_ISR_CFG,
		     0, 0, VVU_BAR0_ISR, VVU_BAR0_WINDOW);
	put_vndr_cap(cfg + VVU_CAP_DEVICE, VVU_CAP_DEV_AUX, 16, VIRTIO_PCI_CAP_DEVICE_CFG,
		     0, 0, VVU_BAR0_DEVCFG, VVU_BAR0_WINDOW);
	put_vndr_cap(cfg + VVU_CAP_DEV_AUX, VVU_CAP_DRV_AUX, 20,
		     VVU_PCI_CAP_DEVICE_AUX_NOTIFY_CFG, 0, 0, VVU_BAR0_DEV_AUX,
		     VVU_BAR0_WINDOW);
	vvu_put32(cfg + VVU_CAP_DEV_AUX + 16, VVU_DEV_AUX_MULT);
	put_vndr_cap(cfg + VVU_CAP_DRV_AUX, VVU_CAP_SHM, 16,
		     VVU_PCI_CAP_DRIVER_AUX_NOTIFY_CFG, 0, 0, VVU_BAR0_DRV_AUX,
		     VVU_BAR0_WINDOW);
	put_vndr_cap(cfg + VVU_CAP_SHM, VVU_CAP_PCI_CFG, 24,
		     VIRTIO_PCI_CAP_SHARED_MEMORY_CFG, 2, VVU_SHMID_MEMORY, 0, (uint32_t)w);
	vvu_put32(cfg + VVU_CAP_SHM + 16, 0);
	vvu_put32(cfg + VVU_CAP_SHM + 20, (uint32_t)(w >> 32));
	/* PCI_CFG access window: bar/offset/length are the client's to set */
	put_vndr_cap(cfg + VVU_CAP_PCI_CFG, 0, 20, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, 0, 0);
	memset(dev->bar_addr, 0, sizeof(dev->bar_addr));
}

/* PCI function reset: the writable registers go back to their defaults. */
void
vvu_dev_cfg_reset(struct vvu_device *dev)
{
	vvu_dev_cfg_build(dev);
}

/* Bits of BAR register i that are the type and read as fixed values. */
static uint32_t
bar_reg_read(const struct vvu_device *dev, unsigned int i)
{
	uint64_t w = dev->opt.shm_size;

	switch (i) {
	case 0:
		return dev->bar_addr[0] & ~(VVU_BAR0_SIZE - 1);
	case 2:
		/* the proxy only knows 32-bit BARs: W <= 1 GiB fits one dword */
		return (dev->bar_addr[2] & (uint32_t)~(w - 1) & PCI_BASE_ADDRESS_MEM_MASK) |
			(vvu_dev_has_msix(dev) ? PCI_BASE_ADDRESS_MEM_TYPE_64 :
			 PCI_BASE_ADDRESS_MEM_TYPE_32) | PCI_BASE_ADDRESS_MEM_PREFETCH;
	case 3:
		if (!vvu_dev_has_msix(dev))
			return 0;
		return dev->bar_addr[3] & (uint32_t)~((w - 1) >> 32);
	default:
		return 0;
	}
}

static bool
cfg_writable_byte(const struct vvu_device *dev, uint32_t off, uint8_t *mask)
{
	switch (off) {
	case PCI_COMMAND:
		*mask = VVU_CMD_WRITABLE & 0xff;
		return true;
	case PCI_COMMAND + 1:
		*mask = VVU_CMD_WRITABLE >> 8;
		return true;
	case PCI_INTERRUPT_LINE:
	case PCI_CACHE_LINE_SIZE:
	case PCI_LATENCY_TIMER:
		*mask = 0xff;
		return true;
	case VVU_CAP_MSIX + PCI_MSIX_FLAGS + 1:
		/* without the capability these bytes are unused space */
		*mask = VVU_MSIX_CTRL_WRITABLE >> 8;
		return vvu_dev_has_msix(dev);
	case VVU_CFGCAP_BAR:
		*mask = 0xff;
		return true;
	default:
		break;
	}
	if ((off >= VVU_CFGCAP_OFFSET && off < VVU_CFGCAP_OFFSET + 8)) {
		*mask = 0xff;
		return true;
	}
	return false;
}

/*
 * The virtio PCI_CFG access window: an access of cap.length bytes at
 * cap.offset of cap.bar. Only BAR0 is trapped; anything else reads 0.
 */
static bool
cfgcap_target(const struct vvu_device *dev, uint32_t *off, uint32_t *len)
{
	const uint8_t *cfg = dev->cfg;

	*off = vvu_get32(cfg + VVU_CFGCAP_OFFSET);
	*len = vvu_get32(cfg + VVU_CFGCAP_LENGTH);
	if (cfg[VVU_CFGCAP_BAR] != 0)
		return false;
	if (*len != 1 && *len != 2 && *len != 4)
		return false;
	if (*off % *len != 0 || *off >= VVU_BAR0_SIZE)
		return false;
	return true;
}

int
vvu_dev_cfg_read(struct vvu_device *dev, uint64_t off, void *buf, uint32_t len)
{
	uint8_t *out = buf;
	uint8_t data[4] = {0};
	uint32_t i;

	if (off >= VVU_PCI_CFG_SIZE || len > VVU_PCI_CFG_SIZE - off)
		return -EINVAL;
	if (off < VVU_CFGCAP_DATA + 4 && off + len > VVU_CFGCAP_DATA) {
		uint32_t toff, tlen;

		if (cfgcap_target(dev, &toff, &tlen))
			vvu_dev_bar0_read(dev, toff, data, tlen);
	}
	for (i = 0; i < len; i++) {
		uint32_t o = (uint32_t)off + i;

		if (o >= PCI_BASE_ADDRESS_0 && o < PCI_BASE_ADDRESS_5 + 4) {
			uint32_t reg = bar_reg_read(dev, (o - PCI_BASE_ADDRESS_0) / 4);

			out[i] = (uint8_t)(reg >> (8 * (o % 4)));
		} else if (o >= VVU_CFGCAP_DATA && o < VVU_CFGCAP_DATA + 4) {
			out[i] = data[o - VVU_CFGCAP_DATA];
		} else {
			out[i] = dev->cfg[o];
		}
	}
	return 0;
}

int
vvu_dev_cfg_write(struct vvu_device *dev, uint64_t off, const void *buf, uint32_t len)
{
	const uint8_t *in = buf;
	uint16_t old_ctrl = vvu_get16(dev->cfg + VVU_CAP_MSIX + PCI_MSIX_FLAGS);
	uint16_t new_ctrl;
	uint8_t data[4] = {0};
	bool data_written = false;
	uint32_t i;

	if (off >= VVU_PCI_CFG_SIZE || len > VVU_PCI_CFG_SIZE - off)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		uint32_t o = (uint32_t)off + i;
		uint8_t mask;

		if (o >= PCI_BASE_ADDRESS_0 && o < PCI_BASE_ADDRESS_5 + 4) {
			uint32_t *reg = &dev->bar_addr[(o - PCI_BASE_ADDRESS_0) / 4];
			unsigned int sh = 8 * (o % 4);

			*reg = (*reg & ~(0xffu << sh)) | ((uint32_t)in[i] << sh);
		} else if (o >= VVU_CFGCAP_DATA && o < VVU_CFGCAP_DATA + 4) {
			data[o - VVU_CFGCAP_DATA] = in[i];
			data_written = true;
		} else if (cfg_writable_byte(dev, o, &mask)) {
			dev->cfg[o] = (uint8_t)((dev->cfg[o] & ~mask) | (in[i] & mask));
		}
	}
	if (data_written) {
		uint32_t toff, tlen;

		if (cfgcap_target(dev, &toff, &tlen))
			vvu_dev_bar0_write(dev, toff, data, tlen);
	}
	new_ctrl = vvu_get16(dev->cfg + VVU_CAP_MSIX + PCI_MSIX_FLAGS);
	if (new_ctrl != old_ctrl && (new_ctrl & PCI_MSIX_FLAGS_ENABLE) &&
	    !(new_ctrl & PCI_MSIX_FLAGS_MASKALL)) {
		uint32_t v;

		/* function unmasked or MSI-X enabled: pending bits fire now */
		for (v = 0; v < dev->nvec; v++)
			vvu_dev_msix_unmasked(dev, (uint16_t)v);
	}
	return 0;
}

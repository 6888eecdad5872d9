/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Virtio 1.x modern PCI logic for the VVU device: capability walk, reset,
 * feature negotiation, queue programming, device config and notifications.
 *
 * The capability walk runs on a 256-byte image of config space read once,
 * so the device cannot change the chain while we walk it, and so the unit
 * tests can feed it synthetic images. Everything else goes through the
 * device access ops of hw (vvu_drv_hw.h).
 */

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>

#include <rte_byteorder.h>
#include <rte_common.h>

#include "vhost.h"
#include "vvu_drv_pci.h"

/*
 * The transport retries a refused device every second; a refusal it has
 * already reported goes to DEBUG on the retries (vvu_drv_pci_quiet_refusals),
 * so a long-lived application logs each reason once, not once a second.
 * Attach runs on lib/vhost's event loop thread only: thread-local is enough.
 */
static _Thread_local bool vvu_drv_pci_quiet;

void
vvu_drv_pci_quiet_refusals(bool quiet)
{
	vvu_drv_pci_quiet = quiet;
}

static uint32_t
vvu_drv_pci_log_level(uint32_t level)
{
	return vvu_drv_pci_quiet && level == RTE_LOG_ERR ? RTE_LOG_DEBUG : level;
}

#define VVU_LOG(who, level, fmt, ...) \
	rte_log(vvu_drv_pci_log_level(RTE_LOG_ ## level), vhost_config_log_level, \
		"VHOST_CONFIG: (%s) vvu: " fmt, (who), ##__VA_ARGS__)

/* Reset completes within this time or the device is declared broken. */
#define VVU_RESET_TIMEOUT_MS	1000
#define VVU_RESET_POLL_US	1000

#ifndef VIRTIO_F_ACCESS_PLATFORM
#define VIRTIO_F_ACCESS_PLATFORM	33
#endif

static uint16_t
cfg16(const uint8_t *cfg, unsigned int off)
{
	return (uint16_t)(cfg[off] | (cfg[off + 1] << 8));
}

static uint32_t
cfg32(const uint8_t *cfg, unsigned int off)
{
	return (uint32_t)cfg16(cfg, off) | ((uint32_t)cfg16(cfg, off + 2) << 16);
}

bool
vvu_drv_pci_id_ok(uint16_t vendor, uint16_t device)
{
	return vendor == VVU_PCI_VENDOR_ID && device >= VVU_PCI_MODERN_ID_BASE &&
		device <= VVU_PCI_MODERN_ID_LAST;
}

/*
 * Fill loc from the virtio_pci_cap at pos (cap_len already >= 16; 64-bit
 * offset and length for cap64). Checks bar, wrap and BAR bounds.
 */
static int
vvu_cap_loc(const uint8_t *cfg, unsigned int pos, bool cap64, const uint64_t *bar_size,
	    struct vvu_drv_region_loc *loc, const char *what, const char *who)
{
	uint8_t bar = cfg[pos + 4];
	uint64_t off = cfg32(cfg, pos + 8);
	uint64_t len = cfg32(cfg, pos + 12);

	if (cap64) {
		off |= (uint64_t)cfg32(cfg, pos + 16) << 32;
		len |= (uint64_t)cfg32(cfg, pos + 20) << 32;
	}
	if (bar >= VVU_PCI_NUM_BARS) {
		VVU_LOG(who, ERR, "%s capability at 0x%x names BAR %u\n", what, pos, bar);
		return -ENODEV;
	}
	if (len == 0 || off > UINT64_MAX - len) {
		VVU_LOG(who, ERR, "%s capability at 0x%x: offset 0x%" PRIx64 " length 0x%"
			PRIx64 " is empty or wraps\n", what, pos, off, len);
		return -ENODEV;
	}
	if (off + len > bar_size[bar]) {
		VVU_LOG(who, ERR, "%s capability at 0x%x: [0x%" PRIx64 ", +0x%" PRIx64
			") outside BAR %u (0x%" PRIx64 " bytes)\n", what, pos, off, len, bar,
			bar_size[bar]);
		return -ENODEV;
	}
	loc->present = true;
	loc->bar = bar;
	loc->offset = off;
	loc->length = len;
	return 0;
}

/* One vendor (virtio) capability; only the first of each type counts. */
static int
vvu_parse_virtio_cap(const uint8_t *cfg, unsigned int pos, unsigned int cap_len,
		     const uint64_t *bar_size, struct vvu_drv_pci_caps *caps, const char *who)
{
	uint8_t type = cfg[pos + 3];
	struct vvu_drv_region_loc *loc;
	unsigned int need = VVU_CAP_LEN, min_len = 1;
	uint32_t *mult = NULL;
	const char *what;
	bool cap64 = false;
	int ret;

	switch (type) {
	case VIRTIO_PCI_CAP_COMMON_CFG:
		loc = &caps->common, what = "common cfg", min_len = VVU_COMMON_CFG_MIN_LEN;
		break;
	case VIRTIO_PCI_CAP_NOTIFY_CFG:
		loc = &caps->notify, what = "notify", need = VVU_CAP_MULT_LEN;
		mult = &caps->notify_mult, min_len = 2;
		break;
	case VIRTIO_PCI_CAP_ISR_CFG:
		loc = &caps->isr, what = "ISR";
		break;
	case VIRTIO_PCI_CAP_DEVICE_CFG:
		loc = &caps->device, what = "device cfg", min_len = VVU_CFG_LEN;
		break;
	case VVU_PCI_CAP_DEVICE_AUX_NOTIFY_CFG:
		loc = &caps->dev_aux, what = "device aux notification",
		need = VVU_CAP_MULT_LEN, mult = &caps->dev_aux_mult, min_len = 2;
		break;
	case VVU_PCI_CAP_DRIVER_AUX_NOTIFY_CFG:
		loc = &caps->drv_aux, what = "driver aux notification",
		min_len = VVU_DRV_AUX_LEN;
		break;
	case VVU_PCI_CAP_SHARED_MEMORY_CFG:
		/* Selected by id, not by position (DPDK-22 took the last one). */
		if (cap_len < VVU_CAP64_LEN || cfg[pos + 5] != VVU_SHMID_MEMORY)
			return 0;
		loc = &caps->shm, what = "shared memory", need = VVU_CAP64_LEN;
		cap64 = true;
		break;
	default:
		return 0;	/* PCI_CFG access, vendor specific, future types */
	}
	if (loc->present)
		return 0;
	if (cap_len < need) {
		VVU_LOG(who, ERR, "%s capability at 0x%x is %u bytes, needs %u\n", what, pos,
			cap_len, need);
		return -ENODEV;
	}
	ret = vvu_cap_loc(cfg, pos, cap64, bar_size, loc, what, who);
	if (ret < 0)
		return ret;
	if (loc->length < min_len) {
		VVU_LOG(who, ERR, "%s window of %" PRIu64 " bytes is too short (%u)\n", what,
			loc->length, min_len);
		loc->present = false;
		return -ENODEV;
	}
	if (mult != NULL)
		*mult = cfg32(cfg, pos + 16);
	return 0;
}

static int
vvu_parse_msix(const uint8_t *cfg, unsigned int pos, const uint64_t *bar_size,
	       struct vvu_drv_pci_caps *caps, const char *who)
{
	uint16_t ctrl = cfg16(cfg, pos + PCI_MSIX_FLAGS);
	uint32_t table = cfg32(cfg, pos + PCI_MSIX_TABLE);
	uint16_t n = (ctrl & PCI_MSIX_FLAGS_QSIZE) + 1;
	uint8_t bir = table & PCI_MSIX_TABLE_BIR;
	uint64_t off = table & PCI_MSIX_TABLE_OFFSET;

	if (caps->msix)
		return 0;
	if (pos + PCI_CAP_MSIX_SIZEOF > VVU_PCI_CFG_SIZE)
		return -ENODEV;
	if (bir >= VVU_PCI_NUM_BARS ||
	    off + (uint64_t)n * PCI_MSIX_ENTRY_SIZE > bar_size[bir]) {
		VVU_LOG(who, ERR, "MSI-X table (BAR %u, 0x%" PRIx64 ", %u vectors) outside"
			" its BAR\n", bir, off, n);
		return -ENODEV;
	}
	caps->msix = true;
	caps->msix_pos = (uint8_t)pos;
	caps->msix_table_size = n;
	caps->msix_table_bar = bir;
	caps->msix_table_offset = (uint32_t)off;
	return 0;
}

int
vvu_drv_pci_parse_caps(const uint8_t cfg[VVU_PCI_CFG_SIZE],
		   const uint64_t bar_size[VVU_PCI_NUM_BARS],
		   struct vvu_drv_pci_caps *caps, const char *who)
{
	unsigned int pos, walked = 0;
	int ret;

	memset(caps, 0, sizeof(*caps));
	caps->vendor_id = cfg16(cfg, PCI_VENDOR_ID);
	caps->device_id = cfg16(cfg, PCI_DEVICE_ID);
	if (!vvu_drv_pci_id_ok(caps->vendor_id, caps->device_id)) {
		VVU_LOG(who, ERR, "device %04x:%04x is not a modern virtio device\n",
			caps->vendor_id, caps->device_id);
		return -ENODEV;
	}
	if (!(cfg16(cfg, PCI_STATUS) & PCI_STATUS_CAP_LIST)) {
		VVU_LOG(who, ERR, "device has no capability list\n");
		return -ENODEV;
	}
	/* The low two bits of every pointer are reserved (PCI 3.0 §6.7). */
	pos = cfg[PCI_CAPABILITY_LIST] & ~3u;
	while (pos != 0) {
		unsigned int id, cap_len;

		if (pos < PCI_STD_HEADER_SIZEOF || pos > VVU_PCI_CFG_SIZE - VVU_CAP_LEN ||
		    ++walked > VVU_MAX_CAPS) {
			VVU_LOG(who, ERR, "capability list broken at 0x%x\n", pos);
			return -ENODEV;
		}
		id = cfg[pos];
		if (id == PCI_CAP_ID_VNDR) {
			cap_len = cfg[pos + 2];
			if (cap_len < VVU_CAP_LEN || pos + cap_len > VVU_PCI_CFG_SIZE) {
				VVU_LOG(who, ERR, "virtio capability at 0x%x has length %u\n",
					pos, cap_len);
				return -ENODEV;
			}
			ret = vvu_parse_virtio_cap(cfg, pos, cap_len, bar_size, caps, who);
			if (ret < 0)
				return ret;
		} else if (id == PCI_CAP_ID_MSIX) {
			ret = vvu_parse_msix(cfg, pos, bar_size, caps, who);
			if (ret < 0)
				return ret;
		}
		pos = cfg[pos + 1] & ~3u;
	}

	if (!caps->common.present || !caps->notify.present || !caps->device.present) {
		VVU_LOG(who, ERR, "device %04x:%04x lacks the virtio common, notify or device"
			" cfg capability\n", caps->vendor_id, caps->device_id);
		return -ENODEV;
	}
	if (!caps->dev_aux.present || !caps->drv_aux.present) {
		VVU_LOG(who, ERR, "device %04x:%04x is not a virtio-vhost-user device: no"
			" aux notification capabilities (cfg_type 6 and 7)\n",
			caps->vendor_id, caps->device_id);
		return -ENODEV;
	}
	if (!caps->shm.present) {
		VVU_LOG(who, ERR, "device has no shared memory capability with shmid %u\n",
			VVU_SHMID_MEMORY);
		return -ENODEV;
	}
	return 0;
}

/* ---- Register access ---- */

static int
loc_read(struct vvu_drv_pci *p, const struct vvu_drv_region_loc *loc, uint64_t off, void *buf,
	 uint32_t len)
{
	if (off + len > loc->length)
		return -EINVAL;
	return p->hw->ops->bar_read(p->hw, loc->bar, loc->offset + off, buf, len);
}

static int
loc_write(struct vvu_drv_pci *p, const struct vvu_drv_region_loc *loc, uint64_t off,
	  const void *buf, uint32_t len)
{
	if (off + len > loc->length)
		return -EINVAL;
	return p->hw->ops->bar_write(p->hw, loc->bar, loc->offset + off, buf, len);
}

/* A doorbell: posted where the device access allows it. */
static int
bar_notify(struct vvu_drv_pci *p, unsigned int bar, uint64_t off, const void *buf, uint32_t len)
{
	if (p->hw->ops->bar_notify != NULL)
		return p->hw->ops->bar_notify(p->hw, bar, off, buf, len);
	return p->hw->ops->bar_write(p->hw, bar, off, buf, len);
}

static int
common_r8(struct vvu_drv_pci *p, uint32_t off, uint8_t *v)
{
	return loc_read(p, &p->caps.common, off, v, 1);
}

static int
common_w8(struct vvu_drv_pci *p, uint32_t off, uint8_t v)
{
	return loc_write(p, &p->caps.common, off, &v, 1);
}

static int
common_r16(struct vvu_drv_pci *p, uint32_t off, uint16_t *v)
{
	uint16_t le = 0;
	int ret = loc_read(p, &p->caps.common, off, &le, 2);

	*v = rte_le_to_cpu_16(le);
	return ret;
}

static int
common_w16(struct vvu_drv_pci *p, uint32_t off, uint16_t v)
{
	uint16_t le = rte_cpu_to_le_16(v);

	return loc_write(p, &p->caps.common, off, &le, 2);
}

static int
common_r32(struct vvu_drv_pci *p, uint32_t off, uint32_t *v)
{
	uint32_t le = 0;
	int ret = loc_read(p, &p->caps.common, off, &le, 4);

	*v = rte_le_to_cpu_32(le);
	return ret;
}

static int
common_w32(struct vvu_drv_pci *p, uint32_t off, uint32_t v)
{
	uint32_t le = rte_cpu_to_le_32(v);

	return loc_write(p, &p->caps.common, off, &le, 4);
}

/* 64-bit fields as two 32-bit halves, which every device accepts. */
static int
common_w64(struct vvu_drv_pci *p, uint32_t off, uint64_t v)
{
	int ret = common_w32(p, off, (uint32_t)v);

	return ret < 0 ? ret : common_w32(p, off + 4, (uint32_t)(v >> 32));
}

int
vvu_drv_pci_probe(struct vvu_drv_pci *p, struct vvu_drv_hw *hw)
{
	uint8_t cfg[VVU_PCI_CFG_SIZE];
	uint64_t bar_size[VVU_PCI_NUM_BARS];
	unsigned int i;
	int ret;

	memset(p, 0, sizeof(*p));
	p->hw = hw;
	ret = hw->ops->cfg_read(hw, 0, cfg, sizeof(cfg));
	if (ret < 0) {
		VVU_LOG(hw->name, ERR, "config space read: %s\n", strerror(-ret));
		return ret;
	}
	for (i = 0; i < VVU_PCI_NUM_BARS; i++) {
		ret = hw->ops->bar_size(hw, i, &bar_size[i]);
		if (ret < 0)
			return ret;
	}
	return vvu_drv_pci_parse_caps(cfg, bar_size, &p->caps, hw->name);
}

int
vvu_drv_pci_get_status(struct vvu_drv_pci *p, uint8_t *status)
{
	return common_r8(p, VIRTIO_PCI_COMMON_STATUS, status);
}

/*
 * Device status and VVU status together: what a configuration change may
 * have changed. One round trip where the device access can batch reads.
 */
int
vvu_drv_pci_get_both_status(struct vvu_drv_pci *p, uint8_t *status, uint32_t *dev_status)
{
	const struct vvu_drv_region_loc *c = &p->caps.common, *d = &p->caps.device;
	uint32_t le = 0;
	int ret;

	*status = 0;
	*dev_status = 0;
	if (p->hw->ops->bar_read_batch == NULL) {
		ret = vvu_drv_pci_get_status(p, status);
		if (ret == 0)
			ret = vvu_drv_pci_get_dev_status(p, dev_status);
		return ret;
	}
	if (VIRTIO_PCI_COMMON_STATUS + 1 > c->length || VVU_CFG_STATUS + 4 > d->length)
		return -EINVAL;
	ret = p->hw->ops->bar_read_batch(p->hw, (const struct vvu_drv_bar_read[]){
		{ c->bar, c->offset + VIRTIO_PCI_COMMON_STATUS, status, 1 },
		{ d->bar, d->offset + VVU_CFG_STATUS, &le, 4 } }, 2);
	if (ret < 0) {
		*status = 0;
		return ret;
	}
	*dev_status = rte_le_to_cpu_32(le);
	return 0;
}

int
vvu_drv_pci_set_status(struct vvu_drv_pci *p, uint8_t status)
{
	return common_w8(p, VIRTIO_PCI_COMMON_STATUS, status);
}

int
vvu_drv_pci_reset(struct vvu_drv_pci *p)
{
	const struct timespec pause = { .tv_nsec = VVU_RESET_POLL_US * 1000 };
	unsigned int waited_us = 0;
	uint8_t st = 0xff;
	int ret;

	ret = vvu_drv_pci_set_status(p, 0);
	while (ret == 0) {
		ret = vvu_drv_pci_get_status(p, &st);
		if (ret < 0 || st == 0)
			break;
		if (waited_us >= VVU_RESET_TIMEOUT_MS * 1000) {
			VVU_LOG(p->hw->name, ERR, "device did not complete reset\n");
			return -ETIMEDOUT;
		}
		nanosleep(&pause, NULL);
		waited_us += VVU_RESET_POLL_US;
	}
	return ret;
}

/* Set status bits and check the device kept them (FEATURES_OK can be refused). */
static int
vvu_drv_pci_add_status(struct vvu_drv_pci *p, uint8_t bits)
{
	uint8_t st;
	int ret;

	ret = vvu_drv_pci_get_status(p, &st);
	if (ret < 0)
		return ret;
	ret = vvu_drv_pci_set_status(p, st | bits);
	if (ret < 0)
		return ret;
	ret = vvu_drv_pci_get_status(p, &st);
	if (ret < 0)
		return ret;
	if ((st & bits) != bits || (st & VIRTIO_CONFIG_S_NEEDS_RESET))
		return -EIO;
	return 0;
}

static int
vvu_drv_pci_negotiate(struct vvu_drv_pci *p)
{
	uint32_t lo, hi;
	uint64_t dev_features, want;
	int ret;

	if ((ret = common_w32(p, VIRTIO_PCI_COMMON_DFSELECT, 0)) < 0 ||
	    (ret = common_r32(p, VIRTIO_PCI_COMMON_DF, &lo)) < 0 ||
	    (ret = common_w32(p, VIRTIO_PCI_COMMON_DFSELECT, 1)) < 0 ||
	    (ret = common_r32(p, VIRTIO_PCI_COMMON_DF, &hi)) < 0)
		return ret;
	dev_features = ((uint64_t)hi << 32) | lo;
	if (!(dev_features & (1ULL << VIRTIO_F_VERSION_1))) {
		VVU_LOG(p->hw->name, ERR, "device does not offer VIRTIO_F_VERSION_1\n");
		return -ENODEV;
	}
	/*
	 * ACCESS_PLATFORM: the device reaches our rings through the platform's
	 * translation (vfio-user DMA maps, an IOMMU); accepting it is what
	 * makes the addresses we program IOVAs, which is what they are.
	 */
	want = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_ACCESS_PLATFORM);
	p->features = dev_features & want;
	if ((ret = common_w32(p, VIRTIO_PCI_COMMON_GFSELECT, 0)) < 0 ||
	    (ret = common_w32(p, VIRTIO_PCI_COMMON_GF, (uint32_t)p->features)) < 0 ||
	    (ret = common_w32(p, VIRTIO_PCI_COMMON_GFSELECT, 1)) < 0 ||
	    (ret = common_w32(p, VIRTIO_PCI_COMMON_GF, (uint32_t)(p->features >> 32))) < 0)
		return ret;
	ret = vvu_drv_pci_add_status(p, VIRTIO_CONFIG_S_FEATURES_OK);
	if (ret < 0)
		VVU_LOG(p->hw->name, ERR, "device refused features 0x%" PRIx64 "\n",
			p->features);
	return ret;
}

int
vvu_drv_pci_init(struct vvu_drv_pci *p)
{
	struct vvu_drv_hw *hw = p->hw;
	uint16_t cmd, numq;
	uint32_t n;
	int ret;

	/* Memory decoding and bus mastering, as a PCI driver must set them. */
	ret = hw->ops->cfg_read(hw, PCI_COMMAND, &cmd, sizeof(cmd));
	if (ret == 0) {
		cmd = rte_cpu_to_le_16(rte_le_to_cpu_16(cmd) | PCI_COMMAND_MEMORY |
				       PCI_COMMAND_MASTER);
		ret = hw->ops->cfg_write(hw, PCI_COMMAND, &cmd, sizeof(cmd));
	}
	if (ret < 0)
		return ret;

	ret = vvu_drv_pci_reset(p);
	if (ret < 0)
		return ret;
	ret = vvu_drv_pci_add_status(p, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	if (ret == 0)
		ret = vvu_drv_pci_add_status(p, VIRTIO_CONFIG_S_DRIVER);
	if (ret < 0) {
		VVU_LOG(hw->name, ERR, "device refused ACKNOWLEDGE/DRIVER\n");
		return ret;
	}
	ret = vvu_drv_pci_negotiate(p);
	if (ret < 0)
		return ret;

	ret = common_r16(p, VIRTIO_PCI_COMMON_NUMQ, &numq);
	if (ret < 0)
		return ret;
	if (numq < VVU_NUM_VQS) {
		VVU_LOG(hw->name, ERR, "device has %u virtqueues, needs rxq and txq\n", numq);
		return -ENODEV;
	}
	ret = loc_read(p, &p->caps.device, VVU_CFG_MAX_VHOST_QUEUES, &n, sizeof(n));
	if (ret < 0)
		return ret;
	n = rte_le_to_cpu_32(n);
	if (n == 0) {
		VVU_LOG(hw->name, ERR, "device reports max_vhost_queues 0\n");
		return -ENODEV;
	}
	/* The vring index of fd messages is 8 bits: more is never usable. */
	p->max_vhost_queues = RTE_MIN(n, (uint32_t)VVU_MAX_VHOST_QUEUES);
	return 0;
}

int
vvu_drv_pci_queue_size(struct vvu_drv_pci *p, uint16_t q, uint16_t want, uint16_t *size)
{
	uint16_t dev_size = 0, n;
	int ret;

	ret = common_w16(p, VIRTIO_PCI_COMMON_Q_SELECT, q);
	if (ret == 0)
		ret = common_r16(p, VIRTIO_PCI_COMMON_Q_SIZE, &dev_size);
	if (ret < 0)
		return ret;
	if (dev_size == 0) {
		VVU_LOG(p->hw->name, ERR, "virtqueue %u is not available\n", q);
		return -ENODEV;
	}
	/* Split rings need a power of two; take the largest one that fits. */
	n = RTE_MIN(dev_size, want);
	while (n & (n - 1))
		n &= (uint16_t)(n - 1);
	*size = n;
	return common_w16(p, VIRTIO_PCI_COMMON_Q_SIZE, n);
}

int
vvu_drv_pci_queue_setup(struct vvu_drv_pci *p, uint16_t q, uint64_t desc, uint64_t avail,
		    uint64_t used, uint16_t vector)
{
	uint16_t noff, v;
	int ret;

	if (q >= VVU_NUM_VQS)
		return -EINVAL;
	if ((ret = common_w16(p, VIRTIO_PCI_COMMON_Q_SELECT, q)) < 0 ||
	    (ret = common_w64(p, VIRTIO_PCI_COMMON_Q_DESCLO, desc)) < 0 ||
	    (ret = common_w64(p, VIRTIO_PCI_COMMON_Q_AVAILLO, avail)) < 0 ||
	    (ret = common_w64(p, VIRTIO_PCI_COMMON_Q_USEDLO, used)) < 0 ||
	    (ret = common_w16(p, VIRTIO_PCI_COMMON_Q_MSIX, vector)) < 0 ||
	    (ret = common_r16(p, VIRTIO_PCI_COMMON_Q_MSIX, &v)) < 0 ||
	    (ret = common_r16(p, VIRTIO_PCI_COMMON_Q_NOFF, &noff)) < 0)
		return ret;
	if (v != vector) {
		VVU_LOG(p->hw->name, ERR, "virtqueue %u: vector %u refused\n", q, vector);
		return -EIO;
	}
	/* The notify address must lie inside the notify window (2-byte write). */
	if ((uint64_t)noff * p->caps.notify_mult + 2 > p->caps.notify.length) {
		VVU_LOG(p->hw->name, ERR, "virtqueue %u: notify offset %u outside the"
			" notify window\n", q, noff);
		return -ENODEV;
	}
	p->notify_off[q] = noff;
	return common_w16(p, VIRTIO_PCI_COMMON_Q_ENABLE, 1);
}

int
vvu_drv_pci_set_config_vector(struct vvu_drv_pci *p, uint16_t vector)
{
	uint16_t v;
	int ret;

	ret = common_w16(p, VIRTIO_PCI_COMMON_MSIX, vector);
	if (ret == 0)
		ret = common_r16(p, VIRTIO_PCI_COMMON_MSIX, &v);
	if (ret == 0 && v != vector) {
		VVU_LOG(p->hw->name, ERR, "config vector %u refused\n", vector);
		ret = -EIO;
	}
	return ret;
}

int
vvu_drv_pci_set_kick_vector(struct vvu_drv_pci *p, uint16_t idx, uint16_t vector)
{
	uint16_t le_idx = rte_cpu_to_le_16(idx), le_vec = rte_cpu_to_le_16(vector);
	int ret;

	ret = loc_write(p, &p->caps.drv_aux, VVU_DRV_AUX_SELECT, &le_idx, 2);
	if (ret == 0)
		ret = loc_write(p, &p->caps.drv_aux, VVU_DRV_AUX_VECTOR, &le_vec, 2);
	return ret;
}

int
vvu_drv_pci_get_dev_status(struct vvu_drv_pci *p, uint32_t *status)
{
	uint32_t le = 0;
	int ret = loc_read(p, &p->caps.device, VVU_CFG_STATUS, &le, 4);

	*status = ret == 0 ? rte_le_to_cpu_32(le) : 0;
	return ret;
}

int
vvu_drv_pci_set_dev_status(struct vvu_drv_pci *p, uint32_t status)
{
	uint32_t le = rte_cpu_to_le_32(status);

	return loc_write(p, &p->caps.device, VVU_CFG_STATUS, &le, 4);
}

int
vvu_drv_pci_notify_queue(struct vvu_drv_pci *p, uint16_t q)
{
	uint16_t le = rte_cpu_to_le_16(q);

	uint64_t off;

	if (q >= VVU_NUM_VQS)
		return -EINVAL;
	off = (uint64_t)p->notify_off[q] * p->caps.notify_mult;
	if (off + 2 > p->caps.notify.length)
		return -EINVAL;
	return bar_notify(p, p->caps.notify.bar, p->caps.notify.offset + off, &le, 2);
}

int
vvu_drv_pci_aux_slot_offset(const struct vvu_drv_pci_caps *caps, uint32_t slot, uint64_t *off)
{
	uint64_t rel = (uint64_t)slot * caps->dev_aux_mult;

	if (!caps->dev_aux.present || rel + 2 > caps->dev_aux.length)
		return -ERANGE;
	*off = caps->dev_aux.offset + rel;
	return 0;
}

int
vvu_drv_pci_aux_notify(struct vvu_drv_pci *p, uint32_t slot)
{
	uint16_t le = rte_cpu_to_le_16((uint16_t)slot);
	uint64_t off;
	int ret;

	ret = vvu_drv_pci_aux_slot_offset(&p->caps, slot, &off);
	if (ret < 0)
		return ret;
	return bar_notify(p, p->caps.dev_aux.bar, off, &le, 2);
}

int
vvu_drv_pci_shm_offset(const struct vvu_drv_pci_caps *caps, uint64_t shm_off, uint64_t len,
		   uint64_t *bar_off)
{
	if (!caps->shm.present || len == 0 || shm_off > caps->shm.length ||
	    len > caps->shm.length - shm_off)
		return -ENOSPC;
	*bar_off = caps->shm.offset + shm_off;	/* cannot wrap: checked at parse */
	return 0;
}

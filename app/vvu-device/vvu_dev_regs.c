/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * BAR0 of the VVU device (vvu_device_spec.rst §L.3): 64 KiB, fully trapped.
 *
 * Reads build the little-endian image of the addressed window and copy the
 * requested bytes out, so any width reads consistently. Writes must hit one
 * field with its own width (or a 32-bit half of a 64-bit field); any other
 * write is dropped, because a misaligned write to a register with side
 * effects has no meaning we could honour.
 */

#include <errno.h>
#include <string.h>

#include "vvu_device.h"

static bool
valid_vector(const struct vvu_device *dev, uint16_t v)
{
	return v == VIRTIO_MSI_NO_VECTOR || v < dev->nvec;
}

/* A vector write the device cannot map reads back NO_VECTOR (v3 §4.1.5.1.2). */
static uint16_t
map_vector(const struct vvu_device *dev, uint16_t v)
{
	return valid_vector(dev, v) ? v : VIRTIO_MSI_NO_VECTOR;
}

static struct vvu_dev_vq *
selected_vq(struct vvu_device *dev)
{
	return dev->queue_select < VVU_NUM_VQS ? &dev->vq[dev->queue_select] : NULL;
}

static void
common_image(struct vvu_device *dev, uint8_t *img)
{
	const struct vvu_dev_vq *vq = selected_vq(dev);
	uint64_t feat = 0;

	memset(img, 0, VVU_COMMON_CFG_LEN);
	if (dev->dfselect < 2)
		feat = VVU_DEVICE_FEATURES >> (32 * dev->dfselect);
	vvu_put32(img + VIRTIO_PCI_COMMON_DFSELECT, dev->dfselect);
	vvu_put32(img + VIRTIO_PCI_COMMON_DF, (uint32_t)feat);
	vvu_put32(img + VIRTIO_PCI_COMMON_GFSELECT, dev->gfselect);
	if (dev->gfselect < 2)
		vvu_put32(img + VIRTIO_PCI_COMMON_GF,
			  (uint32_t)(dev->driver_features >> (32 * dev->gfselect)));
	vvu_put16(img + VIRTIO_PCI_COMMON_MSIX, dev->msix_config);
	vvu_put16(img + VIRTIO_PCI_COMMON_NUMQ, VVU_NUM_VQS);
	img[VIRTIO_PCI_COMMON_STATUS] = dev->status;
	img[VIRTIO_PCI_COMMON_CFGGENERATION] = dev->config_generation;
	vvu_put16(img + VIRTIO_PCI_COMMON_Q_SELECT, dev->queue_select);
	if (vq == NULL) {
		/* a non-existent queue reads size 0 (virtio 1.2 §4.1.4.3) */
		vvu_put16(img + VIRTIO_PCI_COMMON_Q_MSIX, VIRTIO_MSI_NO_VECTOR);
		return;
	}
	vvu_put16(img + VIRTIO_PCI_COMMON_Q_SIZE, vq->size);
	vvu_put16(img + VIRTIO_PCI_COMMON_Q_MSIX, vq->msix_vector);
	vvu_put16(img + VIRTIO_PCI_COMMON_Q_ENABLE, vq->enabled);
	vvu_put16(img + VIRTIO_PCI_COMMON_Q_NOFF, dev->queue_select);
	vvu_put64(img + VIRTIO_PCI_COMMON_Q_DESCLO, vq->desc);
	vvu_put64(img + VIRTIO_PCI_COMMON_Q_AVAILLO, vq->avail);
	vvu_put64(img + VIRTIO_PCI_COMMON_Q_USEDLO, vq->used);
}

static void
set_half(uint64_t *field, uint32_t half, uint32_t v)
{
	if (half == 0)
		*field = (*field & ~0xffffffffULL) | v;
	else
		*field = (*field & 0xffffffffULL) | ((uint64_t)v << 32);
}

static void
write_status(struct vvu_device *dev, uint8_t v)
{
	uint8_t old = dev->status;

	if (v == 0) {
		vvu_dev_virtio_reset(dev);
		return;
	}
	/* FEATURES_OK only sticks for an acceptable feature set */
	if ((v & VIRTIO_CONFIG_S_FEATURES_OK) && !(old & VIRTIO_CONFIG_S_FEATURES_OK)) {
		if ((dev->driver_features & ~VVU_DEVICE_FEATURES) != 0 ||
		    !(dev->driver_features & (1ULL << VIRTIO_F_VERSION_1))) {
			vvu_dev_log(dev, VVU_INFO, "driver features 0x%llx refused",
				(unsigned long long)dev->driver_features);
			v &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
		}
	}
	/* the driver cannot clear NEEDS_RESET except by a reset */
	dev->status = (uint8_t)(v | (old & VIRTIO_CONFIG_S_NEEDS_RESET));
	if (!(old & VIRTIO_CONFIG_S_DRIVER_OK) && (v & VIRTIO_CONFIG_S_DRIVER_OK)) {
		vvu_dev_log(dev, VVU_INFO, "driver ok");
		vvu_dev_raise(dev, VVU_DEV_EV_READY_CHANGED, 0);
		/* rxq buffers posted (and notified) before DRIVER_OK wait for this */
		vvu_dev_raise(dev, VVU_DEV_EV_QUEUE_NOTIFY, VVU_RXQ);
	}
}

static void
common_write(struct vvu_device *dev, uint32_t off, uint64_t v, uint32_t len)
{
	struct vvu_dev_vq *vq = selected_vq(dev);
	bool live = (dev->status & VIRTIO_CONFIG_S_DRIVER_OK) != 0;

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		if (len == 4)
			dev->dfselect = (uint32_t)v;
		return;
	case VIRTIO_PCI_COMMON_GFSELECT:
		if (len == 4)
			dev->gfselect = (uint32_t)v;
		return;
	case VIRTIO_PCI_COMMON_GF:
		/* features are fixed once FEATURES_OK is set */
		if (len == 4 && dev->gfselect < 2 &&
		    !(dev->status & VIRTIO_CONFIG_S_FEATURES_OK))
			set_half(&dev->driver_features, dev->gfselect, (uint32_t)v);
		return;
	case VIRTIO_PCI_COMMON_MSIX:
		if (len == 2)
			dev->msix_config = map_vector(dev, (uint16_t)v);
		return;
	case VIRTIO_PCI_COMMON_STATUS:
		if (len == 1)
			write_status(dev, (uint8_t)v);
		return;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		if (len == 2)
			dev->queue_select = (uint16_t)v;
		return;
	default:
		break;
	}
	/* per-queue registers: ignored for a missing queue or a live device */
	if (vq == NULL)
		return;
	switch (off) {
	case VIRTIO_PCI_COMMON_Q_SIZE:
		/* a power of two no larger than the maximum, before enabling */
		if (len == 2 && !vq->enabled && !live && v != 0 &&
		    v <= VVU_VQ_MAX_SIZE && (v & (v - 1)) == 0)
			vq->size = (uint16_t)v;
		return;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		if (len == 2)
			vq->msix_vector = map_vector(dev, (uint16_t)v);
		return;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		/* only 1 is meaningful; disabling needs queue_reset (not offered) */
		if (len == 2 && v == 1 && !vq->enabled) {
			vq->enabled = true;
			vq->last_avail = 0;
			vq->used_idx = 0;
		}
		return;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_DESCHI:
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
	case VIRTIO_PCI_COMMON_Q_USEDLO:
	case VIRTIO_PCI_COMMON_Q_USEDHI: {
		uint32_t base = off & ~7u;
		uint64_t *field = base == VIRTIO_PCI_COMMON_Q_DESCLO ? &vq->desc :
			base == VIRTIO_PCI_COMMON_Q_AVAILLO ? &vq->avail : &vq->used;

		if (vq->enabled || live)
			return;
		if (len == 4)
			set_half(field, (off & 4) ? 1 : 0, (uint32_t)v);
		else if (len == 8 && !(off & 4))
			*field = v;
		return;
	}
	default:
		return;
	}
}

/*
 * Device config status (vvu_device_spec.rst §L.5). Only the status field is writable; a
 * partial write merges into the current value.
 */
static void
devcfg_write(struct vvu_device *dev, uint32_t off, const uint8_t *buf, uint32_t len)
{
	uint8_t cur[4];
	uint32_t v, old = dev->dev_status;

	if (off >= 4 || len > 4 - off)
		return;
	vvu_put32(cur, old);
	memcpy(cur + off, buf, len);
	v = vvu_get32(cur);
	if (v & ~VVU_STATUS_DEFINED) {
		vvu_dev_needs_reset(dev, "driver set undefined device status bits");
		return;
	}
	/* FRONTEND_UP is the device's to change */
	v = (v & VVU_STATUS_BACKEND_UP) | (old & VVU_STATUS_FRONTEND_UP);
	if ((old & VVU_STATUS_BACKEND_UP) && !(v & VVU_STATUS_BACKEND_UP)) {
		vvu_dev_log(dev, VVU_INFO, "driver cleared BACKEND_UP");
		dev->dev_status = 0;
		/* the driver caused it: no interrupt (v3 §5.20.4) */
		vvu_dev_frontend_gone(dev, false);
		return;
	}
	dev->dev_status = v;
	if (!(old & VVU_STATUS_BACKEND_UP) && (v & VVU_STATUS_BACKEND_UP)) {
		vvu_dev_log(dev, VVU_INFO, "driver set BACKEND_UP");
		vvu_dev_raise(dev, VVU_DEV_EV_READY_CHANGED, 0);
	}
}

static void
devcfg_image(const struct vvu_device *dev, uint8_t *img)
{
	memset(img, 0, VVU_CFG_LEN);
	vvu_put32(img, dev->dev_status);
	vvu_put32(img + 4, dev->opt.num_queues);
	memcpy(img + 8, dev->opt.id, sizeof(dev->opt.id));
}

static void
drv_aux_write(struct vvu_device *dev, uint32_t off, uint64_t v, uint32_t len)
{
	if (off == VVU_DRV_AUX_SELECT && len == 4) {
		drv_aux_write(dev, VVU_DRV_AUX_SELECT, v & 0xffff, 2);
		drv_aux_write(dev, VVU_DRV_AUX_VECTOR, v >> 16, 2);
		return;
	}
	if (len != 2)
		return;
	if (off == VVU_DRV_AUX_SELECT) {
		dev->aux_select = (uint16_t)v;
	} else if (off == VVU_DRV_AUX_VECTOR) {
		/* v3 §4.1.4.8.1: ignore writes for an invalid select */
		if (dev->aux_select < dev->opt.num_queues)
			dev->aux_vector[dev->aux_select] = map_vector(dev, (uint16_t)v);
	}
}

static void
drv_aux_image(const struct vvu_device *dev, uint8_t *img)
{
	uint16_t vec = VIRTIO_MSI_NO_VECTOR;

	if (dev->aux_select < dev->opt.num_queues)
		vec = dev->aux_vector[dev->aux_select];
	vvu_put16(img + VVU_DRV_AUX_SELECT, dev->aux_select);
	vvu_put16(img + VVU_DRV_AUX_VECTOR, vec);
}

static void
msix_table_write(struct vvu_device *dev, uint32_t off, const uint8_t *buf, uint32_t len)
{
	uint32_t entry = off / PCI_MSIX_ENTRY_SIZE;
	uint32_t in = off % PCI_MSIX_ENTRY_SIZE;
	uint8_t *e;
	bool was_masked, masked;

	if (entry >= dev->nvec || (len != 4 && len != 8) || in % len != 0)
		return;
	e = dev->msix_table + (size_t)entry * PCI_MSIX_ENTRY_SIZE;
	was_masked = vvu_get32(e + PCI_MSIX_ENTRY_VECTOR_CTRL) & PCI_MSIX_ENTRY_CTRL_MASKBIT;
	memcpy(e + in, buf, len);
	/* only the mask bit of vector control is defined */
	vvu_put32(e + PCI_MSIX_ENTRY_VECTOR_CTRL,
		  vvu_get32(e + PCI_MSIX_ENTRY_VECTOR_CTRL) & PCI_MSIX_ENTRY_CTRL_MASKBIT);
	masked = vvu_get32(e + PCI_MSIX_ENTRY_VECTOR_CTRL) & PCI_MSIX_ENTRY_CTRL_MASKBIT;
	if (was_masked && !masked)
		vvu_dev_msix_unmasked(dev, (uint16_t)entry);
}

/* Copy window bytes [off, off+len) of img (img_len valid bytes, rest 0). */
static void
copy_out(void *buf, const uint8_t *img, uint32_t img_len, uint32_t off, uint32_t len)
{
	uint8_t *out = buf;
	uint32_t i;

	for (i = 0; i < len; i++)
		out[i] = off + i < img_len ? img[off + i] : 0;
}

static bool
valid_access(uint64_t off, uint32_t len)
{
	if (len != 1 && len != 2 && len != 4 && len != 8)
		return false;
	return off < VVU_BAR0_SIZE && len <= VVU_BAR0_SIZE - off;
}

int
vvu_dev_bar0_read(struct vvu_device *dev, uint64_t off64, void *buf, uint32_t len)
{
	uint8_t img[VVU_COMMON_CFG_LEN];
	uint32_t off = (uint32_t)off64;
	uint32_t base = off & ~(VVU_BAR0_WINDOW - 1);
	uint32_t in = off - base;

	if (!valid_access(off64, len))
		return -EINVAL;
	memset(buf, 0, len);
	if (off >= VVU_BAR0_MSIX_TABLE && off < VVU_BAR0_MSIX_TABLE + VVU_MSIX_TABLE_WINDOW) {
		uint32_t t = off - VVU_BAR0_MSIX_TABLE;

		copy_out(buf, dev->msix_table, dev->nvec * PCI_MSIX_ENTRY_SIZE, t, len);
		return 0;
	}
	switch (base) {
	case VVU_BAR0_COMMON:
		common_image(dev, img);
		copy_out(buf, img, VVU_COMMON_CFG_LEN, in, len);
		break;
	case VVU_BAR0_ISR:
		if (in == 0) {
			/* read-to-clear; also drops the INTx level */
			((uint8_t *)buf)[0] = dev->isr;
			dev->isr = 0;
		}
		break;
	case VVU_BAR0_DEVCFG:
		devcfg_image(dev, img);
		copy_out(buf, img, VVU_CFG_LEN, in, len);
		break;
	case VVU_BAR0_DRV_AUX:
		drv_aux_image(dev, img);
		copy_out(buf, img, 4, in, len);
		break;
	case VVU_BAR0_MSIX_PBA: {
		uint8_t pba[VVU_PBA_WORDS * 8];
		uint32_t i;

		for (i = 0; i < VVU_PBA_WORDS; i++)
			vvu_put64(pba + 8 * i, dev->pba[i]);
		copy_out(buf, pba, (dev->nvec + 7) / 8, in, len);
		break;
	}
	default:
		/* notify, aux notify and reserved space read as 0 */
		break;
	}
	return 0;
}

int
vvu_dev_bar0_write(struct vvu_device *dev, uint64_t off64, const void *buf, uint32_t len)
{
	uint32_t off = (uint32_t)off64;
	uint32_t base = off & ~(VVU_BAR0_WINDOW - 1);
	uint32_t in = off - base;
	uint64_t v;

	if (!valid_access(off64, len))
		return -EINVAL;
	v = vvu_get_n(buf, len);
	if (off >= VVU_BAR0_MSIX_TABLE && off < VVU_BAR0_MSIX_TABLE + VVU_MSIX_TABLE_WINDOW) {
		msix_table_write(dev, off - VVU_BAR0_MSIX_TABLE, buf, len);
		return 0;
	}
	switch (base) {
	case VVU_BAR0_COMMON:
		common_write(dev, in, v, len);
		break;
	case VVU_BAR0_DEVCFG:
		devcfg_write(dev, in, buf, len);
		break;
	case VVU_BAR0_NOTIFY:
		/* queue_notify_off = queue index, multiplier 4; value ignored */
		if (in % VVU_NOTIFY_MULT == 0 && len <= 4 && in / VVU_NOTIFY_MULT < VVU_NUM_VQS)
			vvu_dev_raise(dev, VVU_DEV_EV_QUEUE_NOTIFY, in / VVU_NOTIFY_MULT);
		break;
	case VVU_BAR0_DEV_AUX:
		/* 1/2/4-byte writes at a slot base; the value is ignored */
		if (in % VVU_DEV_AUX_MULT == 0 && len <= 4)
			vvu_dev_raise(dev, VVU_DEV_EV_DOORBELL, in / VVU_DEV_AUX_MULT);
		break;
	case VVU_BAR0_DRV_AUX:
		drv_aux_write(dev, in, v, len);
		break;
	default:
		/* ISR and PBA are read-only; reserved space ignores writes */
		break;
	}
	return 0;
}

int
vvu_dev_bar0_rw(struct vvu_device *dev, uint64_t off, void *buf, uint32_t count, bool write)
{
	uint32_t done, step;
	int ret = 0;

	if (off >= VVU_BAR0_SIZE || count > VVU_BAR0_SIZE - off)
		return -EINVAL;
	/* registers are accessed with their own width; split anything else */
	for (done = 0; done < count && ret == 0; done += step) {
		uint64_t o = off + done;

		step = 8;
		while (step > 1 && (o % step != 0 || step > count - done))
			step /= 2;
		if (write)
			ret = vvu_dev_bar0_write(dev, o, (const uint8_t *)buf + done, step);
		else
			ret = vvu_dev_bar0_read(dev, o, (uint8_t *)buf + done, step);
	}
	return ret;
}

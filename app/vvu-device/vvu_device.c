/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device object: reset, the connection state machine (see the comment
 * at the top of vvu_device.h) and interrupt delivery.
 *
 * Events: the model raises them (vvu_dev_raise) where the vhost-user side
 * has work to do, and never calls that side itself (vvu_device.h, "Device
 * events"). The subscriber list is a few fixed slots: a slot freed by
 * vvu_dev_unsubscribe is reused, and dispatch skips free ones.
 *
 * Interrupts: with MSI-X enabled an event goes to its vector; a masked
 * vector (table entry, function mask, or SET_IRQS mask) records a pending
 * bit in the PBA that fires on unmask; NO_VECTOR drops the event. With MSI-X
 * off the ISR bit is set and the INTx eventfd (if any) is signalled. The ISR
 * bit is set in both cases so a driver polling ISR still sees the cause.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "vvu_device.h"

int
vvu_dev_subscribe(struct vvu_device *dev, uint32_t events, vvu_dev_event_cb cb, void *opaque)
{
	unsigned int i;

	if (cb == NULL || events == 0 || (events >> VVU_DEV_EV_MAX) != 0)
		return -EINVAL;
	for (i = 0; i < VVU_DEV_MAX_SUBSCRIBERS; i++) {
		struct vvu_dev_subscriber *s = &dev->subs[i];

		if (s->cb == NULL) {
			*s = (struct vvu_dev_subscriber){ .events = events, .cb = cb,
							  .opaque = opaque };
			return 0;
		}
	}
	return -ENOSPC;
}

void
vvu_dev_unsubscribe(struct vvu_device *dev, vvu_dev_event_cb cb, void *opaque)
{
	unsigned int i;

	for (i = 0; i < VVU_DEV_MAX_SUBSCRIBERS; i++) {
		struct vvu_dev_subscriber *s = &dev->subs[i];

		if (s->cb == cb && s->opaque == opaque)
			memset(s, 0, sizeof(*s));
	}
}

void
vvu_dev_raise(struct vvu_device *dev, enum vvu_dev_event ev, uint32_t arg)
{
	unsigned int i;

	for (i = 0; i < VVU_DEV_MAX_SUBSCRIBERS; i++) {
		const struct vvu_dev_subscriber *s = &dev->subs[i];

		if (s->cb != NULL && (s->events & VVU_DEV_EV_BIT(ev)))
			s->cb(dev, ev, arg, s->opaque);
	}
}

void
vvu_dev_log(const struct vvu_device *dev, int level, const char *fmt, ...)
{
	va_list ap;

	if (dev != NULL && level > dev->opt.verbose)
		return;
	if (dev == NULL && level > VVU_ERR)
		return;
	fprintf(stderr, "vvu-device: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void
vvu_dev_close_irq_fds(struct vvu_device *dev)
{
	uint32_t v;

	for (v = 0; v < VVU_MSIX_MAX; v++) {
		close_fd(&dev->irq_fds[v]);
		dev->irq_masked[v] = false;
	}
	close_fd(&dev->intx_fd);
}

int
vvu_dev_eventfd_prepare(int fd)
{
	static const char want[] = "anon_inode:[eventfd]";
	char path[64], link[sizeof(want) + 1];
	ssize_t n;
	int fl;

	if (fd < 0)
		return -EBADF;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link));
	if (n != (ssize_t)(sizeof(want) - 1) || memcmp(link, want, (size_t)n) != 0)
		return -EINVAL;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int
vvu_dev_set_msix_fds(struct vvu_device *dev, uint32_t start, uint32_t count,
		     const int *fds)
{
	uint32_t i;

	/* check everything first: on failure the fds stay the caller's */
	if (start >= dev->nvec || count > dev->nvec - start)
		return -EINVAL;
	for (i = 0; fds != NULL && i < count; i++)
		if (fds[i] >= 0 && vvu_dev_eventfd_prepare(fds[i]) < 0)
			return -EINVAL;
	for (i = 0; i < count; i++) {
		close_fd(&dev->irq_fds[start + i]);
		dev->irq_fds[start + i] = fds != NULL ? fds[i] : -1;
	}
	return 0;
}

bool
vvu_dev_msix_enabled(const struct vvu_device *dev)
{
	return vvu_dev_has_msix(dev) && (vvu_get16(dev->cfg + VVU_CAP_MSIX + PCI_MSIX_FLAGS) &
		PCI_MSIX_FLAGS_ENABLE) != 0;
}

static bool
msix_masked(const struct vvu_device *dev, uint16_t v)
{
	const uint8_t *e = dev->msix_table + (size_t)v * PCI_MSIX_ENTRY_SIZE;

	if (vvu_get16(dev->cfg + VVU_CAP_MSIX + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_MASKALL)
		return true;
	if (dev->irq_masked[v])
		return true;
	return (vvu_get32(e + PCI_MSIX_ENTRY_VECTOR_CTRL) & PCI_MSIX_ENTRY_CTRL_MASKBIT) != 0;
}

static void
signal_fd(int fd)
{
	uint64_t one = 1;

	/* eventfd writes only fail on counter overflow: the event is there */
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0)
		return;
}

void
vvu_dev_interrupt(struct vvu_device *dev, uint16_t vector, uint8_t isr_bit)
{
	dev->isr |= isr_bit;
	if (!vvu_dev_msix_enabled(dev)) {
		if (!(vvu_get16(dev->cfg + PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE)) {
			dev->interrupts++;
			signal_fd(dev->intx_fd);
		}
		return;
	}
	if (vector == VIRTIO_MSI_NO_VECTOR || vector >= dev->nvec)
		return;
	if (msix_masked(dev, vector)) {
		dev->pba[vector / 64] |= 1ULL << (vector % 64);
		return;
	}
	dev->interrupts++;
	signal_fd(dev->irq_fds[vector]);
}

void
vvu_dev_msix_unmasked(struct vvu_device *dev, uint16_t vector)
{
	uint64_t bit = 1ULL << (vector % 64);

	if (vector >= dev->nvec || !(dev->pba[vector / 64] & bit))
		return;
	if (!vvu_dev_msix_enabled(dev) || msix_masked(dev, vector))
		return;
	dev->pba[vector / 64] &= ~bit;
	dev->interrupts++;
	signal_fd(dev->irq_fds[vector]);
}

void
vvu_dev_config_changed(struct vvu_device *dev)
{
	dev->config_generation++;
	vvu_dev_interrupt(dev, dev->msix_config, VVU_ISR_CONFIG);
}

void
vvu_dev_queue_interrupt(struct vvu_device *dev, unsigned int q)
{
	vvu_dev_interrupt(dev, dev->vq[q].msix_vector, VVU_ISR_QUEUE);
}

bool
vvu_dev_ready(const struct vvu_device *dev)
{
	return (dev->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
		!(dev->status & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED)) &&
		(dev->dev_status & VVU_STATUS_BACKEND_UP);
}

void
vvu_dev_frontend_up(struct vvu_device *dev)
{
	vvu_dev_log(dev, VVU_INFO, "front-end connected");
	dev->stats.fe_connects++;
	dev->dev_status |= VVU_STATUS_FRONTEND_UP;
	vvu_dev_config_changed(dev);
}

/* The session ends here; FRONTEND_UP is cleared, BACKEND_UP is the caller's. */
static void
drop_frontend(struct vvu_device *dev)
{
	vvu_dev_raise(dev, VVU_DEV_EV_FRONTEND_DROP, 0);
	dev->dev_status &= ~VVU_STATUS_FRONTEND_UP;
}

void
vvu_dev_frontend_gone(struct vvu_device *dev, bool interrupt)
{
	bool was_up = (dev->dev_status & VVU_STATUS_FRONTEND_UP) != 0;

	drop_frontend(dev);
	if (was_up && interrupt) {
		/* the device clears both bits; the driver sets BACKEND_UP again */
		dev->dev_status = 0;
		vvu_dev_config_changed(dev);
	}
	vvu_dev_raise(dev, VVU_DEV_EV_READY_CHANGED, 0);
}

void
vvu_dev_needs_reset(struct vvu_device *dev, const char *why)
{
	vvu_dev_log(dev, VVU_ERR, "device needs reset: %s", why);
	dev->needs_reset_events++;
	/* set first, so the front-end cannot come back before the reset */
	dev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	drop_frontend(dev);
	/* virtio 1.2 §2.1.2: notify when DRIVER_OK was set */
	if (dev->status & VIRTIO_CONFIG_S_DRIVER_OK)
		vvu_dev_config_changed(dev);
	vvu_dev_raise(dev, VVU_DEV_EV_READY_CHANGED, 0);
}

void
vvu_dev_dma_fault(struct vvu_device *dev, const char *why)
{
	/* why names the ring step that was running, not what went wrong */
	vvu_dev_log(dev, VVU_ERR, "SIGBUS on the driver's DMA memory (it shrank a mapped "
		"file); step: %s; dropping the driver", why);
	dev->stats.dma_faults++;
	/* stop every ring access first: the mappings are poisoned */
	vvu_dev_needs_reset(dev, "SIGBUS on a DMA mapping");
	vvu_dev_raise(dev, VVU_DEV_EV_DMA_FAULT, 0);
}

void
vvu_dev_ring_error(struct vvu_device *dev, int err, const char *why)
{
	if (err == -EIO)
		vvu_dev_dma_fault(dev, why);
	else
		vvu_dev_needs_reset(dev, why);
}

void
vvu_dev_virtio_reset(struct vvu_device *dev)
{
	unsigned int q;
	uint32_t i;

	if (dev->dev_status & VVU_STATUS_FRONTEND_UP)
		vvu_dev_log(dev, VVU_INFO, "reset: disconnecting the front-end");
	dev->status = 0;
	drop_frontend(dev);
	dev->dev_status = 0;
	dev->dfselect = 0;
	dev->gfselect = 0;
	dev->driver_features = 0;
	dev->msix_config = VIRTIO_MSI_NO_VECTOR;
	dev->queue_select = 0;
	for (q = 0; q < VVU_NUM_VQS; q++)
		vvu_dev_vq_reset(&dev->vq[q]);
	dev->isr = 0;
	dev->aux_select = 0;
	for (i = 0; i < VVU_MAX_VHOST_QUEUES; i++)
		dev->aux_vector[i] = VIRTIO_MSI_NO_VECTOR;
	vvu_dev_raise(dev, VVU_DEV_EV_READY_CHANGED, 0);
}

void
vvu_dev_pci_reset(struct vvu_device *dev)
{
	uint32_t v;

	vvu_dev_virtio_reset(dev);
	vvu_dev_cfg_reset(dev);
	memset(dev->msix_table, 0, sizeof(dev->msix_table));
	/* PCI: every vector starts masked */
	for (v = 0; v < dev->nvec; v++)
		vvu_put32(dev->msix_table + (size_t)v * PCI_MSIX_ENTRY_SIZE +
			  PCI_MSIX_ENTRY_VECTOR_CTRL, PCI_MSIX_ENTRY_CTRL_MASKBIT);
	memset(dev->pba, 0, sizeof(dev->pba));
	for (v = 0; v < VVU_MSIX_MAX; v++)
		dev->irq_masked[v] = false;
}

int
vvu_dev_pci_init(struct vvu_device *dev, const struct vvu_dev_options *opt,
		 struct vvu_dev_loop *loop)
{
	uint32_t i, n = opt->num_queues;
	int ret;

	memset(dev, 0, sizeof(*dev));
	if (n < 1 || n > VVU_MAX_VHOST_QUEUES)
		return -EINVAL;
	if (opt->shm_size < VVU_MIN_SHM_SIZE || opt->shm_size > VVU_MAX_SHM_SIZE ||
	    (opt->shm_size & (opt->shm_size - 1)) != 0)
		return -EINVAL;
	if (opt->virtio_id > 0xffff - VVU_PCI_MODERN_ID_BASE)
		return -EINVAL;
	if (opt->layout != VVU_DEV_LAYOUT_SPEC && opt->layout != VVU_DEV_LAYOUT_PROXY)
		return -EINVAL;
	if (opt->layout == VVU_DEV_LAYOUT_PROXY && opt->shm_size > VVU_PROXY_MAX_SHM_SIZE)
		return -E2BIG;
	dev->opt = *opt;
	dev->loop = loop;
	/* no MSI-X capability: no vector exists, every mapping reads NO_VECTOR */
	dev->nvec = vvu_dev_has_msix(dev) ? VVU_MSIX_FIXED + n : 0;
	dev->intx_fd = -1;
	for (i = 0; i < VVU_MSIX_MAX; i++)
		dev->irq_fds[i] = -1;
	/* a driver truncating its DMA memory must not kill us (vvu_dev_dma.c) */
	ret = vvu_dev_dma_guard_init();
	if (ret < 0)
		return ret;
	vvu_dev_cfg_build(dev);
	vvu_dev_pci_reset(dev);
	return 0;
}

void
vvu_dev_pci_fini(struct vvu_device *dev)
{
	vvu_dev_close_irq_fds(dev);
	vvu_dev_dma_unmap_all(&dev->dma);
	free(dev->dma.regions);
	dev->dma.regions = NULL;
	memset(dev->subs, 0, sizeof(dev->subs));
}

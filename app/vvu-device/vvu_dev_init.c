/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device as dpdk-vvu-device runs it: the PCI model (vvu_device.c and
 * the files under it) with its vhost-user side plugged in. Forwarding and
 * the socket each subscribe to the model's events in their own init, so
 * this file is the only place that knows all three, and a different
 * composition (another carrier, a test) can take the model alone
 * (vvu_dev_pci_init) and plug in what it needs.
 *
 * Forwarding comes first: it owns the per-queue fd tables the socket's
 * messages fill, and its FRONTEND_DROP subscriber runs before the socket's.
 */

#include "vvu_device.h"

int
vvu_dev_init(struct vvu_device *dev, const struct vvu_dev_options *opt,
	     struct vvu_dev_loop *loop)
{
	int ret;

	ret = vvu_dev_pci_init(dev, opt, loop);
	if (ret < 0)
		return ret;
	ret = vvu_dev_fwd_init(dev);
	if (ret < 0) {
		vvu_dev_fwd_fini(dev);
		vvu_dev_pci_fini(dev);
		return ret;
	}
	/* from its first line on, the socket's fini is safe */
	ret = vvu_dev_fe_init(dev);
	if (ret < 0) {
		vvu_dev_fini(dev);
		return ret;
	}
	return 0;
}

void
vvu_dev_fini(struct vvu_device *dev)
{
	vvu_dev_fe_fini(dev);
	vvu_dev_fwd_fini(dev);
	vvu_dev_pci_fini(dev);
}

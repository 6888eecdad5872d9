/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio-probe: open one PCI function through kernel VFIO, the way DPDK's EAL
 * does, and print what it finds. It runs inside the appliance guest
 * (usertools/vvu-guest/init) on every function bound to vfio-pci, before
 * the real application, so that a boot log shows which step of VFIO fails,
 * if one does.
 *
 * Usage: vfio-probe DDDD:BB:DD.F
 *
 * Steps, one output line each ("vfio-probe: <bdf>: ..."): the IOMMU group
 * (sysfs), /dev/vfio/vfio (API version, type1 v2 IOMMU available), the
 * group (viable), the container (VFIO_GROUP_SET_CONTAINER,
 * VFIO_SET_IOMMU type1 v2), the device fd (regions, irqs), the config
 * space header (vendor, device), the size of every BAR and the first
 * dword of BAR0 read with pread (a trapped access that reaches the device
 * model). For QEMU's "edu" device (1234:11e8), the stand-in used before the
 * VVU device exists, it also writes its liveness register (BAR0 + 4) and
 * checks that the device answers with the complement.
 *
 * Exit status 0 when every step worked. Built statically by
 * usertools/vvu-guest-image.sh (gcc -static): the guest has no compiler.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>

static const char *bdf;

#define SAY(fmt, ...) printf("vfio-probe: %s: " fmt "\n", bdf, ##__VA_ARGS__)
#define FAIL(fmt, ...) do { \
	printf("vfio-probe: %s: FAILED: " fmt " (%s)\n", bdf, ##__VA_ARGS__, strerror(errno)); \
	return 1; \
} while (0)

static int
region_rw(int fd, const struct vfio_region_info *r, uint64_t off, void *buf, size_t len,
	  int write)
{
	ssize_t n;

	if (write)
		n = pwrite(fd, buf, len, (off_t)(r->offset + off));
	else
		n = pread(fd, buf, len, (off_t)(r->offset + off));
	return n == (ssize_t)len ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	struct vfio_device_info di = { .argsz = sizeof(di) };
	struct vfio_region_info regs[VFIO_PCI_NUM_REGIONS];
	char path[PATH_MAX + 16], link[PATH_MAX];
	const char *group_name;
	uint16_t vendor = 0, device = 0;
	int container, group, dev, api;
	unsigned int i;
	ssize_t n;

	if (argc != 2) {
		fprintf(stderr, "usage: vfio-probe DDDD:BB:DD.F\n");
		return 2;
	}
	bdf = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		FAIL("no IOMMU group (%s)", path);
	link[n] = '\0';
	group_name = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
	SAY("iommu group %s", group_name);

	container = open("/dev/vfio/vfio", O_RDWR);
	if (container < 0)
		FAIL("open /dev/vfio/vfio");
	api = ioctl(container, VFIO_GET_API_VERSION);
	if (api != VFIO_API_VERSION)
		FAIL("VFIO API version %d, want %d", api, VFIO_API_VERSION);
	if (ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0)
		FAIL("no type1 v2 IOMMU (vfio_iommu_type1 not loaded?)");
	SAY("container: API version %d, type1v2 IOMMU available", api);

	snprintf(path, sizeof(path), "/dev/vfio/%s", group_name);
	group = open(path, O_RDWR);
	if (group < 0)
		FAIL("open %s", path);
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &gs) < 0)
		FAIL("VFIO_GROUP_GET_STATUS");
	if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		errno = EBUSY;
		FAIL("group %s not viable (a function of the group is bound to another driver)",
		     group_name);
	}
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) < 0)
		FAIL("VFIO_GROUP_SET_CONTAINER");
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0)
		FAIL("VFIO_SET_IOMMU type1v2 (interrupt remapping off? intremap=on)");
	SAY("group %s: viable, in a type1v2 container", path);

	dev = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (dev < 0)
		FAIL("VFIO_GROUP_GET_DEVICE_FD");
	if (ioctl(dev, VFIO_DEVICE_GET_INFO, &di) < 0)
		FAIL("VFIO_DEVICE_GET_INFO");
	SAY("device fd: flags 0x%x (%s), %u regions, %u irq types", di.flags,
	    di.flags & VFIO_DEVICE_FLAGS_PCI ? "PCI" : "not PCI", di.num_regions, di.num_irqs);
	if (!(di.flags & VFIO_DEVICE_FLAGS_PCI) || di.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX) {
		errno = ENODEV;
		FAIL("not a VFIO PCI device");
	}

	memset(regs, 0, sizeof(regs));
	for (i = 0; i <= VFIO_PCI_CONFIG_REGION_INDEX; i++) {
		regs[i].argsz = sizeof(regs[i]);
		regs[i].index = i;
		if (ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &regs[i]) < 0)
			regs[i].size = 0;
	}
	if (region_rw(dev, &regs[VFIO_PCI_CONFIG_REGION_INDEX], 0, &vendor, 2, 0) < 0 ||
	    region_rw(dev, &regs[VFIO_PCI_CONFIG_REGION_INDEX], 2, &device, 2, 0) < 0)
		FAIL("config space read");
	SAY("config space: vendor 0x%04x device 0x%04x", vendor, device);
	for (i = VFIO_PCI_BAR0_REGION_INDEX; i <= VFIO_PCI_BAR5_REGION_INDEX; i++)
		if (regs[i].size != 0)
			SAY("BAR%u: %llu bytes%s%s", i, (unsigned long long)regs[i].size,
			    regs[i].flags & VFIO_REGION_INFO_FLAG_MMAP ? ", mmap" : "",
			    regs[i].flags & VFIO_REGION_INFO_FLAG_WRITE ? ", rw" : "");

	if (regs[VFIO_PCI_BAR0_REGION_INDEX].size >= 8) {
		uint32_t v = 0;

		if (region_rw(dev, &regs[VFIO_PCI_BAR0_REGION_INDEX], 0, &v, 4, 0) < 0)
			FAIL("BAR0 read");
		SAY("BAR0[0] = 0x%08x", v);
		if (vendor == 0x1234 && device == 0x11e8) {	/* QEMU edu */
			uint32_t w = 0x5a5aa5a5, r = 0;

			if (region_rw(dev, &regs[VFIO_PCI_BAR0_REGION_INDEX], 4, &w, 4, 1) < 0 ||
			    region_rw(dev, &regs[VFIO_PCI_BAR0_REGION_INDEX], 4, &r, 4, 0) < 0)
				FAIL("edu liveness register");
			if (r != (uint32_t)~w) {
				errno = EIO;
				FAIL("edu liveness: wrote 0x%08x, read 0x%08x, want 0x%08x", w, r,
				     (uint32_t)~w);
			}
			SAY("edu liveness: wrote 0x%08x, read 0x%08x", w, r);
		}
	}

	close(dev);
	close(group);
	close(container);
	SAY("ok");
	return 0;
}

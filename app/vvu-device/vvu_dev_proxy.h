/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device's second front (vvu_dev_proxy.c): QEMU's multi-process proxy
 * protocol, as QEMU 7.2's "-device x-pci-proxy-dev,fd=N" speaks it on a
 * connected AF_UNIX stream socket. Apart from vvu_device.h so that only the
 * files that speak this protocol (the front, its tests, its fuzz target)
 * see its wire format.
 *
 * The wire format, from QEMU 7.2's include/hw/remote/mpqemu-link.h and
 * checked against a running qemu-system-x86_64 7.2 (doc/guides/vvu_device.rst):
 * every message is a 16-byte header (an int command, 4 bytes of padding,
 * a size_t payload size; x86_64 host order) and then that many payload
 * bytes; fds travel as SCM_RIGHTS on the same sendmsg(). QEMU waits for a
 * reply (VVU_PROXY_RET, an 8-byte value) to config and BAR accesses and to
 * DEVICE_RESET, and expects none to SYNC_SYSMEM and SET_IRQFD.
 */

#ifndef _VVU_DEV_PROXY_H_
#define _VVU_DEV_PROXY_H_

#include <stdbool.h>
#include <stdint.h>

struct vvu_device;

enum vvu_dev_proxy_cmd {
	VVU_PROXY_SYNC_SYSMEM = 0,	/* guest RAM regions, one fd each */
	VVU_PROXY_RET = 1,		/* the reply, device to QEMU */
	VVU_PROXY_CFG_WRITE = 2,
	VVU_PROXY_CFG_READ = 3,
	VVU_PROXY_BAR_WRITE = 4,
	VVU_PROXY_BAR_READ = 5,
	VVU_PROXY_SET_IRQFD = 6,	/* INTx eventfd and resample eventfd */
	VVU_PROXY_DEVICE_RESET = 7,
};

/* Most fds (and memory regions) one message carries: QEMU's REMOTE_MAX_FDS. */
#define VVU_PROXY_MAX_FDS	8

struct vvu_dev_proxy_hdr {
	int32_t cmd;
	uint32_t pad;		/* the C struct's hole before the size_t */
	uint64_t size;		/* payload bytes */
};

/* SYNC_SYSMEM: regions 0 .. nfds-1 are valid, one fd each. */
struct vvu_dev_proxy_sysmem {
	uint64_t gpa[VVU_PROXY_MAX_FDS];
	uint64_t size[VVU_PROXY_MAX_FDS];
	int64_t offset[VVU_PROXY_MAX_FDS];	/* off_t: where gpa sits in the fd */
};

/* CFG_READ / CFG_WRITE */
struct vvu_dev_proxy_cfg {
	uint32_t addr;
	uint32_t val;
	int32_t len;
};

/* BAR_READ / BAR_WRITE: addr is the BAR's base address + offset. */
struct vvu_dev_proxy_bar {
	uint64_t addr;
	uint64_t val;
	uint32_t size;
	uint8_t memory;		/* bool: memory (1) or I/O (0) space */
	uint8_t pad[3];
};

/* QEMU refuses any payload larger than its message union: SYNC_SYSMEM's. */
#define VVU_PROXY_HDR_SIZE	sizeof(struct vvu_dev_proxy_hdr)
#define VVU_PROXY_PAYLOAD_MAX	sizeof(struct vvu_dev_proxy_sysmem)

_Static_assert(sizeof(struct vvu_dev_proxy_hdr) == 16, "proxy header is 16 bytes");
_Static_assert(sizeof(struct vvu_dev_proxy_sysmem) == 192, "SYNC_SYSMEM is 192 bytes");
_Static_assert(sizeof(struct vvu_dev_proxy_cfg) == 12, "config access is 12 bytes");
_Static_assert(sizeof(struct vvu_dev_proxy_bar) == 24, "BAR access is 24 bytes");

/* What the front did so far (tests, the fuzz target, the debug log). */
struct vvu_dev_proxy_stats {
	uint64_t msgs;		/* whole messages taken */
	uint64_t replies;	/* RET messages queued */
	uint64_t refused;	/* accesses or messages refused (logged) */
	uint64_t sysmem;	/* SYNC_SYSMEM applied */
	uint64_t stalls;	/* replies that waited for room in the socket */
};

/*
 * Serve QEMU on fd, a connected AF_UNIX stream socket, from dev->loop
 * (dev built with VVU_DEV_LAYOUT_PROXY). The fd is the front's from then on,
 * also on failure. 0 or negative errno.
 */
int vvu_dev_proxy_start(struct vvu_device *dev, int fd);
/* Close the socket and forget the front (the model is not reset here). */
void vvu_dev_proxy_stop(struct vvu_device *dev);
/*
 * Whether the session is over: QEMU closed the socket (*status 0) or was
 * dropped for breaking the protocol (*status 1). The fd cannot reconnect,
 * so the process exits then; the model is already reset.
 */
bool vvu_dev_proxy_done(const struct vvu_device *dev, int *status);
void vvu_dev_proxy_get_stats(const struct vvu_device *dev, struct vvu_dev_proxy_stats *st);

#endif /* _VVU_DEV_PROXY_H_ */

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device access for the virtio-vhost-user (VVU) driver (internal).
 *
 * The VVU device is reached in one of two ways, and nothing above this
 * header knows which:
 *  - kernel VFIO (vvu_drv_vfio.c): a PCI function bound to vfio-pci inside the
 *    appliance VM, opened through DPDK's public rte_vfio_* API and sysfs;
 *  - vfio-user (vvu_drv_vfio_user.c): dpdk-vvu-device on the same host, reached
 *    over an AF_UNIX socket with lib/vfio_user's client.
 *
 * Each fills one struct vvu_drv_hw_ops. The virtio PCI logic (vvu_drv_pci.c), the
 * message queues (vvu_drv_queue.c) and the transport (trans_virtio_vhost_user.c)
 * use only these ops, so a third way (a test double, another bus) is one
 * more ops table.
 *
 * Trust: the device is not trusted. Every value an op returns that comes from
 * the device (register contents, region sizes, window lists, fds) is checked
 * by the caller or by the op itself before it is used as a size, an offset or
 * an index; an op never maps or touches memory outside what it validated.
 *
 * Threads: a struct vvu_drv_hw is used by one thread at a time (the transport
 * holds its endpoint lock around every call), with one exception: when
 * ops->mt_safe_write is true, bar_write may also be called concurrently from
 * data-path lcores (kernel VFIO: a pwrite or an MMIO store). The vfio-user
 * client is strictly single-threaded, so over it the transport defers
 * data-path doorbells to the control thread.
 */

#ifndef _VVU_DRV_HW_H_
#define _VVU_DRV_HW_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vvu_spec.h"

/* Longest name used in logs (the endpoint path). */
#define VVU_NAME_MAX		256

struct vvu_drv_hw;

/* Memory the device reads and writes (our rings and message buffers). */
struct vvu_drv_dma_mem {
	void *va;		/* our address of the first byte */
	uint64_t iova;		/* the device's address of the first byte */
	size_t len;
	/* owned by the op that allocated it */
	const void *mz;		/* rte_memzone, or NULL */
	void *map;		/* memfd mapping (fallback), or NULL */
	size_t map_len;
	int fd;			/* memfd (fallback), or -1 */
	unsigned int nr_maps;	/* DMA mappings made for it (vfio-user) */
	uint64_t map_iova[8];
	uint64_t map_size[8];
};

/* A piece of a shared-memory BAR made reachable in our address space. */
struct vvu_drv_shm_map {
	void *va;		/* first byte of the requested range */
	void *map;		/* what to munmap, or NULL (part of a BAR mapped once) */
	size_t map_len;
};

/* One register read of a batch (bar_read_batch). */
struct vvu_drv_bar_read {
	unsigned int bar;
	uint64_t off;
	void *buf;
	uint32_t len;
};

struct vvu_drv_hw_ops {
	const char *name;

	/*
	 * true: bar_write may run on any thread, concurrently with every other
	 * op (data-path doorbells write directly). false: the transport
	 * funnels data-path doorbells through its control thread.
	 */
	bool mt_safe_write;

	/* Attach to the device named by hw->addr; fills hw->priv. */
	int (*open)(struct vvu_drv_hw *hw);
	/* Detach; releases everything open acquired. Safe after a failed open. */
	void (*close)(struct vvu_drv_hw *hw);

	/* PCI config space access (off + len <= VVU_PCI_CFG_SIZE). */
	int (*cfg_read)(struct vvu_drv_hw *hw, uint32_t off, void *buf, uint32_t len);
	int (*cfg_write)(struct vvu_drv_hw *hw, uint32_t off, const void *buf, uint32_t len);

	/* Size of BAR bar (0 if the device does not have it). */
	int (*bar_size)(struct vvu_drv_hw *hw, unsigned int bar, uint64_t *size);
	/* Register access; len is 1, 2, 4 or 8; little-endian device values. */
	int (*bar_read)(struct vvu_drv_hw *hw, unsigned int bar, uint64_t off, void *buf,
			uint32_t len);
	int (*bar_write)(struct vvu_drv_hw *hw, unsigned int bar, uint64_t off,
			 const void *buf, uint32_t len);
	/*
	 * Optional: n (at most 4) register reads in one round trip (vfio-user:
	 * sent together, answered in order). 0 when all succeeded. NULL:
	 * bar_read for each.
	 */
	int (*bar_read_batch)(struct vvu_drv_hw *hw, const struct vvu_drv_bar_read *r,
			      unsigned int n);
	/*
	 * Optional: a doorbell (len 2), sent without waiting for the device to
	 * acknowledge it (vfio-user: a posted REGION_WRITE, no reply). The
	 * device takes requests in order, so a later access sees its effect.
	 * NULL: bar_write.
	 */
	int (*bar_notify)(struct vvu_drv_hw *hw, unsigned int bar, uint64_t off,
			  const void *buf, uint32_t len);

	/*
	 * The layout of a shared-memory BAR may have changed (vfio-user: the
	 * front-end's memory windows are re-read; kernel VFIO: nothing to do,
	 * the BAR is mapped once).
	 */
	int (*shm_refresh)(struct vvu_drv_hw *hw, unsigned int bar);
	/*
	 * Optional: let go of what shm_refresh holds (vfio-user: the fds of the
	 * front-end's memory, which would pin it after the front-end left).
	 */
	void (*shm_release)(struct vvu_drv_hw *hw);
	/* Make [off, off + len) of BAR bar reachable; fills *m. */
	int (*shm_map)(struct vvu_drv_hw *hw, unsigned int bar, uint64_t off, uint64_t len,
		       struct vvu_drv_shm_map *m);
	void (*shm_unmap)(struct vvu_drv_hw *hw, struct vvu_drv_shm_map *m);

	/*
	 * Route MSI-X vectors 0..count-1 to the eventfds efds[0..count-1] and
	 * enable MSI-X; count 0 disables every vector. The fds stay the
	 * caller's.
	 */
	int (*set_irqs)(struct vvu_drv_hw *hw, uint32_t count, const int *efds);

	/* Allocate len bytes of zeroed DMA memory the device can reach. */
	int (*dma_alloc)(struct vvu_drv_hw *hw, size_t len, struct vvu_drv_dma_mem *m);
	void (*dma_free)(struct vvu_drv_hw *hw, struct vvu_drv_dma_mem *m);

	/* An fd whose hang-up means the device is gone, or -1. */
	int (*watch_fd)(struct vvu_drv_hw *hw);
	/*
	 * Called when watch_fd is readable: 0 if the device is still there
	 * (spurious wake-up), negative if it is gone.
	 */
	int (*check_alive)(struct vvu_drv_hw *hw);
};

/* One VVU device as the driver sees it. */
struct vvu_drv_hw {
	const struct vvu_drv_hw_ops *ops;
	char name[VVU_NAME_MAX];	/* for logs: the endpoint path */
	char addr[VVU_NAME_MAX];	/* PCI address or vfio-user socket path */
	void *priv;			/* the ops' state */
};

/* The two implementations. */
extern const struct vvu_drv_hw_ops vvu_drv_vfio_ops;
extern const struct vvu_drv_hw_ops vvu_drv_vfio_user_ops;

#endif /* _VVU_DRV_HW_H_ */

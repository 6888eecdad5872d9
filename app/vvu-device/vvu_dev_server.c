/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Glue between the device model and lib/vfio_user's server.
 *
 * Regions: BAR0 (trapped registers), BAR2 (front-end memory windows as
 * sparse areas, each with its own fd: our sparse_mmap_fds extension; a
 * client without the extension sees BAR2 without mmappable areas) and the
 * 256-byte config space. Interrupts: INTx (1) and MSI-X (3 + N) eventfds.
 *
 * When the driver's connection goes away the device is reset as a whole
 * (front-end dropped, DMA unmapped, eventfds closed): its rings lived in the
 * client's memory, so nothing could continue, and the next driver must
 * start from a clean device.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>

#include "vvu_device.h"
#include "vvu_dev_server.h"
#include "vfio_user.h"

/*
 * How long a vfio-user request may stay partly received, and how long a
 * reply may wait for a client that does not read. The library reads
 * requests without waiting (a partial one is continued on the next
 * readable event), so a slow client never stalls this single-threaded
 * loop while it receives; one that leaves a request incomplete for longer
 * than this is dropped (and the device reset) on its next byte. Sending
 * still waits for socket space, for at most this long. A well-behaved
 * client writes a message in one sendmsg() on a local socket and reads
 * its replies, so 200 ms is generous.
 */
#define VVU_VFIO_USER_TIMEOUT_MS	200

struct vvu_server {
	struct vvu_device *dev;
	struct vfio_user_server *srv;
	int conn_fd;		/* as registered in the loop */
	int timer_fd;		/* fires when a partial request times out */
	bool timer_armed;	/* timer_fd set: disarming it again is a no-op */
	bool in_handle;		/* inside vfio_user_server_handle() */
	bool drop_pending;	/* drop the client once handle() returns */
};

/* Forget the connection's loop watch and let the library close it. */
static void
server_drop(struct vvu_server *s)
{
	if (s->conn_fd >= 0)
		vvu_dev_loop_del(s->dev->loop, s->conn_fd);
	s->conn_fd = -1;
	s->drop_pending = false;
	vfio_user_server_disconnect(s->srv);
}

/*
 * VVU_DEV_EV_DMA_FAULT: the driver's DMA memory faulted. Callbacks must not
 * re-enter the library, so inside a request the drop waits until
 * vfio_user_server_handle() has returned; from the front-end's or a kick's
 * callback it happens at once.
 */
static void
drop_driver(struct vvu_device *dev, enum vvu_dev_event ev, uint32_t arg, void *opaque)
{
	struct vvu_server *s = opaque;

	if (s->conn_fd < 0)
		return;
	if (s->in_handle)
		s->drop_pending = true;
	else
		server_drop(s);
}

static void
server_log(int level, const char *msg, void *arg)
{
	struct vvu_device *dev = arg;

	/* lib levels: ERR 0, WARNING 1, INFO 2, DEBUG 3 */
	vvu_dev_log(dev, level <= VFIO_USER_LOG_WARNING ? VVU_ERR :
		level == VFIO_USER_LOG_INFO ? VVU_INFO : VVU_DEBUG, "vfio-user: %s", msg);
}

static int
op_device_info(void *arg, struct vfio_user_device_info *info)
{
	info->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
	info->num_regions = VFIO_PCI_NUM_REGIONS;
	info->num_irqs = VFIO_PCI_NUM_IRQS;
	return 0;
}

int
vvu_dev_server_region(struct vvu_device *dev, uint32_t index, struct vfio_user_region *r)
{
	unsigned int i;

	switch (index) {
	case VFIO_PCI_BAR0_REGION_INDEX:
		r->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		r->size = VVU_BAR0_SIZE;
		return 0;
	case VFIO_PCI_BAR2_REGION_INDEX:
		r->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		r->size = dev->opt.shm_size;
		for (i = 0; i < dev->bar2.nr; i++) {
			const struct vvu_dev_window *w = &dev->bar2.win[i];

			r->areas[i].offset = w->bar_offset;
			r->areas[i].size = w->size;
			r->areas[i].fd = w->fd;
			r->areas[i].fd_offset = w->fd_offset;
		}
		r->nr_areas = dev->bar2.nr;
		if (r->nr_areas > 0)
			r->flags |= VFIO_REGION_INFO_FLAG_MMAP;
		return 0;
	case VFIO_PCI_CONFIG_REGION_INDEX:
		r->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		r->size = VVU_PCI_CFG_SIZE;
		return 0;
	default:
		/* BAR1, BAR3 (upper half of BAR2), BAR4/5 (phase 2), ROM, VGA */
		if (index < VFIO_PCI_NUM_REGIONS)
			return 0;
		return -EINVAL;
	}
}

static int
op_region_info(void *arg, uint32_t index, struct vfio_user_region *r)
{
	struct vvu_server *s = arg;

	return vvu_dev_server_region(s->dev, index, r);
}

static int
op_irq_info(void *arg, struct vfio_irq_info *info)
{
	struct vvu_server *s = arg;

	info->flags = 0;
	info->count = 0;
	switch (info->index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		info->flags = VFIO_IRQ_INFO_EVENTFD;
		info->count = 1;
		break;
	case VFIO_PCI_MSIX_IRQ_INDEX:
		info->flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
		info->count = s->dev->nvec;
		break;
	default:
		break;
	}
	return 0;
}

static void
close_all(const int *fds, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

int
vvu_dev_server_set_irqs(struct vvu_device *dev, const struct vfio_irq_set *set,
		    const uint8_t *bools, const int *fds, unsigned int nr_fds)
{
	uint32_t data = set->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	uint32_t action = set->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	uint32_t i;

	/* failures leave the fds to the caller; success owns them all */
	if (set->index == VFIO_PCI_INTX_IRQ_INDEX) {
		if (data == VFIO_IRQ_SET_DATA_EVENTFD && action == VFIO_IRQ_SET_ACTION_TRIGGER) {
			if (nr_fds > 1 || (nr_fds == 1 && vvu_dev_eventfd_prepare(fds[0]) < 0))
				return -EINVAL;
			if (dev->intx_fd >= 0)
				close(dev->intx_fd);
			dev->intx_fd = nr_fds == 1 ? fds[0] : -1;
			return 0;
		}
		if (data == VFIO_IRQ_SET_DATA_NONE && set->count == 0) {
			if (dev->intx_fd >= 0)
				close(dev->intx_fd);
			dev->intx_fd = -1;
		}
		close_all(fds, nr_fds);
		return 0;
	}
	if (set->index != VFIO_PCI_MSIX_IRQ_INDEX) {
		close_all(fds, nr_fds);
		return 0;	/* nothing to configure, no error to report */
	}
	if (data == VFIO_IRQ_SET_DATA_NONE && set->count == 0) {
		for (i = 0; i < dev->nvec; i++) {
			if (dev->irq_fds[i] >= 0)
				close(dev->irq_fds[i]);
			dev->irq_fds[i] = -1;
		}
		close_all(fds, nr_fds);
		return 0;
	}
	if (data == VFIO_IRQ_SET_DATA_EVENTFD) {
		if (action != VFIO_IRQ_SET_ACTION_TRIGGER)
			return -EINVAL;
		/* fd-less: de-assign the range */
		return vvu_dev_set_msix_fds(dev, set->start, set->count,
					    nr_fds > 0 ? fds : NULL);
	}
	if (set->start >= dev->nvec || set->count > dev->nvec - set->start ||
	    (data == VFIO_IRQ_SET_DATA_BOOL && bools == NULL))
		return -EINVAL;
	close_all(fds, nr_fds);
	for (i = 0; i < set->count; i++) {
		uint32_t v = set->start + i;

		if (data == VFIO_IRQ_SET_DATA_BOOL && !bools[i])
			continue;
		switch (action) {
		case VFIO_IRQ_SET_ACTION_MASK:
			dev->irq_masked[v] = true;
			break;
		case VFIO_IRQ_SET_ACTION_UNMASK:
			dev->irq_masked[v] = false;
			vvu_dev_msix_unmasked(dev, (uint16_t)v);
			break;
		default:
			/* TRIGGER without eventfds: a test interrupt */
			vvu_dev_interrupt(dev, (uint16_t)v, 0);
			break;
		}
	}
	return 0;
}

static int
op_set_irqs(void *arg, const struct vfio_irq_set *set, const uint8_t *bools,
	    const int *fds, unsigned int nr_fds)
{
	struct vvu_server *s = arg;
	int ret;

	ret = vvu_dev_server_set_irqs(s->dev, set, bools, fds, nr_fds);
	if (ret < 0)
		vvu_dev_log(s->dev, VVU_INFO, "SET_IRQS index %u start %u count %u refused",
			set->index, set->start, set->count);
	return ret;
}

int
vvu_dev_server_region_rw(struct vvu_device *dev, uint32_t region, uint64_t off, void *buf,
		     uint32_t count, bool write)
{
	switch (region) {
	case VFIO_PCI_CONFIG_REGION_INDEX:
		return write ? vvu_dev_cfg_write(dev, off, buf, count) :
			vvu_dev_cfg_read(dev, off, buf, count);
	case VFIO_PCI_BAR2_REGION_INDEX:
		/* the spec wants region I/O on BAR2 to work, mmap or not */
		return vvu_dev_bar2_rw(&dev->bar2, off, buf, count, write);
	case VFIO_PCI_BAR0_REGION_INDEX:
		return vvu_dev_bar0_rw(dev, off, buf, count, write);
	default:
		if (!write)
			memset(buf, 0, count);
		return 0;
	}
}

static int
op_region_read(void *arg, uint32_t region, uint64_t offset, void *buf, uint32_t count)
{
	struct vvu_server *s = arg;

	return vvu_dev_server_region_rw(s->dev, region, offset, buf, count, false);
}

static int
op_region_write(void *arg, uint32_t region, uint64_t offset, const void *buf,
		uint32_t count)
{
	struct vvu_server *s = arg;

	return vvu_dev_server_region_rw(s->dev, region, offset, (void *)(uintptr_t)buf, count,
				    true);
}

static int
op_dma_map(void *arg, const struct vfio_user_dma_map *map, int fd)
{
	struct vvu_server *s = arg;
	uint32_t prot = 0;
	int ret;

	if (map->flags & VFIO_USER_F_DMA_REGION_READ)
		prot |= VVU_DMA_READ;
	if (map->flags & VFIO_USER_F_DMA_REGION_WRITE)
		prot |= VVU_DMA_WRITE;
	ret = vvu_dev_dma_map(&s->dev->dma, fd, map->offset, map->addr, map->size, prot);
	if (ret < 0)
		vvu_dev_log(s->dev, VVU_INFO, "DMA_MAP 0x%llx+0x%llx refused: %s",
			(unsigned long long)map->addr, (unsigned long long)map->size,
			strerror(-ret));
	return ret;
}

static int
op_dma_unmap(void *arg, const struct vfio_user_dma_unmap *unmap)
{
	struct vvu_server *s = arg;

	/* no pointer into DMA memory outlives one ring operation */
	if (unmap->flags & VFIO_USER_F_DMA_UNMAP_ALL) {
		vvu_dev_dma_unmap_all(&s->dev->dma);
		return 0;
	}
	return vvu_dev_dma_unmap(&s->dev->dma, unmap->addr, unmap->size);
}

static int
op_device_reset(void *arg)
{
	struct vvu_server *s = arg;

	vvu_dev_log(s->dev, VVU_INFO, "DEVICE_RESET");
	vvu_dev_pci_reset(s->dev);
	return 0;
}

static void
op_disconnected(void *arg)
{
	struct vvu_server *s = arg;

	vvu_dev_log(s->dev, VVU_INFO, "driver disconnected: resetting the device");
	s->dev->stats.driver_disconnects++;
	vvu_dev_pci_reset(s->dev);
	vvu_dev_dma_unmap_all(&s->dev->dma);
	vvu_dev_close_irq_fds(s->dev);
}

static const struct vfio_user_server_ops vvu_ops = {
	.get_device_info = op_device_info,
	.get_region_info = op_region_info,
	.get_irq_info = op_irq_info,
	.set_irqs = op_set_irqs,
	.region_read = op_region_read,
	.region_write = op_region_write,
	.dma_map = op_dma_map,
	.dma_unmap = op_dma_unmap,
	.device_reset = op_device_reset,
	.disconnected = op_disconnected,
};

/*
 * Arm the timer for the library's partial-request bound, so a client that
 * stops in the middle of a request is dropped without sending more.
 */
static void
timer_update(struct vvu_server *s)
{
	int ms = s->conn_fd >= 0 ? vfio_user_server_pending_ms(s->srv) : -1;
	struct itimerspec its = { 0 };

	if (ms < 0 && !s->timer_armed)
		return;	/* no syscall per request when no request is partial */
	if (ms >= 0) {
		ms++; /* past the deadline, not on it */
		its.it_value.tv_sec = ms / 1000;
		its.it_value.tv_nsec = (long)(ms % 1000) * 1000000;
	}
	if (timerfd_settime(s->timer_fd, 0, &its, NULL) == 0)
		s->timer_armed = ms >= 0;
}

static void
conn_ready(void *arg, uint32_t events)
{
	struct vvu_server *s = arg;
	int fd = s->conn_fd;
	int ret;

	if (fd < 0)
		return;

	s->in_handle = true;
	ret = vfio_user_server_handle(s->srv);
	s->in_handle = false;
	if (s->drop_pending && ret != -ENOTCONN) {
		server_drop(s);
	} else {
		s->drop_pending = false;
		if (ret == -ENOTCONN || vfio_user_server_conn_fd(s->srv) != fd) {
			/* the library closed it; forget the watch */
			vvu_dev_loop_del(s->dev->loop, fd);
			s->conn_fd = -1;
		}
	}
	timer_update(s);
}

static void
timer_ready(void *arg, uint32_t events)
{
	struct vvu_server *s = arg;
	uint64_t n;

	if (read(s->timer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		vvu_dev_log(s->dev, VVU_ERR, "vfio-user timer: %s", strerror(errno));
	s->timer_armed = false;	/* one-shot: it fired */
	/* handle() drops the client if its partial request is overdue */
	conn_ready(s, EPOLLIN);
}

static void
listen_ready(void *arg, uint32_t events)
{
	struct vvu_server *s = arg;
	int fd;

	fd = vfio_user_server_accept(s->srv);
	if (fd < 0)
		return;
	/* counted now: a failure below disconnects it, which is counted too */
	s->dev->stats.driver_connects++;
	if (vvu_dev_loop_add(s->dev->loop, fd, EPOLLIN, conn_ready, s) < 0) {
		vvu_dev_log(s->dev, VVU_ERR, "cannot watch the vfio-user connection");
		vfio_user_server_disconnect(s->srv);
		return;
	}
	s->conn_fd = fd;
	vvu_dev_log(s->dev, VVU_INFO, "driver connected");
}

int
vvu_dev_server_start(struct vvu_device *dev)
{
	struct vfio_user_server_params params = { .timeout_ms = VVU_VFIO_USER_TIMEOUT_MS };
	struct vvu_server *s;

	vfio_user_set_log(server_log, dev, dev->opt.verbose >= VVU_DEBUG ?
			  VFIO_USER_LOG_DEBUG : VFIO_USER_LOG_INFO);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->dev = dev;
	s->conn_fd = -1;
	s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->timer_fd < 0) {
		int ret = -errno;

		free(s);
		return ret;
	}
	s->srv = vfio_user_server_create(dev->opt.vfio_user_path, &vvu_ops, s, &params);
	if (s->srv == NULL) {
		int ret = -errno;

		close(s->timer_fd);
		free(s);
		return ret < 0 ? ret : -EIO;
	}
	if (vvu_dev_subscribe(dev, VVU_DEV_EV_BIT(VVU_DEV_EV_DMA_FAULT), drop_driver, s) < 0 ||
	    vvu_dev_loop_add(dev->loop, s->timer_fd, EPOLLIN, timer_ready, s) < 0 ||
	    vvu_dev_loop_add(dev->loop, vfio_user_server_listen_fd(s->srv), EPOLLIN,
			 listen_ready, s) < 0) {
		vvu_dev_loop_del(dev->loop, s->timer_fd);
		vvu_dev_unsubscribe(dev, drop_driver, s);
		vfio_user_server_destroy(s->srv);
		close(s->timer_fd);
		free(s);
		return -EIO;
	}
	dev->server = s;
	return 0;
}

void
vvu_dev_server_stop(struct vvu_device *dev)
{
	struct vvu_server *s = dev->server;

	if (s == NULL)
		return;
	if (s->conn_fd >= 0)
		vvu_dev_loop_del(dev->loop, s->conn_fd);
	vvu_dev_loop_del(dev->loop, vfio_user_server_listen_fd(s->srv));
	vvu_dev_loop_del(dev->loop, s->timer_fd);
	close(s->timer_fd);
	vfio_user_server_destroy(s->srv);
	vvu_dev_unsubscribe(dev, drop_driver, s);
	free(s);
	dev->server = NULL;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The QEMU proxy front: carries the accesses of a guest behind QEMU 7.2's
 * x-pci-proxy-dev to the PCI model, as vvu_dev_server.c does for a
 * vfio-user client. The wire format is in vvu_dev_proxy.h.
 *
 * What the proxy gives the device, and what the device makes of it:
 *
 * - config reads and writes: the model's config space, 1, 2 or 4 bytes
 *   inside the 256-byte header;
 * - BAR reads and writes, named by address (BAR base + offset) and trapped
 *   one by one: the device decodes the address against the bases the guest
 *   programmed (with memory decoding on) into BAR0's registers or BAR2's
 *   windows (pread/pwrite on the front-end's memory fds);
 * - SYNC_SYSMEM: guest RAM as up to 8 fd-backed regions. They become the
 *   device's DMA windows with iova = guest-physical address (the proxy
 *   applies no vIOMMU), so the rxq/txq rings the guest driver places in
 *   its RAM are reachable. Each message replaces the whole set;
 * - SET_IRQFD: INTx eventfds that only KVM would route. The proxy layout
 *   has interrupt pin 0 and no MSI-X: the guest polls; the fds are closed;
 * - DEVICE_RESET: a PCI function reset of the model.
 *
 * Everything QEMU sends is checked before use. The reader is resumable and
 * never blocks the loop: a message may arrive in pieces, and a peer that
 * stops in the middle of one only waits for itself. Replies wait in a
 * one-reply buffer while the socket is full; the front reads nothing more
 * until it is flushed, so a peer that does not read its replies only stalls
 * its own stream. Three kinds of trouble:
 *
 * - a framing error (a payload larger than any QEMU message, more than 8
 *   fds or truncated control data): the stream cannot be trusted any more;
 * - a command QEMU never sends to a device (RET, unknown numbers): whether
 *   the peer waits for a reply is unknown, so any answer could desynchronise
 *   the stream;
 *   for both, the front logs one line, resets the model and ends the
 *   session with status 1 (QEMU's own remote process gives up as well);
 * - a content error (a payload size or fd count wrong for its command, a
 *   config offset or length out of range, a BAR address in no BAR or an
 *   access crossing a BAR's end, an access size other than 1/2/4/8, bad
 *   SYNC_SYSMEM regions): one log line, every fd closed, and the answer the
 *   command takes: all-ones for reads, the access ignored for writes (the
 *   reply then carries all-ones, QEMU's own error value); the session goes on.
 *
 * When QEMU closes the socket the model is reset (the front-end dropped,
 * the DMA windows unmapped) and the session ends with status 0: the
 * inherited fd cannot reconnect, so dpdk-vvu-device exits.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "vvu_device.h"
#include "vvu_dev_proxy.h"

/* Messages per wake-up: the front-end socket and kicks get their turn. */
#define VVU_PROXY_READ_BUDGET	64
/*
 * Refusal lines per session. A hostile peer could otherwise make the device
 * spend its time writing to a full stderr; the count still goes on in
 * the stats.
 */
#define VVU_PROXY_LOG_BUDGET	64
/* Room for more fds than allowed, so that too many is seen, not truncated. */
#define VVU_PROXY_CMSG_FDS	(2 * VVU_PROXY_MAX_FDS)
#define VVU_PROXY_ALL_ONES	UINT64_MAX
#define VVU_PROXY_REPLY_SIZE	(VVU_PROXY_HDR_SIZE + sizeof(uint64_t))

struct vvu_proxy {
	struct vvu_device *dev;
	int fd;
	/* the message being received: header, then payload */
	uint8_t in[VVU_PROXY_HDR_SIZE + VVU_PROXY_PAYLOAD_MAX];
	size_t have;
	struct vvu_dev_proxy_hdr hdr;	/* valid once have >= header size */
	int fds[VVU_PROXY_MAX_FDS];
	unsigned int nfds;
	/* a reply the socket did not take yet */
	uint8_t out[VVU_PROXY_REPLY_SIZE];
	size_t out_off;
	size_t out_len;
	bool done;
	int status;
	bool irqfd_logged;
	unsigned int log_left;
	struct vvu_dev_proxy_stats st;
};

static struct vvu_proxy *
proxy_of(const struct vvu_device *dev)
{
	return dev->proxy;
}

static void
close_fds(int *fds, unsigned int *n)
{
	unsigned int i;

	for (i = 0; i < *n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	*n = 0;
}

/* One refusal line, while the session's budget lasts. */
static void __attribute__((format(printf, 2, 3)))
refuse(struct vvu_proxy *p, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	p->st.refused++;
	if (p->log_left == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	vvu_dev_log(p->dev, VVU_ERR, "qemu-proxy: %s%s", line,
		--p->log_left == 0 ? " (further refusals not logged)" : "");
}

/*
 * The session is over: one line, the model back to reset (the front-end
 * dropped with it), guest RAM unmapped, the socket closed.
 */
static void __attribute__((format(printf, 3, 4)))
end_session(struct vvu_proxy *p, int status, const char *fmt, ...)
{
	struct vvu_device *dev = p->dev;
	char line[256];
	va_list ap;

	if (p->done)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	vvu_dev_log(dev, VVU_ERR, "qemu-proxy: %s; resetting the device and exiting", line);
	if (dev->loop != NULL)
		vvu_dev_loop_del(dev->loop, p->fd);
	close(p->fd);
	p->fd = -1;
	close_fds(p->fds, &p->nfds);
	p->have = 0;
	p->out_len = 0;
	vvu_dev_pci_reset(dev);
	vvu_dev_dma_unmap_all(&dev->dma);
	p->done = true;
	p->status = status;
	dev->stats.driver_disconnects++;
}

static void
watch(struct vvu_proxy *p, uint32_t events)
{
	if (p->dev->loop != NULL && vvu_dev_loop_mod(p->dev->loop, p->fd, events) < 0)
		end_session(p, 1, "cannot watch the socket");
}

/* Send what is left of the reply; 0 when all went or the socket is full. */
static int
flush(struct vvu_proxy *p)
{
	while (p->out_len > 0) {
		ssize_t n = send(p->fd, p->out + p->out_off, p->out_len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p->out_off += (size_t)n;
		p->out_len -= (size_t)n;
	}
	return 0;
}

static void
reply(struct vvu_proxy *p, uint64_t v)
{
	struct vvu_dev_proxy_hdr h = { .cmd = VVU_PROXY_RET, .size = sizeof(v) };
	int ret;

	memcpy(p->out, &h, sizeof(h));
	memcpy(p->out + sizeof(h), &v, sizeof(v));
	p->out_off = 0;
	p->out_len = sizeof(p->out);
	p->st.replies++;
	ret = flush(p);
	if (ret < 0)
		end_session(p, 0, "QEMU is gone (send: %s)", strerror(-ret));
	else if (p->out_len > 0) {
		p->st.stalls++;
		watch(p, EPOLLOUT);	/* read nothing more until it went */
	}
}

/* ---- config space ---- */

static void
cfg_access(struct vvu_proxy *p, const uint8_t *payload, bool write)
{
	struct vvu_dev_proxy_cfg c;
	uint8_t b[4] = {0};

	memcpy(&c, payload, sizeof(c));
	if ((c.len != 1 && c.len != 2 && c.len != 4) ||
	    (uint64_t)c.addr + (uint32_t)c.len > VVU_PCI_CFG_SIZE) {
		refuse(p, "config %s of %d bytes at %#x refused", write ? "write" : "read",
		       c.len, c.addr);
		reply(p, VVU_PROXY_ALL_ONES);
		return;
	}
	if (write) {
		vvu_put32(b, c.val);
		vvu_dev_cfg_write(p->dev, c.addr, b, (uint32_t)c.len);
		reply(p, 0);
		return;
	}
	vvu_dev_cfg_read(p->dev, c.addr, b, (uint32_t)c.len);
	reply(p, vvu_get_n(b, (uint32_t)c.len));
}

/* ---- BARs ---- */

/*
 * Where BAR bar sits, as the guest programmed it: false while memory
 * decoding is off or the BAR is unassigned (0), as a real function would
 * not answer then either.
 */
static bool
bar_base(struct vvu_device *dev, unsigned int bar, uint64_t *base)
{
	uint8_t b[4];
	uint32_t lo, hi = 0;

	if (!(vvu_get16(dev->cfg + PCI_COMMAND) & PCI_COMMAND_MEMORY))
		return false;
	vvu_dev_cfg_read(dev, PCI_BASE_ADDRESS_0 + 4 * bar, b, 4);
	lo = vvu_get32(b);
	if (lo & PCI_BASE_ADDRESS_SPACE_IO)
		return false;
	if ((lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64 &&
	    bar + 1 < VVU_PCI_NUM_BARS) {
		vvu_dev_cfg_read(dev, PCI_BASE_ADDRESS_0 + 4 * (bar + 1), b, 4);
		hi = vvu_get32(b);
	}
	*base = ((uint64_t)hi << 32) | (lo & PCI_BASE_ADDRESS_MEM_MASK);
	return *base != 0;
}

static void
bar_access(struct vvu_proxy *p, const uint8_t *payload, bool write)
{
	static const unsigned int bars[] = { 0, 2 };
	struct vvu_device *dev = p->dev;
	const char *what = write ? "write" : "read";
	struct vvu_dev_proxy_bar a;
	uint8_t b[8] = {0};
	uint64_t base, off = 0;
	unsigned int i, bar = VVU_PCI_NUM_BARS;
	int ret;

	memcpy(&a, payload, sizeof(a));
	if (a.size != 1 && a.size != 2 && a.size != 4 && a.size != 8) {
		refuse(p, "BAR %s of %u bytes at %#llx refused", what, a.size,
		       (unsigned long long)a.addr);
		goto refused;
	}
	if (a.memory != 1) {
		/* 0 is I/O space, where the device has nothing; other values are no bool */
		refuse(p, "BAR %s in %s space at %#llx refused", what,
		       a.memory == 0 ? "I/O" : "unknown", (unsigned long long)a.addr);
		goto refused;
	}
	for (i = 0; i < sizeof(bars) / sizeof(bars[0]); i++) {
		uint64_t size = vvu_dev_bar_size(dev, bars[i]);

		if (!bar_base(dev, bars[i], &base) || a.addr < base || a.addr - base >= size)
			continue;
		off = a.addr - base;
		if (a.size > size - off) {
			refuse(p, "BAR%u %s of %u bytes at offset %#llx crosses its end", bars[i],
			       what, a.size, (unsigned long long)off);
			goto refused;
		}
		bar = bars[i];
		break;
	}
	if (bar == VVU_PCI_NUM_BARS) {
		refuse(p, "BAR %s at %#llx: in no BAR", what, (unsigned long long)a.addr);
		goto refused;
	}
	if (write)
		vvu_put64(b, a.val);
	if (bar == 0)
		ret = vvu_dev_bar0_rw(dev, off, b, a.size, write);
	else
		ret = vvu_dev_bar2_rw(&dev->bar2, off, b, a.size, write);
	if (ret < 0) {
		refuse(p, "BAR%u %s at offset %#llx failed: %s", bar, what,
		       (unsigned long long)off, strerror(-ret));
		goto refused;
	}
	reply(p, write ? 0 : vvu_get_n(b, a.size));
	return;
refused:
	reply(p, VVU_PROXY_ALL_ONES);
}

/* ---- guest RAM ---- */

/*
 * The regions become the DMA windows, iova = guest-physical address. All
 * are checked before any is mapped; if one still fails to map, the device
 * keeps none: it no longer knows where guest RAM is, and a ring access
 * outside the windows sets NEEDS_RESET instead of reaching stale memory.
 */
static void
sync_sysmem(struct vvu_proxy *p, const uint8_t *payload)
{
	struct vvu_device *dev = p->dev;
	struct vvu_dev_proxy_sysmem m;
	unsigned int i;
	int ret;

	memcpy(&m, payload, sizeof(m));
	for (i = 0; i < p->nfds; i++) {
		if (m.size[i] == 0 || m.gpa[i] + m.size[i] < m.gpa[i] || m.offset[i] < 0 ||
		    (uint64_t)m.offset[i] + m.size[i] < (uint64_t)m.offset[i]) {
			refuse(p, "SYNC_SYSMEM region %u (gpa %#llx size %#llx offset %lld) "
			       "refused; guest RAM unmapped", i, (unsigned long long)m.gpa[i],
			       (unsigned long long)m.size[i], (long long)m.offset[i]);
			vvu_dev_dma_unmap_all(&dev->dma);
			return;
		}
	}
	vvu_dev_dma_unmap_all(&dev->dma);
	for (i = 0; i < p->nfds; i++) {
		ret = vvu_dev_dma_map(&dev->dma, p->fds[i], (uint64_t)m.offset[i], m.gpa[i],
				      m.size[i], VVU_DMA_READ | VVU_DMA_WRITE);
		if (ret < 0) {
			refuse(p, "SYNC_SYSMEM region %u (gpa %#llx size %#llx) cannot be "
			       "mapped: %s; guest RAM unmapped", i,
			       (unsigned long long)m.gpa[i], (unsigned long long)m.size[i],
			       strerror(-ret));
			vvu_dev_dma_unmap_all(&dev->dma);
			return;
		}
		p->fds[i] = -1;	/* the mapping took it */
	}
	p->st.sysmem++;
	vvu_dev_log(dev, VVU_DEBUG, "qemu-proxy: guest RAM in %u regions", p->nfds);
}

/* ---- one message ---- */

static const char *
cmd_name(int32_t cmd)
{
	static const char *const names[] = {
		[VVU_PROXY_SYNC_SYSMEM] = "SYNC_SYSMEM", [VVU_PROXY_RET] = "RET",
		[VVU_PROXY_CFG_WRITE] = "CFG_WRITE", [VVU_PROXY_CFG_READ] = "CFG_READ",
		[VVU_PROXY_BAR_WRITE] = "BAR_WRITE", [VVU_PROXY_BAR_READ] = "BAR_READ",
		[VVU_PROXY_SET_IRQFD] = "SET_IRQFD", [VVU_PROXY_DEVICE_RESET] = "DEVICE_RESET",
	};

	if (cmd < 0 || (size_t)cmd >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[cmd];
}

/* Payload size and fd count a command must come with; false if unknown. */
static bool
expected(int32_t cmd, uint64_t *size, unsigned int *min_fds, unsigned int *max_fds,
	 bool *replied)
{
	*size = 0;
	*min_fds = *max_fds = 0;
	*replied = true;
	switch (cmd) {
	case VVU_PROXY_SYNC_SYSMEM:
		*size = sizeof(struct vvu_dev_proxy_sysmem);
		*min_fds = 1;
		*max_fds = VVU_PROXY_MAX_FDS;
		*replied = false;
		return true;
	case VVU_PROXY_CFG_WRITE:
	case VVU_PROXY_CFG_READ:
		*size = sizeof(struct vvu_dev_proxy_cfg);
		return true;
	case VVU_PROXY_BAR_WRITE:
	case VVU_PROXY_BAR_READ:
		*size = sizeof(struct vvu_dev_proxy_bar);
		return true;
	case VVU_PROXY_SET_IRQFD:
		*size = 0;
		*min_fds = *max_fds = 2;
		*replied = false;
		return true;
	case VVU_PROXY_DEVICE_RESET:
		*size = 0;
		return true;
	default:
		return false;	/* RET and anything else */
	}
}

static void
dispatch(struct vvu_proxy *p)
{
	const struct vvu_dev_proxy_hdr *h = &p->hdr;
	const uint8_t *payload = p->in + VVU_PROXY_HDR_SIZE;
	unsigned int min_fds, max_fds;
	uint64_t size;
	bool replied;

	p->st.msgs++;
	/* read_some() ended the session on a command without a row */
	expected(h->cmd, &size, &min_fds, &max_fds, &replied);
	if (h->size != size || p->nfds < min_fds || p->nfds > max_fds) {
		refuse(p, "%s with %llu bytes and %u fds refused (want %llu bytes, %u..%u fds)",
		       cmd_name(h->cmd), (unsigned long long)h->size, p->nfds,
		       (unsigned long long)size, min_fds, max_fds);
		if (h->cmd == VVU_PROXY_SYNC_SYSMEM) {
			/* the guest's memory map changed to something unknown */
			vvu_dev_dma_unmap_all(&p->dev->dma);
		}
		close_fds(p->fds, &p->nfds);
		if (replied)
			reply(p, VVU_PROXY_ALL_ONES);
		return;
	}
	switch (h->cmd) {
	case VVU_PROXY_SYNC_SYSMEM:
		sync_sysmem(p, payload);
		break;
	case VVU_PROXY_CFG_WRITE:
	case VVU_PROXY_CFG_READ:
		cfg_access(p, payload, h->cmd == VVU_PROXY_CFG_WRITE);
		break;
	case VVU_PROXY_BAR_WRITE:
	case VVU_PROXY_BAR_READ:
		bar_access(p, payload, h->cmd == VVU_PROXY_BAR_WRITE);
		break;
	case VVU_PROXY_SET_IRQFD:
		if (!p->irqfd_logged)
			vvu_dev_log(p->dev, VVU_INFO, "qemu-proxy: SET_IRQFD ignored: "
				    "no interrupts in proxy mode, the guest polls");
		p->irqfd_logged = true;
		break;
	case VVU_PROXY_DEVICE_RESET:
		vvu_dev_log(p->dev, VVU_INFO, "qemu-proxy: DEVICE_RESET");
		vvu_dev_pci_reset(p->dev);
		reply(p, 0);
		break;
	default:
		break;
	}
	/* whatever a command did not take is closed */
	close_fds(p->fds, &p->nfds);
}

/* ---- the reader ---- */

/* Take the fds of one recvmsg(); false if there were too many. */
static bool
take_fds(struct vvu_proxy *p, struct msghdr *mh)
{
	struct cmsghdr *cm;
	bool ok = !(mh->msg_flags & MSG_CTRUNC);

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		size_t i, n;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			if (p->nfds < VVU_PROXY_MAX_FDS) {
				p->fds[p->nfds++] = fd;
			} else {
				close(fd);
				ok = false;
			}
		}
	}
	return ok;
}

/*
 * Read what the current message still lacks, never more: fds arrive with
 * the bytes of the message they belong to. 1: bytes read, 0: nothing to
 * read now, -1: the session ended.
 */
static int
read_some(struct vvu_proxy *p)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * VVU_PROXY_CMSG_FDS)];
		struct cmsghdr align;
	} ctl;
	size_t want = p->have < VVU_PROXY_HDR_SIZE ? VVU_PROXY_HDR_SIZE - p->have :
		VVU_PROXY_HDR_SIZE + p->hdr.size - p->have;
	struct iovec iov = { .iov_base = p->in + p->have, .iov_len = want };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.b, .msg_controllen = sizeof(ctl.b),
	};
	ssize_t n;

	n = recvmsg(p->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n < 0) {
		end_session(p, 0, "QEMU is gone (recv: %s)", strerror(errno));
		return -1;
	}
	if (!take_fds(p, &mh)) {
		end_session(p, 1, "more than %d fds on one message", VVU_PROXY_MAX_FDS);
		return -1;
	}
	if (n == 0) {
		if (p->have > 0)
			end_session(p, 0, "QEMU closed the socket inside a message");
		else
			end_session(p, 0, "QEMU closed the socket");
		return -1;
	}
	p->have += (size_t)n;
	if (p->have == VVU_PROXY_HDR_SIZE) {
		uint64_t size;
		unsigned int min_fds, max_fds;
		bool replied;

		memcpy(&p->hdr, p->in, sizeof(p->hdr));
		/* decided on the header: its payload may never come */
		if (!expected(p->hdr.cmd, &size, &min_fds, &max_fds, &replied)) {
			end_session(p, 1, "unexpected command %d (%s), %llu bytes", p->hdr.cmd,
				    cmd_name(p->hdr.cmd), (unsigned long long)p->hdr.size);
			return -1;
		}
		if (p->hdr.size > VVU_PROXY_PAYLOAD_MAX) {
			end_session(p, 1, "message of %llu bytes (command %d): larger than any",
				    (unsigned long long)p->hdr.size, p->hdr.cmd);
			return -1;
		}
	}
	return 1;
}

static bool
complete(const struct vvu_proxy *p)
{
	return p->have >= VVU_PROXY_HDR_SIZE && p->have == VVU_PROXY_HDR_SIZE + p->hdr.size;
}

static void
proxy_ready(void *arg, uint32_t events)
{
	struct vvu_proxy *p = arg;
	unsigned int budget = VVU_PROXY_READ_BUDGET;
	int ret;

	if (p->out_len > 0) {
		ret = flush(p);
		if (ret < 0) {
			end_session(p, 0, "QEMU is gone (send: %s)", strerror(-ret));
			return;
		}
		if (p->out_len > 0)
			return;
		watch(p, EPOLLIN);
		if (p->done)
			return;
	}
	while (budget > 0) {
		ret = read_some(p);
		if (ret <= 0)
			return;
		if (!complete(p))
			continue;
		dispatch(p);
		p->have = 0;
		budget--;
		if (p->done || p->out_len > 0)
			return;
	}
}

/* A ring access faulted on guest RAM (QEMU shrank its file): drop the windows. */
static void
proxy_dma_fault(struct vvu_device *dev, enum vvu_dev_event ev, uint32_t arg, void *opaque)
{
	vvu_dev_log(dev, VVU_ERR, "qemu-proxy: guest RAM faulted; unmapped until the next "
		    "SYNC_SYSMEM");
	vvu_dev_dma_unmap_all(&dev->dma);
}

int
vvu_dev_proxy_start(struct vvu_device *dev, int fd)
{
	struct vvu_proxy *p;
	int ret;

	if (dev->loop == NULL || dev->proxy != NULL || fd < 0) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		close(fd);
		return -ENOMEM;
	}
	p->dev = dev;
	p->fd = fd;
	p->log_left = VVU_PROXY_LOG_BUDGET;
	ret = vvu_dev_subscribe(dev, VVU_DEV_EV_BIT(VVU_DEV_EV_DMA_FAULT), proxy_dma_fault, p);
	if (ret == 0)
		ret = vvu_dev_loop_add(dev->loop, fd, EPOLLIN, proxy_ready, p);
	if (ret < 0) {
		vvu_dev_unsubscribe(dev, proxy_dma_fault, p);
		close(fd);
		free(p);
		return ret;
	}
	dev->proxy = p;
	/* the guest's driver is behind this one session */
	dev->stats.driver_connects++;
	return 0;
}

void
vvu_dev_proxy_stop(struct vvu_device *dev)
{
	struct vvu_proxy *p = proxy_of(dev);

	if (p == NULL)
		return;
	if (p->fd >= 0) {
		vvu_dev_loop_del(dev->loop, p->fd);
		close(p->fd);
	}
	close_fds(p->fds, &p->nfds);
	vvu_dev_unsubscribe(dev, proxy_dma_fault, p);
	free(p);
	dev->proxy = NULL;
}

bool
vvu_dev_proxy_done(const struct vvu_device *dev, int *status)
{
	const struct vvu_proxy *p = proxy_of(dev);

	if (p == NULL || !p->done)
		return false;
	if (status != NULL)
		*status = p->status;
	return true;
}

void
vvu_dev_proxy_get_stats(const struct vvu_device *dev, struct vvu_dev_proxy_stats *st)
{
	const struct vvu_proxy *p = proxy_of(dev);

	if (p != NULL)
		*st = p->st;
	else
		memset(st, 0, sizeof(*st));
}

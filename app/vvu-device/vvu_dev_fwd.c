/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Forwarding between the front-end and the driver (spec "Messages the device
 * forwards").
 *
 * Every front-end request is checked against one row of rules[]: payload
 * size range, how many fds it must carry, and what the device does with it.
 * The device consumes every fd (memory -> BAR2 windows, kick -> watched,
 * call/err -> kept for the aux notification slots) and forwards the message
 * bytes, with fds stripped, into one rxq buffer. Replies come back on txq,
 * one message per chain. Protocol features phase 1 cannot carry are masked
 * by bit value in both directions.
 *
 * Any violation by the front-end disconnects it with one log line. Any
 * violation by the driver on the rings sets NEEDS_RESET.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "vvu_device.h"

/*
 * One row per request, naming only what differs from the default: refused,
 * no payload, no fd. An unlisted request is therefore refused. The sizes are
 * lib/vhost's (vhost_user.c): the device forwards exactly the payloads the
 * library accepts, so a message that gets through the device is never one
 * the back-end must refuse for its size (app/test/vvu_device/
 * test_msg_tables.c checks that the two tables agree). Whether the back-end
 * then handles it is the back-end's business: a request the library only
 * lets an application hook take (SET_CONFIG, SET_VRING_ENDIAN) is forwarded
 * like any other.
 *
 * Refused: requests that carry or return an fd the device cannot turn into
 * a resource (the log, the back-end channel, inflight memory and memory
 * slots in phase 2; a GPU socket or postcopy's userfaultfd never), and
 * vhost-crypto sessions, whose protocol feature the device masks.
 */
#define RULE(req, ...)		[VHOST_USER_ ## req] = { .name = #req, __VA_ARGS__ }
#define FORWARD			.action = VVU_FWD_PASS
#define CONSUME(act)		.action = VVU_FWD_ ## act
#define SIZE(n)			.min_size = (n), .max_size = (n)
#define SIZE_RANGE(a, b)	.min_size = (a), .max_size = (b)
#define FDS(kind)		.fds = VVU_FDS_ ## kind

#define U64		sizeof(uint64_t)
#define STATE		sizeof(struct vhost_user_vring_state)
#define MEM_HDR		offsetof(struct vhost_user_memory, regions)
#define MEM_REGION	sizeof(struct vhost_user_mem_region)
#define CONFIG_HDR	offsetof(struct vhost_user_config, region)

static const struct vvu_dev_fwd_rule rules[VHOST_USER_REQUEST_MAX] = {
	RULE(GET_FEATURES, FORWARD),
	RULE(SET_FEATURES, FORWARD, SIZE(U64)),
	RULE(SET_OWNER, FORWARD),
	RULE(RESET_OWNER, FORWARD),
	RULE(SET_MEM_TABLE, CONSUME(MEM_TABLE), FDS(TABLE),
	     SIZE_RANGE(MEM_HDR + MEM_REGION, sizeof(struct vhost_user_memory))),
	/* phase 2: log window (BAR4) and log doorbell */
	RULE(SET_LOG_BASE),
	RULE(SET_LOG_FD),
	RULE(SET_VRING_NUM, FORWARD, SIZE(STATE)),
	RULE(SET_VRING_ADDR, FORWARD, SIZE(sizeof(struct vhost_user_vring_addr))),
	RULE(SET_VRING_BASE, FORWARD, SIZE(STATE)),
	RULE(GET_VRING_BASE, FORWARD, SIZE(STATE)),
	RULE(SET_VRING_KICK, CONSUME(KICK), SIZE(U64), FDS(VRING)),
	RULE(SET_VRING_CALL, CONSUME(CALL), SIZE(U64), FDS(VRING)),
	RULE(SET_VRING_ERR, CONSUME(ERR), SIZE(U64), FDS(VRING)),
	RULE(GET_PROTOCOL_FEATURES, FORWARD),
	RULE(SET_PROTOCOL_FEATURES, CONSUME(SET_PROTO), SIZE(U64)),
	RULE(GET_QUEUE_NUM, FORWARD),
	RULE(SET_VRING_ENABLE, FORWARD, SIZE(STATE)),
	RULE(SEND_RARP, FORWARD, SIZE(U64)),
	RULE(NET_SET_MTU, FORWARD, SIZE(U64)),
	/* phase 2: back-end request channel */
	RULE(SET_BACKEND_REQ_FD),
	RULE(IOTLB_MSG, FORWARD, SIZE(sizeof(struct vhost_user_iotlb))),
	RULE(SET_VRING_ENDIAN, FORWARD, SIZE(STATE)),
	RULE(GET_CONFIG, FORWARD, SIZE_RANGE(CONFIG_HDR, sizeof(struct vhost_user_config))),
	RULE(SET_CONFIG, FORWARD, SIZE_RANGE(CONFIG_HDR, sizeof(struct vhost_user_config))),
	/* CRYPTO_SESSION is masked: no vhost-crypto behind the device */
	RULE(CREATE_CRYPTO_SESSION),
	RULE(CLOSE_CRYPTO_SESSION),
	/* PAGEFAULT is masked: ADVISE answers with a userfaultfd */
	RULE(POSTCOPY_ADVISE),
	RULE(POSTCOPY_LISTEN),
	RULE(POSTCOPY_END),
	/* phase 2: inflight memfd (BAR5) */
	RULE(GET_INFLIGHT_FD),
	RULE(SET_INFLIGHT_FD),
	/* carries a socket fd */
	RULE(GPU_SET_SOCKET),
	RULE(RESET_DEVICE, FORWARD),
	RULE(VRING_KICK, FORWARD, SIZE(STATE)),
	RULE(GET_MAX_MEM_SLOTS, FORWARD),
	/* CONFIGURE_MEM_SLOTS is masked in phase 1 */
	RULE(ADD_MEM_REG),
	RULE(REM_MEM_REG),
	RULE(SET_STATUS, FORWARD, SIZE(U64)),
	RULE(GET_STATUS, FORWARD),
};

const struct vvu_dev_fwd_rule *
vvu_dev_fwd_rule(uint32_t request)
{
	if (request >= VHOST_USER_REQUEST_MAX || request == VHOST_USER_NONE)
		return NULL;
	return &rules[request];
}

uint64_t
vvu_dev_fwd_mask_proto(uint64_t features)
{
	return features & VVU_PROTO_CARRIED;
}

static void
close_fds(int *fds, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

static void
kick_ready(void *arg, uint32_t events)
{
	struct vvu_dev_kick_watch *w = arg;
	struct vvu_device *dev = w->dev;
	int fd = dev->fe.kick_fds[w->q];
	uint64_t cnt;

	if (fd < 0)
		return;
	/* drain the counter: many kicks become one notification */
	if (read(fd, &cnt, sizeof(cnt)) != sizeof(cnt))
		return;
	dev->stats.kicks++;
	vvu_dev_interrupt(dev, dev->aux_vector[w->q], VVU_ISR_DRIVER_AUX);
}

static void
replace_fd(struct vvu_device *dev, int *slot, int fd, bool watch, uint32_t q)
{
	if (*slot >= 0) {
		if (watch && dev->loop != NULL)
			vvu_dev_loop_del(dev->loop, *slot);
		close(*slot);
	}
	*slot = fd;
	if (fd >= 0 && watch && dev->loop != NULL) {
		dev->fe.kick_watch[q].dev = dev;
		dev->fe.kick_watch[q].q = q;
		if (vvu_dev_loop_add(dev->loop, fd, EPOLLIN, kick_ready, &dev->fe.kick_watch[q]) < 0)
			vvu_dev_log(dev, VVU_ERR, "cannot watch kickfd of queue %u", q);
	}
}

static const char *
action_name(const struct vvu_dev_fwd_rule *r)
{
	switch (r->action) {
	case VVU_FWD_KICK:
		return "kick";
	case VVU_FWD_CALL:
		return "call";
	default:
		return "err";
	}
}

/* SET_VRING_KICK/CALL/ERR: index in bits 0-7, NOFD in bit 8, nothing else. */
static int
vring_fd_msg(struct vvu_device *dev, const struct vvu_dev_fwd_rule *r, struct vvu_dev_fe_msg *m)
{
	uint64_t v = m->msg.payload.u64;
	uint32_t q = (uint32_t)(v & VHOST_USER_VRING_IDX_MASK);
	bool nofd = (v & VHOST_USER_VRING_NOFD_MASK) != 0;
	int fd = -1;

	if (v & ~(uint64_t)(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK)) {
		vvu_dev_log(dev, VVU_ERR, "front-end: bad vring %s payload 0x%llx",
			action_name(r), (unsigned long long)v);
		return -EINVAL;
	}
	if (q >= dev->opt.num_queues) {
		vvu_dev_log(dev, VVU_ERR, "front-end: vring %s for queue %u >= %u",
			action_name(r), q, dev->opt.num_queues);
		return -EINVAL;
	}
	if (m->nr_fds != (nofd ? 0 : 1)) {
		vvu_dev_log(dev, VVU_ERR, "front-end: vring %s with %d fds (nofd %d)",
			action_name(r), m->nr_fds, nofd);
		return -EINVAL;
	}
	if (!nofd) {
		/* only eventfds: anything else could block or spin the loop */
		if (vvu_dev_eventfd_prepare(m->fds[0]) < 0) {
			vvu_dev_log(dev, VVU_ERR, "front-end: vring %s fd is not an eventfd",
				action_name(r));
			return -EINVAL;
		}
		fd = m->fds[0];
		m->fds[0] = -1;
	}
	switch (r->action) {
	case VVU_FWD_KICK:
		/* NOFD: the front-end polls; the driver gets no notification */
		replace_fd(dev, &dev->fe.kick_fds[q], fd, true, q);
		break;
	case VVU_FWD_CALL:
		replace_fd(dev, &dev->fe.call_fds[q], fd, false, q);
		break;
	default:
		replace_fd(dev, &dev->fe.err_fds[q], fd, false, q);
		break;
	}
	return 0;
}

static int
mem_table_msg(struct vvu_device *dev, struct vvu_dev_fe_msg *m)
{
	struct vhost_user_memory table;
	const struct vhost_user_memory *mem = &table;
	uint32_t n;
	uint64_t needed;
	int ret;

	/* the payload sits at offset 12 of a packed message: copy to align */
	memset(&table, 0, sizeof(table));
	memcpy(&table, (const uint8_t *)m->bytes + VHOST_USER_HDR_SIZE,
	       m->msg.hdr.size < sizeof(table) ? m->msg.hdr.size : sizeof(table));
	n = mem->nregions;

	/* exactly the regions it announces, as lib/vhost requires */
	if (n == 0 || n > VHOST_USER_MEMORY_MAX_NREGIONS ||
	    m->msg.hdr.size != MEM_HDR + n * MEM_REGION) {
		vvu_dev_log(dev, VVU_ERR, "front-end: SET_MEM_TABLE with %u regions in %u bytes",
			n, m->msg.hdr.size);
		return -EINVAL;
	}
	if ((uint32_t)m->nr_fds != n) {
		vvu_dev_log(dev, VVU_ERR, "front-end: SET_MEM_TABLE with %u regions and %d fds",
			n, m->nr_fds);
		return -EINVAL;
	}
	ret = vvu_dev_bar2_place(&dev->bar2, dev->opt.shm_size, mem, m->fds, m->nr_fds, &needed);
	if (ret == -ENOSPC) {
		vvu_dev_log(dev, VVU_ERR,
			"front-end memory does not fit BAR2: needs --shm-size %llu (have %llu)",
			(unsigned long long)needed, (unsigned long long)dev->opt.shm_size);
		return ret;
	}
	if (ret < 0) {
		vvu_dev_log(dev, VVU_ERR, "front-end: SET_MEM_TABLE regions rejected (%s)",
			strerror(-ret));
		return ret;
	}
	vvu_dev_log(dev, VVU_INFO, "BAR2: %u windows, %llu bytes", dev->bar2.nr,
		(unsigned long long)dev->bar2.used);
	vvu_dev_raise(dev, VVU_DEV_EV_BAR2_CHANGED, 0);
	return 0;
}

static int
check_and_consume(struct vvu_device *dev, struct vvu_dev_fe_msg *m)
{
	const struct vhost_user_hdr *h = &m->msg.hdr;
	const struct vvu_dev_fwd_rule *r = vvu_dev_fwd_rule(h->request);

	if (r == NULL || r->name == NULL) {
		vvu_dev_log(dev, VVU_ERR, "front-end: unknown request %u", h->request);
		return -EPROTO;
	}
	if (r->action == VVU_FWD_REFUSE) {
		vvu_dev_log(dev, VVU_ERR, "front-end: %s (%u) is not forwarded (phase 1)",
			r->name, h->request);
		return -ENOTSUP;
	}
	if ((h->flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    (h->flags & VHOST_USER_REPLY_MASK)) {
		vvu_dev_log(dev, VVU_ERR, "front-end: %s with flags 0x%x", r->name, h->flags);
		return -EPROTO;
	}
	if (h->size < r->min_size || h->size > r->max_size ||
	    m->len != VHOST_USER_HDR_SIZE + h->size) {
		vvu_dev_log(dev, VVU_ERR, "front-end: %s with %u payload bytes, expected %u..%u",
			r->name, h->size, r->min_size, r->max_size);
		return -EINVAL;
	}
	if (r->fds == VVU_FDS_NONE && m->nr_fds != 0) {
		vvu_dev_log(dev, VVU_ERR, "front-end: %s carries %d fds", r->name, m->nr_fds);
		return -EINVAL;
	}
	switch (r->action) {
	case VVU_FWD_MEM_TABLE:
		return mem_table_msg(dev, m);
	case VVU_FWD_KICK:
	case VVU_FWD_CALL:
	case VVU_FWD_ERR:
		return vring_fd_msg(dev, r, m);
	case VVU_FWD_SET_PROTO:
		m->msg.payload.u64 = vvu_dev_fwd_mask_proto(m->msg.payload.u64);
		return 0;
	default:
		return 0;
	}
}

int
vvu_dev_fwd_frontend_msg(struct vvu_device *dev, struct vvu_dev_fe_msg *m)
{
	int ret;

	ret = check_and_consume(dev, m);
	/* whatever was not taken is closed: fds are never forwarded */
	close_fds(m->fds, VHOST_USER_MAX_FDS);
	m->nr_fds = 0;
	if (ret < 0) {
		dev->stats.fe_errors++;
		return ret;
	}
	dev->stats.fe_msgs++;
	dev->stats.fe_bytes += m->len;
	/* check_and_consume() found a row: the request is in range */
	dev->stats.requests[m->msg.hdr.request]++;
	if (dev->fe.has_pending) {
		/* the reader stops while a message waits; cannot happen */
		vvu_dev_log(dev, VVU_ERR, "front-end: message while one is pending");
		return -EBUSY;
	}
	memcpy(dev->fe.pending.bytes, m->bytes, m->len);
	dev->fe.pending.len = m->len;
	dev->fe.has_pending = true;
	vvu_dev_fwd_rxq(dev);
	/*
	 * The reader stops only while the message waits for an rxq buffer:
	 * pausing around every delivered message cost two epoll_ctl calls.
	 */
	if (dev->fe.has_pending)
		vvu_dev_fe_set_reading(dev, false);
	return 0;
}

static bool
rings_live(const struct vvu_device *dev)
{
	return (dev->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
		!(dev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

void
vvu_dev_fwd_rxq(struct vvu_device *dev)
{
	struct vvu_dev_vq *vq = &dev->vq[VVU_RXQ];
	struct vvu_dev_chain c;
	int ret;

	if (!dev->fe.has_pending || !rings_live(dev))
		return;
	/*
	 * rxq doorbells only when out of buffers: with buffers at hand a
	 * doorbell per message consumed would cost the driver a register
	 * write (a round trip to us over vfio-user) for nothing.
	 */
	ret = vvu_dev_vq_pop(&dev->dma, vq, &c);
	if (ret == 0) {
		ret = vvu_dev_vq_set_notify(&dev->dma, vq, true);
		if (ret == 0)
			ret = vvu_dev_vq_pop(&dev->dma, vq, &c);
		if (ret == 0)
			return;		/* wait for the driver's doorbell */
	} else if (ret > 0) {
		ret = vvu_dev_vq_set_notify(&dev->dma, vq, false);
		if (ret == 0)
			ret = 1;
	}
	if (ret < 0) {
		vvu_dev_ring_error(dev, ret, "malformed rxq ring");
		return;
	}
	if (c.write_len < dev->fe.pending.len) {
		vvu_dev_log(dev, VVU_ERR, "rxq buffer of %u bytes < message of %u bytes",
			c.write_len, dev->fe.pending.len);
		vvu_dev_needs_reset(dev, "front-end message does not fit the rxq buffer");
		return;
	}
	ret = vvu_dev_chain_write(&dev->dma, &c, dev->fe.pending.bytes, dev->fe.pending.len);
	if (ret == 0)
		ret = vvu_dev_vq_push(&dev->dma, vq, c.head, dev->fe.pending.len);
	if (ret < 0) {
		vvu_dev_ring_error(dev, ret, "rxq buffer outside the DMA windows");
		return;
	}
	vvu_dev_log(dev, VVU_DEBUG, "rxq <- request %u (%u bytes)",
		dev->fe.pending.msg.hdr.request, dev->fe.pending.len);
	dev->fe.has_pending = false;
	dev->stats.rxq_msgs++;
	dev->stats.rxq_bytes += dev->fe.pending.len;
	if (vvu_dev_vq_want_interrupt(&dev->dma, vq))
		vvu_dev_queue_interrupt(dev, VVU_RXQ);
	vvu_dev_fe_set_reading(dev, true);
}

/* One txq message; false when the device must stop (NEEDS_RESET). */
static bool
txq_message(struct vvu_device *dev, const struct vvu_dev_chain *c)
{
	union {
		struct vhost_user_msg msg;
		uint8_t bytes[VVU_MSG_MAX];
	} u;
	uint32_t len;
	int got;

	if (c->read_len < VHOST_USER_HDR_SIZE || c->read_len > VVU_MSG_MAX) {
		vvu_dev_needs_reset(dev, "txq buffer is not one message");
		return false;
	}
	got = vvu_dev_chain_read(&dev->dma, c, u.bytes, sizeof(u.bytes));
	if (got < 0 || (uint32_t)got != c->read_len) {
		vvu_dev_ring_error(dev, got < 0 ? got : -EFAULT,
				   "txq buffer outside the DMA windows");
		return false;
	}
	len = (uint32_t)got;
	dev->stats.txq_msgs++;
	dev->stats.txq_bytes += len;
	if (VHOST_USER_HDR_SIZE + (uint64_t)u.msg.hdr.size != len) {
		vvu_dev_needs_reset(dev, "txq buffer length != 12 + hdr.size");
		return false;
	}
	if (!(u.msg.hdr.flags & VHOST_USER_REPLY_MASK)) {
		/* back-end requests need SET_BACKEND_REQ_FD (phase 2) */
		vvu_dev_log(dev, VVU_INFO, "txq: back-end request %u dropped", u.msg.hdr.request);
		dev->stats.backend_reqs_dropped++;
		return true;
	}
	if (!vvu_dev_fe_connected(dev)) {
		vvu_dev_log(dev, VVU_DEBUG, "txq: reply %u for a gone front-end dropped",
			u.msg.hdr.request);
		dev->stats.fe_replies_dropped++;
		return true;
	}
	if (u.msg.hdr.request == VHOST_USER_GET_PROTOCOL_FEATURES) {
		if (u.msg.hdr.size != sizeof(uint64_t)) {
			vvu_dev_needs_reset(dev, "GET_PROTOCOL_FEATURES reply of bad size");
			return false;
		}
		u.msg.payload.u64 = vvu_dev_fwd_mask_proto(u.msg.payload.u64);
	}
	vvu_dev_log(dev, VVU_DEBUG, "txq -> reply %u (%u bytes)", u.msg.hdr.request, len);
	if (vvu_dev_fe_send(dev, u.bytes, len) < 0) {
		vvu_dev_log(dev, VVU_ERR, "front-end: send failed, disconnecting");
		dev->stats.fe_replies_dropped++;
		vvu_dev_frontend_gone(dev, true);
	} else {
		dev->stats.fe_replies++;
	}
	return true;
}

void
vvu_dev_fwd_txq(struct vvu_device *dev)
{
	struct vvu_dev_vq *vq = &dev->vq[VVU_TXQ];
	struct vvu_dev_chain c;
	bool used = false;
	int ret;

	while (rings_live(dev)) {
		ret = vvu_dev_vq_pop(&dev->dma, vq, &c);
		if (ret == 0)
			break;
		if (ret < 0) {
			vvu_dev_ring_error(dev, ret, "malformed txq ring");
			return;
		}
		if (!txq_message(dev, &c))
			return;
		ret = vvu_dev_vq_push(&dev->dma, vq, c.head, 0);
		if (ret < 0) {
			vvu_dev_ring_error(dev, ret, "txq used ring outside the DMA windows");
			return;
		}
		used = true;
	}
	if (used && vvu_dev_vq_want_interrupt(&dev->dma, vq))
		vvu_dev_queue_interrupt(dev, VVU_TXQ);
}

void
vvu_dev_fwd_aux_notify(struct vvu_device *dev, uint32_t slot)
{
	uint32_t n = dev->opt.num_queues;
	uint64_t one = 1;
	int fd = -1;

	/* writes before the enabling message, or to unknown slots, are dropped */
	if (slot < n)
		fd = dev->fe.call_fds[slot];
	else if (slot < 2 * n)
		fd = dev->fe.err_fds[slot - n];
	/* slot 2N is the log doorbell: phase 2 */
	if (fd < 0) {
		dev->stats.doorbells_dropped++;
		return;
	}
	/* an eventfd write fails only on counter overflow: the event is there */
	if (write(fd, &one, sizeof(one)) < 0)
		vvu_dev_log(dev, VVU_DEBUG, "aux notification %u: write failed", slot);
	dev->stats.doorbells++;
}

void
vvu_dev_fwd_drop_frontend_state(struct vvu_device *dev)
{
	uint32_t q;

	for (q = 0; q < dev->opt.num_queues; q++) {
		replace_fd(dev, &dev->fe.kick_fds[q], -1, true, q);
		replace_fd(dev, &dev->fe.call_fds[q], -1, false, q);
		replace_fd(dev, &dev->fe.err_fds[q], -1, false, q);
	}
	if (dev->bar2.nr > 0) {
		vvu_dev_bar2_clear(&dev->bar2);
		vvu_dev_raise(dev, VVU_DEV_EV_BAR2_CHANGED, 0);
	}
	/* stale messages die with the connection */
	if (dev->fe.has_pending)
		dev->stats.fe_msgs_dropped++;
	dev->fe.has_pending = false;
	close_fds(dev->fe.in.fds, VHOST_USER_MAX_FDS);
	dev->fe.in.nr_fds = 0;
	dev->fe.in_have = 0;
}

/* What the PCI model asks of forwarding (vvu_device.h, enum vvu_dev_event). */
static void
fwd_event(struct vvu_device *dev, enum vvu_dev_event ev, uint32_t arg, void *opaque)
{
	switch (ev) {
	case VVU_DEV_EV_QUEUE_NOTIFY:
		if (arg == VVU_RXQ)
			vvu_dev_fwd_rxq(dev);
		else if (arg == VVU_TXQ)
			vvu_dev_fwd_txq(dev);
		break;
	case VVU_DEV_EV_DOORBELL:
		vvu_dev_fwd_aux_notify(dev, arg);
		break;
	case VVU_DEV_EV_FRONTEND_DROP:
		vvu_dev_fwd_drop_frontend_state(dev);
		break;
	default:
		break;
	}
}

int
vvu_dev_fwd_init(struct vvu_device *dev)
{
	uint32_t i, n = dev->opt.num_queues;

	dev->fe.kick_fds = malloc(n * sizeof(int));
	dev->fe.call_fds = malloc(n * sizeof(int));
	dev->fe.err_fds = malloc(n * sizeof(int));
	dev->fe.kick_watch = calloc(n, sizeof(*dev->fe.kick_watch));
	if (dev->fe.kick_fds == NULL || dev->fe.call_fds == NULL || dev->fe.err_fds == NULL ||
	    dev->fe.kick_watch == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		dev->fe.kick_fds[i] = -1;
		dev->fe.call_fds[i] = -1;
		dev->fe.err_fds[i] = -1;
	}
	for (i = 0; i < VHOST_USER_MAX_FDS; i++)
		dev->fe.pending.fds[i] = dev->fe.in.fds[i] = -1;
	return vvu_dev_subscribe(dev, VVU_DEV_EV_BIT(VVU_DEV_EV_QUEUE_NOTIFY) |
				 VVU_DEV_EV_BIT(VVU_DEV_EV_DOORBELL) |
				 VVU_DEV_EV_BIT(VVU_DEV_EV_FRONTEND_DROP), fwd_event, NULL);
}

void
vvu_dev_fwd_fini(struct vvu_device *dev)
{
	vvu_dev_unsubscribe(dev, fwd_event, NULL);
	if (dev->fe.kick_fds != NULL && dev->fe.call_fds != NULL && dev->fe.err_fds != NULL)
		vvu_dev_fwd_drop_frontend_state(dev);
	free(dev->fe.kick_fds);
	free(dev->fe.call_fds);
	free(dev->fe.err_fds);
	free(dev->fe.kick_watch);
	dev->fe.kick_fds = dev->fe.call_fds = dev->fe.err_fds = NULL;
	dev->fe.kick_watch = NULL;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A mock transport and device fixture for the message handler tests
 * (test_vhost_msg.c, test_vhost_mem.c, test_vhost_consumers.c) and the fuzz
 * target (devtools/fuzz/fuzz_vhost_msg.c). Header-only: each user is one file.
 *
 * Two transports: "mock-fd" passes fds (regions mapped with the shared
 * vhost_mmap_region_fd helper, like AF_UNIX), "mock-nofd" passes none
 * (regions backed by anonymous memory, like VVU's BAR windows) and has no
 * log or inflight ops. Replies and back-end requests are recorded; the
 * caller plays the transport's part of closing the fds a handler left.
 */

#ifndef _VHOST_MSG_MOCK_H_
#define _VHOST_MSG_MOCK_H_

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include <rte_vhost.h>

#include "test_eal.h"
#include "test_util.h"
#include "vhost.h"
#include "vhost_transport.h"
#include "vhost_user.h"

struct mock_state {
	int nr_replies;
	struct vhost_user_msg reply;	/* the last one */
	int reply_nr_fds;
	int nr_backend_reqs;
	struct vhost_user_msg backend_req;
	int nr_map_region;
	int nr_unmap_region;
	int disconnects;
	int new_device;
	int destroy_device;
	int vring_state_changed;
	int features_changed;
	int last_vid;
};

static struct mock_state mock;

static inline int
mock_send_reply(struct vhost_dev *dev, const struct vhost_user_msg *msg,
		const int *fds, int nr_fds)
{
	mock.nr_replies++;
	memcpy(&mock.reply, msg, VHOST_USER_HDR_SIZE + msg->hdr.size);
	mock.reply_nr_fds = nr_fds;
	return 0;
}

static inline int
mock_set_backend_req(struct vhost_dev *dev, int fd)
{
	rte_spinlock_lock(&dev->backend_req_lock);
	if (dev->backend_req_fd >= 0)
		close(dev->backend_req_fd);
	dev->backend_req_fd = fd;
	rte_spinlock_unlock(&dev->backend_req_lock);
	return 0;
}

static inline int
mock_backend_req(struct vhost_dev *dev, struct vhost_user_msg *msg, const int *fds,
		 int nr_fds, bool need_reply)
{
	mock.nr_backend_reqs++;
	memcpy(&mock.backend_req, msg, VHOST_USER_HDR_SIZE + msg->hdr.size);
	return 0;
}

static inline int
mock_map_region_fd(struct vhost_dev *dev, struct rte_vhost_mem_region *reg,
		   const struct vhost_region_src *src)
{
	int ret = vhost_mmap_region_fd(dev, reg, src->mmap_offset, src->fd);

	if (ret == 0)
		mock.nr_map_region++;
	return ret;
}

/* Without fds the "transport" provides the memory itself. */
static inline int
mock_map_region_nofd(struct vhost_dev *dev, struct rte_vhost_mem_region *reg,
		     const struct vhost_region_src *src)
{
	void *p;

	if (src->fd != -1 || reg->size > (64u << 20))
		return -EINVAL;
	p = mmap(NULL, reg->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	reg->mmap_addr = p;
	reg->mmap_size = reg->size;
	reg->host_user_addr = (uint64_t)(uintptr_t)p;
	reg->fd = -1;
	mock.nr_map_region++;
	return 0;
}

static inline void
mock_unmap_region(struct vhost_dev *dev, struct rte_vhost_mem_region *reg)
{
	if (reg->mmap_addr != NULL)
		mock.nr_unmap_region++;
	vhost_munmap_region(dev, reg);
}

static inline int
mock_map_log(struct vhost_dev *dev, int fd, uint64_t size, uint64_t offset,
	     void **map, uint64_t *map_size, uint64_t *addr)
{
	void *p;

	if (fd < 0 || offset + size > (16u << 20))
		return -EINVAL;
	p = mmap(NULL, offset + size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	*map = p;
	*map_size = offset + size;
	*addr = (uint64_t)(uintptr_t)p + offset;
	return 0;
}

static inline void
mock_unmap_log(struct vhost_dev *dev, void *map, uint64_t map_size)
{
	munmap(map, map_size);
}

static inline int
mock_alloc_inflight(struct vhost_dev *dev, uint64_t size, void **addr, int *fd)
{
	void *p;
	int mfd = memfd_create("mock-inflight", MFD_CLOEXEC);

	if (mfd < 0)
		return -errno;
	if (ftruncate(mfd, (off_t)size) < 0) {
		close(mfd);
		return -ENOMEM;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (p == MAP_FAILED) {
		close(mfd);
		return -ENOMEM;
	}
	*addr = p;
	*fd = mfd;
	return 0;
}

static inline int
mock_map_inflight(struct vhost_dev *dev, int fd, uint64_t size, uint64_t offset,
		  void **addr)
{
	void *p;

	if (fd < 0 || size > (64u << 20) || offset % 4096)
		return -EINVAL;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)offset);
	if (p == MAP_FAILED)
		return -errno;
	*addr = p;
	return 0;
}

static inline void
mock_unmap_inflight(struct vhost_dev *dev, void *addr, uint64_t size)
{
	munmap(addr, size);
}

static inline int
mock_vring_call(struct vhost_dev *dev, struct vhost_vq *vq)
{
	return 0;
}

static inline void
mock_disconnect(struct vhost_dev *dev)
{
	mock.disconnects++;
}

static inline int
mock_endpoint_op(struct vhost_endpoint *ep)
{
	return 0;
}

static inline void
mock_endpoint_cleanup(struct vhost_endpoint *ep)
{
}

static inline bool
mock_match_none(const char *path, uint64_t flags)
{
	return false;
}

/* The ops every transport must have (vhost_transport_check). */
#define MOCK_REQUIRED_OPS \
	.match = mock_match_none, \
	.endpoint_init = mock_endpoint_op, \
	.endpoint_start = mock_endpoint_op, \
	.endpoint_cleanup = mock_endpoint_cleanup, \
	.send_reply = mock_send_reply, \
	.disconnect = mock_disconnect, \
	.unmap_region = mock_unmap_region, \
	.vring_call = mock_vring_call

static const struct vhost_transport_ops mock_trans_fd = {
	.name = "mock-fd",
	MOCK_REQUIRED_OPS,
	.passes_fds = true,
	.protocol_features = UINT64_MAX,
	.set_backend_req = mock_set_backend_req,
	.backend_req = mock_backend_req,
	.map_region = mock_map_region_fd,
	.map_log = mock_map_log,
	.unmap_log = mock_unmap_log,
	.alloc_inflight = mock_alloc_inflight,
	.map_inflight = mock_map_inflight,
	.unmap_inflight = mock_unmap_inflight,
};

/* Like VVU: no fds, memory provided by the transport, no log or inflight. */
static const struct vhost_transport_ops mock_trans_nofd = {
	.name = "mock-nofd",
	MOCK_REQUIRED_OPS,
	.passes_fds = false,
	.protocol_features = UINT64_MAX & ~((1ULL << VHOST_USER_PROTO_F_LOG_SHMFD) |
					    (1ULL << VHOST_USER_PROTO_F_INFLIGHT_SHMFD) |
					    (1ULL << VHOST_USER_PROTO_F_BACKEND_SEND_FD)),
	.set_backend_req = mock_set_backend_req,
	.backend_req = mock_backend_req,
	.map_region = mock_map_region_nofd,
};

static inline int
mock_new_device(int vid)
{
	mock.new_device++;
	mock.last_vid = vid;
	return 0;
}

static inline void
mock_destroy_device(int vid)
{
	mock.destroy_device++;
}

static inline int
mock_vring_state_changed(int vid, uint16_t queue_id, int enable)
{
	mock.vring_state_changed++;
	return 0;
}

static inline int
mock_features_changed(int vid, uint64_t features)
{
	mock.features_changed++;
	return 0;
}

static const struct rte_vhost_device_ops mock_notify_ops = {
	.new_device = mock_new_device,
	.destroy_device = mock_destroy_device,
	.vring_state_changed = mock_vring_state_changed,
	.features_changed = mock_features_changed,
};

#define MOCK_MAX_QUEUE_PAIRS	4

static struct vhost_endpoint mock_ep;

/* A fresh device on an endpoint of the given transport. */
static inline struct vhost_dev *
mock_dev_new(const struct vhost_transport_ops *trans)
{
	memset(&mock, 0, sizeof(mock));
	memset(&mock_ep, 0, sizeof(mock_ep));
	snprintf(mock_ep.path, sizeof(mock_ep.path), "%s", trans->name);
	mock_ep.features = VHOST_NET_FEATURES;
	mock_ep.protocol_features = VHOST_NET_PROTOCOL_FEATURES;
	mock_ep.max_queue_pairs = MOCK_MAX_QUEUE_PAIRS;
	mock_ep.notify_ops = &mock_notify_ops;
	mock_ep.trans = trans;
	return vhost_dev_new(&mock_ep);
}

/* ---- message building ---- */

static inline void
mock_msg(struct vhost_user_ctx *ctx, uint32_t request, const void *payload, uint32_t size)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->msg.hdr.request = request;
	ctx->msg.hdr.flags = VHOST_USER_VERSION;
	ctx->msg.hdr.size = size;
	if (payload != NULL && size != 0)
		memcpy((uint8_t *)&ctx->msg + VHOST_USER_HDR_SIZE, payload, size);
}

static inline void
mock_msg_u64(struct vhost_user_ctx *ctx, uint32_t request, uint64_t v)
{
	mock_msg(ctx, request, &v, sizeof(v));
}

static inline void
mock_msg_state(struct vhost_user_ctx *ctx, uint32_t request, uint32_t index, uint32_t num)
{
	struct vhost_user_vring_state st = { .index = index, .num = num };

	mock_msg(ctx, request, &st, sizeof(st));
}

static inline void
mock_add_fd(struct vhost_user_ctx *ctx, int fd)
{
	ctx->fds[ctx->nr_fds++] = fd;
}

static inline int
mock_eventfd(void)
{
	return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

/*
 * Hand ctx to the library as a transport does. The library must give every
 * failed message's connection to the transport's disconnect op (checked
 * here, for every failure any test provokes); a real transport would then
 * close it. The rules tests probe one device with many bad messages, so the
 * mock "reconnects" by clearing the broken mark.
 */
static inline int
mock_handle_raw(struct vhost_dev *dev, struct vhost_user_ctx *ctx)
{
	int disconnects = mock.disconnects;
	int ret = vhost_user_msg_handle(dev, ctx);

	if ((ret < 0) != (mock.disconnects == disconnects + 1) ||
	    (ret < 0) != !!(dev->flags & VHOST_DEV_BROKEN)) {
		fprintf(stderr, "request %u: returned %d but disconnect was %scalled\n",
			ctx->msg.hdr.request, ret,
			mock.disconnects == disconnects ? "not " : "");
		abort();
	}
	dev->flags &= ~VHOST_DEV_BROKEN;
	return ret;
}

/* The same, and the fds the handler left are closed, as a transport does. */
static inline int
mock_handle(struct vhost_dev *dev, struct vhost_user_ctx *ctx)
{
	int ret = mock_handle_raw(dev, ctx);
	int i;

	for (i = 0; i < ctx->nr_fds && i < VHOST_USER_MAX_FDS; i++)
		if (ctx->fds[i] >= 0)
			close(ctx->fds[i]);
	return ret;
}

/* ---- a guest: one memfd of guest memory, rings at fixed offsets ---- */

#define MOCK_GUEST_SIZE		(1u << 20)
#define MOCK_GUEST_UADDR	0x7f0000000000ULL	/* front-end VA of guest memory */
#define MOCK_RING_SIZE		256
/* vring i: desc at (i + 1) * 64 KiB, avail +4 KiB, used +8 KiB. */
#define MOCK_RING_BASE(i)	(((uint64_t)(i) + 1) << 16)

struct mock_guest {
	int memfd;
	void *mem;		/* our own view of it */
};

static inline int
mock_guest_init(struct mock_guest *g)
{
	g->memfd = memfd_create("mock-guest", MFD_CLOEXEC);
	if (g->memfd < 0 || ftruncate(g->memfd, MOCK_GUEST_SIZE) < 0)
		return -1;
	g->mem = mmap(NULL, MOCK_GUEST_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      g->memfd, 0);
	return g->mem == MAP_FAILED ? -1 : 0;
}

static inline void
mock_guest_fini(struct mock_guest *g)
{
	if (g->mem != NULL && g->mem != MAP_FAILED)
		munmap(g->mem, MOCK_GUEST_SIZE);
	if (g->memfd >= 0)
		close(g->memfd);
	g->memfd = -1;
	g->mem = NULL;
}

/* One region covering the guest: gpa 0, uaddr MOCK_GUEST_UADDR. */
static inline void
mock_msg_mem_table(struct vhost_user_ctx *ctx, const struct mock_guest *g, bool with_fd)
{
	struct vhost_user_memory m;

	memset(&m, 0, sizeof(m));
	m.nregions = 1;
	m.regions[0].guest_phys_addr = 0;
	m.regions[0].memory_size = MOCK_GUEST_SIZE;
	m.regions[0].userspace_addr = MOCK_GUEST_UADDR;
	m.regions[0].mmap_offset = 0;
	mock_msg(ctx, VHOST_USER_SET_MEM_TABLE, &m,
		 offsetof(struct vhost_user_memory, regions[1]));
	if (with_fd)
		mock_add_fd(ctx, dup(g->memfd));
}

static inline void
mock_msg_vring_addr(struct vhost_user_ctx *ctx, uint32_t index, uint64_t desc,
		    uint64_t avail, uint64_t used)
{
	struct vhost_user_vring_addr a;

	memset(&a, 0, sizeof(a));
	a.index = index;
	a.desc_user_addr = desc;
	a.avail_user_addr = avail;
	a.used_user_addr = used;
	mock_msg(ctx, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a));
}

/* The fixed ring addresses of vring i, as front-end VAs. */
static inline void
mock_msg_ring_addr(struct vhost_user_ctx *ctx, uint32_t index)
{
	uint64_t base = MOCK_GUEST_UADDR + MOCK_RING_BASE(index);

	mock_msg_vring_addr(ctx, index, base, base + 0x1000, base + 0x2000);
}

/* Send one u64 request; returns the handler's result. */
static inline int
mock_send_u64(struct vhost_dev *dev, uint32_t request, uint64_t v)
{
	struct vhost_user_ctx ctx;

	mock_msg_u64(&ctx, request, v);
	return mock_handle(dev, &ctx);
}

static inline int
mock_send_state(struct vhost_dev *dev, uint32_t request, uint32_t index, uint32_t num)
{
	struct vhost_user_ctx ctx;

	mock_msg_state(&ctx, request, index, num);
	return mock_handle(dev, &ctx);
}

static inline int
mock_send_empty(struct vhost_dev *dev, uint32_t request)
{
	struct vhost_user_ctx ctx;

	mock_msg(&ctx, request, NULL, 0);
	return mock_handle(dev, &ctx);
}

/* SET_VRING_KICK/CALL/ERR with an eventfd (or NOFD on a fd-less transport). */
static inline int
mock_send_vring_fd(struct vhost_dev *dev, uint32_t request, uint32_t index)
{
	struct vhost_user_ctx ctx;

	if (dev->trans->passes_fds) {
		mock_msg_u64(&ctx, request, index);
		mock_add_fd(&ctx, mock_eventfd());
	} else {
		mock_msg_u64(&ctx, request, index | VHOST_USER_VRING_NOFD_MASK);
	}
	return mock_handle(dev, &ctx);
}

/* Owner, protocol features, features; 0 or the first failure. */
static inline int
mock_negotiate(struct vhost_dev *dev, uint64_t features, uint64_t protocol_features)
{
	int ret;

	ret = mock_send_empty(dev, VHOST_USER_SET_OWNER);
	if (ret == 0)
		ret = mock_send_u64(dev, VHOST_USER_SET_PROTOCOL_FEATURES, protocol_features);
	if (ret == 0)
		ret = mock_send_u64(dev, VHOST_USER_SET_FEATURES, features);
	return ret;
}

/* NUM, BASE, ADDR, CALL, KICK for vring i with the fixed layout. */
static inline int
mock_setup_vring(struct vhost_dev *dev, uint32_t index)
{
	struct vhost_user_ctx ctx;
	int ret;

	ret = mock_send_state(dev, VHOST_USER_SET_VRING_NUM, index, MOCK_RING_SIZE);
	if (ret == 0)
		ret = mock_send_state(dev, VHOST_USER_SET_VRING_BASE, index, 0);
	if (ret == 0) {
		mock_msg_ring_addr(&ctx, index);
		ret = mock_handle(dev, &ctx);
	}
	if (ret == 0)
		ret = mock_send_vring_fd(dev, VHOST_USER_SET_VRING_CALL, index);
	if (ret == 0)
		ret = mock_send_vring_fd(dev, VHOST_USER_SET_VRING_KICK, index);
	return ret;
}

/* Features a modern front-end takes (split ring). */
#define MOCK_FEATURES ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_NET_F_MRG_RXBUF) | \
		       (1ULL << VHOST_USER_F_PROTOCOL_FEATURES) | \
		       (1ULL << VIRTIO_RING_F_EVENT_IDX))

#ifdef _APP_TEST_H_
/*
 * ---- a handler test binary (test.h included first; not the fuzz target) ----
 *
 * TEST_MAIN's setup and teardown: the EAL, on one lcore, and the guest
 * memory the cases map (mock_env_guest). Each case starts with mock_case_begin() and
 * ends with mock_case_end(): the device freed, every fd it got closed.
 */
static struct mock_guest mock_env_guest;
static int mock_fds_at_start;

static inline int
mock_env_setup(int argc, char **argv)
{
	if (test_eal_init(argv[0], 64, "-l", "0", "--log-level=lib.vhost.config:critical") < 0)
		return -1;
	return mock_guest_init(&mock_env_guest);
}

static inline void
mock_env_teardown(void)
{
	mock_guest_fini(&mock_env_guest);
	test_eal_cleanup();
}

static inline void
mock_case_begin(void)
{
	mock_fds_at_start = test_count_fds();
}

static inline void
mock_case_end(struct vhost_dev *dev)
{
	if (dev != NULL)
		vhost_dev_free(dev);
	TEST_ASSERT_EQ(test_count_fds(), mock_fds_at_start);
}
#endif /* _APP_TEST_H_ */

#endif /* _VHOST_MSG_MOCK_H_ */

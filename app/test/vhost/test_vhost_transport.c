/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The transport contract, proved with a third transport that exists only
 * in this test: "socketpair:", a SOCK_SEQPACKET pair (one vhost-user
 * message per packet, fds by SCM_RIGHTS) whose far end is this test playing
 * the front-end. It shares no code with the AF_UNIX transport: it fills
 * struct vhost_transport_ops, registers, and the library selects it by its
 * prefix and runs the unchanged message handler and data path over it.
 *
 * What is checked: registration refuses incomplete tables; selection
 * order (the toy transport for its prefix, VVU for its forms, AF_UNIX for
 * the rest); a full handshake ending in new_device(); the protocol features
 * offered are what the application allows AND the transport declares, even
 * after rte_vhost_driver_set_protocol_features() asked for more; a packet
 * each way through the data path; rte_vhost_vring_call() honours
 * VRING_AVAIL_F_NO_INTERRUPT; a malformed message reaches the transport's
 * disconnect op and ends the connection (destroy_device,
 * destroy_connection); unregister; no fd left behind. And, over AF_UNIX,
 * the device start rule per device type: a single-queue vhost-user-blk
 * front-end (vring 0 only) starts a device whose application set its own
 * features, and does not start the library's own net device.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_vhost.h>

#include "rte_vhost_vvu.h"
#include "test.h"
#include "test_eal.h"
#include "test_util.h"
#include "vhost.h"
#include "vhost_transport.h"
#include "vhost_user.h"

#define TOY_PREFIX	"socketpair:"
#define WAIT_MS		5000

/* The front-end's memory: one region, rings and buffers inside it. */
#define GUEST_SIZE	(2u << 20)
#define GUEST_UADDR	0x7f0000000000ULL	/* front-end VA of its first byte */
#define RING_SIZE	64
#define RING_OFF(q)	(((uint64_t)(q) + 1) << 16)	/* desc, avail, used per vring */
#define AVAIL_OFF	0x1000
#define USED_OFF	0x2000
#define BUF_OFF		0x100000
#define BUF_LEN		2048
#define HDR_LEN		sizeof(struct virtio_net_hdr_mrg_rxbuf)	/* VERSION_1 */
#define PKT_LEN		64

/* What the toy transport carries: deliberately less than the library offers. */
#define TOY_PROTO	((1ULL << VHOST_USER_PROTO_F_MQ) | \
			 (1ULL << VHOST_USER_PROTO_F_REPLY_ACK))

/* ---- The toy transport ---- */

struct toy_conn {
	struct vhost_dev *dev;
	int fd;
	bool broken;
};

static struct {
	int peer_fd;		/* the front-end's end, for the test */
	struct toy_conn *conn;	/* the one connection, or NULL */
	int disconnects;	/* disconnect op calls */
	int calls;		/* vring_call op calls */
} toy;

static bool
toy_match(const char *path, uint64_t flags)
{
	return strncmp(path, TOY_PREFIX, strlen(TOY_PREFIX)) == 0;
}

static int
toy_endpoint_init(struct vhost_endpoint *ep)
{
	ep->trans_priv = NULL;
	return 0;
}

/*
 * Whoever takes toy.conn (the read callback on EOF or after disconnect, or
 * endpoint_cleanup) closes the connection; the other leaves it alone.
 * vhost_event_del() from cleanup waits for a read callback in progress.
 */
static struct toy_conn *
toy_conn_take(void)
{
	return __atomic_exchange_n(&toy.conn, NULL, __ATOMIC_ACQ_REL);
}

static void
toy_conn_close(struct toy_conn *c)
{
	vhost_event_del(c->fd);
	vhost_dev_free(c->dev);
	close(c->fd);
	free(c);
}

/* One packet is one message; its fds go into ctx at once (so all get closed). */
static void
toy_read_cb(int fd, uint32_t events, void *arg)
{
	struct toy_conn *c = arg;
	char control[CMSG_SPACE(VHOST_USER_MAX_FDS * sizeof(int))];
	struct vhost_user_ctx ctx;
	struct iovec iov = { .iov_base = &ctx.msg, .iov_len = sizeof(ctx.msg) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	struct cmsghdr *cm;
	ssize_t n;
	int i;

	memset(&ctx, 0, sizeof(ctx));
	n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && errno == EAGAIN)
		return;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t k, nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (k = 0; k < nfd && ctx.nr_fds < VHOST_USER_MAX_FDS; k++)
			memcpy(&ctx.fds[ctx.nr_fds++], CMSG_DATA(cm) + k * sizeof(int),
			       sizeof(int));
	}
	if (n >= (ssize_t)VHOST_USER_HDR_SIZE && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
	    (size_t)n == VHOST_USER_HDR_SIZE + ctx.msg.hdr.size)
		vhost_user_msg_handle(c->dev, &ctx);	/* failure: toy_disconnect */
	else
		c->broken = true;	/* EOF or not one message: the peer is gone */
	for (i = 0; i < ctx.nr_fds; i++)
		if (ctx.fds[i] >= 0)
			close(ctx.fds[i]);
	if (c->broken && toy_conn_take() == c)
		toy_conn_close(c);
}

/* "Connect": the library gets one end of a fresh pair, the test the other. */
static int
toy_endpoint_start(struct vhost_endpoint *ep)
{
	struct toy_conn *c;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto fail;
	c->fd = sv[0];
	c->dev = vhost_dev_new(ep);
	if (c->dev == NULL)
		goto fail;
	c->dev->trans_priv = c;
	if (vhost_event_add(c->fd, toy_read_cb, c) < 0) {
		vhost_dev_free(c->dev);
		goto fail;
	}
	toy.peer_fd = sv[1];
	__atomic_store_n(&toy.conn, c, __ATOMIC_RELEASE);
	return 0;
fail:
	free(c);
	close(sv[0]);
	close(sv[1]);
	return -ENOMEM;
}

static void
toy_endpoint_cleanup(struct vhost_endpoint *ep)
{
	struct toy_conn *c = toy_conn_take();

	if (c != NULL)
		toy_conn_close(c);
}

static int
toy_send_reply(struct vhost_dev *dev, const struct vhost_user_msg *msg, const int *fds,
	       int nr_fds)
{
	struct toy_conn *c = dev->trans_priv;

	if (nr_fds != 0)
		return -EINVAL;	/* nothing this test negotiates replies with fds */
	if (send(c->fd, msg, VHOST_USER_HDR_SIZE + msg->hdr.size, MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}

static void
toy_disconnect(struct vhost_dev *dev)
{
	struct toy_conn *c = dev->trans_priv;

	toy.disconnects++;
	c->broken = true;
	/* Closed by the read callback: after this message, or on the EOF now. */
	shutdown(c->fd, SHUT_RDWR);
}

static int
toy_map_region(struct vhost_dev *dev, struct rte_vhost_mem_region *reg,
	       const struct vhost_region_src *src)
{
	return vhost_mmap_region_fd(dev, reg, src->mmap_offset, src->fd);
}

static void
toy_unmap_region(struct vhost_dev *dev, struct rte_vhost_mem_region *reg)
{
	vhost_munmap_region(dev, reg);
}

static int
toy_vring_call(struct vhost_dev *dev, struct vhost_vq *vq)
{
	toy.calls++;
	return vq->callfd >= 0 ? eventfd_write(vq->callfd, 1) : 0;
}

static const struct vhost_transport_ops toy_ops = {
	.name = "socketpair",
	.order = VHOST_TRANSPORT_ORDER_SPECIFIC,
	.match = toy_match,
	.passes_fds = true,
	.protocol_features = TOY_PROTO,
	.endpoint_init = toy_endpoint_init,
	.endpoint_start = toy_endpoint_start,
	.endpoint_cleanup = toy_endpoint_cleanup,
	.send_reply = toy_send_reply,
	.disconnect = toy_disconnect,
	.map_region = toy_map_region,
	.unmap_region = toy_unmap_region,
	.vring_call = toy_vring_call,
};

/* ---- The application ---- */

static struct {
	int new_device, destroy_device, destroy_connection;
	int vid;
} app;

static int
app_new_device(int vid)
{
	app.new_device++;
	app.vid = vid;
	return 0;
}

static void
app_destroy_device(int vid)
{
	app.destroy_device++;
}

static void
app_destroy_connection(int vid)
{
	app.destroy_connection++;
}

static const struct rte_vhost_device_ops app_ops = {
	.new_device = app_new_device,
	.destroy_device = app_destroy_device,
	.destroy_connection = app_destroy_connection,
};

/* ---- The front-end (this test) ---- */

static struct rte_mempool *pool;
static uint8_t *guest;		/* the front-end's view of its memory */
static int guest_fd;
static int fe_fd;		/* the front-end's socket (toy pair or AF_UNIX) */
static char tmpdir[64];

static int
fe_send(uint32_t req, uint32_t flags, const void *payload, uint32_t size, const int *fds,
	int nr_fds)
{
	struct vhost_user_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.hdr.request = req;
	msg.hdr.flags = VHOST_USER_VERSION | flags;
	msg.hdr.size = size;
	if (size > 0)
		memcpy((uint8_t *)&msg + VHOST_USER_HDR_SIZE, payload, size);
	return test_send_fds(fe_fd, &msg, VHOST_USER_HDR_SIZE + size, fds, nr_fds) < 0 ?
		-errno : 0;
}

static int
fe_u64(uint32_t req, uint64_t v)
{
	return fe_send(req, 0, &v, sizeof(v), NULL, 0);
}

static int
fe_state(uint32_t req, uint32_t index, uint32_t num)
{
	struct vhost_user_vring_state st = { .index = index, .num = num };

	return fe_send(req, 0, &st, sizeof(st), NULL, 0);
}

/* The next reply, within WAIT_MS; 0 or -errno. */
static int
fe_reply(struct vhost_user_msg *msg)
{
	struct pollfd p = { .fd = fe_fd, .events = POLLIN };
	ssize_t n;

	int type = 0;
	socklen_t tlen = sizeof(type);

	if (poll(&p, 1, WAIT_MS) != 1)
		return -ETIMEDOUT;
	/* A packet holds a whole message; a stream may split it anywhere. */
	if (getsockopt(fe_fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 &&
	    type == SOCK_SEQPACKET) {
		n = recv(fe_fd, msg, sizeof(*msg), 0);
		return n >= (ssize_t)VHOST_USER_HDR_SIZE &&
			(size_t)n == VHOST_USER_HDR_SIZE + msg->hdr.size ? 0 : -EPROTO;
	}
	n = recv(fe_fd, msg, VHOST_USER_HDR_SIZE, MSG_WAITALL);
	if (n != (ssize_t)VHOST_USER_HDR_SIZE || msg->hdr.size > VHOST_USER_PAYLOAD_MAX)
		return -EPROTO;
	if (msg->hdr.size > 0 &&
	    recv(fe_fd, &msg->payload, msg->hdr.size, MSG_WAITALL) != (ssize_t)msg->hdr.size)
		return -EPROTO;
	return 0;
}

static uint64_t
fe_get_u64(uint32_t req)
{
	struct vhost_user_msg msg;

	TEST_ASSERT_EQ(fe_send(req, 0, NULL, 0, NULL, 0), 0);
	TEST_ASSERT_EQ(fe_reply(&msg), 0);
	TEST_ASSERT_EQ(msg.hdr.request, req);
	TEST_ASSERT_EQ(msg.hdr.size, sizeof(uint64_t));
	return msg.payload.u64;
}

/* A REPLY_ACK'ed request: the library's u64 answer (0 = success). */
static uint64_t
fe_acked(uint32_t req, const void *payload, uint32_t size)
{
	struct vhost_user_msg msg;

	TEST_ASSERT_EQ(fe_send(req, VHOST_USER_NEED_REPLY, payload, size, NULL, 0), 0);
	TEST_ASSERT_EQ(fe_reply(&msg), 0);
	TEST_ASSERT_EQ(msg.hdr.request, req);
	return msg.payload.u64;
}

static bool
wait_for(const int *counter, int want)
{
	struct timespec ts = { .tv_nsec = 1000 * 1000 };
	int i;

	for (i = 0; i < WAIT_MS; i++) {
		if (__atomic_load_n(counter, __ATOMIC_ACQUIRE) >= want)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

static struct vring_desc *
ring_desc(uint32_t q)
{
	return (struct vring_desc *)(guest + RING_OFF(q));
}

static struct vring_avail *
ring_avail(uint32_t q)
{
	return (struct vring_avail *)(guest + RING_OFF(q) + AVAIL_OFF);
}

static struct vring_used *
ring_used(uint32_t q)
{
	return (struct vring_used *)(guest + RING_OFF(q) + USED_OFF);
}

/* Size, addresses, base, kick and call fds, enable: vring q ready. */
static void
fe_setup_vring(uint32_t q, int *kick, int *call)
{
	struct vhost_user_vring_addr a = {
		.index = q,
		.desc_user_addr = GUEST_UADDR + RING_OFF(q),
		.avail_user_addr = GUEST_UADDR + RING_OFF(q) + AVAIL_OFF,
		.used_user_addr = GUEST_UADDR + RING_OFF(q) + USED_OFF,
	};
	uint64_t v = q;

	*kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	*call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	TEST_ASSERT(*kick >= 0 && *call >= 0);
	TEST_ASSERT_EQ(fe_state(VHOST_USER_SET_VRING_NUM, q, RING_SIZE), 0);
	TEST_ASSERT_EQ(fe_send(VHOST_USER_SET_VRING_ADDR, 0, &a, sizeof(a), NULL, 0), 0);
	TEST_ASSERT_EQ(fe_state(VHOST_USER_SET_VRING_BASE, q, 0), 0);
	TEST_ASSERT_EQ(fe_send(VHOST_USER_SET_VRING_CALL, 0, &v, sizeof(v), call, 1), 0);
	TEST_ASSERT_EQ(fe_send(VHOST_USER_SET_VRING_KICK, 0, &v, sizeof(v), kick, 1), 0);
	TEST_ASSERT_EQ(fe_state(VHOST_USER_SET_VRING_ENABLE, q, 1), 0);
}

/* ---- Cases ---- */

/* Open fds once the event loop has finished the closes it started. */
static int
test_fds_now(void)
{
	test_sleep_ms(10);
	return test_count_fds();
}

static int
toy_fail_register(const struct vhost_transport_ops *ops)
{
	return vhost_transport_register(ops);
}

TEST_CASE(incomplete_transports_refused)
{
	struct vhost_transport_ops t = toy_ops;

	t.name = "no-disconnect";
	t.disconnect = NULL;
	TEST_ASSERT_EQ(toy_fail_register(&t), -EINVAL);
	t = toy_ops;
	t.name = "no-map";
	t.map_region = NULL;
	TEST_ASSERT_EQ(toy_fail_register(&t), -EINVAL);
	t = toy_ops;
	t.name = "log-without-ops";
	t.protocol_features |= 1ULL << VHOST_USER_PROTO_F_LOG_SHMFD;
	TEST_ASSERT_EQ(toy_fail_register(&t), -EINVAL);
	t = toy_ops;
	t.name = "inflight-without-ops";
	t.protocol_features |= 1ULL << VHOST_USER_PROTO_F_INFLIGHT_SHMFD;
	TEST_ASSERT_EQ(toy_fail_register(&t), -EINVAL);
	/* A second transport by the same name is refused too. */
	t = toy_ops;
	TEST_ASSERT_EQ(toy_fail_register(&t), -EEXIST);
	TEST_ASSERT(vhost_transport_find("no-disconnect", 0) != &t);
}

TEST_CASE(selection_order_prefix_then_fallback)
{
	const struct vhost_transport_ops *t;

	TEST_ASSERT(vhost_transport_find(TOY_PREFIX "a", 0) == &toy_ops);
	/* Nobody else claims the toy's form; the toy claims nothing else. */
	t = vhost_transport_find("/tmp/socketpair:a", 0);
	TEST_ASSERT(t != NULL && strcmp(t->name, "af_unix") == 0);
	t = vhost_transport_find("vfio-user:/tmp/x", 0);
	TEST_ASSERT(t != NULL && strcmp(t->name, "virtio-vhost-user") == 0);
	t = vhost_transport_find("0000:00:04.0", 0);
	TEST_ASSERT(t != NULL && strcmp(t->name, "virtio-vhost-user") == 0);
	t = vhost_transport_find("/tmp/x.sock", RTE_VHOST_USER_VIRTIO_TRANSPORT);
	TEST_ASSERT(t != NULL && strcmp(t->name, "virtio-vhost-user") == 0);
	t = vhost_transport_find("relative.sock", 0);
	TEST_ASSERT(t != NULL && strcmp(t->name, "af_unix") == 0);
}

TEST_CASE(toy_transport_carries_handshake_and_traffic)
{
	const char *path = TOY_PREFIX "dev0";
	uint64_t all = 1ULL << VHOST_USER_PROTO_F_LOG_SHMFD | TOY_PROTO |
		1ULL << VHOST_USER_PROTO_F_INFLIGHT_SHMFD;
	uint64_t features, proto, v;
	struct vhost_user_memory mem = { .nregions = 1 };
	struct rte_mbuf *pkts[4];
	int kick[2], call[2], fds_before, calls;
	eventfd_t ev;
	uint32_t q;

	fds_before = test_fds_now();
	memset(&app, 0, sizeof(app));
	toy.disconnects = 0;
	memset(guest, 0, GUEST_SIZE);

	TEST_ASSERT_EQ(rte_vhost_driver_register(path, 0), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_callback_register(path, &app_ops), 0);
	/* The application asks for more than the transport can carry ... */
	TEST_ASSERT_EQ(rte_vhost_driver_set_protocol_features(path, all), 0);
	/* ... and is told what will really be offered. */
	TEST_ASSERT_EQ(rte_vhost_driver_get_protocol_features(path, &proto), 0);
	TEST_ASSERT_EQ(proto, TOY_PROTO);
	TEST_ASSERT_EQ(rte_vhost_driver_start(path), 0);
	TEST_ASSERT(toy.conn != NULL, "start made no connection");
	fe_fd = toy.peer_fd;

	features = fe_get_u64(VHOST_USER_GET_FEATURES);
	TEST_ASSERT(features & (1ULL << VIRTIO_F_VERSION_1));
	features = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES);
	TEST_ASSERT_EQ(fe_u64(VHOST_USER_SET_FEATURES, features), 0);
	proto = fe_get_u64(VHOST_USER_GET_PROTOCOL_FEATURES);
	TEST_ASSERT_EQ(proto, TOY_PROTO);
	TEST_ASSERT_EQ(fe_u64(VHOST_USER_SET_PROTOCOL_FEATURES, proto), 0);
	TEST_ASSERT_EQ(fe_acked(VHOST_USER_SET_OWNER, NULL, 0), 0);

	mem.regions[0].guest_phys_addr = 0;
	mem.regions[0].memory_size = GUEST_SIZE;
	mem.regions[0].userspace_addr = GUEST_UADDR;
	mem.regions[0].mmap_offset = 0;
	TEST_ASSERT_EQ(fe_send(VHOST_USER_SET_MEM_TABLE, 0, &mem,
			       offsetof(struct vhost_user_memory, regions[1]), &guest_fd, 1), 0);
	for (q = 0; q < 2; q++)
		fe_setup_vring(q, &kick[q], &call[q]);
	TEST_ASSERT(wait_for(&app.new_device, 1), "new_device() not called");

	/* Front-end to back-end: one packet on vring 1 (its TX). */
	memset(guest + BUF_OFF, 0, HDR_LEN);
	memset(guest + BUF_OFF + HDR_LEN, 0xa5, PKT_LEN);
	ring_desc(1)[0] = (struct vring_desc){ .addr = BUF_OFF, .len = HDR_LEN + PKT_LEN };
	ring_avail(1)->ring[0] = 0;
	__atomic_store_n(&ring_avail(1)->idx, 1, __ATOMIC_RELEASE);
	TEST_ASSERT_EQ(rte_vhost_dequeue_burst(app.vid, 1, pool, pkts, 4), 1);
	TEST_ASSERT_EQ(rte_pktmbuf_pkt_len(pkts[0]), PKT_LEN);
	TEST_ASSERT_EQ(*rte_pktmbuf_mtod_offset(pkts[0], uint8_t *, PKT_LEN - 1), 0xa5);
	TEST_ASSERT_EQ(ring_used(1)->idx, 1);

	/* Back-end to front-end: the same packet into a buffer on vring 0. */
	ring_desc(0)[0] = (struct vring_desc){
		.addr = BUF_OFF + BUF_LEN, .len = BUF_LEN, .flags = VRING_DESC_F_WRITE };
	ring_avail(0)->ring[0] = 0;
	__atomic_store_n(&ring_avail(0)->idx, 1, __ATOMIC_RELEASE);
	calls = toy.calls;
	TEST_ASSERT_EQ(rte_vhost_enqueue_burst(app.vid, 0, pkts, 1), 1);
	rte_pktmbuf_free(pkts[0]);
	TEST_ASSERT_EQ(ring_used(0)->idx, 1);
	TEST_ASSERT_EQ(ring_used(0)->ring[0].len, HDR_LEN + PKT_LEN);
	TEST_ASSERT_EQ(guest[BUF_OFF + BUF_LEN + HDR_LEN + PKT_LEN - 1], 0xa5);
	TEST_ASSERT_EQ(toy.calls, calls + 1);
	TEST_ASSERT_EQ(eventfd_read(call[0], &ev), 0);

	/* An explicit call honours the front-end's suppression. */
	ring_avail(0)->flags = VRING_AVAIL_F_NO_INTERRUPT;
	TEST_ASSERT_EQ(rte_vhost_vring_call(app.vid, 0), 0);
	TEST_ASSERT_EQ(toy.calls, calls + 1);
	ring_avail(0)->flags = 0;
	TEST_ASSERT_EQ(rte_vhost_vring_call(app.vid, 0), 0);
	TEST_ASSERT_EQ(toy.calls, calls + 2);

	/* A malformed message (SET_FEATURES without its u64) ends it all. */
	TEST_ASSERT_EQ(fe_send(VHOST_USER_SET_FEATURES, 0, NULL, 0, NULL, 0), 0);
	TEST_ASSERT(wait_for(&app.destroy_connection, 1), "connection not closed");
	TEST_ASSERT_EQ(toy.disconnects, 1);
	TEST_ASSERT_EQ(app.destroy_device, 1);
	TEST_ASSERT_EQ(recv(fe_fd, &v, sizeof(v), MSG_DONTWAIT), 0);	/* EOF */

	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);
	close(toy.peer_fd);
	for (q = 0; q < 2; q++) {
		close(kick[q]);
		close(call[q]);
	}
	TEST_ASSERT_EQ(test_fds_now(), fds_before);
}

TEST_CASE(unregister_closes_a_live_toy_connection)
{
	const char *path = TOY_PREFIX "dev1";
	int fds_before = test_fds_now();

	memset(&app, 0, sizeof(app));
	TEST_ASSERT_EQ(rte_vhost_driver_register(path, 0), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_callback_register(path, &app_ops), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_start(path), 0);
	fe_fd = toy.peer_fd;
	TEST_ASSERT((fe_get_u64(VHOST_USER_GET_FEATURES) >> VIRTIO_F_VERSION_1) & 1);
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);
	TEST_ASSERT_EQ(app.destroy_connection, 1);
	TEST_ASSERT(toy.conn == NULL);
	close(toy.peer_fd);
	TEST_ASSERT_EQ(test_fds_now(), fds_before);
}

/* ---- SIGBUS containment (lib/vhost/vhost_guard.c) ---- */

/* The application's own SIGBUS handler, installed before the library's. */
static sigjmp_buf app_bus_env;
static volatile sig_atomic_t app_bus_armed, app_bus_calls;

static void
app_sigbus(int sig, siginfo_t *si, void *uctx)
{
	app_bus_calls++;
	if (app_bus_armed) {
		app_bus_armed = 0;
		siglongjmp(app_bus_env, 1);
	}
	abort();
}

/*
 * Bring a toy connection up on memory of its own (mfd), ready to dequeue
 * one packet from vring 1. Returns the vid.
 */
static int
toy_up_on(const char *path, int mfd, uint8_t *mem_va, int *kick, int *call)
{
	struct vhost_user_memory mem = { .nregions = 1 };
	uint8_t *saved = guest;
	uint32_t q;

	memset(&app, 0, sizeof(app));
	TEST_ASSERT_EQ(rte_vhost_driver_register(path, 0), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_callback_register(path, &app_ops), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_start(path), 0);
	fe_fd = toy.peer_fd;
	TEST_ASSERT_EQ(fe_u64(VHOST_USER_SET_FEATURES, (1ULL << VIRTIO_F_VERSION_1) |
			      (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)), 0);
	TEST_ASSERT_EQ(fe_u64(VHOST_USER_SET_PROTOCOL_FEATURES, TOY_PROTO), 0);
	TEST_ASSERT_EQ(fe_acked(VHOST_USER_SET_OWNER, NULL, 0), 0);
	mem.regions[0].memory_size = GUEST_SIZE;
	mem.regions[0].userspace_addr = GUEST_UADDR;
	TEST_ASSERT_EQ(fe_send(VHOST_USER_SET_MEM_TABLE, 0, &mem,
			       offsetof(struct vhost_user_memory, regions[1]), &mfd, 1), 0);
	guest = mem_va;	/* the ring helpers write the front-end's view */
	for (q = 0; q < 2; q++)
		fe_setup_vring(q, &kick[q], &call[q]);
	ring_desc(1)[0] = (struct vring_desc){ .addr = BUF_OFF, .len = HDR_LEN + PKT_LEN };
	ring_avail(1)->ring[0] = 0;
	__atomic_store_n(&ring_avail(1)->idx, 1, __ATOMIC_RELEASE);
	guest = saved;
	TEST_ASSERT(wait_for(&app.new_device, 1), "new_device() not called");
	return app.vid;
}

/*
 * A front-end shrinks the memory it shared while the device runs: the
 * next dequeue touches it, the SIGBUS is contained (the process lives, the
 * call returns), the connection is closed, and the fds and mappings go.
 */
TEST_CASE(frontend_truncating_its_memory_is_contained)
{
	const char *path = TOY_PREFIX "bus";
	struct rte_mbuf *pkts[4];
	uint64_t faults = vhost_guard_fault_count();
	int mfd, kick[2], call[2], vid, q, fds_before = test_fds_now();
	uint8_t *va;

	mfd = memfd_create("toy-victim", MFD_CLOEXEC);
	TEST_ASSERT(mfd >= 0 && ftruncate(mfd, GUEST_SIZE) == 0);
	va = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	TEST_ASSERT(va != MAP_FAILED);
	toy.disconnects = 0;
	vid = toy_up_on(path, mfd, va, kick, call);
	munmap(va, GUEST_SIZE);

	/* Gone: the rings and the packet were in the truncated part. */
	TEST_ASSERT_EQ(ftruncate(mfd, 0), 0);
	TEST_ASSERT_EQ(rte_vhost_dequeue_burst(vid, 1, pool, pkts, 4), 0);
	TEST_ASSERT(vhost_guard_fault_count() > faults, "no fault was taken");
	TEST_ASSERT_EQ(app_bus_calls, 0);	/* ours, not the application's */
	TEST_ASSERT(wait_for(&app.destroy_connection, 1), "connection not closed");
	TEST_ASSERT_EQ(toy.disconnects, 1);
	/* Touching it again (a late burst) is still harmless. */
	TEST_ASSERT(rte_vhost_dequeue_burst(vid, 1, pool, pkts, 4) == 0);

	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);
	close(toy.peer_fd);
	close(mfd);
	for (q = 0; q < 2; q++) {
		close(kick[q]);
		close(call[q]);
	}
	TEST_ASSERT_EQ(test_fds_now(), fds_before);
}

/* A SIGBUS that is not in front-end memory reaches the application's handler. */
TEST_CASE(foreign_sigbus_reaches_the_application_handler)
{
	volatile uint8_t *p;
	int mfd, calls = app_bus_calls;

	mfd = memfd_create("app-own", MFD_CLOEXEC);
	TEST_ASSERT(mfd >= 0 && ftruncate(mfd, 4096) == 0);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	TEST_ASSERT(p != MAP_FAILED);
	TEST_ASSERT_EQ(ftruncate(mfd, 0), 0);
	app_bus_armed = 1;
	if (sigsetjmp(app_bus_env, 1) == 0) {
		p[0] = 1;	/* SIGBUS: the application's handler jumps back */
		app_bus_armed = 0;
	}
	TEST_ASSERT_EQ(app_bus_calls, calls + 1);
	munmap((void *)(uintptr_t)p, 4096);
	close(mfd);
}

/* The front-end connects to path. */
static void
fe_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	fe_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	TEST_ASSERT_EQ(connect(fe_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

/* Then sets features (and REPLY_ACK), owns the device, shares guest memory. */
static void
fe_set_up_memory(uint64_t features)
{
	struct vhost_user_memory mem = { .nregions = 1 };

	TEST_ASSERT_EQ(fe_u64(VHOST_USER_SET_FEATURES, features), 0);
	TEST_ASSERT_EQ(fe_u64(VHOST_USER_SET_PROTOCOL_FEATURES,
			      1ULL << VHOST_USER_PROTO_F_REPLY_ACK), 0);
	TEST_ASSERT_EQ(fe_acked(VHOST_USER_SET_OWNER, NULL, 0), 0);
	mem.regions[0].memory_size = GUEST_SIZE;
	mem.regions[0].userspace_addr = GUEST_UADDR;
	TEST_ASSERT_EQ(fe_send(VHOST_USER_SET_MEM_TABLE, 0, &mem,
			       offsetof(struct vhost_user_memory, regions[1]), &guest_fd, 1), 0);
}

/*
 * A vhost-user-blk front-end with one request queue configures vring 0
 * only. Over AF_UNIX, on an endpoint whose application set its own (blk)
 * features, new_device() must come once vring 0 is ready, as DPDK 22.11
 * starts it; on the library's own net device the same front-end is not a
 * device yet (net needs its first queue pair).
 */
static void
blk_single_vring(bool blk, int *new_device_calls)
{
	uint64_t blk_features = (1ULL << VIRTIO_F_VERSION_1) |
		(1ULL << VHOST_USER_F_PROTOCOL_FEATURES) | (1ULL << 9) /* BLK_F_FLUSH */;
	uint64_t features;
	int kick, call, i;
	char path[96];

	memset(&app, 0, sizeof(app));
	snprintf(path, sizeof(path), "%s/%s.sock", tmpdir, blk ? "blk" : "net");
	TEST_ASSERT_EQ(rte_vhost_driver_register(path, 0), 0);
	if (blk)
		TEST_ASSERT_EQ(rte_vhost_driver_set_features(path, blk_features), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_callback_register(path, &app_ops), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_start(path), 0);
	fe_connect(path);

	features = fe_get_u64(VHOST_USER_GET_FEATURES);
	if (blk)
		TEST_ASSERT_EQ(features, blk_features);
	features &= (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES) |
		(1ULL << 9);
	fe_set_up_memory(features);
	fe_setup_vring(0, &kick, &call);
	/* A last acked request: everything before it has been handled. */
	TEST_ASSERT_EQ(fe_acked(VHOST_USER_SET_OWNER, NULL, 0), 0);
	for (i = 0; i < 100 && app.new_device == 0 && blk; i++)
		usleep(1000);
	*new_device_calls = app.new_device;

	close(fe_fd);
	close(kick);
	close(call);
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);
}

TEST_CASE(blk_frontend_with_vring0_only_starts)
{
	int fds_before = test_fds_now(), n = -1;

	blk_single_vring(true, &n);
	TEST_ASSERT_EQ(n, 1);
	TEST_ASSERT_EQ(app.destroy_device, 1);
	TEST_ASSERT_EQ(test_fds_now(), fds_before);
}

TEST_CASE(net_device_needs_its_first_queue_pair)
{
	int fds_before = test_fds_now(), n = -1;

	blk_single_vring(false, &n);
	TEST_ASSERT_EQ(n, 0);
	TEST_ASSERT_EQ(test_fds_now(), fds_before);
}

/*
 * A front-end passes a full pipe, which it never reads, as vring 0's call
 * fd. Signalling the guest (rte_vhost_vring_call, as after every enqueue)
 * writes that fd with the vq's access_lock held: a blocking write would
 * hang the lcore and, through the lock, the event loop. It must return.
 */
static int call_fd_vid;
static int call_fd_done;

static void *
call_fd_caller(void *arg)
{
	rte_vhost_vring_call(call_fd_vid, 0);
	__atomic_store_n(&call_fd_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

TEST_CASE(blocking_call_fd_cannot_stall_the_data_path)
{
	int kick[2], call[2], pfd[2], fds_before = test_fds_now(), q, fl;
	uint64_t v = 0;
	char path[96], junk[4096];
	pthread_t th;
	bool returned;

	memset(&app, 0, sizeof(app));
	snprintf(path, sizeof(path), "%s/callfd.sock", tmpdir);
	TEST_ASSERT_EQ(rte_vhost_driver_register(path, 0), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_callback_register(path, &app_ops), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_start(path), 0);
	fe_connect(path);
	fe_set_up_memory((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES));
	for (q = 0; q < 2; q++)
		fe_setup_vring(q, &kick[q], &call[q]);
	ring_avail(0)->flags = 0;	/* the guest wants interrupts */

	/* A pipe filled to the brim, blocking again when it is sent. */
	TEST_ASSERT_EQ(pipe2(pfd, O_CLOEXEC), 0);
	fl = fcntl(pfd[1], F_GETFL);
	TEST_ASSERT_EQ(fcntl(pfd[1], F_SETFL, fl | O_NONBLOCK), 0);
	while (write(pfd[1], junk, sizeof(junk)) > 0)
		;
	TEST_ASSERT_EQ(fcntl(pfd[1], F_SETFL, fl), 0);
	TEST_ASSERT_EQ(fe_send(VHOST_USER_SET_VRING_CALL, 0, &v, sizeof(v), &pfd[1], 1), 0);
	/* A last acked request: everything before it has been handled. */
	TEST_ASSERT_EQ(fe_acked(VHOST_USER_SET_OWNER, NULL, 0), 0);
	TEST_ASSERT(wait_for(&app.new_device, 1), "new_device() not called");

	call_fd_vid = app.vid;
	call_fd_done = 0;
	TEST_ASSERT_EQ(pthread_create(&th, NULL, call_fd_caller, NULL), 0);
	returned = wait_for(&call_fd_done, 1);
	/* Unblock a stuck caller either way, so the process can go on. */
	while (!__atomic_load_n(&call_fd_done, __ATOMIC_ACQUIRE) && read(pfd[0], junk, 1) > 0)
		test_sleep_ms(1);
	pthread_join(th, NULL);
	TEST_ASSERT(returned, "rte_vhost_vring_call() blocked on the front-end's call fd");

	close(fe_fd);
	TEST_ASSERT(wait_for(&app.destroy_connection, 1), "connection not closed");
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);
	close(pfd[0]);
	close(pfd[1]);
	for (q = 0; q < 2; q++) {
		close(kick[q]);
		close(call[q]);
	}
	TEST_ASSERT_EQ(test_fds_now(), fds_before);
}

static void
noop_timer(void *arg)
{
}

static int
toy_setup(int argc, char **argv)
{
	if (test_eal_init(argv[0], 64, "--log-level=lib.vhost.*:info") < 0)
		return -1;
	pool = rte_pktmbuf_pool_create("toy_pool", 255, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	guest_fd = memfd_create("toy-guest", MFD_CLOEXEC);
	if (pool == NULL || guest_fd < 0 || ftruncate(guest_fd, GUEST_SIZE) < 0)
		return -1;
	guest = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, guest_fd, 0);
	if (guest == MAP_FAILED)
		return -1;
	if (vhost_transport_register(&toy_ops) < 0)
		return -1;
	{
		/* Before the library maps anything: it must chain to this one. */
		struct sigaction sa = { .sa_sigaction = app_sigbus, .sa_flags = SA_SIGINFO };

		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGBUS, &sa, NULL) < 0)
			return -1;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_vhost_transport.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	/* Start the event loop now so its own fds are in every baseline. */
	return vhost_event_timer(0, noop_timer, NULL);
}

static void
toy_teardown(void)
{
	munmap(guest, GUEST_SIZE);
	close(guest_fd);
	rmdir(tmpdir);
	rte_mempool_free(pool);
	test_eal_cleanup();
}

/* ---- The event loop with many fds ---- */

#define EV_MANY		300	/* the fd table grows several times */

struct ev_watch {
	int fd;
	int hits;		/* callbacks run (atomic) */
	int wrong_fd;		/* callbacks that got another fd (atomic) */
};

static void
ev_count_cb(int fd, uint32_t events, void *arg)
{
	struct ev_watch *w = arg;
	eventfd_t v;

	RTE_SET_USED(events);
	if (fd != w->fd)
		__atomic_fetch_add(&w->wrong_fd, 1, __ATOMIC_RELAXED);
	/* Counted even with nothing to read: a call for nothing is a wrong call. */
	if (eventfd_read(fd, &v) < 0)
		v = 0;
	__atomic_fetch_add(&w->hits, 1, __ATOMIC_RELEASE);
}

/* Waits until every stride-th watch in w[0..n) has hits == want; false after WAIT_MS. */
static bool
ev_wait_hits_every(struct ev_watch *w, unsigned int n, unsigned int stride, int want)
{
	unsigned int i;
	int ms;

	for (ms = 0; ms < WAIT_MS; ms++) {
		for (i = 0; i < n && __atomic_load_n(&w[i].hits, __ATOMIC_ACQUIRE) == want;
		     i += stride)
			;
		if (i >= n)
			return true;
		test_sleep_ms(1);
	}
	return false;
}

#define ev_wait_hits(w, n, want) ev_wait_hits_every(w, n, 1, want)

TEST_CASE(event_loop_dispatches_each_of_many_fds_to_its_owner)
{
	static struct ev_watch w[EV_MANY], again[EV_MANY / 2];
	unsigned int i;

	for (i = 0; i < EV_MANY; i++) {
		w[i] = (struct ev_watch){ .fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) };
		TEST_ASSERT(w[i].fd >= 0);
		TEST_ASSERT_EQ(vhost_event_add(w[i].fd, ev_count_cb, &w[i]), 0);
	}
	TEST_ASSERT_EQ(vhost_event_add(w[0].fd, ev_count_cb, &w[0]), -EEXIST);
	for (i = 0; i < EV_MANY; i++)
		TEST_ASSERT_EQ(eventfd_write(w[i].fd, 1), 0);
	TEST_ASSERT(ev_wait_hits(w, EV_MANY, 1), "not every fd's callback ran once");
	/* Every other one goes; new fds take their numbers, with new owners. */
	for (i = 0; i < EV_MANY; i += 2) {
		TEST_ASSERT_EQ(vhost_event_del(w[i].fd), 0);
		TEST_ASSERT_EQ(vhost_event_del(w[i].fd), -ENOENT);
		TEST_ASSERT_EQ(vhost_event_set(w[i].fd, EPOLLIN), -ENOENT);
		close(w[i].fd);
	}
	for (i = 0; i < EV_MANY / 2; i++) {
		again[i] = (struct ev_watch){ .fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) };
		TEST_ASSERT(again[i].fd >= 0);
		TEST_ASSERT_EQ(vhost_event_add(again[i].fd, ev_count_cb, &again[i]), 0);
	}
	for (i = 0; i < EV_MANY / 2; i++) {
		TEST_ASSERT_EQ(eventfd_write(again[i].fd, 1), 0);
		TEST_ASSERT_EQ(eventfd_write(w[2 * i + 1].fd, 1), 0);
	}
	TEST_ASSERT(ev_wait_hits(again, EV_MANY / 2, 1), "a new owner missed its event");
	TEST_ASSERT(ev_wait_hits_every(w + 1, EV_MANY - 1, 2, 2), "a kept fd missed its event");
	test_sleep_ms(20);
	for (i = 0; i < EV_MANY; i++) {
		/* The removed ones were not called again under their old owner. */
		TEST_ASSERT_EQ(w[i].hits, i % 2 == 0 ? 1 : 2);
		TEST_ASSERT_EQ(w[i].wrong_fd, 0);
		if (i % 2 == 0)
			continue;
		TEST_ASSERT_EQ(vhost_event_del(w[i].fd), 0);
		close(w[i].fd);
	}
	for (i = 0; i < EV_MANY / 2; i++) {
		TEST_ASSERT_EQ(again[i].hits, 1);
		TEST_ASSERT_EQ(again[i].wrong_fd, 0);
		TEST_ASSERT_EQ(vhost_event_del(again[i].fd), 0);
		close(again[i].fd);
	}
}

/*
 * An event reported in the same epoll batch as the callback that removed
 * its fd, which then went to a new owner under the same number, must reach
 * nobody: not the old owner (freed), not the new one (nothing happened to
 * it). The batch is made by holding the loop in a "gate" callback while
 * the two fds become ready.
 */
static struct {
	struct ev_watch gate, a, b, c;
	int gate_in, gate_open;	/* atomics */
	int c_fd_reused;
} ev_batch;

static void
ev_gate_cb(int fd, uint32_t events, void *arg)
{
	eventfd_t v;

	RTE_SET_USED(events);
	RTE_SET_USED(arg);
	if (eventfd_read(fd, &v) < 0)
		return;
	__atomic_store_n(&ev_batch.gate_in, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&ev_batch.gate_open, __ATOMIC_ACQUIRE))
		test_sleep_ms(1);
}

static void
ev_a_cb(int fd, uint32_t events, void *arg)
{
	int old = ev_batch.b.fd;

	ev_count_cb(fd, events, arg);
	/* On the loop thread: immediate. B's event may be later in this batch. */
	vhost_event_del(old);
	close(old);
	ev_batch.c.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ev_batch.c_fd_reused = ev_batch.c.fd == old;
	if (ev_batch.c.fd >= 0)
		vhost_event_add(ev_batch.c.fd, ev_count_cb, &ev_batch.c);
}

TEST_CASE(event_loop_drops_an_event_of_a_fd_removed_in_its_batch)
{
	memset(&ev_batch, 0, sizeof(ev_batch));
	ev_batch.gate.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ev_batch.a.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ev_batch.b.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ev_batch.c.fd = -1;
	TEST_ASSERT(ev_batch.gate.fd >= 0 && ev_batch.a.fd >= 0 && ev_batch.b.fd >= 0);
	TEST_ASSERT_EQ(vhost_event_add(ev_batch.gate.fd, ev_gate_cb, NULL), 0);
	TEST_ASSERT_EQ(vhost_event_add(ev_batch.a.fd, ev_a_cb, &ev_batch.a), 0);
	TEST_ASSERT_EQ(vhost_event_add(ev_batch.b.fd, ev_count_cb, &ev_batch.b), 0);
	TEST_ASSERT_EQ(eventfd_write(ev_batch.gate.fd, 1), 0);
	while (!__atomic_load_n(&ev_batch.gate_in, __ATOMIC_ACQUIRE))
		test_sleep_ms(1);
	/* The loop is in the gate callback: A then B become ready, one batch. */
	TEST_ASSERT_EQ(eventfd_write(ev_batch.a.fd, 1), 0);
	TEST_ASSERT_EQ(eventfd_write(ev_batch.b.fd, 1), 0);
	__atomic_store_n(&ev_batch.gate_open, 1, __ATOMIC_RELEASE);
	TEST_ASSERT(ev_wait_hits(&ev_batch.a, 1, 1), "A's callback did not run");
	test_sleep_ms(50);
	vhost_event_del(ev_batch.gate.fd);
	vhost_event_del(ev_batch.a.fd);
	close(ev_batch.gate.fd);
	close(ev_batch.a.fd);
	if (ev_batch.c.fd >= 0) {
		vhost_event_del(ev_batch.c.fd);
		close(ev_batch.c.fd);
	}
	TEST_ASSERT_EQ(ev_batch.b.hits, 0);
	TEST_ASSERT_EQ(ev_batch.c.hits, 0);
	TEST_ASSERT_EQ(ev_batch.c.wrong_fd, 0);
	if (!ev_batch.c_fd_reused)
		TEST_SKIP("the new eventfd did not reuse the removed fd's number");
}

TEST_MAIN(toy_setup, toy_teardown,
	TEST_ENTRY(incomplete_transports_refused),
	TEST_ENTRY(selection_order_prefix_then_fallback),
	TEST_ENTRY(toy_transport_carries_handshake_and_traffic),
	TEST_ENTRY(unregister_closes_a_live_toy_connection),
	TEST_ENTRY(frontend_truncating_its_memory_is_contained),
	TEST_ENTRY(foreign_sigbus_reaches_the_application_handler),
	TEST_ENTRY(blk_frontend_with_vring0_only_starts),
	TEST_ENTRY(net_device_needs_its_first_queue_pair),
	TEST_ENTRY(blocking_call_fd_cannot_stall_the_data_path),
	TEST_ENTRY(event_loop_dispatches_each_of_many_fds_to_its_owner),
	TEST_ENTRY(event_loop_drops_an_event_of_a_fd_removed_in_its_batch)
)

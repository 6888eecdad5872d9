/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Driver API, device table and AF_UNIX transport, exercised through the
 * public API and a raw AF_UNIX socket playing the front-end: no QEMU, no
 * EAL (the event loop falls back to a plain pthread), no hugepages.
 *
 * Every case that opens sockets checks at the end that the process has
 * exactly as many fds as before: the library must close everything it
 * received, on every path.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_vdpa.h>
#include <rte_vhost.h>
#include <rte_vhost_async.h>
#include <rte_vhost_crypto.h>

#include "rte_vhost_vvu.h"
#include "test.h"
#include "test_eal.h"
#include "test_util.h"
#include "vhost.h"
#include "vhost_transport.h"
#include "vhost_user.h"

#define WAIT_MS		3000	/* upper bound for anything asynchronous */
#define GUEST_MEM_SIZE	(1u << 20)
#define GUEST_UADDR	0x7f0000000000ULL	/* the "front-end's" VA of guest memory */
#define RING_SIZE	256

static char tmpdir[48];

/* ---- Callback recorder ---- */

enum cb_kind { CB_NEW_CONN, CB_NEW_DEV, CB_DESTROY_DEV, CB_DESTROY_CONN };

#define MAX_EVENTS 64
static struct {
	pthread_mutex_t lock;
	int n;
	enum cb_kind kind[MAX_EVENTS];
	int vid[MAX_EVENTS];
	int unregister_ret;		/* from inside new_connection, if asked */
	char unregister_path[108];
} rec = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void
rec_add(enum cb_kind k, int vid)
{
	pthread_mutex_lock(&rec.lock);
	if (rec.n < MAX_EVENTS) {
		rec.kind[rec.n] = k;
		rec.vid[rec.n] = vid;
		rec.n++;
	}
	pthread_mutex_unlock(&rec.lock);
}

static void
rec_reset(void)
{
	pthread_mutex_lock(&rec.lock);
	rec.n = 0;
	rec.unregister_ret = 1;
	rec.unregister_path[0] = '\0';
	pthread_mutex_unlock(&rec.lock);
}

static int
rec_count(enum cb_kind k)
{
	int i, c = 0;

	pthread_mutex_lock(&rec.lock);
	for (i = 0; i < rec.n; i++)
		c += rec.kind[i] == k;
	pthread_mutex_unlock(&rec.lock);
	return c;
}

/* Index of the first event of kind k, or -1. */
static int
rec_first(enum cb_kind k)
{
	int i, r = -1;

	pthread_mutex_lock(&rec.lock);
	for (i = 0; i < rec.n && r < 0; i++)
		if (rec.kind[i] == k)
			r = i;
	pthread_mutex_unlock(&rec.lock);
	return r;
}

static int
rec_vid(int idx)
{
	int v;

	pthread_mutex_lock(&rec.lock);
	v = rec.vid[idx];
	pthread_mutex_unlock(&rec.lock);
	return v;
}

static int
cb_new_connection(int vid)
{
	rec_add(CB_NEW_CONN, vid);
	pthread_mutex_lock(&rec.lock);
	if (rec.unregister_path[0] != '\0')
		rec.unregister_ret = rte_vhost_driver_unregister(rec.unregister_path);
	pthread_mutex_unlock(&rec.lock);
	return 0;
}

static int
cb_new_device(int vid)
{
	rec_add(CB_NEW_DEV, vid);
	return 0;
}

static void
cb_destroy_device(int vid)
{
	rec_add(CB_DESTROY_DEV, vid);
}

static void
cb_destroy_connection(int vid)
{
	char name[128];

	/* The vid must still be valid here (applications query it). */
	if (rte_vhost_get_ifname(vid, name, sizeof(name)) == 0)
		rec_add(CB_DESTROY_CONN, vid);
	else
		rec_add(CB_DESTROY_CONN, -1000 - vid);
}

static const struct rte_vhost_device_ops test_ops = {
	.new_device = cb_new_device,
	.destroy_device = cb_destroy_device,
	.new_connection = cb_new_connection,
	.destroy_connection = cb_destroy_connection,
};

/* ---- Helpers ---- */

/* Poll cond every 10 ms for at most WAIT_MS. */
#define WAIT_FOR(cond) ({ \
	int64_t _end = test_now_ms() + WAIT_MS; \
	while (!(cond) && test_now_ms() < _end) \
		test_sleep_ms(10); \
	(cond); \
})

static void
make_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

static int
connect_to(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%.*s", (int)sizeof(a.sun_path) - 1, path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
listen_on(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%.*s", (int)sizeof(a.sun_path) - 1, path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* accept() with a timeout; -1 if nobody came. */
static int
accept_within(int lfd, int ms)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	if (poll(&p, 1, ms) != 1)
		return -1;
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

static int
send_msg(int fd, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
	 const int *fds, int nr_fds)
{
	struct vhost_user_msg msg;
	size_t len = VHOST_USER_HDR_SIZE + size;

	memset(&msg, 0, sizeof(msg));
	msg.hdr.request = req;
	msg.hdr.flags = flags | VHOST_USER_VERSION;
	msg.hdr.size = size;
	if (payload != NULL && size > 0 && size <= sizeof(msg.payload))
		memcpy(&msg.payload, payload, size);
	if (size > sizeof(msg.payload))
		len = VHOST_USER_HDR_SIZE;	/* a lie in the header only */
	return test_send_fds(fd, &msg, len, fds, nr_fds);
}

static int
send_u64(int fd, uint32_t req, uint64_t v)
{
	return send_msg(fd, req, 0, &v, sizeof(v), NULL, 0);
}

/* Receive one reply (header + payload) within WAIT_MS; -1 on EOF/timeout. */
static int
recv_reply(int fd, struct vhost_user_msg *msg)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0, want = VHOST_USER_HDR_SIZE;
	ssize_t n;

	while (got < want) {
		if (poll(&p, 1, WAIT_MS) != 1)
			return -1;
		n = recv(fd, (char *)msg + got, want - got, 0);
		if (n <= 0)
			return -1;
		got += (size_t)n;
		if (got == VHOST_USER_HDR_SIZE && want == VHOST_USER_HDR_SIZE) {
			if (msg->hdr.size > sizeof(msg->payload))
				return -1;
			want += msg->hdr.size;
		}
	}
	return 0;
}

/* True once the library has closed its end (EOF or reset). */
static bool
peer_closed(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	for (;;) {
		if (poll(&p, 1, WAIT_MS) != 1)
			return false;
		ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0)
			return false;
	}
}

static uint64_t
get_features_over(int fd)
{
	struct vhost_user_msg reply;

	TEST_ASSERT(send_msg(fd, VHOST_USER_GET_FEATURES, 0, NULL, 0, NULL, 0) == 0);
	TEST_ASSERT(recv_reply(fd, &reply) == 0, "no GET_FEATURES reply");
	TEST_ASSERT_EQ(reply.hdr.request, VHOST_USER_GET_FEATURES);
	TEST_ASSERT(reply.hdr.flags & VHOST_USER_REPLY_MASK);
	TEST_ASSERT_EQ(reply.hdr.flags & VHOST_USER_VERSION_MASK, VHOST_USER_VERSION);
	TEST_ASSERT_EQ(reply.hdr.size, sizeof(uint64_t));
	return reply.payload.u64;
}

/* Register + callbacks + start a server endpoint at path. */
static void
start_server(const char *path, uint64_t flags)
{
	TEST_ASSERT_EQ(rte_vhost_driver_register(path, flags), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_callback_register(path, &test_ops), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_start(path), 0);
}

/* ---- Cases: transport selection and driver API ---- */

TEST_CASE(transport_selection)
{
	const struct vhost_transport_ops *t;

	t = vhost_transport_find("/tmp/vhost-user.sock", 0);
	TEST_ASSERT(t != NULL && strcmp(t->name, "af_unix") == 0);
	t = vhost_transport_find("relative.sock", RTE_VHOST_USER_CLIENT);
	TEST_ASSERT(t != NULL && strcmp(t->name, "af_unix") == 0);
	/* Claimed by VVU (if linked in) or nobody, never by af_unix. */
	t = vhost_transport_find("vfio-user:/x", 0);
	TEST_ASSERT(t == NULL || strcmp(t->name, "af_unix") != 0);
	t = vhost_transport_find("0000:00:04.0", 0);
	TEST_ASSERT(t == NULL || strcmp(t->name, "af_unix") != 0);
	t = vhost_transport_find("/tmp/x.sock", RTE_VHOST_USER_VIRTIO_TRANSPORT);
	TEST_ASSERT(t == NULL || strcmp(t->name, "af_unix") != 0);
	/* Near misses of a PCI address are socket paths. */
	t = vhost_transport_find("0000:00:04.0.sock", 0);
	TEST_ASSERT(t != NULL && strcmp(t->name, "af_unix") == 0);
	t = vhost_transport_find("000g:00:04.0", 0);
	TEST_ASSERT(t != NULL && strcmp(t->name, "af_unix") == 0);
}

/*
 * VHOST_VVU_PATH_MAP's parser on hostile strings: the whole map is checked
 * whatever the path looked up, and FROM matches only as a whole string.
 */
TEST_CASE(path_map_parser)
{
	static const char *const bad[] = {
		"", ",", "/a", "=/b", "/a=", "/a=/b,", ",/a=/b", "/a=/b,,/c=/d",
		"/a=/b,/c", "/a=/b,/a=/c", "/c=/d,/a=/b,/a=/b",
	};
	char out[VHOST_IFNAME_MAX], longmap[2 * VHOST_IFNAME_MAX + 8];
	const char *why;
	unsigned int i;

	TEST_ASSERT_EQ(vhost_path_map_lookup("/a=vfio-user:/r", "/a", out, sizeof(out), &why), 1);
	TEST_ASSERT(strcmp(out, "vfio-user:/r") == 0, "mapped to '%s'", out);
	TEST_ASSERT_EQ(vhost_path_map_lookup("/x=/y,/a=/b", "/a", out, sizeof(out), &why), 1);
	TEST_ASSERT(strcmp(out, "/b") == 0, "mapped to '%s'", out);
	/* TO may hold '=': only the first one splits. */
	TEST_ASSERT_EQ(vhost_path_map_lookup("/a=/b=c", "/a", out, sizeof(out), &why), 1);
	TEST_ASSERT(strcmp(out, "/b=c") == 0, "mapped to '%s'", out);
	/* Prefixes and extensions of FROM are other paths. */
	TEST_ASSERT_EQ(vhost_path_map_lookup("/a=/b", "/a.sock", out, sizeof(out), &why), 0);
	TEST_ASSERT_EQ(vhost_path_map_lookup("/a.sock=/b", "/a", out, sizeof(out), &why), 0);
	TEST_ASSERT_EQ(vhost_path_map_lookup("/a=/b", "", out, sizeof(out), &why), 0);
	for (i = 0; i < RTE_DIM(bad); i++) {
		why = NULL;
		TEST_ASSERT_EQ(vhost_path_map_lookup(bad[i], "/a", out, sizeof(out), &why), -EINVAL);
		TEST_ASSERT(why != NULL, "no reason for '%s'", bad[i]);
		/* Malformed anywhere is malformed for every path. */
		TEST_ASSERT_EQ(vhost_path_map_lookup(bad[i], "/zz", out, sizeof(out), &why), -EINVAL);
	}
	/* A side of VHOST_IFNAME_MAX bytes, on either side, matching or not. */
	memset(longmap, 0, sizeof(longmap));
	longmap[0] = '/';
	memset(longmap + 1, 'f', VHOST_IFNAME_MAX - 1);
	strcat(longmap, "=/b");
	TEST_ASSERT_EQ(vhost_path_map_lookup(longmap, "/a", out, sizeof(out), &why), -EINVAL);
	memset(longmap, 0, sizeof(longmap));
	strcpy(longmap, "/a=/");
	memset(longmap + 4, 't', VHOST_IFNAME_MAX - 1);
	TEST_ASSERT_EQ(vhost_path_map_lookup(longmap, "/zz", out, sizeof(out), &why), -EINVAL);
	/* The longest allowed TO fits; a short out buffer is refused, not overrun. */
	longmap[3 + VHOST_IFNAME_MAX - 1] = '\0';
	TEST_ASSERT_EQ(vhost_path_map_lookup(longmap, "/a", out, sizeof(out), &why), 1);
	TEST_ASSERT_EQ(strlen(out), VHOST_IFNAME_MAX - 1);
	TEST_ASSERT_EQ(vhost_path_map_lookup("/a=/bcd", "/a", out, 4, &why), -EINVAL);
	TEST_ASSERT_EQ(vhost_path_map_lookup("/a=/bc", "/a", out, 4, &why), 1);
}

/*
 * An application registers one path; VHOST_VVU_PATH_MAP has the transport
 * serve another. Every API call keeps using the registered path, the
 * socket exists only at the mapped one, and a malformed map refuses the
 * registration instead of serving the unmapped path.
 */
TEST_CASE(path_map_register)
{
	char reg[128], served[128], map[300], name[128];
	int base = test_count_fds(), fd, idx;
	uint64_t f;

	rec_reset();
	make_path(reg, sizeof(reg), "as-registered.sock");
	make_path(served, sizeof(served), "as-served.sock");
	snprintf(map, sizeof(map), "/elsewhere=/x,%s=%s", reg, served);
	TEST_ASSERT_EQ(setenv(VHOST_PATH_MAP_ENV, map, 1), 0);
	start_server(reg, 0);
	TEST_ASSERT_EQ(rte_vhost_driver_get_features(reg, &f), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_get_features(served, &f), -1);
	TEST_ASSERT(access(reg, F_OK) < 0 && errno == ENOENT, "socket at the registered path");
	fd = connect_to(served);
	TEST_ASSERT(fd >= 0, "nothing listens at the mapped path");
	TEST_ASSERT(get_features_over(fd) & (1ULL << VIRTIO_F_VERSION_1));
	TEST_ASSERT(WAIT_FOR(rec_count(CB_NEW_CONN) == 1));
	idx = rec_first(CB_NEW_CONN);
	TEST_ASSERT_EQ(rte_vhost_get_ifname(rec_vid(idx), name, sizeof(name)), 0);
	TEST_ASSERT(strcmp(name, reg) == 0, "ifname '%s'", name);
	close(fd);
	TEST_ASSERT(WAIT_FOR(rec_count(CB_DESTROY_CONN) == 1));
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(reg), 0);
	TEST_ASSERT(access(served, F_OK) < 0 && errno == ENOENT, "mapped socket left behind");

	/* Malformed: refused, nothing registered, nothing created. */
	snprintf(map, sizeof(map), "%s=%s,%s", reg, served, "/no-equals-sign");
	TEST_ASSERT_EQ(setenv(VHOST_PATH_MAP_ENV, map, 1), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_register(reg, 0), -1);
	TEST_ASSERT_EQ(rte_vhost_driver_get_features(reg, &f), -1);
	/* A path the map does not name is unaffected by a valid map. */
	snprintf(map, sizeof(map), "/elsewhere=%s", served);
	TEST_ASSERT_EQ(setenv(VHOST_PATH_MAP_ENV, map, 1), 0);
	start_server(reg, 0);
	fd = connect_to(reg);
	TEST_ASSERT(fd >= 0, "nothing listens at the registered path");
	close(fd);
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(reg), 0);
	TEST_ASSERT_EQ(unsetenv(VHOST_PATH_MAP_ENV), 0);
	TEST_ASSERT_EQ(test_fds_settle(0, base, WAIT_MS), base);
}

TEST_CASE(driver_api_errors)
{
	char path[128], longpath[200];
	uint64_t f, pf;
	uint32_t q;

	make_path(path, sizeof(path), "api.sock");
	TEST_ASSERT_EQ(rte_vhost_driver_register(NULL, 0), -1);
	TEST_ASSERT_EQ(rte_vhost_driver_register(path, RTE_VHOST_USER_ASYNC_COPY), -ENOTSUP);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	TEST_ASSERT_EQ(rte_vhost_driver_register(longpath, 0), -1);	/* > sun_path */

	/* Unknown path. */
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), -1);
	TEST_ASSERT_EQ(rte_vhost_driver_start(path), -1);
	TEST_ASSERT_EQ(rte_vhost_driver_get_features(path, &f), -1);
	TEST_ASSERT_EQ(rte_vhost_driver_set_features(path, 0), -1);
	TEST_ASSERT_EQ(rte_vhost_driver_disable_features(path, 0), -1);
	TEST_ASSERT_EQ(rte_vhost_driver_get_queue_num(path, &q), -1);
	TEST_ASSERT_EQ(rte_vhost_driver_callback_register(path, &test_ops), -1);

	TEST_ASSERT_EQ(rte_vhost_driver_register(path, 0), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_register(path, 0), -1);	/* double */

	/* Defaults: DPDK's net feature set, without IOMMU unless asked. */
	TEST_ASSERT_EQ(rte_vhost_driver_get_features(path, &f), 0);
	TEST_ASSERT(f & (1ULL << VIRTIO_F_VERSION_1));
	TEST_ASSERT(f & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES));
	TEST_ASSERT(f & (1ULL << VIRTIO_NET_F_MRG_RXBUF));
	TEST_ASSERT(f & (1ULL << VIRTIO_NET_F_HOST_TSO4));
	TEST_ASSERT(!(f & (1ULL << VIRTIO_F_IOMMU_PLATFORM)));
	TEST_ASSERT_EQ(rte_vhost_driver_get_protocol_features(path, &pf), 0);
	TEST_ASSERT_EQ(pf, VHOST_NET_PROTOCOL_FEATURES);
	TEST_ASSERT_EQ(rte_vhost_driver_get_queue_num(path, &q), 0);
	TEST_ASSERT_EQ(q, VHOST_MAX_QUEUE_PAIRS);
	TEST_ASSERT_EQ(rte_vhost_driver_get_features(path, NULL), -1);

	/* enable only within what is supported; disable anything. */
	TEST_ASSERT_EQ(rte_vhost_driver_enable_features(path, 1ULL << VIRTIO_F_IOMMU_PLATFORM),
		       -1);
	TEST_ASSERT_EQ(rte_vhost_driver_disable_features(path, 1ULL << VIRTIO_NET_F_CSUM), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_get_features(path, &f), 0);
	TEST_ASSERT(!(f & (1ULL << VIRTIO_NET_F_CSUM)));
	TEST_ASSERT_EQ(rte_vhost_driver_enable_features(path, 1ULL << VIRTIO_NET_F_CSUM), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_get_features(path, &f), 0);
	TEST_ASSERT(f & (1ULL << VIRTIO_NET_F_CSUM));
	TEST_ASSERT_EQ(rte_vhost_driver_set_features(path, 1ULL << VIRTIO_F_VERSION_1), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_get_features(path, &f), 0);
	TEST_ASSERT_EQ(f, 1ULL << VIRTIO_F_VERSION_1);
	TEST_ASSERT_EQ(rte_vhost_driver_set_protocol_features(path, 0), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_get_protocol_features(path, &pf), 0);
	TEST_ASSERT_EQ(pf, 0);

	/* vDPA: none. */
	TEST_ASSERT_EQ(rte_vhost_driver_attach_vdpa_device(path, NULL), -ENOTSUP);
	TEST_ASSERT(rte_vhost_driver_get_vdpa_device(path) == NULL);
	TEST_ASSERT_EQ(rte_vhost_driver_detach_vdpa_device(path), 0);

	/* After start: no feature changes, no second start. */
	TEST_ASSERT_EQ(rte_vhost_driver_start(path), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_start(path), -1);
	TEST_ASSERT_EQ(rte_vhost_driver_set_features(path, 0), -1);
	TEST_ASSERT_EQ(rte_vhost_driver_disable_features(path, 1), -1);
	TEST_ASSERT_EQ(rte_vhost_driver_enable_features(path, 1), -1);
	TEST_ASSERT_EQ(rte_vhost_driver_set_protocol_features(path, 0), -1);
	TEST_ASSERT_EQ(rte_vhost_driver_get_features(path, &f), 0);

	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);
	TEST_ASSERT(access(path, F_OK) != 0, "server socket file left behind");
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), -1);
}

TEST_CASE(feature_defaults_by_flags)
{
	char path[128];
	uint64_t f;

	make_path(path, sizeof(path), "flags.sock");
	TEST_ASSERT_EQ(rte_vhost_driver_register(path, RTE_VHOST_USER_IOMMU_SUPPORT |
						 RTE_VHOST_USER_LINEARBUF_SUPPORT), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_get_features(path, &f), 0);
	TEST_ASSERT(f & (1ULL << VIRTIO_F_IOMMU_PLATFORM));
	TEST_ASSERT(!(f & (1ULL << VIRTIO_NET_F_HOST_TSO4)));
	TEST_ASSERT(!(f & (1ULL << VIRTIO_NET_F_HOST_TSO6)));
	TEST_ASSERT(!(f & (1ULL << VIRTIO_NET_F_HOST_UFO)));
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);

	TEST_ASSERT_EQ(rte_vhost_driver_register(path, RTE_VHOST_USER_LINEARBUF_SUPPORT |
						 RTE_VHOST_USER_EXTBUF_SUPPORT |
						 RTE_VHOST_USER_POSTCOPY_SUPPORT), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_get_features(path, &f), 0);
	TEST_ASSERT(f & (1ULL << VIRTIO_NET_F_HOST_TSO4));
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);
}

TEST_CASE(device_getters_bad_vid)
{
	uint64_t u;
	uint16_t m, a, b;
	struct rte_vhost_memory *mem;
	struct rte_vhost_vring vr;
	char name[16];

	TEST_ASSERT(vhost_dev_lookup(-1) == NULL);
	TEST_ASSERT(vhost_dev_lookup(RTE_MAX_VHOST_DEVICE) == NULL);
	TEST_ASSERT(vhost_dev_get(RTE_MAX_VHOST_DEVICE - 1) == NULL);
	TEST_ASSERT_EQ(rte_vhost_get_mtu(-1, &m), -ENODEV);
	TEST_ASSERT_EQ(rte_vhost_get_numa_node(-1), -1);
	TEST_ASSERT_EQ(rte_vhost_get_vring_num(5000), 0);
	TEST_ASSERT_EQ(rte_vhost_get_ifname(3, name, sizeof(name)), -1);
	TEST_ASSERT_EQ(rte_vhost_get_negotiated_features(7, &u), -1);
	TEST_ASSERT_EQ(rte_vhost_get_negotiated_protocol_features(7, &u), -1);
	TEST_ASSERT_EQ(rte_vhost_get_mem_table(0, &mem), -1);
	TEST_ASSERT_EQ(rte_vhost_get_vhost_vring(0, 0, &vr), -1);
	TEST_ASSERT_EQ(rte_vhost_get_log_base(0, &u, &u), -1);
	TEST_ASSERT_EQ(rte_vhost_get_vring_base(0, 0, &a, &b), -1);
	TEST_ASSERT_EQ(rte_vhost_set_vring_base(0, 0, 1, 1), -1);
	TEST_ASSERT(rte_vhost_get_vdpa_device(0) == NULL);
}

TEST_CASE(unsupported_apis_fail_cleanly)
{
	struct rte_mbuf *pkts[1];
	int inflight = 0;

	TEST_ASSERT_EQ(rte_vhost_async_channel_register(0, 0), -ENOTSUP);
	TEST_ASSERT_EQ(rte_vhost_async_dma_configure(0, 0), -ENOTSUP);
	TEST_ASSERT_EQ(rte_vhost_submit_enqueue_burst(0, 0, pkts, 1, 0, 0), 0);
	TEST_ASSERT_EQ(rte_vhost_async_try_dequeue_burst(0, 0, NULL, pkts, 1, &inflight, 0, 0),
		       0);
	TEST_ASSERT_EQ(inflight, -1);
	TEST_ASSERT_EQ(errno, ENOTSUP);
	TEST_ASSERT_EQ(rte_vhost_crypto_create(0, 0, NULL, 0), -ENOTSUP);
	TEST_ASSERT_EQ(rte_vhost_crypto_fetch_requests(0, 0, NULL, 4), 0);
	TEST_ASSERT(rte_vdpa_find_device_by_name("x") == NULL);
	TEST_ASSERT(rte_vdpa_get_stats_names(NULL, NULL, 0) < 0);
}

/* ---- Cases: AF_UNIX server ---- */

TEST_CASE(server_messages)
{
	char path[128], name[128];
	uint64_t f, want;
	struct vhost_user_msg reply;
	int base = test_count_fds(), fd, vid;

	rec_reset();
	make_path(path, sizeof(path), "server.sock");
	start_server(path, 0);
	fd = connect_to(path);
	TEST_ASSERT(fd >= 0);
	TEST_ASSERT(WAIT_FOR(rec_count(CB_NEW_CONN) == 1));
	vid = rec_vid(rec_first(CB_NEW_CONN));
	TEST_ASSERT_EQ(rte_vhost_get_ifname(vid, name, sizeof(name)), 0);
	TEST_ASSERT(strcmp(name, path) == 0);
	/* Truncation of the name is safe. */
	TEST_ASSERT_EQ(rte_vhost_get_ifname(vid, name, 4), 0);
	TEST_ASSERT_EQ(strlen(name), 3);

	TEST_ASSERT_EQ(rte_vhost_driver_get_features(path, &want), 0);
	f = get_features_over(fd);
	TEST_ASSERT_EQ(f, want);
	TEST_ASSERT(send_msg(fd, VHOST_USER_GET_PROTOCOL_FEATURES, 0, NULL, 0, NULL, 0) == 0);
	TEST_ASSERT(recv_reply(fd, &reply) == 0);
	TEST_ASSERT_EQ(reply.payload.u64, VHOST_NET_PROTOCOL_FEATURES);

	/* A header sent in two pieces is reassembled. */
	{
		struct vhost_user_hdr h = {
			.request = VHOST_USER_GET_FEATURES, .flags = VHOST_USER_VERSION,
		};

		TEST_ASSERT(send(fd, &h, 5, MSG_NOSIGNAL) == 5);
		usleep(50000);
		TEST_ASSERT(send(fd, (char *)&h + 5, sizeof(h) - 5, MSG_NOSIGNAL) ==
			    (ssize_t)(sizeof(h) - 5));
		TEST_ASSERT(recv_reply(fd, &reply) == 0);
		TEST_ASSERT_EQ(reply.payload.u64, want);
	}

	/* Two connections, two vids. */
	{
		int fd2 = connect_to(path);

		TEST_ASSERT(fd2 >= 0);
		TEST_ASSERT(WAIT_FOR(rec_count(CB_NEW_CONN) == 2));
		TEST_ASSERT(rec_vid(1) != vid);
		TEST_ASSERT_EQ(get_features_over(fd2), want);
		close(fd2);
		TEST_ASSERT(WAIT_FOR(rec_count(CB_DESTROY_CONN) == 1));
		TEST_ASSERT_EQ(rec_vid(rec_first(CB_DESTROY_CONN)), rec_vid(1));
	}

	close(fd);
	TEST_ASSERT(WAIT_FOR(rec_count(CB_DESTROY_CONN) == 2));
	TEST_ASSERT(vhost_dev_lookup(vid) == NULL);
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);
	TEST_ASSERT_EQ(test_count_fds(), base);
}

TEST_CASE(server_mem_table)
{
	char path[128];
	struct vhost_user_memory m;
	struct rte_vhost_memory *mem = NULL;
	uint8_t *guest;
	int base = test_count_fds(), fd, mfd, vid;
	uint64_t host;

	rec_reset();
	make_path(path, sizeof(path), "mem.sock");
	start_server(path, 0);
	fd = connect_to(path);
	TEST_ASSERT(fd >= 0);
	TEST_ASSERT(WAIT_FOR(rec_count(CB_NEW_CONN) == 1));
	vid = rec_vid(0);

	mfd = memfd_create("guest", MFD_CLOEXEC);
	TEST_ASSERT(mfd >= 0 && ftruncate(mfd, 2 * GUEST_MEM_SIZE) == 0);
	guest = mmap(NULL, 2 * GUEST_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	TEST_ASSERT(guest != MAP_FAILED);
	/* An unaligned offset inside the file exercises the align-down logic. */
	memcpy(guest + 0x1234, "hello", 6);

	TEST_ASSERT(send_msg(fd, VHOST_USER_SET_OWNER, 0, NULL, 0, NULL, 0) == 0);
	memset(&m, 0, sizeof(m));
	m.nregions = 1;
	m.regions[0].guest_phys_addr = 0x100000;
	m.regions[0].memory_size = GUEST_MEM_SIZE;
	m.regions[0].userspace_addr = GUEST_UADDR;
	m.regions[0].mmap_offset = 0x1234;
	TEST_ASSERT(send_msg(fd, VHOST_USER_SET_MEM_TABLE, 0, &m,
			     offsetof(struct vhost_user_memory, regions[1]), &mfd, 1) == 0);
	/* A GET_FEATURES round trip proves the table message was processed. */
	get_features_over(fd);

	TEST_ASSERT_EQ(rte_vhost_get_mem_table(vid, &mem), 0);
	TEST_ASSERT_EQ(mem->nregions, 1);
	TEST_ASSERT_EQ(mem->regions[0].guest_phys_addr, 0x100000);
	TEST_ASSERT_EQ(mem->regions[0].size, GUEST_MEM_SIZE);
	host = mem->regions[0].host_user_addr;
	TEST_ASSERT(memcmp((void *)(uintptr_t)host, "hello", 6) == 0);
	free(mem);

	/* A region beyond the end of its file is refused: connection closed. */
	m.regions[0].guest_phys_addr = 0x200000;	/* not "the same table" */
	m.regions[0].mmap_offset = 2 * GUEST_MEM_SIZE;
	TEST_ASSERT(send_msg(fd, VHOST_USER_SET_MEM_TABLE, 0, &m,
			     offsetof(struct vhost_user_memory, regions[1]), &mfd, 1) == 0);
	TEST_ASSERT(peer_closed(fd));
	TEST_ASSERT(WAIT_FOR(rec_count(CB_DESTROY_CONN) == 1));

	munmap(guest, 2 * GUEST_MEM_SIZE);
	close(mfd);
	close(fd);
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);
	TEST_ASSERT_EQ(test_count_fds(), base);
}

/* Each malformed message closes its connection and leaks nothing. */
static void
expect_closed_after(const char *path, int expect_conns, int nr_fds, uint32_t size)
{
	int fds[64], fd, i;

	fd = connect_to(path);
	TEST_ASSERT(fd >= 0);
	TEST_ASSERT(WAIT_FOR(rec_count(CB_NEW_CONN) == expect_conns));
	for (i = 0; i < nr_fds; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	TEST_ASSERT(send_msg(fd, VHOST_USER_GET_FEATURES, 0, NULL, size, fds, nr_fds) == 0);
	for (i = 0; i < nr_fds; i++)
		close(fds[i]);
	TEST_ASSERT(peer_closed(fd), "connection not closed (%d fds, size %u)", nr_fds, size);
	TEST_ASSERT(WAIT_FOR(rec_count(CB_DESTROY_CONN) == expect_conns));
	close(fd);
}

TEST_CASE(server_hostile_framing)
{
	char path[128];
	int base = test_count_fds();

	rec_reset();
	make_path(path, sizeof(path), "hostile.sock");
	start_server(path, 0);
	/* More fds than a message may carry: 9 (over the limit), 40 (truncated). */
	expect_closed_after(path, 1, VHOST_USER_MAX_FDS + 1, 0);
	expect_closed_after(path, 2, 40, 0);
	/* fds on a request that takes none: the handler's rules refuse it. */
	expect_closed_after(path, 3, 1, 0);
	/* A payload larger than any request. */
	expect_closed_after(path, 4, 0, VHOST_USER_PAYLOAD_MAX + 1);
	expect_closed_after(path, 5, 0, UINT32_MAX);
	/* EOF in the middle of a header. */
	{
		int fd = connect_to(path);

		TEST_ASSERT(fd >= 0);
		TEST_ASSERT(WAIT_FOR(rec_count(CB_NEW_CONN) == 6));
		TEST_ASSERT(send(fd, "abc", 3, MSG_NOSIGNAL) == 3);
		close(fd);
		TEST_ASSERT(WAIT_FOR(rec_count(CB_DESTROY_CONN) == 6));
	}
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);
	TEST_ASSERT_EQ(test_count_fds(), base);
}

/* Bring a device up to new_device() the way DPDK's virtio-user does. */
static void
bring_up(int fd, int mfd, int *evfds)
{
	struct vhost_user_memory m;
	struct vhost_user_vring_state st;
	struct vhost_user_vring_addr addr;
	uint64_t features;
	uint32_t q;

	TEST_ASSERT(send_msg(fd, VHOST_USER_SET_OWNER, 0, NULL, 0, NULL, 0) == 0);
	features = get_features_over(fd);
	features &= (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES);
	TEST_ASSERT(send_u64(fd, VHOST_USER_SET_FEATURES, features) == 0);
	TEST_ASSERT(send_u64(fd, VHOST_USER_SET_PROTOCOL_FEATURES,
			     1ULL << VHOST_USER_PROTO_F_MQ) == 0);

	memset(&m, 0, sizeof(m));
	m.nregions = 1;
	m.regions[0].guest_phys_addr = 0;
	m.regions[0].memory_size = GUEST_MEM_SIZE;
	m.regions[0].userspace_addr = GUEST_UADDR;
	TEST_ASSERT(send_msg(fd, VHOST_USER_SET_MEM_TABLE, 0, &m,
			     offsetof(struct vhost_user_memory, regions[1]), &mfd, 1) == 0);
	for (q = 0; q < 2; q++) {
		uint64_t base = GUEST_UADDR + q * 0x10000;
		uint64_t u;

		st.index = q;
		st.num = RING_SIZE;
		TEST_ASSERT(send_msg(fd, VHOST_USER_SET_VRING_NUM, 0, &st, sizeof(st),
				     NULL, 0) == 0);
		st.num = 0;
		TEST_ASSERT(send_msg(fd, VHOST_USER_SET_VRING_BASE, 0, &st, sizeof(st),
				     NULL, 0) == 0);
		memset(&addr, 0, sizeof(addr));
		addr.index = q;
		addr.desc_user_addr = base;
		addr.avail_user_addr = base + 0x1000;
		addr.used_user_addr = base + 0x2000;
		TEST_ASSERT(send_msg(fd, VHOST_USER_SET_VRING_ADDR, 0, &addr, sizeof(addr),
				     NULL, 0) == 0);
		u = q;
		TEST_ASSERT(send_msg(fd, VHOST_USER_SET_VRING_KICK, 0, &u, sizeof(u),
				     &evfds[2 * q], 1) == 0);
		TEST_ASSERT(send_msg(fd, VHOST_USER_SET_VRING_CALL, 0, &u, sizeof(u),
				     &evfds[2 * q + 1], 1) == 0);
	}
	for (q = 0; q < 2; q++) {
		st.index = q;
		st.num = 1;
		TEST_ASSERT(send_msg(fd, VHOST_USER_SET_VRING_ENABLE, 0, &st, sizeof(st),
				     NULL, 0) == 0);
	}
}

static int
make_guest_mem(void)
{
	int mfd = memfd_create("guest", MFD_CLOEXEC);

	TEST_ASSERT(mfd >= 0 && ftruncate(mfd, GUEST_MEM_SIZE) == 0);
	return mfd;
}

TEST_CASE(unregister_while_running)
{
	char path[128];
	int base = test_count_fds(), fd, mfd, evfds[4], i, vid;
	int d_dev, d_conn;
	struct rte_vhost_vring vr;
	uint16_t a, u;

	rec_reset();
	make_path(path, sizeof(path), "running.sock");
	start_server(path, 0);
	fd = connect_to(path);
	TEST_ASSERT(fd >= 0);
	mfd = make_guest_mem();
	for (i = 0; i < 4; i++)
		evfds[i] = eventfd(0, EFD_CLOEXEC);
	bring_up(fd, mfd, evfds);
	TEST_ASSERT(WAIT_FOR(rec_count(CB_NEW_DEV) == 1), "new_device not called");
	vid = rec_vid(rec_first(CB_NEW_DEV));

	/* Getters on a running device. */
	TEST_ASSERT_EQ(rte_vhost_get_vring_num(vid), 2);
	TEST_ASSERT_EQ(rte_vhost_get_vhost_vring(vid, 1, &vr), 0);
	TEST_ASSERT_EQ(vr.size, RING_SIZE);
	TEST_ASSERT(vr.desc != NULL && vr.kickfd >= 0 && vr.callfd >= 0);
	TEST_ASSERT_EQ(rte_vhost_get_vhost_vring(vid, 2, &vr), -1);
	TEST_ASSERT_EQ(rte_vhost_set_vring_base(vid, 0, 7, 5), 0);
	TEST_ASSERT_EQ(rte_vhost_get_vring_base(vid, 0, &a, &u), 0);
	TEST_ASSERT(a == 7 && u == 5);
	TEST_ASSERT(rte_vhost_get_numa_node(vid) >= 0);

	for (i = 0; i < 4; i++)
		close(evfds[i]);
	close(mfd);
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);
	/* Synchronous: by now both callbacks ran, device first. */
	d_dev = rec_first(CB_DESTROY_DEV);
	d_conn = rec_first(CB_DESTROY_CONN);
	TEST_ASSERT(d_dev >= 0 && d_conn >= 0 && d_dev < d_conn,
		    "destroy_device at %d, destroy_connection at %d", d_dev, d_conn);
	TEST_ASSERT_EQ(rec_vid(d_conn), vid);	/* vid valid in destroy_connection */
	TEST_ASSERT(vhost_dev_lookup(vid) == NULL);
	TEST_ASSERT(peer_closed(fd));
	close(fd);
	TEST_ASSERT(access(path, F_OK) != 0);
	TEST_ASSERT_EQ(test_count_fds(), base);
}

TEST_CASE(unregister_from_callback_refused)
{
	char path[128];
	int base = test_count_fds(), fd;

	rec_reset();
	make_path(path, sizeof(path), "cbunreg.sock");
	start_server(path, 0);
	pthread_mutex_lock(&rec.lock);
	snprintf(rec.unregister_path, sizeof(rec.unregister_path), "%.*s",
		 (int)sizeof(rec.unregister_path) - 1, path);
	pthread_mutex_unlock(&rec.lock);
	fd = connect_to(path);
	TEST_ASSERT(fd >= 0);
	TEST_ASSERT(WAIT_FOR(rec_count(CB_NEW_CONN) == 1));
	pthread_mutex_lock(&rec.lock);
	rec.unregister_path[0] = '\0';
	pthread_mutex_unlock(&rec.lock);
	TEST_ASSERT_EQ(rec.unregister_ret, -EAGAIN);
	get_features_over(fd);	/* still alive */
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);
	TEST_ASSERT(peer_closed(fd));
	close(fd);
	TEST_ASSERT_EQ(test_count_fds(), base);
}

TEST_CASE(server_stale_socket_file)
{
	char path[128];
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int base = test_count_fds(), s, fd;

	make_path(path, sizeof(path), "stale.sock");
	/* A socket file nobody listens on: what a crashed process leaves. */
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%.*s", (int)sizeof(a.sun_path) - 1, path);
	TEST_ASSERT(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0);
	close(s);
	rec_reset();
	start_server(path, 0);
	fd = connect_to(path);
	TEST_ASSERT(fd >= 0);
	get_features_over(fd);
	close(fd);
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);

	/* A regular file is never deleted: start fails. */
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	TEST_ASSERT(fd >= 0);
	close(fd);
	TEST_ASSERT_EQ(rte_vhost_driver_register(path, 0), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_start(path), -1);
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);
	TEST_ASSERT(access(path, F_OK) == 0);
	unlink(path);

	/* A live server at the path: start fails, the other server is untouched. */
	s = listen_on(path);
	TEST_ASSERT(s >= 0);
	TEST_ASSERT_EQ(rte_vhost_driver_register(path, 0), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_start(path), -1);
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);
	fd = accept_within(s, 100);	/* the probe connection */
	if (fd >= 0)
		close(fd);
	close(s);
	unlink(path);
	TEST_ASSERT_EQ(test_count_fds(), base);
}

/* ---- Cases: AF_UNIX client ---- */

TEST_CASE(client_no_reconnect_fails_start)
{
	char path[128];
	int base = test_count_fds();

	make_path(path, sizeof(path), "nobody.sock");
	TEST_ASSERT_EQ(rte_vhost_driver_register(path, RTE_VHOST_USER_CLIENT |
						 RTE_VHOST_USER_NO_RECONNECT), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_start(path), -1);
	/* A failed start may be retried. */
	TEST_ASSERT_EQ(rte_vhost_driver_start(path), -1);
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);
	TEST_ASSERT_EQ(test_count_fds(), base);
}

TEST_CASE(client_reconnects)
{
	char path[128];
	int base = test_count_fds(), lfd, fd;

	rec_reset();
	make_path(path, sizeof(path), "frontend.sock");
	/* Nobody listening yet: start succeeds and keeps trying. */
	TEST_ASSERT_EQ(rte_vhost_driver_register(path, RTE_VHOST_USER_CLIENT), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_callback_register(path, &test_ops), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_start(path), 0);
	usleep(200000);
	lfd = listen_on(path);
	TEST_ASSERT(lfd >= 0);
	fd = accept_within(lfd, WAIT_MS);
	TEST_ASSERT(fd >= 0, "no connection after the front-end appeared");
	TEST_ASSERT(WAIT_FOR(rec_count(CB_NEW_CONN) == 1));
	get_features_over(fd);

	/* The front-end restarts: the back-end comes back on its own. */
	close(fd);
	close(lfd);
	unlink(path);
	TEST_ASSERT(WAIT_FOR(rec_count(CB_DESTROY_CONN) == 1));
	usleep(300000);
	lfd = listen_on(path);
	TEST_ASSERT(lfd >= 0);
	fd = accept_within(lfd, WAIT_MS);
	TEST_ASSERT(fd >= 0, "no reconnection after the front-end restarted");
	TEST_ASSERT(WAIT_FOR(rec_count(CB_NEW_CONN) == 2));
	get_features_over(fd);

	/* A bad message in client mode also leads to a reconnect. */
	TEST_ASSERT(send_msg(fd, VHOST_USER_GET_FEATURES, 0, NULL,
			     VHOST_USER_PAYLOAD_MAX + 1, NULL, 0) == 0);
	TEST_ASSERT(peer_closed(fd));
	close(fd);
	fd = accept_within(lfd, WAIT_MS);
	TEST_ASSERT(fd >= 0, "no reconnection after a protocol error");
	TEST_ASSERT(WAIT_FOR(rec_count(CB_NEW_CONN) == 3));

	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);
	TEST_ASSERT(peer_closed(fd));
	TEST_ASSERT_EQ(rec_count(CB_DESTROY_CONN), 3);
	close(fd);
	/* No reconnect after unregister. */
	TEST_ASSERT(accept_within(lfd, 1500) < 0);
	close(lfd);
	unlink(path);
	TEST_ASSERT_EQ(test_count_fds(), base);
}

TEST_CASE(client_unregister_while_retrying)
{
	char path[128];
	int base = test_count_fds();

	make_path(path, sizeof(path), "never.sock");
	TEST_ASSERT_EQ(rte_vhost_driver_register(path, RTE_VHOST_USER_CLIENT), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_start(path), 0);
	usleep(1200000);	/* at least one retry ran */
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);
	TEST_ASSERT_EQ(test_count_fds(), base);
}

/* ---- Setup ---- */

static void
noop_timer(void *arg)
{
}

/*
 * The data path allocates its per-queue state with rte_malloc, so the EAL
 * runs (no hugepages, no PCI, no shared config): the event loop then also
 * takes the rte_ctrl_thread_create() path applications use.
 */
static int
api_setup(int argc, char **argv)
{
	if (test_eal_init(argv[0], 64, "--log-level=lib.vhost.*:debug") < 0)
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_vhost_api.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	/* Start the event loop now so its own fds are in every baseline. */
	return vhost_event_timer(0, noop_timer, NULL);
}

static void
api_teardown(void)
{
	rmdir(tmpdir);
	test_eal_cleanup();
}

/*
 * A front-end that pipelines requests and never reads the replies must cost
 * only itself: a second front-end on the same endpoint still completes its
 * whole handshake at once, the slow one stays connected, and once it reads
 * it gets every reply it asked for, in order.
 */
TEST_CASE(slow_reader_costs_only_itself)
{
	char path[128];
	int base = test_count_fds(), slow, fd, mfd, evfds[4], i, flags;
	struct vhost_user_msg hdr_only;
	unsigned int sent = 0, got = 0;
	int64_t t0, took;

	rec_reset();
	make_path(path, sizeof(path), "slow.sock");
	start_server(path, 0);
	slow = connect_to(path);
	TEST_ASSERT(slow >= 0);
	/* Pipeline GET_FEATURES until our own socket refuses more. */
	flags = fcntl(slow, F_GETFL);
	TEST_ASSERT(fcntl(slow, F_SETFL, flags | O_NONBLOCK) == 0);
	memset(&hdr_only, 0, sizeof(hdr_only));
	hdr_only.hdr.request = VHOST_USER_GET_FEATURES;
	hdr_only.hdr.flags = VHOST_USER_VERSION;
	t0 = test_now_ms();
	while (test_now_ms() - t0 < 3000) {
		ssize_t n = send(slow, &hdr_only, VHOST_USER_HDR_SIZE, MSG_NOSIGNAL);

		if (n == VHOST_USER_HDR_SIZE) {
			sent++;
			continue;
		}
		TEST_ASSERT(n < 0 && errno == EAGAIN, "send: %zd (%s)", n, strerror(errno));
		/* Full: give the library time to stall on us if it were to. */
		test_sleep_ms(50);
		if (send(slow, &hdr_only, VHOST_USER_HDR_SIZE, MSG_NOSIGNAL) < 0)
			break;
		sent++;
	}
	/*
	 * Each small reply costs the library's socket ~700 bytes of buffer
	 * (skb overhead): ~300 fill it. More requests than that mean the
	 * library had replies it could not send, and (queue full) stopped
	 * reading us, which is what made our own socket refuse more.
	 */
	TEST_ASSERT(sent > 400, "only %u requests went out", sent);

	/* A well-behaved front-end meanwhile. */
	fd = connect_to(path);
	TEST_ASSERT(fd >= 0);
	mfd = make_guest_mem();
	for (i = 0; i < 4; i++)
		evfds[i] = eventfd(0, EFD_CLOEXEC);
	t0 = test_now_ms();
	bring_up(fd, mfd, evfds);
	TEST_ASSERT(WAIT_FOR(rec_count(CB_NEW_DEV) == 1), "new_device not called");
	took = test_now_ms() - t0;
	TEST_ASSERT(took < 500, "the good front-end's handshake took %lld ms",
		    (long long)took);

	/* The slow one was not dropped: it gets every reply, in order. */
	TEST_ASSERT(fcntl(slow, F_SETFL, flags) == 0);
	for (got = 0; got < sent; got++) {
		struct vhost_user_msg r;

		TEST_ASSERT(recv_reply(slow, &r) == 0, "reply %u of %u missing", got, sent);
		TEST_ASSERT_EQ(r.hdr.request, VHOST_USER_GET_FEATURES);
		TEST_ASSERT_EQ(r.hdr.size, sizeof(uint64_t));
	}
	TEST_ASSERT_EQ(rec_count(CB_DESTROY_CONN), 0);

	for (i = 0; i < 4; i++)
		close(evfds[i]);
	close(mfd);
	close(fd);
	close(slow);
	TEST_ASSERT(WAIT_FOR(rec_count(CB_DESTROY_CONN) == 2));
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);
	TEST_ASSERT_EQ(test_fds_settle(0, base, WAIT_MS), base);
}

/* A server socket holds at most max_connections; the rest are closed at once. */
TEST_CASE(connections_beyond_the_cap_are_refused)
{
	char path[128];
	int base = test_count_fds(), fd[3], late;
	unsigned int i;

	rec_reset();
	make_path(path, sizeof(path), "cap.sock");
	TEST_ASSERT_EQ(rte_vhost_driver_register(path, 0), 0);
	TEST_ASSERT(rte_vhost_driver_set_max_connections(path, 0) < 0);
	TEST_ASSERT(rte_vhost_driver_set_max_connections("/nonexistent", 2) < 0);
	TEST_ASSERT_EQ(rte_vhost_driver_set_max_connections(path, 2), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_callback_register(path, &test_ops), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_start(path), 0);
	TEST_ASSERT(rte_vhost_driver_set_max_connections(path, 3) < 0);	/* started */
	for (i = 0; i < 3; i++) {
		fd[i] = connect_to(path);
		TEST_ASSERT(fd[i] >= 0);
		if (i < 2)
			TEST_ASSERT(WAIT_FOR(rec_count(CB_NEW_CONN) == (int)i + 1));
	}
	/* The third is closed without a vid; the first two are served. */
	TEST_ASSERT(peer_closed(fd[2]));
	TEST_ASSERT_EQ(rec_count(CB_NEW_CONN), 2);
	TEST_ASSERT(get_features_over(fd[0]) & (1ULL << VIRTIO_F_VERSION_1));
	TEST_ASSERT(get_features_over(fd[1]) & (1ULL << VIRTIO_F_VERSION_1));
	/* One leaves: there is room again. */
	close(fd[0]);
	TEST_ASSERT(WAIT_FOR(rec_count(CB_DESTROY_CONN) == 1));
	late = connect_to(path);
	TEST_ASSERT(late >= 0);
	TEST_ASSERT(WAIT_FOR(rec_count(CB_NEW_CONN) == 3));
	TEST_ASSERT(get_features_over(late) & (1ULL << VIRTIO_F_VERSION_1));
	close(late);
	close(fd[1]);
	close(fd[2]);
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);
	TEST_ASSERT_EQ(test_fds_settle(0, base, WAIT_MS), base);
}

TEST_MAIN(api_setup, api_teardown,
	TEST_ENTRY(transport_selection),
	TEST_ENTRY(path_map_parser),
	TEST_ENTRY(path_map_register),
	TEST_ENTRY(driver_api_errors),
	TEST_ENTRY(feature_defaults_by_flags),
	TEST_ENTRY(device_getters_bad_vid),
	TEST_ENTRY(unsupported_apis_fail_cleanly),
	TEST_ENTRY(server_messages),
	TEST_ENTRY(server_mem_table),
	TEST_ENTRY(server_hostile_framing),
	TEST_ENTRY(unregister_while_running),
	TEST_ENTRY(unregister_from_callback_refused),
	TEST_ENTRY(server_stale_socket_file),
	TEST_ENTRY(client_no_reconnect_fails_start),
	TEST_ENTRY(client_reconnects),
	TEST_ENTRY(client_unregister_while_retrying),
	TEST_ENTRY(slow_reader_costs_only_itself),
	TEST_ENTRY(connections_beyond_the_cap_are_refused)
)

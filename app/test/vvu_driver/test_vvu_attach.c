/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The VVU transport against a real dpdk-vvu-device (forked; its path is
 * argv[1]) over vfio-user, with this test playing the front-end on the
 * device's vhost-user socket. No testpmd, no hugepages: the EAL runs with
 * --no-huge, so the rings take the memfd fallback for DMA.
 *
 * What is checked: attach and BACKEND_UP (the device only listens for a
 * front-end once the driver set it), messages both ways through rxq/txq,
 * the protocol features the transport cannot carry are not offered, the
 * BAR2 placement of a two-region memory table (the bytes the front-end
 * wrote are the bytes at host_user_addr, region 1 at the size of region 0),
 * front-end disconnect and reconnect, the device killed and restarted
 * under a registered endpoint, a front-end whose memory does not fit BAR2,
 * and that the process ends each case with the fds it started with.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/virtio_config.h>

#include <rte_common.h>
#include <rte_vhost.h>

#include "rte_vhost_vvu.h"
#include "test.h"
#include "test_eal.h"
#include "test_util.h"
#include "vhost_transport.h"
#include "vhost_user.h"

#define WAIT_MS		8000
#define DEVICE_STOP_MS	5000	/* SIGTERM to exit; then SIGKILL */
#define REGION0		(2u << 20)
#define REGION1		(1u << 20)
#define FE_UADDR	0x7f0000000000ULL

static const char *device_exe;
static char tmpdir[64];
static char s1[96], s2[96], reg_path[160];

static struct {
	int vid;
	int conns;
	int closed;
} cb;

static int
cb_new_conn(int vid)
{
	__atomic_store_n(&cb.vid, vid, __ATOMIC_RELEASE);
	__atomic_fetch_add(&cb.conns, 1, __ATOMIC_ACQ_REL);
	return 0;
}

static void
cb_destroy_conn(int vid)
{
	__atomic_fetch_add(&cb.closed, 1, __ATOMIC_ACQ_REL);
}

static int
cb_new_dev(int vid)
{
	return 0;
}

static void
cb_destroy_dev(int vid)
{
}

static const struct rte_vhost_device_ops cb_ops = {
	.new_device = cb_new_dev,
	.destroy_device = cb_destroy_dev,
	.new_connection = cb_new_conn,
	.destroy_connection = cb_destroy_conn,
};

/* Wait until the fd count is back to base (the loop closes things async). */
static void
expect_fds(int base)
{
	TEST_ASSERT_EQ(test_fds_settle(0, base, WAIT_MS), base);
}

/* The running device, killed by teardown if a failed case left it. */
static pid_t live_device;

static void
device_stop(pid_t pid, int sig)
{
	test_proc_stop(pid, sig, DEVICE_STOP_MS);
	if (pid == live_device)
		live_device = 0;
}

static pid_t
device_start(const char *shm)
{
	char *argv[] = {
		(char *)(uintptr_t)device_exe, (char *)(uintptr_t)"--vfio-user", s1,
		(char *)(uintptr_t)"--vhost-user", s2, (char *)(uintptr_t)"--shm-size",
		(char *)(uintptr_t)shm, (char *)(uintptr_t)"--queues", (char *)(uintptr_t)"8",
		NULL,
	};
	pid_t pid;

	device_stop(live_device, SIGKILL);	/* left by a failed case */
	pid = test_spawn_exec(argv, TEST_FD_INHERIT, test_quiet_fd());
	TEST_ASSERT(pid > 0, "fork");
	live_device = pid;
	return pid;
}

/* The device accepts a front-end only after the driver set BACKEND_UP. */
static int
fe_connect(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int64_t end = test_now_ms() + WAIT_MS;

	memcpy(a.sun_path, s2, strlen(s2) + 1);
	while (test_now_ms() < end) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
			/* A backlog connect succeeds before accept: probe with a request. */
			return fd;
		}
		close(fd);
		test_sleep_ms(50);
	}
	return -1;
}

static int
fe_send(int fd, uint32_t req, const void *payload, uint32_t size, const int *fds, int nfds)
{
	struct vhost_user_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VHOST_USER_VERSION;
	m.hdr.size = size;
	if (size > 0)
		memcpy(&m.payload, payload, size);
	return test_send_fds(fd, &m, VHOST_USER_HDR_SIZE + size, fds, nfds);
}

static int
fe_recv_all(int fd, void *buf, size_t len, int timeout_ms)
{
	size_t done = 0;

	while (done < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
		n = recv(fd, (char *)buf + done, len - done, 0);
		if (n <= 0)
			return -ECONNRESET;
		done += (size_t)n;
	}
	return 0;
}

/* Send a request that has a u64 reply and return it. */
static int
fe_get_u64(int fd, uint32_t req, uint64_t *v)
{
	struct vhost_user_msg r;

	if (fe_send(fd, req, NULL, 0, NULL, 0) < 0)
		return -EPIPE;
	if (fe_recv_all(fd, &r.hdr, VHOST_USER_HDR_SIZE, WAIT_MS) < 0)
		return -ETIMEDOUT;
	if (r.hdr.request != req || !(r.hdr.flags & VHOST_USER_REPLY_MASK) ||
	    r.hdr.size != sizeof(uint64_t))
		return -EPROTO;
	if (fe_recv_all(fd, &r.payload.u64, sizeof(uint64_t), WAIT_MS) < 0)
		return -ETIMEDOUT;
	*v = r.payload.u64;
	return 0;
}

/* Connect and get an answer through the whole chain (retries a backlog connect). */
static int
fe_connect_working(void)
{
	int64_t end = test_now_ms() + WAIT_MS;
	uint64_t f;

	while (test_now_ms() < end) {
		int fd = fe_connect();

		if (fd < 0)
			return -1;
		if (fe_get_u64(fd, VHOST_USER_GET_FEATURES, &f) == 0)
			return fd;
		close(fd);
		test_sleep_ms(100);
	}
	return -1;
}

static void
endpoint_up(void)
{
	TEST_ASSERT_EQ(rte_vhost_driver_register(reg_path, 0), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_callback_register(reg_path, &cb_ops), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_start(reg_path), 0);
}

static void
wait_counter(int *c, int want)
{
	int64_t end = test_now_ms() + WAIT_MS;

	while (__atomic_load_n(c, __ATOMIC_ACQUIRE) < want && test_now_ms() < end)
		test_sleep_ms(10);
	TEST_ASSERT(__atomic_load_n(c, __ATOMIC_ACQUIRE) >= want, "counter %d < %d", *c, want);
}

static int
make_memfd(size_t size, uint8_t **map)
{
	int fd = memfd_create("fe-mem", MFD_CLOEXEC);

	TEST_ASSERT(fd >= 0, "memfd");
	TEST_ASSERT_EQ(ftruncate(fd, (off_t)size), 0);
	*map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	TEST_ASSERT(*map != MAP_FAILED, "mmap");
	return fd;
}

/* Every case runs the device: without it, say so rather than fail. */
#define NEED_DEVICE() do { \
	if (device_exe == NULL || access(device_exe, X_OK) != 0) \
		TEST_SKIP("dpdk-vvu-device not built (argv[1] or VVU_DEVICE)"); \
} while (0)

TEST_CASE(attach_messages_memory_reconnect)
{
	struct vhost_user_memory mem = { .nregions = 2 };
	struct rte_vhost_memory *vm = NULL;
	uint8_t *a, *b, *h0, *h1;
	int base, fd, fds[2], conns;
	uint64_t v;
	pid_t dev;
	size_t i;

	NEED_DEVICE();

	base = test_count_fds();
	memset(&cb, 0, sizeof(cb));
	dev = device_start("64M");
	snprintf(reg_path, sizeof(reg_path), "vfio-user:%s", s1);
	endpoint_up();
	fd = fe_connect_working();
	TEST_ASSERT(fd >= 0, "front-end could not talk through the device");
	wait_counter(&cb.conns, 1);

	TEST_ASSERT_EQ(fe_get_u64(fd, VHOST_USER_GET_FEATURES, &v), 0);
	TEST_ASSERT(v & (1ULL << VIRTIO_F_VERSION_1), "features 0x%llx", (unsigned long long)v);
	TEST_ASSERT_EQ(fe_get_u64(fd, VHOST_USER_GET_PROTOCOL_FEATURES, &v), 0);
	TEST_ASSERT(!(v & (1ULL << VHOST_USER_PROTO_F_BACKEND_REQ)), "BACKEND_REQ offered");
	TEST_ASSERT(!(v & (1ULL << VHOST_USER_PROTO_F_INFLIGHT_SHMFD)), "INFLIGHT offered");
	TEST_ASSERT_EQ(fe_send(fd, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0), 0);

	/* Two regions in two files; region 1 starts 1 MiB into its file. */
	fds[0] = make_memfd(REGION0, &a);
	fds[1] = make_memfd(2 * REGION1, &b);
	for (i = 0; i < REGION0; i++)
		a[i] = (uint8_t)(i * 7 + 1);
	for (i = 0; i < 2 * REGION1; i++)
		b[i] = (uint8_t)(i * 13 + 5);
	mem.regions[0] = (struct vhost_user_mem_region){ 0, REGION0, FE_UADDR, 0 };
	mem.regions[1] = (struct vhost_user_mem_region){ REGION0, REGION1, FE_UADDR + REGION0,
							 REGION1 };
	TEST_ASSERT_EQ(fe_send(fd, VHOST_USER_SET_MEM_TABLE, &mem,
			       8 + 2 * sizeof(mem.regions[0]), fds, 2), 0);
	/* A reply after it means the table was handled. */
	TEST_ASSERT_EQ(fe_get_u64(fd, VHOST_USER_GET_FEATURES, &v), 0);
	TEST_ASSERT_EQ(rte_vhost_get_mem_table(__atomic_load_n(&cb.vid, __ATOMIC_ACQUIRE), &vm),
		       0);
	TEST_ASSERT_EQ(vm->nregions, 2);
	h0 = (uint8_t *)(uintptr_t)vm->regions[0].host_user_addr;
	h1 = (uint8_t *)(uintptr_t)vm->regions[1].host_user_addr;
	TEST_ASSERT(memcmp(h0, a, REGION0) == 0, "region 0 is not the front-end's bytes");
	TEST_ASSERT(memcmp(h1, b + REGION1, REGION1) == 0,
		    "region 1 is not the front-end's bytes at its mmap_offset");
	/* Zero copy both ways: a write through the BAR is the front-end's memory. */
	h1[123] = 0x42;
	TEST_ASSERT_EQ(b[REGION1 + 123], 0x42);
	free(vm);
	munmap(a, REGION0);
	munmap(b, 2 * REGION1);
	close(fds[0]);
	close(fds[1]);

	/* Front-end leaves; the next one is served. */
	conns = __atomic_load_n(&cb.conns, __ATOMIC_ACQUIRE);
	close(fd);
	wait_counter(&cb.closed, 1);
	fd = fe_connect_working();
	TEST_ASSERT(fd >= 0, "second front-end not served");
	wait_counter(&cb.conns, conns + 1);
	close(fd);
	wait_counter(&cb.closed, 2);

	TEST_ASSERT_EQ(rte_vhost_driver_unregister(reg_path), 0);
	device_stop(dev, SIGTERM);
	expect_fds(base);
}

/* Driver first, device later; then the device dies and comes back. */
TEST_CASE(device_late_killed_restarted)
{
	int base, fd, closed;
	pid_t dev;

	NEED_DEVICE();

	base = test_count_fds();
	memset(&cb, 0, sizeof(cb));
	snprintf(reg_path, sizeof(reg_path), "%s", s1);
	TEST_ASSERT_EQ(rte_vhost_driver_register(reg_path, RTE_VHOST_USER_VIRTIO_TRANSPORT), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_callback_register(reg_path, &cb_ops), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_start(reg_path), 0);
	test_sleep_ms(1500);
	dev = device_start("64M");
	fd = fe_connect_working();
	TEST_ASSERT(fd >= 0, "device started late was not attached");

	closed = __atomic_load_n(&cb.closed, __ATOMIC_ACQUIRE);
	device_stop(dev, SIGKILL);
	close(fd);
	wait_counter(&cb.closed, closed + 1);
	unlink(s1);
	unlink(s2);
	dev = device_start("64M");
	fd = fe_connect_working();
	TEST_ASSERT(fd >= 0, "restarted device was not attached again");
	close(fd);

	TEST_ASSERT_EQ(rte_vhost_driver_unregister(reg_path), 0);
	device_stop(dev, SIGTERM);
	expect_fds(base);
}

/* Front-end memory larger than BAR2: refused, and the driver carries on. */
TEST_CASE(bar2_too_small)
{
	struct vhost_user_memory mem = { .nregions = 1 };
	int base, fd, mfd;
	uint8_t *a;
	uint64_t v;
	pid_t dev;

	NEED_DEVICE();

	base = test_count_fds();
	memset(&cb, 0, sizeof(cb));
	dev = device_start("1M");
	snprintf(reg_path, sizeof(reg_path), "vfio-user:%s", s1);
	endpoint_up();
	fd = fe_connect_working();
	TEST_ASSERT(fd >= 0, "not attached");
	mfd = make_memfd(REGION0, &a);
	mem.regions[0] = (struct vhost_user_mem_region){ 0, REGION0, FE_UADDR, 0 };
	TEST_ASSERT_EQ(fe_send(fd, VHOST_USER_SET_MEM_TABLE, &mem,
			       8 + sizeof(mem.regions[0]), &mfd, 1), 0);
	/* The connection ends (device or driver refuses the table)... */
	TEST_ASSERT(fe_get_u64(fd, VHOST_USER_GET_FEATURES, &v) < 0, "table accepted");
	close(fd);
	munmap(a, REGION0);
	close(mfd);
	/* ...and the next front-end is served. */
	fd = fe_connect_working();
	TEST_ASSERT(fd >= 0, "driver did not recover");
	close(fd);
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(reg_path), 0);
	device_stop(dev, SIGTERM);
	expect_fds(base);
}

static void
noop_timer(void *arg)
{
}

static int
attach_setup(int argc, char **argv)
{
	device_exe = argc > 1 ? argv[1] : getenv("VVU_DEVICE");
	if (test_eal_init(argv[0], 64, "--log-level=lib.vhost.*:info") < 0)
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_vvu_attach.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(s1, sizeof(s1), "%s/vvu.sock", tmpdir);
	snprintf(s2, sizeof(s2), "%s/fe.sock", tmpdir);
	signal(SIGPIPE, SIG_IGN);
	/* Start the event loop now so its own fds are in every baseline. */
	return vhost_event_timer(0, noop_timer, NULL);
}

static void
attach_teardown(void)
{
	device_stop(live_device, SIGKILL);
	unlink(s1);
	unlink(s2);
	rmdir(tmpdir);
	test_eal_cleanup();
}

TEST_MAIN(attach_setup, attach_teardown,
	TEST_ENTRY(attach_messages_memory_reconnect),
	TEST_ENTRY(device_late_killed_restarted),
	TEST_ENTRY(bar2_too_small))

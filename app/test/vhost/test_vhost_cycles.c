/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * 1,000 front-end sessions on one AF_UNIX server endpoint leave the
 * back-end's fd count and RSS where they were.
 *
 * An in-process front-end plays what a virtio-user or QEMU guest does on
 * every (re)start: connect to the endpoint rte_vhost_driver_register()ed
 * and started here; SET_OWNER, GET_FEATURES, SET_FEATURES,
 * SET_PROTOCOL_FEATURES, SET_MEM_TABLE with a fresh memfd, two split
 * vrings (NUM, BASE, ADDR, KICK and CALL eventfds, ENABLE); the library
 * calls new_device(); one packet goes each way through the data path
 * (rte_vhost_dequeue_burst(), rte_vhost_enqueue_burst(), exact length and
 * used ring entries), so the per-device state the data path allocates on
 * first use is created every time; then the front-end closes everything
 * and the library calls destroy_connection(). Every cycle is bounded
 * (WAIT_MS for each asynchronous step).
 *
 * At cycle WARM_CYCLES (allocator caches and the event loop's tables have
 * reached their size) and again after the last one, with no front-end
 * connected, the process's open fds must be equal, and its RSS may be at
 * most RSS_SLACK_KB above. Under ASan the RSS is printed but not checked:
 * freed memory stays in the sanitizer's quarantine, which grows by design.
 * The figures and the time per cycle are printed as "# " lines.
 */

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_vhost.h>

#include "test.h"
#include "test_eal.h"
#include "test_util.h"
#include "test_vhost_user.h"
#include "vhost_transport.h"

#define CYCLES		1000
#define WARM_CYCLES	10
#define RSS_SLACK_KB	1024	/* allocator noise; one leaked device costs more */
#define WAIT_MS		3000	/* upper bound for each asynchronous step */
#define GUEST_MEM_SIZE	(1u << 20)
#define GUEST_UADDR	0x7f0000000000ULL	/* the front-end's VA of guest memory */
#define RING_SIZE	256
#define NET_HDR_LEN	12	/* virtio_net_hdr_mrg_rxbuf: VERSION_1 */
#define PKT_LEN		64
#define BUF_LEN		2048
#define RX_VRING	0	/* the library enqueues, the front-end receives */
#define TX_VRING	1	/* the front-end sends, the library dequeues */
/* Layout of guest memory (offsets = guest physical addresses). */
#define VRING_OFF(q)	((uint64_t)(q) * 0x10000)
#define DESC_OFF(q)	VRING_OFF(q)
#define AVAIL_OFF(q)	(VRING_OFF(q) + 0x1000)
#define USED_OFF(q)	(VRING_OFF(q) + 0x2000)
#define BUF_OFF(q)	(VRING_OFF(q) + 0x4000)

static char tmpdir[48];
static struct rte_mempool *pool;
static int new_devices, closed_conns, last_vid = -1;

static int
cb_new_device(int vid)
{
	__atomic_store_n(&last_vid, vid, __ATOMIC_RELEASE);
	__atomic_fetch_add(&new_devices, 1, __ATOMIC_ACQ_REL);
	return 0;
}

static void
cb_destroy_device(int vid)
{
}

static void
cb_destroy_connection(int vid)
{
	__atomic_fetch_add(&closed_conns, 1, __ATOMIC_ACQ_REL);
}

static const struct rte_vhost_device_ops cycle_ops = {
	.new_device = cb_new_device,
	.destroy_device = cb_destroy_device,
	.destroy_connection = cb_destroy_connection,
};

/* Wait (1 ms steps, at most WAIT_MS) until *c reaches want. */
static bool
wait_count(int *c, int want)
{
	int64_t end = test_now_ms() + WAIT_MS;

	while (__atomic_load_n(c, __ATOMIC_ACQUIRE) < want && test_now_ms() < end)
		test_sleep_ms(1);
	return __atomic_load_n(c, __ATOMIC_ACQUIRE) == want;
}

static long
rss_kb(void)
{
	long size = 0, resident = -1;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static bool
under_asan(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return true;
#else
	return false;
#endif
#else
	return false;
#endif
}

/* ---- the front-end ---- */

struct fe {
	int sock;
	int mfd;
	uint8_t *mem;
	int evfd[4];		/* kick, call of vring 0; kick, call of vring 1 */
};

static int
fe_send(struct fe *fe, uint32_t req, const void *payload, uint32_t size, const int *fds,
	int nfds)
{
	return test_vu_send(fe->sock, req, payload, size, fds, nfds);
}

#define FE_SEND(fe, req, p, size, fds, nfds) \
	TEST_ASSERT(fe_send(fe, req, p, size, fds, nfds) == 0, "request %d: %s", \
		    (int)(req), strerror(errno))

static uint64_t
fe_get_features(struct fe *fe)
{
	struct pollfd p = { .fd = fe->sock, .events = POLLIN };
	struct vhost_user_msg r;
	size_t got = 0, want = VHOST_USER_HDR_SIZE + sizeof(uint64_t);

	FE_SEND(fe, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0);
	while (got < want) {
		ssize_t n;

		TEST_ASSERT(poll(&p, 1, WAIT_MS) == 1, "no GET_FEATURES reply");
		n = recv(fe->sock, (char *)&r + got, want - got, 0);
		TEST_ASSERT(n > 0, "GET_FEATURES reply: connection closed");
		got += (size_t)n;
	}
	TEST_ASSERT_EQ(r.hdr.request, VHOST_USER_GET_FEATURES);
	TEST_ASSERT_EQ(r.hdr.size, sizeof(uint64_t));
	return r.payload.u64;
}

static void
fe_close(struct fe *fe)
{
	unsigned int i;

	if (fe->sock >= 0)
		close(fe->sock);
	if (fe->mem != NULL && fe->mem != MAP_FAILED)
		munmap(fe->mem, GUEST_MEM_SIZE);
	if (fe->mfd >= 0)
		close(fe->mfd);
	for (i = 0; i < RTE_DIM(fe->evfd); i++)
		if (fe->evfd[i] >= 0)
			close(fe->evfd[i]);
	memset(fe, 0, sizeof(*fe));
	fe->sock = fe->mfd = -1;
	for (i = 0; i < RTE_DIM(fe->evfd); i++)
		fe->evfd[i] = -1;
}

static struct fe cur = { .sock = -1, .mfd = -1, .evfd = { -1, -1, -1, -1 } };

/* Connect and set everything up, as virtio-user does; new_device() follows. */
static void
fe_up(struct fe *fe, const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct vhost_user_memory m;
	uint64_t features;
	unsigned int i, q;

	fe->mfd = memfd_create("cycle-guest", MFD_CLOEXEC);
	TEST_ASSERT(fe->mfd >= 0 && ftruncate(fe->mfd, GUEST_MEM_SIZE) == 0);
	fe->mem = mmap(NULL, GUEST_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fe->mfd, 0);
	TEST_ASSERT(fe->mem != MAP_FAILED, "mmap: %s", strerror(errno));
	for (i = 0; i < RTE_DIM(fe->evfd); i++) {
		fe->evfd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		TEST_ASSERT(fe->evfd[i] >= 0);
	}
	fe->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	TEST_ASSERT(fe->sock >= 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%.*s", (int)sizeof(a.sun_path) - 1, path);
	TEST_ASSERT(connect(fe->sock, (struct sockaddr *)&a, sizeof(a)) == 0, "connect: %s",
		    strerror(errno));

	FE_SEND(fe, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0);
	features = fe_get_features(fe);
	features &= (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES);
	TEST_ASSERT(features & (1ULL << VIRTIO_F_VERSION_1));
	FE_SEND(fe, VHOST_USER_SET_FEATURES, &features, sizeof(features), NULL, 0);
	if (features & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)) {
		uint64_t pf = 1ULL << VHOST_USER_PROTOCOL_F_MQ;

		FE_SEND(fe, VHOST_USER_SET_PROTOCOL_FEATURES, &pf, sizeof(pf), NULL, 0);
	}
	memset(&m, 0, sizeof(m));
	m.nregions = 1;
	m.regions[0].guest_phys_addr = 0;
	m.regions[0].memory_size = GUEST_MEM_SIZE;
	m.regions[0].userspace_addr = GUEST_UADDR;
	FE_SEND(fe, VHOST_USER_SET_MEM_TABLE, &m, offsetof(struct vhost_user_memory, regions[1]),
		&fe->mfd, 1);
	for (q = 0; q < 2; q++) {
		struct vhost_user_vring_state st = { .index = q, .num = RING_SIZE };
		struct vhost_user_vring_addr addr = {
			.index = q,
			.desc_user_addr = GUEST_UADDR + DESC_OFF(q),
			.avail_user_addr = GUEST_UADDR + AVAIL_OFF(q),
			.used_user_addr = GUEST_UADDR + USED_OFF(q),
		};
		uint64_t u = q;

		FE_SEND(fe, VHOST_USER_SET_VRING_NUM, &st, sizeof(st), NULL, 0);
		st.num = 0;
		FE_SEND(fe, VHOST_USER_SET_VRING_BASE, &st, sizeof(st), NULL, 0);
		FE_SEND(fe, VHOST_USER_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0);
		FE_SEND(fe, VHOST_USER_SET_VRING_KICK, &u, sizeof(u), &fe->evfd[2 * q], 1);
		FE_SEND(fe, VHOST_USER_SET_VRING_CALL, &u, sizeof(u), &fe->evfd[2 * q + 1], 1);
	}
	for (q = 0; q < 2; q++) {
		struct vhost_user_vring_state st = { .index = q, .num = 1 };

		FE_SEND(fe, VHOST_USER_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0);
	}
}

static struct vring_desc *
ring_desc(struct fe *fe, int q)
{
	return (struct vring_desc *)(void *)(fe->mem + DESC_OFF(q));
}

static struct vring_avail *
ring_avail(struct fe *fe, int q)
{
	return (struct vring_avail *)(void *)(fe->mem + AVAIL_OFF(q));
}

static struct vring_used *
ring_used(struct fe *fe, int q)
{
	return (struct vring_used *)(void *)(fe->mem + USED_OFF(q));
}

/* Post one buffer (slot 0) on vring q: a packet to send, or room to receive. */
static void
fe_post(struct fe *fe, int q)
{
	uint8_t *buf = fe->mem + BUF_OFF(q);

	if (q == TX_VRING) {
		memset(buf, 0, NET_HDR_LEN);
		memset(buf + NET_HDR_LEN, 0xa5, PKT_LEN);
		ring_desc(fe, q)[0] = (struct vring_desc){ .addr = BUF_OFF(q),
			.len = NET_HDR_LEN + PKT_LEN };
	} else {
		ring_desc(fe, q)[0] = (struct vring_desc){ .addr = BUF_OFF(q), .len = BUF_LEN,
			.flags = VRING_DESC_F_WRITE };
	}
	ring_avail(fe, q)->ring[0] = 0;
	__atomic_store_n(&ring_avail(fe, q)->idx, 1, __ATOMIC_RELEASE);
}

/* One packet each way through the data path of vid. */
static void
one_packet_each_way(struct fe *fe, int vid)
{
	struct rte_mbuf *m = NULL;
	int64_t end = test_now_ms() + WAIT_MS;
	uint16_t n = 0;

	fe_post(fe, TX_VRING);
	while (n == 0 && test_now_ms() < end) {
		n = rte_vhost_dequeue_burst(vid, TX_VRING, pool, &m, 1);
		if (n == 0)
			test_sleep_ms(1);
	}
	TEST_ASSERT_EQ(n, 1);
	if (rte_pktmbuf_pkt_len(m) != PKT_LEN) {
		rte_pktmbuf_free(m);
		TEST_ASSERT(0, "dequeued %u bytes, sent %u", rte_pktmbuf_pkt_len(m), PKT_LEN);
	}
	TEST_ASSERT_EQ(__atomic_load_n(&ring_used(fe, TX_VRING)->idx, __ATOMIC_ACQUIRE), 1);

	fe_post(fe, RX_VRING);
	n = rte_vhost_enqueue_burst(vid, RX_VRING, &m, 1);
	rte_pktmbuf_free(m);
	TEST_ASSERT_EQ(n, 1);
	TEST_ASSERT_EQ(__atomic_load_n(&ring_used(fe, RX_VRING)->idx, __ATOMIC_ACQUIRE), 1);
	TEST_ASSERT_EQ(ring_used(fe, RX_VRING)->ring[0].len, NET_HDR_LEN + PKT_LEN);
}

TEST_CASE(thousand_sessions_leave_fds_and_rss_flat)
{
	char path[128];
	int base_fds = test_count_fds(), warm_fds = -1, end_fds, i;
	long warm_rss = -1, end_rss;
	int64_t t0 = 0, took;

	snprintf(path, sizeof(path), "%s/cycles.sock", tmpdir);
	TEST_ASSERT_EQ(rte_vhost_driver_register(path, 0), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_callback_register(path, &cycle_ops), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_start(path), 0);
	for (i = 1; i <= CYCLES; i++) {
		fe_up(&cur, path);
		TEST_ASSERT(wait_count(&new_devices, i), "cycle %d: no new_device()", i);
		one_packet_each_way(&cur, __atomic_load_n(&last_vid, __ATOMIC_ACQUIRE));
		fe_close(&cur);
		TEST_ASSERT(wait_count(&closed_conns, i), "cycle %d: no destroy_connection()", i);
		if (i == WARM_CYCLES) {
			/* the library closes its fds after the callback: let it */
			test_sleep_ms(20);
			warm_fds = test_count_fds();
			warm_rss = rss_kb();
			t0 = test_now_ms();
		}
	}
	took = test_now_ms() - t0;
	end_fds = test_fds_settle(0, warm_fds, WAIT_MS);
	end_rss = rss_kb();
	printf("# %d sessions: %.2f ms per session (connect, handshake, 1 packet each way, "
	       "close); fds %d at cycle %d, %d at cycle %d; RSS %ld kB at cycle %d, %ld kB at "
	       "cycle %d (%+ld kB, slack %d kB%s)\n", CYCLES,
	       (double)took / (CYCLES - WARM_CYCLES), warm_fds, WARM_CYCLES, end_fds, CYCLES,
	       warm_rss, WARM_CYCLES, end_rss, CYCLES, end_rss - warm_rss, RSS_SLACK_KB,
	       under_asan() ? ", not checked under ASan" : "");
	TEST_ASSERT_EQ(end_fds, warm_fds);
	TEST_ASSERT(warm_rss > 0 && end_rss > 0, "cannot read /proc/self/statm");
	if (!under_asan())
		TEST_ASSERT(end_rss - warm_rss <= RSS_SLACK_KB, "RSS grew by %ld kB over %d sessions",
			    end_rss - warm_rss, CYCLES - WARM_CYCLES);
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);
	TEST_ASSERT_EQ(test_fds_settle(0, base_fds, WAIT_MS), base_fds);
}

static void
noop_timer(void *arg)
{
}

static int
cycles_setup(int argc, char **argv)
{
	if (test_eal_init(argv[0], 64, "--log-level=lib.vhost.*:warning") < 0)
		return -1;
	pool = rte_pktmbuf_pool_create("cycles_pool", 255, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	if (pool == NULL)
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_vhost_cycles.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	/* the event loop starts now, so that its own fds are in every count */
	return vhost_event_timer(0, noop_timer, NULL);
}

static void
cycles_teardown(void)
{
	fe_close(&cur);
	rmdir(tmpdir);
	rte_mempool_free(pool);
	test_eal_cleanup();
}

TEST_MAIN(cycles_setup, cycles_teardown,
	TEST_ENTRY(thousand_sessions_leave_fds_and_rss_flat))

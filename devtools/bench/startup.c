/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * startup: how long a front-end takes to get a link and traffic, first and
 * after it restarts, over AF_UNIX or through dpdk-vvu-device (VVU), with the
 * public rte_vhost API only (like vhost_ir and scale):
 *
 *   LD_LIBRARY_PATH=build/lib/vhost build/devtools/bench/startup -t af_unix -n 20
 *   LD_LIBRARY_PATH=build/lib/vhost build/devtools/bench/startup -t vvu \
 *       -d build/app/vvu-device/dpdk-vvu-device -n 20
 *
 * The process is the back-end (one port registered with the library: a
 * socket path, or "vfio-user:<socket>" of a dpdk-vvu-device it starts) and
 * the front-end (vhost_fe.h: a polling virtio-net front-end in a 64 KiB
 * memfd, the message sequence of DPDK's virtio_user without its optional
 * requests). A poller thread plays the application: rte_vhost_dequeue_burst
 * on the live device, as net_vhost's Rx does, yielding the CPU when it got
 * nothing (it shares lcore 0 with the front-end).
 *
 * One round: the front-end connects and does the handshake; the library
 * calls new_device; the front-end posts one packet on its TX ring and kicks;
 * the poller dequeues it; the front-end closes the connection; the library
 * calls destroy_device. The next round connects at once: a front-end restart
 * (without the new process's own start-up, which is the front-end's cost).
 * A first round, a second after the port started (over VVU the driver has
 * attached by then), is reported alone: first_connect_linkup_ms, connect()
 * to new_device of the first front-end (over VVU the first connection may
 * cost the driver set-up the later ones reuse); the rounds after it are the
 * restarts.
 *
 * Per round, CLOCK_MONOTONIC, reported as median and max over the rounds:
 *   connect_linkup_ms     connect() to new_device;
 *   linkup_traffic_ms     new_device to the packet dequeued;
 *   close_down_ms         close() to destroy_device;
 *   restart_traffic_ms    close() of the previous round's connection to
 *                         this round's packet dequeued (restart -> traffic
 *                         flowing again).
 *   wakeups_per_round     voluntary context switches per round of this
 *                         process's threads and of the device: the hops a
 *                         round takes between threads and processes, which
 *                         the machine's load does not change (each one
 *                         costs a scheduling delay when CPUs are busy).
 * The front-end checks the packet's bytes; a round that fails (no link, no
 * packet, no destroy within STARTUP_WAIT_MS) ends the run with exit status 1.
 */

#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_vhost.h>

#include "test_eal.h"
#include "test_util.h"

#define STARTUP_RING		64
#define STARTUP_NR_VRING	2	/* vring 0: front-end RX, 1: front-end TX */
#define STARTUP_VRING_SPAN	0x4000
#define STARTUP_DRV_OFF		0x1000
#define STARTUP_DEV_OFF		0x2000
#define STARTUP_BUF_OFF		(STARTUP_NR_VRING * STARTUP_VRING_SPAN)
#define STARTUP_MEM_SIZE	0x10000
#define STARTUP_GPA_BASE	0x100000000ULL
#define STARTUP_HLEN		12	/* virtio_net_hdr_mrg_rxbuf (VERSION_1) */
#define STARTUP_PKT_LEN		64
#define STARTUP_WAIT_MS		10000
#define STARTUP_MAX_ROUNDS	1000
#define STARTUP_TX_VRING	1
#define STARTUP_SETTLE_MS	1000	/* port started -> first connect */

static char fe_path[108], vfu_path[108], reg_path[128];
static pid_t device_pid = -1;

static int cur_vid = -1;		/* atomics from here */
static bool poller_busy;
static bool stop;
static uint64_t t_up_ns, t_pkt_ns, t_down_ns;
static uint32_t pkt_len_seen;
static int pkt_bad;
/*
 * Eventfds, so that no thread of ours spins or naps while the library and
 * the device work (on a small machine that would take the CPU they need):
 * ev_up wakes the poller and the front-end at new_device, ev_pkt and
 * ev_down the front-end.
 */
static int ev_up_poller = -1, ev_up = -1, ev_pkt = -1, ev_down = -1;

static void
cleanup(void)
{
	if (device_pid > 0) {
		kill(device_pid, SIGTERM);
		waitpid(device_pid, NULL, 0);
		device_pid = -1;
	}
	if (fe_path[0] != '\0')
		unlink(fe_path);
	if (vfu_path[0] != '\0')
		unlink(vfu_path);
}

static void __attribute__((format(printf, 1, 2), noreturn))
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "startup: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cleanup();
	exit(1);
}

/* The front-end's vhost-user messages (they call die() on error). */
#include "vhost_fe.h"

/* ---- the back-end: callbacks and the poller ---- */

static int
cb_new_device(int vid)
{
	uint16_t i;

	for (i = 0; i < rte_vhost_get_vring_num(vid); i++)
		rte_vhost_enable_guest_notification(vid, i, 0);
	__atomic_store_n(&t_up_ns, test_now_ns(), __ATOMIC_RELEASE);
	__atomic_store_n(&cur_vid, vid, __ATOMIC_SEQ_CST);
	eventfd_write(ev_up_poller, 1);
	eventfd_write(ev_up, 1);
	return 0;
}

/* As net_vhost: the application stops using vid before this returns. */
static void
cb_destroy_device(int vid)
{
	RTE_SET_USED(vid);
	__atomic_store_n(&cur_vid, -1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&poller_busy, __ATOMIC_SEQ_CST))
		;
	__atomic_store_n(&t_down_ns, test_now_ns(), __ATOMIC_RELEASE);
	eventfd_write(ev_down, 1);
}

static const struct rte_vhost_device_ops ops = {
	.new_device = cb_new_device,
	.destroy_device = cb_destroy_device,
};

static void *
poller(void *arg)
{
	struct rte_mempool *pool = arg;
	struct rte_mbuf *pkts[32];
	uint16_t n, i;
	int vid;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		__atomic_store_n(&poller_busy, true, __ATOMIC_SEQ_CST);
		vid = __atomic_load_n(&cur_vid, __ATOMIC_SEQ_CST);
		n = vid >= 0 ? rte_vhost_dequeue_burst(vid, STARTUP_TX_VRING, pool, pkts,
						       RTE_DIM(pkts)) : 0;
		__atomic_store_n(&poller_busy, false, __ATOMIC_SEQ_CST);
		if (n > 0 && __atomic_load_n(&t_pkt_ns, __ATOMIC_RELAXED) == 0) {
			const uint8_t *d = rte_pktmbuf_mtod(pkts[0], const uint8_t *);

			__atomic_store_n(&pkt_len_seen, pkts[0]->pkt_len, __ATOMIC_RELAXED);
			for (i = 0; i < pkts[0]->data_len; i++)
				if (d[i] != (uint8_t)(i * 7 + 1))
					__atomic_store_n(&pkt_bad, 1, __ATOMIC_RELAXED);
			__atomic_store_n(&t_pkt_ns, test_now_ns(), __ATOMIC_RELEASE);
			eventfd_write(ev_pkt, 1);
		}
		rte_pktmbuf_free_bulk(pkts, n);
		/*
		 * Idle: let other threads of this CPU run. The front-end is one
		 * of them (EAL pinned the main thread, and so this thread, to
		 * lcore 0); spinning through a whole time slice here made
		 * link-up -> first packet a measure of the scheduler (3 to 4 ms
		 * on either transport), not of the library.
		 */
		if (n == 0 && vid >= 0)
			sched_yield();
		if (vid < 0) {
			/* No device: sleep until new_device (a PMD would spin). */
			struct pollfd p = { .fd = ev_up_poller, .events = POLLIN };
			eventfd_t v;

			if (poll(&p, 1, 100) == 1)
				eventfd_read(ev_up_poller, &v);
		}
	}
	return NULL;
}

/* ---- the front-end ---- */

struct fe {
	int memfd;
	uint8_t *mem;
	int kickfd[STARTUP_NR_VRING];
	int callfd[STARTUP_NR_VRING];
};

static void
fe_init(struct fe *f)
{
	unsigned int v;

	f->mem = vu_guest_mem("startup_guest", STARTUP_MEM_SIZE, &f->memfd);
	for (v = 0; v < STARTUP_NR_VRING; v++)
		vu_vring_eventfds(&f->kickfd[v], &f->callfd[v]);
}

/* A new session: clean rings, the virtio_user handshake; returns the socket. */
static int
fe_connect(struct fe *f, const char *path)
{
	const uint64_t want = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VU_F_PROTOCOL_FEATURES);
	unsigned int v;
	int sock;

	memset(f->mem, 0, STARTUP_MEM_SIZE);
	sock = vu_connect(path);
	vu_send(sock, VU_SET_OWNER, NULL, 0, NULL, 0);
	if ((vu_get_u64(sock, VU_GET_FEATURES) & want) != want)
		die("the back-end does not offer VERSION_1 and PROTOCOL_FEATURES");
	(void)vu_get_u64(sock, VU_GET_PROTOCOL_FEATURES);
	vu_send_u64(sock, VU_SET_PROTOCOL_FEATURES, 0, -1);
	vu_send_u64(sock, VU_SET_FEATURES, want, -1);
	vu_send_mem_table1(sock, STARTUP_GPA_BASE, STARTUP_MEM_SIZE, f->mem, f->memfd);
	for (v = 0; v < STARTUP_NR_VRING; v++) {
		uint8_t *base = f->mem + v * STARTUP_VRING_SPAN;

		((struct vring_avail *)(base + STARTUP_DRV_OFF))->flags =
			VRING_AVAIL_F_NO_INTERRUPT;
		vu_setup_vring(sock, v, STARTUP_RING, false, base, base + STARTUP_DRV_OFF,
			       base + STARTUP_DEV_OFF, f->kickfd[v], f->callfd[v]);
	}
	return sock;
}

/* One packet on the TX vring: header, then bytes i * 7 + 1; and a kick. */
static void
fe_send_packet(struct fe *f)
{
	uint8_t *base = f->mem + STARTUP_TX_VRING * STARTUP_VRING_SPAN;
	struct vring_desc *d = (struct vring_desc *)base;
	struct vring_avail *a = (struct vring_avail *)(base + STARTUP_DRV_OFF);
	uint8_t *buf = f->mem + STARTUP_BUF_OFF;
	unsigned int i;

	memset(buf, 0, STARTUP_HLEN);
	for (i = 0; i < STARTUP_PKT_LEN; i++)
		buf[STARTUP_HLEN + i] = (uint8_t)(i * 7 + 1);
	d[0] = (struct vring_desc){ .addr = STARTUP_GPA_BASE + STARTUP_BUF_OFF,
				    .len = STARTUP_HLEN + STARTUP_PKT_LEN };
	a->ring[0] = 0;
	__atomic_store_n(&a->idx, 1, __ATOMIC_RELEASE);
	if (eventfd_write(f->kickfd[STARTUP_TX_VRING], 1) < 0)
		die("kick: %s", strerror(errno));
}

/* Waits for *t != 0, signalled on efd; dies after STARTUP_WAIT_MS. */
static uint64_t
wait_stamp(uint64_t *t, int efd, const char *what)
{
	uint64_t limit = test_now_ns() + STARTUP_WAIT_MS * 1000000ULL, v;
	struct pollfd p = { .fd = efd, .events = POLLIN };
	eventfd_t n;

	while ((v = __atomic_load_n(t, __ATOMIC_ACQUIRE)) == 0) {
		if (test_now_ns() > limit)
			die("no %s within %d ms", what, STARTUP_WAIT_MS);
		if (poll(&p, 1, 10) == 1)
			eventfd_read(efd, &n);
	}
	return v;
}

/* ---- the device (VVU) ---- */

static void
device_start(const char *bin)
{
	struct stat sb;
	int i;

	snprintf(vfu_path, sizeof(vfu_path), "/tmp/startup.%d.vfu", (int)getpid());
	unlink(vfu_path);
	device_pid = fork();
	if (device_pid < 0)
		die("fork: %s", strerror(errno));
	if (device_pid == 0) {
		execl(bin, bin, "--vfio-user", vfu_path, "--vhost-user", fe_path, (char *)NULL);
		fprintf(stderr, "startup: exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	for (i = 0; i < STARTUP_WAIT_MS; i++) {
		if (stat(vfu_path, &sb) == 0 && stat(fe_path, &sb) == 0)
			return;
		if (waitpid(device_pid, NULL, WNOHANG) == device_pid) {
			device_pid = -1;
			die("%s exited at start", bin);
		}
		usleep(1000);
	}
	die("%s did not create its sockets", bin);
}

/* Voluntary context switches of this process and of the device so far. */
static uint64_t
wakeups(void)
{
	struct rusage ru;
	uint64_t n = 0;

	if (getrusage(RUSAGE_SELF, &ru) == 0)
		n = (uint64_t)ru.ru_nvcsw;
	if (device_pid > 0) {
		char path[64], line[128];
		unsigned long long v;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/status", (int)device_pid);
		f = fopen(path, "r");
		while (f != NULL && fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1)
				n += v;
		if (f != NULL)
			fclose(f);
	}
	return n;
}

static void
report(const char *name, uint64_t *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), test_cmp_u64);
	printf("%s_median: %.3f\n%s_max: %.3f\n", name, v[(n - 1) / 2] / 1e6, name,
	       v[n - 1] / 1e6);
}

static void
usage(const char *prog)
{
	fprintf(stderr, "usage: %s -t af_unix|vvu [-d DEVICE_BIN] [-n ROUNDS]\n", prog);
	exit(2);
}

int
main(int argc, char **argv)
{
	static uint64_t up[STARTUP_MAX_ROUNDS], traffic[STARTUP_MAX_ROUNDS];
	static uint64_t down[STARTUP_MAX_ROUNDS], restart[STARTUP_MAX_ROUNDS];
	const char *transport = NULL, *device = NULL;
	unsigned int rounds = 20, r;
	struct rte_mempool *pool;
	uint64_t t_close = 0, t_conn, w0 = 0, w1;
	pthread_t th;
	Dl_info dl;
	struct fe f;
	int opt, sock;

	while ((opt = getopt(argc, argv, "t:d:n:")) != -1) {
		switch (opt) {
		case 't':
			transport = optarg;
			break;
		case 'd':
			device = optarg;
			break;
		case 'n':
			rounds = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		default:
			usage(argv[0]);
		}
	}
	if (transport == NULL || rounds == 0 || rounds > STARTUP_MAX_ROUNDS ||
	    (strcmp(transport, "vvu") == 0 && device == NULL) ||
	    (strcmp(transport, "vvu") != 0 && strcmp(transport, "af_unix") != 0))
		usage(argv[0]);
	ev_up_poller = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ev_up = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ev_pkt = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ev_down = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ev_up_poller < 0 || ev_up < 0 || ev_pkt < 0 || ev_down < 0)
		die("eventfd: %s", strerror(errno));
	if (test_eal_init(argv[0], 128, "--log-level=lib.vhost.*:error", "-l", "0") < 0)
		die("EAL init: %s", rte_strerror(rte_errno));
	if (dladdr((void *)(uintptr_t)rte_vhost_driver_register, &dl) == 0 ||
	    dl.dli_fname == NULL)
		die("cannot tell which librte_vhost is loaded");
	pool = rte_pktmbuf_pool_create("startup", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	if (pool == NULL)
		die("mempool: %s", rte_strerror(rte_errno));
	snprintf(fe_path, sizeof(fe_path), "/tmp/startup.%d.sock", (int)getpid());
	unlink(fe_path);
	if (strcmp(transport, "vvu") == 0) {
		device_start(device);
		snprintf(reg_path, sizeof(reg_path), "vfio-user:%s", vfu_path);
	} else {
		snprintf(reg_path, sizeof(reg_path), "%s", fe_path);
	}
	if (rte_vhost_driver_register(reg_path, 0) != 0 ||
	    rte_vhost_driver_callback_register(reg_path, &ops) != 0 ||
	    rte_vhost_driver_start(reg_path) != 0)
		die("cannot start the vhost port %s", reg_path);
	if (pthread_create(&th, NULL, poller, pool) != 0)
		die("cannot start the poller");
	fe_init(&f);
	usleep(STARTUP_SETTLE_MS * 1000);

	for (r = 0; r <= rounds; r++) {
		/* Round 0 warms up: over VVU, the driver attaches meanwhile. */
		__atomic_store_n(&t_up_ns, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&t_pkt_ns, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&t_down_ns, 0, __ATOMIC_RELAXED);
		if (r == 1)
			w0 = wakeups();
		t_conn = test_now_ns();
		if (r == 0) {
			uint64_t limit = t_conn + STARTUP_WAIT_MS * 1000000ULL;

			/* The device listens once the driver is ready. */
			for (;;) {
				t_conn = test_now_ns();
				sock = fe_connect(&f, fe_path);
				for (int i = 0; i < 50 && !__atomic_load_n(&t_up_ns,
						__ATOMIC_ACQUIRE); i++)
					usleep(10000);
				if (__atomic_load_n(&t_up_ns, __ATOMIC_ACQUIRE) != 0 ||
				    test_now_ns() > limit)
					break;
				close(sock);
			}
		} else {
			sock = fe_connect(&f, fe_path);
		}
		up[r] = wait_stamp(&t_up_ns, ev_up, "new_device") - t_conn;
		fe_send_packet(&f);
		traffic[r] = wait_stamp(&t_pkt_ns, ev_pkt, "packet") - t_up_ns;
		if (__atomic_load_n(&pkt_len_seen, __ATOMIC_RELAXED) != STARTUP_PKT_LEN ||
		    __atomic_load_n(&pkt_bad, __ATOMIC_RELAXED))
			die("round %u: the packet came out wrong", r);
		if (r > 0)
			restart[r] = t_pkt_ns - t_close;
		t_close = test_now_ns();
		close(sock);
		down[r] = wait_stamp(&t_down_ns, ev_down, "destroy_device") - t_close;
	}
	w1 = wakeups();
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	printf("library: %s\ntransport: %s\nrounds: %u\n", dl.dli_fname, transport, rounds);
	printf("first_connect_linkup_ms: %.3f\n", up[0] / 1e6);
	report("connect_linkup_ms", up + 1, rounds);
	report("linkup_traffic_ms", traffic + 1, rounds);
	report("close_down_ms", down + 1, rounds);
	report("restart_traffic_ms", restart + 1, rounds);
	printf("wakeups_per_round: %.1f\n", (double)(w1 - w0) / rounds);
	rte_vhost_driver_unregister(reg_path);
	cleanup();
	rte_mempool_free(pool);
	test_eal_cleanup();
	return 0;
}

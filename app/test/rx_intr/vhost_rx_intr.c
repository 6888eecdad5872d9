/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dpdk-test-vhost-rx-intr: a vhost back-end that sleeps until packets come.
 *
 * It uses only the public rte_vhost API, the way an interrupt-driven
 * application (a power-aware switch, a storage back-end) does: it enables
 * guest notifications on the front-end's TX vring, waits in epoll on the
 * vring's kickfd (rte_vhost_get_vhost_vring), and when woken drains the
 * vring with rte_vhost_dequeue_burst. Over AF_UNIX the kickfd is the
 * front-end's own eventfd; over virtio-vhost-user it is the driver's
 * eventfd behind the kick's MSI-X vector. The same binary runs on Debian's
 * library or ours (LD_LIBRARY_PATH).
 *
 * Usage: dpdk-test-vhost-rx-intr [EAL args] -- --iface PATH [--client] [--seconds N]
 *
 * stdout, one line each, for the end-to-end tests to parse:
 *   "ready"                                      new_device() was called
 *   "stats wakeups=W packets=P empty=E cpu_ms=C" on SIGUSR1 and at exit
 * W counts kickfd wake-ups, P packets dequeued, E wake-ups that found no
 * packet, C this process's CPU time (user + system). The process exits 0
 * after --seconds (default 30) or on SIGTERM/SIGINT.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_vhost.h>

#define RX_VRING	1	/* the front-end's TX: our receive vring */
#define BURST		32
#define NB_MBUFS	2047
#define WAIT_MS		100

static volatile sig_atomic_t stop, report;
static int dev_vid = -1;		/* set by new_device, cleared by destroy_device */
static bool dev_changed;
static pthread_mutex_t dev_lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
	uint64_t wakeups;
	uint64_t packets;
	uint64_t empty;
} st;

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		report = 1;
	else
		stop = 1;
}

static int
new_device(int vid)
{
	pthread_mutex_lock(&dev_lock);
	dev_vid = vid;
	dev_changed = true;
	pthread_mutex_unlock(&dev_lock);
	return 0;
}

static void
destroy_device(int vid)
{
	pthread_mutex_lock(&dev_lock);
	if (dev_vid == vid) {
		dev_vid = -1;
		dev_changed = true;
	}
	pthread_mutex_unlock(&dev_lock);
}

static const struct rte_vhost_device_ops ops = {
	.new_device = new_device,
	.destroy_device = destroy_device,
};

static uint64_t
cpu_ms(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
		(uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

static void
print_stats(void)
{
	printf("stats wakeups=%" PRIu64 " packets=%" PRIu64 " empty=%" PRIu64
	       " cpu_ms=%" PRIu64 "\n", st.wakeups, st.packets, st.empty, cpu_ms());
	fflush(stdout);
}

/* Dequeue until the vring is empty; returns the packets taken. */
static unsigned int
drain(int vid, struct rte_mempool *pool)
{
	struct rte_mbuf *pkts[BURST];
	unsigned int total = 0;
	uint16_t n;

	do {
		n = rte_vhost_dequeue_burst(vid, RX_VRING, pool, pkts, BURST);
		rte_pktmbuf_free_bulk(pkts, n);
		total += n;
	} while (n == BURST);
	return total;
}

/* Watch vid's RX kickfd (with notifications on); -1 if there is none. */
static int
arm(int ep, int vid, int *kickfd)
{
	struct rte_vhost_vring vring;
	struct epoll_event ev = { .events = EPOLLIN };

	if (rte_vhost_get_vhost_vring(vid, RX_VRING, &vring) < 0 || vring.kickfd < 0) {
		fprintf(stderr, "vid %d: vring %d has no kickfd: cannot sleep on it\n", vid,
			RX_VRING);
		return -1;
	}
	if (rte_vhost_enable_guest_notification(vid, RX_VRING, 1) < 0)
		return -1;
	ev.data.fd = vring.kickfd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, vring.kickfd, &ev) < 0)
		return -1;
	*kickfd = vring.kickfd;
	return 0;
}

static void
usage(const char *prog)
{
	fprintf(stderr, "usage: %s [EAL args] -- --iface PATH [--client] [--seconds N]\n",
		prog);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "iface", required_argument, NULL, 'i' },
		{ "client", no_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *iface = NULL;
	struct rte_mempool *pool;
	uint64_t flags = 0;
	struct timespec t0, now;
	int ret, opt, seconds = 30, ep, kickfd = -1, vid = -1;

	ret = rte_eal_init(argc, argv);
	if (ret < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 1;
	}
	argc -= ret;
	argv += ret;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			iface = optarg;
			break;
		case 'c':
			flags |= RTE_VHOST_USER_CLIENT;
			break;
		case 's':
			seconds = atoi(optarg);
			break;
		default:
			usage(argv[0]);
			return 2;
		}
	}
	if (iface == NULL || seconds <= 0) {
		usage(argv[0]);
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGUSR1, on_signal);

	pool = rte_pktmbuf_pool_create("rx_intr", NB_MBUFS, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       rte_socket_id());
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (pool == NULL || ep < 0) {
		fprintf(stderr, "no mbuf pool or epoll\n");
		return 1;
	}
	if (rte_vhost_driver_register(iface, flags) < 0 ||
	    rte_vhost_driver_callback_register(iface, &ops) < 0 ||
	    rte_vhost_driver_start(iface) < 0) {
		fprintf(stderr, "%s: cannot register or start\n", iface);
		return 1;
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop) {
		struct epoll_event ev;
		eventfd_t v;
		unsigned int n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= seconds)
			break;
		if (report) {
			report = 0;
			print_stats();
		}
		pthread_mutex_lock(&dev_lock);
		if (dev_changed) {
			dev_changed = false;
			if (kickfd >= 0)
				epoll_ctl(ep, EPOLL_CTL_DEL, kickfd, NULL);
			kickfd = -1;
			vid = dev_vid;
			if (vid >= 0 && arm(ep, vid, &kickfd) == 0) {
				printf("ready\n");
				fflush(stdout);
			}
		}
		pthread_mutex_unlock(&dev_lock);

		if (epoll_wait(ep, &ev, 1, WAIT_MS) != 1 || kickfd < 0)
			continue;
		st.wakeups++;
		eventfd_read(kickfd, &v);
		/*
		 * Drain with notifications on: a kick that comes while we drain
		 * wakes the next epoll_wait, so no packet waits for a timeout.
		 */
		pthread_mutex_lock(&dev_lock);
		n = vid == dev_vid ? drain(vid, pool) : 0;
		pthread_mutex_unlock(&dev_lock);
		st.packets += n;
		if (n == 0)
			st.empty++;
	}
	print_stats();
	rte_vhost_driver_unregister(iface);
	close(ep);
	rte_eal_cleanup();
	return 0;
}

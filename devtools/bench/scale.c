/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scale: many vhost-user ports in one back-end process, over the public
 * rte_vhost API only, so that the same binary measures our library or
 * Debian's (LD_LIBRARY_PATH picks librte_vhost.so.23, as for vhost_ir):
 *
 *   LD_LIBRARY_PATH=build/lib/vhost build/devtools/bench/scale -p 128
 *   LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu build/devtools/bench/scale -p 128
 *
 * The process is the back-end (PORTS server sockets registered and started
 * with the library, whose event thread serves them) and, in its main thread,
 * PORTS front-ends (vhost_fe.h: virtio_user's message sequence, one queue
 * pair of 256-entry split rings in a 32 KiB memfd per port, polling).
 *
 * Modes (-m): "burst" (default) connects every front-end at once and drives
 * the handshakes side by side, step by step (all GET_FEATURES, then all
 * GET_PROTOCOL_FEATURES, then the rest), as when a host starts many guests;
 * "seq" brings one port up completely before connecting the next.
 *
 * What it reports ("key: value" lines; devtools/bench/scale.sh tabulates):
 *   linkup_median_ms, linkup_max_ms  connect() of a front-end to the
 *       library's new_device for that port (CLOCK_MONOTONIC, taken in the
 *       callback), over the ports;
 *   all_up_ms                        first connect to last new_device;
 *   rss_kib_per_port                 VmRSS growth from before the ports were
 *       registered to all up, divided by the ports (EAL memory is anonymous,
 *       --no-huge, so rte_malloc'ed state counts once touched);
 *   fds_per_port                     the library's open fds, same interval,
 *       per port (the front-ends' own fds are subtracted);
 *   events_cpu_ms, events_cpu_us_per_port  CPU time of the library's
 *       "vhost-events" thread (both libraries name it so) over registration
 *       and bring-up: /proc/self/task/TID/schedstat (ns), or utime+stime of
 *       .../stat (clock ticks) where schedstat is missing;
 *   events_minflt_per_port, events_wakeups_per_port,
 *   events_preempted_per_port        the same thread's minor page faults,
 *       voluntary context switches (it slept and was woken) and involuntary
 *       ones, same interval, per port: counts, which load changes little
 *       (wake-ups a little: a busier thread finds more work per wake-up);
 *   teardown_minflt_per_port         its minor page faults during teardown;
 *   teardown_ms, teardown_cpu_ms     all front-ends close, to the last
 *       destroy_device, and the event thread's CPU time meanwhile.
 * A warm-up port is registered and started before the baseline, so that the
 * event thread (created on first start by both libraries) is not charged to
 * the ports.
 *
 * Checks: every port must come up exactly once and go down exactly once,
 * within SCALE_WAIT_MS; otherwise the run ends with exit status 1.
 */

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_vhost.h>

#include "test_eal.h"
#include "test_util.h"

#define SCALE_MAX_PORTS		1000	/* under RTE_MAX_VHOST_DEVICE (1024) */
#define SCALE_RING		256
#define SCALE_NR_VRING		2	/* one queue pair */
#define SCALE_VRING_SPAN	0x4000	/* descriptors, driver area, device area */
#define SCALE_DRV_OFF		0x1000
#define SCALE_DEV_OFF		0x2000
#define SCALE_MEM_SIZE		(SCALE_NR_VRING * SCALE_VRING_SPAN)
#define SCALE_GPA_BASE		0x100000000ULL
#define SCALE_WAIT_MS		30000
#define SCALE_EVENT_THREAD	"vhost-events"
/*
 * Between starting the ports and the first connect. DPDK 22.11's fdset
 * thread sees a listening socket added while it waits in poll() only when
 * that poll times out (1 s, no wake-up on add): without a pause, Debian's
 * figures would measure that, not the connection.
 */
#define SCALE_SETTLE_MS		1100
/* Front-end fds per port made before the baseline: memfd, kick and call. */
#define SCALE_FE_FDS_EARLY	(1 + 2 * SCALE_NR_VRING)

struct port {
	char path[108];
	int sock;			/* front-end's connection, -1 before */
	int memfd;
	uint8_t *mem;
	int kickfd[SCALE_NR_VRING];
	int callfd[SCALE_NR_VRING];
	uint64_t t_connect_ns;
	uint64_t t_up_ns;		/* written by the library's thread */
	int ups, downs;
};

static struct port *ports;
static unsigned int nb_ports;
static char warm_path[108];
static int up_count, down_count;	/* atomics */
static int bad_callbacks;		/* a callback for a port we do not know */

static void __attribute__((format(printf, 1, 2), noreturn))
die(const char *fmt, ...)
{
	va_list ap;
	unsigned int i;

	fprintf(stderr, "scale: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	for (i = 0; ports != NULL && i < nb_ports; i++)
		unlink(ports[i].path);
	if (warm_path[0] != '\0')
		unlink(warm_path);
	exit(1);
}

/* The front-end's vhost-user messages (they call die() on error). */
#include "vhost_fe.h"

/* Ports are named PREFIX.<index>: find the index from the library's ifname. */
static struct port *
port_of(int vid)
{
	char name[PATH_MAX];
	const char *dot;
	unsigned long i;
	char *end;

	if (rte_vhost_get_ifname(vid, name, sizeof(name)) != 0)
		return NULL;
	dot = strrchr(name, '.');
	if (dot == NULL)
		return NULL;
	i = strtoul(dot + 1, &end, 10);
	if (*end != '\0' || i >= nb_ports || strcmp(ports[i].path, name) != 0)
		return NULL;
	return &ports[i];
}

static int
cb_new_device(int vid)
{
	uint64_t t = test_now_ns();
	struct port *p = port_of(vid);

	if (p == NULL) {
		__atomic_fetch_add(&bad_callbacks, 1, __ATOMIC_RELAXED);
		return 0;
	}
	__atomic_store_n(&p->t_up_ns, t, __ATOMIC_RELAXED);
	__atomic_fetch_add(&p->ups, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&up_count, 1, __ATOMIC_RELEASE);
	return 0;
}

static void
cb_destroy_device(int vid)
{
	struct port *p = port_of(vid);

	if (p == NULL) {
		__atomic_fetch_add(&bad_callbacks, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_fetch_add(&p->downs, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&down_count, 1, __ATOMIC_RELEASE);
}

static const struct rte_vhost_device_ops ops = {
	.new_device = cb_new_device,
	.destroy_device = cb_destroy_device,
};

/* ---- what the process uses ---- */

static long
rss_kib(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		die("/proc/self/status: %s", strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
			break;
	fclose(f);
	if (v < 0)
		die("no VmRSS in /proc/self/status");
	return v;
}

static long
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (d == NULL)
		die("/proc/self/fd: %s", strerror(errno));
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own fd */
}

/* The tid of the library's event thread, or -1. */
static long
event_thread(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	long tid = -1;

	if (d == NULL)
		die("/proc/self/task: %s", strerror(errno));
	while (tid < 0 && (e = readdir(d)) != NULL) {
		char path[300], comm[64] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fgets(comm, sizeof(comm), f) != NULL) {
			comm[strcspn(comm, "\n")] = '\0';
			if (strcmp(comm, SCALE_EVENT_THREAD) == 0)
				tid = strtol(e->d_name, NULL, 10);
		}
		fclose(f);
	}
	closedir(d);
	return tid;
}

static const char *cpu_source = "none";

/* CPU time of thread tid in ns: schedstat, or utime+stime in clock ticks. */
static uint64_t
thread_cpu_ns(long tid)
{
	char path[64], buf[1024];
	unsigned long long ns, ut, st;
	FILE *f;
	char *p;

	if (tid < 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/task/%ld/schedstat", tid);
	f = fopen(path, "r");
	if (f != NULL) {
		int ok = fscanf(f, "%llu", &ns) == 1;

		fclose(f);
		if (ok) {
			cpu_source = "schedstat";
			return ns;
		}
	}
	snprintf(path, sizeof(path), "/proc/self/task/%ld/stat", tid);
	f = fopen(path, "r");
	if (f == NULL || fgets(buf, sizeof(buf), f) == NULL)
		die("%s: %s", path, strerror(errno));
	fclose(f);
	/* Fields after the command name, which may hold spaces: 14 and 15. */
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				&ut, &st) != 2)
		die("cannot parse %s", path);
	cpu_source = "stat";
	return (ut + st) * (1000000000ULL / (uint64_t)sysconf(_SC_CLK_TCK));
}

/*
 * Counts of thread tid that load does not change much: minor page faults
 * (/proc/.../stat field 10) and context switches, voluntary (the thread
 * went to sleep: one wake-up each) and not (.../status). 0 if unknown.
 */
struct thread_counts {
	unsigned long long minflt;
	unsigned long long vcsw;
	unsigned long long nvcsw;
};

static struct thread_counts
thread_counts(long tid)
{
	struct thread_counts c = { 0, 0, 0 };
	char path[64], buf[1024];
	FILE *f;
	char *p;

	if (tid < 0)
		return c;
	snprintf(path, sizeof(path), "/proc/self/task/%ld/stat", tid);
	f = fopen(path, "r");
	if (f != NULL) {
		if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL &&
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %llu", &c.minflt) != 1)
			c.minflt = 0;
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/self/task/%ld/status", tid);
	f = fopen(path, "r");
	if (f != NULL) {
		while (fgets(buf, sizeof(buf), f) != NULL) {
			if (sscanf(buf, "voluntary_ctxt_switches: %llu", &c.vcsw) == 1)
				continue;
			if (sscanf(buf, "nonvoluntary_ctxt_switches: %llu", &c.nvcsw) == 1)
				continue;
		}
		fclose(f);
	}
	return c;
}

/* ---- front-ends ---- */

static void
port_prepare(struct port *p, unsigned int i)
{
	unsigned int v;

	snprintf(p->path, sizeof(p->path), "/tmp/vhost_scale.%d.%u", (int)getpid(), i);
	unlink(p->path);
	p->sock = -1;
	p->mem = vu_guest_mem("vhost_scale_guest", SCALE_MEM_SIZE, &p->memfd);
	memset(p->mem, 0, SCALE_MEM_SIZE);
	for (v = 0; v < SCALE_NR_VRING; v++)
		vu_vring_eventfds(&p->kickfd[v], &p->callfd[v]);
}

static void
port_release(struct port *p)
{
	unsigned int v;

	for (v = 0; v < SCALE_NR_VRING; v++) {
		close(p->kickfd[v]);
		close(p->callfd[v]);
	}
	munmap(p->mem, SCALE_MEM_SIZE);
	close(p->memfd);
}

/* The handshake in three steps, so that "burst" can interleave the ports. */
static void
fe_step(struct port *p, int step)
{
	const uint64_t want = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VU_F_PROTOCOL_FEATURES);
	unsigned int v;

	switch (step) {
	case 0:
		p->t_connect_ns = test_now_ns();
		p->sock = vu_connect(p->path);
		vu_send(p->sock, VU_GET_FEATURES, NULL, 0, NULL, 0);
		break;
	case 1:
		if ((vu_recv_u64(p->sock, VU_GET_FEATURES) & want) != want)
			die("%s: the library does not offer VERSION_1 and PROTOCOL_FEATURES",
			    p->path);
		vu_send(p->sock, VU_GET_PROTOCOL_FEATURES, NULL, 0, NULL, 0);
		break;
	default:
		(void)vu_recv_u64(p->sock, VU_GET_PROTOCOL_FEATURES);
		vu_send_u64(p->sock, VU_SET_PROTOCOL_FEATURES, 0, -1);
		vu_send(p->sock, VU_SET_OWNER, NULL, 0, NULL, 0);
		vu_send_u64(p->sock, VU_SET_FEATURES, want, -1);
		vu_send_mem_table1(p->sock, SCALE_GPA_BASE, SCALE_MEM_SIZE, p->mem, p->memfd);
		for (v = 0; v < SCALE_NR_VRING; v++) {
			uint8_t *base = p->mem + v * SCALE_VRING_SPAN;

			vu_setup_vring(p->sock, v, SCALE_RING, false, base, base + SCALE_DRV_OFF,
				       base + SCALE_DEV_OFF, p->kickfd[v], p->callfd[v]);
		}
		break;
	}
}

/* Waits until the counter reaches n; dies after SCALE_WAIT_MS. */
static void
wait_count(int *counter, unsigned int n, const char *what)
{
	uint64_t limit = test_now_ns() + SCALE_WAIT_MS * 1000000ULL;

	while ((unsigned int)__atomic_load_n(counter, __ATOMIC_ACQUIRE) < n) {
		if (test_now_ns() > limit)
			die("%u of %u ports %s within %d ms", (unsigned int)*counter, n, what,
			    SCALE_WAIT_MS);
		usleep(100);
	}
}

static void
usage(const char *prog)
{
	fprintf(stderr, "usage: %s -p PORTS [-m burst|seq]\n", prog);
	exit(2);
}

int
main(int argc, char **argv)
{
	uint64_t *lat, t_first = UINT64_MAX, t_last = 0, t0, t1, cpu0, cpu1, cpu2;
	long rss0, rss1, fds0, fds1, tid;
	struct thread_counts cnt0, cnt1, cnt2;
	struct rlimit rl;
	bool seq = false;
	unsigned int i;
	int opt, step;
	Dl_info dl;

	while ((opt = getopt(argc, argv, "p:m:")) != -1) {
		switch (opt) {
		case 'p':
			nb_ports = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'm':
			if (strcmp(optarg, "seq") == 0)
				seq = true;
			else if (strcmp(optarg, "burst") != 0)
				usage(argv[0]);
			break;
		default:
			usage(argv[0]);
		}
	}
	if (nb_ports == 0 || nb_ports > SCALE_MAX_PORTS)
		usage(argv[0]);
	/* About 15 fds a port between the two sides: lift the soft limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (test_eal_init(argv[0], 256, "--log-level=lib.vhost.*:error", "-l", "0") < 0)
		die("EAL init: %s", rte_strerror(rte_errno));
	if (dladdr((void *)(uintptr_t)rte_vhost_driver_register, &dl) == 0 ||
	    dl.dli_fname == NULL)
		die("cannot tell which librte_vhost is loaded");

	ports = calloc(nb_ports, sizeof(*ports));
	lat = calloc(nb_ports, sizeof(*lat));
	if (ports == NULL || lat == NULL)
		die("out of memory");
	for (i = 0; i < nb_ports; i++)
		port_prepare(&ports[i], i);
	/* The warm-up port starts the library's event thread. */
	snprintf(warm_path, sizeof(warm_path), "/tmp/vhost_scale.%d.warm", (int)getpid());
	unlink(warm_path);
	if (rte_vhost_driver_register(warm_path, 0) != 0 ||
	    rte_vhost_driver_callback_register(warm_path, &ops) != 0 ||
	    rte_vhost_driver_start(warm_path) != 0)
		die("cannot start the vhost-user socket %s", warm_path);
	tid = event_thread();
	if (tid < 0)
		fprintf(stderr, "scale: no thread named %s: CPU time not measured\n",
			SCALE_EVENT_THREAD);

	rss0 = rss_kib();
	fds0 = open_fds();
	cpu0 = thread_cpu_ns(tid);
	cnt0 = thread_counts(tid);
	for (i = 0; i < nb_ports; i++)
		if (rte_vhost_driver_register(ports[i].path, 0) != 0 ||
		    rte_vhost_driver_callback_register(ports[i].path, &ops) != 0 ||
		    rte_vhost_driver_start(ports[i].path) != 0)
			die("cannot start the vhost-user socket %s", ports[i].path);
	usleep(SCALE_SETTLE_MS * 1000);
	if (seq) {
		for (i = 0; i < nb_ports; i++) {
			for (step = 0; step < 3; step++)
				fe_step(&ports[i], step);
			wait_count(&up_count, i + 1, "up");
		}
	} else {
		for (step = 0; step < 3; step++)
			for (i = 0; i < nb_ports; i++)
				fe_step(&ports[i], step);
	}
	wait_count(&up_count, nb_ports, "up");
	/* Let the thread finish what follows new_device (replies, logging). */
	usleep(20000);
	cpu1 = thread_cpu_ns(tid);
	cnt1 = thread_counts(tid);
	rss1 = rss_kib();
	fds1 = open_fds();

	for (i = 0; i < nb_ports; i++) {
		struct port *p = &ports[i];

		if (p->ups != 1)
			die("%s came up %d times", p->path, p->ups);
		lat[i] = p->t_up_ns - p->t_connect_ns;
		t_first = RTE_MIN(t_first, p->t_connect_ns);
		t_last = RTE_MAX(t_last, p->t_up_ns);
	}
	qsort(lat, nb_ports, sizeof(*lat), test_cmp_u64);

	/* Teardown: every front-end goes away at once. */
	t0 = test_now_ns();
	for (i = 0; i < nb_ports; i++)
		close(ports[i].sock);
	wait_count(&down_count, nb_ports, "down");
	t1 = test_now_ns();
	cpu2 = thread_cpu_ns(tid);
	cnt2 = thread_counts(tid);
	printf("library: %s\n", dl.dli_fname);
	printf("ports: %u\nmode: %s\nup: %d\ndown: %d\n", nb_ports, seq ? "seq" : "burst",
	       up_count, down_count);
	printf("linkup_median_ms: %.3f\nlinkup_max_ms: %.3f\nall_up_ms: %.3f\n",
	       lat[(nb_ports - 1) / 2] / 1e6, lat[nb_ports - 1] / 1e6, (t_last - t_first) / 1e6);
	printf("teardown_ms: %.3f\n", (t1 - t0) / 1e6);
	printf("rss_kib_per_port: %.1f\n", (double)(rss1 - rss0) / nb_ports);
	printf("fds_per_port: %.2f\n",
	       (double)(fds1 - fds0 - (long)nb_ports) / nb_ports);
	printf("cpu_source: %s\n", cpu_source);
	printf("events_cpu_ms: %.3f\nevents_cpu_us_per_port: %.1f\nteardown_cpu_ms: %.3f\n",
	       (cpu1 - cpu0) / 1e6, (cpu1 - cpu0) / 1e3 / nb_ports, (cpu2 - cpu1) / 1e6);
	printf("events_minflt_per_port: %.2f\nevents_wakeups_per_port: %.2f\n"
	       "events_preempted_per_port: %.2f\n",
	       (double)(cnt1.minflt - cnt0.minflt) / nb_ports,
	       (double)(cnt1.vcsw - cnt0.vcsw) / nb_ports,
	       (double)(cnt1.nvcsw - cnt0.nvcsw) / nb_ports);
	printf("teardown_minflt_per_port: %.2f\n", (double)(cnt2.minflt - cnt1.minflt) / nb_ports);
	for (i = 0; i < nb_ports; i++) {
		if (ports[i].downs != 1)
			die("%s went down %d times", ports[i].path, ports[i].downs);
		rte_vhost_driver_unregister(ports[i].path);
		unlink(ports[i].path);
		port_release(&ports[i]);
	}
	rte_vhost_driver_unregister(warm_path);
	unlink(warm_path);
	if (bad_callbacks != 0)
		die("%d callbacks for unknown ports", bad_callbacks);
	free(lat);
	free(ports);
	test_eal_cleanup();
	return 0;
}

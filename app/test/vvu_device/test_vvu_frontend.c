/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device between a scripted driver and a REAL front-end: Debian's
 * dpdk-testpmd with a net_virtio_user port on the device's vhost-user
 * socket.
 *
 * The driver (this process, lib/vfio_user's client) negotiates, reads the
 * config space, walks the capability chain, puts rxq/txq in its own memfd,
 * DMA-maps it, sets DRIVER_OK and BACKEND_UP. Then testpmd starts and the
 * driver answers it as a vhost-user back-end would, through rxq/txq only:
 * GET_FEATURES (VERSION_1, PROTOCOL_FEATURES, MRG_RXBUF), GET_PROTOCOL_
 * FEATURES (MQ | REPLY_ACK), GET_QUEUE_NUM (1), GET_VRING_BASE, and an ack
 * for every NEED_REPLY request. The test checks that GET_FEATURES,
 * SET_MEM_TABLE and SET_VRING_NUM/BASE/ADDR/KICK arrive in that order, and
 * that when SET_MEM_TABLE arrives BAR2's region info has one mmappable
 * area per memory region (our sparse_mmap_fds extension).
 *
 * Bounded: at most 30 s for the sequence, 10 s for testpmd to quit; every
 * process is killed by pid. Skipped (with the reason) without dpdk-testpmd
 * or free 2 MiB hugepages. testpmd runs --in-memory, so no hugepage file
 * is left behind, and with its own --file-prefix.
 */

#include <fcntl.h>

#include "test.h"
#include "vvu_test_peer.h"

#define FE_TESTPMD		"dpdk-testpmd"
#define FE_F_PROTOCOL_FEATURES	30	/* VHOST_USER_F_PROTOCOL_FEATURES */
#define FE_F_MRG_RXBUF		15	/* VIRTIO_NET_F_MRG_RXBUF */
#define FE_HUGE_MIN		160	/* 2 MiB pages: -m 256 plus slack */
#define FE_SEQ_MS		30000
#define FE_QUIT_MS		10000
#define FE_MAX_SEQ		256
#define FE_KILL_MS		5000	/* testpmd's exit after SIGKILL */

static struct peer_dev pd = { .pid = -1 };
static pid_t fe_pid = -1;
static int fe_stdin = -1;
static char fe_log[160];
static char fe_prefix[64];

static int
fe_setup(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	/* BAR2 of 1 GiB: testpmd's -m 256 fits with room to spare */
	return peer_dev_start(&pd, "frontend", 1ULL << 30);
}

static void
fe_kill(void)
{
	char rundir[96];

	if (fe_pid > 0) {
		test_proc_stop(fe_pid, SIGKILL, FE_KILL_MS);
		/* EAL's runtime dir: --in-memory leaves it, empty, when killed */
		snprintf(rundir, sizeof(rundir), "/var/run/dpdk/%s", fe_prefix);
		rmdir(rundir);
	}
	fe_pid = -1;
	if (fe_stdin >= 0)
		close(fe_stdin);
	fe_stdin = -1;
}

static void
fe_teardown(void)
{
	fe_kill();
	if (fe_log[0] != '\0' && getenv("VVU_TEST_KEEP_LOG") == NULL)
		unlink(fe_log);
	peer_dev_stop(&pd);
}

/* Why the test cannot run here, or NULL. */
static const char *
skip_reason(void)
{
	static char why[128];
	char line[128];
	long free_pages = -1;
	FILE *f;
	bool mounted = false;

	if (system("command -v " FE_TESTPMD " >/dev/null 2>&1") != 0)
		return FE_TESTPMD " is not installed";
	f = fopen("/proc/mounts", "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, " hugetlbfs ") != NULL)
			mounted = true;
	if (f != NULL)
		fclose(f);
	if (!mounted)
		return "no hugetlbfs mounted";
	f = fopen("/proc/meminfo", "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		sscanf(line, "HugePages_Free: %ld", &free_pages);
	if (f != NULL)
		fclose(f);
	if (free_pages < FE_HUGE_MIN) {
		snprintf(why, sizeof(why), "%ld free hugepages, need %d", free_pages,
			 FE_HUGE_MIN);
		return why;
	}
	return NULL;
}

/* Start testpmd in interactive mode, stdin a pipe we hold, output to a log. */
static void
fe_start(void)
{
	char vdev[256];
	char *argv[] = {
		(char *)(uintptr_t)FE_TESTPMD, (char *)(uintptr_t)"-l", (char *)(uintptr_t)"0,1",
		(char *)(uintptr_t)"--no-pci", (char *)(uintptr_t)"--in-memory",
		(char *)(uintptr_t)"--single-file-segments", (char *)(uintptr_t)"-m",
		(char *)(uintptr_t)"256", (char *)(uintptr_t)"--file-prefix", fe_prefix,
		(char *)(uintptr_t)"--vdev", vdev, (char *)(uintptr_t)"--",
		(char *)(uintptr_t)"-i", (char *)(uintptr_t)"--total-num-mbufs=2048",
		(char *)(uintptr_t)"--rxq=1", (char *)(uintptr_t)"--txq=1", NULL,
	};
	int in[2], out;

	snprintf(fe_prefix, sizeof(fe_prefix), "vvu-fe-%d", (int)getpid());
	snprintf(vdev, sizeof(vdev), "net_virtio_user0,path=%s,queues=1", pd.vu_path);
	snprintf(fe_log, sizeof(fe_log), "/tmp/%s.log", fe_prefix);
	TEST_ASSERT(pipe2(in, O_CLOEXEC) == 0);
	out = open(fe_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	TEST_ASSERT(out >= 0);
	fe_pid = test_spawn_exec(argv, in[0], out);
	close(in[0]);
	close(out);
	fe_stdin = in[1];
	TEST_ASSERT(fe_pid > 0, "fork: %s", strerror(errno));
}

static bool
fe_alive(void)
{
	return test_proc_alive(fe_pid);
}

struct fe_seen {
	uint32_t req;
	uint32_t index;		/* vring index for SET_VRING_* */
};

static struct fe_seen seq[FE_MAX_SEQ];
static unsigned int nseq;

/* Position of the first req (for queue q, or any queue if q < 0) after from. */
static int
seq_find(uint32_t req, int q, int from)
{
	unsigned int i;

	for (i = (unsigned int)(from < 0 ? 0 : from); i < nseq; i++)
		if (seq[i].req == req && (q < 0 || seq[i].index == (uint32_t)q))
			return (int)i;
	return -1;
}

static uint32_t
vring_index(const struct vhost_user_msg *m)
{
	switch (m->hdr.request) {
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		return (uint32_t)(m->payload.u64 & VHOST_USER_VRING_IDX_MASK);
	case VHOST_USER_SET_VRING_NUM:
	case VHOST_USER_SET_VRING_BASE:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_SET_VRING_ENABLE:
		return m->payload.state.index;
	case VHOST_USER_SET_VRING_ADDR:
		return m->payload.addr.index;
	default:
		return UINT32_MAX;
	}
}

/* BAR2 as the driver sees it right after SET_MEM_TABLE: one area per region. */
static int bar2_areas_ok = -1;

static void
check_bar2(struct peer_drv *d, const struct vhost_user_msg *m)
{
	struct vfio_user_region r;
	uint64_t off = 0;
	unsigned int i;

	TEST_ASSERT(vfio_user_client_get_region_info(d->cli, VFIO_PCI_BAR2_REGION_INDEX,
						     &r) == 0);
	TEST_ASSERT(r.flags & VFIO_REGION_INFO_FLAG_MMAP, "BAR2 not mmappable");
	TEST_ASSERT_EQ(r.nr_areas, m->payload.memory.nregions);
	for (i = 0; i < r.nr_areas; i++) {
		void *va;

		/* vvu_device_spec.rst §L.8: windows packed in message order */
		TEST_ASSERT_EQ(r.areas[i].offset, off);
		TEST_ASSERT_EQ(r.areas[i].size, m->payload.memory.regions[i].memory_size);
		va = mmap(NULL, r.areas[i].size, PROT_READ | PROT_WRITE, MAP_SHARED,
			  r.areas[i].fd, (off_t)r.areas[i].fd_offset);
		TEST_ASSERT(va != MAP_FAILED, "BAR2 area %u: mmap: %s", i, strerror(errno));
		munmap(va, r.areas[i].size);
		off += r.areas[i].size;
	}
	vfio_user_region_close(&r);
	bar2_areas_ok = 1;
}

static void
reply_u64(struct peer_drv *d, uint32_t req, uint64_t v)
{
	peer_tx_reply(d, req, &v, sizeof(v));
}

/* Answer one front-end message as a minimal vhost-user net back-end. */
static void
answer(struct peer_drv *d, const struct vhost_user_msg *m)
{
	struct vhost_user_vring_state st;

	switch (m->hdr.request) {
	case VHOST_USER_GET_FEATURES:
		reply_u64(d, m->hdr.request, (1ULL << VIRTIO_F_VERSION_1) |
			  (1ULL << FE_F_PROTOCOL_FEATURES) | (1ULL << FE_F_MRG_RXBUF));
		return;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		reply_u64(d, m->hdr.request, (1ULL << VHOST_USER_PROTO_F_MQ) |
			  (1ULL << VHOST_USER_PROTO_F_REPLY_ACK));
		return;
	case VHOST_USER_GET_QUEUE_NUM:
		reply_u64(d, m->hdr.request, 1);
		return;
	case VHOST_USER_GET_VRING_BASE:
		st = (struct vhost_user_vring_state){ m->payload.state.index, 0 };
		peer_tx_reply(d, m->hdr.request, &st, sizeof(st));
		return;
	case VHOST_USER_SET_MEM_TABLE:
		check_bar2(d, m);
		break;
	default:
		break;
	}
	/* REPLY_ACK: a zero u64 means success */
	if (m->hdr.flags & VHOST_USER_NEED_REPLY)
		reply_u64(d, m->hdr.request, 0);
}

static void
fe_fail_log(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "tail -n 15 %s >&2", fe_log);
	fprintf(stderr, "--- %s (tail) ---\n", fe_log);
	if (system(cmd) != 0)
		fprintf(stderr, "(no log)\n");
}

TEST_CASE(testpmd_frontend_through_device)
{
	struct vhost_user_msg m;
	struct peer_drv d;
	const char *why = skip_reason();
	int64_t end;
	int base, i_feat, i_mem, i_num, i_base, i_addr, i_kick;
	uint32_t p, hops = 0;
	bool saw_caps[9] = { false };

	if (why != NULL)
		TEST_SKIP("%s", why);
	base = peer_dev_fds(&pd);
	peer_drv_up(&d, &pd);
	/* walk the capability chain the way a driver finds its windows */
	for (p = (uint32_t)peer_rd(&d, CFG, PCI_CAPABILITY_LIST, 1); p != 0;
	     p = (uint32_t)peer_rd(&d, CFG, p + 1, 1)) {
		TEST_ASSERT(hops++ < 16, "capability loop");
		if (peer_rd(&d, CFG, p, 1) == PCI_CAP_ID_VNDR) {
			uint32_t t = (uint32_t)peer_rd(&d, CFG, p + 3, 1);

			if (t < 9)
				saw_caps[t] = true;
		}
	}
	TEST_ASSERT(saw_caps[1] && saw_caps[2] && saw_caps[3] && saw_caps[4] &&
		    saw_caps[6] && saw_caps[7] && saw_caps[8], "virtio caps missing");
	TEST_ASSERT_EQ(peer_rd(&d, BAR0, VVU_BAR0_DEVCFG, 4), VVU_STATUS_BACKEND_UP);

	fe_start();
	end = test_now_ms() + FE_SEQ_MS;
	while (test_now_ms() < end &&
	       (seq_find(VHOST_USER_SET_VRING_KICK, 0, seq_find(VHOST_USER_SET_MEM_TABLE, -1,
								 0)) < 0 ||
		seq_find(VHOST_USER_SET_VRING_KICK, 1, seq_find(VHOST_USER_SET_MEM_TABLE, -1,
								 0)) < 0)) {
		if (peer_rx_next(&d, 100, &m) == NULL) {
			if (!fe_alive()) {
				fe_fail_log();
				TEST_ASSERT(false, "testpmd exited early");
			}
			continue;
		}
		TEST_ASSERT(nseq < FE_MAX_SEQ);
		seq[nseq].req = m.hdr.request;
		seq[nseq].index = vring_index(&m);
		nseq++;
		answer(&d, &m);
	}
	if (test_verbose()) {
		unsigned int k;

		for (k = 0; k < nseq; k++)
			fprintf(stderr, "front-end msg %u: request %u index %d\n", k, seq[k].req,
				(int)seq[k].index);
	}
	i_feat = seq_find(VHOST_USER_GET_FEATURES, -1, 0);
	i_mem = seq_find(VHOST_USER_SET_MEM_TABLE, -1, 0);
	i_num = seq_find(VHOST_USER_SET_VRING_NUM, 0, i_mem);
	i_base = seq_find(VHOST_USER_SET_VRING_BASE, 0, i_num);
	i_addr = seq_find(VHOST_USER_SET_VRING_ADDR, 0, i_base);
	i_kick = seq_find(VHOST_USER_SET_VRING_KICK, 0, i_addr);
	if (i_kick < 0)
		fe_fail_log();
	TEST_ASSERT(i_feat >= 0, "no GET_FEATURES (%u messages)", nseq);
	TEST_ASSERT(i_mem > i_feat, "no SET_MEM_TABLE after GET_FEATURES");
	TEST_ASSERT_EQ(bar2_areas_ok, 1);
	TEST_ASSERT(i_num > i_mem && i_base > i_num && i_addr > i_base && i_kick > i_addr,
		    "vring 0 sequence: num %d base %d addr %d kick %d (mem %d)", i_num, i_base,
		    i_addr, i_kick, i_mem);
	TEST_ASSERT(peer_rd(&d, BAR0, VVU_BAR0_DEVCFG, 4) & VVU_STATUS_FRONTEND_UP);

	/* quit testpmd, answering what it asks on the way out (GET_VRING_BASE) */
	(void)!write(fe_stdin, "quit\n", 5);
	end = test_now_ms() + FE_QUIT_MS;
	while (fe_alive() && test_now_ms() < end) {
		if (peer_rx_next(&d, 50, &m) == NULL)
			continue;
		if (test_verbose())
			fprintf(stderr, "front-end msg on quit: request %u flags %#x\n",
				m.hdr.request, m.hdr.flags);
		answer(&d, &m);
	}
	if (test_verbose())
		fprintf(stderr, "testpmd %s after quit\n", fe_alive() ? "still running" : "gone");
	fe_kill();
	/* the front-end left: both status bits clear, the device still serves */
	end = test_now_ms() + 2000;
	while (peer_rd(&d, BAR0, VVU_BAR0_DEVCFG, 4) != 0 && test_now_ms() < end)
		test_sleep_ms(5);
	TEST_ASSERT_EQ(peer_rd(&d, BAR0, VVU_BAR0_DEVCFG, 4), 0);
	TEST_ASSERT(peer_dev_alive(&pd));
	peer_drv_down(&d);
	TEST_ASSERT(peer_dev_fds_back_to(&pd, base, 3000), "device fds %d, baseline %d",
		    peer_dev_fds(&pd), base);
}

TEST_MAIN(fe_setup, fe_teardown,
	TEST_ENTRY(testpmd_frontend_through_device))

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A hostile QEMU against the real dpdk-vvu-device --qemu-proxy-fd (argv[1]
 * or $VVU_DEVICE; forked and exec'd with one end of a socketpair, the test
 * holding the other), as test_vvu_hostile.c does for vfio-user.
 *
 * A content error (bad BAR address or access size, bad config offset or
 * length, a payload size or fd count wrong for its command, bad SYNC_SYSMEM
 * regions, a message in pieces) must be answered as the command takes and
 * leave the device serving, with its fd count back at the baseline taken
 * before. A stalled peer must not stop the vhost-user side. A framing error
 * or a command QEMU never sends must make the device log one line and exit
 * 1; QEMU closing the socket, one line and exit 0. The device's stderr goes
 * to a file the test reads.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "test.h"
#include "vvu_proxy_peer.h"

/* execv() takes char *: string literals need their const cast away */
#define ARG(s)		((char *)(uintptr_t)(s))
#define STOP_MS		5000
#define EXIT_MS		3000

static const char *device_path;

struct proxy_dev {
	pid_t pid;
	char dir[64];
	char vu_path[128];
	char log_path[128];
	int dev_fd;		/* the device's end, for the child */
	int log_fd;
};

static struct proxy_dev pd = { .pid = -1 };
static struct qpeer q;

static void dev_stop(void);

static int
exec_device(void *arg)
{
	struct proxy_dev *d = arg;
	char fd_arg[16];
	char *argv[] = {
		ARG(device_path), ARG("--qemu-proxy-fd"), fd_arg, ARG("--vhost-user"),
		d->vu_path, ARG("--queues"), ARG("4"), ARG("-v"), NULL,
	};

	/* only the device's end crosses exec (both were made close-on-exec) */
	if (fcntl(d->dev_fd, F_SETFD, 0) < 0)
		return 126;
	dup2(d->log_fd, STDERR_FILENO);
	snprintf(fd_arg, sizeof(fd_arg), "%d", d->dev_fd);
	execv(argv[0], argv);
	return 127;
}

/* A fresh device process with its vhost-user socket up; the QEMU end in q. */
static void
dev_start(void)
{
	int sv[2], i;

	/* a case that failed half-way left its device behind */
	if (pd.pid > 0)
		dev_stop();
	snprintf(pd.dir, sizeof(pd.dir), "/tmp/vvu-proxy-hostile-XXXXXX");
	TEST_ASSERT(mkdtemp(pd.dir) != NULL);
	snprintf(pd.vu_path, sizeof(pd.vu_path), "%s/vu.sock", pd.dir);
	snprintf(pd.log_path, sizeof(pd.log_path), "%s/device.log", pd.dir);
	pd.log_fd = open(pd.log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	TEST_ASSERT(pd.log_fd >= 0);
	TEST_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	qp_init(&q, sv[0], NULL, NULL);
	pd.dev_fd = sv[1];
	pd.pid = test_spawn(exec_device, &pd, TEST_FD_NULL, TEST_FD_INHERIT);
	close(sv[1]);
	close(pd.log_fd);
	TEST_ASSERT(pd.pid > 0);
	for (i = 0; i < 300 && access(pd.vu_path, F_OK) != 0; i++)
		test_sleep_ms(10);
	TEST_ASSERT(access(pd.vu_path, F_OK) == 0, "the device did not start");
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_VENDOR_ID, 2), 0x1AF4);
}

/* Lines of the device's log containing what. */
static int
log_lines(const char *what)
{
	char line[512];
	int n = 0;
	FILE *f = fopen(pd.log_path, "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, what) != NULL)
			n++;
	fclose(f);
	if (test_verbose())
		printf("log: %d lines with \"%s\"\n", n, what);
	return n;
}

static void
dev_stop(void)
{
	if (pd.pid > 0)
		test_proc_stop(pd.pid, SIGKILL, STOP_MS);
	pd.pid = -1;
	if (q.fd >= 0)
		close(q.fd);
	q.fd = -1;
	qp_ram_down(&q);
	unlink(pd.vu_path);
	unlink(pd.log_path);
	rmdir(pd.dir);
}

/* The device exits by itself within EXIT_MS; its exit status, or -1. */
static int
dev_exit_status(void)
{
	int st = test_proc_stop(pd.pid, 0, EXIT_MS);

	pd.pid = -1;
	if (st < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* Still alive, serving, and holding no fd beyond the baseline. */
static void
check_serving(int baseline)
{
	TEST_ASSERT(test_proc_alive(pd.pid), "the device process died");
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_DEVICE_ID, 2), 0x106B);
	TEST_ASSERT(test_fds_settle(pd.pid, baseline, 2000) == baseline,
		    "device fds %d, baseline %d", test_count_fds_of(pd.pid), baseline);
}

static int
baseline_fds(void)
{
	int n = test_count_fds_of(pd.pid);

	TEST_ASSERT(n > 0);
	return n;
}

TEST_CASE(bad_bar_addresses_and_sizes)
{
	int base;

	dev_start();
	qp_program_bars(&q);
	base = baseline_fds();
	TEST_ASSERT_EQ(qp_wr(&q, QP_BAR0 + VIRTIO_PCI_COMMON_STATUS, 1, 1), 0);
	/* in no BAR, around BAR0, across its end, in I/O space */
	TEST_ASSERT_EQ(qp_rd(&q, 0x1000, 4), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR0 - 1, 2), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR0 + VVU_BAR0_SIZE - 1, 2), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR2 + (256u << 20) - 4, 8), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_rd(&q, UINT64_MAX, 1), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_bar_access(&q, false, QP_BAR0, 0, 4, 0), QP_ALL_ONES);
	/* writes there change nothing */
	TEST_ASSERT_EQ(qp_wr(&q, QP_BAR0 + VVU_BAR0_SIZE + VIRTIO_PCI_COMMON_STATUS, 0, 1),
		       QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_bar_access(&q, true, QP_BAR0 + VIRTIO_PCI_COMMON_STATUS, 0, 1, 0),
		       QP_ALL_ONES);
	/* odd sizes */
	TEST_ASSERT_EQ(qp_bar_access(&q, false, QP_BAR0, 0, 0, 1), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_bar_access(&q, false, QP_BAR0, 0, 5, 1), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_bar_access(&q, true, QP_BAR0 + VIRTIO_PCI_COMMON_STATUS, 0, 64, 1),
		       QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_bar_access(&q, false, QP_BAR0, 0, UINT32_MAX, 1), QP_ALL_ONES);
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR0 + VIRTIO_PCI_COMMON_STATUS, 1), 1);
	/* memory decoding off: the BARs are gone */
	qp_cfg_wr(&q, PCI_COMMAND, 0, 2);
	TEST_ASSERT_EQ(qp_rd(&q, QP_BAR0 + VIRTIO_PCI_COMMON_STATUS, 1), QP_ALL_ONES);
	check_serving(base);
	/* one line per refusal */
	TEST_ASSERT_EQ(log_lines("refused") + log_lines("in no BAR") + log_lines("crosses"), 13);
	dev_stop();
}

TEST_CASE(bad_config_accesses)
{
	static const struct { uint32_t addr; int32_t len; } bad[] = {
		{ 0, 0 }, { 0, 3 }, { 0, 8 }, { 0, -1 }, { 0x100, 1 }, { 0xfd, 4 },
		{ 0xffffffff, 1 }, { 0xfffffffe, 4 }, { 0x80000000, 2 },
	};
	unsigned int i;
	int base;

	dev_start();
	base = baseline_fds();
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		TEST_ASSERT_EQ(qp_cfg_rd(&q, bad[i].addr, bad[i].len), QP_ALL_ONES);
		TEST_ASSERT_EQ(qp_cfg_wr(&q, bad[i].addr, 0, bad[i].len), QP_ALL_ONES);
	}
	TEST_ASSERT_EQ(qp_cfg_rd(&q, 0xfc, 4), 0);
	/* read-only identity stays */
	qp_cfg_wr(&q, PCI_VENDOR_ID, 0xdeadbeef, 4);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_VENDOR_ID, 2), 0x1AF4);
	check_serving(base);
	dev_stop();
}

TEST_CASE(wrong_sizes_and_fd_counts)
{
	struct vvu_dev_proxy_cfg c = { .addr = 0, .len = 2 };
	uint8_t junk[VVU_PROXY_PAYLOAD_MAX] = {0};
	int efd = eventfd(0, EFD_CLOEXEC);
	int mfd = qp_memfd("hostile", 1 << 20);
	int fds[VVU_PROXY_MAX_FDS], base, i;

	TEST_ASSERT(efd >= 0 && mfd >= 0);
	for (i = 0; i < VVU_PROXY_MAX_FDS; i++)
		fds[i] = i % 2 ? efd : mfd;
	dev_start();
	base = baseline_fds();
	/* payload sizes */
	qp_send(&q, VVU_PROXY_CFG_READ, junk, 11, NULL, 0);
	TEST_ASSERT_EQ(qp_reply(&q), QP_ALL_ONES);
	qp_send(&q, VVU_PROXY_CFG_WRITE, junk, 24, NULL, 0);
	TEST_ASSERT_EQ(qp_reply(&q), QP_ALL_ONES);
	qp_send(&q, VVU_PROXY_BAR_READ, junk, 12, NULL, 0);
	TEST_ASSERT_EQ(qp_reply(&q), QP_ALL_ONES);
	qp_send(&q, VVU_PROXY_BAR_WRITE, junk, 0, NULL, 0);
	TEST_ASSERT_EQ(qp_reply(&q), QP_ALL_ONES);
	qp_send(&q, VVU_PROXY_DEVICE_RESET, junk, 4, NULL, 0);
	TEST_ASSERT_EQ(qp_reply(&q), QP_ALL_ONES);
	qp_send(&q, VVU_PROXY_SYNC_SYSMEM, junk, 191, fds, 1);
	qp_send(&q, VVU_PROXY_SET_IRQFD, junk, 1, fds, 2);
	/* fds where none belong, too few, too many (up to the 8 a message may carry) */
	qp_send(&q, VVU_PROXY_CFG_READ, &c, sizeof(c), fds, 1);
	TEST_ASSERT_EQ(qp_reply(&q), QP_ALL_ONES);
	qp_send(&q, VVU_PROXY_BAR_READ, junk, 24, fds, VVU_PROXY_MAX_FDS);
	TEST_ASSERT_EQ(qp_reply(&q), QP_ALL_ONES);
	qp_send(&q, VVU_PROXY_DEVICE_RESET, NULL, 0, fds, 2);
	TEST_ASSERT_EQ(qp_reply(&q), QP_ALL_ONES);
	qp_send(&q, VVU_PROXY_SET_IRQFD, NULL, 0, NULL, 0);
	qp_send(&q, VVU_PROXY_SET_IRQFD, NULL, 0, fds, 1);
	qp_send(&q, VVU_PROXY_SET_IRQFD, NULL, 0, fds, VVU_PROXY_MAX_FDS);
	qp_send(&q, VVU_PROXY_SYNC_SYSMEM, junk, sizeof(junk), NULL, 0);
	/* no reply owed to the last four: the next reply is this read's */
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_DEVICE_ID, 2), 0x106B);
	check_serving(base);
	TEST_ASSERT_EQ(log_lines("refused"), 14);
	close(efd);
	close(mfd);
	dev_stop();
}

TEST_CASE(bad_sysmem_regions)
{
	int ram = qp_memfd("hostile-ram", 1 << 20), efd = eventfd(0, EFD_CLOEXEC);
	uint64_t gpa[VVU_PROXY_MAX_FDS], size[VVU_PROXY_MAX_FDS];
	int64_t off[VVU_PROXY_MAX_FDS];
	int fds[VVU_PROXY_MAX_FDS], base, i;

	TEST_ASSERT(ram >= 0 && efd >= 0);
	for (i = 0; i < VVU_PROXY_MAX_FDS; i++) {
		gpa[i] = (uint64_t)i << 20;
		size[i] = 1 << 20;
		off[i] = 0;
		fds[i] = ram;
	}
	dev_start();
	base = baseline_fds();
	/* eight good regions: mapped (the baseline counts no mapping) */
	qp_sync(&q, VVU_PROXY_MAX_FDS, gpa, size, off, fds);
	TEST_ASSERT_EQ(qp_cfg_rd(&q, PCI_VENDOR_ID, 2), 0x1AF4);
	/* then each bad one: refused, all of guest RAM unmapped, fds closed */
	size[3] = UINT64_MAX;
	qp_sync(&q, 4, gpa, size, off, fds);
	size[3] = 1 << 20;
	off[2] = -1;
	qp_sync(&q, 4, gpa, size, off, fds);
	off[2] = 1 << 20;	/* the file ends there */
	qp_sync(&q, 4, gpa, size, off, fds);
	off[2] = 0;
	fds[1] = efd;
	qp_sync(&q, 4, gpa, size, off, fds);
	fds[1] = ram;
	gpa[1] = gpa[0] + 4096;
	qp_sync(&q, 4, gpa, size, off, fds);
	check_serving(base);
	TEST_ASSERT_EQ(log_lines("guest RAM unmapped"), 5);
	close(ram);
	close(efd);
	dev_stop();
}

/* A message in pieces, with pauses: one reply, when it is whole. */
TEST_CASE(message_in_pieces)
{
	struct vvu_dev_proxy_bar a = { .addr = QP_BAR0 + VIRTIO_PCI_COMMON_NUMQ, .size = 2,
				       .memory = 1 };
	struct vvu_dev_proxy_hdr h = { .cmd = VVU_PROXY_BAR_READ, .size = sizeof(a) };
	uint8_t msg[sizeof(h) + sizeof(a)];
	static const size_t cuts[] = { 3, 13, 16, 17, 30, sizeof(msg) };
	size_t at = 0, i;
	uint64_t v;
	int base;

	dev_start();
	qp_program_bars(&q);
	base = baseline_fds();
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), &a, sizeof(a));
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		TEST_ASSERT(send(q.fd, msg + at, cuts[i] - at, MSG_NOSIGNAL) ==
			    (ssize_t)(cuts[i] - at));
		at = cuts[i];
		if (at < sizeof(msg))
			TEST_ASSERT(!qp_try_reply(&q, 30, &v), "reply at byte %zu", at);
	}
	TEST_ASSERT_EQ(qp_reply(&q), VVU_NUM_VQS);
	check_serving(base);
	dev_stop();
}

/*
 * A peer that stops inside a message holds up only itself: the front-end
 * still gets through to the guest's rxq (in guest RAM), and the message is
 * answered once it is whole.
 */
TEST_CASE(stalled_peer_costs_only_itself)
{
	struct vvu_dev_proxy_cfg c = { .addr = PCI_VENDOR_ID, .len = 2 };
	struct vvu_dev_proxy_hdr h = { .cmd = VVU_PROXY_CFG_READ, .size = sizeof(c) };
	struct vhost_user_msg m;
	int fe;

	dev_start();
	qp_program_bars(&q);
	qp_ram_up(&q);
	qp_driver_up(&q);
	fe = qp_fe_connect(pd.vu_path);
	TEST_ASSERT(qp_wait_frontend_up(&q, QP_WAIT_MS), "no FRONTEND_UP");
	/* half a header, then silence from QEMU */
	TEST_ASSERT(send(q.fd, &h, 8, MSG_NOSIGNAL) == 8);
	test_sleep_ms(100);
	qp_fe_send(fe, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0);
	{
		const struct vring_used_elem *used = (const void *)(q.ram + QP_RXU + 4);
		int64_t end = test_now_ms() + QP_WAIT_MS;

		while (qp_used_idx(&q, true) == 0 && test_now_ms() < end)
			test_sleep_ms(2);
		TEST_ASSERT_EQ(qp_used_idx(&q, true), 1);
		memcpy(&m, q.ram + QP_RXBUF + QP_BUF_LEN * used[0].id, VHOST_USER_HDR_SIZE);
		TEST_ASSERT_EQ(m.hdr.request, VHOST_USER_GET_FEATURES);
	}
	/* the rest of the message, seconds later: answered */
	TEST_ASSERT(send(q.fd, (uint8_t *)&h + 8, 8, MSG_NOSIGNAL) == 8);
	TEST_ASSERT(send(q.fd, &c, sizeof(c), MSG_NOSIGNAL) == sizeof(c));
	TEST_ASSERT_EQ(qp_reply(&q), 0x1AF4);
	TEST_ASSERT(test_proc_alive(pd.pid));
	close(fe);
	dev_stop();
}

/* ---- the session ends: one line, an exit status ---- */

static void
expect_exit(int status, const char *log_says)
{
	TEST_ASSERT_EQ(dev_exit_status(), status);
	TEST_ASSERT_EQ(log_lines(log_says), 1);
	TEST_ASSERT_EQ(log_lines("resetting the device and exiting"), 1);
	/* the vhost-user socket it created is gone with it */
	TEST_ASSERT(access(pd.vu_path, F_OK) != 0, "%s left behind", pd.vu_path);
	dev_stop();
}

TEST_CASE(qemu_closes_exit_0)
{
	int fe;

	dev_start();
	qp_program_bars(&q);
	qp_ram_up(&q);
	qp_driver_up(&q);
	fe = qp_fe_connect(pd.vu_path);
	TEST_ASSERT(qp_wait_frontend_up(&q, QP_WAIT_MS), "no FRONTEND_UP");
	close(q.fd);
	q.fd = -1;
	TEST_ASSERT(qp_wait_eof(&q, fe, QP_WAIT_MS), "front-end not dropped");
	close(fe);
	expect_exit(0, "QEMU closed the socket");
}

TEST_CASE(qemu_closes_inside_a_message_exit_0)
{
	struct vvu_dev_proxy_hdr h = { .cmd = VVU_PROXY_BAR_WRITE, .size = 24 };

	dev_start();
	TEST_ASSERT(send(q.fd, &h, sizeof(h), MSG_NOSIGNAL) == sizeof(h));
	close(q.fd);
	q.fd = -1;
	expect_exit(0, "QEMU closed the socket inside a message");
}

TEST_CASE(oversized_message_exit_1)
{
	dev_start();
	qp_send(&q, VVU_PROXY_SYNC_SYSMEM, NULL, 4096, NULL, 0);
	expect_exit(1, "larger than any");
}

TEST_CASE(unknown_command_exit_1)
{
	dev_start();
	qp_send(&q, 8, NULL, 0, NULL, 0);
	expect_exit(1, "unexpected command 8");
}

TEST_CASE(ret_from_qemu_exit_1)
{
	uint64_t v = 0;

	dev_start();
	qp_send(&q, VVU_PROXY_RET, &v, sizeof(v), NULL, 0);
	expect_exit(1, "unexpected command 1 (RET)");
}

TEST_CASE(too_many_fds_exit_1)
{
	struct vvu_dev_proxy_cfg c = { .addr = 0, .len = 2 };
	int fds[VVU_PROXY_MAX_FDS + 1], i;

	dev_start();
	for (i = 0; i <= VVU_PROXY_MAX_FDS; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	qp_send(&q, VVU_PROXY_CFG_READ, &c, sizeof(c), fds, VVU_PROXY_MAX_FDS + 1);
	for (i = 0; i <= VVU_PROXY_MAX_FDS; i++)
		close(fds[i]);
	expect_exit(1, "more than 8 fds");
}

TEST_CASE(bad_options)
{
	char *const no_fd[] = { ARG(device_path), ARG("--qemu-proxy-fd"), ARG("0"),
				ARG("--vhost-user"), ARG("/tmp/x"), NULL };
	char *const big[] = { ARG(device_path), ARG("--qemu-proxy-fd"), ARG("0"),
			      ARG("--vhost-user"), ARG("/tmp/x"), ARG("--shm-size"), ARG("2G"),
			      NULL };
	char *const both[] = { ARG(device_path), ARG("--qemu-proxy-fd"), ARG("0"),
			       ARG("--vfio-user"), ARG("/tmp/y"), ARG("--vhost-user"),
			       ARG("/tmp/x"), NULL };
	char *const *argvs[] = { no_fd, big, both };
	unsigned int i;

	/* stdin is /dev/null: not a socket */
	for (i = 0; i < sizeof(argvs) / sizeof(argvs[0]); i++) {
		pid_t pid = test_spawn_exec(argvs[i], TEST_FD_NULL, TEST_FD_NULL);
		int st = test_proc_stop(pid, 0, EXIT_MS);

		TEST_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 2,
			    "case %u: status %#x", i, st);
	}
}

static int
setup(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	device_path = argc > 1 ? argv[1] : getenv("VVU_DEVICE");
	if (device_path == NULL || access(device_path, X_OK) != 0) {
		printf("FAIL: test_vvu_proxy_hostile/setup: no dpdk-vvu-device (argv[1] or "
		       "VVU_DEVICE)\n");
		return 1;
	}
	q.fd = -1;
	q.ram_fd = -1;
	return 0;
}

static void
teardown(void)
{
	dev_stop();
}

TEST_MAIN(setup, teardown,
	TEST_ENTRY(bad_bar_addresses_and_sizes),
	TEST_ENTRY(bad_config_accesses),
	TEST_ENTRY(wrong_sizes_and_fd_counts),
	TEST_ENTRY(bad_sysmem_regions),
	TEST_ENTRY(message_in_pieces),
	TEST_ENTRY(stalled_peer_costs_only_itself),
	TEST_ENTRY(qemu_closes_exit_0),
	TEST_ENTRY(qemu_closes_inside_a_message_exit_0),
	TEST_ENTRY(oversized_message_exit_1),
	TEST_ENTRY(unknown_command_exit_1),
	TEST_ENTRY(ret_from_qemu_exit_1),
	TEST_ENTRY(too_many_fds_exit_1),
	TEST_ENTRY(bad_options)
)

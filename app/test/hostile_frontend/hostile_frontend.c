/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dpdk-hostile-frontend: a vhost-user front-end that misbehaves on purpose,
 * for the end-to-end regression tests of dts/tests/test_hostile_frontends.py.
 * It talks to a real back-end (Debian's testpmd with net_vhost, DPDK's
 * examples/vhost_blk) over its AF_UNIX socket, with its memory in a memfd of
 * ordinary pages, and does one of:
 *
 *   truncate SOCK      a net device: handshake, rings in use (packets sent
 *                      and received), then, on SIGUSR1, ftruncate() of its
 *                      memory to 0;
 *   slow-reader SOCK SECS CONNS
 *                      over CONNS connections, pipeline GET_FEATURES and
 *                      never read a reply, for SECS seconds (reconnecting
 *                      when the back-end drops one);
 *   blk-enlarge SOCK   a blk device: inflight area for a ring of
 *                      BLK_SMALL_RING, the ring wired to it (kick), then the
 *                      ring enlarged to BLK_BIG_RING, enabled, a request
 *                      whose head is near the end of the big ring;
 *   blk-packed SOCK    a blk device: inflight area for split rings, the ring
 *                      wired to it, then SET_FEATURES with RING_PACKED, a
 *                      packed request, the area's free-list head at the end;
 *   blk-good SOCK      a well-behaved blk device (the control): inflight
 *                      area and ring of the same size, one read request,
 *                      waits for its completion.
 *
 * Each step it reaches is one line "hostile: [T ms] ..." on stdout; the
 * verdict is the test's, from the back-end's state and log. Exit status: 0
 * when the script ran to its end (truncate: the back-end then closed the
 * connection; blk-good: the request completed; blk-enlarge, blk-packed:
 * still connected at the end), 1 when the back-end refused, closed or did
 * not do what the script waits for (for blk-enlarge and blk-packed, closing
 * is what a fixed back-end may do), 2 for a usage or local error.
 *
 * Built only with -Dtests=true; libc, the wire format (lib/vhost's
 * vhost_user.h) and app/test/test_util.h only: no EAL, no hugepages. The
 * unit tests' raw front-ends (test_vhost_api.c's bring_up(), the VVU
 * peers' peer_fe_*) live inside their test binaries, tied to test.h's
 * assertions or the device's headers; this one is a program of its own.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "test_util.h"
#include "test_vhost_user.h"

#define CONNECT_WAIT_MS	10000	/* the back-end's socket may not exist yet */
#define REPLY_WAIT_MS	3000	/* a reply, or the back-end's hang-up */
#define USED_WAIT_MS	10000	/* the back-end uses our rings */
#define CLOSE_WAIT_MS	10000	/* the back-end ends a connection it refuses */
#define PIPE_FULL_MS	50	/* slow-reader: "our socket is full" */
#define GO_WAIT_MS	30000	/* truncate: the test's SIGUSR1 */

/* The vhost-user feature bit that enables the protocol features (the spec). */
#define F_PROTOCOL_FEATURES	30

#define MEM_SIZE	(4u << 20)	/* the memfd: rings and buffers */
#define GPA_BASE	0x0ull		/* guest physical address of its start */

/* The net device (truncate): two rings of NET_RING, laid out in MEM. */
#define NET_RING	256
#define NET_RX_DESC	0x00000u	/* vring 0: the back-end's TX, our RX */
#define NET_RX_AVAIL	0x01000u
#define NET_RX_USED	0x02000u
#define NET_TX_DESC	0x04000u	/* vring 1: our TX, the back-end's RX */
#define NET_TX_AVAIL	0x05000u
#define NET_TX_USED	0x06000u
#define NET_BUF		0x10000u	/* NET_RING RX buffers, then NET_RING TX */
#define NET_BUF_LEN	2048u
#define NET_RX_POSTED	128		/* RX buffers we post */
#define NET_TX_SENT	32		/* packets we send */
#define NET_PKT_LEN	64		/* bytes of frame after the virtio-net header */

/* The blk device: one ring; sizes chosen so that a wrong slice is far off. */
#define BLK_SMALL_RING	8
#define BLK_BIG_RING	32768		/* VHOST_MAX_RING_SIZE */
#define BLK_DESC	0x000000u	/* 16 x 32768 = 512 KiB (split or packed) */
#define BLK_AVAIL	0x080000u	/* split avail / packed driver event */
#define BLK_USED	0x0a0000u	/* split used / packed device event */
#define BLK_REQ		0x200000u	/* outhdr, data, status of our request */
#define BLK_DATA_LEN	512u
#define BLK_STATUS	(BLK_REQ + 64 + BLK_DATA_LEN)
#define STATUS_UNSET	0xffu		/* not a VIRTIO_BLK_S_* value */
#define SERVED_WAIT_MS	1000	/* a back-end that took the request serves it */
/* Offset of old_free_head in the packed inflight header (DPDK's rte_vhost.h). */
#define INFLIGHT_PACKED_OLD_FREE_HEAD	14

struct fe {
	const char *path;
	int sock;
	int mem_fd;
	uint8_t *mem;
	uint64_t uaddr;		/* the "front-end's" VA of MEM: our mapping */
	int kick[2];
	int call[2];
	int64_t t0;
};

static void
say(const struct fe *fe, const char *fmt, ...)
{
	va_list ap;

	printf("hostile: [%lld ms] ", (long long)(test_now_ms() - fe->t0));
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static int
fe_connect(struct fe *fe)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int64_t end = test_now_ms() + CONNECT_WAIT_MS;

	if (strlen(fe->path) >= sizeof(a.sun_path))
		return -1;
	strcpy(a.sun_path, fe->path);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
			fe->sock = fd;
			return 0;
		}
		close(fd);
		if (test_now_ms() > end)
			return -1;
		test_sleep_ms(20);
	}
}

static int
fe_send(struct fe *fe, uint32_t req, const void *payload, uint32_t size, const int *fds,
	int nfds)
{
	if (test_vu_send(fe->sock, req, payload, size, fds, nfds) < 0) {
		say(fe, "request %u not sent: %s", req, strerror(errno));
		return -1;
	}
	return 0;
}

static int
fe_send_u64(struct fe *fe, uint32_t req, uint64_t v)
{
	return fe_send(fe, req, &v, sizeof(v), NULL, 0);
}

static int
fe_send_state(struct fe *fe, uint32_t req, uint32_t index, uint32_t num)
{
	struct vhost_user_vring_state st = { .index = index, .num = num };

	return fe_send(fe, req, &st, sizeof(st), NULL, 0);
}

/* Read exactly len bytes within REPLY_WAIT_MS; *fd gets an fd if one came. */
static int
fe_recv(struct fe *fe, void *buf, size_t len, int *fd)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fe->sock, .events = POLLIN };
		union {
			char b[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { .iov_base = (char *)buf + got, .iov_len = len - got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
		struct cmsghdr *cm;
		ssize_t n;

		if (poll(&p, 1, REPLY_WAIT_MS) != 1)
			return -1;
		n = recvmsg(fe->sock, &mh, MSG_CMSG_CLOEXEC);
		if (n <= 0)
			return -1;
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
			    fd != NULL)
				memcpy(fd, CMSG_DATA(cm), sizeof(int));
		got += (size_t)n;
	}
	return 0;
}

/* One reply to req; its payload into out (at most size bytes). */
static int
fe_reply(struct fe *fe, uint32_t req, void *out, uint32_t size, int *fd)
{
	struct vhost_user_msg msg;

	if (fe_recv(fe, &msg.hdr, VHOST_USER_HDR_SIZE, fd) < 0 ||
	    msg.hdr.size > sizeof(msg.payload) ||
	    fe_recv(fe, &msg.payload, msg.hdr.size, fd) < 0) {
		say(fe, "no reply to request %u (the back-end hung up or is silent)", req);
		return -1;
	}
	if (msg.hdr.request != req || !(msg.hdr.flags & VHOST_USER_REPLY_MASK) ||
	    msg.hdr.size < size) {
		say(fe, "bad reply to request %u: request %u size %u", req, msg.hdr.request,
		    msg.hdr.size);
		return -1;
	}
	memcpy(out, &msg.payload, size);
	return 0;
}

/* Wait until the back-end closes the connection; its delay in ms, -1 if it did not. */
static int64_t
fe_wait_closed(struct fe *fe, int ms)
{
	int64_t t0 = test_now_ms(), end = t0 + ms;
	char buf[4096];

	for (;;) {
		struct pollfd p = { .fd = fe->sock, .events = POLLIN };
		int64_t left = end - test_now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) != 1)
			return -1;
		n = recv(fe->sock, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return test_now_ms() - t0;
	}
}

static int
fe_mem_init(struct fe *fe)
{
	fe->mem_fd = memfd_create("hostile-frontend", MFD_CLOEXEC);
	if (fe->mem_fd < 0 || ftruncate(fe->mem_fd, MEM_SIZE) < 0)
		return -1;
	fe->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fe->mem_fd, 0);
	if (fe->mem == MAP_FAILED)
		return -1;
	fe->uaddr = (uint64_t)(uintptr_t)fe->mem;
	for (int i = 0; i < 2; i++) {
		fe->kick[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		fe->call[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fe->kick[i] < 0 || fe->call[i] < 0)
			return -1;
	}
	return 0;
}

static uint64_t
gpa(uint64_t off)
{
	return GPA_BASE + off;
}

/* SET_OWNER, GET_FEATURES, SET_FEATURES (want & offered), SET_PROTOCOL_FEATURES. */
static int
fe_negotiate(struct fe *fe, uint64_t want, uint64_t protocol)
{
	uint64_t offered, proto_offered;

	if (fe_send(fe, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0) < 0 ||
	    fe_send(fe, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0) < 0 ||
	    fe_reply(fe, VHOST_USER_GET_FEATURES, &offered, sizeof(offered), NULL) < 0)
		return -1;
	if ((offered & want) != want) {
		say(fe, "the back-end offers features %#llx, we need %#llx",
		    (unsigned long long)offered, (unsigned long long)want);
		return -1;
	}
	if (fe_send_u64(fe, VHOST_USER_SET_FEATURES, want) < 0 ||
	    fe_send(fe, VHOST_USER_GET_PROTOCOL_FEATURES, NULL, 0, NULL, 0) < 0 ||
	    fe_reply(fe, VHOST_USER_GET_PROTOCOL_FEATURES, &proto_offered,
		     sizeof(proto_offered), NULL) < 0)
		return -1;
	if ((proto_offered & protocol) != protocol) {
		say(fe, "the back-end offers protocol features %#llx, we need %#llx",
		    (unsigned long long)proto_offered, (unsigned long long)protocol);
		return -1;
	}
	return fe_send_u64(fe, VHOST_USER_SET_PROTOCOL_FEATURES, protocol);
}

static int
fe_mem_table(struct fe *fe)
{
	struct vhost_user_memory m;

	memset(&m, 0, sizeof(m));
	m.nregions = 1;
	m.regions[0].guest_phys_addr = GPA_BASE;
	m.regions[0].memory_size = MEM_SIZE;
	m.regions[0].userspace_addr = fe->uaddr;
	m.regions[0].mmap_offset = 0;
	return fe_send(fe, VHOST_USER_SET_MEM_TABLE, &m,
		       offsetof(struct vhost_user_memory, regions[1]), &fe->mem_fd, 1);
}

/* SET_VRING_NUM, BASE, ADDR (front-end VAs) and KICK of vring q. */
static int
fe_vring(struct fe *fe, uint32_t q, uint32_t num, uint32_t base, uint64_t desc,
	 uint64_t avail, uint64_t used)
{
	struct vhost_user_vring_addr a;
	uint64_t u = q;

	memset(&a, 0, sizeof(a));
	a.index = q;
	a.desc_user_addr = fe->uaddr + desc;
	a.avail_user_addr = fe->uaddr + avail;
	a.used_user_addr = fe->uaddr + used;
	if (fe_send_state(fe, VHOST_USER_SET_VRING_NUM, q, num) < 0 ||
	    fe_send_state(fe, VHOST_USER_SET_VRING_BASE, q, base) < 0 ||
	    fe_send(fe, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0) < 0)
		return -1;
	return fe_send(fe, VHOST_USER_SET_VRING_KICK, &u, sizeof(u), &fe->kick[q], 1);
}

/* SET_VRING_CALL and SET_VRING_ENABLE of vring q. */
static int
fe_vring_enable(struct fe *fe, uint32_t q)
{
	uint64_t u = q;

	if (fe_send(fe, VHOST_USER_SET_VRING_CALL, &u, sizeof(u), &fe->call[q], 1) < 0)
		return -1;
	return fe_send_state(fe, VHOST_USER_SET_VRING_ENABLE, q, 1);
}

static void
fe_kick(struct fe *fe, uint32_t q)
{
	uint64_t one = 1;

	if (write(fe->kick[q], &one, sizeof(one)) < 0)
		say(fe, "kick %u: %s", q, strerror(errno));
}

static uint16_t
used_idx(const struct fe *fe, uint32_t used_off)
{
	const struct vring_used *u = (const void *)(fe->mem + used_off);

	return __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);
}

/* SIGUSR1 (blocked since main() began, so never lost) within ms? */
static bool
go_signal(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	return sigtimedwait(&set, NULL, &ts) == SIGUSR1;
}

/* ---- truncate ---------------------------------------------------------- */

static int
run_truncate(struct fe *fe)
{
	struct vring_desc *rxd = (void *)(fe->mem + NET_RX_DESC);
	struct vring_desc *txd = (void *)(fe->mem + NET_TX_DESC);
	struct vring_avail *rxa = (void *)(fe->mem + NET_RX_AVAIL);
	struct vring_avail *txa = (void *)(fe->mem + NET_TX_AVAIL);
	size_t hdr = sizeof(struct virtio_net_hdr_mrg_rxbuf);
	int64_t end, closed;
	uint16_t tx_used = 0, rx_used = 0, i;

	/* Buffers before the rings are enabled: the back-end sees them at once. */
	for (i = 0; i < NET_RX_POSTED; i++) {
		rxd[i].addr = gpa(NET_BUF + (uint64_t)i * NET_BUF_LEN);
		rxd[i].len = NET_BUF_LEN;
		rxd[i].flags = VRING_DESC_F_WRITE;
		rxa->ring[i] = i;
	}
	for (i = 0; i < NET_TX_SENT; i++) {
		uint64_t off = NET_BUF + (uint64_t)(NET_RING + i) * NET_BUF_LEN;
		uint8_t *frame = fe->mem + off + hdr;

		memset(fe->mem + off, 0, hdr);
		/* broadcast destination, a locally administered source */
		memset(frame, 0xff, 6);
		memcpy(frame + 6, "\x02\x00\x00\x00\x00\x01", 6);
		frame[12] = 0x08;	/* IPv4 ethertype; the payload is zeroes */
		frame[13] = 0x00;
		memset(frame + 14, 0, NET_PKT_LEN - 14);
		txd[i].addr = gpa(off);
		txd[i].len = (uint32_t)(hdr + NET_PKT_LEN);
		txd[i].flags = 0;
		txa->ring[i] = i;
	}
	__atomic_store_n(&rxa->idx, NET_RX_POSTED, __ATOMIC_RELEASE);
	__atomic_store_n(&txa->idx, NET_TX_SENT, __ATOMIC_RELEASE);

	if (fe_negotiate(fe, (1ULL << VIRTIO_F_VERSION_1) |
			 (1ULL << F_PROTOCOL_FEATURES), 0) < 0 ||
	    fe_mem_table(fe) < 0 ||
	    fe_vring(fe, 0, NET_RING, 0, NET_RX_DESC, NET_RX_AVAIL, NET_RX_USED) < 0 ||
	    fe_vring(fe, 1, NET_RING, 0, NET_TX_DESC, NET_TX_AVAIL, NET_TX_USED) < 0 ||
	    fe_vring_enable(fe, 0) < 0 || fe_vring_enable(fe, 1) < 0)
		return 1;
	say(fe, "handshake done: %d packets to send, %d receive buffers", NET_TX_SENT,
	    NET_RX_POSTED);
	fe_kick(fe, 1);

	end = test_now_ms() + USED_WAIT_MS;
	while (test_now_ms() < end) {
		tx_used = used_idx(fe, NET_TX_USED);
		rx_used = used_idx(fe, NET_RX_USED);
		if (tx_used == NET_TX_SENT)
			break;
		test_sleep_ms(10);
	}
	if (tx_used != NET_TX_SENT) {
		say(fe, "rings not used: tx used %u of %d", tx_used, NET_TX_SENT);
		return 1;
	}
	/* The back-end forwards what it received back to us (io, loop topology). */
	test_sleep_ms(200);
	rx_used = used_idx(fe, NET_RX_USED);
	say(fe, "rings used: tx used %u, rx used %u", tx_used, rx_used);

	/* The test reads the back-end's counters, then lets us go on. */
	say(fe, "waiting for SIGUSR1 to truncate");
	if (!go_signal(GO_WAIT_MS)) {
		say(fe, "no SIGUSR1 within %d ms", GO_WAIT_MS);
		return 1;
	}
	/* From here on our own mapping would fault too: never touch it again. */
	if (ftruncate(fe->mem_fd, 0) < 0) {
		say(fe, "ftruncate: %s", strerror(errno));
		return 2;
	}
	say(fe, "memory truncated to 0 bytes");
	closed = fe_wait_closed(fe, CLOSE_WAIT_MS);
	if (closed < 0) {
		say(fe, "still connected %d ms after the truncation", CLOSE_WAIT_MS);
		return 1;
	}
	say(fe, "the back-end closed the connection %lld ms after the truncation",
	    (long long)closed);
	return 0;
}

/* ---- slow-reader ------------------------------------------------------- */

#define SLOW_MAX_CONNS	16

/* Connect slot i and make it non-blocking; -1 if the back-end is gone. */
static int
slow_connect(struct fe *fe, int *socks, int i)
{
	if (fe_connect(fe) < 0)
		return -1;
	socks[i] = fe->sock;
	return fcntl(socks[i], F_SETFL, fcntl(socks[i], F_GETFL) | O_NONBLOCK);
}

/*
 * Over conns connections, send GET_FEATURES until each socket refuses more
 * (the back-end stopped reading us, or blocks on its replies), and keep them
 * full; read no reply. A connection the back-end drops is made again: the
 * pressure stays on. Several connections leave a back-end that blocks on
 * one of them no moment of rest.
 */
static int
run_slow_reader(struct fe *fe, int secs, int conns)
{
	struct vhost_user_hdr h = { .request = VHOST_USER_GET_FEATURES,
				    .flags = VHOST_USER_VERSION, .size = 0 };
	int64_t end = test_now_ms() + (int64_t)secs * 1000;
	unsigned long sent[SLOW_MAX_CONNS] = { 0 }, total = 0, drops = 0;
	bool said[SLOW_MAX_CONNS] = { false };	/* "socket full", once per connection */
	int socks[SLOW_MAX_CONNS], i;

	if (conns < 1 || conns > SLOW_MAX_CONNS || secs < 1)
		return 2;
	socks[0] = fe->sock;
	if (fcntl(socks[0], F_SETFL, fcntl(socks[0], F_GETFL) | O_NONBLOCK) < 0)
		return 2;
	for (i = 1; i < conns; i++)
		if (slow_connect(fe, socks, i) < 0)
			return 1;
	while (test_now_ms() < end) {
		bool all_full = true;

		for (i = 0; i < conns; i++) {
			ssize_t n = send(socks[i], &h, sizeof(h), MSG_NOSIGNAL);

			if (n == (ssize_t)sizeof(h)) {
				sent[i]++;
				total++;
				all_full = false;
				continue;
			}
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				if (!said[i])
					say(fe, "connection %d: pipelined %lu GET_FEATURES, read no "
					    "reply; socket full", i, sent[i]);
				said[i] = true;
				continue;
			}
			/* Dropped (EPIPE, ECONNRESET, or a partial header): come again. */
			say(fe, "connection %d dropped by the back-end after %lu requests (%s); "
			    "reconnecting", i, sent[i], n < 0 ? strerror(errno) : "partial send");
			close(socks[i]);
			drops++;
			if (slow_connect(fe, socks, i) < 0)
				return 1;
			sent[i] = 0;
			said[i] = false;
			all_full = false;
		}
		if (all_full)
			test_sleep_ms(PIPE_FULL_MS);
	}
	say(fe, "done: %lu GET_FEATURES over %d connection(s), %lu drop(s), no reply read",
	    total, conns, drops);
	return 0;
}

/* ---- blk --------------------------------------------------------------- */

enum blk_mode { BLK_GOOD, BLK_ENLARGE, BLK_PACKED };

/*
 * One read request in three descriptors (outhdr, data, status) at ring slots
 * head..head+2, as examples/vhost_blk wants them: a 16-byte header first, a
 * 1-byte status last. Split: desc indexes head..head+2, avail ring entry 0.
 * Packed: ring positions head..head+2, buffer id 0, flags for a driver wrap
 * counter of wrap.
 */
static void
blk_post(struct fe *fe, bool packed, uint32_t head, bool wrap)
{
	struct virtio_blk_outhdr *oh = (void *)(fe->mem + BLK_REQ);
	uint64_t addr[3] = { gpa(BLK_REQ), gpa(BLK_REQ + 64), gpa(BLK_REQ + 64 + BLK_DATA_LEN) };
	uint32_t len[3] = { sizeof(*oh), BLK_DATA_LEN, 1 };
	uint32_t i;

	memset(oh, 0, sizeof(*oh));
	oh->type = VIRTIO_BLK_T_IN;
	oh->sector = 0;
	fe->mem[BLK_STATUS] = STATUS_UNSET;
	if (!packed) {
		struct vring_desc *d = (void *)(fe->mem + BLK_DESC);
		struct vring_avail *a = (void *)(fe->mem + BLK_AVAIL);

		for (i = 0; i < 3; i++) {
			d[head + i].addr = addr[i];
			d[head + i].len = len[i];
			d[head + i].flags = (i < 2 ? VRING_DESC_F_NEXT : 0) |
					    (i > 0 ? VRING_DESC_F_WRITE : 0);
			d[head + i].next = (uint16_t)(head + i + 1);
		}
		a->ring[0] = (uint16_t)head;
		__atomic_store_n(&a->idx, 1, __ATOMIC_RELEASE);
		return;
	}
	struct vring_packed_desc *p = (void *)(fe->mem + BLK_DESC);
	uint16_t avail = wrap ? (1u << VRING_PACKED_DESC_F_AVAIL) :
				(1u << VRING_PACKED_DESC_F_USED);

	/* The head's flags last: it publishes the chain. */
	for (i = 3; i-- > 0;) {
		p[head + i].addr = addr[i];
		p[head + i].len = len[i];
		p[head + i].id = 0;
		__atomic_store_n(&p[head + i].flags,
				 (uint16_t)(avail | (i < 2 ? VRING_DESC_F_NEXT : 0) |
					    (i > 0 ? VRING_DESC_F_WRITE : 0)),
				 __ATOMIC_RELEASE);
	}
}

static uint8_t
status_of(const struct fe *fe)
{
	return __atomic_load_n(&fe->mem[BLK_STATUS], __ATOMIC_ACQUIRE);
}

/*
 * Compare our memory with snap, taken before the back-end could see the
 * request: a back-end may write only the request's descriptors (a packed
 * ring's used element), the used ring (or the device event area) and the
 * request's data and status; report any other byte that changed. (A write
 * past the back-end's inflight area lands wherever its allocator put the
 * area, seldom in our memory: this catches stray writes into our memory
 * only.)
 */
static void
stray_writes(struct fe *fe, const uint8_t *snap, uint32_t head)
{
	static const struct { uint64_t start, len; } ok[] = {
		{ BLK_USED, BLK_REQ - BLK_USED },
		{ BLK_REQ, 64 + BLK_DATA_LEN + 1 },
	};
	uint64_t chain = BLK_DESC + (uint64_t)head * sizeof(struct vring_desc);
	uint64_t off, first = 0, n = 0;
	unsigned int i;

	for (off = 0; off < MEM_SIZE; off++) {
		bool allowed = off >= chain && off < chain + 3 * sizeof(struct vring_desc);

		for (i = 0; i < sizeof(ok) / sizeof(ok[0]) && !allowed; i++)
			allowed = off >= ok[i].start && off < ok[i].start + ok[i].len;
		if (allowed || fe->mem[off] == snap[off])
			continue;
		if (n++ == 0)
			first = off;
	}
	if (n == 0)
		say(fe, "no write outside the request's buffers and rings");
	else
		say(fe, "the back-end wrote %llu bytes of our memory outside the request's "
		    "buffers and rings, the first at offset %#llx", (unsigned long long)n,
		    (unsigned long long)first);
}

static int
run_blk(struct fe *fe, enum blk_mode mode)
{
	uint64_t split = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << F_PROTOCOL_FEATURES);
	uint64_t packed = split | (1ULL << VIRTIO_F_RING_PACKED);
	uint32_t ring = mode == BLK_GOOD ? BLK_SMALL_RING : BLK_BIG_RING;
	uint32_t slice = mode == BLK_ENLARGE ? BLK_SMALL_RING : ring;
	uint32_t head = mode == BLK_ENLARGE ? BLK_BIG_RING - 3 : 0;
	struct vhost_user_inflight inf = { .num_queues = 1, .queue_size = (uint16_t)slice };
	uint8_t *area, *snap;
	int inflight_fd = -1;
	int64_t closed, end;

	if (fe_negotiate(fe, split, (1ULL << VHOST_USER_PROTO_F_INFLIGHT_SHMFD)) < 0)
		return 1;
	if (fe_mem_table(fe) < 0)
		return 1;
	/* The area as the back-end lays it out for split rings of slice entries. */
	if (fe_send(fe, VHOST_USER_GET_INFLIGHT_FD, &inf, sizeof(inf), NULL, 0) < 0 ||
	    fe_reply(fe, VHOST_USER_GET_INFLIGHT_FD, &inf, sizeof(inf), &inflight_fd) < 0)
		return 1;
	if (inflight_fd < 0 || inf.mmap_size == 0) {
		say(fe, "GET_INFLIGHT_FD: no area");
		return 1;
	}
	area = mmap(NULL, inf.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, inflight_fd,
		    (off_t)inf.mmap_offset);
	if (area == MAP_FAILED)
		return 2;
	say(fe, "inflight area of %llu bytes for 1 split ring of %u",
	    (unsigned long long)inf.mmap_size, slice);
	inf.num_queues = 1;
	inf.queue_size = (uint16_t)slice;
	if (fe_send(fe, VHOST_USER_SET_INFLIGHT_FD, &inf, sizeof(inf), &inflight_fd, 1) < 0 ||
	    fe_vring(fe, 0, mode == BLK_ENLARGE ? BLK_SMALL_RING : ring, 0, BLK_DESC,
		     BLK_AVAIL, BLK_USED) < 0)
		return 1;
	say(fe, "vring 0 wired to its inflight slice (kick)");

	if (mode == BLK_ENLARGE) {
		if (fe_send_state(fe, VHOST_USER_SET_VRING_NUM, 0, BLK_BIG_RING) < 0)
			return 1;
		say(fe, "vring 0 enlarged to %u", BLK_BIG_RING);
	} else if (mode == BLK_PACKED) {
		/*
		 * Where a packed slice keeps its free-list head: the last entry,
		 * which a split slice of the same ring size does not have.
		 */
		uint16_t last = (uint16_t)(ring - 1);

		memcpy(area + INFLIGHT_PACKED_OLD_FREE_HEAD, &last, sizeof(last));
		/*
		 * Base 0 with a wrap counter of 0: where vhost_blk, which reads
		 * the base only when it does not look at the inflight area,
		 * starts with its own (zeroed) wrap counter.
		 */
		if (fe_send_u64(fe, VHOST_USER_SET_FEATURES, packed) < 0 ||
		    fe_send_state(fe, VHOST_USER_SET_VRING_BASE, 0, 0) < 0)
			return 1;
		say(fe, "switched to packed rings (SET_FEATURES)");
	}
	blk_post(fe, mode == BLK_PACKED, head, false);
	snap = malloc(MEM_SIZE);
	if (snap == NULL)
		return 2;
	memcpy(snap, fe->mem, MEM_SIZE);
	if (fe_vring_enable(fe, 0) < 0)
		return 1;
	say(fe, "vring 0 enabled; request posted at %u", head);
	fe_kick(fe, 0);

	if (mode == BLK_GOOD) {
		end = test_now_ms() + USED_WAIT_MS;
		while (used_idx(fe, BLK_USED) != 1 && test_now_ms() < end)
			test_sleep_ms(10);
		if (used_idx(fe, BLK_USED) != 1) {
			say(fe, "request not completed");
			return 1;
		}
		say(fe, "request completed, status %u", status_of(fe));
		stray_writes(fe, snap, head);
		return 0;
	}
	/* What a back-end that accepted the vring did with the request. */
	end = test_now_ms() + SERVED_WAIT_MS;
	while (status_of(fe) == STATUS_UNSET && test_now_ms() < end)
		test_sleep_ms(10);
	if (status_of(fe) != STATUS_UNSET)
		say(fe, "the back-end served the request (status %u)", status_of(fe));
	stray_writes(fe, snap, head);
	closed = fe_wait_closed(fe, CLOSE_WAIT_MS);
	if (closed < 0) {
		say(fe, "still connected %d ms after the request", CLOSE_WAIT_MS);
		return 0;
	}
	say(fe, "the back-end closed the connection");
	return 1;
}

static int
usage(void)
{
	fprintf(stderr, "usage: dpdk-hostile-frontend truncate SOCK\n"
		"       dpdk-hostile-frontend slow-reader SOCK SECONDS CONNECTIONS\n"
		"       dpdk-hostile-frontend blk-enlarge|blk-packed|blk-good SOCK\n");
	return 2;
}

int
main(int argc, char **argv)
{
	struct fe fe = { .sock = -1, .mem_fd = -1, .t0 = test_now_ms() };
	const char *mode;
	int rc;

	sigset_t go;

	sigemptyset(&go);
	sigaddset(&go, SIGUSR1);
	sigprocmask(SIG_BLOCK, &go, NULL);
	if (argc < 3)
		return usage();
	mode = argv[1];
	fe.path = argv[2];
	if (strcmp(mode, "slow-reader") == 0 && argc != 5)
		return usage();
	if (fe_mem_init(&fe) < 0) {
		perror("hostile: memory");
		return 2;
	}
	if (fe_connect(&fe) < 0) {
		say(&fe, "cannot connect to %s", fe.path);
		return 1;
	}
	say(&fe, "connected to %s", fe.path);
	if (strcmp(mode, "truncate") == 0)
		rc = run_truncate(&fe);
	else if (strcmp(mode, "slow-reader") == 0)
		rc = run_slow_reader(&fe, atoi(argv[3]), atoi(argv[4]));
	else if (strcmp(mode, "blk-enlarge") == 0)
		rc = run_blk(&fe, BLK_ENLARGE);
	else if (strcmp(mode, "blk-packed") == 0)
		rc = run_blk(&fe, BLK_PACKED);
	else if (strcmp(mode, "blk-good") == 0)
		rc = run_blk(&fe, BLK_GOOD);
	else
		return usage();
	say(&fe, "exit %d", rc);
	return rc;
}

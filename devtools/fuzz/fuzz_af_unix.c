/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: a hostile front-end on a real AF_UNIX connection.
 *
 * The library is used as an application uses it: endpoints registered with
 * rte_vhost_driver_register() and started, callbacks like net_vhost's, the
 * AF_UNIX transport accepting and serving connections on its event loop
 * thread with the real message handler. Each input is one connection: the
 * fuzz thread connects, writes the messages the input describes (header,
 * payload, fds passed with SCM_RIGHTS: dups of a guest memory memfd the
 * input also fills, fresh memfds of sizes from the input, eventfds, socket
 * ends), and at each "data path" record waits until the library has handled
 * everything sent so far, then runs rte_vhost_enqueue_burst /
 * rte_vhost_dequeue_burst on a small mempool and a set of public API calls,
 * as an application's lcore would between two messages.
 *
 * Waiting without sleeps: the handler runs messages in order, and every
 * message either succeeds or ends the connection. So a GET_FEATURES probe
 * followed by reading replies until the probe's answer (counting the
 * GET_FEATURES the input sent itself) means everything before it was
 * handled; end of file means the library closed the connection. At the end
 * the fuzz thread closes its socket, waits for destroy_connection and then
 * for a timer on the library's event loop (which runs after the callback
 * that closed the connection has returned), and checks that the process has
 * exactly the fds and memfd mappings it had before the input.
 *
 * Input: byte 0 selects the endpoint (registration flags: bit 0 EXTBUF,
 * bit 1 LINEARBUF, bit 2 IOMMU_SUPPORT, bit 3 COMPLIANT_OL_FLAGS and
 * NET_STATS_ENABLE) and bit 4 makes new_device() refuse. Then records,
 * by the low two bits of their first byte:
 *   0, 1  message: ctrl, 12-byte header, hdr.size payload bytes (zero
 *         padded past the input's end), one byte per fd. ctrl bits 0-3: fd
 *         count (up to 10, more than a message may carry), bit 4: written
 *         in two sendmsg calls (split in the header), bit 5: the fds go with
 *         the second, bit 6: hdr.size is sent as is and the connection is
 *         half-closed after it (a truncated or over-long last message),
 *         bit 7: version flags fixed and request reduced modulo the known
 *         ones. An fd byte: low two bits 0 the guest memfd, 1 a fresh memfd
 *         of (b >> 2) pages (63: 4097 bytes), 2 an eventfd, 3 one end of a
 *         socket pair (a back-end channel; we keep the other end).
 *   2     guest write: u16 offset / 4, u8 length, bytes; with bit 7 set:
 *         truncate the guest memfd to the next byte's pages instead (the
 *         SIGBUS path), restored after the input.
 *   3     data path: 3 bytes of parameters (packet shapes, offloads, indexes
 *         for the inflight calls).
 *
 * Built a second time as fuzz_af_unix_toctou (FUZZ_TOCTOU): a thread then
 * keeps rewriting the rings (descriptors, avail and used indexes, event
 * areas) and buffers through the guest's own mapping while the data path
 * runs; nothing is truncated there.
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

#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include <rte_eal.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_vhost.h>

#include "test_eal.h"
#include "test_util.h"
#include "vhost.h"
#include "vhost_transport.h"
#include "vhost_user.h"

#define NR_ENDPOINTS	16
#define EP_EXTBUF	(1u << 0)
#define EP_LINEARBUF	(1u << 1)
#define EP_IOMMU	(1u << 2)
#define EP_COMPLIANT	(1u << 3)
#define MODE_REFUSE	(1u << 4)

#define GUEST_SIZE	(256u << 10)	/* the guest memfd */
#define PAGE		4096u
#define WAIT_MS		5000		/* a library that takes longer is stuck */
#define MAX_FDS_SENT	10		/* more than VHOST_USER_MAX_FDS on purpose */
#define MAX_PEER_ENDS	16
#define BURST		8
#define MAX_REGIONS	VHOST_USER_MEMORY_MAX_NREGIONS
#define MAX_IOTLB	16
#define TRACKED_VRINGS	4

#define CTRL_NR_FDS	0x0f
#define CTRL_SPLIT	0x10
#define CTRL_FDS_LATE	0x20
#define CTRL_RAW	0x40
#define CTRL_FIX	0x80

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char sock_dir[64];
static char sock_path[NR_ENDPOINTS][96];
static struct rte_mempool *pool;
static int guest_fd = -1;
static uint8_t *guest;			/* our (the front-end's) mapping */
static bool verbose;			/* FUZZ_VERBOSE: what each data-path record did */
static unsigned int nr_enq, nr_deq;
static ino_t guest_ino;

/*
 * Held by the fuzz thread while it calls the library for the current vid,
 * and by destroy_device / destroy_connection: like an application whose
 * lcores stop using a device before those callbacks return, we never call
 * in with a vid the library is tearing down (a connection may end at any
 * time: the SIGBUS guard closes it from the event loop).
 */
static pthread_mutex_t app_lock = PTHREAD_MUTEX_INITIALIZER;

/* Connection events from the library's event loop thread. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int vid;			/* the current connection's, -1 before */
	unsigned int connected;		/* new_connection calls */
	unsigned int destroyed;		/* destroy_connection calls */
	unsigned int barriers;		/* loop timers that ran */
	bool refuse;			/* new_device() fails this input */
	bool running;			/* between new_device and destroy_device */
} ev = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.vid = -1,
};

/*
 * What the front-end told the library, so the TOCTOU thread can find the
 * rings in the guest memfd: regions backed by it, IOTLB entries, vring
 * addresses and sizes.
 */
struct fe_region {
	uint64_t uaddr, gpa, size, offset;
};

static struct {
	struct fe_region region[MAX_REGIONS * 2];
	unsigned int nr_regions;
	struct { uint64_t iova, size, uaddr; } iotlb[MAX_IOTLB];
	unsigned int nr_iotlb;
	struct vhost_user_vring_addr addr[TRACKED_VRINGS];
	uint16_t num[TRACKED_VRINGS];
	bool packed;
} fe;

/* ---- application callbacks (loop thread) ---- */

static int
app_new_device(int vid)
{
	uint16_t q, n = (uint16_t)rte_vhost_get_vring_num(vid);
	bool refuse;

	/* As net_vhost does: polling mode, no guest kicks. */
	for (q = 0; q < n; q++)
		rte_vhost_enable_guest_notification(vid, q, 0);
	pthread_mutex_lock(&ev.lock);
	refuse = ev.refuse;
	ev.running = !refuse;
	pthread_mutex_unlock(&ev.lock);
	return refuse ? -1 : 0;
}

static void
app_destroy_device(int vid)
{
	RTE_SET_USED(vid);
	pthread_mutex_lock(&app_lock);
	pthread_mutex_lock(&ev.lock);
	ev.running = false;
	pthread_mutex_unlock(&ev.lock);
	pthread_mutex_unlock(&app_lock);
}

static int
app_vring_state_changed(int vid, uint16_t queue_id, int enable)
{
	RTE_SET_USED(vid);
	RTE_SET_USED(queue_id);
	RTE_SET_USED(enable);
	return 0;
}

static int
app_new_connection(int vid)
{
	pthread_mutex_lock(&ev.lock);
	ev.vid = vid;
	ev.connected++;
	pthread_cond_broadcast(&ev.cond);
	pthread_mutex_unlock(&ev.lock);
	return 0;
}

static void
app_destroy_connection(int vid)
{
	RTE_SET_USED(vid);
	pthread_mutex_lock(&app_lock);
	pthread_mutex_lock(&ev.lock);
	ev.vid = -1;
	ev.running = false;
	ev.destroyed++;
	pthread_cond_broadcast(&ev.cond);
	pthread_mutex_unlock(&ev.lock);
	pthread_mutex_unlock(&app_lock);
}

static const struct rte_vhost_device_ops app_ops = {
	.new_device = app_new_device,
	.destroy_device = app_destroy_device,
	.vring_state_changed = app_vring_state_changed,
	.new_connection = app_new_connection,
	.destroy_connection = app_destroy_connection,
};

static void
loop_barrier_cb(void *arg)
{
	RTE_SET_USED(arg);
	pthread_mutex_lock(&ev.lock);
	ev.barriers++;
	pthread_cond_broadcast(&ev.cond);
	pthread_mutex_unlock(&ev.lock);
}

/* Wait until *counter reaches want; abort (a finding: a stall) after WAIT_MS. */
static void
wait_count(const unsigned int *counter, unsigned int want, const char *what)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&ev.lock);
	while (*counter < want)
		if (pthread_cond_timedwait(&ev.cond, &ev.lock, &ts) != 0 && *counter < want) {
			fprintf(stderr, "fuzz_af_unix: library stuck: no %s in %d ms\n", what,
				WAIT_MS);
			abort();
		}
	pthread_mutex_unlock(&ev.lock);
}

/* Returns once the event loop has finished whatever callback it was running. */
static void
loop_barrier(void)
{
	unsigned int want;

	pthread_mutex_lock(&ev.lock);
	want = ev.barriers + 1;
	pthread_mutex_unlock(&ev.lock);
	if (vhost_event_timer(0, loop_barrier_cb, NULL) < 0)
		abort();
	wait_count(&ev.barriers, want, "event loop barrier");
}

/* The current vid (-1 if none), and whether its device runs; app_lock held. */
static int
current_vid(bool *running)
{
	int vid;

	pthread_mutex_lock(&ev.lock);
	vid = ev.vid;
	*running = ev.running;
	pthread_mutex_unlock(&ev.lock);
	return vid;
}

/* ---- set-up ---- */

static void
fuzz_cleanup(void)
{
	int i;

	for (i = 0; i < NR_ENDPOINTS; i++)
		rte_vhost_driver_unregister(sock_path[i]);
	rmdir(sock_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int i;

	RTE_SET_USED(argc);
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	if (test_eal_init((*argv)[0], 256, "-l", "0",
			  verbose ? "--log-level=lib.vhost.*:debug" : "--log-level=*:emergency") < 0)
		abort();
	pool = rte_pktmbuf_pool_create("fuzz_af_unix", 2047, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	if (pool == NULL)
		abort();
	guest_fd = memfd_create("fuzz-guest", MFD_CLOEXEC);
	if (guest_fd < 0 || ftruncate(guest_fd, GUEST_SIZE) < 0)
		abort();
	guest = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, guest_fd, 0);
	if (guest == MAP_FAILED)
		abort();
	{
		struct stat st;

		if (fstat(guest_fd, &st) < 0)
			abort();
		guest_ino = st.st_ino;
	}
	snprintf(sock_dir, sizeof(sock_dir), "/tmp/fuzz_af_unix.XXXXXX");
	if (mkdtemp(sock_dir) == NULL)
		abort();
	for (i = 0; i < NR_ENDPOINTS; i++) {
		uint64_t flags = 0;

		if (i & EP_EXTBUF)
			flags |= RTE_VHOST_USER_EXTBUF_SUPPORT;
		if (i & EP_LINEARBUF)
			flags |= RTE_VHOST_USER_LINEARBUF_SUPPORT;
		if (i & EP_IOMMU)
			flags |= RTE_VHOST_USER_IOMMU_SUPPORT;
		if (i & EP_COMPLIANT)
			flags |= RTE_VHOST_USER_NET_COMPLIANT_OL_FLAGS |
				 RTE_VHOST_USER_NET_STATS_ENABLE;
		snprintf(sock_path[i], sizeof(sock_path[i]), "%s/ep%d", sock_dir, i);
		if (rte_vhost_driver_register(sock_path[i], flags) != 0 ||
		    rte_vhost_driver_callback_register(sock_path[i], &app_ops) != 0 ||
		    rte_vhost_driver_start(sock_path[i]) != 0)
			abort();
	}
	atexit(fuzz_cleanup);
	return 0;
}

/* ---- the front-end's side of the socket ---- */

struct fe_conn {
	int fd;
	bool alive;			/* no EOF or error seen yet */
	unsigned int gf_sent;		/* GET_FEATURES sent, probes included */
	unsigned int gf_replies;
	int peer_ends[MAX_PEER_ENDS];	/* our ends of back-end channels */
	int nr_peer_ends;
	size_t rx_len;			/* bytes of rx received */
	struct vhost_user_msg rx;
};

static void
close_cmsg_fds(struct msghdr *mh)
{
	struct cmsghdr *cm;

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		size_t i, n;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			close(fd);
		}
	}
}

/*
 * Read replies (flags: MSG_DONTWAIT or 0, the latter bounded by SO_RCVTIMEO)
 * until one is complete. Returns 1 for a reply, 0 if none is there yet (only
 * with MSG_DONTWAIT), -1 on EOF or error (the connection is gone).
 */
static int
fe_read_reply(struct fe_conn *c, int flags)
{
	char control[CMSG_SPACE(VHOST_USER_MAX_FDS * 2 * sizeof(int))];

	for (;;) {
		size_t want = c->rx_len < VHOST_USER_HDR_SIZE ?
			VHOST_USER_HDR_SIZE - c->rx_len :
			VHOST_USER_HDR_SIZE + c->rx.hdr.size - c->rx_len;
		struct iovec iov = { (char *)&c->rx + c->rx_len, want };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = control, .msg_controllen = sizeof(control),
		};
		ssize_t n;

		if (want == 0)
			goto complete;
		n = recvmsg(c->fd, &mh, flags | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (flags & MSG_DONTWAIT)
				return 0;
			fprintf(stderr, "fuzz_af_unix: library stuck: no reply in %d ms\n",
				WAIT_MS);
			abort();
		}
		if (n > 0)
			close_cmsg_fds(&mh);	/* GET_INFLIGHT_FD's, say */
		if (n <= 0) {
			c->alive = false;
			return -1;
		}
		c->rx_len += (size_t)n;
		if (c->rx_len == VHOST_USER_HDR_SIZE &&
		    c->rx.hdr.size > VHOST_USER_PAYLOAD_MAX) {
			fprintf(stderr, "fuzz_af_unix: reply %u of %u bytes\n",
				c->rx.hdr.request, c->rx.hdr.size);
			abort();
		}
		if (c->rx_len >= VHOST_USER_HDR_SIZE &&
		    c->rx_len == VHOST_USER_HDR_SIZE + c->rx.hdr.size)
			goto complete;
	}
complete:
	if (!(c->rx.hdr.flags & VHOST_USER_REPLY_MASK)) {
		fprintf(stderr, "fuzz_af_unix: reply without the REPLY flag\n");
		abort();
	}
	if (c->rx.hdr.request == VHOST_USER_GET_FEATURES)
		c->gf_replies++;
	c->rx_len = 0;
	return 1;
}

static void
fe_drain(struct fe_conn *c)
{
	while (c->alive && fe_read_reply(c, MSG_DONTWAIT) > 0)
		;
}

/* One sendmsg; false if the library has closed its end. */
static bool
fe_write(struct fe_conn *c, const void *buf, size_t len, const int *fds, int nr_fds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * MAX_FDS_SENT)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { (void *)(uintptr_t)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	size_t off = 0;

	if (nr_fds > 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nr_fds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nr_fds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nr_fds);
	}
	while (off < len || (len == 0 && nr_fds > 0)) {
		ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			fprintf(stderr, "fuzz_af_unix: library stuck: not reading\n");
			abort();
		}
		if (n <= 0) {
			c->alive = false;
			return false;
		}
		off += (size_t)n;
		iov.iov_base = (char *)(uintptr_t)buf + off;
		iov.iov_len = len - off;
		mh.msg_control = NULL;		/* fds went with the first byte */
		mh.msg_controllen = 0;
		if (len == 0)
			break;
	}
	return true;
}

/*
 * Wait until the library has handled everything sent so far. Returns false
 * if it closed the connection instead.
 */
static bool
fe_sync(struct fe_conn *c)
{
	struct vhost_user_hdr probe = {
		.request = VHOST_USER_GET_FEATURES,
		.flags = VHOST_USER_VERSION,
		.size = 0,
	};

	if (!c->alive || !fe_write(c, &probe, sizeof(probe), NULL, 0))
		return false;
	c->gf_sent++;
	while (c->alive && c->gf_replies < c->gf_sent)
		fe_read_reply(c, 0);
	return c->alive;
}

/* Wait for the library to close the connection (after a half-close). */
static void
fe_wait_eof(struct fe_conn *c)
{
	while (c->alive)
		fe_read_reply(c, 0);
}

/* ---- what the front-end said, for the TOCTOU thread ---- */

static void
fe_track(const struct vhost_user_msg *m, uint32_t len, const uint8_t *kinds, int nr_fds)
{
	uint32_t i;

	switch (m->hdr.request) {
	case VHOST_USER_SET_MEM_TABLE:
		if (len < sizeof(uint64_t))
			break;
		fe.nr_regions = 0;
		for (i = 0; i < m->payload.memory.nregions && i < MAX_REGIONS &&
		     i < (uint32_t)nr_fds; i++) {
			struct vhost_user_mem_region r;

			memcpy(&r, &m->payload.memory.regions[i], sizeof(r));
			if ((kinds[i] & 3) != 0)
				continue;
			fe.region[fe.nr_regions++] = (struct fe_region){
				r.userspace_addr, r.guest_phys_addr, r.memory_size, r.mmap_offset };
		}
		break;
	case VHOST_USER_ADD_MEM_REG: {
		struct vhost_user_mem_region r;

		memcpy(&r, &m->payload.mem_reg.region, sizeof(r));
		if (nr_fds == 1 && (kinds[0] & 3) == 0 && fe.nr_regions < RTE_DIM(fe.region))
			fe.region[fe.nr_regions++] = (struct fe_region){
				r.userspace_addr, r.guest_phys_addr, r.memory_size, r.mmap_offset };
		break;
	}
	case VHOST_USER_IOTLB_MSG:
		if (m->payload.iotlb.type == VHOST_USER_IOTLB_UPDATE && fe.nr_iotlb < MAX_IOTLB)
			fe.iotlb[fe.nr_iotlb++] = (typeof(fe.iotlb[0])){ m->payload.iotlb.iova,
				m->payload.iotlb.size, m->payload.iotlb.uaddr };
		break;
	case VHOST_USER_SET_VRING_ADDR:
		if (m->payload.addr.index < TRACKED_VRINGS)
			fe.addr[m->payload.addr.index] = m->payload.addr;
		break;
	case VHOST_USER_SET_VRING_NUM:
		if (m->payload.state.index < TRACKED_VRINGS)
			fe.num[m->payload.state.index] = (uint16_t)m->payload.state.num;
		break;
	case VHOST_USER_SET_FEATURES:
		fe.packed = (m->payload.u64 >> VIRTIO_F_RING_PACKED) & 1;
		break;
	default:
		break;
	}
}

/* ---- records ---- */

struct input {
	const uint8_t *p;
	size_t left;
};

static uint8_t
in_u8(struct input *in)
{
	uint8_t v = 0;

	if (in->left > 0) {
		v = *in->p++;
		in->left--;
	}
	return v;
}

static size_t
in_bytes(struct input *in, void *dst, size_t len)
{
	size_t n = RTE_MIN(len, in->left);

	memcpy(dst, in->p, n);
	if (n < len)
		memset((uint8_t *)dst + n, 0, len - n);
	in->p += n;
	in->left -= n;
	return n;
}

static size_t guest_valid = GUEST_SIZE;	/* shrinks when truncated */

/* An fd of the kind the input asks for; -1 if none could be made. */
static int
make_fd(struct fe_conn *c, uint8_t kind)
{
	int fd, sv[2];

	switch (kind & 3) {
	case 0:
		return fcntl(guest_fd, F_DUPFD_CLOEXEC, 0);
	case 1: {
		unsigned int pages = kind >> 2;
		off_t len = pages == 63 ? (off_t)PAGE + 1 : (off_t)pages * PAGE;

		fd = memfd_create("fuzz-mem", MFD_CLOEXEC);
		if (fd >= 0 && ftruncate(fd, len) < 0) {
			close(fd);
			fd = -1;
		}
		return fd;
	}
	case 2:
		return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	default:
		if (c->nr_peer_ends >= MAX_PEER_ENDS ||
		    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			return eventfd(0, EFD_CLOEXEC);
		c->peer_ends[c->nr_peer_ends++] = sv[1];
		return sv[0];
	}
}

/* A message record; false once the connection is over. */
static bool
rec_message(struct fe_conn *c, struct input *in)
{
	static struct vhost_user_msg m;
	uint8_t ctrl = in_u8(in), kinds[MAX_FDS_SENT];
	int fds[MAX_FDS_SENT], nr_fds = RTE_MIN(ctrl & CTRL_NR_FDS, MAX_FDS_SENT);
	uint32_t len, split;
	bool ok = true;
	int i;

	memset(&m, 0, sizeof(m));
	in_bytes(in, &m.hdr, VHOST_USER_HDR_SIZE);
	if (ctrl & CTRL_FIX) {
		m.hdr.flags = VHOST_USER_VERSION | (m.hdr.flags & VHOST_USER_NEED_REPLY);
		m.hdr.request %= VHOST_USER_REQUEST_MAX;
	}
	len = m.hdr.size;
	/* Claimed and sent sizes may differ: then this is the last message. */
	if (ctrl & CTRL_RAW)
		len = RTE_MIN((uint32_t)in_u8(in) * 16, (uint32_t)VHOST_USER_PAYLOAD_MAX);
	/* The library must refuse that from the header alone. */
	else if (len > VHOST_USER_PAYLOAD_MAX)
		len = 0;
	in_bytes(in, &m.payload, len);
	for (i = 0; i < nr_fds; i++) {
		kinds[i] = in_u8(in);
		fds[i] = make_fd(c, kinds[i]);
		if (fds[i] < 0)
			abort();
	}
	fe_track(&m, len, kinds, nr_fds);
	if (m.hdr.request == VHOST_USER_GET_FEATURES)
		c->gf_sent++;

	split = (ctrl & CTRL_SPLIT) ? (m.hdr.size % VHOST_USER_HDR_SIZE) + 1 : 0;
	if (split != 0 && split < VHOST_USER_HDR_SIZE + len) {
		bool late = ctrl & CTRL_FDS_LATE;

		ok = fe_write(c, &m, split, late ? NULL : fds, late ? 0 : nr_fds) &&
		     fe_write(c, (uint8_t *)&m + split, VHOST_USER_HDR_SIZE + len - split,
			      late ? fds : NULL, late ? nr_fds : 0);
	} else {
		ok = fe_write(c, &m, VHOST_USER_HDR_SIZE + len, fds, nr_fds);
	}
	/* The library has its own copies now (SCM_RIGHTS), or never will. */
	for (i = 0; i < nr_fds; i++)
		close(fds[i]);
	if (!ok)
		return false;
	if (ctrl & CTRL_RAW) {
		shutdown(c->fd, SHUT_WR);
		fe_wait_eof(c);
		return false;
	}
	/* Keep its replies from filling our socket while we write. */
	fe_drain(c);
	return c->alive;
}

static void
rec_guest(struct input *in, uint8_t op)
{
	if (op & 0x80) {
#ifndef FUZZ_TOCTOU
		size_t len = (size_t)in_u8(in) * PAGE;

		if (len < guest_valid && ftruncate(guest_fd, (off_t)len) == 0)
			guest_valid = len;
#else
		in_u8(in);
#endif
		return;
	}
	{
		size_t off = (size_t)(in_u8(in) | in_u8(in) << 8) * 4;
		size_t len = in_u8(in);

		if (off >= guest_valid)
			off = 0;
		if (len > guest_valid - off)
			len = guest_valid - off;
		in_bytes(in, guest + off, len);
	}
}

/* ---- the data path and the API, as an lcore calls them ---- */

static struct rte_mbuf *
host_pkt(uint32_t len, uint64_t ol_flags, unsigned int segs)
{
	struct rte_mbuf *m = NULL;
	unsigned int i;

	for (i = 0; i < segs; i++) {
		struct rte_mbuf *s = rte_pktmbuf_alloc(pool);
		char *p;

		if (s == NULL)
			break;
		p = rte_pktmbuf_append(s, len);
		if (p != NULL)
			memset(p, 0x5a, len);
		if (m == NULL) {
			m = s;
		} else if (rte_pktmbuf_chain(m, s) != 0) {
			rte_pktmbuf_free(s);
			break;
		}
	}
	if (m != NULL) {
		m->ol_flags = ol_flags;
		m->l2_len = 14;
		m->l3_len = 20;
		m->l4_len = 20;
		m->tso_segsz = 1000;
	}
	return m;
}

static void
touch_and_free(struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t i;

	for (i = 0; i < n; i++) {
		volatile uint8_t sink = 0;
		const struct rte_mbuf *s;
		uint32_t total = 0;

		for (s = pkts[i]; s != NULL; s = s->next) {
			const uint8_t *p = rte_pktmbuf_mtod(s, const uint8_t *);
			uint16_t k;

			for (k = 0; k < s->data_len; k++)
				sink ^= p[k];
			total += s->data_len;
		}
		if (total != pkts[i]->pkt_len) {
			fprintf(stderr, "fuzz_af_unix: mbuf pkt_len %u, segments hold %u\n",
				pkts[i]->pkt_len, total);
			abort();
		}
		RTE_SET_USED(sink);
		rte_pktmbuf_free(pkts[i]);
	}
}

static void
run_bursts(int vid, uint16_t nr_vring, uint8_t p)
{
	static const uint64_t ol[4] = {
		0,
		RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_IPV4,
		RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM,
		RTE_MBUF_F_TX_UDP_CKSUM | RTE_MBUF_F_TX_IPV6,
	};
	struct rte_mbuf *pkts[BURST];
	uint16_t q, i, n;

	for (q = 0; q < RTE_MIN(nr_vring, (uint16_t)TRACKED_VRINGS); q++) {
		if (q & 1) {
			n = rte_vhost_dequeue_burst(vid, q, pool, pkts, BURST);
			nr_deq += n;
			touch_and_free(pkts, n);
			continue;
		}
		for (i = 0; i < BURST; i++) {
			unsigned int shape = (p + i) & 3;

			pkts[i] = host_pkt(shape == 0 ? 60 : shape == 1 ? 1500 : 1000,
					   ol[(p >> 2) & 3], shape == 2 ? 3 : 1);
			if (pkts[i] == NULL)
				break;
		}
		n = i;
		/* Enqueue copies: the mbufs stay ours. */
		nr_enq += rte_vhost_enqueue_burst(vid, q, pkts, n);
		for (i = 0; i < n; i++)
			rte_pktmbuf_free(pkts[i]);
	}
}

static void
run_api(int vid, uint16_t nr_vring, uint8_t p, uint16_t i0, uint16_t i1)
{
	struct rte_vhost_memory *mem = NULL;
	struct rte_vhost_ring_inflight rin;
	struct rte_vhost_vring vr;
	struct rte_vhost_stat st[VHOST_VQ_STAT_MAX + 16];
	struct rte_vhost_power_monitor_cond pmc;
	uint64_t u64a, u64b;
	uint16_t q, a, u, mtu;
	char name[64];

	rte_vhost_get_negotiated_features(vid, &u64a);
	rte_vhost_get_negotiated_protocol_features(vid, &u64a);
	rte_vhost_get_mtu(vid, &mtu);
	rte_vhost_get_ifname(vid, name, sizeof(name));
	rte_vhost_get_log_base(vid, &u64a, &u64b);
	if (rte_vhost_get_mem_table(vid, &mem) == 0)
		free(mem);
	rte_vhost_log_write(vid, i0 * PAGE, i1);
	if (p & 0x10)
		rte_vhost_slave_config_change(vid, false);
	for (q = 0; q < RTE_MIN(nr_vring, (uint16_t)TRACKED_VRINGS); q++) {
		rte_vhost_get_vring_base(vid, q, &a, &u);
		rte_vhost_get_vhost_vring(vid, q, &vr);
		if (q & 1)
			rte_vhost_rx_queue_count(vid, q);
		rte_vhost_avail_entries(vid, q);
		rte_vhost_get_monitor_addr(vid, q, &pmc);
		rte_vhost_vring_stats_get(vid, q, st, RTE_DIM(st));
		rte_vhost_log_used_vring(vid, q, i0, i1);
		rte_vhost_vring_call(vid, q);
		rte_vhost_vring_call_nonblock(vid, q);
		/* What a vhost-blk back-end does with heads it read from the ring. */
		rte_vhost_get_vhost_ring_inflight(vid, q, &rin);
		rte_vhost_set_inflight_desc_split(vid, q, i0);
		rte_vhost_set_last_inflight_io_split(vid, q, i0);
		rte_vhost_clr_inflight_desc_split(vid, q, i1, i0);
		rte_vhost_set_inflight_desc_packed(vid, q, i0, i1, &a);
		rte_vhost_set_last_inflight_io_packed(vid, q, i0);
		rte_vhost_clr_inflight_desc_packed(vid, q, i1);
		rte_vhost_get_vring_base_from_inflight(vid, q, &a, &u);
	}
}

#ifdef FUZZ_TOCTOU
/*
 * The hostile guest's second vCPU: rewrites ring fields and buffers in the
 * guest memfd through our own mapping (which never goes away) while the
 * fuzz thread runs bursts.
 */
static struct {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool run;			/* mutate now */
	bool busy;			/* the thread is in a mutation round */
	uint64_t seed;
	struct { size_t off, len; } span[TRACKED_VRINGS * 3];
	unsigned int nr_spans;
} mut = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

static uint64_t
rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Guest memfd offset of a front-end address (an IOVA or a user address). */
static bool
fe_to_offset(uint64_t addr, size_t len, size_t *off)
{
	unsigned int i, pass;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < fe.nr_regions; i++) {
			const struct fe_region *r = &fe.region[i];
			uint64_t o = addr - r->uaddr;

			if (o < r->size && len <= r->size - o && r->offset + o < GUEST_SIZE &&
			    len <= GUEST_SIZE - (r->offset + o)) {
				*off = (size_t)(r->offset + o);
				return true;
			}
		}
		/* Second pass: addr as an IOVA through the IOTLB we sent. */
		for (i = 0; i < fe.nr_iotlb; i++)
			if (addr - fe.iotlb[i].iova < fe.iotlb[i].size) {
				addr = addr - fe.iotlb[i].iova + fe.iotlb[i].uaddr;
				break;
			}
		if (i == fe.nr_iotlb)
			return false;
	}
	return false;
}

static void
mut_add(uint64_t addr, size_t len)
{
	size_t off;

	if (len != 0 && fe_to_offset(addr, len, &off)) {
		mut.span[mut.nr_spans].off = off;
		mut.span[mut.nr_spans].len = len;
		mut.nr_spans++;
	}
}

static void
mut_spans(void)
{
	unsigned int q;

	mut.nr_spans = 0;
	for (q = 0; q < TRACKED_VRINGS; q++) {
		size_t num = fe.num[q];

		if (num == 0)
			continue;
		mut_add(fe.addr[q].desc_user_addr, num * 16);
		if (fe.packed) {
			mut_add(fe.addr[q].avail_user_addr, 4);
			mut_add(fe.addr[q].used_user_addr, 4);
		} else {
			mut_add(fe.addr[q].avail_user_addr, 6 + 2 * num);
			mut_add(fe.addr[q].used_user_addr, 6 + 8 * num);
		}
	}
}

static void
mut_once(uint64_t *s)
{
	uint64_t r = rng(s);
	size_t off;

	if (mut.nr_spans != 0 && (r & 3) != 0) {
		unsigned int k = (unsigned int)(r >> 8) % mut.nr_spans;

		off = mut.span[k].off + (size_t)((r >> 16) % mut.span[k].len);
	} else {
		off = (size_t)((r >> 16) % guest_valid);
	}
	off &= ~(size_t)1;
	/* idx fields and flags are 16 bits, addresses 64: write both widths. */
	if ((r >> 2) & 1)
		__atomic_store_n((uint16_t *)(guest + off), (uint16_t)(r >> 40),
				 __ATOMIC_RELAXED);
	else if (off + 8 <= guest_valid && !(off & 7))
		__atomic_store_n((uint64_t *)(guest + off), rng(s), __ATOMIC_RELAXED);
	else
		__atomic_store_n((uint16_t *)(guest + off), (uint16_t)rng(s), __ATOMIC_RELAXED);
}

static void *
mut_main(void *arg)
{
	RTE_SET_USED(arg);
	pthread_mutex_lock(&mut.lock);
	for (;;) {
		uint64_t s;

		while (!mut.run)
			pthread_cond_wait(&mut.cond, &mut.lock);
		mut.busy = true;
		s = mut.seed | 1;
		pthread_mutex_unlock(&mut.lock);
		while (__atomic_load_n(&mut.run, __ATOMIC_ACQUIRE)) {
			int k;

			for (k = 0; k < 64; k++)
				mut_once(&s);
		}
		pthread_mutex_lock(&mut.lock);
		mut.busy = false;
		pthread_cond_broadcast(&mut.cond);
	}
	return NULL;
}

static void
mut_start(uint64_t seed)
{
	mut_spans();
	pthread_mutex_lock(&mut.lock);
	if (mut.thread == 0 && pthread_create(&mut.thread, NULL, mut_main, NULL) != 0)
		abort();
	mut.seed = seed;
	__atomic_store_n(&mut.run, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&mut.cond);
	pthread_mutex_unlock(&mut.lock);
}

static void
mut_stop(void)
{
	pthread_mutex_lock(&mut.lock);
	__atomic_store_n(&mut.run, false, __ATOMIC_RELEASE);
	while (mut.busy)
		pthread_cond_wait(&mut.cond, &mut.lock);
	pthread_mutex_unlock(&mut.lock);
}
#endif /* FUZZ_TOCTOU */

static void
rec_datapath(struct fe_conn *c, struct input *in)
{
	uint8_t p = in_u8(in);
	uint16_t i0 = in_u8(in), i1 = in_u8(in);
	uint16_t nr_vring;
	bool running;
	int vid, round;

	if (!fe_sync(c))
		return;
	/*
	 * Synced: every message sent is handled, the device is as they left
	 * it (unless the loop is closing it on its own, see app_lock).
	 */
	pthread_mutex_lock(&app_lock);
	vid = current_vid(&running);
	if (vid < 0) {
		pthread_mutex_unlock(&app_lock);
		return;
	}
	nr_vring = (uint16_t)rte_vhost_get_vring_num(vid);
#ifdef FUZZ_TOCTOU
	mut_start(((uint64_t)p << 16 | i0 << 8 | i1) * 0x9e3779b97f4a7c15ULL);
#endif
	for (round = 0; round < 2 && running; round++)
		run_bursts(vid, nr_vring, (uint8_t)(p + round));
	run_api(vid, nr_vring, p, i0, i1);
#ifdef FUZZ_TOCTOU
	mut_stop();
	if (verbose)
		fprintf(stderr, "fuzz_af_unix: TOCTOU thread rewrote %u ring areas\n",
			mut.nr_spans);
#endif
	pthread_mutex_unlock(&app_lock);
	if (verbose)
		fprintf(stderr, "fuzz_af_unix: vid %d, %u vrings: %u enqueued, %u dequeued\n",
			vid, nr_vring, nr_enq, nr_deq);
	nr_enq = 0;
	nr_deq = 0;
	/* What the API calls sent on back-end channels: read it like a front-end. */
	for (round = 0; round < c->nr_peer_ends; round++) {
		char buf[512];

		while (recv(c->peer_ends[round], buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
	}
}

/* ---- one input ---- */

static int
count_memfd_maps(void)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");
	int n = 0;

	if (f == NULL)
		abort();
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "/memfd:fuzz-") != NULL)
			n++;
	fclose(f);
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned int inputs;
	struct input in = { data, size };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = WAIT_MS / 1000 };
	struct fe_conn c;
	int fds_before, maps_before, i;
	uint8_t mode;

	if (size < 1)
		return 0;
	fds_before = test_count_fds();
	maps_before = count_memfd_maps();
	mode = in_u8(&in);
	memset(&fe, 0, sizeof(fe));
	memset(guest, 0, GUEST_SIZE);
	pthread_mutex_lock(&ev.lock);
	ev.refuse = mode & MODE_REFUSE;
	pthread_mutex_unlock(&ev.lock);

	memset(&c, 0, sizeof(c));
	c.alive = true;
	c.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c.fd < 0)
		abort();
	setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path[mode % NR_ENDPOINTS]);
	if (connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		abort();
	inputs++;
	/* The vid of this connection, before anything can end it. */
	wait_count(&ev.connected, inputs, "new_connection");

	while (c.alive && in.left > 0) {
		uint8_t op = in_u8(&in);

		switch (op & 3) {
		case 0:
		case 1:
			rec_message(&c, &in);
			break;
		case 2:
			rec_guest(&in, op);
			break;
		default:
			rec_datapath(&c, &in);
			break;
		}
	}
	/* Every input ends with a look at what the messages left. */
	in.left = 0;
	if (c.alive)
		rec_datapath(&c, &in);

	close(c.fd);
	for (i = 0; i < c.nr_peer_ends; i++)
		close(c.peer_ends[i]);
	wait_count(&ev.destroyed, inputs, "destroy_connection");
	/* The callback that freed the device also closes the socket: let it end. */
	loop_barrier();
	if (guest_valid != GUEST_SIZE) {
		if (ftruncate(guest_fd, GUEST_SIZE) < 0)
			abort();
		guest_valid = GUEST_SIZE;
	}
	if (test_count_fds() != fds_before) {
		fprintf(stderr, "fuzz_af_unix: fd leak: %d open, %d before\n",
			test_count_fds(), fds_before);
		abort();
	}
	if (count_memfd_maps() != maps_before) {
		fprintf(stderr, "fuzz_af_unix: mapping leak: %d memfd mappings, %d before\n",
			count_memfd_maps(), maps_before);
		abort();
	}
	return 0;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/vfio_user: client and server over a socketpair in one process, the
 * server served by a thread. Each case checks the documented outcome (an
 * error reply, or a dropped connection) and that no fd leaked, by counting
 * /proc/self/fd before and after.
 */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "test.h"
#include "test_util.h"
#include "vfio_user.h"

#define NR_MSIX 8
#define BAR0_SIZE 0x10000u
#define BAR2_SIZE (1u << 20)
#define BAR4_SIZE 0x10000u
#define CFG_SIZE 256u
#define SHORT_TIMEOUT_MS 300

/* ---- a small device behind the server callbacks ---- */

struct dev {
	uint8_t bar0[BAR0_SIZE];
	uint8_t cfg[CFG_SIZE];
	int memfd_a, memfd_b, memfd_c;
	int irq_fds[NR_MSIX];
	int dma_fd;
	uint64_t dma_addr, dma_size;
	unsigned int set_irqs_calls;
	unsigned int resets;
	unsigned int disconnects;
};

static int
dev_info(void *arg, struct vfio_user_device_info *info)
{
	info->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
	info->num_regions = VFIO_PCI_NUM_REGIONS;
	info->num_irqs = VFIO_PCI_NUM_IRQS;
	return 0;
}

static int
dev_region(void *arg, uint32_t index, struct vfio_user_region *r)
{
	struct dev *d = arg;
	const uint32_t rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;

	switch (index) {
	case VFIO_PCI_BAR0_REGION_INDEX:
		r->flags = rw;
		r->size = BAR0_SIZE;
		break;
	case VFIO_PCI_BAR2_REGION_INDEX:
		/* Two windows, each in its own file: needs sparse_mmap_fds. */
		r->flags = rw | VFIO_REGION_INFO_FLAG_MMAP;
		r->size = BAR2_SIZE;
		r->nr_areas = 2;
		r->areas[0] = (struct vfio_user_area){ 0, 0x10000, d->memfd_a, 0 };
		r->areas[1] = (struct vfio_user_area){ 0x20000, 0x10000, d->memfd_b, 4096 };
		break;
	case VFIO_PCI_BAR4_REGION_INDEX:
		/* One file, two windows: the standard sparse mmap. */
		r->flags = rw | VFIO_REGION_INFO_FLAG_MMAP;
		r->size = BAR4_SIZE;
		r->fd = d->memfd_c;
		r->offset = 8192;
		r->nr_areas = 2;
		r->areas[0] = (struct vfio_user_area){ 0, 4096, -1, 0 };
		r->areas[1] = (struct vfio_user_area){ 8192, 4096, -1, 0 };
		break;
	case VFIO_PCI_BAR5_REGION_INDEX:
		r->flags = VFIO_REGION_INFO_FLAG_READ;
		r->size = 4096;
		break;
	case VFIO_PCI_CONFIG_REGION_INDEX:
		r->flags = rw;
		r->size = CFG_SIZE;
		break;
	default:
		break;
	}
	return 0;
}

static int
dev_irq(void *arg, struct vfio_irq_info *info)
{
	info->flags = VFIO_IRQ_INFO_EVENTFD;
	info->count = info->index == VFIO_PCI_MSIX_IRQ_INDEX ? NR_MSIX : 0;
	return 0;
}

static int
dev_set_irqs(void *arg, const struct vfio_irq_set *set, const uint8_t *bools,
	     const int *fds, unsigned int nr_fds)
{
	struct dev *d = arg;
	unsigned int i;

	d->set_irqs_calls++;
	if (set->index != VFIO_PCI_MSIX_IRQ_INDEX) {
		for (i = 0; i < nr_fds; i++)
			close(fds[i]);
		return 0;
	}
	for (i = 0; i < set->count; i++) {
		int *slot = &d->irq_fds[set->start + i];

		if (!(set->flags & VFIO_IRQ_SET_DATA_EVENTFD))
			continue;
		if (*slot >= 0)
			close(*slot);
		*slot = nr_fds > 0 ? fds[i] : -1;
	}
	return 0;
}

static int
dev_read(void *arg, uint32_t region, uint64_t offset, void *buf, uint32_t count)
{
	struct dev *d = arg;

	if (region == VFIO_PCI_BAR0_REGION_INDEX)
		memcpy(buf, d->bar0 + offset, count);
	else if (region == VFIO_PCI_CONFIG_REGION_INDEX)
		memcpy(buf, d->cfg + offset, count);
	else
		memset(buf, 0xab, count);
	return 0;
}

static int
dev_write(void *arg, uint32_t region, uint64_t offset, const void *buf, uint32_t count)
{
	struct dev *d = arg;

	if (region == VFIO_PCI_BAR0_REGION_INDEX)
		memcpy(d->bar0 + offset, buf, count);
	else if (region == VFIO_PCI_CONFIG_REGION_INDEX)
		memcpy(d->cfg + offset, buf, count);
	else
		return -EIO;
	return 0;
}

static int
dev_dma_map(void *arg, const struct vfio_user_dma_map *map, int fd)
{
	struct dev *d = arg;

	if (d->dma_fd >= 0)
		return -EEXIST; /* the library closes fd */
	d->dma_fd = fd;
	d->dma_addr = map->addr;
	d->dma_size = map->size;
	return 0;
}

static void
dev_drop_dma(struct dev *d)
{
	if (d->dma_fd >= 0)
		close(d->dma_fd);
	d->dma_fd = -1;
}

static int
dev_dma_unmap(void *arg, const struct vfio_user_dma_unmap *unmap)
{
	struct dev *d = arg;

	if (!(unmap->flags & VFIO_USER_F_DMA_UNMAP_ALL) &&
	    (d->dma_fd < 0 || unmap->addr != d->dma_addr || unmap->size != d->dma_size))
		return -ENOENT;
	dev_drop_dma(d);
	return 0;
}

static int
dev_reset(void *arg)
{
	((struct dev *)arg)->resets++;
	return 0;
}

static void
dev_disconnected(void *arg)
{
	struct dev *d = arg;
	unsigned int i;

	d->disconnects++;
	dev_drop_dma(d);
	for (i = 0; i < NR_MSIX; i++) {
		if (d->irq_fds[i] >= 0)
			close(d->irq_fds[i]);
		d->irq_fds[i] = -1;
	}
}

static const struct vfio_user_server_ops dev_ops = {
	.get_device_info = dev_info,
	.get_region_info = dev_region,
	.get_irq_info = dev_irq,
	.set_irqs = dev_set_irqs,
	.region_read = dev_read,
	.region_write = dev_write,
	.dma_map = dev_dma_map,
	.dma_unmap = dev_dma_unmap,
	.device_reset = dev_reset,
	.disconnected = dev_disconnected,
};

/* ---- harness ---- */

static int
memfd_with(const char *name, size_t size, uint64_t marker_off, uint32_t marker)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0 ||
	    pwrite(fd, &marker, sizeof(marker), (off_t)marker_off) != sizeof(marker))
		return -1;
	return fd;
}

struct harness {
	struct dev dev;
	struct vfio_user_server *srv;
	pthread_t thread;
	int cfd;          /* client end of the socketpair */
	int fds_before;
};

static struct harness H;

static void *
serve(void *arg)
{
	struct harness *h = arg;

	for (;;) {
		struct pollfd pfd = { .fd = vfio_user_server_conn_fd(h->srv), .events = POLLIN };
		int pending = vfio_user_server_pending_ms(h->srv);
		int rc;

		if (pfd.fd < 0)
			break;
		/*
		 * As an event loop would: wake for bytes, or when a partial
		 * request is due. Bounded: a stuck case ends instead of hanging
		 * the suite.
		 */
		rc = poll(&pfd, 1, pending >= 0 ? pending + 1 : 10000);
		if (rc < 0 || (rc == 0 && pending < 0))
			break;
		if (vfio_user_server_handle(h->srv) == -ENOTCONN)
			break;
	}
	return NULL;
}

static void
h_start(const struct vfio_user_server_params *params)
{
	struct harness *h = &H;
	int sv[2];
	unsigned int i;

	memset(h, 0, sizeof(*h));
	h->fds_before = test_count_fds();
	h->dev.dma_fd = -1;
	for (i = 0; i < NR_MSIX; i++)
		h->dev.irq_fds[i] = -1;
	h->dev.memfd_a = memfd_with("bar2a", 0x10000, 0, 0xaaaa0000);
	h->dev.memfd_b = memfd_with("bar2b", 0x20000, 4096, 0xbbbb1000);
	h->dev.memfd_c = memfd_with("bar4", 0x10000, 8192 + 8192, 0xcccc2000);
	TEST_ASSERT(h->dev.memfd_a >= 0 && h->dev.memfd_b >= 0 && h->dev.memfd_c >= 0);
	TEST_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	h->srv = vfio_user_server_create(NULL, &dev_ops, &h->dev, params);
	TEST_ASSERT(h->srv != NULL);
	TEST_ASSERT(vfio_user_server_attach(h->srv, sv[0]) == 0);
	h->cfd = sv[1];
	TEST_ASSERT(pthread_create(&h->thread, NULL, serve, h) == 0);
}

/* Close the client end, wait for the server to notice, check for leaks. */
static void
h_stop(void)
{
	struct harness *h = &H;

	if (h->cfd >= 0)
		close(h->cfd);
	h->cfd = -1;
	pthread_join(h->thread, NULL);
	vfio_user_server_destroy(h->srv);
	close(h->dev.memfd_a);
	close(h->dev.memfd_b);
	close(h->dev.memfd_c);
	TEST_ASSERT_EQ(test_count_fds(), h->fds_before);
}

/* A client on the harness socket (negotiated unless told otherwise). */
static struct vfio_user_client *
h_client(const struct vfio_user_client_params *params, bool negotiate)
{
	struct vfio_user_client *cli;
	int fd = dup(H.cfd);

	TEST_ASSERT(fd >= 0);
	cli = vfio_user_client_create(fd, params);
	TEST_ASSERT(cli != NULL);
	if (negotiate)
		TEST_ASSERT_EQ(vfio_user_client_negotiate(cli), 0);
	return cli;
}

/* Raw request on the harness socket; returns the reply's errno, or -1 on EOF. */
static int
raw(uint16_t cmd, uint32_t flags, const void *payload, size_t len, const int *fds,
    unsigned int nr_fds, struct vfio_user_msg *reply_out)
{
	static uint16_t id = 0x4000;
	struct vfio_user_header hdr = { .msg_id = ++id, .command = cmd, .flags = flags };
	struct vfio_user_msg reply;
	int rc;

	rc = vfio_user_send_msg(H.cfd, &hdr, payload, len, fds, nr_fds, 2000);
	if (rc < 0)
		return -1;
	rc = vfio_user_recv_msg(H.cfd, &reply, 1 << 21, VFIO_USER_FDS_MAX, 2000);
	if (rc < 0)
		return -1;
	TEST_ASSERT_EQ(reply.hdr.msg_id, id);
	TEST_ASSERT_EQ(reply.hdr.command, cmd);
	TEST_ASSERT_EQ(reply.hdr.flags & VFIO_USER_F_TYPE_MASK, VFIO_USER_F_TYPE_REPLY);
	rc = (reply.hdr.flags & VFIO_USER_F_ERROR) ? (int)reply.hdr.error : 0;
	if (reply_out != NULL)
		*reply_out = reply;
	else
		vfio_user_msg_release(&reply);
	return rc;
}

/* Is the peer gone? (reads until EOF, with a bound) */
static bool
peer_closed(int fd)
{
	char buf[256];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	while (poll(&pfd, 1, 3000) > 0) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n <= 0)
			return true;
	}
	return false;
}

static int
raw_version(const char *json, size_t json_len, uint16_t major)
{
	uint8_t buf[8192];
	struct vfio_user_version ver = { .major = major, .minor = 0 };

	memcpy(buf, &ver, sizeof(ver));
	memcpy(buf + sizeof(ver), json, json_len);
	return raw(VFIO_USER_VERSION, 0, buf, sizeof(ver) + json_len, NULL, 0, NULL);
}

static void
raw_negotiate(void)
{
	static const char json[] = "{\"capabilities\":{\"max_msg_fds\":8}}";

	TEST_ASSERT_EQ(raw_version(json, sizeof(json), 0), 0);
}

static bool
same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_ino == sb.st_ino &&
		sa.st_dev == sb.st_dev;
}

/* ---- version negotiation ---- */

TEST_CASE(version_negotiates_caps)
{
	struct vfio_user_client *cli;
	const struct vfio_user_caps *caps;

	h_start(NULL);
	cli = h_client(NULL, true);
	caps = vfio_user_client_server_caps(cli);
	TEST_ASSERT(caps != NULL);
	TEST_ASSERT_EQ(caps->max_msg_fds, VFIO_USER_SERVER_DEFAULT_MAX_MSG_FDS);
	TEST_ASSERT_EQ(caps->max_data_xfer_size, VFIO_USER_DEFAULT_MAX_DATA_XFER_SIZE);
	TEST_ASSERT(caps->sparse_mmap_fds);
	vfio_user_client_destroy(cli);
	h_stop();
}

TEST_CASE(version_no_json_defaults)
{
	struct vfio_user_msg reply;
	struct vfio_user_version ver = { .major = 0, .minor = 5 };
	struct vfio_user_caps caps;
	uint16_t major, minor;

	h_start(NULL);
	TEST_ASSERT_EQ(raw(VFIO_USER_VERSION, 0, &ver, sizeof(ver), NULL, 0, &reply), 0);
	TEST_ASSERT_EQ(vfio_user_version_parse(reply.payload, reply.payload_len, &major,
					       &minor, &caps), 0);
	TEST_ASSERT_EQ(minor, VFIO_USER_MINOR);
	/* The client proposed nothing: the extension must not be enabled. */
	TEST_ASSERT(!caps.sparse_mmap_fds);
	vfio_user_msg_release(&reply);
	h_stop();
}

/* A failed VERSION: error reply, then the server drops the client. */
static void
version_rejected(const char *json, size_t len, uint16_t major)
{
	h_start(NULL);
	TEST_ASSERT_EQ(raw_version(json, len, major), EINVAL);
	TEST_ASSERT(peer_closed(H.cfd));
	h_stop();
	TEST_ASSERT_EQ(H.dev.disconnects, 1);
}

TEST_CASE(version_bad_json)
{
	static const char json[] = "{\"capabilities\": {";

	version_rejected(json, sizeof(json), 0);
}

TEST_CASE(version_missing_nul)
{
	static const char json[] = "{\"capabilities\":{}}";

	version_rejected(json, sizeof(json) - 1, 0);
}

TEST_CASE(version_nul_inside)
{
	static const char json[] = "{\"capabilities\":{}}\0garbage";

	version_rejected(json, sizeof(json), 0);
}

TEST_CASE(version_oversized)
{
	static char json[VFIO_USER_JSON_MAX + 100];

	memset(json, ' ', sizeof(json));
	memcpy(json, "{}", 2);
	json[sizeof(json) - 1] = '\0';
	version_rejected(json, sizeof(json), 0);
}

TEST_CASE(version_wrong_major)
{
	static const char json[] = "{}";

	version_rejected(json, sizeof(json), 1);
}

TEST_CASE(version_wrong_types)
{
	static const char j1[] = "{\"capabilities\":{\"max_msg_fds\":\"16\"}}";
	static const char j2[] = "{\"capabilities\":{\"max_data_xfer_size\":0}}";
	static const char j3[] = "{\"capabilities\":{\"pgsizes\":4097}}";
	static const char j4[] = "{\"capabilities\":{\"sparse_mmap_fds\":1}}";
	static const char j5[] = "{\"capabilities\":[]}";
	static const char j6[] = "[1,2]";
	static const char j7[] = "{\"capabilities\":{\"max_msg_fds\":1.5}}";
	static const char j8[] = "{\"a\":1,\"a\":2}";
	const char *bad[] = { j1, j2, j3, j4, j5, j6, j7, j8 };
	size_t lens[] = { sizeof(j1), sizeof(j2), sizeof(j3), sizeof(j4), sizeof(j5),
			  sizeof(j6), sizeof(j7), sizeof(j8) };
	struct vfio_user_caps caps;
	uint16_t ma, mi;
	uint8_t buf[256];
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(buf, 0, 4);
		memcpy(buf + 4, bad[i], lens[i]);
		TEST_ASSERT_EQ(vfio_user_version_parse(buf, 4 + lens[i], &ma, &mi, &caps),
			       -EINVAL);
	}
	version_rejected(j1, sizeof(j1), 0);
}

TEST_CASE(version_second_and_before)
{
	struct vfio_user_device_info info = { .argsz = sizeof(info) };

	h_start(NULL);
	/* A request before VERSION is refused but the client is kept. */
	TEST_ASSERT_EQ(raw(VFIO_USER_DEVICE_GET_INFO, 0, &info, sizeof(info), NULL, 0, NULL),
		       EINVAL);
	raw_negotiate();
	TEST_ASSERT_EQ(raw_version("{}", 3, 0), EINVAL);
	TEST_ASSERT_EQ(raw(VFIO_USER_DEVICE_GET_INFO, 0, &info, sizeof(info), NULL, 0, NULL),
		       0);
	h_stop();
}

/* ---- info ---- */

TEST_CASE(device_and_irq_info)
{
	struct vfio_user_client *cli;
	struct vfio_user_device_info info;
	struct vfio_irq_info irq;

	h_start(NULL);
	cli = h_client(NULL, true);
	TEST_ASSERT_EQ(vfio_user_client_get_device_info(cli, &info), 0);
	TEST_ASSERT_EQ(info.argsz, sizeof(info));
	TEST_ASSERT_EQ(info.num_regions, VFIO_PCI_NUM_REGIONS);
	TEST_ASSERT_EQ(info.num_irqs, VFIO_PCI_NUM_IRQS);
	TEST_ASSERT_EQ(vfio_user_client_get_irq_info(cli, VFIO_PCI_MSIX_IRQ_INDEX, &irq), 0);
	TEST_ASSERT_EQ(irq.count, NR_MSIX);
	TEST_ASSERT_EQ(vfio_user_client_get_irq_info(cli, VFIO_PCI_NUM_IRQS, &irq), -EINVAL);
	vfio_user_client_destroy(cli);
	h_stop();
}

/* ---- regions ---- */

static uint32_t
map_word(int fd, uint64_t off, uint64_t size, uint64_t at)
{
	void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, (off_t)off);
	uint32_t v;

	TEST_ASSERT(p != MAP_FAILED);
	memcpy(&v, (uint8_t *)p + at, sizeof(v));
	munmap(p, size);
	return v;
}

TEST_CASE(region_info_sparse_mmap_fds)
{
	struct vfio_user_client *cli;
	struct vfio_user_region r;

	h_start(NULL);
	cli = h_client(NULL, true);
	TEST_ASSERT_EQ(vfio_user_client_get_region_info(cli, VFIO_PCI_BAR2_REGION_INDEX, &r), 0);
	TEST_ASSERT(r.flags & VFIO_REGION_INFO_FLAG_MMAP);
	TEST_ASSERT_EQ(r.size, BAR2_SIZE);
	TEST_ASSERT_EQ(r.fd, -1);
	TEST_ASSERT_EQ(r.nr_areas, 2);
	TEST_ASSERT_EQ(r.areas[1].offset, 0x20000);
	TEST_ASSERT_EQ(r.areas[1].fd_offset, 4096);
	TEST_ASSERT(same_file(r.areas[0].fd, H.dev.memfd_a));
	TEST_ASSERT(same_file(r.areas[1].fd, H.dev.memfd_b));
	TEST_ASSERT_EQ(map_word(r.areas[1].fd, r.areas[1].fd_offset, r.areas[1].size, 0),
		       0xbbbb1000);
	vfio_user_region_close(&r);

	/* Standard form on a one-file region: same fd for both areas. */
	TEST_ASSERT_EQ(vfio_user_client_get_region_info(cli, VFIO_PCI_BAR4_REGION_INDEX, &r), 0);
	TEST_ASSERT_EQ(r.nr_areas, 2);
	TEST_ASSERT(r.fd >= 0 && r.areas[0].fd == r.fd && r.areas[1].fd == r.fd);
	TEST_ASSERT_EQ(r.areas[1].fd_offset, 8192 + 8192);
	TEST_ASSERT_EQ(map_word(r.fd, r.areas[1].fd_offset, r.areas[1].size, 0), 0xcccc2000);
	vfio_user_region_close(&r);

	/* A region without mmap, and one out of range. */
	TEST_ASSERT_EQ(vfio_user_client_get_region_info(cli, VFIO_PCI_CONFIG_REGION_INDEX, &r),
		       0);
	TEST_ASSERT_EQ(r.nr_areas, 0);
	TEST_ASSERT_EQ(r.fd, -1);
	TEST_ASSERT_EQ(r.size, CFG_SIZE);
	TEST_ASSERT_EQ(vfio_user_client_get_region_info(cli, 42, &r), -EINVAL);
	vfio_user_client_destroy(cli);
	h_stop();
}

TEST_CASE(region_info_without_extension)
{
	struct vfio_user_client_params p = { .no_sparse_mmap_fds = true };
	struct vfio_user_client *cli;
	struct vfio_user_region r;

	h_start(NULL);
	cli = h_client(&p, true);
	TEST_ASSERT(!vfio_user_client_server_caps(cli)->sparse_mmap_fds);
	/* The per-file windows cannot be described: no mmap offered. */
	TEST_ASSERT_EQ(vfio_user_client_get_region_info(cli, VFIO_PCI_BAR2_REGION_INDEX, &r), 0);
	TEST_ASSERT(!(r.flags & VFIO_REGION_INFO_FLAG_MMAP));
	TEST_ASSERT_EQ(r.nr_areas, 0);
	vfio_user_region_close(&r);
	TEST_ASSERT_EQ(vfio_user_client_get_region_info(cli, VFIO_PCI_BAR4_REGION_INDEX, &r), 0);
	TEST_ASSERT_EQ(r.nr_areas, 2);
	vfio_user_region_close(&r);
	vfio_user_client_destroy(cli);
	h_stop();
}

TEST_CASE(region_info_two_phase)
{
	struct vfio_region_info req = { .argsz = sizeof(req),
		.index = VFIO_PCI_BAR2_REGION_INDEX };
	struct vfio_region_info rep;
	struct vfio_user_msg reply;
	static const char json[] =
		"{\"capabilities\":{\"sparse_mmap_fds\":true,\"max_msg_fds\":2}}";
	static const char json1[] = "{\"capabilities\":{\"sparse_mmap_fds\":true}}";

	/* A client that takes one fd per message cannot get two: E2BIG. */
	h_start(NULL);
	TEST_ASSERT_EQ(raw_version(json1, sizeof(json1), 0), 0);
	TEST_ASSERT_EQ(raw(VFIO_USER_DEVICE_GET_REGION_INFO, 0, &req, sizeof(req), NULL, 0,
			   NULL), 0);
	req.argsz = 4096;
	TEST_ASSERT_EQ(raw(VFIO_USER_DEVICE_GET_REGION_INFO, 0, &req, sizeof(req), NULL, 0,
			   NULL), E2BIG);
	req.argsz = sizeof(req);
	h_stop();

	h_start(NULL);
	TEST_ASSERT_EQ(raw_version(json, sizeof(json), 0), 0);
	TEST_ASSERT_EQ(raw(VFIO_USER_DEVICE_GET_REGION_INFO, 0, &req, sizeof(req), NULL, 0,
			   &reply), 0);
	TEST_ASSERT_EQ(reply.payload_len, sizeof(rep));
	TEST_ASSERT_EQ(reply.nr_fds, 0);
	memcpy(&rep, reply.payload, sizeof(rep));
	TEST_ASSERT_EQ(rep.argsz, sizeof(rep) +
		       sizeof(struct vfio_user_region_info_cap_sparse_mmap_fds) +
		       2 * sizeof(struct vfio_user_sparse_mmap_fd_area));
	vfio_user_msg_release(&reply);
	req.argsz = rep.argsz;
	TEST_ASSERT_EQ(raw(VFIO_USER_DEVICE_GET_REGION_INFO, 0, &req, sizeof(req), NULL, 0,
			   &reply), 0);
	TEST_ASSERT_EQ(reply.payload_len, rep.argsz);
	TEST_ASSERT_EQ(reply.nr_fds, 2);
	vfio_user_msg_release(&reply);
	req.argsz = 8;
	TEST_ASSERT_EQ(raw(VFIO_USER_DEVICE_GET_REGION_INFO, 0, &req, sizeof(req), NULL, 0,
			   NULL), EINVAL);
	h_stop();
}

TEST_CASE(region_read_write_bounds)
{
	struct vfio_user_client_params p = { .max_data_xfer_size = 4096 };
	struct vfio_user_client *cli;
	static uint8_t in[3 * 4096 + 5], out[sizeof(in)];
	struct vfio_user_region_access acc = { .region = 0, .count = 8192 };
	unsigned int i;

	h_start(NULL);
	cli = h_client(&p, true);
	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7);
	/* Chunked in 4 KiB pieces, ends exactly at the end of BAR0. */
	TEST_ASSERT_EQ(vfio_user_client_region_write(cli, 0, BAR0_SIZE - sizeof(in), in,
						     sizeof(in)), 0);
	TEST_ASSERT_EQ(vfio_user_client_region_read(cli, 0, BAR0_SIZE - sizeof(in), out,
						    sizeof(out)), 0);
	TEST_ASSERT(memcmp(in, out, sizeof(in)) == 0);
	TEST_ASSERT_EQ(memcmp(H.dev.bar0 + BAR0_SIZE - sizeof(in), in, sizeof(in)), 0);
	/* One byte past the end, far past, wrapping, bad region, no WRITE flag. */
	TEST_ASSERT_EQ(vfio_user_client_region_read(cli, 0, BAR0_SIZE - 3, out, 4), -EINVAL);
	TEST_ASSERT_EQ(vfio_user_client_region_write(cli, 0, BAR0_SIZE, in, 1), -EINVAL);
	TEST_ASSERT_EQ(vfio_user_client_region_read(cli, 0, UINT64_MAX - 1, out, 4), -EINVAL);
	TEST_ASSERT_EQ(vfio_user_client_region_read(cli, 99, 0, out, 4), -EINVAL);
	TEST_ASSERT_EQ(vfio_user_client_region_write(cli, VFIO_PCI_BAR5_REGION_INDEX, 0, in, 4),
		       -EINVAL);
	TEST_ASSERT_EQ(vfio_user_client_region_read(cli, VFIO_PCI_BAR5_REGION_INDEX, 0, out, 4),
		       0);
	TEST_ASSERT_EQ(vfio_user_client_region_read(cli, VFIO_PCI_CONFIG_REGION_INDEX,
						    CFG_SIZE - 4, out, 4), 0);
	/* More than the client's max_data_xfer_size in one message. */
	TEST_ASSERT_EQ(raw(VFIO_USER_REGION_READ, 0, &acc, sizeof(acc), NULL, 0, NULL), EINVAL);
	vfio_user_client_destroy(cli);
	h_stop();
}

/*
 * A posted write (doorbell) is not waited for: the server answers nothing,
 * so the next request's reply is that request's, and it sees the write.
 * One the server refuses costs no reply either and breaks nothing.
 */
TEST_CASE(region_write_posted_gets_no_reply)
{
	struct vfio_user_client *cli;
	uint8_t in[VFIO_USER_POSTED_WRITE_MAX + 1] = { 0x5a, 0xa5, 0x11, 0x22 };
	uint8_t out[4] = { 0 };
	unsigned int i;

	h_start(NULL);
	cli = h_client(NULL, true);
	for (i = 0; i < 3; i++) {
		in[0] = (uint8_t)(0x50 + i);
		TEST_ASSERT_EQ(vfio_user_client_region_write_posted(cli, 0, 0x100, in, 4), 0);
	}
	/* Refused by the server (past BAR0): only logged there. */
	TEST_ASSERT_EQ(vfio_user_client_region_write_posted(cli, 0, BAR0_SIZE - 1, in, 2), 0);
	TEST_ASSERT_EQ(vfio_user_client_region_read(cli, 0, 0x100, out, sizeof(out)), 0);
	TEST_ASSERT(out[0] == 0x52 && out[1] == 0xa5 && out[2] == 0x11 && out[3] == 0x22,
		    "read back %02x %02x %02x %02x", out[0], out[1], out[2], out[3]);
	TEST_ASSERT_EQ(H.dev.bar0[0x100], 0x52);
	/* A doorbell is small: nothing else goes unacknowledged. */
	TEST_ASSERT_EQ(vfio_user_client_region_write_posted(cli, 0, 0x100, in, 0), -EINVAL);
	TEST_ASSERT_EQ(vfio_user_client_region_write_posted(cli, 0, 0x100, in, sizeof(in)),
		       -EINVAL);
	TEST_ASSERT_EQ(vfio_user_client_region_read(cli, 0, 0x100, out, 1), 0);
	vfio_user_client_destroy(cli);
	h_stop();
}

/*
 * Reads sent together come back in order, each checked: one round trip. A
 * read the server refuses reports its error, and the reads after it and
 * the next request still get their own replies.
 */
TEST_CASE(region_read_batch_in_one_round_trip)
{
	struct vfio_user_client *cli;
	uint8_t a[4] = { 0 }, b[2] = { 0 }, c[1] = { 0 };
	struct vfio_user_client_read r[VFIO_USER_READ_BATCH_MAX + 1] = {
		{ .region = 0, .offset = 0x200, .buf = a, .count = sizeof(a) },
		{ .region = 0, .offset = BAR0_SIZE - 1, .buf = b, .count = sizeof(b) },
		{ .region = 0, .offset = 0x301, .buf = c, .count = sizeof(c) },
	};
	unsigned int i;

	h_start(NULL);
	cli = h_client(NULL, true);
	for (i = 0; i < 8; i++)
		H.dev.bar0[0x200 + i] = (uint8_t)(0xc0 + i);
	H.dev.bar0[0x301] = 0x77;
	/* The second read runs past BAR0: refused, the third still answered. */
	TEST_ASSERT_EQ(vfio_user_client_region_read_batch(cli, r, 3), -EINVAL);
	TEST_ASSERT(a[0] == 0xc0 && a[3] == 0xc3, "first read %02x..%02x", a[0], a[3]);
	TEST_ASSERT_EQ(c[0], 0x77);
	r[1].offset = 0x204;
	memset(a, 0, sizeof(a));
	c[0] = 0;
	TEST_ASSERT_EQ(vfio_user_client_region_read_batch(cli, r, 3), 0);
	TEST_ASSERT(a[0] == 0xc0 && b[0] == 0xc4 && b[1] == 0xc5 && c[0] == 0x77,
		    "read %02x %02x %02x %02x", a[0], b[0], b[1], c[0]);
	TEST_ASSERT_EQ(vfio_user_client_region_read_batch(cli, r, 0), -EINVAL);
	TEST_ASSERT_EQ(vfio_user_client_region_read_batch(cli, r, VFIO_USER_READ_BATCH_MAX + 1), -EINVAL);
	r[0].count = 0;
	TEST_ASSERT_EQ(vfio_user_client_region_read_batch(cli, r, 1), -EINVAL);
	TEST_ASSERT_EQ(vfio_user_client_region_read(cli, 0, 0x200, a, 1), 0);
	TEST_ASSERT_EQ(a[0], 0xc0);
	vfio_user_client_destroy(cli);
	h_stop();
}

TEST_CASE(region_write_payload_mismatch)
{
	uint8_t buf[sizeof(struct vfio_user_region_access) + 8] = { 0 };
	struct vfio_user_region_access acc = { .offset = 0, .region = 0, .count = 16 };

	h_start(NULL);
	raw_negotiate();
	memcpy(buf, &acc, sizeof(acc));
	TEST_ASSERT_EQ(raw(VFIO_USER_REGION_WRITE, 0, buf, sizeof(buf), NULL, 0, NULL), EINVAL);
	acc.count = 4;
	memcpy(buf, &acc, sizeof(acc));
	TEST_ASSERT_EQ(raw(VFIO_USER_REGION_WRITE, 0, buf, sizeof(buf), NULL, 0, NULL), EINVAL);
	acc.count = 8;
	memcpy(buf, &acc, sizeof(acc));
	TEST_ASSERT_EQ(raw(VFIO_USER_REGION_WRITE, 0, buf, sizeof(buf), NULL, 0, NULL), 0);
	h_stop();
}

/* ---- DMA ---- */

TEST_CASE(dma_map_unmap)
{
	struct vfio_user_client *cli;
	struct vfio_user_dma_map map = { .argsz = 64, .flags = 3, .addr = 0x1000, .size = 4096 };
	const uint32_t rw = VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE;
	int mfd;

	h_start(NULL);
	mfd = memfd_with("dma", 0x4000, 0, 1);
	TEST_ASSERT(mfd >= 0);
	cli = h_client(NULL, true);
	TEST_ASSERT_EQ(vfio_user_client_dma_map(cli, rw, 0x100000, 0x4000, mfd, 0), 0);
	TEST_ASSERT(same_file(H.dev.dma_fd, mfd));
	TEST_ASSERT_EQ(H.dev.dma_addr, 0x100000);
	/* The device refuses a second map: its fd must be closed (leak check). */
	TEST_ASSERT_EQ(vfio_user_client_dma_map(cli, rw, 0x200000, 0x1000, mfd, 0), -EEXIST);
	TEST_ASSERT_EQ(vfio_user_client_dma_map(cli, rw, 0x300000, 0x1000, -1, 0), -ENOTSUP);
	TEST_ASSERT_EQ(vfio_user_client_dma_map(cli, 0x80, 0x300000, 0x1000, mfd, 0), -EINVAL);
	TEST_ASSERT_EQ(vfio_user_client_dma_map(cli, rw, UINT64_MAX - 0xfff, 0x2000, mfd, 0),
		       -EINVAL);
	TEST_ASSERT_EQ(vfio_user_client_dma_map(cli, rw, 0x300000, 0, mfd, 0), -EINVAL);
	TEST_ASSERT_EQ(vfio_user_client_dma_unmap(cli, 0, 0x100000, 0x1000), -ENOENT);
	TEST_ASSERT_EQ(vfio_user_client_dma_unmap(cli, 0, 0x100000, 0x4000), 0);
	TEST_ASSERT_EQ(H.dev.dma_fd, -1);
	TEST_ASSERT_EQ(vfio_user_client_dma_unmap(cli, VFIO_USER_F_DMA_UNMAP_ALL, 1, 0), -EINVAL);
	TEST_ASSERT_EQ(vfio_user_client_dma_unmap(cli, VFIO_USER_F_DMA_UNMAP_ALL, 0, 0), 0);
	TEST_ASSERT_EQ(vfio_user_client_dma_unmap(cli, 1, 0x100000, 0x4000), -EINVAL);
	/* argsz larger than the request payload. */
	TEST_ASSERT_EQ(vfio_user_client_request(cli, VFIO_USER_DMA_MAP, &map, sizeof(map), &mfd,
						1, &(struct vfio_user_msg){ 0 }), -EINVAL);
	/* Left mapped on purpose: the disconnect must release it. */
	TEST_ASSERT_EQ(vfio_user_client_dma_map(cli, rw, 0x100000, 0x4000, mfd, 0), 0);
	vfio_user_client_destroy(cli);
	close(mfd);
	h_stop();
	TEST_ASSERT_EQ(H.dev.dma_fd, -1);
}

/* ---- interrupts ---- */

static void
set_irqs_case(uint32_t server_max_fds)
{
	struct vfio_user_server_params sp = { .max_msg_fds = server_max_fds };
	struct vfio_user_client *cli;
	int efd[NR_MSIX];
	unsigned int i, expect_calls;
	const uint32_t ev = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;

	for (i = 0; i < NR_MSIX; i++) {
		efd[i] = eventfd(0, EFD_CLOEXEC);
		TEST_ASSERT(efd[i] >= 0);
	}
	h_start(&sp);
	cli = h_client(NULL, true);
	TEST_ASSERT_EQ(vfio_user_client_set_irqs(cli, VFIO_PCI_MSIX_IRQ_INDEX, ev, 0, NR_MSIX,
						 efd, NULL), 0);
	expect_calls = (NR_MSIX + server_max_fds - 1) / server_max_fds;
	vfio_user_client_destroy(cli);
	/* Inspect the device only once the server thread is done. */
	close(H.cfd);
	H.cfd = -1;
	pthread_join(H.thread, NULL);
	TEST_ASSERT_EQ(H.dev.set_irqs_calls, expect_calls);
	TEST_ASSERT_EQ(H.dev.disconnects, 1);
	vfio_user_server_destroy(H.srv);
	H.srv = NULL;
	for (i = 0; i < NR_MSIX; i++)
		close(efd[i]);
	close(H.dev.memfd_a);
	close(H.dev.memfd_b);
	close(H.dev.memfd_c);
	TEST_ASSERT_EQ(test_count_fds(), H.fds_before - NR_MSIX);
}

TEST_CASE(set_irqs_eventfds)
{
	set_irqs_case(VFIO_USER_SERVER_DEFAULT_MAX_MSG_FDS);
}

TEST_CASE(set_irqs_chunked)
{
	set_irqs_case(3);
}

TEST_CASE(set_irqs_hostile)
{
	struct vfio_user_client *cli;
	struct vfio_irq_set set = { .argsz = sizeof(set), .index = VFIO_PCI_MSIX_IRQ_INDEX,
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		.start = 0, .count = 3 };
	int efd[4], mixed[4];
	unsigned int i;
	const uint32_t ev = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	uint8_t bools[2] = { 1, 0 };

	h_start(NULL);
	for (i = 0; i < 4; i++)
		efd[i] = eventfd(0, EFD_CLOEXEC);
	cli = h_client(NULL, true);
	/* Two fds for three vectors. */
	TEST_ASSERT_EQ(vfio_user_client_request(cli, VFIO_USER_DEVICE_SET_IRQS, &set,
						sizeof(set), efd, 2,
						&(struct vfio_user_msg){ 0 }), -EINVAL);
	/* fds with DATA_NONE. */
	set.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
	TEST_ASSERT_EQ(vfio_user_client_request(cli, VFIO_USER_DEVICE_SET_IRQS, &set,
						sizeof(set), efd, 3,
						&(struct vfio_user_msg){ 0 }), -EINVAL);
	/* Two data flags, argsz wrong, past the vector count, wrong index. */
	set.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_EVENTFD |
		VFIO_IRQ_SET_ACTION_TRIGGER;
	TEST_ASSERT_EQ(vfio_user_client_request(cli, VFIO_USER_DEVICE_SET_IRQS, &set,
						sizeof(set), NULL, 0,
						&(struct vfio_user_msg){ 0 }), -EINVAL);
	set.flags = ev;
	set.argsz = 4;
	TEST_ASSERT_EQ(vfio_user_client_request(cli, VFIO_USER_DEVICE_SET_IRQS, &set,
						sizeof(set), NULL, 0,
						&(struct vfio_user_msg){ 0 }), -EINVAL);
	TEST_ASSERT_EQ(vfio_user_client_set_irqs(cli, VFIO_PCI_MSIX_IRQ_INDEX, ev, NR_MSIX - 1,
						 2, efd, NULL), -EINVAL);
	TEST_ASSERT_EQ(vfio_user_client_set_irqs(cli, VFIO_PCI_MSIX_IRQ_INDEX, ev, UINT32_MAX,
						 1, NULL, NULL), -EINVAL);
	TEST_ASSERT_EQ(vfio_user_client_set_irqs(cli, 17, ev, 0, 1, efd, NULL), -EINVAL);
	/* Bool data must match count; a good one passes. */
	TEST_ASSERT_EQ(vfio_user_client_set_irqs(cli, VFIO_PCI_MSIX_IRQ_INDEX,
						 VFIO_IRQ_SET_DATA_BOOL |
						 VFIO_IRQ_SET_ACTION_MASK, 0, 2, NULL, bools), 0);
	/* Mixed valid and -1: sent as separate runs; then disable all. */
	mixed[0] = efd[0];
	mixed[1] = -1;
	mixed[2] = efd[1];
	mixed[3] = efd[2];
	TEST_ASSERT_EQ(vfio_user_client_set_irqs(cli, VFIO_PCI_MSIX_IRQ_INDEX, ev, 0, 4, mixed,
						 NULL), 0);
	TEST_ASSERT_EQ(vfio_user_client_set_irqs(cli, VFIO_PCI_MSIX_IRQ_INDEX,
						 VFIO_IRQ_SET_DATA_NONE |
						 VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0, NULL, NULL), 0);
	vfio_user_client_destroy(cli);
	close(H.cfd);
	H.cfd = -1;
	pthread_join(H.thread, NULL);
	/* bools, 3 runs, disable-all */
	TEST_ASSERT_EQ(H.dev.set_irqs_calls, 5);
	vfio_user_server_destroy(H.srv);
	for (i = 0; i < 4; i++)
		close(efd[i]);
	close(H.dev.memfd_a);
	close(H.dev.memfd_b);
	close(H.dev.memfd_c);
	TEST_ASSERT_EQ(test_count_fds(), H.fds_before);
}

/* ---- hostile framing ---- */

TEST_CASE(framing_short_header_eof)
{
	struct vfio_user_header hdr = { .msg_id = 1, .command = 1, .msg_size = 16 };

	h_start(NULL);
	TEST_ASSERT(write(H.cfd, &hdr, 8) == 8);
	shutdown(H.cfd, SHUT_WR);
	TEST_ASSERT(peer_closed(H.cfd));
	h_stop();
	TEST_ASSERT_EQ(H.dev.disconnects, 1);
}

TEST_CASE(framing_short_header_stall)
{
	struct vfio_user_server_params sp = { .timeout_ms = SHORT_TIMEOUT_MS };
	struct vfio_user_header hdr = { .msg_id = 1, .command = 1, .msg_size = 40 };

	h_start(&sp);
	/* A whole header, half a payload, then silence: dropped on timeout. */
	TEST_ASSERT(write(H.cfd, &hdr, sizeof(hdr)) == sizeof(hdr));
	TEST_ASSERT(write(H.cfd, "abc", 3) == 3);
	TEST_ASSERT(peer_closed(H.cfd));
	h_stop();
}

/*
 * The server never waits for the rest of a request: with half a header,
 * then half a payload, handle() returns at once (the caller's loop keeps
 * serving others), and the request completed byte by byte is served.
 */
TEST_CASE(framing_partial_request_resumes)
{
	struct vfio_user_server_params sp = { .timeout_ms = 5000 };
	struct vfio_user_version v = { .major = VFIO_USER_MAJOR, .minor = VFIO_USER_MINOR };
	struct vfio_user_header hdr = { .msg_id = 7, .command = VFIO_USER_VERSION,
		.msg_size = VFIO_USER_HDR_SIZE + sizeof(v) };
	struct vfio_user_msg reply;
	struct vfio_user_server *srv;
	struct dev d = { .dma_fd = -1, .irq_fds = { -1, -1, -1, -1, -1, -1, -1, -1 } };
	int before = test_count_fds();
	const uint8_t *p;
	int64_t t0, t1;
	int sv[2];
	size_t i;

	TEST_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	srv = vfio_user_server_create(NULL, &dev_ops, &d, &sp);
	TEST_ASSERT(srv != NULL);
	TEST_ASSERT(vfio_user_server_attach(srv, sv[0]) == 0);
	TEST_ASSERT_EQ(vfio_user_server_pending_ms(srv), -1);
	TEST_ASSERT(write(sv[1], &hdr, 5) == 5);
	t0 = test_now_ms();
	TEST_ASSERT_EQ(vfio_user_server_handle(srv), -EAGAIN);
	t1 = test_now_ms();
	TEST_ASSERT(t1 - t0 < 100); /* the old reader waited up to 5000 ms */
	TEST_ASSERT(vfio_user_server_pending_ms(srv) > 4000);
	p = (const uint8_t *)&hdr;
	for (i = 5; i < sizeof(hdr); i++) {
		TEST_ASSERT(write(sv[1], p + i, 1) == 1);
		TEST_ASSERT_EQ(vfio_user_server_handle(srv), -EAGAIN);
	}
	p = (const uint8_t *)&v;
	TEST_ASSERT(write(sv[1], p, 3) == 3);
	TEST_ASSERT_EQ(vfio_user_server_handle(srv), -EAGAIN);
	TEST_ASSERT(write(sv[1], p + 3, sizeof(v) - 3) == (ssize_t)(sizeof(v) - 3));
	TEST_ASSERT_EQ(vfio_user_server_handle(srv), 0);
	TEST_ASSERT_EQ(vfio_user_server_pending_ms(srv), -1);
	TEST_ASSERT_EQ(vfio_user_recv_msg(sv[1], &reply, 4096, 0, 2000), 0);
	TEST_ASSERT_EQ(reply.hdr.msg_id, 7);
	TEST_ASSERT_EQ(reply.hdr.flags & VFIO_USER_F_ERROR, 0);
	vfio_user_msg_release(&reply);
	/* nothing there: a spurious wakeup */
	TEST_ASSERT_EQ(vfio_user_server_handle(srv), -EAGAIN);
	close(sv[1]);
	TEST_ASSERT_EQ(vfio_user_server_handle(srv), -ENOTCONN);
	vfio_user_server_destroy(srv);
	TEST_ASSERT_EQ(test_count_fds(), before);
}

/* A partial request's fds and payload are released when the client drops. */
TEST_CASE(framing_partial_request_with_fds_dropped)
{
	struct vfio_user_server_params sp = { .timeout_ms = SHORT_TIMEOUT_MS };
	struct vfio_user_header hdr = { .msg_id = 1, .command = VFIO_USER_DMA_MAP,
		.msg_size = VFIO_USER_HDR_SIZE + sizeof(struct vfio_user_dma_map) };
	struct vfio_user_server *srv;
	struct dev d = { .dma_fd = -1, .irq_fds = { -1, -1, -1, -1, -1, -1, -1, -1 } };
	int before = test_count_fds();
	int sv[2], mfd;

	TEST_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	srv = vfio_user_server_create(NULL, &dev_ops, &d, &sp);
	TEST_ASSERT(srv != NULL);
	TEST_ASSERT(vfio_user_server_attach(srv, sv[0]) == 0);
	mfd = memfd_with("partial", 4096, 0, 1);
	TEST_ASSERT(mfd >= 0);
	/* the header and its fd, then 4 payload bytes, then silence */
	TEST_ASSERT_EQ(test_send_fds(sv[1], &hdr, sizeof(hdr), &mfd, 1), 0);
	TEST_ASSERT(write(sv[1], "abcd", 4) == 4);
	close(mfd);
	TEST_ASSERT_EQ(vfio_user_server_handle(srv), -EAGAIN);
	TEST_ASSERT(vfio_user_server_pending_ms(srv) >= 0);
	usleep((SHORT_TIMEOUT_MS + 20) * 1000);
	TEST_ASSERT_EQ(vfio_user_server_pending_ms(srv), 0);
	/* due: the next call drops it, fd and payload with it */
	TEST_ASSERT_EQ(vfio_user_server_handle(srv), -ENOTCONN);
	TEST_ASSERT_EQ(d.disconnects, 1);
	TEST_ASSERT(peer_closed(sv[1]));
	close(sv[1]);
	vfio_user_server_destroy(srv);
	TEST_ASSERT_EQ(test_count_fds(), before);
}

static void
bad_size_dropped(uint32_t msg_size)
{
	struct vfio_user_header hdr = { .msg_id = 1, .command = VFIO_USER_REGION_WRITE,
		.msg_size = msg_size };

	h_start(NULL);
	TEST_ASSERT(write(H.cfd, &hdr, sizeof(hdr)) == sizeof(hdr));
	TEST_ASSERT(peer_closed(H.cfd));
	h_stop();
}

TEST_CASE(framing_size_below_header)
{
	bad_size_dropped(8);
}

TEST_CASE(framing_size_above_max)
{
	bad_size_dropped(VFIO_USER_HDR_SIZE + sizeof(struct vfio_user_region_access) +
			 VFIO_USER_DEFAULT_MAX_DATA_XFER_SIZE + 1);
}

TEST_CASE(framing_argsz_and_payload)
{
	struct vfio_user_device_info info = { .argsz = 8 };
	uint8_t big[sizeof(info) + 4] = { 0 };
	struct vfio_user_dma_unmap unmap = { .argsz = 8, .addr = 0, .size = 4096 };

	h_start(NULL);
	raw_negotiate();
	TEST_ASSERT_EQ(raw(VFIO_USER_DEVICE_GET_INFO, 0, &info, sizeof(info), NULL, 0, NULL),
		       EINVAL);
	TEST_ASSERT_EQ(raw(VFIO_USER_DEVICE_GET_INFO, 0, &info, 8, NULL, 0, NULL), EINVAL);
	info.argsz = sizeof(info);
	memcpy(big, &info, sizeof(info));
	TEST_ASSERT_EQ(raw(VFIO_USER_DEVICE_GET_INFO, 0, big, sizeof(big), NULL, 0, NULL),
		       EINVAL);
	TEST_ASSERT_EQ(raw(VFIO_USER_DMA_UNMAP, 0, &unmap, sizeof(unmap), NULL, 0, NULL), EINVAL);
	TEST_ASSERT_EQ(raw(VFIO_USER_DEVICE_RESET, 0, big, 4, NULL, 0, NULL), EINVAL);
	TEST_ASSERT_EQ(raw(VFIO_USER_DEVICE_RESET, 0, NULL, 0, NULL, 0, NULL), 0);
	h_stop();
	TEST_ASSERT_EQ(H.dev.resets, 1);
}

TEST_CASE(framing_extra_and_missing_fds)
{
	struct vfio_user_device_info info = { .argsz = sizeof(info) };
	struct vfio_user_dma_map map = { .argsz = sizeof(map), .flags = 1, .size = 4096 };
	int fds[VFIO_USER_SERVER_DEFAULT_MAX_MSG_FDS + 4];
	unsigned int i;

	h_start(NULL);
	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	raw_negotiate();
	/* fds on a command that takes none: refused, closed by the server. */
	TEST_ASSERT_EQ(raw(VFIO_USER_DEVICE_GET_INFO, 0, &info, sizeof(info), fds, 2, NULL),
		       EINVAL);
	/* Two fds for a DMA_MAP, then none. */
	TEST_ASSERT_EQ(raw(VFIO_USER_DMA_MAP, 0, &map, sizeof(map), fds, 2, NULL), EINVAL);
	TEST_ASSERT_EQ(raw(VFIO_USER_DMA_MAP, 0, &map, sizeof(map), NULL, 0, NULL), ENOTSUP);
	/* More fds than the server's max_msg_fds: the stream is dropped. */
	TEST_ASSERT_EQ(raw(VFIO_USER_DEVICE_GET_INFO, 0, &info, sizeof(info), fds,
			   VFIO_USER_SERVER_DEFAULT_MAX_MSG_FDS + 4, NULL), -1);
	TEST_ASSERT(peer_closed(H.cfd));
	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		close(fds[i]);
	h_stop();
}

TEST_CASE(framing_unknown_and_odd_messages)
{
	struct vfio_user_header hdr = { .msg_id = 7, .command = VFIO_USER_DEVICE_RESET,
		.flags = VFIO_USER_F_TYPE_REPLY };
	struct vfio_user_region_access acc = { .offset = 0, .region = 0, .count = 0 };
	uint8_t wr[sizeof(acc) + 4] = { 0 };

	h_start(NULL);
	raw_negotiate();
	TEST_ASSERT_EQ(raw(99, 0, NULL, 0, NULL, 0, NULL), ENOSYS);
	TEST_ASSERT_EQ(raw(0, 0, NULL, 0, NULL, 0, NULL), ENOSYS);
	TEST_ASSERT_EQ(raw(14, 0, NULL, 0, NULL, 0, NULL), ENOSYS);
	TEST_ASSERT_EQ(raw(VFIO_USER_DEVICE_GET_REGION_IO_FDS, 0, NULL, 0, NULL, 0, NULL),
		       ENOTSUP);
	TEST_ASSERT_EQ(raw(VFIO_USER_DMA_READ, 0, NULL, 0, NULL, 0, NULL), ENOTSUP);
	/* A reply from the client is ignored (never answered)... */
	TEST_ASSERT_EQ(vfio_user_send_msg(H.cfd, &hdr, NULL, 0, NULL, 0, 1000), 0);
	/* ...and so is a posted write, failed or not; the next reply is ours. */
	acc.count = 4;
	memcpy(wr, &acc, sizeof(acc));
	hdr.flags = VFIO_USER_F_NO_REPLY;
	hdr.command = VFIO_USER_REGION_WRITE;
	TEST_ASSERT_EQ(vfio_user_send_msg(H.cfd, &hdr, wr, sizeof(wr), NULL, 0, 1000), 0);
	acc.offset = BAR0_SIZE;
	memcpy(wr, &acc, sizeof(acc));
	TEST_ASSERT_EQ(vfio_user_send_msg(H.cfd, &hdr, wr, sizeof(wr), NULL, 0, 1000), 0);
	acc.count = 0;
	acc.offset = BAR0_SIZE + 1;
	TEST_ASSERT_EQ(raw(VFIO_USER_REGION_READ, 0, &acc, sizeof(acc), NULL, 0, NULL), EINVAL);
	acc.offset = 0;
	TEST_ASSERT_EQ(raw(VFIO_USER_REGION_READ, 0, &acc, sizeof(acc), NULL, 0, NULL), 0);
	h_stop();
}

/* ---- the client against a scripted, misbehaving server ---- */

enum fake_mode { FAKE_WRONG_ID, FAKE_DMA_READ_FIRST, FAKE_SILENT, FAKE_BAD_REGION };

struct fake {
	int fd;
	enum fake_mode mode;
	pthread_t thread;
};

static void *
fake_server(void *arg)
{
	struct fake *f = arg;
	struct vfio_user_msg req;

	while (vfio_user_recv_msg(f->fd, &req, 1 << 20, VFIO_USER_FDS_MAX, 5000) == 0) {
		struct vfio_user_header hdr = { .msg_id = req.hdr.msg_id,
			.command = req.hdr.command, .flags = VFIO_USER_F_TYPE_REPLY };
		uint8_t buf[256] = { 0 };
		size_t len = 0;
		int efd = eventfd(0, EFD_CLOEXEC);
		int fds[2] = { efd, efd };

		if (req.hdr.command == VFIO_USER_VERSION) {
			struct vfio_user_caps caps;

			vfio_user_caps_default(&caps);
			caps.sparse_mmap_fds = true;
			len = (size_t)vfio_user_version_build(buf, sizeof(buf), 0, 0, &caps);
		} else if (f->mode == FAKE_WRONG_ID) {
			hdr.msg_id++;
		} else if (f->mode == FAKE_DMA_READ_FIRST) {
			struct vfio_user_header dr = { .msg_id = 9, .command = VFIO_USER_DMA_READ };
			struct vfio_user_msg ack;

			vfio_user_send_msg(f->fd, &dr, buf, 16, NULL, 0, 1000);
			if (vfio_user_recv_msg(f->fd, &ack, 64, 0, 1000) == 0 &&
			    (ack.hdr.flags & VFIO_USER_F_ERROR) && ack.hdr.error == ENOTSUP)
				hdr.error = 0; /* the client refused it as documented */
			else
				hdr.flags |= VFIO_USER_F_ERROR, hdr.error = EBADMSG;
			vfio_user_msg_release(&ack);
			if (req.hdr.command == VFIO_USER_DEVICE_GET_INFO)
				len = sizeof(struct vfio_user_device_info);
		} else if (f->mode == FAKE_SILENT) {
			vfio_user_msg_release(&req);
			close(efd);
			continue;
		} else if (f->mode == FAKE_BAD_REGION) {
			struct vfio_region_info ri = { .argsz = 32 + 16 + 32,
				.flags = VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS,
				.index = 2, .cap_offset = 32, .size = 0x10000 };
			struct vfio_user_region_info_cap_sparse_mmap_fds cap = {
				.header = { .id = VFIO_USER_REGION_INFO_CAP_SPARSE_MMAP_FDS,
					    .version = 1 }, .nr_areas = 1 };
			struct vfio_user_sparse_mmap_fd_area a = { .offset = 0, .size = 4096,
				.fd_index = 2 /* only two fds attached */ };

			memcpy(buf, &ri, sizeof(ri));
			memcpy(buf + 32, &cap, sizeof(cap));
			memcpy(buf + 48, &a, sizeof(a));
			len = ri.argsz;
		}
		vfio_user_send_msg(f->fd, &hdr, buf, len, fds,
				   f->mode == FAKE_BAD_REGION && len > 0 ? 2 : 0, 1000);
		close(efd);
		vfio_user_msg_release(&req);
	}
	return NULL;
}

static struct vfio_user_client *
fake_start(struct fake *f, enum fake_mode mode, int timeout_ms)
{
	struct vfio_user_client_params p = { .timeout_ms = timeout_ms };
	struct vfio_user_client *cli;
	int sv[2];

	TEST_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	f->fd = sv[0];
	f->mode = mode;
	TEST_ASSERT(pthread_create(&f->thread, NULL, fake_server, f) == 0);
	cli = vfio_user_client_create(sv[1], &p);
	TEST_ASSERT(cli != NULL);
	TEST_ASSERT_EQ(vfio_user_client_negotiate(cli), 0);
	return cli;
}

static void
fake_stop(struct fake *f, struct vfio_user_client *cli)
{
	vfio_user_client_destroy(cli);
	pthread_join(f->thread, NULL);
	close(f->fd);
}

TEST_CASE(client_reply_id_mismatch)
{
	struct fake f;
	struct vfio_user_client *cli;
	struct vfio_user_device_info info;
	int before = test_count_fds();

	cli = fake_start(&f, FAKE_WRONG_ID, 2000);
	TEST_ASSERT_EQ(vfio_user_client_get_device_info(cli, &info), -EPROTO);
	/* Broken for good: the stream position is unknown. */
	TEST_ASSERT_EQ(vfio_user_client_reset(cli), -EPROTO);
	fake_stop(&f, cli);
	TEST_ASSERT_EQ(test_count_fds(), before);
}

TEST_CASE(client_refuses_server_request)
{
	struct fake f;
	struct vfio_user_client *cli;
	struct vfio_user_device_info info;

	cli = fake_start(&f, FAKE_DMA_READ_FIRST, 2000);
	TEST_ASSERT_EQ(vfio_user_client_get_device_info(cli, &info), 0);
	TEST_ASSERT_EQ(vfio_user_client_reset(cli), 0);
	fake_stop(&f, cli);
}

TEST_CASE(client_timeout)
{
	struct fake f;
	struct vfio_user_client *cli;

	cli = fake_start(&f, FAKE_SILENT, SHORT_TIMEOUT_MS);
	TEST_ASSERT_EQ(vfio_user_client_reset(cli), -ETIMEDOUT);
	TEST_ASSERT_EQ(vfio_user_client_reset(cli), -EPROTO);
	fake_stop(&f, cli);
}

TEST_CASE(client_bad_region_reply)
{
	struct fake f;
	struct vfio_user_client *cli;
	struct vfio_user_region r;
	int before = test_count_fds();

	cli = fake_start(&f, FAKE_BAD_REGION, 2000);
	TEST_ASSERT_EQ(vfio_user_client_get_region_info(cli, 2, &r), -EPROTO);
	TEST_ASSERT_EQ(r.nr_areas, 0);
	fake_stop(&f, cli);
	TEST_ASSERT_EQ(test_count_fds(), before);
}

/* ---- listening socket ---- */

TEST_CASE(server_listen_one_client)
{
	char path[64];
	struct vfio_user_server *srv;
	struct vfio_user_client *cli;
	struct dev d = { .dma_fd = -1, .irq_fds = { -1, -1, -1, -1, -1, -1, -1, -1 } };
	int before = test_count_fds();
	int fd2;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	snprintf(path, sizeof(path), "/tmp/vfu-test-%d.sock", (int)getpid());
	srv = vfio_user_server_create(path, &dev_ops, &d, NULL);
	TEST_ASSERT(srv != NULL);
	TEST_ASSERT_EQ(vfio_user_server_accept(srv), -EAGAIN);
	/* Connect the client by hand (connect() would wait for VERSION). */
	fd2 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	strcpy(sun.sun_path, path);
	TEST_ASSERT(connect(fd2, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	TEST_ASSERT(vfio_user_server_accept(srv) >= 0);
	cli = vfio_user_client_create(fd2, NULL);
	TEST_ASSERT(cli != NULL);
	fd2 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	TEST_ASSERT(connect(fd2, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	TEST_ASSERT_EQ(vfio_user_server_accept(srv), -EBUSY);
	TEST_ASSERT(peer_closed(fd2));
	close(fd2);
	vfio_user_client_destroy(cli);
	TEST_ASSERT_EQ(vfio_user_server_handle(srv), -ENOTCONN);
	TEST_ASSERT_EQ(d.disconnects, 1);
	vfio_user_server_destroy(srv);
	TEST_ASSERT(access(path, F_OK) != 0);
	TEST_ASSERT_EQ(test_count_fds(), before);
}

static void
quiet_log(int level, const char *msg, void *arg)
{
	/* Hostile cases log on purpose; keep the errors for failure diagnosis. */
	if (test_verbose())
		fprintf(stderr, "[%d] %s\n", level, msg);
}

static int
vfu_test_setup(int argc, char **argv)
{
	vfio_user_set_log(quiet_log, NULL, VFIO_USER_LOG_DEBUG);
	return 0;
}

TEST_MAIN(vfu_test_setup, NULL,
	TEST_ENTRY(version_negotiates_caps),
	TEST_ENTRY(version_no_json_defaults),
	TEST_ENTRY(version_bad_json),
	TEST_ENTRY(version_missing_nul),
	TEST_ENTRY(version_nul_inside),
	TEST_ENTRY(version_oversized),
	TEST_ENTRY(version_wrong_major),
	TEST_ENTRY(version_wrong_types),
	TEST_ENTRY(version_second_and_before),
	TEST_ENTRY(device_and_irq_info),
	TEST_ENTRY(region_info_sparse_mmap_fds),
	TEST_ENTRY(region_info_without_extension),
	TEST_ENTRY(region_info_two_phase),
	TEST_ENTRY(region_read_write_bounds),
	TEST_ENTRY(region_write_posted_gets_no_reply),
	TEST_ENTRY(region_read_batch_in_one_round_trip),
	TEST_ENTRY(region_write_payload_mismatch),
	TEST_ENTRY(dma_map_unmap),
	TEST_ENTRY(set_irqs_eventfds),
	TEST_ENTRY(set_irqs_chunked),
	TEST_ENTRY(set_irqs_hostile),
	TEST_ENTRY(framing_short_header_eof),
	TEST_ENTRY(framing_short_header_stall),
	TEST_ENTRY(framing_partial_request_resumes),
	TEST_ENTRY(framing_partial_request_with_fds_dropped),
	TEST_ENTRY(framing_size_below_header),
	TEST_ENTRY(framing_size_above_max),
	TEST_ENTRY(framing_argsz_and_payload),
	TEST_ENTRY(framing_extra_and_missing_fds),
	TEST_ENTRY(framing_unknown_and_odd_messages),
	TEST_ENTRY(client_reply_id_mismatch),
	TEST_ENTRY(client_refuses_server_request),
	TEST_ENTRY(client_timeout),
	TEST_ENTRY(client_bad_region_reply),
	TEST_ENTRY(server_listen_one_client),
)

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: arbitrary byte streams, optionally with fds, into the
 * vfio-user server (framing, VERSION JSON, the validation table and every
 * handler) through a socketpair, with stub device callbacks.
 *
 * Input layout: byte 0 = number of eventfds (0-3) attached to the stream's
 * first byte; byte 1 bit 0 = prefix a valid VERSION so the fuzzer reaches
 * the post-negotiation handlers at once; the rest is the byte stream, sent
 * whole, then the write side is shut down so the server sees EOF.
 *
 * Checks beyond the sanitizers: the server must end by dropping the
 * connection (never hang), and no fd may leak (the lowest free fd number
 * must not climb).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_util.h"
#include "vfio_user.h"

#define FUZZ_MAX_INPUT (64 * 1024)
#define FUZZ_MAX_STEPS 4096
#define FUZZ_REGION_SIZE 0x10000u
#define FUZZ_FD_SLACK 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static int memfd_a = -1, memfd_b = -1;
static int lowest_free_fd = -1;

static int
stub_info(void *arg, struct vfio_user_device_info *info)
{
	info->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
	info->num_regions = VFIO_PCI_NUM_REGIONS;
	info->num_irqs = VFIO_PCI_NUM_IRQS;
	return 0;
}

static int
stub_region(void *arg, uint32_t index, struct vfio_user_region *r)
{
	r->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	r->size = index == VFIO_PCI_CONFIG_REGION_INDEX ? 256 : FUZZ_REGION_SIZE;
	if (index == VFIO_PCI_BAR2_REGION_INDEX) {
		/* Per-area fds: the sparse_mmap_fds path or its fallback. */
		r->flags |= VFIO_REGION_INFO_FLAG_MMAP;
		r->nr_areas = 2;
		r->areas[0] = (struct vfio_user_area){ 0, 0x1000, memfd_a, 0 };
		r->areas[1] = (struct vfio_user_area){ 0x2000, 0x1000, memfd_b, 0x1000 };
	} else if (index == VFIO_PCI_BAR4_REGION_INDEX) {
		r->flags |= VFIO_REGION_INFO_FLAG_MMAP;
		r->fd = memfd_a;
		r->nr_areas = 1;
		r->areas[0] = (struct vfio_user_area){ 0x1000, 0x1000, -1, 0 };
	} else if (index == VFIO_PCI_ROM_REGION_INDEX) {
		r->size = 0;
		r->flags = 0;
	}
	return 0;
}

static int
stub_irq(void *arg, struct vfio_irq_info *info)
{
	info->flags = VFIO_IRQ_INFO_EVENTFD;
	info->count = info->index == VFIO_PCI_MSIX_IRQ_INDEX ? 16 : 1;
	return 0;
}

static int
stub_set_irqs(void *arg, const struct vfio_irq_set *set, const uint8_t *bools,
	      const int *fds, unsigned int nr_fds)
{
	unsigned int i;

	/* Fail some calls to exercise the library's fd clean-up too. */
	if (set->start & 1)
		return -EINVAL;
	for (i = 0; i < nr_fds; i++)
		close(fds[i]);
	return 0;
}

static int
stub_read(void *arg, uint32_t region, uint64_t offset, void *buf, uint32_t count)
{
	memset(buf, (int)region, count);
	return 0;
}

static int
stub_write(void *arg, uint32_t region, uint64_t offset, const void *buf, uint32_t count)
{
	return region == VFIO_PCI_BAR0_REGION_INDEX ? 0 : -EIO;
}

static int
stub_dma_map(void *arg, const struct vfio_user_dma_map *map, int fd)
{
	if (map->addr & 1)
		return -EEXIST;
	close(fd);
	return 0;
}

static int
stub_dma_unmap(void *arg, const struct vfio_user_dma_unmap *unmap)
{
	return unmap->addr & 1 ? -ENOENT : 0;
}

static int
stub_reset(void *arg)
{
	return 0;
}

static const struct vfio_user_server_ops stub_ops = {
	.get_device_info = stub_info,
	.get_region_info = stub_region,
	.get_irq_info = stub_irq,
	.set_irqs = stub_set_irqs,
	.region_read = stub_read,
	.region_write = stub_write,
	.dma_map = stub_dma_map,
	.dma_unmap = stub_dma_unmap,
	.device_reset = stub_reset,
};

static void
quiet(int level, const char *msg, void *arg)
{
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	vfio_user_set_log(quiet, NULL, VFIO_USER_LOG_ERR);
	memfd_a = memfd_create("fuzz-a", MFD_CLOEXEC);
	memfd_b = memfd_create("fuzz-b", MFD_CLOEXEC);
	if (memfd_a < 0 || memfd_b < 0)
		abort();
	return 0;
}

/* Throw away whatever the server replied so its sends never block. */
static void
drain(int fd)
{
	static uint8_t buf[1 << 16];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * VFIO_USER_FDS_MAX)];
	} control;

	for (;;) {
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = control.buf, .msg_controllen = sizeof(control.buf) };
		struct cmsghdr *cm;
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n <= 0)
			return;
		/* Region info replies carry fds: close them. */
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
			size_t i, nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (i = 0; cm->cmsg_type == SCM_RIGHTS && i < nfd; i++) {
				int rfd;

				memcpy(&rfd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				close(rfd);
			}
		}
	}
}

static int
send_with_fds(int sock, const uint8_t *data, size_t len, unsigned int nr_fds)
{
	int fds[3] = { -1, -1, -1 };
	unsigned int i;
	int ret;

	for (i = 0; i < nr_fds; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	ret = test_send_fds(sock, data, len, fds, (int)nr_fds);
	for (i = 0; i < nr_fds; i++)
		close(fds[i]);
	return ret;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char json[] =
		"{\"capabilities\":{\"max_msg_fds\":4,\"sparse_mmap_fds\":true}}";
	struct vfio_user_server_params params = { .timeout_ms = 50 };
	struct vfio_user_server *srv;
	unsigned int steps;
	int sv[2], probe;

	if (size < 2 || size > FUZZ_MAX_INPUT)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	/* Room for the whole input, so the write never blocks. */
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &(int){ 4 * FUZZ_MAX_INPUT }, sizeof(int));
	srv = vfio_user_server_create(NULL, &stub_ops, NULL, &params);
	if (srv == NULL || vfio_user_server_attach(srv, sv[0]) < 0)
		abort();
	if (data[1] & 1) {
		uint8_t ver[4 + sizeof(json)] = { 0 };
		struct vfio_user_header hdr = { .msg_id = 1, .command = VFIO_USER_VERSION,
			.msg_size = (uint32_t)(sizeof(hdr) + sizeof(ver)) };

		memcpy(ver + 4, json, sizeof(json));
		if (write(sv[1], &hdr, sizeof(hdr)) != sizeof(hdr) ||
		    write(sv[1], ver, sizeof(ver)) != sizeof(ver))
			abort();
	}
	if (size > 2 && send_with_fds(sv[1], data + 2, size - 2, data[0] & 3) < 0)
		abort();
	shutdown(sv[1], SHUT_WR);

	/* Every request consumes bytes, so EOF comes within the bound. */
	for (steps = 0; steps < FUZZ_MAX_STEPS; steps++) {
		int rc = vfio_user_server_handle(srv);

		drain(sv[1]);
		if (rc == -ENOTCONN)
			break;
	}
	if (steps == FUZZ_MAX_STEPS || vfio_user_server_conn_fd(srv) >= 0) {
		/* The server never saw the end of the stream. */
		fprintf(stderr, "no EOF after %u steps\n", steps);
		abort();
	}
	vfio_user_server_destroy(srv);
	close(sv[1]);

	/*
	 * libFuzzer itself opens and closes files between inputs, so the
	 * lowest free fd may move a little; a leak makes it climb for good.
	 */
	probe = fcntl(0, F_DUPFD_CLOEXEC, 0);
	if (probe >= 0)
		close(probe);
	if (lowest_free_fd < 0 || probe < lowest_free_fd)
		lowest_free_fd = probe;
	if (probe > lowest_free_fd + FUZZ_FD_SLACK) {
		fprintf(stderr, "fd leak: lowest free fd %d, was %d\n", probe, lowest_free_fd);
		abort();
	}
	return 0;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the VVU device's QEMU proxy front
 * (app/vvu-device/vvu_dev_proxy.c) with the real PCI model, forwarding and
 * rings behind it, fed arbitrary message streams on a real socketpair.
 *
 * Before the stream, a prelude sent through the front itself: guest RAM
 * (64 KiB at guest-physical 0, SYNC_SYSMEM), BAR0 at 0x10000000 and BAR2 at
 * 0x20000000, memory decoding on; and one front-end window in BAR2. So BAR
 * addresses of the dictionary decode, and rings the stream sets up through
 * BAR0 live in guest RAM the stream can write.
 *
 * Input: records, each a control byte, a length byte L, [an offset byte
 * when bit 6 is set], then L bytes.
 *   bits 0-3  fds sent with the bytes (0..15; more than 8 is a framing error)
 *   bit 4     their kind: 0 eventfds, 1 memfds of 64 KiB
 *   bit 5     QEMU closes its end after this record (the stream stops)
 *   bit 6     the bytes go into guest RAM at offset * 256 instead of the
 *             socket (ring contents)
 * After each record the device's loop runs and every reply is drained.
 * Invariants: no crash; at most one reply per message; after the session
 * and the device are gone, no fd of the run is left open.
 */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "test_util.h"
#include "vvu_device.h"
#include "vvu_dev_proxy.h"

#define FUZZ_RAM_SIZE	(64u << 10)
#define FUZZ_BAR0	0x10000000u
#define FUZZ_BAR2	0x20000000u
#define FUZZ_MAX_FDS	15

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
make_fd(bool memfd)
{
	int fd;

	if (!memfd)
		return eventfd(0, EFD_CLOEXEC);
	fd = memfd_create("fuzz-proxy", MFD_CLOEXEC);
	if (fd >= 0 && ftruncate(fd, FUZZ_RAM_SIZE) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
run(struct vvu_dev_loop *loop)
{
	int i;

	for (i = 0; i < 16; i++)
		if (vvu_dev_loop_run_once(loop, 0) <= 0)
			break;
}

/* Read and count whatever replies are waiting. */
static uint64_t
drain(int fd)
{
	uint8_t b[4096];
	uint64_t bytes = 0;
	ssize_t n;

	while ((n = recv(fd, b, sizeof(b), MSG_DONTWAIT)) > 0)
		bytes += (uint64_t)n;
	return bytes;
}

static void
send_msg(int fd, int32_t cmd, const void *payload, uint64_t size, const int *fds, int nfds)
{
	uint8_t b[VVU_PROXY_HDR_SIZE + VVU_PROXY_PAYLOAD_MAX];
	struct vvu_dev_proxy_hdr h = { .cmd = cmd, .size = size };

	memcpy(b, &h, sizeof(h));
	memcpy(b + sizeof(h), payload, size);
	if (test_send_fds(fd, b, sizeof(h) + size, fds, nfds) < 0)
		abort();
}

static void
cfg_write(int fd, uint32_t addr, uint32_t val, int32_t len)
{
	struct vvu_dev_proxy_cfg c = { .addr = addr, .val = val, .len = len };

	send_msg(fd, VVU_PROXY_CFG_WRITE, &c, sizeof(c), NULL, 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vvu_device dev;
	struct vvu_dev_options o = {
		.num_queues = 4, .shm_size = 1u << 20, .virtio_id = VVU_VIRTIO_ID_DEFAULT,
		.layout = VVU_DEV_LAYOUT_PROXY, .verbose = -1,
	};
	struct vvu_dev_proxy_sysmem sm = { .gpa = { 0 }, .size = { FUZZ_RAM_SIZE } };
	struct vhost_user_memory mem = { .nregions = 1 };
	struct vvu_dev_proxy_stats st;
	struct vvu_dev_loop *loop;
	int before = test_count_fds();
	int sv[2], ram, win, status;
	uint8_t *ram_va;
	uint64_t needed, reply_bytes = 0;
	size_t off = 0;

	loop = vvu_dev_loop_create();
	if (loop == NULL || vvu_dev_init(&dev, &o, loop) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	if (vvu_dev_proxy_start(&dev, sv[1]) < 0)
		abort();
	ram = make_fd(true);
	win = make_fd(true);
	if (ram < 0 || win < 0)
		abort();
	ram_va = mmap(NULL, FUZZ_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, ram, 0);
	if (ram_va == MAP_FAILED)
		abort();
	/* the prelude, through the front as QEMU and firmware would do it */
	send_msg(sv[0], VVU_PROXY_SYNC_SYSMEM, &sm, sizeof(sm), &ram, 1);
	cfg_write(sv[0], PCI_BASE_ADDRESS_0, FUZZ_BAR0, 4);
	cfg_write(sv[0], PCI_BASE_ADDRESS_2, FUZZ_BAR2, 4);
	cfg_write(sv[0], PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	run(loop);
	reply_bytes += drain(sv[0]);
	mem.regions[0] = (struct vhost_user_mem_region){ 0, FUZZ_RAM_SIZE, 0x7f0000000000, 0 };
	if (vvu_dev_bar2_place(&dev.bar2, o.shm_size, &mem, &win, 1, &needed) < 0)
		abort();

	while (size - off >= 2) {
		uint8_t ctl = data[off], len = data[off + 1];
		size_t at = 0;
		int fds[FUZZ_MAX_FDS], nfds = ctl & 0xf, i;

		off += 2;
		if (ctl & 0x40) {
			if (off >= size)
				break;
			at = (size_t)data[off++] * 256;
		}
		if (len > size - off)
			len = (uint8_t)(size - off);
		if (ctl & 0x40) {
			if (at + len <= FUZZ_RAM_SIZE)
				memcpy(ram_va + at, data + off, len);
			off += len;
			run(loop);
			continue;
		}
		for (i = 0; i < nfds; i++)
			fds[i] = make_fd(ctl & 0x10);
		/* a full socket (the device stopped reading) drops the chunk */
		if (len > 0 || nfds > 0)
			test_send_fds(sv[0], data + off, len, fds, nfds);
		for (i = 0; i < nfds; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		off += len;
		run(loop);
		reply_bytes += drain(sv[0]);
		if ((ctl & 0x20) || vvu_dev_proxy_done(&dev, &status))
			break;
	}

	run(loop);
	reply_bytes += drain(sv[0]);
	/* QEMU goes away: the session must end cleanly whatever state it is in */
	close(sv[0]);
	run(loop);
	if (!vvu_dev_proxy_done(&dev, &status))
		abort();
	vvu_dev_proxy_get_stats(&dev, &st);
	if (reply_bytes % (VVU_PROXY_HDR_SIZE + 8) != 0 ||
	    reply_bytes / (VVU_PROXY_HDR_SIZE + 8) > st.msgs || st.replies > st.msgs)
		abort();
	if (dev.dma.nr != 0)
		abort();	/* the session's end unmaps guest RAM */
	vvu_dev_proxy_stop(&dev);
	vvu_dev_fini(&dev);
	vvu_dev_loop_destroy(loop);
	munmap(ram_va, FUZZ_RAM_SIZE);
	close(ram);
	if (test_count_fds() != before)
		abort();
	return 0;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the VVU device's front-end message forwarding
 * (app/vvu-device/vvu_dev_fwd.c, vvu_dev_bar2.c).
 *
 * Input: a stream of records, each one control byte then a vhost-user
 * message (12-byte header, then up to hdr.size payload bytes). The control
 * byte gives the fds that "arrived" with the message: low 4 bits the count
 * (0..8, larger counts are clamped as the socket reader would refuse them),
 * bit 4 the kind (0: eventfds, 1: 2 MiB memfds), bits 5-7 a device aux
 * notification slot the "driver" writes afterwards. A message the device
 * refuses disconnects the front-end, as in the real loop, and the stream
 * goes on as a new connection. Invariants checked: no fd outlives the run.
 */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "test_util.h"
#include "vvu_device.h"

#define FUZZ_MEMFD_SIZE		(2u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
make_fd(bool memfd)
{
	int fd;

	if (!memfd)
		return eventfd(0, EFD_CLOEXEC);
	fd = memfd_create("fuzz-vvu", MFD_CLOEXEC);
	if (fd >= 0 && ftruncate(fd, FUZZ_MEMFD_SIZE) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vvu_device dev;
	struct vvu_dev_options o = {
		.num_queues = 8,
		.shm_size = 16u << 20,
		.virtio_id = VVU_VIRTIO_ID_DEFAULT,
		.verbose = -1,
	};
	struct vvu_dev_fe_msg m;
	int before = test_count_fds();
	size_t off = 0;

	if (vvu_dev_init(&dev, &o, NULL) < 0)
		abort();
	while (size - off >= 1 + VHOST_USER_HDR_SIZE) {
		uint8_t ctl = data[off++];
		int nfds = ctl & 0xf;
		uint32_t plen;
		int i;

		memset(&m, 0, sizeof(m));
		memcpy(&m.msg.hdr, data + off, VHOST_USER_HDR_SIZE);
		off += VHOST_USER_HDR_SIZE;
		/* the socket reader refuses these before forwarding sees them */
		if (m.msg.hdr.size > VHOST_USER_PAYLOAD_MAX || nfds > VHOST_USER_MAX_FDS)
			break;
		plen = m.msg.hdr.size;
		if (plen > size - off)
			break;
		memcpy(m.bytes + VHOST_USER_HDR_SIZE, data + off, plen);
		off += plen;
		m.len = VHOST_USER_HDR_SIZE + plen;
		for (i = 0; i < VHOST_USER_MAX_FDS; i++)
			m.fds[i] = i < nfds ? make_fd(ctl & 0x10) : -1;
		m.nr_fds = nfds;
		if (vvu_dev_fwd_frontend_msg(&dev, &m) < 0)
			vvu_dev_frontend_gone(&dev, true);
		/* no rxq in this harness: the driver "took" the message */
		dev.fe.has_pending = false;
		vvu_dev_fwd_aux_notify(&dev, (uint32_t)(ctl >> 5) * 3);
		for (i = 0; i < VHOST_USER_MAX_FDS; i++)
			if (m.fds[i] >= 0)
				abort();	/* every fd consumed or closed */
	}
	vvu_dev_fini(&dev);
	if (test_count_fds() != before)
		abort();
	return 0;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for the vhost-user message handler.
 *
 * Input: a transport selector byte, then a sequence of records
 *   u8 control | 12-byte header | hdr.size payload bytes (clamped)
 * control bits 0-3: how many fds to attach (0..8), bit 4: attach eventfds
 * instead of dups of the guest memory fd, bit 7: force a well-formed
 * version (so the fuzzer reaches the handlers quickly). Each record goes to
 * vhost_user_msg_handle() on a device with the mock transport of
 * app/test/vhost/vhost_msg_mock.h; when it fails the device is freed and a
 * new one made, as a transport would on a closed connection. Leaked fds are
 * caught by comparing the process's fd count before and after each input.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>

#include "app/test/vhost/vhost_msg_mock.h"
#include "test_eal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mock_guest fuzz_guest;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (test_eal_init((*argv)[0], 128, "-l", "0", "--log-level=*:emergency") < 0)
		abort();
	if (mock_guest_init(&fuzz_guest) < 0)
		abort();
	return 0;
}

static struct vhost_dev *
fuzz_dev_new(const struct vhost_transport_ops *t)
{
	struct vhost_dev *dev = mock_dev_new(t);

	if (dev == NULL)
		abort();
	return dev;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct vhost_transport_ops *t;
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;
	size_t pos = 1;
	int fds_before;

	if (size < 1)
		return 0;
	fds_before = test_count_fds();
	t = (data[0] & 1) ? &mock_trans_nofd : &mock_trans_fd;
	dev = fuzz_dev_new(t);

	while (pos + 1 + VHOST_USER_HDR_SIZE <= size) {
		uint8_t control = data[pos++];
		uint32_t len;
		int i, nr_fds = control & 0xf;

		memset(&ctx, 0, sizeof(ctx));
		memcpy(&ctx.msg.hdr, data + pos, VHOST_USER_HDR_SIZE);
		pos += VHOST_USER_HDR_SIZE;
		if (control & 0x80) {
			ctx.msg.hdr.flags = VHOST_USER_VERSION |
				(ctx.msg.hdr.flags & VHOST_USER_NEED_REPLY);
			ctx.msg.hdr.request %= VHOST_USER_REQUEST_MAX + 1;
		}
		/* The transport bounds the payload before the handler sees it. */
		if (ctx.msg.hdr.size > VHOST_USER_PAYLOAD_MAX)
			ctx.msg.hdr.size %= VHOST_USER_PAYLOAD_MAX + 1;
		len = ctx.msg.hdr.size;
		if (len > size - pos)
			len = (uint32_t)(size - pos);
		memcpy((uint8_t *)&ctx.msg + VHOST_USER_HDR_SIZE, data + pos, len);
		pos += len;

		if (nr_fds > VHOST_USER_MAX_FDS)
			nr_fds = VHOST_USER_MAX_FDS;
		for (i = 0; i < nr_fds; i++)
			mock_add_fd(&ctx, (control & 0x10) ? mock_eventfd() :
				    dup(fuzz_guest.memfd));

		if (mock_handle(dev, &ctx) < 0) {
			vhost_dev_free(dev);
			dev = fuzz_dev_new(t);
		}
	}
	vhost_dev_free(dev);
	if (test_count_fds() != fds_before) {
		fprintf(stderr, "fd leak: %d open, %d before\n", test_count_fds(),
			fds_before);
		abort();
	}
	return 0;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The message dispatcher against hostile and well-behaved front-ends, on a
 * mock transport (vhost_msg_mock.h): every request with a wrong size, wrong
 * fd count, bad vring index, bad header; the state rules; REPLY_ACK; and
 * QEMU-like and virtio-user-like sequences that must end with exactly one
 * new_device(). Every case checks the process has as many fds at the end as
 * at the start.
 */

/* test.h's TEST_MAIN keeps locals across setjmp; they are not reused. */
#pragma GCC diagnostic ignored "-Wclobbered"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <rte_eal.h>
#include <rte_vhost.h>

#include "test.h"
#include "vhost_msg_mock.h"
#include "vhost_user_priv.h"

#define ALL_PROTO	VHOST_NET_PROTOCOL_FEATURES

/* What the spec says each request carries: our own table, not the library's. */
enum { FD0, FD1, FD_NOFD, FD_REGION, FD_OPT };
enum { IX_NONE, IX_STATE, IX_ADDR, IX_FILE };

struct req_shape {
	uint32_t req;
	int size;		/* exact payload size; -1: variable */
	int fds;
	int idx;
};

static const struct req_shape shapes[] = {
	{ VHOST_USER_GET_FEATURES, 0, FD0, IX_NONE },
	{ VHOST_USER_SET_FEATURES, 8, FD0, IX_NONE },
	{ VHOST_USER_SET_OWNER, 0, FD0, IX_NONE },
	{ VHOST_USER_RESET_OWNER, 0, FD0, IX_NONE },
	{ VHOST_USER_SET_MEM_TABLE, -1, FD_REGION, IX_NONE },
	{ VHOST_USER_SET_LOG_BASE, 16, FD1, IX_NONE },
	{ VHOST_USER_SET_LOG_FD, 0, FD1, IX_NONE },
	{ VHOST_USER_SET_VRING_NUM, 8, FD0, IX_STATE },
	{ VHOST_USER_SET_VRING_ADDR, 40, FD0, IX_ADDR },
	{ VHOST_USER_SET_VRING_BASE, 8, FD0, IX_STATE },
	{ VHOST_USER_GET_VRING_BASE, 8, FD0, IX_STATE },
	{ VHOST_USER_SET_VRING_KICK, 8, FD_NOFD, IX_FILE },
	{ VHOST_USER_SET_VRING_CALL, 8, FD_NOFD, IX_FILE },
	{ VHOST_USER_SET_VRING_ERR, 8, FD_NOFD, IX_FILE },
	{ VHOST_USER_GET_PROTOCOL_FEATURES, 0, FD0, IX_NONE },
	{ VHOST_USER_SET_PROTOCOL_FEATURES, 8, FD0, IX_NONE },
	{ VHOST_USER_GET_QUEUE_NUM, 0, FD0, IX_NONE },
	{ VHOST_USER_SET_VRING_ENABLE, 8, FD0, IX_STATE },
	{ VHOST_USER_SEND_RARP, 8, FD0, IX_NONE },
	{ VHOST_USER_NET_SET_MTU, 8, FD0, IX_NONE },
	{ VHOST_USER_SET_BACKEND_REQ_FD, 0, FD1, IX_NONE },
	{ VHOST_USER_IOTLB_MSG, 32, FD0, IX_NONE },
	{ VHOST_USER_SET_VRING_ENDIAN, 8, FD0, IX_STATE },
	{ VHOST_USER_GET_CONFIG, -1, FD0, IX_NONE },
	{ VHOST_USER_SET_CONFIG, -1, FD0, IX_NONE },
	{ VHOST_USER_CREATE_CRYPTO_SESSION, -1, FD0, IX_NONE },
	{ VHOST_USER_CLOSE_CRYPTO_SESSION, 8, FD0, IX_NONE },
	{ VHOST_USER_POSTCOPY_ADVISE, 0, FD0, IX_NONE },
	{ VHOST_USER_POSTCOPY_LISTEN, 0, FD0, IX_NONE },
	{ VHOST_USER_POSTCOPY_END, 0, FD0, IX_NONE },
	{ VHOST_USER_GET_INFLIGHT_FD, 24, FD0, IX_NONE },
	{ VHOST_USER_SET_INFLIGHT_FD, 24, FD1, IX_NONE },
	{ VHOST_USER_GPU_SET_SOCKET, 0, FD1, IX_NONE },
	{ VHOST_USER_RESET_DEVICE, 0, FD0, IX_NONE },
	{ VHOST_USER_VRING_KICK, 8, FD0, IX_STATE },
	{ VHOST_USER_GET_MAX_MEM_SLOTS, 0, FD0, IX_NONE },
	{ VHOST_USER_ADD_MEM_REG, 40, FD1, IX_NONE },
	{ VHOST_USER_REM_MEM_REG, 40, FD_OPT, IX_NONE },
	{ VHOST_USER_SET_STATUS, 8, FD0, IX_NONE },
	{ VHOST_USER_GET_STATUS, 0, FD0, IX_NONE },
};

/* A device that is owned and has negotiated everything we offer. */
static struct vhost_dev *
configured_dev(const struct vhost_transport_ops *t)
{
	struct vhost_dev *dev = mock_dev_new(t);

	TEST_ASSERT(dev != NULL, "no device");
	TEST_ASSERT_EQ(mock_negotiate(dev, MOCK_FEATURES, ALL_PROTO & t->protocol_features), 0);
	return dev;
}

TEST_CASE(test_every_request_known)
{
	uint32_t r;

	TEST_ASSERT_EQ(sizeof(shapes) / sizeof(shapes[0]), VHOST_USER_REQUEST_MAX - 1);
	for (r = 1; r < VHOST_USER_REQUEST_MAX; r++)
		TEST_ASSERT(strcmp(vhost_user_req_name(r), "UNKNOWN") != 0, "request %u", r);
	TEST_ASSERT(strcmp(vhost_user_req_name(0), "UNKNOWN") == 0);
	TEST_ASSERT(strcmp(vhost_user_req_name(VHOST_USER_REQUEST_MAX), "UNKNOWN") == 0);
}

TEST_CASE(test_bad_header)
{
	static const uint32_t bad_flags[] = { 0, 2, 3,
					      VHOST_USER_VERSION | VHOST_USER_REPLY_MASK };
	static const uint32_t bad_reqs[] = { VHOST_USER_NONE, VHOST_USER_REQUEST_MAX, 1000,
					     UINT32_MAX };
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;
	unsigned int i;

	mock_case_begin();
	dev = configured_dev(&mock_trans_fd);
	for (i = 0; i < RTE_DIM(bad_flags); i++) {
		mock_msg_u64(&ctx, VHOST_USER_SET_VRING_CALL, 0);
		mock_add_fd(&ctx, mock_eventfd());
		ctx.msg.hdr.flags = bad_flags[i];
		TEST_ASSERT(mock_handle(dev, &ctx) < 0, "flags 0x%x accepted", bad_flags[i]);
	}
	for (i = 0; i < RTE_DIM(bad_reqs); i++) {
		mock_msg(&ctx, bad_reqs[i], NULL, 0);
		mock_add_fd(&ctx, mock_eventfd());
		TEST_ASSERT(mock_handle(dev, &ctx) < 0, "request %u accepted", bad_reqs[i]);
	}
	/* A payload larger than any message, and a transport fd count bug. */
	mock_msg(&ctx, VHOST_USER_SET_OWNER, NULL, 0);
	ctx.msg.hdr.size = VHOST_USER_PAYLOAD_MAX + 1;
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	mock_msg(&ctx, VHOST_USER_SET_OWNER, NULL, 0);
	ctx.nr_fds = -1;
	TEST_ASSERT(mock_handle_raw(dev, &ctx) < 0);
	ctx.nr_fds = VHOST_USER_MAX_FDS + 1;
	TEST_ASSERT(mock_handle_raw(dev, &ctx) < 0);
	/* The same message with a good header is accepted. */
	mock_msg_u64(&ctx, VHOST_USER_SET_VRING_CALL, 0);
	mock_add_fd(&ctx, mock_eventfd());
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	TEST_ASSERT_EQ(mock.nr_replies, 0);
	mock_case_end(dev);
}

/* The fds a well-formed instance of shape s carries (NOFD clear). */
static int
shape_fds(const struct req_shape *s)
{
	switch (s->fds) {
	case FD1:
	case FD_NOFD:
	case FD_REGION:
		return 1;
	default:
		return 0;
	}
}

static void
attach_fds(struct vhost_user_ctx *ctx, int n)
{
	while (n-- > 0)
		mock_add_fd(ctx, mock_eventfd());
}

TEST_CASE(test_wrong_size)
{
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;
	unsigned int i;

	mock_case_begin();
	dev = configured_dev(&mock_trans_fd);
	for (i = 0; i < RTE_DIM(shapes); i++) {
		const struct req_shape *s = &shapes[i];
		int fds = shape_fds(s);

		if (s->size < 0)
			continue;
		if (s->size > 0) {
			mock_msg(&ctx, s->req, NULL, (uint32_t)s->size - 1);
			attach_fds(&ctx, fds);
			TEST_ASSERT(mock_handle(dev, &ctx) < 0, "%s short accepted",
				    vhost_user_req_name(s->req));
		}
		mock_msg(&ctx, s->req, NULL, (uint32_t)s->size + 1);
		attach_fds(&ctx, fds);
		TEST_ASSERT(mock_handle(dev, &ctx) < 0, "%s long accepted",
			    vhost_user_req_name(s->req));
		mock_msg(&ctx, s->req, NULL, (uint32_t)s->size + 8);
		attach_fds(&ctx, fds);
		TEST_ASSERT(mock_handle(dev, &ctx) < 0, "%s +8 accepted",
			    vhost_user_req_name(s->req));
	}
	/* Variable sizes: a mem table whose size disagrees with nregions. */
	mock_msg_mem_table(&ctx, &mock_env_guest, true);
	ctx.msg.hdr.size += 32;
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	mock_msg_mem_table(&ctx, &mock_env_guest, true);
	ctx.msg.hdr.size = 8;
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	/* GET_CONFIG: size field disagrees with the payload, or too short. */
	{
		struct vhost_user_config cfg = { .offset = 0, .size = 8 };

		mock_msg(&ctx, VHOST_USER_GET_CONFIG, &cfg, 12 + 4);
		TEST_ASSERT(mock_handle(dev, &ctx) < 0);
		mock_msg(&ctx, VHOST_USER_GET_CONFIG, &cfg, 8);
		TEST_ASSERT(mock_handle(dev, &ctx) < 0);
		mock_msg(&ctx, VHOST_USER_GET_CONFIG, &cfg, 12 + 8);
		TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
		TEST_ASSERT_EQ(mock.reply.hdr.size, 0);	/* no config space */
	}
	mock_case_end(dev);
}

TEST_CASE(test_wrong_fd_count)
{
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;
	unsigned int i;

	mock_case_begin();
	dev = configured_dev(&mock_trans_fd);
	for (i = 0; i < RTE_DIM(shapes); i++) {
		const struct req_shape *s = &shapes[i];
		int size = s->size < 0 ? 0 : s->size;
		int good = shape_fds(s);

		if (s->req == VHOST_USER_SET_MEM_TABLE)
			continue;	/* below */
		/* One more fd than allowed. */
		mock_msg(&ctx, s->req, NULL, (uint32_t)size);
		attach_fds(&ctx, good + (s->fds == FD_OPT ? 2 : 1));
		TEST_ASSERT(mock_handle(dev, &ctx) < 0, "%s with extra fd accepted",
			    vhost_user_req_name(s->req));
		/* A missing fd. */
		if (good > 0) {
			mock_msg(&ctx, s->req, NULL, (uint32_t)size);
			TEST_ASSERT(mock_handle(dev, &ctx) < 0, "%s without fd accepted",
				    vhost_user_req_name(s->req));
		}
		/* NOFD set, yet an fd attached. */
		if (s->fds == FD_NOFD) {
			mock_msg_u64(&ctx, s->req, VHOST_USER_VRING_NOFD_MASK);
			attach_fds(&ctx, 1);
			TEST_ASSERT(mock_handle(dev, &ctx) < 0);
		}
	}
	/* SET_MEM_TABLE: one fd per region, no more, no less. */
	mock_msg_mem_table(&ctx, &mock_env_guest, false);
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	mock_msg_mem_table(&ctx, &mock_env_guest, true);
	attach_fds(&ctx, 1);
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	TEST_ASSERT_EQ(mock.nr_map_region, 0);
	mock_case_end(dev);
}

TEST_CASE(test_bad_vring_index)
{
	static const uint64_t bad32[] = { VHOST_MAX_VRING, 2 * MOCK_MAX_QUEUE_PAIRS, 0x100,
					  0x10000, 0x10001, UINT32_MAX };
	static const uint64_t bad64[] = { 0x200, 0x400, 0x100000000ULL, 1ULL << 63,
					  UINT64_MAX };
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;
	unsigned int i, j;

	mock_case_begin();
	dev = configured_dev(&mock_trans_fd);
	for (i = 0; i < RTE_DIM(shapes); i++) {
		const struct req_shape *s = &shapes[i];

		if (s->idx == IX_STATE || s->idx == IX_ADDR) {
			for (j = 0; j < RTE_DIM(bad32); j++) {
				uint8_t payload[40] = { 0 };
				uint32_t idx = (uint32_t)bad32[j];

				memcpy(payload, &idx, sizeof(idx));
				mock_msg(&ctx, s->req, payload, (uint32_t)s->size);
				TEST_ASSERT(mock_handle(dev, &ctx) < 0, "%s index 0x%x accepted",
					    vhost_user_req_name(s->req), idx);
			}
		} else if (s->idx == IX_FILE) {
			for (j = 0; j < RTE_DIM(bad64); j++) {
				mock_msg_u64(&ctx, s->req, bad64[j] | VHOST_USER_VRING_NOFD_MASK);
				TEST_ASSERT(mock_handle(dev, &ctx) < 0);
				mock_msg_u64(&ctx, s->req, bad64[j]);
				attach_fds(&ctx, 1);
				TEST_ASSERT(mock_handle(dev, &ctx) < 0);
			}
		}
	}
	/* Nothing was allocated for them. */
	TEST_ASSERT_EQ(dev->nr_vring, 0);
	/* The highest good index works. */
	TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_ENABLE,
				       2 * MOCK_MAX_QUEUE_PAIRS - 1, 1), 0);
	TEST_ASSERT_EQ(dev->nr_vring, 2 * MOCK_MAX_QUEUE_PAIRS);
	mock_case_end(dev);
}

TEST_CASE(test_state_rules)
{
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;

	mock_case_begin();
	dev = mock_dev_new(&mock_trans_fd);
	TEST_ASSERT(dev != NULL);
	/* Before SET_OWNER: memory, rings, status are refused ... */
	mock_msg_mem_table(&ctx, &mock_env_guest, true);
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	TEST_ASSERT(mock_send_vring_fd(dev, VHOST_USER_SET_VRING_CALL, 0) < 0);
	/* ... but what QEMU sends first is fine. */
	mock_msg(&ctx, VHOST_USER_GET_FEATURES, NULL, 0);
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	TEST_ASSERT_EQ(mock.reply.payload.u64, VHOST_NET_FEATURES);
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_PROTOCOL_FEATURES,
				     1ULL << VHOST_USER_PROTO_F_REPLY_ACK), 0);
	/* Protocol features not negotiated: GET_QUEUE_NUM needs MQ. */
	TEST_ASSERT(mock_send_empty(dev, VHOST_USER_GET_QUEUE_NUM) < 0);
	TEST_ASSERT_EQ(mock_send_empty(dev, VHOST_USER_SET_OWNER), 0);
	TEST_ASSERT_EQ(mock_send_empty(dev, VHOST_USER_SET_OWNER), 0);	/* repeats */
	TEST_ASSERT_EQ(mock_send_vring_fd(dev, VHOST_USER_SET_VRING_CALL, 0), 0);
	/* Ring layout messages need SET_FEATURES. */
	TEST_ASSERT(mock_send_state(dev, VHOST_USER_SET_VRING_NUM, 0, 256) < 0);
	TEST_ASSERT(mock_send_u64(dev, VHOST_USER_SET_STATUS, 0xf) < 0);	/* no STATUS */
	TEST_ASSERT(mock_send_u64(dev, VHOST_USER_NET_SET_MTU, 1500) < 0);	/* no NET_MTU */
	/* Not offered features and protocol features. */
	TEST_ASSERT(mock_send_u64(dev, VHOST_USER_SET_FEATURES, 1ULL << 63) < 0);
	TEST_ASSERT(mock_send_u64(dev, VHOST_USER_SET_PROTOCOL_FEATURES,
				  1ULL << VHOST_USER_PROTO_F_PAGEFAULT) < 0);
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_FEATURES, MOCK_FEATURES), 0);
	TEST_ASSERT_EQ(dev->vhost_hlen, 12);
	TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_NUM, 0, 256), 0);
	mock_case_end(dev);
}

TEST_CASE(test_refused_requests)
{
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;

	mock_case_begin();
	dev = configured_dev(&mock_trans_fd);
	TEST_ASSERT(mock_send_empty(dev, VHOST_USER_POSTCOPY_ADVISE) < 0);
	TEST_ASSERT(mock_send_empty(dev, VHOST_USER_POSTCOPY_LISTEN) < 0);
	TEST_ASSERT(mock_send_empty(dev, VHOST_USER_POSTCOPY_END) < 0);
	TEST_ASSERT(mock_send_state(dev, VHOST_USER_SET_VRING_ENDIAN, 0, 0) < 0);
	TEST_ASSERT(mock_send_u64(dev, VHOST_USER_CLOSE_CRYPTO_SESSION, 1) < 0);
	mock_msg(&ctx, VHOST_USER_CREATE_CRYPTO_SESSION, NULL, 64);
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	mock_msg(&ctx, VHOST_USER_GPU_SET_SOCKET, NULL, 0);
	attach_fds(&ctx, 1);
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	{
		struct vhost_user_config cfg = { .offset = 0, .size = 4 };

		mock_msg(&ctx, VHOST_USER_SET_CONFIG, &cfg, 12 + 4);
		TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	}
	/* Not negotiable here: in-band kicks. */
	TEST_ASSERT(mock_send_state(dev, VHOST_USER_VRING_KICK, 0, 0) < 0);
	mock_case_end(dev);
}

TEST_CASE(test_field_ranges)
{
	struct vhost_dev *dev;
	uint8_t mac[8] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0, 0 };
	uint64_t v;

	mock_case_begin();
	dev = configured_dev(&mock_trans_fd);
	TEST_ASSERT(mock_send_u64(dev, VHOST_USER_NET_SET_MTU, 67) < 0);
	TEST_ASSERT(mock_send_u64(dev, VHOST_USER_NET_SET_MTU, 65536) < 0);
	TEST_ASSERT(mock_send_u64(dev, VHOST_USER_NET_SET_MTU, 1ULL << 32 | 1500) < 0);
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_NET_SET_MTU, 68), 0);
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_NET_SET_MTU, 65535), 0);
	TEST_ASSERT_EQ(dev->mtu, 65535);
	TEST_ASSERT(mock_send_u64(dev, VHOST_USER_SET_STATUS, 0x100) < 0);
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_STATUS, 0xb), 0);
	TEST_ASSERT_EQ(mock_send_empty(dev, VHOST_USER_GET_STATUS), 0);
	TEST_ASSERT_EQ(mock.reply.payload.u64, 0xb);
	TEST_ASSERT(mock_send_state(dev, VHOST_USER_SET_VRING_ENABLE, 0, 2) < 0);
	TEST_ASSERT(mock_send_state(dev, VHOST_USER_SET_VRING_BASE, 0, 0x10000) < 0);
	memcpy(&v, mac, sizeof(v));
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SEND_RARP, v), 0);
	TEST_ASSERT(__atomic_load_n(&dev->rarp_pending, __ATOMIC_ACQUIRE));
	TEST_ASSERT(memcmp(dev->rarp_mac, mac, 6) == 0);
	mock_case_end(dev);
}

TEST_CASE(test_get_replies)
{
	struct vhost_dev *dev;

	mock_case_begin();
	dev = configured_dev(&mock_trans_fd);
	TEST_ASSERT_EQ(mock_send_empty(dev, VHOST_USER_GET_PROTOCOL_FEATURES), 0);
	TEST_ASSERT_EQ(mock.reply.hdr.request, VHOST_USER_GET_PROTOCOL_FEATURES);
	TEST_ASSERT_EQ(mock.reply.hdr.flags, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK);
	TEST_ASSERT_EQ(mock.reply.hdr.size, 8);
	TEST_ASSERT_EQ(mock.reply.payload.u64, VHOST_NET_PROTOCOL_FEATURES);
	TEST_ASSERT_EQ(mock_send_empty(dev, VHOST_USER_GET_QUEUE_NUM), 0);
	TEST_ASSERT_EQ(mock.reply.payload.u64, MOCK_MAX_QUEUE_PAIRS);
	TEST_ASSERT_EQ(mock_send_empty(dev, VHOST_USER_GET_MAX_MEM_SLOTS), 0);
	TEST_ASSERT_EQ(mock.reply.payload.u64, VHOST_MAX_MEM_SLOTS);
	TEST_ASSERT_EQ(mock.nr_replies, 3);
	mock_case_end(dev);
}

TEST_CASE(test_reply_ack)
{
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;

	mock_case_begin();
	dev = mock_dev_new(&mock_trans_fd);
	TEST_ASSERT(dev != NULL);
	/* Without REPLY_ACK negotiated, NEED_REPLY is ignored. */
	mock_msg(&ctx, VHOST_USER_SET_OWNER, NULL, 0);
	ctx.msg.hdr.flags |= VHOST_USER_NEED_REPLY;
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	TEST_ASSERT_EQ(mock.nr_replies, 0);
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_PROTOCOL_FEATURES,
				     1ULL << VHOST_USER_PROTO_F_REPLY_ACK), 0);
	/* Success: u64 0. */
	mock_msg_u64(&ctx, VHOST_USER_SET_FEATURES, MOCK_FEATURES);
	ctx.msg.hdr.flags |= VHOST_USER_NEED_REPLY;
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	TEST_ASSERT_EQ(mock.nr_replies, 1);
	TEST_ASSERT_EQ(mock.reply.hdr.request, VHOST_USER_SET_FEATURES);
	TEST_ASSERT_EQ(mock.reply.hdr.size, 8);
	TEST_ASSERT_EQ(mock.reply.payload.u64, 0);
	/* Failure: u64 1, and the connection is to be closed. */
	mock_msg_u64(&ctx, VHOST_USER_SET_FEATURES, 1ULL << 63);
	ctx.msg.hdr.flags |= VHOST_USER_NEED_REPLY;
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	TEST_ASSERT_EQ(mock.nr_replies, 2);
	TEST_ASSERT_EQ(mock.reply.payload.u64, 1);
	/* A request with its own reply gets that one only. */
	mock_msg(&ctx, VHOST_USER_GET_FEATURES, NULL, 0);
	ctx.msg.hdr.flags |= VHOST_USER_NEED_REPLY;
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	TEST_ASSERT_EQ(mock.nr_replies, 3);
	TEST_ASSERT_EQ(mock.reply.payload.u64, VHOST_NET_FEATURES);
	mock_case_end(dev);
}

static int
send_need_reply(struct vhost_dev *dev, struct vhost_user_ctx *ctx)
{
	ctx->msg.hdr.flags |= VHOST_USER_NEED_REPLY;
	return mock_handle(dev, ctx);
}

/*
 * QEMU 7.2 with vhost-user-net, one queue pair, as seen on the socket: the
 * channel and SET_OWNER first, SET_VRING_CALL during init, then at start
 * features, memory by ADD_MEM_REG (CONFIGURE_MEM_SLOTS), rings, enable,
 * and DRIVER_OK through SET_STATUS.
 */
TEST_CASE(test_qemu_sequence)
{
	uint64_t proto = ALL_PROTO;
	struct vhost_user_mem_reg reg;
	struct rte_vhost_vring vr;
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;
	uint32_t q;
	int sv[2];

	mock_case_begin();
	dev = mock_dev_new(&mock_trans_fd);
	TEST_ASSERT(dev != NULL);
	TEST_ASSERT_EQ(mock_send_empty(dev, VHOST_USER_GET_FEATURES), 0);
	TEST_ASSERT_EQ(mock_send_empty(dev, VHOST_USER_GET_PROTOCOL_FEATURES), 0);
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_PROTOCOL_FEATURES, proto), 0);
	TEST_ASSERT_EQ(mock_send_empty(dev, VHOST_USER_GET_QUEUE_NUM), 0);
	TEST_ASSERT_EQ(mock_send_empty(dev, VHOST_USER_GET_MAX_MEM_SLOTS), 0);
	TEST_ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	close(sv[1]);
	mock_msg(&ctx, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0);
	mock_add_fd(&ctx, sv[0]);
	TEST_ASSERT_EQ(send_need_reply(dev, &ctx), 0);
	TEST_ASSERT_EQ(dev->backend_req_fd, sv[0]);
	TEST_ASSERT_EQ(mock_send_empty(dev, VHOST_USER_SET_OWNER), 0);
	TEST_ASSERT_EQ(mock_send_vring_fd(dev, VHOST_USER_SET_VRING_CALL, 0), 0);
	TEST_ASSERT_EQ(mock_send_vring_fd(dev, VHOST_USER_SET_VRING_CALL, 1), 0);
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_NET_SET_MTU, 1500), 0);
	/* Start. */
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_FEATURES, MOCK_FEATURES), 0);
	memset(&reg, 0, sizeof(reg));
	reg.region.memory_size = MOCK_GUEST_SIZE;
	reg.region.userspace_addr = MOCK_GUEST_UADDR;
	mock_msg(&ctx, VHOST_USER_ADD_MEM_REG, &reg, sizeof(reg));
	mock_add_fd(&ctx, dup(mock_env_guest.memfd));
	TEST_ASSERT_EQ(send_need_reply(dev, &ctx), 0);
	TEST_ASSERT_EQ(mock.reply.payload.u64, 0);
	for (q = 0; q < 2; q++)
		TEST_ASSERT_EQ(mock_setup_vring(dev, q), 0);
	for (q = 0; q < 2; q++)
		TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_ENABLE, q, 1), 0);
	/* Ready but no DRIVER_OK yet: not started. */
	TEST_ASSERT_EQ(mock.new_device, 0);
	TEST_ASSERT_EQ(mock_send_empty(dev, VHOST_USER_GET_STATUS), 0);
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE |
				     VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK), 0);
	TEST_ASSERT_EQ(mock.new_device, 1);
	TEST_ASSERT(dev->flags & VHOST_DEV_RUNNING);
	/* A resent identical region and feature set change nothing. */
	mock_msg(&ctx, VHOST_USER_ADD_MEM_REG, &reg, sizeof(reg));
	mock_add_fd(&ctx, dup(mock_env_guest.memfd));
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_FEATURES, MOCK_FEATURES), 0);
	TEST_ASSERT_EQ(dev->mem->nregions, 1);
	TEST_ASSERT_EQ(mock.new_device, 1);
	TEST_ASSERT_EQ(mock.destroy_device, 0);
	/* Live migration: LOG_ALL may toggle while running, nothing else. */
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_FEATURES,
				     MOCK_FEATURES | (1ULL << VHOST_F_LOG_ALL)), 0);
	TEST_ASSERT_EQ(mock.features_changed, 1);
	TEST_ASSERT(mock_send_u64(dev, VHOST_USER_SET_FEATURES,
				  MOCK_FEATURES & ~(1ULL << VIRTIO_RING_F_EVENT_IDX)) < 0);
	TEST_ASSERT_EQ(rte_vhost_get_vhost_vring(dev->vid, 0, &vr), 0);
	TEST_ASSERT(vr.desc != NULL && vr.avail != NULL && vr.used != NULL);
	/* Stop: status 0, then GET_VRING_BASE. */
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_STATUS, 0), 0);
	TEST_ASSERT_EQ(mock.destroy_device, 1);
	TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_GET_VRING_BASE, 0, 0), 0);
	/* A stopped ring has no addresses to give (DPDK returns NULL too). */
	TEST_ASSERT_EQ(rte_vhost_get_vhost_vring(dev->vid, 0, &vr), 0);
	TEST_ASSERT(vr.desc == NULL && vr.avail == NULL && vr.used == NULL);
	TEST_ASSERT_EQ(mock.reply.hdr.request, VHOST_USER_GET_VRING_BASE);
	TEST_ASSERT_EQ(mock.reply.payload.state.index, 0);
	TEST_ASSERT_EQ(mock.reply.payload.state.num, 0);
	TEST_ASSERT_EQ(dev->vq[0]->kickfd, VHOST_FD_UNSET);
	TEST_ASSERT_EQ(mock.destroy_device, 1);
	TEST_ASSERT_EQ(mock.new_device, 1);
	mock_case_end(dev);
}

/* DPDK 22.11 virtio-user: owner first, SET_MEM_TABLE, calls, then rings. */
static void
virtio_user_sequence(const struct vhost_transport_ops *t, uint64_t proto)
{
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;
	uint32_t q;

	dev = mock_dev_new(t);
	TEST_ASSERT(dev != NULL);
	TEST_ASSERT_EQ(mock_send_empty(dev, VHOST_USER_SET_OWNER), 0);
	TEST_ASSERT_EQ(mock_send_empty(dev, VHOST_USER_GET_FEATURES), 0);
	TEST_ASSERT_EQ(mock_send_empty(dev, VHOST_USER_GET_PROTOCOL_FEATURES), 0);
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_PROTOCOL_FEATURES, proto), 0);
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_FEATURES, MOCK_FEATURES), 0);
	mock_msg_mem_table(&ctx, &mock_env_guest, t->passes_fds);
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	for (q = 0; q < 2; q++)
		TEST_ASSERT_EQ(mock_send_vring_fd(dev, VHOST_USER_SET_VRING_CALL, q), 0);
	for (q = 0; q < 2; q++)
		TEST_ASSERT_EQ(mock_setup_vring(dev, q), 0);
	TEST_ASSERT_EQ(mock.new_device, 0);	/* not enabled yet */
	for (q = 0; q < 2; q++)
		TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_ENABLE, q, 1), 0);
	if (proto & (1ULL << VHOST_USER_PROTO_F_STATUS)) {
		TEST_ASSERT_EQ(mock.new_device, 0);
		TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_STATUS,
					     VIRTIO_CONFIG_S_FEATURES_OK), 0);
		TEST_ASSERT_EQ(mock.new_device, 0);
		TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_STATUS,
					     VIRTIO_CONFIG_S_FEATURES_OK |
					     VIRTIO_CONFIG_S_DRIVER_OK), 0);
	}
	TEST_ASSERT_EQ(mock.new_device, 1);
	TEST_ASSERT(dev->vq[0]->access_ok && dev->vq[1]->access_ok);
	/* Both vrings of the first pair were announced ready (net_vhost polls
	 * only announced queues). */
	TEST_ASSERT_EQ(mock.vring_state_changed, 2);
	/* A second queue pair while running does not restart the device. */
	TEST_ASSERT_EQ(mock_setup_vring(dev, 2), 0);
	TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_ENABLE, 2, 1), 0);
	TEST_ASSERT_EQ(mock.vring_state_changed, 3);
	TEST_ASSERT_EQ(mock.new_device, 1);
	TEST_ASSERT_EQ(mock.destroy_device, 0);
	/* GET_VRING_BASE stops the device. */
	TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_GET_VRING_BASE, 1, 0), 0);
	TEST_ASSERT_EQ(mock.destroy_device, 1);
	TEST_ASSERT(!(dev->flags & VHOST_DEV_RUNNING));
	vhost_dev_free(dev);
}

TEST_CASE(test_virtio_user_sequence)
{
	mock_case_begin();
	virtio_user_sequence(&mock_trans_fd, (1ULL << VHOST_USER_PROTO_F_MQ) |
			     (1ULL << VHOST_USER_PROTO_F_REPLY_ACK) |
			     (1ULL << VHOST_USER_PROTO_F_STATUS));
	mock_case_end(NULL);
}

TEST_CASE(test_virtio_user_sequence_no_status)
{
	mock_case_begin();
	virtio_user_sequence(&mock_trans_fd, (1ULL << VHOST_USER_PROTO_F_MQ) |
			     (1ULL << VHOST_USER_PROTO_F_REPLY_ACK));
	mock_case_end(NULL);
}

/*
 * A DPDK 22.11 virtio-user server that accepts a restarted back-end resumes
 * its session on the new connection without SET_OWNER: it stops the rings
 * it had (SET_VRING_ENABLE 0, GET_VRING_BASE), then sends the usual set-up.
 */
TEST_CASE(test_virtio_user_server_reconnect)
{
	struct vhost_dev *dev;
	uint32_t q;

	mock_case_begin();
	dev = mock_dev_new(&mock_trans_fd);
	TEST_ASSERT(dev != NULL);
	for (q = 0; q < 2; q++)
		TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_ENABLE, q, 0), 0);
	for (q = 0; q < 2; q++) {
		TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_GET_VRING_BASE, q, 0), 0);
		TEST_ASSERT_EQ(mock.reply.payload.state.num, 0);
	}
	TEST_ASSERT_EQ(mock_send_empty(dev, VHOST_USER_GET_FEATURES), 0);
	for (q = 0; q < 2; q++)
		TEST_ASSERT_EQ(mock_send_vring_fd(dev, VHOST_USER_SET_VRING_CALL, q), 0);
	/* Ring layout still needs SET_FEATURES. */
	TEST_ASSERT(mock_send_state(dev, VHOST_USER_SET_VRING_NUM, 0, 256) < 0);
	TEST_ASSERT_EQ(mock.new_device, 0);
	mock_case_end(dev);
}

TEST_CASE(test_fdless_transport)
{
	struct vhost_user_log log = { .mmap_size = 4096, .mmap_offset = 0 };
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;

	mock_case_begin();
	TEST_ASSERT_EQ(vhost_transport_check(&mock_trans_nofd), 0);
	TEST_ASSERT_EQ(vhost_transport_check(&mock_trans_fd), 0);
	virtio_user_sequence(&mock_trans_nofd, (1ULL << VHOST_USER_PROTO_F_MQ) |
			     (1ULL << VHOST_USER_PROTO_F_STATUS));
	/*
	 * Declared capabilities: the endpoint allows LOG_SHMFD and
	 * INFLIGHT_SHMFD, the transport cannot carry them: never offered,
	 * never accepted.
	 */
	dev = mock_dev_new(&mock_trans_nofd);
	TEST_ASSERT(mock_ep.protocol_features & (1ULL << VHOST_USER_PROTO_F_LOG_SHMFD));
	TEST_ASSERT_EQ(mock_send_empty(dev, VHOST_USER_GET_PROTOCOL_FEATURES), 0);
	TEST_ASSERT_EQ(mock.reply.payload.u64, ALL_PROTO & mock_trans_nofd.protocol_features);
	TEST_ASSERT(!(mock.reply.payload.u64 & (1ULL << VHOST_USER_PROTO_F_LOG_SHMFD)));
	TEST_ASSERT(!(mock.reply.payload.u64 & (1ULL << VHOST_USER_PROTO_F_INFLIGHT_SHMFD)));
	TEST_ASSERT(mock_send_u64(dev, VHOST_USER_SET_PROTOCOL_FEATURES,
				  1ULL << VHOST_USER_PROTO_F_LOG_SHMFD) < 0);
	TEST_ASSERT(mock_send_u64(dev, VHOST_USER_SET_PROTOCOL_FEATURES,
				  1ULL << VHOST_USER_PROTO_F_INFLIGHT_SHMFD) < 0);
	vhost_dev_free(dev);
	dev = configured_dev(&mock_trans_nofd);
	/* No fd may arrive where none can travel. */
	mock_msg_u64(&ctx, VHOST_USER_SET_VRING_CALL, 0);
	attach_fds(&ctx, 1);
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	mock_msg_mem_table(&ctx, &mock_env_guest, true);
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	/* Kick/call without NOFD are fine and become "none". */
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_VRING_KICK, 0), 0);
	TEST_ASSERT_EQ(dev->vq[0]->kickfd, VHOST_FD_NONE);
	/* What the transport cannot carry was never negotiated: refused. */
	mock_msg(&ctx, VHOST_USER_SET_LOG_BASE, &log, sizeof(log));
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	TEST_ASSERT(mock_send_empty(dev, VHOST_USER_SET_LOG_FD) < 0);
	{
		struct vhost_user_inflight inf = { .num_queues = 2, .queue_size = 256 };

		mock_msg(&ctx, VHOST_USER_GET_INFLIGHT_FD, &inf, sizeof(inf));
		TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	}
	/* The back-end channel works without an fd. */
	TEST_ASSERT_EQ(mock_send_empty(dev, VHOST_USER_SET_BACKEND_REQ_FD), 0);
	mock_case_end(dev);
}

TEST_CASE(test_legacy_enable_on_kick)
{
	uint64_t features = MOCK_FEATURES & ~(1ULL << VHOST_USER_F_PROTOCOL_FEATURES);
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;

	mock_case_begin();
	dev = mock_dev_new(&mock_trans_fd);
	TEST_ASSERT_EQ(mock_send_empty(dev, VHOST_USER_SET_OWNER), 0);
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_FEATURES, features), 0);
	mock_msg_mem_table(&ctx, &mock_env_guest, true);
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	TEST_ASSERT_EQ(mock_setup_vring(dev, 0), 0);
	TEST_ASSERT_EQ(mock.new_device, 0);
	TEST_ASSERT_EQ(mock_setup_vring(dev, 1), 0);
	TEST_ASSERT_EQ(mock.new_device, 1);
	TEST_ASSERT(dev->vq[1]->enabled);
	/* GET_VRING_BASE disables it again; the kick re-enables. */
	TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_GET_VRING_BASE, 1, 0), 0);
	TEST_ASSERT(!dev->vq[1]->enabled);
	TEST_ASSERT_EQ(mock.destroy_device, 1);
	TEST_ASSERT_EQ(mock_send_vring_fd(dev, VHOST_USER_SET_VRING_KICK, 1), 0);
	TEST_ASSERT(dev->vq[1]->enabled && dev->vq[1]->access_ok);
	TEST_ASSERT_EQ(mock.new_device, 2);
	mock_case_end(dev);
}

TEST_CASE(test_vring_fd_replace)
{
	struct vhost_dev *dev;
	int before;

	mock_case_begin();
	dev = configured_dev(&mock_trans_fd);
	TEST_ASSERT_EQ(mock_send_vring_fd(dev, VHOST_USER_SET_VRING_CALL, 0), 0);
	before = test_count_fds();
	/* Replacing closes the old fd: the count stays. */
	TEST_ASSERT_EQ(mock_send_vring_fd(dev, VHOST_USER_SET_VRING_CALL, 0), 0);
	TEST_ASSERT_EQ(mock_send_vring_fd(dev, VHOST_USER_SET_VRING_ERR, 0), 0);
	TEST_ASSERT_EQ(test_count_fds(), before + 1);
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_VRING_ERR,
				     VHOST_USER_VRING_NOFD_MASK), 0);
	TEST_ASSERT_EQ(test_count_fds(), before);
	TEST_ASSERT_EQ(dev->vq[0]->errfd, VHOST_FD_NONE);
	mock_case_end(dev);
}

/*
 * Call and err fds are written from lcores: a blocking one is made
 * non-blocking (the flag is set only when missing), one that already is
 * stays so, and either way the vring keeps the fd.
 */
TEST_CASE(test_vring_fd_made_nonblocking)
{
	static const uint32_t requests[] = { VHOST_USER_SET_VRING_CALL,
					     VHOST_USER_SET_VRING_ERR };
	struct vhost_dev *dev;
	unsigned int i, blocking;

	mock_case_begin();
	dev = configured_dev(&mock_trans_fd);
	for (i = 0; i < RTE_DIM(requests); i++) {
		for (blocking = 0; blocking < 2; blocking++) {
			struct vhost_user_ctx ctx;
			int fd = eventfd(0, EFD_CLOEXEC | (blocking ? 0 : EFD_NONBLOCK));
			int kept;

			TEST_ASSERT(fd >= 0);
			TEST_ASSERT_EQ(!!(fcntl(fd, F_GETFL) & O_NONBLOCK), !blocking);
			mock_msg_u64(&ctx, requests[i], 0);
			mock_add_fd(&ctx, fd);
			TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
			kept = requests[i] == VHOST_USER_SET_VRING_CALL ?
				dev->vq[0]->callfd : dev->vq[0]->errfd;
			TEST_ASSERT_EQ(kept, fd);
			TEST_ASSERT(fcntl(kept, F_GETFL) & O_NONBLOCK,
				    "request %u, blocking %u", requests[i], blocking);
		}
	}
	mock_case_end(dev);
}

static enum rte_vhost_msg_result
hook_pre(int vid, void *msg)
{
	struct vhost_user_msg *m = msg;

	if (m->hdr.request == VHOST_USER_CLOSE_CRYPTO_SESSION)
		return RTE_VHOST_MSG_RESULT_OK;
	if (m->hdr.request == VHOST_USER_GET_QUEUE_NUM) {
		m->payload.u64 = 42;
		m->hdr.size = 8;
		return RTE_VHOST_MSG_RESULT_REPLY;
	}
	if (m->hdr.request == VHOST_USER_SEND_RARP)
		return RTE_VHOST_MSG_RESULT_ERR;
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

TEST_CASE(test_extern_hooks)
{
	struct rte_vhost_user_extern_ops ops = { .pre_msg_handle = hook_pre };
	struct vhost_dev *dev;

	mock_case_begin();
	dev = configured_dev(&mock_trans_fd);
	TEST_ASSERT(rte_vhost_extern_callback_register(dev->vid, NULL, NULL) < 0);
	TEST_ASSERT_EQ(rte_vhost_extern_callback_register(dev->vid, &ops, NULL), 0);
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_CLOSE_CRYPTO_SESSION, 1), 0);
	TEST_ASSERT_EQ(mock_send_empty(dev, VHOST_USER_GET_QUEUE_NUM), 0);
	TEST_ASSERT_EQ(mock.reply.payload.u64, 42);
	TEST_ASSERT(mock_send_u64(dev, VHOST_USER_SEND_RARP, 0) < 0);
	/* Hooks see only messages that passed the rules. */
	TEST_ASSERT(mock_send_u64(dev, VHOST_USER_CLOSE_CRYPTO_SESSION, 1) == 0);
	TEST_ASSERT(mock_send_empty(dev, VHOST_USER_CLOSE_CRYPTO_SESSION) < 0);
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_VRING_ENABLE, 0), 0);
	mock_case_end(dev);
}

TEST_CASE(test_iotlb)
{
	uint64_t features = MOCK_FEATURES | (1ULL << VIRTIO_F_IOMMU_PLATFORM);
	struct vhost_user_iotlb m;
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;
	uint64_t len, vva;
	int sv[2];

	mock_case_begin();
	dev = configured_dev(&mock_trans_fd);
	/* Without IOMMU_PLATFORM the message is refused. */
	memset(&m, 0, sizeof(m));
	m.iova = 0x100000;
	m.size = 0x1000;
	m.uaddr = MOCK_GUEST_UADDR;
	m.perm = VHOST_USER_ACCESS_RW;
	m.type = VHOST_USER_IOTLB_UPDATE;
	mock_msg(&ctx, VHOST_USER_IOTLB_MSG, &m, sizeof(m));
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	vhost_dev_free(dev);

	dev = configured_dev(&mock_trans_fd);
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_FEATURES, features), 0);
	TEST_ASSERT(dev->iommu);
	TEST_ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	close(sv[1]);
	mock_msg(&ctx, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0);
	mock_add_fd(&ctx, sv[0]);
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	mock_msg_mem_table(&ctx, &mock_env_guest, true);
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	/* A miss asks the front-end once. */
	len = 64;
	TEST_ASSERT_EQ(vhost_iova_to_vva_iotlb(dev, NULL, 0x100000, &len, 1), 0);
	TEST_ASSERT_EQ(len, 0);
	len = 64;
	vhost_iova_to_vva_iotlb(dev, NULL, 0x100010, &len, 1);
	TEST_ASSERT_EQ(mock.nr_backend_reqs, 1);
	TEST_ASSERT_EQ(mock.backend_req.hdr.request, VHOST_USER_BACKEND_IOTLB_MSG);
	TEST_ASSERT_EQ(mock.backend_req.payload.iotlb.type, VHOST_USER_IOTLB_MISS);
	TEST_ASSERT_EQ(mock.backend_req.payload.iotlb.iova, 0x100000);
	/* Bad updates. */
	m.type = 7;
	mock_msg(&ctx, VHOST_USER_IOTLB_MSG, &m, sizeof(m));
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	m.type = VHOST_USER_IOTLB_UPDATE;
	m.perm = 4;
	mock_msg(&ctx, VHOST_USER_IOTLB_MSG, &m, sizeof(m));
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	m.perm = VHOST_USER_ACCESS_RW;
	m.size = UINT64_MAX;
	mock_msg(&ctx, VHOST_USER_IOTLB_MSG, &m, sizeof(m));
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	m.size = 0;
	mock_msg(&ctx, VHOST_USER_IOTLB_MSG, &m, sizeof(m));
	TEST_ASSERT(mock_handle(dev, &ctx) < 0);
	/* A good update, then a hit clamped to the entry. */
	m.size = 0x1000;
	mock_msg(&ctx, VHOST_USER_IOTLB_MSG, &m, sizeof(m));
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	len = 0x2000;
	vva = vhost_iova_to_vva_iotlb(dev, NULL, 0x100800, &len, VHOST_USER_ACCESS_RO);
	TEST_ASSERT(vva != 0);
	TEST_ASSERT_EQ(len, 0x800);
	TEST_ASSERT_EQ(vva, dev->mem->regions[0].host_user_addr + 0x800);
	/* Invalidate: gone again. */
	m.type = VHOST_USER_IOTLB_INVALIDATE;
	m.iova = 0x100fff;
	m.size = 1;
	mock_msg(&ctx, VHOST_USER_IOTLB_MSG, &m, sizeof(m));
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	len = 8;
	TEST_ASSERT_EQ(vhost_iova_to_vva_iotlb(dev, NULL, 0x100000, &len, 1), 0);
	/* Config change request through the same channel. */
	TEST_ASSERT_EQ(rte_vhost_slave_config_change(dev->vid, false), 0);
	TEST_ASSERT_EQ(mock.backend_req.hdr.request, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG);
	mock_case_end(dev);
}

TEST_MAIN(mock_env_setup, mock_env_teardown,
	TEST_ENTRY(test_every_request_known),
	TEST_ENTRY(test_bad_header),
	TEST_ENTRY(test_wrong_size),
	TEST_ENTRY(test_wrong_fd_count),
	TEST_ENTRY(test_bad_vring_index),
	TEST_ENTRY(test_state_rules),
	TEST_ENTRY(test_refused_requests),
	TEST_ENTRY(test_field_ranges),
	TEST_ENTRY(test_get_replies),
	TEST_ENTRY(test_reply_ack),
	TEST_ENTRY(test_qemu_sequence),
	TEST_ENTRY(test_virtio_user_sequence),
	TEST_ENTRY(test_virtio_user_sequence_no_status),
	TEST_ENTRY(test_virtio_user_server_reconnect),
	TEST_ENTRY(test_fdless_transport),
	TEST_ENTRY(test_legacy_enable_on_kick),
	TEST_ENTRY(test_vring_fd_replace),
	TEST_ENTRY(test_vring_fd_made_nonblocking),
	TEST_ENTRY(test_extern_hooks),
	TEST_ENTRY(test_iotlb))

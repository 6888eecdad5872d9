/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vhost-user message dispatcher: one rules table, one row per request.
 *
 * Security model
 * --------------
 * The front-end is not trusted. Every header field, payload field, fd and
 * fd count may be hostile, and so may the order in which messages arrive.
 * The dispatcher checks everything a row declares (see vhost_user_priv.h)
 * before a handler sees the message; a message that fails any check, or a
 * handler that fails, makes vhost_user_msg_handle() return a negative errno
 * after one log line, and the transport closes the connection. fds the
 * handler did not keep are closed by the transport (one rule for every
 * path, so no path can leak one).
 *
 * Order of front-ends
 * -------------------
 * The state rules follow what QEMU 7.2 and DPDK's virtio-user actually
 * send, strictly but without breaking them:
 *  - QEMU sends GET_FEATURES, GET/SET_PROTOCOL_FEATURES, GET_QUEUE_NUM,
 *    GET_MAX_MEM_SLOTS and SET_BACKEND_REQ_FD *before* SET_OWNER, so these
 *    need no owner; SET_OWNER itself may repeat (once per queue pair);
 *  - QEMU sends SET_VRING_CALL right after SET_OWNER, before SET_FEATURES
 *    and SET_VRING_NUM, and may send SET_VRING_ENABLE before SET_FEATURES:
 *    those need the owner only;
 *  - a DPDK 22.11 virtio-user server (server=1) resumes its session on a
 *    reconnected back-end without ever sending SET_OWNER again: it opens
 *    with SET_VRING_ENABLE 0 / GET_VRING_BASE (stopping the rings it had),
 *    then the usual set-up. That opening stands for SET_OWNER;
 *  - SET_VRING_NUM/ADDR/BASE, whose meaning depends on the negotiated ring
 *    layout, need SET_FEATURES;
 *  - requests that exist only under a protocol feature (STATUS, MTU, RARP,
 *    inflight, memory slots, log, backend channel, ...) need it negotiated:
 *    QEMU and virtio-user check the same before sending them.
 *
 * Replies
 * -------
 * Rows marked `reply` answer through dev->trans->send_reply. For the others,
 * when REPLY_ACK is negotiated and the front-end set NEED_REPLY, a u64 ack
 * goes back: 0 for success, 1 for failure (the failure is then also
 * reported to the transport, which closes the connection).
 *
 * Application hooks (rte_vhost_extern_callback_register) see only messages
 * that passed the rules: pre_msg_handle may answer or consume a request
 * instead of us (vhost-crypto style), post_msg_handle runs after ours.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_vhost.h>

#include "vhost.h"
#include "vhost_transport.h"
#include "vhost_user.h"
#include "vhost_user_priv.h"

/* Where a per-queue request carries its vring index. */
enum vhost_idx_rule {
	VHOST_IDX_NONE = 0,
	VHOST_IDX_STATE,	/* struct vhost_user_vring_state.index (u32) */
	VHOST_IDX_ADDR,		/* struct vhost_user_vring_addr.index (u32) */
	VHOST_IDX_FILE,		/* u64: bits 0-7 index, bit 8 NOFD, rest zero */
};

/* State a request needs. */
#define VHOST_NEED_OWNER	(1u << 0)
#define VHOST_NEED_FEATURES	(1u << 1)

/*
 * One row per request. A row names only what differs from the defaults: no
 * payload, no fds, no vring index, no state or protocol feature needed, no
 * reply of its own. A request without a row is refused.
 */
struct vhost_msg_rule {
	const char *name;
	vhost_msg_handler_t handler;	/* NULL: refused (unless a hook takes it) */
	uint16_t min_size;		/* payload bytes, inclusive */
	uint16_t max_size;
	const char *(*check)(const struct vhost_user_ctx *ctx);
	uint8_t fds;			/* enum vhost_msg_fd_rule */
	uint8_t idx;			/* enum vhost_idx_rule */
	uint8_t need;			/* VHOST_NEED_* */
	bool reply;			/* has a reply of its own */
	uint64_t proto;			/* protocol feature bit needed, or 0 */
};

#define U64		sizeof(uint64_t)
#define STATE		sizeof(struct vhost_user_vring_state)
#define MEMTABLE_MIN	offsetof(struct vhost_user_memory, regions[1])
#define MEMTABLE_MAX	sizeof(struct vhost_user_memory)
#define CONFIG_HDR	offsetof(struct vhost_user_config, region)
#define CONFIG_MAX	sizeof(struct vhost_user_config)

#define RULE(req, ...)		[VHOST_USER_ ## req] = { .name = #req, __VA_ARGS__ }
#define H(fn)			.handler = vhost_user_ ## fn
#define SIZE(n)			.min_size = (n), .max_size = (n)
#define SIZE_RANGE(a, b)	.min_size = (a), .max_size = (b)
#define CHECK(fn)		.check = vhost_user_check_ ## fn
#define FDS(kind)		.fds = VHOST_MSG_FDS_ ## kind
#define IDX(where)		.idx = VHOST_IDX_ ## where
#define OWNER			.need = VHOST_NEED_OWNER
#define OWNER_FEATURES		.need = VHOST_NEED_OWNER | VHOST_NEED_FEATURES
#define PROTO(f)		.proto = 1ULL << VHOST_USER_PROTO_F_ ## f
#define REPLY			.reply = true

static const struct vhost_msg_rule vhost_msg_rules[VHOST_USER_REQUEST_MAX] = {
	RULE(GET_FEATURES, H(get_features), REPLY),
	RULE(SET_FEATURES, H(set_features), SIZE(U64)),
	RULE(SET_OWNER, H(set_owner)),
	RULE(RESET_OWNER, H(reset_owner)),
	RULE(SET_MEM_TABLE, H(set_mem_table), SIZE_RANGE(MEMTABLE_MIN, MEMTABLE_MAX),
	     CHECK(mem_table), FDS(PER_REGION), OWNER),
	RULE(SET_LOG_BASE, H(set_log_base), SIZE(sizeof(struct vhost_user_log)),
	     CHECK(log_base), FDS(ONE), OWNER, PROTO(LOG_SHMFD), REPLY),
	RULE(SET_LOG_FD, H(set_log_fd), FDS(ONE), OWNER),
	RULE(SET_VRING_NUM, H(set_vring_num), SIZE(STATE), CHECK(vring_num), IDX(STATE),
	     OWNER_FEATURES),
	RULE(SET_VRING_ADDR, H(set_vring_addr), SIZE(sizeof(struct vhost_user_vring_addr)),
	     IDX(ADDR), OWNER_FEATURES),
	RULE(SET_VRING_BASE, H(set_vring_base), SIZE(STATE), IDX(STATE), OWNER_FEATURES),
	RULE(GET_VRING_BASE, H(get_vring_base), SIZE(STATE), IDX(STATE), OWNER, REPLY),
	RULE(SET_VRING_KICK, H(set_vring_kick), SIZE(U64), FDS(NOFD_BIT), IDX(FILE), OWNER),
	RULE(SET_VRING_CALL, H(set_vring_call), SIZE(U64), FDS(NOFD_BIT), IDX(FILE), OWNER),
	RULE(SET_VRING_ERR, H(set_vring_err), SIZE(U64), FDS(NOFD_BIT), IDX(FILE), OWNER),
	RULE(GET_PROTOCOL_FEATURES, H(get_protocol_features), REPLY),
	RULE(SET_PROTOCOL_FEATURES, H(set_protocol_features), SIZE(U64)),
	RULE(GET_QUEUE_NUM, H(get_queue_num), PROTO(MQ), REPLY),
	RULE(SET_VRING_ENABLE, H(set_vring_enable), SIZE(STATE), CHECK(vring_enable),
	     IDX(STATE), OWNER),
	RULE(SEND_RARP, H(send_rarp), SIZE(U64), OWNER, PROTO(RARP)),
	RULE(NET_SET_MTU, H(net_set_mtu), SIZE(U64), CHECK(mtu), OWNER, PROTO(NET_MTU)),
	RULE(SET_BACKEND_REQ_FD, H(set_backend_req_fd), FDS(ONE), PROTO(BACKEND_REQ)),
	RULE(IOTLB_MSG, H(iotlb_msg), SIZE(sizeof(struct vhost_user_iotlb)), CHECK(iotlb),
	     OWNER),
	/* CROSS_ENDIAN is not offered: legacy big-endian rings are refused. */
	RULE(SET_VRING_ENDIAN, SIZE(STATE), IDX(STATE), OWNER),
	/* A net device has no back-end config space: GET answers size 0. */
	RULE(GET_CONFIG, H(get_config), SIZE_RANGE(CONFIG_HDR, CONFIG_MAX), CHECK(config),
	     REPLY),
	RULE(SET_CONFIG, SIZE_RANGE(CONFIG_HDR, CONFIG_MAX), CHECK(config)),
	/* vhost-crypto sessions: only an application pre-hook may take them. */
	RULE(CREATE_CRYPTO_SESSION, SIZE_RANGE(0, VHOST_USER_PAYLOAD_MAX)),
	RULE(CLOSE_CRYPTO_SESSION, SIZE(U64)),
	/* Postcopy migration (PAGEFAULT) is not offered: refused. */
	RULE(POSTCOPY_ADVISE),
	RULE(POSTCOPY_LISTEN),
	RULE(POSTCOPY_END),
	RULE(GET_INFLIGHT_FD, H(get_inflight_fd), SIZE(sizeof(struct vhost_user_inflight)),
	     CHECK(inflight), OWNER, PROTO(INFLIGHT_SHMFD), REPLY),
	RULE(SET_INFLIGHT_FD, H(set_inflight_fd), SIZE(sizeof(struct vhost_user_inflight)),
	     CHECK(inflight), FDS(ONE), OWNER, PROTO(INFLIGHT_SHMFD)),
	/* Not a GPU. */
	RULE(GPU_SET_SOCKET, FDS(ONE)),
	RULE(RESET_DEVICE, H(reset_owner)),
	RULE(VRING_KICK, H(vring_kick), SIZE(STATE), IDX(STATE), OWNER,
	     PROTO(INBAND_NOTIFICATIONS)),
	RULE(GET_MAX_MEM_SLOTS, H(get_max_mem_slots), REPLY),
	RULE(ADD_MEM_REG, H(add_mem_reg), SIZE(sizeof(struct vhost_user_mem_reg)),
	     CHECK(mem_reg), FDS(ONE), OWNER, PROTO(CONFIGURE_MEM_SLOTS)),
	/* QEMU before 7.1 attached the region's fd; later ones attach none. */
	RULE(REM_MEM_REG, H(rem_mem_reg), SIZE(sizeof(struct vhost_user_mem_reg)),
	     CHECK(mem_reg), FDS(OPTIONAL), OWNER, PROTO(CONFIGURE_MEM_SLOTS)),
	RULE(SET_STATUS, H(set_status), SIZE(U64), CHECK(status), OWNER, PROTO(STATUS)),
	RULE(GET_STATUS, H(get_status), PROTO(STATUS), REPLY),
};

int
vhost_user_msg_rule_info(uint32_t request, struct vhost_msg_rule_info *info)
{
	const struct vhost_msg_rule *rule;

	if (request >= VHOST_USER_REQUEST_MAX || vhost_msg_rules[request].name == NULL)
		return -ENOENT;
	rule = &vhost_msg_rules[request];
	info->name = rule->name;
	info->min_size = rule->min_size;
	info->max_size = rule->max_size;
	info->fds = rule->fds;
	info->handled = rule->handler != NULL;
	info->reply = rule->reply;
	return 0;
}

const char *
vhost_user_req_name(uint32_t request)
{
	if (request < VHOST_USER_REQUEST_MAX && vhost_msg_rules[request].name != NULL)
		return vhost_msg_rules[request].name;
	return "UNKNOWN";
}

/* The fd count a request may carry, from its row and (for some) its payload. */
static void
vhost_msg_expected_fds(const struct vhost_dev *dev, const struct vhost_msg_rule *rule,
		       const struct vhost_user_ctx *ctx, int *min, int *max)
{
	*min = 0;
	*max = 0;
	if (!dev->trans->passes_fds)
		return;
	switch (rule->fds) {
	case VHOST_MSG_FDS_ONE:
		*min = *max = 1;
		break;
	case VHOST_MSG_FDS_NOFD_BIT:
		*min = *max = (vhost_msg_u64(ctx) & VHOST_USER_VRING_NOFD_MASK) ? 0 : 1;
		break;
	case VHOST_MSG_FDS_PER_REGION: {
		uint32_t n;

		/* The size rule already bounded nregions to 1..8. */
		vhost_msg_payload(ctx, &n, sizeof(n));
		*min = *max = (int)n;
		break;
	}
	case VHOST_MSG_FDS_OPTIONAL:
		*max = 1;
		break;
	default:
		break;
	}
}

/* The vring index a request names, on the full width of its field. */
static int
vhost_msg_index(const struct vhost_msg_rule *rule, const struct vhost_user_ctx *ctx,
		uint64_t *index)
{
	switch (rule->idx) {
	case VHOST_IDX_STATE: {
		struct vhost_user_vring_state st;

		vhost_msg_payload(ctx, &st, sizeof(st));
		*index = st.index;
		return 1;
	}
	case VHOST_IDX_ADDR: {
		struct vhost_user_vring_addr a;

		vhost_msg_payload(ctx, &a, sizeof(a));
		*index = a.index;
		return 1;
	}
	case VHOST_IDX_FILE: {
		uint64_t v = vhost_msg_u64(ctx);

		/* Bits above NOFD are reserved: a set one is not a bigger index. */
		if (v & ~(uint64_t)(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK)) {
			*index = v;
			return 1;
		}
		*index = v & VHOST_USER_VRING_IDX_MASK;
		return 1;
	}
	default:
		return 0;
	}
}

/* Highest vring count the endpoint allows (what GET_QUEUE_NUM promised). */
static uint32_t
vhost_msg_max_vrings(const struct vhost_dev *dev)
{
	uint32_t qp = dev->ep != NULL ? dev->ep->max_queue_pairs : 0;

	if (qp == 0 || qp > VHOST_MAX_QUEUE_PAIRS)
		return VHOST_MAX_VRING;
	return qp * 2;
}

/* Everything the row declares; 0 or -errno after one log line. */
static int
vhost_msg_validate(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
		   const struct vhost_msg_rule **rulep)
{
	const struct vhost_user_hdr *hdr = &ctx->msg.hdr;
	const struct vhost_msg_rule *rule;
	const char *why;
	uint64_t index = 0;
	int min_fds, max_fds;

	if ((hdr->flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION) {
		VHOST_MSG_LOG(dev, ctx, ERR, "bad version in flags 0x%x\n", hdr->flags);
		return -EPROTO;
	}
	if (hdr->flags & VHOST_USER_REPLY_MASK) {
		VHOST_MSG_LOG(dev, ctx, ERR, "a reply where a request was expected\n");
		return -EPROTO;
	}
	if (hdr->request >= VHOST_USER_REQUEST_MAX ||
	    vhost_msg_rules[hdr->request].name == NULL) {
		VHOST_LOG_CONFIG(dev->ifname, ERR, "unknown request %u\n", hdr->request);
		return -EOPNOTSUPP;
	}
	rule = &vhost_msg_rules[hdr->request];
	*rulep = rule;

	if (hdr->size < rule->min_size || hdr->size > rule->max_size ||
	    hdr->size > VHOST_USER_PAYLOAD_MAX) {
		VHOST_MSG_LOG(dev, ctx, ERR, "payload of %u bytes, expected %u..%u\n",
			      hdr->size, rule->min_size, rule->max_size);
		return -EINVAL;
	}
	if (rule->check != NULL && (why = rule->check(ctx)) != NULL) {
		VHOST_MSG_LOG(dev, ctx, ERR, "%s\n", why);
		return -EINVAL;
	}
	vhost_msg_expected_fds(dev, rule, ctx, &min_fds, &max_fds);
	if (ctx->nr_fds < min_fds || ctx->nr_fds > max_fds) {
		VHOST_MSG_LOG(dev, ctx, ERR, "%d fds attached, expected %d..%d\n",
			      ctx->nr_fds, min_fds, max_fds);
		return -EINVAL;
	}
	if (vhost_msg_index(rule, ctx, &index)) {
		if (index >= vhost_msg_max_vrings(dev)) {
			VHOST_MSG_LOG(dev, ctx, ERR, "vring index 0x%" PRIx64 " out of range\n",
				      index);
			return -EINVAL;
		}
	}
	/* A resumed session (see "Order of front-ends" above) is owned. */
	if ((ctx->msg.hdr.request == VHOST_USER_SET_VRING_ENABLE ||
	     ctx->msg.hdr.request == VHOST_USER_GET_VRING_BASE) &&
	    !(dev->flags & (VHOST_DEV_OWNER_SET | VHOST_DEV_FEATURES_SET)))
		dev->flags |= VHOST_DEV_OWNER_SET;
	if ((rule->need & VHOST_NEED_OWNER) && !(dev->flags & VHOST_DEV_OWNER_SET)) {
		VHOST_MSG_LOG(dev, ctx, ERR, "sent before SET_OWNER\n");
		return -EPROTO;
	}
	if ((rule->need & VHOST_NEED_FEATURES) && !(dev->flags & VHOST_DEV_FEATURES_SET)) {
		VHOST_MSG_LOG(dev, ctx, ERR, "sent before SET_FEATURES\n");
		return -EPROTO;
	}
	if (rule->proto & ~dev->protocol_features) {
		VHOST_MSG_LOG(dev, ctx, ERR, "protocol feature %u not negotiated\n",
			      (unsigned int)__builtin_ctzll(rule->proto));
		return -EPROTO;
	}
	/* Allocate the vring now so handlers find it (checked index only). */
	if (rule->idx != VHOST_IDX_NONE)
		return vhost_vq_alloc(dev, (uint32_t)index);
	return 0;
}

static int
vhost_msg_send(struct vhost_dev *dev, uint32_t request, struct vhost_user_msg *msg,
	       const int *fds, int nr_fds)
{
	int ret;

	msg->hdr.request = request;
	msg->hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	if (msg->hdr.size > VHOST_USER_PAYLOAD_MAX)
		msg->hdr.size = VHOST_USER_PAYLOAD_MAX;
	ret = dev->trans->send_reply(dev, msg, fds, nr_fds);
	if (ret < 0) {
		VHOST_LOG_CONFIG(dev->ifname, ERR, "%s: sending the reply failed (%d)\n",
				 vhost_user_req_name(request), ret);
		return ret;
	}
	return 0;
}

/* The application's hook; returns 1 if it took the message, 0, or -errno. */
static int
vhost_msg_extern_hook(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
		      rte_vhost_msg_handle hook, const char *which)
{
	uint32_t request = ctx->msg.hdr.request;
	enum rte_vhost_msg_result res;

	if (hook == NULL)
		return 0;
	res = hook(dev->vid, &ctx->msg);
	switch (res) {
	case RTE_VHOST_MSG_RESULT_NOT_HANDLED:
		return 0;
	case RTE_VHOST_MSG_RESULT_OK:
		return 1;
	case RTE_VHOST_MSG_RESULT_REPLY:
		if (vhost_msg_send(dev, request, &ctx->msg, NULL, 0) < 0)
			return -EIO;
		return 1;
	case RTE_VHOST_MSG_RESULT_ERR:
	default:
		VHOST_LOG_CONFIG(dev->ifname, ERR, "%s: application %s hook failed it\n",
				 vhost_user_req_name(request), which);
		return -EINVAL;
	}
}

/* Validate, hooks, handler, reply; a negative errno ends the connection. */
static int
vhost_msg_dispatch(struct vhost_dev *dev, struct vhost_user_ctx *ctx)
{
	const struct vhost_msg_rule *rule = NULL;
	struct vhost_user_reply reply;
	uint32_t request, flags;
	bool handled = false;
	int ret;

	if (ctx->nr_fds < 0 || ctx->nr_fds > VHOST_USER_MAX_FDS) {
		VHOST_LOG_CONFIG(dev->ifname, ERR, "transport passed %d fds\n", ctx->nr_fds);
		return -EINVAL;
	}
	ret = vhost_msg_validate(dev, ctx, &rule);
	if (ret < 0)
		return ret;
	request = ctx->msg.hdr.request;
	flags = ctx->msg.hdr.flags;
	VHOST_LOG_CONFIG(dev->ifname, DEBUG, "read message %s\n", rule->name);

	ret = vhost_msg_extern_hook(dev, ctx, dev->extern_ops.pre_msg_handle, "pre");
	if (ret < 0)
		return ret;
	handled = ret > 0;

	memset(&reply, 0, sizeof(reply));
	if (!handled) {
		if (rule->handler == NULL) {
			VHOST_LOG_CONFIG(dev->ifname, ERR, "%s: not supported\n", rule->name);
			ret = -EOPNOTSUPP;
		} else {
			ret = rule->handler(dev, ctx, &reply);
		}
		if (ret == 0 && rule->reply)
			ret = vhost_msg_send(dev, request, &reply.msg, reply.fds, reply.nr_fds);
	}

	if (ret == 0) {
		int hret = vhost_msg_extern_hook(dev, ctx, dev->extern_ops.post_msg_handle,
						 "post");

		if (hret < 0)
			ret = hret;
	}

	/* REPLY_ACK, for requests that have no reply of their own. */
	if (!rule->reply && (flags & VHOST_USER_NEED_REPLY) &&
	    vhost_has_protocol_feature(dev, VHOST_USER_PROTO_F_REPLY_ACK) &&
	    !(dev->flags & VHOST_DEV_BROKEN)) {
		memset(&reply, 0, sizeof(reply));
		vhost_reply_u64(&reply, ret < 0 ? 1 : 0);
		if (vhost_msg_send(dev, request, &reply.msg, NULL, 0) < 0 && ret == 0)
			ret = -EIO;
	}
	if (ret < 0)
		return ret;

	/* Any accepted message may have completed the vrings that start it. */
	vhost_dev_check_ready(dev);
	return 0;
}

int
vhost_user_msg_handle(struct vhost_dev *dev, struct vhost_user_ctx *ctx)
{
	int ret;

	if (dev == NULL || ctx == NULL || dev->trans == NULL)
		return -EINVAL;
	if (dev->flags & VHOST_DEV_BROKEN)
		return -ENOTCONN;
	ret = vhost_msg_dispatch(dev, ctx);
	/* The one place a failed message ends its connection. */
	if (ret < 0)
		vhost_dev_disconnect(dev);
	return ret;
}

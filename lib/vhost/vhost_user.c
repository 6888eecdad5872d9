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

/* How many fds a request carries (on a transport that passes fds). */
enum vhost_fd_rule {
	VHOST_FDS_NONE = 0,
	VHOST_FDS_ONE,		/* exactly one */
	VHOST_FDS_NOFD_BIT,	/* one, or none when bit 8 of the u64 is set */
	VHOST_FDS_PER_REGION,	/* one per SET_MEM_TABLE region */
	VHOST_FDS_OPTIONAL,	/* zero or one, not used (REM_MEM_REG) */
};

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

#define VHOST_NO_PROTO		(-1)

struct vhost_msg_rule {
	const char *name;
	vhost_msg_handler_t handler;	/* NULL: refused (unless a hook takes it) */
	uint16_t min_size;		/* payload bytes, inclusive */
	uint16_t max_size;
	const char *(*check)(const struct vhost_user_ctx *ctx);
	uint8_t fds;			/* enum vhost_fd_rule */
	uint8_t idx;			/* enum vhost_idx_rule */
	uint8_t need;			/* VHOST_NEED_* */
	int8_t proto;			/* protocol feature needed, or VHOST_NO_PROTO */
	bool reply;			/* has a reply of its own */
};

#define SZ(n)		(n), (n)
#define SZ_RANGE(a, b)	(a), (b)
#define U64		sizeof(uint64_t)
#define STATE		sizeof(struct vhost_user_vring_state)
#define MEMTABLE_MIN	offsetof(struct vhost_user_memory, regions[1])
#define MEMTABLE_MAX	sizeof(struct vhost_user_memory)
#define CONFIG_HDR	offsetof(struct vhost_user_config, region)

#define RULE(req, h, sizes, chk, fd, ix, nd, pf, rep) \
	[VHOST_USER_ ## req] = { #req, h, sizes, chk, fd, ix, nd, pf, rep }

static const struct vhost_msg_rule vhost_msg_rules[VHOST_USER_REQUEST_MAX] = {
	RULE(GET_FEATURES, vhost_user_get_features, SZ(0), NULL,
	     VHOST_FDS_NONE, VHOST_IDX_NONE, 0, VHOST_NO_PROTO, true),
	RULE(SET_FEATURES, vhost_user_set_features, SZ(U64), NULL,
	     VHOST_FDS_NONE, VHOST_IDX_NONE, 0, VHOST_NO_PROTO, false),
	RULE(SET_OWNER, vhost_user_set_owner, SZ(0), NULL,
	     VHOST_FDS_NONE, VHOST_IDX_NONE, 0, VHOST_NO_PROTO, false),
	RULE(RESET_OWNER, vhost_user_reset_owner, SZ(0), NULL,
	     VHOST_FDS_NONE, VHOST_IDX_NONE, 0, VHOST_NO_PROTO, false),
	RULE(SET_MEM_TABLE, vhost_user_set_mem_table,
	     SZ_RANGE(MEMTABLE_MIN, MEMTABLE_MAX), vhost_user_check_mem_table,
	     VHOST_FDS_PER_REGION, VHOST_IDX_NONE, VHOST_NEED_OWNER, VHOST_NO_PROTO, false),
	RULE(SET_LOG_BASE, vhost_user_set_log_base, SZ(sizeof(struct vhost_user_log)),
	     vhost_user_check_log_base, VHOST_FDS_ONE, VHOST_IDX_NONE, VHOST_NEED_OWNER,
	     VHOST_USER_PROTO_F_LOG_SHMFD, true),
	RULE(SET_LOG_FD, vhost_user_set_log_fd, SZ(0), NULL,
	     VHOST_FDS_ONE, VHOST_IDX_NONE, VHOST_NEED_OWNER, VHOST_NO_PROTO, false),
	RULE(SET_VRING_NUM, vhost_user_set_vring_num, SZ(STATE), vhost_user_check_vring_num,
	     VHOST_FDS_NONE, VHOST_IDX_STATE, VHOST_NEED_OWNER | VHOST_NEED_FEATURES,
	     VHOST_NO_PROTO, false),
	RULE(SET_VRING_ADDR, vhost_user_set_vring_addr,
	     SZ(sizeof(struct vhost_user_vring_addr)), NULL,
	     VHOST_FDS_NONE, VHOST_IDX_ADDR, VHOST_NEED_OWNER | VHOST_NEED_FEATURES,
	     VHOST_NO_PROTO, false),
	RULE(SET_VRING_BASE, vhost_user_set_vring_base, SZ(STATE), NULL,
	     VHOST_FDS_NONE, VHOST_IDX_STATE, VHOST_NEED_OWNER | VHOST_NEED_FEATURES,
	     VHOST_NO_PROTO, false),
	RULE(GET_VRING_BASE, vhost_user_get_vring_base, SZ(STATE), NULL,
	     VHOST_FDS_NONE, VHOST_IDX_STATE, VHOST_NEED_OWNER, VHOST_NO_PROTO, true),
	RULE(SET_VRING_KICK, vhost_user_set_vring_kick, SZ(U64), NULL,
	     VHOST_FDS_NOFD_BIT, VHOST_IDX_FILE, VHOST_NEED_OWNER, VHOST_NO_PROTO, false),
	RULE(SET_VRING_CALL, vhost_user_set_vring_call, SZ(U64), NULL,
	     VHOST_FDS_NOFD_BIT, VHOST_IDX_FILE, VHOST_NEED_OWNER, VHOST_NO_PROTO, false),
	RULE(SET_VRING_ERR, vhost_user_set_vring_err, SZ(U64), NULL,
	     VHOST_FDS_NOFD_BIT, VHOST_IDX_FILE, VHOST_NEED_OWNER, VHOST_NO_PROTO, false),
	RULE(GET_PROTOCOL_FEATURES, vhost_user_get_protocol_features, SZ(0), NULL,
	     VHOST_FDS_NONE, VHOST_IDX_NONE, 0, VHOST_NO_PROTO, true),
	RULE(SET_PROTOCOL_FEATURES, vhost_user_set_protocol_features, SZ(U64), NULL,
	     VHOST_FDS_NONE, VHOST_IDX_NONE, 0, VHOST_NO_PROTO, false),
	RULE(GET_QUEUE_NUM, vhost_user_get_queue_num, SZ(0), NULL,
	     VHOST_FDS_NONE, VHOST_IDX_NONE, 0, VHOST_USER_PROTO_F_MQ, true),
	RULE(SET_VRING_ENABLE, vhost_user_set_vring_enable, SZ(STATE),
	     vhost_user_check_vring_enable, VHOST_FDS_NONE, VHOST_IDX_STATE, VHOST_NEED_OWNER,
	     VHOST_NO_PROTO, false),
	RULE(SEND_RARP, vhost_user_send_rarp, SZ(U64), NULL,
	     VHOST_FDS_NONE, VHOST_IDX_NONE, VHOST_NEED_OWNER, VHOST_USER_PROTO_F_RARP, false),
	RULE(NET_SET_MTU, vhost_user_net_set_mtu, SZ(U64), vhost_user_check_mtu,
	     VHOST_FDS_NONE, VHOST_IDX_NONE, VHOST_NEED_OWNER, VHOST_USER_PROTO_F_NET_MTU,
	     false),
	RULE(SET_BACKEND_REQ_FD, vhost_user_set_backend_req_fd, SZ(0), NULL,
	     VHOST_FDS_ONE, VHOST_IDX_NONE, 0, VHOST_USER_PROTO_F_BACKEND_REQ, false),
	RULE(IOTLB_MSG, vhost_user_iotlb_msg, SZ(sizeof(struct vhost_user_iotlb)),
	     vhost_user_check_iotlb, VHOST_FDS_NONE, VHOST_IDX_NONE, VHOST_NEED_OWNER,
	     VHOST_NO_PROTO, false),
	/* CROSS_ENDIAN is not offered: legacy big-endian rings are refused. */
	RULE(SET_VRING_ENDIAN, NULL, SZ(STATE), NULL,
	     VHOST_FDS_NONE, VHOST_IDX_STATE, VHOST_NEED_OWNER, VHOST_NO_PROTO, false),
	/* A net device has no back-end config space: GET answers size 0. */
	RULE(GET_CONFIG, vhost_user_get_config,
	     SZ_RANGE(CONFIG_HDR, sizeof(struct vhost_user_config)), vhost_user_check_config,
	     VHOST_FDS_NONE, VHOST_IDX_NONE, 0, VHOST_NO_PROTO, true),
	RULE(SET_CONFIG, NULL,
	     SZ_RANGE(CONFIG_HDR, sizeof(struct vhost_user_config)), vhost_user_check_config,
	     VHOST_FDS_NONE, VHOST_IDX_NONE, 0, VHOST_NO_PROTO, false),
	/* vhost-crypto sessions: only an application pre-hook may take them. */
	RULE(CREATE_CRYPTO_SESSION, NULL, SZ_RANGE(0, VHOST_USER_PAYLOAD_MAX), NULL,
	     VHOST_FDS_NONE, VHOST_IDX_NONE, 0, VHOST_NO_PROTO, false),
	RULE(CLOSE_CRYPTO_SESSION, NULL, SZ(U64), NULL,
	     VHOST_FDS_NONE, VHOST_IDX_NONE, 0, VHOST_NO_PROTO, false),
	/* Postcopy migration (PAGEFAULT) is not offered: refused. */
	RULE(POSTCOPY_ADVISE, NULL, SZ(0), NULL,
	     VHOST_FDS_NONE, VHOST_IDX_NONE, 0, VHOST_NO_PROTO, false),
	RULE(POSTCOPY_LISTEN, NULL, SZ(0), NULL,
	     VHOST_FDS_NONE, VHOST_IDX_NONE, 0, VHOST_NO_PROTO, false),
	RULE(POSTCOPY_END, NULL, SZ(0), NULL,
	     VHOST_FDS_NONE, VHOST_IDX_NONE, 0, VHOST_NO_PROTO, false),
	RULE(GET_INFLIGHT_FD, vhost_user_get_inflight_fd,
	     SZ(sizeof(struct vhost_user_inflight)), vhost_user_check_inflight,
	     VHOST_FDS_NONE, VHOST_IDX_NONE, VHOST_NEED_OWNER,
	     VHOST_USER_PROTO_F_INFLIGHT_SHMFD, true),
	RULE(SET_INFLIGHT_FD, vhost_user_set_inflight_fd,
	     SZ(sizeof(struct vhost_user_inflight)), vhost_user_check_inflight,
	     VHOST_FDS_ONE, VHOST_IDX_NONE, VHOST_NEED_OWNER,
	     VHOST_USER_PROTO_F_INFLIGHT_SHMFD, false),
	/* Not a GPU. */
	RULE(GPU_SET_SOCKET, NULL, SZ(0), NULL,
	     VHOST_FDS_ONE, VHOST_IDX_NONE, 0, VHOST_NO_PROTO, false),
	RULE(RESET_DEVICE, vhost_user_reset_owner, SZ(0), NULL,
	     VHOST_FDS_NONE, VHOST_IDX_NONE, 0, VHOST_NO_PROTO, false),
	RULE(VRING_KICK, vhost_user_vring_kick, SZ(STATE), NULL,
	     VHOST_FDS_NONE, VHOST_IDX_STATE, VHOST_NEED_OWNER,
	     VHOST_USER_PROTO_F_INBAND_NOTIFICATIONS, false),
	RULE(GET_MAX_MEM_SLOTS, vhost_user_get_max_mem_slots, SZ(0), NULL,
	     VHOST_FDS_NONE, VHOST_IDX_NONE, 0, VHOST_NO_PROTO, true),
	RULE(ADD_MEM_REG, vhost_user_add_mem_reg, SZ(sizeof(struct vhost_user_mem_reg)),
	     vhost_user_check_mem_reg, VHOST_FDS_ONE, VHOST_IDX_NONE, VHOST_NEED_OWNER,
	     VHOST_USER_PROTO_F_CONFIGURE_MEM_SLOTS, false),
	/* QEMU before 7.1 attached the region's fd; later ones attach none. */
	RULE(REM_MEM_REG, vhost_user_rem_mem_reg, SZ(sizeof(struct vhost_user_mem_reg)),
	     vhost_user_check_mem_reg, VHOST_FDS_OPTIONAL, VHOST_IDX_NONE, VHOST_NEED_OWNER,
	     VHOST_USER_PROTO_F_CONFIGURE_MEM_SLOTS, false),
	RULE(SET_STATUS, vhost_user_set_status, SZ(U64), vhost_user_check_status,
	     VHOST_FDS_NONE, VHOST_IDX_NONE, VHOST_NEED_OWNER, VHOST_USER_PROTO_F_STATUS,
	     false),
	RULE(GET_STATUS, vhost_user_get_status, SZ(0), NULL,
	     VHOST_FDS_NONE, VHOST_IDX_NONE, 0, VHOST_USER_PROTO_F_STATUS, true),
};

const char *
vhost_user_req_name(uint32_t request)
{
	if (request < VHOST_USER_REQUEST_MAX && vhost_msg_rules[request].name != NULL)
		return vhost_msg_rules[request].name;
	return "UNKNOWN";
}

static int
vhost_msg_expected_fds(const struct vhost_dev *dev, const struct vhost_msg_rule *rule,
		       const struct vhost_user_ctx *ctx, int *min, int *max)
{
	*min = 0;
	*max = 0;
	if (!dev->trans->passes_fds)
		return 0;
	switch (rule->fds) {
	case VHOST_FDS_ONE:
		*min = *max = 1;
		break;
	case VHOST_FDS_NOFD_BIT:
		*min = *max = (vhost_msg_u64(ctx) & VHOST_USER_VRING_NOFD_MASK) ? 0 : 1;
		break;
	case VHOST_FDS_PER_REGION: {
		uint32_t n;

		/* The size rule already bounded nregions to 1..8. */
		vhost_msg_payload(ctx, &n, sizeof(n));
		*min = *max = (int)n;
		break;
	}
	case VHOST_FDS_OPTIONAL:
		*max = 1;
		break;
	default:
		break;
	}
	return 0;
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
	if (rule->proto != VHOST_NO_PROTO &&
	    !vhost_has_protocol_feature(dev, (unsigned int)rule->proto)) {
		VHOST_MSG_LOG(dev, ctx, ERR, "protocol feature %d not negotiated\n",
			      rule->proto);
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

int
vhost_user_msg_handle(struct vhost_dev *dev, struct vhost_user_ctx *ctx)
{
	const struct vhost_msg_rule *rule = NULL;
	struct vhost_user_reply reply;
	uint32_t request, flags;
	bool handled = false;
	int ret;

	if (dev == NULL || ctx == NULL || dev->trans == NULL)
		return -EINVAL;
	if (ctx->nr_fds < 0 || ctx->nr_fds > VHOST_USER_MAX_FDS) {
		VHOST_LOG_CONFIG(dev->ifname, ERR, "transport passed %d fds\n", ctx->nr_fds);
		return -EINVAL;
	}
	if (dev->flags & VHOST_DEV_BROKEN)
		return -ENOTCONN;

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

	/* Any accepted message may have completed the first queue pair. */
	vhost_dev_check_ready(dev);
	return 0;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Message handler internals shared by vhost_user*.c, vhost_iotlb.c and
 * vhost_backend_req.c (internal; nothing outside the handler includes it).
 *
 * Division of labour
 * ------------------
 * vhost_user.c owns one rules table with a row per request. Before any
 * handler runs, the dispatcher has checked, from that row only:
 *  - the header: version 1, REPLY bit clear, request known;
 *  - the payload size (exact, range, or a size computed from the payload,
 *    e.g. SET_MEM_TABLE's region count) and the row's payload validator
 *    (field ranges that need no device state: ring size bounds, region
 *    overflows, MTU range, ...);
 *  - the fd count (none, one, 0/1 by the NOFD bit, one per region, 0 or 1);
 *    on a transport that passes no fds, zero everywhere;
 *  - the vring index, on the full 32- or 64-bit field, and allocated the
 *    virtqueue it names;
 *  - the state the request needs (SET_OWNER done, SET_FEATURES done, a
 *    protocol feature negotiated).
 * A handler may therefore assume a well-formed payload and checks only what
 * depends on device state (addresses against the memory table, ...).
 *
 * Fds: the fds of a message live in ctx->fds[0..nr_fds). A handler that
 * keeps one takes it with vhost_msg_take_fd() (which sets the slot to -1);
 * whatever is left is closed by the transport after the handler returns,
 * success or failure. Handlers never close ctx fds themselves.
 *
 * Payload access: struct vhost_user_msg is packed (its payload starts at
 * byte 12), so handlers copy the payload into aligned locals with
 * vhost_msg_payload() instead of taking pointers into it.
 */

#ifndef _VHOST_USER_PRIV_H_
#define _VHOST_USER_PRIV_H_

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "vhost.h"
#include "vhost_user.h"

/* A reply being built: a message plus fds lent (not given) to the transport. */
struct vhost_user_reply {
	struct vhost_user_msg msg;
	int fds[1];
	int nr_fds;
};

/*
 * A request handler: 0 on success, a negative errno on failure (after one
 * log line). For rows that reply, the handler fills reply->msg's payload
 * and hdr.size; the dispatcher sets request and flags and sends it.
 */
typedef int (*vhost_msg_handler_t)(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
				   struct vhost_user_reply *reply);

/* Printable name of a front-end request ("SET_MEM_TABLE"); never NULL. */
const char *vhost_user_req_name(uint32_t request);

/* How many fds a request carries (on a transport that passes fds). */
enum vhost_msg_fd_rule {
	VHOST_MSG_FDS_NONE = 0,
	VHOST_MSG_FDS_ONE,		/* exactly one */
	VHOST_MSG_FDS_NOFD_BIT,		/* one, or none when bit 8 of the u64 is set */
	VHOST_MSG_FDS_PER_REGION,	/* one per SET_MEM_TABLE region */
	VHOST_MSG_FDS_OPTIONAL,		/* zero or one, not used (REM_MEM_REG) */
};

/*
 * What the rules table says of a request, for the tests that check that
 * every table of the project (the device's forwarding rules, the fuzz
 * dictionaries) agrees with it. -ENOENT for a request without a row.
 */
struct vhost_msg_rule_info {
	const char *name;
	uint16_t min_size;
	uint16_t max_size;
	uint8_t fds;		/* enum vhost_msg_fd_rule */
	bool handled;		/* has a handler (else refused unless a hook takes it) */
	bool reply;
};
int vhost_user_msg_rule_info(uint32_t request, struct vhost_msg_rule_info *info);

/* One log line naming the device and the request being handled. */
#define VHOST_MSG_LOG(dev, ctx, level, fmt, ...) \
	VHOST_LOG_CONFIG((dev)->ifname, level, "%s: " fmt, \
			 vhost_user_req_name((ctx)->msg.hdr.request), ##__VA_ARGS__)

static inline void
vhost_msg_payload(const struct vhost_user_ctx *ctx, void *dst, size_t len)
{
	memcpy(dst, (const uint8_t *)&ctx->msg + VHOST_USER_HDR_SIZE, len);
}

static inline uint64_t
vhost_msg_u64(const struct vhost_user_ctx *ctx)
{
	uint64_t v;

	vhost_msg_payload(ctx, &v, sizeof(v));
	return v;
}

static inline void
vhost_reply_payload(struct vhost_user_reply *reply, const void *src, uint32_t len)
{
	memcpy((uint8_t *)&reply->msg + VHOST_USER_HDR_SIZE, src, len);
	reply->msg.hdr.size = len;
}

static inline void
vhost_reply_u64(struct vhost_user_reply *reply, uint64_t v)
{
	vhost_reply_payload(reply, &v, sizeof(v));
}

/* Take fd slot i (or VHOST_FD_NONE if the message carried none). */
static inline int
vhost_msg_take_fd(struct vhost_user_ctx *ctx, int i)
{
	int fd;

	if (i >= ctx->nr_fds)
		return VHOST_FD_NONE;
	fd = ctx->fds[i];
	ctx->fds[i] = -1;
	return fd;
}

/* The vring a per-queue request names (the dispatcher allocated it). */
static inline struct vhost_vq *
vhost_msg_vq(struct vhost_dev *dev, uint32_t index)
{
	return dev->vq[index];
}

/* ---- payload validators (vhost_user_*.c): NULL if fine, else why not ---- */
const char *vhost_user_check_mem_table(const struct vhost_user_ctx *ctx);
const char *vhost_user_check_mem_reg(const struct vhost_user_ctx *ctx);
const char *vhost_user_check_log_base(const struct vhost_user_ctx *ctx);
const char *vhost_user_check_vring_num(const struct vhost_user_ctx *ctx);
const char *vhost_user_check_vring_enable(const struct vhost_user_ctx *ctx);
const char *vhost_user_check_mtu(const struct vhost_user_ctx *ctx);
const char *vhost_user_check_status(const struct vhost_user_ctx *ctx);
const char *vhost_user_check_config(const struct vhost_user_ctx *ctx);
const char *vhost_user_check_inflight(const struct vhost_user_ctx *ctx);
const char *vhost_user_check_iotlb(const struct vhost_user_ctx *ctx);

/* ---- handlers ---- */
/* vhost_user_dev.c */
int vhost_user_get_features(struct vhost_dev *, struct vhost_user_ctx *,
			    struct vhost_user_reply *);
int vhost_user_set_features(struct vhost_dev *, struct vhost_user_ctx *,
			    struct vhost_user_reply *);
int vhost_user_set_owner(struct vhost_dev *, struct vhost_user_ctx *,
			 struct vhost_user_reply *);
int vhost_user_reset_owner(struct vhost_dev *, struct vhost_user_ctx *,
			   struct vhost_user_reply *);
int vhost_user_get_protocol_features(struct vhost_dev *, struct vhost_user_ctx *,
				     struct vhost_user_reply *);
int vhost_user_set_protocol_features(struct vhost_dev *, struct vhost_user_ctx *,
				     struct vhost_user_reply *);
int vhost_user_get_queue_num(struct vhost_dev *, struct vhost_user_ctx *,
			     struct vhost_user_reply *);
int vhost_user_send_rarp(struct vhost_dev *, struct vhost_user_ctx *,
			 struct vhost_user_reply *);
int vhost_user_net_set_mtu(struct vhost_dev *, struct vhost_user_ctx *,
			   struct vhost_user_reply *);
int vhost_user_get_config(struct vhost_dev *, struct vhost_user_ctx *,
			  struct vhost_user_reply *);
int vhost_user_set_status(struct vhost_dev *, struct vhost_user_ctx *,
			  struct vhost_user_reply *);
int vhost_user_get_status(struct vhost_dev *, struct vhost_user_ctx *,
			  struct vhost_user_reply *);
int vhost_user_set_log_base(struct vhost_dev *, struct vhost_user_ctx *,
			    struct vhost_user_reply *);
int vhost_user_set_log_fd(struct vhost_dev *, struct vhost_user_ctx *,
			  struct vhost_user_reply *);
/* vhost_user_mem.c */
int vhost_user_set_mem_table(struct vhost_dev *, struct vhost_user_ctx *,
			     struct vhost_user_reply *);
int vhost_user_add_mem_reg(struct vhost_dev *, struct vhost_user_ctx *,
			   struct vhost_user_reply *);
int vhost_user_rem_mem_reg(struct vhost_dev *, struct vhost_user_ctx *,
			   struct vhost_user_reply *);
int vhost_user_get_max_mem_slots(struct vhost_dev *, struct vhost_user_ctx *,
				 struct vhost_user_reply *);
/* vhost_user_vring.c */
int vhost_user_set_vring_num(struct vhost_dev *, struct vhost_user_ctx *,
			     struct vhost_user_reply *);
int vhost_user_set_vring_addr(struct vhost_dev *, struct vhost_user_ctx *,
			      struct vhost_user_reply *);
int vhost_user_set_vring_base(struct vhost_dev *, struct vhost_user_ctx *,
			      struct vhost_user_reply *);
int vhost_user_get_vring_base(struct vhost_dev *, struct vhost_user_ctx *,
			      struct vhost_user_reply *);
int vhost_user_set_vring_kick(struct vhost_dev *, struct vhost_user_ctx *,
			      struct vhost_user_reply *);
int vhost_user_set_vring_call(struct vhost_dev *, struct vhost_user_ctx *,
			      struct vhost_user_reply *);
int vhost_user_set_vring_err(struct vhost_dev *, struct vhost_user_ctx *,
			     struct vhost_user_reply *);
int vhost_user_set_vring_enable(struct vhost_dev *, struct vhost_user_ctx *,
				struct vhost_user_reply *);
int vhost_user_vring_kick(struct vhost_dev *, struct vhost_user_ctx *,
			  struct vhost_user_reply *);
/* vhost_user_inflight.c */
int vhost_user_get_inflight_fd(struct vhost_dev *, struct vhost_user_ctx *,
			       struct vhost_user_reply *);
int vhost_user_set_inflight_fd(struct vhost_dev *, struct vhost_user_ctx *,
			       struct vhost_user_reply *);
/* vhost_iotlb.c */
int vhost_user_iotlb_msg(struct vhost_dev *, struct vhost_user_ctx *,
			 struct vhost_user_reply *);
/* vhost_backend_req.c */
int vhost_user_set_backend_req_fd(struct vhost_dev *, struct vhost_user_ctx *,
				  struct vhost_user_reply *);

/* ---- helpers between the handler files ---- */

/*
 * Wire vq to its slice of the inflight area (if any) and, on the first kick
 * after a reconnect, rebuild its resubmit list. Caller holds vq->access_lock.
 */
int vhost_inflight_vq_setup(struct vhost_dev *dev, struct vhost_vq *vq);
/*
 * Part of vhost_vq_validate(): does vq's inflight slice (if any) still fit
 * its size and layout? If not, detach it (one log line) and fail.
 */
int vhost_inflight_vq_check(struct vhost_dev *dev, struct vhost_vq *vq);
/* Free vq's resubmit list (two malloc blocks, like vhost.c frees them). */
void vhost_inflight_free_resubmit(struct vhost_vq *vq);

/* Drop every IOTLB entry (IOMMU (re)negotiated). Caller holds all vq locks. */
void vhost_iotlb_flush(struct vhost_dev *dev);

/* vhost_vq_validate() every vring; caller holds all vq locks. */
void vhost_vqs_retranslate(struct vhost_dev *dev);

#endif /* _VHOST_USER_PRIV_H_ */

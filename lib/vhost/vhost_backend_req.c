/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The back-end request channel (SET_BACKEND_REQ_FD, formerly SLAVE_REQ_FD)
 * and the public calls that use it or hook into message handling.
 *
 * How requests travel is the transport's business: AF_UNIX keeps the
 * socket the front-end sent, VVU uses its txq/rxq and gets no fd at all.
 * set_backend_req takes the fd only when it succeeds; on failure the fd
 * stays in the message and the transport closes it with the others.
 */

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <rte_vhost.h>

#include "vhost.h"
#include "vhost_transport.h"
#include "vhost_user_priv.h"

int
vhost_user_set_backend_req_fd(struct vhost_dev *dev, struct vhost_user_ctx *ctx,
			      struct vhost_user_reply *reply)
{
	int fd = ctx->nr_fds > 0 ? ctx->fds[0] : -1;
	int ret;

	ret = vhost_trans_set_backend_req(dev, fd);
	if (ret == -ENOTSUP) {
		VHOST_MSG_LOG(dev, ctx, ERR, "transport %s has no back-end channel\n",
			      dev->trans->name);
		return ret;
	}
	if (ret < 0) {
		VHOST_MSG_LOG(dev, ctx, ERR, "setting up the channel failed (%d)\n", ret);
		return ret;
	}
	if (ctx->nr_fds > 0)
		ctx->fds[0] = -1;	/* the transport owns it now */
	return 0;
}

int
rte_vhost_slave_config_change(int vid, bool need_reply)
{
	struct vhost_dev *dev = vhost_dev_get(vid);
	struct vhost_user_msg msg;

	if (dev == NULL)
		return -ENODEV;
	if (!vhost_has_protocol_feature(dev, VHOST_USER_PROTO_F_BACKEND_REQ) ||
	    !vhost_trans_has_backend_req(dev)) {
		VHOST_LOG_CONFIG(dev->ifname, ERR, "config change: no back-end channel\n");
		return -ENOTSUP;
	}
	/* A reply can only be asked for where the front-end agreed to acks. */
	if (!vhost_has_protocol_feature(dev, VHOST_USER_PROTO_F_REPLY_ACK))
		need_reply = false;

	memset(&msg, 0, sizeof(msg));
	msg.hdr.request = VHOST_USER_BACKEND_CONFIG_CHANGE_MSG;
	msg.hdr.flags = VHOST_USER_VERSION | (need_reply ? VHOST_USER_NEED_REPLY : 0);
	msg.hdr.size = 0;
	return vhost_trans_backend_req(dev, &msg, NULL, 0, need_reply);
}

int
rte_vhost_extern_callback_register(int vid,
				   struct rte_vhost_user_extern_ops const * const ops,
				   void *ctx)
{
	struct vhost_dev *dev = vhost_dev_get(vid);

	if (dev == NULL || ops == NULL)
		return -1;
	dev->extern_ops = *ops;
	dev->extern_data = ctx;
	return 0;
}

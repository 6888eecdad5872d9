/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sending vhost-user requests as a front-end does, for tests and test
 * programs that play one (needs lib/vhost's vhost_user.h for the message
 * layout, and test_util.h).
 */

#ifndef _APP_TEST_VHOST_USER_H_
#define _APP_TEST_VHOST_USER_H_

#include <stdint.h>
#include <string.h>

#include "test_util.h"
#include "vhost_user.h"

/*
 * One request: header (protocol version, no other flag), size bytes of
 * payload, nfds fds in the same sendmsg(). 0, or -1 with errno set.
 */
static inline int
test_vu_send(int sock, uint32_t req, const void *payload, uint32_t size, const int *fds,
	     int nfds)
{
	struct vhost_user_msg msg;

	if (size > sizeof(msg.payload)) {
		errno = EINVAL;
		return -1;
	}
	memset(&msg, 0, sizeof(msg));
	msg.hdr.request = req;
	msg.hdr.flags = VHOST_USER_VERSION;
	msg.hdr.size = size;
	if (size > 0)
		memcpy(&msg.payload, payload, size);
	return test_send_fds(sock, &msg, VHOST_USER_HDR_SIZE + size, fds, nfds);
}

#endif /* _APP_TEST_VHOST_USER_H_ */

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vhost-user socket toward the front-end. The device is the back-end:
 * by default it listens on --vhost-user PATH; with --client it connects to
 * PATH and retries every second.
 *
 * The device takes a front-end only while vvu_dev_ready() (DRIVER_OK and
 * BACKEND_UP). Messages are received incrementally (a slow or hostile peer
 * can never block the loop): the 12-byte header, then hdr.size payload
 * bytes, with fds collected from SCM_RIGHTS on every recvmsg. A truncated
 * control message, too many fds, or a payload larger than any vhost-user
 * message we know disconnects the front-end.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>

#include "vvu_device.h"

#define VVU_RECONNECT_SEC	1
#define VVU_READ_BUDGET		64	/* messages per wake-up, for fairness */

static void conn_ready(void *arg, uint32_t events);

bool
vvu_dev_fe_connected(const struct vvu_device *dev)
{
	return dev->fe.conn_fd >= 0;
}

static int
fill_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

static void
arm_timer(struct vvu_device *dev, bool on)
{
	struct itimerspec its = {0};

	if (dev->fe.timer_fd < 0)
		return;
	if (on)
		its.it_value.tv_sec = VVU_RECONNECT_SEC;
	timerfd_settime(dev->fe.timer_fd, 0, &its, NULL);
}

static void
connected(struct vvu_device *dev, int fd)
{
	dev->fe.conn_fd = fd;
	dev->fe.in_have = 0;
	dev->fe.reading = true;
	if (dev->loop != NULL && vvu_dev_loop_add(dev->loop, fd, EPOLLIN, conn_ready, dev) < 0) {
		vvu_dev_log(dev, VVU_ERR, "front-end: cannot watch the connection");
		close(fd);
		dev->fe.conn_fd = -1;
		return;
	}
	vvu_dev_fe_update(dev);
	vvu_dev_frontend_up(dev);
}

static void
accept_ready(void *arg, uint32_t events)
{
	struct vvu_device *dev = arg;
	int fd;

	fd = accept4(dev->fe.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (!vvu_dev_ready(dev) || vvu_dev_fe_connected(dev)) {
		close(fd);
		return;
	}
	connected(dev, fd);
}

static void
try_connect(struct vvu_device *dev)
{
	struct sockaddr_un sa;
	int fd;

	if (fill_addr(&sa, dev->opt.vhost_user_path) < 0)
		return;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		arm_timer(dev, true);
		return;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		vvu_dev_log(dev, VVU_DEBUG, "connect %s: %s", sa.sun_path, strerror(errno));
		close(fd);
		arm_timer(dev, true);
		return;
	}
	connected(dev, fd);
}

static void
timer_ready(void *arg, uint32_t events)
{
	struct vvu_device *dev = arg;
	uint64_t n;

	if (read(dev->fe.timer_fd, &n, sizeof(n)) < 0)
		return;
	vvu_dev_fe_update(dev);
}

void
vvu_dev_fe_update(struct vvu_device *dev)
{
	bool want = vvu_dev_ready(dev) && !vvu_dev_fe_connected(dev);

	if (dev->loop == NULL || dev->opt.vhost_user_path == NULL)
		return;
	if (dev->opt.vhost_user_client) {
		if (!want) {
			arm_timer(dev, false);
			return;
		}
		try_connect(dev);
		return;
	}
	if (want && !dev->fe.listening) {
		if (vvu_dev_loop_add(dev->loop, dev->fe.listen_fd, EPOLLIN, accept_ready, dev) == 0)
			dev->fe.listening = true;
	} else if (!want && dev->fe.listening) {
		vvu_dev_loop_del(dev->loop, dev->fe.listen_fd);
		dev->fe.listening = false;
	}
}

void
vvu_dev_fe_set_reading(struct vvu_device *dev, bool on)
{
	if (dev->fe.conn_fd < 0 || dev->fe.reading == on)
		return;
	dev->fe.reading = on;
	if (!on)
		dev->stats.fe_read_pauses++;
	if (dev->loop != NULL)
		vvu_dev_loop_mod(dev->loop, dev->fe.conn_fd, on ? EPOLLIN : 0);
}

void
vvu_dev_fe_close(struct vvu_device *dev)
{
	if (dev->fe.conn_fd < 0)
		return;
	if (dev->loop != NULL)
		vvu_dev_loop_del(dev->loop, dev->fe.conn_fd);
	close(dev->fe.conn_fd);
	dev->fe.conn_fd = -1;
	dev->fe.reading = false;
	dev->stats.fe_disconnects++;
}

int
vvu_dev_fe_send(struct vvu_device *dev, const void *buf, uint32_t len)
{
	ssize_t n;

	if (dev->fe.conn_fd < 0)
		return -ENOTCONN;
	/* replies are small: a full socket buffer means a stuck front-end */
	n = send(dev->fe.conn_fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0)
		return -errno;
	if ((uint32_t)n != len)
		return -EAGAIN;
	return 0;
}

/* Collect SCM_RIGHTS fds into the message being received. */
static int
take_fds(struct vvu_device *dev, struct msghdr *mh)
{
	struct vvu_dev_fe_msg *in = &dev->fe.in;
	struct cmsghdr *cm;
	int ret = 0;

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		size_t n, i;
		int fd;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (in->nr_fds < VHOST_USER_MAX_FDS) {
				in->fds[in->nr_fds++] = fd;
			} else {
				close(fd);
				ret = -E2BIG;
			}
		}
	}
	if (ret < 0) {
		vvu_dev_log(dev, VVU_ERR, "front-end: more than %d fds in one message",
			VHOST_USER_MAX_FDS);
		dev->stats.fe_errors++;
	}
	return ret;
}

/* 1: message complete, 0: need more bytes, negative: disconnect. */
static int
read_some(struct vvu_device *dev)
{
	struct vvu_dev_fe_msg *in = &dev->fe.in;
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = {0};
	struct iovec iov;
	uint32_t want;
	ssize_t n;

	if (dev->fe.in_have < VHOST_USER_HDR_SIZE)
		want = VHOST_USER_HDR_SIZE;
	else
		want = VHOST_USER_HDR_SIZE + in->msg.hdr.size;
	iov.iov_base = in->bytes + dev->fe.in_have;
	iov.iov_len = want - dev->fe.in_have;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	n = recvmsg(dev->fe.conn_fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (take_fds(dev, &mh) < 0)
		return -E2BIG;
	if (mh.msg_flags & MSG_CTRUNC) {
		vvu_dev_log(dev, VVU_ERR, "front-end: control message truncated");
		dev->stats.fe_errors++;
		return -EMSGSIZE;
	}
	if (n == 0) {
		vvu_dev_log(dev, VVU_INFO, "front-end: disconnected");
		return -ECONNRESET;
	}
	dev->fe.in_have += (uint32_t)n;
	if (dev->fe.in_have == VHOST_USER_HDR_SIZE && want == VHOST_USER_HDR_SIZE) {
		if (in->msg.hdr.size > VHOST_USER_PAYLOAD_MAX) {
			vvu_dev_log(dev, VVU_ERR, "front-end: request %u with %u payload bytes",
				in->msg.hdr.request, in->msg.hdr.size);
			dev->stats.fe_errors++;
			return -EMSGSIZE;
		}
		want = VHOST_USER_HDR_SIZE + in->msg.hdr.size;
	}
	if (dev->fe.in_have < VHOST_USER_HDR_SIZE || dev->fe.in_have < want)
		return 0;
	in->len = dev->fe.in_have;
	return 1;
}

static void
conn_ready(void *arg, uint32_t events)
{
	struct vvu_device *dev = arg;
	int budget = VVU_READ_BUDGET;
	int ret;

	if (!dev->fe.reading) {
		/* paused for rxq back-pressure: only a hang-up gets here */
		if (events & (EPOLLHUP | EPOLLERR)) {
			vvu_dev_log(dev, VVU_INFO, "front-end: hung up");
			vvu_dev_frontend_gone(dev, true);
		}
		return;
	}
	while (budget-- > 0 && dev->fe.conn_fd >= 0 && dev->fe.reading) {
		ret = read_some(dev);
		if (ret == 0)
			return;
		if (ret < 0) {
			vvu_dev_frontend_gone(dev, true);
			return;
		}
		dev->fe.in_have = 0;
		ret = vvu_dev_fwd_frontend_msg(dev, &dev->fe.in);
		if (ret < 0) {
			vvu_dev_frontend_gone(dev, true);
			return;
		}
	}
}

/* What the PCI model asks of the socket (vvu_device.h, enum vvu_dev_event). */
static void
fe_event(struct vvu_device *dev, enum vvu_dev_event ev, uint32_t arg, void *opaque)
{
	if (ev == VVU_DEV_EV_FRONTEND_DROP)
		vvu_dev_fe_close(dev);
	else if (ev == VVU_DEV_EV_READY_CHANGED)
		vvu_dev_fe_update(dev);
}

int
vvu_dev_fe_init(struct vvu_device *dev)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, ret;

	dev->fe.listen_fd = -1;
	dev->fe.timer_fd = -1;
	dev->fe.conn_fd = -1;
	/* also without a socket: a test may plug a connection in by hand */
	ret = vvu_dev_subscribe(dev, VVU_DEV_EV_BIT(VVU_DEV_EV_FRONTEND_DROP) |
				VVU_DEV_EV_BIT(VVU_DEV_EV_READY_CHANGED), fe_event, NULL);
	if (ret < 0)
		return ret;
	if (dev->loop == NULL || dev->opt.vhost_user_path == NULL)
		return 0;
	ret = fill_addr(&sa, dev->opt.vhost_user_path);
	if (ret < 0) {
		vvu_dev_log(dev, VVU_ERR, "--vhost-user path too long");
		return ret;
	}
	if (dev->opt.vhost_user_client) {
		dev->fe.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (dev->fe.timer_fd < 0)
			return -errno;
		return vvu_dev_loop_add(dev->loop, dev->fe.timer_fd, EPOLLIN, timer_ready, dev);
	}
	/* a stale socket from an earlier run is replaced; any other file is not */
	if (lstat(sa.sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(sa.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		ret = -errno;
		vvu_dev_log(dev, VVU_ERR, "vhost-user socket %s: %s", sa.sun_path, strerror(errno));
		close(fd);
		return ret;
	}
	dev->fe.listen_fd = fd;
	dev->fe.created_socket = true;
	return 0;
}

void
vvu_dev_fe_fini(struct vvu_device *dev)
{
	vvu_dev_unsubscribe(dev, fe_event, NULL);
	vvu_dev_fe_close(dev);
	if (dev->fe.listen_fd >= 0) {
		if (dev->fe.listening && dev->loop != NULL)
			vvu_dev_loop_del(dev->loop, dev->fe.listen_fd);
		close(dev->fe.listen_fd);
		dev->fe.listen_fd = -1;
		dev->fe.listening = false;
	}
	if (dev->fe.created_socket && dev->opt.vhost_user_path != NULL)
		unlink(dev->opt.vhost_user_path);
	dev->fe.created_socket = false;
	if (dev->fe.timer_fd >= 0) {
		if (dev->loop != NULL)
			vvu_dev_loop_del(dev->loop, dev->fe.timer_fd);
		close(dev->fe.timer_fd);
		dev->fe.timer_fd = -1;
	}
}

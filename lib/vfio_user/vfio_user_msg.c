/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Framing: one vfio-user message = 16-byte header + payload, fds attached
 * as SCM_RIGHTS to the sendmsg() that carries the header. Also the log sink
 * and small helpers shared by both roles.
 *
 * Receiving never trusts the peer: the header is read first, msg_size is
 * checked against the caller's bound before any allocation, exactly the
 * message's bytes are read (never into the next message, so fds attached
 * to the next message stay queued in the kernel), every received fd is
 * counted against the bound and closed on any failure.
 */

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "vfio_user_private.h"

static vfio_user_log_fn log_fn;
static void *log_arg;
static int log_max_level = VFIO_USER_LOG_INFO;

void
vfio_user_set_log(vfio_user_log_fn fn, void *arg, int max_level)
{
	log_fn = fn;
	log_arg = arg;
	log_max_level = max_level;
}

void
vfio_user_log(int level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (level > log_max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_fn != NULL)
		log_fn(level, line, log_arg);
	else
		fprintf(stderr, "vfio_user: %s\n", line);
}

const char *
vfio_user_cmd_name(uint32_t cmd)
{
	static const char *const names[VFIO_USER_MAX_COMMAND] = {
		[VFIO_USER_VERSION] = "VERSION",
		[VFIO_USER_DMA_MAP] = "DMA_MAP",
		[VFIO_USER_DMA_UNMAP] = "DMA_UNMAP",
		[VFIO_USER_DEVICE_GET_INFO] = "DEVICE_GET_INFO",
		[VFIO_USER_DEVICE_GET_REGION_INFO] = "DEVICE_GET_REGION_INFO",
		[VFIO_USER_DEVICE_GET_REGION_IO_FDS] = "DEVICE_GET_REGION_IO_FDS",
		[VFIO_USER_DEVICE_GET_IRQ_INFO] = "DEVICE_GET_IRQ_INFO",
		[VFIO_USER_DEVICE_SET_IRQS] = "DEVICE_SET_IRQS",
		[VFIO_USER_REGION_READ] = "REGION_READ",
		[VFIO_USER_REGION_WRITE] = "REGION_WRITE",
		[VFIO_USER_DMA_READ] = "DMA_READ",
		[VFIO_USER_DMA_WRITE] = "DMA_WRITE",
		[VFIO_USER_DEVICE_RESET] = "DEVICE_RESET",
		[VFIO_USER_REGION_WRITE_MULTI] = "REGION_WRITE_MULTI",
		[VFIO_USER_DEVICE_FEATURE] = "DEVICE_FEATURE",
		[VFIO_USER_MIG_DATA_READ] = "MIG_DATA_READ",
		[VFIO_USER_MIG_DATA_WRITE] = "MIG_DATA_WRITE",
	};

	if (cmd >= VFIO_USER_MAX_COMMAND || names[cmd] == NULL)
		return "unknown";
	return names[cmd];
}

int64_t
vfio_user_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
vfio_user_deadline(int timeout_ms)
{
	if (timeout_ms < 0)
		return -1;
	return vfio_user_now_ms() + timeout_ms;
}

void
vfio_user_close_fds(int *fds, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

/* Wait for @events on @fd until @deadline (-1: forever). */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int64_t left;
	int rc;

	for (;;) {
		left = -1;
		if (deadline >= 0) {
			left = deadline - vfio_user_now_ms();
			if (left < 0)
				left = 0;
		}
		rc = poll(&pfd, 1, (int)(left > 100000 ? 100000 : left));
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -errno;
		if (rc == 0 && deadline >= 0 && vfio_user_now_ms() >= deadline)
			return -ETIMEDOUT;
	}
}

void
vfio_user_msg_release(struct vfio_user_msg *msg)
{
	free(msg->payload);
	msg->payload = NULL;
	msg->payload_len = 0;
	vfio_user_close_fds(msg->fds, msg->nr_fds);
	msg->nr_fds = 0;
}

int
vfio_user_msg_take_fd(struct vfio_user_msg *msg, unsigned int i)
{
	int fd;

	if (i >= msg->nr_fds)
		return -1;
	fd = msg->fds[i];
	msg->fds[i] = -1;
	return fd;
}

static void
msg_init(struct vfio_user_msg *msg)
{
	unsigned int i;

	memset(msg, 0, sizeof(*msg));
	for (i = 0; i < VFIO_USER_FDS_MAX; i++)
		msg->fds[i] = -1;
}

int
vfio_user_send_msg(int sock, struct vfio_user_header *hdr, const void *payload, size_t len,
		   const int *fds, unsigned int nr_fds, int timeout_ms)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * VFIO_USER_FDS_MAX)];
	} control;
	struct iovec iov[2];
	struct msghdr mh;
	int64_t deadline = vfio_user_deadline(timeout_ms);
	size_t done = 0, total;
	ssize_t n;
	int rc;

	if (nr_fds > VFIO_USER_FDS_MAX || (len > 0 && payload == NULL) ||
	    len > UINT32_MAX - VFIO_USER_HDR_SIZE)
		return -EINVAL;
	hdr->msg_size = (uint32_t)(VFIO_USER_HDR_SIZE + len);
	total = hdr->msg_size;

	while (done < total) {
		memset(&mh, 0, sizeof(mh));
		/* Rebuild the iovec from what is left of header + payload. */
		if (done < VFIO_USER_HDR_SIZE) {
			iov[0].iov_base = (char *)hdr + done;
			iov[0].iov_len = VFIO_USER_HDR_SIZE - done;
			iov[1].iov_base = (void *)(uintptr_t)payload;
			iov[1].iov_len = len;
			mh.msg_iovlen = len > 0 ? 2 : 1;
		} else {
			iov[0].iov_base = (char *)(uintptr_t)payload +
				(done - VFIO_USER_HDR_SIZE);
			iov[0].iov_len = total - done;
			mh.msg_iovlen = 1;
		}
		mh.msg_iov = iov;
		/* The fds ride with the first byte of the header only. */
		if (done == 0 && nr_fds > 0) {
			struct cmsghdr *cm;

			memset(&control, 0, sizeof(control));
			mh.msg_control = control.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nr_fds);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * nr_fds);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * nr_fds);
		}
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				rc = wait_fd(sock, POLLOUT, deadline);
				if (rc < 0)
					return rc;
				continue;
			}
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

/*
 * One recvmsg() of at most @len bytes into @buf, collecting the fds that
 * came with them into @msg. Returns the byte count (> 0), 0 at EOF,
 * -EAGAIN when nothing is there, -EPROTO on bad control data (every fd
 * that arrived is owned by @msg or closed: none leaks) or -errno.
 */
static ssize_t
recv_some(int sock, void *buf, size_t len, struct vfio_user_msg *msg, unsigned int max_fds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * VFIO_USER_FDS_MAX)];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
	};
	struct cmsghdr *cm;
	int proto_err = 0;
	ssize_t n;

	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	/* Take every fd that arrived before judging, so none leaks. */
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t i, nfd;
		int fd;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
			proto_err = 1;
			continue;
		}
		nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfd; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (msg->nr_fds < max_fds && msg->nr_fds < VFIO_USER_FDS_MAX) {
				msg->fds[msg->nr_fds++] = fd;
			} else {
				close(fd);
				proto_err = 2;
			}
		}
	}
	if (mh.msg_flags & MSG_CTRUNC)
		proto_err = 3;
	if (proto_err != 0) {
		VFU_ERR("fd %d: %s in a message (limit %u fds)", sock,
			proto_err == 1 ? "unexpected control data" :
			proto_err == 2 ? "too many fds" : "truncated fd list",
			max_fds);
		return -EPROTO;
	}
	return n;
}

/*
 * Read exactly @len bytes into @buf, collecting fds into @msg. The first
 * attempt waits at most @first_timeout_ms (0: not at all), later ones until
 * @deadline. Returns 0, -ECONNRESET (EOF before any byte and @first),
 * -EPROTO, -EAGAIN, -ETIMEDOUT or -errno.
 */
static int
recv_exact(int sock, void *buf, size_t len, struct vfio_user_msg *msg, unsigned int max_fds,
	   bool first, int first_timeout_ms, int64_t deadline)
{
	size_t done = 0;
	ssize_t n;
	int rc;

	if (first && first_timeout_ms != 0) {
		int64_t d1 = vfio_user_deadline(first_timeout_ms);

		rc = wait_fd(sock, POLLIN, deadline >= 0 && (d1 < 0 || d1 > deadline) ?
			     deadline : d1);
		if (rc < 0)
			return rc;
	}
	while (done < len) {
		n = recv_some(sock, (char *)buf + done, len - done, msg, max_fds);
		if (n == -EAGAIN) {
			if (first && done == 0 && first_timeout_ms == 0)
				return -EAGAIN;
			rc = wait_fd(sock, POLLIN, deadline);
			if (rc < 0)
				return rc;
			continue;
		}
		if (n < 0)
			return (int)n;
		if (n == 0) {
			if (first && done == 0)
				return -ECONNRESET;
			VFU_ERR("fd %d: EOF inside a message", sock);
			return -EPROTO;
		}
		done += (size_t)n;
	}
	return 0;
}

/* Check a received header's size against the limit. */
static int
check_msg_size(int sock, const struct vfio_user_msg *msg, size_t max_payload)
{
	if (msg->hdr.msg_size < VFIO_USER_HDR_SIZE ||
	    msg->hdr.msg_size - VFIO_USER_HDR_SIZE > max_payload) {
		VFU_ERR("fd %d: %s msg_size %u out of range [%u, %zu]", sock,
			vfio_user_cmd_name(msg->hdr.command), msg->hdr.msg_size,
			VFIO_USER_HDR_SIZE, max_payload + VFIO_USER_HDR_SIZE);
		return -EPROTO;
	}
	return 0;
}

void
vfio_user_reader_init(struct vfio_user_reader *rd)
{
	msg_init(&rd->msg);
	rd->done = 0;
	rd->started_ms = 0;
}

void
vfio_user_reader_reset(struct vfio_user_reader *rd)
{
	vfio_user_msg_release(&rd->msg);
	vfio_user_reader_init(rd);
}

int
vfio_user_reader_step(int sock, struct vfio_user_reader *rd, size_t max_payload,
		      unsigned int max_fds, struct vfio_user_msg *out)
{
	struct vfio_user_msg *msg = &rd->msg;
	ssize_t n;
	int rc;

	for (;;) {
		size_t hdr_left = rd->done < VFIO_USER_HDR_SIZE ?
			VFIO_USER_HDR_SIZE - rd->done : 0;
		size_t total = VFIO_USER_HDR_SIZE + msg->payload_len;

		if (hdr_left == 0 && rd->done == total) {
			*out = *msg;
			vfio_user_reader_init(rd);	/* @out owns payload and fds now */
			return 1;
		}
		if (hdr_left > 0)
			n = recv_some(sock, (char *)&msg->hdr + rd->done, hdr_left, msg,
				      max_fds);
		else
			n = recv_some(sock, (char *)msg->payload +
				      (rd->done - VFIO_USER_HDR_SIZE), total - rd->done,
				      msg, max_fds);
		if (n == -EAGAIN)
			return -EAGAIN;
		if (n == 0) {
			if (rd->done == 0)
				return -ECONNRESET;
			VFU_ERR("fd %d: EOF inside a message", sock);
			return -EPROTO;
		}
		if (n < 0)
			return (int)n;
		if (rd->done == 0)
			rd->started_ms = vfio_user_now_ms();
		rd->done += (size_t)n;
		if (hdr_left == 0 || rd->done < VFIO_USER_HDR_SIZE)
			continue;
		/* the header just completed: size the payload */
		rc = check_msg_size(sock, msg, max_payload);
		if (rc < 0)
			return rc;
		msg->payload_len = msg->hdr.msg_size - VFIO_USER_HDR_SIZE;
		if (msg->payload_len > 0) {
			msg->payload = malloc(msg->payload_len);
			if (msg->payload == NULL)
				return -ENOMEM;
		}
	}
}

int
vfio_user_recv_msg_ex(int sock, struct vfio_user_msg *msg, size_t max_payload,
		      unsigned int max_fds, int first_timeout_ms, int64_t deadline)
{
	int rc;

	msg_init(msg);
	rc = recv_exact(sock, &msg->hdr, sizeof(msg->hdr), msg, max_fds, true,
			first_timeout_ms, deadline);
	if (rc < 0)
		goto fail;
	rc = check_msg_size(sock, msg, max_payload);
	if (rc < 0)
		goto fail;
	msg->payload_len = msg->hdr.msg_size - VFIO_USER_HDR_SIZE;
	if (msg->payload_len == 0)
		return 0;
	msg->payload = malloc(msg->payload_len);
	if (msg->payload == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = recv_exact(sock, msg->payload, msg->payload_len, msg, max_fds, false, 0,
			deadline);
	if (rc == -ETIMEDOUT)
		VFU_ERR("fd %d: timeout inside a %s message", sock,
			vfio_user_cmd_name(msg->hdr.command));
	if (rc < 0)
		goto fail;
	return 0;
fail:
	vfio_user_msg_release(msg);
	return rc;
}

int
vfio_user_recv_msg(int sock, struct vfio_user_msg *msg, size_t max_payload,
		   unsigned int max_fds, int timeout_ms)
{
	return vfio_user_recv_msg_ex(sock, msg, max_payload, max_fds, timeout_ms,
				     vfio_user_deadline(timeout_ms));
}

void
vfio_user_region_close(struct vfio_user_region *r)
{
	unsigned int i, j;
	int fd;

	/* Areas may share one fd number; close each number once. */
	for (i = 0; i < r->nr_areas && i < VFIO_USER_SPARSE_AREAS_MAX; i++) {
		fd = r->areas[i].fd;
		if (fd < 0)
			continue;
		for (j = i; j < r->nr_areas && j < VFIO_USER_SPARSE_AREAS_MAX; j++)
			if (r->areas[j].fd == fd)
				r->areas[j].fd = -1;
		if (r->fd == fd)
			r->fd = -1;
		close(fd);
	}
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

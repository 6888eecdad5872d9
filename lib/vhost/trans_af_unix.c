/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The AF_UNIX transport: vhost-user over a stream socket with SCM_RIGHTS,
 * as QEMU, DPDK's virtio-user and every other front-end speak it.
 *
 * Endpoint modes (rte_vhost_driver_register flags):
 *  - server (default): the socket file is created at start; a stale file
 *    (a socket nobody listens on) is removed first, anything else there is
 *    an error. Every accepted connection is a device (a vid).
 *  - client (RTE_VHOST_USER_CLIENT): one connection at a time. The first
 *    connect happens in rte_vhost_driver_start(); if it fails, and after
 *    every disconnect, a timer on the event loop retries once a second,
 *    unless RTE_VHOST_USER_NO_RECONNECT, in which case a failed first
 *    connect fails rte_vhost_driver_start().
 *
 * Receiving: sockets are non-blocking and a message is assembled across
 * callbacks (header, then payload), so a peer that sends half a message and
 * stalls holds up only itself, never the event loop that serves everyone.
 *
 * Replying never blocks either: a reply goes out at once if the socket
 * takes it, else it waits in the connection's own queue and goes out when
 * the socket is writable (EPOLLOUT). A peer that sends requests without
 * reading the replies fills its queue; from AF_UNIX_TXQ_MAX queued replies
 * on, we stop reading it until it has read half of them. So a slow or
 * stuck peer costs its own connection a bounded queue, and nothing else.
 * Any fd that arrives is recorded in the connection's context at once, so
 * every path (truncated control data, too many fds, a bad size, EOF, a
 * handler error) closes all of them.
 *
 * Connection ownership: a connection is on its endpoint's list until
 * whoever closes it takes it off under the endpoint lock, either the read
 * callback (peer gone, bad message) or endpoint_cleanup (unregister); the
 * other party then leaves it alone. Cleanup first sets `closing` (so no
 * accept, timer or start adds connections any more), cancels the timers and
 * removes the listening fd (both wait for a running callback), then takes
 * the connections one by one, each removed from the event loop (waiting for
 * its callback) before its device is freed, and finally waits for read
 * callbacks that had already taken their own connection off the list
 * (`closers`) before freeing the endpoint state they still use.
 */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_vhost.h>

#include "vhost.h"
#include "vhost_transport.h"

#define AF_UNIX_BACKLOG			128
#define AF_UNIX_RECONNECT_MS		1000
#define AF_UNIX_RELISTEN_MS		1000	/* after accept ran out of fds */
#define AF_UNIX_SEND_TIMEOUT_MS		1000
#define AF_UNIX_BACKEND_REPLY_MS	5000
/* Replies a connection may have waiting; we stop reading it at this many. */
#define AF_UNIX_TXQ_MAX			16

struct af_unix_ep;

/* A reply the peer's socket could not take yet. */
struct af_unix_out {
	uint32_t len;			/* bytes of msg */
	uint32_t off;			/* bytes already sent */
	int fds[VHOST_USER_MAX_FDS];	/* our duplicates, sent with the first byte */
	int nr_fds;
	struct vhost_user_msg msg;
};

struct af_unix_conn {
	TAILQ_ENTRY(af_unix_conn) next;
	struct af_unix_ep *uep;
	struct vhost_dev *dev;
	int fd;
	bool detached;			/* taken off uep->conns by its closer */
	bool broken;			/* disconnect op called */
	struct vhost_user_ctx rx;	/* the message being received */
	size_t rx_len;			/* bytes of rx.msg received so far */
	/* Replies waiting for EPOLLOUT, oldest first (loop thread only). */
	struct af_unix_out *txq[AF_UNIX_TXQ_MAX];
	unsigned int txq_head;
	unsigned int txq_len;
	uint32_t watching;		/* EPOLLIN / EPOLLOUT as set in the loop */
};

struct af_unix_ep {
	struct vhost_endpoint *ep;
	pthread_mutex_t lock;		/* conns, closing, listen_fd, closers */
	pthread_cond_t closed;		/* closers went down */
	TAILQ_HEAD(, af_unix_conn) conns;
	unsigned int closers;		/* read callbacks still closing a conn */
	struct sockaddr_un addr;
	int listen_fd;
	bool client;
	bool reconnect;
	bool closing;			/* endpoint_cleanup started */
	bool connect_failed_logged;
	unsigned int nr_conns;		/* on conns */
	bool cap_logged;		/* refused at max_connections, said once */
};

static const struct vhost_transport_ops af_unix_ops;

/* ---- Sending ---- */

/* Wait until fd is ready for events, at most timeout_ms. */
static int
af_unix_wait(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do {
		n = poll(&p, 1, timeout_ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ETIMEDOUT;
	return 0;
}

/*
 * Send one message with optional fds. The fds travel with the first byte;
 * a short write (socket buffer full) is completed after waiting for space,
 * bounded in time: a peer that never reads its replies is disconnected.
 * With may_wait false (data-path callers), a full buffer before the first
 * byte fails with -EAGAIN instead; once bytes are out, the rest must follow
 * or the stream would lose its framing, so that part always may wait.
 */
static int
af_unix_send(int fd, const void *buf, size_t len, const int *fds, int nr_fds,
	     bool may_wait)
{
	char control[CMSG_SPACE(VHOST_USER_MAX_FDS * sizeof(int))];
	struct iovec iov;
	struct msghdr mh;
	size_t done = 0;
	ssize_t n;
	int ret;

	if (nr_fds < 0 || nr_fds > VHOST_USER_MAX_FDS)
		return -EINVAL;
	while (done < len) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = (char *)(uintptr_t)buf + done;
		iov.iov_len = len - done;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		if (done == 0 && nr_fds > 0) {
			struct cmsghdr *cm;

			memset(control, 0, sizeof(control));
			mh.msg_control = control;
			mh.msg_controllen = CMSG_SPACE(nr_fds * sizeof(int));
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(nr_fds * sizeof(int));
			memcpy(CMSG_DATA(cm), fds, nr_fds * sizeof(int));
		}
		n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			if (done == 0 && !may_wait)
				return -EAGAIN;
			ret = af_unix_wait(fd, POLLOUT, AF_UNIX_SEND_TIMEOUT_MS);
			if (ret < 0)
				return ret;
			continue;
		}
		done += (size_t)n;
	}
	return 0;
}

/*
 * One non-blocking sendmsg of buf; fds travel only if nothing of this
 * message was sent yet (off == 0). Returns the bytes sent (0 if the socket
 * is full) or a negative errno.
 */
static ssize_t
af_unix_send_some(int fd, const void *buf, size_t len, const int *fds, int nr_fds)
{
	char control[CMSG_SPACE(VHOST_USER_MAX_FDS * sizeof(int))];
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nr_fds > 0) {
		struct cmsghdr *cm;

		memset(control, 0, sizeof(control));
		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(nr_fds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nr_fds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nr_fds * sizeof(int));
	}
	do {
		n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	return n;
}

/* Watch conn for reading unless its queue is full, for writing if it has one. */
static void
af_unix_update_events(struct af_unix_conn *conn)
{
	uint32_t want = conn->txq_len > 0 ? EPOLLOUT : 0;

	/* Stop reading at the cap; resume once the peer read half of it. */
	if (conn->txq_len < AF_UNIX_TXQ_MAX / 2 ||
	    (conn->txq_len < AF_UNIX_TXQ_MAX && (conn->watching & EPOLLIN)))
		want |= EPOLLIN;
	if (want == conn->watching)
		return;
	if (vhost_event_set(conn->fd, want) == 0)
		conn->watching = want;
}

static void
af_unix_out_free(struct af_unix_out *o)
{
	int i;

	for (i = 0; i < o->nr_fds; i++)
		close(o->fds[i]);
	free(o);
}

static void
af_unix_txq_clear(struct af_unix_conn *conn)
{
	while (conn->txq_len > 0) {
		af_unix_out_free(conn->txq[conn->txq_head]);
		conn->txq_head = (conn->txq_head + 1) % AF_UNIX_TXQ_MAX;
		conn->txq_len--;
	}
}

/* Send what the queue holds; negative errno when the peer is gone. */
static int
af_unix_txq_flush(struct af_unix_conn *conn)
{
	while (conn->txq_len > 0) {
		struct af_unix_out *o = conn->txq[conn->txq_head];
		ssize_t n;

		n = af_unix_send_some(conn->fd, (const uint8_t *)&o->msg + o->off,
				      o->len - o->off, o->fds, o->off == 0 ? o->nr_fds : 0);
		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		o->off += (uint32_t)n;
		if (o->off < o->len)
			break;	/* the socket took part of it: wait for room */
		af_unix_out_free(o);
		conn->txq_head = (conn->txq_head + 1) % AF_UNIX_TXQ_MAX;
		conn->txq_len--;
	}
	af_unix_update_events(conn);
	return 0;
}

/* Queue the unsent rest of a reply (fds duplicated if none went yet). */
static int
af_unix_txq_push(struct af_unix_conn *conn, const struct vhost_user_msg *msg, uint32_t len,
		 uint32_t sent, const int *fds, int nr_fds)
{
	struct af_unix_out *o;
	int i;

	if (conn->txq_len == AF_UNIX_TXQ_MAX)
		return -ENOBUFS;	/* cannot happen: we stopped reading before */
	o = malloc(sizeof(*o));
	if (o == NULL)
		return -ENOMEM;
	memcpy(&o->msg, msg, len);
	o->len = len;
	o->off = sent;
	o->nr_fds = 0;
	for (i = 0; sent == 0 && i < nr_fds; i++) {
		o->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
		if (o->fds[i] < 0) {
			int err = -errno;

			o->nr_fds = i;
			af_unix_out_free(o);
			return err;
		}
		o->nr_fds = i + 1;
	}
	conn->txq[(conn->txq_head + conn->txq_len) % AF_UNIX_TXQ_MAX] = o;
	conn->txq_len++;
	af_unix_update_events(conn);
	return 0;
}

/* Loop thread (the handler). Never blocks: see "Replying" above. */
static int
af_unix_send_reply(struct vhost_dev *dev, const struct vhost_user_msg *msg,
		   const int *fds, int nr_fds)
{
	struct af_unix_conn *conn = dev->trans_priv;
	ssize_t n = 0;
	uint32_t len;
	int ret;

	if (msg->hdr.size > VHOST_USER_PAYLOAD_MAX || nr_fds < 0 || nr_fds > VHOST_USER_MAX_FDS)
		return -EINVAL;
	len = VHOST_USER_HDR_SIZE + msg->hdr.size;
	if (conn->txq_len == 0) {
		n = af_unix_send_some(conn->fd, msg, len, fds, nr_fds);
		if (n == (ssize_t)len)
			return 0;
	}
	ret = n < 0 ? (int)n : af_unix_txq_push(conn, msg, len, (uint32_t)n, fds, nr_fds);
	if (ret < 0)
		VHOST_LOG_CONFIG(dev->ifname, ERR, "reply to request %u failed: %s\n",
				 msg->hdr.request, strerror(-ret));
	return ret;
}

/* ---- Back-end request channel ---- */

static int
af_unix_set_backend_req(struct vhost_dev *dev, int fd)
{
	rte_spinlock_lock(&dev->backend_req_lock);
	if (dev->backend_req_fd >= 0)
		close(dev->backend_req_fd);
	dev->backend_req_fd = fd;
	rte_spinlock_unlock(&dev->backend_req_lock);
	return 0;
}

/* Read exactly len bytes before the deadline (the channel may block). */
static int
af_unix_recv_full(int fd, void *buf, size_t len, int timeout_ms)
{
	size_t done = 0;
	ssize_t n;
	int ret;

	while (done < len) {
		n = recv(fd, (char *)buf + done, len - done, MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			ret = af_unix_wait(fd, POLLIN, timeout_ms);
			if (ret < 0)
				return ret;
			continue;
		}
		done += (size_t)n;
	}
	return 0;
}

/*
 * Requests may come from data-path lcores (IOTLB misses, no reply wanted):
 * the send never waits for room there, and backend_req_lock (a spinlock
 * lcores take) is held only around the send. A reply is awaited under
 * backend_reply_lock, a mutex only reply-wanting callers take, so
 * concurrent requesters cannot read each other's replies and no lcore ever
 * spins while we wait; a reply that does not answer this request (a late
 * one for a request that timed out) fails this request rather than being
 * taken for its answer.
 */
static int
af_unix_backend_req(struct vhost_dev *dev, struct vhost_user_msg *msg,
		    const int *fds, int nr_fds, bool need_reply)
{
	struct vhost_user_msg reply;
	int fd = -1, ret;

	if (msg->hdr.size > VHOST_USER_PAYLOAD_MAX)
		return -EINVAL;
	/* One request awaiting its reply at a time; lcores never take this. */
	if (need_reply)
		pthread_mutex_lock(&dev->backend_reply_lock);
	rte_spinlock_lock(&dev->backend_req_lock);
	if (dev->backend_req_fd < 0) {
		ret = -ENOTCONN;
	} else {
		if (need_reply)
			msg->hdr.flags |= VHOST_USER_NEED_REPLY;
		/* Never waits for room: an lcore may be spinning on this lock. */
		ret = af_unix_send(dev->backend_req_fd, msg, VHOST_USER_HDR_SIZE + msg->hdr.size,
				   fds, nr_fds, false);
		/* The wait happens on our own duplicate, outside the spinlock. */
		if (ret == 0 && need_reply) {
			fd = fcntl(dev->backend_req_fd, F_DUPFD_CLOEXEC, 0);
			if (fd < 0)
				ret = -errno;
		}
	}
	rte_spinlock_unlock(&dev->backend_req_lock);
	if (ret < 0 || !need_reply)
		goto out;

	ret = af_unix_recv_full(fd, &reply.hdr, VHOST_USER_HDR_SIZE,
				AF_UNIX_BACKEND_REPLY_MS);
	if (ret < 0)
		goto out;
	if (reply.hdr.size > VHOST_USER_PAYLOAD_MAX) {
		ret = -EPROTO;
		goto out;
	}
	ret = af_unix_recv_full(fd, &reply.payload, reply.hdr.size, AF_UNIX_BACKEND_REPLY_MS);
	if (ret < 0)
		goto out;
	if (reply.hdr.request != msg->hdr.request ||
	    !(reply.hdr.flags & VHOST_USER_REPLY_MASK) ||
	    reply.hdr.size != sizeof(reply.payload.u64)) {
		ret = -EPROTO;
		goto out;
	}
	ret = reply.payload.u64 > INT_MAX ? -ERANGE : (int)reply.payload.u64;
out:
	if (fd >= 0)
		close(fd);
	if (need_reply)
		pthread_mutex_unlock(&dev->backend_reply_lock);
	if (ret < 0)
		VHOST_LOG_CONFIG(dev->ifname, ERR, "back-end request %u failed: %s\n",
				 msg->hdr.request, strerror(-ret));
	return ret;
}

/* ---- Memory, log, inflight ---- */

static int
af_unix_map_region(struct vhost_dev *dev, struct rte_vhost_mem_region *reg,
		   const struct vhost_region_src *src)
{
	return vhost_mmap_region_fd(dev, reg, src->mmap_offset, src->fd);
}

static void
af_unix_unmap_region(struct vhost_dev *dev, struct rte_vhost_mem_region *reg)
{
	vhost_munmap_region(dev, reg);
}

/* [offset, offset + size) must lie within fd's file if it is a regular one. */
static int
af_unix_check_file_range(struct vhost_dev *dev, int fd, uint64_t size, uint64_t offset,
			 const char *what)
{
	struct stat st;

	if (fd < 0 || size == 0 || offset > UINT64_MAX - size || offset + size > SIZE_MAX) {
		VHOST_LOG_CONFIG(dev->ifname, ERR, "bad %s area\n", what);
		return -EINVAL;
	}
	if (fstat(fd, &st) < 0) {
		VHOST_LOG_CONFIG(dev->ifname, ERR, "%s fstat: %s\n", what, strerror(errno));
		return -errno;
	}
	if (S_ISREG(st.st_mode) && offset + size > (uint64_t)st.st_size) {
		VHOST_LOG_CONFIG(dev->ifname, ERR, "%s area beyond the end of its file\n",
				 what);
		return -EINVAL;
	}
	return 0;
}

/* The log offset need not be page aligned: map from 0 and point inside. */
static int
af_unix_map_log(struct vhost_dev *dev, int fd, uint64_t size, uint64_t offset,
		void **map, uint64_t *map_size, uint64_t *addr)
{
	void *p;
	int ret;

	ret = af_unix_check_file_range(dev, fd, size, offset, "log");
	if (ret < 0)
		return ret;
	p = mmap(NULL, (size_t)(offset + size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		VHOST_LOG_CONFIG(dev->ifname, ERR, "log mmap: %s\n", strerror(errno));
		return ret;
	}
	ret = vhost_guard_add(p, (size_t)(offset + size), dev->vid);
	if (ret < 0) {
		munmap(p, (size_t)(offset + size));
		return ret;
	}
	*map = p;
	*map_size = offset + size;
	*addr = (uint64_t)(uintptr_t)p + offset;
	return 0;
}

static void
af_unix_unmap_log(struct vhost_dev *dev, void *map, uint64_t map_size)
{
	if (map != NULL) {
		vhost_guard_del(map);
		munmap(map, (size_t)map_size);
	}
}

static int
af_unix_alloc_inflight(struct vhost_dev *dev, uint64_t size, void **addr, int *fd)
{
	void *p;
	int mfd, ret;

	if (size == 0 || size > SIZE_MAX || size > (uint64_t)INT64_MAX)
		return -EINVAL;
	mfd = memfd_create("vhost-inflight", MFD_CLOEXEC);
	if (mfd < 0)
		goto fail;
	if (ftruncate(mfd, (off_t)size) < 0)
		goto fail;
	/* A fresh memfd reads as zeroes: no memset needed. */
	p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (p == MAP_FAILED)
		goto fail;
	/* Ours, but the front-end gets the fd and may truncate it. */
	if (vhost_guard_add(p, (size_t)size, dev->vid) < 0) {
		munmap(p, (size_t)size);
		errno = ENOSPC;
		goto fail;
	}
	*addr = p;
	*fd = mfd;
	return 0;
fail:
	ret = -errno;
	VHOST_LOG_CONFIG(dev->ifname, ERR, "inflight area of %" PRIu64 " bytes: %s\n",
			 size, strerror(errno));
	if (mfd >= 0)
		close(mfd);
	return ret;
}

static int
af_unix_map_inflight(struct vhost_dev *dev, int fd, uint64_t size, uint64_t offset,
		     void **addr)
{
	void *p;
	int ret;

	ret = af_unix_check_file_range(dev, fd, size, offset, "inflight");
	if (ret < 0)
		return ret;
	/* unmap_inflight gets (addr, size) only: the offset must need no slack. */
	if (offset % (uint64_t)sysconf(_SC_PAGESIZE) != 0 || offset > (uint64_t)INT64_MAX) {
		VHOST_LOG_CONFIG(dev->ifname, ERR, "inflight offset not page aligned\n");
		return -EINVAL;
	}
	p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)offset);
	if (p == MAP_FAILED) {
		ret = -errno;
		VHOST_LOG_CONFIG(dev->ifname, ERR, "inflight mmap: %s\n", strerror(errno));
		return ret;
	}
	ret = vhost_guard_add(p, (size_t)size, dev->vid);
	if (ret < 0) {
		munmap(p, (size_t)size);
		return ret;
	}
	*addr = p;
	return 0;
}

static void
af_unix_unmap_inflight(struct vhost_dev *dev, void *addr, uint64_t size)
{
	if (addr != NULL) {
		vhost_guard_del(addr);
		munmap(addr, (size_t)size);
	}
}

static int
af_unix_vring_call(struct vhost_dev *dev, struct vhost_vq *vq)
{
	if (vq->callfd < 0)
		return 0;
	if (eventfd_write(vq->callfd, 1) < 0)
		return -errno;
	return 0;
}

/* ---- Connections ---- */

static void
af_unix_close_rx_fds(struct af_unix_conn *conn)
{
	int i;

	for (i = 0; i < conn->rx.nr_fds; i++)
		if (conn->rx.fds[i] >= 0)
			close(conn->rx.fds[i]);
	conn->rx.nr_fds = 0;
	conn->rx_len = 0;
}

/* The connection is off the list and off the event loop: free it. */
static void
af_unix_conn_destroy(struct af_unix_conn *conn)
{
	vhost_dev_free(conn->dev);
	af_unix_close_rx_fds(conn);
	af_unix_txq_clear(conn);
	close(conn->fd);
	free(conn);
}

static void af_unix_reconnect_cb(void *arg);

static void
af_unix_schedule_reconnect(struct af_unix_ep *uep)
{
	pthread_mutex_lock(&uep->lock);
	if (uep->client && uep->reconnect && !uep->closing &&
	    vhost_event_timer(AF_UNIX_RECONNECT_MS, af_unix_reconnect_cb, uep) < 0)
		VHOST_LOG_CONFIG(uep->ep->path, ERR, "cannot schedule a reconnect\n");
	pthread_mutex_unlock(&uep->lock);
}

/* Close a connection from the event loop (peer gone or bad input). */
static void
af_unix_conn_close(struct af_unix_conn *conn)
{
	struct af_unix_ep *uep = conn->uep;
	bool mine;

	pthread_mutex_lock(&uep->lock);
	mine = !conn->detached;
	if (mine) {
		TAILQ_REMOVE(&uep->conns, conn, next);
		uep->nr_conns--;
		conn->detached = true;
		/* Keeps uep alive: cleanup waits for closers after the list. */
		uep->closers++;
	}
	pthread_mutex_unlock(&uep->lock);
	/* Not ours: endpoint_cleanup has it and waits for this callback. */
	if (!mine)
		return;
	vhost_event_del(conn->fd);
	af_unix_conn_destroy(conn);
	af_unix_schedule_reconnect(uep);
	pthread_mutex_lock(&uep->lock);
	uep->closers--;
	pthread_cond_broadcast(&uep->closed);
	pthread_mutex_unlock(&uep->lock);
}

/* Record the fds of one recvmsg; false if there were more than a message holds. */
static bool
af_unix_take_fds(struct af_unix_conn *conn, struct msghdr *mh)
{
	struct cmsghdr *cm;
	bool ok = true;

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		size_t i, n;
		int fd;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (conn->rx.nr_fds < VHOST_USER_MAX_FDS) {
				conn->rx.fds[conn->rx.nr_fds++] = fd;
			} else {
				close(fd);
				ok = false;
			}
		}
	}
	return ok;
}

/*
 * One recvmsg into the message being assembled. Returns the byte count,
 * 0 on EOF, -EAGAIN when nothing is there, or another negative errno.
 */
static ssize_t
af_unix_recv_some(struct af_unix_conn *conn, size_t want)
{
	/* Room for more fds than allowed, so excess ones are seen and closed. */
	char control[CMSG_SPACE(2 * VHOST_USER_MAX_FDS * sizeof(int))];
	struct iovec iov = {
		.iov_base = (char *)&conn->rx.msg + conn->rx_len,
		.iov_len = want,
	};
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control,
		.msg_controllen = sizeof(control),
	};
	ssize_t n;

	do {
		n = recvmsg(conn->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	/* Whatever else happened, fds that did arrive are now ours to close. */
	if (!af_unix_take_fds(conn, &mh)) {
		VHOST_LOG_CONFIG(conn->dev->ifname, ERR, "message with more than %d fds\n",
				 VHOST_USER_MAX_FDS);
		return -EBADMSG;
	}
	if (mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) {
		VHOST_LOG_CONFIG(conn->dev->ifname, ERR, "truncated control data\n");
		return -EBADMSG;
	}
	return n;
}

/*
 * Advance the message being received. Returns 1 when it is complete, 0 when
 * more bytes are needed, negative when the connection must be closed.
 */
static int
af_unix_recv_msg(struct af_unix_conn *conn)
{
	const char *who = conn->dev->ifname;
	size_t total;
	ssize_t n;

	if (conn->rx_len < VHOST_USER_HDR_SIZE) {
		n = af_unix_recv_some(conn, VHOST_USER_HDR_SIZE - conn->rx_len);
		if (n == -EAGAIN)
			return 0;
		if (n <= 0)
			goto closed;
		conn->rx_len += (size_t)n;
		if (conn->rx_len < VHOST_USER_HDR_SIZE)
			return 0;
		if (conn->rx.msg.hdr.size > VHOST_USER_PAYLOAD_MAX) {
			VHOST_LOG_CONFIG(who, ERR, "request %u: payload of %u bytes, max %zu\n",
					 conn->rx.msg.hdr.request, conn->rx.msg.hdr.size,
					 VHOST_USER_PAYLOAD_MAX);
			return -EBADMSG;
		}
	}
	total = VHOST_USER_HDR_SIZE + conn->rx.msg.hdr.size;
	if (conn->rx_len < total) {
		n = af_unix_recv_some(conn, total - conn->rx_len);
		if (n == -EAGAIN)
			return 0;
		if (n <= 0)
			goto closed;
		conn->rx_len += (size_t)n;
	}
	return conn->rx_len == total ? 1 : 0;

closed:
	if (n == 0) {
		if (conn->rx_len != 0)
			VHOST_LOG_CONFIG(who, ERR, "peer closed mid-message\n");
		else
			VHOST_LOG_CONFIG(who, INFO, "peer closed the connection\n");
		return -ECONNRESET;
	}
	if (n != -EBADMSG)
		VHOST_LOG_CONFIG(who, ERR, "recvmsg: %s\n", strerror((int)-n));
	return (int)n;
}

static void
af_unix_read_cb(int fd, uint32_t events, void *arg)
{
	struct af_unix_conn *conn = arg;
	int ret;

	if (events & EPOLLOUT) {
		ret = af_unix_txq_flush(conn);
		if (ret < 0) {
			VHOST_LOG_CONFIG(conn->dev->ifname, INFO, "peer gone while replies were "
					 "waiting: %s\n", strerror(-ret));
			goto close;
		}
	}
	/* Paused (a full queue) or only writable: nothing to read now. */
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || !(conn->watching & EPOLLIN))
		return;
	ret = af_unix_recv_msg(conn);
	if (ret == 0)
		return;
	if (ret > 0) {
		/* A message it refuses reaches af_unix_disconnect (broken). */
		vhost_user_msg_handle(conn->dev, &conn->rx);
		/* The handler set the slots of fds it kept to -1. */
		af_unix_close_rx_fds(conn);
		memset(&conn->rx.msg.hdr, 0, sizeof(conn->rx.msg.hdr));
		if (!conn->broken)
			return;
	}
close:
	af_unix_conn_close(conn);
}

/*
 * Make a device of a connected socket and start watching it. With the
 * endpoint closing, the socket is just closed.
 */
static int
af_unix_conn_add(struct af_unix_ep *uep, int fd)
{
	struct af_unix_conn *conn;
	struct vhost_dev *dev;
	int ret;

	conn = calloc(1, sizeof(*conn));
	if (conn == NULL) {
		close(fd);
		return -ENOMEM;
	}
	conn->fd = fd;
	conn->uep = uep;
	dev = vhost_dev_new(uep->ep);
	if (dev == NULL) {
		close(fd);
		free(conn);
		return -ECANCELED;
	}
	conn->dev = dev;
	dev->trans_priv = conn;

	/* Lock order: uep->lock, then the event loop's lock. */
	pthread_mutex_lock(&uep->lock);
	if (uep->closing) {
		ret = -ESHUTDOWN;
	} else {
		TAILQ_INSERT_TAIL(&uep->conns, conn, next);
		uep->nr_conns++;
		conn->watching = EPOLLIN;
		ret = vhost_event_add(fd, af_unix_read_cb, conn);
		if (ret < 0) {
			TAILQ_REMOVE(&uep->conns, conn, next);
			uep->nr_conns--;
		}
	}
	pthread_mutex_unlock(&uep->lock);
	if (ret < 0)
		af_unix_conn_destroy(conn);
	return ret;
}

/* ---- Client mode ---- */

static int
af_unix_try_connect(struct af_unix_ep *uep)
{
	int fd, ret;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&uep->addr, sizeof(uep->addr)) < 0) {
		ret = -errno;
		close(fd);
		if (!uep->connect_failed_logged)
			VHOST_LOG_CONFIG(uep->ep->path, INFO, "connect: %s\n", strerror(-ret));
		uep->connect_failed_logged = true;
		return ret;
	}
	uep->connect_failed_logged = false;
	VHOST_LOG_CONFIG(uep->ep->path, INFO, "connected\n");
	return af_unix_conn_add(uep, fd);
}

static void
af_unix_reconnect_cb(void *arg)
{
	struct af_unix_ep *uep = arg;
	bool closing;
	int ret;

	pthread_mutex_lock(&uep->lock);
	closing = uep->closing;
	pthread_mutex_unlock(&uep->lock);
	if (closing)
		return;
	ret = af_unix_try_connect(uep);
	/* Like DPDK, a connection the application refused is not retried. */
	if (ret < 0 && ret != -ECANCELED)
		af_unix_schedule_reconnect(uep);
}

/* ---- Server mode ---- */

static void af_unix_accept_cb(int fd, uint32_t events, void *arg);

static void
af_unix_relisten_cb(void *arg)
{
	struct af_unix_ep *uep = arg;

	pthread_mutex_lock(&uep->lock);
	if (!uep->closing && uep->listen_fd >= 0 &&
	    vhost_event_add(uep->listen_fd, af_unix_accept_cb, uep) < 0)
		VHOST_LOG_CONFIG(uep->ep->path, ERR, "cannot watch the socket again\n");
	pthread_mutex_unlock(&uep->lock);
}

static void
af_unix_accept_cb(int fd, uint32_t events, void *arg)
{
	struct af_unix_ep *uep = arg;
	int cfd;

	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd >= 0) {
		bool full;

		/* A connection flood costs one accept and close each, no vid. */
		pthread_mutex_lock(&uep->lock);
		full = uep->nr_conns >= uep->ep->max_connections;
		if (full && !uep->cap_logged)
			VHOST_LOG_CONFIG(uep->ep->path, ERR, "%u connections already: refusing "
					 "more until one ends\n", uep->nr_conns);
		uep->cap_logged = full;
		pthread_mutex_unlock(&uep->lock);
		if (full)
			close(cfd);
		else
			af_unix_conn_add(uep, cfd);
		return;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
	    errno == ECONNABORTED)
		return;
	VHOST_LOG_CONFIG(uep->ep->path, ERR, "accept: %s\n", strerror(errno));
	/*
	 * Out of fds or memory: the pending connection stays pending and the
	 * level-triggered fd would spin the loop. Pause listening for a while.
	 * The fd leaves the loop last: once it is gone, cleanup no longer
	 * waits for this callback, which must not touch uep after that.
	 */
	pthread_mutex_lock(&uep->lock);
	if (!uep->closing)
		vhost_event_timer(AF_UNIX_RELISTEN_MS, af_unix_relisten_cb, uep);
	pthread_mutex_unlock(&uep->lock);
	vhost_event_del(fd);
}

/*
 * A socket file left by a process that died is in the way of bind(). It is
 * removed only if it is a socket and nobody accepts on it; a regular file
 * or a live server at that path is an error, never deleted.
 */
static int
af_unix_remove_stale(struct af_unix_ep *uep)
{
	const char *path = uep->addr.sun_path;
	struct stat st;
	int fd, ret;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		VHOST_LOG_CONFIG(path, ERR, "exists and is not a socket\n");
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)&uep->addr, sizeof(uep->addr));
	if (ret == 0 || errno == EAGAIN) {
		close(fd);
		VHOST_LOG_CONFIG(path, ERR, "socket in use by another server\n");
		return -EADDRINUSE;
	}
	close(fd);
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	VHOST_LOG_CONFIG(path, INFO, "removed a stale socket file\n");
	return 0;
}

static int
af_unix_listen(struct af_unix_ep *uep)
{
	const char *path = uep->addr.sun_path;
	int fd, ret;

	ret = af_unix_remove_stale(uep);
	if (ret < 0)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (const struct sockaddr *)&uep->addr, sizeof(uep->addr)) < 0) {
		ret = -errno;
		VHOST_LOG_CONFIG(path, ERR, "bind: %s\n", strerror(errno));
		close(fd);
		return ret;
	}
	if (listen(fd, AF_UNIX_BACKLOG) < 0) {
		ret = -errno;
		VHOST_LOG_CONFIG(path, ERR, "listen: %s\n", strerror(errno));
		goto fail;
	}
	pthread_mutex_lock(&uep->lock);
	uep->listen_fd = fd;
	ret = vhost_event_add(fd, af_unix_accept_cb, uep);
	if (ret < 0)
		uep->listen_fd = -1;
	pthread_mutex_unlock(&uep->lock);
	if (ret < 0)
		goto fail;
	VHOST_LOG_CONFIG(path, INFO, "listening\n");
	return 0;
fail:
	close(fd);
	unlink(uep->addr.sun_path);
	return ret;
}

/* ---- Endpoint ops ---- */

static int
af_unix_endpoint_init(struct vhost_endpoint *ep)
{
	struct af_unix_ep *uep;
	size_t len = strlen(ep->trans_path);

	if (len == 0 || len >= sizeof(uep->addr.sun_path)) {
		VHOST_LOG_CONFIG(ep->path, ERR, "socket path must have 1 to %zu bytes\n",
				 sizeof(uep->addr.sun_path) - 1);
		return -EINVAL;
	}
	uep = calloc(1, sizeof(*uep));
	if (uep == NULL)
		return -ENOMEM;
	uep->ep = ep;
	pthread_mutex_init(&uep->lock, NULL);
	pthread_cond_init(&uep->closed, NULL);
	TAILQ_INIT(&uep->conns);
	uep->addr.sun_family = AF_UNIX;
	memcpy(uep->addr.sun_path, ep->trans_path, len + 1);
	uep->listen_fd = -1;
	uep->client = !!(ep->flags & RTE_VHOST_USER_CLIENT);
	uep->reconnect = !(ep->flags & RTE_VHOST_USER_NO_RECONNECT);
	ep->trans_priv = uep;
	return 0;
}

static int
af_unix_endpoint_start(struct vhost_endpoint *ep)
{
	struct af_unix_ep *uep = ep->trans_priv;
	int ret;

	if (!uep->client)
		return af_unix_listen(uep);
	ret = af_unix_try_connect(uep);
	/* Connected, or connected and refused by new_connection (DPDK: 0). */
	if (ret == 0 || ret == -ECANCELED)
		return 0;
	if (!uep->reconnect) {
		VHOST_LOG_CONFIG(ep->path, ERR, "cannot connect and reconnect is off\n");
		return ret;
	}
	VHOST_LOG_CONFIG(ep->path, INFO, "not connected yet, retrying every %d ms\n",
			 AF_UNIX_RECONNECT_MS);
	af_unix_schedule_reconnect(uep);
	return 0;
}

static void
af_unix_endpoint_cleanup(struct vhost_endpoint *ep)
{
	struct af_unix_ep *uep = ep->trans_priv;
	struct af_unix_conn *conn;
	int listen_fd;

	if (uep == NULL)
		return;
	pthread_mutex_lock(&uep->lock);
	uep->closing = true;
	listen_fd = uep->listen_fd;
	uep->listen_fd = -1;
	pthread_mutex_unlock(&uep->lock);

	vhost_event_timer_cancel(af_unix_reconnect_cb, uep);
	vhost_event_timer_cancel(af_unix_relisten_cb, uep);
	if (listen_fd >= 0) {
		vhost_event_del(listen_fd);
		close(listen_fd);
		unlink(uep->addr.sun_path);
	}
	for (;;) {
		pthread_mutex_lock(&uep->lock);
		conn = TAILQ_FIRST(&uep->conns);
		if (conn != NULL) {
			TAILQ_REMOVE(&uep->conns, conn, next);
			uep->nr_conns--;
			conn->detached = true;
		}
		pthread_mutex_unlock(&uep->lock);
		if (conn == NULL)
			break;
		vhost_event_del(conn->fd);
		af_unix_conn_destroy(conn);
	}
	/* Read callbacks that took their connection off the list first. */
	pthread_mutex_lock(&uep->lock);
	while (uep->closers > 0)
		pthread_cond_wait(&uep->closed, &uep->lock);
	pthread_mutex_unlock(&uep->lock);
	pthread_cond_destroy(&uep->closed);
	pthread_mutex_destroy(&uep->lock);
	free(uep);
	ep->trans_priv = NULL;
}

/*
 * The library ends the connection (a message failed): the read callback,
 * which is running the handler, sees `broken` and closes it; shutdown()
 * also ends a send to this peer that is waiting for buffer space.
 */
static void
af_unix_disconnect(struct vhost_dev *dev)
{
	struct af_unix_conn *conn = dev->trans_priv;

	conn->broken = true;
	shutdown(conn->fd, SHUT_RDWR);
}

/* The fallback: every path no earlier transport claimed is a socket path. */
static bool
af_unix_match(const char *path, uint64_t flags)
{
	return true;
}

static const struct vhost_transport_ops af_unix_ops = {
	.name = "af_unix",
	.order = VHOST_TRANSPORT_ORDER_FALLBACK,
	.match = af_unix_match,
	.passes_fds = true,
	/* Everything the message handler implements can travel on a socket. */
	.protocol_features = UINT64_MAX,
	.endpoint_init = af_unix_endpoint_init,
	.endpoint_start = af_unix_endpoint_start,
	.endpoint_cleanup = af_unix_endpoint_cleanup,
	.send_reply = af_unix_send_reply,
	.disconnect = af_unix_disconnect,
	.map_region = af_unix_map_region,
	.unmap_region = af_unix_unmap_region,
	.vring_call = af_unix_vring_call,
	.set_backend_req = af_unix_set_backend_req,
	.backend_req = af_unix_backend_req,
	.map_log = af_unix_map_log,
	.unmap_log = af_unix_unmap_log,
	.alloc_inflight = af_unix_alloc_inflight,
	.map_inflight = af_unix_map_inflight,
	.unmap_inflight = af_unix_unmap_inflight,
};

RTE_INIT(af_unix_transport_register)
{
	if (vhost_transport_register(&af_unix_ops) < 0)
		VHOST_LOG_CONFIG("transport", ERR, "af_unix not available\n");
}

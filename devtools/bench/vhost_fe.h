/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost_fe.h: the front-end side of vhost-user over AF_UNIX, as the
 * benchmarks play it (vhost_ir, scale, startup): the guest's memory and a
 * vring's eventfds, message framing with fds, requests with a u64 or
 * vring-state payload, replies, and the set-up of one vring.
 * Only what a polling virtio-net front-end sends (the order DPDK's
 * virtio_user uses); no back-end requests, no reconnection.
 *
 * Header-only, for small single-file tools. The includer defines, before
 * including this file:
 *
 *   static void die(const char *fmt, ...) __attribute__((noreturn));
 *
 * which every function here calls on an error: a benchmark has nothing
 * better to do than to stop with the reason.
 */

#ifndef _DEVTOOLS_BENCH_VHOST_FE_H_
#define _DEVTOOLS_BENCH_VHOST_FE_H_

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "test_util.h"

enum {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_SET_MEM_TABLE = 5,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_SET_VRING_ENABLE = 18,
};

#define VU_VERSION		0x1u
#define VU_REPLY		0x4u
#define VU_F_PROTOCOL_FEATURES	30	/* feature bit: protocol features exist */
#define VU_PROTOCOL_F_MQ	0
#define VU_PACKED_WRAP		(1u << 15) /* SET_VRING_BASE: avail wrap counter */
#define VU_MAX_FDS		8
#define VU_REPLY_WAIT_MS	5000

struct vu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
	uint64_t mmap_offset;
};

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};

struct vu_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	union {
		uint64_t u64;
		struct {
			uint32_t index;
			uint32_t num;
		} state;
		struct vu_vring_addr addr;
		struct {
			uint32_t nregions;
			uint32_t padding;
			struct vu_region region[1];
		} mem;
	} payload;
} __attribute__((packed));

#define VU_HDR_SIZE offsetof(struct vu_msg, payload)

static void die(const char *fmt, ...);

/* The guest's memory: a memfd of size bytes (its fd in *fd, for SET_MEM_TABLE),
 * mapped shared here. */
static inline void *
vu_guest_mem(const char *name, size_t size, int *fd)
{
	void *mem;

	*fd = memfd_create(name, MFD_CLOEXEC);
	if (*fd < 0 || ftruncate(*fd, size) != 0)
		die("memfd: %s", strerror(errno));
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (mem == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	return mem;
}

/* One vring's kick and call eventfds (non-blocking). */
static inline void
vu_vring_eventfds(int *kickfd, int *callfd)
{
	*kickfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	*callfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (*kickfd < 0 || *callfd < 0)
		die("eventfd: %s", strerror(errno));
}

/* A connected (blocking) socket to the back-end's path. */
static inline int
vu_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		die("socket: %s", strerror(errno));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("connect %s: %s", path, strerror(errno));
	return s;
}

/* One request, its payload and up to VU_MAX_FDS fds in one sendmsg. */
static inline void
vu_send(int sock, uint32_t req, const void *payload, uint32_t size, const int *fds, int nfds)
{
	struct vu_msg m = { .request = req, .flags = VU_VERSION, .size = size };

	if (size > sizeof(m.payload) || nfds > VU_MAX_FDS)
		die("message %u too large", req);
	if (size != 0)
		memcpy(&m.payload, payload, size);
	errno = 0; /* still 0 after a short write */
	if (test_send_fds(sock, &m, VU_HDR_SIZE + size, fds, nfds) != 0)
		die("sending request %u: %s", req, errno != 0 ? strerror(errno) : "short write");
}

/* The u64 reply to request req (sent earlier), within VU_REPLY_WAIT_MS. */
static inline uint64_t
vu_recv_u64(int sock, uint32_t req)
{
	struct vu_msg m;
	struct pollfd p = { .fd = sock, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, VU_REPLY_WAIT_MS) != 1)
		die("no reply to request %u", req);
	n = recv(sock, &m, VU_HDR_SIZE + sizeof(uint64_t), MSG_WAITALL);
	if (n != (ssize_t)(VU_HDR_SIZE + sizeof(uint64_t)) || m.request != req ||
	    (m.flags & VU_REPLY) == 0 || m.size != sizeof(uint64_t))
		die("bad reply to request %u", req);
	return m.payload.u64;
}

static inline uint64_t
vu_get_u64(int sock, uint32_t req)
{
	vu_send(sock, req, NULL, 0, NULL, 0);
	return vu_recv_u64(sock, req);
}

/* A u64 payload, with one fd if fd >= 0 (SET_VRING_KICK/CALL carry both). */
static inline void
vu_send_u64(int sock, uint32_t req, uint64_t v, int fd)
{
	vu_send(sock, req, &v, sizeof(v), &fd, fd >= 0 ? 1 : 0);
}

static inline void
vu_send_state(int sock, uint32_t req, uint32_t index, uint32_t num)
{
	struct vu_msg m;

	m.payload.state.index = index;
	m.payload.state.num = num;
	vu_send(sock, req, &m.payload.state, sizeof(m.payload.state), NULL, 0);
}

/* SET_MEM_TABLE with one region backed by fd from offset 0. */
static inline void
vu_send_mem_table1(int sock, uint64_t gpa, uint64_t size, const void *uaddr, int fd)
{
	struct vu_msg m;

	memset(&m.payload.mem, 0, sizeof(m.payload.mem));
	m.payload.mem.nregions = 1;
	m.payload.mem.region[0] = (struct vu_region){
		.gpa = gpa, .size = size, .uaddr = (uintptr_t)uaddr,
	};
	vu_send(sock, VU_SET_MEM_TABLE, &m.payload.mem, sizeof(m.payload.mem), &fd, 1);
}

/*
 * One vring, as virtio_user sets it up: call fd, size, base (packed: the
 * avail wrap counter set), addresses (front-end virtual addresses inside
 * the shared region), kick fd, then enable.
 */
static inline void
vu_setup_vring(int sock, uint32_t index, uint32_t num, bool packed, const void *desc,
	       const void *avail, const void *used, int kickfd, int callfd)
{
	struct vu_vring_addr a = {
		.index = index, .desc = (uintptr_t)desc, .avail = (uintptr_t)avail,
		.used = (uintptr_t)used,
	};

	vu_send_u64(sock, VU_SET_VRING_CALL, index, callfd);
	vu_send_state(sock, VU_SET_VRING_NUM, index, num);
	vu_send_state(sock, VU_SET_VRING_BASE, index, packed ? VU_PACKED_WRAP : 0);
	vu_send(sock, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	vu_send_u64(sock, VU_SET_VRING_KICK, index, kickfd);
	vu_send_state(sock, VU_SET_VRING_ENABLE, index, 1);
}

#endif /* _DEVTOOLS_BENCH_VHOST_FE_H_ */

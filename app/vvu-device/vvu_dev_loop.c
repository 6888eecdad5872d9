/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device's single-threaded epoll loop.
 *
 * Callbacks may remove (and close) any fd, including ones whose events are
 * already in the current batch, and fd numbers get reused. Each watch
 * therefore carries a generation in the epoll cookie; an event whose
 * generation no longer matches its fd's slot is stale and skipped.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "vvu_device.h"

#define VVU_LOOP_BATCH	32

struct vvu_watch {
	vvu_dev_loop_cb cb;
	void *arg;
	uint32_t gen;
	bool used;
};

struct vvu_dev_loop {
	int epfd;
	struct vvu_watch *w;
	size_t nw;
	uint32_t gen;
};

struct vvu_dev_loop *
vvu_dev_loop_create(void)
{
	struct vvu_dev_loop *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	return l;
}

void
vvu_dev_loop_destroy(struct vvu_dev_loop *l)
{
	if (l == NULL)
		return;
	close(l->epfd);
	free(l->w);
	free(l);
}

int
vvu_dev_loop_fd(const struct vvu_dev_loop *l)
{
	return l->epfd;
}

static uint64_t
cookie(int fd, uint32_t gen)
{
	return (uint64_t)(uint32_t)fd | ((uint64_t)gen << 32);
}

int
vvu_dev_loop_add(struct vvu_dev_loop *l, int fd, uint32_t events, vvu_dev_loop_cb cb, void *arg)
{
	struct epoll_event ev = { .events = events };

	if (fd < 0)
		return -EBADF;
	if ((size_t)fd >= l->nw) {
		size_t n = (size_t)fd + 64;
		struct vvu_watch *w = realloc(l->w, n * sizeof(*w));

		if (w == NULL)
			return -ENOMEM;
		memset(w + l->nw, 0, (n - l->nw) * sizeof(*w));
		l->w = w;
		l->nw = n;
	}
	if (l->w[fd].used)
		return -EEXIST;
	l->gen++;
	ev.data.u64 = cookie(fd, l->gen);
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	l->w[fd] = (struct vvu_watch){ .cb = cb, .arg = arg, .gen = l->gen, .used = true };
	return 0;
}

int
vvu_dev_loop_mod(struct vvu_dev_loop *l, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events };

	if (fd < 0 || (size_t)fd >= l->nw || !l->w[fd].used)
		return -ENOENT;
	ev.data.u64 = cookie(fd, l->w[fd].gen);
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void
vvu_dev_loop_del(struct vvu_dev_loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->nw || !l->w[fd].used)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->w[fd].used = false;
}

int
vvu_dev_loop_run_once(struct vvu_dev_loop *l, int timeout_ms)
{
	struct epoll_event ev[VVU_LOOP_BATCH];
	int n, i;

	n = epoll_wait(l->epfd, ev, VVU_LOOP_BATCH, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		int fd = (int)(uint32_t)ev[i].data.u64;
		uint32_t gen = (uint32_t)(ev[i].data.u64 >> 32);
		struct vvu_watch *w;

		if ((size_t)fd >= l->nw)
			continue;
		w = &l->w[fd];
		if (!w->used || w->gen != gen)
			continue;
		w->cb(w->arg, ev[i].events);
	}
	return n;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control event loop: one epoll thread ("vhost-events") per process that
 * runs every transport's fd callbacks and timers.
 *
 * Removal is synchronous. vhost_event_del() and vhost_event_timer_cancel()
 * called from any other thread return only once the loop is not running, and
 * will never again run, a callback for what was removed; the caller may then
 * close the fd and free the callback argument. This is what lets
 * rte_vhost_driver_unregister() tear down live connections without the
 * retry loops DPDK's fdset needs. The price is the classic one: a thread
 * that waits in vhost_event_del() must not hold a lock that the callback it
 * waits for takes. Called on the loop thread (a callback removing its own
 * fd, or any other), removal is immediate and never waits.
 *
 * How: every watched fd has an entry with a unique 64-bit id, which is what
 * epoll carries (not a pointer, so an event reported for an entry removed
 * earlier in the same epoll_wait batch is simply not found, and a reused fd
 * number is never confused with its previous owner). The id is the fd in its
 * low 32 bits and a generation above, and the entries live in a table indexed
 * by fd, so finding the entry of an event is one array access and a compare,
 * whatever the number of ports (a list walk per event cost the loop a sixth
 * of its time at 128 ports; devtools/bench/scale.sh). The loop marks the
 * entry (or timer) it is about to run as "running" under loop.lock, runs it
 * unlocked, and broadcasts loop.done when it returns; removers wait on that.
 *
 * The thread is created on first use, with rte_ctrl_thread_create() when the
 * EAL is initialised (so it gets the control-thread CPU affinity), or a
 * plain pthread otherwise (unit tests, tools that use the library without
 * EAL). It lives as long as the process, like DPDK's fdset thread.
 */

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_lcore.h>
#include <rte_log.h>

#include "vhost.h"
#include "vhost_transport.h"

#define VHOST_LOOP_THREAD_NAME	"vhost-events"
#define VHOST_LOOP_MAX_EVENTS	32
/* epoll id of the internal wake-up eventfd; watched fds get ids from 1. */
#define VHOST_LOOP_WAKE_ID	0
#define VHOST_LOOP_FD_BITS	32	/* an id's low bits: the fd */
#define VHOST_LOOP_MIN_SLOTS	64

struct vhost_event {
	uint64_t id;
	int fd;
	vhost_event_cb cb;
	void *arg;
};

struct vhost_timer {
	TAILQ_ENTRY(vhost_timer) next;
	uint64_t deadline_ms;		/* CLOCK_MONOTONIC */
	void (*fn)(void *arg);
	void *arg;
};

TAILQ_HEAD(vhost_timer_list, vhost_timer);

static struct {
	pthread_mutex_t lock;		/* everything below */
	pthread_cond_t done;		/* a callback or timer returned */
	bool started;
	int epfd;
	int wakefd;
	pthread_t thread;
	uint64_t next_gen;		/* generation of the next entry, from 1 */
	struct vhost_event **by_fd;	/* entries indexed by fd, NULL if none */
	unsigned int nb_slots;		/* size of by_fd */
	struct vhost_timer_list timers;	/* sorted by deadline */
	uint64_t running_id;		/* entry whose callback runs, 0 if none */
	void (*running_fn)(void *arg);	/* timer that runs, NULL if none */
	void *running_arg;
} loop = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.done = PTHREAD_COND_INITIALIZER,
	.epfd = -1,
	.wakefd = -1,
	.next_gen = 1,	/* so no id is VHOST_LOOP_WAKE_ID */
	.timers = TAILQ_HEAD_INITIALIZER(loop.timers),
};

static uint64_t
vhost_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool
vhost_event_on_loop_thread(void)
{
	bool started;

	pthread_mutex_lock(&loop.lock);
	started = loop.started;
	pthread_mutex_unlock(&loop.lock);
	return started && pthread_equal(pthread_self(), loop.thread);
}

void
vhost_event_wake_from_signal(void)
{
	int fd = __atomic_load_n(&loop.wakefd, __ATOMIC_ACQUIRE);
	eventfd_t one = 1;

	/* write() is async-signal-safe; no loop yet means nothing to serve. */
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0)
		return;
}

static void
vhost_loop_wake(void)
{
	/* Only ever fails if the counter would overflow: it is then readable. */
	if (eventfd_write(loop.wakefd, 1) < 0)
		return;
}

/* Called with loop.lock held, as are the two below. */
static struct vhost_event *
vhost_event_find_fd(int fd)
{
	return fd >= 0 && (unsigned int)fd < loop.nb_slots ? loop.by_fd[fd] : NULL;
}

static struct vhost_event *
vhost_event_find_id(uint64_t id)
{
	struct vhost_event *ev = vhost_event_find_fd((int)(id & UINT32_MAX));

	return ev != NULL && ev->id == id ? ev : NULL;
}

/* Room in by_fd for fd; 0 or -ENOMEM. */
static int
vhost_event_slots_grow(int fd)
{
	unsigned int n = RTE_MAX(loop.nb_slots, (unsigned int)VHOST_LOOP_MIN_SLOTS);
	struct vhost_event **t;

	if ((unsigned int)fd < loop.nb_slots)
		return 0;
	while (n <= (unsigned int)fd)
		n *= 2;
	t = realloc(loop.by_fd, n * sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	memset(t + loop.nb_slots, 0, (n - loop.nb_slots) * sizeof(*t));
	loop.by_fd = t;
	loop.nb_slots = n;
	return 0;
}

/* Called with loop.lock held; returns the epoll timeout for the next timer. */
static int
vhost_loop_run_timers(void)
{
	struct vhost_timer *t;
	uint64_t now;

	while ((t = TAILQ_FIRST(&loop.timers)) != NULL) {
		now = vhost_now_ms();
		if (t->deadline_ms > now) {
			uint64_t wait = t->deadline_ms - now;

			return wait > INT32_MAX ? INT32_MAX : (int)wait;
		}
		TAILQ_REMOVE(&loop.timers, t, next);
		loop.running_fn = t->fn;
		loop.running_arg = t->arg;
		pthread_mutex_unlock(&loop.lock);
		t->fn(t->arg);
		free(t);
		pthread_mutex_lock(&loop.lock);
		loop.running_fn = NULL;
		loop.running_arg = NULL;
		pthread_cond_broadcast(&loop.done);
	}
	return -1;
}

static void
vhost_loop_dispatch(const struct epoll_event *e)
{
	struct vhost_event *ev;
	vhost_event_cb cb;
	void *arg;
	int fd;

	if (e->data.u64 == VHOST_LOOP_WAKE_ID) {
		eventfd_t v;

		/* Just a nudge to recompute the timeout. */
		if (eventfd_read(loop.wakefd, &v) < 0)
			return;
		return;
	}
	ev = vhost_event_find_id(e->data.u64);
	if (ev == NULL)
		return;		/* removed earlier in this batch */
	cb = ev->cb;
	arg = ev->arg;
	fd = ev->fd;
	loop.running_id = ev->id;
	pthread_mutex_unlock(&loop.lock);
	cb(fd, e->events, arg);
	pthread_mutex_lock(&loop.lock);
	loop.running_id = 0;
	pthread_cond_broadcast(&loop.done);
}

/* The loop never ends: the thread lives as long as the process. */
static void *
vhost_loop_main(void *arg)
{
	struct epoll_event evs[VHOST_LOOP_MAX_EVENTS];
	int timeout, n, i;

	pthread_mutex_lock(&loop.lock);
	for (;;) {
		timeout = vhost_loop_run_timers();
		pthread_mutex_unlock(&loop.lock);
		n = epoll_wait(loop.epfd, evs, VHOST_LOOP_MAX_EVENTS, timeout);
		pthread_mutex_lock(&loop.lock);
		if (n < 0) {
			if (errno != EINTR)
				VHOST_LOG_CONFIG("event", ERR, "epoll_wait: %s\n",
						 strerror(errno));
			continue;
		}
		for (i = 0; i < n; i++)
			vhost_loop_dispatch(&evs[i]);
		/* Connections whose memory vanished (vhost_guard.c). */
		pthread_mutex_unlock(&loop.lock);
		vhost_guard_service();
		pthread_mutex_lock(&loop.lock);
	}
	return NULL;
}

/* Called with loop.lock held. */
static int
vhost_loop_start(void)
{
	struct epoll_event e = { .events = EPOLLIN, .data.u64 = VHOST_LOOP_WAKE_ID };
	int ret;

	if (loop.started)
		return 0;
	loop.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop.epfd < 0)
		goto fail;
	loop.wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop.wakefd < 0)
		goto fail;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (epoll_ctl(loop.epfd, EPOLL_CTL_ADD, loop.wakefd, &e) < 0)
		goto fail;

	/* rte_lcore_count() is 0 until rte_eal_init() has run. */
	ret = -1;
	if (rte_lcore_count() > 0)
		ret = rte_ctrl_thread_create(&loop.thread, VHOST_LOOP_THREAD_NAME, NULL,
					     vhost_loop_main, NULL);
	if (ret != 0) {
		ret = pthread_create(&loop.thread, NULL, vhost_loop_main, NULL);
		if (ret != 0) {
			errno = ret;
			goto fail;
		}
		pthread_setname_np(loop.thread, VHOST_LOOP_THREAD_NAME);
	}
	loop.started = true;
	return 0;

fail:
	ret = -errno;
	VHOST_LOG_CONFIG("event", ERR, "cannot start the event loop: %s\n", strerror(errno));
	if (loop.wakefd >= 0)
		close(loop.wakefd);
	if (loop.epfd >= 0)
		close(loop.epfd);
	loop.wakefd = -1;
	loop.epfd = -1;
	return ret;
}

int
vhost_event_add(int fd, vhost_event_cb cb, void *arg)
{
	struct epoll_event e = { .events = EPOLLIN };
	struct vhost_event *ev;
	int ret;

	if (fd < 0 || cb == NULL)
		return -EINVAL;
	ev = calloc(1, sizeof(*ev));
	if (ev == NULL)
		return -ENOMEM;

	pthread_mutex_lock(&loop.lock);
	ret = vhost_loop_start();
	if (ret < 0)
		goto out;
	if (vhost_event_find_fd(fd) != NULL) {
		ret = -EEXIST;
		goto out;
	}
	ret = vhost_event_slots_grow(fd);
	if (ret < 0)
		goto out;
	ev->id = loop.next_gen++ << VHOST_LOOP_FD_BITS | (uint64_t)fd;
	ev->fd = fd;
	ev->cb = cb;
	ev->arg = arg;
	e.data.u64 = ev->id;
	if (epoll_ctl(loop.epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		ret = -errno;
		VHOST_LOG_CONFIG("event", ERR, "cannot watch fd %d: %s\n", fd, strerror(errno));
		goto out;
	}
	loop.by_fd[fd] = ev;
	ev = NULL;
out:
	pthread_mutex_unlock(&loop.lock);
	free(ev);
	return ret;
}

int
vhost_event_set(int fd, uint32_t events)
{
	struct epoll_event e = { .events = events };
	struct vhost_event *ev;
	int ret = 0;

	pthread_mutex_lock(&loop.lock);
	ev = vhost_event_find_fd(fd);
	if (ev == NULL) {
		ret = -ENOENT;
	} else {
		e.data.u64 = ev->id;
		if (epoll_ctl(loop.epfd, EPOLL_CTL_MOD, fd, &e) < 0)
			ret = -errno;
	}
	pthread_mutex_unlock(&loop.lock);
	return ret;
}

int
vhost_event_del(int fd)
{
	struct vhost_event *ev;
	uint64_t id;
	bool on_loop = vhost_event_on_loop_thread();

	pthread_mutex_lock(&loop.lock);
	ev = vhost_event_find_fd(fd);
	if (ev == NULL) {
		pthread_mutex_unlock(&loop.lock);
		return -ENOENT;
	}
	id = ev->id;
	/* The fd may already be closed by a careless caller: ignore errors. */
	epoll_ctl(loop.epfd, EPOLL_CTL_DEL, fd, NULL);
	loop.by_fd[fd] = NULL;
	free(ev);
	while (!on_loop && loop.running_id == id)
		pthread_cond_wait(&loop.done, &loop.lock);
	pthread_mutex_unlock(&loop.lock);
	return 0;
}

int
vhost_event_timer(unsigned int delay_ms, void (*fn)(void *arg), void *arg)
{
	struct vhost_timer *t, *pos;
	int ret;

	if (fn == NULL)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	t->fn = fn;
	t->arg = arg;
	t->deadline_ms = vhost_now_ms() + delay_ms;

	pthread_mutex_lock(&loop.lock);
	ret = vhost_loop_start();
	if (ret < 0) {
		pthread_mutex_unlock(&loop.lock);
		free(t);
		return ret;
	}
	TAILQ_FOREACH(pos, &loop.timers, next)
		if (pos->deadline_ms > t->deadline_ms)
			break;
	if (pos != NULL)
		TAILQ_INSERT_BEFORE(pos, t, next);
	else
		TAILQ_INSERT_TAIL(&loop.timers, t, next);
	/* The loop may be sleeping on a later deadline. */
	if (TAILQ_FIRST(&loop.timers) == t)
		vhost_loop_wake();
	pthread_mutex_unlock(&loop.lock);
	return 0;
}

void
vhost_event_timer_cancel(void (*fn)(void *arg), void *arg)
{
	struct vhost_timer *t, *tmp;
	bool on_loop = vhost_event_on_loop_thread();

	pthread_mutex_lock(&loop.lock);
	for (t = TAILQ_FIRST(&loop.timers); t != NULL; t = tmp) {
		tmp = TAILQ_NEXT(t, next);
		if (t->fn == fn && t->arg == arg) {
			TAILQ_REMOVE(&loop.timers, t, next);
			free(t);
		}
	}
	while (!on_loop && loop.running_fn == fn && loop.running_arg == arg)
		pthread_cond_wait(&loop.done, &loop.lock);
	pthread_mutex_unlock(&loop.lock);
}

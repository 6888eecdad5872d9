/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Surviving a front-end that shrinks memory it shared with us.
 *
 * A mapping does not pin the size of the file behind it. A front-end can
 * share a memfd (its memory, the dirty log, the inflight area, a VVU BAR2
 * window) and then ftruncate() it: our next load or store in the lost part
 * raises SIGBUS, which by default kills the process and every other
 * front-end's port with it. No check made before an access can close that
 * race, and the data path must not pay for one anyway.
 *
 * So the fault is caught instead. Every mapping of front-end memory is
 * registered here (vhost_guard_add) with the vid of its connection. On
 * SIGBUS at an address inside a registered mapping, the handler:
 *  - maps anonymous zero pages over the whole mapping (MAP_FIXED), so the
 *    faulting access, when the kernel restarts it, and every later one,
 *    reads zeroes and writes into memory nobody else sees: the data path
 *    already treats whatever the front-end's memory holds as hostile, so
 *    zeroes are just one more hostile value;
 *  - marks the mapping faulted and wakes the event loop, which then ends
 *    that connection (vhost_dev_disconnect, from vhost_guard_service) and
 *    the application gets destroy_device as for any departure.
 * The process and every other connection keep running. Nothing is added to
 * the data path: the cost is one sigaction at the first mapping and a
 * table update per mapping.
 *
 * A SIGBUS anywhere else is not ours: it goes to the handler that was
 * installed before ours (an application's, chained to with its own flags),
 * or, if there was none, takes its default action (the process dies, as it
 * would without this library). An application that installs its own SIGBUS
 * handler should do so before the library maps its first front-end memory;
 * one installed later replaces ours, and front-end faults then reach it.
 *
 * The handler only reads the table (atomic loads) and makes async-signal-
 * safe system calls (mmap, and the loop's wake-up write). Writers take a mutex. A mapping leaves
 * the table before it is unmapped; the library unmaps front-end memory only
 * with no burst running on it (all vq locks, or a stopped device), so no
 * fault can race with the removal, and MAP_FIXED can only ever land on a
 * range we still own.
 */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vhost.h"
#include "vhost_transport.h"

/* Front-end mappings at once, process-wide: regions, logs, inflight areas. */
#define VHOST_GUARD_SLOTS	4096

struct vhost_guard_slot {
	uintptr_t start;	/* 0: free */
	uintptr_t end;		/* published last (release), cleared first */
	int vid;
	uint32_t faulted;	/* set by the handler, taken by the loop */
};

static struct vhost_guard_slot vhost_guard_slots[VHOST_GUARD_SLOTS];
static pthread_mutex_t vhost_guard_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction vhost_guard_prev;	/* what we chain to */
static bool vhost_guard_installed;
static uint32_t vhost_guard_pending;		/* a slot is faulted */
static uint64_t vhost_guard_faults;

/* Chain to the handler installed before ours, as it asked to be called. */
static void
vhost_guard_chain(int sig, siginfo_t *si, void *uctx)
{
	const struct sigaction *prev = &vhost_guard_prev;

	if (prev->sa_flags & SA_SIGINFO) {
		prev->sa_sigaction(sig, si, uctx);
		return;
	}
	if (prev->sa_handler == SIG_IGN)
		return;	/* it would fault again and again: ignored as asked */
	if (prev->sa_handler == SIG_DFL) {
		/* Restarting the access faults again, now with the default action. */
		signal(sig, SIG_DFL);
		return;
	}
	prev->sa_handler(sig);
}

static void
vhost_guard_handler(int sig, siginfo_t *si, void *uctx)
{
	uintptr_t addr = (uintptr_t)si->si_addr;
	unsigned int i;

	for (i = 0; i < VHOST_GUARD_SLOTS; i++) {
		struct vhost_guard_slot *s = &vhost_guard_slots[i];
		uintptr_t end = __atomic_load_n(&s->end, __ATOMIC_ACQUIRE);
		uintptr_t start = __atomic_load_n(&s->start, __ATOMIC_RELAXED);

		if (end == 0 || addr < start || addr >= end)
			continue;
		if (mmap((void *)start, end - start, PROT_READ | PROT_WRITE,
			 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
			break;	/* cannot contain it: let it take its course */
		__atomic_store_n(&s->faulted, 1, __ATOMIC_RELEASE);
		__atomic_store_n(&vhost_guard_pending, 1, __ATOMIC_RELEASE);
		__atomic_fetch_add(&vhost_guard_faults, 1, __ATOMIC_RELAXED);
		vhost_event_wake_from_signal();
		return;
	}
	vhost_guard_chain(sig, si, uctx);
}

void
vhost_guard_service(void)
{
	unsigned int i;

	if (!__atomic_exchange_n(&vhost_guard_pending, 0, __ATOMIC_ACQ_REL))
		return;
	for (i = 0; i < VHOST_GUARD_SLOTS; i++) {
		struct vhost_guard_slot *s = &vhost_guard_slots[i];
		struct vhost_dev *dev;

		if (!__atomic_exchange_n(&s->faulted, 0, __ATOMIC_ACQ_REL))
			continue;
		dev = vhost_dev_lookup(s->vid);
		if (dev == NULL)
			continue;
		VHOST_LOG_CONFIG(dev->ifname, ERR, "the front-end shrank memory it shared "
				 "(SIGBUS contained): closing the connection\n");
		vhost_dev_disconnect(dev);
	}
}

/* Called with vhost_guard_lock held. */
static int
vhost_guard_install(void)
{
	struct sigaction sa;

	if (vhost_guard_installed)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = vhost_guard_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &vhost_guard_prev) < 0)
		return -errno;
	vhost_guard_installed = true;
	return 0;
}

int
vhost_guard_add(void *addr, size_t len, int vid)
{
	uintptr_t start = (uintptr_t)addr;
	unsigned int i;
	int ret;

	if (addr == NULL || len == 0 || start + len < start)
		return -EINVAL;
	pthread_mutex_lock(&vhost_guard_lock);
	ret = vhost_guard_install();
	if (ret < 0) {
		pthread_mutex_unlock(&vhost_guard_lock);
		VHOST_LOG_CONFIG("guard", ERR, "cannot guard front-end memory: %s\n",
				 strerror(-ret));
		return ret;
	}
	for (i = 0; i < VHOST_GUARD_SLOTS; i++) {
		struct vhost_guard_slot *s = &vhost_guard_slots[i];

		if (s->start != 0)
			continue;
		s->vid = vid;
		__atomic_store_n(&s->faulted, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&s->start, start, __ATOMIC_RELAXED);
		__atomic_store_n(&s->end, start + len, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&vhost_guard_lock);
		return 0;
	}
	pthread_mutex_unlock(&vhost_guard_lock);
	VHOST_LOG_CONFIG("guard", ERR, "all %d guarded mappings in use\n", VHOST_GUARD_SLOTS);
	return -ENOSPC;
}

void
vhost_guard_del(void *addr)
{
	uintptr_t start = (uintptr_t)addr;
	unsigned int i;

	if (addr == NULL)
		return;
	pthread_mutex_lock(&vhost_guard_lock);
	for (i = 0; i < VHOST_GUARD_SLOTS; i++) {
		struct vhost_guard_slot *s = &vhost_guard_slots[i];

		if (s->start != start)
			continue;
		__atomic_store_n(&s->end, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&s->start, 0, __ATOMIC_RELAXED);
		break;
	}
	pthread_mutex_unlock(&vhost_guard_lock);
}

uint64_t
vhost_guard_fault_count(void)
{
	return __atomic_load_n(&vhost_guard_faults, __ATOMIC_RELAXED);
}

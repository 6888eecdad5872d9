/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The driver's DMA windows: each vfio-user DMA_MAP comes with an fd that we
 * mmap; the device touches the rxq/txq rings and buffers only through
 * vvu_dev_dma_translate(), which refuses any range not wholly inside one window
 * with the right permission.
 *
 * Windows never overlap (a map over an existing one is refused with EEXIST,
 * as the vfio-user spec asks), so a range is inside at most one of them.
 *
 * The driver still owns the files behind the windows and may shrink them
 * at any time; the SIGBUS guard at the end of this file turns the fault an
 * access then takes into an error (see vvu_dev_dma_guarded() in vvu_device.h).
 */

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "vvu_device.h"

/* Mapping granule of fd: hugetlbfs files report their page size here. */
static uint64_t
fd_granule(const struct stat *st)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t blk = (uint64_t)st->st_blksize;

	if (blk > page && blk <= (1ULL << 30) && (blk & (blk - 1)) == 0)
		return blk;
	return page;
}

static bool
overlaps(const struct vvu_dev_dma_region *r, uint64_t iova, uint64_t size)
{
	return iova < r->iova + r->size && r->iova < iova + size;
}

int
vvu_dev_dma_map(struct vvu_dev_dma *dma, int fd, uint64_t fd_offset, uint64_t iova,
	    uint64_t size, uint32_t prot)
{
	struct vvu_dev_dma_region *r;
	struct stat st;
	uint64_t gran, delta, len;
	unsigned int i;
	void *base;
	int mprot = 0;

	if (fd < 0)
		return -EINVAL;	/* no fd-less DMA: no DMA_READ/WRITE path */
	if (size == 0 || iova + size < iova || fd_offset + size < fd_offset ||
	    (prot & ~(VVU_DMA_READ | VVU_DMA_WRITE)) != 0 || prot == 0)
		return -EINVAL;
	for (i = 0; i < dma->nr; i++)
		if (overlaps(&dma->regions[i], iova, size))
			return -EEXIST;
	if (dma->nr >= VVU_DMA_MAX_REGIONS)
		return -ENOSPC;
	if (fstat(fd, &st) < 0)
		goto einval;
	/* a window past the end of a file would SIGBUS us on first touch */
	if (S_ISREG(st.st_mode) && fd_offset + size > (uint64_t)st.st_size)
		goto einval;
	if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
		goto einval;
	gran = fd_granule(&st);
	delta = fd_offset % gran;
	len = (size + delta + gran - 1) / gran * gran;
	if (len < size || len > SIZE_MAX)
		goto einval;
	if (prot & VVU_DMA_READ)
		mprot |= PROT_READ;
	if (prot & VVU_DMA_WRITE)
		mprot |= PROT_WRITE | PROT_READ;
	base = mmap(NULL, (size_t)len, mprot, MAP_SHARED, fd, (off_t)(fd_offset - delta));
	if (base == MAP_FAILED)
		return -errno;
	madvise(base, (size_t)len, MADV_DONTDUMP);
	if (dma->regions == NULL) {
		dma->regions = calloc(VVU_DMA_MAX_REGIONS, sizeof(*dma->regions));
		if (dma->regions == NULL) {
			munmap(base, (size_t)len);
			return -ENOMEM;	/* fd stays the caller's */
		}
	}
	r = &dma->regions[dma->nr++];
	r->iova = iova;
	r->size = size;
	r->map_base = base;
	r->map_len = (size_t)len;
	r->va = (uint8_t *)base + delta;
	r->prot = prot;
	/* the mapping keeps the file; the fd itself is no longer needed */
	close(fd);
	return 0;
einval:
	return -EINVAL;
}

int
vvu_dev_dma_unmap(struct vvu_dev_dma *dma, uint64_t iova, uint64_t size)
{
	unsigned int i;

	for (i = 0; i < dma->nr; i++) {
		struct vvu_dev_dma_region *r = &dma->regions[i];

		/* vfio-user: (addr, size) must match a previous map exactly */
		if (r->iova != iova || r->size != size)
			continue;
		munmap(r->map_base, r->map_len);
		dma->regions[i] = dma->regions[--dma->nr];
		return 0;
	}
	return -ENOENT;
}

void
vvu_dev_dma_unmap_all(struct vvu_dev_dma *dma)
{
	while (dma->nr > 0) {
		struct vvu_dev_dma_region *r = &dma->regions[--dma->nr];

		munmap(r->map_base, r->map_len);
	}
}

void *
vvu_dev_dma_translate(const struct vvu_dev_dma *dma, uint64_t iova, uint64_t len,
		  uint32_t access)
{
	unsigned int i;

	if (len == 0 || iova + len < iova)
		return NULL;
	for (i = 0; i < dma->nr; i++) {
		const struct vvu_dev_dma_region *r = &dma->regions[i];

		if (iova < r->iova || iova - r->iova > r->size ||
		    len > r->size - (iova - r->iova))
			continue;
		if ((r->prot & access) != access)
			return NULL;
		return r->va + (iova - r->iova);
	}
	return NULL;
}

/*
 * SIGBUS guard (see vvu_device.h). One guard per thread: the device is
 * single-threaded, but thread-local state keeps a second thread (a test)
 * from jumping into the wrong stack.
 */
struct vvu_dev_dma_guard {
	sigjmp_buf env;
	const struct vvu_dev_dma *dma;
	volatile sig_atomic_t armed;
};

static _Thread_local struct vvu_dev_dma_guard guard;
static _Thread_local uint64_t guard_faults;
static struct sigaction old_sigbus;
static bool guard_installed;

/* Whether addr lies in one of the mappings (whole pages) of dma. */
static bool
in_mappings(const struct vvu_dev_dma *dma, const void *addr)
{
	const uint8_t *a = addr;
	unsigned int i;

	for (i = 0; i < dma->nr; i++) {
		const uint8_t *lo = dma->regions[i].map_base;

		if (a >= lo && a < lo + dma->regions[i].map_len)
			return true;
	}
	return false;
}

static void
sigbus_handler(int sig, siginfo_t *si, void *uctx)
{
	/* si_code > 0: raised by the kernel for an access, not kill() */
	if (guard.armed && si->si_code > 0 && in_mappings(guard.dma, si->si_addr)) {
		guard.armed = 0;
		siglongjmp(guard.env, 1);
	}
	/*
	 * Not a DMA access: give the fault back to whoever had it before
	 * (default action or a sanitizer). Returning re-executes the access,
	 * which faults again under the old disposition; a sent signal is
	 * raised again by hand.
	 */
	sigaction(SIGBUS, &old_sigbus, NULL);
	if (si->si_code <= 0)
		raise(sig);
}

int
vvu_dev_dma_guard_init(void)
{
	struct sigaction sa;

	if (guard_installed)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigbus_handler;
	/*
	 * SA_NODEFER: SIGBUS stays unblocked in the handler, so the jump out
	 * of it needs no mask restore, and sigsetjmp() no rt_sigprocmask call
	 * per guarded access (five per forwarded message). sa_mask must
	 * stay empty: what it blocked would stay blocked after the jump.
	 */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &old_sigbus) < 0)
		return -errno;
	guard_installed = true;
	return 0;
}

int
vvu_dev_dma_guarded(const struct vvu_dev_dma *dma, int (*fn)(void *arg), void *arg)
{
	int ret;

	/* nested or before init: the outer guard (or nothing) applies */
	if (guard.armed || !guard_installed)
		return fn(arg);
	/* savemask 0: the handler runs with SIGBUS unblocked (SA_NODEFER) */
	if (sigsetjmp(guard.env, 0) != 0) {
		guard_faults++;
		return -EIO;
	}
	guard.dma = dma;
	guard.armed = 1;
	/* keep the compiler from moving DMA accesses out of the armed window */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	ret = fn(arg);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	guard.armed = 0;
	return ret;
}

uint64_t
vvu_dev_dma_faults(void)
{
	return guard_faults;
}

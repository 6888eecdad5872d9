/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * BAR2 windows over the front-end's memory (vvu_device_spec.rst §L.8, phase 1).
 *
 * Region i of SET_MEM_TABLE sits at BAR2 offset sum(memory_size_j, j < i)
 * and shows fd_i bytes [mmap_offset_i, mmap_offset_i + memory_size_i). The
 * device itself never maps these fds; it only hands them to the vfio-user
 * client as sparse mmap areas. It does check that each window lies inside
 * its file, because a client mapping past the end would fault on access.
 *
 * A carrier that cannot hand out fds (vfio-user REGION_READ/WRITE, every
 * access of QEMU's proxy protocol) reaches the windows through
 * vvu_dev_bar2_rw(): pread/pwrite at the window's file offset, so the
 * device maps nothing, and a front-end that shrinks its file turns an
 * access into an error instead of a SIGBUS. hugetlbfs files (a DPDK or
 * QEMU front-end with hugepages) take no write(): those are reached through
 * one mapped granule at a time, cached per window, every copy made under
 * the SIGBUS guard (vvu_dev_dma_guarded), so a shrunk file is an error too.
 */

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "vvu_device.h"

uint64_t
vvu_dev_next_pow2(uint64_t v)
{
	uint64_t p = 1;

	while (p < v && p != 0)
		p <<= 1;
	return p;
}

static void
window_uncache(struct vvu_dev_window *w)
{
	if (w->cache_map != NULL)
		munmap(w->cache_map, w->cache_len);
	w->cache_map = NULL;
	w->cache_len = 0;
}

void
vvu_dev_bar2_clear(struct vvu_dev_bar2 *bar2)
{
	unsigned int i;

	for (i = 0; i < bar2->nr; i++) {
		window_uncache(&bar2->win[i]);
		if (bar2->win[i].fd >= 0)
			close(bar2->win[i].fd);
	}
	bar2->nr = 0;
	bar2->used = 0;
	bar2->generation++;
}

/* Bytes [off, off+size) must exist in fd when it is a regular file. */
static int
check_fd_range(int fd, uint64_t off, uint64_t size)
{
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -EBADF;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (off + size > (uint64_t)st.st_size)
		return -EINVAL;
	return 0;
}

int
vvu_dev_bar2_place(struct vvu_dev_bar2 *bar2, uint64_t bar_size,
	       const struct vhost_user_memory *mem, int *fds, int nr_fds,
	       uint64_t *needed)
{
	uint64_t total = 0;
	uint32_t i, n = mem->nregions;

	*needed = 0;
	if (n == 0 || n > VHOST_USER_MEMORY_MAX_NREGIONS || (uint32_t)nr_fds != n)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		const struct vhost_user_mem_region *r = &mem->regions[i];

		if (r->memory_size == 0 || r->memory_size % VVU_PAGE_SIZE != 0 ||
		    r->mmap_offset % VVU_PAGE_SIZE != 0)
			return -EINVAL;
		if (r->mmap_offset + r->memory_size < r->mmap_offset)
			return -EINVAL;
		if (total + r->memory_size < total)
			return -EINVAL;
		total += r->memory_size;
	}
	if (total > bar_size) {
		*needed = vvu_dev_next_pow2(total);
		return -ENOSPC;
	}
	for (i = 0; i < n; i++)
		if (check_fd_range(fds[i], mem->regions[i].mmap_offset,
				   mem->regions[i].memory_size) < 0)
			return -EINVAL;
	/* a new table replaces the whole layout */
	vvu_dev_bar2_clear(bar2);
	total = 0;
	for (i = 0; i < n; i++) {
		struct vvu_dev_window *w = &bar2->win[i];

		w->fd = fds[i];
		fds[i] = -1;
		w->cache_map = NULL;
		w->cache_len = 0;
		w->fd_offset = mem->regions[i].mmap_offset;
		w->size = mem->regions[i].memory_size;
		w->bar_offset = total;
		total += w->size;
	}
	bar2->nr = n;
	bar2->used = total;
	return 0;
}

struct bar2_copy {
	uint8_t *mem;
	uint8_t *buf;
	size_t len;
	bool write;
};

static int
bar2_copy_fn(void *arg)
{
	struct bar2_copy *c = arg;

	if (c->write)
		memcpy(c->mem, c->buf, c->len);
	else
		memcpy(c->buf, c->mem, c->len);
	return 0;
}

/*
 * [at, at + len) of w's file through mappings of the granules holding it,
 * one at a time (the last one stays cached). 0, or -EIO when the file
 * lost that part.
 */
static int
window_mapped_rw(struct vvu_dev_window *w, uint64_t at, uint8_t *buf, size_t len, bool write)
{
	struct vvu_dev_dma_region r;
	struct vvu_dev_dma view = { .regions = &r, .nr = 1 };
	struct bar2_copy c;
	struct stat st;
	uint64_t gran;

	if (fstat(w->fd, &st) < 0)
		return -EIO;
	gran = (uint64_t)st.st_blksize;
	if (gran < VVU_PAGE_SIZE || (gran & (gran - 1)) != 0 || gran > (1ULL << 30))
		gran = VVU_PAGE_SIZE;
	while (len > 0) {
		uint64_t base = at & ~(gran - 1);
		size_t n = len < base + gran - at ? len : (size_t)(base + gran - at);

		if (w->cache_map == NULL || w->cache_off != base) {
			void *p;

			window_uncache(w);
			/*
			 * Mapping past the end would grow a hugetlbfs file
			 * (allocating pages for the front-end) rather than fail.
			 */
			if (fstat(w->fd, &st) < 0 || base + gran > (uint64_t)st.st_size)
				return -EIO;
			p = mmap(NULL, gran, PROT_READ | PROT_WRITE, MAP_SHARED, w->fd,
				 (off_t)base);
			if (p == MAP_FAILED)
				return -EIO;
			w->cache_map = p;
			w->cache_len = gran;
			w->cache_off = base;
		}
		memset(&r, 0, sizeof(r));
		r.va = w->cache_map;
		r.map_base = w->cache_map;
		r.map_len = w->cache_len;
		r.size = w->cache_len;
		c.mem = (uint8_t *)w->cache_map + (at - base);
		c.buf = buf;
		c.len = n;
		c.write = write;
		if (vvu_dev_dma_guarded(&view, bar2_copy_fn, &c) < 0) {
			window_uncache(w);	/* the file shrank under it */
			return -EIO;
		}
		at += n;
		buf += n;
		len -= n;
	}
	return 0;
}

int
vvu_dev_bar2_rw(struct vvu_dev_bar2 *bar2, uint64_t off, void *buf, uint32_t count,
		bool write)
{
	unsigned int i;

	if (off + count < off)
		return -EINVAL;
	/* bytes outside every window read as 0 and ignore writes */
	if (!write)
		memset(buf, 0, count);
	for (i = 0; i < bar2->nr; i++) {
		struct vvu_dev_window *w = &bar2->win[i];
		uint64_t lo = off > w->bar_offset ? off : w->bar_offset;
		uint64_t hi = off + count < w->bar_offset + w->size ?
			off + count : w->bar_offset + w->size;
		uint8_t *b;
		off_t at;
		ssize_t n;

		if (lo >= hi)
			continue;
		at = (off_t)(w->fd_offset + lo - w->bar_offset);
		b = (uint8_t *)buf + (lo - off);
		if (w->cache_map == NULL) {
			if (write)
				n = pwrite(w->fd, b, hi - lo, at);
			else
				n = pread(w->fd, b, hi - lo, at);
			if (n == (ssize_t)(hi - lo))
				continue;
			/* hugetlbfs refuses write(): map it instead (below) */
			if (n >= 0 || errno != EINVAL)
				return -EIO;
		}
		if (window_mapped_rw(w, (uint64_t)at, b, hi - lo, write) < 0)
			return -EIO;
	}
	return 0;
}

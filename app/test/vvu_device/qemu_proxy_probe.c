/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Runs inside a QEMU 7.2 guest (qemu_proxy_smoke.sh builds it static into a
 * busybox initramfs): finds the VVU device behind x-pci-proxy-dev in sysfs
 * and shows that every layer answers:
 *
 * 1. config space (identity, capability chain, the proxy layout's BARs, pin
 *    and lack of MSI-X) through the proxy's CFG_READ;
 * 2. BAR0 registers through BAR_READ/BAR_WRITE on an mmap of resource0;
 * 3. a polling driver: rxq and txq in this process's locked pages, given to
 *    the device by guest-physical address (from /proc/self/pagemap; the
 *    device reaches them through SYNC_SYSMEM), DRIVER_OK and BACKEND_UP.
 *    The launcher's front-end then sends GET_FEATURES (answered on txq)
 *    and SET_MEM_TABLE, after which BAR2 (resource2) shows the front-end's
 *    memory: the probe prints what it reads there and writes a mark back.
 *
 * Only libc and the kernel's uapi headers: no project header exists in the
 * guest. Prints "VVU-PROBE: PASS" or "VVU-PROBE: FAIL <why>" last.
 */

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#define SYS_PCI		"/sys/bus/pci/devices"
#define BAR0_SIZE	0x10000
#define COMMON_NUMQ	0x12	/* virtio common cfg: num_queues */
#define COMMON_STATUS	0x14	/* virtio common cfg: device_status */
#define DEVCFG		0x2000	/* VVU device cfg: le32 status */
#define DEVCFG_MAXQ	0x2004	/* VVU device cfg: max_vhost_queues */
#define NOTIFY		0x3000	/* queue q's doorbell at + 4q */
#define BACKEND_UP	1u
#define FRONTEND_UP	2u
#define QSZ		8
#define BUF_LEN		1024
#define PAGE		4096
#define WAIT_S		120
#define BAR2_MAP	(1u << 20)
/* vhost-user: 12-byte header, GET_FEATURES 1, SET_MEM_TABLE 5, reply flag */
#define VU_HDR		12
#define VU_GET_FEATURES	1
#define VU_SET_MEM_TABLE 5
#define VU_REPLY	0x4u
#define VU_VERSION	0x1u

static int failures;

static void
check(int ok, const char *what)
{
	if (!ok) {
		printf("VVU-PROBE: check failed: %s\n", what);
		failures++;
	}
}

static unsigned long
read_hex(const char *dir, const char *name)
{
	char path[512], buf[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (f == NULL)
		return ~0UL;
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	return strtoul(buf, NULL, 16);
}

/* The first function with vendor 0x1af4 and a device id in 0x1040..0x107f. */
static int
find_device(char *dir, size_t len)
{
	struct dirent *e;
	DIR *d = opendir(SYS_PCI);

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		unsigned long vendor, device;

		if (e->d_name[0] == '.')
			continue;
		snprintf(dir, len, "%s/%s", SYS_PCI, e->d_name);
		vendor = read_hex(dir, "vendor");
		device = read_hex(dir, "device");
		if (vendor == 0x1af4 && device >= 0x1040 && device <= 0x107f) {
			closedir(d);
			return 0;
		}
	}
	closedir(d);
	return -1;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		(uint32_t)p[3] << 24;
}

static uint64_t
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

/* Guest-physical address of a locked, touched page of ours; 0 if unknown. */
static uint64_t
phys_of(const void *va)
{
	uint64_t e = 0;
	off_t at = (off_t)((uintptr_t)va / PAGE * sizeof(e));
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &e, sizeof(e), at) != (ssize_t)sizeof(e))
		e = 0;
	close(fd);
	if (!(e & (1ULL << 63)))
		return 0;
	return (e & ((1ULL << 55) - 1)) * PAGE + (uintptr_t)va % PAGE;
}

struct ring {
	uint8_t *page;		/* desc at 0, avail at 0x400, used at 0x800 */
	uint64_t pa;
	uint16_t avail_idx;
};

static void
wr16(volatile uint8_t *bar0, uint32_t off, uint16_t v)
{
	*(volatile uint16_t *)(bar0 + off) = v;
}

static void
wr32(volatile uint8_t *bar0, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(bar0 + off) = v;
}

static uint32_t
rd32(volatile uint8_t *bar0, uint32_t off)
{
	return *(volatile uint32_t *)(bar0 + off);
}

static void
ring_setup(volatile uint8_t *bar0, uint16_t q, struct ring *r)
{
	wr16(bar0, VIRTIO_PCI_COMMON_Q_SELECT, q);
	wr16(bar0, VIRTIO_PCI_COMMON_Q_SIZE, QSZ);
	wr32(bar0, VIRTIO_PCI_COMMON_Q_DESCLO, (uint32_t)r->pa);
	wr32(bar0, VIRTIO_PCI_COMMON_Q_DESCHI, (uint32_t)(r->pa >> 32));
	wr32(bar0, VIRTIO_PCI_COMMON_Q_AVAILLO, (uint32_t)(r->pa + 0x400));
	wr32(bar0, VIRTIO_PCI_COMMON_Q_AVAILHI, (uint32_t)((r->pa + 0x400) >> 32));
	wr32(bar0, VIRTIO_PCI_COMMON_Q_USEDLO, (uint32_t)(r->pa + 0x800));
	wr32(bar0, VIRTIO_PCI_COMMON_Q_USEDHI, (uint32_t)((r->pa + 0x800) >> 32));
	wr16(bar0, VIRTIO_PCI_COMMON_Q_ENABLE, 1);
}

static void
ring_post(struct ring *r, uint16_t id, uint64_t pa, uint32_t len, uint16_t flags)
{
	struct vring_desc *d = (struct vring_desc *)(void *)r->page;
	volatile uint16_t *avail = (volatile uint16_t *)(void *)(r->page + 0x400);

	d[id].addr = pa;
	d[id].len = len;
	d[id].flags = flags;
	d[id].next = 0;
	avail[2 + r->avail_idx % QSZ] = id;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	avail[1] = ++r->avail_idx;
}

static uint16_t
ring_used_idx(const struct ring *r)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return *(volatile uint16_t *)(void *)(r->page + 0x800 + 2);
}

/* Wait for used entry n of r; its id, or -1 after WAIT_S seconds. */
static int
ring_wait(const struct ring *r, uint16_t n, uint32_t *len)
{
	const struct vring_used_elem *u = (const void *)(r->page + 0x800 + 4);
	uint64_t end = now_s() + WAIT_S;

	while ((uint16_t)(ring_used_idx(r) - n) == 0 || ring_used_idx(r) < n + 1) {
		if (now_s() > end)
			return -1;
		usleep(1000);
	}
	*len = u[n % QSZ].len;
	return (int)u[n % QSZ].id;
}

/*
 * Phase 3: a polling driver with rings in guest RAM, a front-end's message
 * in, a reply out, then BAR2 showing the front-end's memory.
 */
static void
rings_phase(volatile uint8_t *bar0, const char *dir)
{
	uint8_t *mem = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
	struct ring rx, tx;
	uint64_t buf_pa[2], end;
	uint32_t len, feat_hi = 1;	/* VIRTIO_F_VERSION_1, bit 32 */
	uint8_t msg[64];
	char path[600];
	int id, i, fd;

	if (mem == MAP_FAILED) {
		check(0, "locked ring memory");
		return;
	}
	memset(mem, 0, 4 * PAGE);
	rx = (struct ring){ .page = mem, .pa = phys_of(mem) };
	tx = (struct ring){ .page = mem + PAGE, .pa = phys_of(mem + PAGE) };
	buf_pa[0] = phys_of(mem + 2 * PAGE);	/* rx buffers 0..3 */
	buf_pa[1] = phys_of(mem + 3 * PAGE);	/* the tx buffer */
	if (rx.pa == 0 || tx.pa == 0 || buf_pa[0] == 0 || buf_pa[1] == 0) {
		check(0, "guest-physical addresses from /proc/self/pagemap");
		return;
	}
	printf("VVU-PROBE: rings at guest-physical %#llx (rxq) %#llx (txq)\n",
	       (unsigned long long)rx.pa, (unsigned long long)tx.pa);
	bar0[COMMON_STATUS] = 0;
	bar0[COMMON_STATUS] = 3;
	wr32(bar0, VIRTIO_PCI_COMMON_GFSELECT, 1);
	wr32(bar0, VIRTIO_PCI_COMMON_GF, feat_hi);
	bar0[COMMON_STATUS] = 0xb;
	check(bar0[COMMON_STATUS] == 0xb, "FEATURES_OK sticks");
	ring_setup(bar0, 0, &rx);
	ring_setup(bar0, 1, &tx);
	for (i = 0; i < 4; i++)
		ring_post(&rx, (uint16_t)i, buf_pa[0] + (uint64_t)i * BUF_LEN, BUF_LEN,
			  VRING_DESC_F_WRITE);
	bar0[COMMON_STATUS] = 0xf;
	wr32(bar0, DEVCFG, BACKEND_UP);
	printf("VVU-PROBE: backend up\n");
	fflush(stdout);
	/* no interrupts in the proxy layout: poll */
	end = now_s() + WAIT_S;
	while (!(rd32(bar0, DEVCFG) & FRONTEND_UP) && now_s() < end)
		usleep(1000);
	check(rd32(bar0, DEVCFG) & FRONTEND_UP, "FRONTEND_UP");
	id = ring_wait(&rx, 0, &len);
	if (id < 0 || id >= 4 || len < VU_HDR) {
		check(0, "a front-end message on rxq");
		return;
	}
	memcpy(msg, mem + 2 * PAGE + id * BUF_LEN, VU_HDR);
	printf("VVU-PROBE: rxq message: request %u flags %#x size %u (%u bytes)\n",
	       get32(msg), get32(msg + 4), get32(msg + 8), len);
	check(get32(msg) == VU_GET_FEATURES, "GET_FEATURES first");
	/* the reply on txq: VERSION_1 */
	{
		uint8_t *b = mem + 3 * PAGE;
		uint64_t features = 1ULL << 32;

		memset(b, 0, 32);
		memcpy(b, (uint32_t[]){ VU_GET_FEATURES, VU_VERSION | VU_REPLY, 8 }, VU_HDR);
		memcpy(b + VU_HDR, &features, 8);
		ring_post(&tx, 0, buf_pa[1], VU_HDR + 8, 0);
		wr16(bar0, NOTIFY + 4, 1);
		id = ring_wait(&tx, 0, &len);
		check(id == 0, "txq reply used");
		printf("VVU-PROBE: txq reply used: %s\n", id == 0 ? "yes" : "no");
	}
	id = ring_wait(&rx, 1, &len);
	if (id < 0 || id >= 4) {
		check(0, "SET_MEM_TABLE on rxq");
		return;
	}
	memcpy(msg, mem + 2 * PAGE + id * BUF_LEN, VU_HDR);
	printf("VVU-PROBE: rxq message: request %u size %u\n", get32(msg), get32(msg + 8));
	check(get32(msg) == VU_SET_MEM_TABLE, "SET_MEM_TABLE second");
	/* BAR2: the front-end's region 0 at offset 0, trapped access by access */
	snprintf(path, sizeof(path), "%s/resource2", dir);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd >= 0) {
		volatile uint8_t *bar2 = mmap(NULL, BAR2_MAP, PROT_READ | PROT_WRITE,
					      MAP_SHARED, fd, 0);
		char text[9] = "";

		if (bar2 != MAP_FAILED) {
			for (i = 0; i < 8; i++)
				text[i] = (char)bar2[0x100 + i];
			printf("VVU-PROBE: BAR2 +0x100 reads \"%s\"\n", text);
			check(memcmp(text, "VVU-BAR2", 8) == 0, "BAR2 shows the front-end's memory");
			for (i = 0; i < 8; i++)
				bar2[0x200 + i] = (uint8_t)"GUEST-WR"[i];
			munmap((void *)(uintptr_t)bar2, BAR2_MAP);
		}
		close(fd);
	}
	check(fd >= 0, "resource2 mapped");
	wr32(bar0, DEVCFG, 0);
	bar0[COMMON_STATUS] = 0;
	munmap(mem, 4 * PAGE);
}

int
main(void)
{
	static const char *const type_names[] = {
		"?", "common", "notify", "isr", "device", "pci-cfg", "dev-aux-notify",
		"drv-aux-notify", "shared-memory",
	};
	char dir[512], path[600];
	uint8_t cfg[256];
	volatile uint8_t *bar0;
	unsigned int pos, n = 0, vndr = 0;
	int fd, msix = 0;
	ssize_t got;

	if (find_device(dir, sizeof(dir)) < 0) {
		printf("VVU-PROBE: FAIL no virtio-vhost-user device in %s\n", SYS_PCI);
		return 1;
	}
	printf("VVU-PROBE: device %s vendor %#lx device %#lx class %#lx\n",
	       strrchr(dir, '/') + 1, read_hex(dir, "vendor"), read_hex(dir, "device"),
	       read_hex(dir, "class"));
	snprintf(path, sizeof(path), "%s/config", dir);
	fd = open(path, O_RDONLY);
	got = fd < 0 ? -1 : pread(fd, cfg, sizeof(cfg), 0);
	if (fd >= 0)
		close(fd);
	if (got != (ssize_t)sizeof(cfg)) {
		printf("VVU-PROBE: FAIL cannot read 256 bytes of %s\n", path);
		return 1;
	}
	printf("VVU-PROBE: command %#x status %#x pin %u cap-ptr %#x\n",
	       cfg[4] | cfg[5] << 8, cfg[6] | cfg[7] << 8, cfg[0x3d], cfg[0x34]);
	printf("VVU-PROBE: BAR0 %#010x BAR2 %#010x BAR3 %#010x\n", get32(cfg + 0x10),
	       get32(cfg + 0x18), get32(cfg + 0x1c));
	check(cfg[0x3d] == 0, "interrupt pin 0");
	check((get32(cfg + 0x18) & 0x6) == 0, "BAR2 is a 32-bit BAR");
	for (pos = cfg[0x34]; pos != 0 && pos < 0xfc && n < 48; pos = cfg[pos + 1], n++) {
		uint8_t id = cfg[pos], type = cfg[pos + 3];

		if (id == 0x11)
			msix = 1;
		if (id != 0x09) {
			printf("VVU-PROBE: cap %#04x id %#04x\n", pos, id);
			continue;
		}
		vndr++;
		printf("VVU-PROBE: cap %#04x vendor cfg_type %u (%s) bar %u offset %#x len %#x\n",
		       pos, type, type < 9 ? type_names[type] : "?", cfg[pos + 4],
		       get32(cfg + pos + 8), get32(cfg + pos + 12));
	}
	check(!msix, "no MSI-X capability");
	check(vndr == 8, "8 virtio vendor capabilities");

	snprintf(path, sizeof(path), "%s/resource0", dir);
	fd = open(path, O_RDWR | O_SYNC);
	bar0 = fd < 0 ? MAP_FAILED :
		mmap(NULL, BAR0_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (bar0 == MAP_FAILED) {
		printf("VVU-PROBE: FAIL cannot map %s\n", path);
		return 1;
	}
	printf("VVU-PROBE: BAR0 num_queues %u max_vhost_queues %u status %#x\n",
	       *(volatile uint16_t *)(bar0 + COMMON_NUMQ),
	       *(volatile uint32_t *)(bar0 + DEVCFG_MAXQ), bar0[COMMON_STATUS]);
	check(*(volatile uint16_t *)(bar0 + COMMON_NUMQ) == 2, "num_queues 2");
	/* ACKNOWLEDGE | DRIVER, read back through the model, then reset */
	bar0[COMMON_STATUS] = 3;
	printf("VVU-PROBE: status after writing 3: %#x\n", bar0[COMMON_STATUS]);
	check(bar0[COMMON_STATUS] == 3, "status reads back 3");
	bar0[COMMON_STATUS] = 0;
	check(bar0[COMMON_STATUS] == 0, "status reset to 0");
	rings_phase(bar0, dir);
	munmap((void *)(uintptr_t)bar0, BAR0_SIZE);
	close(fd);
	if (failures != 0) {
		printf("VVU-PROBE: FAIL %d checks\n", failures);
		return 1;
	}
	printf("VVU-PROBE: PASS\n");
	return 0;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Runs inside a QEMU 7.2 guest (qemu_proxy_smoke.sh builds it static into a
 * busybox initramfs): finds the VVU device behind x-pci-proxy-dev in sysfs
 * and shows that every layer answers: config space (identity, capability
 * chain, the proxy layout's BARs, pin and lack of MSI-X) through the proxy's
 * CFG_READ, and BAR0 registers through BAR_READ/BAR_WRITE on an mmap of
 * resource0. Plain libc: no project header exists in the guest.
 *
 * Prints "VVU-PROBE: PASS" or "VVU-PROBE: FAIL <why>" as its last line.
 */

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#define SYS_PCI		"/sys/bus/pci/devices"
#define BAR0_SIZE	0x10000
#define COMMON_NUMQ	0x12	/* virtio common cfg: num_queues */
#define COMMON_STATUS	0x14	/* virtio common cfg: device_status */
#define DEVCFG_MAXQ	0x2004	/* VVU device cfg: max_vhost_queues */

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
	munmap((void *)(uintptr_t)bar0, BAR0_SIZE);
	close(fd);
	if (failures != 0) {
		printf("VVU-PROBE: FAIL %d checks\n", failures);
		return 1;
	}
	printf("VVU-PROBE: PASS\n");
	return 0;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The EAL as the unit tests, the fuzz targets and the benchmark run it:
 * no hugepages (rte_malloc memory comes from anonymous memory), no PCI scan,
 * no shared config and no telemetry, so nothing is left outside the process
 * but an empty runtime directory, which test_eal_cleanup() removes; and a
 * --file-prefix of the program's name and pid, so that runs in parallel
 * (meson test, ASan and plain builds side by side) never share one.
 */

#ifndef _APP_TEST_EAL_H_
#define _APP_TEST_EAL_H_

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>

#define TEST_EAL_MAX_ARGS	24

/*
 * rte_eal_init() with the arguments above, mem_mb MiB of memory, then the
 * caller's extra arguments (log levels, lcores), NULL-terminated: use
 * test_eal_init(), which adds the NULL. Returns what rte_eal_init() returns.
 */
static inline int
test_eal_init_args(const char *prog, int mem_mb, ...)
{
	/* static: the EAL may keep pointers into its argv */
	static char prefix[96], mem[16];
	static char *argv[TEST_EAL_MAX_ARGS];
	const char *base = strrchr(prog, '/') != NULL ? strrchr(prog, '/') + 1 : prog;
	const char *arg;
	va_list ap;
	int argc = 0;

	snprintf(prefix, sizeof(prefix), "--file-prefix=%s_%d", base, (int)getpid());
	snprintf(mem, sizeof(mem), "%d", mem_mb);
	argv[argc++] = (char *)(uintptr_t)prog;
	argv[argc++] = (char *)(uintptr_t)"--no-huge";
	argv[argc++] = (char *)(uintptr_t)"--no-pci";
	argv[argc++] = (char *)(uintptr_t)"--no-shconf";
	argv[argc++] = (char *)(uintptr_t)"--no-telemetry";
	argv[argc++] = prefix;
	argv[argc++] = (char *)(uintptr_t)"-m";
	argv[argc++] = mem;
	va_start(ap, mem_mb);
	while ((arg = va_arg(ap, const char *)) != NULL) {
		if (argc == TEST_EAL_MAX_ARGS - 1) {
			va_end(ap);
			fprintf(stderr, "test_eal_init: more than %d arguments\n",
				TEST_EAL_MAX_ARGS - 1);
			return -1;
		}
		argv[argc++] = (char *)(uintptr_t)arg;
	}
	va_end(ap);
	argv[argc] = NULL;
	return rte_eal_init(argc, argv);
}

/* test_eal_init(argv[0], mem_mb[, extra argument...]) */
#define test_eal_init(prog, ...) test_eal_init_args(prog, __VA_ARGS__, (const char *)NULL)

/* rte_eal_cleanup(), then remove the (empty) runtime directory. */
static inline void
test_eal_cleanup(void)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	rmdir(dir);
}

#endif /* _APP_TEST_EAL_H_ */

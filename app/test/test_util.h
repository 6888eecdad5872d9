/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers shared by the C unit tests (app/test), the fuzz targets
 * (devtools/fuzz) and the benchmark (devtools/bench):
 *
 * - fd counting, for leak checks: of this process or of a helper process;
 * - a monotonic millisecond clock and sleep, for bounded waits; a nanosecond
 *   one and a uint64_t comparison for qsort(), for the benchmarks' latencies;
 * - sending bytes with fds (SCM_RIGHTS) on a socket, as a peer does;
 * - helper processes: forked (running a function or an executable), dying
 *   with the test, stopped and reaped by pid with a bounded wait.
 *
 * Plain C and libc only (no EAL, no test.h), so that every target can use it;
 * the EAL's set-up is in test_eal.h. Header-only, every helper static inline.
 */

#ifndef _APP_TEST_UTIL_H_
#define _APP_TEST_UTIL_H_

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>

/* VVU_TEST_VERBOSE set: helpers and hostile cases print what they normally keep quiet. */
static inline bool
test_verbose(void)
{
	return getenv("VVU_TEST_VERBOSE") != NULL;
}

/* ---- time ---- */

static inline int64_t
test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline uint64_t
test_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* qsort() comparison of two uint64_t, ascending. */
static inline int
test_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static inline void
test_sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* ---- fds ---- */

/*
 * Open fds of pid (0: this process), or -1 if /proc cannot tell. For this
 * process the directory stream's own fd is not counted, so that a count
 * taken before an operation compares with one taken after.
 */
static inline int
test_count_fds_of(pid_t pid)
{
	char path[32];
	struct dirent *e;
	DIR *d;
	int n = 0;

	if (pid == 0)
		snprintf(path, sizeof(path), "/proc/self/fd");
	else
		snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return pid == 0 ? n - 1 : n;
}

/* Open fds of this process. */
static inline int
test_count_fds(void)
{
	return test_count_fds_of(0);
}

/*
 * Wait at most ms for the fd count of pid (0: this process) to be want: event
 * loops close fds asynchronously. Returns the last count seen.
 */
static inline int
test_fds_settle(pid_t pid, int want, int ms)
{
	int64_t end = test_now_ms() + ms;
	int n;

	while ((n = test_count_fds_of(pid)) != want && test_now_ms() < end)
		test_sleep_ms(5);
	return n;
}

/* ---- sockets ---- */

/* The most fds one test message carries (hostile peers send more than 8). */
#define TEST_MAX_SEND_FDS	64

/*
 * Send len bytes with nfds fds (SCM_RIGHTS) in one sendmsg(). 0 if all the
 * bytes went, -1 otherwise (errno from sendmsg, or EINVAL for too many fds).
 * MSG_NOSIGNAL: a peer that hung up is an error to check, not a SIGPIPE.
 */
static inline int
test_send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * TEST_MAX_SEND_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds < 0 || nfds > TEST_MAX_SEND_FDS) {
		errno = EINVAL;
		return -1;
	}
	if (nfds > 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* ---- helper processes ---- */

/* test_spawn() stdio: keep the test's, or /dev/null. */
#define TEST_FD_INHERIT		(-1)
#define TEST_FD_NULL		(-2)

/* Where a helper's output goes: /dev/null, unless VVU_TEST_VERBOSE is set. */
static inline int
test_quiet_fd(void)
{
	return test_verbose() ? TEST_FD_INHERIT : TEST_FD_NULL;
}

/* In the child: make fd (TEST_FD_* or an open fd) the child's target fd. */
static inline void
test_spawn_stdio(int fd, int target)
{
	if (fd == TEST_FD_INHERIT)
		return;
	if (fd == TEST_FD_NULL)
		fd = open("/dev/null", target == STDIN_FILENO ? O_RDONLY : O_WRONLY);
	if (fd >= 0 && fd != target)
		dup2(fd, target);
}

/*
 * Fork a helper process that runs fn(arg) and exits with its return value
 * (fn may also never return). Its stdin is in_fd, its stdout and stderr
 * out_fd (open fds, or TEST_FD_INHERIT / TEST_FD_NULL). It is SIGKILLed
 * when the test process dies, whatever kills the test: a helper must never
 * outlive it. Returns the pid, or -1 if fork() failed. Stop it with
 * test_proc_stop().
 */
static inline pid_t
test_spawn(int (*fn)(void *), void *arg, int in_fd, int out_fd)
{
	pid_t parent = getpid();
	pid_t pid;

	/* what the test printed so far must not be printed again by the child */
	fflush(NULL);
	pid = fork();
	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* the test died before prctl() took effect */
	if (getppid() != parent)
		_exit(126);
	test_spawn_stdio(in_fd, STDIN_FILENO);
	test_spawn_stdio(out_fd, STDOUT_FILENO);
	test_spawn_stdio(out_fd, STDERR_FILENO);
	/* _exit: the test's atexit handlers and stdio buffers are not the child's */
	_exit(fn(arg));
}

static inline int
test_spawn_exec_fn(void *argv)
{
	char *const *av = argv;

	execvp(av[0], av);
	return 127;	/* as a shell says "command not found" */
}

/*
 * test_spawn() of an executable: argv[0] is looked up in PATH unless it has
 * a '/'; argv ends with NULL. The child exits with 127 if exec failed.
 */
static inline pid_t
test_spawn_exec(char *const argv[], int in_fd, int out_fd)
{
	return test_spawn(test_spawn_exec_fn, (void *)(uintptr_t)argv, in_fd, out_fd);
}

/*
 * True while the helper pid runs. A helper that has exited is not reaped
 * here (WNOWAIT): its pid stays reserved until test_proc_stop() reaps it, so
 * that a later kill() can never reach an unrelated process.
 */
static inline bool
test_proc_alive(pid_t pid)
{
	siginfo_t si;

	if (pid <= 0)
		return false;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
		return false;
	return si.si_pid == 0;
}

/*
 * Stop the helper pid and reap it: send sig (none if 0), wait at most ms for
 * it to exit, then SIGKILL it (a helper that ignores sig or hangs must not
 * hang the test). Returns its wait status, or -1 if pid is not a child.
 */
static inline int
test_proc_stop(pid_t pid, int sig, int ms)
{
	int64_t end = test_now_ms() + ms;
	bool running;
	int st = 0;
	pid_t r;

	if (pid <= 0)
		return -1;
	if (sig != 0)
		kill(pid, sig);
	for (;;) {
		r = waitpid(pid, &st, WNOHANG);
		running = r == 0 || (r < 0 && errno == EINTR);
		if (!running || test_now_ms() >= end)
			break;
		test_sleep_ms(5);
	}
	if (running) {
		kill(pid, SIGKILL);
		do {
			r = waitpid(pid, &st, 0);
		} while (r < 0 && errno == EINTR);
	}
	return r == pid ? st : -1;
}

#endif /* _APP_TEST_UTIL_H_ */

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dpdk-vvu-device: options, signals and the epoll loop.
 *
 * One thread: the loop watches the driver's side (the vfio-user sockets,
 * vvu_dev_server.c, or the QEMU proxy socket, vvu_dev_proxy.c), the
 * vhost-user socket and kick eventfds (vvu_dev_fe.c, vvu_dev_fwd.c) and a
 * signalfd. SIGINT/SIGTERM end the loop; the sockets we created are removed
 * on the way out. A misbehaving peer is disconnected, never fatal, except
 * that the QEMU proxy socket is inherited and cannot reconnect: when that
 * session ends the process exits (0 when QEMU closed it, 1 when the device
 * dropped it for a protocol error).
 */

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include "vvu_device.h"
#include "vvu_dev_proxy.h"
#include "vvu_dev_server.h"
#include "vvu_dev_telemetry.h"

#define EXIT_USAGE	2

static const char usage_text[] =
	"Usage: %s --vfio-user PATH --vhost-user PATH [options]\n"
	"       %s --qemu-proxy-fd N --vhost-user PATH [options]\n"
	"\n"
	"The virtio-vhost-user PCI device as a vfio-user server, or behind\n"
	"QEMU 7.2's multi-process proxy (-device x-pci-proxy-dev,fd=M).\n"
	"\n"
	"  --vfio-user PATH   listening socket for the driver (vfio-user client)\n"
	"  --qemu-proxy-fd N  inherited fd N: a connected AF_UNIX stream socket\n"
	"                     whose peer QEMU got as fd=M (one end of a\n"
	"                     socketpair). Proxy layout: BAR2 32-bit, at most 1G,\n"
	"                     no MSI-X, interrupt pin 0 (the guest polls). The\n"
	"                     device exits when QEMU closes it. Excludes\n"
	"                     --vfio-user\n"
	"  --vhost-user PATH  vhost-user socket toward the front-end; the device\n"
	"                     is the back-end and listens there unless --client\n"
	"  --client           connect to --vhost-user PATH (retry every second)\n"
	"  --shm-size SIZE    BAR2 size for the front-end memory, a power of two,\n"
	"                     K/M/G/T suffixes accepted (default 4G; with\n"
	"                     --qemu-proxy-fd default 256M, at most 1G)\n"
	"  --queues N         max_vhost_queues, 1..256 (default 256)\n"
	"  --id UUID          16-byte device id, UUID or 32 hex digits (default 0)\n"
	"  --virtio-id N      virtio device id; PCI device id = 0x1040 + N\n"
	"                     (default 43)\n"
	"  --file-prefix NAME telemetry socket in RUNTIME/dpdk/NAME/ as DPDK's\n"
	"                     dpdk-telemetry.py -f NAME expects it (default\n"
	"                     vvu-device; a second device on one NAME takes\n"
	"                     dpdk_telemetry.v2:1, -i 1, and so on). RUNTIME is\n"
	"                     /var/run for root, else $XDG_RUNTIME_DIR or /tmp\n"
	"  --no-telemetry     no telemetry socket\n"
	"  -v, --verbose      more log lines (repeat for debug)\n"
	"  -h, --help         this text\n";

enum {
	OPT_VFIO_USER = 256,
	OPT_QEMU_PROXY_FD,
	OPT_VHOST_USER,
	OPT_CLIENT,
	OPT_SHM_SIZE,
	OPT_QUEUES,
	OPT_ID,
	OPT_VIRTIO_ID,
	OPT_FILE_PREFIX,
	OPT_NO_TELEMETRY,
};

static const struct option long_opts[] = {
	{ "vfio-user", required_argument, NULL, OPT_VFIO_USER },
	{ "qemu-proxy-fd", required_argument, NULL, OPT_QEMU_PROXY_FD },
	{ "vhost-user", required_argument, NULL, OPT_VHOST_USER },
	{ "client", no_argument, NULL, OPT_CLIENT },
	{ "shm-size", required_argument, NULL, OPT_SHM_SIZE },
	{ "queues", required_argument, NULL, OPT_QUEUES },
	{ "id", required_argument, NULL, OPT_ID },
	{ "virtio-id", required_argument, NULL, OPT_VIRTIO_ID },
	{ "file-prefix", required_argument, NULL, OPT_FILE_PREFIX },
	{ "no-telemetry", no_argument, NULL, OPT_NO_TELEMETRY },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const char *prog = "dpdk-vvu-device";

static void __attribute__((noreturn))
bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see --help)\n");
	exit(EXIT_USAGE);
}

/*
 * The fd given as --qemu-proxy-fd must be what QEMU's peer is: an open,
 * connected AF_UNIX stream socket. Made non-blocking (the reader never
 * waits) and close-on-exec (nothing we start inherits it).
 */
static int
check_proxy_fd(int fd)
{
	int type = 0, domain = 0, fl;
	socklen_t len = sizeof(type);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return -ENOTSOCK;
	len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ||
	    domain != AF_UNIX || type != SOCK_STREAM)
		return -EPROTOTYPE;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -ENOTCONN;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

/* Telemetry options: main() starts the server, the device knows nothing of it. */
struct tel_options {
	const char *prefix;	/* NULL: the default, and a failure is not fatal */
	bool off;
};

static void
parse_args(int argc, char **argv, struct vvu_dev_options *opt, int *proxy_fd,
	   struct tel_options *tel)
{
	const char *shm_arg = NULL;
	uint32_t fd;
	int c;

	memset(opt, 0, sizeof(*opt));
	memset(tel, 0, sizeof(*tel));
	*proxy_fd = -1;
	opt->shm_size = VVU_DEFAULT_SHM_SIZE;
	opt->num_queues = VVU_DEFAULT_QUEUES;
	opt->virtio_id = VVU_VIRTIO_ID_DEFAULT;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":vh", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_VFIO_USER:
			opt->vfio_user_path = optarg;
			break;
		case OPT_QEMU_PROXY_FD:
			if (vvu_dev_parse_u32(optarg, 0, INT32_MAX, &fd) < 0)
				bad_usage("--qemu-proxy-fd %s: need an fd number", optarg);
			*proxy_fd = (int)fd;
			break;
		case OPT_VHOST_USER:
			opt->vhost_user_path = optarg;
			break;
		case OPT_CLIENT:
			opt->vhost_user_client = true;
			break;
		case OPT_SHM_SIZE:
			if (vvu_dev_parse_size(optarg, &opt->shm_size) < 0)
				bad_usage("--shm-size %s: need a power of two from 4K to 64T",
					  optarg);
			shm_arg = optarg;
			break;
		case OPT_QUEUES:
			if (vvu_dev_parse_u32(optarg, 1, VVU_MAX_VHOST_QUEUES, &opt->num_queues) < 0)
				bad_usage("--queues %s: need 1..256", optarg);
			break;
		case OPT_ID:
			if (vvu_dev_parse_id(optarg, opt->id) < 0)
				bad_usage("--id %s: need a UUID or 32 hex digits", optarg);
			break;
		case OPT_FILE_PREFIX:
			if (!vvu_dev_tel_prefix_ok(optarg))
				bad_usage("--file-prefix %s: need 1..64 characters of "
					  "A-Z a-z 0-9 _ . -", optarg);
			tel->prefix = optarg;
			break;
		case OPT_NO_TELEMETRY:
			tel->off = true;
			break;
		case OPT_VIRTIO_ID:
			if (vvu_dev_parse_u32(optarg, 1, 0xffff - VVU_PCI_MODERN_ID_BASE,
					  &opt->virtio_id) < 0)
				bad_usage("--virtio-id %s: out of range", optarg);
			break;
		case 'v':
			opt->verbose++;
			break;
		case 'h':
			printf(usage_text, prog, prog);
			exit(EXIT_SUCCESS);
		case ':':
			bad_usage("option %s needs a value", argv[optind - 1]);
			break;
		default:
			bad_usage("unknown option %s", argv[optind - 1]);
			break;
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument %s", argv[optind]);
	if (tel->off && tel->prefix != NULL)
		bad_usage("%s", "--file-prefix and --no-telemetry exclude each other");
	if (opt->vfio_user_path != NULL && *proxy_fd >= 0)
		bad_usage("%s", "--vfio-user and --qemu-proxy-fd exclude each other");
	if (opt->vfio_user_path == NULL && *proxy_fd < 0)
		bad_usage("%s", "--vfio-user PATH or --qemu-proxy-fd N is required");
	if (opt->vhost_user_path == NULL)
		bad_usage("%s", "--vhost-user PATH is required");
	if (*proxy_fd < 0)
		return;
	opt->layout = VVU_DEV_LAYOUT_PROXY;
	if (shm_arg == NULL)
		opt->shm_size = VVU_PROXY_DEFAULT_SHM_SIZE;
	/* QEMU 7.2's proxy sizes a BAR as an int from its low dword */
	if (opt->shm_size > VVU_PROXY_MAX_SHM_SIZE)
		bad_usage("--shm-size %s: QEMU's proxy device takes 32-bit BARs only, "
			  "so BAR2 is at most 1G with --qemu-proxy-fd", shm_arg);
}

/*
 * The telemetry socket (vvu_dev_telemetry.h). Asked for by name, it must
 * come up; the default one is a convenience, and the device runs without
 * it when it cannot be had (a read-only runtime directory, say).
 */
static int
start_telemetry(struct vvu_device *dev, const struct tel_options *t, struct vvu_dev_tel **tel)
{
	const char *prefix = t->prefix != NULL ? t->prefix : VVU_DEV_TEL_DEFAULT_PREFIX;
	int err = 0;

	if (t->off)
		return 0;
	*tel = vvu_dev_tel_start_device(dev, prefix, &err);
	if (*tel == NULL) {
		fprintf(stderr, "%s: telemetry (--file-prefix %s): %s%s\n", prog, prefix,
			strerror(-err), t->prefix != NULL ? "" : "; running without it");
		return t->prefix != NULL ? err : 0;
	}
	vvu_dev_log(dev, VVU_INFO, "telemetry on %s", vvu_dev_tel_path(*tel));
	return 0;
}

struct sig_state {
	int fd;
	bool stop;
};

static void
signal_ready(void *arg, uint32_t events)
{
	struct sig_state *ss = arg;
	struct signalfd_siginfo si;

	if (read(ss->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		ss->stop = true;
}

int
main(int argc, char **argv)
{
	static struct vvu_device dev;	/* large: keep it off the stack */
	struct sig_state ss = { .fd = -1 };
	struct vvu_dev_options opt;
	struct tel_options tel_opt;
	struct vvu_dev_tel *tel = NULL;
	struct vvu_dev_loop *loop;
	sigset_t mask;
	int ret, proxy_fd, proxy_status = 0, status = EXIT_FAILURE;

	if (argc > 0 && argv[0] != NULL)
		prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	parse_args(argc, argv, &opt, &proxy_fd, &tel_opt);
	if (proxy_fd >= 0) {
		ret = check_proxy_fd(proxy_fd);
		if (ret < 0) {
			fprintf(stderr, "%s: --qemu-proxy-fd %d: %s (need a connected AF_UNIX "
				"stream socket)\n", prog, proxy_fd, strerror(-ret));
			return EXIT_USAGE;
		}
	}

	/* a peer closing its socket must not kill us */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return EXIT_FAILURE;
	ss.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	loop = vvu_dev_loop_create();
	if (ss.fd < 0 || loop == NULL) {
		fprintf(stderr, "%s: cannot create the event loop: %s\n", prog, strerror(errno));
		return EXIT_FAILURE;
	}
	vvu_dev_loop_add(loop, ss.fd, EPOLLIN, signal_ready, &ss);

	ret = vvu_dev_init(&dev, &opt, loop);
	if (ret < 0) {
		fprintf(stderr, "%s: device setup failed: %s\n", prog, strerror(-ret));
		goto out_loop;
	}
	if (proxy_fd >= 0) {
		/* the fd is the front's from here on, also on failure */
		ret = vvu_dev_proxy_start(&dev, proxy_fd);
		if (ret < 0) {
			fprintf(stderr, "%s: QEMU proxy fd %d: %s\n", prog, proxy_fd,
				strerror(-ret));
			goto out_dev;
		}
		vvu_dev_log(&dev, VVU_INFO, "serving the QEMU proxy on fd %d, vhost-user %s "
			"on %s, BAR2 %llu bytes (32-bit), %u queues, no interrupts",
			proxy_fd, opt.vhost_user_client ? "client" : "server",
			opt.vhost_user_path, (unsigned long long)opt.shm_size,
			opt.num_queues);
	} else {
		ret = vvu_dev_server_start(&dev);
		if (ret < 0) {
			fprintf(stderr, "%s: vfio-user socket %s: %s\n", prog,
				opt.vfio_user_path, strerror(-ret));
			goto out_dev;
		}
		vvu_dev_log(&dev, VVU_INFO, "serving vfio-user on %s, vhost-user %s on %s, "
			"BAR2 %llu bytes, %u queues", opt.vfio_user_path,
			opt.vhost_user_client ? "client" : "server", opt.vhost_user_path,
			(unsigned long long)opt.shm_size, opt.num_queues);
	}
	ret = start_telemetry(&dev, &tel_opt, &tel);
	if (ret < 0)
		goto out_carrier;
	while (!ss.stop && !vvu_dev_proxy_done(&dev, &proxy_status)) {
		ret = vvu_dev_loop_run_once(loop, -1);
		if (ret < 0) {
			fprintf(stderr, "%s: event loop: %s\n", prog, strerror(-ret));
			break;
		}
	}
	if (ss.stop) {
		vvu_dev_log(&dev, VVU_INFO, "shutting down");
		status = EXIT_SUCCESS;
	} else if (vvu_dev_proxy_done(&dev, &proxy_status)) {
		/* QEMU closed the socket (0) or broke the protocol (1) */
		status = proxy_status == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	}
	vvu_dev_tel_stop(tel);
out_carrier:
	vvu_dev_proxy_stop(&dev);
	vvu_dev_server_stop(&dev);
out_dev:
	vvu_dev_fini(&dev);
out_loop:
	vvu_dev_loop_del(loop, ss.fd);
	close(ss.fd);
	vvu_dev_loop_destroy(loop);
	return status;
}

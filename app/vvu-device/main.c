/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dpdk-vvu-device: options, signals and the epoll loop.
 *
 * One thread: the loop watches the vfio-user sockets (vvu_dev_server.c), the
 * vhost-user socket and kick eventfds (vvu_dev_fe.c, vvu_dev_fwd.c) and a
 * signalfd. SIGINT/SIGTERM end the loop; both sockets we created are
 * removed on the way out. A misbehaving peer is disconnected, never fatal.
 */

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>

#include "vvu_device.h"
#include "vvu_dev_server.h"

#define EXIT_USAGE	2

static const char usage_text[] =
	"Usage: %s --vfio-user PATH --vhost-user PATH [options]\n"
	"\n"
	"The virtio-vhost-user PCI device as a vfio-user server.\n"
	"\n"
	"  --vfio-user PATH   listening socket for the driver (vfio-user client)\n"
	"  --vhost-user PATH  vhost-user socket toward the front-end; the device\n"
	"                     is the back-end and listens there unless --client\n"
	"  --client           connect to --vhost-user PATH (retry every second)\n"
	"  --shm-size SIZE    BAR2 size for the front-end memory, a power of two,\n"
	"                     K/M/G/T suffixes accepted (default 4G)\n"
	"  --queues N         max_vhost_queues, 1..256 (default 256)\n"
	"  --id UUID          16-byte device id, UUID or 32 hex digits (default 0)\n"
	"  --virtio-id N      virtio device id; PCI device id = 0x1040 + N\n"
	"                     (default 43)\n"
	"  -v, --verbose      more log lines (repeat for debug)\n"
	"  -h, --help         this text\n";

enum {
	OPT_VFIO_USER = 256,
	OPT_VHOST_USER,
	OPT_CLIENT,
	OPT_SHM_SIZE,
	OPT_QUEUES,
	OPT_ID,
	OPT_VIRTIO_ID,
};

static const struct option long_opts[] = {
	{ "vfio-user", required_argument, NULL, OPT_VFIO_USER },
	{ "vhost-user", required_argument, NULL, OPT_VHOST_USER },
	{ "client", no_argument, NULL, OPT_CLIENT },
	{ "shm-size", required_argument, NULL, OPT_SHM_SIZE },
	{ "queues", required_argument, NULL, OPT_QUEUES },
	{ "id", required_argument, NULL, OPT_ID },
	{ "virtio-id", required_argument, NULL, OPT_VIRTIO_ID },
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

static void
parse_args(int argc, char **argv, struct vvu_dev_options *opt)
{
	int c;

	memset(opt, 0, sizeof(*opt));
	opt->shm_size = VVU_DEFAULT_SHM_SIZE;
	opt->num_queues = VVU_DEFAULT_QUEUES;
	opt->virtio_id = VVU_VIRTIO_ID_DEFAULT;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":vh", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_VFIO_USER:
			opt->vfio_user_path = optarg;
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
			break;
		case OPT_QUEUES:
			if (vvu_dev_parse_u32(optarg, 1, VVU_MAX_VHOST_QUEUES, &opt->num_queues) < 0)
				bad_usage("--queues %s: need 1..256", optarg);
			break;
		case OPT_ID:
			if (vvu_dev_parse_id(optarg, opt->id) < 0)
				bad_usage("--id %s: need a UUID or 32 hex digits", optarg);
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
			printf(usage_text, prog);
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
	if (opt->vfio_user_path == NULL)
		bad_usage("%s", "--vfio-user PATH is required");
	if (opt->vhost_user_path == NULL)
		bad_usage("%s", "--vhost-user PATH is required");
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
	struct vvu_dev_loop *loop;
	sigset_t mask;
	int ret, status = EXIT_FAILURE;

	if (argc > 0 && argv[0] != NULL)
		prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	parse_args(argc, argv, &opt);

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
	ret = vvu_dev_server_start(&dev);
	if (ret < 0) {
		fprintf(stderr, "%s: vfio-user socket %s: %s\n", prog, opt.vfio_user_path,
			strerror(-ret));
		goto out_dev;
	}
	vvu_dev_log(&dev, VVU_INFO, "serving vfio-user on %s, vhost-user %s on %s, "
		"BAR2 %llu bytes, %u queues", opt.vfio_user_path,
		opt.vhost_user_client ? "client" : "server", opt.vhost_user_path,
		(unsigned long long)opt.shm_size, opt.num_queues);
	while (!ss.stop) {
		ret = vvu_dev_loop_run_once(loop, -1);
		if (ret < 0) {
			fprintf(stderr, "%s: event loop: %s\n", prog, strerror(-ret));
			break;
		}
	}
	if (ss.stop) {
		vvu_dev_log(&dev, VVU_INFO, "shutting down");
		status = EXIT_SUCCESS;
	}
	vvu_dev_server_stop(&dev);
out_dev:
	vvu_dev_fini(&dev);
out_loop:
	vvu_dev_loop_del(loop, ss.fd);
	close(ss.fd);
	vvu_dev_loop_destroy(loop);
	return status;
}

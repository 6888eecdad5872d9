/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device's telemetry commands, served by vvu_dev_telemetry.c from the
 * device's loop: a command runs between two events of the same thread, so
 * it reads the device directly. Output fields are listed in
 * doc/guides/vvu_device.rst ("Telemetry"); keep the two in step. None
 * takes parameters: a request with any (a ',') is answered null.
 */

#include <errno.h>
#include <unistd.h>
#include <sys/un.h>

#include "vvu_device.h"
#include "vvu_dev_proxy.h"
#include "vvu_dev_telemetry.h"

#ifndef VVU_DEV_VERSION
#define VVU_DEV_VERSION "unknown"
#endif

/* One word for where the device is in its life (vvu_device.h, state machine). */
static const char *
state_name(const struct vvu_device *dev)
{
	if (dev->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return "needs-reset";
	if (dev->status & VIRTIO_CONFIG_S_FAILED)
		return "failed";
	if (vvu_dev_fe_connected(dev))
		return "frontend-connected";
	if (vvu_dev_ready(dev))
		return "ready";		/* waits for a front-end */
	if (dev->status & VIRTIO_CONFIG_S_DRIVER_OK)
		return "driver-ok";	/* BACKEND_UP not set yet */
	if (dev->status != 0)
		return "initializing";
	return "reset";
}

static int
cmd_info(void *ctx, const char *cmd, const char *params, struct vvu_dev_tel_out *o)
{
	const struct vvu_device *dev = ctx;
	const struct vvu_dev_stats *st = &dev->stats;

	if (params != NULL)
		return -EINVAL;
	vvu_dev_tel_dict_begin(o, NULL);
	vvu_dev_tel_str(o, "version", VVU_DEV_VERSION);
	vvu_dev_tel_u64(o, "pid", (uint64_t)getpid());
	vvu_dev_tel_str(o, "carrier", dev->proxy != NULL ? "qemu-proxy" : "vfio-user");
	vvu_dev_tel_str(o, "vfio_user_socket", dev->opt.vfio_user_path);
	vvu_dev_tel_str(o, "vhost_user_socket", dev->opt.vhost_user_path);
	vvu_dev_tel_str(o, "vhost_user_mode", dev->opt.vhost_user_client ? "client" : "server");
	vvu_dev_tel_u64(o, "shm_size", dev->opt.shm_size);
	vvu_dev_tel_u64(o, "queues", dev->opt.num_queues);
	vvu_dev_tel_u64(o, "virtio_id", dev->opt.virtio_id);
	vvu_dev_tel_str(o, "state", state_name(dev));
	vvu_dev_tel_u64(o, "driver_connected", st->driver_connects > st->driver_disconnects);
	vvu_dev_tel_u64(o, "frontend_connected", vvu_dev_fe_connected(dev));
	vvu_dev_tel_u64(o, "device_status", dev->status);
	vvu_dev_tel_u64(o, "vvu_status", dev->dev_status);
	vvu_dev_tel_u64(o, "bar2_windows", dev->bar2.nr);
	vvu_dev_tel_u64(o, "bar2_bytes", dev->bar2.used);
	vvu_dev_tel_end(o);
	return 0;
}

static int
cmd_stats(void *ctx, const char *cmd, const char *params, struct vvu_dev_tel_out *o)
{
	const struct vvu_device *dev = ctx;
	const struct vvu_dev_stats *st = &dev->stats;

	if (params != NULL)
		return -EINVAL;
	vvu_dev_tel_dict_begin(o, NULL);
	vvu_dev_tel_u64(o, "frontend_connects", st->fe_connects);
	vvu_dev_tel_u64(o, "frontend_disconnects", st->fe_disconnects);
	vvu_dev_tel_u64(o, "frontend_msgs", st->fe_msgs);
	vvu_dev_tel_u64(o, "frontend_bytes", st->fe_bytes);
	vvu_dev_tel_u64(o, "frontend_errors", st->fe_errors);
	vvu_dev_tel_u64(o, "frontend_msgs_dropped", st->fe_msgs_dropped);
	vvu_dev_tel_u64(o, "frontend_read_pauses", st->fe_read_pauses);
	vvu_dev_tel_u64(o, "rxq_msgs", st->rxq_msgs);
	vvu_dev_tel_u64(o, "rxq_bytes", st->rxq_bytes);
	vvu_dev_tel_u64(o, "txq_msgs", st->txq_msgs);
	vvu_dev_tel_u64(o, "txq_bytes", st->txq_bytes);
	vvu_dev_tel_u64(o, "frontend_replies", st->fe_replies);
	vvu_dev_tel_u64(o, "frontend_replies_dropped", st->fe_replies_dropped);
	vvu_dev_tel_u64(o, "backend_requests_dropped", st->backend_reqs_dropped);
	vvu_dev_tel_u64(o, "kicks", st->kicks);
	vvu_dev_tel_u64(o, "doorbells", st->doorbells);
	vvu_dev_tel_u64(o, "doorbells_dropped", st->doorbells_dropped);
	vvu_dev_tel_u64(o, "interrupts", dev->interrupts);
	vvu_dev_tel_u64(o, "needs_reset", dev->needs_reset_events);
	vvu_dev_tel_u64(o, "dma_faults", st->dma_faults);
	vvu_dev_tel_u64(o, "driver_connects", st->driver_connects);
	vvu_dev_tel_u64(o, "driver_disconnects", st->driver_disconnects);
	if (dev->proxy != NULL) {
		struct vvu_dev_proxy_stats ps;

		vvu_dev_proxy_get_stats(dev, &ps);
		vvu_dev_tel_u64(o, "proxy_msgs", ps.msgs);
		vvu_dev_tel_u64(o, "proxy_replies", ps.replies);
		vvu_dev_tel_u64(o, "proxy_refused", ps.refused);
		vvu_dev_tel_u64(o, "proxy_sysmem", ps.sysmem);
		vvu_dev_tel_u64(o, "proxy_stalls", ps.stalls);
	}
	vvu_dev_tel_end(o);
	return 0;
}

/* frontend_msgs by request name: every request the device forwards, 0 or not. */
static int
cmd_requests(void *ctx, const char *cmd, const char *params, struct vvu_dev_tel_out *o)
{
	const struct vvu_device *dev = ctx;
	uint32_t r;

	if (params != NULL)
		return -EINVAL;
	vvu_dev_tel_dict_begin(o, NULL);
	for (r = 0; r < VHOST_USER_REQUEST_MAX; r++) {
		const struct vvu_dev_fwd_rule *rule = vvu_dev_fwd_rule(r);

		if (rule != NULL && rule->name != NULL && rule->action != VVU_FWD_REFUSE)
			vvu_dev_tel_u64(o, rule->name, dev->stats.requests[r]);
	}
	vvu_dev_tel_end(o);
	return 0;
}

static const struct vvu_dev_tel_cmd device_cmds[] = {
	{ "/vvu/info", cmd_info, "Returns the device's identity, sockets, options and "
	  "state. Takes no parameters" },
	{ "/vvu/stats", cmd_stats, "Returns the device's counters since it started: "
	  "front-end sessions, messages and bytes each way, kicks, doorbells, interrupts, "
	  "errors. Takes no parameters" },
	{ "/vvu/requests", cmd_requests, "Returns how many requests of each kind the "
	  "device took from front-ends. Takes no parameters" },
};

struct vvu_dev_tel *
vvu_dev_tel_start_device(struct vvu_device *dev, const char *prefix, int *err)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct vvu_dev_tel_params p = {
		.dir = dir,
		.version = "dpdk-vvu-device " VVU_DEV_VERSION,
		.cmds = device_cmds,
		.nb_cmds = sizeof(device_cmds) / sizeof(device_cmds[0]),
		.ctx = dev,
		.log = dev,
	};
	int ret = vvu_dev_tel_dir(prefix, dir, sizeof(dir));

	if (ret < 0) {
		*err = ret;
		return NULL;
	}
	return vvu_dev_tel_start(dev->loop, &p, err);
}

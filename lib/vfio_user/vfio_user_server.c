/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Server role: one listening socket, one client connection at a time, one
 * request served per vfio_user_server_handle() call.
 *
 * Validation is declared at the edge: the table cmd_rules[] gives, per
 * command, the payload size range and the most fds it may carry; the
 * dispatcher checks the row before any handler runs, so handlers only check
 * what depends on the request's fields and the device's description (argsz,
 * indexes, bounds). The drop-or-reply policy is documented at
 * vfio_user_server_handle() in vfio_user.h: framing errors drop the
 * connection (the stream is no longer trustworthy), content errors get an
 * error reply, a failed VERSION gets an error reply and then a drop.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vfio_user_private.h"

struct vfio_user_server {
	struct vfio_user_server_ops ops;
	void *arg;
	char *path;            /* socket path we created, or NULL */
	int listen_fd;
	int conn_fd;
	bool negotiated;
	struct vfio_user_caps client_caps;
	struct vfio_user_caps own_caps;
	int timeout_ms;
	size_t max_req_payload;
	bool send_failed;      /* a reply could not be sent: drop */
	struct vfio_user_reader reader; /* the request being received */
};

/* What the dispatcher checks before a handler runs. */
struct cmd_rule {
	uint32_t min_len;      /* payload bytes */
	uint32_t max_len;      /* UINT32_MAX: bounded by max_req_payload only */
	uint32_t max_fds;      /* UINT32_MAX: the advertised max_msg_fds */
	int (*handler)(struct vfio_user_server *srv, struct vfio_user_msg *msg);
};

static int handle_version(struct vfio_user_server *srv, struct vfio_user_msg *msg);
static int handle_dma_map(struct vfio_user_server *srv, struct vfio_user_msg *msg);
static int handle_dma_unmap(struct vfio_user_server *srv, struct vfio_user_msg *msg);
static int handle_device_info(struct vfio_user_server *srv, struct vfio_user_msg *msg);
static int handle_region_info(struct vfio_user_server *srv, struct vfio_user_msg *msg);
static int handle_irq_info(struct vfio_user_server *srv, struct vfio_user_msg *msg);
static int handle_set_irqs(struct vfio_user_server *srv, struct vfio_user_msg *msg);
static int handle_region_read(struct vfio_user_server *srv, struct vfio_user_msg *msg);
static int handle_region_write(struct vfio_user_server *srv, struct vfio_user_msg *msg);
static int handle_reset(struct vfio_user_server *srv, struct vfio_user_msg *msg);

static const struct cmd_rule cmd_rules[VFIO_USER_MAX_COMMAND] = {
	[VFIO_USER_VERSION] = { sizeof(struct vfio_user_version),
		sizeof(struct vfio_user_version) + VFIO_USER_JSON_MAX, 0, handle_version },
	[VFIO_USER_DMA_MAP] = { sizeof(struct vfio_user_dma_map),
		sizeof(struct vfio_user_dma_map), 1, handle_dma_map },
	[VFIO_USER_DMA_UNMAP] = { sizeof(struct vfio_user_dma_unmap),
		sizeof(struct vfio_user_dma_unmap), 0, handle_dma_unmap },
	[VFIO_USER_DEVICE_GET_INFO] = { sizeof(struct vfio_user_device_info),
		sizeof(struct vfio_user_device_info), 0, handle_device_info },
	[VFIO_USER_DEVICE_GET_REGION_INFO] = { sizeof(struct vfio_region_info),
		sizeof(struct vfio_region_info), 0, handle_region_info },
	[VFIO_USER_DEVICE_GET_IRQ_INFO] = { sizeof(struct vfio_irq_info),
		sizeof(struct vfio_irq_info), 0, handle_irq_info },
	[VFIO_USER_DEVICE_SET_IRQS] = { sizeof(struct vfio_irq_set), UINT32_MAX,
		UINT32_MAX, handle_set_irqs },
	[VFIO_USER_REGION_READ] = { sizeof(struct vfio_user_region_access),
		sizeof(struct vfio_user_region_access), 0, handle_region_read },
	[VFIO_USER_REGION_WRITE] = { sizeof(struct vfio_user_region_access), UINT32_MAX,
		0, handle_region_write },
	[VFIO_USER_DEVICE_RESET] = { 0, 0, 0, handle_reset },
};

/* Internal: a failed VERSION is fatal; handlers return this to ask for a drop. */
#define VFU_DROP_AFTER_REPLY 0x10000

static void
server_drop(struct vfio_user_server *srv)
{
	if (srv->conn_fd < 0)
		return;
	vfio_user_reader_reset(&srv->reader);
	close(srv->conn_fd);
	srv->conn_fd = -1;
	srv->negotiated = false;
	vfio_user_caps_default(&srv->client_caps);
	if (srv->ops.disconnected != NULL)
		srv->ops.disconnected(srv->arg);
}

/* Send a reply to @req unless it asked for none. */
static int
send_reply(struct vfio_user_server *srv, const struct vfio_user_msg *req, const void *payload,
	   size_t len, const int *fds, unsigned int nr_fds)
{
	struct vfio_user_header hdr = {
		.msg_id = req->hdr.msg_id,
		.command = req->hdr.command,
		.flags = VFIO_USER_F_TYPE_REPLY,
	};
	int rc;

	if (req->hdr.flags & VFIO_USER_F_NO_REPLY)
		return 0;
	rc = vfio_user_send_msg(srv->conn_fd, &hdr, payload, len, fds, nr_fds,
				srv->timeout_ms);
	if (rc < 0)
		srv->send_failed = true;
	if (rc < 0)
		VFU_ERR("%s: sending the %s reply failed: %s", srv->path ? srv->path : "-",
			vfio_user_cmd_name(req->hdr.command), strerror(-rc));
	return rc;
}

static int
send_error(struct vfio_user_server *srv, const struct vfio_user_msg *req, int err)
{
	struct vfio_user_header hdr = {
		.msg_id = req->hdr.msg_id,
		.command = req->hdr.command,
		.flags = VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR,
		.error = (uint32_t)err,
	};
	int rc;

	if (req->hdr.flags & VFIO_USER_F_NO_REPLY)
		return 0;
	rc = vfio_user_send_msg(srv->conn_fd, &hdr, NULL, 0, NULL, 0, srv->timeout_ms);
	if (rc < 0)
		srv->send_failed = true;
	if (rc < 0)
		VFU_ERR("%s: sending the %s error reply failed: %s",
			srv->path ? srv->path : "-", vfio_user_cmd_name(req->hdr.command),
			strerror(-rc));
	return rc;
}

static const char *
peer(const struct vfio_user_server *srv)
{
	return srv->path != NULL ? srv->path : "vfio-user server";
}

/* ---- VERSION ---- */

static int
handle_version(struct vfio_user_server *srv, struct vfio_user_msg *msg)
{
	char buf[sizeof(struct vfio_user_version) + VFIO_USER_JSON_MAX];
	struct vfio_user_caps caps, reply_caps;
	uint16_t major, minor;
	int len;

	if (srv->negotiated) {
		VFU_ERR("%s: second VERSION", peer(srv));
		return -EINVAL;
	}
	if (vfio_user_version_parse(msg->payload, msg->payload_len, &major, &minor,
				    &caps) < 0)
		return -EINVAL - VFU_DROP_AFTER_REPLY;
	if (major != VFIO_USER_MAJOR) {
		VFU_ERR("%s: client proposes major %u, we speak %u", peer(srv), major,
			VFIO_USER_MAJOR);
		return -EINVAL - VFU_DROP_AFTER_REPLY;
	}
	reply_caps = srv->own_caps;
	/* The reply's capabilities must be a subset of the proposal. */
	reply_caps.sparse_mmap_fds = caps.sparse_mmap_fds;
	len = vfio_user_version_build(buf, sizeof(buf), VFIO_USER_MAJOR,
				      minor < VFIO_USER_MINOR ? minor : VFIO_USER_MINOR,
				      &reply_caps);
	if (len < 0)
		return len;
	srv->client_caps = caps;
	srv->negotiated = true;
	VFU_INFO("%s: client version %u.%u, max_msg_fds %u, max_data_xfer_size %u%s",
		 peer(srv), major, minor, caps.max_msg_fds, caps.max_data_xfer_size,
		 caps.sparse_mmap_fds ? ", sparse_mmap_fds" : "");
	return send_reply(srv, msg, buf, (size_t)len, NULL, 0);
}

/* ---- DMA ---- */

static int
handle_dma_map(struct vfio_user_server *srv, struct vfio_user_msg *msg)
{
	struct vfio_user_dma_map map;
	int fd, rc;

	memcpy(&map, msg->payload, sizeof(map));
	if (map.argsz != sizeof(map) || map.size == 0 || map.addr + map.size < map.addr ||
	    map.offset + map.size < map.offset ||
	    (map.flags & ~(VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE))) {
		VFU_ERR("%s: bad DMA_MAP argsz %u flags 0x%x addr 0x%llx size 0x%llx",
			peer(srv), map.argsz, map.flags, (unsigned long long)map.addr,
			(unsigned long long)map.size);
		return -EINVAL;
	}
	if (msg->nr_fds != 1) {
		VFU_ERR("%s: DMA_MAP without fd (DMA_READ/WRITE unsupported)", peer(srv));
		return -ENOTSUP;
	}
	if (srv->ops.dma_map == NULL)
		return -ENOTSUP;
	fd = vfio_user_msg_take_fd(msg, 0);
	rc = srv->ops.dma_map(srv->arg, &map, fd);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return send_reply(srv, msg, NULL, 0, NULL, 0);
}

static int
handle_dma_unmap(struct vfio_user_server *srv, struct vfio_user_msg *msg)
{
	struct vfio_user_dma_unmap unmap;
	int rc;

	memcpy(&unmap, msg->payload, sizeof(unmap));
	if (unmap.argsz < sizeof(unmap) || (unmap.flags & ~VFIO_USER_F_DMA_UNMAP_ALL) ||
	    ((unmap.flags & VFIO_USER_F_DMA_UNMAP_ALL) ?
	     (unmap.addr != 0 || unmap.size != 0) :
	     (unmap.size == 0 || unmap.addr + unmap.size < unmap.addr))) {
		VFU_ERR("%s: bad DMA_UNMAP argsz %u flags 0x%x addr 0x%llx size 0x%llx",
			peer(srv), unmap.argsz, unmap.flags, (unsigned long long)unmap.addr,
			(unsigned long long)unmap.size);
		return -EINVAL;
	}
	if (srv->ops.dma_unmap == NULL)
		return -ENOTSUP;
	rc = srv->ops.dma_unmap(srv->arg, &unmap);
	if (rc < 0)
		return rc;
	/* The reply echoes the request; argsz says how much we sent. */
	unmap.argsz = sizeof(unmap);
	return send_reply(srv, msg, &unmap, sizeof(unmap), NULL, 0);
}

/* ---- device, region and irq info ---- */

static int
get_device_info(struct vfio_user_server *srv, struct vfio_user_device_info *info)
{
	int rc;

	memset(info, 0, sizeof(*info));
	rc = srv->ops.get_device_info(srv->arg, info);
	info->argsz = sizeof(*info);
	return rc;
}

static int
handle_device_info(struct vfio_user_server *srv, struct vfio_user_msg *msg)
{
	struct vfio_user_device_info info;
	int rc;

	memcpy(&info, msg->payload, sizeof(info));
	if (info.argsz < sizeof(info)) {
		VFU_ERR("%s: DEVICE_GET_INFO argsz %u < %zu", peer(srv), info.argsz,
			sizeof(info));
		return -EINVAL;
	}
	rc = get_device_info(srv, &info);
	if (rc < 0)
		return rc;
	return send_reply(srv, msg, &info, sizeof(info), NULL, 0);
}

/*
 * Ask the device for region @index and check what it says (a device bug
 * must not become a malformed reply).
 */
static int
describe_region(struct vfio_user_server *srv, uint32_t index, struct vfio_user_region *r)
{
	struct vfio_user_device_info info;
	unsigned int i;
	int rc;

	rc = get_device_info(srv, &info);
	if (rc < 0)
		return rc;
	if (index >= info.num_regions)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->index = index;
	r->fd = -1;
	for (i = 0; i < VFIO_USER_SPARSE_AREAS_MAX; i++)
		r->areas[i].fd = -1;
	rc = srv->ops.get_region_info(srv->arg, index, r);
	if (rc < 0)
		return rc;
	if (r->nr_areas > VFIO_USER_SPARSE_AREAS_MAX)
		goto bad;
	for (i = 0; i < r->nr_areas; i++) {
		const struct vfio_user_area *a = &r->areas[i];

		if (a->offset > r->size || a->size > r->size - a->offset)
			goto bad;
		if (a->fd < 0 && r->fd < 0 && (r->flags & VFIO_REGION_INFO_FLAG_MMAP))
			goto bad;
	}
	if ((r->flags & VFIO_REGION_INFO_FLAG_MMAP) && r->nr_areas == 0 && r->fd < 0)
		goto bad;
	return 0;
bad:
	VFU_ERR("%s: device describes region %u inconsistently", peer(srv), index);
	return -EIO;
}

/* Add @fd to the distinct-fd list, return its index or -E2BIG. */
static int
fd_slot(int *fds, unsigned int *nr, unsigned int max, int fd)
{
	unsigned int i;

	for (i = 0; i < *nr; i++)
		if (fds[i] == fd)
			return (int)i;
	if (*nr >= max)
		return -E2BIG;
	fds[*nr] = fd;
	return (int)(*nr)++;
}

static int
handle_region_info(struct vfio_user_server *srv, struct vfio_user_msg *msg)
{
	/* Large enough for the bigger of the two capabilities, at max areas. */
	union {
		struct vfio_region_info info;
		uint8_t bytes[sizeof(struct vfio_region_info) +
			      sizeof(struct vfio_user_region_info_cap_sparse_mmap_fds) +
			      VFIO_USER_SPARSE_AREAS_MAX *
			      sizeof(struct vfio_user_sparse_mmap_fd_area)];
	} rep;
	struct vfio_region_info req;
	struct vfio_user_region r;
	int fds[VFIO_USER_FDS_MAX];
	unsigned int nr_fds = 0, i, n = 0;
	unsigned int max_fds = srv->client_caps.max_msg_fds;
	bool own_fd = false, too_many = false;
	size_t len = sizeof(rep.info);
	int rc;

	memcpy(&req, msg->payload, sizeof(req));
	if (req.argsz < sizeof(req)) {
		VFU_ERR("%s: GET_REGION_INFO argsz %u < %zu", peer(srv), req.argsz, sizeof(req));
		return -EINVAL;
	}
	rc = describe_region(srv, req.index, &r);
	if (rc < 0)
		return rc;
	memset(&rep, 0, sizeof(rep));
	rep.info.index = r.index;
	rep.info.size = r.size;
	rep.info.flags = r.flags & (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE);
	for (i = 0; i < r.nr_areas; i++)
		if (r.areas[i].fd >= 0 && r.areas[i].fd != r.fd)
			own_fd = true;

	if ((r.flags & VFIO_REGION_INFO_FLAG_MMAP) && own_fd &&
	    srv->client_caps.sparse_mmap_fds) {
		struct vfio_user_region_info_cap_sparse_mmap_fds *cap =
			(void *)(rep.bytes + sizeof(rep.info));

		cap->header.id = VFIO_USER_REGION_INFO_CAP_SPARSE_MMAP_FDS;
		cap->header.version = VFIO_USER_REGION_INFO_CAP_SPARSE_MMAP_FDS_VERSION;
		for (i = 0; i < r.nr_areas; i++) {
			const struct vfio_user_area *a = &r.areas[i];
			int fd = a->fd >= 0 ? a->fd : r.fd;

			rc = fd_slot(fds, &nr_fds, max_fds, fd);
			/* Only the full reply carries fds: judge it there. */
			too_many |= rc < 0;
			cap->areas[i].offset = a->offset;
			cap->areas[i].size = a->size;
			cap->areas[i].fd_offset = a->fd >= 0 ? a->fd_offset : r.offset + a->offset;
			cap->areas[i].fd_index = rc < 0 ? 0 : (uint32_t)rc;
		}
		cap->nr_areas = r.nr_areas;
		rep.info.flags |= VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS;
		rep.info.cap_offset = sizeof(rep.info);
		len += sizeof(*cap) + r.nr_areas * sizeof(cap->areas[0]);
	} else if ((r.flags & VFIO_REGION_INFO_FLAG_MMAP) && r.fd >= 0) {
		struct vfio_region_info_cap_sparse_mmap *cap = (void *)(rep.bytes + sizeof(rep.info));

		/* Standard form: only areas inside the one region fd. */
		for (i = 0; i < r.nr_areas; i++) {
			if (r.areas[i].fd >= 0 && r.areas[i].fd != r.fd)
				continue;
			cap->areas[n].offset = r.areas[i].offset;
			cap->areas[n].size = r.areas[i].size;
			n++;
		}
		rep.info.offset = r.offset;
		if (r.nr_areas == 0 || n > 0) {
			fds[nr_fds++] = r.fd;
			rep.info.flags |= VFIO_REGION_INFO_FLAG_MMAP;
		}
		if (n > 0) {
			cap->header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
			cap->header.version = 1;
			cap->nr_areas = n;
			rep.info.flags |= VFIO_REGION_INFO_FLAG_CAPS;
			rep.info.cap_offset = sizeof(rep.info);
			len += sizeof(*cap) + n * sizeof(cap->areas[0]);
		}
	}
	/* else: nothing this client can map; access through REGION_READ/WRITE. */

	rep.info.argsz = (uint32_t)len;
	if (req.argsz < len) {
		/* Two-phase rule: say how much is needed; no caps, no fd. */
		rep.info.cap_offset = 0;
		return send_reply(srv, msg, &rep.info, sizeof(rep.info), NULL, 0);
	}
	if (!too_many)
		return send_reply(srv, msg, rep.bytes, len, fds, nr_fds);
	VFU_ERR("%s: region %u needs more than the client's %u fds", peer(srv), r.index,
		max_fds);
	return -E2BIG;
}

static int
get_irq_info(struct vfio_user_server *srv, uint32_t index, struct vfio_irq_info *info)
{
	struct vfio_user_device_info dev;
	int rc;

	rc = get_device_info(srv, &dev);
	if (rc < 0)
		return rc;
	if (index >= dev.num_irqs)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	info->index = index;
	rc = srv->ops.get_irq_info(srv->arg, info);
	info->argsz = sizeof(*info);
	info->index = index;
	return rc;
}

static int
handle_irq_info(struct vfio_user_server *srv, struct vfio_user_msg *msg)
{
	struct vfio_irq_info info;
	int rc;

	memcpy(&info, msg->payload, sizeof(info));
	if (info.argsz < sizeof(info)) {
		VFU_ERR("%s: GET_IRQ_INFO argsz %u < %zu", peer(srv), info.argsz, sizeof(info));
		return -EINVAL;
	}
	rc = get_irq_info(srv, info.index, &info);
	if (rc < 0)
		return rc;
	return send_reply(srv, msg, &info, sizeof(info), NULL, 0);
}

static int
is_one_bit(uint32_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

static int
handle_set_irqs(struct vfio_user_server *srv, struct vfio_user_msg *msg)
{
	const uint32_t data_mask = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL |
		VFIO_IRQ_SET_DATA_EVENTFD;
	const uint32_t action_mask = VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK |
		VFIO_IRQ_SET_ACTION_TRIGGER;
	struct vfio_irq_set set;
	struct vfio_irq_info info;
	const uint8_t *bools = NULL;
	size_t want = sizeof(set);
	int rc;

	memcpy(&set, msg->payload, sizeof(set));
	if ((set.flags & ~(data_mask | action_mask)) || !is_one_bit(set.flags & data_mask) ||
	    !is_one_bit(set.flags & action_mask)) {
		VFU_ERR("%s: SET_IRQS flags 0x%x invalid", peer(srv), set.flags);
		return -EINVAL;
	}
	if (set.flags & VFIO_IRQ_SET_DATA_BOOL) {
		want += set.count;
		bools = (const uint8_t *)msg->payload + sizeof(set);
	}
	if (set.argsz != want || msg->payload_len != want) {
		VFU_ERR("%s: SET_IRQS argsz %u, payload %zu, expected %zu", peer(srv), set.argsz,
			msg->payload_len, want);
		return -EINVAL;
	}
	rc = get_irq_info(srv, set.index, &info);
	if (rc < 0)
		return rc;
	if (set.count == 0 ? (set.start != 0 || !(set.flags & VFIO_IRQ_SET_DATA_NONE)) :
	    (set.start > info.count || set.count > info.count - set.start)) {
		VFU_ERR("%s: SET_IRQS index %u start %u count %u outside %u vectors",
			peer(srv), set.index, set.start, set.count, info.count);
		return -EINVAL;
	}
	if (msg->nr_fds != 0 &&
	    (!(set.flags & VFIO_IRQ_SET_DATA_EVENTFD) || msg->nr_fds != set.count)) {
		VFU_ERR("%s: SET_IRQS with %u fds for %u vectors (flags 0x%x)", peer(srv),
			msg->nr_fds, set.count, set.flags);
		return -EINVAL;
	}
	if (srv->ops.set_irqs == NULL)
		return -ENOTSUP;
	rc = srv->ops.set_irqs(srv->arg, &set, bools, msg->fds, msg->nr_fds);
	if (rc < 0)
		return rc; /* the dispatcher closes the fds */
	/* The callback owns them now. */
	memset(msg->fds, 0xff, sizeof(msg->fds));
	msg->nr_fds = 0;
	return send_reply(srv, msg, NULL, 0, NULL, 0);
}

/* ---- region access ---- */

static int
check_access(struct vfio_user_server *srv, const struct vfio_user_region_access *acc,
	     uint32_t need_flag)
{
	struct vfio_user_region r;
	uint32_t max = srv->own_caps.max_data_xfer_size;
	int rc;

	if (srv->client_caps.max_data_xfer_size < max)
		max = srv->client_caps.max_data_xfer_size;
	if (acc->count > max) {
		VFU_ERR("%s: region access of %u bytes > %u", peer(srv), acc->count, max);
		return -EINVAL;
	}
	rc = describe_region(srv, acc->region, &r);
	if (rc < 0)
		return rc;
	if (!(r.flags & need_flag) || acc->offset > r.size || acc->count > r.size - acc->offset) {
		VFU_ERR("%s: region %u %s [0x%llx, +%u) outside size 0x%llx or not allowed",
			peer(srv), acc->region,
			need_flag == VFIO_REGION_INFO_FLAG_READ ? "read" : "write",
			(unsigned long long)acc->offset, acc->count,
			(unsigned long long)r.size);
		return -EINVAL;
	}
	return 0;
}

static int
handle_region_read(struct vfio_user_server *srv, struct vfio_user_msg *msg)
{
	struct vfio_user_region_access acc;
	struct vfio_user_region_access *rep;
	int rc;

	memcpy(&acc, msg->payload, sizeof(acc));
	rc = check_access(srv, &acc, VFIO_REGION_INFO_FLAG_READ);
	if (rc < 0)
		return rc;
	rep = calloc(1, sizeof(*rep) + acc.count);
	if (rep == NULL)
		return -ENOMEM;
	*rep = acc;
	if (acc.count > 0) {
		rc = srv->ops.region_read == NULL ? -ENOTSUP :
			srv->ops.region_read(srv->arg, acc.region, acc.offset, rep->data,
					     acc.count);
	}
	if (rc == 0)
		rc = send_reply(srv, msg, rep, sizeof(*rep) + acc.count, NULL, 0);
	free(rep);
	return rc;
}

static int
handle_region_write(struct vfio_user_server *srv, struct vfio_user_msg *msg)
{
	struct vfio_user_region_access acc;
	int rc;

	memcpy(&acc, msg->payload, sizeof(acc));
	if (msg->payload_len - sizeof(acc) != acc.count) {
		VFU_ERR("%s: REGION_WRITE count %u but %zu data bytes", peer(srv), acc.count,
			msg->payload_len - sizeof(acc));
		return -EINVAL;
	}
	rc = check_access(srv, &acc, VFIO_REGION_INFO_FLAG_WRITE);
	if (rc < 0)
		return rc;
	if (acc.count > 0) {
		rc = srv->ops.region_write == NULL ? -ENOTSUP :
			srv->ops.region_write(srv->arg, acc.region, acc.offset,
					      (const uint8_t *)msg->payload + sizeof(acc),
					      acc.count);
		if (rc < 0)
			return rc;
	}
	acc.count = 0;
	/* The write reply is the access header without data. */
	return send_reply(srv, msg, &acc, sizeof(acc), NULL, 0);
}

static int
handle_reset(struct vfio_user_server *srv, struct vfio_user_msg *msg)
{
	int rc;

	if (srv->ops.device_reset == NULL)
		return -ENOTSUP;
	rc = srv->ops.device_reset(srv->arg);
	if (rc < 0)
		return rc;
	return send_reply(srv, msg, NULL, 0, NULL, 0);
}

/* ---- dispatch ---- */

/* Returns 0 to keep the connection, < 0 to drop it. */
static int
dispatch(struct vfio_user_server *srv, struct vfio_user_msg *msg)
{
	uint32_t cmd = msg->hdr.command;
	const struct cmd_rule *rule = cmd < VFIO_USER_MAX_COMMAND ? &cmd_rules[cmd] : NULL;
	uint32_t max_fds;
	int rc;

	if ((msg->hdr.flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_COMMAND) {
		VFU_ERR("%s: message type %u from the client is not a command", peer(srv),
			msg->hdr.flags & VFIO_USER_F_TYPE_MASK);
		/* Never answer a reply with a reply: it could ping-pong. */
		return 0;
	}
	if (rule == NULL || rule->handler == NULL) {
		bool known = cmd > 0 && cmd < VFIO_USER_MAX_COMMAND && cmd != 14;

		VFU_WARN("%s: %s command %u (%s)", peer(srv),
			 known ? "unsupported" : "unknown", cmd, vfio_user_cmd_name(cmd));
		rc = known ? -ENOTSUP : -ENOSYS;
		goto error;
	}
	if (!srv->negotiated && cmd != VFIO_USER_VERSION) {
		VFU_ERR("%s: %s before VERSION", peer(srv), vfio_user_cmd_name(cmd));
		rc = -EINVAL;
		goto error;
	}
	max_fds = rule->max_fds == UINT32_MAX ? srv->own_caps.max_msg_fds : rule->max_fds;
	if (msg->payload_len < rule->min_len ||
	    (rule->max_len != UINT32_MAX && msg->payload_len > rule->max_len) ||
	    msg->nr_fds > max_fds) {
		VFU_ERR("%s: %s with %zu payload bytes (%u..%u) and %u fds (max %u)", peer(srv),
			vfio_user_cmd_name(cmd), msg->payload_len, rule->min_len,
			rule->max_len, msg->nr_fds, max_fds);
		rc = cmd == VFIO_USER_VERSION ? -EINVAL - VFU_DROP_AFTER_REPLY : -EINVAL;
		goto error;
	}
	srv->send_failed = false;
	rc = rule->handler(srv, msg);
	if (srv->send_failed)
		return -EPIPE; /* the stream is broken: drop */
	if (rc >= 0)
		return 0;
error:
	if (rc <= -VFU_DROP_AFTER_REPLY) {
		send_error(srv, msg, -(rc + VFU_DROP_AFTER_REPLY));
		return -EPROTO;
	}
	if (msg->hdr.flags & VFIO_USER_F_NO_REPLY)
		VFU_WARN("%s: posted %s failed: %s", peer(srv), vfio_user_cmd_name(cmd),
			 strerror(-rc));
	return send_error(srv, msg, -rc);
}

/*
 * Requests are read without waiting: a partial one is kept and continued
 * on the next call, so a client that writes slowly (or stops mid-message)
 * never holds the caller's event loop. It may hold its own connection for
 * timeout_ms at most: a request still incomplete after that is dropped,
 * with the client, on the next call.
 */
int
vfio_user_server_handle(struct vfio_user_server *srv)
{
	struct vfio_user_msg msg;
	int rc;

	if (srv->conn_fd < 0)
		return -ENOTCONN;
	rc = vfio_user_reader_step(srv->conn_fd, &srv->reader, srv->max_req_payload,
				   srv->own_caps.max_msg_fds, &msg);
	if (rc == -EAGAIN) {
		if (srv->reader.done == 0 ||
		    vfio_user_now_ms() - srv->reader.started_ms <= srv->timeout_ms)
			return -EAGAIN;
		VFU_ERR("%s: dropping the client: a request incomplete after %d ms (%zu bytes)",
			peer(srv), srv->timeout_ms, srv->reader.done);
		server_drop(srv);
		return -ENOTCONN;
	}
	if (rc < 0) {
		if (rc == -ECONNRESET)
			VFU_INFO("%s: client disconnected", peer(srv));
		else
			VFU_ERR("%s: dropping the client: %s", peer(srv), strerror(-rc));
		server_drop(srv);
		return -ENOTCONN;
	}
	rc = dispatch(srv, &msg);
	vfio_user_msg_release(&msg);
	if (rc < 0) {
		VFU_ERR("%s: dropping the client after %s: %s", peer(srv),
			vfio_user_cmd_name(msg.hdr.command), strerror(-rc));
		server_drop(srv);
		return -ENOTCONN;
	}
	return 0;
}

int
vfio_user_server_pending_ms(const struct vfio_user_server *srv)
{
	int64_t left;

	if (srv->conn_fd < 0 || srv->reader.done == 0)
		return -1;
	left = srv->reader.started_ms + srv->timeout_ms - vfio_user_now_ms();
	return left < 0 ? 0 : (int)left;
}

/* ---- lifecycle ---- */

struct vfio_user_server *
vfio_user_server_create(const char *path, const struct vfio_user_server_ops *ops, void *arg,
			const struct vfio_user_server_params *params)
{
	struct vfio_user_server *srv;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int err;

	if (ops == NULL || ops->get_device_info == NULL || ops->get_region_info == NULL ||
	    ops->get_irq_info == NULL ||
	    (path != NULL && strlen(path) >= sizeof(sun.sun_path)) ||
	    (params != NULL && (params->max_msg_fds > VFIO_USER_FDS_MAX || params->timeout_ms < 0 ||
				params->max_data_xfer_size > VFIO_USER_MAX_MAX_DATA_XFER_SIZE))) {
		VFU_ERR("vfio_user_server_create: invalid arguments");
		errno = EINVAL;
		return NULL;
	}
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return NULL;
	srv->ops = *ops;
	srv->arg = arg;
	srv->listen_fd = -1;
	srv->conn_fd = -1;
	vfio_user_reader_init(&srv->reader);
	vfio_user_caps_default(&srv->client_caps);
	vfio_user_caps_default(&srv->own_caps);
	srv->own_caps.max_msg_fds = VFIO_USER_SERVER_DEFAULT_MAX_MSG_FDS;
	srv->timeout_ms = VFIO_USER_DEFAULT_TIMEOUT_MS;
	if (params != NULL) {
		if (params->max_msg_fds != 0)
			srv->own_caps.max_msg_fds = params->max_msg_fds;
		if (params->max_data_xfer_size != 0)
			srv->own_caps.max_data_xfer_size = params->max_data_xfer_size;
		if (params->timeout_ms != 0)
			srv->timeout_ms = params->timeout_ms;
	}
	/* The largest request is a REGION_WRITE of max_data_xfer_size bytes. */
	srv->max_req_payload = sizeof(struct vfio_user_region_access) +
		srv->own_caps.max_data_xfer_size;
	if (srv->max_req_payload < sizeof(struct vfio_user_version) + VFIO_USER_JSON_MAX)
		srv->max_req_payload = sizeof(struct vfio_user_version) + VFIO_USER_JSON_MAX;
	if (path == NULL)
		return srv;

	srv->path = strdup(path);
	if (srv->path == NULL)
		goto fail;
	strcpy(sun.sun_path, path);
	/* Replace a stale socket from a previous run, nothing else. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	srv->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (srv->listen_fd < 0)
		goto fail;
	if (bind(srv->listen_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		goto fail;
	if (listen(srv->listen_fd, 1) < 0) {
		err = errno;
		unlink(path);
		errno = err;
		goto fail;
	}
	return srv;
fail:
	err = errno;
	VFU_ERR("%s: cannot listen: %s", path, strerror(err));
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	free(srv->path);
	free(srv);
	errno = err;
	return NULL;
}

void
vfio_user_server_destroy(struct vfio_user_server *srv)
{
	if (srv == NULL)
		return;
	server_drop(srv);
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		unlink(srv->path);
	}
	free(srv->path);
	free(srv);
}

int
vfio_user_server_listen_fd(const struct vfio_user_server *srv)
{
	return srv->listen_fd;
}

int
vfio_user_server_conn_fd(const struct vfio_user_server *srv)
{
	return srv->conn_fd;
}

int
vfio_user_server_accept(struct vfio_user_server *srv)
{
	int fd;

	if (srv->listen_fd < 0)
		return -EINVAL;
	fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (srv->conn_fd >= 0) {
		VFU_WARN("%s: refusing a second client", peer(srv));
		close(fd);
		return -EBUSY;
	}
	srv->conn_fd = fd;
	VFU_INFO("%s: client connected", peer(srv));
	return fd;
}

int
vfio_user_server_attach(struct vfio_user_server *srv, int fd)
{
	if (srv->conn_fd >= 0) {
		close(fd);
		return -EBUSY;
	}
	srv->conn_fd = fd;
	return 0;
}

void
vfio_user_server_disconnect(struct vfio_user_server *srv)
{
	server_drop(srv);
}

const struct vfio_user_caps *
vfio_user_server_client_caps(const struct vfio_user_server *srv)
{
	return srv->negotiated ? &srv->client_caps : NULL;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Client role: synchronous requests. Each request is sent with a fresh
 * msg_id and the client waits for the reply with the same id and command.
 * Anything else in the stream (a reply we did not ask for, a malformed
 * reply) means we no longer know where we are in the stream, so the client
 * marks itself broken: the caller must destroy it and reconnect. A request
 * from the server (DMA_READ/WRITE) is answered with ENOTSUP, so the stream
 * never desynchronises on it.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vfio_user_private.h"

struct vfio_user_client {
	int fd;
	uint16_t next_id;
	bool broken;
	bool negotiated;
	struct vfio_user_caps own_caps;
	struct vfio_user_caps server_caps;
	int timeout_ms;
	size_t max_reply_payload;
};

/* Region info reply we can take: the fds capability with the most areas. */
#define VFU_REGION_INFO_MAX (sizeof(struct vfio_region_info) + \
	sizeof(struct vfio_user_region_info_cap_sparse_mmap_fds) + \
	VFIO_USER_SPARSE_AREAS_MAX * sizeof(struct vfio_user_sparse_mmap_fd_area))
/* Most capabilities we walk in one reply: a loop guard. */
#define VFU_MAX_CAPS 16

static void
set_broken(struct vfio_user_client *cli, const char *why, int rc)
{
	if (!cli->broken)
		VFU_ERR("vfio-user client fd %d: %s (%s); connection unusable", cli->fd, why,
			strerror(rc < 0 ? -rc : rc));
	cli->broken = true;
}

/* Answer a server-to-client request we do not support. */
static int
refuse_server_request(struct vfio_user_client *cli, const struct vfio_user_msg *msg)
{
	struct vfio_user_header hdr = {
		.msg_id = msg->hdr.msg_id,
		.command = msg->hdr.command,
		.flags = VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR,
		.error = ENOTSUP,
	};

	VFU_WARN("vfio-user client fd %d: server sent %s, refused", cli->fd,
		 vfio_user_cmd_name(msg->hdr.command));
	if (msg->hdr.flags & VFIO_USER_F_NO_REPLY)
		return 0;
	return vfio_user_send_msg(cli->fd, &hdr, NULL, 0, NULL, 0, cli->timeout_ms);
}

/* Send one request; its msg_id in *id. */
static int
client_send(struct vfio_user_client *cli, uint16_t cmd, const void *req, size_t req_len,
	    const int *fds, unsigned int nr_fds, uint16_t *id)
{
	struct vfio_user_header hdr = { .command = cmd, .flags = VFIO_USER_F_TYPE_COMMAND };
	int rc;

	if (cli->broken)
		return -EPROTO;
	if (cli->fd < 0)
		return -ENOTCONN;
	if (nr_fds > (cli->negotiated ? cli->server_caps.max_msg_fds : VFIO_USER_FDS_MAX))
		return -EINVAL;
	hdr.msg_id = cli->next_id++;
	rc = vfio_user_send_msg(cli->fd, &hdr, req, req_len, fds, nr_fds, cli->timeout_ms);
	if (rc < 0) {
		set_broken(cli, "send failed", rc);
		return rc == -EPIPE || rc == -ECONNRESET ? -ENOTCONN : rc;
	}
	*id = hdr.msg_id;
	return 0;
}

/*
 * The reply to request @id (command @cmd), the next one to come: the
 * server answers in order. Anything else breaks the connection.
 */
static int
client_recv(struct vfio_user_client *cli, uint16_t cmd, uint16_t id, struct vfio_user_msg *reply)
{
	int64_t deadline = vfio_user_deadline(cli->timeout_ms);
	int rc;

	for (;;) {
		rc = vfio_user_recv_msg_ex(cli->fd, reply, cli->max_reply_payload,
					   cli->own_caps.max_msg_fds, cli->timeout_ms, deadline);
		if (rc < 0) {
			/* A late reply would desynchronise the next request too. */
			set_broken(cli, "no valid reply", rc);
			return rc == -ECONNRESET ? -ENOTCONN : rc;
		}
		if ((reply->hdr.flags & VFIO_USER_F_TYPE_MASK) == VFIO_USER_F_TYPE_COMMAND) {
			rc = refuse_server_request(cli, reply);
			vfio_user_msg_release(reply);
			if (rc < 0) {
				set_broken(cli, "send failed", rc);
				return rc;
			}
			continue;
		}
		break;
	}
	if ((reply->hdr.flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_REPLY ||
	    reply->hdr.msg_id != id || reply->hdr.command != cmd) {
		VFU_ERR("vfio-user client fd %d: reply id %u command %u type %u, expected id %u"
			" command %u", cli->fd, reply->hdr.msg_id, reply->hdr.command,
			reply->hdr.flags & VFIO_USER_F_TYPE_MASK, id, cmd);
		vfio_user_msg_release(reply);
		set_broken(cli, "mismatched reply", -EPROTO);
		return -EPROTO;
	}
	if (reply->hdr.flags & VFIO_USER_F_ERROR) {
		uint32_t err = reply->hdr.error;

		vfio_user_msg_release(reply);
		/* An error reply without a usable errno still is an error. */
		if (err == 0 || err > 4095)
			err = EIO;
		VFU_DEBUG("vfio-user client fd %d: %s failed: %s", cli->fd,
			  vfio_user_cmd_name(cmd), strerror((int)err));
		return -(int)err;
	}
	return 0;
}

int
vfio_user_client_request(struct vfio_user_client *cli, uint16_t cmd, const void *req,
			 size_t req_len, const int *fds, unsigned int nr_fds,
			 struct vfio_user_msg *reply)
{
	uint16_t id;
	int rc;

	memset(reply, 0, sizeof(*reply));
	rc = client_send(cli, cmd, req, req_len, fds, nr_fds, &id);
	if (rc < 0)
		return rc;
	return client_recv(cli, cmd, id, reply);
}

/* A request whose reply must be exactly @rep_len bytes (0: any, discarded). */
static int
simple_request(struct vfio_user_client *cli, uint16_t cmd, const void *req, size_t req_len,
	       const int *fds, unsigned int nr_fds, void *rep, size_t rep_len)
{
	struct vfio_user_msg reply;
	int rc;

	rc = vfio_user_client_request(cli, cmd, req, req_len, fds, nr_fds, &reply);
	if (rc < 0)
		return rc;
	if (rep != NULL) {
		if (reply.payload_len < rep_len) {
			VFU_ERR("vfio-user client fd %d: %s reply of %zu bytes, need %zu",
				cli->fd, vfio_user_cmd_name(cmd), reply.payload_len, rep_len);
			vfio_user_msg_release(&reply);
			return -EPROTO;
		}
		memcpy(rep, reply.payload, rep_len);
	}
	vfio_user_msg_release(&reply);
	return 0;
}

int
vfio_user_client_negotiate(struct vfio_user_client *cli)
{
	char buf[sizeof(struct vfio_user_version) + VFIO_USER_JSON_MAX];
	struct vfio_user_msg reply;
	struct vfio_user_caps caps;
	uint16_t major, minor;
	int len, rc;

	if (cli->negotiated)
		return 0;
	len = vfio_user_version_build(buf, sizeof(buf), VFIO_USER_MAJOR, VFIO_USER_MINOR,
				      &cli->own_caps);
	if (len < 0)
		return len;
	rc = vfio_user_client_request(cli, VFIO_USER_VERSION, buf, (size_t)len, NULL, 0, &reply);
	if (rc < 0)
		return rc;
	rc = vfio_user_version_parse(reply.payload, reply.payload_len, &major, &minor, &caps);
	vfio_user_msg_release(&reply);
	if (rc == 0 && (major != VFIO_USER_MAJOR || minor > VFIO_USER_MINOR)) {
		VFU_ERR("vfio-user client fd %d: server answers version %u.%u to %u.%u",
			cli->fd, major, minor, VFIO_USER_MAJOR, VFIO_USER_MINOR);
		rc = -EPROTO;
	}
	if (rc == 0 && caps.sparse_mmap_fds && !cli->own_caps.sparse_mmap_fds) {
		VFU_ERR("vfio-user client fd %d: server enables %s we did not offer", cli->fd,
			VFIO_USER_CAP_SPARSE_MMAP_FDS);
		rc = -EPROTO;
	}
	if (rc < 0) {
		set_broken(cli, "version negotiation failed", rc);
		return -EPROTO;
	}
	cli->server_caps = caps;
	cli->negotiated = true;
	return 0;
}

struct vfio_user_client *
vfio_user_client_create(int fd, const struct vfio_user_client_params *params)
{
	struct vfio_user_client *cli;

	if (fd < 0 || (params != NULL &&
		       (params->max_msg_fds > VFIO_USER_FDS_MAX ||
			params->max_data_xfer_size > VFIO_USER_MAX_MAX_DATA_XFER_SIZE))) {
		if (fd >= 0)
			close(fd);
		errno = EINVAL;
		return NULL;
	}
	cli = calloc(1, sizeof(*cli));
	if (cli == NULL) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	cli->fd = fd;
	cli->timeout_ms = VFIO_USER_DEFAULT_TIMEOUT_MS;
	vfio_user_caps_default(&cli->own_caps);
	vfio_user_caps_default(&cli->server_caps);
	cli->own_caps.max_msg_fds = VFIO_USER_FDS_MAX;
	cli->own_caps.sparse_mmap_fds = true;
	if (params != NULL) {
		if (params->max_msg_fds != 0)
			cli->own_caps.max_msg_fds = params->max_msg_fds;
		if (params->max_data_xfer_size != 0)
			cli->own_caps.max_data_xfer_size = params->max_data_xfer_size;
		if (params->timeout_ms != 0)
			cli->timeout_ms = params->timeout_ms;
		cli->own_caps.sparse_mmap_fds = !params->no_sparse_mmap_fds;
	}
	/* Largest reply we take: a REGION_READ chunk, a VERSION, a region info. */
	cli->max_reply_payload = sizeof(struct vfio_user_region_access) +
		cli->own_caps.max_data_xfer_size;
	if (cli->max_reply_payload < sizeof(struct vfio_user_version) + VFIO_USER_JSON_MAX)
		cli->max_reply_payload = sizeof(struct vfio_user_version) + VFIO_USER_JSON_MAX;
	if (cli->max_reply_payload < VFU_REGION_INFO_MAX)
		cli->max_reply_payload = VFU_REGION_INFO_MAX;
	return cli;
}

struct vfio_user_client *
vfio_user_client_connect(const char *path, const struct vfio_user_client_params *params)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct vfio_user_client *cli;
	int fd, rc;

	if (path == NULL || strlen(path) >= sizeof(sun.sun_path)) {
		errno = EINVAL;
		return NULL;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		rc = errno;
		VFU_ERR("%s: connect: %s", path, strerror(rc));
		close(fd);
		errno = rc;
		return NULL;
	}
	cli = vfio_user_client_create(fd, params);
	if (cli == NULL)
		return NULL;
	rc = vfio_user_client_negotiate(cli);
	if (rc < 0) {
		vfio_user_client_destroy(cli);
		errno = -rc;
		return NULL;
	}
	return cli;
}

void
vfio_user_client_destroy(struct vfio_user_client *cli)
{
	if (cli == NULL)
		return;
	if (cli->fd >= 0)
		close(cli->fd);
	free(cli);
}

int
vfio_user_client_fd(const struct vfio_user_client *cli)
{
	return cli->fd;
}

const struct vfio_user_caps *
vfio_user_client_server_caps(const struct vfio_user_client *cli)
{
	return cli->negotiated ? &cli->server_caps : NULL;
}

int
vfio_user_client_get_device_info(struct vfio_user_client *cli,
				 struct vfio_user_device_info *info)
{
	struct vfio_user_device_info req = { .argsz = sizeof(req) };

	return simple_request(cli, VFIO_USER_DEVICE_GET_INFO, &req, sizeof(req), NULL, 0,
			      info, sizeof(*info));
}

int
vfio_user_client_get_irq_info(struct vfio_user_client *cli, uint32_t index,
			      struct vfio_irq_info *info)
{
	struct vfio_irq_info req = { .argsz = sizeof(req), .index = index };
	int rc;

	rc = simple_request(cli, VFIO_USER_DEVICE_GET_IRQ_INFO, &req, sizeof(req), NULL, 0,
			    info, sizeof(*info));
	if (rc == 0 && info->index != index)
		rc = -EPROTO;
	return rc;
}

/* Is [off, off + size) inside a region of @region_size bytes? */
static bool
area_inside(uint64_t off, uint64_t size, uint64_t region_size)
{
	return off <= region_size && size <= region_size - off;
}

/*
 * Walk the capability chain of a region info reply and fill @r's areas.
 * Fds stay in @msg; @r refers to them by number until the caller takes them.
 */
static int
parse_region_caps(struct vfio_user_client *cli, const struct vfio_user_msg *msg,
		  const struct vfio_region_info *info, struct vfio_user_region *r)
{
	const uint8_t *p = msg->payload;
	size_t len = msg->payload_len;
	uint32_t off = info->cap_offset;
	bool seen_sparse = false, ext = false;
	unsigned int walked, i;

	for (walked = 0; off != 0; walked++) {
		struct vfio_info_cap_header ch;
		uint32_t nr;

		if (walked >= VFU_MAX_CAPS || off < sizeof(*info) || off > len ||
		    len - off < sizeof(ch))
			return -EPROTO;
		memcpy(&ch, p + off, sizeof(ch));
		if (ch.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP ||
		    ch.id == VFIO_USER_REGION_INFO_CAP_SPARSE_MMAP_FDS) {
			bool with_fds = ch.id == VFIO_USER_REGION_INFO_CAP_SPARSE_MMAP_FDS;
			size_t area_size = with_fds ?
				sizeof(struct vfio_user_sparse_mmap_fd_area) :
				sizeof(struct vfio_region_sparse_mmap_area);

			if (seen_sparse || (with_fds && !cli->own_caps.sparse_mmap_fds) ||
			    !(info->flags & VFIO_REGION_INFO_FLAG_MMAP) || msg->nr_fds == 0 ||
			    len - off < sizeof(struct vfio_region_info_cap_sparse_mmap))
				return -EPROTO;
			seen_sparse = true;
			ext = with_fds;
			memcpy(&nr, p + off + sizeof(ch), sizeof(nr));
			if (nr > VFIO_USER_SPARSE_AREAS_MAX ||
			    (len - off - sizeof(struct vfio_region_info_cap_sparse_mmap)) / area_size
			    < nr)
				return -EPROTO;
			r->nr_areas = 0;
			for (i = 0; i < nr; i++) {
				const uint8_t *ap = p + off +
					sizeof(struct vfio_region_info_cap_sparse_mmap) +
					i * area_size;
				struct vfio_user_area *a = &r->areas[r->nr_areas];

				if (with_fds) {
					struct vfio_user_sparse_mmap_fd_area fa;

					memcpy(&fa, ap, sizeof(fa));
					if (fa.fd_index >= msg->nr_fds ||
					    fa.fd_offset + fa.size < fa.fd_offset)
						return -EPROTO;
					a->offset = fa.offset;
					a->size = fa.size;
					a->fd = msg->fds[fa.fd_index];
					a->fd_offset = fa.fd_offset;
				} else {
					struct vfio_region_sparse_mmap_area sa;

					memcpy(&sa, ap, sizeof(sa));
					a->offset = sa.offset;
					a->size = sa.size;
					a->fd = msg->fds[0];
					a->fd_offset = info->offset + sa.offset;
					if (a->fd_offset < info->offset ||
					    a->fd_offset + sa.size < a->fd_offset)
						return -EPROTO;
				}
				if (!area_inside(a->offset, a->size, info->size))
					return -EPROTO;
				/* Empty areas carry nothing to map: skip them. */
				if (a->size > 0)
					r->nr_areas++;
			}
		}
		/* Other capabilities are not ours to interpret. */
		if (ch.next != 0 && ch.next <= off)
			return -EPROTO;
		off = ch.next;
	}
	if (!seen_sparse && (info->flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		if (msg->nr_fds != 1 || info->offset + info->size < info->offset)
			return -EPROTO;
		r->nr_areas = 1;
		r->areas[0] = (struct vfio_user_area){ .offset = 0, .size = info->size,
			.fd = msg->fds[0], .fd_offset = info->offset };
	}
	return ext ? 1 : 0;
}

int
vfio_user_client_get_region_info(struct vfio_user_client *cli, uint32_t index,
				 struct vfio_user_region *r)
{
	struct vfio_region_info req = { .argsz = VFU_REGION_INFO_MAX, .index = index };
	struct vfio_region_info info;
	struct vfio_user_msg reply;
	unsigned int i, j;
	bool ext;
	int rc;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	for (i = 0; i < VFIO_USER_SPARSE_AREAS_MAX; i++)
		r->areas[i].fd = -1;
	rc = vfio_user_client_request(cli, VFIO_USER_DEVICE_GET_REGION_INFO, &req, sizeof(req),
				      NULL, 0, &reply);
	if (rc < 0)
		return rc;
	rc = -EPROTO;
	if (reply.payload_len < sizeof(info))
		goto bad;
	memcpy(&info, reply.payload, sizeof(info));
	if (info.index != index)
		goto bad;
	if (info.argsz > req.argsz) {
		/* We asked for the most we can take: the server wants more. */
		VFU_ERR("vfio-user client fd %d: region %u info needs %u bytes > %u", cli->fd,
			index, info.argsz, req.argsz);
		vfio_user_msg_release(&reply);
		return -E2BIG;
	}
	r->index = index;
	r->flags = info.flags & (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
				 VFIO_REGION_INFO_FLAG_MMAP);
	r->size = info.size;
	r->offset = info.offset;
	if (!(info.flags & VFIO_REGION_INFO_FLAG_CAPS))
		info.cap_offset = 0;
	rc = parse_region_caps(cli, &reply, &info, r);
	if (rc < 0)
		goto bad;
	ext = rc == 1;
	rc = -EPROTO;
	/* Take the fds the areas use; release() closes the unused ones. */
	for (i = 0; i < reply.nr_fds; i++) {
		bool used = false;

		for (j = 0; j < r->nr_areas; j++)
			used |= r->areas[j].fd == reply.fds[i];
		if (used) {
			/* The standard forms have one region fd; ours has none. */
			if (i == 0 && !ext)
				r->fd = reply.fds[0];
			vfio_user_msg_take_fd(&reply, i);
		}
	}
	vfio_user_msg_release(&reply);
	return 0;
bad:
	VFU_ERR("vfio-user client fd %d: malformed region %u info reply", cli->fd, index);
	vfio_user_msg_release(&reply);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	return rc;
}

static int
send_set_irqs(struct vfio_user_client *cli, uint32_t index, uint32_t flags, uint32_t start,
	      uint32_t count, const int *fds, unsigned int nr_fds, const uint8_t *bools)
{
	struct vfio_irq_set *set;
	size_t len = sizeof(*set) + (bools != NULL ? count : 0);
	int rc;

	set = calloc(1, len);
	if (set == NULL)
		return -ENOMEM;
	set->argsz = (uint32_t)len;
	set->flags = flags;
	set->index = index;
	set->start = start;
	set->count = count;
	if (bools != NULL)
		memcpy(set->data, bools, count);
	rc = simple_request(cli, VFIO_USER_DEVICE_SET_IRQS, set, len, fds, nr_fds, NULL, 0);
	free(set);
	return rc;
}

int
vfio_user_client_set_irqs(struct vfio_user_client *cli, uint32_t index, uint32_t flags,
			  uint32_t start, uint32_t count, const int *fds, const uint8_t *bools)
{
	uint32_t max = cli->negotiated ? cli->server_caps.max_msg_fds : 1;
	uint32_t i, j;
	int rc;

	if ((bools != NULL) != ((flags & VFIO_IRQ_SET_DATA_BOOL) != 0) ||
	    (fds != NULL && !(flags & VFIO_IRQ_SET_DATA_EVENTFD)) ||
	    (bools != NULL && count > cli->own_caps.max_data_xfer_size) ||
	    (uint64_t)start + count > UINT32_MAX)
		return -EINVAL;
	if (fds == NULL || count == 0)
		return send_set_irqs(cli, index, flags, start, count, NULL, 0, bools);
	/* Runs of valid fds go in chunks of max_msg_fds; runs of -1 go fd-less. */
	for (i = 0; i < count; i = j) {
		bool valid = fds[i] >= 0;

		for (j = i; j < count && (fds[j] >= 0) == valid && (!valid || j - i < max); j++)
			;
		rc = send_set_irqs(cli, index, flags, start + i, j - i, valid ? &fds[i] : NULL,
				   valid ? j - i : 0, NULL);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static uint32_t
xfer_max(const struct vfio_user_client *cli)
{
	uint32_t max = cli->own_caps.max_data_xfer_size;

	if (cli->negotiated && cli->server_caps.max_data_xfer_size < max)
		max = cli->server_caps.max_data_xfer_size;
	return max;
}

int
vfio_user_client_region_read(struct vfio_user_client *cli, uint32_t region, uint64_t offset,
			     void *buf, size_t count)
{
	size_t done = 0;
	int rc;

	while (done < count) {
		struct vfio_user_region_access req = { .offset = offset + done, .region = region };
		struct vfio_user_region_access rep;
		struct vfio_user_msg reply;
		size_t n = count - done;

		if (n > xfer_max(cli))
			n = xfer_max(cli);
		req.count = (uint32_t)n;
		rc = vfio_user_client_request(cli, VFIO_USER_REGION_READ, &req, sizeof(req),
					      NULL, 0, &reply);
		if (rc < 0)
			return rc;
		if (reply.payload_len != sizeof(rep) + n)
			goto bad;
		memcpy(&rep, reply.payload, sizeof(rep));
		if (rep.count != n || rep.region != region || rep.offset != req.offset)
			goto bad;
		memcpy((uint8_t *)buf + done, (uint8_t *)reply.payload + sizeof(rep), n);
		vfio_user_msg_release(&reply);
		done += n;
		continue;
bad:
		VFU_ERR("vfio-user client fd %d: malformed REGION_READ reply", cli->fd);
		vfio_user_msg_release(&reply);
		return -EPROTO;
	}
	return 0;
}

int
vfio_user_client_region_write(struct vfio_user_client *cli, uint32_t region, uint64_t offset,
			      const void *buf, size_t count)
{
	struct vfio_user_region_access *req;
	size_t done = 0;
	int rc = 0;

	req = malloc(sizeof(*req) + (count < xfer_max(cli) ? count : xfer_max(cli)));
	if (req == NULL)
		return -ENOMEM;
	while (done < count) {
		size_t n = count - done;

		if (n > xfer_max(cli))
			n = xfer_max(cli);
		req->offset = offset + done;
		req->region = region;
		req->count = (uint32_t)n;
		memcpy(req->data, (const uint8_t *)buf + done, n);
		rc = simple_request(cli, VFIO_USER_REGION_WRITE, req, sizeof(*req) + n, NULL, 0,
				    NULL, 0);
		if (rc < 0)
			break;
		done += n;
	}
	free(req);
	return rc;
}

int
vfio_user_client_region_read_batch(struct vfio_user_client *cli,
				   const struct vfio_user_client_read *reads, unsigned int n)
{
	uint16_t ids[VFIO_USER_READ_BATCH_MAX];
	unsigned int i, sent;
	int rc, first_err = 0;

	if (reads == NULL || n == 0 || n > VFIO_USER_READ_BATCH_MAX)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (reads[i].buf == NULL || reads[i].count == 0 || reads[i].count > xfer_max(cli))
			return -EINVAL;
	for (sent = 0; sent < n; sent++) {
		struct vfio_user_region_access req = { .offset = reads[sent].offset,
			.region = reads[sent].region, .count = reads[sent].count };

		rc = client_send(cli, VFIO_USER_REGION_READ, &req, sizeof(req), NULL, 0,
				 &ids[sent]);
		if (rc < 0)
			return rc;	/* broken: what was sent is never read */
	}
	for (i = 0; i < n; i++) {
		struct vfio_user_region_access rep;
		struct vfio_user_msg reply;

		rc = client_recv(cli, VFIO_USER_REGION_READ, ids[i], &reply);
		if (rc < 0 && cli->broken)
			return rc;
		if (rc < 0) {
			/* An error reply: the later replies still come, in order. */
			if (first_err == 0)
				first_err = rc;
			continue;
		}
		if (reply.payload_len != sizeof(rep) + reads[i].count)
			goto bad;
		memcpy(&rep, reply.payload, sizeof(rep));
		if (rep.count != reads[i].count || rep.region != reads[i].region ||
		    rep.offset != reads[i].offset)
			goto bad;
		memcpy(reads[i].buf, (uint8_t *)reply.payload + sizeof(rep), reads[i].count);
		vfio_user_msg_release(&reply);
		continue;
bad:
		VFU_ERR("vfio-user client fd %d: malformed REGION_READ reply", cli->fd);
		vfio_user_msg_release(&reply);
		set_broken(cli, "malformed reply", -EPROTO);
		return -EPROTO;
	}
	return first_err;
}

int
vfio_user_client_region_write_posted(struct vfio_user_client *cli, uint32_t region,
				     uint64_t offset, const void *buf, size_t count)
{
	struct vfio_user_header hdr = {
		.command = VFIO_USER_REGION_WRITE,
		.flags = VFIO_USER_F_TYPE_COMMAND | VFIO_USER_F_NO_REPLY,
	};
	uint8_t req[sizeof(struct vfio_user_region_access) + VFIO_USER_POSTED_WRITE_MAX];
	struct vfio_user_region_access acc = { .offset = offset, .region = region,
					       .count = (uint32_t)count };
	int rc;

	if (count == 0 || count > VFIO_USER_POSTED_WRITE_MAX || buf == NULL)
		return -EINVAL;
	if (cli->broken)
		return -EPROTO;
	if (cli->fd < 0)
		return -ENOTCONN;
	memcpy(req, &acc, sizeof(acc));
	memcpy(req + sizeof(acc), buf, count);
	hdr.msg_id = cli->next_id++;
	rc = vfio_user_send_msg(cli->fd, &hdr, req, sizeof(acc) + count, NULL, 0,
				cli->timeout_ms);
	if (rc < 0) {
		set_broken(cli, "send failed", rc);
		return rc == -EPIPE || rc == -ECONNRESET ? -ENOTCONN : rc;
	}
	return 0;
}

int
vfio_user_client_dma_map(struct vfio_user_client *cli, uint32_t flags, uint64_t iova,
			 uint64_t size, int fd, uint64_t fd_offset)
{
	struct vfio_user_dma_map req = {
		.argsz = sizeof(req), .flags = flags, .offset = fd_offset,
		.addr = iova, .size = size,
	};

	return simple_request(cli, VFIO_USER_DMA_MAP, &req, sizeof(req), fd >= 0 ? &fd : NULL,
			      fd >= 0 ? 1 : 0, NULL, 0);
}

int
vfio_user_client_dma_unmap(struct vfio_user_client *cli, uint32_t flags, uint64_t iova,
			   uint64_t size)
{
	struct vfio_user_dma_unmap req = {
		.argsz = sizeof(req), .flags = flags, .addr = iova, .size = size,
	};

	/* The echoed reply must be consumed whole; simple_request does. */
	return simple_request(cli, VFIO_USER_DMA_UNMAP, &req, sizeof(req), NULL, 0, NULL, 0);
}

int
vfio_user_client_reset(struct vfio_user_client *cli)
{
	return simple_request(cli, VFIO_USER_DEVICE_RESET, NULL, 0, NULL, 0, NULL, 0);
}

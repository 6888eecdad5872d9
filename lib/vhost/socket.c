/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The rte_vhost_driver_* API: the list of registered endpoints, their
 * feature sets and callbacks, and the hand-off to the transport that serves
 * each path (chosen once, at register time, by vhost_transport_find).
 *
 * Return values follow DPDK 22.11: -1 for "no such path" and most errors,
 * so applications that test "< 0" or "== -1" behave the same. Two
 * deliberate differences, each logged: RTE_VHOST_USER_ASYNC_COPY is refused
 * with -ENOTSUP (no async data path here), and unregister called on the
 * event-loop thread (from inside a vhost callback) returns -EAGAIN.
 *
 * Concurrency. vhost_endpoints_lock guards the list and every endpoint
 * field the API reads or writes; it is held only for short, non-blocking
 * sections, never across a transport call or an application callback, so
 * callbacks may use this API freely. rte_vhost_driver_start() runs the
 * transport's start (which may connect and call new_connection) without the
 * lock; the endpoint is pinned by a `busy` count meanwhile, and unregister,
 * having taken the endpoint off the list so nobody else finds it, waits for
 * that count to drop before tearing the transport down.
 *
 * Why unregister refuses to run on the event-loop thread: the loop may be
 * inside a callback that is using one of this endpoint's devices (the
 * message handler calling new_device, say); freeing them under its feet is
 * not safe, and waiting for it would wait for ourselves. DPDK 22.11 has the
 * same hazard and answers with a retry loop or -EAGAIN; we always answer
 * -EAGAIN there, and the caller can unregister from its own thread.
 */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <linux/virtio_net.h>

#include <rte_common.h>
#include <rte_vdpa.h>
#include <rte_vhost.h>

#include "rte_vhost_vvu.h"
#include "vhost.h"
#include "vhost_transport.h"

struct vhost_socket {
	struct vhost_endpoint ep;	/* first: the transports see only this */
	uint64_t supported_features;	/* ceiling for enable_features */
	unsigned int busy;		/* rte_vhost_driver_start() in progress */
};

TAILQ_HEAD(vhost_endpoint_list, vhost_endpoint);

static struct vhost_endpoint_list vhost_endpoints =
	TAILQ_HEAD_INITIALIZER(vhost_endpoints);
static pthread_mutex_t vhost_endpoints_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t vhost_endpoints_idle = PTHREAD_COND_INITIALIZER;

static struct vhost_socket *
vhost_sock_of(struct vhost_endpoint *ep)
{
	return container_of(ep, struct vhost_socket, ep);
}

/* Called with vhost_endpoints_lock held. */
static struct vhost_endpoint *
vhost_endpoint_find(const char *path)
{
	struct vhost_endpoint *ep;

	if (path == NULL)
		return NULL;
	TAILQ_FOREACH(ep, &vhost_endpoints, next)
		if (strcmp(ep->path, path) == 0)
			return ep;
	return NULL;
}

/* Lock the list and find path; logs and unlocks if it is not there. */
static struct vhost_endpoint *
vhost_endpoint_get_locked(const char *path, const char *func)
{
	struct vhost_endpoint *ep;

	pthread_mutex_lock(&vhost_endpoints_lock);
	ep = vhost_endpoint_find(path);
	if (ep == NULL) {
		pthread_mutex_unlock(&vhost_endpoints_lock);
		VHOST_LOG_CONFIG(path != NULL ? path : "(null)", ERR,
				 "%s: socket file is not registered\n", func);
	}
	return ep;
}

static uint64_t
vhost_default_features(uint64_t flags)
{
	uint64_t features = VHOST_NET_FEATURES;

	if (!(flags & RTE_VHOST_USER_IOMMU_SUPPORT))
		features &= ~(1ULL << VIRTIO_F_IOMMU_PLATFORM);
	/* Host TSO/UFO need chained or external buffers for large frames. */
	if ((flags & RTE_VHOST_USER_LINEARBUF_SUPPORT) &&
	    !(flags & RTE_VHOST_USER_EXTBUF_SUPPORT))
		features &= ~((1ULL << VIRTIO_NET_F_HOST_TSO4) |
			      (1ULL << VIRTIO_NET_F_HOST_TSO6) |
			      (1ULL << VIRTIO_NET_F_HOST_UFO));
	return features;
}

int
rte_vhost_driver_register(const char *path, uint64_t flags)
{
	const struct vhost_transport_ops *trans;
	char trans_path[VHOST_IFNAME_MAX];
	struct vhost_socket *vs;
	struct vhost_endpoint *ep;
	int ret;

	if (path == NULL)
		return -1;
	if (strnlen(path, VHOST_IFNAME_MAX) >= VHOST_IFNAME_MAX) {
		VHOST_LOG_CONFIG("register", ERR, "path longer than %d bytes\n",
				 VHOST_IFNAME_MAX - 1);
		return -1;
	}
	if (flags & RTE_VHOST_USER_ASYNC_COPY) {
		VHOST_LOG_CONFIG(path, ERR, "async copy is not supported by this library\n");
		return -ENOTSUP;
	}
	if (vhost_path_map(path, trans_path, sizeof(trans_path)) < 0)
		return -1;
	trans = vhost_transport_find(trans_path, flags);
	if (trans == NULL) {
		VHOST_LOG_CONFIG(path, ERR, "no transport serves %s\n", trans_path);
		return -1;
	}

	vs = calloc(1, sizeof(*vs));
	if (vs == NULL)
		return -1;
	ep = &vs->ep;
	snprintf(ep->path, sizeof(ep->path), "%s", path);
	snprintf(ep->trans_path, sizeof(ep->trans_path), "%s", trans_path);
	ep->flags = flags;
	ep->features = vhost_default_features(flags);
	vs->supported_features = ep->features;
	ep->protocol_features = VHOST_NET_PROTOCOL_FEATURES;
	ep->max_queue_pairs = VHOST_MAX_QUEUE_PAIRS;
	ep->max_connections = VHOST_DEFAULT_MAX_CONNECTIONS;
	ep->trans = trans;

	pthread_mutex_lock(&vhost_endpoints_lock);
	if (vhost_endpoint_find(path) != NULL) {
		pthread_mutex_unlock(&vhost_endpoints_lock);
		VHOST_LOG_CONFIG(path, ERR, "already registered\n");
		goto fail;
	}
	/* Under the list lock, so two racing registers cannot both init. */
	ret = trans->endpoint_init(ep);
	if (ret < 0) {
		pthread_mutex_unlock(&vhost_endpoints_lock);
		VHOST_LOG_CONFIG(path, ERR, "%s transport refused the path: %s\n",
				 trans->name, strerror(-ret));
		goto fail;
	}
	TAILQ_INSERT_TAIL(&vhost_endpoints, ep, next);
	pthread_mutex_unlock(&vhost_endpoints_lock);
	VHOST_LOG_CONFIG(path, INFO, "registered (%s%s transport)\n",
			 (flags & RTE_VHOST_USER_CLIENT) ? "client, " : "", trans->name);
	return 0;

fail:
	free(vs);
	return -1;
}

int
rte_vhost_driver_unregister(const char *path)
{
	struct vhost_endpoint *ep;
	struct vhost_socket *vs;

	if (path == NULL)
		return -1;
	if (vhost_event_on_loop_thread()) {
		VHOST_LOG_CONFIG(path, ERR, "unregister from a vhost callback, retry later\n");
		return -EAGAIN;
	}
	ep = vhost_endpoint_get_locked(path, __func__);
	if (ep == NULL)
		return -1;
	vs = vhost_sock_of(ep);
	TAILQ_REMOVE(&vhost_endpoints, ep, next);
	while (vs->busy > 0)
		pthread_cond_wait(&vhost_endpoints_idle, &vhost_endpoints_lock);
	pthread_mutex_unlock(&vhost_endpoints_lock);

	/* Closes every connection: destroy_device, destroy_connection each. */
	ep->trans->endpoint_cleanup(ep);
	VHOST_LOG_CONFIG(path, INFO, "unregistered\n");
	free(vs);
	return 0;
}

int
rte_vhost_driver_start(const char *path)
{
	struct vhost_endpoint *ep;
	struct vhost_socket *vs;
	int ret;

	ep = vhost_endpoint_get_locked(path, __func__);
	if (ep == NULL)
		return -1;
	if (ep->started) {
		pthread_mutex_unlock(&vhost_endpoints_lock);
		VHOST_LOG_CONFIG(path, ERR, "already started\n");
		return -1;
	}
	vs = vhost_sock_of(ep);
	/* Claimed now, so a concurrent start fails and unregister waits. */
	ep->started = true;
	vs->busy++;
	pthread_mutex_unlock(&vhost_endpoints_lock);

	ret = ep->trans->endpoint_start(ep);

	pthread_mutex_lock(&vhost_endpoints_lock);
	if (ret < 0)
		ep->started = false;
	vs->busy--;
	pthread_cond_broadcast(&vhost_endpoints_idle);
	pthread_mutex_unlock(&vhost_endpoints_lock);
	if (ret < 0) {
		VHOST_LOG_CONFIG(path, ERR, "start failed: %s\n", strerror(-ret));
		return -1;
	}
	return 0;
}

int
rte_vhost_driver_callback_register(const char *path,
				   struct rte_vhost_device_ops const * const ops)
{
	struct vhost_endpoint *ep = vhost_endpoint_get_locked(path, __func__);

	if (ep == NULL)
		return -1;
	/* Devices connected from now on use ops; live ones keep theirs. */
	ep->notify_ops = ops;
	pthread_mutex_unlock(&vhost_endpoints_lock);
	return 0;
}

const struct rte_vhost_device_ops *
vhost_endpoint_notify_ops(struct vhost_endpoint *ep)
{
	const struct rte_vhost_device_ops *ops;

	pthread_mutex_lock(&vhost_endpoints_lock);
	ops = ep->notify_ops;
	pthread_mutex_unlock(&vhost_endpoints_lock);
	return ops;
}

/*
 * Feature setters act on what future connections are offered, so changing
 * them once the endpoint has started (and may have negotiated) is refused.
 */
static struct vhost_endpoint *
vhost_endpoint_get_unstarted(const char *path, const char *func)
{
	struct vhost_endpoint *ep = vhost_endpoint_get_locked(path, func);

	if (ep != NULL && ep->started) {
		pthread_mutex_unlock(&vhost_endpoints_lock);
		VHOST_LOG_CONFIG(path, ERR, "%s: not allowed after start\n", func);
		return NULL;
	}
	return ep;
}

int
rte_vhost_driver_set_features(const char *path, uint64_t features)
{
	struct vhost_endpoint *ep = vhost_endpoint_get_unstarted(path, __func__);

	if (ep == NULL)
		return -1;
	ep->features = features;
	vhost_sock_of(ep)->supported_features = features;
	/*
	 * Like DPDK: whoever sets the feature bits implements a device of
	 * their own, so the net-specific start rule no longer applies.
	 */
	ep->custom_device = true;
	pthread_mutex_unlock(&vhost_endpoints_lock);
	return 0;
}

int
rte_vhost_driver_enable_features(const char *path, uint64_t features)
{
	struct vhost_endpoint *ep = vhost_endpoint_get_unstarted(path, __func__);

	if (ep == NULL)
		return -1;
	/* Only what the library (or set_features) supports can come back. */
	if ((vhost_sock_of(ep)->supported_features & features) != features) {
		pthread_mutex_unlock(&vhost_endpoints_lock);
		VHOST_LOG_CONFIG(path, ERR, "cannot enable unsupported features 0x%" PRIx64 "\n",
				 features);
		return -1;
	}
	ep->features |= features;
	pthread_mutex_unlock(&vhost_endpoints_lock);
	return 0;
}

int
rte_vhost_driver_disable_features(const char *path, uint64_t features)
{
	struct vhost_endpoint *ep = vhost_endpoint_get_unstarted(path, __func__);

	if (ep == NULL)
		return -1;
	ep->features &= ~features;
	pthread_mutex_unlock(&vhost_endpoints_lock);
	return 0;
}

int
rte_vhost_driver_get_features(const char *path, uint64_t *features)
{
	struct vhost_endpoint *ep;

	if (features == NULL)
		return -1;
	ep = vhost_endpoint_get_locked(path, __func__);
	if (ep == NULL)
		return -1;
	*features = ep->features;
	pthread_mutex_unlock(&vhost_endpoints_lock);
	return 0;
}

int
rte_vhost_driver_set_protocol_features(const char *path, uint64_t protocol_features)
{
	struct vhost_endpoint *ep = vhost_endpoint_get_unstarted(path, __func__);

	if (ep == NULL)
		return -1;
	ep->protocol_features = protocol_features;
	pthread_mutex_unlock(&vhost_endpoints_lock);
	return 0;
}

int
rte_vhost_driver_get_protocol_features(const char *path, uint64_t *protocol_features)
{
	struct vhost_endpoint *ep;

	if (protocol_features == NULL)
		return -1;
	ep = vhost_endpoint_get_locked(path, __func__);
	if (ep == NULL)
		return -1;
	/* What connections will be offered: the transport may carry less. */
	*protocol_features = vhost_endpoint_protocol_features(ep);
	pthread_mutex_unlock(&vhost_endpoints_lock);
	return 0;
}

int
rte_vhost_driver_set_max_connections(const char *path, uint32_t max_connections)
{
	struct vhost_endpoint *ep;

	if (max_connections == 0 || max_connections > RTE_MAX_VHOST_DEVICE) {
		VHOST_LOG_CONFIG(path != NULL ? path : "(null)", ERR,
				 "max connections %u outside 1..%d\n", max_connections,
				 RTE_MAX_VHOST_DEVICE);
		return -1;
	}
	ep = vhost_endpoint_get_unstarted(path, __func__);
	if (ep == NULL)
		return -1;
	ep->max_connections = max_connections;
	pthread_mutex_unlock(&vhost_endpoints_lock);
	return 0;
}

int
rte_vhost_driver_get_queue_num(const char *path, uint32_t *queue_num)
{
	struct vhost_endpoint *ep;

	if (queue_num == NULL)
		return -1;
	ep = vhost_endpoint_get_locked(path, __func__);
	if (ep == NULL)
		return -1;
	*queue_num = ep->max_queue_pairs;
	pthread_mutex_unlock(&vhost_endpoints_lock);
	return 0;
}

/* ---- vDPA: this library drives no vDPA device ---- */

int
rte_vhost_driver_attach_vdpa_device(const char *path, struct rte_vdpa_device *dev)
{
	VHOST_LOG_CONFIG(path != NULL ? path : "(null)", ERR,
			 "vDPA devices are not supported by this library\n");
	return -ENOTSUP;
}

int
rte_vhost_driver_detach_vdpa_device(const char *path)
{
	struct vhost_endpoint *ep = vhost_endpoint_get_locked(path, __func__);

	if (ep == NULL)
		return -1;
	/* Nothing can be attached, so detaching always succeeds. */
	pthread_mutex_unlock(&vhost_endpoints_lock);
	return 0;
}

struct rte_vdpa_device *
rte_vhost_driver_get_vdpa_device(const char *path)
{
	return NULL;
}

int
rte_vhost_driver_get_vdpa_dev_type(const char *path, uint32_t *type)
{
	struct vhost_endpoint *ep = vhost_endpoint_get_locked(path, __func__);

	if (ep == NULL)
		return -1;
	pthread_mutex_unlock(&vhost_endpoints_lock);
	/* Like DPDK with no device attached. */
	VHOST_LOG_CONFIG(path, ERR, "no vDPA device attached\n");
	return -1;
}

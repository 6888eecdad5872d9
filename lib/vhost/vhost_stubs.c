/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * APIs of DPDK 22.11's librte_vhost that this library does not implement:
 * the async (DMA offload) data path, vhost-crypto and vDPA.
 *
 * Every symbol exists, so binaries linked against Debian's library load
 * and run; each call fails cleanly instead: -ENOTSUP (or -1 where DPDK's
 * callers only test for -1), NULL, or zero packets, with errno and
 * rte_errno set to ENOTSUP. Nothing here touches its arguments beyond
 * what the documented failure result requires, so hostile or NULL
 * arguments are harmless. Each family logs once per process, not per call:
 * these sit on polling paths.
 */

#include <errno.h>
#include <stdbool.h>

#include <rte_errno.h>
#include <rte_vdpa.h>
#include <rte_vhost.h>
#include <rte_vhost_async.h>
#include <rte_vhost_crypto.h>

#include "vhost.h"

/* Not installed by Debian (DPDK's vdpa_driver.h): prototypes only. */
struct rte_device;
struct rte_vdpa_dev_ops;
struct rte_vdpa_device *rte_vdpa_register_device(struct rte_device *rte_dev,
						 struct rte_vdpa_dev_ops *ops);
int rte_vdpa_unregister_device(struct rte_vdpa_device *dev);
int rte_vhost_host_notifier_ctrl(int vid, uint16_t qid, bool enable);

enum vhost_stub_family {
	VHOST_STUB_ASYNC,
	VHOST_STUB_CRYPTO,
	VHOST_STUB_VDPA,
	VHOST_STUB_MAX
};

static const char *const vhost_stub_names[VHOST_STUB_MAX] = {
	[VHOST_STUB_ASYNC] = "async (DMA) data path",
	[VHOST_STUB_CRYPTO] = "vhost-crypto",
	[VHOST_STUB_VDPA] = "vDPA",
};

static bool vhost_stub_logged[VHOST_STUB_MAX];

static void
vhost_unsupported(enum vhost_stub_family family, const char *func)
{
	errno = ENOTSUP;
	rte_errno = ENOTSUP;
	if (!__atomic_exchange_n(&vhost_stub_logged[family], true, __ATOMIC_RELAXED))
		VHOST_LOG_CONFIG("api", WARNING, "%s: the %s is not supported by this library\n",
				 func, vhost_stub_names[family]);
}

#define ASYNC_UNSUPPORTED()	vhost_unsupported(VHOST_STUB_ASYNC, __func__)
#define CRYPTO_UNSUPPORTED()	vhost_unsupported(VHOST_STUB_CRYPTO, __func__)
#define VDPA_UNSUPPORTED()	vhost_unsupported(VHOST_STUB_VDPA, __func__)

/* ---- Async data path (rte_vhost_async.h) ---- */

int
rte_vhost_async_channel_register(int vid, uint16_t queue_id)
{
	ASYNC_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vhost_async_channel_register_thread_unsafe(int vid, uint16_t queue_id)
{
	ASYNC_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vhost_async_channel_unregister(int vid, uint16_t queue_id)
{
	ASYNC_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vhost_async_channel_unregister_thread_unsafe(int vid, uint16_t queue_id)
{
	ASYNC_UNSUPPORTED();
	return -ENOTSUP;
}

uint16_t
rte_vhost_submit_enqueue_burst(int vid, uint16_t queue_id, struct rte_mbuf **pkts,
			       uint16_t count, int16_t dma_id, uint16_t vchan_id)
{
	ASYNC_UNSUPPORTED();
	return 0;
}

uint16_t
rte_vhost_poll_enqueue_completed(int vid, uint16_t queue_id, struct rte_mbuf **pkts,
				 uint16_t count, int16_t dma_id, uint16_t vchan_id)
{
	ASYNC_UNSUPPORTED();
	return 0;
}

int
rte_vhost_async_get_inflight(int vid, uint16_t queue_id)
{
	ASYNC_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vhost_async_get_inflight_thread_unsafe(int vid, uint16_t queue_id)
{
	ASYNC_UNSUPPORTED();
	return -ENOTSUP;
}

uint16_t
rte_vhost_clear_queue_thread_unsafe(int vid, uint16_t queue_id, struct rte_mbuf **pkts,
				    uint16_t count, int16_t dma_id, uint16_t vchan_id)
{
	ASYNC_UNSUPPORTED();
	return 0;
}

uint16_t
rte_vhost_clear_queue(int vid, uint16_t queue_id, struct rte_mbuf **pkts,
		      uint16_t count, int16_t dma_id, uint16_t vchan_id)
{
	ASYNC_UNSUPPORTED();
	return 0;
}

int
rte_vhost_async_dma_configure(int16_t dma_id, uint16_t vchan_id)
{
	ASYNC_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vhost_async_dma_unconfigure(int16_t dma_id, uint16_t vchan_id)
{
	ASYNC_UNSUPPORTED();
	return -ENOTSUP;
}

uint16_t
rte_vhost_async_try_dequeue_burst(int vid, uint16_t queue_id,
				  struct rte_mempool *mbuf_pool, struct rte_mbuf **pkts,
				  uint16_t count, int *nr_inflight, int16_t dma_id,
				  uint16_t vchan_id)
{
	ASYNC_UNSUPPORTED();
	/* DPDK's documented "meaningless" value for a failed call. */
	if (nr_inflight != NULL)
		*nr_inflight = -1;
	return 0;
}

/* ---- vhost-crypto (rte_vhost_crypto.h) ---- */

int
rte_vhost_crypto_driver_start(const char *path)
{
	CRYPTO_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vhost_crypto_create(int vid, uint8_t cryptodev_id, struct rte_mempool *sess_pool,
			int socket_id)
{
	CRYPTO_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vhost_crypto_free(int vid)
{
	CRYPTO_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vhost_crypto_set_zero_copy(int vid, enum rte_vhost_crypto_zero_copy option)
{
	CRYPTO_UNSUPPORTED();
	return -ENOTSUP;
}

uint16_t
rte_vhost_crypto_fetch_requests(int vid, uint32_t qid, struct rte_crypto_op **ops,
				uint16_t nb_ops)
{
	CRYPTO_UNSUPPORTED();
	return 0;
}

uint16_t
rte_vhost_crypto_finalize_requests(struct rte_crypto_op **ops, uint16_t nb_ops,
				   int *callfds, uint16_t *nb_callfds)
{
	CRYPTO_UNSUPPORTED();
	if (nb_callfds != NULL)
		*nb_callfds = 0;
	return 0;
}

/* ---- vDPA (rte_vdpa.h and the internal driver API) ---- */

struct rte_vdpa_device *
rte_vdpa_find_device_by_name(const char *name)
{
	VDPA_UNSUPPORTED();
	return NULL;
}

struct rte_device *
rte_vdpa_get_rte_device(struct rte_vdpa_device *vdpa_dev)
{
	VDPA_UNSUPPORTED();
	return NULL;
}

int
rte_vdpa_get_queue_num(struct rte_vdpa_device *dev, uint32_t *queue_num)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vdpa_get_features(struct rte_vdpa_device *dev, uint64_t *features)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vdpa_get_protocol_features(struct rte_vdpa_device *dev, uint64_t *features)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vdpa_relay_vring_used(int vid, uint16_t qid, void *vring_m)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vdpa_get_stats_names(struct rte_vdpa_device *dev, struct rte_vdpa_stat_name *stats_names,
			 unsigned int size)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vdpa_get_stats(struct rte_vdpa_device *dev, uint16_t qid, struct rte_vdpa_stat *stats,
		   unsigned int n)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vdpa_reset_stats(struct rte_vdpa_device *dev, uint16_t qid)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}

/* A vDPA driver probing under this library gets no device, and says so. */
struct rte_vdpa_device *
rte_vdpa_register_device(struct rte_device *rte_dev, struct rte_vdpa_dev_ops *ops)
{
	VDPA_UNSUPPORTED();
	return NULL;
}

int
rte_vdpa_unregister_device(struct rte_vdpa_device *dev)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}

int
rte_vhost_host_notifier_ctrl(int vid, uint16_t qid, bool enable)
{
	VDPA_UNSUPPORTED();
	return -ENOTSUP;
}

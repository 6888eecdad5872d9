/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the unmodified consumers of librte_vhost.so.23 rely on: the net_vhost
 * PMD, Open vSwitch's dpdkvhostuser(client) ports and examples/vhost call
 * the public API from inside our callbacks and expect DPDK 22.11's callback
 * order, return values, feature set and stats names; QEMU 7.2 sends some
 * messages in shapes a strict reading of the spec would refuse. Each case
 * names the consumer behaviour it guards. Runs on the mock transport of
 * vhost_msg_mock.h; every case checks that no fd leaked.
 */

/* test.h's TEST_MAIN keeps locals across setjmp; they are not reused. */
#pragma GCC diagnostic ignored "-Wclobbered"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_vhost.h>

#include "test.h"
#include "vhost_msg_mock.h"

#define ALL_PROTO	VHOST_NET_PROTOCOL_FEATURES

/* ---- A consumer that records what it is told and uses the API inside ---- */

enum ev_kind { EV_NEW, EV_DESTROY, EV_STATE };

#define MAX_EV	64
static struct {
	int n;
	enum ev_kind kind[MAX_EV];
	uint16_t queue[MAX_EV];
	int enable[MAX_EV];
	int kickfd[MAX_EV];		/* rte_vhost_get_vhost_vring() in the callback */
	int api_failures;		/* API calls that failed inside new_device */
} ev;

static void
ev_add(enum ev_kind k, uint16_t q, int enable, int kickfd)
{
	if (ev.n >= MAX_EV)
		return;
	ev.kind[ev.n] = k;
	ev.queue[ev.n] = q;
	ev.enable[ev.n] = enable;
	ev.kickfd[ev.n] = kickfd;
	ev.n++;
}

/*
 * What net_vhost and OVS do in new_device(): look the device up by ifname,
 * read features, MTU, NUMA node and vring count, and turn guest
 * notifications off on every vring. Any of these deadlocking or failing
 * breaks them.
 */
static int
consumer_new_device(int vid)
{
	struct rte_vhost_vring vring;
	uint64_t features;
	uint16_t mtu, i, n;
	char ifname[256];

	if (rte_vhost_get_ifname(vid, ifname, sizeof(ifname)) != 0)
		ev.api_failures++;
	if (rte_vhost_get_negotiated_features(vid, &features) != 0)
		ev.api_failures++;
	if (rte_vhost_get_mtu(vid, &mtu) == -EAGAIN)	/* -ENOTSUP without MTU is fine */
		ev.api_failures++;
	n = rte_vhost_get_vring_num(vid);
	if (n < 2)
		ev.api_failures++;
	for (i = 0; i < n; i++) {
		if (rte_vhost_enable_guest_notification(vid, i, 0) != 0)
			ev.api_failures++;
		if (rte_vhost_get_vhost_vring(vid, i, &vring) != 0)
			ev.api_failures++;
	}
	ev_add(EV_NEW, 0, 0, -1);
	return 0;
}

static void
consumer_destroy_device(int vid)
{
	ev_add(EV_DESTROY, 0, 0, -1);
}

/* net_vhost re-reads the kick fd here for its Rx interrupt. */
static int
consumer_vring_state_changed(int vid, uint16_t queue_id, int enable)
{
	struct rte_vhost_vring vring;
	int kickfd = -100;

	if (rte_vhost_get_vhost_vring(vid, queue_id, &vring) == 0)
		kickfd = vring.kickfd;
	ev_add(EV_STATE, queue_id, enable, kickfd);
	return 0;
}

static const struct rte_vhost_device_ops consumer_ops = {
	.new_device = consumer_new_device,
	.destroy_device = consumer_destroy_device,
	.vring_state_changed = consumer_vring_state_changed,
};


static void
case_begin(void)
{
	memset(&ev, 0, sizeof(ev));
	mock_case_begin();
}

/* A device negotiated with features, memory mapped, callbacks ours. */
static struct vhost_dev *
consumer_dev(uint64_t features, bool stats)
{
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev = mock_dev_new(&mock_trans_fd);

	TEST_ASSERT(dev != NULL, "no device");
	dev->notify_ops = &consumer_ops;
	/* RTE_VHOST_USER_NET_STATS_ENABLE, as net_vhost and OVS 3.1 register. */
	dev->stats_enabled = stats;
	TEST_ASSERT_EQ(mock_negotiate(dev, features, ALL_PROTO), 0);
	mock_msg_mem_table(&ctx, &mock_env_guest, true);
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	return dev;
}

/* The first pair set up and enabled, DRIVER_OK: running. */
static struct vhost_dev *
running_dev(bool stats)
{
	struct vhost_dev *dev = consumer_dev(MOCK_FEATURES, stats);
	uint32_t q;

	for (q = 0; q < 2; q++) {
		TEST_ASSERT_EQ(mock_setup_vring(dev, q), 0);
		TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_ENABLE, q, 1), 0);
	}
	TEST_ASSERT_EQ(mock_send_u64(dev, VHOST_USER_SET_STATUS, VIRTIO_CONFIG_S_DRIVER_OK), 0);
	TEST_ASSERT(dev->flags & VHOST_DEV_RUNNING);
	return dev;
}

/* ---- Cases ---- */

/*
 * net_vhost/OVS: new_device() comes after both vrings of the first pair were
 * announced ready, and the API they call inside it works (no deadlock on a
 * vring lock, no -EAGAIN from rte_vhost_get_mtu).
 */
TEST_CASE(test_new_device_may_use_api)
{
	struct vhost_dev *dev;
	int i, first_new = -1, states = 0;

	case_begin();
	dev = running_dev(false);
	for (i = 0; i < ev.n; i++) {
		if (ev.kind[i] == EV_NEW && first_new < 0)
			first_new = i;
		if (ev.kind[i] == EV_STATE && ev.enable[i] == 1 && first_new < 0)
			states++;
	}
	TEST_ASSERT(first_new >= 0, "no new_device");
	TEST_ASSERT_EQ(states, 2);
	TEST_ASSERT_EQ(ev.api_failures, 0);
	/* Guest notifications off, as asked from inside new_device. */
	TEST_ASSERT(dev->vq[0]->notify_off && dev->vq[1]->notify_off);
	mock_case_end(dev);
}

/*
 * net_vhost (Rx interrupts): a new kick fd on a ready vring must come with
 * vring_state_changed 0 (old fd still readable) then 1 (new fd readable),
 * without stopping the device. DPDK 22.11 does this for kick and call.
 */
TEST_CASE(test_kick_change_reannounced)
{
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;
	int old_kick, new_kick, base;

	case_begin();
	dev = running_dev(false);
	old_kick = dev->vq[1]->kickfd;
	base = ev.n;
	new_kick = mock_eventfd();
	mock_msg_u64(&ctx, VHOST_USER_SET_VRING_KICK, 1);
	mock_add_fd(&ctx, new_kick);
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	TEST_ASSERT_EQ(ev.n, base + 2);
	TEST_ASSERT(ev.kind[base] == EV_STATE && ev.queue[base] == 1 && ev.enable[base] == 0);
	TEST_ASSERT_EQ(ev.kickfd[base], old_kick);
	TEST_ASSERT(ev.kind[base + 1] == EV_STATE && ev.queue[base + 1] == 1 &&
		    ev.enable[base + 1] == 1);
	TEST_ASSERT_EQ(ev.kickfd[base + 1], new_kick);
	TEST_ASSERT(dev->flags & VHOST_DEV_RUNNING);
	/* Same for a new call fd. */
	base = ev.n;
	TEST_ASSERT_EQ(mock_send_vring_fd(dev, VHOST_USER_SET_VRING_CALL, 0), 0);
	TEST_ASSERT_EQ(ev.n, base + 2);
	TEST_ASSERT(ev.queue[base] == 0 && ev.enable[base] == 0 && ev.enable[base + 1] == 1);
	/* A vring not yet announced is not announced down. */
	base = ev.n;
	TEST_ASSERT_EQ(mock_send_vring_fd(dev, VHOST_USER_SET_VRING_CALL, 2), 0);
	TEST_ASSERT_EQ(ev.n, base);
	mock_case_end(dev);
}

/*
 * QEMU 7.2 with packed=on: SET_VRING_BASE carries the used index and used
 * wrap counter in bits 16-31 (0x80008000 on the very first start). It must
 * be accepted, and GET_VRING_BASE answers in 16 bits like DPDK.
 */
TEST_CASE(test_packed_vring_base_from_qemu)
{
	uint64_t features = MOCK_FEATURES | (1ULL << VIRTIO_F_RING_PACKED);
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;
	struct vhost_vq *vq;

	case_begin();
	dev = consumer_dev(features, false);
	TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_NUM, 0, MOCK_RING_SIZE), 0);
	TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_BASE, 0, 0x80008000u), 0);
	vq = dev->vq[0];
	TEST_ASSERT(vq->packed);
	TEST_ASSERT_EQ(vq->last_avail_idx, 0);
	TEST_ASSERT(vq->avail_wrap_counter && vq->used_wrap_counter);
	/* A restart after 5 descriptors: avail 5 (wrap 1), used 5 (wrap 1). */
	TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_BASE, 0,
				       (0x8005u << 16) | 0x8005u), 0);
	TEST_ASSERT_EQ(vq->last_avail_idx, 5);
	TEST_ASSERT_EQ(vq->last_used_idx, 5);
	mock_msg_ring_addr(&ctx, 0);
	TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
	TEST_ASSERT_EQ(mock_send_vring_fd(dev, VHOST_USER_SET_VRING_KICK, 0), 0);
	TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_GET_VRING_BASE, 0, 0), 0);
	TEST_ASSERT_EQ(mock.reply.payload.state.num, 0x8005);
	/* An index beyond the ring is still refused. */
	TEST_ASSERT(mock_send_state(dev, VHOST_USER_SET_VRING_BASE, 0,
				    (0x8000u << 16) | MOCK_RING_SIZE) < 0);
	mock_case_end(dev);
}

/* A split ring base stays 16 bits. */
TEST_CASE(test_split_vring_base_16_bits)
{
	struct vhost_dev *dev;

	case_begin();
	dev = consumer_dev(MOCK_FEATURES, false);
	TEST_ASSERT_EQ(mock_send_state(dev, VHOST_USER_SET_VRING_BASE, 0, 0xffff), 0);
	TEST_ASSERT(mock_send_state(dev, VHOST_USER_SET_VRING_BASE, 0, 0x10000) < 0);
	mock_case_end(dev);
}

/*
 * QEMU 7.2 with CONFIGURE_MEM_SLOTS and two queue pairs: each pair's
 * vhost_dev sends its own ADD_MEM_REG and REM_MEM_REG for the same region
 * on the one connection. The duplicates must not close it.
 */
TEST_CASE(test_mem_reg_once_per_queue_pair)
{
	struct vhost_user_mem_reg reg;
	struct vhost_user_ctx ctx;
	struct vhost_dev *dev;
	int pair;

	case_begin();
	dev = mock_dev_new(&mock_trans_fd);
	TEST_ASSERT(dev != NULL);
	TEST_ASSERT_EQ(mock_negotiate(dev, MOCK_FEATURES, ALL_PROTO), 0);
	memset(&reg, 0, sizeof(reg));
	reg.region.guest_phys_addr = 0;
	reg.region.memory_size = MOCK_GUEST_SIZE;
	reg.region.userspace_addr = MOCK_GUEST_UADDR;
	for (pair = 0; pair < 2; pair++) {
		mock_msg(&ctx, VHOST_USER_ADD_MEM_REG, &reg, sizeof(reg));
		mock_add_fd(&ctx, dup(mock_env_guest.memfd));
		ctx.msg.hdr.flags |= VHOST_USER_NEED_REPLY;
		TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
		TEST_ASSERT_EQ(mock.reply.payload.u64, 0);
	}
	TEST_ASSERT_EQ(dev->mem->nregions, 1);
	for (pair = 0; pair < 2; pair++) {
		mock_msg(&ctx, VHOST_USER_REM_MEM_REG, &reg, sizeof(reg));
		ctx.msg.hdr.flags |= VHOST_USER_NEED_REPLY;
		TEST_ASSERT_EQ(mock_handle(dev, &ctx), 0);
		TEST_ASSERT_EQ(mock.reply.payload.u64, 0);
	}
	TEST_ASSERT_EQ(dev->mem->nregions, 0);
	TEST_ASSERT_EQ(mock.nr_unmap_region, 1);
	mock_case_end(dev);
}

/*
 * OVS 3.1 reads per-queue stats by name suffix and wants get_names(NULL, 0)
 * to give the count, then exactly that many names and values; net_vhost
 * fills its xstats the same way. Names are "rx_q<n>_" for the guest's TX
 * (odd) vring and "tx_q<n>_" for its RX one, as in DPDK 22.11.
 */
TEST_CASE(test_stats_as_ovs_reads_them)
{
	static const char *const ovs_suffixes[] = {
		"good_packets", "good_bytes", "broadcast_packets", "multicast_packets",
		"undersize_packets", "size_64_packets", "size_65_127_packets",
		"size_128_255_packets", "size_256_511_packets", "size_512_1023_packets",
		"size_1024_1518_packets", "size_1519_max_packets",
	};
	struct rte_vhost_stat_name names[64];
	struct rte_vhost_stat vals[64];
	struct vhost_dev *dev;
	int n, i;
	size_t s;

	case_begin();
	dev = running_dev(true);
	n = rte_vhost_vring_stats_get_names(dev->vid, 1, NULL, 0);
	TEST_ASSERT(n > 0 && n <= 64, "%d stats", n);
	TEST_ASSERT_EQ(rte_vhost_vring_stats_get_names(dev->vid, 1, names, n), n);
	TEST_ASSERT_EQ(rte_vhost_vring_stats_get(dev->vid, 1, vals, n), n);
	TEST_ASSERT_EQ(rte_vhost_vring_stats_get(dev->vid, 1, NULL, 0), n);
	TEST_ASSERT(strncmp(names[0].name, "rx_q0_", 6) == 0, "%s", names[0].name);
	for (s = 0; s < RTE_DIM(ovs_suffixes); s++) {
		size_t l = strlen(ovs_suffixes[s]);

		for (i = 0; i < n; i++) {
			size_t nl = strlen(names[i].name);

			if (nl >= l && strcmp(names[i].name + nl - l, ovs_suffixes[s]) == 0)
				break;
		}
		TEST_ASSERT(i < n, "no stat named *%s", ovs_suffixes[s]);
	}
	TEST_ASSERT_EQ(rte_vhost_vring_stats_get_names(dev->vid, 0, names, n), n);
	TEST_ASSERT(strncmp(names[0].name, "tx_q0_", 6) == 0, "%s", names[0].name);
	TEST_ASSERT_EQ(rte_vhost_vring_stats_reset(dev->vid, 0), 0);
	/* Without RTE_VHOST_USER_NET_STATS_ENABLE: -1, like DPDK. */
	dev->vq[0]->stats_enabled = false;
	TEST_ASSERT_EQ(rte_vhost_vring_stats_get_names(dev->vid, 0, NULL, 0), -1);
	TEST_ASSERT_EQ(rte_vhost_vring_stats_get_names(dev->vid, 100, NULL, 0), -1);
	mock_case_end(dev);
}

/*
 * Default features equal DPDK 22.11's: CTRL_RX included (virtio-user's
 * promiscuous mode needs it; examples/vhost --promiscuous enables it and
 * must get 0), and feature calls work in the order net_vhost, OVS and
 * examples/vhost make them (register, disable/enable, callbacks, start).
 */
TEST_CASE(test_default_features_match_dpdk)
{
	const char *path = "/tmp/test_vhost_consumers_features.sock";
	uint64_t f;

	TEST_ASSERT_EQ(rte_vhost_driver_register(path, 0), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_get_features(path, &f), 0);
	TEST_ASSERT(f & (1ULL << VIRTIO_NET_F_CTRL_RX));
	TEST_ASSERT(f & (1ULL << VIRTIO_NET_F_CTRL_VQ));
	TEST_ASSERT(f & (1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE));
	TEST_ASSERT(f & (1ULL << VIRTIO_F_RING_PACKED));
	TEST_ASSERT_EQ(rte_vhost_driver_disable_features(path, 1ULL << VIRTIO_NET_F_CTRL_RX), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_enable_features(path, 1ULL << VIRTIO_NET_F_CTRL_RX), 0);
	/* OVS without userspace TSO. */
	TEST_ASSERT_EQ(rte_vhost_driver_disable_features(path,
		(1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) |
		(1ULL << VIRTIO_NET_F_CSUM)), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_callback_register(path, &consumer_ops), 0);
	TEST_ASSERT_EQ(rte_vhost_driver_get_features(path, &f), 0);
	TEST_ASSERT(!(f & (1ULL << VIRTIO_NET_F_CSUM)));
	TEST_ASSERT(f & (1ULL << VIRTIO_NET_F_CTRL_RX));
	TEST_ASSERT_EQ(rte_vhost_driver_unregister(path), 0);
}

TEST_MAIN(mock_env_setup, mock_env_teardown,
	TEST_ENTRY(test_new_device_may_use_api),
	TEST_ENTRY(test_kick_change_reannounced),
	TEST_ENTRY(test_packed_vring_base_from_qemu),
	TEST_ENTRY(test_split_vring_base_16_bits),
	TEST_ENTRY(test_mem_reg_once_per_queue_pair),
	TEST_ENTRY(test_stats_as_ovs_reads_them),
	TEST_ENTRY(test_default_features_match_dpdk)
)

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dpdk-vhost-switch: an L2 learning switch between vhost-user ports.
 *
 * Every port is a path given to rte_vhost_driver_register(): an AF_UNIX
 * socket, "vfio-user:<socket>" or a PCI address (the library picks the
 * transport from the path), so one switch mixes transports. Only the public
 * rte_vhost API is used.
 *
 * Threads and who touches what:
 *  - the vhost control thread runs new_device()/destroy_device(): it
 *    publishes or withdraws a port's vid (port->vid, atomic) and bumps the
 *    port's session when the port goes away;
 *  - the forwarding lcores (the main lcore and each worker, up to one per
 *    port) are the data path: ports are spread over them round-robin; each
 *    snapshots every port's vid at the start of a round, polls its own
 *    ports, and advances its epoch at the end of the round. The MAC table is
 *    shared: a spinlock per bucket. A port's RX ring may be fed by any lcore:
 *    a spinlock per port serialises the enqueues. Counters are atomic adds.
 *  - the telemetry thread (EAL's) runs the /vhost_switch/... commands: it
 *    reads counters and vids with atomic loads, and a MAC bucket under the
 *    bucket's sequence count, never its lock (a telemetry client must not
 *    slow the data path down).
 * destroy_device() withdraws the vid and then waits until every lcore's
 * epoch has moved on: from then on no round uses the old vid, so the library
 * may tear the rings down. MAC entries carry the session of the port they
 * were learned on; bumping the session forgets them all at once, without
 * the control thread touching the table.
 *
 * Forwarding: rte_vhost_dequeue_burst() from a port's TX ring (queue 1)
 * into our mbuf pool; per packet, learn the source, look the destination
 * up, and queue the mbuf for the destination port(s);
 * rte_vhost_enqueue_burst() to each destination's RX ring (queue 0). The
 * enqueue copies into the front-end's buffers and leaves the mbufs to us,
 * so a flooded packet needs no copy (one per VLAN-tagged egress only), and
 * every mbuf is freed once the burst has been offered everywhere.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_launch.h>
#include <rte_pause.h>
#include <rte_seqcount.h>
#include <rte_spinlock.h>
#include <rte_telemetry.h>
#include <rte_vhost.h>

#define SW_MAX_PORTS	32
#define SW_BURST	32
/* vhost-user net queue indexes: the front-end's RX ring and TX ring. */
#define SW_VIRTIO_RXQ	0
#define SW_VIRTIO_TXQ	1
#define SW_NB_MBUFS	8191
#define SW_MBUF_CACHE	256
/* MAC table: buckets of SW_MAC_WAYS entries, indexed by a hash of (VID, MAC). */
#define SW_MAC_BUCKET_BITS	12
#define SW_MAC_WAYS	4
#define SW_AGING_DEFAULT	300
#define SW_AGING_MAX	86400
#define SW_STATS_MAX	3600
#define SW_VLAN_MAX	4094
/* How long destroy_device() waits for the data path to let go of a vid. */
#define SW_QUIESCE_TIMEOUT_MS	2000
/* Features whose packets would carry offload metadata we do not forward:
 * the switch moves plain frames (checksums complete, no segmentation). */
#define SW_DISABLED_FEATURES ((1ULL << VIRTIO_NET_F_CSUM) | \
	(1ULL << VIRTIO_NET_F_GUEST_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_TSO4) | \
	(1ULL << VIRTIO_NET_F_GUEST_TSO6) | (1ULL << VIRTIO_NET_F_GUEST_ECN) | \
	(1ULL << VIRTIO_NET_F_GUEST_UFO) | (1ULL << VIRTIO_NET_F_HOST_TSO4) | \
	(1ULL << VIRTIO_NET_F_HOST_TSO6) | (1ULL << VIRTIO_NET_F_HOST_ECN) | \
	(1ULL << VIRTIO_NET_F_HOST_UFO))

struct sw_counters {
	uint64_t rx;	/* frames dequeued from the front-end */
	uint64_t tx;	/* frames its RX ring took */
	uint64_t flood;	/* received frames sent to every other port */
	uint64_t drop;	/* received frames sent nowhere + frames its ring refused */
};

struct sw_port {
	char path[PATH_MAX];
	uint16_t vlan;		/* 0: trunk (untagged native + tagged); else access VID */
	int vid;		/* atomic; -1 while no front-end is ready */
	uint32_t session;	/* atomic; bumped each time the port goes away */
	bool registered;
	struct sw_counters c;	/* atomic adds by any forwarding lcore */
	rte_spinlock_t tx_lock;	/* one enqueue into its RX ring at a time */
};

/* One forwarding lcore: its ports and its per-destination TX buffers. */
struct sw_lcore {
	unsigned int lcore_id;
	unsigned int nb_ports;
	unsigned int ports[SW_MAX_PORTS];
	uint64_t epoch;		/* atomic; rounds completed */
	struct rte_mbuf *txq[SW_MAX_PORTS][SW_BURST];
	uint16_t nb_tx[SW_MAX_PORTS];
};

/*
 * Written by the data path under its bucket's lock, with atomic stores so
 * that telemetry can read them without it: key, port and session change
 * together inside the bucket's sequence count; seen alone is refreshed
 * outside it (any value it had is right for the entry).
 */
struct sw_mac_entry {
	uint64_t key;		/* SW_MAC_VALID | MAC << 12 | VID; 0 = empty */
	uint64_t seen;		/* TSC of the last frame from it */
	uint32_t session;
	uint16_t port;
};
#define SW_MAC_VALID	(1ULL << 63)
#define SW_MAC_VID_MASK	0xfffULL

struct sw_mac_sync {
	rte_spinlock_t lock;	/* the data path: one lcore in the bucket at a time */
	rte_seqcount_t seq;	/* telemetry: a consistent copy without the lock */
};

static struct sw_port ports[SW_MAX_PORTS];
static unsigned int nb_ports;
static uint64_t vhost_flags;
static unsigned int aging_s = SW_AGING_DEFAULT;
static unsigned int stats_s;
static struct rte_mempool *pool;
static struct sw_mac_entry mac_table[1u << SW_MAC_BUCKET_BITS][SW_MAC_WAYS];
static struct sw_mac_sync mac_sync[1u << SW_MAC_BUCKET_BITS];
static struct sw_lcore fwd_lcores[SW_MAX_PORTS];
static unsigned int nb_fwd_lcores;
static volatile sig_atomic_t quit;
static int loop_running;	/* atomic: forwarding lcores still running */

static void
usage(const char *prog)
{
	printf("Usage: %s [EAL options] -- --port PATH [--port PATH ...] [options]\n"
		"\n"
		"An L2 learning switch between vhost-user ports (one front-end per port).\n"
		"\n"
		"  --port PATH      add a port (up to %d); PATH is anything\n"
		"                   rte_vhost_driver_register() accepts: an AF_UNIX socket\n"
		"                   path (the switch is the vhost-user server unless --client),\n"
		"                   vfio-user:SOCKET (a dpdk-vvu-device) or a PCI address\n"
		"                   (a virtio-vhost-user device bound to vfio-pci).\n"
		"                   Ports are numbered from 0 in the order given.\n"
		"  --client         AF_UNIX ports connect to their front-ends (server=1)\n"
		"                   and reconnect after they restart.\n"
		"  --aging SEC      forget a learned MAC after SEC seconds without a frame\n"
		"                   from it (0: never; default %d; at most %d).\n"
		"  --vlan PORT:VID  make PORT an access port of VLAN VID (1-%d): its\n"
		"                   untagged frames belong to VID, tagged ones are dropped.\n"
		"                   Ports without --vlan are trunks: untagged frames are\n"
		"                   VLAN 0, 802.1Q-tagged frames their tag's VLAN; a frame\n"
		"                   leaves a trunk tagged (VLAN 0: untagged). Frames are\n"
		"                   switched only within their VLAN.\n"
		"  --stats N        print per-port counters every N seconds (0: only at\n"
		"                   exit; default 0; at most %d).\n"
		"  -h, --help       this text.\n"
		"\n"
		"Forwarding: frames from a port teach the switch where their source MAC\n"
		"is (per VLAN); broadcast, multicast and unknown unicast are flooded to\n"
		"every other ready port of the VLAN; known unicast goes to its port only.\n"
		"A port whose front-end goes away is skipped and its MACs are forgotten;\n"
		"the other ports keep forwarding. Ports are spread over the EAL lcores\n"
		"(-l): one lcore polls them all, or up to one lcore per port.\n"
		"\n"
		"Counters, per port: rx (frames received from the front-end), tx (frames\n"
		"delivered to it), flood (received frames that were flooded), drop\n"
		"(received frames delivered nowhere, and frames for it its ring had no\n"
		"room for). Printed every --stats N seconds and on SIGINT/SIGTERM, which\n"
		"end the switch cleanly.\n"
		"\n"
		"Telemetry (unless EAL's --no-telemetry): dpdk-telemetry.py -f PREFIX\n"
		"(EAL's --file-prefix) answers /vhost_switch/ports, /vhost_switch/port,N,\n"
		"/vhost_switch/stats and /vhost_switch/macs[,N] (learned MACs).\n",
		prog, SW_MAX_PORTS, SW_AGING_DEFAULT, SW_AGING_MAX, SW_VLAN_MAX,
		SW_STATS_MAX);
}

/* A decimal in [0, max], the whole string; false otherwise. */
static bool
parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return false;
	*out = v;
	return true;
}

enum { OPT_PORT = 256, OPT_CLIENT, OPT_AGING, OPT_VLAN, OPT_STATS };

static int
parse_args(int argc, char **argv, const char *prog)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, OPT_PORT },
		{ "client", no_argument, NULL, OPT_CLIENT },
		{ "aging", required_argument, NULL, OPT_AGING },
		{ "vlan", required_argument, NULL, OPT_VLAN },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* --vlan may come before the --port it names: keep them for later. */
	const char *vlans[SW_MAX_PORTS * 2];
	unsigned int nb_vlans = 0, i;
	unsigned long v;
	int opt;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			usage(prog);
			exit(EXIT_SUCCESS);
		case OPT_PORT:
			if (nb_ports == SW_MAX_PORTS) {
				fprintf(stderr, "vhost-switch: more than %d --port\n",
					SW_MAX_PORTS);
				return -1;
			}
			if (optarg[0] == '\0' || strlen(optarg) >= PATH_MAX) {
				fprintf(stderr, "vhost-switch: --port '%s': empty or too long\n",
					optarg);
				return -1;
			}
			for (i = 0; i < nb_ports; i++) {
				if (strcmp(ports[i].path, optarg) == 0) {
					fprintf(stderr, "vhost-switch: --port '%s' given twice\n",
						optarg);
					return -1;
				}
			}
			strcpy(ports[nb_ports++].path, optarg);
			break;
		case OPT_CLIENT:
			vhost_flags |= RTE_VHOST_USER_CLIENT;
			break;
		case OPT_AGING:
			if (!parse_uint(optarg, SW_AGING_MAX, &v)) {
				fprintf(stderr, "vhost-switch: --aging '%s': not a number of "
					"seconds in 0-%d\n", optarg, SW_AGING_MAX);
				return -1;
			}
			aging_s = v;
			break;
		case OPT_STATS:
			if (!parse_uint(optarg, SW_STATS_MAX, &v)) {
				fprintf(stderr, "vhost-switch: --stats '%s': not a number of "
					"seconds in 0-%d\n", optarg, SW_STATS_MAX);
				return -1;
			}
			stats_s = v;
			break;
		case OPT_VLAN:
			if (nb_vlans == RTE_DIM(vlans)) {
				fprintf(stderr, "vhost-switch: too many --vlan\n");
				return -1;
			}
			vlans[nb_vlans++] = optarg;
			break;
		case ':':
			fprintf(stderr, "vhost-switch: %s needs an argument (-h for help)\n",
				argv[optind - 1]);
			return -1;
		default:
			fprintf(stderr, "vhost-switch: unknown option '%s' (-h for help)\n",
				argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vhost-switch: unexpected argument '%s' (-h for help)\n",
			argv[optind]);
		return -1;
	}
	if (nb_ports == 0) {
		fprintf(stderr, "vhost-switch: no --port given (-h for help)\n");
		return -1;
	}
	for (i = 0; i < nb_vlans; i++) {
		char buf[32], *colon;
		unsigned long port, vid;

		if (strlen(vlans[i]) >= sizeof(buf))
			goto bad_vlan;
		strcpy(buf, vlans[i]);
		colon = strchr(buf, ':');
		if (colon == NULL)
			goto bad_vlan;
		*colon = '\0';
		if (!parse_uint(buf, SW_MAX_PORTS - 1, &port) ||
				!parse_uint(colon + 1, SW_VLAN_MAX, &vid) || vid == 0)
			goto bad_vlan;
		if (port >= nb_ports) {
			fprintf(stderr, "vhost-switch: --vlan '%s': there is no port %lu "
				"(%u --port given)\n", vlans[i], port, nb_ports);
			return -1;
		}
		ports[port].vlan = vid;
		continue;
bad_vlan:
		fprintf(stderr, "vhost-switch: --vlan '%s': expected PORT:VID, VID in 1-%d\n",
			vlans[i], SW_VLAN_MAX);
		return -1;
	}
	return 0;
}

/* ----- ports and the control thread ------------------------------------ */

static int
port_of_vid(int vid)
{
	unsigned int i;

	for (i = 0; i < nb_ports; i++)
		if (__atomic_load_n(&ports[i].vid, __ATOMIC_ACQUIRE) == vid)
			return i;
	return -1;
}

static int
new_device(int vid)
{
	char ifname[PATH_MAX];
	unsigned int i;

	if (rte_vhost_get_ifname(vid, ifname, sizeof(ifname)) != 0) {
		fprintf(stderr, "vhost-switch: vid %d: no ifname\n", vid);
		return -1;
	}
	for (i = 0; i < nb_ports; i++)
		if (strcmp(ports[i].path, ifname) == 0)
			break;
	if (i == nb_ports) {
		fprintf(stderr, "vhost-switch: vid %d: unknown path %s\n", vid, ifname);
		return -1;
	}
	if (__atomic_load_n(&ports[i].vid, __ATOMIC_ACQUIRE) >= 0) {
		fprintf(stderr, "vhost-switch: port %u (%s): a second front-end (vid %d) "
			"refused\n", i, ifname, vid);
		return -1;
	}
	/* We poll: the front-end need not kick us. */
	rte_vhost_enable_guest_notification(vid, SW_VIRTIO_RXQ, 0);
	rte_vhost_enable_guest_notification(vid, SW_VIRTIO_TXQ, 0);
	__atomic_store_n(&ports[i].vid, vid, __ATOMIC_RELEASE);
	printf("port %u (%s): up, vid %d\n", i, ifname, vid);
	return 0;
}

static void
destroy_device(int vid)
{
	int i = port_of_vid(vid);
	uint64_t epochs[SW_MAX_PORTS], waited_ms = 0;
	unsigned int l;

	if (i < 0)
		return; /* a refused second front-end */
	__atomic_store_n(&ports[i].vid, -1, __ATOMIC_SEQ_CST);
	/* Forget its MACs: entries of an older session no longer match. */
	__atomic_add_fetch(&ports[i].session, 1, __ATOMIC_RELEASE);
	/* Wait for the rounds that may still hold the old vid to end. */
	for (l = 0; l < nb_fwd_lcores; l++)
		epochs[l] = __atomic_load_n(&fwd_lcores[l].epoch, __ATOMIC_SEQ_CST);
	for (l = 0; l < nb_fwd_lcores; l++) {
		while (__atomic_load_n(&loop_running, __ATOMIC_ACQUIRE) &&
				__atomic_load_n(&fwd_lcores[l].epoch, __ATOMIC_ACQUIRE) ==
				epochs[l] && waited_ms < SW_QUIESCE_TIMEOUT_MS) {
			rte_delay_us_sleep(1000);
			waited_ms++;
		}
	}
	if (waited_ms >= SW_QUIESCE_TIMEOUT_MS)
		fprintf(stderr, "port %d (%s): a forwarding lcore did not finish its round "
			"within %d ms\n", i, ports[i].path, SW_QUIESCE_TIMEOUT_MS);
	/* A round that learned a MAC while we waited stored the new session. */
	__atomic_add_fetch(&ports[i].session, 1, __ATOMIC_RELEASE);
	printf("port %d (%s): down, vid %d\n", i, ports[i].path, vid);
}

static const struct rte_vhost_device_ops sw_vhost_ops = {
	.new_device = new_device,
	.destroy_device = destroy_device,
};

static int
ports_start(void)
{
	unsigned int i;

	for (i = 0; i < nb_ports; i++) {
		struct sw_port *p = &ports[i];

		p->vid = -1;
		rte_spinlock_init(&p->tx_lock);
		if (rte_vhost_driver_register(p->path, vhost_flags) != 0) {
			fprintf(stderr, "vhost-switch: port %u (%s): cannot register "
				"(see the library's log above)\n", i, p->path);
			return -1;
		}
		p->registered = true;
		if (rte_vhost_driver_disable_features(p->path, SW_DISABLED_FEATURES) != 0 ||
				rte_vhost_driver_callback_register(p->path, &sw_vhost_ops) != 0 ||
				rte_vhost_driver_start(p->path) != 0) {
			fprintf(stderr, "vhost-switch: port %u (%s): cannot start\n", i,
				p->path);
			return -1;
		}
		printf("port %u (%s): waiting for its front-end%s\n", i, p->path,
			p->vlan ? "" : " (trunk)");
	}
	return 0;
}

static void
ports_stop(void)
{
	unsigned int i;

	for (i = 0; i < nb_ports; i++)
		if (ports[i].registered)
			rte_vhost_driver_unregister(ports[i].path);
}

/* ----- MAC table (data path only) --------------------------------------- */

static uint64_t
mac_key(const struct rte_ether_addr *mac, uint16_t vlan)
{
	uint64_t m = 0;
	unsigned int i;

	for (i = 0; i < RTE_ETHER_ADDR_LEN; i++)
		m = m << 8 | mac->addr_bytes[i];
	return SW_MAC_VALID | m << 12 | vlan;
}

static unsigned int
mac_hash(uint64_t key)
{
	/* Fibonacci hashing: the top bits of key * 2^64/phi. */
	return (unsigned int)((key * 0x9E3779B97F4A7C15ULL) >> (64 - SW_MAC_BUCKET_BITS));
}

static struct sw_mac_entry *
mac_bucket(uint64_t key)
{
	return mac_table[mac_hash(key)];
}

static bool
mac_entry_live(const struct sw_mac_entry *e, uint64_t now, uint64_t aging_tsc)
{
	if (e->key == 0)
		return false;
	if (e->session != __atomic_load_n(&ports[e->port].session, __ATOMIC_ACQUIRE))
		return false;
	/* another lcore may have refreshed it after this round read the TSC */
	return aging_tsc == 0 || e->seen >= now || now - e->seen <= aging_tsc;
}

static rte_spinlock_t *
mac_lock(uint64_t key)
{
	return &mac_sync[mac_hash(key)].lock;
}

static void
mac_learn(uint64_t key, uint16_t port, uint64_t now, uint64_t aging_tsc)
{
	struct sw_mac_entry *b = mac_bucket(key), *victim = NULL;
	struct sw_mac_sync *sync = &mac_sync[mac_hash(key)];
	uint32_t session = __atomic_load_n(&ports[port].session, __ATOMIC_ACQUIRE);
	unsigned int w;

	rte_spinlock_lock(&sync->lock);

	/* The entry of key, else a dead one, else the oldest (a full bucket). */
	for (w = 0; w < SW_MAC_WAYS && victim == NULL; w++)
		if (b[w].key == key)
			victim = &b[w];
	for (w = 0; w < SW_MAC_WAYS && victim == NULL; w++)
		if (!mac_entry_live(&b[w], now, aging_tsc))
			victim = &b[w];
	if (victim == NULL) {
		victim = &b[0];
		for (w = 1; w < SW_MAC_WAYS; w++)
			if (b[w].seen < victim->seen)
				victim = &b[w];
	}
	if (victim->key == key && victim->port == port && victim->session == session) {
		/* the usual case, once per frame: only its time changes */
		__atomic_store_n(&victim->seen, now, __ATOMIC_RELAXED);
	} else {
		rte_seqcount_write_begin(&sync->seq);
		__atomic_store_n(&victim->key, key, __ATOMIC_RELAXED);
		__atomic_store_n(&victim->port, port, __ATOMIC_RELAXED);
		__atomic_store_n(&victim->session, session, __ATOMIC_RELAXED);
		__atomic_store_n(&victim->seen, now, __ATOMIC_RELAXED);
		rte_seqcount_write_end(&sync->seq);
	}
	rte_spinlock_unlock(&sync->lock);
}

/* The port key was learned on, or -1. */
static int
mac_lookup(uint64_t key, uint64_t now, uint64_t aging_tsc)
{
	struct sw_mac_entry *b = mac_bucket(key);
	rte_spinlock_t *lock = mac_lock(key);
	unsigned int w;
	int port = -1;

	rte_spinlock_lock(lock);
	for (w = 0; w < SW_MAC_WAYS; w++) {
		if (b[w].key == key) {
			if (mac_entry_live(&b[w], now, aging_tsc))
				port = b[w].port;
			break;
		}
	}
	rte_spinlock_unlock(lock);
	return port;
}

/* ----- data path -------------------------------------------------------- */

/* Whether a frame of VLAN vlan may leave through port p. */
static bool
port_carries(const struct sw_port *p, uint16_t vlan)
{
	return p->vlan == 0 || p->vlan == vlan;
}

/*
 * The frame m as it must leave port p: itself, or (a trunk, vlan != 0) a
 * tagged copy, made once per frame and kept in *tagged. NULL if no mbuf.
 */
static struct rte_mbuf *
egress_frame(const struct sw_port *p, struct rte_mbuf *m, uint16_t vlan,
	     struct rte_mbuf **tagged)
{
	if (p->vlan != 0 || vlan == 0)
		return m;
	if (*tagged == NULL) {
		struct rte_mbuf *c = rte_pktmbuf_copy(m, pool, 0, UINT32_MAX);

		if (c == NULL)
			return NULL;
		c->vlan_tci = vlan;
		if (rte_vlan_insert(&c) != 0) {
			rte_pktmbuf_free(c);
			return NULL;
		}
		*tagged = c;
	}
	return *tagged;
}

#define SW_COUNT(port, field, n) \
	__atomic_fetch_add(&(port)->c.field, (n), __ATOMIC_RELAXED)

static void
switch_port(struct sw_lcore *lc, unsigned int in, const int *vids, uint64_t now,
	    uint64_t aging_tsc)
{
	struct sw_port *p = &ports[in];
	struct rte_mbuf *pkts[SW_BURST], *copies[SW_BURST];
	uint16_t n, i, nb_copies = 0;
	unsigned int j;

	n = rte_vhost_dequeue_burst(vids[in], SW_VIRTIO_TXQ, pool, pkts, SW_BURST);
	if (n == 0)
		return;
	SW_COUNT(p, rx, n);
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i], *tagged = NULL;
		const struct rte_ether_hdr *eth;
		uint16_t vlan = 0;
		unsigned int sent = 0;
		int out;

		if (rte_pktmbuf_data_len(m) < sizeof(*eth)) {
			SW_COUNT(p, drop, 1);
			continue;
		}
		eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
		if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN)) {
			/* Tagged: a trunk's frame of that VLAN; no access port's. */
			/* too short for its tag: rte_vlan_strip would read past it */
			if (p->vlan != 0 ||
			    rte_pktmbuf_data_len(m) < sizeof(*eth) + sizeof(struct rte_vlan_hdr) ||
			    rte_vlan_strip(m) != 0) {
				SW_COUNT(p, drop, 1);
				continue;
			}
			vlan = m->vlan_tci & 0xfff;
			m->ol_flags &= ~(RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED);
			eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
		} else {
			vlan = p->vlan;
		}
		if (!rte_is_multicast_ether_addr(&eth->src_addr))
			mac_learn(mac_key(&eth->src_addr, vlan), in, now, aging_tsc);

		out = rte_is_multicast_ether_addr(&eth->dst_addr) ? -1 :
			mac_lookup(mac_key(&eth->dst_addr, vlan), now, aging_tsc);
		if (out >= 0 && vids[out] < 0)
			out = -1; /* learned, but its front-end is not ready now */
		if (out == (int)in) {
			SW_COUNT(p, drop, 1); /* its destination is where it came from */
			continue;
		}
		if (out < 0)
			SW_COUNT(p, flood, 1);
		for (j = 0; j < nb_ports; j++) {
			struct sw_port *q = &ports[j];
			struct rte_mbuf *f;

			if (j == in || vids[j] < 0 || !port_carries(q, vlan))
				continue;
			if (out >= 0 && j != (unsigned int)out)
				continue;
			f = egress_frame(q, m, vlan, &tagged);
			if (f == NULL) {
				SW_COUNT(q, drop, 1);
				continue;
			}
			lc->txq[j][lc->nb_tx[j]++] = f;
			sent++;
		}
		if (tagged != NULL)
			copies[nb_copies++] = tagged;
		if (sent == 0)
			SW_COUNT(p, drop, 1);
	}
	/* Offer each destination its frames; the enqueue copies them. */
	for (j = 0; j < nb_ports; j++) {
		struct sw_port *q = &ports[j];
		uint16_t taken;

		if (lc->nb_tx[j] == 0)
			continue;
		rte_spinlock_lock(&q->tx_lock);
		taken = rte_vhost_enqueue_burst(vids[j], SW_VIRTIO_RXQ, lc->txq[j],
			lc->nb_tx[j]);
		rte_spinlock_unlock(&q->tx_lock);
		SW_COUNT(q, tx, taken);
		SW_COUNT(q, drop, lc->nb_tx[j] - taken);
		lc->nb_tx[j] = 0;
	}
	rte_pktmbuf_free_bulk(pkts, n);
	rte_pktmbuf_free_bulk(copies, nb_copies);
}

static void
print_stats(const char *when)
{
	unsigned int i;

	printf("--- vhost-switch stats (%s) ---\n", when);
	for (i = 0; i < nb_ports; i++) {
		const struct sw_port *p = &ports[i];

		printf("port %u: rx %" PRIu64 " tx %" PRIu64 " flood %" PRIu64
			" drop %" PRIu64 " %s vlan %u path %s\n", i,
			__atomic_load_n(&p->c.rx, __ATOMIC_RELAXED),
			__atomic_load_n(&p->c.tx, __ATOMIC_RELAXED),
			__atomic_load_n(&p->c.flood, __ATOMIC_RELAXED),
			__atomic_load_n(&p->c.drop, __ATOMIC_RELAXED),
			__atomic_load_n(&p->vid, __ATOMIC_ACQUIRE) >= 0 ? "up" : "down",
			p->vlan, p->path);
	}
	fflush(stdout);
}

/* ----- telemetry (EAL's telemetry thread) ------------------------------ */

/* At most this many MACs in one /vhost_switch/macs reply (its 16 KiB). */
#define SW_TEL_MAX_MACS	256

/* A consistent copy of bucket b, read without its lock (see sw_mac_entry). */
static void
mac_bucket_copy(unsigned int b, struct sw_mac_entry out[SW_MAC_WAYS])
{
	uint32_t sn;
	unsigned int w;

	do {
		sn = rte_seqcount_read_begin(&mac_sync[b].seq);
		for (w = 0; w < SW_MAC_WAYS; w++) {
			const struct sw_mac_entry *e = &mac_table[b][w];

			out[w].key = __atomic_load_n(&e->key, __ATOMIC_RELAXED);
			out[w].port = __atomic_load_n(&e->port, __ATOMIC_RELAXED);
			out[w].session = __atomic_load_n(&e->session, __ATOMIC_RELAXED);
			out[w].seen = __atomic_load_n(&e->seen, __ATOMIC_RELAXED);
		}
	} while (rte_seqcount_read_retry(&mac_sync[b].seq, sn));
}

/* A port number: decimal digits only, below nb_ports; -1 otherwise. */
static int
tel_port_param(const char *params)
{
	unsigned long v;

	if (params == NULL || !parse_uint(params, nb_ports - 1, &v))
		return -1;
	return (int)v;
}

/*
 * Call fn(e, age_ms, arg) for every live MAC (port >= 0: on that port only),
 * as the data path would see it now.
 */
static void
mac_walk(int port, void (*fn)(const struct sw_mac_entry *e, uint64_t age_ms, void *arg),
	 void *arg)
{
	const uint64_t hz = rte_get_tsc_hz();
	const uint64_t aging_tsc = (uint64_t)aging_s * hz;
	const uint64_t now = rte_get_tsc_cycles();
	struct sw_mac_entry copy[SW_MAC_WAYS];
	unsigned int b, w;

	for (b = 0; b < RTE_DIM(mac_table); b++) {
		mac_bucket_copy(b, copy);
		for (w = 0; w < SW_MAC_WAYS; w++) {
			const struct sw_mac_entry *e = &copy[w];

			if (e->key == 0 || e->port >= nb_ports || (port >= 0 && e->port != port) ||
			    !mac_entry_live(e, now, aging_tsc))
				continue;
			fn(e, e->seen >= now ? 0 : (now - e->seen) * 1000 / hz, arg);
		}
	}
}

static void
mac_count_one(const struct sw_mac_entry *e, uint64_t age_ms, void *arg)
{
	(*(uint64_t *)arg)++;
}

static int
tel_ports(const char *cmd, const char *params, struct rte_tel_data *d)
{
	unsigned int i;

	if (params != NULL)
		return -EINVAL;
	rte_tel_data_start_array(d, RTE_TEL_U64_VAL);
	for (i = 0; i < nb_ports; i++)
		rte_tel_data_add_array_u64(d, i);
	return 0;
}

static int
tel_port(const char *cmd, const char *params, struct rte_tel_data *d)
{
	int id = tel_port_param(params);
	const struct sw_port *p;
	uint64_t macs = 0;
	int vid;

	if (id < 0)
		return -EINVAL;
	p = &ports[id];
	vid = __atomic_load_n(&p->vid, __ATOMIC_ACQUIRE);
	mac_walk(id, mac_count_one, &macs);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "id", id);
	/* a path of 128 bytes or more is cut (RTE_TEL_MAX_STRING_LEN) */
	rte_tel_data_add_dict_string(d, "path", p->path);
	rte_tel_data_add_dict_string(d, "state", vid >= 0 ? "up" : "down");
	rte_tel_data_add_dict_int(d, "vid", vid);
	rte_tel_data_add_dict_string(d, "mode", p->vlan ? "access" : "trunk");
	rte_tel_data_add_dict_u64(d, "vlan", p->vlan);
	rte_tel_data_add_dict_u64(d, "rx", __atomic_load_n(&p->c.rx, __ATOMIC_RELAXED));
	rte_tel_data_add_dict_u64(d, "tx", __atomic_load_n(&p->c.tx, __ATOMIC_RELAXED));
	rte_tel_data_add_dict_u64(d, "flood", __atomic_load_n(&p->c.flood, __ATOMIC_RELAXED));
	rte_tel_data_add_dict_u64(d, "drop", __atomic_load_n(&p->c.drop, __ATOMIC_RELAXED));
	rte_tel_data_add_dict_u64(d, "macs", macs);
	return 0;
}

/* One array of a counter, indexed by port; NULL if no memory. */
static struct rte_tel_data *
tel_counter_array(size_t offset)
{
	struct rte_tel_data *a = rte_tel_data_alloc();
	unsigned int i;

	if (a == NULL)
		return NULL;
	rte_tel_data_start_array(a, RTE_TEL_U64_VAL);
	for (i = 0; i < nb_ports; i++) {
		const uint64_t *c = (const uint64_t *)((const char *)&ports[i].c + offset);

		rte_tel_data_add_array_u64(a, __atomic_load_n(c, __ATOMIC_RELAXED));
	}
	return a;
}

static int
tel_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	static const struct {
		const char *name;
		size_t offset;
	} counters[] = {
		{ "rx", offsetof(struct sw_counters, rx) },
		{ "tx", offsetof(struct sw_counters, tx) },
		{ "flood", offsetof(struct sw_counters, flood) },
		{ "drop", offsetof(struct sw_counters, drop) },
	};
	unsigned int i;

	if (params != NULL)
		return -EINVAL;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "ports", nb_ports);
	for (i = 0; i < RTE_DIM(counters); i++) {
		struct rte_tel_data *a = tel_counter_array(counters[i].offset);

		if (a == NULL || rte_tel_data_add_dict_container(d, counters[i].name, a, 0) != 0) {
			rte_tel_data_free(a);
			return -ENOMEM;
		}
	}
	return 0;
}

struct tel_macs {
	uint64_t total;
	struct rte_tel_data *mac, *port, *vlan, *age;
};

static void
mac_add_one(const struct sw_mac_entry *e, uint64_t age_ms, void *arg)
{
	struct tel_macs *t = arg;
	uint64_t m = (e->key & ~SW_MAC_VALID) >> 12;
	char s[RTE_ETHER_ADDR_FMT_SIZE];

	if (t->total++ >= SW_TEL_MAX_MACS)
		return;
	snprintf(s, sizeof(s), "%02x:%02x:%02x:%02x:%02x:%02x", (unsigned int)(m >> 40) & 0xff,
		 (unsigned int)(m >> 32) & 0xff, (unsigned int)(m >> 24) & 0xff,
		 (unsigned int)(m >> 16) & 0xff, (unsigned int)(m >> 8) & 0xff,
		 (unsigned int)m & 0xff);
	rte_tel_data_add_array_string(t->mac, s);
	rte_tel_data_add_array_u64(t->port, e->port);
	rte_tel_data_add_array_u64(t->vlan, e->key & SW_MAC_VID_MASK);
	rte_tel_data_add_array_u64(t->age, age_ms);
}

/* The learned MACs (all, or one port's): parallel arrays, one entry per MAC. */
static int
tel_macs(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct tel_macs t = { 0 };
	int port = -1;

	if (params != NULL) {
		port = tel_port_param(params);
		if (port < 0)
			return -EINVAL;
	}
	t.mac = rte_tel_data_alloc();
	t.port = rte_tel_data_alloc();
	t.vlan = rte_tel_data_alloc();
	t.age = rte_tel_data_alloc();
	if (t.mac == NULL || t.port == NULL || t.vlan == NULL || t.age == NULL) {
		rte_tel_data_free(t.mac);
		rte_tel_data_free(t.port);
		rte_tel_data_free(t.vlan);
		rte_tel_data_free(t.age);
		return -ENOMEM;
	}
	rte_tel_data_start_array(t.mac, RTE_TEL_STRING_VAL);
	rte_tel_data_start_array(t.port, RTE_TEL_U64_VAL);
	rte_tel_data_start_array(t.vlan, RTE_TEL_U64_VAL);
	rte_tel_data_start_array(t.age, RTE_TEL_U64_VAL);
	mac_walk(port, mac_add_one, &t);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "total", t.total);
	rte_tel_data_add_dict_u64(d, "shown", RTE_MIN(t.total, (uint64_t)SW_TEL_MAX_MACS));
	rte_tel_data_add_dict_u64(d, "aging_s", aging_s);
	/* the dict frees them (keep = 0) */
	rte_tel_data_add_dict_container(d, "mac", t.mac, 0);
	rte_tel_data_add_dict_container(d, "port", t.port, 0);
	rte_tel_data_add_dict_container(d, "vlan", t.vlan, 0);
	rte_tel_data_add_dict_container(d, "age_ms", t.age, 0);
	return 0;
}

/* After ports_start(): the commands read ports[] as the data path left it. */
static void
telemetry_register(void)
{
	static const struct {
		const char *cmd;
		telemetry_cb fn;
		const char *help;
	} cmds[] = {
		{ "/vhost_switch/ports", tel_ports, "Returns the port numbers. Takes no "
		  "parameters" },
		{ "/vhost_switch/port", tel_port, "Returns one port: path, state, vid, mode, "
		  "vlan, rx, tx, flood, drop, macs. Parameter: the port number" },
		{ "/vhost_switch/stats", tel_stats, "Returns rx, tx, flood and drop, each an "
		  "array indexed by port number. Takes no parameters" },
		{ "/vhost_switch/macs", tel_macs, "Returns the learned MACs as arrays mac, "
		  "port, vlan, age_ms (at most 256; total counts all). Parameter (optional): "
		  "a port number" },
	};
	unsigned int i;

	for (i = 0; i < RTE_DIM(cmds); i++)
		if (rte_telemetry_register_cmd(cmds[i].cmd, cmds[i].fn, cmds[i].help) != 0)
			fprintf(stderr, "vhost-switch: telemetry command %s not registered\n",
				cmds[i].cmd);
}

/* One forwarding lcore's loop; the main lcore's also prints the counters. */
static int
switch_loop(void *arg)
{
	struct sw_lcore *lc = arg;
	const bool is_main = lc->lcore_id == rte_get_main_lcore();
	const uint64_t hz = rte_get_tsc_hz();
	const uint64_t aging_tsc = (uint64_t)aging_s * hz;
	uint64_t next_stats = rte_get_tsc_cycles() + (uint64_t)stats_s * hz;
	int vids[SW_MAX_PORTS];
	unsigned int i;

	while (!quit) {
		uint64_t now = rte_get_tsc_cycles();
		bool any = false;

		for (i = 0; i < nb_ports; i++)
			vids[i] = __atomic_load_n(&ports[i].vid, __ATOMIC_SEQ_CST);
		for (i = 0; i < lc->nb_ports; i++) {
			if (vids[lc->ports[i]] >= 0) {
				switch_port(lc, lc->ports[i], vids, now, aging_tsc);
				any = true;
			}
		}
		/* This round's vids are no longer used (see destroy_device()). */
		__atomic_add_fetch(&lc->epoch, 1, __ATOMIC_SEQ_CST);
		if (is_main && stats_s != 0 && now >= next_stats) {
			print_stats("periodic");
			next_stats = now + (uint64_t)stats_s * hz;
		}
		if (!any)
			rte_delay_us_sleep(1000); /* nothing to poll: do not spin */
	}
	return 0;
}

/* Spread the ports over the lcores, round-robin; at most one lcore per port. */
static void
lcores_assign(void)
{
	unsigned int lcore_id, i;

	fwd_lcores[nb_fwd_lcores++].lcore_id = rte_get_main_lcore();
	RTE_LCORE_FOREACH_WORKER(lcore_id) {
		if (nb_fwd_lcores == nb_ports)
			break;
		fwd_lcores[nb_fwd_lcores++].lcore_id = lcore_id;
	}
	for (i = 0; i < nb_ports; i++) {
		struct sw_lcore *lc = &fwd_lcores[i % nb_fwd_lcores];

		lc->ports[lc->nb_ports++] = i;
	}
	for (i = 0; i < nb_fwd_lcores; i++)
		printf("vhost-switch: lcore %u polls %u port(s)\n", fwd_lcores[i].lcore_id,
			fwd_lcores[i].nb_ports);
}

static void
switch_run(void)
{
	unsigned int i;

	__atomic_store_n(&loop_running, 1, __ATOMIC_RELEASE);
	for (i = 1; i < nb_fwd_lcores; i++)
		rte_eal_remote_launch(switch_loop, &fwd_lcores[i], fwd_lcores[i].lcore_id);
	switch_loop(&fwd_lcores[0]);
	rte_eal_mp_wait_lcore();
	__atomic_store_n(&loop_running, 0, __ATOMIC_RELEASE);
}

static void
on_signal(int sig)
{
	quit = 1;
}

int
main(int argc, char **argv)
{
	const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	int i, sep = -1, ret;

	/* Our options come after "--": check them before EAL starts, so that
	 * -h and a bad argument cost no hugepages. */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			sep = i;
			break;
		}
	}
	if (sep < 0) {
		for (i = 1; i < argc; i++) {
			if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
				usage(prog);
				return EXIT_SUCCESS;
			}
		}
		fprintf(stderr, "vhost-switch: no '--' before the switch's options "
			"(-h for help)\n");
		return EXIT_FAILURE;
	}
	argv[sep] = argv[0];
	if (parse_args(argc - sep, argv + sep, prog) != 0)
		return EXIT_FAILURE;
	argv[sep] = (char *)(uintptr_t)"--";
	optind = 1; /* EAL parses with getopt too */

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	ret = rte_eal_init(sep, argv);
	if (ret < 0) {
		fprintf(stderr, "vhost-switch: EAL init failed: %s\n", rte_strerror(rte_errno));
		return EXIT_FAILURE;
	}
	pool = rte_pktmbuf_pool_create("vhost_switch_pool", SW_NB_MBUFS, SW_MBUF_CACHE, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (pool == NULL) {
		fprintf(stderr, "vhost-switch: cannot create the mbuf pool: %s\n",
			rte_strerror(rte_errno));
		rte_eal_cleanup();
		return EXIT_FAILURE;
	}
	ret = EXIT_SUCCESS;
	if (ports_start() == 0) {
		telemetry_register();
		printf("vhost-switch: %u ports, aging %u s\n", nb_ports, aging_s);
		lcores_assign();
		switch_run();
	} else {
		ret = EXIT_FAILURE;
	}
	/* Unregistering ends every connection (destroy_device() runs, and no
	 * longer waits for the loop, which has ended). */
	ports_stop();
	print_stats("exit");
	rte_mempool_free(pool);
	rte_eal_cleanup();
	return ret;
}

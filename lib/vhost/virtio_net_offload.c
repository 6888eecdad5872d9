/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-net header <-> mbuf offload flags.
 *
 * Enqueue (host -> driver): the application's TX offload requests on an mbuf
 * (RTE_MBUF_F_TX_*_CKSUM, TCP/UDP segmentation) become the header's
 * NEEDS_CSUM + csum_start/csum_offset and gso_type/gso_size/hdr_len, the way
 * a NIC would hand them to a guest's stack. An IPv4 header checksum has no
 * virtio-net equivalent, so it is computed here.
 *
 * Dequeue (driver -> host): two conventions, chosen per endpoint:
 *  - compliant (RTE_VHOST_USER_NET_COMPLIANT_OL_FLAGS): the mbuf gets RX
 *    flags, as from a NIC: L4 checksum "none" (i.e. partial, to be completed
 *    by whoever sends it on) when the layout is one we recognise, otherwise
 *    the checksum is completed in software; GSO frames are flagged as LRO
 *    with tso_segsz;
 *  - legacy (the default, what OVS and old apps expect): the headers are
 *    parsed and TX offload flags (TX_*_CKSUM, TX_TCP_SEG/UDP_SEG) with
 *    l2/l3/l4 lengths are set, so the packet can be forwarded to a NIC that
 *    finishes the work.
 *
 * The header is the driver's: the caller passes a local copy (read once),
 * and every offset in it is checked against the packet before use
 * (CVE-2024-11614: csum_start beyond the packet); gso_size 0 is ignored.
 */

#include <stddef.h>
#include <string.h>
#include <netinet/in.h>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_net.h>
#include <rte_sctp.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "vhost.h"
#include "vhost_dp.h"

#define VHOST_TCP_CSUM_OFF	offsetof(struct rte_tcp_hdr, cksum)
#define VHOST_UDP_CSUM_OFF	offsetof(struct rte_udp_hdr, dgram_cksum)
#define VHOST_SCTP_CSUM_OFF	offsetof(struct rte_sctp_hdr, cksum)
#define VHOST_IPV4_IHL_MASK	0x0f
#define VHOST_TCP_DOFF_SHIFT	2	/* data_off's top nibble, in 4-byte words */

void
vhost_offload_to_hdr(struct rte_mbuf *m, struct virtio_net_hdr *hdr)
{
	uint64_t ol = m->ol_flags;
	uint64_t l4 = ol & RTE_MBUF_F_TX_L4_MASK;

	/* Segmentation implies the L4 checksum is left to the receiver. */
	if (ol & RTE_MBUF_F_TX_TCP_SEG)
		l4 = RTE_MBUF_F_TX_TCP_CKSUM;

	if (l4 != 0) {
		uint16_t off = 0;

		switch (l4) {
		case RTE_MBUF_F_TX_TCP_CKSUM:
			off = VHOST_TCP_CSUM_OFF;
			break;
		case RTE_MBUF_F_TX_UDP_CKSUM:
			off = VHOST_UDP_CSUM_OFF;
			break;
		case RTE_MBUF_F_TX_SCTP_CKSUM:
			off = VHOST_SCTP_CSUM_OFF;
			break;
		default:
			break;
		}
		if (off != 0) {
			hdr->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
			hdr->csum_start = m->l2_len + m->l3_len;
			hdr->csum_offset = off;
		}
	}

	/* virtio-net cannot defer the IPv4 header checksum: do it here. */
	if ((ol & RTE_MBUF_F_TX_IP_CKSUM) && (ol & RTE_MBUF_F_TX_IPV4) &&
	    rte_pktmbuf_data_len(m) >= m->l2_len + sizeof(struct rte_ipv4_hdr)) {
		struct rte_ipv4_hdr *ip =
			rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, m->l2_len);
		size_t ihl = (size_t)(ip->version_ihl & VHOST_IPV4_IHL_MASK) * 4;

		if (ihl >= sizeof(*ip) && rte_pktmbuf_data_len(m) >= m->l2_len + ihl) {
			ip->hdr_checksum = 0;
			ip->hdr_checksum = rte_ipv4_cksum(ip);
		}
	}

	if (ol & (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG)) {
		if (ol & RTE_MBUF_F_TX_TCP_SEG)
			hdr->gso_type = (ol & RTE_MBUF_F_TX_IPV4) ?
				VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
		else
			hdr->gso_type = VIRTIO_NET_HDR_GSO_UDP;
		hdr->gso_size = m->tso_segsz;
		hdr->hdr_len = m->l2_len + m->l3_len + m->l4_len;
	}
}

/*
 * Legacy mode: find L2/L3 lengths and the L4 protocol in the first segment.
 * Returns the L4 protocol (IPPROTO_*), or 0 if the packet is not IP or too
 * short; sets l2_len, l3_len and TX_IPV4/TX_IPV6 on success.
 */
static uint8_t
vhost_parse_headers(struct rte_mbuf *m)
{
	uint32_t dlen = rte_pktmbuf_data_len(m);
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	const struct rte_ether_hdr *eth = (const struct rte_ether_hdr *)p;
	uint32_t l2 = sizeof(*eth);
	uint16_t type;
	uint8_t proto;

	if (dlen < l2)
		return 0;
	type = eth->ether_type;
	if (type == rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN)) {
		const struct rte_vlan_hdr *vh;

		if (dlen < l2 + sizeof(*vh))
			return 0;
		vh = (const struct rte_vlan_hdr *)(p + l2);
		l2 += sizeof(*vh);
		type = vh->eth_proto;
	}

	if (type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
		const struct rte_ipv4_hdr *ip;
		uint32_t l3;

		if (dlen < l2 + sizeof(*ip))
			return 0;
		ip = (const struct rte_ipv4_hdr *)(p + l2);
		l3 = (uint32_t)(ip->version_ihl & VHOST_IPV4_IHL_MASK) * 4;
		if (l3 < sizeof(*ip) || dlen < l2 + l3)
			return 0;
		m->l3_len = l3;
		m->ol_flags |= RTE_MBUF_F_TX_IPV4;
		proto = ip->next_proto_id;
	} else if (type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6)) {
		const struct rte_ipv6_hdr *ip6;

		if (dlen < l2 + sizeof(*ip6))
			return 0;
		ip6 = (const struct rte_ipv6_hdr *)(p + l2);
		m->l3_len = sizeof(*ip6);
		m->ol_flags |= RTE_MBUF_F_TX_IPV6;
		proto = ip6->proto;
	} else {
		return 0;
	}
	m->l2_len = l2;
	return proto;
}

static void
vhost_offload_legacy(struct vhost_dev *dev, const struct virtio_net_hdr *hdr,
		     struct rte_mbuf *m)
{
	uint32_t dlen = rte_pktmbuf_data_len(m);
	uint8_t proto = vhost_parse_headers(m);
	uint32_t l4_off;

	if (proto == 0)
		goto bad;
	l4_off = m->l2_len + m->l3_len;

	if (hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (hdr->csum_start != l4_off)
			goto bad;
		switch (hdr->csum_offset) {
		case VHOST_TCP_CSUM_OFF:
			if (proto != IPPROTO_TCP)
				goto bad;
			m->ol_flags |= RTE_MBUF_F_TX_TCP_CKSUM;
			break;
		case VHOST_UDP_CSUM_OFF:
			if (proto != IPPROTO_UDP)
				goto bad;
			m->ol_flags |= RTE_MBUF_F_TX_UDP_CKSUM;
			break;
		case VHOST_SCTP_CSUM_OFF:
			if (proto != IPPROTO_SCTP)
				goto bad;
			m->ol_flags |= RTE_MBUF_F_TX_SCTP_CKSUM;
			break;
		default:
			goto bad;
		}
	}

	if (hdr->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		if (hdr->gso_size == 0)
			goto bad;
		switch (hdr->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
		case VIRTIO_NET_HDR_GSO_TCPV4:
		case VIRTIO_NET_HDR_GSO_TCPV6: {
			const struct rte_tcp_hdr *th;
			uint32_t tlen;

			if (proto != IPPROTO_TCP || dlen < l4_off + sizeof(*th))
				goto bad;
			th = rte_pktmbuf_mtod_offset(m, const struct rte_tcp_hdr *, l4_off);
			tlen = (uint32_t)(th->data_off & 0xf0) >> VHOST_TCP_DOFF_SHIFT;
			if (tlen < sizeof(*th))
				goto bad;
			m->ol_flags |= RTE_MBUF_F_TX_TCP_SEG;
			m->tso_segsz = hdr->gso_size;
			m->l4_len = tlen;
			break;
		}
		case VIRTIO_NET_HDR_GSO_UDP:
			if (proto != IPPROTO_UDP)
				goto bad;
			m->ol_flags |= RTE_MBUF_F_TX_UDP_SEG;
			m->tso_segsz = hdr->gso_size;
			m->l4_len = sizeof(struct rte_udp_hdr);
			break;
		default:
			goto bad;
		}
	}
	return;
bad:
	/* Like DPDK: an offload we cannot honour is dropped, not the packet. */
	m->l2_len = 0;
	m->l3_len = 0;
	m->l4_len = 0;
	m->ol_flags = 0;
	RTE_SET_USED(dev);
}

/* Complete the L4 checksum in software (compliant mode, unknown layout). */
static void
vhost_csum_sw(const struct virtio_net_hdr *hdr, struct rte_mbuf *m)
{
	uint32_t start = hdr->csum_start;
	uint32_t pos = start + (uint32_t)hdr->csum_offset;
	uint16_t csum = 0;

	/* CVE-2024-11614: both offsets are the driver's; check them first. */
	if (start >= rte_pktmbuf_pkt_len(m))
		return;
	if (pos + sizeof(uint16_t) > rte_pktmbuf_data_len(m))
		return;
	if (rte_raw_cksum_mbuf(m, start, rte_pktmbuf_pkt_len(m) - start, &csum) < 0)
		return;
	if (csum != 0xffff)
		csum = ~csum;
	/* The field may sit at any offset: store it bytewise. */
	memcpy(rte_pktmbuf_mtod_offset(m, uint8_t *, pos), &csum, sizeof(csum));
}

static void
vhost_offload_compliant(struct vhost_dev *dev, const struct virtio_net_hdr *hdr,
			struct rte_mbuf *m)
{
	struct rte_net_hdr_lens lens = { 0 };
	uint32_t ptype, l4;

	m->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN;
	ptype = rte_net_get_ptype(m, &lens, RTE_PTYPE_ALL_MASK);
	m->packet_type = ptype;
	l4 = ptype & RTE_PTYPE_L4_MASK;

	if (hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		uint32_t hlen = lens.l2_len + lens.l3_len + lens.l4_len;
		bool known = l4 == RTE_PTYPE_L4_TCP || l4 == RTE_PTYPE_L4_UDP ||
			     l4 == RTE_PTYPE_L4_SCTP;

		if (known && hdr->csum_start <= hlen)
			m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_NONE;
		else
			vhost_csum_sw(hdr, m);
	}

	if (hdr->gso_type != VIRTIO_NET_HDR_GSO_NONE && hdr->gso_size != 0) {
		switch (hdr->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
		case VIRTIO_NET_HDR_GSO_TCPV4:
		case VIRTIO_NET_HDR_GSO_TCPV6:
			if (l4 != RTE_PTYPE_L4_TCP)
				return;
			break;
		case VIRTIO_NET_HDR_GSO_UDP:
			if (l4 != RTE_PTYPE_L4_UDP)
				return;
			break;
		default:
			return;
		}
		m->ol_flags |= RTE_MBUF_F_RX_LRO | RTE_MBUF_F_RX_L4_CKSUM_NONE;
		m->tso_segsz = hdr->gso_size;
	}
	RTE_SET_USED(dev);
}

void
vhost_offload_from_hdr(struct vhost_dev *dev, const struct virtio_net_hdr *hdr,
		       struct rte_mbuf *m)
{
	if (likely(hdr->flags == 0 && hdr->gso_type == VIRTIO_NET_HDR_GSO_NONE))
		return;
	if (dev->compliant_ol_flags)
		vhost_offload_compliant(dev, hdr, m);
	else
		vhost_offload_legacy(dev, hdr, m);
}

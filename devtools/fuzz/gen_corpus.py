#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Write the in-tree seed corpora of the fuzz targets that need structure.

    devtools/fuzz/gen_corpus.py            # rewrites devtools/fuzz/corpus/<target>/

fuzz_af_unix (and fuzz_af_unix_toctou, which shares its corpus): each seed is
one front-end session in the record format that fuzz_af_unix.c's header
describes: a handshake as QEMU or virtio-user sends it, the rings and
buffers written into guest memory, data-path records; then variations
(packed rings, IOMMU with IOTLB updates, inflight areas reconfigured,
dirty logging, several queue pairs with ADD_MEM_REG, a truncated memfd,
RESET_OWNER, a cut-off last message).

fuzz_vvu_driver: device register files and rxq messages, in the layout
fuzz_vvu_driver.c's header describes.

The seeds are deterministic; the script is the source of truth, the files
are committed so that a fuzz run needs no Python.
"""

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# vhost-user requests (lib/vhost/vhost_user.h)
GET_FEATURES, SET_FEATURES, SET_OWNER, RESET_OWNER, SET_MEM_TABLE = 1, 2, 3, 4, 5
SET_LOG_BASE, SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE = 6, 8, 9, 10
GET_VRING_BASE, SET_VRING_KICK, SET_VRING_CALL = 11, 12, 13
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM = 15, 16, 17
SET_VRING_ENABLE, SEND_RARP, NET_SET_MTU, SET_BACKEND_REQ_FD, IOTLB_MSG = 18, 19, 20, 21, 22
GET_INFLIGHT_FD, SET_INFLIGHT_FD, GET_MAX_MEM_SLOTS, ADD_MEM_REG = 31, 32, 36, 37
REM_MEM_REG, SET_STATUS, GET_STATUS = 38, 39, 40
NEED_REPLY = 1 << 3
VERSION = 1

# feature bits
F_CSUM, F_GUEST_CSUM, F_GUEST_TSO4, F_HOST_TSO4, F_MRG = 0, 1, 7, 11, 15
F_MQ, F_LOG_ALL, F_INDIRECT, F_EVENT_IDX, F_PROTOCOL = 22, 26, 28, 29, 30
F_VERSION_1, F_IOMMU, F_PACKED = 32, 33, 34
P_MQ, P_LOG_SHMFD, P_RARP, P_REPLY_ACK, P_MTU, P_BACKEND_REQ = 0, 1, 2, 3, 4, 5
P_INFLIGHT, P_MEM_SLOTS, P_STATUS = 12, 15, 16

# fd kinds (fuzz_af_unix.c): 0 guest memfd, 1 fresh memfd of (b >> 2) pages,
# 2 eventfd, 3 socket pair end
FD_GUEST, FD_EVENT, FD_SOCK = 0, 2, 3


def FD_MEMFD(pages):
    return 1 | (pages << 2)


# endpoint bits (byte 0)
EP_EXTBUF, EP_LINEARBUF, EP_IOMMU, EP_COMPLIANT = 1, 2, 4, 8

UADDR = 0x7f0000000000      # the front-end's VA of guest memfd offset 0
IOVA = 0x100000000          # IOVA of guest memfd offset 0 (IOMMU seeds)
RING = 256
Q_BASE = [0x0000, 0x4000, 0x8000, 0xc000]   # per vring: desc, +0x1000, +0x2000
RX_BUF = 0x10000            # 16 x 2 KiB writable buffers per rx vring
TX_BUF = 0x20000            # tx packets


def bits(*b):
    v = 0
    for x in b:
        v |= 1 << x
    return v


class Session:
    def __init__(self, ep=0):
        self.out = bytearray([ep])

    def msg(self, req, payload=b"", fds=(), flags=VERSION, ctrl=0):
        self.out += bytes([0, ctrl | len(fds)])
        self.out += struct.pack("<III", req, flags, len(payload)) + payload
        self.out += bytes(fds)
        return self

    def raw_last(self, req, claimed, sent):
        """A last message claiming `claimed` payload bytes, sending 16*sent."""
        self.out += bytes([0, 0x40]) + struct.pack("<III", req, VERSION, claimed)
        self.out += bytes([sent]) + bytes(16 * sent)
        return self

    def u64(self, req, v, **kw):
        return self.msg(req, struct.pack("<Q", v), **kw)

    def state(self, req, idx, num, **kw):
        return self.msg(req, struct.pack("<II", idx, num), **kw)

    def guest(self, off, data):
        assert off % 4 == 0
        while data:
            chunk, data = data[:252], data[252:]
            self.out += bytes([2]) + struct.pack("<HB", off // 4, len(chunk)) + chunk
            off += len(chunk)
            assert off % 4 == 0 or not data
        return self

    def truncate(self, pages):
        self.out += bytes([0x82, pages])
        return self

    def datapath(self, p=0, i0=0, i1=0):
        self.out += bytes([3, p, i0, i1])
        return self

    # -- composite steps --
    def handshake(self, features, proto):
        self.msg(GET_FEATURES).msg(SET_OWNER).msg(GET_PROTOCOL_FEATURES)
        self.u64(SET_PROTOCOL_FEATURES, proto)
        if proto & bits(P_MQ):
            self.msg(GET_QUEUE_NUM)
        return self.u64(SET_FEATURES, features)

    def mem_table(self, size=0x40000, base=UADDR):
        region = struct.pack("<QQQQ", 0, size, base, 0)
        return self.msg(SET_MEM_TABLE, struct.pack("<II", 1, 0) + region, fds=[FD_GUEST])

    def vring(self, q, num=RING, base=0, addr_base=UADDR, enable=True, log=False,
              packed=False):
        b = Q_BASE[q]
        self.state(SET_VRING_NUM, q, num)
        self.state(SET_VRING_BASE, q, base | ((1 << 15) if packed else 0))
        self.msg(SET_VRING_ADDR, struct.pack("<IIQQQQ", q, 1 if log else 0,
                                             addr_base + b, addr_base + b + 0x2000,
                                             addr_base + b + 0x1000, b + 0x2000))
        self.u64(SET_VRING_KICK, q, fds=[FD_EVENT])
        self.u64(SET_VRING_CALL, q, fds=[FD_EVENT])
        if enable:
            self.state(SET_VRING_ENABLE, q, 1)
        return self


def net_hdr(num_buffers=1, flags=0, gso=0):
    return struct.pack("<BBHHHHH", flags, gso, 0, 0, 0, 0, num_buffers)


def frame(n):
    eth = bytes.fromhex("ffffffffffff020000000001") + b"\x08\x00"
    return eth + bytes((i * 7) & 0xff for i in range(n - len(eth)))


def split_rx(s, q, n=16, chained=False, dma=0):
    """n writable 2 KiB buffers on rx vring q, all available."""
    b = Q_BASE[q]
    desc, ring = b"", b""
    for i in range(n):
        if chained and i % 2 == 0 and i + 1 < n:
            desc += struct.pack("<QIHH", dma + RX_BUF + q * 0x8000 + i * 0x800, 0x800, 3,
                                i + 1)
        else:
            desc += struct.pack("<QIHH", dma + RX_BUF + q * 0x8000 + i * 0x800, 0x800, 2, 0)
        if not chained or i % 2 == 0:
            ring += struct.pack("<H", i)
    s.guest(b, desc)
    s.guest(b + 0x1000, struct.pack("<HH", 0, len(ring) // 2) + ring)


def split_tx(s, q, sizes, indirect=False, dma=0):
    """One packet per size on tx vring q (header + frame in one buffer)."""
    b = Q_BASE[q]
    desc, ring, off = b"", b"", TX_BUF
    for i, n in enumerate(sizes):
        pkt = net_hdr() + frame(n)
        s.guest(off, pkt + bytes(-len(pkt) % 4))
        if indirect:
            table = off + ((len(pkt) + 0xff) & ~0xff)
            # header and frame in two indirect descriptors
            s.guest(table, struct.pack("<QIHHQIHH", dma + off, 12, 1, 1, dma + off + 12, n,
                                       0, 0))
            desc += struct.pack("<QIHH", dma + table, 32, 4, 0)
            off = table + 0x100
        else:
            desc += struct.pack("<QIHH", dma + off, len(pkt), 0, 0)
            off += (len(pkt) + 0xff) & ~0xff
        ring += struct.pack("<H", i)
    s.guest(b, desc)
    s.guest(b + 0x1000, struct.pack("<HH", 0, len(sizes)) + ring)


def packed_rx(s, q, n=16, dma=0):
    b = Q_BASE[q]
    desc = b""
    for i in range(n):
        # AVAIL set, USED clear: available in the first lap (wrap counter 1)
        desc += struct.pack("<QIHH", dma + RX_BUF + q * 0x8000 + i * 0x800, 0x800, i,
                            (1 << 7) | 2)
    s.guest(b, desc)


def packed_tx(s, q, sizes, dma=0):
    b = Q_BASE[q]
    desc, off = b"", TX_BUF
    for i, n in enumerate(sizes):
        pkt = net_hdr() + frame(n)
        s.guest(off, pkt + bytes(-len(pkt) % 4))
        desc += struct.pack("<QIHH", dma + off, len(pkt), i, 1 << 7)
        off += (len(pkt) + 0xff) & ~0xff
    s.guest(b, desc)


BASE_F = bits(F_VERSION_1, F_PROTOCOL, F_MRG, F_CSUM, F_GUEST_CSUM, F_HOST_TSO4,
              F_GUEST_TSO4)
BASE_P = bits(P_REPLY_ACK, P_MQ, P_BACKEND_REQ)


def af_unix_seeds():
    seeds = {}

    s = Session(0).handshake(BASE_F | bits(F_EVENT_IDX), BASE_P).mem_table()
    s.vring(0).vring(1)
    split_rx(s, 0)
    split_tx(s, 1, [60, 1500, 200])
    s.datapath(0x00).datapath(0x05)
    s.state(GET_VRING_BASE, 0, 0).state(GET_VRING_BASE, 1, 0)
    seeds["split_mrg"] = s

    s = Session(EP_EXTBUF).handshake(
        bits(F_VERSION_1, F_PROTOCOL, F_INDIRECT, F_HOST_TSO4, F_CSUM), BASE_P)
    s.mem_table().vring(0).vring(1)
    split_rx(s, 0, chained=True)
    split_tx(s, 1, [60, 3000, 9000], indirect=True)
    s.datapath(0x0a)
    seeds["split_indirect_extbuf"] = s

    # without EXTBUF, LINEARBUF takes away the host TSO features
    s = Session(EP_LINEARBUF).handshake(BASE_F & ~bits(F_HOST_TSO4), BASE_P).mem_table()
    s.vring(0).vring(1)
    split_rx(s, 0)
    split_tx(s, 1, [60, 3000, 9000])
    s.datapath(0x01)
    seeds["split_linearbuf"] = s

    s = Session(EP_EXTBUF | EP_LINEARBUF | EP_COMPLIANT).handshake(
        BASE_F | bits(F_PACKED), BASE_P).mem_table()
    s.vring(0, packed=True).vring(1, packed=True)
    packed_rx(s, 0)
    packed_tx(s, 1, [60, 1500, 5000])
    s.datapath(0x02).datapath(0x03)
    seeds["packed_extbuf_linearbuf"] = s

    s = Session(EP_IOMMU).handshake(BASE_F | bits(F_IOMMU), BASE_P).mem_table()
    s.msg(SET_BACKEND_REQ_FD, fds=[FD_SOCK])
    for off in (0x0000, 0x10000, 0x20000):
        s.msg(IOTLB_MSG, struct.pack("<QQQBBxxxxxx", IOVA + off, 0x10000, UADDR + off, 3, 2))
    s.vring(0, addr_base=IOVA).vring(1, addr_base=IOVA)
    split_rx(s, 0, dma=IOVA)
    split_tx(s, 1, [60, 1500], dma=IOVA)
    s.datapath(0x00)
    # invalidate the buffers' IOTLB entry: the data path must miss, not fault
    s.msg(IOTLB_MSG, struct.pack("<QQQBBxxxxxx", IOVA + 0x20000, 0x10000, 0, 0, 3))
    s.datapath(0x05)
    seeds["iommu_iotlb"] = s

    s = Session(EP_IOMMU).handshake(BASE_F | bits(F_IOMMU, F_PACKED), BASE_P).mem_table()
    for off in (0x0000, 0x10000, 0x20000):
        s.msg(IOTLB_MSG, struct.pack("<QQQBBxxxxxx", IOVA + off, 0x10000, UADDR + off, 3, 2))
    s.vring(0, addr_base=IOVA, packed=True).vring(1, addr_base=IOVA, packed=True)
    packed_rx(s, 0, dma=IOVA)
    packed_tx(s, 1, [60, 1500], dma=IOVA)
    s.datapath(0x00)
    seeds["iommu_packed"] = s

    # Inflight area for small split rings, then a bigger ring and packed (defect 1).
    s = Session(0).handshake(BASE_F, BASE_P | bits(P_INFLIGHT)).mem_table()
    s.msg(GET_INFLIGHT_FD, struct.pack("<QQHHxxxx", 0, 0, 2, 64))
    s.msg(SET_INFLIGHT_FD, struct.pack("<QQHHxxxx", 2 * 4096, 0, 2, 64),
          fds=[FD_MEMFD(2)])
    s.vring(0, num=64).vring(1, num=64)
    split_rx(s, 0)
    split_tx(s, 1, [60])
    s.datapath(0x00, 5, 63)
    s.state(SET_VRING_NUM, 0, 256).state(SET_VRING_NUM, 1, 1024)
    s.datapath(0x00, 200, 255)
    seeds["inflight_reconfigure"] = s

    s = Session(0).handshake(BASE_F, BASE_P | bits(P_INFLIGHT)).mem_table()
    s.msg(SET_INFLIGHT_FD, struct.pack("<QQHHxxxx", 2 * 4096, 0, 2, 64),
          fds=[FD_MEMFD(2)])
    s.vring(0, num=64, enable=False).vring(1, num=64, enable=False)
    s.u64(SET_FEATURES, BASE_F | bits(F_PACKED))
    s.vring(0, num=64, packed=True).vring(1, num=64, packed=True)
    s.datapath(0x00, 10, 20)
    seeds["inflight_to_packed"] = s

    s = Session(EP_COMPLIANT).handshake(BASE_F | bits(F_LOG_ALL), BASE_P | bits(P_LOG_SHMFD))
    s.mem_table()
    s.msg(SET_LOG_BASE, struct.pack("<QQ", 4096, 0), fds=[FD_MEMFD(1)])
    s.vring(0, log=True).vring(1, log=True)
    split_rx(s, 0)
    split_tx(s, 1, [60, 1500])
    s.datapath(0x04, 1, 64)
    seeds["dirty_log"] = s

    s = Session(0).handshake(BASE_F | bits(F_MQ), BASE_P | bits(P_MEM_SLOTS, P_STATUS))
    s.msg(GET_MAX_MEM_SLOTS)
    s.msg(ADD_MEM_REG, struct.pack("<QQQQQ", 0, 0, 0x20000, UADDR, 0), fds=[FD_GUEST])
    s.msg(ADD_MEM_REG, struct.pack("<QQQQQ", 0, 0x20000, 0x20000, UADDR + 0x20000, 0x20000),
          fds=[FD_GUEST])
    for q in range(4):
        s.vring(q)
    split_rx(s, 0)
    split_tx(s, 1, [60])
    split_rx(s, 2)
    split_tx(s, 3, [100])
    s.u64(SET_STATUS, 0xf).msg(GET_STATUS)
    s.datapath(0x00)
    s.msg(REM_MEM_REG, struct.pack("<QQQQQ", 0, 0x20000, 0x20000, UADDR + 0x20000, 0x20000))
    s.datapath(0x01)
    seeds["mq_mem_slots_status"] = s

    s = Session(0).handshake(BASE_F, BASE_P).mem_table().vring(0).vring(1)
    split_rx(s, 0)
    split_tx(s, 1, [60, 1500])
    s.datapath(0x00)
    s.truncate(0).datapath(0x01).datapath(0x02)
    seeds["truncated_memory"] = s

    s = Session(0).handshake(BASE_F, BASE_P | bits(P_RARP, P_MTU)).mem_table()
    s.vring(0).vring(1)
    s.u64(NET_SET_MTU, 1500, flags=VERSION | NEED_REPLY)
    s.msg(SEND_RARP, bytes.fromhex("020000000002") + b"\0\0")
    split_tx(s, 1, [60])
    s.datapath(0x00)
    s.msg(RESET_OWNER).datapath(0x00)
    s.handshake(BASE_F, BASE_P).mem_table().vring(0).vring(1).datapath(0x01)
    seeds["rarp_mtu_reset"] = s

    s = Session(0).handshake(BASE_F, BASE_P).mem_table()
    s.raw_last(SET_VRING_NUM, 8, 0)
    seeds["cut_off_message"] = s

    s = Session(0).handshake(BASE_F, BASE_P).mem_table().vring(0).vring(1)
    # the payload claims 8 bytes, 32 arrive: the rest must not be a message
    s.raw_last(SET_VRING_BASE, 8, 2)
    seeds["overlong_message"] = s
    return {k: bytes(v.out) for k, v in seeds.items()}


def vvu_msg(req, payload=b"", flags=VERSION):
    return struct.pack("<III", req, flags, len(payload)) + payload


def vvu_driver_seeds():
    """fuzz_vvu_driver.c: device header, config patches, register script,
    16 bytes of driver call parameters, ring records."""
    def dev(opt=0, bar0=0, bar2_mib=1024, patches=(), script=b"", params=bytes(16)):
        out = bytes([opt, bar0]) + struct.pack("<H", bar2_mib)
        out += bytes([len(patches)]) + b"".join(bytes(p) for p in patches)
        return out + bytes([len(script)]) + script + params

    def rx(msg, mode=0, claim=None, id_=None):
        out = bytes([0, mode | (0x80 if id_ is not None else 0)])
        out += struct.pack("<HH", len(msg), len(msg) if claim is None else claim)
        if id_ is not None:
            out += struct.pack("<H", id_)
        return out + msg

    def tx(*done):
        """Complete len(done) txq entries: None honestly, (id, len) as a lie."""
        out = bytes([1, len(done)])
        for d in done:
            out += b"\0" if d is None else b"\x80" + struct.pack("<HH", *d)
        return out

    feats = bits(F_VERSION_1, F_PROTOCOL, F_MRG)
    region = struct.pack("<QQQQ", 0, 0x10000, UADDR, 0)
    session = [vvu_msg(GET_FEATURES), vvu_msg(SET_OWNER), vvu_msg(GET_PROTOCOL_FEATURES),
               vvu_msg(SET_PROTOCOL_FEATURES, struct.pack("<Q", bits(P_REPLY_ACK, P_MQ))),
               vvu_msg(SET_FEATURES, struct.pack("<Q", feats)),
               vvu_msg(SET_MEM_TABLE, struct.pack("<II", 1, 0) + region)]
    for q in range(2):
        session += [vvu_msg(SET_VRING_NUM, struct.pack("<II", q, 256)),
                    vvu_msg(SET_VRING_ADDR, struct.pack("<IIQQQQ", q, 0, UADDR + Q_BASE[q],
                                                        UADDR + Q_BASE[q] + 0x2000,
                                                        UADDR + Q_BASE[q] + 0x1000, 0)),
                    vvu_msg(SET_VRING_KICK, struct.pack("<Q", q | 0x100)),
                    vvu_msg(SET_VRING_CALL, struct.pack("<Q", q | 0x100)),
                    vvu_msg(SET_VRING_ENABLE, struct.pack("<II", q, 1))]
    # the device completes each reply's txq buffer (ids in push order)
    good = dev()
    for m in session:
        good += rx(m)
        if struct.unpack_from("<I", m)[0] in (GET_FEATURES, GET_PROTOCOL_FEATURES):
            good += tx(None)
    seeds = {"session": good}
    # used ids and lengths the device lies about, and a used index far ahead
    seeds["hostile_used"] = dev() + rx(session[0], id_=300) + rx(session[0], 0x40, 5000) + \
        bytes([2, 2]) + struct.pack("<H", 0x8000) + rx(session[1]) + tx((77, 0), (0, 9999))
    seeds["hostile_tx"] = dev() + rx(session[0]) + tx(None, (0, 5000), (200, 0)) + \
        rx(session[2]) + tx((0, 0))
    # a message that does not frame one vhost-user message
    seeds["bad_framing"] = dev() + rx(vvu_msg(SET_FEATURES, b"\0" * 8)[:15]) + rx(session[0])
    # the device answers register reads itself: queue sizes, features, status
    script = bytes([0, 0x80, 0xff, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x00,
                    0x80, 0xff, 0x7f, 0x80, 0x03, 0x00, 0x80, 0x00])
    seeds["hostile_registers"] = dev(script=script) + rx(session[0])
    # capabilities that point past their BAR, a BAR0 smaller than they say
    seeds["hostile_caps"] = dev(bar0=0x81, patches=[(0x58, 0xff), (0x59, 0xff), (0x5a, 0xff),
                                                    (0xb6, 0x10)]) + rx(session[0])
    seeds["cap_loop"] = dev(patches=[(0xb5, 0x4c)]) + rx(session[0])
    seeds["driver_params"] = dev(params=struct.pack("<HHHHHHBHB", 1, 0, 0xffff, 0xffff, 513,
                                                    0xfff0, 20, 0x10, 30)) + rx(session[0])
    return seeds


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    for name, data in sorted(seeds.items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print(f"{d}: {len(seeds)} seeds, largest {max(map(len, seeds.values()))} bytes")


def main():
    write("fuzz_af_unix", af_unix_seeds())
    write("fuzz_vvu_driver", vvu_driver_seeds())
    return 0


if __name__ == "__main__":
    sys.exit(main())

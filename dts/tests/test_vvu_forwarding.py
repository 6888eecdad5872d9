# SPDX-License-Identifier: BSD-3-Clause
"""Forwarding through dpdk-vvu-device, counted exactly.

Topology (framework/vvu.py): front-end net_virtio_user (Debian) <-vhost-user->
dpdk-vvu-device <-vfio-user-> back-end net_vhost0,iface=vfio-user:SOCK on our
librte_vhost.so.23 (the VVU driver). The back-end polls the front-end's rings
and buffers in the device's BAR2 windows.

Test plan
  1. test_exact_counts_both_directions[ring-len-queues]: split/packed ring,
     64/1518-byte packets, 1/2 queue pairs; the device is the vhost-user
     server (its default): the front-end sends N, the back-end receives N and
     forwards N, the front-end receives N (bytes too, N / queues on every
     queue including the library's vring stats). Counting: framework/traffic.py.
  2. test_exact_counts_mrg_off: the same with mergeable rx buffers off (1518 B
     then fills one descriptor per packet).
  3. test_exact_counts_device_client_mode: the device connects (--client) to a
     server=1 front-end; exact counts both lengths.
  4. test_backend_maps_our_library_and_front_end_memory: /proc/PID/maps of the
     back-end holds our library only, and the front-end's memory shows up
     there as BAR2 windows (the zero-copy path really is shared memory).
"""

import pytest

from framework.traffic import send_and_count
from framework.vvu import vvu, connect  # noqa: F401 (vvu is a fixture)

RINGS = ["split", "packed"]
LENGTHS = [64, 1518]
QUEUES = [1, 2]


def assert_exact(counts, pkt_len):
    assert counts.exact, counts.summary()
    assert counts.byte_counts_match(pkt_len), (
        f"byte counters differ from {counts.expected} x {pkt_len}: {counts.summary()} "
        f"bytes fe tx {counts.frontend.tx_bytes} be rx {counts.backend.rx_bytes} "
        f"be tx {counts.backend.tx_bytes} fe rx {counts.frontend.rx_bytes}")
    bad = counts.queue_mismatches()
    assert not bad, "per-queue counts: " + "; ".join(bad)


def mapped_files(pid, substring=""):
    """{(dev, inode): name} of the files mapped by pid (names containing substring)."""
    out = {}
    with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as f:
        for line in f:
            fields = line.split(None, 5)
            if len(fields) == 6 and fields[4] != "0" and substring in fields[5]:
                out[(fields[3], fields[4])] = fields[5].strip()
    return out


def check_library(vvu, be):
    mapped = be.mapped_vhost_libraries()
    assert mapped == {vvu.lib.path}, f"back-end maps {sorted(mapped)}, not {vvu.lib.path}"


@pytest.mark.parametrize("queues", QUEUES, ids=lambda q: f"{q}q")
@pytest.mark.parametrize("pkt_len", LENGTHS, ids=lambda n: f"{n}B")
@pytest.mark.parametrize("ring", RINGS)
def test_exact_counts_both_directions(vvu, ring, pkt_len, queues):
    _, fe, be = connect(vvu, queues=queues, packed=ring == "packed", client=False,
                        order="dbf")
    check_library(vvu, be)
    assert_exact(send_and_count(fe, be, pkt_len, queues=queues), pkt_len)


def test_exact_counts_mrg_off(vvu):
    _, fe, be = connect(vvu, mrg_rxbuf=False, client=False, order="dbf")
    for pkt_len in LENGTHS:
        assert_exact(send_and_count(fe, be, pkt_len), pkt_len)


def test_exact_counts_device_client_mode(vvu):
    _, fe, be = connect(vvu, client=True, order="dbf")
    for pkt_len in LENGTHS:
        assert_exact(send_and_count(fe, be, pkt_len), pkt_len)


def test_backend_maps_our_library_and_front_end_memory(vvu):
    _, fe, be = connect(vvu, client=False, order="dbf")
    check_library(vvu, be)
    # The front-end's hugepage memory (its memfd, --in-memory) is mapped in
    # the back-end too, through the device's BAR2 windows: the same files,
    # by (device, inode), not by name (both processes name theirs alike).
    fe_files = mapped_files(fe.pid, "memfd:")
    be_files = mapped_files(be.pid)
    assert fe_files, "front-end maps no memfd (not --in-memory?)"
    assert set(fe_files) & set(be_files), (
        f"none of the front-end's memory files {sorted(fe_files.values())} is mapped in "
        "the back-end")
    assert_exact(send_and_count(fe, be, 64), 64)

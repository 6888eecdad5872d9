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

from framework.proc import mapped_files
from framework.traffic import assert_counts_exact
from framework.vvu import connect

RINGS = ["split", "packed"]
LENGTHS = [64, 1518]
QUEUES = [1, 2]


@pytest.mark.parametrize("queues", QUEUES, ids=lambda q: f"{q}q")
@pytest.mark.parametrize("pkt_len", LENGTHS, ids=lambda n: f"{n}B")
@pytest.mark.parametrize("ring", RINGS)
def test_exact_counts_both_directions(vvu, ring, pkt_len, queues):
    _, fe, be = connect(vvu, queues=queues, packed=ring == "packed", client=False)
    be.check_vhost_library(vvu.lib)
    assert_counts_exact(fe, be, (pkt_len,), queues)


def test_exact_counts_mrg_off(vvu):
    _, fe, be = connect(vvu, mrg_rxbuf=False, client=False)
    assert_counts_exact(fe, be, LENGTHS)


def test_exact_counts_device_client_mode(vvu):
    _, fe, be = connect(vvu, client=True)
    assert_counts_exact(fe, be, LENGTHS)


def test_backend_maps_our_library_and_front_end_memory(vvu):
    _, fe, be = connect(vvu, client=False)
    be.check_vhost_library(vvu.lib)
    # The front-end's hugepage memory (its memfd, --in-memory) is mapped in
    # the back-end too, through the device's BAR2 windows: the same files,
    # by (device, inode), not by name (both processes name theirs alike).
    fe_files = mapped_files(fe.pid, "memfd:")
    be_files = mapped_files(be.pid)
    assert fe_files, "front-end maps no memfd (not --in-memory?)"
    assert set(fe_files) & set(be_files), (
        f"none of the front-end's memory files {sorted(fe_files.values())} is mapped in "
        "the back-end")
    assert_counts_exact(fe, be)

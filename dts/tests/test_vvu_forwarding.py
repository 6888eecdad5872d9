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
  5. test_device_telemetry_counts_sessions_and_messages: Debian's
     dpdk-telemetry.py on the device's socket (--file-prefix) while exact
     counts pass: /vvu/info names the sockets and the state; /vvu/stats
     counts one driver, one front-end session, every front-end request
     relayed to the driver (messages and bytes), every driver message a
     reply delivered, no error; /vvu/requests adds up to the requests and
     has one SET_OWNER, one SET_MEM_TABLE, two SET_VRING_KICK and CALL per
     session (virtio_user, 1 queue pair). The
     packets themselves never pass through the device (shared memory): its
     counters do not move with them. The front-end quits and a new one
     comes: two sessions, one ended, exact counts again, and every request
     either relayed or counted as dropped with its session.
"""

import os

import pytest

from framework import telemetry
from framework.proc import mapped_files
from framework.testpmd import wait_links
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


def check_device_counters(dev, vvu, sessions, ended):
    """/vvu/info, /vvu/stats and /vvu/requests of a device that served
    sessions front-end sessions (ended of them over) for one driver, with no
    error; returns the stats."""
    info, stats, reqs = dev.telemetry("/vvu/info", "/vvu/stats", "/vvu/requests")
    assert info["state"] == "frontend-connected", info
    assert (info["vfio_user_socket"], info["vhost_user_socket"]) == (vvu.vfu_sock, vvu.fe_sock)
    assert info["vhost_user_mode"] == "client" and info["queues"] == 256, info
    assert (info["driver_connected"], info["frontend_connected"]) == (1, 1), info
    assert info["bar2_windows"] >= 1, info
    want = {"frontend_connects": sessions, "frontend_disconnects": ended,
            "driver_connects": 1, "driver_disconnects": 0, "frontend_errors": 0,
            "needs_reset": 0, "dma_faults": 0, "backend_requests_dropped": 0}
    assert {k: stats[k] for k in want} == want, stats
    # Every request the device took went to the driver, or died with the
    # session it was waiting in; every message back was a delivered reply.
    assert stats["frontend_msgs"] > 0, stats
    assert stats["frontend_msgs"] == stats["rxq_msgs"] + stats["frontend_msgs_dropped"], stats
    if stats["frontend_msgs_dropped"] == 0:
        assert stats["frontend_bytes"] == stats["rxq_bytes"], stats
    assert stats["txq_msgs"] == stats["frontend_replies"] + stats["frontend_replies_dropped"], \
        stats
    assert stats["frontend_replies"] > 0, stats
    assert sum(reqs.values()) == stats["frontend_msgs"], (reqs, stats)
    # per session: one owner, one memory table, a kick and a call eventfd
    # for each of the 2 vrings (1 queue pair)
    per_session = {"SET_OWNER": 1, "SET_MEM_TABLE": 1, "SET_VRING_KICK": 2,
                   "SET_VRING_CALL": 2}
    assert {k: reqs[k] for k in per_session} == {k: n * sessions
                                                 for k, n in per_session.items()}, reqs
    return stats


def test_device_telemetry_counts_sessions_and_messages(vvu):
    telemetry.require()
    dev, fe, be = connect(vvu, client=True)
    assert_counts_exact(fe, be)
    first = check_device_counters(dev, vvu, sessions=1, ended=0)
    # The packets are not the device's: another exact round moves no counter.
    assert_counts_exact(fe, be)
    again = dev.telemetry("/vvu/stats")[0]
    assert {k: again[k] for k in first if k not in ("kicks", "doorbells", "interrupts")} == \
        {k: first[k] for k in first if k not in ("kicks", "doorbells", "interrupts")}, \
        (first, again)

    fe.stop()
    be.wait_link(up=False, timeout=60)
    # a server=1 virtio_user that quit leaves its socket file: as an
    # orchestrator would, remove it before the next one binds
    if os.path.exists(vvu.fe_sock):
        os.unlink(vvu.fe_sock)
    fe = vvu.frontend(name="frontend2", server=True)
    fe.spawn()
    fe.wait_ready(60)
    wait_links((be, fe), timeout=60)
    assert_counts_exact(fe, be)
    check_device_counters(dev, vvu, sessions=2, ended=1)

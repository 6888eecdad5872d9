# SPDX-License-Identifier: BSD-3-Clause
"""Hostile front-ends against real consumers of the library (issue 10, item 6).

One test per defect that issue 10 fixed, each through an unmodified consumer
on the librte_vhost.so.23 under test (VHOST_LIB_DIR), next to a well-behaved
peer where the defect would have hurt one. The hostile side is
dpdk-hostile-frontend (app/test/hostile_frontend, -Dtests=true); see
framework/hostile.py.

Topology of 1 and 2 (one AF_UNIX socket each, in a private temp dir):

    front-end A: Debian dpdk-testpmd, net_virtio_user0 (Debian's libraries),
                 rxonly, sends with "start tx_first"     --  a.sock
    front-end B: dpdk-hostile-frontend                   --  b.sock
    back-end:    Debian dpdk-testpmd, net_vhost0 (a.sock) = port 0 and
                 net_vhost1 (b.sock) = port 1, LD_LIBRARY_PATH -> the library
                 under test, io forwarding, --port-topology=loop (each port
                 forwards back to itself, so port 0's counts stay exact)

Test plan
  1. test_truncating_frontend_costs_only_its_port: A forwards (exact counts);
     B hands over its memory (a memfd), gets its rings used (the back-end
     receives exactly its 32 packets and forwards them back), then
     ftruncate()s the memfd to 0. The back-end keeps running (before the fix
     it died of SIGBUS), logs that it contained the fault and closes B's
     connection (port 1 down), and port 0 still forwards with exact counts.
  2. test_slow_reader_does_not_stall_other_connections: B pipelines
     GET_FEATURES and never reads a reply. A's connect -> link up (the
     back-end's "new connection" log line of a.sock to its "Port 0: link
     state change event", both time-stamped as read) stays under
     SLOW_READER_BOUND_MS: the median of SLOW_READER_SAMPLES front-end starts
     (this 2-CPU machine is shared: one sample can lose a scheduling slice).
     Before the fix each of B's replies blocked the one control thread (for
     up to a second, then B was dropped and came back), A took ~1 s. B is
     not dropped either: it only costs itself.
  3. test_vhost_blk_inflight_reconfiguration_refused[split_enlarged|
     packed_switched]: DPDK's examples/vhost_blk (dpdk-doc sources, built
     against Debian's headers, run on the library under test). First a
     well-behaved blk front-end (the control): its read request completes.
     Then a hostile one sets up the inflight area (GET/SET_INFLIGHT_FD) for
     a split ring, wires its ring to it (kick), then enlarges the ring from
     8 to 32768 (split_enlarged) or switches to packed rings with SET_FEATURES
     (packed_switched) before enabling it and posting a request.
     vhost_blk must stay alive, the library must log that the slice no longer
     fits and stop the vring, and vhost_blk must never start the device
     (after SET_VRING_NUM the library also closes the connection; after
     SET_FEATURES it keeps it, the vring stopped).
     Before the fix vhost_blk started it and its inflight calls wrote ~512 KiB
     past the slice (SIGSEGV).

Each test fails on the library of the commit before its fix (doc/guides/
testing.rst says how that was checked) and on Debian's own library, which
has the same defects: with VHOST_LIB_DIR=debian they are strict xfails.
"""

import os
import re
import signal
import statistics
import time

import pytest

from framework import testpmd as tp
from framework.hostile import Hostile, HostileError, VhostBlk
from framework.proc import Started
from framework.traffic import assert_counts_exact

# What the hostile truncate front-end sends (app/test/hostile_frontend).
HOSTILE_TX = 32
SLOW_READER_BOUND_MS = 20
SLOW_READER_SAMPLES = 3
# How long the slow reader keeps up the pressure (it is stopped before), and
# over how many connections: with one, a back-end that blocks on it (then drops
# it) still has moments of rest between a drop and the next full socket.
SLOW_READER_SECS = 120
SLOW_READER_CONNS = 4
# A front-end's start (EAL, its handshake): 90 s is framework/testpmd.py's;
# a back-end stalled by a slow reader must not take that long to fail.
FRONTEND_START_S = 30
# A fault, a crash or a refusal shows within this.
VERDICT_S = 10


@pytest.fixture(autouse=True)
def debian_has_the_defects(request, vhost_lib):
    """Debian's 22.11 library has every defect tested here (issue 10): on it
    (VHOST_LIB_DIR=debian) each test must fail, and passing is an error."""
    if vhost_lib.name == "debian":
        request.applymarker(pytest.mark.xfail(
            strict=True, reason="the defect is in Debian's librte_vhost.so.23 (issue 10)"))


@pytest.fixture
def peers(request, topo):
    """Sockets a.sock and b.sock next to topo's, and a list of processes that
    are ended by pid at the end of the test (killed if it failed)."""
    sock_dir = os.path.dirname(topo.sock)
    # Ended last started first: front-ends first, so that the back-end sees them go.
    with Started(request, a=os.path.join(sock_dir, "a.sock"),
                 b=os.path.join(sock_dir, "b.sock"), dir=sock_dir) as peers:
        yield peers


def two_port_backend(topo, peers):
    """net_vhost0 on a.sock (port 0), net_vhost1 on b.sock (port 1), each port
    forwarding back to itself."""
    # Ports are numbered in --vdev order, and TestPmd puts extra_eal first.
    return peers.add(tp.TestPmd(
        "backend", f"net_vhost1,iface={peers.b},queues=1", 0, topo.logs,
        lib_dir=topo.lib.dir, forward_mode="io",
        extra_eal=("--vdev", f"net_vhost0,iface={peers.a},queues=1"),
        extra_app=("--port-topology=loop",)))


def died(p):
    """A message for a process that is gone: its exit code or signal."""
    rc = p.exit_code
    how = f"signal {signal.Signals(-rc).name}" if rc is not None and rc < 0 else f"exit {rc}"
    return f"{p.name} died ({how}); last lines:\n{p.tail(15)}"


def wait_alive_for(p, pattern, since, timeout=VERDICT_S):
    """Wait for pattern in testpmd p's output while checking that p lives."""
    deadline = time.monotonic() + timeout
    rx = re.compile(pattern)
    while time.monotonic() < deadline:
        assert p.alive(), died(p)
        m = rx.search(p.output, since)
        if m:
            return m
        time.sleep(0.05)
    assert p.alive(), died(p)
    pytest.fail(f"{p.name}: no {pattern!r} within {timeout}s; last lines:\n{p.tail(20)}")


# ----- 1. truncation ---------------------------------------------------------

def test_truncating_frontend_costs_only_its_port(topo, peers):
    be = two_port_backend(topo, peers)
    be.start()
    be.check_vhost_library(topo.lib)
    be.start_forwarding()
    fe = peers.add(tp.frontend(topo.logs, peers.a))
    fe.start()
    tp.wait_links((be, fe))
    assert_counts_exact(fe, be)

    b1 = be.stats(1)
    hostile = peers.add(Hostile(topo.logs, "truncate", peers.b)).start()
    hostile.wait_step(r"waiting for SIGUSR1")
    got = be.stats(1) - b1
    assert (got.rx_packets, got.tx_packets) == (HOSTILE_TX, HOSTILE_TX), (
        f"port 1 should have received and forwarded back exactly the hostile front-end's "
        f"{HOSTILE_TX} packets: {got}")

    mark = be.mark()
    hostile.signal(signal.SIGUSR1)
    hostile.wait_step(r"memory truncated")
    wait_alive_for(be, r"shrank memory it shared \(SIGBUS contained\)", mark)
    wait_alive_for(be, r"Port 1: link state change event", mark)
    assert not be.link_up(port=1), "port 1 still up after its front-end truncated its memory"
    assert hostile.wait_exit(VERDICT_S) == 0, (
        f"the hostile front-end's connection was not closed:\n{hostile.tail()}")

    # The other port did not notice.
    assert be.link_up(port=0)
    assert_counts_exact(fe, be, (64, 1518))
    assert be.alive(), died(be)


# ----- 2. slow reader --------------------------------------------------------

def connect_to_link_up_ms(topo, peers, be, name):
    """Start a front-end on a.sock; the back-end's time from accepting its
    connection to port 0's link-up event, in ms. Quits it again (port 0 down)."""
    mark = be.mark()
    fe = peers.add(tp.frontend(topo.logs, peers.a, name=name))
    fe.start(FRONTEND_START_S)
    m0 = be.wait_for(rf"VHOST_CONFIG: \({re.escape(peers.a)}\) new (vhost user )?connection",
                     30, since=mark, what="a.sock's new connection")
    m1 = be.wait_for(r"Port 0: link state change event", 30, since=m0.end(),
                     what="port 0's link up")
    ms = (be.time_at(m1.start()) - be.time_at(m0.start())) * 1000
    down = be.mark()
    fe.quit()
    be.wait_for(r"Port 0: link state change event", 30, since=down, what="port 0's link down")
    return ms


def test_slow_reader_does_not_stall_other_connections(topo, peers):
    be = two_port_backend(topo, peers)
    be.start()
    be.check_vhost_library(topo.lib)
    alone = connect_to_link_up_ms(topo, peers, be, "frontend0")

    hostile = peers.add(Hostile(topo.logs, "slow-reader", peers.b, SLOW_READER_SECS,
                                SLOW_READER_CONNS)).start()
    hostile.wait_step(rf"connection {SLOW_READER_CONNS - 1}: pipelined \d+ GET_FEATURES, "
                      r"read no reply; socket full")
    samples = [connect_to_link_up_ms(topo, peers, be, f"frontend{i + 1}")
               for i in range(SLOW_READER_SAMPLES)]
    median = statistics.median(samples)
    print(f"connect -> link up: alone {alone:.1f} ms; next to the slow reader "
          f"{', '.join(f'{s:.1f}' for s in samples)} ms (median {median:.1f})")
    assert median < SLOW_READER_BOUND_MS, (
        f"a front-end's connect -> link up took {median:.1f} ms (median of {samples}) next "
        f"to a slow reader, {alone:.1f} ms alone; bound {SLOW_READER_BOUND_MS} ms")
    assert hostile.alive(), f"the slow reader exited:\n{hostile.tail()}"
    assert "dropped by the back-end" not in hostile.output, (
        f"the slow reader was dropped, it should only have cost itself:\n{hostile.tail()}")
    assert be.alive(), died(be)


# ----- 3. inflight reconfiguration through examples/vhost_blk --------------

# variant: (hostile mode, what the library logs when it stops the vring)
BLK_VARIANTS = {
    "split_enlarged": ("blk-enlarge", r"vring 0: a split ring of 32768 no longer fits its "
                                      r"split inflight slice of 8: vring stopped"),
    "packed_switched": ("blk-packed", r"vring 0: a packed ring of 32768 no longer fits its "
                                      r"split inflight slice of 32768: vring stopped"),
}


@pytest.mark.parametrize("variant", list(BLK_VARIANTS))
def test_vhost_blk_inflight_reconfiguration_refused(topo, peers, hugepages, vhost_blk_exe,
                                                    variant):
    mode, refusal = BLK_VARIANTS[variant]
    blk = peers.add(VhostBlk(vhost_blk_exe, topo.logs, peers.dir, topo.lib.dir)).start()
    assert blk.mapped_vhost_libraries() == {topo.lib.path}, (
        f"vhost_blk maps {blk.mapped_vhost_libraries()}, expected only {topo.lib.path}")

    # The control: the same program, well-behaved, gets a request served.
    good = peers.add(Hostile(topo.logs, "blk-good", blk.sock, name="good")).start()
    good.wait_step(r"request completed, status 0", timeout=20)
    good.wait_step(r"no write outside the request's buffers and rings")
    assert good.wait_exit(VERDICT_S) == 0, good.tail()
    blk.wait_log(r"^Destroy .* Device ID", VERDICT_S, what="the control's destroy_device")

    mark = blk.mark()
    hostile = peers.add(Hostile(topo.logs, mode, blk.sock)).start()
    # The hostile script to its end: its request, or the back-end's hang-up
    # (the library closes the connection if the refused message was
    # SET_VRING_NUM; after SET_FEATURES it keeps it, with the vring stopped).
    try:
        hostile.wait_log(r"request posted|closed the connection|not sent|exit \d", VERDICT_S,
                         what="the end of the hostile front-end's script")
    except HostileError as e:
        assert blk.alive(), died(blk)
        pytest.fail(str(e))
    # Give a worker that vhost_blk would have started the time to run the
    # request (the hostile front-end reports it if it was served).
    time.sleep(1.5)
    assert blk.alive(), died(blk)
    after = blk.output[mark:]
    assert "New Device" not in after, (
        f"vhost_blk started a device whose vring no longer fits its inflight slice:\n{after}"
        f"\n{hostile.tail()}")
    assert re.search(refusal, after), (
        f"vhost_blk's log has no {refusal!r}:\n{after}")
    assert "bytes of our memory outside" not in hostile.output, hostile.tail()

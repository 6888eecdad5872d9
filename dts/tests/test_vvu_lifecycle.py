# SPDX-License-Identifier: BSD-3-Clause
"""Lifecycle of the VVU topology: start orders, restarts, bad devices.

Topology (framework/vvu.py): front-end net_virtio_user (Debian, server=1
unless said otherwise) <-vhost-user-> dpdk-vvu-device (--client: it connects
to the front-end, retrying every second) <-vfio-user-> back-end
net_vhost0,iface=vfio-user:SOCK on our librte_vhost.so.23 (it retries the
device every second). With the front-end as the vhost-user server every
process can start first and each one can be restarted alone.

Test plan
  1. test_start_order[ORDER]: the 6 orders of device, back-end and front-end
     (ids like device-backend-frontend); each reaches link up on both peers
     and exact counts.
  2. test_restart_while_traffic_runs[WHO-HOW]: traffic circulates (front-end
     io forwarding after tx_first); WHO in device/front-end/back-end is
     SIGKILLed (a crash) or stopped cleanly (SIGTERM / quit) and started
     again. The survivors keep running, links come back, exact counts both
     ways, and the survivors' fd counts return to what they were before.
  3. test_shm_too_small: the device's BAR2 (--shm-size 64M) cannot hold the
     front-end's 256 MiB: the device says which size is needed, the back-end
     keeps running with the link down and leaks nothing (fd counts of the
     back-end and of the device unchanged); replacing the device with a big
     enough one brings traffic up without restarting the back-end.
  4. test_wrong_device_id: a device with a PCI device ID that is not a
     modern virtio one (--virtio-id 200): the back-end refuses it with a
     clear error logged once (not once per retry), keeps running, and
     retrying leaks nothing; a good device at the same socket is then taken
     without a restart.
  5. test_device_stops_answering[sigcont|restart|frontend_restart]: the
     device is SIGSTOPped with a connection up; the back-end keeps answering
     its console throughout. sigcont: traffic is still counted exactly while
     the device is frozen (the data path is shared memory), then SIGCONT.
     restart: the frozen device is killed and a new one started.
     frontend_restart: the front-end is replaced while the device is frozen,
     then SIGCONT. Each time: exact counts again, fd counts back.
  6. test_frontend_gone_memory_released[sigkill|quit]: while connected the
     device holds the front-end's memory fds and the back-end maps that
     memory through BAR2; once the front-end is gone neither holds an fd
     or a mapping of it (they would pin its hugepages).
Every process is killed by pid at the end of the test, even on failure
(fixture ``vvu``); each test is bounded (DTS_VVU_TEST_TIMEOUT, 240 s).
"""

import itertools
import os
import time

import pytest

from framework import testpmd as tp
from framework.proc import (fd_count, fd_kinds, go_away, held_inodes, memory_inodes,
                            min_fd_count, wait_fd_count, wait_released)
from framework.testpmd import wait_links
from framework.traffic import assert_counts_exact, drain
from framework.vvu import BACKEND, DEFAULT_ORDER, DEVICE, FRONTEND, connect

# Every order of the three roles, as tuples ("device", "backend", "frontend").
ORDERS = list(itertools.permutations(DEFAULT_ORDER))
LINK_TIMEOUT = 60


def start_traffic(fe, pkt_len=64):
    """Packets circulate: the front-end io-forwards what comes back."""
    fe.send(f"set txpkts {pkt_len}")
    fe.send("set fwd io")
    fe.send("start tx_first 4", until=r"forwarding packets/burst")


def traffic_moves(fe, secs=1.0):
    a = fe.stats().rx_packets
    time.sleep(secs)
    return fe.stats().rx_packets > a


def assert_fds_back(procs, before, what):
    """Every survivor's fd count returns to its count in before."""
    for p in procs:
        want = before[p.name]
        got = wait_fd_count(p.pid, want)
        assert got == want, (f"{p.name} has {got} fds after {what}, {want} before: "
                             f"{fd_kinds(p.pid)}")


def unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@pytest.mark.parametrize("order", ORDERS, ids="-".join)
def test_start_order(vvu, order):
    _, fe, be = connect(vvu, order=order, client=True, timeout=LINK_TIMEOUT)
    assert_counts_exact(fe, be)


def _restart(vvu, who, how, dev, fe, be):
    """Stop or kill who, start a new one; return the new (dev, fe, be)."""
    if who == DEVICE:
        go_away(dev, how)
        wait_links((fe, be), up=False, timeout=LINK_TIMEOUT)
        dev = vvu.device(name="device2", client=True)
        dev.start()
    elif who == FRONTEND:
        go_away(fe, how)
        be.wait_link(up=False, timeout=LINK_TIMEOUT)
        # A killed virtio_user server leaves its socket file behind, and a
        # new one cannot bind over it: clean up as an orchestrator would.
        unlink(vvu.fe_sock)
        fe = vvu.frontend(name="frontend2", server=True)
        fe.spawn()
        fe.wait_ready(LINK_TIMEOUT)
    else:
        go_away(be, how)
        fe.wait_link(up=False, timeout=LINK_TIMEOUT)
        be = vvu.backend(name="backend2")
        be.start()
        be.start_forwarding()
    wait_links((be, fe), timeout=LINK_TIMEOUT)
    return dev, fe, be


@pytest.mark.parametrize("how", ["sigkill", "clean"])
@pytest.mark.parametrize("who", [DEVICE, FRONTEND, BACKEND])
def test_restart_while_traffic_runs(vvu, who, how):
    dev, fe, be = connect(vvu, client=True, timeout=LINK_TIMEOUT)
    assert_counts_exact(fe, be)
    start_traffic(fe)
    assert traffic_moves(fe), "no traffic before the restart"
    survivors = [p for p in (dev, fe, be) if p.name != who]
    before = {p.name: fd_count(p.pid) for p in survivors}

    dev, fe, be = _restart(vvu, who, how, dev, fe, be)
    for p in survivors:
        assert p.alive(), f"{p.name} died when the {who} went away"
    if who == FRONTEND:
        start_traffic(fe)  # the old one's packets died with it
    elif not traffic_moves(fe):
        # The in-flight packets were lost with the restarted peer; the
        # front-end still forwards, so new ones keep going once injected.
        fe.stop_forwarding()
        start_traffic(fe)
    assert traffic_moves(fe), f"traffic did not resume after the {who} restart"
    drain(fe)
    assert_counts_exact(fe, be, (64, 1518))
    assert_fds_back(survivors, before, f"the {who} restart")


def test_shm_too_small(vvu):
    dev = vvu.device(client=False, shm_size="64M")
    dev.start()
    be = vvu.backend()
    be.start()
    be.start_forwarding()
    m = be.wait_for(r"vvu: attached", LINK_TIMEOUT, what="device attached")
    time.sleep(0.5)
    be_fds, dev_fds = fd_count(be.pid), fd_count(dev.pid)

    fe = vvu.frontend(server=False)
    fe.spawn()
    # The device refuses the memory table and says how much BAR2 it needs
    # (after its command line, which names --shm-size too).
    m_need = dev.wait_log(r"does not fit BAR2: needs --shm-size (\d+)", timeout=LINK_TIMEOUT,
                          since=dev.output.index("\n"))
    assert int(m_need.group(1)) >= 256 << 20, m_need.group(0)
    try:
        fe.wait_ready(30)
    except tp.TestPmdError:
        pass  # a front-end that gives up is fine; it is not under test
    fe.kill()
    assert be.alive(), "the back-end died"
    assert not be.link_up(), "back-end link up with a front-end the device refused"
    assert dev.alive(), "the device died"
    assert wait_fd_count(be.pid, be_fds) == be_fds, f"back-end fds: {fd_kinds(be.pid)}"
    assert wait_fd_count(dev.pid, dev_fds) == dev_fds, f"device fds: {fd_kinds(dev.pid)}"
    assert "front-end connected" not in be.output[m.end():] or \
        "front-end left" in be.output[m.end():], "back-end kept a refused connection"

    # A big enough device at the same sockets: the same back-end takes it.
    dev.stop()
    dev2 = vvu.device(name="device2", client=False)
    dev2.start()
    fe2 = vvu.frontend(name="frontend2", server=False)
    fe2.start(LINK_TIMEOUT)
    wait_links((be, fe2), timeout=LINK_TIMEOUT)
    assert_counts_exact(fe2, be)


def test_wrong_device_id(vvu):
    be = vvu.backend()
    be.start()
    be.start_forwarding()
    dev = vvu.device(client=False, virtio_id=200)
    pos = be.mark()
    dev.start()
    be.wait_for(r"(?i)vvu: .*(device id|not a|refus|unsupported).*", LINK_TIMEOUT, since=pos,
                what="a clear refusal of the device")
    # A retry holds a socket for a moment: the baseline is the lowest count
    # seen across a retry, and it must come back after several more.
    be_fds, dev_fds = min_fd_count(be.pid, 1.5), min_fd_count(dev.pid, 1.5)
    time.sleep(3)  # several more retries: nothing may accumulate
    assert be.alive() and dev.alive()
    assert wait_fd_count(be.pid, be_fds, 3) == be_fds, (
        f"back-end fds grow while retrying: {fd_kinds(be.pid)}")
    assert wait_fd_count(dev.pid, dev_fds, 3) == dev_fds, (
        f"device fds grow while refused: {fd_kinds(dev.pid)}")
    assert "vvu: attached" not in be.output[pos:], "back-end attached a wrong device"
    # One line per cause, not one per retry (a long-lived appliance's log).
    n = be.output[pos:].count("is not a modern virtio device")
    assert n == 1, f"the refusal was logged {n} times in ~5 s of retries"

    dev.stop()
    dev2 = vvu.device(name="device2", client=False)
    dev2.start()
    be.wait_for(r"vvu: attached", LINK_TIMEOUT, since=pos, what="the good device attached")
    fe = vvu.frontend(server=False)
    fe.start(LINK_TIMEOUT)
    wait_links((be, fe), timeout=LINK_TIMEOUT)
    assert_counts_exact(fe, be)


@pytest.mark.parametrize("then", ["sigcont", "restart", "frontend_restart"])
def test_device_stops_answering(vvu, then):
    dev, fe, be = connect(vvu, client=True, timeout=LINK_TIMEOUT)
    assert_counts_exact(fe, be)
    before = {p.name: fd_count(p.pid) for p in (fe, be)}
    if then != "restart":
        before[dev.name] = fd_count(dev.pid)

    dev.pause()
    # The back-end's console (and its control thread, which link status
    # reads) answers while the device is frozen.
    t_end = time.monotonic() + 3
    while time.monotonic() < t_end:
        t0 = time.monotonic()
        be.stats()
        be.link_up()
        assert time.monotonic() - t0 < 5, "back-end console stalled behind the frozen device"
        time.sleep(0.5)
    assert be.alive() and fe.alive()

    if then == "sigcont":
        # The data path never needs the device (rings and buffers are
        # shared memory, both sides poll): exact counts while it is frozen.
        assert_counts_exact(fe, be)
        dev.resume()
    elif then == "restart":
        dev.kill()
        dev = vvu.device(name="device2", client=True)
        dev.start()
    else:
        # The front-end goes and a new one comes while nobody can tell the
        # back-end; it learns both once the device runs again.
        fe.kill()
        unlink(vvu.fe_sock)
        fe = vvu.frontend(name="frontend2", server=True)
        fe.spawn()
        time.sleep(1)
        dev.resume()
        fe.wait_ready(LINK_TIMEOUT)
    wait_links((be, fe), timeout=LINK_TIMEOUT)
    assert_counts_exact(fe, be)
    survivors = [be] + ([fe] if then != "frontend_restart" else []) + \
        ([dev] if then != "restart" else [])
    assert_fds_back(survivors, before, f"the device's freeze and {then}")


@pytest.mark.parametrize("how", ["sigkill", "quit"])
def test_frontend_gone_memory_released(vvu, how):
    dev, fe, be = connect(vvu, client=True, timeout=LINK_TIMEOUT)
    assert_counts_exact(fe, be)
    mem = memory_inodes(fe.pid)
    assert mem, "the front-end has no memory file open"
    assert held_inodes(be.pid, mem), "the back-end does not map the front-end's memory"
    assert held_inodes(dev.pid, mem), "the device does not hold the front-end's memory"

    go_away(fe, how)
    be.wait_link(up=False, timeout=LINK_TIMEOUT)
    for p in (be, dev):
        assert p.alive(), f"{p.name} died when the front-end went away"
        held = wait_released(p.pid, mem)
        assert not held, f"{p.name} still holds the gone front-end's memory: inodes {held}"

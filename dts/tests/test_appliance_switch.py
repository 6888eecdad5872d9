# SPDX-License-Identifier: BSD-3-Clause
"""examples/vhost_switch (dpdk-vhost-switch) inside the appliance VM, between
three front-ends on this host, counted exactly.

Topology (framework/appliance.py, three devices)::

    front-ends A, B, C: Debian dpdk-testpmd, net_virtio_user0 with MACs
        02:00:00:00:00:0a / 0b / 0c, rxonly; a front-end sends bursts of 32
        frames to its "set eth-peer" with "start tx_first"
            |  vhost-user over AF_UNIX (A.sock, B.sock, C.sock)
    dpdk-vvu-device --qemu-proxy-fd  x 3      (processes on this host)
            |  QEMU's multi-process protocol
    qemu-system-x86_64: x-pci-proxy-dev at 00:04.0, 00:05.0, 00:06.0 (TCG)
        guest kernel: vfio-pci bound to the three functions
        guest: exec dpdk-vhost-switch --iova-mode=pa -a 0000:00:04.0 ...
                   -- --port 0000:00:04.0 --port 0000:00:05.0 --port 0000:00:06.0
               (our librte_vhost.so.23, its VVU driver over kernel VFIO)

Test plan
  test_switch_in_appliance_three_frontends: the image carries the switch;
  the guest binds the three functions (1af4:106b) to vfio-pci, each in
  its own IOMMU group with its /dev/vfio node; the guest runs the switch,
  which maps the guest's /opt/vvu/lib/librte_vhost.so.23 (byte for byte
  the library under test) and nothing else of that name; EAL selects
  IOVA as PA and VFIO; our driver attaches to each function over kernel
  VFIO and polls it; each switch port comes up when its front-end
  connects. Traffic, one burst of 32 each: A, B, C broadcast in turn (the
  two others receive exactly 32, the sender none): the switch learns the
  three MACs; unicast A -> B, B -> C, C -> A reaches only its
  destination, exactly 32; A -> a MAC nobody has is flooded to B and C.
  Then Ctrl-C on the guest's console (SIGINT): the switch exits 0 and its
  exit counters are exactly A (port 0) rx 96 tx 96 flood 64, B and C rx 64
  tx 128 flood 32, drop 0, each port's path its PCI address; the guest
  powers off and the launcher exits 0.

QEMU 7.2 itself sometimes dies of SIGSEGV (in a guest MMIO write, its
vCPU thread finding a freed MemoryRegion) while x-pci-proxy-dev devices are
attached: more often with more devices and with a slower device process,
never seen with the stand-in. If that happens before the switch polls every
port, the test prints it and boots once more (fresh sockets); a second
crash, or a crash during the traffic, fails it; a crash after the guest
powered off (the kernel's "reboot: Power down" on the console) is printed.

About 40 s on the loaded 2-CPU machine; bounded by the per-test alarm
(DTS_TEST_TIMEOUT, 150 s, which the topo fixture sets after the appliance
fixture's) and every wait by its own timeout; every process is stopped by
pid, even on failure. Skips only when QEMU cannot
be installed, or when the build has no dpdk-vhost-switch.
"""

import hashlib
import os
import re
import signal
import time

import pytest

from framework.appliance import GUEST_PCIS, ApplianceError, boot_retrying_qemu_segv
from framework.proc import call_failed, finish_all
from framework.testpmd import BURST
from framework.vhost_switch import parse_counters, switch_frontend

MACS = {"A": "02:00:00:00:00:0a", "B": "02:00:00:00:00:0b", "C": "02:00:00:00:00:0c"}
UNKNOWN = "02:00:00:00:00:0d"   # no front-end has it: flooded
BCAST = "ff:ff:ff:ff:ff:ff"
VVU_ID = "1af4:106b"            # the device's function with its default virtio ID 43
HUGEPAGES = 64                  # the switch's pool is ~20 MiB (-m 64)
# Frames cross trapped BARs under TCG: seconds, not microseconds.
TRAFFIC_TIMEOUT = 90
SETTLE_S = 2                    # after the expected counts: anything more would be extra
BOOT_TIMEOUT = 120
PCIS = GUEST_PCIS[:3]
SWITCH_CMD = ("exec dpdk-vhost-switch -l 0 --iova-mode=pa -m 64 -a @PCI@ -a @PCI_2@ -a @PCI_3@ "
              "-- --port @PCI@ --port @PCI_2@ --port @PCI_3@")


def sha256_16(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


@pytest.fixture
def frontends(request, topo):
    """A factory of switch front-ends (framework.vhost_switch.switch_frontend),
    stopped by pid at the end of the test, even on failure."""
    started = []

    def make(name, sock):
        started.append(switch_frontend(topo.logs, sock, MACS[name], name))
        return started[-1]

    try:
        yield make
    finally:
        finish_all(started, call_failed(request))


def send(sender, dst_mac, fes, expect):
    """sender sends one burst (32 frames) to dst_mac; expect {front-end:
    frames} for the receivers, every other front-end must receive none.
    Waits for the counts, then SETTLE_S more, and asserts them exactly."""
    before = {fe: fe.stats() for fe in fes}
    sender.stop_forwarding()
    sender.send(f"set eth-peer 0 {dst_mac}")
    sender.send("start tx_first 1", until=r"forwarding packets/burst")
    deadline = time.monotonic() + TRAFFIC_TIMEOUT
    while time.monotonic() < deadline:
        if all((fe.stats() - before[fe]).rx_packets >= n for fe, n in expect.items()):
            break
        time.sleep(0.5)
    time.sleep(SETTLE_S)
    delta = {fe: fe.stats() - before[fe] for fe in fes}
    got = {fe.name: delta[fe].rx_packets for fe in fes}
    want = {fe.name: expect.get(fe, 0) for fe in fes}
    assert delta[sender].tx_packets == BURST, (
        f"{sender.name} sent {delta[sender].tx_packets}, expected {BURST}")
    assert got == want, f"{sender.name} -> {dst_mac}: received {got}, expected {want}"


def boot(appliance, socks, vhost_lib, name):
    """Start the appliance with one device per socket and the switch on
    them; check the guest's VFIO binding and our driver's attach to each
    function; return the Appliance once the switch polls every port."""
    a = appliance(name=name, vhost_user=[socks[n] for n in MACS], cmd=SWITCH_CMD,
                  hugepages=HUGEPAGES, device_args=["-v"])
    try:
        return _check_boot(a, vhost_lib)
    except ApplianceError as e:
        e.appliance = a
        raise


def _check_boot(a, vhost_lib):
    # The guest binds the functions with the kernel's vfio-pci, each in its
    # own IOMMU group.
    groups = {}
    for pci in PCIS:
        a.wait_marker(rf"found {re.escape(pci)} {VVU_ID}$", BOOT_TIMEOUT)
        m = a.wait_marker(rf"bound {re.escape(pci)} to vfio-pci, iommu group (\d+), "
                          r"/dev/vfio/(\d+) (\w+)", BOOT_TIMEOUT)
        assert m.group(1) == m.group(2) and m.group(3) == "exists", m.group(0)
        groups[pci] = m.group(1)
    assert len(set(groups.values())) == len(PCIS), f"shared IOMMU groups: {groups}"
    m = a.wait_marker(r"librte_vhost: (\S+) sha256 (\w+)", BOOT_TIMEOUT)
    assert m.group(2) == sha256_16(vhost_lib.path), (
        f"the guest's {m.group(1)} is not {vhost_lib.path}")
    m = a.wait_marker(r"running: (.*)$", BOOT_TIMEOUT)
    assert " ".join(f"--port {p}" for p in PCIS) in m.group(1), m.group(0)
    m = a.wait_marker(r"pid \d+ \((\S+)\) maps (.*)$", BOOT_TIMEOUT)
    assert m.group(1) == "dpdk-vhost-swit", m.group(0)  # comm: 15 characters
    assert m.group(2).split() == ["/opt/vvu/lib/librte_vhost.so.23"], m.group(0)

    # The switch in the guest: our driver on each function over kernel VFIO.
    for i, pci in enumerate(PCIS):
        a.wait_for(rf"^port {i} \({re.escape(pci)}\): waiting for its front-end", BOOT_TIMEOUT,
                   what=f"switch port {i}")
        a.wait_for(rf"\({re.escape(pci)}\) vvu: attached {VVU_ID} over vfio", BOOT_TIMEOUT,
                   what=f"our driver's attach to {pci}")
        a.wait_for(rf"\({re.escape(pci)}\) vvu: device has no usable interrupts: polling",
                   BOOT_TIMEOUT, what=f"polling {pci}")
    a.wait_for(rf"^vhost-switch: {len(PCIS)} ports", BOOT_TIMEOUT, what="the switch's start")
    assert "EAL: VFIO support initialized" in a.output
    assert "EAL: Selected IOVA mode 'PA'" in a.output
    return a


def test_switch_in_appliance_three_frontends(appliance, appliance_image, topo, frontends,
                                            vhost_lib):
    if "vhost_switch none" in appliance_image.info or "vhost_switch" not in appliance_image.info:
        pytest.skip("the guest image has no dpdk-vhost-switch (the build has none)")
    t0 = time.monotonic()
    sock_dir = os.path.dirname(topo.sock)
    socks = {}

    def start(attempt):
        # Fresh sockets for a second boot.
        socks.update({n: os.path.join(sock_dir, f"{n}{attempt}.sock") for n in MACS})
        return boot(appliance, socks, vhost_lib, f"appliance{attempt}")

    a = boot_retrying_qemu_segv(start, "appliance switch")
    print(f"appliance switch: every port attached after {time.monotonic() - t0:.1f}s")

    # The front-ends, one per device.
    fa, fb, fc = fes = [frontends(n, socks[n]) for n in MACS]
    for fe in fes:
        fe.spawn()
    for fe in fes:
        fe.wait_ready(BOOT_TIMEOUT)
        fe.start_forwarding()
    for i, (pci, fe) in enumerate(zip(PCIS, fes)):
        fe.wait_link(up=True, timeout=BOOT_TIMEOUT)
        a.wait_for(rf"^port {i} \({re.escape(pci)}\): up", BOOT_TIMEOUT,
                   what=f"switch port {i} up")
    print(f"appliance switch: front-ends up after {time.monotonic() - t0:.1f}s")

    # Learning, then unicast only to the learned port, unknown flooded.
    for fe in fes:
        send(fe, BCAST, fes, {o: BURST for o in fes if o is not fe})
    send(fa, MACS["B"], fes, {fb: BURST})
    send(fb, MACS["C"], fes, {fc: BURST})
    send(fc, MACS["A"], fes, {fa: BURST})
    send(fa, UNKNOWN, fes, {fb: BURST, fc: BURST})
    print(f"appliance switch: traffic done after {time.monotonic() - t0:.1f}s")

    # SIGINT (Ctrl-C on the guest's console): the switch prints its counters
    # and exits 0, the guest powers off.
    pos = a.mark()
    a.write(b"\x03")
    a.wait_marker(r"command exited with (\d+)", 60, since=pos)
    assert "VVU-GUEST: command exited with 0" in a.output[pos:], a.tail()
    counters = parse_counters(a.output[pos:], "exit")
    assert counters is not None, f"no exit counters on the console:\n{a.tail()}"
    # rx: broadcast + unicast (+ A's unknown); tx: the others' broadcasts +
    # unicast (+ A's unknown, flooded to B and C); flood: broadcasts and
    # unknown destinations, counted at the ingress port.
    want = {0: {"rx": 3 * BURST, "tx": 3 * BURST, "flood": 2 * BURST, "drop": 0,
                "path": PCIS[0]}}
    for i in (1, 2):
        want[i] = {"rx": 2 * BURST, "tx": 4 * BURST, "flood": BURST, "drop": 0,
                   "path": PCIS[i]}
    got = {p: {k: c[k] for k in ("rx", "tx", "flood", "drop", "path")}
           for p, c in counters.items()}
    assert got == want, f"switch counters {got}, expected {want}"
    rc = a.wait_exit(60)
    if rc != 0 and a.qemu_signal() == signal.SIGSEGV and "reboot: Power down" in a.output:
        # The guest powered off; QEMU's crash (above) came after it.
        print(f"appliance switch: QEMU died of SIGSEGV after the guest powered off "
              f"({a.launcher_log})")
    else:
        assert rc == 0, f"launcher exit {rc}"
    print(f"appliance switch: done after {time.monotonic() - t0:.1f}s")

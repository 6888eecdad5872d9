# SPDX-License-Identifier: BSD-3-Clause
"""examples/vhost_switch (dpdk-vhost-switch) between three front-ends, counted exactly.

Topology (sockets in a private temp dir):

    front-ends A, B, C: Debian dpdk-testpmd, net_virtio_user0 with MACs
        02:00:00:00:00:0a/0b/0c (Debian's libraries), rxonly; a front-end
        sends bursts of 32 frames to its "set eth-peer" with "start tx_first"
            |  vhost-user over AF_UNIX (the switch is the server), or for C in
            |  the VVU test: front-end -> dpdk-vvu-device -> vfio-user:SOCKET
    switch: dpdk-vhost-switch on the library under test, one --port each,
        lcore 0

Test plan
  1. test_unicast_only_to_its_port_broadcast_to_all_others: each front-end
     broadcasts one burst (the switch learns its MAC): the two others receive
     exactly 32 each, the sender none. Then unicast A->B, B->C, C->A (128
     each): only the destination receives, exactly 128; no flooding. Debian's
     dpdk-telemetry.py on the switch's EAL socket, while it runs: ports
     [0, 1, 2]; /vhost_switch/stats per port rx 160, tx 192, flood 32,
     drop 0; /vhost_switch/port,1 is B's (path, up, trunk, one MAC, the same
     counters); /vhost_switch/macs is exactly A, B, C on ports 0, 1, 2 in
     VLAN 0, each seen within the test. On SIGTERM the switch exits 0 and its
     counters are exactly those. With one lcore, and with two (ports spread
     over both).
  2. test_frontend_restart_while_forwarding: A sends to B continuously; C is
     SIGKILLed mid-traffic; B keeps receiving; then A->B exact, A's broadcast
     reaches B only. A new front-end C2 (another MAC) on C's port: A's frames
     to C's old MAC are flooded (B and C2 receive them: the gone port's MAC
     was forgotten, else only C2 would); after C2 broadcasts, A->C2 reaches
     only C2.
  3. test_vvu_port_mixed_with_af_unix: C's port is vfio-user:SOCKET to a
     dpdk-vvu-device (its front-end on the device's vhost-user socket); A and
     B are AF_UNIX ports; the learning broadcasts and unicast both ways
     between AF_UNIX and VVU ports, exact.
  4. test_vlan_access_and_trunk_ports: --vlan 0:10 --vlan 1:20, C a trunk:
     A's and B's broadcasts reach only C, tagged (bytes: 32 x (64 + 4)); C's
     untagged broadcast (VLAN 0) reaches nobody; C echoes (io forwarding)
     what it receives: A's broadcast comes back tagged 10 and is flooded in
     VLAN 10 only, to A, untagged (32 x 64 bytes), never to B. Telemetry:
     the MAC table holds (A, VLAN 10) on C's port (it came back from C last),
     (B, VLAN 20) on port 1, (C, VLAN 0) on port 2; ports 0 and 1 are access
     ports of VLANs 10 and 20.
  5. test_learned_mac_ages_out: --aging 3: a MAC used within the ageing time
     is known (unicast to B only), and listed by /vhost_switch/macs,1 with an
     age under 3 s; after 5 s of silence from B it is flooded again and
     listed no more (A, which just sent, is); --stats 1 prints a periodic
     block for every port; the exit block counts A's frames (rx 64, flood 32).
  6. test_bad_argument_one_line_nonzero_exit: each bad argument gives exactly
     one line on stderr and exit code 1, before EAL starts.
  7. test_help_explains_every_option: -h exits 0 and names every option,
     the port kinds, the counters and the telemetry commands.
  8. test_telemetry_bad_parameters_answered_null: a port number that is
     not one (out of range, negative, not decimal, trailing bytes) and
     parameters to commands that take none are answered null; the switch
     keeps answering.
"""

import os
import re
import subprocess
import time

import pytest

from framework import telemetry
from framework.proc import call_failed, finish_all
from framework.testpmd import BURST
from framework.vhost_switch import SWITCH_BIN, VhostSwitch, parse_counters, switch_frontend

MACS = {"A": "02:00:00:00:00:0a", "B": "02:00:00:00:00:0b", "C": "02:00:00:00:00:0c",
        "C2": "02:00:00:00:00:c2"}
BCAST = "ff:ff:ff:ff:ff:ff"
PKT_LEN = 64  # testpmd's default txonly frame
VLAN_TAG_LEN = 4
SETTLE_S = 0.5  # after the expected counts: anything more would be extra frames
WAIT_S = 20
AGING_S = 3
AGING_WAIT_S = 5  # > AGING_S, with margin for a loaded machine


@pytest.fixture
def sw(request, topo):
    """Factories for the switch and its front-ends on top of conftest's topo;
    everything started is ended by pid at the end (front-ends first)."""
    if topo.lib.name != "ours":
        pytest.skip("dpdk-vhost-switch is built on this tree's librte_vhost.so.23")
    sock_dir = os.path.dirname(topo.sock)
    fes, switches = [], []

    class Sw:
        logs = topo.logs

        @staticmethod
        def sock(name):
            return os.path.join(sock_dir, f"{name}.sock")

        @staticmethod
        def switch(ports, **kw):
            switches.append(VhostSwitch(topo.logs, ports, lib_dir=topo.lib.dir, **kw))
            return switches[-1]

        @staticmethod
        def frontend(name, path):
            fes.append(switch_frontend(topo.logs, path, MACS[name], name))
            return fes[-1]

    try:
        yield Sw
    finally:
        finish_all(fes + switches, call_failed(request))


def start_frontends(switch, fes):
    """Start the front-ends (each on its switch port, in order), start their
    rxonly forwarding, wait for every link and for the switch's port up."""
    for fe in fes:
        fe.spawn()
    for fe in fes:
        fe.wait_ready()
        fe.start_forwarding()
    for i, fe in enumerate(fes):
        fe.wait_link()
        switch.wait_log(rf"^port {i} \(.*\): up", WAIT_S)


def send(sender, dst_mac, fes, expect, bursts=1):
    """sender sends bursts x 32 frames to dst_mac; expect {front-end: frames}
    for the receivers, every other front-end of fes must receive none.
    Asserts the exact counts (after waiting for them, then SETTLE_S more);
    returns {front-end: its PortStats difference}."""
    before = {fe: fe.stats() for fe in fes}
    sender.stop_forwarding()
    sender.send(f"set eth-peer 0 {dst_mac}")
    sender.send(f"start tx_first {bursts}", until=r"forwarding packets/burst")
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if all((fe.stats() - before[fe]).rx_packets >= n for fe, n in expect.items()):
            break
        time.sleep(0.1)
    time.sleep(SETTLE_S)
    delta = {fe: fe.stats() - before[fe] for fe in fes}
    got = {fe.name: delta[fe].rx_packets for fe in fes}
    want = {fe.name: expect.get(fe, 0) for fe in fes}
    assert delta[sender].tx_packets == bursts * BURST, (
        f"{sender.name} sent {delta[sender].tx_packets}, expected {bursts * BURST}")
    assert got == want, f"{sender.name} -> {dst_mac}: received {got}, expected {want}"
    return delta


def assert_macs(macs, want, max_age_ms=WAIT_S * 1000 * 4):
    """/vhost_switch/macs lists exactly want, a set of (mac, port, vlan),
    every one seen less than max_age_ms ago."""
    got = set(zip(macs["mac"], macs["port"], macs["vlan"]))
    assert got == want and macs["total"] == macs["shown"] == len(want), macs
    assert all(0 <= age < max_age_ms for age in macs["age_ms"]), macs


def learn(fes):
    """Each front-end broadcasts one burst: the others receive it exactly."""
    for fe in fes:
        send(fe, BCAST, fes, {o: BURST for o in fes if o is not fe})


@pytest.mark.parametrize("lcores", ["0", "0,1"], ids=["1lcore", "2lcores"])
def test_unicast_only_to_its_port_broadcast_to_all_others(sw, lcores):
    switch = sw.switch([sw.sock(n) for n in "ABC"], lcores=lcores).start()
    switch.wait_log(rf"^vhost-switch: lcore {lcores[-1]} polls", WAIT_S)
    a, b, c = fes = [sw.frontend(n, sw.sock(n)) for n in "ABC"]
    start_frontends(switch, fes)

    learn(fes)
    uni = 4 * BURST
    send(a, MACS["B"], fes, {b: uni}, bursts=4)
    send(b, MACS["C"], fes, {c: uni}, bursts=4)
    send(c, MACS["A"], fes, {a: uni}, bursts=4)

    want = {"rx": BURST + uni, "tx": 2 * BURST + uni, "flood": BURST, "drop": 0}
    telemetry.require()
    ports, stats, b_port, macs = switch.telemetry(
        "/vhost_switch/ports", "/vhost_switch/stats", "/vhost_switch/port,1",
        "/vhost_switch/macs")
    assert ports == [0, 1, 2], ports
    assert stats["ports"] == 3, stats
    for port in range(3):
        got = {k: stats[k][port] for k in want}
        assert got == want, f"telemetry: port {port} counters {got}, expected {want}"
    assert {k: b_port[k] for k in ("id", "path", "state", "mode", "vlan", "macs")} == {
        "id": 1, "path": sw.sock("B"), "state": "up", "mode": "trunk", "vlan": 0,
        "macs": 1}, b_port
    assert {k: b_port[k] for k in want} == want, b_port
    assert_macs(macs, {(MACS["A"], 0, 0), (MACS["B"], 1, 0), (MACS["C"], 2, 0)})

    assert switch.stop() == 0, f"switch exit code {switch.exit_code}:\n{switch.tail()}"
    counters = switch.final_counters()
    for port in range(3):
        got = {k: counters[port][k] for k in want}
        assert got == want, f"switch port {port} counters {got}, expected {want}"


def test_frontend_restart_while_forwarding(sw):
    switch = sw.switch([sw.sock(n) for n in "ABC"]).start()
    a, b, c = fes = [sw.frontend(n, sw.sock(n)) for n in "ABC"]
    start_frontends(switch, fes)
    learn(fes)

    # A streams to B; C crashes in the middle.
    a.stop_forwarding()
    a.send(f"set eth-peer 0 {MACS['B']}")
    a.send("set fwd txonly")
    b0 = b.stats().rx_packets
    a.start_forwarding()
    time.sleep(0.5)
    mark = switch.mark()
    c.kill()
    switch.wait_log(r"^port 2 \(.*\): down", WAIT_S, since=mark)
    b1 = b.stats().rx_packets
    time.sleep(1)
    b2 = b.stats().rx_packets
    a.stop_forwarding()
    a.send("set fwd rxonly")
    a.start_forwarding()
    assert b1 > b0 and b2 > b1, f"B stopped receiving when C went away: {b0}, {b1}, {b2}"
    time.sleep(SETTLE_S)  # B drains what was queued

    live = [a, b]
    send(a, MACS["B"], live, {b: BURST})
    send(a, BCAST, live, {b: BURST})

    c2 = sw.frontend("C2", sw.sock("C"))
    c2.start()
    c2.start_forwarding()
    c2.wait_link()
    switch.wait_log(r"^port 2 \(.*\): up", WAIT_S, since=mark)
    fes = [a, b, c2]
    # C's MAC went with its port: unknown again, so flooded.
    send(a, MACS["C"], fes, {b: BURST, c2: BURST})
    send(c2, BCAST, fes, {a: BURST, b: BURST})
    send(a, MACS["C2"], fes, {c2: BURST})
    send(c2, MACS["B"], fes, {b: BURST})
    assert switch.stop() == 0, f"switch exit code {switch.exit_code}:\n{switch.tail()}"


def test_vvu_port_mixed_with_af_unix(vvu, sw):
    dev = vvu.device(client=False).start()
    switch = sw.switch([sw.sock("A"), sw.sock("B"), vvu.iface]).start()
    a, b, c = fes = [sw.frontend("A", sw.sock("A")), sw.frontend("B", sw.sock("B")),
                     sw.frontend("C", vvu.fe_sock)]
    start_frontends(switch, fes)

    learn(fes)
    send(a, MACS["C"], fes, {c: 2 * BURST}, bursts=2)
    send(c, MACS["B"], fes, {b: 2 * BURST}, bursts=2)
    send(b, MACS["A"], fes, {a: 2 * BURST}, bursts=2)
    assert switch.stop() == 0, f"switch exit code {switch.exit_code}:\n{switch.tail()}"
    assert dev.alive(), "the VVU device died"


def test_vlan_access_and_trunk_ports(sw):
    switch = sw.switch([sw.sock(n) for n in "ABC"],
                       extra=["--vlan", "0:10", "--vlan", "1:20"]).start()
    a, b, c = fes = [sw.frontend(n, sw.sock(n)) for n in "ABC"]
    start_frontends(switch, fes)

    # Access ports of different VLANs never see each other; the trunk gets
    # their frames tagged (4 bytes longer).
    d = send(a, BCAST, fes, {c: BURST})
    assert d[c].rx_bytes == BURST * (PKT_LEN + VLAN_TAG_LEN), d[c]
    send(b, BCAST, fes, {c: BURST})
    # Untagged on the trunk is VLAN 0: no access port carries it.
    send(c, BCAST, fes, {})
    # Tagged frames on the trunk: C echoes (io forwarding) A's broadcast,
    # which reaches it tagged 10; back in VLAN 10 it is flooded to A only
    # (not B), untagged.
    c.stop_forwarding()
    c.send("set fwd io")
    c.start_forwarding()
    d = send(a, BCAST, fes, {a: BURST, c: BURST})
    assert d[c].rx_bytes == BURST * (PKT_LEN + VLAN_TAG_LEN), d[c]
    assert d[c].tx_bytes == BURST * (PKT_LEN + VLAN_TAG_LEN), d[c]
    assert d[a].rx_bytes == BURST * PKT_LEN, d[a]
    telemetry.require()
    macs, p0, p1 = switch.telemetry("/vhost_switch/macs", "/vhost_switch/port,0",
                                    "/vhost_switch/port,1")
    assert_macs(macs, {(MACS["A"], 2, 10), (MACS["B"], 1, 20), (MACS["C"], 2, 0)})
    assert (p0["mode"], p0["vlan"], p1["mode"], p1["vlan"]) == ("access", 10, "access", 20)
    assert switch.stop() == 0, f"switch exit code {switch.exit_code}:\n{switch.tail()}"


def test_learned_mac_ages_out(sw):
    switch = sw.switch([sw.sock(n) for n in "ABC"], extra=["--aging", str(AGING_S), "--stats", "1"])
    switch.start()
    a, b, c = fes = [sw.frontend(n, sw.sock(n)) for n in "ABC"]
    start_frontends(switch, fes)
    # B's broadcast teaches its MAC; used within --aging it is known.
    send(b, BCAST, fes, {a: BURST, c: BURST})
    send(a, MACS["B"], fes, {b: BURST})
    telemetry.require()
    assert_macs(switch.telemetry("/vhost_switch/macs,1")[0], {(MACS["B"], 1, 0)},
                max_age_ms=AGING_S * 1000)
    # B stays silent for longer than --aging: its MAC is unknown again.
    time.sleep(AGING_WAIT_S)
    send(a, MACS["B"], fes, {b: BURST, c: BURST})
    assert_macs(switch.telemetry("/vhost_switch/macs")[0], {(MACS["A"], 0, 0)},
                max_age_ms=AGING_S * 1000)
    mark = switch.mark()
    periodic = parse_counters(switch.wait_log(r"(?s)--- vhost-switch stats \(periodic\) ---"
                                              r".*?path .*C\.sock\n", WAIT_S, since=mark)
                              .group(0), "periodic")
    assert sorted(periodic) == [0, 1, 2], periodic
    assert switch.stop() == 0, f"switch exit code {switch.exit_code}:\n{switch.tail()}"
    counters = switch.final_counters()
    assert counters[0]["rx"] == 2 * BURST and counters[0]["flood"] == BURST, counters


@pytest.mark.parametrize("args, message", [
    ([], r"no --port given"),
    (["--port"], r"--port needs an argument"),
    (["--port", "/tmp/x", "--aging", "-1"], r"--aging '-1': not a number"),
    (["--port", "/tmp/x", "--stats", "1x"], r"--stats '1x': not a number"),
    (["--port", "/tmp/x", "--vlan", "1:10"], r"--vlan '1:10': there is no port 1"),
    (["--port", "/tmp/x", "--vlan", "0:4095"], r"--vlan '0:4095': expected PORT:VID"),
    (["--port", "/tmp/x", "--port", "/tmp/x"], r"--port '/tmp/x' given twice"),
    (["--port", "/tmp/x", "--bogus"], r"unknown option '--bogus'"),
    (["--port", "/tmp/x", "stray"], r"unexpected argument 'stray'"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_argument_one_line_nonzero_exit(args, message):
    """Before EAL starts (no hugepages needed): one line on stderr, exit 1."""
    r = subprocess.run([SWITCH_BIN, "--no-pci", "--", *args], capture_output=True,
                       text=True, timeout=10, check=False)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == "", r.stdout
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and re.search(message, lines[0]), r.stderr


def test_help_explains_every_option():
    r = subprocess.run([SWITCH_BIN, "--", "-h"], capture_output=True, text=True,
                       timeout=10, check=False)
    assert r.returncode == 0, (r.returncode, r.stderr)
    for opt in ("--port PATH", "vfio-user:", "PCI address", "--client", "--aging SEC",
                "--vlan PORT:VID", "--stats N", "flood", "drop", "dpdk-telemetry.py",
                "/vhost_switch/ports", "/vhost_switch/port,N", "/vhost_switch/stats",
                "/vhost_switch/macs"):
        assert opt in r.stdout, f"-h does not mention {opt!r}:\n{r.stdout}"


def test_telemetry_bad_parameters_answered_null(sw):
    telemetry.require()
    switch = sw.switch([sw.sock("A"), sw.sock("B")]).start()
    bad = ["/vhost_switch/port", "/vhost_switch/port,2", "/vhost_switch/port,-1",
           "/vhost_switch/port,1x", "/vhost_switch/port, 1", "/vhost_switch/port,0x1",
           "/vhost_switch/port,99999999999999999999", "/vhost_switch/macs,2",
           "/vhost_switch/macs,a", "/vhost_switch/ports,0", "/vhost_switch/stats,0"]
    got = switch.telemetry(*bad, "/vhost_switch/port,1")
    assert got[:-1] == [None] * len(bad), dict(zip(bad, got))
    assert got[-1]["path"] == sw.sock("B") and got[-1]["state"] == "down", got[-1]
    assert switch.stop() == 0, f"switch exit code {switch.exit_code}:\n{switch.tail()}"

"""The appliance VM (framework/appliance.py): a QEMU 7.2 guest under TCG,
its PCI function bound by the guest kernel's vfio-pci, Debian's dpdk-testpmd
on our librte_vhost.so.23 in the guest running
``dpdk-testpmd --iova-mode=pa -a 0000:00:04.0 --vdev net_vhost0,iface=0000:00:04.0
-- -i``, so our driver reaches the function through kernel VFIO.

The function is either QEMU's "edu" device (1234:11e8, a stand-in that checks
the image, the vIOMMU and VFIO on their own) or the real VVU device:
dpdk-vvu-device --qemu-proxy-fd behind QEMU 7.2's x-pci-proxy-dev, which has
no interrupts (the driver polls) and traps every BAR access (slow data path).

Test plan
  1. test_stand_in_boots: the image is built or reused; the guest boots; the
     kernel is the image's; every VFIO module of the image loads, in its
     order; the vIOMMU is on with interrupt remapping; the edu function is
     bound to vfio-pci, has an IOMMU group and its /dev/vfio node; the
     hugepages asked for are reserved; vfio-probe opens the group and the
     device, reads the config space (1234:11e8) and BAR0's identification
     register, and edu's liveness register answers through VFIO; the guest's
     librte_vhost.so.23 is, byte for byte, the library under test, and it is
     the only librte_vhost testpmd maps; EAL selects IOVA as PA and VFIO;
     the driver opens the function and refuses it once (not once per
     retry); testpmd's console answers ``show port stats 0`` (all zero) and
     ``show port info 0`` (link down); ``quit`` ends testpmd with status 0,
     the guest powers off, and the launcher exits 0 with its QEMU gone.
  2. test_appliance_forwards_exact_counts: the real device; the guest
     console shows our driver attached over kernel VFIO and polling; a host
     front-end (net_virtio_user) connects to the device; 32 packets go
     through the guest's testpmd and back, counted exactly on both sides;
     the front-end quits, a new one connects, 32 more, exactly.
  3. test_appliance_reboot_frontend_reconnects: the device as vhost-user
     client of a server=1 front-end; 32 packets; the guest reboots (QEMU
     resets the machine: the device drops the front-end); after the new
     boot our driver attaches again, the device reconnects to the waiting
     front-end, and 32 more packets go through exactly.

QEMU 7.2 itself sometimes dies of SIGSEGV at boot with the real device
attached (framework/appliance.py, boot_retrying_qemu_segv): if that happens
in tests 2 and 3 before the guest's testpmd is ready, the test prints it and
boots once more; a second crash, or one after the first boot was ready,
fails it.

Each test is bounded (DTS_APPLIANCE_TIMEOUT, 180 s; about 15 s on an idle
machine) and stops everything it started by pid, even on failure. It skips
only if QEMU cannot be installed.
"""

import hashlib
import os
import re
import time

from framework.appliance import (EDU_ID, GUEST_PCI, PROMPT_RX, ApplianceError,
                                 boot_retrying_qemu_segv)

HUGEPAGES = 64
MARK_FOUND = "VVU-GUEST: found"


def sha256_16(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def test_stand_in_boots(appliance, appliance_image, vhost_lib):
    t0 = time.monotonic()
    a = appliance(stand_in=True, hugepages=HUGEPAGES)

    # Boot and /init
    m = a.wait_marker(r"kernel (\S+), (\d+) cpu")
    assert m.group(1) == appliance_image.kernel, f"guest kernel {m.group(1)}"
    assert appliance_image.modules, f"no module list in {appliance_image.path}/image.info"
    for mod in appliance_image.modules:
        a.wait_marker(rf"insmod {re.escape(mod)} ok")
    order = [line.split()[1] for line in a.markers() if re.match(r"insmod \S+ ok", line)]
    assert order == appliance_image.modules, f"modules loaded in the order {order}"
    m = a.wait_marker(r"bound (\S+) to vfio-pci, iommu group (\d+), /dev/vfio/(\d+) (\w+)")
    assert m.group(1) == GUEST_PCI
    assert m.group(2) == m.group(3) and m.group(4) == "exists", m.group(0)
    group = m.group(2)
    boot = a.output
    assert f"{MARK_FOUND} {GUEST_PCI} {EDU_ID}" in boot
    assert "dmesg: DMAR: IOMMU enabled" in boot, "the vIOMMU is not on"
    assert re.search(r"dmesg: DMAR-IR: Enabled IRQ remapping", boot), "no interrupt remapping"
    a.wait_marker(rf"dmesg: pci {re.escape(GUEST_PCI)}: Adding to iommu group {group}$")
    m = a.wait_marker(r"hugepages 2048kB: (\d+) reserved, (\d+) free")
    assert int(m.group(1)) == HUGEPAGES and int(m.group(2)) == HUGEPAGES, m.group(0)

    # vfio-probe: container, group, device, config space, BAR0 through VFIO
    probe = rf"vfio-probe: {re.escape(GUEST_PCI)}: "
    a.wait_marker(probe + r"(ok|FAILED.*)")
    assert f"vfio-probe: {GUEST_PCI}: ok" in a.output, "vfio-probe failed (see the console)"
    for want in (rf"group /dev/vfio/{group}: viable, in a type1v2 container",
                 r"config space: vendor 0x1234 device 0x11e8",
                 r"BAR0: 1048576 bytes",
                 r"BAR0\[0\] = 0x010000ed",  # edu's identification register
                 r"edu liveness: wrote 0x5a5aa5a5, read 0xa5a55a5a"):
        assert re.search(r"^VVU-GUEST: " + probe + want, a.output, re.M), want

    # The library under test, and only it
    m = a.wait_marker(r"librte_vhost: (\S+) sha256 (\w+)")
    assert m.group(2) == sha256_16(vhost_lib.path), (
        f"the guest's {m.group(1)} is not {vhost_lib.path}")
    a.wait_marker(r"ready")
    m = a.wait_marker(r"pid \d+ \((\S+)\) maps (.*)$")
    assert m.group(1) == "dpdk-testpmd", m.group(0)
    assert m.group(2).split() == ["/opt/vvu/lib/librte_vhost.so.23"], m.group(0)

    # testpmd, EAL and our driver on the function
    a.wait_prompt()
    out = a.output
    assert "EAL: Selected IOVA mode 'PA'" in out
    assert "EAL: VFIO support initialized" in out
    assert re.search(r"registered \(virtio-vhost-user transport\)", out), (
        "net_vhost0 did not take the VVU transport")
    pos = a.mark()
    a.wait_for(r"is not a modern virtio device", 30, what="our driver's refusal of edu")
    st = a.stats(0)
    assert all(v == 0 for v in st.values()), st
    assert not a.link_up(0), "link up on a device that was refused"
    time.sleep(3)  # a few retries (every second)
    n = a.output.count("is not a modern virtio device")
    assert n == 1, f"the refusal was logged {n} times"
    assert "Segmentation fault" not in a.output[pos:]

    # Shutdown: quit, poweroff, QEMU exits, the launcher exits 0
    pids = a.child_pids()
    assert "qemu" in pids, f"the launcher reported no qemu pid: {a.launcher_log}"
    rc = a.quit(timeout=60)
    assert "VVU-GUEST: command exited with 0" in a.output, a.tail()
    assert "VVU-GUEST: powering off" in a.output
    assert rc == 0, f"launcher exit {rc}"
    for name, pid in pids.items():
        assert not os.path.exists(f"/proc/{pid}") or _zombie_or_other(pid), (
            f"{name} (pid {pid}) still runs")
    print(f"appliance: boot to poweroff in {time.monotonic() - t0:.1f}s")


def _zombie_or_other(pid):
    """True if /proc/pid is no longer our QEMU (reused pid, or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return True
    return stat.split(")")[-1].split()[0] == "Z" or b"vvu-appliance" not in cmdline


# ---------------------------------------------------------------------------
# The real device: dpdk-vvu-device --qemu-proxy-fd behind QEMU's proxy device.

BURSTS = 1               # start tx_first 1: 32 packets
TRAFFIC_TIMEOUT = 90     # trapped BAR2 under TCG: every ring access is a round trip


def _frontend_counts(fe, want, timeout=TRAFFIC_TIMEOUT):
    """Front-end stats once it has received want packets (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        st = fe.stats()
        if st.rx_packets >= want or time.monotonic() > deadline:
            return st
        time.sleep(1)


def _round(a, fe, before_fe, before_guest):
    """32 packets from the host front-end through the appliance and back."""
    n = BURSTS * 32
    fe.send(f"start tx_first {BURSTS}", until=r"forwarding packets/burst")
    st = _frontend_counts(fe, before_fe.rx_packets + n)
    fe.send("stop", until=r"Done|Telling cores to stop")
    g = a.stats(0)
    assert st.tx_packets - before_fe.tx_packets == n, f"front-end sent {st}"
    assert g.rx_packets - before_guest.rx_packets == n, f"appliance received {g}"
    assert g.tx_packets - before_guest.tx_packets == n, f"appliance forwarded {g}"
    assert st.rx_packets - before_fe.rx_packets == n, f"front-end got back {st}"
    return st, g


def _boot_ready(appliance, **kw):
    """Boot the appliance on the real device until the guest's testpmd
    prompt and our driver's attach line; (Appliance, the attach match)."""
    def start(attempt):
        a = appliance(name=f"appliance{attempt}", **kw)
        try:
            a.wait_prompt()
            return a, a.wait_for(r"vvu: attached (\S+) over (\S+):", 60,
                                 what="our driver's attach")
        except ApplianceError as e:
            e.appliance = a
            raise

    return boot_retrying_qemu_segv(start, "appliance")


def test_appliance_forwards_exact_counts(appliance, topo):
    """The appliance VM on the real device: the guest kernel binds it with
    vfio-pci, our driver takes it over kernel VFIO (polling: the proxy device
    has no interrupts), a host front-end (net_virtio_user) connects to the
    device, 32 packets go through the guest's testpmd and back with exact
    counts both ways; then the front-end restarts and traffic resumes."""
    t0 = time.monotonic()
    a, m = _boot_ready(appliance, vhost_user=topo.sock, device_args=["-v"])
    # Our driver ran the kernel VFIO path on the VVU device, and polls it.
    assert m.group(1) == "1af4:106b" and m.group(2) == "vfio", m.group(0)
    assert "vvu: device has no usable interrupts: polling it" in a.output
    a.send("start", until=r"io packet forwarding|Start forwarding|forwarding packets")

    fe = topo.frontend()
    fe.start()
    fe.wait_link(up=True, timeout=120)
    a.wait_for(r"device \d+ is ready", 60, what="the guest's new_device")
    before_fe, before_guest = fe.stats(), a.stats(0)
    before_fe, before_guest = _round(a, fe, before_fe, before_guest)
    print(f"appliance: first round after {time.monotonic() - t0:.1f}s")

    # The front-end goes away and comes back: the appliance serves the new one.
    pos = a.mark()
    fe.quit(timeout=20)
    a.wait_for(r"vvu: front-end left", 60, since=pos, what="the front-end's departure")
    fe2 = topo.frontend(name="frontend2")
    fe2.start()
    fe2.wait_link(up=True, timeout=120)
    a.wait_for(r"device \d+ is ready", 60, since=pos, what="the second new_device")
    _round(a, fe2, fe2.stats(), a.stats(0))
    print(f"appliance: restart round done after {time.monotonic() - t0:.1f}s")


def test_appliance_reboot_frontend_reconnects(appliance, topo):
    """The appliance reboots while a host front-end waits: the device (its
    vhost-user client) drops the front-end at the guest's reset, the guest
    boots again, our driver attaches again, the device reconnects to the
    front-end (net_virtio_user server=1), and traffic resumes exactly."""
    t0 = time.monotonic()
    fe = topo.frontend(server=True)
    fe.spawn()  # a server=1 front-end's init waits for the device's connection
    a, _ = _boot_ready(appliance, vhost_user=topo.sock, after="reboot",
                       device_args=["-v", "--client"])
    a.send("start", until=r"io packet forwarding|Start forwarding|forwarding packets")
    fe.wait_ready(120)
    fe.wait_link(up=True, timeout=120)
    _round(a, fe, fe.stats(), a.stats(0))

    # Reboot: quit testpmd; the guest reboots and runs it again.
    pos = a.mark()
    a.proc.stdin.write(b"quit\n")
    a.proc.stdin.flush()
    a.wait_marker(r"rebooting", 60, since=pos)
    boot2 = a.mark()
    fe.wait_link(up=False, timeout=60)
    a.wait_marker(r"ready", 120, since=boot2)
    a.wait_for(PROMPT_RX, 120, since=boot2, what="testpmd after the reboot")
    a.wait_for(r"vvu: attached 1af4:106b over vfio", 60, since=boot2,
               what="our driver's attach after the reboot")
    a.send("start", until=r"io packet forwarding|Start forwarding|forwarding packets")
    fe.wait_link(up=True, timeout=120)
    _round(a, fe, fe.stats(), a.stats(0))
    print(f"appliance: reboot and reconnect done after {time.monotonic() - t0:.1f}s")

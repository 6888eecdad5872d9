# SPDX-License-Identifier: BSD-3-Clause
"""The appliance VM (framework/appliance.py): a QEMU 7.2 guest under TCG,
its PCI function bound by the guest kernel's vfio-pci, Debian's dpdk-testpmd
on our librte_vhost.so.23 in the guest.

Until dpdk-vvu-device has its QEMU front (--qemu-proxy-fd), the function is
QEMU's "edu" device (1234:11e8), behind the same vIOMMU, at the same address
(0000:00:04.0), bound by the same /init, and the guest runs the very command
it will run on the VVU device: ``dpdk-testpmd --iova-mode=pa -a 0000:00:04.0
--vdev net_vhost0,iface=0000:00:04.0 -- -i``. Our driver (kernel VFIO) then
opens the function through EAL's VFIO container and refuses it: not a
virtio device.

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

Each test is bounded (DTS_APPLIANCE_TIMEOUT, 180 s; about 15 s on an idle
machine) and stops everything it started by pid, even on failure. It skips
only if QEMU cannot be installed.
"""

import hashlib
import os
import re
import time

from framework.appliance import EDU_ID, GUEST_PCI

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
# Real-device tests go here once dpdk-vvu-device has --qemu-proxy-fd (the QEMU
# proxy front). The launcher already supports it: appliance(vhost_user=SOCK,
# device_args=[...]) starts dpdk-vvu-device --qemu-proxy-fd A --vhost-user SOCK
# and QEMU with -device x-pci-proxy-dev,fd=B at 00:04.0; the guest binds
# 1af4:(0x1040 + --virtio-id) and runs the same testpmd command. A front-end on
# this host (framework/testpmd.frontend on SOCK) then gives link up in the guest
# and exact counts through the guest's io forwarding.
# ---------------------------------------------------------------------------

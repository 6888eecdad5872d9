#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""The appliance demo (usertools/vvu-quickstart.sh --appliance).

    host front-end   Debian's dpdk-testpmd, net_virtio_user0 (Debian's libraries)
          |  vhost-user over AF_UNIX
    device           dpdk-vvu-device --qemu-proxy-fd, behind QEMU 7.2's proxy device
          |  PCI (config space and BAR accesses trapped by QEMU, TCG)
    appliance VM     the guest kernel's vfio-pci; Debian's dpdk-testpmd on our
                     librte_vhost.so.23: net_vhost0,iface=<PCI>, io forwarding

It boots the appliance (usertools/vvu-appliance.sh, image from
usertools/vvu-guest-image.sh), connects a front-end, sends BURSTS x 32
packets through the guest and back, and prints the packets each way and
the time from the device accepting the front-end to the guest's link up.
Everything it started is stopped by pid. Exit 0 only if every packet came
back; otherwise one line saying what went wrong, and exit 1.

Usage: usertools/vvu-appliance-demo.py BUILD_DIR LOG_DIR [BURSTS]
"""

import os
import re
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "dts"))

# The dts framework reads these at import.
BUILD = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(REPO, "build")
os.environ.setdefault("VVU_BUILD_DIR", BUILD)

from framework import appliance as ap  # noqa: E402
from framework import proc  # noqa: E402
from framework import testpmd as tp  # noqa: E402

TIMEOUT = 240


def say(msg):
    print(f"vvu-quickstart: {msg}", flush=True)


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    logs = os.path.abspath(sys.argv[2])
    bursts = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    os.makedirs(logs, exist_ok=True)
    sock = os.path.join(logs, "fe.sock")
    started = []
    ok = False
    deadline = time.monotonic() + TIMEOUT
    try:
        say("building or reusing the appliance image (usertools/vvu-guest-image.sh)")
        image = ap.build_image(lib_dir=os.path.join(BUILD, "lib", "vhost"), build_dir=BUILD)
        say(f"image {image.path} ({'cache hit' if image.cached else 'built'}, "
            f"{image.seconds:.0f} s); booting the appliance VM under TCG")
        a = ap.Appliance(logs, image, vhost_user=sock, device_args=["-v"],
                         launcher_timeout=TIMEOUT + 60)
        started.append(a)
        a.start()
        a.wait_prompt(timeout=180)
        m = a.wait_for(r"vvu: attached (\S+) over (\S+):", 60, what="the driver's attach")
        say(f"guest: our driver attached {m.group(1)} over kernel VFIO ({m.group(2)})")
        a.send("start", until=r"io packet forwarding|Start forwarding|forwarding packets")

        fe = tp.frontend(logs, sock)
        started.insert(0, fe)
        t_connect = time.time()
        fe.start()
        fe.wait_link(up=True, timeout=120)
        a.wait_for(r"Port 0: link state change event", 60, what="the guest's link up")
        t_link = time.time()
        n = bursts * 32
        fe.send(f"start tx_first {bursts}", until=r"forwarding packets/burst")
        while True:
            st = fe.stats()
            if st.rx_packets >= n or time.monotonic() > deadline:
                break
            time.sleep(1)
        fe.send("stop", until=r"Done|Telling cores to stop")
        g = a.stats(0)
        say(f"front-end -> appliance: {st.tx_packets} sent, {g.rx_packets} received")
        say(f"appliance -> front-end: {g.tx_packets} forwarded, {st.rx_packets} received")
        say(f"front-end connect -> link up: {1000 * (t_link - t_connect):.0f} ms "
            "(includes the guest's polling and TCG)")
        ok = st.tx_packets == n and g.rx_packets == n and g.tx_packets == n and \
            st.rx_packets == n
        if not ok:
            say(f"FAILED: expected {n} packets each way")
    except (ap.ApplianceError, tp.TestPmdError) as e:
        say(f"FAILED: {str(e).splitlines()[0]} (logs: {logs})")
    finally:
        proc.finish_all(started, not ok)
    if ok:
        say(f"OK: {n} packets each way through the appliance VM")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

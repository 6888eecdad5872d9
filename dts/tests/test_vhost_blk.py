# SPDX-License-Identifier: BSD-3-Clause
"""A storage back-end: DPDK's examples/vhost_blk, unmodified, on our library,
serving a QEMU guest's virtio-blk disk over both transports.

Peers:
  back-end   DPDK 22.11's examples/vhost_blk, built from Debian's dpdk-doc
             sources (/usr/share/dpdk/examples/vhost_blk) against Debian's
             headers (framework/hostile.py, build_vhost_blk), run on the
             library under test. Its disk is 128 MiB of its own memory; it
             registers <cwd>/vhost.socket (hard-coded) and answers GET_CONFIG
             from an rte_vhost_extern_callback_register() hook.
  front-end  QEMU 7.2 (TCG) with vhost-user-blk-pci, num-queues=1, split
             ring; the guest is Debian's cloud kernel with virtio_blk and a
             busybox /init (usertools/vvu-blk-guest-image.sh;
             framework/blk_guest.py).

Data check (the guest's /init): a write boot fills 4 MiB from /dev/urandom,
writes it at offset 1 MiB of /dev/vda with O_DIRECT and fsync, drops the page
cache, reads it back with O_DIRECT and compares sha256 digests; then the
guest powers off and a second boot (a new QEMU, a new guest: nothing of the
first one's memory is left) reads the range with O_DIRECT and must find the
digest the first boot printed. So the data went to the back-end's memory and
came back from it. After the write boot the harness also finds the pattern
(its first 32 bytes, then the whole run's sha256) exactly once in
vhost_blk's hugepage memory, read through /proc/<pid>/mem: its RAM disk (the
guest's memory, which vhost_blk maps too, has 4 KiB pages and is not
searched). The disk the guest sees must have vhost_blk's size
(262144 sectors), which only its GET_CONFIG hook tells.

test_af_unix_guest_data_survives_reboot
    QEMU connects to vhost_blk's socket. Then, as the negative control that
    shows the check can fail, vhost_blk is restarted (a fresh, zeroed disk)
    and a read boot must report FAIL; the pattern is not in the fresh
    vhost_blk's memory.
test_vvu_guest_data_survives_reboot
    QEMU connects to dpdk-vvu-device's vhost-user socket; vhost_blk, still
    unmodified, reaches the device over vfio-user: VHOST_VVU_PATH_MAP maps
    the path it registers (<cwd>/vhost.socket) to vfio-user:<device socket>,
    and no socket file appears at the registered path. vhost_blk starts
    first and waits for the device, which starts second.
test_af_unix_packed_ring_with_the_examples_inflight_check_fixed
    Unmodified, vhost_blk serves no packed-ring request (QEMU's packed=on; the
    guest hangs on its first one), on Debian's library as on ours: it tests
    the INFLIGHT_SHMFD protocol feature in the virtio features, never
    believes inflight tracking is on, and so never sets its packed-ring wrap
    counters. This test builds a copy with that one line testing the
    protocol features instead (framework/blk_guest.py), and a packed-ring
    guest's write boot must pass over AF_UNIX: the packed inflight API
    (rte_vhost_get_vhost_ring_inflight, rte_vhost_get_vring_base_from_inflight,
    rte_vhost_set_inflight_desc_packed and friends) against QEMU's inflight
    area.

Not tested: packed rings over VVU (no inflight there, so even the fixed copy
would never set its wrap counters); more than one queue (vhost_blk serves
one); inflight resubmission after a back-end restart. Over AF_UNIX QEMU sets
up inflight tracking (GET/SET_INFLIGHT_FD reach the library); over VVU the
device masks INFLIGHT_SHMFD, so QEMU runs without it. About 50 s to a minute
in all on an idle 2-CPU machine (six boots).
"""

import os
import re
import signal

import pytest

from framework import blk_guest
from framework.blk_guest import BlkGuest
from framework.hostile import VHOST_BLK_SOCKET, VHOST_BLK_SRC, VhostBlk
from framework.proc import Started
from framework.vvu import DEVICE_BIN, VvuDevice

# vhost_blk's hard-coded disk: 32768 blocks of 4096 bytes, in 512-byte sectors.
VHOST_BLK_SECTORS = 32768 * 4096 // 512
# Both tests boot the guest two or three times.
BLK_TEST_TIMEOUT_S = int(os.environ.get("DTS_BLK_TEST_TIMEOUT", "300"))
# Ready lines of vhost_blk on our library.
VVU_WAITING = r"waiting for the device at "
VVU_ATTACHED = r"vvu: attached .* over vfio-user"


@pytest.fixture(scope="module")
def blk_image():
    why = blk_guest.missing()
    if why:
        pytest.skip(why)
    return blk_guest.build_image()


@pytest.fixture
def procs(request, topo):
    """Processes ended by pid at the end of the test (killed if it failed),
    last started first."""
    signal.alarm(BLK_TEST_TIMEOUT_S)  # conftest's teardown cancels it
    with Started(request, dir=os.path.realpath(os.path.dirname(topo.sock))) as started:
        yield started


def boot(procs, image, topo, sock, mode, name, digest=None):
    return procs.add(BlkGuest(image, topo.logs, sock, mode, digest=digest, name=name)).run()


def check_written(report):
    assert report.sectors == VHOST_BLK_SECTORS, (
        f"the guest's disk has {report.sectors} sectors, vhost_blk's GET_CONFIG says "
        f"{VHOST_BLK_SECTORS}:\n{report.lines()}")
    assert report.verdict == "PASS" and report.written and report.read == report.written, (
        f"write boot:\n{report.lines()}")


def check_in_backend(blk, report):
    """The pattern the guest wrote is in vhost_blk's own (hugepage) memory,
    once: its RAM disk. The guest's memory, which vhost_blk maps too, is not
    searched."""
    assert report.head is not None and report.length, f"write boot:\n{report.lines()}"
    found = blk_guest.find_in_hugepages(blk.pid, report.head, report.length, report.written)
    assert len(found) == 1, (
        f"the {report.length}-byte pattern (sha256 {report.written}) is "
        f"{len(found)} times in vhost_blk's hugepage memory, expected once (its RAM disk)")


def check_read(report, digest):
    assert report.verdict == "PASS" and report.read == digest, (
        f"read boot (expected {digest}):\n{report.lines()}")


def start_blk(procs, exe, topo, name="vhost_blk", **kw):
    blk = procs.add(VhostBlk(exe, topo.logs, procs.dir, topo.lib.dir, name=name, **kw))
    # The library's debug lines name each message it reads (both libraries:
    # "read message [VHOST_USER_]GET_INFLIGHT_FD").
    blk.argv.append("--log-level=lib.vhost.*:debug")
    return blk


def test_af_unix_guest_data_survives_reboot(topo, procs, hugepages, vhost_blk_exe, blk_image):
    blk = start_blk(procs, vhost_blk_exe, topo).start()
    assert blk.mapped_vhost_libraries() == {topo.lib.path}, (
        f"vhost_blk maps {blk.mapped_vhost_libraries()}, expected only {topo.lib.path}")

    first = boot(procs, blk_image, topo, blk.sock, "write", "guest-write")
    check_written(first)
    check_in_backend(blk, first)
    second = boot(procs, blk_image, topo, blk.sock, "read", "guest-read", first.written)
    check_read(second, first.written)
    assert blk.alive() and "New Device" in blk.output, blk.tail()
    # QEMU set up inflight tracking (vhost_blk offers INFLIGHT_SHMFD).
    assert re.search(r"read message (VHOST_USER_)?SET_INFLIGHT_FD", blk.output), blk.tail()

    # Negative control: a fresh vhost_blk has a zeroed disk, so the same
    # check must now fail.
    assert blk.stop() is not None, "vhost_blk did not exit on SIGINT"
    assert not os.path.exists(blk.sock), "vhost_blk left its socket file"
    fresh = start_blk(procs, vhost_blk_exe, topo, name="vhost_blk-fresh").start()
    control = boot(procs, blk_image, topo, fresh.sock, "read", "guest-control", first.written)
    assert control.verdict == "FAIL" and control.read not in (None, first.written), (
        f"a fresh vhost_blk returned the earlier data:\n{control.lines()}")
    assert not blk_guest.find_in_hugepages(fresh.pid, first.head, first.length,
                                           first.written), (
        "the earlier pattern is in a fresh vhost_blk's memory")


def test_af_unix_packed_ring_with_the_examples_inflight_check_fixed(topo, procs, hugepages,
                                                                   vhost_blk_exe, blk_image):
    exe = blk_guest.build_vhost_blk_inflight_fixed(os.path.dirname(vhost_blk_exe))
    if exe is None:
        pytest.skip(f"{VHOST_BLK_SRC}/vhost_blk.c has no line {blk_guest.INFLIGHT_CHECK!r}")
    blk = start_blk(procs, exe, topo).start()
    report = procs.add(BlkGuest(blk_image, topo.logs, blk.sock, "write", name="guest-packed",
                                packed=True)).run()
    check_written(report)
    check_in_backend(blk, report)
    assert blk.alive(), blk.tail()
    # Inflight tracking set up, and the example read its packed vring state
    # through rte_vhost_get_vhost_ring_inflight() and
    # rte_vhost_get_vring_base_from_inflight() (it asserts on both).
    assert re.search(r"read message (VHOST_USER_)?SET_INFLIGHT_FD", blk.output), blk.tail()


def test_vvu_guest_data_survives_reboot(topo, procs, hugepages, vhost_blk_exe, blk_image):
    if topo.lib.name != "ours":
        pytest.skip("the VVU transport exists only in our librte_vhost.so.23")
    if not os.path.isfile(DEVICE_BIN):
        pytest.fail(f"{DEVICE_BIN} not built")
    vfu_sock = os.path.join(procs.dir, "vfu.sock")
    fe_sock = os.path.join(procs.dir, "fe.sock")
    # BAR2 holds the guest's 256 MiB (the default, 4G, would do as well).
    registered = os.path.join(procs.dir, VHOST_BLK_SOCKET)
    blk = start_blk(procs, vhost_blk_exe, topo, env_extra={
        "VHOST_VVU_PATH_MAP": f"{registered}=vfio-user:{vfu_sock}"})
    # vhost_blk first: it waits for the device, retrying every second.
    blk.start(ready=VVU_WAITING)
    dev = procs.add(VvuDevice(topo.logs, vfu_sock, fe_sock, shm_size="512M", queues=1))
    dev.start()
    blk.wait_log(VVU_ATTACHED, 30)
    assert blk.mapped_vhost_libraries() == {topo.lib.path}, (
        f"vhost_blk maps {blk.mapped_vhost_libraries()}, expected only {topo.lib.path}")
    assert f"served at vfio-user:{vfu_sock} (VHOST_VVU_PATH_MAP)" in blk.output, blk.tail()
    assert not os.path.exists(registered), "a socket file at the mapped path"

    first = boot(procs, blk_image, topo, fe_sock, "write", "guest-write")
    check_written(first)
    check_in_backend(blk, first)
    second = boot(procs, blk_image, topo, fe_sock, "read", "guest-read", first.written)
    check_read(second, first.written)
    assert blk.alive() and "New Device" in blk.output, blk.tail()
    assert dev.alive() and "front-end connected" in dev.output, dev.tail()
    # The device carries no inflight fds (phase 1): QEMU's vhost-user-blk runs
    # without inflight tracking, and GET_CONFIG reached vhost_blk's hook.
    assert "INFLIGHT_FD" not in blk.output, blk.tail()
    assert "read message GET_CONFIG" in blk.output, blk.tail()

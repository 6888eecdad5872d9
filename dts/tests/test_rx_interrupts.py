# SPDX-License-Identifier: BSD-3-Clause
"""A back-end that sleeps on Rx interrupts, over AF_UNIX and over VVU.

Back-end: app/test/rx_intr (dpdk-test-vhost-rx-intr) on the library under
test: the public rte_vhost API only; it enables guest notifications on the
front-end's TX vring and waits in epoll on the vring's kickfd
(rte_vhost_get_vhost_vring), draining it with rte_vhost_dequeue_burst when
woken. Over AF_UNIX the kickfd is the front-end's eventfd; over VVU it is the
driver's eventfd behind the kick's MSI-X vector (the device turns each kick
into that interrupt).

Front-end: Debian's testpmd, net_virtio_user, rxonly; ``start tx_first 4``
sends exactly 4 x 32 packets and the back-end sends nothing back.

Test plan
  1. test_rx_interrupt_backend_af_unix: after the link is up the back-end
     sleeps (no wake-up in an idle second); the 128 packets arrive, all of
     them, through at least one and at most 128 wake-ups; idle again, no
     wake-up and next to no CPU time (a poller would burn its whole core).
  2. test_rx_interrupt_backend_vvu: the same through dpdk-vvu-device.
"""

import os
import re
import signal
import subprocess
import time

import pytest

from framework import proc
from framework.vvu import BUILD_DIR

RX_INTR_BIN = os.path.join(BUILD_DIR, "app", "test", "rx_intr", "dpdk-test-vhost-rx-intr")
PACKETS = 4 * 32
IDLE_S = 2
# A sleeping back-end uses a few ms of CPU per second; a polling one ~1000.
IDLE_CPU_MS_MAX = 150 * IDLE_S
STATS = re.compile(r"stats wakeups=(\d+) packets=(\d+) empty=(\d+) cpu_ms=(\d+)")


class RxIntrBackend(proc.Process):
    """dpdk-test-vhost-rx-intr on the library under test."""

    def __init__(self, log_dir, iface, lib_dir, seconds=90):
        super().__init__("rx-intr-backend", os.path.join(log_dir, "rx-intr-backend.log"))
        self.argv = [RX_INTR_BIN, "-l", "1", "--no-pci", "--in-memory", "-m", "256",
                     "--file-prefix", f"rxintr{os.getpid()}",
                     "--log-level=lib.vhost.*:info", "--",
                     "--iface", iface, "--seconds", str(seconds)]
        env = dict(os.environ)
        if lib_dir is not None:
            env["LD_LIBRARY_PATH"] = lib_dir
        self.env = env
        self._log = None

    def start(self):
        if not os.path.isfile(RX_INTR_BIN):
            pytest.fail(f"{RX_INTR_BIN} not built")
        self._log = open(self.log_path, "ab")
        self.popen(self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=self._log,
                   stderr=subprocess.STDOUT)
        return self

    def _reap(self):
        code = super()._reap()
        if self._log is not None and not self.alive():
            self._log.close()
            self._log = None
        return code

    def wait_output(self, pattern, timeout=30, count=1):
        deadline = time.monotonic() + timeout
        while len(re.findall(pattern, self.output, re.M)) < count:
            if not self.alive():
                raise AssertionError(f"back-end exited ({self.exit_code}):\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} within {timeout}s:\n{self.tail()}")
            time.sleep(0.05)

    def stats(self):
        """(wakeups, packets, empty, cpu_ms) now (SIGUSR1 makes it print them)."""
        n = len(STATS.findall(self.output))
        self.signal(signal.SIGUSR1)
        self.wait_output(STATS.pattern, timeout=10, count=n + 1)
        return tuple(int(x) for x in STATS.findall(self.output)[-1])


@pytest.fixture
def rx_backend(request):
    started = []

    def make(log_dir, iface, lib_dir):
        started.append(RxIntrBackend(log_dir, iface, lib_dir))
        return started[-1]

    try:
        yield make
    finally:
        proc.finish_all(started, proc.call_failed(request))


def check_sleeps_and_wakes(be, fe):
    """The plan above, once the front-end's link is up."""
    be.wait_output(r"^ready$")
    time.sleep(1)  # let the handshake's own kicks settle
    w0, p0, _, _ = be.stats()
    time.sleep(1)
    w1, p1, _, _ = be.stats()
    assert (w1, p1) == (w0, p0), f"woke up {w1 - w0} times with no traffic"

    fe.send("start tx_first 4", until=r"forwarding packets/burst")
    deadline = time.monotonic() + 20
    while True:
        w2, p2, empty, c2 = be.stats()
        if p2 - p1 >= PACKETS or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    fe.send("stop", until=r"Done|Telling cores to stop")
    assert p2 - p1 == PACKETS, f"received {p2 - p1} packets, expected {PACKETS}"
    assert 1 <= w2 - w1 <= PACKETS, f"{w2 - w1} wake-ups for {PACKETS} packets"

    time.sleep(IDLE_S)
    w3, p3, _, c3 = be.stats()
    assert (w3, p3) == (w2, p2), f"woke up {w3 - w2} times after the traffic stopped"
    assert c3 - c2 <= IDLE_CPU_MS_MAX, (
        f"{c3 - c2} ms of CPU in {IDLE_S} s idle: the back-end is not sleeping")
    print(f"wake-ups {w2 - w1} for {PACKETS} packets ({empty} found nothing); "
          f"idle CPU {c3 - c2} ms in {IDLE_S} s")


def test_rx_interrupt_backend_af_unix(topo, rx_backend):
    be = rx_backend(topo.logs, topo.sock, topo.lib.dir).start()
    topo.wait_socket()
    fe = topo.frontend()
    fe.start()
    fe.wait_link(up=True, timeout=60)
    check_sleeps_and_wakes(be, fe)


def test_rx_interrupt_backend_vvu(vvu, rx_backend):
    dev = vvu.device(client=False)
    dev.start()
    be = rx_backend(vvu.logs, vvu.iface, vvu.lib.dir).start()
    fe = vvu.frontend()
    fe.start()
    fe.wait_link(up=True, timeout=60)
    check_sleeps_and_wakes(be, fe)

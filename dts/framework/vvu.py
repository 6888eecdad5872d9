# SPDX-License-Identifier: BSD-3-Clause
"""The VVU topology: dpdk-vvu-device between a front-end and a back-end.

    front-end: Debian dpdk-testpmd, net_virtio_user0 (Debian's libraries)
        |  vhost-user over AF_UNIX  (FE_SOCK)
    device:    our dpdk-vvu-device (a vfio-user server)
        |  vfio-user over AF_UNIX   (VFU_SOCK)
    back-end:  Debian dpdk-testpmd, net_vhost0,iface=vfio-user:VFU_SOCK,
               LD_LIBRARY_PATH -> our librte_vhost.so.23 (the VVU driver)

:class:`VvuDevice` runs one dpdk-vvu-device process (a
:class:`framework.proc.Process`): started with its output in a log file,
stopped or killed by pid, paused (SIGSTOP) and resumed.

The :func:`vvu` fixture builds on dts/conftest.py's ``topo`` (hugepages,
testpmd, library under test, log dir, short socket dir, per-test timeout)
and kills every process it started, by pid, at the end of the test, even on
failure. dts/conftest.py loads this module as a plugin: every suite has it.
"""

import os
import re
import signal
import subprocess
import time

import pytest

from . import telemetry
from . import testpmd as tp
from .proc import Process, call_failed, finish_all

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.path.abspath(os.environ.get("VVU_BUILD_DIR", os.path.join(REPO, "build")))
DEVICE_BIN = os.environ.get(
    "VVU_DEVICE", os.path.join(BUILD_DIR, "app", "vvu-device", "dpdk-vvu-device"))
# A test that drives the three processes through several restarts needs more
# than conftest's default per-test limit; still bounded.
LIFECYCLE_TIMEOUT = int(os.environ.get("DTS_VVU_TEST_TIMEOUT", "240"))
# The roles of the topology, in the order connect() starts them by default:
# the device first, so that the back-end attaches at once and the front-end
# finds the device's socket.
DEVICE, BACKEND, FRONTEND = "device", "backend", "frontend"
DEFAULT_ORDER = (DEVICE, BACKEND, FRONTEND)


class VvuError(Exception):
    """The device did not do what was expected in time, or died."""


class VvuDevice(Process):
    """One dpdk-vvu-device process. Its telemetry socket has a prefix of its
    own (``self.prefix``, for framework.telemetry.query), removed when it is
    reaped, also after a SIGKILL."""

    def __init__(self, log_dir, vfu_sock, fe_sock, *, name="device", client=False,
                 shm_size=None, queues=None, virtio_id=None, extra=()):
        super().__init__(name, os.path.join(log_dir, f"{name}.log"))
        self.vfu_sock = vfu_sock
        self.fe_sock = fe_sock
        self.client = client
        self.prefix = f"vvu{os.getpid()}{name}{int(time.time() * 1000) % 100000}"
        self.argv = [DEVICE_BIN, "--vfio-user", vfu_sock, "--vhost-user", fe_sock, "-v",
                     "--file-prefix", self.prefix]
        if client:
            self.argv.append("--client")
        if shm_size is not None:
            self.argv += ["--shm-size", str(shm_size)]
        if queues is not None:
            self.argv += ["--queues", str(queues)]
        if virtio_id is not None:
            self.argv += ["--virtio-id", str(virtio_id)]
        self.argv += list(extra)
        self._log = None
        self.stopped = False  # SIGSTOPped by us

    def start(self, timeout=10):
        """Spawn and wait until its sockets exist (the vfio-user one always;
        the vhost-user one too in server mode)."""
        if not os.path.isfile(DEVICE_BIN):
            raise VvuError(f"{DEVICE_BIN} not built")
        self._log = open(self.log_path, "ab")
        self._log.write(("# " + " ".join(self.argv) + "\n").encode())
        self._log.flush()
        self.popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
                   stderr=subprocess.STDOUT)
        self.wait_sockets(timeout)
        return self

    def wait_sockets(self, timeout=10):
        want = [self.vfu_sock] + ([] if self.client else [self.fe_sock])
        deadline = time.monotonic() + timeout
        while not all(os.path.exists(p) for p in want):
            if not self.alive():
                raise VvuError(f"{self.name} exited ({self.exit_code}) before creating "
                               f"its sockets:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise VvuError(f"{self.name}: {want} not created within {timeout}s:\n"
                               f"{self.tail()}")
            time.sleep(0.05)

    def pause(self):
        """SIGSTOP: the device stops answering anything."""
        self.signal(signal.SIGSTOP)
        self.stopped = True

    def resume(self):
        self.signal(signal.SIGCONT)
        self.stopped = False

    def stop(self, timeout=5):
        """SIGTERM (a clean shutdown), SIGKILL if it does not exit; reap."""
        if self.alive() and self.stopped:
            self.resume()  # a stopped process would not act on SIGTERM
        return super().stop(timeout)

    def _reap(self):
        if self._log and not self._log.closed:
            self._log.close()
        code = super()._reap()
        if code is not None:
            telemetry.remove_runtime_dir(self.prefix)
        return code

    def telemetry(self, *commands):
        """The values of telemetry commands (Debian's dpdk-telemetry.py)."""
        return telemetry.query(self.prefix, list(commands))

    def wait_log(self, pattern, timeout=10, since=0):
        """Wait until regex pattern appears in the log after offset since."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.output, since)
            if m:
                return m
            if time.monotonic() > deadline:
                raise VvuError(f"{self.name}: no {pattern!r} within {timeout}s:\n{self.tail()}")
            time.sleep(0.1)

    def mark(self):
        return len(self.output)


@pytest.fixture
def vvu(request, topo):
    """The three-process VVU topology on top of conftest's ``topo``.

    vvu.device(**kw), vvu.backend(**kw), vvu.frontend(**kw) create (not start)
    the processes; everything created is killed by pid at the end.
    """
    if topo.lib.name != "ours":
        pytest.skip("the VVU transport exists only in our librte_vhost.so.23")
    if not os.path.isfile(DEVICE_BIN):
        pytest.fail(f"{DEVICE_BIN} not built")
    sock_dir = os.path.dirname(topo.sock)
    devices, peers = [], []
    signal.alarm(LIFECYCLE_TIMEOUT)  # conftest's teardown cancels it

    class Vvu:
        logs = topo.logs
        lib = topo.lib
        vfu_sock = os.path.join(sock_dir, "vfu.sock")
        fe_sock = os.path.join(sock_dir, "fe.sock")
        iface = "vfio-user:" + os.path.join(sock_dir, "vfu.sock")

        @staticmethod
        def device(name=DEVICE, **kw):
            d = VvuDevice(topo.logs, Vvu.vfu_sock, Vvu.fe_sock, name=name, **kw)
            devices.append(d)
            return d

        @staticmethod
        def backend(name=BACKEND, queues=1):
            peers.append(tp.backend(topo.logs, Vvu.iface, lib_dir=topo.lib.dir,
                                    queues=queues, name=name))
            return peers[-1]

        @staticmethod
        def frontend(name=FRONTEND, **kw):
            peers.append(tp.frontend(topo.logs, Vvu.fe_sock, name=name, **kw))
            return peers[-1]

    try:
        yield Vvu
    finally:
        # The peers first: a testpmd quits cleanly while its device still runs.
        finish_all(peers + devices, call_failed(request))


def connect(vvu, *, queues=1, packed=False, mrg_rxbuf=True, order=DEFAULT_ORDER,
            shm_size=None, client=True, timeout=60):
    """Start the device, the back-end and the front-end in order (a tuple of
    DEVICE, BACKEND, FRONTEND); return (device, frontend, backend) once the
    back-end forwards and both links are up. client: the device connects to a
    server=1 front-end (so the front-end may start first and survive the
    device's restarts)."""
    if sorted(order) != sorted(DEFAULT_ORDER):
        raise ValueError(f"order must name {DEFAULT_ORDER} once each, not {order}")
    dev = vvu.device(client=client, shm_size=shm_size)
    be = vvu.backend(queues=queues)
    fe = vvu.frontend(server=client, queues=queues, packed=packed, mrg_rxbuf=mrg_rxbuf)
    for role in order:
        if role == DEVICE:
            dev.start()
        elif role == BACKEND:
            be.start()
            be.start_forwarding()
        else:
            # A server=1 front-end's init waits for the device's connection;
            # a client one needs the device's socket.
            fe.spawn()
    fe.wait_ready(timeout)
    tp.wait_links((be, fe), timeout=timeout)
    return dev, fe, be

# SPDX-License-Identifier: BSD-3-Clause
"""The VVU topology: dpdk-vvu-device between a front-end and a back-end.

    front-end: Debian dpdk-testpmd, net_virtio_user0 (Debian's libraries)
        |  vhost-user over AF_UNIX  (FE_SOCK)
    device:    our dpdk-vvu-device (a vfio-user server)
        |  vfio-user over AF_UNIX   (VFU_SOCK)
    back-end:  Debian dpdk-testpmd, net_vhost0,iface=vfio-user:VFU_SOCK,
               LD_LIBRARY_PATH -> our librte_vhost.so.23 (the VVU driver)

:class:`VvuDevice` runs one dpdk-vvu-device process: started with its
output in a log file, stopped or killed by pid, paused (SIGSTOP) and resumed.
:func:`fd_count` / :func:`fd_table` read /proc/PID/fd (leak checks).

The :func:`vvu` fixture builds on dts/conftest.py's ``topo`` (hugepages,
testpmd, library under test, log dir, short socket dir, per-test timeout)
and kills every process it started, by pid, at the end of the test, even on
failure. Import it into a test module: ``from framework.vvu import vvu``.
"""

import os
import re
import signal
import subprocess
import threading
import time

import pytest

from . import testpmd as tp

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.path.abspath(os.environ.get("VVU_BUILD_DIR", os.path.join(REPO, "build")))
DEVICE_BIN = os.environ.get(
    "VVU_DEVICE", os.path.join(BUILD_DIR, "app", "vvu-device", "dpdk-vvu-device"))
# A test that drives the three processes through several restarts needs more
# than conftest's default per-test limit; still bounded.
LIFECYCLE_TIMEOUT = int(os.environ.get("DTS_VVU_TEST_TIMEOUT", "240"))
LIVE_DEVICES = set()
_LOCK = threading.Lock()


class VvuError(Exception):
    """The device did not do what was expected in time, or died."""


def fd_table(pid):
    """{fd: target} of /proc/PID/fd (targets as readlink shows them)."""
    out = {}
    base = f"/proc/{pid}/fd"
    for name in os.listdir(base):
        try:
            out[int(name)] = os.readlink(os.path.join(base, name))
        except OSError:
            pass  # closed while we looked
    return out


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_kinds(pid):
    """A histogram of fd targets with numbers stripped ("socket:", "anon_inode:[eventfd]",
    "/memfd:..."): what kind of fd leaked, for messages."""
    kinds = {}
    for target in fd_table(pid).values():
        k = re.sub(r"\[\d+\]|\d+", "", target)
        kinds[k] = kinds.get(k, 0) + 1
    return kinds


def wait_fd_count(pid, want, timeout=15):
    """Wait until the fd count of pid is want (fds are closed asynchronously by
    event loops); return the last count seen."""
    deadline = time.monotonic() + timeout
    while True:
        n = fd_count(pid)
        if n == want or time.monotonic() > deadline:
            return n
        time.sleep(0.2)


def _die_with_parent():
    tp._die_with_parent()  # pylint: disable=protected-access


class VvuDevice:
    """One dpdk-vvu-device process."""

    def __init__(self, log_dir, vfu_sock, fe_sock, *, name="device", client=False,
                 shm_size=None, queues=None, virtio_id=None, extra=()):
        self.name = name
        self.vfu_sock = vfu_sock
        self.fe_sock = fe_sock
        self.client = client
        self.log_path = os.path.join(log_dir, f"{name}.log")
        self.argv = [DEVICE_BIN, "--vfio-user", vfu_sock, "--vhost-user", fe_sock, "-v"]
        if client:
            self.argv.append("--client")
        if shm_size is not None:
            self.argv += ["--shm-size", str(shm_size)]
        if queues is not None:
            self.argv += ["--queues", str(queues)]
        if virtio_id is not None:
            self.argv += ["--virtio-id", str(virtio_id)]
        self.argv += list(extra)
        self.proc = None
        self._log = None
        self.stopped = False  # SIGSTOPped by us

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def exit_code(self):
        return None if self.proc is None else self.proc.poll()

    def start(self, timeout=10):
        """Spawn and wait until its sockets exist (the vfio-user one always;
        the vhost-user one too in server mode)."""
        if not os.path.isfile(DEVICE_BIN):
            raise VvuError(f"{DEVICE_BIN} not built")
        self._log = open(self.log_path, "ab")
        self._log.write(("# " + " ".join(self.argv) + "\n").encode())
        self._log.flush()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        with _LOCK:
            LIVE_DEVICES.add(self)
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

    def _signal(self, sig):
        try:
            os.kill(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def pause(self):
        """SIGSTOP: the device stops answering anything."""
        self._signal(signal.SIGSTOP)
        self.stopped = True

    def resume(self):
        self._signal(signal.SIGCONT)
        self.stopped = False

    def stop(self, timeout=5):
        """SIGTERM (a clean shutdown), SIGKILL if it does not exit; reap."""
        if self.alive():
            if self.stopped:
                self.resume()
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(10)
        return self._reap()

    def kill(self):
        """SIGKILL (a crash as both peers see it); reap."""
        if self.alive():
            self._signal(signal.SIGKILL)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        return self._reap()

    def _reap(self):
        if self.proc is None:
            return None
        code = self.proc.poll()
        if self._log and not self._log.closed:
            self._log.close()
        with _LOCK:
            LIVE_DEVICES.discard(self)
        return code

    @property
    def output(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def tail(self, lines=40):
        return "\n".join(self.output.splitlines()[-lines:])

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


def kill_all_devices():
    with _LOCK:
        devs = list(LIVE_DEVICES)
    for d in devs:
        d.kill()


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
        def device(name="device", **kw):
            d = VvuDevice(topo.logs, Vvu.vfu_sock, Vvu.fe_sock, name=name, **kw)
            devices.append(d)
            return d

        @staticmethod
        def backend(name="backend", queues=1):
            p = tp.backend(topo.logs, Vvu.iface, lib_dir=topo.lib.dir, queues=queues,
                           name=name)
            peers.append(p)
            return p

        @staticmethod
        def frontend(name="frontend", **kw):
            p = tp.frontend(topo.logs, Vvu.fe_sock, name=name, **kw)
            peers.append(p)
            return p

    try:
        yield Vvu
    finally:
        failed = getattr(request.node, "rep_call", None) is None or request.node.rep_call.failed
        for p in peers:
            if failed:
                p.kill()
            else:
                p.quit(timeout=10)
        for d in devices:
            if failed:
                d.kill()
            else:
                d.stop()
        if failed:
            for p in peers:
                if p.proc is not None:
                    print(f"----- {p.name} (pid {p.pid}, exit {p.exit_code}), "
                          f"last lines of {p.log_path}:\n{p.tail(60)}")
            for d in devices:
                if d.proc is not None:
                    print(f"----- {d.name} (pid {d.pid}, exit {d.exit_code}), "
                          f"last lines of {d.log_path}:\n{d.tail(60)}")


def connect(vvu, *, queues=1, packed=False, mrg_rxbuf=True, order="dbf", shm_size=None,
            client=True, timeout=60):
    """Start device (d), back-end (b) and front-end (f) in the given order;
    return (device, frontend, backend) once the back-end forwards and both
    links are up. client: the device connects to a server=1 front-end (so the
    front-end may start first and survive the device's restarts)."""
    dev = vvu.device(client=client, shm_size=shm_size)
    be = vvu.backend(queues=queues)
    fe = vvu.frontend(server=client, queues=queues, packed=packed, mrg_rxbuf=mrg_rxbuf)
    for who in order:
        if who == "d":
            dev.start()
        elif who == "b":
            be.start()
            be.start_forwarding()
        else:
            # A server=1 front-end's init waits for the device's connection;
            # a client one needs the device's socket.
            fe.spawn()
    fe.wait_ready(timeout)
    be.wait_link(up=True, timeout=timeout)
    fe.wait_link(up=True, timeout=timeout)
    return dev, fe, be

# SPDX-License-Identifier: BSD-3-Clause
"""Hostile front-ends and DPDK's examples/vhost_blk, for test_hostile_frontends.py.

:class:`Hostile` is one ``dpdk-hostile-frontend`` process (app/test/hostile_frontend,
built with ``-Dtests=true``): a vhost-user front-end that misbehaves on purpose
and reports each step it reaches as a line ``hostile: [T ms] ...``.

:class:`VhostBlk` is one DPDK ``examples/vhost_blk`` process, built by
:func:`build_vhost_blk` from Debian's ``dpdk-doc`` sources
(``/usr/share/dpdk/examples/vhost_blk``) against the installed DPDK headers
(``pkg-config libdpdk``: the same API as ours) and run with ``LD_LIBRARY_PATH``
pointing at the librte_vhost.so.23 under test. It serves
``<cwd>/vhost.socket`` (its source hard-codes the name).

Both are :class:`framework.proc.Process`: their output goes to a log file, they
die with the test runner and are stopped by pid.
"""

import os
import re
import shutil
import signal
import subprocess
import time

from .proc import KILL_WAIT_S, Process, maps

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.path.abspath(os.environ.get("VVU_BUILD_DIR", os.path.join(REPO, "build")))
HOSTILE_BIN = os.environ.get(
    "VVU_HOSTILE_FRONTEND",
    os.path.join(BUILD_DIR, "app", "test", "hostile_frontend", "dpdk-hostile-frontend"))
VHOST_BLK_SRC = os.environ.get("VHOST_BLK_SRC", "/usr/share/dpdk/examples/vhost_blk")
VHOST_BLK_SOURCES = ("blk.c", "vhost_blk.c", "vhost_blk_compat.c")
VHOST_BLK_SOCKET = "vhost.socket"


class HostileError(Exception):
    """A process did not do what was expected in time, or died."""


class LoggedProcess(Process):
    """A non-interactive process whose stdout and stderr go to its log file."""

    def __init__(self, name, log_path, argv, *, env=None, cwd=None):
        super().__init__(name, log_path)
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self._log = None

    def start(self):
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        self._log = open(self.log_path, "ab")
        self._log.write(("# " + " ".join(self.argv) + "\n").encode())
        self._log.flush()
        self.popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
                   stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd)
        return self

    def _reap(self):
        if self._log and not self._log.closed:
            self._log.close()
        return super()._reap()

    def mark(self):
        return len(self.output)

    def wait_log(self, pattern, timeout=10, since=0, what=None):
        """Wait until regex pattern appears in the log after offset since;
        raise HostileError (with the log's end) if it does not, or if the
        process exited without printing it."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            out = self.output
            m = rx.search(out, since)
            if m:
                return m
            if not self.alive():
                raise HostileError(f"{self.name} exited ({self.exit_code}) without "
                                   f"{what or pattern!r}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise HostileError(f"{self.name}: no {what or pattern!r} within {timeout}s:\n"
                                   f"{self.tail()}")
            time.sleep(0.05)

    def wait_exit(self, timeout):
        """Its exit code once it exits by itself within timeout, else None."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


class Hostile(LoggedProcess):
    """One dpdk-hostile-frontend run: mode and its arguments (see its source)."""

    def __init__(self, log_dir, mode, sock, *args, name="hostile"):
        super().__init__(name, os.path.join(log_dir, f"{name}.log"),
                         [HOSTILE_BIN, mode, sock, *map(str, args)])

    def start(self):
        if not os.path.isfile(HOSTILE_BIN):
            raise HostileError(f"{HOSTILE_BIN} not built (meson setup -Dtests=true)")
        return super().start()

    def wait_step(self, pattern, timeout=15, since=0):
        """Wait for its line ``hostile: [T ms] <pattern>``."""
        return self.wait_log(r"^hostile: \[\d+ ms\] " + pattern, timeout, since,
                             what=f"hostile: {pattern}")

    def stop(self, timeout=5):
        return self.escalate(((signal.SIGTERM, timeout), (signal.SIGKILL, KILL_WAIT_S)))


def build_vhost_blk(out_dir, src_dir=VHOST_BLK_SRC, exe_name="vhost-blk"):
    """Compile examples/vhost_blk (from src_dir) into out_dir/exe_name (again
    only if a source is newer); return its path. Raises HostileError if it
    fails; the caller skips if the sources are not installed."""
    exe = os.path.join(out_dir, exe_name)
    srcs = [os.path.join(src_dir, f) for f in VHOST_BLK_SOURCES]
    if os.path.isfile(exe) and all(os.path.getmtime(s) <= os.path.getmtime(exe)
                                   for s in srcs):
        return exe
    os.makedirs(out_dir, exist_ok=True)

    def pkg(*args):
        return subprocess.run(["pkg-config", *args, "libdpdk"], capture_output=True,
                              text=True, check=True).stdout.split()

    # As its Makefile builds it (asserts on: they are part of what it checks).
    argv = ["cc", "-O2", "-DALLOW_EXPERIMENTAL_API", *pkg("--cflags"), *srcs, "-o", exe,
            "-pthread", *pkg("--libs")]
    r = subprocess.run(["nice", *argv], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise HostileError(f"building vhost_blk failed:\n{' '.join(argv)}\n{r.stderr[-3000:]}")
    return exe


class VhostBlk(LoggedProcess):
    """examples/vhost_blk on the library under test, serving cwd/vhost.socket."""

    def __init__(self, exe, log_dir, sock_dir, lib_dir, *, name="vhost_blk", env_extra=None):
        self.prefix = f"vvu{os.getpid()}{name}{int(time.time() * 1000) % 100000}"
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        env.update(env_extra or {})
        if lib_dir:
            env["LD_LIBRARY_PATH"] = lib_dir
        else:
            env.pop("LD_LIBRARY_PATH", None)
        # 128 MiB of its RAM disk plus EAL: -m 256. Its worker thread pins
        # itself to CPU 0; its main thread only sleeps.
        argv = ["stdbuf", "-o0", "-e0", exe, "-l", "0", "--no-pci", "--in-memory",
                "--single-file-segments", "-m", "256", "--file-prefix", self.prefix]
        super().__init__(name, os.path.join(log_dir, f"{name}.log"), argv, env=env,
                         cwd=sock_dir)
        self.sock = os.path.join(sock_dir, VHOST_BLK_SOCKET)

    def start(self, timeout=60, ready=None):
        """Spawn it and wait for its socket, or, if ready (a regex) is given,
        for that line in its log instead (a path served over another
        transport creates no socket file)."""
        super().start()
        if ready is not None:
            self.wait_log(ready, timeout)
            return self
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.sock):
            if not self.alive():
                raise HostileError(f"{self.name} exited ({self.exit_code}) before creating "
                                   f"{self.sock}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise HostileError(f"{self.name}: {self.sock} not created within {timeout}s:"
                                   f"\n{self.tail()}")
            time.sleep(0.05)
        return self

    def stop(self, timeout=5):
        # SIGINT: its own handler destroys the device and unregisters the socket.
        return self.escalate(((signal.SIGINT, timeout), (signal.SIGKILL, KILL_WAIT_S)))

    def _reap(self):
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)
        return super()._reap()

    def mapped_vhost_libraries(self):
        return {path for _, _, path in maps(self.pid) if "/librte_vhost.so" in path}

# SPDX-License-Identifier: BSD-3-Clause
"""The processes a suite starts, and what /proc says about them.

:class:`Process` is one child process (a testpmd, a dpdk-vvu-device): spawned so
that it dies with the test runner, registered in :data:`LIVE` until it is
reaped, stopped by pid with a bounded escalation of signals, killed by pid.
:func:`kill_all` kills whatever is left (end of session, SIGTERM);
:func:`finish_all` ends a test's processes, gently if the test passed, and
prints their last lines if it failed; :class:`Started` does it for a fixture.

The /proc readers serve the leak checks: fd counts and tables of a pid, the
memory files a process holds or maps.
"""

import ctypes
import os
import re
import signal
import subprocess
import threading
import time

PR_SET_PDEATHSIG = 1
# How long a process gets to exit after SIGKILL before we stop waiting.
KILL_WAIT_S = 10

LIVE = set()
_LIVE_LOCK = threading.Lock()


def die_with_parent():
    """In the child before exec: SIGKILL it if the test runner dies, so that
    nothing outlives a killed pytest (the flag survives exec)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


class Process:
    """One child process of the suite, known by its name and pid.

    Subclasses build ``argv`` and ``log_path``, call :meth:`popen`, and extend
    :meth:`_reap` to close what they opened; :meth:`stop` is the clean way to
    end them, :meth:`kill` the crash.
    """

    # SIGPIPE ignored from exec on (inherited): a peer that writes to a
    # connection whose other end died gets EPIPE instead of dying, as QEMU
    # and Open vSwitch do; Debian's testpmd leaves SIGPIPE at its default.
    ignore_sigpipe = False

    def __init__(self, name, log_path):
        self.name = name
        self.log_path = log_path
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def exit_code(self):
        return None if self.proc is None else self.proc.poll()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def popen(self, argv, **kw):
        """Spawn argv (subprocess.Popen keywords in kw), dying with us."""
        def child():
            die_with_parent()
            if self.ignore_sigpipe:
                signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        self.proc = subprocess.Popen(argv, preexec_fn=child, **kw)
        with _LIVE_LOCK:
            LIVE.add(self)
        return self.proc

    def signal(self, sig):
        """Send sig by pid (a process that is gone already is fine)."""
        try:
            os.kill(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def escalate(self, steps):
        """For each (signal or None, seconds) in steps: send the signal, wait
        that long for the process to exit; stop at the first step it exits
        in. Then reap; return the exit code (None if it still runs)."""
        for sig, wait in steps:
            if not self.alive():
                break
            if sig is not None:
                self.signal(sig)
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        return self._reap()

    def stop(self, timeout=5):
        """A clean end: SIGTERM, then SIGKILL if it does not exit in time."""
        return self.escalate(((signal.SIGTERM, timeout), (signal.SIGKILL, KILL_WAIT_S)))

    def kill(self):
        """SIGKILL (a crash as its peers see it) and reap."""
        return self.escalate(((signal.SIGKILL, KILL_WAIT_S),))

    def finish(self, failed):
        """End of the test: stop it cleanly, or kill it if the test failed
        (a failed test's processes may be in any state)."""
        return self.kill() if failed else self.stop()

    def _reap(self):
        if self.proc is None:
            return None
        with _LIVE_LOCK:
            LIVE.discard(self)
        return self.proc.poll()

    @property
    def output(self):
        """What the process wrote so far (its log file)."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def tail(self, lines=40):
        return "\n".join(self.output.splitlines()[-lines:])

    def report(self, lines=60):
        """For a failed test's output: who it was and how its log ends."""
        return (f"----- {self.name} (pid {self.pid}, exit {self.exit_code}), "
                f"last lines of {self.log_path}:\n{self.tail(lines)}")


def go_away(p, how):
    """End p as a restart test asks: "sigkill" (a crash as its peers see it),
    anything else its clean exit (Process.stop: testpmd's quit, SIGTERM)."""
    return p.kill() if how == "sigkill" else p.stop()


def finish_all(procs, failed):
    """End every process of a test, in order (see Process.finish); if the
    test failed, print each one's report."""
    for p in procs:
        p.finish(failed)
    if failed:
        for p in procs:
            if p.proc is not None:
                print(p.report())


class Started:
    """A test's processes, ended by pid when the ``with`` block ends: by
    :func:`finish_all`, last started first (killed if the test failed). A
    fixture yields it from ``with Started(request, dir=...) as s``; keyword
    arguments become attributes (the sockets' directory, ...)."""

    def __init__(self, request, **attrs):
        self._request = request
        self._procs = []
        self.__dict__.update(attrs)

    def add(self, p):
        """Register p (a :class:`Process`) and return it."""
        self._procs.append(p)
        return p

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        finish_all(list(reversed(self._procs)), call_failed(self._request))
        return False


def kill_all():
    """SIGKILL every process this interpreter started and still runs."""
    with _LIVE_LOCK:
        procs = list(LIVE)
    for p in procs:
        p.kill()


def call_failed(request):
    """Whether the running test (pytest's request) failed or never ran its
    body (conftest's makereport hook records each phase on the item)."""
    rep = getattr(request.node, "rep_call", None)
    return rep is None or rep.failed


# ----- /proc ----------------------------------------------------------------

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


def min_fd_count(pid, secs):
    """The lowest fd count of pid seen over secs (sampled every 50 ms)."""
    low, end = fd_count(pid), time.monotonic() + secs
    while time.monotonic() < end:
        low = min(low, fd_count(pid))
        time.sleep(0.05)
    return low


def maps(pid):
    """The file-backed lines of /proc/PID/maps, as (device "MM:mm", inode, path)."""
    out = []
    with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as f:
        for line in f:
            fields = line.split(None, 5)
            if len(fields) == 6 and fields[4] != "0":
                out.append((fields[3], int(fields[4]), fields[5].strip()))
    return out


def mapped_files(pid, substring=""):
    """{(device "MM:mm", inode): path} of the files pid maps whose path
    contains substring."""
    return {(dev, ino): path for dev, ino, path in maps(pid) if substring in path}


def memory_inodes(pid):
    """(device, inode) of the hugepage memory files pid has open (EAL's memfd
    or hugetlbfs segments): for a virtio_user front-end, the memory it shares."""
    out = set()
    base = f"/proc/{pid}/fd"
    for name in os.listdir(base):
        path = os.path.join(base, name)
        try:
            target = os.readlink(path)
            if target.startswith("/memfd:") or "/hugepages" in target:
                st = os.stat(path)
                out.add((st.st_dev, st.st_ino))
        except OSError:
            pass  # closed while we looked
    return out


def held_inodes(pid, inodes):
    """Which of inodes ((device, inode) pairs) pid still holds, as an open fd
    or a mapping."""
    held = set()
    base = f"/proc/{pid}/fd"
    for name in os.listdir(base):
        try:
            st = os.stat(os.path.join(base, name))
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in inodes:
            held.add((st.st_dev, st.st_ino))
    for dev, ino, _ in maps(pid):
        major, minor = (int(x, 16) for x in dev.split(":"))
        key = (os.makedev(major, minor), ino)
        if key in inodes:
            held.add(key)
    return held


def wait_released(pid, inodes, timeout=15):
    """Wait until pid holds none of inodes; return what it still holds."""
    deadline = time.monotonic() + timeout
    while True:
        held = held_inodes(pid, inodes)
        if not held or time.monotonic() > deadline:
            return held
        time.sleep(0.2)

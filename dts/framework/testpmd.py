# SPDX-License-Identifier: BSD-3-Clause
"""Drive Debian's dpdk-testpmd interactively (``-i``) over stdin/stdout pipes.

One :class:`TestPmd` is one EAL process. It is started with ``stdbuf -o0`` so that
its output is not block-buffered; a reader thread drains the output into memory
and into a log file continuously (a testpmd blocked on a full pipe would stall
its vhost control thread too). Commands are sent one line at a time and answered
when the next ``testpmd> `` prompt appears. Every wait has a timeout.

It is a :class:`framework.proc.Process`: it dies with the test runner, and a
test's teardown (or the interpreter's exit) kills whatever is left, by pid.

Topology helpers :func:`backend` and :func:`frontend` build the two peers of the
project's loopback: the vhost back-end (``net_vhost``, possibly on our
librte_vhost.so.23 through LD_LIBRARY_PATH) and the virtio_user front-end
(always Debian's libraries).
"""

import os
import re
import shutil
import signal
import subprocess
import threading
import time

from .proc import KILL_WAIT_S, Process, maps

TESTPMD = os.environ.get("TESTPMD", "dpdk-testpmd")
PROMPT = "testpmd> "
# The library logs from its own threads onto the same stdout, and testpmd
# prints port events ("\nPort 0: queue state event\n") from its interrupt
# thread, so whole lines can land inside the prompt ("t" +
# "VHOST_CONFIG: ...\n" + "estpmd> "). Match the prompt with such lines
# (VHOST_*, EAL, port events, empty lines) allowed between its characters.
LOG_LINES = r"(?:(?:(?:VHOST_[A-Z]+|EAL):|Port \d+: )[^\n]*\n|\r?\n)*"
PROMPT_RX = LOG_LINES.join(re.escape(c) for c in PROMPT)
BURST = 32  # testpmd's default packets per burst (--burst)
DEBIAN_VHOST_LIB = "/usr/lib/x86_64-linux-gnu/librte_vhost.so.23"
# DTS_BACKEND_PRELOAD: LD_PRELOAD of every testpmd that runs the library
# under test (lib_dir set), e.g. "libasan.so.8 libubsan.so.1" for a library
# built with -Db_sanitize=address,undefined (devtools/test.sh asan-dts);
# sanitizer options come from the environment (ASAN_OPTIONS, UBSAN_OPTIONS).
BACKEND_PRELOAD = os.environ.get("DTS_BACKEND_PRELOAD", "")

# Memory per process: 256 MiB of hugepages (128 x 2 MiB), enough for the mbuf
# pool below; two processes use a quarter of the 1024 pages reserved.
MEM_MB = 256
NB_MBUFS = 32768


class TestPmdError(Exception):
    """testpmd did not do what was asked in time, or died."""


class PortStats(dict):
    """Counters of ``show port stats N``: rx_packets, tx_packets, rx_missed, ..."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e

    def __sub__(self, other):
        return PortStats({k: v - other.get(k, 0) for k, v in self.items()})


_STATS_RE = re.compile(
    r"NIC statistics for port (?P<port>\d+)\s+#+\s*"
    r"RX-packets:\s*(?P<rx_packets>\d+)\s+RX-missed:\s*(?P<rx_missed>\d+)\s+"
    r"RX-bytes:\s*(?P<rx_bytes>\d+)\s+"
    r"RX-errors:\s*(?P<rx_errors>\d+)\s+"
    r"RX-nombuf:\s*(?P<rx_nombuf>\d+)\s+"
    r"TX-packets:\s*(?P<tx_packets>\d+)\s+TX-errors:\s*(?P<tx_errors>\d+)\s+"
    r"TX-bytes:\s*(?P<tx_bytes>\d+)", re.S)


def parse_port_stats(text):
    """All ``NIC statistics`` blocks in text, as {port: PortStats}."""
    out = {}
    for m in _STATS_RE.finditer(text):
        d = {k: int(v) for k, v in m.groupdict().items()}
        port = d.pop("port")
        out[port] = PortStats(d)
    return out


class TestPmd(Process):
    """One interactive dpdk-testpmd process."""

    def __init__(self, name, vdev, main_lcore, log_dir, *, lib_dir=None,
                 queues=1, forward_mode="io", extra_eal=(), extra_app=(),
                 prefix=None):
        super().__init__(name, os.path.join(log_dir, f"{name}.log"))
        self.vdev = vdev
        self.lib_dir = lib_dir
        self.prefix = prefix or f"vvu{os.getpid()}{name}{int(time.time() * 1000) % 100000}"
        self.argv = [
            "stdbuf", "-o0", "-e0", TESTPMD,
            "-l", "0,1", "--main-lcore", str(main_lcore),
            "--file-prefix", self.prefix, "--no-pci",
            "--in-memory", "--single-file-segments", "-m", str(MEM_MB),
            *extra_eal,
            "--vdev", vdev, "--",
            "-i", "--nb-cores=1", f"--total-num-mbufs={NB_MBUFS}",
            f"--rxq={queues}", f"--txq={queues}",
            f"--forward-mode={forward_mode}",
            *extra_app,
        ]
        self._text = ""
        # (end offset in _text, time.monotonic()) of every chunk read: when
        # each output line arrived (see time_at).
        self._stamps = []
        self._cond = threading.Condition()
        self._reader = None
        self._log = None

    # ----- lifetime -------------------------------------------------------

    def start(self, timeout=90):
        """Spawn testpmd and wait for its first prompt."""
        self.spawn()
        return self.wait_ready(timeout)

    def wait_ready(self, timeout=90):
        """Wait for the first prompt (EAL and ports initialised)."""
        self.wait_for(PROMPT_RX, timeout, what="first prompt")
        return self

    def spawn(self):
        """Spawn testpmd without waiting (a virtio_user server=1 blocks in its
        init until a client connects)."""
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        pre = []
        if self.lib_dir:
            env["LD_LIBRARY_PATH"] = self.lib_dir
            pre.append(f"LD_LIBRARY_PATH={self.lib_dir}")
            # A sanitized build of the library needs its runtimes loaded
            # first in an unsanitized testpmd (see BACKEND_PRELOAD).
            if BACKEND_PRELOAD:
                env["LD_PRELOAD"] = BACKEND_PRELOAD
                pre.append(f"LD_PRELOAD='{BACKEND_PRELOAD}'")
        else:
            env.pop("LD_LIBRARY_PATH", None)
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        self._log = open(self.log_path, "a", encoding="utf-8", errors="replace")
        self._log.write("# " + " ".join(pre + self.argv) + "\n")
        self._log.flush()
        self.popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, env=env, bufsize=0)
        self._reader = threading.Thread(target=self._read_loop, daemon=True,
                                        name=f"read-{self.name}")
        self._reader.start()
        return self

    def _read_loop(self):
        fd = self.proc.stdout.fileno()
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            text = data.decode("utf-8", errors="replace")
            with self._cond:
                if text:
                    self._text += text
                    self._stamps.append((len(self._text), time.monotonic()))
                    self._log.write(text)
                    self._log.flush()
                else:
                    self._log.write(f"\n# exited with {self.proc.wait()}\n")
                    self._log.flush()
                self._cond.notify_all()
            if not text:
                return

    def quit(self, timeout=20):
        """``quit`` on the prompt; SIGTERM, then SIGKILL if it does not exit."""
        if self.alive():
            try:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError):
                pass
        return self.escalate(((None, timeout), (signal.SIGTERM, 5),
                              (signal.SIGKILL, KILL_WAIT_S)))

    def stop(self, timeout=20):
        """The clean end of a testpmd is its own ``quit``."""
        return self.quit(timeout)

    def _reap(self):
        if self.proc is None:
            return None
        if self._reader is not None:
            self._reader.join(10)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        if self._log and not self._log.closed:
            with self._cond:
                self._log.close()
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)
        return super()._reap()

    # ----- output ---------------------------------------------------------

    @property
    def output(self):
        with self._cond:
            return self._text

    def mark(self):
        """A position in the output; wait_for(since=mark) looks only after it."""
        with self._cond:
            return len(self._text)

    def time_at(self, pos):
        """time.monotonic() when the output at offset pos was read (testpmd runs
        unbuffered, so within a scheduling delay of when it was printed)."""
        with self._cond:
            for end, stamp in self._stamps:
                if pos < end:
                    return stamp
        raise TestPmdError(f"{self.name}: no output at offset {pos} yet")

    def wait_for(self, pattern, timeout, since=0, what=None):
        """Wait until regex pattern appears in the output after position since."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                m = rx.search(self._text, since)
                if m:
                    return m
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise TestPmdError(
                        f"{self.name} exited ({self.proc.returncode}) while waiting for "
                        f"{what or pattern!r}; last output:\n{self.tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestPmdError(
                        f"{self.name}: no {what or pattern!r} within {timeout}s; "
                        f"last output:\n{self.tail()}")
                self._cond.wait(min(left, 0.5))

    # ----- commands -------------------------------------------------------

    def send(self, cmd, timeout=30, until=None):
        """Send one command line; return its output up to the next prompt.

        until: a regex that must appear in the output before the prompt counts
        (asynchronous event lines may reprint a prompt).
        """
        if not self.alive():
            raise TestPmdError(f"{self.name} is not running (command {cmd!r})")
        pos = self.mark()
        try:
            self.proc.stdin.write(cmd.encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise TestPmdError(f"{self.name}: cannot send {cmd!r}: {e}") from e
        start = pos
        if until is not None:
            start = self.wait_for(until, timeout, pos, what=f"answer to {cmd!r}").end()
        end = self.wait_for(PROMPT_RX, timeout, start, what=f"prompt after {cmd!r}")
        return self.output[pos:end.start()]

    def start_forwarding(self):
        self.send("start", until=r"forwarding packets/burst|already started")

    def stop_forwarding(self):
        self.send("stop", until=r"Done\.|not started")

    def link_up(self, port=0):
        out = self.send(f"show port info {port}", until=r"Link status: \w+")
        return "Link status: up" in out

    def wait_link(self, up=True, port=0, timeout=60):
        """Poll ``show port info`` until the link is up (or down)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.link_up(port) == up:
                return
            if time.monotonic() > deadline:
                raise TestPmdError(
                    f"{self.name}: link of port {port} not {'up' if up else 'down'} "
                    f"within {timeout}s; last output:\n{self.tail()}")
            time.sleep(0.2)

    def stats(self, port=0):
        out = self.send(f"show port stats {port}",
                        until=rf"NIC statistics for port {port}[\s\S]*?TX-bytes:\s*\d+")
        st = parse_port_stats(out)
        if port not in st:
            raise TestPmdError(f"{self.name}: cannot parse port stats:\n{out}")
        return st[port]

    def xstats(self, port=0):
        """``show port xstats N`` as {name: value} (a PortStats)."""
        out = self.send(f"show port xstats {port}",
                        until=rf"NIC extended statistics for port {port}")
        return PortStats({m.group(1): int(m.group(2))
                          for m in re.finditer(r"^(\w+):\s*(\d+)\s*$", out, re.M)})

    def clear_stats(self):
        self.send("clear port stats all", until=r"NIC statistics for port \d+ cleared")

    # ----- which library is in use ---------------------------------------

    def mapped_vhost_libraries(self):
        """Real paths of every librte_vhost mapped into the process."""
        return {path for _, _, path in maps(self.pid) if "/librte_vhost.so" in path}

    def check_vhost_library(self, lib):
        """Assert that the library under test (conftest's VhostLibrary), and
        only it, is mapped: LD_LIBRARY_PATH really chose it."""
        mapped = self.mapped_vhost_libraries()
        assert mapped == {lib.path}, (
            f"{self.name} maps {sorted(mapped)}, expected only {lib.path} ({lib.name})")
        if BACKEND_PRELOAD and self.lib_dir:
            # the sanitizer runtimes really run in it (else nothing is checked)
            names = {os.path.basename(path) for _, _, path in maps(self.pid)}
            # mapped under their real names (libasan.so.8.0.0)
            missing = [n for n in BACKEND_PRELOAD.split()
                       if not any(m.startswith(os.path.basename(n)) for m in names)]
            assert not missing, f"{self.name} does not map the preloaded {missing}"


def backend(log_dir, sock, *, lib_dir=None, client=False, queues=1, name="backend"):
    """The vhost back-end: net_vhost, io forwarding on lcore 1 (main lcore 0)."""
    vdev = f"net_vhost0,iface={sock},queues={queues}"
    if client:
        vdev += ",client=1"
    return TestPmd(name, vdev, 0, log_dir, lib_dir=lib_dir, queues=queues,
                   forward_mode="io")


def frontend(log_dir, sock, *, server=False, queues=1, packed=False, mrg_rxbuf=True,
             name="frontend"):
    """The virtio_user front-end (Debian's libraries): rxonly on lcore 0
    (main lcore 1); it sends with ``start tx_first``."""
    vdev = f"net_virtio_user0,path={sock},queues={queues}"
    if server:
        vdev += ",server=1"
    if packed:
        vdev += ",packed_vq=1"
    vdev += f",mrg_rxbuf={1 if mrg_rxbuf else 0}"
    return TestPmd(name, vdev, 1, log_dir, queues=queues, forward_mode="rxonly")


def wait_links(peers, up=True, timeout=60):
    """Wait for the link of every peer to be up (or down), in order."""
    for p in peers:
        p.wait_link(up=up, timeout=timeout)

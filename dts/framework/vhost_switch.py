# SPDX-License-Identifier: BSD-3-Clause
"""examples/vhost_switch (dpdk-vhost-switch) as a test process.

:class:`VhostSwitch` runs one switch (a :class:`framework.proc.Process`): its
output in a log file, stopped by SIGTERM (its clean exit prints the final
counters) or killed, by pid. :func:`parse_counters` reads the counter blocks
it prints. :func:`switch_frontend` builds a virtio_user front-end with a given
MAC (Debian's testpmd, rxonly, sending with ``start tx_first``).
"""

import os
import re
import subprocess
import time

from . import telemetry
from . import testpmd as tp
from .proc import Process

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.path.abspath(os.environ.get("VVU_BUILD_DIR", os.path.join(REPO, "build")))
SWITCH_BIN = os.environ.get(
    "VHOST_SWITCH",
    os.path.join(BUILD_DIR, "examples", "vhost_switch", "dpdk-vhost-switch"))
# The switch needs only its mbuf pool (~20 MiB); the front-ends' memory is
# theirs.
SWITCH_MEM_MB = 64

_COUNTER_RE = re.compile(
    r"^port (?P<port>\d+): rx (?P<rx>\d+) tx (?P<tx>\d+) flood (?P<flood>\d+) "
    r"drop (?P<drop>\d+) (?P<state>up|down) vlan (?P<vlan>\d+) path (?P<path>.*)$", re.M)


class VhostSwitchError(Exception):
    """The switch did not do what was expected in time, or died."""


def parse_counters(text, when="exit"):
    """The last ``--- vhost-switch stats (when) ---`` block of text, as
    {port: {"rx", "tx", "flood", "drop": int, "state", "path": str}}."""
    head = f"--- vhost-switch stats ({when}) ---"
    pos = text.rfind(head)
    if pos < 0:
        return None
    out = {}
    for line in text[pos + len(head):].lstrip("\n").splitlines():
        m = _COUNTER_RE.match(line)
        if not m:
            break
        d = m.groupdict()
        port = int(d.pop("port"))
        out[port] = {k: (v if k in ("state", "path") else int(v)) for k, v in d.items()}
    return out


class VhostSwitch(Process):
    """One dpdk-vhost-switch process with the given --port paths, forwarding
    on lcores (EAL -l; the first is the main lcore)."""

    def __init__(self, log_dir, ports, *, name="switch", lib_dir=None, lcores="0",
                 extra=()):
        super().__init__(name, os.path.join(log_dir, f"{name}.log"))
        self.ports = list(ports)
        self.lib_dir = lib_dir
        self.prefix = f"vvu{os.getpid()}{name}{int(time.time() * 1000) % 100000}"
        self.argv = [SWITCH_BIN, "-l", lcores, "--file-prefix", self.prefix, "--no-pci",
                     "--in-memory", "-m", str(SWITCH_MEM_MB), "--"]
        for p in self.ports:
            self.argv += ["--port", p]
        self.argv += list(extra)
        self._log = None

    def start(self, timeout=30):
        """Spawn; wait until every port is registered (its socket exists, or
        for a vfio-user port, the switch says it waits for its front-end)."""
        if not os.path.isfile(SWITCH_BIN):
            raise VhostSwitchError(f"{SWITCH_BIN} not built")
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        if self.lib_dir:
            env["LD_LIBRARY_PATH"] = self.lib_dir
        self._log = open(self.log_path, "ab")
        self._log.write(("# " + " ".join(self.argv) + "\n").encode())
        self._log.flush()
        self.popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
                   stderr=subprocess.STDOUT, env=env)
        for i in range(len(self.ports)):
            self.wait_log(rf"^port {i} \(.*\): waiting for its front-end", timeout)
        return self

    def wait_log(self, pattern, timeout=10, since=0):
        """Wait until regex pattern (multi-line) appears in the log after
        offset since."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.output, since)
            if m:
                return m
            if not self.alive():
                raise VhostSwitchError(f"{self.name} exited ({self.exit_code}) waiting "
                                       f"for {pattern!r}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise VhostSwitchError(f"{self.name}: no {pattern!r} within {timeout}s:\n"
                                       f"{self.tail()}")
            time.sleep(0.1)

    def mark(self):
        return len(self.output)

    def stop(self, timeout=10):
        """SIGTERM: the switch unregisters its ports, prints its counters and
        exits 0; SIGKILL if it does not exit in time. Returns the exit code."""
        return super().stop(timeout)

    def final_counters(self):
        return parse_counters(self.output, "exit")

    def telemetry(self, *commands):
        """The values of telemetry commands (Debian's dpdk-telemetry.py on
        EAL's socket of this switch's --file-prefix)."""
        return telemetry.query(self.prefix, list(commands))

    def _reap(self):
        if self._log and not self._log.closed:
            self._log.close()
        code = super()._reap()
        if code is not None:
            # EAL leaves its runtime directory (and after SIGKILL the socket)
            telemetry.remove_runtime_dir(self.prefix)
        return code


def switch_frontend(log_dir, sock, mac, name, *, server=False):
    """A virtio_user front-end (Debian's libraries) whose port has MAC mac:
    rxonly on lcore 0 (main lcore 1); it sends 32-packet bursts to its
    ``set eth-peer`` with ``start tx_first``."""
    vdev = f"net_virtio_user0,path={sock},mac={mac}"
    if server:
        vdev += ",server=1"
    return tp.TestPmd(name, vdev, 1, log_dir, forward_mode="rxonly")


# SPDX-License-Identifier: BSD-3-Clause
"""The appliance VM: a QEMU guest (TCG) whose PCI function 0000:00:04.0 is bound
by the guest kernel's vfio-pci and driven by Debian's dpdk-testpmd on our
librte_vhost.so.23.

    usertools/vvu-guest-image.sh   builds (or reuses) the guest image
    usertools/vvu-appliance.sh     starts dpdk-vvu-device (or, --stand-in, QEMU's
                                   edu device instead) and QEMU; the guest's serial
                                   console is the launcher's stdin/stdout

:func:`build_image` runs the image script. :class:`Appliance` is one launcher
process (a :class:`framework.proc.Process`): it reads the guest console into
memory and into ``console.log`` continuously, waits for the guest's marker
lines (``VVU-GUEST: ...``, usertools/vvu-guest/init), drives the guest's
interactive testpmd on the console like :class:`framework.testpmd.TestPmd`
does over pipes, and stops everything by pid: ``quit`` (the guest powers off,
QEMU exits, the launcher stops the device), then SIGTERM to the launcher
(which stops its children by pid), then SIGKILL to the launcher and to the
children it reported (``vvu-appliance: qemu pid N``). Every wait is bounded.

Fixtures (dts/conftest.py loads this module as a plugin):

``appliance_image`` (session)
    the image for the library under test; skips only when QEMU cannot be
    installed.
``appliance``
    a factory of :class:`Appliance` whose products are stopped at the end
    of the test, even on failure; the test is aborted after
    ``DTS_APPLIANCE_TIMEOUT`` seconds (default 180).
"""

import os
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest

from . import testpmd as tp
from .proc import KILL_WAIT_S, Process, call_failed

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.path.abspath(os.environ.get("VVU_BUILD_DIR", os.path.join(REPO, "build")))
# As dts/conftest.py: each test's logs go to <LOG_ROOT>/<test>.
LOG_ROOT = os.path.abspath(os.environ.get("DTS_LOG_DIR", os.path.join(BUILD_DIR, "dts-logs")))
IMAGE_SCRIPT = os.path.join(REPO, "usertools", "vvu-guest-image.sh")
LAUNCHER = os.path.join(REPO, "usertools", "vvu-appliance.sh")
QEMU = "qemu-system-x86_64"
MARK = "VVU-GUEST: "
# The guest's PCI address of the device (or of the stand-in), as the launcher
# places it.
GUEST_PCI = "0000:00:04.0"
# With several devices (a list of vhost_user paths), the guest's addresses in
# the launcher's order.
GUEST_PCIS = ("0000:00:04.0", "0000:00:05.0", "0000:00:06.0", "0000:00:07.0")
# QEMU's edu device, the stand-in until dpdk-vvu-device has a QEMU front.
EDU_ID = "1234:11e8"
# Image build: apt-get may have to install QEMU first.
IMAGE_TIMEOUT = int(os.environ.get("DTS_APPLIANCE_IMAGE_TIMEOUT", "1200"))
# One appliance test, boot to power-off (the image is built before it starts).
TEST_TIMEOUT = int(os.environ.get("DTS_APPLIANCE_TIMEOUT", "180"))
# Boot to the guest's testpmd prompt under TCG: ~6 s on an idle machine; other
# work on the two CPUs slows TCG down several times.
BOOT_TIMEOUT = int(os.environ.get("DTS_APPLIANCE_BOOT_TIMEOUT", "90"))

# testpmd's prompt on the guest console: our driver's log lines (VHOST_CONFIG,
# and EAL's line each time it retries opening a function) and testpmd's port
# events can land inside it; testpmd.PROMPT_RX allows them.
PROMPT_RX = tp.PROMPT_RX


class ApplianceError(Exception):
    """The appliance did not do what was expected in time, or died."""


def boot_retrying_qemu_segv(start, label):
    """start(attempt) boots an appliance and waits until it is ready for
    traffic; on failure it raises ApplianceError with the Appliance in the
    exception's ``appliance`` attribute. QEMU 7.2 itself sometimes dies of
    SIGSEGV in a guest MMIO write while x-pci-proxy-dev devices are attached
    (its vCPU thread finding a freed MemoryRegion; more often on a loaded
    host and with more devices). If that is why start failed, the appliance
    is killed and booted once more (start(2)), with a printed line; any other
    failure, or a second crash, raises."""
    for attempt in (1, 2):
        try:
            return start(attempt)
        except ApplianceError as e:
            a = getattr(e, "appliance", None)
            if attempt == 2 or a is None or a.qemu_signal() != signal.SIGSEGV:
                raise
            print(f"{label}: QEMU died of SIGSEGV while booting ({a.launcher_log}); "
                  f"booting once more")
            a.kill()
    raise AssertionError("not reached")


class Image:
    """A built guest image (usertools/vvu-guest-image.sh's output directory)."""

    def __init__(self, path, cached, seconds, log):
        self.path = path
        self.cached = cached      # the cache was hit
        self.seconds = seconds    # what the script took
        self.log = log            # its stderr
        self.info = _read(os.path.join(path, "image.info"))
        m = re.search(r"^modules (.*)$", self.info, re.M)
        self.modules = m.group(1).split() if m else []
        m = re.search(r"^kernel (\S+)", self.info, re.M)
        self.kernel = m.group(1) if m else None
        m = re.search(r"^image (\w+)", self.info, re.M)
        self.key = m.group(1) if m else None

    def __repr__(self):
        return f"Image({self.key} in {self.path}, {'cached' if self.cached else 'built'})"


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def build_image(lib_dir=None, build_dir=BUILD_DIR, out=None, timeout=IMAGE_TIMEOUT):
    """Run usertools/vvu-guest-image.sh (build, or reuse the cache); return an
    :class:`Image`. Raises ApplianceError with the script's last lines if it fails."""
    argv = ["bash", IMAGE_SCRIPT, "--build", build_dir]
    if lib_dir:
        argv += ["--lib", lib_dir]
    if out:
        argv += ["--out", out]
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise ApplianceError(f"{IMAGE_SCRIPT} took more than {timeout}s") from e
    secs = time.monotonic() - t0
    if r.returncode != 0:
        tail = "\n".join(r.stderr.splitlines()[-25:])
        raise ApplianceError(f"{IMAGE_SCRIPT} failed ({r.returncode}):\n{tail}")
    path = r.stdout.strip().splitlines()[-1]
    return Image(path, "cache hit" in r.stderr, secs, r.stderr)


class Appliance(Process):
    """One usertools/vvu-appliance.sh process and the guest behind it."""

    def __init__(self, log_dir, image, *, name="appliance", stand_in=False, vhost_user=None,
                 cmd=None, after=None, ids=None, mem=None, smp=None, hugepages=None,
                 device_args=(), launcher_timeout=None):
        super().__init__(name, os.path.join(log_dir, f"{name}.console.log"))
        self.launcher_log = os.path.join(log_dir, f"{name}.launcher.log")
        self.device_log_dir = os.path.join(log_dir, f"{name}.device")
        self.image = image
        self.hugepages = hugepages
        self.after = after
        argv = ["bash", LAUNCHER, "--image", image.path, "--build", BUILD_DIR,
                "--log", self.device_log_dir,
                "--timeout", str(launcher_timeout or TEST_TIMEOUT + 60)]
        if stand_in:
            argv.append("--stand-in")
        # One device per vhost-user path (a list: several devices, at 04.0,
        # 05.0, ...; see GUEST_PCIS).
        for path in ([vhost_user] if isinstance(vhost_user, str) else vhost_user or []):
            argv += ["--vhost-user", path]
        for opt, val in (("--cmd", cmd), ("--after", after), ("--ids", ids), ("--mem", mem),
                         ("--smp", smp), ("--hugepages", hugepages)):
            if val is not None:
                argv += [opt, str(val)]
        if device_args:
            argv += ["--", *device_args]
        self.argv = argv
        self._text = ""
        self._cond = threading.Condition()
        self._reader = None
        self._log = None
        self._errlog = None
        self._reaped = False

    # ----- lifetime -------------------------------------------------------

    def start(self):
        """Spawn the launcher (QEMU boots in the background); see wait_marker()."""
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        self._log = open(self.log_path, "w", encoding="utf-8", errors="replace")
        self._errlog = open(self.launcher_log, "wb")
        self._errlog.write(("# " + " ".join(self.argv) + "\n").encode())
        self._errlog.flush()
        self.popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                   stderr=self._errlog, bufsize=0)
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
            if not data:
                break
            # The serial console ends lines with CR LF (a read may be a lone CR).
            text = data.decode("utf-8", errors="replace").replace("\r", "")
            with self._cond:
                self._text += text
                self._log.write(text)
                self._log.flush()
                self._cond.notify_all()
        # End of the console: the launcher and QEMU closed it (exited, normally).
        try:
            rc = self.proc.wait(KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            rc = "?"
        with self._cond:
            self._log.write(f"\n# console closed, launcher exit {rc}\n")
            self._log.flush()
            self._cond.notify_all()

    def child_pids(self):
        """{"qemu": pid, "device": pid, "device1": pid, ...} as the launcher
        reported them."""
        return {m.group(1): int(m.group(2)) for m in
                re.finditer(r"^vvu-appliance: (qemu|device\d*) pid (\d+)",
                            _read(self.launcher_log), re.M)}

    def qemu_signal(self):
        """The signal that killed QEMU (the launcher's "qemu exited with
        status 128+N"), or None."""
        m = re.search(r"^vvu-appliance: qemu exited with status (\d+)", _read(self.launcher_log),
                      re.M)
        return int(m.group(1)) - 128 if m and int(m.group(1)) > 128 else None

    def wait_exit(self, timeout):
        """Wait for the launcher to exit by itself; its exit code, None if it did not."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def quit(self, timeout=60):
        """``quit`` to the guest's testpmd: the guest powers off, QEMU exits, the
        launcher stops the device and exits. Escalates if any step hangs."""
        if self.after == "reboot":
            # quit would only reboot the guest: stop the launcher instead.
            return self.escalate(((signal.SIGTERM, 15), (signal.SIGKILL, KILL_WAIT_S)))
        if self.alive():
            try:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError):
                pass
        return self.escalate(((None, timeout), (signal.SIGTERM, 15),
                              (signal.SIGKILL, KILL_WAIT_S)))

    def stop(self, timeout=60):
        return self.quit(timeout)

    def _reap(self):
        if self.proc is None:
            return None
        if self._reaped:
            # Once only: later, the reported pids may belong to others.
            return self.proc.poll()
        self._reaped = True
        # The launcher stops its children by pid, and they die with it (pdeathsig);
        # make sure, by the pids it reported.
        for pid in self.child_pids().values():
            _kill_pid(pid)
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
        if self._errlog and not self._errlog.closed:
            self._errlog.close()
        return super()._reap()

    def report(self, lines=60):
        return (super().report(lines) + f"\n----- {self.launcher_log}:\n" +
                "\n".join(_read(self.launcher_log).splitlines()[-15:]))

    # ----- console ----------------------------------------------------------

    @property
    def output(self):
        with self._cond:
            return self._text

    def mark(self):
        with self._cond:
            return len(self._text)

    def wait_for(self, pattern, timeout, since=0, what=None):
        """Wait until regex pattern appears on the console after position since."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                m = rx.search(self._text, since)
                if m:
                    return m
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise ApplianceError(
                        f"{self.name}: the launcher exited ({self.proc.returncode}) while "
                        f"waiting for {what or pattern!r}; console:\n{self.tail()}\n"
                        f"launcher:\n{_read(self.launcher_log)[-2000:]}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ApplianceError(f"{self.name}: no {what or pattern!r} within "
                                         f"{timeout}s; console:\n{self.tail()}")
                self._cond.wait(min(left, 0.5))

    def wait_marker(self, regex, timeout=BOOT_TIMEOUT, since=0):
        """Wait for the guest's line ``VVU-GUEST: <regex>``, complete (its newline
        read: a read may end in the middle of a line); return the match."""
        return self.wait_for(r"^" + re.escape(MARK) + f"(?:{regex})" + r"(?=[^\n]*\n)",
                             timeout, since, what=f"{MARK}{regex}")

    def markers(self):
        """Every ``VVU-GUEST:`` line so far, without the prefix."""
        return [line[len(MARK):] for line in self.output.splitlines()
                if line.startswith(MARK)]

    def write(self, data):
        """Raw bytes to the guest's console (b"\\x03": Ctrl-C, SIGINT to the
        guest's command, whose controlling terminal the console is)."""
        if not self.alive():
            raise ApplianceError(f"{self.name} is not running (writing {data!r})")
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise ApplianceError(f"{self.name}: cannot write {data!r}: {e}") from e

    def send(self, cmd, timeout=30, until=None):
        """Send one line to the guest's testpmd; return its output up to the next
        prompt (see framework.testpmd.TestPmd.send)."""
        if not self.alive():
            raise ApplianceError(f"{self.name} is not running (command {cmd!r})")
        pos = self.mark()
        try:
            self.proc.stdin.write(cmd.encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise ApplianceError(f"{self.name}: cannot send {cmd!r}: {e}") from e
        start = pos
        if until is not None:
            start = self.wait_for(until, timeout, pos, what=f"answer to {cmd!r}").end()
        end = self.wait_for(PROMPT_RX, timeout, start,
                            what=f"prompt after {cmd!r}")
        return self.output[pos:end.start()]

    def wait_prompt(self, timeout=BOOT_TIMEOUT):
        """The guest's testpmd is up: its first prompt."""
        return self.wait_for(PROMPT_RX, timeout, what="the guest's testpmd prompt")

    def stats(self, port=0):
        out = self.send(f"show port stats {port}",
                        until=rf"NIC statistics for port {port}[\s\S]*?TX-bytes:\s*\d+")
        st = tp.parse_port_stats(out)
        if port not in st:
            raise ApplianceError(f"{self.name}: cannot parse port stats:\n{out}")
        return st[port]

    def link_up(self, port=0):
        out = self.send(f"show port info {port}", until=r"Link status: \w+")
        return "Link status: up" in out


def _kill_pid(pid):
    """SIGKILL pid if it still runs (reaped by its parent, the launcher, or init)."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def appliance_image(vhost_lib):
    """The guest image with the library under test (usertools/vvu-guest-image.sh,
    cached in <build>/vvu-guest). Skips only if QEMU cannot be installed."""
    if vhost_lib.name != "ours":
        pytest.skip("the appliance image carries our librte_vhost.so.23 "
                    "(VHOST_LIB_DIR=debian)")
    try:
        image = build_image(lib_dir=vhost_lib.dir)
    except ApplianceError as e:
        if shutil.which(QEMU) is None:
            pytest.skip(f"QEMU cannot be installed ({QEMU} missing): {e}")
        raise
    if shutil.which(QEMU) is None:
        pytest.skip(f"QEMU cannot be installed: no {QEMU} after {IMAGE_SCRIPT}")
    print(f"appliance image {image.key}: {'cache hit' if image.cached else 'built'} "
          f"in {image.seconds:.1f}s ({image.path})")
    return image


@pytest.fixture
def appliance(request, appliance_image):
    """appliance(**kw) creates and starts an :class:`Appliance` on the session's
    image (keywords as Appliance's); a log dir per test; everything is stopped
    by pid at the end, even on failure; the test is bounded by TEST_TIMEOUT."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    log_dir = os.path.join(LOG_ROOT, name)
    shutil.rmtree(log_dir, ignore_errors=True)
    os.makedirs(log_dir)
    started = []

    def make(**kw):
        a = Appliance(log_dir, appliance_image, **kw)
        started.append(a)
        return a.start()

    def on_alarm(signum, frame):
        raise ApplianceError(f"appliance test exceeded DTS_APPLIANCE_TIMEOUT={TEST_TIMEOUT}s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_TIMEOUT)
    try:
        yield make
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        failed = call_failed(request)
        for a in started:
            if failed:
                a.kill()
            else:
                a.stop()
        if failed:
            for a in started:
                print(a.report())

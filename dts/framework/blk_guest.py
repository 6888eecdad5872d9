# SPDX-License-Identifier: BSD-3-Clause
"""A QEMU guest whose virtio-blk disk is a vhost-user-blk back-end, for test_vhost_blk.py.

:func:`build_image` builds (or reuses) the guest of ``usertools/vvu-blk-guest-image.sh``:
a Debian cloud kernel and a busybox initramfs whose ``/init``
(``usertools/vvu-blk-guest/init``) writes a random pattern to ``/dev/vda`` or
reads it back, with O_DIRECT, prints ``BLK-GUEST:`` lines and powers off.

:class:`BlkGuest` is one boot of it: ``qemu-system-x86_64`` under TCG, q35,
qboot firmware (SeaBIOS would probe the disk itself and cost tens of seconds
under TCG), guest RAM a shared memfd (vhost-user needs its fd), and
``-device vhost-user-blk-pci`` on a vhost-user socket; the serial console goes
to its log. :meth:`BlkGuest.run` waits for the guest to power off and returns
what it reported.
"""

import hashlib
import os
import re
import shutil
import signal
import subprocess

from . import hostile
from .hostile import LoggedProcess
from .proc import KILL_WAIT_S

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.path.abspath(os.environ.get("VVU_BUILD_DIR", os.path.join(REPO, "build")))
IMAGE_SCRIPT = os.path.join(REPO, "usertools", "vvu-blk-guest-image.sh")
QEMU = "qemu-system-x86_64"
QBOOT = "/usr/share/qemu/qboot.rom"
GUEST_MEM_MB = 256
# One boot, write or read, takes about 5 to 10 s on an idle 2-CPU machine
# (TCG); the bound is for a loaded one.
BOOT_TIMEOUT_S = int(os.environ.get("DTS_BLK_BOOT_TIMEOUT", "90"))

_DIGEST = r"([0-9a-f]{64})"


class BlkGuestError(Exception):
    """The guest did not report what was expected, or QEMU failed."""


def missing():
    """Why the guest cannot run here, or None."""
    if shutil.which(QEMU) is None:
        return f"{QEMU} not installed (apt-get install qemu-system-x86)"
    if not os.path.isfile(QBOOT):
        return f"no {QBOOT} (qemu-system-data)"
    return None


def build_image(out_dir=os.path.join(BUILD_DIR, "vvu-blk-guest")):
    """Run the image script; return the image directory. Raises BlkGuestError."""
    argv = ["nice", "-n", "19", "bash", IMAGE_SCRIPT, "--out", out_dir]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    if r.returncode != 0:
        raise BlkGuestError(f"{IMAGE_SCRIPT} failed:\n{r.stderr[-3000:]}")
    return r.stdout.strip().splitlines()[-1]


# The one line of examples/vhost_blk's new_device() that tests the inflight
# protocol feature in the virtio features; and the same test on the protocol
# features it has just read. With the original, the example never believes
# inflight tracking is on, so it never sets its packed-ring wrap counters
# (they stay 0; a fresh ring's are 1) and serves no packed request.
INFLIGHT_CHECK = "inflight_shmfd = !!(features &"
INFLIGHT_CHECK_FIXED = "inflight_shmfd = !!(protocol_features &"


def build_vhost_blk_inflight_fixed(out_dir):
    """examples/vhost_blk with only INFLIGHT_CHECK replaced, built into
    out_dir/vhost-blk-inflight-fixed; return its path, or None if the
    sources do not hold that line exactly once (another DPDK version)."""
    with open(os.path.join(hostile.VHOST_BLK_SRC, "vhost_blk.c"), encoding="utf-8") as f:
        text = f.read()
    if text.count(INFLIGHT_CHECK) != 1:
        return None
    fixed = text.replace(INFLIGHT_CHECK, INFLIGHT_CHECK_FIXED)
    src = os.path.join(out_dir, "src-inflight-fixed")
    path = os.path.join(src, "vhost_blk.c")
    try:
        with open(path, encoding="utf-8") as f:
            current = f.read()
    except OSError:
        current = None
    # A fresh copy only when the sources changed (copy2 keeps their times),
    # so that the build is not redone every run.
    if current != fixed or any(
            os.path.getmtime(os.path.join(hostile.VHOST_BLK_SRC, n))
            > os.path.getmtime(os.path.join(src, n)) for n in hostile.VHOST_BLK_SOURCES):
        shutil.rmtree(src, ignore_errors=True)
        shutil.copytree(hostile.VHOST_BLK_SRC, src)
        with open(path, "w", encoding="utf-8") as f:
            f.write(fixed)
    return hostile.build_vhost_blk(out_dir, src, "vhost-blk-inflight-fixed")


class BlkReport:
    """What one boot printed: disk size, digests written/read, the verdict."""

    def __init__(self, console):
        text = console.replace("\r", "")
        self.console = text
        m = re.search(r"^BLK-GUEST: disk vda (\d+) sectors of (\d+) bytes", text, re.M)
        self.sectors = int(m.group(1)) if m else None
        self.sector_size = int(m.group(2)) if m else None
        m = re.search(r"^BLK-GUEST: wrote (\d+) KiB .* sha256 " + _DIGEST, text, re.M)
        self.written = m.group(2) if m else None
        self.length = int(m.group(1)) * 1024 if m else None
        m = re.search(r"^BLK-GUEST: pattern starts ([0-9a-f]{64})$", text, re.M)
        self.head = bytes.fromhex(m.group(1)) if m else None
        m = re.search(r"^BLK-GUEST: read .* sha256 " + _DIGEST, text, re.M)
        self.read = m.group(1) if m else None
        m = re.search(r"^BLK-GUEST: (PASS|FAIL)\b(.*)$", text, re.M)
        self.verdict = m.group(1) if m else None
        self.detail = m.group(2).strip() if m else None

    def lines(self):
        return "\n".join(l for l in self.console.splitlines() if l.startswith("BLK-GUEST:"))


def hugepage_ranges(pid):
    """The readable hugetlb mappings of pid (EAL's memory; a QEMU guest's
    memfd, which a back-end maps too, has 4 KiB pages), adjacent ones merged:
    a list of (start, end)."""
    ranges, cur = [], None
    with open(f"/proc/{pid}/smaps", encoding="ascii", errors="replace") as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) ", line)
            if m:
                cur = (int(m.group(1), 16), int(m.group(2), 16), m.group(3).startswith("r"))
                continue
            m = re.match(r"^KernelPageSize:\s+(\d+) kB", line)
            if m and cur is not None and cur[2] and int(m.group(1)) > 4:
                if ranges and ranges[-1][1] == cur[0]:
                    ranges[-1] = (ranges[-1][0], cur[1])
                else:
                    ranges.append((cur[0], cur[1]))
    return ranges


def find_in_hugepages(pid, head, length, digest, chunk=16 << 20):
    """Addresses in pid's hugepage memory where a run of length bytes starts
    with head and has this sha256 digest (read through /proc/pid/mem)."""
    found = []
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    try:
        for start, end in hugepage_ranges(pid):
            pos = start
            while pos < end:
                # Overlap chunks by len(head) - 1 so that no match is split.
                n = min(chunk + len(head) - 1, end - pos)
                buf = os.pread(fd, n, pos)
                i = buf.find(head)
                while i >= 0:
                    addr = pos + i
                    if addr + length <= end:
                        run = os.pread(fd, length, addr)
                        if hashlib.sha256(run).hexdigest() == digest:
                            found.append(addr)
                    i = buf.find(head, i + 1)
                pos += chunk
    finally:
        os.close(fd)
    return found


class BlkGuest(LoggedProcess):
    """One boot of the blk test guest against the vhost-user socket sock.

    mode "write" (a fresh random pattern, written and read back) or "read"
    (expects the sha256 digest a write boot printed)."""

    def __init__(self, image, log_dir, sock, mode, *, digest=None, name="guest",
                 packed=False):
        append = ["console=ttyS0", "panic=-1", "loglevel=4", "no_timer_check",
                  f"blk_mode={mode}"]
        if digest is not None:
            append.append(f"blk_sum={digest}")
        argv = [
            "nice", "-n", "19", QEMU, "-name", name,
            "-machine", "q35,accel=tcg,memory-backend=mem", "-bios", QBOOT,
            "-object", f"memory-backend-memfd,id=mem,size={GUEST_MEM_MB}M,share=on",
            "-m", f"{GUEST_MEM_MB}M", "-cpu", "max", "-smp", "1",
            "-nodefaults", "-display", "none", "-nic", "none", "-no-reboot",
            "-chardev", f"socket,id=blk0,path={sock}",
            "-device", "vhost-user-blk-pci,chardev=blk0,num-queues=1"
            + (",packed=on" if packed else ""),
            "-kernel", os.path.join(image, "vmlinuz"),
            "-initrd", os.path.join(image, "initramfs.cpio.gz"),
            "-append", " ".join(append),
            "-serial", "stdio"]
        super().__init__(name, os.path.join(log_dir, f"{name}.log"), argv)
        # As QEMU runs under a VMM: a dead back-end is an error, not a signal.
        self.ignore_sigpipe = True

    def run(self, timeout=BOOT_TIMEOUT_S):
        """Boot, wait for the guest to power off; return its BlkReport.
        Raises BlkGuestError if QEMU fails or the guest does not finish."""
        self.start()
        rc = self.wait_exit(timeout)
        if rc is None:
            self.kill()
            raise BlkGuestError(f"{self.name}: guest not done within {timeout}s:\n"
                                f"{self.tail(30)}")
        self._reap()
        report = BlkReport(self.output)
        if rc != 0 or "BLK-GUEST: done" not in report.console:
            raise BlkGuestError(f"{self.name}: QEMU exited {rc} before the guest was done:\n"
                                f"{self.tail(30)}")
        return report

    def stop(self, timeout=5):
        return self.escalate(((signal.SIGTERM, timeout), (signal.SIGKILL, KILL_WAIT_S)))

# SPDX-License-Identifier: BSD-3-Clause
"""Faults injected into running processes, and what a survivor must give back.

:class:`Figures` is what a process holds that a fault could leak: open fds,
hugetlb memory mapped (the sizes of its hugetlb mappings in /proc/PID/smaps:
its own EAL memory and every front-end memory it maps) and resident memory
(``VmRSS`` of /proc/PID/status). A survivor's
figures after a peer's fault and restart must equal those before it, fds and
hugepages exactly, RSS within :data:`RSS_SLACK_KB` (allocator and page-cache
noise of a process that ran the same work again; a leaked ring mapping, mbuf
pool or memory table is far larger).

:func:`unix_connections` reads /proc/net/unix: the server-side sockets of a
listening path, accepted or still in the backlog, so a test knows a
connection exists even when the server is SIGSTOPped and cannot say so.

:func:`circulate` (and ``traffic.drain``) make packets go round between a
virtio_user front-end and the back-end (io forwarding on both sides) and
empty the rings again before an exact count.
"""

import os
import re
import signal
import time
from dataclasses import dataclass

from .proc import fd_count, fd_kinds

# Resident memory a survivor may gain across a fault and a restart of its
# peer, in kB. Measured figures are in doc/guides/testing.rst; a leaked
# connection costs more (a vring's shadow ring and batch arrays alone are
# tens of kB each, a memory table's guest pages mapped twice many MiB).
RSS_SLACK_KB = 2048
# How long a SIGSTOPped process stays stopped: longer than the reconnect
# and retry periods of every process (1 s), so that peers notice.
STOP_S = 1.5


@dataclass(frozen=True)
class Figures:
    fds: int
    hugetlb_kb: int
    rss_kb: int

    def __str__(self):
        return (f"{self.fds} fds, {self.hugetlb_kb // 1024} MiB hugetlb, "
                f"{self.rss_kb / 1024:.1f} MiB RSS")


def _status(pid):
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
        for line in f:
            m = re.match(r"(\w+):\s+(\d+)", line)
            if m:
                out[m.group(1)] = int(m.group(2))
    return out


def hugetlb_mapped_kb(pid):
    """The size of every hugetlb mapping of pid (KernelPageSize above the base
    page size), in kB: its EAL memory and every front-end memory it maps.
    Sizes, not the pages touched so far (HugetlbPages of /proc/PID/status):
    which pages a new front-end's buffers touch varies, a mapping does not."""
    total, size = 0, 0
    base_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    with open(f"/proc/{pid}/smaps", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("Size:"):
                size = int(line.split()[1])
            elif line.startswith("KernelPageSize:") and int(line.split()[1]) > base_kb:
                total += size
    return total


def figures(pid):
    st = _status(pid)
    return Figures(fd_count(pid), hugetlb_mapped_kb(pid), st.get("VmRSS", 0))


def figures_of(procs):
    """{name: Figures} of every process in procs."""
    return {p.name: figures(p.pid) for p in procs}


def assert_figures_back(procs, before, what, timeout=15):
    """Every process of procs has its figures of before again: fds and
    hugetlb exactly (waited for: event loops release asynchronously), RSS no
    more than RSS_SLACK_KB above. Returns {name: (before, after)}."""
    out = {}
    for p in procs:
        want = before[p.name]
        deadline = time.monotonic() + timeout
        while True:
            got = figures(p.pid)
            if (got.fds == want.fds and got.hugetlb_kb == want.hugetlb_kb) or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.2)
        out[p.name] = (want, got)
        assert got.fds == want.fds, (
            f"{p.name} has {got.fds} fds after {what}, {want.fds} before: {fd_kinds(p.pid)}")
        assert got.hugetlb_kb == want.hugetlb_kb, (
            f"{p.name} maps {got.hugetlb_kb} kB of hugetlb after {what}, "
            f"{want.hugetlb_kb} kB before")
        assert got.rss_kb - want.rss_kb <= RSS_SLACK_KB, (
            f"{p.name} RSS grew by {got.rss_kb - want.rss_kb} kB across {what} "
            f"({want} -> {got}; slack {RSS_SLACK_KB} kB)")
    return out


# ----- connections ----------------------------------------------------------

def unix_connections(path):
    """Connected server-side sockets bound to path (accepted or not yet)."""
    n = 0
    with open("/proc/net/unix", encoding="utf-8", errors="replace") as f:
        next(f)
        for line in f:
            fields = line.split()
            # Num RefCount Protocol Flags Type St Inode [Path]; St 03: an
            # accepted connection, 02: one still in the listener's backlog
            if len(fields) >= 8 and fields[7] == path and fields[5] in ("02", "03"):
                n += 1
    return n


def wait_connection(path, timeout=15):
    """Wait until a connection to the socket at path exists."""
    deadline = time.monotonic() + timeout
    while unix_connections(path) == 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"no connection to {path} within {timeout}s")
        time.sleep(0.05)


# ----- SIGSTOP / SIGCONT ------------------------------------------------------

def freeze(p):
    """SIGSTOP p (a testpmd or the device): it answers nothing until thaw()."""
    p.signal(signal.SIGSTOP)
    p.frozen = True


def thaw(p):
    p.signal(signal.SIGCONT)
    p.frozen = False


def thaw_all(procs):
    """SIGCONT whatever freeze() left stopped (a failed test's cleanup: a
    stopped testpmd would not act on its quit)."""
    for p in procs:
        if p is not None and getattr(p, "frozen", False) and p.alive():
            thaw(p)


# ----- traffic ----------------------------------------------------------------

def circulate(fe, pkt_len=64):
    """Packets go round: the front-end io-forwards what comes back."""
    fe.send(f"set txpkts {pkt_len}")
    fe.send("set fwd io")
    fe.send("start tx_first 4", until=r"forwarding packets/burst")


def moves(fe, secs=0.5):
    a = fe.stats().rx_packets
    time.sleep(secs)
    return fe.stats().rx_packets > a


def unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass

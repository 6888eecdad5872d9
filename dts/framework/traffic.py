# SPDX-License-Identifier: BSD-3-Clause
"""Exact packet counting between a virtio_user front-end and a vhost back-end.

Method (both peers interactive testpmd, see testpmd.py):

1. Read ``show port stats`` on both peers; every count below is the
   difference from this reading. (Not ``clear port stats``: net_vhost's
   reset races with its forwarding lcore's ``stats.pkts += nb_rx``, which
   runs on every poll, so a clear while the back-end forwards can be lost.)
2. The back-end io-forwards (already started): every packet it receives from
   the front-end goes straight back to it on the same queue.
3. The front-end is in rxonly mode. ``start tx_first B`` makes it send B bursts
   of 32 packets of ``set txpkts L`` bytes on every queue before it starts
   polling; it then receives what the back-end forwards. We wait until the
   front-end's RX count reaches the round's total (polling ``show port
   stats``), then ``stop``. Rounds are repeated so that the ring indexes wrap
   several times (a round is kept well below the 256-entry default ring so
   that nothing is legitimately dropped because a peer was not polling yet).
4. After the last round and a short settle time, all four counters must be
   exactly N = rounds * B * 32 * queues: front-end TX, back-end RX, back-end
   TX, front-end RX; and no errors or missed packets anywhere; byte counters
   are N * L.
5. Per queue (``show port xstats``), each of those four is N / queues, and so
   are the back-end's vring counters that net_vhost reads from the library
   under test through rte_vhost_vring_stats_get() (rx_qK_good_packets,
   tx_qK_good_packets).
"""

import time
from dataclasses import dataclass

from .testpmd import BURST, PortStats

SETTLE_S = 0.5
STALL_S = 3.0  # a round with no new packet received for this long has lost some


# (who, xstat name pattern, what it is): per-queue counters checked by step 5.
PER_QUEUE = [
    ("frontend", "tx_q{q}_good_packets", "front-end TX"),
    ("backend", "rx_q{q}_packets", "back-end RX (ethdev)"),
    ("backend", "rx_q{q}_good_packets", "back-end RX (rte_vhost_vring_stats)"),
    ("backend", "tx_q{q}_packets", "back-end TX (ethdev)"),
    ("backend", "tx_q{q}_good_packets", "back-end TX (rte_vhost_vring_stats)"),
    ("frontend", "rx_q{q}_good_packets", "front-end RX"),
]


@dataclass
class Counts:
    expected: int
    frontend: PortStats
    backend: PortStats
    queues: int = 1
    frontend_x: PortStats = None
    backend_x: PortStats = None

    def queue_mismatches(self):
        """Per-queue counters that are not expected / queues (list of strings)."""
        want = self.expected // self.queues
        bad = []
        for q in range(self.queues):
            for who, pattern, what in PER_QUEUE:
                x = self.frontend_x if who == "frontend" else self.backend_x
                name = pattern.format(q=q)
                got = x.get(name)
                if got != want:
                    bad.append(f"{what} queue {q} ({name}): "
                               f"{'missing' if got is None else got}, expected {want}")
        return bad

    def summary(self):
        f, b = self.frontend, self.backend
        return (f"expected {self.expected} each way: front-end TX {f.tx_packets} -> "
                f"back-end RX {b.rx_packets}, back-end TX {b.tx_packets} -> "
                f"front-end RX {f.rx_packets}; errors fe rx/tx {f.rx_errors}/{f.tx_errors} "
                f"be rx/tx {b.rx_errors}/{b.tx_errors}, missed fe {f.rx_missed} "
                f"be {b.rx_missed}, nombuf fe {f.rx_nombuf} be {b.rx_nombuf}")

    @property
    def exact(self):
        f, b, n = self.frontend, self.backend, self.expected
        return (f.tx_packets == n and b.rx_packets == n and b.tx_packets == n
                and f.rx_packets == n and f.rx_errors == 0 and f.tx_errors == 0
                and b.rx_errors == 0 and b.tx_errors == 0 and f.rx_missed == 0
                and b.rx_missed == 0)

    def byte_counts_match(self, pkt_len):
        """Bytes seen by each counter are N * pkt_len (no truncation/padding)."""
        n = self.expected * pkt_len
        return (self.frontend.tx_bytes == n and self.backend.rx_bytes == n
                and self.backend.tx_bytes == n and self.frontend.rx_bytes == n)


def assert_exact(counts, pkt_len=64):
    """Every counter of counts exactly as the method above requires: packets,
    bytes (N x pkt_len), and per queue."""
    assert counts.exact, counts.summary()
    assert counts.byte_counts_match(pkt_len), (
        f"byte counters differ from {counts.expected} x {pkt_len}: {counts.summary()} "
        f"bytes fe tx {counts.frontend.tx_bytes} be rx {counts.backend.rx_bytes} "
        f"be tx {counts.backend.tx_bytes} fe rx {counts.frontend.rx_bytes}")
    bad = counts.queue_mismatches()
    assert not bad, "per-queue counts: " + "; ".join(bad)


def assert_counts_exact(frontend, backend, lengths=(64,), queues=1):
    """send_and_count() and assert_exact(), once per packet length in turn."""
    for pkt_len in lengths:
        assert_exact(send_and_count(frontend, backend, pkt_len, queues=queues), pkt_len)


def send_and_count(frontend, backend, pkt_len, *, queues=1, bursts=4, rounds=8,
                   round_timeout=20):
    """Run the method above; return Counts (does not assert)."""
    fe0, be0 = frontend.stats(), backend.stats()
    fex0, bex0 = frontend.xstats(), backend.xstats()
    frontend.send(f"set txpkts {pkt_len}")
    per_round = bursts * BURST * queues
    for r in range(1, rounds + 1):
        frontend.send(f"start tx_first {bursts}", until=r"forwarding packets/burst")
        deadline = time.monotonic() + round_timeout
        last, last_change = -1, time.monotonic()
        while True:
            rx = (frontend.stats() - fe0).rx_packets
            now = time.monotonic()
            if rx >= r * per_round or now > deadline or now - last_change > STALL_S:
                break
            if rx != last:
                last, last_change = rx, now
            time.sleep(0.05)
        frontend.stop_forwarding()
        if (frontend.stats() - fe0).rx_packets < r * per_round:
            break  # lost packets: stop here, the counts tell what happened
    time.sleep(SETTLE_S)
    return Counts(rounds * per_round, frontend.stats() - fe0, backend.stats() - be0,
                  queues, frontend.xstats() - fex0, backend.xstats() - bex0)


def drain(fe, quiet_s=0.5, timeout=10):
    """Stop circulating, back to rxonly, and receive what is still in flight
    so that the next exact count starts from empty rings."""
    fe.stop_forwarding()
    fe.send("set fwd rxonly")
    fe.send("start", until=r"forwarding packets/burst")
    deadline = time.monotonic() + timeout
    last, since = fe.stats().rx_packets, time.monotonic()
    while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
        time.sleep(0.1)
        now = fe.stats().rx_packets
        if now != last:
            last, since = now, time.monotonic()
    fe.stop_forwarding()

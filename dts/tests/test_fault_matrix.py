# SPDX-License-Identifier: BSD-3-Clause
"""The fault matrix: every process, killed or frozen, at every stage, on both transports.

Topologies (one fresh topology per cell, started in parallel where it can):

  af_unix: front-end net_virtio_user (Debian) <-vhost-user-> back-end
           net_vhost on our librte_vhost.so.23 (dts/conftest.py ``topo``).
           The back-end is the reconnecting client (client=1) of a server=1
           front-end, so that either one can be restarted alone; except in
           the cells frontend-*-handshake, where the back-end is the server
           (see "during handshake" below).
  vvu:     front-end server=1 <-vhost-user-> dpdk-vvu-device --client
           <-vfio-user-> back-end net_vhost0,iface=vfio-user:SOCK
           (framework/vvu.py ``vvu``); each process can be restarted alone.

Cells: test_fault[TRANSPORT-WHO-FAULT-STAGE], WHO the process that gets the
fault (frontend, backend, device for vvu), FAULT one of

  kill9     SIGKILL, then a new process of the same role is started;
  stopcont  SIGSTOP, STOP_S (1.5 s: longer than every retry period), SIGCONT;

at STAGE one of

  before_connect  between two front-end sessions: a first front-end
          connected, counted exactly, and quit; WHO gets the fault before the
          next front-end's connection exists. For WHO=frontend the new
          front-end is up and listening while the process that would connect
          to it (the back-end on af_unix, the device on vvu) is SIGSTOPped;
          for the others, WHO gets the fault with no front-end running and,
          for stopcont, the new front-end is started while WHO is stopped.
  handshake  a connection exists and its handshake cannot finish: WHO is
          taken away cleanly and a new one started while its peer is
          SIGSTOPped, so that the connection is made (it waits in the
          peer's backlog, /proc/net/unix shows it) and the first request
          stays unanswered; then WHO gets the fault and the peer is
          SIGCONTed. The frozen peer: for WHO=backend the front-end (the
          back-end has connected, or the device connected for it, and
          waits for the first message); for WHO=frontend the back-end (the
          front-end's GET_FEATURES stays unanswered; on af_unix the
          back-end is then the vhost-user server so that a new front-end
          can connect to it while it is frozen); for WHO=device the
          front-end (the device has connected to it and told the
          back-end). For stopcont the peer is SIGCONTed while WHO is
          stopped, so WHO's pending messages pile up meanwhile.
  forwarding  packets circulate (both sides io forwarding) when WHO gets
          the fault.

After the fault: the processes of the topology that did not get it keep
running; every link comes up again; a burst is counted exactly both ways
(framework/traffic.py, 2 rounds of 4 x 32 packets of 64 B each way,
every counter exact); and each process that ran through the fault (for
stopcont, WHO too) has the figures it had before (framework/faults.py):
its fd count and hugetlb pages exactly, its RSS within RSS_SLACK_KB. The
figures are compared in the same state: connected and counted (handshake,
forwarding), or with no front-end connected (before_connect, after the new
front-end's session has been counted and quit again).

test_vvu_lifecycle.py covers neighbours of some cells with other checks
(a restart while forwarding, fds only; a frozen device with a connection up);
this file adds the stages, the freezes of every process and the memory
figures.
"""

import os
import time

import pytest

from framework import testpmd as tp
from framework.faults import (STOP_S, assert_figures_back, circulate, figures_of, freeze,
                              moves, thaw, thaw_all, unix_connections, unlink, wait_connection)
from framework.proc import go_away
from framework.traffic import assert_exact, drain, send_and_count
from framework.vvu import BACKEND, DEVICE, FRONTEND

LINK_TIMEOUT = 60
TRANSPORTS = {"af_unix": (FRONTEND, BACKEND), "vvu": (FRONTEND, DEVICE, BACKEND)}
FAULTS = ["kill9", "stopcont"]
STAGES = ["before_connect", "handshake", "forwarding"]
# Cells the front-end cannot survive, whatever back-end it has: in them a
# Debian 22.11 virtio_user server=1 front-end, frozen, thaws and accepts a
# connection whose other end (the killed back-end, or the device that the
# back-end's or its own death took down) is gone already. Its reconnect
# then fails on EPIPE and leaves it resuming the next peer with neither
# SET_OWNER nor its ring-stop opening, and then no longer listening; the
# af_unix cell fails the same way on Debian's own librte_vhost
# (VHOST_LIB_DIR=debian). Not run (a reason is printed) unless
# DTS_FAULT_RUN_KNOWN=1, which runs them as strict xfails.
KNOWN_FRONTEND_DEFECT = {
    ("af_unix", BACKEND, "kill9", "handshake"),
    ("vvu", BACKEND, "kill9", "handshake"),
    ("vvu", DEVICE, "kill9", "handshake"),
}
RUN_KNOWN = os.environ.get("DTS_FAULT_RUN_KNOWN") == "1"


def _cell(t, who, fault, stage):
    marks = ()
    if (t, who, fault, stage) in KNOWN_FRONTEND_DEFECT:
        marks = pytest.mark.xfail(
            strict=True, run=RUN_KNOWN,
            reason="Debian 22.11 virtio_user server=1 does not recover from accepting a "
                   "connection whose peer died before it read it (fails the same on "
                   "Debian's librte_vhost); DTS_FAULT_RUN_KNOWN=1 runs it")
    return pytest.param(t, who, fault, stage, id=f"{t}-{who}-{fault}-{stage}", marks=marks)


CELLS = [_cell(t, who, fault, stage)
         for t, roles in TRANSPORTS.items() for who in roles
         for stage in STAGES for fault in FAULTS]


class Topology:
    """The processes of one cell, by role; starts and replaces them."""

    def __init__(self, transport, env, backend_client):
        self.transport = transport
        self.env = env
        self.backend_client = backend_client  # af_unix only
        self.procs = {}
        self.counter = {}
        # the socket of the front-end's vhost-user connection
        self.fe_sock = env.fe_sock if transport == "vvu" else env.sock

    @property
    def fe(self):
        return self.procs[FRONTEND]

    @property
    def be(self):
        return self.procs[BACKEND]

    def roles(self):
        return TRANSPORTS[self.transport]

    def _name(self, role):
        n = self.counter.get(role, 0) + 1
        self.counter[role] = n
        return role if n == 1 else f"{role}{n}"

    def fe_is_server(self):
        return self.transport == "vvu" or self.backend_client

    def new(self, role):
        """Create (not start) a process of role; it replaces the old one."""
        name = self._name(role)
        if role == DEVICE:
            p = self.env.device(name=name, client=True)
        elif role == BACKEND:
            if self.transport == "vvu":
                p = self.env.backend(name=name)
            else:
                p = self.env.backend(name=name, client=self.backend_client)
        else:
            p = self.env.frontend(name=name, server=self.fe_is_server())
            # Debian's virtio_user writes to a back-end that died mid-handshake
            # without MSG_NOSIGNAL; testpmd would die of the SIGPIPE, QEMU
            # (which ignores SIGPIPE) sees EPIPE and waits for a new back-end.
            p.ignore_sigpipe = True
        self.procs[role] = p
        return p

    def launch(self, role):
        """Start a new process of role without waiting for any connection: a
        back-end up to its prompt and forwarding, a device up to its socket,
        a front-end spawned (a server=1 one waits in its init for a peer)."""
        p = self.new(role)
        if role == FRONTEND:
            if self.fe_is_server():
                # a killed virtio_user server leaves its socket file behind
                unlink(self.fe_sock)
            p.spawn()
        elif role == DEVICE:
            p.start()
        else:
            p.start()
            p.check_vhost_library(self.env.lib)
            p.start_forwarding()
        return p

    def wait_up(self):
        """The front-end initialised, both links up."""
        self.fe.wait_ready(LINK_TIMEOUT)
        tp.wait_links((self.be, self.fe), timeout=LINK_TIMEOUT)

    def start_all(self):
        """Every role, the listening ones first; a server=1 front-end is only
        spawned (its init waits for its peer), so that its EAL starts while
        the back-end's does."""
        if self.transport == "af_unix" and not self.backend_client:
            order = [BACKEND, FRONTEND]  # the front-end connects to the back-end
        else:
            order = [r for r in (DEVICE, FRONTEND, BACKEND) if r in self.roles()]
        for role in order:
            self.launch(role)
        self.wait_up()

    def wait_links_down(self, roles):
        for role in roles:
            if role in (FRONTEND, BACKEND):
                self.procs[role].wait_link(up=False, timeout=LINK_TIMEOUT)

    def count_exact(self):
        """A short exact count both ways (fe rxonly, be io forwarding)."""
        assert_exact(send_and_count(self.fe, self.be, 64, rounds=2))

    def others(self, who):
        return [self.procs[r] for r in self.roles() if r != who]

    def all(self):
        return [self.procs[r] for r in self.roles()]


# The process that is SIGSTOPped so that WHO's connection is made but its
# handshake cannot finish (see the module's docstring).
HANDSHAKE_PEER = {FRONTEND: BACKEND, BACKEND: FRONTEND, DEVICE: FRONTEND}
# The process that would connect to a new front-end, SIGSTOPped so that the
# front-end stays before its connection (before_connect, WHO=frontend).
CONNECTOR = {"af_unix": BACKEND, "vvu": DEVICE}


def run_fault(topo, who, fault):
    """Apply the fault to who; for kill9 start a new one (not waited for)."""
    p = topo.procs[who]
    if fault == "kill9":
        p.kill()
        return topo.launch(who)
    freeze(p)
    time.sleep(STOP_S)
    thaw(p)
    return p


def stage_forwarding(topo, who, fault):
    topo.start_all()
    topo.count_exact()
    watched = topo.others(who) if fault == "kill9" else topo.all()
    before = figures_of(watched)
    circulate(topo.fe)
    assert moves(topo.fe), "no traffic before the fault"
    run_fault(topo, who, fault)
    for p in watched:
        assert p.alive(), f"{p.name} died when the {who} got {fault}"
    topo.wait_up()
    if who == FRONTEND and fault == "kill9":
        circulate(topo.fe)  # the old one's packets died with it
    elif not moves(topo.fe):
        # in-flight packets were lost with a restarted or frozen peer;
        # new ones keep going once injected
        topo.fe.stop_forwarding()
        circulate(topo.fe)
    assert moves(topo.fe), f"traffic did not resume after the {who} got {fault}"
    drain(topo.fe, quiet_s=0.3)
    topo.count_exact()
    return watched, before


def stage_handshake(topo, who, fault):
    topo.start_all()
    topo.count_exact()
    survivors = topo.others(who)
    before = figures_of(survivors)
    peer = topo.procs[HANDSHAKE_PEER[who]]

    # WHO leaves cleanly; its peers see it go and close the connection.
    go_away(topo.procs[who], "clean")
    topo.wait_links_down([r for r in topo.roles() if r != who])
    deadline = time.monotonic() + LINK_TIMEOUT
    while unix_connections(topo.fe_sock) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert unix_connections(topo.fe_sock) == 0, "the old connection is still there"

    freeze(peer)
    try:
        topo.launch(who)
        wait_connection(topo.fe_sock, LINK_TIMEOUT)
        time.sleep(0.3)  # the first requests are sent (or wait to be read)
        p = topo.procs[who]
        if fault == "kill9":
            p.kill()
            thaw(peer)
            topo.launch(who)
        else:
            freeze(p)
            thaw(peer)  # its requests or replies pile up at the frozen WHO
            time.sleep(STOP_S)
            thaw(p)
    finally:
        thaw_all([peer] + topo.all())
    for p in survivors:
        assert p.alive(), f"{p.name} died when the {who} got {fault} in the handshake"
    topo.wait_up()
    topo.count_exact()
    # WHO itself has no figures from before: it is a new process
    return survivors, before


def stage_before_connect(topo, who, fault):
    """Figures are compared between front-end sessions (no front-end connected)."""
    topo.start_all()
    topo.count_exact()
    go_away(topo.fe, "clean")
    topo.wait_links_down([BACKEND])
    watched = [p for p in topo.all() if p.name != topo.fe.name and
               (fault == "stopcont" or p is not topo.procs[who])]
    if who == FRONTEND:
        watched = [p for p in topo.all() if p is not topo.fe]
        connector = topo.procs[CONNECTOR[topo.transport]]
        before = figures_of(watched)
        freeze(connector)
        try:
            fe = topo.launch(FRONTEND)
            topo_wait_socket(topo.fe_sock)
            assert unix_connections(topo.fe_sock) == 0, "connected while the connector is frozen"
            if fault == "kill9":
                fe.kill()
                topo.launch(FRONTEND)
                topo_wait_socket(topo.fe_sock)
                thaw(connector)
            else:
                freeze(fe)
                thaw(connector)  # it connects into the frozen front-end's backlog
                time.sleep(STOP_S)
                thaw(fe)
        finally:
            thaw_all(topo.all())
    else:
        before = figures_of(watched)
        p = topo.procs[who]
        if fault == "kill9":
            p.kill()
            topo.launch(who)
            topo.launch(FRONTEND)
        else:
            freeze(p)
            try:
                topo.launch(FRONTEND)  # the new front-end comes while WHO is frozen
                time.sleep(STOP_S)
            finally:
                thaw(p)
    for p in watched:
        assert p.alive(), f"{p.name} died when the {who} got {fault} before connect"
    topo.wait_up()
    topo.count_exact()
    # back to the state of the figures: no front-end session
    go_away(topo.fe, "clean")
    topo.wait_links_down([BACKEND])
    return watched, before


def topo_wait_socket(path, timeout=LINK_TIMEOUT):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} not created within {timeout}s")
        time.sleep(0.05)


@pytest.mark.parametrize("transport, who, fault, stage", CELLS)
def test_fault(request, topo, transport, who, fault, stage):
    env = request.getfixturevalue("vvu") if transport == "vvu" else topo
    backend_client = not (who == FRONTEND and stage == "handshake")
    t = Topology(transport, env, backend_client)
    try:
        if stage == "forwarding":
            watched, before = stage_forwarding(t, who, fault)
        elif stage == "handshake":
            watched, before = stage_handshake(t, who, fault)
        else:
            watched, before = stage_before_connect(t, who, fault)
        figs = assert_figures_back(watched, before, f"the {who}'s {fault} at {stage}")
    finally:
        thaw_all(t.all())
    for name, (b, a) in figs.items():
        print(f"FIGURES {request.node.name} {name}: before {b}; after {a}; "
              f"RSS {a.rss_kb - b.rss_kb:+d} kB")

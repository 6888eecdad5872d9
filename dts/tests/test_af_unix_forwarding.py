# SPDX-License-Identifier: BSD-3-Clause
"""AF_UNIX forwarding between real peers, counted exactly.

Topology (one AF_UNIX socket in a private temp dir, two CPUs):

    front-end: Debian dpdk-testpmd, net_virtio_user0, Debian's libraries,
               rxonly on lcore 0, sends with "start tx_first"
        |  vhost-user over AF_UNIX
    back-end:  Debian dpdk-testpmd, net_vhost0, LD_LIBRARY_PATH -> the
               librte_vhost.so.23 under test (VHOST_LIB_DIR), io fwd on lcore 1

"vhost_server": the back-end owns the socket (default net_vhost), started first.
"vhost_client": the back-end connects (client=1) to a virtio_user server=1.

Test plan
  1. test_backend_loads_the_selected_librte_vhost: /proc/PID/maps of the back-end
     holds exactly the library under test.
  2. test_exact_counts_both_directions[side-ring-mrg-len-queues]: every
     combination of vhost server/client, split/packed ring, mergeable rx buffers
     on/off, 64/1518-byte packets, 1/2 queue pairs: the front-end sends N, the
     back-end receives N and forwards N, the front-end receives N (bytes too,
     and N / queues on every queue, including the library's vring stats).
  3. test_vhost_client_started_first_connects_when_frontend_appears: the
     back-end (client=1) starts before any server exists and connects once the
     front-end's socket appears (reconnect); then exact counts.
  4. test_frontend_restart_traffic_resumes[sigkill|quit]: vhost server; the
     front-end dies (or quits) and a new one connects; exact counts again.
  5. test_backend_restart_traffic_resumes[sigkill|quit]: vhost client; the
     back-end dies (or quits), a new one reconnects to the same front-end;
     exact counts again.
  6. test_frontend_gone_memory_released[sigkill|quit]: the back-end maps the
     front-end's memory while connected; once the front-end is gone it holds
     no fd and no mapping of it (they would pin its hugepages).
Counting method: framework/traffic.py.
"""

import pytest

from framework.proc import go_away, held_inodes, memory_inodes, wait_released
from framework.testpmd import wait_links
from framework.traffic import assert_counts_exact

SIDES = ["vhost_server", "vhost_client"]
RINGS = ["split", "packed"]
MRG = ["mrg_on", "mrg_off"]
LENGTHS = [64, 1518]
QUEUES = [1, 2]
# How a peer goes away: a crash, or its own clean exit.
HOW = ["sigkill", "quit"]


def connect(topo, side="vhost_server", queues=1, ring="split", mrg="mrg_on"):
    """Start both peers in the order the side needs; return (frontend, backend)
    once the back-end forwards and both links are up."""
    client = side == "vhost_client"
    fe = topo.frontend(server=client, queues=queues, packed=ring == "packed",
                       mrg_rxbuf=mrg == "mrg_on")
    be = topo.backend(client=client, queues=queues)
    first, second = (fe, be) if client else (be, fe)
    first.spawn()  # the socket's server
    topo.wait_socket()
    second.start()
    first.wait_ready()
    be.check_vhost_library(topo.lib)
    be.start_forwarding()
    wait_links((be, fe))
    return fe, be


def test_backend_loads_the_selected_librte_vhost(topo):
    be = topo.backend()
    be.start()
    be.check_vhost_library(topo.lib)


@pytest.mark.parametrize("queues", QUEUES, ids=lambda q: f"{q}q")
@pytest.mark.parametrize("pkt_len", LENGTHS, ids=lambda n: f"{n}B")
@pytest.mark.parametrize("mrg", MRG)
@pytest.mark.parametrize("ring", RINGS)
@pytest.mark.parametrize("side", SIDES)
def test_exact_counts_both_directions(topo, side, ring, mrg, pkt_len, queues):
    fe, be = connect(topo, side, queues, ring, mrg)
    assert_counts_exact(fe, be, (pkt_len,), queues)


def test_vhost_client_started_first_connects_when_frontend_appears(topo):
    be = topo.backend(client=True)
    be.start()
    be.start_forwarding()
    assert not be.link_up(), "link up without a front-end"
    fe = topo.frontend(server=True)
    fe.start()  # its init completes once the waiting back-end has connected
    wait_links((be, fe))
    assert_counts_exact(fe, be)


@pytest.mark.parametrize("how", HOW)
def test_frontend_restart_traffic_resumes(topo, how):
    fe, be = connect(topo, "vhost_server")
    assert_counts_exact(fe, be)

    go_away(fe, how)
    be.wait_link(up=False)

    fe2 = topo.frontend(name="frontend2")
    fe2.start()
    wait_links((be, fe2))
    assert_counts_exact(fe2, be, LENGTHS)


@pytest.mark.parametrize("how", HOW)
def test_backend_restart_traffic_resumes(topo, how):
    fe, be = connect(topo, "vhost_client")
    assert_counts_exact(fe, be)

    go_away(be, how)
    fe.wait_link(up=False)

    be2 = topo.backend(client=True, name="backend2")
    be2.start()
    be2.check_vhost_library(topo.lib)
    be2.start_forwarding()
    wait_links((be2, fe))
    assert_counts_exact(fe, be2, LENGTHS)


@pytest.mark.parametrize("how", HOW)
def test_frontend_gone_memory_released(topo, how):
    fe, be = connect(topo, "vhost_server")
    assert_counts_exact(fe, be)
    mem = memory_inodes(fe.pid)
    assert mem, "the front-end has no memory file open"
    assert held_inodes(be.pid, mem), "the back-end does not map the front-end's memory"

    go_away(fe, how)
    be.wait_link(up=False)
    assert be.alive(), "the back-end died when the front-end went away"
    held = wait_released(be.pid, mem)
    assert not held, f"the back-end still holds the gone front-end's memory: inodes {held}"

# SPDX-License-Identifier: BSD-3-Clause
"""Fixtures shared by every dts suite.

Environment:
  VVU_BUILD_DIR   the meson build dir (default: <repo>/build)
  VHOST_LIB_DIR   directory holding the librte_vhost.so.23 the back-end loads
                  (default: <build>/lib/vhost); "debian" = Debian's own library
                  (no LD_LIBRARY_PATH), used to validate the harness itself
  DTS_LOG_DIR     where each test's testpmd logs go (default: <build>/dts-logs)
  DTS_TEST_TIMEOUT  seconds one test may take before it is aborted (default 150)
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile

import pytest

from framework import proc
from framework import testpmd as tp
from framework.hostile import VHOST_BLK_SRC, build_vhost_blk

# The vvu fixture (the VVU topology, built on topo below) and the appliance
# fixtures (the appliance VM) for every suite.
pytest_plugins = ("framework.vvu", "framework.appliance")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD_DIR = os.path.abspath(os.environ.get("VVU_BUILD_DIR", os.path.join(REPO, "build")))
LOG_ROOT = os.path.abspath(os.environ.get("DTS_LOG_DIR", os.path.join(BUILD_DIR, "dts-logs")))
TEST_TIMEOUT = int(os.environ.get("DTS_TEST_TIMEOUT", "150"))


class VhostLibrary:
    """Which librte_vhost.so.23 the back-end runs on."""

    def __init__(self, setting):
        if setting == "debian":
            self.name = "debian"
            self.dir = None  # no LD_LIBRARY_PATH
            self.path = os.path.realpath(tp.DEBIAN_VHOST_LIB)
        else:
            self.name = "ours"
            self.dir = os.path.abspath(setting)
            self.path = os.path.realpath(os.path.join(self.dir, "librte_vhost.so.23"))

    def __repr__(self):
        return f"VhostLibrary({self.name}: {self.path})"


def pytest_report_header(config):
    lib = VhostLibrary(os.environ.get("VHOST_LIB_DIR", os.path.join(BUILD_DIR, "lib", "vhost")))
    return [f"vhost library under test: {lib.name} ({lib.path})",
            f"testpmd logs: {LOG_ROOT}"]


@pytest.fixture(scope="session")
def vhost_lib():
    lib = VhostLibrary(os.environ.get("VHOST_LIB_DIR", os.path.join(BUILD_DIR, "lib", "vhost")))
    if not os.path.isfile(lib.path):
        pytest.fail(f"no librte_vhost.so.23 at {lib.path} (build first, or VHOST_LIB_DIR=debian)")
    return lib


@pytest.fixture(scope="session")
def hugepages():
    """2 MiB hugepages reserved and hugetlbfs mounted (reserves them if root)."""
    def ok():
        with open("/proc/meminfo", encoding="ascii") as f:
            free = int(re.search(r"HugePages_Free:\s+(\d+)", f.read()).group(1))
        with open("/proc/mounts", encoding="ascii") as f:
            mounted = any(line.split()[2] == "hugetlbfs" for line in f)
        return free >= 256 and mounted
    if not ok() and os.geteuid() == 0:
        subprocess.run(["bash", os.path.join(REPO, "usertools", "vvu-hugepages.sh")], check=False)
    if not ok():
        pytest.skip("needs >= 256 free 2 MiB hugepages and hugetlbfs mounted "
                    "(run usertools/vvu-hugepages.sh as root)")


@pytest.fixture(scope="session")
def testpmd_present():
    if shutil.which(tp.TESTPMD) is None:
        pytest.skip(f"{tp.TESTPMD} not installed (apt-get install dpdk)")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


class _TestTimeout(Exception):
    pass


@pytest.fixture(scope="session")
def vhost_blk_exe():
    """examples/vhost_blk (test_vhost_blk, test_hostile_frontends), built once per
    source change into <build>/dts-vhost-blk."""
    if not all(os.path.isfile(os.path.join(VHOST_BLK_SRC, f))
               for f in ("blk.c", "vhost_blk.c", "vhost_blk_compat.c")):
        pytest.skip(f"no examples/vhost_blk sources in {VHOST_BLK_SRC} "
                    "(apt-get install dpdk-doc)")
    return build_vhost_blk(os.path.join(BUILD_DIR, "dts-vhost-blk"))


@pytest.fixture
def topo(request, hugepages, testpmd_present, vhost_lib):
    """Per-test topology: a short socket dir, a log dir, peer factories.

    Every testpmd started through it is killed by pid at the end of the test,
    even on failure; the test is aborted after DTS_TEST_TIMEOUT seconds.
    """
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    log_dir = os.path.join(LOG_ROOT, name)
    shutil.rmtree(log_dir, ignore_errors=True)
    os.makedirs(log_dir)
    # sun_path is 108 bytes: keep the socket dir short (not under tmp_path).
    sock_dir = tempfile.mkdtemp(prefix="vvu-")
    started = []

    class Topology:
        lib = vhost_lib
        sock = os.path.join(sock_dir, "vhost.sock")
        logs = log_dir

        @staticmethod
        def backend(**kw):
            kw.setdefault("lib_dir", vhost_lib.dir)
            started.append(tp.backend(log_dir, Topology.sock, **kw))
            return started[-1]

        @staticmethod
        def frontend(**kw):
            started.append(tp.frontend(log_dir, Topology.sock, **kw))
            return started[-1]

        @staticmethod
        def wait_socket(timeout=30):
            """Wait for the server side's socket file to appear."""
            import time
            deadline = time.monotonic() + timeout
            while not os.path.exists(Topology.sock):
                if time.monotonic() > deadline:
                    raise tp.TestPmdError(f"{Topology.sock} not created within {timeout}s")
                time.sleep(0.1)

    def on_alarm(signum, frame):
        raise _TestTimeout(f"test exceeded DTS_TEST_TIMEOUT={TEST_TIMEOUT}s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_TIMEOUT)
    try:
        yield Topology
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        proc.finish_all(started, proc.call_failed(request))
        shutil.rmtree(sock_dir, ignore_errors=True)


def pytest_sessionfinish(session, exitstatus):
    proc.kill_all()


def _on_sigterm(signum, frame):
    proc.kill_all()
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _on_sigterm)

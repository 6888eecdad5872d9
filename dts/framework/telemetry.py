# SPDX-License-Identifier: BSD-3-Clause
"""Debian's ``dpdk-telemetry.py`` (package dpdk-dev) as the suites' telemetry client.

:func:`query` runs the script non-interactively, as an operator would pipe
commands into it: ``dpdk-telemetry.py -f PREFIX [-i N]`` with one command per
line on stdin; it prints one JSON object per command, ``{"CMD": VALUE}``.
Both dpdk-vhost-switch (EAL's telemetry) and dpdk-vvu-device (the device's
own server, app/vvu-device/vvu_dev_telemetry.h) answer on
``RUNTIME/dpdk/PREFIX/dpdk_telemetry.v2``.

:func:`require` skips a test, with the reason, when the script is missing;
:func:`remove_runtime_dir` removes what a killed process left under
``RUNTIME/dpdk/PREFIX`` (its socket files, then the directory if empty).
"""

import glob
import json
import os
import subprocess
import sys

import pytest

SCRIPT = os.environ.get("DPDK_TELEMETRY", "/usr/bin/dpdk-telemetry.py")
SOCKET_NAME = "dpdk_telemetry.v2"


class TelemetryError(Exception):
    """The script did not answer every command with one JSON line."""


def require():
    if not os.path.isfile(SCRIPT):
        pytest.skip(f"{SCRIPT} not installed (apt-get install dpdk-dev)")


def runtime_dir(prefix):
    """RUNTIME/dpdk/prefix, by the rule of EAL and of the script."""
    base = os.environ.get("RUNTIME_DIRECTORY")
    if not base:
        base = "/var/run" if os.getuid() == 0 else os.environ.get("XDG_RUNTIME_DIR", "/tmp")
    return os.path.join(base, "dpdk", prefix)


def socket_path(prefix, instance=0):
    path = os.path.join(runtime_dir(prefix), SOCKET_NAME)
    return path if instance == 0 else f"{path}:{instance}"


def query(prefix, commands, instance=0, timeout=15):
    """Each command's value, in order: the script's reply {"CMD": VALUE}
    (CMD the command without its parameters) gives VALUE."""
    argv = [sys.executable, SCRIPT, "-f", prefix]
    if instance:
        argv += ["-i", str(instance)]
    r = subprocess.run(argv, input="".join(c + "\n" for c in commands), capture_output=True,
                       text=True, timeout=timeout, check=False)
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    if r.returncode != 0 or len(lines) != len(commands):
        raise TelemetryError(f"{' '.join(argv)} exit {r.returncode} for {commands}:\n"
                             f"stdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-2000:]}")
    values = []
    for cmd, line in zip(commands, lines):
        reply = json.loads(line)
        key = cmd.split(",", 1)[0]
        if list(reply) != [key]:
            raise TelemetryError(f"reply to {cmd!r} is {line}")
        values.append(reply[key])
    return values


def one(prefix, command, **kw):
    return query(prefix, [command], **kw)[0]


def remove_runtime_dir(prefix):
    """After the process of prefix ended (maybe by SIGKILL): its telemetry
    sockets and, if nothing else is in it, the directory."""
    d = runtime_dir(prefix)
    for p in glob.glob(os.path.join(d, SOCKET_NAME + "*")):
        try:
            os.unlink(p)
        except OSError:
            pass
    try:
        os.rmdir(d)
    except OSError:
        pass

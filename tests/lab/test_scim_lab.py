"""The lab's scim2-server never outlives a killed owner (unless asked to, for `lab --keep`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.scim

CHILD = """
import sys, time
from hybridsync.engine.lab.scim import ScimLab
lab = ScimLab().start(tie_to_parent=sys.argv[1] == "tie")
print(lab.port, lab._proc.pid, flush=True)
time.sleep(120)
"""


def _answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _start_and_kill(mode: str) -> tuple[int, int]:
    owner = subprocess.Popen([sys.executable, "-c", CHILD, mode], stdout=subprocess.PIPE, text=True)
    port, server_pid = (int(x) for x in owner.stdout.readline().split())
    assert _answers(port)
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    return port, server_pid


def test_a_scim_lab_server_exits_when_its_owner_is_killed():
    port, _ = _start_and_kill("tie")
    deadline = time.monotonic() + 15
    while _answers(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _answers(port)


def test_an_untied_scim_lab_server_outlives_its_owner_for_lab_keep():
    port, server_pid = _start_and_kill("keep")
    time.sleep(1)
    try:
        assert _answers(port)
    finally:
        os.kill(server_pid, signal.SIGTERM)

"""Crash safety against the real scim2-server: a subprocess engine is kill -9'ed mid-apply, then a
clean run converges with zero duplicate externalIds and nothing lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.scim

CHILD = str(Path(__file__).with_name("crash_child.py"))
N = 30


def spawn(state, scim_server, edit_round=0, n=N, page_size=10, bulk_chunk=0):
    """``bulk_chunk`` 0: one request per create (kill points count single writes)."""
    return subprocess.Popen([sys.executable, CHILD, str(state), scim_server.url, scim_server.token_file, str(n),
                             str(edit_round), str(page_size), str(bulk_chunk)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def kill_after_requests(proc, backdoor, writes: int, timeout: float = 60, key: str | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        counts = backdoor.requests()
        if (counts.get(key, 0) if key else counts.get("POST", 0) + counts.get("PATCH", 0) + counts.get("PUT", 0)) >= writes:
            break
        time.sleep(0.005)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


def check_target(backdoor, edit_round: int, n: int = N) -> None:
    users = backdoor.resources("User")
    groups = backdoor.resources("Group")
    ext = Counter(r.get("externalId") for r in users + groups)
    assert [e for e, c in ext.items() if c > 1] == []  # zero duplicates
    names = Counter(r.get("userName") for r in users)
    assert [e for e, c in names.items() if c > 1] == []
    assert len(users) == n and len(groups) == 3  # nothing lost
    titles = {r["userName"]: r.get("title") for r in users}
    assert titles["crash0@lab.test"] == f"round{edit_round}" and titles["crash1@lab.test"] == "steady"
    by_id = {r["id"]: r.get("userName") for r in users}
    g0 = next(g for g in groups if g["displayName"] == "crashgroup0")
    want = {f"crash{i}@lab.test" for i in range(0, n, 3 + edit_round % 2)}
    assert {by_id[m["value"]] for m in g0.get("members", [])} == want


@pytest.mark.parametrize("kill_at", [5, 31])
def test_a_kill_9_mid_apply_then_a_clean_run_leaves_no_duplicates_and_loses_nothing(kill_at, scim_server, tmp_path):
    scim_server.reset()
    state = tmp_path / "state.db"
    proc = spawn(state, scim_server)
    kill_after_requests(proc, scim_server.backdoor, kill_at)
    assert proc.returncode == -signal.SIGKILL, proc.stdout.read()
    # then a clean run on the edited directory
    clean = spawn(state, scim_server, edit_round=1)
    out, _ = clean.communicate(timeout=120)
    assert clean.returncode == 0, out[-3000:]
    check_target(scim_server.backdoor, 1)


@pytest.mark.parametrize("kill_at", [1, 3])
def test_a_kill_9_mid_bulk_full_sync_then_a_rerun_leaves_no_duplicates(kill_at, scim_server, tmp_path):
    """SCIM Bulk creates (the default on scim2-server): killed after ``kill_at`` /Bulk requests
    reached the server (one may be half processed), a rerun creates nothing twice."""
    scim_server.reset()
    state = tmp_path / "state.db"
    n = 600
    proc = spawn(state, scim_server, n=n, page_size=200, bulk_chunk=100)
    kill_after_requests(proc, scim_server.backdoor, kill_at, key="POST /Bulk")
    assert proc.returncode == -signal.SIGKILL, proc.stdout.read()
    assert 0 < len(scim_server.backdoor.resources("User")) < n  # killed mid full sync
    clean = spawn(state, scim_server, edit_round=1, n=n, page_size=200, bulk_chunk=100)
    out, _ = clean.communicate(timeout=300)
    assert clean.returncode == 0, out[-3000:]
    check_target(scim_server.backdoor, 1, n)
    assert scim_server.backdoor.requests()["POST /Bulk"] > kill_at  # the rerun's creates went in bulk too

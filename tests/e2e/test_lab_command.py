"""The README's main job, `hybridsync lab`, end to end on real services: it must sync the seeded
directory and see every live AD change land at the SCIM server, then stop what it started."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.samba, pytest.mark.scim, pytest.mark.slow]


def test_lab_syncs_the_seeded_directory_and_every_live_change_lands(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "hybridsync", "lab", "--dir", str(tmp_path / "lab")],
        capture_output=True, text=True, timeout=1500, env={**os.environ, "COLUMNS": "160"},
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert re.search(r"full sync in [\d.]+ s: .*create \d{4,}", out), out[-4000:]
    for change in ("create a user", "disable it", "re-enable it", "rename", "add to Group B",
                   "remove from Group B", "move out of scope", "move back into scope", "delete in AD",
                   "re-create with the same UPN"):
        assert re.search(rf"{re.escape(change)}.*: landed in [\d.]+ s", out), (change, out[-4000:])
    assert "not seen" not in out
    assert re.search(r"latency p50 [\d.]+ s, p95 [\d.]+ s", out)
    assert (tmp_path / "lab" / "hybridsync.toml").exists()
    # a demo, not a log dump: per-object lines go to the run folder's log file, said once
    assert "object_outcome" not in out and len(out.splitlines()) < 150, out[-4000:]
    log_file = tmp_path / "lab" / "hybridsync.log"
    assert out.count(str(log_file)) == 1
    log_lines = log_file.read_text().splitlines()
    assert sum('"object_outcome"' in ln for ln in log_lines) >= 5000
    # everything it started is stopped: the DC's LDAPS port and the SCIM port no longer answer
    dc = re.search(r"on ldaps://([\d.]+):636", out)
    scim = re.search(r"scim2-server on http://127\.0\.0\.1:(\d+)/", out)
    assert dc and scim
    for host, port in ((dc.group(1), 636), ("127.0.0.1", int(scim.group(1)))):
        with socket.socket() as s:
            s.settimeout(2)
            assert s.connect_ex((host, port)) != 0, f"{host}:{port} still answers after the lab ended"
    # the lab's own recording (real Samba batches, real SCIM answers) replays offline: every
    # decision of every cycle reproduces
    lab_dir = tmp_path / "lab"
    snap = subprocess.run([sys.executable, "-m", "hybridsync", "snapshot", "-c", str(lab_dir / "hybridsync.toml"),
                           str(tmp_path / "lab.snapshot.gz")], capture_output=True, text=True, timeout=300)
    assert snap.returncode == 0, snap.stderr[-2000:]
    replay = subprocess.run([sys.executable, "-m", "hybridsync", "replay", str(tmp_path / "lab.snapshot.gz"),
                             "--explain", "lab.alice@lab.test"], capture_output=True, text=True, timeout=900)
    assert replay.returncode == 0, (replay.stdout + replay.stderr)[-4000:]
    assert "every decision reproduced" in replay.stdout
    assert "match.recreated" in replay.stdout  # the replayed timeline of the re-created user

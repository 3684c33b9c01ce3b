"""`hybridsync lab --target entra`: the demo into the documentation-based fake Microsoft Graph
(not live Graph). It must sync the seeded directory, show contacts as unsupported, and see every
live AD change land."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.samba, pytest.mark.slow]


def test_lab_into_the_fake_graph_syncs_and_every_live_change_lands(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "hybridsync", "lab", "--target", "entra", "--dir", str(tmp_path / "lab")],
        capture_output=True, text=True, timeout=1500, env={**os.environ, "COLUMNS": "160"},
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "fake Microsoft Graph (documentation-based, not live Graph)" in out
    assert re.search(r"full sync in [\d.]+ s: .*create \d{4,}", out), out[-4000:]
    for change in ("create a user", "disable it", "re-enable it", "rename", "add to Group B",
                   "remove from Group B", "move out of scope", "move back into scope", "delete in AD",
                   "re-create with the same UPN"):
        assert re.search(rf"{re.escape(change)}.*: landed in [\d.]+ s", out), (change, out[-4000:])
    assert "not seen" not in out
    outcomes = [json.loads(ln) for ln in (tmp_path / "lab" / "hybridsync.log").read_text().splitlines()
                if '"object_outcome"' in ln]
    contacts = [o for o in outcomes if "contact" in (o.get("detail") or "")]
    assert contacts and all("unsupported by Microsoft Graph" in o["detail"] for o in contacts)

"""engine/plan is ``mypy --strict`` clean (skipped where mypy is not installed).

The editable install maps ``hybridsync.engine`` to ``engine/`` through an import hook mypy does
not see, so the test lays the package out as symlinks and points MYPYPATH at it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_planner_package_is_mypy_strict_clean(tmp_path):
    pytest.importorskip("mypy")
    pkg = tmp_path / "hybridsync"
    pkg.mkdir()
    for f in (ROOT / "pkg").iterdir():
        (pkg / f.name).symlink_to(f)
    for name in ("engine", "connectors", "statestore"):
        (pkg / name).symlink_to(ROOT / name)
    env = {**os.environ, "MYPYPATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-incremental",
                          "--cache-dir", os.devnull, "-p", "hybridsync.engine.plan"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]

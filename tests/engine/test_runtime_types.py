"""``mypy --strict`` holds for the runtime modules that compose a cycle, for the host API, and
for reconcile, recording and snapshot (the modules are listed one by one, so
``hybridsync.engine.runtime`` is not in scripts/typecheck.py's STRICT_PACKAGES)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

STRICT_RUNTIME = ("context", "health", "planning", "apply", "commit", "cycle", "pages", "pipeline", "provision", "targetview",
                  "orphans", "engine", "admin", "status", "explain", "reconcile", "recording", "snapshot", "lag",
                  "metrics")


def test_the_cycle_and_the_host_api_are_strictly_typed():
    args = [arg for m in STRICT_RUNTIME for arg in ("-m", f"hybridsync.engine.runtime.{m}")]
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "typecheck.py"), "--strict", *args],
                         capture_output=True, text=True, timeout=600)
    report = run.stdout + run.stderr
    assert run.returncode == 0, f"mypy found errors:\n{report}"
    assert "Success: no issues found" in report, report

"""``mypy --strict`` holds for hybridsync.engine.core, .config and .mapping and for
hybridsync.connectors.scim (the per-module strict settings of pyproject.toml ``[tool.mypy]``,
run by scripts/typecheck.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_core_config_mapping_and_the_scim_connector_are_strictly_typed():
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "typecheck.py")],
                         capture_output=True, text=True, timeout=600)
    report = run.stdout + run.stderr
    assert run.returncode == 0, f"mypy found errors:\n{report}"
    assert "Success: no issues found" in report, report

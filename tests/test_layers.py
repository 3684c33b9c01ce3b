"""The layers of docs/architecture.md hold: import-linter's contracts (pyproject.toml,
``[tool.importlinter]``) are kept, every import counted, late ones included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_are_kept():
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "lint_imports.py")],
                         capture_output=True, text=True, timeout=300)
    report = run.stdout + run.stderr
    assert run.returncode == 0, f"lint-imports found broken contracts:\n{report}"
    assert "0 broken" in report, report

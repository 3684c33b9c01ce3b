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


def test_every_runtime_dependency_is_imported_by_the_product():
    """A dependency is either imported by hybridsync itself or belongs in an extra."""
    import re
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[<>=!~ ;\[]", d, maxsplit=1)[0] for d in project["dependencies"]]
    source = "\n".join(p.read_text() for folder in ("engine", "connectors", "statestore", "pkg")
                       for p in (ROOT / folder).rglob("*.py") if "/lab/" not in p.as_posix())
    unused = [n for n in names
              if not re.search(rf"^\s*(from|import) {n.replace('-', '_').lower()}\b", source, re.M)]
    assert unused == []

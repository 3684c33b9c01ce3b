"""Run import-linter over hybridsync's layers (the contracts in pyproject.toml,
``[tool.importlinter]``), against the package laid out as installed (``layout.py``).

    .venv/bin/python scripts/lint_imports.py [lint-imports options, e.g. --verbose]

Exit status and report are lint-imports' own; tests/test_layers.py runs this.
"""

from __future__ import annotations

import os
import subprocess
import sys

from layout import ROOT, lay_out

RUN = "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"


def main(argv: list[str]) -> int:
    env = dict(os.environ, PYTHONPATH=str(lay_out()), PYTHONDONTWRITEBYTECODE="1")
    command = [sys.executable, "-c", RUN, "--no-cache", "--no-logo", str(ROOT / "pyproject.toml"), *argv]
    return subprocess.run(command, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
